-- Local sign-in for tenant staff: passwords, a TOTP second factor with
-- recovery codes, server-side sessions, and personal access tokens.

-- One row per user who has a password or a second factor. Kept apart from
-- `users` so listing people never reads a hash.
CREATE TABLE user_credentials (
    tenant_id             uuid NOT NULL,
    user_id               uuid NOT NULL,
    -- An argon2id PHC string; NULL: the user cannot sign in with a password.
    password_hash         text CHECK (password_hash LIKE '$argon2id$%'),
    password_changed_at   timestamptz,
    -- Set by an administrator's reset: the user should choose a new one.
    must_change_password  boolean NOT NULL DEFAULT false,
    -- Failed sign-ins since the last success; reaching the configured
    -- maximum locks the account until `locked_until`.
    failed_attempts       integer NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    locked_until          timestamptz,
    -- The TOTP secret, sealed with the master key and bound to the user.
    totp_secret           bytea,
    -- NULL while enrolment waits for its first code.
    totp_enabled_at       timestamptz,
    -- The time step of the last accepted code: a code works once.
    totp_last_step        bigint,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    CHECK (totp_enabled_at IS NULL OR totp_secret IS NOT NULL)
);
SELECT ditto_enable_tenant_rls('user_credentials');

-- Single-use codes that stand in for a TOTP code. Only SHA-256 digests of
-- these high-entropy codes are kept.
CREATE TABLE recovery_codes (
    tenant_id   uuid NOT NULL,
    user_id     uuid NOT NULL,
    code_hash   bytea NOT NULL CHECK (length(code_hash) = 32),
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id, code_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
SELECT ditto_enable_tenant_rls('recovery_codes');

-- Browser sessions. The cookie carries a random token; only its SHA-256 is
-- stored, as is the digest of the session's CSRF token.
CREATE TABLE sessions (
    id                 uuid PRIMARY KEY,
    tenant_id          uuid NOT NULL,
    user_id            uuid NOT NULL,
    token_hash         bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    csrf_hash          bytea NOT NULL CHECK (length(csrf_hash) = 32),
    method             text NOT NULL CHECK (method IN ('password', 'password_totp', 'password_recovery_code', 'oidc', 'saml')),
    source_ip          text CHECK (length(source_ip) <= 64),
    user_agent         text CHECK (length(user_agent) <= 512),
    created_at         timestamptz NOT NULL DEFAULT now(),
    last_seen_at       timestamptz NOT NULL DEFAULT now(),
    -- Idle timeout in force when the session was made.
    idle_timeout_secs  integer NOT NULL CHECK (idle_timeout_secs > 0),
    -- The absolute end, however active the session is.
    expires_at         timestamptz NOT NULL,
    revoked_at         timestamptz,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_user_idx ON sessions (tenant_id, user_id, created_at);
CREATE INDEX sessions_expiry_idx ON sessions (expires_at);
SELECT ditto_enable_tenant_rls('sessions');

-- Access tokens are held by a service account or, as personal access
-- tokens, by a user; either may narrow what the token can do.
ALTER TABLE access_tokens ALTER COLUMN service_account_id DROP NOT NULL;
ALTER TABLE access_tokens ADD COLUMN user_id uuid;
-- Permission names the token is limited to (within its holder's); NULL:
-- everything the holder may do.
ALTER TABLE access_tokens ADD COLUMN permissions text[]
    CHECK (permissions IS NULL OR cardinality(permissions) BETWEEN 1 AND 64);
ALTER TABLE access_tokens ADD CONSTRAINT access_tokens_one_holder
    CHECK ((service_account_id IS NULL) <> (user_id IS NULL));
ALTER TABLE access_tokens ADD CONSTRAINT access_tokens_user_in_tenant
    CHECK (user_id IS NULL OR tenant_id IS NOT NULL);
ALTER TABLE access_tokens ADD CONSTRAINT access_tokens_user_fkey
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE;
CREATE INDEX access_tokens_user_idx ON access_tokens (tenant_id, user_id) WHERE user_id IS NOT NULL;
