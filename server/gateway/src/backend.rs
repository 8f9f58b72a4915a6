//! Backends as the request path sees them, and their per-replica runtime
//! state (HTTP client, in-flight count, circuit breaker), which outlives
//! snapshot reloads.

use ditto_egress::EgressPolicy;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderName, HeaderValue, Uri, header};
use ditto_core::crypto::MasterKey;
use ditto_store::gateway::GatewayBackendRow;
use ditto_types::api::Provider;
use uuid::Uuid;

use crate::providers::Adapter;
use crate::upstream::{Client, Origin};

/// Breaker settings.
#[derive(Clone, Copy, Debug)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// How long an open breaker refuses traffic before letting one probe through.
    pub cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cooldown: Duration::from_secs(10),
        }
    }
}

pub struct Backend {
    pub id: Uuid,
    pub name: String,
    /// `base_url` parsed, for the protocols that build their own paths.
    pub base: Option<url::Url>,
    /// `base_url` split once, so requests only append their path.
    pub origin: Option<Origin>,
    /// The protocol it speaks; `None` for OpenAI-compatible backends.
    pub adapter: Option<Adapter>,
    /// The credentials header: `Authorization: Bearer <credentials>` for
    /// OpenAI-compatible backends, the provider's own header otherwise;
    /// marked sensitive so it is never logged.
    pub credential: Option<(HeaderName, HeaderValue)>,
    /// Why the credentials could not be used, if they could not.
    pub credential_error: Option<&'static str>,
    /// Time allowed until the response headers arrive.
    pub timeout: Duration,
    pub max_in_flight: Option<u32>,
    pub runtime: Arc<Runtime>,
}

pub struct Runtime {
    pub client: Client,
    connect_timeout: Duration,
    in_flight: AtomicU32,
    breaker: Breaker,
    pub attempts: crate::metrics::AttemptCounters,
}

/// Runtime state by backend id, reused across snapshot reloads.
pub struct Registry {
    runtimes: Mutex<HashMap<Uuid, Arc<Runtime>>>,
    breaker: BreakerConfig,
    /// Where backends' connections may go.
    egress: EgressPolicy,
}

impl Registry {
    pub fn new(breaker: BreakerConfig, egress: EgressPolicy) -> Self {
        Self {
            runtimes: Mutex::default(),
            breaker,
            egress,
        }
    }

    /// Forgets the runtime state of backends that no longer exist.
    pub fn retain(&self, live: &std::collections::HashSet<Uuid>) {
        self.runtimes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|id, _| live.contains(id));
    }

    pub fn backend(&self, row: GatewayBackendRow, master_key: Option<&MasterKey>) -> Arc<Backend> {
        let connect_timeout = Duration::from_millis(row.connect_timeout_ms.max(1) as u64);
        let runtime = {
            let mut runtimes = self.runtimes.lock().unwrap_or_else(|e| e.into_inner());
            match runtimes.get(&row.id) {
                Some(existing) if existing.connect_timeout == connect_timeout => existing.clone(),
                _ => {
                    let fresh = Arc::new(Runtime::new(connect_timeout, self.breaker, &self.egress));
                    runtimes.insert(row.id, fresh.clone());
                    fresh
                }
            }
        };
        let provider = Provider::parse(&row.provider);
        if provider.is_none() {
            tracing::error!(backend = %row.id, provider = %row.provider, "unknown provider; treated as OpenAI-compatible");
        }
        let adapter = provider.and_then(Adapter::of);
        let (credential, credential_error) = match (&row.credentials, master_key) {
            (None, _) => (None, None),
            (Some(_), None) => (
                None,
                Some("the gateway has no master key to decrypt this backend's credentials"),
            ),
            (Some(sealed), Some(key)) => match key.decrypt(sealed, row.id.as_bytes()) {
                Ok(plain) => {
                    let (name, value) = match adapter {
                        None => (
                            header::AUTHORIZATION,
                            HeaderValue::from_bytes(&[b"Bearer ".as_slice(), &plain].concat()),
                        ),
                        Some(adapter) => {
                            (adapter.credential_header(), HeaderValue::from_bytes(&plain))
                        }
                    };
                    match value {
                        Ok(mut value) => {
                            value.set_sensitive(true);
                            (Some((name, value)), None)
                        }
                        Err(_) => (
                            None,
                            Some("this backend's credentials are not a valid header value"),
                        ),
                    }
                }
                Err(_) => (
                    None,
                    Some("this backend's credentials do not decrypt with the gateway's master key"),
                ),
            },
        };
        if let Some(problem) = credential_error {
            tracing::error!(backend = %row.id, name = %row.name, "{problem}");
        }
        Arc::new(Backend {
            id: row.id,
            name: row.name,
            base: url::Url::parse(&row.base_url).ok(),
            origin: Origin::parse(&row.base_url),
            adapter,
            credential,
            credential_error,
            timeout: Duration::from_millis(row.timeout_ms.max(1) as u64),
            max_in_flight: row.max_in_flight.map(|n| n as u32),
            runtime,
        })
    }
}

impl Runtime {
    fn new(connect_timeout: Duration, breaker: BreakerConfig, egress: &EgressPolicy) -> Self {
        Self {
            client: Client::new(connect_timeout, egress.clone()),
            connect_timeout,
            in_flight: AtomicU32::new(0),
            breaker: Breaker::new(breaker),
            attempts: Default::default(),
        }
    }

    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }
}

impl Backend {
    /// The upstream URI for `path` (relative to the API root) and `query`,
    /// both URI-encoded as the client sent them.
    pub fn uri(&self, path: &str, query: Option<&str>) -> Option<Uri> {
        self.origin.as_ref()?.uri(path, query)
    }

    /// Takes one of the backend's in-flight slots, if one is free.
    pub fn try_acquire(self: &Arc<Self>) -> Option<InFlight> {
        let counter = &self.runtime.in_flight;
        match self.max_in_flight {
            None => {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            Some(max) => {
                counter
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                        (n < max).then_some(n + 1)
                    })
                    .ok()?;
            }
        }
        Some(InFlight(self.clone()))
    }
}

/// An in-flight slot, given back when dropped (also when a client goes away mid-stream).
pub struct InFlight(Arc<Backend>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.runtime.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A consecutive-failure circuit breaker: closed, open for a cooldown, then
/// half-open with a single probe whose outcome closes or re-opens it.
pub struct Breaker {
    config: BreakerConfig,
    state: Mutex<BreakerState>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BreakerState {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// What the breaker says about a backend.
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerStatus {
    Closed,
    Open,
    HalfOpen,
}

impl Breaker {
    fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            state: Mutex::new(BreakerState::Closed { failures: 0 }),
        }
    }

    #[cfg(test)]
    pub fn status(&self) -> BreakerStatus {
        match *self.state.lock().unwrap_or_else(|e| e.into_inner()) {
            BreakerState::Closed { .. } => BreakerStatus::Closed,
            BreakerState::Open { .. } => BreakerStatus::Open,
            BreakerState::HalfOpen { .. } => BreakerStatus::HalfOpen,
        }
    }

    /// Whether the breaker currently refuses traffic (open, cooldown running).
    pub fn is_open(&self) -> bool {
        matches!(
            *self.state.lock().unwrap_or_else(|e| e.into_inner()),
            BreakerState::Open { until } if Instant::now() < until
        )
    }

    /// Whether a request may go to the backend now.
    pub fn allow(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match *state {
            BreakerState::Closed { .. } => true,
            BreakerState::Open { until } if Instant::now() >= until => {
                *state = BreakerState::HalfOpen { probing: true };
                true
            }
            BreakerState::Open { .. } => false,
            BreakerState::HalfOpen { probing: false } => {
                *state = BreakerState::HalfOpen { probing: true };
                true
            }
            BreakerState::HalfOpen { probing: true } => false,
        }
    }

    /// Records an active health check: a failure counts like a request's; a
    /// success closes an open breaker at once.
    pub fn record_probe(&self, backend: &str, healthy: bool) {
        let open = !matches!(
            *self.state.lock().unwrap_or_else(|e| e.into_inner()),
            BreakerState::Closed { .. }
        );
        if !healthy || open {
            self.record(backend, healthy);
        }
    }

    /// Records an outcome; logs when the breaker opens or closes.
    pub fn record(&self, backend: &str, success: bool) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let before = *state;
        *state = match (before, success) {
            (_, true) => BreakerState::Closed { failures: 0 },
            (BreakerState::Closed { failures }, false)
                if failures + 1 < self.config.failure_threshold =>
            {
                BreakerState::Closed {
                    failures: failures + 1,
                }
            }
            (_, false) => BreakerState::Open {
                until: Instant::now() + self.config.cooldown,
            },
        };
        match (before, *state) {
            (BreakerState::Closed { .. }, BreakerState::Open { .. }) => {
                tracing::warn!(backend, cooldown = ?self.config.cooldown, "circuit breaker opened")
            }
            (BreakerState::HalfOpen { .. }, BreakerState::Open { .. }) => {
                tracing::warn!(backend, "circuit breaker probe failed; open again")
            }
            (
                BreakerState::HalfOpen { .. } | BreakerState::Open { .. },
                BreakerState::Closed { .. },
            ) => {
                tracing::info!(backend, "circuit breaker closed")
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_consecutive_failures_and_recovers_after_a_probe() {
        let breaker = Breaker::new(BreakerConfig {
            failure_threshold: 3,
            cooldown: Duration::from_millis(20),
        });
        for _ in 0..2 {
            assert!(breaker.allow());
            breaker.record("b", false);
        }
        breaker.record("b", true);
        assert_eq!(
            breaker.status(),
            BreakerStatus::Closed,
            "a success resets the count"
        );
        for _ in 0..3 {
            breaker.record("b", false);
        }
        assert_eq!(breaker.status(), BreakerStatus::Open);
        assert!(!breaker.allow());
        std::thread::sleep(Duration::from_millis(25));
        assert!(breaker.allow(), "one probe after the cooldown");
        assert!(!breaker.allow(), "only one");
        breaker.record("b", false);
        assert_eq!(
            breaker.status(),
            BreakerStatus::Open,
            "a failed probe re-opens"
        );
        std::thread::sleep(Duration::from_millis(25));
        assert!(breaker.allow());
        breaker.record("b", true);
        assert_eq!(breaker.status(), BreakerStatus::Closed);
        assert!(breaker.allow());
    }
}
