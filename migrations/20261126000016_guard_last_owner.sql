-- A tenant that has an owner keeps one: removing the last tenant-wide owner
-- binding fails, whether the binding is deleted or goes with its user,
-- group or service account. Deleting the tenant itself removes them all.
CREATE FUNCTION ditto_keep_last_owner() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF OLD.role <> 'owner' OR OLD.project_id IS NOT NULL THEN
        RETURN NULL;
    END IF;
    -- Concurrent removals of a tenant's owners take turns, and each looks
    -- at what the others committed.
    PERFORM pg_advisory_xact_lock(hashtext('ditto.owners.' || OLD.tenant_id::text));
    IF EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id)
       AND NOT EXISTS (SELECT 1 FROM role_bindings
                       WHERE tenant_id = OLD.tenant_id AND role = 'owner' AND project_id IS NULL)
    THEN
        RAISE EXCEPTION 'the last owner of tenant % cannot be removed', OLD.tenant_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'role_bindings_last_owner';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER keep_last_owner AFTER DELETE ON role_bindings
    FOR EACH ROW EXECUTE FUNCTION ditto_keep_last_owner();
