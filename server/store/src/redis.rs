//! The Redis connection shared by the replicas' global state (rate limits,
//! budgets, change notifications). Connects on first use, so a replica starts
//! and reports "not ready" while Redis is down.

use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    connection: std::sync::Arc<OnceCell<ConnectionManager>>,
}

const PING_TIMEOUT: Duration = Duration::from_secs(2);

impl Redis {
    pub fn open(url: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("invalid Redis URL: {e}"))?;
        Ok(Self {
            client,
            connection: Default::default(),
        })
    }

    pub async fn connection(&self) -> Result<ConnectionManager, String> {
        self.connection
            .get_or_try_init(|| async {
                tokio::time::timeout(PING_TIMEOUT, ConnectionManager::new(self.client.clone()))
                    .await
                    .map_err(|_| "timed out connecting to Redis".to_owned())?
                    .map_err(|e| format!("cannot connect to Redis: {e}"))
            })
            .await
            .cloned()
    }

    /// Whether Redis answers a PING in time.
    pub async fn readiness(&self) -> Result<(), String> {
        let mut conn = self.connection().await?;
        let pong: String =
            tokio::time::timeout(PING_TIMEOUT, redis::cmd("PING").query_async(&mut conn))
                .await
                .map_err(|_| "Redis did not answer PING in time".to_owned())?
                .map_err(|e| format!("Redis PING failed: {e}"))?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(format!("Redis answered PING with {pong:?}"))
        }
    }
}
