//! Ticket escalation by SLA: a ticket whose clock reaches 80 % of its target escalates to
//! level 1, one whose clock breaches to level 2.
//!
//! The SLA is the SLA read model's own fold ([`SlaModel`] over the ticket's stream, under the
//! same [`SlaConfig`]), so the escalation and the SLA lists never disagree about a ticket.
//! Like the lead pull-back, two halves, both restart-safe:
//! - [`TicketEscalator::track`] reads the tenant's ticket events from a checkpoint and, for
//!   every ticket that changed, records its next escalation instant (one row per ticket).
//! - [`TicketEscalator::act`] claims the due rows under a lease, checks the ticket's SLA at
//!   `now` and escalates it with a key derived from ticket and level: once, whatever crashes,
//!   restarts or concurrent schedulers happen. A ticket paused, answered or closed meanwhile is
//!   not escalated; its next instant is recorded again.

use std::collections::BTreeSet;
use std::num::NonZeroU8;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use crm_domain::ticket::{EscalationTarget, Ticket, TicketCommand, TicketError};
use crm_domain::{Actor, TicketId};
use crm_eventstore::TenantId;
use crm_projections::sla::query::{ItemHealth, ItemStatus};
use crm_projections::sla::{SlaConfig, SlaItemDoc, SlaModel, TICKET};
use crm_projections::{AggregateKind, DocKey, StreamRef, fold_streams};
use tracing::Instrument;
use uuid::Uuid;

use super::{DeadlineStore, SchedulerError, follow};
use crate::command::{CommandMeta, CommandService};
use crate::error::CommandError;
use crate::ids::derive_id;
use crate::uow::{UnitOfWork, WorkError};

/// The level a ticket escalates to when it is at risk.
pub const AT_RISK_LEVEL: NonZeroU8 = NonZeroU8::MIN;
/// The level a ticket escalates to when it breaches.
pub const BREACHED_LEVEL: NonZeroU8 = match NonZeroU8::new(2) {
    Some(level) => level,
    None => NonZeroU8::MAX,
};

/// The checkpoint name of the ticket tracking.
const TRACKING: &str = "ticket-escalations";

/// A ticket's next escalation: at `due_at`, to `level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketDeadline {
    /// The ticket.
    pub ticket: TicketId,
    /// The level due ([`AT_RISK_LEVEL`] or [`BREACHED_LEVEL`]).
    pub level: NonZeroU8,
    /// When.
    pub due_at: DateTime<Utc>,
}

/// Who escalated tickets go to, and how the escalator works.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketEscalationSettings {
    /// The SLA policies (the same configuration as the SLA read model's).
    pub sla: SlaConfig,
    /// Where a ticket at risk goes ([`AT_RISK_LEVEL`]); `None`: tickets do not escalate
    /// before they breach.
    pub at_risk: Option<EscalationTarget>,
    /// Where a breached ticket goes ([`BREACHED_LEVEL`]).
    pub breached: EscalationTarget,
    /// How long a claimed deadline is held by one scheduler.
    pub lease: TimeDelta,
    /// How many deadlines one pass claims.
    pub batch: usize,
}

/// What one [`TicketEscalator::act`] pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EscalationReport {
    /// Tickets escalated, with the level.
    pub escalated: Vec<(TicketId, NonZeroU8)>,
    /// Deadlines that no longer applied (answered, paused, closed, escalated meanwhile).
    pub stale: usize,
    /// Deadlines that failed and stay due (retried after their lease).
    pub failed: usize,
}

fn escalator() -> Actor {
    Actor::System {
        component: "sla-escalation".into(),
    }
}

/// The ticket escalation of one tenant: tickets at risk escalated to level 1, breached ones to
/// level 2, each once, driven by the SLA deadlines it keeps.
#[derive(Debug)]
pub struct TicketEscalator<U: UnitOfWork, D: DeadlineStore> {
    service: Arc<CommandService<U>>,
    deadlines: D,
    tenant: TenantId,
    settings: TicketEscalationSettings,
}

impl<U: UnitOfWork, D: DeadlineStore> TicketEscalator<U, D> {
    /// An escalator for `tenant`.
    pub fn new(
        service: Arc<CommandService<U>>,
        deadlines: D,
        tenant: TenantId,
        settings: TicketEscalationSettings,
    ) -> Self {
        Self {
            service,
            deadlines,
            tenant,
            settings,
        }
    }

    /// The deadline store.
    pub fn deadlines(&self) -> &D {
        &self.deadlines
    }

    /// Records the next escalation instant of every ticket with events after the tracking
    /// checkpoint, a page at a time, until a page is empty; returns the events read.
    pub async fn track(&self) -> Result<usize, SchedulerError> {
        let span = tracing::info_span!("ticket-escalation-track", tenant = %self.tenant);
        self.track_pages().instrument(span).await
    }

    async fn track_pages(&self) -> Result<usize, SchedulerError> {
        follow(
            self.service.work(),
            &self.tenant,
            TRACKING,
            |events| async move {
                let changed: BTreeSet<TicketId> = events
                    .iter()
                    .filter_map(|event| {
                        event
                            .stream
                            .as_str()
                            .strip_prefix("ticket-")
                            .and_then(|id| Uuid::try_parse(id).ok())
                            .map(TicketId)
                    })
                    .collect();
                for ticket in changed {
                    self.reschedule(ticket).await?;
                }
                Ok(())
            },
        )
        .await
    }

    /// The ticket's SLA document, folded from its stream by the SLA read model.
    async fn sla_of(&self, ticket: TicketId) -> Result<Option<SlaItemDoc>, SchedulerError> {
        let stream = StreamRef {
            kind: AggregateKind::Ticket,
            id: ticket.0,
        };
        let folded = fold_streams(
            self.service.work().store(),
            &self.tenant,
            SlaModel::new(self.settings.sla.clone()),
            &[stream],
            None,
        )
        .await
        .map_err(|error| WorkError::Corrupt {
            what: format!("the SLA of ticket {}", ticket.0),
            reason: error.to_string(),
        })?;
        Ok(folded
            .get(&self.tenant, &DocKey::new(TICKET, ticket.0))
            .cloned())
    }

    /// The ticket's next escalation given its SLA and its current escalation level.
    fn next_deadline(&self, doc: &SlaItemDoc, level: Option<NonZeroU8>) -> Option<TicketDeadline> {
        if !doc.open {
            return None;
        }
        let ticket = TicketId(doc.id);
        let below = |wanted: NonZeroU8| level.is_none_or(|level| level < wanted);
        if self.settings.at_risk.is_some()
            && below(AT_RISK_LEVEL)
            && let Some(due_at) = doc.at_risk_from
        {
            return Some(TicketDeadline {
                ticket,
                level: AT_RISK_LEVEL,
                due_at,
            });
        }
        if below(BREACHED_LEVEL)
            && let Some(due_at) = doc.deadline
        {
            return Some(TicketDeadline {
                ticket,
                level: BREACHED_LEVEL,
                due_at,
            });
        }
        None
    }

    async fn reschedule(&self, ticket: TicketId) -> Result<(), SchedulerError> {
        let next = match self.sla_of(ticket).await? {
            Some(doc) => {
                let level = self.level_of(ticket).await?;
                self.next_deadline(&doc, level)
            }
            None => None,
        };
        self.deadlines
            .set_ticket_deadline(&self.tenant, ticket, next)
            .await?;
        Ok(())
    }

    async fn level_of(&self, ticket: TicketId) -> Result<Option<NonZeroU8>, SchedulerError> {
        let (state, _) = self
            .service
            .load::<Ticket>(&self.tenant, ticket.0)
            .await
            .map_err(|error| WorkError::Corrupt {
                what: format!("ticket {}", ticket.0),
                reason: error.to_string(),
            })?;
        Ok(state.escalation.map(|escalation| escalation.level))
    }

    /// Tracks what is new, then acts on every ticket deadline due at the clock's `now`.
    pub async fn tick(&self) -> Result<EscalationReport, SchedulerError> {
        self.track().await?;
        self.act(self.service.clock().now()).await
    }

    /// Claims the ticket deadlines due at `now` and escalates each ticket still at risk or
    /// breached below that level.
    pub async fn act(&self, now: DateTime<Utc>) -> Result<EscalationReport, SchedulerError> {
        let span = tracing::info_span!("ticket-escalation-act", tenant = %self.tenant, %now);
        async {
            let lease_until = now.checked_add_signed(self.settings.lease).unwrap_or(now);
            let mut report = EscalationReport::default();
            loop {
                let due = self
                    .deadlines
                    .claim_due_tickets(&self.tenant, now, lease_until, self.settings.batch)
                    .await?;
                if due.is_empty() {
                    return Ok(report);
                }
                for deadline in due {
                    match self.escalate(deadline, now).await {
                        Ok(Some(level)) => report.escalated.push((deadline.ticket, level)),
                        Ok(None) => report.stale += 1,
                        Err(error) => {
                            tracing::warn!(ticket = %deadline.ticket.0, %error, "escalation failed");
                            report.failed += 1;
                            continue;
                        }
                    }
                    self.deadlines
                        .ticket_done(&self.tenant, deadline.ticket, deadline.due_at)
                        .await?;
                    // The escalation (or what made it stale) may leave a later instant due.
                    self.reschedule(deadline.ticket).await?;
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Escalates the ticket to the level its SLA calls for at `now`, if that is above its
    /// current level; the level escalated to, `None` when nothing was due.
    async fn escalate(
        &self,
        deadline: TicketDeadline,
        now: DateTime<Utc>,
    ) -> Result<Option<NonZeroU8>, SchedulerError> {
        let Some(doc) = self.sla_of(deadline.ticket).await? else {
            return Ok(None);
        };
        if !doc.open {
            return Ok(None);
        }
        let health = ItemStatus::of(&doc, &self.settings.sla, now).health;
        let (level, to, reason) = match (health, &self.settings.at_risk) {
            (ItemHealth::Breached, _) => (
                BREACHED_LEVEL,
                self.settings.breached,
                "its SLA is breached",
            ),
            (ItemHealth::AtRisk, Some(target)) => (
                AT_RISK_LEVEL,
                *target,
                "its SLA is at risk (80 % of a target used)",
            ),
            _ => return Ok(None),
        };
        let current = self.level_of(deadline.ticket).await?;
        if current.is_some_and(|current| current >= level) {
            return Ok(None);
        }
        let step = format!("ticket-escalation/{}/{level}", deadline.ticket.0);
        let meta = CommandMeta::by(escalator())
            .with_command_id(derive_id(deadline.ticket.0, &step))
            .with_idempotency_key(step);
        match self
            .service
            .execute::<Ticket>(
                &self.tenant,
                deadline.ticket.0,
                TicketCommand::Escalate {
                    to,
                    level,
                    reason: reason.into(),
                },
                &meta,
            )
            .await
        {
            Ok(_) => Ok(Some(level)),
            // Closed meanwhile, or escalated higher by a person: nothing to do.
            Err(CommandError::Rejected(
                TicketError::EscalationBelowCurrent { .. } | TicketError::Closed { .. },
            )) => Ok(None),
            Err(error) => Err(WorkError::Corrupt {
                what: format!("the escalation of ticket {}", deadline.ticket.0),
                reason: error.to_string(),
            }
            .into()),
        }
    }

    /// Ticks until `stop` turns true, every `every` (and at once at start-up).
    pub async fn run(&self, every: std::time::Duration, stop: tokio::sync::watch::Receiver<bool>) {
        super::every(every, stop, ("ticket escalation", &self.tenant), || {
            self.tick()
        })
        .await;
    }
}
