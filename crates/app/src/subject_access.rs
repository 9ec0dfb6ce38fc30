//! Subject access (GDPR Art. 15): everything the CRM holds about a person, in one JSON
//! document.
//!
//! [`subject_access`] starts from one contact and follows what the history says is the same
//! person: the contacts merged with it (either way, transitively) and the leads converted
//! into them. It then finds, in the tenant's history, every deal and ticket opened for one of
//! those contacts (their contact is fixed when they open), every task about the person or
//! concerning one of these records, and every activity ever logged on one of them, and
//! exports every event of all of these records with its personal fields decrypted, with who
//! recorded it, when and from where. Integration messages in the outbox that name one of the
//! records are included too.
//!
//! The history is the authority, not a read model: nothing recorded a moment ago can be
//! missing. Finding the deals and tickets reads the tenant's whole history once, which suits
//! a request a data-protection officer makes, not a request path.
//!
//! An erased person's export shows the erasure and the fields as erased markers: what is
//! held after an erasure is exactly that.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::{DateTime, Utc};
use crm_domain::activity::{ActivityChange, ActivityEvent};
use crm_domain::contact::Contact;
use crm_domain::opportunity::OpportunityEvent;
use crm_domain::task::TaskEvent;
use crm_domain::ticket::TicketEvent;
use crm_domain::{ContactId, LeadId, RecordRef};
use crm_eventstore::{EventStore as _, RecordedEvent, StoreError, StreamId, StreamRead, TenantId};
use serde::Serialize;
use thiserror::Error;
use uuid::Uuid;

use crate::command::CommandService;
use crate::uow::{OutboxEntry, UnitOfWork, WorkError};

/// Why an export could not be made.
#[derive(Debug, Error)]
pub enum SubjectAccessError {
    /// The contact asked for does not exist in the tenant.
    #[error("no such contact: {0}")]
    NotFound(ContactId),
    /// A contact could not be loaded (its stream cannot be decoded, say).
    #[error("contact {contact} cannot be read: {reason}")]
    Unreadable {
        /// The contact.
        contact: ContactId,
        /// Why.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The application's tables failed.
    #[error(transparent)]
    Work(#[from] WorkError),
}

impl SubjectAccessError {
    /// Whether trying again may succeed (the store or the database was unavailable).
    pub fn is_retryable(&self) -> bool {
        match self {
            SubjectAccessError::Store(error) => error.is_retryable(),
            SubjectAccessError::Work(error) => error.is_retryable(),
            SubjectAccessError::NotFound(_) | SubjectAccessError::Unreadable { .. } => false,
        }
    }
}

/// Everything held about one person.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubjectAccessExport {
    /// The tenant.
    pub tenant: String,
    /// The contact the request named.
    pub contact: Uuid,
    /// When the export was made.
    pub exported_at: DateTime<Utc>,
    /// Whether the person was erased (their fields then read as erased markers).
    pub erased: bool,
    /// Every contact that is the same person (the one asked for first).
    pub contacts: Vec<Uuid>,
    /// The leads converted into them.
    pub leads: Vec<Uuid>,
    /// The deals opened for them.
    pub opportunities: Vec<Uuid>,
    /// The tickets opened for them.
    pub tickets: Vec<Uuid>,
    /// The tasks about them, or concerning one of their records.
    pub tasks: Vec<Uuid>,
    /// The calls, emails, meetings and notes logged on one of their records.
    pub activities: Vec<Uuid>,
    /// Every record's history, by stream name.
    pub records: BTreeMap<String, Vec<HeldFact>>,
    /// Integration messages naming one of the records, delivered or not.
    pub integration_messages: Vec<HeldMessage>,
}

/// One recorded fact about the person, decrypted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldFact {
    /// Its version in the record's history.
    pub version: u64,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the CRM recorded it.
    pub recorded_at: DateTime<Utc>,
    /// Who recorded it (user, system or integration), as stored.
    pub actor: Option<serde_json::Value>,
    /// The system the fact came from, and its own time.
    pub source: Option<crm_eventstore::Source>,
    /// The fact, personal fields decrypted (or erased markers).
    pub data: serde_json::Value,
}

/// An integration message that names one of the person's records.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldMessage {
    /// Where it goes.
    pub destination: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When it was delivered, if it was.
    pub delivered_at: Option<DateTime<Utc>>,
    /// What it carries.
    pub payload: serde_json::Value,
}

/// Exports everything held about the person behind `contact`, as of `now`; see the
/// [module documentation](self).
pub async fn subject_access<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    contact: ContactId,
    now: DateTime<Utc>,
) -> Result<SubjectAccessExport, SubjectAccessError> {
    let (contacts, leads, erased) = same_person(service, tenant, contact).await?;
    let Held {
        opportunities,
        tickets,
        tasks,
        activities,
    } = held_for(service, tenant, &contacts, &leads).await?;
    let streams = contacts
        .iter()
        .map(|id| format!("contact-{}", id.0))
        .chain(leads.iter().map(|id| format!("lead-{}", id.0)))
        .chain(opportunities.iter().map(|id| format!("opportunity-{id}")))
        .chain(tickets.iter().map(|id| format!("ticket-{id}")))
        .chain(tasks.iter().map(|id| format!("task-{id}")))
        .chain(activities.iter().map(|id| format!("activity-{id}")));
    let store = service.work().store();
    let mut records = BTreeMap::new();
    for name in streams {
        let stream = StreamId::new(&name)?;
        let events = store
            .read_stream(tenant, &stream, StreamRead::forward())
            .await?;
        records.insert(name, events.into_iter().map(held_fact).collect());
    }
    let ids: Vec<String> = contacts
        .iter()
        .map(|id| id.0.to_string())
        .chain(leads.iter().map(|id| id.0.to_string()))
        .chain(opportunities.iter().map(Uuid::to_string))
        .chain(tickets.iter().map(Uuid::to_string))
        .chain(tasks.iter().map(Uuid::to_string))
        .chain(activities.iter().map(Uuid::to_string))
        .collect();
    let integration_messages = service
        .work()
        .outbox(tenant)
        .await?
        .into_iter()
        .filter(|entry| names_any(entry, &ids))
        .map(|entry| HeldMessage {
            destination: entry.message.destination,
            created_at: entry.message.created_at,
            delivered_at: entry.delivered_at,
            payload: entry.message.payload,
        })
        .collect();
    Ok(SubjectAccessExport {
        tenant: tenant.as_str().to_owned(),
        contact: contact.0,
        exported_at: now,
        erased,
        contacts: contacts.iter().map(|id| id.0).collect(),
        leads: leads.iter().map(|id| id.0).collect(),
        opportunities: opportunities.into_iter().collect(),
        tickets: tickets.into_iter().collect(),
        tasks: tasks.into_iter().collect(),
        activities: activities.into_iter().collect(),
        records,
        integration_messages,
    })
}

/// The contacts that are the same person as `contact` (it first), the leads converted into
/// them, and whether the person was erased.
async fn same_person<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    contact: ContactId,
) -> Result<(Vec<ContactId>, BTreeSet<LeadId>, bool), SubjectAccessError> {
    let mut pending = VecDeque::from([contact]);
    let mut seen = BTreeSet::new();
    let mut contacts = Vec::new();
    let mut leads = BTreeSet::new();
    let mut erased = false;
    while let Some(next) = pending.pop_front() {
        if !seen.insert(next) {
            continue;
        }
        let (state, _) = service
            .load::<Contact>(tenant, next.0)
            .await
            .map_err(|error| SubjectAccessError::Unreadable {
                contact: next,
                reason: error.to_string(),
            })?;
        if state.id.is_none() {
            if next == contact {
                return Err(SubjectAccessError::NotFound(contact));
            }
            continue;
        }
        erased |= state.erasure.is_some();
        pending.extend(state.merged_into());
        pending.extend(state.absorbed_contacts());
        if let Some(erasure) = &state.erasure {
            pending.extend(erasure.absorbed.iter().copied());
            pending.extend(erasure.merged_into);
            leads.extend(erasure.leads.iter().copied());
        }
        leads.extend(state.source_leads.iter().copied());
        contacts.push(next);
    }
    Ok((contacts, leads, erased))
}

/// The records of the tenant that hold the person's data besides their contacts and leads.
#[derive(Default)]
struct Held {
    opportunities: BTreeSet<Uuid>,
    tickets: BTreeSet<Uuid>,
    tasks: BTreeSet<Uuid>,
    activities: BTreeSet<Uuid>,
}

/// The deals and tickets opened for one of `contacts`, the tasks about the person (or
/// concerning one of their records) and the activities logged on one of their records, found
/// in the tenant's history in one pass.
async fn held_for<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    contacts: &[ContactId],
    leads: &BTreeSet<LeadId>,
) -> Result<Held, SubjectAccessError> {
    let wanted: BTreeSet<ContactId> = contacts.iter().copied().collect();
    let mut held = Held::default();
    // Tasks and activities name records that may be found later in the pass: kept aside,
    // then matched against every record found.
    let mut task_records: Vec<(Uuid, Vec<RecordRef>)> = Vec::new();
    let mut activity_records: Vec<(Uuid, Vec<RecordRef>)> = Vec::new();
    crate::history::each_event(service.work().store(), tenant, |event| {
        let name = event.stream.as_str();
        let Some((kind, id)) = name.split_once('-') else {
            return;
        };
        let Ok(id) = Uuid::parse_str(id) else {
            return;
        };
        match kind {
            // A deal's or a ticket's contact is named when it opens, its first event.
            "opportunity" if event.version == 1 => {
                let opened = crm_domain::decode::<OpportunityEvent>(
                    &event.event_type,
                    event.schema_version,
                    event.payload,
                );
                if let Ok(OpportunityEvent::Opened { contact, .. }) = opened
                    && wanted.contains(&contact)
                {
                    held.opportunities.insert(id);
                }
            }
            "ticket" if event.version == 1 => {
                let opened = crm_domain::decode::<TicketEvent>(
                    &event.event_type,
                    event.schema_version,
                    event.payload,
                );
                if let Ok(TicketEvent::Opened { contact, .. }) = opened
                    && wanted.contains(&contact)
                {
                    held.tickets.insert(id);
                }
            }
            // A task's record and person are set when it is created.
            "task" if event.version == 1 => {
                let created = crm_domain::decode::<TaskEvent>(
                    &event.event_type,
                    event.schema_version,
                    event.payload,
                );
                if let Ok(created @ TaskEvent::Created { concerns, .. }) = created {
                    let named = concerns.into_iter().chain(created.person()).collect();
                    task_records.push((id, named));
                }
            }
            // An activity's records are set when it is logged and may be amended.
            "activity" => {
                let logged = crm_domain::decode::<ActivityEvent>(
                    &event.event_type,
                    event.schema_version,
                    event.payload,
                );
                if let Ok(
                    ActivityEvent::Logged { records, .. }
                    | ActivityEvent::Amended {
                        change: ActivityChange::Records(records),
                        ..
                    },
                ) = logged
                {
                    activity_records.push((id, records));
                }
            }
            _ => {}
        }
    })
    .await?;
    let theirs = |record: &RecordRef| match record {
        RecordRef::Contact(contact) => wanted.contains(contact),
        RecordRef::Lead(lead) => leads.contains(lead),
        RecordRef::Opportunity(deal) => held.opportunities.contains(&deal.0),
        RecordRef::Ticket(ticket) => held.tickets.contains(&ticket.0),
        RecordRef::Account(_) => false,
    };
    let naming_theirs = |records: &[(Uuid, Vec<RecordRef>)]| -> BTreeSet<Uuid> {
        records
            .iter()
            .filter(|(_, named)| named.iter().any(theirs))
            .map(|(id, _)| *id)
            .collect()
    };
    let (tasks, activities) = (
        naming_theirs(&task_records),
        naming_theirs(&activity_records),
    );
    held.tasks = tasks;
    held.activities = activities;
    Ok(held)
}

fn held_fact(event: RecordedEvent) -> HeldFact {
    HeldFact {
        version: event.version,
        event_type: event.event_type,
        recorded_at: event.recorded_at,
        actor: event.metadata.actor,
        source: event.metadata.source,
        data: event.payload,
    }
}

/// Whether `entry`'s payload names one of `ids` anywhere in it.
fn names_any(entry: &OutboxEntry, ids: &[String]) -> bool {
    fn walk(value: &serde_json::Value, ids: &[String]) -> bool {
        match value {
            serde_json::Value::String(text) => ids.iter().any(|id| text.contains(id.as_str())),
            serde_json::Value::Array(items) => items.iter().any(|item| walk(item, ids)),
            serde_json::Value::Object(members) => members.values().any(|item| walk(item, ids)),
            _ => false,
        }
    }
    walk(&entry.message.payload, ids)
}
