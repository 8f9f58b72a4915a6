//! Audit export to object storage: runs write JSONL objects and a manifest
//! to a real S3-compatible server (moto) or the platform's export
//! directory; what they write verifies offline with the published public
//! key; a refused credential fails the run without losing anything; each
//! tenant sees and uses only its own destinations and runs; secrets stay
//! out of every response, event and log line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ditto_core::audit::{AuditRecord, ChainLink, ChainWalk, checkpoint_message, verify_signature};
use ditto_testkit::moto::Moto;
use ditto_testkit::{Api, TestApp};
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

async fn superuser(app: &TestApp, sql: &str) {
    let mut conn = app.db.connect().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// A tenant with at least `n` events in its chain (projects made and renamed).
async fn tenant_with_events(app: &TestApp, slug: &str, n: usize) -> Api {
    app.tenant(slug).await;
    let admin = app.admin();
    for i in 0..n.div_ceil(2) {
        let p = admin
            .post(
                &format!("/api/v1/tenants/{slug}/projects"),
                json!({"name": format!("project-{i}"), "description": "x".repeat(200)}),
            )
            .await
            .expect_status(201);
        admin
            .patch(
                &format!("/api/v1/tenants/{slug}/projects/{}", id(&p)),
                json!({"description": "changed"}),
            )
            .await
            .expect_status(200);
    }
    app.tenant_member(slug).await
}

/// Waits until the run has finished; returns it.
async fn finished(api: &Api, slug: &str, run: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = api
            .get(&format!("/api/v1/tenants/{slug}/audit/exports/{run}"))
            .await
            .expect_status(200);
        if r["status"] == "succeeded" || r["status"] == "failed" {
            return r;
        }
        assert!(Instant::now() < deadline, "run never finished: {r}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn s3_client(moto: &Moto) -> Arc<dyn ObjectStore> {
    Arc::new(
        AmazonS3Builder::new()
            .with_endpoint(&moto.endpoint)
            .with_allow_http(true)
            .with_bucket_name(&moto.bucket)
            .with_region("us-east-1")
            .with_access_key_id(&moto.access_key_id)
            .with_secret_access_key(&moto.secret_access_key)
            .build()
            .unwrap(),
    )
}

async fn read(store: &Arc<dyn ObjectStore>, name: &str) -> Vec<u8> {
    store
        .get(&ObjectPath::from(name))
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

/// Checks an export as someone holding only its objects and the public key
/// would: each object's SHA-256 and row count, every event's hash from the
/// manifest's `prev_hash` on, and the checkpoint's signature over the last
/// event's hash. Returns the sequence numbers read.
async fn verify_offline(
    store: &Arc<dyn ObjectStore>,
    manifest_name: &str,
    public_key: &str,
) -> (Value, Vec<i64>) {
    let manifest: Value = serde_json::from_slice(&read(store, manifest_name).await).unwrap();
    assert_eq!(manifest["format"], "ditto-audit-export/v1");
    let from = manifest["from_seq"].as_i64().unwrap();
    let prev: [u8; 32] = hex::decode(manifest["prev_hash"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let mut walk = ChainWalk::from(from - 1, prev);
    let mut seqs = Vec::new();
    for object in manifest["objects"].as_array().unwrap() {
        let bytes = read(store, object["name"].as_str().unwrap()).await;
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            object["sha256"].as_str().unwrap()
        );
        assert_eq!(bytes.len() as u64, object["bytes"].as_u64().unwrap());
        let lines: Vec<&[u8]> = bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len() as u64, object["rows"].as_u64().unwrap());
        for line in lines {
            let e: Value = serde_json::from_slice(line).unwrap();
            let link = ChainLink {
                record: AuditRecord {
                    id: e["id"].as_str().unwrap().parse().unwrap(),
                    tenant_id: e["tenant_id"].as_str().map(|t| t.parse().unwrap()),
                    seq: e["seq"].as_i64().unwrap(),
                    created_at: e["created_at"].as_str().unwrap().parse().unwrap(),
                    actor_type: e["actor_type"].as_str().unwrap().into(),
                    actor_id: e["actor_id"].as_str().map(|a| a.parse().unwrap()),
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
            seqs.push(link.record.seq);
        }
    }
    assert_eq!(walk.last_seq(), manifest["to_seq"].as_i64().unwrap());
    let cp = &manifest["checkpoint"];
    assert_eq!(cp["seq"], manifest["to_seq"]);
    assert_eq!(cp["hash"].as_str().unwrap(), hex::encode(walk.last_hash()));
    assert_eq!(manifest["public_key"], public_key);
    let message = checkpoint_message(
        cp["tenant_id"].as_str().map(|t| t.parse().unwrap()),
        cp["seq"].as_i64().unwrap(),
        &hex::decode(cp["hash"].as_str().unwrap()).unwrap(),
        cp["created_at"].as_str().unwrap().parse().unwrap(),
    );
    assert!(verify_signature(
        public_key,
        &message,
        &base64_decode(manifest["signature"].as_str().unwrap())
    ));
    (manifest, seqs)
}

fn s3_destination(moto: &Moto, secret: &str) -> Value {
    json!({
        "name": "archive",
        "kind": "s3",
        "endpoint": moto.endpoint,
        "bucket": moto.bucket,
        "access_key_id": moto.access_key_id,
        "secret_access_key": secret,
        "prefix": "ditto/audit",
        "max_object_bytes": 4096,
    })
}

#[tokio::test]
async fn an_export_to_s3_writes_objects_and_a_manifest_that_verify_offline() {
    let app = TestApp::spawn().await;
    let moto = Moto::start("audit-archive").await;
    let api = tenant_with_events(&app, "acme", 40).await;
    let base = "/api/v1/tenants/acme/audit";
    let dest = api
        .post(
            &format!("{base}/export-destinations"),
            s3_destination(&moto, &moto.secret_access_key),
        )
        .await;
    assert!(!dest.text.contains(&moto.secret_access_key));
    let dest = dest.expect_status(201);
    assert_eq!(dest["has_secret_access_key"], true);
    assert!(dest.get("secret_access_key").is_none());

    let run = api
        .post(
            &format!("{base}/exports"),
            json!({"destination_id": dest["id"]}),
        )
        .await
        .expect_status(202);
    assert_eq!(run["status"], "pending");
    assert_eq!(run["from_seq"], 1);
    let to = run["to_seq"].as_i64().unwrap();
    assert!(to >= 40, "{run}");
    let run = finished(&api, "acme", &id(&run)).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["rows"].as_i64().unwrap(), to);
    let objects = run["objects"].as_array().unwrap();
    assert!(objects.len() > 1, "small objects split the range: {run}");
    assert!(
        objects
            .iter()
            .all(|o| o["bytes"].as_u64().unwrap() <= 4096 || o["rows"] == 1)
    );

    let public_key = api
        .get("/api/v1/audit/signing-key")
        .await
        .expect_status(200)["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let store = s3_client(&moto);
    let (manifest, seqs) =
        verify_offline(&store, run["manifest"].as_str().unwrap(), &public_key).await;
    assert_eq!(seqs, (1..=to).collect::<Vec<_>>());
    assert!(
        run["manifest"]
            .as_str()
            .unwrap()
            .starts_with(&format!("ditto/audit/{}/", id(&run)))
    );
    assert_eq!(manifest["tenant_id"], run["tenant_id"]);
    assert_eq!(manifest["objects"], run["objects"]);
    assert_eq!(manifest["key_id"], manifest["checkpoint"]["key_id"]);

    // A range of it, too.
    let part = api
        .post(
            &format!("{base}/exports"),
            json!({"destination_id": dest["id"], "from_seq": 5, "to_seq": 9}),
        )
        .await
        .expect_status(202);
    let part = finished(&api, "acme", &id(&part)).await;
    assert_eq!(part["rows"], 5, "{part}");
    let (_, seqs) = verify_offline(&store, part["manifest"].as_str().unwrap(), &public_key).await;
    assert_eq!(seqs, vec![5, 6, 7, 8, 9]);

    // The runs are audited: requested by the caller, finished by the system.
    let events = api
        .get(&format!("{base}?target_id={}", id(&run)))
        .await
        .expect_status(200);
    let actions: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["audit_exports.finish", "audit_exports.create"]);
    let verify = api
        .get(&format!("{base}/verification"))
        .await
        .expect_status(200);
    assert_eq!(verify["valid"], true, "{verify}");

    // The secret is nowhere: responses, events, logs.
    for path in [
        format!("{base}/export-destinations"),
        format!("{base}/export-destinations/{}", id(&dest)),
        format!("{base}/exports"),
        format!("{base}?limit=200"),
    ] {
        let r = api.get(&path).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(!r.text.contains(&moto.secret_access_key), "{path}");
    }
    assert!(!ditto_testkit::logs::captured().contains(&moto.secret_access_key));
}

#[tokio::test]
async fn a_refused_credential_fails_the_run_clearly_and_loses_nothing() {
    let app = TestApp::spawn().await;
    let moto = Moto::start("audit-archive").await;
    let api = tenant_with_events(&app, "acme", 10).await;
    let base = "/api/v1/tenants/acme/audit";
    let wrong = "wrong-secret-0123456789abcdefghijklmnopqr";
    let mut body = s3_destination(&moto, wrong);
    body["schedule"] = json!("daily");
    let dest = api
        .post(&format!("{base}/export-destinations"), body)
        .await
        .expect_status(201);
    assert!(dest["next_run_at"].is_string());

    // One-off and scheduled runs both fail, and say why.
    let run = api
        .post(
            &format!("{base}/exports"),
            json!({"destination_id": dest["id"]}),
        )
        .await
        .expect_status(202);
    let run = finished(&api, "acme", &id(&run)).await;
    assert_eq!(run["status"], "failed", "{run}");
    let error = run["error"].as_str().unwrap();
    assert!(
        error.contains("403") && error.contains("SignatureDoesNotMatch"),
        "{error}"
    );
    assert!(run["manifest"].is_null());
    assert!(!error.contains(wrong));

    app.audit_exporter.tick().await.unwrap();
    let runs = api
        .get(&format!("{base}/exports?destination_id={}", id(&dest)))
        .await
        .expect_status(200);
    let scheduled = &runs["items"][0];
    assert_eq!(scheduled["trigger"], "scheduled", "{runs}");
    assert_eq!(scheduled["status"], "failed", "{runs}");
    let dest_now = api
        .get(&format!("{base}/export-destinations/{}", id(&dest)))
        .await
        .expect_status(200);
    assert_eq!(
        dest_now["exported_through"], 0,
        "a failure moves nothing on"
    );

    // Nothing is lost: with the right secret, the next scheduled run
    // exports everything the failed one should have.
    api.patch(
        &format!("{base}/export-destinations/{}", id(&dest)),
        json!({"secret_access_key": moto.secret_access_key, "schedule": "hourly"}),
    )
    .await
    .expect_status(200);
    app.audit_exporter.tick().await.unwrap();
    let runs = api
        .get(&format!("{base}/exports?destination_id={}", id(&dest)))
        .await
        .expect_status(200);
    let retry = &runs["items"][0];
    assert_eq!(retry["trigger"], "scheduled");
    assert_eq!(retry["status"], "succeeded", "{runs}");
    assert_eq!(retry["from_seq"], 1);
    let public_key = ditto_testkit::audit_signer().public_key_base64();
    let (_, seqs) = verify_offline(
        &s3_client(&moto),
        retry["manifest"].as_str().unwrap(),
        &public_key,
    )
    .await;
    assert_eq!(seqs.first(), Some(&1));
    let through = api
        .get(&format!("{base}/export-destinations/{}", id(&dest)))
        .await
        .expect_status(200)["exported_through"]
        .as_i64()
        .unwrap();
    assert_eq!(through, *seqs.last().unwrap());

    // The next scheduled run starts where this one stopped.
    superuser(
        &app,
        &format!(
            "UPDATE audit_export_destinations SET next_run_at = now() WHERE id = '{}'",
            id(&dest)
        ),
    )
    .await;
    app.audit_exporter.tick().await.unwrap();
    let runs = api
        .get(&format!("{base}/exports?destination_id={}", id(&dest)))
        .await
        .expect_status(200);
    assert_eq!(
        runs["items"][0]["from_seq"].as_i64().unwrap(),
        through + 1,
        "{runs}"
    );
    assert_eq!(runs["items"][0]["status"], "succeeded", "{runs}");
    assert!(!ditto_testkit::logs::captured().contains(wrong));
    assert!(!ditto_testkit::logs::captured().contains(&moto.secret_access_key));
}

#[tokio::test]
async fn local_exports_stay_in_the_tenants_own_directory() {
    let app = TestApp::spawn().await;
    let api = tenant_with_events(&app, "acme", 6).await;
    let base = "/api/v1/tenants/acme/audit";
    for bad in ["../elsewhere", "/etc", "a/../../b", "a//b", ".", "a b"] {
        let problem = api
            .post(
                &format!("{base}/export-destinations"),
                json!({"name": "local", "kind": "local", "path": bad}),
            )
            .await
            .expect_problem(422);
        assert_eq!(problem["errors"][0]["field"], "/path", "{bad}: {problem}");
        assert_eq!(problem["errors"][0]["code"], "invalid_path", "{bad}");
    }
    let problem = api
        .post(
            &format!("{base}/export-destinations"),
            json!({"name": "x", "kind": "local", "path": "a", "bucket": "b", "secret_access_key": "s"}),
        )
        .await
        .expect_problem(422);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["/bucket", "/secret_access_key"], "{problem}");
    let problem = api
        .post(
            &format!("{base}/export-destinations"),
            json!({"name": "x", "kind": "s3", "max_object_bytes": 10}),
        )
        .await
        .expect_problem(422);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "/bucket",
            "/access_key_id",
            "/secret_access_key",
            "/max_object_bytes"
        ],
        "{problem}"
    );

    let dest = api
        .post(
            &format!("{base}/export-destinations"),
            json!({"name": "local", "kind": "local", "path": "audit/archive"}),
        )
        .await
        .expect_status(201);
    let run = api
        .post(
            &format!("{base}/exports"),
            json!({"destination_id": dest["id"]}),
        )
        .await
        .expect_status(202);
    let run = finished(&api, "acme", &id(&run)).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let tenant_dir = app
        .export_dir
        .path()
        .join(run["tenant_id"].as_str().unwrap())
        .join("audit/archive");
    let store: Arc<dyn ObjectStore> =
        Arc::new(object_store::local::LocalFileSystem::new_with_prefix(&tenant_dir).unwrap());
    let (_, seqs) = verify_offline(
        &store,
        run["manifest"].as_str().unwrap(),
        &ditto_testkit::audit_signer().public_key_base64(),
    )
    .await;
    assert_eq!(seqs.len() as u64, run["rows"].as_u64().unwrap());
    assert!(tenant_dir.join(run["manifest"].as_str().unwrap()).is_file());

    // Ranges outside the chain are refused, naming both ends.
    let problem = api
        .post(
            &format!("{base}/exports"),
            json!({"destination_id": dest["id"], "from_seq": 0, "to_seq": 100000}),
        )
        .await
        .expect_problem(422);
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2, "{problem}");
}

#[tokio::test]
async fn a_tenant_cannot_see_or_use_another_tenants_destinations_or_runs() {
    let app = TestApp::spawn().await;
    let a = tenant_with_events(&app, "tenant-a", 2).await;
    let b = tenant_with_events(&app, "tenant-b", 2).await;
    let dest = a
        .post(
            "/api/v1/tenants/tenant-a/audit/export-destinations",
            json!({"name": "local", "kind": "local", "path": "x"}),
        )
        .await
        .expect_status(201);
    let run = a
        .post(
            "/api/v1/tenants/tenant-a/audit/exports",
            json!({"destination_id": dest["id"]}),
        )
        .await
        .expect_status(202);
    finished(&a, "tenant-a", &id(&run)).await;
    let (d, r) = (id(&dest), id(&run));

    // Through A's URL: the tenant is not found.
    for resp in [
        b.get("/api/v1/tenants/tenant-a/audit/export-destinations")
            .await,
        b.get(&format!(
            "/api/v1/tenants/tenant-a/audit/export-destinations/{d}"
        ))
        .await,
        b.patch(
            &format!("/api/v1/tenants/tenant-a/audit/export-destinations/{d}"),
            json!({"name": "mine"}),
        )
        .await,
        b.delete(&format!(
            "/api/v1/tenants/tenant-a/audit/export-destinations/{d}"
        ))
        .await,
        b.get("/api/v1/tenants/tenant-a/audit/exports").await,
        b.get(&format!("/api/v1/tenants/tenant-a/audit/exports/{r}"))
            .await,
        b.post(
            "/api/v1/tenants/tenant-a/audit/exports",
            json!({"destination_id": d}),
        )
        .await,
    ] {
        assert_eq!(resp.expect_problem(404)["detail"], "tenant not found");
    }
    // Through B's own URL: A's destination and run are not there.
    let own = "/api/v1/tenants/tenant-b/audit";
    b.get(&format!("{own}/export-destinations/{d}"))
        .await
        .expect_problem(404);
    b.patch(
        &format!("{own}/export-destinations/{d}"),
        json!({"name": "mine"}),
    )
    .await
    .expect_problem(404);
    b.delete(&format!("{own}/export-destinations/{d}"))
        .await
        .expect_problem(404);
    b.get(&format!("{own}/exports/{r}"))
        .await
        .expect_problem(404);
    let problem = b
        .post(&format!("{own}/exports"), json!({"destination_id": d}))
        .await
        .expect_problem(422);
    assert_eq!(problem["errors"][0]["field"], "/destination_id");
    assert_eq!(problem["errors"][0]["code"], "not_found");
    for list in ["export-destinations", "exports"] {
        let page = b.get(&format!("{own}/{list}")).await.expect_status(200);
        assert_eq!(page["items"], json!([]), "{list}");
    }
    // A still has both, untouched.
    a.get(&format!(
        "/api/v1/tenants/tenant-a/audit/export-destinations/{d}"
    ))
    .await
    .expect_status(200);
}

#[tokio::test]
async fn runs_and_destinations_page_with_cursors() {
    let app = TestApp::spawn().await;
    let api = tenant_with_events(&app, "acme", 2).await;
    let base = "/api/v1/tenants/acme/audit";
    let mut made = Vec::new();
    for i in 0..3 {
        let dest = api
            .post(
                &format!("{base}/export-destinations"),
                json!({"name": format!("d{i}"), "kind": "local", "path": format!("d{i}")}),
            )
            .await
            .expect_status(201);
        made.push(id(&dest));
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{base}/export-destinations?limit=2&cursor={c}"),
            None => format!("{base}/export-destinations?limit=2"),
        };
        let page = api.get(&path).await.expect_status(200);
        seen.extend(page["items"].as_array().unwrap().iter().map(id));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    made.reverse();
    assert_eq!(seen, made);
    let dup = api
        .post(
            &format!("{base}/export-destinations"),
            json!({"name": "D0", "kind": "local", "path": "z"}),
        )
        .await
        .expect_problem(409);
    assert!(dup["detail"].as_str().unwrap().contains("already exists"));
}
