//! The host: everything of the application layer that acts on its own, for one tenant, in one
//! process, until told to stop. `crm work` runs it; `crm serve` will run it next to the HTTP
//! app.
//!
//! What runs, each on its own task and each restart-safe on its own (checkpoints, leases and
//! derived keys, so a process killed at any point and started again loses and doubles
//! nothing):
//! - the workflows: the conversion (contact, source lead, deal), the onboarding of won deals
//!   (ticket and ERP message) and, when configured, the rep notifications;
//! - lead intake: the inbox's deliveries turned into received, captured and routed leads;
//! - the SLA pull-back of untouched leads and the queue drainer, when routing is configured;
//! - ticket escalation by SLA, when policies are configured;
//! - task reminders to their owners, when due and when overdue, unless turned off;
//! - the outbox relay, over HTTP, to the configured destinations (outreach checked against
//!   consent again just before it is sent);
//! - sync monitoring's alert hook, when configured.
//!
//! Configured by a [`HostConfig`], read from JSON (`crm work --config <file>`); unknown fields
//! are refused, so a typo is an error at start, not a feature silently off.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{Days, TimeDelta};
use crm_domain::identity::CountryCode;
use crm_domain::opportunity::Pipeline;
use crm_domain::sla::{BusinessCalendar, SlaPolicy};
use crm_domain::ticket::EscalationTarget;
use crm_domain::{Currency, UserId};
use crm_eventstore::TenantId;
use crm_projections::sla::SlaConfig;
use serde::Deserialize;
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::account_linking::AccountLinker;
use crate::command::CommandService;
use crate::intake::{IdentityResolution, Inbox, IntakeSettings, IntakeWorker};
use crate::outbox::{DestinationError, Destinations, HttpTransport, OutboxRelay, RelaySettings};
use crate::outreach::ConsentGate;
use crate::routing::{QueueDrainer, RoutingSettings};
use crate::scheduler::{
    DEFAULT_OVERDUE_AFTER, DEFAULT_RESPONSE_WINDOW, DeadlineStore, ResponseScheduler,
    SchedulerSettings, TaskReminderSettings, TaskReminders, TicketEscalationSettings,
    TicketEscalator,
};
use crate::sync_alerts::{SYNC_ALERTS, SyncAlerts, SyncThresholds};
use crate::uow::UnitOfWork;
use crate::workflow::{
    ConversionSettings, NotificationSettings, NotifyAssignedRep, OpenConvertedLead,
    PropagateErasure, REP_NOTIFICATIONS, Reaction, StartOnboarding, WorkflowRunner,
};

/// What the host runs, as read from JSON.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// How converted leads open their deal; without it, conversions are not followed up.
    #[serde(default)]
    pub conversion: Option<ConversionConfig>,
    /// Whether won deals open an onboarding ticket and send an ERP message (default true).
    #[serde(default = "yes")]
    pub onboarding: bool,
    /// Routing: the territory map whose teams' queues are drained, and the pull-back.
    #[serde(default)]
    pub routing: Option<RoutingConfig>,
    /// Rep notifications on assignment; without it, reps are not notified.
    #[serde(default)]
    pub notifications: Option<NotificationConfig>,
    /// Where outbox messages go, by destination (`"erp"`, `"rep-notifications"`): absolute
    /// `http://` URLs.
    #[serde(default)]
    pub destinations: BTreeMap<String, String>,
    /// The connected systems told of every erasure (`contact-erased` messages, see
    /// [`PropagateErasure`]): destinations, each named in `destinations`.
    #[serde(default)]
    pub erasure_notices: Vec<String>,
    /// Ticket escalation by SLA; without it, tickets do not escalate by themselves.
    #[serde(default)]
    pub escalation: Option<EscalationConfig>,
    /// Lead intake: the inbox's items turned into leads (routed when `routing` is set).
    #[serde(default)]
    pub intake: Option<IntakeConfig>,
    /// Task reminders to their owners, when due and when overdue (on by default).
    #[serde(default)]
    pub task_reminders: TaskReminderConfig,
    /// How often the scheduler, the drainer and the intake look again when nothing woke them
    /// (milliseconds, default 1,000).
    #[serde(default = "default_tick_ms")]
    pub tick_ms: u64,
    /// Whether contacts are linked to the accounts their work email, company domain or
    /// company name point to (see [`crate::account_linking`]); `crm work` then keeps the
    /// account 360 read model it looks them up in. Off by default.
    #[serde(default)]
    pub account_linking: bool,
    /// Sync monitoring's alert hook: alerts to a webhook when a connected system's messages
    /// pass a threshold (see [`crate::sync_alerts`]). Off by default.
    #[serde(default)]
    pub sync_alerts: Option<SyncAlertConfig>,
}

/// The alert hook's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncAlertConfig {
    /// The destination alerts are written to, routed to the webhook in `destinations`
    /// (default `"sync-alerts"`).
    #[serde(default = "sync_alerts_destination")]
    pub destination: String,
    /// The limits (at least one).
    pub thresholds: SyncThresholds,
    /// How often to look, in seconds (default 60).
    #[serde(default = "default_alert_seconds")]
    pub check_every_seconds: u64,
}

fn sync_alerts_destination() -> String {
    SYNC_ALERTS.to_owned()
}

fn default_alert_seconds() -> u64 {
    60
}

fn yes() -> bool {
    true
}

fn default_tick_ms() -> u64 {
    1000
}

/// The conversion workflow's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionConfig {
    /// The currency of new deals (ISO 4217).
    pub currency: String,
    /// Days from the conversion to a new deal's expected close (default 90).
    #[serde(default = "default_close_days")]
    pub expected_close_days: u64,
    /// The owner of deals from leads without an assignee.
    pub fallback_owner: UserId,
}

fn default_close_days() -> u64 {
    90
}

/// Routing's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// The tenant's territory map.
    pub territory_map: uuid::Uuid,
    /// The calendar response windows count in (default: always open, UTC).
    #[serde(default)]
    pub calendar: Option<BusinessCalendar>,
    /// The response window in business minutes (default 5).
    #[serde(default = "default_window_minutes")]
    pub response_window_minutes: i64,
    /// Reclaims before a lead escalates to the team lead (default 2).
    #[serde(default = "default_reassignments")]
    pub max_reassignments: u32,
}

fn default_window_minutes() -> i64 {
    DEFAULT_RESPONSE_WINDOW.num_minutes()
}

fn default_reassignments() -> u32 {
    2
}

/// Ticket escalation's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationConfig {
    /// The SLA policies (the same as the SLA read model's), each version in effect for every
    /// ticket; versions of one policy oldest first.
    pub policies: Vec<SlaPolicy>,
    /// Where a ticket at risk goes (level 1); `null`: tickets escalate only when breached.
    #[serde(default)]
    pub at_risk: Option<EscalationTarget>,
    /// Where a breached ticket goes (level 2).
    pub breached: EscalationTarget,
}

/// Task reminders' settings (see [`TaskReminders`]): an open task's owner is reminded at its
/// due time and again `overdue_after_minutes` later, through the outbox destination
/// `"rep-notifications"` (the owner's webhook when they are a rep with one, else the URL routed
/// for the destination).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskReminderConfig {
    /// Whether owners are reminded (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Minutes from a task's due time to its overdue reminder (default 60; positive).
    #[serde(default = "default_overdue_after_minutes")]
    pub overdue_after_minutes: i64,
    /// The start of links to a task (`https://crm.example.com` gives `…/tasks/<id>`); default:
    /// `notifications.link_base` when set, else no link.
    #[serde(default)]
    pub link_base: Option<String>,
}

impl Default for TaskReminderConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            overdue_after_minutes: default_overdue_after_minutes(),
            link_base: None,
        }
    }
}

fn default_overdue_after_minutes() -> i64 {
    DEFAULT_OVERDUE_AFTER.num_minutes()
}

/// Lead intake's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeConfig {
    /// The region (ISO 3166-1 alpha-2) phone numbers without a country prefix are read in.
    pub default_region: String,
    /// Items claimed per pass (default 100).
    #[serde(default = "default_intake_batch")]
    pub batch: usize,
    /// Items worked on at once (default 8).
    #[serde(default = "default_intake_parallelism")]
    pub parallelism: usize,
    /// How long claimed items are the claimer's, in milliseconds (default 60,000): how long
    /// the items of a worker that died wait before another takes them. Keep it well above
    /// the time a batch takes.
    #[serde(default = "default_intake_lease_ms")]
    pub lease_ms: u32,
    /// Whether each captured lead's person is looked up in the identity index before routing
    /// (see `crate::intake`); `crm work` then keeps the index itself, under the projection's
    /// lease, shared with any `crm serve` of the same database. Default false.
    #[serde(default)]
    pub identity_resolution: bool,
    /// Form fields kept as the lead's custom fields: the form's field name → the custom field
    /// key (values the lead's schema refuses stay only in the raw payload). Default none.
    #[serde(default)]
    pub custom_fields: BTreeMap<String, String>,
}

fn default_intake_lease_ms() -> u32 {
    60_000
}

fn default_intake_batch() -> usize {
    100
}

fn default_intake_parallelism() -> usize {
    8
}

/// Rep notifications' settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationConfig {
    /// The start of links to a lead (`https://crm.example.com`).
    pub link_base: String,
}

/// Why the host cannot start.
#[derive(Debug, Error)]
pub enum HostError {
    /// The configuration is not valid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A destination's URL is not valid.
    #[error(transparent)]
    Destination(#[from] DestinationError),
}

/// Everything the host runs, ready to start.
pub struct Host<U: UnitOfWork + Clone, D: DeadlineStore + Clone, I: Inbox> {
    service: Arc<CommandService<U>>,
    intake: Option<IntakeWorker<U, I>>,
    tenant: TenantId,
    reactions: Vec<Arc<dyn Reaction>>,
    scheduler: Option<ResponseScheduler<U, D>>,
    escalator: Option<TicketEscalator<U, D>>,
    reminders: Option<TaskReminders<U, D>>,
    linker: Option<AccountLinker<U>>,
    drainer: Option<QueueDrainer<U>>,
    relay: OutboxRelay<U, ConsentGate<U, HttpTransport>>,
    alerts: Option<(SyncAlerts<U>, Duration)>,
    tick: Duration,
}

impl<U: UnitOfWork + Clone, D: DeadlineStore + Clone, I: Inbox> Host<U, D, I> {
    /// Resolves each captured lead's identity before routing it, when the intake runs.
    #[must_use]
    pub fn with_identity(mut self, identity: IdentityResolution) -> Self {
        self.intake = self.intake.map(|intake| intake.with_identity(identity));
        self
    }

    /// Records the account each captured lead's person works for, found in `accounts`, when
    /// the intake runs.
    #[must_use]
    pub fn with_lead_accounts(
        mut self,
        accounts: Arc<dyn crate::account_linking::AccountCandidateSource>,
    ) -> Self {
        self.intake = self.intake.map(|intake| intake.with_accounts(accounts));
        self
    }

    /// Links contacts to accounts with `linker` (see [`crate::account_linking`]).
    #[must_use]
    pub fn with_account_linking(mut self, linker: AccountLinker<U>) -> Self {
        self.linker = Some(linker);
        self
    }

    /// The intake worker, when the configuration runs the intake (for `crm inbox
    /// replay-quarantined`, which captures quarantined leads again under the same settings).
    pub fn intake(&self) -> Option<&IntakeWorker<U, I>> {
        self.intake.as_ref()
    }

    /// The host of `tenant` under `config`, writing through `service`, keeping deadlines in
    /// `deadlines` and reading deliveries from `inbox`.
    pub fn new(
        service: Arc<CommandService<U>>,
        deadlines: D,
        inbox: I,
        tenant: TenantId,
        config: &HostConfig,
    ) -> Result<Self, HostError> {
        let calendar = config
            .routing
            .as_ref()
            .and_then(|routing| routing.calendar.clone())
            .unwrap_or_else(|| BusinessCalendar::always_open(chrono_tz::UTC));
        let window = config
            .routing
            .as_ref()
            .map_or(DEFAULT_RESPONSE_WINDOW, |routing| {
                TimeDelta::minutes(routing.response_window_minutes)
            });
        if window <= TimeDelta::zero() {
            return Err(HostError::Config(
                "routing.response_window_minutes must be positive".into(),
            ));
        }
        let mut reactions: Vec<Arc<dyn Reaction>> = Vec::new();
        if let Some(conversion) = &config.conversion {
            let currency = Currency::new(&conversion.currency)
                .map_err(|error| HostError::Config(format!("conversion.currency: {error}")))?;
            reactions.push(Arc::new(OpenConvertedLead::new(ConversionSettings {
                pipeline: Pipeline::default(),
                currency,
                expected_close_after: Days::new(conversion.expected_close_days),
                fallback_owner: conversion.fallback_owner,
            })));
        }
        if config.onboarding {
            reactions.push(Arc::new(StartOnboarding));
        }
        if !config.erasure_notices.is_empty() {
            if let Some(unknown) = config
                .erasure_notices
                .iter()
                .find(|destination| !config.destinations.contains_key(*destination))
            {
                return Err(HostError::Config(format!(
                    "erasure_notices: {unknown:?} is not one of the destinations"
                )));
            }
            reactions.push(Arc::new(PropagateErasure::new(
                config.erasure_notices.clone(),
            )));
        }
        if let Some(notifications) = &config.notifications {
            reactions.push(Arc::new(NotifyAssignedRep::new(NotificationSettings {
                calendar: calendar.clone(),
                response_window: window,
                link_base: notifications.link_base.clone(),
            })));
        }
        let escalator = match &config.escalation {
            Some(escalation) => {
                let mut sla = SlaConfig::new();
                for policy in &escalation.policies {
                    sla = sla.with_policy(policy.clone(), None).map_err(|policy| {
                        HostError::Config(format!(
                            "escalation.policies: version {} of policy {} is not newer than the one before it",
                            policy.reference().version,
                            policy.reference().id
                        ))
                    })?;
                }
                Some(TicketEscalator::new(
                    Arc::clone(&service),
                    deadlines.clone(),
                    tenant.clone(),
                    TicketEscalationSettings {
                        sla,
                        at_risk: escalation.at_risk,
                        breached: escalation.breached,
                        lease: TimeDelta::seconds(60),
                        batch: 500,
                    },
                ))
            }
            None => None,
        };
        let reminders = Self::reminders(&service, &deadlines, &tenant, config)?;
        let (scheduler, drainer) = match &config.routing {
            Some(routing) => {
                let settings = RoutingSettings {
                    territory_map: routing.territory_map,
                };
                (
                    Some(ResponseScheduler::new(
                        Arc::clone(&service),
                        deadlines,
                        tenant.clone(),
                        SchedulerSettings {
                            calendar,
                            response_window: window,
                            max_reassignments: routing.max_reassignments,
                            lease: TimeDelta::seconds(60),
                            batch: 500,
                            parallelism: 8,
                        },
                    )),
                    Some(QueueDrainer::new(
                        Arc::clone(&service),
                        tenant.clone(),
                        settings,
                    )),
                )
            }
            None => (None, None),
        };
        let intake = match &config.intake {
            Some(intake) => Some(IntakeWorker::new(
                Arc::clone(&service),
                inbox,
                tenant.clone(),
                IntakeSettings {
                    default_region: CountryCode::new(&intake.default_region).map_err(|error| {
                        HostError::Config(format!("intake.default_region: {error}"))
                    })?,
                    routing: config.routing.as_ref().map(|routing| RoutingSettings {
                        territory_map: routing.territory_map,
                    }),
                    batch: intake.batch.max(1),
                    parallelism: intake.parallelism.max(1),
                    lease: TimeDelta::milliseconds(i64::from(intake.lease_ms.max(100))),
                    retry_after: TimeDelta::seconds(1),
                    custom_fields: intake.custom_fields.clone(),
                },
            )),
            None => None,
        };
        let mut destinations = Destinations::new();
        for (destination, url) in &config.destinations {
            destinations = destinations.route(destination.clone(), url)?;
        }
        if config.notifications.is_some() || reminders.is_some() {
            // A rep's or team's own webhook, named in the message, wins over a routed URL.
            destinations = destinations.per_message(REP_NOTIFICATIONS);
        }
        let alerts = match &config.sync_alerts {
            None => None,
            Some(alerts) => {
                if !config.destinations.contains_key(&alerts.destination) {
                    return Err(HostError::Config(format!(
                        "sync_alerts.destination {} is not routed in destinations",
                        alerts.destination
                    )));
                }
                if alerts.thresholds == SyncThresholds::default() {
                    return Err(HostError::Config(
                        "sync_alerts.thresholds: name at least one limit".into(),
                    ));
                }
                Some((
                    SyncAlerts::new(
                        service.work().clone(),
                        tenant.clone(),
                        alerts.thresholds,
                        alerts.destination.clone(),
                        Arc::clone(service.clock()),
                    ),
                    Duration::from_secs(alerts.check_every_seconds.max(1)),
                ))
            }
        };
        // Outreach is checked against consent again right before it is sent.
        let transport = ConsentGate::new(
            Arc::clone(&service),
            tenant.clone(),
            HttpTransport::new(destinations).with_clock(Arc::clone(service.clock())),
        );
        let relay = OutboxRelay::new(
            service.work().clone(),
            transport,
            tenant.clone(),
            Arc::clone(service.clock()),
        )
        .with_settings(RelaySettings::default());
        Ok(Self {
            service,
            intake,
            escalator,
            reminders,
            linker: None,
            tenant,
            reactions,
            scheduler,
            drainer,
            relay,
            alerts,
            tick: Duration::from_millis(config.tick_ms.max(10)),
        })
    }

    /// The task reminders `config` asks for, if any.
    fn reminders(
        service: &Arc<CommandService<U>>,
        deadlines: &D,
        tenant: &TenantId,
        config: &HostConfig,
    ) -> Result<Option<TaskReminders<U, D>>, HostError> {
        let reminders = &config.task_reminders;
        if !reminders.enabled {
            return Ok(None);
        }
        if reminders.overdue_after_minutes <= 0 {
            return Err(HostError::Config(
                "task_reminders.overdue_after_minutes must be positive".into(),
            ));
        }
        let overdue_after =
            TimeDelta::try_minutes(reminders.overdue_after_minutes).ok_or_else(|| {
                HostError::Config("task_reminders.overdue_after_minutes is too large".into())
            })?;
        let link_base = reminders.link_base.clone().or_else(|| {
            config
                .notifications
                .as_ref()
                .map(|notifications| notifications.link_base.clone())
        });
        Ok(Some(TaskReminders::new(
            Arc::clone(service),
            deadlines.clone(),
            tenant.clone(),
            TaskReminderSettings {
                overdue_after,
                link_base,
                ..TaskReminderSettings::default()
            },
        )))
    }

    /// Runs everything until `stop` turns true, then lets each part finish what it holds
    /// (a workflow step, a pull-back, a delivery) and returns.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let mut tasks = JoinSet::new();
        for reaction in &this.reactions {
            let runner = WorkflowRunner::new(
                Arc::clone(&this.service),
                Arc::clone(reaction),
                this.tenant.clone(),
            );
            let stop = stop.clone();
            tasks.spawn(async move { runner.run(stop).await });
        }
        if this.scheduler.is_some() {
            let (host, stop) = (Arc::clone(&this), stop.clone());
            tasks.spawn(async move {
                if let Some(scheduler) = &host.scheduler {
                    scheduler.run(host.tick, stop).await;
                }
            });
        }
        if this.escalator.is_some() {
            let (host, stop) = (Arc::clone(&this), stop.clone());
            tasks.spawn(async move {
                if let Some(escalator) = &host.escalator {
                    escalator.run(host.tick, stop).await;
                }
            });
        }
        if this.reminders.is_some() {
            let (host, stop) = (Arc::clone(&this), stop.clone());
            tasks.spawn(async move {
                if let Some(reminders) = &host.reminders {
                    reminders.run(host.tick, stop).await;
                }
            });
        }
        if this.linker.is_some() {
            let (host, stop) = (Arc::clone(&this), stop.clone());
            tasks.spawn(async move {
                if let Some(linker) = &host.linker {
                    linker.run(host.tick, stop).await;
                }
            });
        }
        if this.drainer.is_some() {
            let (host, stop) = (Arc::clone(&this), stop.clone());
            tasks.spawn(async move {
                if let Some(drainer) = &host.drainer {
                    drainer.run(host.tick, stop).await;
                }
            });
        }
        if this.intake.is_some() {
            let (host, stop) = (Arc::clone(&this), stop.clone());
            tasks.spawn(async move {
                if let Some(intake) = &host.intake {
                    intake.run(host.tick, stop).await;
                }
            });
        }
        {
            let (host, stop) = (Arc::clone(&this), stop.clone());
            tasks.spawn(async move { host.relay.run(stop).await });
        }
        if this.alerts.is_some() {
            let (host, stop) = (Arc::clone(&this), stop.clone());
            tasks.spawn(async move {
                if let Some((alerts, every)) = &host.alerts {
                    alerts.run(*every, stop).await;
                }
            });
        }
        while let Some(finished) = tasks.join_next().await {
            if let Err(error) = finished {
                tracing::error!(%error, "a host task ended abnormally");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::intake::MemoryInbox;
    use crate::scheduler::MemoryDeadlines;
    use crate::{ManualClock, MemoryUnitOfWork};

    fn host(config: &serde_json::Value) -> Result<(), String> {
        let config: HostConfig =
            serde_json::from_value(config.clone()).map_err(|error| error.to_string())?;
        let clock = ManualClock::new(chrono::DateTime::UNIX_EPOCH);
        let service = Arc::new(CommandService::new(
            MemoryUnitOfWork::default(),
            Arc::new(clock),
        ));
        Host::new(
            service,
            MemoryDeadlines::default(),
            MemoryInbox::default(),
            TenantId::new("acme").map_err(|error| error.to_string())?,
            &config,
        )
        .map(drop)
        .map_err(|error| error.to_string())
    }

    #[test]
    fn a_full_configuration_is_accepted() {
        let policy = crm_domain::sla::SlaPolicy::new(
            crm_domain::sla::PolicyRef {
                id: crm_domain::sla::SlaPolicyId(uuid::Uuid::nil()),
                version: crm_domain::sla::PolicyVersion(1),
            },
            "support",
            BusinessCalendar::always_open(chrono_tz::UTC),
        );
        let config = json!({
            "conversion": { "currency": "EUR", "fallback_owner": uuid::Uuid::nil() },
            "routing": { "territory_map": uuid::Uuid::nil(), "response_window_minutes": 5 },
            "notifications": { "link_base": "https://crm.example.com" },
            "escalation": {
                "policies": [policy],
                "at_risk": { "kind": "team", "team": uuid::Uuid::nil() },
                "breached": { "kind": "user", "user": uuid::Uuid::nil() },
            },
            "intake": { "default_region": "GB" },
            "task_reminders": { "overdue_after_minutes": 90, "link_base": "https://crm.example.com" },
            "account_linking": true,
            "destinations": {
                "erp": "http://127.0.0.1:9/erp",
                "sync-alerts": "http://127.0.0.1:9/alerts",
            },
            "erasure_notices": ["erp"],
            "sync_alerts": { "thresholds": { "oldest_pending_seconds_over": 600, "parked_over": 0 } },
        });
        assert_eq!(host(&config), Ok(()));
    }

    #[test]
    fn task_reminders_run_by_default_and_can_be_turned_off() {
        let built = |config: serde_json::Value| {
            let config: HostConfig = serde_json::from_value(config).expect("a valid config");
            let clock = ManualClock::new(chrono::DateTime::UNIX_EPOCH);
            let service = Arc::new(CommandService::new(
                MemoryUnitOfWork::default(),
                Arc::new(clock),
            ));
            Host::new(
                service,
                MemoryDeadlines::default(),
                MemoryInbox::default(),
                TenantId::new("acme").expect("a valid tenant"),
                &config,
            )
            .expect("the host starts")
        };
        assert!(built(json!({})).reminders.is_some());
        assert!(
            built(json!({ "task_reminders": { "enabled": false } }))
                .reminders
                .is_none()
        );
    }

    #[test]
    fn mistakes_are_refused_at_start() {
        for (config, expected) in [
            (json!({ "onbaording": true }), "unknown field"),
            (
                json!({ "intake": { "default_region": "Britain" } }),
                "default_region",
            ),
            (
                json!({ "conversion": { "currency": "EURO", "fallback_owner": uuid::Uuid::nil() } }),
                "currency",
            ),
            (
                json!({ "destinations": { "erp": "ftp://example.com" } }),
                "",
            ),
            (
                json!({ "routing": { "territory_map": uuid::Uuid::nil(), "response_window_minutes": 0 } }),
                "response_window_minutes",
            ),
            (
                json!({ "erasure_notices": ["billing"], "destinations": { "erp": "http://127.0.0.1:9/erp" } }),
                "erasure_notices",
            ),
            (
                json!({ "task_reminders": { "overdue_after_minutes": 0 } }),
                "overdue_after_minutes",
            ),
            (
                json!({ "task_reminders": { "overdue_after_minutes": i64::MAX } }),
                "overdue_after_minutes",
            ),
            (
                json!({ "task_reminders": { "enabeld": false } }),
                "unknown field",
            ),
            (
                json!({ "sync_alerts": { "thresholds": { "parked_over": 0 } } }),
                "not routed in destinations",
            ),
            (
                json!({ "sync_alerts": { "thresholds": {} },
                        "destinations": { "sync-alerts": "http://127.0.0.1:9/alerts" } }),
                "at least one limit",
            ),
            (
                json!({ "sync_alerts": { "thresholds": { "parked_above": 0 } } }),
                "unknown field",
            ),
        ] {
            let refused = host(&config);
            assert!(
                refused
                    .as_ref()
                    .is_err_and(|message| message.contains(expected)),
                "{config}: {refused:?}"
            );
        }
    }
}
