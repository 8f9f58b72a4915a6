//! Rate limits and budgets on the request path. Before a request goes
//! upstream, every limit and budget that applies is checked and charged, all
//! or nothing; when it ends, the charges are settled to the actual usage, or
//! refunded when the gateway refused the request. Counters live in Redis
//! (exact across replicas) or, without Redis, in this process. With Redis,
//! each replica leases slices of the rate limits and admits from them
//! locally (`leases`, `charge`); budgets are reserved per request and
//! settled in batches (`settling`). Budgets fail closed; rate limits do too
//! unless configured open.

mod answers;
mod charge;
mod counters;
mod leases;
mod local;
mod reaper;
mod settling;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use ditto_core::money;
use ditto_store::Store;
use ditto_types::TenantId;

use crate::error::GatewayError;
use crate::metrics::Metrics;
use crate::rules::{self, Budget, Limit, Price, Prices};
use crate::snapshot::{Key, RouteEntry, Tenant};
use counters::{Counters, Op, Verdict};

pub use counters::RedisCounters;
pub use leases::Leasing;
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
    /// How replicas lease rate limits from Redis.
    pub leasing: Leasing,
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
            leasing: Leasing::default(),
            clock: Clock::default(),
        }
    }
}

pub struct Governor {
    counters: Counters,
    /// What this replica holds of the rate limits; with Redis only.
    leases: Option<leases::Leases>,
    /// Budget settlements waiting for the next batch.
    settlements: settling::Queue,
    /// Where settled requests' usage events (and the reaper's) go.
    usage: crate::usage::UsageSink,
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
        usage: crate::usage::UsageSink,
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
        let leases =
            matches!(counters, Counters::Redis(_)).then(|| leases::Leases::new(config.leasing));
        Ok(Arc::new(Self {
            counters,
            leases,
            settlements: settling::Queue::default(),
            usage,
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
        let call = charge::Call {
            tenant: d.tenant,
            tag: &tag,
            request_id: &request_id,
            now,
            details: &details,
            ops: &ops,
            subjects: &subjects,
            has_budget,
        };
        let Some(mut verdict) = self.charge(&call).await? else {
            return Ok(None);
        };
        // A budget is never refused for this replica's finished requests
        // whose settlement is still queued or on its way: wait for them to
        // be settled, and look again.
        if let Verdict::Refused { op, .. } = verdict
            && matches!(ops[op], Op::Budget { .. })
            && self.settlements_pending(&tag)
        {
            self.settle_queued(Some(&tag)).await;
            let Some(again) = self.charge(&call).await? else {
                return Ok(None);
            };
            verdict = again;
        }
        match verdict {
            Verdict::Admitted {
                second, used, soft, ..
            } => {
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
                let headers = answers::success_headers(&ops, &subjects, &used);
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
                Err(answers::refusal(
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

    /// Settles reservations whose replica went away, until the task is dropped.
    pub async fn reap(
        self: Arc<Self>,
        snapshot: Arc<arc_swap::ArcSwap<crate::snapshot::Snapshot>>,
    ) {
        let Counters::Redis(redis) = &self.counters else {
            return;
        };
        let mut every = tokio::time::interval(self.config.reap_every);
        loop {
            every.tick().await;
            let tenants: Vec<uuid::Uuid> = snapshot.load().tenants_with_budgets().collect();
            for tenant in tenants {
                match reaper::reap_tenant(self.as_ref(), redis, tenant, &self.usage).await {
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
