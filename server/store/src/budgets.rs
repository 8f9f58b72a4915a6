//! Budgets of a tenant, project, user or key, each with what its scope has
//! spent in the current period, summed from the usage roll-ups.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ditto_core::money::{format_usd, format_usd_wide};
use ditto_core::period::Period;
use ditto_core::{Error, Result, TenantScope, validate};
use ditto_types::BudgetId;
use ditto_types::api::{
    Budget, BudgetPage, BudgetPeriod, BudgetUsage, CreateBudget, LimitFilter, PageParams,
    UpdateBudget,
};
use sqlx::FromRow;
use uuid::Uuid;

use crate::page::{BY_CREATION, Keyset};
use crate::rate_limits::{list_query, merged, scope_columns, scope_id, scope_of};
use crate::tenants::tenant_zone;
use crate::tx::Tx;
use crate::{Store, audit, error::db};

const COLUMNS: &str = "id, tenant_id, scope, project_id, user_id, key_id, period, max_tokens,
    max_cost_pico, soft_limit_percent, created_at, updated_at";

#[derive(FromRow)]
struct Row {
    id: Uuid,
    tenant_id: Uuid,
    scope: String,
    project_id: Option<Uuid>,
    user_id: Option<Uuid>,
    key_id: Option<Uuid>,
    period: String,
    max_tokens: Option<i64>,
    max_cost_pico: Option<i64>,
    soft_limit_percent: Option<i16>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn period_of(s: &str) -> BudgetPeriod {
    match s {
        "daily" => BudgetPeriod::Daily,
        "weekly" => BudgetPeriod::Weekly,
        "monthly" => BudgetPeriod::Monthly,
        _ => BudgetPeriod::Lifetime,
    }
}

fn budget(r: Row, current: BudgetUsage) -> Budget {
    Budget {
        id: r.id.into(),
        tenant_id: r.tenant_id.into(),
        scope: scope_of(&r.scope),
        scope_id: scope_id(r.project_id, r.user_id, r.key_id),
        period: period_of(&r.period),
        max_tokens: r.max_tokens.map(|v| v as u64),
        max_cost_usd: r.max_cost_pico.map(format_usd),
        soft_limit_percent: r.soft_limit_percent.map(|v| v as u8),
        created_at: r.created_at,
        updated_at: r.updated_at,
        current,
    }
}

#[derive(FromRow)]
struct Spent {
    id: Uuid,
    tokens: i64,
    /// A sum of pico-USD, as Postgres `numeric` text: exact, and not bound by `i64`.
    cost_pico: String,
}

/// Attaches to each budget what its scope spent in its current period, in
/// the tenant's time zone.
async fn with_usage(tx: &mut Tx, rows: Vec<Row>, now: DateTime<Utc>) -> Result<Vec<Budget>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let (_, zone) = tenant_zone(tx).await?;
    let windows: Vec<_> = Period::ALL
        .into_iter()
        .map(|p| (p, p.window(zone, now)))
        .collect();
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let spent: Vec<Spent> = sqlx::query_as(
        "SELECT b.id, u.tokens, u.cost_pico
         FROM budgets b
         JOIN UNNEST($2::text[], $3::timestamptz[], $4::timestamptz[]) AS w (period, start_at, end_at)
           ON w.period = b.period
         CROSS JOIN LATERAL (
             SELECT COALESCE(sum(r.prompt_tokens + r.completion_tokens), 0)::bigint AS tokens,
                    COALESCE(sum(r.cost_pico), 0)::text AS cost_pico
             FROM usage_rollups r
             WHERE r.tenant_id = b.tenant_id
               AND r.bucket >= w.start_at AND (w.end_at IS NULL OR r.bucket < w.end_at)
               AND CASE b.scope
                   WHEN 'tenant' THEN true
                   WHEN 'project' THEN r.project_id = b.project_id
                   WHEN 'user' THEN r.user_id = b.user_id
                   ELSE r.key_id = b.key_id
               END
         ) u
         WHERE b.id = ANY($1)",
    )
    .bind(&ids)
    .bind(windows.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>())
    .bind(windows.iter().map(|(_, w)| w.start).collect::<Vec<_>>())
    .bind(windows.iter().map(|(_, w)| w.end).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await
    .map_err(db)?;
    let spent: HashMap<Uuid, Spent> = spent.into_iter().map(|s| (s.id, s)).collect();
    rows.into_iter()
        .map(|r| {
            let window = Period::from(period_of(&r.period)).window(zone, now);
            let (tokens, cost) = match spent.get(&r.id) {
                Some(s) => (s.tokens.max(0) as u64, pico_sum(&s.cost_pico)?),
                None => (0, 0),
            };
            let current = BudgetUsage {
                period_start: window.start,
                period_end: window.end,
                tokens,
                cost_usd: format_usd_wide(cost),
            };
            Ok(budget(r, current))
        })
        .collect()
}

/// A `numeric` sum of pico-USD as an exact integer.
pub(crate) fn pico_sum(text: &str) -> Result<i128> {
    text.parse()
        .map_err(|_| Error::Internal(format!("a sum of costs is not an integer: {text}")))
}

async fn fetch(tx: &mut Tx, id: Uuid, lock: bool) -> Result<Row> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let row: Option<Row> =
        sqlx::query_as(sql!("SELECT {COLUMNS} FROM budgets WHERE id = $1{lock}"))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db)?;
    row.ok_or(Error::NotFound("budget"))
}

impl Store {
    /// `max_cost_pico` is the body's `max_cost_usd`, already checked and converted.
    pub async fn create_budget(
        &self,
        scope: &TenantScope,
        body: &CreateBudget,
        max_cost_pico: Option<i64>,
    ) -> Result<Budget> {
        let (project, user, key) = scope_columns(body.scope, body.scope_id);
        let mut tx = self.tenant_tx(scope).await?;
        let row: Row = sqlx::query_as(sql!(
            "INSERT INTO budgets (id, tenant_id, scope, project_id, user_id, key_id, period, max_tokens,
                 max_cost_pico, soft_limit_percent)
             VALUES ($1, ditto_current_tenant(), $2, $3, $4, $5, $6, $7, $8, $9)
             RETURNING {COLUMNS}"
        ))
        .bind(BudgetId::new().0)
        .bind(body.scope.as_str())
        .bind(project)
        .bind(user)
        .bind(key)
        .bind(body.period.as_str())
        .bind(body.max_tokens.map(|v| v as i64))
        .bind(max_cost_pico)
        .bind(body.soft_limit_percent.map(i16::from))
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let row_id = row.id;
        let budget = with_usage(&mut tx, vec![row], Utc::now()).await?.remove(0);
        audit::record_row(&mut tx, scope, "budgets.create", row_id, None).await?;
        tx.commit().await.map_err(db)?;
        Ok(budget)
    }

    pub async fn list_budgets(
        &self,
        scope: &TenantScope,
        filter: &LimitFilter,
        page: &PageParams,
    ) -> Result<BudgetPage> {
        let keyset = Keyset::parse(page, &[BY_CREATION])?;
        let mut qb = list_query("budgets", COLUMNS, filter, &keyset);
        let mut tx = self.tenant_tx(scope).await?;
        let rows: Vec<Row> = qb.build_query_as().fetch_all(&mut *tx).await.map_err(db)?;
        let (rows, next_cursor) = keyset.finish(rows, |r, _| (r.id, None));
        let items = with_usage(&mut tx, rows, Utc::now()).await?;
        tx.commit().await.map_err(db)?;
        Ok(BudgetPage { items, next_cursor })
    }

    pub async fn get_budget(&self, scope: &TenantScope, id: BudgetId) -> Result<Budget> {
        let mut tx = self.tenant_tx(scope).await?;
        let row = fetch(&mut tx, id.0, false).await?;
        let budget = with_usage(&mut tx, vec![row], Utc::now()).await?.remove(0);
        tx.commit().await.map_err(db)?;
        Ok(budget)
    }

    /// Applies a change; the result must still cap something.
    /// `max_cost_pico` is the body's `max_cost_usd`, already checked and converted.
    pub async fn update_budget(
        &self,
        scope: &TenantScope,
        id: BudgetId,
        body: &UpdateBudget,
        max_cost_pico: Option<i64>,
    ) -> Result<Budget> {
        let mut tx = self.tenant_tx(scope).await?;
        // Locked before its image is taken, so the image is what changes.
        let current = fetch(&mut tx, id.0, true).await?;
        let before = audit::image_by_id(&mut tx, "budgets", id.0).await?;
        let max_tokens = merged(
            current.max_tokens.map(|v| v as u64),
            body.max_tokens,
            body.clear_max_tokens,
        );
        let max_cost_pico = merged(
            current.max_cost_pico,
            max_cost_pico,
            body.clear_max_cost_usd,
        );
        let soft_limit_percent = merged(
            current.soft_limit_percent,
            body.soft_limit_percent.map(i16::from),
            body.clear_soft_limit_percent,
        );
        validate::budget_has_a_cap(max_tokens, max_cost_pico)?;
        let row: Row = sqlx::query_as(sql!(
            "UPDATE budgets SET max_tokens = $2, max_cost_pico = $3, soft_limit_percent = $4,
                 updated_at = now()
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id.0)
        .bind(max_tokens.map(|v| v as i64))
        .bind(max_cost_pico)
        .bind(soft_limit_percent)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let budget = with_usage(&mut tx, vec![row], Utc::now()).await?.remove(0);
        audit::record_row(&mut tx, scope, "budgets.update", id.0, before).await?;
        tx.commit().await.map_err(db)?;
        Ok(budget)
    }

    pub async fn delete_budget(&self, scope: &TenantScope, id: BudgetId) -> Result<()> {
        self.delete_scoped(scope, "budgets", id.0, "budget", None)
            .await
    }
}
