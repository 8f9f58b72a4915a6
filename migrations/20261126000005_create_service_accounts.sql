-- Non-human principals. tenant_id is NULL for platform service accounts,
-- which only the platform path can see.
CREATE TABLE service_accounts (
    id             uuid PRIMARY KEY,
    tenant_id      uuid REFERENCES tenants (id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    description    text NOT NULL DEFAULT '',
    -- Platform-wide role; only for platform service accounts. Tenant roles
    -- live in role_bindings.
    platform_role  text CHECK (platform_role IN ('platform_admin', 'platform_auditor')),
    disabled       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    CHECK (platform_role IS NULL OR tenant_id IS NULL)
);
CREATE UNIQUE INDEX service_accounts_tenant_name_key
    ON service_accounts (COALESCE(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid), lower(name));
SELECT ditto_enable_tenant_rls('service_accounts');

-- Bearer tokens of service accounts. Only the SHA-256 of the whole token is
-- stored; authentication looks the digest up.
CREATE TABLE access_tokens (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid REFERENCES tenants (id) ON DELETE CASCADE,
    service_account_id  uuid NOT NULL REFERENCES service_accounts (id) ON DELETE CASCADE,
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    prefix              text NOT NULL,
    token_hash          bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    expires_at          timestamptz,
    revoked_at          timestamptz,
    last_used_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, service_account_id) REFERENCES service_accounts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX access_tokens_service_account_idx ON access_tokens (service_account_id);
SELECT ditto_enable_tenant_rls('access_tokens');
