//! Rate limits and budgets on the request path. Before a request goes
//! upstream, one atomic call checks and charges every limit and budget that
//! applies (all or nothing); when it ends, another settles the charges to
//! the actual usage, or refunds them when the gateway refused the request.
//! Counters live in Redis (exact across replicas) or, without Redis, in this
//! process. Budgets fail closed; rate limits do too unless configured open.

mod counters;
mod local;
mod reaper;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use chrono::{DateTime, Utc};
use ditto_core::money;
use ditto_store::Store;
use ditto_types::TenantId;

use crate::error::GatewayError;
use crate::metrics::Metrics;
use crate::rules::{self, Budget, Limit, Price, Prices};
use crate::snapshot::{Key, RouteEntry, Tenant};
use counters::{Admit, Counters, Finish, Op, Settle, Verdict};

pub use counters::RedisCounters;
pub use local::LocalCounters;

/// The time the gateway believes it is: injectable, so tests can cross a
/// budget period boundary.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    pub fn new(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new(Utc::now)
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}

/// Where the counters live.
#[derive(Clone, Debug, Default)]
pub enum CounterStore {
    /// In this process: exact for a single replica only.
    #[default]
    Local,
    /// One Redis server (`redis://…`).
    Redis(String),
    /// A Redis Cluster, from any of its nodes.
    RedisCluster(Vec<String>),
}

#[derive(Clone, Debug)]
pub struct LimitsConfig {
    pub store: CounterStore,
    /// Let requests through uncounted by rate limits when Redis is
    /// unreachable (budgets are never skipped).
    pub rate_limits_fail_open: bool,
    /// How long a reservation and a concurrency slot are held before the
    /// reaper settles them as orphaned; longer than any request lasts.
    pub lease: Duration,
    /// How often the reaper looks for orphaned reservations.
    pub reap_every: Duration,
    /// Output tokens reserved when neither the request nor the model's price says.
    pub default_max_output_tokens: u32,
    pub clock: Clock,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            store: CounterStore::Local,
            rate_limits_fail_open: false,
            lease: Duration::from_secs(15 * 60),
            reap_every: Duration::from_secs(30),
            default_max_output_tokens: 4096,
            clock: Clock::default(),
        }
    }
}

pub struct Governor {
    counters: Counters,
    store: Store,
    config: LimitsConfig,
    metrics: Arc<Metrics>,
}

/// What a request asks for, as far as its limits are concerned.
pub struct Demand<'a> {
    pub tenant: &'a Tenant,
    pub platform_prices: &'a Prices,
    pub key: &'a Key,
    pub request_id: uuid::Uuid,
    pub endpoint: &'a str,
    pub model: Option<&'a str>,
    pub route: &'a RouteEntry,
    pub body_len: usize,
    pub max_output_tokens: Option<u64>,
    pub produces_output: bool,
}

/// What a check is about, for headers and messages.
#[derive(Clone, Debug)]
enum Subject {
    Requests(Arc<Limit>),
    Tokens(Arc<Limit>),
    Concurrent(Arc<Limit>),
    Budget(Arc<Budget>, &'static str),
}

/// Charges held by an admitted request until it finishes.
pub struct Admission {
    tag: String,
    request_id: String,
    second: i64,
    admitted_ms: i64,
    ops: Vec<Op>,
    /// What each of `ops` is about.
    subjects: Vec<Subject>,
    /// Tokens charged to tpm windows.
    window_tokens: i64,
    pub headers: HeaderMap,
}

/// How a request ended, for settling its charges.
pub enum Outcome {
    /// The gateway refused it before any upstream answered: refund everything.
    Refused,
    Served {
        tokens: i64,
        cost_pico: i64,
    },
}

impl Governor {
    pub async fn start(
        config: LimitsConfig,
        store: Store,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Self>, String> {
        let counters = match &config.store {
            CounterStore::Local => Counters::Local(LocalCounters::default()),
            CounterStore::Redis(url) => {
                Counters::Redis(RedisCounters::connect(std::slice::from_ref(url), false).await?)
            }
            CounterStore::RedisCluster(nodes) => {
                Counters::Redis(RedisCounters::connect(nodes, true).await?)
            }
        };
        Ok(Arc::new(Self {
            counters,
            store,
            config,
            metrics,
        }))
    }

    pub fn clock(&self) -> &Clock {
        &self.config.clock
    }

    /// Checks and charges every limit and budget on `demand`. `Ok(None)`:
    /// nothing limits this request.
    pub async fn admit(&self, d: &Demand<'_>) -> Result<Option<Admission>, GatewayError> {
        let rules = &d.tenant.rules;
        if rules.is_empty() {
            return Ok(None);
        }
        let now = self.config.clock.now();
        let tag = format!("{{t:{}}}", d.tenant.id);
        let prompt_bytes = d.body_len as i64;
        let max_output = d.max_output_tokens.map(|m| m.min(i64::MAX as u64) as i64);
        let window_tokens = (prompt_bytes / 4 + max_output.unwrap_or(0)).max(1);
        let mut ops: Vec<(Op, Subject)> = Vec::new();
        for limit in rules.limits_for(d.key, d.model, Some(&d.route.model)) {
            let key = |what: &str| format!("{tag}:rl:{}:{what}", limit.id);
            if let Some(rpm) = limit.rpm {
                ops.push((
                    Op::Window {
                        key: key("r"),
                        limit: rpm,
                        amount: 1,
                    },
                    Subject::Requests(limit.clone()),
                ));
            }
            if let Some(tpm) = limit.tpm {
                ops.push((
                    Op::Window {
                        key: key("t"),
                        limit: tpm,
                        amount: window_tokens,
                    },
                    Subject::Tokens(limit.clone()),
                ));
            }
            if let Some(max) = limit.max_concurrent {
                ops.push((
                    Op::Concurrency {
                        key: key("c"),
                        limit: max,
                    },
                    Subject::Concurrent(limit.clone()),
                ));
            }
        }
        let budgets: Vec<&Arc<Budget>> = rules.budgets_for(d.key).collect();
        let mut reserve = (0i64, 0i64);
        if !budgets.is_empty() {
            reserve = self.reservation(d, &budgets, prompt_bytes, max_output)?;
            let zone = rules.zone();
            for budget in &budgets {
                let window = budget.period.window(zone, now);
                let key = format!("{tag}:bg:{}:{}", budget.id, window.start.timestamp());
                let soft = |max: i64| {
                    budget
                        .soft_limit_percent
                        .map(|p| max / 100 * p + max % 100 * p / 100)
                };
                if let Some(max) = budget.max_tokens {
                    ops.push((
                        Op::Budget {
                            key: key.clone(),
                            field: "t",
                            limit: max,
                            amount: reserve.0,
                            soft: soft(max),
                        },
                        Subject::Budget((*budget).clone(), "tokens"),
                    ));
                }
                if let Some(max) = budget.max_cost_pico {
                    ops.push((
                        Op::Budget {
                            key,
                            field: "c",
                            limit: max,
                            amount: reserve.1,
                            soft: soft(max),
                        },
                        Subject::Budget((*budget).clone(), "cost"),
                    ));
                }
            }
        }
        if ops.is_empty() {
            return Ok(None);
        }
        let has_budget = !budgets.is_empty();
        // Kept with a budget reservation, for the reaper.
        let details = if has_budget {
            serde_json::json!({
                "tenant": d.tenant.id, "project": d.key.project_id, "key": d.key.key_id,
                "user": d.key.owner_user_id, "service_account": d.key.owner_service_account_id,
                "endpoint": d.endpoint, "model": d.model, "tokens": reserve.0, "cost": reserve.1, "at": now.timestamp_millis(),
                "budgets": ops.iter().filter_map(|(op, _)| match op {
                    Op::Budget { key, field, .. } => Some([key.as_str(), field]),
                    _ => None,
                }).collect::<Vec<_>>(),
            })
            .to_string()
        } else {
            String::new()
        };
        let (ops, subjects): (Vec<Op>, Vec<Subject>) = ops.into_iter().unzip();
        let request_id = d.request_id.to_string();
        let now_ms = now.timestamp_millis();
        let admit = Admit {
            tag: &tag,
            request_id: &request_id,
            now_ms,
            lease_ms: self.config.lease.as_millis() as i64,
            details: &details,
            ops: &ops,
        };
        // Each retry starts one missing budget counter; there are at most as
        // many as budget checks.
        let budget_checks = ops
            .iter()
            .filter(|op| matches!(op, Op::Budget { .. }))
            .count();
        let mut attempts = 0;
        let verdict = loop {
            attempts += 1;
            match self.counters.admit(&admit).await {
                Ok(Verdict::NeedsInit { op }) if attempts <= budget_checks => {
                    self.init_budget(d.tenant, (&ops[op], &subjects[op]), now)
                        .await?;
                }
                Ok(verdict) => break verdict,
                Err(e) => {
                    self.metrics
                        .limits_store_errors
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "the limits store failed");
                    if has_budget || !self.config.rate_limits_fail_open {
                        return Err(GatewayError::limits_unavailable(
                            "Usage limits cannot be checked right now (the limits store is unreachable), \
                             so the request was not sent. Retry shortly.",
                        ));
                    }
                    return Ok(None);
                }
            }
        };
        match verdict {
            Verdict::Admitted { second, used, soft } => {
                for (i, crossed) in soft.iter().enumerate() {
                    if *crossed && let Subject::Budget(budget, what) = &subjects[i] {
                        self.metrics
                            .budget_soft_limits
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            target: "ditto::budget",
                            tenant = %d.tenant.id, budget = %budget.id, scope = budget.scope.kind(),
                            period = %budget.period, what, percent = budget.soft_limit_percent,
                            "budget crossed its soft limit"
                        );
                    }
                }
                let headers = success_headers(&ops, &subjects, &used);
                Ok(Some(Admission {
                    tag,
                    request_id,
                    second,
                    admitted_ms: now_ms,
                    ops,
                    subjects,
                    window_tokens,
                    headers,
                }))
            }
            Verdict::Refused {
                op,
                retry_after_ms,
                used,
            } => {
                self.metrics.limit_refusals.fetch_add(1, Ordering::Relaxed);
                Err(refusal(
                    (&ops[op], &subjects[op]),
                    retry_after_ms,
                    used,
                    period_end(d, &subjects[op], now),
                    now,
                ))
            }
            Verdict::NeedsInit { .. } => Err(GatewayError::limits_unavailable(
                "A budget counter could not be started from the usage ledger. Retry shortly.",
            )),
        }
    }

    /// The most a request may consume: all of its body as prompt tokens
    /// (tokens never outnumber bytes of text) plus its output cap, priced at
    /// the dearest backend it may be served by.
    fn reservation(
        &self,
        d: &Demand<'_>,
        budgets: &[&Arc<Budget>],
        prompt: i64,
        max_output: Option<i64>,
    ) -> Result<(i64, i64), GatewayError> {
        let needs_cost = budgets.iter().any(|b| b.max_cost_pico.is_some());
        let model = d.model.unwrap_or(&d.route.model);
        let mut dearest: Option<Price> = None;
        for target in d.route.primaries.iter().chain(&d.route.fallbacks) {
            match price_of(d, target.upstream_model.as_deref()) {
                Some(p) if dearest.is_none_or(|q| (p.input, p.output) > (q.input, q.output)) => {
                    dearest = Some(p);
                }
                Some(_) => {}
                None if needs_cost => return Err(GatewayError::model_not_priced(model)),
                None => {}
            }
        }
        let output = if d.produces_output {
            max_output
                .or_else(|| dearest.and_then(|p| p.max_output_tokens).map(i64::from))
                .unwrap_or(i64::from(self.config.default_max_output_tokens))
        } else {
            0
        };
        let tokens = prompt.saturating_add(output);
        let cost = dearest.map_or(0, |p| {
            money::cost(prompt as u64, p.input).saturating_add(money::cost(output as u64, p.output))
        });
        Ok((tokens, cost))
    }

    async fn init_budget(
        &self,
        tenant: &Tenant,
        (op, subject): (&Op, &Subject),
        now: DateTime<Utc>,
    ) -> Result<(), GatewayError> {
        let (Op::Budget { key, .. }, Subject::Budget(budget, _)) = (op, subject) else {
            return Ok(());
        };
        let window = budget.period.window(tenant.rules.zone(), now);
        let unavailable = |e: String| {
            tracing::warn!(error = %e, "cannot start a budget counter from the ledger");
            GatewayError::limits_unavailable(
                "Budgets cannot be checked right now (the usage ledger is unreachable), so the request was not sent.",
            )
        };
        let (tokens, cost) = self
            .store
            .ledger_consumption(TenantId(tenant.id), budget.scope, window.start, window.end)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        // Kept a week past the period, for the admin API's and auditors' sake.
        // The expiry is relative: an absolute time read off this replica's
        // clock may already be past on Redis's, and Redis would drop the
        // counter as soon as it was started.
        let ttl_s = window
            .end
            .map_or(0, |end| (end - now).num_seconds().max(0) + 7 * 86_400);
        self.counters
            .init(key, now.timestamp_millis(), tokens, cost, ttl_s)
            .await
            .map_err(unavailable)
    }

    /// Settles an admitted request's charges to how it ended. Never fails the
    /// request: on error the reservation stays for the reaper.
    pub async fn finish(&self, admission: Admission, outcome: Outcome) {
        let (tokens, cost, refused) = match outcome {
            Outcome::Refused => (0, 0, true),
            Outcome::Served { tokens, cost_pico } => (tokens, cost_pico, false),
        };
        let ops: Vec<Settle> = admission
            .ops
            .iter()
            .zip(&admission.subjects)
            .filter_map(|(op, subject)| match (op, subject) {
                // A request counts against rpm once it was sent, whatever came back.
                (Op::Window { key, .. }, Subject::Requests(_)) => refused.then(|| Settle::Window {
                    key: key.clone(),
                    delta: -1,
                }),
                (Op::Window { key, .. }, _) => Some(Settle::Window {
                    key: key.clone(),
                    delta: tokens - admission.window_tokens,
                }),
                (Op::Concurrency { key, .. }, _) => Some(Settle::Release { key: key.clone() }),
                (
                    Op::Budget {
                        key, field, amount, ..
                    },
                    _,
                ) => {
                    let actual = if *field == "t" { tokens } else { cost };
                    Some(Settle::Budget {
                        key: key.clone(),
                        field,
                        delta: actual - amount,
                        actual,
                    })
                }
            })
            .collect();
        if ops.is_empty() {
            return;
        }
        let finish = Finish {
            tag: &admission.tag,
            request_id: &admission.request_id,
            second: admission.second,
            admitted_ms: admission.admitted_ms,
            ops: &ops,
        };
        if let Err(e) = self.counters.finish(&finish).await {
            self.metrics
                .limits_store_errors
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, request = %admission.request_id,
                "settling a request's limits failed; the reaper will settle its reservation");
        }
    }

    /// Settles reservations whose replica went away, until the task is dropped.
    pub async fn reap(
        self: Arc<Self>,
        snapshot: Arc<arc_swap::ArcSwap<crate::snapshot::Snapshot>>,
        usage: crate::usage::UsageSink,
    ) {
        let Counters::Redis(redis) = &self.counters else {
            return;
        };
        let mut every = tokio::time::interval(self.config.reap_every);
        loop {
            every.tick().await;
            let tenants: Vec<uuid::Uuid> = snapshot.load().tenants_with_budgets().collect();
            for tenant in tenants {
                match reaper::reap_tenant(self.as_ref(), redis, tenant, &usage).await {
                    Ok(0) => {}
                    Ok(n) => {
                        self.metrics
                            .reservations_reaped
                            .fetch_add(n as u64, Ordering::Relaxed);
                        tracing::info!(%tenant, reservations = n, "settled orphaned budget reservations");
                    }
                    Err(e) => tracing::warn!(%tenant, error = %e, "reaping reservations failed"),
                }
            }
        }
    }
}

fn price_of(d: &Demand<'_>, upstream_model: Option<&str>) -> Option<Price> {
    served_price(
        d.tenant,
        d.platform_prices,
        [upstream_model, Some(&d.route.model), d.model],
    )
}

/// The price of what a target served: by its upstream model name if it has
/// one, else by the route's model, else by the name the client asked for
/// (an alias perhaps); the tenant's own price first, then the platform's.
pub fn served_price(tenant: &Tenant, platform: &Prices, names: [Option<&str>; 3]) -> Option<Price> {
    names
        .into_iter()
        .flatten()
        .find_map(|name| rules::price(name, &tenant.rules.prices, platform))
        .copied()
}

fn period_end(d: &Demand<'_>, subject: &Subject, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match subject {
        Subject::Budget(budget, _) => budget.period.window(d.tenant.rules.zone(), now).end,
        _ => None,
    }
}

static LIMIT_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-limit-requests");
static REMAINING_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-requests");
static LIMIT_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-limit-tokens");
static REMAINING_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-tokens");
static RESET_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-reset-requests");
static RESET_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-reset-tokens");
static LIMIT_NAME: HeaderName = HeaderName::from_static("x-ditto-limit");

/// OpenAI's `x-ratelimit-*` headers for the tightest request and token
/// windows after this request.
fn success_headers(ops: &[Op], subjects: &[Subject], used: &[i64]) -> HeaderMap {
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

fn refusal(
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
