//! # crm-projections
//!
//! Read models folded from the CRM's event stream. Each read model is a pure fold (events in,
//! documents out) that lives in this crate; where the documents are kept is an adapter.
