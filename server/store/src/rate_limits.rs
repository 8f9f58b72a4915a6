//! Rate limits of a tenant, project, user or key. The scope's id is kept in
//! the column of its kind, where a composite foreign key checks that it is
//! a row of that kind in this tenant.

use chrono::{DateTime, Utc};
use ditto_core::{Error, Result, TenantScope, validate};
use ditto_types::RateLimitId;
use ditto_types::api::{
    CreateRateLimit, LimitFilter, LimitScope, PageParams, RateLimit, RateLimitPage, UpdateRateLimit,
};
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use crate::page::{BY_CREATION, Keyset};
use crate::tx::Tx;
use crate::{Store, audit, error::db};

const COLUMNS: &str = "id, tenant_id, scope, project_id, user_id, key_id, model, rpm, tpm,
    max_concurrent, created_at, updated_at";

#[derive(FromRow)]
struct Row {
    id: Uuid,
    tenant_id: Uuid,
    scope: String,
    project_id: Option<Uuid>,
    user_id: Option<Uuid>,
    key_id: Option<Uuid>,
    model: Option<String>,
    rpm: Option<i32>,
    tpm: Option<i64>,
    max_concurrent: Option<i32>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for RateLimit {
    fn from(r: Row) -> Self {
        RateLimit {
            id: r.id.into(),
            tenant_id: r.tenant_id.into(),
            scope: scope_of(&r.scope),
            scope_id: scope_id(r.project_id, r.user_id, r.key_id),
            model: r.model,
            rpm: r.rpm.map(|v| v as u32),
            tpm: r.tpm.map(|v| v as u64),
            max_concurrent: r.max_concurrent.map(|v| v as u32),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

pub(crate) fn scope_of(s: &str) -> LimitScope {
    LimitScope::ALL
        .into_iter()
        .find(|scope| scope.as_str() == s)
        .unwrap_or(LimitScope::Tenant)
}

/// The (project_id, user_id, key_id) columns of a scope.
pub(crate) fn scope_columns(
    scope: LimitScope,
    id: Option<Uuid>,
) -> (Option<Uuid>, Option<Uuid>, Option<Uuid>) {
    match scope {
        LimitScope::Tenant => (None, None, None),
        LimitScope::Project => (id, None, None),
        LimitScope::User => (None, id, None),
        LimitScope::Key => (None, None, id),
    }
}

/// The id of a scope, from whichever of its columns is set.
pub(crate) fn scope_id(
    project: Option<Uuid>,
    user: Option<Uuid>,
    key: Option<Uuid>,
) -> Option<Uuid> {
    project.or(user).or(key)
}

/// The query of one page of a table of limits (rate limits or budgets),
/// newest first, filtered by `scope` and `scope_id`.
pub(crate) fn list_query(
    table: &str,
    columns: &str,
    filter: &LimitFilter,
    keyset: &Keyset,
) -> QueryBuilder<sqlx::Postgres> {
    let mut qb = QueryBuilder::new(format!("SELECT {columns} FROM {table} WHERE true"));
    if let Some(scope) = filter.scope {
        qb.push(" AND scope = ").push_bind(scope.as_str());
    }
    if let Some(id) = filter.scope_id {
        qb.push(" AND ").push_bind(id);
        qb.push(" IN (project_id, user_id, key_id)");
    }
    keyset.push_after(&mut qb);
    keyset.push_order_limit(&mut qb);
    qb
}

async fn fetch(tx: &mut Tx, id: Uuid, lock: bool) -> Result<Row> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let row: Option<Row> = sqlx::query_as(sql!(
        "SELECT {COLUMNS} FROM rate_limits WHERE id = $1{lock}"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db)?;
    row.ok_or(Error::NotFound("rate limit"))
}

/// A patched optional value: cleared, replaced or kept.
pub(crate) fn merged<T>(current: Option<T>, new: Option<T>, clear: bool) -> Option<T> {
    if clear { None } else { new.or(current) }
}

impl Store {
    pub async fn create_rate_limit(
        &self,
        scope: &TenantScope,
        body: &CreateRateLimit,
    ) -> Result<RateLimit> {
        let (project, user, key) = scope_columns(body.scope, body.scope_id);
        let mut tx = self.tenant_tx(scope).await?;
        let row: Row = sqlx::query_as(sql!(
            "INSERT INTO rate_limits (id, tenant_id, scope, project_id, user_id, key_id, model, rpm, tpm,
                 max_concurrent)
             VALUES ($1, ditto_current_tenant(), $2, $3, $4, $5, $6, $7, $8, $9)
             RETURNING {COLUMNS}"
        ))
        .bind(RateLimitId::new().0)
        .bind(body.scope.as_str())
        .bind(project)
        .bind(user)
        .bind(key)
        .bind(body.model.as_deref())
        .bind(body.rpm.map(|v| v as i32))
        .bind(body.tpm.map(|v| v as i64))
        .bind(body.max_concurrent.map(|v| v as i32))
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        audit::record_row(&mut tx, scope, "rate_limits.create", row.id, None).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    pub async fn list_rate_limits(
        &self,
        scope: &TenantScope,
        filter: &LimitFilter,
        page: &PageParams,
    ) -> Result<RateLimitPage> {
        let keyset = Keyset::parse(page, &[BY_CREATION])?;
        let mut qb = list_query("rate_limits", COLUMNS, filter, &keyset);
        let mut tx = self.tenant_tx(scope).await?;
        let rows: Vec<Row> = qb.build_query_as().fetch_all(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        let (rows, next_cursor) = keyset.finish(rows, |r, _| (r.id, None));
        Ok(RateLimitPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        })
    }

    pub async fn get_rate_limit(&self, scope: &TenantScope, id: RateLimitId) -> Result<RateLimit> {
        let mut tx = self.tenant_tx(scope).await?;
        let row = fetch(&mut tx, id.0, false).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    /// Applies a change; the result must still limit something.
    pub async fn update_rate_limit(
        &self,
        scope: &TenantScope,
        id: RateLimitId,
        body: &UpdateRateLimit,
    ) -> Result<RateLimit> {
        let mut tx = self.tenant_tx(scope).await?;
        // Locked before its image is taken, so the image is what changes.
        let current = RateLimit::from(fetch(&mut tx, id.0, true).await?);
        let before = audit::image_by_id(&mut tx, "rate_limits", id.0).await?;
        let model = merged(current.model, body.model.clone(), body.clear_model);
        let rpm = merged(current.rpm, body.rpm, body.clear_rpm);
        let tpm = merged(current.tpm, body.tpm, body.clear_tpm);
        let max_concurrent = merged(
            current.max_concurrent,
            body.max_concurrent,
            body.clear_max_concurrent,
        );
        validate::rate_limit_has_a_limit(rpm, tpm, max_concurrent)?;
        let row: Row = sqlx::query_as(sql!(
            "UPDATE rate_limits SET model = $2, rpm = $3, tpm = $4, max_concurrent = $5, updated_at = now()
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id.0)
        .bind(model)
        .bind(rpm.map(|v| v as i32))
        .bind(tpm.map(|v| v as i64))
        .bind(max_concurrent.map(|v| v as i32))
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        audit::record_row(&mut tx, scope, "rate_limits.update", id.0, before).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    pub async fn delete_rate_limit(&self, scope: &TenantScope, id: RateLimitId) -> Result<()> {
        self.delete_scoped(scope, "rate_limits", id.0, "rate limit", None)
            .await
    }
}
