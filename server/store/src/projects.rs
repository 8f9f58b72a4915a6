//! Projects of a tenant.

use chrono::{DateTime, Utc};
use ditto_core::{Error, Result, TenantScope};
use ditto_types::ProjectId;
use ditto_types::api::{
    CreateProject, NameFilter, PageParams, Project, ProjectPage, UpdateProject,
};
use sqlx::FromRow;
use uuid::Uuid;

use crate::{Store, audit, error::db};

const COLUMNS: &str = "id, tenant_id, name, description, allowed_models, created_at, updated_at";

#[derive(FromRow)]
struct Row {
    id: Uuid,
    tenant_id: Uuid,
    name: String,
    description: String,
    allowed_models: Option<Vec<String>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Project {
    fn from(r: Row) -> Self {
        Project {
            id: r.id.into(),
            tenant_id: r.tenant_id.into(),
            name: r.name,
            description: r.description,
            allowed_models: r.allowed_models,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl Store {
    pub async fn create_project(
        &self,
        scope: &TenantScope,
        body: &CreateProject,
    ) -> Result<Project> {
        let mut tx = self.tenant_tx(scope).await?;
        let row: Row = sqlx::query_as(sql!(
            "INSERT INTO projects (id, tenant_id, name, description, allowed_models)
             VALUES ($1, ditto_current_tenant(), $2, $3, $4) RETURNING {COLUMNS}"
        ))
        .bind(ProjectId::new().0)
        .bind(body.name.trim())
        .bind(body.description.as_deref().unwrap_or_default().trim())
        .bind(&body.allowed_models)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        audit::record_row(&mut tx, scope, "projects.create", row.id, None).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    /// Lists projects; `within`: only these (a caller whose right to read
    /// projects comes from project role bindings).
    pub async fn list_projects(
        &self,
        scope: &TenantScope,
        filter: &NameFilter,
        page: &PageParams,
        within: Option<&[Uuid]>,
    ) -> Result<ProjectPage> {
        // Uuids print as hex and dashes only: safe to put in the text.
        let only = within.map_or_else(String::new, |ids| {
            let list: Vec<String> = ids.iter().map(|id| format!("'{id}'")).collect();
            format!(" AND id = ANY(ARRAY[{}]::uuid[])", list.join(","))
        });
        let (rows, next_cursor) = self
            .list_searchable(
                scope,
                format!("SELECT {COLUMNS} FROM projects WHERE true{only}"),
                ("name", "name"),
                filter.q.as_deref(),
                page,
                |r: &Row| (r.id, r.name.clone()),
            )
            .await?;
        Ok(ProjectPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        })
    }

    pub async fn get_project(&self, scope: &TenantScope, id: ProjectId) -> Result<Project> {
        let mut tx = self.tenant_tx(scope).await?;
        let row: Option<Row> = sqlx::query_as(sql!("SELECT {COLUMNS} FROM projects WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        row.map(Into::into).ok_or(Error::NotFound("project"))
    }

    pub async fn update_project(
        &self,
        scope: &TenantScope,
        id: ProjectId,
        body: &UpdateProject,
    ) -> Result<Project> {
        let mut tx = self.tenant_tx(scope).await?;
        let before = audit::image_by_id(&mut tx, "projects", id.0).await?;
        let row: Option<Row> = sqlx::query_as(sql!(
            "UPDATE projects SET name = COALESCE($2, name), description = COALESCE($3, description),
                 allowed_models = CASE WHEN $5 THEN NULL ELSE COALESCE($4, allowed_models) END,
                 updated_at = now()
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id.0)
        .bind(body.name.as_deref().map(str::trim))
        .bind(body.description.as_deref().map(str::trim))
        .bind(&body.allowed_models)
        .bind(body.clear_allowed_models)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let row = row.ok_or(Error::NotFound("project"))?;
        audit::record_row(&mut tx, scope, "projects.update", id.0, before).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    /// Deletes a project and its keys.
    pub async fn delete_project(&self, scope: &TenantScope, id: ProjectId) -> Result<()> {
        self.delete_scoped(scope, "projects", id.0, "project", None)
            .await
    }

    /// Deletes one row of a tenant-owned table through row-level security.
    /// `in_use` is the conflict to report when a restricting foreign key
    /// still points at the row.
    pub(crate) async fn delete_scoped(
        &self,
        scope: &TenantScope,
        table: &'static str,
        id: Uuid,
        what: &'static str,
        in_use: Option<&'static str>,
    ) -> Result<()> {
        let mut tx = self.tenant_tx(scope).await?;
        let before = audit::image_by_id(&mut tx, table, id).await?;
        let done = sqlx::query(sql!("DELETE FROM {table} WHERE id = $1"))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                match (
                    e.as_database_error().and_then(|d| d.code()).as_deref(),
                    in_use,
                ) {
                    (Some("23503"), Some(message)) => Error::Conflict(message.to_owned()),
                    _ => db(e),
                }
            })?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound(what));
        }
        let action = format!("{table}.delete");
        audit::record_table_row(&mut tx, scope, action, table, id, before).await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }
}
