//! The alert hook of sync monitoring: when a connected system's messages pass a threshold
//! (too many pending, waiting too long, failing, parked), a `firing` alert goes to a webhook,
//! and a `resolved` one when they are back under it.
//!
//! Alerts travel through the outbox like every other message (destination
//! [`SYNC_ALERTS`] by default, routed to the webhook by the host configuration), so a
//! webhook that is down gets them later, each under its own idempotency key. Alerts about the
//! alert destination itself are never raised (a dead webhook cannot alert about itself).
//!
//! What is firing is kept in memory: a restarted `crm work` announces the alerts still firing
//! once more (with the time it noticed them), which a receiver may dedupe by `alert` (stable
//! per tenant, destination and measure).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use crm_eventstore::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{Mutex, watch};

use crate::clock::Clock;
use crate::ids::derive_id;
use crate::uow::{DestinationHealth, OutboxMessage, UnitOfWork, Work, WorkError};

/// The destination alerts are written to unless configured otherwise.
pub const SYNC_ALERTS: &str = "sync-alerts";

/// The namespace alert message ids are derived in.
const ALERT_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x0193_b3f0_e7a5_7000_8000_0000_a1e7_0001);

/// The limits an alert fires above (each optional: without it, the measure never alerts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SyncThresholds {
    /// More pending messages than this.
    #[serde(default)]
    pub pending_over: Option<u64>,
    /// The oldest pending message waiting longer than this many seconds.
    #[serde(default)]
    pub oldest_pending_seconds_over: Option<u64>,
    /// More failing messages than this.
    #[serde(default)]
    pub failing_over: Option<u64>,
    /// More parked messages than this.
    #[serde(default)]
    pub parked_over: Option<u64>,
}

/// What an alert measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMeasure {
    /// Pending messages.
    Pending,
    /// The oldest pending message's wait, in seconds.
    OldestPendingSeconds,
    /// Failing messages.
    Failing,
    /// Parked messages.
    Parked,
}

impl SyncMeasure {
    fn as_str(self) -> &'static str {
        match self {
            SyncMeasure::Pending => "pending",
            SyncMeasure::OldestPendingSeconds => "oldest_pending_seconds",
            SyncMeasure::Failing => "failing",
            SyncMeasure::Parked => "parked",
        }
    }
}

impl SyncMeasure {
    /// Every measure, in order.
    const ALL: [SyncMeasure; 4] = [
        SyncMeasure::Pending,
        SyncMeasure::OldestPendingSeconds,
        SyncMeasure::Failing,
        SyncMeasure::Parked,
    ];

    /// Its value in `health`.
    fn of(self, health: &DestinationHealth) -> u64 {
        match self {
            SyncMeasure::Pending => health.pending,
            SyncMeasure::OldestPendingSeconds => health
                .oldest_pending_age
                .map_or(0, |age| u64::try_from(age.num_seconds()).unwrap_or(0)),
            SyncMeasure::Failing => health.failing,
            SyncMeasure::Parked => health.parked,
        }
    }

    /// Its limit in `thresholds`, if it has one.
    fn limit(self, thresholds: &SyncThresholds) -> Option<u64> {
        match self {
            SyncMeasure::Pending => thresholds.pending_over,
            SyncMeasure::OldestPendingSeconds => thresholds.oldest_pending_seconds_over,
            SyncMeasure::Failing => thresholds.failing_over,
            SyncMeasure::Parked => thresholds.parked_over,
        }
    }
}

/// The measures of `health` above their limits in `thresholds`: (measure, value, limit).
pub fn over_thresholds(
    thresholds: &SyncThresholds,
    health: &DestinationHealth,
) -> Vec<(SyncMeasure, u64, u64)> {
    SyncMeasure::ALL
        .into_iter()
        .filter_map(|measure| {
            let value = measure.of(health);
            measure
                .limit(thresholds)
                .filter(|limit| value > *limit)
                .map(|limit| (measure, value, limit))
        })
        .collect()
}

/// One alert sent: what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncAlert {
    /// `true` when it started firing, `false` when it was resolved.
    pub firing: bool,
    /// The destination it is about.
    pub destination: String,
    /// What passed its limit.
    pub measure: SyncMeasure,
    /// The value now.
    pub value: u64,
    /// The limit.
    pub limit: u64,
}

/// The alerts firing, by destination and measure: since when, and the limit passed.
type Firing = BTreeMap<(String, SyncMeasure), (DateTime<Utc>, u64)>;

/// The sync alert hook of one tenant. See the module documentation.
pub struct SyncAlerts<U> {
    work: U,
    tenant: TenantId,
    thresholds: SyncThresholds,
    destination: String,
    clock: Arc<dyn Clock>,
    /// What fires, since when, with its limit.
    firing: Mutex<Firing>,
}

impl<U: UnitOfWork> SyncAlerts<U> {
    /// The hook of `tenant`, writing alerts to `destination` when `thresholds` are passed.
    pub fn new(
        work: U,
        tenant: TenantId,
        thresholds: SyncThresholds,
        destination: impl Into<String>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            work,
            tenant,
            thresholds,
            destination: destination.into(),
            clock,
            firing: Mutex::new(BTreeMap::new()),
        }
    }

    /// Looks once: writes an alert for every measure that started or stopped passing its
    /// limit since the last look (in one commit), and answers them.
    pub async fn check(&self, now: DateTime<Utc>) -> Result<Vec<SyncAlert>, WorkError> {
        let destinations = self.work.outbox_destinations(&self.tenant, now).await?;
        let mut firing = self.firing.lock().await;
        let mut over = BTreeMap::new();
        for health in destinations
            .iter()
            .filter(|health| health.destination != self.destination)
        {
            for (measure, value, limit) in over_thresholds(&self.thresholds, health) {
                over.insert((health.destination.clone(), measure), (value, limit));
            }
        }
        let mut alerts = Vec::new();
        for ((destination, measure), (value, limit)) in &over {
            if !firing.contains_key(&(destination.clone(), *measure)) {
                alerts.push(SyncAlert {
                    firing: true,
                    destination: destination.clone(),
                    measure: *measure,
                    value: *value,
                    limit: *limit,
                });
            }
        }
        for ((destination, measure), (_, limit)) in firing.iter() {
            if !over.contains_key(&(destination.clone(), *measure)) {
                let value = destinations
                    .iter()
                    .find(|health| health.destination == *destination)
                    .map_or(0, |health| measure.of(health));
                alerts.push(SyncAlert {
                    firing: false,
                    destination: destination.clone(),
                    measure: *measure,
                    value,
                    limit: *limit,
                });
            }
        }
        if alerts.is_empty() {
            return Ok(alerts);
        }
        let messages = alerts
            .iter()
            .map(|alert| {
                let since = firing
                    .get(&(alert.destination.clone(), alert.measure))
                    .map_or(now, |(since, _)| *since);
                self.message(alert, since, now)
            })
            .collect();
        self.work
            .commit(Work {
                tenant: self.tenant.clone(),
                append: None,
                idempotency: None,
                decided_on: None,
                outbox: messages,
            })
            .await?;
        for alert in &alerts {
            let key = (alert.destination.clone(), alert.measure);
            if alert.firing {
                firing.insert(key, (now, alert.limit));
            } else {
                firing.remove(&key);
            }
        }
        Ok(alerts)
    }

    /// The outbox message of `alert`, firing since `since`.
    fn message(
        &self,
        alert: &SyncAlert,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> OutboxMessage {
        let id = format!(
            "{}/{}/{}",
            self.tenant,
            alert.destination,
            alert.measure.as_str()
        );
        let status = if alert.firing { "firing" } else { "resolved" };
        let key = format!("sync-alert:{id}:{status}:{}", since.timestamp_micros());
        OutboxMessage {
            id: derive_id(ALERT_NAMESPACE, &key),
            destination: self.destination.clone(),
            idempotency_key: key,
            payload: json!({
                "alert": id,
                "status": status,
                "tenant": self.tenant.as_str(),
                "destination": alert.destination,
                "measure": alert.measure,
                "value": alert.value,
                "limit": alert.limit,
                "since": since,
                "at": now,
            }),
            created_at: now,
        }
    }

    /// Looks every `every` until `stop`; a failed look is logged and tried again next time.
    pub async fn run(&self, every: Duration, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            if let Err(error) = self.check(self.clock.now()).await {
                tracing::warn!(%error, tenant = %self.tenant, "sync alerts: a look failed");
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stop.changed() => {}
            }
        }
    }
}
