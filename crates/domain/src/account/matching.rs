//! Which account a person works for: a lead's or contact's company evidence (its work email
//! domains, its company's web domain, its company name) weighed against an account's domains
//! and name, with the same thresholds and verdicts as people ([`MatchConfig`]): linked without
//! asking, reviewed by a person, or distinct.
//!
//! # The evidence and its weight
//! - **Domain**: one of the person's work domains (free-mail providers never count) is one of
//!   the account's domains, or a subdomain of one (`eu.acme.com` under `acme.com`). A company
//!   owns its domain, so this is the strongest evidence: 0.95 alone.
//! - **Name**: normalized company names (case, punctuation, `&`, leading `the` and legal forms
//!   ignored: `The ACME Corp.` = `Acme, Inc.`) are equal (`same`, 0.90 alone) or close by
//!   Jaro-Winkler at or above the config's name agreement (`similar`, 0.75 alone: a person
//!   checks `Acme Holdings` against `Acme Holding`), or neither (`different`).
//! - Together: domain and name agreeing reach 0.99; a matching domain with a different name
//!   falls to 0.80 (review: a parent's domain shared by a subsidiary, or a reseller); a
//!   matching name whose domains both sides know and which differ falls to 0.65 (review: two
//!   companies of one name). Missing evidence is neither agreement nor disagreement.
//!
//! The scores are fixed rules rather than learned weights: two fields give too few patterns
//! for expectation maximisation to be worth its instability, and every decision says which
//! field agreed how.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::AccountId;
use crate::identity::linkage::jaro_winkler;
use crate::identity::{
    CompanyDomain, CompanyName, IdentityRecord, MatchConfig, MatchVerdict, Score,
};

/// What a person's record says about where they work.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CompanyEvidence {
    /// Work domains, normalized: the company's web domain and the domains of work email
    /// addresses (free-mail providers left out).
    pub domains: BTreeSet<String>,
    /// The company's name.
    pub name: Option<CompanyName>,
}

impl CompanyEvidence {
    /// The company evidence of a person's identity record.
    pub fn of(record: &IdentityRecord) -> Self {
        Self {
            domains: record
                .company_domains()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            name: record.company_name.clone(),
        }
    }

    /// Whether there is nothing to match on.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty() && self.name.is_none()
    }
}

/// How one field of the evidence compares with the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompanyAgreement {
    /// The same (a domain of the account, or the same normalized name).
    Same,
    /// Close enough for a person to look (names only).
    Similar,
    /// Both sides know it, and it differs.
    Different,
    /// One side does not know it.
    Missing,
}

/// How well a person's company evidence fits one account, and what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountAssessment {
    /// The account.
    pub account: AccountId,
    /// The combined score.
    pub score: Score,
    /// Link, review, or distinct (by the config's thresholds).
    pub verdict: MatchVerdict,
    /// How the domains compare.
    pub domain: CompanyAgreement,
    /// How the names compare.
    pub name: CompanyAgreement,
    /// The names' Jaro-Winkler similarity, when both are known.
    pub name_similarity: Option<Score>,
}

/// Whether `domain` is `owned` or a subdomain of it.
fn within(domain: &str, owned: &str) -> bool {
    domain == owned
        || domain
            .strip_suffix(owned)
            .is_some_and(|prefix| prefix.ends_with('.'))
}

/// Weighs `evidence` against the account `account` named `name` with `domains`.
pub fn assess_account(
    evidence: &CompanyEvidence,
    account: AccountId,
    name: &CompanyName,
    domains: &[CompanyDomain],
    config: &MatchConfig,
) -> AccountAssessment {
    let owned: Vec<&str> = domains
        .iter()
        .filter(|domain| !domain.is_personal_mail())
        .map(CompanyDomain::normalized)
        .collect();
    let domain = if evidence.domains.is_empty() || owned.is_empty() {
        CompanyAgreement::Missing
    } else if evidence
        .domains
        .iter()
        .any(|domain| owned.iter().any(|owned| within(domain, owned)))
    {
        CompanyAgreement::Same
    } else {
        CompanyAgreement::Different
    };
    let similarity = evidence
        .name
        .as_ref()
        .map(|theirs| jaro_winkler(theirs.normalized(), name.normalized()));
    let name_agreement = match (&evidence.name, similarity) {
        (Some(theirs), _) if theirs.normalized() == name.normalized() => CompanyAgreement::Same,
        (Some(_), Some(similarity)) if similarity >= config.name_agreement.value() => {
            CompanyAgreement::Similar
        }
        (Some(_), _) => CompanyAgreement::Different,
        (None, _) => CompanyAgreement::Missing,
    };
    let score = Score::from_ten_thousandths(match (domain, name_agreement) {
        (CompanyAgreement::Same, CompanyAgreement::Same | CompanyAgreement::Similar) => 9_900,
        (CompanyAgreement::Same, CompanyAgreement::Missing) => 9_500,
        (CompanyAgreement::Same, CompanyAgreement::Different) => 8_000,
        (CompanyAgreement::Missing, CompanyAgreement::Same) => 9_000,
        (CompanyAgreement::Missing, CompanyAgreement::Similar) => 7_500,
        (CompanyAgreement::Different, CompanyAgreement::Same) => 6_500,
        (CompanyAgreement::Different, CompanyAgreement::Similar) => 4_000,
        (_, CompanyAgreement::Different | CompanyAgreement::Missing)
        | (CompanyAgreement::Similar, _) => 0,
    });
    AccountAssessment {
        account,
        score,
        verdict: config.verdict(score),
        domain,
        name: name_agreement,
        name_similarity: similarity.map(Score::saturating),
    }
}

/// The block a company name is filed under to find candidates: its first significant word
/// (after legal forms and a leading `the` are dropped). `None` for a name without one.
pub fn name_block(name: &CompanyName) -> Option<&str> {
    name.normalized().split(' ').find(|word| !word.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CompanyId;
    use crate::identity::EmailAddress;
    use uuid::Uuid;

    fn evidence(email: Option<&str>, company: Option<&str>) -> CompanyEvidence {
        CompanyEvidence::of(&IdentityRecord {
            emails: email
                .map(|e| EmailAddress::parse(e).unwrap())
                .into_iter()
                .collect(),
            company_name: company.map(|c| CompanyName::new(c).unwrap()),
            ..IdentityRecord::default()
        })
    }

    fn acme(domains: &[&str]) -> (CompanyName, Vec<CompanyDomain>) {
        (
            CompanyName::new("ACME Holdings GmbH").unwrap(),
            domains
                .iter()
                .map(|d| CompanyDomain::parse(d).unwrap())
                .collect(),
        )
    }

    fn assess(evidence: &CompanyEvidence, domains: &[&str]) -> AccountAssessment {
        let (name, domains) = acme(domains);
        assess_account(
            evidence,
            CompanyId(Uuid::nil()),
            &name,
            &domains,
            &MatchConfig::default(),
        )
    }

    #[test]
    fn a_work_domain_of_the_account_links_and_a_subdomain_counts() {
        let found = assess(
            &evidence(Some("ada@eu.acme.example"), None),
            &["acme.example"],
        );
        assert_eq!(found.domain, CompanyAgreement::Same);
        assert_eq!(found.verdict, MatchVerdict::AutoLink);
        let other = assess(
            &evidence(Some("ada@notacme.example"), None),
            &["acme.example"],
        );
        assert_eq!(other.domain, CompanyAgreement::Different);
        assert_eq!(other.verdict, MatchVerdict::Distinct);
    }

    #[test]
    fn free_mail_is_no_evidence_of_a_company() {
        let found = assess(&evidence(Some("ada@gmail.com"), None), &["acme.example"]);
        assert_eq!(found.domain, CompanyAgreement::Missing);
        assert_eq!(found.verdict, MatchVerdict::Distinct);
    }

    #[test]
    fn names_agree_whatever_their_legal_form_and_punctuation() {
        let found = assess(&evidence(None, Some("The Acme Holdings, Inc.")), &[]);
        assert_eq!(found.name, CompanyAgreement::Same);
        assert_eq!(found.verdict, MatchVerdict::AutoLink);
        let close = assess(&evidence(None, Some("Acme Holding")), &[]);
        assert_eq!(close.name, CompanyAgreement::Similar);
        assert_eq!(close.verdict, MatchVerdict::Review);
    }

    #[test]
    fn the_same_name_under_another_domain_is_reviewed_not_linked() {
        let found = assess(
            &evidence(Some("ada@acme-holdings.example"), Some("Acme Holdings")),
            &["acme.example"],
        );
        assert_eq!(found.domain, CompanyAgreement::Different);
        assert_eq!(found.verdict, MatchVerdict::Review);
    }

    proptest::proptest! {
        /// Sharing one of the account's own domains is never dismissed, whatever the names;
        /// free-mail addresses alone never match a company.
        #[test]
        fn an_owned_domain_is_never_distinct_and_free_mail_never_matches(
            label in "[a-z]{1,12}",
            sub in proptest::option::of("[a-z]{1,6}"),
            company in proptest::option::of("[A-Za-z][A-Za-z ]{0,20}"),
            provider in proptest::sample::select(vec!["gmail.com", "yahoo.com", "outlook.com"]),
        ) {
            let owned = format!("{label}.example");
            let address = match &sub {
                Some(sub) => format!("ada@{sub}.{owned}"),
                None => format!("ada@{owned}"),
            };
            let found = assess(&evidence(Some(&address), company.as_deref()), &[&owned]);
            proptest::prop_assert_eq!(found.domain, CompanyAgreement::Same);
            proptest::prop_assert_ne!(found.verdict, MatchVerdict::Distinct);
            let free = assess(&evidence(Some(&format!("ada@{provider}")), None), &[&owned]);
            proptest::prop_assert_eq!(free.domain, CompanyAgreement::Missing);
            proptest::prop_assert_eq!(free.verdict, MatchVerdict::Distinct);
        }
    }

    #[test]
    fn the_block_is_the_first_significant_word() {
        let name = CompanyName::new("The ACME Holdings GmbH & Co. KG").unwrap();
        assert_eq!(name_block(&name), Some("acme"));
    }
}
