//! Given/when/then for aggregates: `given(events).when(command).then(expected)`.
//! Test support only; compiled for this crate's tests.

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

use crate::aggregate::Aggregate;
use crate::context::{Actor, Context};
use crate::ids::UserId;

/// Monday 2 March 2026, 09:00 UTC: the default "now" of a test.
pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .expect("valid date")
}

/// `t0()` plus `minutes`.
pub(crate) fn t0_plus_minutes(minutes: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::minutes(minutes)
}

/// The acting user of tests.
pub(crate) const ALICE: UserId = UserId(Uuid::from_u128(0xa11ce));
/// A second user.
pub(crate) const BOB: UserId = UserId(Uuid::from_u128(0xb0b));
/// A third user.
pub(crate) const CAROL: UserId = UserId(Uuid::from_u128(0xca201));

/// The seed of a test context's fresh ids (a UUIDv7).
pub(crate) const SEED: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);

/// A context at `now`, acting as Alice.
pub(crate) fn context_at(now: DateTime<Utc>) -> Context {
    Context::new(now, Actor::User { id: ALICE }, SEED)
}

/// The default test context: Alice at `t0()`.
pub(crate) fn context() -> Context {
    context_at(t0())
}

/// Starts a test from the events already recorded.
pub(crate) fn given<A: Aggregate>(events: &[A::Event]) -> Given<A> {
    Given {
        state: A::replay(events),
        ctx: context(),
    }
}

/// A state built from past events.
pub(crate) struct Given<A: Aggregate> {
    state: A,
    ctx: Context,
}

impl<A: Aggregate> Given<A> {
    /// Decides at another context (another time or actor).
    pub(crate) fn at(mut self, ctx: Context) -> Self {
        self.ctx = ctx;
        self
    }

    /// Issues a command.
    pub(crate) fn when(self, command: A::Command) -> Then<A> {
        let result = self.state.decide(command, &self.ctx);
        Then {
            state: self.state,
            result,
        }
    }
}

/// The outcome of a command, to be checked.
pub(crate) struct Then<A: Aggregate> {
    state: A,
    result: Result<Vec<A::Event>, A::Error>,
}

impl<A: Aggregate> Then<A> {
    /// Asserts the command produced exactly `expected`, and that replaying them on the state
    /// is the same as evolving it event by event (it always is; this exercises `evolve`).
    #[track_caller]
    pub(crate) fn then(self, expected: &[A::Event]) -> A {
        match self.result {
            Ok(events) => {
                assert_eq!(events, expected, "unexpected events");
                events.iter().fold(self.state, A::evolve)
            }
            Err(error) => panic!("expected events {expected:?}, got error {error:?}"),
        }
    }

    /// Asserts the command was refused with `expected`.
    #[track_caller]
    pub(crate) fn then_error(self, expected: &A::Error)
    where
        A::Error: PartialEq,
    {
        match self.result {
            Ok(events) => panic!("expected error {expected:?}, got events {events:?}"),
            Err(error) => assert_eq!(&error, expected),
        }
    }

    /// The raw result, for checks the two above cannot express.
    pub(crate) fn result(self) -> Result<Vec<A::Event>, A::Error> {
        self.result
    }
}

/// Runs `steps` through `decide` and `evolve` from the empty state, skipping refused commands
/// (a random sequence is mostly refusals), and returns the final state and every event emitted.
pub(crate) fn run_steps<A: Aggregate>(
    steps: impl IntoIterator<Item = (A::Command, Context)>,
) -> (A, Vec<A::Event>) {
    let mut state = A::default();
    let mut history = Vec::new();
    for (command, ctx) in steps {
        if let Ok(events) = state.decide(command, &ctx) {
            for event in events {
                state = state.evolve(&event);
                history.push(event);
            }
        }
    }
    (state, history)
}

/// Checks that replaying `history` from the empty state rebuilds `state`, also after every
/// event went through an encode/decode round trip (which catches lossy serde).
pub(crate) fn check_replay<A: Aggregate>(
    state: &A,
    history: &[A::Event],
) -> Result<(), proptest::test_runner::TestCaseError> {
    proptest::prop_assert_eq!(&A::replay(history), state);
    let decoded: Vec<A::Event> = history
        .iter()
        .map(|event| {
            let encoded = crate::encode(event).expect("every event encodes");
            crate::decode(encoded.event_type, encoded.schema_version, encoded.payload)
                .expect("what was encoded decodes")
        })
        .collect();
    proptest::prop_assert_eq!(&decoded, history);
    proptest::prop_assert_eq!(&A::replay(&decoded), state);
    Ok(())
}
