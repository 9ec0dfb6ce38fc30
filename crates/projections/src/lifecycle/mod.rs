//! The lifecycles besides the asynchronous projector (`runner`):
//!
//! - `inline.rs`: [`append_inline`], documents updated in the append's own PostgreSQL
//!   transaction, for read-your-writes;
//! - `live.rs`: [`fold_streams`] and [`customer_360_as_of`], documents folded on demand from
//!   the events of a few streams, for auditors and time travel; [`fold_streams_at`],
//!   [`customer_360_at`] and [`fold_tenant_at`] (a whole read model) at any [`AsOf`]:
//!   recording time, business time (the sources' own timestamps) or a position.

mod inline;
mod live;

pub use inline::append_inline;
pub use live::{
    AsOf, LiveError, customer_360_as_of, customer_360_at, customer_streams, fold_streams,
    fold_streams_at, fold_tenant_at,
};
