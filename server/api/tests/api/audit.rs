//! The audit trail: one event per change, in a gapless chain per tenant
//! that verifies, that the application cannot rewrite, that each tenant
//! sees only its own of, and that survives retention and export.

use std::collections::BTreeSet;

use ditto_core::audit::{
    AuditRecord, ChainLink, ChainWalk, GENESIS, checkpoint_message, verify_signature,
};
use ditto_testkit::{Api, TestApp};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Row;

/// Every event, as the database superuser sees it, oldest first.
async fn all_events(app: &TestApp) -> Vec<Value> {
    let mut conn = app.db.connect().await;
    sqlx::query_scalar("SELECT to_jsonb(e) FROM audit_events e ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .unwrap()
}

async fn superuser(app: &TestApp, sql: &str) -> u64 {
    let mut conn = app.db.connect().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap()
        .rows_affected()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// The mutating operations of the spec.
fn mutating_operations() -> BTreeSet<String> {
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
fn action_of(operation: &str) -> String {
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
async fn callers_events(app: &TestApp) -> Vec<Value> {
    let mut events = all_events(app).await;
    events.retain(|e| e["actor_type"] != "system");
    events
}

/// Drives operations one at a time and checks that each left exactly one
/// event, with its action and without any secret seen so far.
struct Driver<'a> {
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
async fn drive_people(d: &mut Driver<'_>, t: &str, user: &str) {
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
    let secret = base32(enrolment["secret"].as_str().unwrap());
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

fn base32(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

#[tokio::test]
async fn a_failed_change_leaves_no_event() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    admin
        .post("/api/v1/tenants/acme/projects", json!({"name": "p"}))
        .await
        .expect_status(201);
    let before = all_events(&app).await.len();
    // A duplicate name fails inside the transaction.
    admin
        .post("/api/v1/tenants/acme/projects", json!({"name": "p"}))
        .await
        .expect_problem(409);
    admin
        .delete(&format!(
            "/api/v1/tenants/acme/projects/{}",
            uuid::Uuid::now_v7()
        ))
        .await
        .expect_problem(404);
    assert_eq!(all_events(&app).await.len(), before);
}

#[tokio::test]
async fn every_actor_type_the_store_records_is_one_the_database_takes() {
    let app = TestApp::spawn().await;
    let mut conn = app.db.connect().await;
    for actor_type in ["service_account", "user", "system"] {
        let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
        sqlx::query(
            "INSERT INTO audit_events (id, tenant_id, seq, prev_hash, hash, created_at,
                 actor_type, action, target_type)
             VALUES (gen_random_uuid(), gen_random_uuid(), 1, $1, $1, now(), $2, 'x.y', 'x')",
        )
        .bind(GENESIS.as_slice())
        .bind(actor_type)
        .execute(&mut *tx)
        .await
        .unwrap_or_else(|e| panic!("{actor_type}: {e}"));
        tx.rollback().await.unwrap();
    }
}

#[tokio::test]
async fn concurrent_writers_make_a_gapless_chain_that_verifies() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let mut tasks = Vec::new();
    for i in 0..24 {
        let admin = admin.clone();
        tasks.push(tokio::spawn(async move {
            admin
                .post(
                    "/api/v1/tenants/acme/projects",
                    json!({"name": format!("p{i}")}),
                )
                .await
                .expect_status(201);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let events = admin.collect("/api/v1/tenants/acme/audit", 10).await;
    let mut seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    seqs.sort();
    assert_eq!(seqs, (1..=24).collect::<Vec<_>>());
    // Each event points at the one before it.
    let mut by_seq = events.clone();
    by_seq.sort_by_key(|e| e["seq"].as_i64().unwrap());
    for pair in by_seq.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
    }
    let report = admin
        .get("/api/v1/tenants/acme/audit/verification")
        .await
        .expect_status(200);
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["checked"], 24);
    assert_eq!(report["verified_through"], 24);
}

async fn tenant_with_events(app: &TestApp, slug: &str, n: usize) -> String {
    let tenant = app.tenant(slug).await;
    for i in 0..n {
        app.admin()
            .post(
                &format!("/api/v1/tenants/{slug}/projects"),
                json!({"name": format!("p{i}")}),
            )
            .await
            .expect_status(201);
    }
    id(&tenant)
}

async fn verification(app: &TestApp, slug: &str) -> Value {
    app.admin()
        .get(&format!("/api/v1/tenants/{slug}/audit/verification"))
        .await
        .expect_status(200)
}

#[tokio::test]
async fn tampering_by_the_superuser_is_reported_at_its_sequence() {
    let app = TestApp::spawn().await;
    let altered = tenant_with_events(&app, "altered", 5).await;
    let deleted = tenant_with_events(&app, "deleted", 5).await;
    let rehashed = tenant_with_events(&app, "rehashed", 5).await;
    assert_eq!(verification(&app, "altered").await["valid"], true);

    superuser(
        &app,
        &format!("UPDATE audit_events SET after = jsonb_set(after, '{{name}}', '\"x\"') WHERE tenant_id = '{altered}' AND seq = 3"),
    )
    .await;
    let report = verification(&app, "altered").await;
    assert_eq!(report["valid"], false);
    assert_eq!(report["broken"]["seq"], 3, "{report}");
    assert_eq!(report["verified_through"], 2);

    superuser(
        &app,
        &format!("DELETE FROM audit_events WHERE tenant_id = '{deleted}' AND seq = 2"),
    )
    .await;
    let report = verification(&app, "deleted").await;
    assert_eq!(report["broken"]["seq"], 2, "{report}");

    // The last event removed: the chain's head still knows it existed.
    superuser(
        &app,
        &format!("DELETE FROM audit_events WHERE tenant_id = '{rehashed}' AND seq = 5"),
    )
    .await;
    let report = verification(&app, "rehashed").await;
    assert_eq!(report["broken"]["seq"], 5, "{report}");

    // The operator CLI's path reports the same link.
    let report = app
        .store
        .operator_verify_audit_chain("deleted", &ditto_testkit::audit_signer().public_keys())
        .await
        .unwrap();
    assert_eq!(report.broken.unwrap().seq, 2);
}

#[tokio::test]
async fn the_application_roles_cannot_change_or_remove_events() {
    let app = TestApp::spawn().await;
    let tenant = tenant_with_events(&app, "acme", 2).await;
    let mut conn = app.db.connect().await;
    for (role, statement) in [
        ("ditto_app", "UPDATE audit_events SET action = 'x'"),
        ("ditto_app", "DELETE FROM audit_events"),
        ("ditto_platform", "UPDATE audit_events SET action = 'x'"),
        ("ditto_platform", "DELETE FROM audit_events"),
        ("ditto_platform", "TRUNCATE audit_events"),
        ("ditto_platform", "DELETE FROM audit_checkpoints"),
    ] {
        let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
        sqlx::query("SELECT set_config('role', $1, true), set_config('app.tenant_id', $2, true)")
            .bind(role)
            .bind(&tenant)
            .execute(&mut *tx)
            .await
            .unwrap();
        let err = sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(&mut *tx)
            .await
            .expect_err(statement);
        assert!(
            err.to_string().contains("permission denied"),
            "{role}: {statement}: {err}"
        );
        tx.rollback().await.unwrap();
    }
    // Even with a grant given back, the trigger refuses.
    superuser(
        &app,
        "GRANT UPDATE, DELETE ON audit_events TO ditto_platform",
    )
    .await;
    let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
    sqlx::query("SELECT set_config('role', 'ditto_platform', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = sqlx::query("DELETE FROM audit_events")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    tx.rollback().await.unwrap();
    // And the prune path refuses without a retention checkpoint.
    let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
    sqlx::query("SELECT set_config('role', 'ditto_platform', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT ditto_audit_prune('{tenant}', 2)"
    )))
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("no retention checkpoint"), "{err}");
    tx.rollback().await.unwrap();
    assert_eq!(verification(&app, "acme").await["valid"], true);
}

#[tokio::test]
async fn each_tenant_sees_only_its_own_events_and_the_platform_sees_all() {
    let app = TestApp::spawn().await;
    let a = tenant_with_events(&app, "tenant-a", 3).await;
    let b = tenant_with_events(&app, "tenant-b", 3).await;
    let member_a = app.tenant_member("tenant-a").await;
    let member_b = app.tenant_member("tenant-b").await;
    // The members' own creation is audited too.
    let a_events = member_a.collect("/api/v1/tenants/tenant-a/audit", 2).await;
    assert!(a_events.len() >= 3);
    assert!(a_events.iter().all(|e| e["tenant_id"] == a.as_str()));
    let b_events = member_b.collect("/api/v1/tenants/tenant-b/audit", 2).await;
    assert!(b_events.iter().all(|e| e["tenant_id"] == b.as_str()));

    // Another tenant's URL is not found.
    member_a
        .get("/api/v1/tenants/tenant-b/audit")
        .await
        .expect_problem(404);
    // B's targets and B's cursors reach nothing of B through A.
    let b_target = b_events[0]["target_id"].as_str().unwrap();
    let page = member_a
        .get(&format!(
            "/api/v1/tenants/tenant-a/audit?target_id={b_target}"
        ))
        .await
        .expect_status(200);
    assert_eq!(page["items"], json!([]));
    let b_page = member_b
        .get("/api/v1/tenants/tenant-b/audit?limit=1")
        .await
        .expect_status(200);
    let cursor = b_page["next_cursor"].as_str().unwrap();
    let page = member_a
        .get(&format!("/api/v1/tenants/tenant-a/audit?cursor={cursor}"))
        .await
        .expect_status(200);
    for e in page["items"].as_array().unwrap() {
        assert_eq!(e["tenant_id"], a.as_str());
    }
    let page = member_a
        .get("/api/v1/tenants/tenant-a/audit?action=projects.create&limit=200")
        .await
        .expect_status(200);
    assert_eq!(page["items"].as_array().unwrap().len(), 3);

    // Tenant principals cannot use the platform view.
    member_a.get("/api/v1/audit").await.expect_problem(403);

    // A platform auditor sees both, and narrows to one explicitly.
    let auditor = app.platform_member("platform_auditor").await;
    let all = auditor.collect("/api/v1/audit", 50).await;
    for t in [&a, &b] {
        assert!(all.iter().any(|e| e["tenant_id"] == t.as_str()));
    }
    assert!(all.iter().any(|e| e["tenant_id"].is_null()));
    let only_b = auditor
        .collect(&format!("/api/v1/audit?tenant_id={b}"), 50)
        .await;
    assert_eq!(only_b.len(), b_events.len());
}

/// Rewrites a chain as a superuser could: moves its first `n` events back
/// by `days` and recomputes every hash and the head, so the result is a
/// consistent chain of old events.
async fn age_events(app: &TestApp, tenant: &str, n: i64, days: i64) {
    let mut conn = app.db.connect().await;
    superuser(
        app,
        &format!("UPDATE audit_events SET created_at = created_at - interval '{days} days' WHERE tenant_id = '{tenant}' AND seq <= {n}"),
    )
    .await;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, tenant_id, seq, created_at, actor_type, actor_id, action, target_type, target_id,
             before, after, request_id, source_ip, user_agent
         FROM audit_events WHERE tenant_id = '{tenant}' ORDER BY seq"
    )))
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut prev = GENESIS;
    for r in rows {
        let record = AuditRecord {
            id: r.get("id"),
            tenant_id: r.get("tenant_id"),
            seq: r.get("seq"),
            created_at: r.get("created_at"),
            actor_type: r.get("actor_type"),
            actor_id: r.get("actor_id"),
            action: r.get("action"),
            target_type: r.get("target_type"),
            target_id: r.get("target_id"),
            before: r.get("before"),
            after: r.get("after"),
            request_id: r.get("request_id"),
            source_ip: r.get("source_ip"),
            user_agent: r.get("user_agent"),
        };
        let hash = record.hash(&prev);
        sqlx::query("UPDATE audit_events SET prev_hash = $2, hash = $3 WHERE id = $1")
            .bind(record.id)
            .bind(prev.as_slice())
            .bind(hash.as_slice())
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("UPDATE audit_heads SET hash = $2 WHERE tenant_id = $1")
            .bind(record.tenant_id)
            .bind(hash.as_slice())
            .execute(&mut conn)
            .await
            .unwrap();
        prev = hash;
    }
}

#[tokio::test]
async fn retention_removes_old_events_and_the_rest_verifies_from_its_checkpoint() {
    let app = TestApp::spawn().await;
    let tenant = tenant_with_events(&app, "acme", 6).await;
    age_events(&app, &tenant, 4, 40).await;
    let admin = app.admin();
    assert_eq!(verification(&app, "acme").await["valid"], true);
    assert_eq!(
        admin
            .get("/api/v1/tenants/acme/audit/retention")
            .await
            .expect_status(200)["retention_days"],
        30
    );
    let run = admin
        .post("/api/v1/tenants/acme/audit/retention/apply", json!(null))
        .await
        .expect_status(200);
    assert_eq!(run["removed"], 4, "{run}");
    assert_eq!(run["checkpoint"]["seq"], 4);
    assert_eq!(run["checkpoint"]["reason"], "retention");

    let events = admin.collect("/api/v1/tenants/acme/audit", 50).await;
    let mut seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    seqs.sort();
    // 5 and 6 stay; 7 records the retention run.
    assert_eq!(seqs, [5, 6, 7]);
    let retention = events.iter().find(|e| e["seq"] == 7).unwrap();
    assert_eq!(retention["action"], "audit_retention.apply");
    assert_eq!(retention["after"]["removed"], 4);

    let report = verification(&app, "acme").await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["anchor"]["seq"], 4);
    assert_eq!(report["checked"], 3);

    // Nothing is old enough now: a second run removes nothing.
    let run = admin
        .post("/api/v1/tenants/acme/audit/retention/apply", json!(null))
        .await
        .expect_status(200);
    assert_eq!(run["removed"], 0);
    assert_eq!(verification(&app, "acme").await["valid"], true);

    // Tampering after retention is still caught.
    superuser(
        &app,
        &format!("DELETE FROM audit_events WHERE tenant_id = '{tenant}' AND seq = 5"),
    )
    .await;
    assert_eq!(verification(&app, "acme").await["broken"]["seq"], 5);
}

#[tokio::test]
async fn housekeeping_checkpoints_moved_chains_and_applies_retention() {
    let app = TestApp::spawn().await;
    let tenant = tenant_with_events(&app, "acme", 3).await;
    age_events(&app, &tenant, 2, 31).await;
    let signer = ditto_testkit::audit_signer();
    let (checkpoints, removed) = app.store.audit_housekeeping(&signer).await.unwrap();
    // The platform chain and acme's moved.
    assert_eq!(checkpoints, 2);
    assert_eq!(removed, 2);
    assert_eq!(verification(&app, "acme").await["valid"], true);
    let (checkpoints, removed) = app.store.audit_housekeeping(&signer).await.unwrap();
    // Only acme's retention event is new.
    assert_eq!((checkpoints, removed), (1, 0));
    // Nothing moved and nothing is old: a run changes nothing.
    let before = all_events(&app).await.len();
    let (checkpoints, removed) = app.store.audit_housekeeping(&signer).await.unwrap();
    assert_eq!((checkpoints, removed), (0, 0));
    assert_eq!(all_events(&app).await.len(), before);
}

#[tokio::test]
async fn exports_stream_every_event_and_verify_offline() {
    let app = TestApp::spawn().await;
    tenant_with_events(&app, "acme", 4).await;
    let admin = app.admin();
    let checkpoint = admin
        .post("/api/v1/tenants/acme/audit/checkpoints", json!(null))
        .await
        .expect_status(201);
    assert_eq!(checkpoint["seq"], 4);
    let key = admin
        .get("/api/v1/audit/signing-key")
        .await
        .expect_status(200);
    assert_eq!(key["algorithm"], "ed25519");
    let public_key = key["public_key"].as_str().unwrap();

    let resp = admin.get("/api/v1/tenants/acme/audit/export").await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.headers["content-type"], "application/x-ndjson");
    let mut lines = resp.text.lines();
    let head: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(head["public_key"], public_key);
    let events: Vec<Value> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 5, "4 projects and the checkpoint");

    // Offline: the chain from the genesis, and the checkpoint's signature.
    let mut walk = ChainWalk::from(0, GENESIS);
    for e in &events {
        let link = ChainLink {
            record: AuditRecord {
                id: e["id"].as_str().unwrap().parse().unwrap(),
                tenant_id: e["tenant_id"].as_str().map(|t| t.parse().unwrap()),
                seq: e["seq"].as_i64().unwrap(),
                created_at: e["created_at"].as_str().unwrap().parse().unwrap(),
                actor_type: e["actor_type"].as_str().unwrap().into(),
                actor_id: e["actor_id"].as_str().map(|t| t.parse().unwrap()),
                action: e["action"].as_str().unwrap().into(),
                target_type: e["target_type"].as_str().unwrap().into(),
                target_id: e["target_id"].as_str().map(Into::into),
                before: Some(e["before"].clone()).filter(|v| !v.is_null()),
                after: Some(e["after"].clone()).filter(|v| !v.is_null()),
                request_id: e["request_id"].as_str().map(Into::into),
                source_ip: e["source_ip"].as_str().map(Into::into),
                user_agent: e["user_agent"].as_str().map(Into::into),
            },
            prev_hash: hex::decode(e["prev_hash"].as_str().unwrap()).unwrap(),
            hash: hex::decode(e["hash"].as_str().unwrap()).unwrap(),
        };
        walk.step(&link).unwrap();
    }
    let cp = &head["checkpoint"];
    let cp_hash = hex::decode(cp["hash"].as_str().unwrap()).unwrap();
    assert_eq!(
        cp_hash,
        events[3]["hash"]
            .as_str()
            .map(|h| hex::decode(h).unwrap())
            .unwrap()
    );
    let message = checkpoint_message(
        Some(cp["tenant_id"].as_str().unwrap().parse().unwrap()),
        cp["seq"].as_i64().unwrap(),
        &cp_hash,
        cp["created_at"].as_str().unwrap().parse().unwrap(),
    );
    let signature = base64_decode(cp["signature"].as_str().unwrap());
    assert!(verify_signature(public_key, &message, &signature));

    let csv = admin
        .get("/api/v1/tenants/acme/audit/export?format=csv")
        .await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.headers["content-type"], "text/csv");
    assert!(csv.headers.contains_key("x-ditto-audit-checkpoint"));
    let rows: Vec<&str> = csv.text.lines().collect();
    assert!(rows[0].starts_with("id,tenant_id,seq,"));
    // One row per event; JSON images are quoted, so count by record start.
    assert_eq!(
        rows.iter()
            .filter(|r| r.len() > 36 && r.as_bytes()[8] == b'-' && r.contains(",service_account,"))
            .count(),
        5
    );

    // Exporting needs `audit:export`: a viewer may not.
    let viewer = app.tenant_member_as("acme", "viewer").await;
    viewer
        .get("/api/v1/tenants/acme/audit/export")
        .await
        .expect_problem(403);
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

#[tokio::test]
async fn platform_accounts_made_outside_the_api_are_recorded_as_system_changes() {
    let app = TestApp::spawn().await;
    app.platform_member("platform_auditor").await;
    let events = all_events(&app).await;
    let actions: Vec<_> = events.iter().map(|e| e["action"].clone()).collect();
    assert_eq!(
        actions,
        ["platform_accounts.bootstrap", "platform_accounts.create"]
    );
    for e in &events {
        assert_eq!(e["actor_type"], "system");
        assert!(e["tenant_id"].is_null());
        assert!(!e.to_string().contains(ditto_testkit::BOOTSTRAP_TOKEN));
    }
    let report = app
        .admin()
        .get("/api/v1/audit/verification")
        .await
        .expect_status(200);
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["checked"], 2);
}

#[tokio::test]
async fn filters_narrow_by_actor_target_and_time() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let member = app.tenant_member("acme").await;
    let project = member.project("acme", "p").await;
    member
        .patch(
            &format!("/api/v1/tenants/acme/projects/{project}"),
            json!({"name": "p2"}),
        )
        .await
        .expect_status(200);
    let all = admin.collect("/api/v1/tenants/acme/audit", 50).await;
    let mine: Vec<_> = all
        .iter()
        .filter(|e| e["target_id"] == project.as_str())
        .collect();
    assert_eq!(mine.len(), 2);
    let actor = mine[0]["actor_id"].as_str().unwrap();
    let by_actor = admin
        .collect(&format!("/api/v1/tenants/acme/audit?actor_id={actor}"), 50)
        .await;
    assert_eq!(by_actor.len(), 2, "the member's own two changes");
    let by_target = admin
        .collect(
            &format!("/api/v1/tenants/acme/audit?target_type=project&target_id={project}"),
            50,
        )
        .await;
    assert_eq!(by_target.len(), 2);
    assert_eq!(by_target[0]["action"], "projects.update");
    assert_eq!(by_target[0]["before"]["name"], "p");
    assert_eq!(by_target[0]["after"]["name"], "p2");

    let update_time = by_target[0]["created_at"].as_str().unwrap();
    let since = admin
        .collect(
            &format!(
                "/api/v1/tenants/acme/audit?since={}",
                update_time.replace('+', "%2B")
            ),
            50,
        )
        .await;
    assert_eq!(since.len(), 1);
    let until = admin
        .collect(
            &format!(
                "/api/v1/tenants/acme/audit?target_id={project}&until={}",
                update_time.replace('+', "%2B")
            ),
            50,
        )
        .await;
    assert_eq!(until.len(), 1);
    assert_eq!(until[0]["action"], "projects.create");

    let fields = admin
        .get("/api/v1/tenants/acme/audit?since=2030-01-01T00:00:00Z&until=2029-01-01T00:00:00Z")
        .await
        .invalid_fields();
    assert_eq!(fields, ["until"]);
    // Every bad filter is named at once.
    let fields = admin
        .get(&format!(
            "/api/v1/tenants/acme/audit?action=&target_id={}",
            "x".repeat(201)
        ))
        .await
        .invalid_fields();
    assert_eq!(fields, ["action", "target_id"]);
}

#[tokio::test]
async fn a_routes_images_carry_its_targets() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let backend = |name: &'static str| {
        let admin = admin.clone();
        async move {
            let b = admin
                .post(
                    "/api/v1/tenants/acme/backends",
                    json!({"name": name, "base_url": "http://127.0.0.1:9/v1"}),
                )
                .await
                .expect_status(201);
            id(&b)
        }
    };
    let (one, two) = (backend("one").await, backend("two").await);
    let route = admin
        .post(
            "/api/v1/tenants/acme/routes",
            json!({"model": "m", "targets": [{"backend_id": one}]}),
        )
        .await
        .expect_status(201);
    admin
        .patch(
            &format!("/api/v1/tenants/acme/routes/{}", id(&route)),
            json!({"targets": [{"backend_id": two}]}),
        )
        .await
        .expect_status(200);
    let page = admin
        .get("/api/v1/tenants/acme/audit?action=routes.update")
        .await
        .expect_status(200);
    let event = &page["items"][0];
    assert_eq!(
        event["before"]["route_targets"][0]["backend_id"],
        one.as_str()
    );
    assert_eq!(
        event["after"]["route_targets"][0]["backend_id"],
        two.as_str()
    );
    assert_eq!(verification(&app, "acme").await["valid"], true);
}

#[tokio::test]
async fn a_rotated_signing_key_keeps_the_old_keys_checkpoints_verifying() {
    use ditto_core::audit::{AuditSigner, PublicKey};
    // The server signs with a new key and lists the one it used before.
    let old = ditto_testkit::audit_signer();
    let new_seed = AuditSigner::generate_base64();
    let new = AuditSigner::from_base64(&new_seed)
        .unwrap()
        .with_retired(vec![PublicKey::retired(&old.public_key_base64()).unwrap()]);
    let app = TestApp::spawn_with(ditto_testkit::Options {
        gateway: ditto_testkit::quick_gateway_config(),
        audit_signer: Some(new.clone()),
        ..Default::default()
    })
    .await;
    let admin = app.admin();

    let keys = admin
        .get("/api/v1/audit/signing-key")
        .await
        .expect_status(200);
    assert_eq!(keys["key_id"], new.key_id());
    assert_eq!(
        keys["keys"],
        json!([
            {"key_id": new.key_id(), "public_key": new.public_key_base64(), "status": "current"},
            {"key_id": old.key_id(), "public_key": old.public_key_base64(), "status": "retired"},
        ])
    );

    // Before the rotation, the old key checkpointed the chain and anchored
    // it by removing its old events.
    let tenant = tenant_with_events(&app, "acme", 6).await;
    age_events(&app, &tenant, 4, 40).await;
    app.store.audit_housekeeping(&old).await.unwrap();
    // After it, the new key signs.
    tenant_with_events_in(&app, "acme", 2).await;
    let cp = admin
        .post_empty("/api/v1/tenants/acme/audit/checkpoints")
        .await
        .expect_status(201);
    assert_eq!(cp["key_id"], new.key_id());

    let report = verification(&app, "acme").await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["anchor"]["key_id"], old.key_id(), "{report}");
    assert_eq!(
        report["checkpoint_keys"],
        json!([old.key_id(), new.key_id()]),
        "{report}"
    );

    // Without the old key listed, its checkpoints do not verify, and the
    // report says which key they name.
    let alone = AuditSigner::from_base64(&new_seed).unwrap();
    let report = app
        .store
        .operator_verify_audit_chain("acme", &alone.public_keys())
        .await
        .unwrap();
    assert!(!report.valid);
    let broken = report.broken.unwrap();
    assert!(broken.reason.contains(&old.key_id()), "{}", broken.reason);
    // Nor do the new key's without the new key.
    let report = app
        .store
        .operator_verify_audit_chain("acme", &old.public_keys())
        .await
        .unwrap();
    let broken = report.broken.unwrap();
    assert_eq!(broken.seq, cp["seq"].as_i64().unwrap());
    assert!(broken.reason.contains(&new.key_id()), "{}", broken.reason);
}

/// `n` more events in an existing tenant.
async fn tenant_with_events_in(app: &TestApp, slug: &str, n: usize) {
    for i in 0..n {
        app.admin()
            .post(
                &format!("/api/v1/tenants/{slug}/projects"),
                json!({"name": format!("later-{i}")}),
            )
            .await
            .expect_status(201);
    }
}

#[tokio::test]
async fn a_refused_permission_is_recorded_once_a_minute_per_actor_and_permission() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let viewer = app.tenant_member_as("acme", "viewer").await;
    let me = viewer.get("/api/v1/me").await.expect_status(200);
    let viewer_id = me["subject_id"].as_str().unwrap().to_owned();
    let refused = viewer
        .post(
            "/api/v1/tenants/acme/budgets",
            json!({"scope": "tenant", "period": "monthly", "max_tokens": 10}),
        )
        .await;
    let request_id = refused
        .headers
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    refused.expect_problem(403);

    let denied = |app: &TestApp| {
        let admin = app.admin();
        async move {
            admin
                .get("/api/v1/tenants/acme/audit?action=security.permission_denied&limit=200")
                .await
                .expect_status(200)["items"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    let events = denied(&app).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e["actor_type"], "service_account");
    assert_eq!(e["actor_id"], viewer_id.as_str());
    assert_eq!(e["target_type"], "permission");
    assert_eq!(e["target_id"], "budgets:write");
    assert_eq!(e["request_id"], request_id.as_str());
    assert_eq!(e["source_ip"], "127.0.0.1");
    assert_eq!(e["after"]["permission"], "budgets:write");
    assert_eq!(
        e["after"]["operation"],
        "POST /api/v1/tenants/{tenant}/budgets"
    );
    assert_eq!(e["after"]["reason"], "missing permission `budgets:write`");
    assert_eq!(e["after"]["suppressed_since_last"], 0);

    // A flood of the same refusal records nothing more; another
    // permission is recorded once.
    for _ in 0..40 {
        viewer
            .post(
                "/api/v1/tenants/acme/budgets",
                json!({"scope": "tenant", "period": "monthly", "max_tokens": 10}),
            )
            .await
            .expect_problem(403);
        viewer
            .post_empty(&format!(
                "/api/v1/tenants/acme/api-keys/{}/revoke",
                uuid::Uuid::now_v7()
            ))
            .await
            .expect_problem(403);
    }
    let events = denied(&app).await;
    let mut permissions: Vec<&str> = events
        .iter()
        .map(|e| e["target_id"].as_str().unwrap())
        .collect();
    permissions.sort();
    assert_eq!(permissions, ["budgets:write", "keys:write"], "{events:?}");
    assert_eq!(
        verification(&app, "acme").await["valid"],
        true,
        "the chain holds"
    );
}

#[tokio::test]
async fn refused_platform_operations_are_recorded_in_the_callers_own_chain() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let member = app.tenant_member("acme").await;
    member.get("/api/v1/tenants").await.expect_problem(403);
    let events = app
        .admin()
        .get("/api/v1/tenants/acme/audit?action=security.permission_denied")
        .await
        .expect_status(200);
    let e = &events["items"][0];
    assert_eq!(e["target_id"], "tenants:read", "{events}");
    assert_eq!(e["after"]["operation"], "GET /api/v1/tenants");

    // A platform auditor trying a change: the platform chain.
    let auditor = app.platform_member("platform_auditor").await;
    auditor
        .post("/api/v1/tenants", json!({"slug": "nope", "name": "nope"}))
        .await
        .expect_problem(403);
    let events = app
        .admin()
        .get("/api/v1/audit?platform_only=true&action=security.permission_denied")
        .await
        .expect_status(200);
    let e = &events["items"][0];
    assert_eq!(e["target_id"], "tenants:write", "{events}");
    assert_eq!(e["tenant_id"], Value::Null);
    let report = app
        .admin()
        .get("/api/v1/audit/verification")
        .await
        .expect_status(200);
    assert_eq!(report["valid"], true, "{report}");
}
