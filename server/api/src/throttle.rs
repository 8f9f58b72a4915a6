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
