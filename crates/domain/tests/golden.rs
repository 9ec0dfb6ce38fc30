//! The golden corpus: one stored form of every event variant of every aggregate, exactly as
//! `crm_domain::encode` wrote it, in `tests/golden/<aggregate>.json`.
//!
//! Stored events are never rewritten, so the code must read every form it ever wrote. This
//! test decodes each golden entry with the current code and re-encodes it: a renamed field or
//! variant, a changed serde attribute, a new required field or a type that serializes
//! differently makes the JSON differ (or stop decoding) and fails here, before an event store
//! full of such events stops loading. It also fails when an event enum has a variant without a
//! golden entry: the variant names are read from the enum's own `Deserialize` (see
//! [`serde_variants`]), so a new variant cannot be forgotten.
//!
//! # When a payload changes incompatibly
//! 1. Bump the variant's `schema_version()` in its `DomainEvent` impl.
//! 2. Keep the old golden entry, unchanged, under the key `<type>.v<n>` (`n` its old version),
//!    and add the new form under `<type>` (`UPDATE_GOLDEN=1` writes it, see below).
//! 3. Register an upcaster from version `n` in the event store (crm-eventstore's `Upcasters`:
//!    `.current("<type>", n + 1).step("<type>", n, …)`), so stored payloads are carried forward
//!    on every read and replay; its tests should read the `.v<n>` entries through it.
//!
//! Here a `<type>.v<n>` entry is checked to be older than the current version and to be
//! refused by `crm_domain::decode` (only an upcaster may turn it into a current event).
//! Any other change that makes this test fail changes what is stored, too: treat it the same
//! way rather than editing an entry.
//!
//! # Adding entries
//! `UPDATE_GOLDEN=1 cargo test -p crm-domain --test golden` writes the representative below
//! for every variant that has no entry yet and leaves existing entries untouched (it never
//! rewrites history). Without the variable the test only reads.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU8;
use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use crm_domain::account::matching::{AccountAssessment, CompanyAgreement};
use crm_domain::account::{
    AccountAddress, AccountEvent, AccountHierarchyEvent, AddressKind, ContactRole,
};
use crm_domain::activity::{
    ActivityChange, ActivityEvent, ActivityKind, ActivityOutcome, CancellationReason, Direction,
    Participant,
};
use crm_domain::contact::{
    ChannelConsent, ConsentChannel, ConsentDecision, ConsentProof, ConsentPurpose, ConsentRestore,
    ConsentScope, ConsentStatus, ContactEvent, ContactField, DecisionBasis, Detail, ErasureGround,
    ErasureRequest, ErasureRequester, ExternalId, FieldDecision, FieldRestore, LifecycleStage,
    MergeDecisions, MergePolicy, MergeSide, Provenance, Restoration, Sourced, StreetAddress,
};
use crm_domain::custom_fields::{
    CustomFieldSchema, CustomFieldSettingsEvent, CustomFieldsSet, SchemaDraft,
};
use crm_domain::forecast::{AdjustmentRole, ForecastEvent, Period};
use crm_domain::identity::{
    CompanyDomain, CompanyName, CountryCode, EmailAddress, MatchAssessment, MatchReason,
    MatchVerdict, NameAgreement, PersonName, PhoneNumber, Score,
};
use crm_domain::lead::{
    Campaign, DisqualificationReason, LeadEvent, LeadField, LeadSource, LeadSubmission,
    QuarantineReason, SubmittedConsent,
};
use crm_domain::opportunity::{
    ForecastCategory, InvalidatedApproval, LossReason, OpportunityEvent, Pipeline, StageId,
};
use crm_domain::roster::{QueueExitReason, RepEvent, TeamEvent, TerritoryMapEvent, WebhookUrl};
use crm_domain::routing::{
    AssignmentStrategy, CandidateVerdict, CompanySizeRange, RoutingDecision, RoutingOutcome,
    RuleMatch, SkipReason, Territories, TerritoryConditions, TerritoryRule, Verdict,
};
use crm_domain::scoring::{LeadScore, ScoreContribution, ScoreDimension};
use crm_domain::task::TaskEvent;
use crm_domain::ticket::{
    EscalationTarget, ReopenCause, StatusChangeCause, TicketEvent, TicketStatus,
};
use crm_domain::{
    AccountId, ActivityId, Actor, Channel, CompanyId, ContactId, Currency, DomainEvent,
    EncodedEvent, ForecastId, LeadId, Money, OpportunityId, Priority, Probability, RecordRef,
    TaskId, TeamId, TicketId, UserId, decode, encode,
};
use serde::de::DeserializeOwned;
use serde::de::value::MapDeserializer;
use serde_json::{Value, json};
use uuid::Uuid;

#[test]
fn every_stored_lead_event_reads_back_as_written() {
    check_corpus("lead", lead_events);
}

#[test]
fn every_stored_contact_event_reads_back_as_written() {
    check_corpus("contact", contact_events);
}

#[test]
fn every_stored_opportunity_event_reads_back_as_written() {
    check_corpus("opportunity", opportunity_events);
}

#[test]
fn every_stored_ticket_event_reads_back_as_written() {
    check_corpus("ticket", ticket_events);
}

#[test]
fn every_stored_forecast_event_reads_back_as_written() {
    check_corpus("forecast", forecast_events);
}

#[test]
fn every_stored_rep_event_reads_back_as_written() {
    check_corpus("rep", rep_events);
}

#[test]
fn every_stored_team_event_reads_back_as_written() {
    check_corpus("team", team_events);
}

#[test]
fn every_stored_territory_map_event_reads_back_as_written() {
    check_corpus("territories", territory_map_events);
}

#[test]
fn every_stored_account_event_reads_back_as_written() {
    check_corpus("account", account_events);
}

#[test]
fn every_stored_account_hierarchy_event_reads_back_as_written() {
    check_corpus("account_hierarchy", account_hierarchy_events);
}

#[test]
fn every_stored_activity_event_reads_back_as_written() {
    check_corpus("activity", activity_events);
}

#[test]
fn every_stored_task_event_reads_back_as_written() {
    check_corpus("task", task_events);
}

#[test]
fn every_stored_custom_field_settings_event_reads_back_as_written() {
    check_corpus("custom_fields", custom_field_settings_events);
}

#[test]
fn every_event_reads_back_once_its_personal_data_is_erased() {
    check_erasure(lead_events());
    check_erasure(contact_events());
    check_erasure(opportunity_events());
    check_erasure(ticket_events());
    check_erasure(forecast_events());
    check_erasure(rep_events());
    check_erasure(team_events());
    check_erasure(territory_map_events());
    check_erasure(account_events());
    check_erasure(account_hierarchy_events());
    check_erasure(activity_events());
    check_erasure(task_events());
}

/// Each personal field a representative declares is in its payload; with all of them
/// replaced by the erased marker the payload still decodes, and the event read back holds
/// none of the erased values.
fn check_erasure<E: DomainEvent>(representatives: Vec<E>) {
    let erased_marker = json!({"$erased": true});
    for event in representatives {
        let encoded = encode(&event).expect("a representative encodes");
        let mut payload = encoded.payload.clone();
        let mut erased_values = Vec::new();
        for pointer in event.personal_fields() {
            let slot = payload.pointer_mut(pointer).unwrap_or_else(|| {
                panic!(
                    "{}: personal field {pointer} is not in the payload",
                    encoded.event_type
                )
            });
            erased_values.push(std::mem::replace(slot, erased_marker.clone()));
        }
        let read: E =
            decode(encoded.event_type, encoded.schema_version, payload).unwrap_or_else(|error| {
                panic!(
                    "{} does not decode once erased: {error}",
                    encoded.event_type
                )
            });
        let read_back = encode(&read)
            .expect("a decoded event encodes")
            .payload
            .to_string();
        for value in erased_values {
            // Short texts, snake_case tags (a reason's field name) and ids are not personal data.
            let telling = |text: &String| {
                text.len() >= 3
                    && Uuid::parse_str(text).is_err()
                    && !text
                        .chars()
                        .all(|character| character.is_ascii_lowercase() || character == '_')
            };
            for text in strings_in(&value).into_iter().filter(telling) {
                assert!(
                    !read_back.contains(&text),
                    "{}: {text:?} survived its erasure: {read_back}",
                    encoded.event_type
                );
            }
        }
    }
}

/// Every string (and object key) inside `value`.
fn strings_in(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) => items.iter().flat_map(strings_in).collect(),
        Value::Object(members) => members.values().flat_map(strings_in).collect(),
        Value::Null | Value::Bool(_) | Value::Number(_) => Vec::new(),
    }
}

#[test]
fn the_variant_probe_sees_every_variant_of_an_enum() {
    // The probe must list variants by their stored names, and all of them; checked here on a
    // small enum with a rename so a serde upgrade that broke the probe cannot go unnoticed.
    #[derive(serde::Deserialize)]
    #[serde(tag = "type", content = "data")]
    #[allow(dead_code, reason = "only deserialized, to be probed")]
    enum Probed {
        #[serde(rename = "ProbedFirst")]
        First {
            x: u8,
        },
        Second,
    }
    assert_eq!(serde_variants::<Probed>(), ["ProbedFirst", "Second"]);
}

// ---------------------------------------------------------------------------------------------
// The check.

/// An aggregate's corpus: entry name (`<type>` or `<type>.v<n>`) to stored form.
type Corpus = BTreeMap<String, Value>;

fn corpus_path(aggregate: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
        .join(format!("{aggregate}.json"))
}

fn read_corpus(aggregate: &str) -> Corpus {
    let path = corpus_path(aggregate);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not a JSON object: {error}", path.display()))
}

/// The stored form `{type, schema_version, payload}` of an encoded event.
fn stored_form(encoded: &EncodedEvent) -> Value {
    json!({
        "type": encoded.event_type,
        "schema_version": encoded.schema_version,
        "payload": encoded.payload,
    })
}

/// An entry's parts; panics, naming the entry, when its shape is not a stored form.
fn parts<'a>(name: &str, entry: &'a Value) -> (&'a str, u16, &'a Value) {
    let object = entry
        .as_object()
        .unwrap_or_else(|| panic!("{name}: not an object"));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["payload", "schema_version", "type"],
        "{name}: a stored form has exactly these members"
    );
    let event_type = entry["type"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: `type` is not a string"));
    let version = entry["schema_version"]
        .as_u64()
        .and_then(|v| u16::try_from(v).ok())
        .unwrap_or_else(|| panic!("{name}: `schema_version` is not a u16"));
    (event_type, version, &entry["payload"])
}

/// `"LeadReceived"` → (`"LeadReceived"`, `None`); `"LeadReceived.v1"` → (`"LeadReceived"`, `Some(1)`).
fn split_name(name: &str) -> (&str, Option<u16>) {
    match name.rsplit_once(".v") {
        Some((event_type, version)) => {
            let version = version
                .parse()
                .unwrap_or_else(|_| panic!("{name}: an old entry is named `<type>.v<version>`"));
            (event_type, Some(version))
        }
        None => (name, None),
    }
}

fn check_corpus<E: DomainEvent>(aggregate: &str, representatives: fn() -> Vec<E>) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        add_missing_entries(aggregate, &representatives());
    }
    let corpus = read_corpus(aggregate);

    let variants = serde_variants::<E>();
    let missing: Vec<&str> = variants
        .iter()
        .copied()
        .filter(|variant| !corpus.contains_key(*variant))
        .collect();
    assert!(
        missing.is_empty(),
        "{aggregate}: variants without a golden entry: {missing:?} (run with UPDATE_GOLDEN=1 to add them)"
    );

    for (name, entry) in &corpus {
        let (entry_type, old_version) = split_name(name);
        assert!(
            variants.contains(&entry_type),
            "{aggregate}: entry {name} names no variant of the event enum"
        );
        let (event_type, version, payload) = parts(name, entry);
        assert_eq!(
            event_type, entry_type,
            "{name}: `type` differs from the entry's name"
        );
        match old_version {
            None => {
                let event: E = decode(event_type, version, payload.clone())
                    .unwrap_or_else(|error| panic!("{name} no longer decodes: {error}"));
                let encoded = encode(&event)
                    .unwrap_or_else(|error| panic!("{name} does not encode: {error}"));
                assert_eq!(
                    &stored_form(&encoded),
                    entry,
                    "{name} re-encodes differently: the stored format changed (see the top of golden.rs)"
                );
            }
            Some(old) => {
                assert_eq!(
                    version, old,
                    "{name}: `schema_version` differs from the entry's name"
                );
                let (_, current, _) = parts(entry_type, &corpus[entry_type]);
                assert!(
                    old < current,
                    "{name}: an old version must be older than the current {current}"
                );
                assert!(
                    decode::<E>(event_type, version, payload.clone()).is_err(),
                    "{name}: the current code reads an old version as if it were current"
                );
            }
        }
    }
}

/// Writes a stored form for every representative whose type has no entry; existing entries
/// are kept as they are.
fn add_missing_entries<E: DomainEvent>(aggregate: &str, representatives: &[E]) {
    let path = corpus_path(aggregate);
    let mut corpus = if path.exists() {
        read_corpus(aggregate)
    } else {
        Corpus::new()
    };
    for event in representatives {
        let encoded = encode(event).expect("a representative encodes");
        corpus
            .entry(encoded.event_type.to_owned())
            .or_insert_with(|| stored_form(&encoded));
    }
    let mut text = serde_json::to_string_pretty(&corpus).expect("a corpus serializes");
    text.push('\n');
    std::fs::create_dir_all(path.parent().expect("the corpus has a directory"))
        .expect("the golden directory can be created");
    std::fs::write(&path, text).expect("the corpus can be written");
}

/// The stored names of every variant of an adjacently tagged event enum, as its derived
/// `Deserialize` knows them: the list it reports when asked for a variant it does not have.
fn serde_variants<E: DeserializeOwned>() -> &'static [&'static str] {
    let probe =
        MapDeserializer::<_, VariantProbe>::new(std::iter::once(("type", "\u{0}not a variant")));
    match E::deserialize(probe) {
        Err(VariantProbe(Some(variants))) => variants,
        Err(VariantProbe(None)) => panic!("the probe did not reach the variant tag"),
        Ok(_) => panic!("the probe was accepted as a variant"),
    }
}

/// A deserialization error that keeps the variant list of an `unknown_variant` report.
#[derive(Debug)]
struct VariantProbe(Option<&'static [&'static str]>);

impl fmt::Display for VariantProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "variant probe: {:?}", self.0)
    }
}

impl std::error::Error for VariantProbe {}

impl serde::de::Error for VariantProbe {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Self(None)
    }

    fn unknown_variant(_: &str, expected: &'static [&'static str]) -> Self {
        Self(Some(expected))
    }
}

// ---------------------------------------------------------------------------------------------
// Representatives: one event per variant, filled so that nested enums show as many of their
// own variants as one event can hold (every skip reason, every contact field, every actor
// kind across the corpus).

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + n)
}

const ADA: u128 = 0xada;
const ALICE: UserId = UserId(Uuid::from_u128(0xa11ce));
const BOB: UserId = UserId(Uuid::from_u128(0xb0b));
const CAROL: UserId = UserId(Uuid::from_u128(0xca201));

/// Monday 2 March 2026, 09:00 UTC, plus `minutes`.
fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .expect("a valid instant")
        + TimeDelta::minutes(minutes)
}

/// An instant with sub-second digits, so the corpus pins how they are written.
fn precise_at() -> DateTime<Utc> {
    at(-3) + TimeDelta::nanoseconds(123_456_789)
}

fn user(id: UserId) -> Actor {
    Actor::User { id }
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::new("EUR").expect("EUR is a currency"))
}

fn de() -> CountryCode {
    CountryCode::new("DE").expect("DE is a country")
}

fn email(raw: &str) -> EmailAddress {
    EmailAddress::parse(raw).expect("a valid address")
}

fn phone(raw: &str) -> PhoneNumber {
    PhoneNumber::parse(raw, de()).expect("a valid number")
}

fn person(raw: &str) -> PersonName {
    PersonName::new(raw).expect("a valid name")
}

fn lead_submission() -> LeadSubmission {
    LeadSubmission {
        first_name: Some("Ada".into()),
        last_name: Some("Lovelace".into()),
        email: Some("Ada.Lovelace+crm@Example.com".into()),
        phone: Some("030 1234567".into()),
        company: Some("Analytical Engines Ltd.".into()),
        company_domain: Some("https://www.engines.example/about".into()),
        country: Some("de".into()),
        region: Some(" Berlin ".into()),
        postcode: Some("10115".into()),
        industry: Some("Software".into()),
        company_size: Some(250),
        job_title: Some("Head of Engineering".into()),
        consents: vec![
            SubmittedConsent {
                channel: ConsentChannel::Email,
                purpose: ConsentPurpose::Marketing,
                status: ConsentStatus::Granted,
                proof: ConsentProof {
                    form_id: Some("newsletter-footer-v3".into()),
                    ip_address: Some("203.0.113.7".parse().expect("an address")),
                    ..ConsentProof::default()
                },
            },
            SubmittedConsent {
                channel: ConsentChannel::Phone,
                purpose: ConsentPurpose::Sales,
                status: ConsentStatus::Withdrawn,
                proof: ConsentProof::default(),
            },
        ],
        unreadable_consents: Vec::new(),
    }
}

fn routing_decision(outcome: RoutingOutcome) -> RoutingDecision {
    let skipped = |n: u128, reason| CandidateVerdict {
        rep: UserId(id(0x100 + n)),
        verdict: Verdict::Skipped { reason },
    };
    RoutingDecision {
        rule: Some(RuleMatch {
            rule_id: "dach".into(),
            position: 2,
        }),
        team: TeamId(id(0x7ea)),
        strategy: AssignmentStrategy::WeightedRoundRobin,
        candidates: vec![
            CandidateVerdict {
                rep: ALICE,
                verdict: Verdict::Chosen,
            },
            CandidateVerdict {
                rep: BOB,
                verdict: Verdict::Eligible,
            },
            skipped(1, SkipReason::Offline),
            skipped(
                2,
                SkipReason::OutOfOffice {
                    until: Some(at(60 * 24)),
                },
            ),
            skipped(3, SkipReason::OutOfOffice { until: None }),
            skipped(
                4,
                SkipReason::AtCapacity {
                    open: 12,
                    capacity: 12,
                },
            ),
            skipped(5, SkipReason::Deactivated),
            skipped(6, SkipReason::PreviouslyAssigned),
            skipped(7, SkipReason::ZeroWeight),
        ],
        outcome,
        preferred: None,
    }
}

/// A custom field change with a value of every kind and a cleared field, as an event records
/// it; `personal` when the record names a person.
fn custom_fields_set(personal: bool) -> CustomFieldsSet {
    serde_json::from_value(serde_json::json!({
        "schema_version": 3,
        "set": {
            "partner_note": {"type": "text", "value": "Gold partner — Zürich"},
            "seats": {"type": "number", "value": "12.50"},
            "budget": {"type": "money", "value": {"minor": 1250, "currency": "EUR"}},
            "renewal": {"type": "date", "value": "2027-01-15"},
            "strategic": {"type": "boolean", "value": true},
            "tier": {"type": "choice", "value": "gold"},
            "regions": {"type": "choices", "value": ["apac", "emea"]},
            "sponsor": {"type": "lookup", "value": {"entity": "contact", "id": id(ADA)}}
        },
        "cleared": ["legacy_code"],
        "personal": personal,
        "at": at(9)
    }))
    .expect("a custom field change")
}

fn custom_field_settings_events() -> Vec<CustomFieldSettingsEvent> {
    let schema = |version: u32, silver_retired: bool| -> SchemaDraft {
        serde_json::from_value(serde_json::json!({
            "entity": "opportunity",
            "version": version,
            "fields": [
                {"key": "tier", "label": "Tier", "help": "The partner tier",
                 "type": {"kind": "single_pick", "options": [
                    {"key": "gold", "label": "Gold"},
                    {"key": "silver", "label": "Silver", "retired": silver_retired}]}},
                {"key": "seats", "label": "Seats", "required": true,
                 "type": {"kind": "number", "decimal_places": 2, "min": "0"}},
                {"key": "budget", "label": "Budget", "type": {"kind": "money", "currency": "EUR"}},
                {"key": "renewal", "label": "Renewal", "type": {"kind": "date"}},
                {"key": "sponsor", "label": "Sponsor", "type": {"kind": "lookup", "target": "contact"}}
            ],
            "rules": [
                {"rule": "required_when", "field": "renewal", "when": "tier",
                 "equals": {"type": "choice", "value": "gold"}}
            ]
        }))
        .expect("a schema draft")
    };
    let first = CustomFieldSchema::new(schema(1, false)).expect("a valid schema");
    let second = CustomFieldSchema::new(schema(2, true)).expect("a valid schema");
    vec![
        CustomFieldSettingsEvent::Published {
            schema: schema(1, false),
            change: None,
            by: user(ALICE),
            at: precise_at(),
        },
        CustomFieldSettingsEvent::Published {
            schema: schema(2, true),
            change: Some(first.evolve_to(&second).expect("an evolution")),
            by: user(ALICE),
            at: at(1),
        },
    ]
}

fn lead_events() -> Vec<LeadEvent> {
    let lead = LeadId(id(0x1ead));
    vec![
        LeadEvent::Received {
            lead_id: lead,
            source: LeadSource {
                system: "web-form".into(),
                external_event_id: "evt-0001".into(),
            },
            raw_payload: json!({
                "first_name": "Ada",
                "email": "Ada.Lovelace+crm@Example.com",
                "consent": true,
                "visits": 3,
                "utm": {"source": "newsletter", "medium": null},
                "tags": ["engines", "poetry"],
            }),
            requested_at: precise_at(),
            at: at(0),
        },
        LeadEvent::Quarantined {
            reasons: vec![
                QuarantineReason {
                    field: Some(LeadField::Email),
                    problem: "\"ada@\" is not an email address: empty domain".into(),
                },
                QuarantineReason {
                    field: None,
                    problem: "neither an email address nor a phone number".into(),
                },
            ],
            submission: LeadSubmission {
                email: Some("ada@".into()),
                unreadable_consents: vec!["consents[2]: unknown variant `fax`".into()],
                ..lead_submission()
            },
            at: at(1),
        },
        LeadEvent::Captured {
            profile: lead_submission()
                .validate(de())
                .expect("the representative submission is valid"),
            campaign: Campaign {
                campaign_id: Some("spring-2026".into()),
                utm_source: Some("newsletter".into()),
                utm_medium: Some("email".into()),
                utm_campaign: Some("engines".into()),
                utm_term: Some("difference engine".into()),
                utm_content: Some("footer-link".into()),
            },
            at: at(2),
        },
        LeadEvent::Assigned {
            rep: ALICE,
            decision: routing_decision(RoutingOutcome::Assigned { rep: ALICE }),
            at: at(3),
        },
        LeadEvent::Queued {
            queue: TeamId(id(0x7ea)),
            decision: RoutingDecision {
                rule: None,
                strategy: AssignmentStrategy::LeastLoaded,
                candidates: vec![CandidateVerdict {
                    rep: CAROL,
                    verdict: Verdict::Skipped {
                        reason: SkipReason::Offline,
                    },
                }],
                ..routing_decision(RoutingOutcome::Queued {
                    queue: TeamId(id(0x7ea)),
                })
            },
            at: at(4),
        },
        LeadEvent::FirstTouchLogged {
            by: ALICE,
            channel: Channel::Phone,
            at: at(5),
        },
        LeadEvent::Reclaimed {
            from: BOB,
            missed_deadline: at(5),
            reassignment: 1,
            at: at(6),
        },
        LeadEvent::Escalated {
            to: CAROL,
            reason: "reassignment cap reached".into(),
            at: at(7),
        },
        LeadEvent::ScoreChanged {
            score: LeadScore {
                total: 35,
                contributions: vec![
                    ScoreContribution {
                        rule_id: "dach".into(),
                        dimension: ScoreDimension::Fit,
                        points: 20,
                    },
                    ScoreContribution {
                        rule_id: "pricing-page".into(),
                        dimension: ScoreDimension::Engagement,
                        points: 25,
                    },
                    ScoreContribution {
                        rule_id: "engagement_decay".into(),
                        dimension: ScoreDimension::Engagement,
                        points: -10,
                    },
                ],
            },
            at: at(8),
        },
        LeadEvent::Qualified {
            by: user(ALICE),
            at: at(9),
        },
        LeadEvent::Disqualified {
            reason: DisqualificationReason::Other {
                note: "a student project".into(),
            },
            by: Actor::Automation {
                rule: "disqualify-students".into(),
            },
            at: at(10),
        },
        LeadEvent::Converted {
            contact_id: ContactId(id(ADA)),
            new_contact: true,
            opportunity_id: Some(OpportunityId(id(0x0990))),
            at: at(11),
        },
        LeadEvent::Merged {
            into: LeadId(id(0x1ead2)),
            at: at(12),
        },
        LeadEvent::ContactMatched {
            contact: ContactId(id(ADA)),
            assessment: {
                use crm_domain::identity::linkage::{
                    LinkageModel, PersonDetails, PersonRecord, compare,
                };
                let person = |given: &str, email: &str| {
                    let details = PersonDetails {
                        given_name: Some(given.into()),
                        family_name: Some("Lovelace".into()),
                        date_of_birth: Some("1815-12-10".into()),
                        emails: vec![email.into()],
                        ..PersonDetails::default()
                    };
                    PersonRecord::normalize(&details, de()).0
                };
                LinkageModel::default().assess(&compare(
                    &person("Ada", "ada@engines.example"),
                    &person("Augusta Ada", "ada@engines.example"),
                ))
            },
            at: at(13),
        },
        LeadEvent::CustomFieldsSet(custom_fields_set(true)),
        LeadEvent::AccountMatched {
            assessment: AccountAssessment {
                account: AccountId::from_uuid(id(0xacc)),
                score: Score::from_ten_thousandths(9_500),
                verdict: MatchVerdict::AutoLink,
                domain: CompanyAgreement::Same,
                name: CompanyAgreement::Missing,
                name_similarity: None,
            },
            at: at(12),
        },
    ]
}

fn provenance(system: &str, minutes: i64) -> Provenance {
    Provenance::new(system, at(minutes))
}

fn sourced(value: Detail, system: &str, minutes: i64) -> Sourced<Detail> {
    Sourced {
        value,
        provenance: provenance(system, minutes),
    }
}

fn proof() -> ConsentProof {
    ConsentProof {
        form_id: Some("newsletter-footer-v3".into()),
        ip_address: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))),
        double_opt_in_token: Some("doi-7f3a".into()),
        recording_reference: Some("call-2026-03-02-0931".into()),
        wording_version: Some("2026-01".into()),
    }
}

fn consent(status: ConsentStatus, minutes: i64) -> ChannelConsent {
    ChannelConsent {
        status,
        provenance: provenance("web-form", minutes),
        proof: ConsentProof {
            ip_address: Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            ..ConsentProof::default()
        },
    }
}

/// A decision for every contact field, so every kind of detail value is in the corpus.
fn merge_decisions() -> MergeDecisions {
    let details = [
        (
            Detail::GivenName(Some(person("Ada"))),
            Detail::GivenName(Some(person("Augusta Ada"))),
        ),
        (
            Detail::FamilyName(Some(person("Lovelace"))),
            Detail::FamilyName(Some(person("King"))),
        ),
        (
            Detail::PrimaryEmail(Some(email("ada@engines.example"))),
            Detail::PrimaryEmail(Some(email("countess@lovelace.example"))),
        ),
        (
            Detail::CompanyName(Some(
                CompanyName::new("Analytical Engines Ltd.").expect("a name"),
            )),
            Detail::CompanyName(None),
        ),
        (
            Detail::CompanyDomain(None),
            Detail::CompanyDomain(Some(
                CompanyDomain::parse("engines.example").expect("a domain"),
            )),
        ),
        (
            Detail::JobTitle(Some("Analyst".into())),
            Detail::JobTitle(Some("Countess".into())),
        ),
        (
            Detail::Country(Some(de())),
            Detail::Country(Some(CountryCode::new("GB").expect("GB is a country"))),
        ),
        (Detail::Owner(Some(ALICE)), Detail::Owner(Some(BOB))),
        (
            Detail::Account(Some(CompanyId(id(0xacc)))),
            Detail::Account(None),
        ),
        (
            Detail::LifecycleStage(Some(LifecycleStage::Customer)),
            Detail::LifecycleStage(Some(LifecycleStage::MarketingQualifiedLead)),
        ),
    ];
    let fields = ContactField::ALL
        .into_iter()
        .zip(details)
        .enumerate()
        .map(|(i, (field, (ours, theirs)))| FieldDecision {
            field,
            kept: if i % 2 == 0 {
                MergeSide::Survivor
            } else {
                MergeSide::Absorbed
            },
            basis: if i == 5 {
                DecisionBasis::Choice
            } else {
                DecisionBasis::Policy
            },
            survivor: (i != 4).then(|| sourced(ours, "crm-ui", -60)),
            absorbed: Some(sourced(theirs, "hubspot", -30)),
        })
        .collect();
    MergeDecisions {
        fields,
        emails: vec![Sourced {
            value: email("countess@lovelace.example"),
            provenance: provenance("hubspot", -30),
        }],
        phones: vec![Sourced {
            value: phone("+44 20 7946 0958"),
            provenance: provenance("hubspot", -30),
        }],
        consents: vec![ConsentDecision {
            channel: ConsentChannel::Email,
            purpose: ConsentPurpose::Marketing,
            kept: MergeSide::Absorbed,
            survivor: Some(consent(ConsentStatus::Granted, -90)),
            absorbed: Some(consent(ConsentStatus::Withdrawn, -20)),
        }],
    }
}

/// An assessment for review holding every kind of reason, so the corpus pins each one's form
/// (a real assessment holds only some of them).
fn review_assessment() -> MatchAssessment {
    let score = Score::from_ten_thousandths;
    let names = |a: &str, b: &str| [a.to_owned(), b.to_owned()];
    MatchAssessment {
        score: score(6_755),
        verdict: MatchVerdict::Review,
        reasons: vec![
            MatchReason::IdenticalIdentity,
            MatchReason::EmailAgrees {
                email: "ada@engines.example".into(),
                role_account: false,
                weight: score(9_500),
            },
            MatchReason::MailboxAgrees {
                mailbox: "info@engines.example".into(),
                role_account: true,
                weight: score(4_500),
            },
            MatchReason::PhoneAgrees {
                e164: "+49301234567".into(),
                weight: score(8_500),
            },
            MatchReason::NamesAgree {
                names: names("ada lovelace", "ada lovelace king"),
                similarity: score(9_412),
                agreement: NameAgreement::Agree,
                weight: score(4_000),
            },
            MatchReason::NamesDiffer {
                names: names("ada", "augusta"),
                similarity: score(7_111),
            },
            MatchReason::NamesConflict {
                names: names("ada lovelace", "grace hopper"),
                similarity: score(4_200),
                factor: score(7_000),
            },
            MatchReason::CompanyDomainAgrees {
                domain: "engines.example".into(),
                weight: score(3_000),
            },
            MatchReason::CompanyNameAgrees {
                names: names("analytical engines", "analytical engine"),
                similarity: score(9_800),
                weight: score(1_000),
            },
        ],
    }
}

fn contact_events() -> Vec<ContactEvent> {
    let contact = ContactId(id(ADA));
    let duplicate = ContactId(id(0xada2));
    vec![
        ContactEvent::Created {
            contact_id: contact,
            origin: Provenance::new("web-form", precise_at()),
            at: at(0),
        },
        ContactEvent::DetailChanged {
            detail: Detail::GivenName(Some(person("Ada"))),
            provenance: provenance("web-form", -3),
            at: at(0),
        },
        ContactEvent::EmailAdded {
            email: Some(email("Ada.Lovelace@Engines.example")),
            provenance: provenance("crm-ui", 1),
            at: at(1),
        },
        ContactEvent::EmailRemoved {
            email: Some(email("ada@old-job.example")),
            provenance: provenance("crm-ui", 2),
            at: at(2),
        },
        ContactEvent::PhoneAdded {
            phone: Some(phone("030 1234567")),
            provenance: provenance("hubspot", 3),
            at: at(3),
        },
        ContactEvent::PhoneRemoved {
            phone: Some(phone("+1 650-253-0000")),
            provenance: provenance("hubspot", 4),
            at: at(4),
        },
        ContactEvent::ConsentGranted {
            channel: ConsentChannel::Email,
            purpose: ConsentPurpose::Marketing,
            provenance: provenance("web-form", 5),
            proof: proof(),
            at: at(5),
        },
        ContactEvent::ConsentWithdrawn {
            channel: ConsentChannel::Sms,
            purpose: ConsentPurpose::Marketing,
            provenance: provenance("sms-gateway", 6),
            proof: ConsentProof::default(),
            at: at(6),
        },
        ContactEvent::Merged {
            absorbed: duplicate,
            policy: MergePolicy::NewestValue,
            decisions: merge_decisions(),
            by: user(ALICE),
            at: at(7),
        },
        ContactEvent::MergedInto {
            survivor: contact,
            by: Actor::System {
                component: "duplicate-auto-link".into(),
            },
            at: at(7),
        },
        ContactEvent::Unmerged {
            absorbed: duplicate,
            restoration: Restoration {
                fields: vec![FieldRestore {
                    field: ContactField::FamilyName,
                    entry: Some(sourced(
                        Detail::FamilyName(Some(person("Lovelace"))),
                        "crm-ui",
                        -60,
                    )),
                }],
                emails: vec![email("countess@lovelace.example")],
                phones: vec![phone("+44 20 7946 0958")],
                consents: vec![ConsentRestore {
                    channel: ConsentChannel::Email,
                    purpose: ConsentPurpose::Marketing,
                    consent: Some(consent(ConsentStatus::Granted, -90)),
                }],
                kept_fields: vec![ContactField::JobTitle],
                kept_consents: vec![ConsentScope::marketing(ConsentChannel::Phone)],
            },
            by: user(BOB),
            at: at(8),
        },
        ContactEvent::UnmergedFrom {
            survivor: contact,
            by: user(BOB),
            at: at(8),
        },
        ContactEvent::DeclaredNotDuplicate {
            other: duplicate,
            by: user(ALICE),
            at: at(9),
        },
        ContactEvent::NotDuplicateRevoked {
            other: duplicate,
            by: Actor::Integration {
                source: "hubspot-sync".into(),
            },
            at: at(10),
        },
        ContactEvent::DuplicateSuspected {
            candidate: duplicate,
            assessment: review_assessment(),
            by: Actor::System {
                component: "identity-resolution".into(),
            },
            at: at(10),
        },
        ContactEvent::Erased {
            leads: vec![],
            contact_id: contact,
            request: ErasureRequest {
                requested_by: ErasureRequester::DataSubject,
                legal_basis: ErasureGround::ConsentWithdrawn,
                requested_at: at(-60 * 24),
            },
            absorbed: vec![duplicate],
            merged_into: Some(ContactId(id(0xada3))),
            by: user(CAROL),
            at: at(11),
        },
        ContactEvent::SourceLeadRecorded {
            lead: LeadId(id(0x1ead)),
            at: at(12),
        },
        ContactEvent::CustomFieldsSet(custom_fields_set(true)),
        ContactEvent::SyncOutranked {
            detail: Detail::JobTitle(Some("Engineer".to_owned())),
            provenance: provenance("billing", 4),
            kept: provenance("crm-ui", 5),
            at: at(13),
        },
        ContactEvent::FieldConflictRaised {
            detail: Detail::GivenName(Some(person("Augusta"))),
            provenance: provenance("billing", 6),
            current: provenance("web-form", -3),
            at: at(14),
        },
        ContactEvent::ExternalIdLinked {
            external: Some(ExternalId {
                system: "billing".to_owned(),
                id: "C-1001".to_owned(),
            }),
            at: at(16),
        },
        ContactEvent::ExternalIdUnlinked {
            external: Some(ExternalId {
                system: "billing".to_owned(),
                id: "C-0999".to_owned(),
            }),
            at: at(17),
        },
        ContactEvent::FieldConflictResolved {
            field: ContactField::GivenName,
            accepted: false,
            by: Actor::User {
                id: UserId(id(0xa11ce)),
            },
            at: at(15),
        },
    ]
}

fn stage(name: &str) -> StageId {
    StageId::new(name)
}

fn percent(value: u8) -> Probability {
    Probability::new(value).expect("a percentage")
}

fn opportunity_events() -> Vec<OpportunityEvent> {
    let mut upgraded = Pipeline {
        version: 2,
        ..Pipeline::default()
    };
    upgraded.stages[2].probability = percent(60);
    upgraded.approval_thresholds[0] = eur(5_000_000);
    vec![
        OpportunityEvent::Opened {
            opportunity: OpportunityId(id(0x0990)),
            name: "Analytical Engines: 3 difference engines".into(),
            contact: ContactId(id(ADA)),
            company: Some(CompanyId(id(0xacc))),
            owner: ALICE,
            amount: eur(12_500_000),
            expected_close: NaiveDate::from_ymd_opt(2026, 6, 30).expect("a date"),
            pipeline: Pipeline::default(),
            stage: stage("prospecting"),
            probability: percent(10),
            forecast_category: ForecastCategory::Pipeline,
            by: user(ALICE),
            at: at(0),
        },
        OpportunityEvent::StageChanged {
            from: stage("prospecting"),
            to: stage("proposal"),
            probability: percent(50),
            forecast_category: ForecastCategory::BestCase,
            by: user(ALICE),
            at: at(1),
        },
        OpportunityEvent::AmountChanged {
            amount: eur(15_000_000),
            by: user(ALICE),
            at: at(2),
        },
        OpportunityEvent::CloseDateChanged {
            expected_close: NaiveDate::from_ymd_opt(2026, 9, 30).expect("a date"),
            by: user(ALICE),
            at: at(3),
        },
        OpportunityEvent::Reassigned {
            from: ALICE,
            to: BOB,
            by: Actor::System {
                component: "territory-realignment".into(),
            },
            at: at(4),
        },
        OpportunityEvent::ApprovalRequested {
            amount: eur(15_000_000),
            comment: Some("three engines, one install".into()),
            by: user(BOB),
            at: at(5),
        },
        OpportunityEvent::ApprovalGranted {
            amount: eur(15_000_000),
            comment: None,
            approver: CAROL,
            at: at(6),
        },
        OpportunityEvent::ApprovalRejected {
            amount: eur(15_000_000),
            reason: "discount above policy".into(),
            approver: CAROL,
            at: at(7),
        },
        OpportunityEvent::ApprovalInvalidated {
            approved_amount: eur(15_000_000),
            was: InvalidatedApproval::Granted,
            at: at(8),
        },
        OpportunityEvent::Won {
            from: stage("negotiation"),
            stage: stage("closed_won"),
            probability: Probability::CERTAIN,
            forecast_category: ForecastCategory::Closed,
            by: user(BOB),
            at: at(9),
        },
        OpportunityEvent::Lost {
            from: stage("proposal"),
            stage: stage("closed_lost"),
            probability: Probability::ZERO,
            forecast_category: ForecastCategory::Omitted,
            reason: LossReason::Competitor {
                competitor: Some("Jacquard Looms".into()),
            },
            by: Actor::Integration {
                source: "erp".into(),
            },
            at: at(10),
        },
        OpportunityEvent::PipelineUpgraded {
            pipeline: upgraded,
            by: Actor::Automation {
                rule: "pipeline-v2-rollout".into(),
            },
            at: at(11),
        },
        OpportunityEvent::CustomFieldsSet(custom_fields_set(true)),
    ]
}

fn ticket_events() -> Vec<TicketEvent> {
    let ada = ContactId(id(ADA));
    vec![
        TicketEvent::Opened {
            ticket: TicketId(id(0x71c)),
            contact: ada,
            subject: "The engine skips every seventh card".into(),
            channel: Channel::Email,
            priority: Priority::High,
            follow_up_of: Some(TicketId(id(0x71b))),
            account: None,
            by: Actor::Integration {
                source: "support-mailbox".into(),
            },
            at: precise_at(),
        },
        TicketEvent::Assigned {
            assignee: ALICE,
            by: Actor::System {
                component: "ticket-router".into(),
            },
            at: at(0),
        },
        TicketEvent::AgentReplied {
            body: "Could you send a photo of the card reader?".into(),
            channel: Channel::Email,
            first_response: true,
            by: user(ALICE),
            at: at(1),
        },
        TicketEvent::CustomerReplied {
            from: ada,
            body: "Photo attached.".into(),
            channel: Channel::Web,
            by: Actor::Integration {
                source: "support-mailbox".into(),
            },
            at: at(2),
        },
        TicketEvent::StatusChanged {
            status: TicketStatus::OnHold,
            cause: StatusChangeCause::Requested,
            by: user(ALICE),
            at: at(3),
        },
        TicketEvent::PriorityChanged {
            priority: Priority::Urgent,
            by: Actor::Automation {
                rule: "vip-customer".into(),
            },
            at: at(4),
        },
        TicketEvent::Escalated {
            to: EscalationTarget::Team {
                team: TeamId(id(0x2d)),
            },
            level: NonZeroU8::new(2).expect("not zero"),
            reason: "needs second-line support".into(),
            by: user(ALICE),
            at: at(5),
        },
        TicketEvent::Reopened {
            cause: ReopenCause::CustomerReplied { from: ada },
            by: Actor::Integration {
                source: "support-mailbox".into(),
            },
            at: at(6),
        },
        TicketEvent::CustomFieldsSet(custom_fields_set(true)),
    ]
}

fn forecast_events() -> Vec<ForecastEvent> {
    vec![
        ForecastEvent::Opened {
            forecast: ForecastId(id(0xf0c)),
            owner: ALICE,
            manager: Some(CAROL),
            period: Period::quarter(2026, 2).expect("a quarter"),
            currency: Currency::new("EUR").expect("EUR is a currency"),
            by: Actor::System {
                component: "forecast-scheduler".into(),
            },
            at: at(0),
        },
        ForecastEvent::Adjusted {
            category: ForecastCategory::Commit,
            role: AdjustmentRole::Manager,
            amount: eur(9_000_000),
            reason: "the Jacquard renewal slips to Q3".into(),
            by: user(CAROL),
            at: at(1),
        },
        ForecastEvent::AdjustmentWithdrawn {
            category: ForecastCategory::BestCase,
            role: AdjustmentRole::Owner,
            by: user(ALICE),
            at: at(2),
        },
        ForecastEvent::Locked {
            by: Actor::Automation {
                rule: "lock-at-quarter-end".into(),
            },
            at: at(3),
        },
    ]
}

fn webhook(path: &str) -> WebhookUrl {
    WebhookUrl::parse(&format!("https://hooks.example.com/{path}")).expect("a webhook URL")
}

fn rep_events() -> Vec<RepEvent> {
    vec![
        RepEvent::Registered {
            rep: ALICE,
            display_name: "Alice Archer".into(),
            email: "Alice.Archer@Engines.example".into(),
            capacity: 12,
            weight: 2,
            skills: ["de".to_owned(), "enterprise".to_owned()].into(),
            endpoint: Some(webhook("reps/alice?token=abc%20def")),
            by: Actor::Integration {
                source: "hr-sync".into(),
            },
            at: precise_at(),
        },
        RepEvent::WentOnline {
            by: user(ALICE),
            at: at(0),
        },
        RepEvent::WentOffline {
            by: Actor::System {
                component: "presence-timeout".into(),
            },
            at: at(1),
        },
        RepEvent::OutOfOfficeSet {
            until: Some(at(60 * 24 * 7)),
            by: user(ALICE),
            at: at(2),
        },
        RepEvent::ReturnedToOffice {
            by: user(ALICE),
            at: at(3),
        },
        RepEvent::CapacityChanged {
            capacity: 0,
            by: user(CAROL),
            at: at(4),
        },
        RepEvent::WeightChanged {
            weight: 3,
            by: user(CAROL),
            at: at(5),
        },
        RepEvent::SkillsChanged {
            skills: ["fr".to_owned()].into(),
            by: user(CAROL),
            at: at(6),
        },
        RepEvent::NotificationEndpointChanged {
            endpoint: None,
            by: user(ALICE),
            at: at(7),
        },
        RepEvent::Deactivated {
            reason: "left the company".into(),
            by: user(CAROL),
            at: at(8),
        },
        RepEvent::Reactivated {
            by: user(CAROL),
            at: at(9),
        },
    ]
}

fn team_events() -> Vec<TeamEvent> {
    let team = TeamId(id(0x7ea));
    let lead = LeadId(id(0x1ead));
    let credits = BTreeMap::from([(ALICE, -1), (BOB, 1)]);
    vec![
        TeamEvent::Created {
            team_id: team,
            name: "DACH inside sales".into(),
            strategy: AssignmentStrategy::WeightedRoundRobin,
            leader: Some(CAROL),
            endpoint: Some(webhook("teams/dach")),
            by: user(CAROL),
            at: at(0),
        },
        TeamEvent::MemberAdded {
            rep: ALICE,
            by: user(CAROL),
            at: at(1),
        },
        TeamEvent::MemberRemoved {
            rep: BOB,
            by: user(CAROL),
            at: at(2),
        },
        TeamEvent::StrategyChanged {
            strategy: AssignmentStrategy::LeastLoaded,
            by: user(CAROL),
            at: at(3),
        },
        TeamEvent::LeaderAppointed {
            leader: BOB,
            by: user(CAROL),
            at: at(4),
        },
        TeamEvent::NotificationEndpointChanged {
            endpoint: None,
            by: user(CAROL),
            at: at(5),
        },
        TeamEvent::LeadOffered {
            lead_id: lead,
            rep: ALICE,
            decision: routing_decision(RoutingOutcome::Assigned { rep: ALICE }),
            credits: credits.clone(),
            by: Actor::System {
                component: "lead-router".into(),
            },
            at: at(6),
        },
        TeamEvent::LeadQueued {
            lead_id: LeadId(id(0x1ead2)),
            decision: routing_decision(RoutingOutcome::Queued { queue: team }),
            excluded: vec![ALICE],
            by: Actor::System {
                component: "lead-router".into(),
            },
            at: at(7),
        },
        TeamEvent::QueuedLeadOffered {
            lead_id: LeadId(id(0x1ead2)),
            rep: BOB,
            decision: routing_decision(RoutingOutcome::Assigned { rep: BOB }),
            credits,
            queued_at: at(7),
            by: Actor::System {
                component: "lead-router".into(),
            },
            at: precise_at() + TimeDelta::minutes(45),
        },
        TeamEvent::LeadLeftQueue {
            lead_id: LeadId(id(0x1ead3)),
            reason: QueueExitReason::Other {
                note: "merged by hand".into(),
            },
            by: user(CAROL),
            at: at(8),
        },
        TeamEvent::LeadReleased {
            lead_id: lead,
            by: Actor::Automation {
                rule: "release-closed-leads".into(),
            },
            at: at(9),
        },
    ]
}

fn territory_map_events() -> Vec<TerritoryMapEvent> {
    let dach = TeamId(id(0xdac4));
    let inbound = TeamId(id(0x1b0));
    let rules = vec![
        TerritoryRule {
            id: "dach-enterprise".into(),
            conditions: TerritoryConditions {
                countries: vec![de(), CountryCode::new("AT").expect("AT is a country")],
                regions: vec!["Bavaria".into()],
                postcode_prefixes: vec!["80".into()],
                industries: vec!["Software".into()],
                company_size: Some(CompanySizeRange {
                    min: 1000,
                    max: None,
                }),
            },
            team: dach,
        },
        TerritoryRule {
            id: "catch-all".into(),
            conditions: TerritoryConditions::default(),
            team: inbound,
        },
    ];
    vec![
        TerritoryMapEvent::Defined {
            map_id: id(0x7e11a),
            territories: Territories::new(rules.clone(), inbound).expect("valid rules"),
            version: 1,
            by: user(CAROL),
            at: at(0),
        },
        TerritoryMapEvent::Replaced {
            territories: Territories::new(rules[..1].to_vec(), dach).expect("valid rules"),
            version: 2,
            by: user(CAROL),
            at: at(1),
        },
    ]
}

fn account_events() -> Vec<AccountEvent> {
    let erp = Actor::Integration {
        source: "erp-sync".into(),
    };
    vec![
        AccountEvent::Opened {
            account: AccountId::from_uuid(id(0xacc)),
            name: CompanyName::new("Analytical Engines Ltd.").expect("a company name"),
            owner: ALICE,
            by: user(ALICE),
            at: precise_at(),
        },
        AccountEvent::Renamed {
            name: CompanyName::new("The Analytical Engines Holdings plc").expect("a company name"),
            by: erp.clone(),
            at: at(0),
        },
        AccountEvent::DomainAdded {
            domain: CompanyDomain::parse("https://www.Engines.example/about")
                .expect("a company domain"),
            by: user(ALICE),
            at: at(1),
        },
        AccountEvent::DomainRemoved {
            domain: CompanyDomain::parse("engines-old.example").expect("a company domain"),
            by: user(ALICE),
            at: at(2),
        },
        AccountEvent::IndustryChanged {
            industry: Some("Machinery".into()),
            by: erp.clone(),
            at: at(3),
        },
        AccountEvent::SizeChanged {
            employees: Some(1200),
            by: erp.clone(),
            at: at(4),
        },
        AccountEvent::AddressSet {
            address: AccountAddress {
                kind: AddressKind::Headquarters,
                street_address: StreetAddress {
                    street_number: Some("12".into()),
                    street: Some("Marylebone Road".into()),
                    locality: Some("London".into()),
                    postcode: Some("NW1 5LR".into()),
                    region: Some("Greater London".into()),
                },
                country: Some(CountryCode::new("GB").expect("GB is a country")),
            },
            by: erp,
            at: at(5),
        },
        AccountEvent::AddressCleared {
            kind: AddressKind::Billing,
            by: user(ALICE),
            at: at(6),
        },
        AccountEvent::OwnerChanged {
            owner: BOB,
            by: Actor::Automation {
                rule: "territory-rebalance".into(),
            },
            at: at(7),
        },
        AccountEvent::ContactSuggested {
            contact: ContactId(id(0x96ace)),
            assessment: AccountAssessment {
                account: AccountId::from_uuid(id(0xacc)),
                score: Score::from_ten_thousandths(7_500),
                verdict: MatchVerdict::Review,
                domain: CompanyAgreement::Missing,
                name: CompanyAgreement::Similar,
                name_similarity: Some(Score::from_ten_thousandths(9_133)),
            },
            by: Actor::System {
                component: "account-linking".into(),
            },
            at: at(7),
        },
        AccountEvent::SuggestionDismissed {
            contact: ContactId(id(0x96ace)),
            by: user(BOB),
            at: at(8),
        },
        AccountEvent::ContactAdded {
            contact: ContactId(id(ADA)),
            role: ContactRole::DecisionMaker,
            by: user(BOB),
            at: at(8),
        },
        AccountEvent::ContactRoleChanged {
            contact: ContactId(id(ADA)),
            role: ContactRole::TechnicalEvaluator,
            by: user(BOB),
            at: at(9),
        },
        AccountEvent::ContactRoleEnded {
            contact: ContactId(id(ADA)),
            by: user(BOB),
            at: at(10),
        },
        AccountEvent::Closed {
            reason: "went out of business".into(),
            by: user(CAROL),
            at: at(11),
        },
        AccountEvent::Reopened {
            by: user(CAROL),
            at: at(12),
        },
        AccountEvent::Archived {
            by: Actor::System {
                component: "data-cleanup".into(),
            },
            at: at(13),
        },
        AccountEvent::CustomFieldsSet(custom_fields_set(false)),
    ]
}

fn account_hierarchy_events() -> Vec<AccountHierarchyEvent> {
    vec![
        AccountHierarchyEvent::ParentChanged {
            account: AccountId::from_uuid(id(0xacc)),
            parent: Some(AccountId::from_uuid(id(0xacd))),
            by: user(ALICE),
            at: precise_at(),
        },
        AccountHierarchyEvent::ParentChanged {
            account: AccountId::from_uuid(id(0xacc)),
            parent: None,
            by: user(ALICE),
            at: at(1),
        },
    ]
}

fn activity_events() -> Vec<ActivityEvent> {
    let ada = ContactId(id(ADA));
    let ada_in_person = Participant {
        contact: Some(ada),
        name: Some(person("Ada Lovelace")),
        email: Some(email("Ada.Lovelace@engines.example")),
        phone: Some(phone("+44 20 7946 0958")),
    };
    let amended = |change| ActivityEvent::Amended {
        change,
        by: user(ALICE),
        at: at(5),
    };
    vec![
        ActivityEvent::Logged {
            activity: ActivityId(id(0xac7)),
            kind: ActivityKind::Call,
            records: vec![
                RecordRef::Lead(LeadId(id(0x1ead))),
                RecordRef::Contact(ada),
                RecordRef::Account(AccountId::from_uuid(id(0xacc))),
                RecordRef::Opportunity(OpportunityId(id(0xdea1))),
                RecordRef::Ticket(TicketId(id(0x71c))),
            ],
            occurred_at: precise_at(),
            duration_seconds: Some(420),
            direction: Some(Direction::Outbound),
            participants: vec![ada_in_person.clone()],
            outcome: Some(ActivityOutcome::Connected),
            subject: Some("Pilot scope with Ada".into()),
            body: Some("Ada wants the pilot in the Manchester plant first.".into()),
            performed_by: Some(ALICE),
            by: Actor::Integration {
                source: "phone-system".into(),
            },
            at: at(0),
        },
        amended(ActivityChange::Participants(vec![ada_in_person])),
        amended(ActivityChange::OccurredAt(at(-10))),
        amended(ActivityChange::DurationSeconds(None)),
        amended(ActivityChange::Direction(Direction::Inbound)),
        amended(ActivityChange::Outcome(Some(
            ActivityOutcome::LeftVoicemail,
        ))),
        amended(ActivityChange::Records(vec![RecordRef::Contact(ada)])),
        amended(ActivityChange::Subject(Some(
            "Pilot scope (Ada Lovelace)".into(),
        ))),
        amended(ActivityChange::Body(Some(
            "Call Ada's assistant first.".into(),
        ))),
        ActivityEvent::Cancelled {
            reason: CancellationReason::LoggedInError,
            by: user(BOB),
            at: at(6),
        },
        ActivityEvent::CustomFieldsSet(custom_fields_set(true)),
    ]
}

fn task_events() -> Vec<TaskEvent> {
    vec![
        TaskEvent::Created {
            task: TaskId(id(0x7a5c)),
            title: "Send the pilot proposal".into(),
            description: Some("With the volume discount agreed on the call.".into()),
            owner: ALICE,
            concerns: Some(RecordRef::Opportunity(OpportunityId(id(0xdea1)))),
            person: None,
            due_at: Some(precise_at()),
            priority: Priority::High,
            by: Actor::Automation {
                rule: "follow-up-after-demo".into(),
            },
            at: at(-10),
        },
        TaskEvent::Retitled {
            title: "Send the revised pilot proposal".into(),
            personal: false,
            by: user(ALICE),
            at: at(0),
        },
        TaskEvent::DescriptionChanged {
            description: None,
            personal: false,
            by: user(ALICE),
            at: at(1),
        },
        TaskEvent::Reassigned {
            owner: BOB,
            due_at: Some(at(60)),
            by: user(CAROL),
            at: at(2),
        },
        TaskEvent::Rescheduled {
            due_at: Some(at(120)),
            owner: BOB,
            by: user(BOB),
            at: at(3),
        },
        TaskEvent::PriorityChanged {
            priority: Priority::Urgent,
            by: user(BOB),
            at: at(4),
        },
        TaskEvent::Completed {
            by: user(BOB),
            at: at(5),
        },
        TaskEvent::Reopened {
            owner: BOB,
            due_at: None,
            by: user(CAROL),
            at: at(6),
        },
        TaskEvent::Cancelled {
            by: user(CAROL),
            at: at(7),
        },
        TaskEvent::CustomFieldsSet(custom_fields_set(false)),
    ]
}
