use ditto_testkit::TestApp;
use serde_json::json;

#[tokio::test]
async fn tenant_lifecycle() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let created = admin
        .post(
            "/api/v1/tenants",
            json!({"slug": "acme", "name": "  Acme Corp  "}),
        )
        .await
        .expect_status(201);
    assert_eq!(created["slug"], "acme");
    assert_eq!(created["name"], "Acme Corp", "names are trimmed");
    assert_eq!(created["status"], "active");
    let id = created["id"].as_str().unwrap();

    assert_eq!(
        admin.get("/api/v1/tenants/acme").await.expect_status(200)["id"],
        id
    );
    assert_eq!(
        admin
            .get(&format!("/api/v1/tenants/{id}"))
            .await
            .expect_status(200)["slug"],
        "acme"
    );

    let renamed = admin
        .patch("/api/v1/tenants/acme", json!({"name": "Acme Inc"}))
        .await
        .expect_status(200);
    assert_eq!(renamed["name"], "Acme Inc");
    assert_eq!(renamed["slug"], "acme");

    let suspended = admin
        .post_empty("/api/v1/tenants/acme/suspend")
        .await
        .expect_status(200);
    assert_eq!(suspended["status"], "suspended");
    let listed = admin
        .get("/api/v1/tenants?status=suspended")
        .await
        .expect_status(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let resumed = admin
        .post_empty("/api/v1/tenants/acme/resume")
        .await
        .expect_status(200);
    assert_eq!(resumed["status"], "active");

    admin
        .delete("/api/v1/tenants/acme")
        .await
        .expect_status(204);
    admin.get("/api/v1/tenants/acme").await.expect_problem(404);
    admin
        .delete("/api/v1/tenants/acme")
        .await
        .expect_problem(404);
}

#[tokio::test]
async fn deleting_a_tenant_removes_what_it_owns() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let project = admin.project("acme", "p").await;
    admin
        .post(
            "/api/v1/tenants/acme/api-keys",
            json!({"project_id": project, "name": "k"}),
        )
        .await
        .expect_status(201);
    admin
        .post(
            "/api/v1/tenants/acme/budgets",
            json!({"scope": "project", "scope_id": project, "period": "daily", "max_tokens": 10}),
        )
        .await
        .expect_status(201);
    admin
        .post(
            "/api/v1/tenants/acme/rate-limits",
            json!({"scope": "tenant", "rpm": 10}),
        )
        .await
        .expect_status(201);
    admin
        .raw(
            reqwest::Method::PUT,
            "/api/v1/tenants/acme/model-prices/m",
            |r| {
                r.json(&json!({"input_usd_per_million_tokens": "1", "output_usd_per_million_tokens": "1"}))
            },
        )
        .await
        .expect_status(201);
    sqlx::query(
        "INSERT INTO usage_rollups (tenant_id, bucket, key_id, project_id, model, requests, errors,
             prompt_tokens, completion_tokens, cached_tokens, cost_pico)
         SELECT id, now(), gen_random_uuid(), gen_random_uuid(), 'm', 1, 0, 1, 1, 0, 1 FROM tenants",
    )
    .execute(app.store.pool())
    .await
    .unwrap();
    admin
        .delete("/api/v1/tenants/acme")
        .await
        .expect_status(204);
    let left: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM api_keys) + (SELECT count(*) FROM projects)
             + (SELECT count(*) FROM budgets) + (SELECT count(*) FROM rate_limits)
             + (SELECT count(*) FROM tenant_model_prices) + (SELECT count(*) FROM usage_rollups)",
    )
    .fetch_one(app.store.pool())
    .await
    .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn invalid_tenants_are_refused_with_field_errors() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let fields = admin
        .post("/api/v1/tenants", json!({"slug": "Bad Slug", "name": ""}))
        .await
        .invalid_fields();
    assert_eq!(fields, ["/slug", "/name"]);
    for (body, field) in [
        (json!({"name": "x"}), "/slug"),
        (
            json!({"slug": "acme", "name": "x", "colour": "red"}),
            "/colour",
        ),
        (json!({"slug": 5, "name": "x"}), "/slug"),
        (json!({"slug": "api", "name": "x"}), "/slug"),
        (json!({"slug": "acme", "name": "x".repeat(201)}), "/name"),
    ] {
        let fields = admin
            .post("/api/v1/tenants", body.clone())
            .await
            .invalid_fields();
        assert_eq!(fields, [field], "{body}");
    }
    admin
        .patch("/api/v1/tenants/nope", json!({"name": "x"}))
        .await
        .expect_problem(404);
}

#[tokio::test]
async fn tenant_time_zones_default_to_utc_and_are_checked() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    assert_eq!(app.tenant("acme").await["time_zone"], "UTC");
    let paris = admin
        .post(
            "/api/v1/tenants",
            json!({"slug": "paris", "name": "Paris", "time_zone": "Europe/Paris"}),
        )
        .await
        .expect_status(201);
    assert_eq!(paris["time_zone"], "Europe/Paris");
    let fields = admin
        .post(
            "/api/v1/tenants",
            json!({"slug": "mars", "name": "Mars", "time_zone": "Mars/Olympus_Mons"}),
        )
        .await
        .invalid_fields();
    assert_eq!(fields, ["/time_zone"]);
    let moved = admin
        .patch(
            "/api/v1/tenants/acme",
            json!({"time_zone": "America/Argentina/Buenos_Aires"}),
        )
        .await
        .expect_status(200);
    assert_eq!(moved["time_zone"], "America/Argentina/Buenos_Aires");
    assert_eq!(moved["name"], "acme", "other fields stay");
    let renamed = admin
        .patch("/api/v1/tenants/acme", json!({"name": "Acme"}))
        .await
        .expect_status(200);
    assert_eq!(renamed["time_zone"], "America/Argentina/Buenos_Aires");
    let fields = admin
        .patch("/api/v1/tenants/acme", json!({"time_zone": ""}))
        .await
        .invalid_fields();
    assert_eq!(fields, ["/time_zone"]);
    // Tenant members read their zone but cannot change it.
    let member = app.tenant_member("acme").await;
    assert_eq!(
        member.get("/api/v1/tenants/acme").await.expect_status(200)["time_zone"],
        "America/Argentina/Buenos_Aires"
    );
    member
        .patch("/api/v1/tenants/acme", json!({"time_zone": "UTC"}))
        .await
        .expect_problem(403);
}

#[tokio::test]
async fn malformed_requests_get_clear_problems() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let syntax = admin
        .raw(reqwest::Method::POST, "/api/v1/tenants", |r| {
            r.header("content-type", "application/json")
                .body("{\"slug\": ")
        })
        .await
        .expect_problem(400);
    assert!(
        syntax["detail"].as_str().unwrap().contains("EOF"),
        "{syntax}"
    );
    admin
        .raw(reqwest::Method::POST, "/api/v1/tenants", |r| {
            r.body("slug=acme")
        })
        .await
        .expect_problem(415);
    let huge = json!({"slug": "acme", "name": "x".repeat(ditto_api::MAX_BODY_BYTES)});
    admin
        .post("/api/v1/tenants", huge)
        .await
        .expect_problem(413);
    let fields = admin
        .get("/api/v1/tenants?limit=abc")
        .await
        .invalid_fields();
    assert_eq!(fields, ["query"]);
    let fields = admin.get("/api/v1/tenants?limit=0").await.invalid_fields();
    assert_eq!(fields, ["limit"]);
    let fields = admin
        .get("/api/v1/tenants?status=gone")
        .await
        .invalid_fields();
    assert_eq!(fields, ["query"]);
    let fields = admin
        .get("/api/v1/tenants?sort=colour")
        .await
        .invalid_fields();
    assert_eq!(fields, ["sort"]);
    let fields = admin
        .get("/api/v1/tenants?cursor=garbage")
        .await
        .invalid_fields();
    assert_eq!(fields, ["cursor"]);
}

#[tokio::test]
async fn duplicate_slugs_conflict() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let body = app
        .admin()
        .post("/api/v1/tenants", json!({"slug": "acme", "name": "Other"}))
        .await
        .expect_problem(409);
    assert_eq!(body["detail"], "a tenant with this slug already exists");
}

#[tokio::test]
async fn tenants_paginate_with_stable_cursors_and_sorts() {
    let app = TestApp::spawn().await;
    let slugs = ["delta", "alpha", "echo", "charlie", "bravo"];
    for slug in slugs {
        app.tenant(slug).await;
    }
    let admin = app.admin();
    let newest_first: Vec<String> = admin
        .collect("/api/v1/tenants", 2)
        .await
        .iter()
        .map(|t| t["slug"].as_str().unwrap().to_owned())
        .collect();
    let mut expected: Vec<String> = slugs.iter().rev().map(|s| s.to_string()).collect();
    assert_eq!(newest_first, expected);

    let by_name: Vec<String> = admin
        .collect("/api/v1/tenants?sort=slug", 2)
        .await
        .iter()
        .map(|t| t["slug"].as_str().unwrap().to_owned())
        .collect();
    expected.sort();
    assert_eq!(by_name, expected);

    let descending: Vec<String> = admin
        .collect("/api/v1/tenants?sort=-name", 3)
        .await
        .iter()
        .map(|t| t["slug"].as_str().unwrap().to_owned())
        .collect();
    expected.reverse();
    assert_eq!(descending, expected);

    let found = admin.get("/api/v1/tenants?q=HAR").await.expect_status(200);
    assert_eq!(found["items"][0]["slug"], "charlie");
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    // Wildcards in the search term match literally.
    let none = admin.get("/api/v1/tenants?q=%25").await.expect_status(200);
    assert!(none["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn tenant_members_cannot_manage_tenants_and_suspension_locks_them_out() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let member = app.tenant_member("acme").await;
    member.get("/api/v1/tenants").await.expect_problem(403);
    member
        .post("/api/v1/tenants", json!({"slug": "evil", "name": "x"}))
        .await
        .expect_problem(403);
    member
        .post_empty("/api/v1/tenants/acme/suspend")
        .await
        .expect_problem(403);
    member
        .get("/api/v1/tenants/acme/projects")
        .await
        .expect_status(200);

    app.admin()
        .post_empty("/api/v1/tenants/acme/suspend")
        .await
        .expect_status(200);
    let body = member
        .get("/api/v1/tenants/acme/projects")
        .await
        .expect_problem(403);
    assert_eq!(body["detail"], "this tenant is suspended");
    // The platform can still look after a suspended tenant.
    app.admin()
        .get("/api/v1/tenants/acme/projects")
        .await
        .expect_status(200);
}
