-- What each request cost, priced at the time it was served (pico-USD).
ALTER TABLE usage_events ADD COLUMN cost_pico bigint NOT NULL DEFAULT 0;
CREATE INDEX usage_events_tenant_key_time_idx ON usage_events (tenant_id, key_id, created_at);

-- Usage summed per 15 minutes (every time zone's offset is a multiple of
-- 15 minutes, so calendar periods in any zone are whole buckets). Written in
-- the same statement as the events it sums, from the rows actually inserted,
-- so a replayed event is never counted twice.
CREATE TABLE usage_rollups (
    tenant_id          uuid NOT NULL,
    bucket             timestamptz NOT NULL,
    key_id             uuid NOT NULL,
    project_id         uuid NOT NULL,
    user_id            uuid,
    service_account_id uuid,
    model              text NOT NULL,
    backend_id         uuid,
    requests           bigint NOT NULL,
    errors             bigint NOT NULL,
    prompt_tokens      bigint NOT NULL,
    completion_tokens  bigint NOT NULL,
    cached_tokens      bigint NOT NULL,
    cost_pico          bigint NOT NULL
);
CREATE UNIQUE INDEX usage_rollups_cell_key
    ON usage_rollups (tenant_id, bucket, key_id, model, backend_id) NULLS NOT DISTINCT;
CREATE INDEX usage_rollups_tenant_bucket_idx ON usage_rollups (tenant_id, bucket);
SELECT ditto_enable_tenant_rls('usage_rollups');

