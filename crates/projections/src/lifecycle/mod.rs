//! The lifecycles besides the asynchronous projector (`runner`):
//!
//! - `inline.rs`: [`append_inline`], documents updated in the append's own PostgreSQL
//!   transaction, for read-your-writes;
//! - `live.rs`: [`fold_streams`] and [`customer_360_as_of`], documents folded on demand from
//!   the events of a few streams, for auditors and time travel.

mod inline;
mod live;

pub use inline::append_inline;
pub use live::{LiveError, customer_360_as_of, customer_streams, fold_streams};
