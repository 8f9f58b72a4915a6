//! Anthropic and Gemini backends behind a tenant's OpenAI endpoint: the
//! mock upstream speaks their protocols over real HTTP, and these tests check
//! what goes up, what comes back, and what is recorded.

use super::*;

const IMAGE: &str = "data:image/png;base64,iVBORw0KGgo=";

/// The OpenAI world of `world()` plus an Anthropic and a Gemini backend on
/// mocks of their own, and routes to and between them.
struct Providers {
    w: World,
    anthropic: MockUpstream,
    gemini: MockUpstream,
    anthropic_id: String,
    gemini_id: String,
}

async fn providers() -> Providers {
    let w = world().await;
    let admin = w.app.admin();
    let anthropic = mock().await;
    let gemini = mock().await;
    let anthropic_id = backend(
        &admin,
        "acme",
        "claude-backend",
        &anthropic,
        json!({"provider": "anthropic", "base_url": anthropic.root_url()}),
    )
    .await;
    let gemini_id = backend(
        &admin,
        "acme",
        "gemini-backend",
        &gemini,
        json!({"provider": "gemini", "base_url": gemini.root_url()}),
    )
    .await;
    let shown = admin
        .get(&format!("/api/v1/tenants/acme/backends/{anthropic_id}"))
        .await
        .expect_status(200);
    assert_eq!(shown["provider"], "anthropic");
    let claude = json!({"backend_id": anthropic_id, "upstream_model": "claude-test"});
    let gem = json!({"backend_id": gemini_id, "upstream_model": "gemini-test"});
    let openai = json!({"backend_id": w.backend});
    for route in [
        json!({"model": "claude", "targets": [claude]}),
        json!({"model": "gemini", "targets": [gem]}),
        json!({"model": "gpt-then-claude", "targets": [openai], "fallbacks": [claude]}),
        json!({"model": "claude-then-gpt", "targets": [claude], "fallbacks": [openai]}),
        json!({"model": "gemini-then-claude", "targets": [gem], "fallbacks": [claude]}),
    ] {
        admin
            .post("/api/v1/tenants/acme/routes", route)
            .await
            .expect_status(201);
    }
    w.app.gateway_caught_up("acme").await;
    Providers {
        w,
        anthropic,
        gemini,
        anthropic_id,
        gemini_id,
    }
}

fn header<'a>(request: &'a ditto_mock_upstream::SeenRequest, name: &str) -> Vec<&'a str> {
    request
        .headers
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The credentials went in `name` alone, and the virtual key nowhere.
fn assert_credentials(request: &ditto_mock_upstream::SeenRequest, name: &str, key: &str) {
    assert_eq!(header(request, name), [UPSTREAM_SECRET]);
    assert!(
        header(request, "authorization").is_empty(),
        "{:?}",
        request.headers
    );
    let everything = format!("{:?}", request.headers) + request.body.as_str();
    assert!(
        !everything.contains(key),
        "the virtual key reached the upstream"
    );
}

/// The JSON events of an SSE body, and whether it ended with `[DONE]`.
fn sse_events(text: &str) -> (Vec<Value>, bool) {
    let data: Vec<&str> = text
        .split("\n\n")
        .filter_map(|e| e.trim().strip_prefix("data: "))
        .collect();
    let done = data.last() == Some(&"[DONE]");
    let events = data
        .iter()
        .filter(|d| **d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    (events, done)
}

/// The text of streamed chunks, joined.
fn streamed_text(events: &[Value]) -> String {
    events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect()
}

fn finish_reasons(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| e["choices"][0]["finish_reason"].as_str())
        .collect()
}

#[tokio::test]
async fn anthropic_chat_is_translated_both_ways_and_metered() {
    let p = providers().await;
    p.anthropic.set(Behaviour {
        require_bearer: Some(UPSTREAM_SECRET.into()),
        cached_tokens: 1,
        ..Behaviour::default()
    });
    let resp = p
        .w
        .client
        .post(
            "chat/completions",
            json!({"model": "claude", "temperature": 0.2, "stop": ["\n\n"], "user": "u-1", "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [
                    {"type": "text", "text": "hello there"},
                    {"type": "image_url", "image_url": {"url": IMAGE}},
                ]},
            ]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ditto-backend"], "claude-backend");
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "claude-test");
    assert!(body["created"].as_i64().unwrap() > 1_700_000_000);
    let choice = &body["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "mock mock mock mock");
    assert_eq!(choice["finish_reason"], "stop");
    // "hello there" and "be brief"; one of them read from the cache.
    assert_eq!(body["usage"]["prompt_tokens"], 4);
    assert_eq!(body["usage"]["completion_tokens"], 4);
    assert_eq!(body["usage"]["prompt_tokens_details"]["cached_tokens"], 1);

    let seen = p.anthropic.requests();
    let request = seen.last().unwrap();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/v1/messages")
    );
    assert_credentials(request, "x-api-key", &p.w.client.key);
    assert_eq!(header(request, "anthropic-version"), ["2023-06-01"]);
    let sent: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(sent["model"], "claude-test");
    assert_eq!(sent["max_tokens"], 4096, "the default output cap");
    assert_eq!(sent["temperature"], 0.2);
    assert_eq!(sent["stop_sequences"], json!(["\n\n"]));
    assert_eq!(sent["metadata"]["user_id"], "u-1");
    assert_eq!(
        sent["system"],
        json!([{"type": "text", "text": "be brief"}])
    );
    assert_eq!(
        sent["messages"][0]["content"][1]["source"],
        json!({"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="})
    );
    assert_eq!(p.w.mock.calls(), 0, "the OpenAI backend was not involved");

    let rows = chat_rows(&p.w.app, 1).await;
    let row = &rows[0];
    assert_eq!(row["model"], "claude");
    assert_eq!(row["status"], 200);
    assert_eq!(row["backend_id"], p.anthropic_id.as_str());
    assert_eq!(row["streamed"], false);
    assert_eq!(row["prompt_tokens"], 4);
    assert_eq!(row["completion_tokens"], 4);
    assert_eq!(row["cached_tokens"], 1);
}

#[tokio::test]
async fn translated_usage_is_priced_and_the_models_output_cap_is_sent() {
    let p = providers().await;
    p.anthropic.set(Behaviour {
        require_bearer: Some(UPSTREAM_SECRET.into()),
        cached_tokens: 1,
        ..Behaviour::default()
    });
    sqlx::query(
        "INSERT INTO model_prices (model, input_pico, output_pico, cached_input_pico, max_output_tokens)
         VALUES ('claude-test', 1000000, 5000000, 100000, 1234)",
    )
    .execute(p.w.app.store.pool())
    .await
    .unwrap();
    p.w.app.gateway_caught_up("acme").await;
    let resp = p.w.client.chat("claude").await;
    assert_eq!(resp.status(), 200);
    let sent: Value = serde_json::from_str(&p.anthropic.requests().last().unwrap().body).unwrap();
    assert_eq!(sent["max_tokens"], 1234, "the model's own output cap");
    let rows = chat_rows(&p.w.app, 1).await;
    let row = &rows[0];
    // 2 prompt tokens (1 cached) and 4 completion tokens.
    assert_eq!(row["cost_pico"], 1_000_000 + 100_000 + 4 * 5_000_000);

    // The client's own cap wins.
    let resp = p
        .w
        .client
        .post(
            "chat/completions",
            json!({"model": "claude", "max_completion_tokens": 9, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let sent: Value = serde_json::from_str(&p.anthropic.requests().last().unwrap().body).unwrap();
    assert_eq!(sent["max_tokens"], 9);
}

#[tokio::test]
async fn anthropic_streams_are_translated_chunk_by_chunk() {
    let p = providers().await;
    p.anthropic.set(Behaviour {
        require_bearer: Some(UPSTREAM_SECRET.into()),
        chunk_delay_ms: 200,
        ..Behaviour::default()
    });
    let started = Instant::now();
    let resp = p
        .w
        .client
        .post(
            "chat/completions",
            json!({"model": "claude", "stream": true, "messages": [{"role": "user", "content": "one two three"}]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    let first_at = started.elapsed();
    let mut text = String::from_utf8(first.to_vec()).unwrap();
    while let Some(chunk) = stream.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    let total = started.elapsed();
    // Ten events 200 ms apart: the first chunk comes long before the last.
    assert!(
        first_at < Duration::from_millis(180),
        "first chunk after {first_at:?}"
    );
    assert!(
        total >= Duration::from_millis(1600),
        "the stream took {total:?}"
    );
    let (events, done) = sse_events(&text);
    assert!(done, "{text}");
    assert!(
        events
            .iter()
            .all(|e| e["object"] == "chat.completion.chunk"),
        "{text}"
    );
    assert_eq!(events[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(streamed_text(&events), "mock mock mock mock");
    assert_eq!(finish_reasons(&events), ["stop"]);
    assert!(
        !text.contains("\"usage\""),
        "the client did not ask for usage: {text}"
    );
    let sent: Value = serde_json::from_str(&p.anthropic.requests().last().unwrap().body).unwrap();
    assert_eq!(sent["stream"], true);

    let rows = chat_rows(&p.w.app, 1).await;
    let row = &rows[0];
    assert_eq!(row["streamed"], true);
    assert_eq!(row["prompt_tokens"], 3);
    assert_eq!(row["completion_tokens"], 4);

    // A client that asks for usage gets it as the last chunk.
    p.anthropic.set(Behaviour {
        require_bearer: Some(UPSTREAM_SECRET.into()),
        ..Behaviour::default()
    });
    let resp =
        p.w.client
            .post(
                "chat/completions",
                json!({"model": "claude", "stream": true, "stream_options": {"include_usage": true},
                   "messages": [{"role": "user", "content": "one two"}]}),
            )
            .await;
    let (events, done) = sse_events(&resp.text().await.unwrap());
    assert!(done);
    let last = events.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], 2);
    assert_eq!(last["usage"]["completion_tokens"], 4);
    assert_eq!(last["usage"]["total_tokens"], 6);
}

/// A tool call and its result, both ways, plain and streamed, for `model`;
/// returns the final answer's text.
async fn tool_round_trip(client: &Client, model: &str) -> String {
    let tools = json!([{"type": "function", "function": {
        "name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }}]);
    let question = json!({"role": "user", "content": "weather in Paris"});
    let resp = client
        .post(
            "chat/completions",
            json!({"model": model, "messages": [question], "tools": tools, "tool_choice": "auto"}),
        )
        .await;
    assert_eq!(resp.status(), 200, "{model}");
    let body: Value = resp.json().await.unwrap();
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{model}: {body}");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments, json!({"echo": "weather in Paris"}));
    let id = call["id"].as_str().unwrap();
    assert!(!id.is_empty());

    // Streamed, the call arrives in pieces that add up to the same arguments.
    let resp = client
        .post(
            "chat/completions",
            json!({"model": model, "stream": true, "messages": [question], "tools": tools}),
        )
        .await;
    let (events, done) = sse_events(&resp.text().await.unwrap());
    assert!(done);
    let calls: Vec<&Value> = events
        .iter()
        .map(|e| &e["choices"][0]["delta"]["tool_calls"][0])
        .filter(|c| c.is_object())
        .collect();
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    assert!(calls.iter().all(|c| c["index"] == 0));
    let streamed: String = calls
        .iter()
        .filter_map(|c| c["function"]["arguments"].as_str())
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&streamed).unwrap(), arguments);
    assert_eq!(finish_reasons(&events), ["tool_calls"]);

    // The result goes back with the call it answers.
    let resp = client
        .post(
            "chat/completions",
            json!({"model": model, "tools": tools, "messages": [
                question,
                choice["message"],
                {"role": "tool", "tool_call_id": id, "content": "sunny"},
            ]}),
        )
        .await;
    assert_eq!(resp.status(), 200, "{model}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn tool_calls_round_trip_through_anthropic_and_gemini() {
    let p = providers().await;
    let answer = tool_round_trip(&p.w.client, "claude").await;
    assert_eq!(answer, "tools said: toolu_mock_1=sunny");
    let sent: Value = serde_json::from_str(&p.anthropic.requests().last().unwrap().body).unwrap();
    assert_eq!(sent["tools"][0]["name"], "get_weather");
    assert_eq!(
        sent["tools"][0]["input_schema"]["properties"]["city"]["type"],
        "string"
    );
    assert_eq!(sent["messages"][1]["content"][0]["type"], "tool_use");

    let answer = tool_round_trip(&p.w.client, "gemini").await;
    assert_eq!(
        answer,
        "functions said: get_weather={\"content\":\"sunny\"}"
    );
    let sent: Value = serde_json::from_str(&p.gemini.requests().last().unwrap().body).unwrap();
    assert_eq!(
        sent["tools"][0]["functionDeclarations"][0]["name"],
        "get_weather"
    );
    assert_eq!(sent["contents"][1]["role"], "model");
}

#[tokio::test]
async fn gemini_chat_is_translated_plain_and_streamed() {
    let p = providers().await;
    p.gemini.set(Behaviour {
        require_bearer: Some(UPSTREAM_SECRET.into()),
        cached_tokens: 2,
        ..Behaviour::default()
    });
    let resp = p
        .w
        .client
        .post(
            "chat/completions",
            json!({"model": "gemini", "max_tokens": 50, "response_format": {"type": "json_object"},
                   "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": [
                    {"type": "text", "text": "hello there"},
                    {"type": "image_url", "image_url": {"url": IMAGE}},
                ]},
            ]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ditto-backend"], "gemini-backend");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["id"], "chatcmpl-mock-response");
    assert_eq!(body["model"], "gemini-test-mock-001");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "mock mock mock mock"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["prompt_tokens"], 4);
    assert_eq!(body["usage"]["prompt_tokens_details"]["cached_tokens"], 2);

    let seen = p.gemini.requests();
    let request = seen.last().unwrap();
    assert_eq!(request.path, "/v1beta/models/gemini-test:generateContent");
    assert_credentials(request, "x-goog-api-key", &p.w.client.key);
    let sent: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(
        sent["systemInstruction"],
        json!({"parts": [{"text": "be brief"}]})
    );
    assert_eq!(
        sent["contents"][0]["parts"][1]["inlineData"],
        json!({"mimeType": "image/png", "data": "iVBORw0KGgo="})
    );
    assert_eq!(sent["generationConfig"]["maxOutputTokens"], 50);
    assert_eq!(
        sent["generationConfig"]["responseMimeType"],
        "application/json"
    );

    p.gemini.set(Behaviour {
        require_bearer: Some(UPSTREAM_SECRET.into()),
        chunks: Some(3),
        ..Behaviour::default()
    });
    let resp =
        p.w.client
            .post(
                "chat/completions",
                json!({"model": "gemini", "stream": true, "stream_options": {"include_usage": true},
                   "messages": [{"role": "user", "content": "one two three"}]}),
            )
            .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let (events, done) = sse_events(&resp.text().await.unwrap());
    assert!(done);
    assert_eq!(events[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(streamed_text(&events), "mock mock mock");
    assert_eq!(finish_reasons(&events), ["stop"]);
    assert_eq!(events.last().unwrap()["usage"]["completion_tokens"], 3);
    assert_eq!(
        p.gemini.requests().last().unwrap().path,
        "/v1beta/models/gemini-test:streamGenerateContent?alt=sse"
    );
    let rows = chat_rows(&p.w.app, 2).await;
    let streamed = rows
        .iter()
        .find(|r| r["model"] == "gemini" && r["streamed"] == true)
        .unwrap();
    assert_eq!(streamed["backend_id"], p.gemini_id.as_str());
    assert_eq!(streamed["prompt_tokens"], 3);
    assert_eq!(streamed["completion_tokens"], 3);
}

#[tokio::test]
async fn fallback_crosses_protocols_both_ways() {
    let p = providers().await;
    let failing = |status: u16| Behaviour {
        require_bearer: Some(UPSTREAM_SECRET.into()),
        fail_next: 1,
        fail_status: Some(status),
        ..Behaviour::default()
    };

    // OpenAI fails; Anthropic answers, in OpenAI's shape.
    p.w.mock.set(failing(500));
    let resp = p.w.client.chat("gpt-then-claude").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ditto-backend"], "claude-backend");
    assert_eq!(resp.headers()["x-ditto-attempts"], "2");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(
        (p.w.mock.chat_calls(), p.anthropic.messages_calls()),
        (1, 1)
    );

    // Anthropic is overloaded (529); OpenAI answers, passed through.
    p.anthropic.set(failing(529));
    let resp = p
        .w
        .client
        .post(
            "chat/completions",
            json!({"model": "claude-then-gpt", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ditto-backend"], "primary");
    assert_eq!(resp.headers()["x-ditto-attempts"], "2");
    let (events, done) = sse_events(&resp.text().await.unwrap());
    assert!(done);
    assert_eq!(streamed_text(&events), "mock mock mock mock ");
    assert_eq!(
        (p.w.mock.chat_calls(), p.anthropic.messages_calls()),
        (2, 2)
    );

    // Gemini is rate limited; Anthropic answers.
    p.gemini.set(failing(429));
    let resp = p.w.client.chat("gemini-then-claude").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ditto-backend"], "claude-backend");
    assert_eq!(
        (p.gemini.gemini_calls(), p.anthropic.messages_calls()),
        (1, 3)
    );

    let rows = chat_rows(&p.w.app, 3).await;
    let served: Vec<(&str, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["backend_id"].as_str().unwrap(),
                r["attempts"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        served,
        [
            (p.anthropic_id.as_str(), 2),
            (p.w.backend.as_str(), 2),
            (p.anthropic_id.as_str(), 2)
        ]
    );
}

#[tokio::test]
async fn provider_errors_take_openai_shape_and_drive_the_breaker() {
    let p = providers().await;
    let failing = |status: u16, n: u64| Behaviour {
        require_bearer: Some(UPSTREAM_SECRET.into()),
        fail_next: n,
        fail_status: Some(status),
        ..Behaviour::default()
    };
    // A client error is the client's: no retry, Anthropic's message in OpenAI's shape.
    p.anthropic.set(failing(400, 1));
    let resp = p.w.client.chat("claude").await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["x-ditto-attempts"], "1");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"message": "injected failure", "type": "invalid_request_error",
                         "param": null, "code": "invalid_request_error"}})
    );

    // Overloaded: a 503 for the client (529 is no standard status).
    p.anthropic.set(failing(529, 1));
    let resp = p.w.client.chat("claude").await;
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "api_error");
    assert_eq!(body["error"]["code"], "overloaded_error");

    // Gemini's errors too.
    p.gemini.set(failing(429, 1));
    let resp = p.w.client.chat("gemini").await;
    assert_eq!(resp.status(), 429);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(body["error"]["code"], "resource_exhausted");

    // Wrong upstream credentials are reported as the backend's failure to authenticate.
    p.gemini.set(Behaviour {
        require_bearer: Some("another-secret".into()),
        ..Behaviour::default()
    });
    let resp = p.w.client.chat("gemini").await;
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthenticated");

    // Repeated 5xx open the breaker (threshold 3 in tests): the upstream stops being called.
    p.anthropic.set(failing(529, 0));
    assert_eq!(p.w.client.chat("claude").await.status(), 200);
    p.anthropic.set(failing(529, 100));
    for _ in 0..3 {
        assert_eq!(p.w.client.chat("claude").await.status(), 503);
    }
    let calls = p.anthropic.messages_calls();
    let resp = p.w.client.chat("claude").await;
    assert_eq!(resp.status(), 502);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("circuit breaker"),
        "{body}"
    );
    assert_eq!(p.anthropic.messages_calls(), calls);
}

#[tokio::test]
async fn what_a_provider_cannot_serve_is_refused_clearly() {
    let p = providers().await;
    let refused = |resp: reqwest::Response| async move {
        assert_eq!(resp.status(), 400);
        let body: Value = resp.json().await.unwrap();
        (
            body["error"]["code"].as_str().unwrap().to_owned(),
            body["error"]["param"].as_str().map(str::to_owned),
            body["error"]["message"].as_str().unwrap().to_owned(),
        )
    };
    let (code, _, message) = refused(
        p.w.client
            .post("completions", json!({"model": "claude", "prompt": "hi"}))
            .await,
    )
    .await;
    assert_eq!(code, "unsupported_endpoint");
    assert!(message.contains("Anthropic"), "{message}");
    let (code, _, _) = refused(
        p.w.client
            .post("embeddings", json!({"model": "gemini", "input": "hi"}))
            .await,
    )
    .await;
    assert_eq!(code, "unsupported_endpoint");
    let (code, _, _) = refused(
        p.w.client
            .post(
                "audio/speech",
                json!({"model": "claude", "input": "hi", "voice": "x"}),
            )
            .await,
    )
    .await;
    assert_eq!(code, "unsupported_endpoint");
    let (code, param, _) = refused(
        p.w.client
            .post(
                "chat/completions",
                json!({"model": "claude", "n": 2, "messages": [{"role": "user", "content": "hi"}]}),
            )
            .await,
    )
    .await;
    assert_eq!(
        (code.as_str(), param.as_deref()),
        ("unsupported_parameter", Some("n"))
    );
    let (_, param, _) = refused(
        p.w.client
            .post(
                "chat/completions",
                json!({"model": "claude", "response_format": {"type": "json_object"},
                       "messages": [{"role": "user", "content": "hi"}]}),
            )
            .await,
    )
    .await;
    assert_eq!(param.as_deref(), Some("response_format"));
    let (_, param, _) = refused(
        p.w.client
            .post(
                "chat/completions",
                json!({"model": "gemini", "messages": [{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}),
            )
            .await,
    )
    .await;
    assert_eq!(param.as_deref(), Some("messages"));
    assert_eq!(
        (p.anthropic.calls(), p.gemini.calls()),
        (0, 0),
        "nothing was sent in the wrong protocol"
    );

    // A backend that can serve it takes over.
    let resp = p
        .w
        .client
        .post(
            "chat/completions",
            json!({"model": "claude-then-gpt", "n": 2, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ditto-backend"], "primary");
    assert_eq!(resp.headers()["x-ditto-attempts"], "1");
}

#[tokio::test]
async fn a_provider_error_mid_stream_reaches_the_client_and_the_usage_row() {
    let p = providers().await;
    let failing = Behaviour {
        require_bearer: Some(UPSTREAM_SECRET.into()),
        fail_mid_stream: true,
        ..Behaviour::default()
    };
    p.anthropic.set(failing.clone());
    p.gemini.set(failing);
    for (model, code) in [("claude", "overloaded_error"), ("gemini", "unavailable")] {
        let resp = p
            .w
            .client
            .post(
                "chat/completions",
                json!({"model": model, "stream": true, "messages": [{"role": "user", "content": "one two"}]}),
            )
            .await;
        assert_eq!(resp.status(), 200, "{model}");
        let text = resp.text().await.unwrap();
        let (events, done) = sse_events(&text);
        assert!(
            !done,
            "{model}: a failed stream does not claim to be done: {text}"
        );
        assert_eq!(streamed_text(&events), "mock ", "{model}");
        let error = &events.last().unwrap()["error"];
        assert_eq!(error["type"], "api_error", "{model}: {text}");
        assert_eq!(error["code"], code, "{model}");
        assert!(!text.contains("\"usage\""), "{model}: {text}");
    }
    let rows = chat_rows(&p.w.app, 2).await;
    for row in &rows {
        assert_eq!(row["status"], 200);
        assert_eq!(row["error_kind"], "upstream_stream_error", "{row}");
        assert_eq!(
            row["prompt_tokens"], 2,
            "what was used is still metered: {row}"
        );
    }
}
