//! Users as SCIM provisions them. `userName` is the email, `active` the
//! status; the other attributes are kept in `users.scim`. Deactivating a
//! user (or deleting one) ends what they hold at once: sessions, personal
//! access tokens and the gateway keys they own, whose revocation reaches
//! every gateway replica through the `api_keys` change notification.

use chrono::{DateTime, Utc};
use ditto_core::{Error, Result, TenantScope};
use ditto_scim::USER_SCHEMA;
use ditto_scim::filter::AttrPath;
use ditto_scim::resource::UserInput;
use ditto_types::UserId;
use serde_json::{Map, Value, json};
use sqlx::FromRow;
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::scim::{ScimPage, ScimQuery, Target, json_target, list_rows, parse_id};
use crate::tx::Tx;
use crate::{Store, error::db};

const COLUMNS: &str =
    "users.id, users.email, users.display_name, users.external_id, users.status, users.scim,
     users.created_at, users.updated_at";

/// A user as SCIM shows it.
#[derive(Clone, Debug)]
pub struct ScimUser {
    pub id: UserId,
    pub user_name: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub active: bool,
    pub attributes: Map<String, Value>,
    /// `(group id, name)` of the groups the user is in.
    pub groups: Vec<(String, String)>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct Row {
    id: Uuid,
    email: String,
    display_name: String,
    external_id: Option<String>,
    status: String,
    scim: sqlx::types::Json<Map<String, Value>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl Row {
    fn into_user(self, groups: Vec<(String, String)>) -> ScimUser {
        ScimUser {
            id: self.id.into(),
            user_name: self.email,
            display_name: self.display_name,
            external_id: self.external_id,
            active: self.status == "active",
            attributes: self.scim.0,
            groups,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

fn group_element(p: &AttrPath) -> Option<Target> {
    if p.is("value", None) {
        Some(Target::Text {
            expr: "gm.group_id::text".into(),
            case_exact: true,
        })
    } else if p.is("display", None) {
        Some(Target::Text {
            expr: "(SELECT g.name FROM groups g WHERE g.id = gm.group_id)".into(),
            case_exact: false,
        })
    } else {
        None
    }
}

/// What a filter's attribute path is for users.
fn resolve(path: &AttrPath) -> Result<Target> {
    let core = path
        .schema
        .as_deref()
        .is_none_or(|s| s.eq_ignore_ascii_case(USER_SCHEMA));
    let text = |expr: &str, case_exact| Target::Text {
        expr: expr.into(),
        case_exact,
    };
    if core && path.sub.is_none() {
        if path.is("id", None) {
            return Ok(text("users.id::text", true));
        }
        if path.is("userName", None) {
            return Ok(text("users.email", false));
        }
        if path.is("displayName", None) {
            return Ok(text("users.display_name", false));
        }
        if path.is("externalId", None) {
            return Ok(text("users.external_id", true));
        }
        if path.is("active", None) {
            return Ok(Target::Bool("(users.status = 'active')".into()));
        }
    }
    if core && path.attr.eq_ignore_ascii_case("meta") {
        if path.is("meta", Some("created")) {
            return Ok(Target::Time("users.created_at".into()));
        }
        if path.is("meta", Some("lastModified")) {
            return Ok(Target::Time("users.updated_at".into()));
        }
        if path.is("meta", Some("resourceType")) {
            return Ok(Target::Text {
                expr: "'User'".into(),
                case_exact: true,
            });
        }
        return Err(crate::scim::scim_error(
            "invalidFilter",
            format!("`{path}` cannot be filtered on"),
        ));
    }
    if core && path.attr.eq_ignore_ascii_case("groups") {
        return Ok(Target::Related {
            from_where: "FROM group_members gm WHERE gm.user_id = users.id",
            sub: path.sub.clone(),
            element: group_element,
        });
    }
    Ok(json_target("users.scim", path, USER_SCHEMA))
}

async fn groups_of(tx: &mut Tx, users: &[Uuid]) -> Result<Vec<(Uuid, String, String)>> {
    let rows: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
        "SELECT gm.user_id, g.id, g.name FROM group_members gm
           JOIN groups g ON g.tenant_id = gm.tenant_id AND g.id = gm.group_id
          WHERE gm.user_id = ANY($1) ORDER BY g.name",
    )
    .bind(users)
    .fetch_all(&mut **tx)
    .await
    .map_err(db)?;
    Ok(rows
        .into_iter()
        .map(|(u, g, name)| (u, g.to_string(), name))
        .collect())
}

async fn fetch(tx: &mut Tx, id: Uuid, lock: bool) -> Result<ScimUser> {
    let row: Option<Row> = sqlx::query_as(sql!(
        "SELECT {COLUMNS} FROM users WHERE id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db)?;
    let row = row.ok_or(Error::NotFound("user"))?;
    let groups = groups_of(tx, &[id])
        .await?
        .into_iter()
        .map(|(_, g, n)| (g, n))
        .collect();
    Ok(row.into_user(groups))
}

/// Ends everything a deactivated user holds, in the transaction that
/// deactivates them, and records what ended.
async fn deprovision(tx: &mut Tx, scope: &TenantScope, user: Uuid) -> Result<()> {
    let sessions = sqlx::query(
        "UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user)
    .execute(&mut **tx)
    .await
    .map_err(db)?
    .rows_affected();
    let tokens = sqlx::query(
        "UPDATE access_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user)
    .execute(&mut **tx)
    .await
    .map_err(db)?
    .rows_affected();
    let keys: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE api_keys SET revoked_at = now(), updated_at = now()
          WHERE owner_user_id = $1 AND revoked_at IS NULL RETURNING id",
    )
    .bind(user)
    .fetch_all(&mut **tx)
    .await
    .map_err(db)?;
    let change = Change::new("users.deprovision", "user")
        .target(user)
        .after(Some(json!({
            "sessions_revoked": sessions,
            "access_tokens_revoked": tokens,
            "api_keys_revoked": keys,
        })));
    audit::record(tx, scope, change).await
}

impl Store {
    pub async fn scim_list_users(
        &self,
        scope: &TenantScope,
        query: &ScimQuery,
    ) -> Result<ScimPage<ScimUser>> {
        let mut tx = self.tenant_tx(scope).await?;
        let (total, rows): (_, Vec<Row>) =
            list_rows(&mut tx, "users", COLUMNS, query, resolve).await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let groups = groups_of(&mut tx, &ids).await?;
        tx.commit().await.map_err(db)?;
        let items = rows
            .into_iter()
            .map(|r| {
                let mine = groups
                    .iter()
                    .filter(|(u, ..)| *u == r.id)
                    .map(|(_, g, n)| (g.clone(), n.clone()))
                    .collect();
                r.into_user(mine)
            })
            .collect();
        Ok(ScimPage { total, items })
    }

    pub async fn scim_get_user(&self, scope: &TenantScope, id: &str) -> Result<ScimUser> {
        let id = parse_id(id, "user")?;
        let mut tx = self.tenant_tx(scope).await?;
        let user = fetch(&mut tx, id, false).await?;
        tx.commit().await.map_err(db)?;
        Ok(user)
    }

    pub async fn scim_create_user(
        &self,
        scope: &TenantScope,
        input: &UserInput,
    ) -> Result<ScimUser> {
        let mut tx = self.tenant_tx(scope).await?;
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO users (id, tenant_id, email, display_name, external_id, status, scim)
             VALUES ($1, ditto_current_tenant(), $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(UserId::new().0)
        .bind(&input.user_name)
        .bind(&input.display_name)
        .bind(input.external_id.as_deref())
        .bind(if input.active { "active" } else { "disabled" })
        .bind(sqlx::types::Json(&input.attributes))
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        audit::record_row(&mut tx, scope, "users.create", id, None).await?;
        let user = fetch(&mut tx, id, false).await?;
        tx.commit().await.map_err(db)?;
        Ok(user)
    }

    /// Replaces a user's attributes (PUT, and PATCH once applied). Turning
    /// `active` off deprovisions them.
    pub async fn scim_replace_user(
        &self,
        scope: &TenantScope,
        id: &str,
        input: &UserInput,
    ) -> Result<ScimUser> {
        let id = parse_id(id, "user")?;
        let mut tx = self.tenant_tx(scope).await?;
        let current = fetch(&mut tx, id, true).await?;
        let before = audit::image_by_id(&mut tx, "users", id).await?;
        sqlx::query(
            "UPDATE users SET email = $2, display_name = $3, external_id = $4, status = $5,
                 scim = $6, updated_at = clock_timestamp()
             WHERE id = $1",
        )
        .bind(id)
        .bind(&input.user_name)
        .bind(&input.display_name)
        .bind(input.external_id.as_deref())
        .bind(if input.active { "active" } else { "disabled" })
        .bind(sqlx::types::Json(&input.attributes))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        audit::record_row(&mut tx, scope, "users.update", id, before).await?;
        if current.active && !input.active {
            deprovision(&mut tx, scope, id).await?;
        }
        let user = fetch(&mut tx, id, false).await?;
        tx.commit().await.map_err(db)?;
        Ok(user)
    }

    /// Deletes a user; their sessions, tokens, keys and memberships go with
    /// them.
    pub async fn scim_delete_user(&self, scope: &TenantScope, id: &str) -> Result<()> {
        let id = parse_id(id, "user")?;
        self.delete_user(scope, id.into()).await?;
        // Memberships went with the user: their groups' roles no longer apply.
        self.policies_changed(scope.tenant_id());
        Ok(())
    }
}
