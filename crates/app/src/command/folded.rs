//! An aggregate folded from its stream's stored events, as the stream cache keeps it.

use crm_domain::{Aggregate, decode_ref};
use crm_eventstore::{RecordedEvent, StreamState};

/// An aggregate's state folded from its stored events, or the reason one could not be read.
///
/// Folding never fails (a recorded fact is a fact), but a stored event this build cannot
/// decode leaves the state unknown from there on: the command service then refuses commands
/// to the stream with [`CommandError::UnreadableStream`](crate::CommandError::UnreadableStream)
/// instead of deciding on a state that misses a fact.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Folded<A> {
    /// The state after every event folded so far.
    pub aggregate: A,
    /// Why an event could not be decoded (the first such), with its version.
    pub unreadable: Option<(u64, String)>,
}

impl<A> StreamState for Folded<A>
where
    A: Aggregate + Send + Sync + 'static,
{
    fn apply(&mut self, event: &RecordedEvent) {
        if self.unreadable.is_some() {
            return;
        }
        match decode_ref::<A::Event>(&event.event_type, event.schema_version, &event.payload) {
            Ok(decoded) => {
                self.aggregate = std::mem::take(&mut self.aggregate).evolve(&decoded);
            }
            Err(error) => self.unreadable = Some((event.version, error.to_string())),
        }
    }
}
