//! The redaction policy where secrets could leak: audit before/after
//! images and log lines (metrics labels are covered by the policy's unit
//! tests; the metrics endpoint passes its output through it).

use ditto_testkit::TestApp;
use serde_json::json;

const LOOKS_SECRET: &str = "sk-live-0123456789abcdefghijklmnop";
const BEARER: &str = "Bearer abcdefgh0123456789xyz";

#[tokio::test]
async fn credential_looking_values_are_redacted_from_audit_images() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let description = format!("rotate {LOOKS_SECRET} and send {BEARER} later");
    let project = admin
        .post(
            "/api/v1/tenants/acme/projects",
            json!({"name": "p", "description": description}),
        )
        .await
        .expect_status(201);
    // The project itself keeps what it was given; the audit trail does not.
    assert_eq!(project["description"], description);
    let events = admin
        .get(&format!(
            "/api/v1/tenants/acme/audit?target_id={}",
            project["id"].as_str().unwrap()
        ))
        .await;
    assert!(!events.text.contains(LOOKS_SECRET), "{}", events.text);
    assert!(
        !events.text.contains("abcdefgh0123456789xyz"),
        "{}",
        events.text
    );
    let events = events.expect_status(200);
    assert_eq!(
        events["items"][0]["after"]["description"],
        "rotate [redacted] and send Bearer [redacted] later"
    );
    let report = admin
        .get("/api/v1/tenants/acme/audit/verification")
        .await
        .expect_status(200);
    assert_eq!(
        report["valid"], true,
        "the redacted image is what was hashed"
    );
}

#[tokio::test]
async fn credential_looking_values_are_redacted_from_log_lines() {
    let app = TestApp::spawn().await;
    let marker = uuid::Uuid::now_v7().to_string();
    tracing::warn!(
        marker = %marker,
        upstream = %format!("refused with {LOOKS_SECRET}"),
        header = BEARER,
        "an upstream error"
    );
    // A request carrying a token that does not exist is refused and logged.
    app.with_token("dat-abcd1234-ABCDEFGHIJKLMNOPQRSTUVWX")
        .get("/api/v1/me")
        .await
        .expect_problem(401);
    let logs = ditto_testkit::logs::captured();
    let line = logs
        .lines()
        .find(|l| l.contains(&marker))
        .expect("the line was logged");
    assert!(line.contains("refused with [redacted]"), "{line}");
    assert!(line.contains("Bearer [redacted]"), "{line}");
    for secret in [
        LOOKS_SECRET,
        "abcdefgh0123456789xyz",
        "ABCDEFGHIJKLMNOPQRSTUVWX",
    ] {
        assert!(!logs.contains(secret), "{secret} reached the logs");
    }
}
