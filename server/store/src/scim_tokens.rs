//! SCIM provisioning tokens of a tenant: created and revoked in the admin
//! API, presented by the tenant's identity provider to `/t/{tenant}/scim/v2`.

use chrono::{DateTime, Utc};
use ditto_core::secrets::{Minted, sha256};
use ditto_core::{Error, Result, TenantScope};
use ditto_types::api::{PageParams, ScimToken, ScimTokenPage};
use ditto_types::{ScimTokenId, TenantId};
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use crate::page::{BY_CREATION, Keyset};
use crate::{Store, audit, error::db};

const COLUMNS: &str = "id, tenant_id, name, prefix, revoked_at, last_used_at, created_at";

/// How long `last_used_at` may lag, so authentication does not write on
/// every request.
const LAST_USED_RESOLUTION_SECS: i32 = 60;

#[derive(FromRow)]
struct Row {
    id: Uuid,
    tenant_id: Uuid,
    name: String,
    prefix: String,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<Row> for ScimToken {
    fn from(r: Row) -> Self {
        ScimToken {
            id: r.id.into(),
            tenant_id: r.tenant_id.into(),
            name: r.name,
            prefix: r.prefix,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
            created_at: r.created_at,
        }
    }
}

impl Store {
    pub async fn create_scim_token(
        &self,
        scope: &TenantScope,
        name: &str,
        minted: &Minted,
    ) -> Result<ScimToken> {
        let mut tx = self.tenant_tx(scope).await?;
        let row: Row = sqlx::query_as(sql!(
            "INSERT INTO scim_tokens (id, tenant_id, name, prefix, token_hash)
             VALUES ($1, ditto_current_tenant(), $2, $3, $4) RETURNING {COLUMNS}"
        ))
        .bind(ScimTokenId::new().0)
        .bind(name.trim())
        .bind(&minted.prefix)
        .bind(sha256(minted.full.0.as_bytes()).as_slice())
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        audit::record_row(&mut tx, scope, "scim_tokens.create", row.id, None).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    pub async fn list_scim_tokens(
        &self,
        scope: &TenantScope,
        page: &PageParams,
    ) -> Result<ScimTokenPage> {
        let keyset = Keyset::parse(page, &[BY_CREATION, ("name", Some("name"))])?;
        let mut qb = QueryBuilder::new(format!("SELECT {COLUMNS} FROM scim_tokens WHERE true"));
        keyset.push_after(&mut qb);
        keyset.push_order_limit(&mut qb);
        let mut tx = self.tenant_tx(scope).await?;
        let rows: Vec<Row> = qb.build_query_as().fetch_all(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        let (rows, next_cursor) = keyset.finish(rows, |r, col| (r.id, col.map(|_| r.name.clone())));
        Ok(ScimTokenPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        })
    }

    /// Revokes a SCIM token (idempotent) and returns it.
    pub async fn revoke_scim_token(
        &self,
        scope: &TenantScope,
        id: ScimTokenId,
    ) -> Result<ScimToken> {
        let mut tx = self.tenant_tx(scope).await?;
        let before = audit::image_by_id(&mut tx, "scim_tokens", id.0).await?;
        let row: Option<Row> = sqlx::query_as(sql!(
            "UPDATE scim_tokens SET revoked_at = COALESCE(revoked_at, now())
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let row = row.ok_or(Error::NotFound("SCIM token"))?;
        audit::record_row(&mut tx, scope, "scim_tokens.revoke", id.0, before).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    /// The SCIM token of `tenant` this bearer token is, if it is one and not
    /// revoked. Another tenant's token is no token here.
    pub async fn authenticate_scim_token(
        &self,
        tenant: TenantId,
        token: &str,
    ) -> Result<Option<ScimTokenId>> {
        let digest = sha256(token.as_bytes());
        let mut tx = self.unscoped_platform_tx().await?;
        let id: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM scim_tokens
             WHERE token_hash = $1 AND tenant_id = $2 AND revoked_at IS NULL",
        )
        .bind(digest.as_slice())
        .bind(tenant.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if let Some(id) = id {
            sqlx::query(
                "UPDATE scim_tokens SET last_used_at = now() WHERE id = $1
                   AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2))",
            )
            .bind(id)
            .bind(LAST_USED_RESOLUTION_SECS)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(id.map(Into::into))
    }
}
