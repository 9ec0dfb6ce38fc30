//! The context of a decision: the current time, who acts, and fresh ids.
//!
//! Aggregates never read a clock or draw random numbers; everything that would make a
//! decision irreproducible arrives here, so replaying a command with the same context
//! yields the same events.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::UserId;

/// Who (or what) issued a command. Every kind of actor is recorded, so that changes made by
/// scripts, integrations and automations are as auditable as a person's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// A signed-in user of the CRM.
    User {
        /// The user's id.
        id: UserId,
    },
    /// The CRM itself (a scheduler, a migration).
    System {
        /// Which component acted, e.g. `"sla-scheduler"`.
        component: String,
    },
    /// An external system (a marketing tool, an ERP) acting through an integration.
    Integration {
        /// The source system, e.g. `"hubspot-forms"`.
        source: String,
    },
    /// An automation rule reacting to events.
    Automation {
        /// The rule's name.
        rule: String,
    },
}

impl Actor {
    /// The user behind this actor, if it is a user.
    pub fn user(&self) -> Option<UserId> {
        match self {
            Actor::User { id } => Some(*id),
            _ => None,
        }
    }
}

/// Everything a decision may depend on besides the state and the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The moment the decision is made; becomes the time of the events it emits.
    pub now: DateTime<Utc>,
    /// Who issued the command.
    pub actor: Actor,
    seed: Uuid,
}

impl Context {
    /// A context at `now` for `actor`. `seed` is a freshly made id (a UUIDv7 from the caller);
    /// [`Context::fresh_id`] derives every other id a decision needs from it.
    pub fn new(now: DateTime<Utc>, actor: Actor, seed: Uuid) -> Self {
        Self { now, actor, seed }
    }

    /// The `slot`-th fresh id of this decision. Slot 0 is the seed itself; other slots flip
    /// its last two bytes, which keeps the UUIDv7 version, variant and timestamp (and so
    /// index locality) while giving distinct ids. The same context always yields the same ids.
    pub fn fresh_id(&self, slot: u16) -> Uuid {
        let mut bytes = *self.seed.as_bytes();
        let [hi, lo] = slot.to_be_bytes();
        bytes[14] ^= hi;
        bytes[15] ^= lo;
        Uuid::from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ids_are_distinct_and_reproducible() {
        let ctx = Context::new(
            DateTime::UNIX_EPOCH,
            Actor::System {
                component: "test".into(),
            },
            Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000),
        );
        let ids: Vec<_> = (0..100).map(|slot| ctx.fresh_id(slot)).collect();
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        assert_eq!(ctx.fresh_id(7), ctx.clone().fresh_id(7));
        assert!(ids.iter().all(|id| id.get_version_num() == 7));
    }
}
