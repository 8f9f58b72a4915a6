//! Where limit and budget counters live: Redis, shared by every replica, or
//! this process when there is no Redis (the same rules, one replica only).
//! Both speak the same protocol: admit (check and charge every counter of a
//! request, all or nothing), finish (settle it) and init (start a budget
//! counter from the ledger).

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;

use super::local::LocalCounters;

/// One counter a request is checked against and charged to.
#[derive(Clone, Debug)]
pub enum Op {
    /// Sliding 60 s window (requests or tokens).
    Window {
        key: String,
        limit: i64,
        amount: i64,
    },
    /// Requests in flight.
    Concurrency { key: String, limit: i64 },
    /// A budget counter's field (`t` tokens or `c` pico-USD).
    Budget {
        key: String,
        field: &'static str,
        limit: i64,
        amount: i64,
        soft: Option<i64>,
    },
}

impl Op {
    pub fn key(&self) -> &str {
        match self {
            Op::Window { key, .. } | Op::Concurrency { key, .. } | Op::Budget { key, .. } => key,
        }
    }
}

pub struct Admit<'a> {
    /// `{t:<tenant>}`: every key of a request shares it.
    pub tag: &'a str,
    pub request_id: &'a str,
    pub now_ms: i64,
    pub lease_ms: i64,
    /// Kept with a budget reservation for the reaper.
    pub details: &'a str,
    pub ops: &'a [Op],
    /// Units (windows) or slots (concurrency) op i may take beyond its own
    /// as a lease for this replica; empty: none.
    pub extras: &'a [i64],
    /// A lease is at most this fraction of the headroom a request leaves.
    pub divisor: i64,
    /// Concurrency slots taken by this call are named `<slots>:<n>`.
    pub slots: &'a str,
    pub slot_ttl_ms: i64,
}

impl Admit<'_> {
    pub fn extra(&self, op: usize) -> i64 {
        self.extras.get(op).copied().unwrap_or(0)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Charged. `used[i]` is op i's count before this request; `soft[i]`
    /// whether this request crossed op i's soft threshold first; `granted[i]`
    /// what op i leased beyond the request's own (empty: nothing).
    Admitted {
        second: i64,
        used: Vec<i64>,
        soft: Vec<bool>,
        granted: Vec<i64>,
    },
    Refused {
        op: usize,
        retry_after_ms: i64,
        used: i64,
    },
    /// Op `op`'s budget counter must be started from the ledger first.
    NeedsInit { op: usize },
}

/// How one op is settled.
#[derive(Clone, Debug)]
pub enum Settle {
    Window {
        key: String,
        delta: i64,
    },
    Release {
        key: String,
    },
    Budget {
        key: String,
        field: &'static str,
        delta: i64,
        actual: i64,
    },
}

/// What a replica returns or renews of its leases, in one call per tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseOp {
    /// Add `delta` to second `second`'s bucket of a window.
    Window {
        key: String,
        second: i64,
        delta: i64,
    },
    /// These concurrency slots now expire at `until_ms`.
    Renew {
        key: String,
        until_ms: i64,
        slots: Vec<String>,
    },
    /// Free these concurrency slots.
    Release { key: String, slots: Vec<String> },
}

impl LeaseOp {
    pub fn key(&self) -> &str {
        match self {
            LeaseOp::Window { key, .. }
            | LeaseOp::Renew { key, .. }
            | LeaseOp::Release { key, .. } => key,
        }
    }
}

pub struct Finish<'a> {
    pub tag: &'a str,
    pub request_id: &'a str,
    pub second: i64,
    pub admitted_ms: i64,
    pub ops: &'a [Settle],
}

/// A tenant's budget reservations: request id → `<lease expiry ms>|<details>`.
pub fn reservations_key(tag: &str) -> String {
    format!("{tag}:resvs")
}

#[derive(Clone)]
pub enum Counters {
    Redis(RedisCounters),
    Local(LocalCounters),
}

#[derive(Clone)]
pub struct RedisCounters {
    conn: Conn,
    admit: std::sync::Arc<redis::Script>,
    finish: std::sync::Arc<redis::Script>,
    settle: std::sync::Arc<redis::Script>,
    init: std::sync::Arc<redis::Script>,
}

#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// How long a counter operation may take before the request is refused
/// (budgets) or let through (rate limits configured to fail open).
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);

impl RedisCounters {
    /// Connects lazily: a replica starts while Redis is down and counts
    /// requests once it answers.
    pub async fn connect(urls: &[String], cluster: bool) -> Result<Self, String> {
        let conn = if cluster {
            let client = redis::cluster::ClusterClient::builder(urls.iter().map(String::as_str))
                .connection_timeout(Duration::from_secs(1))
                .response_timeout(RESPONSE_TIMEOUT)
                .retries(2)
                .build()
                .map_err(|e| format!("invalid Redis Cluster nodes: {e}"))?;
            let conn = client
                .get_async_connection()
                .await
                .map_err(|e| format!("cannot connect to the Redis Cluster: {e}"))?;
            Conn::Cluster(conn)
        } else {
            let url = urls.first().ok_or("no Redis URL")?;
            let client =
                redis::Client::open(url.as_str()).map_err(|e| format!("invalid Redis URL: {e}"))?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(Duration::from_secs(1)))
                .set_response_timeout(Some(RESPONSE_TIMEOUT))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_millis(500));
            let conn = ConnectionManager::new_lazy_with_config(client, config)
                .map_err(|e| format!("cannot set up the Redis connection: {e}"))?;
            Conn::Single(conn)
        };
        Ok(Self {
            conn,
            admit: std::sync::Arc::new(redis::Script::new(include_str!("admit.lua"))),
            finish: std::sync::Arc::new(redis::Script::new(include_str!("finish.lua"))),
            settle: std::sync::Arc::new(redis::Script::new(include_str!("settle.lua"))),
            init: std::sync::Arc::new(redis::Script::new(include_str!("init.lua"))),
        })
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, String> {
        bounded(async {
            match self.conn.clone() {
                Conn::Single(mut c) => invocation.invoke_async(&mut c).await,
                Conn::Cluster(mut c) => invocation.invoke_async(&mut c).await,
            }
        })
        .await
    }

    async fn admit(&self, a: &Admit<'_>) -> Result<Verdict, String> {
        let mut inv = self.admit.prepare_invoke();
        inv.key(reservations_key(a.tag))
            .arg(a.now_ms)
            .arg(a.request_id)
            .arg(a.lease_ms)
            .arg(a.details)
            .arg(a.divisor.max(1));
        for (i, op) in a.ops.iter().enumerate() {
            inv.key(op.key());
            let index = i + 2;
            match op {
                Op::Window { limit, amount, .. } => inv
                    .arg("w")
                    .arg(index)
                    .arg(limit)
                    .arg(amount)
                    .arg("")
                    .arg(""),
                Op::Concurrency { limit, .. } => inv
                    .arg("c")
                    .arg(index)
                    .arg(limit)
                    .arg(1)
                    .arg(a.slots)
                    .arg(a.slot_ttl_ms),
                Op::Budget {
                    field,
                    limit,
                    amount,
                    soft,
                    ..
                } => inv
                    .arg("b")
                    .arg(index)
                    .arg(headroom(*limit, *amount))
                    .arg(amount)
                    .arg(*field)
                    .arg(soft.map_or(String::new(), |s| headroom(s, *amount))),
            };
            inv.arg(a.extra(i));
        }
        let reply: Vec<redis::Value> = self.run(&inv).await?;
        parse_verdict(&reply, a.ops.len())
    }

    /// Settles the budget reservations of `batch` (requests of one tenant);
    /// whether each was settled by this call. Window and concurrency
    /// settles go through the replica's leases instead
    /// ([`RedisCounters::settle`]).
    pub(super) async fn finish(&self, batch: &[Finish<'_>]) -> Result<Vec<bool>, String> {
        let Some(first) = batch.first() else {
            return Ok(Vec::new());
        };
        let mut inv = self.finish.prepare_invoke();
        inv.key(reservations_key(first.tag));
        let mut index = 1;
        for f in batch {
            let budgets: Vec<_> = f
                .ops
                .iter()
                .filter_map(|op| match op {
                    Settle::Budget {
                        key,
                        field,
                        delta,
                        actual,
                    } => Some((key, field, delta, actual)),
                    _ => None,
                })
                .collect();
            inv.arg(f.request_id).arg(f.admitted_ms).arg(budgets.len());
            for (key, field, delta, actual) in budgets {
                index += 1;
                inv.key(key).arg(index).arg(*field).arg(delta).arg(actual);
            }
        }
        let settled: Vec<i64> = self.run(&inv).await?;
        if settled.len() != batch.len() {
            return Err(format!(
                "unexpected reply from the settlement script: {settled:?}"
            ));
        }
        Ok(settled.into_iter().map(|s| s == 1).collect())
    }

    /// Returns and renews leases of one tenant (`ops` share its hash tag).
    pub(super) async fn settle(&self, now_ms: i64, ops: &[LeaseOp]) -> Result<(), String> {
        let mut inv = self.settle.prepare_invoke();
        inv.arg(now_ms);
        for (i, op) in ops.iter().enumerate() {
            inv.key(op.key());
            let index = i + 1;
            match op {
                LeaseOp::Window { second, delta, .. } => {
                    inv.arg("w").arg(index).arg(second).arg(delta)
                }
                LeaseOp::Renew {
                    until_ms, slots, ..
                } => inv.arg("r").arg(index).arg(until_ms).arg(slots.join(" ")),
                LeaseOp::Release { slots, .. } => {
                    inv.arg("x").arg(index).arg("").arg(slots.join(" "))
                }
            };
        }
        let _: i64 = self.run(&inv).await?;
        Ok(())
    }

    async fn init(
        &self,
        key: &str,
        now_ms: i64,
        tokens: i64,
        cost: i64,
        ttl_s: i64,
    ) -> Result<(), String> {
        let mut inv = self.init.prepare_invoke();
        inv.key(key).arg(now_ms).arg(tokens).arg(cost).arg(ttl_s);
        let _: i64 = self.run(&inv).await?;
        Ok(())
    }

    /// Up to `limit` reservations of `tag` whose lease ended before `now_ms`,
    /// with their details.
    pub async fn expired_reservations(
        &self,
        tag: &str,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<(String, Option<String>)>, String> {
        let mut all = redis::pipe();
        all.cmd("HGETALL").arg(reservations_key(tag));
        let (reservations,): (Vec<(String, String)>,) = self.query(&all).await?;
        Ok(reservations
            .into_iter()
            .filter_map(|(id, value)| {
                let (until, details) = value.split_once('|')?;
                (until.parse::<i64>().ok()? < now_ms).then(|| (id, Some(details.to_owned())))
            })
            .take(limit)
            .collect())
    }

    async fn query<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline) -> Result<T, String> {
        bounded(async {
            match self.conn.clone() {
                Conn::Single(mut c) => pipe.query_async(&mut c).await,
                Conn::Cluster(mut c) => pipe.query_async(&mut c).await,
            }
        })
        .await
    }
}

/// Runs a Redis call within the response timeout; errors as text.
async fn bounded<T>(call: impl Future<Output = redis::RedisResult<T>>) -> Result<T, String> {
    match tokio::time::timeout(RESPONSE_TIMEOUT * 2, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("Redis did not answer in time".into()),
    }
}

/// `limit - amount` as the decimal string the script compares, or `-` when
/// the amount alone exceeds the limit.
fn headroom(limit: i64, amount: i64) -> String {
    match limit.checked_sub(amount) {
        Some(room) if room >= 0 => room.to_string(),
        _ => "-".into(),
    }
}

fn parse_verdict(reply: &[redis::Value], ops: usize) -> Result<Verdict, String> {
    fn int(v: Option<&redis::Value>) -> Option<i64> {
        match v? {
            redis::Value::Int(i) => Some(*i),
            redis::Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            redis::Value::SimpleString(s) => s.parse().ok(),
            _ => None,
        }
    }
    let bad = || format!("unexpected reply from the limits script: {reply:?}");
    let op = |v: Option<&redis::Value>| -> Result<usize, String> {
        int(v)
            .and_then(|i| usize::try_from(i).ok())
            .filter(|i| (1..=ops).contains(i))
            .map(|i| i - 1)
            .ok_or_else(bad)
    };
    match int(reply.first()) {
        Some(1) => {
            let second = int(reply.get(1)).ok_or_else(bad)?;
            let mut used = Vec::with_capacity(ops);
            let mut soft = Vec::with_capacity(ops);
            let granted = reply
                .iter()
                .skip(2 + ops)
                .map(|v| int(Some(v)).ok_or_else(bad))
                .collect::<Result<Vec<i64>, String>>()?;
            for value in reply.iter().skip(2).take(ops) {
                let text = match value {
                    redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                    redis::Value::SimpleString(s) => s.clone(),
                    redis::Value::Int(i) => i.to_string(),
                    _ => return Err(bad()),
                };
                let crossed = text.ends_with('!');
                used.push(text.trim_end_matches('!').parse().unwrap_or(i64::MAX));
                soft.push(crossed);
            }
            if used.len() != ops || granted.len() != ops {
                return Err(bad());
            }
            Ok(Verdict::Admitted {
                second,
                used,
                soft,
                granted,
            })
        }
        Some(0) => Ok(Verdict::Refused {
            op: op(reply.get(1))?,
            retry_after_ms: int(reply.get(2)).ok_or_else(bad)?,
            used: int(reply.get(3)).unwrap_or(0),
        }),
        Some(-1) => Ok(Verdict::NeedsInit {
            op: op(reply.get(1))?,
        }),
        _ => Err(bad()),
    }
}

impl Counters {
    pub async fn admit(&self, a: &Admit<'_>) -> Result<Verdict, String> {
        match self {
            Counters::Redis(r) => r.admit(a).await,
            Counters::Local(l) => Ok(l.admit(a)),
        }
    }

    pub async fn init(
        &self,
        key: &str,
        now_ms: i64,
        tokens: i64,
        cost: i64,
        ttl_s: i64,
    ) -> Result<(), String> {
        match self {
            Counters::Redis(r) => r.init(key, now_ms, tokens, cost, ttl_s).await,
            Counters::Local(l) => {
                l.init(key, now_ms, tokens, cost);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admission_reply_carries_counts_soft_crossings_and_grants() {
        use redis::Value::{BulkString, Int};
        let reply = [
            Int(1),
            Int(5),
            BulkString(b"3".to_vec()),
            BulkString(b"7!".to_vec()),
            Int(2),
            Int(0),
        ];
        assert_eq!(
            parse_verdict(&reply, 2),
            Ok(Verdict::Admitted {
                second: 5,
                used: vec![3, 7],
                soft: vec![false, true],
                granted: vec![2, 0],
            })
        );
        // A grant missing is a reply this build does not understand.
        assert!(parse_verdict(&reply[..5], 2).is_err());
    }

    #[test]
    fn headroom_is_exact_beyond_doubles() {
        assert_eq!(headroom(i64::MAX, 1), (i64::MAX - 1).to_string());
        assert_eq!(headroom(5, 6), "-");
        assert_eq!(headroom(5, 5), "0");
    }
}
