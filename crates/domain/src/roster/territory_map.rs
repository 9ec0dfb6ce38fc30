//! The territory map aggregate: a tenant's territory rules and fallback team, versioned
//! (stream `"territories-<map id>"`, one per tenant).
//!
//! Every change replaces the whole rule list (rules are ordered and the first match wins, so
//! a change to one rule is a change to the list) and bumps the version by one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::aggregate::{Aggregate, DomainEvent};
use crate::context::{Actor, Context};
use crate::ids::TeamId;
use crate::routing::{LeadAttributes, RoutingError, RuleMatch, Territories, TerritoryRule};

/// A command to a territory map.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum TerritoryMapCommand {
    /// Defines the map's first rules (version 1).
    Define {
        /// The map (one per tenant; also the stream's id).
        map_id: Uuid,
        /// The rules, in the order they are tried.
        rules: Vec<TerritoryRule>,
        /// The team that takes leads no rule matches.
        fallback_team: TeamId,
    },
    /// Replaces the rules and fallback (the next version); nothing if they are the same.
    Replace {
        /// The rules, in the order they are tried.
        rules: Vec<TerritoryRule>,
        /// The team that takes leads no rule matches.
        fallback_team: TeamId,
    },
}

/// A fact about a territory map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum TerritoryMapEvent {
    /// The map's first rules were defined.
    #[serde(rename = "TerritoriesDefined")]
    Defined {
        /// The map.
        map_id: Uuid,
        /// The rules and fallback team.
        territories: Territories,
        /// The version these rules are (1).
        version: u32,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The rules were replaced.
    #[serde(rename = "TerritoriesReplaced")]
    Replaced {
        /// The new rules and fallback team.
        territories: Territories,
        /// The version these rules are (one more than the last).
        version: u32,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for TerritoryMapEvent {
    fn event_type(&self) -> &'static str {
        match self {
            TerritoryMapEvent::Defined { .. } => "TerritoriesDefined",
            TerritoryMapEvent::Replaced { .. } => "TerritoriesReplaced",
        }
    }
}

/// Why a command to a territory map was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TerritoryMapError {
    /// The map has no rules yet; define them first.
    #[error("the territory map has not been defined")]
    NotDefined,
    /// The map was already defined; replace its rules instead.
    #[error("territory map {map_id} is already defined")]
    AlreadyDefined {
        /// The existing map.
        map_id: Uuid,
    },
    /// The rules cannot be routed by (see [`Territories::new`]).
    #[error("invalid territory rules: {0}")]
    InvalidRules(#[from] RoutingError),
    /// The version would pass `u32::MAX`.
    #[error("the territory map reached its last version")]
    VersionExhausted,
}

/// A territory map's state, rebuilt from its events.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TerritoryMap {
    /// The map; `None` until defined.
    pub id: Option<Uuid>,
    /// The current rules; `None` until defined.
    pub territories: Option<Territories>,
    /// The current version (0 until defined).
    pub version: u32,
}

impl TerritoryMap {
    /// The current rules, once defined.
    pub fn territories(&self) -> Option<&Territories> {
        self.territories.as_ref()
    }

    /// The team a lead goes to: the first rule it matches (with the match, to record in the
    /// routing decision), or the fallback team with `None`. `None` until the map is defined.
    pub fn assign_team(&self, lead: &LeadAttributes) -> Option<(Option<RuleMatch>, TeamId)> {
        let territories = self.territories.as_ref()?;
        Some(match territories.first_match(lead) {
            Some((matched, rule)) => (Some(matched), rule.team),
            None => (None, territories.fallback_team()),
        })
    }
}

impl Aggregate for TerritoryMap {
    const KIND: &'static str = "territories";
    type Command = TerritoryMapCommand;
    type Event = TerritoryMapEvent;
    type Error = TerritoryMapError;

    fn decide(
        &self,
        command: TerritoryMapCommand,
        ctx: &Context,
    ) -> Result<Vec<TerritoryMapEvent>, TerritoryMapError> {
        match command {
            TerritoryMapCommand::Define {
                map_id,
                rules,
                fallback_team,
            } => {
                if let Some(map_id) = self.id {
                    return Err(TerritoryMapError::AlreadyDefined { map_id });
                }
                Ok(vec![TerritoryMapEvent::Defined {
                    map_id,
                    territories: Territories::new(rules, fallback_team)?,
                    version: 1,
                    by: ctx.actor.clone(),
                    at: ctx.now,
                }])
            }
            TerritoryMapCommand::Replace {
                rules,
                fallback_team,
            } => {
                let current = self
                    .territories
                    .as_ref()
                    .ok_or(TerritoryMapError::NotDefined)?;
                let territories = Territories::new(rules, fallback_team)?;
                if &territories == current {
                    return Ok(vec![]);
                }
                let version = self
                    .version
                    .checked_add(1)
                    .ok_or(TerritoryMapError::VersionExhausted)?;
                Ok(vec![TerritoryMapEvent::Replaced {
                    territories,
                    version,
                    by: ctx.actor.clone(),
                    at: ctx.now,
                }])
            }
        }
    }

    fn evolve(mut self, event: &TerritoryMapEvent) -> Self {
        match event {
            TerritoryMapEvent::Defined {
                map_id,
                territories,
                version,
                ..
            } => {
                self.id = Some(*map_id);
                self.territories = Some(territories.clone());
                self.version = *version;
            }
            TerritoryMapEvent::Replaced {
                territories,
                version,
                ..
            } => {
                self.territories = Some(territories.clone());
                self.version = *version;
            }
        }
        self
    }
}
