use ditto_testkit::TestApp;
use serde_json::json;

#[tokio::test]
async fn backend_credentials_are_write_only_and_encrypted() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let base = "/api/v1/tenants/acme/backends";
    let created = admin
        .post(base, json!({"name": "openai", "base_url": "https://api.openai.com/v1/", "credentials": "sk-secret-value-123"}))
        .await;
    assert!(!created.text.contains("sk-secret-value-123"));
    let created = created.expect_status(201);
    assert_eq!(
        created["base_url"], "https://api.openai.com/v1",
        "trailing slash removed"
    );
    assert_eq!(created["has_credentials"], true);
    assert_eq!(created["timeout_ms"], 60000);
    let id = created["id"].as_str().unwrap();
    let stored: Vec<u8> = sqlx::query_scalar("SELECT credentials FROM backends")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert!(
        !stored.windows(19).any(|w| w == b"sk-secret-value-123"),
        "stored in clear"
    );

    let got = admin.get(&format!("{base}/{id}")).await;
    assert!(!got.text.contains("sk-secret"));
    let cleared = admin
        .patch(
            &format!("{base}/{id}"),
            json!({"clear_credentials": true, "timeout_ms": 1000, "max_in_flight": 5}),
        )
        .await
        .expect_status(200);
    assert_eq!(cleared["has_credentials"], false);
    assert_eq!(cleared["max_in_flight"], 5);
    admin
        .delete(&format!("{base}/{id}"))
        .await
        .expect_status(204);
    admin.get(&format!("{base}/{id}")).await.expect_problem(404);
}

#[tokio::test]
async fn invalid_backends_are_refused() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let base = "/api/v1/tenants/acme/backends";
    let fields = admin
        .post(
            base,
            json!({"name": "", "base_url": "ftp://x", "timeout_ms": 5, "credentials": "has space"}),
        )
        .await
        .invalid_fields();
    assert_eq!(
        fields,
        ["/name", "/base_url", "/credentials", "/timeout_ms"]
    );
    let body = admin
        .post(
            base,
            json!({"name": "x", "base_url": "https://user:pw@api.example.com/v1"}),
        )
        .await
        .expect_problem(422);
    assert_eq!(body["errors"][0]["code"], "credentials_in_url");
    let fields = admin
        .post(
            base,
            json!({"name": "x", "base_url": "https://a.example/v1", "provider": "bard"}),
        )
        .await
        .invalid_fields();
    assert_eq!(fields, ["/provider"]);
    admin
        .post(
            base,
            json!({"name": "dup", "base_url": "https://a.example/v1"}),
        )
        .await
        .expect_status(201);
    admin
        .post(
            base,
            json!({"name": "DUP", "base_url": "https://b.example/v1"}),
        )
        .await
        .expect_problem(409);
}

#[tokio::test]
async fn routes_lifecycle_and_validation() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let backend = |name: &'static str| {
        let admin = admin.clone();
        async move {
            admin
                .post(
                    "/api/v1/tenants/acme/backends",
                    json!({"name": name, "base_url": "https://a.example/v1"}),
                )
                .await
                .expect_status(201)["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let (a, b) = (backend("a").await, backend("b").await);
    let base = "/api/v1/tenants/acme/routes";
    let route = admin
        .post(
            base,
            json!({"model": "gpt-4o", "aliases": ["smart"], "targets": [{"backend_id": a, "weight": 3}, {"backend_id": b}],
                   "fallbacks": [{"backend_id": b, "upstream_model": "gpt-4o-mini"}]}),
        )
        .await
        .expect_status(201);
    assert_eq!(route["targets"][1]["weight"], 1, "weight defaults to 1");
    assert_eq!(route["fallbacks"][0]["upstream_model"], "gpt-4o-mini");
    let id = route["id"].as_str().unwrap();

    let updated = admin
        .patch(
            &format!("{base}/{id}"),
            json!({"targets": [{"backend_id": b}]}),
        )
        .await
        .expect_status(200);
    assert_eq!(updated["targets"].as_array().unwrap().len(), 1);
    assert_eq!(
        updated["fallbacks"], route["fallbacks"],
        "untouched parts stay"
    );
    assert_eq!(updated["aliases"], json!(["smart"]));

    // A backend in use cannot be deleted.
    let body = admin
        .delete(&format!("/api/v1/tenants/acme/backends/{b}"))
        .await
        .expect_problem(409);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("routes still send traffic")
    );
    admin
        .delete(&format!("/api/v1/tenants/acme/backends/{a}"))
        .await
        .expect_status(204);

    admin
        .post(
            base,
            json!({"model": "gpt-4o", "targets": [{"backend_id": b}]}),
        )
        .await
        .expect_problem(409);
    let fields = admin
        .post(
            base,
            json!({"model": "has space", "aliases": ["x*"], "targets": []}),
        )
        .await
        .invalid_fields();
    assert_eq!(fields, ["/model", "/aliases/0", "/targets"]);
    let fields = admin
        .post(base, json!({"model": "m", "targets": [{"backend_id": uuid::Uuid::now_v7()}], "fallbacks": [{"backend_id": a}]}))
        .await
        .invalid_fields();
    assert_eq!(fields, ["/targets/0/backend_id", "/fallbacks/0/backend_id"]);
    let fields = admin
        .post(
            base,
            json!({"model": "m", "targets": [{"backend_id": b, "weight": 0}]}),
        )
        .await
        .invalid_fields();
    assert_eq!(fields, ["/targets"]);

    admin
        .delete(&format!("{base}/{id}"))
        .await
        .expect_status(204);
    admin.get(&format!("{base}/{id}")).await.expect_problem(404);
}

#[tokio::test]
async fn backends_and_routes_paginate() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let mut first = None;
    for name in ["c", "a", "b"] {
        let id = admin
            .post(
                "/api/v1/tenants/acme/backends",
                json!({"name": name, "base_url": "https://a.example/v1"}),
            )
            .await
            .expect_status(201)["id"]
            .clone();
        first.get_or_insert(id.clone());
        admin
            .post(
                "/api/v1/tenants/acme/routes",
                json!({"model": format!("model-{name}"), "targets": [{"backend_id": id}]}),
            )
            .await
            .expect_status(201);
    }
    let names: Vec<String> = admin
        .collect("/api/v1/tenants/acme/backends?sort=name", 1)
        .await
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    let models: Vec<String> = admin
        .collect("/api/v1/tenants/acme/routes?sort=-model", 2)
        .await
        .iter()
        .map(|r| r["model"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(models, ["model-c", "model-b", "model-a"]);
    let found = admin
        .get("/api/v1/tenants/acme/routes?q=EL-B")
        .await
        .expect_status(200);
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    assert!(!found["items"][0]["targets"].as_array().unwrap().is_empty());
}
