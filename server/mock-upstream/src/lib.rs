//! An OpenAI-compatible upstream for tests and benchmarks: chat completions
//! (plain and SSE), embeddings and models, with configurable latency,
//! failures and status codes, and counters of what it was asked. It also
//! speaks Anthropic's Messages API (`POST /v1/messages`) and Gemini's
//! `generateContent` (`POST /v1beta/models/{model}:generateContent`, and
//! `:streamGenerateContent?alt=sse`), plain and streamed, with the same
//! behaviour settings and each protocol's own error shape.
//!
//! Control endpoints (for tests in other processes):
//! - `POST /__mock/config` sets [`Behaviour`]; `GET` reads it.
//! - `GET /__mock/calls` counts calls; `GET /__mock/requests` shows the last
//!   requests (headers and body); `POST /__mock/reset` clears both.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

mod anthropic;
mod gemini;

use anthropic::messages;
use gemini::generate;

/// How the mock answers. Every field has a harmless default.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Behaviour {
    /// Delay before answering (before the first byte), in milliseconds.
    pub latency_ms: u64,
    /// Delay between streamed chunks, in milliseconds.
    pub chunk_delay_ms: u64,
    /// Content chunks in a streamed answer (default 4).
    pub chunks: Option<u32>,
    /// Fraction of requests (0.0–1.0) answered with `fail_status`.
    pub fail_rate: f64,
    /// The next N requests fail with `fail_status`, whatever `fail_rate` says.
    pub fail_next: u64,
    /// Status of failures (default 500).
    pub fail_status: Option<u16>,
    /// When set, requests must carry this credential: `Authorization: Bearer
    /// <this>` (OpenAI), `x-api-key` (Anthropic, with `anthropic-version`) or
    /// `x-goog-api-key` (Gemini).
    pub require_bearer: Option<String>,
    /// Prompt tokens reported as read from the provider's cache.
    pub cached_tokens: u64,
    /// Anthropic and Gemini streams: the provider's error event (overloaded)
    /// follows the first piece of text, and the stream ends there.
    pub fail_mid_stream: bool,
}

/// The protocol a request came in, for its error shape and credential header.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    OpenAi,
    Anthropic,
    Gemini,
}

#[derive(Default)]
struct Counters {
    total: AtomicU64,
    failed: AtomicU64,
    chat: AtomicU64,
    /// Anthropic `/v1/messages` requests.
    messages: AtomicU64,
    /// Gemini `generateContent` / `streamGenerateContent` requests.
    gemini: AtomicU64,
    embeddings: AtomicU64,
    models: AtomicU64,
    other: AtomicU64,
    /// Streams the client stopped reading before their end.
    streams_abandoned: AtomicU64,
}

/// Counts a stream as abandoned if it is dropped before its end.
struct StreamGuard {
    mock: Arc<Mock>,
    finished: bool,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.mock
                .counters
                .streams_abandoned
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A request as the mock saw it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

const KEEP_REQUESTS: usize = 64;

#[derive(Default)]
struct Mock {
    behaviour: Mutex<Behaviour>,
    counters: Counters,
    requests: Mutex<VecDeque<SeenRequest>>,
}

/// A running mock; dropped, it keeps running until the runtime ends.
#[derive(Clone)]
pub struct MockUpstream {
    pub addr: SocketAddr,
    mock: Arc<Mock>,
}

impl MockUpstream {
    /// Starts on `addr` (port 0 for any free port).
    pub async fn start(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let mock = Arc::new(Mock::default());
        let app = router(mock.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, mock })
    }

    /// The base URL of its OpenAI API, e.g. `http://127.0.0.1:1234/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The base URL of its Anthropic and Gemini APIs, e.g. `http://127.0.0.1:1234`.
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, behaviour: Behaviour) {
        *self
            .mock
            .behaviour
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = behaviour;
    }

    /// Requests received, failed ones included.
    pub fn calls(&self) -> u64 {
        self.mock.counters.total.load(Ordering::Relaxed)
    }

    /// Chat requests received, failed ones included.
    pub fn chat_calls(&self) -> u64 {
        self.mock.counters.chat.load(Ordering::Relaxed)
    }

    /// Anthropic Messages requests received, failed ones included.
    pub fn messages_calls(&self) -> u64 {
        self.mock.counters.messages.load(Ordering::Relaxed)
    }

    /// Gemini generateContent requests received, failed ones included.
    pub fn gemini_calls(&self) -> u64 {
        self.mock.counters.gemini.load(Ordering::Relaxed)
    }

    /// Streamed answers whose reader went away before the end.
    pub fn streams_abandoned(&self) -> u64 {
        self.mock.counters.streams_abandoned.load(Ordering::Relaxed)
    }

    /// The most recent requests, oldest first.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.mock
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

pub fn router_for_binary() -> Router {
    router(Arc::new(Mock::default()))
}

fn router(mock: Arc<Mock>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(models))
        .route("/v1/messages", post(messages))
        .route("/v1beta/models/{*call}", post(generate))
        .route("/__mock/config", get(get_config).post(set_config))
        .route("/__mock/calls", get(calls))
        .route("/__mock/requests", get(requests))
        .route("/__mock/reset", post(reset))
        .fallback(other)
        .with_state(mock)
}

impl Mock {
    fn behaviour(&self) -> Behaviour {
        self.behaviour
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn record(&self, request: SeenRequest) {
        let mut seen = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() == KEEP_REQUESTS {
            seen.pop_front();
        }
        seen.push_back(request);
    }

    /// The behaviour for this request, and whether `fail_next` makes it fail.
    fn take_behaviour(&self) -> (Behaviour, bool) {
        let mut b = self.behaviour.lock().unwrap_or_else(|e| e.into_inner());
        let fail_now = b.fail_next > 0;
        if fail_now {
            b.fail_next -= 1;
        }
        (b.clone(), fail_now)
    }

    /// Records the request; returns the failure to answer with, if any.
    async fn admit(
        &self,
        method: &str,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Behaviour, Response> {
        self.admit_as(Protocol::OpenAi, method, path, headers, body)
            .await
    }

    async fn admit_as(
        &self,
        protocol: Protocol,
        method: &str,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Behaviour, Response> {
        self.counters.total.fetch_add(1, Ordering::Relaxed);
        let per_endpoint = match path {
            _ if protocol == Protocol::Gemini => &self.counters.gemini,
            "/v1/messages" => &self.counters.messages,
            "/v1/chat/completions" => &self.counters.chat,
            "/v1/embeddings" => &self.counters.embeddings,
            "/v1/models" => &self.counters.models,
            _ => &self.counters.other,
        };
        per_endpoint.fetch_add(1, Ordering::Relaxed);
        self.record(SeenRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        v.to_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
            body: String::from_utf8_lossy(body).into_owned(),
        });
        let (behaviour, fail_now) = self.take_behaviour();
        if fail_now || (behaviour.fail_rate > 0.0 && rand::random::<f64>() < behaviour.fail_rate) {
            if behaviour.latency_ms > 0 {
                tokio::time::sleep(Duration::from_millis(behaviour.latency_ms)).await;
            }
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
            let status = StatusCode::from_u16(behaviour.fail_status.unwrap_or(500))
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Err(protocol_error(protocol, status, "injected failure"));
        }
        if let Some(expected) = &behaviour.require_bearer {
            let header_value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
            let presented = match protocol {
                Protocol::OpenAi => {
                    header_value("authorization").and_then(|v| v.strip_prefix("Bearer "))
                }
                Protocol::Anthropic => header_value("x-api-key"),
                Protocol::Gemini => header_value("x-goog-api-key"),
            };
            if presented != Some(expected.as_str()) {
                return Err(protocol_error(
                    protocol,
                    StatusCode::UNAUTHORIZED,
                    "invalid upstream credentials",
                ));
            }
        }
        if protocol == Protocol::Anthropic && headers.get("anthropic-version").is_none() {
            return Err(protocol_error(
                protocol,
                StatusCode::BAD_REQUEST,
                "anthropic-version: header is required",
            ));
        }
        if behaviour.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(behaviour.latency_ms)).await;
        }
        Ok(behaviour)
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({"error": {"message": message, "type": "mock_error", "param": null, "code": status.as_u16()}});
    (status, Json(body)).into_response()
}

/// An error in `protocol`'s shape.
fn protocol_error(protocol: Protocol, status: StatusCode, message: &str) -> Response {
    match protocol {
        Protocol::OpenAi => error(status, message),
        Protocol::Anthropic => {
            let kind = match status.as_u16() {
                400 => "invalid_request_error",
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                429 => "rate_limit_error",
                529 => "overloaded_error",
                _ => "api_error",
            };
            let body = json!({"type": "error", "error": {"type": kind, "message": message}});
            (status, Json(body)).into_response()
        }
        Protocol::Gemini => {
            let name = match status.as_u16() {
                400 => "INVALID_ARGUMENT",
                401 => "UNAUTHENTICATED",
                403 => "PERMISSION_DENIED",
                404 => "NOT_FOUND",
                429 => "RESOURCE_EXHAUSTED",
                503 => "UNAVAILABLE",
                _ => "INTERNAL",
            };
            let body =
                json!({"error": {"code": status.as_u16(), "message": message, "status": name}});
            (status, Json(body)).into_response()
        }
    }
}

/// A rough token count: one token per whitespace-separated word.
fn tokens_in(value: &Value) -> u64 {
    match value {
        Value::String(s) => s.split_whitespace().count().max(1) as u64,
        Value::Array(items) => items.iter().map(tokens_in).sum(),
        Value::Object(map) => ["content", "text", "parts"]
            .iter()
            .find_map(|k| map.get(*k))
            .map_or(0, tokens_in),
        _ => 0,
    }
}

/// Sends `frames` one by one, `delay` apart, counting the stream as
/// abandoned if its reader goes away first.
fn stream_frames(
    mock: &Arc<Mock>,
    frames: Vec<String>,
    delay: Duration,
    content_type: &'static str,
) -> Response {
    let last = frames.len().saturating_sub(1);
    let guard = Arc::new(Mutex::new(StreamGuard {
        mock: mock.clone(),
        finished: false,
    }));
    let stream =
        futures_util::stream::iter(frames.into_iter().enumerate()).then(move |(i, frame)| {
            let guard = guard.clone();
            async move {
                if i > 0 && !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                if i == last {
                    guard.lock().unwrap_or_else(|e| e.into_inner()).finished = true;
                }
                Ok::<_, Infallible>(Bytes::from(frame))
            }
        });
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn chat(State(mock): State<Arc<Mock>>, headers: HeaderMap, body: Bytes) -> Response {
    let behaviour = match mock
        .admit("POST", "/v1/chat/completions", &headers, &body)
        .await
    {
        Ok(b) => b,
        Err(failure) => return failure,
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "body is not JSON");
    };
    let model = request["model"].as_str().unwrap_or("unknown").to_owned();
    let prompt_tokens = tokens_in(&request["messages"]);
    let chunks = behaviour.chunks.unwrap_or(4);
    let completion_tokens = u64::from(chunks);
    let usage = json!({"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                       "total_tokens": prompt_tokens + completion_tokens,
                       "prompt_tokens_details": {"cached_tokens": behaviour.cached_tokens.min(prompt_tokens)}});
    if request["stream"].as_bool() != Some(true) {
        let content = vec!["mock"; chunks as usize].join(" ");
        return Json(json!({
            "id": "chatcmpl-mock",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": usage,
        }))
        .into_response();
    }
    let include_usage = request["stream_options"]["include_usage"].as_bool() == Some(true);
    let delay = Duration::from_millis(behaviour.chunk_delay_ms);
    let chunk = move |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1_700_000_000,
               "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut events: Vec<Value> = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    for _ in 0..chunks {
        events.push(chunk(json!({"content": "mock "}), Value::Null));
    }
    events.push(chunk(json!({}), json!("stop")));
    if include_usage {
        let mut event = chunk(json!({}), Value::Null);
        event["choices"] = json!([]);
        event["usage"] = usage;
        events.push(event);
    }
    let frames = events
        .into_iter()
        .map(|e| format!("data: {e}\n\n"))
        .chain(std::iter::once("data: [DONE]\n\n".to_owned()));
    stream_frames(&mock, frames.collect(), delay, "text/event-stream")
}

async fn embeddings(State(mock): State<Arc<Mock>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(failure) = mock.admit("POST", "/v1/embeddings", &headers, &body).await {
        return failure;
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "body is not JSON");
    };
    let inputs: Vec<Value> = match &request["input"] {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    let tokens: u64 = inputs.iter().map(tokens_in).sum();
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, _)| json!({"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3, 0.4]}))
        .collect();
    Json(
        json!({"object": "list", "data": data, "model": request["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
    )
    .into_response()
}

async fn models(State(mock): State<Arc<Mock>>, headers: HeaderMap) -> Response {
    if let Err(failure) = mock.admit("GET", "/v1/models", &headers, b"").await {
        return failure;
    }
    Json(json!({"object": "list", "data": [
        {"id": "mock-model", "object": "model", "created": 1_700_000_000, "owned_by": "mock"}
    ]}))
    .into_response()
}

/// Anything else under /v1 echoes what it got, so passthrough can be checked.
async fn other(State(mock): State<Arc<Mock>>, request: axum::extract::Request) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 16 << 20)
        .await
        .unwrap_or_default();
    if !path.starts_with("/v1/") {
        return error(StatusCode::NOT_FOUND, "no such mock endpoint");
    }
    if let Err(failure) = mock.admit(&method, &path, &headers, &body).await {
        return failure;
    }
    Json(json!({"object": "echo", "method": method, "path": path, "bytes": body.len()}))
        .into_response()
}

async fn get_config(State(mock): State<Arc<Mock>>) -> Json<Behaviour> {
    Json(mock.behaviour())
}

async fn set_config(State(mock): State<Arc<Mock>>, Json(behaviour): Json<Behaviour>) -> StatusCode {
    *mock.behaviour.lock().unwrap_or_else(|e| e.into_inner()) = behaviour;
    StatusCode::NO_CONTENT
}

async fn calls(State(mock): State<Arc<Mock>>) -> Json<Value> {
    let c = &mock.counters;
    Json(json!({
        "total": c.total.load(Ordering::Relaxed),
        "failed": c.failed.load(Ordering::Relaxed),
        "chat": c.chat.load(Ordering::Relaxed),
        "messages": c.messages.load(Ordering::Relaxed),
        "gemini": c.gemini.load(Ordering::Relaxed),
        "embeddings": c.embeddings.load(Ordering::Relaxed),
        "models": c.models.load(Ordering::Relaxed),
        "other": c.other.load(Ordering::Relaxed),
    }))
}

async fn requests(State(mock): State<Arc<Mock>>) -> Json<Vec<SeenRequest>> {
    Json(
        mock.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect(),
    )
}

async fn reset(State(mock): State<Arc<Mock>>) -> StatusCode {
    let c = &mock.counters;
    for counter in [
        &c.total,
        &c.failed,
        &c.chat,
        &c.messages,
        &c.gemini,
        &c.embeddings,
        &c.models,
        &c.other,
    ] {
        counter.store(0, Ordering::Relaxed);
    }
    mock.requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    StatusCode::NO_CONTENT
}
