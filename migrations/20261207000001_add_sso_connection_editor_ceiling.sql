-- What the last person to save a connection could grant. A sign-in through
-- the connection never reaches an account holding more, and its group
-- mappings never bind more: an administrator who adds or edits a
-- connection cannot become an owner through it. NULL (connections saved
-- before this column) is read as everything but `owners:write`, until an
-- owner saves the connection again.
ALTER TABLE sso_connections ADD COLUMN editor_permissions text[];
