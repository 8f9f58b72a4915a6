//! Google's Gemini API (`POST {base}/v1beta/models/{model}:generateContent`,
//! and `:streamGenerateContent?alt=sse` for streams).

use std::collections::HashMap;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::sse::{Chunks as Writer, Mapper};
use super::{
    Ask, data_url, error_json, push_turn, shown_status, snippet, text_of, tool_call, usage_json,
};
use crate::error::GatewayError;

fn unsupported(message: impl Into<String>, param: &'static str) -> GatewayError {
    GatewayError::unsupported_parameter(message, param)
}

fn invalid(message: impl Into<String>) -> GatewayError {
    GatewayError::bad_request(message, Some("messages"))
}

/// A chat completion request as a `generateContent` request.
pub fn request(body: &Map<String, Value>, _ask: &Ask<'_>) -> Result<Value, GatewayError> {
    let mut system: Vec<Value> = Vec::new();
    let mut contents: Vec<Value> = Vec::new();
    // Gemini answers a function call by its name; OpenAI by the call's id.
    let mut call_names: HashMap<&str, &str> = HashMap::new();
    let empty = Vec::new();
    let input = body
        .get("messages")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    for message in input {
        let role = message["role"].as_str().unwrap_or_default();
        match role {
            "system" | "developer" => {
                let text = text_of(&message["content"], "A system message")?;
                if !text.is_empty() {
                    system.push(json!({"text": text}));
                }
            }
            "user" => push_turn(&mut contents, "user", "parts", parts(&message["content"])?),
            "assistant" => {
                let mut parts = parts(&message["content"])?;
                for call in message["tool_calls"].as_array().unwrap_or(&empty) {
                    let (id, name, args) = tool_call(call)?;
                    call_names.insert(id, name);
                    parts.push(json!({"functionCall": {"name": name, "args": args}}));
                }
                push_turn(&mut contents, "model", "parts", parts);
            }
            "tool" => {
                let id = message["tool_call_id"]
                    .as_str()
                    .ok_or_else(|| invalid("A tool message needs its `tool_call_id`."))?;
                let name = call_names.get(id).ok_or_else(|| {
                    invalid(format!(
                        "The tool message for `{id}` follows no assistant tool call with that id."
                    ))
                })?;
                let text = text_of(&message["content"], "A tool message")?;
                let response = match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Object(object)) => Value::Object(object),
                    _ => json!({"content": text}),
                };
                push_turn(
                    &mut contents,
                    "user",
                    "parts",
                    vec![json!({"functionResponse": {"name": name, "response": response}})],
                );
            }
            other => {
                return Err(unsupported(
                    format!("Messages with the role `{other}` cannot be sent to this model."),
                    "messages",
                ));
            }
        }
    }
    let mut request = Map::new();
    request.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        request.insert("systemInstruction".into(), json!({"parts": system}));
    }
    let mut config = Map::new();
    if let Some(max) = super::max_tokens(body) {
        config.insert("maxOutputTokens".into(), max.into());
    }
    for (from, to) in [
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
        ("seed", "seed"),
    ] {
        if let Some(v) = body.get(from).filter(|v| v.is_number()) {
            config.insert(to.into(), v.clone());
        }
    }
    if let Some(stop) = super::stop_sequences(body) {
        config.insert("stopSequences".into(), stop);
    }
    if let Some(format) = body.get("response_format") {
        match format["type"].as_str() {
            None | Some("text") => {}
            Some("json_object") => {
                config.insert("responseMimeType".into(), "application/json".into());
            }
            Some("json_schema") => {
                config.insert("responseMimeType".into(), "application/json".into());
                if let Some(schema) = format["json_schema"].get("schema") {
                    config.insert("responseJsonSchema".into(), schema.clone());
                }
            }
            Some(kind) => {
                return Err(unsupported(
                    format!("`response_format` `{kind}` is not available from Gemini backends."),
                    "response_format",
                ));
            }
        }
    }
    if !config.is_empty() {
        request.insert("generationConfig".into(), Value::Object(config));
    }
    tools(body, &mut request)?;
    Ok(Value::Object(request))
}

fn parts(content: &Value) -> Result<Vec<Value>, GatewayError> {
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => Ok(vec![json!({"text": s})]),
        Value::Array(items) => items.iter().map(part).collect(),
        _ => Err(invalid(
            "A message's `content` must be a string or an array of parts.",
        )),
    }
}

fn part(item: &Value) -> Result<Value, GatewayError> {
    match item["type"].as_str() {
        Some("text") => Ok(json!({"text": item["text"]})),
        Some("refusal") => Ok(json!({"text": item["refusal"]})),
        Some("image_url") => {
            let url = item["image_url"]["url"]
                .as_str()
                .or_else(|| item["image_url"].as_str())
                .ok_or_else(|| invalid("An `image_url` part needs its `url`."))?;
            let (mime, data) = data_url(url).ok_or_else(|| {
                unsupported(
                    "Gemini backends take images as base64 `data:` URLs only.",
                    "messages",
                )
            })?;
            Ok(json!({"inlineData": {"mimeType": mime, "data": data}}))
        }
        other => Err(unsupported(
            format!(
                "Content parts of type `{}` cannot be sent to Gemini backends.",
                other.unwrap_or("?")
            ),
            "messages",
        )),
    }
}

fn tools(body: &Map<String, Value>, request: &mut Map<String, Value>) -> Result<(), GatewayError> {
    let mut declarations = Vec::new();
    for tool in body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if tool["type"] != "function" {
            return Err(unsupported(
                "Only `function` tools can be sent to Gemini backends.",
                "tools",
            ));
        }
        let function = &tool["function"];
        let mut out = Map::new();
        out.insert("name".into(), function["name"].clone());
        if let Some(description) = function["description"].as_str() {
            out.insert("description".into(), description.into());
        }
        if !function["parameters"].is_null() {
            out.insert(
                "parametersJsonSchema".into(),
                function["parameters"].clone(),
            );
        }
        declarations.push(Value::Object(out));
    }
    let mode = match body.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Some(json!({"mode": "AUTO"})),
            "required" => Some(json!({"mode": "ANY"})),
            "none" => Some(json!({"mode": "NONE"})),
            _ => {
                return Err(GatewayError::bad_request(
                    "`tool_choice` must be `auto`, `required`, `none` or a function.",
                    Some("tool_choice"),
                ));
            }
        },
        Some(choice) => match choice["function"]["name"].as_str() {
            Some(name) => Some(json!({"mode": "ANY", "allowedFunctionNames": [name]})),
            None => {
                return Err(GatewayError::bad_request(
                    "`tool_choice` must name a function.",
                    Some("tool_choice"),
                ));
            }
        },
    };
    if declarations.is_empty() {
        return Ok(());
    }
    request.insert(
        "tools".into(),
        json!([{"functionDeclarations": declarations}]),
    );
    if let Some(mode) = mode {
        request.insert("toolConfig".into(), json!({"functionCallingConfig": mode}));
    }
    Ok(())
}

fn finish_reason(reason: &str, called_tools: bool) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            "content_filter"
        }
        _ if called_tools => "tool_calls",
        _ => "stop",
    }
}

/// Prompt, completion (thinking included: it is billed as output) and cached tokens.
fn usage(metadata: &Value) -> (u64, u64, u64) {
    let n = |key: &str| metadata[key].as_u64().unwrap_or(0);
    (
        n("promptTokenCount") + n("toolUsePromptTokenCount"),
        n("candidatesTokenCount") + n("thoughtsTokenCount"),
        n("cachedContentTokenCount"),
    )
}

fn call_id() -> String {
    format!("call_{}", uuid::Uuid::now_v7().simple())
}

/// The text and function calls of a candidate's parts.
fn read_parts(candidate: &Value, text: &mut String, calls: &mut Vec<(String, String)>) {
    for part in candidate["content"]["parts"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if part["thought"] == true {
            continue;
        }
        if let Some(t) = part["text"].as_str() {
            text.push_str(t);
        } else if let Some(call) = part.get("functionCall") {
            let name = call["name"].as_str().unwrap_or_default().to_owned();
            let args = match &call["args"] {
                Value::Null => "{}".to_owned(),
                args => args.to_string(),
            };
            calls.push((name, args));
        }
    }
}

/// A `generateContent` answer as a chat completion.
pub fn response(body: &[u8], model: &str) -> Option<Value> {
    let answer: Value = serde_json::from_slice(body).ok()?;
    if !answer.is_object() {
        return None;
    }
    let candidate = &answer["candidates"][0];
    let mut text = String::new();
    let mut calls = Vec::new();
    read_parts(candidate, &mut text, &mut calls);
    let finish = match candidate["finishReason"].as_str() {
        Some(reason) => finish_reason(reason, !calls.is_empty()),
        // No candidate at all: the prompt itself was blocked.
        None if answer["promptFeedback"]["blockReason"].is_string() => "content_filter",
        None => finish_reason("STOP", !calls.is_empty()),
    };
    let mut message = json!({"role": "assistant", "content": text, "refusal": null});
    if !calls.is_empty() {
        if text.is_empty() {
            message["content"] = Value::Null;
        }
        message["tool_calls"] = calls
            .into_iter()
            .map(|(name, args)| {
                json!({"id": call_id(), "type": "function", "function": {"name": name, "arguments": args}})
            })
            .collect();
    }
    let (prompt, completion, cached) = usage(&answer["usageMetadata"]);
    Some(json!({
        "id": answer["responseId"].as_str().map_or_else(
            || format!("chatcmpl-{}", uuid::Uuid::now_v7().simple()),
            |id| format!("chatcmpl-{id}"),
        ),
        "object": "chat.completion",
        "created": super::now(),
        "model": answer["modelVersion"].as_str().unwrap_or(model),
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
        "usage": usage_json(prompt, completion, cached),
    }))
}

/// A Gemini (Google API) error as OpenAI's.
pub fn error(status: StatusCode, body: &[u8]) -> (StatusCode, Value) {
    let shown = shown_status(status);
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    // Errors come as an object, or (from some front ends) as a one-element array.
    let error = parsed.as_ref().map(|p| {
        if p.is_array() {
            &p[0]["error"]
        } else {
            &p["error"]
        }
    });
    let message = error
        .and_then(|e| e["message"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("The Gemini backend answered {status}: {}", snippet(body)));
    let code = error
        .and_then(|e| e["status"].as_str())
        .map(str::to_ascii_lowercase);
    (
        shown,
        error_json(&message, super::error_kind(shown), code.as_deref()),
    )
}

/// Streamed `generateContent` answers as chat completion chunks.
pub struct Chunks {
    writer: Writer,
    tool_calls: usize,
    usage: (u64, u64, u64),
    started: bool,
    errored: bool,
}

impl Chunks {
    pub fn new(model: &str) -> Self {
        Self {
            writer: Writer::new(model),
            tool_calls: 0,
            usage: (0, 0, 0),
            started: false,
            errored: false,
        }
    }
}

impl Mapper for Chunks {
    fn event(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if self.errored {
            return;
        }
        let Ok(event) = serde_json::from_slice::<Value>(data) else {
            tracing::warn!("a Gemini stream event is not JSON; skipped");
            return;
        };
        if let Some(error) = event.get("error") {
            let message = error["message"]
                .as_str()
                .unwrap_or("The Gemini backend failed mid-answer.");
            let code = error["status"].as_str().map(str::to_ascii_lowercase);
            if self.started {
                // What was used so far, for metering (stripped if the client did not ask).
                let (prompt, completion, cached) = self.usage;
                self.writer
                    .usage(out, usage_json(prompt, completion, cached));
            }
            Writer::error(out, error_json(message, "api_error", code.as_deref()));
            self.errored = true;
            return;
        }
        if !self.started {
            self.started = true;
            if let Some(model) = event["modelVersion"].as_str() {
                self.writer.model = model.to_owned();
            }
            if let Some(id) = event["responseId"].as_str() {
                self.writer.id = format!("chatcmpl-{id}");
            }
            self.writer
                .delta(out, json!({"role": "assistant", "content": ""}), None);
        }
        if event["usageMetadata"].is_object() {
            self.usage = usage(&event["usageMetadata"]);
        }
        let candidate = &event["candidates"][0];
        let mut text = String::new();
        let mut calls = Vec::new();
        read_parts(candidate, &mut text, &mut calls);
        if !text.is_empty() {
            self.writer.delta(out, json!({"content": text}), None);
        }
        for (name, args) in calls {
            self.writer.delta(
                out,
                json!({"tool_calls": [{
                    "index": self.tool_calls, "id": call_id(), "type": "function",
                    "function": {"name": name, "arguments": args},
                }]}),
                None,
            );
            self.tool_calls += 1;
        }
        let finish = match candidate["finishReason"].as_str() {
            Some(reason) => Some(finish_reason(reason, self.tool_calls > 0)),
            None if event["promptFeedback"]["blockReason"].is_string() => Some("content_filter"),
            None => None,
        };
        if let Some(finish) = finish {
            self.writer.delta(out, json!({}), Some(finish));
        }
    }

    fn end(&mut self, out: &mut Vec<u8>) {
        if self.errored || !self.started {
            return;
        }
        let (prompt, completion, cached) = self.usage;
        self.writer
            .usage(out, usage_json(prompt, completion, cached));
        Writer::done(out);
    }

    fn failed(&self) -> bool {
        self.errored
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    fn ask() -> Ask<'static> {
        Ask {
            endpoint: "chat/completions",
            method: &Method::POST,
            model: "gemini-x",
            stream: false,
            default_max_tokens: 100,
        }
    }

    #[test]
    fn requests_carry_system_tools_results_and_json_mode() {
        let body = json!({
            "max_tokens": 50, "top_p": 0.9, "stop": ["x"],
            "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}}},
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,BBBB"}}]},
                {"role": "assistant", "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "look", "arguments": "{\"q\":1}"}},
                    {"id": "c2", "type": "function", "function": {"name": "find", "arguments": "{}"}},
                ]},
                {"role": "tool", "tool_call_id": "c1", "content": "{\"seen\":\"cat\"}"},
                {"role": "tool", "tool_call_id": "c2", "content": "nothing"},
            ],
            "tools": [{"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "look"}},
        });
        let out = request(body.as_object().unwrap(), &ask()).unwrap();
        assert_eq!(
            out["systemInstruction"],
            json!({"parts": [{"text": "be brief"}]})
        );
        let contents = out["contents"].as_array().unwrap();
        assert_eq!(contents.len(), 3);
        assert_eq!(
            contents[0]["parts"][0]["inlineData"],
            json!({"mimeType": "image/jpeg", "data": "BBBB"})
        );
        assert_eq!(contents[1]["role"], "model");
        assert_eq!(
            contents[1]["parts"][0]["functionCall"],
            json!({"name": "look", "args": {"q": 1}})
        );
        assert_eq!(
            contents[2]["parts"],
            json!([
                {"functionResponse": {"name": "look", "response": {"seen": "cat"}}},
                {"functionResponse": {"name": "find", "response": {"content": "nothing"}}},
            ])
        );
        let config = &out["generationConfig"];
        assert_eq!(config["maxOutputTokens"], 50);
        assert_eq!(config["topP"], 0.9);
        assert_eq!(config["stopSequences"], json!(["x"]));
        assert_eq!(config["responseMimeType"], "application/json");
        assert_eq!(config["responseJsonSchema"], json!({"type": "object"}));
        assert_eq!(
            out["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["look"]}})
        );
        assert_eq!(
            out["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"],
            json!({"type": "object"})
        );
    }

    #[test]
    fn a_tool_result_without_its_call_is_refused() {
        let body = json!({"messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]});
        assert!(request(body.as_object().unwrap(), &ask()).is_err());
    }

    #[test]
    fn answers_become_chat_completions() {
        let answer = json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"text": "thinking...", "thought": true},
                {"functionCall": {"name": "look", "args": {"q": 2}}},
            ]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 3, "thoughtsTokenCount": 2,
                              "cachedContentTokenCount": 4, "totalTokenCount": 14},
            "modelVersion": "gemini-x-001", "responseId": "r1",
        });
        let out = response(answer.to_string().as_bytes(), "public").unwrap();
        assert_eq!(out["id"], "chatcmpl-r1");
        assert_eq!(out["model"], "gemini-x-001");
        let choice = &out["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(choice["message"]["content"], Value::Null);
        assert_eq!(
            choice["message"]["tool_calls"][0]["function"],
            json!({"name": "look", "arguments": "{\"q\":2}"})
        );
        assert_eq!(
            out["usage"],
            usage_json(9, 5, 4),
            "thinking is billed as output"
        );
    }

    #[test]
    fn streams_become_chunks_with_usage_and_done() {
        let mut chunks = Chunks::new("public");
        let mut out = Vec::new();
        for event in [
            json!({"candidates": [{"content": {"parts": [{"text": "Hel"}]}}], "modelVersion": "g-1", "responseId": "r"}),
            json!({"candidates": [{"content": {"parts": [{"text": "lo"}]}, "finishReason": "MAX_TOKENS"}],
                   "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2}}),
        ] {
            chunks.event(event.to_string().as_bytes(), &mut out);
        }
        chunks.end(&mut out);
        let out = String::from_utf8(out).unwrap();
        let events: Vec<Value> = out
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        assert_eq!(events[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(events[0]["id"], "chatcmpl-r");
        assert_eq!(events[1]["choices"][0]["delta"]["content"], "Hel");
        assert_eq!(events[2]["choices"][0]["delta"]["content"], "lo");
        assert_eq!(events[3]["choices"][0]["finish_reason"], "length");
        assert_eq!(events[4]["usage"], usage_json(4, 2, 0));
        assert!(out.ends_with("data: [DONE]\n\n"));
    }

    #[test]
    fn errors_take_openai_shape() {
        let body =
            br#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}"#;
        let (status, error) = super::error(StatusCode::TOO_MANY_REQUESTS, body);
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(error["error"]["type"], "rate_limit_error");
        assert_eq!(error["error"]["code"], "resource_exhausted");
        assert_eq!(error["error"]["message"], "Quota exceeded");
    }
}
