//! Permission denied as a security event. A refusal by the authorization
//! seam is recorded (who, which permission, which operation, the request's
//! id and origin) in the chain of the tenant the caller tried to act in;
//! a platform-wide operation refused to a tenant member goes to the
//! member's own tenant, one refused to a platform principal to the
//! platform chain. At most once a minute for the same actor, chain and
//! permission on this replica: a flood of refused requests cannot fill the
//! chain. The next recorded refusal says how many were left out before it.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use ditto_core::{Actor, Ctx, Permission};
use ditto_types::TenantId;

use crate::AppState;

/// One recorded refusal per key per window.
const WINDOW: Duration = Duration::from_secs(60);

/// Keys kept at most; past it, expired ones are dropped first.
const MAX_KEYS: usize = 10_000;

/// `None`: the platform chain.
type Key = (Actor, Option<TenantId>, Permission);

struct Entry {
    recorded_at: Instant,
    suppressed: u64,
}

/// Decides which refusals are recorded.
#[derive(Default)]
pub(crate) struct Limiter {
    entries: Mutex<HashMap<Key, Entry>>,
}

impl Limiter {
    /// `Some(n)`: record this refusal, `n` others of its key having been
    /// left out since the last recorded one; `None`: leave it out.
    fn admit(&self, key: Key, now: Instant) -> Option<u64> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = entries.get_mut(&key) {
            if now.duration_since(e.recorded_at) < WINDOW {
                e.suppressed += 1;
                return None;
            }
            let suppressed = e.suppressed;
            *e = Entry {
                recorded_at: now,
                suppressed: 0,
            };
            return Some(suppressed);
        }
        if entries.len() >= MAX_KEYS {
            entries.retain(|_, e| now.duration_since(e.recorded_at) < WINDOW);
            if entries.len() >= MAX_KEYS {
                // Still full of live keys: a flood across many keys. The
                // refusal itself still stands; only its record is left out.
                return None;
            }
        }
        entries.insert(
            key,
            Entry {
                recorded_at: now,
                suppressed: 0,
            },
        );
        Some(0)
    }
}

/// This process's limiter (each replica limits its own records).
fn limiter() -> &'static Limiter {
    static LIMITER: OnceLock<Limiter> = OnceLock::new();
    LIMITER.get_or_init(Limiter::default)
}

/// Records that `ctx` was refused `permission` in `tenant` (`None`: the
/// platform chain), unless the limiter leaves it out. A failure to record is logged; the refusal
/// stands either way.
pub(crate) async fn record(
    app: &AppState,
    ctx: &Ctx,
    tenant: Option<TenantId>,
    permission: Permission,
    reason: &str,
) {
    let actor = ctx.principal.actor;
    let Some(suppressed) = limiter().admit((actor, tenant, permission), Instant::now()) else {
        return;
    };
    if let Err(e) = app
        .store
        .record_permission_denied(tenant, actor, permission.as_str(), reason, suppressed)
        .await
    {
        tracing::warn!(error = %e, permission = %permission, "could not record a permission denial");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ditto_types::ServiceAccountId;

    #[test]
    fn one_refusal_a_minute_per_key_is_recorded_and_the_rest_counted() {
        let l = Limiter::default();
        let actor = Actor::ServiceAccount(ServiceAccountId::new());
        let tenant = Some(TenantId::new());
        let key = (actor, tenant, Permission::BudgetsWrite);
        let t0 = Instant::now();
        assert_eq!(l.admit(key, t0), Some(0));
        for i in 1..=5 {
            assert_eq!(l.admit(key, t0 + Duration::from_secs(i)), None);
        }
        // Another permission is another key.
        assert_eq!(l.admit((actor, tenant, Permission::KeysWrite), t0), Some(0));
        assert_eq!(l.admit(key, t0 + WINDOW), Some(5));
        assert_eq!(l.admit(key, t0 + WINDOW + Duration::from_secs(1)), None);
    }
}
