//! Turns on a stream: commands of one process to one stream wait for each other instead of
//! racing to the store and deciding again on every conflict.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crm_eventstore::{StreamId, TenantId};

type Key = (TenantId, StreamId);

/// One async lock per stream that a command is running on now; a stream's entry is dropped
/// when its last holder or waiter is done, so the map holds only the streams in use.
#[derive(Debug, Default)]
pub(crate) struct StreamTurns {
    turns: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
}

/// A stream's turn, held until dropped.
pub(crate) struct Turn<'a> {
    turns: &'a StreamTurns,
    key: Key,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl StreamTurns {
    /// Waits for `stream`'s turn (the commands before it on the stream in this process are
    /// done) and takes it.
    pub(crate) async fn take(&self, tenant: &TenantId, stream: &StreamId) -> Turn<'_> {
        let key = (tenant.clone(), stream.clone());
        let lock = {
            let mut turns = self.turns.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(turns.entry(key.clone()).or_default())
        };
        let guard = lock.lock_owned().await;
        Turn {
            turns: self,
            key,
            guard: Some(guard),
        }
    }

    /// How many streams have a turn held or awaited now.
    #[cfg(test)]
    fn in_use(&self) -> usize {
        self.turns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        // The guard holds one reference to the lock and the map another: with no other
        // holder or waiter (each of those holds one more), the entry can go. The map's lock
        // keeps anyone from taking a new reference meanwhile.
        let mut turns = self
            .turns
            .turns
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        drop(self.guard.take());
        if turns
            .get(&self.key)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            turns.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn key() -> (TenantId, StreamId) {
        (
            TenantId::new("acme").expect("a tenant"),
            StreamId::new("team-1").expect("a stream"),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn commands_on_one_stream_take_turns_and_leave_nothing_behind() {
        let turns = Arc::new(StreamTurns::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (turns, inside, most) =
                    (Arc::clone(&turns), Arc::clone(&inside), Arc::clone(&most));
                tokio::spawn(async move {
                    let (tenant, stream) = key();
                    for _ in 0..20 {
                        let _turn = turns.take(&tenant, &stream).await;
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("a task");
        }
        assert_eq!(most.load(Ordering::SeqCst), 1, "one at a time");
        assert_eq!(turns.in_use(), 0, "no entry left");
    }

    #[tokio::test]
    async fn other_streams_do_not_wait() {
        let turns = StreamTurns::default();
        let (tenant, stream) = key();
        let _held = turns.take(&tenant, &stream).await;
        let other = StreamId::new("team-2").expect("a stream");
        let _also = turns.take(&tenant, &other).await;
        assert_eq!(turns.in_use(), 2);
    }
}
