//! `GET /api/v1/me` names the caller: a user's email, display name and
//! whether it has a second factor, a service account's name; never a
//! credential, and nothing of another tenant.

use std::collections::BTreeSet;

use ditto_identity::totp;
use ditto_testkit::{Api, Resp, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

use super::second_factor::base32_decode;

const PASSWORD: &str = "correct horse battery staple";

/// A signed-in browser: its session cookie and the CSRF token it echoes.
struct Session {
    api: Api,
    cookie: String,
    csrf: String,
}

impl Session {
    async fn sign_in(app: &TestApp, tenant: &str, email: &str) -> Self {
        let api = app.anonymous();
        let resp = api
            .post(
                "/api/v1/auth/sign-in",
                json!({"tenant": tenant, "email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        let cookie = resp
            .headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .find_map(|c| c.strip_prefix("ditto_session="))
            .map(|c| c.split(';').next().unwrap().to_owned())
            .unwrap();
        let csrf = resp.body["csrf_token"].as_str().unwrap().to_owned();
        Session { api, cookie, csrf }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let (cookie, csrf) = (self.cookie.clone(), self.csrf.clone());
        self.api
            .raw(method, path, |r| {
                let r = r
                    .header("cookie", format!("ditto_session={cookie}"))
                    .header("x-csrf-token", csrf);
                match body {
                    Some(b) => r.json(&b),
                    None => r,
                }
            })
            .await
    }
}

/// A user of `tenant` with a display name, a password and `role`.
async fn person(app: &TestApp, tenant: &str, email: &str, name: &str, role: &str) -> String {
    let admin = app.admin();
    let base = format!("/api/v1/tenants/{tenant}");
    let user = admin
        .post(
            &format!("{base}/users"),
            json!({"email": email, "display_name": name}),
        )
        .await
        .expect_status(201);
    let id = user["id"].as_str().unwrap().to_owned();
    admin
        .post(
            &format!("{base}/role-bindings"),
            json!({"role": role, "subject_type": "user", "subject_id": id}),
        )
        .await
        .expect_status(201);
    admin
        .raw(Method::PUT, &format!("{base}/users/{id}/password"), |r| {
            r.json(&json!({"password": PASSWORD, "must_change": false}))
        })
        .await
        .expect_status(204);
    id
}

fn keys(me: &Value) -> BTreeSet<&str> {
    me.as_object().unwrap().keys().map(String::as_str).collect()
}

#[tokio::test]
async fn a_user_sees_its_email_display_name_and_second_factor() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let ada = person(&app, "acme", "ada@acme.example", "Ada Lovelace", "viewer").await;
    // Someone of the same address elsewhere is someone else.
    person(&app, "globex", "ada@acme.example", "Not Ada", "owner").await;
    let browser = Session::sign_in(&app, "acme", "ada@acme.example").await;

    let resp = browser.send(Method::GET, "/api/v1/me", None).await;
    let text = resp.text.clone();
    let me = resp.expect_status(200);
    assert_eq!(me["subject_id"], ada.as_str());
    assert_eq!(me["email"], "ada@acme.example");
    assert_eq!(me["display_name"], "Ada Lovelace");
    assert_eq!(me["totp_enabled"], false);
    assert_eq!(me["must_change_password"], false);
    let tenants: Vec<&str> = me["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(tenants, ["acme"]);
    // Exactly these members: no service account name, no credential.
    assert_eq!(
        keys(&me),
        BTreeSet::from([
            "subject_type",
            "subject_id",
            "must_change_password",
            "platform_permissions",
            "tenants",
            "email",
            "display_name",
            "totp_enabled",
        ])
    );
    assert!(!text.contains(&browser.cookie));
    assert!(!text.contains(&browser.csrf));

    // Once a second factor is on, /me says so, and never shows its secret.
    let enrolment = browser
        .send(Method::POST, "/api/v1/me/totp", None)
        .await
        .expect_status(200);
    let secret_text = enrolment["secret"].as_str().unwrap().to_owned();
    let me = browser
        .send(Method::GET, "/api/v1/me", None)
        .await
        .expect_status(200);
    assert_eq!(me["totp_enabled"], false, "not on until confirmed");
    let secret = base32_decode(&secret_text);
    let code = totp::code_at_step(&secret, totp::step_of(chrono::Utc::now().timestamp()));
    let recovery = browser
        .send(
            Method::POST,
            "/api/v1/me/totp/confirm",
            Some(json!({"code": code})),
        )
        .await
        .expect_status(200);
    let resp = browser.send(Method::GET, "/api/v1/me", None).await;
    let text = resp.text.clone();
    let me = resp.expect_status(200);
    assert_eq!(me["totp_enabled"], true);
    assert!(!text.contains(&secret_text));
    for code in recovery["codes"].as_array().unwrap() {
        assert!(!text.contains(code.as_str().unwrap()));
    }
}

#[tokio::test]
async fn service_accounts_see_their_name_and_no_person_fields() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let account = app
        .admin()
        .post(
            "/api/v1/tenants/acme/service-accounts",
            json!({"name": "deploy-bot", "role": "developer"}),
        )
        .await
        .expect_status(201);
    let token = app
        .admin()
        .post(
            &format!(
                "/api/v1/tenants/acme/service-accounts/{}/tokens",
                account["id"].as_str().unwrap()
            ),
            json!({"name": "ci"}),
        )
        .await
        .expect_status(201);
    let secret = token["secret"].as_str().unwrap();
    let resp = app.with_token(secret).get("/api/v1/me").await;
    assert!(!resp.text.contains(secret));
    let me = resp.expect_status(200);
    assert_eq!(me["subject_type"], "service_account");
    assert_eq!(me["name"], "deploy-bot");
    assert_eq!(
        keys(&me),
        BTreeSet::from([
            "subject_type",
            "subject_id",
            "platform_permissions",
            "tenants",
            "name",
        ])
    );

    // A platform account, which belongs to no tenant, is named too.
    let me = app.admin().get("/api/v1/me").await.expect_status(200);
    assert_eq!(me["platform_role"], "platform_admin");
    assert_eq!(me["name"], "bootstrap");
    assert!(me.get("email").is_none() && me.get("totp_enabled").is_none());
    let auditor = app.platform_member("platform_auditor").await;
    let me = auditor.get("/api/v1/me").await.expect_status(200);
    assert!(me["name"].as_str().unwrap().starts_with("platform-"));
}
