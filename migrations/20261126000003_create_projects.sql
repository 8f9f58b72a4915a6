CREATE TABLE projects (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    description  text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- Target of composite foreign keys: a child row can only point at a
    -- project of its own tenant (foreign key checks ignore RLS).
    UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX projects_tenant_name_key ON projects (tenant_id, lower(name));

SELECT ditto_enable_tenant_rls('projects');
