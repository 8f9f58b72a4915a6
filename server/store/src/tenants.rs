//! Tenants: managed on the platform path; a tenant sees only its own row.

use chrono::{DateTime, Utc};
use ditto_core::{Error, PlatformScope, Result, TenantRef, TenantScope};
use ditto_types::TenantId;
use ditto_types::api::{
    CreateTenant, PageParams, Tenant, TenantFilter, TenantPage, TenantStatus, UpdateTenant,
};
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use crate::page::{BY_CREATION, Keyset};
use crate::{Store, audit, error::db};

const COLUMNS: &str = "id, slug, name, status, time_zone, created_at, updated_at";

#[derive(FromRow)]
struct Row {
    id: Uuid,
    slug: String,
    name: String,
    status: String,
    time_zone: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn status(s: &str) -> TenantStatus {
    match s {
        "suspended" => TenantStatus::Suspended,
        _ => TenantStatus::Active,
    }
}

impl From<Row> for Tenant {
    fn from(r: Row) -> Self {
        Tenant {
            id: r.id.into(),
            status: status(&r.status),
            slug: r.slug,
            name: r.name,
            time_zone: r.time_zone,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl Store {
    /// Finds the tenant named in a URL (slug or id) so it can be authorized.
    /// Runs before authorization; callers must answer 404 for tenants the
    /// principal may not see, exactly as for tenants that do not exist.
    pub async fn resolve_tenant(&self, slug_or_id: &str) -> Result<TenantRef> {
        let mut tx = self.unscoped_platform_tx().await?;
        let row: Option<(Uuid, String)> = match Uuid::parse_str(slug_or_id) {
            Ok(id) => sqlx::query_as("SELECT id, status FROM tenants WHERE id = $1").bind(id),
            Err(_) => {
                sqlx::query_as("SELECT id, status FROM tenants WHERE slug = $1").bind(slug_or_id)
            }
        }
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        let (id, s) = row.ok_or(Error::NotFound("tenant"))?;
        Ok(TenantRef {
            id: id.into(),
            status: status(&s),
        })
    }

    pub async fn create_tenant(
        &self,
        scope: &PlatformScope,
        body: &CreateTenant,
    ) -> Result<Tenant> {
        let mut tx = self.platform_tx(scope).await?;
        known_time_zone(&mut tx, body.time_zone.as_deref()).await?;
        let row: Row = sqlx::query_as(sql!(
            "INSERT INTO tenants (id, slug, name, time_zone) VALUES ($1, $2, $3, COALESCE($4, 'UTC'))
             RETURNING {COLUMNS}"
        ))
        .bind(TenantId::new().0)
        .bind(&body.slug)
        .bind(body.name.trim())
        .bind(body.time_zone.as_deref())
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        record_tenant(&mut tx, scope, "tenants.create", row.id, None).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    pub async fn list_tenants(
        &self,
        scope: &PlatformScope,
        filter: &TenantFilter,
        page: &PageParams,
    ) -> Result<TenantPage> {
        let keyset = Keyset::parse(
            page,
            &[BY_CREATION, ("name", Some("name")), ("slug", Some("slug"))],
        )?;
        let q = ditto_core::validate::search_term(filter.q.as_deref())?;
        let mut qb = QueryBuilder::new(format!("SELECT {COLUMNS} FROM tenants WHERE true"));
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
        let rows: Vec<Row> = qb.build_query_as().fetch_all(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        let (rows, next_cursor) = keyset.finish(rows, |r, col| {
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
        Ok(TenantPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        })
    }

    /// The caller's tenant, read through row-level security.
    pub async fn get_tenant(&self, scope: &TenantScope) -> Result<Tenant> {
        let mut tx = self.tenant_tx(scope).await?;
        // No WHERE: the policy shows a tenant principal its own row only.
        let row: Option<Row> = sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM tenants WHERE id = ditto_current_tenant()"
        ))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        row.map(Into::into).ok_or(Error::NotFound("tenant"))
    }

    pub async fn update_tenant(
        &self,
        scope: &PlatformScope,
        id: TenantId,
        body: &UpdateTenant,
    ) -> Result<Tenant> {
        let mut tx = self.platform_tx(scope).await?;
        known_time_zone(&mut tx, body.time_zone.as_deref()).await?;
        let before = audit::image_by_id(&mut tx, "tenants", id.0).await?;
        let row: Option<Row> = sqlx::query_as(sql!(
            "UPDATE tenants SET name = COALESCE($2, name), time_zone = COALESCE($3, time_zone),
                 updated_at = now()
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id.0)
        .bind(body.name.as_deref().map(str::trim))
        .bind(body.time_zone.as_deref())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let row = row.ok_or(Error::NotFound("tenant"))?;
        record_tenant(&mut tx, scope, "tenants.update", id.0, before).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    pub async fn set_tenant_status(
        &self,
        scope: &PlatformScope,
        id: TenantId,
        status: TenantStatus,
    ) -> Result<Tenant> {
        let mut tx = self.platform_tx(scope).await?;
        let before = audit::image_by_id(&mut tx, "tenants", id.0).await?;
        let row: Option<Row> = sqlx::query_as(sql!(
            "UPDATE tenants SET status = $2,
                 updated_at = CASE WHEN status = $2 THEN updated_at ELSE now() END
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id.0)
        .bind(status.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let row = row.ok_or(Error::NotFound("tenant"))?;
        let action = match status {
            TenantStatus::Suspended => "tenants.suspend",
            TenantStatus::Active => "tenants.resume",
        };
        record_tenant(&mut tx, scope, action, id.0, before).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    /// Deletes a tenant and, by cascade, everything it owns.
    pub async fn delete_tenant(&self, scope: &PlatformScope, id: TenantId) -> Result<()> {
        let mut tx = self.platform_tx(scope).await?;
        let before = audit::image_by_id(&mut tx, "tenants", id.0).await?;
        // The usage ledger and its roll-ups have no foreign key to cascade
        // through; route targets go first, or the cascade may reach a backend
        // while a target still restricts its deletion.
        for table in ["usage_events", "usage_rollups", "route_targets"] {
            sqlx::query(sql!("DELETE FROM {table} WHERE tenant_id = $1"))
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        let done = sqlx::query("DELETE FROM tenants WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound("tenant"));
        }
        // The tenant's own audit trail stays: it has no foreign key to cascade through.
        record_tenant(&mut tx, scope, "tenants.delete", id.0, before).await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }
}

/// Records a change to a tenant in the platform chain.
async fn record_tenant(
    tx: &mut crate::tx::Tx,
    scope: &PlatformScope,
    action: &'static str,
    id: Uuid,
    before: Option<serde_json::Value>,
) -> Result<()> {
    let after = audit::image_by_id(tx, "tenants", id).await?;
    let change = audit::Change::new(action, "tenant")
        .target(id)
        .before(before)
        .after(after);
    audit::record_platform(tx, scope, change).await
}

/// Usage is bucketed by day in the tenant's zone by Postgres, whose zone
/// database may lag the one names are checked against: refuse what it does
/// not know rather than fail every usage query later.
async fn known_time_zone(tx: &mut crate::tx::Tx, zone: Option<&str>) -> Result<()> {
    let Some(zone) = zone else { return Ok(()) };
    let known: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)")
            .bind(zone)
            .fetch_one(&mut **tx)
            .await
            .map_err(db)?;
    if known {
        Ok(())
    } else {
        Err(Error::invalid(
            "/time_zone",
            "invalid_value",
            format!("`{zone}` is not a time zone this database knows"),
        ))
    }
}

/// The zone the tenant of a scoped transaction counts its days in.
pub(crate) async fn tenant_zone(
    tx: &mut crate::tx::Tx,
) -> Result<(String, ditto_core::period::Tz)> {
    let name: Option<String> =
        sqlx::query_scalar("SELECT time_zone FROM tenants WHERE id = ditto_current_tenant()")
            .fetch_optional(&mut **tx)
            .await
            .map_err(db)?;
    let name = name.ok_or(Error::NotFound("tenant"))?;
    match ditto_core::period::parse_zone(&name) {
        Ok(zone) => Ok((name, zone)),
        Err(e) => {
            tracing::warn!(error = %e, "stored tenant time zone is unknown; using UTC");
            Ok(("UTC".to_owned(), ditto_core::period::Tz::UTC))
        }
    }
}

/// Escapes LIKE wildcards so a search term matches literally.
pub(crate) fn like_escape(term: &str) -> String {
    let mut out = String::with_capacity(term.len());
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
