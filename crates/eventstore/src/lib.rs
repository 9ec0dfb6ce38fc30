//! # crm-eventstore
//!
//! An append-only store of typed, versioned JSON events in streams, with a PostgreSQL
//! backend and an in-memory twin that behave identically. It knows nothing of the CRM.

pub mod crypto;
