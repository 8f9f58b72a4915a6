-- Audit export to object storage: where a tenant sends its trail
-- (destinations), and each time it did (runs).

-- An S3-compatible bucket or a subdirectory of the platform's export
-- directory. The secret access key is sealed with the master key (AES-256-GCM,
-- bound to the destination's id), like a backend's credentials.
CREATE TABLE audit_export_destinations (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    kind                text NOT NULL CHECK (kind IN ('s3', 'local')),
    endpoint            text CHECK (endpoint ~ '^https?://'),
    bucket              text CHECK (length(bucket) BETWEEN 3 AND 63),
    region              text CHECK (length(region) BETWEEN 1 AND 64),
    access_key_id       text CHECK (length(access_key_id) BETWEEN 1 AND 256),
    secret_access_key   bytea,
    -- Local: the directory under the tenant's own export directory.
    path                text CHECK (length(path) BETWEEN 1 AND 200),
    -- Object names start with it ('' for none).
    prefix              text NOT NULL DEFAULT '' CHECK (length(prefix) <= 200),
    schedule            text NOT NULL DEFAULT 'none' CHECK (schedule IN ('none', 'hourly', 'daily')),
    -- When the scheduler next makes a run; NULL without a schedule.
    next_run_at         timestamptz,
    -- Scheduled runs export the events after this sequence number.
    exported_through    bigint NOT NULL DEFAULT 0 CHECK (exported_through >= 0),
    max_object_bytes    bigint NOT NULL DEFAULT 67108864 CHECK (max_object_bytes BETWEEN 1024 AND 1073741824),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    CHECK (kind <> 's3' OR (bucket IS NOT NULL AND access_key_id IS NOT NULL
                            AND secret_access_key IS NOT NULL AND region IS NOT NULL)),
    CHECK (kind <> 'local' OR (path IS NOT NULL AND bucket IS NULL AND endpoint IS NULL
                               AND access_key_id IS NULL AND secret_access_key IS NULL))
);
CREATE UNIQUE INDEX audit_export_destinations_name_key ON audit_export_destinations (tenant_id, lower(name));
CREATE INDEX audit_export_destinations_due ON audit_export_destinations (next_run_at)
    WHERE schedule <> 'none';
SELECT ditto_enable_tenant_rls('audit_export_destinations');

-- One export of a sequence range to a destination.
CREATE TABLE audit_export_runs (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL,
    destination_id  uuid NOT NULL,
    trigger         text NOT NULL CHECK (trigger IN ('manual', 'scheduled')),
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'running', 'succeeded', 'failed')),
    from_seq        bigint NOT NULL CHECK (from_seq >= 1),
    to_seq          bigint NOT NULL,
    rows            bigint NOT NULL DEFAULT 0,
    -- [{name, sha256, rows, bytes, first_seq, last_seq}]
    objects         jsonb NOT NULL DEFAULT '[]',
    manifest        text,
    error           text CHECK (length(error) <= 2000),
    -- A replica working on the run holds it until then; past it, another
    -- replica may take the run over.
    lease_until     timestamptz,
    attempts        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    CHECK (to_seq >= from_seq),
    FOREIGN KEY (tenant_id, destination_id)
        REFERENCES audit_export_destinations (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX audit_export_runs_destination ON audit_export_runs (tenant_id, destination_id, id);
CREATE INDEX audit_export_runs_open ON audit_export_runs (created_at)
    WHERE status IN ('pending', 'running');
SELECT ditto_enable_tenant_rls('audit_export_runs');

-- An export signs a checkpoint at the last event it holds.
ALTER TABLE audit_checkpoints
    DROP CONSTRAINT audit_checkpoints_reason_check,
    ADD CONSTRAINT audit_checkpoints_reason_check
        CHECK (reason IN ('periodic', 'on_demand', 'retention', 'export'));
