//! What a governed request is told: OpenAI's `x-ratelimit-*` headers when
//! admitted, and a refusal that names the limit, what was used and when to
//! retry.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use chrono::{DateTime, Utc};
use ditto_core::money;

use super::Subject;
use super::counters::Op;
use crate::error::GatewayError;
use crate::rules::Limit;

static LIMIT_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-limit-requests");
static REMAINING_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-requests");
static LIMIT_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-limit-tokens");
static REMAINING_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-tokens");
static RESET_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-reset-requests");
static RESET_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-reset-tokens");
static LIMIT_NAME: HeaderName = HeaderName::from_static("x-ditto-limit");

/// OpenAI's `x-ratelimit-*` headers for the tightest request and token
/// windows after this request.
pub(super) fn success_headers(ops: &[Op], subjects: &[Subject], used: &[i64]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut tightest = |name: &HeaderName, remaining_name: &HeaderName, tokens: bool| {
        let best = ops
            .iter()
            .zip(used)
            .zip(subjects)
            .filter_map(|((op, used), subject)| match (op, subject) {
                (Op::Window { limit, amount, .. }, Subject::Requests(_)) if !tokens => {
                    Some((*limit, limit - used - amount))
                }
                (Op::Window { limit, amount, .. }, Subject::Tokens(_)) if tokens => {
                    Some((*limit, limit - used - amount))
                }
                _ => None,
            })
            .min_by_key(|(_, remaining)| *remaining);
        if let Some((limit, remaining)) = best {
            headers.insert(name.clone(), HeaderValue::from(limit));
            headers.insert(remaining_name.clone(), HeaderValue::from(remaining.max(0)));
        }
    };
    tightest(&LIMIT_REQUESTS, &REMAINING_REQUESTS, false);
    tightest(&LIMIT_TOKENS, &REMAINING_TOKENS, true);
    headers
}

pub(super) fn refusal(
    (op, subject): (&Op, &Subject),
    retry_after_ms: i64,
    used: i64,
    period_end: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> GatewayError {
    let retry_secs = (retry_after_ms.max(1) + 999) / 1000;
    let label = |limit: &Limit, what: &str| {
        let model = limit
            .model
            .as_deref()
            .map(|m| format!(" for `{m}`"))
            .unwrap_or_default();
        format!("{} {what}{model}", limit.scope.kind())
    };
    let mut error = match (op, subject) {
        (Op::Window { limit, .. }, Subject::Requests(l)) => {
            let mut e = GatewayError::rate_limited(format!(
                "Rate limit reached: the {} limit is {limit} requests per minute ({used} used). Retry in {retry_secs} s.",
                label(l, "requests-per-minute")
            ));
            e.headers
                .push((LIMIT_REQUESTS.clone(), HeaderValue::from(*limit)));
            e.headers.push((
                REMAINING_REQUESTS.clone(),
                HeaderValue::from((limit - used).max(0)),
            ));
            e.headers
                .push((RESET_REQUESTS.clone(), seconds(retry_secs)));
            e.headers.push((
                LIMIT_NAME.clone(),
                header_text(&format!("{}:{}:rpm", l.scope.kind(), l.id)),
            ));
            e
        }
        (Op::Window { limit, amount, .. }, Subject::Tokens(l)) => {
            let message = if amount > limit {
                format!(
                    "This request alone (about {amount} tokens) exceeds the {} limit of {limit} tokens per minute.",
                    label(l, "tokens-per-minute")
                )
            } else {
                format!(
                    "Rate limit reached: the {} limit is {limit} tokens per minute ({used} used, this request needs about {amount}). Retry in {retry_secs} s.",
                    label(l, "tokens-per-minute")
                )
            };
            let mut e = GatewayError::rate_limited(message);
            e.headers
                .push((LIMIT_TOKENS.clone(), HeaderValue::from(*limit)));
            e.headers.push((
                REMAINING_TOKENS.clone(),
                HeaderValue::from((limit - used).max(0)),
            ));
            e.headers.push((RESET_TOKENS.clone(), seconds(retry_secs)));
            e.headers.push((
                LIMIT_NAME.clone(),
                header_text(&format!("{}:{}:tpm", l.scope.kind(), l.id)),
            ));
            e
        }
        (Op::Concurrency { limit, .. }, Subject::Concurrent(l)) => {
            let mut e = GatewayError::rate_limited(format!(
                "Too many requests in flight: the {} limit is {limit} concurrent requests. Retry when one finishes.",
                label(l, "concurrency")
            ));
            e.headers.push((
                LIMIT_NAME.clone(),
                header_text(&format!("{}:{}:concurrent", l.scope.kind(), l.id)),
            ));
            e
        }
        (Op::Budget { limit, amount, .. }, Subject::Budget(b, what)) => {
            let (max, spent, need) = if *what == "cost" {
                (
                    format!("${}", money::format_usd(*limit)),
                    format!("${}", money::format_usd(used)),
                    format!("${}", money::format_usd(*amount)),
                )
            } else {
                (
                    format!("{limit} tokens"),
                    format!("{used} tokens"),
                    format!("{amount} tokens"),
                )
            };
            let resets = period_end
                .map(|end| format!(" It resets at {}.", end.to_rfc3339()))
                .unwrap_or_default();
            let mut e = GatewayError::insufficient_quota(format!(
                "You exceeded your current quota: the {} {} {what} budget of {max} has {spent} used and this request may need up to {need}.{resets}",
                b.scope.kind(),
                b.period
            ));
            e.headers.push((
                LIMIT_NAME.clone(),
                header_text(&format!("{}:{}:budget-{what}", b.scope.kind(), b.id)),
            ));
            if let Some(end) = period_end {
                let wait = (end - now).num_seconds().max(1);
                e.headers
                    .push((axum::http::header::RETRY_AFTER, HeaderValue::from(wait)));
            }
            return e;
        }
        _ => GatewayError::rate_limited("Rate limit reached."),
    };
    error.headers.push((
        axum::http::header::RETRY_AFTER,
        HeaderValue::from(retry_secs),
    ));
    error
}

fn seconds(secs: i64) -> HeaderValue {
    header_text(&format!("{secs}s"))
}

fn header_text(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("-"))
}
