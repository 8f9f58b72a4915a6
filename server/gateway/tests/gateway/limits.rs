//! Rate limits and budgets against real Redis (a server, a killed and
//! restarted one, a three-master cluster) and Postgres.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use ditto_gateway::{Clock, CounterStore, GatewayConfig};
use ditto_testkit::redis::{PrivateRedis, RedisCluster};
use futures_util::future::join_all;
use uuid::Uuid;

use super::*;

/// Chat cost with the test price: 2 prompt tokens at 1 µUSD and 4
/// completion tokens at 2 µUSD, in pico-USD.
const CHAT_COST: i64 = 2 * 1_000_000 + 4 * 2_000_000;

fn config(store: CounterStore) -> GatewayConfig {
    let mut config = quick_gateway_config();
    config.limits.store = store;
    config
}

fn shared_redis() -> CounterStore {
    CounterStore::Redis(ditto_testkit::redis_url())
}

async fn limited_world(gateway: GatewayConfig) -> World {
    world_with(Options {
        gateway,
        ..Options::default()
    })
    .await
}

async fn tenant_id(w: &World) -> Uuid {
    w.app.store.resolve_tenant("acme").await.unwrap().id.0
}

async fn first_key_id(w: &World) -> Uuid {
    sqlx::query_scalar("SELECT id FROM api_keys ORDER BY created_at LIMIT 1")
        .fetch_one(w.app.store.pool())
        .await
        .unwrap()
}

/// Adds a rate limit on (`scope`, `id`) and waits until the gateway has it.
async fn add_limit(
    w: &World,
    scope: &str,
    id: Option<Uuid>,
    rpm: Option<i32>,
    tpm: Option<i64>,
    concurrent: Option<i32>,
) {
    let column = |c: &str| (scope == c).then_some(id).flatten();
    sqlx::query(
        "INSERT INTO rate_limits (id, tenant_id, scope, project_id, user_id, key_id, rpm, tpm, max_concurrent)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(Uuid::now_v7())
    .bind(tenant_id(w).await)
    .bind(scope)
    .bind(column("project"))
    .bind(column("user"))
    .bind(column("key"))
    .bind(rpm)
    .bind(tpm)
    .bind(concurrent)
    .execute(w.app.store.pool())
    .await
    .unwrap();
    w.app.gateway_caught_up("acme").await;
}

/// Adds a budget on the key; returns its id.
async fn add_key_budget(
    w: &World,
    period: &str,
    max_tokens: Option<i64>,
    max_cost_pico: Option<i64>,
) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO budgets (id, tenant_id, scope, key_id, period, max_tokens, max_cost_pico, soft_limit_percent)
         VALUES ($1, $2, 'key', $3, $4, $5, $6, 80)",
    )
    .bind(id)
    .bind(tenant_id(w).await)
    .bind(first_key_id(w).await)
    .bind(period)
    .bind(max_tokens)
    .bind(max_cost_pico)
    .execute(w.app.store.pool())
    .await
    .unwrap();
    w.app.gateway_caught_up("acme").await;
    id
}

async fn price_gpt4o(w: &World) {
    sqlx::query(
        "INSERT INTO model_prices (model, input_pico, output_pico) VALUES ('gpt-4o', 1000000, 2000000)",
    )
    .execute(w.app.store.pool())
    .await
    .unwrap();
    w.app.gateway_caught_up("acme").await;
}

fn chat_body() -> Value {
    json!({"model": "gpt-4o", "max_tokens": 4, "messages": [{"role": "user", "content": "hello there"}]})
}

/// Sends `n` chat requests at once through `clients` in turn; the statuses.
async fn burst(clients: &[&Client], n: usize) -> Vec<reqwest::Response> {
    join_all((0..n).map(|i| clients[i % clients.len()].post("chat/completions", chat_body()))).await
}

/// The limit a refusal names (`<scope>:<id>:<kind>`).
fn tripped(refused: &reqwest::Response) -> &str {
    refused.headers()["x-ditto-limit"].to_str().unwrap()
}

fn count(responses: &[reqwest::Response], status: u16) -> usize {
    responses.iter().filter(|r| r.status() == status).count()
}

async fn another_key(w: &World, project: &str) -> Client {
    let secret = key(&w.app.admin(), "acme", project, json!({})).await;
    let client = Client::new(&w.app, "acme", &secret);
    client.wait_ready().await;
    client
}

async fn rpm_is_exact(store: CounterStore) {
    let w = limited_world(config(store)).await;
    add_limit(
        &w,
        "key",
        Some(first_key_id(&w).await),
        Some(50),
        None,
        None,
    )
    .await;
    let responses = burst(&[&w.client], 200).await;
    assert_eq!(count(&responses, 200), 50, "exactly the limit gets through");
    assert_eq!(count(&responses, 429), 150);
    let refused = responses.into_iter().find(|r| r.status() == 429).unwrap();
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "retry-after {retry}");
    assert!(
        tripped(&refused).starts_with("key:"),
        "{}",
        tripped(&refused)
    );
    assert_eq!(refused.headers()["x-ratelimit-limit-requests"], "50");
    assert_eq!(refused.headers()["x-ratelimit-remaining-requests"], "0");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("50 requests per minute")
    );
}

#[tokio::test]
async fn an_rpm_limit_admits_exactly_its_count_under_concurrency_with_redis() {
    rpm_is_exact(shared_redis()).await;
}

#[tokio::test]
async fn an_rpm_limit_admits_exactly_its_count_in_process_without_redis() {
    rpm_is_exact(CounterStore::Local).await;
}

#[tokio::test]
async fn an_rpm_limit_admits_exactly_its_count_on_a_redis_cluster() {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .unwrap();
    rpm_is_exact(CounterStore::RedisCluster(cluster.urls())).await;
    drop(cluster);
}

#[tokio::test]
async fn project_and_tenant_limits_are_shared_by_their_keys() {
    let w = limited_world(config(shared_redis())).await;
    let project: Uuid = w.project.parse().unwrap();
    add_limit(&w, "project", Some(project), Some(20), None, None).await;
    add_limit(&w, "tenant", None, Some(30), None, None).await;
    let second = another_key(&w, &w.project).await;
    let other_project = w.app.admin().project("acme", "batch").await;
    let outsider = another_key(&w, &other_project).await;

    let responses = burst(&[&w.client, &second], 60).await;
    assert_eq!(
        count(&responses, 200),
        20,
        "the project limit spans both keys"
    );
    let refused = responses.iter().find(|r| r.status() == 429).unwrap();
    assert!(
        tripped(refused).starts_with("project:"),
        "{}",
        tripped(refused)
    );

    let responses = burst(&[&outsider], 60).await;
    assert_eq!(
        count(&responses, 200),
        10,
        "the tenant limit counts every project"
    );
    let refused = responses.iter().find(|r| r.status() == 429).unwrap();
    assert!(
        tripped(refused).starts_with("tenant:"),
        "{}",
        tripped(refused)
    );
}

#[tokio::test]
async fn requests_the_gateway_refuses_after_admission_are_refunded() {
    let w = limited_world(config(shared_redis())).await;
    add_limit(&w, "key", Some(first_key_id(&w).await), Some(2), None, None).await;
    // Every backend refuses: the client never got an upstream answer.
    w.mock.set(Behaviour {
        require_bearer: Some(UPSTREAM_SECRET.into()),
        fail_rate: 1.0,
        fail_status: Some(503),
        ..Behaviour::default()
    });
    w.patch_route(json!({"targets": [{"backend_id": w.backend}]}))
        .await;
    let dead = w.app.admin();
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let unreachable = dead
        .post(
            "/api/v1/tenants/acme/backends",
            json!({"name": "gone", "base_url": format!("http://127.0.0.1:{closed}/v1")}),
        )
        .await
        .expect_status(201);
    w.patch_route(json!({"targets": [{"backend_id": unreachable["id"]}]}))
        .await;
    for _ in 0..5 {
        let resp = w.client.chat("gpt-4o").await;
        assert_eq!(
            resp.status(),
            502,
            "an unreachable backend is not the caller's rpm"
        );
    }
    w.patch_route(json!({"targets": [{"backend_id": w.backend}]}))
        .await;
    w.mock.set(Behaviour {
        require_bearer: Some(UPSTREAM_SECRET.into()),
        ..Behaviour::default()
    });
    assert_eq!(w.client.chat("gpt-4o").await.status(), 200);
    assert_eq!(w.client.chat("gpt-4o").await.status(), 200);
    assert_eq!(w.client.chat("gpt-4o").await.status(), 429);
}

#[tokio::test]
async fn concurrency_and_token_limits_refuse_with_a_reason() {
    let w = limited_world(config(shared_redis())).await;
    let key = first_key_id(&w).await;
    add_limit(&w, "key", Some(key), None, Some(200), Some(2)).await;
    w.mock.set(Behaviour {
        require_bearer: Some(UPSTREAM_SECRET.into()),
        latency_ms: 400,
        ..Behaviour::default()
    });
    let responses = burst(&[&w.client], 6).await;
    assert_eq!(count(&responses, 200), 2);
    let refused = responses.iter().find(|r| r.status() == 429).unwrap();
    assert!(
        tripped(refused).ends_with(":concurrent"),
        "{}",
        tripped(refused)
    );
    // Slots are freed as requests finish.
    assert_eq!(w.client.chat("gpt-4o").await.status(), 200);

    let huge = json!({"model": "gpt-4o", "max_tokens": 5000, "messages": [{"role": "user", "content": "hi"}]});
    let resp = w.client.post("chat/completions", huge).await;
    assert_eq!(resp.status(), 429);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("exceeds"),
        "{body}"
    );
    // Admitted requests report the tightest token window, corrected to real usage.
    let resp = w.client.post("chat/completions", chat_body()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ratelimit-limit-tokens"], "200");
}

/// A field of a budget counter in Redis (a server or a cluster).
async fn counter(
    store: &CounterStore,
    tenant: Uuid,
    budget: Uuid,
    period_start: i64,
    field: &str,
) -> i64 {
    let mut cmd = redis::cmd("HGET");
    cmd.arg(format!("{{t:{tenant}}}:bg:{budget}:{period_start}"))
        .arg(field);
    let value: Option<i64> = match store {
        CounterStore::Redis(url) => {
            let client = redis::Client::open(url.as_str()).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            cmd.query_async(&mut conn).await.unwrap()
        }
        CounterStore::RedisCluster(nodes) => {
            let client = redis::cluster::ClusterClient::new(nodes.clone()).unwrap();
            let mut conn = client.get_async_connection().await.unwrap();
            cmd.query_async(&mut conn).await.unwrap()
        }
        CounterStore::Local => panic!("no Redis to read"),
    };
    value.unwrap_or(0)
}

async fn ledger_cost(w: &World) -> i64 {
    sqlx::query_scalar("SELECT coalesce(sum(cost_pico), 0)::bigint FROM usage_events")
        .fetch_one(w.app.store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn concurrent_requests_never_overdraw_a_cost_budget_and_the_ledger_matches() {
    budget_is_never_overdrawn(shared_redis()).await;
}

#[tokio::test]
async fn concurrent_requests_never_overdraw_a_cost_budget_on_a_redis_cluster() {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .unwrap();
    budget_is_never_overdrawn(CounterStore::RedisCluster(cluster.urls())).await;
    drop(cluster);
}

async fn budget_is_never_overdrawn(store: CounterStore) {
    let w = limited_world(config(store.clone())).await;
    price_gpt4o(&w).await;
    // One request before the budget exists: the counter starts from the ledger.
    assert_eq!(
        w.client
            .post("chat/completions", chat_body())
            .await
            .status(),
        200
    );
    chat_rows(&w.app, 1).await;
    assert_eq!(
        ledger_cost(&w).await,
        CHAT_COST,
        "every usage event is priced"
    );
    let allows = 20;
    let budget = CHAT_COST * (allows + 1);
    let budget_id = add_key_budget(&w, "lifetime", None, Some(budget)).await;

    let responses = burst(&[&w.client], 500).await;
    let admitted = count(&responses, 200);
    assert!(
        admitted as i64 <= allows,
        "{admitted} requests got through a budget for {allows}"
    );
    assert!(admitted > 0);
    let refused = responses.into_iter().find(|r| r.status() == 429).unwrap();
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["type"], "insufficient_quota");
    assert_eq!(body["error"]["code"], "insufficient_quota");
    // Settled one by one, requests go on until the budget is really spent.
    let mut more = 0;
    while w
        .client
        .post("chat/completions", chat_body())
        .await
        .status()
        == 200
    {
        more += 1;
        assert!(more <= allows);
    }
    let total = 1 + 500 + more + 1;
    chat_rows(&w.app, total as usize).await;
    let spent = ledger_cost(&w).await;
    assert!(spent <= budget, "spent {spent} of {budget}");
    let tenant = tenant_id(&w).await;
    let settled = counter(&store, tenant, budget_id, 0, "c").await;
    assert_eq!(
        settled, spent,
        "the budget counter equals the sum of usage events"
    );
}

/// A clock the test moves.
fn movable_clock(start: DateTime<Utc>) -> (Clock, Arc<AtomicI64>) {
    let offset = Arc::new(AtomicI64::new(0));
    let read = offset.clone();
    let clock =
        Clock::new(move || start + chrono::Duration::milliseconds(read.load(Ordering::SeqCst)));
    (clock, offset)
}

/// Two minutes before a midnight in Tokyo (15:00 UTC: Japan keeps no summer
/// time), `days` after the next one. Derived from the real clock, so that no
/// test depends on today's date.
fn before_tokyo_midnight(days: i64) -> DateTime<Utc> {
    let now = Utc::now();
    let today = now
        .date_naive()
        .and_hms_opt(15, 0, 0)
        .expect("a valid time")
        .and_utc();
    let next = if today > now {
        today
    } else {
        today + chrono::Duration::days(1)
    };
    next + chrono::Duration::days(days) - chrono::Duration::minutes(2)
}

/// A gateway on `clock` against the shared Redis, its tenant in Tokyo.
async fn tokyo_world(clock: Clock) -> World {
    let mut gateway = config(shared_redis());
    gateway.limits.clock = clock;
    let w = limited_world(gateway).await;
    sqlx::query("UPDATE tenants SET time_zone = 'Asia/Tokyo'")
        .execute(w.app.store.pool())
        .await
        .unwrap();
    w
}

#[tokio::test]
async fn a_daily_budget_resets_at_midnight_in_the_tenants_time_zone() {
    let start = before_tokyo_midnight(0); // 23:58 in Tokyo
    let midnight = start + chrono::Duration::minutes(2);
    let (clock, offset) = movable_clock(start);
    let w = tokyo_world(clock).await;
    add_key_budget(&w, "daily", Some(300), None).await;
    let mut admitted = 0;
    let refusal = loop {
        let resp = w.client.post("chat/completions", chat_body()).await;
        if resp.status() != 200 {
            break resp;
        }
        admitted += 1;
        assert!(admitted < 100, "the budget never ran out");
    };
    assert_eq!(refusal.status(), 429);
    let retry: i64 = refusal.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=120).contains(&retry),
        "resets at Tokyo midnight, {retry} s away"
    );
    let body: Value = refusal.json().await.unwrap();
    let resets = midnight.format("%Y-%m-%dT%H:%M:%S").to_string();
    assert!(
        body["error"]["message"].as_str().unwrap().contains(&resets),
        "{body} names {resets}"
    );

    offset.store(3 * 60_000, Ordering::SeqCst); // 00:01 in Tokyo, still the day before in UTC
    assert_eq!(
        w.client
            .post("chat/completions", chat_body())
            .await
            .status(),
        200
    );
}

/// The tokens of the usage events, once `served` requests have been recorded.
async fn ledger_tokens(w: &World, served: i64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (rows, tokens): (i64, i64) = sqlx::query_as(
            "SELECT count(*), coalesce(sum(prompt_tokens + completion_tokens), 0)::bigint
             FROM usage_events WHERE status = 200",
        )
        .fetch_one(w.app.store.pool())
        .await
        .unwrap();
        if rows >= served {
            return tokens;
        }
        assert!(Instant::now() < deadline, "{rows} of {served} usage events");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn redis_ttl(key: &str) -> i64 {
    let client = redis::Client::open(ditto_testkit::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("TTL")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// Replicas' clocks and Redis's drift apart, and a period boundary is where
/// that bites: a counter's expiry must hold on Redis's clock, whatever the
/// gateway's says. Nine days behind put the old absolute expiry (period end
/// plus a week) in Redis's past, which answered 503 for ever.
#[tokio::test]
async fn limits_count_exactly_when_the_gateway_clock_is_behind_or_ahead_of_redis() {
    for days in [-9, 1] {
        // Half an hour before a Tokyo midnight, `days` from the next one.
        let start = before_tokyo_midnight(days) - chrono::Duration::minutes(28);
        let midnight = start + chrono::Duration::minutes(30);
        let (clock, offset) = movable_clock(start);
        let w = tokyo_world(clock).await;
        let rpm = 3;
        add_limit(
            &w,
            "key",
            Some(first_key_id(&w).await),
            Some(rpm),
            None,
            None,
        )
        .await;
        let budget = add_key_budget(&w, "daily", Some(150), None).await;

        // Until the budget runs out: each minute exactly `rpm` requests pass,
        // then the rate limit refuses until the clock moves on a minute.
        let (mut in_window, mut admitted, mut minutes) = (0, 0, 0);
        loop {
            let resp = w.client.post("chat/completions", chat_body()).await;
            match resp.status().as_u16() {
                200 => {
                    in_window += 1;
                    admitted += 1;
                    assert!(in_window <= rpm, "more than {rpm} a minute ({days} days)");
                }
                429 if tripped(&resp).ends_with(":rpm") => {
                    assert_eq!(
                        in_window, rpm,
                        "the rate limit counted exactly ({days} days)"
                    );
                    in_window = 0;
                    minutes += 1;
                    assert!(minutes < 25, "the budget never ran out ({days} days)");
                    offset.fetch_add(61_000, Ordering::SeqCst);
                }
                429 => {
                    let body: Value = resp.json().await.unwrap();
                    assert_eq!(body["error"]["code"], "insufficient_quota", "{body}");
                    break;
                }
                status => panic!(
                    "{status} with the clock {days} days off: {}",
                    resp.text().await.unwrap()
                ),
            }
        }
        assert!(admitted > rpm, "the budget allowed {admitted}");
        let tenant = tenant_id(&w).await;
        let period = (midnight - chrono::Duration::days(1)).timestamp();
        let spent = ledger_tokens(&w, admitted.into()).await;
        assert!(spent <= 150, "spent {spent} tokens of 150");
        assert_eq!(
            counter(&shared_redis(), tenant, budget, period, "t").await,
            spent,
            "the budget counter equals the usage events ({days} days)"
        );
        // It lives a week past the period on Redis's clock.
        let ttl = redis_ttl(&format!("{{t:{tenant}}}:bg:{budget}:{period}")).await;
        let until_end = (midnight - start).num_seconds(); // when it was started
        assert!(
            (7 * 86_400..=7 * 86_400 + until_end).contains(&ttl),
            "TTL {ttl} s ({days} days)"
        );

        // Past midnight in Tokyo the budget starts again; the rate window slides on.
        offset.store(30 * 60_000 + 60_000, Ordering::SeqCst);
        for _ in 0..rpm {
            let resp = w.client.post("chat/completions", chat_body()).await;
            assert_eq!(resp.status(), 200, "a new day ({days} days)");
        }
        let refused = w.client.post("chat/completions", chat_body()).await;
        assert_eq!(refused.status(), 429);
        assert!(tripped(&refused).ends_with(":rpm"), "{}", tripped(&refused));
        let total = ledger_tokens(&w, (admitted + rpm).into()).await;
        assert_eq!(
            counter(&shared_redis(), tenant, budget, midnight.timestamp(), "t").await,
            total - spent,
            "the new period counts only its own requests ({days} days)"
        );
    }
}

#[tokio::test]
async fn losing_redis_refuses_budgeted_requests_until_it_returns() {
    let mut redis = tokio::task::spawn_blocking(PrivateRedis::start)
        .await
        .unwrap();
    let w = world_with(Options {
        redis_url: Some(redis.url()),
        gateway: config(CounterStore::Redis(redis.url())),
        ..Options::default()
    })
    .await;
    price_gpt4o(&w).await;
    add_key_budget(&w, "monthly", None, Some(CHAT_COST * 1000)).await;
    assert_eq!(
        w.client
            .post("chat/completions", chat_body())
            .await
            .status(),
        200
    );

    redis.kill();
    let resp = w.client.post("chat/completions", chat_body()).await;
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "limits_unavailable");
    w.app.admin().get("/readyz").await.expect_status(503);
    let metrics = w.app.admin().get("/metrics").await.text;
    assert!(
        !metrics.contains("ditto_gateway_limits_store_errors_total 0"),
        "{metrics}"
    );

    redis = tokio::task::spawn_blocking(move || {
        redis.restart();
        redis
    })
    .await
    .unwrap();
    // The connection comes back by itself; the counter restarts from the ledger.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let resp = w.client.post("chat/completions", chat_body()).await;
        if resp.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "requests never resumed after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rows = usage_rows(&w.app, 3).await;
    let served: i64 = rows.iter().filter(|r| r["status"] == 200).count() as i64;
    usage_rows(&w.app, rows.len() as i64).await;
    let tenant = tenant_id(&w).await;
    let budget: Uuid = sqlx::query_scalar("SELECT id FROM budgets")
        .fetch_one(w.app.store.pool())
        .await
        .unwrap();
    let start = ditto_core::period::Period::Monthly
        .window(chrono_tz::UTC, Utc::now())
        .start
        .timestamp();
    // Wait for the last settlement to land in both places.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        counter(
            &CounterStore::Redis(redis.url()),
            tenant,
            budget,
            start,
            "c"
        )
        .await,
        ledger_cost(&w).await
    );
    assert!(served >= 2);
}

#[tokio::test]
async fn the_reaper_settles_a_reservation_whose_request_outlived_its_lease() {
    let mut gateway = config(shared_redis());
    gateway.limits.lease = Duration::from_millis(500);
    gateway.limits.reap_every = Duration::from_millis(100);
    let w = limited_world(gateway).await;
    price_gpt4o(&w).await;
    let budget = add_key_budget(&w, "lifetime", None, Some(CHAT_COST * 1000)).await;
    w.mock.set(Behaviour {
        require_bearer: Some(UPSTREAM_SECRET.into()),
        latency_ms: 1500,
        ..Behaviour::default()
    });
    assert_eq!(
        w.client
            .post("chat/completions", chat_body())
            .await
            .status(),
        200
    );
    // The key check's `GET /models`, then the chat request, once.
    let rows = usage_rows(&w.app, 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rows: Vec<Value> = usage_rows(&w.app, rows.len() as i64)
        .await
        .into_iter()
        .filter(|r| r["endpoint"] != "models")
        .collect();
    assert_eq!(
        rows.len(),
        1,
        "the late request is not recorded twice: {rows:?}"
    );
    assert_eq!(rows[0]["error_kind"], "reservation_orphaned");
    assert_eq!(rows[0]["endpoint"], "chat/completions");
    // Charged its full reservation (fail closed), in the counter and the ledger alike.
    let spent = ledger_cost(&w).await;
    assert!(spent > CHAT_COST);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let tenant = tenant_id(&w).await;
    assert_eq!(
        counter(&shared_redis(), tenant, budget, 0, "c").await,
        spent
    );
    let metrics = w.app.admin().get("/metrics").await.text;
    assert!(
        metrics.contains("ditto_gateway_reservations_reaped_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_cost_budget_refuses_models_without_a_price() {
    let w = limited_world(config(shared_redis())).await;
    add_key_budget(&w, "monthly", None, Some(1_000_000_000)).await;
    let resp = w.client.post("chat/completions", chat_body()).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_priced");
    // A platform price reaches the gateway by its own notification; priced
    // under the route's model, a request by its alias is priced too.
    sqlx::query("INSERT INTO model_prices (model, input_pico, output_pico) VALUES ('gpt-4o', 1000000, 2000000)")
        .execute(w.app.store.pool())
        .await
        .unwrap();
    let by_alias = json!({"model": "default", "max_tokens": 4, "messages": [{"role": "user", "content": "hello there"}]});
    let deadline = Instant::now() + Duration::from_secs(2);
    while w
        .client
        .post("chat/completions", by_alias.clone())
        .await
        .status()
        != 200
    {
        assert!(
            Instant::now() < deadline,
            "the platform price never reached the gateway"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rows = usage_rows(&w.app, 3).await;
    let served: Vec<&Value> = rows
        .iter()
        .filter(|r| r["status"] == 200 && r["endpoint"] != "models")
        .collect();
    assert_eq!(served.len(), 1);
    assert_eq!(served[0]["cost_pico"], CHAT_COST);
}

#[tokio::test]
async fn every_budget_of_every_scope_and_period_starts_on_the_first_request() {
    let w = limited_world(config(shared_redis())).await;
    price_gpt4o(&w).await;
    let tenant = tenant_id(&w).await;
    let project: Uuid = w.project.parse().unwrap();
    let key = first_key_id(&w).await;
    for (scope, project_id, key_id) in [
        ("tenant", None, None),
        ("project", Some(project), None),
        ("key", None, Some(key)),
    ] {
        for period in ["daily", "weekly", "monthly", "lifetime"] {
            sqlx::query(
                "INSERT INTO budgets (id, tenant_id, scope, project_id, key_id, period, max_tokens, max_cost_pico)
                 VALUES ($1, $2, $3, $4, $5, $6, 1000000, 1000000000000)",
            )
            .bind(Uuid::now_v7())
            .bind(tenant)
            .bind(scope)
            .bind(project_id)
            .bind(key_id)
            .bind(period)
            .execute(w.app.store.pool())
            .await
            .unwrap();
        }
    }
    w.app.gateway_caught_up("acme").await;
    assert_eq!(
        w.client
            .post("chat/completions", chat_body())
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_request_window_slides_after_a_minute_and_after_a_long_pause() {
    let (clock, offset) = movable_clock(Utc::now());
    let mut gateway = config(shared_redis());
    gateway.limits.clock = clock;
    let w = limited_world(gateway).await;
    add_limit(&w, "key", Some(first_key_id(&w).await), Some(2), None, None).await;
    let status = || async { w.client.chat("gpt-4o").await.status() };
    assert_eq!(status().await, 200);
    offset.store(30_000, Ordering::SeqCst);
    assert_eq!(status().await, 200);
    let refused = w.client.chat("gpt-4o").await;
    assert_eq!(refused.status(), 429);
    // The first request leaves the window 60 s after it was made.
    assert_eq!(refused.headers()["retry-after"], "30");
    offset.store(60_500, Ordering::SeqCst);
    assert_eq!(status().await, 200, "the first second left the window");
    assert_eq!(status().await, 429);
    offset.store(400_000, Ordering::SeqCst);
    assert_eq!(
        status().await,
        200,
        "after a long pause the window is empty"
    );
    assert_eq!(status().await, 200);
    assert_eq!(status().await, 429);
}
