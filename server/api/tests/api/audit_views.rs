//! What the audit trail shows and hands out: exports that verify offline,\nfilters, images of routes, rotated signing keys, and recorded refusals.

use ditto_core::audit::{
    AuditRecord, ChainLink, ChainWalk, GENESIS, checkpoint_message, verify_signature,
};
use ditto_testkit::TestApp;
use serde_json::{Value, json};

use super::audit::*;
use super::audit_chain::{age_events, tenant_with_events, verification};

#[tokio::test]
async fn exports_stream_every_event_and_verify_offline() {
    let app = TestApp::spawn().await;
    tenant_with_events(&app, "acme", 4).await;
    let admin = app.admin();
    let checkpoint = admin
        .post("/api/v1/tenants/acme/audit/checkpoints", json!(null))
        .await
        .expect_status(201);
    assert_eq!(checkpoint["seq"], 4);
    let key = admin
        .get("/api/v1/audit/signing-key")
        .await
        .expect_status(200);
    assert_eq!(key["algorithm"], "ed25519");
    let public_key = key["public_key"].as_str().unwrap();

    let resp = admin.get("/api/v1/tenants/acme/audit/export").await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.headers["content-type"], "application/x-ndjson");
    let mut lines = resp.text.lines();
    let head: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(head["public_key"], public_key);
    let events: Vec<Value> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 5, "4 projects and the checkpoint");

    // Offline: the chain from the genesis, and the checkpoint's signature.
    let mut walk = ChainWalk::from(0, GENESIS);
    for e in &events {
        let link = ChainLink {
            record: AuditRecord {
                id: e["id"].as_str().unwrap().parse().unwrap(),
                tenant_id: e["tenant_id"].as_str().map(|t| t.parse().unwrap()),
                seq: e["seq"].as_i64().unwrap(),
                created_at: e["created_at"].as_str().unwrap().parse().unwrap(),
                actor_type: e["actor_type"].as_str().unwrap().into(),
                actor_id: e["actor_id"].as_str().map(|t| t.parse().unwrap()),
                action: e["action"].as_str().unwrap().into(),
                target_type: e["target_type"].as_str().unwrap().into(),
                target_id: e["target_id"].as_str().map(Into::into),
                before: Some(e["before"].clone()).filter(|v| !v.is_null()),
                after: Some(e["after"].clone()).filter(|v| !v.is_null()),
                request_id: e["request_id"].as_str().map(Into::into),
                source_ip: e["source_ip"].as_str().map(Into::into),
                user_agent: e["user_agent"].as_str().map(Into::into),
            },
            prev_hash: hex::decode(e["prev_hash"].as_str().unwrap()).unwrap(),
            hash: hex::decode(e["hash"].as_str().unwrap()).unwrap(),
        };
        walk.step(&link).unwrap();
    }
    let cp = &head["checkpoint"];
    let cp_hash = hex::decode(cp["hash"].as_str().unwrap()).unwrap();
    assert_eq!(
        cp_hash,
        events[3]["hash"]
            .as_str()
            .map(|h| hex::decode(h).unwrap())
            .unwrap()
    );
    let message = checkpoint_message(
        Some(cp["tenant_id"].as_str().unwrap().parse().unwrap()),
        cp["seq"].as_i64().unwrap(),
        &cp_hash,
        cp["created_at"].as_str().unwrap().parse().unwrap(),
    );
    let signature = base64_decode(cp["signature"].as_str().unwrap());
    assert!(verify_signature(public_key, &message, &signature));

    let csv = admin
        .get("/api/v1/tenants/acme/audit/export?format=csv")
        .await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.headers["content-type"], "text/csv");
    assert!(csv.headers.contains_key("x-ditto-audit-checkpoint"));
    let rows: Vec<&str> = csv.text.lines().collect();
    assert!(rows[0].starts_with("id,tenant_id,seq,"));
    // One row per event; JSON images are quoted, so count by record start.
    assert_eq!(
        rows.iter()
            .filter(|r| r.len() > 36 && r.as_bytes()[8] == b'-' && r.contains(",service_account,"))
            .count(),
        5
    );

    // Exporting needs `audit:export`: a viewer may not.
    let viewer = app.tenant_member_as("acme", "viewer").await;
    viewer
        .get("/api/v1/tenants/acme/audit/export")
        .await
        .expect_problem(403);
}

pub(super) fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

#[tokio::test]
async fn platform_accounts_made_outside_the_api_are_recorded_as_system_changes() {
    let app = TestApp::spawn().await;
    app.platform_member("platform_auditor").await;
    let events = all_events(&app).await;
    let actions: Vec<_> = events.iter().map(|e| e["action"].clone()).collect();
    assert_eq!(
        actions,
        ["platform_accounts.bootstrap", "platform_accounts.create"]
    );
    for e in &events {
        assert_eq!(e["actor_type"], "system");
        assert!(e["tenant_id"].is_null());
        assert!(!e.to_string().contains(ditto_testkit::BOOTSTRAP_TOKEN));
    }
    let report = app
        .admin()
        .get("/api/v1/audit/verification")
        .await
        .expect_status(200);
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["checked"], 2);
}

#[tokio::test]
async fn filters_narrow_by_actor_target_and_time() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let member = app.tenant_member("acme").await;
    let project = member.project("acme", "p").await;
    member
        .patch(
            &format!("/api/v1/tenants/acme/projects/{project}"),
            json!({"name": "p2"}),
        )
        .await
        .expect_status(200);
    let all = admin.collect("/api/v1/tenants/acme/audit", 50).await;
    let mine: Vec<_> = all
        .iter()
        .filter(|e| e["target_id"] == project.as_str())
        .collect();
    assert_eq!(mine.len(), 2);
    let actor = mine[0]["actor_id"].as_str().unwrap();
    let by_actor = admin
        .collect(&format!("/api/v1/tenants/acme/audit?actor_id={actor}"), 50)
        .await;
    assert_eq!(by_actor.len(), 2, "the member's own two changes");
    let by_target = admin
        .collect(
            &format!("/api/v1/tenants/acme/audit?target_type=project&target_id={project}"),
            50,
        )
        .await;
    assert_eq!(by_target.len(), 2);
    assert_eq!(by_target[0]["action"], "projects.update");
    assert_eq!(by_target[0]["before"]["name"], "p");
    assert_eq!(by_target[0]["after"]["name"], "p2");

    let update_time = by_target[0]["created_at"].as_str().unwrap();
    let since = admin
        .collect(
            &format!(
                "/api/v1/tenants/acme/audit?since={}",
                update_time.replace('+', "%2B")
            ),
            50,
        )
        .await;
    assert_eq!(since.len(), 1);
    let until = admin
        .collect(
            &format!(
                "/api/v1/tenants/acme/audit?target_id={project}&until={}",
                update_time.replace('+', "%2B")
            ),
            50,
        )
        .await;
    assert_eq!(until.len(), 1);
    assert_eq!(until[0]["action"], "projects.create");

    let fields = admin
        .get("/api/v1/tenants/acme/audit?since=2030-01-01T00:00:00Z&until=2029-01-01T00:00:00Z")
        .await
        .invalid_fields();
    assert_eq!(fields, ["until"]);
    // Every bad filter is named at once.
    let fields = admin
        .get(&format!(
            "/api/v1/tenants/acme/audit?action=&target_id={}",
            "x".repeat(201)
        ))
        .await
        .invalid_fields();
    assert_eq!(fields, ["action", "target_id"]);
}

#[tokio::test]
async fn a_routes_images_carry_its_targets() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let backend = |name: &'static str| {
        let admin = admin.clone();
        async move {
            let b = admin
                .post(
                    "/api/v1/tenants/acme/backends",
                    json!({"name": name, "base_url": "http://127.0.0.1:9/v1"}),
                )
                .await
                .expect_status(201);
            id(&b)
        }
    };
    let (one, two) = (backend("one").await, backend("two").await);
    let route = admin
        .post(
            "/api/v1/tenants/acme/routes",
            json!({"model": "m", "targets": [{"backend_id": one}]}),
        )
        .await
        .expect_status(201);
    admin
        .patch(
            &format!("/api/v1/tenants/acme/routes/{}", id(&route)),
            json!({"targets": [{"backend_id": two}]}),
        )
        .await
        .expect_status(200);
    let page = admin
        .get("/api/v1/tenants/acme/audit?action=routes.update")
        .await
        .expect_status(200);
    let event = &page["items"][0];
    assert_eq!(
        event["before"]["route_targets"][0]["backend_id"],
        one.as_str()
    );
    assert_eq!(
        event["after"]["route_targets"][0]["backend_id"],
        two.as_str()
    );
    assert_eq!(verification(&app, "acme").await["valid"], true);
}

#[tokio::test]
async fn a_rotated_signing_key_keeps_the_old_keys_checkpoints_verifying() {
    use ditto_core::audit::{AuditSigner, PublicKey};
    // The server signs with a new key and lists the one it used before.
    let old = ditto_testkit::audit_signer();
    let new_seed = AuditSigner::generate_base64();
    let new = AuditSigner::from_base64(&new_seed)
        .unwrap()
        .with_retired(vec![PublicKey::retired(&old.public_key_base64()).unwrap()]);
    let app = TestApp::spawn_with(ditto_testkit::Options {
        gateway: ditto_testkit::quick_gateway_config(),
        audit_signer: Some(new.clone()),
        ..Default::default()
    })
    .await;
    let admin = app.admin();

    let keys = admin
        .get("/api/v1/audit/signing-key")
        .await
        .expect_status(200);
    assert_eq!(keys["key_id"], new.key_id());
    assert_eq!(
        keys["keys"],
        json!([
            {"key_id": new.key_id(), "public_key": new.public_key_base64(), "status": "current"},
            {"key_id": old.key_id(), "public_key": old.public_key_base64(), "status": "retired"},
        ])
    );

    // Before the rotation, the old key checkpointed the chain and anchored
    // it by removing its old events.
    let tenant = tenant_with_events(&app, "acme", 6).await;
    age_events(&app, &tenant, 4, 40).await;
    app.store.audit_housekeeping(&old).await.unwrap();
    // After it, the new key signs.
    tenant_with_events_in(&app, "acme", 2).await;
    let cp = admin
        .post_empty("/api/v1/tenants/acme/audit/checkpoints")
        .await
        .expect_status(201);
    assert_eq!(cp["key_id"], new.key_id());

    let report = verification(&app, "acme").await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["anchor"]["key_id"], old.key_id(), "{report}");
    assert_eq!(
        report["checkpoint_keys"],
        json!([old.key_id(), new.key_id()]),
        "{report}"
    );

    // Without the old key listed, its checkpoints do not verify, and the
    // report says which key they name.
    let alone = AuditSigner::from_base64(&new_seed).unwrap();
    let report = app
        .store
        .operator_verify_audit_chain("acme", &alone.public_keys())
        .await
        .unwrap();
    assert!(!report.valid);
    let broken = report.broken.unwrap();
    assert!(broken.reason.contains(&old.key_id()), "{}", broken.reason);
    // Nor do the new key's without the new key.
    let report = app
        .store
        .operator_verify_audit_chain("acme", &old.public_keys())
        .await
        .unwrap();
    let broken = report.broken.unwrap();
    assert_eq!(broken.seq, cp["seq"].as_i64().unwrap());
    assert!(broken.reason.contains(&new.key_id()), "{}", broken.reason);
}

/// `n` more events in an existing tenant.
pub(super) async fn tenant_with_events_in(app: &TestApp, slug: &str, n: usize) {
    for i in 0..n {
        app.admin()
            .post(
                &format!("/api/v1/tenants/{slug}/projects"),
                json!({"name": format!("later-{i}")}),
            )
            .await
            .expect_status(201);
    }
}

#[tokio::test]
async fn a_refused_permission_is_recorded_once_a_minute_per_actor_and_permission() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let viewer = app.tenant_member_as("acme", "viewer").await;
    let me = viewer.get("/api/v1/me").await.expect_status(200);
    let viewer_id = me["subject_id"].as_str().unwrap().to_owned();
    let refused = viewer
        .post(
            "/api/v1/tenants/acme/budgets",
            json!({"scope": "tenant", "period": "monthly", "max_tokens": 10}),
        )
        .await;
    let request_id = refused
        .headers
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    refused.expect_problem(403);

    let denied = |app: &TestApp| {
        let admin = app.admin();
        async move {
            admin
                .get("/api/v1/tenants/acme/audit?action=security.permission_denied&limit=200")
                .await
                .expect_status(200)["items"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    let events = denied(&app).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e["actor_type"], "service_account");
    assert_eq!(e["actor_id"], viewer_id.as_str());
    assert_eq!(e["target_type"], "permission");
    assert_eq!(e["target_id"], "budgets:write");
    assert_eq!(e["request_id"], request_id.as_str());
    assert_eq!(e["source_ip"], "127.0.0.1");
    assert_eq!(e["after"]["permission"], "budgets:write");
    assert_eq!(
        e["after"]["operation"],
        "POST /api/v1/tenants/{tenant}/budgets"
    );
    assert_eq!(e["after"]["reason"], "missing permission `budgets:write`");
    assert_eq!(e["after"]["suppressed_since_last"], 0);

    // A flood of the same refusal records nothing more; another
    // permission is recorded once.
    for _ in 0..40 {
        viewer
            .post(
                "/api/v1/tenants/acme/budgets",
                json!({"scope": "tenant", "period": "monthly", "max_tokens": 10}),
            )
            .await
            .expect_problem(403);
        viewer
            .post_empty(&format!(
                "/api/v1/tenants/acme/api-keys/{}/revoke",
                uuid::Uuid::now_v7()
            ))
            .await
            .expect_problem(403);
    }
    let events = denied(&app).await;
    let mut permissions: Vec<&str> = events
        .iter()
        .map(|e| e["target_id"].as_str().unwrap())
        .collect();
    permissions.sort();
    assert_eq!(permissions, ["budgets:write", "keys:write"], "{events:?}");
    assert_eq!(
        verification(&app, "acme").await["valid"],
        true,
        "the chain holds"
    );
}

#[tokio::test]
async fn refused_platform_operations_are_recorded_in_the_callers_own_chain() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let member = app.tenant_member("acme").await;
    member.get("/api/v1/tenants").await.expect_problem(403);
    let events = app
        .admin()
        .get("/api/v1/tenants/acme/audit?action=security.permission_denied")
        .await
        .expect_status(200);
    let e = &events["items"][0];
    assert_eq!(e["target_id"], "tenants:read", "{events}");
    assert_eq!(e["after"]["operation"], "GET /api/v1/tenants");

    // A platform auditor trying a change: the platform chain.
    let auditor = app.platform_member("platform_auditor").await;
    auditor
        .post("/api/v1/tenants", json!({"slug": "nope", "name": "nope"}))
        .await
        .expect_problem(403);
    let events = app
        .admin()
        .get("/api/v1/audit?platform_only=true&action=security.permission_denied")
        .await
        .expect_status(200);
    let e = &events["items"][0];
    assert_eq!(e["target_id"], "tenants:write", "{events}");
    assert_eq!(e["tenant_id"], Value::Null);
    let report = app
        .admin()
        .get("/api/v1/audit/verification")
        .await
        .expect_status(200);
    assert_eq!(report["valid"], true, "{report}");
}
