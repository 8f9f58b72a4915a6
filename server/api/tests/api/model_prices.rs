use ditto_testkit::{Api, Resp, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

const PLATFORM: &str = "/api/v1/model-prices";
const TENANT: &str = "/api/v1/tenants/acme/model-prices";

async fn put(api: &Api, path: &str, body: Value) -> Resp {
    api.raw(Method::PUT, path, |r| r.json(&body)).await
}

fn price(input: &str, output: &str) -> Value {
    json!({"input_usd_per_million_tokens": input, "output_usd_per_million_tokens": output})
}

fn models(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["model"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn platform_prices_lifecycle_with_slashes_in_names() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    // `openai/gpt-4o` is one path segment: its `/` is percent-encoded.
    let path = format!("{PLATFORM}/openai%2Fgpt-4o");
    let created = put(
        &admin,
        &path,
        json!({"input_usd_per_million_tokens": "2.5", "output_usd_per_million_tokens": "10",
               "cached_input_usd_per_million_tokens": "1.25", "max_output_tokens": 16384}),
    )
    .await
    .expect_status(201);
    assert_eq!(created["model"], "openai/gpt-4o");
    assert_eq!(created["input_usd_per_million_tokens"], "2.50");
    assert_eq!(created["output_usd_per_million_tokens"], "10.00");
    assert_eq!(created["cached_input_usd_per_million_tokens"], "1.25");
    assert_eq!(created["max_output_tokens"], 16384);
    assert_eq!(created["source"], "platform");
    let stored: (i64, i64, Option<i64>) = sqlx::query_as(
        "SELECT input_pico, output_pico, cached_input_pico FROM model_prices WHERE model = 'openai/gpt-4o'",
    )
    .fetch_one(app.store.pool())
    .await
    .unwrap();
    assert_eq!(stored, (2_500_000, 10_000_000, Some(1_250_000)));

    assert_eq!(admin.get(&path).await.expect_status(200), created);
    let replaced = put(&admin, &path, price("0.000001", "0.15"))
        .await
        .expect_status(200);
    assert_eq!(replaced["input_usd_per_million_tokens"], "0.000001");
    assert_eq!(replaced["output_usd_per_million_tokens"], "0.15");
    assert_eq!(
        replaced["cached_input_usd_per_million_tokens"],
        Value::Null,
        "PUT replaces the whole price"
    );
    assert_eq!(replaced["created_at"], created["created_at"]);

    // Unencoded, the slash splits the path: no such endpoint.
    admin
        .get(&format!("{PLATFORM}/openai/gpt-4o"))
        .await
        .expect_problem(404);

    for name in [
        "anthropic%2Fclaude-3-5-sonnet",
        "gpt-4o-mini",
        "mistral%2Fsmall",
    ] {
        put(&admin, &format!("{PLATFORM}/{name}"), price("1", "2"))
            .await
            .expect_status(201);
    }
    let all: Vec<String> = admin
        .collect(PLATFORM, 2)
        .await
        .iter()
        .map(|p| p["model"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        all,
        [
            "anthropic/claude-3-5-sonnet",
            "gpt-4o-mini",
            "mistral/small",
            "openai/gpt-4o"
        ]
    );
    let backwards: Vec<Value> = admin.collect(&format!("{PLATFORM}?sort=-model"), 3).await;
    assert_eq!(backwards[0]["model"], "openai/gpt-4o");
    let found = admin
        .get(&format!("{PLATFORM}?q=GPT-4O"))
        .await
        .expect_status(200);
    assert_eq!(models(&found), ["gpt-4o-mini", "openai/gpt-4o"]);
    admin
        .get(&format!("{PLATFORM}?sort=created_at"))
        .await
        .expect_problem(422);

    admin.delete(&path).await.expect_status(204);
    admin.get(&path).await.expect_problem(404);
    admin.delete(&path).await.expect_problem(404);
}

#[tokio::test]
async fn invalid_prices_are_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let fields = put(
        &admin,
        &format!("{PLATFORM}/gpt-4o"),
        json!({"input_usd_per_million_tokens": "abc", "output_usd_per_million_tokens": "0.0000001",
               "cached_input_usd_per_million_tokens": "-1", "max_output_tokens": 0}),
    )
    .await
    .invalid_fields();
    assert_eq!(
        fields,
        [
            "/input_usd_per_million_tokens",
            "/output_usd_per_million_tokens",
            "/cached_input_usd_per_million_tokens",
            "/max_output_tokens"
        ]
    );
    let problem = put(
        &admin,
        &format!("{PLATFORM}/gpt-4o"),
        price("1", "0.0000001"),
    )
    .await
    .expect_problem(422);
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("0.000001 USD per million tokens"),
        "{problem}"
    );
    for (body, field) in [
        (
            json!({"input_usd_per_million_tokens": "1"}),
            "/output_usd_per_million_tokens",
        ),
        (
            json!({"input_usd_per_million_tokens": 1, "output_usd_per_million_tokens": "1"}),
            "/input_usd_per_million_tokens",
        ),
        (
            json!({"input_usd_per_million_tokens": "1", "output_usd_per_million_tokens": "1", "currency": "EUR"}),
            "/currency",
        ),
    ] {
        let fields = put(&admin, &format!("{PLATFORM}/gpt-4o"), body.clone())
            .await
            .invalid_fields();
        assert_eq!(fields, [field], "{body}");
    }
    for bad_name in ["has%20space", "gpt-*"] {
        let fields = put(&admin, &format!("{PLATFORM}/{bad_name}"), price("1", "1"))
            .await
            .invalid_fields();
        assert_eq!(fields, ["model"], "{bad_name}");
    }
    let long = "m".repeat(201);
    let fields = put(&admin, &format!("{TENANT}/{long}"), price("1", "1")).await;
    assert_eq!(fields.status, 404, "no tenant yet");
    app.tenant("acme").await;
    let fields = put(&admin, &format!("{TENANT}/{long}"), price("1", "1"))
        .await
        .invalid_fields();
    assert_eq!(fields, ["model"]);
}

#[tokio::test]
async fn every_member_reads_platform_prices_and_only_the_platform_writes_them() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    put(&admin, &format!("{PLATFORM}/gpt-4o"), price("2.5", "10"))
        .await
        .expect_status(201);
    let member = app.tenant_member("acme").await;
    assert_eq!(
        models(&member.get(PLATFORM).await.expect_status(200)),
        ["gpt-4o"]
    );
    member
        .get(&format!("{PLATFORM}/gpt-4o"))
        .await
        .expect_status(200);
    put(&member, &format!("{PLATFORM}/gpt-4o"), price("0", "0"))
        .await
        .expect_problem(403);
    member
        .delete(&format!("{PLATFORM}/gpt-4o"))
        .await
        .expect_problem(403);
    member
        .post(
            &format!("{PLATFORM}/import"),
            json!({"gpt-4o": {"input_cost_per_token": 0, "output_cost_per_token": 0}}),
        )
        .await
        .expect_problem(403);
    assert_eq!(
        admin
            .get(&format!("{PLATFORM}/gpt-4o"))
            .await
            .expect_status(200)["input_usd_per_million_tokens"],
        "2.50"
    );

    // A suspended tenant's members read nothing, shared prices included.
    admin
        .post_empty("/api/v1/tenants/acme/suspend")
        .await
        .expect_status(200);
    member.get(PLATFORM).await.expect_problem(403);
}

#[tokio::test]
async fn tenant_prices_override_the_platform_in_the_effective_list() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    for (model, input) in [("gpt-4o", "2.5"), ("openai%2Fo1", "15"), ("claude", "3")] {
        put(&admin, &format!("{PLATFORM}/{model}"), price(input, "1"))
            .await
            .expect_status(201);
    }
    let member = app.tenant_member("acme").await;
    let own = put(&member, &format!("{TENANT}/openai%2Fo1"), price("12", "48"))
        .await
        .expect_status(201);
    assert_eq!(own["source"], "tenant");
    assert_eq!(own["model"], "openai/o1");
    put(&member, &format!("{TENANT}/in-house"), price("0", "0"))
        .await
        .expect_status(201);
    assert_eq!(
        member
            .get(&format!("{TENANT}/openai%2Fo1"))
            .await
            .expect_status(200),
        own
    );
    member
        .get(&format!("{TENANT}/gpt-4o"))
        .await
        .expect_problem(404);

    let overrides = member.get(TENANT).await.expect_status(200);
    assert_eq!(models(&overrides), ["in-house", "openai/o1"]);
    let effective = member
        .get(&format!("{TENANT}?effective=true"))
        .await
        .expect_status(200);
    let seen: Vec<(String, String, String)> = effective["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["model"].as_str().unwrap().to_owned(),
                p["source"].as_str().unwrap().to_owned(),
                p["input_usd_per_million_tokens"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    let row = |m: &str, s: &str, i: &str| (m.to_owned(), s.to_owned(), i.to_owned());
    assert_eq!(
        seen,
        [
            row("claude", "platform", "3.00"),
            row("gpt-4o", "platform", "2.50"),
            row("in-house", "tenant", "0.00"),
            row("openai/o1", "tenant", "12.00"),
        ]
    );
    let paged = member.collect(&format!("{TENANT}?effective=true"), 1).await;
    assert_eq!(paged.len(), 4);
    let searched = member
        .get(&format!("{TENANT}?effective=true&q=o1"))
        .await
        .expect_status(200);
    assert_eq!(models(&searched), ["openai/o1"]);

    // Dropping the override brings the platform's price back.
    member
        .delete(&format!("{TENANT}/openai%2Fo1"))
        .await
        .expect_status(204);
    let effective = member
        .get(&format!("{TENANT}?effective=true&q=o1"))
        .await
        .expect_status(200);
    assert_eq!(effective["items"][0]["source"], "platform");
    assert_eq!(
        effective["items"][0]["input_usd_per_million_tokens"],
        "15.00"
    );
}

/// An excerpt of LiteLLM's `model_prices_and_context_window.json`.
const LITELLM: &str = r#"{
    "sample_spec": {
        "max_tokens": "LEGACY parameter. set to max_output_tokens if provider specifies it. IF not set to max_input_tokens, if provider specifies it.",
        "max_input_tokens": "max input tokens, if the provider specifies it. if not default to max_tokens",
        "max_output_tokens": "max output tokens, if the provider specifies it. if not default to max_tokens",
        "input_cost_per_token": 0.0000,
        "output_cost_per_token": 0.000,
        "litellm_provider": "one of https://docs.litellm.ai/docs/providers",
        "mode": "one of: chat, embedding, completion, image_generation, audio_transcription, audio_speech, image_generation, moderation, rerank",
        "supports_function_calling": true
    },
    "gpt-4o": {
        "max_tokens": 16384,
        "max_input_tokens": 128000,
        "max_output_tokens": 16384,
        "input_cost_per_token": 2.5e-06,
        "output_cost_per_token": 1e-05,
        "input_cost_per_token_batches": 1.25e-06,
        "output_cost_per_token_batches": 5e-06,
        "cache_read_input_token_cost": 1.25e-06,
        "litellm_provider": "openai",
        "mode": "chat",
        "supports_function_calling": true,
        "supports_vision": true
    },
    "gpt-4o-mini": {
        "max_tokens": 16384,
        "max_input_tokens": 128000,
        "max_output_tokens": 16384,
        "input_cost_per_token": 1.5e-07,
        "output_cost_per_token": 6e-07,
        "cache_read_input_token_cost": 7.5e-08,
        "litellm_provider": "openai",
        "mode": "chat"
    },
    "text-embedding-3-small": {
        "max_tokens": 8191,
        "max_input_tokens": 8191,
        "output_vector_size": 1536,
        "input_cost_per_token": 2e-08,
        "output_cost_per_token": 0.0,
        "litellm_provider": "openai",
        "mode": "embedding"
    },
    "anthropic/claude-3-5-sonnet-20241022": {
        "max_tokens": 8192,
        "max_input_tokens": 200000,
        "max_output_tokens": 8192,
        "input_cost_per_token": 0.000003,
        "output_cost_per_token": 0.000015,
        "cache_creation_input_token_cost": 0.00000375,
        "cache_read_input_token_cost": 3e-07,
        "litellm_provider": "anthropic",
        "mode": "chat"
    },
    "dall-e-3": {
        "mode": "image_generation",
        "input_cost_per_pixel": 0.0,
        "output_cost_per_pixel": 0.0,
        "litellm_provider": "openai"
    },
    "whisper-1": {
        "mode": "audio_transcription",
        "input_cost_per_second": 0.0001,
        "output_cost_per_second": 0.0001,
        "litellm_provider": "openai"
    },
    "tiny/too-fine": {
        "input_cost_per_token": 1.234567e-13,
        "output_cost_per_token": 1e-06,
        "litellm_provider": "custom",
        "mode": "chat"
    }
}"#;

fn litellm() -> Value {
    serde_json::from_str(LITELLM).unwrap()
}

#[tokio::test]
async fn litellm_price_lists_import_exactly() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let report = admin
        .post(&format!("{PLATFORM}/import"), litellm())
        .await
        .expect_status(200);
    assert_eq!(report["imported"], 4);
    let skipped: Vec<(&str, &str)> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["model"].as_str().unwrap(), s["reason"].as_str().unwrap()))
        .collect();
    let mut names: Vec<&str> = skipped.iter().map(|(m, _)| *m).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["dall-e-3", "sample_spec", "tiny/too-fine", "whisper-1"]
    );
    let reason = |model: &str| skipped.iter().find(|(m, _)| *m == model).unwrap().1;
    assert!(reason("tiny/too-fine").contains("finer than a pico-dollar"));
    assert!(reason("tiny/too-fine").contains("input_cost_per_token"));
    assert!(reason("whisper-1").contains("input_cost_per_token"));

    let get = |model: &'static str| {
        let admin = admin.clone();
        async move {
            admin
                .get(&format!("{PLATFORM}/{model}"))
                .await
                .expect_status(200)
        }
    };
    let mini = get("gpt-4o-mini").await;
    assert_eq!(mini["input_usd_per_million_tokens"], "0.15");
    assert_eq!(mini["output_usd_per_million_tokens"], "0.60");
    assert_eq!(mini["cached_input_usd_per_million_tokens"], "0.075");
    assert_eq!(mini["max_output_tokens"], 16384);
    let claude = get("anthropic%2Fclaude-3-5-sonnet-20241022").await;
    assert_eq!(claude["input_usd_per_million_tokens"], "3.00");
    assert_eq!(claude["output_usd_per_million_tokens"], "15.00");
    assert_eq!(claude["cached_input_usd_per_million_tokens"], "0.30");
    let embedding = get("text-embedding-3-small").await;
    assert_eq!(embedding["input_usd_per_million_tokens"], "0.02");
    assert_eq!(embedding["output_usd_per_million_tokens"], "0.00");
    assert_eq!(embedding["max_output_tokens"], Value::Null);
    let stored: i64 =
        sqlx::query_scalar("SELECT input_pico FROM model_prices WHERE model = 'gpt-4o-mini'")
            .fetch_one(app.store.pool())
            .await
            .unwrap();
    assert_eq!(stored, 150_000, "0.00000015 USD per token, exactly");

    // Importing again replaces, and leaves prices the list does not name alone.
    put(&admin, &format!("{PLATFORM}/in-house"), price("1", "1"))
        .await
        .expect_status(201);
    let again = admin
        .post(&format!("{PLATFORM}/import"), litellm())
        .await
        .expect_status(200);
    assert_eq!(again["imported"], 4);
    assert_eq!(admin.collect(PLATFORM, 50).await.len(), 5);

    // Not an object of entries.
    admin
        .post(&format!("{PLATFORM}/import"), json!([1, 2]))
        .await
        .expect_problem(422);
}

#[tokio::test]
async fn the_import_takes_bodies_larger_than_other_endpoints() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let member = app.tenant_member("acme").await;
    let mut list = serde_json::Map::new();
    for i in 0..3000 {
        list.insert(
            format!("provider/model-{i:05}"),
            json!({"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
                   "litellm_provider": "provider", "mode": "chat", "max_tokens": 8192}),
        );
    }
    let body = Value::Object(list);
    let size = body.to_string().len();
    assert!(size > 200 * 1024, "{size} bytes");
    let report = member
        .post(&format!("{TENANT}/import"), body.clone())
        .await
        .expect_status(200);
    assert_eq!(report["imported"], 3000);
    assert_eq!(
        member
            .get(&format!("{TENANT}?limit=1"))
            .await
            .expect_status(200)["items"][0]["source"],
        "tenant"
    );
    // Elsewhere, the usual limit holds.
    let huge_name = "x".repeat(100 * 1024);
    let resp = put(
        &member,
        &format!("{TENANT}/m"),
        json!({"input_usd_per_million_tokens": huge_name, "output_usd_per_million_tokens": "1"}),
    )
    .await;
    resp.expect_problem(413);
}

#[tokio::test]
async fn tenant_prices_are_invisible_to_other_tenants() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let member_a = app.tenant_member("acme").await;
    let member_b = app.tenant_member("globex").await;
    let mine = put(
        &member_a,
        &format!("{TENANT}/openai%2Fgpt-4o"),
        price("1", "2"),
    )
    .await
    .expect_status(201);
    let path = format!("{TENANT}/openai%2Fgpt-4o");
    for resp in [
        member_b.get(TENANT).await,
        member_b.get(&format!("{TENANT}?effective=true")).await,
        member_b.get(&path).await,
        put(&member_b, &path, price("9", "9")).await,
        member_b.delete(&path).await,
        member_b.post(&format!("{TENANT}/import"), litellm()).await,
    ] {
        assert_eq!(resp.expect_problem(404)["detail"], "tenant not found");
    }
    let own = "/api/v1/tenants/globex/model-prices";
    member_b
        .get(&format!("{own}/openai%2Fgpt-4o"))
        .await
        .expect_problem(404);
    member_b
        .delete(&format!("{own}/openai%2Fgpt-4o"))
        .await
        .expect_problem(404);
    let effective = member_b
        .get(&format!("{own}?effective=true"))
        .await
        .expect_status(200);
    assert_eq!(effective["items"], json!([]), "A's prices are not B's");
    // B's own price under the same name is B's alone.
    put(
        &member_b,
        &format!("{own}/openai%2Fgpt-4o"),
        price("5", "5"),
    )
    .await
    .expect_status(201);
    assert_eq!(member_a.get(&path).await.expect_status(200), mine);
    // Platform prices are not a way into a tenant's.
    assert_eq!(
        member_b.get(PLATFORM).await.expect_status(200)["items"],
        json!([])
    );
}
