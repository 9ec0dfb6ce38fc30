//! The conformance suite of the read models' storage port ([`DocumentStore`]), written once and
//! run for every adapter (crm-projections' `tests/storage.rs`): each check takes a fresh, empty
//! store of the [`Tally`] model and panics when the store breaks the port's contract (feature
//! `projections`).

#![expect(
    clippy::unwrap_used,
    reason = "every check is a test body: a step that fails fails the test"
)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use crm_domain::ticket::TicketEvent;
use crm_domain::{Actor, Channel, ContactId, Priority, TicketId, UserId};
use crm_eventstore::GlobalPosition;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crm_projections::{
    AggregateKind, ColumnType, CrmEvent, DocKey, DocSet, DocumentStore, Filter, Found, IndexValue,
    Indexed, IndexedColumn, Lookup, MemoryDocuments, ParkedEvent, ProjectedEvent, ProjectionBatch,
    ProjectionError, ReadModel, Scan, Selection, StorageError, Stored, StreamRef, TenantId,
};

/// A small model with every column type: tickets with their replies, and tickets per contact.
/// `sloppy` touches a document it never named, to see the store refuse it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    /// Whether to touch a document the event never named (a broken model).
    pub sloppy: bool,
}

/// A document of [`Tally`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TallyDoc {
    /// A ticket.
    Ticket {
        /// The contact it is for.
        contact: Uuid,
        /// Its subject.
        subject: String,
        /// How many times an agent replied.
        replies: u32,
        /// When it was opened.
        opened_at: DateTime<Utc>,
        /// Who it is assigned to.
        assignee: Option<Uuid>,
    },
    /// A contact.
    Contact {
        /// How many tickets were opened for it.
        tickets: u32,
    },
}

const TICKET: &str = "ticket";
const CONTACT: &str = "contact";

impl ReadModel for Tally {
    const NAME: &'static str = "tally";
    const VERSION: u32 = 1;
    const KINDS: &'static [&'static str] = &[TICKET, CONTACT];
    const COLUMNS: &'static [IndexedColumn] = &[
        IndexedColumn::new("replies", ColumnType::Int),
        IndexedColumn::new("subject", ColumnType::Text),
        IndexedColumn::new("opened_at", ColumnType::Time),
        IndexedColumn::new("assigned", ColumnType::Bool),
        IndexedColumn::new("assignee", ColumnType::Uuid),
        // Held by both kinds (a ticket's replies, a contact's tickets), so that scans ordered
        // across kinds have something to merge.
        IndexedColumn::new("tally", ColumnType::Int),
    ];
    type Doc = TallyDoc;

    fn keys(&self, event: &ProjectedEvent, keys: &mut Vec<DocKey>) {
        let CrmEvent::Ticket(ticket) = &event.event else {
            return;
        };
        keys.push(DocKey::new(TICKET, event.stream.id));
        if let TicketEvent::Opened { contact, .. } = ticket {
            keys.push(DocKey::new(CONTACT, contact.0));
        }
    }

    fn apply(&self, docs: &mut DocSet<TallyDoc>, event: &ProjectedEvent) {
        let CrmEvent::Ticket(ticket) = &event.event else {
            return;
        };
        let key = DocKey::new(TICKET, event.stream.id);
        match ticket {
            TicketEvent::Opened {
                contact,
                subject,
                at,
                ..
            } => {
                let _ = docs.insert(
                    &key,
                    TallyDoc::Ticket {
                        contact: contact.0,
                        subject: subject.clone(),
                        replies: 0,
                        opened_at: *at,
                        assignee: None,
                    },
                );
                if let Some(TallyDoc::Contact { tickets }) = docs
                    .get_or_insert_with(&DocKey::new(CONTACT, contact.0), || TallyDoc::Contact {
                        tickets: 0,
                    })
                {
                    *tickets += 1;
                }
            }
            TicketEvent::AgentReplied { .. } => {
                if let Some(TallyDoc::Ticket { replies, .. }) = docs.get_mut(&key) {
                    *replies += 1;
                }
                if self.sloppy {
                    let _ = docs.get_mut(&DocKey::new(CONTACT, Uuid::nil()));
                }
            }
            TicketEvent::Assigned { assignee: user, .. } => {
                if let Some(TallyDoc::Ticket { assignee, .. }) = docs.get_mut(&key) {
                    *assignee = Some(user.0);
                }
            }
            _ => {}
        }
    }

    fn indexed(_key: &DocKey, doc: &TallyDoc) -> Indexed {
        match doc {
            TallyDoc::Ticket {
                subject,
                replies,
                opened_at,
                assignee,
                ..
            } => {
                let mut columns = vec![
                    ("replies", IndexValue::Int(i64::from(*replies))),
                    ("subject", IndexValue::Text(subject.clone())),
                    ("opened_at", IndexValue::Time(*opened_at)),
                    ("assigned", IndexValue::Bool(assignee.is_some())),
                    ("tally", IndexValue::Int(i64::from(*replies))),
                ];
                if let Some(assignee) = assignee {
                    columns.push(("assignee", IndexValue::Uuid(*assignee)));
                }
                columns
            }
            TallyDoc::Contact { tickets } => vec![("tally", IndexValue::Int(i64::from(*tickets)))],
        }
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

fn agent() -> Actor {
    Actor::User {
        id: UserId(Uuid::from_u128(0xa9e47)),
    }
}

/// The tenant the checks write to, `acme`.
pub fn tenant() -> TenantId {
    crate::tenant_id("acme")
}

fn at(transaction: u64, position: u64) -> GlobalPosition {
    GlobalPosition {
        transaction,
        position,
    }
}

/// Builds events with chosen global positions.
struct Events {
    tenant: TenantId,
}

impl Events {
    fn of(tenant: TenantId) -> Self {
        Self { tenant }
    }

    fn event(&self, place: GlobalPosition, ticket: Uuid, event: TicketEvent) -> ProjectedEvent {
        ProjectedEvent {
            position: place.position,
            transaction: place.transaction,
            recorded_at: t0(),
            tenant: self.tenant.clone(),
            stream: StreamRef::new(AggregateKind::Ticket, ticket),
            event: CrmEvent::Ticket(event),
            actor: None,
        }
    }

    fn opened(
        &self,
        place: GlobalPosition,
        ticket: Uuid,
        contact: Uuid,
        subject: &str,
    ) -> ProjectedEvent {
        let minutes = i64::try_from(place.position).unwrap_or(0);
        self.event(
            place,
            ticket,
            TicketEvent::Opened {
                ticket: TicketId(ticket),
                contact: ContactId(contact),
                subject: subject.into(),
                channel: Channel::Email,
                priority: Priority::Normal,
                follow_up_of: None,
                account: None,
                by: agent(),
                at: t0() + Duration::minutes(minutes),
            },
        )
    }

    fn replied(&self, place: GlobalPosition, ticket: Uuid) -> ProjectedEvent {
        self.event(
            place,
            ticket,
            TicketEvent::AgentReplied {
                body: "On it".into(),
                channel: Channel::Email,
                first_response: false,
                by: agent(),
                at: t0(),
            },
        )
    }

    fn assigned(&self, place: GlobalPosition, ticket: Uuid, user: Uuid) -> ProjectedEvent {
        self.event(
            place,
            ticket,
            TicketEvent::Assigned {
                assignee: UserId(user),
                by: agent(),
                at: t0(),
            },
        )
    }
}

const CUSTOMER: Uuid = Uuid::from_u128(0xc0);
const FIRST: Uuid = Uuid::from_u128(1);
const SECOND: Uuid = Uuid::from_u128(2);
const THIRD: Uuid = Uuid::from_u128(3);

/// Three tickets of one customer, with replies and an assignment.
pub fn history(tenant: &TenantId) -> Vec<ProjectedEvent> {
    let events = Events::of(tenant.clone());
    vec![
        events.opened(at(10, 1), FIRST, CUSTOMER, "Printer on fire"),
        events.replied(at(11, 2), FIRST),
        events.opened(at(12, 3), SECOND, CUSTOMER, "Invoice wrong"),
        events.replied(at(13, 4), FIRST),
        events.assigned(at(13, 5), SECOND, Uuid::from_u128(0xb0b)),
        events.opened(at(14, 6), THIRD, CUSTOMER, "Another one"),
    ]
}

/// The reference: the in-memory fold of the same events.
pub fn reference(events: &[ProjectedEvent]) -> Vec<Stored<TallyDoc>> {
    let folded = MemoryDocuments::fold(Tally::default(), events).unwrap();
    let mut docs: Vec<_> = folded.documents(&tenant()).cloned().collect();
    docs.sort_by_key(|stored| stored.key);
    docs
}

/// The global position of the last of `events` (not empty).
pub fn last(events: &[ProjectedEvent]) -> GlobalPosition {
    events.last().unwrap().global_position()
}

/// A commit applies the events, stamps what changed and moves the checkpoint.
pub async fn a_commit_applies_and_moves_the_checkpoint<D: DocumentStore<Tally>>(store: D) {
    let events = history(&tenant());
    assert_eq!(store.checkpoint(&tenant()).await.unwrap(), None);
    store
        .commit(
            &tenant(),
            None,
            &ProjectionBatch::new(events[..3].to_vec(), at(12, 3)),
        )
        .await
        .unwrap();
    store
        .commit(
            &tenant(),
            Some(at(12, 3)),
            &ProjectionBatch::new(events[3..].to_vec(), last(&events)),
        )
        .await
        .unwrap();
    assert_eq!(
        store.checkpoint(&tenant()).await.unwrap(),
        Some(last(&events))
    );
    assert_eq!(
        store.documents(&tenant()).await.unwrap(),
        reference(&events)
    );
    let first = store
        .get(&tenant(), &DocKey::new(TICKET, FIRST))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        first.position,
        at(13, 4),
        "stamped by the last event that changed it"
    );
}

/// A checkpoint past the last event (events the model ignores) is kept.
pub async fn the_checkpoint_passes_ignored_events<D: DocumentStore<Tally>>(store: D) {
    let events = history(&tenant());
    store
        .commit(
            &tenant(),
            None,
            &ProjectionBatch::new(events.clone(), at(99, 42)),
        )
        .await
        .unwrap();
    assert_eq!(store.checkpoint(&tenant()).await.unwrap(), Some(at(99, 42)));
    store
        .commit(
            &tenant(),
            Some(at(99, 42)),
            &ProjectionBatch::new(Vec::new(), at(120, 7)),
        )
        .await
        .unwrap();
    assert_eq!(store.checkpoint(&tenant()).await.unwrap(), Some(at(120, 7)));
    assert_eq!(
        store.documents(&tenant()).await.unwrap(),
        reference(&events)
    );
}

/// A writer that started from another checkpoint is refused, and writes nothing.
pub async fn a_stale_writer_is_refused<D: DocumentStore<Tally>>(store: D) {
    let events = history(&tenant());
    store
        .commit(
            &tenant(),
            None,
            &ProjectionBatch::new(events[..2].to_vec(), at(11, 2)),
        )
        .await
        .unwrap();
    let error = store
        .commit(
            &tenant(),
            None,
            &ProjectionBatch::new(events.clone(), last(&events)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            StorageError::CheckpointMoved { expected: None, found: Some(found), .. } if *found == at(11, 2)
        ),
        "{error:?}"
    );
    assert_eq!(store.checkpoint(&tenant()).await.unwrap(), Some(at(11, 2)));
    assert_eq!(
        store.documents(&tenant()).await.unwrap(),
        reference(&events[..2])
    );
}

/// Delivering events again, in the same batch or a later one, changes nothing.
pub async fn delivering_twice_changes_nothing<D: DocumentStore<Tally>>(store: D) {
    let events = history(&tenant());
    let mut doubled = events.clone();
    doubled.extend(events.iter().cloned());
    doubled.sort_by_key(ProjectedEvent::global_position);
    store
        .commit(
            &tenant(),
            None,
            &ProjectionBatch::new(doubled, last(&events)),
        )
        .await
        .unwrap();
    store
        .commit(
            &tenant(),
            Some(last(&events)),
            &ProjectionBatch::new(events.clone(), last(&events)),
        )
        .await
        .unwrap();
    assert_eq!(
        store.documents(&tenant()).await.unwrap(),
        reference(&events)
    );
}

/// Global order is (transaction, position): a later transaction with a smaller position is
/// applied, not mistaken for an event already applied.
pub async fn a_later_transaction_with_a_smaller_position_is_applied<D: DocumentStore<Tally>>(
    store: D,
) {
    let events = Events::of(tenant());
    let history = vec![
        events.opened(at(100, 50), FIRST, CUSTOMER, "Late position"),
        events.opened(at(101, 49), SECOND, CUSTOMER, "Early position"),
        events.replied(at(102, 48), FIRST),
    ];
    store
        .commit(
            &tenant(),
            None,
            &ProjectionBatch::new(history[..1].to_vec(), at(100, 50)),
        )
        .await
        .unwrap();
    store
        .commit(
            &tenant(),
            Some(at(100, 50)),
            &ProjectionBatch::new(history[1..].to_vec(), at(102, 48)),
        )
        .await
        .unwrap();
    let contact = store
        .get(&tenant(), &DocKey::new(CONTACT, CUSTOMER))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(contact.doc, TallyDoc::Contact { tickets: 2 });
    assert_eq!(
        store.documents(&tenant()).await.unwrap(),
        reference(&history)
    );
}

/// A model that touches a document it never named is a bug: the batch writes nothing and the
/// checkpoint stays.
pub async fn a_broken_model_writes_nothing<D: DocumentStore<Tally>>(store: D) {
    let events = history(&tenant());
    store
        .commit(
            &tenant(),
            None,
            &ProjectionBatch::new(events[..1].to_vec(), at(10, 1)),
        )
        .await
        .unwrap();
    let before = store.documents(&tenant()).await.unwrap();
    let error = store
        .commit(
            &tenant(),
            Some(at(10, 1)),
            &ProjectionBatch::new(events.clone(), last(&events)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            StorageError::Model(ProjectionError::UndeclaredKey { position: 2, .. })
        ),
        "{error:?}"
    );
    assert_eq!(store.checkpoint(&tenant()).await.unwrap(), Some(at(10, 1)));
    assert_eq!(store.documents(&tenant()).await.unwrap(), before);
}

/// Tenants never see each other's documents, checkpoints or parked events.
pub async fn tenants_are_apart<D: DocumentStore<Tally>>(store: D) {
    let other = crate::tenant_id("globex");
    let events = history(&tenant());
    store
        .commit(
            &tenant(),
            None,
            &ProjectionBatch::new(events.clone(), last(&events)),
        )
        .await
        .unwrap();
    assert_eq!(store.checkpoint(&other).await.unwrap(), None);
    assert!(store.documents(&other).await.unwrap().is_empty());
    let theirs = Events::of(other.clone()).opened(at(200, 1), FIRST, CUSTOMER, "Theirs");
    store
        .commit(
            &other,
            None,
            &ProjectionBatch::new(vec![theirs.clone()], at(200, 1)),
        )
        .await
        .unwrap();
    assert_eq!(
        store.documents(&tenant()).await.unwrap(),
        reference(&events)
    );
    let ticket = store
        .get(&other, &DocKey::new(TICKET, FIRST))
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(ticket.doc, TallyDoc::Ticket { ref subject, .. } if subject == "Theirs"));
}

/// A tenant named in capitals is the same tenant ([`TenantId`] is canonical): documents
/// committed under `ACME` are found, scanned, looked up and continued under `acme`.
pub async fn a_tenant_named_in_any_case_is_one_tenant<D: DocumentStore<Tally>>(store: D) {
    let (upper, lower) = (crate::tenant_id("ACME"), crate::tenant_id("acme"));
    let events = history(&upper);
    store
        .commit(
            &upper,
            None,
            &ProjectionBatch::new(events[..3].to_vec(), at(12, 3)),
        )
        .await
        .unwrap();
    assert_eq!(store.checkpoint(&lower).await.unwrap(), Some(at(12, 3)));
    store
        .commit(
            &lower,
            Some(at(12, 3)),
            &ProjectionBatch::new(events[3..].to_vec(), last(&events)),
        )
        .await
        .unwrap();
    assert_eq!(store.documents(&upper).await.unwrap(), reference(&events));
    let tickets = store
        .scan(
            &crate::tenant_id("Acme"),
            &TicketsBy(Selection::all(TICKET)),
        )
        .await
        .unwrap();
    assert_eq!(tickets.len(), 3);
    assert_eq!(
        store.lookup(&lower, &ContactOf(FIRST)).await.unwrap(),
        Some(3)
    );
}

fn parked(place: GlobalPosition) -> ParkedEvent {
    ParkedEvent {
        position: place,
        stream: format!("ticket-{FIRST}"),
        version: 3,
        event_id: Uuid::from_u128(0xdead),
        event_type: "TicketOpened".into(),
        schema_version: 9,
        reason: "no upcaster from schema version 9".into(),
        recorded_at: t0(),
    }
}

/// Parked events are kept with their reason, in global order, and the checkpoint passes them.
pub async fn parked_events_are_kept_and_passed<D: DocumentStore<Tally>>(store: D) {
    let events = history(&tenant());
    let mut batch = ProjectionBatch::new(events[..2].to_vec(), at(11, 3));
    batch.parked = vec![parked(at(11, 3))];
    store.commit(&tenant(), None, &batch).await.unwrap();
    let mut later = ProjectionBatch::new(events[2..].to_vec(), at(15, 1));
    later.parked = vec![parked(at(11, 3)), parked(at(15, 1))];
    store
        .commit(&tenant(), Some(at(11, 3)), &later)
        .await
        .unwrap();
    assert_eq!(
        store.parked(&tenant()).await.unwrap(),
        vec![parked(at(11, 3)), parked(at(15, 1))],
        "each once, the one at the checkpoint not again"
    );
    assert_eq!(store.checkpoint(&tenant()).await.unwrap(), Some(at(15, 1)));
    assert!(
        store
            .parked(&crate::tenant_id("globex"))
            .await
            .unwrap()
            .is_empty()
    );
}

struct TicketsBy(Selection);

impl Scan<TallyDoc> for TicketsBy {
    type Answer = Vec<(Uuid, TallyDoc)>;

    fn selection(&self) -> Selection {
        self.0.clone()
    }

    fn answer<'a, I>(&self, docs: I) -> Self::Answer
    where
        I: Iterator<Item = (&'a DocKey, &'a TallyDoc)>,
    {
        docs.map(|(key, doc)| (key.id, doc.clone())).collect()
    }
}

/// The contact of a ticket, found in two rounds.
struct ContactOf(Uuid);

impl Lookup<TallyDoc> for ContactOf {
    type Answer = Option<u32>;

    fn keys(&self, found: &Found<TallyDoc>, keys: &mut Vec<DocKey>) {
        let ticket = DocKey::new(TICKET, self.0);
        keys.push(ticket);
        if let Some(TallyDoc::Ticket { contact, .. }) = found.get(&ticket) {
            keys.push(DocKey::new(CONTACT, *contact));
        }
    }

    fn answer(&self, found: &Found<TallyDoc>) -> Self::Answer {
        let Some(TallyDoc::Ticket { contact, .. }) = found.get(&DocKey::new(TICKET, self.0)) else {
            return None;
        };
        match found.get(&DocKey::new(CONTACT, *contact)) {
            Some(TallyDoc::Contact { tickets }) => Some(*tickets),
            _ => None,
        }
    }
}

/// The selections the scan check runs: every column type, every comparison, order and limit.
fn selections() -> Vec<Selection> {
    vec![
        Selection::all(TICKET),
        Selection::all(CONTACT),
        Selection::of_kinds(&[TICKET, CONTACT]),
        Selection::all(TICKET).order_by("replies"),
        Selection::all(TICKET)
            .filter(Filter::ge("replies", IndexValue::Int(1)))
            .order_by("opened_at"),
        Selection::all(TICKET)
            .filter(Filter::lt("subject", IndexValue::Text("J".into())))
            .order_by("subject"),
        Selection::all(TICKET).filter(Filter::eq("assigned", IndexValue::Bool(false))),
        Selection::all(TICKET).order_by("assignee"),
        Selection::all(TICKET).filter(Filter::le(
            "opened_at",
            IndexValue::Time(t0() + Duration::minutes(3)),
        )),
        Selection::all(TICKET).order_by("opened_at").limit(2),
        // Ordered and limited across kinds: the first rows of the merged order, ties by key,
        // whichever kind they come from (and a kind named twice counted once).
        Selection::of_kinds(&[TICKET, CONTACT])
            .order_by("tally")
            .limit(3),
        Selection::of_kinds(&[CONTACT, TICKET])
            .order_by("tally")
            .limit(10),
        Selection::of_kinds(&[TICKET, CONTACT])
            .filter(Filter::ge("tally", IndexValue::Int(1)))
            .order_by("tally")
            .limit(2),
        Selection::of_kinds(&[TICKET, CONTACT, TICKET])
            .order_by("tally")
            .limit(4),
        Selection::of_kinds(&[TICKET, CONTACT])
            .order_by("tally")
            .limit(0),
        Selection::of_kinds(&[CONTACT, TICKET]).limit(2),
        // From a cursor: after a value and, among its ties, after a key; across kinds too.
        Selection::all(TICKET)
            .order_by("replies")
            .after(IndexValue::Int(0), DocKey::new(TICKET, SECOND))
            .limit(10),
        Selection::all(TICKET).order_by("subject").after(
            IndexValue::Text("Invoice wrong".into()),
            DocKey::new(TICKET, SECOND),
        ),
        Selection::of_kinds(&[TICKET, CONTACT])
            .order_by("tally")
            .after(IndexValue::Int(1), DocKey::new(TICKET, FIRST))
            .limit(3),
        // Key order: after a key, whatever the value says.
        Selection::all(TICKET)
            .after(IndexValue::Int(99), DocKey::new(TICKET, FIRST))
            .limit(5),
        // A cursor of another type than its column matches nothing.
        Selection::all(TICKET)
            .order_by("replies")
            .after(IndexValue::Text("0".into()), DocKey::new(TICKET, FIRST)),
        // A value of the wrong type, and an undeclared column, match nothing.
        Selection::all(TICKET).filter(Filter::eq("replies", IndexValue::Text("2".into()))),
        Selection::all(TICKET).filter(Filter::eq("colour", IndexValue::Int(1))),
        Selection::all(TICKET).order_by("colour"),
    ]
}

/// Scans and lookups answer as the in-memory reference does.
pub async fn queries_answer_as_the_reference<D: DocumentStore<Tally>>(store: D) {
    let events = history(&tenant());
    store
        .commit(
            &tenant(),
            None,
            &ProjectionBatch::new(events.clone(), last(&events)),
        )
        .await
        .unwrap();
    let reference = MemoryDocuments::fold(Tally::default(), &events).unwrap();
    for selection in selections() {
        let query = TicketsBy(selection.clone());
        assert_eq!(
            store.scan(&tenant(), &query).await.unwrap(),
            reference.scan(&tenant(), &query),
            "{selection:?}"
        );
    }
    // Paging one document at a time from each page's last place gives the whole order, each
    // document once, ties included.
    for column in ["replies", "opened_at", "subject", "assignee"] {
        let whole = store
            .scan(
                &tenant(),
                &TicketsBy(Selection::all(TICKET).order_by(column)),
            )
            .await
            .unwrap();
        let mut paged = Vec::new();
        let mut after: Option<(IndexValue, DocKey)> = None;
        loop {
            let mut selection = Selection::all(TICKET).order_by(column).limit(1);
            if let Some((value, key)) = after.clone() {
                selection = selection.after(value, key);
            }
            let page = store.scan(&tenant(), &TicketsBy(selection)).await.unwrap();
            let Some((id, doc)) = page.first().cloned() else {
                break;
            };
            let key = DocKey::new(TICKET, id);
            let value = Tally::indexed(&key, &doc)
                .into_iter()
                .find(|(name, _)| *name == column)
                .map(|(_, value)| value)
                .unwrap();
            after = Some((value, key));
            paged.push((id, doc));
            assert!(paged.len() <= whole.len(), "paging never ends on {column}");
        }
        assert_eq!(paged, whole, "paged by {column}");
    }
    for ticket in [FIRST, SECOND, Uuid::from_u128(77)] {
        assert_eq!(
            store.lookup(&tenant(), &ContactOf(ticket)).await.unwrap(),
            reference.lookup(&tenant(), &ContactOf(ticket))
        );
    }
    assert_eq!(
        store.lookup(&tenant(), &ContactOf(FIRST)).await.unwrap(),
        Some(3)
    );
}
