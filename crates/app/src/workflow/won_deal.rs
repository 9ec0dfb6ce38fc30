//! A won deal opens an onboarding ticket for its contact and tells the ERP.

use crm_domain::opportunity::OpportunityEvent;
use crm_domain::ticket::TicketCommand;
use crm_domain::{Channel, Priority, TicketId};
use crm_projections::CrmEvent;
use serde_json::json;

use super::{AggregateState, Effect, Reaction, Step, Trigger};
use crate::ids::derive_id;
use crate::uow::OutboxMessage;

/// The outbox destination of messages to the ERP.
pub const ERP_DESTINATION: &str = "erp";

/// The won-deal reaction: on `OpportunityWon`, step `onboarding-ticket` opens a ticket
/// "Onboarding: \<deal>" for the deal's contact (the survivor, if the contact was merged), and
/// step `erp-order` writes a `deal-won` message for the ERP to the outbox, keyed
/// `deal-won:<opportunity id>` so the ERP never books one deal twice.
///
/// Delivery: at least once per `OpportunityWon`; the ticket is opened exactly once (its id and
/// key derive from the event) and the message written once (its id derives from the event; the
/// relay then delivers it at least once under its key).
#[derive(Debug, Clone, Copy, Default)]
pub struct StartOnboarding;

impl Reaction for StartOnboarding {
    fn name(&self) -> &'static str {
        "start-onboarding"
    }

    fn interested(&self, event: &CrmEvent) -> bool {
        matches!(event, CrmEvent::Opportunity(OpportunityEvent::Won { .. }))
    }

    fn react(&self, trigger: &Trigger) -> Vec<Step> {
        let (
            CrmEvent::Opportunity(OpportunityEvent::Won { at, .. }),
            AggregateState::Opportunity(state),
        ) = (&trigger.event, &trigger.state)
        else {
            return Vec::new();
        };
        let Some(deal) = &state.deal else {
            return Vec::new();
        };
        let ticket = TicketId(derive_id(trigger.recorded.id, "onboarding-ticket"));
        vec![
            Step {
                name: "onboarding-ticket",
                effect: Effect::Ticket(
                    ticket,
                    TicketCommand::Open {
                        ticket,
                        contact: deal.contact,
                        subject: format!("Onboarding: {}", deal.name),
                        channel: Channel::Web,
                        priority: Priority::Normal,
                        message: None,
                        follow_up_of: None,
                        account: deal.company,
                    },
                ),
            },
            Step {
                name: "erp-order",
                effect: Effect::Send(OutboxMessage {
                    id: derive_id(trigger.recorded.id, "erp-order"),
                    destination: ERP_DESTINATION.to_owned(),
                    idempotency_key: format!("deal-won:{}", deal.id.0),
                    payload: json!({
                        "type": "deal-won",
                        "opportunity": deal.id.0,
                        "contact": deal.contact.0,
                        "owner": deal.owner.0,
                        "amount_minor": deal.amount.minor,
                        "currency": deal.amount.currency.as_str(),
                        "won_at": at,
                    }),
                    created_at: *at,
                }),
            },
        ]
    }
}
