-- Roles the application switches to inside each transaction (SET LOCAL ROLE):
--   ditto_app       tenant-scoped work; row-level security limits it to the
--                   tenant named by the transaction-local `app.tenant_id`.
--   ditto_platform  platform-wide work (tenant management, authentication
--                   lookups), an explicit path in the code.
-- Neither can log in or bypass RLS. Roles are cluster-wide, so creating them
-- tolerates another database having done it first.
DO $$
BEGIN
    BEGIN
        CREATE ROLE ditto_app NOLOGIN NOBYPASSRLS;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
    BEGIN
        CREATE ROLE ditto_platform NOLOGIN NOBYPASSRLS;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
    -- A non-superuser connection must be a member to SET ROLE.
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        IF NOT pg_has_role(current_user, 'ditto_app', 'MEMBER') THEN
            EXECUTE format('GRANT ditto_app TO %I', current_user);
        END IF;
        IF NOT pg_has_role(current_user, 'ditto_platform', 'MEMBER') THEN
            EXECUTE format('GRANT ditto_platform TO %I', current_user);
        END IF;
    END IF;
END
$$;

-- The tenant of the current transaction, or NULL (which matches no row).
CREATE FUNCTION ditto_current_tenant() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;

-- Put a tenant-owned table under row-level security: ditto_app sees and
-- writes only rows of the current tenant, ditto_platform sees all rows.
CREATE FUNCTION ditto_enable_tenant_rls(tbl regclass) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
    EXECUTE format(
        'CREATE POLICY tenant_isolation ON %s TO ditto_app
             USING (tenant_id = ditto_current_tenant())
             WITH CHECK (tenant_id = ditto_current_tenant())', tbl);
    EXECUTE format('CREATE POLICY platform_access ON %s TO ditto_platform USING (true) WITH CHECK (true)', tbl);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO ditto_app, ditto_platform', tbl);
END
$$;

GRANT USAGE ON SCHEMA public TO ditto_app, ditto_platform;
