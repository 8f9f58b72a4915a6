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
    pub time_zone: String,
}

/// A rate limit or budget applies to a scope: the tenant, a project, a user
/// (every key they own) or one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LedgerScope {
    Tenant,
    Project(Uuid),
    User(Uuid),
    Key(Uuid),
}

impl LedgerScope {
    fn from_columns(
        scope: &str,
        project: Option<Uuid>,
        user: Option<Uuid>,
        key: Option<Uuid>,
    ) -> Option<Self> {
        match scope {
            "tenant" => Some(Self::Tenant),
            "project" => project.map(Self::Project),
            "user" => user.map(Self::User),
            "key" => key.map(Self::Key),
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Tenant => "tenant",
            Self::Project(_) => "project",
            Self::User(_) => "user",
            Self::Key(_) => "key",
        }
    }
}

#[derive(Debug)]
pub struct GatewayLimitRow {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub scope: LedgerScope,
    pub model: Option<String>,
    pub rpm: Option<i32>,
    pub tpm: Option<i64>,
    pub max_concurrent: Option<i32>,
}

#[derive(Debug)]
pub struct GatewayBudgetRow {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub scope: LedgerScope,
    pub period: String,
    pub max_tokens: Option<i64>,
    pub max_cost_pico: Option<i64>,
    pub soft_limit_percent: Option<i16>,
}

/// A model's price; `tenant_id` is `None` for the platform default.
#[derive(Debug, FromRow)]
pub struct GatewayPriceRow {
    pub tenant_id: Option<Uuid>,
    pub model: String,
    pub input_pico: i64,
    pub output_pico: i64,
    pub cached_input_pico: Option<i64>,
    pub max_output_tokens: Option<i32>,
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
    pub limits: Vec<GatewayLimitRow>,
    pub budgets: Vec<GatewayBudgetRow>,
    /// The tenants' own prices, and every platform price (loaded with any tenant).
    pub prices: Vec<GatewayPriceRow>,
}

/// One gateway request, as recorded in `usage_events`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
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
    /// Pico-USD, priced when the request was served.
    pub cost_pico: i64,
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
            "SELECT id, slug, status = 'active' AS active, time_zone FROM tenants WHERE $1::uuid IS NULL OR id = $1",
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
        let (limits, budgets) = self.gateway_limits(&mut tx, only).await?;
        let prices = sqlx::query_as(
            "SELECT NULL::uuid AS tenant_id, model, input_pico, output_pico, cached_input_pico, max_output_tokens
             FROM model_prices
             UNION ALL
             SELECT tenant_id, model, input_pico, output_pico, cached_input_pico, max_output_tokens
             FROM tenant_model_prices WHERE $1::uuid IS NULL OR tenant_id = $1",
        )
        .bind(only)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(GatewayRows {
            as_of,
            tenants,
            keys,
            backends,
            routes,
            limits,
            budgets,
            prices,
        })
    }

    async fn gateway_limits(
        &self,
        tx: &mut crate::tx::Tx,
        only: Option<Uuid>,
    ) -> Result<(Vec<GatewayLimitRow>, Vec<GatewayBudgetRow>)> {
        type Limit = (
            Uuid,
            Uuid,
            String,
            Option<Uuid>,
            Option<Uuid>,
            Option<Uuid>,
            Option<String>,
            Option<i32>,
            Option<i64>,
            Option<i32>,
        );
        type Budget = (
            Uuid,
            Uuid,
            String,
            Option<Uuid>,
            Option<Uuid>,
            Option<Uuid>,
            String,
            Option<i64>,
            Option<i64>,
            Option<i16>,
        );
        let limits: Vec<Limit> = sqlx::query_as(
            "SELECT tenant_id, id, scope, project_id, user_id, key_id, model, rpm, tpm, max_concurrent
             FROM rate_limits WHERE $1::uuid IS NULL OR tenant_id = $1",
        )
        .bind(only)
        .fetch_all(&mut **tx)
        .await
        .map_err(db)?;
        let budgets: Vec<Budget> = sqlx::query_as(
            "SELECT tenant_id, id, scope, project_id, user_id, key_id, period, max_tokens, max_cost_pico,
                    soft_limit_percent
             FROM budgets WHERE $1::uuid IS NULL OR tenant_id = $1",
        )
        .bind(only)
        .fetch_all(&mut **tx)
        .await
        .map_err(db)?;
        let limits = limits
            .into_iter()
            .filter_map(
                |(tenant_id, id, kind, p, u, k, model, rpm, tpm, max_concurrent)| {
                    Some(GatewayLimitRow {
                        scope: LedgerScope::from_columns(&kind, p, u, k)?,
                        tenant_id,
                        id,
                        model,
                        rpm,
                        tpm,
                        max_concurrent,
                    })
                },
            )
            .collect();
        let budgets = budgets
            .into_iter()
            .filter_map(
                |(tenant_id, id, kind, p, u, k, period, max_tokens, max_cost_pico, soft)| {
                    Some(GatewayBudgetRow {
                        scope: LedgerScope::from_columns(&kind, p, u, k)?,
                        tenant_id,
                        id,
                        period,
                        max_tokens,
                        max_cost_pico,
                        soft_limit_percent: soft,
                    })
                },
            )
            .collect();
        Ok((limits, budgets))
    }

    /// Tokens and pico-USD a scope consumed in `[start, end)`, from the
    /// rollups: what a budget's counter restarts from when the budget store
    /// lost it.
    pub async fn ledger_consumption(
        &self,
        tenant: TenantId,
        scope: LedgerScope,
        start: DateTime<Utc>,
        end: Option<DateTime<Utc>>,
    ) -> Result<(i64, i64)> {
        let (column, id) = match scope {
            LedgerScope::Tenant => ("tenant_id", tenant.0),
            LedgerScope::Project(id) => ("project_id", id),
            LedgerScope::User(id) => ("user_id", id),
            LedgerScope::Key(id) => ("key_id", id),
        };
        let mut tx = self.unscoped_platform_tx().await?;
        let row: (i64, i64) = sqlx::query_as(sql!(
            "SELECT coalesce(sum(prompt_tokens + completion_tokens), 0)::bigint,
                    coalesce(sum(cost_pico), 0)::bigint
             FROM usage_rollups
             WHERE tenant_id = $4 AND {column} = $1 AND bucket >= $2
               AND ($3::timestamptz IS NULL OR bucket < $3)"
        ))
        .bind(id)
        .bind(start)
        .bind(end)
        .bind(tenant.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(row)
    }

    /// Tokens and cost of the requests in `ids` that have a usage event:
    /// how the reaper settles a reservation whose replica went away.
    pub async fn usage_of_requests(&self, ids: &[Uuid]) -> Result<Vec<(Uuid, i64, i64)>> {
        let mut tx = self.unscoped_platform_tx().await?;
        let rows = sqlx::query_as(
            "SELECT request_id, prompt_tokens + completion_tokens, cost_pico
             FROM usage_events WHERE request_id = ANY($1)",
        )
        .bind(ids)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(rows)
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
                 (SELECT count(*) FROM route_targets WHERE tenant_id = t.id),
                 (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM rate_limits WHERE tenant_id = t.id),
                 (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM budgets WHERE tenant_id = t.id),
                 (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM tenant_model_prices WHERE tenant_id = t.id))
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

    /// Writes usage events and adds them to the rollups, in one statement.
    /// Events already written (same request id) are skipped and not added
    /// again, so a batch can be replayed safely. One statement over arrays is
    /// far cheaper for Postgres than a row of parameters per event.
    pub async fn insert_usage(&self, events: &[UsageEvent]) -> Result<()> {
        fn column<T>(events: &[UsageEvent], f: impl Fn(&UsageEvent) -> T) -> Vec<T> {
            events.iter().map(f).collect()
        }
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.unscoped_platform_tx().await?;
        // Rollup rows are upserted in key order so concurrent writers lock
        // them in the same order and cannot deadlock.
        sqlx::query(
            "WITH inserted AS (
                 INSERT INTO usage_events (request_id, tenant_id, project_id, key_id, user_id, service_account_id,
                     endpoint, model, backend_id, status, attempts, streamed, prompt_tokens, completion_tokens,
                     cached_tokens, latency_ms, ttfb_ms, error_kind, cost_pico, created_at)
                 SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[],
                     $7::text[], $8::text[], $9::uuid[], $10::int[], $11::int[], $12::bool[], $13::bigint[],
                     $14::bigint[], $15::bigint[], $16::int[], $17::int[], $18::text[], $19::bigint[],
                     $20::timestamptz[])
                 ON CONFLICT (request_id) DO NOTHING
                 RETURNING *
             )
             INSERT INTO usage_rollups AS r (tenant_id, bucket, key_id, project_id, user_id, service_account_id,
                 model, backend_id, requests, errors, prompt_tokens, completion_tokens, cached_tokens, cost_pico)
             SELECT tenant_id, date_bin('15 minutes', created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'), key_id,
                    project_id, user_id, service_account_id, coalesce(model, ''), backend_id, count(*),
                    count(*) FILTER (WHERE status >= 400), sum(prompt_tokens), sum(completion_tokens),
                    sum(cached_tokens), sum(cost_pico)
             FROM inserted
             GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
             ORDER BY 1, 2, 3, 7, 8
             ON CONFLICT (tenant_id, bucket, key_id, model, backend_id) DO UPDATE SET
                 requests = r.requests + excluded.requests,
                 errors = r.errors + excluded.errors,
                 prompt_tokens = r.prompt_tokens + excluded.prompt_tokens,
                 completion_tokens = r.completion_tokens + excluded.completion_tokens,
                 cached_tokens = r.cached_tokens + excluded.cached_tokens,
                 cost_pico = r.cost_pico + excluded.cost_pico",
        )
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
        .bind(column(events, |e| e.cost_pico))
        .bind(column(events, |e| e.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }
}
