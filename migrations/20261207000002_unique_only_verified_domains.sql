-- Only a verified claim owns a domain. A pending claim costs nothing to
-- make, so it must not block other tenants forever, nor tell them that
-- someone claimed the domain: pending claims are unique per tenant only,
-- and lapse (the API refuses to verify them, and replaces them when claimed
-- again) seven days after they were made.
DROP INDEX tenant_domains_domain_key;
CREATE UNIQUE INDEX tenant_domains_verified_key ON tenant_domains (lower(domain))
    WHERE status = 'verified';
CREATE UNIQUE INDEX tenant_domains_tenant_domain_key ON tenant_domains (tenant_id, lower(domain));
