//! Rate limits and budgets against real Redis (a server and a three-master
//! cluster) and Postgres: exact under concurrency, shared by scope, refunded
//! and refused with a reason. Time and failure: `limits_over_time.rs`.

use ditto_gateway::{CounterStore, GatewayConfig};
use ditto_testkit::redis::RedisCluster;
use futures_util::future::join_all;
use uuid::Uuid;

use super::*;

/// Chat cost with the test price: 2 prompt tokens at 1 µUSD and 4
/// completion tokens at 2 µUSD, in pico-USD.
pub(super) const CHAT_COST: i64 = 2 * 1_000_000 + 4 * 2_000_000;

pub(super) fn config(store: CounterStore) -> GatewayConfig {
    let mut config = quick_gateway_config();
    config.limits.store = store;
    config
}

pub(super) fn shared_redis() -> CounterStore {
    CounterStore::Redis(ditto_testkit::redis_url())
}

pub(super) async fn limited_world(gateway: GatewayConfig) -> World {
    world_with(Options {
        gateway,
        ..Options::default()
    })
    .await
}

pub(super) async fn tenant_id(w: &World) -> Uuid {
    w.app.store.resolve_tenant("acme").await.unwrap().id.0
}

pub(super) async fn first_key_id(w: &World) -> Uuid {
    sqlx::query_scalar("SELECT id FROM api_keys ORDER BY created_at LIMIT 1")
        .fetch_one(w.app.store.pool())
        .await
        .unwrap()
}

/// Adds a rate limit on (`scope`, `id`) and waits until the gateway has it.
pub(super) async fn add_limit(
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
pub(super) async fn add_key_budget(
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

pub(super) async fn price_gpt4o(w: &World) {
    sqlx::query(
        "INSERT INTO model_prices (model, input_pico, output_pico) VALUES ('gpt-4o', 1000000, 2000000)",
    )
    .execute(w.app.store.pool())
    .await
    .unwrap();
    w.app.gateway_caught_up("acme").await;
}

pub(super) fn chat_body() -> Value {
    json!({"model": "gpt-4o", "max_tokens": 4, "messages": [{"role": "user", "content": "hello there"}]})
}

/// Sends `n` chat requests at once through `clients` in turn; the statuses.
pub(super) async fn burst(clients: &[&Client], n: usize) -> Vec<reqwest::Response> {
    join_all((0..n).map(|i| clients[i % clients.len()].post("chat/completions", chat_body()))).await
}

/// The limit a refusal names (`<scope>:<id>:<kind>`).
pub(super) fn tripped(refused: &reqwest::Response) -> &str {
    refused.headers()["x-ditto-limit"].to_str().unwrap()
}

pub(super) fn count(responses: &[reqwest::Response], status: u16) -> usize {
    responses.iter().filter(|r| r.status() == status).count()
}

pub(super) async fn another_key(w: &World, project: &str) -> Client {
    let secret = key(&w.app.admin(), "acme", project, json!({})).await;
    let client = Client::new(&w.app, "acme", &secret);
    client.wait_ready().await;
    client
}

pub(super) async fn rpm_is_exact(store: CounterStore) {
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
pub(super) async fn counter(
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

pub(super) async fn ledger_cost(w: &World) -> i64 {
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

pub(super) async fn budget_is_never_overdrawn(store: CounterStore) {
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
