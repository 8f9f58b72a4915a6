-- The audit trail: append-only, hash-chained per tenant, written in the same
-- transaction as the change it records. Platform-level events (tenant
-- management, platform prices) have `tenant_id` NULL and form their own chain.
--
-- No foreign key to `tenants`: a deleted tenant's trail outlives it.

-- The head of each chain: its last sequence number and hash. A writer locks
-- the head (upsert) for the rest of its transaction, so sequence numbers are
-- assigned one at a time, without gaps, in commit order.
CREATE TABLE audit_heads (
    tenant_id       uuid,
    seq             bigint NOT NULL DEFAULT 0 CHECK (seq >= 0),
    hash            bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000'
                    CHECK (length(hash) = 32),
    -- How long events are kept before the retention path removes them.
    retention_days  integer NOT NULL DEFAULT 30 CHECK (retention_days BETWEEN 1 AND 36500),
    CONSTRAINT audit_heads_tenant_key UNIQUE NULLS NOT DISTINCT (tenant_id)
);

CREATE TABLE audit_events (
    id              uuid PRIMARY KEY,
    tenant_id       uuid,
    seq             bigint NOT NULL CHECK (seq > 0),
    prev_hash       bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash            bytea NOT NULL CHECK (length(hash) = 32),
    created_at      timestamptz NOT NULL,
    actor_type      text NOT NULL CHECK (actor_type IN ('service_account', 'system')),
    actor_id        uuid,
    action          text NOT NULL CHECK (length(action) BETWEEN 1 AND 100),
    target_type     text NOT NULL CHECK (length(target_type) BETWEEN 1 AND 100),
    target_id       text,
    before          jsonb,
    after           jsonb,
    request_id      text,
    source_ip       text,
    user_agent      text,
    CONSTRAINT audit_events_chain_key UNIQUE NULLS NOT DISTINCT (tenant_id, seq)
);

CREATE INDEX audit_events_tenant_time ON audit_events (tenant_id, created_at, id);

-- Signed statements "chain X had hash H at sequence S at time T".
CREATE TABLE audit_checkpoints (
    id              uuid PRIMARY KEY,
    tenant_id       uuid,
    seq             bigint NOT NULL CHECK (seq >= 0),
    hash            bytea NOT NULL CHECK (length(hash) = 32),
    created_at      timestamptz NOT NULL,
    reason          text NOT NULL CHECK (reason IN ('periodic', 'on_demand', 'retention')),
    key_id          text NOT NULL,
    signature       bytea NOT NULL CHECK (length(signature) = 64)
);

CREATE INDEX audit_checkpoints_chain ON audit_checkpoints (tenant_id, seq);

SELECT ditto_enable_tenant_rls('audit_heads');
SELECT ditto_enable_tenant_rls('audit_events');
SELECT ditto_enable_tenant_rls('audit_checkpoints');

-- Append-only for the application: no UPDATE, DELETE or TRUNCATE grants …
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_checkpoints FROM ditto_app, ditto_platform;
REVOKE DELETE, TRUNCATE ON audit_heads FROM ditto_app, ditto_platform;

-- … and a trigger that refuses them to the application roles even if a grant
-- comes back. The table owner (the migrating user) can still change rows; the
-- chain and the signed checkpoints are what make that detectable.
CREATE FUNCTION ditto_audit_append_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF current_user IN ('ditto_app', 'ditto_platform') THEN
        RAISE EXCEPTION 'audit records are append-only (% refused)', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION ditto_audit_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION ditto_audit_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION ditto_audit_append_only();

-- The only way events leave: the retention path. Runs as the owner, removes
-- the chain's events up to `upto_seq` only if a retention checkpoint at exactly
-- that sequence (and hash) exists and every removed event is past the chain's
-- retention period. Only the platform role may call it.
CREATE FUNCTION ditto_audit_prune(p_tenant uuid, p_upto bigint) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    keep_days integer;
    removed bigint;
BEGIN
    SELECT retention_days INTO keep_days FROM audit_heads
        WHERE tenant_id IS NOT DISTINCT FROM p_tenant;
    IF keep_days IS NULL THEN
        RETURN 0;
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM audit_checkpoints c JOIN audit_events e
            ON e.tenant_id IS NOT DISTINCT FROM c.tenant_id AND e.seq = c.seq AND e.hash = c.hash
        WHERE c.tenant_id IS NOT DISTINCT FROM p_tenant AND c.seq = p_upto AND c.reason = 'retention'
    ) THEN
        RAISE EXCEPTION 'no retention checkpoint at sequence %', p_upto;
    END IF;
    IF EXISTS (
        SELECT 1 FROM audit_events
        WHERE tenant_id IS NOT DISTINCT FROM p_tenant AND seq <= p_upto
          AND created_at >= now() - make_interval(days => keep_days)
    ) THEN
        RAISE EXCEPTION 'events up to sequence % are within the retention period', p_upto;
    END IF;
    DELETE FROM audit_events WHERE tenant_id IS NOT DISTINCT FROM p_tenant AND seq <= p_upto;
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END
$$;

-- Row-level security is forced, so an owner that is not a superuser needs a
-- policy of its own to see the rows the function removes.
DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('CREATE POLICY owner_prune ON audit_events TO %I USING (true)', current_user);
        EXECUTE format('CREATE POLICY owner_prune ON audit_checkpoints TO %I USING (true)', current_user);
        EXECUTE format('CREATE POLICY owner_prune ON audit_heads TO %I USING (true)', current_user);
    END IF;
END
$$;

REVOKE ALL ON FUNCTION ditto_audit_prune(uuid, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ditto_audit_prune(uuid, bigint) TO ditto_platform;
