//! The gateway against the real admin API, Postgres and a mock upstream.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use ditto_mock_upstream::{Behaviour, MockUpstream};
use ditto_testkit::{Api, Options, TestApp, quick_gateway_config};
use futures_util::StreamExt;
use serde_json::{Value, json};

#[path = "gateway/egress.rs"]
mod egress;
#[path = "gateway/governance.rs"]
mod governance;
#[path = "gateway/leases.rs"]
mod leases;
#[path = "gateway/limits.rs"]
mod limits;
#[path = "gateway/limits_over_time.rs"]
mod limits_over_time;
#[path = "gateway/providers.rs"]
mod providers;
#[path = "gateway/resilience.rs"]
mod resilience;

const UPSTREAM_SECRET: &str = "sk-upstream-secret-1234";

async fn mock() -> MockUpstream {
    let mock = MockUpstream::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    mock.set(Behaviour {
        require_bearer: Some(UPSTREAM_SECRET.into()),
        ..Behaviour::default()
    });
    mock
}

async fn backend(
    admin: &Api,
    tenant: &str,
    name: &str,
    mock: &MockUpstream,
    extra: Value,
) -> String {
    let mut body =
        json!({"name": name, "base_url": mock.base_url(), "credentials": UPSTREAM_SECRET});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let created = admin
        .post(&format!("/api/v1/tenants/{tenant}/backends"), body)
        .await
        .expect_status(201);
    assert_eq!(created["has_credentials"], true);
    assert!(created.get("credentials").is_none());
    created["id"].as_str().unwrap().to_owned()
}

async fn key(admin: &Api, tenant: &str, project: &str, extra: Value) -> String {
    let mut body = json!({"project_id": project, "name": "k"});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let created = admin
        .post(&format!("/api/v1/tenants/{tenant}/api-keys"), body)
        .await
        .expect_status(201);
    created["secret"].as_str().unwrap().to_owned()
}

/// A client of a tenant's OpenAI endpoint.
struct Client {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Client {
    fn new(app: &TestApp, tenant: &str, key: &str) -> Self {
        Self {
            base: format!("{}/t/{tenant}/v1", app.base),
            key: key.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}/{path}", self.base))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn chat(&self, model: &str) -> reqwest::Response {
        self.post(
            "chat/completions",
            json!({"model": model, "messages": [{"role": "user", "content": "hello there"}]}),
        )
        .await
    }

    /// Waits until the snapshot knows this key (change notifications are asynchronous).
    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let resp = self
                .http
                .get(format!("{}/models", self.base))
                .bearer_auth(&self.key)
                .send()
                .await
                .unwrap();
            if resp.status() == 200 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the gateway never accepted the key"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A tenant with one backend on a mock, a route `gpt-4o` (alias `default`) and a key.
struct World {
    app: TestApp,
    mock: MockUpstream,
    project: String,
    backend: String,
    client: Client,
}

impl World {
    /// Changes the `gpt-4o` route and waits until the gateway has it.
    async fn patch_route(&self, body: Value) {
        let admin = self.app.admin();
        let routes = admin
            .get("/api/v1/tenants/acme/routes")
            .await
            .expect_status(200);
        let id = routes["items"][0]["id"].as_str().unwrap().to_owned();
        admin
            .patch(&format!("/api/v1/tenants/acme/routes/{id}"), body)
            .await
            .expect_status(200);
        self.app.gateway_caught_up("acme").await;
    }
}

async fn world_with(options: Options) -> World {
    let app = TestApp::spawn_with(options).await;
    let mock = mock().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let project = admin.project("acme", "chat").await;
    let backend = backend(&admin, "acme", "primary", &mock, json!({})).await;
    admin
        .post(
            "/api/v1/tenants/acme/routes",
            json!({"model": "gpt-4o", "aliases": ["default"], "targets": [{"backend_id": backend}]}),
        )
        .await
        .expect_status(201);
    let key = key(&admin, "acme", &project, json!({})).await;
    let client = Client::new(&app, "acme", &key);
    client.wait_ready().await;
    World {
        app,
        mock,
        project,
        backend,
        client,
    }
}

async fn world() -> World {
    world_with(Options {
        gateway: quick_gateway_config(),
        ..Options::default()
    })
    .await
}

/// Sends bytes as they are (no client-side path normalization); returns the answer.
async fn raw_request(app: &TestApp, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

async fn usage_rows(app: &TestApp, expected: i64) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows: Vec<Value> =
            sqlx::query_scalar("SELECT row_to_json(u) FROM usage_events u ORDER BY created_at")
                .fetch_all(app.store.pool())
                .await
                .unwrap();
        if rows.len() as i64 >= expected {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "expected {expected} usage rows, found {}",
            rows.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The usage rows of chat requests, once there are `expected` of them (the
/// readiness check's `models` requests have rows too).
async fn chat_rows(app: &TestApp, expected: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows: Vec<Value> = usage_rows(app, 0)
            .await
            .into_iter()
            .filter(|r| r["endpoint"] == "chat/completions")
            .collect();
        if rows.len() >= expected {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "expected {expected} chat usage rows, found {}",
            rows.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn chat_goes_upstream_with_the_backend_credentials_not_the_virtual_key() {
    let w = world().await;
    let resp = w.client.chat("gpt-4o").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ditto-backend"], "primary");
    assert_eq!(resp.headers()["x-ditto-attempts"], "1");
    assert!(resp.headers().contains_key("x-ditto-request-id"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");

    let seen = w.mock.requests();
    let request = seen.last().unwrap();
    let auth: Vec<&str> = request
        .headers
        .iter()
        .filter(|(k, _)| k == "authorization")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(auth, [format!("Bearer {UPSTREAM_SECRET}")]);
    let everything = format!("{:?}", request.headers) + request.body.as_str();
    assert!(
        !everything.contains(&w.client.key),
        "the virtual key reached the upstream"
    );

    let rows = usage_rows(&w.app, 2).await;
    let chat = rows
        .iter()
        .find(|r| r["endpoint"] == "chat/completions")
        .unwrap();
    assert_eq!(chat["status"], 200);
    assert_eq!(chat["model"], "gpt-4o");
    assert_eq!(chat["backend_id"], w.backend.as_str());
    assert_eq!(chat["prompt_tokens"], 2);
    assert_eq!(chat["completion_tokens"], 4);
    assert_eq!(chat["project_id"], w.project.as_str());
}

#[tokio::test]
async fn aliases_models_embeddings_and_passthrough() {
    let w = world().await;
    assert_eq!(w.client.chat("default").await.status(), 200);
    let models: Value = w
        .client
        .http
        .get(format!("{}/models", w.client.base))
        .header("x-api-key", &w.client.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["default", "gpt-4o"]);

    let embeddings = w
        .client
        .post(
            "embeddings",
            json!({"model": "gpt-4o", "input": ["a b", "c"]}),
        )
        .await;
    assert_eq!(embeddings.status(), 200);
    let body: Value = embeddings.json().await.unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 2);

    let moderation = w
        .client
        .post("moderations?x=1", json!({"model": "gpt-4o", "input": "hi"}))
        .await;
    assert_eq!(moderation.status(), 200);
    let echo: Value = moderation.json().await.unwrap();
    assert_eq!(echo["path"], "/v1/moderations");

    let unknown = w.client.chat("nope").await;
    assert_eq!(unknown.status(), 404);
    let error: Value = unknown.json().await.unwrap();
    assert_eq!(error["error"]["code"], "model_not_found");
    assert_eq!(error["error"]["param"], "model");

    let no_model = w
        .client
        .post("chat/completions", json!({"messages": []}))
        .await;
    assert_eq!(no_model.status(), 400);
    let bad_json = w
        .client
        .http
        .post(format!("{}/chat/completions", w.client.base))
        .bearer_auth(&w.client.key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_json.status(), 400);
    let traversal = w.client.post("../../admin", json!({})).await;
    assert!(
        traversal.status() == 400 || traversal.status() == 404,
        "{}",
        traversal.status()
    );
    // HTTP clients normalize `..` away; sent raw, it reaches the gateway and is refused.
    let raw = raw_request(
        &w.app,
        &format!(
            "POST /t/acme/v1/../admin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}",
            w.client.key
        ),
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");

    // Retrieving one model, and an endpoint without a model and no `*` route.
    let get = |path: &'static str| {
        let (http, base, key) = (
            w.client.http.clone(),
            w.client.base.clone(),
            w.client.key.clone(),
        );
        async move {
            http.get(format!("{base}/{path}"))
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
        }
    };
    let one: Value = get("models/default").await.json().await.unwrap();
    assert_eq!(one["id"], "default");
    assert_eq!(get("models/nope").await.status(), 404);
    let no_route = get("files").await;
    assert_eq!(no_route.status(), 404);
    let message = no_route.json::<Value>().await.unwrap()["error"]["message"].clone();
    assert!(message.as_str().unwrap().contains("`*` route"), "{message}");
}

#[tokio::test]
async fn streaming_passes_chunks_through_as_they_arrive_and_captures_usage() {
    let w = world().await;
    w.mock.set(Behaviour {
        require_bearer: Some(UPSTREAM_SECRET.into()),
        chunk_delay_ms: 300,
        chunks: Some(4),
        ..Behaviour::default()
    });
    let started = Instant::now();
    let resp = w
        .client
        .post("chat/completions", json!({"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "one two three"}]}))
        .await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    let first_at = started.elapsed();
    let mut text = String::from_utf8(first.to_vec()).unwrap();
    while let Some(chunk) = stream.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    let total = started.elapsed();
    assert!(
        first_at < Duration::from_millis(250),
        "first chunk after {first_at:?}"
    );
    assert!(
        total >= Duration::from_millis(1200),
        "the stream took {total:?}"
    );
    assert!(text.contains("\"delta\""));
    assert!(text.trim_end().ends_with("data: [DONE]"));
    assert!(
        !text.contains("\"usage\":{"),
        "usage was added for us, so it is stripped: {text}"
    );

    let sent: Value = serde_json::from_str(&w.mock.requests().last().unwrap().body).unwrap();
    assert_eq!(sent["stream_options"]["include_usage"], true);

    let rows = usage_rows(&w.app, 2).await;
    let chat = rows
        .iter()
        .find(|r| r["endpoint"] == "chat/completions")
        .unwrap();
    assert_eq!(chat["streamed"], true);
    assert_eq!(chat["prompt_tokens"], 3);
    assert_eq!(chat["completion_tokens"], 4);
    assert!(chat["ttfb_ms"].as_i64().unwrap() < 250);

    // A client that asks for usage gets it.
    let resp = w
        .client
        .post("chat/completions", json!({"model": "gpt-4o", "stream": true, "stream_options": {"include_usage": true}, "messages": []}))
        .await;
    assert!(resp.text().await.unwrap().contains("\"usage\":{"));
}

#[tokio::test]
async fn keys_are_checked_against_their_own_tenant_and_revocation_is_fast() {
    let w = world().await;
    w.app.tenant("globex").await;
    let admin = w.app.admin();
    let globex_project = admin.project("globex", "p").await;
    key(&admin, "globex", &globex_project, json!({})).await;

    let foreign = Client::new(&w.app, "globex", &w.client.key);
    let resp = foreign.chat("gpt-4o").await;
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key");
    assert_eq!(
        Client::new(&w.app, "nobody", &w.client.key)
            .chat("gpt-4o")
            .await
            .status(),
        401
    );
    let anonymous = w
        .client
        .http
        .get(format!("{}/models", w.client.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let mut tampered = w.client.key.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'x' { 'y' } else { 'x' });
    assert_eq!(
        Client::new(&w.app, "acme", &tampered)
            .chat("gpt-4o")
            .await
            .status(),
        401
    );

    // Revocation through the admin API reaches the snapshot within a second.
    let keys = admin
        .get("/api/v1/tenants/acme/api-keys")
        .await
        .expect_status(200);
    let id = keys["items"][0]["id"].as_str().unwrap();
    admin
        .post_empty(&format!("/api/v1/tenants/acme/api-keys/{id}/revoke"))
        .await
        .expect_status(200);
    let revoked_at = Instant::now();
    loop {
        if w.client.chat("gpt-4o").await.status() == 401 {
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(1),
            "the revoked key still works"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // So does suspending the tenant.
    let other = key(&admin, "acme", &w.project, json!({})).await;
    let other = Client::new(&w.app, "acme", &other);
    other.wait_ready().await;
    admin
        .post_empty("/api/v1/tenants/acme/suspend")
        .await
        .expect_status(200);
    let suspended_at = Instant::now();
    while other.chat("gpt-4o").await.status() != 401 {
        assert!(
            suspended_at.elapsed() < Duration::from_secs(1),
            "a suspended tenant's key still works"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn allow_lists_limit_models() {
    let w = world().await;
    let admin = w.app.admin();
    admin
        .post(
            "/api/v1/tenants/acme/routes",
            json!({"model": "claude-*", "targets": [{"backend_id": w.backend, "upstream_model": "mock-model"}]}),
        )
        .await
        .expect_status(201);
    let limited = key(
        &admin,
        "acme",
        &w.project,
        json!({"allowed_models": ["gpt-*"]}),
    )
    .await;
    let limited = Client::new(&w.app, "acme", &limited);
    limited.wait_ready().await;
    assert_eq!(limited.chat("gpt-4o").await.status(), 200);
    let refused = limited.chat("claude-3").await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"]["code"],
        "model_not_allowed"
    );

    // The pattern route rewrites the model name for its backend.
    assert_eq!(w.client.chat("claude-3").await.status(), 200);
    let sent: Value = serde_json::from_str(&w.mock.requests().last().unwrap().body).unwrap();
    assert_eq!(sent["model"], "mock-model");

    // A project allow-list applies to every key of the project.
    let project = admin
        .get("/api/v1/tenants/acme/projects")
        .await
        .expect_status(200)["items"][0]["id"]
        .clone();
    admin
        .patch(
            &format!(
                "/api/v1/tenants/acme/projects/{}",
                project.as_str().unwrap()
            ),
            json!({"allowed_models": ["claude-*"]}),
        )
        .await
        .expect_status(200);
    let deadline = Instant::now() + Duration::from_secs(1);
    while w.client.chat("gpt-4o").await.status() != 403 {
        assert!(
            Instant::now() < deadline,
            "the project allow-list did not apply"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Takes the test database away (terminates its connections and renames
/// it); returns the name it has meanwhile.
async fn take_database_away(app: &TestApp) -> String {
    let mut admin_conn = app.db.admin_connection().await;
    let away = format!("{}_away", app.db.name);
    for _ in 0..100 {
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(&app.db.name)
            .execute(&mut admin_conn)
            .await
            .unwrap();
        let rename = format!("ALTER DATABASE {} RENAME TO {away}", app.db.name);
        if sqlx::query(sqlx::AssertSqlSafe(rename))
            .execute(&mut admin_conn)
            .await
            .is_ok()
        {
            return away;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("could not take the database away");
}

async fn bring_database_back(app: &TestApp, away: &str) {
    let mut admin_conn = app.db.admin_connection().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {away} RENAME TO {}",
        app.db.name
    )))
    .execute(&mut admin_conn)
    .await
    .unwrap();
}
