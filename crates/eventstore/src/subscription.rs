//! Subscriptions: catch up from a checkpoint in pages, then follow new appends, pulled by the
//! consumer one event at a time.

use std::collections::VecDeque;
use std::time::Duration;

use crate::{EventStore, GlobalPosition, RecordedEvent, StoreError, TenantId};

/// How soon a held subscription looks again.
const HELD_RECHECK: Duration = Duration::from_millis(25);

/// How a [`Subscription`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionOptions {
    /// Events fetched per read; also the most a subscription holds in memory.
    pub page_size: usize,
    /// How long to wait for a wake-up hint before polling anyway.
    pub poll_interval: Duration,
}

impl Default for SubscriptionOptions {
    fn default() -> Self {
        Self {
            page_size: 500,
            poll_interval: Duration::from_millis(100),
        }
    }
}

/// Where a subscription stands, as of its last read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionStatus {
    /// Reading history: the last read returned a full page.
    CatchingUp,
    /// Caught up: the last read returned everything there was.
    Live,
    /// Caught up with what can be delivered, while committed events wait behind an open
    /// transaction with this id (not ordinary lag: nothing moves until that transaction ends).
    HeldBy {
        /// The oldest open transaction's id.
        transaction: u64,
    },
}

/// A pull-based subscription to one tenant's events in global order.
///
/// Back-pressure is built in: nothing is read until the consumer asks, and at most one page is
/// held in memory. [`next`](Self::next) is cancel-safe: dropping its future (for example in a
/// `select!` or a timeout) loses nothing.
#[derive(Debug)]
pub struct Subscription<S> {
    store: S,
    tenant: TenantId,
    checkpoint: GlobalPosition,
    read_through: GlobalPosition,
    buffer: VecDeque<RecordedEvent>,
    options: SubscriptionOptions,
    signal: tokio::sync::watch::Receiver<u64>,
    status: SubscriptionStatus,
}

impl<S: EventStore> Subscription<S> {
    pub(crate) fn new(
        store: S,
        tenant: TenantId,
        from: GlobalPosition,
        options: SubscriptionOptions,
    ) -> Self {
        let signal = store.append_signal();
        Self {
            store,
            tenant,
            checkpoint: from,
            read_through: from,
            buffer: VecDeque::new(),
            options: SubscriptionOptions {
                page_size: options.page_size.max(1),
                ..options
            },
            signal,
            status: SubscriptionStatus::CatchingUp,
        }
    }

    /// The next event, waiting for one to be appended if need be.
    ///
    /// A read error is returned as is and leaves the subscription where it was: calling `next`
    /// again retries.
    pub async fn next(&mut self) -> Result<RecordedEvent, StoreError> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                self.checkpoint = event.position;
                return Ok(event);
            }
            // Marked seen before reading, so an append landing during the read still wakes us.
            self.signal.borrow_and_update();
            let page = self
                .store
                .read_all(&self.tenant, self.read_through, self.options.page_size)
                .await?;
            let full = page.events.len() >= self.options.page_size;
            self.read_through = page.next;
            if !page.events.is_empty() {
                self.status = if full {
                    SubscriptionStatus::CatchingUp
                } else {
                    SubscriptionStatus::Live
                };
                self.buffer.extend(page.events);
                continue;
            }
            self.status = page
                .held_by
                .map_or(SubscriptionStatus::Live, |transaction| {
                    SubscriptionStatus::HeldBy { transaction }
                });
            // Either a hint or the poll interval ends the wait; both just mean "read again".
            // Held events are released by a transaction ending, which sends no hint: look
            // again soon rather than after a whole poll interval.
            let wait = match self.status {
                SubscriptionStatus::HeldBy { .. } => self.options.poll_interval.min(HELD_RECHECK),
                SubscriptionStatus::CatchingUp | SubscriptionStatus::Live => {
                    self.options.poll_interval
                }
            };
            if let Ok(Err(_)) = tokio::time::timeout(wait, self.signal.changed()).await {
                // The hint's sender is gone: polling alone still works.
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// The position of the last event handed out (the checkpoint to save once it is
    /// processed), or the starting checkpoint.
    pub fn checkpoint(&self) -> GlobalPosition {
        self.checkpoint
    }

    /// Where the subscription stood at its last read.
    pub fn status(&self) -> SubscriptionStatus {
        self.status
    }

    /// The tenant subscribed to.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }
}
