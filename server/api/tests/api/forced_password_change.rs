//! A password an administrator set is a temporary one: a session opened
//! with it may see who it is and choose a new password, and nothing else,
//! until the user has done so.

use ditto_testkit::TestApp;
use reqwest::Method;
use serde_json::json;

use super::sign_in::{Browser, PASSWORD, in_a_month, signed_in, staff};

const TEMPORARY: &str = "temporary passphrase 1";

/// An administrator's reset, asking for a change (the default).
async fn reset_password(app: &TestApp, user: &str) {
    app.admin()
        .raw(
            Method::PUT,
            &format!("/api/v1/tenants/acme/users/{user}/password"),
            |r| r.json(&json!({ "password": TEMPORARY })),
        )
        .await
        .expect_status(204);
}

#[tokio::test]
async fn a_session_opened_with_an_administrators_password_may_only_change_it() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let user = staff(&app, "acme", "ada@acme.example", "admin").await;
    reset_password(&app, &user).await;
    let mut browser = Browser::new(&app);
    let signed = browser
        .sign_in("acme", "ada@acme.example", TEMPORARY, json!({}))
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
            json!({"current_password": TEMPORARY, "new_password": PASSWORD}),
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
    let (user, browser) = signed_in(&app, "ada@acme.example", "admin").await;
    let token = browser
        .post(
            "/api/v1/me/tokens",
            json!({"name": "ci", "expires_at": in_a_month()}),
        )
        .await
        .expect_status(201)["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    reset_password(&app, &user).await;
    // The token was not opened with the temporary password.
    app.with_token(&token)
        .get("/api/v1/tenants/acme/users")
        .await
        .expect_status(200);
    // …and says so, so the console does not send its holder to change it.
    let me = app
        .with_token(&token)
        .get("/api/v1/me")
        .await
        .expect_status(200);
    assert_eq!(me["must_change_password"], false);
}
