//! An erasure is passed on to every connected system through the outbox.

use crm_domain::contact::ContactEvent;
use crm_projections::CrmEvent;
use serde_json::json;

use super::{Effect, Reaction, Step, Trigger};
use crate::ids::derive_id;
use crate::uow::OutboxMessage;

/// The erasure reaction: on `ContactErased`, step `erasure-notices` writes one
/// `contact-erased` message per connected system (each an outbox destination) to the outbox,
/// keyed `contact-erased:<contact id>`, so each system erases its own copy of the person once
/// however often it is told. The message names records by id only: the contact, the contacts
/// that are the same person and the leads converted into them, with the legal ground and the
/// time; nothing personal, so the outbox holds none of what was erased.
///
/// Each destination's delivery is its receipt: the outbox records when each was delivered
/// (`OutboxEntry::delivered_at`), and a system that keeps refusing parks its message where an
/// operator sees it. Delivery: at least once per `ContactErased`; each message is written once
/// (its id derives from the event and the destination).
#[derive(Debug, Clone, Default)]
pub struct PropagateErasure {
    destinations: Vec<String>,
}

impl PropagateErasure {
    /// The reaction telling each of `destinations` (outbox destinations).
    pub fn new(destinations: Vec<String>) -> Self {
        Self { destinations }
    }
}

impl Reaction for PropagateErasure {
    fn name(&self) -> &'static str {
        "propagate-erasure"
    }

    fn interested(&self, event: &CrmEvent) -> bool {
        matches!(event, CrmEvent::Contact(ContactEvent::Erased { .. }))
    }

    fn react(&self, trigger: &Trigger) -> Vec<Step> {
        let CrmEvent::Contact(ContactEvent::Erased {
            contact_id,
            request,
            absorbed,
            merged_into,
            leads,
            at,
            ..
        }) = &trigger.event
        else {
            return Vec::new();
        };
        if self.destinations.is_empty() {
            return Vec::new();
        }
        let same_person: Vec<_> = absorbed
            .iter()
            .chain(merged_into)
            .map(|contact| contact.0)
            .collect();
        let messages = self
            .destinations
            .iter()
            .map(|destination| OutboxMessage {
                id: derive_id(
                    trigger.recorded.id,
                    &format!("erasure-notice/{destination}"),
                ),
                destination: destination.clone(),
                idempotency_key: format!("contact-erased:{}", contact_id.0),
                payload: json!({
                    "type": "contact-erased",
                    "contact": contact_id.0,
                    "same_person": same_person,
                    "leads": leads.iter().map(|lead| lead.0).collect::<Vec<_>>(),
                    "legal_basis": request.legal_basis,
                    "requested_at": request.requested_at,
                    "erased_at": at,
                }),
                created_at: *at,
            })
            .collect();
        vec![Step {
            name: "erasure-notices",
            effect: Effect::SendAll(messages),
        }]
    }
}
