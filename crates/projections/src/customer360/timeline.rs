//! The activity timeline: one entry per interaction, with no personal data in it (which
//! field changed, not its value; which channel a reply came through, not its text), so the
//! timeline survives an erasure whole.
//!
//! Each entry is a document of its own (`entry:<record>:<position>`, a [`TimelineItem`]),
//! written once by the event it records and never rewritten: a ticket's thousandth reply
//! inserts one small row instead of rewriting a document holding the 999 before it. Its
//! `newest` column sorts a record's entries newest first, so a page is "the first `n` rows of
//! the record after the cursor" in every adapter ([`RecordTimeline`]).

use chrono::{DateTime, Utc};
use crm_domain::contact::{ConsentChannel, ConsentPurpose, ContactField};
use crm_domain::{Channel, Money, Priority, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::CustomerDoc;
use crate::event::AggregateKind;
use crate::model::{Comparison, DocKey, Filter, IndexValue, Scan, Selection};

/// Document kind of a timeline entry (a pair: the record, the event's position).
pub const ENTRY: &str = "entry";

/// The key of the entry `position` adds to `record`'s timeline. The second id is the position
/// itself (unique within a tenant), so an event names its entry from the event alone.
pub(crate) fn entry_key(record: Uuid, position: u64) -> DocKey {
    DocKey::pair(ENTRY, record, Uuid::from_u64_pair(0, position))
}

/// What happened, named after the event that recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    /// The contact was created.
    ContactCreated,
    /// A field of the contact changed (`field`).
    ContactDetailChanged,
    /// An email address was added.
    ContactEmailAdded,
    /// An email address was removed.
    ContactEmailRemoved,
    /// A phone number was added.
    ContactPhoneAdded,
    /// A phone number was removed.
    ContactPhoneRemoved,
    /// Consent was granted (`consent_channel`).
    ContactConsentGranted,
    /// Consent was withdrawn (`consent_channel`).
    ContactConsentWithdrawn,
    /// The contact absorbed a duplicate (`other`).
    ContactMerged,
    /// The contact was merged into a survivor (`other`).
    ContactMergedInto,
    /// A merge was undone on the survivor (`other`: the contact given back).
    ContactUnmerged,
    /// The contact was released from its survivor (`other`).
    ContactUnmergedFrom,
    /// Another contact was declared a different person (`other`).
    ContactDeclaredNotDuplicate,
    /// A "not a duplicate" declaration was revoked (`other`).
    ContactNotDuplicateRevoked,
    /// The contact's personal data was erased.
    ContactErased,
    /// A lead arrived.
    LeadReceived,
    /// A lead failed validation.
    LeadQuarantined,
    /// A lead was captured.
    LeadCaptured,
    /// A lead was assigned (`user`: the rep).
    LeadAssigned,
    /// A lead was queued (`other`: the team).
    LeadQueued,
    /// A rep made first contact (`user`, `channel`).
    LeadFirstTouch,
    /// A lead was taken back from a rep (`user`).
    LeadReclaimed,
    /// A lead was handed to a team lead (`user`).
    LeadEscalated,
    /// A lead's score changed (`score`).
    LeadScoreChanged,
    /// A lead was qualified.
    LeadQualified,
    /// A lead was disqualified.
    LeadDisqualified,
    /// A lead was converted (`other`: the opportunity, if one was opened).
    LeadConverted,
    /// A lead was merged into another lead (`other`).
    LeadMerged,
    /// Identity resolution found the lead's person among the contacts (`other`: the contact).
    LeadContactMatched,
    /// An opportunity was opened (`amount`).
    OpportunityOpened,
    /// An opportunity changed stage.
    OpportunityStageChanged,
    /// An opportunity's amount changed (`amount`).
    OpportunityAmountChanged,
    /// An opportunity's expected close date changed.
    OpportunityCloseDateChanged,
    /// An opportunity was given to another rep (`user`).
    OpportunityReassigned,
    /// Approval of an amount was requested (`amount`).
    OpportunityApprovalRequested,
    /// An approval was granted (`amount`, `user`: the approver).
    OpportunityApprovalGranted,
    /// An approval was rejected (`amount`, `user`: the approver).
    OpportunityApprovalRejected,
    /// An approval no longer counts.
    OpportunityApprovalInvalidated,
    /// An opportunity was won (`amount`).
    OpportunityWon,
    /// An opportunity was lost.
    OpportunityLost,
    /// An opportunity moved to a newer pipeline version.
    OpportunityPipelineUpgraded,
    /// A ticket was opened (`channel`, `priority`).
    TicketOpened,
    /// A ticket was assigned (`user`).
    TicketAssigned,
    /// The support side replied (`channel`, `user` when a person).
    TicketAgentReplied,
    /// The customer replied (`channel`).
    TicketCustomerReplied,
    /// A ticket's status changed.
    TicketStatusChanged,
    /// A ticket's priority changed (`priority`).
    TicketPriorityChanged,
    /// A ticket was escalated.
    TicketEscalated,
    /// A ticket was reopened.
    TicketReopened,
}

/// One interaction on the timeline. The optional fields are filled where the kind says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// When it happened (the event's own time).
    pub at: DateTime<Utc>,
    /// The event's global position: orders entries at the same instant and pages the timeline.
    pub position: u64,
    /// What happened.
    pub kind: ActivityKind,
    /// The channel involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// The consent channel involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_channel: Option<ConsentChannel>,
    /// The consent purpose involved, when not marketing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_purpose: Option<ConsentPurpose>,
    /// The contact field involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<ContactField>,
    /// The user involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserId>,
    /// The amount involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    /// The priority involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// A lead score involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<i32>,
    /// Another record involved (a contact, a lead, a team, an opportunity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other: Option<Uuid>,
}

impl TimelineEntry {
    /// An entry of `kind` at `at`, position `position`, with no details yet.
    pub fn new(kind: ActivityKind, at: DateTime<Utc>, position: u64) -> Self {
        Self {
            at,
            position,
            kind,
            channel: None,
            consent_channel: None,
            consent_purpose: None,
            field: None,
            user: None,
            amount: None,
            priority: None,
            score: None,
            other: None,
        }
    }

    /// Text sorting entries newest first, byte-wise as every adapter compares text: later
    /// instant first, then higher position. Both are counted down and zero-padded to 20
    /// digits (which holds every instant chrono represents, and every position).
    pub fn newest(&self) -> String {
        newest(self.at, self.position)
    }
}

fn newest(at: DateTime<Utc>, position: u64) -> String {
    let countdown = i128::from(i64::MAX) - i128::from(at.timestamp_micros());
    format!("{countdown:020}:{:020}", u64::MAX - position)
}

/// One entry of a timeline with the record it belongs to: the document an entry is kept in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineItem {
    /// The kind of record (contact, lead, opportunity, ticket).
    pub record_kind: AggregateKind,
    /// The record's id.
    pub record: Uuid,
    /// The entry.
    pub entry: TimelineEntry,
}

/// Where a timeline page ends, to ask for the next one: the last entry's
/// [`newest`](TimelineEntry::newest) text. Timelines of other read models that sort by the
/// same text (the activity rows of [`engagements`](crate::engagements), whose text starts with
/// the same countdown of the instant) page with the same cursor, so a caller merging both
/// continues each from one cursor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TimelineCursor(pub String);

impl TimelineCursor {
    /// The cursor just past `entry`.
    pub fn after(entry: &TimelineEntry) -> Self {
        Self(entry.newest())
    }

    /// Reads a cursor's text back: 20 digits, `:`, then 20 digits (an entry's position) or
    /// 32 hexadecimal digits (an activity's id); `None` for anything else, so a forged
    /// cursor is refused rather than compared.
    pub fn parse(text: &str) -> Option<Self> {
        let (countdown, tail) = text.split_once(':')?;
        let digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
        let shaped = countdown.len() == 20
            && digits(countdown)
            && ((tail.len() == 20 && digits(tail))
                || (tail.len() == 32 && tail.bytes().all(|byte| byte.is_ascii_hexdigit())));
        shaped.then(|| Self(text.to_owned()))
    }

    /// The cursor's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A page of a timeline, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelinePage {
    /// The entries, newest first (later instant first, then later position).
    pub items: Vec<TimelineItem>,
    /// Where to continue for the next page, `None` on the last page.
    pub next: Option<TimelineCursor>,
}

impl TimelinePage {
    /// The first `limit` of `items` (newest first already) as a page, with a cursor when
    /// more were given than fit.
    pub(crate) fn cut(mut items: Vec<TimelineItem>, limit: usize) -> Self {
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|item| TimelineCursor::after(&item.entry))
        } else {
            None
        };
        Self { items, next }
    }
}

/// A page of one record's own timeline (a contact alone, a lead, an opportunity, a ticket),
/// newest first: at most `limit` entries older than `before` (from the newest when `None`).
/// Stable while new entries arrive, since the cursor is an entry's instant and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordTimeline {
    /// The record's id.
    pub record: Uuid,
    /// Where the previous page ended.
    pub before: Option<TimelineCursor>,
    /// The most entries to return (at least one).
    pub limit: usize,
}

impl Scan<CustomerDoc> for RecordTimeline {
    type Answer = TimelinePage;

    fn selection(&self) -> Selection {
        let mut selection = Selection::all(ENTRY)
            .filter(Filter::eq("record", IndexValue::Uuid(self.record)))
            .order_by("newest")
            .limit(self.limit.max(1).saturating_add(1));
        if let Some(before) = &self.before {
            selection = selection.filter(Filter {
                column: "newest",
                comparison: Comparison::Gt,
                value: IndexValue::Text(before.0.clone()),
            });
        }
        selection
    }

    fn answer<'a, I>(&self, docs: I) -> TimelinePage
    where
        I: Iterator<Item = (&'a DocKey, &'a CustomerDoc)>,
    {
        let items = docs
            .filter_map(|(_, doc)| match doc {
                CustomerDoc::Entry(item) => Some(*item),
                _ => None,
            })
            .collect();
        TimelinePage::cut(items, self.limit.max(1))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;

    fn entry(micros: i64, position: u64) -> TimelineEntry {
        let at = Utc
            .timestamp_micros(micros)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        TimelineEntry::new(ActivityKind::TicketReopened, at, position)
    }

    proptest! {
        /// The text orders entries exactly as (instant, position) newest first, across the
        /// whole range of instants chrono holds, before the epoch included.
        #[test]
        fn the_newest_text_sorts_as_instant_then_position_descending(
            a in (-8_000_000_000_000_000_i64..8_000_000_000_000_000, any::<u64>()),
            b in (-8_000_000_000_000_000_i64..8_000_000_000_000_000, any::<u64>()),
        ) {
            let (left, right) = (entry(a.0, a.1), entry(b.0, b.1));
            let by_text = left.newest().cmp(&right.newest());
            let by_value = (right.at, right.position).cmp(&(left.at, left.position));
            prop_assert_eq!(by_text, by_value);
            prop_assert!(TimelineCursor::parse(&left.newest()).is_some());
        }
    }

    #[test]
    fn only_cursors_of_the_timeline_s_shape_are_taken() {
        let entry = entry(1_700_000_000_000_000, 42);
        assert_eq!(
            TimelineCursor::parse(&entry.newest()),
            Some(TimelineCursor::after(&entry))
        );
        let activity = format!("{}:{}", &entry.newest()[..20], Uuid::nil().simple());
        assert!(TimelineCursor::parse(&activity).is_some());
        for bad in [
            "",
            ":",
            "x",
            "1700000000.42",
            "0000000000000000000:00000000000000000000",
            "00000000000000000000:0000000000000000000",
            "00000000000000000000:000000000000000000000",
            "0000000000000000000a:00000000000000000000",
            "00000000000000000000:0000000000000000000000000000000g",
            "00000000000000000000:00000000000000000000:00000000000000000000",
        ] {
            assert_eq!(TimelineCursor::parse(bad), None, "{bad:?}");
        }
    }
}
