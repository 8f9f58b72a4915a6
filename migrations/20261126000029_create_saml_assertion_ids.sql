-- Assertions already used to sign in, so a captured SAML response cannot
-- be posted again. Used when Redis is not configured (with Redis the ids
-- are kept there). An id is kept until the assertion expires; after that
-- the assertion is refused for being expired anyway.
CREATE TABLE saml_assertion_ids (
    connection_id  uuid NOT NULL,
    assertion_id   text NOT NULL CHECK (length(assertion_id) BETWEEN 1 AND 256),
    tenant_id      uuid NOT NULL,
    expires_at     timestamptz NOT NULL,
    PRIMARY KEY (connection_id, assertion_id),
    FOREIGN KEY (tenant_id, connection_id) REFERENCES sso_connections (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX saml_assertion_ids_expires_idx ON saml_assertion_ids (expires_at);
SELECT ditto_enable_tenant_rls('saml_assertion_ids');
