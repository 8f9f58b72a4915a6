-- Failed sign-ins are counted per account *and* source address, so that a
-- stranger guessing at an owner's password locks out only themselves, not
-- the owner. An account is named by a digest of its tenant slug and email
-- (`ditto_sign_in_account`), whether or not it exists: unknown accounts
-- lock exactly like known ones, so a lockout tells nobody that an account
-- exists. A source that has signed in to the account is remembered, and
-- is not held to the per-account throttle that bounds distributed guessing.
CREATE FUNCTION ditto_sign_in_account(tenant_slug text, email text) RETURNS bytea
    LANGUAGE sql IMMUTABLE STRICT
    AS $$ SELECT sha256(convert_to(lower(tenant_slug) || E'\n' || lower(btrim(email)), 'UTF8')) $$;

CREATE TABLE sign_in_sources (
    account            bytea NOT NULL CHECK (length(account) = 32),
    -- The client address; IPv6 by its /64 network.
    source             text NOT NULL CHECK (length(source) BETWEEN 1 AND 64),
    -- The tenant the slug named when the row was written, if it existed.
    tenant_id          uuid REFERENCES tenants (id) ON DELETE CASCADE,
    failures           integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    window_started_at  timestamptz NOT NULL DEFAULT now(),
    locked_until       timestamptz,
    signed_in_at       timestamptz,
    -- When the row stops mattering: pruned after that.
    expires_at         timestamptz NOT NULL,
    PRIMARY KEY (account, source)
);
CREATE INDEX sign_in_sources_expires_idx ON sign_in_sources (expires_at);
SELECT ditto_enable_tenant_rls('sign_in_sources');

-- The account-wide lock is gone; `failed_attempts` stays, as a count of
-- failures since the last successful sign-in, for administrators to see.
ALTER TABLE user_credentials DROP COLUMN locked_until;
COMMENT ON COLUMN user_credentials.failed_attempts IS
    'failed sign-ins since the last success, from any source (informational; lockout is per source in sign_in_sources)';
