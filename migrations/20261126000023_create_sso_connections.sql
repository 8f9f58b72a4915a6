-- Single sign-on connections of a tenant (OpenID Connect providers), the
-- links between a provider's subjects and our users, and the role bindings
-- a connection made from the provider's groups (so it removes only those).
CREATE TABLE sso_connections (
    id                   uuid PRIMARY KEY,
    tenant_id            uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    protocol             text NOT NULL DEFAULT 'oidc' CHECK (protocol IN ('oidc')),
    issuer               text NOT NULL CHECK (length(issuer) BETWEEN 1 AND 2048),
    client_id            text NOT NULL CHECK (length(client_id) BETWEEN 1 AND 512),
    -- AES-256-GCM under the master key, bound to the connection's id.
    client_secret        bytea,
    scopes               text[] NOT NULL,
    email_claim          text NOT NULL DEFAULT 'email',
    name_claim           text NOT NULL DEFAULT 'name',
    groups_claim         text NOT NULL DEFAULT 'groups',
    jit_provisioning     boolean NOT NULL DEFAULT false,
    -- [{"group": "...", "role": "..."}]
    group_role_mappings  jsonb NOT NULL DEFAULT '[]',
    enabled              boolean NOT NULL DEFAULT true,
    -- The provider's discovery document as last fetched.
    metadata             jsonb NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX sso_connections_tenant_name_key ON sso_connections (tenant_id, lower(name));
SELECT ditto_enable_tenant_rls('sso_connections');

-- A provider's subject (`sub`) signed in as this user.
CREATE TABLE sso_identities (
    tenant_id        uuid NOT NULL,
    connection_id    uuid NOT NULL,
    subject          text NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    user_id          uuid NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_sign_in_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, connection_id, subject),
    FOREIGN KEY (tenant_id, connection_id) REFERENCES sso_connections (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sso_identities_user_idx ON sso_identities (tenant_id, user_id);
SELECT ditto_enable_tenant_rls('sso_identities');

-- Role bindings a connection made from group mappings. Bindings made by
-- hand are never listed here, so a sign-in never removes them.
CREATE TABLE sso_role_bindings (
    binding_id     uuid PRIMARY KEY REFERENCES role_bindings (id) ON DELETE CASCADE,
    tenant_id      uuid NOT NULL,
    connection_id  uuid NOT NULL,
    FOREIGN KEY (tenant_id, connection_id) REFERENCES sso_connections (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sso_role_bindings_connection_idx ON sso_role_bindings (tenant_id, connection_id);
SELECT ditto_enable_tenant_rls('sso_role_bindings');
