//! What can go wrong when a store applies events to a read model.

use thiserror::Error;

use crate::model::DocKey;

/// Why a store could not apply an event to a read model. Each is a bug in a model, not in the
/// events: the projector must halt on it (and be fixed and rebuilt), never skip the event.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProjectionError {
    /// `apply` changed a document that neither `keys` nor `linked_keys` named, so a store that
    /// loads only named documents would have overwritten it.
    #[error("read model {model} changed {key} at position {position} without naming it")]
    UndeclaredKey {
        /// The model.
        model: &'static str,
        /// The event's position.
        position: u64,
        /// The document.
        key: DocKey,
    },
    /// `linked_keys` kept naming new documents.
    #[error(
        "read model {model} kept naming documents for position {position} after {rounds} rounds"
    )]
    TooManyKeyRounds {
        /// The model.
        model: &'static str,
        /// The event's position.
        position: u64,
        /// How many rounds were tried.
        rounds: usize,
    },
    /// An earlier error halted the store; it refuses events until rebuilt.
    #[error("read model {model} halted at position {position}: {cause}")]
    Halted {
        /// The model.
        model: &'static str,
        /// The position of the event that halted it.
        position: u64,
        /// What went wrong there.
        cause: String,
    },
}
