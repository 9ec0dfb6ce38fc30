use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;
use uuid::Uuid;

use super::consent::strategies::{
    arb_channel, arb_channel_consent, arb_proof, arb_scope, arb_status,
};
use super::details::strategies::{arb_detail_change, arb_provenance};
use super::merge::strategies::{arb_choices, arb_policy};
use super::suspicion::strategies::{
    arb_assessment, identical, shared_address, shared_mailbox, unrelated,
};
use super::*;
use crate::context::Actor;
use crate::identity::{CountryCode, PersonName};
use crate::testing::{ALICE, SEED, context_at, given, t0, t0_plus_minutes};
use crate::{decode, encode};

const ADA: ContactId = ContactId(Uuid::from_u128(0xada));
const DUPLICATE: ContactId = ContactId(Uuid::from_u128(0xd0b));
const THIRD: ContactId = ContactId(Uuid::from_u128(0x3d));

// --- builders --------------------------------------------------------------------------------

fn hubspot(minute: i64) -> Provenance {
    Provenance::new("hubspot", t0_plus_minutes(minute))
}

fn ui(minute: i64) -> Provenance {
    Provenance::new("crm-ui", t0_plus_minutes(minute))
}

fn email(raw: &str) -> EmailAddress {
    EmailAddress::parse(raw).unwrap()
}

fn phone(raw: &str) -> PhoneNumber {
    PhoneNumber::parse(raw, CountryCode::new("GB").unwrap()).unwrap()
}

fn given_name(raw: &str) -> Detail {
    Detail::GivenName(Some(PersonName::new(raw).unwrap()))
}

fn family_name(raw: &str) -> Detail {
    Detail::FamilyName(Some(PersonName::new(raw).unwrap()))
}

fn job_title(title: &str) -> Detail {
    Detail::JobTitle(Some(title.to_owned()))
}

fn entry(detail: Detail, provenance: Provenance) -> Sourced<Detail> {
    Sourced {
        value: detail,
        provenance,
    }
}

fn alice() -> Actor {
    Actor::User { id: ALICE }
}

fn created(id: ContactId) -> ContactEvent {
    ContactEvent::Created {
        contact_id: id,
        origin: hubspot(-60),
        at: t0(),
    }
}

fn changed(detail: Detail, provenance: Provenance) -> ContactEvent {
    ContactEvent::DetailChanged {
        detail,
        provenance,
        at: t0(),
    }
}

fn primary_chosen(raw: &str, provenance: Provenance) -> ContactEvent {
    changed(Detail::PrimaryEmail(Some(email(raw))), provenance)
}

fn email_added(raw: &str, provenance: Provenance) -> ContactEvent {
    ContactEvent::EmailAdded {
        email: Some(email(raw)),
        provenance,
        at: t0(),
    }
}

fn email_removed(raw: &str, provenance: Provenance) -> ContactEvent {
    ContactEvent::EmailRemoved {
        email: Some(email(raw)),
        provenance,
        at: t0(),
    }
}

fn phone_added(raw: &str, provenance: Provenance) -> ContactEvent {
    ContactEvent::PhoneAdded {
        phone: Some(phone(raw)),
        provenance,
        at: t0(),
    }
}

fn phone_removed(raw: &str, provenance: Provenance) -> ContactEvent {
    ContactEvent::PhoneRemoved {
        phone: Some(phone(raw)),
        provenance,
        at: t0(),
    }
}

fn form_proof() -> ConsentProof {
    ConsentProof {
        form_id: Some("newsletter-footer".into()),
        ip_address: Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7))),
        double_opt_in_token: Some("doi-7f3a".into()),
        ..ConsentProof::default()
    }
}

fn granted(channel: ConsentChannel, provenance: Provenance) -> ContactEvent {
    ContactEvent::ConsentGranted {
        channel,
        purpose: ConsentPurpose::Marketing,
        provenance,
        proof: form_proof(),
        at: t0(),
    }
}

fn withdrawn(channel: ConsentChannel, provenance: Provenance) -> ContactEvent {
    ContactEvent::ConsentWithdrawn {
        channel,
        purpose: ConsentPurpose::Marketing,
        provenance,
        proof: ConsentProof::default(),
        at: t0(),
    }
}

fn grant(channel: ConsentChannel, provenance: Provenance) -> ContactCommand {
    ContactCommand::GrantConsent {
        channel,
        purpose: ConsentPurpose::Marketing,
        provenance,
        proof: form_proof(),
    }
}

fn withdraw(channel: ConsentChannel, provenance: Provenance) -> ContactCommand {
    ContactCommand::WithdrawConsent {
        channel,
        purpose: ConsentPurpose::Marketing,
        provenance,
        proof: ConsentProof::default(),
    }
}

fn change(change: DetailChange, provenance: Provenance) -> ContactCommand {
    ContactCommand::ChangeDetails {
        changes: vec![change],
        provenance,
    }
}

fn set(detail: Detail, provenance: Provenance) -> ContactCommand {
    change(DetailChange::Set(detail), provenance)
}

fn merged_into(survivor: ContactId) -> ContactEvent {
    ContactEvent::MergedInto {
        survivor,
        by: alice(),
        at: t0(),
    }
}

fn erasure_request() -> ErasureRequest {
    ErasureRequest {
        requested_by: ErasureRequester::DataSubject,
        legal_basis: ErasureGround::ConsentWithdrawn,
        requested_at: t0_plus_minutes(-24 * 60),
    }
}

fn erased(id: ContactId) -> ContactEvent {
    ContactEvent::Erased {
        leads: vec![],
        contact_id: id,
        request: erasure_request(),
        absorbed: vec![],
        merged_into: None,
        by: alice(),
        at: t0(),
    }
}

/// Ada, as HubSpot knows her: a name, one address (primary), a job title, email consent.
fn ada() -> Vec<ContactEvent> {
    vec![
        created(ADA),
        changed(given_name("Ada"), hubspot(-60)),
        email_added("ada@example.com", hubspot(-60)),
        primary_chosen("ada@example.com", hubspot(-60)),
        changed(job_title("Analyst"), hubspot(-50)),
        granted(ConsentChannel::Email, hubspot(-40)),
    ]
}

/// The same person typed in by hand: other names, another address, a phone, and a later
/// withdrawal of email consent.
fn duplicate_history() -> Vec<ContactEvent> {
    vec![
        created(DUPLICATE),
        changed(given_name("Augusta"), ui(-30)),
        changed(family_name("King"), ui(-30)),
        email_added("countess@lovelace.org", ui(-30)),
        primary_chosen("countess@lovelace.org", ui(-30)),
        changed(job_title("Countess"), ui(-20)),
        phone_added("+44 20 7946 0958", ui(-30)),
        withdrawn(ConsentChannel::Email, ui(-35)),
    ]
}

/// The duplicate after its own `MergeInto` (the order the module recommends).
fn duplicate_merged_into_ada() -> Vec<ContactEvent> {
    let mut events = duplicate_history();
    events.push(merged_into(ADA));
    events
}

fn duplicate() -> Contact {
    Contact::replay(&duplicate_merged_into_ada())
}

fn merge(absorbed: Contact, policy: MergePolicy, choices: Vec<FieldChoice>) -> ContactCommand {
    ContactCommand::Merge {
        absorbed: Box::new(absorbed),
        policy,
        choices,
    }
}

fn decision(
    field: ContactField,
    kept: MergeSide,
    basis: DecisionBasis,
    survivor: Option<Sourced<Detail>>,
    absorbed: Option<Sourced<Detail>>,
) -> FieldDecision {
    FieldDecision {
        field,
        kept,
        basis,
        survivor,
        absorbed,
    }
}

/// What merging the duplicate into Ada decides under `SurvivorFirst`.
fn survivor_first_decisions() -> MergeDecisions {
    use ContactField as F;
    use DecisionBasis::Policy;
    use MergeSide::{Absorbed, Survivor};
    MergeDecisions {
        fields: vec![
            decision(
                F::GivenName,
                Survivor,
                Policy,
                Some(entry(given_name("Ada"), hubspot(-60))),
                Some(entry(given_name("Augusta"), ui(-30))),
            ),
            decision(
                F::FamilyName,
                Absorbed,
                Policy,
                None,
                Some(entry(family_name("King"), ui(-30))),
            ),
            decision(
                F::PrimaryEmail,
                Survivor,
                Policy,
                Some(entry(
                    Detail::PrimaryEmail(Some(email("ada@example.com"))),
                    hubspot(-60),
                )),
                Some(entry(
                    Detail::PrimaryEmail(Some(email("countess@lovelace.org"))),
                    ui(-30),
                )),
            ),
            decision(
                F::JobTitle,
                Survivor,
                Policy,
                Some(entry(job_title("Analyst"), hubspot(-50))),
                Some(entry(job_title("Countess"), ui(-20))),
            ),
        ],
        emails: vec![Sourced {
            value: email("countess@lovelace.org"),
            provenance: ui(-30),
        }],
        phones: vec![Sourced {
            value: phone("+44 20 7946 0958"),
            provenance: ui(-30),
        }],
        consents: vec![ConsentDecision {
            channel: ConsentChannel::Email,
            purpose: ConsentPurpose::Marketing,
            kept: Absorbed,
            survivor: Some(ChannelConsent {
                status: ConsentStatus::Granted,
                provenance: hubspot(-40),
                proof: form_proof(),
            }),
            absorbed: Some(ChannelConsent {
                status: ConsentStatus::Withdrawn,
                provenance: ui(-35),
                proof: ConsentProof::default(),
            }),
        }],
    }
}

fn ada_merged() -> ContactEvent {
    ContactEvent::Merged {
        absorbed: DUPLICATE,
        policy: MergePolicy::SurvivorFirst,
        decisions: survivor_first_decisions(),
        by: alice(),
        at: t0(),
    }
}

fn ada_after_merge() -> Vec<ContactEvent> {
    let mut events = ada();
    events.push(ada_merged());
    events
}

// --- create ----------------------------------------------------------------------------------

#[test]
fn creating_a_contact_records_it_and_each_initial_detail_as_its_own_fact() {
    let state = given::<Contact>(&[])
        .when(ContactCommand::Create {
            contact_id: ADA,
            provenance: hubspot(-60),
            changes: vec![
                DetailChange::Set(given_name("Ada")),
                DetailChange::AddEmail(email("ada@example.com")),
            ],
        })
        .then(&[
            created(ADA),
            changed(given_name("Ada"), hubspot(-60)),
            email_added("ada@example.com", hubspot(-60)),
            primary_chosen("ada@example.com", hubspot(-60)),
        ]);
    assert_eq!(state.id, Some(ADA));
    assert_eq!(state.status, Some(ContactStatus::Active));
    assert_eq!(state.origin, Some(hubspot(-60)));
}

#[test]
fn creating_a_contact_twice_is_refused() {
    given::<Contact>(&ada())
        .when(ContactCommand::Create {
            contact_id: ADA,
            provenance: hubspot(0),
            changes: vec![],
        })
        .then_error(&ContactError::AlreadyExists { id: ADA });
}

#[test]
fn changing_a_contact_that_was_never_created_is_refused() {
    given::<Contact>(&[])
        .when(set(job_title("Analyst"), hubspot(0)))
        .then_error(&ContactError::NotFound);
}

// --- details ---------------------------------------------------------------------------------

#[test]
fn changing_a_field_records_the_value_with_its_source_and_source_time() {
    let state = given::<Contact>(&ada())
        .when(set(job_title("Engineer"), hubspot(-5)))
        .then(&[changed(job_title("Engineer"), hubspot(-5))]);
    assert_eq!(state.details.job_title(), Some("Engineer"));
    assert_eq!(
        state.details.provenance(ContactField::JobTitle),
        Some(&hubspot(-5))
    );
}

#[test]
fn a_customer_leaving_is_recorded_as_the_churned_stage_with_its_source() {
    let billing = |minute| Provenance::new("billing", t0_plus_minutes(minute));
    let stage = |stage| Detail::LifecycleStage(Some(stage));
    let history = [
        ada(),
        vec![changed(stage(LifecycleStage::Customer), hubspot(-30))],
    ]
    .concat();
    let state = given::<Contact>(&history)
        .when(set(stage(LifecycleStage::Churned), billing(-5)))
        .then(&[changed(stage(LifecycleStage::Churned), billing(-5))]);
    assert_eq!(
        state.details.lifecycle_stage(),
        Some(LifecycleStage::Churned)
    );
    assert_eq!(
        state.details.provenance(ContactField::LifecycleStage),
        Some(&billing(-5))
    );
    assert_eq!(
        serde_json::to_value(LifecycleStage::Churned).unwrap(),
        "churned"
    );
}

#[test]
fn job_titles_are_stored_trimmed() {
    given::<Contact>(&ada())
        .when(set(job_title("  Engineer "), hubspot(-5)))
        .then(&[changed(job_title("Engineer"), hubspot(-5))]);
}

#[test]
fn identity_details_are_stored_tidy() {
    let date = |text: &str| Detail::DateOfBirth(Some(text.parse().unwrap()));
    given::<Contact>(&ada())
        .when(set(date("1915-12-10"), hubspot(-5)))
        .then(&[changed(date("1915-12-10"), hubspot(-5))]);
    let typed = StreetAddress {
        street_number: Some(" 12 ".into()),
        street: Some("Marylebone Road ".into()),
        locality: Some("   ".into()),
        ..StreetAddress::default()
    };
    let tidy = StreetAddress {
        street_number: Some("12".into()),
        street: Some("Marylebone Road".into()),
        ..StreetAddress::default()
    };
    given::<Contact>(&ada())
        .when(set(Detail::Address(Some(typed)), hubspot(-5)))
        .then(&[changed(Detail::Address(Some(tidy)), hubspot(-5))]);
    given::<Contact>(&ada())
        .when(set(
            Detail::NationalId(Some(" QQ 12 34 56 C ".into())),
            hubspot(-5),
        ))
        .then(&[changed(
            Detail::NationalId(Some("QQ 12 34 56 C".into())),
            hubspot(-5),
        )]);
}

#[test]
fn impossible_identity_details_are_refused() {
    let date = |text: &str| Detail::DateOfBirth(Some(text.parse().unwrap()));
    for refused in ["2100-01-01", "1799-05-05"] {
        given::<Contact>(&ada())
            .when(set(date(refused), hubspot(-5)))
            .then_error(&ContactError::ImplausibleValue {
                field: ContactField::DateOfBirth,
                reason: "a date of birth lies between 1850 and today",
            });
    }
    given::<Contact>(&ada())
        .when(set(
            Detail::Address(Some(StreetAddress {
                postcode: Some(" ".into()),
                ..StreetAddress::default()
            })),
            hubspot(-5),
        ))
        .then_error(&ContactError::BlankValue {
            field: ContactField::Address,
        });
    given::<Contact>(&ada())
        .when(set(Detail::NationalId(Some("x".repeat(65))), hubspot(-5)))
        .then_error(&ContactError::ImplausibleValue {
            field: ContactField::NationalId,
            reason: "an identifier is at most 64 characters",
        });
    given::<Contact>(&ada())
        .when(set(Detail::NationalId(Some(" - ".into())), hubspot(-5)))
        .then_error(&ContactError::BlankValue {
            field: ContactField::NationalId,
        });
}

#[test]
fn a_blank_job_title_is_refused() {
    given::<Contact>(&ada())
        .when(set(job_title("   "), hubspot(-5)))
        .then_error(&ContactError::BlankValue {
            field: ContactField::JobTitle,
        });
}

#[test]
fn setting_a_field_to_its_current_value_emits_nothing() {
    given::<Contact>(&ada())
        .when(set(job_title("Analyst"), ui(-1)))
        .then(&[]);
}

#[test]
fn a_change_older_than_the_same_sources_current_value_is_ignored() {
    let state = given::<Contact>(&ada())
        .when(set(job_title("Clerk"), hubspot(-55)))
        .then(&[]);
    assert_eq!(state.details.job_title(), Some("Analyst"));
}

#[test]
fn an_older_change_from_another_source_is_applied_precedence_is_the_sync_policys_job() {
    given::<Contact>(&ada())
        .when(set(job_title("Clerk"), ui(-55)))
        .then(&[changed(job_title("Clerk"), ui(-55))]);
}

#[test]
fn a_change_at_the_same_source_time_as_the_current_value_is_applied() {
    given::<Contact>(&ada())
        .when(set(job_title("Clerk"), hubspot(-50)))
        .then(&[changed(job_title("Clerk"), hubspot(-50))]);
}

#[test]
fn one_command_applies_its_fresh_changes_and_skips_its_stale_ones() {
    let mut history = ada();
    history.push(changed(family_name("Lovelace"), hubspot(-20)));
    given::<Contact>(&history)
        .when(ContactCommand::ChangeDetails {
            changes: vec![
                DetailChange::Set(job_title("Engineer")),
                DetailChange::Set(family_name("King")),
            ],
            provenance: hubspot(-30),
        })
        .then(&[changed(job_title("Engineer"), hubspot(-30))]);
}

#[test]
fn clearing_a_field_is_recorded() {
    let state = given::<Contact>(&ada())
        .when(set(Detail::JobTitle(None), hubspot(-10)))
        .then(&[changed(Detail::JobTitle(None), hubspot(-10))]);
    assert_eq!(state.details.job_title(), None);
}

#[test]
fn a_cleared_field_keeps_its_source_time_so_older_values_stay_out() {
    let mut history = ada();
    history.push(changed(Detail::JobTitle(None), hubspot(-10)));
    given::<Contact>(&history)
        .when(set(job_title("Analyst"), hubspot(-30)))
        .then(&[]);
}

#[test]
fn a_change_without_a_source_system_is_refused() {
    given::<Contact>(&ada())
        .when(set(job_title("Engineer"), Provenance::new(" ", t0())))
        .then_error(&ContactError::UnnamedSource);
}

#[test]
fn a_source_time_beyond_the_clock_tolerance_is_refused() {
    given::<Contact>(&ada())
        .when(set(job_title("Engineer"), hubspot(6)))
        .then_error(&ContactError::TimestampInFuture {
            timestamp: t0_plus_minutes(6),
            now: t0(),
        });
}

#[test]
fn a_source_time_within_the_clock_tolerance_is_accepted() {
    given::<Contact>(&ada())
        .when(set(job_title("Engineer"), hubspot(4)))
        .then(&[changed(job_title("Engineer"), hubspot(4))]);
}

// --- email addresses -------------------------------------------------------------------------

#[test]
fn the_first_email_address_becomes_the_primary_one() {
    let state = given::<Contact>(&[created(ADA)])
        .when(change(
            DetailChange::AddEmail(email("ada@example.com")),
            hubspot(-5),
        ))
        .then(&[
            email_added("ada@example.com", hubspot(-5)),
            primary_chosen("ada@example.com", hubspot(-5)),
        ]);
    assert_eq!(
        state.details.primary_email(),
        Some(&email("ada@example.com"))
    );
}

#[test]
fn a_further_email_address_leaves_the_primary_one_alone() {
    let state = given::<Contact>(&ada())
        .when(change(
            DetailChange::AddEmail(email("countess@lovelace.org")),
            ui(-5),
        ))
        .then(&[email_added("countess@lovelace.org", ui(-5))]);
    assert_eq!(state.details.emails().len(), 2);
    assert_eq!(
        state.details.primary_email(),
        Some(&email("ada@example.com"))
    );
}

#[test]
fn adding_an_address_the_contact_has_in_another_spelling_emits_nothing() {
    given::<Contact>(&ada())
        .when(change(
            DetailChange::AddEmail(email(" ADA@Example.com")),
            ui(-5),
        ))
        .then(&[]);
}

#[test]
fn choosing_an_unknown_address_as_primary_adds_it() {
    given::<Contact>(&ada())
        .when(set(
            Detail::PrimaryEmail(Some(email("countess@lovelace.org"))),
            ui(-5),
        ))
        .then(&[
            email_added("countess@lovelace.org", ui(-5)),
            primary_chosen("countess@lovelace.org", ui(-5)),
        ]);
}

#[test]
fn choosing_a_listed_address_as_primary_only_moves_the_primary() {
    let mut history = ada();
    history.push(email_added("countess@lovelace.org", ui(-40)));
    let state = given::<Contact>(&history)
        .when(set(
            Detail::PrimaryEmail(Some(email("countess@lovelace.org"))),
            ui(-5),
        ))
        .then(&[primary_chosen("countess@lovelace.org", ui(-5))]);
    assert_eq!(state.details.emails().len(), 2);
}

#[test]
fn removing_the_primary_address_promotes_the_next_one() {
    let mut history = ada();
    history.push(email_added("countess@lovelace.org", ui(-40)));
    given::<Contact>(&history)
        .when(change(
            DetailChange::RemoveEmail(email("ada@example.com")),
            hubspot(-5),
        ))
        .then(&[
            email_removed("ada@example.com", hubspot(-5)),
            primary_chosen("countess@lovelace.org", hubspot(-5)),
        ]);
}

#[test]
fn removing_the_last_address_clears_the_primary() {
    let state = given::<Contact>(&ada())
        .when(change(
            DetailChange::RemoveEmail(email("ada@example.com")),
            hubspot(-5),
        ))
        .then(&[
            email_removed("ada@example.com", hubspot(-5)),
            changed(Detail::PrimaryEmail(None), hubspot(-5)),
        ]);
    assert!(state.details.emails().is_empty());
    assert_eq!(state.details.primary_email(), None);
}

#[test]
fn clearing_the_primary_address_while_addresses_remain_is_refused() {
    given::<Contact>(&ada())
        .when(set(Detail::PrimaryEmail(None), hubspot(-5)))
        .then_error(&ContactError::PrimaryEmailRequired);
}

#[test]
fn an_addition_older_than_the_same_sources_removal_stays_removed() {
    let mut history = ada();
    history.push(email_added("countess@lovelace.org", hubspot(-40)));
    history.push(email_removed("countess@lovelace.org", hubspot(-10)));
    given::<Contact>(&history)
        .when(change(
            DetailChange::AddEmail(email("countess@lovelace.org")),
            hubspot(-20),
        ))
        .then(&[]);
}

#[test]
fn an_addition_newer_than_the_removal_brings_the_address_back() {
    let mut history = ada();
    history.push(email_added("countess@lovelace.org", hubspot(-40)));
    history.push(email_removed("countess@lovelace.org", hubspot(-10)));
    given::<Contact>(&history)
        .when(change(
            DetailChange::AddEmail(email("countess@lovelace.org")),
            hubspot(-5),
        ))
        .then(&[email_added("countess@lovelace.org", hubspot(-5))]);
}

#[test]
fn a_removal_older_than_the_same_sources_addition_is_ignored() {
    given::<Contact>(&ada())
        .when(change(
            DetailChange::RemoveEmail(email("ada@example.com")),
            hubspot(-70),
        ))
        .then(&[]);
}

#[test]
fn removing_an_address_the_contact_does_not_have_emits_nothing() {
    given::<Contact>(&ada())
        .when(change(
            DetailChange::RemoveEmail(email("countess@lovelace.org")),
            hubspot(-5),
        ))
        .then(&[]);
}

// --- phone numbers ---------------------------------------------------------------------------

#[test]
fn a_phone_number_is_added_in_e164() {
    let state = given::<Contact>(&ada())
        .when(change(
            DetailChange::AddPhone(phone("+44 20 7946 0958")),
            ui(-5),
        ))
        .then(&[phone_added("+44 20 7946 0958", ui(-5))]);
    assert_eq!(state.details.phones().len(), 1);
}

#[test]
fn adding_a_number_the_contact_has_emits_nothing() {
    let mut history = ada();
    history.push(phone_added("+44 20 7946 0958", ui(-40)));
    given::<Contact>(&history)
        .when(change(
            DetailChange::AddPhone(phone("+44 (20) 7946-0958")),
            ui(-5),
        ))
        .then(&[]);
}

#[test]
fn a_phone_number_is_removed() {
    let mut history = ada();
    history.push(phone_added("+44 20 7946 0958", ui(-40)));
    let state = given::<Contact>(&history)
        .when(change(
            DetailChange::RemovePhone(phone("+44 20 7946 0958")),
            ui(-5),
        ))
        .then(&[phone_removed("+44 20 7946 0958", ui(-5))]);
    assert!(state.details.phones().is_empty());
}

#[test]
fn a_phone_addition_older_than_the_same_sources_removal_stays_removed() {
    let mut history = ada();
    history.push(phone_added("+44 20 7946 0958", ui(-40)));
    history.push(phone_removed("+44 20 7946 0958", ui(-10)));
    given::<Contact>(&history)
        .when(change(
            DetailChange::AddPhone(phone("+44 20 7946 0958")),
            ui(-20),
        ))
        .then(&[]);
}

#[test]
fn a_phone_removal_older_than_the_same_sources_addition_is_ignored() {
    let mut history = ada();
    history.push(phone_added("+44 20 7946 0958", ui(-10)));
    given::<Contact>(&history)
        .when(change(
            DetailChange::RemovePhone(phone("+44 20 7946 0958")),
            ui(-20),
        ))
        .then(&[]);
}

// --- consent ---------------------------------------------------------------------------------

#[test]
fn granting_consent_records_the_statement_with_its_proof() {
    let state = given::<Contact>(&ada())
        .when(grant(ConsentChannel::Sms, ui(-5)))
        .then(&[granted(ConsentChannel::Sms, ui(-5))]);
    assert!(state.may_contact(ConsentChannel::Sms));
    assert!(!state.may_contact(ConsentChannel::Phone));
}

#[test]
fn granting_consent_without_proof_is_refused() {
    given::<Contact>(&ada())
        .when(ContactCommand::GrantConsent {
            channel: ConsentChannel::Sms,
            purpose: ConsentPurpose::Marketing,
            provenance: ui(-5),
            proof: ConsentProof {
                form_id: Some("  ".into()),
                ..ConsentProof::default()
            },
        })
        .then_error(&ContactError::ConsentProofMissing {
            scope: ConsentScope::marketing(ConsentChannel::Sms),
        });
}

#[test]
fn a_withdrawal_is_honoured_without_proof() {
    let state = given::<Contact>(&ada())
        .when(withdraw(ConsentChannel::Email, ui(-5)))
        .then(&[withdrawn(ConsentChannel::Email, ui(-5))]);
    assert!(!state.may_contact(ConsentChannel::Email));
}

#[test]
fn a_grant_older_than_the_withdrawal_in_effect_is_ignored() {
    let mut history = ada();
    history.push(withdrawn(ConsentChannel::Email, ui(-10)));
    given::<Contact>(&history)
        .when(grant(ConsentChannel::Email, hubspot(-20)))
        .then(&[]);
}

#[test]
fn a_grant_made_at_the_same_moment_as_a_withdrawal_loses() {
    let mut history = ada();
    history.push(withdrawn(ConsentChannel::Email, ui(-10)));
    given::<Contact>(&history)
        .when(grant(ConsentChannel::Email, hubspot(-10)))
        .then(&[]);
}

#[test]
fn a_withdrawal_made_at_the_same_moment_as_a_grant_wins() {
    given::<Contact>(&ada())
        .when(withdraw(ConsentChannel::Email, ui(-40)))
        .then(&[withdrawn(ConsentChannel::Email, ui(-40))]);
}

#[test]
fn a_grant_made_after_a_withdrawal_takes_effect() {
    let mut history = ada();
    history.push(withdrawn(ConsentChannel::Email, ui(-10)));
    let state = given::<Contact>(&history)
        .when(grant(ConsentChannel::Email, hubspot(-5)))
        .then(&[granted(ConsentChannel::Email, hubspot(-5))]);
    assert!(state.may_contact(ConsentChannel::Email));
}

#[test]
fn a_withdrawal_older_than_a_later_grant_is_ignored() {
    given::<Contact>(&ada())
        .when(withdraw(ConsentChannel::Email, ui(-45)))
        .then(&[]);
}

#[test]
fn repeating_a_consent_statement_emits_nothing() {
    given::<Contact>(&ada())
        .when(grant(ConsentChannel::Email, hubspot(-40)))
        .then(&[]);
}

// --- merge (survivor side) -------------------------------------------------------------------

#[test]
fn merging_keeps_the_survivors_values_fills_its_gaps_and_unites_addresses() {
    let state = given::<Contact>(&ada())
        .when(merge(duplicate(), MergePolicy::SurvivorFirst, vec![]))
        .then(&[ada_merged()]);
    let details = &state.details;
    assert_eq!(details.given_name(), PersonName::new("Ada").ok().as_ref());
    assert_eq!(details.family_name(), PersonName::new("King").ok().as_ref());
    assert_eq!(details.job_title(), Some("Analyst"));
    assert_eq!(details.primary_email(), Some(&email("ada@example.com")));
    assert_eq!(details.emails().len(), 2);
    assert_eq!(details.phones().len(), 1);
    assert_eq!(state.absorbed_contacts(), vec![DUPLICATE]);
}

#[test]
fn merging_never_turns_a_withdrawal_into_a_permission() {
    let state = given::<Contact>(&ada())
        .when(merge(duplicate(), MergePolicy::SurvivorFirst, vec![]))
        .then(&[ada_merged()]);
    assert!(!state.may_contact(ConsentChannel::Email));
}

#[test]
fn merging_under_newest_value_takes_the_more_recently_changed_values() {
    let state = given::<Contact>(&ada())
        .when(merge(duplicate(), MergePolicy::NewestValue, vec![]))
        .result()
        .unwrap();
    let ContactEvent::Merged { decisions, .. } = &state[0] else {
        panic!("expected a merge, got {state:?}");
    };
    let kept: Vec<_> = decisions.fields.iter().map(|d| (d.field, d.kept)).collect();
    assert_eq!(
        kept,
        vec![
            (ContactField::GivenName, MergeSide::Absorbed),
            (ContactField::FamilyName, MergeSide::Absorbed),
            (ContactField::PrimaryEmail, MergeSide::Absorbed),
            (ContactField::JobTitle, MergeSide::Absorbed),
        ]
    );
}

#[test]
fn a_persons_choice_overrides_the_policy_for_that_field() {
    let events = given::<Contact>(&ada())
        .when(merge(
            duplicate(),
            MergePolicy::SurvivorFirst,
            vec![FieldChoice {
                field: ContactField::JobTitle,
                keep: MergeSide::Absorbed,
            }],
        ))
        .result()
        .unwrap();
    let state = events.iter().fold(Contact::replay(&ada()), Contact::evolve);
    assert_eq!(state.details.job_title(), Some("Countess"));
    let ContactEvent::Merged { decisions, .. } = &events[0] else {
        panic!("expected a merge, got {events:?}");
    };
    let job = decisions
        .fields
        .iter()
        .find(|d| d.field == ContactField::JobTitle)
        .unwrap();
    assert_eq!(job.basis, DecisionBasis::Choice);
    assert_eq!(
        job.survivor,
        Some(entry(job_title("Analyst"), hubspot(-50)))
    );
}

#[test]
fn two_choices_for_one_field_are_refused() {
    given::<Contact>(&ada())
        .when(merge(
            duplicate(),
            MergePolicy::SurvivorFirst,
            vec![
                FieldChoice {
                    field: ContactField::JobTitle,
                    keep: MergeSide::Absorbed,
                },
                FieldChoice {
                    field: ContactField::JobTitle,
                    keep: MergeSide::Survivor,
                },
            ],
        ))
        .then_error(&ContactError::ConflictingChoices {
            field: ContactField::JobTitle,
        });
}

#[test]
fn choosing_an_empty_primary_address_while_addresses_remain_is_refused() {
    let addressless = Contact::replay(&[created(DUPLICATE), merged_into(ADA)]);
    given::<Contact>(&ada())
        .when(merge(
            addressless,
            MergePolicy::SurvivorFirst,
            vec![FieldChoice {
                field: ContactField::PrimaryEmail,
                keep: MergeSide::Absorbed,
            }],
        ))
        .then_error(&ContactError::PrimaryEmailRequired);
}

#[test]
fn merging_a_contact_with_itself_is_refused() {
    given::<Contact>(&ada())
        .when(merge(
            Contact::replay(&ada()),
            MergePolicy::SurvivorFirst,
            vec![],
        ))
        .then_error(&ContactError::MergeWithSelf);
}

#[test]
fn merging_an_erased_contact_is_refused() {
    let mut history = duplicate_history();
    history.push(erased(DUPLICATE));
    given::<Contact>(&ada())
        .when(merge(
            Contact::replay(&history),
            MergePolicy::SurvivorFirst,
            vec![],
        ))
        .then_error(&ContactError::CannotAbsorbErased {
            absorbed: DUPLICATE,
        });
}

#[test]
fn merging_a_contact_absorbed_by_another_survivor_is_refused() {
    let mut history = duplicate_history();
    history.push(merged_into(THIRD));
    given::<Contact>(&ada())
        .when(merge(
            Contact::replay(&history),
            MergePolicy::SurvivorFirst,
            vec![],
        ))
        .then_error(&ContactError::AbsorbedElsewhere {
            absorbed: DUPLICATE,
            into: THIRD,
        });
}

#[test]
fn merging_a_contact_that_was_never_created_is_refused() {
    given::<Contact>(&ada())
        .when(merge(
            Contact::default(),
            MergePolicy::SurvivorFirst,
            vec![],
        ))
        .then_error(&ContactError::AbsorbedNotFound);
}

#[test]
fn merging_a_contact_the_survivor_declared_not_a_duplicate_is_refused() {
    let mut history = ada();
    history.push(ContactEvent::DeclaredNotDuplicate {
        other: DUPLICATE,
        by: alice(),
        at: t0(),
    });
    given::<Contact>(&history)
        .when(merge(
            Contact::replay(&duplicate_history()),
            MergePolicy::SurvivorFirst,
            vec![],
        ))
        .then_error(&ContactError::DeclaredNotDuplicate { other: DUPLICATE });
}

#[test]
fn merging_a_contact_that_declared_the_survivor_not_a_duplicate_is_refused() {
    let mut history = duplicate_history();
    history.push(ContactEvent::DeclaredNotDuplicate {
        other: ADA,
        by: alice(),
        at: t0(),
    });
    given::<Contact>(&ada())
        .when(merge(
            Contact::replay(&history),
            MergePolicy::SurvivorFirst,
            vec![],
        ))
        .then_error(&ContactError::DeclaredNotDuplicate { other: DUPLICATE });
}

#[test]
fn merging_the_same_contact_again_emits_nothing() {
    given::<Contact>(&ada_after_merge())
        .when(merge(duplicate(), MergePolicy::NewestValue, vec![]))
        .then(&[]);
}

#[test]
fn a_contact_can_absorb_several_others() {
    let third = Contact::replay(&[
        created(THIRD),
        email_added("a.king@example.org", ui(-15)),
        primary_chosen("a.king@example.org", ui(-15)),
        merged_into(ADA),
    ]);
    let state = given::<Contact>(&ada_after_merge())
        .when(merge(third, MergePolicy::SurvivorFirst, vec![]))
        .then(&[ContactEvent::Merged {
            absorbed: THIRD,
            policy: MergePolicy::SurvivorFirst,
            decisions: MergeDecisions {
                fields: vec![
                    decision(
                        ContactField::GivenName,
                        MergeSide::Survivor,
                        DecisionBasis::Policy,
                        Some(entry(given_name("Ada"), hubspot(-60))),
                        None,
                    ),
                    decision(
                        ContactField::FamilyName,
                        MergeSide::Survivor,
                        DecisionBasis::Policy,
                        Some(entry(family_name("King"), ui(-30))),
                        None,
                    ),
                    decision(
                        ContactField::PrimaryEmail,
                        MergeSide::Survivor,
                        DecisionBasis::Policy,
                        Some(entry(
                            Detail::PrimaryEmail(Some(email("ada@example.com"))),
                            hubspot(-60),
                        )),
                        Some(entry(
                            Detail::PrimaryEmail(Some(email("a.king@example.org"))),
                            ui(-15),
                        )),
                    ),
                    decision(
                        ContactField::JobTitle,
                        MergeSide::Survivor,
                        DecisionBasis::Policy,
                        Some(entry(job_title("Analyst"), hubspot(-50))),
                        None,
                    ),
                ],
                emails: vec![Sourced {
                    value: email("a.king@example.org"),
                    provenance: ui(-15),
                }],
                phones: vec![],
                consents: vec![ConsentDecision {
                    channel: ConsentChannel::Email,
                    purpose: ConsentPurpose::Marketing,
                    kept: MergeSide::Survivor,
                    survivor: Some(ChannelConsent {
                        status: ConsentStatus::Withdrawn,
                        provenance: ui(-35),
                        proof: ConsentProof::default(),
                    }),
                    absorbed: None,
                }],
            },
            by: alice(),
            at: t0(),
        }]);
    assert_eq!(state.absorbed_contacts(), vec![DUPLICATE, THIRD]);
    assert_eq!(state.details.emails().len(), 3);
}

#[test]
fn an_absorbed_contact_cannot_absorb_others() {
    let third = Contact::replay(&[created(THIRD)]);
    given::<Contact>(&duplicate_merged_into_ada())
        .when(merge(third, MergePolicy::SurvivorFirst, vec![]))
        .then_error(&ContactError::Absorbed { into: ADA });
}

#[test]
fn an_erased_contact_cannot_absorb_others() {
    given::<Contact>(&[created(ADA), erased(ADA)])
        .when(merge(duplicate(), MergePolicy::SurvivorFirst, vec![]))
        .then_error(&ContactError::Erased { id: ADA });
}

// --- merge (absorbed side) -------------------------------------------------------------------

#[test]
fn merging_into_a_survivor_freezes_the_absorbed_contact() {
    let state = given::<Contact>(&duplicate_history())
        .when(ContactCommand::MergeInto { survivor: ADA })
        .then(&[merged_into(ADA)]);
    assert_eq!(state.merged_into(), Some(ADA));
}

#[test]
fn an_absorbed_contact_refuses_changes_and_names_its_survivor() {
    given::<Contact>(&duplicate_merged_into_ada())
        .when(set(job_title("Engineer"), ui(-5)))
        .then_error(&ContactError::Absorbed { into: ADA });
}

#[test]
fn an_absorbed_contact_refuses_consent_statements_and_names_its_survivor() {
    given::<Contact>(&duplicate_merged_into_ada())
        .when(grant(ConsentChannel::Sms, ui(-5)))
        .then_error(&ContactError::Absorbed { into: ADA });
}

#[test]
fn merging_a_contact_into_itself_is_refused() {
    given::<Contact>(&duplicate_history())
        .when(ContactCommand::MergeInto {
            survivor: DUPLICATE,
        })
        .then_error(&ContactError::MergeWithSelf);
}

#[test]
fn merging_an_absorbed_contact_into_another_survivor_is_refused() {
    given::<Contact>(&duplicate_merged_into_ada())
        .when(ContactCommand::MergeInto { survivor: THIRD })
        .then_error(&ContactError::Absorbed { into: ADA });
}

#[test]
fn merging_into_the_same_survivor_again_emits_nothing() {
    given::<Contact>(&duplicate_merged_into_ada())
        .when(ContactCommand::MergeInto { survivor: ADA })
        .then(&[]);
}

#[test]
fn merging_into_a_contact_declared_not_a_duplicate_is_refused() {
    let mut history = duplicate_history();
    history.push(ContactEvent::DeclaredNotDuplicate {
        other: ADA,
        by: alice(),
        at: t0(),
    });
    given::<Contact>(&history)
        .when(ContactCommand::MergeInto { survivor: ADA })
        .then_error(&ContactError::DeclaredNotDuplicate { other: ADA });
}

#[test]
fn merging_into_a_contact_it_absorbed_is_refused() {
    given::<Contact>(&ada_after_merge())
        .when(ContactCommand::MergeInto {
            survivor: DUPLICATE,
        })
        .then_error(&ContactError::CircularMerge { other: DUPLICATE });
}

#[test]
fn merging_an_erased_contact_into_a_survivor_is_refused() {
    let mut history = duplicate_history();
    history.push(erased(DUPLICATE));
    given::<Contact>(&history)
        .when(ContactCommand::MergeInto { survivor: ADA })
        .then_error(&ContactError::Erased { id: DUPLICATE });
}

// --- unmerge ---------------------------------------------------------------------------------

#[test]
fn merge_then_unmerge_restores_both_contacts_exactly() {
    let ada_before = Contact::replay(&ada());
    let duplicate_before = Contact::replay(&duplicate_history());

    let absorbed = given::<Contact>(&duplicate_history())
        .when(ContactCommand::MergeInto { survivor: ADA })
        .then(&[merged_into(ADA)]);
    let survivor = given::<Contact>(&ada())
        .when(merge(absorbed.clone(), MergePolicy::SurvivorFirst, vec![]))
        .then(&[ada_merged()]);
    assert_ne!(survivor, ada_before);

    let survivor_events = survivor
        .decide(
            ContactCommand::Unmerge {
                absorbed: DUPLICATE,
            },
            &context_at(t0_plus_minutes(30)),
        )
        .unwrap();
    let ContactEvent::Unmerged { restoration, .. } = &survivor_events[0] else {
        panic!("expected an unmerge, got {survivor_events:?}");
    };
    assert!(restoration.kept_fields.is_empty());
    assert_eq!(
        survivor_events
            .iter()
            .fold(survivor.clone(), Contact::evolve),
        ada_before
    );

    let absorbed_events = absorbed
        .decide(
            ContactCommand::UnmergeFrom { survivor: ADA },
            &context_at(t0_plus_minutes(30)),
        )
        .unwrap();
    assert_eq!(
        absorbed_events.iter().fold(absorbed, Contact::evolve),
        duplicate_before
    );
}

#[test]
fn unmerging_lists_what_it_puts_back() {
    given::<Contact>(&ada_after_merge())
        .when(ContactCommand::Unmerge {
            absorbed: DUPLICATE,
        })
        .then(&[ContactEvent::Unmerged {
            absorbed: DUPLICATE,
            restoration: Restoration {
                fields: vec![FieldRestore {
                    field: ContactField::FamilyName,
                    entry: None,
                }],
                emails: vec![email("countess@lovelace.org")],
                phones: vec![phone("+44 20 7946 0958")],
                consents: vec![ConsentRestore {
                    channel: ConsentChannel::Email,
                    purpose: ConsentPurpose::Marketing,
                    consent: Some(ChannelConsent {
                        status: ConsentStatus::Granted,
                        provenance: hubspot(-40),
                        proof: form_proof(),
                    }),
                }],
                kept_fields: vec![],
                kept_consents: vec![],
            },
            by: alice(),
            at: t0(),
        }]);
}

#[test]
fn unmerging_keeps_values_changed_since_the_merge() {
    let mut history = ada_after_merge();
    history.push(changed(family_name("Lovelace"), ui(-1)));
    history.push(granted(ConsentChannel::Email, ui(-1)));
    let state = given::<Contact>(&history)
        .when(ContactCommand::Unmerge {
            absorbed: DUPLICATE,
        })
        .then(&[ContactEvent::Unmerged {
            absorbed: DUPLICATE,
            restoration: Restoration {
                fields: vec![],
                emails: vec![email("countess@lovelace.org")],
                phones: vec![phone("+44 20 7946 0958")],
                consents: vec![],
                kept_fields: vec![ContactField::FamilyName],
                kept_consents: vec![ConsentScope::marketing(ConsentChannel::Email)],
            },
            by: alice(),
            at: t0(),
        }]);
    assert_eq!(
        state.details.family_name(),
        PersonName::new("Lovelace").ok().as_ref()
    );
    assert!(state.merges.is_empty());
}

#[test]
fn unmerging_hands_the_primary_to_a_remaining_address_when_its_own_goes_back() {
    // Ada had no address; the merge brought the duplicate's, and she got one of her own since.
    let survivor = [
        created(ADA),
        ContactEvent::Merged {
            absorbed: DUPLICATE,
            policy: MergePolicy::SurvivorFirst,
            decisions: MergeDecisions {
                fields: vec![decision(
                    ContactField::PrimaryEmail,
                    MergeSide::Absorbed,
                    DecisionBasis::Policy,
                    None,
                    Some(entry(
                        Detail::PrimaryEmail(Some(email("countess@lovelace.org"))),
                        ui(-30),
                    )),
                )],
                emails: vec![Sourced {
                    value: email("countess@lovelace.org"),
                    provenance: ui(-30),
                }],
                ..MergeDecisions::default()
            },
            by: alice(),
            at: t0(),
        },
        email_added("ada@example.com", hubspot(-5)),
    ];
    let state = given::<Contact>(&survivor)
        .when(ContactCommand::Unmerge {
            absorbed: DUPLICATE,
        })
        .then(&[ContactEvent::Unmerged {
            absorbed: DUPLICATE,
            restoration: Restoration {
                fields: vec![FieldRestore {
                    field: ContactField::PrimaryEmail,
                    entry: Some(entry(
                        Detail::PrimaryEmail(Some(email("ada@example.com"))),
                        Provenance::new(UNMERGE_SOURCE, t0()),
                    )),
                }],
                emails: vec![email("countess@lovelace.org")],
                ..Restoration::default()
            },
            by: alice(),
            at: t0(),
        }]);
    assert_eq!(
        state.details.primary_email(),
        Some(&email("ada@example.com"))
    );
}

#[test]
fn unmerging_a_contact_that_is_not_merged_is_refused() {
    given::<Contact>(&ada())
        .when(ContactCommand::Unmerge { absorbed: THIRD })
        .then_error(&ContactError::NotMerged { absorbed: THIRD });
}

#[test]
fn releasing_a_contact_from_its_survivor_makes_it_active_again() {
    let state = given::<Contact>(&duplicate_merged_into_ada())
        .when(ContactCommand::UnmergeFrom { survivor: ADA })
        .then(&[ContactEvent::UnmergedFrom {
            survivor: ADA,
            by: alice(),
            at: t0(),
        }]);
    assert_eq!(state.status, Some(ContactStatus::Active));
}

#[test]
fn releasing_a_contact_from_a_survivor_it_is_not_merged_into_is_refused() {
    given::<Contact>(&duplicate_merged_into_ada())
        .when(ContactCommand::UnmergeFrom { survivor: THIRD })
        .then_error(&ContactError::NotMergedInto { survivor: THIRD });
}

// --- not a duplicate -------------------------------------------------------------------------

fn declared_not_duplicate(other: ContactId) -> ContactEvent {
    ContactEvent::DeclaredNotDuplicate {
        other,
        by: alice(),
        at: t0(),
    }
}

#[test]
fn declaring_another_contact_a_different_person_is_remembered() {
    let state = given::<Contact>(&ada())
        .when(ContactCommand::DeclareNotDuplicate { other: THIRD })
        .then(&[declared_not_duplicate(THIRD)]);
    assert_eq!(state.not_duplicates, vec![THIRD]);
}

#[test]
fn declaring_the_same_pair_again_emits_nothing() {
    let mut history = ada();
    history.push(declared_not_duplicate(THIRD));
    given::<Contact>(&history)
        .when(ContactCommand::DeclareNotDuplicate { other: THIRD })
        .then(&[]);
}

#[test]
fn declaring_a_contact_not_a_duplicate_of_itself_is_refused() {
    given::<Contact>(&ada())
        .when(ContactCommand::DeclareNotDuplicate { other: ADA })
        .then_error(&ContactError::NotDuplicateOfSelf);
}

#[test]
fn declaring_an_absorbed_contact_not_a_duplicate_is_refused_until_unmerged() {
    given::<Contact>(&ada_after_merge())
        .when(ContactCommand::DeclareNotDuplicate { other: DUPLICATE })
        .then_error(&ContactError::StillMerged { other: DUPLICATE });
}

#[test]
fn revoking_a_declaration_forgets_it() {
    let mut history = ada();
    history.push(declared_not_duplicate(THIRD));
    let state = given::<Contact>(&history)
        .when(ContactCommand::RevokeNotDuplicate { other: THIRD })
        .then(&[ContactEvent::NotDuplicateRevoked {
            other: THIRD,
            by: alice(),
            at: t0(),
        }]);
    assert!(state.not_duplicates.is_empty());
}

#[test]
fn revoking_a_declaration_never_made_emits_nothing() {
    given::<Contact>(&ada())
        .when(ContactCommand::RevokeNotDuplicate { other: THIRD })
        .then(&[]);
}

// --- suspected duplicates --------------------------------------------------------------------

fn system() -> Actor {
    Actor::System {
        component: "identity-resolution".into(),
    }
}

fn suspected(candidate: ContactId, assessment: MatchAssessment) -> ContactEvent {
    ContactEvent::DuplicateSuspected {
        candidate,
        assessment,
        by: system(),
        at: t0(),
    }
}

fn suspect(candidate: ContactId, assessment: MatchAssessment) -> ContactCommand {
    ContactCommand::RecordDuplicateSuspicion {
        candidate,
        assessment,
    }
}

fn as_identity_resolution() -> crate::Context {
    crate::Context::new(t0(), system(), SEED)
}

#[test]
fn a_pair_scored_for_review_is_recorded_as_a_suspicion_with_its_score_and_reasons() {
    let state = given::<Contact>(&ada())
        .at(as_identity_resolution())
        .when(suspect(THIRD, shared_address()))
        .then(&[suspected(THIRD, shared_address())]);
    assert_eq!(
        state.suspicion(THIRD),
        Some(&DuplicateSuspicion {
            candidate: THIRD,
            assessment: shared_address(),
            at: t0(),
        })
    );
}

#[test]
fn the_same_assessment_of_the_same_candidate_again_emits_nothing() {
    let history = [ada(), vec![suspected(THIRD, shared_address())]].concat();
    given::<Contact>(&history)
        .at(as_identity_resolution())
        .when(suspect(THIRD, shared_address()))
        .then(&[]);
}

#[test]
fn a_new_assessment_of_a_suspected_candidate_is_recorded_and_replaces_the_old_one() {
    let history = [ada(), vec![suspected(THIRD, shared_address())]].concat();
    let state = given::<Contact>(&history)
        .at(as_identity_resolution())
        .when(suspect(THIRD, shared_mailbox()))
        .then(&[suspected(THIRD, shared_mailbox())]);
    assert_eq!(state.suspicions.len(), 1);
    assert_eq!(
        state.suspicion(THIRD).map(|s| &s.assessment),
        Some(&shared_mailbox())
    );
}

#[test]
fn suspecting_a_duplicate_of_a_contact_that_was_never_created_is_refused() {
    given::<Contact>(&[])
        .when(suspect(THIRD, shared_address()))
        .then_error(&ContactError::NotFound);
}

#[test]
fn suspecting_a_duplicate_of_an_absorbed_contact_is_refused_and_names_its_survivor() {
    given::<Contact>(&duplicate_merged_into_ada())
        .when(suspect(THIRD, shared_address()))
        .then_error(&ContactError::Absorbed { into: ADA });
}

#[test]
fn a_contact_cannot_be_suspected_to_duplicate_itself() {
    given::<Contact>(&ada())
        .when(suspect(ADA, shared_address()))
        .then_error(&ContactError::SuspectedOfSelf);
}

#[test]
fn an_auto_link_verdict_is_not_a_suspicion() {
    assert_eq!(identical().verdict, MatchVerdict::AutoLink);
    given::<Contact>(&ada())
        .when(suspect(THIRD, identical()))
        .then_error(&ContactError::NotForReview {
            verdict: MatchVerdict::AutoLink,
        });
}

#[test]
fn a_distinct_verdict_is_not_a_suspicion() {
    assert_eq!(unrelated().verdict, MatchVerdict::Distinct);
    given::<Contact>(&ada())
        .when(suspect(THIRD, unrelated()))
        .then_error(&ContactError::NotForReview {
            verdict: MatchVerdict::Distinct,
        });
}

#[test]
fn suspecting_a_contact_declared_a_different_person_is_refused() {
    let history = [ada(), vec![declared_not_duplicate(THIRD)]].concat();
    given::<Contact>(&history)
        .when(suspect(THIRD, shared_address()))
        .then_error(&ContactError::DeclaredNotDuplicate { other: THIRD });
}

#[test]
fn once_the_declaration_is_revoked_the_pair_may_be_suspected_again() {
    let history = [
        ada(),
        vec![
            suspected(THIRD, shared_address()),
            declared_not_duplicate(THIRD),
            ContactEvent::NotDuplicateRevoked {
                other: THIRD,
                by: alice(),
                at: t0(),
            },
        ],
    ]
    .concat();
    given::<Contact>(&history)
        .at(as_identity_resolution())
        .when(suspect(THIRD, shared_address()))
        .then(&[suspected(THIRD, shared_address())]);
}

#[test]
fn suspecting_a_contact_this_one_absorbed_is_refused() {
    given::<Contact>(&ada_after_merge())
        .when(suspect(DUPLICATE, shared_address()))
        .then_error(&ContactError::StillMerged { other: DUPLICATE });
}

#[test]
fn a_merge_or_a_declaration_settles_the_suspicion() {
    let suspicions = vec![
        suspected(DUPLICATE, shared_address()),
        suspected(THIRD, shared_mailbox()),
    ];
    let merged = Contact::replay(&[ada(), suspicions.clone(), vec![ada_merged()]].concat());
    assert_eq!(
        merged
            .suspicions
            .iter()
            .map(|s| s.candidate)
            .collect::<Vec<_>>(),
        vec![THIRD]
    );
    let declared =
        Contact::replay(&[ada(), suspicions, vec![declared_not_duplicate(THIRD)]].concat());
    assert_eq!(
        declared
            .suspicions
            .iter()
            .map(|s| s.candidate)
            .collect::<Vec<_>>(),
        vec![DUPLICATE]
    );
}

#[test]
fn erasure_drops_the_reasons_of_suspicions() {
    let history = [ada(), vec![suspected(THIRD, shared_address()), erased(ADA)]].concat();
    let state = Contact::replay(&history);
    assert!(state.suspicions.is_empty());
    assert!(!state.holds_personal_data());
}

// --- erasure ---------------------------------------------------------------------------------

#[test]
fn erasing_a_contact_keeps_its_id_and_the_request_but_no_personal_data() {
    let state = given::<Contact>(&ada())
        .when(ContactCommand::Erase {
            request: erasure_request(),
        })
        .then(&[erased(ADA)]);
    assert_eq!(state.id, Some(ADA));
    assert_eq!(state.status, Some(ContactStatus::Erased));
    assert!(!state.holds_personal_data());
    assert_eq!(state.details, ContactDetails::default());
    let record = state.erasure.unwrap();
    assert_eq!(record.request, erasure_request());
    assert_eq!(record.by, alice());
}

#[test]
fn every_command_to_an_erased_contact_is_refused() {
    let history = [ada(), vec![erased(ADA)]].concat();
    let commands = vec![
        set(job_title("Engineer"), ui(-1)),
        grant(ConsentChannel::Email, ui(-1)),
        withdraw(ConsentChannel::Email, ui(-1)),
        merge(duplicate(), MergePolicy::SurvivorFirst, vec![]),
        ContactCommand::MergeInto { survivor: THIRD },
        ContactCommand::Unmerge { absorbed: THIRD },
        ContactCommand::UnmergeFrom { survivor: THIRD },
        ContactCommand::DeclareNotDuplicate { other: THIRD },
        ContactCommand::RevokeNotDuplicate { other: THIRD },
        suspect(THIRD, shared_address()),
        ContactCommand::Erase {
            request: erasure_request(),
        },
    ];
    for command in commands {
        given::<Contact>(&history)
            .when(command)
            .then_error(&ContactError::Erased { id: ADA });
    }
    given::<Contact>(&history)
        .when(ContactCommand::Create {
            contact_id: ADA,
            provenance: hubspot(0),
            changes: vec![],
        })
        .then_error(&ContactError::AlreadyExists { id: ADA });
}

#[test]
fn erasing_an_absorbed_contact_is_allowed_and_names_its_survivor() {
    given::<Contact>(&duplicate_merged_into_ada())
        .when(ContactCommand::Erase {
            request: erasure_request(),
        })
        .then(&[ContactEvent::Erased {
            leads: vec![],
            contact_id: DUPLICATE,
            request: erasure_request(),
            absorbed: vec![],
            merged_into: Some(ADA),
            by: alice(),
            at: t0(),
        }]);
}

#[test]
fn erasing_a_survivor_names_the_contacts_it_absorbed() {
    let state = given::<Contact>(&ada_after_merge())
        .when(ContactCommand::Erase {
            request: erasure_request(),
        })
        .then(&[ContactEvent::Erased {
            leads: vec![],
            contact_id: ADA,
            request: erasure_request(),
            absorbed: vec![DUPLICATE],
            merged_into: None,
            by: alice(),
            at: t0(),
        }]);
    assert!(!state.holds_personal_data());
    assert!(state.merges.is_empty());
}

#[test]
fn an_erasure_requested_in_the_future_is_refused() {
    given::<Contact>(&ada())
        .when(ContactCommand::Erase {
            request: ErasureRequest {
                requested_at: t0_plus_minutes(60),
                ..erasure_request()
            },
        })
        .then_error(&ContactError::TimestampInFuture {
            timestamp: t0_plus_minutes(60),
            now: t0(),
        });
}

#[test]
fn erasing_a_contact_that_was_never_created_is_refused() {
    given::<Contact>(&[])
        .when(ContactCommand::Erase {
            request: erasure_request(),
        })
        .then_error(&ContactError::NotFound);
}

#[test]
fn the_state_after_erasure_needs_none_of_the_shredded_events_before_it() {
    let full = [ada_after_merge(), vec![erased(ADA)]].concat();
    assert_eq!(Contact::replay(&full), Contact::replay(&[erased(ADA)]));
}

// --- codec -----------------------------------------------------------------------------------

fn one_of_each_event() -> Vec<ContactEvent> {
    vec![
        created(ADA),
        changed(job_title("Countess of Lovelace"), ui(-5)),
        changed(given_name("Augusta"), ui(-5)),
        email_added("countess@lovelace.org", ui(-5)),
        email_removed("countess@lovelace.org", ui(-5)),
        phone_added("+44 20 7946 0958", ui(-5)),
        phone_removed("+44 20 7946 0958", ui(-5)),
        granted(ConsentChannel::Email, ui(-5)),
        ContactEvent::ConsentWithdrawn {
            channel: ConsentChannel::Sms,
            purpose: ConsentPurpose::Marketing,
            provenance: ui(-5),
            proof: form_proof(),
            at: t0(),
        },
        ContactEvent::Merged {
            absorbed: DUPLICATE,
            policy: MergePolicy::NewestValue,
            decisions: survivor_first_decisions(),
            by: alice(),
            at: t0(),
        },
        merged_into(ADA),
        ContactEvent::Unmerged {
            absorbed: DUPLICATE,
            restoration: Restoration {
                fields: vec![FieldRestore {
                    field: ContactField::GivenName,
                    entry: Some(entry(given_name("Augusta"), ui(-5))),
                }],
                emails: vec![email("countess@lovelace.org")],
                phones: vec![phone("+44 20 7946 0958")],
                consents: vec![ConsentRestore {
                    channel: ConsentChannel::Email,
                    purpose: ConsentPurpose::Marketing,
                    consent: Some(ChannelConsent {
                        status: ConsentStatus::Granted,
                        provenance: ui(-5),
                        proof: form_proof(),
                    }),
                }],
                kept_fields: vec![ContactField::JobTitle],
                kept_consents: vec![ConsentScope::marketing(ConsentChannel::Sms)],
            },
            by: alice(),
            at: t0(),
        },
        ContactEvent::UnmergedFrom {
            survivor: ADA,
            by: Actor::Integration {
                source: "dedupe".into(),
            },
            at: t0(),
        },
        declared_not_duplicate(THIRD),
        ContactEvent::NotDuplicateRevoked {
            other: THIRD,
            by: alice(),
            at: t0(),
        },
        suspected(THIRD, shared_address()),
        ContactEvent::Erased {
            leads: vec![],
            contact_id: ADA,
            request: erasure_request(),
            absorbed: vec![DUPLICATE],
            merged_into: Some(THIRD),
            by: alice(),
            at: t0(),
        },
    ]
}

#[test]
fn every_event_type_name_round_trips() {
    for event in one_of_each_event() {
        let encoded = encode(&event).unwrap();
        let tagged = serde_json::to_value(&event).unwrap();
        assert_eq!(
            tagged["type"], encoded.event_type,
            "serde name and event_type() differ"
        );
        let back: ContactEvent =
            decode(encoded.event_type, encoded.schema_version, encoded.payload).unwrap();
        assert_eq!(back, event);
    }
}

#[test]
fn personal_fields_name_every_member_that_holds_personal_data() {
    let personal = [
        "Augusta",
        "Countess of Lovelace",
        "countess@lovelace.org",
        "442079460958",
        "203.0.113.7",
        "doi-7f3a",
        "King",
        "Analyst",
        "engines.example",
        "hopper",
    ];
    for event in one_of_each_event() {
        let mut payload = encode(&event).unwrap().payload;
        for pointer in event.personal_fields() {
            let member = payload.pointer_mut(pointer);
            assert!(
                member.is_some(),
                "{pointer} is not in {}",
                event.event_type()
            );
            if let Some(member) = member {
                *member = serde_json::Value::Null;
            }
        }
        let rest = payload.to_string();
        for value in personal {
            assert!(
                !rest.contains(value),
                "{} leaks {value:?} outside its personal fields: {rest}",
                event.event_type()
            );
        }
    }
}

// --- properties ------------------------------------------------------------------------------

fn arb_other() -> impl Strategy<Value = ContactId> {
    prop_oneof![Just(ADA), Just(DUPLICATE), Just(THIRD)]
}

fn consent_command(
    channel: ConsentChannel,
    status: ConsentStatus,
    provenance: Provenance,
    proof: ConsentProof,
) -> ContactCommand {
    match status {
        ConsentStatus::Granted => ContactCommand::GrantConsent {
            channel,
            purpose: ConsentPurpose::Marketing,
            provenance,
            proof,
        },
        ConsentStatus::Withdrawn => ContactCommand::WithdrawConsent {
            channel,
            purpose: ConsentPurpose::Marketing,
            provenance,
            proof,
        },
    }
}

/// Decides and applies `command` if it is accepted.
fn run(state: Contact, command: ContactCommand, ctx: &crate::Context) -> Contact {
    match state.decide(command, ctx) {
        Ok(events) => events.iter().fold(state, Contact::evolve),
        Err(_) => state,
    }
}

/// How a generated contact ends up.
#[derive(Debug, Clone, Copy)]
enum Fate {
    NeverCreated,
    Active,
    MergedIntoAda,
    MergedIntoThird,
    Erased,
}

/// A contact built from random details and consent statements.
fn arb_contact(id: ContactId, fate: impl Strategy<Value = Fate>) -> impl Strategy<Value = Contact> {
    (
        proptest::collection::vec((arb_detail_change(), arb_provenance()), 0..10),
        proptest::collection::vec((arb_channel(), arb_channel_consent()), 0..4),
        fate,
    )
        .prop_map(move |(changes, consents, fate)| {
            let ctx = context_at(t0_plus_minutes(120));
            if matches!(fate, Fate::NeverCreated) {
                return Contact::default();
            }
            let create = ContactCommand::Create {
                contact_id: id,
                provenance: Provenance::new("crm-ui", t0()),
                changes: vec![],
            };
            let mut state = run(Contact::default(), create, &ctx);
            for (change, provenance) in changes {
                state = run(
                    state,
                    ContactCommand::ChangeDetails {
                        changes: vec![change],
                        provenance,
                    },
                    &ctx,
                );
            }
            for (channel, consent) in consents {
                let command =
                    consent_command(channel, consent.status, consent.provenance, consent.proof);
                state = run(state, command, &ctx);
            }
            let last = match fate {
                Fate::MergedIntoAda => ContactCommand::MergeInto { survivor: ADA },
                Fate::MergedIntoThird => ContactCommand::MergeInto { survivor: THIRD },
                Fate::Erased => ContactCommand::Erase {
                    request: erasure_request(),
                },
                Fate::Active | Fate::NeverCreated => return state,
            };
            run(state, last, &ctx)
        })
}

fn arb_fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        1 => Just(Fate::NeverCreated),
        1 => Just(Fate::Active),
        3 => Just(Fate::MergedIntoAda),
        1 => Just(Fate::MergedIntoThird),
        1 => Just(Fate::Erased),
    ]
}

fn arb_command() -> impl Strategy<Value = ContactCommand> {
    prop_oneof![
        1 => proptest::collection::vec(arb_detail_change(), 0..3).prop_map(|changes| {
            ContactCommand::Create {
                contact_id: ADA,
                provenance: hubspot(-60),
                changes,
            }
        }),
        8 => (proptest::collection::vec(arb_detail_change(), 0..4), arb_provenance())
            .prop_map(|(changes, provenance)| ContactCommand::ChangeDetails { changes, provenance }),
        3 => (arb_channel(), arb_status(), arb_provenance(), arb_proof())
            .prop_map(|(channel, status, provenance, proof)| {
                consent_command(channel, status, provenance, proof)
            }),
        2 => (
            prop_oneof![
                arb_contact(DUPLICATE, arb_fate()),
                arb_contact(THIRD, arb_fate())
            ],
            arb_policy(),
            arb_choices()
        )
            .prop_map(|(absorbed, policy, choices)| merge(absorbed, policy, choices)),
        1 => arb_other().prop_map(|survivor| ContactCommand::MergeInto { survivor }),
        2 => arb_other().prop_map(|absorbed| ContactCommand::Unmerge { absorbed }),
        1 => arb_other().prop_map(|survivor| ContactCommand::UnmergeFrom { survivor }),
        1 => arb_other().prop_map(|other| ContactCommand::DeclareNotDuplicate { other }),
        1 => arb_other().prop_map(|other| ContactCommand::RevokeNotDuplicate { other }),
        2 => (arb_other(), arb_assessment())
            .prop_map(|(candidate, assessment)| suspect(candidate, assessment)),
        1 => Just(ContactCommand::Erase { request: erasure_request() }),
    ]
}

fn arb_context() -> impl Strategy<Value = crate::Context> {
    (0i64..120, any::<bool>()).prop_map(|(minute, integration)| {
        let actor = if integration {
            Actor::Integration {
                source: "hubspot".into(),
            }
        } else {
            alice()
        };
        crate::Context::new(t0_plus_minutes(minute), actor, SEED)
    })
}

/// The invariants of a contact's state that no history may break.
fn check_invariants(state: &Contact) -> Result<(), TestCaseError> {
    let details = &state.details;
    let emails: Vec<&str> = details
        .emails()
        .iter()
        .map(|e| e.value.normalized())
        .collect();
    let mut unique = emails.clone();
    unique.sort_unstable();
    unique.dedup();
    prop_assert_eq!(unique.len(), emails.len(), "an address is listed twice");
    let mut phones: Vec<&str> = details.phones().iter().map(|p| p.value.e164()).collect();
    let listed = phones.len();
    phones.sort_unstable();
    phones.dedup();
    prop_assert_eq!(phones.len(), listed, "a number is listed twice");
    match details.primary_email() {
        Some(primary) => prop_assert!(
            emails.contains(&primary.normalized()),
            "primary {:?} is not among {:?}",
            primary,
            emails
        ),
        None => prop_assert!(emails.is_empty(), "addresses {:?} but no primary", emails),
    }
    for field in ContactField::ALL {
        if let Some(entry) = details.entry(field) {
            prop_assert_eq!(entry.value.field(), field);
        }
    }
    if state.status == Some(ContactStatus::Erased) {
        prop_assert!(!state.holds_personal_data());
    }
    let candidates: Vec<ContactId> = state.suspicions.iter().map(|s| s.candidate).collect();
    prop_assert!(
        candidates.windows(2).all(|pair| pair[0] < pair[1]),
        "suspicions out of order or repeated: {:?}",
        candidates
    );
    for suspicion in &state.suspicions {
        prop_assert_eq!(suspicion.assessment.verdict, MatchVerdict::Review);
        prop_assert!(Some(suspicion.candidate) != state.id, "suspects itself");
        prop_assert!(
            !state.not_duplicates.contains(&suspicion.candidate),
            "a declared pair is still suspected"
        );
        prop_assert!(
            !state.absorbed_contacts().contains(&suspicion.candidate),
            "an absorbed contact is still suspected"
        );
    }
    Ok(())
}

proptest! {
    #[test]
    fn replaying_the_emitted_events_rebuilds_the_state_and_invariants_hold(
        initial in proptest::collection::vec(arb_detail_change(), 0..4),
        steps in proptest::collection::vec((arb_command(), arb_context()), 0..40)
    ) {
        let mut state = Contact::default();
        let mut history = Vec::new();
        let create = ContactCommand::Create {
            contact_id: ADA,
            provenance: hubspot(-60),
            changes: initial,
        };
        let first = (create, crate::testing::context());
        for (command, ctx) in std::iter::once(first).chain(steps) {
            if let Ok(events) = state.decide(command, &ctx) {
                for event in events {
                    state = state.evolve(&event);
                    history.push(event);
                }
            }
            check_invariants(&state)?;
        }
        crate::testing::check_replay(&state, &history)?;
    }

    #[test]
    fn an_erased_contact_holds_no_personal_data_and_never_changes_again(
        before in proptest::collection::vec((arb_command(), arb_context()), 0..20),
        after in proptest::collection::vec((arb_command(), arb_context()), 0..20),
    ) {
        let mut state = Contact::replay(&ada());
        for (command, ctx) in before {
            state = run(state, command, &ctx);
        }
        state = run(state, ContactCommand::Erase { request: erasure_request() }, &crate::testing::context());
        prop_assert_eq!(state.status, Some(ContactStatus::Erased));
        prop_assert!(!state.holds_personal_data());
        let erased_state = state.clone();
        for (command, ctx) in after {
            let result = state.decide(command, &ctx);
            prop_assert!(result.is_err(), "an erased contact accepted {:?}", result);
        }
        prop_assert_eq!(state, erased_state);
    }

    #[test]
    fn merge_then_unmerge_is_the_identity_on_both_contacts(
        survivor in arb_contact(ADA, Just(Fate::Active)),
        absorbed in arb_contact(DUPLICATE, Just(Fate::Active)),
        policy in arb_policy(),
        choices in arb_choices(),
    ) {
        let ctx = context_at(t0_plus_minutes(120));
        let absorbed_events = absorbed
            .decide(ContactCommand::MergeInto { survivor: ADA }, &ctx)
            .unwrap();
        let frozen = absorbed_events.iter().fold(absorbed.clone(), Contact::evolve);

        let merged_events = match survivor.decide(merge(frozen.clone(), policy, choices), &ctx) {
            Ok(events) => events,
            // The only refusal left: a person chose an empty primary address.
            Err(error) => {
                prop_assert_eq!(error, ContactError::PrimaryEmailRequired);
                return Ok(());
            }
        };
        let merged = merged_events.iter().fold(survivor.clone(), Contact::evolve);
        check_invariants(&merged)?;

        let unmerged_events = merged
            .decide(ContactCommand::Unmerge { absorbed: DUPLICATE }, &ctx)
            .unwrap();
        let unmerged = unmerged_events.iter().fold(merged, Contact::evolve);
        prop_assert_eq!(&unmerged.details, &survivor.details);
        prop_assert_eq!(&unmerged, &survivor);

        let released_events = frozen
            .decide(ContactCommand::UnmergeFrom { survivor: ADA }, &ctx)
            .unwrap();
        prop_assert_eq!(released_events.iter().fold(frozen, Contact::evolve), absorbed);
    }

    #[test]
    fn changes_from_one_source_in_any_order_leave_the_newest_value(
        order in proptest::collection::btree_set(0i64..60, 1..8)
            .prop_map(|minutes| minutes.into_iter().collect::<Vec<_>>())
            .prop_shuffle()
    ) {
        let ctx = context_at(t0_plus_minutes(120));
        let mut state = Contact::replay(&[created(ADA)]);
        for minute in &order {
            state = run(
                state,
                set(job_title(&format!("Title {minute}")), hubspot(*minute)),
                &ctx,
            );
        }
        let newest = order.iter().max().copied().unwrap_or_default();
        let expected = format!("Title {newest}");
        prop_assert_eq!(state.details.job_title(), Some(expected.as_str()));
    }

    #[test]
    fn consent_statements_in_any_order_leave_the_same_one_in_effect(
        statements in proptest::collection::vec((arb_status(), arb_provenance()), 1..8)
            .prop_shuffle()
    ) {
        let ctx = context_at(t0_plus_minutes(120));
        let mut state = Contact::replay(&[created(ADA)]);
        for (status, provenance) in &statements {
            let command =
                consent_command(ConsentChannel::Phone, *status, provenance.clone(), form_proof());
            state = run(state, command, &ctx);
        }
        let winner = statements
            .iter()
            .map(|(status, provenance)| (provenance.source_time, *status))
            .max();
        let in_effect = state
            .consents
            .get(ConsentChannel::Phone)
            .map(|c| (c.provenance.source_time, c.status));
        prop_assert_eq!(in_effect, winner);
    }
}

const CONVERTED_LEAD: LeadId = LeadId(Uuid::from_u128(0x1ead));

#[test]
fn a_source_lead_is_recorded_once() {
    let recorded = ContactEvent::SourceLeadRecorded {
        lead: CONVERTED_LEAD,
        at: t0(),
    };
    given::<Contact>(&ada())
        .when(ContactCommand::RecordSourceLead {
            lead: CONVERTED_LEAD,
        })
        .then(std::slice::from_ref(&recorded));
    let mut history = ada();
    history.push(recorded);
    given::<Contact>(&history)
        .when(ContactCommand::RecordSourceLead {
            lead: CONVERTED_LEAD,
        })
        .then(&[]);
}

#[test]
fn an_erasure_names_the_leads_converted_into_the_contact() {
    let mut history = ada();
    history.push(ContactEvent::SourceLeadRecorded {
        lead: CONVERTED_LEAD,
        at: t0(),
    });
    let state = given::<Contact>(&history)
        .when(ContactCommand::Erase {
            request: erasure_request(),
        })
        .then(&[ContactEvent::Erased {
            leads: vec![CONVERTED_LEAD],
            contact_id: ADA,
            request: erasure_request(),
            absorbed: vec![],
            merged_into: None,
            by: alice(),
            at: t0(),
        }]);
    assert_eq!(
        state.erasure.map(|record| record.leads),
        Some(vec![CONVERTED_LEAD])
    );
    assert!(state.source_leads.is_empty());
}

#[test]
fn an_erased_contact_records_no_source_lead() {
    let mut history = ada();
    history.push(ContactEvent::Erased {
        leads: vec![],
        contact_id: ADA,
        request: erasure_request(),
        absorbed: vec![],
        merged_into: None,
        by: alice(),
        at: t0(),
    });
    given::<Contact>(&history)
        .when(ContactCommand::RecordSourceLead {
            lead: CONVERTED_LEAD,
        })
        .then_error(&ContactError::Erased { id: ADA });
}

#[test]
fn custom_fields_are_validated_set_cleared_and_folded() {
    crate::custom_fields::fixtures::check_custom_fields::<Contact>(
        EntityKind::Contact,
        &ada(),
        ContactCommand::SetCustomFields,
        |state| &state.custom,
        |error| match error {
            ContactError::CustomFields(refused) => Some(refused),
            _ => None,
        },
    );
}

// ---- consent per channel and purpose ----

fn granted_for(scope: ConsentScope, provenance: Provenance) -> ContactEvent {
    ContactEvent::ConsentGranted {
        channel: scope.channel,
        purpose: scope.purpose,
        provenance,
        proof: form_proof(),
        at: t0(),
    }
}

fn withdrawn_for(scope: ConsentScope, provenance: Provenance) -> ContactEvent {
    ContactEvent::ConsentWithdrawn {
        channel: scope.channel,
        purpose: scope.purpose,
        provenance,
        proof: ConsentProof::default(),
        at: t0(),
    }
}

#[test]
fn consent_is_given_and_withdrawn_per_purpose_on_one_channel() {
    let service = ConsentScope::new(ConsentChannel::Email, ConsentPurpose::Service);
    let marketing = ConsentScope::marketing(ConsentChannel::Email);
    let mut history = ada();
    history.push(withdrawn_for(marketing, ui(-10)));
    let state = given::<Contact>(&history)
        .when(ContactCommand::GrantConsent {
            channel: ConsentChannel::Email,
            purpose: ConsentPurpose::Service,
            provenance: ui(-5),
            proof: form_proof(),
        })
        .then(&[granted_for(service, ui(-5))]);
    assert!(state.may_contact(service), "service notices by email");
    assert!(!state.may_contact(marketing), "no newsletters");
    assert!(
        !state.may_contact(ConsentChannel::Email),
        "a channel alone is marketing"
    );
    assert!(!state.may_contact(ConsentScope::new(
        ConsentChannel::Email,
        ConsentPurpose::Sales
    )));
}

#[test]
fn a_statement_without_a_purpose_reads_as_marketing_and_marketing_is_written_without_one() {
    let old = serde_json::json!({
        "type": "ContactConsentWithdrawn",
        "data": {
            "channel": "sms",
            "provenance": { "system": "crm-ui", "source_time": "2026-03-03T10:00:00Z" },
            "proof": {},
            "at": "2026-03-03T10:00:00Z",
        },
    });
    let read: ContactEvent = serde_json::from_value(old).expect("an old payload reads");
    assert!(matches!(
        read,
        ContactEvent::ConsentWithdrawn {
            purpose: ConsentPurpose::Marketing,
            ..
        }
    ));
    let marketing = serde_json::to_value(withdrawn(ConsentChannel::Sms, ui(-5))).unwrap();
    assert!(marketing["data"].get("purpose").is_none(), "{marketing}");
    let research = serde_json::to_value(withdrawn_for(
        ConsentScope::new(ConsentChannel::Sms, ConsentPurpose::Research),
        ui(-5),
    ))
    .unwrap();
    assert_eq!(research["data"]["purpose"], "research");
}

#[test]
fn a_consent_scope_is_written_as_its_channel_for_marketing_and_channel_colon_purpose_otherwise() {
    assert_eq!(
        ConsentScope::marketing(ConsentChannel::Email).to_string(),
        "email"
    );
    assert_eq!(
        ConsentScope::new(ConsentChannel::Phone, ConsentPurpose::Sales).to_string(),
        "phone:sales"
    );
    for text in [
        "",
        "fax",
        "email:",
        "email:marketing",
        "email:spam",
        ":sales",
        "Email",
    ] {
        assert!(text.parse::<ConsentScope>().is_err(), "{text:?}");
    }
    assert_eq!(ConsentScope::all().count(), 12);
}

#[test]
fn a_withdrawal_on_the_absorbed_contact_wins_over_a_later_grant_on_the_survivor() {
    // The survivor granted marketing email after the duplicate withdrew it: the merge keeps
    // the withdrawal (the least permissive statement), not the later grant.
    let mut survivor = ada();
    survivor.push(granted(ConsentChannel::Email, ui(-1)));
    let mut absorbed_history = duplicate_history();
    absorbed_history.retain(|event| {
        !matches!(
            event,
            ContactEvent::ConsentGranted { .. } | ContactEvent::ConsentWithdrawn { .. }
        )
    });
    absorbed_history.push(withdrawn(ConsentChannel::Email, hubspot(-50)));
    absorbed_history.push(merged_into(ADA));
    let absorbed = Contact::replay(&absorbed_history);
    let events = Contact::replay(&survivor)
        .decide(
            merge(absorbed, MergePolicy::NewestValue, vec![]),
            &context_at(t0()),
        )
        .expect("the merge is decided");
    let merged = Contact::replay(&[survivor, events].concat());
    assert!(!merged.may_contact(ConsentChannel::Email));
    assert_eq!(
        merged
            .consents
            .get(ConsentChannel::Email)
            .map(|statement| statement.status),
        Some(ConsentStatus::Withdrawn)
    );
}

#[test]
fn least_permissive_names_the_latest_withdrawal_and_never_allows_without_a_grant() {
    let statement = |status, minute| ChannelConsent {
        status,
        provenance: ui(minute),
        proof: ConsentProof::default(),
    };
    let early = statement(ConsentStatus::Withdrawn, -30);
    let late = statement(ConsentStatus::Withdrawn, -10);
    let grant = statement(ConsentStatus::Granted, -1);
    assert_eq!(least_permissive([None, None]), ConsentVerdict::NeverGiven);
    assert_eq!(
        least_permissive([Some(&grant), None]),
        ConsentVerdict::Granted
    );
    assert_eq!(
        least_permissive([Some(&grant), Some(&early), Some(&late)]),
        ConsentVerdict::Withdrawn(late.clone())
    );
    assert!(!least_permissive([Some(&late), Some(&grant)]).allows());
}

proptest! {
    #[test]
    fn a_consent_scope_reads_back_from_its_text(scope in arb_scope()) {
        let text = scope.to_string();
        prop_assert_eq!(text.parse::<ConsentScope>(), Ok(scope));
        let json = serde_json::to_value(scope).unwrap();
        prop_assert_eq!(serde_json::from_value::<ConsentScope>(json).unwrap(), scope);
    }

    #[test]
    fn least_permissive_does_not_depend_on_the_order_of_the_records(
        mut statements in proptest::collection::vec(proptest::option::of(arb_channel_consent()), 0..6),
    ) {
        let verdict = least_permissive(statements.iter().map(Option::as_ref));
        let withdrawn = statements
            .iter()
            .flatten()
            .any(|statement| statement.status == ConsentStatus::Withdrawn);
        prop_assert_eq!(matches!(verdict, ConsentVerdict::Withdrawn(_)), withdrawn);
        statements.reverse();
        // The same verdict; a withdrawal named at the same instant (ties of time) may differ
        // in its proof.
        let instant = |verdict: &ConsentVerdict| match verdict {
            ConsentVerdict::Withdrawn(statement) => Some(statement.provenance.source_time),
            _ => None,
        };
        let again = least_permissive(statements.iter().map(Option::as_ref));
        prop_assert_eq!(again.allows(), verdict.allows());
        prop_assert_eq!(instant(&again), instant(&verdict));
    }

    #[test]
    fn a_statement_for_one_purpose_leaves_every_other_scope_alone(
        scope in arb_scope(),
        status in arb_status(),
    ) {
        let event = match status {
            ConsentStatus::Granted => granted_for(scope, ui(-5)),
            ConsentStatus::Withdrawn => withdrawn_for(scope, ui(-5)),
        };
        let before = Contact::replay(&ada());
        let after = Contact::replay(&[ada(), vec![event]].concat());
        for other in ConsentScope::all().filter(|other| *other != scope) {
            prop_assert_eq!(after.consents.get(other), before.consents.get(other));
        }
        prop_assert_eq!(after.may_contact(scope), status == ConsentStatus::Granted);
    }
}

// --- field-level sync under the data dictionary ---------------------------------------------

mod sync {
    use std::collections::BTreeMap;

    use super::*;
    use crate::sync::{ContactRules, FieldPolicy, FieldRule, SyncRefusal, SyncRefusals};

    fn billing(minute: i64) -> Provenance {
        Provenance::new("billing", t0_plus_minutes(minute))
    }

    fn rules(field: ContactField, rule: FieldRule) -> ContactRules {
        BTreeMap::from([(field, rule)])
    }

    fn sync(
        changes: Vec<DetailChange>,
        provenance: Provenance,
        rules: ContactRules,
    ) -> ContactCommand {
        ContactCommand::Sync {
            changes,
            provenance,
            rules,
        }
    }

    fn sync_set(detail: Detail, provenance: Provenance, rules: ContactRules) -> ContactCommand {
        sync(vec![DetailChange::Set(detail)], provenance, rules)
    }

    fn outranked(detail: Detail, provenance: Provenance, kept: Provenance) -> ContactEvent {
        ContactEvent::SyncOutranked {
            detail,
            provenance,
            kept,
            at: t0(),
        }
    }

    fn conflict(detail: Detail, provenance: Provenance, current: Provenance) -> ContactEvent {
        ContactEvent::FieldConflictRaised {
            detail,
            provenance,
            current,
            at: t0(),
        }
    }

    fn resolved(field: ContactField, accepted: bool) -> ContactEvent {
        ContactEvent::FieldConflictResolved {
            field,
            accepted,
            by: alice(),
            at: t0(),
        }
    }

    fn stage(stage: LifecycleStage) -> Detail {
        Detail::LifecycleStage(Some(stage))
    }

    #[test]
    fn an_owned_field_refuses_every_other_source_and_the_whole_update_with_it() {
        let owned = rules(
            ContactField::LifecycleStage,
            FieldRule::new(FieldPolicy::OwnerOnly).owned_by("billing"),
        );
        given::<Contact>(&ada())
            .when(sync(
                vec![
                    DetailChange::Set(job_title("Engineer")),
                    DetailChange::Set(stage(LifecycleStage::Customer)),
                ],
                hubspot(0),
                owned.clone(),
            ))
            .then_error(&ContactError::SyncRefused(SyncRefusals(vec![
                SyncRefusal::NotOwner {
                    field: ContactField::LifecycleStage,
                    owner: "billing".to_owned(),
                    source_system: "hubspot".to_owned(),
                },
            ])));
        given::<Contact>(&ada())
            .when(sync_set(stage(LifecycleStage::Customer), billing(0), owned))
            .then(&[changed(stage(LifecycleStage::Customer), billing(0))]);
    }

    #[test]
    fn under_last_write_wins_the_later_source_time_wins_and_the_loser_is_kept() {
        let lww = rules(
            ContactField::JobTitle,
            FieldRule::new(FieldPolicy::LastWriteWins),
        );
        // HubSpot said "Analyst" at -50.
        given::<Contact>(&ada())
            .when(sync_set(job_title("Engineer"), billing(-55), lww.clone()))
            .then(&[outranked(job_title("Engineer"), billing(-55), hubspot(-50))]);
        given::<Contact>(&ada())
            .when(sync_set(job_title("Engineer"), billing(-45), lww))
            .then(&[changed(job_title("Engineer"), billing(-45))]);
    }

    #[test]
    fn under_source_precedence_rank_beats_time() {
        let ranked = rules(
            ContactField::JobTitle,
            FieldRule::new(FieldPolicy::SourcePrecedence {
                order: vec!["billing".to_owned(), "hubspot".to_owned()],
            }),
        );
        let mut history = ada();
        history.push(changed(job_title("Engineer"), billing(-58)));
        // HubSpot ranks below billing: later, it still loses.
        given::<Contact>(&history)
            .when(sync_set(job_title("CTO"), hubspot(0), ranked.clone()))
            .then(&[outranked(job_title("CTO"), hubspot(0), billing(-58))]);
        // An unlisted source ranks below both.
        given::<Contact>(&history)
            .when(sync_set(job_title("CTO"), ui(0), ranked.clone()))
            .then(&[outranked(job_title("CTO"), ui(0), billing(-58))]);
        // Billing over HubSpot, whatever the times.
        given::<Contact>(&ada())
            .when(sync_set(job_title("Engineer"), billing(-59), ranked))
            .then(&[changed(job_title("Engineer"), billing(-59))]);
    }

    #[test]
    fn an_empty_value_overwrites_only_where_the_rule_says_so() {
        let keeps = rules(
            ContactField::JobTitle,
            FieldRule::new(FieldPolicy::LastWriteWins),
        );
        given::<Contact>(&ada())
            .when(sync_set(Detail::JobTitle(None), billing(0), keeps))
            .then(&[]);
        let clears = rules(
            ContactField::JobTitle,
            FieldRule::new(FieldPolicy::LastWriteWins).clearing(),
        );
        given::<Contact>(&ada())
            .when(sync_set(Detail::JobTitle(None), billing(0), clears))
            .then(&[changed(Detail::JobTitle(None), billing(0))]);
    }

    #[test]
    fn a_source_resending_itself_or_arriving_late_leaves_no_trace() {
        let lww = rules(
            ContactField::JobTitle,
            FieldRule::new(FieldPolicy::LastWriteWins),
        );
        given::<Contact>(&ada())
            .when(sync_set(job_title("Analyst"), hubspot(-50), lww.clone()))
            .then(&[]);
        // Restated later, the value's time moves (another source competes by time).
        given::<Contact>(&ada())
            .when(sync_set(job_title("Analyst"), hubspot(-10), lww.clone()))
            .then(&[changed(job_title("Analyst"), hubspot(-10))]);
        given::<Contact>(&ada())
            .when(sync_set(job_title("Intern"), hubspot(-55), lww))
            .then(&[]);
    }

    #[test]
    fn under_manual_review_a_different_value_waits_for_a_person() {
        let review = rules(
            ContactField::JobTitle,
            FieldRule::new(FieldPolicy::ManualReview),
        );
        let raised = conflict(job_title("Engineer"), billing(0), hubspot(-50));
        let contact = given::<Contact>(&ada())
            .when(sync_set(job_title("Engineer"), billing(0), review.clone()))
            .then(std::slice::from_ref(&raised));
        assert_eq!(contact.details.job_title(), Some("Analyst"));
        assert_eq!(
            contact.conflicts.get(&ContactField::JobTitle),
            Some(&entry(job_title("Engineer"), billing(0)))
        );
        let mut history = ada();
        history.push(raised);
        // The same proposal again changes nothing; the owner of the value updates it freely.
        given::<Contact>(&history)
            .when(sync_set(job_title("Engineer"), billing(0), review.clone()))
            .then(&[]);
        given::<Contact>(&history)
            .when(sync_set(job_title("Lead"), hubspot(0), review))
            .then(&[changed(job_title("Lead"), hubspot(0))]);

        let accepted = given::<Contact>(&history)
            .when(ContactCommand::ResolveFieldConflict {
                field: ContactField::JobTitle,
                accept: true,
            })
            .then(&[
                changed(job_title("Engineer"), billing(0)),
                resolved(ContactField::JobTitle, true),
            ]);
        assert!(accepted.conflicts.is_empty());
        let rejected = given::<Contact>(&history)
            .when(ContactCommand::ResolveFieldConflict {
                field: ContactField::JobTitle,
                accept: false,
            })
            .then(&[resolved(ContactField::JobTitle, false)]);
        assert_eq!(rejected.details.job_title(), Some("Analyst"));
        given::<Contact>(&ada())
            .when(ContactCommand::ResolveFieldConflict {
                field: ContactField::JobTitle,
                accept: true,
            })
            .then_error(&ContactError::NoConflict {
                field: ContactField::JobTitle,
            });
    }

    #[test]
    fn ungoverned_fields_and_contact_points_follow_the_plain_rules() {
        given::<Contact>(&ada())
            .when(sync(
                vec![
                    DetailChange::Set(job_title("Engineer")),
                    DetailChange::AddPhone(phone("020 7946 0000")),
                ],
                billing(-59),
                ContactRules::new(),
            ))
            .then(&[
                changed(job_title("Engineer"), billing(-59)),
                phone_added("020 7946 0000", billing(-59)),
            ]);
    }

    #[test]
    fn a_synced_primary_email_is_added_as_an_address_too() {
        let lww = rules(
            ContactField::PrimaryEmail,
            FieldRule::new(FieldPolicy::LastWriteWins),
        );
        given::<Contact>(&ada())
            .when(sync_set(
                Detail::PrimaryEmail(Some(email("ada@billing.example"))),
                billing(0),
                lww,
            ))
            .then(&[
                email_added("ada@billing.example", billing(0)),
                primary_chosen("ada@billing.example", billing(0)),
            ]);
    }

    #[test]
    fn the_new_facts_hold_personal_values_under_the_contacts_key_and_survive_a_round_trip() {
        let events = [
            outranked(job_title("CTO"), hubspot(0), billing(-58)),
            conflict(job_title("Engineer"), billing(0), hubspot(-50)),
            resolved(ContactField::JobTitle, true),
        ];
        for event in &events {
            let encoded = encode(event).unwrap();
            assert_eq!(
                &decode::<ContactEvent>(encoded.event_type, 1, encoded.payload.clone()).unwrap(),
                event
            );
        }
        assert_eq!(events[0].personal_fields(), ["/detail/value"]);
        assert_eq!(events[1].personal_fields(), ["/detail/value"]);
        assert!(events[2].personal_fields().is_empty());
    }
}

// --- ids in connected systems ---------------------------------------------------------------

mod external_ids {
    use super::*;

    fn billing(id: &str) -> ExternalId {
        ExternalId::new("billing", id).unwrap()
    }

    fn linked(id: &str) -> ContactEvent {
        ContactEvent::ExternalIdLinked {
            external: Some(billing(id)),
            at: t0(),
        }
    }

    #[test]
    fn an_id_is_linked_once_and_unlinked_once() {
        let contact = given::<Contact>(&ada())
            .when(ContactCommand::LinkExternalId(billing(" C-1001 ")))
            .then(&[linked("C-1001")]);
        assert!(contact.external_ids.contains(&billing("C-1001")));
        let mut history = ada();
        history.push(linked("C-1001"));
        given::<Contact>(&history)
            .when(ContactCommand::LinkExternalId(billing("C-1001")))
            .then(&[]);
        let contact = given::<Contact>(&history)
            .when(ContactCommand::UnlinkExternalId(billing("C-1001")))
            .then(&[ContactEvent::ExternalIdUnlinked {
                external: Some(billing("C-1001")),
                at: t0(),
            }]);
        assert!(contact.external_ids.is_empty());
        given::<Contact>(&ada())
            .when(ContactCommand::UnlinkExternalId(billing("C-1001")))
            .then(&[]);
    }

    #[test]
    fn an_empty_long_or_control_id_is_refused() {
        for (system, id, what) in [
            ("billing", " ", "id"),
            ("", "C-1", "system"),
            ("billing", "C-\u{7}", "id"),
            ("billing", &"9".repeat(201), "id"),
        ] {
            assert_eq!(
                ExternalId::new(system, id),
                Err(ContactError::InvalidExternalId { what })
            );
            let raw = ExternalId {
                system: system.to_owned(),
                id: id.to_owned(),
            };
            given::<Contact>(&ada())
                .when(ContactCommand::LinkExternalId(raw))
                .then_error(&ContactError::InvalidExternalId { what });
        }
    }

    #[test]
    fn an_absorbed_contact_keeps_taking_ids_and_an_erased_one_drops_them() {
        let mut history = ada();
        history.push(linked("C-1001"));
        history.push(merged_into(DUPLICATE));
        let absorbed = given::<Contact>(&history)
            .when(ContactCommand::LinkExternalId(billing("C-2002")))
            .then(&[linked("C-2002")]);
        assert_eq!(absorbed.external_ids.len(), 2);
        history.push(erased(ADA));
        let erased_contact = Contact::replay(&history);
        assert!(erased_contact.external_ids.is_empty());
        given::<Contact>(&history)
            .when(ContactCommand::LinkExternalId(billing("C-3003")))
            .then_error(&ContactError::Erased { id: ADA });
    }

    #[test]
    fn the_id_is_the_persons_data_and_reads_as_absent_once_erased() {
        let event = linked("C-1001");
        assert_eq!(event.personal_fields(), ["/external"]);
        let encoded = encode(&event).unwrap();
        assert_eq!(
            decode::<ContactEvent>(encoded.event_type, 1, encoded.payload.clone()).unwrap(),
            event
        );
        let mut erased_payload = encoded.payload;
        erased_payload["external"] = serde_json::json!({ "$erased": true });
        assert_eq!(
            decode::<ContactEvent>(encoded.event_type, 1, erased_payload).unwrap(),
            ContactEvent::ExternalIdLinked {
                external: None,
                at: t0(),
            }
        );
    }
}
