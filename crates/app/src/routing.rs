//! Routing leads from the event-sourced roster: the territory map picks a team, the team's
//! own stream picks a rep (its round-robin credits and its queue are events there), and the
//! lead records the decision. Every input of a decision (rules, members, availability, load)
//! is read from aggregates, so any assignment can be replayed and explained later.
//!
//! Two streams change per routing (the team's, then the lead's), each in its own commit. A
//! crash between them is repaired by routing again: the team has already offered the lead,
//! offers nothing new, and its earlier decision is read back from its stream and recorded on
//! the lead, once (the lead's command is keyed by the lead's version).

use crm_domain::account::{Account, AccountStatus};
use crm_domain::identity::MatchVerdict;
use crm_domain::lead::{Lead, LeadCommand, LeadError, LeadStatus};
use crm_domain::roster::{LeadOffer, Rep, Team, TeamCommand, TeamError, TeamEvent, TerritoryMap};
use crm_domain::routing::{
    LeadAttributes, Preference, PreferenceReason, RoutingDecision, RoutingOutcome, RuleMatch,
    TeamMember,
};
use crm_domain::{AccountId, Actor, LeadId, TeamId, UserId, decode};
use crm_eventstore::{EventStore, StreamRead, TenantId};
use futures_util::StreamExt;
use thiserror::Error;
use tracing::Instrument;
use uuid::Uuid;

use crate::command::{CommandMeta, CommandService, stream_of};
use crate::error::CommandError;
use crate::ids::derive_id;
use crate::uow::UnitOfWork;

/// How far back a team's stream is searched for the decision of a lead it already offered.
const DECISION_SEARCH: usize = 10_000;

/// Where routing finds the tenant's territory map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutingSettings {
    /// The territory map's id (one map per tenant).
    pub territory_map: Uuid,
}

/// What routing a lead did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOutcome {
    /// The lead was assigned to `rep` of `team`.
    Assigned {
        /// The rep.
        rep: UserId,
        /// The team.
        team: TeamId,
    },
    /// Nobody in `team` could take it: it waits in the team's queue.
    Queued {
        /// The team.
        team: TeamId,
    },
    /// The lead already has a rep (routing again changes nothing).
    AlreadyAssigned {
        /// Its rep.
        rep: UserId,
    },
}

/// Why a lead could not be routed.
#[derive(Debug, Error)]
pub enum RoutingError {
    /// The lead was never captured (received only, or quarantined): nothing to route on.
    #[error("lead {0} is not captured, so it cannot be routed")]
    NotCaptured(LeadId),
    /// The tenant has no territory map.
    #[error("no territory map is defined")]
    NoTerritoryMap,
    /// A member of the team is not a registered rep.
    #[error("team {team} lists {rep}, who is not a registered rep")]
    UnknownRep {
        /// The team.
        team: TeamId,
        /// The member.
        rep: UserId,
    },
    /// The team offered the lead before but its decision is not in its recent history.
    #[error("team {team} offered lead {lead} but its decision cannot be found")]
    DecisionNotFound {
        /// The team.
        team: TeamId,
        /// The lead.
        lead: LeadId,
    },
    /// The lead's command failed.
    #[error(transparent)]
    Lead(#[from] CommandError<LeadError>),
    /// The team's command failed.
    #[error(transparent)]
    Team(#[from] CommandError<TeamError>),
    /// A roster aggregate could not be loaded.
    #[error("roster: {0}")]
    Roster(String),
}

impl RoutingError {
    /// Whether routing again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            RoutingError::Lead(error) => error.is_retryable(),
            RoutingError::Team(error) => error.is_retryable(),
            _ => false,
        }
    }
}

/// The routing actor.
fn router() -> Actor {
    Actor::System {
        component: "lead-router".into(),
    }
}

/// The team's members in the team's order, each with how many leads the team holds as offered
/// to them (read in place, without copying the team's state).
fn holdings(team: &Team) -> Vec<(UserId, u32)> {
    team.members
        .iter()
        .map(|rep| (*rep, team.holding(*rep)))
        .collect()
}

/// The team's members as routing sees them now: each rep's availability from the rep's own
/// stream, and their load as the leads this team offered them and has not released
/// ([`holdings`]).
async fn members_of<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    holdings: Vec<(UserId, u32)>,
    team_id: TeamId,
) -> Result<Vec<TeamMember>, RoutingError> {
    let reps: Vec<Uuid> = holdings.iter().map(|(rep, _)| rep.0).collect();
    let loaded = service
        .load_each_with::<Rep, _>(tenant, &reps, |rep| rep.as_team_member(0))
        .await
        .map_err(|error| RoutingError::Roster(error.to_string()))?;
    let mut members = Vec::with_capacity(holdings.len());
    for ((rep_id, load), (member, _)) in holdings.into_iter().zip(loaded) {
        let member = member.ok_or(RoutingError::UnknownRep {
            team: team_id,
            rep: rep_id,
        })?;
        members.push(TeamMember {
            open_items: load,
            ..member
        });
    }
    Ok(members)
}

/// Routes a captured lead: territory map → team → rep or the team's queue, recorded on the
/// team and then on the lead. Routing a lead that already has a rep changes nothing.
/// Reclaimed leads exclude the reps they were taken from.
pub async fn route_lead<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    settings: RoutingSettings,
    lead_id: LeadId,
) -> Result<RouteOutcome, RoutingError> {
    let prepared = prepare_each(service, tenant, settings, &[lead_id])
        .await
        .pop();
    let (team_id, offer, step) =
        match prepared.unwrap_or(Err(RoutingError::NotCaptured(lead_id)))? {
            Prepared::Done(outcome) => return Ok(outcome),
            Prepared::Offer { team, offer, step } => (team, offer, step),
        };
    let decision = offer_lead(
        service,
        tenant,
        team_id,
        lead_id,
        (offer.rule, offer.preferred),
        offer.excluded,
        CommandMeta::by(router()).with_command_id(derive_id(lead_id.0, &step)),
    )
    .await?;
    record(service, tenant, lead_id, decision, &step, team_id).await
}

/// How many leads of a batch [`route_leads`] looks up the account owners of at once.
const BATCH_PARALLELISM: usize = 8;

/// Routes several captured leads together, each as [`route_lead`] would, and returns each
/// one's outcome in the order given. The leads are read with one version check for them all
/// and the territory map once; the leads bound for one team are offered to it with one
/// command and one append (`TeamCommand::OfferLeads`), so a batch of new leads takes the
/// team's turn once, not once per lead; and the decisions are recorded on their leads
/// together (`CommandService::execute_each`: on PostgreSQL one transaction). A team whose
/// batch fails has its leads routed one by one, so each gets its own outcome.
pub async fn route_leads<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    settings: RoutingSettings,
    leads: &[LeadId],
) -> Vec<Result<RouteOutcome, RoutingError>> {
    let mut outcomes: Vec<Option<Result<RouteOutcome, RoutingError>>> =
        leads.iter().map(|_| None).collect();
    let mut by_team: std::collections::BTreeMap<TeamId, Vec<(usize, LeadOffer, String)>> =
        std::collections::BTreeMap::new();
    let prepared = prepare_each(service, tenant, settings, leads).await;
    for (index, prepared) in prepared.into_iter().enumerate() {
        match prepared {
            Ok(Prepared::Done(outcome)) => outcomes[index] = Some(Ok(outcome)),
            Ok(Prepared::Offer { team, offer, step }) => {
                by_team.entry(team).or_default().push((index, offer, step));
            }
            Err(error) => outcomes[index] = Some(Err(error)),
        }
    }
    // Per decision to record: its place, its team, its lead, the decision and its step.
    let mut recording: Vec<(usize, TeamId, LeadId, RoutingDecision, String)> = Vec::new();
    for (team_id, batch) in by_team {
        // Named by the team's version and the batch's steps: a batch sent again after a crash
        // decides with the same event ids only if nothing was recorded meanwhile.
        let steps: Vec<&str> = batch.iter().map(|(_, _, step)| step.as_str()).collect();
        let meta = |version| {
            CommandMeta::by(router()).with_command_id(derive_id(
                team_id.0,
                &format!("offer/{version}/{}", steps.join(",")),
            ))
        };
        let offers = batch.iter().map(|(_, offer, _)| offer.clone()).collect();
        match offer_leads(service, tenant, team_id, offers, meta).await {
            Ok(decisions) => {
                for ((index, offer, step), decision) in batch.into_iter().zip(decisions) {
                    recording.push((index, team_id, offer.lead_id, decision, step));
                }
            }
            Err(error) => {
                tracing::warn!(%tenant, team = %team_id.0, %error, "offering a batch failed; routing its leads one by one");
                for (index, offer, _) in &batch {
                    outcomes[*index] =
                        Some(route_lead(service, tenant, settings, offer.lead_id).await);
                }
            }
        }
    }
    let commands = recording
        .iter()
        .map(|(_, _, lead, decision, step)| {
            let command = LeadCommand::Route {
                decision: decision.clone(),
            };
            (lead.0, vec![command], record_meta(*lead, step))
        })
        .collect();
    let recorded = service.execute_each::<Lead>(tenant, commands).await;
    for ((index, team, _, decision, _), recorded) in recording.into_iter().zip(recorded) {
        outcomes[index] = Some(
            recorded
                .map(|_| outcome_of(&decision, team))
                .map_err(RoutingError::from),
        );
    }
    outcomes
        .into_iter()
        .zip(leads)
        .map(|(outcome, lead)| outcome.unwrap_or(Err(RoutingError::NotCaptured(*lead))))
        .collect()
}

/// What routing a lead needs, read from the lead and the territory map.
enum Prepared {
    /// Nothing to offer: the lead already has a rep, or waits in a team's queue.
    Done(RouteOutcome),
    /// The lead goes to `team` with `offer`, under `step` (the key its records derive from).
    Offer {
        team: TeamId,
        offer: LeadOffer,
        step: String,
    },
}

/// What routing reads from a lead, in place.
enum LeadReading {
    /// It was never captured: nothing to route on.
    NotCaptured,
    /// Settled without an offer: the lead has a rep or waits in a team's queue.
    Settled(RouteOutcome),
    /// To be offered.
    Open {
        /// What the territory map's rules look at.
        attributes: LeadAttributes,
        /// The reps it was taken back from.
        excluded: Vec<UserId>,
        /// The account its person was linked to, whose owner it goes to first.
        account: Option<AccountId>,
    },
}

impl LeadReading {
    fn of(lead: &Lead) -> Self {
        let captured = !matches!(
            lead.status,
            None | Some(LeadStatus::Received | LeadStatus::Quarantined)
        );
        let Some(profile) = lead.profile.as_ref().filter(|_| captured) else {
            return Self::NotCaptured;
        };
        if let Some(rep) = lead.assignee {
            return Self::Settled(RouteOutcome::AlreadyAssigned { rep });
        }
        if let Some(team) = lead.queue {
            return Self::Settled(RouteOutcome::Queued { team });
        }
        Self::Open {
            attributes: LeadAttributes::from(profile),
            excluded: lead.reclaimed_from.clone(),
            account: linked_account(lead),
        }
    }
}

/// Reads `leads` (one version check for them all) and the territory map (once), and answers
/// for each, in order, what routing it takes.
async fn prepare_each<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    settings: RoutingSettings,
    leads: &[LeadId],
) -> Vec<Result<Prepared, RoutingError>> {
    let ids: Vec<Uuid> = leads.iter().map(|lead| lead.0).collect();
    let read = service
        .load_each_with::<Lead, _>(tenant, &ids, LeadReading::of)
        .await;
    let read = match read {
        Ok(read) => read,
        Err(error) => {
            // The error belongs to one of them: each read alone tells which.
            tracing::debug!(%error, leads = leads.len(), "reading a batch failed; reading each alone");
            let mut prepared = Vec::with_capacity(leads.len());
            for lead in leads {
                prepared.extend(Box::pin(prepare_each(service, tenant, settings, &[*lead])).await);
            }
            return prepared;
        }
    };
    let open: Vec<Option<&LeadAttributes>> = read
        .iter()
        .map(|(reading, _)| match reading {
            LeadReading::Open { attributes, .. } => Some(attributes),
            LeadReading::NotCaptured | LeadReading::Settled(_) => None,
        })
        .collect();
    let assigned = service
        .load_with::<TerritoryMap, _>(tenant, settings.territory_map, |map| {
            open.iter()
                .map(|attributes| attributes.map(|attributes| map.assign_team(attributes)))
                .collect::<Vec<_>>()
        })
        .await
        .map(|(assigned, _)| assigned)
        .map_err(|error| error.to_string());
    let accounts: Vec<Option<AccountId>> = read
        .iter()
        .map(|(reading, _)| match reading {
            LeadReading::Open { account, .. } => *account,
            LeadReading::NotCaptured | LeadReading::Settled(_) => None,
        })
        .collect();
    let owners: Vec<Result<Option<Preference>, RoutingError>> =
        futures_util::stream::iter(accounts.into_iter().map(|account| async move {
            match account {
                Some(account) => owner_of(service, tenant, account).await,
                None => Ok(None),
            }
        }))
        .buffered(BATCH_PARALLELISM)
        .collect()
        .await;
    read.into_iter()
        .zip(owners)
        .zip(leads)
        .enumerate()
        .map(|(place, (((reading, version), owner), lead_id))| {
            let (excluded, preferred) = match reading {
                LeadReading::NotCaptured => return Err(RoutingError::NotCaptured(*lead_id)),
                LeadReading::Settled(settled) => return Ok(Prepared::Done(settled)),
                LeadReading::Open { excluded, .. } => (excluded, owner?),
            };
            let team = match &assigned {
                Ok(assigned) => assigned.get(place).cloned().flatten().flatten(),
                Err(error) => return Err(RoutingError::Roster(error.clone())),
            };
            let (rule, team) = team.ok_or(RoutingError::NoTerritoryMap)?;
            Ok(Prepared::Offer {
                team,
                offer: LeadOffer {
                    lead_id: *lead_id,
                    rule,
                    excluded,
                    preferred,
                },
                step: format!("route/{}/{version}", lead_id.0),
            })
        })
        .collect()
}

/// Offers `offers` to the team with one `OfferLeads` (the members' current availability and
/// load; `meta` made from the team's version) and returns each lead's decision, in order: the
/// one just made, or, for a lead the team had offered or queued before (a retry after a
/// crash), the earlier one read back from its stream.
async fn offer_leads<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    team_id: TeamId,
    offers: Vec<LeadOffer>,
    meta: impl FnOnce(u64) -> CommandMeta,
) -> Result<Vec<RoutingDecision>, RoutingError> {
    let (holdings, version) = service
        .load_with::<Team, _>(tenant, team_id.0, holdings)
        .await?;
    let members = members_of(service, tenant, holdings, team_id).await?;
    let leads: Vec<LeadId> = offers.iter().map(|offer| offer.lead_id).collect();
    let offered = service
        .execute::<Team>(
            tenant,
            team_id.0,
            TeamCommand::OfferLeads { offers, members },
            &meta(version),
        )
        .await?;
    let mut decisions: Vec<Option<RoutingDecision>> = leads
        .iter()
        .map(|lead| offered.events.iter().find_map(decision_for(*lead)))
        .collect();
    if decisions.iter().any(Option::is_none) {
        // Offered or queued before: the team's recent history, read once for all of them.
        let recent = recent_decisions(service, tenant, team_id).await?;
        for (decision, lead) in decisions.iter_mut().zip(&leads) {
            if decision.is_none() {
                *decision = recent.iter().find_map(decision_for(*lead));
            }
        }
    }
    leads
        .into_iter()
        .zip(decisions)
        .map(|(lead, decision)| {
            decision.ok_or(RoutingError::DecisionNotFound {
                team: team_id,
                lead,
            })
        })
        .collect()
}

/// The owner of the account identity resolution linked the lead's person to (an auto-link
/// recorded on the lead, `LeadAccountMatched`), while the account is open: the rep routing
/// offers the lead to first. A review-band match is a guess a person has not confirmed, so it
/// prefers nobody.
pub(crate) async fn account_owner<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    lead: &Lead,
) -> Result<Option<Preference>, RoutingError> {
    match linked_account(lead) {
        Some(account) => owner_of(service, tenant, account).await,
        None => Ok(None),
    }
}

/// The account the lead's person was auto-linked to, if any (see [`account_owner`]).
fn linked_account(lead: &Lead) -> Option<AccountId> {
    lead.account_match
        .filter(|assessment| assessment.verdict == MatchVerdict::AutoLink)
        .map(|assessment| assessment.account)
}

/// The owner of `account` while it is open, as the rep a lead linked to it goes to first.
async fn owner_of<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    account: AccountId,
) -> Result<Option<Preference>, RoutingError> {
    let (owner, _) = service
        .load_with::<Account, _>(tenant, account.0, |state| {
            state
                .profile
                .as_ref()
                .filter(|profile| profile.status == AccountStatus::Active)
                .map(|profile| profile.owner)
        })
        .await
        .map_err(|error| RoutingError::Roster(error.to_string()))?;
    Ok(owner.map(|rep| Preference {
        rep,
        reason: PreferenceReason::AccountOwner { account },
    }))
}

/// Offers `lead` to the team ([`offer_leads`] with it alone) and returns the team's decision:
/// the one just made, or, when the team had offered or queued the lead before (a retry after a
/// crash), the earlier one read back from its stream.
pub(crate) async fn offer_lead<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    team_id: TeamId,
    lead: LeadId,
    (rule, preferred): (Option<RuleMatch>, Option<Preference>),
    excluded: Vec<UserId>,
    meta: CommandMeta,
) -> Result<RoutingDecision, RoutingError> {
    let offer = LeadOffer {
        lead_id: lead,
        rule,
        excluded,
        preferred,
    };
    offer_leads(service, tenant, team_id, vec![offer], |_| meta)
        .await?
        .pop()
        .ok_or(RoutingError::DecisionNotFound {
            team: team_id,
            lead,
        })
}

/// The decision an offer or queueing event holds for `lead`.
fn decision_for(lead: LeadId) -> impl Fn(&TeamEvent) -> Option<RoutingDecision> {
    move |event| match event {
        TeamEvent::LeadOffered {
            lead_id, decision, ..
        }
        | TeamEvent::LeadQueued {
            lead_id, decision, ..
        }
        | TeamEvent::QueuedLeadOffered {
            lead_id, decision, ..
        } if *lead_id == lead => Some(decision.clone()),
        _ => None,
    }
}

/// The team's last [`DECISION_SEARCH`] events, newest first, as far as they decode.
async fn recent_decisions<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    team: TeamId,
) -> Result<Vec<TeamEvent>, RoutingError> {
    let stream = stream_of::<Team>(team.0).map_err(CommandError::<TeamError>::from)?;
    let recent = service
        .work()
        .store()
        .read_stream(
            tenant,
            &stream,
            StreamRead::backward().limit(DECISION_SEARCH),
        )
        .await
        .map_err(CommandError::<TeamError>::from)?;
    Ok(recent
        .into_iter()
        .filter_map(|event| {
            decode::<TeamEvent>(&event.event_type, event.schema_version, event.payload).ok()
        })
        .collect())
}

/// Records `decision` on the lead, keyed by `step` so a retry records it once.
async fn record<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    lead_id: LeadId,
    decision: RoutingDecision,
    step: &str,
    team: TeamId,
) -> Result<RouteOutcome, RoutingError> {
    let outcome = outcome_of(&decision, team);
    service
        .execute::<Lead>(
            tenant,
            lead_id.0,
            LeadCommand::Route { decision },
            &record_meta(lead_id, step),
        )
        .await?;
    Ok(outcome)
}

/// The command recording a routing decision made under `step` on the lead: keyed by the step
/// (`route/{lead}/{lead's version}`), so a retry records it once.
fn record_meta(lead_id: LeadId, step: &str) -> CommandMeta {
    let step = format!("{step}/lead");
    CommandMeta::by(router())
        .with_command_id(derive_id(lead_id.0, &step))
        .with_idempotency_key(step)
}

/// What `decision` by `team` means for the lead.
fn outcome_of(decision: &RoutingDecision, team: TeamId) -> RouteOutcome {
    match decision.outcome {
        RoutingOutcome::Assigned { rep } => RouteOutcome::Assigned { rep, team },
        RoutingOutcome::Queued { .. } => RouteOutcome::Queued { team },
    }
}

/// Offers a team's queued leads to whoever can take them now, oldest first, until nobody
/// eligible is left or the queue is empty; returns the leads assigned. Call it when a rep
/// comes online, returns from leave, or gains capacity: queued leads are never forgotten.
pub async fn drain_queue<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    team_id: TeamId,
) -> Result<Vec<(LeadId, UserId)>, RoutingError> {
    let mut assigned = Vec::new();
    loop {
        let (holdings, version) = service
            .load_with::<Team, _>(tenant, team_id.0, |team| {
                (!team.queue.is_empty()).then(|| holdings(team))
            })
            .await?;
        let Some(holdings) = holdings else {
            return Ok(assigned);
        };
        let members = members_of(service, tenant, holdings, team_id).await?;
        let step = format!("drain/{}/{version}", team_id.0);
        let meta = CommandMeta::by(router()).with_command_id(derive_id(team_id.0, &step));
        let taken = service
            .execute::<Team>(
                tenant,
                team_id.0,
                TeamCommand::TakeFromQueue { members },
                &meta,
            )
            .await?;
        let Some((lead, rep, decision)) = taken.events.iter().find_map(|event| match event {
            TeamEvent::QueuedLeadOffered {
                lead_id,
                rep,
                decision,
                ..
            } => Some((*lead_id, *rep, decision.clone())),
            _ => None,
        }) else {
            return Ok(assigned);
        };
        record(service, tenant, lead, decision, &step, team_id).await?;
        assigned.push((lead, rep));
    }
}

/// The teams the tenant's territory map routes to (every rule's team and the fallback), each
/// once, in the map's order; none before the map is defined.
pub async fn routed_teams<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    settings: RoutingSettings,
) -> Result<Vec<TeamId>, RoutingError> {
    let (map, _) = service
        .load::<TerritoryMap>(tenant, settings.territory_map)
        .await
        .map_err(|error| RoutingError::Roster(error.to_string()))?;
    let Some(territories) = map.territories() else {
        return Ok(Vec::new());
    };
    let mut teams: Vec<TeamId> = Vec::new();
    for team in territories
        .rules()
        .iter()
        .map(|rule| rule.team)
        .chain(std::iter::once(territories.fallback_team()))
    {
        if !teams.contains(&team) {
            teams.push(team);
        }
    }
    Ok(teams)
}

/// [`drain_queue`] for every team the territory map routes to; returns the leads assigned.
/// A team whose drain fails is logged and skipped, so one team's trouble never holds up the
/// others' queues; the first such error is returned after every team was tried.
pub async fn drain_queues<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    settings: RoutingSettings,
) -> Result<Vec<(LeadId, UserId)>, RoutingError> {
    let mut assigned = Vec::new();
    let mut first_error = None;
    for team in routed_teams(service, tenant, settings).await? {
        match drain_queue(service, tenant, team).await {
            Ok(drained) => assigned.extend(drained),
            Err(error) => {
                tracing::warn!(%tenant, team = %team.0, %error, "queue drain failed");
                first_error.get_or_insert(error);
            }
        }
    }
    match first_error {
        Some(error) if assigned.is_empty() => Err(error),
        _ => Ok(assigned),
    }
}

/// Keeps a tenant's queues drained: after every append (a rep coming online, returning from
/// leave, gaining capacity, joining a team, a lead closing and freeing a slot) and at least
/// every `every` (an out-of-office period that ends by its date records no event), it offers
/// queued leads to whoever can take them ([`drain_queues`]).
///
/// Restart-safe without a checkpoint: it acts on the teams' current queues, not on events, and
/// each offer is one command keyed by the team's version, so two drainers (or a drainer and a
/// person calling [`drain_queue`]) never assign a queued lead twice.
#[derive(Debug)]
pub struct QueueDrainer<U: UnitOfWork> {
    service: std::sync::Arc<CommandService<U>>,
    tenant: TenantId,
    settings: RoutingSettings,
}

impl<U: UnitOfWork> QueueDrainer<U> {
    /// A drainer of `tenant`'s queues.
    pub fn new(
        service: std::sync::Arc<CommandService<U>>,
        tenant: TenantId,
        settings: RoutingSettings,
    ) -> Self {
        Self {
            service,
            tenant,
            settings,
        }
    }

    /// One pass over every team's queue.
    pub async fn drain(&self) -> Result<Vec<(LeadId, UserId)>, RoutingError> {
        let span = tracing::info_span!("queue-drain", tenant = %self.tenant);
        drain_queues(&self.service, &self.tenant, self.settings)
            .instrument(span)
            .await
    }

    /// Drains after every append and every `every`, until `stop` turns true.
    pub async fn run(
        &self,
        every: std::time::Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut appended = self.service.work().store().append_signal();
        while !*stop.borrow() {
            if let Err(error) = self.drain().await {
                tracing::warn!(tenant = %self.tenant, %error, "queue drain failed");
            }
            tokio::select! {
                _ = stop.changed() => {}
                _ = appended.changed() => {}
                () = tokio::time::sleep(every) => {}
            }
        }
    }
}
