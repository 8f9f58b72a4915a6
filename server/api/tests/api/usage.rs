use ditto_testkit::{Api, TestApp};
use serde_json::{Value, json};
use uuid::Uuid;

use super::support::{Cell, insert_rollups, tenant_with_keys};

async fn usage(api: &Api, path: &str) -> Value {
    api.get(path).await.expect_status(200)
}

#[tokio::test]
async fn usage_is_summed_grouped_and_bucketed_in_the_tenant_zone() {
    let app = TestApp::spawn().await;
    let (k1, k2) = tenant_with_keys(&app, "acme").await;
    let (other, _) = tenant_with_keys(&app, "globex").await;
    let admin = app.admin();
    admin
        .patch("/api/v1/tenants/acme", json!({"time_zone": "Europe/Paris"}))
        .await
        .expect_status(200);
    let backend = Uuid::now_v7();
    insert_rollups(
        &app,
        &[
            Cell {
                backend: Some(backend),
                requests: 3,
                errors: 1,
                prompt: 100,
                completion: 50,
                cached: 10,
                cost_pico: 1_500_000,
                ..Cell::new("2026-03-10T10:00:00Z", k1, "gpt-4o")
            },
            Cell {
                backend: Some(backend),
                requests: 2,
                cost_pico: 250_000_000_000,
                ..Cell::new("2026-03-10T10:15:00Z", k1, "gpt-4o")
            },
            // 00:30 on March 11 in Paris (UTC+1 until the end of March).
            Cell::new("2026-03-10T23:30:00Z", k2, "gpt-4o-mini"),
            // Outside the range asked for.
            Cell::new("2026-03-12T00:00:00Z", k2, "gpt-4o-mini"),
            // Another tenant's usage, in range.
            Cell {
                requests: 1000,
                ..Cell::new("2026-03-10T10:00:00Z", other, "gpt-4o")
            },
        ],
    )
    .await;
    let range = "from=2026-03-10T10:07:00Z&to=2026-03-11T23:59:00Z";
    let base = "/api/v1/tenants/acme/usage";

    let total = usage(&admin, &format!("{base}?{range}")).await;
    assert_eq!(total["from"], "2026-03-10T10:00:00Z", "widened down");
    assert_eq!(total["to"], "2026-03-12T00:00:00Z", "widened up");
    assert_eq!(total["time_zone"], "Europe/Paris");
    assert_eq!(total["truncated"], false);
    assert_eq!(
        total["rows"],
        json!([{"requests": 6, "errors": 1, "prompt_tokens": 120, "completion_tokens": 60,
                "cached_tokens": 10, "cost_usd": "0.2500025"}])
    );

    let by_model = usage(&admin, &format!("{base}?{range}&group_by=model,key")).await;
    assert_eq!(by_model["group_by"], json!(["model", "key"]));
    let rows = by_model["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["model"], "gpt-4o");
    assert_eq!(rows[0]["key_id"], k1.id.to_string());
    assert_eq!(rows[0]["requests"], 5);
    assert_eq!(rows[0]["cost_usd"], "0.2500015");
    assert!(
        rows[0].get("project_id").is_none(),
        "not grouped by project"
    );
    assert!(rows[0].get("user_id").is_none());
    assert_eq!(rows[1]["model"], "gpt-4o-mini");

    // Keys nobody owns appear with a null user; requests without a backend with a null backend.
    let by_user = usage(&admin, &format!("{base}?{range}&group_by=user,backend")).await;
    let rows = by_user["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["user_id"], k1.user.unwrap().to_string());
    assert_eq!(rows[0]["backend_id"], backend.to_string());
    assert_eq!(rows[1]["user_id"], Value::Null);
    assert_eq!(rows[1]["backend_id"], Value::Null);
    assert!(rows[1].as_object().unwrap().contains_key("user_id"));

    // Days start at midnight in Paris: 23:00 UTC the day before.
    let by_day = usage(
        &admin,
        &format!("{base}?{range}&group_by=project&interval=day"),
    )
    .await;
    let days: Vec<(&str, &str, u64)> = by_day["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["bucket"].as_str().unwrap(),
                r["project_id"].as_str().unwrap(),
                r["requests"].as_u64().unwrap(),
            )
        })
        .collect();
    let (p1, p2) = (k1.project.to_string(), k2.project.to_string());
    assert_eq!(
        days,
        [
            ("2026-03-09T23:00:00Z", p1.as_str(), 5),
            ("2026-03-10T23:00:00Z", p2.as_str(), 1)
        ]
    );

    let by_hour = usage(&admin, &format!("{base}?{range}&interval=hour")).await;
    let hours: Vec<(&str, u64)> = by_hour["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["bucket"].as_str().unwrap(),
                r["requests"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        hours,
        [("2026-03-10T10:00:00Z", 5), ("2026-03-10T23:00:00Z", 1)]
    );

    // A tenant member reads its own tenant's usage.
    let member = app.tenant_member("acme").await;
    let mine = usage(&member, &format!("{base}?{range}")).await;
    assert_eq!(mine["rows"][0]["requests"], 6);
}

#[tokio::test]
async fn usage_queries_are_checked() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let base = "/api/v1/tenants/acme/usage";
    let fields = |path: String| {
        let admin = admin.clone();
        async move { admin.get(&path).await.invalid_fields() }
    };
    assert_eq!(fields(base.to_owned()).await, ["from", "to"]);
    assert_eq!(
        fields(format!(
            "{base}?from=2026-03-10T10:00:00Z&to=2026-03-10T10:00:00Z"
        ))
        .await,
        ["to"]
    );
    assert_eq!(
        fields(format!(
            "{base}?from=2025-01-01T00:00:00Z&to=2026-03-10T00:00:00Z"
        ))
        .await,
        ["to"],
        "more than 400 days"
    );
    let range = "from=2026-03-10T00:00:00Z&to=2026-03-11T00:00:00Z";
    assert_eq!(
        fields(format!("{base}?{range}&group_by=tenant")).await,
        ["group_by"],
        "tenant is for platform queries"
    );
    assert_eq!(
        fields(format!("{base}?{range}&group_by=model,colour")).await,
        ["group_by"]
    );
    assert_eq!(
        fields(format!("{base}?{range}&interval=week")).await,
        ["query"]
    );
    assert_eq!(
        fields(format!("{base}?from=yesterday&to=2026-03-11T00:00:00Z")).await,
        ["query"]
    );
    // No usage: one row of zeros.
    let empty = admin
        .get(&format!("{base}?{range}"))
        .await
        .expect_status(200);
    assert_eq!(empty["rows"][0]["requests"], 0);
    assert_eq!(empty["rows"][0]["cost_usd"], "0.00");
    let grouped = admin
        .get(&format!("{base}?{range}&group_by=model"))
        .await
        .expect_status(200);
    assert_eq!(grouped["rows"], json!([]));
}

#[tokio::test]
async fn platform_usage_spans_tenants_and_is_exact_past_i64() {
    let app = TestApp::spawn().await;
    let (a, _) = tenant_with_keys(&app, "acme").await;
    let (b, _) = tenant_with_keys(&app, "globex").await;
    // Two costs whose sum does not fit in an i64 of pico-USD.
    let huge = i64::MAX / 2 + 1;
    insert_rollups(
        &app,
        &[
            Cell {
                cost_pico: huge,
                ..Cell::new("2026-03-10T10:00:00Z", a, "gpt-4o")
            },
            Cell {
                cost_pico: huge,
                ..Cell::new("2026-03-10T11:00:00Z", a, "gpt-4o")
            },
            Cell::new("2026-03-10T22:00:00Z", b, "gpt-4o"),
        ],
    )
    .await;
    let admin = app.admin();
    let range = "from=2026-03-10T00:00:00Z&to=2026-03-11T00:00:00Z";
    let report = admin
        .get(&format!(
            "/api/v1/usage?{range}&group_by=tenant&interval=day"
        ))
        .await
        .expect_status(200);
    assert_eq!(report["time_zone"], "UTC");
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let of = |t: Uuid| {
        rows.iter()
            .find(|r| r["tenant_id"] == t.to_string())
            .unwrap()
    };
    assert_eq!(of(a.tenant)["bucket"], "2026-03-10T00:00:00Z");
    let expected = (i128::from(huge) * 2).to_string();
    let (whole, frac) = expected.split_at(expected.len() - 12);
    assert_eq!(
        of(a.tenant)["cost_usd"],
        format!("{whole}.{}", frac.trim_end_matches('0'))
    );
    assert_eq!(of(b.tenant)["cost_usd"], "0.000001");

    // Tenants see only their own usage, and not across tenants.
    let member = app.tenant_member("acme").await;
    member
        .get(&format!("/api/v1/usage?{range}"))
        .await
        .expect_problem(403);
    let own = member
        .get(&format!(
            "/api/v1/tenants/acme/usage?{range}&group_by=model"
        ))
        .await
        .expect_status(200);
    assert_eq!(own["rows"][0]["requests"], 2);
    member
        .get(&format!("/api/v1/tenants/globex/usage?{range}"))
        .await
        .expect_problem(404);
}

#[tokio::test]
async fn usage_reports_are_capped() {
    let app = TestApp::spawn().await;
    let (k, _) = tenant_with_keys(&app, "acme").await;
    let cells: Vec<Cell> = (0..10_001)
        .map(|n| Cell::new("2026-03-10T10:00:00Z", k, &format!("model-{n}")))
        .collect();
    insert_rollups(&app, &cells).await;
    let report = app
        .admin()
        .get("/api/v1/tenants/acme/usage?from=2026-03-10T00:00:00Z&to=2026-03-11T00:00:00Z&group_by=model")
        .await
        .expect_status(200);
    assert_eq!(report["truncated"], true);
    assert_eq!(report["rows"].as_array().unwrap().len(), 10_000);
}
