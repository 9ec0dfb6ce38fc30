//! Finding a person's account: the accounts listing one of their work domains (or a parent
//! domain of one) and those whose name starts with the same word as their company's, each
//! weighed by the domain's [`assess_account`], best first.

use std::collections::BTreeSet;

use crm_domain::AccountId;
use crm_domain::account::matching::{
    AccountAssessment, CompanyEvidence, assess_account, name_block,
};
use crm_domain::identity::{MatchConfig, MatchVerdict};
use serde::{Deserialize, Serialize};

use super::{AccountDoc, account_key, block_key, domain_key};
use crate::model::{DocKey, Found, Lookup};

/// The accounts a person's company evidence may belong to: every account sharing a domain
/// or a name block with it, assessed, those the config calls distinct left out, best first,
/// at most `limit`.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountCandidates {
    /// What the person's record says of their company.
    pub evidence: CompanyEvidence,
    /// The thresholds (the people's, by default).
    pub config: MatchConfig,
    /// The most candidates to answer.
    pub limit: usize,
}

/// A candidate account with its assessment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountCandidate {
    /// The account's name.
    pub name: String,
    /// How the evidence fits it.
    #[serde(flatten)]
    pub assessment: AccountAssessment,
}

/// The domain and each parent domain of two labels or more (`eu.acme.example`,
/// `acme.example`): an account listing `acme.example` owns its subdomains.
fn with_parents(domain: &str) -> impl Iterator<Item = &str> {
    domain
        .match_indices('.')
        .map(|(at, _)| &domain[at + 1..])
        .filter(|parent| parent.contains('.'))
        .chain(std::iter::once(domain))
}

impl AccountCandidates {
    fn index_keys(&self) -> Vec<DocKey> {
        let mut keys: Vec<DocKey> = self
            .evidence
            .domains
            .iter()
            .flat_map(|domain| with_parents(domain))
            .map(domain_key)
            .collect();
        keys.extend(
            self.evidence
                .name
                .as_ref()
                .and_then(name_block)
                .map(block_key),
        );
        keys
    }

    fn accounts(&self, found: &Found<AccountDoc>) -> BTreeSet<AccountId> {
        let mut accounts = BTreeSet::new();
        for key in self.index_keys() {
            if let Some(AccountDoc::Index(index)) = found.get(&key) {
                accounts.extend(index.accounts.iter().copied());
            }
        }
        accounts
    }
}

impl Lookup<AccountDoc> for AccountCandidates {
    type Answer = Vec<AccountCandidate>;

    fn keys(&self, found: &Found<AccountDoc>, keys: &mut Vec<DocKey>) {
        let index = self.index_keys();
        if index.iter().any(|key| !found.contains(key)) {
            keys.extend(index.into_iter().filter(|key| !found.contains(key)));
            return;
        }
        keys.extend(
            self.accounts(found)
                .into_iter()
                .map(account_key)
                .filter(|key| !found.contains(key)),
        );
    }

    fn answer(&self, found: &Found<AccountDoc>) -> Vec<AccountCandidate> {
        let mut candidates: Vec<AccountCandidate> = self
            .accounts(found)
            .into_iter()
            .filter_map(|account| {
                let record = found.get(&account_key(account))?.as_account()?;
                let name = record.name.as_ref()?;
                let assessment =
                    assess_account(&self.evidence, account, name, &record.domains, &self.config);
                (assessment.verdict != MatchVerdict::Distinct).then(|| AccountCandidate {
                    name: name.raw().to_owned(),
                    assessment,
                })
            })
            .collect();
        candidates.sort_by(|a, b| {
            b.assessment
                .score
                .cmp(&a.assessment.score)
                .then_with(|| a.assessment.account.0.cmp(&b.assessment.account.0))
        });
        candidates.truncate(self.limit);
        candidates
    }
}

#[cfg(test)]
mod tests {
    use super::with_parents;

    #[test]
    fn a_domain_is_looked_up_with_its_parents_of_two_labels_or_more() {
        assert_eq!(
            with_parents("eu.sales.acme.example").collect::<Vec<_>>(),
            vec![
                "sales.acme.example",
                "acme.example",
                "eu.sales.acme.example"
            ]
        );
        assert_eq!(
            with_parents("acme.example").collect::<Vec<_>>(),
            vec!["acme.example"]
        );
    }
}
