//! What a read model folds: a domain event with its place in the global order, its stream and
//! its tenant.

use std::fmt;

use chrono::{DateTime, Utc};
use crm_domain::Actor;
use crm_domain::account::{AccountEvent, AccountHierarchyEvent};
use crm_domain::activity::ActivityEvent;
use crm_domain::contact::ContactEvent;
use crm_domain::forecast::ForecastEvent;
use crm_domain::lead::LeadEvent;
use crm_domain::opportunity::OpportunityEvent;
use crm_domain::task::TaskEvent;
use crm_domain::ticket::TicketEvent;
use crm_eventstore::{GlobalPosition, TenantId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The kinds of aggregate whose events the read models fold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateKind {
    /// `crm_domain::lead`, streams `"lead-<uuid>"`.
    Lead,
    /// `crm_domain::contact`, streams `"contact-<uuid>"`.
    Contact,
    /// `crm_domain::opportunity`, streams `"opportunity-<uuid>"`.
    Opportunity,
    /// `crm_domain::ticket`, streams `"ticket-<uuid>"`.
    Ticket,
    /// `crm_domain::forecast`, streams `"forecast-<uuid>"`.
    Forecast,
    /// `crm_domain::account`, streams `"account-<uuid>"`.
    Account,
    /// `crm_domain::account::AccountHierarchy`, one stream per tenant,
    /// `"account_hierarchy-<uuid>"`.
    AccountHierarchy,
    /// `crm_domain::activity`, streams `"activity-<uuid>"`.
    Activity,
    /// `crm_domain::task`, streams `"task-<uuid>"`.
    Task,
}

impl AggregateKind {
    /// Every kind.
    pub const ALL: [AggregateKind; 9] = [
        AggregateKind::Lead,
        AggregateKind::Contact,
        AggregateKind::Opportunity,
        AggregateKind::Ticket,
        AggregateKind::Forecast,
        AggregateKind::Account,
        AggregateKind::AccountHierarchy,
        AggregateKind::Activity,
        AggregateKind::Task,
    ];

    /// The stream category, the aggregate's `KIND` (`"lead"`).
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateKind::Lead => "lead",
            AggregateKind::Contact => "contact",
            AggregateKind::Opportunity => "opportunity",
            AggregateKind::Ticket => "ticket",
            AggregateKind::Forecast => "forecast",
            AggregateKind::Account => "account",
            AggregateKind::AccountHierarchy => "account_hierarchy",
            AggregateKind::Activity => "activity",
            AggregateKind::Task => "task",
        }
    }

    /// The kind whose stream category is `category`, if it is one of ours.
    pub fn from_category(category: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == category)
    }
}

impl fmt::Display for AggregateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stream: the aggregate kind and the aggregate's id, named `"<kind>-<uuid>"` in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StreamRef {
    /// The aggregate kind.
    pub kind: AggregateKind,
    /// The aggregate's id.
    pub id: Uuid,
}

impl StreamRef {
    /// The stream of aggregate `id` of `kind`.
    pub const fn new(kind: AggregateKind, id: Uuid) -> Self {
        Self { kind, id }
    }
}

impl fmt::Display for StreamRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.kind, self.id)
    }
}

/// An event of any aggregate the read models know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "aggregate", content = "event", rename_all = "snake_case")]
#[expect(
    clippy::large_enum_variant,
    reason = "events are decoded once and folded in place; a box would add an allocation per event"
)]
pub enum CrmEvent {
    /// A lead's event.
    Lead(LeadEvent),
    /// A contact's event.
    Contact(ContactEvent),
    /// An opportunity's event.
    Opportunity(OpportunityEvent),
    /// A ticket's event.
    Ticket(TicketEvent),
    /// A forecast's event (an owner's or manager's call for a period).
    Forecast(ForecastEvent),
    /// An account's event (a company: profile, owner, contacts and their roles).
    Account(AccountEvent),
    /// An event of the tenant's account hierarchy (an account's parent changed).
    AccountHierarchy(AccountHierarchyEvent),
    /// An activity's event (a call, email, meeting or note logged, amended, cancelled).
    Activity(ActivityEvent),
    /// A task's event.
    Task(TaskEvent),
}

impl CrmEvent {
    /// The kind of aggregate that recorded the event.
    pub fn aggregate_kind(&self) -> AggregateKind {
        match self {
            CrmEvent::Lead(_) => AggregateKind::Lead,
            CrmEvent::Contact(_) => AggregateKind::Contact,
            CrmEvent::Opportunity(_) => AggregateKind::Opportunity,
            CrmEvent::Ticket(_) => AggregateKind::Ticket,
            CrmEvent::Forecast(_) => AggregateKind::Forecast,
            CrmEvent::Account(_) => AggregateKind::Account,
            CrmEvent::AccountHierarchy(_) => AggregateKind::AccountHierarchy,
            CrmEvent::Activity(_) => AggregateKind::Activity,
            CrmEvent::Task(_) => AggregateKind::Task,
        }
    }

    /// The contacts an erasure erases: the erased contact and those it had absorbed (none
    /// for any other event).
    pub fn erased_contacts(&self) -> Vec<crm_domain::ContactId> {
        match self {
            CrmEvent::Contact(ContactEvent::Erased {
                contact_id,
                absorbed,
                ..
            }) => std::iter::once(*contact_id)
                .chain(absorbed.iter().copied())
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// One event as read models receive it: the domain event, where it sits in the store's global
/// order, when the store recorded it, its stream and its tenant.
///
/// Events are ordered by ([`transaction`](Self::transaction), [`position`](Self::position)),
/// the store's [`GlobalPosition`]: strictly increasing in the order a projector receives
/// events, so "processed through P" is a complete description of progress. `position` alone
/// is unique but not ordered that way (PostgreSQL draws positions before commit, so a later
/// transaction may hold a smaller one); every "already applied?" comparison therefore uses
/// [`global_position`](Self::global_position). (Changed for the runner: the store's order is
/// a pair, and comparing positions alone would skip events of concurrent transactions.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectedEvent {
    /// The store's position: unique within the store, gaps allowed; orders events within one
    /// transaction.
    pub position: u64,
    /// The id of the transaction that appended the event (ordered like commits are read).
    pub transaction: u64,
    /// When the store recorded the event (not when it happened: that is the event's `at`).
    pub recorded_at: DateTime<Utc>,
    /// The tenant the stream belongs to (the store's [`TenantId`], in its canonical form).
    /// Every event of a page shares one allocation of the name.
    pub tenant: TenantId,
    /// The stream the event belongs to.
    pub stream: StreamRef,
    /// The event itself.
    pub event: CrmEvent,
    /// Who acted, as the command that recorded the event named it in the event's metadata
    /// (`None`: the metadata names nobody, or not in a form this version reads). The
    /// Customer 360 shows it as the source of the fields the event set where the event itself
    /// does not say who acted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
}

impl ProjectedEvent {
    /// The same event, acted by whom the stored metadata's `actor` names (read leniently: a
    /// value that is not an [`Actor`] is nobody, never an error, since metadata is not part of
    /// the event's schema).
    #[must_use]
    pub fn acted_by(mut self, actor: Option<serde_json::Value>) -> Self {
        self.actor = actor.and_then(|value| serde_json::from_value(value).ok());
        self
    }

    /// The event's place in its tenant's global order: (transaction, position).
    pub fn global_position(&self) -> GlobalPosition {
        GlobalPosition {
            transaction: self.transaction,
            position: self.position,
        }
    }
}
