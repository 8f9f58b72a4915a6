//! A tenant's custom roles and its role bindings. Every change drops the
//! tenant's cached policies here and, through the trigger, on every replica.

use chrono::{DateTime, Utc};
use ditto_core::rbac::{TENANT_ROLES, builtin_grants};
use ditto_core::{Error, Grants, Result, TenantScope};
use ditto_types::RoleBindingId;
use ditto_types::api::{
    CreateRole, CreateRoleBinding, PageParams, Role, RoleBinding, RoleBindingFilter,
    RoleBindingPage, RoleList, SubjectKind, UpdateRole,
};
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use crate::page::{BY_CREATION, Keyset};
use crate::rbac::grants_from_names;
use crate::tx::Tx;
use crate::{Store, audit, error::db};

const ROLE_COLUMNS: &str = "name, description, permissions, created_at, updated_at";
const BINDING_COLUMNS: &str =
    "id, tenant_id, role, project_id, user_id, group_id, service_account_id, created_at";

#[derive(FromRow)]
struct RoleRow {
    name: String,
    description: String,
    permissions: Vec<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<RoleRow> for Role {
    fn from(r: RoleRow) -> Self {
        Role {
            name: r.name,
            description: r.description,
            builtin: false,
            permissions: grants_from_names(&r.permissions).names(),
            created_at: Some(r.created_at),
            updated_at: Some(r.updated_at),
        }
    }
}

#[derive(FromRow)]
struct BindingRow {
    id: Uuid,
    tenant_id: Uuid,
    role: String,
    project_id: Option<Uuid>,
    user_id: Option<Uuid>,
    group_id: Option<Uuid>,
    service_account_id: Option<Uuid>,
    created_at: DateTime<Utc>,
}

impl From<BindingRow> for RoleBinding {
    fn from(r: BindingRow) -> Self {
        let (subject_type, subject_id) = match (r.user_id, r.group_id, r.service_account_id) {
            (Some(u), _, _) => (SubjectKind::User, u),
            (_, Some(g), _) => (SubjectKind::Group, g),
            (_, _, Some(s)) => (SubjectKind::ServiceAccount, s),
            _ => (SubjectKind::ServiceAccount, Uuid::nil()),
        };
        RoleBinding {
            id: r.id.into(),
            tenant_id: r.tenant_id.into(),
            role: r.role,
            subject_type,
            subject_id,
            project_id: r.project_id.map(Into::into),
            created_at: r.created_at,
        }
    }
}

/// The built-in tenant roles as API values.
pub fn builtin_roles() -> Vec<Role> {
    TENANT_ROLES
        .iter()
        .map(|r| Role {
            name: r.name.to_owned(),
            description: r.description.to_owned(),
            builtin: true,
            permissions: builtin_grants(r.name).unwrap_or_default().names(),
            created_at: None,
            updated_at: None,
        })
        .collect()
}

impl Store {
    pub async fn list_roles(&self, scope: &TenantScope) -> Result<RoleList> {
        let mut tx = self.tenant_tx(scope).await?;
        let rows: Vec<RoleRow> =
            sqlx::query_as(sql!("SELECT {ROLE_COLUMNS} FROM roles ORDER BY name"))
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
        tx.commit().await.map_err(db)?;
        let mut items = builtin_roles();
        items.extend(rows.into_iter().map(Role::from));
        Ok(RoleList { items })
    }

    /// A built-in or custom role by name.
    pub async fn get_role(&self, scope: &TenantScope, name: &str) -> Result<Role> {
        if let Some(role) = builtin_roles().into_iter().find(|r| r.name == name) {
            return Ok(role);
        }
        let mut tx = self.tenant_tx(scope).await?;
        let row: Option<RoleRow> =
            sqlx::query_as(sql!("SELECT {ROLE_COLUMNS} FROM roles WHERE name = $1"))
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        tx.commit().await.map_err(db)?;
        row.map(Into::into).ok_or(Error::NotFound("role"))
    }

    /// The permissions of a built-in or custom role.
    pub async fn role_grants(&self, scope: &TenantScope, name: &str) -> Result<Grants> {
        let role = self.get_role(scope, name).await?;
        Ok(grants_from_names(&role.permissions))
    }

    pub async fn create_role(&self, scope: &TenantScope, body: &CreateRole) -> Result<Role> {
        let mut tx = self.tenant_tx(scope).await?;
        let row: RoleRow = sqlx::query_as(sql!(
            "INSERT INTO roles (id, tenant_id, name, description, permissions)
             VALUES ($1, ditto_current_tenant(), $2, $3, $4) RETURNING {ROLE_COLUMNS}"
        ))
        .bind(Uuid::now_v7())
        .bind(&body.name)
        .bind(body.description.as_deref().unwrap_or_default().trim())
        .bind(grants_from_names(&body.permissions).names())
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        record_role(&mut tx, scope, "roles.create", &row.name, None).await?;
        tx.commit().await.map_err(db)?;
        self.policies_changed(scope.tenant_id());
        Ok(row.into())
    }

    pub async fn update_role(
        &self,
        scope: &TenantScope,
        name: &str,
        body: &UpdateRole,
    ) -> Result<Role> {
        let mut tx = self.tenant_tx(scope).await?;
        let before = audit::image(&mut tx, "roles", "name", name).await?;
        let row: Option<RoleRow> = sqlx::query_as(sql!(
            "UPDATE roles SET description = COALESCE($2, description),
                 permissions = COALESCE($3, permissions), updated_at = now()
             WHERE name = $1 RETURNING {ROLE_COLUMNS}"
        ))
        .bind(name)
        .bind(body.description.as_deref().map(str::trim))
        .bind(
            body.permissions
                .as_ref()
                .map(|p| grants_from_names(p).names()),
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let row = row.ok_or(Error::NotFound("role"))?;
        record_role(&mut tx, scope, "roles.update", name, before).await?;
        tx.commit().await.map_err(db)?;
        self.policies_changed(scope.tenant_id());
        Ok(row.into())
    }

    /// Deletes a custom role that nobody holds any more.
    pub async fn delete_role(&self, scope: &TenantScope, name: &str) -> Result<()> {
        let mut tx = self.tenant_tx(scope).await?;
        // Locked first, so a binding made at the same time is either counted
        // here or refused in `create_role_binding`.
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM roles WHERE name = $1 FOR UPDATE")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        if exists.is_none() {
            return Err(Error::NotFound("role"));
        }
        let bound: i64 = sqlx::query_scalar("SELECT count(*) FROM role_bindings WHERE role = $1")
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        if bound > 0 {
            return Err(Error::Conflict(format!(
                "the role is bound {bound} time(s); delete those bindings first"
            )));
        }
        let before = audit::image(&mut tx, "roles", "name", name).await?;
        sqlx::query("DELETE FROM roles WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        record_role(&mut tx, scope, "roles.delete", name, before).await?;
        tx.commit().await.map_err(db)?;
        self.policies_changed(scope.tenant_id());
        Ok(())
    }

    pub async fn list_role_bindings(
        &self,
        scope: &TenantScope,
        filter: &RoleBindingFilter,
        page: &PageParams,
    ) -> Result<RoleBindingPage> {
        let keyset = Keyset::parse(page, &[BY_CREATION])?;
        let mut qb = QueryBuilder::new(format!(
            "SELECT {BINDING_COLUMNS} FROM role_bindings WHERE true"
        ));
        if let Some(role) = &filter.role {
            qb.push(" AND role = ").push_bind(role.clone());
        }
        if let Some(subject) = filter.subject_id {
            qb.push(" AND ")
                .push_bind(subject)
                .push(" IN (user_id, group_id, service_account_id)");
        }
        keyset.push_after(&mut qb);
        keyset.push_order_limit(&mut qb);
        let mut tx = self.tenant_tx(scope).await?;
        let rows: Vec<BindingRow> = qb.build_query_as().fetch_all(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        let (rows, next_cursor) = keyset.finish(rows, |r, _| (r.id, None));
        Ok(RoleBindingPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        })
    }

    pub async fn get_role_binding(
        &self,
        scope: &TenantScope,
        id: RoleBindingId,
    ) -> Result<RoleBinding> {
        let mut tx = self.tenant_tx(scope).await?;
        let row: Option<BindingRow> = sqlx::query_as(sql!(
            "SELECT {BINDING_COLUMNS} FROM role_bindings WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        row.map(Into::into).ok_or(Error::NotFound("role binding"))
    }

    /// Binds a role that exists (the caller checked it may grant it).
    pub async fn create_role_binding(
        &self,
        scope: &TenantScope,
        body: &CreateRoleBinding,
    ) -> Result<RoleBinding> {
        let (user, group, account) = match body.subject_type {
            SubjectKind::User => (Some(body.subject_id), None, None),
            SubjectKind::Group => (None, Some(body.subject_id), None),
            SubjectKind::ServiceAccount => (None, None, Some(body.subject_id)),
        };
        let mut tx = self.tenant_tx(scope).await?;
        if builtin_grants(&body.role).is_none() {
            // A custom role must still be there when the binding commits:
            // this waits for, or holds off, its deletion.
            let exists: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM roles WHERE name = $1 FOR SHARE")
                    .bind(&body.role)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?;
            if exists.is_none() {
                return Err(Error::invalid(
                    "/role",
                    "unknown_role",
                    "no such role in this tenant",
                ));
            }
        }
        let row: BindingRow = sqlx::query_as(sql!(
            "INSERT INTO role_bindings
                 (id, tenant_id, role, project_id, user_id, group_id, service_account_id)
             VALUES ($1, ditto_current_tenant(), $2, $3, $4, $5, $6) RETURNING {BINDING_COLUMNS}"
        ))
        .bind(RoleBindingId::new().0)
        .bind(&body.role)
        .bind(body.project_id.map(|p| p.0))
        .bind(user)
        .bind(group)
        .bind(account)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        audit::record_row(&mut tx, scope, "role_bindings.create", row.id, None).await?;
        tx.commit().await.map_err(db)?;
        self.policies_changed(scope.tenant_id());
        Ok(row.into())
    }

    /// Deletes a binding, refusing to remove the tenant's last tenant-wide
    /// owner.
    pub async fn delete_role_binding(&self, scope: &TenantScope, id: RoleBindingId) -> Result<()> {
        let mut tx = self.tenant_tx(scope).await?;
        // Concurrent removals of two owners serialize on the owner rows.
        let owners: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM role_bindings WHERE role = 'owner' AND project_id IS NULL FOR UPDATE",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        if owners == [id.0] {
            return Err(Error::Conflict(
                "this is the tenant's last owner; make someone else owner first".into(),
            ));
        }
        let before = audit::image_by_id(&mut tx, "role_bindings", id.0).await?;
        let done = sqlx::query("DELETE FROM role_bindings WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound("role binding"));
        }
        audit::record_row(&mut tx, scope, "role_bindings.delete", id.0, before).await?;
        tx.commit().await.map_err(db)?;
        self.policies_changed(scope.tenant_id());
        Ok(())
    }

    /// The roles bound to `subject` tenant-wide (directly or via groups).
    pub async fn roles_of(&self, scope: &TenantScope, subject: &str) -> Result<Vec<String>> {
        let policy = self.tenant_policy(scope.tenant_id()).await?;
        Ok(policy.roles(subject, crate::rbac::TENANT_DOMAIN))
    }
}

/// Records a change to a custom role (named, not by id) in the tenant's chain.
async fn record_role(
    tx: &mut Tx,
    scope: &TenantScope,
    action: &'static str,
    name: &str,
    before: Option<serde_json::Value>,
) -> Result<()> {
    let after = audit::image(tx, "roles", "name", name).await?;
    let change = audit::Change::new(action, "role")
        .target(name)
        .before(before)
        .after(after);
    audit::record(tx, scope, change).await
}
