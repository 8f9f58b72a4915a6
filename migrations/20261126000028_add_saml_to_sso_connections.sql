-- SAML 2.0 connections live beside the OpenID ones, in the same table, so
-- subject links, mapped role bindings, sign-ins in flight and sessions
-- reference one kind of connection. For SAML, `issuer` is the identity
-- provider's entity id, `client_id` our service provider's entity id, the
-- `*_claim` columns name the assertion's attributes, `scopes` is empty and
-- `metadata` holds what we read from the provider's metadata (its
-- single sign-on URL and signing certificates).
ALTER TABLE sso_connections DROP CONSTRAINT sso_connections_protocol_check;
ALTER TABLE sso_connections ADD CONSTRAINT sso_connections_protocol_check
    CHECK (protocol IN ('oidc', 'saml'));

-- The provider's metadata as given or last fetched, and where from.
ALTER TABLE sso_connections ADD COLUMN idp_metadata_xml text
    CHECK (length(idp_metadata_xml) <= 1048576);
ALTER TABLE sso_connections ADD COLUMN idp_metadata_url text
    CHECK (length(idp_metadata_url) <= 2048);
-- The NameID format asked for in authentication requests (none: the
-- provider chooses).
ALTER TABLE sso_connections ADD COLUMN name_id_format text
    CHECK (length(name_id_format) <= 255);
-- Whether responses nobody asked for (IdP-initiated sign-in) are taken.
ALTER TABLE sso_connections ADD COLUMN allow_idp_initiated boolean NOT NULL DEFAULT false;

ALTER TABLE sso_connections ADD CONSTRAINT sso_connections_saml_metadata
    CHECK (protocol <> 'saml' OR idp_metadata_xml IS NOT NULL);
