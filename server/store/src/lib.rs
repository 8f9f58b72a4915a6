//! Storage: Postgres repositories behind tenant-scoped transactions.
//!
//! Every repository method takes a [`TenantScope`](ditto_core::TenantScope)
//! or a [`PlatformScope`](ditto_core::PlatformScope), proof that the caller
//! was authorized, and runs in a transaction that has switched to a role
//! under row-level security (see `tx.rs`). A query that forgets its tenant
//! filter still sees only its tenant's rows.

/// SQL assembled only from constant fragments (column lists, table names);
/// values are always bound, never formatted in.
macro_rules! sql {
    ($($t:tt)*) => {
        sqlx::AssertSqlSafe(format!($($t)*))
    };
}

mod error;
mod page;
mod tx;

pub use tx::testing;

mod api_keys;
pub mod audit;
pub mod audit_export;
mod auth;
mod backends;
mod budgets;
pub mod domains;
pub mod gateway;
pub mod governance;
mod groups;
pub mod personal_tokens;
mod prices;
mod projects;
mod rate_limits;
pub mod rbac;
mod roles;
mod routes;
pub mod saml;
pub mod scim;
mod scim_groups;
mod scim_tokens;
mod scim_users;
mod service_accounts;
pub mod sign_in;
pub mod sign_in_sources;
pub mod sso;
pub mod sso_policy;
mod tenant_health;
mod tenants;
mod throttle;
mod usage;
mod users;

pub mod redis;
pub use redis::Redis;
pub use scim_groups::ScimGroup;
pub use scim_users::ScimUser;

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, migrate::Migrator};

/// The schema migrations, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    policies: std::sync::Arc<rbac::Policies>,
}

/// How to reach Postgres.
#[derive(Clone, Debug)]
pub struct DbConfig {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for DbConfig {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

impl Store {
    /// Connects lazily: the server starts (and reports not ready) while the
    /// database is down.
    pub fn connect_lazy(options: PgConnectOptions, config: &DbConfig) -> Self {
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .connect_lazy_with(options);
        Self::from_pool(pool)
    }

    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            pool,
            policies: Default::default(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies pending migrations. Safe to run from several replicas at once
    /// (the migrator holds an advisory lock).
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        MIGRATOR.run(&self.pool).await
    }

    /// Whether the database answers and every embedded migration is applied.
    pub async fn readiness(&self) -> Result<(), String> {
        let applied: Vec<(i64, bool)> =
            sqlx::query_as("SELECT version, success FROM _sqlx_migrations")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| match e {
                    sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => {
                        "no migrations applied; run `ditto migrate`".to_owned()
                    }
                    other => format!("database unreachable: {}", error::describe(&other)),
                })?;
        let pending: Vec<i64> = MIGRATOR
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| m.version)
            .filter(|v| !applied.iter().any(|(a, ok)| a == v && *ok))
            .collect();
        if pending.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} migration(s) not applied: {pending:?}",
                pending.len()
            ))
        }
    }
}
