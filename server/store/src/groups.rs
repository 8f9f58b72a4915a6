//! Groups of a tenant's users and their members. A group's role bindings
//! apply to every member; a membership change reaches every replica's
//! policy cache through the `group_members` trigger.

use chrono::{DateTime, Utc};
use ditto_core::{Error, Result, TenantScope};
use ditto_types::api::{
    CreateGroup, Group, GroupMember, GroupMemberPage, GroupPage, NameFilter, PageParams,
    UpdateGroup,
};
use ditto_types::{GroupId, UserId};
use serde_json::json;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::page::{BY_CREATION, Keyset};
use crate::tenants::like_escape;
use crate::tx::Tx;
use crate::{Store, error::db};

const COLUMNS: &str = "id, tenant_id, name, external_id, created_at, updated_at,
    (SELECT count(*) FROM group_members m WHERE m.group_id = groups.id) AS member_count";

#[derive(FromRow)]
struct Row {
    id: Uuid,
    tenant_id: Uuid,
    name: String,
    external_id: Option<String>,
    member_count: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Group {
    fn from(r: Row) -> Self {
        Group {
            id: r.id.into(),
            tenant_id: r.tenant_id.into(),
            name: r.name,
            external_id: r.external_id,
            member_count: r.member_count,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(FromRow)]
struct MemberRow {
    id: Uuid,
    email: String,
    display_name: String,
    created_at: DateTime<Utc>,
}

async fn fetch(tx: &mut Tx, id: GroupId) -> Result<Row> {
    let row: Option<Row> = sqlx::query_as(sql!("SELECT {COLUMNS} FROM groups WHERE id = $1"))
        .bind(id.0)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?;
    row.ok_or(Error::NotFound("group"))
}

impl Store {
    pub async fn create_group(&self, scope: &TenantScope, body: &CreateGroup) -> Result<Group> {
        let mut tx = self.tenant_tx(scope).await?;
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO groups (id, tenant_id, name, external_id)
             VALUES ($1, ditto_current_tenant(), $2, $3) RETURNING id",
        )
        .bind(GroupId::new().0)
        .bind(body.name.trim())
        .bind(body.external_id.as_deref())
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        audit::record_row(&mut tx, scope, "groups.create", id, None).await?;
        let row = fetch(&mut tx, id.into()).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    pub async fn list_groups(
        &self,
        scope: &TenantScope,
        filter: &NameFilter,
        page: &PageParams,
    ) -> Result<GroupPage> {
        let keyset = Keyset::parse(page, &[BY_CREATION, ("name", Some("name"))])?;
        let q = ditto_core::validate::search_term(filter.q.as_deref())?;
        let mut qb = QueryBuilder::new(format!("SELECT {COLUMNS} FROM groups WHERE true"));
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
        Ok(GroupPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        })
    }

    pub async fn get_group(&self, scope: &TenantScope, id: GroupId) -> Result<Group> {
        let mut tx = self.tenant_tx(scope).await?;
        let row = fetch(&mut tx, id).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    pub async fn update_group(
        &self,
        scope: &TenantScope,
        id: GroupId,
        body: &UpdateGroup,
    ) -> Result<Group> {
        let mut tx = self.tenant_tx(scope).await?;
        let before = audit::image_by_id(&mut tx, "groups", id.0).await?;
        let updated = sqlx::query(
            "UPDATE groups SET name = COALESCE($2, name), external_id = COALESCE($3, external_id),
                 updated_at = now()
             WHERE id = $1",
        )
        .bind(id.0)
        .bind(body.name.as_deref().map(str::trim))
        .bind(body.external_id.as_deref())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if updated.rows_affected() == 0 {
            return Err(Error::NotFound("group"));
        }
        audit::record_row(&mut tx, scope, "groups.update", id.0, before).await?;
        let row = fetch(&mut tx, id).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    /// Deletes a group; its memberships and role bindings go with it (the
    /// last owner's binding cannot).
    pub async fn delete_group(&self, scope: &TenantScope, id: GroupId) -> Result<()> {
        self.delete_scoped(scope, "groups", id.0, "group", None)
            .await
    }

    pub async fn list_group_members(
        &self,
        scope: &TenantScope,
        group: GroupId,
        page: &PageParams,
    ) -> Result<GroupMemberPage> {
        let keyset = Keyset::parse(page, &[BY_CREATION, ("email", Some("email"))])?;
        let mut qb = QueryBuilder::new(
            "SELECT * FROM (SELECT u.id, u.email, u.display_name, m.created_at
               FROM group_members m JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
               WHERE m.group_id = ",
        );
        qb.push_bind(group.0).push(") members WHERE true");
        keyset.push_after(&mut qb);
        keyset.push_order_limit(&mut qb);
        let mut tx = self.tenant_tx(scope).await?;
        fetch(&mut tx, group).await?;
        let rows: Vec<MemberRow> = qb.build_query_as().fetch_all(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        let (rows, next_cursor) =
            keyset.finish(rows, |r, col| (r.id, col.map(|_| r.email.clone())));
        Ok(GroupMemberPage {
            items: rows
                .into_iter()
                .map(|r| GroupMember {
                    user_id: r.id.into(),
                    email: r.email,
                    display_name: r.display_name,
                    created_at: r.created_at,
                })
                .collect(),
            next_cursor,
        })
    }

    /// Adds a user to a group (idempotent).
    pub async fn add_group_member(
        &self,
        scope: &TenantScope,
        group: GroupId,
        user: UserId,
    ) -> Result<()> {
        let mut tx = self.tenant_tx(scope).await?;
        fetch(&mut tx, group).await?;
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = $1")
            .bind(user.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        exists.ok_or(Error::NotFound("user"))?;
        let added = sqlx::query(
            "INSERT INTO group_members (tenant_id, group_id, user_id)
             VALUES (ditto_current_tenant(), $1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(group.0)
        .bind(user.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if added.rows_affected() == 1 {
            let change = Change::new("group_members.add", "group")
                .target(group)
                .after(Some(json!({ "user_id": user })));
            audit::record(&mut tx, scope, change).await?;
        }
        tx.commit().await.map_err(db)?;
        self.policies_changed(scope.tenant_id());
        Ok(())
    }

    /// Removes a user from a group.
    pub async fn remove_group_member(
        &self,
        scope: &TenantScope,
        group: GroupId,
        user: UserId,
    ) -> Result<()> {
        let mut tx = self.tenant_tx(scope).await?;
        let removed = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
            .bind(group.0)
            .bind(user.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if removed.rows_affected() == 0 {
            return Err(Error::NotFound("group member"));
        }
        let change = Change::new("group_members.remove", "group")
            .target(group)
            .before(Some(json!({ "user_id": user })));
        audit::record(&mut tx, scope, change).await?;
        tx.commit().await.map_err(db)?;
        self.policies_changed(scope.tenant_id());
        Ok(())
    }

    /// What a group's members get from it in the tenant: the union of the
    /// roles bound to the group tenant-wide.
    pub async fn group_grants(
        &self,
        scope: &TenantScope,
        group: GroupId,
    ) -> Result<ditto_core::Grants> {
        self.grants_of_subject(scope.tenant_id(), &format!("group:{group}"))
            .await
    }
}
