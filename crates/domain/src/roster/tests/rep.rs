use std::collections::BTreeSet;

use proptest::prelude::*;

use super::{alice, arb_context, check_round_trip, t0_plus_hours};
use crate::aggregate::{Aggregate, DomainEvent};
use crate::roster::{Deactivation, EndpointError, Rep, RepCommand, RepError, RepEvent, WebhookUrl};
use crate::routing::{OutOfOffice, Presence, TeamMember};
use crate::testing::{ALICE, BOB, given, t0, t0_plus_minutes};

const HOOK: &str = "https://hooks.example.com/reps/alice";

fn skills(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|&name| name.to_owned()).collect()
}

fn hook() -> WebhookUrl {
    WebhookUrl::parse(HOOK).unwrap()
}

/// The fields of a registration, so a test can change one and keep the rest.
struct Registration {
    display_name: String,
    email: String,
    capacity: u32,
    weight: u32,
    skills: BTreeSet<String>,
    endpoint: Option<String>,
}

fn registration() -> Registration {
    Registration {
        display_name: "Alice Archer".into(),
        email: "alice@example.com".into(),
        capacity: 10,
        weight: 2,
        skills: skills(&["de", "enterprise"]),
        endpoint: Some(HOOK.into()),
    }
}

impl Registration {
    fn command(self) -> RepCommand {
        RepCommand::Register {
            rep: ALICE,
            display_name: self.display_name,
            email: self.email,
            capacity: self.capacity,
            weight: self.weight,
            skills: self.skills,
            endpoint: self.endpoint,
        }
    }
}

fn register() -> RepCommand {
    registration().command()
}

fn registered() -> RepEvent {
    RepEvent::Registered {
        rep: ALICE,
        display_name: "Alice Archer".into(),
        email: "alice@example.com".into(),
        capacity: 10,
        weight: 2,
        skills: skills(&["de", "enterprise"]),
        endpoint: Some(hook()),
        by: alice(),
        at: t0(),
    }
}

fn online() -> RepEvent {
    RepEvent::WentOnline {
        by: alice(),
        at: t0(),
    }
}

fn away_until(until: Option<chrono::DateTime<chrono::Utc>>) -> RepEvent {
    RepEvent::OutOfOfficeSet {
        until,
        by: alice(),
        at: t0(),
    }
}

fn deactivated() -> RepEvent {
    RepEvent::Deactivated {
        reason: "left the company".into(),
        by: alice(),
        at: t0(),
    }
}

// --- registration ----------------------------------------------------------------------------

#[test]
fn registering_puts_the_rep_on_the_roster_offline_and_active() {
    let rep = given::<Rep>(&[]).when(register()).then(&[registered()]);
    assert_eq!(rep.id, Some(ALICE));
    assert_eq!(rep.presence, Presence::Offline);
    assert_eq!(rep.deactivated, None);
    assert_eq!(rep.endpoint, Some(hook()));
}

#[test]
fn registering_without_an_endpoint_records_none() {
    let command = Registration {
        endpoint: None,
        skills: BTreeSet::new(),
        ..registration()
    }
    .command();
    let events = given::<Rep>(&[]).when(command).result().unwrap();
    assert!(matches!(
        &events[..],
        [RepEvent::Registered { endpoint: None, skills, .. }] if skills.is_empty()
    ));
}

#[test]
fn registering_a_rep_twice_is_refused() {
    given::<Rep>(&[registered()])
        .when(register())
        .then_error(&RepError::AlreadyRegistered { rep: ALICE });
}

#[test]
fn a_blank_display_name_is_refused() {
    given::<Rep>(&[])
        .when(
            Registration {
                display_name: "  ".into(),
                ..registration()
            }
            .command(),
        )
        .then_error(&RepError::BlankDisplayName);
}

#[test]
fn a_notification_email_that_is_not_an_email_address_is_refused() {
    let result = given::<Rep>(&[])
        .when(
            Registration {
                email: "alice at example".into(),
                ..registration()
            }
            .command(),
        )
        .result();
    assert!(
        matches!(result, Err(RepError::InvalidEmail { ref value, .. }) if value == "alice at example"),
        "{result:?}"
    );
}

#[test]
fn a_blank_skill_is_refused() {
    given::<Rep>(&[])
        .when(
            Registration {
                skills: skills(&["de", " "]),
                ..registration()
            }
            .command(),
        )
        .then_error(&RepError::BlankSkill);
}

#[test]
fn an_endpoint_that_is_not_an_absolute_http_url_is_refused() {
    given::<Rep>(&[])
        .when(
            Registration {
                endpoint: Some("hooks.example.com/alice".into()),
                ..registration()
            }
            .command(),
        )
        .then_error(&RepError::InvalidEndpoint(EndpointError::NotAbsolute));
}

#[test]
fn every_command_but_registration_is_refused_before_registration() {
    let commands = [
        RepCommand::GoOnline,
        RepCommand::GoOffline,
        RepCommand::SetOutOfOffice { until: None },
        RepCommand::ReturnToOffice,
        RepCommand::ChangeCapacity { capacity: 1 },
        RepCommand::ChangeWeight { weight: 1 },
        RepCommand::ChangeSkills {
            skills: BTreeSet::new(),
        },
        RepCommand::ChangeNotificationEndpoint { endpoint: None },
        RepCommand::Deactivate {
            reason: "gone".into(),
        },
        RepCommand::Reactivate,
    ];
    for command in commands {
        given::<Rep>(&[])
            .when(command)
            .then_error(&RepError::NotRegistered);
    }
}

// --- presence --------------------------------------------------------------------------------

#[test]
fn going_online_is_recorded_once() {
    given::<Rep>(&[registered()])
        .when(RepCommand::GoOnline)
        .then(&[online()]);
    given::<Rep>(&[registered(), online()])
        .when(RepCommand::GoOnline)
        .then(&[]);
}

#[test]
fn going_offline_is_recorded_once() {
    given::<Rep>(&[registered(), online()])
        .when(RepCommand::GoOffline)
        .then(&[RepEvent::WentOffline {
            by: alice(),
            at: t0(),
        }]);
    given::<Rep>(&[registered()])
        .when(RepCommand::GoOffline)
        .then(&[]);
}

#[test]
fn a_deactivated_rep_cannot_go_online() {
    given::<Rep>(&[registered(), deactivated()])
        .when(RepCommand::GoOnline)
        .then_error(&RepError::DeactivatedCannotGoOnline);
}

// --- out of office ---------------------------------------------------------------------------

#[test]
fn setting_out_of_office_records_until_when() {
    let rep = given::<Rep>(&[registered(), online()])
        .when(RepCommand::SetOutOfOffice {
            until: Some(t0_plus_hours(48)),
        })
        .then(&[away_until(Some(t0_plus_hours(48)))]);
    assert!(!rep.is_available_at(t0()));
    assert!(rep.is_available_at(t0_plus_hours(48)), "back at the end");
}

#[test]
fn out_of_office_until_further_notice_is_allowed() {
    let rep = given::<Rep>(&[registered(), online()])
        .when(RepCommand::SetOutOfOffice { until: None })
        .then(&[away_until(None)]);
    assert!(!rep.is_available_at(t0_plus_hours(10_000)));
}

#[test]
fn an_out_of_office_period_ending_now_or_earlier_is_refused() {
    for until in [t0(), t0_plus_minutes(-1)] {
        given::<Rep>(&[registered()])
            .when(RepCommand::SetOutOfOffice { until: Some(until) })
            .then_error(&RepError::OutOfOfficeEndsInThePast { until, now: t0() });
    }
}

#[test]
fn setting_the_same_out_of_office_period_again_records_nothing() {
    given::<Rep>(&[registered(), away_until(Some(t0_plus_hours(2)))])
        .when(RepCommand::SetOutOfOffice {
            until: Some(t0_plus_hours(2)),
        })
        .then(&[]);
}

#[test]
fn returning_ends_the_out_of_office_period() {
    let rep = given::<Rep>(&[registered(), online(), away_until(None)])
        .when(RepCommand::ReturnToOffice)
        .then(&[RepEvent::ReturnedToOffice {
            by: alice(),
            at: t0(),
        }]);
    assert_eq!(rep.out_of_office, None);
    assert!(rep.is_available_at(t0()));
}

#[test]
fn returning_when_not_away_records_nothing() {
    given::<Rep>(&[registered()])
        .when(RepCommand::ReturnToOffice)
        .then(&[]);
}

// --- settings --------------------------------------------------------------------------------

#[test]
fn capacity_weight_and_skills_changes_are_recorded_only_when_they_change_something() {
    given::<Rep>(&[registered()])
        .when(RepCommand::ChangeCapacity { capacity: 12 })
        .then(&[RepEvent::CapacityChanged {
            capacity: 12,
            by: alice(),
            at: t0(),
        }]);
    given::<Rep>(&[registered()])
        .when(RepCommand::ChangeCapacity { capacity: 10 })
        .then(&[]);
    given::<Rep>(&[registered()])
        .when(RepCommand::ChangeWeight { weight: 0 })
        .then(&[RepEvent::WeightChanged {
            weight: 0,
            by: alice(),
            at: t0(),
        }]);
    given::<Rep>(&[registered()])
        .when(RepCommand::ChangeWeight { weight: 2 })
        .then(&[]);
    given::<Rep>(&[registered()])
        .when(RepCommand::ChangeSkills {
            skills: skills(&["fr"]),
        })
        .then(&[RepEvent::SkillsChanged {
            skills: skills(&["fr"]),
            by: alice(),
            at: t0(),
        }]);
    given::<Rep>(&[registered()])
        .when(RepCommand::ChangeSkills {
            skills: skills(&["enterprise", "de"]),
        })
        .then(&[]);
}

#[test]
fn a_blank_skill_is_refused_on_change() {
    given::<Rep>(&[registered()])
        .when(RepCommand::ChangeSkills {
            skills: skills(&[""]),
        })
        .then_error(&RepError::BlankSkill);
}

#[test]
fn the_notification_endpoint_can_be_replaced_and_cleared() {
    let other = "https://hooks.example.com/reps/alice-2";
    given::<Rep>(&[registered()])
        .when(RepCommand::ChangeNotificationEndpoint {
            endpoint: Some(other.into()),
        })
        .then(&[RepEvent::NotificationEndpointChanged {
            endpoint: Some(WebhookUrl::parse(other).unwrap()),
            by: alice(),
            at: t0(),
        }]);
    let rep = given::<Rep>(&[registered()])
        .when(RepCommand::ChangeNotificationEndpoint { endpoint: None })
        .then(&[RepEvent::NotificationEndpointChanged {
            endpoint: None,
            by: alice(),
            at: t0(),
        }]);
    assert_eq!(rep.endpoint, None);
    given::<Rep>(&[registered()])
        .when(RepCommand::ChangeNotificationEndpoint {
            endpoint: Some(HOOK.into()),
        })
        .then(&[]);
}

#[test]
fn an_invalid_endpoint_is_refused_on_change() {
    given::<Rep>(&[registered()])
        .when(RepCommand::ChangeNotificationEndpoint {
            endpoint: Some("mailto:alice@example.com".into()),
        })
        .then_error(&RepError::InvalidEndpoint(EndpointError::NotAbsolute));
}

// --- deactivation ----------------------------------------------------------------------------

#[test]
fn deactivating_takes_the_rep_offline_with_the_reason() {
    let rep = given::<Rep>(&[registered(), online()])
        .when(RepCommand::Deactivate {
            reason: "left the company".into(),
        })
        .then(&[deactivated()]);
    assert_eq!(rep.presence, Presence::Offline);
    assert_eq!(
        rep.deactivated,
        Some(Deactivation {
            reason: "left the company".into(),
            at: t0()
        })
    );
}

#[test]
fn a_deactivation_without_a_reason_is_refused() {
    given::<Rep>(&[registered()])
        .when(RepCommand::Deactivate { reason: " ".into() })
        .then_error(&RepError::BlankReason);
}

#[test]
fn deactivating_a_deactivated_rep_records_nothing() {
    given::<Rep>(&[registered(), deactivated()])
        .when(RepCommand::Deactivate {
            reason: "again".into(),
        })
        .then(&[]);
}

#[test]
fn reactivating_puts_the_rep_back_offline() {
    let rep = given::<Rep>(&[registered(), online(), deactivated()])
        .when(RepCommand::Reactivate)
        .then(&[RepEvent::Reactivated {
            by: alice(),
            at: t0(),
        }]);
    assert_eq!(rep.deactivated, None);
    assert_eq!(rep.presence, Presence::Offline);
    given::<Rep>(&[registered()])
        .when(RepCommand::Reactivate)
        .then(&[]);
}

// --- queries ---------------------------------------------------------------------------------

#[test]
fn a_rep_is_available_only_when_registered_active_online_and_in_office() {
    assert!(!Rep::default().is_available_at(t0()));
    assert!(!Rep::replay(&[registered()]).is_available_at(t0()));
    assert!(Rep::replay(&[registered(), online()]).is_available_at(t0()));
    assert!(!Rep::replay(&[registered(), online(), deactivated()]).is_available_at(t0()));
    let away = Rep::replay(&[registered(), online(), away_until(Some(t0_plus_hours(1)))]);
    assert!(!away.is_available_at(t0()));
    assert!(away.is_available_at(t0_plus_hours(1)));
}

#[test]
fn as_a_team_member_the_rep_carries_their_settings_and_the_load_given() {
    assert_eq!(Rep::default().as_team_member(0), None);
    let rep = Rep::replay(&[registered(), online(), away_until(None)]);
    assert_eq!(
        rep.as_team_member(3),
        Some(TeamMember {
            rep: ALICE,
            active: true,
            presence: Presence::Online,
            out_of_office: Some(OutOfOffice { until: None }),
            weight: 2,
            capacity: 10,
            open_items: 3,
        })
    );
    let gone = Rep::replay(&[registered(), deactivated()]);
    assert_eq!(gone.as_team_member(0).map(|m| m.active), Some(false));
}

// --- events ----------------------------------------------------------------------------------

fn every_event() -> Vec<RepEvent> {
    let by = alice;
    vec![
        registered(),
        online(),
        RepEvent::WentOffline { by: by(), at: t0() },
        away_until(Some(t0_plus_hours(3))),
        RepEvent::ReturnedToOffice { by: by(), at: t0() },
        RepEvent::CapacityChanged {
            capacity: 4,
            by: by(),
            at: t0(),
        },
        RepEvent::WeightChanged {
            weight: 3,
            by: by(),
            at: t0(),
        },
        RepEvent::SkillsChanged {
            skills: skills(&["fr"]),
            by: by(),
            at: t0(),
        },
        RepEvent::NotificationEndpointChanged {
            endpoint: None,
            by: by(),
            at: t0(),
        },
        deactivated(),
        RepEvent::Reactivated { by: by(), at: t0() },
    ]
}

#[test]
fn every_event_round_trips_through_the_codec() {
    check_round_trip(&every_event());
}

#[test]
fn personal_fields_name_every_member_that_holds_personal_data() {
    for event in every_event() {
        let payload = crate::encode(&event).unwrap().payload;
        for pointer in event.personal_fields() {
            assert!(
                payload.pointer(pointer).is_some(),
                "{pointer} not in {payload}"
            );
        }
    }
    let payload = crate::encode(&registered()).unwrap().payload;
    assert_eq!(payload["email"], "alice@example.com");
    assert_eq!(
        registered().personal_fields(),
        ["/display_name", "/email"],
        "the registration holds the rep's name and email"
    );
}

// --- properties ------------------------------------------------------------------------------

fn arb_command() -> impl Strategy<Value = RepCommand> {
    prop_oneof![
        (0u32..5, 0u32..4).prop_map(|(capacity, weight)| Registration {
            capacity,
            weight,
            ..registration()
        }
        .command()),
        Just(RepCommand::GoOnline),
        Just(RepCommand::GoOffline),
        prop::option::of(-2i64..24).prop_map(|hours| RepCommand::SetOutOfOffice {
            until: hours.map(t0_plus_hours)
        }),
        Just(RepCommand::ReturnToOffice),
        (0u32..5).prop_map(|capacity| RepCommand::ChangeCapacity { capacity }),
        (0u32..4).prop_map(|weight| RepCommand::ChangeWeight { weight }),
        prop::sample::subsequence(vec!["de", "fr", " "], 0..3).prop_map(|names| {
            RepCommand::ChangeSkills {
                skills: skills(&names),
            }
        }),
        prop::option::of(prop_oneof![
            Just(HOOK.to_owned()),
            Just("https://hooks.example.com/b".to_owned()),
            Just("not a url".to_owned())
        ])
        .prop_map(|endpoint| RepCommand::ChangeNotificationEndpoint { endpoint }),
        prop_oneof![Just("left"), Just("")].prop_map(|reason| RepCommand::Deactivate {
            reason: reason.into()
        }),
        Just(RepCommand::Reactivate),
    ]
}

proptest! {
    #[test]
    fn replaying_the_emitted_events_rebuilds_the_state(
        steps in prop::collection::vec((arb_command(), arb_context()), 0..40)
    ) {
        let (state, history) = crate::testing::run_steps::<Rep>(steps);
        crate::testing::check_replay(&state, &history)?;
    }

    #[test]
    fn a_deactivated_rep_is_never_online_and_never_available(
        steps in prop::collection::vec((arb_command(), arb_context()), 0..40)
    ) {
        let mut state = Rep::default();
        for (command, ctx) in steps {
            let Ok(events) = state.decide(command, &ctx) else { continue };
            state = events.iter().fold(state, Rep::evolve);
            if state.deactivated.is_some() {
                prop_assert_eq!(state.presence, Presence::Offline);
                prop_assert!(!state.is_available_at(ctx.now));
                prop_assert_eq!(state.as_team_member(0).map(|m| m.active), Some(false));
            }
        }
    }

    #[test]
    fn a_command_that_changes_nothing_records_nothing(
        steps in prop::collection::vec((arb_command(), arb_context()), 0..40)
    ) {
        let mut state = Rep::default();
        for (command, ctx) in steps {
            let Ok(events) = state.decide(command, &ctx) else { continue };
            let next = events.iter().fold(state.clone(), Rep::evolve);
            for event in &events {
                // Every recorded event changes the state (timestamps of a deactivation included).
                prop_assert_ne!(&state.clone().evolve(event), &state, "{:?} changed nothing", event);
            }
            state = next;
        }
    }
}

#[test]
fn a_rep_registered_by_one_user_acting_for_another_records_the_actor() {
    let ctx = crate::Context::new(t0(), crate::Actor::User { id: BOB }, crate::testing::SEED);
    let events = given::<Rep>(&[]).at(ctx).when(register()).result().unwrap();
    assert!(matches!(
        &events[..],
        [RepEvent::Registered {
            rep: ALICE,
            by: crate::Actor::User { id: BOB },
            ..
        }]
    ));
}
