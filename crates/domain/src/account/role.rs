//! The role a contact holds at an account.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The part a person plays at an account, in the buying and service relationship.
///
/// A closed list rather than a job title: the title is a detail of the contact (and personal
/// data, kept on the contact's stream, under their key), while the role is what the account
/// team works with. A person may hold a role at several accounts, one role at each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactRole {
    /// Makes the buying decision.
    DecisionMaker,
    /// Holds the budget and signs off the spend.
    EconomicBuyer,
    /// Sells for us on the inside.
    Champion,
    /// Shapes the decision without making it.
    Influencer,
    /// Evaluates the product's technical fit.
    TechnicalEvaluator,
    /// Uses the product day to day.
    User,
    /// Receives and settles invoices.
    Billing,
    /// Any other part (a partner's contact, an assistant).
    Other,
}

impl ContactRole {
    /// Every role.
    pub const ALL: [ContactRole; 8] = [
        ContactRole::DecisionMaker,
        ContactRole::EconomicBuyer,
        ContactRole::Champion,
        ContactRole::Influencer,
        ContactRole::TechnicalEvaluator,
        ContactRole::User,
        ContactRole::Billing,
        ContactRole::Other,
    ];

    /// The role in the CRM's words ("decision maker").
    pub fn as_str(self) -> &'static str {
        match self {
            ContactRole::DecisionMaker => "decision maker",
            ContactRole::EconomicBuyer => "economic buyer",
            ContactRole::Champion => "champion",
            ContactRole::Influencer => "influencer",
            ContactRole::TechnicalEvaluator => "technical evaluator",
            ContactRole::User => "user",
            ContactRole::Billing => "billing",
            ContactRole::Other => "other",
        }
    }
}

impl fmt::Display for ContactRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A contact's current role at an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountContact {
    /// The role.
    pub role: ContactRole,
    /// Since when the contact belongs to the account (the role may have changed since).
    pub since: DateTime<Utc>,
}
