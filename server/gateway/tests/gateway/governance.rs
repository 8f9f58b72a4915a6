//! Governance events: refused keys and refused requests reach the tenant's
//! audit trail, counted per interval rather than one event per refusal, and
//! none is lost while the database is away.

use super::*;

fn counted_quickly() -> Options {
    let mut gateway = quick_gateway_config();
    gateway.governance_every = Duration::from_millis(500);
    Options {
        gateway,
        ..Options::default()
    }
}

/// The tenant's events of `action` whose detail `field` is `value` (any,
/// when `field` is empty), once their counts add up to `total`. Waiting for
/// a new key to reach the gateway is refused as `unknown_key` too, so tests
/// count what they caused on its own.
async fn counted(
    app: &TestApp,
    action: &str,
    (field, value): (&str, &str),
    total: u64,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = app
            .admin()
            .collect(&format!("/api/v1/tenants/acme/audit?action={action}"), 100)
            .await
            .into_iter()
            .filter(|e| field.is_empty() || e["after"][field] == value)
            .collect::<Vec<_>>();
        let sum: u64 = events
            .iter()
            .map(|e| e["after"]["count"].as_u64().unwrap())
            .sum();
        if sum >= total {
            assert_eq!(sum, total, "{action} {value}: {events:?}");
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "{action}: counted {sum} of {total}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn refusals_reach_the_audit_trail_counted_not_one_by_one() {
    let w = world_with(counted_quickly()).await;
    let admin = w.app.admin();
    let key_id = admin
        .get("/api/v1/tenants/acme/api-keys")
        .await
        .expect_status(200)["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let public = &w.client.key[..w.client.key.rfind('-').unwrap()];
    let wrong_secret = format!("{public}-{}", "w".repeat(40));
    let wrong_client = Client::new(&w.app, "acme", &wrong_secret);
    for _ in 0..10 {
        assert_eq!(wrong_client.chat("gpt-4o").await.status(), 401);
    }
    for _ in 0..2 {
        let resp = Client::new(
            &w.app,
            "acme",
            &format!("dk-nosuchkey0000000-{}", "s".repeat(40)),
        )
        .chat("gpt-4o")
        .await;
        assert_eq!(resp.status(), 401);
    }
    let bare = w
        .client
        .http
        .post(format!("{}/chat/completions", w.client.base))
        .json(&json!({"model": "gpt-4o", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 401);
    // A tenant that does not exist has no trail to write to.
    let nowhere = Client::new(&w.app, "no-such-tenant", &w.client.key)
        .chat("gpt-4o")
        .await;
    assert_eq!(nowhere.status(), 401);

    let wrong = counted(
        &w.app,
        "gateway.key_refused",
        ("reason", "wrong_secret"),
        10,
    )
    .await;
    // Counted per interval: ten refusals in a fraction of one make one
    // event, two if an interval ended in between.
    assert!(wrong.len() <= 2, "{wrong:?}");
    assert_eq!(wrong[0]["target_id"], key_id.as_str());
    assert_eq!(wrong[0]["actor_type"], "system");
    counted(&w.app, "gateway.key_refused", ("reason", "missing_key"), 1).await;
    let unknown = counted(
        &w.app,
        "gateway.key_refused",
        ("key_prefix", "dk-nosuchkey0000000"),
        2,
    )
    .await;
    assert!(
        unknown
            .iter()
            .all(|e| e["after"]["reason"] == "unknown_key")
    );
    let text = serde_json::to_string(&[wrong, unknown]).unwrap();
    assert!(
        !text.contains(&"w".repeat(40)),
        "a presented secret was stored"
    );
    assert!(!text.contains(&w.client.key));

    // A rate limit of one request a minute on the key: two refusals.
    admin
        .post(
            "/api/v1/tenants/acme/rate-limits",
            json!({"scope": "key", "scope_id": key_id, "rpm": 1}),
        )
        .await
        .expect_status(201);
    w.app.gateway_caught_up("acme").await;
    let statuses = [
        w.client.chat("gpt-4o").await.status(),
        w.client.chat("gpt-4o").await.status(),
        w.client.chat("gpt-4o").await.status(),
    ];
    assert_eq!(statuses.map(|s| s.as_u16()), [200, 429, 429]);
    let limited = counted(&w.app, "gateway.rate_limited", ("", ""), 2).await;
    assert_eq!(limited[0]["target_id"], key_id.as_str());
    assert_eq!(limited[0]["after"]["model"], "gpt-4o");
    let reason = limited[0]["after"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("key:") && reason.ends_with(":rpm"),
        "{reason}"
    );

    let report = admin
        .get("/api/v1/tenants/acme/audit/verification")
        .await
        .expect_status(200);
    assert_eq!(report["valid"], true, "{report}");
}

#[tokio::test]
async fn refusals_counted_while_the_database_is_away_are_written_when_it_returns() {
    let spool = tempfile::tempdir().unwrap();
    let mut options = counted_quickly();
    options.gateway.usage_spool = Some(spool.path().to_owned());
    let w = world_with(options).await;
    let public = &w.client.key[..w.client.key.rfind('-').unwrap()];
    let wrong_secret = format!("{public}-{}", "w".repeat(40));
    let away = take_database_away(&w.app).await;
    for _ in 0..4 {
        let resp = Client::new(&w.app, "acme", &wrong_secret)
            .chat("gpt-4o")
            .await;
        assert_eq!(resp.status(), 401, "refused from the snapshot");
    }
    // Several intervals pass with every write failing: the counts wait on
    // disk, where a restart would find them too.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let spooled = std::fs::read_dir(spool.path().join("governance"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "jsonl")
        })
        .count();
    assert!(spooled >= 1, "nothing spooled");
    bring_database_back(&w.app, &away).await;
    counted(&w.app, "gateway.key_refused", ("reason", "wrong_secret"), 4).await;
}
