-- Virtual keys for the gateway: `dk-<public_id>-<secret>`. Only the SHA-256
-- of the secret is stored; the gateway finds a key by public_id and compares
-- digests in constant time.
CREATE TABLE api_keys (
    id                        uuid PRIMARY KEY,
    tenant_id                 uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    project_id                uuid NOT NULL,
    name                      text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    public_id                 text NOT NULL UNIQUE,
    secret_hash               bytea NOT NULL CHECK (length(secret_hash) = 32),
    owner_user_id             uuid,
    owner_service_account_id  uuid,
    expires_at                timestamptz,
    revoked_at                timestamptz,
    last_used_at              timestamptz,
    rotated_at                timestamptz,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(owner_user_id, owner_service_account_id) <= 1),
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id) ON DELETE CASCADE,
    -- A key dies with its owner.
    FOREIGN KEY (tenant_id, owner_user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, owner_service_account_id) REFERENCES service_accounts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX api_keys_tenant_project_idx ON api_keys (tenant_id, project_id);
SELECT ditto_enable_tenant_rls('api_keys');
