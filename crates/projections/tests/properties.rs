//! Properties every read model keeps, checked on random valid histories (commands through the
//! aggregates, `crm_testkit::scenario`): a fold in any batch split equals one fold from scratch,
//! delivering any event twice changes nothing, and each model's own invariants hold.

mod customer360 {
    use proptest::prelude::*;

    use crm_projections::DocKey;
    use crm_projections::MemoryDocuments;
    use crm_projections::customer360::{
        CONTACT, Customer360Model, Customer360Query, CustomerDoc, Profile,
    };
    use crm_testkit::properties::{arb_delivery, check_fold};
    use crm_testkit::scenario::{arb_scenario, contact_index, contact_marker, play};
    use crm_testkit::world::tenant;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn folding_in_batches_or_twice_equals_one_fold(
            scenario in arb_scenario(60),
            (cuts, again) in arb_delivery(),
        ) {
            let world = play(&scenario);
            check_fold(&Customer360Model, world.events(), &cuts, &again)?;
        }

        #[test]
        fn the_profile_is_the_contact_aggregate_s_and_erasure_leaves_nothing(scenario in arb_scenario(80)) {
            let world = play(&scenario);
            let store = MemoryDocuments::fold(Customer360Model, world.events()).unwrap();
            for (id, contact) in world.contacts() {
                let Some(CustomerDoc::Contact(doc)) = store.get(&tenant(), &DocKey::new(CONTACT, *id)) else {
                    continue;
                };
                if doc.is_erased() {
                    // Erased itself, or absorbed by a contact erased since (the same person).
                    let erased_with = world.contacts().any(|(_, other)| {
                        other.erasure.as_ref().is_some_and(|erasure| erasure.absorbed.contains(&crm_domain::ContactId(*id)))
                    });
                    prop_assert!(contact.erasure.is_some() || erased_with);
                    prop_assert_eq!(&doc.profile, &Profile::default());
                    continue;
                }
                prop_assert!(contact.erasure.is_none());
                prop_assert_eq!(doc.profile.emails.as_slice(), contact.details.emails());
                prop_assert_eq!(doc.profile.phones.as_slice(), contact.details.phones());
                for field in crm_domain::contact::ContactField::ALL {
                    prop_assert_eq!(doc.profile.fields.get(&field), contact.details.entry(field));
                }
                prop_assert_eq!(doc.merged_into, contact.merged_into());
                prop_assert_eq!(doc.absorbed.clone(), contact.absorbed_contacts());
                let view = store.lookup(&tenant(), &Customer360Query { contact: crm_domain::ContactId(*id) });
                prop_assert!(view.is_some());
            }
            // A contact erased while no other contact holds it: its marker is nowhere.
            for (id, contact) in world.contacts() {
                let held = world.contacts().any(|(_, other)| other.absorbed_contacts().contains(&crm_domain::ContactId(*id)));
                let absorbed_any = contact.erasure.as_ref().is_some_and(|erasure| !erasure.absorbed.is_empty());
                if contact.erasure.is_none() || held || absorbed_any {
                    continue;
                }
                let n = contact_index(*id);
                let marker = contact_marker(n);
                for (_, stored) in store.all_documents() {
                    let json = serde_json::to_string(&stored.doc).unwrap();
                    prop_assert!(!json.contains(&marker), "{} survives in {}: {}", marker, stored.key, json);
                }
            }
        }
    }
}

mod sla {
    use chrono::{DateTime, Duration, TimeDelta, Utc};
    use crm_domain::sla::{BusinessCalendar, ClockStatus, SlaClock, SlaHealth};
    use crm_projections::MemoryDocuments;
    use crm_projections::sla::SlaModel;
    use crm_projections::sla::query::{AtRiskList, BreachList, ItemHealth, ItemStatus, SlaPage};
    use crm_testkit::properties::{arb_delivery, check_fold};
    use crm_testkit::scenario::{arb_scenario, play, sla_config as config};
    use crm_testkit::world::{t0, tenant};
    use proptest::prelude::*;
    use uuid::Uuid;

    /// Business time `clock` spent paused, by walking its whole life: the business time from
    /// activation to fulfilment (or `now`) less the time it counted. The model walks only up to
    /// the running stretch (`ClockView::paused`); both must agree.
    fn paused_by_walking(
        clock: &SlaClock,
        calendar: &BusinessCalendar,
        status: &ClockStatus,
        now: DateTime<Utc>,
    ) -> TimeDelta {
        let end = match status.health {
            SlaHealth::Fulfilled { at, .. } => at,
            _ => now,
        };
        calendar
            .business_time_between(clock.activated_at(), end.max(clock.activated_at()))
            .map_or(TimeDelta::zero(), |span| {
                (span - status.elapsed).max(TimeDelta::zero())
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn folding_in_batches_or_twice_equals_one_fold(
            scenario in arb_scenario(60),
            (cuts, again) in arb_delivery(),
        ) {
            let world = play(&scenario);
            check_fold(&SlaModel::new(config()), world.events(), &cuts, &again)?;
        }

        #[test]
        fn the_indexed_lists_agree_with_each_item_s_clocks(
            scenario in arb_scenario(60),
            later in 0i64..20_000,
        ) {
            let world = play(&scenario);
            let store = MemoryDocuments::fold(SlaModel::new(config()), world.events()).unwrap();
            let config = store.model().config();
            // The documents hold the latest state: "as of" questions are asked at or after the
            // last event (an earlier instant is the live lifecycle's fold of fewer events).
            let end: i64 = scenario.iter().map(|(pause, _)| i64::from(*pause)).sum();
            let now = t0() + Duration::minutes(end + later);
            let listed = |page: SlaPage| {
                let mut ids: Vec<Uuid> = page.items.into_iter().map(|item| item.id).collect();
                ids.sort();
                ids
            };
            let breached = listed(store.scan(&tenant(), &BreachList { config, now, limit: usize::MAX - 1, after: None }));
            let at_risk = listed(store.scan(&tenant(), &AtRiskList { config, now, limit: usize::MAX - 1, after: None }));
            let with = |health| {
                let mut ids: Vec<Uuid> = store
                    .documents(&tenant())
                    .map(|stored| ItemStatus::of(&stored.doc, config, now))
                    .filter(|status| status.health == health)
                    .map(|status| status.id)
                    .collect();
                ids.sort();
                ids
            };
            prop_assert_eq!(breached, with(ItemHealth::Breached));
            // Paused time from the walk before the current stretch equals the whole walk.
            for stored in store.documents(&tenant()) {
                let Some(sla) = &stored.doc.sla else { continue };
                let Some(policy) = config.version(sla.policy()) else { continue };
                let shown = ItemStatus::of(&stored.doc, config, now);
                prop_assert_eq!(shown.clocks.len(), sla.clocks().len());
                for (clock, view) in sla.clocks().iter().zip(&shown.clocks) {
                    let status = clock.status_at(policy.calendar(), now).unwrap();
                    prop_assert_eq!(view.status, status);
                    prop_assert_eq!(
                        view.paused,
                        paused_by_walking(clock, policy.calendar(), &status, now)
                    );
                }
            }
            prop_assert_eq!(at_risk, with(ItemHealth::AtRisk));
            for stored in store.documents(&tenant()) {
                prop_assert!(stored.doc.problem.is_none(), "{:?}", stored.doc.problem);
            }
        }
    }
}

mod duplicates {
    use proptest::prelude::*;

    use crm_domain::ContactId;
    use crm_domain::identity::MatchVerdict;
    use crm_projections::MemoryDocuments;
    use crm_projections::customer360::Customer360Model;
    use crm_projections::duplicates::DuplicateQueueModel;
    use crm_projections::duplicates::query::ReviewQueue;
    use crm_testkit::properties::{arb_delivery, check_fold};
    use crm_testkit::scenario::{Step, arb_scenario, contact_index, contact_marker, play};
    use crm_testkit::world::tenant;

    #[test]
    fn the_scenarios_suspicions_are_for_review_so_the_properties_see_a_queue() {
        let world = play(&[
            (0, Step::CreateContact { contact: 0 }),
            (0, Step::CreateContact { contact: 1 }),
            (
                1,
                Step::Suspect {
                    contact: 1,
                    candidate: 0,
                },
            ),
        ]);
        let queue = MemoryDocuments::fold(DuplicateQueueModel, world.events()).unwrap();
        assert_eq!(queue.scan(&tenant(), &ReviewQueue::first(10)).len(), 1);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn folding_in_batches_or_twice_equals_one_fold(
            scenario in arb_scenario(60),
            (cuts, again) in arb_delivery(),
        ) {
            let world = play(&scenario);
            check_fold(&DuplicateQueueModel, world.events(), &cuts, &again)?;
        }

        #[test]
        fn a_waiting_pair_is_a_suspicion_one_of_its_contacts_recorded_and_neither_declared_away(
            scenario in arb_scenario(80),
        ) {
            let world = play(&scenario);
            let queue = MemoryDocuments::fold(DuplicateQueueModel, world.events()).unwrap();
            for waiting in queue.scan(&tenant(), &ReviewQueue::first(1_000)) {
                prop_assert!(waiting.lower < waiting.higher);
                let lower = world.contact_state(waiting.lower.0);
                let higher = world.contact_state(waiting.higher.0);
                let held: Vec<_> = [
                    lower.suspicion(waiting.higher),
                    higher.suspicion(waiting.lower),
                ]
                .into_iter()
                .flatten()
                .map(|suspicion| &suspicion.assessment)
                .collect();
                prop_assert!(
                    held.iter().any(|assessment| assessment.score == waiting.score
                        && assessment.reasons == waiting.reasons
                        && assessment.verdict == MatchVerdict::Review),
                    "{:?} waits with an assessment neither contact recorded: {:?}",
                    (waiting.lower, waiting.higher),
                    held
                );
                let declared = |by: &crm_domain::contact::Contact, other: ContactId| {
                    by.not_duplicates.contains(&other)
                };
                prop_assert!(
                    !declared(&lower, waiting.higher) && !declared(&higher, waiting.lower),
                    "a pair declared different people waits for review"
                );
            }
        }

        #[test]
        fn an_erased_contact_leaves_no_trace_in_the_queue_or_the_customer_360(scenario in arb_scenario(80)) {
            let world = play(&scenario);
            let queue = MemoryDocuments::fold(DuplicateQueueModel, world.events()).unwrap();
            let customers = MemoryDocuments::fold(Customer360Model, world.events()).unwrap();
            let docs: Vec<String> = queue
                .all_documents()
                .map(|(_, stored)| serde_json::to_string(&stored.doc).unwrap())
                .chain(customers.all_documents().map(|(_, stored)| serde_json::to_string(&stored.doc).unwrap()))
                .collect();
            for (id, contact) in world.contacts() {
                // A survivor keeps values it took over in a merge: erasing those is its own
                // stream's business, so only contacts no survivor holds are checked.
                let held = world
                    .contacts()
                    .any(|(_, other)| other.absorbed_contacts().contains(&crm_domain::ContactId(*id)));
                let absorbed_any = contact.erasure.as_ref().is_some_and(|erasure| !erasure.absorbed.is_empty());
                if contact.erasure.is_none() || held || absorbed_any {
                    continue;
                }
                let marker = contact_marker(contact_index(*id));
                for json in &docs {
                    prop_assert!(!json.contains(&marker), "{} survives in {}", marker, json);
                }
            }
        }
    }
}

mod identity {
    use std::collections::{BTreeMap, BTreeSet};

    use crm_domain::ContactId;
    use crm_projections::MemoryDocuments;
    use crm_projections::identity::{
        IdentityDoc, IdentityIndexModel, block_key, person_key, person_record_of,
    };
    use crm_testkit::properties::{arb_delivery, check_fold};
    use crm_testkit::scenario::{arb_scenario, play};
    use crm_testkit::world::tenant;
    use proptest::prelude::*;

    fn sorted(mut values: Vec<String>) -> Vec<String> {
        values.sort();
        values
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn folding_in_batches_or_twice_equals_one_fold(
            scenario in arb_scenario(60),
            (cuts, again) in arb_delivery(),
        ) {
            let world = play(&scenario);
            check_fold(&IdentityIndexModel::default(), world.events(), &cuts, &again)?;
        }

        /// Every live contact is in the index as its aggregate holds it, filed under exactly
        /// its record's blocks; merged contacts are filed nowhere; erased ones are gone.
        #[test]
        fn the_index_is_the_contacts_as_they_stand_filed_under_their_keys(
            scenario in arb_scenario(80),
        ) {
            let world = play(&scenario);
            let model = IdentityIndexModel::default();
            let index = MemoryDocuments::fold(model.clone(), world.events()).unwrap();
            let mut expected_blocks: BTreeMap<uuid::Uuid, BTreeSet<ContactId>> = BTreeMap::new();
            for (id, contact) in world.contacts() {
                let id = ContactId(*id);
                let doc = index.get(&tenant(), &person_key(id)).cloned();
                // Erasing a survivor erases the person, so the contacts it had absorbed go too.
                let absorbed_by_erased = world.contacts().any(|(_, other)| {
                    other
                        .erasure
                        .as_ref()
                        .is_some_and(|erasure| erasure.absorbed.contains(&id))
                });
                if contact.erasure.is_some() || absorbed_by_erased {
                    if let Some(IdentityDoc::Person(person)) = &doc {
                        prop_assert!(person.erased && person.blocks.is_empty());
                        prop_assert!(person.record.is_empty(), "an erased person stays in the index");
                    }
                    continue;
                }
                let Some(IdentityDoc::Person(person)) = doc else {
                    prop_assert!(contact.id.is_none(), "contact {} missing", id.0);
                    continue;
                };
                let expected = person_record_of(contact);
                let mut held = person.record.clone();
                held.emails = sorted(held.emails);
                held.phones = sorted(held.phones);
                let mut expected_sorted = expected.clone();
                expected_sorted.emails = sorted(expected_sorted.emails);
                expected_sorted.phones = sorted(expected_sorted.phones);
                prop_assert_eq!(&held, &expected_sorted);
                prop_assert_eq!(person.is_live(), contact.merged_into().is_none());
                if person.is_live() {
                    prop_assert_eq!(&person.blocks, &model.block_ids(&expected));
                    for block in &person.blocks {
                        expected_blocks.entry(*block).or_default().insert(id);
                    }
                } else {
                    prop_assert!(person.blocks.is_empty());
                }
            }
            let mut held_blocks = 0;
            for (_, stored) in index.all_documents() {
                let key = stored.key;
                if let IdentityDoc::Block(block) = &stored.doc {
                    held_blocks += 1;
                    let members: BTreeSet<ContactId> = block.members.iter().copied().collect();
                    prop_assert_eq!(members.len(), block.members.len(), "a member twice");
                    prop_assert_eq!(Some(&members), expected_blocks.get(&key.id));
                    prop_assert_eq!(key, block_key(key.id));
                }
            }
            prop_assert_eq!(held_blocks, expected_blocks.len());
        }
    }
}

mod pipeline {
    use std::collections::{BTreeMap, BTreeSet};

    use chrono::NaiveDate;
    use crm_domain::forecast::{AdjustmentRole, PeriodKind, Submission};
    use proptest::prelude::*;

    use crm_projections::pipeline::PipelineModel;
    use crm_projections::pipeline::query::{Forecast, ForecastRow};
    use crm_projections::{AggregateKind, CrmEvent, MemoryDocuments, ProjectedEvent};
    use crm_testkit::properties::{arb_delivery, check_fold};
    use crm_testkit::scenario::{REPS, arb_scenario, forecast_state, play};
    use crm_testkit::world::{World, tenant};

    /// Every forecast the world opened, as the aggregate knows it.
    fn submissions(world: &World) -> Vec<Submission> {
        let ids: BTreeSet<_> = world
            .events()
            .iter()
            .filter(|event| event.stream.kind == AggregateKind::Forecast)
            .map(|event| event.stream.id)
            .collect();
        ids.into_iter()
            .filter_map(|id| forecast_state(world, id).submission)
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn folding_in_batches_or_twice_equals_one_fold(
            scenario in arb_scenario(60),
            (cuts, again) in arb_delivery(),
        ) {
            let world = play(&scenario);
            check_fold(&PipelineModel, world.events(), &cuts, &again)?;
        }

        #[test]
        fn calls_are_the_aggregate_s_standing_calls_and_never_change_the_computed_figures(
            scenario in arb_scenario(80),
        ) {
            let world = play(&scenario);
            let with_calls = MemoryDocuments::fold(PipelineModel, world.events()).unwrap();
            let deals_only: Vec<ProjectedEvent> = world
                .events()
                .iter()
                .filter(|event| !matches!(event.event, CrmEvent::Forecast(_)))
                .cloned()
                .collect();
            let without_calls = MemoryDocuments::fold(PipelineModel, &deals_only).unwrap();
            let submissions = submissions(&world);
            for owner in REPS {
                for kind in [PeriodKind::Month, PeriodKind::Quarter] {
                    let query = Forecast {
                        period: kind,
                        from: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
                        to: NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(),
                        owner: Some(owner),
                    };
                    let computed: BTreeMap<_, _> = without_calls
                        .scan(&tenant(), &query)
                        .into_iter()
                        .map(|row| ((row.period, row.category, row.currency), row))
                        .collect();
                    prop_assert!(computed.values().all(|row| row.owner_adjusted.is_none() && row.manager_adjusted.is_none()));
                    let rows = with_calls.scan(&tenant(), &query);

                    // The forecast that counts: the owner's of this kind opened last.
                    let counted = submissions
                        .iter()
                        .filter(|submission| submission.owner == owner && submission.period.kind() == kind)
                        .max_by_key(|submission| (submission.opened_at, submission.id));
                    let standing = |role, row: &ForecastRow| {
                        counted
                            .filter(|submission| submission.period == row.period)
                            .and_then(|submission| submission.adjustment(role, row.category))
                            .map(|adjustment| adjustment.amount)
                            .filter(|amount| amount.currency == row.currency)
                    };
                    let mut calls_shown = 0;
                    for row in &rows {
                        let key = (row.period, row.category, row.currency);
                        if let Some(deals) = computed.get(&key) {
                            prop_assert_eq!(&row.sum, &deals.sum, "a call changed the computed figure");
                        } else {
                            prop_assert_eq!(row.sum.count, 0);
                            prop_assert!(row.owner_adjusted.is_some() || row.manager_adjusted.is_some());
                        }
                        prop_assert_eq!(row.owner_adjusted, standing(AdjustmentRole::Owner, row));
                        prop_assert_eq!(row.manager_adjusted, standing(AdjustmentRole::Manager, row));
                        calls_shown += usize::from(row.owner_adjusted.is_some()) + usize::from(row.manager_adjusted.is_some());
                    }
                    prop_assert!(computed.keys().all(|key| rows.iter().any(|row| (row.period, row.category, row.currency) == *key)));
                    let standing_calls = counted.map_or(0, |submission| {
                        submission.owner_adjustments.len() + submission.manager_adjustments.len()
                    });
                    prop_assert_eq!(calls_shown, standing_calls, "a standing call is missing from the rows");
                }
            }
        }
    }
}
