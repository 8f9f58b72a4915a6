//! Charging a request's limits and settling them. With Redis, rate limits
//! are admitted from this replica's leases where they suffice and from Redis
//! otherwise, in one all-or-nothing call with the request's budgets, which
//! always go to Redis; what Redis grants beyond the request is leased here.
//! Without Redis, every counter is in this process.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};

use super::counters::{Admit, Counters, Finish, Op, RedisCounters, Settle, Verdict};
use super::leases::{Back, Leases, Sweep};
use super::{Admission, Governor, Outcome, Subject};
use crate::error::GatewayError;
use crate::snapshot::Tenant;

/// One request's charge.
pub(super) struct Call<'a> {
    pub tenant: &'a Tenant,
    pub tag: &'a str,
    pub request_id: &'a str,
    pub now: DateTime<Utc>,
    /// Kept with a budget reservation for the reaper.
    pub details: &'a str,
    pub ops: &'a [Op],
    pub subjects: &'a [Subject],
    pub has_budget: bool,
}

/// Budget charges still to settle in Redis, after the response.
pub struct Settlement {
    pub(super) tag: String,
    pub(super) request_id: String,
    pub(super) admitted_ms: i64,
    pub(super) ops: Vec<Settle>,
}

impl Governor {
    /// Checks and charges `call`'s ops. `None`: the limits store is down and
    /// rate limits fail open, so the request goes uncounted.
    pub(super) async fn charge(&self, call: &Call<'_>) -> Result<Option<Verdict>, GatewayError> {
        let ops = call.ops;
        let all: Vec<usize> = (0..ops.len()).collect();
        let Some(leases) = &self.leases else {
            return self.charge_in_store(call, &all, "").await;
        };
        let now_ms = call.now.timestamp_millis();
        let second = now_ms.div_euclid(1000);
        let is_rate = |i: &usize| !matches!(ops[*i], Op::Budget { .. });
        let mut taken = vec![None; ops.len()];
        let rate: Vec<usize> = all.iter().copied().filter(is_rate).collect();
        leases.take(ops, &rate, now_ms, &mut taken);
        let mut remote: Vec<usize> = all.into_iter().filter(|i| taken[*i].is_none()).collect();
        // Leases are refilled one call at a time per tenant, and a request
        // that waited looks again: the call before it may have brought
        // enough back.
        let _refilling = if remote.iter().any(is_rate) {
            let guard = leases.refill_lock(call.tag).lock_owned().await;
            let missing: Vec<usize> = remote.iter().copied().filter(is_rate).collect();
            leases.take(ops, &missing, now_ms, &mut taken);
            remote.retain(|i| taken[*i].is_none());
            Some(guard)
        } else {
            None
        };
        if remote.is_empty() {
            return Ok(Some(Verdict::Admitted {
                second,
                used: taken.into_iter().map(|t| t.unwrap_or(0)).collect(),
                soft: vec![false; ops.len()],
                granted: vec![0; ops.len()],
            }));
        }
        if _refilling.is_some() {
            // This replica's unused units of seconds that ended go back
            // first, so the call sees all that it no longer holds.
            self.return_owed(call.tag, now_ms).await;
        }
        let prefix = if remote
            .iter()
            .any(|&i| matches!(ops[i], Op::Concurrency { .. }))
        {
            leases.slot_prefix()
        } else {
            String::new()
        };
        let charged = self.charge_in_store(call, &remote, &prefix).await;
        let verdict = match charged {
            Ok(Some(verdict)) => verdict,
            other => {
                leases.give_back(ops, &taken, second);
                return other;
            }
        };
        Ok(Some(match verdict {
            Verdict::Admitted {
                second,
                used: remote_used,
                soft: remote_soft,
                granted,
            } => {
                leases.deposit(
                    ops,
                    &remote,
                    &granted,
                    &remote_used,
                    second,
                    &prefix,
                    now_ms,
                );
                let mut used: Vec<i64> = taken.iter().map(|t| t.unwrap_or(0)).collect();
                let mut soft = vec![false; ops.len()];
                for (j, &i) in remote.iter().enumerate() {
                    used[i] = remote_used[j];
                    soft[i] = remote_soft[j];
                }
                Verdict::Admitted {
                    second,
                    used,
                    soft,
                    granted: vec![0; ops.len()],
                }
            }
            Verdict::Refused {
                op,
                retry_after_ms,
                used,
            } => {
                leases.give_back(ops, &taken, second);
                Verdict::Refused {
                    op: remote[op],
                    retry_after_ms,
                    used,
                }
            }
            Verdict::NeedsInit { op } => {
                leases.give_back(ops, &taken, second);
                Verdict::NeedsInit { op: remote[op] }
            }
        }))
    }

    /// Charges ops `which` in the counter store, all or nothing, starting
    /// budget counters from the ledger as needed. Op indices in the verdict
    /// are positions in `which`.
    async fn charge_in_store(
        &self,
        call: &Call<'_>,
        which: &[usize],
        slots: &str,
    ) -> Result<Option<Verdict>, GatewayError> {
        let ops: Cow<'_, [Op]> = if which.len() == call.ops.len() {
            Cow::Borrowed(call.ops)
        } else {
            Cow::Owned(which.iter().map(|&i| call.ops[i].clone()).collect())
        };
        let leasing = self.leases.as_ref().map(|l| l.leasing);
        let extras: Vec<i64> = leasing
            .map(|l| ops.iter().map(|op| l.extra(op)).collect())
            .unwrap_or_default();
        let admit = Admit {
            tag: call.tag,
            request_id: call.request_id,
            now_ms: call.now.timestamp_millis(),
            lease_ms: self.config.lease.as_millis() as i64,
            details: call.details,
            ops: &ops,
            extras: &extras,
            divisor: leasing.map_or(1, |l| l.divisor),
            slots,
            slot_ttl_ms: leasing.map_or(0, |l| l.slot_ttl.as_millis() as i64),
        };
        // Each retry starts one missing budget counter; there are at most as
        // many as budget checks.
        let budget_checks = ops
            .iter()
            .filter(|op| matches!(op, Op::Budget { .. }))
            .count();
        let mut attempts = 0;
        loop {
            attempts += 1;
            self.count_store_call();
            match self.counters.admit(&admit).await {
                Ok(Verdict::NeedsInit { op }) if attempts <= budget_checks => {
                    let i = which[op];
                    self.init_budget(call.tenant, (&call.ops[i], &call.subjects[i]), call.now)
                        .await?;
                }
                Ok(Verdict::NeedsInit { .. }) => {
                    return Err(GatewayError::limits_unavailable(
                        "A budget counter could not be started from the usage ledger. Retry shortly.",
                    ));
                }
                Ok(verdict) => return Ok(Some(verdict)),
                Err(e) => {
                    self.metrics
                        .limits_store_errors
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "the limits store failed");
                    if call.has_budget || !self.config.rate_limits_fail_open {
                        return Err(GatewayError::limits_unavailable(
                            "Usage limits cannot be checked right now (the limits store is unreachable), \
                             so the request was not sent. Retry shortly.",
                        ));
                    }
                    return Ok(None);
                }
            }
        }
    }

    fn count_store_call(&self) {
        if matches!(self.counters, Counters::Redis(_)) {
            self.metrics
                .limits_store_calls
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Settles an admitted request's charges to how it ended: its rate
    /// limits at once, here; its budgets, if any, are returned to settle in
    /// the store after the response ([`Governor::settle_later`]).
    pub fn finish(&self, admission: Admission, outcome: Outcome) -> Option<Settlement> {
        let (tokens, cost, refused) = match outcome {
            Outcome::Refused => (0, 0, true),
            Outcome::Served { tokens, cost_pico } => (tokens, cost_pico, false),
        };
        let mut back = Vec::with_capacity(admission.ops.len());
        let mut budgets = Vec::new();
        for (op, subject) in admission.ops.iter().zip(&admission.subjects) {
            match (op, subject) {
                // A request counts against rpm once it was sent, whatever came back.
                (Op::Window { key, .. }, Subject::Requests(_)) => {
                    if refused {
                        back.push(Back::Units { key, delta: -1 });
                    }
                }
                (Op::Window { key, .. }, _) => back.push(Back::Units {
                    key,
                    delta: tokens - admission.window_tokens,
                }),
                (Op::Concurrency { key, .. }, _) => back.push(Back::Slot(key)),
                (
                    Op::Budget {
                        key, field, amount, ..
                    },
                    _,
                ) => {
                    let actual = if *field == "t" { tokens } else { cost };
                    budgets.push(Settle::Budget {
                        key: key.clone(),
                        field,
                        delta: actual - amount,
                        actual,
                    });
                }
            }
        }
        match (&self.counters, &self.leases) {
            (Counters::Redis(_), Some(leases)) => leases.put_back(admission.second, back),
            (Counters::Local(local), _) => {
                let mut ops: Vec<Settle> = back
                    .into_iter()
                    .map(|back| match back {
                        Back::Units { key, delta } => Settle::Window {
                            key: key.to_owned(),
                            delta,
                        },
                        Back::Slot(key) => Settle::Release {
                            key: key.to_owned(),
                        },
                    })
                    .collect();
                ops.append(&mut budgets);
                local.finish(&Finish {
                    tag: &admission.tag,
                    request_id: &admission.request_id,
                    second: admission.second,
                    admitted_ms: admission.admitted_ms,
                    ops: &ops,
                });
            }
            (Counters::Redis(_), None) => {}
        }
        // Settled in this process already when `budgets` went to `local`.
        (!budgets.is_empty()).then_some(Settlement {
            tag: admission.tag,
            request_id: admission.request_id,
            admitted_ms: admission.admitted_ms,
            ops: budgets,
        })
    }

    /// Returns unused lease units and idle slots, and renews held slots,
    /// every sweep until the task is dropped.
    pub async fn keep_leases(self: Arc<Self>) {
        let Some(leases) = &self.leases else {
            return;
        };
        // Sweeps fall just after each second begins, when window units of
        // the second before become useless to this replica.
        let every = leases.leasing.sweep_every.as_millis().clamp(10, 1000) as i64;
        loop {
            let now_ms = self.config.clock.now().timestamp_millis();
            let wait = every - now_ms.rem_euclid(1000) % every + 2;
            tokio::time::sleep(std::time::Duration::from_millis(wait as u64)).await;
            self.return_leases(false).await;
        }
    }

    /// One sweep of the leases; `everything` returns all that is unused,
    /// at shutdown, when no request is in flight.
    pub async fn return_leases(&self, everything: bool) {
        let (Counters::Redis(redis), Some(leases)) = (&self.counters, &self.leases) else {
            return;
        };
        let now_ms = self.config.clock.now().timestamp_millis();
        for sweep in leases.sweep(now_ms, everything) {
            self.send_sweep(redis, leases, sweep, now_ms).await;
        }
    }

    /// Sends what tenant `tag`'s windows are owed now, if anything.
    async fn return_owed(&self, tag: &str, now_ms: i64) {
        let (Counters::Redis(redis), Some(leases)) = (&self.counters, &self.leases) else {
            return;
        };
        let owed = leases.owed(tag, now_ms);
        if !owed.ops.is_empty() {
            self.send_sweep(redis, leases, owed, now_ms).await;
        }
    }

    async fn send_sweep(&self, redis: &RedisCounters, leases: &Leases, sweep: Sweep, now_ms: i64) {
        self.count_store_call();
        let result = redis.settle(now_ms, &sweep.ops).await;
        if let Err(e) = &result {
            self.metrics
                .limits_store_errors
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, tenant = %sweep.tag, "returning leased limits failed");
        }
        leases.swept(sweep, result.is_ok());
    }
}
