//! Fixed-window counters in Redis, shared by every replica, for throttling
//! public endpoints (home-realm discovery).

use crate::Redis;

impl Redis {
    /// Counts one hit on `key` (which names its window) and returns the
    /// count so far; the key expires once its window is long past.
    pub async fn hit(&self, key: &str, window_secs: u64) -> Result<u64, String> {
        let mut conn = self.connection().await?;
        let (count, _): (u64, bool) = redis::pipe()
            .atomic()
            .incr(key, 1u64)
            .expire(key, 2 * window_secs as i64)
            .query_async(&mut conn)
            .await
            .map_err(|e| format!("Redis INCR failed: {e}"))?;
        Ok(count)
    }
}
