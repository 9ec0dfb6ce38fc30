//! A converted lead creates its contact (unless it was linked to an existing one) and opens its
//! opportunity.

use chrono::{Days, TimeDelta};
use crm_domain::contact::{ContactCommand, Detail, DetailChange, Provenance};
use crm_domain::identity::PersonName;
use crm_domain::lead::{Lead, LeadEvent, LeadProfile};
use crm_domain::opportunity::{OpportunityCommand, Pipeline};
use crm_domain::{Currency, Money, UserId};
use crm_projections::CrmEvent;

use super::{AggregateState, Effect, Reaction, Step, Trigger};

/// What a converted lead's opportunity starts with.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversionSettings {
    /// The pipeline new deals follow.
    pub pipeline: Pipeline,
    /// The currency of the opening amount (zero: the rep prices the deal).
    pub currency: Currency,
    /// The expected close, counted from the conversion.
    pub expected_close_after: Days,
    /// The owner when the lead had no assignee (converted straight from a queue).
    pub fallback_owner: UserId,
}

/// The conversion reaction: on `LeadConverted`, step `create-contact` (when the lead made a new
/// contact) creates the contact from the lead's profile, owned by the lead's rep, step
/// `record-source-lead` records the lead on the contact (so erasing the person reaches the
/// lead's personal data), and step `open-opportunity` (when the conversion opened one) opens
/// the deal with that contact.
///
/// Delivery: at least once per `LeadConverted`, each step committed exactly once (ids and keys
/// derive from the event). The contact id and opportunity id are the ones the lead recorded, so
/// read models can follow the lead to both before they exist.
#[derive(Debug, Clone)]
pub struct OpenConvertedLead {
    settings: ConversionSettings,
}

impl OpenConvertedLead {
    /// The reaction with these settings.
    pub fn new(settings: ConversionSettings) -> Self {
        Self { settings }
    }
}

/// The contact details a lead's profile gives: the name split into given and family names
/// (the last word is the family name), the email, company, domain, job title and country.
fn details_from(profile: &LeadProfile, owner: Option<UserId>) -> Vec<DetailChange> {
    let mut changes = Vec::new();
    if let Some(name) = &profile.name {
        let words: Vec<&str> = name.raw().split_whitespace().collect();
        match words.split_last() {
            Some((family, given)) if !given.is_empty() => {
                changes.push(DetailChange::Set(Detail::GivenName(
                    PersonName::new(&given.join(" ")).ok(),
                )));
                changes.push(DetailChange::Set(Detail::FamilyName(
                    PersonName::new(family).ok(),
                )));
            }
            Some((only, _)) => {
                changes.push(DetailChange::Set(Detail::GivenName(
                    PersonName::new(only).ok(),
                )));
            }
            None => {}
        }
    }
    if let Some(email) = &profile.email {
        changes.push(DetailChange::AddEmail(email.clone()));
    }
    if let Some(phone) = &profile.phone {
        changes.push(DetailChange::AddPhone(phone.clone()));
    }
    if let Some(company) = &profile.company {
        changes.push(DetailChange::Set(Detail::CompanyName(Some(
            company.clone(),
        ))));
    }
    if let Some(domain) = &profile.company_domain {
        changes.push(DetailChange::Set(Detail::CompanyDomain(Some(
            domain.clone(),
        ))));
    }
    if let Some(title) = &profile.job_title {
        changes.push(DetailChange::Set(Detail::JobTitle(Some(title.clone()))));
    }
    if let Some(country) = &profile.country {
        changes.push(DetailChange::Set(Detail::Country(Some(*country))));
    }
    if let Some(owner) = owner {
        changes.push(DetailChange::Set(Detail::Owner(Some(owner))));
    }
    changes
}

/// What a new deal from `lead` is called: its company, else its person, else "New deal".
fn deal_name(lead: &Lead) -> String {
    let profile = lead.profile.as_ref();
    let named = profile
        .and_then(|profile| {
            profile
                .company
                .as_ref()
                .map(|company| company.raw().to_owned())
        })
        .or_else(|| {
            profile.and_then(|profile| profile.name.as_ref().map(|name| name.raw().to_owned()))
        });
    match named {
        Some(name) => format!("{name}: new business"),
        None => "New deal".to_owned(),
    }
}

impl Reaction for OpenConvertedLead {
    fn name(&self) -> &'static str {
        "open-converted-lead"
    }

    fn interested(&self, event: &CrmEvent) -> bool {
        matches!(event, CrmEvent::Lead(LeadEvent::Converted { .. }))
    }

    fn react(&self, trigger: &Trigger) -> Vec<Step> {
        let (
            CrmEvent::Lead(LeadEvent::Converted {
                contact_id,
                new_contact,
                opportunity_id,
                at,
            }),
            AggregateState::Lead(lead),
        ) = (&trigger.event, &trigger.state)
        else {
            return Vec::new();
        };
        let mut steps = Vec::new();
        if *new_contact {
            let system = lead
                .source
                .as_ref()
                .map_or_else(|| "crm".to_owned(), |source| source.system.clone());
            let changes = lead
                .profile
                .as_ref()
                .map(|profile| details_from(profile, lead.assignee))
                .unwrap_or_default();
            steps.push(Step {
                name: "create-contact",
                effect: Effect::Contact(
                    *contact_id,
                    ContactCommand::Create {
                        contact_id: *contact_id,
                        provenance: Provenance::new(system, *at),
                        changes,
                    },
                ),
            });
        }
        if let Some(lead_id) = lead.id {
            steps.push(Step {
                name: "record-source-lead",
                effect: Effect::Contact(
                    *contact_id,
                    ContactCommand::RecordSourceLead { lead: lead_id },
                ),
            });
        }
        if let Some(opportunity) = opportunity_id {
            let expected_close = at
                .date_naive()
                .checked_add_days(self.settings.expected_close_after)
                .unwrap_or_else(|| (*at + TimeDelta::days(90)).date_naive());
            steps.push(Step {
                name: "open-opportunity",
                effect: Effect::Opportunity(
                    *opportunity,
                    OpportunityCommand::Open {
                        opportunity: *opportunity,
                        name: deal_name(lead),
                        contact: *contact_id,
                        company: None,
                        owner: lead.assignee.unwrap_or(self.settings.fallback_owner),
                        amount: Money::zero(self.settings.currency),
                        expected_close,
                        pipeline: self.settings.pipeline.clone(),
                        stage: None,
                    },
                ),
            });
        }
        steps
    }
}
