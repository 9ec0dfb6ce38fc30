//! Reading a tenant's whole history, for the operator's and the data-protection officer's
//! commands that must see every event (not a request path).

use std::time::Duration;

use crm_domain::{Aggregate, decode};
use crm_eventstore::{EventStore, GlobalPosition, RecordedEvent, StoreError, StreamRead, TenantId};
use uuid::Uuid;

use crate::command::stream_of;

/// The first event of aggregate `A`'s stream `id` (what made it: a lead's `LeadReceived`, an
/// activity's logging), decoded; `None` when the stream is empty or that event cannot be read
/// as `A`'s.
pub(crate) async fn first_event<A: Aggregate, S: EventStore>(
    store: &S,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<A::Event>, StoreError> {
    let stream = stream_of::<A>(id)?;
    let first = store
        .read_stream(tenant, &stream, StreamRead::forward().limit(1))
        .await?;
    Ok(first.into_iter().next().and_then(|event| {
        decode::<A::Event>(&event.event_type, event.schema_version, event.payload).ok()
    }))
}

/// How long a read waits, in all, for open transactions that hold the history back.
const HELD_PATIENCE: Duration = Duration::from_secs(30);

/// Calls `visit` with every readable event of `tenant`, in global order, up to what is
/// committed when the read ends. An empty page while an older transaction is still open
/// (PostgreSQL: [`crm_eventstore::ReadAllPage::held_by`]) does not end the read: it waits for
/// that transaction, up to 30 s in all, so no committed event is passed over.
pub(crate) async fn each_event<S: EventStore>(
    store: &S,
    tenant: &TenantId,
    mut visit: impl FnMut(RecordedEvent),
) -> Result<(), StoreError> {
    let mut after = GlobalPosition::START;
    let mut waited = Duration::ZERO;
    let mut pause = Duration::from_millis(5);
    loop {
        let page = store.read_all(tenant, after, 1_000).await?;
        if page.is_empty() {
            let Some(transaction) = page.held_by else {
                return Ok(());
            };
            if waited >= HELD_PATIENCE {
                return Err(StoreError::Unavailable {
                    reason: format!(
                        "the history of tenant {tenant} is held by open transaction \
                         {transaction} for more than {} s",
                        HELD_PATIENCE.as_secs()
                    ),
                    source: None,
                });
            }
            tokio::time::sleep(pause).await;
            waited += pause;
            pause = (pause * 2).min(Duration::from_millis(500));
            continue;
        }
        after = page.next;
        page.events.into_iter().for_each(&mut visit);
    }
}
