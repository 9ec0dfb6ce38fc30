//! The relay: claims a tenant's due messages, delivers them, records what came of it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use crm_eventstore::TenantId;
use futures_util::future::join_all;
use tracing::Instrument;
use uuid::Uuid;

use super::backoff::retry_delay;
use super::{Delivery, OutboxHealth, Transport};
use crate::clock::Clock;
use crate::uow::{OutboxEntry, UnitOfWork, WorkError};

/// How an [`OutboxRelay`] paces itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelaySettings {
    /// At most this many messages per pass, delivered concurrently (default 32).
    pub batch_size: usize,
    /// How long a claimed message stays the claimer's: no other relay takes it before
    /// (default 60 s). Each delivery is cut at the lease (see `delivery_timeout`), so a
    /// delivery does not outlive its claim by more than the time to record its outcome.
    pub lease: Duration,
    /// How long one delivery may take before it counts as a transient failure (default
    /// 30 s); the lease bounds it too.
    pub delivery_timeout: Duration,
    /// The first retry's backoff ceiling; each further attempt doubles it (default 1 s).
    pub backoff_base: Duration,
    /// The longest wait before a retry, whatever the attempt or the receiver's
    /// `Retry-After` (default 15 min).
    pub backoff_cap: Duration,
    /// The attempts after which a still failing message is parked (default 20; at least 1
    /// is always made).
    pub max_attempts: u32,
    /// How long [`OutboxRelay::run`] waits between passes that found less than a full batch
    /// (default 1 s).
    pub poll_interval: Duration,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            batch_size: 32,
            lease: Duration::from_mins(1),
            delivery_timeout: Duration::from_secs(30),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_mins(15),
            max_attempts: 20,
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// What one pass of the relay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayReport {
    /// Messages claimed (each attempted once).
    pub claimed: usize,
    /// Delivered and recorded as such.
    pub delivered: usize,
    /// Failed for now; due again after their backoff.
    pub retried: usize,
    /// Refused for good, or out of attempts: parked.
    pub parked: usize,
    /// Attempted, but the outcome could not be recorded (the database failed): the message is
    /// attempted again when its lease ends, so a delivered one is delivered twice.
    pub unrecorded: usize,
}

/// What became of one claimed message.
enum Outcome {
    /// Delivered; recorded with the pass's other deliveries.
    Delivered(Uuid),
    Retried,
    Parked,
    Unrecorded,
}

/// Delivers one tenant's outbox through a [`Transport`].
///
/// **At least once**: a message is marked delivered only after the transport reports it
/// delivered, so a crash, a lost answer or a failed write of the outcome leads to another
/// delivery (after the claim's lease), never to a lost message. Every attempt carries the
/// message's idempotency key; receivers dedupe on it for an effect exactly once. Two relays on
/// one tenant share the work: a claim leases each message to one of them (on PostgreSQL with
/// `FOR UPDATE SKIP LOCKED`), so within a lease no message is delivered by both.
///
/// Failures are retried with exponential backoff and full jitter, or after the receiver's
/// `Retry-After` (both bounded by [`RelaySettings::backoff_cap`]); a refusal for good, or the
/// last of [`RelaySettings::max_attempts`], parks the message (see [`OutboxHealth::parked`]).
pub struct OutboxRelay<U, T> {
    work: U,
    transport: T,
    tenant: TenantId,
    clock: Arc<dyn Clock>,
    settings: RelaySettings,
}

impl<U, T> fmt::Debug for OutboxRelay<U, T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("OutboxRelay")
            .field("tenant", &self.tenant)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

fn later(at: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    at.checked_add_signed(delta(by))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl<U: UnitOfWork, T: Transport> OutboxRelay<U, T> {
    /// A relay of `tenant`'s outbox in `work` through `transport`, reading time from `clock`,
    /// with [`RelaySettings::default`].
    pub fn new(work: U, transport: T, tenant: TenantId, clock: Arc<dyn Clock>) -> Self {
        Self {
            work,
            transport,
            tenant,
            clock,
            settings: RelaySettings::default(),
        }
    }

    /// The same relay with `settings`.
    #[must_use]
    pub fn with_settings(mut self, settings: RelaySettings) -> Self {
        self.settings = settings;
        self
    }

    /// Its settings.
    pub fn settings(&self) -> &RelaySettings {
        &self.settings
    }

    /// The tenant it relays for.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The transport (for tests that count what it sent).
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// How the tenant's outbox stands at `now` (see [`UnitOfWork::outbox_health`]).
    pub async fn health(&self, now: DateTime<Utc>) -> Result<OutboxHealth, WorkError> {
        self.work.outbox_health(&self.tenant, now).await
    }

    /// One pass: claims up to a batch of messages due at `now`, delivers them concurrently
    /// and records each outcome (stamped with the clock's time after the delivery, never
    /// earlier than `now`).
    ///
    /// Fails only when the claim fails (nothing was attempted then); a failure to record one
    /// outcome is logged and counted in [`RelayReport::unrecorded`].
    pub async fn relay_once(&self, now: DateTime<Utc>) -> Result<RelayReport, WorkError> {
        let span = tracing::info_span!(
            "outbox_relay",
            tenant = %self.tenant,
            claimed = tracing::field::Empty,
            delivered = tracing::field::Empty,
        );
        async {
            let claimed = self
                .work
                .claim_outbox(
                    &self.tenant,
                    now,
                    delta(self.settings.lease),
                    self.settings.batch_size,
                )
                .await?;
            let outcomes = join_all(claimed.iter().map(|entry| self.attempt(entry, now))).await;
            let mut report = RelayReport {
                claimed: claimed.len(),
                ..RelayReport::default()
            };
            let mut delivered = Vec::new();
            for outcome in outcomes {
                match outcome {
                    Outcome::Delivered(id) => delivered.push(id),
                    Outcome::Retried => report.retried += 1,
                    Outcome::Parked => report.parked += 1,
                    Outcome::Unrecorded => report.unrecorded += 1,
                }
            }
            // One write for the pass's deliveries. Should it fail, each is delivered again
            // when its lease ends, under its idempotency key.
            let at = self.clock.now().max(now);
            match self
                .work
                .outbox_delivered_all(&self.tenant, &delivered, at)
                .await
            {
                Ok(()) => report.delivered += delivered.len(),
                Err(error) => {
                    tracing::warn!(%error, count = delivered.len(), "outbox deliveries not recorded");
                    report.unrecorded += delivered.len();
                }
            }
            let span = tracing::Span::current();
            span.record("claimed", report.claimed);
            span.record("delivered", report.delivered);
            if report.claimed > 0 {
                tracing::debug!(?report, "outbox pass");
            }
            Ok(report)
        }
        .instrument(span)
        .await
    }

    /// Passes until `stop` turns true (or its sender is dropped): right away after a full
    /// batch (more may be due), otherwise after [`RelaySettings::poll_interval`]. A failed
    /// claim is logged and tried again at the next poll.
    pub async fn run(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        while !*stop.borrow() {
            let pause = match self.relay_once(self.clock.now()).await {
                Ok(report) if report.claimed >= self.settings.batch_size.max(1) => None,
                Ok(_) => Some(self.settings.poll_interval),
                Err(error) => {
                    tracing::warn!(tenant = %self.tenant, %error, "outbox claim failed");
                    Some(self.settings.poll_interval)
                }
            };
            if let Some(pause) = pause {
                tokio::select! {
                    changed = stop.changed() => if changed.is_err() { return },
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
    }

    /// Delivers one claimed message and records what came of it.
    async fn attempt(&self, entry: &OutboxEntry, now: DateTime<Utc>) -> Outcome {
        let message = &entry.message;
        let limit = self.settings.delivery_timeout.min(self.settings.lease);
        let delivery =
            tokio::time::timeout(limit, self.transport.deliver(&message.destination, message))
                .await
                .unwrap_or_else(|_| Delivery::Retry {
                    after: None,
                    reason: format!("no outcome within {limit:?}"),
                });
        let at = self.clock.now().max(now);
        let attempt = entry.attempts.saturating_add(1);
        let (recorded, outcome) = match delivery {
            Delivery::Delivered => return Outcome::Delivered(message.id),
            Delivery::Rejected { reason } => {
                tracing::warn!(message = %message.id, %reason, "outbox message refused; parked");
                (
                    self.work
                        .outbox_parked(&self.tenant, message.id, &reason, at)
                        .await,
                    Outcome::Parked,
                )
            }
            Delivery::Retry { reason, .. } if attempt >= self.settings.max_attempts => {
                let reason = format!("gave up after {attempt} attempts: {reason}");
                tracing::warn!(message = %message.id, %reason, "outbox message parked");
                (
                    self.work
                        .outbox_parked(&self.tenant, message.id, &reason, at)
                        .await,
                    Outcome::Parked,
                )
            }
            Delivery::Retry { after, reason } => {
                let delay = retry_delay(
                    message.id,
                    attempt,
                    after,
                    self.settings.backoff_base,
                    self.settings.backoff_cap,
                );
                tracing::debug!(message = %message.id, %reason, ?delay, "outbox delivery failed");
                (
                    self.work
                        .outbox_failed(&self.tenant, message.id, &reason, later(at, delay))
                        .await,
                    Outcome::Retried,
                )
            }
        };
        match recorded {
            Ok(()) => outcome,
            Err(error) => {
                tracing::warn!(message = %message.id, %error, "outbox outcome not recorded");
                Outcome::Unrecorded
            }
        }
    }
}
