//! Rate limits leased by several replicas from one Redis (or a cluster):
//! exact however the requests spread, exact for small limits, never passed
//! while a replica is gone and given back after it, and far fewer calls to
//! Redis than requests.

use std::sync::atomic::Ordering;

use chrono::Utc;
use ditto_gateway::{CounterStore, GatewayConfig, Leasing};
use ditto_testkit::redis::RedisCluster;
use ditto_testkit::replica::Replica;

use super::limits::{
    add_limit, burst, chat_body, config, count, first_key_id, limited_world, shared_redis,
};
use super::limits_over_time::movable_clock;
use super::*;

/// `n` more replicas of `w`'s gateway, each with its own client for `w`'s key.
async fn replicas(w: &World, config: &GatewayConfig, n: usize) -> (Vec<Replica>, Vec<Client>) {
    let mut replicas = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..n {
        let replica = w.app.replica(config.clone()).await;
        clients.push(client_of(&replica, &w.client.key));
        replicas.push(replica);
    }
    (replicas, clients)
}

fn client_of(replica: &Replica, key: &str) -> Client {
    Client {
        base: format!("{}/t/acme/v1", replica.base),
        key: key.to_owned(),
        http: reqwest::Client::new(),
    }
}

/// Waits for the start of a second. Lease units are admitted only in the
/// second they were charged to, and what a replica still holds when that
/// second ends goes back to Redis a few milliseconds later; a burst
/// straddling that moment may be refused those units meanwhile (the error
/// bound in docs/limits-and-budgets.md). Starting early in a second, a
/// burst counts what the leases admit, not that bound.
async fn early_in_a_second() {
    let ms = i64::from(Utc::now().timestamp_subsec_millis());
    if ms > 200 {
        tokio::time::sleep(Duration::from_millis((1005 - ms) as u64)).await;
    }
}

/// Tokens a chat request is charged at admission: its body's bytes / 4
/// plus its `max_tokens`.
fn chat_estimate() -> i64 {
    serde_json::to_vec(&chat_body()).unwrap().len() as i64 / 4 + 4
}

async fn three_replicas_admit_exactly(
    store: CounterStore,
    rpm: Option<i32>,
    tpm: Option<i64>,
    concurrent: Option<i32>,
) {
    let config = config(store);
    let w = limited_world(config.clone()).await;
    add_limit(
        &w,
        "key",
        Some(first_key_id(&w).await),
        rpm,
        tpm,
        concurrent,
    )
    .await;
    // Slow enough that no request finishes, and gives back, during the burst.
    w.mock.set(Behaviour {
        require_bearer: Some(UPSTREAM_SECRET.into()),
        latency_ms: if concurrent.is_some() || tpm.is_some() {
            5000
        } else {
            0
        },
        ..Behaviour::default()
    });
    let (_replicas, clients) = replicas(&w, &config, 2).await;
    let all = [&w.client, &clients[0], &clients[1]];
    early_in_a_second().await;
    let responses = burst(&all, 200).await;
    assert_eq!(count(&responses, 200), 50, "exactly the limit gets through");
    assert_eq!(count(&responses, 429), 150);
}

#[tokio::test]
async fn three_replicas_admit_exactly_an_rpm_limit() {
    three_replicas_admit_exactly(shared_redis(), Some(50), None, None).await;
}

#[tokio::test]
async fn three_replicas_admit_exactly_a_tpm_limit() {
    three_replicas_admit_exactly(shared_redis(), None, Some(50 * chat_estimate()), None).await;
}

#[tokio::test]
async fn three_replicas_admit_exactly_a_concurrency_limit() {
    three_replicas_admit_exactly(shared_redis(), None, None, Some(50)).await;
}

#[tokio::test]
async fn three_replicas_admit_exactly_an_rpm_limit_on_a_redis_cluster() {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .unwrap();
    three_replicas_admit_exactly(
        CounterStore::RedisCluster(cluster.urls()),
        Some(50),
        None,
        None,
    )
    .await;
    drop(cluster);
}

#[tokio::test]
async fn small_limits_stay_exact_across_replicas() {
    let config = config(shared_redis());
    let w = limited_world(config.clone()).await;
    let mut keys = Vec::new();
    for rpm in [1, 2, 5] {
        let secret = key(&w.app.admin(), "acme", &w.project, json!({})).await;
        let id: uuid::Uuid =
            sqlx::query_scalar("SELECT id FROM api_keys ORDER BY created_at DESC LIMIT 1")
                .fetch_one(w.app.store.pool())
                .await
                .unwrap();
        add_limit(&w, "key", Some(id), Some(rpm), None, None).await;
        keys.push((rpm, secret));
    }
    let (replicas, _) = replicas(&w, &config, 3).await;
    for (rpm, secret) in keys {
        let clients: Vec<Client> = replicas.iter().map(|r| client_of(r, &secret)).collect();
        let all: Vec<&Client> = clients.iter().collect();
        early_in_a_second().await;
        let responses = burst(&all, 30).await;
        assert_eq!(count(&responses, 200), rpm as usize, "rpm {rpm}");
    }
}

#[tokio::test]
async fn a_killed_replicas_slots_stay_taken_until_their_lease_ends() {
    let mut config = config(shared_redis());
    config.limits.leasing = Leasing {
        slot_ttl: Duration::from_secs(3),
        ..Leasing::default()
    };
    let w = limited_world(config.clone()).await;
    add_limit(
        &w,
        "key",
        Some(first_key_id(&w).await),
        None,
        None,
        Some(10),
    )
    .await;
    w.mock.set(Behaviour {
        require_bearer: Some(UPSTREAM_SECRET.into()),
        latency_ms: 15_000,
        ..Behaviour::default()
    });
    let (mut replicas, clients) = replicas(&w, &config, 2).await;
    let doomed = in_flight(&clients[0], 6, Duration::from_millis(1000)).await;
    assert!(doomed.iter().all(|r| r.is_none()), "six in flight");
    replicas.remove(0).kill();
    let survivor = &clients[1];
    // The dead replica's six slots still count: four are left.
    let killed = Instant::now();
    let first = in_flight(survivor, 10, Duration::from_millis(2000)).await;
    assert_eq!(first.iter().filter(|r| r.is_none()).count(), 4);
    assert!(first.iter().flatten().all(|status| *status == 429));
    // Past the slots' lease, with those four still in flight.
    tokio::time::sleep(Duration::from_secs(4).saturating_sub(killed.elapsed())).await;
    let second = in_flight(survivor, 10, Duration::from_millis(2000)).await;
    assert_eq!(
        second.iter().filter(|r| r.is_none()).count(),
        6,
        "the dead replica's slots came back, and the limit still holds"
    );
}

/// Sends `n` chat requests at once and waits `wait`: the status of each
/// that was answered by then, `None` for those still in flight (admitted,
/// with a slow upstream). The requests go on in the background.
async fn in_flight(client: &Client, n: usize, wait: Duration) -> Vec<Option<u16>> {
    let requests: Vec<_> = (0..n)
        .map(|_| {
            tokio::spawn(
                client
                    .http
                    .post(format!("{}/chat/completions", client.base))
                    .bearer_auth(&client.key)
                    .json(&chat_body())
                    .send(),
            )
        })
        .collect();
    tokio::time::sleep(wait).await;
    let mut statuses = Vec::new();
    for request in requests {
        if request.is_finished() {
            statuses.push(Some(request.await.unwrap().unwrap().status().as_u16()));
        } else {
            statuses.push(None);
        }
    }
    statuses
}

#[tokio::test]
async fn a_killed_replicas_window_units_leave_with_the_window() {
    let (clock, offset) = movable_clock(Utc::now());
    let mut config = config(shared_redis());
    config.limits.clock = clock;
    let w = limited_world(config.clone()).await;
    add_limit(
        &w,
        "key",
        Some(first_key_id(&w).await),
        Some(50),
        None,
        None,
    )
    .await;
    let (mut replicas, clients) = replicas(&w, &config, 2).await;
    // One request leases 1 + 49/16 units; the replica dies holding 3.
    assert_eq!(
        clients[0]
            .post("chat/completions", chat_body())
            .await
            .status(),
        200
    );
    replicas.remove(0).kill();
    let responses = burst(&[&clients[1]], 60).await;
    assert_eq!(count(&responses, 200), 46, "never more than the limit");
    offset.fetch_add(61_000, Ordering::SeqCst);
    let responses = burst(&[&clients[1]], 60).await;
    assert_eq!(count(&responses, 200), 50, "the window slid past them");
}

#[tokio::test]
async fn leases_spare_redis_a_call_per_request() {
    let w = limited_world(config(shared_redis())).await;
    let key = first_key_id(&w).await;
    add_limit(
        &w,
        "key",
        Some(key),
        Some(1_000_000),
        Some(1_000_000_000),
        Some(1000),
    )
    .await;
    let project: uuid::Uuid = w.project.parse().unwrap();
    add_limit(
        &w,
        "project",
        Some(project),
        Some(1_000_000),
        None,
        Some(1000),
    )
    .await;
    add_limit(
        &w,
        "tenant",
        None,
        Some(1_000_000),
        Some(1_000_000_000),
        None,
    )
    .await;
    let calls = || {
        let metrics = w.app.gateway.render_metrics();
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("ditto_gateway_limits_store_calls_total "))
            .unwrap()
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    let before = calls();
    let mut served = 0;
    for _ in 0..25 {
        served += count(&burst(&[&w.client], 16).await, 200);
    }
    assert_eq!(served, 400);
    let made = calls() - before;
    assert!(made < 100, "{made} calls to Redis for 400 requests");
}
