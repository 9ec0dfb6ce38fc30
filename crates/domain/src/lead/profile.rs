//! What a lead says about the prospect: the raw submission, its validation, and the
//! normalized profile that keeps raw and normalized values side by side.

use serde::{Deserialize, Serialize};

use crate::contact::{ConsentChannel, ConsentProof, ConsentPurpose, ConsentScope, ConsentStatus};

use crate::identity::linkage::{AddressParts, PersonRecord, PostalAddress};
use crate::identity::{
    CompanyDomain, CompanyName, CountryCode, EmailAddress, IdentityError, PersonName, PhoneNumber,
};
use crate::routing::LeadAttributes;
use crate::scoring::LeadFit;

/// The fields of a submission, for naming what is wrong with one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadField {
    /// The person's name.
    Name,
    /// The email address.
    Email,
    /// The phone number.
    Phone,
    /// The company's name.
    Company,
    /// The company's web domain.
    CompanyDomain,
    /// The country.
    Country,
}

/// One validation problem of a quarantined lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineReason {
    /// The field at fault, or `None` for a problem of the whole submission.
    pub field: Option<LeadField>,
    /// What is wrong, in words an operator can act on.
    pub problem: String,
}

impl QuarantineReason {
    fn from_identity(field: LeadField, error: &IdentityError) -> Self {
        Self {
            field: Some(field),
            problem: error.to_string(),
        }
    }
}

/// A lead's data as submitted, mapped from the source's payload, not yet validated.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeadSubmission {
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Phone number, in any format.
    pub phone: Option<String>,
    /// Company name.
    pub company: Option<String>,
    /// Company web site or domain.
    pub company_domain: Option<String>,
    /// Country (ISO 3166-1 alpha-2).
    pub country: Option<String>,
    /// Region or state.
    pub region: Option<String>,
    /// Postal code.
    pub postcode: Option<String>,
    /// Industry.
    pub industry: Option<String>,
    /// Number of employees.
    pub company_size: Option<u32>,
    /// Job title.
    pub job_title: Option<String>,
    /// What the form says the person consented to, or refused (a newsletter box ticked, a
    /// "no calls" choice): carried from the capture to every use of the lead.
    #[serde(
        default,
        deserialize_with = "crate::personal::erasable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub consents: Vec<SubmittedConsent>,
    /// Consent statements the payload held that could not be read, each with why: the lead
    /// is quarantined with them, since a refusal must never be lost.
    #[serde(
        default,
        deserialize_with = "crate::personal::erasable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub unreadable_consents: Vec<String>,
}

/// A consent statement a form carried: a channel, a purpose (marketing when the form names
/// none), granted or withdrawn, and its proof (a grant needs some: the form's id, the
/// wording's version, the IP address it came from…).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmittedConsent {
    /// The channel.
    pub channel: ConsentChannel,
    /// The purpose.
    #[serde(default, skip_serializing_if = "ConsentPurpose::is_marketing")]
    pub purpose: ConsentPurpose,
    /// Granted or withdrawn.
    pub status: ConsentStatus,
    /// The evidence.
    #[serde(default)]
    pub proof: ConsentProof,
}

impl SubmittedConsent {
    /// The channel and purpose it is about.
    pub fn scope(&self) -> ConsentScope {
        ConsentScope::new(self.channel, self.purpose)
    }
}

/// Campaign and UTM attribution of a lead.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Campaign {
    /// The campaign's id in the marketing tool.
    pub campaign_id: Option<String>,
    /// `utm_source`.
    pub utm_source: Option<String>,
    /// `utm_medium`.
    pub utm_medium: Option<String>,
    /// `utm_campaign`.
    pub utm_campaign: Option<String>,
    /// `utm_term`.
    pub utm_term: Option<String>,
    /// `utm_content`.
    pub utm_content: Option<String>,
}

/// A captured lead's data: validated, with raw and normalized values kept together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadProfile {
    /// The person's full name.
    pub name: Option<PersonName>,
    /// Email address.
    pub email: Option<EmailAddress>,
    /// Phone number in E.164.
    pub phone: Option<PhoneNumber>,
    /// Company name.
    pub company: Option<CompanyName>,
    /// Company domain.
    pub company_domain: Option<CompanyDomain>,
    /// Country.
    pub country: Option<CountryCode>,
    /// Region or state, trimmed.
    pub region: Option<String>,
    /// Postal code, trimmed and upper-cased.
    pub postcode: Option<String>,
    /// Industry, trimmed.
    pub industry: Option<String>,
    /// Number of employees.
    pub company_size: Option<u32>,
    /// Job title, trimmed.
    pub job_title: Option<String>,
    /// The consent statements the form carried, one per channel and purpose (the one in
    /// effect when the form carried several for one), each grant with its proof.
    #[serde(
        default,
        deserialize_with = "crate::personal::erasable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub consents: Vec<SubmittedConsent>,
}

impl LeadProfile {
    /// The person as record linkage sees them: the name split into given names and the
    /// family name (its last word), the email, the phone, the company, and the postcode,
    /// region and country of the address.
    pub fn person_record(&self) -> PersonRecord {
        let (given_name, family_name) = match &self.name {
            Some(name) => {
                let words: Vec<&str> = name.words().collect();
                match words.split_last() {
                    Some((family, given)) if !given.is_empty() => {
                        (Some(given.join(" ")), Some((*family).to_owned()))
                    }
                    Some((family, _)) => (None, Some((*family).to_owned())),
                    None => (None, None),
                }
            }
            None => (None, None),
        };
        let mut record = PersonRecord {
            given_name,
            family_name,
            address: PostalAddress::normalize(
                &AddressParts {
                    postcode: self.postcode.as_deref(),
                    region: self.region.as_deref(),
                    ..AddressParts::default()
                },
                self.country,
            ),
            emails: self
                .email
                .iter()
                .map(|e| e.normalized().to_owned())
                .collect(),
            phones: self.phone.iter().map(|p| p.e164().to_owned()).collect(),
            company: self.company.as_ref().map(|c| c.normalized().to_owned()),
            ..PersonRecord::default()
        };
        record.refresh_sound_codes();
        record
    }
}

/// Keeps a valid value, or records why it is invalid; absent stays absent.
fn checked<T>(
    reasons: &mut Vec<QuarantineReason>,
    field: LeadField,
    result: Option<Result<T, IdentityError>>,
) -> Option<T> {
    match result? {
        Ok(value) => Some(value),
        Err(error) => {
            reasons.push(QuarantineReason::from_identity(field, &error));
            None
        }
    }
}

fn present(value: Option<&String>) -> Option<&str> {
    value.map(|v| v.trim()).filter(|v| !v.is_empty())
}

impl LeadSubmission {
    /// Validates and normalizes the submission. Every problem is reported, not just the first,
    /// so one fix can clear a quarantined lead. A lead needs a way to reach the person: an
    /// email address or a phone number.
    pub fn validate(
        &self,
        default_region: CountryCode,
    ) -> Result<LeadProfile, Vec<QuarantineReason>> {
        let mut reasons = Vec::new();
        let mut check = |field, result| checked(&mut reasons, field, result);

        let country = check(
            LeadField::Country,
            present(self.country.as_ref()).map(CountryCode::new),
        );
        let full_name = [
            present(self.first_name.as_ref()),
            present(self.last_name.as_ref()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        let name = checked(
            &mut reasons,
            LeadField::Name,
            (!full_name.is_empty()).then(|| PersonName::new(&full_name)),
        );
        let email = checked(
            &mut reasons,
            LeadField::Email,
            present(self.email.as_ref()).map(EmailAddress::parse),
        );
        let region = country.unwrap_or(default_region);
        let phone = checked(
            &mut reasons,
            LeadField::Phone,
            present(self.phone.as_ref()).map(|p| PhoneNumber::parse(p, region)),
        );
        let company = checked(
            &mut reasons,
            LeadField::Company,
            present(self.company.as_ref()).map(CompanyName::new),
        );
        let company_domain = checked(
            &mut reasons,
            LeadField::CompanyDomain,
            present(self.company_domain.as_ref()).map(CompanyDomain::parse),
        );

        let has_email_or_phone =
            present(self.email.as_ref()).is_some() || present(self.phone.as_ref()).is_some();
        if !has_email_or_phone {
            reasons.push(QuarantineReason {
                field: None,
                problem:
                    "neither an email address nor a phone number: the prospect cannot be reached"
                        .into(),
            });
        }
        for problem in &self.unreadable_consents {
            reasons.push(QuarantineReason {
                field: None,
                problem: format!("a consent statement cannot be read: {problem}"),
            });
        }
        let mut consents: Vec<SubmittedConsent> = Vec::new();
        for statement in &self.consents {
            if statement.status == ConsentStatus::Granted && statement.proof.is_empty() {
                reasons.push(QuarantineReason {
                    field: None,
                    problem: format!(
                        "consent for {} is granted without proof (a form id, the wording's \
                         version, an IP address, a double opt-in token or a recording)",
                        statement.scope()
                    ),
                });
                continue;
            }
            // Several statements for one scope in one form: a withdrawal wins.
            match consents
                .iter_mut()
                .find(|kept| kept.scope() == statement.scope())
            {
                Some(kept) if kept.status == ConsentStatus::Granted => *kept = statement.clone(),
                Some(_) => {}
                None => consents.push(statement.clone()),
            }
        }
        if !reasons.is_empty() {
            return Err(reasons);
        }
        Ok(LeadProfile {
            name,
            email,
            phone,
            company,
            company_domain,
            country,
            region: present(self.region.as_ref()).map(str::to_owned),
            postcode: present(self.postcode.as_ref()).map(str::to_uppercase),
            industry: present(self.industry.as_ref()).map(str::to_owned),
            company_size: self.company_size,
            job_title: present(self.job_title.as_ref()).map(str::to_owned),
            consents,
        })
    }
}

impl From<&LeadProfile> for LeadAttributes {
    /// What routing looks at: where the lead is and what kind of company it is.
    fn from(profile: &LeadProfile) -> Self {
        Self {
            country: profile.country,
            region: profile.region.clone(),
            postcode: profile.postcode.clone(),
            industry: profile.industry.clone(),
            company_size: profile.company_size,
        }
    }
}

impl From<&LeadProfile> for LeadFit {
    /// What fit scoring looks at: who the lead is.
    fn from(profile: &LeadProfile) -> Self {
        Self {
            country: profile.country,
            industry: profile.industry.clone(),
            company_size: profile.company_size,
            job_title: profile.job_title.clone(),
            email: profile.email.clone(),
        }
    }
}
