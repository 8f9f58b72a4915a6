//! OpenID Connect single sign-on against a real provider (npm
//! `oidc-provider`, started per test): connections in the admin API, a
//! full browser-less sign-in (our start → the provider's login form and
//! consent → our callback), JIT provisioning and group → role mapping, and
//! the refusals: wrong or replayed state, a nonce that does not match or is
//! missing, an ID token for another audience, expired or signed by a
//! stranger, a disabled connection, another tenant.

use std::collections::HashMap;

use ditto_testkit::oidc::OidcProvider;
use ditto_testkit::{Api, TestApp};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

pub(super) const CALLBACK: &str = "/api/v1/auth/sso/callback";

/// A browser: cookies by name (ports do not separate cookies, as in
/// browsers; paths are ignored, which only sends more), no automatic
/// redirects. Other SSO tests (the policy's) drive sign-ins with it too.
pub(super) struct Browser {
    pub(super) http: reqwest::Client,
    pub(super) cookies: HashMap<String, String>,
}

/// What a request answered.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) location: Option<String>,
    pub(super) set_cookies: Vec<String>,
    pub(super) body: String,
}

impl Answer {
    pub(super) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The problem type's last segment (`sso-invalid-state`).
    pub(super) fn problem(&self) -> String {
        self.json()["type"]
            .as_str()
            .unwrap_or_default()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}

impl Browser {
    pub(super) fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    pub(super) async fn send(&mut self, req: reqwest::RequestBuilder) -> Answer {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let req = if cookie.is_empty() {
            req
        } else {
            req.header(COOKIE, cookie)
        };
        let resp = req.send().await.expect("request");
        let set_cookies: Vec<String> = resp
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for c in &set_cookies {
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (name, value) = pair.split_once('=').unwrap();
            let gone = value.is_empty() || attrs.to_lowercase().contains("max-age=0");
            if gone {
                self.cookies.remove(name.trim());
            } else {
                self.cookies
                    .insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
        Answer {
            status: resp.status().as_u16(),
            location: resp
                .headers()
                .get(LOCATION)
                .map(|v| v.to_str().unwrap().to_owned()),
            set_cookies,
            body: resp.text().await.unwrap_or_default(),
        }
    }

    pub(super) async fn get(&mut self, url: &str) -> Answer {
        let req = self.http.get(url);
        self.send(req).await
    }

    /// Starts a sign-in at our server and goes through the provider's login
    /// form and consent as `login`; returns our callback URL the provider
    /// redirected to, not yet visited.
    pub(super) async fn through_provider(
        &mut self,
        app: &TestApp,
        connection: &str,
        login: &str,
    ) -> String {
        let start = self
            .get(&format!(
                "{}/api/v1/auth/sso/{connection}/start?return_to=/console/home",
                app.base
            ))
            .await;
        assert_eq!(start.status, 302, "start: {}", start.body);
        let sso_cookie = start
            .set_cookies
            .iter()
            .find(|c| c.starts_with("ditto_sso="))
            .expect("the sign-in cookie");
        assert!(sso_cookie.contains("HttpOnly") && sso_cookie.contains("SameSite=Lax"));
        assert!(sso_cookie.contains("Max-Age=600"), "{sso_cookie}");
        let mut url = start.location.expect("to the provider");
        assert!(url.contains("code_challenge_method=S256"), "{url}");
        assert!(url.contains("nonce=") && url.contains("state="), "{url}");
        for _ in 0..20 {
            let answer = self.get(&url).await;
            let page = match answer.status {
                302 | 303 => {
                    let next = answer.location.expect("a redirect goes somewhere");
                    let next = reqwest::Url::parse(&url).unwrap().join(&next).unwrap();
                    if next.path() == CALLBACK {
                        return next.to_string();
                    }
                    url = next.to_string();
                    continue;
                }
                200 => answer.body,
                other => panic!("the provider answered {other}: {}", answer.body),
            };
            let form = if page.contains(r#"name="prompt" value="login""#) {
                vec![("prompt", "login"), ("login", login), ("password", "any")]
            } else if page.contains(r#"name="prompt" value="consent""#) {
                vec![("prompt", "consent")]
            } else {
                panic!("an unexpected page at {url}: {page}");
            };
            let action = page
                .split("action=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .expect("a form action")
                .to_owned();
            let target = reqwest::Url::parse(&url).unwrap().join(&action).unwrap();
            let req = self.http.post(target.clone()).form(&form);
            let answer = self.send(req).await;
            assert!(
                matches!(answer.status, 302 | 303),
                "{target}: {} {}",
                answer.status,
                answer.body
            );
            let next = answer.location.expect("after a form, a redirect");
            url = target.join(&next).unwrap().to_string();
        }
        panic!("the provider never sent the browser back");
    }

    /// A complete sign-in; returns the callback's answer.
    pub(super) async fn sign_in(&mut self, app: &TestApp, connection: &str, login: &str) -> Answer {
        let callback = self.through_provider(app, connection, login).await;
        self.get(&callback).await
    }

    /// An admin API call with the session cookie (and CSRF token).
    pub(super) fn api(&self, app: &TestApp) -> SessionApi {
        SessionApi {
            base: app.base.clone(),
            session: self.cookies.get("ditto_session").cloned(),
            csrf: self.cookies.get("ditto_csrf").cloned(),
        }
    }
}

pub(super) struct SessionApi {
    pub(super) base: String,
    pub(super) session: Option<String>,
    pub(super) csrf: Option<String>,
}

impl SessionApi {
    pub(super) async fn get(&self, path: &str) -> (u16, Value) {
        let mut req = reqwest::Client::new().get(format!("{}{path}", self.base));
        if let Some(s) = &self.session {
            req = req.header(COOKIE, format!("ditto_session={s}"));
        }
        if let Some(c) = &self.csrf {
            req = req.header("x-csrf-token", c);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

pub(super) struct Setup {
    pub(super) app: TestApp,
    pub(super) idp: OidcProvider,
    pub(super) admin: Api,
}

pub(super) async fn setup(tenant: &str) -> Setup {
    let app = TestApp::spawn().await;
    let idp = OidcProvider::start(&format!("{}{CALLBACK}", app.base)).await;
    app.tenant(tenant).await;
    let admin = app.tenant_member(tenant).await;
    Setup { app, idp, admin }
}

/// Adds a connection for `client_id` with `extra` fields; returns its JSON.
pub(super) async fn connection(s: &Setup, tenant: &str, client_id: &str, extra: Value) -> Value {
    let mut body = json!({
        "name": format!("idp-{client_id}-{}", uuid::Uuid::now_v7().simple()),
        "issuer": s.idp.issuer,
        "client_id": client_id,
        "client_secret": format!("{client_id}-secret"),
        "scopes": ["openid", "email", "profile", "groups"],
        "jit_provisioning": true,
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    s.admin
        .post(&format!("/api/v1/tenants/{tenant}/sso-connections"), body)
        .await
        .expect_status(201)
}

/// A user of `tenant` with `email`, bound `owner` (no password); its JSON.
pub(super) async fn owner(app: &TestApp, tenant: &str, email: &str) -> Value {
    let admin = app.admin();
    let user = admin
        .post(
            &format!("/api/v1/tenants/{tenant}/users"),
            json!({"email": email}),
        )
        .await
        .expect_status(201);
    admin
        .post(
            &format!("/api/v1/tenants/{tenant}/role-bindings"),
            json!({"role": "owner", "subject_type": "user", "subject_id": user["id"]}),
        )
        .await
        .expect_status(201);
    user
}

/// Claims `domain` for `tenant` and has a platform operator verify it.
pub(super) async fn verify_domain(app: &TestApp, tenant: &str, domain: &str) {
    let admin = app.admin();
    admin
        .post(
            &format!("/api/v1/tenants/{tenant}/domains"),
            json!({"domain": domain}),
        )
        .await
        .expect_status(201);
    admin
        .post_empty(&format!("/api/v1/tenants/{tenant}/domains/{domain}/verify"))
        .await
        .expect_status(200);
}

pub(super) fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

pub(super) async fn roles_of_me(browser: &Browser, app: &TestApp) -> Vec<String> {
    let (status, me) = browser.api(app).get("/api/v1/me").await;
    assert_eq!(status, 200, "{me}");
    let mut roles: Vec<String> = me["tenants"][0]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    roles.sort();
    roles
}

#[tokio::test]
async fn a_full_sign_in_provisions_the_user_and_maps_groups_to_roles() {
    let s = setup("acme").await;
    let conn = connection(
        &s,
        "acme",
        "ditto",
        json!({"group_role_mappings": [
            {"group": "engineering", "role": "developer"},
            {"group": "audit", "role": "auditor"},
        ]}),
    )
    .await;
    assert_eq!(conn["has_client_secret"], true);
    assert!(!conn.to_string().contains("ditto-secret"));
    assert_eq!(
        conn["scopes"],
        json!(["openid", "email", "profile", "groups"])
    );
    s.idp
        .set_account(
            "ada",
            json!({"email": "ada@acme.example", "email_verified": true, "name": "Ada Lovelace",
                   "groups": ["engineering", "audit", "unmapped"]}),
        )
        .await;

    let mut browser = Browser::new();
    let done = browser.sign_in(&s.app, &id(&conn), "ada").await;
    assert_eq!(done.status, 302, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/console/home"));
    let session_cookie = done
        .set_cookies
        .iter()
        .find(|c| c.starts_with("ditto_session="))
        .expect("a session cookie");
    assert!(session_cookie.contains("HttpOnly") && session_cookie.contains("SameSite=Lax"));
    assert!(
        done.set_cookies
            .iter()
            .any(|c| c.starts_with("ditto_csrf="))
    );
    assert!(
        !browser.cookies.contains_key("ditto_sso"),
        "the sign-in cookie is cleared"
    );

    // The user was made from the provider's claims (from userinfo: the ID
    // token carries only `sub`), with the mapped roles.
    assert_eq!(
        roles_of_me(&browser, &s.app).await,
        ["auditor", "developer"]
    );
    let users = s
        .admin
        .get("/api/v1/tenants/acme/users?q=ada")
        .await
        .expect_status(200);
    let user = &users["items"][0];
    assert_eq!(user["email"], "ada@acme.example");
    assert_eq!(user["display_name"], "Ada Lovelace");
    let (_, sessions) = browser.api(&s.app).get("/api/v1/me/sessions").await;
    assert_eq!(sessions["items"][0]["method"], "oidc");

    // Audited like a password sign-in, with the connection.
    let audit = s
        .admin
        .get("/api/v1/tenants/acme/audit?action=auth.sign_in")
        .await
        .expect_status(200);
    let event = &audit["items"][0];
    assert_eq!(event["after"]["method"], "oidc", "{audit}");
    assert_eq!(event["after"]["connection_id"], conn["id"]);

    // A role bound by hand is not the connection's to take away; the
    // connection's own follow the provider's groups.
    s.admin
        .post(
            "/api/v1/tenants/acme/role-bindings",
            json!({"role": "viewer", "subject_type": "user", "subject_id": user["id"]}),
        )
        .await
        .expect_status(201);
    s.idp
        .set_account(
            "ada",
            json!({"email": "ada@acme.example", "email_verified": true, "name": "Ada Lovelace",
                   "groups": ["engineering"]}),
        )
        .await;
    let mut again = Browser::new();
    let done = again.sign_in(&s.app, &id(&conn), "ada").await;
    assert_eq!(done.status, 302, "{}", done.body);
    assert_eq!(roles_of_me(&again, &s.app).await, ["developer", "viewer"]);
    let users = s
        .admin
        .get("/api/v1/tenants/acme/users?q=ada")
        .await
        .expect_status(200);
    assert_eq!(users["items"].as_array().unwrap().len(), 1, "the same user");

    // The secret is in no answer, audit event or log line.
    let all = s
        .admin
        .get("/api/v1/tenants/acme/audit?limit=200")
        .await
        .expect_status(200);
    assert!(!all.to_string().contains("ditto-secret"));
    let logs = ditto_testkit::logs::captured();
    assert!(!logs.contains("ditto-secret"));
    // Nor as the Basic credentials sent to the token endpoint.
    assert!(!logs.contains("ZGl0dG86ZGl0dG8tc2VjcmV0"));
}

#[tokio::test]
async fn the_state_must_be_this_browsers_and_works_once() {
    let s = setup("acme").await;
    let conn = id(&connection(&s, "acme", "ditto", json!({})).await);

    // A state that is not the one sent: refused, and the sign-in is spent.
    let mut browser = Browser::new();
    let callback = browser.through_provider(&s.app, &conn, "bob").await;
    let mut url = reqwest::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                "forged".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(&pairs);
    let cookie = browser.cookies.get("ditto_sso").cloned().unwrap();
    let forged = browser.get(url.as_str()).await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    assert_eq!(forged.problem(), "sso-invalid-state");
    // With the cookie put back, the real state no longer works either.
    browser.cookies.insert("ditto_sso".into(), cookie);
    let answer = browser.get(&callback).await;
    assert_eq!(answer.problem(), "sso-invalid-state", "{}", answer.body);
    assert!(!browser.cookies.contains_key("ditto_session"));
    // Nor without any cookie.
    let answer = Browser::new().get(&callback).await;
    assert_eq!(answer.problem(), "sso-invalid-state", "{}", answer.body);

    // A good sign-in cannot be replayed, with or without its cookie.
    let mut browser = Browser::new();
    let callback = browser.through_provider(&s.app, &conn, "bob").await;
    let cookie = browser.cookies.get("ditto_sso").cloned().unwrap();
    let done = browser.get(&callback).await;
    assert_eq!(done.status, 302, "{}", done.body);
    browser.cookies.insert("ditto_sso".into(), cookie);
    let replay = browser.get(&callback).await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert_eq!(replay.problem(), "sso-invalid-state");

    // Another browser's callback with this browser's cookie: the state does
    // not match.
    let mut one = Browser::new();
    let mut two = Browser::new();
    let _ = one.through_provider(&s.app, &conn, "bob").await;
    let callback_two = two.through_provider(&s.app, &conn, "bob").await;
    let crossed = one.get(&callback_two).await;
    assert_eq!(crossed.problem(), "sso-invalid-state", "{}", crossed.body);

    // A return_to elsewhere is refused before anything starts.
    for bad in ["https://evil.example/", "//evil.example/x"] {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/auth/sso/{conn}/start", s.app.base),
            &[("return_to", bad)],
        )
        .unwrap();
        let answer = Browser::new().get(url.as_str()).await;
        assert_eq!(answer.status, 422, "{bad}: {}", answer.body);
    }
}

#[tokio::test]
async fn id_tokens_are_verified() {
    let s = setup("acme").await;

    // The nonce kept for this sign-in is not the one in the token.
    let conn = id(&connection(&s, "acme", "ditto", json!({})).await);
    let mut browser = Browser::new();
    let callback = browser.through_provider(&s.app, &conn, "eve").await;
    let mut db = s.app.db.connect().await;
    let changed =
        sqlx::query("UPDATE sso_logins SET nonce = 'not-the-nonce' WHERE used_at IS NULL")
            .execute(&mut db)
            .await
            .unwrap();
    assert_eq!(changed.rows_affected(), 1);
    let answer = browser.get(&callback).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert_eq!(answer.problem(), "sso-invalid-id-token");
    assert!(answer.body.contains("nonce"), "{}", answer.body);

    // Tokens the provider re-signed with one thing wrong.
    for (client, says) in [
        ("ditto-nonce", "nonce"),
        ("ditto-aud", "audience"),
        ("ditto-expired", "xpired"),
        ("ditto-badsig", "signature"),
    ] {
        let conn = id(&connection(&s, "acme", client, json!({})).await);
        let mut browser = Browser::new();
        let answer = browser.sign_in(&s.app, &conn, "eve").await;
        assert_eq!(answer.status, 401, "{client}: {}", answer.body);
        assert_eq!(answer.problem(), "sso-invalid-id-token", "{client}");
        assert!(
            answer.body.to_lowercase().contains(&says.to_lowercase()),
            "{client}: {}",
            answer.body
        );
        assert!(!browser.cookies.contains_key("ditto_session"), "{client}");
    }
    // Nobody was made by the refused sign-ins.
    let users = s
        .admin
        .get("/api/v1/tenants/acme/users?q=eve")
        .await
        .expect_status(200);
    assert_eq!(users["items"], json!([]));

    // A connection whose client id is not the one the provider issued for.
    let mismatched = connection(&s, "acme", "ditto-other", json!({})).await;
    let mut browser = Browser::new();
    let callback = browser
        .through_provider(&s.app, &id(&mismatched), "eve")
        .await;
    let mut db = s.app.db.connect().await;
    sqlx::query("UPDATE sso_connections SET client_id = 'ditto' WHERE id = $1::uuid")
        .bind(id(&mismatched))
        .execute(&mut db)
        .await
        .unwrap();
    let answer = browser.get(&callback).await;
    // The provider refuses to redeem another client's code.
    assert!(
        matches!(answer.status, 401 | 502),
        "{}: {}",
        answer.status,
        answer.body
    );
    assert!(!browser.cookies.contains_key("ditto_session"));
}

#[tokio::test]
async fn accounts_link_only_by_verified_email_and_disabled_users_stay_out() {
    let s = setup("acme").await;
    let conn = id(&connection(&s, "acme", "ditto", json!({"jit_provisioning": false})).await);

    // No account and no JIT.
    let answer = Browser::new().sign_in(&s.app, &conn, "nobody").await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert_eq!(answer.problem(), "sso-access-denied");

    // An account with the email, but the provider has not verified it.
    let user = s
        .admin
        .post(
            "/api/v1/tenants/acme/users",
            json!({"email": "grace@acme.example"}),
        )
        .await
        .expect_status(201);
    s.idp
        .set_account(
            "grace",
            json!({"email": "grace@acme.example", "email_verified": false}),
        )
        .await;
    let answer = Browser::new().sign_in(&s.app, &conn, "grace").await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(answer.body.contains("verified"), "{}", answer.body);

    // Verified by the provider, but in a domain the tenant has not verified:
    // no connection may claim the address.
    s.idp
        .set_account(
            "grace",
            json!({"email": "Grace@acme.example", "email_verified": true}),
        )
        .await;
    let answer = Browser::new().sign_in(&s.app, &conn, "grace").await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(answer.body.contains("domain"), "{}", answer.body);

    // Verified: linked to the existing account, no new user.
    verify_domain(&s.app, "acme", "acme.example").await;
    s.idp
        .set_account(
            "grace",
            json!({"email": "Grace@acme.example", "email_verified": true}),
        )
        .await;
    let mut browser = Browser::new();
    let answer = browser.sign_in(&s.app, &conn, "grace").await;
    assert_eq!(answer.status, 302, "{}", answer.body);
    let (_, me) = browser.api(&s.app).get("/api/v1/me").await;
    assert_eq!(me["subject_id"], user["id"]);

    // Disabled: refused, even through the link.
    s.admin
        .patch(
            &format!("/api/v1/tenants/acme/users/{}", id(&user)),
            json!({"status": "disabled"}),
        )
        .await
        .expect_status(200);
    let answer = Browser::new().sign_in(&s.app, &conn, "grace").await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(answer.body.contains("disabled"), "{}", answer.body);
}

#[tokio::test]
async fn a_disabled_connection_signs_nobody_in() {
    let s = setup("acme").await;
    let conn = id(&connection(&s, "acme", "ditto", json!({})).await);
    let path = format!("/api/v1/tenants/acme/sso-connections/{conn}");

    // Switched off between the start and the callback.
    let mut browser = Browser::new();
    let callback = browser.through_provider(&s.app, &conn, "kim").await;
    s.admin
        .patch(&path, json!({"enabled": false}))
        .await
        .expect_status(200);
    let answer = browser.get(&callback).await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    assert_eq!(answer.problem(), "sso-connection-unavailable");

    // And cannot be started.
    let answer = Browser::new()
        .get(&format!("{}/api/v1/auth/sso/{conn}/start", s.app.base))
        .await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.problem(), "sso-connection-unavailable");
    let unknown = Browser::new()
        .get(&format!(
            "{}/api/v1/auth/sso/{}/start",
            s.app.base,
            uuid::Uuid::now_v7()
        ))
        .await;
    assert_eq!(unknown.status, 404);

    // On again: works.
    s.admin
        .patch(&path, json!({"enabled": true}))
        .await
        .expect_status(200);
    let answer = Browser::new().sign_in(&s.app, &conn, "kim").await;
    assert_eq!(answer.status, 302, "{}", answer.body);
}
