//! Lead routing: ordered territory rules choose a team (first match wins), then an assignment
//! strategy chooses an available rep within it, or the lead waits in the team's queue.
//! Every outcome carries the reasons, so an assignment can be explained later.

mod decision;

pub use decision::{AssignmentStrategy, CandidateVerdict, RoutingDecision, RoutingOutcome, RuleMatch, SkipReason, Verdict};
