-- A role granted to one subject (user, group or service account), at tenant
-- scope (project_id NULL) or on one project.
CREATE TABLE role_bindings (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    role                text NOT NULL CHECK (length(role) BETWEEN 1 AND 100),
    project_id          uuid,
    user_id             uuid,
    group_id            uuid,
    service_account_id  uuid,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(user_id, group_id, service_account_id) = 1),
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, service_account_id) REFERENCES service_accounts (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX role_bindings_unique_grant ON role_bindings (
    tenant_id, role,
    COALESCE(project_id, '00000000-0000-0000-0000-000000000000'::uuid),
    COALESCE(user_id, group_id, service_account_id)
);
SELECT ditto_enable_tenant_rls('role_bindings');
