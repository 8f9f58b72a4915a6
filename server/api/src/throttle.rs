//! Throttling of public endpoints per client address: in Redis when it is
//! configured (so every replica counts together), else in this process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::{problem, problem_response};

/// A fixed window: at most `limit` requests per `window` and client.
#[derive(Clone)]
pub(crate) struct Throttle {
    name: &'static str,
    limit: u64,
    window: Duration,
    redis: Option<ditto_store::Redis>,
    local: Arc<Mutex<HashMap<String, (Instant, u64)>>>,
}

/// Refused: too many requests; try again after this many seconds.
pub(crate) struct Throttled(u64);

impl IntoResponse for Throttled {
    fn into_response(self) -> Response {
        let mut response = problem_response(problem(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-requests",
            "Too many requests",
            Some(format!("slow down: try again in {} s", self.0)),
        ));
        if let Ok(v) = HeaderValue::from_str(&self.0.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

/// Clients the in-process counter remembers before it forgets old windows.
const MAX_LOCAL_CLIENTS: usize = 100_000;

impl Throttle {
    pub(crate) fn new(
        name: &'static str,
        limit: u64,
        window: Duration,
        redis: Option<ditto_store::Redis>,
    ) -> Self {
        Self {
            name,
            limit,
            window,
            redis,
            local: Default::default(),
        }
    }

    /// Counts a request from `client`; refuses it past the limit.
    pub(crate) async fn check(&self, client: &str) -> Result<(), Throttled> {
        let secs = self.window.as_secs().max(1);
        if let Some(redis) = &self.redis {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            let window = now / secs;
            let key = format!("ditto:throttle:{}:{client}:{window}", self.name);
            match redis.hit(&key, secs).await {
                Ok(count) if count > self.limit => {
                    return Err(Throttled(secs - now % secs));
                }
                Ok(_) => return Ok(()),
                // Redis down: count here rather than not at all.
                Err(e) => {
                    tracing::warn!(throttle = self.name, error = %e, "throttle falls back to this replica's counter")
                }
            }
        }
        let now = Instant::now();
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if local.len() >= MAX_LOCAL_CLIENTS {
            local.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let entry = local.entry(client.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 += 1;
        if entry.1 > self.limit {
            let left = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(Throttled(left.as_secs().max(1)));
        }
        Ok(())
    }
}

/// Sign-in attempts a client address may make per minute.
pub(crate) const SIGN_IN_PER_ADDRESS: u64 = 60;
/// Sign-in attempts per minute on one submitted account (tenant and email)
/// from addresses it has not signed in from: it bounds a distributed guess
/// at one password, and it answers the same whether the account exists or
/// not.
pub(crate) const SIGN_IN_PER_ACCOUNT: u64 = 20;
/// SSO and SAML sign-ins a client address may start per minute: each one is
/// a row in Postgres until it expires.
pub(crate) const SSO_STARTS_PER_ADDRESS: u64 = 30;
/// Sign-ins started per minute through one connection, from anywhere.
pub(crate) const SSO_STARTS_PER_CONNECTION: u64 = 600;

/// The throttles of the unauthenticated endpoints, shared by every request
/// of this server (and, through Redis, every replica).
#[derive(Clone)]
pub(crate) struct Throttles {
    pub(crate) discover: Throttle,
    pub(crate) sign_in_address: Throttle,
    pub(crate) sign_in_account: Throttle,
    pub(crate) sso_start_address: Throttle,
    pub(crate) sso_start_connection: Throttle,
}

impl Throttles {
    pub(crate) fn new(redis: Option<ditto_store::Redis>) -> Self {
        let minute = Duration::from_secs(60);
        let per_minute = |name, limit| Throttle::new(name, limit, minute, redis.clone());
        Self {
            discover: per_minute(
                "sso_discover",
                crate::routes::sso_discovery::DISCOVERY_PER_MINUTE,
            ),
            sign_in_address: per_minute("sign_in_ip", SIGN_IN_PER_ADDRESS),
            sign_in_account: per_minute("sign_in_account", SIGN_IN_PER_ACCOUNT),
            sso_start_address: per_minute("sso_start_ip", SSO_STARTS_PER_ADDRESS),
            sso_start_connection: per_minute("sso_start_connection", SSO_STARTS_PER_CONNECTION),
        }
    }

    /// Counts a sign-in attempt on (`tenant`, `email`) from a source the
    /// account does not know. The account is named by a digest: the
    /// throttle keys never hold an email.
    pub(crate) async fn sign_in_from_unknown_source(
        &self,
        tenant: &str,
        email: &str,
    ) -> Result<(), Throttled> {
        let account = format!(
            "{}\n{}",
            tenant.trim().to_lowercase(),
            email.trim().to_lowercase()
        );
        let digest: String = ditto_core::secrets::sha256(account.as_bytes())[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.sign_in_account.check(&digest).await
    }

    /// Counts a single sign-on start from `address` through `connection`.
    pub(crate) async fn sso_start(&self, address: &str, connection: &str) -> Result<(), Throttled> {
        self.sso_start_address.check(address).await?;
        self.sso_start_connection.check(connection).await
    }
}
