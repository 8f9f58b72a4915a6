-- One row per gateway request, written in batches off the hot path.
-- request_id makes replays idempotent. An append-only ledger: no foreign
-- keys to check on every insert (deleting a tenant deletes its rows).
CREATE TABLE usage_events (
    request_id         uuid PRIMARY KEY,
    tenant_id          uuid NOT NULL,
    project_id         uuid NOT NULL,
    key_id             uuid NOT NULL,
    user_id            uuid,
    service_account_id uuid,
    endpoint           text NOT NULL,
    model              text,
    backend_id         uuid,
    status             integer NOT NULL,
    attempts           integer NOT NULL,
    streamed           boolean NOT NULL,
    prompt_tokens      bigint NOT NULL DEFAULT 0,
    completion_tokens  bigint NOT NULL DEFAULT 0,
    cached_tokens      bigint NOT NULL DEFAULT 0,
    latency_ms         integer NOT NULL,
    ttfb_ms            integer,
    error_kind         text,
    created_at         timestamptz NOT NULL
);
CREATE INDEX usage_events_tenant_time_idx ON usage_events (tenant_id, created_at);
SELECT ditto_enable_tenant_rls('usage_events');
