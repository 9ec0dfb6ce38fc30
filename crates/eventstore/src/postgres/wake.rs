//! Wake-up hints for subscribers: appends of this process bump a local signal at once, and a
//! coalescing background task sends one payload-free `NOTIFY` for other processes; a LISTEN
//! connection (started on the first subscription) turns their notifications into the same
//! signal. Hints only: subscribers poll as well, so a lost hint delays, never loses, an event.
//!
//! The NOTIFY is sent outside the appending transaction on purpose: a transaction that
//! notifies takes a database-wide lock at commit, which would serialize every append's commit
//! and stop commits from grouping.

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio_postgres::AsyncMessage;

use super::sql;
use super::tls::ConnectionSettings;

/// How long the listener waits before reconnecting after losing its connection.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

pub(crate) fn bump(signal: &watch::Sender<u64>) {
    signal.send_modify(|count| *count = count.wrapping_add(1));
}

/// Sends one NOTIFY per burst of appends: many appends between two sends cost one.
pub(crate) fn spawn_notifier(pool: Pool, pending: Arc<Notify>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            pending.notified().await;
            if let Ok(client) = pool.get().await {
                // A failed hint is covered by the subscribers' polling.
                let _ = client.batch_execute(sql::NOTIFY).await;
            }
        }
    })
}

/// Listens for other processes' appends for as long as the store lives, reconnecting as needed.
pub(crate) fn spawn_listener(
    connection: ConnectionSettings,
    signal: watch::Sender<u64>,
) -> Option<JoinHandle<()>> {
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    Some(runtime.spawn(async move {
        loop {
            if let Ok((client, mut connection)) =
                connection.config().connect(connection.tls()).await
            {
                let messages = async {
                    while let Some(Ok(message)) =
                        poll_fn(|context| connection.poll_message(context)).await
                    {
                        if let AsyncMessage::Notification(_) = message {
                            bump(&signal);
                        }
                    }
                };
                let listen = async {
                    if client.batch_execute(sql::LISTEN).await.is_ok() {
                        // Anything appended while we were not listening is found by this read.
                        bump(&signal);
                        std::future::pending::<()>().await;
                    }
                };
                tokio::select! {
                    () = messages => {}
                    () = listen => {}
                }
            }
            bump(&signal);
            tokio::time::sleep(RECONNECT_DELAY).await;
        }
    }))
}
