//! The kinds of record custom fields can be declared on, and the built-in names each kind
//! already uses (a custom field may not take them).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A kind of CRM record that can carry custom fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// An inbound lead.
    Lead,
    /// A person the company has a relationship with.
    Contact,
    /// A company (account) contacts and deals belong to.
    Account,
    /// A potential deal.
    Opportunity,
    /// A support ticket.
    Ticket,
    /// A logged activity (a call, a meeting, an email).
    Activity,
    /// A task someone has to do.
    Task,
}

/// Names every kind of record uses for itself or its bookkeeping.
const COMMON_BUILT_INS: &[&str] = &[
    "id",
    "type",
    "kind",
    "version",
    "status",
    "name",
    "owner",
    "tenant",
    "tags",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "deleted",
    "erased",
    "custom",
    "custom_fields",
];

impl EntityKind {
    /// Every kind, in a fixed order.
    pub const ALL: [EntityKind; 7] = [
        EntityKind::Lead,
        EntityKind::Contact,
        EntityKind::Account,
        EntityKind::Opportunity,
        EntityKind::Ticket,
        EntityKind::Activity,
        EntityKind::Task,
    ];

    /// The kind's name as configuration and events spell it (`"opportunity"`).
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Lead => "lead",
            EntityKind::Contact => "contact",
            EntityKind::Account => "account",
            EntityKind::Opportunity => "opportunity",
            EntityKind::Ticket => "ticket",
            EntityKind::Activity => "activity",
            EntityKind::Task => "task",
        }
    }

    /// The names of the kind's own built-in fields (beyond the names every kind uses, which
    /// [`EntityKind::is_built_in`] adds). A custom field may take none of them, so an API
    /// document can show built-in and custom fields side by side without a clash.
    pub fn own_built_ins(self) -> &'static [&'static str] {
        match self {
            EntityKind::Lead => &[
                "first_name",
                "last_name",
                "email",
                "phone",
                "company",
                "company_domain",
                "country",
                "region",
                "postcode",
                "industry",
                "company_size",
                "job_title",
                "campaign_id",
                "utm_source",
                "utm_medium",
                "utm_campaign",
                "utm_term",
                "utm_content",
                "source",
                "requested_at",
                "assignee",
                "assigned_at",
                "queue",
                "score",
                "first_touch_at",
                "converted_to",
                "merged_into",
            ],
            EntityKind::Contact => &[
                "given_name",
                "family_name",
                "primary_email",
                "email",
                "emails",
                "phone",
                "phones",
                "company_name",
                "company_domain",
                "job_title",
                "country",
                "account",
                "lifecycle_stage",
                "date_of_birth",
                "address",
                "national_id",
                "consents",
                "merged_into",
            ],
            EntityKind::Account => &[
                "domain",
                "website",
                "industry",
                "company_size",
                "employees",
                "annual_revenue",
                "country",
                "address",
                "phone",
                "parent_account",
            ],
            EntityKind::Opportunity => &[
                "contact",
                "company",
                "account",
                "amount",
                "currency",
                "expected_close",
                "pipeline",
                "stage",
                "probability",
                "forecast_category",
                "stage_entered_at",
                "approval",
                "loss_reason",
                "opened_at",
                "closed_at",
            ],
            EntityKind::Ticket => &[
                "contact",
                "subject",
                "channel",
                "priority",
                "follow_up_of",
                "opened_at",
                "assignee",
                "team",
                "escalation",
                "first_response_at",
                "solved_at",
                "closed_at",
            ],
            EntityKind::Activity => &[
                "subject",
                "body",
                "channel",
                "direction",
                "occurred_at",
                "duration",
                "outcome",
                "participants",
                "lead",
                "contact",
                "account",
                "opportunity",
                "ticket",
            ],
            EntityKind::Task => &[
                "title",
                "subject",
                "description",
                "assignee",
                "priority",
                "due_at",
                "due_date",
                "reminder_at",
                "completed_at",
                "related_to",
            ],
        }
    }

    /// Whether `name` is a built-in field name of this kind (its own or a common one).
    pub fn is_built_in(self, name: &str) -> bool {
        COMMON_BUILT_INS.contains(&name) || self.own_built_ins().contains(&name)
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialize_as_their_names() {
        for kind in EntityKind::ALL {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
        }
    }

    #[test]
    fn built_in_names_are_per_kind_plus_the_common_ones() {
        assert!(EntityKind::Lead.is_built_in("utm_source"));
        assert!(!EntityKind::Ticket.is_built_in("utm_source"));
        assert!(EntityKind::Ticket.is_built_in("subject"));
        for kind in EntityKind::ALL {
            assert!(kind.is_built_in("id"));
            assert!(kind.is_built_in("created_at"));
            assert!(!kind.is_built_in("renewal_date"));
        }
    }
}
