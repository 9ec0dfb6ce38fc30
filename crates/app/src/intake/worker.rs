//! The intake worker: inbox items into received, captured (or quarantined) and routed leads.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use crm_domain::identity::{CountryCode, MatchVerdict};
use crm_domain::lead::{
    Lead, LeadCommand, LeadError, LeadEvent, LeadSource, LeadStatus, QuarantineReason,
};
use crm_domain::{Actor, LeadId};
use crm_eventstore::TenantId;
use futures_util::StreamExt;
use tracing::Instrument;

use super::{IdentityResolution, Inbox, InboxItem, campaign_from, submission_from};
use std::collections::BTreeMap;

use crm_domain::account::matching::CompanyEvidence;
use crm_domain::custom_fields::EntityKind;
use crm_domain::identity::{IdentityRecord, MatchConfig};

use crate::account_linking::AccountCandidateSource;

use crate::command::{CommandMeta, CommandService};
use crate::error::CommandError;
use crate::ids::derive_id;
use crate::routing::{RoutingError, RoutingSettings, route_lead, route_leads};
use crate::uow::{UnitOfWork, WorkError};

/// How the intake worker runs.
#[derive(Debug, Clone, PartialEq)]
pub struct IntakeSettings {
    /// The region phone numbers without a country prefix are read in, when a delivery names
    /// no valid country.
    pub default_region: CountryCode,
    /// Where captured leads are routed; `None` leaves them captured, unrouted.
    pub routing: Option<RoutingSettings>,
    /// Items claimed per pass.
    pub batch: usize,
    /// Items worked on at once.
    pub parallelism: usize,
    /// How long a claimed item is the claimer's.
    pub lease: TimeDelta,
    /// The pause before an item whose processing failed is tried again (doubled per attempt,
    /// at most 64 times).
    pub retry_after: TimeDelta,
    /// Form fields kept as the lead's custom fields: the form's field name → the custom field
    /// key (see [`super::custom_values`]). Values the lead's schema refuses are left out (they
    /// stay in the raw payload, as everything a form sends does).
    pub custom_fields: BTreeMap<String, String>,
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IntakeReport {
    /// Items claimed.
    pub claimed: usize,
    /// Items done (the lead received, captured or quarantined, and routed).
    pub done: usize,
    /// Items whose processing failed; they are tried again after a pause.
    pub failed: usize,
    /// Items discarded because they name an erased person (see
    /// [`SuppressedIdentifier`](super::SuppressedIdentifier)); they are done, with no lead.
    pub suppressed: usize,
}

/// What [`IntakeWorker::replay_quarantined`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplayReport {
    /// Quarantined leads found and captured again.
    pub examined: usize,
    /// Leads now captured (and resolved and routed, as a new delivery would be).
    pub captured: Vec<LeadId>,
    /// Leads still quarantined, each with its reasons now.
    pub still_quarantined: Vec<(LeadId, Vec<QuarantineReason>)>,
    /// Leads that could not be replayed now, each with why; running the replay again tries
    /// them again.
    pub failed: Vec<(LeadId, String)>,
}

/// What [`IntakeWorker::map_custom_fields`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappingReport {
    /// Leads whose delivered payload was read.
    pub examined: usize,
    /// Leads that got custom field values from it (or already held them).
    pub mapped: Vec<LeadId>,
    /// Leads that could not be mapped now, each with why; running it again tries them again.
    pub failed: Vec<(LeadId, String)>,
}

/// Why an item could not be processed now (it is tried again).
#[derive(Debug, thiserror::Error)]
enum ItemError {
    #[error(transparent)]
    Lead(#[from] CommandError<LeadError>),
    #[error("identity resolution: {0}")]
    Identity(#[from] crm_projections::StorageError),
    #[error(transparent)]
    Routing(#[from] RoutingError),
    #[error(transparent)]
    Store(#[from] crm_eventstore::StoreError),
    #[error("lead {0} has no readable LeadReceived with its delivered payload")]
    NoDelivery(LeadId),
    #[error("the lead's custom field schema cannot be read: {0}")]
    Schema(String),
    #[error(transparent)]
    Work(#[from] WorkError),
}

/// What became of an inbox item.
enum Processed {
    /// It is a lead (received, then captured or quarantined, and resolved), routed unless
    /// `unrouted` says it is left for the pass to route with the others.
    Lead {
        /// Routing is on: the pass routes it with the others if it still needs a rep.
        unrouted: bool,
    },
    /// It names an erased person: no lead, and its payload is to be forgotten.
    Suppressed,
}

/// What became of an item.
enum Recorded {
    /// Done, as a lead: to be marked done (once routed, when `unrouted`).
    Done {
        /// The item (and its lead).
        id: uuid::Uuid,
        /// The lead is to be routed with the pass's others if it still needs a rep.
        unrouted: bool,
        /// The item's attempts so far (for its pause if routing fails).
        attempts: u32,
    },
    /// Discarded: it names an erased person.
    Suppressed,
    /// Due again after a pause.
    Failed,
}

/// Turns a tenant's inbox items into leads; see the [module documentation](super).
#[derive(Debug)]
pub struct IntakeWorker<U: UnitOfWork, I: Inbox> {
    service: Arc<CommandService<U>>,
    inbox: I,
    tenant: TenantId,
    settings: IntakeSettings,
    identity: Option<IdentityResolution>,
    accounts: Option<Arc<dyn AccountCandidateSource>>,
}

impl<U: UnitOfWork, I: Inbox> IntakeWorker<U, I> {
    /// A worker of `tenant`'s inbox.
    pub fn new(
        service: Arc<CommandService<U>>,
        inbox: I,
        tenant: TenantId,
        settings: IntakeSettings,
    ) -> Self {
        Self {
            service,
            inbox,
            tenant,
            settings,
            identity: None,
            accounts: None,
        }
    }

    /// Resolves each captured lead's identity before routing it (see the
    /// [module documentation](super)).
    #[must_use]
    pub fn with_identity(mut self, identity: IdentityResolution) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Looks up the account each captured lead's person works for (work email domain,
    /// company domain and name, with the people's thresholds) and records the best match on
    /// the lead before routing it (`LeadAccountMatched`).
    #[must_use]
    pub fn with_accounts(mut self, accounts: Arc<dyn AccountCandidateSource>) -> Self {
        self.accounts = Some(accounts);
        self
    }

    /// The inbox.
    pub fn inbox(&self) -> &I {
        &self.inbox
    }

    /// Claims one batch of due items and processes them.
    pub async fn pass(&self) -> Result<IntakeReport, WorkError> {
        let span = tracing::info_span!("intake", tenant = %self.tenant);
        async {
            let now = self.service.clock().now();
            let items = self
                .inbox
                .claim(&self.tenant, now, self.settings.lease, self.settings.batch)
                .await?;
            let mut report = IntakeReport {
                claimed: items.len(),
                ..IntakeReport::default()
            };
            let parallelism = self.settings.parallelism.max(1);
            // Screened first, against the suppression list in one lookup for the pass: an
            // item naming an erased person makes no lead.
            let named: Vec<Vec<super::SuppressedIdentifier>> = items
                .iter()
                .map(|item| {
                    super::SuppressedIdentifier::of_delivery(
                        &self.tenant,
                        &item.delivery.payload,
                        self.settings.default_region,
                    )
                })
                .collect();
            let all: Vec<super::SuppressedIdentifier> = named
                .iter()
                .flatten()
                .copied()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let suppressed = self.inbox.suppressed_among(&self.tenant, &all).await?;
            let screened: Vec<(InboxItem, Result<Option<Processed>, ItemError>)> =
                futures_util::stream::iter(items.into_iter().zip(named))
                    .map(|(item, named)| {
                        let named = named.iter().any(|id| suppressed.contains(id));
                        async move {
                            let screened = self.screen(&item, named).await;
                            (item, screened)
                        }
                    })
                    .buffer_unordered(parallelism)
                    .collect()
                    .await;
            // The new leads of the pass received and captured together: one append per lead,
            // all in one transaction on PostgreSQL. A lead this leaves out (it exists already,
            // or the batch failed) is made alone by `finish`.
            let going: Vec<&InboxItem> = screened
                .iter()
                .filter(|(_, screened)| matches!(screened, Ok(None)))
                .map(|(item, _)| item)
                .collect();
            let created = self
                .service
                .create_each::<Lead>(
                    &self.tenant,
                    going
                        .iter()
                        .map(|item| (item.id, self.first_commands(item), Self::intake_meta(item)))
                        .collect(),
                )
                .await;
            let created: std::collections::HashSet<uuid::Uuid> = going
                .iter()
                .zip(created)
                .filter_map(|(item, created)| created.map(|_| item.id))
                .collect();
            // A failure or a discard is recorded by the item's own future, so that the items
            // in flight go on meanwhile; the items done are marked together at the end (a
            // crash before that only has them worked on again, which redoes nothing).
            let created = &created;
            let mut processed = futures_util::stream::iter(screened)
                .map(|(item, screened)| async move {
                    let outcome = match screened {
                        Ok(None) => self.finish(&item, created.contains(&item.id)).await,
                        Ok(Some(processed)) => Ok(processed),
                        Err(error) => Err(error),
                    };
                    self.record(&item, outcome).await
                })
                .buffer_unordered(parallelism);
            let mut done = Vec::new();
            let mut unrouted = Vec::new();
            let mut broken = None;
            while let Some(recorded) = processed.next().await {
                match recorded {
                    Ok(Recorded::Done {
                        id,
                        unrouted: true,
                        attempts,
                    }) => unrouted.push((id, attempts)),
                    Ok(Recorded::Done { id, .. }) => done.push(id),
                    Ok(Recorded::Suppressed) => {
                        report.done += 1;
                        report.suppressed += 1;
                    }
                    Ok(Recorded::Failed) => report.failed += 1,
                    Err(error) => {
                        broken = Some(error);
                        break;
                    }
                }
            }
            drop(processed);
            // The pass's new leads routed together: one offer to each team for all of its
            // leads (a crash before the items are marked done has them worked on again, and
            // routing a lead that has a rep or a queue changes nothing).
            if let (Some(routing), false) = (self.settings.routing, unrouted.is_empty()) {
                let ids: Vec<uuid::Uuid> = unrouted.iter().map(|(id, _)| *id).collect();
                // Which of them still need a rep, read with one version check for them all.
                match self
                    .service
                    .load_each_with::<Lead, _>(&self.tenant, &ids, to_be_routed)
                    .await
                {
                    Ok(routable) => {
                        let mut waiting = Vec::with_capacity(unrouted.len());
                        for (item, (routable, _)) in unrouted.into_iter().zip(routable) {
                            if routable {
                                waiting.push(item);
                            } else {
                                done.push(item.0);
                            }
                        }
                        unrouted = waiting;
                    }
                    Err(error) => {
                        tracing::warn!(%error, leads = ids.len(), "reading a pass's leads for routing failed");
                    }
                }
                let leads: Vec<LeadId> = unrouted.iter().map(|(id, _)| LeadId(*id)).collect();
                let routed = route_leads(&self.service, &self.tenant, routing, &leads).await;
                for ((id, attempts), outcome) in unrouted.into_iter().zip(routed) {
                    match outcome {
                        Ok(_) => done.push(id),
                        Err(error) => {
                            if broken.is_none() {
                                self.fail(id, attempts, &error.into()).await?;
                            }
                            report.failed += 1;
                        }
                    }
                }
            }
            let now = self.service.clock().now();
            self.inbox.done_all(&self.tenant, &done, now).await?;
            report.done += done.len();
            if let Some(error) = broken {
                return Err(error);
            }
            Ok(report)
        }
        .instrument(span)
        .await
    }

    /// Records what became of `item` in the inbox, discarded or due again after a pause; an
    /// item done is only reported (the pass marks those together).
    async fn record(
        &self,
        item: &InboxItem,
        outcome: Result<Processed, ItemError>,
    ) -> Result<Recorded, WorkError> {
        let now = self.service.clock().now();
        match outcome {
            Ok(Processed::Lead { unrouted }) => Ok(Recorded::Done {
                id: item.id,
                unrouted,
                attempts: item.attempts,
            }),
            Ok(Processed::Suppressed) => {
                self.inbox
                    .discard(
                        &self.tenant,
                        item.id,
                        now,
                        "names an erased person: discarded, no lead made",
                    )
                    .await?;
                Ok(Recorded::Suppressed)
            }
            Err(error) => {
                self.fail(item.id, item.attempts, &error).await?;
                Ok(Recorded::Failed)
            }
        }
    }

    /// Records that item `id` failed, due again after a pause that doubles with its attempts.
    async fn fail(
        &self,
        id: uuid::Uuid,
        attempts: u32,
        error: &ItemError,
    ) -> Result<(), WorkError> {
        tracing::warn!(item = %id, %error, "intake item failed");
        let now = self.service.clock().now();
        let backoff = self
            .settings
            .retry_after
            .checked_mul(1 << attempts.min(6))
            .unwrap_or(self.settings.retry_after);
        let retry_at = now.checked_add_signed(backoff).unwrap_or(now);
        self.inbox
            .failed(&self.tenant, id, &error.to_string(), retry_at)
            .await?;
        Ok(())
    }

    /// Passes until a pass claims nothing; returns the items done.
    pub async fn drain(&self) -> Result<usize, WorkError> {
        let mut done = 0;
        loop {
            let report = self.pass().await?;
            done += report.done;
            if report.claimed == 0 {
                return Ok(done);
            }
        }
    }

    /// Passes until `stop` turns true, pausing `every` when the inbox has nothing due; a
    /// delivery stored meanwhile through this inbox (or a clone of it, such as the HTTP
    /// app's in the same process) ends the pause at once ([`Inbox::arrivals`]).
    pub async fn run(&self, every: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut arrivals = self.inbox.arrivals();
        while !*stop.borrow() {
            let pause = match self.pass().await {
                Ok(report) if report.claimed > 0 => None,
                Ok(_) => Some(every),
                Err(error) => {
                    tracing::warn!(tenant = %self.tenant, %error, "intake pass failed");
                    Some(every)
                }
            };
            if let Some(pause) = pause {
                tokio::select! {
                    _ = stop.changed() => {}
                    () = tokio::time::sleep(pause) => {}
                    () = arrival(arrivals.as_mut()) => {}
                }
            }
        }
    }

    /// Looks the captured lead's person up and records the best match, unless the lead has
    /// one already (a second run after a crash finds it recorded and does nothing).
    async fn resolve_identity(
        &self,
        identity: &IdentityResolution,
        lead: LeadId,
        meta: &CommandMeta,
    ) -> Result<(), ItemError> {
        let tenant = &self.tenant;
        let (state, _) = self.service.load::<Lead>(tenant, lead.0).await?;
        let open = state.status.is_some_and(LeadStatus::is_captured)
            && state.contact_match.is_none()
            && state.converted_to.is_none();
        let Some(profile) = state.profile.as_ref().filter(|_| open) else {
            return Ok(());
        };
        let record = profile.person_record();
        if record.is_empty() {
            return Ok(());
        }
        // The strongest few, explained; a conflict can demote the strongest to review while
        // a weaker one links, so an auto-link among them wins over a review.
        let ranked = identity
            .source
            .best_matches(tenant, &record, &identity.model, identity.limit, 5)
            .await?;
        let best = ranked
            .iter()
            .find(|r| r.assessment.verdict == MatchVerdict::AutoLink)
            .or_else(|| {
                ranked
                    .iter()
                    .find(|r| r.assessment.verdict == MatchVerdict::Review)
            })
            .cloned();
        if let Some(best) = best {
            self.service
                .execute::<Lead>(
                    tenant,
                    lead.0,
                    LeadCommand::RecordContactMatch {
                        contact: best.contact,
                        assessment: best.assessment,
                    },
                    meta,
                )
                .await?;
        }
        Ok(())
    }

    /// The account a captured lead's person works for, recorded on the lead: the single best
    /// auto-link, else the best match for review; nothing for a lead that names no company or
    /// already has one recorded. Recording is idempotent in the aggregate, so no key is needed.
    async fn resolve_account(
        &self,
        accounts: &dyn AccountCandidateSource,
        lead: LeadId,
    ) -> Result<(), ItemError> {
        let tenant = &self.tenant;
        let (state, _) = self.service.load::<Lead>(tenant, lead.0).await?;
        let open = state.status.is_some_and(LeadStatus::is_captured)
            && state.account_match.is_none()
            && state.converted_to.is_none();
        let Some(profile) = state.profile.as_ref().filter(|_| open) else {
            return Ok(());
        };
        let evidence = CompanyEvidence::of(&IdentityRecord {
            emails: profile.email.iter().cloned().collect(),
            company_domain: profile.company_domain.clone(),
            company_name: profile.company.clone(),
            ..IdentityRecord::default()
        });
        if evidence.is_empty() {
            return Ok(());
        }
        let candidates = accounts
            .candidates(tenant, &evidence, &MatchConfig::default(), 10)
            .await?;
        let Some(best) = crate::account_linking::best_match(&candidates) else {
            return Ok(());
        };
        let meta = CommandMeta::by(Actor::System {
            component: crate::account_linking::COMPONENT.into(),
        })
        .with_command_id(derive_id(lead.0, "account-match"));
        self.service
            .execute::<Lead>(
                tenant,
                lead.0,
                LeadCommand::RecordAccountMatch { assessment: best },
                &meta,
            )
            .await?;
        Ok(())
    }

    /// `Some(Suppressed)` for an item that names an erased person (`named`: its identifiers
    /// are on the suppression list) and has no lead yet: none is to be made. `None` when it
    /// goes on (a lead received before the person was erased goes on as it was, its fields
    /// reading as erased).
    async fn screen(&self, item: &InboxItem, named: bool) -> Result<Option<Processed>, ItemError> {
        if named {
            let (state, _) = self.service.load::<Lead>(&self.tenant, item.id).await?;
            if state.status.is_none() {
                return Ok(Some(Processed::Suppressed));
            }
        }
        Ok(None)
    }

    /// The commands that make an item's lead: received, then captured (or quarantined).
    fn first_commands(&self, item: &InboxItem) -> Vec<LeadCommand> {
        vec![
            LeadCommand::Receive {
                lead_id: LeadId(item.id),
                source: LeadSource {
                    system: item.delivery.source.clone(),
                    external_event_id: item.delivery.external_id.clone(),
                },
                raw_payload: item.delivery.payload.clone(),
                requested_at: item.received_at,
            },
            self.capture(item),
        ]
    }

    fn capture(&self, item: &InboxItem) -> LeadCommand {
        LeadCommand::Capture {
            submission: submission_from(&item.delivery.payload),
            campaign: campaign_from(&item.delivery.payload),
            default_region: self.settings.default_region,
        }
    }

    /// The metadata of an item's first commands: no idempotency key, since the lead's stream,
    /// named by the item, is the record that they were done (a second run finds the stream
    /// and is refused as already received).
    fn intake_meta(item: &InboxItem) -> CommandMeta {
        CommandMeta::by(Actor::Integration {
            source: item.delivery.source.clone(),
        })
        .with_command_id(derive_id(item.id, "intake"))
    }

    /// The rest of an item after its screening: the lead received and captured (or
    /// quarantined) in one append unless `created` says the pass did that already, then its
    /// custom fields, identity and routing. Each step is recorded so that a second run after
    /// a crash redoes nothing that was done (the lead's stream, named by the item, for the
    /// first; commands keyed by the item for the rest).
    async fn finish(&self, item: &InboxItem, created: bool) -> Result<Processed, ItemError> {
        let lead = LeadId(item.id);
        let tenant = &self.tenant;
        let meta = |step: &str| {
            CommandMeta::by(Actor::Integration {
                source: item.delivery.source.clone(),
            })
            .with_command_id(derive_id(item.id, step))
            .with_idempotency_key(format!("intake/{}/{step}", item.id))
        };
        if !created {
            match self
                .service
                .execute_all::<Lead>(
                    tenant,
                    lead.0,
                    self.first_commands(item),
                    &Self::intake_meta(item),
                )
                .await
            {
                Ok(_) => {}
                Err(CommandError::Rejected(LeadError::AlreadyReceived { .. })) => {
                    // An earlier run got this far (the item was claimed again after a crash
                    // or an expired lease). A lead received alone, by a worker from before
                    // receive and capture were one append, is captured now, under the key
                    // that worker used.
                    let (state, _) = self.service.load::<Lead>(tenant, lead.0).await?;
                    if state.status == Some(LeadStatus::Received) {
                        self.service
                            .execute::<Lead>(tenant, lead.0, self.capture(item), &meta("capture"))
                            .await?;
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
        // No idempotency key: a repeat decides again on the lead as it is (the same values
        // record nothing), also under a schema published meanwhile.
        let custom_meta = CommandMeta::by(Actor::Integration {
            source: item.delivery.source.clone(),
        })
        .with_command_id(derive_id(item.id, "custom-fields"));
        self.keep_custom_fields(lead, &item.delivery.payload, &custom_meta)
            .await?;
        let unrouted = self.resolve(lead, &meta("match")).await?;
        Ok(Processed::Lead { unrouted })
    }

    /// Sets the lead's custom fields from the form's mapped fields, under the lead's schema
    /// now. Never refuses the lead: values that do not fit are left out (and a rule the rest
    /// still breaks, such as a required field the form lacks, keeps none of them); they all
    /// stay in the raw payload. Returns whether any value was kept.
    async fn keep_custom_fields(
        &self,
        lead: LeadId,
        payload: &serde_json::Value,
        meta: &CommandMeta,
    ) -> Result<bool, ItemError> {
        if self.settings.custom_fields.is_empty() {
            return Ok(false);
        }
        let mut values = super::custom_values(payload, &self.settings.custom_fields);
        // At most twice: once with everything, once without what the schema refused.
        for _ in 0..2 {
            if values.is_empty() {
                return Ok(false);
            }
            let update = crate::custom_fields::update_under_current(
                &self.service,
                &self.tenant,
                EntityKind::Lead,
                values.clone(),
            )
            .await
            .map_err(|error| ItemError::Schema(error.to_string()))?;
            match self
                .service
                .execute::<Lead>(
                    &self.tenant,
                    lead.0,
                    LeadCommand::SetCustomFields(update),
                    meta,
                )
                .await
            {
                Ok(_) => return Ok(true),
                Err(CommandError::Rejected(LeadError::CustomFields(refused))) => {
                    tracing::info!(%lead, %refused, "form values not kept as custom fields");
                    let before = values.len();
                    for problem in refused.problems() {
                        values.remove(&problem.field);
                    }
                    if values.len() == before {
                        return Ok(false);
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(false)
    }

    /// What follows a capture: the identity looked up (when configured) and the lead routed
    /// (when routing is set), each done once however often this runs.
    async fn follow_up(&self, lead: LeadId, match_meta: &CommandMeta) -> Result<(), ItemError> {
        if self.resolve(lead, match_meta).await?
            && let Some(routing) = self.settings.routing
        {
            let (routable, _) = self
                .service
                .load_with::<Lead, _>(&self.tenant, lead.0, to_be_routed)
                .await?;
            if routable {
                route_lead(&self.service, &self.tenant, routing, lead).await?;
            }
        }
        Ok(())
    }

    /// The lead's identity and account resolved; whether it is to be routed if it still needs
    /// to be (routing is on: whether it does, [`to_be_routed`], is read for a pass's leads
    /// together).
    async fn resolve(&self, lead: LeadId, match_meta: &CommandMeta) -> Result<bool, ItemError> {
        if let Some(identity) = &self.identity {
            self.resolve_identity(identity, lead, match_meta).await?;
        }
        if let Some(accounts) = &self.accounts {
            self.resolve_account(accounts.as_ref(), lead).await?;
        }
        Ok(self.settings.routing.is_some())
    }

    /// Captures every quarantined lead of the tenant again, from its payload as it was
    /// delivered (kept on its `LeadReceived`), with today's mapping and settings: after a fix
    /// to either, the leads it concerns leave quarantine. A lead captured now is resolved and
    /// routed as a new delivery would be; one still failing validation for other reasons is
    /// quarantined again with its reasons now; one failing for the same reasons is left as it
    /// is, nothing recorded.
    ///
    /// Safe to run again at any time, also after a crash halfway: a lead captured meanwhile
    /// is passed over, and each attempt is keyed by the lead's version, so a repeated attempt
    /// records nothing twice. The quarantined leads are found by reading the tenant's
    /// history (an operator's command, not a request path).
    pub async fn replay_quarantined(&self) -> Result<ReplayReport, WorkError> {
        let mut report = ReplayReport::default();
        for lead in self.quarantined_leads().await? {
            report.examined += 1;
            match self.replay(lead).await {
                Ok(Some(reasons)) => report.still_quarantined.push((lead, reasons)),
                Ok(None) => report.captured.push(lead),
                Err(error) => report.failed.push((lead, error.to_string())),
            }
        }
        Ok(report)
    }

    /// Sets the custom fields of every lead of the tenant from its payload as delivered (kept on
    /// its `LeadReceived`), by the settings' `custom_fields` mapping and under the lead
    /// schema now: what forms sent before a custom field existed, mapped later. Values a
    /// lead's schema refuses are left out, as on intake. Safe to run again at any time: the
    /// same values record nothing. The leads are found by reading the tenant's history (an
    /// operator's command, not a request path).
    pub async fn map_custom_fields(&self) -> Result<MappingReport, WorkError> {
        let mut report = MappingReport::default();
        let mut leads = Vec::new();
        crate::history::each_event(self.service.work().store(), &self.tenant, |event| {
            if event.event_type != "LeadReceived" {
                return;
            }
            if let Some(id) = event
                .stream
                .as_str()
                .strip_prefix("lead-")
                .and_then(|id| uuid::Uuid::parse_str(id).ok())
            {
                leads.push(LeadId(id));
            }
        })
        .await?;
        for lead in leads {
            report.examined += 1;
            match self.map_one(lead).await {
                Ok(true) => report.mapped.push(lead),
                Ok(false) => {}
                Err(error) => report.failed.push((lead, error.to_string())),
            }
        }
        Ok(report)
    }

    async fn map_one(&self, lead: LeadId) -> Result<bool, ItemError> {
        let received = crate::history::first_event::<Lead, _>(
            self.service.work().store(),
            &self.tenant,
            lead.0,
        )
        .await?;
        let Some(LeadEvent::Received { raw_payload, .. }) = received else {
            return Err(ItemError::NoDelivery(lead));
        };
        let meta = CommandMeta::by(Actor::System {
            component: "intake-mapping".into(),
        });
        self.keep_custom_fields(lead, &raw_payload, &meta).await
    }

    /// The leads of the tenant quarantined now, in the order they were first quarantined.
    async fn quarantined_leads(&self) -> Result<Vec<LeadId>, WorkError> {
        let mut seen = std::collections::HashSet::new();
        let mut candidates = Vec::new();
        crate::history::each_event(self.service.work().store(), &self.tenant, |event| {
            if event.event_type != "LeadQuarantined" {
                return;
            }
            let id = event
                .stream
                .as_str()
                .strip_prefix("lead-")
                .and_then(|id| uuid::Uuid::parse_str(id).ok());
            if let Some(id) = id
                && seen.insert(id)
            {
                candidates.push(LeadId(id));
            }
        })
        .await?;
        let mut quarantined = Vec::new();
        for lead in candidates {
            let (state, _) = self
                .service
                .load::<Lead>(&self.tenant, lead.0)
                .await
                .map_err(|error| WorkError::Corrupt {
                    what: format!("lead {lead}"),
                    reason: error.to_string(),
                })?;
            if state.status == Some(LeadStatus::Quarantined) {
                quarantined.push(lead);
            }
        }
        Ok(quarantined)
    }

    /// One quarantined lead captured again: `None` when it is captured now, its reasons when
    /// it is still quarantined.
    async fn replay(&self, lead: LeadId) -> Result<Option<Vec<QuarantineReason>>, ItemError> {
        let tenant = &self.tenant;
        let (state, version) = self.service.load::<Lead>(tenant, lead.0).await?;
        if state.status != Some(LeadStatus::Quarantined) {
            return Ok(None);
        }
        let received =
            crate::history::first_event::<Lead, _>(self.service.work().store(), tenant, lead.0)
                .await?;
        let Some(LeadEvent::Received {
            raw_payload: payload,
            ..
        }) = received
        else {
            return Err(ItemError::NoDelivery(lead));
        };
        let submission = submission_from(&payload);
        if let Err(reasons) = submission.validate(self.settings.default_region)
            && reasons == state.quarantine_reasons
        {
            // Nothing changed for this lead: nothing to record.
            return Ok(Some(reasons));
        }
        let step = format!("replay@{version}");
        let meta = |step: &str| {
            CommandMeta::by(Actor::System {
                component: "intake-replay".into(),
            })
            .with_command_id(derive_id(lead.0, step))
            .with_idempotency_key(format!("intake/{}/{step}", lead.0))
        };
        self.service
            .execute::<Lead>(
                tenant,
                lead.0,
                LeadCommand::Capture {
                    submission,
                    campaign: campaign_from(&payload),
                    default_region: self.settings.default_region,
                },
                &meta(&step),
            )
            .await?;
        let (state, _) = self.service.load::<Lead>(tenant, lead.0).await?;
        if state.status == Some(LeadStatus::Quarantined) {
            return Ok(Some(state.quarantine_reasons));
        }
        self.follow_up(lead, &meta(&format!("{step}/match")))
            .await?;
        Ok(None)
    }
}

/// Whether a lead still needs routing: captured, without a rep, a queue or a conversion.
fn to_be_routed(lead: &Lead) -> bool {
    lead.status.is_some_and(LeadStatus::is_captured)
        && lead.assignee.is_none()
        && lead.queue.is_none()
        && lead.converted_to.is_none()
}

/// Resolves at the next arrival `arrivals` signals; never without a signal.
async fn arrival(arrivals: Option<&mut tokio::sync::watch::Receiver<u64>>) {
    if let Some(arrivals) = arrivals
        && arrivals.changed().await.is_ok()
    {
        return;
    }
    std::future::pending::<()>().await;
}
