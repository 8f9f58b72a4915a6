//! Settles budget reservations left behind by a replica that stopped before
//! its requests finished. A reservation whose request left a usage event is
//! settled to that event; one without is charged its full reservation (money
//! fails closed) and recorded as a usage event of that amount, so the budget
//! counters keep matching the ledger.

use serde::Deserialize;
use uuid::Uuid;

use ditto_store::gateway::UsageEvent;

use super::Governor;
use super::counters::{Finish, RedisCounters, Settle};
use crate::usage::UsageSink;

/// What `admit` keeps with a reservation (see its `details`).
#[derive(Deserialize)]
struct Details {
    tenant: Uuid,
    project: Uuid,
    key: Uuid,
    user: Option<Uuid>,
    service_account: Option<Uuid>,
    #[serde(default)]
    endpoint: String,
    model: Option<String>,
    tokens: i64,
    cost: i64,
    /// Admission time (ms): the orphan's usage event belongs to that period.
    at: i64,
    budgets: Vec<(String, String)>,
}

const BATCH: usize = 200;

/// Settles `tenant`'s expired reservations; returns how many it settled.
pub(super) async fn reap_tenant(
    governor: &Governor,
    redis: &RedisCounters,
    tenant: Uuid,
    usage: &UsageSink,
) -> Result<usize, String> {
    let tag = format!("{{t:{tenant}}}");
    let now = governor.config.clock.now();
    let expired = redis
        .expired_reservations(&tag, now.timestamp_millis(), BATCH)
        .await?;
    if expired.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = expired
        .iter()
        .filter_map(|(id, _)| Uuid::parse_str(id).ok())
        .collect();
    let recorded: std::collections::HashMap<Uuid, (i64, i64)> = governor
        .store
        .usage_of_requests(&ids)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(id, tokens, cost)| (id, (tokens, cost)))
        .collect();
    let mut settled = 0;
    for (id, details) in expired {
        let details: Option<Details> = details.and_then(|d| serde_json::from_str(&d).ok());
        let request = Uuid::parse_str(&id).ok();
        let actual = request.and_then(|r| recorded.get(&r).copied());
        let ops: Vec<Settle> = details
            .as_ref()
            .map(|d| {
                d.budgets
                    .iter()
                    .map(|(key, field)| {
                        let tokens_field = field == "t";
                        let (reserved, actual) = match actual {
                            Some((t, _)) if tokens_field => (d.tokens, t),
                            Some((_, c)) => (d.cost, c),
                            None if tokens_field => (d.tokens, d.tokens),
                            None => (d.cost, d.cost),
                        };
                        Settle::Budget {
                            key: key.clone(),
                            field: if tokens_field { "t" } else { "c" },
                            delta: actual - reserved,
                            actual,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let finish = Finish {
            tag: &tag,
            request_id: &id,
            second: 0,
            admitted_ms: i64::MAX,
            ops: &ops,
        };
        // Only the caller that removes the reservation settles it, so a
        // request finishing right now is not settled twice.
        if !redis.finish(std::slice::from_ref(&finish)).await?[0] {
            continue;
        }
        settled += 1;
        if let (None, Some(d), Some(request)) = (actual, details, request) {
            usage.record(UsageEvent {
                request_id: request,
                tenant_id: d.tenant,
                project_id: d.project,
                key_id: d.key,
                user_id: d.user,
                service_account_id: d.service_account,
                endpoint: d.endpoint,
                model: d.model,
                backend_id: None,
                status: 0,
                attempts: 0,
                streamed: false,
                prompt_tokens: d.tokens.max(0) as u64,
                completion_tokens: 0,
                cached_tokens: 0,
                latency_ms: 0,
                ttfb_ms: None,
                error_kind: Some("reservation_orphaned".into()),
                cost_pico: d.cost,
                created_at: chrono::DateTime::from_timestamp_millis(d.at).unwrap_or(now),
            });
        }
    }
    Ok(settled)
}
