//! Active health checks: every backend is probed with `GET {base}/models`
//! (the provider's own model list for Anthropic and Gemini backends) on an
//! interval, so a dead backend's breaker opens before users pay for it, and
//! a recovered one closes without waiting for a user's probe.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::http::{HeaderMap, Method, Uri};
use bytes::Bytes;

use futures_util::StreamExt;

use crate::backend::Backend;
use crate::snapshot::Snapshot;

/// Probes in flight at once, so thousands of backends do not mean
/// thousands of simultaneous connections.
const PARALLEL_PROBES: usize = 16;

/// Probes every backend in the snapshot every `interval`, until dropped.
pub async fn run(snapshot: Arc<ArcSwap<Snapshot>>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let backends: Vec<Arc<Backend>> = snapshot.load().backends().cloned().collect();
        futures_util::stream::iter(backends)
            .map(|backend| async move {
                let healthy = probe(&backend).await;
                backend
                    .runtime
                    .breaker()
                    .record_probe(&backend.name, healthy);
            })
            .buffer_unordered(PARALLEL_PROBES)
            .collect::<()>()
            .await;
    }
}

async fn probe(backend: &Backend) -> bool {
    if backend.credential_error.is_some() {
        return false;
    }
    let mut headers = HeaderMap::new();
    let uri = match backend.adapter {
        Some(adapter) => {
            adapter.fixed_headers(&mut headers);
            backend
                .base
                .as_ref()
                .and_then(|base| Uri::try_from(adapter.health_url(base).as_str()).ok())
        }
        None => backend.uri("models", None),
    };
    let Some(uri) = uri else {
        return false;
    };
    if let Some((name, value)) = &backend.credential {
        headers.insert(name.clone(), value.clone());
    }
    let timeout = backend.timeout.min(Duration::from_secs(5));
    let sent = backend
        .runtime
        .client
        .send(Method::GET, uri, headers, Bytes::new());
    match tokio::time::timeout(timeout, sent).await {
        // Reachable and not failing: a 4xx (e.g. no /models) still means the server is up.
        Ok(Ok(response)) => !response.status().is_server_error(),
        _ => false,
    }
}
