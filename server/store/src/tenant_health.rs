//! Tenant health across the platform: a page of tenants, then each one's
//! requests, errors, tokens, spend and latency over a window, read from the
//! usage events (the roll-ups have no latencies) through the
//! `(tenant_id, created_at)` index, one tenant at a time.

use chrono::{DateTime, Utc};
use ditto_core::money::format_usd_wide;
use ditto_core::{Error, PlatformScope, Result, tenant_health};
use ditto_types::api::{PageParams, TenantFilter, TenantHealth, TenantHealthPage, TenantStatus};
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use crate::budgets::pico_sum;
use crate::page::{BY_CREATION, Keyset};
use crate::tenants::like_escape;
use crate::{Store, error::db};

/// A page of tenants reads at most 200 tenants' windows; past this it is
/// cancelled rather than holding a connection.
const STATEMENT_TIMEOUT: &str = "20s";

#[derive(FromRow)]
struct TenantRow {
    id: Uuid,
    slug: String,
    name: String,
    status: String,
}

#[derive(FromRow)]
struct Figures {
    id: Uuid,
    requests: i64,
    errors: i64,
    server_errors: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
    cost_pico: String,
    p50: Option<f64>,
    p95: Option<f64>,
    last_request_at: Option<DateTime<Utc>>,
}

/// Each tenant's figures over `[from, to)`. The lateral subqueries run once
/// per tenant of the page, each an index range scan of that tenant's
/// window; the latest request is one backward index probe.
const FIGURES: &str = "
SELECT t.id, w.requests, w.errors, w.server_errors, w.prompt_tokens, w.completion_tokens,
       w.cost_pico, w.p50, w.p95,
       (SELECT max(l.created_at) FROM usage_events l WHERE l.tenant_id = t.id) AS last_request_at
FROM unnest($1::uuid[]) AS t(id)
CROSS JOIN LATERAL (
    SELECT count(*) AS requests,
           count(*) FILTER (WHERE e.status >= 400) AS errors,
           count(*) FILTER (WHERE e.status >= 500) AS server_errors,
           COALESCE(sum(e.prompt_tokens), 0)::bigint AS prompt_tokens,
           COALESCE(sum(e.completion_tokens), 0)::bigint AS completion_tokens,
           COALESCE(sum(e.cost_pico), 0)::text AS cost_pico,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY e.latency_ms) AS p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY e.latency_ms) AS p95
    FROM usage_events e
    WHERE e.tenant_id = t.id AND e.created_at >= $2 AND e.created_at < $3
) w";

impl Store {
    /// A page of tenants (sorted and filtered like the tenant list) with
    /// their health over `[from, to)`.
    pub async fn tenant_health(
        &self,
        scope: &PlatformScope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        filter: &TenantFilter,
        page: &PageParams,
    ) -> Result<TenantHealthPage> {
        let keyset = Keyset::parse(
            page,
            &[BY_CREATION, ("name", Some("name")), ("slug", Some("slug"))],
        )?;
        let q = ditto_core::validate::search_term(filter.q.as_deref())?;
        let mut qb = QueryBuilder::new("SELECT id, slug, name, status FROM tenants WHERE true");
        if let Some(s) = filter.status {
            qb.push(" AND status = ").push_bind(s.as_str());
        }
        if let Some(q) = q {
            let pattern = format!("%{}%", like_escape(&q));
            qb.push(" AND (slug ILIKE ").push_bind(pattern.clone());
            qb.push(" OR name ILIKE ").push_bind(pattern).push(")");
        }
        keyset.push_after(&mut qb);
        keyset.push_order_limit(&mut qb);

        let mut tx = self.platform_tx(scope).await?;
        let tenants: Vec<TenantRow> = qb.build_query_as().fetch_all(&mut *tx).await.map_err(db)?;
        let (tenants, next_cursor) = keyset.finish(tenants, |r, col| {
            (
                r.id,
                col.map(|c| {
                    if c == "slug" {
                        r.slug.clone()
                    } else {
                        r.name.clone()
                    }
                }),
            )
        });
        sqlx::query(sql!("SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'"))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let ids: Vec<Uuid> = tenants.iter().map(|t| t.id).collect();
        let figures: Vec<Figures> = sqlx::query_as(FIGURES)
            .bind(&ids)
            .bind(from)
            .bind(to)
            .fetch_all(&mut *tx)
            .await
            .map_err(
                |e| match e.as_database_error().and_then(|d| d.code()).as_deref() {
                    Some("57014") => Error::Unavailable(
                        "the health query took too long; ask for a shorter window or fewer tenants"
                            .into(),
                    ),
                    _ => db(e),
                },
            )?;
        tx.commit().await.map_err(db)?;

        let items = tenants
            .into_iter()
            .map(|t| {
                let f = figures
                    .iter()
                    .find(|f| f.id == t.id)
                    .ok_or_else(|| Error::Internal(format!("no health figures for {}", t.id)))?;
                let requests = f.requests.max(0) as u64;
                let errors = f.errors.max(0) as u64;
                Ok(TenantHealth {
                    tenant_id: t.id.into(),
                    slug: t.slug,
                    name: t.name,
                    status: if t.status == "suspended" {
                        TenantStatus::Suspended
                    } else {
                        TenantStatus::Active
                    },
                    health: tenant_health::state(requests, errors),
                    requests,
                    errors,
                    server_errors: f.server_errors.max(0) as u64,
                    error_rate: tenant_health::error_rate(requests, errors),
                    prompt_tokens: f.prompt_tokens.max(0) as u64,
                    completion_tokens: f.completion_tokens.max(0) as u64,
                    cost_usd: format_usd_wide(pico_sum(&f.cost_pico)?),
                    latency_p50_ms: f.p50,
                    latency_p95_ms: f.p95,
                    last_request_at: f.last_request_at,
                })
            })
            .collect::<Result<_>>()?;
        Ok(TenantHealthPage {
            from,
            to,
            items,
            next_cursor,
        })
    }
}
