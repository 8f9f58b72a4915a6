//! Usage events leave the request path through a bounded queue and are
//! written in batches. A full queue applies backpressure instead of dropping;
//! a failing database is retried with the batch kept (spooling to disk comes
//! with the usage ledger).

use std::time::Duration;

use ditto_store::Store;
use ditto_store::gateway::UsageEvent;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const BATCH: usize = 500;
const LINGER: Duration = Duration::from_millis(200);

#[derive(Clone)]
pub struct UsageSink {
    tx: mpsc::Sender<UsageEvent>,
}

pub struct UsageWriter {
    task: JoinHandle<()>,
}

impl UsageSink {
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

/// Starts the writer; returns the sink the request path uses.
pub fn start(store: Store, capacity: usize) -> (UsageSink, UsageWriter) {
    let (tx, rx) = mpsc::channel(capacity);
    let task = tokio::spawn(run(store, rx));
    (UsageSink { tx }, UsageWriter { task })
}

impl UsageWriter {
    /// Writes everything queued, once every sink is dropped.
    pub async fn finish(self) {
        let _ = self.task.await;
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<UsageEvent>) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let Some(first) = rx.recv().await else { break };
        batch.push(first);
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(event)) => batch.push(event),
                Ok(None) | Err(_) => break,
            }
        }
        write(&store, &mut batch).await;
    }
    write(&store, &mut batch).await;
}

/// Writes a batch, retrying until the database takes it.
async fn write(store: &Store, batch: &mut Vec<UsageEvent>) {
    let mut delay = Duration::from_millis(100);
    while !batch.is_empty() {
        match store.insert_usage(batch).await {
            Ok(()) => batch.clear(),
            Err(e) => {
                tracing::warn!(error = %e, events = batch.len(), "writing usage failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}
