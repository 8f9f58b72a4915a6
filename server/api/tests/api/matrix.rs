//! The authorization matrix: every operation of the spec, called by every
//! built-in role, a platform administrator and auditor, an anonymous caller
//! and a member of another tenant, answers exactly the expected status.
//!
//! What a role may do is written out here on its own (`holds`), apart from
//! the server's role table, and what an operation needs comes from the
//! spec's `x-ditto-permission`; an operation missing from `MATRIX` fails the
//! test, so a new endpoint cannot slip through unjudged.

use std::collections::HashSet;

use ditto_testkit::{Api, TestApp};
use serde_json::{Value, json};

use super::coverage::{Operation, call, fill, operations, resources_of};

/// Every operation, in the order each principal calls them (reads, then
/// writes, then deletes, then the tenant's own fate), with the status it
/// answers when allowed.
const MATRIX: &[(&str, u16)] = &[
    ("me_get", 200),
    ("metrics_get", 200),
    ("tenants_list", 200),
    ("tenants_get", 200),
    ("tenant_health_list", 200),
    ("projects_list", 200),
    ("projects_get", 200),
    ("users_list", 200),
    ("users_get", 200),
    ("service_accounts_list", 200),
    ("service_accounts_get", 200),
    ("access_tokens_list", 200),
    ("api_keys_list", 200),
    ("api_keys_get", 200),
    ("backends_list", 200),
    ("backends_get", 200),
    ("routes_list", 200),
    ("routes_get", 200),
    ("rate_limits_list", 200),
    ("rate_limits_get", 200),
    ("budgets_list", 200),
    ("budgets_get", 200),
    ("model_prices_list", 200),
    ("model_prices_get", 404),
    ("tenant_model_prices_list", 200),
    ("tenant_model_prices_get", 200),
    ("usage_query", 200),
    ("platform_usage_query", 200),
    ("roles_list", 200),
    ("roles_get", 200),
    ("role_bindings_list", 200),
    ("audit_list", 200),
    ("audit_verify", 200),
    ("audit_checkpoints_list", 200),
    ("audit_retention_get", 200),
    ("audit_export", 200),
    ("audit_export_destinations_list", 200),
    ("audit_export_destinations_get", 200),
    ("audit_exports_list", 200),
    ("audit_exports_get", 200),
    ("platform_audit_list", 200),
    ("platform_audit_verify", 200),
    ("audit_signing_key_get", 200),
    ("auth_sign_in", 422),
    ("auth_sign_out", 204),
    // The probe connection is switched off.
    ("auth_sso_start", 404),
    // No sign-in in progress in this "browser".
    ("auth_sso_callback", 400),
    // The probe connection speaks OIDC, not SAML.
    ("auth_saml_start", 404),
    ("auth_saml_acs", 404),
    ("auth_saml_metadata", 404),
    ("me_sessions_list", 200),
    ("me_tokens_list", 200),
    ("me_totp_begin", 200),
    ("me_password_change", 204),
    ("me_totp_confirm", 200),
    ("me_totp_disable", 204),
    ("me_recovery_codes_regenerate", 200),
    ("me_tokens_create", 201),
    ("me_tokens_revoke", 200),
    ("me_sessions_revoke", 204),
    ("groups_list", 200),
    ("groups_get", 200),
    ("group_members_list", 200),
    ("sso_connections_list", 200),
    ("sso_connections_get", 200),
    ("sso_domains_list", 200),
    ("sso_domains_get", 200),
    ("sso_policy_get", 200),
    // No such email domain is claimed here: sign in with a password.
    ("auth_sso_discover", 200),
    ("scim_tokens_list", 200),
    ("groups_create", 201),
    ("groups_update", 200),
    ("group_members_add", 204),
    ("group_members_remove", 204),
    ("users_sign_in_get", 200),
    ("users_sessions_list", 200),
    ("users_tokens_list", 200),
    ("users_password_set", 204),
    ("users_unlock", 204),
    ("users_totp_reset", 204),
    ("users_sessions_revoke", 200),
    // The token named is a service account's, not the user's.
    ("users_tokens_revoke", 404),
    ("tenants_create", 201),
    ("projects_create", 201),
    ("users_create", 201),
    ("service_accounts_create", 201),
    ("access_tokens_create", 201),
    ("api_keys_create", 201),
    ("backends_create", 201),
    ("routes_create", 201),
    ("rate_limits_create", 201),
    ("budgets_create", 201),
    ("model_prices_put", 201),
    ("model_prices_import", 200),
    ("tenant_model_prices_put", 200),
    ("tenant_model_prices_import", 200),
    ("roles_create", 201),
    ("role_bindings_create", 201),
    ("audit_export_destinations_create", 201),
    ("audit_exports_create", 202),
    ("sso_connections_create", 201),
    ("saml_connections_create", 201),
    ("sso_domains_create", 201),
    ("sso_domains_verify", 200),
    ("sso_policy_update", 200),
    ("users_break_glass_set", 200),
    ("scim_tokens_create", 201),
    ("tenants_update", 200),
    ("projects_update", 200),
    ("users_update", 200),
    ("service_accounts_update", 200),
    ("api_keys_update", 200),
    ("backends_update", 200),
    ("routes_update", 200),
    ("rate_limits_update", 200),
    ("budgets_update", 200),
    ("roles_update", 200),
    ("audit_checkpoints_create", 201),
    ("audit_retention_update", 200),
    ("audit_retention_apply", 200),
    ("audit_export_destinations_update", 200),
    ("sso_connections_update", 200),
    // The probe connection speaks OIDC: not one to change here.
    ("saml_connections_update", 404),
    ("access_tokens_revoke", 200),
    ("scim_tokens_revoke", 200),
    ("api_keys_rotate", 200),
    ("api_keys_revoke", 200),
    ("budgets_delete", 204),
    ("rate_limits_delete", 204),
    ("routes_delete", 204),
    // The route made above still sends traffic there: refused, once authorized.
    ("backends_delete", 409),
    ("roles_delete", 204),
    ("role_bindings_delete", 204),
    ("audit_export_destinations_delete", 204),
    ("sso_connections_delete", 204),
    ("sso_domains_delete", 204),
    ("service_accounts_delete", 204),
    ("groups_delete", 204),
    ("users_delete", 204),
    ("projects_delete", 204),
    ("tenant_model_prices_delete", 204),
    ("model_prices_delete", 204),
    ("tenants_suspend", 200),
    ("tenants_resume", 200),
    ("tenants_delete", 204),
];

const TENANT_ROLES: &[&str] = &[
    "owner",
    "admin",
    "developer",
    "viewer",
    "auditor",
    "operator",
    "billing",
];

/// What each built-in tenant role holds, as the documentation promises.
fn holds(role: &str, permission: &str) -> bool {
    let read = permission.ends_with(":read");
    match role {
        "owner" => true,
        // Who is owner (and who may bypass enforced SSO) is the owners' say.
        "admin" => permission != "owners:write",
        "viewer" => read,
        "developer" => matches!(
            permission,
            "tenants:read"
                | "projects:read"
                | "keys:read"
                | "keys:write"
                | "routes:read"
                | "pricing:read"
                | "usage:read"
        ),
        "auditor" => matches!(
            permission,
            "tenants:read"
                | "projects:read"
                | "users:read"
                | "service_accounts:read"
                | "roles:read"
                | "role_bindings:read"
                | "usage:read"
                | "audit:read"
                | "audit:export"
        ),
        "operator" => matches!(
            permission,
            "tenants:read"
                | "projects:read"
                | "backends:read"
                | "backends:write"
                | "routes:read"
                | "routes:write"
                | "rate_limits:read"
                | "rate_limits:write"
                | "budgets:read"
                | "pricing:read"
                | "usage:read"
        ),
        "billing" => matches!(
            permission,
            "tenants:read"
                | "projects:read"
                | "budgets:read"
                | "budgets:write"
                | "pricing:read"
                | "pricing:write"
                | "usage:read"
        ),
        other => panic!("unknown role {other}"),
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Anonymous,
    OtherTenant,
    PlatformAdmin,
    PlatformAuditor,
    Role(&'static str),
    /// An `admin` of one project, in a tenant suspended since.
    SuspendedProjectAdmin,
}

/// The status `who` must get from `op`.
fn expected(who: Who, op: &Operation, allowed: u16) -> u16 {
    let permission = op.permission.as_deref().unwrap_or_default();
    let read = permission.ends_with(":read");
    match (op.scope.as_str(), who) {
        ("public", _) => allowed,
        (_, Who::Anonymous) => 401,
        ("authenticated", _) => allowed,
        // Every principal here is a service account, and those have no
        // sessions, passwords or personal tokens (tests/api/sign_in.rs
        // covers users).
        ("user", _) => 403,
        (_, Who::PlatformAdmin) => allowed,
        (_, Who::PlatformAuditor) => {
            if read {
                allowed
            } else {
                403
            }
        }
        ("platform", _) => 403,
        ("tenant", Who::OtherTenant) => 404,
        // A suspended tenant's members reach none of it, nor what it shares.
        ("tenant" | "shared", Who::SuspendedProjectAdmin) => 403,
        // A member of another (active) tenant reads shared data too.
        ("shared", Who::OtherTenant) => allowed,
        ("tenant" | "shared", Who::Role(role)) => {
            if holds(role, permission) {
                allowed
            } else {
                403
            }
        }
        (scope, _) => panic!("{}: unknown scope {scope}", op.id),
    }
}

/// A body that succeeds for `op` in a tenant holding `ids`.
fn body(op: &str, ids: &[(&'static str, String)], n: usize) -> Value {
    let id = |name: &str| {
        ids.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    match op {
        "tenants_create" => json!({"slug": format!("probe-{n}"), "name": "probe"}),
        "tenants_update" => json!({"name": "renamed"}),
        "audit_retention_update" => json!({"retention_days": 30}),
        "users_password_set" => json!({"password": "a long enough passphrase"}),
        "groups_create" => json!({"name": format!("probe-{n}")}),
        "groups_update" => json!({"name": "renamed group"}),
        "scim_tokens_create" => json!({"name": "probe"}),
        "group_members_add" => json!({"user_id": id("user_id")}),
        "me_password_change" => {
            json!({"current_password": "the old passphrase", "new_password": "a new passphrase"})
        }
        "me_totp_confirm" | "me_totp_disable" | "me_recovery_codes_regenerate" => {
            json!({"code": "123456"})
        }
        "me_tokens_create" => json!({"name": "probe", "expires_at": "2099-01-01T00:00:00Z"}),
        "audit_export_destinations_create" => {
            json!({"name": "probe", "kind": "local", "path": "probe"})
        }
        "audit_export_destinations_update" => json!({"name": "renamed"}),
        "audit_exports_create" => json!({"destination_id": id("destination_id")}),
        "projects_create" | "service_accounts_create" | "access_tokens_create" => {
            json!({"name": "probe"})
        }
        "projects_update" | "service_accounts_update" => json!({"description": "changed"}),
        "backends_update" => json!({"name": "renamed"}),
        "users_create" => json!({"email": "probe@example.com"}),
        "users_update" => json!({"display_name": "Changed"}),
        "api_keys_create" => json!({"project_id": id("project_id"), "name": "probe"}),
        "api_keys_update" => json!({"name": "renamed"}),
        "backends_create" => {
            json!({"name": "probe", "base_url": "http://127.0.0.1:9/v1", "credentials": "sk-x"})
        }
        "routes_create" => json!({"model": "probe", "targets": [{"backend_id": id("backend_id")}]}),
        "routes_update" => json!({"aliases": ["probe-alias"]}),
        "rate_limits_create" => json!({"scope": "tenant", "rpm": 60}),
        "rate_limits_update" => json!({"rpm": 30}),
        "budgets_create" => json!({"scope": "tenant", "period": "monthly", "max_tokens": 1000}),
        "budgets_update" => json!({"max_cost_usd": "7"}),
        "model_prices_put" | "tenant_model_prices_put" => {
            json!({"input_usd_per_million_tokens": "1", "output_usd_per_million_tokens": "2"})
        }
        "model_prices_import" | "tenant_model_prices_import" => {
            json!({"probe": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}})
        }
        "roles_create" => json!({"name": "probe-role", "permissions": ["projects:read"]}),
        "roles_update" => json!({"description": "changed"}),
        "sso_connections_create" => json!({
            "name": "probe",
            "issuer": ditto_testkit::oidc::discovery_fixture(),
            "client_id": "probe",
            "client_secret": "probe-secret",
            "group_role_mappings": [{"group": "g", "role": "viewer"}],
        }),
        "sso_connections_update" => json!({"name": "renamed connection"}),
        "saml_connections_create" => json!({
            "name": "probe saml",
            "idp_metadata_xml": ditto_testkit::saml::metadata_fixture(),
            "group_role_mappings": [{"group": "g", "role": "viewer"}],
        }),
        "saml_connections_update" => json!({"name": "renamed saml connection"}),
        "sso_domains_create" => json!({"domain": format!("probe-{n}.example")}),
        "sso_policy_update" => json!({"enforced": false}),
        "users_break_glass_set" => json!({"enabled": false}),
        "auth_sso_discover" => json!({"email": format!("someone@nobody-{n}.example")}),
        "role_bindings_create" => json!({
            "role": "viewer",
            "subject_type": "user",
            "subject_id": id("user_id"),
        }),
        _ => json!({}),
    }
}

fn with_query(op: &str, path: String) -> String {
    match op {
        "usage_query" | "platform_usage_query" => {
            format!("{path}?from=2026-03-10T00:00:00Z&to=2026-03-11T00:00:00Z")
        }
        _ => path,
    }
}

#[tokio::test]
async fn every_operation_answers_every_principal_exactly() {
    let app = TestApp::spawn().await;
    let ops = operations();

    // The matrix and the spec name the same operations.
    let in_spec: HashSet<&str> = ops.iter().map(|o| o.id.as_str()).collect();
    let in_matrix: HashSet<&str> = MATRIX.iter().map(|(id, _)| *id).collect();
    let missing: Vec<_> = in_spec.difference(&in_matrix).collect();
    assert!(
        missing.is_empty(),
        "operations without a matrix entry: {missing:?}"
    );
    let stale: Vec<_> = in_matrix.difference(&in_spec).collect();
    assert!(
        stale.is_empty(),
        "matrix entries of no operation: {stale:?}"
    );
    assert_eq!(in_matrix.len(), MATRIX.len(), "duplicate matrix entries");

    app.tenant("elsewhere").await;
    let outsider = app.tenant_member("elsewhere").await;
    let mut principals: Vec<(Who, Api)> = vec![
        (Who::Anonymous, app.anonymous()),
        (Who::OtherTenant, outsider),
        (Who::PlatformAdmin, app.admin()),
        (
            Who::PlatformAuditor,
            app.platform_member("platform_auditor").await,
        ),
    ];
    for role in TENANT_ROLES {
        principals.push((Who::Role(role), app.anonymous()));
    }
    principals.push((Who::SuspendedProjectAdmin, app.anonymous()));

    let mut checked = 0;
    for (n, (who, mut api)) in principals.into_iter().enumerate() {
        // Each principal works on a tenant of its own, with one of
        // everything in it, so deletes do not disturb the others.
        let tenant = format!("matrix-{n}");
        app.tenant(&tenant).await;
        let mut ids = resources_of(&app, &tenant).await;
        ids.push(("tenant", tenant.clone()));
        if let Who::Role(role) = who {
            api = app.tenant_member_as(&tenant, role).await;
        }
        if who == Who::SuspendedProjectAdmin {
            api = suspended_project_admin(&app, &tenant, &ids).await;
        }
        for (id, allowed) in MATRIX {
            let op = ops.iter().find(|o| o.id == *id).unwrap();
            let path = with_query(id, fill(&op.path, &ids));
            let resp = call(&api, op, &path, body(id, &ids, n)).await;
            let want = expected(who, op, *allowed);
            assert_eq!(resp.status, want, "{who:?} {} {path}: {}", op.id, resp.text);
            checked += 1;
        }
    }
    assert_eq!(checked, MATRIX.len() * (5 + TENANT_ROLES.len()));
}

/// A service account bound `admin` on the tenant's project only, whose
/// tenant a platform operator then suspends.
async fn suspended_project_admin(app: &TestApp, tenant: &str, ids: &[(&str, String)]) -> Api {
    let admin = app.admin();
    let base = format!("/api/v1/tenants/{tenant}");
    let project = &ids.iter().find(|(k, _)| *k == "project_id").unwrap().1;
    let account = admin
        .post(
            &format!("{base}/service-accounts"),
            json!({"name": "project-admin"}),
        )
        .await
        .expect_status(201);
    let account = account["id"].as_str().unwrap();
    admin
        .post(
            &format!("{base}/role-bindings"),
            json!({"role": "admin", "subject_type": "service_account", "subject_id": account,
                   "project_id": project}),
        )
        .await
        .expect_status(201);
    let token = admin
        .post(
            &format!("{base}/service-accounts/{account}/tokens"),
            json!({"name": "ci"}),
        )
        .await
        .expect_status(201);
    admin
        .post_empty(&format!("{base}/suspend"))
        .await
        .expect_status(200);
    app.with_token(token["secret"].as_str().unwrap())
}
