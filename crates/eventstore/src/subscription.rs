//! Subscriptions: catch up from a checkpoint in pages, then follow new appends, pulled by the
//! consumer one event at a time.

use std::collections::VecDeque;
use std::time::Duration;

use crate::{
    EventStore, GlobalPosition, PageEntry, RecordedEvent, StoreError, TenantId, UnreadableEvent,
};

/// How many passed-over unreadable events a subscription keeps for its consumer to take.
const KEPT_UNREADABLE: usize = 1_000;

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
    buffer: VecDeque<PageEntry>,
    unreadable: Vec<UnreadableEvent>,
    unreadable_total: u64,
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
            unreadable: Vec::new(),
            unreadable_total: 0,
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
    /// again retries. A stored event that cannot be decoded is passed over, never returned and
    /// never allowed to stall the subscription: it is kept for
    /// [`take_unreadable`](Self::take_unreadable) and counted by
    /// [`unreadable_total`](Self::unreadable_total).
    pub async fn next(&mut self) -> Result<RecordedEvent, StoreError> {
        loop {
            while let Some(entry) = self.buffer.pop_front() {
                match entry {
                    PageEntry::Event(event) => {
                        self.checkpoint = event.position;
                        return Ok(event);
                    }
                    PageEntry::Unreadable(event) => {
                        self.checkpoint = event.position;
                        self.unreadable_total += 1;
                        if self.unreadable.len() < KEPT_UNREADABLE {
                            self.unreadable.push(event);
                        }
                    }
                }
            }
            // Marked seen before reading, so an append landing during the read still wakes us.
            self.signal.borrow_and_update();
            let page = self
                .store
                .read_all(&self.tenant, self.read_through, self.options.page_size)
                .await?;
            let full = page.len() >= self.options.page_size;
            self.read_through = page.next;
            if !page.is_empty() {
                self.status = if full {
                    SubscriptionStatus::CatchingUp
                } else {
                    SubscriptionStatus::Live
                };
                self.buffer.extend(page.into_entries());
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

    /// The unreadable events passed over since the last call (the first
    /// 1,000 of them; [`unreadable_total`](Self::unreadable_total) counts all), for the
    /// consumer to report or park.
    pub fn take_unreadable(&mut self) -> Vec<UnreadableEvent> {
        std::mem::take(&mut self.unreadable)
    }

    /// How many unreadable events this subscription has passed over in all.
    pub fn unreadable_total(&self) -> u64 {
        self.unreadable_total
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
