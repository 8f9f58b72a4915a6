//! Lockout after failed sign-ins, against the real server and database: it
//! is per account and client address, so a stranger's guesses lock out
//! only the stranger; an account that does not exist locks out exactly
//! like one that does; and an address the account knows is spared the
//! per-account throttle. The test server trusts loopback as its proxy, so
//! each request names its client in `X-Forwarded-For`.

use ditto_testkit::{Options, Resp, TestApp, quick_gateway_config, test_identity};
use reqwest::Method;
use serde_json::{Value, json};

use super::sign_in::{PASSWORD, staff};

async fn sign_in_from(
    app: &TestApp,
    from: &str,
    tenant: &str,
    email: &str,
    password: &str,
) -> Resp {
    app.anonymous()
        .raw(Method::POST, "/api/v1/auth/sign-in", |r| {
            r.header("x-forwarded-for", from).json(&json!({
                "tenant": tenant, "email": email, "password": password,
            }))
        })
        .await
}

async fn app_locking_after(failures: u32) -> TestApp {
    let mut identity = test_identity();
    identity.lockout.max_failures = failures;
    TestApp::spawn_with(Options {
        gateway: quick_gateway_config(),
        identity: Some(identity),
        ..Options::default()
    })
    .await
}

fn problem_type(body: &Value) -> String {
    body["type"]
        .as_str()
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned()
}

async fn audit_events(app: &TestApp, action: &str) -> Vec<Value> {
    app.admin()
        .collect("/api/v1/tenants/acme/audit", 200)
        .await
        .into_iter()
        .filter(|e| e["action"] == action)
        .collect()
}

#[tokio::test]
async fn a_stranger_locks_out_only_their_own_address_never_the_owner() {
    let app = app_locking_after(3).await;
    app.tenant("acme").await;
    let owner = staff(&app, "acme", "olga@acme.example", "owner").await;
    let stranger = "203.0.113.7";
    for _ in 0..2 {
        sign_in_from(&app, stranger, "acme", "olga@acme.example", "a guess")
            .await
            .expect_problem(401);
    }
    let locked = sign_in_from(&app, stranger, "acme", "olga@acme.example", "a guess").await;
    let retry: u64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((800..=900).contains(&retry), "{retry}");
    let p = locked.expect_problem(429);
    assert_eq!(problem_type(&p), "locked-out");
    assert!(
        p["detail"].as_str().unwrap().contains("from your address"),
        "{p}"
    );
    // Locked means locked for that address, even with the right password.
    sign_in_from(&app, stranger, "acme", "olga@acme.example", PASSWORD)
        .await
        .expect_problem(429);

    let state = app
        .admin()
        .get(&format!("/api/v1/tenants/acme/users/{owner}/sign-in"))
        .await
        .expect_status(200);
    assert!(state["locked_until"].is_string(), "{state}");
    assert_eq!(state["failed_attempts"], 3);
    let lock = audit_events(&app, "auth.locked").await;
    assert_eq!(lock.len(), 1);
    assert_eq!(lock[0]["after"]["source"], stranger);
    assert_eq!(lock[0]["source_ip"], stranger);

    // The owner, elsewhere, is not locked out.
    sign_in_from(&app, "198.51.100.2", "acme", "olga@acme.example", PASSWORD)
        .await
        .expect_status(200);
    let signed_in = audit_events(&app, "auth.sign_in").await;
    assert_eq!(signed_in[0]["source_ip"], "198.51.100.2");

    // An administrator lifts the stranger's lockout too.
    app.admin()
        .post_empty(&format!("/api/v1/tenants/acme/users/{owner}/unlock"))
        .await
        .expect_status(204);
    let state = app
        .admin()
        .get(&format!("/api/v1/tenants/acme/users/{owner}/sign-in"))
        .await
        .expect_status(200);
    assert!(state.get("locked_until").is_none(), "{state}");
    sign_in_from(&app, stranger, "acme", "olga@acme.example", PASSWORD)
        .await
        .expect_status(200);
}

/// What an outsider sees of a run of wrong passwords: statuses, problem
/// types and details with the times taken out.
async fn outsider_view(app: &TestApp, from: &str, tenant: &str, email: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..4 {
        let resp = sign_in_from(app, from, tenant, email, "a wrong password").await;
        let detail: String = resp.body["detail"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .collect();
        seen.push(format!(
            "{} {} {} retry-after:{}",
            resp.status,
            problem_type(&resp.body),
            detail,
            resp.headers.contains_key("retry-after"),
        ));
    }
    seen
}

#[tokio::test]
async fn an_account_that_does_not_exist_locks_out_exactly_like_one_that_does() {
    let app = app_locking_after(3).await;
    app.tenant("acme").await;
    staff(&app, "acme", "ada@acme.example", "viewer").await;
    let known = outsider_view(&app, "203.0.113.1", "acme", "ada@acme.example").await;
    assert!(known[2].starts_with("429 locked-out"), "{known:?}");
    let unknown_email = outsider_view(&app, "203.0.113.2", "acme", "nobody@acme.example").await;
    let unknown_tenant = outsider_view(&app, "203.0.113.3", "nowhere", "ada@acme.example").await;
    assert_eq!(known, unknown_email);
    assert_eq!(known, unknown_tenant);
}

#[tokio::test]
async fn an_ipv6_client_counts_as_its_whole_64() {
    let app = app_locking_after(2).await;
    app.tenant("acme").await;
    staff(&app, "acme", "ada@acme.example", "viewer").await;
    sign_in_from(
        &app,
        "2001:db8:1:2::1",
        "acme",
        "ada@acme.example",
        "a guess",
    )
    .await
    .expect_problem(401);
    sign_in_from(
        &app,
        "2001:db8:1:2::ffff",
        "acme",
        "ada@acme.example",
        "a guess",
    )
    .await
    .expect_problem(429);
    sign_in_from(
        &app,
        "2001:db8:1:2:8000::9",
        "acme",
        "ada@acme.example",
        PASSWORD,
    )
    .await
    .expect_problem(429);
    sign_in_from(
        &app,
        "2001:db8:1:3::1",
        "acme",
        "ada@acme.example",
        PASSWORD,
    )
    .await
    .expect_status(200);
}

#[tokio::test]
async fn an_address_the_account_knows_is_spared_the_account_throttle() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    staff(&app, "acme", "olga@acme.example", "owner").await;
    let home = "198.51.100.2";
    sign_in_from(&app, home, "acme", "olga@acme.example", PASSWORD)
        .await
        .expect_status(200);
    // Twenty attempts a minute from addresses it does not know (its first
    // sign-in from home was one) use up the account's budget…
    for i in 0..19 {
        sign_in_from(
            &app,
            &format!("203.0.113.{i}"),
            "acme",
            "olga@acme.example",
            "a guess",
        )
        .await
        .expect_problem(401);
    }
    let p = sign_in_from(&app, "203.0.113.99", "acme", "olga@acme.example", PASSWORD)
        .await
        .expect_problem(429);
    assert_eq!(problem_type(&p), "too-many-requests");
    // …but not the owner's, from where they signed in before.
    sign_in_from(&app, home, "acme", "olga@acme.example", PASSWORD)
        .await
        .expect_status(200);
}

#[tokio::test]
async fn only_the_address_a_trusted_proxy_appended_is_the_client() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    staff(&app, "acme", "ada@acme.example", "viewer").await;
    // The client wrote the left-most entry itself; the proxy appended the
    // address it saw. Only the latter counts.
    sign_in_from(
        &app,
        "192.0.2.55, 198.51.100.23",
        "acme",
        "ada@acme.example",
        PASSWORD,
    )
    .await
    .expect_status(200);
    let signed_in = audit_events(&app, "auth.sign_in").await;
    assert_eq!(signed_in[0]["source_ip"], "198.51.100.23");
}
