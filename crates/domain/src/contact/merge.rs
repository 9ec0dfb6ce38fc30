//! Merging duplicate contacts so that the merge can be undone.
//!
//! The survivor records every per-field decision: which side's value it kept, and both values
//! with their provenance, so an unmerge can put back exactly what the survivor had. Email
//! addresses and phone numbers are united (the absorbed contact's new ones are taken over and
//! listed); consent follows the consent rule whatever the policy, per channel and purpose: the
//! least permissive statement wins (a withdrawal on either contact over a grant on the other,
//! whenever each was made; between two of a kind, the latest), because a merge must never turn
//! an objection into a permission.
//!
//! Undoing a merge reverts only what still holds the merge's outcome: a field changed after
//! the merge keeps its newer value and is listed as kept, so an unmerge never destroys later
//! work. With no change in between, unmerge restores the survivor's details and consents
//! exactly.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ContactError;
use super::consent::{ChannelConsent, ConsentChannel, ConsentPurpose, ConsentScope, Consents};
use super::details::{ContactDetails, ContactField, Detail, Keyed, Provenance, Sourced};
use crate::identity::{EmailAddress, PhoneNumber};
use crate::ids::ContactId;

/// The source system named on values an unmerge has to choose itself (a new primary email
/// when the old one went back to the absorbed contact).
pub const UNMERGE_SOURCE: &str = "crm-unmerge";

/// How a merge picks between the survivor's and the absorbed contact's value of a field.
/// An empty value never wins over a filled one under a policy (only a person's explicit
/// [`FieldChoice`] can empty a field), so a merge never loses data by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergePolicy {
    /// The survivor's values win; the absorbed contact only fills the survivor's empty fields.
    SurvivorFirst,
    /// Per field, the value its source changed most recently wins; ties go to the survivor.
    NewestValue,
}

impl MergePolicy {
    /// The policy's stable name, as recorded in merge events.
    pub fn name(self) -> &'static str {
        match self {
            MergePolicy::SurvivorFirst => "survivor_first",
            MergePolicy::NewestValue => "newest_value",
        }
    }

    fn choose(
        self,
        survivor: Option<&Sourced<Detail>>,
        absorbed: Option<&Sourced<Detail>>,
    ) -> MergeSide {
        let (Some(ours), Some(theirs)) = (filled(survivor), filled(absorbed)) else {
            return if filled(absorbed).is_some() {
                MergeSide::Absorbed
            } else {
                MergeSide::Survivor
            };
        };
        let newer = theirs.provenance.source_time > ours.provenance.source_time;
        if self == MergePolicy::NewestValue && newer {
            MergeSide::Absorbed
        } else {
            MergeSide::Survivor
        }
    }
}

fn filled(entry: Option<&Sourced<Detail>>) -> Option<&Sourced<Detail>> {
    entry.filter(|e| !e.value.is_empty())
}

/// One side of a merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeSide {
    /// The contact that stays.
    Survivor,
    /// The duplicate that is merged into it.
    Absorbed,
}

/// Why a side was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionBasis {
    /// The merge policy decided.
    Policy,
    /// The person merging chose.
    Choice,
}

/// A person's explicit choice for one field, overriding the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FieldChoice {
    /// The field.
    pub field: ContactField,
    /// Whose value to keep.
    pub keep: MergeSide,
}

/// What a merge did with one field on which the two contacts differed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FieldDecision {
    /// The field.
    pub field: ContactField,
    /// Whose value the survivor now holds.
    pub kept: MergeSide,
    /// Policy or a person's choice.
    pub basis: DecisionBasis,
    /// The survivor's entry before the merge (`None`: never set).
    pub survivor: Option<Sourced<Detail>>,
    /// The absorbed contact's entry (`None`: never set).
    pub absorbed: Option<Sourced<Detail>>,
}

impl FieldDecision {
    /// The entry the survivor holds after the merge.
    pub fn kept_entry(&self) -> Option<&Sourced<Detail>> {
        match self.kept {
            MergeSide::Survivor => self.survivor.as_ref(),
            MergeSide::Absorbed => self.absorbed.as_ref(),
        }
    }
}

/// What a merge did with one channel's consent for one purpose on which the two contacts
/// differed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConsentDecision {
    /// The channel.
    pub channel: ConsentChannel,
    /// The purpose (marketing when the payload names none).
    #[serde(default, skip_serializing_if = "ConsentPurpose::is_marketing")]
    pub purpose: ConsentPurpose,
    /// Whose statement is now in effect on the survivor.
    pub kept: MergeSide,
    /// The survivor's statement before the merge.
    pub survivor: Option<ChannelConsent>,
    /// The absorbed contact's statement.
    pub absorbed: Option<ChannelConsent>,
}

/// Everything a merge decided, enough to apply it and to undo it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MergeDecisions {
    /// One decision per field on which the contacts differed, in [`ContactField::ALL`] order.
    pub fields: Vec<FieldDecision>,
    /// The absorbed contact's email addresses the survivor did not have, now added to it.
    pub emails: Vec<Sourced<EmailAddress>>,
    /// The absorbed contact's phone numbers the survivor did not have, now added to it.
    pub phones: Vec<Sourced<PhoneNumber>>,
    /// One decision per channel and purpose on which the contacts' consent differed.
    pub consents: Vec<ConsentDecision>,
}

/// A merge the survivor holds (until it is undone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRecord {
    /// The absorbed contact.
    pub absorbed: ContactId,
    /// The policy applied.
    pub policy: MergePolicy,
    /// What was decided.
    pub decisions: MergeDecisions,
    /// When the merge happened.
    pub at: DateTime<Utc>,
}

/// A field an unmerge puts back.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FieldRestore {
    /// The field.
    pub field: ContactField,
    /// The entry it gets back (`None`: never set).
    pub entry: Option<Sourced<Detail>>,
}

/// A channel's consent for a purpose an unmerge puts back.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConsentRestore {
    /// The channel.
    pub channel: ConsentChannel,
    /// The purpose (marketing when the payload names none).
    #[serde(default, skip_serializing_if = "ConsentPurpose::is_marketing")]
    pub purpose: ConsentPurpose,
    /// The statement it gets back (`None`: none was ever made).
    pub consent: Option<ChannelConsent>,
}

/// What an unmerge changes on the survivor, and what it left alone because it changed after
/// the merge.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Restoration {
    /// Fields put back to their pre-merge entries.
    pub fields: Vec<FieldRestore>,
    /// Taken-over email addresses given back to the absorbed contact.
    pub emails: Vec<EmailAddress>,
    /// Taken-over phone numbers given back to the absorbed contact.
    pub phones: Vec<PhoneNumber>,
    /// Consent statements put back.
    pub consents: Vec<ConsentRestore>,
    /// Fields the merge had changed that were changed again since, so they keep their newer
    /// values.
    pub kept_fields: Vec<ContactField>,
    /// Channels and purposes whose consent changed since the merge, so they keep the newer
    /// statement.
    pub kept_consents: Vec<ConsentScope>,
}

/// Decides a merge of `absorbed` into `survivor` under `policy` and the person's `choices`.
pub(super) fn plan_merge(
    survivor: (&ContactDetails, &Consents),
    absorbed: (&ContactDetails, &Consents),
    policy: MergePolicy,
    choices: &[FieldChoice],
) -> Result<MergeDecisions, ContactError> {
    for (index, choice) in choices.iter().enumerate() {
        if choices[..index].iter().any(|c| c.field == choice.field) {
            return Err(ContactError::ConflictingChoices {
                field: choice.field,
            });
        }
    }
    let (ours, our_consents) = survivor;
    let (theirs, their_consents) = absorbed;

    let mut fields = Vec::new();
    for field in ContactField::ALL {
        let (s, a) = (ours.entry(field), theirs.entry(field));
        if ours.value(field) == theirs.value(field) {
            continue;
        }
        let (kept, basis) = match choices.iter().find(|c| c.field == field) {
            Some(choice) => (choice.keep, DecisionBasis::Choice),
            None => (policy.choose(s, a), DecisionBasis::Policy),
        };
        fields.push(FieldDecision {
            field,
            kept,
            basis,
            survivor: s.cloned(),
            absorbed: a.cloned(),
        });
    }

    let emails: Vec<_> = theirs
        .emails()
        .iter()
        .filter(|e| ours.email(e.value.key()).is_none())
        .cloned()
        .collect();
    let phones: Vec<_> = theirs
        .phones()
        .iter()
        .filter(|p| ours.phone(p.value.key()).is_none())
        .cloned()
        .collect();

    let primary = fields
        .iter()
        .find(|d| d.field == ContactField::PrimaryEmail)
        .map_or_else(
            || ours.primary_email().cloned(),
            |d| match d.kept_entry().map(|e| &e.value) {
                Some(Detail::PrimaryEmail(email)) => email.clone(),
                _ => None,
            },
        );
    let united =
        |key: &str| ours.email(key).is_some() || emails.iter().any(|e| e.value.key() == key);
    let any_address = !ours.emails().is_empty() || !emails.is_empty();
    let primary_ok = match &primary {
        Some(email) => united(email.key()),
        None => !any_address,
    };
    if !primary_ok {
        return Err(ContactError::PrimaryEmailRequired);
    }

    let consents = ConsentScope::all()
        .filter_map(|scope| {
            let (s, a) = (our_consents.get(scope), their_consents.get(scope));
            if s == a {
                return None;
            }
            let kept = match (s, a) {
                (None, Some(_)) => MergeSide::Absorbed,
                (Some(s), Some(a)) if less_permissive(a, s) => MergeSide::Absorbed,
                _ => MergeSide::Survivor,
            };
            Some(ConsentDecision {
                channel: scope.channel,
                purpose: scope.purpose,
                kept,
                survivor: s.cloned(),
                absorbed: a.cloned(),
            })
        })
        .collect();

    Ok(MergeDecisions {
        fields,
        emails,
        phones,
        consents,
    })
}

/// Whether `one` takes effect over `other` when two linked records disagree: a withdrawal over
/// a grant whenever each was made; between two of a kind, the later (see
/// [`ChannelConsent::prevails_over`]).
fn less_permissive(one: &ChannelConsent, other: &ChannelConsent) -> bool {
    if one.status == other.status {
        one.prevails_over(other)
    } else {
        !one.is_granted()
    }
}

/// Applies a merge's decisions to the survivor.
pub(super) fn apply_merge(
    details: &mut ContactDetails,
    consents: &mut Consents,
    decisions: &MergeDecisions,
) {
    for decision in &decisions.fields {
        if decision.kept == MergeSide::Absorbed {
            details.restore(decision.field, decision.absorbed.clone());
        }
    }
    for email in &decisions.emails {
        details.emails_mut().take_over(email.clone());
    }
    for phone in &decisions.phones {
        details.phones_mut().take_over(phone.clone());
    }
    for decision in &decisions.consents {
        if decision.kept == MergeSide::Absorbed {
            consents.set(
                ConsentScope::new(decision.channel, decision.purpose),
                decision.absorbed.clone(),
            );
        }
    }
}

/// Decides how to undo `record` on a survivor that now holds `details` and `consents`.
pub(super) fn plan_unmerge(
    details: &ContactDetails,
    consents: &Consents,
    record: &MergeRecord,
    now: DateTime<Utc>,
) -> Restoration {
    let mut restoration = Restoration::default();
    for decision in &record.decisions.fields {
        if decision.kept != MergeSide::Absorbed {
            continue;
        }
        if details.entry(decision.field) == decision.absorbed.as_ref() {
            restoration.fields.push(FieldRestore {
                field: decision.field,
                entry: decision.survivor.clone(),
            });
        } else {
            restoration.kept_fields.push(decision.field);
        }
    }
    restoration.emails = record
        .decisions
        .emails
        .iter()
        .filter(|taken| details.email(taken.value.key()) == Some(*taken))
        .map(|taken| taken.value.clone())
        .collect();
    restoration.phones = record
        .decisions
        .phones
        .iter()
        .filter(|taken| details.phone(taken.value.key()) == Some(*taken))
        .map(|taken| taken.value.clone())
        .collect();
    for decision in &record.decisions.consents {
        if decision.kept != MergeSide::Absorbed {
            continue;
        }
        let scope = ConsentScope::new(decision.channel, decision.purpose);
        if consents.get(scope) == decision.absorbed.as_ref() {
            restoration.consents.push(ConsentRestore {
                channel: decision.channel,
                purpose: decision.purpose,
                consent: decision.survivor.clone(),
            });
        } else {
            restoration.kept_consents.push(scope);
        }
    }
    keep_a_listed_primary(details, &mut restoration, now);
    restoration
}

/// Giving addresses back can take the primary one away, and a restored primary may have
/// been removed since the merge: then the first remaining address becomes primary (or the
/// primary is cleared when none remains), stamped as the unmerge's own choice.
fn keep_a_listed_primary(
    details: &ContactDetails,
    restoration: &mut Restoration,
    now: DateTime<Utc>,
) {
    let given_back = |key: &str| restoration.emails.iter().any(|e| e.key() == key);
    let remaining: Vec<&EmailAddress> = details
        .emails()
        .iter()
        .map(|e| &e.value)
        .filter(|e| !given_back(e.key()))
        .collect();
    let restored = restoration
        .fields
        .iter()
        .find(|r| r.field == ContactField::PrimaryEmail);
    let primary = match restored {
        Some(restore) => match restore.entry.as_ref().map(|e| &e.value) {
            Some(Detail::PrimaryEmail(email)) => email.clone(),
            _ => None,
        },
        None => details.primary_email().cloned(),
    };
    let fallback = match (&primary, remaining.first()) {
        (Some(p), Some(_)) if remaining.iter().any(|e| e.key() == p.key()) => return,
        (None, None) => return,
        (_, first) => first.map(|e| (*e).clone()),
    };
    restoration
        .fields
        .retain(|r| r.field != ContactField::PrimaryEmail);
    restoration
        .kept_fields
        .retain(|field| *field != ContactField::PrimaryEmail);
    restoration.fields.push(FieldRestore {
        field: ContactField::PrimaryEmail,
        entry: Some(Sourced {
            value: Detail::PrimaryEmail(fallback),
            provenance: Provenance::new(UNMERGE_SOURCE, now),
        }),
    });
}

/// Applies an unmerge's restoration to the survivor.
pub(super) fn apply_restoration(
    details: &mut ContactDetails,
    consents: &mut Consents,
    restoration: &Restoration,
) {
    for restore in &restoration.fields {
        details.restore(restore.field, restore.entry.clone());
    }
    for email in &restoration.emails {
        details.emails_mut().give_back(email.key());
    }
    for phone in &restoration.phones {
        details.phones_mut().give_back(phone.key());
    }
    for restore in &restoration.consents {
        consents.set(
            ConsentScope::new(restore.channel, restore.purpose),
            restore.consent.clone(),
        );
    }
}

#[cfg(test)]
pub(super) mod strategies {
    //! Generators for merge parameters.

    use proptest::prelude::*;

    use super::*;

    /// Either policy.
    pub(in crate::contact) fn arb_policy() -> impl Strategy<Value = MergePolicy> {
        prop_oneof![
            Just(MergePolicy::SurvivorFirst),
            Just(MergePolicy::NewestValue)
        ]
    }

    /// Choices for distinct fields.
    pub(in crate::contact) fn arb_choices() -> impl Strategy<Value = Vec<FieldChoice>> {
        proptest::collection::btree_map(
            proptest::sample::select(ContactField::ALL.to_vec()),
            prop_oneof![Just(MergeSide::Survivor), Just(MergeSide::Absorbed)],
            0..3,
        )
        .prop_map(|choices| {
            choices
                .into_iter()
                .map(|(field, keep)| FieldChoice { field, keep })
                .collect()
        })
    }
}
