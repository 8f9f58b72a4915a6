-- Enforced single sign-on: a tenant may refuse local passwords to its
-- members, except the owners it designates as break-glass accounts (for
-- when its identity provider is down or misconfigured).
CREATE TABLE tenant_sso_policies (
    tenant_id    uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    enforced     boolean NOT NULL DEFAULT false,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
SELECT ditto_enable_tenant_rls('tenant_sso_policies');

CREATE TABLE sso_break_glass_users (
    tenant_id   uuid NOT NULL,
    user_id     uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
SELECT ditto_enable_tenant_rls('sso_break_glass_users');

-- While SSO is enforced the tenant keeps an enabled connection: switching
-- off or removing the last one is refused (turn enforcement off first), so
-- members are never left with no way in but the break-glass owners.
-- The advisory lock orders this against turning enforcement on.
CREATE FUNCTION ditto_keep_an_sso_connection() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('ditto.sso_policy.' || OLD.tenant_id::text));
    IF EXISTS (SELECT 1 FROM tenant_sso_policies WHERE tenant_id = OLD.tenant_id AND enforced)
       -- A tenant being deleted takes its connections with it.
       AND EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id)
       AND NOT EXISTS (SELECT 1 FROM sso_connections WHERE tenant_id = OLD.tenant_id AND enabled) THEN
        RAISE EXCEPTION 'tenant % enforces SSO and would have no enabled SSO connection', OLD.tenant_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'tenant_sso_policies_needs_connection';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER keep_an_sso_connection_update AFTER UPDATE OF enabled ON sso_connections
    FOR EACH ROW WHEN (OLD.enabled AND NOT NEW.enabled)
    EXECUTE FUNCTION ditto_keep_an_sso_connection();

CREATE TRIGGER keep_an_sso_connection_delete AFTER DELETE ON sso_connections
    FOR EACH ROW WHEN (OLD.enabled)
    EXECUTE FUNCTION ditto_keep_an_sso_connection();
