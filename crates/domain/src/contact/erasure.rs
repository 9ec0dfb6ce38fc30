//! Erasure under GDPR Art. 17: who asked, on which ground, and when.
//!
//! The request itself holds no personal data, so its record survives the erasure: the event
//! store shreds the subject's key, which makes every personal field of the contact's earlier
//! events unreadable, while the erasure event stays readable as the proof it was done.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::context::Actor;
use crate::ids::{ContactId, LeadId};

/// Who asked for the erasure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureRequester {
    /// The person themselves.
    DataSubject,
    /// Someone authorised to act for the person (a lawyer, a guardian).
    AuthorisedRepresentative,
    /// A data protection authority.
    SupervisoryAuthority,
    /// The company itself, e.g. when a retention period ran out.
    Controller,
}

/// The ground for erasure, after GDPR Art. 17(1)(a)–(f).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureGround {
    /// (a) The data is no longer necessary for its purpose.
    NoLongerNecessary,
    /// (b) The person withdrew the consent the processing was based on.
    ConsentWithdrawn,
    /// (c) The person objected to the processing.
    Objection,
    /// (d) The data was processed unlawfully.
    UnlawfulProcessing,
    /// (e) A legal obligation requires erasure.
    LegalObligation,
    /// (f) The data was collected from a child for an information society service.
    ChildsData,
}

/// A request to erase a contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ErasureRequest {
    /// Who asked.
    pub requested_by: ErasureRequester,
    /// On which ground.
    pub legal_basis: ErasureGround,
    /// When they asked (the one-month answer deadline of Art. 12(3) counts from here).
    pub requested_at: DateTime<Utc>,
}

/// What remains of an erased contact: the request and where the person's data also lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureRecord {
    /// The request.
    pub request: ErasureRequest,
    /// Who carried it out.
    pub by: Actor,
    /// When it was carried out.
    pub at: DateTime<Utc>,
    /// Contacts this one had absorbed: the same person, so their streams must be erased too.
    pub absorbed: Vec<ContactId>,
    /// The contact this one had been merged into, whose values may include the person's data.
    pub merged_into: Option<ContactId>,
    /// The leads converted into this contact: the same person, so their keys are shredded too.
    pub leads: Vec<LeadId>,
}
