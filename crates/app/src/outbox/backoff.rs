//! When a failed message is due again: exponential backoff with full jitter, or the
//! receiver's `Retry-After`, both bounded by a cap.

use std::time::Duration;

use uuid::Uuid;

use crate::ids::derive_id;

/// The delay before attempt `attempt + 1` of `message`, after attempt `attempt` (from 1)
/// failed: `Retry-After` when the receiver sent one, otherwise a uniform draw from
/// `[0, min(cap, base × 2^(attempt − 1)))` ("full jitter", AWS architecture blog, "Exponential
/// Backoff And Jitter"); never more than `cap`.
///
/// The draw is derived from the message's id and the attempt, so it is the same on every
/// replica and in every test run, and still spreads messages that failed together.
pub(crate) fn retry_delay(
    message: Uuid,
    attempt: u32,
    retry_after: Option<Duration>,
    base: Duration,
    cap: Duration,
) -> Duration {
    if let Some(after) = retry_after {
        return after.min(cap);
    }
    let doubling = attempt.saturating_sub(1).min(31);
    let ceiling = base.saturating_mul(1 << doubling).min(cap);
    let draw = derive_id(message, &format!("outbox-backoff-{attempt}"));
    let mut low = [0u8; 8];
    low.copy_from_slice(&draw.as_bytes()[8..]);
    let fraction = u128::from(u64::from_be_bytes(low));
    // ceiling × fraction / 2^64, in integers; a ceiling too large to scale keeps the ceiling.
    let nanos = ceiling
        .as_nanos()
        .checked_mul(fraction)
        .map_or(ceiling.as_nanos(), |scaled| scaled >> 64);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const BASE: Duration = Duration::from_millis(500);
    const CAP: Duration = Duration::from_mins(1);

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let id = Uuid::from_u128(7);
        let after = Some(Duration::from_secs(3));
        assert_eq!(retry_delay(id, 1, after, BASE, CAP), Duration::from_secs(3));
        let far = Some(Duration::from_hours(1));
        assert_eq!(retry_delay(id, 1, far, BASE, CAP), CAP);
    }

    #[test]
    fn draws_spread_messages_that_failed_together() {
        let delays: std::collections::BTreeSet<Duration> = (0..50u128)
            .map(|id| retry_delay(Uuid::from_u128(id), 4, None, BASE, CAP))
            .collect();
        assert!(delays.len() > 45, "{delays:?}");
    }

    proptest! {
        #[test]
        fn the_delay_stays_under_the_doubled_base_and_the_cap_and_is_stable(
            id in any::<u128>(),
            attempt in 1u32..200,
        ) {
            let id = Uuid::from_u128(id);
            let delay = retry_delay(id, attempt, None, BASE, CAP);
            let ceiling = BASE.saturating_mul(1 << attempt.saturating_sub(1).min(31)).min(CAP);
            prop_assert!(delay <= ceiling);
            prop_assert_eq!(delay, retry_delay(id, attempt, None, BASE, CAP));
        }

        #[test]
        fn huge_settings_never_panic(id in any::<u128>(), attempt in any::<u32>()) {
            let delay = retry_delay(Uuid::from_u128(id), attempt, None, Duration::MAX, Duration::MAX);
            prop_assert!(delay <= Duration::MAX);
        }
    }
}
