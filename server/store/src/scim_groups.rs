//! Groups as SCIM provisions them: `displayName` is the name, `members`
//! the users in it. A membership change is audited like one made in the
//! admin API and invalidates every replica's policy cache, so the group's
//! roles apply to (or leave) its members at once.

use chrono::{DateTime, Utc};
use ditto_core::{Error, Result, TenantScope};
use ditto_scim::GROUP_SCHEMA;
use ditto_scim::filter::AttrPath;
use ditto_scim::resource::GroupInput;
use ditto_types::GroupId;
use serde_json::json;
use sqlx::FromRow;
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::scim::{ScimPage, ScimQuery, Target, list_rows, parse_id, scim_error};
use crate::tx::Tx;
use crate::{Store, error::db};

const COLUMNS: &str =
    "groups.id, groups.name, groups.external_id, groups.created_at, groups.updated_at";

/// A group as SCIM shows it.
#[derive(Clone, Debug)]
pub struct ScimGroup {
    pub id: GroupId,
    pub display_name: String,
    pub external_id: Option<String>,
    /// `(user id, display name)`.
    pub members: Vec<(String, String)>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct Row {
    id: Uuid,
    name: String,
    external_id: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl Row {
    fn into_group(self, members: Vec<(String, String)>) -> ScimGroup {
        ScimGroup {
            id: self.id.into(),
            display_name: self.name,
            external_id: self.external_id,
            members,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

fn member_element(p: &AttrPath) -> Option<Target> {
    if p.is("value", None) {
        Some(Target::Text {
            expr: "gm.user_id::text".into(),
            case_exact: true,
        })
    } else if p.is("display", None) {
        Some(Target::Text {
            expr: "(SELECT u.display_name FROM users u WHERE u.id = gm.user_id)".into(),
            case_exact: false,
        })
    } else if p.is("type", None) {
        Some(Target::Text {
            expr: "'User'".into(),
            case_exact: false,
        })
    } else {
        None
    }
}

fn resolve(path: &AttrPath) -> Result<Target> {
    let core = path
        .schema
        .as_deref()
        .is_none_or(|s| s.eq_ignore_ascii_case(GROUP_SCHEMA));
    let unknown = || {
        scim_error(
            "invalidFilter",
            format!("groups have no attribute `{path}`"),
        )
    };
    if !core {
        return Err(unknown());
    }
    let text = |expr: &str, case_exact| {
        Ok(Target::Text {
            expr: expr.into(),
            case_exact,
        })
    };
    if path.is("id", None) {
        return text("groups.id::text", true);
    }
    if path.is("displayName", None) {
        return text("groups.name", false);
    }
    if path.is("externalId", None) {
        return text("groups.external_id", true);
    }
    if path.is("meta", Some("created")) {
        return Ok(Target::Time("groups.created_at".into()));
    }
    if path.is("meta", Some("lastModified")) {
        return Ok(Target::Time("groups.updated_at".into()));
    }
    if path.is("meta", Some("resourceType")) {
        return text("'Group'", true);
    }
    if path.attr.eq_ignore_ascii_case("members") {
        return Ok(Target::Related {
            from_where: "FROM group_members gm WHERE gm.group_id = groups.id",
            sub: path.sub.clone(),
            element: member_element,
        });
    }
    Err(unknown())
}

async fn members_of(tx: &mut Tx, groups: &[Uuid]) -> Result<Vec<(Uuid, String, String)>> {
    let rows: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
        "SELECT gm.group_id, u.id, u.display_name FROM group_members gm
           JOIN users u ON u.tenant_id = gm.tenant_id AND u.id = gm.user_id
          WHERE gm.group_id = ANY($1) ORDER BY gm.created_at, u.id",
    )
    .bind(groups)
    .fetch_all(&mut **tx)
    .await
    .map_err(db)?;
    Ok(rows
        .into_iter()
        .map(|(g, u, name)| (g, u.to_string(), name))
        .collect())
}

async fn fetch(tx: &mut Tx, id: Uuid, lock: bool) -> Result<ScimGroup> {
    let row: Option<Row> = sqlx::query_as(sql!(
        "SELECT {COLUMNS} FROM groups WHERE id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db)?;
    let row = row.ok_or(Error::NotFound("group"))?;
    let members = members_of(tx, &[id])
        .await?
        .into_iter()
        .map(|(_, u, n)| (u, n))
        .collect();
    Ok(row.into_group(members))
}

/// The users of the tenant `values` name. Ids are ours, so a value that
/// names no user here (a deleted user, another tenant's, or no id at all)
/// names nobody who could get the group's roles: it is left out, as RFC
/// 7644 does not ask servers to refuse it and identity providers race
/// deletions against membership updates.
async fn member_ids(tx: &mut Tx, values: &[String]) -> Result<Vec<Uuid>> {
    let ids: Vec<Uuid> = values
        .iter()
        .filter_map(|v| Uuid::parse_str(v).ok())
        .collect();
    let found: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM users WHERE id = ANY($1)")
        .bind(&ids)
        .fetch_all(&mut **tx)
        .await
        .map_err(db)?;
    Ok(ids.into_iter().filter(|id| found.contains(id)).collect())
}

/// Makes the group's members exactly `wanted`, auditing each change.
/// Returns whether anything changed.
async fn set_members(
    tx: &mut Tx,
    scope: &TenantScope,
    group: Uuid,
    wanted: &[Uuid],
) -> Result<bool> {
    let current: Vec<Uuid> =
        sqlx::query_scalar("SELECT user_id FROM group_members WHERE group_id = $1")
            .bind(group)
            .fetch_all(&mut **tx)
            .await
            .map_err(db)?;
    let gone: Vec<Uuid> = current
        .iter()
        .filter(|u| !wanted.contains(u))
        .copied()
        .collect();
    let new: Vec<Uuid> = wanted
        .iter()
        .filter(|u| !current.contains(u))
        .copied()
        .collect();
    for user in &gone {
        sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
            .bind(group)
            .bind(user)
            .execute(&mut **tx)
            .await
            .map_err(db)?;
        let change = Change::new("group_members.remove", "group")
            .target(group)
            .before(Some(json!({ "user_id": user })));
        audit::record(tx, scope, change).await?;
    }
    for user in &new {
        sqlx::query(
            "INSERT INTO group_members (tenant_id, group_id, user_id)
             VALUES (ditto_current_tenant(), $1, $2)",
        )
        .bind(group)
        .bind(user)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
        let change = Change::new("group_members.add", "group")
            .target(group)
            .after(Some(json!({ "user_id": user })));
        audit::record(tx, scope, change).await?;
    }
    Ok(!gone.is_empty() || !new.is_empty())
}

impl Store {
    pub async fn scim_list_groups(
        &self,
        scope: &TenantScope,
        query: &ScimQuery,
        with_members: bool,
    ) -> Result<ScimPage<ScimGroup>> {
        let mut tx = self.tenant_tx(scope).await?;
        let (total, rows): (_, Vec<Row>) =
            list_rows(&mut tx, "groups", COLUMNS, query, resolve).await?;
        let members = if with_members {
            let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
            members_of(&mut tx, &ids).await?
        } else {
            Vec::new()
        };
        tx.commit().await.map_err(db)?;
        let items = rows
            .into_iter()
            .map(|r| {
                let mine = members
                    .iter()
                    .filter(|(g, ..)| *g == r.id)
                    .map(|(_, u, n)| (u.clone(), n.clone()))
                    .collect();
                r.into_group(mine)
            })
            .collect();
        Ok(ScimPage { total, items })
    }

    pub async fn scim_get_group(&self, scope: &TenantScope, id: &str) -> Result<ScimGroup> {
        let id = parse_id(id, "group")?;
        let mut tx = self.tenant_tx(scope).await?;
        let group = fetch(&mut tx, id, false).await?;
        tx.commit().await.map_err(db)?;
        Ok(group)
    }

    pub async fn scim_create_group(
        &self,
        scope: &TenantScope,
        input: &GroupInput,
    ) -> Result<ScimGroup> {
        let mut tx = self.tenant_tx(scope).await?;
        let members = member_ids(&mut tx, &input.members).await?;
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO groups (id, tenant_id, name, external_id)
             VALUES ($1, ditto_current_tenant(), $2, $3) RETURNING id",
        )
        .bind(GroupId::new().0)
        .bind(&input.display_name)
        .bind(input.external_id.as_deref())
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        audit::record_row(&mut tx, scope, "groups.create", id, None).await?;
        let changed = set_members(&mut tx, scope, id, &members).await?;
        let group = fetch(&mut tx, id, false).await?;
        tx.commit().await.map_err(db)?;
        if changed {
            self.policies_changed(scope.tenant_id());
        }
        Ok(group)
    }

    /// Replaces a group's name, external id and members (PUT, and PATCH
    /// once applied).
    pub async fn scim_replace_group(
        &self,
        scope: &TenantScope,
        id: &str,
        input: &GroupInput,
    ) -> Result<ScimGroup> {
        let id = parse_id(id, "group")?;
        let mut tx = self.tenant_tx(scope).await?;
        let current = fetch(&mut tx, id, true).await?;
        let members = member_ids(&mut tx, &input.members).await?;
        if current.display_name != input.display_name || current.external_id != input.external_id {
            let before = audit::image_by_id(&mut tx, "groups", id).await?;
            sqlx::query("UPDATE groups SET name = $2, external_id = $3 WHERE id = $1")
                .bind(id)
                .bind(&input.display_name)
                .bind(input.external_id.as_deref())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            audit::record_row(&mut tx, scope, "groups.update", id, before).await?;
        }
        let changed = set_members(&mut tx, scope, id, &members).await?;
        sqlx::query("UPDATE groups SET updated_at = clock_timestamp() WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let group = fetch(&mut tx, id, false).await?;
        tx.commit().await.map_err(db)?;
        if changed {
            self.policies_changed(scope.tenant_id());
        }
        Ok(group)
    }

    /// Deletes a group; its memberships and role bindings go with it.
    pub async fn scim_delete_group(&self, scope: &TenantScope, id: &str) -> Result<()> {
        let id = parse_id(id, "group")?;
        self.delete_group(scope, id.into()).await?;
        self.policies_changed(scope.tenant_id());
        Ok(())
    }
}
