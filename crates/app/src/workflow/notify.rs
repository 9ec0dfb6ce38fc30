//! An assignment (a first one, or after a reclaim) notifies the rep through the outbox.

use chrono::TimeDelta;
use crm_domain::lead::LeadEvent;
use crm_domain::sla::BusinessCalendar;
use crm_projections::CrmEvent;
use serde_json::json;

use super::{AggregateState, Effect, Reaction, Step, Trigger};
use crate::ids::derive_id;
use crate::uow::OutboxMessage;

/// The outbox destination of notifications to reps. A message's `"endpoint"` (the rep's
/// webhook, else their team's) is where the relay delivers it; without one, the URL configured
/// for this destination.
pub const REP_NOTIFICATIONS: &str = "rep-notifications";

/// What an assignment notification says besides the lead.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationSettings {
    /// The calendar the response window counts in.
    pub calendar: BusinessCalendar,
    /// How long the rep has to respond, in business time (the SLA's first-response window).
    pub response_window: TimeDelta,
    /// The start of links to a lead; the lead's id is appended (`…/leads/<id>`).
    pub link_base: String,
}

/// The notification reaction: on `LeadAssigned`, step `notify-rep` sends the rep a
/// `lead-assigned` message naming the lead, the deadline to respond by (the assignment plus
/// the response window in business time; a reclaimed lead's new rep gets a fresh window) and a
/// link, keyed `lead-assigned:<event id>`.
///
/// Delivery: at least once per `LeadAssigned`; the message is written once (its id derives
/// from the event) and delivered by the outbox relay at least once under its key, so the rep's
/// endpoint sees one notification per assignment however often either side retries.
#[derive(Debug, Clone)]
pub struct NotifyAssignedRep {
    settings: NotificationSettings,
}

impl NotifyAssignedRep {
    /// The reaction with these settings.
    pub fn new(settings: NotificationSettings) -> Self {
        Self { settings }
    }
}

impl Reaction for NotifyAssignedRep {
    fn name(&self) -> &'static str {
        "notify-assigned-rep"
    }

    fn interested(&self, event: &CrmEvent) -> bool {
        matches!(event, CrmEvent::Lead(LeadEvent::Assigned { .. }))
    }

    fn react(&self, trigger: &Trigger) -> Vec<Step> {
        let (
            CrmEvent::Lead(LeadEvent::Assigned {
                rep, decision, at, ..
            }),
            AggregateState::Lead(lead),
        ) = (&trigger.event, &trigger.state)
        else {
            return Vec::new();
        };
        let Some(lead_id) = lead.id else {
            return Vec::new();
        };
        // A calendar that cannot place the deadline (no opening hours at all) still notifies:
        // the message then says so instead of naming a time.
        let respond_by = self
            .settings
            .calendar
            .add_business_time(*at, self.settings.response_window)
            .ok();
        let base = self.settings.link_base.trim_end_matches('/');
        vec![Step {
            name: "notify-rep",
            effect: Effect::NotifyRep {
                rep: *rep,
                team: decision.team,
                message: OutboxMessage {
                    id: derive_id(trigger.recorded.id, "notify-rep"),
                    destination: REP_NOTIFICATIONS.to_owned(),
                    idempotency_key: format!("lead-assigned:{}", trigger.recorded.id),
                    payload: json!({
                        "type": "lead-assigned",
                        "lead": lead_id.0,
                        "rep": rep.0,
                        "team": decision.team.0,
                        "assigned_at": at,
                        "respond_by": respond_by,
                        "requested_at": lead.requested_at,
                        "reassignment": lead.reassignments,
                        "link": format!("{base}/leads/{}", lead_id.0),
                    }),
                    created_at: *at,
                },
            },
        }]
    }
}
