//! # crm-domain
//!
//! The pure core of crm-core: aggregates that take commands and emit events, and policies
//! that are plain functions over plain data. Nothing here performs I/O, reads a clock or
//! draws random numbers; time, the actor and fresh ids arrive in a [`Context`], so every
//! decision can be reproduced by replaying it.
//!
//! Each aggregate implements [`Aggregate`]: `decide(&state, command, &ctx)` validates and
//! returns events (or a typed error), `evolve(state, &event)` applies a recorded fact, and
//! replaying a stream's events rebuilds the state exactly.
//!
//! The aggregates: [`lead`], [`contact`], [`opportunity`], [`ticket`], [`forecast`] (an
//! owner's forecast call for a month or quarter, with owner and manager adjustments apart),
//! and the sales [`roster`] (reps, teams with their routing state, the territory map).
//! [`account`]: companies with their domains, addresses and the contacts' roles, and the
//! tenant's [`AccountHierarchy`](account::AccountHierarchy) (every parent link in one stream,
//! so no move can close a cycle); [`activity`]: calls, emails, meetings and notes logged on
//! the records they name (a logged call or email on a lead is a touch); [`task`]: work a user
//! owes by a due time, with what the scheduler needs to remind them.
//!
//! Administrators' [`custom_fields`]: per-entity field definitions and validation rules in
//! versioned configuration, the values events record, and the filters read models evaluate.

pub mod account;
pub mod activity;
pub mod aggregate;
pub mod channel;
pub mod contact;
pub mod context;
pub mod custom_fields;
pub mod forecast;
pub mod identity;
pub mod ids;
pub mod json_depth;
pub mod lead;
pub mod money;
pub mod opportunity;
pub mod personal;
pub mod priority;
pub mod roster;
pub mod routing;
pub mod scoring;
pub mod sla;
pub mod sync;
pub mod task;
pub mod ticket;

#[cfg(test)]
pub(crate) mod testing;

pub use aggregate::{Aggregate, CodecError, DomainEvent, EncodedEvent, decode, decode_ref, encode};
pub use channel::Channel;
pub use context::{Actor, Context};
pub use ids::{
    AccountId, ActivityId, CompanyId, ContactId, ForecastId, LeadId, OpportunityId, RecordRef,
    TaskId, TeamId, TicketId, UserId,
};
pub use json_depth::MAX_JSON_DEPTH;
pub use money::{Currency, Money, MoneyError, Probability};
pub use personal::DataSubject;
pub use priority::Priority;

/// The README's examples, compiled and run as doc tests so they stay true.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
