//! The counters in this process, for a single replica without Redis: the
//! same rules as the Redis scripts (see admit.lua and finish.lua), under one
//! lock. Nothing here survives a restart; budgets restart from the ledger.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use super::counters::{Admit, Finish, Op, Settle, Verdict};

#[derive(Clone, Default)]
pub struct LocalCounters {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Window key → second → count.
    windows: HashMap<String, BTreeMap<i64, i64>>,
    /// Concurrency key → request id → lease expiry (ms).
    slots: HashMap<String, HashMap<String, i64>>,
    budgets: HashMap<String, Counter>,
    /// Requests holding a budget reservation.
    reserved: HashSet<String>,
}

#[derive(Default)]
struct Counter {
    init_ms: i64,
    fields: HashMap<&'static str, i64>,
    soft_reported: HashSet<&'static str>,
}

impl LocalCounters {
    pub fn admit(&self, a: &Admit<'_>) -> Verdict {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let second = a.now_ms.div_euclid(1000);
        let mut used = Vec::with_capacity(a.ops.len());
        for (i, op) in a.ops.iter().enumerate() {
            match op {
                Op::Window { key, limit, amount } => {
                    let window = state.windows.entry(key.clone()).or_default();
                    window.retain(|s, _| *s > second - 60);
                    let total: i64 = window.values().sum();
                    if total + amount > *limit {
                        let mut retry = 60_000;
                        if amount <= limit {
                            let mut excess = total + amount - limit;
                            for (s, count) in window.iter() {
                                excess -= count;
                                if excess <= 0 {
                                    // Never past the window: a request stamped a
                                    // moment later may have opened this bucket.
                                    retry = ((s + 60) * 1000 - a.now_ms).min(60_000);
                                    break;
                                }
                            }
                        }
                        return Verdict::Refused {
                            op: i,
                            retry_after_ms: retry,
                            used: total,
                        };
                    }
                    used.push(total);
                }
                Op::Concurrency { key, limit } => {
                    let slots = state.slots.entry(key.clone()).or_default();
                    slots.retain(|_, until| *until > a.now_ms);
                    let total = slots.len() as i64;
                    if total + 1 > *limit {
                        return Verdict::Refused {
                            op: i,
                            retry_after_ms: 1000,
                            used: total,
                        };
                    }
                    used.push(total);
                }
                Op::Budget {
                    key,
                    field,
                    limit,
                    amount,
                    ..
                } => {
                    let Some(counter) = state.budgets.get(key) else {
                        return Verdict::NeedsInit { op: i };
                    };
                    let current = counter.fields.get(field).copied().unwrap_or(0).max(0);
                    if current.saturating_add(*amount) > *limit {
                        return Verdict::Refused {
                            op: i,
                            retry_after_ms: 0,
                            used: current,
                        };
                    }
                    used.push(current);
                }
            }
        }
        let mut soft = vec![false; a.ops.len()];
        for (i, op) in a.ops.iter().enumerate() {
            match op {
                Op::Window { key, amount, .. } => {
                    *state
                        .windows
                        .entry(key.clone())
                        .or_default()
                        .entry(second)
                        .or_default() += amount;
                }
                Op::Concurrency { key, .. } => {
                    state
                        .slots
                        .entry(key.clone())
                        .or_default()
                        .insert(a.request_id.to_owned(), a.now_ms + a.lease_ms);
                }
                Op::Budget {
                    key,
                    field,
                    amount,
                    soft: threshold,
                    ..
                } => {
                    state.reserved.insert(a.request_id.to_owned());
                    if let Some(counter) = state.budgets.get_mut(key) {
                        let value = counter.fields.entry(field).or_default();
                        *value = value.saturating_add(*amount);
                        if threshold.is_some_and(|t| used[i].saturating_add(*amount) > t) {
                            soft[i] = counter.soft_reported.insert(field);
                        }
                    }
                }
            }
        }
        // One replica: nothing to lease.
        let granted = vec![0; a.ops.len()];
        Verdict::Admitted {
            second,
            used,
            soft,
            granted,
        }
    }

    pub fn finish(&self, f: &Finish<'_>) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let held = state.reserved.remove(f.request_id);
        for op in f.ops {
            match op {
                Settle::Window { key, delta } => {
                    if let Some(count) = state
                        .windows
                        .get_mut(key)
                        .and_then(|w| w.get_mut(&f.second))
                    {
                        *count += delta;
                    }
                }
                Settle::Release { key } => {
                    if let Some(slots) = state.slots.get_mut(key) {
                        slots.remove(f.request_id);
                    }
                }
                Settle::Budget {
                    key,
                    field,
                    delta,
                    actual,
                } => {
                    if let Some(counter) = state.budgets.get_mut(key) {
                        let add = if held {
                            *delta
                        } else if counter.init_ms > f.admitted_ms {
                            *actual
                        } else {
                            0
                        };
                        let value = counter.fields.entry(field).or_default();
                        *value = value.saturating_add(add);
                    }
                }
            }
        }
        held
    }

    pub fn init(&self, key: &str, now_ms: i64, tokens: i64, cost: i64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .budgets
            .entry(key.to_owned())
            .or_insert_with(|| Counter {
                init_ms: now_ms,
                fields: HashMap::from([("t", tokens), ("c", cost)]),
                soft_reported: HashSet::new(),
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(limit: i64, amount: i64) -> Op {
        Op::Budget {
            key: "b".into(),
            field: "c",
            limit,
            amount,
            soft: Some(limit / 2),
        }
    }

    fn admit<'a>(id: &'a str, now_ms: i64, ops: &'a [Op]) -> Admit<'a> {
        Admit {
            tag: "{t:x}",
            request_id: id,
            now_ms,
            lease_ms: 60_000,
            details: "",
            ops,
            extras: &[],
            divisor: 1,
            slots: "",
            slot_ttl_ms: 0,
        }
    }

    #[test]
    fn a_budget_reserves_then_settles_to_the_actual_amount() {
        let counters = LocalCounters::default();
        let ops = [budget(100, 40)];
        assert_eq!(
            counters.admit(&admit("a", 0, &ops)),
            Verdict::NeedsInit { op: 0 }
        );
        counters.init("b", 0, 0, 10);
        let Verdict::Admitted { used, soft, .. } = counters.admit(&admit("a", 1, &ops)) else {
            panic!("admitted")
        };
        assert_eq!((used, soft), (vec![10], vec![false]));
        // 10 + 40 + 40 > 100: the third reservation does not fit.
        assert!(
            matches!(counters.admit(&admit("b", 2, &ops)), Verdict::Admitted { soft, .. } if soft == [true])
        );
        assert!(matches!(
            counters.admit(&admit("c", 3, &ops)),
            Verdict::Refused {
                op: 0,
                used: 90,
                ..
            }
        ));
        let settle = |actual: i64| Settle::Budget {
            key: "b".into(),
            field: "c",
            delta: actual - 40,
            actual,
        };
        let finish = |id: &'static str, ops: &[Settle]| {
            counters.finish(&Finish {
                tag: "{t:x}",
                request_id: id,
                second: 0,
                admitted_ms: 1,
                ops,
            })
        };
        assert!(finish("a", &[settle(5)]));
        // Settled once only.
        assert!(!finish("a", &[settle(5)]));
        assert!(
            matches!(counters.admit(&admit("c", 4, &ops)), Verdict::Admitted { used, .. } if used == [55])
        );
    }

    #[test]
    fn a_full_window_says_when_room_frees_up() {
        let counters = LocalCounters::default();
        let ops = [Op::Window {
            key: "w".into(),
            limit: 2,
            amount: 1,
        }];
        assert!(matches!(
            counters.admit(&admit("a", 10_000, &ops)),
            Verdict::Admitted { .. }
        ));
        assert!(matches!(
            counters.admit(&admit("b", 30_000, &ops)),
            Verdict::Admitted { .. }
        ));
        // The first request leaves the window 60 s after its second began.
        assert_eq!(
            counters.admit(&admit("c", 40_500, &ops)),
            Verdict::Refused {
                op: 0,
                retry_after_ms: 29_500,
                used: 2
            }
        );
        assert!(matches!(
            counters.admit(&admit("c", 70_001, &ops)),
            Verdict::Admitted { .. }
        ));
    }
}
