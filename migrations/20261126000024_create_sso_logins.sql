-- Sign-ins in flight: started at the provider, not yet back. The browser
-- holds a random token in a short-lived cookie; only its SHA-256 is here,
-- with the state, nonce and PKCE verifier, which never leave the server.
-- A row is spent by the first callback that presents its token, whatever
-- the outcome, and is good for ten minutes.
CREATE TABLE sso_logins (
    token_hash     bytea PRIMARY KEY,
    tenant_id      uuid NOT NULL,
    connection_id  uuid NOT NULL,
    state          text NOT NULL,
    nonce          text NOT NULL,
    pkce_verifier  text NOT NULL,
    redirect_uri   text NOT NULL,
    return_to      text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz,
    FOREIGN KEY (tenant_id, connection_id) REFERENCES sso_connections (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sso_logins_expires_idx ON sso_logins (expires_at);
SELECT ditto_enable_tenant_rls('sso_logins');
