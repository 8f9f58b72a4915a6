//! The gateway connects only where the egress policy allows, checked on the
//! address a backend resolves to when a connection is made, not only when
//! the backend was saved (a name can resolve elsewhere later).

use super::*;

#[tokio::test]
async fn a_backend_that_now_leads_inside_is_refused_at_connect_time() {
    let mut gateway = quick_gateway_config();
    gateway.egress = ditto_egress::EgressPolicy::strict();
    let app = TestApp::spawn_with(Options {
        gateway,
        ..Options::default()
    })
    .await;
    let internal = mock().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let project = admin.project("acme", "chat").await;
    // Saved while it led to a public address...
    let backend = admin
        .post(
            "/api/v1/tenants/acme/backends",
            json!({"name": "moved", "base_url": "http://93.184.216.34/v1", "credentials": UPSTREAM_SECRET}),
        )
        .await
        .expect_status(201);
    admin
        .post(
            "/api/v1/tenants/acme/routes",
            json!({"model": "gpt-4o", "targets": [{"backend_id": backend["id"]}]}),
        )
        .await
        .expect_status(201);
    // ...it now leads to a service on loopback, as a rebound name would.
    sqlx::query("UPDATE backends SET base_url = $1")
        .bind(internal.base_url())
        .execute(app.store.pool())
        .await
        .unwrap();
    app.gateway_caught_up("acme").await;
    let secret = key(&admin, "acme", &project, json!({})).await;
    let client = Client::new(&app, "acme", &secret);
    client.wait_ready().await;

    let resp = client.chat("gpt-4o").await;
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert!(status.is_server_error(), "{status}: {body}");
    assert_eq!(internal.chat_calls(), 0, "the internal service was reached");
    assert!(!body.contains("chatcmpl"), "{body}");
}

#[tokio::test]
async fn only_listed_headers_and_the_apis_methods_go_upstream() {
    let w = world().await;
    let resp = w
        .client
        .http
        .post(format!("{}/chat/completions", w.client.base))
        .bearer_auth(&w.client.key)
        .header("openai-beta", "assistants=v2")
        .header("x-stainless-lang", "python")
        .header("x-internal-admin", "1")
        .header("x-forwarded-for", "10.0.0.1")
        .header("cookie", "session=secret")
        .header("openai-organization", "org-123")
        .json(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen = w.mock.requests();
    let names: Vec<&str> = seen
        .last()
        .unwrap()
        .headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    for kept in [
        "openai-beta",
        "x-stainless-lang",
        "content-type",
        "authorization",
    ] {
        assert!(names.contains(&kept), "{kept} missing from {names:?}");
    }
    for dropped in [
        "x-internal-admin",
        "x-forwarded-for",
        "cookie",
        "openai-organization",
    ] {
        assert!(!names.contains(&dropped), "{dropped} forwarded: {names:?}");
    }

    let calls = w.mock.requests().len();
    for method in ["PUT", "PATCH", "OPTIONS", "TRACE"] {
        let resp = w
            .client
            .http
            .request(
                method.parse().unwrap(),
                format!("{}/chat/completions", w.client.base),
            )
            .bearer_auth(&w.client.key)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405, "{method}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "method_not_allowed", "{method}");
    }
    assert_eq!(
        w.mock.requests().len(),
        calls,
        "a refused method went upstream"
    );
}
