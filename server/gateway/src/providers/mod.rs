//! Backends that do not speak OpenAI's protocol: a tenant's developers keep
//! calling chat completions, and the request and its answer are translated
//! to and from the provider's own API. OpenAI-compatible backends never come
//! here; their traffic passes through untouched.
//!
//! Each provider has a file of its own; [`Adapter`] is what the proxy calls.

mod anthropic;
mod gemini;
mod sse;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use bytes::Bytes;
use ditto_types::api::Provider;
use futures_util::StreamExt;
use serde_json::{Map, Value, json};

use crate::error::GatewayError;

pub use crate::meter::Upstream;

/// Largest provider answer read whole to translate it.
const ANSWER_LIMIT: usize = 16 << 20;

/// A protocol the gateway translates to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adapter {
    Anthropic,
    Gemini,
}

/// Why a backend cannot take this request.
pub enum Skip {
    /// The request asks for something this provider cannot do: the client's error.
    Refused(GatewayError),
    /// The backend is set up wrong.
    Misconfigured(&'static str),
}

/// One upstream request in the provider's protocol.
pub struct Prepared {
    pub url: url::Url,
    pub body: Bytes,
}

/// A translated answer, ready to be metered on its way to the client.
pub struct Answer {
    pub status: StatusCode,
    pub sse: bool,
    pub body: Upstream,
    /// For streams: set if the provider reports an error mid-way.
    pub failed: Option<Arc<AtomicBool>>,
}

/// What a translation needs to know about the request besides its body.
pub struct Ask<'a> {
    pub endpoint: &'a str,
    pub method: &'a Method,
    /// The model to ask the provider for.
    pub model: &'a str,
    pub stream: bool,
    /// The output cap when the request sets none (Anthropic requires one).
    pub default_max_tokens: u64,
}

impl Adapter {
    /// The adapter for `provider`; `None` for OpenAI-compatible backends.
    pub fn of(provider: Provider) -> Option<Self> {
        match provider {
            Provider::Openai => None,
            Provider::Anthropic => Some(Self::Anthropic),
            Provider::Gemini => Some(Self::Gemini),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Anthropic => "Anthropic",
            Self::Gemini => "Gemini",
        }
    }

    /// The header the backend's credentials go in.
    pub fn credential_header(self) -> HeaderName {
        match self {
            Self::Anthropic => HeaderName::from_static("x-api-key"),
            Self::Gemini => HeaderName::from_static("x-goog-api-key"),
        }
    }

    /// Headers every request to this provider carries besides the credentials.
    pub fn fixed_headers(self, headers: &mut HeaderMap) {
        if self == Self::Anthropic {
            headers.insert(
                HeaderName::from_static("anthropic-version"),
                HeaderValue::from_static(anthropic::VERSION),
            );
        }
    }

    /// Headers of the client's request worth passing on to this provider.
    pub fn forwards(self, name: &HeaderName) -> bool {
        self == Self::Anthropic && name.as_str() == "anthropic-beta"
    }

    /// Where active health checks look.
    pub fn health_url(self, base: &url::Url) -> url::Url {
        match self {
            Self::Anthropic => api_url(base, "v1", "models"),
            Self::Gemini => api_url(base, "v1beta", "models"),
        }
    }

    /// The provider's request for a chat completion, or why there is none.
    pub fn prepare(
        self,
        base: Option<&url::Url>,
        ask: &Ask<'_>,
        body: Option<&Map<String, Value>>,
    ) -> Result<Prepared, Skip> {
        if ask.endpoint != "chat/completions" || ask.method != Method::POST {
            return Err(Skip::Refused(GatewayError::unsupported_endpoint(format!(
                "This model is served by {} backends, which the gateway can only send `POST /v1/chat/completions`; \
                 `{} /v1/{}` is not available for it.",
                self.name(),
                ask.method,
                ask.endpoint
            ))));
        }
        let body = body.ok_or_else(|| {
            Skip::Refused(GatewayError::bad_request(
                "The body must be a JSON object (Content-Type: application/json).",
                None,
            ))
        })?;
        common_checks(self, body).map_err(Skip::Refused)?;
        let base = base.ok_or(Skip::Misconfigured(
            "this backend's base URL is not a valid URL",
        ))?;
        let (url, translated) = match self {
            Self::Anthropic => (
                api_url(base, "v1", "messages"),
                anthropic::request(body, ask),
            ),
            Self::Gemini => {
                let model = ask.model.strip_prefix("models/").unwrap_or(ask.model);
                if model.is_empty()
                    || !model
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
                {
                    return Err(Skip::Refused(GatewayError::bad_request(
                        format!("`{model}` is not a Gemini model name."),
                        Some("model"),
                    )));
                }
                let (call, query) = if ask.stream {
                    ("streamGenerateContent", Some("alt=sse"))
                } else {
                    ("generateContent", None)
                };
                let mut url = api_url(base, "v1beta", &format!("models/{model}:{call}"));
                url.set_query(query);
                (url, gemini::request(body, ask))
            }
        };
        let translated = translated.map_err(Skip::Refused)?;
        let body = serde_json::to_vec(&translated).map_err(|_| {
            Skip::Refused(GatewayError::bad_request(
                "The request cannot be translated.",
                None,
            ))
        })?;
        Ok(Prepared {
            url,
            body: Bytes::from(body),
        })
    }

    /// The client's answer to the provider's: a streamed success becomes
    /// OpenAI chunks as the events arrive; anything else is read whole and
    /// translated (errors into OpenAI's error shape).
    pub async fn answer(
        self,
        status: StatusCode,
        body: Upstream,
        stream: bool,
        model: &str,
    ) -> Result<Answer, GatewayError> {
        if status.is_success() && stream {
            let failed = Arc::new(AtomicBool::new(false));
            let body: Upstream = match self {
                Self::Anthropic => Box::pin(sse::Translate::new(
                    body,
                    anthropic::Chunks::new(model),
                    failed.clone(),
                )),
                Self::Gemini => Box::pin(sse::Translate::new(
                    body,
                    gemini::Chunks::new(model),
                    failed.clone(),
                )),
            };
            return Ok(Answer {
                status,
                sse: true,
                body,
                failed: Some(failed),
            });
        }
        let bytes = read_all(body).await.map_err(|e| {
            GatewayError::unavailable(format!(
                "The {} backend broke off its answer ({e}).",
                self.name()
            ))
        })?;
        let (status, value) = if status.is_success() {
            let value = match self {
                Self::Anthropic => anthropic::response(&bytes, model),
                Self::Gemini => gemini::response(&bytes, model),
            };
            let value = value.ok_or_else(|| {
                GatewayError::bad_upstream(format!(
                    "The {} backend's answer could not be understood.",
                    self.name()
                ))
            })?;
            (status, value)
        } else {
            match self {
                Self::Anthropic => anthropic::error(status, &bytes),
                Self::Gemini => gemini::error(status, &bytes),
            }
        };
        let bytes = Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
        Ok(Answer {
            status,
            sse: false,
            body: Box::pin(futures_util::stream::once(async move { Ok(bytes) })),
            failed: None,
        })
    }
}

/// `{base}/{root}/{rest}`, tolerating a base URL that already ends in `/{root}`.
fn api_url(base: &url::Url, root: &str, rest: &str) -> url::Url {
    let mut url = base.clone();
    let path = url.path().trim_end_matches('/');
    let joined = if path.ends_with(&format!("/{root}")) {
        format!("{path}/{rest}")
    } else {
        format!("{path}/{root}/{rest}")
    };
    url.set_path(&joined);
    url.set_query(None);
    url
}

async fn read_all(mut body: Upstream) -> Result<Vec<u8>, String> {
    let mut all = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        if all.len() + chunk.len() > ANSWER_LIMIT {
            return Err(format!("the answer is larger than {ANSWER_LIMIT} bytes"));
        }
        all.extend_from_slice(&chunk);
    }
    Ok(all)
}

/// What neither provider can do, refused before anything is sent.
fn common_checks(adapter: Adapter, body: &Map<String, Value>) -> Result<(), GatewayError> {
    if let Some(n) = body.get("n").and_then(Value::as_u64)
        && n > 1
    {
        return Err(GatewayError::unsupported_parameter(
            format!(
                "`n` > 1 is not supported by this model's {} backend; send {n} requests instead.",
                adapter.name()
            ),
            "n",
        ));
    }
    if body.get("logprobs").and_then(Value::as_bool) == Some(true) {
        return Err(GatewayError::unsupported_parameter(
            format!(
                "`logprobs` is not available from this model's {} backend.",
                adapter.name()
            ),
            "logprobs",
        ));
    }
    let wants_audio = body
        .get("modalities")
        .and_then(Value::as_array)
        .is_some_and(|m| m.iter().any(|m| m != "text"))
        || body.get("audio").is_some_and(|a| !a.is_null());
    if wants_audio {
        return Err(GatewayError::unsupported_parameter(
            format!(
                "Only text output is available from this model's {} backend.",
                adapter.name()
            ),
            "modalities",
        ));
    }
    match body.get("messages") {
        Some(Value::Array(_)) => Ok(()),
        _ => Err(GatewayError::bad_request(
            "`messages` must be an array of messages.",
            Some("messages"),
        )),
    }
}

/// A message's content as text parts only (system prompts, tool results).
fn text_of(content: &Value, what: &str) -> Result<String, GatewayError> {
    match content {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) => {
            let mut text = String::new();
            for part in parts {
                match (part["type"].as_str(), part["text"].as_str()) {
                    (Some("text"), Some(t)) => {
                        if !text.is_empty() {
                            text.push('\n');
                        }
                        text.push_str(t);
                    }
                    _ => {
                        return Err(GatewayError::unsupported_parameter(
                            format!("{what} may only hold text parts for this model."),
                            "messages",
                        ));
                    }
                }
            }
            Ok(text)
        }
        _ => Err(GatewayError::bad_request(
            "A message's `content` must be a string or an array of parts.",
            Some("messages"),
        )),
    }
}

/// Appends `items` as a turn of `role` (under `key`: `content` or `parts`),
/// joining it to the previous turn of the same role: both providers want
/// alternating turns, and parallel tool results must be one turn.
fn push_turn(turns: &mut Vec<Value>, role: &str, key: &str, items: Vec<Value>) {
    if items.is_empty() {
        return;
    }
    if let Some(last) = turns.last_mut()
        && last["role"] == role
        && let Some(existing) = last[key].as_array_mut()
    {
        existing.extend(items);
        return;
    }
    let mut turn = Map::new();
    turn.insert("role".into(), role.into());
    turn.insert(key.into(), Value::Array(items));
    turns.push(Value::Object(turn));
}

/// An assistant message's tool call: its id, function name and arguments
/// (parsed; none is `{}`).
fn tool_call(call: &Value) -> Result<(&str, &str, Value), GatewayError> {
    let id = call["id"].as_str();
    let name = call["function"]["name"].as_str();
    let (Some(id), Some(name)) = (id, name) else {
        return Err(GatewayError::bad_request(
            "A tool call needs its `id` and `function.name`.",
            Some("messages"),
        ));
    };
    let arguments = call["function"]["arguments"].as_str().unwrap_or("");
    let arguments = if arguments.trim().is_empty() {
        json!({})
    } else {
        serde_json::from_str(arguments).map_err(|_| {
            GatewayError::bad_request(
                format!("The arguments of tool call `{id}` are not JSON."),
                Some("messages"),
            )
        })?
    };
    Ok((id, name, arguments))
}

/// `data:<media type>;base64,<data>`, split.
fn data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media = meta.strip_suffix(";base64")?;
    (!media.is_empty()).then_some((media, data))
}

/// The stop sequences of `stop` (a string or an array of them).
fn stop_sequences(body: &Map<String, Value>) -> Option<Value> {
    match body.get("stop")? {
        Value::String(s) => Some(json!([s])),
        Value::Array(items) if !items.is_empty() => Some(Value::Array(items.clone())),
        _ => None,
    }
}

/// The output cap the client asked for, under either name.
fn max_tokens(body: &Map<String, Value>) -> Option<u64> {
    body.get("max_completion_tokens")
        .and_then(Value::as_u64)
        .or_else(|| body.get("max_tokens").and_then(Value::as_u64))
}

/// OpenAI's usage object.
fn usage_json(prompt: u64, completion: u64, cached: u64) -> Value {
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    })
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An OpenAI error body.
fn error_json(message: &str, kind: &str, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

/// The status an upstream error is shown with: standard ones as they are;
/// Anthropic's 529 (overloaded) and other non-standard ones as 503 / 502.
fn shown_status(status: StatusCode) -> StatusCode {
    match status.as_u16() {
        400..=431 | 451 | 500..=504 => status,
        529 => StatusCode::SERVICE_UNAVAILABLE,
        s if s >= 500 => StatusCode::BAD_GATEWAY,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// OpenAI's error type for an HTTP status.
fn error_kind(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        s if s >= 500 => "api_error",
        _ => "invalid_request_error",
    }
}

/// The start of a body that is not the expected JSON, for an error message.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    text.trim().to_owned()
}

/// Adds the response headers of a translated answer (and the upstream's `Retry-After`).
pub fn answer_headers(headers: &mut HeaderMap, retry_after: Option<HeaderValue>, sse: bool) {
    let content_type = if sse {
        "text/event-stream"
    } else {
        "application/json"
    };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if sse {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    if let Some(retry) = retry_after {
        headers.insert(header::RETRY_AFTER, retry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_tolerate_a_base_with_the_version() {
        let with = url::Url::parse("https://api.anthropic.com/v1/").unwrap();
        let without = url::Url::parse("https://api.anthropic.com").unwrap();
        for base in [&with, &without] {
            assert_eq!(
                api_url(base, "v1", "messages").as_str(),
                "https://api.anthropic.com/v1/messages"
            );
        }
        let proxied = url::Url::parse("http://proxy/google").unwrap();
        assert_eq!(
            api_url(&proxied, "v1beta", "models/g:generateContent").as_str(),
            "http://proxy/google/v1beta/models/g:generateContent"
        );
    }

    #[test]
    fn data_urls_split_into_media_type_and_data() {
        assert_eq!(
            data_url("data:image/png;base64,iVBO"),
            Some(("image/png", "iVBO"))
        );
        assert_eq!(data_url("data:image/png,raw"), None);
        assert_eq!(data_url("https://x/y.png"), None);
    }

    #[test]
    fn non_standard_statuses_are_shown_as_standard_ones() {
        assert_eq!(
            shown_status(StatusCode::from_u16(529).unwrap()).as_u16(),
            503
        );
        assert_eq!(shown_status(StatusCode::TOO_MANY_REQUESTS).as_u16(), 429);
        assert_eq!(shown_status(StatusCode::BAD_REQUEST).as_u16(), 400);
    }
}
