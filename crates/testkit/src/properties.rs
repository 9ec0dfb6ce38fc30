//! Properties every read model keeps, checked on random valid histories (see
//! [`scenario`](crate::scenario)): a fold in any batch split equals one fold from scratch,
//! delivering any event twice changes nothing, and every document reads back from the JSON the
//! SQL adapters store (feature `projections`).

use crm_eventstore::GlobalPosition;
use crm_projections::{
    DocKey, MemoryDocuments, ProjectedEvent, ProjectionError, ReadModel, TenantId,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Every document of every tenant, with its position, in key order.
pub fn snapshot<M: ReadModel>(
    store: &MemoryDocuments<M>,
) -> Vec<(TenantId, DocKey, GlobalPosition, M::Doc)> {
    let mut docs: Vec<_> = store
        .all_documents()
        .map(|(tenant, stored)| {
            (
                tenant.clone(),
                stored.key,
                stored.position,
                stored.doc.clone(),
            )
        })
        .collect();
    docs.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    docs
}

/// Checks the fold properties of `model` on `events`: `cuts` split the events into batches,
/// `again` names events (by index, modulo the length) delivered a second time later on.
pub fn check_fold<M: ReadModel + Clone>(
    model: &M,
    events: &[ProjectedEvent],
    cuts: &[usize],
    again: &[(usize, usize)],
) -> Result<(), TestCaseError> {
    let once = MemoryDocuments::fold(model.clone(), events).map_err(fail)?;
    let expected = snapshot(&once);
    // The in-memory store keeps documents as values; PostgreSQL and SQLite keep their JSON.
    // A document whose JSON does not read back (two fields named alike by a tag, say) would
    // pass every in-memory test and halt a projector in production.
    for (_, key, _, doc) in &expected {
        let json = serde_json::to_string(doc)
            .map_err(|error| TestCaseError::fail(format!("{key} does not encode: {error}")))?;
        let back: M::Doc = serde_json::from_str(&json).map_err(|error| {
            TestCaseError::fail(format!("{key} does not read back: {error}: {json}"))
        })?;
        prop_assert_eq!(&back, doc, "{} reads back otherwise: {}", key, json);
    }

    let mut batched = MemoryDocuments::new(model.clone());
    let mut bounds: Vec<usize> = cuts.iter().map(|cut| cut % (events.len() + 1)).collect();
    bounds.extend([0, events.len()]);
    bounds.sort_unstable();
    for pair in bounds.windows(2) {
        batched
            .apply_batch(&events[pair[0]..pair[1]])
            .map_err(fail)?;
    }
    prop_assert_eq!(
        &snapshot(&batched),
        &expected,
        "batches differ from one by one"
    );
    prop_assert_eq!(batched.checkpoint(), once.checkpoint());

    let mut doubled = MemoryDocuments::new(model.clone());
    for event in events {
        doubled.apply(event).map_err(fail)?;
        doubled.apply(event).map_err(fail)?;
        doubled.redeliver(event).map_err(fail)?;
    }
    prop_assert_eq!(
        &snapshot(&doubled),
        &expected,
        "an event delivered twice changed something"
    );

    if !events.is_empty() {
        let mut late = MemoryDocuments::new(model.clone());
        let mut redeliveries: Vec<(usize, usize)> = again
            .iter()
            .map(|(when, which)| {
                let when = when % events.len();
                (when, which % (when + 1))
            })
            .collect();
        redeliveries.sort_unstable();
        let mut next = redeliveries.iter().peekable();
        for (index, event) in events.iter().enumerate() {
            late.apply(event).map_err(fail)?;
            while let Some((_, which)) = next.next_if(|(when, _)| *when == index) {
                late.redeliver(&events[*which]).map_err(fail)?;
                late.apply_batch(&events[*which..=index]).map_err(fail)?;
            }
        }
        prop_assert_eq!(
            &snapshot(&late),
            &expected,
            "a late second delivery changed something"
        );
    }
    Ok(())
}

#[expect(clippy::needless_pass_by_value, reason = "used as map_err(fail)")]
fn fail(error: ProjectionError) -> TestCaseError {
    TestCaseError::fail(error.to_string())
}

/// Strategy for batch cuts and late redeliveries.
pub fn arb_delivery() -> impl Strategy<Value = (Vec<usize>, Vec<(usize, usize)>)> {
    (
        proptest::collection::vec(any::<usize>(), 0..8),
        proptest::collection::vec((any::<usize>(), any::<usize>()), 0..6),
    )
}
