//! Turns database errors into domain errors: unique and foreign-key
//! violations become 409 and field errors a client can act on; everything
//! else stays internal.

use ditto_core::Error;

/// Unique constraints and what a client should hear when it hits one.
const UNIQUE: &[(&str, &str)] = &[
    ("tenants_slug_key", "a tenant with this slug already exists"),
    (
        "tenant_domains_tenant_domain_key",
        "this tenant has already claimed this domain",
    ),
    (
        "tenant_domains_verified_key",
        "this domain is verified for another tenant; a domain routes sign-ins to one tenant only",
    ),
    (
        "sso_connections_tenant_name_key",
        "an SSO connection with this name already exists in this tenant",
    ),
    (
        "projects_tenant_name_key",
        "a project with this name already exists in this tenant",
    ),
    (
        "users_tenant_email_key",
        "a user with this email already exists in this tenant",
    ),
    (
        "users_tenant_external_id_key",
        "a user with this external_id already exists in this tenant",
    ),
    (
        "groups_tenant_name_key",
        "a group with this name already exists in this tenant",
    ),
    (
        "groups_tenant_external_id_key",
        "a group with this external_id already exists in this tenant",
    ),
    (
        "service_accounts_tenant_name_key",
        "a service account with this name already exists in this tenant",
    ),
    (
        "rate_limits_scope_model_key",
        "a rate limit for this scope and model already exists; change it instead",
    ),
    (
        "budgets_scope_period_key",
        "a budget for this scope and period already exists; change it instead",
    ),
    (
        "roles_tenant_name_key",
        "a role with this name already exists in this tenant",
    ),
    (
        "audit_export_destinations_name_key",
        "an audit export destination with this name already exists in this tenant",
    ),
    (
        "role_bindings_unique_grant",
        "this subject already holds this role at this scope",
    ),
];

/// Foreign keys that point at something the client named in the body.
const REFERENCES: &[(&str, &str, &str)] = &[
    (
        "role_bindings_tenant_id_project_id_fkey",
        "/project_id",
        "no such project in this tenant",
    ),
    (
        "role_bindings_tenant_id_user_id_fkey",
        "/subject_id",
        "no such user in this tenant",
    ),
    (
        "role_bindings_tenant_id_group_id_fkey",
        "/subject_id",
        "no such group in this tenant",
    ),
    (
        "role_bindings_tenant_id_service_account_id_fkey",
        "/subject_id",
        "no such service account in this tenant",
    ),
    (
        "route_targets_tenant_id_backend_id_fkey",
        "/targets",
        "names a backend that does not exist in this tenant",
    ),
    (
        "api_keys_tenant_id_project_id_fkey",
        "/project_id",
        "no such project in this tenant",
    ),
    (
        "api_keys_tenant_id_owner_user_id_fkey",
        "/owner_user_id",
        "no such user in this tenant",
    ),
    (
        "api_keys_tenant_id_owner_service_account_id_fkey",
        "/owner_service_account_id",
        "no such service account in this tenant",
    ),
    // A rate limit's or budget's scope id lands in the column of its scope,
    // so a missing row and an id of the wrong kind read the same.
    (
        "rate_limits_tenant_id_project_id_fkey",
        "/scope_id",
        "no such project in this tenant",
    ),
    (
        "rate_limits_tenant_id_user_id_fkey",
        "/scope_id",
        "no such user in this tenant",
    ),
    (
        "rate_limits_tenant_id_key_id_fkey",
        "/scope_id",
        "no such API key in this tenant",
    ),
    (
        "budgets_tenant_id_project_id_fkey",
        "/scope_id",
        "no such project in this tenant",
    ),
    (
        "budgets_tenant_id_user_id_fkey",
        "/scope_id",
        "no such user in this tenant",
    ),
    (
        "budgets_tenant_id_key_id_fkey",
        "/scope_id",
        "no such API key in this tenant",
    ),
];

pub(crate) fn db(e: sqlx::Error) -> Error {
    if let sqlx::Error::Database(dbe) = &e {
        let constraint = dbe.constraint().unwrap_or_default();
        match dbe.code().as_deref() {
            Some("23505") => {
                let message = UNIQUE
                    .iter()
                    .find(|(name, _)| *name == constraint)
                    .map_or("conflicts with an existing resource", |(_, m)| m);
                return Error::Conflict(message.to_owned());
            }
            Some("23514") if constraint == "role_bindings_last_owner" => {
                return Error::Conflict(
                    "this is the tenant's last owner; make someone else owner first".into(),
                );
            }
            Some("23514") if constraint == "tenant_sso_policies_needs_connection" => {
                return Error::Conflict(
                    "this tenant enforces SSO and this is its last enabled SSO connection; turn enforced SSO off first (PUT …/sso-policy)".into(),
                );
            }
            Some("23503") => {
                if let Some((_, field, message)) =
                    REFERENCES.iter().find(|(n, ..)| *n == constraint)
                {
                    return Error::invalid(field, "not_found", *message);
                }
            }
            _ => {}
        }
    }
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
            Error::Unavailable("the database is unavailable; try again shortly".into())
        }
        other => Error::Internal(describe(&other)),
    }
}

/// A description of a database error for logs. Bound parameters are never
/// part of sqlx's error text, so secrets cannot leak through it.
pub(crate) fn describe(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(dbe) => format!(
            "database error {}: {}",
            dbe.code().unwrap_or_default(),
            dbe.message()
        ),
        other => other.to_string(),
    }
}
