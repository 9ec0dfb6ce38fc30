//! The roster: teams, their members, and each member's availability and load at the moment
//! of routing, as plain data the caller gathers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::decision::{AssignmentStrategy, SkipReason};
use crate::ids::{TeamId, UserId};

/// Whether a rep is signed in and taking work right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Taking work.
    Online,
    /// Not taking work.
    Offline,
}

/// A rep's out-of-office period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OutOfOffice {
    /// When the rep is back (back when `now >= until`), or `None` until further notice.
    pub until: Option<DateTime<Utc>>,
}

impl OutOfOffice {
    /// Whether the rep is still away at `now`.
    pub fn is_away_at(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|until| now < until)
    }
}

/// One member of a team, with availability and load as of the routing moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamMember {
    /// The rep.
    pub rep: UserId,
    /// Whether the rep's account is active; a deactivated rep never receives work.
    pub active: bool,
    /// Whether the rep is online.
    pub presence: Presence,
    /// The rep's out-of-office period, if one is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of_office: Option<OutOfOffice>,
    /// The rep's share in weighted round-robin: a rep of weight 2 gets twice the leads of a
    /// rep of weight 1. Weight 0 keeps a rep in the team but out of the rotation.
    pub weight: u32,
    /// The most open items the rep may hold; at or above it the rep receives nothing.
    pub capacity: u32,
    /// The open items the rep holds now.
    pub open_items: u32,
}

impl TeamMember {
    /// Why this rep cannot take an item now under `strategy`, or `None` when they can.
    ///
    /// One reason is reported, the most lasting first: deactivated, held the item before
    /// (`excluded`), out of office, offline, at capacity, and (round-robin only) weight zero.
    /// Least-loaded ignores weights.
    pub fn skip_reason(
        &self,
        strategy: AssignmentStrategy,
        excluded: &[UserId],
        now: DateTime<Utc>,
    ) -> Option<SkipReason> {
        if !self.active {
            return Some(SkipReason::Deactivated);
        }
        if excluded.contains(&self.rep) {
            return Some(SkipReason::PreviouslyAssigned);
        }
        if let Some(absence) = self.out_of_office.filter(|absence| absence.is_away_at(now)) {
            return Some(SkipReason::OutOfOffice {
                until: absence.until,
            });
        }
        if self.presence == Presence::Offline {
            return Some(SkipReason::Offline);
        }
        if self.open_items >= self.capacity {
            return Some(SkipReason::AtCapacity {
                open: self.open_items,
                capacity: self.capacity,
            });
        }
        if strategy == AssignmentStrategy::WeightedRoundRobin && self.weight == 0 {
            return Some(SkipReason::ZeroWeight);
        }
        None
    }
}

/// A team: its assignment strategy and its members, in a stable order that breaks ties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    /// The team; its queue holds leads nobody in it could take.
    pub id: TeamId,
    /// How a rep is chosen among the members.
    pub strategy: AssignmentStrategy,
    /// The members. Their order is the order of the decision's candidates and breaks ties.
    pub members: Vec<TeamMember>,
}

#[cfg(test)]
pub(crate) mod generators {
    use chrono::Duration;
    use proptest::prelude::*;
    use uuid::Uuid;

    use super::*;

    /// The fixed "now" generated rosters are relative to.
    pub(crate) fn roster_now() -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::days(20_000)
    }

    /// A rep id from a small pool, so exclusions and duplicates are likely.
    pub(crate) fn rep(n: u8) -> UserId {
        UserId(Uuid::from_u128(0x5e00 + u128::from(n)))
    }

    /// An out-of-office period around [`roster_now`]: past, future, exactly now, or open-ended.
    pub(crate) fn arb_out_of_office() -> impl Strategy<Value = OutOfOffice> {
        prop::option::of(-3i64..=3).prop_map(|hours| OutOfOffice {
            until: hours.map(|h| roster_now() + Duration::hours(h)),
        })
    }

    /// A member with every availability state reachable, weights and loads near their edges.
    pub(crate) fn arb_team_member(rep: UserId) -> impl Strategy<Value = TeamMember> {
        (
            prop::bool::weighted(0.85),
            prop::bool::weighted(0.8),
            prop::option::weighted(0.2, arb_out_of_office()),
            prop_oneof![Just(0u32), 1u32..5, Just(u32::MAX)],
            prop_oneof![Just(0u32), 1u32..10, Just(u32::MAX)],
            0u32..12,
        )
            .prop_map(
                move |(active, online, out_of_office, weight, capacity, open_items)| TeamMember {
                    rep,
                    active,
                    presence: if online {
                        Presence::Online
                    } else {
                        Presence::Offline
                    },
                    out_of_office,
                    weight,
                    capacity,
                    open_items,
                },
            )
    }

    /// A team of up to `max_members` distinct reps drawn from a pool of 12.
    pub(crate) fn arb_team(id: TeamId, max_members: usize) -> impl Strategy<Value = Team> {
        (
            prop::sample::subsequence((0u8..12).collect::<Vec<_>>(), 0..=max_members.min(12)),
            prop_oneof![
                Just(AssignmentStrategy::WeightedRoundRobin),
                Just(AssignmentStrategy::LeastLoaded)
            ],
        )
            .prop_flat_map(move |(reps, strategy)| {
                reps.into_iter()
                    .map(|n| arb_team_member(rep(n)))
                    .collect::<Vec<_>>()
                    .prop_map(move |members| Team {
                        id,
                        strategy,
                        members,
                    })
            })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::testing::{ALICE, BOB, t0};

    fn available() -> TeamMember {
        TeamMember {
            rep: ALICE,
            active: true,
            presence: Presence::Online,
            out_of_office: None,
            weight: 1,
            capacity: 10,
            open_items: 0,
        }
    }

    fn reason(member: &TeamMember) -> Option<SkipReason> {
        member.skip_reason(AssignmentStrategy::WeightedRoundRobin, &[], t0())
    }

    #[test]
    fn an_available_rep_has_no_skip_reason() {
        assert_eq!(reason(&available()), None);
    }

    #[test]
    fn a_deactivated_rep_is_skipped() {
        assert_eq!(
            reason(&TeamMember {
                active: false,
                ..available()
            }),
            Some(SkipReason::Deactivated)
        );
    }

    #[test]
    fn an_offline_rep_is_skipped() {
        assert_eq!(
            reason(&TeamMember {
                presence: Presence::Offline,
                ..available()
            }),
            Some(SkipReason::Offline)
        );
    }

    #[test]
    fn an_out_of_office_rep_is_skipped_until_the_moment_they_are_back() {
        let back_at = t0() + Duration::minutes(1);
        let away = TeamMember {
            out_of_office: Some(OutOfOffice {
                until: Some(back_at),
            }),
            ..available()
        };
        assert_eq!(
            reason(&away),
            Some(SkipReason::OutOfOffice {
                until: Some(back_at)
            })
        );
        assert_eq!(
            away.skip_reason(AssignmentStrategy::WeightedRoundRobin, &[], back_at),
            None
        );
        let indefinitely = TeamMember {
            out_of_office: Some(OutOfOffice { until: None }),
            ..available()
        };
        assert_eq!(
            reason(&indefinitely),
            Some(SkipReason::OutOfOffice { until: None })
        );
    }

    #[test]
    fn a_rep_at_or_over_capacity_is_skipped() {
        let full = TeamMember {
            capacity: 3,
            open_items: 3,
            ..available()
        };
        assert_eq!(
            reason(&full),
            Some(SkipReason::AtCapacity {
                open: 3,
                capacity: 3
            })
        );
        let over = TeamMember {
            capacity: 3,
            open_items: 5,
            ..available()
        };
        assert_eq!(
            reason(&over),
            Some(SkipReason::AtCapacity {
                open: 5,
                capacity: 3
            })
        );
        let no_capacity = TeamMember {
            capacity: 0,
            ..available()
        };
        assert_eq!(
            reason(&no_capacity),
            Some(SkipReason::AtCapacity {
                open: 0,
                capacity: 0
            })
        );
    }

    #[test]
    fn a_rep_who_held_the_lead_before_is_skipped() {
        let member = available();
        assert_eq!(
            member.skip_reason(AssignmentStrategy::LeastLoaded, &[BOB, ALICE], t0()),
            Some(SkipReason::PreviouslyAssigned)
        );
        assert_eq!(
            member.skip_reason(AssignmentStrategy::LeastLoaded, &[BOB], t0()),
            None
        );
    }

    #[test]
    fn weight_zero_keeps_a_rep_out_of_round_robin_only() {
        let paused = TeamMember {
            weight: 0,
            ..available()
        };
        assert_eq!(reason(&paused), Some(SkipReason::ZeroWeight));
        assert_eq!(
            paused.skip_reason(AssignmentStrategy::LeastLoaded, &[], t0()),
            None
        );
    }

    #[test]
    fn the_most_lasting_reason_is_reported() {
        let everything_wrong = TeamMember {
            active: false,
            presence: Presence::Offline,
            out_of_office: Some(OutOfOffice { until: None }),
            weight: 0,
            capacity: 0,
            ..available()
        };
        assert_eq!(reason(&everything_wrong), Some(SkipReason::Deactivated));
        let reactivated = TeamMember {
            active: true,
            ..everything_wrong
        };
        assert_eq!(
            reactivated.skip_reason(AssignmentStrategy::WeightedRoundRobin, &[ALICE], t0()),
            Some(SkipReason::PreviouslyAssigned)
        );
        assert_eq!(
            reason(&reactivated),
            Some(SkipReason::OutOfOffice { until: None })
        );
        let back = TeamMember {
            out_of_office: None,
            ..reactivated
        };
        assert_eq!(reason(&back), Some(SkipReason::Offline));
        let online = TeamMember {
            presence: Presence::Online,
            ..back
        };
        assert_eq!(
            reason(&online),
            Some(SkipReason::AtCapacity {
                open: 0,
                capacity: 0
            })
        );
    }
}
