//! Governance events of the data plane (refused keys, requests refused by
//! limits, budgets or model access), written to each tenant's audit chain.
//! The gateway counts them in memory and hands them over in batches.

use ditto_core::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::{Store, error::db};

/// One aggregated refusal, ready for the tenant's chain.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GovernanceEvent {
    pub tenant_id: Uuid,
    /// `gateway.<what>`, e.g. `gateway.rate_limited`.
    pub action: String,
    /// The key concerned, when it is known.
    pub key_id: Option<Uuid>,
    /// Counts, times and details (never a secret).
    pub details: Value,
}

impl Store {
    /// Appends the events to their tenants' chains, all or none. The caller
    /// keeps a batch that fails and offers it again.
    pub async fn record_governance(&self, events: &[GovernanceEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        // The data plane holds no scope: it records as Ditto itself.
        let mut tx = self.unscoped_platform_tx().await?;
        // A tenant deleted since the refusal has no chain left to join.
        let tenants: Vec<Uuid> = events.iter().map(|e| e.tenant_id).collect();
        let live: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM tenants WHERE id = ANY($1)")
            .bind(&tenants)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        for event in events.iter().filter(|e| live.contains(&e.tenant_id)) {
            let mut change =
                Change::new(event.action.clone(), "api_key").after(Some(event.details.clone()));
            if let Some(key) = event.key_id {
                change = change.target(key);
            }
            audit::append(&mut tx, Some(event.tenant_id), None, change).await?;
        }
        tx.commit().await.map_err(db)
    }
}
