//! Counters and gauges of this replica's data plane, rendered in the
//! Prometheus text format. Plain atomics: recording costs a relaxed add.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::snapshot::Snapshot;

#[derive(Default)]
pub struct Metrics {
    /// Responses by status class (index 1–5 for 1xx–5xx).
    responses: [AtomicU64; 6],
    /// Tries beyond the first, across requests.
    pub(crate) retries: AtomicU64,
    pub(crate) snapshot_reloads: AtomicU64,
    pub(crate) snapshot_reload_failures: AtomicU64,
    pub(crate) usage_written: AtomicU64,
    pub(crate) usage_write_failures: AtomicU64,
    pub(crate) usage_spooled: AtomicU64,
    pub(crate) limit_refusals: AtomicU64,
    pub(crate) limits_store_errors: AtomicU64,
    pub(crate) limits_store_calls: AtomicU64,
    pub(crate) budget_soft_limits: AtomicU64,
    pub(crate) reservations_reaped: AtomicU64,
}

/// How one upstream attempt went, per backend.
#[derive(Default)]
pub struct AttemptCounters {
    pub ok: AtomicU64,
    pub failed_status: AtomicU64,
    pub rate_limited: AtomicU64,
    pub timeout: AtomicU64,
    pub unreachable: AtomicU64,
}

impl Metrics {
    pub(crate) fn response(&self, status: u16) {
        let class = usize::from(status / 100).min(5);
        self.responses[class].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn render(&self, snapshot: &Snapshot, usage_queue_free: usize) -> String {
        let mut out = String::with_capacity(4096);
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let header = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        header(
            &mut out,
            "ditto_gateway_responses_total",
            "counter",
            "Responses by status class.",
        );
        for (class, counter) in self.responses.iter().enumerate().skip(1) {
            let _ = writeln!(
                out,
                "ditto_gateway_responses_total{{class=\"{class}xx\"}} {}",
                get(counter)
            );
        }
        let simple = [
            (
                "ditto_gateway_retries_total",
                "counter",
                "Upstream tries beyond the first.",
                get(&self.retries),
            ),
            (
                "ditto_gateway_snapshot_reloads_total",
                "counter",
                "Snapshot loads (full or one tenant).",
                get(&self.snapshot_reloads),
            ),
            (
                "ditto_gateway_snapshot_reload_failures_total",
                "counter",
                "Snapshot loads that failed; the previous snapshot kept serving.",
                get(&self.snapshot_reload_failures),
            ),
            (
                "ditto_gateway_snapshot_tenants",
                "gauge",
                "Tenants in the snapshot.",
                snapshot.tenant_count() as u64,
            ),
            (
                "ditto_gateway_snapshot_keys",
                "gauge",
                "API keys in the snapshot.",
                snapshot.key_count() as u64,
            ),
            (
                "ditto_gateway_usage_written_total",
                "counter",
                "Usage events written to the database.",
                get(&self.usage_written),
            ),
            (
                "ditto_gateway_usage_write_failures_total",
                "counter",
                "Failed usage batch writes (retried).",
                get(&self.usage_write_failures),
            ),
            (
                "ditto_gateway_usage_spooled_total",
                "counter",
                "Usage events spooled to disk while the database was unreachable.",
                get(&self.usage_spooled),
            ),
            (
                "ditto_gateway_limit_refusals_total",
                "counter",
                "Requests refused by a rate limit or budget.",
                get(&self.limit_refusals),
            ),
            (
                "ditto_gateway_limits_store_errors_total",
                "counter",
                "Failed calls to the limits store (Redis): refused requests or late settlements.",
                get(&self.limits_store_errors),
            ),
            (
                "ditto_gateway_limits_store_calls_total",
                "counter",
                "Calls to the limits store (Redis); with leases, far fewer than governed requests.",
                get(&self.limits_store_calls),
            ),
            (
                "ditto_gateway_budget_soft_limits_total",
                "counter",
                "Budgets that crossed their soft limit (once per budget and period).",
                get(&self.budget_soft_limits),
            ),
            (
                "ditto_gateway_reservations_reaped_total",
                "counter",
                "Budget reservations of stopped replicas settled by the reaper.",
                get(&self.reservations_reaped),
            ),
            (
                "ditto_gateway_usage_queue_free",
                "gauge",
                "Free slots in the usage queue.",
                usage_queue_free as u64,
            ),
        ];
        for (name, kind, help, value) in simple {
            header(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        }
        header(
            &mut out,
            "ditto_gateway_upstream_attempts_total",
            "counter",
            "Upstream attempts by backend and outcome.",
        );
        let backends: Vec<_> = snapshot.backends().collect();
        for backend in &backends {
            let a = &backend.runtime.attempts;
            for (outcome, counter) in [
                ("ok", &a.ok),
                ("failed_status", &a.failed_status),
                ("rate_limited", &a.rate_limited),
                ("timeout", &a.timeout),
                ("unreachable", &a.unreachable),
            ] {
                let _ = writeln!(
                    out,
                    "ditto_gateway_upstream_attempts_total{{backend=\"{}\",outcome=\"{outcome}\"}} {}",
                    backend.id,
                    get(counter)
                );
            }
        }
        header(
            &mut out,
            "ditto_gateway_backend_in_flight",
            "gauge",
            "Requests in flight per backend.",
        );
        for backend in &backends {
            let _ = writeln!(
                out,
                "ditto_gateway_backend_in_flight{{backend=\"{}\"}} {}",
                backend.id,
                backend.runtime.in_flight()
            );
        }
        header(
            &mut out,
            "ditto_gateway_backend_breaker_open",
            "gauge",
            "1 while a backend's circuit breaker refuses traffic.",
        );
        for backend in &backends {
            let open = u8::from(backend.runtime.breaker().is_open());
            let _ = writeln!(
                out,
                "ditto_gateway_backend_breaker_open{{backend=\"{}\"}} {open}",
                backend.id
            );
        }
        out
    }
}
