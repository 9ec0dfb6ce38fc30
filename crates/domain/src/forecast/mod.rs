//! The forecast aggregate: one owner's forecast call for one month or quarter, with the
//! owner's and the manager's adjustments kept apart.
//!
//! # What is recorded here
//! The computed forecast (open deals by their stamped category and expected close, won deals
//! by the day they were won) is a read model over the opportunities; it needs no aggregate.
//! What people say about it is recorded here: the rep's own call ("I commit 120k this
//! quarter") and the manager's call on that rep's number. Each is a figure per forecast
//! category, the adjusted figure itself rather than a delta, and neither is ever summed into
//! the computed figure: readers show the three side by side. The figure an adjustment
//! replaced is not stored; replaying the stream gives it.
//!
//! # Identity
//! The stream is `"forecast-<id>"` for a [`ForecastId`] the application chooses, as for every
//! other aggregate, and the application keeps one forecast per owner and period (it looks the
//! pair up before opening one). An id derived from (owner, period) would make that automatic
//! but needs a name-based (v5) UUID, which this crate's uuid build does not include; the
//! pipeline read model copes with a second forecast for the same pair by taking the one
//! opened last.
//!
//! # Rules
//! - Only the forecast's owner makes owner adjustments and only its manager makes manager
//!   adjustments; both are signed-in users ([`Actor::User`]). A forecast opened without a
//!   manager takes no manager adjustments, and nobody is their own manager.
//! - Adjusted figures are zero or more, in the forecast's currency, and carry a reason.
//! - Pipeline, best case and commit can be adjusted. Closed cannot: closed is what was won,
//!   and the won deals already say it. Omitted is not part of the forecast.
//! - A locked forecast (its period closed for calls) refuses adjustments and withdrawals;
//!   locking is final. Who may lock is the application's permission check.
//! - Adjusting a category to the figure it already has, withdrawing an adjustment that does
//!   not exist and locking a locked forecast change nothing and record nothing.
//! - The manager is named at opening and does not change; a rep moving teams gets the new
//!   manager on the next period's forecast.

mod period;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use period::{Period, PeriodError, PeriodKind};

use crate::aggregate::{Aggregate, DomainEvent};
use crate::context::{Actor, Context};
use crate::ids::{ForecastId, UserId};
use crate::money::{Currency, Money};
use crate::opportunity::ForecastCategory;

/// Whose call an adjustment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdjustmentRole {
    /// The rep who owns the forecast.
    Owner,
    /// The rep's manager, named when the forecast was opened.
    Manager,
}

/// Whether a forecast still takes adjustments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForecastStatus {
    /// Adjustments are taken.
    Open,
    /// The period is closed for calls (final).
    Locked,
}

/// Whether an adjustment of `category` is allowed at all (see the module documentation).
pub fn is_adjustable(category: ForecastCategory) -> bool {
    matches!(
        category,
        ForecastCategory::Pipeline | ForecastCategory::BestCase | ForecastCategory::Commit
    )
}

/// One standing adjustment: the figure someone calls for a category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    /// The adjusted figure, in the forecast's currency.
    pub amount: Money,
    /// Why.
    pub reason: String,
    /// Who made it.
    pub by: Actor,
    /// When.
    pub at: DateTime<Utc>,
}

/// What is known about an opened forecast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The forecast's id.
    pub id: ForecastId,
    /// The rep whose forecast it is.
    pub owner: UserId,
    /// The manager who may adjust it, if any.
    pub manager: Option<UserId>,
    /// The month or quarter it is for.
    pub period: Period,
    /// The currency of every figure.
    pub currency: Currency,
    /// Open or locked.
    pub status: ForecastStatus,
    /// The owner's standing adjustments, by category.
    pub owner_adjustments: BTreeMap<ForecastCategory, Adjustment>,
    /// The manager's standing adjustments, by category.
    pub manager_adjustments: BTreeMap<ForecastCategory, Adjustment>,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// When it was locked.
    pub locked_at: Option<DateTime<Utc>>,
}

impl Submission {
    /// The standing adjustment of `role` for `category`, if there is one.
    pub fn adjustment(
        &self,
        role: AdjustmentRole,
        category: ForecastCategory,
    ) -> Option<&Adjustment> {
        self.adjustments(role).get(&category)
    }

    /// Every standing adjustment of `role`, by category.
    pub fn adjustments(&self, role: AdjustmentRole) -> &BTreeMap<ForecastCategory, Adjustment> {
        match role {
            AdjustmentRole::Owner => &self.owner_adjustments,
            AdjustmentRole::Manager => &self.manager_adjustments,
        }
    }

    fn adjustments_mut(
        &mut self,
        role: AdjustmentRole,
    ) -> &mut BTreeMap<ForecastCategory, Adjustment> {
        match role {
            AdjustmentRole::Owner => &mut self.owner_adjustments,
            AdjustmentRole::Manager => &mut self.manager_adjustments,
        }
    }
}

/// A forecast's state, rebuilt from its events.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Forecast {
    /// Everything known since opening; `None` until opened.
    pub submission: Option<Submission>,
}

/// A command to a forecast.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum ForecastCommand {
    /// Opens the forecast of `owner` for `period`.
    Open {
        /// The new forecast's id (the caller chose it; the stream is `"forecast-{id}"`).
        forecast: ForecastId,
        /// The rep whose forecast it is.
        owner: UserId,
        /// The manager who may adjust it; someone other than the owner.
        manager: Option<UserId>,
        /// The month or quarter.
        period: Period,
        /// The currency every figure will be in.
        currency: Currency,
    },
    /// Calls a figure for a category, as the owner or as the manager; replaces that role's
    /// earlier call for the category.
    Adjust {
        /// Pipeline, best case or commit.
        category: ForecastCategory,
        /// The figure; zero or more, in the forecast's currency.
        amount: Money,
        /// Whose call it is; the actor must be the forecast's owner or manager accordingly.
        role: AdjustmentRole,
        /// Why; must not be blank.
        reason: String,
    },
    /// Takes back a role's call for a category, so only the computed figure stands.
    WithdrawAdjustment {
        /// The category.
        category: ForecastCategory,
        /// Whose call; the actor must hold that role.
        role: AdjustmentRole,
    },
    /// Closes the period for calls.
    Lock,
}

/// A fact about a forecast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ForecastEvent {
    /// The forecast was opened.
    #[serde(rename = "ForecastOpened")]
    Opened {
        /// The forecast.
        forecast: ForecastId,
        /// The rep whose forecast it is.
        owner: UserId,
        /// The manager who may adjust it.
        manager: Option<UserId>,
        /// The month or quarter.
        period: Period,
        /// The currency of every figure.
        currency: Currency,
        /// Who opened it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A role called a figure for a category.
    #[serde(rename = "ForecastAdjusted")]
    Adjusted {
        /// The category.
        category: ForecastCategory,
        /// Whose call.
        role: AdjustmentRole,
        /// The adjusted figure (not a delta).
        amount: Money,
        /// Why.
        reason: String,
        /// Who made it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A role took back its call for a category.
    #[serde(rename = "ForecastAdjustmentWithdrawn")]
    AdjustmentWithdrawn {
        /// The category.
        category: ForecastCategory,
        /// Whose call it was.
        role: AdjustmentRole,
        /// Who took it back.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The period was closed for calls.
    #[serde(rename = "ForecastLocked")]
    Locked {
        /// Who locked it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for ForecastEvent {
    fn event_type(&self) -> &'static str {
        match self {
            ForecastEvent::Opened { .. } => "ForecastOpened",
            ForecastEvent::Adjusted { .. } => "ForecastAdjusted",
            ForecastEvent::AdjustmentWithdrawn { .. } => "ForecastAdjustmentWithdrawn",
            ForecastEvent::Locked { .. } => "ForecastLocked",
        }
    }
}

/// Why a command to a forecast was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ForecastError {
    /// The forecast has not been opened.
    #[error("forecast not found: it has not been opened")]
    NotFound,
    /// A forecast with this id is already open.
    #[error("forecast {id} was already opened")]
    AlreadyOpened {
        /// The existing forecast.
        id: ForecastId,
    },
    /// The owner was named as their own manager.
    #[error("user {user} cannot manage their own forecast")]
    ManagerIsOwner {
        /// The user named twice.
        user: UserId,
    },
    /// The period is closed for calls.
    #[error("the forecast for {period} is locked: it takes no more adjustments")]
    Locked {
        /// The forecast's period.
        period: Period,
    },
    /// Closed and omitted are not adjusted.
    #[error("the {category:?} category cannot be adjusted")]
    CategoryNotAdjustable {
        /// The category asked for.
        category: ForecastCategory,
    },
    /// A figure in another currency than the forecast's.
    #[error("the forecast is in {expected}, not {found}")]
    CurrencyMismatch {
        /// The forecast's currency.
        expected: Currency,
        /// The currency offered.
        found: Currency,
    },
    /// Figures are zero or more.
    #[error("forecast figure {amount} is negative")]
    NegativeAmount {
        /// The refused figure.
        amount: Money,
    },
    /// Adjustments are made by users, not by systems, integrations or automations.
    #[error("a forecast is adjusted by a user")]
    UserRequired,
    /// Someone other than the owner tried to make or take back an owner adjustment.
    #[error("user {user} is not the owner of this forecast ({owner} is)")]
    NotTheOwner {
        /// The user who tried.
        user: UserId,
        /// The forecast's owner.
        owner: UserId,
    },
    /// Someone other than the manager tried to make or take back a manager adjustment.
    #[error("user {user} is not the manager of this forecast ({manager} is)")]
    NotTheManager {
        /// The user who tried.
        user: UserId,
        /// The forecast's manager.
        manager: UserId,
    },
    /// A manager adjustment on a forecast opened without a manager.
    #[error("this forecast has no manager to adjust it")]
    NoManager,
    /// An adjustment needs a reason.
    #[error("an adjustment needs a reason")]
    BlankReason,
}

impl Forecast {
    /// The forecast's id, once opened.
    pub fn id(&self) -> Option<ForecastId> {
        self.submission.as_ref().map(|submission| submission.id)
    }

    /// Whether it takes adjustments, once opened.
    pub fn status(&self) -> Option<ForecastStatus> {
        self.submission.as_ref().map(|submission| submission.status)
    }

    fn require_open(&self) -> Result<&Submission, ForecastError> {
        match &self.submission {
            None => Err(ForecastError::NotFound),
            Some(submission) if submission.status == ForecastStatus::Locked => {
                Err(ForecastError::Locked {
                    period: submission.period,
                })
            }
            Some(submission) => Ok(submission),
        }
    }

    fn open(&self, opening: Opening, ctx: &Context) -> Result<Vec<ForecastEvent>, ForecastError> {
        if let Some(id) = self.id() {
            return Err(ForecastError::AlreadyOpened { id });
        }
        let Opening {
            forecast,
            owner,
            manager,
            period,
            currency,
        } = opening;
        if manager == Some(owner) {
            return Err(ForecastError::ManagerIsOwner { user: owner });
        }
        Ok(vec![ForecastEvent::Opened {
            forecast,
            owner,
            manager,
            period,
            currency,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    /// The open submission, once the actor is shown to hold `role` and `category` to be
    /// adjustable.
    fn authorized(
        &self,
        role: AdjustmentRole,
        category: ForecastCategory,
        ctx: &Context,
    ) -> Result<&Submission, ForecastError> {
        let submission = self.require_open()?;
        let user = ctx.actor.user().ok_or(ForecastError::UserRequired)?;
        match role {
            AdjustmentRole::Owner if user != submission.owner => {
                return Err(ForecastError::NotTheOwner {
                    user,
                    owner: submission.owner,
                });
            }
            AdjustmentRole::Manager => match submission.manager {
                None => return Err(ForecastError::NoManager),
                Some(manager) if manager != user => {
                    return Err(ForecastError::NotTheManager { user, manager });
                }
                Some(_) => {}
            },
            AdjustmentRole::Owner => {}
        }
        if !is_adjustable(category) {
            return Err(ForecastError::CategoryNotAdjustable { category });
        }
        Ok(submission)
    }

    fn adjust(&self, call: Call, ctx: &Context) -> Result<Vec<ForecastEvent>, ForecastError> {
        let Call {
            category,
            amount,
            role,
            reason,
        } = call;
        let submission = self.authorized(role, category, ctx)?;
        if amount.currency != submission.currency {
            return Err(ForecastError::CurrencyMismatch {
                expected: submission.currency,
                found: amount.currency,
            });
        }
        if amount.minor < 0 {
            return Err(ForecastError::NegativeAmount { amount });
        }
        if reason.trim().is_empty() {
            return Err(ForecastError::BlankReason);
        }
        if submission
            .adjustment(role, category)
            .is_some_and(|standing| standing.amount == amount)
        {
            return Ok(vec![]);
        }
        Ok(vec![ForecastEvent::Adjusted {
            category,
            role,
            amount,
            reason,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn withdraw(
        &self,
        category: ForecastCategory,
        role: AdjustmentRole,
        ctx: &Context,
    ) -> Result<Vec<ForecastEvent>, ForecastError> {
        let submission = self.authorized(role, category, ctx)?;
        if submission.adjustment(role, category).is_none() {
            return Ok(vec![]);
        }
        Ok(vec![ForecastEvent::AdjustmentWithdrawn {
            category,
            role,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn lock(&self, ctx: &Context) -> Result<Vec<ForecastEvent>, ForecastError> {
        match &self.submission {
            None => Err(ForecastError::NotFound),
            Some(submission) if submission.status == ForecastStatus::Locked => Ok(vec![]),
            Some(_) => Ok(vec![ForecastEvent::Locked {
                by: ctx.actor.clone(),
                at: ctx.now,
            }]),
        }
    }
}

/// What [`ForecastCommand::Open`] carries, for the decision that checks it.
#[derive(Clone, Copy)]
struct Opening {
    forecast: ForecastId,
    owner: UserId,
    manager: Option<UserId>,
    period: Period,
    currency: Currency,
}

/// What [`ForecastCommand::Adjust`] carries, for the decision that checks it.
struct Call {
    category: ForecastCategory,
    amount: Money,
    role: AdjustmentRole,
    reason: String,
}

impl Aggregate for Forecast {
    const KIND: &'static str = "forecast";
    type Command = ForecastCommand;
    type Event = ForecastEvent;
    type Error = ForecastError;

    fn decide(
        &self,
        command: ForecastCommand,
        ctx: &Context,
    ) -> Result<Vec<ForecastEvent>, ForecastError> {
        match command {
            ForecastCommand::Open {
                forecast,
                owner,
                manager,
                period,
                currency,
            } => self.open(
                Opening {
                    forecast,
                    owner,
                    manager,
                    period,
                    currency,
                },
                ctx,
            ),
            ForecastCommand::Adjust {
                category,
                amount,
                role,
                reason,
            } => self.adjust(
                Call {
                    category,
                    amount,
                    role,
                    reason,
                },
                ctx,
            ),
            ForecastCommand::WithdrawAdjustment { category, role } => {
                self.withdraw(category, role, ctx)
            }
            ForecastCommand::Lock => self.lock(ctx),
        }
    }

    fn evolve(mut self, event: &ForecastEvent) -> Self {
        match event {
            ForecastEvent::Opened {
                forecast,
                owner,
                manager,
                period,
                currency,
                at,
                ..
            } => {
                self.submission = Some(Submission {
                    id: *forecast,
                    owner: *owner,
                    manager: *manager,
                    period: *period,
                    currency: *currency,
                    status: ForecastStatus::Open,
                    owner_adjustments: BTreeMap::new(),
                    manager_adjustments: BTreeMap::new(),
                    opened_at: *at,
                    locked_at: None,
                });
            }
            ForecastEvent::Adjusted {
                category,
                role,
                amount,
                reason,
                by,
                at,
            } => {
                if let Some(submission) = &mut self.submission {
                    submission.adjustments_mut(*role).insert(
                        *category,
                        Adjustment {
                            amount: *amount,
                            reason: reason.clone(),
                            by: by.clone(),
                            at: *at,
                        },
                    );
                }
            }
            ForecastEvent::AdjustmentWithdrawn { category, role, .. } => {
                if let Some(submission) = &mut self.submission {
                    submission.adjustments_mut(*role).remove(category);
                }
            }
            ForecastEvent::Locked { at, .. } => {
                if let Some(submission) = &mut self.submission {
                    submission.status = ForecastStatus::Locked;
                    submission.locked_at.get_or_insert(*at);
                }
            }
        }
        self
    }
}
