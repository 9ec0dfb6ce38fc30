//! The team aggregate: a sales team, its ordered members, and its routing state (stream
//! `"team-<team id>"`).
//!
//! The team owns what routing within it must remember between leads: the members' round-robin
//! credits, the queue of leads nobody could take, and which rep each lead was offered to.
//! Every offer is recorded with the whole [`RoutingDecision`] and the credits after it, so a
//! replay of the stream reproduces every decision, and the decision can be recorded on the
//! lead unchanged (`LeadCommand::Route` / `LeadCommand::Reclaim`).
//!
//! The reps' availability and load are not the team's: the caller gathers them from the
//! [`Rep`](super::Rep) states and the reps' open work, and passes them as
//! [`TeamMember`]s, exactly the team's members in the team's order.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::endpoint::{EndpointError, WebhookUrl};
use crate::aggregate::{Aggregate, DomainEvent};
use crate::context::{Actor, Context};
use crate::ids::{LeadId, TeamId, UserId};
use crate::routing::{
    self, AssignmentStrategy, Preference, RoundRobinState, RoutingDecision, RoutingError,
    RoutingOutcome, RuleMatch, TeamMember, route_within_team_preferring,
};

/// Why a lead left a team's queue without being offered by it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum QueueExitReason {
    /// The lead was assigned by other means (by hand, by another team).
    AssignedElsewhere,
    /// The lead was escalated to a team lead.
    Escalated,
    /// The lead was disqualified.
    Disqualified,
    /// The lead was converted.
    Converted,
    /// The lead was merged into another.
    Merged,
    /// Anything else, in words.
    Other {
        /// The explanation; not blank.
        note: String,
    },
}

/// A lead waiting in the team's queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedLead {
    /// The lead.
    pub lead_id: LeadId,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    /// The decision that queued it (its rule is kept when it is offered later).
    pub decision: RoutingDecision,
    /// Reps who must not receive it (they held it before).
    pub excluded: Vec<UserId>,
}

/// One lead of a [`TeamCommand::OfferLeads`]: what [`TeamCommand::OfferLead`] says of one lead.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeadOffer {
    /// The lead.
    pub lead_id: LeadId,
    /// The territory rule that sent it here, or `None` for the fallback.
    pub rule: Option<RuleMatch>,
    /// Reps who must not receive it (they held it before).
    pub excluded: Vec<UserId>,
    /// A rep to offer it to first when eligible; the team's strategy otherwise.
    pub preferred: Option<Preference>,
}

/// A command to a team.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum TeamCommand {
    /// Creates the team, with no members.
    Create {
        /// The team (also the stream's id).
        team_id: TeamId,
        /// The team's name; not blank.
        name: String,
        /// How a rep is chosen among the members.
        strategy: AssignmentStrategy,
        /// The team lead (a person), if any.
        leader: Option<UserId>,
        /// A webhook for the team's notifications (an absolute http/https URL), if any.
        endpoint: Option<String>,
    },
    /// Adds a rep at the end of the member list (the order breaks routing ties).
    AddMember {
        /// The rep.
        rep: UserId,
    },
    /// Removes a rep from the members; their round-robin credit is forgotten.
    RemoveMember {
        /// The rep.
        rep: UserId,
    },
    /// Changes how a rep is chosen; the round-robin credits are kept.
    ChangeStrategy {
        /// The new strategy.
        strategy: AssignmentStrategy,
    },
    /// Names the team lead (a person; need not be a member).
    AppointLeader {
        /// The team lead.
        leader: UserId,
    },
    /// Sets or clears the team's notification webhook.
    ChangeNotificationEndpoint {
        /// The new webhook, an absolute http/https URL, or `None` for none.
        endpoint: Option<String>,
    },
    /// Offers a lead the territory map sent to this team: the team's strategy chooses an
    /// eligible member with the team's own rotation, or the lead joins the queue.
    ///
    /// A lead already offered by this team and not taken back is not offered again: the
    /// command records nothing, unless `excluded` names the rep who holds it (a reoffer after
    /// a reclaim). A lead already in the queue records nothing either; it is offered by
    /// [`TeamCommand::TakeFromQueue`].
    OfferLead {
        /// The lead.
        lead_id: LeadId,
        /// The territory rule that sent it here, or `None` for the fallback.
        rule: Option<RuleMatch>,
        /// Availability and load of exactly the team's members, in the team's order.
        members: Vec<TeamMember>,
        /// Reps who must not receive it (they held it before).
        excluded: Vec<UserId>,
        /// A rep to offer it to first when eligible (the owner of the account the lead's
        /// person works for); the team's strategy otherwise. Kept with a queued lead.
        preferred: Option<Preference>,
    },
    /// Offers several leads at once, in the order given: each exactly as
    /// [`TeamCommand::OfferLead`] would on the state the offers before it leave, with every
    /// lead those offers gave a member counted in that member's load (so a member at capacity
    /// after the third offer is not given the fourth). One decision, one append: what routes
    /// a batch of new leads through a team without taking the team's turn once per lead.
    OfferLeads {
        /// The leads, in the order they are offered.
        offers: Vec<LeadOffer>,
        /// Availability and load of exactly the team's members, in the team's order, as of
        /// the team's state the command is decided on.
        members: Vec<TeamMember>,
    },
    /// Someone may have become available: offers the oldest queued lead an eligible member
    /// can take, or records nothing. One lead per command; call again (with fresh loads)
    /// until it records nothing to drain the queue.
    TakeFromQueue {
        /// Availability and load of exactly the team's members, in the team's order.
        members: Vec<TeamMember>,
    },
    /// Takes a lead out of the queue without offering it; nothing if it is not queued.
    DropFromQueue {
        /// The lead.
        lead_id: LeadId,
        /// Why.
        reason: QueueExitReason,
    },
    /// Forgets that a lead was offered by this team (it was closed, or moved to another team),
    /// so the team's state does not grow with every lead ever offered; a later offer of it is
    /// a fresh one. Nothing if the team does not hold it as offered.
    ReleaseLead {
        /// The lead.
        lead_id: LeadId,
    },
}

/// A fact about a team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum TeamEvent {
    /// The team was created, with no members.
    #[serde(rename = "TeamCreated")]
    Created {
        /// The team.
        team_id: TeamId,
        /// Its name.
        name: String,
        /// How a rep is chosen among the members.
        strategy: AssignmentStrategy,
        /// The team lead, if any.
        leader: Option<UserId>,
        /// The team's notification webhook, if any.
        endpoint: Option<WebhookUrl>,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A rep joined the team, at the end of the member list.
    #[serde(rename = "TeamMemberAdded")]
    MemberAdded {
        /// The rep.
        rep: UserId,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A rep left the team; their round-robin credit is forgotten.
    #[serde(rename = "TeamMemberRemoved")]
    MemberRemoved {
        /// The rep.
        rep: UserId,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The team's assignment strategy changed.
    #[serde(rename = "TeamStrategyChanged")]
    StrategyChanged {
        /// The new strategy.
        strategy: AssignmentStrategy,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A team lead was named.
    #[serde(rename = "TeamLeaderAppointed")]
    LeaderAppointed {
        /// The team lead.
        leader: UserId,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The team's notification webhook was set or cleared.
    #[serde(rename = "TeamNotificationEndpointChanged")]
    NotificationEndpointChanged {
        /// The new webhook, or `None`.
        endpoint: Option<WebhookUrl>,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A lead was offered to a member.
    #[serde(rename = "TeamLeadOffered")]
    LeadOffered {
        /// The lead.
        lead_id: LeadId,
        /// The member chosen.
        rep: UserId,
        /// Why this member: rule, team, strategy, every candidate's verdict.
        decision: RoutingDecision,
        /// Every member's round-robin credit after this offer.
        credits: BTreeMap<UserId, i64>,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// Nobody could take a lead: it waits at the end of the team's queue.
    #[serde(rename = "TeamLeadQueued")]
    LeadQueued {
        /// The lead.
        lead_id: LeadId,
        /// Why nobody was chosen.
        decision: RoutingDecision,
        /// Reps who must not receive it.
        excluded: Vec<UserId>,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A lead waiting in the queue was offered to a member.
    #[serde(rename = "TeamQueuedLeadOffered")]
    QueuedLeadOffered {
        /// The lead.
        lead_id: LeadId,
        /// The member chosen.
        rep: UserId,
        /// Why this member (the rule is the one that queued it).
        decision: RoutingDecision,
        /// Every member's round-robin credit after this offer.
        credits: BTreeMap<UserId, i64>,
        /// When the lead was queued; it waited from then until `at`.
        queued_at: DateTime<Utc>,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A lead left the queue without being offered by the team.
    #[serde(rename = "TeamLeadLeftQueue")]
    LeadLeftQueue {
        /// The lead.
        lead_id: LeadId,
        /// Why.
        reason: QueueExitReason,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The team forgot that it offered a lead.
    #[serde(rename = "TeamLeadReleased")]
    LeadReleased {
        /// The lead.
        lead_id: LeadId,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
}

impl TeamEvent {
    /// How long an offered lead waited in the queue (`None` for other events).
    pub fn waited(&self) -> Option<Duration> {
        match self {
            TeamEvent::QueuedLeadOffered { queued_at, at, .. } => Some(*at - *queued_at),
            _ => None,
        }
    }
}

impl DomainEvent for TeamEvent {
    fn event_type(&self) -> &'static str {
        match self {
            TeamEvent::Created { .. } => "TeamCreated",
            TeamEvent::MemberAdded { .. } => "TeamMemberAdded",
            TeamEvent::MemberRemoved { .. } => "TeamMemberRemoved",
            TeamEvent::StrategyChanged { .. } => "TeamStrategyChanged",
            TeamEvent::LeaderAppointed { .. } => "TeamLeaderAppointed",
            TeamEvent::NotificationEndpointChanged { .. } => "TeamNotificationEndpointChanged",
            TeamEvent::LeadOffered { .. } => "TeamLeadOffered",
            TeamEvent::LeadQueued { .. } => "TeamLeadQueued",
            TeamEvent::QueuedLeadOffered { .. } => "TeamQueuedLeadOffered",
            TeamEvent::LeadLeftQueue { .. } => "TeamLeadLeftQueue",
            TeamEvent::LeadReleased { .. } => "TeamLeadReleased",
        }
    }
}

/// Why a command to a team was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TeamError {
    /// The team has not been created.
    #[error("team not found: it has not been created")]
    NotCreated,
    /// The team was already created.
    #[error("team {team} already exists")]
    AlreadyCreated {
        /// The existing team.
        team: TeamId,
    },
    /// A name with nothing but spaces.
    #[error("a team's name cannot be blank")]
    BlankName,
    /// The notification endpoint is not an acceptable webhook URL.
    #[error("invalid notification endpoint: {0}")]
    InvalidEndpoint(#[from] EndpointError),
    /// The members passed are not exactly the team's members in the team's order.
    #[error("the members given {given:?} are not the team's members {expected:?} in order")]
    MembersMismatch {
        /// The team's members, in order.
        expected: Vec<UserId>,
        /// The members given, in the order given.
        given: Vec<UserId>,
    },
    /// A queue exit explained in words needs the words.
    #[error("a queue exit for another reason needs a note")]
    BlankNote,
    /// Routing refused the team as given (cannot happen for members that match the team).
    #[error(transparent)]
    Routing(#[from] RoutingError),
}

/// A team's state, rebuilt from its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    /// The team; `None` until created.
    pub id: Option<TeamId>,
    /// Its name.
    pub name: String,
    /// How a rep is chosen among the members.
    pub strategy: AssignmentStrategy,
    /// The team lead (a person), if any.
    pub leader: Option<UserId>,
    /// The team's notification webhook.
    pub endpoint: Option<WebhookUrl>,
    /// The members, in the order that breaks routing ties.
    pub members: Vec<UserId>,
    /// The members' round-robin credits as of the last offer (absent: zero).
    pub credits: BTreeMap<UserId, i64>,
    /// Leads waiting for a member, oldest first.
    pub queue: Vec<QueuedLead>,
    /// Leads offered by the team and not released, with the member each went to last.
    pub offered: BTreeMap<LeadId, UserId>,
    /// How many of `offered` each member holds, kept with it so a member's load is read in
    /// one step rather than by counting every open lead of the team.
    holdings: BTreeMap<UserId, u32>,
}

impl Default for Team {
    fn default() -> Self {
        Self {
            id: None,
            name: String::new(),
            strategy: AssignmentStrategy::WeightedRoundRobin,
            leader: None,
            endpoint: None,
            members: Vec::new(),
            credits: BTreeMap::new(),
            queue: Vec::new(),
            offered: BTreeMap::new(),
            holdings: BTreeMap::new(),
        }
    }
}

/// What one routing attempt within the team gave.
struct Offer {
    decision: RoutingDecision,
    credits: BTreeMap<UserId, i64>,
}

impl Team {
    /// Whether `lead` waits in the queue.
    pub fn is_queued(&self, lead: LeadId) -> bool {
        self.queue.iter().any(|queued| queued.lead_id == lead)
    }

    /// The member `lead` was last offered to, if the team holds it as offered.
    pub fn offered_to(&self, lead: LeadId) -> Option<UserId> {
        self.offered.get(&lead).copied()
    }

    /// How many leads the team holds as offered to `rep` (not released): the rep's load from
    /// this team.
    pub fn holding(&self, rep: UserId) -> u32 {
        self.holdings.get(&rep).copied().unwrap_or(0)
    }

    /// Records that `lead` is held by `rep`, in place of whoever held it before.
    fn hold(&mut self, lead: LeadId, rep: UserId) {
        self.release(lead);
        self.offered.insert(lead, rep);
        *self.holdings.entry(rep).or_insert(0) += 1;
    }

    /// Forgets that the team holds `lead` as offered.
    fn release(&mut self, lead: LeadId) {
        if let Some(holder) = self.offered.remove(&lead)
            && let Some(count) = self.holdings.get_mut(&holder)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.holdings.remove(&holder);
            }
        }
    }

    fn require_created(&self) -> Result<TeamId, TeamError> {
        self.id.ok_or(TeamError::NotCreated)
    }

    /// Refuses members that are not exactly the team's, in the team's order.
    fn check_members(&self, members: &[TeamMember]) -> Result<(), TeamError> {
        if members
            .iter()
            .map(|m| m.rep)
            .eq(self.members.iter().copied())
        {
            Ok(())
        } else {
            Err(TeamError::MembersMismatch {
                expected: self.members.clone(),
                given: members.iter().map(|m| m.rep).collect(),
            })
        }
    }

    /// Routes one lead within the team with the team's own rotation.
    fn route(
        &self,
        id: TeamId,
        members: &[TeamMember],
        (rule, preferred): (Option<RuleMatch>, Option<Preference>),
        excluded: &[UserId],
        now: DateTime<Utc>,
    ) -> Result<Offer, TeamError> {
        let team = routing::Team {
            id,
            strategy: self.strategy,
            members: members.to_vec(),
        };
        let rotation = RoundRobinState::for_team(id, self.credits.clone());
        let routed =
            route_within_team_preferring(&team, rule, excluded, &rotation, now, preferred)?;
        Ok(Offer {
            decision: routed.decision,
            credits: routed.rotation.team_credits(id),
        })
    }

    fn create(
        &self,
        team_id: TeamId,
        name: String,
        strategy: AssignmentStrategy,
        leader: Option<UserId>,
        endpoint: Option<&str>,
        ctx: &Context,
    ) -> Result<Vec<TeamEvent>, TeamError> {
        if let Some(team) = self.id {
            return Err(TeamError::AlreadyCreated { team });
        }
        if name.trim().is_empty() {
            return Err(TeamError::BlankName);
        }
        let endpoint = endpoint.map(WebhookUrl::parse).transpose()?;
        Ok(vec![TeamEvent::Created {
            team_id,
            name,
            strategy,
            leader,
            endpoint,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn offer_lead(
        &self,
        lead_id: LeadId,
        route: (Option<RuleMatch>, Option<Preference>),
        members: &[TeamMember],
        excluded: Vec<UserId>,
        ctx: &Context,
    ) -> Result<Vec<TeamEvent>, TeamError> {
        let id = self.require_created()?;
        self.check_members(members)?;
        if self.is_queued(lead_id) {
            return Ok(vec![]);
        }
        if let Some(holder) = self.offered_to(lead_id)
            && !excluded.contains(&holder)
        {
            return Ok(vec![]);
        }
        let Offer { decision, credits } = self.route(id, members, route, &excluded, ctx.now)?;
        let by = ctx.actor.clone();
        let at = ctx.now;
        Ok(vec![match decision.outcome {
            RoutingOutcome::Assigned { rep } => TeamEvent::LeadOffered {
                lead_id,
                rep,
                decision,
                credits,
                by,
                at,
            },
            RoutingOutcome::Queued { .. } => TeamEvent::LeadQueued {
                lead_id,
                decision,
                excluded,
                by,
                at,
            },
        }])
    }

    fn offer_leads(
        &self,
        offers: Vec<LeadOffer>,
        members: &[TeamMember],
        ctx: &Context,
    ) -> Result<Vec<TeamEvent>, TeamError> {
        self.require_created()?;
        self.check_members(members)?;
        let mut events = Vec::new();
        // The state the offers so far leave, as far as these offers read it.
        let leads: BTreeSet<LeadId> = offers.iter().map(|offer| offer.lead_id).collect();
        let mut current = self.for_leads(&leads);
        for offer in offers {
            // Each member's load as given, moved by what the offers so far changed in the
            // team's own holdings (a lead given to them, or a reclaimed lead taken from them).
            let now: Vec<TeamMember> = members
                .iter()
                .map(|member| {
                    let moved = i64::from(current.holding(member.rep))
                        - i64::from(self.holding(member.rep));
                    let load = (i64::from(member.open_items) + moved).clamp(0, i64::from(u32::MAX));
                    TeamMember {
                        open_items: u32::try_from(load).unwrap_or(u32::MAX),
                        ..member.clone()
                    }
                })
                .collect();
            let decided = current.offer_lead(
                offer.lead_id,
                (offer.rule, offer.preferred),
                &now,
                offer.excluded,
                ctx,
            )?;
            if !decided.is_empty() {
                current = decided.iter().fold(current, Team::evolve);
                events.extend(decided);
            }
        }
        Ok(events)
    }

    /// The team as deciding offers of `leads` reads it: everything but its open leads and its
    /// queue, of which only the entries of `leads` are kept. Folding offers of these leads into
    /// it moves the holdings and credits exactly as folding them into the whole team would,
    /// at the cost of the batch rather than of every lead the team holds.
    fn for_leads(&self, leads: &BTreeSet<LeadId>) -> Team {
        Team {
            id: self.id,
            name: self.name.clone(),
            strategy: self.strategy,
            leader: self.leader,
            endpoint: self.endpoint.clone(),
            members: self.members.clone(),
            credits: self.credits.clone(),
            queue: self
                .queue
                .iter()
                .filter(|queued| leads.contains(&queued.lead_id))
                .cloned()
                .collect(),
            offered: leads
                .iter()
                .filter_map(|lead| Some((*lead, self.offered_to(*lead)?)))
                .collect(),
            holdings: self.holdings.clone(),
        }
    }

    fn take_from_queue(
        &self,
        members: &[TeamMember],
        ctx: &Context,
    ) -> Result<Vec<TeamEvent>, TeamError> {
        let id = self.require_created()?;
        self.check_members(members)?;
        for queued in &self.queue {
            let route = (
                queued.decision.rule.clone(),
                queued.decision.preferred.clone(),
            );
            let Offer { decision, credits } =
                self.route(id, members, route, &queued.excluded, ctx.now)?;
            if let RoutingOutcome::Assigned { rep } = decision.outcome {
                return Ok(vec![TeamEvent::QueuedLeadOffered {
                    lead_id: queued.lead_id,
                    rep,
                    decision,
                    credits,
                    queued_at: queued.queued_at,
                    by: ctx.actor.clone(),
                    at: ctx.now,
                }]);
            }
        }
        Ok(vec![])
    }

    fn drop_from_queue(
        &self,
        lead_id: LeadId,
        reason: QueueExitReason,
        ctx: &Context,
    ) -> Result<Vec<TeamEvent>, TeamError> {
        self.require_created()?;
        if let QueueExitReason::Other { note } = &reason
            && note.trim().is_empty()
        {
            return Err(TeamError::BlankNote);
        }
        Ok(when(self.is_queued(lead_id), || TeamEvent::LeadLeftQueue {
            lead_id,
            reason,
            by: ctx.actor.clone(),
            at: ctx.now,
        }))
    }

    /// A change of one setting: refused before creation, nothing when unchanged.
    fn change(
        &self,
        unchanged: bool,
        event: impl FnOnce() -> TeamEvent,
    ) -> Result<Vec<TeamEvent>, TeamError> {
        self.require_created()?;
        Ok(when(!unchanged, event))
    }
}

/// One event when `changed`, none otherwise.
fn when(changed: bool, event: impl FnOnce() -> TeamEvent) -> Vec<TeamEvent> {
    if changed { vec![event()] } else { vec![] }
}

impl Aggregate for Team {
    const KIND: &'static str = "team";
    type Command = TeamCommand;
    type Event = TeamEvent;
    type Error = TeamError;

    fn decide(&self, command: TeamCommand, ctx: &Context) -> Result<Vec<TeamEvent>, TeamError> {
        let by = || ctx.actor.clone();
        let at = ctx.now;
        match command {
            TeamCommand::Create {
                team_id,
                name,
                strategy,
                leader,
                endpoint,
            } => self.create(team_id, name, strategy, leader, endpoint.as_deref(), ctx),
            TeamCommand::AddMember { rep } => self.change(self.members.contains(&rep), || {
                TeamEvent::MemberAdded { rep, by: by(), at }
            }),
            TeamCommand::RemoveMember { rep } => self.change(!self.members.contains(&rep), || {
                TeamEvent::MemberRemoved { rep, by: by(), at }
            }),
            TeamCommand::ChangeStrategy { strategy } => {
                self.change(strategy == self.strategy, || TeamEvent::StrategyChanged {
                    strategy,
                    by: by(),
                    at,
                })
            }
            TeamCommand::AppointLeader { leader } => {
                self.change(self.leader == Some(leader), || TeamEvent::LeaderAppointed {
                    leader,
                    by: by(),
                    at,
                })
            }
            TeamCommand::ChangeNotificationEndpoint { endpoint } => {
                self.require_created()?;
                let endpoint = endpoint.as_deref().map(WebhookUrl::parse).transpose()?;
                self.change(endpoint == self.endpoint, || {
                    TeamEvent::NotificationEndpointChanged {
                        endpoint,
                        by: by(),
                        at,
                    }
                })
            }
            TeamCommand::OfferLead {
                lead_id,
                rule,
                members,
                excluded,
                preferred,
            } => self.offer_lead(lead_id, (rule, preferred), &members, excluded, ctx),
            TeamCommand::OfferLeads { offers, members } => self.offer_leads(offers, &members, ctx),
            TeamCommand::TakeFromQueue { members } => self.take_from_queue(&members, ctx),
            TeamCommand::DropFromQueue { lead_id, reason } => {
                self.drop_from_queue(lead_id, reason, ctx)
            }
            TeamCommand::ReleaseLead { lead_id } => {
                self.change(!self.offered.contains_key(&lead_id), || {
                    TeamEvent::LeadReleased {
                        lead_id,
                        by: by(),
                        at,
                    }
                })
            }
        }
    }

    fn evolve(mut self, event: &TeamEvent) -> Self {
        match event {
            TeamEvent::Created {
                team_id,
                name,
                strategy,
                leader,
                endpoint,
                ..
            } => {
                self = Team {
                    id: Some(*team_id),
                    name: name.clone(),
                    strategy: *strategy,
                    leader: *leader,
                    endpoint: endpoint.clone(),
                    ..Team::default()
                };
            }
            TeamEvent::MemberAdded { rep, .. } => {
                if !self.members.contains(rep) {
                    self.members.push(*rep);
                }
            }
            TeamEvent::MemberRemoved { rep, .. } => {
                self.members.retain(|member| member != rep);
                self.credits.remove(rep);
            }
            TeamEvent::StrategyChanged { strategy, .. } => self.strategy = *strategy,
            TeamEvent::LeaderAppointed { leader, .. } => self.leader = Some(*leader),
            TeamEvent::NotificationEndpointChanged { endpoint, .. } => {
                self.endpoint.clone_from(endpoint);
            }
            TeamEvent::LeadOffered {
                lead_id,
                rep,
                credits,
                ..
            }
            | TeamEvent::QueuedLeadOffered {
                lead_id,
                rep,
                credits,
                ..
            } => {
                self.queue.retain(|queued| queued.lead_id != *lead_id);
                self.hold(*lead_id, *rep);
                self.credits.clone_from(credits);
            }
            TeamEvent::LeadQueued {
                lead_id,
                decision,
                excluded,
                at,
                ..
            } => {
                self.release(*lead_id);
                self.queue.retain(|queued| queued.lead_id != *lead_id);
                self.queue.push(QueuedLead {
                    lead_id: *lead_id,
                    queued_at: *at,
                    decision: decision.clone(),
                    excluded: excluded.clone(),
                });
            }
            TeamEvent::LeadLeftQueue { lead_id, .. } => {
                self.queue.retain(|queued| queued.lead_id != *lead_id);
            }
            TeamEvent::LeadReleased { lead_id, .. } => {
                self.release(*lead_id);
            }
        }
        self
    }
}
