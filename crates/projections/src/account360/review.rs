//! The account review queue: accounts with contacts identity resolution suggested, waiting
//! for a person to confirm or dismiss them, the longest waiting first.

use chrono::{DateTime, Utc};
use crm_domain::AccountId;
use crm_domain::identity::CompanyName;
use serde::{Deserialize, Serialize};

use super::{ACCOUNT, AccountDoc, SuggestedContact, account_key};
use crate::model::{DocKey, IndexValue, Scan, Selection};

/// The accounts with suggestions waiting, oldest suggestion first, at most `limit`, after
/// `after` when given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountReviewQueue {
    /// The most accounts to answer.
    pub limit: usize,
    /// Where the page before ended: its last account's waiting time and id.
    pub after: Option<AccountReviewCursor>,
}

impl AccountReviewQueue {
    /// The first `limit` accounts of the queue.
    pub fn first(limit: usize) -> Self {
        Self { limit, after: None }
    }
}

/// A place in the account review queue: an account's waiting time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountReviewCursor {
    /// Since when the account waits.
    pub waiting_since: DateTime<Utc>,
    /// The account.
    pub account: AccountId,
}

impl AccountReviewCursor {
    /// The place just after `review`.
    pub fn after(review: &AccountReview) -> Self {
        Self {
            waiting_since: review.waiting_since,
            account: review.account,
        }
    }

    /// The cursor as text: `<microseconds since the epoch>.<account>`.
    pub fn to_text(&self) -> String {
        format!(
            "{}.{}",
            self.waiting_since.timestamp_micros(),
            self.account.0.simple()
        )
    }

    /// Reads [`to_text`](Self::to_text) back; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let (micros, account) = text.split_once('.')?;
        Some(Self {
            waiting_since: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            account: AccountId::from_uuid(uuid::Uuid::try_parse(account).ok()?),
        })
    }
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
        let selection = Selection::all(ACCOUNT)
            .order_by("review_since")
            .limit(self.limit.max(1));
        match self.after {
            Some(after) => selection.after(
                IndexValue::Time(after.waiting_since),
                account_key(after.account),
            ),
            None => selection,
        }
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
