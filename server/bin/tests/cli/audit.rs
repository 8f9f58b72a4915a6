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
