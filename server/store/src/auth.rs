//! Authentication lookups and the first-start bootstrap. These run before
//! any principal is known, so they use the platform path unscoped.

use ditto_core::secrets::sha256;
use ditto_core::{Actor, Grants, Permission, PlatformRole, Principal, Result};
use ditto_types::{AccessTokenId, ServiceAccountId, UserId};
use uuid::Uuid;

use crate::sign_in::SessionHolder;
use crate::{Store, audit, error::db};

/// How long `last_used_at` may lag, so authentication does not write on
/// every request.
const LAST_USED_RESOLUTION_SECS: i32 = 60;

impl Store {
    /// The principal holding this bearer token, if the token is valid: known,
    /// not revoked or expired, of an enabled service account or an active
    /// user. A token narrowed to some permissions holds only those of them
    /// its holder still has.
    pub async fn authenticate_token(&self, token: &str) -> Result<Option<Principal>> {
        let digest = sha256(token.as_bytes());
        let mut tx = self.unscoped_platform_tx().await?;
        #[allow(clippy::type_complexity)]
        let row: Option<(
            Uuid,
            Option<Uuid>,
            Option<Uuid>,
            Option<Uuid>,
            Option<String>,
            Option<Vec<String>>,
        )> = sqlx::query_as(
            "SELECT t.id, t.tenant_id, t.service_account_id, t.user_id, sa.platform_role,
                        t.permissions
                 FROM access_tokens t
                 LEFT JOIN service_accounts sa ON sa.id = t.service_account_id
                 LEFT JOIN users u ON u.tenant_id = t.tenant_id AND u.id = t.user_id
                 WHERE t.token_hash = $1 AND t.revoked_at IS NULL
                   AND (t.expires_at IS NULL OR t.expires_at > now())
                   AND (NOT sa.disabled OR u.status = 'active')",
        )
        .bind(digest.as_slice())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some((token_id, tenant, account, user, platform_role, permissions)) = row else {
            return Ok(None);
        };
        sqlx::query(
            "UPDATE access_tokens SET last_used_at = now() WHERE id = $1
               AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2))",
        )
        .bind(token_id)
        .bind(LAST_USED_RESOLUTION_SECS)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        let actor = match (account, user) {
            (Some(account), _) => Actor::ServiceAccount(ServiceAccountId(account)),
            (None, Some(user)) => Actor::User(UserId(user)),
            (None, None) => return Ok(None),
        };
        let tenant_id: Option<ditto_types::TenantId> = tenant.map(Into::into);
        let mut grants = match tenant_id {
            Some(t) => self.grants_of(t, actor).await?,
            None => Grants::NONE,
        };
        let limit = permissions.map(|names| {
            let narrowed: Vec<Permission> =
                names.iter().filter_map(|n| Permission::parse(n)).collect();
            Grants::of(&narrowed)
        });
        if let Some(limit) = limit {
            grants = grants.intersect(limit);
        }
        Ok(Some(Principal {
            actor,
            tenant_id,
            limit,
            platform_role: platform_role.as_deref().and_then(PlatformRole::parse),
            grants,
        }))
    }

    /// The principal of a live session (see [`Store::authenticate_session`]),
    /// with the session's id and CSRF digest.
    pub async fn session_principal(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<(Principal, SessionHolder)>> {
        let Some(holder) = self.authenticate_session(token_hash).await? else {
            return Ok(None);
        };
        let actor = Actor::User(holder.user_id);
        let grants = self.grants_of(holder.tenant_id, actor).await?;
        Ok(Some((
            Principal {
                actor,
                tenant_id: Some(holder.tenant_id),
                platform_role: None,
                grants,
                limit: None,
            },
            holder,
        )))
    }

    /// The name of the caller's own account when it is a platform service
    /// account (`None` for anyone else), to show the caller who it is.
    /// Platform accounts belong to no tenant, so this reads outside any; it
    /// takes the authenticated principal, so it can name no other account.
    pub async fn own_platform_account_name(&self, principal: &Principal) -> Result<Option<String>> {
        let (Actor::ServiceAccount(account), None) = (principal.actor, principal.tenant_id) else {
            return Ok(None);
        };
        let mut tx = self.unscoped_platform_tx().await?;
        let name: Option<String> = sqlx::query_scalar(
            "SELECT name FROM service_accounts WHERE id = $1 AND tenant_id IS NULL",
        )
        .bind(account.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(name)
    }

    /// Creates a platform service account with `role` whose bearer token is
    /// `token`. For operators' tooling and tests; there is no API for it.
    pub async fn create_platform_account(
        &self,
        name: &str,
        role: PlatformRole,
        token: &str,
    ) -> Result<ServiceAccountId> {
        let mut tx = self.unscoped_platform_tx().await?;
        let account = ServiceAccountId::new();
        sqlx::query(
            "INSERT INTO service_accounts (id, tenant_id, name, platform_role)
             VALUES ($1, NULL, $2, $3)",
        )
        .bind(account.0)
        .bind(name)
        .bind(role.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query(
            "INSERT INTO access_tokens (id, tenant_id, service_account_id, name, prefix, token_hash)
             VALUES ($1, NULL, $2, $3, 'platform', $4)",
        )
        .bind(AccessTokenId::new().0)
        .bind(account.0)
        .bind(name)
        .bind(sha256(token.as_bytes()).as_slice())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        record_platform_account(&mut tx, "platform_accounts.create", account).await?;
        tx.commit().await.map_err(db)?;
        Ok(account)
    }

    /// On a database without any platform administrator, creates one (a
    /// platform service account) whose bearer token is `token`. Returns
    /// whether it did. Safe when several replicas start at once.
    pub async fn bootstrap_platform_admin(&self, token: &str) -> Result<bool> {
        let mut tx = self.unscoped_platform_tx().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('ditto.bootstrap'))")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM service_accounts WHERE platform_role = 'platform_admin')",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        if exists {
            return Ok(false);
        }
        let account = ServiceAccountId::new();
        sqlx::query(
            "INSERT INTO service_accounts (id, tenant_id, name, description, platform_role)
             VALUES ($1, NULL, 'bootstrap', 'Created at first start from DITTO_BOOTSTRAP_TOKEN', 'platform_admin')",
        )
        .bind(account.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query(
            "INSERT INTO access_tokens (id, tenant_id, service_account_id, name, prefix, token_hash)
             VALUES ($1, NULL, $2, 'bootstrap', 'bootstrap', $3)",
        )
        .bind(AccessTokenId::new().0)
        .bind(account.0)
        .bind(sha256(token.as_bytes()).as_slice())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        record_platform_account(&mut tx, "platform_accounts.bootstrap", account).await?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }
}

/// Records, in the platform chain, a platform account made outside the API
/// (at first start, or by operators' tooling).
async fn record_platform_account(
    tx: &mut crate::tx::Tx,
    action: &'static str,
    account: ServiceAccountId,
) -> Result<()> {
    let after = audit::image_by_id(tx, "service_accounts", account.0).await?;
    let change = audit::Change::new(action, "service_account")
        .target(account)
        .after(after);
    audit::record_system(tx, change).await
}
