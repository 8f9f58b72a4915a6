-- Upstream providers a tenant's traffic goes to, and the routes that map
-- public model names onto them.
CREATE TABLE backends (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    provider            text NOT NULL CHECK (provider IN ('openai')),
    base_url            text NOT NULL CHECK (base_url ~ '^https?://'),
    -- AES-256-GCM under the master key: nonce (12 bytes) || ciphertext.
    credentials         bytea,
    timeout_ms          integer NOT NULL DEFAULT 60000 CHECK (timeout_ms BETWEEN 100 AND 600000),
    connect_timeout_ms  integer NOT NULL DEFAULT 5000 CHECK (connect_timeout_ms BETWEEN 50 AND 60000),
    max_in_flight       integer CHECK (max_in_flight BETWEEN 1 AND 100000),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX backends_tenant_name_key ON backends (tenant_id, lower(name));
SELECT ditto_enable_tenant_rls('backends');

-- `model` is a public model name, or a pattern with `*` wildcards.
CREATE TABLE routes (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    model       text NOT NULL CHECK (length(model) BETWEEN 1 AND 200),
    aliases     text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX routes_tenant_model_key ON routes (tenant_id, model);
SELECT ditto_enable_tenant_rls('routes');

-- The backends of a route: weighted primaries, then ordered fallbacks.
CREATE TABLE route_targets (
    tenant_id       uuid NOT NULL,
    route_id        uuid NOT NULL,
    position        integer NOT NULL CHECK (position >= 0),
    backend_id      uuid NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('primary', 'fallback')),
    weight          integer NOT NULL DEFAULT 1 CHECK (weight BETWEEN 0 AND 10000),
    -- The model name the backend expects, when it differs from the public one.
    upstream_model  text CHECK (length(upstream_model) BETWEEN 1 AND 200),
    PRIMARY KEY (tenant_id, route_id, position),
    FOREIGN KEY (tenant_id, route_id) REFERENCES routes (tenant_id, id) ON DELETE CASCADE,
    -- A backend in use cannot be deleted out from under its routes.
    FOREIGN KEY (tenant_id, backend_id) REFERENCES backends (tenant_id, id) ON DELETE RESTRICT
);
CREATE INDEX route_targets_backend_idx ON route_targets (tenant_id, backend_id);
SELECT ditto_enable_tenant_rls('route_targets');

-- Model allow-lists: NULL allows every routed model.
ALTER TABLE api_keys ADD COLUMN allowed_models text[];
ALTER TABLE projects ADD COLUMN allowed_models text[];
