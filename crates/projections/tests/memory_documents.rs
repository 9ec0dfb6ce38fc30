//! The in-memory store, the reference every adapter must equal: documents named by an event
//! and found through links are written, redeliveries change nothing, a model touching what it
//! never named halts the store, scans filter and order on indexed columns.

use crm_domain::ticket::{ReopenCause, TicketEvent};
use crm_domain::{Channel, ContactId, Priority, TicketId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crm_eventstore::GlobalPosition;
use crm_projections::{
    ColumnType, CrmEvent, DocKey, DocSet, Filter, IndexValue, Indexed, IndexedColumn,
    MemoryDocuments, ProjectedEvent, ProjectionError, ReadModel, Scan, Selection,
};
use crm_testkit::world::{EventLog, alice, minutes, tenant};

/// Counts replies per ticket and tickets per contact; a reopen counts on the contact found
/// through the ticket's link.
#[derive(Debug, Clone, Copy)]
struct Counts {
    /// Touch a document nobody named, to check that the store catches it.
    sloppy: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum CountDoc {
    Ticket { contact: Uuid, replies: u32 },
    Contact { tickets: u32, reopened: u32 },
}

fn ticket_key(id: Uuid) -> DocKey {
    DocKey::new("ticket", id)
}

fn contact_key(id: Uuid) -> DocKey {
    DocKey::new("contact", id)
}

impl ReadModel for Counts {
    const NAME: &'static str = "counts";
    const VERSION: u32 = 1;
    const KINDS: &'static [&'static str] = &["ticket", "contact"];
    const COLUMNS: &'static [IndexedColumn] = &[IndexedColumn::new("replies", ColumnType::Int)];
    type Doc = CountDoc;

    fn keys(&self, event: &ProjectedEvent, keys: &mut Vec<DocKey>) {
        let CrmEvent::Ticket(ticket) = &event.event else {
            return;
        };
        keys.push(ticket_key(event.stream.id));
        if let TicketEvent::Opened { contact, .. } = ticket {
            keys.push(contact_key(contact.0));
        }
    }

    fn linked_keys(&self, event: &ProjectedEvent, docs: &DocSet<CountDoc>, keys: &mut Vec<DocKey>) {
        if let CrmEvent::Ticket(TicketEvent::Reopened { .. }) = &event.event
            && let Some(CountDoc::Ticket { contact, .. }) = docs.get(&ticket_key(event.stream.id))
        {
            keys.push(contact_key(*contact));
        }
    }

    fn apply(&self, docs: &mut DocSet<CountDoc>, event: &ProjectedEvent) {
        let CrmEvent::Ticket(ticket) = &event.event else {
            return;
        };
        let key = ticket_key(event.stream.id);
        match ticket {
            TicketEvent::Opened { contact, .. } => {
                let _ = docs.insert(
                    &key,
                    CountDoc::Ticket {
                        contact: contact.0,
                        replies: 0,
                    },
                );
                if let Some(CountDoc::Contact { tickets, .. }) =
                    docs.get_or_insert_with(&contact_key(contact.0), || CountDoc::Contact {
                        tickets: 0,
                        reopened: 0,
                    })
                {
                    *tickets += 1;
                }
            }
            TicketEvent::AgentReplied { .. } => {
                if let Some(CountDoc::Ticket { replies, .. }) = docs.get_mut(&key) {
                    *replies += 1;
                }
                if self.sloppy {
                    let _ = docs.get_mut(&contact_key(Uuid::nil()));
                }
            }
            TicketEvent::Reopened { .. } => {
                let contact = match docs.get(&key) {
                    Some(CountDoc::Ticket { contact, .. }) => *contact,
                    _ => return,
                };
                if let Some(CountDoc::Contact { reopened, .. }) =
                    docs.get_mut(&contact_key(contact))
                {
                    *reopened += 1;
                }
            }
            _ => {}
        }
    }

    fn indexed(_key: &DocKey, doc: &CountDoc) -> Indexed {
        match doc {
            CountDoc::Ticket { replies, .. } => {
                vec![("replies", IndexValue::Int(i64::from(*replies)))]
            }
            CountDoc::Contact { .. } => Vec::new(),
        }
    }
}

const CONTACT: Uuid = Uuid::from_u128(0xc0);

fn opened(ticket: Uuid) -> TicketEvent {
    TicketEvent::Opened {
        ticket: TicketId(ticket),
        contact: ContactId(CONTACT),
        subject: "Invoice".into(),
        channel: Channel::Email,
        priority: Priority::Normal,
        follow_up_of: None,
        account: None,
        by: alice(),
        at: minutes(0),
    }
}

fn replied() -> TicketEvent {
    TicketEvent::AgentReplied {
        body: "On it".into(),
        channel: Channel::Email,
        first_response: false,
        by: alice(),
        at: minutes(1),
    }
}

fn reopened() -> TicketEvent {
    TicketEvent::Reopened {
        cause: ReopenCause::Requested {
            reason: "again".into(),
        },
        by: alice(),
        at: minutes(2),
    }
}

fn two_tickets() -> EventLog {
    let mut log = EventLog::new();
    let (first, second) = (Uuid::from_u128(1), Uuid::from_u128(2));
    log.ticket(first, [opened(first), replied(), replied()]);
    log.ticket(second, [opened(second), replied()]);
    log.ticket(first, [reopened()]);
    log
}

#[test]
fn documents_named_by_the_event_and_through_links_are_written() {
    let log = two_tickets();
    let store = MemoryDocuments::fold(Counts { sloppy: false }, &log.events).unwrap();
    assert_eq!(
        store.get(&tenant(), &contact_key(CONTACT)),
        Some(&CountDoc::Contact {
            tickets: 2,
            reopened: 1
        })
    );
    assert_eq!(
        store.get(&tenant(), &ticket_key(Uuid::from_u128(1))),
        Some(&CountDoc::Ticket {
            contact: CONTACT,
            replies: 2
        })
    );
    assert_eq!(store.checkpoint().map(|done| done.position), Some(6));
    let stamped = store.stored(&tenant(), &contact_key(CONTACT)).unwrap();
    assert_eq!(
        stamped.position.position, 6,
        "stamped by the reopen found through the link"
    );
}

#[test]
fn events_at_or_below_the_checkpoint_change_nothing() {
    let log = two_tickets();
    let mut store = MemoryDocuments::fold(Counts { sloppy: false }, &log.events).unwrap();
    let before = store.clone();
    store.apply_all(&log.events).unwrap();
    assert_eq!(sorted(&store), sorted(&before));
}

#[test]
fn an_event_redelivered_past_the_checkpoint_changes_no_document_it_changed() {
    let log = two_tickets();
    let once = MemoryDocuments::fold(Counts { sloppy: false }, &log.events).unwrap();
    let mut twice = MemoryDocuments::new(Counts { sloppy: false });
    for event in &log.events {
        twice.apply(event).unwrap();
        twice.redeliver(event).unwrap();
    }
    assert_eq!(sorted(&twice), sorted(&once));
}

#[test]
fn changing_an_unnamed_document_halts_the_store() {
    let log = two_tickets();
    let mut store = MemoryDocuments::new(Counts { sloppy: true });
    let error = store.apply_all(&log.events).unwrap_err();
    assert_eq!(
        error,
        ProjectionError::UndeclaredKey {
            model: "counts",
            position: 2,
            key: contact_key(Uuid::nil()),
        }
    );
    assert_eq!(store.checkpoint().map(|done| done.position), Some(1));
    assert!(matches!(
        store.apply(&log.events[2]),
        Err(ProjectionError::Halted { position: 2, .. })
    ));
}

#[test]
fn a_scan_filters_and_orders_on_indexed_columns() {
    struct Busiest;
    impl Scan<CountDoc> for Busiest {
        type Answer = Vec<(Uuid, u32)>;
        fn selection(&self) -> Selection {
            Selection::all("ticket")
                .filter(Filter::ge("replies", IndexValue::Int(1)))
                .order_by("replies")
        }
        fn answer<'a, I>(&self, docs: I) -> Self::Answer
        where
            I: Iterator<Item = (&'a DocKey, &'a CountDoc)>,
        {
            docs.filter_map(|(key, doc)| match doc {
                CountDoc::Ticket { replies, .. } => Some((key.id, *replies)),
                CountDoc::Contact { .. } => None,
            })
            .collect()
        }
    }
    let log = two_tickets();
    let store = MemoryDocuments::fold(Counts { sloppy: false }, &log.events).unwrap();
    assert_eq!(
        store.scan(&tenant(), &Busiest),
        vec![(Uuid::from_u128(2), 1), (Uuid::from_u128(1), 2)]
    );
    assert_eq!(
        store.scan(&crm_testkit::tenant_id("other"), &Busiest),
        vec![]
    );
}

#[test]
fn doc_keys_read_back_from_their_text() {
    let kinds = Counts::KINDS;
    for key in [
        ticket_key(Uuid::from_u128(9)),
        DocKey::pair("contact", Uuid::from_u128(1), Uuid::from_u128(2)),
    ] {
        assert_eq!(DocKey::parse(kinds, &key.to_string()), Some(key));
    }
    assert_eq!(
        DocKey::parse(kinds, "deal:00000000-0000-0000-0000-000000000001"),
        None
    );
}

fn sorted(store: &MemoryDocuments<Counts>) -> Vec<(DocKey, GlobalPosition, CountDoc)> {
    let mut docs: Vec<_> = store
        .documents(&tenant())
        .map(|stored| (stored.key, stored.position, stored.doc.clone()))
        .collect();
    docs.sort_by_key(|(key, ..)| *key);
    docs
}
