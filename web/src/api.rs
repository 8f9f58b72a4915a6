//! The admin API as the browser calls it: same origin, the `ditto_session`
//! cookie, and the CSRF token from the `ditto_csrf` cookie echoed as
//! `x-csrf-token` on every change. The console has no other way in.

use ditto_types::problem::{FieldError, Problem};
use gloo_net::http::{Method, RequestBuilder};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub const BASE: &str = "/api/v1";

/// A failed call: the API's problem document, or one made up for a network
/// failure (status 0).
#[derive(Clone, Debug)]
pub struct ApiError(pub Box<Problem>);

impl ApiError {
    fn local(title: &str, detail: String) -> Self {
        ApiError(Box::new(Problem {
            kind: "about:blank".into(),
            title: title.into(),
            status: 0,
            detail: Some(detail),
            instance: None,
            request_id: None,
            errors: Vec::new(),
        }))
    }

    pub fn status(&self) -> u16 {
        self.0.status
    }

    /// The last segment of the problem type, e.g. `second-factor-required`.
    pub fn code(&self) -> &str {
        self.0.kind.rsplit('/').next().unwrap_or_default()
    }

    pub fn message(&self) -> String {
        match &self.0.detail {
            Some(detail) => format!("{}: {detail}", self.0.title),
            None => self.0.title.clone(),
        }
    }

    /// The API's complaint about one field, named as a JSON pointer (`/name`).
    pub fn field(&self, pointer: &str) -> Option<String> {
        self.0
            .errors
            .iter()
            .find(|e: &&FieldError| {
                e.field == pointer || e.field.trim_start_matches('/') == pointer
            })
            .map(|e| e.message.clone())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The value of a cookie the page can read (`ditto_csrf`; the session
/// cookie itself is HttpOnly).
pub fn cookie(name: &str) -> Option<String> {
    use wasm_bindgen::JsCast;
    let document = web_sys::window()?.document()?;
    let cookies = document
        .dyn_into::<web_sys::HtmlDocument>()
        .ok()?
        .cookie()
        .ok()?;
    cookies.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

/// Leaves for the sign-in page, saying why, when the session is gone.
fn session_ended() {
    if let Some(window) = web_sys::window() {
        let here = window.location().pathname().unwrap_or_default();
        let next = enc(&here);
        // The CSRF cookie outlives an idle session; without it there was none.
        let why = if cookie("ditto_csrf").is_some() {
            "expired=1&"
        } else {
            ""
        };
        let _ = window
            .location()
            .set_href(&format!("/console/sign-in?{why}next={next}"));
    }
}

/// Percent-encodes a query parameter value.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn send(method: Method, path: &str, body: Option<String>) -> ApiResult<Option<String>> {
    let mut request = RequestBuilder::new(&format!("{BASE}{path}"))
        .method(method.clone())
        .header("accept", "application/json");
    if !matches!(method, Method::GET | Method::HEAD)
        && let Some(token) = cookie("ditto_csrf")
    {
        request = request.header("x-csrf-token", &token);
    }
    let sent = match body {
        Some(body) => {
            request
                .header("content-type", "application/json")
                .body(body)
                .map_err(|e| ApiError::local("Request failed", e.to_string()))?
                .send()
                .await
        }
        None => request.send().await,
    };
    let response = sent.map_err(|e| ApiError::local("Network error", e.to_string()))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if (200..300).contains(&status) {
        return Ok((status != 204 && !text.is_empty()).then_some(text));
    }
    let problem = serde_json::from_str::<Problem>(&text).unwrap_or_else(|_| Problem {
        kind: "about:blank".into(),
        title: format!("HTTP {status}"),
        status,
        detail: None,
        instance: None,
        request_id: None,
        errors: Vec::new(),
    });
    let error = ApiError(Box::new(problem));
    // A 401 anywhere but at sign-in means the session expired or was revoked.
    if status == 401 && !path.starts_with("/auth/") {
        session_ended();
    }
    Err(error)
}

fn parse<T: DeserializeOwned>(text: Option<String>) -> ApiResult<T> {
    serde_json::from_str(text.as_deref().unwrap_or("null"))
        .map_err(|e| ApiError::local("Unexpected response", e.to_string()))
}

pub async fn get<T: DeserializeOwned>(path: &str) -> ApiResult<T> {
    parse(send(Method::GET, path, None).await?)
}

pub async fn post<B: Serialize, T: DeserializeOwned>(path: &str, body: &B) -> ApiResult<T> {
    let body =
        serde_json::to_string(body).map_err(|e| ApiError::local("Bad request", e.to_string()))?;
    parse(send(Method::POST, path, Some(body)).await?)
}

/// A POST or DELETE whose answer the console does not need.
pub async fn call(method: &str, path: &str, body: Option<serde_json::Value>) -> ApiResult<()> {
    let method = match method {
        "DELETE" => Method::DELETE,
        "PATCH" => Method::PATCH,
        "PUT" => Method::PUT,
        _ => Method::POST,
    };
    send(method, path, body.map(|b| b.to_string()))
        .await
        .map(|_| ())
}
