//! Secrets are shown once, in the response that creates them, and nowhere
//! else: not in later responses, not in errors, not in any log line.

use ditto_testkit::{BOOTSTRAP_TOKEN, TestApp, logs};
use serde_json::json;

#[tokio::test]
async fn secrets_never_reach_the_logs_or_other_responses() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let project = admin.project("acme", "p").await;
    let key = admin
        .post(
            "/api/v1/tenants/acme/api-keys",
            json!({"project_id": project, "name": "k"}),
        )
        .await
        .expect_status(201);
    let key_secret = key["secret"].as_str().unwrap().to_owned();
    let key_id = key["key"]["id"].as_str().unwrap().to_owned();
    let rotated = admin
        .post_empty(&format!("/api/v1/tenants/acme/api-keys/{key_id}/rotate"))
        .await
        .expect_status(200);
    let rotated_secret = rotated["secret"].as_str().unwrap().to_owned();

    let account = admin
        .post(
            "/api/v1/tenants/acme/service-accounts",
            json!({"name": "ci", "role": "admin"}),
        )
        .await
        .expect_status(201);
    let token = admin
        .post(
            &format!(
                "/api/v1/tenants/acme/service-accounts/{}/tokens",
                account["id"].as_str().unwrap()
            ),
            json!({"name": "t"}),
        )
        .await
        .expect_status(201);
    let token_secret = token["secret"].as_str().unwrap().to_owned();

    // Use the secrets where they could be echoed: as credentials, in bodies, in errors.
    let holder = app.with_token(&token_secret);
    holder
        .get("/api/v1/tenants/acme/api-keys")
        .await
        .expect_status(200);
    app.with_token(&key_secret)
        .get("/api/v1/tenants/acme")
        .await
        .expect_problem(401);
    let echo = admin
        .post(
            "/api/v1/tenants/acme/projects",
            json!({"name": key_secret.clone(), "bogus": token_secret.clone()}),
        )
        .await;
    assert_eq!(echo.status, 422);
    let mut responses = vec![echo.text];
    for path in [
        "/api/v1/tenants/acme/api-keys".to_owned(),
        format!("/api/v1/tenants/acme/api-keys/{key_id}"),
        format!(
            "/api/v1/tenants/acme/service-accounts/{}/tokens",
            account["id"].as_str().unwrap()
        ),
    ] {
        responses.push(admin.get(&path).await.text);
    }

    let logged = logs::captured();
    assert!(
        logged.contains("/api/v1/tenants/acme/api-keys"),
        "logs were captured"
    );
    for secret in [
        &key_secret,
        &rotated_secret,
        &token_secret,
        &BOOTSTRAP_TOKEN.to_owned(),
    ] {
        let secret_part = secret.rsplit('-').next().unwrap();
        assert!(!logged.contains(secret_part), "a secret reached the logs");
        for response in &responses {
            assert!(
                !response.contains(secret_part),
                "a secret reached a response: {response}"
            );
        }
    }
}
