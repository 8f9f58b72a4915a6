-- The SCIM attributes of a user that have no column of their own (name,
-- emails, phone numbers, title, the enterprise extension, …), as the
-- identity provider last sent them. userName, displayName, externalId and
-- active live in their columns.
ALTER TABLE users ADD COLUMN scim jsonb NOT NULL DEFAULT '{}'::jsonb
    CHECK (jsonb_typeof(scim) = 'object' AND octet_length(scim::text) <= 65536);
