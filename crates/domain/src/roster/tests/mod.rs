//! Given/when/then and properties of the roster's aggregates, one file each.

mod rep;
mod team;
mod territory_map;

use chrono::{DateTime, Utc};
use proptest::prelude::*;

use crate::context::{Actor, Context};
use crate::ids::UserId;
use crate::testing::{ALICE, context_at, t0_plus_minutes};

/// The actor of test contexts ([`crate::testing::context`] acts as Alice).
fn alice() -> Actor {
    Actor::User { id: ALICE }
}

/// A fourth rep.
const DAVE: UserId = UserId(uuid::Uuid::from_u128(0xda7e));

/// A context within ten hours of `t0()`, acting as a user or as the system.
fn arb_context() -> impl Strategy<Value = Context> {
    (0i64..600, any::<bool>()).prop_map(|(minutes, system)| {
        let mut ctx = context_at(t0_plus_minutes(minutes));
        if system {
            ctx.actor = Actor::System {
                component: "presence-sync".into(),
            };
        }
        ctx
    })
}

/// Checks that every event survives encode/decode and that its serde tag is its type name.
fn check_round_trip<E: crate::DomainEvent>(events: &[E]) {
    for event in events {
        let encoded = crate::encode(event).expect("encodes");
        let tagged = serde_json::to_value(event).expect("serializes");
        assert_eq!(
            tagged["type"], encoded.event_type,
            "serde name and event_type() differ"
        );
        let back: E = crate::decode(encoded.event_type, encoded.schema_version, encoded.payload)
            .expect("decodes");
        assert_eq!(&back, event);
    }
}

/// `t0()` plus `hours`.
fn t0_plus_hours(hours: i64) -> DateTime<Utc> {
    t0_plus_minutes(hours * 60)
}
