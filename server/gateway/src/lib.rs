//! The data plane: each tenant's OpenAI-compatible endpoint. Keys, routes
//! and backends come from an in-memory snapshot kept current by change
//! notifications, so no request touches the database; usage leaves through
//! a batched writer.

mod backend;
mod error;
mod glob;
mod governance;
mod governor;
mod health;
mod loader;
mod meter;
mod metrics;
mod providers;
mod proxy;
mod rules;
mod snapshot;
mod spool;
mod upstream;
pub mod usage;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use axum::routing::any;
use ditto_core::crypto::MasterKey;
use ditto_store::Store;
use tokio::task::JoinHandle;

pub use backend::BreakerConfig;
pub use error::GatewayError;
pub use governor::{Clock, CounterStore, Leasing, LimitsConfig};
pub use meter::Usage;

#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Backends tried per request, retries and fallbacks included.
    pub max_attempts: u32,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// With `ai.example.com`, `acme.ai.example.com/v1/...` is tenant acme's endpoint.
    pub base_domain: Option<String>,
    /// Full snapshot reload interval, as a safety net for missed notifications.
    pub resync_every: Duration,
    pub breaker: BreakerConfig,
    /// Usage events queued before the request path waits.
    pub usage_queue: usize,
    /// Where usage batches (and, in `governance/`, governance events) wait
    /// while the database is unreachable; `None` keeps them in memory (lost
    /// if the process dies meanwhile).
    pub usage_spool: Option<std::path::PathBuf>,
    /// Interval of active health checks (`GET {base}/models`); `None` turns them off.
    pub health_check_every: Option<Duration>,
    pub limits: LimitsConfig,
    /// How often refusals counted in memory go to the audit trail.
    pub governance_every: Duration,
    /// Where backends may be: public addresses and what an operator allows
    /// (`DITTO_EGRESS_ALLOW`), checked on every new connection.
    pub egress: ditto_egress::EgressPolicy,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            max_body_bytes: 32 << 20,
            base_domain: None,
            resync_every: Duration::from_secs(30),
            breaker: BreakerConfig::default(),
            usage_queue: 10_000,
            usage_spool: None,
            health_check_every: Some(Duration::from_secs(15)),
            limits: LimitsConfig::default(),
            governance_every: Duration::from_secs(60),
            egress: ditto_egress::EgressPolicy::strict(),
        }
    }
}

/// Shared state of the data plane.
pub struct Gateway {
    snapshot: Arc<ArcSwap<snapshot::Snapshot>>,
    usage: usage::UsageSink,
    governor: Arc<governor::Governor>,
    governance: Arc<governance::Governance>,
    config: GatewayConfig,
    metrics: Arc<metrics::Metrics>,
}

/// The running gateway's background parts.
pub struct Handle {
    follower: JoinHandle<()>,
    health: Option<JoinHandle<()>>,
    reaper: JoinHandle<()>,
    leases: JoinHandle<()>,
    settlements: JoinHandle<()>,
    governor: Arc<governor::Governor>,
    writer: usage::UsageWriter,
    governance: governance::GovernanceWriter,
}

impl Handle {
    /// Stops following changes and writes out every queued usage event.
    /// Call after the server has stopped (every request finished).
    pub async fn shutdown(self) {
        self.follower.abort();
        if let Some(health) = self.health {
            health.abort();
        }
        // The governor's tasks hold the usage sink; the writer finishes
        // once every sink is gone.
        for task in [self.reaper, self.leases, self.settlements] {
            task.abort();
            let _ = task.await;
        }
        self.governor.settle_queued(None).await;
        self.governor.return_leases(true).await;
        drop(self.governor);
        self.writer.finish().await;
        self.governance.finish().await;
    }

    /// Stops every background part at once, as if the process died: nothing
    /// queued is written and nothing leased is given back. For failure tests.
    pub fn kill(self) {
        self.follower.abort();
        if let Some(health) = self.health {
            health.abort();
        }
        self.reaper.abort();
        self.leases.abort();
        self.settlements.abort();
    }
}

impl Gateway {
    /// Loads the snapshot (failing if the database cannot be read at start)
    /// and starts following changes.
    pub async fn start(
        store: Store,
        master_key: Option<MasterKey>,
        config: GatewayConfig,
    ) -> ditto_core::Result<(Arc<Self>, Handle)> {
        let snapshot = Arc::new(ArcSwap::from_pointee(snapshot::Snapshot::default()));
        let metrics = Arc::new(metrics::Metrics::default());
        let loader = Arc::new(loader::Loader {
            store: store.clone(),
            snapshot: snapshot.clone(),
            registry: Arc::new(backend::Registry::new(
                config.breaker,
                config.egress.clone(),
            )),
            master_key,
            fingerprints: Default::default(),
            metrics: metrics.clone(),
        });
        loader.load_all().await?;
        let follower = tokio::spawn(loader.follow(config.resync_every));
        let health = config
            .health_check_every
            .map(|every| tokio::spawn(health::run(snapshot.clone(), every)));
        let (sink, writer) = usage::start(
            &store,
            config.usage_queue,
            config.usage_spool.clone(),
            metrics.clone(),
        );
        let governor = governor::Governor::start(
            config.limits.clone(),
            store.clone(),
            metrics.clone(),
            sink.clone(),
        )
        .await
        .map_err(ditto_core::Error::Unavailable)?;
        let reaper = tokio::spawn(governor.clone().reap(snapshot.clone()));
        let leases = tokio::spawn(governor.clone().keep_leases());
        let settlements = tokio::spawn(governor.clone().keep_settling());
        let (governance, governance_writer) = governance::start(
            store.clone(),
            config.governance_every,
            config
                .usage_spool
                .as_ref()
                .map(|dir| dir.join("governance")),
        );
        let gateway = Arc::new(Self {
            snapshot,
            usage: sink,
            governor: governor.clone(),
            governance,
            config,
            metrics,
        });
        Ok((
            gateway,
            Handle {
                follower,
                health,
                reaper,
                leases,
                settlements,
                governor,
                writer,
                governance: governance_writer,
            },
        ))
    }

    /// Keys currently loaded, across tenants.
    pub fn key_count(&self) -> usize {
        self.snapshot.load().key_count()
    }

    /// When `tenant`'s configuration was last loaded, in database time;
    /// `None` if the tenant is not loaded.
    pub fn tenant_loaded_as_of(&self, tenant: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        self.snapshot.load().tenant(tenant).map(|t| t.loaded_as_of)
    }

    /// This replica's data-plane metrics in the Prometheus text format.
    pub fn render_metrics(&self) -> String {
        self.metrics
            .render(&self.snapshot.load(), self.usage.free())
    }
}

/// `/t/{tenant}/v1/*` and host-based `/v1/*`.
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/t/{tenant}/v1/{*path}", any(proxy::by_path))
        .route("/v1/{*path}", any(proxy::by_host))
        .with_state(gateway)
}

#[cfg(test)]
mod tests {
    /// The data plane stays independent of the control plane's HTTP layer
    /// and of identity: it must build, and stay small, without them.
    #[test]
    fn does_not_depend_on_the_api_or_identity_crates() {
        let manifest = include_str!("../Cargo.toml");
        let deps = manifest
            .split("[dev-dependencies]")
            .next()
            .unwrap_or(manifest);
        for forbidden in ["ditto-api", "ditto-identity"] {
            assert!(
                !deps.contains(forbidden),
                "ditto-gateway depends on {forbidden}"
            );
        }
    }
}
