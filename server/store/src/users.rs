//! Users (staff) of a tenant.

use chrono::{DateTime, Utc};
use ditto_core::{Error, Result, TenantScope};
use ditto_types::UserId;
use ditto_types::api::{
    CreateUser, PageParams, UpdateUser, User, UserFilter, UserPage, UserStatus,
};
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use crate::page::{BY_CREATION, Keyset};
use crate::tenants::like_escape;
use crate::{Store, audit, error::db};

const COLUMNS: &str =
    "id, tenant_id, email, display_name, external_id, status, created_at, updated_at";

#[derive(FromRow)]
struct Row {
    id: Uuid,
    tenant_id: Uuid,
    email: String,
    display_name: String,
    external_id: Option<String>,
    status: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for User {
    fn from(r: Row) -> Self {
        User {
            id: r.id.into(),
            tenant_id: r.tenant_id.into(),
            email: r.email,
            display_name: r.display_name,
            external_id: r.external_id,
            status: if r.status == "disabled" {
                UserStatus::Disabled
            } else {
                UserStatus::Active
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl Store {
    pub async fn create_user(&self, scope: &TenantScope, body: &CreateUser) -> Result<User> {
        let email = body.email.trim();
        let display_name = match body.display_name.as_deref().map(str::trim) {
            Some(name) => name,
            None => email.split('@').next().unwrap_or(email),
        };
        let mut tx = self.tenant_tx(scope).await?;
        let row: Row = sqlx::query_as(sql!(
            "INSERT INTO users (id, tenant_id, email, display_name, external_id)
             VALUES ($1, ditto_current_tenant(), $2, $3, $4) RETURNING {COLUMNS}"
        ))
        .bind(UserId::new().0)
        .bind(email)
        .bind(display_name)
        .bind(body.external_id.as_deref())
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        audit::record_row(&mut tx, scope, "users.create", row.id, None).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    pub async fn list_users(
        &self,
        scope: &TenantScope,
        filter: &UserFilter,
        page: &PageParams,
    ) -> Result<UserPage> {
        let keyset = Keyset::parse(
            page,
            &[
                BY_CREATION,
                ("email", Some("email")),
                ("name", Some("display_name")),
            ],
        )?;
        let q = ditto_core::validate::search_term(filter.q.as_deref())?;
        let mut qb = QueryBuilder::new(format!("SELECT {COLUMNS} FROM users WHERE true"));
        if let Some(s) = filter.status {
            qb.push(" AND status = ").push_bind(s.as_str());
        }
        if let Some(q) = q {
            let pattern = format!("%{}%", like_escape(&q));
            qb.push(" AND (email ILIKE ").push_bind(pattern.clone());
            qb.push(" OR display_name ILIKE ")
                .push_bind(pattern)
                .push(")");
        }
        keyset.push_after(&mut qb);
        keyset.push_order_limit(&mut qb);
        let mut tx = self.tenant_tx(scope).await?;
        let rows: Vec<Row> = qb.build_query_as().fetch_all(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        let (rows, next_cursor) = keyset.finish(rows, |r, col| {
            let value = match col {
                Some("email") => Some(r.email.clone()),
                Some(_) => Some(r.display_name.clone()),
                None => None,
            };
            (r.id, value)
        });
        Ok(UserPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        })
    }

    pub async fn get_user(&self, scope: &TenantScope, id: UserId) -> Result<User> {
        let mut tx = self.tenant_tx(scope).await?;
        let row: Option<Row> = sqlx::query_as(sql!("SELECT {COLUMNS} FROM users WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        row.map(Into::into).ok_or(Error::NotFound("user"))
    }

    pub async fn update_user(
        &self,
        scope: &TenantScope,
        id: UserId,
        body: &UpdateUser,
    ) -> Result<User> {
        let mut tx = self.tenant_tx(scope).await?;
        let before = audit::image_by_id(&mut tx, "users", id.0).await?;
        let row: Option<Row> = sqlx::query_as(sql!(
            "UPDATE users SET email = COALESCE($2, email), display_name = COALESCE($3, display_name),
                 external_id = COALESCE($4, external_id), status = COALESCE($5, status), updated_at = now()
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id.0)
        .bind(body.email.as_deref().map(str::trim))
        .bind(body.display_name.as_deref().map(str::trim))
        .bind(body.external_id.as_deref())
        .bind(body.status.map(UserStatus::as_str))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let row = row.ok_or(Error::NotFound("user"))?;
        audit::record_row(&mut tx, scope, "users.update", id.0, before).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    /// Deletes a user; their keys go with them.
    pub async fn delete_user(&self, scope: &TenantScope, id: UserId) -> Result<()> {
        self.delete_scoped(scope, "users", id.0, "user", None).await
    }
}
