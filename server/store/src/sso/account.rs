//! What a completed sign-in does to our users: find or create the account,
//! link the provider's subject, refuse an account beyond the connection's
//! reach, and keep the roles the provider's groups bring in step.

use ditto_core::rbac::builtin_grants;
use ditto_core::{Actor, Result};
use ditto_types::api::{SsoProtocol, TenantStatus};
use ditto_types::{TenantId, UserId};
use serde_json::json;
use uuid::Uuid;

use super::{SsoLoginConnection, SsoRefusal, SsoSubject, permission_grants};
use crate::audit::{self, Change};
use crate::tx::Tx;
use crate::{Store, error::db};

impl Store {
    /// The account a verified subject signs in as: the one linked to the
    /// subject, else the one with the provider-verified email (then linked),
    /// else a new one when the connection provisions just in time. Then the
    /// roles the connection maps from the subject's groups are bound and
    /// the ones it bound before and no longer maps are removed. All in one
    /// transaction, recorded in the tenant's chain.
    pub async fn sso_account(
        &self,
        connection: &SsoLoginConnection,
        who: &SsoSubject,
    ) -> Result<std::result::Result<UserId, SsoRefusal>> {
        if connection.tenant.status == TenantStatus::Suspended {
            return Ok(Err(SsoRefusal::TenantSuspended));
        }
        let tenant = connection.tenant.id;
        let conn = connection.id;
        let mut tx = self.unscoped_platform_tx().await?;
        let linked: Option<(Uuid, String)> = sqlx::query_as(
            "SELECT u.id, u.status FROM sso_identities i
             JOIN users u ON u.tenant_id = i.tenant_id AND u.id = i.user_id
             WHERE i.tenant_id = $1 AND i.connection_id = $2 AND i.subject = $3",
        )
        .bind(tenant.0)
        .bind(conn.0)
        .bind(&who.subject)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let (user, status, newly_linked) = match linked {
            Some((user, status)) => (user, status, false),
            None => {
                let Some(email) = who
                    .email
                    .as_deref()
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                else {
                    return Ok(Err(SsoRefusal::NoEmail));
                };
                let existing: Option<(Uuid, String)> = sqlx::query_as(
                    "SELECT id, status FROM users WHERE tenant_id = $1 AND lower(email) = lower($2)",
                )
                .bind(tenant.0)
                .bind(email)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
                match existing {
                    Some(_) if !who.email_verified => {
                        return Ok(Err(SsoRefusal::EmailNotVerified));
                    }
                    Some(_) if !domain_verified(&mut tx, tenant, email).await? => {
                        return Ok(Err(SsoRefusal::EmailDomainNotVerified));
                    }
                    Some((user, status)) => (user, status, true),
                    None if !connection.jit_provisioning => return Ok(Err(SsoRefusal::NoAccount)),
                    None => {
                        let user = create_user(&mut tx, tenant, email, who).await?;
                        (user, "active".to_owned(), true)
                    }
                }
            }
        };
        let user_id = UserId(user);
        if status != "active" {
            let change = Change::new("auth.sign_in_failed", "user")
                .target(user_id)
                .after(Some(json!({
                    "reason": "user_disabled", "connection_id": conn,
                    "method": if connection.protocol == SsoProtocol::Saml { "saml" } else { "oidc" },
                })));
            audit::append(&mut tx, Some(tenant.0), None, change).await?;
            tx.commit().await.map_err(db)?;
            return Ok(Err(SsoRefusal::UserDisabled));
        }
        let held = self.reach_of(tenant, Actor::User(user_id)).await?;
        if !connection.ceiling.covers(held) {
            let change = Change::new("auth.sign_in_failed", "user")
                .target(user_id)
                .after(Some(json!({
                    "reason": "beyond_connection", "connection_id": conn,
                    "method": if connection.protocol == SsoProtocol::Saml { "saml" } else { "oidc" },
                })));
            audit::append(&mut tx, Some(tenant.0), None, change).await?;
            tx.commit().await.map_err(db)?;
            return Ok(Err(SsoRefusal::BeyondConnection));
        }
        if newly_linked {
            sqlx::query(
                "INSERT INTO sso_identities (tenant_id, connection_id, subject, user_id)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(tenant.0)
            .bind(conn.0)
            .bind(&who.subject)
            .bind(user)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            let change = Change::new("sso_identities.link", "user")
                .target(user_id)
                .after(Some(
                    json!({ "connection_id": conn, "subject": who.subject }),
                ));
            audit::append(&mut tx, Some(tenant.0), Some(Actor::User(user_id)), change).await?;
        } else {
            sqlx::query(
                "UPDATE sso_identities SET last_sign_in_at = now()
                 WHERE tenant_id = $1 AND connection_id = $2 AND subject = $3",
            )
            .bind(tenant.0)
            .bind(conn.0)
            .bind(&who.subject)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        let changed = sync_roles(&mut tx, connection, user_id, &who.groups).await?;
        tx.commit().await.map_err(db)?;
        if changed {
            self.policies_changed(tenant);
        }
        Ok(Ok(user_id))
    }
}

/// Whether `email`'s domain is one `tenant` has verified.
async fn domain_verified(tx: &mut Tx, tenant: TenantId, email: &str) -> Result<bool> {
    let Some((_, domain)) = email.rsplit_once('@') else {
        return Ok(false);
    };
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM tenant_domains
                        WHERE tenant_id = $1 AND lower(domain) = lower($2) AND status = 'verified')",
    )
    .bind(tenant.0)
    .bind(domain)
    .fetch_one(&mut **tx)
    .await
    .map_err(db)
}

async fn create_user(tx: &mut Tx, tenant: TenantId, email: &str, who: &SsoSubject) -> Result<Uuid> {
    let fallback = email.split('@').next().unwrap_or(email);
    let name: String = who
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(fallback)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let name = if name.is_empty() {
        "user".to_owned()
    } else {
        name
    };
    let user = UserId::new();
    sqlx::query("INSERT INTO users (id, tenant_id, email, display_name) VALUES ($1, $2, $3, $4)")
        .bind(user.0)
        .bind(tenant.0)
        .bind(email)
        .bind(&name)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    let change = Change::new("users.create", "user")
        .target(user)
        .after(Some(json!({
            "id": user, "email": email, "display_name": name, "status": "active",
            "provisioned_by": "sso",
        })));
    audit::append(tx, Some(tenant.0), Some(Actor::User(user)), change).await?;
    Ok(user.0)
}

/// Binds the roles the connection maps from `groups` and removes those it
/// bound before and no longer maps. Roles bound by hand are left alone,
/// and so is a tenant's last owner. Whether anything changed.
async fn sync_roles(
    tx: &mut Tx,
    connection: &SsoLoginConnection,
    user: UserId,
    groups: &[String],
) -> Result<bool> {
    let tenant = connection.tenant.id.0;
    let mut wanted: Vec<&str> = connection
        .group_role_mappings
        .iter()
        .filter(|m| groups.contains(&m.group))
        .map(|m| m.role.as_str())
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    // A custom role deleted since the mapping was made binds nothing, and
    // no mapping binds more than the connection's last editor could grant.
    let custom: Vec<(String, Vec<String>)> =
        sqlx::query_as("SELECT name, permissions FROM roles WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_all(&mut **tx)
            .await
            .map_err(db)?;
    let grants_of = |role: &str| {
        builtin_grants(role).or_else(|| {
            custom
                .iter()
                .find(|(name, _)| name == role)
                .map(|(_, permissions)| permission_grants(permissions))
        })
    };
    wanted.retain(|r| grants_of(r).is_some_and(|g| connection.ceiling.covers(g)));

    let managed: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT b.id, b.role FROM sso_role_bindings s JOIN role_bindings b ON b.id = s.binding_id
         WHERE s.tenant_id = $1 AND s.connection_id = $2 AND b.user_id = $3
           AND b.project_id IS NULL",
    )
    .bind(tenant)
    .bind(connection.id.0)
    .bind(user.0)
    .fetch_all(&mut **tx)
    .await
    .map_err(db)?;
    let mut changed = false;
    for (binding, role) in &managed {
        if wanted.contains(&role.as_str()) {
            continue;
        }
        if role == "owner" {
            let owners: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM role_bindings
                 WHERE tenant_id = $1 AND role = 'owner' AND project_id IS NULL",
            )
            .bind(tenant)
            .fetch_one(&mut **tx)
            .await
            .map_err(db)?;
            if owners <= 1 {
                continue;
            }
        }
        sqlx::query("DELETE FROM role_bindings WHERE id = $1")
            .bind(binding)
            .execute(&mut **tx)
            .await
            .map_err(db)?;
        let change = Change::new("role_bindings.delete", "role_binding")
            .target(binding)
            .before(Some(json!({
                "role": role, "user_id": user, "sso_connection_id": connection.id,
            })));
        audit::append(tx, Some(tenant), Some(Actor::User(user)), change).await?;
        changed = true;
    }
    for role in wanted {
        if managed.iter().any(|(_, r)| r == role) {
            continue;
        }
        let binding: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO role_bindings (id, tenant_id, role, user_id) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(Uuid::now_v7())
        .bind(tenant)
        .bind(role)
        .bind(user.0)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?;
        // Already bound by hand: that binding is not the connection's.
        let Some(binding) = binding else { continue };
        sqlx::query(
            "INSERT INTO sso_role_bindings (binding_id, tenant_id, connection_id) VALUES ($1, $2, $3)",
        )
        .bind(binding)
        .bind(tenant)
        .bind(connection.id.0)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
        let change = Change::new("role_bindings.create", "role_binding")
            .target(binding)
            .after(Some(json!({
                "role": role, "user_id": user, "sso_connection_id": connection.id,
            })));
        audit::append(tx, Some(tenant), Some(Actor::User(user)), change).await?;
        changed = true;
    }
    Ok(changed)
}
