//! From a marketing tool's payload to the lead's submission: the common field names of web
//! forms and marketing tools, looked up at the top level of the payload and in a nested
//! `"fields"`, `"properties"` or `"lead"` object.

use crm_domain::lead::{Campaign, LeadSubmission, SubmittedConsent};
use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Where the fields may sit: the payload itself, or one of these members of it.
const CONTAINERS: [&str; 4] = ["", "fields", "properties", "lead"];

/// The names each field goes by, first match wins.
const FIRST_NAME: &[&str] = &["first_name", "firstName", "firstname", "given_name"];
const LAST_NAME: &[&str] = &[
    "last_name",
    "lastName",
    "lastname",
    "family_name",
    "surname",
];
const EMAIL: &[&str] = &["email", "email_address", "emailAddress"];
const PHONE: &[&str] = &[
    "phone",
    "phone_number",
    "phoneNumber",
    "mobile",
    "mobilephone",
];
const COMPANY: &[&str] = &["company", "company_name", "companyName", "organization"];
const DOMAIN: &[&str] = &["company_domain", "website", "domain", "url"];
const COUNTRY: &[&str] = &["country", "country_code", "countryCode"];
const REGION: &[&str] = &["region", "state", "province"];
const POSTCODE: &[&str] = &["postcode", "zip", "postal_code", "postalCode", "zipcode"];
const INDUSTRY: &[&str] = &["industry"];
const SIZE: &[&str] = &[
    "company_size",
    "employees",
    "numberofemployees",
    "employee_count",
];
const JOB_TITLE: &[&str] = &["job_title", "jobTitle", "jobtitle", "title"];

/// The payload and those of its containers it has, in lookup order.
fn scopes(payload: &Value) -> impl Iterator<Item = &Value> {
    CONTAINERS.iter().filter_map(move |container| {
        if container.is_empty() {
            Some(payload)
        } else {
            payload.get(container)
        }
    })
}

/// The first non-blank text under one of `names`; numbers count as their text.
fn text(payload: &Value, names: &[&str]) -> Option<String> {
    scopes(payload).find_map(|scope| {
        names.iter().find_map(|name| match scope.get(name)? {
            Value::String(text) if !text.trim().is_empty() => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        })
    })
}

/// The lead's submission read from `payload`; fields it does not name stay empty (and stay in
/// the raw payload the lead keeps).
pub fn submission_from(payload: &Value) -> LeadSubmission {
    let (consents, unreadable_consents) = consents_from(payload);
    LeadSubmission {
        first_name: text(payload, FIRST_NAME),
        last_name: text(payload, LAST_NAME),
        email: text(payload, EMAIL),
        phone: text(payload, PHONE),
        company: text(payload, COMPANY),
        company_domain: text(payload, DOMAIN),
        country: text(payload, COUNTRY),
        region: text(payload, REGION),
        postcode: text(payload, POSTCODE),
        industry: text(payload, INDUSTRY),
        company_size: text(payload, SIZE).and_then(|size| size.trim().parse().ok()),
        job_title: text(payload, JOB_TITLE),
        consents,
        unreadable_consents,
    }
}

/// The first non-null member `name` of the payload or of one of its containers.
fn member<'a>(payload: &'a Value, name: &str) -> Option<&'a Value> {
    scopes(payload).find_map(|scope| scope.get(name).filter(|value| !value.is_null()))
}

/// The consent statements under `consents` (wherever the fields sit): a list of
/// `{channel, purpose?, status, proof?}`; an item that does not read is named with why (the
/// lead is quarantined with it, and its payload keeps it).
fn consents_from(payload: &Value) -> (Vec<SubmittedConsent>, Vec<String>) {
    let Some(found) = member(payload, "consents") else {
        return (Vec::new(), Vec::new());
    };
    let Value::Array(items) = found else {
        return (
            Vec::new(),
            vec!["`consents` is not a list of {channel, purpose, status, proof}".to_owned()],
        );
    };
    let mut consents = Vec::new();
    let mut unreadable = Vec::new();
    for (at, item) in items.iter().enumerate() {
        match serde_json::from_value::<SubmittedConsent>(item.clone()) {
            Ok(consent) => consents.push(consent),
            Err(error) => unreadable.push(format!("consents[{at}]: {error}")),
        }
    }
    (consents, unreadable)
}

/// The custom field values a form sends, by `mapping` (the form's field name → the lead's
/// custom field key): each form field looked up where the others are (top level, then
/// `fields`, `properties`, `lead`), first match wins; absent and `null` fields give no value.
/// The values are as sent: the lead's schema reads them, and refuses what does not fit.
pub fn custom_values(payload: &Value, mapping: &BTreeMap<String, String>) -> Map<String, Value> {
    let mut values = Map::new();
    for (form_field, key) in mapping {
        if let Some(value) = member(payload, form_field) {
            values.insert(key.clone(), value.clone());
        }
    }
    values
}

/// The campaign attribution in `payload` (`utm_*` and `campaign_id`).
pub fn campaign_from(payload: &Value) -> Campaign {
    Campaign {
        campaign_id: text(payload, &["campaign_id", "campaignId"]),
        utm_source: text(payload, &["utm_source"]),
        utm_medium: text(payload, &["utm_medium"]),
        utm_campaign: text(payload, &["utm_campaign"]),
        utm_term: text(payload, &["utm_term"]),
        utm_content: text(payload, &["utm_content"]),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_form_s_consent_statements_are_read_and_the_unreadable_ones_named() {
        let payload = json!({
            "email": "ada@example.com",
            "fields": {
                "consents": [
                    { "channel": "email", "status": "granted", "proof": { "form_id": "footer-v3" } },
                    { "channel": "phone", "purpose": "sales", "status": "withdrawn" },
                    { "channel": "fax", "status": "granted" },
                ],
            },
        });
        let submission = submission_from(&payload);
        assert_eq!(submission.consents.len(), 2);
        assert_eq!(submission.consents[1].scope().to_string(), "phone:sales");
        assert_eq!(submission.unreadable_consents.len(), 1);
        assert!(
            submission.unreadable_consents[0].starts_with("consents[2]"),
            "{:?}",
            submission.unreadable_consents
        );
        let not_a_list = submission_from(&json!({ "consents": "yes" }));
        assert!(not_a_list.consents.is_empty());
        assert_eq!(not_a_list.unreadable_consents.len(), 1);
        assert!(
            submission_from(&json!({ "email": "x@y.z" }))
                .unreadable_consents
                .is_empty()
        );
    }

    #[test]
    fn mapped_form_fields_become_custom_values_wherever_they_sit() {
        let payload = json!({
            "budget": "12000",
            "fields": { "seats": 40, "budget": "ignored: the top level comes first" },
            "properties": { "newsletter": true, "notes": null },
        });
        let mapping: BTreeMap<String, String> = [
            ("budget", "budget_eur"),
            ("seats", "seats"),
            ("newsletter", "opted_in"),
            ("notes", "notes"),
            ("missing", "missing"),
        ]
        .into_iter()
        .map(|(form, key)| (form.to_owned(), key.to_owned()))
        .collect();
        assert_eq!(
            Value::Object(custom_values(&payload, &mapping)),
            json!({"budget_eur": "12000", "seats": 40, "opted_in": true})
        );
    }

    #[test]
    fn common_names_are_found_at_the_top_and_in_nested_fields() {
        let payload = json!({
            "firstName": "Ada",
            "fields": { "last_name": "Lovelace", "email": "ada@example.com", "zip": 12345 },
            "properties": { "company": "Analytical Engines", "employees": "250" },
            "utm_source": "newsletter",
        });
        let submission = submission_from(&payload);
        assert_eq!(submission.first_name.as_deref(), Some("Ada"));
        assert_eq!(submission.last_name.as_deref(), Some("Lovelace"));
        assert_eq!(submission.email.as_deref(), Some("ada@example.com"));
        assert_eq!(submission.postcode.as_deref(), Some("12345"));
        assert_eq!(submission.company.as_deref(), Some("Analytical Engines"));
        assert_eq!(submission.company_size, Some(250));
        assert_eq!(
            campaign_from(&payload).utm_source.as_deref(),
            Some("newsletter")
        );
    }

    #[test]
    fn blank_and_odd_values_are_absent() {
        let payload = json!({ "email": "  ", "phone": ["+44"], "company_size": "many" });
        let submission = submission_from(&payload);
        assert_eq!(submission.email, None);
        assert_eq!(submission.phone, None);
        assert_eq!(submission.company_size, None);
        assert_eq!(
            submission_from(&json!("not an object")),
            LeadSubmission::default()
        );
    }
}
