//! Budget settlements leave the request path: each waits, with its
//! request's usage event, for the next batch, which settles a tenant's
//! requests in one script call every few milliseconds. The event is
//! recorded only after its settlement was attempted, so a budget counter
//! rebuilt from the ledger in between never misses the request nor counts
//! it twice. If the call fails, the reservation stays for the reaper, which
//! settles it to the recorded event.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ditto_store::gateway::UsageEvent;

use super::Governor;
use super::charge::Settlement;
use super::counters::{Counters, Finish};

/// How long the first queued settlement waits for others to join its
/// batch: the most a budget's counter holds a finished request's
/// reservation instead of its actual usage (this replica's own next request
/// never sees it: a budget refusal settles the queue and looks again).
const GATHER: Duration = Duration::from_millis(5);
/// Requests per script call: one call holds Redis for ~3 µs per request.
const BATCH: usize = 128;

#[derive(Default)]
pub(super) struct Queue {
    queued: Mutex<Vec<(Settlement, UsageEvent)>>,
    /// Wakes the sender when the queue stops being empty: once per batch,
    /// not per request.
    filled: tokio::sync::Notify,
    /// Held while settlements are being sent: taken off the queue, they are
    /// not settled yet.
    sending: tokio::sync::Mutex<()>,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Settlement, UsageEvent)>> {
        self.queued.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Governor {
    /// Queues a request's budget settlement and then its usage event.
    pub fn settle_later(&self, settlement: Settlement, event: UsageEvent) {
        let mut queue = self.settlements.lock();
        queue.push((settlement, event));
        if queue.len() == 1 {
            self.settlements.filled.notify_one();
        }
    }

    /// Whether some of `tag`'s settlements are queued or being sent.
    pub(super) fn settlements_pending(&self, tag: &str) -> bool {
        self.settlements.sending.try_lock().is_err()
            || self.settlements.lock().iter().any(|(s, _)| s.tag == tag)
    }

    /// Sends queued settlements until the task is dropped.
    pub async fn keep_settling(self: Arc<Self>) {
        loop {
            self.settlements.filled.notified().await;
            tokio::time::sleep(GATHER).await;
            self.settle_queued(None).await;
        }
    }

    /// Sends the queued settlements (of one tenant's tag, or all), then
    /// records their events.
    pub async fn settle_queued(&self, only: Option<&str>) {
        let _sending = self.settlements.sending.lock().await;
        let queued: Vec<(Settlement, UsageEvent)> = {
            let mut queue = self.settlements.lock();
            match only {
                None => std::mem::take(&mut *queue),
                Some(tag) => {
                    let (mine, rest) = std::mem::take(&mut *queue)
                        .into_iter()
                        .partition(|(s, _)| s.tag == tag);
                    *queue = rest;
                    mine
                }
            }
        };
        if queued.is_empty() {
            return;
        }
        let usage = &self.usage;
        let Counters::Redis(redis) = &self.counters else {
            queued
                .into_iter()
                .for_each(|(_, event)| usage.record(event));
            return;
        };
        // One script call per tenant (its keys share a slot), in arrival order.
        let mut queued = queued;
        queued.sort_by(|a, b| a.0.tag.cmp(&b.0.tag));
        for settlements in queued.chunk_by(|a, b| a.0.tag == b.0.tag) {
            let tag = &settlements[0].0.tag;
            for chunk in settlements.chunks(BATCH) {
                let batch: Vec<Finish<'_>> = chunk
                    .iter()
                    .map(|(s, _)| Finish {
                        tag,
                        request_id: &s.request_id,
                        second: 0,
                        admitted_ms: s.admitted_ms,
                        ops: &s.ops,
                    })
                    .collect();
                self.metrics
                    .limits_store_calls
                    .fetch_add(1, Ordering::Relaxed);
                if let Err(e) = redis.finish(&batch).await {
                    self.metrics
                        .limits_store_errors
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, tenant = %tag, requests = chunk.len(),
                        "settling budgets failed; the reaper will settle the reservations");
                }
            }
        }
        for (_, event) in queued {
            usage.record(event);
        }
    }
}
