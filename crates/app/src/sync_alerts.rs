//! The alert hook of sync monitoring: when a connected system's messages pass a threshold
//! (too many pending, waiting too long, failing, parked), a `firing` alert goes to a webhook,
//! and a `resolved` one when they are back under it.
//!
//! Alerts travel through the outbox like every other message (destination
//! [`SYNC_ALERTS`] by default, routed to the webhook by the host configuration), so a
//! webhook that is down gets them later, each under its own idempotency key. Alerts about the
//! alert destination itself are never raised (a dead webhook cannot alert about itself).
//!
//! What is firing is kept with the outbox ([`UnitOfWork::alerts`]), and a change is recorded
//! in the transaction of the message announcing it, only if the alert is not in that state
//! already ([`UnitOfWork::commit_alerts`]): a restarted `crm work` does not announce again
//! what it announced before, and several `crm work` processes of one tenant looking at once
//! announce each change once. `alert` in a message is stable per tenant, destination and
//! measure.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use crm_eventstore::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::ids::derive_id;
use crate::uow::{
    AlertChange, AlertState, DestinationHealth, OutboxMessage, UnitOfWork, WorkError,
};

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

/// The sync alert hook of one tenant. See the module documentation.
pub struct SyncAlerts<U> {
    work: U,
    tenant: TenantId,
    thresholds: SyncThresholds,
    destination: String,
    clock: Arc<dyn Clock>,
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
        }
    }

    /// The alert's id: stable per tenant, destination and measure.
    fn alert_id(&self, destination: &str, measure: SyncMeasure) -> String {
        format!("{}/{destination}/{}", self.tenant, measure.as_str())
    }

    /// The destination and measure of an alert id of this tenant.
    fn parse_alert<'a>(&self, alert: &'a str) -> Option<(&'a str, SyncMeasure)> {
        let rest = alert
            .strip_prefix(self.tenant.as_str())?
            .strip_prefix('/')?;
        let (destination, measure) = rest.rsplit_once('/')?;
        let measure = SyncMeasure::ALL
            .into_iter()
            .find(|known| known.as_str() == measure)?;
        Some((destination, measure))
    }

    /// Looks once: records and announces every measure that started or stopped passing its
    /// limit since the alert's recorded state (in one commit, each change once however many
    /// look at once), and answers the alerts this look announced.
    pub async fn check(&self, now: DateTime<Utc>) -> Result<Vec<SyncAlert>, WorkError> {
        let destinations = self.work.outbox_destinations(&self.tenant, now).await?;
        let recorded = self.work.alerts(&self.tenant).await?;
        let mut over = BTreeMap::new();
        for health in destinations
            .iter()
            .filter(|health| health.destination != self.destination)
        {
            for (measure, value, limit) in over_thresholds(&self.thresholds, health) {
                over.insert((health.destination.clone(), measure), (value, limit));
            }
        }
        let mut changes = Vec::new();
        for ((destination, measure), (value, limit)) in &over {
            let alert = self.alert_id(destination, *measure);
            if recorded.get(&alert).is_some_and(|state| state.firing) {
                continue;
            }
            let change = SyncAlert {
                firing: true,
                destination: destination.clone(),
                measure: *measure,
                value: *value,
                limit: *limit,
            };
            changes.push((alert, change, now));
        }
        for (alert, state) in recorded.iter().filter(|(_, state)| state.firing) {
            let Some((destination, measure)) = self.parse_alert(alert) else {
                continue;
            };
            if over.contains_key(&(destination.to_owned(), measure)) {
                continue;
            }
            let value = destinations
                .iter()
                .find(|health| health.destination == destination)
                .map_or(0, |health| measure.of(health));
            let change = SyncAlert {
                firing: false,
                destination: destination.to_owned(),
                measure,
                value,
                limit: state.limit,
            };
            changes.push((alert.clone(), change, state.since));
        }
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let commits = changes
            .iter()
            .map(|(alert, change, since)| AlertChange {
                alert: alert.clone(),
                state: AlertState {
                    firing: change.firing,
                    since: now,
                    limit: change.limit,
                },
                message: self.message(change, *since, now),
            })
            .collect();
        let announced = self.work.commit_alerts(&self.tenant, commits).await?;
        Ok(changes
            .into_iter()
            .filter(|(alert, _, _)| announced.contains(alert))
            .map(|(_, change, _)| change)
            .collect())
    }

    /// The outbox message of `alert`, firing since `since`.
    fn message(
        &self,
        alert: &SyncAlert,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> OutboxMessage {
        let id = self.alert_id(&alert.destination, alert.measure);
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
