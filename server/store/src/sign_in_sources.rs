//! Failed sign-ins counted per account and source address. A source that
//! fails too often on an account is locked out of that account for a while;
//! other sources, the account's owner among them, are not. Accounts are
//! named by a digest of tenant slug and email (`ditto_sign_in_account` in
//! SQL) whether or not they exist, so unknown accounts lock exactly as known
//! ones do and a lockout reveals nothing.

use chrono::{DateTime, Utc};
use ditto_core::Result;
use ditto_types::{TenantId, UserId};
use serde_json::json;

use crate::audit::{self, Change};
use crate::tx::Tx;
use crate::{Store, error::db};

/// How long a source that signed in to an account is remembered as one of
/// its own.
pub const KNOWN_SOURCE_DAYS: i32 = 90;

/// Expired rows removed by each failure, so failures pay for the cleanup
/// they cause.
const PRUNE_BATCH: i64 = 100;

/// A sign-in attempt: the account it names (which may not exist) and where
/// it came from.
#[derive(Clone, Debug)]
pub struct AttemptSource {
    /// As the client sent it, trimmed (the SQL digest lower-cases it).
    pub tenant_slug: String,
    /// As the client sent it, trimmed.
    pub email: String,
    /// The client address (an IPv6 client by its /64 network).
    pub source: String,
}

/// What the lockout knows about a source on an account.
#[derive(Clone, Copy, Debug, Default)]
pub struct SourceStanding {
    /// Attempts from this source on this account are refused until then.
    pub locked_until: Option<DateTime<Utc>>,
    /// This source signed in to this account in the last
    /// [`KNOWN_SOURCE_DAYS`].
    pub known: bool,
}

/// A failure of an existing account, to be counted on the account too.
#[derive(Clone, Copy, Debug)]
pub struct KnownAccount {
    pub tenant: TenantId,
    pub user: UserId,
}

impl Store {
    /// Whether `attempt`'s source is locked out of its account, and whether
    /// it is one the account has signed in from.
    pub async fn sign_in_standing(&self, attempt: &AttemptSource) -> Result<SourceStanding> {
        let mut tx = self.unscoped_platform_tx().await?;
        let row: Option<(Option<DateTime<Utc>>, bool)> = sqlx::query_as(
            "SELECT CASE WHEN locked_until > now() THEN locked_until END,
                    coalesce(signed_in_at > now() - make_interval(days => $4), false)
             FROM sign_in_sources
             WHERE account = ditto_sign_in_account($1, $2) AND source = $3",
        )
        .bind(&attempt.tenant_slug)
        .bind(&attempt.email)
        .bind(&attempt.source)
        .bind(KNOWN_SOURCE_DAYS)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(row
            .map(|(locked_until, known)| SourceStanding {
                locked_until,
                known,
            })
            .unwrap_or_default())
    }

    /// Counts a failed sign-in of `attempt`'s source on its account, and
    /// locks the source out for `lockout_secs` when this is failure
    /// `max_failures` within that time. An existing `account` also has the
    /// failure counted and audited in its tenant. Returns when the lock
    /// ends, if this failure locked the source.
    pub async fn record_sign_in_failure(
        &self,
        attempt: &AttemptSource,
        account: Option<KnownAccount>,
        reason: &str,
        max_failures: u32,
        lockout_secs: i64,
    ) -> Result<Option<DateTime<Utc>>> {
        let mut tx = self.unscoped_platform_tx().await?;
        let lockout = lockout_secs as f64;
        let failures: i32 = sqlx::query_scalar(
            "INSERT INTO sign_in_sources AS s (account, source, tenant_id, failures,
                 window_started_at, expires_at)
             VALUES (ditto_sign_in_account($1, $2), $3,
                     (SELECT id FROM tenants WHERE slug = lower(btrim($1))), 1, now(),
                     now() + make_interval(secs => $4))
             ON CONFLICT (account, source) DO UPDATE SET
                 failures = CASE WHEN s.window_started_at < now() - make_interval(secs => $4)
                                 THEN 1 ELSE s.failures + 1 END,
                 window_started_at = CASE WHEN s.window_started_at < now() - make_interval(secs => $4)
                                          THEN now() ELSE s.window_started_at END,
                 expires_at = greatest(s.expires_at, now() + make_interval(secs => $4))
             RETURNING failures",
        )
        .bind(&attempt.tenant_slug)
        .bind(&attempt.email)
        .bind(&attempt.source)
        .bind(lockout)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        // Locks once the count is reached, unless a concurrent failure just
        // did (both on the database's clock).
        let newly_locked: Option<DateTime<Utc>> =
            if failures >= i32::try_from(max_failures).unwrap_or(i32::MAX) {
                sqlx::query_scalar(
                    "UPDATE sign_in_sources
                     SET locked_until = now() + make_interval(secs => $4), failures = 0,
                         expires_at = greatest(expires_at, now() + make_interval(secs => $4))
                     WHERE account = ditto_sign_in_account($1, $2) AND source = $3
                       AND (locked_until IS NULL OR locked_until <= now())
                     RETURNING locked_until",
                )
                .bind(&attempt.tenant_slug)
                .bind(&attempt.email)
                .bind(&attempt.source)
                .bind(lockout)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?
            } else {
                None
            };
        sqlx::query(
            "DELETE FROM sign_in_sources WHERE ctid = ANY(ARRAY(
                 SELECT ctid FROM sign_in_sources WHERE expires_at < now() LIMIT $1))",
        )
        .bind(PRUNE_BATCH)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if let Some(known) = account {
            count_account_failure(&mut tx, known, attempt, reason, newly_locked).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(newly_locked)
    }
}

/// The latest end of a lockout of any source on `user`'s account.
pub(crate) async fn latest_lockout(tx: &mut Tx, user: UserId) -> Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar(
        "SELECT max(s.locked_until) FROM sign_in_sources s
         JOIN users u ON u.id = $1
         JOIN tenants t ON t.id = u.tenant_id
         WHERE s.account = ditto_sign_in_account(t.slug, u.email) AND s.locked_until > now()",
    )
    .bind(user.0)
    .fetch_one(&mut **tx)
    .await
    .map_err(db)
}

/// Lifts every source's lockout of `user`'s account.
pub(crate) async fn lift_lockouts(tx: &mut Tx, user: UserId) -> Result<()> {
    sqlx::query(
        "UPDATE sign_in_sources s SET failures = 0, locked_until = NULL
         FROM users u JOIN tenants t ON t.id = u.tenant_id
         WHERE u.id = $1 AND s.account = ditto_sign_in_account(t.slug, u.email)",
    )
    .bind(user.0)
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    Ok(())
}

/// Remembers that `attempt`'s source signed in to its account: its failures
/// are forgotten and it counts as known from now on.
pub(crate) async fn record_source_sign_in(tx: &mut Tx, attempt: &AttemptSource) -> Result<()> {
    sqlx::query(
        "INSERT INTO sign_in_sources AS s (account, source, tenant_id, signed_in_at, expires_at)
         VALUES (ditto_sign_in_account($1, $2), $3,
                 (SELECT id FROM tenants WHERE slug = lower(btrim($1))), now(),
                 now() + make_interval(days => $4))
         ON CONFLICT (account, source) DO UPDATE SET
             failures = 0, locked_until = NULL, signed_in_at = now(),
             expires_at = greatest(s.expires_at, now() + make_interval(days => $4))",
    )
    .bind(&attempt.tenant_slug)
    .bind(&attempt.email)
    .bind(&attempt.source)
    .bind(KNOWN_SOURCE_DAYS)
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    Ok(())
}

/// Counts a failure on an existing account and records it, and the lockout
/// it caused, in the account's tenant.
async fn count_account_failure(
    tx: &mut Tx,
    known: KnownAccount,
    attempt: &AttemptSource,
    reason: &str,
    newly_locked: Option<DateTime<Utc>>,
) -> Result<()> {
    let failed: i32 = sqlx::query_scalar(
        "INSERT INTO user_credentials (tenant_id, user_id, failed_attempts)
         VALUES ($1, $2, 1)
         ON CONFLICT (tenant_id, user_id) DO UPDATE SET
             failed_attempts = user_credentials.failed_attempts + 1, updated_at = now()
         RETURNING failed_attempts",
    )
    .bind(known.tenant.0)
    .bind(known.user.0)
    .fetch_one(&mut **tx)
    .await
    .map_err(db)?;
    let change = Change::new("auth.sign_in_failed", "user")
        .target(known.user)
        .after(Some(json!({
            "reason": reason, "failed_attempts": failed, "source": attempt.source,
        })));
    audit::append(tx, Some(known.tenant.0), None, change).await?;
    if let Some(until) = newly_locked {
        let change = Change::new("auth.locked", "user")
            .target(known.user)
            .after(Some(
                json!({ "locked_until": until, "source": attempt.source }),
            ));
        audit::append(tx, Some(known.tenant.0), None, change).await?;
    }
    Ok(())
}
