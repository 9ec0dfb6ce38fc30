//! The account review queue: accounts with contacts identity resolution suggested, waiting
//! for a person to confirm or dismiss them, the longest waiting first.

use chrono::{DateTime, Utc};
use crm_domain::AccountId;
use crm_domain::identity::CompanyName;
use serde::{Deserialize, Serialize};

use super::{ACCOUNT, AccountDoc, SuggestedContact};
use crate::model::{DocKey, Scan, Selection};

/// The accounts with suggestions waiting, oldest suggestion first, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountReviewQueue {
    /// The most accounts to answer.
    pub limit: usize,
}

/// An account waiting for review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountReview {
    /// The account.
    pub account: AccountId,
    /// Its name.
    pub name: Option<CompanyName>,
    /// Since when its oldest suggestion waits.
    pub waiting_since: DateTime<Utc>,
    /// The suggested contacts, with their evidence.
    pub suggested: Vec<SuggestedContact>,
}

impl Scan<AccountDoc> for AccountReviewQueue {
    type Answer = Vec<AccountReview>;

    fn selection(&self) -> Selection {
        Selection::all(ACCOUNT)
            .order_by("review_since")
            .limit(self.limit.max(1))
    }

    fn answer<'a, I>(&self, docs: I) -> Vec<AccountReview>
    where
        I: Iterator<Item = (&'a DocKey, &'a AccountDoc)>,
    {
        docs.filter_map(|(_, doc)| {
            let record = doc.as_account()?;
            Some(AccountReview {
                account: record.id,
                name: record.name.clone(),
                waiting_since: record.review_since()?,
                suggested: record.suggested.clone(),
            })
        })
        .collect()
    }
}
