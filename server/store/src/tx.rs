//! Scoped transactions. The role switch and the tenant setting are both
//! transaction-local, so nothing leaks to the next user of a pooled
//! connection.

use ditto_core::{PlatformScope, Result, SharedScope, TenantScope};
use sqlx::{Postgres, Transaction};

use crate::{Store, error::db};

pub(crate) type Tx = Transaction<'static, Postgres>;

impl Store {
    /// A transaction that sees and writes only `scope`'s tenant.
    pub(crate) async fn tenant_tx(&self, scope: &TenantScope) -> Result<Tx> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query(
            "SELECT set_config('role', 'ditto_app', true), set_config('app.tenant_id', $1, true)",
        )
        .bind(scope.tenant_id().to_string())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        Ok(tx)
    }

    /// A transaction that sees what the platform shares with every tenant
    /// and no tenant's rows: the tenant role with no tenant set.
    pub(crate) async fn shared_tx(&self, _scope: &SharedScope) -> Result<Tx> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query(
            "SELECT set_config('role', 'ditto_app', true), set_config('app.tenant_id', '', true)",
        )
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        Ok(tx)
    }

    /// A transaction across tenants, for an authorized platform operation.
    pub(crate) async fn platform_tx(&self, _scope: &PlatformScope) -> Result<Tx> {
        self.unscoped_platform_tx().await
    }

    /// A read-only platform transaction whose statements all see one
    /// snapshot, for loading a consistent picture of several tables.
    pub(crate) async fn platform_snapshot_tx(&self) -> Result<Tx> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("SELECT set_config('role', 'ditto_platform', true)")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        Ok(tx)
    }

    /// Platform access before anyone is authorized: authentication and
    /// resolving the tenant named in a URL. Only `auth.rs` and
    /// `tenants::resolve_tenant` may use it.
    pub(crate) async fn unscoped_platform_tx(&self) -> Result<Tx> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("SELECT set_config('role', 'ditto_platform', true)")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        Ok(tx)
    }
}

/// Test access to the raw scoped transactions, for RLS tests.
#[doc(hidden)]
pub mod testing {
    use super::*;

    pub async fn tenant_tx(store: &Store, scope: &TenantScope) -> Result<Tx> {
        store.tenant_tx(scope).await
    }
}
