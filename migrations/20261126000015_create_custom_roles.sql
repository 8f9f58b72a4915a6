-- A tenant's own roles: a name and a set of permissions from the catalogue.
-- Built-in role names are reserved (checked by the API).
CREATE TABLE roles (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
    description  text NOT NULL DEFAULT '',
    permissions  text[] NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX roles_tenant_name_key ON roles (tenant_id, name);
SELECT ditto_enable_tenant_rls('roles');

CREATE INDEX role_bindings_tenant_idx ON role_bindings (tenant_id, role);

-- Tell every replica which tenant's policies changed (payload: the tenant
-- id), so it drops what it resolved for that tenant.
CREATE FUNCTION ditto_notify_policy_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    tenant uuid;
BEGIN
    IF TG_OP = 'DELETE' THEN
        tenant := OLD.tenant_id;
    ELSE
        tenant := NEW.tenant_id;
    END IF;
    IF tenant IS NOT NULL THEN
        PERFORM pg_notify('ditto_policy', tenant::text);
    END IF;
    RETURN NULL;
END
$$;

DO $$
DECLARE
    tbl text;
BEGIN
    FOREACH tbl IN ARRAY ARRAY['roles', 'role_bindings', 'group_members']
    LOOP
        EXECUTE format(
            'CREATE TRIGGER notify_policy_change AFTER INSERT OR UPDATE OR DELETE ON %I
                 FOR EACH ROW EXECUTE FUNCTION ditto_notify_policy_change()', tbl);
    END LOOP;
END
$$;
