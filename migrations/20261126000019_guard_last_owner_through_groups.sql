-- The owner role can be held through a group. Removing the last member of
-- the last owner group, when nobody holds the role directly, would leave the
-- tenant without an owner: refused like removing the last owner binding.
CREATE FUNCTION ditto_keep_last_owner_member() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM role_bindings
                   WHERE tenant_id = OLD.tenant_id AND group_id = OLD.group_id
                     AND role = 'owner' AND project_id IS NULL) THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('ditto.owners.' || OLD.tenant_id::text));
    IF EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id)
       AND NOT EXISTS (SELECT 1 FROM role_bindings
                       WHERE tenant_id = OLD.tenant_id AND role = 'owner' AND project_id IS NULL
                         AND group_id IS NULL)
       AND NOT EXISTS (SELECT 1 FROM group_members m
                       JOIN role_bindings b ON b.tenant_id = m.tenant_id AND b.group_id = m.group_id
                       WHERE m.tenant_id = OLD.tenant_id AND b.role = 'owner' AND b.project_id IS NULL)
    THEN
        RAISE EXCEPTION 'the last owner of tenant % cannot be removed', OLD.tenant_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'role_bindings_last_owner';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER keep_last_owner_member AFTER DELETE ON group_members
    FOR EACH ROW EXECUTE FUNCTION ditto_keep_last_owner_member();
