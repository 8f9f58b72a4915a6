-- Prices in pico-USD (10^-12 USD) per token: exact integers, fine enough for
-- any published price ($0.000001 per million tokens and up).
-- Platform defaults: readable by every tenant, written by the platform.
CREATE TABLE model_prices (
    model                   text PRIMARY KEY CHECK (length(model) BETWEEN 1 AND 200),
    input_pico              bigint NOT NULL CHECK (input_pico >= 0),
    output_pico             bigint NOT NULL CHECK (output_pico >= 0),
    cached_input_pico       bigint CHECK (cached_input_pico >= 0),
    max_output_tokens       integer CHECK (max_output_tokens > 0),
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON model_prices TO ditto_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON model_prices TO ditto_platform;

-- A tenant's own prices override the platform's for the same model name.
CREATE TABLE tenant_model_prices (
    tenant_id               uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    model                   text NOT NULL CHECK (length(model) BETWEEN 1 AND 200),
    input_pico              bigint NOT NULL CHECK (input_pico >= 0),
    output_pico             bigint NOT NULL CHECK (output_pico >= 0),
    cached_input_pico       bigint CHECK (cached_input_pico >= 0),
    max_output_tokens       integer CHECK (max_output_tokens > 0),
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, model)
);
SELECT ditto_enable_tenant_rls('tenant_model_prices');
CREATE TRIGGER notify_config_change AFTER INSERT OR UPDATE OR DELETE ON tenant_model_prices
    FOR EACH ROW EXECUTE FUNCTION ditto_notify_config_change();

-- A platform price change concerns every tenant: '*' asks for a full reload.
CREATE FUNCTION ditto_notify_platform_price_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM pg_notify('ditto_config', '*');
    RETURN NULL;
END
$$;
CREATE TRIGGER notify_config_change AFTER INSERT OR UPDATE OR DELETE ON model_prices
    FOR EACH STATEMENT EXECUTE FUNCTION ditto_notify_platform_price_change();
