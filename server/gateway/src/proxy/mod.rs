//! The OpenAI-compatible endpoint: authenticate the key from the snapshot,
//! resolve the route, try backends (retries, fallback, breaker, in-flight
//! limits) and pass the answer through as it arrives.

use std::borrow::Cow;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Utc;
use ditto_core::secrets;
use ditto_store::gateway::UsageEvent;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::Gateway;
use crate::backend::InFlight;
use crate::error::GatewayError;
use crate::governor::{self, Admission, Demand};
use crate::meter::{Metered, Outcome};
use crate::providers::{self, Adapter, Ask, Skip};
use crate::rules::Price;
use crate::snapshot::{Key, RouteEntry, Target, Tenant};
use crate::upstream;

mod delivery;
mod keys;
mod models;

use delivery::{pass_through, translated};
pub(crate) use keys::KeyRefusal;
use keys::{authenticate, request_ids};
use models::{get_model, list_models};

type UpstreamResponse = hyper::Response<hyper::body::Incoming>;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-ditto-request-id");
static BACKEND: HeaderName = HeaderName::from_static("x-ditto-backend");
static ATTEMPTS: HeaderName = HeaderName::from_static("x-ditto-attempts");
static CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// Request headers forwarded upstream: what an OpenAI-compatible API reads
/// of a client's request, and the SDKs' own description of themselves.
/// Everything else stays here: the caller's credentials and cookies, proxy
/// and hop-by-hop headers, and whatever could steer the service behind a
/// backend URL (an allow-list, so a header nobody thought of is not sent).
fn forwardable(name: &HeaderName) -> bool {
    let name = name.as_str();
    matches!(
        name,
        "accept" | "content-type" | "user-agent" | "openai-beta" | "idempotency-key"
    ) || name.starts_with("x-stainless-")
}

/// The methods OpenAI-compatible endpoints take; others never go upstream.
fn allowed_method(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::POST | Method::DELETE)
}

/// Response headers not passed back: hop-by-hop ones.
fn returnable(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

/// What the gateway reads of a JSON request body.
#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<Value>,
    /// The output cap, under each endpoint's name for it.
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    max_completion_tokens: Option<u64>,
    #[serde(default)]
    max_output_tokens: Option<u64>,
}

/// Endpoints whose JSON body must name a model.
fn needs_model(path: &str) -> bool {
    matches!(
        path,
        "chat/completions" | "completions" | "embeddings" | "responses"
    )
}

/// Endpoints whose answers are generated tokens (priced as output).
fn produces_output(path: &str) -> bool {
    matches!(path, "chat/completions" | "completions" | "responses")
}

/// Endpoints that report usage in the stream when asked with `stream_options`.
fn streams_usage_on_request(path: &str) -> bool {
    matches!(path, "chat/completions" | "completions")
}

/// `/t/{tenant}/v1/{*path}`.
pub async fn by_path(
    State(gw): State<Arc<Gateway>>,
    Path((tenant, path)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(gw, &tenant, &path, method, uri, headers, body).await
}

/// `/v1/{*path}` on `{tenant}.<base domain>`.
pub async fn by_host(
    State(gw): State<Arc<Gateway>>,
    Path(path): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| {
            h.rsplit_once(':')
                .map_or(h, |(name, _)| name)
                .to_ascii_lowercase()
        });
    let tenant = match (host.as_deref(), gw.config.base_domain.as_deref()) {
        (Some(host), Some(base)) => host
            .strip_suffix(base)
            .and_then(|rest| rest.strip_suffix('.'))
            .filter(|slug| !slug.is_empty() && !slug.contains('.')),
        _ => None,
    };
    match tenant {
        Some(tenant) => {
            let tenant = tenant.to_owned();
            handle(gw, &tenant, &path, method, uri, headers, body).await
        }
        None => GatewayError::not_found(
            "Use your tenant's endpoint: /t/{tenant}/v1/… or {tenant}.<base domain>/v1/…",
        )
        .into_response(),
    }
}

/// Everything about one request that its usage event needs.
struct Call {
    gw: Arc<Gateway>,
    request_id: Uuid,
    shown_request_id: HeaderValue,
    started: Instant,
    tenant: Arc<Tenant>,
    key: Arc<Key>,
    endpoint: String,
    model: Option<String>,
    streamed: bool,
    /// Charges against limits and budgets, settled when the request ends.
    admission: Option<Admission>,
    /// The price of what the serving backend produces.
    price: Option<Price>,
}

impl Call {
    fn event(
        &self,
        status: u16,
        attempts: u32,
        backend: Option<Uuid>,
        outcome: Option<&Outcome>,
        error: Option<&str>,
    ) -> UsageEvent {
        let usage = outcome.map(|o| o.usage).unwrap_or_default();
        let cost_pico = self.price.map_or(0, |p| {
            p.cost(
                usage.prompt_tokens,
                usage.cached_tokens,
                usage.completion_tokens,
            )
        });
        let ms = |at: Instant| {
            at.duration_since(self.started)
                .as_millis()
                .min(u32::MAX as u128) as u32
        };
        UsageEvent {
            request_id: self.request_id,
            tenant_id: self.tenant.id,
            project_id: self.key.project_id,
            key_id: self.key.key_id,
            user_id: self.key.owner_user_id,
            service_account_id: self.key.owner_service_account_id,
            endpoint: self.endpoint.clone(),
            model: self.model.clone(),
            backend_id: backend,
            status,
            attempts,
            streamed: self.streamed,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            cached_tokens: usage.cached_tokens,
            latency_ms: ms(Instant::now()),
            ttfb_ms: outcome.and_then(|o| o.first_byte).map(ms),
            error_kind: error.map(str::to_owned).or_else(|| {
                let incomplete = outcome.filter(|o| !o.completed)?;
                let kind = if incomplete.upstream_failed {
                    "upstream_broke_off"
                } else {
                    "client_closed"
                };
                Some(kind.to_owned())
            }),
            cost_pico,
            created_at: self.gw.governor.clock().now(),
        }
    }

    /// A refusal after authentication: answered, accounted for, and its
    /// charges against limits refunded.
    fn refuse(self, error: GatewayError, attempts: u32) -> Response {
        self.gw.metrics.response(error.status.as_u16());
        self.gw.governance.request_refused(
            self.tenant.id,
            self.key.key_id,
            self.model.as_deref(),
            &error,
            Utc::now(),
        );
        let event = self.event(
            error.status.as_u16(),
            attempts,
            None,
            None,
            Some(error.label()),
        );
        let mut response = error.into_response();
        self.stamp(response.headers_mut(), None, attempts);
        self.settle(event, governor::Outcome::Refused);
        response
    }

    /// Settles the request's charges, then records its usage event: in that
    /// order, so a budget counter rebuilt from the ledger in between is
    /// never missing the request nor counting it twice.
    fn settle(mut self, event: UsageEvent, outcome: governor::Outcome) {
        match self.admission.take() {
            None => self.gw.usage.record(event),
            Some(admission) => match self.gw.governor.finish(admission, outcome) {
                None => self.gw.usage.record(event),
                Some(settlement) => self.gw.governor.settle_later(settlement, event),
            },
        }
    }

    fn stamp(&self, headers: &mut HeaderMap, backend: Option<&str>, attempts: u32) {
        headers.insert(REQUEST_ID.clone(), self.shown_request_id.clone());
        if let Some(name) = backend.and_then(|b| HeaderValue::from_str(b).ok()) {
            headers.insert(BACKEND.clone(), name);
        }
        headers.insert(ATTEMPTS.clone(), HeaderValue::from(attempts));
    }
}

async fn handle(
    gw: Arc<Gateway>,
    tenant: &str,
    path: &str,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let (request_id, shown_request_id) = request_ids(&headers);
    let (tenant, key) = match authenticate(&gw, tenant, &headers) {
        Ok(found) => found,
        Err(refusal) => {
            let e = refusal.error();
            gw.metrics.response(e.status.as_u16());
            gw.governance.key_refused(refusal, Utc::now());
            let mut response = e.into_response();
            response
                .headers_mut()
                .insert(REQUEST_ID.clone(), shown_request_id);
            return response;
        }
    };
    let mut call = Call {
        gw: gw.clone(),
        request_id,
        shown_request_id,
        started,
        tenant: tenant.clone(),
        key,
        endpoint: path.to_owned(),
        model: None,
        streamed: false,
        admission: None,
        price: None,
    };
    if !allowed_method(&method) {
        return call.refuse(GatewayError::method_not_allowed(&method), 0);
    }
    if path
        .split('/')
        .any(|segment| segment == ".." || segment == ".")
    {
        return call.refuse(
            GatewayError::bad_request("The path must not contain `.` or `..` segments.", None),
            0,
        );
    }
    if method == Method::GET {
        if path == "models" {
            return list_models(call, &tenant);
        }
        if let Some(model) = path.strip_prefix("models/") {
            return get_model(call, &tenant, model);
        }
    }
    let limit = gw.config.max_body_bytes;
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(body) => body,
        Err(_) => return call.refuse(GatewayError::too_large(limit), 0),
    };
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    let peek = if is_json && !body.is_empty() {
        match serde_json::from_slice::<Peek>(&body) {
            Ok(peek) => Some(peek),
            Err(e) => {
                return call.refuse(
                    GatewayError::bad_request(format!("The body is not valid JSON: {e}"), None),
                    0,
                );
            }
        }
    } else {
        None
    };
    let model = peek
        .as_ref()
        .and_then(|p| p.model.as_deref())
        .map(str::to_owned);
    let stream = peek.as_ref().and_then(|p| p.stream).unwrap_or(false);
    let client_wants_usage = peek
        .as_ref()
        .and_then(|p| p.stream_options.as_ref())
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let max_output_tokens = peek.as_ref().and_then(|p| {
        p.max_completion_tokens
            .or(p.max_tokens)
            .or(p.max_output_tokens)
    });
    drop(peek);
    call.model = model.clone();
    call.streamed = stream;
    if needs_model(path) && model.is_none() {
        return call.refuse(
            GatewayError::bad_request("You must provide a model parameter.", Some("model")),
            0,
        );
    }
    let route_name = model.as_deref().unwrap_or("");
    if let Some(model) = &model
        && !call.key.allows(model)
    {
        return call.refuse(GatewayError::model_not_allowed(model), 0);
    }
    let Some(route) = tenant.routes.resolve(route_name) else {
        let error = match &model {
            Some(model) => GatewayError::model_not_found(model),
            None => GatewayError::not_found(format!(
                "No route serves `/v1/{path}` without a model; the tenant needs a `*` route for it."
            )),
        };
        return call.refuse(error, 0);
    };
    let platform_prices = gw.snapshot.load().platform_prices.clone();
    let demand = Demand {
        tenant: &tenant,
        platform_prices: &platform_prices,
        key: &call.key,
        request_id,
        endpoint: path,
        model: model.as_deref(),
        route,
        // Only text counts towards prompt tokens; other bodies (audio, files) are
        // not priced by the token.
        body_len: if is_json { body.len() } else { 0 },
        max_output_tokens,
        produces_output: produces_output(path),
    };
    // Boxed, and only when there is something to count: awaited inline, the
    // limits store's future would make every request's future (which the
    // router boxes, hence copies) several kilobytes larger.
    if !tenant.rules.is_empty() {
        match Box::pin(gw.governor.admit(&demand)).await {
            Ok(admission) => call.admission = admission,
            Err(error) => return call.refuse(error, 0),
        }
    }
    let add_usage = stream && streams_usage_on_request(path) && !client_wants_usage;
    let upstream_request = UpstreamRequest {
        method,
        path: path.to_owned(),
        // Forwarded as the client encoded it; `path` is the decoded form.
        raw_path: uri
            .path()
            .split_once("/v1/")
            .map_or_else(|| path.to_owned(), |(_, rest)| rest.to_owned()),
        query: uri.query().map(str::to_owned),
        headers,
        body,
        add_usage,
        stream,
        json: OnceLock::new(),
    };
    forward(call, route.clone(), upstream_request).await
}

struct UpstreamRequest {
    method: Method,
    path: String,
    raw_path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
    /// Ask an OpenAI upstream for the usage event (and strip it from the answer).
    add_usage: bool,
    stream: bool,
    /// The body parsed, once, for backends whose protocol it is translated to.
    json: OnceLock<Option<Map<String, Value>>>,
}

impl UpstreamRequest {
    /// The body for one target: its model name, and usage reporting switched on when we need it.
    fn body_for(&self, target: &Target) -> Bytes {
        if target.upstream_model.is_none() && !self.add_usage {
            return self.body.clone();
        }
        let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(&self.body) else {
            return self.body.clone();
        };
        if let Some(model) = &target.upstream_model {
            object.insert("model".into(), Value::String(model.clone()));
        }
        if self.add_usage {
            object.insert("stream_options".into(), json!({"include_usage": true}));
        }
        Bytes::from(serde_json::to_vec(&object).unwrap_or_else(|_| self.body.to_vec()))
    }

    fn build(&self, target: &Target, uri: Uri) -> Outgoing {
        let backend = &target.backend;
        let mut headers = HeaderMap::with_capacity(self.headers.len() + 1);
        for (name, value) in self.headers.iter().filter(|(n, _)| forwardable(n)) {
            headers.append(name.clone(), value.clone());
        }
        if let Some((name, value)) = &backend.credential {
            headers.insert(name.clone(), value.clone());
        }
        Outgoing {
            method: self.method.clone(),
            uri,
            headers,
            body: self.body_for(target),
        }
    }

    /// The request in `adapter`'s protocol for one target, or why it cannot be sent there.
    fn build_translated(
        &self,
        adapter: Adapter,
        target: &Target,
        call: &Call,
        route_model: &str,
    ) -> Result<Outgoing, Skip> {
        let backend = &target.backend;
        let model = target
            .upstream_model
            .as_deref()
            .or(call.model.as_deref())
            .unwrap_or(route_model);
        let default_max_tokens = governor::served_price(
            &call.tenant,
            &call.gw.snapshot.load().platform_prices,
            [
                target.upstream_model.as_deref(),
                Some(route_model),
                call.model.as_deref(),
            ],
        )
        .and_then(|p| p.max_output_tokens)
        .unwrap_or(call.gw.config.limits.default_max_output_tokens);
        let ask = Ask {
            endpoint: &self.path,
            method: &self.method,
            model,
            stream: self.stream,
            default_max_tokens: u64::from(default_max_tokens),
        };
        let body = self
            .json
            .get_or_init(|| match serde_json::from_slice(&self.body) {
                Ok(Value::Object(object)) => Some(object),
                _ => None,
            });
        let prepared = adapter.prepare(backend.base.as_ref(), &ask, body.as_ref())?;
        let uri = Uri::try_from(prepared.url.as_str()).map_err(|_| {
            Skip::Misconfigured("this backend's base URL does not make a valid request URL")
        })?;
        let mut headers = HeaderMap::with_capacity(4);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        adapter.fixed_headers(&mut headers);
        for (name, value) in self.headers.iter().filter(|(n, _)| adapter.forwards(n)) {
            headers.append(name.clone(), value.clone());
        }
        if let Some((name, value)) = &backend.credential {
            headers.insert(name.clone(), value.clone());
        }
        Ok(Outgoing {
            method: Method::POST,
            uri,
            headers,
            body: prepared.body,
        })
    }
}

/// One upstream request, ready to send.
struct Outgoing {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

/// The order to try a route's backends in: one primary picked by weight,
/// the other primaries by weight, then the fallbacks.
fn candidates(route: &RouteEntry) -> Vec<&Target> {
    let mut primaries: Vec<&Target> = route.primaries.iter().collect();
    primaries.sort_by_key(|t| std::cmp::Reverse(t.weight));
    let total: u64 = primaries.iter().map(|t| u64::from(t.weight)).sum();
    if total > 0 {
        let mut pick = rand::random_range(0..total);
        let chosen = primaries
            .iter()
            .position(|t| {
                let w = u64::from(t.weight);
                if pick < w {
                    true
                } else {
                    pick -= w;
                    false
                }
            })
            .unwrap_or(0);
        let first = primaries.remove(chosen);
        primaries.insert(0, first);
    }
    primaries.extend(route.fallbacks.iter());
    primaries
}

enum Failure {
    Timeout,
    Connect(String),
    Status(
        UpstreamResponse,
        Arc<crate::backend::Backend>,
        Option<String>,
    ),
}

async fn forward(call: Call, route: Arc<RouteEntry>, request: UpstreamRequest) -> Response {
    let max_attempts = call.gw.config.max_attempts;
    let mut attempts = 0u32;
    let mut last: Option<Failure> = None;
    let mut saw_capacity_limit = false;
    let mut saw_open_breaker = false;
    let mut misconfigured: Option<&'static str> = None;
    // What a backend of another protocol could not take, when no backend could.
    let mut refused: Option<GatewayError> = None;
    for target in candidates(&route) {
        if attempts >= max_attempts {
            break;
        }
        let backend = &target.backend;
        if let Some(problem) = backend.credential_error {
            misconfigured = Some(problem);
            continue;
        }
        let upstream = match backend.adapter {
            None => match backend.uri(&request.raw_path, request.query.as_deref()) {
                Some(uri) => request.build(target, uri),
                None => {
                    misconfigured = Some("this backend's base URL is not a valid URL");
                    continue;
                }
            },
            Some(adapter) => match request.build_translated(adapter, target, &call, &route.model) {
                Ok(upstream) => upstream,
                Err(Skip::Refused(error)) => {
                    refused.get_or_insert(error);
                    continue;
                }
                Err(Skip::Misconfigured(problem)) => {
                    misconfigured = Some(problem);
                    continue;
                }
            },
        };
        // The slot first: a half-open breaker lets one probe through, and
        // that probe must then really be sent so its outcome is recorded.
        let Some(slot) = backend.try_acquire() else {
            saw_capacity_limit = true;
            continue;
        };
        if !backend.runtime.breaker().allow() {
            saw_open_breaker = true;
            continue;
        }
        attempts += 1;
        let Outgoing {
            method,
            uri,
            headers,
            body,
        } = upstream;
        let sent = tokio::time::timeout(
            backend.timeout,
            backend.runtime.client.send(method, uri, headers, body),
        )
        .await;
        if attempts > 1 {
            call.gw.metrics.retries.fetch_add(1, Ordering::Relaxed);
        }
        let counters = &backend.runtime.attempts;
        let response = match sent {
            Err(_) => {
                counters.timeout.fetch_add(1, Ordering::Relaxed);
                backend.runtime.breaker().record(&backend.name, false);
                tracing::warn!(backend = %backend.name, "upstream timed out");
                last = Some(Failure::Timeout);
                continue;
            }
            Ok(Err(e)) => {
                counters.unreachable.fetch_add(1, Ordering::Relaxed);
                backend.runtime.breaker().record(&backend.name, false);
                tracing::warn!(backend = %backend.name, error = %e.message, connect = e.connect, "upstream unreachable");
                last = Some(Failure::Connect(e.message));
                continue;
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            counters.rate_limited.fetch_add(1, Ordering::Relaxed);
        } else if status.is_server_error() {
            counters.failed_status.fetch_add(1, Ordering::Relaxed);
        } else {
            counters.ok.fetch_add(1, Ordering::Relaxed);
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            // An upstream's own rate limit says nothing about its health.
            if status.is_server_error() {
                backend.runtime.breaker().record(&backend.name, false);
            }
            tracing::warn!(backend = %backend.name, %status, "upstream failed; trying the next backend");
            last = Some(Failure::Status(
                response,
                backend.clone(),
                target.upstream_model.clone(),
            ));
            continue;
        }
        backend.runtime.breaker().record(&backend.name, true);
        let served = (
            backend.clone(),
            target.upstream_model.as_deref(),
            route.model.as_str(),
        );
        return match backend.adapter {
            None => pass_through(
                call,
                response,
                served,
                Some(slot),
                attempts,
                request.add_usage,
            ),
            // Boxed for the same reason as the limits check in `handle`.
            Some(adapter) => {
                Box::pin(translated(
                    call,
                    adapter,
                    response,
                    served,
                    Some(slot),
                    attempts,
                    &request,
                ))
                .await
            }
        };
    }
    let error = match last {
        Some(Failure::Status(response, backend, upstream_model)) => {
            let served = (
                backend.clone(),
                upstream_model.as_deref(),
                route.model.as_str(),
            );
            return match backend.adapter {
                None => pass_through(call, response, served, None, attempts, false),
                Some(adapter) => {
                    Box::pin(translated(
                        call, adapter, response, served, None, attempts, &request,
                    ))
                    .await
                }
            };
        }
        Some(Failure::Timeout) => GatewayError::timeout(),
        Some(Failure::Connect(e)) => {
            GatewayError::unavailable(format!("No backend could be reached ({e})."))
        }
        None if let Some(refused) = refused => refused,
        None if saw_capacity_limit => GatewayError::at_capacity(),
        None if saw_open_breaker => GatewayError::unavailable(
            "Every backend for this model is failing; its circuit breaker is open. Retry shortly.",
        ),
        None => GatewayError::unavailable(misconfigured.unwrap_or("No backend serves this route.")),
    };
    call.refuse(error, attempts)
}
