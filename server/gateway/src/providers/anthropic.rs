//! Anthropic's Messages API (`POST {base}/v1/messages`).

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::sse::{Chunks as Writer, Mapper};
use super::{
    Ask, data_url, error_json, push_turn, shown_status, snippet, text_of, tool_call, usage_json,
};
use crate::error::GatewayError;

pub const VERSION: &str = "2023-06-01";

fn unsupported(message: impl Into<String>, param: &'static str) -> GatewayError {
    GatewayError::unsupported_parameter(message, param)
}

fn invalid(message: impl Into<String>) -> GatewayError {
    GatewayError::bad_request(message, Some("messages"))
}

/// A chat completion request as a Messages request.
pub fn request(body: &Map<String, Value>, ask: &Ask<'_>) -> Result<Value, GatewayError> {
    let mut system: Vec<Value> = Vec::new();
    let mut messages: Vec<Value> = Vec::new();
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
                    system.push(json!({"type": "text", "text": text}));
                }
            }
            "user" => push_turn(
                &mut messages,
                "user",
                "content",
                blocks(&message["content"])?,
            ),
            "assistant" => {
                let mut content = blocks(&message["content"])?;
                for call in message["tool_calls"].as_array().unwrap_or(&empty) {
                    content.push(tool_use(call)?);
                }
                push_turn(&mut messages, "assistant", "content", content);
            }
            "tool" => {
                let id = message["tool_call_id"]
                    .as_str()
                    .ok_or_else(|| invalid("A tool message needs its `tool_call_id`."))?;
                let result = json!({
                    "type": "tool_result",
                    "tool_use_id": id,
                    "content": text_of(&message["content"], "A tool message")?,
                });
                push_turn(&mut messages, "user", "content", vec![result]);
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
    request.insert("model".into(), ask.model.into());
    request.insert(
        "max_tokens".into(),
        super::max_tokens(body)
            .unwrap_or(ask.default_max_tokens)
            .into(),
    );
    request.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        request.insert("system".into(), Value::Array(system));
    }
    if ask.stream {
        request.insert("stream".into(), true.into());
    }
    for (from, to) in [("temperature", "temperature"), ("top_p", "top_p")] {
        if let Some(v) = body.get(from).filter(|v| v.is_number()) {
            request.insert(to.into(), v.clone());
        }
    }
    if let Some(stop) = super::stop_sequences(body) {
        request.insert("stop_sequences".into(), stop);
    }
    if let Some(user) = body.get("user").and_then(Value::as_str) {
        request.insert("metadata".into(), json!({"user_id": user}));
    }
    match body.get("response_format").and_then(|f| f["type"].as_str()) {
        None | Some("text") => {}
        Some(kind) => {
            return Err(unsupported(
                format!("`response_format` `{kind}` is not available from Anthropic backends."),
                "response_format",
            ));
        }
    }
    tools(body, &mut request)?;
    Ok(Value::Object(request))
}

/// A message's content as Anthropic content blocks.
fn blocks(content: &Value) -> Result<Vec<Value>, GatewayError> {
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => Ok(vec![json!({"type": "text", "text": s})]),
        Value::Array(parts) => parts.iter().map(block).collect(),
        _ => Err(invalid(
            "A message's `content` must be a string or an array of parts.",
        )),
    }
}

fn block(part: &Value) -> Result<Value, GatewayError> {
    match part["type"].as_str() {
        Some("text") => Ok(json!({"type": "text", "text": part["text"]})),
        Some("refusal") => Ok(json!({"type": "text", "text": part["refusal"]})),
        Some("image_url") => {
            let url = part["image_url"]["url"]
                .as_str()
                .or_else(|| part["image_url"].as_str())
                .ok_or_else(|| invalid("An `image_url` part needs its `url`."))?;
            if let Some((media_type, data)) = data_url(url) {
                Ok(
                    json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}),
                )
            } else if url.starts_with("https://") || url.starts_with("http://") {
                Ok(json!({"type": "image", "source": {"type": "url", "url": url}}))
            } else {
                Err(invalid(
                    "An image must be an http(s) URL or a base64 `data:` URL.",
                ))
            }
        }
        other => Err(unsupported(
            format!(
                "Content parts of type `{}` cannot be sent to Anthropic backends.",
                other.unwrap_or("?")
            ),
            "messages",
        )),
    }
}

fn tool_use(call: &Value) -> Result<Value, GatewayError> {
    let (id, name, input) = tool_call(call)?;
    Ok(json!({"type": "tool_use", "id": id, "name": name, "input": input}))
}

fn tools(body: &Map<String, Value>, request: &mut Map<String, Value>) -> Result<(), GatewayError> {
    let mut list = Vec::new();
    for tool in body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if tool["type"] != "function" {
            return Err(unsupported(
                "Only `function` tools can be sent to Anthropic backends.",
                "tools",
            ));
        }
        let function = &tool["function"];
        let mut out = Map::new();
        out.insert("name".into(), function["name"].clone());
        if let Some(description) = function["description"].as_str() {
            out.insert("description".into(), description.into());
        }
        let schema = match &function["parameters"] {
            Value::Null => json!({"type": "object", "properties": {}}),
            schema => schema.clone(),
        };
        out.insert("input_schema".into(), schema);
        list.push(Value::Object(out));
    }
    let parallel = body.get("parallel_tool_calls").and_then(Value::as_bool);
    let mut choice = match body.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Some(json!({"type": "auto"})),
            "required" => Some(json!({"type": "any"})),
            "none" => Some(json!({"type": "none"})),
            _ => {
                return Err(GatewayError::bad_request(
                    "`tool_choice` must be `auto`, `required`, `none` or a function.",
                    Some("tool_choice"),
                ));
            }
        },
        Some(choice) => match choice["function"]["name"].as_str() {
            Some(name) => Some(json!({"type": "tool", "name": name})),
            None => {
                return Err(GatewayError::bad_request(
                    "`tool_choice` must name a function.",
                    Some("tool_choice"),
                ));
            }
        },
    };
    if list.is_empty() {
        return Ok(());
    }
    if parallel == Some(false) {
        let choice = choice.get_or_insert_with(|| json!({"type": "auto"}));
        if choice["type"] != "none" {
            choice["disable_parallel_tool_use"] = true.into();
        }
    }
    request.insert("tools".into(), Value::Array(list));
    if let Some(choice) = choice {
        request.insert("tool_choice".into(), choice);
    }
    Ok(())
}

fn finish_reason(stop_reason: Option<&str>) -> Option<&'static str> {
    Some(match stop_reason? {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    })
}

/// Prompt tokens include what was read from and written to the cache.
fn usage(usage: &Value) -> (u64, u64, u64) {
    let n = |key: &str| usage[key].as_u64().unwrap_or(0);
    let cached = n("cache_read_input_tokens");
    (
        n("input_tokens") + cached + n("cache_creation_input_tokens"),
        n("output_tokens"),
        cached,
    )
}

/// A Messages answer as a chat completion.
pub fn response(body: &[u8], model: &str) -> Option<Value> {
    let answer: Value = serde_json::from_slice(body).ok()?;
    let content = answer["content"].as_array()?;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in content {
        match block["type"].as_str() {
            Some("text") => text.push_str(block["text"].as_str().unwrap_or_default()),
            Some("tool_use") => tool_calls.push(json!({
                "id": block["id"], "type": "function",
                "function": {"name": block["name"], "arguments": block["input"].to_string()},
            })),
            // Thinking and server-tool blocks have no place in a chat completion.
            _ => {}
        }
    }
    let mut message = json!({"role": "assistant", "content": text, "refusal": null});
    if !tool_calls.is_empty() {
        if text.is_empty() {
            message["content"] = Value::Null;
        }
        message["tool_calls"] = Value::Array(tool_calls);
    }
    let (prompt, completion, cached) = usage(&answer["usage"]);
    Some(json!({
        "id": answer["id"].as_str().map_or_else(|| format!("chatcmpl-{}", uuid::Uuid::now_v7().simple()), str::to_owned),
        "object": "chat.completion",
        "created": super::now(),
        "model": answer["model"].as_str().unwrap_or(model),
        "choices": [{
            "index": 0, "message": message, "logprobs": null,
            "finish_reason": finish_reason(answer["stop_reason"].as_str()).unwrap_or("stop"),
        }],
        "usage": usage_json(prompt, completion, cached),
    }))
}

/// An Anthropic error as OpenAI's.
pub fn error(status: StatusCode, body: &[u8]) -> (StatusCode, Value) {
    let shown = shown_status(status);
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().map(|p| &p["error"]);
    let message = error
        .and_then(|e| e["message"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("The Anthropic backend answered {status}: {}", snippet(body)));
    let code = error.and_then(|e| e["type"].as_str());
    let kind = match code {
        Some("invalid_request_error") => "invalid_request_error",
        Some("authentication_error") => "authentication_error",
        Some("permission_error") => "permission_error",
        Some("not_found_error") => "not_found_error",
        Some("rate_limit_error") => "rate_limit_error",
        _ => super::error_kind(shown),
    };
    (shown, error_json(&message, kind, code))
}

/// Messages stream events as chat completion chunks.
pub struct Chunks {
    writer: Writer,
    /// Content block index of each tool call, in order: their position is the tool call's index.
    tool_blocks: Vec<u64>,
    input: (u64, u64, u64),
    output: u64,
    started: bool,
    finished: bool,
    errored: bool,
}

impl Chunks {
    pub fn new(model: &str) -> Self {
        Self {
            writer: Writer::new(model),
            tool_blocks: Vec::new(),
            input: (0, 0, 0),
            output: 0,
            started: false,
            finished: false,
            errored: false,
        }
    }

    fn tool_index(&self, block: Option<u64>) -> Option<usize> {
        self.tool_blocks.iter().position(|b| Some(*b) == block)
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            self.writer
                .delta(out, json!({"role": "assistant", "content": ""}), None);
        }
    }

    fn usage(&self) -> Value {
        let (prompt, _, cached) = self.input;
        usage_json(prompt, self.output, cached)
    }
}

impl Mapper for Chunks {
    fn event(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        let Ok(event) = serde_json::from_slice::<Value>(data) else {
            tracing::warn!("an Anthropic stream event is not JSON; skipped");
            return;
        };
        match event["type"].as_str() {
            Some("message_start") => {
                let message = &event["message"];
                if let Some(id) = message["id"].as_str() {
                    self.writer.id = id.to_owned();
                }
                if let Some(model) = message["model"].as_str() {
                    self.writer.model = model.to_owned();
                }
                self.input = usage(&message["usage"]);
                self.output = message["usage"]["output_tokens"].as_u64().unwrap_or(0);
                self.start(out);
            }
            Some("content_block_start") => {
                self.start(out);
                let block = &event["content_block"];
                match block["type"].as_str() {
                    Some("text") => {
                        if let Some(text) = block["text"].as_str().filter(|t| !t.is_empty()) {
                            self.writer.delta(out, json!({"content": text}), None);
                        }
                    }
                    Some("tool_use") => {
                        let index = self.tool_blocks.len();
                        self.tool_blocks.push(event["index"].as_u64().unwrap_or(0));
                        self.writer.delta(
                            out,
                            json!({"tool_calls": [{
                                "index": index, "id": block["id"], "type": "function",
                                "function": {"name": block["name"], "arguments": ""},
                            }]}),
                            None,
                        );
                    }
                    _ => {}
                }
            }
            Some("content_block_delta") => {
                let delta = &event["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => {
                        self.writer
                            .delta(out, json!({"content": delta["text"]}), None);
                    }
                    Some("input_json_delta") => {
                        let partial = delta["partial_json"].as_str().unwrap_or_default();
                        if let Some(index) = self.tool_index(event["index"].as_u64())
                            && !partial.is_empty()
                        {
                            self.writer.delta(
                                out,
                                json!({"tool_calls": [{"index": index, "function": {"arguments": partial}}]}),
                                None,
                            );
                        }
                    }
                    _ => {}
                }
            }
            Some("message_delta") => {
                let usage = &event["usage"];
                if let Some(output) = usage["output_tokens"].as_u64() {
                    self.output = output;
                }
                if usage["input_tokens"].is_u64() {
                    self.input = self::usage(usage);
                }
                if let Some(reason) = finish_reason(event["delta"]["stop_reason"].as_str()) {
                    self.writer.delta(out, json!({}), Some(reason));
                }
            }
            Some("message_stop") => {
                self.writer.usage(out, self.usage());
                Writer::done(out);
                self.finished = true;
            }
            Some("error") => {
                if self.started {
                    // What was used so far, for metering (stripped if the client did not ask).
                    self.writer.usage(out, self.usage());
                }
                let error = &event["error"];
                let message = error["message"]
                    .as_str()
                    .unwrap_or("The Anthropic backend failed mid-answer.");
                let code = error["type"].as_str();
                let kind = if code == Some("rate_limit_error") {
                    "rate_limit_error"
                } else {
                    "api_error"
                };
                Writer::error(out, error_json(message, kind, code));
                self.finished = true;
                self.errored = true;
            }
            _ => {}
        }
    }

    fn end(&mut self, out: &mut Vec<u8>) {
        if !self.finished && self.started {
            // Cut off before `message_stop`: report what was used, but no `[DONE]`.
            self.writer.usage(out, self.usage());
        }
    }

    fn failed(&self) -> bool {
        self.errored
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    fn ask(stream: bool) -> Ask<'static> {
        Ask {
            endpoint: "chat/completions",
            method: &Method::POST,
            model: "claude-x",
            stream,
            default_max_tokens: 777,
        }
    }

    #[test]
    fn requests_carry_system_images_tools_and_results() {
        let body = json!({
            "model": "public", "temperature": 0.5, "stop": "END", "parallel_tool_calls": false,
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "developer", "content": [{"type": "text", "text": "and kind"}]},
                {"role": "user", "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{\"q\":1}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "look", "arguments": ""}},
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
                {"role": "tool", "tool_call_id": "call_2", "content": "a hat"},
            ],
            "tools": [{"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}],
            "tool_choice": "required",
        });
        let out = request(body.as_object().unwrap(), &ask(true)).unwrap();
        assert_eq!(out["model"], "claude-x");
        assert_eq!(out["max_tokens"], 777);
        assert_eq!(out["stream"], true);
        assert_eq!(out["stop_sequences"], json!(["END"]));
        assert_eq!(
            out["system"],
            json!([{"type": "text", "text": "be brief"}, {"type": "text", "text": "and kind"}])
        );
        let messages = out["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert_eq!(
            messages[0]["content"][1]["source"],
            json!({"type": "base64", "media_type": "image/png", "data": "AAAA"})
        );
        assert_eq!(messages[1]["content"][0]["input"], json!({"q": 1}));
        assert_eq!(messages[1]["content"][1]["input"], json!({}));
        assert_eq!(messages[2]["role"], "user");
        assert_eq!(messages[2]["content"][1]["tool_use_id"], "call_2");
        assert_eq!(out["tools"][0]["input_schema"], json!({"type": "object"}));
        assert_eq!(
            out["tool_choice"],
            json!({"type": "any", "disable_parallel_tool_use": true})
        );
    }

    #[test]
    fn json_response_formats_are_refused() {
        let body = json!({"messages": [], "response_format": {"type": "json_object"}});
        let error = request(body.as_object().unwrap(), &ask(false)).unwrap_err();
        assert_eq!(error.param, Some("response_format"));
    }

    #[test]
    fn answers_become_chat_completions() {
        let answer = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [
                {"type": "thinking", "thinking": "hmm"},
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_1", "name": "look", "input": {"q": 1}},
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 4, "cache_creation_input_tokens": 2},
        });
        let out = response(answer.to_string().as_bytes(), "public").unwrap();
        assert_eq!(out["id"], "msg_1");
        assert_eq!(out["object"], "chat.completion");
        let choice = &out["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(choice["message"]["content"], "Let me look.");
        assert_eq!(
            choice["message"]["tool_calls"][0]["function"]["arguments"],
            "{\"q\":1}"
        );
        assert_eq!(out["usage"]["prompt_tokens"], 16);
        assert_eq!(out["usage"]["completion_tokens"], 5);
        assert_eq!(out["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
    }

    fn stream(events: &[Value]) -> String {
        let mut chunks = Chunks::new("public");
        let mut out = Vec::new();
        for event in events {
            chunks.event(event.to_string().as_bytes(), &mut out);
        }
        chunks.end(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn an_error_event_mid_stream_ends_it_in_openai_shape() {
        let out = stream(&[
            json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude-x", "usage": {"input_tokens": 3}}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            json!({"type": "message_stop"}),
        ]);
        let events: Vec<&str> = out.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(events.len(), 4, "{out}");
        assert!(events[0].contains("\"id\":\"msg_1\""));
        assert!(events[1].contains("\"content\":\"Hi\""));
        assert!(
            events[2].contains("\"prompt_tokens\":3"),
            "what was used so far is reported: {out}"
        );
        assert_eq!(
            serde_json::from_str::<Value>(events[3].strip_prefix("data: ").unwrap()).unwrap(),
            error_json("Overloaded", "api_error", Some("overloaded_error"))
        );
        assert!(!out.contains("[DONE]"), "nothing follows an error");
    }

    #[test]
    fn a_stream_cut_short_still_reports_its_usage_but_not_done() {
        let out = stream(&[
            json!({"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 3, "cache_read_input_tokens": 2}}}),
            json!({"type": "message_delta", "delta": {"stop_reason": null}, "usage": {"output_tokens": 7}}),
        ]);
        assert!(out.contains("\"prompt_tokens\":5"), "{out}");
        assert!(out.contains("\"completion_tokens\":7"), "{out}");
        assert!(!out.contains("[DONE]"));
    }

    #[test]
    fn overloaded_becomes_a_503_in_openai_shape() {
        let body =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let (status, error) = super::error(StatusCode::from_u16(529).unwrap(), body);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error["error"]["message"], "Overloaded");
        assert_eq!(error["error"]["type"], "api_error");
        assert_eq!(error["error"]["code"], "overloaded_error");
    }
}
