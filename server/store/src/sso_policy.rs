//! Enforced single sign-on and break-glass owners. While a tenant enforces
//! SSO its members cannot sign in with a password, except the owners it
//! designated for when the identity provider fails; their sign-ins are
//! recorded as such.

use chrono::{DateTime, Utc};
use ditto_core::{Actor, Error, Result, TenantScope};
use ditto_types::api::{BreakGlass, SsoPolicy};
use ditto_types::{SessionId, SsoConnectionId, TenantId, UserId};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::tx::Tx;
use crate::{Store, error::db};

/// Whether `user` holds the `owner` role tenant-wide, directly or through
/// a group (`$1` tenant, `$2` user).
const HOLDS_OWNER: &str = "EXISTS (SELECT 1 FROM role_bindings b
      WHERE b.tenant_id = $1 AND b.role = 'owner' AND b.project_id IS NULL
        AND (b.user_id = $2 OR b.group_id IN
             (SELECT m.group_id FROM group_members m WHERE m.tenant_id = $1 AND m.user_id = $2)))";

/// What password sign-in must know about a tenant's SSO policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub sso_enforced: bool,
    /// Designated break-glass and still an owner.
    pub break_glass_owner: bool,
    /// Where to sign in instead, when refused: (id, name, protocol) of the
    /// tenant's enabled connections.
    pub connections: Vec<(SsoConnectionId, String, String)>,
}

/// Orders changes to the policy against switching off or removing
/// connections (the trigger of migration 31 takes the same lock).
async fn lock_policy(tx: &mut Tx, tenant: TenantId) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('ditto.sso_policy.' || $1::text))")
        .bind(tenant.0)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    Ok(())
}

async fn read_policy(tx: &mut Tx) -> Result<SsoPolicy> {
    let row: Option<(bool, DateTime<Utc>)> =
        sqlx::query_as("SELECT enforced, updated_at FROM tenant_sso_policies")
            .fetch_optional(&mut **tx)
            .await
            .map_err(db)?;
    let break_glass: Vec<Uuid> =
        sqlx::query_scalar("SELECT user_id FROM sso_break_glass_users ORDER BY user_id")
            .fetch_all(&mut **tx)
            .await
            .map_err(db)?;
    Ok(SsoPolicy {
        enforced: row.is_some_and(|r| r.0),
        break_glass_user_ids: break_glass.into_iter().map(Into::into).collect(),
        updated_at: row.map(|r| r.1),
    })
}

impl Store {
    pub async fn sso_policy(&self, scope: &TenantScope) -> Result<SsoPolicy> {
        let mut tx = self.tenant_tx(scope).await?;
        let policy = read_policy(&mut tx).await?;
        tx.commit().await.map_err(db)?;
        Ok(policy)
    }

    /// Turns enforced SSO on or off. On needs an enabled connection (422
    /// `no_sso_connection`), and keeps needing one (see migration 31).
    pub async fn set_sso_enforced(&self, scope: &TenantScope, enforced: bool) -> Result<SsoPolicy> {
        let mut tx = self.tenant_tx(scope).await?;
        lock_policy(&mut tx, scope.tenant_id()).await?;
        if enforced {
            let any: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sso_connections WHERE enabled)")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db)?;
            if !any {
                return Err(Error::invalid(
                    "/enforced",
                    "no_sso_connection",
                    "this tenant has no enabled SSO connection; add one (and try it) before enforcing SSO",
                ));
            }
        }
        let before = read_policy(&mut tx).await?;
        sqlx::query(
            "INSERT INTO tenant_sso_policies (tenant_id, enforced) VALUES (ditto_current_tenant(), $1)
             ON CONFLICT (tenant_id) DO UPDATE SET enforced = $1, updated_at = now()",
        )
        .bind(enforced)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let after = read_policy(&mut tx).await?;
        let change = Change::new("sso_policy.update", "tenant")
            .target(scope.tenant_id())
            .before(Some(json!({ "enforced": before.enforced })))
            .after(Some(json!({ "enforced": after.enforced })));
        audit::record(&mut tx, scope, change).await?;
        tx.commit().await.map_err(db)?;
        Ok(after)
    }

    /// Designates `user` a break-glass owner, or stops. Only a user who
    /// holds the owner role can be one (422 `not_owner`).
    pub async fn set_break_glass(
        &self,
        scope: &TenantScope,
        user: UserId,
        enabled: bool,
    ) -> Result<BreakGlass> {
        let mut tx = self.tenant_tx(scope).await?;
        let owner: Option<bool> = sqlx::query_scalar(sql!(
            "SELECT {HOLDS_OWNER} FROM users WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(scope.tenant_id().0)
        .bind(user.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let owner = owner.ok_or(Error::NotFound("user"))?;
        if enabled && !owner {
            return Err(Error::invalid(
                "/enabled",
                "not_owner",
                "only a user who holds the owner role can be a break-glass account",
            ));
        }
        if enabled {
            sqlx::query(
                "INSERT INTO sso_break_glass_users (tenant_id, user_id) VALUES (ditto_current_tenant(), $1)
                 ON CONFLICT DO NOTHING",
            )
        } else {
            sqlx::query("DELETE FROM sso_break_glass_users WHERE user_id = $1")
        }
        .bind(user.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let action = if enabled {
            "sso_break_glass.grant"
        } else {
            "sso_break_glass.revoke"
        };
        let change = Change::new(action, "user")
            .target(user)
            .after(Some(json!({ "break_glass": enabled })));
        audit::record(&mut tx, scope, change).await?;
        tx.commit().await.map_err(db)?;
        Ok(BreakGlass {
            user_id: user,
            enabled,
        })
    }

    /// The SSO policy a password sign-in of `user` meets. Runs before
    /// anyone is authorized, like the rest of sign-in.
    pub async fn password_policy(&self, tenant: TenantId, user: UserId) -> Result<PasswordPolicy> {
        let mut tx = self.unscoped_platform_tx().await?;
        let (sso_enforced, break_glass_owner): (bool, bool) = sqlx::query_as(sql!(
            "SELECT
                 COALESCE((SELECT enforced FROM tenant_sso_policies WHERE tenant_id = $1), false),
                 EXISTS (SELECT 1 FROM sso_break_glass_users WHERE tenant_id = $1 AND user_id = $2)
                     AND {HOLDS_OWNER}"
        ))
        .bind(tenant.0)
        .bind(user.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let mut connections = Vec::new();
        if sso_enforced && !break_glass_owner {
            let rows: Vec<(Uuid, String, String)> = sqlx::query_as(
                "SELECT id, name, protocol FROM sso_connections
                 WHERE tenant_id = $1 AND enabled ORDER BY id",
            )
            .bind(tenant.0)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
            connections = rows
                .into_iter()
                .map(|(id, name, protocol)| (id.into(), name, protocol))
                .collect();
        }
        tx.commit().await.map_err(db)?;
        Ok(PasswordPolicy {
            sso_enforced,
            break_glass_owner,
            connections,
        })
    }

    /// Records that a break-glass owner signed in with a password while SSO
    /// is enforced.
    pub async fn record_break_glass_sign_in(
        &self,
        tenant: TenantId,
        user: UserId,
        session: SessionId,
        source_ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.unscoped_platform_tx().await?;
        let change = Change::new("auth.break_glass_sign_in", "user")
            .target(user)
            .after(Some(json!({
                "session_id": session,
                "source_ip": source_ip,
                "user_agent": user_agent,
            })));
        audit::append(&mut tx, Some(tenant.0), Some(Actor::User(user)), change).await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }
}
