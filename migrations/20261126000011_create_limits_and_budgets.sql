-- Calendar budget periods (daily, weekly, monthly) follow the tenant's clock.
ALTER TABLE tenants
    ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC' CHECK (length(time_zone) BETWEEN 1 AND 64);

-- Limits and budgets hang off one scope: the whole tenant, a project, a user
-- (every key the user owns) or a single key. The scope's own column carries a
-- foreign key so the limit dies with what it limits.
ALTER TABLE api_keys ADD CONSTRAINT api_keys_tenant_id_id_key UNIQUE (tenant_id, id);

CREATE TABLE rate_limits (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    scope           text NOT NULL CHECK (scope IN ('tenant', 'project', 'user', 'key')),
    project_id      uuid,
    user_id         uuid,
    key_id          uuid,
    -- A public model name (a route's model or alias); NULL limits every model.
    model           text CHECK (length(model) BETWEEN 1 AND 200),
    rpm             integer CHECK (rpm > 0),
    tpm             bigint CHECK (tpm > 0),
    max_concurrent  integer CHECK (max_concurrent > 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(rpm, tpm, max_concurrent) >= 1),
    CHECK (CASE scope
        WHEN 'tenant'  THEN num_nonnulls(project_id, user_id, key_id) = 0
        WHEN 'project' THEN project_id IS NOT NULL AND num_nonnulls(user_id, key_id) = 0
        WHEN 'user'    THEN user_id IS NOT NULL AND num_nonnulls(project_id, key_id) = 0
        WHEN 'key'     THEN key_id IS NOT NULL AND num_nonnulls(project_id, user_id) = 0
    END),
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, key_id) REFERENCES api_keys (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX rate_limits_scope_model_key ON rate_limits (tenant_id, scope, project_id, user_id, key_id, model) NULLS NOT DISTINCT;
SELECT ditto_enable_tenant_rls('rate_limits');

CREATE TABLE budgets (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    scope               text NOT NULL CHECK (scope IN ('tenant', 'project', 'user', 'key')),
    project_id          uuid,
    user_id             uuid,
    key_id              uuid,
    period              text NOT NULL CHECK (period IN ('daily', 'weekly', 'monthly', 'lifetime')),
    max_tokens          bigint CHECK (max_tokens > 0),
    -- Pico-USD (10^-12 USD): exact integers, like every price and cost.
    max_cost_pico       bigint CHECK (max_cost_pico > 0),
    -- Crossing this share of a maximum raises a soft-limit event, once per period.
    soft_limit_percent  smallint CHECK (soft_limit_percent BETWEEN 1 AND 99),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(max_tokens, max_cost_pico) >= 1),
    CHECK (CASE scope
        WHEN 'tenant'  THEN num_nonnulls(project_id, user_id, key_id) = 0
        WHEN 'project' THEN project_id IS NOT NULL AND num_nonnulls(user_id, key_id) = 0
        WHEN 'user'    THEN user_id IS NOT NULL AND num_nonnulls(project_id, key_id) = 0
        WHEN 'key'     THEN key_id IS NOT NULL AND num_nonnulls(project_id, user_id) = 0
    END),
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, key_id) REFERENCES api_keys (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX budgets_scope_period_key ON budgets (tenant_id, scope, project_id, user_id, key_id, period) NULLS NOT DISTINCT;
SELECT ditto_enable_tenant_rls('budgets');

CREATE TRIGGER notify_config_change AFTER INSERT OR UPDATE OR DELETE ON rate_limits
    FOR EACH ROW EXECUTE FUNCTION ditto_notify_config_change();
CREATE TRIGGER notify_config_change AFTER INSERT OR UPDATE OR DELETE ON budgets
    FOR EACH ROW EXECUTE FUNCTION ditto_notify_config_change();
