//! Merging two contacts who are the same person, and undoing it: one request, two streams.
//!
//! A merge writes the absorbed contact's side first (`MergeInto`: it now points at the
//! survivor) and then the survivor's (`Merge`, deciding field by field with the absorbed
//! contact's state as it stands after that). Both are decided first on the states as loaded,
//! writing nothing, so a merge the aggregates refuse (a contact declared a different person,
//! an erased one, one absorbed elsewhere, a circular merge) leaves both untouched. Should the
//! survivor refuse after the absorbed side was written (it changed in between), the absorbed
//! side is released again (`UnmergeFrom`).
//!
//! Every step is idempotent in the aggregates (`MergeInto` to the same survivor and `Merge` of
//! a contact already absorbed record nothing), and each is keyed by the caller's key with its
//! own suffix, so a request sent again after a crash between the two steps finishes the merge
//! and records nothing twice. An unmerge gives the absorbed contact back on the survivor's side
//! (`Unmerge`, restoring what the merge took over) and then releases the absorbed side
//! (`UnmergeFrom`); sent again, it finishes whichever side is left.

use crm_domain::contact::{Contact, ContactCommand, ContactError, FieldChoice, MergePolicy};
use crm_domain::{Aggregate, ContactId, Context};
use crm_eventstore::TenantId;

use crate::command::{CommandMeta, CommandService};
use crate::error::CommandError;
use crate::ids::derive_id;
use crate::uow::UnitOfWork;

/// Two contacts to merge: `absorbed` into `survivor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRequest {
    /// The contact that stays.
    pub survivor: ContactId,
    /// The duplicate absorbed into it.
    pub absorbed: ContactId,
    /// How fields both hold are decided.
    pub policy: MergePolicy,
    /// A person's choices for single fields, overriding the policy.
    pub choices: Vec<FieldChoice>,
}

/// What a merge or an unmerge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeOutcome {
    /// The survivor's stream version after it (its ETag).
    pub survivor_version: u64,
    /// Whether anything was recorded now (`false`: it was done already).
    pub changed: bool,
}

/// The meta of one step of a request: the request's actor, correlation and source, a command
/// id derived from the request's, its idempotency key with the step's suffix (the survivor's
/// step keeps the request's own key and expected version).
fn step_meta(meta: &CommandMeta, step: &str, survivor_step: bool) -> CommandMeta {
    let mut step_meta = CommandMeta {
        command_id: derive_id(meta.command_id, step),
        correlation_id: Some(meta.correlation_id.unwrap_or(meta.command_id)),
        idempotency_key: meta
            .idempotency_key
            .as_ref()
            .map(|key| format!("{key}/{step}")),
        expected_version: None,
        ..meta.clone()
    };
    if survivor_step {
        step_meta.idempotency_key.clone_from(&meta.idempotency_key);
        step_meta.expected_version = meta.expected_version;
    }
    step_meta
}

/// Merges `request.absorbed` into `request.survivor`; see the [module documentation](self).
/// `meta.expected_version` (an HTTP `If-Match`) is the survivor's.
///
/// # Errors
/// [`CommandError::Rejected`] with the aggregates' reason when the merge is refused (nothing
/// written), [`CommandError::StaleVersion`] when the survivor moved past the expected version,
/// and the store's errors otherwise: sending the same request again finishes it.
pub async fn merge_contacts<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    request: &MergeRequest,
    meta: &CommandMeta,
) -> Result<MergeOutcome, CommandError<ContactError>> {
    let MergeRequest {
        survivor,
        absorbed,
        policy,
        choices,
    } = request;
    let (absorbed_state, _) = service.load::<Contact>(tenant, absorbed.0).await?;
    let (survivor_state, version) = service.load::<Contact>(tenant, survivor.0).await?;
    // A request sent again after it was done finds the survivor moved by itself: its steps
    // answer from their keys instead.
    let done = survivor_state
        .merges
        .iter()
        .any(|merge| merge.absorbed == *absorbed);
    if let Some(expected) = meta.expected_version
        && expected != version
        && !done
    {
        return Err(CommandError::StaleVersion {
            stream: crate::stream_of::<Contact>(survivor.0)?,
            expected,
            actual: version,
        });
    }
    // Both sides decided on the states as loaded, writing nothing: a refusal leaves both alone.
    let ctx = Context::new(service.clock().now(), meta.actor.clone(), meta.command_id);
    let into = ContactCommand::MergeInto {
        survivor: *survivor,
    };
    let after = absorbed_state
        .decide(into.clone(), &ctx)
        .map_err(CommandError::Rejected)?
        .iter()
        .fold(absorbed_state, Aggregate::evolve);
    let merge = |absorbed: Contact| ContactCommand::Merge {
        absorbed: Box::new(absorbed),
        policy: *policy,
        choices: choices.clone(),
    };
    survivor_state
        .decide(merge(after), &ctx)
        .map_err(CommandError::Rejected)?;

    service
        .execute::<Contact>(
            tenant,
            absorbed.0,
            into,
            &step_meta(meta, "merge-into", false),
        )
        .await?;
    let (after, _) = service.load::<Contact>(tenant, absorbed.0).await?;
    match service
        .execute::<Contact>(
            tenant,
            survivor.0,
            merge(after),
            &step_meta(meta, "merge", true),
        )
        .await
    {
        Ok(executed) => Ok(MergeOutcome {
            survivor_version: executed.version,
            changed: !executed.events.is_empty() && !executed.replayed,
        }),
        Err(CommandError::Rejected(refusal)) => {
            // The survivor changed since it was loaded: give the absorbed side back.
            release(service, tenant, (*survivor, *absorbed), meta).await?;
            Err(CommandError::Rejected(refusal))
        }
        Err(other) => Err(other),
    }
}

/// Releases `absorbed` from `survivor` on the absorbed side (`UnmergeFrom`), keyed as the
/// request's `release` step; released already is done.
async fn release<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    (survivor, absorbed): (ContactId, ContactId),
    meta: &CommandMeta,
) -> Result<(), CommandError<ContactError>> {
    let command = ContactCommand::UnmergeFrom { survivor };
    match service
        .execute::<Contact>(
            tenant,
            absorbed.0,
            command,
            &step_meta(meta, "release", false),
        )
        .await
    {
        Ok(_) | Err(CommandError::Rejected(ContactError::NotMergedInto { .. })) => Ok(()),
        Err(error) => Err(error),
    }
}

/// Gives `absorbed` back from `survivor`; see the [module documentation](self).
/// `meta.expected_version` (an HTTP `If-Match`) is the survivor's.
///
/// # Errors
/// [`CommandError::Rejected`] with [`ContactError::NotMerged`] when `absorbed` was never merged
/// into `survivor` (or was given back already and released), the aggregates' other refusals,
/// [`CommandError::StaleVersion`], and the store's errors: sending the same request again
/// finishes it.
pub async fn unmerge_contacts<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    survivor: ContactId,
    absorbed: ContactId,
    meta: &CommandMeta,
) -> Result<MergeOutcome, CommandError<ContactError>> {
    let (absorbed_state, _) = service.load::<Contact>(tenant, absorbed.0).await?;
    let unmerge = ContactCommand::Unmerge { absorbed };
    let (survivor_version, changed) = match service
        .execute::<Contact>(
            tenant,
            survivor.0,
            unmerge,
            &step_meta(meta, "unmerge", true),
        )
        .await
    {
        Ok(executed) => (
            executed.version,
            !executed.events.is_empty() && !executed.replayed,
        ),
        // Given back already (a request sent again after a crash between the two steps):
        // finish the absorbed side if it still points at the survivor.
        Err(CommandError::Rejected(ContactError::NotMerged { .. }))
            if absorbed_state.merged_into() == Some(survivor) =>
        {
            let (_, version) = service.load::<Contact>(tenant, survivor.0).await?;
            (version, false)
        }
        Err(error) => return Err(error),
    };
    if absorbed_state.merged_into() == Some(survivor) {
        release(service, tenant, (survivor, absorbed), meta).await?;
    }
    Ok(MergeOutcome {
        survivor_version,
        changed,
    })
}
