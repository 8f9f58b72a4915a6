//! Model prices as exact integers (pico-USD per token), from the API's
//! decimal strings or from LiteLLM's price list.

use ditto_types::api::{LiteLlmPrices, PutModelPrice, SkippedPrice};
use serde_json::Value;

use crate::money::{parse_usd, parse_usd_per_million_tokens};
use crate::validate::Checker;
use crate::{Error, Result};

/// What a model costs, in pico-USD per token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Price {
    pub input: i64,
    pub output: i64,
    /// Prompt tokens served from the provider's cache; `None`: the input price.
    pub cached_input: Option<i64>,
    pub max_output_tokens: Option<i32>,
}

/// The usable entries of an imported list, and the others with the reason.
#[derive(Debug, Default)]
pub struct Imported {
    pub prices: Vec<(String, Price)>,
    pub skipped: Vec<SkippedPrice>,
}

/// Most entries an import may carry (LiteLLM's list has a few thousand).
pub const IMPORT_MAX_ENTRIES: usize = 50_000;

/// Checks a price set through the API and converts it; every bad field is reported.
pub fn from_request(model: &str, body: &PutModelPrice) -> Result<Price> {
    let mut c = Checker::default();
    c.model("model", model, false);
    let mut amount = |field: &str, text: &str| match parse_usd_per_million_tokens(text) {
        Ok(pico) => Some(pico),
        Err(message) => {
            c.fail(field, "invalid_amount", message);
            None
        }
    };
    let input = amount(
        "/input_usd_per_million_tokens",
        &body.input_usd_per_million_tokens,
    );
    let output = amount(
        "/output_usd_per_million_tokens",
        &body.output_usd_per_million_tokens,
    );
    let cached_input = body
        .cached_input_usd_per_million_tokens
        .as_deref()
        .map(|text| amount("/cached_input_usd_per_million_tokens", text));
    let max_output_tokens = body
        .max_output_tokens
        .map(|n| i32::try_from(n).unwrap_or(0));
    if max_output_tokens == Some(0) {
        c.fail(
            "/max_output_tokens",
            "out_of_range",
            format!("must be between 1 and {}", i32::MAX),
        );
    }
    c.finish()?;
    match (input, output, cached_input) {
        (Some(input), Some(output), None | Some(Some(_))) => Ok(Price {
            input,
            output,
            cached_input: cached_input.flatten(),
            max_output_tokens,
        }),
        _ => Err(Error::Internal("a checked price did not parse".into())),
    }
}

/// Converts LiteLLM's `model_prices_and_context_window.json`. Entries without
/// both an input and an output price per token (image or audio models, the
/// `sample_spec` template), with a price finer than a pico-dollar, or with an
/// unusable name are skipped, each with the reason.
pub fn from_litellm(list: &LiteLlmPrices) -> Result<Imported> {
    if list.0.len() > IMPORT_MAX_ENTRIES {
        return Err(Error::invalid(
            "/",
            "too_many",
            format!("must have at most {IMPORT_MAX_ENTRIES} entries"),
        ));
    }
    let mut imported = Imported::default();
    for (model, entry) in &list.0 {
        match litellm_entry(model, entry) {
            Ok(price) => imported.prices.push((model.clone(), price)),
            Err(reason) => imported.skipped.push(SkippedPrice {
                model: model.chars().take(200).collect(),
                reason,
            }),
        }
    }
    Ok(imported)
}

fn litellm_entry(model: &str, entry: &Value) -> Result<Price, String> {
    if model == "sample_spec" {
        return Err("the format's template, not a model".into());
    }
    let mut c = Checker::default();
    c.model("model", model, false);
    if c.finish().is_err() {
        return Err("the name must have 1–200 characters without spaces or `*`".into());
    }
    let Value::Object(fields) = entry else {
        return Err("not an object".into());
    };
    let cost = |field: &str| -> Result<Option<i64>, String> {
        match fields.get(field) {
            None | Some(Value::Null) => Ok(None),
            // The number's shortest decimal text reads back as the same
            // number, so a price written with up to 15 significant digits
            // keeps every one of them.
            Some(Value::Number(n)) => parse_usd(&n.to_string())
                .map(Some)
                .map_err(|e| format!("{field}: {e}")),
            Some(Value::String(text)) => parse_usd(text)
                .map(Some)
                .map_err(|e| format!("{field}: {e}")),
            Some(_) => Err(format!("{field} is not a number")),
        }
    };
    let (Some(input), Some(output)) = (
        cost("input_cost_per_token")?,
        cost("output_cost_per_token")?,
    ) else {
        return Err("needs both input_cost_per_token and output_cost_per_token".into());
    };
    let cached_input = cost("cache_read_input_token_cost")?;
    let max_output_tokens = fields
        .get("max_output_tokens")
        .and_then(Value::as_u64)
        .and_then(|n| i32::try_from(n).ok())
        .filter(|n| *n > 0);
    Ok(Price {
        input,
        output,
        cached_input,
        max_output_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list(value: Value) -> LiteLlmPrices {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn converts_litellm_prices_exactly() {
        let Imported { prices, skipped } = from_litellm(&list(json!({
            "sample_spec": {"input_cost_per_token": 0, "output_cost_per_token": 0},
            "gpt-4o": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 0.00001,
                       "cache_read_input_token_cost": 1.25e-06, "max_output_tokens": 16384,
                       "litellm_provider": "openai", "mode": "chat"},
            "gpt-4o-mini": {"input_cost_per_token": 1.5e-07, "output_cost_per_token": 6e-07},
            "too-fine": {"input_cost_per_token": 1.234e-13, "output_cost_per_token": 1e-06},
            "dall-e-3": {"output_cost_per_pixel": 0.0, "mode": "image_generation"},
            "has space": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06},
        })))
        .unwrap();
        let by_name: std::collections::HashMap<_, _> = prices.into_iter().collect();
        assert_eq!(
            by_name["gpt-4o"],
            Price {
                input: 2_500_000,
                output: 10_000_000,
                cached_input: Some(1_250_000),
                max_output_tokens: Some(16384),
            }
        );
        assert_eq!(by_name["gpt-4o-mini"].input, 150_000);
        assert_eq!(by_name["gpt-4o-mini"].output, 600_000);
        let reasons: std::collections::HashMap<_, _> = skipped
            .iter()
            .map(|s| (s.model.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 4);
        assert!(reasons["too-fine"].contains("pico"), "{reasons:?}");
        assert!(reasons["dall-e-3"].contains("input_cost_per_token"));
        assert!(reasons.contains_key("sample_spec"));
        assert!(reasons.contains_key("has space"));
    }

    #[test]
    fn request_prices_report_every_bad_field() {
        let body = PutModelPrice {
            input_usd_per_million_tokens: "abc".into(),
            output_usd_per_million_tokens: "0.0000001".into(),
            cached_input_usd_per_million_tokens: Some("-1".into()),
            max_output_tokens: Some(0),
        };
        let Err(Error::Validation(errors)) = from_request("gpt-4o", &body) else {
            panic!("expected a validation error");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "/input_usd_per_million_tokens",
                "/output_usd_per_million_tokens",
                "/cached_input_usd_per_million_tokens",
                "/max_output_tokens"
            ]
        );
        let ok = PutModelPrice {
            input_usd_per_million_tokens: "2.50".into(),
            output_usd_per_million_tokens: "10".into(),
            cached_input_usd_per_million_tokens: None,
            max_output_tokens: None,
        };
        assert_eq!(from_request("openai/gpt-4o", &ok).unwrap().input, 2_500_000);
    }
}
