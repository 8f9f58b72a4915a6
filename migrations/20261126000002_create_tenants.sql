CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z][a-z0-9-]{1,61}[a-z0-9]$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A tenant sees its own row; only the platform creates, lists or deletes tenants.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants TO ditto_app USING (id = ditto_current_tenant());
CREATE POLICY platform_access ON tenants TO ditto_platform USING (true) WITH CHECK (true);
GRANT SELECT ON tenants TO ditto_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenants TO ditto_platform;
