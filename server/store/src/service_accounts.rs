//! Service accounts of a tenant and their access tokens.

use chrono::{DateTime, Utc};
use ditto_core::secrets::Minted;
use ditto_core::{Error, Result, TenantScope};
use ditto_types::api::{
    AccessToken, AccessTokenPage, CreateAccessToken, CreateServiceAccount, NameFilter, PageParams,
    ServiceAccount, ServiceAccountPage, UpdateServiceAccount,
};
use ditto_types::{AccessTokenId, ServiceAccountId};
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use crate::page::{BY_CREATION, Keyset};
use crate::tx::Tx;
use crate::{Store, audit, error::db};

const COLUMNS: &str = "id, tenant_id, name, description, disabled, created_at, updated_at";
const TOKEN_COLUMNS: &str =
    "id, service_account_id, name, prefix, expires_at, revoked_at, last_used_at, created_at";

#[derive(FromRow)]
struct Row {
    id: Uuid,
    tenant_id: Option<Uuid>,
    name: String,
    description: String,
    disabled: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for ServiceAccount {
    fn from(r: Row) -> Self {
        ServiceAccount {
            id: r.id.into(),
            tenant_id: r.tenant_id.map(Into::into),
            name: r.name,
            description: r.description,
            disabled: r.disabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(FromRow)]
struct TokenRow {
    id: Uuid,
    service_account_id: Uuid,
    name: String,
    prefix: String,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<TokenRow> for AccessToken {
    fn from(r: TokenRow) -> Self {
        AccessToken {
            id: r.id.into(),
            service_account_id: r.service_account_id.into(),
            name: r.name,
            prefix: r.prefix,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
            created_at: r.created_at,
        }
    }
}

impl Store {
    pub async fn create_service_account(
        &self,
        scope: &TenantScope,
        body: &CreateServiceAccount,
    ) -> Result<ServiceAccount> {
        let mut tx = self.tenant_tx(scope).await?;
        let row: Row = sqlx::query_as(sql!(
            "INSERT INTO service_accounts (id, tenant_id, name, description)
             VALUES ($1, ditto_current_tenant(), $2, $3) RETURNING {COLUMNS}"
        ))
        .bind(ServiceAccountId::new().0)
        .bind(body.name.trim())
        .bind(body.description.as_deref().unwrap_or_default().trim())
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        // The caller checked that the role exists and that it may grant it.
        if let Some(role) = &body.role {
            sqlx::query(
                "INSERT INTO role_bindings (id, tenant_id, role, service_account_id)
                 VALUES ($1, ditto_current_tenant(), $2, $3)",
            )
            .bind(ditto_types::RoleBindingId::new().0)
            .bind(role)
            .bind(row.id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        audit::record_row(&mut tx, scope, "service_accounts.create", row.id, None).await?;
        tx.commit().await.map_err(db)?;
        if body.role.is_some() {
            self.policies_changed(scope.tenant_id());
        }
        Ok(row.into())
    }

    pub async fn list_service_accounts(
        &self,
        scope: &TenantScope,
        filter: &NameFilter,
        page: &PageParams,
    ) -> Result<ServiceAccountPage> {
        let (rows, next_cursor) = self
            .list_searchable(
                scope,
                format!("SELECT {COLUMNS} FROM service_accounts WHERE true"),
                ("name", "name"),
                filter.q.as_deref(),
                page,
                |r: &Row| (r.id, r.name.clone()),
            )
            .await?;
        Ok(ServiceAccountPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        })
    }

    pub async fn get_service_account(
        &self,
        scope: &TenantScope,
        id: ServiceAccountId,
    ) -> Result<ServiceAccount> {
        let mut tx = self.tenant_tx(scope).await?;
        let row = fetch_service_account(&mut tx, id).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    pub async fn update_service_account(
        &self,
        scope: &TenantScope,
        id: ServiceAccountId,
        body: &UpdateServiceAccount,
    ) -> Result<ServiceAccount> {
        let mut tx = self.tenant_tx(scope).await?;
        let before = audit::image_by_id(&mut tx, "service_accounts", id.0).await?;
        let row: Option<Row> = sqlx::query_as(sql!(
            "UPDATE service_accounts SET name = COALESCE($2, name),
                 description = COALESCE($3, description), disabled = COALESCE($4, disabled),
                 updated_at = now()
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id.0)
        .bind(body.name.as_deref().map(str::trim))
        .bind(body.description.as_deref().map(str::trim))
        .bind(body.disabled)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let row = row.ok_or(Error::NotFound("service account"))?;
        audit::record_row(&mut tx, scope, "service_accounts.update", id.0, before).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    /// Deletes a service account; its tokens and keys go with it.
    pub async fn delete_service_account(
        &self,
        scope: &TenantScope,
        id: ServiceAccountId,
    ) -> Result<()> {
        self.delete_scoped(scope, "service_accounts", id.0, "service account", None)
            .await
    }

    pub async fn create_access_token(
        &self,
        scope: &TenantScope,
        service_account: ServiceAccountId,
        body: &CreateAccessToken,
        minted: &Minted,
    ) -> Result<AccessToken> {
        let mut tx = self.tenant_tx(scope).await?;
        fetch_service_account(&mut tx, service_account).await?;
        let row: TokenRow = sqlx::query_as(sql!(
            "INSERT INTO access_tokens (id, tenant_id, service_account_id, name, prefix, token_hash, expires_at)
             VALUES ($1, ditto_current_tenant(), $2, $3, $4, $5, $6) RETURNING {TOKEN_COLUMNS}"
        ))
        .bind(AccessTokenId::new().0)
        .bind(service_account.0)
        .bind(body.name.trim())
        .bind(&minted.prefix)
        .bind(ditto_core::secrets::sha256(minted.full.0.as_bytes()).as_slice())
        .bind(body.expires_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        audit::record_row(&mut tx, scope, "access_tokens.create", row.id, None).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    pub async fn list_access_tokens(
        &self,
        scope: &TenantScope,
        service_account: ServiceAccountId,
        page: &PageParams,
    ) -> Result<AccessTokenPage> {
        let keyset = Keyset::parse(page, &[BY_CREATION, ("name", Some("name"))])?;
        let mut qb = QueryBuilder::new(format!(
            "SELECT {TOKEN_COLUMNS} FROM access_tokens WHERE service_account_id = "
        ));
        qb.push_bind(service_account.0);
        keyset.push_after(&mut qb);
        keyset.push_order_limit(&mut qb);
        let mut tx = self.tenant_tx(scope).await?;
        fetch_service_account(&mut tx, service_account).await?;
        let rows: Vec<TokenRow> = qb.build_query_as().fetch_all(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        let (rows, next_cursor) = keyset.finish(rows, |r, col| (r.id, col.map(|_| r.name.clone())));
        Ok(AccessTokenPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        })
    }

    /// Revokes a token (idempotent) and returns it.
    pub async fn revoke_access_token(
        &self,
        scope: &TenantScope,
        service_account: ServiceAccountId,
        id: AccessTokenId,
    ) -> Result<AccessToken> {
        let mut tx = self.tenant_tx(scope).await?;
        let before = audit::image_by_id(&mut tx, "access_tokens", id.0).await?;
        let row: Option<TokenRow> = sqlx::query_as(sql!(
            "UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, now())
             WHERE id = $1 AND service_account_id = $2 RETURNING {TOKEN_COLUMNS}"
        ))
        .bind(id.0)
        .bind(service_account.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let row = row.ok_or(Error::NotFound("access token"))?;
        audit::record_row(&mut tx, scope, "access_tokens.revoke", id.0, before).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }
}

async fn fetch_service_account(tx: &mut Tx, id: ServiceAccountId) -> Result<Row> {
    let row: Option<Row> =
        sqlx::query_as(sql!("SELECT {COLUMNS} FROM service_accounts WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db)?;
    row.ok_or(Error::NotFound("service account"))
}
