//! Choosing one rep among a team's eligible members: smooth weighted round-robin, or the
//! least loaded relative to capacity. Both are deterministic; ties go to the member listed
//! first in the team.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::roster::TeamMember;
use crate::ids::{TeamId, UserId};

/// The round-robin position of every team: each member's credit in smooth weighted
/// round-robin. The caller persists it and passes it to the next routing call.
///
/// Smooth weighted round-robin (as in nginx's upstream balancer): on each assignment every
/// eligible rep earns their weight in credit, the rep with the most credit is chosen and pays
/// back the sum of the eligible weights. Starting from an empty state with everyone eligible,
/// every run of `sum(weights)` assignments gives each rep exactly `weight` of them, spread out
/// rather than in bursts.
///
/// A rep who is not eligible (away, full, excluded for this lead) neither earns nor pays:
/// their credit is frozen, so on return they resume their place in the cycle instead of
/// receiving a burst of catch-up leads. A new member starts at zero; a member who left the
/// team is forgotten. Credits are clamped to ± (team weight × team size), a bound ordinary
/// operation never reaches, so a hand-edited or ancient state cannot overflow.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RoundRobinState {
    #[serde(default)]
    teams: BTreeMap<TeamId, BTreeMap<UserId, i64>>,
}

impl RoundRobinState {
    /// The state before any assignment: everyone at zero credit.
    pub fn new() -> Self {
        Self::default()
    }

    /// A rep's current credit in a team (zero when never recorded).
    pub fn credit(&self, team: TeamId, rep: UserId) -> i64 {
        self.teams
            .get(&team)
            .and_then(|credits| credits.get(&rep))
            .copied()
            .unwrap_or(0)
    }

    /// Every recorded credit of `team`'s members (members never credited are absent: zero).
    pub fn team_credits(&self, team: TeamId) -> BTreeMap<UserId, i64> {
        self.teams.get(&team).cloned().unwrap_or_default()
    }

    /// A state holding `credits` for `team` and nothing for any other team: how an owner of
    /// one team's rotation (the roster's `Team` aggregate) hands it to routing.
    pub fn for_team(team: TeamId, credits: BTreeMap<UserId, i64>) -> Self {
        let mut teams = BTreeMap::new();
        if !credits.is_empty() {
            teams.insert(team, credits);
        }
        Self { teams }
    }

    /// One round-robin step for `members` of `team`: the index of the chosen member (among
    /// those with `eligible[i]`, which must have a positive weight), and the state after it.
    pub(super) fn choose(
        &self,
        team: TeamId,
        members: &[TeamMember],
        eligible: &[bool],
    ) -> (Option<usize>, Self) {
        let bound = credit_bound(members);
        let recorded = self.teams.get(&team);
        let mut credits: Vec<i128> = members
            .iter()
            .map(|m| {
                let credit = recorded.and_then(|c| c.get(&m.rep)).copied().unwrap_or(0);
                i128::from(credit).clamp(-bound, bound)
            })
            .collect();
        let is_eligible = |i: usize| eligible.get(i).copied().unwrap_or(false);
        let eligible_weight: i128 = (0..members.len())
            .filter(|&i| is_eligible(i))
            .map(|i| i128::from(members[i].weight))
            .sum();

        let mut chosen: Option<usize> = None;
        for (i, member) in members.iter().enumerate().filter(|&(i, _)| is_eligible(i)) {
            credits[i] += i128::from(member.weight);
            // Strictly greater: on a tie the member listed first keeps the lead.
            if chosen.is_none_or(|best| credits[i] > credits[best]) {
                chosen = Some(i);
            }
        }
        if let Some(i) = chosen {
            credits[i] -= eligible_weight;
        }

        let mut next = self.clone();
        let team_credits = members
            .iter()
            .zip(credits)
            // The clamp keeps the value within i64 (the bound is at most i64::MAX).
            .map(|(m, credit)| {
                (
                    m.rep,
                    i64::try_from(credit.clamp(-bound, bound)).unwrap_or(0),
                )
            })
            .collect();
        next.teams.insert(team, team_credits);
        (chosen, next)
    }
}

/// The largest credit magnitude kept: total team weight × team size, at most `i64::MAX`.
fn credit_bound(members: &[TeamMember]) -> i128 {
    let total_weight: i128 = members.iter().map(|m| i128::from(m.weight)).sum();
    let size = i128::try_from(members.len()).unwrap_or(i128::MAX);
    total_weight.saturating_mul(size).min(i128::from(i64::MAX))
}

/// The least loaded eligible member: lowest `open_items / capacity`, then the most free slots
/// (`capacity - open_items`), then the member listed first. Weights play no part.
pub(super) fn least_loaded(members: &[TeamMember], eligible: &[bool]) -> Option<usize> {
    members
        .iter()
        .enumerate()
        .filter(|&(i, _)| eligible.get(i).copied().unwrap_or(false))
        // `min_by` keeps the first of equal elements, which is the roster-order tie-break.
        .min_by(|(_, a), (_, b)| compare_load(a, b))
        .map(|(i, _)| i)
}

/// Orders members from least to most loaded relative to capacity.
fn compare_load(a: &TeamMember, b: &TeamMember) -> Ordering {
    // Cross-multiplying compares the ratios exactly, without floats or division by zero.
    let a_load = u64::from(a.open_items) * u64::from(b.capacity);
    let b_load = u64::from(b.open_items) * u64::from(a.capacity);
    let free = |m: &TeamMember| m.capacity.saturating_sub(m.open_items);
    a_load.cmp(&b_load).then_with(|| free(b).cmp(&free(a)))
}

#[cfg(test)]
pub(crate) mod generators {
    use proptest::prelude::*;

    use super::*;

    /// A state with arbitrary credits (including extreme ones) for reps of the given teams.
    pub(crate) fn arb_round_robin_state(
        teams: Vec<TeamId>,
        reps: Vec<UserId>,
    ) -> impl Strategy<Value = RoundRobinState> {
        let credit = prop_oneof![-20i64..20, Just(i64::MIN), Just(i64::MAX)];
        prop::collection::btree_map(
            prop::sample::select(teams),
            prop::collection::btree_map(prop::sample::select(reps), credit, 0..8),
            0..3,
        )
        .prop_map(|teams| RoundRobinState { teams })
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::routing::roster::Presence;
    use crate::testing::{ALICE, BOB, CAROL};

    const SALES: TeamId = TeamId(Uuid::from_u128(0x5a1e5));

    fn member(rep: UserId, weight: u32) -> TeamMember {
        TeamMember {
            rep,
            active: true,
            presence: Presence::Online,
            out_of_office: None,
            weight,
            capacity: 100,
            open_items: 0,
        }
    }

    fn loaded(rep: UserId, open_items: u32, capacity: u32) -> TeamMember {
        TeamMember {
            capacity,
            open_items,
            ..member(rep, 1)
        }
    }

    /// Runs `rounds` round-robin steps with the given eligibility, returning the chosen reps.
    fn run(
        state: &mut RoundRobinState,
        members: &[TeamMember],
        eligible: &[bool],
        rounds: usize,
    ) -> Vec<UserId> {
        (0..rounds)
            .map(|_| {
                let (chosen, next) = state.choose(SALES, members, eligible);
                *state = next;
                members[chosen.unwrap()].rep
            })
            .collect()
    }

    #[test]
    fn weighted_round_robin_spreads_a_cycle_in_proportion_to_weight() {
        let members = [member(ALICE, 2), member(BOB, 1)];
        let mut state = RoundRobinState::new();
        assert_eq!(
            run(&mut state, &members, &[true, true], 6),
            [ALICE, BOB, ALICE, ALICE, BOB, ALICE]
        );
        assert_eq!(
            state.credit(SALES, ALICE),
            0,
            "a full cycle returns to the start"
        );
        assert_eq!(state.credit(SALES, BOB), 0);
    }

    #[test]
    fn smooth_round_robin_interleaves_rather_than_bursting() {
        let members = [member(ALICE, 5), member(BOB, 1), member(CAROL, 1)];
        let picks = run(
            &mut RoundRobinState::new(),
            &members,
            &[true, true, true],
            7,
        );
        assert_eq!(picks, [ALICE, ALICE, BOB, ALICE, CAROL, ALICE, ALICE]);
    }

    #[test]
    fn equal_credit_goes_to_the_member_listed_first() {
        let members = [member(BOB, 1), member(ALICE, 1)];
        let picks = run(&mut RoundRobinState::new(), &members, &[true, true], 2);
        assert_eq!(picks, [BOB, ALICE]);
    }

    #[test]
    fn an_unavailable_rep_keeps_their_place_and_gets_no_burst_on_return() {
        let members = [member(ALICE, 1), member(BOB, 1)];
        let mut state = RoundRobinState::new();
        assert_eq!(run(&mut state, &members, &[true, true], 1), [ALICE]);
        let bob_before = state.credit(SALES, BOB);
        assert_eq!(
            run(&mut state, &members, &[true, false], 5),
            [ALICE; 5],
            "Alice alone takes everything"
        );
        assert_eq!(
            state.credit(SALES, BOB),
            bob_before,
            "Bob's credit is frozen while away"
        );
        assert_eq!(
            run(&mut state, &members, &[true, true], 4),
            [BOB, ALICE, BOB, ALICE],
            "back to alternating"
        );
    }

    #[test]
    fn members_who_left_are_forgotten_and_newcomers_start_at_zero() {
        let mut state = RoundRobinState::new();
        run(
            &mut state,
            &[member(ALICE, 1), member(BOB, 1)],
            &[true, true],
            1,
        );
        let (_, next) = state.choose(SALES, &[member(BOB, 1), member(CAROL, 1)], &[false, false]);
        assert_eq!(
            next.teams[&SALES].keys().copied().collect::<Vec<_>>(),
            [BOB, CAROL]
        );
        assert_eq!(next.credit(SALES, BOB), 1, "Bob's credit survives");
        assert_eq!(next.credit(SALES, CAROL), 0);
    }

    #[test]
    fn extreme_recorded_credits_are_clamped_instead_of_overflowing() {
        let members = [member(ALICE, u32::MAX), member(BOB, u32::MAX)];
        let mut state = RoundRobinState::new();
        state
            .teams
            .insert(SALES, BTreeMap::from([(ALICE, i64::MAX), (BOB, i64::MIN)]));
        let picks = run(&mut state, &members, &[true, true], 3);
        assert_eq!(picks[0], ALICE);
        let bound = i64::from(u32::MAX) * 2 * 2;
        assert!(
            state.credit(SALES, ALICE).abs() <= bound && state.credit(SALES, BOB).abs() <= bound
        );
    }

    #[test]
    fn one_team_s_credits_go_out_and_come_back_unchanged() {
        let members = [member(ALICE, 2), member(BOB, 1)];
        let mut state = RoundRobinState::new();
        run(&mut state, &members, &[true, true], 2);
        let credits = state.team_credits(SALES);
        assert_eq!(credits.len(), 2);
        assert_eq!(RoundRobinState::for_team(SALES, credits), state);
        assert_eq!(
            RoundRobinState::for_team(SALES, BTreeMap::new()),
            RoundRobinState::new()
        );
        assert!(RoundRobinState::new().team_credits(SALES).is_empty());
    }

    #[test]
    fn nobody_eligible_chooses_nobody_and_changes_no_credit() {
        let members = [member(ALICE, 1), member(BOB, 1)];
        let mut state = RoundRobinState::new();
        run(&mut state, &members, &[true, true], 1);
        let (chosen, next) = state.choose(SALES, &members, &[false, false]);
        assert_eq!(chosen, None);
        assert_eq!(next, state);
    }

    #[test]
    fn least_loaded_picks_the_lowest_share_of_capacity() {
        let members = [
            loaded(ALICE, 4, 10),
            loaded(BOB, 1, 2),
            loaded(CAROL, 3, 10),
        ];
        assert_eq!(
            least_loaded(&members, &[true, true, true]),
            Some(2),
            "30% beats 40% and 50%"
        );
    }

    #[test]
    fn least_loaded_ties_go_to_the_most_free_slots_then_the_first_listed() {
        let same_share = [loaded(ALICE, 1, 2), loaded(BOB, 2, 4)];
        assert_eq!(
            least_loaded(&same_share, &[true, true]),
            Some(1),
            "both half full; Bob has two free slots"
        );
        let identical = [loaded(ALICE, 2, 4), loaded(BOB, 2, 4), loaded(CAROL, 2, 4)];
        assert_eq!(least_loaded(&identical, &[true, true, true]), Some(0));
        assert_eq!(least_loaded(&identical, &[false, true, true]), Some(1));
    }

    #[test]
    fn least_loaded_ignores_ineligible_members() {
        let members = [loaded(ALICE, 0, 10), loaded(BOB, 9, 10)];
        assert_eq!(least_loaded(&members, &[false, true]), Some(1));
        assert_eq!(least_loaded(&members, &[false, false]), None);
    }
}
