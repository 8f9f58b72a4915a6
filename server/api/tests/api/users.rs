use ditto_testkit::TestApp;
use serde_json::json;

#[tokio::test]
async fn user_lifecycle() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let member = app.tenant_member("acme").await;
    let base = "/api/v1/tenants/acme/users";
    let created = member
        .post(
            base,
            json!({"email": "ada@acme.example", "external_id": "okta-123"}),
        )
        .await
        .expect_status(201);
    assert_eq!(
        created["display_name"], "ada",
        "defaults to the email's local part"
    );
    assert_eq!(created["status"], "active");
    let id = created["id"].as_str().unwrap();

    let disabled = member
        .patch(
            &format!("{base}/{id}"),
            json!({"status": "disabled", "display_name": "Ada L."}),
        )
        .await
        .expect_status(200);
    assert_eq!(disabled["status"], "disabled");
    assert_eq!(disabled["external_id"], "okta-123");

    let active = member
        .get(&format!("{base}?status=active"))
        .await
        .expect_status(200);
    assert!(active["items"].as_array().unwrap().is_empty());
    let found = member
        .get(&format!("{base}?q=ADA"))
        .await
        .expect_status(200);
    assert_eq!(found["items"][0]["id"], id);

    member
        .delete(&format!("{base}/{id}"))
        .await
        .expect_status(204);
    member
        .get(&format!("{base}/{id}"))
        .await
        .expect_problem(404);
}

#[tokio::test]
async fn emails_and_external_ids_are_unique_per_tenant() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let admin = app.admin();
    admin
        .post(
            "/api/v1/tenants/acme/users",
            json!({"email": "Ada@Acme.example", "external_id": "x1"}),
        )
        .await
        .expect_status(201);
    let body = admin
        .post(
            "/api/v1/tenants/acme/users",
            json!({"email": "ada@acme.example"}),
        )
        .await
        .expect_problem(409);
    assert_eq!(
        body["detail"],
        "a user with this email already exists in this tenant"
    );
    admin
        .post(
            "/api/v1/tenants/acme/users",
            json!({"email": "b@acme.example", "external_id": "x1"}),
        )
        .await
        .expect_problem(409);
    admin
        .post(
            "/api/v1/tenants/globex/users",
            json!({"email": "ada@acme.example", "external_id": "x1"}),
        )
        .await
        .expect_status(201);
}

#[tokio::test]
async fn invalid_users_are_refused() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let fields = admin
        .post(
            "/api/v1/tenants/acme/users",
            json!({"email": "not-an-email", "display_name": ""}),
        )
        .await
        .invalid_fields();
    assert_eq!(fields, ["/email", "/display_name"]);
    let fields = admin
        .post(
            "/api/v1/tenants/acme/users",
            json!({"email": "a@b.example", "status": "active"}),
        )
        .await
        .invalid_fields();
    assert_eq!(fields, ["/status"], "status is not settable on create");
    let fields = admin
        .get("/api/v1/tenants/acme/users?sort=-email&limit=500")
        .await
        .invalid_fields();
    assert_eq!(fields, ["limit"]);
}

#[tokio::test]
async fn users_paginate_by_email() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    for name in ["carol", "alice", "bob", "dave"] {
        admin
            .post(
                "/api/v1/tenants/acme/users",
                json!({"email": format!("{name}@acme.example")}),
            )
            .await
            .expect_status(201);
    }
    let users = admin
        .collect("/api/v1/tenants/acme/users?sort=-email", 1)
        .await;
    let emails: Vec<&str> = users.iter().map(|u| u["email"].as_str().unwrap()).collect();
    assert_eq!(
        emails,
        [
            "dave@acme.example",
            "carol@acme.example",
            "bob@acme.example",
            "alice@acme.example"
        ]
    );
}
