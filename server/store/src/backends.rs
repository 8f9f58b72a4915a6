//! Upstream backends of a tenant. Credentials arrive already sealed by the
//! caller (`ditto_core::crypto`); this layer never sees them in clear.

use chrono::{DateTime, Utc};
use ditto_core::secret_binding::Rebinding;
use ditto_core::{Error, Result, TenantScope};
use ditto_types::BackendId;
use ditto_types::api::{
    Backend, BackendPage, CreateBackend, NameFilter, PageParams, Provider, UpdateBackend,
};
use sqlx::FromRow;
use uuid::Uuid;

use crate::{Store, audit, error::db};

const COLUMNS: &str =
    "id, tenant_id, name, provider, base_url, credentials IS NOT NULL AS has_credentials,
    timeout_ms, connect_timeout_ms, max_in_flight, created_at, updated_at";

#[derive(FromRow)]
struct Row {
    id: Uuid,
    tenant_id: Uuid,
    name: String,
    provider: String,
    base_url: String,
    has_credentials: bool,
    timeout_ms: i32,
    connect_timeout_ms: i32,
    max_in_flight: Option<i32>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Backend {
    fn from(r: Row) -> Self {
        Backend {
            id: r.id.into(),
            tenant_id: r.tenant_id.into(),
            name: r.name,
            provider: Provider::parse(&r.provider).unwrap_or_default(),
            base_url: r.base_url,
            has_credentials: r.has_credentials,
            timeout_ms: r.timeout_ms as u32,
            connect_timeout_ms: r.connect_timeout_ms as u32,
            max_in_flight: r.max_in_flight.map(|n| n as u32),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A base URL without its trailing slashes, so paths join predictably.
fn normalized(url: &str) -> &str {
    url.trim_end_matches('/')
}

impl Store {
    /// Creates a backend with id `id` (the id the credentials are sealed to).
    pub async fn create_backend(
        &self,
        scope: &TenantScope,
        id: BackendId,
        body: &CreateBackend,
        sealed_credentials: Option<Vec<u8>>,
    ) -> Result<Backend> {
        let mut tx = self.tenant_tx(scope).await?;
        let row: Row = sqlx::query_as(sql!(
            "INSERT INTO backends (id, tenant_id, name, provider, base_url, credentials, timeout_ms,
                 connect_timeout_ms, max_in_flight)
             VALUES ($1, ditto_current_tenant(), $2, $3, $4, $5, COALESCE($6, 60000), COALESCE($7, 5000), $8)
             RETURNING {COLUMNS}"
        ))
        .bind(id.0)
        .bind(body.name.trim())
        .bind(body.provider.as_str())
        .bind(normalized(&body.base_url))
        .bind(sealed_credentials)
        .bind(body.timeout_ms.map(|v| v as i32))
        .bind(body.connect_timeout_ms.map(|v| v as i32))
        .bind(body.max_in_flight.map(|v| v as i32))
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        audit::record_row(&mut tx, scope, "backends.create", id.0, None).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    pub async fn list_backends(
        &self,
        scope: &TenantScope,
        filter: &NameFilter,
        page: &PageParams,
    ) -> Result<BackendPage> {
        let (rows, next_cursor) = self
            .list_searchable(
                scope,
                format!("SELECT {COLUMNS} FROM backends WHERE true"),
                ("name", "name"),
                filter.q.as_deref(),
                page,
                |r: &Row| (r.id, r.name.clone()),
            )
            .await?;
        Ok(BackendPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        })
    }

    pub async fn get_backend(&self, scope: &TenantScope, id: BackendId) -> Result<Backend> {
        let mut tx = self.tenant_tx(scope).await?;
        let row: Option<Row> = sqlx::query_as(sql!("SELECT {COLUMNS} FROM backends WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        row.map(Into::into).ok_or(Error::NotFound("backend"))
    }

    /// `sealed_credentials`: `Some` replaces them (sealed to `id`).
    pub async fn update_backend(
        &self,
        scope: &TenantScope,
        id: BackendId,
        body: &UpdateBackend,
        sealed_credentials: Option<Vec<u8>>,
    ) -> Result<Backend> {
        let mut tx = self.tenant_tx(scope).await?;
        let current: Option<(String, bool)> = sqlx::query_as(
            "SELECT base_url, credentials IS NOT NULL FROM backends WHERE id = $1 FOR UPDATE",
        )
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let (base_url, holds_secret) = current.ok_or(Error::NotFound("backend"))?;
        Rebinding {
            secret_field: "/credentials",
            destination: "base_url",
            moves: body
                .base_url
                .as_deref()
                .is_some_and(|url| normalized(url) != base_url),
            holds_secret,
            replaces_secret: sealed_credentials.is_some() || body.clear_credentials,
        }
        .check()?;
        let before = audit::image_by_id(&mut tx, "backends", id.0).await?;
        let row: Option<Row> = sqlx::query_as(sql!(
            "UPDATE backends SET name = COALESCE($2, name), base_url = COALESCE($3, base_url),
                 credentials = CASE WHEN $5 THEN NULL ELSE COALESCE($4, credentials) END,
                 timeout_ms = COALESCE($6, timeout_ms), connect_timeout_ms = COALESCE($7, connect_timeout_ms),
                 max_in_flight = CASE WHEN $9 THEN NULL ELSE COALESCE($8, max_in_flight) END,
                 updated_at = now()
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id.0)
        .bind(body.name.as_deref().map(str::trim))
        .bind(body.base_url.as_deref().map(normalized))
        .bind(sealed_credentials)
        .bind(body.clear_credentials)
        .bind(body.timeout_ms.map(|v| v as i32))
        .bind(body.connect_timeout_ms.map(|v| v as i32))
        .bind(body.max_in_flight.map(|v| v as i32))
        .bind(body.clear_max_in_flight)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let row = row.ok_or(Error::NotFound("backend"))?;
        audit::record_row(&mut tx, scope, "backends.update", id.0, before).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    /// Deletes a backend no route uses.
    pub async fn delete_backend(&self, scope: &TenantScope, id: BackendId) -> Result<()> {
        let in_use = "routes still send traffic to this backend; remove it from them first";
        self.delete_scoped(scope, "backends", id.0, "backend", Some(in_use))
            .await
    }
}
