use proptest::prelude::*;
use uuid::Uuid;

use super::{alice, arb_context, check_round_trip};
use crate::aggregate::Aggregate;
use crate::identity::CountryCode;
use crate::ids::TeamId;
use crate::roster::{TerritoryMap, TerritoryMapCommand, TerritoryMapError, TerritoryMapEvent};
use crate::routing::{
    LeadAttributes, RoutingError, RuleMatch, Territories, TerritoryConditions, TerritoryRule,
};
use crate::testing::{given, t0};

const MAP: Uuid = Uuid::from_u128(0x7e11a);
const DACH: TeamId = TeamId(Uuid::from_u128(0xdac4));
const INBOUND: TeamId = TeamId(Uuid::from_u128(0x1b0));

fn country(code: &str) -> CountryCode {
    CountryCode::new(code).unwrap()
}

fn dach_rule(id: &str) -> TerritoryRule {
    TerritoryRule {
        id: id.into(),
        conditions: TerritoryConditions {
            countries: vec![country("DE"), country("AT"), country("CH")],
            ..TerritoryConditions::default()
        },
        team: DACH,
    }
}

fn territories(rules: Vec<TerritoryRule>) -> Territories {
    Territories::new(rules, INBOUND).unwrap()
}

fn define() -> TerritoryMapCommand {
    TerritoryMapCommand::Define {
        map_id: MAP,
        rules: vec![dach_rule("dach")],
        fallback_team: INBOUND,
    }
}

fn defined() -> TerritoryMapEvent {
    TerritoryMapEvent::Defined {
        map_id: MAP,
        territories: territories(vec![dach_rule("dach")]),
        version: 1,
        by: alice(),
        at: t0(),
    }
}

fn replaced(rules: Vec<TerritoryRule>, version: u32) -> TerritoryMapEvent {
    TerritoryMapEvent::Replaced {
        territories: territories(rules),
        version,
        by: alice(),
        at: t0(),
    }
}

fn lead_from(code: &str) -> LeadAttributes {
    LeadAttributes {
        country: Some(country(code)),
        ..LeadAttributes::default()
    }
}

#[test]
fn defining_the_map_records_version_1() {
    let map = given::<TerritoryMap>(&[]).when(define()).then(&[defined()]);
    assert_eq!(map.version, 1);
    assert_eq!(map.id, Some(MAP));
    assert_eq!(
        map.territories(),
        Some(&territories(vec![dach_rule("dach")]))
    );
}

#[test]
fn defining_the_map_twice_is_refused() {
    given::<TerritoryMap>(&[defined()])
        .when(define())
        .then_error(&TerritoryMapError::AlreadyDefined { map_id: MAP });
}

#[test]
fn rules_that_cannot_be_routed_by_are_refused_with_the_routing_reason() {
    given::<TerritoryMap>(&[])
        .when(TerritoryMapCommand::Define {
            map_id: MAP,
            rules: vec![dach_rule("dach"), dach_rule("dach")],
            fallback_team: INBOUND,
        })
        .then_error(&TerritoryMapError::InvalidRules(
            RoutingError::DuplicateRule {
                rule_id: "dach".into(),
            },
        ));
    given::<TerritoryMap>(&[defined()])
        .when(TerritoryMapCommand::Replace {
            rules: vec![dach_rule(" ")],
            fallback_team: INBOUND,
        })
        .then_error(&TerritoryMapError::InvalidRules(
            RoutingError::BlankRuleId { position: 0 },
        ));
}

#[test]
fn replacing_the_rules_bumps_the_version() {
    let rules = vec![dach_rule("dach-2"), dach_rule("dach")];
    let map = given::<TerritoryMap>(&[defined(), replaced(vec![], 2)])
        .when(TerritoryMapCommand::Replace {
            rules: rules.clone(),
            fallback_team: INBOUND,
        })
        .then(&[replaced(rules, 3)]);
    assert_eq!(map.version, 3);
}

#[test]
fn replacing_the_rules_with_the_same_rules_records_nothing() {
    given::<TerritoryMap>(&[defined()])
        .when(TerritoryMapCommand::Replace {
            rules: vec![dach_rule("dach")],
            fallback_team: INBOUND,
        })
        .then(&[]);
}

#[test]
fn a_new_fallback_team_alone_is_a_change() {
    let events = given::<TerritoryMap>(&[defined()])
        .when(TerritoryMapCommand::Replace {
            rules: vec![dach_rule("dach")],
            fallback_team: DACH,
        })
        .result()
        .unwrap();
    assert!(matches!(
        &events[..],
        [TerritoryMapEvent::Replaced { version: 2, territories, .. }] if territories.fallback_team() == DACH
    ));
}

#[test]
fn replacing_before_defining_is_refused() {
    given::<TerritoryMap>(&[])
        .when(TerritoryMapCommand::Replace {
            rules: vec![],
            fallback_team: INBOUND,
        })
        .then_error(&TerritoryMapError::NotDefined);
}

#[test]
fn the_last_version_cannot_be_passed() {
    let at_the_end = replaced(vec![], u32::MAX);
    given::<TerritoryMap>(&[defined(), at_the_end])
        .when(TerritoryMapCommand::Replace {
            rules: vec![dach_rule("dach")],
            fallback_team: INBOUND,
        })
        .then_error(&TerritoryMapError::VersionExhausted);
}

#[test]
fn a_lead_goes_to_the_first_matching_rule_s_team_or_the_fallback() {
    let map = TerritoryMap::replay(&[defined()]);
    assert_eq!(
        map.assign_team(&lead_from("AT")),
        Some((
            Some(RuleMatch {
                rule_id: "dach".into(),
                position: 0
            }),
            DACH
        ))
    );
    assert_eq!(map.assign_team(&lead_from("FR")), Some((None, INBOUND)));
    assert_eq!(
        map.assign_team(&LeadAttributes::default()),
        Some((None, INBOUND))
    );
}

#[test]
fn an_undefined_map_assigns_no_team() {
    assert_eq!(TerritoryMap::default().assign_team(&lead_from("DE")), None);
    assert_eq!(TerritoryMap::default().territories(), None);
}

#[test]
fn every_event_round_trips_through_the_codec() {
    check_round_trip(&[defined(), replaced(vec![dach_rule("x")], 2)]);
}

fn arb_command() -> impl Strategy<Value = TerritoryMapCommand> {
    let rules = prop::collection::vec(
        prop::sample::select(vec!["dach", "dach-2", " ", "us"]).prop_map(dach_rule),
        0..3,
    );
    let fallback = prop::sample::select(vec![INBOUND, DACH]);
    prop_oneof![
        Just(define()),
        (rules, fallback).prop_map(|(rules, fallback_team)| TerritoryMapCommand::Replace {
            rules,
            fallback_team
        }),
    ]
}

proptest! {
    #[test]
    fn replaying_the_emitted_events_rebuilds_the_state(
        steps in prop::collection::vec((arb_command(), arb_context()), 0..20)
    ) {
        let (state, history) = crate::testing::run_steps::<TerritoryMap>(steps);
        crate::testing::check_replay(&state, &history)?;
    }

    #[test]
    fn every_change_is_the_next_version(
        steps in prop::collection::vec((arb_command(), arb_context()), 0..20)
    ) {
        let (_, history) = crate::testing::run_steps::<TerritoryMap>(steps);
        for (i, event) in history.iter().enumerate() {
            let version = match event {
                TerritoryMapEvent::Defined { version, .. }
                | TerritoryMapEvent::Replaced { version, .. } => *version,
            };
            prop_assert_eq!(u64::from(version), i as u64 + 1);
        }
    }
}
