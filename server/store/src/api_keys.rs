//! Virtual API keys of a tenant. The secret is handed out once by the caller
//! (see `ditto_core::secrets`); only its digest is stored here.

use chrono::{DateTime, Utc};
use ditto_core::secrets::Minted;
use ditto_core::{Error, Result, TenantScope};
use ditto_types::ApiKeyId;
use ditto_types::api::{
    ApiKey, ApiKeyFilter, ApiKeyPage, ApiKeyStatus, CreateApiKey, PageParams, UpdateApiKey,
};
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use crate::page::{BY_CREATION, Keyset};
use crate::tenants::like_escape;
use crate::{Store, audit, error::db};

// `status` is derived in SQL so that filters and responses agree on "now".
const COLUMNS: &str =
    "id, tenant_id, project_id, name, public_id, owner_user_id, owner_service_account_id,
    expires_at, revoked_at, last_used_at, rotated_at, created_at, updated_at, allowed_models,
    CASE WHEN revoked_at IS NOT NULL THEN 'revoked'
         WHEN expires_at IS NOT NULL AND expires_at <= now() THEN 'expired'
         ELSE 'active' END AS status";

const STATUS_SQL: &str = "(CASE WHEN revoked_at IS NOT NULL THEN 'revoked'
    WHEN expires_at IS NOT NULL AND expires_at <= now() THEN 'expired' ELSE 'active' END)";

#[derive(FromRow)]
struct Row {
    id: Uuid,
    tenant_id: Uuid,
    project_id: Uuid,
    name: String,
    public_id: String,
    owner_user_id: Option<Uuid>,
    owner_service_account_id: Option<Uuid>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    rotated_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    allowed_models: Option<Vec<String>>,
    status: String,
}

fn status_str(s: ApiKeyStatus) -> &'static str {
    match s {
        ApiKeyStatus::Active => "active",
        ApiKeyStatus::Expired => "expired",
        ApiKeyStatus::Revoked => "revoked",
    }
}

impl From<Row> for ApiKey {
    fn from(r: Row) -> Self {
        ApiKey {
            id: r.id.into(),
            tenant_id: r.tenant_id.into(),
            project_id: r.project_id.into(),
            name: r.name,
            prefix: format!("{}-{}", ditto_core::secrets::API_KEY_PREFIX, r.public_id),
            status: match r.status.as_str() {
                "revoked" => ApiKeyStatus::Revoked,
                "expired" => ApiKeyStatus::Expired,
                _ => ApiKeyStatus::Active,
            },
            owner_user_id: r.owner_user_id.map(Into::into),
            owner_service_account_id: r.owner_service_account_id.map(Into::into),
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
            rotated_at: r.rotated_at,
            allowed_models: r.allowed_models,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl Store {
    pub async fn create_api_key(
        &self,
        scope: &TenantScope,
        body: &CreateApiKey,
        minted: &Minted,
    ) -> Result<ApiKey> {
        let mut tx = self.tenant_tx(scope).await?;
        let row: Row = sqlx::query_as(sql!(
            "INSERT INTO api_keys (id, tenant_id, project_id, name, public_id, secret_hash,
                 owner_user_id, owner_service_account_id, expires_at, allowed_models)
             VALUES ($1, ditto_current_tenant(), $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLUMNS}"
        ))
        .bind(ApiKeyId::new().0)
        .bind(body.project_id.0)
        .bind(body.name.trim())
        .bind(&minted.public_id)
        .bind(minted.hash.as_slice())
        .bind(body.owner_user_id.map(|id| id.0))
        .bind(body.owner_service_account_id.map(|id| id.0))
        .bind(body.expires_at)
        .bind(&body.allowed_models)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        audit::record_row(&mut tx, scope, "api_keys.create", row.id, None).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    /// Lists keys; `within`: only keys of these projects (a caller whose
    /// right to read keys comes from project role bindings).
    pub async fn list_api_keys(
        &self,
        scope: &TenantScope,
        filter: &ApiKeyFilter,
        page: &PageParams,
        within: Option<&[Uuid]>,
    ) -> Result<ApiKeyPage> {
        let keyset = Keyset::parse(page, &[BY_CREATION, ("name", Some("name"))])?;
        let q = ditto_core::validate::search_term(filter.q.as_deref())?;
        let mut qb = QueryBuilder::new(format!("SELECT {COLUMNS} FROM api_keys WHERE true"));
        if let Some(project) = filter.project_id {
            qb.push(" AND project_id = ").push_bind(project.0);
        }
        if let Some(projects) = within {
            qb.push(" AND project_id = ANY(")
                .push_bind(projects.to_vec())
                .push(")");
        }
        if let Some(status) = filter.status {
            qb.push(format!(" AND {STATUS_SQL} = "))
                .push_bind(status_str(status));
        }
        if let Some(owner) = filter.owner_user_id {
            qb.push(" AND owner_user_id = ").push_bind(owner.0);
        }
        if let Some(owner) = filter.owner_service_account_id {
            qb.push(" AND owner_service_account_id = ")
                .push_bind(owner.0);
        }
        if let Some(q) = q {
            qb.push(" AND name ILIKE ")
                .push_bind(format!("%{}%", like_escape(&q)));
        }
        keyset.push_after(&mut qb);
        keyset.push_order_limit(&mut qb);
        let mut tx = self.tenant_tx(scope).await?;
        let rows: Vec<Row> = qb.build_query_as().fetch_all(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        let (rows, next_cursor) = keyset.finish(rows, |r, col| (r.id, col.map(|_| r.name.clone())));
        Ok(ApiKeyPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        })
    }

    /// The project a key belongs to, to authorize acting on it by project.
    pub async fn api_key_project(&self, scope: &TenantScope, id: ApiKeyId) -> Result<Option<Uuid>> {
        let mut tx = self.tenant_tx(scope).await?;
        let project: Option<Uuid> =
            sqlx::query_scalar("SELECT project_id FROM api_keys WHERE id = $1")
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(project)
    }

    pub async fn get_api_key(&self, scope: &TenantScope, id: ApiKeyId) -> Result<ApiKey> {
        let mut tx = self.tenant_tx(scope).await?;
        let row: Option<Row> = sqlx::query_as(sql!("SELECT {COLUMNS} FROM api_keys WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        row.map(Into::into).ok_or(Error::NotFound("API key"))
    }

    pub async fn update_api_key(
        &self,
        scope: &TenantScope,
        id: ApiKeyId,
        body: &UpdateApiKey,
    ) -> Result<ApiKey> {
        let mut tx = self.tenant_tx(scope).await?;
        let before = audit::image_by_id(&mut tx, "api_keys", id.0).await?;
        let row: Option<Row> = sqlx::query_as(sql!(
            "UPDATE api_keys SET name = COALESCE($2, name),
                 allowed_models = CASE WHEN $4 THEN NULL ELSE COALESCE($3, allowed_models) END,
                 updated_at = now()
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id.0)
        .bind(body.name.as_deref().map(str::trim))
        .bind(&body.allowed_models)
        .bind(body.clear_allowed_models)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let row = row.ok_or(Error::NotFound("API key"))?;
        audit::record_row(&mut tx, scope, "api_keys.update", id.0, before).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    /// Revokes a key (idempotent: revoking twice keeps the first time).
    pub async fn revoke_api_key(&self, scope: &TenantScope, id: ApiKeyId) -> Result<ApiKey> {
        let mut tx = self.tenant_tx(scope).await?;
        let before = audit::image_by_id(&mut tx, "api_keys", id.0).await?;
        let row: Option<Row> = sqlx::query_as(sql!(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()),
                 updated_at = CASE WHEN revoked_at IS NULL THEN now() ELSE updated_at END
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let row = row.ok_or(Error::NotFound("API key"))?;
        audit::record_row(&mut tx, scope, "api_keys.revoke", id.0, before).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    /// Replaces a key's secret (and public id): the old secret stops working
    /// at once; the key keeps its id, name, project and owner.
    pub async fn rotate_api_key(
        &self,
        scope: &TenantScope,
        id: ApiKeyId,
        minted: &Minted,
    ) -> Result<ApiKey> {
        let mut tx = self.tenant_tx(scope).await?;
        let current: Option<(Option<DateTime<Utc>>,)> =
            sqlx::query_as("SELECT revoked_at FROM api_keys WHERE id = $1 FOR UPDATE")
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        match current {
            None => return Err(Error::NotFound("API key")),
            Some((Some(_),)) => {
                return Err(Error::Conflict("a revoked key cannot be rotated".into()));
            }
            Some((None,)) => {}
        }
        let before = audit::image_by_id(&mut tx, "api_keys", id.0).await?;
        let row: Row = sqlx::query_as(sql!(
            "UPDATE api_keys SET public_id = $2, secret_hash = $3, rotated_at = now(), updated_at = now()
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id.0)
        .bind(&minted.public_id)
        .bind(minted.hash.as_slice())
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        audit::record_row(&mut tx, scope, "api_keys.rotate", id.0, before).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }
}
