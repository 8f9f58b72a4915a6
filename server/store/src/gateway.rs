//! What the gateway's in-memory snapshot is built from, and where its usage
//! events go. The loader reads every tenant, so it is a platform path; it
//! is the only reader of sealed credentials.

use chrono::{DateTime, Utc};
use ditto_core::Result;
use ditto_types::TenantId;
use ditto_types::api::Route;
use sqlx::FromRow;
use sqlx::postgres::PgListener;
use uuid::Uuid;

use crate::{Store, error::db};

/// The channel on which configuration changes are announced (payload: tenant id).
pub const CONFIG_CHANNEL: &str = "ditto_config";

#[derive(Debug, FromRow)]
pub struct GatewayTenantRow {
    pub id: Uuid,
    pub slug: String,
    pub active: bool,
}

/// A key that may be used: not revoked, owner enabled. Expiry is checked
/// per request, since time passes between loads.
#[derive(Debug, FromRow)]
pub struct GatewayKeyRow {
    pub tenant_id: Uuid,
    pub key_id: Uuid,
    pub public_id: String,
    pub secret_hash: Vec<u8>,
    pub project_id: Uuid,
    pub owner_user_id: Option<Uuid>,
    pub owner_service_account_id: Option<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
    pub key_models: Option<Vec<String>>,
    pub project_models: Option<Vec<String>>,
}

#[derive(Debug, FromRow)]
pub struct GatewayBackendRow {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub name: String,
    pub provider: String,
    pub base_url: String,
    /// Sealed with the master key, bound to the backend id.
    pub credentials: Option<Vec<u8>>,
    pub timeout_ms: i32,
    pub connect_timeout_ms: i32,
    pub max_in_flight: Option<i32>,
}

/// Everything the gateway needs about some tenants.
#[derive(Debug, Default)]
pub struct GatewayRows {
    /// Every change committed before this instant is in the rows.
    pub as_of: DateTime<Utc>,
    pub tenants: Vec<GatewayTenantRow>,
    pub keys: Vec<GatewayKeyRow>,
    pub backends: Vec<GatewayBackendRow>,
    pub routes: Vec<Route>,
}

/// One gateway request, as recorded in `usage_events`.
#[derive(Clone, Debug)]
pub struct UsageEvent {
    pub request_id: Uuid,
    pub tenant_id: Uuid,
    pub project_id: Uuid,
    pub key_id: Uuid,
    pub user_id: Option<Uuid>,
    pub service_account_id: Option<Uuid>,
    pub endpoint: String,
    pub model: Option<String>,
    pub backend_id: Option<Uuid>,
    pub status: u16,
    pub attempts: u32,
    pub streamed: bool,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub latency_ms: u32,
    pub ttfb_ms: Option<u32>,
    pub error_kind: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Loads one tenant (`Some`) or all of them (`None`).
    pub async fn gateway_load(&self, tenant: Option<TenantId>) -> Result<GatewayRows> {
        let only = tenant.map(|t| t.0);
        let mut tx = self.platform_snapshot_tx().await?;
        let as_of: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        let tenants = sqlx::query_as(
            "SELECT id, slug, status = 'active' AS active FROM tenants WHERE $1::uuid IS NULL OR id = $1",
        )
        .bind(only)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let keys = sqlx::query_as(
            "SELECT k.tenant_id, k.id AS key_id, k.public_id, k.secret_hash, k.project_id, k.owner_user_id,
                    k.owner_service_account_id, k.expires_at, k.allowed_models AS key_models,
                    p.allowed_models AS project_models
             FROM api_keys k
             JOIN projects p ON p.tenant_id = k.tenant_id AND p.id = k.project_id
             LEFT JOIN users u ON u.tenant_id = k.tenant_id AND u.id = k.owner_user_id
             LEFT JOIN service_accounts sa ON sa.tenant_id = k.tenant_id AND sa.id = k.owner_service_account_id
             WHERE ($1::uuid IS NULL OR k.tenant_id = $1)
               AND k.revoked_at IS NULL
               AND (k.owner_user_id IS NULL OR u.status = 'active')
               AND (k.owner_service_account_id IS NULL OR NOT sa.disabled)",
        )
        .bind(only)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let backends = sqlx::query_as(
            "SELECT tenant_id, id, name, provider, base_url, credentials, timeout_ms, connect_timeout_ms, max_in_flight
             FROM backends WHERE $1::uuid IS NULL OR tenant_id = $1",
        )
        .bind(only)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let routes = self.gateway_routes(&mut tx, only).await?;
        tx.commit().await.map_err(db)?;
        Ok(GatewayRows {
            as_of,
            tenants,
            keys,
            backends,
            routes,
        })
    }

    async fn gateway_routes(
        &self,
        tx: &mut crate::tx::Tx,
        only: Option<Uuid>,
    ) -> Result<Vec<Route>> {
        #[derive(FromRow)]
        struct Flat {
            id: Uuid,
            tenant_id: Uuid,
            model: String,
            aliases: Vec<String>,
            created_at: DateTime<Utc>,
            updated_at: DateTime<Utc>,
            backend_id: Option<Uuid>,
            kind: Option<String>,
            weight: Option<i32>,
            upstream_model: Option<String>,
        }
        let rows: Vec<Flat> = sqlx::query_as(
            "SELECT r.id, r.tenant_id, r.model, r.aliases, r.created_at, r.updated_at,
                    t.backend_id, t.kind, t.weight, t.upstream_model
             FROM routes r LEFT JOIN route_targets t ON t.tenant_id = r.tenant_id AND t.route_id = r.id
             WHERE $1::uuid IS NULL OR r.tenant_id = $1
             ORDER BY r.id, t.position",
        )
        .bind(only)
        .fetch_all(&mut **tx)
        .await
        .map_err(db)?;
        let mut routes: Vec<Route> = Vec::new();
        for row in rows {
            if routes.last().is_none_or(|r| r.id.0 != row.id) {
                routes.push(Route {
                    id: row.id.into(),
                    tenant_id: row.tenant_id.into(),
                    model: row.model,
                    aliases: row.aliases,
                    targets: Vec::new(),
                    fallbacks: Vec::new(),
                    created_at: row.created_at,
                    updated_at: row.updated_at,
                });
            }
            let route = routes.last_mut().expect("pushed above");
            if let (Some(backend), Some(kind)) = (row.backend_id, row.kind) {
                if kind == "primary" {
                    route.targets.push(ditto_types::api::RouteTarget {
                        backend_id: backend.into(),
                        weight: row.weight.unwrap_or(0) as u32,
                        upstream_model: row.upstream_model,
                    });
                } else {
                    route.fallbacks.push(ditto_types::api::RouteFallback {
                        backend_id: backend.into(),
                        upstream_model: row.upstream_model,
                    });
                }
            }
        }
        Ok(routes)
    }

    /// A cheap fingerprint of each tenant's gateway configuration (row counts
    /// and latest change times), so a periodic resync reloads only tenants
    /// that changed instead of every key of every tenant.
    pub async fn gateway_fingerprints(
        &self,
        tenant: Option<TenantId>,
    ) -> Result<Vec<(Uuid, String)>> {
        let mut tx = self.unscoped_platform_tx().await?;
        let rows = sqlx::query_as(
            "SELECT t.id, concat_ws('|', t.status, t.updated_at,
                 (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM api_keys WHERE tenant_id = t.id),
                 (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM projects WHERE tenant_id = t.id),
                 (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM users WHERE tenant_id = t.id),
                 (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM service_accounts WHERE tenant_id = t.id),
                 (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM backends WHERE tenant_id = t.id),
                 (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM routes WHERE tenant_id = t.id),
                 (SELECT count(*) FROM route_targets WHERE tenant_id = t.id))
             FROM tenants t WHERE $1::uuid IS NULL OR t.id = $1",
        )
        .bind(tenant.map(|t| t.0))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(rows)
    }

    /// Asks every gateway replica to reload `tenant`, and returns the
    /// database time before the request: once a replica has the tenant
    /// loaded as of that time or later, it has every change committed so far.
    pub async fn announce_config_change(&self, tenant: TenantId) -> Result<DateTime<Utc>> {
        sqlx::query_scalar("SELECT now() FROM pg_notify($1, $2::text)")
            .bind(CONFIG_CHANNEL)
            .bind(tenant.0.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(db)
    }

    /// A listener subscribed to configuration changes.
    pub async fn config_listener(&self) -> Result<PgListener> {
        let mut listener = PgListener::connect_with(&self.pool).await.map_err(db)?;
        listener.listen(CONFIG_CHANNEL).await.map_err(db)?;
        Ok(listener)
    }

    /// Writes usage events; events already written (same request id) are
    /// skipped, so a batch can be retried safely. One statement over arrays
    /// is far cheaper for Postgres than a row of parameters per event, and a
    /// plain insert cheaper than `ON CONFLICT`, which is kept for the rare
    /// retry of a batch that may have landed already.
    pub async fn insert_usage(&self, events: &[UsageEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        match self.insert_usage_with(events, "").await {
            Err(ditto_core::Error::Conflict(_)) => {
                self.insert_usage_with(events, " ON CONFLICT (request_id) DO NOTHING")
                    .await
            }
            other => other,
        }
    }

    async fn insert_usage_with(
        &self,
        events: &[UsageEvent],
        on_conflict: &'static str,
    ) -> Result<()> {
        fn column<T>(events: &[UsageEvent], f: impl Fn(&UsageEvent) -> T) -> Vec<T> {
            events.iter().map(f).collect()
        }
        let mut tx = self.unscoped_platform_tx().await?;
        sqlx::query(sql!(
            "INSERT INTO usage_events (request_id, tenant_id, project_id, key_id, user_id, service_account_id,
                 endpoint, model, backend_id, status, attempts, streamed, prompt_tokens, completion_tokens,
                 cached_tokens, latency_ms, ttfb_ms, error_kind, created_at)
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[],
                 $7::text[], $8::text[], $9::uuid[], $10::int[], $11::int[], $12::bool[], $13::bigint[],
                 $14::bigint[], $15::bigint[], $16::int[], $17::int[], $18::text[], $19::timestamptz[]){on_conflict}"
        ))
        .bind(column(events, |e| e.request_id))
        .bind(column(events, |e| e.tenant_id))
        .bind(column(events, |e| e.project_id))
        .bind(column(events, |e| e.key_id))
        .bind(column(events, |e| e.user_id))
        .bind(column(events, |e| e.service_account_id))
        .bind(column(events, |e| e.endpoint.clone()))
        .bind(column(events, |e| e.model.clone()))
        .bind(column(events, |e| e.backend_id))
        .bind(column(events, |e| i32::from(e.status)))
        .bind(column(events, |e| e.attempts as i32))
        .bind(column(events, |e| e.streamed))
        .bind(column(events, |e| e.prompt_tokens as i64))
        .bind(column(events, |e| e.completion_tokens as i64))
        .bind(column(events, |e| e.cached_tokens as i64))
        .bind(column(events, |e| e.latency_ms as i32))
        .bind(column(events, |e| e.ttfb_ms.map(|v| v as i32)))
        .bind(column(events, |e| e.error_kind.clone()))
        .bind(column(events, |e| e.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }
}
