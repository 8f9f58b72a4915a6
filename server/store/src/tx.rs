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

    /// Platform access that no principal's scope stands for: the work
    /// before anyone is authorized (authenticating tokens and sessions,
    /// signing in, SSO and SAML callbacks, resolving the tenant in a URL)
    /// and the server's own platform-wide jobs (the gateway's snapshot and
    /// usage, governance events, audit housekeeping and export). Only the
    /// modules the test `unscoped_callers` lists may use it.
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

#[cfg(test)]
mod unscoped_callers {
    use std::path::Path;

    /// The modules (paths under `src/`) allowed to open an unscoped platform
    /// transaction. Adding one is a decision to review, not a convenience.
    const UNSCOPED_CALLERS: &[&str] = &[
        "audit/mod.rs",
        "audit/retention.rs",
        "audit_export.rs",
        "auth.rs",
        "domains.rs",
        "gateway.rs",
        "governance.rs",
        "saml.rs",
        "scim_tokens.rs",
        "sign_in.rs",
        "sign_in_sources.rs",
        "sso/account.rs",
        "sso/mod.rs",
        "sso_policy.rs",
        "tenants.rs",
        "tx.rs",
    ];

    fn sources(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                sources(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let name = path.strip_prefix(root).expect("under src");
                let text = std::fs::read_to_string(&path).expect("read source");
                out.push((name.to_string_lossy().replace('\\', "/"), text));
            }
        }
    }

    #[test]
    fn only_listed_modules_open_unscoped_platform_transactions() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&root, &root, &mut files);
        let calling: Vec<String> = files
            .into_iter()
            .filter(|(_, text)| text.contains(".unscoped_platform_tx()"))
            .map(|(name, _)| name)
            .collect();
        let unlisted: Vec<&String> = calling
            .iter()
            .filter(|n| !UNSCOPED_CALLERS.contains(&n.as_str()))
            .collect();
        assert!(
            unlisted.is_empty(),
            "{unlisted:?} open unscoped platform transactions; scope them, or list them in UNSCOPED_CALLERS"
        );
        let stale: Vec<&&str> = UNSCOPED_CALLERS
            .iter()
            .filter(|n| !calling.iter().any(|c| c == *n))
            .collect();
        assert!(stale.is_empty(), "{stale:?} no longer need to be listed");
    }
}
