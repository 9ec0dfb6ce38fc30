use proptest::prelude::*;
use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::identity::{CountryCode, EmailAddress, PersonName, PhoneNumber};
use crate::ids::{AccountId, ContactId, OpportunityId, TicketId};
use crate::testing::{ALICE, BOB, SEED, context_at, given, t0, t0_plus_minutes};
use crate::{decode, encode};

const CALL: ActivityId = ActivityId(Uuid::from_u128(0xca11));
const LEAD: LeadId = LeadId(Uuid::from_u128(0x1ead));
const OTHER_LEAD: LeadId = LeadId(Uuid::from_u128(0x1eae));
const ADA: ContactId = ContactId(Uuid::from_u128(0xada));
const ENGINES: AccountId = AccountId::from_uuid(Uuid::from_u128(0xe1e1));
const DEAL: OpportunityId = OpportunityId(Uuid::from_u128(0xdea1));
const TICKET: TicketId = TicketId(Uuid::from_u128(0x71ce7));

// Builders: each reads as the fact it records.

fn alice() -> Actor {
    Actor::User { id: ALICE }
}

fn mail_sync() -> Actor {
    Actor::Integration {
        source: "mail-sync".into(),
    }
}

fn sequencer() -> Actor {
    Actor::Automation {
        rule: "nurture-sequence".into(),
    }
}

/// Alice deciding `minutes` after t0.
fn alice_at(minutes: i64) -> Context {
    context_at(t0_plus_minutes(minutes))
}

fn as_actor(actor: Actor, minutes: i64) -> Context {
    Context::new(t0_plus_minutes(minutes), actor, SEED)
}

fn ada_in_person() -> Participant {
    Participant {
        contact: Some(ADA),
        name: Some(PersonName::new("Ada Lovelace").unwrap()),
        email: Some(EmailAddress::parse("ada@engines.example").unwrap()),
        phone: Some(
            PhoneNumber::parse("+44 20 7946 0958", CountryCode::new("GB").unwrap()).unwrap(),
        ),
    }
}

/// An outbound call to the lead, five minutes before t0, that got through.
fn call() -> NewActivity {
    NewActivity {
        activity: CALL,
        kind: ActivityKind::Call,
        records: vec![RecordRef::Lead(LEAD)],
        occurred_at: t0_plus_minutes(-5),
        duration_seconds: Some(300),
        direction: Some(Direction::Outbound),
        participants: vec![],
        outcome: Some(ActivityOutcome::Connected),
        subject: None,
        body: None,
        performed_by: None,
    }
}

/// What logging `new` at t0 as Alice records.
fn logged(new: &NewActivity) -> ActivityEvent {
    ActivityEvent::Logged {
        activity: new.activity,
        kind: new.kind,
        records: new.records.clone(),
        occurred_at: new.occurred_at,
        duration_seconds: new.duration_seconds,
        direction: new.direction,
        participants: new.participants.clone(),
        outcome: new.outcome,
        subject: new.subject.clone(),
        body: new.body.clone(),
        performed_by: Some(new.performed_by.unwrap_or(ALICE)),
        by: alice(),
        at: t0(),
    }
}

fn amended(change: ActivityChange, minutes: i64) -> ActivityEvent {
    ActivityEvent::Amended {
        change,
        by: alice(),
        at: t0_plus_minutes(minutes),
    }
}

fn cancelled(minutes: i64) -> ActivityEvent {
    ActivityEvent::Cancelled {
        reason: CancellationReason::LoggedInError,
        by: alice(),
        at: t0_plus_minutes(minutes),
    }
}

/// A note about the account, which names no person.
fn account_note() -> NewActivity {
    NewActivity {
        activity: CALL,
        kind: ActivityKind::Note,
        records: vec![RecordRef::Account(ENGINES)],
        occurred_at: t0(),
        duration_seconds: None,
        direction: None,
        participants: vec![],
        outcome: None,
        subject: None,
        body: None,
        performed_by: None,
    }
}

fn refused(new: NewActivity, error: &ActivityError) {
    given::<Activity>(&[])
        .when(ActivityCommand::Log(new))
        .then_error(error);
}

fn entry(activity: &Activity) -> &ActivityEntry {
    activity.entry.as_ref().unwrap()
}

// Logging.

#[test]
fn logging_a_call_records_it_performed_by_the_acting_user() {
    let activity = given::<Activity>(&[])
        .when(ActivityCommand::Log(call()))
        .then(&[logged(&call())]);
    let entry = entry(&activity);
    assert_eq!(entry.performed_by, Some(ALICE));
    assert_eq!(entry.logged_by, alice());
    assert_eq!(entry.occurred_at, t0_plus_minutes(-5));
    assert_eq!(activity.data_subject(), Some(DataSubject::Lead(LEAD)));
}

#[test]
fn logging_drops_repeated_records_and_trims_the_texts() {
    let new = NewActivity {
        records: vec![
            RecordRef::Opportunity(DEAL),
            RecordRef::Contact(ADA),
            RecordRef::Opportunity(DEAL),
        ],
        participants: vec![ada_in_person()],
        subject: Some("  Renewal terms ".into()),
        body: Some("\nShe wants a three-year term.\n".into()),
        ..call()
    };
    let tidy = NewActivity {
        records: vec![RecordRef::Opportunity(DEAL), RecordRef::Contact(ADA)],
        subject: Some("Renewal terms".into()),
        body: Some("She wants a three-year term.".into()),
        ..new.clone()
    };
    let activity = given::<Activity>(&[])
        .when(ActivityCommand::Log(new))
        .then(&[logged(&tidy)]);
    assert_eq!(activity.data_subject(), Some(DataSubject::Contact(ADA)));
}

#[test]
fn the_data_subject_is_the_first_lead_or_contact_named() {
    let new = NewActivity {
        records: vec![
            RecordRef::Ticket(TICKET),
            RecordRef::Lead(OTHER_LEAD),
            RecordRef::Contact(ADA),
        ],
        ..call()
    };
    let activity = given::<Activity>(&[])
        .when(ActivityCommand::Log(new.clone()))
        .then(&[logged(&new)]);
    assert_eq!(activity.data_subject(), Some(DataSubject::Lead(OTHER_LEAD)));
}

#[test]
fn an_activity_logged_by_an_automation_names_no_performer_unless_given() {
    let activity = given::<Activity>(&[])
        .at(as_actor(sequencer(), 0))
        .when(ActivityCommand::Log(call()))
        .result()
        .unwrap();
    let [ActivityEvent::Logged { performed_by, .. }] = activity.as_slice() else {
        panic!("expected one logging: {activity:?}");
    };
    assert_eq!(*performed_by, None);
    let on_behalf = given::<Activity>(&[])
        .at(as_actor(mail_sync(), 0))
        .when(ActivityCommand::Log(NewActivity {
            performed_by: Some(BOB),
            ..call()
        }))
        .result()
        .unwrap();
    assert!(matches!(
        on_behalf.as_slice(),
        [ActivityEvent::Logged { performed_by: Some(BOB), by, .. }] if *by == mail_sync()
    ));
}

#[test]
fn logging_an_activity_twice_is_refused() {
    given::<Activity>(&[logged(&call())])
        .when(ActivityCommand::Log(call()))
        .then_error(&ActivityError::AlreadyLogged { id: CALL });
}

#[test]
fn an_activity_on_no_record_is_refused() {
    refused(
        NewActivity {
            records: vec![],
            ..call()
        },
        &ActivityError::NoRecord,
    );
}

#[test]
fn an_activity_on_too_many_records_is_refused() {
    let records = (0..=MAX_RECORDS)
        .map(|n| RecordRef::Ticket(TicketId(Uuid::from_u128(n as u128))))
        .collect();
    refused(
        NewActivity { records, ..call() },
        &ActivityError::TooManyRecords { max: MAX_RECORDS },
    );
}

#[test]
fn a_call_or_an_email_without_a_direction_is_refused() {
    for kind in [ActivityKind::Call, ActivityKind::Email] {
        refused(
            NewActivity {
                kind,
                direction: None,
                duration_seconds: None,
                outcome: None,
                ..call()
            },
            &ActivityError::DirectionRequired { kind },
        );
    }
}

#[test]
fn a_meeting_or_a_note_with_a_direction_is_refused() {
    for kind in [ActivityKind::Meeting, ActivityKind::Note] {
        refused(
            NewActivity {
                kind,
                duration_seconds: None,
                outcome: None,
                ..call()
            },
            &ActivityError::DirectionNotApplicable { kind },
        );
    }
}

#[test]
fn an_email_or_a_note_with_a_duration_is_refused() {
    refused(
        NewActivity {
            kind: ActivityKind::Email,
            outcome: None,
            ..call()
        },
        &ActivityError::DurationNotApplicable {
            kind: ActivityKind::Email,
        },
    );
    refused(
        NewActivity {
            duration_seconds: Some(60),
            ..account_note()
        },
        &ActivityError::DurationNotApplicable {
            kind: ActivityKind::Note,
        },
    );
}

#[test]
fn a_duration_longer_than_a_week_is_refused() {
    refused(
        NewActivity {
            duration_seconds: Some(MAX_DURATION_SECONDS + 1),
            ..call()
        },
        &ActivityError::DurationTooLong {
            max_seconds: MAX_DURATION_SECONDS,
        },
    );
}

#[test]
fn an_outcome_of_another_kind_of_activity_is_refused() {
    refused(
        NewActivity {
            outcome: Some(ActivityOutcome::NoShow),
            ..call()
        },
        &ActivityError::OutcomeNotApplicable {
            kind: ActivityKind::Call,
            outcome: ActivityOutcome::NoShow,
        },
    );
}

#[test]
fn an_activity_dated_after_now_is_refused_beyond_the_tolerance() {
    refused(
        NewActivity {
            occurred_at: t0_plus_minutes(6),
            ..call()
        },
        &ActivityError::OccurredInFuture {
            occurred_at: t0_plus_minutes(6),
            now: t0(),
        },
    );
    let within = NewActivity {
        occurred_at: t0_plus_minutes(5),
        ..call()
    };
    given::<Activity>(&[])
        .when(ActivityCommand::Log(within.clone()))
        .then(&[logged(&within)]);
}

#[test]
fn blank_or_overlong_texts_are_refused() {
    let with_person = |subject: Option<String>, body: Option<String>| NewActivity {
        subject,
        body,
        ..call()
    };
    refused(
        with_person(Some(" ".into()), None),
        &ActivityError::BlankSubject,
    );
    refused(
        with_person(None, Some("\n\t".into())),
        &ActivityError::BlankBody,
    );
    refused(
        with_person(Some("s".repeat(MAX_SUBJECT_CHARS + 1)), None),
        &ActivityError::SubjectTooLong {
            max: MAX_SUBJECT_CHARS,
        },
    );
    refused(
        with_person(None, Some("b".repeat(MAX_BODY_CHARS + 1))),
        &ActivityError::BodyTooLong {
            max: MAX_BODY_CHARS,
        },
    );
}

#[test]
fn a_participant_about_whom_nothing_is_known_is_refused() {
    let nobody = Participant {
        contact: None,
        name: None,
        email: None,
        phone: None,
    };
    refused(
        NewActivity {
            participants: vec![nobody],
            ..call()
        },
        &ActivityError::EmptyParticipant,
    );
}

#[test]
fn more_participants_than_the_limit_are_refused() {
    refused(
        NewActivity {
            participants: vec![Participant::contact(ADA); MAX_PARTICIPANTS + 1],
            ..call()
        },
        &ActivityError::TooManyParticipants {
            max: MAX_PARTICIPANTS,
        },
    );
}

#[test]
fn personal_data_on_an_activity_that_names_no_person_is_refused() {
    refused(
        NewActivity {
            body: Some("Their CFO, Ada, is on leave until May.".into()),
            ..account_note()
        },
        &ActivityError::NoDataSubject,
    );
    refused(
        NewActivity {
            participants: vec![ada_in_person()],
            records: vec![RecordRef::Opportunity(DEAL)],
            ..call()
        },
        &ActivityError::NoDataSubject,
    );
}

#[test]
fn an_activity_without_personal_data_may_name_no_person() {
    let new = NewActivity {
        records: vec![RecordRef::Account(ENGINES), RecordRef::Opportunity(DEAL)],
        ..call()
    };
    let activity = given::<Activity>(&[])
        .when(ActivityCommand::Log(new.clone()))
        .then(&[logged(&new)]);
    assert_eq!(activity.data_subject(), None);
    assert!(logged(&new).personal_fields().is_empty());
}

#[test]
fn a_note_about_a_company_is_logged_on_the_account_and_the_contact_it_concerns() {
    let new = NewActivity {
        records: vec![RecordRef::Account(ENGINES), RecordRef::Contact(ADA)],
        body: Some("Budget frozen until Q3, says Ada.".into()),
        ..account_note()
    };
    let activity = given::<Activity>(&[])
        .when(ActivityCommand::Log(new.clone()))
        .then(&[logged(&new)]);
    assert_eq!(activity.data_subject(), Some(DataSubject::Contact(ADA)));
}

// Touches.

fn touch_of(new: &NewActivity) -> Option<Touch> {
    logged(new).touch()
}

#[test]
fn an_outbound_call_on_a_lead_is_a_touch() {
    assert_eq!(
        touch_of(&call()),
        Some(Touch {
            leads: vec![LEAD],
            channel: Channel::Phone,
            by: ALICE,
            occurred_at: t0_plus_minutes(-5),
        })
    );
}

#[test]
fn an_unanswered_outbound_call_is_a_touch_too() {
    for outcome in [
        ActivityOutcome::NoAnswer,
        ActivityOutcome::LeftVoicemail,
        ActivityOutcome::Busy,
    ] {
        assert!(
            logged(&NewActivity {
                outcome: Some(outcome),
                ..call()
            })
            .is_touch()
        );
    }
}

#[test]
fn an_outbound_email_on_a_lead_is_a_touch_even_if_it_bounced() {
    let email = NewActivity {
        kind: ActivityKind::Email,
        duration_seconds: None,
        outcome: Some(ActivityOutcome::Bounced),
        ..call()
    };
    assert_eq!(
        touch_of(&email).map(|touch| touch.channel),
        Some(Channel::Email)
    );
}

#[test]
fn an_inbound_call_is_a_touch_only_when_answered() {
    let inbound = |outcome| NewActivity {
        direction: Some(Direction::Inbound),
        outcome,
        ..call()
    };
    assert!(touch_of(&inbound(Some(ActivityOutcome::Connected))).is_some());
    assert!(touch_of(&inbound(None)).is_some());
    assert!(touch_of(&inbound(Some(ActivityOutcome::NoAnswer))).is_none());
    assert!(touch_of(&inbound(Some(ActivityOutcome::LeftVoicemail))).is_none());
}

#[test]
fn an_inbound_email_is_not_a_touch() {
    assert!(
        touch_of(&NewActivity {
            kind: ActivityKind::Email,
            direction: Some(Direction::Inbound),
            duration_seconds: None,
            outcome: None,
            ..call()
        })
        .is_none()
    );
}

#[test]
fn meetings_and_notes_on_a_lead_are_not_touches() {
    let meeting = NewActivity {
        kind: ActivityKind::Meeting,
        direction: None,
        outcome: Some(ActivityOutcome::Held),
        ..call()
    };
    let note = NewActivity {
        records: vec![RecordRef::Lead(LEAD)],
        ..account_note()
    };
    assert!(touch_of(&meeting).is_none());
    assert!(touch_of(&note).is_none());
}

#[test]
fn a_call_that_names_no_lead_is_not_a_touch() {
    assert!(
        touch_of(&NewActivity {
            records: vec![RecordRef::Contact(ADA), RecordRef::Account(ENGINES)],
            ..call()
        })
        .is_none()
    );
}

#[test]
fn a_call_no_user_performed_is_not_a_touch() {
    let by_automation = given::<Activity>(&[])
        .at(as_actor(sequencer(), 0))
        .when(ActivityCommand::Log(call()))
        .result()
        .unwrap();
    assert!(!by_automation.iter().any(ActivityEvent::is_touch));
}

#[test]
fn a_touch_names_every_lead_the_activity_names() {
    let touch = touch_of(&NewActivity {
        records: vec![
            RecordRef::Lead(LEAD),
            RecordRef::Account(ENGINES),
            RecordRef::Lead(OTHER_LEAD),
        ],
        ..call()
    });
    assert_eq!(touch.map(|touch| touch.leads), Some(vec![LEAD, OTHER_LEAD]));
}

#[test]
fn amendments_and_cancellations_are_never_touches() {
    assert!(!amended(ActivityChange::Direction(Direction::Outbound), 1).is_touch());
    assert!(!cancelled(1).is_touch());
}

// Amending.

#[test]
fn amending_records_one_event_per_changed_field() {
    let activity = given::<Activity>(&[logged(&call())])
        .at(alice_at(10))
        .when(ActivityCommand::Amend {
            changes: vec![
                ActivityChange::DurationSeconds(Some(420)),
                ActivityChange::Outcome(Some(ActivityOutcome::Connected)),
                ActivityChange::Subject(Some(" Pricing questions ".into())),
            ],
        })
        .then(&[
            amended(ActivityChange::DurationSeconds(Some(420)), 10),
            amended(
                ActivityChange::Subject(Some("Pricing questions".into())),
                10,
            ),
        ]);
    assert_eq!(entry(&activity).duration_seconds, Some(420));
    assert_eq!(
        entry(&activity).subject.as_deref(),
        Some("Pricing questions")
    );
}

#[test]
fn amending_to_the_values_held_records_nothing() {
    given::<Activity>(&[logged(&call())])
        .when(ActivityCommand::Amend {
            changes: vec![
                ActivityChange::Direction(Direction::Outbound),
                ActivityChange::Records(vec![RecordRef::Lead(LEAD), RecordRef::Lead(LEAD)]),
            ],
        })
        .then(&[]);
}

#[test]
fn amending_when_it_happened_records_the_new_time() {
    given::<Activity>(&[logged(&call())])
        .at(alice_at(10))
        .when(ActivityCommand::Amend {
            changes: vec![ActivityChange::OccurredAt(t0_plus_minutes(-30))],
        })
        .then(&[amended(
            ActivityChange::OccurredAt(t0_plus_minutes(-30)),
            10,
        )]);
}

#[test]
fn amending_when_it_happened_to_the_future_is_refused() {
    given::<Activity>(&[logged(&call())])
        .at(alice_at(10))
        .when(ActivityCommand::Amend {
            changes: vec![ActivityChange::OccurredAt(t0_plus_minutes(60))],
        })
        .then_error(&ActivityError::OccurredInFuture {
            occurred_at: t0_plus_minutes(60),
            now: t0_plus_minutes(10),
        });
}

#[test]
fn amending_the_participants_replaces_the_list() {
    let activity = given::<Activity>(&[logged(&call())])
        .at(alice_at(10))
        .when(ActivityCommand::Amend {
            changes: vec![ActivityChange::Participants(vec![ada_in_person()])],
        })
        .then(&[amended(
            ActivityChange::Participants(vec![ada_in_person()]),
            10,
        )]);
    assert_eq!(entry(&activity).participants, vec![ada_in_person()]);
}

#[test]
fn an_amendment_is_checked_as_a_whole_after_its_changes() {
    given::<Activity>(&[logged(&call())])
        .when(ActivityCommand::Amend {
            changes: vec![ActivityChange::Outcome(Some(ActivityOutcome::Held))],
        })
        .then_error(&ActivityError::OutcomeNotApplicable {
            kind: ActivityKind::Call,
            outcome: ActivityOutcome::Held,
        });
    given::<Activity>(&[logged(&account_note())])
        .when(ActivityCommand::Amend {
            changes: vec![ActivityChange::Direction(Direction::Inbound)],
        })
        .then_error(&ActivityError::DirectionNotApplicable {
            kind: ActivityKind::Note,
        });
    given::<Activity>(&[logged(&call())])
        .when(ActivityCommand::Amend {
            changes: vec![ActivityChange::Records(vec![])],
        })
        .then_error(&ActivityError::NoRecord);
}

#[test]
fn removing_the_record_the_data_subject_came_from_is_refused() {
    given::<Activity>(&[logged(&call())])
        .when(ActivityCommand::Amend {
            changes: vec![ActivityChange::Records(vec![
                RecordRef::Contact(ADA),
                RecordRef::Opportunity(DEAL),
            ])],
        })
        .then_error(&ActivityError::DataSubjectRecordRemoved {
            record: RecordRef::Lead(LEAD),
        });
}

#[test]
fn naming_a_person_later_gives_the_activity_its_data_subject() {
    let new_records = vec![RecordRef::Account(ENGINES), RecordRef::Contact(ADA)];
    let activity = given::<Activity>(&[logged(&account_note())])
        .at(alice_at(10))
        .when(ActivityCommand::Amend {
            changes: vec![
                ActivityChange::Records(new_records.clone()),
                ActivityChange::Body(Some("Budget frozen until Q3.".into())),
            ],
        })
        .then(&[
            amended(ActivityChange::Records(new_records), 10),
            amended(
                ActivityChange::Body(Some("Budget frozen until Q3.".into())),
                10,
            ),
        ]);
    assert_eq!(activity.data_subject(), Some(DataSubject::Contact(ADA)));
}

#[test]
fn the_data_subject_never_changes_once_named() {
    let reordered = vec![RecordRef::Contact(ADA), RecordRef::Lead(LEAD)];
    let activity = given::<Activity>(&[logged(&call())])
        .at(alice_at(10))
        .when(ActivityCommand::Amend {
            changes: vec![ActivityChange::Records(reordered.clone())],
        })
        .then(&[amended(ActivityChange::Records(reordered), 10)]);
    assert_eq!(activity.data_subject(), Some(DataSubject::Lead(LEAD)));
}

#[test]
fn personal_data_amended_onto_an_activity_that_names_no_person_is_refused() {
    given::<Activity>(&[logged(&account_note())])
        .when(ActivityCommand::Amend {
            changes: vec![ActivityChange::Subject(Some("Call with Ada".into()))],
        })
        .then_error(&ActivityError::NoDataSubject);
}

#[test]
fn personal_data_set_and_cleared_in_one_amendment_still_needs_a_person() {
    given::<Activity>(&[logged(&account_note())])
        .when(ActivityCommand::Amend {
            changes: vec![
                ActivityChange::Body(Some("Ada is on leave.".into())),
                ActivityChange::Body(None),
            ],
        })
        .then_error(&ActivityError::NoDataSubject);
}

#[test]
fn personal_data_amended_before_the_person_is_named_is_keyed_to_them() {
    let records = vec![RecordRef::Account(ENGINES), RecordRef::Contact(ADA)];
    let activity = given::<Activity>(&[logged(&account_note())])
        .at(alice_at(10))
        .when(ActivityCommand::Amend {
            changes: vec![
                ActivityChange::Body(Some("Budget frozen until Q3.".into())),
                ActivityChange::Records(records.clone()),
            ],
        })
        .then(&[
            amended(
                ActivityChange::Body(Some("Budget frozen until Q3.".into())),
                10,
            ),
            amended(ActivityChange::Records(records), 10),
        ]);
    assert_eq!(activity.data_subject(), Some(DataSubject::Contact(ADA)));
}

#[test]
fn amending_an_activity_never_logged_is_refused() {
    given::<Activity>(&[])
        .when(ActivityCommand::Amend { changes: vec![] })
        .then_error(&ActivityError::NotFound);
}

// Cancelling.

#[test]
fn cancelling_records_why() {
    let activity = given::<Activity>(&[logged(&call())])
        .at(alice_at(10))
        .when(ActivityCommand::Cancel {
            reason: CancellationReason::LoggedInError,
        })
        .then(&[cancelled(10)]);
    assert!(activity.is_cancelled());
}

#[test]
fn cancelling_a_cancelled_activity_records_nothing() {
    given::<Activity>(&[logged(&call()), cancelled(10)])
        .when(ActivityCommand::Cancel {
            reason: CancellationReason::Duplicate,
        })
        .then(&[]);
}

#[test]
fn a_cancelled_activity_refuses_amendments() {
    given::<Activity>(&[logged(&call()), cancelled(10)])
        .when(ActivityCommand::Amend {
            changes: vec![ActivityChange::DurationSeconds(None)],
        })
        .then_error(&ActivityError::Cancelled { id: CALL });
}

#[test]
fn cancelling_an_activity_never_logged_is_refused() {
    given::<Activity>(&[])
        .when(ActivityCommand::Cancel {
            reason: CancellationReason::DidNotHappen,
        })
        .then_error(&ActivityError::NotFound);
}

// Personal data.

#[test]
fn participants_subject_and_body_are_declared_personal() {
    let personal = logged(&NewActivity {
        participants: vec![ada_in_person()],
        subject: Some("Renewal".into()),
        ..call()
    });
    assert_eq!(
        personal.personal_fields(),
        &["/participants", "/subject", "/body"]
    );
    for change in [
        ActivityChange::Subject(None),
        ActivityChange::Body(Some("x".into())),
        ActivityChange::Participants(vec![]),
    ] {
        assert_eq!(amended(change, 1).personal_fields(), &["/change/value"]);
    }
    assert!(
        amended(ActivityChange::DurationSeconds(None), 1)
            .personal_fields()
            .is_empty()
    );
    assert!(cancelled(1).personal_fields().is_empty());
}

#[test]
fn erased_personal_fields_read_back_empty() {
    let personal = logged(&NewActivity {
        participants: vec![ada_in_person()],
        subject: Some("Renewal".into()),
        body: Some("Ada wants a discount.".into()),
        ..call()
    });
    let encoded = encode(&personal).unwrap();
    let mut payload = encoded.payload;
    for pointer in personal.personal_fields() {
        *payload.pointer_mut(pointer).unwrap() = json!({"$erased": true});
    }
    let read: ActivityEvent = decode(encoded.event_type, 1, payload).unwrap();
    assert_eq!(read, logged(&call()));

    let participants = amended(ActivityChange::Participants(vec![ada_in_person()]), 1);
    let encoded = encode(&participants).unwrap();
    let mut payload = encoded.payload;
    *payload.pointer_mut("/change/value").unwrap() = json!({"$erased": true});
    let read: ActivityEvent = decode(encoded.event_type, 1, payload).unwrap();
    assert_eq!(read, amended(ActivityChange::Participants(vec![]), 1));
}

#[test]
fn errors_read_as_sentences() {
    assert_eq!(
        ActivityError::DirectionRequired {
            kind: ActivityKind::Email
        }
        .to_string(),
        "emails need a direction (inbound or outbound)"
    );
    assert_eq!(
        ActivityError::DataSubjectRecordRemoved {
            record: RecordRef::Lead(LEAD)
        }
        .to_string(),
        format!(
            "lead-{} holds the key to this activity's personal data and cannot be removed",
            LEAD.0
        )
    );
}

// Properties.

fn arb_actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        4 => prop::sample::select(vec![ALICE, BOB]).prop_map(|id| Actor::User { id }),
        1 => Just(mail_sync()),
        1 => Just(sequencer()),
    ]
}

fn arb_record() -> impl Strategy<Value = RecordRef> {
    prop::sample::select(vec![
        RecordRef::Lead(LEAD),
        RecordRef::Lead(OTHER_LEAD),
        RecordRef::Contact(ADA),
        RecordRef::Account(ENGINES),
        RecordRef::Opportunity(DEAL),
        RecordRef::Ticket(TICKET),
    ])
}

fn arb_records() -> impl Strategy<Value = Vec<RecordRef>> {
    proptest::collection::vec(arb_record(), 0..4)
}

fn arb_participants() -> impl Strategy<Value = Vec<Participant>> {
    proptest::collection::vec(
        prop_oneof![
            3 => Just(ada_in_person()),
            3 => Just(Participant::contact(ADA)),
            1 => Just(Participant { contact: None, name: None, email: None, phone: None }),
        ],
        0..3,
    )
}

fn arb_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        8 => "[A-Za-z][A-Za-z ,.?!]{0,30}",
        1 => "[ \t\n]{0,3}",
        1 => "\\PC{1,20}",
    ])
}

fn arb_duration() -> impl Strategy<Value = Option<u32>> {
    proptest::option::of(prop_oneof![0u32..7200, Just(MAX_DURATION_SECONDS + 1)])
}

fn arb_new_activity() -> impl Strategy<Value = NewActivity> {
    (
        prop::sample::select(ActivityKind::ALL.to_vec()),
        arb_records(),
        -120i64..10,
        arb_duration(),
        proptest::option::of(prop::sample::select(vec![
            Direction::Inbound,
            Direction::Outbound,
        ])),
        arb_participants(),
        proptest::option::of(prop::sample::select(ActivityOutcome::ALL.to_vec())),
        (arb_text(), arb_text()),
        (
            proptest::option::of(prop::sample::select(vec![ALICE, BOB])),
            proptest::bool::weighted(0.8),
        ),
    )
        .prop_map(
            |(
                kind,
                records,
                minutes,
                mut duration_seconds,
                mut direction,
                participants,
                mut outcome,
                (subject, body),
                (performed_by, coherent),
            )| {
                // Mostly fields that fit the kind, so that most loggings are accepted and the
                // commands after them meet an activity.
                if coherent {
                    if !kind.has_direction() {
                        direction = None;
                    } else if direction.is_none() {
                        direction = Some(Direction::Outbound);
                    }
                    duration_seconds = duration_seconds.filter(|_| kind.has_duration());
                    outcome = outcome.filter(|outcome| outcome.applies_to(kind));
                }
                NewActivity {
                    activity: CALL,
                    kind,
                    records,
                    occurred_at: t0_plus_minutes(minutes),
                    duration_seconds,
                    direction,
                    participants,
                    outcome,
                    subject,
                    body,
                    performed_by,
                }
            },
        )
}

fn arb_change() -> impl Strategy<Value = ActivityChange> {
    prop_oneof![
        (-120i64..200).prop_map(|minutes| ActivityChange::OccurredAt(t0_plus_minutes(minutes))),
        arb_duration().prop_map(ActivityChange::DurationSeconds),
        prop::sample::select(vec![Direction::Inbound, Direction::Outbound])
            .prop_map(ActivityChange::Direction),
        proptest::option::of(prop::sample::select(ActivityOutcome::ALL.to_vec()))
            .prop_map(ActivityChange::Outcome),
        arb_records().prop_map(ActivityChange::Records),
        arb_text().prop_map(ActivityChange::Subject),
        arb_text().prop_map(ActivityChange::Body),
        arb_participants().prop_map(ActivityChange::Participants),
    ]
}

fn arb_command() -> impl Strategy<Value = ActivityCommand> {
    prop_oneof![
        1 => arb_new_activity().prop_map(ActivityCommand::Log),
        6 => proptest::collection::vec(arb_change(), 0..4)
            .prop_map(|changes| ActivityCommand::Amend { changes }),
        1 => prop::sample::select(vec![
            CancellationReason::LoggedInError,
            CancellationReason::Duplicate,
            CancellationReason::DidNotHappen,
        ])
        .prop_map(|reason| ActivityCommand::Cancel { reason }),
    ]
}

/// Commands with their contexts, a minute apart; most start by logging (which may still be
/// refused), so that most later commands meet an activity.
fn arb_steps(max: usize) -> impl Strategy<Value = Vec<(ActivityCommand, Context)>> {
    let opening = proptest::option::weighted(0.9, arb_new_activity());
    let rest = proptest::collection::vec((arb_command(), arb_actor()), 0..max);
    (opening, rest).prop_map(|(opening, rest)| {
        let opening = opening.map(|new| (ActivityCommand::Log(new), alice_at(0)));
        let rest = (1..)
            .zip(rest)
            .map(|(minutes, (command, actor))| (command, as_actor(actor, minutes)));
        opening.into_iter().chain(rest).collect()
    })
}

/// Any event at all, including ones `decide` would never emit.
fn arb_event() -> impl Strategy<Value = ActivityEvent> {
    prop_oneof![
        (arb_new_activity(), arb_actor()).prop_map(|(new, by)| ActivityEvent::Logged {
            activity: new.activity,
            kind: new.kind,
            records: new.records,
            occurred_at: new.occurred_at,
            duration_seconds: new.duration_seconds,
            direction: new.direction,
            participants: new.participants,
            outcome: new.outcome,
            subject: new.subject,
            body: new.body,
            performed_by: new.performed_by,
            by,
            at: t0(),
        }),
        (arb_change(), arb_actor(), 0i64..100).prop_map(|(change, by, minutes)| {
            ActivityEvent::Amended {
                change,
                by,
                at: t0_plus_minutes(minutes),
            }
        }),
        (arb_actor(), 0i64..100).prop_map(|(by, minutes)| ActivityEvent::Cancelled {
            reason: CancellationReason::Duplicate,
            by,
            at: t0_plus_minutes(minutes),
        }),
    ]
}

proptest! {
    #[test]
    fn replaying_the_events_rebuilds_the_state_also_after_storage(steps in arb_steps(30)) {
        let (state, events) = crate::testing::run_steps::<Activity>(steps);
        crate::testing::check_replay(&state, &events)?;
    }

    #[test]
    fn evolve_accepts_any_sequence_of_facts_and_storage_keeps_them(
        events in proptest::collection::vec(arb_event(), 0..20)
    ) {
        let state = Activity::replay(&events);
        crate::testing::check_replay(&state, &events)?;
    }

    #[test]
    fn an_accepted_activity_always_keeps_its_rules(steps in arb_steps(30)) {
        let mut state = Activity::default();
        let mut subject_once_named = None;
        for (command, ctx) in steps {
            let Ok(events) = state.decide(command, &ctx) else { continue };
            state = events.iter().fold(state, Aggregate::evolve);
            // Personal data is only ever recorded with a key to protect it: the data subject
            // after the events, which is what the application encrypts them with.
            if events.iter().any(|event| !event.personal_fields().is_empty()) {
                prop_assert!(state.data_subject().is_some());
            }
            for touch in events.iter().filter_map(ActivityEvent::touch) {
                prop_assert!(!touch.leads.is_empty());
            }
            if let Some(entry) = &state.entry {
                prop_assert_eq!(entry.check(), Ok(()));
                let mut distinct = entry.records.clone();
                distinct.sort_unstable();
                distinct.dedup();
                prop_assert_eq!(distinct.len(), entry.records.len());
            }
            // The data subject, once named, never changes.
            if let Some(named) = subject_once_named {
                prop_assert_eq!(state.data_subject(), Some(named));
            }
            subject_once_named = state.data_subject();
        }
    }

    #[test]
    fn a_cancelled_activity_never_changes_again(steps in arb_steps(40)) {
        let mut state = Activity::default();
        for (command, ctx) in steps {
            let result = state.decide(command, &ctx);
            if state.is_cancelled() {
                prop_assert!(result.as_ref().is_err() || result.as_ref().is_ok_and(Vec::is_empty));
            }
            if let Ok(events) = result {
                state = events.iter().fold(state, Aggregate::evolve);
            }
        }
    }
}

#[test]
fn custom_fields_are_validated_set_cleared_and_folded() {
    crate::custom_fields::fixtures::check_custom_fields::<Activity>(
        EntityKind::Activity,
        &[logged(&call())],
        ActivityCommand::SetCustomFields,
        |state| &state.custom,
        |error| match error {
            ActivityError::CustomFields(refused) => Some(refused),
            _ => None,
        },
    );
}

#[test]
fn custom_fields_of_an_activity_on_no_person_are_kept_in_the_clear() {
    crate::custom_fields::fixtures::check_custom_fields::<Activity>(
        EntityKind::Activity,
        &[logged(&account_note())],
        ActivityCommand::SetCustomFields,
        |state| &state.custom,
        |error| match error {
            ActivityError::CustomFields(refused) => Some(refused),
            _ => None,
        },
    );
}
