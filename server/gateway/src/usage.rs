//! Usage events leave the request path through a bounded queue and are
//! written in batches. A full queue applies backpressure instead of dropping;
//! a failing database is retried with the batch kept (spooling to disk comes
//! with the usage ledger).

use std::time::Duration;

use ditto_store::gateway::UsageEvent;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use ditto_store::{DbConfig, Store};

use crate::metrics::Metrics;
use tokio::sync::mpsc;

const BATCH: usize = 1000;
// Fewer, larger transactions: each commit costs Postgres a WAL flush.
const LINGER: Duration = Duration::from_millis(200);

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
/// sink the request path uses.
pub fn start(store: &Store, capacity: usize, metrics: Arc<Metrics>) -> (UsageSink, UsageWriter) {
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
                    ..DbConfig::default()
                };
                let store = Store::connect_lazy(options, &config);
                run(store.clone(), rx, &metrics).await;
                store.pool().close().await;
            });
        })
        .expect("spawn the usage writer thread");
    (UsageSink { tx }, UsageWriter { thread })
}

impl UsageWriter {
    /// Writes everything queued, once every sink is dropped.
    pub async fn finish(self) {
        let _ = tokio::task::spawn_blocking(move || self.thread.join()).await;
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<UsageEvent>, metrics: &Metrics) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let Some(first) = rx.recv().await else { break };
        batch.push(first);
        // Sleep instead of waiting on the queue: a waiting receiver makes every
        // send wake this thread, a cross-thread syscall per request on the
        // request path. Asleep, sends just enqueue.
        tokio::time::sleep(LINGER).await;
        loop {
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(event) => batch.push(event),
                    Err(_) => break,
                }
            }
            let full = batch.len() == BATCH;
            write(&store, &mut batch, metrics).await;
            if !full {
                break;
            }
        }
    }
    write(&store, &mut batch, metrics).await;
}

/// Writes a batch, retrying until the database takes it.
async fn write(store: &Store, batch: &mut Vec<UsageEvent>, metrics: &Metrics) {
    let mut delay = Duration::from_millis(100);
    while !batch.is_empty() {
        match store.insert_usage(batch).await {
            Ok(()) => {
                metrics
                    .usage_written
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                batch.clear();
            }
            Err(e) => {
                metrics.usage_write_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, events = batch.len(), "writing usage failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}
