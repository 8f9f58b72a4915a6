//! A password an administrator set is a temporary one: a session opened
//! with it may see who it is and choose a new password, and nothing else,
//! until the user has done so.

use ditto_testkit::TestApp;
use reqwest::Method;
use serde_json::json;

use super::sign_in::{Browser, PASSWORD, staff};

#[tokio::test]
async fn a_session_opened_with_an_administrators_password_may_only_change_it() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let user = staff(&app, "acme", "ada@acme.example", "admin").await;
    app.admin()
        .raw(
            Method::PUT,
            &format!("/api/v1/tenants/acme/users/{user}/password"),
            |r| r.json(&json!({"password": "temporary passphrase 1"})),
        )
        .await
        .expect_status(204);
    let mut browser = Browser::new(&app);
    let signed = browser
        .sign_in(
            "acme",
            "ada@acme.example",
            "temporary passphrase 1",
            json!({}),
        )
        .await
        .expect_status(200);
    assert_eq!(signed["must_change_password"], true);

    let me = browser.get("/api/v1/me").await.expect_status(200);
    assert_eq!(me["must_change_password"], true);
    for (method, path, body) in [
        (Method::GET, "/api/v1/tenants/acme/users", None),
        (Method::GET, "/api/v1/me/sessions", None),
        (
            Method::POST,
            "/api/v1/me/tokens",
            Some(json!({"name": "ci"})),
        ),
        (Method::POST, "/api/v1/me/totp", None),
        (
            Method::POST,
            "/api/v1/tenants/acme/projects",
            Some(json!({"name": "p"})),
        ),
    ] {
        let p = browser
            .send(method.clone(), path, body, true)
            .await
            .expect_problem(403);
        assert!(
            p["detail"].as_str().unwrap().contains("choose your own"),
            "{method} {path}: {p}"
        );
    }
    // A wrong current password is still refused.
    browser
        .post(
            "/api/v1/me/password",
            json!({"current_password": "not it", "new_password": PASSWORD}),
        )
        .await
        .expect_problem(422);
    browser
        .post(
            "/api/v1/me/password",
            json!({"current_password": "temporary passphrase 1", "new_password": PASSWORD}),
        )
        .await
        .expect_status(204);
    let me = browser.get("/api/v1/me").await.expect_status(200);
    assert_eq!(me["must_change_password"], false);
    browser
        .get("/api/v1/tenants/acme/users")
        .await
        .expect_status(200);
}

#[tokio::test]
async fn tokens_made_before_a_reset_are_not_held_by_the_temporary_password() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let user = staff(&app, "acme", "ada@acme.example", "admin").await;
    let mut browser = Browser::new(&app);
    browser
        .sign_in("acme", "ada@acme.example", PASSWORD, json!({}))
        .await
        .expect_status(200);
    let token = browser
        .post(
            "/api/v1/me/tokens",
            json!({"name": "ci", "expires_at": (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339()}),
        )
        .await
        .expect_status(201)["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    app.admin()
        .raw(
            Method::PUT,
            &format!("/api/v1/tenants/acme/users/{user}/password"),
            |r| r.json(&json!({"password": "temporary passphrase 1"})),
        )
        .await
        .expect_status(204);
    // The token was not opened with the temporary password.
    app.with_token(&token)
        .get("/api/v1/tenants/acme/users")
        .await
        .expect_status(200);
}
