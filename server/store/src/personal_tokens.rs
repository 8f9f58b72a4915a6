//! Personal access tokens: bearer tokens that act as their user, for
//! scripts and generated API clients, optionally narrowed to some of the
//! user's permissions.

use chrono::{DateTime, Utc};
use ditto_core::secrets::{Minted, sha256};
use ditto_core::{Error, Grants, Result, TenantScope};
use ditto_types::api::{PageParams, PersonalAccessToken, PersonalAccessTokenPage};
use ditto_types::{AccessTokenId, UserId};
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use crate::page::{BY_CREATION, Keyset};
use crate::{Store, audit, error::db};

const COLUMNS: &str =
    "id, user_id, name, prefix, permissions, expires_at, revoked_at, last_used_at, created_at";

#[derive(FromRow)]
struct Row {
    id: Uuid,
    user_id: Uuid,
    name: String,
    prefix: String,
    permissions: Option<Vec<String>>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<Row> for PersonalAccessToken {
    fn from(r: Row) -> Self {
        PersonalAccessToken {
            id: r.id.into(),
            user_id: r.user_id.into(),
            name: r.name,
            prefix: r.prefix,
            permissions: r.permissions,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
            created_at: r.created_at,
        }
    }
}

/// A validated request for a personal access token.
#[derive(Debug)]
pub struct NewPersonalToken<'a> {
    pub name: &'a str,
    pub expires_at: DateTime<Utc>,
    /// `None`: everything the user may do.
    pub permissions: Option<Grants>,
}

impl Store {
    pub async fn create_personal_token(
        &self,
        scope: &TenantScope,
        user: UserId,
        new: &NewPersonalToken<'_>,
        minted: &Minted,
    ) -> Result<PersonalAccessToken> {
        let mut tx = self.tenant_tx(scope).await?;
        let row: Row = sqlx::query_as(sql!(
            "INSERT INTO access_tokens (id, tenant_id, user_id, name, prefix, token_hash,
                 expires_at, permissions)
             VALUES ($1, ditto_current_tenant(), $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
        ))
        .bind(AccessTokenId::new().0)
        .bind(user.0)
        .bind(new.name)
        .bind(&minted.prefix)
        .bind(sha256(minted.full.0.as_bytes()).as_slice())
        .bind(new.expires_at)
        .bind(new.permissions.map(Grants::names))
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        audit::record_row(&mut tx, scope, "access_tokens.create", row.id, None).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    pub async fn list_personal_tokens(
        &self,
        scope: &TenantScope,
        user: UserId,
        page: &PageParams,
    ) -> Result<PersonalAccessTokenPage> {
        let keyset = Keyset::parse(page, &[BY_CREATION, ("name", Some("name"))])?;
        let mut qb = QueryBuilder::new(format!(
            "SELECT {COLUMNS} FROM access_tokens WHERE user_id = "
        ));
        qb.push_bind(user.0);
        keyset.push_after(&mut qb);
        keyset.push_order_limit(&mut qb);
        let mut tx = self.tenant_tx(scope).await?;
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = $1")
            .bind(user.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        exists.ok_or(Error::NotFound("user"))?;
        let rows: Vec<Row> = qb.build_query_as().fetch_all(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        let (rows, next_cursor) = keyset.finish(rows, |r, col| (r.id, col.map(|_| r.name.clone())));
        Ok(PersonalAccessTokenPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        })
    }

    /// Revokes one of a user's tokens (idempotent) and returns it.
    pub async fn revoke_personal_token(
        &self,
        scope: &TenantScope,
        user: UserId,
        id: AccessTokenId,
    ) -> Result<PersonalAccessToken> {
        let mut tx = self.tenant_tx(scope).await?;
        let before = audit::image_by_id(&mut tx, "access_tokens", id.0).await?;
        let row: Option<Row> = sqlx::query_as(sql!(
            "UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, now())
             WHERE id = $1 AND user_id = $2 RETURNING {COLUMNS}"
        ))
        .bind(id.0)
        .bind(user.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let row = row.ok_or(Error::NotFound("access token"))?;
        audit::record_row(&mut tx, scope, "access_tokens.revoke", id.0, before).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }
}
