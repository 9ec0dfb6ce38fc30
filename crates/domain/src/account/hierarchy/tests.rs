use proptest::prelude::*;
use uuid::Uuid;

use super::*;
use crate::testing::{ALICE, BOB, SEED, context, context_at, given, t0_plus_minutes};

/// Accounts named by a small number, for readable hierarchies.
fn account(n: u128) -> AccountId {
    AccountId::from_uuid(Uuid::from_u128(0xacc0_0000 + n))
}

const HOLDING: u128 = 1;
const EUROPE: u128 = 2;
const GERMANY: u128 = 3;
const MUNICH: u128 = 4;
const AMERICAS: u128 = 5;
const OTHER: u128 = 6;

fn alice() -> Actor {
    Actor::User { id: ALICE }
}

fn moved(child: u128, parent: Option<u128>, minutes: i64) -> AccountHierarchyEvent {
    AccountHierarchyEvent::ParentChanged {
        account: account(child),
        parent: parent.map(account),
        by: alice(),
        at: t0_plus_minutes(minutes),
    }
}

fn set_parent(child: u128, parent: Option<u128>) -> AccountHierarchyCommand {
    AccountHierarchyCommand::SetParent {
        account: account(child),
        parent: parent.map(account),
    }
}

/// holding ─┬─ europe ── germany ── munich
///          └─ americas
fn group() -> Vec<AccountHierarchyEvent> {
    vec![
        moved(EUROPE, Some(HOLDING), 0),
        moved(GERMANY, Some(EUROPE), 0),
        moved(MUNICH, Some(GERMANY), 0),
        moved(AMERICAS, Some(HOLDING), 0),
    ]
}

fn accounts(ns: &[u128]) -> Vec<AccountId> {
    ns.iter().copied().map(account).collect()
}

// Setting parents.

#[test]
fn putting_an_account_under_a_parent_records_the_link() {
    let hierarchy = given::<AccountHierarchy>(&[])
        .when(set_parent(EUROPE, Some(HOLDING)))
        .then(&[moved(EUROPE, Some(HOLDING), 0)]);
    assert_eq!(hierarchy.parent_of(account(EUROPE)), Some(account(HOLDING)));
    assert_eq!(
        hierarchy.children_of(account(HOLDING)).collect::<Vec<_>>(),
        accounts(&[EUROPE])
    );
}

#[test]
fn moving_an_account_takes_its_descendants_along() {
    let hierarchy = given::<AccountHierarchy>(&group())
        .at(context_at(t0_plus_minutes(5)))
        .when(set_parent(GERMANY, Some(AMERICAS)))
        .then(&[moved(GERMANY, Some(AMERICAS), 5)]);
    assert_eq!(
        hierarchy.ancestors(account(MUNICH)),
        accounts(&[GERMANY, AMERICAS, HOLDING])
    );
    assert_eq!(hierarchy.children_of(account(EUROPE)).count(), 0);
}

#[test]
fn making_an_account_top_level_removes_its_parent() {
    let hierarchy = given::<AccountHierarchy>(&group())
        .at(context_at(t0_plus_minutes(5)))
        .when(set_parent(EUROPE, None))
        .then(&[moved(EUROPE, None, 5)]);
    assert_eq!(hierarchy.parent_of(account(EUROPE)), None);
    assert_eq!(hierarchy.roots(), accounts(&[HOLDING, EUROPE]));
    assert_eq!(
        hierarchy.descendants(account(HOLDING)),
        accounts(&[AMERICAS])
    );
}

#[test]
fn setting_the_parent_an_account_has_records_nothing() {
    given::<AccountHierarchy>(&group())
        .when(set_parent(MUNICH, Some(GERMANY)))
        .then(&[]);
    given::<AccountHierarchy>(&group())
        .when(set_parent(HOLDING, None))
        .then(&[]);
    given::<AccountHierarchy>(&[])
        .when(set_parent(OTHER, None))
        .then(&[]);
}

#[test]
fn an_account_cannot_be_its_own_parent() {
    given::<AccountHierarchy>(&group())
        .when(set_parent(GERMANY, Some(GERMANY)))
        .then_error(&AccountHierarchyError::Cycle {
            account: account(GERMANY),
            parent: account(GERMANY),
            cycle: accounts(&[GERMANY]),
        });
}

#[test]
fn putting_an_account_under_its_descendant_is_refused_naming_the_cycle() {
    given::<AccountHierarchy>(&group())
        .when(set_parent(EUROPE, Some(MUNICH)))
        .then_error(&AccountHierarchyError::Cycle {
            account: account(EUROPE),
            parent: account(MUNICH),
            cycle: accounts(&[EUROPE, MUNICH, GERMANY]),
        });
}

#[test]
fn putting_an_account_under_its_child_is_refused() {
    given::<AccountHierarchy>(&group())
        .when(set_parent(HOLDING, Some(AMERICAS)))
        .then_error(&AccountHierarchyError::Cycle {
            account: account(HOLDING),
            parent: account(AMERICAS),
            cycle: accounts(&[HOLDING, AMERICAS]),
        });
}

#[test]
fn of_two_crossing_moves_decided_at_once_only_the_first_recorded_stands() {
    // Both are decided on the same version of the one stream: each alone is harmless.
    let base = AccountHierarchy::default();
    let first = base.decide(set_parent(EUROPE, Some(AMERICAS)), &context());
    let second = base.decide(set_parent(AMERICAS, Some(EUROPE)), &context());
    assert!(first.is_ok() && second.is_ok());
    // The store takes the first append; the second, rejected for its stale version, is
    // decided again on the new state and refused.
    let after_first = AccountHierarchy::replay(&first.unwrap());
    given::<AccountHierarchy>(&[moved(EUROPE, Some(AMERICAS), 0)])
        .when(set_parent(AMERICAS, Some(EUROPE)))
        .then_error(&AccountHierarchyError::Cycle {
            account: account(AMERICAS),
            parent: account(EUROPE),
            cycle: accounts(&[AMERICAS, EUROPE]),
        });
    assert_eq!(
        after_first.parent_of(account(EUROPE)),
        Some(account(AMERICAS))
    );
}

// Queries.

#[test]
fn ancestors_run_from_the_parent_up_to_the_top() {
    let hierarchy = AccountHierarchy::replay(&group());
    assert_eq!(
        hierarchy.ancestors(account(MUNICH)),
        accounts(&[GERMANY, EUROPE, HOLDING])
    );
    assert!(hierarchy.ancestors(account(HOLDING)).is_empty());
    assert!(hierarchy.ancestors(account(OTHER)).is_empty());
}

#[test]
fn descendants_are_listed_level_by_level() {
    let hierarchy = AccountHierarchy::replay(&group());
    assert_eq!(
        hierarchy.descendants(account(HOLDING)),
        accounts(&[EUROPE, AMERICAS, GERMANY, MUNICH])
    );
    assert!(hierarchy.descendants(account(MUNICH)).is_empty());
}

#[test]
fn roots_are_the_named_accounts_without_a_parent() {
    assert_eq!(
        AccountHierarchy::replay(&group()).roots(),
        accounts(&[HOLDING])
    );
    let mut events = group();
    events.push(moved(OTHER, Some(MUNICH), 1));
    events.push(moved(OTHER, None, 2));
    let hierarchy = AccountHierarchy::replay(&events);
    assert_eq!(hierarchy.roots(), accounts(&[HOLDING, OTHER]));
}

#[test]
fn depth_counts_the_ancestors() {
    let hierarchy = AccountHierarchy::replay(&group());
    assert_eq!(hierarchy.depth(account(HOLDING)), 0);
    assert_eq!(hierarchy.depth(account(AMERICAS)), 1);
    assert_eq!(hierarchy.depth(account(MUNICH)), 3);
    assert_eq!(hierarchy.depth(account(OTHER)), 0);
}

#[test]
fn a_deep_hierarchy_is_checked_without_recursion() {
    let depth = 20_000;
    let chain: Vec<AccountHierarchyEvent> = (1..depth).map(|n| moved(n + 1, Some(n), 0)).collect();
    let hierarchy = AccountHierarchy::replay(&chain);
    assert_eq!(
        hierarchy.depth(account(depth)),
        usize::try_from(depth - 1).unwrap()
    );
    let refused = hierarchy.decide(set_parent(1, Some(depth)), &context());
    let Err(AccountHierarchyError::Cycle { cycle, .. }) = refused else {
        panic!("closing a chain into a ring was accepted: {refused:?}");
    };
    assert_eq!(cycle.len(), usize::try_from(depth).unwrap());
    assert_eq!(hierarchy.descendants(account(1)).len(), cycle.len() - 1);
}

#[test]
fn the_hierarchy_id_is_the_same_for_the_same_tenant_and_differs_between_tenants() {
    assert_eq!(
        AccountHierarchy::id_for_tenant("acme"),
        AccountHierarchy::id_for_tenant("acme")
    );
    assert_ne!(
        AccountHierarchy::id_for_tenant("acme"),
        AccountHierarchy::id_for_tenant("globex")
    );
    assert_eq!(AccountHierarchy::id_for_tenant("acme").get_version_num(), 5);
}

#[test]
fn the_cycle_error_reads_as_the_ring_it_would_close() {
    let error = AccountHierarchyError::Cycle {
        account: account(EUROPE),
        parent: account(MUNICH),
        cycle: accounts(&[EUROPE, MUNICH, GERMANY]),
    };
    let (europe, munich, germany) = (account(EUROPE), account(MUNICH), account(GERMANY));
    assert_eq!(
        error.to_string(),
        format!(
            "putting account {europe} under {munich} would make a cycle: \
             {europe} → {munich} → {germany} → {europe}"
        )
    );
}

// Properties.

const POOL: u128 = 7;

fn arb_set_parent() -> impl Strategy<Value = AccountHierarchyCommand> {
    (1..=POOL, proptest::option::weighted(0.85, 1..=POOL))
        .prop_map(|(child, parent)| set_parent(child, parent))
}

fn arb_steps(max: usize) -> impl Strategy<Value = Vec<(AccountHierarchyCommand, Context)>> {
    proptest::collection::vec(
        (arb_set_parent(), prop::sample::select(vec![ALICE, BOB])),
        0..max,
    )
    .prop_map(|commands| {
        (0..)
            .zip(commands)
            .map(|(minutes, (command, id))| {
                (
                    command,
                    Context::new(t0_plus_minutes(minutes), Actor::User { id }, SEED),
                )
            })
            .collect()
    })
}

/// Whether `parent` is `child` or lies below it, judged from the parent links alone by a
/// walk that needs no invariant (it stops at a repeat).
fn naively_below(hierarchy: &AccountHierarchy, parent: AccountId, child: AccountId) -> bool {
    let mut seen = HashSet::new();
    let mut current = Some(parent);
    while let Some(next) = current {
        if next == child {
            return true;
        }
        if !seen.insert(next) {
            return false;
        }
        current = hierarchy.parent_of(next);
    }
    false
}

/// The links form a forest, and the children map mirrors the parent map.
fn check_forest(hierarchy: &AccountHierarchy) -> Result<(), TestCaseError> {
    for (&child, &parent) in &hierarchy.parents {
        prop_assert!(
            !naively_below(hierarchy, parent, child),
            "{} lies on a cycle",
            child
        );
        prop_assert!(
            hierarchy
                .children_of(parent)
                .any(|sibling| sibling == child)
        );
        prop_assert!(hierarchy.accounts.contains(&child) && hierarchy.accounts.contains(&parent));
    }
    for (parent, children) in &hierarchy.children {
        prop_assert!(!children.is_empty());
        for child in children {
            prop_assert_eq!(hierarchy.parent_of(*child), Some(*parent));
        }
    }
    for &account in &hierarchy.accounts {
        let ancestors = hierarchy.ancestors(account);
        let top = ancestors.last().copied().unwrap_or(account);
        prop_assert!(hierarchy.roots().contains(&top));
        prop_assert_eq!(hierarchy.depth(account), ancestors.len());
    }
    Ok(())
}

proptest! {
    #[test]
    fn accepted_moves_keep_a_forest_and_refused_ones_would_have_closed_a_cycle(
        steps in arb_steps(60)
    ) {
        let mut state = AccountHierarchy::default();
        for (command, ctx) in steps {
            let AccountHierarchyCommand::SetParent { account: child, parent } = command.clone();
            match state.decide(command, &ctx) {
                Ok(events) => {
                    if let Some(parent) = parent {
                        prop_assert!(!naively_below(&state, parent, child));
                    }
                    prop_assert_eq!(events.is_empty(), state.parent_of(child) == parent);
                    state = events.iter().fold(state, Aggregate::evolve);
                    prop_assert_eq!(state.parent_of(child), parent);
                }
                Err(AccountHierarchyError::Cycle { account, parent: asked, cycle }) => {
                    prop_assert_eq!(account, child);
                    prop_assert_eq!(Some(asked), parent);
                    prop_assert!(naively_below(&state, asked, child));
                    // The cycle is real: each one's parent is the next, the last's is `child`
                    // once the move is made.
                    prop_assert_eq!(cycle.first(), Some(&child));
                    for pair in cycle.windows(2).skip(1) {
                        prop_assert_eq!(state.parent_of(pair[0]), Some(pair[1]));
                    }
                    if cycle.len() > 1 {
                        prop_assert_eq!(cycle.get(1), Some(&asked));
                        prop_assert_eq!(state.parent_of(*cycle.last().unwrap()), Some(child));
                    }
                }
            }
            check_forest(&state)?;
        }
    }

    #[test]
    fn replaying_the_events_rebuilds_the_state_also_after_storage(steps in arb_steps(40)) {
        let (state, events) = crate::testing::run_steps::<AccountHierarchy>(steps);
        crate::testing::check_replay(&state, &events)?;
    }

    #[test]
    fn evolve_and_the_queries_accept_any_sequence_of_facts(
        links in proptest::collection::vec((1..=POOL, proptest::option::of(1..=POOL)), 0..30)
    ) {
        // Links `decide` would refuse, rings included: replay and every query must still end.
        let events: Vec<_> = links
            .into_iter()
            .map(|(child, parent)| moved(child, parent, 0))
            .collect();
        let state = AccountHierarchy::replay(&events);
        crate::testing::check_replay(&state, &events)?;
        for n in 1..=POOL {
            let _ = (state.ancestors(account(n)), state.descendants(account(n)), state.depth(account(n)));
            let _ = state.decide(set_parent(n, Some(1)), &context());
        }
        let _ = state.roots();
    }
}
