//! The contact aggregate: a person, known by a stable party id, with consent and merges.
//!
//! A contact's stream is named by its [`ContactId`], never by an email address: addresses
//! come and go, the party stays. Each change of a field is its own fact
//! ([`ContactEvent::DetailChanged`], [`ContactEvent::EmailAdded`], …) stamped with the source
//! system and the source's own timestamp ([`Provenance`]), and the state keeps, per field
//! and per address, the provenance of the current value so field-level sync can apply
//! last-write-wins.
//!
//! # Rules
//! - **Stale changes are ignored, not refused.** A change older than what the *same* source
//!   said last about that field (or address) emits nothing: under last-write-wins the older
//!   value already lost, so this is the normal outcome of out-of-order delivery, not a fault;
//!   the fresh fields of the same command still apply. A change from another source is applied
//!   whatever its timestamp: choosing between sources (precedence) is the sync policy's job,
//!   done before it issues the command. [`ContactDetails::is_superseded`] answers the question
//!   in advance. A removal is remembered (a tombstone), so an addition older than it stays
//!   removed. Setting a field to its current value emits nothing and leaves its provenance as
//!   it was, so re-sent payloads leave no trace.
//! - **Timestamps from the future are refused** beyond [`SOURCE_CLOCK_TOLERANCE`]: one wrong
//!   clock would otherwise make its source's value unbeatable.
//! - **Consent** per channel follows [`ChannelConsent::prevails_over`]: the latest statement
//!   by the person's own time is in effect, and a withdrawal wins over any grant that is not
//!   newer. A grant needs proof; a withdrawal is honoured without.
//! - **Merging** is two facts on two streams: the survivor records [`ContactEvent::Merged`]
//!   with every per-field decision (both values kept), the absorbed contact records
//!   [`ContactEvent::MergedInto`] and refuses everything but unmerging and erasure. Issue
//!   `MergeInto` on the absorbed contact first, then `Merge` on the survivor with the absorbed
//!   contact's state as loaded after it, so the values decided on can no longer change.
//!   Unmerging is the reverse pair ([`ContactEvent::Unmerged`], [`ContactEvent::UnmergedFrom`]).
//! - **Suspected duplicates** ([`ContactEvent::DuplicateSuspected`]) are recorded on the
//!   checked contact's stream by identity resolution, for the review queue. Only a
//!   [`MatchVerdict::Review`] verdict is a suspicion (auto-links and distinct pairs are decided
//!   where they are scored); a contact cannot suspect itself nor a contact it absorbed; a pair
//!   this contact declared different people is refused with
//!   [`ContactError::DeclaredNotDuplicate`], as a merge of it would be, so the caller learns the
//!   pair is settled (a declaration recorded on the *candidate's* stream is not visible here:
//!   the review queue keeps such pairs out). The same assessment of the same candidate again
//!   emits nothing; a new score or new reasons are a new fact.
//! - **Erasure** keeps the id and the stream; the state keeps only the request
//!   ([`ErasureRecord`]) and every later command is refused. The erasure event carries the
//!   contact's id, so the state after it is the same whether the earlier (shredded) events are
//!   replayed or not. An absorbed contact can be erased too: GDPR does not wait for an unmerge.

mod address;
mod consent;
mod details;
mod erasure;
mod external;
mod merge;
mod suspicion;
mod sync;
#[cfg(test)]
mod tests;

use crate::custom_fields::{
    CustomFieldsRefused, CustomFieldsSet, CustomFieldsUpdate, CustomValues, EntityKind,
};
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use address::{MAX_ADDRESS_PART_CHARS, StreetAddress};
pub use consent::{
    ChannelConsent, ConsentChannel, ConsentProof, ConsentPurpose, ConsentScope, ConsentStatus,
    ConsentVerdict, Consents, UnknownConsentScope, least_permissive,
};
pub use details::{
    ContactDetails, ContactField, Detail, DetailChange, LifecycleStage, Provenance, Sourced,
};
pub use erasure::{ErasureGround, ErasureRecord, ErasureRequest, ErasureRequester};
pub use external::{ExternalId, MAX_EXTERNAL_ID_CHARS};
pub use merge::{
    ConsentDecision, ConsentRestore, DecisionBasis, FieldChoice, FieldDecision, FieldRestore,
    MergeDecisions, MergePolicy, MergeRecord, MergeSide, Restoration, UNMERGE_SOURCE,
};
pub use suspicion::DuplicateSuspicion;

use crate::aggregate::{Aggregate, DomainEvent};
use crate::context::{Actor, Context};
use crate::identity::{EmailAddress, MatchAssessment, MatchVerdict, PhoneNumber};
use crate::ids::{ContactId, LeadId};
use crate::sync::{ContactRules, SyncRefusals};
use details::Keyed;

/// How far a source's timestamp may lie ahead of the decision's time before it is refused
/// (clocks of other systems drift a little).
pub const SOURCE_CLOCK_TOLERANCE: TimeDelta = TimeDelta::minutes(5);

/// Where a contact stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContactStatus {
    /// In use.
    Active,
    /// Merged into another contact; only unmerging or erasure can change it.
    Absorbed {
        /// The survivor.
        into: ContactId,
    },
    /// Erased under GDPR; nothing can change it.
    Erased,
}

/// A command to a contact.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum ContactCommand {
    /// Creates the contact, with its first details.
    Create {
        /// The new contact's id (the stream is `"contact-{id}"`).
        contact_id: ContactId,
        /// The system it comes from and that system's time.
        provenance: Provenance,
        /// Initial details, applied in order.
        changes: Vec<DetailChange>,
    },
    /// Changes details, each change its own fact; stale and unchanged ones emit nothing.
    ChangeDetails {
        /// The changes, applied in order.
        changes: Vec<DetailChange>,
        /// The system they come from and that system's time.
        provenance: Provenance,
    },
    /// Records that the person agreed to be contacted on a channel for a purpose.
    GrantConsent {
        /// The channel.
        channel: ConsentChannel,
        /// The purpose.
        purpose: ConsentPurpose,
        /// The system that recorded it and when the person said it.
        provenance: Provenance,
        /// The evidence (required).
        proof: ConsentProof,
    },
    /// Records that the person withdrew consent for a channel and purpose.
    WithdrawConsent {
        /// The channel.
        channel: ConsentChannel,
        /// The purpose.
        purpose: ConsentPurpose,
        /// The system that recorded it and when the person said it.
        provenance: Provenance,
        /// The evidence, if any.
        proof: ConsentProof,
    },
    /// Absorbs a duplicate into this contact (the survivor).
    Merge {
        /// The duplicate's state, as loaded (after its `MergeInto`, preferably). A command's
        /// serialized form (what an idempotency digest covers) names it by its id.
        #[serde(serialize_with = "serialize_contact_id")]
        absorbed: Box<Contact>,
        /// How fields are decided.
        policy: MergePolicy,
        /// A person's choices for single fields, overriding the policy.
        choices: Vec<FieldChoice>,
    },
    /// Marks this contact as merged into a survivor (the absorbed side of a merge).
    MergeInto {
        /// The survivor.
        survivor: ContactId,
    },
    /// Undoes the merge of an absorbed contact (the survivor's side).
    Unmerge {
        /// The absorbed contact to give back.
        absorbed: ContactId,
    },
    /// Releases this contact from its survivor (the absorbed side of an unmerge).
    UnmergeFrom {
        /// The survivor it was merged into.
        survivor: ContactId,
    },
    /// Remembers that another contact is a different person, so it is never merged with this
    /// one nor proposed again.
    DeclareNotDuplicate {
        /// The other contact.
        other: ContactId,
    },
    /// Forgets a "not a duplicate" declaration.
    RevokeNotDuplicate {
        /// The other contact.
        other: ContactId,
    },
    /// Records that identity resolution suspects `candidate` to be the same person, for a
    /// person to decide in the review queue. The actor is the context's (usually the
    /// identity resolution, as [`Actor::System`]).
    RecordDuplicateSuspicion {
        /// The other contact.
        candidate: ContactId,
        /// Score, verdict (must be [`MatchVerdict::Review`]) and reasons.
        assessment: MatchAssessment,
    },
    /// Records that `lead` was converted into this contact, so that erasing the person
    /// reaches the lead's personal data too. Recording a lead twice changes nothing.
    RecordSourceLead {
        /// The converted lead.
        lead: LeadId,
    },
    /// Erases the contact's personal data (GDPR Art. 17).
    Erase {
        /// Who asked, on which ground, when.
        request: ErasureRequest,
    },
    /// Sets or clears custom field values under the tenant's current schema (see
    /// [`CustomFieldsUpdate`]); an update without changes still checks the validation rules.
    SetCustomFields(CustomFieldsUpdate),
    /// Changes details from a connected system under the data dictionary's rules (see
    /// [`crate::sync`]): each single-valued field is judged against its current value and
    /// source; a change the rules refuse refuses the whole update, naming every refusal.
    /// Email and phone changes follow the rules of [`ContactCommand::ChangeDetails`].
    Sync {
        /// The changes, judged in order.
        changes: Vec<DetailChange>,
        /// The source system and its time.
        provenance: Provenance,
        /// The rules of the governed fields (ungoverned fields follow `ChangeDetails`).
        rules: ContactRules,
    },
    /// Decides a field conflict waiting for review: accepted, the proposed value replaces the
    /// current one (with the proposing source's provenance); rejected, the current one stays.
    ResolveFieldConflict {
        /// The field.
        field: ContactField,
        /// Whether the proposed value is taken.
        accept: bool,
    },
    /// Records the contact's id in a connected system (also on a contact merged into another:
    /// the survivor is found through it); linking an id held already changes nothing.
    LinkExternalId(ExternalId),
    /// Forgets an id in a connected system; one not held changes nothing.
    UnlinkExternalId(ExternalId),
}

/// A fact about a contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ContactEvent {
    /// The contact was created.
    #[serde(rename = "ContactCreated")]
    Created {
        /// The contact.
        contact_id: ContactId,
        /// The system it came from and that system's time.
        origin: Provenance,
        /// When.
        at: DateTime<Utc>,
    },
    /// One field got a new value (or was cleared).
    #[serde(rename = "ContactDetailChanged")]
    DetailChanged {
        /// The field and its new value.
        detail: Detail,
        /// The source system and its timestamp.
        provenance: Provenance,
        /// When.
        at: DateTime<Utc>,
    },
    /// An email address was added.
    #[serde(rename = "ContactEmailAdded")]
    EmailAdded {
        /// The address; `None` once the person was erased (it was encrypted with their key).
        email: Option<EmailAddress>,
        /// The source system and its timestamp.
        provenance: Provenance,
        /// When.
        at: DateTime<Utc>,
    },
    /// An email address was removed.
    #[serde(rename = "ContactEmailRemoved")]
    EmailRemoved {
        /// The address; `None` once the person was erased (it was encrypted with their key).
        email: Option<EmailAddress>,
        /// The source system and its timestamp.
        provenance: Provenance,
        /// When.
        at: DateTime<Utc>,
    },
    /// A phone number was added.
    #[serde(rename = "ContactPhoneAdded")]
    PhoneAdded {
        /// The number; `None` once the person was erased (it was encrypted with their key).
        phone: Option<PhoneNumber>,
        /// The source system and its timestamp.
        provenance: Provenance,
        /// When.
        at: DateTime<Utc>,
    },
    /// A phone number was removed.
    #[serde(rename = "ContactPhoneRemoved")]
    PhoneRemoved {
        /// The number; `None` once the person was erased (it was encrypted with their key).
        phone: Option<PhoneNumber>,
        /// The source system and its timestamp.
        provenance: Provenance,
        /// When.
        at: DateTime<Utc>,
    },
    /// The person agreed to be contacted on a channel for a purpose; this statement is now in
    /// effect.
    #[serde(rename = "ContactConsentGranted")]
    ConsentGranted {
        /// The channel.
        channel: ConsentChannel,
        /// The purpose (marketing when the payload names none, as before purposes existed).
        #[serde(default, skip_serializing_if = "ConsentPurpose::is_marketing")]
        purpose: ConsentPurpose,
        /// The system that recorded it and when the person said it.
        provenance: Provenance,
        /// The evidence.
        #[serde(deserialize_with = "crate::personal::erasable")]
        proof: ConsentProof,
        /// When.
        at: DateTime<Utc>,
    },
    /// The person withdrew consent for a channel and purpose; this statement is now in effect.
    #[serde(rename = "ContactConsentWithdrawn")]
    ConsentWithdrawn {
        /// The channel.
        channel: ConsentChannel,
        /// The purpose (marketing when the payload names none, as before purposes existed).
        #[serde(default, skip_serializing_if = "ConsentPurpose::is_marketing")]
        purpose: ConsentPurpose,
        /// The system that recorded it and when the person said it.
        provenance: Provenance,
        /// The evidence, if any.
        #[serde(deserialize_with = "crate::personal::erasable")]
        proof: ConsentProof,
        /// When.
        at: DateTime<Utc>,
    },
    /// This contact absorbed a duplicate.
    #[serde(rename = "ContactMerged")]
    Merged {
        /// The duplicate.
        absorbed: ContactId,
        /// The policy applied.
        policy: MergePolicy,
        /// Every decision, with both sides' values, so the merge can be undone.
        #[serde(deserialize_with = "crate::personal::erasable")]
        decisions: MergeDecisions,
        /// Who merged.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// This contact was merged into a survivor.
    #[serde(rename = "ContactMergedInto")]
    MergedInto {
        /// The survivor.
        survivor: ContactId,
        /// Who merged.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A merge was undone on the survivor.
    #[serde(rename = "ContactUnmerged")]
    Unmerged {
        /// The contact given back.
        absorbed: ContactId,
        /// What was put back, and what was kept because it changed since the merge.
        #[serde(deserialize_with = "crate::personal::erasable")]
        restoration: Restoration,
        /// Who unmerged.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// This contact was released from its survivor and is in use again.
    #[serde(rename = "ContactUnmergedFrom")]
    UnmergedFrom {
        /// The survivor it had been merged into.
        survivor: ContactId,
        /// Who unmerged.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// Another contact was declared a different person.
    #[serde(rename = "ContactDeclaredNotDuplicate")]
    DeclaredNotDuplicate {
        /// The other contact.
        other: ContactId,
        /// Who declared it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A "not a duplicate" declaration was revoked.
    #[serde(rename = "ContactNotDuplicateRevoked")]
    NotDuplicateRevoked {
        /// The other contact.
        other: ContactId,
        /// Who revoked it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// Identity resolution suspects that another contact is the same person; a person
    /// decides in the review queue.
    #[serde(rename = "ContactDuplicateSuspected")]
    DuplicateSuspected {
        /// The other contact.
        candidate: ContactId,
        /// Score, verdict (review) and reasons; the reasons quote both contacts' identities.
        assessment: MatchAssessment,
        /// Who recorded it (usually the identity resolution).
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The contact's personal data was erased. Holds no personal data itself.
    #[serde(rename = "ContactErased")]
    Erased {
        /// The contact (so the state after erasure needs no earlier event).
        contact_id: ContactId,
        /// Who asked, on which ground, when.
        request: ErasureRequest,
        /// Contacts it had absorbed: the same person, to be erased too.
        absorbed: Vec<ContactId>,
        /// The survivor it had been merged into, which may hold the person's data too.
        merged_into: Option<ContactId>,
        /// The leads converted into it, whose personal data is the person's too.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        leads: Vec<LeadId>,
        /// Who carried it out.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A lead was converted into this contact.
    #[serde(rename = "ContactSourceLeadRecorded")]
    SourceLeadRecorded {
        /// The lead.
        lead: LeadId,
        /// When.
        at: DateTime<Utc>,
    },
    /// Custom field values were set or cleared.
    #[serde(rename = "ContactCustomFieldsSet")]
    CustomFieldsSet(CustomFieldsSet),
    /// A connected system's value lost to the current one under the field's policy; kept in
    /// the history, changing nothing.
    #[serde(rename = "ContactSyncOutranked")]
    SyncOutranked {
        /// The field and the value that lost.
        detail: Detail,
        /// Where it came from.
        provenance: Provenance,
        /// Where the value that stays came from.
        kept: Provenance,
        /// When.
        at: DateTime<Utc>,
    },
    /// A connected system's value differs from the current one of a field under manual
    /// review: it waits for a person (a newer proposal for the field replaces it).
    #[serde(rename = "ContactFieldConflictRaised")]
    FieldConflictRaised {
        /// The field and the proposed value.
        detail: Detail,
        /// Where it came from.
        provenance: Provenance,
        /// Where the current value came from.
        current: Provenance,
        /// When.
        at: DateTime<Utc>,
    },
    /// The contact's id in a connected system was recorded.
    #[serde(rename = "ContactExternalIdLinked")]
    ExternalIdLinked {
        /// The system and the id; `None` once the person was erased (it was encrypted with
        /// their key).
        external: Option<ExternalId>,
        /// When.
        at: DateTime<Utc>,
    },
    /// An id in a connected system was forgotten.
    #[serde(rename = "ContactExternalIdUnlinked")]
    ExternalIdUnlinked {
        /// The system and the id; `None` once the person was erased.
        external: Option<ExternalId>,
        /// When.
        at: DateTime<Utc>,
    },
    /// A person decided a field conflict (an accepted value is its own
    /// [`ContactEvent::DetailChanged`] before this).
    #[serde(rename = "ContactFieldConflictResolved")]
    FieldConflictResolved {
        /// The field.
        field: ContactField,
        /// Whether the proposed value was taken.
        accepted: bool,
        /// Who decided.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for ContactEvent {
    /// The members that may hold personal data, encrypted with the contact's key.
    fn personal_fields(&self) -> &'static [&'static str] {
        match self {
            ContactEvent::CustomFieldsSet(set) => set.personal_fields(),
            ContactEvent::DetailChanged { .. }
            | ContactEvent::SyncOutranked { .. }
            | ContactEvent::FieldConflictRaised { .. } => &["/detail/value"],
            ContactEvent::ExternalIdLinked { .. } | ContactEvent::ExternalIdUnlinked { .. } => {
                &["/external"]
            }
            ContactEvent::EmailAdded { .. } | ContactEvent::EmailRemoved { .. } => &["/email"],
            ContactEvent::PhoneAdded { .. } | ContactEvent::PhoneRemoved { .. } => &["/phone"],
            ContactEvent::ConsentGranted { .. } | ContactEvent::ConsentWithdrawn { .. } => {
                &["/proof"]
            }
            ContactEvent::Merged { .. } => &["/decisions"],
            ContactEvent::Unmerged { .. } => &["/restoration"],
            ContactEvent::DuplicateSuspected { .. } => &["/assessment/reasons"],
            ContactEvent::Created { .. }
            | ContactEvent::MergedInto { .. }
            | ContactEvent::UnmergedFrom { .. }
            | ContactEvent::DeclaredNotDuplicate { .. }
            | ContactEvent::NotDuplicateRevoked { .. }
            | ContactEvent::Erased { .. }
            | ContactEvent::SourceLeadRecorded { .. }
            | ContactEvent::FieldConflictResolved { .. } => &[],
        }
    }

    fn event_type(&self) -> &'static str {
        match self {
            ContactEvent::CustomFieldsSet(_) => "ContactCustomFieldsSet",
            ContactEvent::Created { .. } => "ContactCreated",
            ContactEvent::DetailChanged { .. } => "ContactDetailChanged",
            ContactEvent::EmailAdded { .. } => "ContactEmailAdded",
            ContactEvent::EmailRemoved { .. } => "ContactEmailRemoved",
            ContactEvent::PhoneAdded { .. } => "ContactPhoneAdded",
            ContactEvent::PhoneRemoved { .. } => "ContactPhoneRemoved",
            ContactEvent::ConsentGranted { .. } => "ContactConsentGranted",
            ContactEvent::ConsentWithdrawn { .. } => "ContactConsentWithdrawn",
            ContactEvent::Merged { .. } => "ContactMerged",
            ContactEvent::MergedInto { .. } => "ContactMergedInto",
            ContactEvent::Unmerged { .. } => "ContactUnmerged",
            ContactEvent::UnmergedFrom { .. } => "ContactUnmergedFrom",
            ContactEvent::DeclaredNotDuplicate { .. } => "ContactDeclaredNotDuplicate",
            ContactEvent::NotDuplicateRevoked { .. } => "ContactNotDuplicateRevoked",
            ContactEvent::DuplicateSuspected { .. } => "ContactDuplicateSuspected",
            ContactEvent::Erased { .. } => "ContactErased",
            ContactEvent::SourceLeadRecorded { .. } => "ContactSourceLeadRecorded",
            ContactEvent::SyncOutranked { .. } => "ContactSyncOutranked",
            ContactEvent::FieldConflictRaised { .. } => "ContactFieldConflictRaised",
            ContactEvent::FieldConflictResolved { .. } => "ContactFieldConflictResolved",
            ContactEvent::ExternalIdLinked { .. } => "ContactExternalIdLinked",
            ContactEvent::ExternalIdUnlinked { .. } => "ContactExternalIdUnlinked",
        }
    }
}

/// Why a command to a contact was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ContactError {
    /// The contact has not been created.
    #[error("contact not found: it has not been created")]
    NotFound,
    /// A contact with this id already exists.
    #[error("contact {id} already exists")]
    AlreadyExists {
        /// The existing contact.
        id: ContactId,
    },
    /// The contact was erased: nothing can change it any more.
    #[error("contact {id} was erased: it can no longer be changed")]
    Erased {
        /// The erased contact.
        id: ContactId,
    },
    /// The contact was merged into another: change the survivor, or unmerge first.
    #[error("contact was merged into {into}: change the survivor, or unmerge first")]
    Absorbed {
        /// The survivor.
        into: ContactId,
    },
    /// A change names no source system.
    #[error("a change must name its source system")]
    UnnamedSource,
    /// The data dictionary's rules refuse part of a sync update; nothing of it was applied.
    #[error("the update was refused: {0}")]
    SyncRefused(#[source] SyncRefusals),
    /// An external id's system or id is empty, too long or holds control characters.
    #[error("external id: the {what} must be 1 to 200 characters, without control characters")]
    InvalidExternalId {
        /// `system` or `id`.
        what: &'static str,
    },
    /// No conflict waits for review on the field.
    #[error("no conflict waits for review on {field:?}")]
    NoConflict {
        /// The field.
        field: ContactField,
    },
    /// A source's timestamp lies too far in the future.
    #[error("timestamp {timestamp} lies in the future (now is {now})")]
    TimestampInFuture {
        /// The timestamp given.
        timestamp: DateTime<Utc>,
        /// The decision's time.
        now: DateTime<Utc>,
    },
    /// A value no person can have (a birth date in the future, an identifier of a thousand
    /// characters).
    #[error("{field:?}: {reason}")]
    ImplausibleValue {
        /// The field.
        field: ContactField,
        /// What a value must be.
        reason: &'static str,
    },
    /// A text value is blank; clear the field instead.
    #[error("{field:?} cannot be blank: clear it instead")]
    BlankValue {
        /// The field.
        field: ContactField,
    },
    /// The primary email cannot be cleared (or left unlisted) while the contact has addresses.
    #[error("a contact with email addresses needs one of them as its primary address")]
    PrimaryEmailRequired,
    /// A consent grant without any proof.
    #[error("consent for {scope} cannot be granted without proof")]
    ConsentProofMissing {
        /// The channel and purpose.
        scope: ConsentScope,
    },
    /// A contact cannot be merged with itself.
    #[error("a contact cannot be merged with itself")]
    MergeWithSelf,
    /// The contact to absorb has not been created.
    #[error("the contact to absorb has not been created")]
    AbsorbedNotFound,
    /// The contact to absorb was erased.
    #[error("contact {absorbed} was erased and cannot be merged")]
    CannotAbsorbErased {
        /// The erased contact.
        absorbed: ContactId,
    },
    /// The contact to absorb was already merged into another survivor.
    #[error("contact {absorbed} was already merged into {into}")]
    AbsorbedElsewhere {
        /// The contact to absorb.
        absorbed: ContactId,
        /// Its survivor.
        into: ContactId,
    },
    /// The two contacts were declared different people.
    #[error("contact {other} was declared not a duplicate: revoke that first")]
    DeclaredNotDuplicate {
        /// The other contact.
        other: ContactId,
    },
    /// The merge would make two contacts each other's survivor.
    #[error("contact {other} absorbed this one's counterpart: the merge would be circular")]
    CircularMerge {
        /// The other contact.
        other: ContactId,
    },
    /// Two choices name the same field.
    #[error("two choices were given for {field:?}")]
    ConflictingChoices {
        /// The field.
        field: ContactField,
    },
    /// The survivor holds no merge of this contact.
    #[error("contact {absorbed} is not merged into this contact")]
    NotMerged {
        /// The contact named.
        absorbed: ContactId,
    },
    /// This contact is not merged into the survivor named.
    #[error("this contact is not merged into {survivor}")]
    NotMergedInto {
        /// The survivor named.
        survivor: ContactId,
    },
    /// A contact cannot be declared not a duplicate of itself.
    #[error("a contact cannot be declared not a duplicate of itself")]
    NotDuplicateOfSelf,
    /// The other contact is merged into this one: unmerge first.
    #[error("contact {other} is merged into this contact: unmerge it first")]
    StillMerged {
        /// The other contact.
        other: ContactId,
    },
    /// A contact cannot be suspected to duplicate itself.
    #[error("a contact cannot be suspected to duplicate itself")]
    SuspectedOfSelf,
    /// Only a review verdict is a suspicion; auto-links and distinct pairs are decided where
    /// they are scored.
    #[error(
        "a {verdict:?} verdict is not a suspicion: only pairs for review go to the review queue"
    )]
    NotForReview {
        /// The verdict given.
        verdict: MatchVerdict,
    },
    /// The custom field values do not fit their fields or break a validation rule; every
    /// problem, each naming its field.
    #[error("{0}")]
    CustomFields(#[source] CustomFieldsRefused),
}

/// Serializes a contact (carried in a command) as its id.
fn serialize_contact_id<S: serde::Serializer>(
    contact: &Contact,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&contact.id, serializer)
}

/// A contact's state, rebuilt from its events.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Contact {
    /// The contact's id; `None` until created.
    pub id: Option<ContactId>,
    /// Where it stands; `None` until created.
    pub status: Option<ContactStatus>,
    /// When it was created.
    pub created_at: Option<DateTime<Utc>>,
    /// The system it was created from and that system's time.
    pub origin: Option<Provenance>,
    /// Its details, each with its provenance.
    pub details: ContactDetails,
    /// The consent statement in effect per channel.
    pub consents: Consents,
    /// Merges it holds as the survivor, oldest first (an unmerge removes one).
    pub merges: Vec<MergeRecord>,
    /// Contacts declared different people, in id order.
    pub not_duplicates: Vec<ContactId>,
    /// The latest suspicion per candidate not yet settled (by a merge or a declaration), in
    /// candidate id order.
    pub suspicions: Vec<DuplicateSuspicion>,
    /// The erasure, once erased.
    pub erasure: Option<ErasureRecord>,
    /// The leads converted into this contact, in id order.
    pub source_leads: Vec<LeadId>,
    /// The custom field values.
    pub custom: CustomValues,
    /// Values of fields under manual review waiting for a person, with their source, by
    /// field (dropped when the contact is merged into another: the merge decided).
    pub conflicts: BTreeMap<ContactField, Sourced<Detail>>,
    /// Its ids in connected systems.
    pub external_ids: BTreeSet<ExternalId>,
}

impl Contact {
    /// The survivor this contact is merged into, if it is.
    pub fn merged_into(&self) -> Option<ContactId> {
        match self.status {
            Some(ContactStatus::Absorbed { into }) => Some(into),
            _ => None,
        }
    }

    /// The contacts this one has absorbed (merges not undone), oldest first.
    pub fn absorbed_contacts(&self) -> Vec<ContactId> {
        self.merges.iter().map(|merge| merge.absorbed).collect()
    }

    /// Whether the company may contact the person for `scope` (a channel for a purpose; a
    /// channel alone is marketing): a grant is in effect on this contact. Linked records (the
    /// leads it came from) are weighed by [`least_permissive`].
    pub fn may_contact(&self, scope: impl Into<ConsentScope>) -> bool {
        self.consents.is_granted(scope)
    }

    /// Whether the state holds any personal data (details, consent statements, merge
    /// records, the reasons of suspicions). Never true after erasure.
    pub fn holds_personal_data(&self) -> bool {
        !self.details.is_empty()
            || !self.consents.is_empty()
            || !self.merges.is_empty()
            || !self.suspicions.is_empty()
    }

    /// The suspicion about `candidate` still unsettled, if any.
    pub fn suspicion(&self, candidate: ContactId) -> Option<&DuplicateSuspicion> {
        self.suspicions
            .binary_search_by_key(&candidate, |suspicion| suspicion.candidate)
            .ok()
            .and_then(|index| self.suspicions.get(index))
    }

    fn settle_suspicion(&mut self, candidate: ContactId) {
        self.suspicions
            .retain(|suspicion| suspicion.candidate != candidate);
    }

    fn require_active(&self) -> Result<ContactId, ContactError> {
        match (self.id, self.status) {
            (Some(id), Some(ContactStatus::Active)) => Ok(id),
            (Some(id), Some(ContactStatus::Erased)) => Err(ContactError::Erased { id }),
            (Some(_), Some(ContactStatus::Absorbed { into })) => {
                Err(ContactError::Absorbed { into })
            }
            _ => Err(ContactError::NotFound),
        }
    }

    fn create(
        &self,
        contact_id: ContactId,
        provenance: &Provenance,
        changes: Vec<DetailChange>,
        ctx: &Context,
    ) -> Result<Vec<ContactEvent>, ContactError> {
        if let Some(id) = self.id {
            return Err(ContactError::AlreadyExists { id });
        }
        check_provenance(provenance, ctx)?;
        let created = ContactEvent::Created {
            contact_id,
            origin: provenance.clone(),
            at: ctx.now,
        };
        let working = self.clone().evolve(&created);
        let mut events = vec![created];
        events.extend(working.detail_events(changes, provenance, ctx.now)?);
        Ok(events)
    }

    fn change_details(
        &self,
        changes: Vec<DetailChange>,
        provenance: &Provenance,
        ctx: &Context,
    ) -> Result<Vec<ContactEvent>, ContactError> {
        self.require_active()?;
        check_provenance(provenance, ctx)?;
        self.clone().detail_events(changes, provenance, ctx.now)
    }

    /// The events of `changes` applied in order, each seeing the ones before it.
    fn detail_events(
        mut self,
        changes: Vec<DetailChange>,
        provenance: &Provenance,
        now: DateTime<Utc>,
    ) -> Result<Vec<ContactEvent>, ContactError> {
        let mut events = Vec::new();
        for change in changes {
            for event in self.detail_change(change, provenance, now)? {
                self = self.evolve(&event);
                events.push(event);
            }
        }
        Ok(events)
    }

    fn detail_change(
        &self,
        change: DetailChange,
        provenance: &Provenance,
        now: DateTime<Utc>,
    ) -> Result<Vec<ContactEvent>, ContactError> {
        let changed = |detail: Detail| ContactEvent::DetailChanged {
            detail,
            provenance: provenance.clone(),
            at: now,
        };
        match change {
            DetailChange::Set(Detail::PrimaryEmail(email)) => {
                self.choose_primary_email(email, provenance, now)
            }
            DetailChange::Set(detail) => {
                let detail = tidy(detail, now)?;
                let field = detail.field();
                if self.details.is_superseded(field, provenance)
                    || self.details.value(field) == detail
                {
                    return Ok(vec![]);
                }
                Ok(vec![changed(detail)])
            }
            DetailChange::AddEmail(email) => Ok(self.add_email(email, provenance, now)),
            DetailChange::RemoveEmail(email) => Ok(self.remove_email(&email, provenance, now)),
            DetailChange::AddPhone(phone) => {
                let set = self.details.phone_set();
                if set.get(phone.key()).is_some()
                    || set.addition_is_superseded(phone.key(), provenance)
                {
                    return Ok(vec![]);
                }
                Ok(vec![ContactEvent::PhoneAdded {
                    phone: Some(phone),
                    provenance: provenance.clone(),
                    at: now,
                }])
            }
            DetailChange::RemovePhone(phone) => {
                let set = self.details.phone_set();
                let Some(listed) = set.get(phone.key()) else {
                    return Ok(vec![]);
                };
                if set.removal_is_superseded(phone.key(), provenance) {
                    return Ok(vec![]);
                }
                Ok(vec![ContactEvent::PhoneRemoved {
                    phone: Some(listed.value.clone()),
                    provenance: provenance.clone(),
                    at: now,
                }])
            }
        }
    }

    fn choose_primary_email(
        &self,
        email: Option<EmailAddress>,
        provenance: &Provenance,
        now: DateTime<Utc>,
    ) -> Result<Vec<ContactEvent>, ContactError> {
        let field = ContactField::PrimaryEmail;
        let changed = |email: Option<EmailAddress>| ContactEvent::DetailChanged {
            detail: Detail::PrimaryEmail(email),
            provenance: provenance.clone(),
            at: now,
        };
        let Some(email) = email else {
            if !self.details.emails().is_empty() {
                return Err(ContactError::PrimaryEmailRequired);
            }
            if self.details.is_superseded(field, provenance)
                || self.details.primary_email().is_none()
            {
                return Ok(vec![]);
            }
            return Ok(vec![changed(None)]);
        };
        let current = self.details.primary_email();
        if self.details.is_superseded(field, provenance)
            || current.is_some_and(|p| p.key() == email.key())
        {
            return Ok(vec![]);
        }
        if let Some(listed) = self.details.email(email.key()) {
            return Ok(vec![changed(Some(listed.value.clone()))]);
        }
        if self
            .details
            .email_set()
            .addition_is_superseded(email.key(), provenance)
        {
            return Ok(vec![]);
        }
        Ok(vec![
            ContactEvent::EmailAdded {
                email: Some(email.clone()),
                provenance: provenance.clone(),
                at: now,
            },
            changed(Some(email)),
        ])
    }

    fn add_email(
        &self,
        email: EmailAddress,
        provenance: &Provenance,
        now: DateTime<Utc>,
    ) -> Vec<ContactEvent> {
        let set = self.details.email_set();
        if set.get(email.key()).is_some() || set.addition_is_superseded(email.key(), provenance) {
            return vec![];
        }
        let mut events = vec![ContactEvent::EmailAdded {
            email: Some(email.clone()),
            provenance: provenance.clone(),
            at: now,
        }];
        // The invariant (addresses imply a primary) beats staleness of the primary field: a
        // contact's first address always becomes its primary one.
        if self.details.primary_email().is_none() {
            events.push(ContactEvent::DetailChanged {
                detail: Detail::PrimaryEmail(Some(email)),
                provenance: provenance.clone(),
                at: now,
            });
        }
        events
    }

    fn remove_email(
        &self,
        email: &EmailAddress,
        provenance: &Provenance,
        now: DateTime<Utc>,
    ) -> Vec<ContactEvent> {
        let set = self.details.email_set();
        let key = email.key();
        let Some(listed) = set.get(key) else {
            return vec![];
        };
        let is_primary = self.details.primary_email().is_some_and(|p| p.key() == key);
        if set.removal_is_superseded(key, provenance)
            || (is_primary
                && self
                    .details
                    .is_superseded(ContactField::PrimaryEmail, provenance))
        {
            return vec![];
        }
        let mut events = vec![ContactEvent::EmailRemoved {
            email: Some(listed.value.clone()),
            provenance: provenance.clone(),
            at: now,
        }];
        if is_primary {
            let next = set
                .items()
                .iter()
                .find(|e| e.value.key() != key)
                .map(|e| e.value.clone());
            events.push(ContactEvent::DetailChanged {
                detail: Detail::PrimaryEmail(next),
                provenance: provenance.clone(),
                at: now,
            });
        }
        events
    }

    fn record_consent(
        &self,
        scope: ConsentScope,
        statement: ChannelConsent,
        ctx: &Context,
    ) -> Result<Vec<ContactEvent>, ContactError> {
        self.require_active()?;
        check_provenance(&statement.provenance, ctx)?;
        if statement.is_granted() && statement.proof.is_empty() {
            return Err(ContactError::ConsentProofMissing { scope });
        }
        if !self.consents.would_change(scope, &statement) {
            return Ok(vec![]);
        }
        let ChannelConsent {
            status,
            provenance,
            proof,
        } = statement;
        let ConsentScope { channel, purpose } = scope;
        Ok(vec![match status {
            ConsentStatus::Granted => ContactEvent::ConsentGranted {
                channel,
                purpose,
                provenance,
                proof,
                at: ctx.now,
            },
            ConsentStatus::Withdrawn => ContactEvent::ConsentWithdrawn {
                channel,
                purpose,
                provenance,
                proof,
                at: ctx.now,
            },
        }])
    }

    fn merge(
        &self,
        absorbed: &Contact,
        policy: MergePolicy,
        choices: &[FieldChoice],
        ctx: &Context,
    ) -> Result<Vec<ContactEvent>, ContactError> {
        let id = self.require_active()?;
        let (Some(absorbed_id), Some(absorbed_status)) = (absorbed.id, absorbed.status) else {
            return Err(ContactError::AbsorbedNotFound);
        };
        if absorbed_id == id {
            return Err(ContactError::MergeWithSelf);
        }
        if self
            .merges
            .iter()
            .any(|merge| merge.absorbed == absorbed_id)
        {
            return Ok(vec![]);
        }
        match absorbed_status {
            ContactStatus::Erased => {
                return Err(ContactError::CannotAbsorbErased {
                    absorbed: absorbed_id,
                });
            }
            ContactStatus::Absorbed { into } if into != id => {
                return Err(ContactError::AbsorbedElsewhere {
                    absorbed: absorbed_id,
                    into,
                });
            }
            ContactStatus::Absorbed { .. } | ContactStatus::Active => {}
        }
        if self.not_duplicates.contains(&absorbed_id) || absorbed.not_duplicates.contains(&id) {
            return Err(ContactError::DeclaredNotDuplicate { other: absorbed_id });
        }
        if absorbed.merges.iter().any(|merge| merge.absorbed == id) {
            return Err(ContactError::CircularMerge { other: absorbed_id });
        }
        let decisions = merge::plan_merge(
            (&self.details, &self.consents),
            (&absorbed.details, &absorbed.consents),
            policy,
            choices,
        )?;
        Ok(vec![ContactEvent::Merged {
            absorbed: absorbed_id,
            policy,
            decisions,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn merge_into(
        &self,
        survivor: ContactId,
        ctx: &Context,
    ) -> Result<Vec<ContactEvent>, ContactError> {
        if self.merged_into() == Some(survivor) {
            return Ok(vec![]);
        }
        let id = self.require_active()?;
        if survivor == id {
            return Err(ContactError::MergeWithSelf);
        }
        if self.not_duplicates.contains(&survivor) {
            return Err(ContactError::DeclaredNotDuplicate { other: survivor });
        }
        if self.merges.iter().any(|merge| merge.absorbed == survivor) {
            return Err(ContactError::CircularMerge { other: survivor });
        }
        Ok(vec![ContactEvent::MergedInto {
            survivor,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn unmerge(
        &self,
        absorbed: ContactId,
        ctx: &Context,
    ) -> Result<Vec<ContactEvent>, ContactError> {
        self.require_active()?;
        let record = self
            .merges
            .iter()
            .find(|merge| merge.absorbed == absorbed)
            .ok_or(ContactError::NotMerged { absorbed })?;
        let restoration = merge::plan_unmerge(&self.details, &self.consents, record, ctx.now);
        Ok(vec![ContactEvent::Unmerged {
            absorbed,
            restoration,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn unmerge_from(
        &self,
        survivor: ContactId,
        ctx: &Context,
    ) -> Result<Vec<ContactEvent>, ContactError> {
        match (self.id, self.status) {
            (Some(_), Some(ContactStatus::Absorbed { into })) if into == survivor => {
                Ok(vec![ContactEvent::UnmergedFrom {
                    survivor,
                    by: ctx.actor.clone(),
                    at: ctx.now,
                }])
            }
            (Some(id), Some(ContactStatus::Erased)) => Err(ContactError::Erased { id }),
            (Some(_), Some(_)) => Err(ContactError::NotMergedInto { survivor }),
            _ => Err(ContactError::NotFound),
        }
    }

    fn declare_not_duplicate(
        &self,
        other: ContactId,
        ctx: &Context,
    ) -> Result<Vec<ContactEvent>, ContactError> {
        let id = self.require_active()?;
        if other == id {
            return Err(ContactError::NotDuplicateOfSelf);
        }
        if self.merges.iter().any(|merge| merge.absorbed == other) {
            return Err(ContactError::StillMerged { other });
        }
        if self.not_duplicates.contains(&other) {
            return Ok(vec![]);
        }
        Ok(vec![ContactEvent::DeclaredNotDuplicate {
            other,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn revoke_not_duplicate(
        &self,
        other: ContactId,
        ctx: &Context,
    ) -> Result<Vec<ContactEvent>, ContactError> {
        self.require_active()?;
        if !self.not_duplicates.contains(&other) {
            return Ok(vec![]);
        }
        Ok(vec![ContactEvent::NotDuplicateRevoked {
            other,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn record_duplicate_suspicion(
        &self,
        candidate: ContactId,
        assessment: MatchAssessment,
        ctx: &Context,
    ) -> Result<Vec<ContactEvent>, ContactError> {
        let id = self.require_active()?;
        if candidate == id {
            return Err(ContactError::SuspectedOfSelf);
        }
        if assessment.verdict != MatchVerdict::Review {
            return Err(ContactError::NotForReview {
                verdict: assessment.verdict,
            });
        }
        if self.merges.iter().any(|merge| merge.absorbed == candidate) {
            return Err(ContactError::StillMerged { other: candidate });
        }
        if self.not_duplicates.contains(&candidate) {
            return Err(ContactError::DeclaredNotDuplicate { other: candidate });
        }
        if self
            .suspicion(candidate)
            .is_some_and(|known| known.assessment == assessment)
        {
            return Ok(vec![]);
        }
        Ok(vec![ContactEvent::DuplicateSuspected {
            candidate,
            assessment,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn record_source_lead(
        &self,
        lead: LeadId,
        ctx: &Context,
    ) -> Result<Vec<ContactEvent>, ContactError> {
        let (Some(id), Some(status)) = (self.id, self.status) else {
            return Err(ContactError::NotFound);
        };
        if status == ContactStatus::Erased {
            return Err(ContactError::Erased { id });
        }
        if self.source_leads.binary_search(&lead).is_ok() {
            return Ok(vec![]);
        }
        Ok(vec![ContactEvent::SourceLeadRecorded { lead, at: ctx.now }])
    }

    fn erase(
        &self,
        request: ErasureRequest,
        ctx: &Context,
    ) -> Result<Vec<ContactEvent>, ContactError> {
        let (Some(id), Some(status)) = (self.id, self.status) else {
            return Err(ContactError::NotFound);
        };
        if status == ContactStatus::Erased {
            return Err(ContactError::Erased { id });
        }
        check_time(request.requested_at, ctx)?;
        Ok(vec![ContactEvent::Erased {
            contact_id: id,
            request,
            absorbed: self.absorbed_contacts(),
            merged_into: self.merged_into(),
            leads: self.source_leads.clone(),
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }
}

fn check_time(timestamp: DateTime<Utc>, ctx: &Context) -> Result<(), ContactError> {
    if timestamp > ctx.now + SOURCE_CLOCK_TOLERANCE {
        return Err(ContactError::TimestampInFuture {
            timestamp,
            now: ctx.now,
        });
    }
    Ok(())
}

fn check_provenance(provenance: &Provenance, ctx: &Context) -> Result<(), ContactError> {
    if provenance.system.trim().is_empty() {
        return Err(ContactError::UnnamedSource);
    }
    check_time(provenance.source_time, ctx)
}

/// The longest national or customer identifier kept, in characters.
const MAX_NATIONAL_ID_CHARS: usize = 64;

/// The earliest date of birth taken as one.
const EARLIEST_BIRTH_YEAR: i32 = 1850;

/// Trims free text; blank text is refused rather than stored as a value nobody can see, and
/// values no person can have (a birth date after today) are refused.
fn tidy(detail: Detail, now: DateTime<Utc>) -> Result<Detail, ContactError> {
    match detail {
        Detail::DateOfBirth(Some(date)) => {
            if date > now.date_naive() || date.year() < EARLIEST_BIRTH_YEAR {
                return Err(ContactError::ImplausibleValue {
                    field: ContactField::DateOfBirth,
                    reason: "a date of birth lies between 1850 and today",
                });
            }
            Ok(Detail::DateOfBirth(Some(date)))
        }
        Detail::Address(Some(address)) => match address.tidy() {
            Ok(address) => Ok(Detail::Address(Some(address))),
            Err(address::AddressProblem::Blank) => Err(ContactError::BlankValue {
                field: ContactField::Address,
            }),
            Err(address::AddressProblem::TooLong) => Err(ContactError::ImplausibleValue {
                field: ContactField::Address,
                reason: "each part of an address is at most 200 characters",
            }),
        },
        Detail::NationalId(Some(id)) => {
            let trimmed = id.trim();
            if !trimmed.chars().any(char::is_alphanumeric) {
                return Err(ContactError::BlankValue {
                    field: ContactField::NationalId,
                });
            }
            if trimmed.chars().count() > MAX_NATIONAL_ID_CHARS {
                return Err(ContactError::ImplausibleValue {
                    field: ContactField::NationalId,
                    reason: "an identifier is at most 64 characters",
                });
            }
            Ok(Detail::NationalId(Some(trimmed.to_owned())))
        }
        Detail::JobTitle(Some(title)) => {
            let trimmed = title.trim();
            if trimmed.is_empty() {
                return Err(ContactError::BlankValue {
                    field: ContactField::JobTitle,
                });
            }
            Ok(Detail::JobTitle(Some(trimmed.to_owned())))
        }
        other => Ok(other),
    }
}

impl Aggregate for Contact {
    const KIND: &'static str = "contact";
    type Command = ContactCommand;
    type Event = ContactEvent;
    type Error = ContactError;

    fn decide(
        &self,
        command: ContactCommand,
        ctx: &Context,
    ) -> Result<Vec<ContactEvent>, ContactError> {
        match command {
            ContactCommand::SetCustomFields(update) => {
                self.require_active()?;
                let personal = self.data_subject().is_some();
                Ok(update
                    .decide(EntityKind::Contact, &self.custom, personal, ctx.now)
                    .map_err(ContactError::CustomFields)?
                    .map(ContactEvent::CustomFieldsSet)
                    .into_iter()
                    .collect())
            }
            ContactCommand::Create {
                contact_id,
                provenance,
                changes,
            } => self.create(contact_id, &provenance, changes, ctx),
            ContactCommand::ChangeDetails {
                changes,
                provenance,
            } => self.change_details(changes, &provenance, ctx),
            ContactCommand::GrantConsent {
                channel,
                purpose,
                provenance,
                proof,
            } => self.record_consent(
                ConsentScope::new(channel, purpose),
                ChannelConsent {
                    status: ConsentStatus::Granted,
                    provenance,
                    proof,
                },
                ctx,
            ),
            ContactCommand::WithdrawConsent {
                channel,
                purpose,
                provenance,
                proof,
            } => self.record_consent(
                ConsentScope::new(channel, purpose),
                ChannelConsent {
                    status: ConsentStatus::Withdrawn,
                    provenance,
                    proof,
                },
                ctx,
            ),
            ContactCommand::Merge {
                absorbed,
                policy,
                choices,
            } => self.merge(&absorbed, policy, &choices, ctx),
            ContactCommand::MergeInto { survivor } => self.merge_into(survivor, ctx),
            ContactCommand::Unmerge { absorbed } => self.unmerge(absorbed, ctx),
            ContactCommand::UnmergeFrom { survivor } => self.unmerge_from(survivor, ctx),
            ContactCommand::DeclareNotDuplicate { other } => self.declare_not_duplicate(other, ctx),
            ContactCommand::RevokeNotDuplicate { other } => self.revoke_not_duplicate(other, ctx),
            ContactCommand::RecordDuplicateSuspicion {
                candidate,
                assessment,
            } => self.record_duplicate_suspicion(candidate, assessment, ctx),
            ContactCommand::RecordSourceLead { lead } => self.record_source_lead(lead, ctx),
            ContactCommand::Erase { request } => self.erase(request, ctx),
            ContactCommand::Sync {
                changes,
                provenance,
                rules,
            } => self.sync(changes, &provenance, &rules, ctx),
            ContactCommand::ResolveFieldConflict { field, accept } => {
                self.resolve_field_conflict(field, accept, ctx)
            }
            ContactCommand::LinkExternalId(external) => {
                self.change_external_id(&external, true, ctx)
            }
            ContactCommand::UnlinkExternalId(external) => {
                self.change_external_id(&external, false, ctx)
            }
        }
    }

    fn data_subject(&self) -> Option<crate::personal::DataSubject> {
        self.id.map(crate::personal::DataSubject::Contact)
    }

    fn evolve(mut self, event: &ContactEvent) -> Self {
        match event {
            ContactEvent::CustomFieldsSet(set) => set.apply_to(&mut self.custom),
            ContactEvent::Created {
                contact_id,
                origin,
                at,
            } => {
                self.id = Some(*contact_id);
                self.status = Some(ContactStatus::Active);
                self.created_at = Some(*at);
                self.origin = Some(origin.clone());
            }
            ContactEvent::DetailChanged {
                detail, provenance, ..
            } => self.details.set(Sourced {
                value: detail.clone(),
                provenance: provenance.clone(),
            }),
            // An erased value (`None`) changes nothing: the erasure that made it unreadable
            // cleared the state anyway.
            ContactEvent::EmailAdded {
                email: Some(email),
                provenance,
                ..
            } => self.details.emails_mut().add(sourced(email, provenance)),
            ContactEvent::EmailRemoved {
                email: Some(email),
                provenance,
                ..
            } => self.details.emails_mut().remove(sourced(email, provenance)),
            ContactEvent::PhoneAdded {
                phone: Some(phone),
                provenance,
                ..
            } => self.details.phones_mut().add(sourced(phone, provenance)),
            ContactEvent::PhoneRemoved {
                phone: Some(phone),
                provenance,
                ..
            } => self.details.phones_mut().remove(sourced(phone, provenance)),
            ContactEvent::EmailAdded { email: None, .. }
            | ContactEvent::EmailRemoved { email: None, .. }
            | ContactEvent::PhoneAdded { phone: None, .. }
            | ContactEvent::PhoneRemoved { phone: None, .. }
            | ContactEvent::SyncOutranked { .. } => {}
            ContactEvent::FieldConflictRaised {
                detail, provenance, ..
            } => {
                self.conflicts.insert(
                    detail.field(),
                    Sourced {
                        value: detail.clone(),
                        provenance: provenance.clone(),
                    },
                );
            }
            ContactEvent::FieldConflictResolved { field, .. } => {
                self.conflicts.remove(field);
            }
            ContactEvent::ExternalIdLinked { external, .. } => {
                self.apply_external(external.as_ref(), true);
            }
            ContactEvent::ExternalIdUnlinked { external, .. } => {
                self.apply_external(external.as_ref(), false);
            }
            ContactEvent::SourceLeadRecorded { lead, .. } => {
                if let Err(index) = self.source_leads.binary_search(lead) {
                    self.source_leads.insert(index, *lead);
                }
            }
            ContactEvent::ConsentGranted {
                channel,
                purpose,
                provenance,
                proof,
                ..
            } => self.consents.set(
                ConsentScope::new(*channel, *purpose),
                Some(ChannelConsent {
                    status: ConsentStatus::Granted,
                    provenance: provenance.clone(),
                    proof: proof.clone(),
                }),
            ),
            ContactEvent::ConsentWithdrawn {
                channel,
                purpose,
                provenance,
                proof,
                ..
            } => self.consents.set(
                ConsentScope::new(*channel, *purpose),
                Some(ChannelConsent {
                    status: ConsentStatus::Withdrawn,
                    provenance: provenance.clone(),
                    proof: proof.clone(),
                }),
            ),
            ContactEvent::Merged {
                absorbed,
                policy,
                decisions,
                at,
                ..
            } => {
                merge::apply_merge(&mut self.details, &mut self.consents, decisions);
                self.settle_suspicion(*absorbed);
                self.merges.push(MergeRecord {
                    absorbed: *absorbed,
                    policy: *policy,
                    decisions: decisions.clone(),
                    at: *at,
                });
            }
            ContactEvent::MergedInto { survivor, .. } => {
                if self.status == Some(ContactStatus::Active) {
                    self.status = Some(ContactStatus::Absorbed { into: *survivor });
                }
                // The merge decided the fields: values waiting for review end with it.
                self.conflicts.clear();
            }
            ContactEvent::Unmerged {
                absorbed,
                restoration,
                ..
            } => {
                merge::apply_restoration(&mut self.details, &mut self.consents, restoration);
                self.merges.retain(|merge| merge.absorbed != *absorbed);
            }
            ContactEvent::UnmergedFrom { .. } => {
                if matches!(self.status, Some(ContactStatus::Absorbed { .. })) {
                    self.status = Some(ContactStatus::Active);
                }
            }
            ContactEvent::DeclaredNotDuplicate { other, .. } => {
                if let Err(position) = self.not_duplicates.binary_search(other) {
                    self.not_duplicates.insert(position, *other);
                }
                self.settle_suspicion(*other);
            }
            ContactEvent::NotDuplicateRevoked { other, .. } => {
                self.not_duplicates.retain(|declared| declared != other);
            }
            ContactEvent::DuplicateSuspected {
                candidate,
                assessment,
                at,
                ..
            } => {
                let suspicion = DuplicateSuspicion {
                    candidate: *candidate,
                    assessment: assessment.clone(),
                    at: *at,
                };
                match self
                    .suspicions
                    .binary_search_by_key(candidate, |known| known.candidate)
                {
                    Ok(index) => {
                        if let Some(known) = self.suspicions.get_mut(index) {
                            *known = suspicion;
                        }
                    }
                    Err(index) => self.suspicions.insert(index, suspicion),
                }
            }
            ContactEvent::Erased {
                contact_id,
                request,
                absorbed,
                merged_into,
                leads,
                by,
                at,
            } => {
                // Everything is dropped rather than cleared field by field, so no personal
                // data added to the state later can survive an erasure by being forgotten here.
                self = Contact {
                    id: Some(*contact_id),
                    status: Some(ContactStatus::Erased),
                    erasure: Some(ErasureRecord {
                        request: *request,
                        by: by.clone(),
                        at: *at,
                        absorbed: absorbed.clone(),
                        merged_into: *merged_into,
                        leads: leads.clone(),
                    }),
                    ..Contact::default()
                };
            }
        }
        self
    }
}

fn sourced<T: Clone>(value: &T, provenance: &Provenance) -> Sourced<T> {
    Sourced {
        value: value.clone(),
        provenance: provenance.clone(),
    }
}
