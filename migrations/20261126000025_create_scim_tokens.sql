-- SCIM 2.0 provisioning: bearer tokens an identity provider uses to manage a
-- tenant's users and groups at /t/{tenant}/scim/v2. Only the SHA-256 of the
-- whole token is stored, as for access tokens.
CREATE TABLE scim_tokens (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    prefix        text NOT NULL,
    token_hash    bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    revoked_at    timestamptz,
    last_used_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
SELECT ditto_enable_tenant_rls('scim_tokens');

-- Changes made through SCIM are recorded with the token as their actor.
ALTER TABLE audit_events
    DROP CONSTRAINT audit_events_actor_type_check,
    ADD CONSTRAINT audit_events_actor_type_check
        CHECK (actor_type IN ('service_account', 'user', 'scim_token', 'system'));
