//! The duplicate review queue: pairs of contacts the identity policy scored between auto-link
//! and distinct, with their scores and reasons, until someone merges them or declares them
//! different people.
//!
//! # Input
//! All from the contact aggregate: the suspicion ([`ContactEvent::DuplicateSuspected`], which
//! the application's identity resolution records on the checked contact's stream for each
//! candidate `crm_domain::identity::rank_candidates` gives a [`MatchVerdict::Review`] verdict)
//! and the outcomes ([`ContactEvent::Merged`], [`ContactEvent::DeclaredNotDuplicate`],
//! [`ContactEvent::NotDuplicateRevoked`], [`ContactEvent::MergedInto`],
//! [`ContactEvent::Erased`]). The aggregate refuses suspicions with another verdict or of a
//! contact by itself; the model ignores them too, since it folds whatever the store holds.
//!
//! # Documents
//! - `pair:<lower id>:<higher id>` ([`PairDoc`]): the latest assessment and where the pair
//!   stands. A pair declared "not a duplicate" stays declared whatever is suspected later, so
//!   rejected pairs never come back (until the declaration is revoked).
//! - `contact:<id>` ([`ContactPairs`]): the pairs a contact is in, so that its erasure or its
//!   merge into another contact reaches them ([`ReadModel::linked_keys`]).
//!
//! # Erasure
//! Match reasons quote identities (addresses, numbers, names). When either contact is erased
//! its pairs are closed and their reasons redacted to their kind and weight.

pub mod query;

use chrono::{DateTime, Utc};
use crm_domain::ContactId;
use crm_domain::contact::ContactEvent;
use crm_domain::identity::{MatchAssessment, MatchReason, MatchVerdict, Score};
use serde::{Deserialize, Serialize};

use crate::event::{CrmEvent, ProjectedEvent};
use crate::model::DocSet;
use crate::model::{ColumnType, DocKey, IndexValue, Indexed, IndexedColumn, ReadModel};

/// Document kind of a pair.
pub const PAIR: &str = "pair";
/// Document kind of a contact's pair list.
pub const CONTACT: &str = "contact";

/// Why a pair left the queue without a decision on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosedBecause {
    /// One of the two was merged into a third contact.
    Absorbed,
    /// One of the two was erased.
    Erased,
}

/// Where a pair stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PairState {
    /// Waiting for someone to decide (when it has an assessment).
    Open,
    /// Merged.
    Merged {
        /// When.
        at: DateTime<Utc>,
    },
    /// Declared different people; stays so until revoked.
    NotDuplicate {
        /// When.
        at: DateTime<Utc>,
    },
    /// Left the queue without a decision.
    Closed {
        /// Why.
        because: ClosedBecause,
        /// When.
        at: DateTime<Utc>,
    },
}

/// A pair of contacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairDoc {
    /// The contact with the lower id.
    pub lower: ContactId,
    /// The contact with the higher id.
    pub higher: ContactId,
    /// The latest assessment, `None` when the pair was only ever declared.
    pub assessment: Option<MatchAssessment>,
    /// When it was last suspected.
    pub suspected_at: Option<DateTime<Utc>>,
    /// Where it stands.
    pub state: PairState,
}

impl PairDoc {
    fn new(lower: ContactId, higher: ContactId) -> Self {
        Self {
            lower,
            higher,
            assessment: None,
            suspected_at: None,
            state: PairState::Open,
        }
    }

    /// Whether the pair waits in the review queue.
    pub fn is_waiting(&self) -> bool {
        self.state == PairState::Open && self.assessment.is_some()
    }

    fn close(&mut self, because: ClosedBecause, at: DateTime<Utc>) {
        if self.state == PairState::Open {
            self.state = PairState::Closed { because, at };
        }
        if because == ClosedBecause::Erased
            && let Some(assessment) = &mut self.assessment
        {
            for reason in &mut assessment.reasons {
                redact(reason);
            }
        }
    }
}

/// Blanks the identities a reason quotes, keeping its kind, similarity and weight.
fn redact(reason: &mut MatchReason) {
    match reason {
        MatchReason::IdenticalIdentity => {}
        MatchReason::EmailAgrees { email, .. } => email.clear(),
        MatchReason::MailboxAgrees { mailbox, .. } => mailbox.clear(),
        MatchReason::PhoneAgrees { e164, .. } => e164.clear(),
        MatchReason::CompanyDomainAgrees { domain, .. } => domain.clear(),
        MatchReason::NamesAgree { names, .. }
        | MatchReason::NamesDiffer { names, .. }
        | MatchReason::NamesConflict { names, .. }
        | MatchReason::CompanyNameAgrees { names, .. } => {
            for name in names {
                name.clear();
            }
        }
    }
}

/// The pairs a contact is in.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContactPairs {
    /// The other contact of each pair, in the order first paired.
    pub others: Vec<ContactId>,
    /// Set once the contact was erased: pairs found later are closed at once.
    pub erased: bool,
}

/// A document of the duplicate review queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DuplicateDoc {
    /// A pair.
    Pair(PairDoc),
    /// A contact's pairs.
    Contact(ContactPairs),
}

/// The key of the pair of `a` and `b`, in either order.
pub fn pair_key(a: ContactId, b: ContactId) -> DocKey {
    let (lower, higher) = ordered(a, b);
    DocKey::pair(PAIR, lower.0, higher.0)
}

/// The `rank` column of a pair scored `score`: ascending order by rank is descending order by
/// score.
pub(crate) fn rank(score: Score) -> i64 {
    10_000 - i64::from(score.ten_thousandths())
}

fn ordered(a: ContactId, b: ContactId) -> (ContactId, ContactId) {
    if a <= b { (a, b) } else { (b, a) }
}

fn contact_key(id: ContactId) -> DocKey {
    DocKey::new(CONTACT, id.0)
}

/// The duplicate review queue read model. See the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct DuplicateQueueModel;

impl ReadModel for DuplicateQueueModel {
    const NAME: &'static str = "duplicate_queue";
    const VERSION: u32 = 1;
    const KINDS: &'static [&'static str] = &[PAIR, CONTACT];
    const COLUMNS: &'static [IndexedColumn] = &[
        IndexedColumn::new("waiting", ColumnType::Bool),
        IndexedColumn::new("rank", ColumnType::Int),
    ];
    type Doc = DuplicateDoc;

    fn keys(&self, event: &ProjectedEvent, keys: &mut Vec<DocKey>) {
        let this = ContactId(event.stream.id);
        match &event.event {
            CrmEvent::Contact(contact) => match contact {
                ContactEvent::DuplicateSuspected { candidate, .. } if this != *candidate => {
                    keys.extend([
                        pair_key(this, *candidate),
                        contact_key(this),
                        contact_key(*candidate),
                    ]);
                }
                ContactEvent::DeclaredNotDuplicate { other, .. } => {
                    keys.extend([
                        pair_key(this, *other),
                        contact_key(this),
                        contact_key(*other),
                    ]);
                }
                ContactEvent::NotDuplicateRevoked { other, .. } => {
                    keys.push(pair_key(this, *other));
                }
                ContactEvent::Merged { absorbed, .. } => {
                    keys.push(pair_key(this, *absorbed));
                }
                ContactEvent::MergedInto { .. } => {
                    keys.push(contact_key(this));
                }
                ContactEvent::Erased { absorbed, .. } => {
                    keys.push(contact_key(this));
                    keys.extend(absorbed.iter().map(|absorbed| contact_key(*absorbed)));
                }
                _ => {}
            },
            CrmEvent::Lead(_)
            | CrmEvent::Opportunity(_)
            | CrmEvent::Ticket(_)
            | CrmEvent::Forecast(_)
            | CrmEvent::Account(_)
            | CrmEvent::AccountHierarchy(_)
            | CrmEvent::Activity(_)
            | CrmEvent::Task(_) => {}
        }
    }

    fn linked_keys(
        &self,
        event: &ProjectedEvent,
        docs: &DocSet<DuplicateDoc>,
        keys: &mut Vec<DocKey>,
    ) {
        if let CrmEvent::Contact(ContactEvent::MergedInto { .. } | ContactEvent::Erased { .. }) =
            &event.event
        {
            for (key, doc) in docs.iter() {
                if let DuplicateDoc::Contact(pairs) = doc {
                    let contact = ContactId(key.id);
                    keys.extend(pairs.others.iter().map(|other| pair_key(contact, *other)));
                }
            }
        }
    }

    fn apply(&self, docs: &mut DocSet<DuplicateDoc>, event: &ProjectedEvent) {
        let this = ContactId(event.stream.id);
        match &event.event {
            CrmEvent::Contact(ContactEvent::DuplicateSuspected {
                candidate,
                assessment,
                at,
                ..
            }) => suspect(docs, this, *candidate, assessment, *at),
            CrmEvent::Contact(ContactEvent::DeclaredNotDuplicate { other, at, .. }) => {
                link(docs, this, *other);
                if let Some(pair) = pair_doc(docs, this, *other) {
                    pair.state = PairState::NotDuplicate { at: *at };
                }
            }
            CrmEvent::Contact(ContactEvent::NotDuplicateRevoked { other, .. }) => {
                if let Some(DuplicateDoc::Pair(pair)) = docs.get_mut(&pair_key(this, *other))
                    && matches!(pair.state, PairState::NotDuplicate { .. })
                {
                    pair.state = PairState::Open;
                }
            }
            CrmEvent::Contact(ContactEvent::Merged { absorbed, at, .. }) => {
                if let Some(DuplicateDoc::Pair(pair)) = docs.get_mut(&pair_key(this, *absorbed)) {
                    pair.state = PairState::Merged { at: *at };
                }
            }
            CrmEvent::Contact(ContactEvent::MergedInto { survivor, at, .. }) => {
                let survivor_pair = pair_key(this, *survivor);
                close_pairs(docs, ClosedBecause::Absorbed, *at, Some(survivor_pair));
            }
            CrmEvent::Contact(ContactEvent::Erased { absorbed, at, .. }) => {
                // Remembered even for a contact without pairs yet, so that a suspicion
                // arriving after the erasure is closed (and redacted) at once.
                for erased in std::iter::once(&this).chain(absorbed) {
                    let key = contact_key(*erased);
                    if let Some(DuplicateDoc::Contact(pairs)) = docs
                        .get_or_insert_with(&key, || DuplicateDoc::Contact(ContactPairs::default()))
                    {
                        pairs.erased = true;
                    }
                }
                close_pairs(docs, ClosedBecause::Erased, *at, None);
            }
            CrmEvent::Contact(_)
            | CrmEvent::Lead(_)
            | CrmEvent::Opportunity(_)
            | CrmEvent::Ticket(_)
            | CrmEvent::Forecast(_)
            | CrmEvent::Account(_)
            | CrmEvent::AccountHierarchy(_)
            | CrmEvent::Activity(_)
            | CrmEvent::Task(_) => {}
        }
    }

    fn indexed(_key: &DocKey, doc: &DuplicateDoc) -> Indexed {
        match doc {
            DuplicateDoc::Pair(pair) => {
                let mut columns = vec![("waiting", IndexValue::Bool(pair.is_waiting()))];
                if let Some(assessment) = &pair.assessment {
                    columns.push(("rank", IndexValue::Int(rank(assessment.score))));
                }
                columns
            }
            DuplicateDoc::Contact(_) => Vec::new(),
        }
    }
}

fn pair_doc(docs: &mut DocSet<DuplicateDoc>, a: ContactId, b: ContactId) -> Option<&mut PairDoc> {
    let (lower, higher) = ordered(a, b);
    match docs.get_or_insert_with(&pair_key(a, b), || {
        DuplicateDoc::Pair(PairDoc::new(lower, higher))
    })? {
        DuplicateDoc::Pair(pair) => Some(pair),
        DuplicateDoc::Contact(_) => None,
    }
}

/// Records the pair in both contacts' lists; says whether either contact was erased.
fn link(docs: &mut DocSet<DuplicateDoc>, a: ContactId, b: ContactId) -> bool {
    let mut erased = false;
    for (this, other) in [(a, b), (b, a)] {
        if let Some(DuplicateDoc::Contact(pairs)) = docs
            .get_or_insert_with(&contact_key(this), || {
                DuplicateDoc::Contact(ContactPairs::default())
            })
        {
            if !pairs.others.contains(&other) {
                pairs.others.push(other);
            }
            erased |= pairs.erased;
        }
    }
    erased
}

/// Records that `contact` (whose stream the suspicion is on) may duplicate `candidate`.
fn suspect(
    docs: &mut DocSet<DuplicateDoc>,
    contact: ContactId,
    candidate: ContactId,
    assessment: &MatchAssessment,
    at: DateTime<Utc>,
) {
    // Only pairs between auto-link and distinct need a person; the others were decided.
    if assessment.verdict != MatchVerdict::Review || contact == candidate {
        return;
    }
    let erased = link(docs, contact, candidate);
    let Some(pair) = pair_doc(docs, contact, candidate) else {
        return;
    };
    pair.assessment = Some(assessment.clone());
    pair.suspected_at = Some(at);
    if let PairState::Closed { .. } = pair.state {
        // A fresh suspicion about a pair closed without a decision puts it back in the queue.
        pair.state = PairState::Open;
    }
    if erased {
        pair.close(ClosedBecause::Erased, at);
    }
}

fn close_pairs(
    docs: &mut DocSet<DuplicateDoc>,
    because: ClosedBecause,
    at: DateTime<Utc>,
    except: Option<DocKey>,
) {
    for (key, doc) in docs.iter_mut_of_kind(PAIR) {
        if Some(*key) == except {
            continue;
        }
        if let DuplicateDoc::Pair(pair) = doc {
            pair.close(because, at);
        }
    }
}
