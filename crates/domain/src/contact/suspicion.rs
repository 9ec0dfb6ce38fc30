//! Suspected duplicates: another contact the identity policy scored for review against this
//! one, with the score and the reasons, until someone merges the pair or declares it two
//! people.
//!
//! Identity resolution (`crate::identity::rank_candidates`) scores a contact against its
//! candidates; a [`MatchVerdict::Review`] verdict becomes a suspicion on the checked contact's
//! stream. The other verdicts are decided where they are made (an auto-link merges, a distinct
//! pair is dropped), so they are never recorded as suspicions. The duplicate review queue
//! (crm-projections' `duplicates` model) reads these facts.

use chrono::{DateTime, Utc};

use crate::identity::MatchAssessment;
use crate::ids::ContactId;

/// The latest suspicion about one candidate, as the contact remembers it so that the same
/// assessment recorded twice leaves one fact.
///
/// The reasons quote identities of both contacts (addresses, numbers, names), so they are
/// personal data: erasure drops them with the rest of the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateSuspicion {
    /// The other contact.
    pub candidate: ContactId,
    /// Score, verdict (always review) and reasons.
    pub assessment: MatchAssessment,
    /// When it was recorded.
    pub at: DateTime<Utc>,
}

#[cfg(test)]
pub(super) mod strategies {
    //! Generators for match assessments, made by the real scoring from a few record pairs so
    //! that every verdict occurs with realistic reasons.

    use proptest::prelude::*;

    use crate::identity::{
        CountryCode, EmailAddress, IdentityRecord, MatchAssessment, MatchConfig, PersonName,
        PhoneNumber, assess,
    };

    fn record(name: &str, email: &str, phone: &str) -> IdentityRecord {
        let gb = CountryCode::new("GB").expect("GB is a country");
        IdentityRecord {
            names: vec![PersonName::new(name).expect("a valid name")],
            emails: vec![EmailAddress::parse(email).expect("a valid address")],
            phones: vec![PhoneNumber::parse(phone, gb).expect("a valid number")],
            company_domain: None,
            company_name: None,
        }
    }

    /// One address, two very different names: review.
    pub(in crate::contact) fn shared_address() -> MatchAssessment {
        assess(
            &record("Augusta King", "augusta@engines.example", "020 7946 0958"),
            &record("Grace Hopper", "augusta@engines.example", "020 7946 0000"),
            &MatchConfig::default(),
        )
    }

    /// One mailbox (dots and tags aside), similar names: review, another score.
    pub(in crate::contact) fn shared_mailbox() -> MatchAssessment {
        assess(
            &record("Grace Hopper", "grace@gmail.com", "020 7946 0958"),
            &record("Amazing Grace", "grace@gmail.com", "020 7946 0001"),
            &MatchConfig::default(),
        )
    }

    /// The same identity twice: auto-link.
    pub(in crate::contact) fn identical() -> MatchAssessment {
        let same = record("Augusta King", "augusta@engines.example", "020 7946 0958");
        assess(&same, &same, &MatchConfig::default())
    }

    /// Nothing in common: distinct.
    pub(in crate::contact) fn unrelated() -> MatchAssessment {
        assess(
            &record("Augusta King", "augusta@engines.example", "020 7946 0958"),
            &record("Grace Hopper", "grace@navy.example", "020 7946 0001"),
            &MatchConfig::default(),
        )
    }

    /// Mostly assessments for review, sometimes one decided elsewhere.
    pub(in crate::contact) fn arb_assessment() -> impl Strategy<Value = MatchAssessment> {
        prop_oneof![
            3 => Just(shared_address()),
            3 => Just(shared_mailbox()),
            1 => Just(identical()),
            1 => Just(unrelated()),
        ]
    }
}
