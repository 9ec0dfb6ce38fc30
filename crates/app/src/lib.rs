//! # crm-app
//!
//! The application layer: what turns the domain, the event store and the read models into a
//! CRM that runs by itself. The HTTP app, the `crm` binary and the SQLite default stand on it.
//!
//! ## Module map
//!
//! - [`command`]: [`CommandService`], the only writer: load → decide → commit with the
//!   expected version, retried on conflicts, idempotent by key (a retry returns the first
//!   outcome), metadata stamped on every event, personal fields encrypted with their data
//!   subject's key before anything is stored. Start here.
//! - [`uow`]: the [`UnitOfWork`] port (events, idempotency records and outbox messages
//!   committed together) and its backends, [`MemoryUnitOfWork`], [`PostgresUnitOfWork`] and
//!   [`SqliteUnitOfWork`].
//! - [`custom_fields`]: an entity's custom field schema published as a versioned command,
//!   and commands to records decided under the current schema.
//! - [`account_linking`]: contacts linked to the accounts their work email domain, company
//!   domain or company name point to; review-band matches suggested on the account.
//! - [`activities`]: [`log_activity`](activities::log_activity): a call, email, meeting or
//!   note recorded, and counted as the first touch of the leads it names when it is one.
//! - [`backend`]: [`Backend`], one database holding the store, the application's tables and
//!   the read models, and how projectors run there: [`SqliteBackend`] (one file, the
//!   embedded default) and [`PostgresBackend`]. The HTTP app and the `crm` binary are written
//!   once over it.
//! - [`workflow`]: reactions across aggregates (pure functions from an event to the commands
//!   it causes) and the [`WorkflowRunner`] that feeds them from a checkpointed subscription.
//! - [`routing`]: leads routed from the event-sourced roster (territory map → team → rep or
//!   the team's queue), and queues drained when someone becomes available.
//! - [`scheduler`]: the SLA pull-back: untouched leads reclaimed after their response window
//!   (5 business minutes by default) and offered to another rep, escalated after a cap;
//!   tickets escalated when their SLA is at risk or breached; and task owners reminded when a
//!   task is due and again when it is overdue.
//! - [`erasure`]: [`erase_person`]: the erasure recorded on every contact that is the same
//!   person, then their keys and their leads' keys shredded, so every encrypted copy of their
//!   personal data reads as erased.
//! - [`outreach`]: [`send_outreach`](outreach::send_outreach): a message for a purpose on a
//!   channel, refused unless the person's consent allows it (the least permissive of the
//!   contact, the contacts merged into it and the leads they came from), logged and handed to
//!   the outbox once.
//! - [`repair`]: an operator's repairs of a read model while it serves: rebuild in place,
//!   park the event a projection halts at, apply parked events again.
//! - [`subject_access`]: [`subject_access()`](subject_access::subject_access), everything held
//!   about a person as one JSON document, found from the history (GDPR Art. 15).
//! - [`intake`]: lead deliveries kept in a durable inbox on the request path, turned into
//!   received, captured (or quarantined) and routed leads by workers; every delivery one lead.
//! - [`http`]: `crm serve`, the HTTP app: commands, intake and read models under `/v1`,
//!   bearer tokens per tenant and role, problem details, `ETag`/`If-Match`,
//!   `Idempotency-Key`, OpenAPI, health and metrics.
//! - [`host`]: everything above that acts on its own, for one tenant, in one process (`crm
//!   work`), configured from JSON.
//! - [`demo`]: `crm demo`, a realistic data set loaded through the real command paths.
//! - [`clock`]: [`Clock`], where time enters ([`SystemClock`], [`ManualClock`]).
//! - [`ids`]: [`derive_id`], ids derived from the event that caused them.
//! - [`error`]: [`CommandError`], generic over the aggregate's own refusal.

pub mod account_linking;
pub mod activities;
pub mod backend;
pub mod clock;
pub mod command;
pub mod custom_fields;
pub mod demo;
pub mod erasure;
pub mod error;
mod history;
pub mod host;
pub mod http;
pub mod ids;
pub mod intake;
pub mod merging;
pub mod outbox;
pub mod outreach;
pub mod repair;
pub mod routing;
pub mod scheduler;
pub mod subject_access;
pub mod sync_alerts;
pub mod uow;
pub mod workflow;

pub use backend::{Backend, BackendError, PostgresBackend, SqliteBackend};
pub use clock::{Clock, ManualClock, SystemClock};
pub use command::{CommandMeta, CommandService, Executed, Folded, request_digest, stream_of};
pub use erasure::{ErasureError, ErasureReport, erase_person};
pub use error::CommandError;
pub use ids::derive_id;
pub use outbox::{
    Delivery, DestinationError, Destinations, HttpTransport, OutboxHealth, OutboxRelay,
    RelayReport, RelaySettings, Transport,
};
pub use uow::{
    CommandOutcome, Committed, IdempotencyClaim, IdempotencyRecord, MemoryUnitOfWork, NewStream,
    OutboxEntry, OutboxMessage, PostgresUnitOfWork, RequestDigest, SqliteUnitOfWork, UnitOfWork,
    Work, WorkError,
};
pub use workflow::WorkflowRunner;
