//! Gemini's `generateContent`: `POST /v1beta/models/{model}:generateContent`
//! and `:streamGenerateContent?alt=sse`.
//!
//! The answer depends on the conversation: after function responses it says
//! what the functions returned (by name); when functions are declared (and
//! not switched off) it calls the first one with the last user text;
//! otherwise it says "mock" `chunks` times.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::{Mock, Protocol, protocol_error, stream_frames, tokens_in};

fn invalid(message: &str) -> Response {
    protocol_error(Protocol::Gemini, StatusCode::BAD_REQUEST, message)
}

fn last_user_text(contents: &[Value]) -> String {
    contents
        .iter()
        .rev()
        .find(|c| c["role"] == "user")
        .and_then(|c| c["parts"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|p| p["text"].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The parts of the answer.
fn reply(request: &Value, contents: &[Value], chunks: u32) -> (Vec<Value>, bool) {
    let responses: Vec<String> = contents
        .last()
        .and_then(|c| c["parts"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("functionResponse"))
        .map(|r| format!("{}={}", r["name"].as_str().unwrap_or("?"), r["response"]))
        .collect();
    if !responses.is_empty() {
        return (
            vec![json!({"text": format!("functions said: {}", responses.join(", "))})],
            false,
        );
    }
    let declared = request["tools"][0]["functionDeclarations"][0]["name"].as_str();
    let mode = request["toolConfig"]["functionCallingConfig"]["mode"].as_str();
    if let Some(name) = declared
        && mode != Some("NONE")
    {
        let call =
            json!({"functionCall": {"name": name, "args": {"echo": last_user_text(contents)}}});
        return (vec![call], true);
    }
    let words = vec!["mock"; chunks as usize];
    (vec![json!({"text": words.join(" ")})], false)
}

pub(crate) async fn generate(
    State(mock): State<Arc<Mock>>,
    Path(call): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = match &query {
        Some(q) => format!("/v1beta/models/{call}?{q}"),
        None => format!("/v1beta/models/{call}"),
    };
    let behaviour = match mock
        .admit_as(Protocol::Gemini, "POST", &path, &headers, &body)
        .await
    {
        Ok(b) => b,
        Err(failure) => return failure,
    };
    let (model, stream) = match call.rsplit_once(':') {
        Some((model, "generateContent")) => (model, false),
        Some((model, "streamGenerateContent")) => (model, true),
        _ => {
            return protocol_error(Protocol::Gemini, StatusCode::NOT_FOUND, "no such method");
        }
    };
    if stream && query.as_deref() != Some("alt=sse") {
        return invalid("the mock streams only with alt=sse");
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return invalid("Invalid JSON payload received.");
    };
    let Some(contents) = request["contents"].as_array().filter(|c| !c.is_empty()) else {
        return invalid("* GenerateContentRequest.contents: contents is not specified");
    };
    if contents
        .iter()
        .any(|c| c["role"] != "user" && c["role"] != "model")
    {
        return invalid("Please use a valid role: user, model.");
    }
    let chunks = behaviour.chunks.unwrap_or(4);
    let prompt = tokens_in(&request["contents"]) + tokens_in(&request["systemInstruction"]);
    let (parts, called) = reply(&request, contents, chunks);
    let output = if called { 5 } else { u64::from(chunks) };
    let usage = json!({
        "promptTokenCount": prompt, "candidatesTokenCount": output,
        "totalTokenCount": prompt + output,
        "cachedContentTokenCount": behaviour.cached_tokens.min(prompt),
    });
    let version = format!("{model}-mock-001");
    if !stream {
        return Json(json!({
            "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": usage, "modelVersion": version, "responseId": "mock-response",
        }))
        .into_response();
    }
    // Text arrives word by word; a function call in one piece. The last
    // event carries the finish reason and the usage.
    let mut pieces: Vec<Value> = Vec::new();
    for part in parts {
        match part["text"].as_str() {
            Some(text) => {
                let words: Vec<&str> = text.split(' ').collect();
                for (i, word) in words.iter().enumerate() {
                    let piece = if i + 1 < words.len() {
                        format!("{word} ")
                    } else {
                        (*word).to_owned()
                    };
                    pieces.push(json!({"text": piece}));
                }
            }
            None => pieces.push(part),
        }
    }
    let last = pieces.len() - 1;
    let failure = behaviour.fail_mid_stream.then(|| {
        let error = json!({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}});
        format!("data: {error}\r\n\r\n")
    });
    let keep = if failure.is_some() { 1 } else { pieces.len() };
    let frames = pieces
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let mut candidate = json!({"content": {"role": "model", "parts": [part]}, "index": 0});
            let mut event = json!({"modelVersion": version, "responseId": "mock-response"});
            if i == last {
                candidate["finishReason"] = json!("STOP");
                event["usageMetadata"] = usage.clone();
            } else {
                event["usageMetadata"] =
                    json!({"promptTokenCount": prompt, "totalTokenCount": prompt});
            }
            event["candidates"] = json!([candidate]);
            format!("data: {event}\r\n\r\n")
        })
        .take(keep)
        .chain(failure)
        .collect();
    stream_frames(
        &mock,
        frames,
        Duration::from_millis(behaviour.chunk_delay_ms),
        "text/event-stream",
    )
}
