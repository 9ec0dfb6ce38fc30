//! The rebuild writer (`RebuildWriter`): a new version folded from position zero equals the
//! in-memory fold whatever it remembers, what was folded but not committed is never written, a
//! rebuild overtaken by another is refused, and a live version is never emptied for one.

#![expect(
    clippy::unwrap_used,
    reason = "tests: a step that fails fails the test"
)]

use std::sync::Arc;

use crm_projections::{
    DocumentStore, PostgresDocuments, ProjectedEvent, ProjectionBatch, RebuildLimits,
    RebuildWriter, StorageError,
};
use crm_testkit::postgres::TestDatabase;
use crm_testkit::storage_conformance::{Tally, history, last, reference, tenant};

async fn tally(database: &TestDatabase) -> Arc<PostgresDocuments<Tally>> {
    Arc::new(
        PostgresDocuments::connect(&database.url, 2, Tally::default())
            .await
            .unwrap(),
    )
}

/// Folds `events` in pages of `page`, committing whenever the writer asks and at the end.
async fn fold_all(writer: &mut RebuildWriter<Tally>, events: &[ProjectedEvent], page: usize) {
    for chunk in events.chunks(page) {
        let batch = ProjectionBatch::new(chunk.to_vec(), last(chunk));
        writer.fold(&batch).await.unwrap();
        if writer.wants_commit() {
            writer.commit().await.unwrap();
        }
    }
    writer.commit().await.unwrap();
}

#[tokio::test]
async fn a_rebuild_equals_the_memory_fold_whatever_it_remembers() {
    let database = TestDatabase::create().await;
    let documents = tally(&database).await;
    let events = history(&tenant());
    // Remembering one document forgets at every commit: documents are read back from the
    // table and updated in place; remembering all, they are only ever copied in.
    for (limits, page) in [
        (
            RebuildLimits {
                events_per_commit: 1,
                documents: 1,
            },
            1,
        ),
        (
            RebuildLimits {
                events_per_commit: 2,
                documents: 2,
            },
            2,
        ),
        (
            RebuildLimits {
                events_per_commit: 3,
                documents: 1,
            },
            1,
        ),
        (RebuildLimits::default(), 4),
    ] {
        let mut writer = documents.rebuild_writer(tenant(), limits);
        writer.start().await.unwrap();
        fold_all(&mut writer, &events, page).await;
        assert_eq!(
            documents.documents(&tenant()).await.unwrap(),
            reference(&events),
            "{limits:?}"
        );
        assert_eq!(
            documents.checkpoint(&tenant()).await.unwrap(),
            Some(last(&events))
        );
    }
}

#[tokio::test]
async fn what_was_folded_but_not_committed_is_not_written() {
    let database = TestDatabase::create().await;
    let documents = tally(&database).await;
    let events = history(&tenant());
    let mut writer = documents.rebuild_writer(tenant(), RebuildLimits::default());
    writer.start().await.unwrap();
    fold_all(&mut writer, &events[..3], 3).await;
    let rest = ProjectionBatch::new(events[3..].to_vec(), last(&events));
    writer.fold(&rest).await.unwrap();
    // The process dies here.
    drop(writer);

    assert_eq!(
        documents.checkpoint(&tenant()).await.unwrap(),
        Some(last(&events[..3]))
    );
    assert_eq!(
        documents.documents(&tenant()).await.unwrap(),
        reference(&events[..3])
    );
    let mut again = documents.rebuild_writer(tenant(), RebuildLimits::default());
    again.start().await.unwrap();
    assert!(documents.documents(&tenant()).await.unwrap().is_empty());
    assert_eq!(documents.checkpoint(&tenant()).await.unwrap(), None);
    fold_all(&mut again, &events, 2).await;
    assert_eq!(
        documents.documents(&tenant()).await.unwrap(),
        reference(&events)
    );
}

#[tokio::test]
async fn a_rebuild_overtaken_by_another_is_refused_and_stays_refused() {
    let database = TestDatabase::create().await;
    let documents = tally(&database).await;
    let events = history(&tenant());
    let mut first = documents.rebuild_writer(tenant(), RebuildLimits::default());
    first.start().await.unwrap();
    fold_all(&mut first, &events[..2], 2).await;

    let mut second = documents.rebuild_writer(tenant(), RebuildLimits::default());
    second.start().await.unwrap();
    fold_all(&mut second, &events, 6).await;

    first
        .fold(&ProjectionBatch::new(events[2..].to_vec(), last(&events)))
        .await
        .unwrap();
    let refused = first.commit().await.unwrap_err();
    assert!(
        matches!(refused, StorageError::CheckpointMoved { .. }),
        "{refused:?}"
    );
    assert!(first.commit().await.is_err());
    assert_eq!(
        documents.documents(&tenant()).await.unwrap(),
        reference(&events)
    );
}

#[tokio::test]
async fn a_live_version_is_never_emptied_for_a_rebuild() {
    let database = TestDatabase::create().await;
    let documents = tally(&database).await;
    documents.claim_live(&tenant()).await.unwrap();
    let mut writer = documents.rebuild_writer(tenant(), RebuildLimits::default());
    let refused = writer.start().await.unwrap_err();
    assert!(
        matches!(&refused, StorageError::Database { code, .. } if code == "CP001"),
        "{refused:?}"
    );
    let batch = ProjectionBatch::new(history(&tenant()), last(&history(&tenant())));
    assert!(writer.fold(&batch).await.is_err());
}
