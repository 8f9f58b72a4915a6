//! When things go wrong or run long: retries and fallback, breakers and
//! health checks, in-flight limits, oversized bodies, host-based tenancy,
//! a database that goes away, resyncs, cancelled streams, and metrics.

use std::time::{Duration, Instant};

use ditto_mock_upstream::Behaviour;
use ditto_testkit::{Options, quick_gateway_config};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::*;

#[tokio::test]
async fn retries_and_falls_back_on_upstream_failures() {
    let w = world().await;
    let admin = w.app.admin();
    let spare = mock().await;
    let spare_id = backend(&admin, "acme", "spare", &spare, json!({})).await;
    w.patch_route(json!({"fallbacks": [{"backend_id": spare_id}]}))
        .await;

    w.mock.set(Behaviour {
        require_bearer: Some(UPSTREAM_SECRET.into()),
        fail_next: 1,
        fail_status: Some(503),
        ..Behaviour::default()
    });
    let resp = w.client.chat("gpt-4o").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ditto-attempts"], "2");
    assert_eq!(resp.headers()["x-ditto-backend"], "spare");
    assert_eq!((w.mock.chat_calls(), spare.chat_calls()), (1, 1));

    // Client errors are the client's: passed back, not retried.
    w.mock.set(Behaviour {
        require_bearer: Some(UPSTREAM_SECRET.into()),
        fail_next: 1,
        fail_status: Some(400),
        ..Behaviour::default()
    });
    assert_eq!(w.client.chat("gpt-4o").await.status(), 400);
    assert_eq!(spare.chat_calls(), 1);

    // When every backend fails, the last upstream answer comes back.
    spare.set(Behaviour {
        fail_rate: 1.0,
        fail_status: Some(502),
        ..Behaviour::default()
    });
    w.mock.set(Behaviour {
        fail_rate: 1.0,
        fail_status: Some(500),
        ..Behaviour::default()
    });
    let resp = w.client.chat("gpt-4o").await;
    assert_eq!(resp.status(), 502);
    assert_eq!(resp.headers()["x-ditto-attempts"], "2");
}

#[tokio::test]
async fn unreachable_backends_fail_over_and_open_their_breaker() {
    let w = world().await;
    let admin = w.app.admin();
    let spare = mock().await;
    let spare_id = backend(&admin, "acme", "spare", &spare, json!({})).await;
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dead = admin
        .post(
            "/api/v1/tenants/acme/backends",
            json!({"name": "dead", "base_url": format!("http://{closed_port}/v1")}),
        )
        .await
        .expect_status(201)["id"]
        .clone();
    w.patch_route(json!({"targets": [{"backend_id": w.backend, "weight": 1}], "fallbacks": [{"backend_id": dead}, {"backend_id": spare_id}]})).await;

    // The primary fails (500) and trips its breaker after 3 failures.
    w.mock.set(Behaviour {
        fail_rate: 1.0,
        ..Behaviour::default()
    });
    for _ in 0..3 {
        let resp = w.client.chat("gpt-4o").await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-ditto-backend"], "spare");
    }
    let primary_calls = w.mock.chat_calls();
    assert_eq!(primary_calls, 3);
    // Open: the primary and the dead backend are skipped without a call.
    let resp = w.client.chat("gpt-4o").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ditto-attempts"], "1");
    assert_eq!(w.mock.chat_calls(), primary_calls);

    // After the cooldown one probe goes through; it succeeds and closes the breaker.
    w.mock.set(Behaviour {
        require_bearer: Some(UPSTREAM_SECRET.into()),
        ..Behaviour::default()
    });
    tokio::time::sleep(Duration::from_millis(350)).await;
    let resp = w.client.chat("gpt-4o").await;
    assert_eq!(resp.headers()["x-ditto-backend"], "primary");
    let resp = w.client.chat("gpt-4o").await;
    assert_eq!(resp.headers()["x-ditto-backend"], "primary");
}

#[tokio::test]
async fn in_flight_limits_answer_429() {
    let w = world().await;
    let admin = w.app.admin();
    admin
        .patch(
            &format!("/api/v1/tenants/acme/backends/{}", w.backend),
            json!({"max_in_flight": 1}),
        )
        .await
        .expect_status(200);
    w.app.gateway_caught_up("acme").await;
    w.mock.set(Behaviour {
        require_bearer: Some(UPSTREAM_SECRET.into()),
        latency_ms: 400,
        ..Behaviour::default()
    });
    let (a, b) = tokio::join!(w.client.chat("gpt-4o"), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        w.client.chat("gpt-4o").await
    });
    assert_eq!(a.status(), 200);
    assert_eq!(b.status(), 429);
    assert_eq!(
        b.json::<Value>().await.unwrap()["error"]["code"],
        "backend_at_capacity"
    );
    // The slot is given back when the first request ends.
    assert_eq!(w.client.chat("gpt-4o").await.status(), 200);
}

#[tokio::test]
async fn oversized_bodies_get_a_clear_413() {
    let mut gateway = quick_gateway_config();
    gateway.max_body_bytes = 1024;
    let w = world_with(Options {
        gateway,
        ..Options::default()
    })
    .await;
    let resp = w
        .client
        .post(
            "chat/completions",
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x".repeat(2000)}]}),
        )
        .await;
    assert_eq!(resp.status(), 413);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["code"],
        "request_too_large"
    );
}

#[tokio::test]
async fn host_based_tenancy() {
    let mut gateway = quick_gateway_config();
    gateway.base_domain = Some("ai.test".into());
    let w = world_with(Options {
        gateway,
        ..Options::default()
    })
    .await;
    let models_on = |host: &'static str| {
        w.client
            .http
            .get(format!("{}/v1/models", w.app.base))
            .header("host", host)
            .bearer_auth(&w.client.key)
            .send()
    };
    assert_eq!(models_on("acme.ai.test").await.unwrap().status(), 200);
    assert_eq!(models_on("globex.ai.test").await.unwrap().status(), 401);
}

#[tokio::test]
async fn keeps_serving_while_the_database_is_down_and_loses_no_usage() {
    let w = world().await;
    assert_eq!(w.client.chat("gpt-4o").await.status(), 200);

    let away = take_database_away(&w.app).await;
    for _ in 0..5 {
        assert_eq!(
            w.client.chat("gpt-4o").await.status(),
            200,
            "served from the snapshot"
        );
    }
    assert!(
        w.app.store.readiness().await.is_err(),
        "the database really is unreachable"
    );

    bring_database_back(&w.app, &away).await;
    let rows = usage_rows(&w.app, 7).await;
    let chats = rows
        .iter()
        .filter(|r| r["endpoint"] == "chat/completions")
        .count();
    assert_eq!(chats, 6, "every request during the outage was recorded");
}

#[tokio::test]
async fn active_health_checks_open_and_close_breakers_without_user_traffic() {
    let mut gateway = quick_gateway_config();
    gateway.health_check_every = Some(Duration::from_millis(100));
    gateway.breaker.cooldown = Duration::from_secs(60);
    let w = world_with(Options {
        gateway,
        ..Options::default()
    })
    .await;
    let admin = w.app.admin();
    let spare = mock().await;
    let spare_id = backend(&admin, "acme", "spare", &spare, json!({})).await;
    w.patch_route(json!({"fallbacks": [{"backend_id": spare_id}]}))
        .await;

    // The primary goes down: probes (GET /models) open its breaker.
    w.mock.set(Behaviour {
        fail_rate: 1.0,
        ..Behaviour::default()
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let resp = w.client.chat("gpt-4o").await;
        assert_eq!(resp.status(), 200);
        if resp.headers()["x-ditto-attempts"] == "1" && resp.headers()["x-ditto-backend"] == "spare"
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the probes never opened the primary's breaker"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // It recovers: a probe closes the breaker long before the 60 s cooldown.
    w.mock.set(Behaviour {
        require_bearer: Some(UPSTREAM_SECRET.into()),
        ..Behaviour::default()
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while w.client.chat("gpt-4o").await.headers()["x-ditto-backend"] != "primary" {
        assert!(
            Instant::now() < deadline,
            "the probes never closed the primary's breaker"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_periodic_resync_catches_changes_no_notification_announced() {
    let mut gateway = quick_gateway_config();
    gateway.resync_every = Duration::from_millis(200);
    let w = world_with(Options {
        gateway,
        ..Options::default()
    })
    .await;
    assert_eq!(w.client.chat("gpt-4o").await.status(), 200);

    // Revoke behind the triggers' back: no NOTIFY is sent.
    let mut conn = w.app.db.connect().await;
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE api_keys SET revoked_at = now(), updated_at = now()")
        .execute(&mut conn)
        .await
        .unwrap();
    let revoked_at = Instant::now();
    while w.client.chat("gpt-4o").await.status() != 401 {
        assert!(
            revoked_at.elapsed() < Duration::from_secs(3),
            "the resync never noticed the revocation"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_the_upstream_stream() {
    let w = world().await;
    w.mock.set(Behaviour {
        require_bearer: Some(UPSTREAM_SECRET.into()),
        chunk_delay_ms: 200,
        chunks: Some(20),
        ..Behaviour::default()
    });
    let resp = w
        .client
        .post(
            "chat/completions",
            json!({"model": "gpt-4o", "stream": true, "messages": []}),
        )
        .await;
    let mut stream = resp.bytes_stream();
    stream.next().await.unwrap().unwrap();
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(2);
    while w.mock.streams_abandoned() == 0 {
        assert!(
            Instant::now() < deadline,
            "the upstream kept streaming to nobody"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rows = usage_rows(&w.app, 2).await;
    let chat = rows
        .iter()
        .find(|r| r["endpoint"] == "chat/completions")
        .unwrap();
    assert_eq!(chat["error_kind"], "client_closed");
    assert_eq!(chat["streamed"], true);
}

#[tokio::test]
async fn metrics_show_attempts_breakers_and_usage_to_platform_admins_only() {
    let w = world().await;
    assert_eq!(w.client.chat("gpt-4o").await.status(), 200);
    usage_rows(&w.app, 2).await;
    let text = w.app.admin().get("/metrics").await.text;
    assert!(
        text.contains("ditto_gateway_responses_total{class=\"2xx\"} 2"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "ditto_gateway_upstream_attempts_total{{backend=\"{}\",outcome=\"ok\"}} 1",
            w.backend
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "ditto_gateway_backend_breaker_open{{backend=\"{}\"}} 0",
            w.backend
        )),
        "{text}"
    );
    assert!(text.contains("ditto_gateway_snapshot_keys 1"), "{text}");
    assert!(
        text.contains("ditto_gateway_usage_written_total 2"),
        "{text}"
    );
    assert!(!text.contains(UPSTREAM_SECRET) && !text.contains(&w.client.key));

    // Refusals before a key is known count too.
    let client_errors = |text: &str| -> u64 {
        let prefix = "ditto_gateway_responses_total{class=\"4xx\"} ";
        let line = text.lines().find(|l| l.starts_with(prefix)).unwrap();
        line[prefix.len()..].parse().unwrap()
    };
    let before = client_errors(&text);
    let wrong = Client::new(&w.app, "acme", "dk-wrong");
    assert_eq!(wrong.chat("gpt-4o").await.status(), 401);
    let text = w.app.admin().get("/metrics").await.text;
    assert_eq!(client_errors(&text), before + 1, "{text}");

    let member = w.app.tenant_member("acme").await;
    member.get("/metrics").await.expect_problem(403);
    w.app.anonymous().get("/metrics").await.expect_problem(401);
}
