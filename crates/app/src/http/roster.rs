//! The roster's commands (reps, teams, territories) and the forecast's, as the API takes them.
//! A team's queue (offer, take, drop, release) is the router's business, not a client's.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use crm_domain::forecast::{AdjustmentRole, ForecastCommand, Period};
use crm_domain::opportunity::ForecastCategory;
use crm_domain::roster::{RepCommand, TeamCommand, TerritoryMapCommand};
use crm_domain::routing::{AssignmentStrategy, TerritoryRule};
use crm_domain::{Currency, ForecastId, Money, TeamId, UserId};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::commands::{Empty, Reason};

/// A request that is one command to one aggregate, decided from the request alone.
pub(crate) trait ClientCommand: serde::de::DeserializeOwned + Send + 'static {
    /// The aggregate it goes to.
    type Aggregate: crm_domain::Aggregate<Command: serde::Serialize + Clone> + Send + Sync + 'static;
    /// Whether it changes what others may have changed meanwhile (so needs `If-Match`).
    fn needs_if_match(&self) -> bool;
    /// The domain's command, for the aggregate of the path's `id`.
    fn into_command(self, id: Uuid) -> <Self::Aggregate as crm_domain::Aggregate>::Command;
}

macro_rules! client_command {
    ($request:ty => $aggregate:ty) => {
        impl ClientCommand for $request {
            type Aggregate = $aggregate;
            fn needs_if_match(&self) -> bool {
                <$request>::needs_if_match(self)
            }
            fn into_command(self, id: Uuid) -> <$aggregate as crm_domain::Aggregate>::Command {
                <$request>::into_command(self, id)
            }
        }
    };
}

client_command!(RepRequest => crm_domain::roster::Rep);
client_command!(TeamRequest => crm_domain::roster::Team);
client_command!(TerritoryRequest => crm_domain::roster::TerritoryMap);
client_command!(ForecastRequest => crm_domain::forecast::Forecast);

/// A command to a rep (the path's id is the rep's user id).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum RepRequest {
    /// Puts the user on the roster.
    Register(RegisterRep),
    /// The rep is available.
    GoOnline(Empty),
    /// The rep is not available.
    GoOffline(Empty),
    /// The rep is away, until a time or until they return.
    SetOutOfOffice(OutOfOffice),
    /// The rep is back.
    ReturnToOffice(Empty),
    /// How many open leads the rep may hold (needs `If-Match`).
    ChangeCapacity(Capacity),
    /// The rep's share under weighted routing (needs `If-Match`).
    ChangeWeight(Weight),
    /// The rep's skills (needs `If-Match`).
    ChangeSkills(Skills),
    /// Where the rep's notifications go (`http://…`), or none.
    ChangeNotificationEndpoint(Endpoint),
    /// Takes the rep off the roster (needs `If-Match`).
    Deactivate(Reason),
    /// Puts them back (needs `If-Match`).
    Reactivate(Empty),
}

/// A new rep.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRep {
    /// The name people see.
    pub display_name: String,
    /// Their email address.
    pub email: String,
    /// How many open leads they may hold.
    pub capacity: u32,
    /// Their share under weighted routing.
    pub weight: u32,
    /// Their skills.
    #[serde(default)]
    pub skills: BTreeSet<String>,
    /// Where their notifications go.
    #[serde(default)]
    pub endpoint: Option<String>,
}

/// An absence.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutOfOffice {
    /// When they are back; open-ended without it.
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
}

/// A capacity.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    /// Open leads at most.
    pub capacity: u32,
}

/// A routing weight.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Weight {
    /// The share.
    pub weight: u32,
}

/// Skills.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Skills {
    /// Every skill.
    pub skills: BTreeSet<String>,
}

/// A notification endpoint.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// An `http://` or `https://` URL; none to stop notifications.
    #[serde(default)]
    pub endpoint: Option<String>,
}

impl RepRequest {
    pub(crate) fn needs_if_match(&self) -> bool {
        matches!(
            self,
            RepRequest::ChangeCapacity(_)
                | RepRequest::ChangeWeight(_)
                | RepRequest::ChangeSkills(_)
                | RepRequest::Deactivate(_)
                | RepRequest::Reactivate(_)
        )
    }

    pub(crate) fn into_command(self, id: Uuid) -> RepCommand {
        match self {
            RepRequest::Register(register) => RepCommand::Register {
                rep: UserId(id),
                display_name: register.display_name,
                email: register.email,
                capacity: register.capacity,
                weight: register.weight,
                skills: register.skills,
                endpoint: register.endpoint,
            },
            RepRequest::GoOnline(_) => RepCommand::GoOnline,
            RepRequest::GoOffline(_) => RepCommand::GoOffline,
            RepRequest::SetOutOfOffice(OutOfOffice { until }) => {
                RepCommand::SetOutOfOffice { until }
            }
            RepRequest::ReturnToOffice(_) => RepCommand::ReturnToOffice,
            RepRequest::ChangeCapacity(Capacity { capacity }) => {
                RepCommand::ChangeCapacity { capacity }
            }
            RepRequest::ChangeWeight(Weight { weight }) => RepCommand::ChangeWeight { weight },
            RepRequest::ChangeSkills(Skills { skills }) => RepCommand::ChangeSkills { skills },
            RepRequest::ChangeNotificationEndpoint(Endpoint { endpoint }) => {
                RepCommand::ChangeNotificationEndpoint { endpoint }
            }
            RepRequest::Deactivate(Reason { reason }) => RepCommand::Deactivate { reason },
            RepRequest::Reactivate(_) => RepCommand::Reactivate,
        }
    }
}

/// A command to a team.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum TeamRequest {
    /// Makes the team with the path's id.
    Create(CreateTeam),
    /// Adds a rep.
    AddMember(Member),
    /// Removes a rep.
    RemoveMember(Member),
    /// How leads are shared out (needs `If-Match`).
    ChangeStrategy(Strategy),
    /// Who leads the team (needs `If-Match`).
    AppointLeader(Leader),
    /// Where the team's notifications go.
    ChangeNotificationEndpoint(Endpoint),
}

/// A new team.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeam {
    /// Its name.
    pub name: String,
    /// `weighted_round_robin` or `least_loaded`.
    #[schema(value_type = String)]
    pub strategy: AssignmentStrategy,
    /// Its leader.
    #[serde(default)]
    pub leader: Option<Uuid>,
    /// Where its notifications go.
    #[serde(default)]
    pub endpoint: Option<String>,
}

/// A member.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// The rep's user id.
    pub rep: Uuid,
}

/// A strategy.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Strategy {
    /// The strategy.
    #[schema(value_type = String)]
    pub strategy: AssignmentStrategy,
}

/// A leader.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Leader {
    /// Their user id.
    pub leader: Uuid,
}

impl TeamRequest {
    pub(crate) fn needs_if_match(&self) -> bool {
        matches!(
            self,
            TeamRequest::ChangeStrategy(_) | TeamRequest::AppointLeader(_)
        )
    }

    pub(crate) fn into_command(self, id: Uuid) -> TeamCommand {
        match self {
            TeamRequest::Create(create) => TeamCommand::Create {
                team_id: TeamId(id),
                name: create.name,
                strategy: create.strategy,
                leader: create.leader.map(UserId),
                endpoint: create.endpoint,
            },
            TeamRequest::AddMember(Member { rep }) => TeamCommand::AddMember { rep: UserId(rep) },
            TeamRequest::RemoveMember(Member { rep }) => {
                TeamCommand::RemoveMember { rep: UserId(rep) }
            }
            TeamRequest::ChangeStrategy(Strategy { strategy }) => {
                TeamCommand::ChangeStrategy { strategy }
            }
            TeamRequest::AppointLeader(Leader { leader }) => TeamCommand::AppointLeader {
                leader: UserId(leader),
            },
            TeamRequest::ChangeNotificationEndpoint(Endpoint { endpoint }) => {
                TeamCommand::ChangeNotificationEndpoint { endpoint }
            }
        }
    }
}

/// A command to a territory map.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum TerritoryRequest {
    /// Defines the map with the path's id.
    Define(Territories),
    /// Replaces every rule (needs `If-Match`).
    Replace(Territories),
}

/// A territory map's rules.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Territories {
    /// The rules, first match wins (each names conditions and a team).
    #[schema(value_type = Vec<Object>)]
    pub rules: Vec<TerritoryRule>,
    /// The team leads no rule matches go to.
    pub fallback_team: Uuid,
}

impl TerritoryRequest {
    pub(crate) fn needs_if_match(&self) -> bool {
        matches!(self, TerritoryRequest::Replace(_))
    }

    pub(crate) fn into_command(self, id: Uuid) -> TerritoryMapCommand {
        match self {
            TerritoryRequest::Define(Territories {
                rules,
                fallback_team,
            }) => TerritoryMapCommand::Define {
                map_id: id,
                rules,
                fallback_team: TeamId(fallback_team),
            },
            TerritoryRequest::Replace(Territories {
                rules,
                fallback_team,
            }) => TerritoryMapCommand::Replace {
                rules,
                fallback_team: TeamId(fallback_team),
            },
        }
    }
}

/// A command to a rep's forecast for a period.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum ForecastRequest {
    /// Opens the forecast with the path's id.
    Open(OpenForecast),
    /// The owner's or the manager's call on a category.
    Adjust(Adjust),
    /// Takes a call back.
    WithdrawAdjustment(Withdraw),
    /// Locks the forecast: no call changes after it (needs `If-Match`).
    Lock(Empty),
}

/// A new forecast.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenForecast {
    /// Whose forecast it is.
    pub owner: Uuid,
    /// Their manager.
    #[serde(default)]
    pub manager: Option<Uuid>,
    /// `{"start": "2027-01-01", "kind": "quarter"}` (`month` or `quarter`, starting on its
    /// first day).
    #[schema(value_type = Object)]
    pub period: Period,
    /// The currency of its calls (ISO 4217).
    #[schema(value_type = String)]
    pub currency: Currency,
}

/// A call.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Adjust {
    /// `pipeline`, `best_case` or `commit`.
    #[schema(value_type = String)]
    pub category: ForecastCategory,
    /// The amount called.
    #[schema(value_type = Object)]
    pub amount: Money,
    /// `owner` or `manager`.
    #[schema(value_type = String)]
    pub role: AdjustmentRole,
    /// Why.
    pub reason: String,
}

/// A call taken back.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Withdraw {
    /// The category.
    #[schema(value_type = String)]
    pub category: ForecastCategory,
    /// Whose call.
    #[schema(value_type = String)]
    pub role: AdjustmentRole,
}

impl ForecastRequest {
    pub(crate) fn needs_if_match(&self) -> bool {
        matches!(self, ForecastRequest::Lock(_))
    }

    pub(crate) fn into_command(self, id: Uuid) -> ForecastCommand {
        match self {
            ForecastRequest::Open(open) => ForecastCommand::Open {
                forecast: ForecastId(id),
                owner: UserId(open.owner),
                manager: open.manager.map(UserId),
                period: open.period,
                currency: open.currency,
            },
            ForecastRequest::Adjust(adjust) => ForecastCommand::Adjust {
                category: adjust.category,
                amount: adjust.amount,
                role: adjust.role,
                reason: adjust.reason,
            },
            ForecastRequest::WithdrawAdjustment(Withdraw { category, role }) => {
                ForecastCommand::WithdrawAdjustment { category, role }
            }
            ForecastRequest::Lock(_) => ForecastCommand::Lock,
        }
    }
}

/// A rep's own availability, which they set themselves.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum AvailabilityRequest {
    /// Available for leads.
    GoOnline(Empty),
    /// Not available for now.
    GoOffline(Empty),
    /// Away, until a time or until they say they are back.
    SetOutOfOffice(OutOfOffice),
    /// Back.
    ReturnToOffice(Empty),
}

impl AvailabilityRequest {
    fn into_command(self) -> RepCommand {
        match self {
            AvailabilityRequest::GoOnline(_) => RepCommand::GoOnline,
            AvailabilityRequest::GoOffline(_) => RepCommand::GoOffline,
            AvailabilityRequest::SetOutOfOffice(OutOfOffice { until }) => {
                RepCommand::SetOutOfOffice { until }
            }
            AvailabilityRequest::ReturnToOffice(_) => RepCommand::ReturnToOffice,
        }
    }
}

/// `POST /v1/reps/{id}/availability`: a rep going online or offline, away or back. A sales or
/// support token sets its own user's only (403 for anyone else's); an admin sets anyone's.
/// Routing reads it at the next offer, and the queue drainer offers waiting leads to a rep
/// who comes online.
pub(crate) async fn availability<B: crate::backend::Backend>(
    axum::extract::State(app): axum::extract::State<std::sync::Arc<super::App<B>>>,
    axum::Extension(principal): axum::Extension<super::Principal>,
    id: Result<super::reads::Id, super::problem::Problem>,
    headers: axum::http::HeaderMap,
    super::body::Body(request): super::body::Body<AvailabilityRequest>,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let super::reads::Id(rep) = match id {
        Ok(id) => id,
        Err(problem) => return problem.into_response(),
    };
    let own = matches!(&principal.actor, crm_domain::Actor::User { id } if id.0 == rep);
    if !own && principal.role != super::auth::Role::Admin {
        return super::problem::Problem::new(
            super::problem::ProblemKind::Forbidden,
            "a rep sets only their own availability (an admin sets anyone's)",
        )
        .into_response();
    }
    super::commands::execute::<crm_domain::roster::Rep>(
        &app,
        &principal,
        &headers,
        rep,
        request.into_command(),
        false,
    )
    .await
}
