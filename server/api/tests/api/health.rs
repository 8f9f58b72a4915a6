use ditto_testkit::TestApp;

#[tokio::test]
async fn liveness_and_readiness() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous();
    assert_eq!(
        anon.get("/healthz").await.expect_status(200)["status"],
        "ok"
    );
    let ready = anon.get("/readyz").await.expect_status(200);
    assert_eq!(ready["checks"][0]["name"], "database");
    assert_eq!(ready["checks"][0]["ok"], true);
}

#[tokio::test]
async fn readiness_fails_when_migrations_are_missing() {
    let app = TestApp::spawn().await;
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
    )
    .execute(app.store.pool())
    .await
    .unwrap();
    let body = app.anonymous().get("/readyz").await.expect_status(503);
    assert_eq!(body["checks"][0]["ok"], false);
    assert!(
        body["checks"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("not applied")
    );
}

#[tokio::test]
async fn every_response_has_a_request_id_and_errors_are_problems() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous();
    let missing = anon.get("/api/v1/nope").await;
    let id = missing.headers["x-request-id"].to_str().unwrap().to_owned();
    let body = missing.expect_problem(404);
    assert_eq!(body["request_id"], id.as_str());
    assert_eq!(body["instance"], "/api/v1/nope");

    anon.delete("/api/v1/tenants").await.expect_problem(405);

    // A caller's own request id is kept, so logs can be correlated.
    let echoed = anon
        .raw(reqwest::Method::GET, "/healthz", |r| {
            r.header("x-request-id", "abc-123")
        })
        .await;
    assert_eq!(echoed.headers["x-request-id"], "abc-123");
}

#[tokio::test]
async fn api_reference_and_spec_are_served_from_the_binary() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous();
    let spec = anon.get("/api/v1/openapi.json").await.expect_status(200);
    assert_eq!(spec["openapi"], "3.1.0");
    let page = anon.get("/api/v1/docs/").await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("swagger-ui"), "{}", page.text);
    let script = anon.get("/api/v1/docs/swagger-ui-bundle.js").await;
    assert_eq!(script.status, 200);
    assert!(
        script.text.len() > 100_000,
        "the bundle ships in the binary"
    );
}

#[tokio::test]
async fn readiness_checks_redis_when_configured() {
    let app = TestApp::spawn_with(ditto_testkit::Options {
        redis_url: Some(ditto_testkit::redis_url()),
        ..Default::default()
    })
    .await;
    let ready = app.anonymous().get("/readyz").await.expect_status(200);
    assert_eq!(ready["checks"][1]["name"], "redis");
    assert_eq!(ready["checks"][1]["ok"], true);

    // A Redis that is not there makes the replica not ready, with the reason.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let app = TestApp::spawn_with(ditto_testkit::Options {
        redis_url: Some(format!("redis://{closed}")),
        ..Default::default()
    })
    .await;
    let body = app.anonymous().get("/readyz").await.expect_status(503);
    assert_eq!(body["checks"][0]["ok"], true);
    assert_eq!(body["checks"][1]["ok"], false);
    assert!(
        body["checks"][1]["detail"]
            .as_str()
            .unwrap()
            .contains("Redis"),
        "{body}"
    );
}
