//! Usage events leave the request path through a bounded queue and are
//! written in batches. Nothing is dropped: a full queue applies backpressure,
//! and a batch the database refuses is spooled to local disk and replayed,
//! oldest first, once the database answers again (also after a restart).
//! Writes are idempotent by request id, so a replay never counts twice.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ditto_store::gateway::UsageEvent;
use ditto_store::{DbConfig, Store};
use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::spool::Spool;

const BATCH: usize = 1000;
// Fewer, larger transactions: each commit costs Postgres a WAL flush.
const LINGER: Duration = Duration::from_millis(200);
/// How often spooled batches are retried while the database is away.
const REPLAY_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct UsageSink {
    tx: mpsc::Sender<UsageEvent>,
}

pub struct UsageWriter {
    thread: std::thread::JoinHandle<()>,
}

impl UsageSink {
    /// Free slots in the queue.
    pub fn free(&self) -> usize {
        self.tx.capacity()
    }

    /// Queues an event. Never drops it: when the queue is full, a task waits
    /// for room instead of the request.
    pub fn record(&self, event: UsageEvent) {
        if let Err(mpsc::error::TrySendError::Full(event)) = self.tx.try_send(event) {
            let tx = self.tx.clone();
            tokio::spawn(async move {
                if tx.send(event).await.is_err() {
                    tracing::error!("usage writer stopped before an event could be queued");
                }
            });
        }
    }
}

/// Starts the writer on a thread of its own, with its own small pool, so
/// encoding and sending batches never stalls a request worker; returns the
/// sink the request path uses. `spool`: where batches wait while the
/// database is unreachable (`None`: they wait in memory).
pub fn start(
    store: &Store,
    capacity: usize,
    spool: Option<PathBuf>,
    metrics: Arc<Metrics>,
) -> (UsageSink, UsageWriter) {
    let (tx, rx) = mpsc::channel(capacity);
    let options = (*store.pool().connect_options()).clone();
    let thread = std::thread::Builder::new()
        .name("ditto-usage".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("usage writer runtime");
            runtime.block_on(async move {
                let config = DbConfig {
                    max_connections: 2,
                    acquire_timeout: Duration::from_secs(3),
                };
                let store = Store::connect_lazy(options, &config);
                let mut writer = Writer {
                    store: store.clone(),
                    spool: spool.map(|dir| Spool::open(dir, "usage")),
                    metrics,
                };
                writer.run(rx).await;
                store.pool().close().await;
            });
        })
        .expect("spawn the usage writer thread");
    (UsageSink { tx }, UsageWriter { thread })
}

impl UsageWriter {
    /// Writes (or spools) everything queued, once every sink is dropped.
    pub async fn finish(self) {
        let _ = tokio::task::spawn_blocking(move || self.thread.join()).await;
    }
}

struct Writer {
    store: Store,
    spool: Option<Spool<UsageEvent>>,
    metrics: Arc<Metrics>,
}

impl Writer {
    async fn run(&mut self, mut rx: mpsc::Receiver<UsageEvent>) {
        let mut batch = Vec::with_capacity(BATCH);
        self.replay().await;
        loop {
            let first = if self.spooled() {
                match tokio::time::timeout(REPLAY_EVERY, rx.recv()).await {
                    Ok(first) => first,
                    Err(_) => {
                        self.replay().await;
                        continue;
                    }
                }
            } else {
                rx.recv().await
            };
            let Some(first) = first else { break };
            batch.push(first);
            // Sleep instead of waiting on the queue: a waiting receiver makes
            // every send wake this thread, a cross-thread syscall per request
            // on the request path. Asleep, sends just enqueue.
            tokio::time::sleep(LINGER).await;
            loop {
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(event) => batch.push(event),
                        Err(_) => break,
                    }
                }
                let full = batch.len() == BATCH;
                self.write(&mut batch).await;
                if !full {
                    break;
                }
            }
            if self.spooled() {
                self.replay().await;
            }
        }
        // Shutting down: one try, then to disk rather than waiting for a
        // database that may not come back before we are killed.
        self.write(&mut batch).await;
        self.replay().await;
    }

    fn spooled(&self) -> bool {
        self.spool.as_ref().is_some_and(|s| s.pending > 0)
    }

    /// Writes a batch, or spools it when the database refuses it (or when
    /// older batches are spooled, to keep their order). Without a spool,
    /// retries until the database takes it.
    async fn write(&mut self, batch: &mut Vec<UsageEvent>) {
        let mut delay = Duration::from_millis(100);
        while !batch.is_empty() {
            let refused = if self.spooled() {
                None
            } else {
                match self.store.insert_usage(batch).await {
                    Ok(()) => {
                        self.metrics
                            .usage_written
                            .fetch_add(batch.len() as u64, Ordering::Relaxed);
                        batch.clear();
                        return;
                    }
                    Err(e) => {
                        self.metrics
                            .usage_write_failures
                            .fetch_add(1, Ordering::Relaxed);
                        Some(e)
                    }
                }
            };
            if let Some(spool) = &mut self.spool {
                match spool.push(batch) {
                    Ok(()) => {
                        self.metrics
                            .usage_spooled
                            .fetch_add(batch.len() as u64, Ordering::Relaxed);
                        if let Some(e) = refused {
                            tracing::warn!(error = %e, events = batch.len(), "usage spooled to disk until the database answers");
                        }
                        batch.clear();
                        return;
                    }
                    Err(io) => {
                        tracing::error!(error = %io, "cannot spool usage to disk; keeping it in memory")
                    }
                }
            } else if let Some(e) = &refused {
                tracing::warn!(error = %e, events = batch.len(), "writing usage failed; retrying");
            }
            if refused.is_none() {
                // The spool cannot take more: drain it, so the database is tried again.
                self.replay().await;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    /// Writes spooled batches, oldest first, until one fails.
    async fn replay(&mut self) {
        let Some(spool) = &mut self.spool else { return };
        while let Some((path, events)) = spool.oldest() {
            if let Err(e) = self.store.insert_usage(&events).await {
                tracing::debug!(error = %e, "the database still refuses spooled usage");
                return;
            }
            self.metrics
                .usage_written
                .fetch_add(events.len() as u64, Ordering::Relaxed);
            // Deleted only once written: a crash in between replays the
            // file, and the request ids keep the replay from counting twice.
            spool.remove(&path);
            tracing::info!(events = events.len(), "spooled usage written");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> UsageEvent {
        UsageEvent {
            request_id: uuid::Uuid::now_v7(),
            tenant_id: uuid::Uuid::now_v7(),
            project_id: uuid::Uuid::now_v7(),
            key_id: uuid::Uuid::now_v7(),
            user_id: None,
            service_account_id: None,
            endpoint: "chat/completions".into(),
            model: Some("m\n\"x\"".into()),
            backend_id: None,
            status: 200,
            attempts: 1,
            streamed: true,
            prompt_tokens: 1,
            completion_tokens: 2,
            cached_tokens: 0,
            latency_ms: 3,
            ttfb_ms: None,
            error_kind: None,
            cost_pico: 42,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn spooled_batches_come_back_in_order_and_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::<UsageEvent>::open(dir.path().join("spool"), "usage");
        let first = vec![event(), event()];
        let second = vec![event()];
        spool.push(&first).unwrap();
        spool.push(&second).unwrap();
        std::fs::write(dir.path().join("spool/zzz.jsonl.partial"), "{half").unwrap();
        // A reopened spool (a restart) finds both batches.
        let mut spool = Spool::<UsageEvent>::open(dir.path().join("spool"), "usage");
        assert_eq!(spool.pending, 2);
        let (path, events) = spool.oldest().unwrap();
        assert_eq!(
            events.iter().map(|e| e.request_id).collect::<Vec<_>>(),
            first.iter().map(|e| e.request_id).collect::<Vec<_>>()
        );
        spool.remove(&path);
        let (path, events) = spool.oldest().unwrap();
        assert_eq!(events[0].request_id, second[0].request_id);
        assert_eq!(events[0].cost_pico, 42);
        spool.remove(&path);
        assert!(spool.oldest().is_none());
        assert_eq!(spool.pending, 0);
    }

    #[test]
    fn an_unreadable_file_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("0001.jsonl"), "not json\n").unwrap();
        let mut spool = Spool::<UsageEvent>::open(dir.path().to_owned(), "usage");
        assert!(spool.oldest().is_none());
        assert!(dir.path().join("0001.bad").exists());
    }
}
