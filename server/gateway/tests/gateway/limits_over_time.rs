//! Limits and budgets over time and through failure: periods in the tenant's
//! time zone, clocks that disagree with Redis, losing Redis, the reaper,
//! unpriced models, counters started from the ledger, and sliding windows.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use ditto_gateway::{Clock, CounterStore};
use ditto_testkit::redis::PrivateRedis;
use uuid::Uuid;

use super::limits::*;
use super::*;

/// A clock the test moves.
pub(super) fn movable_clock(start: DateTime<Utc>) -> (Clock, Arc<AtomicI64>) {
    let offset = Arc::new(AtomicI64::new(0));
    let read = offset.clone();
    let clock =
        Clock::new(move || start + chrono::Duration::milliseconds(read.load(Ordering::SeqCst)));
    (clock, offset)
}

/// Two minutes before a midnight in Tokyo (15:00 UTC: Japan keeps no summer
/// time), `days` after the next one. Derived from the real clock, so that no
/// test depends on today's date.
pub(super) fn before_tokyo_midnight(days: i64) -> DateTime<Utc> {
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
pub(super) async fn tokyo_world(clock: Clock) -> World {
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
pub(super) async fn ledger_tokens(w: &World, served: i64) -> i64 {
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

pub(super) async fn redis_ttl(key: &str) -> i64 {
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
