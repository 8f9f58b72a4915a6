//! The audit trail: one event per change, in a gapless chain per tenant
//! that verifies, that the application cannot rewrite, that each tenant
//! sees only its own of, and that survives retention and export.

use std::collections::BTreeSet;

use ditto_testkit::{Api, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

use super::second_factor::base32_decode;

/// Every event, as the database superuser sees it, oldest first.
pub(super) async fn all_events(app: &TestApp) -> Vec<Value> {
    let mut conn = app.db.connect().await;
    sqlx::query_scalar("SELECT to_jsonb(e) FROM audit_events e ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .unwrap()
}

pub(super) async fn superuser(app: &TestApp, sql: &str) -> u64 {
    let mut conn = app.db.connect().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap()
        .rows_affected()
}

pub(super) fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// The mutating operations of the spec.
pub(super) fn mutating_operations() -> BTreeSet<String> {
    let spec: Value = serde_json::from_str(&ditto_api::openapi().to_json().unwrap()).unwrap();
    let mut ops = BTreeSet::new();
    for item in spec["paths"].as_object().unwrap().values() {
        for (method, op) in item.as_object().unwrap() {
            if ["post", "put", "patch", "delete"].contains(&method.as_str()) {
                ops.insert(op["operationId"].as_str().unwrap().to_owned());
            }
        }
    }
    ops
}

/// `access_tokens_create` → `access_tokens.create`; sign-in and credential
/// operations record what happened to the person.
pub(super) fn action_of(operation: &str) -> String {
    let named = match operation {
        "auth_sign_in" => "auth.sign_in",
        "auth_sign_out" => "auth.sign_out",
        "me_sessions_revoke" => "sessions.revoke",
        "me_password_change" => "credentials.password_change",
        "me_totp_begin" => "credentials.totp_begin",
        "me_totp_confirm" => "credentials.totp_enable",
        "me_totp_disable" => "credentials.totp_disable",
        "me_recovery_codes_regenerate" => "credentials.recovery_codes_regenerate",
        "me_tokens_create" => "access_tokens.create",
        "me_tokens_revoke" | "users_tokens_revoke" => "access_tokens.revoke",
        "users_password_set" => "credentials.password_set",
        "users_unlock" => "credentials.unlock",
        "users_totp_reset" => "credentials.totp_reset",
        "users_sessions_revoke" => "sessions.revoke_all",
        "sso_domains_create" => "tenant_domains.create",
        "sso_domains_verify" => "tenant_domains.verify",
        "sso_domains_delete" => "tenant_domains.delete",
        "users_break_glass_set" => "sso_break_glass.grant",
        // SAML connections are SSO connections.
        "saml_connections_create" => "sso_connections.create",
        "saml_connections_update" => "sso_connections.update",
        _ => {
            let (resource, verb) = operation.rsplit_once('_').unwrap();
            return format!("{resource}.{verb}");
        }
    };
    named.to_owned()
}

/// Events recorded for callers (not by the system, e.g. an export run
/// finishing in the background), oldest first.
pub(super) async fn callers_events(app: &TestApp) -> Vec<Value> {
    let mut events = all_events(app).await;
    events.retain(|e| e["actor_type"] != "system");
    events
}

/// Drives operations one at a time and checks that each left exactly one
/// event, with its action and without any secret seen so far.
pub(super) struct Driver<'a> {
    app: &'a TestApp,
    api: Api,
    driven: BTreeSet<String>,
    secrets: Vec<String>,
    /// Who the events must name: `service_account`, or `user` once the
    /// driver acts through a signed-in user's session.
    actor_type: &'static str,
    /// The session cookie and CSRF token sent with each call, if any.
    session: Option<(String, String)>,
    /// The cookies the last call set.
    last_cookies: Vec<String>,
}

impl Driver<'_> {
    async fn call(&mut self, op: &str, method: Method, path: &str, body: Option<Value>) -> Value {
        let before = callers_events(self.app).await.len();
        let session = self.session.clone();
        let resp = self
            .api
            .raw(method, path, |mut r| {
                if let Some((cookie, csrf)) = session {
                    r = r.header("cookie", cookie).header("x-csrf-token", csrf);
                }
                match body {
                    Some(b) => r.json(&b),
                    None => r,
                }
            })
            .await;
        assert!(
            (200..300).contains(&resp.status),
            "{op} {path}: {} {}",
            resp.status,
            resp.text
        );
        self.last_cookies = resp
            .headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        let out: Value = serde_json::from_str(&resp.text).unwrap_or(Value::Null);
        if let Some(s) = out["secret"].as_str() {
            self.secrets.push(s.to_owned());
        }
        let events = callers_events(self.app).await;
        assert_eq!(
            events.len(),
            before + 1,
            "{op} recorded {} events",
            events.len() - before
        );
        let event = events.last().unwrap();
        assert_eq!(event["action"], action_of(op), "{op}");
        assert!(
            event["request_id"].as_str().is_some_and(|r| !r.is_empty()),
            "{op}"
        );
        assert_eq!(event["source_ip"], "127.0.0.1", "{op}");
        assert_eq!(event["actor_type"], self.actor_type, "{op}");
        let text = event.to_string();
        for secret in &self.secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{op} stored a secret: {text}"
            );
        }
        // bytea values (hashes, sealed credentials) show as `\x…`.
        for image in [&event["before"], &event["after"]] {
            assert!(
                !image.to_string().contains("\\\\x"),
                "{op} stored raw bytes: {image}"
            );
        }
        self.driven.insert(op.to_owned());
        out
    }

    async fn post(&mut self, op: &str, path: &str, body: Value) -> Value {
        self.call(op, Method::POST, path, Some(body)).await
    }
    /// Drives a POST that changes nothing (a lookup): it records no event.
    async fn unrecorded(&mut self, op: &str, path: &str, body: Value) -> Value {
        let before = callers_events(self.app).await.len();
        let resp = self.api.post(path, body).await;
        assert!((200..300).contains(&resp.status), "{op}: {}", resp.text);
        assert_eq!(
            callers_events(self.app).await.len(),
            before,
            "{op} recorded an event"
        );
        self.driven.insert(op.to_owned());
        resp.body
    }
    async fn post_empty(&mut self, op: &str, path: &str) -> Value {
        self.call(op, Method::POST, path, None).await
    }
    async fn patch(&mut self, op: &str, path: &str, body: Value) -> Value {
        self.call(op, Method::PATCH, path, Some(body)).await
    }
    async fn put(&mut self, op: &str, path: &str, body: Value) -> Value {
        self.call(op, Method::PUT, path, Some(body)).await
    }
    async fn delete(&mut self, op: &str, path: &str) -> Value {
        self.call(op, Method::DELETE, path, None).await
    }

    /// Drives `<resource>_create` on `collection`, then `<resource>_update`
    /// on the item it made; returns the item's id.
    async fn create_then_update(
        &mut self,
        resource: &str,
        collection: &str,
        create: Value,
        update: Value,
    ) -> String {
        let made = self
            .post(&format!("{resource}_create"), collection, create)
            .await;
        let made = id(&made);
        self.patch(
            &format!("{resource}_update"),
            &format!("{collection}/{made}"),
            update,
        )
        .await;
        made
    }
}

#[tokio::test]
async fn every_mutating_operation_records_exactly_one_event_without_secrets() {
    let app = TestApp::spawn().await;
    let mut d = Driver {
        app: &app,
        api: app.admin(),
        driven: BTreeSet::new(),
        secrets: vec![
            "sk-upstream-secret-1".into(),
            "sk-upstream-secret-2".into(),
            "s3-secret-access-key-1".into(),
            "s3-secret-access-key-2".into(),
        ],
        actor_type: "service_account",
        session: None,
        last_cookies: Vec::new(),
    };
    let t = "/api/v1/tenants/acme";
    let price = json!({"input_usd_per_million_tokens": "1", "output_usd_per_million_tokens": "2"});
    let import = json!({"probe": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}});

    d.post(
        "tenants_create",
        "/api/v1/tenants",
        json!({"slug": "acme", "name": "acme"}),
    )
    .await;
    d.patch("tenants_update", t, json!({"name": "Acme"})).await;
    d.post_empty("tenants_suspend", &format!("{t}/suspend"))
        .await;
    d.post_empty("tenants_resume", &format!("{t}/resume")).await;
    d.put(
        "model_prices_put",
        "/api/v1/model-prices/x%2Fm",
        price.clone(),
    )
    .await;
    d.post(
        "model_prices_import",
        "/api/v1/model-prices/import",
        import.clone(),
    )
    .await;
    d.delete("model_prices_delete", "/api/v1/model-prices/x%2Fm")
        .await;

    let project = d
        .create_then_update(
            "projects",
            &format!("{t}/projects"),
            json!({"name": "p"}),
            json!({"name": "p2"}),
        )
        .await;
    let user = d
        .create_then_update(
            "users",
            &format!("{t}/users"),
            json!({"email": "u@example.com"}),
            json!({"display_name": "U"}),
        )
        .await;
    let account = d
        .create_then_update(
            "service_accounts",
            &format!("{t}/service-accounts"),
            json!({"name": "sa"}),
            json!({"description": "d"}),
        )
        .await;
    let token = d
        .post(
            "access_tokens_create",
            &format!("{t}/service-accounts/{account}/tokens"),
            json!({"name": "tok"}),
        )
        .await;
    let token = id(&token["token"]);
    d.post_empty(
        "access_tokens_revoke",
        &format!("{t}/service-accounts/{account}/tokens/{token}/revoke"),
    )
    .await;
    let scim_token = d
        .post(
            "scim_tokens_create",
            &format!("{t}/scim-tokens"),
            json!({"name": "idp"}),
        )
        .await;
    let scim_token = id(&scim_token["token"]);
    d.post_empty(
        "scim_tokens_revoke",
        &format!("{t}/scim-tokens/{scim_token}/revoke"),
    )
    .await;
    let key = d
        .post(
            "api_keys_create",
            &format!("{t}/api-keys"),
            json!({"project_id": project, "name": "k"}),
        )
        .await;
    let key = id(&key["key"]);
    d.patch(
        "api_keys_update",
        &format!("{t}/api-keys/{key}"),
        json!({"name": "k2"}),
    )
    .await;
    d.post_empty("api_keys_rotate", &format!("{t}/api-keys/{key}/rotate"))
        .await;
    d.post_empty("api_keys_revoke", &format!("{t}/api-keys/{key}/revoke"))
        .await;
    let backend = d
        .create_then_update(
            "backends",
            &format!("{t}/backends"),
            json!({"name": "b", "base_url": "http://127.0.0.1:9/v1", "credentials": "sk-upstream-secret-1"}),
            json!({"credentials": "sk-upstream-secret-2"}),
        )
        .await;
    let route = d
        .create_then_update(
            "routes",
            &format!("{t}/routes"),
            json!({"model": "m", "targets": [{"backend_id": backend}]}),
            json!({"aliases": ["mm"]}),
        )
        .await;
    let limit = d
        .create_then_update(
            "rate_limits",
            &format!("{t}/rate-limits"),
            json!({"scope": "tenant", "rpm": 60}),
            json!({"rpm": 61}),
        )
        .await;
    let budget = d
        .create_then_update(
            "budgets",
            &format!("{t}/budgets"),
            json!({"scope": "tenant", "period": "monthly", "max_tokens": 1000}),
            json!({"max_tokens": 2000}),
        )
        .await;
    d.put(
        "tenant_model_prices_put",
        &format!("{t}/model-prices/x%2Fm"),
        price,
    )
    .await;
    d.post(
        "tenant_model_prices_import",
        &format!("{t}/model-prices/import"),
        import,
    )
    .await;
    d.delete(
        "tenant_model_prices_delete",
        &format!("{t}/model-prices/x%2Fm"),
    )
    .await;

    d.post(
        "roles_create",
        &format!("{t}/roles"),
        json!({"name": "readers", "permissions": ["projects:read"]}),
    )
    .await;
    d.patch(
        "roles_update",
        &format!("{t}/roles/readers"),
        json!({"description": "r"}),
    )
    .await;
    let binding = d
        .post(
            "role_bindings_create",
            &format!("{t}/role-bindings"),
            json!({"role": "readers", "subject_type": "user", "subject_id": user}),
        )
        .await;
    d.delete(
        "role_bindings_delete",
        &format!("{t}/role-bindings/{}", id(&binding)),
    )
    .await;
    d.delete("roles_delete", &format!("{t}/roles/readers"))
        .await;

    d.post_empty(
        "audit_checkpoints_create",
        &format!("{t}/audit/checkpoints"),
    )
    .await;
    d.put(
        "audit_retention_update",
        &format!("{t}/audit/retention"),
        json!({"retention_days": 7}),
    )
    .await;
    d.post_empty(
        "audit_retention_apply",
        &format!("{t}/audit/retention/apply"),
    )
    .await;
    let s3 = d
        .create_then_update(
            "audit_export_destinations",
            &format!("{t}/audit/export-destinations"),
            json!({"name": "s3", "kind": "s3", "bucket": "audit", "access_key_id": "AKID",
                "secret_access_key": "s3-secret-access-key-1", "endpoint": "http://127.0.0.1:9"}),
            json!({"secret_access_key": "s3-secret-access-key-2"}),
        )
        .await;
    let local = d
        .post(
            "audit_export_destinations_create",
            &format!("{t}/audit/export-destinations"),
            json!({"name": "local", "kind": "local", "path": "archive"}),
        )
        .await;
    d.post(
        "audit_exports_create",
        &format!("{t}/audit/exports"),
        json!({"destination_id": local["id"]}),
    )
    .await;
    d.delete(
        "audit_export_destinations_delete",
        &format!("{t}/audit/export-destinations/{s3}"),
    )
    .await;

    // SSO connections: their client secrets are in no event.
    d.secrets.push("sso-client-secret-1".into());
    d.secrets.push("sso-client-secret-2".into());
    let sso = d
        .create_then_update(
            "sso_connections",
            &format!("{t}/sso-connections"),
            json!({"name": "idp", "issuer": ditto_testkit::oidc::discovery_fixture(),
                   "client_id": "c", "client_secret": "sso-client-secret-1"}),
            json!({"client_secret": "sso-client-secret-2", "enabled": false}),
        )
        .await;
    d.delete(
        "sso_connections_delete",
        &format!("{t}/sso-connections/{sso}"),
    )
    .await;

    // A SAML connection. Its assertion consumer service records the
    // sign-in it completes (tests/api/saml.rs checks `auth.sign_in`); a
    // response it refuses, here one posted by no browser that started a
    // sign-in, records nothing.
    let saml = d
        .create_then_update(
            "saml_connections",
            &format!("{t}/saml-connections"),
            json!({"name": "saml", "idp_metadata_xml": ditto_testkit::saml::metadata_fixture()}),
            json!({"name": "saml idp"}),
        )
        .await;
    let before = callers_events(&app).await.len();
    let refused = d
        .api
        .post(&format!("/api/v1/auth/saml/{saml}/acs"), json!({}))
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(callers_events(&app).await.len(), before);
    d.driven.insert("auth_saml_acs".into());

    // Email domains, enforced SSO and break-glass owners.
    let domains = format!("{t}/domains");
    d.post(
        "sso_domains_create",
        &domains,
        json!({"domain": "acme.example"}),
    )
    .await;
    d.post_empty(
        "sso_domains_verify",
        &format!("{domains}/acme.example/verify"),
    )
    .await;
    d.unrecorded(
        "auth_sso_discover",
        "/api/v1/auth/sso/discover",
        json!({"email": "ada@acme.example"}),
    )
    .await;
    d.delete("sso_domains_delete", &format!("{domains}/acme.example"))
        .await;
    d.put(
        "sso_policy_update",
        &format!("{t}/sso-policy"),
        json!({"enforced": false}),
    )
    .await;
    let owner = d
        .post(
            "users_create",
            &format!("{t}/users"),
            json!({"email": "olga@acme.example"}),
        )
        .await;
    d.post(
        "role_bindings_create",
        &format!("{t}/role-bindings"),
        json!({"role": "owner", "subject_type": "user", "subject_id": owner["id"]}),
    )
    .await;
    d.put(
        "users_break_glass_set",
        &format!("{t}/users/{}/sso-break-glass", id(&owner)),
        json!({"enabled": true}),
    )
    .await;

    drive_people(&mut d, t, &user).await;

    d.delete("budgets_delete", &format!("{t}/budgets/{budget}"))
        .await;
    d.delete("rate_limits_delete", &format!("{t}/rate-limits/{limit}"))
        .await;
    d.delete("routes_delete", &format!("{t}/routes/{route}"))
        .await;
    d.delete("backends_delete", &format!("{t}/backends/{backend}"))
        .await;
    d.delete(
        "service_accounts_delete",
        &format!("{t}/service-accounts/{account}"),
    )
    .await;
    d.delete("users_delete", &format!("{t}/users/{user}")).await;
    d.delete("projects_delete", &format!("{t}/projects/{project}"))
        .await;
    d.delete("tenants_delete", t).await;

    let missing: Vec<_> = mutating_operations()
        .difference(&d.driven)
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "mutating operations this test does not drive (add them here, and record an audit event in their repository method): {missing:?}"
    );

    // The platform chain verifies; the deleted tenant's trail outlives it.
    let report = app
        .admin()
        .get("/api/v1/audit/verification")
        .await
        .expect_status(200);
    assert_eq!(report["valid"], true, "{report}");
    let kept = all_events(&app).await;
    assert!(kept.iter().any(|e| e["action"] == "budgets.delete"));
}

/// Groups, an administrator's work on a user's sign-in, and what the user
/// does through a session of their own.
pub(super) async fn drive_people(d: &mut Driver<'_>, t: &str, user: &str) {
    const PASSWORD: &str = "correct horse battery staple";
    let group = d
        .create_then_update(
            "groups",
            &format!("{t}/groups"),
            json!({"name": "g"}),
            json!({"name": "g2"}),
        )
        .await;
    let members = format!("{t}/groups/{group}/members");
    d.post("group_members_add", &members, json!({"user_id": user}))
        .await;
    d.delete("group_members_remove", &format!("{members}/{user}"))
        .await;
    d.delete("groups_delete", &format!("{t}/groups/{group}"))
        .await;
    d.secrets.push(PASSWORD.into());
    d.put(
        "users_password_set",
        &format!("{t}/users/{user}/password"),
        json!({"password": PASSWORD, "must_change": false}),
    )
    .await;
    d.post_empty("users_unlock", &format!("{t}/users/{user}/unlock"))
        .await;

    // As the user: sign in, then act with the session.
    let admin = std::mem::replace(&mut d.api, d.app.anonymous());
    d.actor_type = "user";
    let sign_in = json!({"tenant": "acme", "email": "u@example.com", "password": PASSWORD});
    let signed = d
        .post("auth_sign_in", "/api/v1/auth/sign-in", sign_in.clone())
        .await;
    let csrf = signed["csrf_token"].as_str().unwrap().to_owned();
    let other = d
        .app
        .anonymous()
        .raw(Method::POST, "/api/v1/auth/sign-in", |r| r.json(&sign_in))
        .await
        .expect_status(200);
    let session = d
        .last_cookies
        .iter()
        .find_map(|c| c.strip_prefix("ditto_session="))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    d.secrets.extend([csrf.clone(), session.clone()]);
    d.session = Some((format!("ditto_session={session}"), csrf));
    d.delete(
        "me_sessions_revoke",
        &format!(
            "/api/v1/me/sessions/{}",
            other["session"]["id"].as_str().unwrap()
        ),
    )
    .await;
    let enrolment = d.post_empty("me_totp_begin", "/api/v1/me/totp").await;
    let secret = base32_decode(enrolment["secret"].as_str().unwrap());
    let step = ditto_identity::totp::step_of(chrono::Utc::now().timestamp());
    let code = |s| ditto_identity::totp::code_at_step(&secret, s);
    let confirmed = d
        .post(
            "me_totp_confirm",
            "/api/v1/me/totp/confirm",
            json!({"code": code(step)}),
        )
        .await;
    for c in confirmed["codes"].as_array().unwrap() {
        d.secrets.push(c.as_str().unwrap().to_owned());
    }
    let codes = d
        .post(
            "me_recovery_codes_regenerate",
            "/api/v1/me/totp/recovery-codes",
            json!({"code": code(step + 1)}),
        )
        .await["codes"]
        .clone();
    let first = codes[0].as_str().unwrap().to_owned();
    d.secrets.extend(
        codes
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned()),
    );
    d.post(
        "me_totp_disable",
        "/api/v1/me/totp/disable",
        json!({"code": first}),
    )
    .await;
    d.post(
        "me_password_change",
        "/api/v1/me/password",
        json!({"current_password": PASSWORD, "new_password": "another fine passphrase"}),
    )
    .await;
    d.secrets.push("another fine passphrase".into());
    let expires = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let pat = d
        .post(
            "me_tokens_create",
            "/api/v1/me/tokens",
            json!({"name": "t", "expires_at": expires}),
        )
        .await;
    let pat = id(&pat["token"]);
    d.post_empty(
        "me_tokens_revoke",
        &format!("/api/v1/me/tokens/{pat}/revoke"),
    )
    .await;
    d.post_empty("auth_sign_out", "/api/v1/auth/sign-out").await;

    // Back to the administrator.
    d.api = admin;
    d.actor_type = "service_account";
    d.session = None;
    d.delete("users_totp_reset", &format!("{t}/users/{user}/totp"))
        .await;
    d.post_empty(
        "users_sessions_revoke",
        &format!("{t}/users/{user}/sessions/revoke"),
    )
    .await;
    d.post_empty(
        "users_tokens_revoke",
        &format!("{t}/users/{user}/tokens/{pat}/revoke"),
    )
    .await;
}
