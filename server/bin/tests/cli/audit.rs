//! `ditto audit verify`: the operator's check of a tenant's chain.

use ditto_testkit::TestApp;
use serde_json::json;

use super::ditto;

#[tokio::test]
async fn audit_verify_checks_a_chain_and_names_its_first_broken_link() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    for i in 0..3 {
        app.admin()
            .post(
                "/api/v1/tenants/acme/projects",
                json!({"name": format!("p{i}")}),
            )
            .await
            .expect_status(201);
    }
    let verify = || {
        ditto()
            .args(["audit", "verify", "--tenant", "acme"])
            .env("DATABASE_URL", app.db.url())
            .env("DITTO_AUDIT_SIGNING_KEY", ditto_testkit::AUDIT_SIGNING_KEY)
            .output()
            .unwrap()
    };
    let out = verify();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ok: 3 events verified"), "{stdout}");

    let mut conn = app.db.connect().await;
    sqlx::query("DELETE FROM audit_events WHERE seq = 2 AND tenant_id IS NOT NULL")
        .execute(&mut conn)
        .await
        .unwrap();
    let out = verify();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("breaks at sequence 2"), "{stderr}");
}

#[tokio::test]
async fn audit_verify_accepts_checkpoints_of_retired_keys_and_names_them() {
    use ditto_core::audit::AuditSigner;
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let project = |name: &str| {
        let admin = app.admin();
        let name = name.to_owned();
        async move {
            admin
                .post("/api/v1/tenants/acme/projects", json!({"name": name}))
                .await
                .expect_status(201);
        }
    };
    project("before").await;
    // Signed with the server's (soon retired) key.
    app.admin()
        .post_empty("/api/v1/tenants/acme/audit/checkpoints")
        .await
        .expect_status(201);
    project("after").await;
    // Signed with the new key.
    let new_seed = AuditSigner::generate_base64();
    let new = AuditSigner::from_base64(&new_seed).unwrap();
    app.store.audit_housekeeping(&new).await.unwrap();
    let old = ditto_testkit::audit_signer();

    let verify = |previous: Option<String>| {
        let mut cmd = ditto();
        cmd.args(["audit", "verify", "--tenant", "acme"])
            .env("DATABASE_URL", app.db.url())
            .env("DITTO_AUDIT_SIGNING_KEY", &new_seed)
            .env_remove("DITTO_AUDIT_PREVIOUS_SIGNING_KEYS");
        if let Some(keys) = previous {
            cmd.env("DITTO_AUDIT_PREVIOUS_SIGNING_KEYS", keys);
        }
        cmd.output().unwrap()
    };
    let out = verify(Some(old.public_key_base64()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "checkpoints signed by keys {}, {}",
            old.key_id(),
            new.key_id()
        )),
        "{stdout}"
    );

    let out = verify(None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(&old.key_id()), "{stderr}");

    let out = verify(Some("not-a-key".into()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("DITTO_AUDIT_PREVIOUS_SIGNING_KEYS"),
        "{stderr}"
    );
}
