//! Logging an activity, and what it means for the leads it names.
//!
//! [`log_activity`] records a call, email, meeting or note through the command service and,
//! when the logging is a touch ([`ActivityEvent::touch`](crm_domain::activity::ActivityEvent::touch): an outbound call or email, or an
//! answered inbound call, by a user, naming leads), records it as the first touch of every
//! lead it names that its performer holds and that has none yet. That is what stops the
//! lead-response SLA's clock, so a rep who calls and logs the call has answered in time.
//!
//! Retry-safe: the activity's id is the caller's, and each lead's touch is keyed by the
//! activity and the lead, so calling again with the same activity (after a crash between the
//! two steps, say) records nothing twice and finishes what was left. The touch is dated when
//! it is recorded (the command's time), not when the call happened: a call logged late counts
//! late, never early.

use crm_domain::activity::{Activity, ActivityCommand, ActivityError, NewActivity};
use crm_domain::custom_fields::CustomFieldsUpdate;
use crm_domain::lead::{Lead, LeadCommand, LeadError};
use crm_domain::{Actor, LeadId};
use crm_eventstore::TenantId;
use thiserror::Error;

use crate::command::{CommandMeta, CommandService};
use crate::error::CommandError;
use crate::ids::derive_id;
use crate::uow::UnitOfWork;

/// What logging an activity did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ActivityLogged {
    /// Whether the activity was recorded now (`false`: it had been, by an earlier call).
    pub recorded: bool,
    /// The leads whose first touch it is.
    pub first_touches: Vec<LeadId>,
    /// The leads it names that it does not touch for the SLA, each with why (already touched,
    /// held by another rep, not assigned).
    pub not_counted: Vec<(LeadId, String)>,
}

/// Why an activity could not be logged.
#[derive(Debug, Error)]
pub enum ActivityLogError {
    /// The activity was refused, or could not be committed.
    #[error(transparent)]
    Activity(#[from] CommandError<ActivityError>),
    /// A lead's first touch could not be committed (the store failed); calling again with
    /// the same activity finishes it.
    #[error("the first touch of lead {lead} could not be recorded: {source}")]
    Touch {
        /// The lead.
        lead: LeadId,
        /// Why.
        #[source]
        source: CommandError<LeadError>,
    },
}

/// Logs `activity` as `meta`'s actor and records the first touch it is of the leads it names;
/// see the [module documentation](self).
pub async fn log_activity<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    activity: NewActivity,
    meta: &CommandMeta,
) -> Result<ActivityLogged, ActivityLogError> {
    log_activity_with(service, tenant, activity, None, meta).await
}

/// [`log_activity`], setting the activity's custom fields in the same decision: an activity
/// whose values break a validation rule is not logged. `custom` is decided under the schema it
/// carries ([`crate::custom_fields::update_under_current`] gives the current one).
pub async fn log_activity_with<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    activity: NewActivity,
    custom: Option<CustomFieldsUpdate>,
    meta: &CommandMeta,
) -> Result<ActivityLogged, ActivityLogError> {
    let id = activity.activity;
    let commands = std::iter::once(ActivityCommand::Log(activity))
        .chain(custom.map(ActivityCommand::SetCustomFields))
        .collect();
    let recorded = match service
        .execute_all::<Activity>(tenant, id.0, commands, meta)
        .await
    {
        Ok(executed) => !executed.replayed && !executed.events.is_empty(),
        Err(CommandError::Rejected(ActivityError::AlreadyLogged { .. })) => false,
        Err(error) => return Err(error.into()),
    };
    let mut report = ActivityLogged {
        recorded,
        ..ActivityLogged::default()
    };
    let Some(touch) = logged_touch(service, tenant, id.0).await? else {
        return Ok(report);
    };
    for lead in touch.leads {
        let touch_meta = CommandMeta::by(Actor::User { id: touch.by })
            .with_command_id(derive_id(id.0, &format!("first-touch/{}", lead.0)))
            .with_idempotency_key(format!("activity/{}/first-touch/{}", id.0, lead.0))
            .with_correlation_id(meta.correlation_id.unwrap_or(meta.command_id));
        match service
            .execute::<Lead>(
                tenant,
                lead.0,
                LeadCommand::LogFirstTouch {
                    channel: touch.channel,
                },
                &touch_meta,
            )
            .await
        {
            Ok(executed) if !executed.events.is_empty() => report.first_touches.push(lead),
            Ok(_) => {}
            Err(CommandError::Rejected(refusal)) => {
                report.not_counted.push((lead, refusal.to_string()));
            }
            Err(source) => return Err(ActivityLogError::Touch { lead, source }),
        }
    }
    Ok(report)
}

/// The touch the activity's logging is, read from its stored first event (so a second call
/// finds what the first recorded, whatever it was asked this time).
async fn logged_touch<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    id: uuid::Uuid,
) -> Result<Option<crm_domain::activity::Touch>, ActivityLogError> {
    let logged = crate::history::first_event::<Activity, _>(service.work().store(), tenant, id)
        .await
        .map_err(|error| ActivityLogError::Activity(error.into()))?;
    Ok(logged.and_then(|logged| logged.touch()))
}
