-- Tell every gateway replica which tenant's configuration changed, so its
-- in-memory snapshot reloads that tenant (payload: the tenant id).
CREATE FUNCTION ditto_notify_config_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    tenant uuid;
BEGIN
    IF TG_TABLE_NAME = 'tenants' THEN
        tenant := COALESCE(NEW.id, OLD.id);
    ELSIF TG_OP = 'DELETE' THEN
        tenant := OLD.tenant_id;
    ELSE
        tenant := NEW.tenant_id;
    END IF;
    IF tenant IS NOT NULL THEN
        PERFORM pg_notify('ditto_config', tenant::text);
    END IF;
    RETURN NULL;
END
$$;

DO $$
DECLARE
    tbl text;
BEGIN
    FOREACH tbl IN ARRAY ARRAY['tenants', 'projects', 'users', 'service_accounts', 'api_keys',
                               'backends', 'routes', 'route_targets']
    LOOP
        EXECUTE format(
            'CREATE TRIGGER notify_config_change AFTER INSERT OR UPDATE OR DELETE ON %I
                 FOR EACH ROW EXECUTE FUNCTION ditto_notify_config_change()', tbl);
    END LOOP;
END
$$;
