//! The audit chain itself: gapless under concurrent writers, tamper-evident,\nout of the application's reach, per tenant, and intact through retention.

use ditto_core::audit::{AuditRecord, GENESIS};
use ditto_testkit::TestApp;
use serde_json::{Value, json};
use sqlx::Row;

use super::audit::*;

#[tokio::test]
async fn a_failed_change_leaves_no_event() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    admin
        .post("/api/v1/tenants/acme/projects", json!({"name": "p"}))
        .await
        .expect_status(201);
    let before = all_events(&app).await.len();
    // A duplicate name fails inside the transaction.
    admin
        .post("/api/v1/tenants/acme/projects", json!({"name": "p"}))
        .await
        .expect_problem(409);
    admin
        .delete(&format!(
            "/api/v1/tenants/acme/projects/{}",
            uuid::Uuid::now_v7()
        ))
        .await
        .expect_problem(404);
    assert_eq!(all_events(&app).await.len(), before);
}

#[tokio::test]
async fn every_actor_type_the_store_records_is_one_the_database_takes() {
    let app = TestApp::spawn().await;
    let mut conn = app.db.connect().await;
    for actor_type in ["service_account", "user", "system"] {
        let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
        sqlx::query(
            "INSERT INTO audit_events (id, tenant_id, seq, prev_hash, hash, created_at,
                 actor_type, action, target_type)
             VALUES (gen_random_uuid(), gen_random_uuid(), 1, $1, $1, now(), $2, 'x.y', 'x')",
        )
        .bind(GENESIS.as_slice())
        .bind(actor_type)
        .execute(&mut *tx)
        .await
        .unwrap_or_else(|e| panic!("{actor_type}: {e}"));
        tx.rollback().await.unwrap();
    }
}

#[tokio::test]
async fn concurrent_writers_make_a_gapless_chain_that_verifies() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let mut tasks = Vec::new();
    for i in 0..24 {
        let admin = admin.clone();
        tasks.push(tokio::spawn(async move {
            admin
                .post(
                    "/api/v1/tenants/acme/projects",
                    json!({"name": format!("p{i}")}),
                )
                .await
                .expect_status(201);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let events = admin.collect("/api/v1/tenants/acme/audit", 10).await;
    let mut seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    seqs.sort();
    assert_eq!(seqs, (1..=24).collect::<Vec<_>>());
    // Each event points at the one before it.
    let mut by_seq = events.clone();
    by_seq.sort_by_key(|e| e["seq"].as_i64().unwrap());
    for pair in by_seq.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
    }
    let report = admin
        .get("/api/v1/tenants/acme/audit/verification")
        .await
        .expect_status(200);
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["checked"], 24);
    assert_eq!(report["verified_through"], 24);
}

pub(super) async fn tenant_with_events(app: &TestApp, slug: &str, n: usize) -> String {
    let tenant = app.tenant(slug).await;
    for i in 0..n {
        app.admin()
            .post(
                &format!("/api/v1/tenants/{slug}/projects"),
                json!({"name": format!("p{i}")}),
            )
            .await
            .expect_status(201);
    }
    id(&tenant)
}

pub(super) async fn verification(app: &TestApp, slug: &str) -> Value {
    app.admin()
        .get(&format!("/api/v1/tenants/{slug}/audit/verification"))
        .await
        .expect_status(200)
}

#[tokio::test]
async fn tampering_by_the_superuser_is_reported_at_its_sequence() {
    let app = TestApp::spawn().await;
    let altered = tenant_with_events(&app, "altered", 5).await;
    let deleted = tenant_with_events(&app, "deleted", 5).await;
    let rehashed = tenant_with_events(&app, "rehashed", 5).await;
    assert_eq!(verification(&app, "altered").await["valid"], true);

    superuser(
        &app,
        &format!("UPDATE audit_events SET after = jsonb_set(after, '{{name}}', '\"x\"') WHERE tenant_id = '{altered}' AND seq = 3"),
    )
    .await;
    let report = verification(&app, "altered").await;
    assert_eq!(report["valid"], false);
    assert_eq!(report["broken"]["seq"], 3, "{report}");
    assert_eq!(report["verified_through"], 2);

    superuser(
        &app,
        &format!("DELETE FROM audit_events WHERE tenant_id = '{deleted}' AND seq = 2"),
    )
    .await;
    let report = verification(&app, "deleted").await;
    assert_eq!(report["broken"]["seq"], 2, "{report}");

    // The last event removed: the chain's head still knows it existed.
    superuser(
        &app,
        &format!("DELETE FROM audit_events WHERE tenant_id = '{rehashed}' AND seq = 5"),
    )
    .await;
    let report = verification(&app, "rehashed").await;
    assert_eq!(report["broken"]["seq"], 5, "{report}");

    // The operator CLI's path reports the same link.
    let report = app
        .store
        .operator_verify_audit_chain("deleted", &ditto_testkit::audit_signer().public_keys())
        .await
        .unwrap();
    assert_eq!(report.broken.unwrap().seq, 2);
}

#[tokio::test]
async fn the_application_roles_cannot_change_or_remove_events() {
    let app = TestApp::spawn().await;
    let tenant = tenant_with_events(&app, "acme", 2).await;
    let mut conn = app.db.connect().await;
    for (role, statement) in [
        ("ditto_app", "UPDATE audit_events SET action = 'x'"),
        ("ditto_app", "DELETE FROM audit_events"),
        ("ditto_platform", "UPDATE audit_events SET action = 'x'"),
        ("ditto_platform", "DELETE FROM audit_events"),
        ("ditto_platform", "TRUNCATE audit_events"),
        ("ditto_platform", "DELETE FROM audit_checkpoints"),
    ] {
        let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
        sqlx::query("SELECT set_config('role', $1, true), set_config('app.tenant_id', $2, true)")
            .bind(role)
            .bind(&tenant)
            .execute(&mut *tx)
            .await
            .unwrap();
        let err = sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(&mut *tx)
            .await
            .expect_err(statement);
        assert!(
            err.to_string().contains("permission denied"),
            "{role}: {statement}: {err}"
        );
        tx.rollback().await.unwrap();
    }
    // Even with a grant given back, the trigger refuses.
    superuser(
        &app,
        "GRANT UPDATE, DELETE ON audit_events TO ditto_platform",
    )
    .await;
    let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
    sqlx::query("SELECT set_config('role', 'ditto_platform', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = sqlx::query("DELETE FROM audit_events")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    tx.rollback().await.unwrap();
    // And the prune path refuses without a retention checkpoint.
    let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
    sqlx::query("SELECT set_config('role', 'ditto_platform', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT ditto_audit_prune('{tenant}', 2)"
    )))
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("no retention checkpoint"), "{err}");
    tx.rollback().await.unwrap();
    assert_eq!(verification(&app, "acme").await["valid"], true);
}

#[tokio::test]
async fn each_tenant_sees_only_its_own_events_and_the_platform_sees_all() {
    let app = TestApp::spawn().await;
    let a = tenant_with_events(&app, "tenant-a", 3).await;
    let b = tenant_with_events(&app, "tenant-b", 3).await;
    let member_a = app.tenant_member("tenant-a").await;
    let member_b = app.tenant_member("tenant-b").await;
    // The members' own creation is audited too.
    let a_events = member_a.collect("/api/v1/tenants/tenant-a/audit", 2).await;
    assert!(a_events.len() >= 3);
    assert!(a_events.iter().all(|e| e["tenant_id"] == a.as_str()));
    let b_events = member_b.collect("/api/v1/tenants/tenant-b/audit", 2).await;
    assert!(b_events.iter().all(|e| e["tenant_id"] == b.as_str()));

    // Another tenant's URL is not found.
    member_a
        .get("/api/v1/tenants/tenant-b/audit")
        .await
        .expect_problem(404);
    // B's targets and B's cursors reach nothing of B through A.
    let b_target = b_events[0]["target_id"].as_str().unwrap();
    let page = member_a
        .get(&format!(
            "/api/v1/tenants/tenant-a/audit?target_id={b_target}"
        ))
        .await
        .expect_status(200);
    assert_eq!(page["items"], json!([]));
    let b_page = member_b
        .get("/api/v1/tenants/tenant-b/audit?limit=1")
        .await
        .expect_status(200);
    let cursor = b_page["next_cursor"].as_str().unwrap();
    let page = member_a
        .get(&format!("/api/v1/tenants/tenant-a/audit?cursor={cursor}"))
        .await
        .expect_status(200);
    for e in page["items"].as_array().unwrap() {
        assert_eq!(e["tenant_id"], a.as_str());
    }
    let page = member_a
        .get("/api/v1/tenants/tenant-a/audit?action=projects.create&limit=200")
        .await
        .expect_status(200);
    assert_eq!(page["items"].as_array().unwrap().len(), 3);

    // Tenant principals cannot use the platform view.
    member_a.get("/api/v1/audit").await.expect_problem(403);

    // A platform auditor sees both, and narrows to one explicitly.
    let auditor = app.platform_member("platform_auditor").await;
    let all = auditor.collect("/api/v1/audit", 50).await;
    for t in [&a, &b] {
        assert!(all.iter().any(|e| e["tenant_id"] == t.as_str()));
    }
    assert!(all.iter().any(|e| e["tenant_id"].is_null()));
    let only_b = auditor
        .collect(&format!("/api/v1/audit?tenant_id={b}"), 50)
        .await;
    assert_eq!(only_b.len(), b_events.len());
}

/// Rewrites a chain as a superuser could: moves its first `n` events back
/// by `days` and recomputes every hash and the head, so the result is a
/// consistent chain of old events.
pub(super) async fn age_events(app: &TestApp, tenant: &str, n: i64, days: i64) {
    let mut conn = app.db.connect().await;
    superuser(
        app,
        &format!("UPDATE audit_events SET created_at = created_at - interval '{days} days' WHERE tenant_id = '{tenant}' AND seq <= {n}"),
    )
    .await;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, tenant_id, seq, created_at, actor_type, actor_id, action, target_type, target_id,
             before, after, request_id, source_ip, user_agent
         FROM audit_events WHERE tenant_id = '{tenant}' ORDER BY seq"
    )))
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut prev = GENESIS;
    for r in rows {
        let record = AuditRecord {
            id: r.get("id"),
            tenant_id: r.get("tenant_id"),
            seq: r.get("seq"),
            created_at: r.get("created_at"),
            actor_type: r.get("actor_type"),
            actor_id: r.get("actor_id"),
            action: r.get("action"),
            target_type: r.get("target_type"),
            target_id: r.get("target_id"),
            before: r.get("before"),
            after: r.get("after"),
            request_id: r.get("request_id"),
            source_ip: r.get("source_ip"),
            user_agent: r.get("user_agent"),
        };
        let hash = record.hash(&prev);
        sqlx::query("UPDATE audit_events SET prev_hash = $2, hash = $3 WHERE id = $1")
            .bind(record.id)
            .bind(prev.as_slice())
            .bind(hash.as_slice())
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("UPDATE audit_heads SET hash = $2 WHERE tenant_id = $1")
            .bind(record.tenant_id)
            .bind(hash.as_slice())
            .execute(&mut conn)
            .await
            .unwrap();
        prev = hash;
    }
}

#[tokio::test]
async fn retention_removes_old_events_and_the_rest_verifies_from_its_checkpoint() {
    let app = TestApp::spawn().await;
    let tenant = tenant_with_events(&app, "acme", 6).await;
    age_events(&app, &tenant, 4, 40).await;
    let admin = app.admin();
    assert_eq!(verification(&app, "acme").await["valid"], true);
    assert_eq!(
        admin
            .get("/api/v1/tenants/acme/audit/retention")
            .await
            .expect_status(200)["retention_days"],
        30
    );
    let run = admin
        .post("/api/v1/tenants/acme/audit/retention/apply", json!(null))
        .await
        .expect_status(200);
    assert_eq!(run["removed"], 4, "{run}");
    assert_eq!(run["checkpoint"]["seq"], 4);
    assert_eq!(run["checkpoint"]["reason"], "retention");

    let events = admin.collect("/api/v1/tenants/acme/audit", 50).await;
    let mut seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    seqs.sort();
    // 5 and 6 stay; 7 records the retention run.
    assert_eq!(seqs, [5, 6, 7]);
    let retention = events.iter().find(|e| e["seq"] == 7).unwrap();
    assert_eq!(retention["action"], "audit_retention.apply");
    assert_eq!(retention["after"]["removed"], 4);

    let report = verification(&app, "acme").await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["anchor"]["seq"], 4);
    assert_eq!(report["checked"], 3);

    // Nothing is old enough now: a second run removes nothing.
    let run = admin
        .post("/api/v1/tenants/acme/audit/retention/apply", json!(null))
        .await
        .expect_status(200);
    assert_eq!(run["removed"], 0);
    assert_eq!(verification(&app, "acme").await["valid"], true);

    // Tampering after retention is still caught.
    superuser(
        &app,
        &format!("DELETE FROM audit_events WHERE tenant_id = '{tenant}' AND seq = 5"),
    )
    .await;
    assert_eq!(verification(&app, "acme").await["broken"]["seq"], 5);
}

#[tokio::test]
async fn housekeeping_checkpoints_moved_chains_and_applies_retention() {
    let app = TestApp::spawn().await;
    let tenant = tenant_with_events(&app, "acme", 3).await;
    age_events(&app, &tenant, 2, 31).await;
    let signer = ditto_testkit::audit_signer();
    let (checkpoints, removed) = app.store.audit_housekeeping(&signer).await.unwrap();
    // The platform chain and acme's moved.
    assert_eq!(checkpoints, 2);
    assert_eq!(removed, 2);
    assert_eq!(verification(&app, "acme").await["valid"], true);
    let (checkpoints, removed) = app.store.audit_housekeeping(&signer).await.unwrap();
    // Only acme's retention event is new.
    assert_eq!((checkpoints, removed), (1, 0));
    // Nothing moved and nothing is old: a run changes nothing.
    let before = all_events(&app).await.len();
    let (checkpoints, removed) = app.store.audit_housekeeping(&signer).await.unwrap();
    assert_eq!((checkpoints, removed), (0, 0));
    assert_eq!(all_events(&app).await.len(), before);
}
