//! Governance events: keys refused at the door and requests refused by rate
//! limits, budgets or model access go to the tenant's audit trail. A refusal
//! on the request path only bumps a counter in memory; every interval the
//! counts are written as one event per tenant, key, kind and reason, with
//! how many times and when first and last. A batch the database does not
//! take goes to the disk spool (like usage) and is replayed, oldest first,
//! when the database answers, also after a restart; what is counted is
//! written (or spooled) at shutdown.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ditto_store::Store;
use ditto_store::governance::GovernanceEvent;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::error::GatewayError;
use crate::proxy::KeyRefusal;
use crate::spool::Spool;

/// Distinct refusals kept per interval; past it, a tenant's further ones are
/// counted together (a flood of made-up keys cannot exhaust memory).
const MAX_DISTINCT: usize = 10_000;

/// What was refused, as one event counts it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Refusal {
    tenant_id: Uuid,
    action: &'static str,
    key_id: Option<Uuid>,
    /// The presented key's public part (`dk-<id>`) when it matched no key.
    key_prefix: Option<String>,
    reason: String,
    model: Option<String>,
}

#[derive(Clone, Copy, Debug)]
struct Tally {
    count: u64,
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.count += other.count;
        self.first_at = self.first_at.min(other.first_at);
        self.last_at = self.last_at.max(other.last_at);
    }
}

#[derive(Default)]
pub struct Governance {
    pending: Mutex<HashMap<Refusal, Tally>>,
}

impl Governance {
    fn note(&self, mut refusal: Refusal, at: DateTime<Utc>) {
        let mut pending = self.pending.lock().expect("lock");
        if pending.len() >= MAX_DISTINCT && !pending.contains_key(&refusal) {
            refusal.key_id = None;
            refusal.key_prefix = None;
            refusal.model = None;
            refusal.reason = "many_distinct".into();
        }
        let tally = Tally {
            count: 1,
            first_at: at,
            last_at: at,
        };
        pending
            .entry(refusal)
            .and_modify(|t| t.merge(tally))
            .or_insert(tally);
    }

    /// A key refused at the door. Tenants that do not exist have no trail,
    /// so nothing is noted for them.
    pub fn key_refused(&self, refusal: KeyRefusal, at: DateTime<Utc>) {
        let Some(tenant_id) = refusal.tenant_id else {
            return;
        };
        self.note(
            Refusal {
                tenant_id,
                action: "gateway.key_refused",
                key_id: refusal.key_id,
                key_prefix: refusal.key_prefix,
                reason: refusal.reason.into(),
                model: None,
            },
            at,
        );
    }

    /// A request refused after its key was accepted, if the refusal is a
    /// governance decision (limits, budgets, model access).
    pub fn request_refused(
        &self,
        tenant_id: Uuid,
        key_id: Uuid,
        model: Option<&str>,
        error: &GatewayError,
        at: DateTime<Utc>,
    ) {
        let action = match error.label() {
            "rate_limit_exceeded" => "gateway.rate_limited",
            "insufficient_quota" => "gateway.budget_exceeded",
            "model_not_allowed" => "gateway.model_refused",
            "limits_unavailable" => "gateway.limits_unavailable",
            "model_not_priced" => "gateway.model_not_priced",
            _ => return,
        };
        // Which limit: `<scope>:<id>:<kind>`, as the response names it.
        let reason = error
            .header("x-ditto-limit")
            .unwrap_or(error.label())
            .to_owned();
        self.note(
            Refusal {
                tenant_id,
                action,
                key_id: Some(key_id),
                key_prefix: None,
                reason,
                model: model.map(str::to_owned),
            },
            at,
        );
    }

    fn take(&self) -> HashMap<Refusal, Tally> {
        std::mem::take(&mut *self.pending.lock().expect("lock"))
    }

    /// The pending counts as events, leaving nothing pending.
    fn drain(&self) -> Vec<GovernanceEvent> {
        self.take()
            .into_iter()
            .map(|(r, t)| GovernanceEvent {
                tenant_id: r.tenant_id,
                action: r.action.to_owned(),
                key_id: r.key_id,
                details: json!({
                    "reason": r.reason,
                    "count": t.count,
                    "first_at": t.first_at,
                    "last_at": t.last_at,
                    "key_prefix": r.key_prefix,
                    "model": r.model,
                }),
            })
            .collect()
    }
}

/// Writes governance events; keeps what the database refuses.
struct Writer {
    store: Store,
    governance: Arc<Governance>,
    spool: Option<Spool<GovernanceEvent>>,
    /// Refused and not spooled (no spool, or the disk refused too).
    held: Vec<GovernanceEvent>,
}

impl Writer {
    /// Replays the spool, then writes what is held and what was counted.
    /// Returns whether nothing is left in memory.
    async fn flush(&mut self) -> bool {
        self.replay().await;
        let mut batch = std::mem::take(&mut self.held);
        batch.extend(self.governance.drain());
        if batch.is_empty() {
            return true;
        }
        // Older batches first: while some are spooled, new ones queue behind them.
        let spooled = self.spool.as_ref().is_some_and(|s| s.pending > 0);
        if !spooled {
            match self.store.record_governance(&batch).await {
                Ok(()) => return true,
                Err(e) => tracing::warn!(target: "ditto::audit", error = %e, events = batch.len(),
                    "governance events not written yet; kept for the next attempt"),
            }
        }
        if let Some(spool) = &mut self.spool {
            match spool.push(&batch) {
                Ok(()) => return true,
                Err(io) => tracing::error!(target: "ditto::audit", error = %io,
                    "cannot spool governance events; keeping them in memory"),
            }
        }
        self.held = batch;
        false
    }

    async fn replay(&mut self) {
        let Some(spool) = &mut self.spool else { return };
        while let Some((path, events)) = spool.oldest() {
            if self.store.record_governance(&events).await.is_err() {
                return;
            }
            spool.remove(&path);
        }
    }
}

/// The task writing governance events.
pub struct GovernanceWriter {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl GovernanceWriter {
    /// Stops the interval and writes what is left (retrying for a while if
    /// the database is away).
    pub async fn finish(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Starts counting and writing; `spool`: where refused batches wait on disk.
pub fn start(
    store: Store,
    every: Duration,
    spool: Option<PathBuf>,
) -> (Arc<Governance>, GovernanceWriter) {
    let governance = Arc::new(Governance::default());
    let (stop, mut stopped) = watch::channel(false);
    let mut writer = Writer {
        store,
        governance: governance.clone(),
        spool: spool.map(|dir| Spool::open(dir, "governance events")),
        held: Vec::new(),
    };
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Without its writer handle (dropped, not finished) the task keeps
        // writing on every tick for as long as the process runs.
        let mut detached = false;
        loop {
            tokio::select! {
                _ = tick.tick() => { writer.flush().await; }
                changed = stopped.changed(), if !detached => match changed {
                    Ok(()) => break,
                    Err(_) => detached = true,
                },
            }
        }
        // Shutting down: written or spooled; without a spool, a few tries.
        for _ in 0..10 {
            if writer.flush().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    (governance, GovernanceWriter { stop, task })
}
