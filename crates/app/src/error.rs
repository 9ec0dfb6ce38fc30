//! The application layer's errors: one enum at the crate boundary, generic over the domain's
//! refusal so a caller still matches on the aggregate's own typed error.

use crm_domain::CodecError;
use crm_eventstore::crypto::CryptoError;
use crm_eventstore::{StoreError, StreamId};
use thiserror::Error;

use crate::uow::WorkError;

/// Why a command was not executed.
#[derive(Debug, Error)]
pub enum CommandError<E> {
    /// The aggregate refused the command (a business rule); nothing was written.
    #[error("refused: {0}")]
    Rejected(#[source] E),
    /// Other writers moved the stream at every attempt.
    #[error("stream {stream} kept changing: gave up after {attempts} attempts")]
    Conflict {
        /// The stream.
        stream: StreamId,
        /// How many times the command was decided.
        attempts: u32,
    },
    /// The caller decided on version `expected` of the stream
    /// ([`CommandMeta::expected_version`](crate::CommandMeta::expected_version)), which now
    /// stands at `actual`; nothing was written.
    #[error("stream {stream} is at version {actual}, not {expected}")]
    StaleVersion {
        /// The stream.
        stream: StreamId,
        /// The version the caller expected.
        expected: u64,
        /// The version the stream is at.
        actual: u64,
    },
    /// The idempotency key was first used for a different request.
    #[error("idempotency key {key:?} was first used for a different request")]
    IdempotencyConflict {
        /// The key.
        key: String,
    },
    /// A stored event of the stream cannot be decoded by this build, so its state is unknown.
    #[error("stream {stream} cannot be read at version {version}: {reason}")]
    UnreadableStream {
        /// The stream.
        stream: StreamId,
        /// The first event that cannot be decoded.
        version: u64,
        /// Why.
        reason: String,
    },
    /// The decided events could not be encoded (deeper JSON than the domain accepts).
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The decided events' personal fields could not be encrypted: the data subject was
    /// erased (no new key is issued for an erased person), the key store failed, or the
    /// aggregate named no data subject for events that carry personal data. Nothing was
    /// written; personal data is never stored in clear.
    #[error("personal data cannot be encrypted: {0}")]
    PersonalData(#[source] CryptoError),
    /// The store or the database failed; [`CommandError::is_retryable`] says whether the
    /// same request may be sent again (with its idempotency key, it is always safe).
    #[error(transparent)]
    Work(#[from] WorkError),
}

impl<E> From<StoreError> for CommandError<E> {
    fn from(error: StoreError) -> Self {
        CommandError::Work(WorkError::Store(error))
    }
}

impl<E> CommandError<E> {
    /// Whether sending the same request again may succeed: a lost connection, a busy
    /// database, a stream that kept changing.
    pub fn is_retryable(&self) -> bool {
        match self {
            CommandError::Conflict { .. }
            | CommandError::PersonalData(CryptoError::Storage { .. }) => true,
            CommandError::Work(error) => error.is_retryable(),
            CommandError::Rejected(_)
            | CommandError::IdempotencyConflict { .. }
            | CommandError::StaleVersion { .. }
            | CommandError::UnreadableStream { .. }
            | CommandError::Codec(_)
            | CommandError::PersonalData(_) => false,
        }
    }

    /// The domain's refusal, if that is what this is.
    pub fn rejection(&self) -> Option<&E> {
        match self {
            CommandError::Rejected(error) => Some(error),
            _ => None,
        }
    }
}
