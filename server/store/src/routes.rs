//! Routes: public model names (and `*` patterns) mapped to weighted
//! backends and ordered fallbacks.

use chrono::{DateTime, Utc};
use ditto_core::{Error, Result, TenantScope};
use ditto_types::RouteId;
use ditto_types::api::{
    CreateRoute, NameFilter, PageParams, Route, RouteFallback, RoutePage, RouteTarget, UpdateRoute,
};
use ditto_types::problem::FieldError;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use crate::page::{BY_CREATION, Keyset};
use crate::tenants::like_escape;
use crate::tx::Tx;
use crate::{Store, audit, error::db};

const COLUMNS: &str = "id, tenant_id, model, aliases, created_at, updated_at";

#[derive(FromRow)]
struct Row {
    id: Uuid,
    tenant_id: Uuid,
    model: String,
    aliases: Vec<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct TargetRow {
    route_id: Uuid,
    backend_id: Uuid,
    kind: String,
    weight: i32,
    upstream_model: Option<String>,
}

/// Attaches each route's targets (rows ordered by route and position).
fn assemble(rows: Vec<Row>, targets: &[TargetRow]) -> Vec<Route> {
    rows.into_iter()
        .map(|r| {
            let mine = targets.iter().filter(|t| t.route_id == r.id);
            let (mut primaries, mut fallbacks) = (Vec::new(), Vec::new());
            for t in mine {
                if t.kind == "primary" {
                    primaries.push(RouteTarget {
                        backend_id: t.backend_id.into(),
                        weight: t.weight as u32,
                        upstream_model: t.upstream_model.clone(),
                    });
                } else {
                    fallbacks.push(RouteFallback {
                        backend_id: t.backend_id.into(),
                        upstream_model: t.upstream_model.clone(),
                    });
                }
            }
            Route {
                id: r.id.into(),
                tenant_id: r.tenant_id.into(),
                model: r.model,
                aliases: r.aliases,
                targets: primaries,
                fallbacks,
                created_at: r.created_at,
                updated_at: r.updated_at,
            }
        })
        .collect()
}

async fn targets_of(tx: &mut Tx, ids: &[Uuid]) -> Result<Vec<TargetRow>> {
    sqlx::query_as(
        "SELECT route_id, backend_id, kind, weight, upstream_model FROM route_targets
         WHERE route_id = ANY($1) ORDER BY route_id, position",
    )
    .bind(ids)
    .fetch_all(&mut **tx)
    .await
    .map_err(db)
}

/// Every backend a route names must exist in the tenant; reports each one that does not.
async fn check_backends(
    tx: &mut Tx,
    targets: &[RouteTarget],
    fallbacks: &[RouteFallback],
) -> Result<()> {
    let named: Vec<(String, Uuid)> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("/targets/{i}/backend_id"), t.backend_id.0))
        .chain(
            fallbacks
                .iter()
                .enumerate()
                .map(|(i, f)| (format!("/fallbacks/{i}/backend_id"), f.backend_id.0)),
        )
        .collect();
    let ids: Vec<Uuid> = named.iter().map(|(_, id)| *id).collect();
    let existing: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM backends WHERE id = ANY($1)")
        .bind(&ids)
        .fetch_all(&mut **tx)
        .await
        .map_err(db)?;
    let errors: Vec<FieldError> = named
        .into_iter()
        .filter(|(_, id)| !existing.contains(id))
        .map(|(field, _)| FieldError {
            field,
            code: "not_found".into(),
            message: "no such backend in this tenant".into(),
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errors))
    }
}

async fn replace_targets(
    tx: &mut Tx,
    route: Uuid,
    targets: &[RouteTarget],
    fallbacks: &[RouteFallback],
) -> Result<()> {
    check_backends(tx, targets, fallbacks).await?;
    sqlx::query("DELETE FROM route_targets WHERE route_id = $1")
        .bind(route)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    let rows = targets
        .iter()
        .map(|t| {
            (
                "primary",
                t.backend_id.0,
                t.weight as i32,
                t.upstream_model.as_deref(),
            )
        })
        .chain(
            fallbacks
                .iter()
                .map(|f| ("fallback", f.backend_id.0, 0, f.upstream_model.as_deref())),
        );
    let mut qb = QueryBuilder::new(
        "INSERT INTO route_targets (tenant_id, route_id, position, kind, backend_id, weight, upstream_model) ",
    );
    qb.push_values(
        rows.enumerate(),
        |mut b, (position, (kind, backend, weight, upstream))| {
            b.push("ditto_current_tenant()")
                .push_bind(route)
                .push_bind(position as i32)
                .push_bind(kind)
                .push_bind(backend)
                .push_bind(weight)
                .push_bind(upstream);
        },
    );
    qb.build().execute(&mut **tx).await.map_err(db)?;
    Ok(())
}

async fn fetch(tx: &mut Tx, id: Uuid) -> Result<Route> {
    let row: Option<Row> = sqlx::query_as(sql!("SELECT {COLUMNS} FROM routes WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?;
    let row = row.ok_or(Error::NotFound("route"))?;
    let targets = targets_of(tx, &[id]).await?;
    Ok(assemble(vec![row], &targets).remove(0))
}

impl Store {
    pub async fn create_route(&self, scope: &TenantScope, body: &CreateRoute) -> Result<Route> {
        let mut tx = self.tenant_tx(scope).await?;
        let id = RouteId::new().0;
        sqlx::query("INSERT INTO routes (id, tenant_id, model, aliases) VALUES ($1, ditto_current_tenant(), $2, $3)")
            .bind(id)
            .bind(&body.model)
            .bind(&body.aliases)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        replace_targets(&mut tx, id, &body.targets, &body.fallbacks).await?;
        let route = fetch(&mut tx, id).await?;
        audit::record_row(&mut tx, scope, "routes.create", id, None).await?;
        tx.commit().await.map_err(db)?;
        Ok(route)
    }

    pub async fn list_routes(
        &self,
        scope: &TenantScope,
        filter: &NameFilter,
        page: &PageParams,
    ) -> Result<RoutePage> {
        let keyset = Keyset::parse(page, &[BY_CREATION, ("model", Some("model"))])?;
        let q = ditto_core::validate::search_term(filter.q.as_deref())?;
        let mut qb = QueryBuilder::new(format!("SELECT {COLUMNS} FROM routes WHERE true"));
        if let Some(q) = q {
            qb.push(" AND model ILIKE ")
                .push_bind(format!("%{}%", like_escape(&q)));
        }
        keyset.push_after(&mut qb);
        keyset.push_order_limit(&mut qb);
        let mut tx = self.tenant_tx(scope).await?;
        let rows: Vec<Row> = qb.build_query_as().fetch_all(&mut *tx).await.map_err(db)?;
        let (rows, next_cursor) =
            keyset.finish(rows, |r, col| (r.id, col.map(|_| r.model.clone())));
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let targets = targets_of(&mut tx, &ids).await?;
        tx.commit().await.map_err(db)?;
        Ok(RoutePage {
            items: assemble(rows, &targets),
            next_cursor,
        })
    }

    pub async fn get_route(&self, scope: &TenantScope, id: RouteId) -> Result<Route> {
        let mut tx = self.tenant_tx(scope).await?;
        let route = fetch(&mut tx, id.0).await?;
        tx.commit().await.map_err(db)?;
        Ok(route)
    }

    pub async fn update_route(
        &self,
        scope: &TenantScope,
        id: RouteId,
        body: &UpdateRoute,
    ) -> Result<Route> {
        let mut tx = self.tenant_tx(scope).await?;
        let before = audit::image_by_id(&mut tx, "routes", id.0).await?;
        let current = fetch(&mut tx, id.0).await?;
        sqlx::query(
            "UPDATE routes SET model = COALESCE($2, model), aliases = COALESCE($3, aliases), updated_at = now()
             WHERE id = $1",
        )
        .bind(id.0)
        .bind(body.model.as_deref())
        .bind(body.aliases.as_deref())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if body.targets.is_some() || body.fallbacks.is_some() {
            let targets = body.targets.as_deref().unwrap_or(&current.targets);
            let fallbacks = body.fallbacks.as_deref().unwrap_or(&current.fallbacks);
            replace_targets(&mut tx, id.0, targets, fallbacks).await?;
        }
        let route = fetch(&mut tx, id.0).await?;
        audit::record_row(&mut tx, scope, "routes.update", id.0, before).await?;
        tx.commit().await.map_err(db)?;
        Ok(route)
    }

    pub async fn delete_route(&self, scope: &TenantScope, id: RouteId) -> Result<()> {
        self.delete_scoped(scope, "routes", id.0, "route", None)
            .await
    }
}
