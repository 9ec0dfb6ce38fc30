//! The commands a client may send, one JSON shape per aggregate (`{"command": "qualify", …}`),
//! each turned into the domain's command; and the one handler that executes them with the
//! request's `If-Match` and `Idempotency-Key`.
//!
//! Commands only the CRM itself sends (a lead's receipt and routing, a reclaim, a recorded
//! match or suspicion, a merge's second half) are not here: intake, routing and the workflows
//! send them.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use crm_domain::contact::{
    ConsentChannel, ConsentProof, ConsentPurpose, ContactCommand, ContactField, Detail,
    DetailChange, ExternalId, Provenance, StreetAddress,
};
use crm_domain::custom_fields::{CustomFieldsUpdate, EntityKind};
use crm_domain::identity::{
    CompanyDomain, CompanyName, CountryCode, EmailAddress, PersonName, PhoneNumber,
};
use crm_domain::lead::{ConversionRequest, DisqualificationReason, LeadCommand};
use crm_domain::opportunity::{LossReason, OpportunityCommand, Pipeline, StageId};
use crm_domain::ticket::{EscalationTarget, TicketCommand, TicketStatus};
use crm_domain::{
    Aggregate, Channel, CompanyId, ContactId, DomainEvent, LeadId, Money, OpportunityId, Priority,
    TicketId, UserId,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::body::{etag, idempotency_key, if_match};
use super::problem::{Problem, ProblemKind};
use super::{App, Principal};
use crate::backend::Backend;
use crate::command::CommandMeta;
use crm_eventstore::Source;

/// What a command did, as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CommandResponse {
    /// The record's id.
    pub id: Uuid,
    /// The record's version after the command (also the `ETag`).
    pub version: u64,
    /// The types of the events it recorded, in order (none when it changed nothing).
    pub events: Vec<String>,
    /// Whether this answers a retry under the same `Idempotency-Key` (nothing was done now).
    pub replayed: bool,
}

/// A command to a lead.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum LeadRequest {
    /// Marks the lead as a real prospect (needs `If-Match`).
    Qualify(Empty),
    /// Marks the lead as not a prospect (needs `If-Match`).
    Disqualify(Disqualify),
    /// Records the assigned rep's first contact.
    LogFirstTouch(FirstTouch),
    /// Converts the lead into a contact, and a deal if asked (needs `If-Match`).
    Convert(Convert),
    /// Hands the lead to someone (a team lead).
    Escalate(EscalateLead),
    /// Merges the lead into another, a duplicate (needs `If-Match`).
    MergeInto(MergeLead),
    /// Sets or clears custom field values under the tenant's current schema.
    SetCustomFields(CustomFieldValues),
}

/// No fields.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// Why a lead is not a prospect.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Disqualify {
    /// `{"reason": "spam"}`, `{"reason": "other", "note": "…"}`; reasons: `not_a_prospect`,
    /// `spam`, `existing_relationship`, `unreachable`, `other`.
    #[schema(value_type = Object)]
    pub reason: DisqualificationReason,
}

/// A first touch.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FirstTouch {
    /// How the rep reached out: `email`, `phone`, `sms`, `chat`, `web`, `social`.
    #[schema(value_type = String)]
    pub channel: Channel,
}

/// A conversion.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Convert {
    /// Link to this contact instead of creating one.
    #[serde(default)]
    pub existing_contact: Option<Uuid>,
    /// Whether to open a deal too.
    #[serde(default)]
    pub open_opportunity: bool,
}

/// An escalation of a lead.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalateLead {
    /// The user who receives it.
    pub to: Uuid,
    /// Why.
    pub reason: String,
}

/// A lead merge.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeLead {
    /// The lead that survives.
    pub survivor: Uuid,
}

impl LeadRequest {
    fn needs_if_match(&self) -> bool {
        matches!(
            self,
            LeadRequest::Qualify(_)
                | LeadRequest::Disqualify(_)
                | LeadRequest::Convert(_)
                | LeadRequest::MergeInto(_)
        )
    }

    /// The domain's command; `None` for custom fields, which are decided under the current
    /// schema ([`execute_with_custom`]).
    fn into_command(self) -> Option<LeadCommand> {
        Some(match self {
            LeadRequest::SetCustomFields(_) => return None,
            LeadRequest::Qualify(_) => LeadCommand::Qualify,
            LeadRequest::Disqualify(Disqualify { reason }) => LeadCommand::Disqualify { reason },
            LeadRequest::LogFirstTouch(FirstTouch { channel }) => {
                LeadCommand::LogFirstTouch { channel }
            }
            LeadRequest::Convert(Convert {
                existing_contact,
                open_opportunity,
            }) => LeadCommand::Convert(ConversionRequest {
                existing_contact: existing_contact.map(ContactId),
                open_opportunity,
            }),
            LeadRequest::Escalate(EscalateLead { to, reason }) => LeadCommand::Escalate {
                to: UserId(to),
                reason,
            },
            LeadRequest::MergeInto(MergeLead { survivor }) => LeadCommand::MergeInto {
                survivor: LeadId(survivor),
            },
        })
    }
}

/// A command to a contact.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum ContactRequest {
    /// Creates the contact with the id of the path.
    Create(ContactDetails),
    /// Changes details (needs `If-Match`).
    ChangeDetails(ContactDetails),
    /// Records consent to be contacted on a channel.
    GrantConsent(ConsentChange),
    /// Records that consent on a channel was withdrawn.
    WithdrawConsent(ConsentChange),
    /// Says the contact and `other` are different people: never suggested again.
    DeclareNotDuplicate(OtherContact),
    /// Takes back a "not a duplicate".
    RevokeNotDuplicate(OtherContact),
    /// Sets or clears custom field values under the tenant's current schema.
    SetCustomFields(CustomFieldValues),
    /// Decides a value a connected system proposed for a field under manual review (see
    /// `GET /v1/sync/conflicts`): `accept` takes it, otherwise the current value stays.
    ResolveFieldConflict(FieldConflictDecision),
    /// Records the contact's id in a connected system (found again with
    /// `GET /v1/external-ids`); linking one held already changes nothing.
    LinkExternalId(ExternalIdBody),
    /// Forgets an id in a connected system.
    UnlinkExternalId(ExternalIdBody),
}

/// An id of the contact in a connected system.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalIdBody {
    /// The system, e.g. `billing`.
    pub system: String,
    /// The record's id there.
    pub id: String,
}

/// A decision on a value waiting for review.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldConflictDecision {
    /// The field, e.g. `job_title`.
    #[schema(value_type = String)]
    pub field: ContactField,
    /// Whether the proposed value is taken.
    pub accept: bool,
}

/// Details of a contact to set, clear, add or remove; each value is normalized and checked, and
/// every problem is reported at once.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactDetails {
    /// Custom field values to set with it, checked against the entity's validation rules
    /// (which a create meets even when it sends none).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<Map<String, Value>>,
    /// Given name.
    #[serde(default)]
    pub given_name: Option<String>,
    /// Family name.
    #[serde(default)]
    pub family_name: Option<String>,
    /// The primary email address.
    #[serde(default)]
    pub primary_email: Option<String>,
    /// Company name.
    #[serde(default)]
    pub company_name: Option<String>,
    /// Company web domain.
    #[serde(default)]
    pub company_domain: Option<String>,
    /// Job title.
    #[serde(default)]
    pub job_title: Option<String>,
    /// Country, ISO 3166-1 alpha-2; also the region phone numbers without `+` are read in.
    #[serde(default)]
    pub country: Option<String>,
    /// The owning user.
    #[serde(default)]
    pub owner: Option<Uuid>,
    /// Date of birth.
    #[serde(default)]
    pub date_of_birth: Option<NaiveDate>,
    /// Postal address (`street_number`, `street`, `locality`, `postcode`, `region`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub address: Option<StreetAddress>,
    /// A national or customer id.
    #[serde(default)]
    pub national_id: Option<String>,
    /// Fields to clear: `given_name`, `family_name`, `primary_email`, `company_name`,
    /// `company_domain`, `job_title`, `country`, `owner`, `date_of_birth`, `address`,
    /// `national_id`.
    #[serde(default)]
    pub clear: Vec<String>,
    /// Email addresses to add.
    #[serde(default)]
    pub add_emails: Vec<String>,
    /// Email addresses to remove.
    #[serde(default)]
    pub remove_emails: Vec<String>,
    /// Phone numbers to add (with `+` and country code, or read in `country`).
    #[serde(default)]
    pub add_phones: Vec<String>,
    /// Phone numbers to remove.
    #[serde(default)]
    pub remove_phones: Vec<String>,
    /// The system the values come from (default `"api"`).
    #[serde(default)]
    pub source_system: Option<String>,
    /// When the source says the values changed (default: now).
    #[serde(default)]
    pub source_time: Option<DateTime<Utc>>,
}

/// A consent change.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentChange {
    /// `email`, `phone` or `sms`.
    #[schema(value_type = String)]
    pub channel: ConsentChannel,
    /// What the person is contacted for: `marketing` (the default), `sales`, `service` or
    /// `research`. Each channel's consent is given and withdrawn per purpose.
    #[serde(default)]
    #[schema(value_type = String)]
    pub purpose: ConsentPurpose,
    /// What proves it (`form_id`, `ip_address`, `double_opt_in_token`, `recording_reference`,
    /// `wording_version`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub proof: ConsentProof,
    /// The system that recorded it (default `"api"`).
    #[serde(default)]
    pub source_system: Option<String>,
    /// When it was given or withdrawn (default: now).
    #[serde(default)]
    pub source_time: Option<DateTime<Utc>>,
}

/// Another contact.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OtherContact {
    /// Its id.
    pub other: Uuid,
}

/// The longest text field a command takes, in characters.
pub const MAX_TEXT_CHARS: usize = 10_000;

impl ContactDetails {
    pub(crate) fn provenance(&self, now: DateTime<Utc>) -> Result<Provenance, Problem> {
        provenance(self.source_system.as_deref(), self.source_time, now)
    }

    /// The changes, or every reason they cannot be made.
    pub(crate) fn changes(self) -> Result<Vec<DetailChange>, Problem> {
        let mut changes = Vec::new();
        let mut problems = Vec::new();
        let region = match self.country.as_deref().map(CountryCode::new) {
            Some(Ok(country)) => {
                changes.push(DetailChange::Set(Detail::Country(Some(country))));
                Some(country)
            }
            Some(Err(error)) => {
                problems.push(format!("country: {error}"));
                None
            }
            None => None,
        };
        let mut set = |result: Result<Detail, String>| match result {
            Ok(detail) => changes.push(DetailChange::Set(detail)),
            Err(problem) => problems.push(problem),
        };
        let text = |what: &str, value: &str| -> Result<(), String> {
            if value.chars().count() > MAX_TEXT_CHARS {
                Err(format!("{what}: longer than {MAX_TEXT_CHARS} characters"))
            } else {
                Ok(())
            }
        };
        set_parsed(
            &mut set,
            "given_name",
            self.given_name,
            PersonName::new,
            |name| Detail::GivenName(Some(name)),
        );
        set_parsed(
            &mut set,
            "family_name",
            self.family_name,
            PersonName::new,
            |name| Detail::FamilyName(Some(name)),
        );
        set_parsed(
            &mut set,
            "primary_email",
            self.primary_email,
            EmailAddress::parse,
            |email| Detail::PrimaryEmail(Some(email)),
        );
        set_parsed(
            &mut set,
            "company_name",
            self.company_name,
            CompanyName::new,
            |company| Detail::CompanyName(Some(company)),
        );
        set_parsed(
            &mut set,
            "company_domain",
            self.company_domain,
            CompanyDomain::parse,
            |domain| Detail::CompanyDomain(Some(domain)),
        );
        if let Some(title) = self.job_title {
            set(text("job_title", &title).map(|()| Detail::JobTitle(Some(title))));
        }
        if let Some(owner) = self.owner {
            set(Ok(Detail::Owner(Some(UserId(owner)))));
        }
        if let Some(date) = self.date_of_birth {
            set(Ok(Detail::DateOfBirth(Some(date))));
        }
        if let Some(address) = self.address {
            set(Ok(Detail::Address(Some(address))));
        }
        if let Some(id) = self.national_id {
            set(Ok(Detail::NationalId(Some(id))));
        }
        for field in &self.clear {
            let detail = match field.as_str() {
                "given_name" => Detail::GivenName(None),
                "family_name" => Detail::FamilyName(None),
                "primary_email" => Detail::PrimaryEmail(None),
                "company_name" => Detail::CompanyName(None),
                "company_domain" => Detail::CompanyDomain(None),
                "job_title" => Detail::JobTitle(None),
                "country" => Detail::Country(None),
                "owner" => Detail::Owner(None),
                "date_of_birth" => Detail::DateOfBirth(None),
                "address" => Detail::Address(None),
                "national_id" => Detail::NationalId(None),
                other => {
                    problems.push(format!(
                        "clear: {other:?} is not a field that can be cleared"
                    ));
                    continue;
                }
            };
            changes.push(DetailChange::Set(detail));
        }
        for (list, add) in [(self.add_emails, true), (self.remove_emails, false)] {
            for email in list {
                match EmailAddress::parse(&email) {
                    Ok(email) if add => changes.push(DetailChange::AddEmail(email)),
                    Ok(email) => changes.push(DetailChange::RemoveEmail(email)),
                    Err(error) => problems.push(format!("email {email:?}: {error}")),
                }
            }
        }
        let region = region.or_else(|| CountryCode::new("US").ok());
        for (list, add) in [(self.add_phones, true), (self.remove_phones, false)] {
            for phone in list {
                let parsed = match region {
                    Some(region) => PhoneNumber::parse(&phone, region).map_err(|e| e.to_string()),
                    None => Err("no region to read it in".to_owned()),
                };
                match parsed {
                    Ok(number) if add => changes.push(DetailChange::AddPhone(number)),
                    Ok(number) => changes.push(DetailChange::RemovePhone(number)),
                    Err(error) => problems.push(format!("phone {phone:?}: {error}")),
                }
            }
        }
        if problems.is_empty() {
            Ok(changes)
        } else {
            Err(Problem::new(ProblemKind::InvalidBody, problems.join("; ")).with_code("details"))
        }
    }
}

/// Parses `value` (when given) with `parse` and sets the detail `wrap` makes of it, or reports
/// why it cannot be read, naming the field.
fn set_parsed<T, E: std::fmt::Display>(
    set: &mut impl FnMut(Result<Detail, String>),
    field: &str,
    value: Option<String>,
    parse: impl Fn(&str) -> Result<T, E>,
    wrap: impl Fn(T) -> Detail,
) {
    if let Some(value) = value {
        set(parse(&value)
            .map(wrap)
            .map_err(|error| format!("{field}: {error}")));
    }
}

/// The source a request naming no source system speaks for: the CRM's own API and its users.
pub(crate) const API_SOURCE: &str = "api";

fn provenance(
    system: Option<&str>,
    time: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Provenance, Problem> {
    let system = system.unwrap_or(API_SOURCE);
    if system.trim().is_empty() || system.chars().count() > 200 {
        return Err(Problem::new(
            ProblemKind::InvalidBody,
            "source_system: 1 to 200 characters",
        )
        .with_code("source_system"));
    }
    Ok(Provenance::new(system, time.unwrap_or(now)))
}

impl ContactRequest {
    /// The source system the request speaks for (`"api"` unless it names one), for requests
    /// that carry facts from a source.
    pub(crate) fn source_system(&self) -> Option<&str> {
        match self {
            ContactRequest::Create(details) | ContactRequest::ChangeDetails(details) => {
                Some(details.source_system.as_deref().unwrap_or(API_SOURCE))
            }
            ContactRequest::GrantConsent(change) | ContactRequest::WithdrawConsent(change) => {
                Some(change.source_system.as_deref().unwrap_or(API_SOURCE))
            }
            _ => None,
        }
    }

    /// The source system and its time, when the request names the time.
    fn source(&self) -> Option<Source> {
        let (system, time) = match self {
            ContactRequest::Create(details) | ContactRequest::ChangeDetails(details) => {
                (details.source_system.as_deref(), details.source_time)
            }
            ContactRequest::GrantConsent(change) | ContactRequest::WithdrawConsent(change) => {
                (change.source_system.as_deref(), change.source_time)
            }
            ContactRequest::DeclareNotDuplicate(_)
            | ContactRequest::RevokeNotDuplicate(_)
            | ContactRequest::ResolveFieldConflict(_)
            | ContactRequest::LinkExternalId(_)
            | ContactRequest::UnlinkExternalId(_)
            | ContactRequest::SetCustomFields(_) => {
                return None;
            }
        };
        time.map(|timestamp| Source {
            system: system.unwrap_or("api").to_owned(),
            timestamp: Some(timestamp),
        })
    }

    fn needs_if_match(&self) -> bool {
        matches!(self, ContactRequest::ChangeDetails(_))
    }

    /// The custom field changes the request brings: all of `set_custom_fields`, and those of
    /// a create (none is an empty change, so the rules are still checked) or a details change.
    fn take_custom_fields(&mut self) -> Option<Map<String, Value>> {
        match self {
            ContactRequest::SetCustomFields(values) => Some(std::mem::take(&mut values.values)),
            ContactRequest::Create(details) => {
                Some(details.custom_fields.take().unwrap_or_default())
            }
            ContactRequest::ChangeDetails(details) => details.custom_fields.take(),
            _ => None,
        }
    }

    fn into_command(self, id: Uuid, now: DateTime<Utc>) -> Result<Option<ContactCommand>, Problem> {
        Ok(Some(match self {
            ContactRequest::SetCustomFields(_) => return Ok(None),
            ContactRequest::Create(details) => {
                let provenance = details.provenance(now)?;
                ContactCommand::Create {
                    contact_id: ContactId(id),
                    provenance,
                    changes: details.changes()?,
                }
            }
            ContactRequest::ChangeDetails(details) => {
                let provenance = details.provenance(now)?;
                ContactCommand::ChangeDetails {
                    changes: details.changes()?,
                    provenance,
                }
            }
            ContactRequest::GrantConsent(change) => ContactCommand::GrantConsent {
                channel: change.channel,
                purpose: change.purpose,
                provenance: provenance(change.source_system.as_deref(), change.source_time, now)?,
                proof: change.proof,
            },
            ContactRequest::WithdrawConsent(change) => ContactCommand::WithdrawConsent {
                channel: change.channel,
                purpose: change.purpose,
                provenance: provenance(change.source_system.as_deref(), change.source_time, now)?,
                proof: change.proof,
            },
            ContactRequest::DeclareNotDuplicate(OtherContact { other }) => {
                ContactCommand::DeclareNotDuplicate {
                    other: ContactId(other),
                }
            }
            ContactRequest::ResolveFieldConflict(FieldConflictDecision { field, accept }) => {
                ContactCommand::ResolveFieldConflict { field, accept }
            }
            ContactRequest::LinkExternalId(ExternalIdBody { system, id }) => {
                ContactCommand::LinkExternalId(ExternalId { system, id })
            }
            ContactRequest::UnlinkExternalId(ExternalIdBody { system, id }) => {
                ContactCommand::UnlinkExternalId(ExternalId { system, id })
            }
            ContactRequest::RevokeNotDuplicate(OtherContact { other }) => {
                ContactCommand::RevokeNotDuplicate {
                    other: ContactId(other),
                }
            }
        }))
    }
}

/// A command to an opportunity (a deal).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum OpportunityRequest {
    /// Opens the deal with the id of the path.
    Open(OpenDeal),
    /// Moves it to another stage (needs `If-Match`).
    ChangeStage(ChangeStage),
    /// Changes its amount (needs `If-Match`).
    ChangeAmount(ChangeAmount),
    /// Changes its expected close date (needs `If-Match`).
    ChangeCloseDate(ChangeCloseDate),
    /// Gives it to another owner (needs `If-Match`).
    Reassign(Reassign),
    /// Asks for the approval a large deal needs.
    RequestApproval(Comment),
    /// Grants the approval.
    GrantApproval(Comment),
    /// Refuses the approval.
    RejectApproval(Reason),
    /// Wins the deal (needs `If-Match`).
    Win(Empty),
    /// Loses the deal (needs `If-Match`).
    Lose(Lose),
    /// Sets or clears custom field values under the tenant's current schema.
    SetCustomFields(CustomFieldValues),
}

/// A new deal.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenDeal {
    /// Its name.
    pub name: String,
    /// The contact it is with.
    pub contact: Uuid,
    /// Its owner.
    pub owner: Uuid,
    /// `{"minor": 1250000, "currency": "EUR"}`: an integer of the currency's minor units.
    #[schema(value_type = Object)]
    pub amount: Money,
    /// The expected close date.
    pub expected_close: NaiveDate,
    /// The pipeline's id (the default pipeline when absent).
    #[serde(default)]
    pub pipeline: Option<String>,
    /// The stage to open it in (the pipeline's first open stage when absent).
    #[serde(default)]
    pub stage: Option<String>,
    /// Custom field values to set with it, checked against the entity's validation rules
    /// (which a create meets even when it sends none).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<Map<String, Value>>,
}

/// A stage change.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeStage {
    /// The stage's id.
    pub to: String,
}

/// An amount change.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeAmount {
    /// The new amount.
    #[schema(value_type = Object)]
    pub amount: Money,
}

/// A close date change.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeCloseDate {
    /// The new expected close date.
    pub expected_close: NaiveDate,
}

/// A new owner.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reassign {
    /// The user.
    pub owner: Uuid,
}

/// An optional comment.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Comment {
    /// The comment.
    #[serde(default)]
    pub comment: Option<String>,
}

/// A reason.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    /// Why.
    pub reason: String,
}

/// A loss.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Lose {
    /// `{"reason": "price"}`, `{"reason": "competitor", "competitor": "…"}`, …
    #[schema(value_type = Object)]
    pub reason: LossReason,
}

impl OpportunityRequest {
    fn needs_if_match(&self) -> bool {
        !matches!(
            self,
            OpportunityRequest::Open(_)
                | OpportunityRequest::RequestApproval(_)
                | OpportunityRequest::GrantApproval(_)
                | OpportunityRequest::RejectApproval(_)
        )
    }

    /// See [`ContactRequest::take_custom_fields`].
    fn take_custom_fields(&mut self) -> Option<Map<String, Value>> {
        match self {
            OpportunityRequest::SetCustomFields(values) => Some(std::mem::take(&mut values.values)),
            OpportunityRequest::Open(open) => Some(open.custom_fields.take().unwrap_or_default()),
            _ => None,
        }
    }

    fn into_command(
        self,
        id: Uuid,
        pipelines: &[Pipeline],
    ) -> Result<Option<OpportunityCommand>, Problem> {
        Ok(Some(match self {
            OpportunityRequest::SetCustomFields(_) => return Ok(None),
            OpportunityRequest::Open(open) => {
                let pipeline = match &open.pipeline {
                    None => pipelines.first().cloned().unwrap_or_default(),
                    Some(name) => pipelines
                        .iter()
                        .find(|pipeline| pipeline.id.as_str() == name)
                        .cloned()
                        .ok_or_else(|| {
                            Problem::new(
                                ProblemKind::InvalidBody,
                                format!("pipeline {name:?} is not configured"),
                            )
                            .with_code("pipeline")
                        })?,
                };
                OpportunityCommand::Open {
                    opportunity: OpportunityId(id),
                    name: open.name,
                    contact: ContactId(open.contact),
                    company: None,
                    owner: UserId(open.owner),
                    amount: open.amount,
                    expected_close: open.expected_close,
                    pipeline,
                    stage: open.stage.map(StageId::new),
                }
            }
            OpportunityRequest::ChangeStage(ChangeStage { to }) => {
                OpportunityCommand::ChangeStage {
                    to: StageId::new(to),
                }
            }
            OpportunityRequest::ChangeAmount(ChangeAmount { amount }) => {
                OpportunityCommand::ChangeAmount { amount }
            }
            OpportunityRequest::ChangeCloseDate(ChangeCloseDate { expected_close }) => {
                OpportunityCommand::ChangeCloseDate { expected_close }
            }
            OpportunityRequest::Reassign(Reassign { owner }) => OpportunityCommand::Reassign {
                owner: UserId(owner),
            },
            OpportunityRequest::RequestApproval(Comment { comment }) => {
                OpportunityCommand::RequestApproval { comment }
            }
            OpportunityRequest::GrantApproval(Comment { comment }) => {
                OpportunityCommand::GrantApproval { comment }
            }
            OpportunityRequest::RejectApproval(Reason { reason }) => {
                OpportunityCommand::RejectApproval { reason }
            }
            OpportunityRequest::Win(_) => OpportunityCommand::Win,
            OpportunityRequest::Lose(Lose { reason }) => OpportunityCommand::Lose { reason },
        }))
    }
}

/// A command to a ticket.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum TicketRequest {
    /// Opens the ticket with the id of the path.
    Open(OpenTicket),
    /// Gives it to an agent (needs `If-Match`).
    Assign(Assign),
    /// Records an agent's reply to the customer.
    ReplyToCustomer(Reply),
    /// Records the customer's reply.
    RecordCustomerReply(CustomerReply),
    /// Changes its status (needs `If-Match`).
    ChangeStatus(ChangeStatus),
    /// Changes its priority (needs `If-Match`).
    ChangePriority(ChangePriority),
    /// Escalates it to a team or a user.
    Escalate(EscalateTicket),
    /// Reopens a solved ticket.
    Reopen(Reason),
    /// Sets or clears custom field values under the tenant's current schema.
    SetCustomFields(CustomFieldValues),
}

/// A new ticket.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenTicket {
    /// The contact it is for.
    pub contact: Uuid,
    /// Its subject.
    pub subject: String,
    /// Where it came in: `email`, `phone`, `sms`, `chat`, `web`, `social`.
    #[schema(value_type = String)]
    pub channel: Channel,
    /// `low`, `normal`, `high` or `urgent`.
    #[schema(value_type = String)]
    pub priority: Priority,
    /// The customer's first message.
    #[serde(default)]
    pub message: Option<String>,
    /// The ticket this one follows up.
    #[serde(default)]
    pub follow_up_of: Option<Uuid>,
    /// The account (company) it is for; the account 360 counts it.
    #[serde(default)]
    pub account: Option<Uuid>,
    /// Custom field values to set with it, checked against the entity's validation rules
    /// (which a create meets even when it sends none).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<Map<String, Value>>,
}

/// An assignment.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Assign {
    /// The agent.
    pub assignee: Uuid,
}

/// An agent's reply.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// The text.
    pub body: String,
    /// The channel.
    #[schema(value_type = String)]
    pub channel: Channel,
}

/// A customer's reply.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerReply {
    /// The contact who wrote.
    pub from: Uuid,
    /// The text.
    pub body: String,
    /// The channel.
    #[schema(value_type = String)]
    pub channel: Channel,
}

/// A status change.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeStatus {
    /// `new`, `open`, `pending`, `on_hold`, `solved`, `closed`.
    #[schema(value_type = String)]
    pub status: TicketStatus,
}

/// A priority change.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePriority {
    /// `low`, `normal`, `high` or `urgent`.
    #[schema(value_type = String)]
    pub priority: Priority,
}

/// A ticket escalation.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalateTicket {
    /// `{"kind": "team", "team": "…"}` or `{"kind": "user", "user": "…"}`.
    #[schema(value_type = Object)]
    pub to: EscalationTarget,
    /// The escalation level, from 1.
    pub level: u8,
    /// Why.
    pub reason: String,
}

impl TicketRequest {
    fn needs_if_match(&self) -> bool {
        matches!(
            self,
            TicketRequest::Assign(_)
                | TicketRequest::ChangeStatus(_)
                | TicketRequest::ChangePriority(_)
        )
    }

    /// See [`ContactRequest::take_custom_fields`].
    fn take_custom_fields(&mut self) -> Option<Map<String, Value>> {
        match self {
            TicketRequest::SetCustomFields(values) => Some(std::mem::take(&mut values.values)),
            TicketRequest::Open(open) => Some(open.custom_fields.take().unwrap_or_default()),
            _ => None,
        }
    }

    fn into_command(self, id: Uuid) -> Result<Option<TicketCommand>, Problem> {
        Ok(Some(match self {
            TicketRequest::SetCustomFields(_) => return Ok(None),
            TicketRequest::Open(open) => TicketCommand::Open {
                ticket: TicketId(id),
                contact: ContactId(open.contact),
                subject: open.subject,
                channel: open.channel,
                priority: open.priority,
                message: open.message,
                follow_up_of: open.follow_up_of.map(TicketId),
                account: open.account.map(CompanyId),
            },
            TicketRequest::Assign(Assign { assignee }) => TicketCommand::Assign {
                assignee: UserId(assignee),
            },
            TicketRequest::ReplyToCustomer(Reply { body, channel }) => {
                TicketCommand::ReplyToCustomer { body, channel }
            }
            TicketRequest::RecordCustomerReply(CustomerReply {
                from,
                body,
                channel,
            }) => TicketCommand::RecordCustomerReply {
                from: ContactId(from),
                body,
                channel,
            },
            TicketRequest::ChangeStatus(ChangeStatus { status }) => {
                TicketCommand::ChangeStatus { status }
            }
            TicketRequest::ChangePriority(ChangePriority { priority }) => {
                TicketCommand::ChangePriority { priority }
            }
            TicketRequest::Escalate(EscalateTicket { to, level, reason }) => {
                let level = std::num::NonZeroU8::new(level).ok_or_else(|| {
                    Problem::new(ProblemKind::InvalidBody, "level: from 1").with_code("level")
                })?;
                TicketCommand::Escalate { to, level, reason }
            }
            TicketRequest::Reopen(Reason { reason }) => TicketCommand::Reopen { reason },
        }))
    }
}

/// Executes `command` against aggregate `id` of type `A` for the caller, with the request's
/// `If-Match` (required when `needs_if_match`) and `Idempotency-Key`.
pub(crate) async fn execute<A>(
    app: &App<impl Backend>,
    principal: &Principal,
    headers: &HeaderMap,
    id: Uuid,
    command: A::Command,
    needs_if_match: bool,
) -> Response
where
    A: Aggregate + Send + Sync + 'static,
    A::Command: Serialize + Clone,
{
    execute_all_from::<A>(
        app,
        principal,
        headers,
        id,
        vec![command],
        needs_if_match,
        None,
    )
    .await
}

/// Custom field values as a request sends them: field key → value (`null` clears).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomFieldValues {
    /// The values, by field key, as the entity's schema (`GET /v1/custom-fields/{entity}`)
    /// describes them: text and dates as strings, numbers as numbers or exact strings, money
    /// as `{"amount": "12.50", "currency": "EUR"}`, booleans, an option's key, an array of
    /// option keys, a record's id. `null` clears a field.
    #[schema(value_type = Object)]
    pub values: Map<String, Value>,
}

/// `command` (if any) and then the custom field `changes` (if any, decided under the tenant's
/// current schema of `entity`, `wrap`ped in the aggregate's command), executed as one
/// decision: a create whose custom fields break a rule creates nothing.
#[allow(
    clippy::too_many_arguments,
    reason = "execute_all_from's, plus what custom fields need"
)]
pub(crate) async fn execute_with_custom<A>(
    app: &App<impl Backend>,
    principal: &Principal,
    headers: &HeaderMap,
    id: Uuid,
    (command, changes): (Option<A::Command>, Option<Map<String, Value>>),
    (entity, wrap): (EntityKind, fn(CustomFieldsUpdate) -> A::Command),
    needs_if_match: bool,
    source: Option<Source>,
) -> Response
where
    A: Aggregate + Send + Sync + 'static,
    A::Command: Serialize + Clone,
{
    let mut commands: Vec<A::Command> = command.into_iter().collect();
    if let Some(changes) = changes {
        match crate::custom_fields::update_under_current(
            &app.service,
            &principal.tenant,
            entity,
            changes,
        )
        .await
        {
            Ok(update) => commands.push(wrap(update)),
            Err(error) => return Problem::of_command(&error).into_response(),
        }
    }
    execute_all_from::<A>(
        app,
        principal,
        headers,
        id,
        commands,
        needs_if_match,
        source,
    )
    .await
}

/// [`execute`] for several commands decided as one (see
/// [`CommandService::execute_all`](crate::CommandService::execute_all)), the events' metadata
/// naming `source`: the system the facts come from and the time it says they happened (their
/// business time, which `crm audit replay --business-time` reads).
pub(crate) async fn execute_all_from<A>(
    app: &App<impl Backend>,
    principal: &Principal,
    headers: &HeaderMap,
    id: Uuid,
    commands: Vec<A::Command>,
    needs_if_match: bool,
    source: Option<Source>,
) -> Response
where
    A: Aggregate + Send + Sync + 'static,
    A::Command: Serialize + Clone,
{
    let expected = match if_match(headers) {
        Ok(expected) => expected,
        Err(problem) => return problem.into_response(),
    };
    let key = match idempotency_key(headers) {
        Ok(key) => key,
        Err(problem) => return problem.into_response(),
    };
    if needs_if_match && expected.is_none() {
        return Problem::new(
            ProblemKind::PreconditionRequired,
            "send If-Match with the version this change was decided on (the record's ETag)",
        )
        .into_response();
    }
    let mut meta = CommandMeta::by(principal.actor.clone());
    if let Some(source) = source {
        meta = meta.with_source(source);
    }
    if let Some(key) = key {
        // Keys are the caller's: two tokens never share one.
        meta = meta.with_idempotency_key(format!("http/{}/{key}", principal.key_prefix()));
    }
    if let Some(version) = expected {
        meta = meta.with_expected_version(version);
    }
    match app
        .service
        .execute_all::<A>(&principal.tenant, id, commands, &meta)
        .await
    {
        Ok(executed) => {
            app.metrics.events_appended(executed.events.len());
            let created =
                executed.version == executed.events.len() as u64 && !executed.events.is_empty();
            let body = CommandResponse {
                id,
                version: executed.version,
                events: executed
                    .events
                    .iter()
                    .map(|event| event.event_type().to_owned())
                    .collect(),
                replayed: executed.replayed,
            };
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let mut response = (status, axum::Json(body)).into_response();
            if let Ok(value) = HeaderValue::from_str(&etag(executed.version)) {
                response.headers_mut().insert(header::ETAG, value);
            }
            response
        }
        Err(error) => Problem::of_command(&error).into_response(),
    }
}

/// A request's domain command (none for `set_custom_fields`), the custom field changes it
/// brings, and whether it needs `If-Match`.
pub(crate) type Planned<C> = (Option<C>, Option<Map<String, Value>>, bool);

pub(crate) fn lead_command(request: LeadRequest) -> Planned<LeadCommand> {
    let needs = request.needs_if_match();
    let custom = match &request {
        LeadRequest::SetCustomFields(values) => Some(values.values.clone()),
        _ => None,
    };
    (request.into_command(), custom, needs)
}

pub(crate) fn contact_command(
    mut request: ContactRequest,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(Planned<ContactCommand>, Option<Source>), Problem> {
    let needs = request.needs_if_match();
    let source = request.source();
    let custom = request.take_custom_fields();
    Ok(((request.into_command(id, now)?, custom, needs), source))
}

pub(crate) fn opportunity_command(
    mut request: OpportunityRequest,
    id: Uuid,
    pipelines: &[Pipeline],
) -> Result<Planned<OpportunityCommand>, Problem> {
    let needs = request.needs_if_match();
    let custom = request.take_custom_fields();
    Ok((request.into_command(id, pipelines)?, custom, needs))
}

pub(crate) fn ticket_command(
    mut request: TicketRequest,
    id: Uuid,
) -> Result<Planned<TicketCommand>, Problem> {
    let needs = request.needs_if_match();
    let custom = request.take_custom_fields();
    Ok((request.into_command(id)?, custom, needs))
}
