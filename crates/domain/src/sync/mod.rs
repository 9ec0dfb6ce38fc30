//! Field-level sync: which source may set a field, and which value wins when sources disagree.
//!
//! Connected systems (billing, a support desk, a marketing tool) send updates of records the
//! CRM holds, each naming its source and the source's own time for the values
//! ([`Provenance`]). A [`FieldRule`] per field, declared in the tenant's
//! [`DataDictionary`], says what happens when such an update meets the current value:
//!
//! - [`FieldPolicy::LastWriteWins`]: the later source time wins, whichever source said it (an
//!   exact tie goes to the source whose name sorts last, so every order of delivery ends on
//!   the same value);
//! - [`FieldPolicy::SourcePrecedence`]: a source earlier in the list wins over a later one
//!   whatever the times; sources of the same rank (or both unlisted, below every listed one)
//!   fall back to the later time;
//! - [`FieldPolicy::ManualReview`]: a different value from another source than the current
//!   value's waits for a person (a conflict in the review queue) instead of replacing it;
//! - [`FieldPolicy::OwnerOnly`]: only the field's system of record may set it; an update from
//!   any other source is refused, naming the owner.
//!
//! Whatever the policy, a source never overrides its own later statement (out-of-order
//! delivery), an empty value never overwrites a value unless the rule says
//! [`FieldRule::empty_overwrites`], and a value equal to the current one changes nothing.
//! [`judge`] is the whole decision, a pure function; the aggregates call it under their
//! stream's optimistic concurrency, so two updates racing each other are judged one after the
//! other against what the first left.

mod dictionary;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::contact::{ContactField, DetailChange, Provenance};

pub use dictionary::{
    DataDictionary, DictionaryEntry, DictionaryError, FieldType, GovernedEntity, OwnedField,
    PolicyName, SyncRules,
};

/// How a field's competing values are decided (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "policy", rename_all = "snake_case")]
pub enum FieldPolicy {
    /// The later source time wins, whichever source said it.
    LastWriteWins,
    /// Sources in order of precedence, highest first; unlisted sources rank below them all.
    SourcePrecedence {
        /// The sources, highest precedence first.
        order: Vec<String>,
    },
    /// A different value from another source waits for a person to decide.
    ManualReview,
    /// Only the system of record may set the field.
    OwnerOnly,
}

/// The rule of one field: its policy, the system that owns it, and whether empty values
/// overwrite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldRule {
    /// How competing values are decided.
    #[serde(flatten)]
    pub policy: FieldPolicy,
    /// The source that owns the field (required by [`FieldPolicy::OwnerOnly`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_of_record: Option<String>,
    /// Whether an update clearing the field clears it (by default an empty value never
    /// overwrites one: a source that does not know a value sends nothing, not a blank).
    #[serde(default, skip_serializing_if = "is_false")]
    pub empty_overwrites: bool,
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_false(value: &bool) -> bool {
    !*value
}

impl FieldRule {
    /// A rule of `policy`, without a system of record, where empty values do not overwrite.
    pub fn new(policy: FieldPolicy) -> Self {
        Self {
            policy,
            system_of_record: None,
            empty_overwrites: false,
        }
    }

    /// The same rule naming `system` its system of record.
    #[must_use]
    pub fn owned_by(mut self, system: impl Into<String>) -> Self {
        self.system_of_record = Some(system.into());
        self
    }

    /// The same rule letting empty values clear the field.
    #[must_use]
    pub fn clearing(mut self) -> Self {
        self.empty_overwrites = true;
        self
    }

    /// The rank of `system` under source precedence: its place in the list, unlisted sources
    /// after every listed one.
    fn rank(order: &[String], system: &str) -> usize {
        order
            .iter()
            .position(|listed| listed == system)
            .unwrap_or(order.len())
    }
}

/// What [`judge`] decided for one incoming value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncVerdict {
    /// The value replaces the current one.
    Apply,
    /// The value equals the current one: nothing to record.
    Unchanged,
    /// The same source said something later already (out-of-order delivery): nothing to
    /// record, as without a rule.
    Stale,
    /// An empty value meets a value and the rule keeps it: nothing to record.
    EmptyIgnored,
    /// The current value wins under the policy; the incoming one is kept in the history as
    /// the loser.
    Outranked {
        /// Where the value that stays came from.
        kept: Provenance,
    },
    /// The value waits for a person to decide (manual review).
    Review {
        /// Where the current value came from.
        current: Provenance,
    },
    /// The source may not set the field.
    Refused(SyncRefusal),
}

/// Why a source may not set a field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum SyncRefusal {
    /// The field belongs to another system.
    #[error("{field:?} is owned by {owner}; {source_system} may not set it")]
    NotOwner {
        /// The field.
        field: ContactField,
        /// Its system of record.
        owner: String,
        /// The source that tried.
        source_system: String,
    },
    /// A field of an account, a deal or a ticket belongs to another system.
    #[error("{entity}.{field} is owned by {owner}; {source_system} may not set it")]
    OwnedElsewhere {
        /// The entity.
        entity: GovernedEntity,
        /// The field, as the dictionary names it.
        field: String,
        /// Its system of record.
        owner: String,
        /// The source that tried.
        source_system: String,
    },
}

/// Every field of an update the rules refuse (the source of
/// [`ContactError::SyncRefused`](crate::contact::ContactError::SyncRefused)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct SyncRefusals(pub Vec<SyncRefusal>);

/// What one source says about one field, and what is there now, for [`judge`].
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// The field.
    pub field: ContactField,
    /// Whether the incoming value is empty (clears the field).
    pub empty: bool,
    /// Whether it equals the current value.
    pub same: bool,
    /// Its source and the source's time.
    pub provenance: &'a Provenance,
}

/// The current value of a field as [`judge`] needs it: whether it is empty, and where it came
/// from (`None`: never set).
#[derive(Debug, Clone, Copy)]
pub struct Current<'a> {
    /// Whether the field is empty now.
    pub empty: bool,
    /// Where the current value (or the clearing) came from.
    pub provenance: &'a Provenance,
}

/// Decides what an incoming value does under `rule` (`None`: the field is not governed, and
/// only a source's own later statement beats it), given the current value (`None`: never
/// set). See the [module documentation](self).
///
/// Under [`FieldPolicy::LastWriteWins`] and [`FieldPolicy::SourcePrecedence`] the outcome does
/// not depend on the order updates arrive in: the field ends on the value of the update that
/// ranks highest (precedence, then source time, then source name). So a value equal to the
/// current one but from a higher-ranking source, or restated later by its own source, is
/// applied too (its provenance moves), while a source resending the same statement leaves no
/// trace.
pub fn judge(
    rule: Option<&FieldRule>,
    current: Option<Current<'_>>,
    incoming: Incoming<'_>,
) -> SyncVerdict {
    if let Some(rule) = rule
        && rule.policy == FieldPolicy::OwnerOnly
    {
        let owner = rule.system_of_record.as_deref().unwrap_or_default();
        if incoming.provenance.system != owner {
            return SyncVerdict::Refused(SyncRefusal::NotOwner {
                field: incoming.field,
                owner: owner.to_owned(),
                source_system: incoming.provenance.system.clone(),
            });
        }
    }
    let clears = rule.is_some_and(|rule| rule.empty_overwrites);
    let Some(current) = current else {
        return if incoming.empty && !clears {
            SyncVerdict::Unchanged
        } else {
            SyncVerdict::Apply
        };
    };
    if incoming.provenance.is_superseded_by(current.provenance) {
        return SyncVerdict::Stale;
    }
    let Some(rule) = rule else {
        return if incoming.same {
            SyncVerdict::Unchanged
        } else {
            SyncVerdict::Apply
        };
    };
    if incoming.empty && !current.empty && !clears {
        return SyncVerdict::EmptyIgnored;
    }
    let same_source = incoming.provenance.system == current.provenance.system;
    if same_source && incoming.same {
        // A source restating its value later moves the value's time where another source
        // competes by time, so the next competitor meets the same time in every order.
        let competes = matches!(
            rule.policy,
            FieldPolicy::LastWriteWins | FieldPolicy::SourcePrecedence { .. }
        );
        return if competes && incoming.provenance.source_time > current.provenance.source_time {
            SyncVerdict::Apply
        } else {
            SyncVerdict::Unchanged
        };
    }
    if same_source || (current.empty && !clears) {
        return if incoming.same {
            SyncVerdict::Unchanged
        } else {
            SyncVerdict::Apply
        };
    }
    let later = |ours: &Provenance, theirs: &Provenance| {
        (ours.source_time, &ours.system) > (theirs.source_time, &theirs.system)
    };
    let wins = match &rule.policy {
        FieldPolicy::OwnerOnly => true,
        FieldPolicy::LastWriteWins => later(incoming.provenance, current.provenance),
        FieldPolicy::SourcePrecedence { order } => {
            let ours = FieldRule::rank(order, &incoming.provenance.system);
            let theirs = FieldRule::rank(order, &current.provenance.system);
            ours < theirs || (ours == theirs && later(incoming.provenance, current.provenance))
        }
        FieldPolicy::ManualReview if incoming.same => return SyncVerdict::Unchanged,
        FieldPolicy::ManualReview => {
            return SyncVerdict::Review {
                current: current.provenance.clone(),
            };
        }
    };
    match (wins, incoming.same) {
        (true, _) => SyncVerdict::Apply,
        (false, true) => SyncVerdict::Unchanged,
        (false, false) => SyncVerdict::Outranked {
            kept: current.provenance.clone(),
        },
    }
}

/// What the rules refuse of a new contact's first values, from `provenance`: a value meets
/// no current value, so only an owned field can refuse it.
pub fn refusals_of_new(
    rules: &ContactRules,
    changes: &[DetailChange],
    provenance: &Provenance,
) -> Vec<SyncRefusal> {
    changes
        .iter()
        .filter_map(|change| match change {
            DetailChange::Set(detail) => Some(detail),
            _ => None,
        })
        .filter_map(|detail| {
            let field = detail.field();
            let verdict = judge(
                rules.get(&field),
                None,
                Incoming {
                    field,
                    empty: detail.is_empty(),
                    same: false,
                    provenance,
                },
            );
            match verdict {
                SyncVerdict::Refused(refusal) => Some(refusal),
                _ => None,
            }
        })
        .collect()
}

/// The rules of a contact's fields, as a command carries them (fields without a rule are not
/// governed).
pub type ContactRules = BTreeMap<ContactField, FieldRule>;

#[cfg(test)]
mod tests;
