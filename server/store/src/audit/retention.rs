//! How long a chain keeps its events, and removing older ones behind a
//! signed checkpoint so the rest still verifies.

use super::*;

impl Store {
    /// How long the tenant's events are kept, in days.
    pub async fn audit_retention(&self, scope: &TenantScope) -> Result<u32> {
        let mut tx = self.tenant_tx(scope).await?;
        let days = retention_days(&mut tx).await?;
        tx.commit().await.map_err(db)?;
        Ok(days)
    }

    pub async fn set_audit_retention(&self, scope: &TenantScope, days: u32) -> Result<u32> {
        let mut tx = self.tenant_tx(scope).await?;
        let before = retention_days(&mut tx).await?;
        sqlx::query(
            "INSERT INTO audit_heads (tenant_id, retention_days) VALUES (ditto_current_tenant(), $1)
             ON CONFLICT (tenant_id) DO UPDATE SET retention_days = EXCLUDED.retention_days",
        )
        .bind(days as i32)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        record(
            &mut tx,
            scope,
            Change::new("audit_retention.update", "audit_retention")
                .target(scope.tenant_id())
                .before(Some(serde_json::json!({ "retention_days": before })))
                .after(Some(serde_json::json!({ "retention_days": days }))),
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(days)
    }

    /// Removes the tenant's events past its retention period: first a signed
    /// `retention` checkpoint at the last event to go (so the rest still
    /// verifies from it), then the events, then an event saying so, all in
    /// one transaction. Removal itself is `ditto_audit_prune`, the one path
    /// by which the database lets audit rows go.
    pub async fn apply_audit_retention(
        &self,
        scope: &TenantScope,
        signer: &AuditSigner,
    ) -> Result<AuditRetentionRun> {
        // The platform role calls the prune function; the event goes to the
        // tenant's chain.
        let mut tx = self.unscoped_platform_tx().await?;
        let run = retain(&mut tx, scope.tenant_id().0, Some(scope.actor()), signer).await?;
        tx.commit().await.map_err(db)?;
        Ok(run)
    }
}

/// How long a chain's events are kept when its tenant never said (the
/// column default of `audit_heads.retention_days`).
const DEFAULT_RETENTION_DAYS: u32 = 30;

/// The current tenant's retention period, in days.
async fn retention_days(tx: &mut Tx) -> Result<u32> {
    let days: Option<i32> = sqlx::query_scalar(
        "SELECT retention_days FROM audit_heads WHERE tenant_id = ditto_current_tenant()",
    )
    .fetch_optional(&mut **tx)
    .await
    .map_err(db)?;
    Ok(days.map_or(DEFAULT_RETENTION_DAYS, |d| d as u32))
}

/// The retention path, in a platform transaction.
pub(super) async fn retain(
    tx: &mut Tx,
    tenant: Uuid,
    actor: Option<Actor>,
    signer: &AuditSigner,
) -> Result<AuditRetentionRun> {
    // The head first: no event joins the chain while it is cut.
    sqlx::query("SELECT 1 FROM audit_heads WHERE tenant_id = $1 FOR UPDATE")
        .bind(tenant)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    let last: Option<(i64, Vec<u8>, i32)> = sqlx::query_as(
        "SELECT e.seq, e.hash, h.retention_days FROM audit_events e
         JOIN audit_heads h ON h.tenant_id = e.tenant_id
         WHERE e.tenant_id = $1 AND e.created_at < now() - make_interval(days => h.retention_days)
         ORDER BY e.seq DESC LIMIT 1",
    )
    .bind(tenant)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db)?;
    let (checkpoint, removed, days) = match last {
        Some((seq, hash, days)) => {
            let cp = sign_and_store(tx, Some(tenant), seq, hash, signer, "retention").await?;
            let removed: i64 = sqlx::query_scalar("SELECT ditto_audit_prune($1, $2)")
                .bind(tenant)
                .bind(seq)
                .fetch_one(&mut **tx)
                .await
                .map_err(db)?;
            (Some(cp), removed, days)
        }
        // Background runs that find nothing (another replica was first)
        // leave no trace; a caller's run is a change and always does.
        None if actor.is_none() => {
            return Ok(AuditRetentionRun {
                removed: 0,
                checkpoint: None,
            });
        }
        None => (None, 0, 0),
    };
    let mut change = Change::new("audit_retention.apply", "audit_retention").target(tenant);
    change.after = Some(serde_json::json!({
        "removed": removed,
        "through_seq": checkpoint.as_ref().map(|c| c.seq),
        "retention_days": days,
        "checkpoint_id": checkpoint.as_ref().map(|c| c.id),
    }));
    append(tx, Some(tenant), actor, change).await?;
    Ok(AuditRetentionRun {
        removed: removed as u64,
        checkpoint: checkpoint.map(Into::into),
    })
}
