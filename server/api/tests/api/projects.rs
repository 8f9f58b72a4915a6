use ditto_testkit::TestApp;
use serde_json::json;

#[tokio::test]
async fn project_lifecycle() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let member = app.tenant_member("acme").await;
    let base = "/api/v1/tenants/acme/projects";
    let created = member
        .post(
            base,
            json!({"name": "Search", "description": "semantic search"}),
        )
        .await
        .expect_status(201);
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["description"], "semantic search");

    let got = member.get(&format!("{base}/{id}")).await.expect_status(200);
    assert_eq!(got, created);
    let updated = member
        .patch(&format!("{base}/{id}"), json!({"description": "v2"}))
        .await
        .expect_status(200);
    assert_eq!(updated["name"], "Search");
    assert_eq!(updated["description"], "v2");

    member
        .delete(&format!("{base}/{id}"))
        .await
        .expect_status(204);
    member
        .get(&format!("{base}/{id}"))
        .await
        .expect_problem(404);
    member
        .get(&format!("{base}/not-a-uuid"))
        .await
        .expect_problem(404);
}

#[tokio::test]
async fn project_names_are_unique_per_tenant_ignoring_case() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let admin = app.admin();
    admin
        .post("/api/v1/tenants/acme/projects", json!({"name": "Chat"}))
        .await
        .expect_status(201);
    let body = admin
        .post("/api/v1/tenants/acme/projects", json!({"name": "chat"}))
        .await
        .expect_problem(409);
    assert_eq!(
        body["detail"],
        "a project with this name already exists in this tenant"
    );
    admin
        .post("/api/v1/tenants/globex/projects", json!({"name": "Chat"}))
        .await
        .expect_status(201);

    let other = admin
        .post("/api/v1/tenants/acme/projects", json!({"name": "Other"}))
        .await
        .expect_status(201);
    admin
        .patch(
            &format!(
                "/api/v1/tenants/acme/projects/{}",
                other["id"].as_str().unwrap()
            ),
            json!({"name": "CHAT"}),
        )
        .await
        .expect_problem(409);
}

#[tokio::test]
async fn invalid_projects_are_refused() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let fields = admin
        .post(
            "/api/v1/tenants/acme/projects",
            json!({"name": "  ", "description": "d".repeat(1001)}),
        )
        .await
        .invalid_fields();
    assert_eq!(fields, ["/name", "/description"]);
    let fields = admin
        .post(
            "/api/v1/tenants/acme/projects",
            json!({"name": "a\u{0007}b"}),
        )
        .await
        .invalid_fields();
    assert_eq!(fields, ["/name"]);
    admin
        .post("/api/v1/tenants/nope/projects", json!({"name": "x"}))
        .await
        .expect_problem(404);
}

#[tokio::test]
async fn projects_paginate_and_filter() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    for i in 0..7 {
        admin
            .post(
                "/api/v1/tenants/acme/projects",
                json!({"name": format!("project-{i}")}),
            )
            .await
            .expect_status(201);
    }
    let all = admin
        .collect("/api/v1/tenants/acme/projects?sort=name", 3)
        .await;
    let names: Vec<&str> = all.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        (0..7).map(|i| format!("project-{i}")).collect::<Vec<_>>()
    );
    let oldest = admin
        .collect("/api/v1/tenants/acme/projects?sort=created_at", 4)
        .await;
    assert_eq!(oldest.len(), 7);
    assert_eq!(oldest[0]["name"], "project-0");
    let found = admin
        .get("/api/v1/tenants/acme/projects?q=ject-3")
        .await
        .expect_status(200);
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
}
