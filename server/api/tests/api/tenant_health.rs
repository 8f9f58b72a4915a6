use chrono::{DateTime, Duration, SubsecRound, Utc};
use ditto_store::gateway::UsageEvent;
use ditto_testkit::TestApp;
use serde_json::{Value, json};
use uuid::Uuid;

use super::support::{Key, tenant_with_keys};

/// One request of `key` at `at`, with its status, latency, tokens and cost.
fn event(key: Key, at: DateTime<Utc>, status: u16, latency_ms: u32) -> UsageEvent {
    UsageEvent {
        request_id: Uuid::now_v7(),
        tenant_id: key.tenant,
        project_id: key.project,
        key_id: key.id,
        user_id: key.user,
        service_account_id: None,
        endpoint: "/v1/chat/completions".into(),
        model: Some("gpt-4o".into()),
        backend_id: None,
        status,
        attempts: 1,
        streamed: false,
        prompt_tokens: 10,
        completion_tokens: 5,
        cached_tokens: 0,
        latency_ms,
        ttfb_ms: None,
        error_kind: (status >= 400).then(|| "upstream".into()),
        cost_pico: 2_000_000,
        created_at: at,
    }
}

fn row<'a>(page: &'a Value, slug: &str) -> &'a Value {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["slug"] == slug)
        .unwrap_or_else(|| panic!("{slug} not in {page}"))
}

#[tokio::test]
async fn operators_see_every_tenants_figures_over_the_window() {
    let app = TestApp::spawn().await;
    let (acme, acme_other) = tenant_with_keys(&app, "acme").await;
    let (globex, _) = tenant_with_keys(&app, "globex").await;
    let (initech, _) = tenant_with_keys(&app, "initech").await;
    app.tenant("quiet").await;
    let now = Utc::now();
    let hour_ago = now - Duration::hours(1);
    let mut events = Vec::new();
    // acme: 20 requests taking 10, 20, … 200 ms across its two keys; one
    // refused by a rate limit (429) and one failed upstream (502): 10%.
    for n in 1..=20u32 {
        let status = match n {
            3 => 429,
            7 => 502,
            _ => 200,
        };
        let key = if n % 2 == 0 { acme } else { acme_other };
        events.push(event(key, hour_ago, status, n * 10));
    }
    // globex: half of 4 requests failed; one more, before the window.
    for status in [200, 500, 503, 200] {
        events.push(event(globex, now - Duration::minutes(20), status, 40));
    }
    events.push(event(globex, now - Duration::hours(30), 200, 40));
    // initech: only traffic before the window.
    let long_ago = (now - Duration::days(2)).trunc_subsecs(3);
    events.push(event(initech, long_ago, 200, 40));
    app.store.insert_usage(&events).await.unwrap();
    app.admin()
        .post_empty("/api/v1/tenants/globex/suspend")
        .await
        .expect_status(200);

    let page = app
        .admin()
        .get("/api/v1/tenant-health?sort=slug")
        .await
        .expect_status(200);
    let (from, to): (DateTime<Utc>, DateTime<Utc>) = (
        page["from"].as_str().unwrap().parse().unwrap(),
        page["to"].as_str().unwrap().parse().unwrap(),
    );
    assert_eq!(to - from, Duration::hours(24), "the default window");
    assert!(
        to >= now && to - now < Duration::minutes(1),
        "{to} up to now"
    );
    let slugs: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["acme", "globex", "initech", "quiet"]);

    let a = row(&page, "acme");
    assert_eq!(a["tenant_id"], acme.tenant.to_string());
    assert_eq!(a["status"], "active");
    assert_eq!(a["health"], "degraded");
    assert_eq!(a["requests"], 20);
    assert_eq!(a["errors"], 2);
    assert_eq!(a["server_errors"], 1);
    assert_eq!(a["error_rate"], 0.1);
    assert_eq!(a["prompt_tokens"], 200);
    assert_eq!(a["completion_tokens"], 100);
    assert_eq!(a["cost_usd"], "0.00004");
    // percentile_cont interpolates: halfway between 100 and 110 ms, and
    // 5% of the way from 190 to 200 ms.
    assert_eq!(a["latency_p50_ms"], 105.0);
    assert_eq!(a["latency_p95_ms"], 190.5);
    let last: DateTime<Utc> = a["last_request_at"].as_str().unwrap().parse().unwrap();
    assert!(
        (last - hour_ago).abs() < Duration::milliseconds(1),
        "{last}"
    );

    let g = row(&page, "globex");
    assert_eq!(g["status"], "suspended");
    assert_eq!(g["health"], "failing");
    assert_eq!(g["requests"], 4, "the older request is outside the window");
    assert_eq!(g["errors"], 2);
    assert_eq!(g["server_errors"], 2);
    assert_eq!(g["error_rate"], 0.5);
    assert_eq!(g["latency_p95_ms"], 40.0);

    let i = row(&page, "initech");
    assert_eq!(i["health"], "idle");
    assert_eq!(i["requests"], 0);
    assert_eq!(i["error_rate"], 0.0);
    assert_eq!(i["cost_usd"], "0.00");
    assert_eq!(i["latency_p50_ms"], Value::Null);
    // Its latest request, though it is before the window.
    let last: DateTime<Utc> = i["last_request_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(last, long_ago);

    let q = row(&page, "quiet");
    assert_eq!(q["health"], "idle");
    assert_eq!(q["last_request_at"], Value::Null);

    // A shorter window leaves out acme's requests of an hour ago.
    let recent = app
        .admin()
        .get("/api/v1/tenant-health?window=30m&sort=slug")
        .await
        .expect_status(200);
    assert_eq!(row(&recent, "acme")["requests"], 0);
    assert_eq!(row(&recent, "acme")["health"], "idle");
    assert_eq!(row(&recent, "globex")["requests"], 4);

    // Filtered like the tenant list.
    let suspended = app
        .admin()
        .get("/api/v1/tenant-health?status=suspended")
        .await
        .expect_status(200);
    assert_eq!(suspended["items"].as_array().unwrap().len(), 1);
    assert_eq!(suspended["items"][0]["slug"], "globex");

    // A platform auditor reads it too.
    let auditor = app.platform_member("platform_auditor").await;
    let seen = auditor
        .get("/api/v1/tenant-health?q=acm")
        .await
        .expect_status(200);
    assert_eq!(seen["items"][0]["requests"], 20);
}

#[tokio::test]
async fn tenant_health_pages_like_the_tenant_list() {
    let app = TestApp::spawn().await;
    for slug in ["delta", "alpha", "charlie", "bravo", "echo"] {
        app.tenant(slug).await;
    }
    let admin = app.admin();
    let mut seen = Vec::new();
    let mut path = "/api/v1/tenant-health?sort=-slug&limit=2".to_owned();
    loop {
        let page = admin.get(&path).await.expect_status(200);
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|r| r["slug"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!("/api/v1/tenant-health?sort=-slug&limit=2&cursor={cursor}")
            }
            None => break,
        }
    }
    assert_eq!(seen, ["echo", "delta", "charlie", "bravo", "alpha"]);
}

#[tokio::test]
async fn tenant_health_is_for_platform_principals_and_checks_its_window() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();

    // Tenant principals, even a tenant's owner, are refused.
    for role in ["owner", "admin", "viewer"] {
        let member = app.tenant_member_as("acme", role).await;
        member
            .get("/api/v1/tenant-health")
            .await
            .expect_problem(403);
    }
    app.anonymous()
        .get("/api/v1/tenant-health")
        .await
        .expect_problem(401);

    for bad in ["24", "1w", "1.5h", "h"] {
        let problem = admin
            .get(&format!("/api/v1/tenant-health?window={bad}"))
            .await
            .expect_problem(422);
        assert_eq!(
            problem["errors"],
            json!([{"field": "window", "code": "invalid_value",
                    "message": "must be a whole number followed by m, h or d, like 24h"}]),
            "{bad}"
        );
    }
    for far in ["1m", "8d", "0h"] {
        assert_eq!(
            admin
                .get(&format!("/api/v1/tenant-health?window={far}"))
                .await
                .invalid_fields(),
            ["window"],
            "{far}"
        );
    }
    assert_eq!(
        admin
            .get("/api/v1/tenant-health?limit=0")
            .await
            .invalid_fields(),
        ["limit"]
    );
    assert_eq!(
        admin
            .get("/api/v1/tenant-health?sort=requests")
            .await
            .invalid_fields(),
        ["sort"]
    );
    // Not a number at all: the query string itself is bad.
    assert_eq!(
        admin
            .get("/api/v1/tenant-health?limit=many")
            .await
            .invalid_fields(),
        ["query"]
    );
    let week = admin
        .get("/api/v1/tenant-health?window=7d")
        .await
        .expect_status(200);
    assert_eq!(week["items"][0]["slug"], "acme");
}
