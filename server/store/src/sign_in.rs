//! Local sign-in: the state of a user's password and second factor, failed
//! attempts and lockout, and browser sessions. The sign-in steps run before
//! anyone is authorized, so, like token authentication, they use the
//! platform path unscoped and record their events in the user's tenant
//! chain themselves; everything done afterwards takes a [`TenantScope`].

use chrono::{DateTime, Utc};
use ditto_core::{Actor, Error, Result, TenantRef, TenantScope};
use ditto_types::api::{PageParams, Session, SessionPage, SignInMethod, SignInState, TenantStatus};
use ditto_types::{SessionId, TenantId, UserId};
use serde_json::json;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::page::{BY_CREATION, Keyset};
use crate::sign_in_sources::{AttemptSource, latest_lockout, lift_lockouts, record_source_sign_in};
use crate::tx::Tx;
use crate::{Store, error::db};

/// What sign-in needs to know about the account an email names.
#[derive(Clone, Debug)]
pub struct SignInAccount {
    pub tenant: TenantRef,
    pub user_id: UserId,
    pub email: String,
    pub active: bool,
    pub password_hash: Option<String>,
    pub must_change_password: bool,
    /// Present once a second factor is enrolled and confirmed.
    pub totp: Option<EnabledTotp>,
    pub recovery_codes_left: u32,
}

#[derive(Clone, Debug)]
pub struct EnabledTotp {
    pub sealed_secret: Vec<u8>,
    pub last_step: Option<i64>,
}

/// A session about to start, after every check passed.
#[derive(Debug)]
pub struct NewSession {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub token_hash: [u8; 32],
    pub csrf_hash: [u8; 32],
    pub method: SignInMethod,
    pub idle_timeout_secs: i32,
    pub absolute_timeout_secs: i64,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The TOTP step just used, so the same code cannot be used again.
    pub totp_step: Option<i64>,
    /// The recovery code just used, which is now spent.
    pub recovery_code_hash: Option<[u8; 32]>,
    /// The session the browser held before, which this one replaces.
    pub replaces: Option<[u8; 32]>,
    /// A new hash of the same password, when the cost parameters changed.
    pub rehashed_password: Option<String>,
    /// The single sign-on connection the user came through.
    pub sso_connection: Option<ditto_types::SsoConnectionId>,
    /// The password sign-in's account and source, which becomes a known
    /// source of the account with its failures forgotten.
    pub source: Option<AttemptSource>,
}

/// The holder of a live session.
#[derive(Clone, Debug)]
pub struct SessionHolder {
    pub session_id: SessionId,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub csrf_hash: Vec<u8>,
    /// How long ago the session was opened by a complete sign-in, on the
    /// database's clock.
    pub signed_in_ago: chrono::Duration,
    /// Opened with a password an administrator set, not yet changed: the
    /// session may do nothing but change it.
    pub must_change_password: bool,
}

const SESSION_COLUMNS: &str = "id, user_id, method, source_ip, user_agent, created_at,
    last_seen_at, idle_timeout_secs, expires_at, revoked_at";

#[derive(FromRow)]
struct SessionRow {
    id: Uuid,
    user_id: Uuid,
    method: String,
    source_ip: Option<String>,
    user_agent: Option<String>,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    idle_timeout_secs: i32,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl SessionRow {
    fn into_session(self, current: Option<SessionId>) -> Session {
        Session {
            id: self.id.into(),
            user_id: self.user_id.into(),
            method: SignInMethod::parse(&self.method).unwrap_or(SignInMethod::Password),
            source_ip: self.source_ip,
            user_agent: self.user_agent,
            created_at: self.created_at,
            last_seen_at: self.last_seen_at,
            idle_expires_at: (self.last_seen_at
                + chrono::Duration::seconds(self.idle_timeout_secs.into()))
            .min(self.expires_at),
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
            current: current == Some(self.id.into()),
        }
    }
}

#[derive(FromRow, Default)]
struct StateRow {
    has_password: bool,
    must_change_password: bool,
    totp_enabled: bool,
    failed_attempts: i32,
    password_changed_at: Option<DateTime<Utc>>,
}

/// Records an event of the sign-in path in the tenant's chain.
async fn record_sign_in_event(
    tx: &mut Tx,
    tenant: TenantId,
    actor: Option<UserId>,
    change: Change,
) -> Result<()> {
    audit::append(tx, Some(tenant.0), actor.map(Actor::User), change).await
}

impl Store {
    /// The account `email` names in the tenant `tenant_slug`, if both exist.
    pub async fn sign_in_account(
        &self,
        tenant_slug: &str,
        email: &str,
    ) -> Result<Option<SignInAccount>> {
        let mut tx = self.unscoped_platform_tx().await?;
        #[allow(clippy::type_complexity)]
        let row: Option<(
            Uuid,
            String,
            Uuid,
            String,
            String,
            Option<String>,
            Option<bool>,
            Option<Vec<u8>>,
            Option<i64>,
            i64,
        )> = sqlx::query_as(
            "SELECT t.id, t.status, u.id, u.email, u.status, c.password_hash,
                    c.must_change_password,
                    CASE WHEN c.totp_enabled_at IS NOT NULL THEN c.totp_secret END,
                    c.totp_last_step,
                    (SELECT count(*) FROM recovery_codes r
                     WHERE r.tenant_id = u.tenant_id AND r.user_id = u.id AND r.used_at IS NULL)
             FROM tenants t
             JOIN users u ON u.tenant_id = t.id AND lower(u.email) = lower($2)
             LEFT JOIN user_credentials c ON c.tenant_id = u.tenant_id AND c.user_id = u.id
             WHERE t.slug = $1",
        )
        .bind(tenant_slug)
        .bind(email.trim())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(row.map(
            |(tenant, tstatus, user, email, ustatus, hash, must, secret, step, left)| {
                SignInAccount {
                    tenant: TenantRef {
                        id: tenant.into(),
                        status: if tstatus == "suspended" {
                            TenantStatus::Suspended
                        } else {
                            TenantStatus::Active
                        },
                    },
                    user_id: user.into(),
                    email,
                    active: ustatus == "active",
                    password_hash: hash,
                    must_change_password: must.unwrap_or(false),
                    totp: secret.map(|sealed_secret| EnabledTotp {
                        sealed_secret,
                        last_step: step,
                    }),
                    recovery_codes_left: u32::try_from(left).unwrap_or(0),
                }
            },
        ))
    }

    /// Starts a session: spends the TOTP step or recovery code, clears the
    /// failure count and ends the session it replaces, all at once. A code
    /// spent by a concurrent sign-in makes this fail with `Conflict`.
    pub async fn open_session(&self, new: NewSession) -> Result<Session> {
        let mut tx = self.unscoped_platform_tx().await?;
        let (tenant, user) = (new.tenant_id.0, new.user_id.0);
        if let Some(step) = new.totp_step {
            let spent = sqlx::query(
                "UPDATE user_credentials SET totp_last_step = $3
                 WHERE tenant_id = $1 AND user_id = $2
                   AND (totp_last_step IS NULL OR totp_last_step < $3)",
            )
            .bind(tenant)
            .bind(user)
            .bind(step)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            if spent.rows_affected() != 1 {
                return Err(Error::Conflict("this code was already used".into()));
            }
        }
        if let Some(code) = new.recovery_code_hash {
            let spent = sqlx::query(
                "UPDATE recovery_codes SET used_at = now()
                 WHERE tenant_id = $1 AND user_id = $2 AND code_hash = $3 AND used_at IS NULL",
            )
            .bind(tenant)
            .bind(user)
            .bind(code.as_slice())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            if spent.rows_affected() != 1 {
                return Err(Error::Conflict(
                    "this recovery code was already used".into(),
                ));
            }
        }
        sqlx::query(
            "UPDATE user_credentials
             SET failed_attempts = 0,
                 password_hash = COALESCE($3, password_hash), updated_at = now()
             WHERE tenant_id = $1 AND user_id = $2",
        )
        .bind(tenant)
        .bind(user)
        .bind(new.rehashed_password.as_deref())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if let Some(source) = &new.source {
            record_source_sign_in(&mut tx, source).await?;
        }
        if let Some(old) = new.replaces {
            sqlx::query(
                "UPDATE sessions SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL",
            )
            .bind(old.as_slice())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        let row: SessionRow = sqlx::query_as(sql!(
            "INSERT INTO sessions (id, tenant_id, user_id, token_hash, csrf_hash, method,
                 source_ip, user_agent, idle_timeout_secs, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now() + make_interval(secs => $10))
             RETURNING {SESSION_COLUMNS}"
        ))
        .bind(SessionId::new().0)
        .bind(tenant)
        .bind(user)
        .bind(new.token_hash.as_slice())
        .bind(new.csrf_hash.as_slice())
        .bind(new.method.as_str())
        .bind(new.source_ip.as_deref().map(|s| truncate(s, 64)))
        .bind(new.user_agent.as_deref().map(|s| truncate(s, 512)))
        .bind(new.idle_timeout_secs)
        .bind(new.absolute_timeout_secs as f64)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let change = Change::new("auth.sign_in", "user")
            .target(new.user_id)
            .after(Some(match new.sso_connection {
                Some(connection) => json!({
                    "session_id": row.id, "method": new.method.as_str(), "connection_id": connection,
                }),
                None => json!({ "session_id": row.id, "method": new.method.as_str() }),
            }));
        record_sign_in_event(&mut tx, new.tenant_id, Some(new.user_id), change).await?;
        tx.commit().await.map_err(db)?;
        let id = row.id.into();
        Ok(row.into_session(Some(id)))
    }

    /// The user holding the session whose token hashes to `token_hash`, if
    /// it is live: not revoked, not past its idle or absolute end, its user
    /// active. Marks it seen (at most every tenth of its idle timeout).
    pub async fn authenticate_session(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<SessionHolder>> {
        let mut tx = self.unscoped_platform_tx().await?;
        type Live = (Uuid, Uuid, Uuid, Vec<u8>, i64, bool);
        let row: Option<Live> = sqlx::query_as(
            // Reading a live session writes only when its idle clock is
            // stale, not on every request.
            "WITH live AS (
                 SELECT s.id, s.tenant_id, s.user_id, s.csrf_hash,
                        extract(epoch FROM now() - s.created_at)::bigint AS signed_in_secs,
                        s.last_seen_at < now() - make_interval(secs => least(60, s.idle_timeout_secs / 10.0)) AS stale,
                        s.method LIKE 'password%' AND coalesce(c.must_change_password, false) AS must_change
                 FROM sessions s
                 JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id AND u.status = 'active'
                 LEFT JOIN user_credentials c ON c.tenant_id = s.tenant_id AND c.user_id = s.user_id
                 WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()
                   AND s.last_seen_at + make_interval(secs => s.idle_timeout_secs) > now()
             ), seen AS (
                 UPDATE sessions SET last_seen_at = now() FROM live WHERE sessions.id = live.id AND live.stale
             )
             SELECT id, tenant_id, user_id, csrf_hash, signed_in_secs, must_change FROM live",
        )
        .bind(token_hash.as_slice())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(row.map(
            |(id, tenant, user, csrf_hash, signed_in_secs, must_change)| SessionHolder {
                session_id: id.into(),
                tenant_id: tenant.into(),
                user_id: user.into(),
                csrf_hash,
                signed_in_ago: chrono::Duration::seconds(signed_in_secs),
                must_change_password: must_change,
            },
        ))
    }

    /// Signs out: ends the session the token names, if it is live.
    pub async fn close_session(&self, token_hash: &[u8; 32]) -> Result<()> {
        let mut tx = self.unscoped_platform_tx().await?;
        let row: Option<(Uuid, Uuid, Uuid)> = sqlx::query_as(
            "UPDATE sessions SET revoked_at = now()
             WHERE token_hash = $1 AND revoked_at IS NULL
             RETURNING id, tenant_id, user_id",
        )
        .bind(token_hash.as_slice())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if let Some((id, tenant, user)) = row {
            let change = Change::new("auth.sign_out", "session").target(id);
            record_sign_in_event(&mut tx, tenant.into(), Some(user.into()), change).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    /// A user's sessions, live and ended.
    pub async fn list_sessions(
        &self,
        scope: &TenantScope,
        user: UserId,
        page: &PageParams,
        current: Option<SessionId>,
    ) -> Result<SessionPage> {
        let keyset = Keyset::parse(page, &[BY_CREATION])?;
        let mut qb = QueryBuilder::new(format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = "
        ));
        qb.push_bind(user.0);
        keyset.push_after(&mut qb);
        keyset.push_order_limit(&mut qb);
        let mut tx = self.tenant_tx(scope).await?;
        user_exists(&mut tx, user).await?;
        let rows: Vec<SessionRow> = qb.build_query_as().fetch_all(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        let (rows, next_cursor) = keyset.finish(rows, |r, _| (r.id, None));
        Ok(SessionPage {
            items: rows.into_iter().map(|r| r.into_session(current)).collect(),
            next_cursor,
        })
    }

    /// Ends one of a user's sessions (idempotent).
    pub async fn revoke_session(
        &self,
        scope: &TenantScope,
        user: UserId,
        id: SessionId,
    ) -> Result<()> {
        let mut tx = self.tenant_tx(scope).await?;
        let ended = sqlx::query(
            "UPDATE sessions SET revoked_at = COALESCE(revoked_at, now())
             WHERE id = $1 AND user_id = $2",
        )
        .bind(id.0)
        .bind(user.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if ended.rows_affected() == 0 {
            return Err(Error::NotFound("session"));
        }
        let change = Change::new("sessions.revoke", "session")
            .target(id)
            .after(Some(json!({ "user_id": user })));
        audit::record(&mut tx, scope, change).await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    /// Ends every live session of a user but `except`; returns how many.
    pub async fn revoke_sessions(
        &self,
        scope: &TenantScope,
        user: UserId,
        except: Option<SessionId>,
    ) -> Result<u64> {
        let mut tx = self.tenant_tx(scope).await?;
        user_exists(&mut tx, user).await?;
        let revoked = revoke_live_sessions(&mut tx, user, except).await?;
        let change = Change::new("sessions.revoke_all", "user")
            .target(user)
            .after(Some(json!({ "revoked": revoked })));
        audit::record(&mut tx, scope, change).await?;
        tx.commit().await.map_err(db)?;
        Ok(revoked)
    }

    /// How a user signs in.
    pub async fn sign_in_state(&self, scope: &TenantScope, user: UserId) -> Result<SignInState> {
        let mut tx = self.tenant_tx(scope).await?;
        user_exists(&mut tx, user).await?;
        let row: Option<StateRow> = sqlx::query_as(
            "SELECT password_hash IS NOT NULL AS has_password, must_change_password,
                    totp_enabled_at IS NOT NULL AS totp_enabled, failed_attempts,
                    password_changed_at
             FROM user_credentials WHERE user_id = $1",
        )
        .bind(user.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let locked_until = latest_lockout(&mut tx, user).await?;
        tx.commit().await.map_err(db)?;
        let row = row.unwrap_or_default();
        Ok(SignInState {
            has_password: row.has_password,
            must_change_password: row.must_change_password,
            totp_enabled: row.totp_enabled,
            failed_attempts: u32::try_from(row.failed_attempts).unwrap_or(0),
            locked_until,
            password_changed_at: row.password_changed_at,
        })
    }

    /// Sets a user's password. An administrator's reset (`by_admin`) ends all
    /// the user's sessions; a user changing their own keeps `keep` alive and
    /// ends the rest.
    pub async fn set_password(
        &self,
        scope: &TenantScope,
        user: UserId,
        phc: &str,
        must_change: bool,
        keep: Option<SessionId>,
    ) -> Result<u64> {
        let mut tx = self.tenant_tx(scope).await?;
        user_exists(&mut tx, user).await?;
        sqlx::query(
            "INSERT INTO user_credentials (tenant_id, user_id, password_hash, password_changed_at,
                 must_change_password)
             VALUES (ditto_current_tenant(), $1, $2, now(), $3)
             ON CONFLICT (tenant_id, user_id) DO UPDATE SET
                 password_hash = $2, password_changed_at = now(), must_change_password = $3,
                 failed_attempts = 0, updated_at = now()",
        )
        .bind(user.0)
        .bind(phc)
        .bind(must_change)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let revoked = revoke_live_sessions(&mut tx, user, keep).await?;
        let own = scope.actor() == Actor::User(user);
        let action = if own {
            "credentials.password_change"
        } else {
            "credentials.password_set"
        };
        let change = Change::new(action, "user").target(user).after(Some(json!({
            "must_change_password": must_change,
            "sessions_revoked": revoked,
        })));
        audit::record(&mut tx, scope, change).await?;
        tx.commit().await.map_err(db)?;
        Ok(revoked)
    }

    /// The stored password hash of a user (for re-authentication).
    pub async fn password_hash(&self, scope: &TenantScope, user: UserId) -> Result<Option<String>> {
        let mut tx = self.tenant_tx(scope).await?;
        let hash: Option<Option<String>> =
            sqlx::query_scalar("SELECT password_hash FROM user_credentials WHERE user_id = $1")
                .bind(user.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(hash.flatten())
    }

    /// Lifts every source's lockout of a user's account and clears the
    /// failure count.
    pub async fn unlock_user(&self, scope: &TenantScope, user: UserId) -> Result<()> {
        let mut tx = self.tenant_tx(scope).await?;
        user_exists(&mut tx, user).await?;
        sqlx::query(
            "UPDATE user_credentials SET failed_attempts = 0, updated_at = now()
             WHERE user_id = $1",
        )
        .bind(user.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        lift_lockouts(&mut tx, user).await?;
        audit::record(
            &mut tx,
            scope,
            Change::new("credentials.unlock", "user").target(user),
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    /// Stores a new, not yet confirmed TOTP secret (sealed). Refused while
    /// one is enabled.
    pub async fn begin_totp(&self, scope: &TenantScope, user: UserId, sealed: &[u8]) -> Result<()> {
        let mut tx = self.tenant_tx(scope).await?;
        user_exists(&mut tx, user).await?;
        let stored = sqlx::query(
            "INSERT INTO user_credentials (tenant_id, user_id, totp_secret)
             VALUES (ditto_current_tenant(), $1, $2)
             ON CONFLICT (tenant_id, user_id) DO UPDATE SET totp_secret = $2, updated_at = now()
             WHERE user_credentials.totp_enabled_at IS NULL",
        )
        .bind(user.0)
        .bind(sealed)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if stored.rows_affected() == 0 {
            return Err(Error::Conflict(
                "a second factor is already enabled; disable it first".into(),
            ));
        }
        audit::record(
            &mut tx,
            scope,
            Change::new("credentials.totp_begin", "user").target(user),
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    /// The sealed TOTP secret of a user and whether it is enabled yet, with
    /// the last step used.
    pub async fn totp_secret(
        &self,
        scope: &TenantScope,
        user: UserId,
    ) -> Result<Option<(Vec<u8>, bool, Option<i64>)>> {
        let mut tx = self.tenant_tx(scope).await?;
        let row: Option<(Option<Vec<u8>>, bool, Option<i64>)> = sqlx::query_as(
            "SELECT totp_secret, totp_enabled_at IS NOT NULL, totp_last_step
             FROM user_credentials WHERE user_id = $1",
        )
        .bind(user.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(row.and_then(|(secret, enabled, step)| secret.map(|s| (s, enabled, step))))
    }

    /// Enables the pending second factor with the step of its first code and
    /// stores fresh recovery codes; or, when it is already enabled, only
    /// replaces the recovery codes.
    pub async fn confirm_totp(
        &self,
        scope: &TenantScope,
        user: UserId,
        step: i64,
        recovery_code_hashes: &[[u8; 32]],
    ) -> Result<()> {
        let mut tx = self.tenant_tx(scope).await?;
        let was_enabled: Option<bool> = sqlx::query_scalar(
            "SELECT totp_enabled_at IS NOT NULL FROM user_credentials
             WHERE user_id = $1 AND totp_secret IS NOT NULL FOR UPDATE",
        )
        .bind(user.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let spent = sqlx::query(
            "UPDATE user_credentials
             SET totp_enabled_at = COALESCE(totp_enabled_at, now()), totp_last_step = $2,
                 updated_at = now()
             WHERE user_id = $1 AND totp_secret IS NOT NULL
               AND (totp_last_step IS NULL OR totp_last_step < $2)",
        )
        .bind(user.0)
        .bind(step)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let (Some(was_enabled), 1) = (was_enabled, spent.rows_affected()) else {
            return Err(Error::Conflict("this code was already used".into()));
        };
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO recovery_codes (tenant_id, user_id, code_hash)
             SELECT ditto_current_tenant(), $1, unnest($2::bytea[])",
        )
        .bind(user.0)
        .bind(
            recovery_code_hashes
                .iter()
                .map(|h| h.to_vec())
                .collect::<Vec<_>>(),
        )
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let action = if was_enabled {
            "credentials.recovery_codes_regenerate"
        } else {
            "credentials.totp_enable"
        };
        let change = Change::new(action, "user").target(user).after(Some(
            json!({ "recovery_codes": recovery_code_hashes.len() }),
        ));
        audit::record(&mut tx, scope, change).await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    /// Removes a user's second factor and recovery codes.
    pub async fn disable_totp(&self, scope: &TenantScope, user: UserId) -> Result<()> {
        let mut tx = self.tenant_tx(scope).await?;
        user_exists(&mut tx, user).await?;
        sqlx::query(
            "UPDATE user_credentials
             SET totp_secret = NULL, totp_enabled_at = NULL, totp_last_step = NULL, updated_at = now()
             WHERE user_id = $1",
        )
        .bind(user.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let own = scope.actor() == Actor::User(user);
        let action = if own {
            "credentials.totp_disable"
        } else {
            "credentials.totp_reset"
        };
        audit::record(&mut tx, scope, Change::new(action, "user").target(user)).await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    /// Spends one of a user's recovery codes; false when it is not one.
    pub async fn spend_recovery_code(
        &self,
        scope: &TenantScope,
        user: UserId,
        code_hash: &[u8; 32],
    ) -> Result<bool> {
        let mut tx = self.tenant_tx(scope).await?;
        let spent = sqlx::query(
            "UPDATE recovery_codes SET used_at = now()
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(user.0)
        .bind(code_hash.as_slice())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(spent.rows_affected() == 1)
    }
}

async fn user_exists(tx: &mut Tx, user: UserId) -> Result<()> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = $1")
        .bind(user.0)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?;
    found.map(|_| ()).ok_or(Error::NotFound("user"))
}

async fn revoke_live_sessions(tx: &mut Tx, user: UserId, except: Option<SessionId>) -> Result<u64> {
    let ended = sqlx::query(
        "UPDATE sessions SET revoked_at = now()
         WHERE user_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $2",
    )
    .bind(user.0)
    .bind(except.map(|s| s.0))
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    Ok(ended.rows_affected())
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
