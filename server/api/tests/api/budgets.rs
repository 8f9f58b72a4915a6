use chrono::{DateTime, Duration, Utc};
use ditto_core::period::{Period, Window, parse_zone};
use ditto_testkit::TestApp;
use serde_json::{Value, json};

use super::support::{Cell, Key, insert_rollups, tenant_with_keys, unreachable_from_other_tenant};

const BASE: &str = "/api/v1/tenants/acme/budgets";

#[tokio::test]
async fn budget_lifecycle() {
    let app = TestApp::spawn().await;
    let (key, _) = tenant_with_keys(&app, "acme").await;
    let member = app.tenant_member("acme").await;

    let monthly = member
        .post(
            BASE,
            json!({"scope": "tenant", "period": "monthly", "max_cost_usd": "100", "soft_limit_percent": 80}),
        )
        .await
        .expect_status(201);
    assert_eq!(monthly["scope"], "tenant");
    assert_eq!(monthly["scope_id"], Value::Null);
    assert_eq!(monthly["period"], "monthly");
    assert_eq!(monthly["max_cost_usd"], "100.00");
    assert_eq!(monthly["max_tokens"], Value::Null);
    assert_eq!(monthly["soft_limit_percent"], 80);
    assert_eq!(monthly["current"]["tokens"], 0);
    assert_eq!(monthly["current"]["cost_usd"], "0.00");
    let window = Period::Monthly.window(parse_zone("UTC").unwrap(), Utc::now());
    assert_eq!(
        monthly["current"]["period_start"],
        json!(window.start),
        "months start on the 1st in the tenant's zone (UTC)"
    );

    let lifetime = member
        .post(
            BASE,
            json!({"scope": "key", "scope_id": key.id, "period": "lifetime", "max_tokens": 1000000, "max_cost_usd": "12.345"}),
        )
        .await
        .expect_status(201);
    assert_eq!(lifetime["max_cost_usd"], "12.345");
    assert_eq!(lifetime["current"]["period_start"], "1970-01-01T00:00:00Z");
    assert_eq!(lifetime["current"]["period_end"], Value::Null);
    let id = lifetime["id"].as_str().unwrap();
    assert_eq!(
        member.get(&format!("{BASE}/{id}")).await.expect_status(200),
        lifetime
    );

    let listed = member.get(BASE).await.expect_status(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    let of_key = member
        .get(&format!("{BASE}?scope=key&scope_id={}", key.id))
        .await
        .expect_status(200);
    assert_eq!(of_key["items"][0]["id"], lifetime["id"]);
    assert_eq!(member.collect(BASE, 1).await.len(), 2);

    let changed = member
        .patch(
            &format!("{BASE}/{id}"),
            json!({"clear_max_cost_usd": true, "soft_limit_percent": 50}),
        )
        .await
        .expect_status(200);
    assert_eq!(changed["max_cost_usd"], Value::Null);
    assert_eq!(changed["max_tokens"], 1000000);
    assert_eq!(changed["soft_limit_percent"], 50);
    let changed = member
        .patch(
            &format!("{BASE}/{id}"),
            json!({"max_cost_usd": "0.5", "clear_max_tokens": true, "clear_soft_limit_percent": true}),
        )
        .await
        .expect_status(200);
    assert_eq!(changed["max_cost_usd"], "0.50");
    assert_eq!(changed["max_tokens"], Value::Null);
    assert_eq!(changed["soft_limit_percent"], Value::Null);
    // A budget that caps nothing is refused.
    let fields = member
        .patch(&format!("{BASE}/{id}"), json!({"clear_max_cost_usd": true}))
        .await
        .invalid_fields();
    assert_eq!(fields, ["/"]);
    let fields = member
        .patch(&format!("{BASE}/{id}"), json!({"period": "daily"}))
        .await
        .invalid_fields();
    assert_eq!(fields, ["/period"], "the period cannot change");

    member
        .delete(&format!("{BASE}/{id}"))
        .await
        .expect_status(204);
    member
        .get(&format!("{BASE}/{id}"))
        .await
        .expect_problem(404);
    member
        .delete(&format!("{BASE}/{id}"))
        .await
        .expect_problem(404);
}

#[tokio::test]
async fn invalid_budgets_are_refused() {
    let app = TestApp::spawn().await;
    let (key, _) = tenant_with_keys(&app, "acme").await;
    let admin = app.admin();
    let check = |body: Value| {
        let admin = admin.clone();
        async move { admin.post(BASE, body).await.invalid_fields() }
    };
    assert_eq!(
        check(json!({"scope": "user", "period": "daily", "max_tokens": 0, "max_cost_usd": "abc", "soft_limit_percent": 100})).await,
        ["/scope_id", "/max_tokens", "/soft_limit_percent", "/max_cost_usd"]
    );
    for cost in [
        "0",
        "-1",
        "1e400",
        "9000000.000000000001",
        "0.0000000000001",
        "",
    ] {
        assert_eq!(
            check(json!({"scope": "tenant", "period": "daily", "max_cost_usd": cost})).await,
            ["/max_cost_usd"],
            "{cost}"
        );
    }
    assert_eq!(
        check(json!({"scope": "tenant", "period": "daily", "max_cost_usd": 100})).await,
        ["/max_cost_usd"],
        "amounts are strings, never floats"
    );
    assert_eq!(
        check(json!({"scope": "tenant", "period": "hourly", "max_tokens": 1})).await,
        ["/period"]
    );
    assert_eq!(
        check(json!({"scope": "tenant", "period": "daily"})).await,
        ["/"]
    );
    assert_eq!(
        check(json!({"scope": "project", "scope_id": key.id, "period": "daily", "max_tokens": 1}))
            .await,
        ["/scope_id"],
        "a key's id is not a project's"
    );
    assert_eq!(
        check(
            json!({"scope": "tenant", "scope_id": key.project, "period": "daily", "max_tokens": 1})
        )
        .await,
        ["/scope_id"]
    );
    // The largest amount is fine.
    admin
        .post(
            BASE,
            json!({"scope": "tenant", "period": "daily", "max_cost_usd": "9000000"}),
        )
        .await
        .expect_status(201);
}

#[tokio::test]
async fn one_budget_per_scope_and_period() {
    let app = TestApp::spawn().await;
    let (key, _) = tenant_with_keys(&app, "acme").await;
    let admin = app.admin();
    for body in [
        json!({"scope": "tenant", "period": "daily", "max_tokens": 1}),
        json!({"scope": "user", "scope_id": key.user, "period": "monthly", "max_cost_usd": "5"}),
    ] {
        admin.post(BASE, body.clone()).await.expect_status(201);
        let conflict = admin.post(BASE, body).await.expect_problem(409);
        assert_eq!(
            conflict["detail"],
            "a budget for this scope and period already exists; change it instead"
        );
    }
    admin
        .post(
            BASE,
            json!({"scope": "tenant", "period": "weekly", "max_tokens": 1}),
        )
        .await
        .expect_status(201);
}

fn within(window: &Window, at: DateTime<Utc>) -> bool {
    at >= window.start && window.end.is_none_or(|end| at < end)
}

/// Tokens and cost (pico-USD) of the cells in `window` that `matches` picks.
fn spent(cells: &[Cell], window: &Window, matches: impl Fn(&Key) -> bool) -> (i64, i64) {
    cells
        .iter()
        .filter(|c| within(window, c.bucket) && matches(&c.key))
        .fold((0, 0), |(t, p), c| {
            (t + c.prompt + c.completion, p + c.cost_pico)
        })
}

fn usd(pico: i64) -> String {
    ditto_core::money::format_usd(pico)
}

#[tokio::test]
async fn current_spending_is_of_the_scope_in_the_period_of_the_tenant_clock() {
    let app = TestApp::spawn().await;
    let (k1, k2) = tenant_with_keys(&app, "acme").await;
    let (other, _) = tenant_with_keys(&app, "globex").await;
    // UTC+14: the tenant's day starts at 10:00 UTC the day before.
    app.admin()
        .patch(
            "/api/v1/tenants/acme",
            json!({"time_zone": "Pacific/Kiritimati"}),
        )
        .await
        .expect_status(200);
    let zone = parse_zone("Pacific/Kiritimati").unwrap();
    let now = Utc::now();
    let day = Period::Daily.window(zone, now);
    let month = Period::Monthly.window(zone, now);
    let quarter = Duration::minutes(15);
    let cell =
        |bucket: DateTime<Utc>, key: Key, prompt: i64, completion: i64, cost_pico: i64| Cell {
            bucket,
            prompt,
            completion,
            cost_pico,
            ..Cell::new("2000-01-01T00:00:00Z", key, "gpt-4o")
        };
    let cells = [
        cell(day.start, k1, 10, 5, 1_000_000),
        // The tenant's yesterday.
        cell(day.start - quarter, k1, 100, 0, 2_000_000),
        cell(day.start + quarter, k2, 1000, 1000, 3_000_000),
        // Last month.
        cell(month.start - quarter, k1, 7, 0, 4),
        // The tenant's tomorrow.
        cell(day.end.unwrap(), k1, 50, 0, 5),
        // Another tenant's, right now.
        cell(day.start, other, 1_000_000, 0, 1_000_000_000),
    ];
    insert_rollups(&app, &cells).await;
    assert_eq!(day.start.format("%H:%M").to_string(), "10:00");

    let member = app.tenant_member("acme").await;
    let create = |body: Value| {
        let member = member.clone();
        async move { member.post(BASE, body).await.expect_status(201) }
    };
    let daily = create(json!({"scope": "tenant", "period": "daily", "max_tokens": 1})).await;
    let monthly = create(
        json!({"scope": "project", "scope_id": k1.project, "period": "monthly", "max_tokens": 1}),
    )
    .await;
    let lifetime = create(
        json!({"scope": "user", "scope_id": k1.user, "period": "lifetime", "max_tokens": 1}),
    )
    .await;
    let weekly =
        create(json!({"scope": "key", "scope_id": k2.id, "period": "weekly", "max_cost_usd": "1"}))
            .await;

    let acme = |k: &Key| k.tenant == k1.tenant;
    let expect = |budget: &Value, window: Window, matches: &dyn Fn(&Key) -> bool| {
        let (tokens, cost) = spent(&cells, &window, |k| acme(k) && matches(k));
        assert_eq!(budget["current"]["period_start"], json!(window.start));
        assert_eq!(budget["current"]["period_end"], json!(window.end));
        assert_eq!(budget["current"]["tokens"], tokens, "{budget}");
        assert_eq!(budget["current"]["cost_usd"], usd(cost), "{budget}");
    };
    expect(&daily, day, &|_| true);
    assert_eq!(daily["current"]["tokens"], 15 + 2000);
    expect(&monthly, month, &|k| k.project == k1.project);
    let all_time = Period::Lifetime.window(zone, now);
    expect(&lifetime, all_time, &|k| k.user == k1.user);
    assert_eq!(lifetime["current"]["tokens"], 15 + 100 + 7 + 50);
    assert_eq!(lifetime["current"]["cost_usd"], "0.000003000009");
    expect(&weekly, Period::Weekly.window(zone, now), &|k| {
        k.id == k2.id
    });

    // The list shows the same figures.
    let listed = member.get(BASE).await.expect_status(200);
    for budget in listed["items"].as_array().unwrap() {
        let created = [&daily, &monthly, &lifetime, &weekly]
            .into_iter()
            .find(|b| b["id"] == budget["id"])
            .unwrap();
        assert_eq!(budget["current"], created["current"]);
    }
}

#[tokio::test]
async fn budgets_are_invisible_to_other_tenants() {
    let app = TestApp::spawn().await;
    let (a, _) = tenant_with_keys(&app, "acme").await;
    let (b, _) = tenant_with_keys(&app, "globex").await;
    let member_a = app.tenant_member("acme").await;
    let member_b = app.tenant_member("globex").await;
    let budget = member_a
        .post(
            BASE,
            json!({"scope": "project", "scope_id": a.project, "period": "daily", "max_tokens": 10}),
        )
        .await
        .expect_status(201);
    let id = budget["id"].as_str().unwrap();
    let own = "/api/v1/tenants/globex/budgets";
    unreachable_from_other_tenant(
        &member_b,
        BASE,
        own,
        id,
        json!({"scope": "tenant", "period": "daily", "max_tokens": 1}),
        json!({"max_tokens": 1}),
    )
    .await;
    let problem = member_b
        .post(
            own,
            json!({"scope": "project", "scope_id": a.project, "period": "daily", "max_tokens": 1}),
        )
        .await
        .expect_problem(422);
    assert_eq!(problem["errors"][0]["field"], "/scope_id");
    member_b
        .post(
            own,
            json!({"scope": "project", "scope_id": b.project, "period": "daily", "max_tokens": 1}),
        )
        .await
        .expect_status(201);
    let unchanged = member_a
        .get(&format!("{BASE}/{id}"))
        .await
        .expect_status(200);
    assert_eq!(unchanged, budget);
}
