//! Anthropic's Messages API: `POST /v1/messages`, plain and streamed.
//!
//! The answer depends on the conversation: after tool results it says what
//! the tools returned; when tools are offered (and not switched off) it
//! calls the first one with the last user text; otherwise it says "mock"
//! `chunks` times.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::{Mock, Protocol, protocol_error, stream_frames, tokens_in};

/// What the mock answers with.
enum Reply {
    Text(String),
    ToolUse { name: String, input: Value },
}

fn last_user_text(messages: &[Value]) -> String {
    let Some(last) = messages.iter().rev().find(|m| m["role"] == "user") else {
        return String::new();
    };
    match &last["content"] {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn reply(request: &Value, messages: &[Value], chunks: u32) -> Reply {
    let results: Vec<String> = messages
        .last()
        .and_then(|m| m["content"].as_array())
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == "tool_result")
        .map(|b| {
            let content = match &b["content"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{}={content}", b["tool_use_id"].as_str().unwrap_or("?"))
        })
        .collect();
    if !results.is_empty() {
        return Reply::Text(format!("tools said: {}", results.join(", ")));
    }
    let first_tool = request["tools"][0]["name"].as_str();
    if let Some(name) = first_tool
        && request["tool_choice"]["type"] != "none"
    {
        return Reply::ToolUse {
            name: name.to_owned(),
            input: json!({"echo": last_user_text(messages)}),
        };
    }
    Reply::Text(vec!["mock"; chunks as usize].join(" "))
}

fn invalid(message: &str) -> Response {
    protocol_error(Protocol::Anthropic, StatusCode::BAD_REQUEST, message)
}

pub(crate) async fn messages(
    State(mock): State<Arc<Mock>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let behaviour = match mock
        .admit_as(Protocol::Anthropic, "POST", "/v1/messages", &headers, &body)
        .await
    {
        Ok(b) => b,
        Err(failure) => return failure,
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return invalid("body is not JSON");
    };
    let Some(model) = request["model"].as_str() else {
        return invalid("model: Field required");
    };
    if !request["max_tokens"].is_u64() {
        return invalid("max_tokens: Field required");
    }
    let Some(messages) = request["messages"].as_array().filter(|m| !m.is_empty()) else {
        return invalid("messages: at least one message is required");
    };
    if messages
        .iter()
        .any(|m| m["role"] != "user" && m["role"] != "assistant")
    {
        return invalid("messages: roles must be `user` or `assistant`");
    }
    if messages.windows(2).any(|w| w[0]["role"] == w[1]["role"]) {
        return invalid("messages: roles must alternate between `user` and `assistant`");
    }
    let chunks = behaviour.chunks.unwrap_or(4);
    let prompt = tokens_in(&request["messages"]) + tokens_in(&request["system"]);
    let cached = behaviour.cached_tokens.min(prompt);
    let reply = reply(&request, messages, chunks);
    let output = match &reply {
        Reply::Text(_) => u64::from(chunks),
        Reply::ToolUse { .. } => 5,
    };
    let (stop_reason, content) = match &reply {
        Reply::Text(text) => ("end_turn", json!([{"type": "text", "text": text}])),
        Reply::ToolUse { name, input } => (
            "tool_use",
            json!([{"type": "tool_use", "id": "toolu_mock_1", "name": name, "input": input}]),
        ),
    };
    let usage = json!({"input_tokens": prompt - cached, "output_tokens": output,
                       "cache_read_input_tokens": cached, "cache_creation_input_tokens": 0});
    if request["stream"] != true {
        return Json(json!({
            "id": "msg_mock", "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop_reason, "stop_sequence": null, "usage": usage,
        }))
        .into_response();
    }
    let mut events: Vec<(&str, Value)> = vec![
        (
            "message_start",
            json!({"type": "message_start", "message": {
                "id": "msg_mock", "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": prompt - cached, "output_tokens": 1,
                          "cache_read_input_tokens": cached, "cache_creation_input_tokens": 0},
            }}),
        ),
        ("ping", json!({"type": "ping"})),
    ];
    match &reply {
        Reply::Text(text) => {
            events.push((
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ));
            let words: Vec<&str> = text.split(' ').collect();
            for (i, word) in words.iter().enumerate() {
                let piece = if i + 1 < words.len() {
                    format!("{word} ")
                } else {
                    (*word).to_owned()
                };
                events.push((
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": 0,
                           "delta": {"type": "text_delta", "text": piece}}),
                ));
            }
        }
        Reply::ToolUse { name, input } => {
            events.push((
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block":
                       {"type": "tool_use", "id": "toolu_mock_1", "name": name, "input": {}}}),
            ));
            let json = input.to_string();
            let (a, b) = json.split_at(json.len() / 2);
            for part in ["", a, b] {
                events.push((
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": 0,
                           "delta": {"type": "input_json_delta", "partial_json": part}}),
                ));
            }
        }
    }
    if behaviour.fail_mid_stream {
        events.truncate(4);
        events.push((
            "error",
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        ));
        let frames = events
            .into_iter()
            .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
            .collect();
        return stream_frames(&mock, frames, Duration::ZERO, "text/event-stream");
    }
    events.push((
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push((
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null},
               "usage": {"output_tokens": output}}),
    ));
    events.push(("message_stop", json!({"type": "message_stop"})));
    let frames = events
        .into_iter()
        .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
        .collect();
    stream_frames(
        &mock,
        frames,
        Duration::from_millis(behaviour.chunk_delay_ms),
        "text/event-stream; charset=utf-8",
    )
}
