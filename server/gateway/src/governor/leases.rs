//! What this replica holds of its tenants' rate limits, leased from Redis:
//! units of a window's current second, and concurrency slots. A request is
//! admitted from a lease without a round trip; Redis is asked again only
//! when the lease runs out, and grants less as the limit nears (see
//! admit.lua), down to the request alone. Every unit admitted here was
//! charged in Redis first, so the replicas together never pass a limit.
//! What a replica holds unused goes back within a sweep: a window's units
//! when their second ends, idle slots as they idle. A replica that dies
//! loses nothing for long either: its units leave the window within a
//! minute, its slots expire with their time to live.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::counters::{LeaseOp, Op};

/// How leases are sized and kept.
#[derive(Clone, Copy, Debug)]
pub struct Leasing {
    /// The most requests' worth one lease may hold; 1 turns leasing off
    /// (every request goes to Redis, as a single-request lease).
    pub max_requests: i64,
    /// A lease is at most this fraction of the headroom a request leaves:
    /// under 1/divisor of a limit can sit unused on one replica, and the
    /// lease is the request alone once the headroom is under `divisor`.
    pub divisor: i64,
    /// How long concurrency slots live in Redis unless renewed: how long a
    /// dead replica's slots stay taken.
    pub slot_ttl: Duration,
    /// How often unused units and idle slots are returned and slots renewed.
    pub sweep_every: Duration,
}

impl Default for Leasing {
    fn default() -> Self {
        Self {
            max_requests: 64,
            divisor: 16,
            slot_ttl: Duration::from_secs(30),
            sweep_every: Duration::from_millis(250),
        }
    }
}

impl Leasing {
    /// What op may lease beyond a request's own.
    pub fn extra(&self, op: &Op) -> i64 {
        let more = (self.max_requests - 1).max(0);
        match op {
            Op::Window { amount, .. } => more.saturating_mul(*amount),
            Op::Concurrency { .. } => more,
            Op::Budget { .. } => 0,
        }
    }

    fn slot_ttl_ms(&self) -> i64 {
        self.slot_ttl.as_millis() as i64
    }
}

pub struct Leases {
    pub leasing: Leasing,
    /// Names this replica's slots, so they never collide with another's.
    replica: String,
    grants: AtomicU64,
    book: Mutex<Book>,
    /// One lease request at a time per tenant: a request refused by Redis
    /// would otherwise miss units another request is about to bring back.
    refills: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Leases by tenant hash tag: a tenant's admission call and its sweep touch
/// only its own.
#[derive(Default)]
struct Book {
    tenants: HashMap<String, TenantBook>,
}

impl Book {
    /// The book of `key`'s tenant.
    fn of(&mut self, key: &str) -> &mut TenantBook {
        let tag = hash_tag(key);
        if !self.tenants.contains_key(tag) {
            self.tenants.insert(tag.to_owned(), TenantBook::default());
        }
        self.tenants.get_mut(tag).expect("inserted above")
    }

    fn find(&mut self, key: &str) -> Option<&mut TenantBook> {
        self.tenants.get_mut(hash_tag(key))
    }
}

#[derive(Default)]
struct TenantBook {
    windows: HashMap<String, WindowLease>,
    slots: HashMap<String, SlotLease>,
    /// Corrections owed to window buckets: (key, second) → delta.
    owed: HashMap<(String, i64), i64>,
}

struct WindowLease {
    /// The second whose bucket the units were charged to; they are only
    /// admitted in that second.
    second: i64,
    left: i64,
    /// The window's total in Redis after the lease was charged.
    seen: i64,
}

#[derive(Default)]
struct SlotLease {
    slots: Vec<String>,
    in_use: usize,
    /// When the earliest of `slots` expires in Redis.
    expires_ms: i64,
    taken_since_sweep: bool,
}

/// What a request gives back to the leases.
pub enum Back<'a> {
    /// A correction to what a window was charged (negative: units back).
    Units { key: &'a str, delta: i64 },
    /// A concurrency slot is free again.
    Slot(&'a str),
}

/// What a sweep sends to Redis for one tenant, and what it renewed.
pub struct Sweep {
    pub tag: String,
    pub ops: Vec<LeaseOp>,
}

impl Leases {
    pub fn new(leasing: Leasing) -> Self {
        Self {
            leasing,
            replica: uuid::Uuid::new_v4().simple().to_string(),
            grants: AtomicU64::new(0),
            book: Mutex::default(),
            refills: Mutex::default(),
        }
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The name prefix for the slots one admission call may take.
    pub fn slot_prefix(&self) -> String {
        let n = self.grants.fetch_add(1, Ordering::Relaxed);
        format!("{}:{n}", self.replica)
    }

    pub fn refill_lock(&self, tag: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut refills = self.refills.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(lock) = refills.get(tag) {
            return lock.clone();
        }
        refills.entry(tag.to_owned()).or_default().clone()
    }

    /// Admits ops `which` of a request from the leases where they suffice.
    /// `taken[i]` becomes op i's count before this request, as far as this
    /// replica knows, for each op taken here.
    pub fn take(&self, ops: &[Op], which: &[usize], now_ms: i64, taken: &mut [Option<i64>]) {
        let second = now_ms.div_euclid(1000);
        let margin = self.leasing.slot_ttl_ms() / 4;
        let mut book = self.book();
        for &i in which {
            taken[i] = match &ops[i] {
                Op::Window { key, amount, .. } => {
                    match book.find(key).and_then(|t| t.windows.get_mut(key)) {
                        Some(lease) if lease.second == second && lease.left >= *amount => {
                            let used = lease.seen - lease.left;
                            lease.left -= amount;
                            Some(used)
                        }
                        _ => None,
                    }
                }
                Op::Concurrency { key, .. } => {
                    match book.find(key).and_then(|t| t.slots.get_mut(key)) {
                        Some(lease)
                            if lease.slots.len() > lease.in_use
                                && lease.expires_ms - now_ms > margin =>
                        {
                            lease.in_use += 1;
                            lease.taken_since_sweep = true;
                            Some(lease.in_use as i64 - 1)
                        }
                        _ => None,
                    }
                }
                Op::Budget { .. } => None,
            };
        }
    }

    /// Undoes [`Leases::take`] for a request that was refused after all.
    pub fn give_back(&self, ops: &[Op], taken: &[Option<i64>], second: i64) {
        let back = ops
            .iter()
            .zip(taken)
            .filter(|(_, taken)| taken.is_some())
            .filter_map(|(op, _)| match op {
                Op::Window { key, amount, .. } => Some(Back::Units {
                    key,
                    delta: -amount,
                }),
                Op::Concurrency { key, .. } => Some(Back::Slot(key)),
                Op::Budget { .. } => None,
            });
        self.put_back(second, back);
    }

    /// Keeps what Redis granted beyond a request's own, for ops `which`
    /// (the ops of that call, in order).
    #[allow(clippy::too_many_arguments)]
    pub fn deposit(
        &self,
        ops: &[Op],
        which: &[usize],
        granted: &[i64],
        used: &[i64],
        second: i64,
        prefix: &str,
        now_ms: i64,
    ) {
        let mut book = self.book();
        for (j, &i) in which.iter().enumerate() {
            let grant = granted.get(j).copied().unwrap_or(0);
            let Some(key) = (match &ops[i] {
                Op::Window { key, .. } | Op::Concurrency { key, .. } => Some(key),
                Op::Budget { .. } => None,
            }) else {
                continue;
            };
            let book = book.of(key);
            match &ops[i] {
                // Kept even when nothing more was granted, so that what
                // the request gives back in its second is admitted here.
                Op::Window { key, amount, .. } => {
                    let seen = used[j] + amount + grant;
                    match book.windows.get_mut(key) {
                        Some(lease) if lease.second == second => {
                            lease.left += grant;
                            lease.seen = lease.seen.max(seen);
                        }
                        // A call from an earlier second answered late.
                        Some(lease) if lease.second > second => {
                            if grant > 0 {
                                *book.owed.entry((key.clone(), second)).or_default() -= grant;
                            }
                        }
                        old => {
                            if let Some(old) = old.filter(|l| l.left > 0) {
                                *book.owed.entry((key.clone(), old.second)).or_default() -=
                                    old.left;
                            }
                            book.windows.insert(
                                key.clone(),
                                WindowLease {
                                    second,
                                    left: grant,
                                    seen,
                                },
                            );
                        }
                    }
                }
                Op::Concurrency { key, .. } => {
                    let lease = book.slots.entry(key.clone()).or_default();
                    let until = now_ms + self.leasing.slot_ttl_ms();
                    lease.expires_ms = if lease.slots.is_empty() {
                        until
                    } else {
                        lease.expires_ms.min(until)
                    };
                    lease
                        .slots
                        .extend((0..=grant).map(|n| format!("{prefix}:{n}")));
                    // The request's own slot.
                    lease.in_use += 1;
                    lease.taken_since_sweep = true;
                }
                Op::Budget { .. } => {}
            }
        }
    }

    /// What requests charged in second `second` give back, under one lock:
    /// freed slots serve this replica's next requests; window units given
    /// back stay leased if their second is still on, otherwise they are
    /// owed to Redis, with any extra charge.
    pub fn put_back<'a>(&self, second: i64, back: impl IntoIterator<Item = Back<'a>>) {
        let mut book = self.book();
        for back in back {
            match back {
                Back::Slot(key) => {
                    if let Some(lease) = book.find(key).and_then(|t| t.slots.get_mut(key)) {
                        lease.in_use = lease.in_use.saturating_sub(1);
                    }
                }
                Back::Units { delta: 0, .. } => {}
                Back::Units { key, delta } => {
                    let tenant = book.of(key);
                    match tenant.windows.get_mut(key) {
                        Some(lease) if delta < 0 && lease.second == second => lease.left -= delta,
                        _ => *tenant.owed.entry((key.to_owned(), second)).or_default() += delta,
                    }
                }
            }
        }
    }

    /// What this replica owes tenant `tag`'s windows: units of seconds that
    /// ended and corrections, to apply before its next admission call so
    /// that call sees every unit this replica no longer holds.
    pub fn owed(&self, tag: &str, now_ms: i64) -> Sweep {
        let mut book = self.book();
        let ops = book
            .tenants
            .get_mut(tag)
            .map(|t| t.owed(now_ms.div_euclid(1000), false))
            .unwrap_or_default();
        Sweep {
            tag: tag.to_owned(),
            ops,
        }
    }

    /// Collects what goes back to Redis: units of seconds that ended, the
    /// corrections owed, idle slots (all of them when none was taken since
    /// the last sweep, half otherwise); and renews slots nearing expiry.
    /// `everything` returns all that is unused (at shutdown).
    pub fn sweep(&self, now_ms: i64, everything: bool) -> Vec<Sweep> {
        let ttl = self.leasing.slot_ttl_ms();
        let mut book = self.book();
        let mut sweeps = Vec::new();
        for (tag, tenant) in &mut book.tenants {
            let mut ops = tenant.owed(now_ms.div_euclid(1000), everything);
            tenant.slots.retain(|key, lease| {
                let free = lease.slots.len() - lease.in_use;
                let back = if everything || !lease.taken_since_sweep {
                    free
                } else {
                    free / 2
                };
                if back > 0 {
                    let slots = lease.slots.split_off(lease.slots.len() - back);
                    ops.push(LeaseOp::Release {
                        key: key.clone(),
                        slots,
                    });
                }
                lease.taken_since_sweep = false;
                if !lease.slots.is_empty() && lease.expires_ms - now_ms < ttl / 2 {
                    ops.push(LeaseOp::Renew {
                        key: key.clone(),
                        until_ms: now_ms + ttl,
                        slots: lease.slots.clone(),
                    });
                }
                !lease.slots.is_empty()
            });
            if !ops.is_empty() {
                sweeps.push(Sweep {
                    tag: tag.clone(),
                    ops,
                });
            }
        }
        book.tenants
            .retain(|_, t| !(t.windows.is_empty() && t.slots.is_empty() && t.owed.is_empty()));
        sweeps
    }

    /// After a sweep's call: renewed slots expire later; when the call
    /// failed, extra charges are owed again. Units given back are not: the
    /// call may have reached Redis, and giving them twice could let the
    /// limit be passed; until they leave the window they are only unused.
    pub fn swept(&self, sweep: Sweep, ok: bool) {
        let mut book = self.book();
        for op in sweep.ops {
            match op {
                LeaseOp::Renew { key, until_ms, .. } if ok => {
                    if let Some(lease) = book.find(&key).and_then(|t| t.slots.get_mut(&key)) {
                        lease.expires_ms = lease.expires_ms.max(until_ms);
                    }
                }
                LeaseOp::Window { key, second, delta } if !ok && delta > 0 => {
                    *book.of(&key).owed.entry((key, second)).or_default() += delta;
                }
                _ => {}
            }
        }
    }
}

impl TenantBook {
    /// Takes what this tenant's windows are owed: the unused units of
    /// seconds that ended (of every second, with `everything`) and the
    /// corrections.
    fn owed(&mut self, second: i64, everything: bool) -> Vec<LeaseOp> {
        let owed = &mut self.owed;
        self.windows.retain(|key, lease| {
            let ended = everything || lease.second != second;
            if ended && lease.left > 0 {
                *owed.entry((key.clone(), lease.second)).or_default() -= lease.left;
            }
            !ended
        });
        owed.drain()
            .filter(|(_, delta)| *delta != 0)
            .map(|((key, second), delta)| LeaseOp::Window { key, second, delta })
            .collect()
    }
}

/// A key's hash tag, `{t:<tenant>}`: what one settle call may touch.
fn hash_tag(key: &str) -> &str {
    key.find('}').map_or(key, |end| &key[..=end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(amount: i64) -> Op {
        Op::Window {
            key: "{t:a}:rl:1:r".into(),
            limit: 100,
            amount,
        }
    }

    fn slots() -> Op {
        Op::Concurrency {
            key: "{t:a}:rl:1:c".into(),
            limit: 10,
        }
    }

    fn units(key: &str, delta: i64) -> Back<'_> {
        Back::Units { key, delta }
    }

    fn taken(leases: &Leases, ops: &[Op], now_ms: i64) -> Vec<Option<i64>> {
        let mut taken = vec![None; ops.len()];
        let all: Vec<usize> = (0..ops.len()).collect();
        leases.take(ops, &all, now_ms, &mut taken);
        taken
    }

    #[test]
    fn window_units_are_admitted_only_in_their_second_then_returned() {
        let leases = Leases::new(Leasing::default());
        let ops = [window(1)];
        assert_eq!(taken(&leases, &ops, 5_000), [None]);
        // Redis charged 1 + 3 with 10 used before: 3 units leased.
        leases.deposit(&ops, &[0], &[3], &[10], 5, "p", 5_000);
        assert_eq!(taken(&leases, &ops, 5_100), [Some(11)]);
        assert_eq!(taken(&leases, &ops, 5_200), [Some(12)]);
        // The next second needs a lease of its own.
        assert_eq!(taken(&leases, &ops, 6_000), [None]);
        let sweep = leases.sweep(6_000, false);
        assert_eq!(sweep.len(), 1);
        assert_eq!(sweep[0].tag, "{t:a}");
        assert_eq!(
            sweep[0].ops,
            [LeaseOp::Window {
                key: "{t:a}:rl:1:r".into(),
                second: 5,
                delta: -1
            }]
        );
        assert!(leases.sweep(6_000, false).is_empty());
    }

    #[test]
    fn refunds_in_the_same_second_stay_leased_and_later_ones_are_owed() {
        let leases = Leases::new(Leasing::default());
        let ops = [window(10)];
        // Charged 10 + 5; the request then gives its 10 back.
        leases.deposit(&ops, &[0], &[5], &[0], 5, "p", 5_000);
        leases.put_back(5, [units("{t:a}:rl:1:r", -10)]);
        assert_eq!(taken(&leases, &ops, 5_500), [Some(0)]);
        assert_eq!(taken(&leases, &ops, 5_500), [None]);
        leases.put_back(4, [units("{t:a}:rl:1:r", -3)]);
        leases.put_back(5, [units("{t:a}:rl:1:r", 7)]);
        let mut owed: Vec<LeaseOp> = leases.sweep(5_900, false).remove(0).ops;
        owed.sort_by_key(|op| match op {
            LeaseOp::Window { second, .. } => *second,
            _ => 0,
        });
        assert_eq!(
            owed,
            [
                LeaseOp::Window {
                    key: "{t:a}:rl:1:r".into(),
                    second: 4,
                    delta: -3
                },
                LeaseOp::Window {
                    key: "{t:a}:rl:1:r".into(),
                    second: 5,
                    delta: 7
                }
            ]
        );
    }

    #[test]
    fn slots_are_reused_then_returned_when_idle_and_renewed_when_held() {
        let leasing = Leasing {
            slot_ttl: Duration::from_secs(20),
            ..Leasing::default()
        };
        let leases = Leases::new(leasing);
        let key = "{t:a}:rl:1:c";
        let ops = [slots()];
        leases.deposit(&ops, &[0], &[2], &[0], 0, "r:1", 0);
        // The request holds one of three slots; two more are admitted here.
        assert_eq!(taken(&leases, &ops, 100), [Some(1)]);
        assert_eq!(taken(&leases, &ops, 100), [Some(2)]);
        assert_eq!(taken(&leases, &ops, 100), [None]);
        leases.put_back(0, [Back::Slot(key)]);
        assert_eq!(taken(&leases, &ops, 200), [Some(2)]);
        leases.put_back(0, [Back::Slot(key)]);
        leases.put_back(0, [Back::Slot(key)]);
        // Busy since the last sweep: half of the two free slots go back.
        let sweep = leases.sweep(1_000, false).remove(0);
        assert_eq!(
            sweep.ops,
            [LeaseOp::Release {
                key: key.into(),
                slots: vec!["r:1:2".into()]
            }]
        );
        // Idle: the rest of the free ones; the held one is renewed later.
        let sweep = leases.sweep(2_000, false).remove(0);
        assert_eq!(
            sweep.ops,
            [LeaseOp::Release {
                key: key.into(),
                slots: vec!["r:1:1".into()]
            }]
        );
        let sweep = leases.sweep(11_000, false).remove(0);
        assert_eq!(
            sweep.ops,
            [LeaseOp::Renew {
                key: key.into(),
                until_ms: 31_000,
                slots: vec!["r:1:0".into()]
            }]
        );
        leases.swept(sweep, true);
        assert!(leases.sweep(12_000, false).is_empty());
        // Slots near their expiry are not admitted from.
        leases.put_back(0, [Back::Slot(key)]);
        assert_eq!(taken(&leases, &ops, 29_000), [None]);
    }

    #[test]
    fn a_refused_request_gives_its_units_back_to_the_lease() {
        let leases = Leases::new(Leasing::default());
        let ops = [window(1), slots()];
        leases.deposit(&ops, &[0, 1], &[4, 0], &[0, 0], 1, "p", 1_000);
        leases.put_back(1, [Back::Slot("{t:a}:rl:1:c")]);
        let got = taken(&leases, &ops, 1_500);
        assert_eq!(got, [Some(1), Some(0)]);
        leases.give_back(&ops, &got, 1);
        assert_eq!(taken(&leases, &ops, 1_600), [Some(1), Some(0)]);
    }

    #[test]
    fn a_tenants_admission_call_takes_only_what_that_tenant_is_owed() {
        let leases = Leases::new(Leasing::default());
        leases.put_back(3, [units("{t:a}:rl:1:r", -1)]);
        leases.put_back(3, [units("{t:b}:rl:2:r", -2)]);
        let owed = leases.owed("{t:a}", 9_000);
        assert_eq!(
            owed.ops,
            [LeaseOp::Window {
                key: "{t:a}:rl:1:r".into(),
                second: 3,
                delta: -1
            }]
        );
        let rest = leases.sweep(9_000, false);
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].tag, "{t:b}");
        assert!(leases.owed("{t:a}", 9_000).ops.is_empty());
    }

    #[test]
    fn a_failed_sweep_owes_extra_charges_again_but_never_refunds_twice() {
        let leases = Leases::new(Leasing::default());
        leases.put_back(3, [units("{t:a}:rl:1:t", 40)]);
        leases.put_back(3, [units("{t:a}:rl:1:r", -1)]);
        let sweep = leases.sweep(9_000, false).remove(0);
        assert_eq!(sweep.ops.len(), 2);
        leases.swept(sweep, false);
        let again = leases.sweep(9_000, false).remove(0);
        assert_eq!(
            again.ops,
            [LeaseOp::Window {
                key: "{t:a}:rl:1:t".into(),
                second: 3,
                delta: 40
            }]
        );
    }
}
