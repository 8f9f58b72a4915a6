use ditto_testkit::TestApp;
use serde_json::json;

#[tokio::test]
async fn service_accounts_and_their_tokens() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let base = "/api/v1/tenants/acme/service-accounts";
    let account = admin
        .post(
            base,
            json!({"name": "ci", "description": "deploys", "role": "viewer"}),
        )
        .await
        .expect_status(201);
    let id = account["id"].as_str().unwrap();
    assert_eq!(account["disabled"], false);
    assert_eq!(
        account["tenant_id"],
        admin.get("/api/v1/tenants/acme").await.body["id"]
    );

    let created = admin
        .post(&format!("{base}/{id}/tokens"), json!({"name": "github"}))
        .await
        .expect_status(201);
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("dat-"));
    assert!(secret.starts_with(created["token"]["prefix"].as_str().unwrap()));
    let token_id = created["token"]["id"].as_str().unwrap();

    // The token works, and is recorded as used.
    let holder = app.with_token(&secret);
    holder
        .get("/api/v1/tenants/acme/projects")
        .await
        .expect_status(200);
    let tokens = admin
        .get(&format!("{base}/{id}/tokens"))
        .await
        .expect_status(200);
    assert!(tokens["items"][0]["last_used_at"].is_string());
    assert!(
        !tokens.to_string().contains(&secret[4..]),
        "lists never show secrets"
    );

    // Disabling the account locks the token out; enabling lets it back in.
    admin
        .patch(&format!("{base}/{id}"), json!({"disabled": true}))
        .await
        .expect_status(200);
    holder
        .get("/api/v1/tenants/acme/projects")
        .await
        .expect_problem(401);
    admin
        .patch(&format!("{base}/{id}"), json!({"disabled": false}))
        .await
        .expect_status(200);
    holder
        .get("/api/v1/tenants/acme/projects")
        .await
        .expect_status(200);

    // Revoking is immediate and idempotent.
    let revoked = admin
        .post_empty(&format!("{base}/{id}/tokens/{token_id}/revoke"))
        .await
        .expect_status(200);
    let again = admin
        .post_empty(&format!("{base}/{id}/tokens/{token_id}/revoke"))
        .await
        .expect_status(200);
    assert_eq!(revoked["revoked_at"], again["revoked_at"]);
    holder
        .get("/api/v1/tenants/acme/projects")
        .await
        .expect_problem(401);

    admin
        .delete(&format!("{base}/{id}"))
        .await
        .expect_status(204);
    admin.get(&format!("{base}/{id}")).await.expect_problem(404);
    admin
        .get(&format!("{base}/{id}/tokens"))
        .await
        .expect_problem(404);
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let holder = app.tenant_member("acme").await;
    holder.get("/api/v1/tenants/acme").await.expect_status(200);
    sqlx::query("UPDATE access_tokens SET expires_at = now() - interval '1 second' WHERE tenant_id IS NOT NULL")
        .execute(app.store.pool())
        .await
        .unwrap();
    let body = holder.get("/api/v1/tenants/acme").await.expect_problem(401);
    assert_eq!(body["detail"], "the token is invalid, expired or revoked");
}

#[tokio::test]
async fn invalid_service_accounts_and_tokens_are_refused() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let base = "/api/v1/tenants/acme/service-accounts";
    assert_eq!(
        admin.post(base, json!({"name": ""})).await.invalid_fields(),
        ["/name"]
    );
    let account = admin
        .post(base, json!({"name": "ci"}))
        .await
        .expect_status(201);
    admin
        .post(base, json!({"name": "CI"}))
        .await
        .expect_problem(409);
    let fields = admin
        .post(
            &format!("{base}/{}/tokens", account["id"].as_str().unwrap()),
            json!({"name": "t", "expires_at": "2001-01-01T00:00:00Z"}),
        )
        .await
        .invalid_fields();
    assert_eq!(fields, ["/expires_at"]);
    let fields = admin
        .post(
            &format!("{base}/{}/tokens", account["id"].as_str().unwrap()),
            json!({"name": "t", "expires_at": "soon"}),
        )
        .await
        .invalid_fields();
    assert_eq!(fields, ["/expires_at"]);
}

#[tokio::test]
async fn service_accounts_paginate() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    for i in 0..5 {
        admin
            .post(
                "/api/v1/tenants/acme/service-accounts",
                json!({"name": format!("sa-{i}")}),
            )
            .await
            .expect_status(201);
    }
    let all = admin
        .collect("/api/v1/tenants/acme/service-accounts?sort=name", 2)
        .await;
    let names: Vec<&str> = all.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["sa-0", "sa-1", "sa-2", "sa-3", "sa-4"]);
}
