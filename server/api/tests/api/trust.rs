//! Trust boundaries an outside review crossed: narrowed tokens, credentials
//! that need a signed-in person, and keys made in someone else's name. Each
//! test here failed before its fix (docs/security.md lists them).

use ditto_testkit::TestApp;
use reqwest::Method;
use serde_json::json;

use super::sign_in::{Browser, PASSWORD, in_a_month, signed_in, staff};

#[tokio::test]
async fn a_narrowed_token_mints_only_tokens_as_narrow_as_itself() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (_, browser) = signed_in(&app, "ada@acme.example", "admin").await;
    let narrow = browser
        .post(
            "/api/v1/me/tokens",
            json!({"name": "read projects", "expires_at": in_a_month(), "permissions": ["projects:read"]}),
        )
        .await
        .expect_status(201);
    let narrow = app.with_token(narrow["secret"].as_str().unwrap());

    // Asking for nothing in particular gets the minting token's ceiling.
    let minted = narrow
        .post(
            "/api/v1/me/tokens",
            json!({"name": "child", "expires_at": in_a_month()}),
        )
        .await
        .expect_status(201);
    assert_eq!(minted["token"]["permissions"], json!(["projects:read"]));
    let child = app.with_token(minted["secret"].as_str().unwrap());
    child
        .get("/api/v1/tenants/acme/projects")
        .await
        .expect_status(200);
    child
        .get("/api/v1/tenants/acme/users")
        .await
        .expect_problem(403);
    child
        .post("/api/v1/tenants/acme/projects", json!({"name": "escape"}))
        .await
        .expect_problem(403);

    // Asking for more than the ceiling is refused, naming what is missing.
    let p = narrow
        .post(
            "/api/v1/me/tokens",
            json!({"name": "wide", "expires_at": in_a_month(), "permissions": ["projects:read", "users:write"]}),
        )
        .await
        .expect_problem(403);
    assert!(p["detail"].as_str().unwrap().contains("users:write"), "{p}");

    // A service account's token minted by a narrowed token is bound the same way.
    let account = app
        .admin()
        .post(
            "/api/v1/tenants/acme/service-accounts",
            json!({"name": "ci"}),
        )
        .await
        .expect_status(201);
    let id = account["id"].as_str().unwrap();
    app.admin()
        .post(
            "/api/v1/tenants/acme/role-bindings",
            json!({"role": "viewer", "subject_type": "service_account", "subject_id": id}),
        )
        .await
        .expect_status(201);
    narrow
        .post(
            &format!("/api/v1/tenants/acme/service-accounts/{id}/tokens"),
            json!({"name": "ci", "expires_at": in_a_month()}),
        )
        .await
        .expect_problem(403);
}

#[tokio::test]
async fn tokens_cannot_change_passwords_second_factors_or_sessions() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (_, browser) = signed_in(&app, "ada@acme.example", "owner").await;
    let full = browser
        .post(
            "/api/v1/me/tokens",
            json!({"name": "everything", "expires_at": in_a_month()}),
        )
        .await
        .expect_status(201);
    let token = app.with_token(full["secret"].as_str().unwrap());
    let sessions = browser.get("/api/v1/me/sessions").await.expect_status(200);
    let session = sessions["items"][0]["id"].as_str().unwrap().to_owned();

    let code = json!({"code": "123456"});
    for (method, path, body) in [
        (
            Method::POST,
            "/api/v1/me/password",
            Some(json!({"current_password": PASSWORD, "new_password": "a new long passphrase"})),
        ),
        (Method::POST, "/api/v1/me/totp", None),
        (Method::POST, "/api/v1/me/totp/confirm", Some(code.clone())),
        (Method::POST, "/api/v1/me/totp/disable", Some(code.clone())),
        (
            Method::POST,
            "/api/v1/me/totp/recovery-codes",
            Some(code.clone()),
        ),
        (Method::GET, "/api/v1/me/sessions", None),
        (
            Method::DELETE,
            &format!("/api/v1/me/sessions/{session}"),
            None,
        ),
    ] {
        let p = token
            .raw(method.clone(), path, |r| match &body {
                Some(b) => r.json(b),
                None => r,
            })
            .await
            .expect_problem(403);
        assert!(
            p["detail"].as_str().unwrap().contains("signed-in session"),
            "{method} {path}: {p}"
        );
    }
    // The session still works, and the password was not changed.
    browser.get("/api/v1/me").await.expect_status(200);
    Browser::new(&app)
        .sign_in("acme", "ada@acme.example", PASSWORD, json!({}))
        .await
        .expect_status(200);
    // The token still does what it is for.
    token.get("/api/v1/me/tokens").await.expect_status(200);
}

#[tokio::test]
async fn second_factor_changes_need_a_recent_sign_in() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (_, mut browser) = signed_in(&app, "ada@acme.example", "developer").await;
    // Signed in long ago (the session itself is still live).
    sqlx::query("UPDATE sessions SET created_at = now() - interval '20 minutes'")
        .execute(app.store.pool())
        .await
        .unwrap();
    let p = browser
        .send(Method::POST, "/api/v1/me/totp", None, true)
        .await
        .expect_problem(403);
    assert!(
        p["detail"].as_str().unwrap().contains("recent sign-in"),
        "{p}"
    );
    for path in ["/api/v1/me/totp/disable", "/api/v1/me/totp/recovery-codes"] {
        browser
            .post(path, json!({"code": "123456"}))
            .await
            .expect_problem(403);
    }
    // Signing in again makes it possible.
    browser
        .sign_in("acme", "ada@acme.example", PASSWORD, json!({}))
        .await
        .expect_status(200);
    browser
        .send(Method::POST, "/api/v1/me/totp", None, true)
        .await
        .expect_status(200);
}

#[tokio::test]
async fn only_those_who_manage_members_create_keys_in_someone_elses_name() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let owner = staff(&app, "acme", "owner@acme.example", "owner").await;
    let (dev, developer) = signed_in(&app, "dev@acme.example", "developer").await;
    let (_, admin) = signed_in(&app, "admin@acme.example", "admin").await;
    let project = app
        .admin()
        .post("/api/v1/tenants/acme/projects", json!({"name": "web"}))
        .await
        .expect_status(201);
    let project = project["id"].as_str().unwrap();
    let account = app
        .admin()
        .post(
            "/api/v1/tenants/acme/service-accounts",
            json!({"name": "batch"}),
        )
        .await
        .expect_status(201);
    let account = account["id"].as_str().unwrap();
    let key = |owner: serde_json::Value| {
        let mut body = json!({"project_id": project, "name": "k"});
        body.as_object_mut()
            .unwrap()
            .extend(owner.as_object().unwrap().clone());
        body
    };
    let p = developer
        .post(
            "/api/v1/tenants/acme/api-keys",
            key(json!({"owner_user_id": owner})),
        )
        .await
        .expect_problem(403);
    assert!(p["detail"].as_str().unwrap().contains("users:write"), "{p}");
    developer
        .post(
            "/api/v1/tenants/acme/api-keys",
            key(json!({"owner_service_account_id": account})),
        )
        .await
        .expect_problem(403);
    let own = developer
        .post(
            "/api/v1/tenants/acme/api-keys",
            key(json!({"owner_user_id": dev})),
        )
        .await
        .expect_status(201);
    assert_eq!(own["key"]["owner_user_id"], dev.as_str());
    developer
        .post("/api/v1/tenants/acme/api-keys", key(json!({})))
        .await
        .expect_status(201);

    admin
        .post(
            "/api/v1/tenants/acme/api-keys",
            key(json!({"owner_user_id": dev})),
        )
        .await
        .expect_status(201);
    admin
        .post(
            "/api/v1/tenants/acme/api-keys",
            key(json!({"owner_service_account_id": account})),
        )
        .await
        .expect_status(201);
}

#[tokio::test]
async fn moving_a_backend_needs_its_credentials_again() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.tenant_member("acme").await;
    let base = "/api/v1/tenants/acme/backends";
    let backend = admin
        .post(
            base,
            json!({"name": "openai", "base_url": "https://api.openai.com/v1", "credentials": "sk-secret-value-123"}),
        )
        .await
        .expect_status(201);
    let one = format!("{base}/{}", backend["id"].as_str().unwrap());
    let p = admin
        .patch(
            &one,
            json!({"base_url": "https://collector.example.net/v1"}),
        )
        .await
        .expect_problem(422);
    assert_eq!(p["errors"][0]["field"], "/credentials", "{p}");
    assert_eq!(p["errors"][0]["code"], "secret_required", "{p}");
    let kept = admin.get(&one).await.expect_status(200);
    assert_eq!(kept["base_url"], "https://api.openai.com/v1");
    // The same place (a trailing slash is no move), or other fields: no secret needed.
    admin
        .patch(
            &one,
            json!({"base_url": "https://api.openai.com/v1/", "name": "openai-eu"}),
        )
        .await
        .expect_status(200);
    // Moving with the secret given again, or removed, is fine.
    admin
        .patch(
            &one,
            json!({"base_url": "https://eu.api.openai.com/v1", "credentials": "sk-secret-value-456"}),
        )
        .await
        .expect_status(200);
    admin
        .patch(
            &one,
            json!({"base_url": "https://api.openai.com/v1", "clear_credentials": true}),
        )
        .await
        .expect_status(200);
    // Without a secret there is nothing to carry away.
    admin
        .patch(&one, json!({"base_url": "https://eu.api.openai.com/v1"}))
        .await
        .expect_status(200);
}

#[tokio::test]
async fn moving_an_export_destination_needs_its_secret_again() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.tenant_member("acme").await;
    let base = "/api/v1/tenants/acme/audit/export-destinations";
    let created = admin
        .post(
            base,
            json!({"name": "archive", "kind": "s3", "endpoint": "https://s3.example.com",
                   "bucket": "audit-archive", "region": "eu-west-1", "access_key_id": "AKIAEXAMPLE",
                   "secret_access_key": "secret-access-key-1"}),
        )
        .await
        .expect_status(201);
    let one = format!("{base}/{}", created["id"].as_str().unwrap());
    for moved in [
        json!({"endpoint": "https://collector.example.net"}),
        json!({"bucket": "someone-elses"}),
        json!({"region": "us-east-1"}),
    ] {
        let p = admin.patch(&one, moved.clone()).await.expect_problem(422);
        assert_eq!(
            p["errors"][0]["field"], "/secret_access_key",
            "{moved}: {p}"
        );
    }
    admin
        .patch(&one, json!({"name": "archive-2", "prefix": "audit"}))
        .await
        .expect_status(200);
    admin
        .patch(
            &one,
            json!({"bucket": "audit-archive-2", "secret_access_key": "secret-access-key-2"}),
        )
        .await
        .expect_status(200);
}

/// A server that allows no internal destination (no `DITTO_EGRESS_ALLOW`).
async fn strict_server() -> TestApp {
    let mut gateway = ditto_testkit::quick_gateway_config();
    gateway.egress = ditto_egress::EgressPolicy::strict();
    TestApp::spawn_with(ditto_testkit::Options {
        gateway,
        ..ditto_testkit::Options::default()
    })
    .await
}

const INTERNAL: [&str; 7] = [
    "http://127.0.0.1:9000/v1",
    "http://10.0.0.1/v1",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]:8080/v1",
    "http://[::ffff:127.0.0.1]/v1",
    "http://localhost:8080/v1",
    "http://100.64.0.1/v1",
];

#[tokio::test]
async fn backends_on_internal_addresses_are_refused_when_saved() {
    let app = strict_server().await;
    app.tenant("acme").await;
    let admin = app.tenant_member("acme").await;
    let base = "/api/v1/tenants/acme/backends";
    for url in INTERNAL.iter().copied().chain([app.base.as_str()]) {
        let p = admin
            .post(base, json!({"name": "internal", "base_url": url}))
            .await
            .expect_problem(422);
        assert_eq!(p["errors"][0]["field"], "/base_url", "{url}: {p}");
        assert_eq!(
            p["errors"][0]["code"], "destination_not_allowed",
            "{url}: {p}"
        );
        assert!(
            p["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("DITTO_EGRESS_ALLOW")
                || url == app.base,
            "{url}: {p}"
        );
    }
    let public = admin
        .post(
            base,
            json!({"name": "public", "base_url": "http://93.184.216.34/v1"}),
        )
        .await
        .expect_status(201);
    let one = format!("{base}/{}", public["id"].as_str().unwrap());
    for url in INTERNAL {
        admin
            .patch(&one, json!({"base_url": url}))
            .await
            .expect_problem(422);
    }
}

#[tokio::test]
async fn export_endpoints_on_internal_addresses_are_refused_when_saved() {
    let app = strict_server().await;
    app.tenant("acme").await;
    let admin = app.tenant_member("acme").await;
    let base = "/api/v1/tenants/acme/audit/export-destinations";
    let body = |endpoint: &str| {
        json!({"name": "archive", "kind": "s3", "endpoint": endpoint, "bucket": "audit-archive",
               "region": "eu-west-1", "access_key_id": "AKIAEXAMPLE", "secret_access_key": "secret-1"})
    };
    // Endpoints are origins: the same addresses without their paths.
    for url in INTERNAL.map(|u| u.splitn(4, '/').take(3).collect::<Vec<_>>().join("/")) {
        let p = admin.post(base, body(&url)).await.expect_problem(422);
        assert_eq!(p["errors"][0]["field"], "/endpoint", "{url}: {p}");
        assert_eq!(
            p["errors"][0]["code"], "destination_not_allowed",
            "{url}: {p}"
        );
    }
    let created = admin
        .post(base, body("https://93.184.216.34"))
        .await
        .expect_status(201);
    let one = format!("{base}/{}", created["id"].as_str().unwrap());
    admin
        .patch(
            &one,
            json!({"endpoint": "http://169.254.169.254", "secret_access_key": "secret-2"}),
        )
        .await
        .expect_problem(422);
}

#[tokio::test]
async fn acting_on_someone_counts_what_they_hold_on_projects() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    admin
        .post(
            "/api/v1/tenants/acme/roles",
            json!({"name": "member-managers", "permissions":
                ["users:read", "users:write", "service_accounts:read", "service_accounts:write"]}),
        )
        .await
        .expect_status(201);
    let (_, hr) = signed_in(&app, "hr@acme.example", "member-managers").await;
    let project = admin.project("acme", "payments").await;
    // Admin of one project only, a person and an account.
    let lead = admin
        .post(
            "/api/v1/tenants/acme/users",
            json!({"email": "lead@acme.example"}),
        )
        .await
        .expect_status(201);
    let lead = lead["id"].as_str().unwrap().to_owned();
    let account = admin
        .post(
            "/api/v1/tenants/acme/service-accounts",
            json!({"name": "payments-ci"}),
        )
        .await
        .expect_status(201);
    let account = account["id"].as_str().unwrap().to_owned();
    for (kind, id) in [("user", &lead), ("service_account", &account)] {
        admin
            .post(
                "/api/v1/tenants/acme/role-bindings",
                json!({"role": "admin", "subject_type": kind, "subject_id": id, "project_id": project}),
            )
            .await
            .expect_status(201);
    }
    let plain = admin
        .post(
            "/api/v1/tenants/acme/users",
            json!({"email": "plain@acme.example"}),
        )
        .await
        .expect_status(201);
    let plain = plain["id"].as_str().unwrap().to_owned();

    let password = json!({"password": "a fresh long passphrase", "must_change": true});
    let users = "/api/v1/tenants/acme/users";
    for (method, path, body) in [
        (
            Method::PUT,
            format!("{users}/{lead}/password"),
            Some(password.clone()),
        ),
        (Method::POST, format!("{users}/{lead}/unlock"), None),
        (
            Method::POST,
            format!("{users}/{lead}/sessions/revoke"),
            None,
        ),
        (
            Method::PATCH,
            format!("{users}/{lead}"),
            Some(json!({"display_name": "Renamed"})),
        ),
        (
            Method::POST,
            format!("/api/v1/tenants/acme/service-accounts/{account}/tokens"),
            Some(json!({"name": "stolen"})),
        ),
    ] {
        let p = hr
            .send(method.clone(), &path, body, true)
            .await
            .expect_problem(403);
        assert!(
            p["detail"].as_str().unwrap().contains("delegate"),
            "{method} {path}: {p}"
        );
    }
    // Someone who holds nothing more is within reach.
    hr.send(
        Method::PUT,
        &format!("{users}/{plain}/password"),
        Some(password),
        true,
    )
    .await
    .expect_status(204);
    hr.send(
        Method::POST,
        &format!("{users}/{plain}/sessions/revoke"),
        None,
        true,
    )
    .await
    .expect_status(200);
}

async fn attempt(app: &TestApp, email: &str) -> ditto_testkit::Resp {
    attempt_from(app, "127.0.0.1", email).await
}

/// A wrong password for `email` from the client address `from`.
async fn attempt_from(app: &TestApp, from: &str, email: &str) -> ditto_testkit::Resp {
    app.anonymous()
        .raw(Method::POST, "/api/v1/auth/sign-in", |r| {
            r.header("x-forwarded-for", from).json(
                &json!({"tenant": "acme", "email": email, "password": "not the password at all"}),
            )
        })
        .await
}

#[tokio::test]
async fn sign_in_attempts_are_throttled_per_address() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    for i in 0..60 {
        let resp = attempt(&app, &format!("guess-{i}@acme.example")).await;
        assert_eq!(resp.status, 401, "attempt {i}: {}", resp.text);
    }
    let refused = attempt(&app, "one-more@acme.example").await;
    let p = refused.expect_problem(429);
    assert!(
        p["type"].as_str().unwrap().ends_with("too-many-requests"),
        "{p}"
    );
}

#[tokio::test]
async fn one_account_is_throttled_across_replicas_whether_it_exists_or_not() {
    let options = || ditto_testkit::Options {
        redis_url: Some(ditto_testkit::redis_url()),
        gateway: ditto_testkit::quick_gateway_config(),
        ..ditto_testkit::Options::default()
    };
    let one = TestApp::spawn_with(options()).await;
    let two = TestApp::spawn_with(options()).await;
    one.tenant("acme").await;
    // Nobody has this address (unique, so no other test counts on it).
    let ghost = format!("ghost-{}@acme.example", uuid::Uuid::now_v7().simple());
    // From many addresses, so no one address is locked out.
    for i in 0..20 {
        let app = if i % 2 == 0 { &one } else { &two };
        let from = format!("203.0.113.{i}");
        assert_eq!(
            attempt_from(app, &from, &ghost).await.status,
            401,
            "attempt {i}"
        );
    }
    for app in [&one, &two] {
        let refused = attempt_from(app, "203.0.113.200", &ghost).await;
        assert!(refused.headers.contains_key("retry-after"));
        let p = refused.expect_problem(429);
        assert!(
            p["type"].as_str().unwrap().ends_with("too-many-requests"),
            "{p}"
        );
    }
}

#[tokio::test]
async fn sso_starts_are_throttled_per_address() {
    let app = TestApp::spawn().await;
    let start = format!("/api/v1/auth/sso/{}/start", uuid::Uuid::now_v7());
    for _ in 0..30 {
        app.anonymous().get(&start).await.expect_problem(404);
    }
    app.anonymous().get(&start).await.expect_problem(429);
    let saml = format!("/api/v1/auth/saml/{}/start", uuid::Uuid::now_v7());
    app.anonymous().get(&saml).await.expect_problem(429);
}

#[tokio::test]
async fn only_an_owner_shortens_audit_retention_and_never_below_a_week() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let retention = "/api/v1/tenants/acme/audit/retention";
    let admin = app.tenant_member("acme").await;
    let fields = admin
        .raw(Method::PUT, retention, |r| {
            r.json(&json!({"retention_days": 1}))
        })
        .await
        .invalid_fields();
    assert_eq!(fields, ["/retention_days"]);
    let p = admin
        .raw(Method::PUT, retention, |r| {
            r.json(&json!({"retention_days": 14}))
        })
        .await
        .expect_problem(403);
    assert!(
        p["detail"].as_str().unwrap().contains("owners:write"),
        "{p}"
    );
    admin
        .raw(Method::PUT, retention, |r| {
            r.json(&json!({"retention_days": 90}))
        })
        .await
        .expect_status(200);

    let (_, owner) = signed_in(&app, "owner@acme.example", "owner").await;
    let set = owner
        .send(
            Method::PUT,
            retention,
            Some(json!({"retention_days": 7})),
            true,
        )
        .await
        .expect_status(200);
    assert_eq!(set["retention_days"], 7);
}

/// Property names in a request schema, through `$ref`, `allOf`, `oneOf` and
/// `anyOf`.
fn properties(spec: &serde_json::Value, schema: &serde_json::Value, out: &mut Vec<String>) {
    if let Some(name) = schema["$ref"].as_str() {
        let name = name.trim_start_matches("#/components/schemas/");
        return properties(spec, &spec["components"]["schemas"][name], out);
    }
    if let Some(props) = schema["properties"].as_object() {
        out.extend(props.keys().cloned());
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for part in schema[key].as_array().into_iter().flatten() {
            properties(spec, part, out);
        }
    }
}

/// New endpoints stay inside the boundaries: an operation that stores a
/// URL, rebinds a secret or mints a token fails this test until it is
/// listed here, which means it was given the check (and a test) above.
#[test]
fn every_url_secret_and_token_in_the_spec_is_guarded() {
    let spec: serde_json::Value =
        serde_json::from_str(&ditto_api::openapi().to_json().unwrap()).unwrap();
    // Checked with `check_destination` when saved, connected through ditto-egress.
    const EGRESS_CHECKED: &[&str] = &[
        "backends_create",
        "backends_update",
        "audit_export_destinations_create",
        "audit_export_destinations_update",
        "sso_connections_create",
        "sso_connections_update",
        "saml_connections_create",
        "saml_connections_update",
    ];
    // Follow `secret_binding::Rebinding` when their destination moves.
    const SECRET_REBOUND: &[&str] = &[
        "backends_update",
        "audit_export_destinations_update",
        "sso_connections_update",
    ];
    // Mint with `Ctx::token_permissions` or outranking (`may_delegate`).
    const TOKENS_NARROWED: &[&str] = &[
        "me_tokens_create",
        "access_tokens_create",
        "scim_tokens_create",
    ];
    let mut unguarded = Vec::new();
    for item in spec["paths"].as_object().unwrap().values() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            let mut props = Vec::new();
            properties(
                &spec,
                &op["requestBody"]["content"]["application/json"]["schema"],
                &mut props,
            );
            let url = props
                .iter()
                .find(|p| p.ends_with("url") || ["endpoint", "issuer"].contains(&p.as_str()));
            if let Some(p) = url
                && !EGRESS_CHECKED.contains(&id)
            {
                unguarded.push(format!(
                    "{id} stores `{p}`: check it against the egress policy"
                ));
            }
            let secret = props.iter().find(|p| {
                ["credentials", "client_secret", "secret_access_key"].contains(&p.as_str())
            });
            if let Some(p) = secret
                && method != "post"
                && !SECRET_REBOUND.contains(&id)
            {
                unguarded.push(format!("{id} changes `{p}`: bind it to its destination"));
            }
            if id.ends_with("tokens_create") && !TOKENS_NARROWED.contains(&id) {
                unguarded.push(format!(
                    "{id} mints a token: bound it by the caller's narrowing"
                ));
            }
        }
    }
    assert!(unguarded.is_empty(), "{unguarded:#?}");
}
