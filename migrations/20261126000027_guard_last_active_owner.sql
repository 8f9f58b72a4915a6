-- A tenant keeps an owner who can act: disabling the last active owner
-- (a user, directly or through an owner group, or a service account) is
-- refused like removing the last owner binding. Tenants without any owner
-- (made by platform administrators, not yet handed over) are left alone.
CREATE FUNCTION ditto_active_owners(tenant uuid) RETURNS bigint
    LANGUAGE sql STABLE
    AS $$
    SELECT count(*) FROM (
        SELECT b.user_id FROM role_bindings b JOIN users u ON u.tenant_id = b.tenant_id AND u.id = b.user_id
         WHERE b.tenant_id = tenant AND b.role = 'owner' AND b.project_id IS NULL AND u.status = 'active'
        UNION
        SELECT m.user_id FROM role_bindings b
          JOIN group_members m ON m.tenant_id = b.tenant_id AND m.group_id = b.group_id
          JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
         WHERE b.tenant_id = tenant AND b.role = 'owner' AND b.project_id IS NULL AND u.status = 'active'
        UNION
        SELECT b.service_account_id FROM role_bindings b
          JOIN service_accounts s ON s.tenant_id = b.tenant_id AND s.id = b.service_account_id
         WHERE b.tenant_id = tenant AND b.role = 'owner' AND b.project_id IS NULL AND NOT s.disabled
    ) owners
$$;

CREATE FUNCTION ditto_keep_an_active_owner() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM role_bindings
                   WHERE tenant_id = NEW.tenant_id AND role = 'owner' AND project_id IS NULL) THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('ditto.owners.' || NEW.tenant_id::text));
    IF ditto_active_owners(NEW.tenant_id) = 0 THEN
        RAISE EXCEPTION 'the last active owner of tenant % cannot be disabled', NEW.tenant_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'role_bindings_last_owner';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER keep_an_active_owner_user AFTER UPDATE OF status ON users
    FOR EACH ROW WHEN (NEW.status = 'disabled' AND OLD.status <> 'disabled')
    EXECUTE FUNCTION ditto_keep_an_active_owner();

CREATE TRIGGER keep_an_active_owner_account AFTER UPDATE OF disabled ON service_accounts
    FOR EACH ROW WHEN (NEW.disabled AND NOT OLD.disabled AND NEW.tenant_id IS NOT NULL)
    EXECUTE FUNCTION ditto_keep_an_active_owner();
