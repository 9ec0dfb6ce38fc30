//! The rep aggregate: one sales rep's standing in the roster (stream `"rep-<user id>"`).
//!
//! What routing needs to know about a rep and that changes by itself rather than per lead:
//! whether the account is active, whether the rep is online, out of office, how much work
//! they take (capacity), their share of round-robin (weight), their skills and where their
//! notifications go. Load (open items) is not kept here: it is counted from the leads and
//! tickets a rep holds, and passed in when a [`TeamMember`] is built.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::endpoint::{EndpointError, WebhookUrl};
use crate::aggregate::{Aggregate, DomainEvent};
use crate::context::{Actor, Context};
use crate::identity::EmailAddress;
use crate::ids::UserId;
use crate::routing::{OutOfOffice, Presence, TeamMember};

/// A command to a rep.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum RepCommand {
    /// Puts a user on the roster, offline and active.
    Register {
        /// The rep (the user's id; also the stream's id).
        rep: UserId,
        /// The name shown to colleagues; not blank.
        display_name: String,
        /// Where notifications are emailed, as typed; must be an email address.
        email: String,
        /// The most open items the rep may hold.
        capacity: u32,
        /// The rep's share in weighted round-robin (0 keeps them out of the rotation).
        weight: u32,
        /// What the rep can handle (languages, products); none blank.
        skills: BTreeSet<String>,
        /// A webhook for notifications, an absolute http/https URL, if any.
        endpoint: Option<String>,
    },
    /// The rep starts taking work.
    GoOnline,
    /// The rep stops taking work.
    GoOffline,
    /// The rep is away until `until` (or until further notice); must end after now.
    SetOutOfOffice {
        /// When the rep is back, or `None` until they return.
        until: Option<DateTime<Utc>>,
    },
    /// The rep is back before (or without) the end of their out-of-office period.
    ReturnToOffice,
    /// Sets the most open items the rep may hold.
    ChangeCapacity {
        /// The new capacity.
        capacity: u32,
    },
    /// Sets the rep's round-robin weight.
    ChangeWeight {
        /// The new weight.
        weight: u32,
    },
    /// Replaces the rep's skills.
    ChangeSkills {
        /// The new skills; none blank.
        skills: BTreeSet<String>,
    },
    /// Sets or clears the rep's notification webhook.
    ChangeNotificationEndpoint {
        /// The new webhook, an absolute http/https URL, or `None` for none.
        endpoint: Option<String>,
    },
    /// Takes the rep out of routing for good (they left, or their account is suspended).
    Deactivate {
        /// Why; not blank.
        reason: String,
    },
    /// Puts a deactivated rep back on the roster, offline.
    Reactivate,
}

/// A fact about a rep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum RepEvent {
    /// The user was put on the roster, offline and active.
    #[serde(rename = "RepRegistered")]
    Registered {
        /// The rep.
        rep: UserId,
        /// The name shown to colleagues (personal data).
        #[serde(deserialize_with = "crate::personal::erasable")]
        display_name: String,
        /// Where notifications are emailed, as typed (personal data).
        #[serde(deserialize_with = "crate::personal::erasable")]
        email: String,
        /// The most open items the rep may hold.
        capacity: u32,
        /// The rep's round-robin weight.
        weight: u32,
        /// What the rep can handle.
        skills: BTreeSet<String>,
        /// The rep's notification webhook, if any.
        endpoint: Option<WebhookUrl>,
        /// Who registered the rep.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The rep started taking work.
    #[serde(rename = "RepWentOnline")]
    WentOnline {
        /// Who acted (the rep, or a presence integration).
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The rep stopped taking work.
    #[serde(rename = "RepWentOffline")]
    WentOffline {
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The rep is away.
    #[serde(rename = "RepOutOfOfficeSet")]
    OutOfOfficeSet {
        /// When the rep is back, or `None` until they return.
        until: Option<DateTime<Utc>>,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The rep's out-of-office period was ended.
    #[serde(rename = "RepReturnedToOffice")]
    ReturnedToOffice {
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The rep's capacity changed.
    #[serde(rename = "RepCapacityChanged")]
    CapacityChanged {
        /// The new capacity.
        capacity: u32,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The rep's round-robin weight changed.
    #[serde(rename = "RepWeightChanged")]
    WeightChanged {
        /// The new weight.
        weight: u32,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The rep's skills were replaced.
    #[serde(rename = "RepSkillsChanged")]
    SkillsChanged {
        /// The new skills.
        skills: BTreeSet<String>,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The rep's notification webhook was set or cleared.
    #[serde(rename = "RepNotificationEndpointChanged")]
    NotificationEndpointChanged {
        /// The new webhook, or `None`.
        endpoint: Option<WebhookUrl>,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The rep was taken out of routing; they are offline from now on.
    #[serde(rename = "RepDeactivated")]
    Deactivated {
        /// Why.
        reason: String,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The rep was put back on the roster, offline.
    #[serde(rename = "RepReactivated")]
    Reactivated {
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for RepEvent {
    /// The members holding personal data, encrypted with the rep's key.
    fn personal_fields(&self) -> &'static [&'static str] {
        match self {
            RepEvent::Registered { .. } => &["/display_name", "/email"],
            RepEvent::WentOnline { .. }
            | RepEvent::WentOffline { .. }
            | RepEvent::OutOfOfficeSet { .. }
            | RepEvent::ReturnedToOffice { .. }
            | RepEvent::CapacityChanged { .. }
            | RepEvent::WeightChanged { .. }
            | RepEvent::SkillsChanged { .. }
            | RepEvent::NotificationEndpointChanged { .. }
            | RepEvent::Deactivated { .. }
            | RepEvent::Reactivated { .. } => &[],
        }
    }

    fn event_type(&self) -> &'static str {
        match self {
            RepEvent::Registered { .. } => "RepRegistered",
            RepEvent::WentOnline { .. } => "RepWentOnline",
            RepEvent::WentOffline { .. } => "RepWentOffline",
            RepEvent::OutOfOfficeSet { .. } => "RepOutOfOfficeSet",
            RepEvent::ReturnedToOffice { .. } => "RepReturnedToOffice",
            RepEvent::CapacityChanged { .. } => "RepCapacityChanged",
            RepEvent::WeightChanged { .. } => "RepWeightChanged",
            RepEvent::SkillsChanged { .. } => "RepSkillsChanged",
            RepEvent::NotificationEndpointChanged { .. } => "RepNotificationEndpointChanged",
            RepEvent::Deactivated { .. } => "RepDeactivated",
            RepEvent::Reactivated { .. } => "RepReactivated",
        }
    }
}

/// Why a command to a rep was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RepError {
    /// The rep has not been registered.
    #[error("rep not found: they have not been registered")]
    NotRegistered,
    /// The rep was already registered.
    #[error("rep {rep} is already registered")]
    AlreadyRegistered {
        /// The registered rep.
        rep: UserId,
    },
    /// A display name with nothing but spaces.
    #[error("a rep's display name cannot be blank")]
    BlankDisplayName,
    /// The notification email is not an email address.
    #[error("{value:?} is not an email address: {reason}")]
    InvalidEmail {
        /// The text given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A skill with nothing but spaces.
    #[error("a skill cannot be blank")]
    BlankSkill,
    /// The notification endpoint is not an acceptable webhook URL.
    #[error("invalid notification endpoint: {0}")]
    InvalidEndpoint(#[from] EndpointError),
    /// A deactivated rep takes no work; reactivate them first.
    #[error("a deactivated rep cannot go online; reactivate them first")]
    DeactivatedCannotGoOnline,
    /// An out-of-office period that would already be over.
    #[error("an out-of-office period must end after now ({now}), not at {until}")]
    OutOfOfficeEndsInThePast {
        /// The end given.
        until: DateTime<Utc>,
        /// The time of the decision.
        now: DateTime<Utc>,
    },
    /// A deactivation needs a reason.
    #[error("a deactivation needs a reason")]
    BlankReason,
}

/// Why and when a rep was deactivated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deactivation {
    /// Why.
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A rep's state, rebuilt from their events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rep {
    /// The rep; `None` until registered.
    pub id: Option<UserId>,
    /// The name shown to colleagues.
    pub display_name: String,
    /// Where notifications are emailed, as typed.
    pub email: String,
    /// The most open items the rep may hold.
    pub capacity: u32,
    /// The rep's round-robin weight.
    pub weight: u32,
    /// What the rep can handle.
    pub skills: BTreeSet<String>,
    /// The rep's notification webhook.
    pub endpoint: Option<WebhookUrl>,
    /// Whether the rep is taking work (always offline while deactivated).
    pub presence: Presence,
    /// The rep's out-of-office period, once set and until they return (it may have ended by
    /// its date; see [`OutOfOffice::is_away_at`]).
    pub out_of_office: Option<OutOfOffice>,
    /// Set while the rep is deactivated.
    pub deactivated: Option<Deactivation>,
}

impl Default for Rep {
    fn default() -> Self {
        Self {
            id: None,
            display_name: String::new(),
            email: String::new(),
            capacity: 0,
            weight: 0,
            skills: BTreeSet::new(),
            endpoint: None,
            presence: Presence::Offline,
            out_of_office: None,
            deactivated: None,
        }
    }
}

impl Rep {
    /// Whether the rep is registered, active, online and not out of office at `now`: whether
    /// they take work at all. Load is not considered (see [`Rep::as_team_member`]).
    pub fn is_available_at(&self, now: DateTime<Utc>) -> bool {
        self.id.is_some()
            && self.deactivated.is_none()
            && self.presence == Presence::Online
            && self
                .out_of_office
                .is_none_or(|absence| !absence.is_away_at(now))
    }

    /// The rep as routing sees them, holding `open_items` open items now; `None` until
    /// registered.
    pub fn as_team_member(&self, open_items: u32) -> Option<TeamMember> {
        Some(TeamMember {
            rep: self.id?,
            active: self.deactivated.is_none(),
            presence: self.presence,
            out_of_office: self.out_of_office,
            weight: self.weight,
            capacity: self.capacity,
            open_items,
        })
    }

    fn require_registered(&self) -> Result<UserId, RepError> {
        self.id.ok_or(RepError::NotRegistered)
    }

    fn register(
        &self,
        registration: Registration,
        ctx: &Context,
    ) -> Result<Vec<RepEvent>, RepError> {
        if let Some(rep) = self.id {
            return Err(RepError::AlreadyRegistered { rep });
        }
        let Registration {
            rep,
            display_name,
            email,
            capacity,
            weight,
            skills,
            endpoint,
        } = registration;
        if display_name.trim().is_empty() {
            return Err(RepError::BlankDisplayName);
        }
        if let Err(error) = EmailAddress::parse(&email) {
            let reason = match error {
                crate::identity::IdentityError::InvalidEmail { reason, .. } => reason,
                _ => "not an email address",
            };
            return Err(RepError::InvalidEmail {
                value: email,
                reason,
            });
        }
        check_skills(&skills)?;
        let endpoint = parse_endpoint(endpoint.as_deref())?;
        Ok(vec![RepEvent::Registered {
            rep,
            display_name,
            email,
            capacity,
            weight,
            skills,
            endpoint,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn go_online(&self, ctx: &Context) -> Result<Vec<RepEvent>, RepError> {
        self.require_registered()?;
        if self.deactivated.is_some() {
            return Err(RepError::DeactivatedCannotGoOnline);
        }
        Ok(when(self.presence != Presence::Online, || {
            RepEvent::WentOnline {
                by: ctx.actor.clone(),
                at: ctx.now,
            }
        }))
    }

    fn go_offline(&self, ctx: &Context) -> Result<Vec<RepEvent>, RepError> {
        self.require_registered()?;
        Ok(when(self.presence != Presence::Offline, || {
            RepEvent::WentOffline {
                by: ctx.actor.clone(),
                at: ctx.now,
            }
        }))
    }

    fn set_out_of_office(
        &self,
        until: Option<DateTime<Utc>>,
        ctx: &Context,
    ) -> Result<Vec<RepEvent>, RepError> {
        self.require_registered()?;
        if let Some(until) = until.filter(|&until| until <= ctx.now) {
            return Err(RepError::OutOfOfficeEndsInThePast {
                until,
                now: ctx.now,
            });
        }
        Ok(when(
            self.out_of_office != Some(OutOfOffice { until }),
            || RepEvent::OutOfOfficeSet {
                until,
                by: ctx.actor.clone(),
                at: ctx.now,
            },
        ))
    }

    fn return_to_office(&self, ctx: &Context) -> Result<Vec<RepEvent>, RepError> {
        self.require_registered()?;
        Ok(when(self.out_of_office.is_some(), || {
            RepEvent::ReturnedToOffice {
                by: ctx.actor.clone(),
                at: ctx.now,
            }
        }))
    }

    fn deactivate(&self, reason: String, ctx: &Context) -> Result<Vec<RepEvent>, RepError> {
        self.require_registered()?;
        if reason.trim().is_empty() {
            return Err(RepError::BlankReason);
        }
        Ok(when(self.deactivated.is_none(), || RepEvent::Deactivated {
            reason,
            by: ctx.actor.clone(),
            at: ctx.now,
        }))
    }

    fn reactivate(&self, ctx: &Context) -> Result<Vec<RepEvent>, RepError> {
        self.require_registered()?;
        Ok(when(self.deactivated.is_some(), || RepEvent::Reactivated {
            by: ctx.actor.clone(),
            at: ctx.now,
        }))
    }

    /// A change of one setting: refused before registration, nothing when unchanged.
    fn change(
        &self,
        unchanged: bool,
        event: impl FnOnce() -> RepEvent,
    ) -> Result<Vec<RepEvent>, RepError> {
        self.require_registered()?;
        Ok(when(!unchanged, event))
    }
}

/// The fields of [`RepCommand::Register`], moved together.
struct Registration {
    rep: UserId,
    display_name: String,
    email: String,
    capacity: u32,
    weight: u32,
    skills: BTreeSet<String>,
    endpoint: Option<String>,
}

/// One event when `changed`, none otherwise.
fn when(changed: bool, event: impl FnOnce() -> RepEvent) -> Vec<RepEvent> {
    if changed { vec![event()] } else { vec![] }
}

fn check_skills(skills: &BTreeSet<String>) -> Result<(), RepError> {
    if skills.iter().any(|skill| skill.trim().is_empty()) {
        return Err(RepError::BlankSkill);
    }
    Ok(())
}

fn parse_endpoint(endpoint: Option<&str>) -> Result<Option<WebhookUrl>, RepError> {
    Ok(endpoint.map(WebhookUrl::parse).transpose()?)
}

impl Aggregate for Rep {
    const KIND: &'static str = "rep";
    type Command = RepCommand;
    type Event = RepEvent;
    type Error = RepError;

    fn decide(&self, command: RepCommand, ctx: &Context) -> Result<Vec<RepEvent>, RepError> {
        let by = || ctx.actor.clone();
        match command {
            RepCommand::Register {
                rep,
                display_name,
                email,
                capacity,
                weight,
                skills,
                endpoint,
            } => self.register(
                Registration {
                    rep,
                    display_name,
                    email,
                    capacity,
                    weight,
                    skills,
                    endpoint,
                },
                ctx,
            ),
            RepCommand::GoOnline => self.go_online(ctx),
            RepCommand::GoOffline => self.go_offline(ctx),
            RepCommand::SetOutOfOffice { until } => self.set_out_of_office(until, ctx),
            RepCommand::ReturnToOffice => self.return_to_office(ctx),
            RepCommand::ChangeCapacity { capacity } => {
                self.change(capacity == self.capacity, || RepEvent::CapacityChanged {
                    capacity,
                    by: by(),
                    at: ctx.now,
                })
            }
            RepCommand::ChangeWeight { weight } => {
                self.change(weight == self.weight, || RepEvent::WeightChanged {
                    weight,
                    by: by(),
                    at: ctx.now,
                })
            }
            RepCommand::ChangeSkills { skills } => {
                self.require_registered()?;
                check_skills(&skills)?;
                self.change(skills == self.skills, || RepEvent::SkillsChanged {
                    skills,
                    by: by(),
                    at: ctx.now,
                })
            }
            RepCommand::ChangeNotificationEndpoint { endpoint } => {
                self.require_registered()?;
                let endpoint = parse_endpoint(endpoint.as_deref())?;
                self.change(endpoint == self.endpoint, || {
                    RepEvent::NotificationEndpointChanged {
                        endpoint,
                        by: by(),
                        at: ctx.now,
                    }
                })
            }
            RepCommand::Deactivate { reason } => self.deactivate(reason, ctx),
            RepCommand::Reactivate => self.reactivate(ctx),
        }
    }

    fn data_subject(&self) -> Option<crate::personal::DataSubject> {
        self.id.map(crate::personal::DataSubject::Rep)
    }

    fn evolve(mut self, event: &RepEvent) -> Self {
        match event {
            RepEvent::Registered {
                rep,
                display_name,
                email,
                capacity,
                weight,
                skills,
                endpoint,
                ..
            } => {
                self = Rep {
                    id: Some(*rep),
                    display_name: display_name.clone(),
                    email: email.clone(),
                    capacity: *capacity,
                    weight: *weight,
                    skills: skills.clone(),
                    endpoint: endpoint.clone(),
                    ..Rep::default()
                };
            }
            RepEvent::WentOnline { .. } => self.presence = Presence::Online,
            RepEvent::WentOffline { .. } => self.presence = Presence::Offline,
            RepEvent::OutOfOfficeSet { until, .. } => {
                self.out_of_office = Some(OutOfOffice { until: *until });
            }
            RepEvent::ReturnedToOffice { .. } => self.out_of_office = None,
            RepEvent::CapacityChanged { capacity, .. } => self.capacity = *capacity,
            RepEvent::WeightChanged { weight, .. } => self.weight = *weight,
            RepEvent::SkillsChanged { skills, .. } => self.skills.clone_from(skills),
            RepEvent::NotificationEndpointChanged { endpoint, .. } => {
                self.endpoint.clone_from(endpoint);
            }
            RepEvent::Deactivated { reason, at, .. } => {
                self.deactivated = Some(Deactivation {
                    reason: reason.clone(),
                    at: *at,
                });
                self.presence = Presence::Offline;
            }
            RepEvent::Reactivated { .. } => self.deactivated = None,
        }
        self
    }
}
