//! Keeps the snapshot current: a full load at start, a tenant reload on
//! every change notification, and a periodic full resync in case a
//! notification was missed (e.g. while the database was unreachable).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use ditto_core::crypto::MasterKey;
use ditto_store::Store;
use ditto_types::TenantId;
use uuid::Uuid;

use crate::backend::Registry;
use crate::metrics::Metrics;
use crate::snapshot::Snapshot;
use std::sync::atomic::Ordering;

pub struct Loader {
    pub(crate) store: Store,
    pub(crate) snapshot: Arc<ArcSwap<Snapshot>>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) master_key: Option<MasterKey>,
    /// Each tenant's configuration fingerprint as of its last load.
    pub(crate) fingerprints: std::sync::Mutex<HashMap<Uuid, String>>,
    pub(crate) metrics: Arc<Metrics>,
}

/// Every this many resyncs, reload everything whatever the fingerprints say.
const FULL_RELOAD_EVERY: u32 = 20;

impl Loader {
    pub async fn load_all(&self) -> ditto_core::Result<()> {
        let fingerprints = self.store.gateway_fingerprints(None).await?;
        let rows = self.store.gateway_load(None).await?;
        let next = Snapshot::build(rows, &self.registry, self.master_key.as_ref());
        tracing::debug!(
            tenants = next.tenant_count(),
            keys = next.key_count(),
            "snapshot loaded"
        );
        let live = next.backends().map(|b| b.id).collect();
        self.snapshot.store(Arc::new(next));
        self.registry.retain(&live);
        *self.fingerprints.lock().unwrap_or_else(|e| e.into_inner()) =
            fingerprints.into_iter().collect();
        Ok(())
    }

    /// Reloads only the tenants whose fingerprint changed (or that appeared
    /// or disappeared) since they were loaded.
    async fn resync_changed(&self) -> ditto_core::Result<()> {
        let current: HashMap<Uuid, String> = self
            .store
            .gateway_fingerprints(None)
            .await?
            .into_iter()
            .collect();
        let stale: Vec<Uuid> = {
            let known = self.fingerprints.lock().unwrap_or_else(|e| e.into_inner());
            current
                .iter()
                .filter(|(id, print)| known.get(*id) != Some(*print))
                .map(|(id, _)| *id)
                .chain(
                    known
                        .keys()
                        .filter(|id| !current.contains_key(*id))
                        .copied(),
                )
                .collect()
        };
        for tenant in stale {
            tracing::info!(%tenant, "resync found a change no notification announced");
            self.load_tenant(tenant).await?;
        }
        Ok(())
    }

    async fn load_tenant(&self, id: Uuid) -> ditto_core::Result<()> {
        // Fingerprint first: a change landing in between makes the next resync reload again.
        let print = self
            .store
            .gateway_fingerprints(Some(TenantId(id)))
            .await?
            .pop();
        let rows = self.store.gateway_load(Some(TenantId(id))).await?;
        let next =
            self.snapshot
                .load()
                .with_tenant(id, rows, &self.registry, self.master_key.as_ref());
        self.snapshot.store(Arc::new(next));
        let mut known = self.fingerprints.lock().unwrap_or_else(|e| e.into_inner());
        match print {
            Some((_, print)) => known.insert(id, print),
            None => known.remove(&id),
        };
        self.metrics
            .snapshot_reloads
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(tenant = %id, "tenant reloaded");
        Ok(())
    }

    /// Follows change notifications until the task is dropped.
    pub async fn follow(self: Arc<Self>, resync_every: Duration) {
        let mut resync = tokio::time::interval(resync_every);
        resync.tick().await;
        let mut ticks = 0u32;
        loop {
            let mut listener = match self.store.config_listener().await {
                Ok(listener) => listener,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for configuration changes; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            // Anything may have changed while we were not listening.
            if let Err(e) = self.load_all().await {
                self.metrics
                    .snapshot_reload_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "snapshot resync failed; serving the previous one");
            }
            loop {
                tokio::select! {
                    notification = listener.try_recv() => match notification {
                        Ok(Some(n)) => {
                            // `*`: a platform-wide change (platform prices): reload everything.
                            let result = match n.payload() {
                                "*" => self.load_all().await,
                                payload => match Uuid::parse_str(payload) {
                                    Ok(tenant) => self.load_tenant(tenant).await,
                                    Err(_) => {
                                        tracing::warn!(payload, "unexpected change notification");
                                        Ok(())
                                    }
                                },
                            };
                            if let Err(e) = result {
                                self.metrics.snapshot_reload_failures.fetch_add(1, Ordering::Relaxed);
                                tracing::warn!(error = %e, "snapshot reload failed; resyncing soon");
                            }
                        }
                        // The connection dropped: reconnect, then resync.
                        Ok(None) | Err(_) => {
                            tracing::warn!("lost the change-notification connection; reconnecting");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            break;
                        }
                    },
                    _ = resync.tick() => {
                        ticks = ticks.wrapping_add(1);
                        let result = if ticks.is_multiple_of(FULL_RELOAD_EVERY) {
                            self.load_all().await
                        } else {
                            self.resync_changed().await
                        };
                        if let Err(e) = result {
                            self.metrics.snapshot_reload_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "periodic snapshot resync failed; serving the previous one");
                        }
                    }
                }
            }
        }
    }
}
