//! Checks that run over every operation in the spec, so a new endpoint is
//! covered the moment it exists.

use ditto_testkit::{Api, Resp, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

pub(crate) struct Operation {
    pub method: Method,
    pub path: String,
    pub id: String,
    pub has_body: bool,
    /// `x-ditto-scope` from the permission catalogue.
    pub scope: String,
    /// `x-ditto-permission`, if the operation needs one.
    pub permission: Option<String>,
}

pub(crate) fn operations() -> Vec<Operation> {
    let spec: Value = serde_json::from_str(&ditto_api::openapi().to_json().unwrap()).unwrap();
    let mut ops = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        if !path.starts_with("/api/") && path != "/metrics" {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            ops.push(Operation {
                method: method.to_uppercase().parse().unwrap(),
                path: path.clone(),
                id: op["operationId"].as_str().unwrap().to_owned(),
                has_body: op.get("requestBody").is_some(),
                scope: op["x-ditto-scope"].as_str().unwrap().to_owned(),
                permission: op["x-ditto-permission"].as_str().map(str::to_owned),
            });
        }
    }
    assert!(
        ops.len() >= 30,
        "expected the whole API, found {} operations",
        ops.len()
    );
    ops
}

pub(crate) fn fill(path: &str, values: &[(&str, String)]) -> String {
    let mut out = path.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    assert!(!out.contains('{'), "unfilled parameter in {out}");
    out
}

pub(crate) async fn call(api: &Api, op: &Operation, path: &str, body: Value) -> Resp {
    if op.has_body {
        api.raw(op.method.clone(), path, |r| r.json(&body)).await
    } else {
        api.raw(op.method.clone(), path, |r| r).await
    }
}

/// Enough of a body to get past validation for each writing operation.
fn body_for(op: &Operation) -> Value {
    match op.id.as_str() {
        "access_tokens_create" => json!({"name": "probe"}),
        "audit_retention_update" => json!({"retention_days": 30}),
        "audit_export_destinations_create" => {
            json!({"name": "probe", "kind": "local", "path": "probe"})
        }
        "audit_exports_create" => json!({"destination_id": uuid::Uuid::now_v7()}),
        "me_password_change" => {
            json!({"current_password": "the old passphrase", "new_password": "a new passphrase"})
        }
        "me_totp_confirm" | "me_totp_disable" | "me_recovery_codes_regenerate" => {
            json!({"code": "123456"})
        }
        "me_tokens_create" => json!({"name": "probe", "expires_at": "2099-01-01T00:00:00Z"}),
        "users_password_set" => json!({"password": "a long enough passphrase"}),
        "groups_create" => json!({"name": "probe"}),
        "scim_tokens_create" => json!({"name": "probe"}),
        "group_members_add" => json!({"user_id": uuid::Uuid::now_v7()}),
        "tenants_create" => json!({"slug": "probe-tenant", "name": "probe"}),
        "projects_create" | "service_accounts_create" => json!({"name": "probe"}),
        "users_create" => json!({"email": "probe@example.com"}),
        "api_keys_create" => json!({"project_id": uuid::Uuid::now_v7(), "name": "probe"}),
        "backends_create" => json!({"name": "probe", "base_url": "http://127.0.0.1:9/v1"}),
        "routes_create" => {
            json!({"model": "probe", "targets": [{"backend_id": uuid::Uuid::now_v7()}]})
        }
        "rate_limits_create" => json!({"scope": "tenant", "rpm": 60}),
        "budgets_create" => json!({"scope": "tenant", "period": "monthly", "max_tokens": 1000}),
        "model_prices_put" | "tenant_model_prices_put" => {
            json!({"input_usd_per_million_tokens": "1", "output_usd_per_million_tokens": "2"})
        }
        "model_prices_import" | "tenant_model_prices_import" => {
            json!({"probe": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}})
        }
        "roles_create" => json!({"name": "probe-role", "permissions": ["projects:read"]}),
        "role_bindings_create" => json!({
            "role": "viewer",
            "subject_type": "service_account",
            "subject_id": uuid::Uuid::now_v7(),
        }),
        "sso_connections_create" => {
            json!({"name": "probe", "issuer": "http://127.0.0.1:9", "client_id": "probe"})
        }
        "saml_connections_create" => json!({
            "name": "probe saml",
            "idp_metadata_xml": ditto_testkit::saml::metadata_fixture(),
        }),
        "sso_domains_create" => json!({"domain": "probe.example"}),
        "sso_policy_update" => json!({"enforced": false}),
        "users_break_glass_set" => json!({"enabled": false}),
        _ => json!({}),
    }
}

fn random_ids() -> Vec<(&'static str, String)> {
    [
        "project_id",
        "user_id",
        "service_account_id",
        "token_id",
        "key_id",
        "backend_id",
        "route_id",
        "rate_limit_id",
        "budget_id",
        "binding_id",
        "destination_id",
        "run_id",
        "session_id",
        "group_id",
        "scim_token_id",
        "connection_id",
    ]
    .into_iter()
    .map(|p| (p, uuid::Uuid::now_v7().to_string()))
    .chain([
        ("model", "probe%2Fmodel".to_owned()),
        ("role", "probe-role".to_owned()),
        ("domain", "probe.example".to_owned()),
    ])
    .collect()
}

#[tokio::test]
async fn every_admin_operation_requires_a_valid_token() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let mut values = random_ids();
    values.push(("tenant", "acme".into()));
    for credentials in [
        app.anonymous(),
        app.with_token("dat-not-a-real-token"),
        app.with_token(""),
    ] {
        for op in operations().into_iter().filter(|op| op.scope != "public") {
            let path = fill(&op.path, &values);
            let resp = call(&credentials, &op, &path, body_for(&op)).await;
            assert_eq!(
                resp.status, 401,
                "{} {} answered {}: {}",
                op.method, path, resp.status, resp.text
            );
            assert_eq!(resp.headers["www-authenticate"], "Bearer");
            resp.expect_problem(401);
        }
    }
}

/// The ids of one of everything in a tenant.
pub(crate) async fn resources_of(app: &TestApp, tenant: &str) -> Vec<(&'static str, String)> {
    let admin = app.admin();
    let base = format!("/api/v1/tenants/{tenant}");
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    let project = admin
        .post(&format!("{base}/projects"), json!({"name": "p"}))
        .await
        .expect_status(201);
    let user = admin
        .post(&format!("{base}/users"), json!({"email": "u@b.example"}))
        .await
        .expect_status(201);
    let group = admin
        .post(&format!("{base}/groups"), json!({"name": "g"}))
        .await
        .expect_status(201);
    admin
        .post(
            &format!("{base}/groups/{}/members", id(&group)),
            json!({"user_id": id(&user)}),
        )
        .await
        .expect_status(204);
    let account = admin
        .post(&format!("{base}/service-accounts"), json!({"name": "sa"}))
        .await
        .expect_status(201);
    let token = admin
        .post(
            &format!("{base}/service-accounts/{}/tokens", id(&account)),
            json!({"name": "t"}),
        )
        .await
        .expect_status(201);
    let key = admin
        .post(
            &format!("{base}/api-keys"),
            json!({"project_id": id(&project), "name": "k"}),
        )
        .await
        .expect_status(201);
    let backend = admin
        .post(
            &format!("{base}/backends"),
            json!({"name": "b", "base_url": "http://127.0.0.1:9/v1", "credentials": "sk-x"}),
        )
        .await
        .expect_status(201);
    let route = admin
        .post(
            &format!("{base}/routes"),
            json!({"model": "m", "targets": [{"backend_id": id(&backend)}]}),
        )
        .await
        .expect_status(201);
    let rate_limit = admin
        .post(
            &format!("{base}/rate-limits"),
            json!({"scope": "project", "scope_id": id(&project), "rpm": 10}),
        )
        .await
        .expect_status(201);
    let budget = admin
        .post(
            &format!("{base}/budgets"),
            json!({"scope": "key", "scope_id": id(&key["key"]), "period": "daily", "max_cost_usd": "5"}),
        )
        .await
        .expect_status(201);
    admin
        .raw(
            Method::PUT,
            &format!("{base}/model-prices/b%2Fmodel"),
            |r| r.json(&json!({"input_usd_per_million_tokens": "1", "output_usd_per_million_tokens": "2"})),
        )
        .await
        .expect_status(201);
    let role = admin
        .post(
            &format!("{base}/roles"),
            json!({"name": "custom", "permissions": ["usage:read"]}),
        )
        .await
        .expect_status(201);
    let binding = admin
        .post(
            &format!("{base}/role-bindings"),
            json!({"role": "viewer", "subject_type": "service_account", "subject_id": id(&account)}),
        )
        .await
        .expect_status(201);
    // Switched off, so starting a sign-in through it answers the same to
    // everyone without leaving the server.
    let connection = admin
        .post(
            &format!("{base}/sso-connections"),
            json!({"name": "sso", "issuer": ditto_testkit::oidc::discovery_fixture(),
                   "client_id": "probe", "client_secret": "probe-secret", "enabled": false}),
        )
        .await
        .expect_status(201);
    let destination = admin
        .post(
            &format!("{base}/audit/export-destinations"),
            json!({"name": "d", "kind": "local", "path": "d"}),
        )
        .await
        .expect_status(201);
    let run = admin
        .post(
            &format!("{base}/audit/exports"),
            json!({"destination_id": id(&destination)}),
        )
        .await
        .expect_status(202);
    let scim_token = admin
        .post(&format!("{base}/scim-tokens"), json!({"name": "idp"}))
        .await
        .expect_status(201);
    // Domains are unique across tenants: one named after the tenant.
    let domain = admin
        .post(
            &format!("{base}/domains"),
            json!({"domain": format!("{tenant}.example")}),
        )
        .await
        .expect_status(201);
    vec![
        ("domain", domain["domain"].as_str().unwrap().to_owned()),
        ("scim_token_id", id(&scim_token["token"])),
        ("destination_id", id(&destination)),
        ("run_id", id(&run)),
        ("role", role["name"].as_str().unwrap().to_owned()),
        ("binding_id", id(&binding)),
        ("rate_limit_id", id(&rate_limit)),
        ("budget_id", id(&budget)),
        ("model", "b%2Fmodel".to_owned()),
        ("backend_id", id(&backend)),
        ("route_id", id(&route)),
        ("project_id", id(&project)),
        ("user_id", id(&user)),
        ("service_account_id", id(&account)),
        ("token_id", id(&token["token"])),
        ("key_id", id(&key["key"])),
        ("group_id", id(&group)),
        // Sessions are made by signing in; their operations are the user's own.
        ("session_id", uuid::Uuid::now_v7().to_string()),
        ("connection_id", id(&connection)),
    ]
}

#[tokio::test]
async fn no_operation_lets_one_tenant_reach_another() {
    let app = TestApp::spawn().await;
    app.tenant("tenant-a").await;
    app.tenant("tenant-b").await;
    let member_a = app.tenant_member("tenant-a").await;
    let b_ids = resources_of(&app, "tenant-b").await;
    let admin = app.admin();
    let snapshot = |path: &'static str| {
        let admin = admin.clone();
        async move {
            admin
                .get(&format!("/api/v1/tenants/tenant-b/{path}"))
                .await
                .expect_status(200)
        }
    };
    let snapshot_all = || async {
        let mut all = Vec::new();
        for path in [
            "api-keys",
            "projects",
            "users",
            "groups",
            "rate-limits",
            "budgets",
            "model-prices",
            "audit/export-destinations",
            "audit/exports",
            "sso-connections",
            "domains",
            "sso-policy",
        ] {
            all.push(snapshot(path).await);
        }
        all
    };
    let before = snapshot_all().await;

    for op in operations() {
        // 1. Naming tenant B in the URL.
        let mut values = b_ids.clone();
        values.push(("tenant", "tenant-b".into()));
        if op.path.contains("{tenant}") {
            let path = fill(&op.path, &values);
            let resp = call(&member_a, &op, &path, body_for(&op)).await;
            if op.scope == "platform" {
                resp.expect_problem(403);
            } else {
                let body = resp.expect_problem(404);
                assert_eq!(body["detail"], "tenant not found", "{}", op.id);
            }
        } else if op.scope == "public" {
            // Signing in and out: no tenant data without credentials.
        } else if op.scope == "user" {
            // A person's own sessions and tokens: a service account has none.
            let path = fill(&op.path, &values);
            call(&member_a, &op, &path, body_for(&op))
                .await
                .expect_problem(403);
        } else if op.scope == "shared" || op.scope == "authenticated" {
            let path = fill(&op.path, &values);
            let resp = call(&member_a, &op, &path, body_for(&op)).await;
            assert!(
                [200, 404].contains(&resp.status),
                "{} {path}: {}",
                op.id,
                resp.text
            );
        } else {
            assert_eq!(
                op.scope, "platform",
                "{} names no tenant, so it must be platform-only",
                op.id
            );
            let path = fill(&op.path, &values);
            call(&member_a, &op, &path, body_for(&op))
                .await
                .expect_problem(403);
        }

        // 2. Naming its own tenant with tenant B's resource ids.
        let has_ids = b_ids
            .iter()
            .any(|(name, _)| op.path.contains(&format!("{{{name}}}")));
        // A PUT of a model price is an upsert: in tenant A it sets A's own
        // price under that name, and B's is checked unchanged below.
        let upsert = op.method == Method::PUT;
        if has_ids && !upsert && op.path.contains("{tenant}") && op.scope != "platform" {
            let mut values = b_ids.clone();
            values.push(("tenant", "tenant-a".into()));
            let path = fill(&op.path, &values);
            let resp = call(&member_a, &op, &path, body_for(&op)).await;
            assert_eq!(resp.status, 404, "{} {path}: {}", op.id, resp.text);
        }
    }

    // Nothing of tenant B changed.
    let after = snapshot_all().await;
    assert_eq!(before, after);
}

#[tokio::test]
async fn platform_admin_and_tenant_members_reach_their_own_tenant() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("acme").await;
    let member = app.tenant_member("acme").await;
    let own = member.get("/api/v1/tenants/acme").await.expect_status(200);
    assert_eq!(own["id"], tenant["id"]);
    let by_id = member
        .get(&format!(
            "/api/v1/tenants/{}",
            tenant["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(by_id.expect_status(200)["slug"], "acme");
    member
        .get("/api/v1/tenants/acme/projects")
        .await
        .expect_status(200);
}
