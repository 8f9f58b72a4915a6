//! Local sign-in against the real server and database: sessions and their
//! cookies, fixation, CSRF, timeouts, revocation, the TOTP second
//! factor, personal access tokens, and that taking over an account needs
//! every right it has.

use std::time::Duration;

use ditto_testkit::{Api, Options, Resp, TestApp, quick_gateway_config, test_identity};
use reqwest::Method;
use serde_json::{Value, json};

pub(super) const PASSWORD: &str = "correct horse battery staple";

/// A browser: the cookies it was given and the CSRF token it echoes.
pub(super) struct Browser {
    api: Api,
    pub(super) session: Option<String>,
    csrf: Option<String>,
}

impl Browser {
    pub(super) fn new(app: &TestApp) -> Self {
        Self {
            api: app.anonymous(),
            session: None,
            csrf: None,
        }
    }

    /// Sends a request with the session cookie and, unless `csrf` is false,
    /// the CSRF header.
    pub(super) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        csrf: bool,
    ) -> Resp {
        let session = self.session.clone();
        let token = self.csrf.clone().filter(|_| csrf);
        self.api
            .raw(method, path, |mut r| {
                if let Some(s) = session {
                    r = r.header("cookie", format!("ditto_session={s}; other=1"));
                }
                if let Some(t) = token {
                    r = r.header("x-csrf-token", t);
                }
                match body {
                    Some(b) => r.json(&b),
                    None => r,
                }
            })
            .await
    }

    pub(super) async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, None, true).await
    }

    pub(super) async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(Method::POST, path, Some(body), true).await
    }

    /// Signs in; keeps the cookies on success.
    pub(super) async fn sign_in(
        &mut self,
        tenant: &str,
        email: &str,
        password: &str,
        extra: Value,
    ) -> Resp {
        let mut body = json!({"tenant": tenant, "email": email, "password": password});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let resp = self
            .send(Method::POST, "/api/v1/auth/sign-in", Some(body), false)
            .await;
        if resp.status == 200 {
            let cookies: Vec<&str> = resp
                .headers
                .get_all("set-cookie")
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect();
            let value = |name: &str| {
                cookies
                    .iter()
                    .find(|c| c.starts_with(&format!("{name}=")))
                    .map(|c| c[name.len() + 1..].split(';').next().unwrap().to_owned())
            };
            self.session = value("ditto_session");
            self.csrf = value("ditto_csrf");
            assert_eq!(self.csrf.as_deref(), resp.body["csrf_token"].as_str());
        }
        resp
    }
}

/// A user of `tenant` bound tenant-wide to `role`, with a password.
pub(super) async fn staff(app: &TestApp, tenant: &str, email: &str, role: &str) -> String {
    let admin = app.admin();
    let base = format!("/api/v1/tenants/{tenant}");
    let user = admin
        .post(&format!("{base}/users"), json!({"email": email}))
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

/// `email`, bound to `role` across tenant acme, signed in in a browser.
pub(super) async fn signed_in(app: &TestApp, email: &str, role: &str) -> (String, Browser) {
    let id = staff(app, "acme", email, role).await;
    let mut browser = Browser::new(app);
    browser
        .sign_in("acme", email, PASSWORD, json!({}))
        .await
        .expect_status(200);
    (id, browser)
}

pub(super) fn in_a_month() -> String {
    (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339()
}

pub(super) async fn audit_actions(app: &TestApp, tenant: &str) -> Vec<String> {
    app.admin()
        .collect(&format!("/api/v1/tenants/{tenant}/audit"), 200)
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn signing_in_starts_a_session_the_whole_api_accepts() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let user = staff(&app, "acme", "ada@acme.example", "admin").await;
    let mut browser = Browser::new(&app);

    let resp = browser
        .sign_in("acme", "ADA@acme.example", PASSWORD, json!({}))
        .await;
    let body = resp.body.clone();
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.headers["cache-control"], "no-store");
    let cookies: Vec<String> = resp
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session_cookie = cookies
        .iter()
        .find(|c| c.starts_with("ditto_session="))
        .unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"] {
        assert!(session_cookie.contains(attribute), "{session_cookie}");
    }
    // The tests serve plain HTTP; production marks cookies Secure.
    assert!(!session_cookie.contains("Secure"));
    let csrf_cookie = cookies
        .iter()
        .find(|c| c.starts_with("ditto_csrf="))
        .unwrap();
    assert!(!csrf_cookie.contains("HttpOnly"), "the console reads it");
    assert_eq!(body["session"]["method"], "password");
    assert_eq!(body["session"]["current"], true);
    assert_eq!(body["must_change_password"], false);
    // The secrets are in cookies and the CSRF token only.
    assert!(!resp.text.contains(browser.session.as_deref().unwrap()));

    let me = browser.get("/api/v1/me").await.expect_status(200);
    assert_eq!(me["subject_type"], "user");
    assert_eq!(me["subject_id"], user.as_str());
    assert!(
        me["tenants"][0]["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("users:write"))
    );
    // A change made with the session is the user's, in the audit trail.
    browser
        .post("/api/v1/tenants/acme/projects", json!({"name": "web"}))
        .await
        .expect_status(201);
    let events = app
        .admin()
        .collect("/api/v1/tenants/acme/audit?action=projects.create", 10)
        .await;
    assert_eq!(events[0]["actor_type"], "user");
    assert_eq!(events[0]["actor_id"], user.as_str());
    assert!(
        audit_actions(&app, "acme")
            .await
            .contains(&"auth.sign_in".to_owned())
    );

    // Signing out needs the CSRF token (another site cannot sign us out)...
    browser
        .send(Method::POST, "/api/v1/auth/sign-out", None, false)
        .await
        .expect_problem(403);
    browser.get("/api/v1/me").await.expect_status(200);
    // ...and with it ends the session and clears the cookies.
    let out = browser
        .send(Method::POST, "/api/v1/auth/sign-out", None, true)
        .await;
    assert_eq!(out.status, 204);
    assert!(
        out.headers
            .get_all("set-cookie")
            .iter()
            .all(|c| c.to_str().unwrap().contains("Max-Age=0"))
    );
    let after = browser.get("/api/v1/me").await.expect_problem(401);
    assert!(after["detail"].as_str().unwrap().contains("sign in again"));
}

#[tokio::test]
async fn wrong_credentials_all_read_the_same() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    staff(&app, "acme", "ada@acme.example", "viewer").await;
    let mut browser = Browser::new(&app);
    let mut details = Vec::new();
    for (tenant, email, password) in [
        ("acme", "ada@acme.example", "wrong password here"),
        ("acme", "nobody@acme.example", PASSWORD),
        ("no-such-tenant", "ada@acme.example", PASSWORD),
    ] {
        let p = browser
            .sign_in(tenant, email, password, json!({}))
            .await
            .expect_problem(401);
        assert!(
            p["type"]
                .as_str()
                .unwrap()
                .ends_with("/invalid-credentials")
        );
        details.push(p["detail"].clone());
    }
    assert!(details.windows(2).all(|w| w[0] == w[1]));
    // A user without a password cannot sign in with any.
    app.admin()
        .post(
            "/api/v1/tenants/acme/users",
            json!({"email": "nopass@acme.example"}),
        )
        .await
        .expect_status(201);
    browser
        .sign_in("acme", "nopass@acme.example", "", json!({}))
        .await
        .expect_problem(401);
    // Missing fields are a validation error, not a sign-in attempt.
    let p = browser
        .send(
            Method::POST,
            "/api/v1/auth/sign-in",
            Some(json!({"tenant": "acme"})),
            false,
        )
        .await
        .expect_problem(422);
    assert!(p["errors"].to_string().contains("/email"));
}

#[tokio::test]
async fn a_new_sign_in_never_adopts_the_session_the_browser_had() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    staff(&app, "acme", "ada@acme.example", "viewer").await;
    let mut browser = Browser::new(&app);
    // A session id planted before sign-in (by an attacker) stays worthless.
    browser.session = Some("planted-by-someone-else".into());
    browser
        .sign_in("acme", "ada@acme.example", PASSWORD, json!({}))
        .await
        .expect_status(200);
    let first = browser.session.clone().unwrap();
    assert_ne!(first, "planted-by-someone-else");

    // Signing in again rotates the session: the old id stops working.
    browser
        .sign_in("acme", "ada@acme.example", PASSWORD, json!({}))
        .await
        .expect_status(200);
    let second = browser.session.clone().unwrap();
    assert_ne!(first, second);
    browser.get("/api/v1/me").await.expect_status(200);
    let old = Browser {
        api: app.anonymous(),
        session: Some(first),
        csrf: None,
    };
    old.get("/api/v1/me").await.expect_problem(401);
}

#[tokio::test]
async fn changes_made_with_a_session_need_its_csrf_token() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    staff(&app, "acme", "ada@acme.example", "admin").await;
    let mut browser = Browser::new(&app);
    browser
        .sign_in("acme", "ada@acme.example", PASSWORD, json!({}))
        .await
        .expect_status(200);
    let path = "/api/v1/tenants/acme/projects";
    let p = browser
        .send(Method::POST, path, Some(json!({"name": "a"})), false)
        .await
        .expect_problem(403);
    assert!(p["detail"].as_str().unwrap().contains("x-csrf-token"));
    let mut forged = Browser {
        api: app.anonymous(),
        session: browser.session.clone(),
        csrf: Some("guessed".into()),
    };
    forged
        .post(path, json!({"name": "b"}))
        .await
        .expect_problem(403);
    // The CSRF token of another session does not do either.
    let mut other = Browser::new(&app);
    other
        .sign_in("acme", "ada@acme.example", PASSWORD, json!({}))
        .await
        .expect_status(200);
    forged.csrf = other.csrf.clone();
    forged
        .post(path, json!({"name": "c"}))
        .await
        .expect_problem(403);
    // Nothing was created; reads need no token; the right token works.
    assert_eq!(app.admin().collect(path, 10).await.len(), 0);
    browser
        .send(Method::GET, path, None, false)
        .await
        .expect_status(200);
    browser
        .post(path, json!({"name": "d"}))
        .await
        .expect_status(201);
}

#[tokio::test]
async fn sessions_end_when_idle_and_at_their_absolute_limit() {
    let mut identity = test_identity();
    identity.sessions.idle_timeout = Duration::from_secs(2);
    identity.sessions.absolute_timeout = Duration::from_secs(5);
    let app = TestApp::spawn_with(Options {
        gateway: quick_gateway_config(),
        identity: Some(identity),
        ..Options::default()
    })
    .await;
    app.tenant("acme").await;
    staff(&app, "acme", "ada@acme.example", "viewer").await;

    // Idle: untouched for longer than the idle timeout.
    let mut idle = Browser::new(&app);
    idle.sign_in("acme", "ada@acme.example", PASSWORD, json!({}))
        .await
        .expect_status(200);
    let mut busy = Browser::new(&app);
    busy.sign_in("acme", "ada@acme.example", PASSWORD, json!({}))
        .await
        .expect_status(200);
    idle.get("/api/v1/me").await.expect_status(200);
    let started = std::time::Instant::now();
    // Busy: used every 0.5 s, so never idle, until the absolute end.
    let mut idle_checked = false;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let elapsed = started.elapsed();
        if !idle_checked && elapsed > Duration::from_millis(2600) {
            idle.get("/api/v1/me").await.expect_problem(401);
            idle_checked = true;
        }
        let status = busy.get("/api/v1/me").await.status;
        if elapsed < Duration::from_millis(4500) {
            assert_eq!(status, 200, "busy session ended early at {elapsed:?}");
        } else if elapsed > Duration::from_millis(5500) {
            assert_eq!(status, 401, "busy session outlived its absolute limit");
            break;
        }
    }
    assert!(idle_checked);
}

#[tokio::test]
async fn revoking_ends_access_at_once() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let user = staff(&app, "acme", "ada@acme.example", "viewer").await;
    let mut laptop = Browser::new(&app);
    laptop
        .sign_in("acme", "ada@acme.example", PASSWORD, json!({}))
        .await
        .expect_status(200);
    let mut phone = Browser::new(&app);
    phone
        .sign_in("acme", "ada@acme.example", PASSWORD, json!({}))
        .await
        .expect_status(200);

    // The user ends the phone's session from the laptop.
    let sessions = laptop.get("/api/v1/me/sessions").await.expect_status(200);
    let items = sessions["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let phone_session = items.iter().find(|s| s["current"] == false).unwrap();
    assert!(items.iter().all(|s| s.get("token_hash").is_none()));
    laptop
        .send(
            Method::DELETE,
            &format!(
                "/api/v1/me/sessions/{}",
                phone_session["id"].as_str().unwrap()
            ),
            None,
            true,
        )
        .await
        .expect_status(204);
    phone.get("/api/v1/me").await.expect_problem(401);
    laptop.get("/api/v1/me").await.expect_status(200);

    // An administrator ends all of them.
    let revoked = app
        .admin()
        .post_empty(&format!(
            "/api/v1/tenants/acme/users/{user}/sessions/revoke"
        ))
        .await
        .expect_status(200);
    assert_eq!(revoked["revoked"], 1);
    laptop.get("/api/v1/me").await.expect_problem(401);

    // Disabling the user ends sessions the same way.
    let mut again = Browser::new(&app);
    again
        .sign_in("acme", "ada@acme.example", PASSWORD, json!({}))
        .await
        .expect_status(200);
    app.admin()
        .patch(
            &format!("/api/v1/tenants/acme/users/{user}"),
            json!({"status": "disabled"}),
        )
        .await
        .expect_status(200);
    again.get("/api/v1/me").await.expect_problem(401);
    Browser::new(&app)
        .sign_in("acme", "ada@acme.example", PASSWORD, json!({}))
        .await
        .expect_problem(401);
}

#[tokio::test]
async fn users_change_their_password_and_admins_reset_it() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let user = staff(&app, "acme", "ada@acme.example", "viewer").await;
    let mut laptop = Browser::new(&app);
    laptop
        .sign_in("acme", "ada@acme.example", PASSWORD, json!({}))
        .await
        .expect_status(200);
    let mut phone = Browser::new(&app);
    phone
        .sign_in("acme", "ada@acme.example", PASSWORD, json!({}))
        .await
        .expect_status(200);
    let p = laptop
        .post(
            "/api/v1/me/password",
            json!({"current_password": "not it at all", "new_password": "another fine passphrase"}),
        )
        .await
        .expect_problem(422);
    assert!(p["errors"].to_string().contains("/current_password"));
    let p = laptop
        .post(
            "/api/v1/me/password",
            json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await
        .expect_problem(422);
    assert!(p["errors"].to_string().contains("at least 12"));
    laptop
        .post(
            "/api/v1/me/password",
            json!({"current_password": PASSWORD, "new_password": "another fine passphrase"}),
        )
        .await
        .expect_status(204);
    // This session stays; the others end; the new password works.
    laptop.get("/api/v1/me").await.expect_status(200);
    phone.get("/api/v1/me").await.expect_problem(401);
    Browser::new(&app)
        .sign_in(
            "acme",
            "ada@acme.example",
            "another fine passphrase",
            json!({}),
        )
        .await
        .expect_status(200);

    // An administrator's reset ends every session and asks for a change.
    app.admin()
        .raw(
            Method::PUT,
            &format!("/api/v1/tenants/acme/users/{user}/password"),
            |r| r.json(&json!({"password": "temporary passphrase 1"})),
        )
        .await
        .expect_status(204);
    laptop.get("/api/v1/me").await.expect_problem(401);
    let signed = Browser::new(&app)
        .sign_in(
            "acme",
            "ada@acme.example",
            "temporary passphrase 1",
            json!({}),
        )
        .await
        .expect_status(200);
    assert_eq!(signed["must_change_password"], true);
}

#[tokio::test]
async fn taking_over_an_account_needs_every_right_it_has() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let owner = staff(&app, "acme", "owner@acme.example", "owner").await;
    let viewer = staff(&app, "acme", "viewer@acme.example", "viewer").await;
    let mut admin = Browser::new(&app);
    staff(&app, "acme", "admin@acme.example", "admin").await;
    admin
        .sign_in("acme", "admin@acme.example", PASSWORD, json!({}))
        .await
        .expect_status(200);
    let set = |user: &str| format!("/api/v1/tenants/acme/users/{user}/password");
    let body = json!({"password": "taken over passphrase"});
    // An admin lacks `owners:write`, which the owner holds.
    let p = admin
        .send(Method::PUT, &set(&owner), Some(body.clone()), true)
        .await
        .expect_problem(403);
    assert!(p["detail"].as_str().unwrap().contains("owners:write"));
    admin
        .send(
            Method::DELETE,
            &format!("/api/v1/tenants/acme/users/{owner}/totp"),
            None,
            true,
        )
        .await
        .expect_problem(403);
    // The viewer's account is within the admin's rights.
    admin
        .send(Method::PUT, &set(&viewer), Some(body.clone()), true)
        .await
        .expect_status(204);
    // Another tenant's admin cannot even see the user.
    app.tenant("other").await;
    app.tenant_member("other")
        .await
        .raw(
            Method::PUT,
            &format!("/api/v1/tenants/acme/users/{viewer}/password"),
            |r| r.json(&body),
        )
        .await
        .expect_problem(404);
}

#[tokio::test]
async fn personal_access_tokens_act_as_their_user_within_their_limits() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let user = staff(&app, "acme", "ada@acme.example", "developer").await;
    let mut browser = Browser::new(&app);
    browser
        .sign_in("acme", "ada@acme.example", PASSWORD, json!({}))
        .await
        .expect_status(200);
    let expires = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();

    // Validation: expiry, unknown and unheld permissions.
    let p = browser
        .post(
            "/api/v1/me/tokens",
            json!({"name": "ci", "expires_at": "2020-01-01T00:00:00Z", "permissions": ["keys:fly"]}),
        )
        .await
        .expect_problem(422);
    let fields = p["errors"].to_string();
    assert!(
        fields.contains("/expires_at") && fields.contains("/permissions/0"),
        "{fields}"
    );
    let p = browser
        .post(
            "/api/v1/me/tokens",
            json!({"name": "ci", "expires_at": expires, "permissions": ["users:write"]}),
        )
        .await
        .expect_problem(403);
    assert!(p["detail"].as_str().unwrap().contains("users:write"));

    let created = browser
        .post(
            "/api/v1/me/tokens",
            json!({"name": "ci", "expires_at": expires, "permissions": ["projects:read"]}),
        )
        .await
        .expect_status(201);
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("dat-"));
    let token = app.with_token(&secret);
    // It acts as the user, within projects:read only.
    let me = token.get("/api/v1/me").await.expect_status(200);
    assert_eq!(me["subject_id"], user.as_str());
    assert_eq!(me["tenants"][0]["permissions"], json!(["projects:read"]));
    token
        .get("/api/v1/tenants/acme/projects")
        .await
        .expect_status(200);
    token
        .get("/api/v1/tenants/acme/api-keys")
        .await
        .expect_problem(403);
    // No CSRF for bearer tokens: they are not sent by browsers on their own.
    // Listing shows it without the secret, with its last use.
    let list = browser.get("/api/v1/me/tokens").await.expect_status(200);
    assert_eq!(list["items"][0]["permissions"], json!(["projects:read"]));
    assert!(list["items"][0]["last_used_at"].is_string());
    assert!(!list.to_string().contains(&secret));
    let admin_view = app
        .admin()
        .get(&format!("/api/v1/tenants/acme/users/{user}/tokens"))
        .await
        .expect_status(200);
    assert_eq!(admin_view["items"].as_array().unwrap().len(), 1);

    // Revoked: refused at once.
    let id = created["token"]["id"].as_str().unwrap();
    browser
        .post(&format!("/api/v1/me/tokens/{id}/revoke"), json!(null))
        .await
        .expect_status(200);
    token.get("/api/v1/me").await.expect_problem(401);

    // A token without limits has all the user's rights, and dies with the user's access.
    let full = browser
        .post(
            "/api/v1/me/tokens",
            json!({"name": "all", "expires_at": expires}),
        )
        .await
        .expect_status(201);
    let full = app.with_token(full["secret"].as_str().unwrap());
    full.get("/api/v1/tenants/acme/api-keys")
        .await
        .expect_status(200);
    app.admin()
        .patch(
            &format!("/api/v1/tenants/acme/users/{user}"),
            json!({"status": "disabled"}),
        )
        .await
        .expect_status(200);
    full.get("/api/v1/me").await.expect_problem(401);
}

#[tokio::test]
async fn sign_in_secrets_never_reach_the_logs() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    staff(&app, "acme", "ada@acme.example", "admin").await;
    let mut browser = Browser::new(&app);
    browser
        .sign_in("acme", "ada@acme.example", PASSWORD, json!({}))
        .await
        .expect_status(200);
    // A wrong password, in a body that also fails validation elsewhere.
    Browser::new(&app)
        .sign_in(
            "acme",
            "ada@acme.example",
            "a wrong secret passphrase",
            json!({}),
        )
        .await
        .expect_problem(401);
    let enrolment = browser
        .post("/api/v1/me/totp", json!(null))
        .await
        .expect_status(200);
    let expires = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let pat = browser
        .post(
            "/api/v1/me/tokens",
            json!({"name": "t", "expires_at": expires}),
        )
        .await
        .expect_status(201);
    let pat = pat["secret"].as_str().unwrap().to_owned();
    app.with_token(&pat)
        .get("/api/v1/me")
        .await
        .expect_status(200);

    let logged = ditto_testkit::logs::captured();
    assert!(
        logged.contains("/api/v1/auth/sign-in"),
        "logs were captured"
    );
    for secret in [
        PASSWORD,
        "a wrong secret passphrase",
        browser.session.as_deref().unwrap(),
        browser.csrf.as_deref().unwrap(),
        enrolment["secret"].as_str().unwrap(),
        &pat,
    ] {
        assert!(!logged.contains(secret), "a secret reached the logs");
    }
}
