//! Erasing a person (GDPR Art. 17): every record that is theirs, and every key that reads it.
//!
//! Personal fields are encrypted on append with their data subject's key (see
//! [`CommandService`] and [`crm_domain::personal`]): a lead with the lead's key, a contact and
//! the deals and tickets about them with the contact's. [`erase_person`] records the erasure
//! on the contact and on every contact that is the same person (those it absorbed, the one it
//! was merged into), then shreds the keys of those contacts and of every lead converted into
//! them. From then on every copy of those fields in the event store, in any dump of it and in
//! any replica reads as erased, while the events, their hashes and the erasure's own record
//! stay.
//!
//! Restart-safe: a second call (after a crash half way, or a retry) finds the contacts erased,
//! reads what their erasure recorded, and shreds what is left; shredding twice changes
//! nothing.
//!
//! The person's email addresses and phone numbers go, hashed, to the intake's suppression list
//! first ([`crate::intake::SuppressedIdentifier`]): a marketing tool sending them again makes
//! no lead.
//!
//! Not reached here (see `docs/` and the integrations issue): read models that copied
//! plaintext (they must purge on `ContactErased`), outbox messages already delivered to other
//! systems, and caches of other processes (their stream caches hold decoded states until
//! they reload).

use std::collections::{BTreeSet, VecDeque};

use crm_domain::contact::{Contact, ContactCommand, ContactError, ErasureRequest};
use crm_domain::lead::Lead;
use crm_domain::{ContactId, DataSubject, LeadId};
use crm_eventstore::TenantId;
use crm_eventstore::crypto::{CryptoError, SubjectId, SubjectKeyStore};
use thiserror::Error;

use crate::command::{CommandMeta, CommandService};
use crate::error::CommandError;
use crate::ids::derive_id;
use crate::intake::{Inbox, SuppressedIdentifier};
use crate::uow::UnitOfWork;

/// What an erasure reached.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErasureReport {
    /// The contacts erased (the one asked for, and every contact that is the same person).
    pub contacts: Vec<ContactId>,
    /// The leads converted into them, whose keys were shredded too.
    pub leads: Vec<LeadId>,
    /// Every key shredded, by subject name.
    pub shredded: Vec<SubjectId>,
}

/// Why an erasure did not finish. Whatever was done stays done; calling again finishes it.
#[derive(Debug, Error)]
pub enum ErasureError {
    /// A contact's erasure could not be recorded (it does not exist, say).
    #[error("the erasure of contact {contact} cannot be recorded: {source}")]
    Contact {
        /// The contact.
        contact: ContactId,
        /// Why.
        #[source]
        source: CommandError<ContactError>,
    },
    /// The person's identifiers could not be added to the suppression list (the inbox's
    /// database failed); nothing was erased yet for the contact at hand.
    #[error("the identifiers of contact {contact} cannot be suppressed: {source}")]
    Suppression {
        /// The contact.
        contact: ContactId,
        /// Why.
        #[source]
        source: crate::uow::WorkError,
    },
    /// A key could not be shredded (the key store failed).
    #[error("the key of {subject} cannot be shredded: {source}")]
    Shredding {
        /// The subject.
        subject: String,
        /// Why.
        #[source]
        source: CryptoError,
    },
}

/// Erases the person behind `contact` as `meta`'s actor: adds the email addresses and phone
/// numbers of every contact that is the same person (and of their leads) to `inbox`'s
/// suppression list, hashed, so lead deliveries cannot make them again; records the erasure on
/// each of those contacts; then shreds their keys and their leads' keys.
///
/// The commands' ids derive from `meta`'s command id, so a retry with the same `meta` records
/// nothing twice. A contact's identifiers are suppressed before its erasure is recorded (they
/// cannot be read after), so a crash in between leaves nothing unsuppressed.
pub async fn erase_person<U: UnitOfWork, I: Inbox>(
    service: &CommandService<U>,
    inbox: &I,
    tenant: &TenantId,
    contact: ContactId,
    request: ErasureRequest,
    meta: &CommandMeta,
) -> Result<ErasureReport, ErasureError> {
    let mut pending = VecDeque::from([contact]);
    let mut contacts = BTreeSet::new();
    let mut leads = BTreeSet::new();
    while let Some(next) = pending.pop_front() {
        if !contacts.insert(next) {
            continue;
        }
        suppress_identifiers(service, inbox, tenant, next, request.requested_at).await?;
        let record = erased_record(service, tenant, next, request, meta).await?;
        pending.extend(record.absorbed.iter().copied());
        pending.extend(record.merged_into);
        leads.extend(record.leads.iter().copied());
    }
    let subjects = contacts
        .iter()
        .map(|contact| DataSubject::Contact(*contact))
        .chain(leads.iter().map(|lead| DataSubject::Lead(*lead)));
    let mut shredded = Vec::new();
    for subject in subjects {
        let name = subject.key_name();
        let subject = SubjectId::new(&name).map_err(|source| ErasureError::Shredding {
            subject: name.clone(),
            source,
        })?;
        service
            .work()
            .keys()
            .shred(tenant, &subject)
            .await
            .map_err(|source| ErasureError::Shredding {
                subject: name,
                source,
            })?;
        service.forget_subject(tenant, &subject);
        shredded.push(subject);
    }
    Ok(ErasureReport {
        contacts: contacts.into_iter().collect(),
        leads: leads.into_iter().collect(),
        shredded,
    })
}

/// Adds the identifiers `contact` and the leads converted into it still hold (none once it
/// is erased) to the suppression list.
async fn suppress_identifiers<U: UnitOfWork, I: Inbox>(
    service: &CommandService<U>,
    inbox: &I,
    tenant: &TenantId,
    contact: ContactId,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), ErasureError> {
    let (state, _) = service
        .load::<Contact>(tenant, contact.0)
        .await
        .map_err(|source| ErasureError::Contact { contact, source })?;
    let mut identifiers: Vec<SuppressedIdentifier> = state
        .details
        .emails()
        .iter()
        .map(|email| SuppressedIdentifier::email(tenant, &email.value))
        .chain(
            state
                .details
                .phones()
                .iter()
                .map(|phone| SuppressedIdentifier::phone(tenant, &phone.value)),
        )
        .collect();
    for lead in &state.source_leads {
        // A lead that cannot be read adds nothing; the contact's own identifiers still go.
        if let Ok((lead_state, _)) = service.load::<Lead>(tenant, lead.0).await
            && let Some(profile) = &lead_state.profile
        {
            identifiers.extend(
                profile
                    .email
                    .iter()
                    .map(|email| SuppressedIdentifier::email(tenant, email)),
            );
            identifiers.extend(
                profile
                    .phone
                    .iter()
                    .map(|phone| SuppressedIdentifier::phone(tenant, phone)),
            );
        }
    }
    if identifiers.is_empty() {
        return Ok(());
    }
    inbox
        .suppress(tenant, &identifiers, at)
        .await
        .map_err(|source| ErasureError::Suppression { contact, source })
}

/// The erasure record of `contact`, recording the erasure first unless it is there.
async fn erased_record<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    contact: ContactId,
    request: ErasureRequest,
    meta: &CommandMeta,
) -> Result<crm_domain::contact::ErasureRecord, ErasureError> {
    let failed = |source| ErasureError::Contact { contact, source };
    let command_meta = meta
        .clone()
        .with_command_id(derive_id(meta.command_id, &format!("erase/{}", contact.0)));
    match service
        .execute::<Contact>(
            tenant,
            contact.0,
            ContactCommand::Erase { request },
            &command_meta,
        )
        .await
    {
        Ok(_) | Err(CommandError::Rejected(ContactError::Erased { .. })) => {}
        Err(error) => return Err(failed(error)),
    }
    let (state, _) = service
        .load::<Contact>(tenant, contact.0)
        .await
        .map_err(failed)?;
    state
        .erasure
        .ok_or_else(|| failed(CommandError::Rejected(ContactError::NotFound)))
}
