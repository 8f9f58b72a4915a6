-- Email domains a tenant claims, for home-realm discovery: a person typing
-- an address at a verified domain is sent to that tenant's identity
-- provider. A domain belongs to one tenant at most (the unique index is on
-- the whole table, not per tenant), and routes sign-ins only once verified.
CREATE TABLE tenant_domains (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- Lower-case ASCII (an internationalized name in its xn-- form).
    domain              text NOT NULL CHECK (
        length(domain) BETWEEN 3 AND 253
        AND domain = lower(domain)
        AND domain ~ '^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$'),
    status              text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'verified')),
    -- Published by the tenant in a DNS TXT record to prove the domain is
    -- theirs; not a secret.
    verification_token  text NOT NULL CHECK (length(verification_token) BETWEEN 16 AND 128),
    created_at          timestamptz NOT NULL DEFAULT now(),
    verified_at         timestamptz,
    CHECK ((status = 'verified') = (verified_at IS NOT NULL))
);
CREATE UNIQUE INDEX tenant_domains_domain_key ON tenant_domains (lower(domain));
CREATE INDEX tenant_domains_tenant_idx ON tenant_domains (tenant_id, created_at);
SELECT ditto_enable_tenant_rls('tenant_domains');
