//! Reading an account 360: climb to the top, walk down the hierarchy level by level, sum.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use crm_domain::account::{AccountAddress, AccountStatus, ContactRole};
use crm_domain::activity::ActivityKind;
use crm_domain::identity::CompanyDomain;
use crm_domain::{
    AccountId, ActivityId, ContactId, Currency, Money, OpportunityId, TicketId, UserId,
};
use serde::{Deserialize, Serialize};

use super::{AccountDoc, AccountRecord, Members, OpenTicket, account_key, members_key};
use crate::model::{DocKey, Found, Lookup};
use crate::sums::CurrencySums;

/// Reads the account 360 of `account`: its profile, where it sits in its hierarchy, its own
/// figures and those of everything below it. `None` when the account was never opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account360Query {
    /// The account.
    pub account: AccountId,
}

/// An account in a hierarchy listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountBrief {
    /// The account.
    pub id: AccountId,
    /// Its name (`None` for an account named in the hierarchy but not opened).
    pub name: Option<String>,
    /// Where it stands.
    pub status: Option<AccountStatus>,
    /// Its owner.
    pub owner: Option<UserId>,
    /// Its parent.
    pub parent: Option<AccountId>,
    /// How far below the viewed account it sits (0 for the account itself; for ancestors,
    /// how far above).
    pub depth: usize,
}

/// Figures of one account or of a whole hierarchy. Money is summed per currency, never
/// across currencies.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Figures {
    /// Accounts counted.
    pub accounts: usize,
    /// Distinct contacts holding a role at them.
    pub contacts: usize,
    /// Open deals.
    pub open_deals: usize,
    /// The open deals' amounts, one sum per currency.
    pub open_pipeline: Vec<Money>,
    /// Deals won.
    pub won_deals: u64,
    /// Won revenue, one sum per currency.
    pub won_revenue: Vec<Money>,
    /// Currencies whose sums do not fit in 64-bit minor units (left out of the sums).
    pub overflowed: Vec<Currency>,
    /// Deals lost.
    pub lost_deals: u64,
    /// Open tickets.
    pub open_tickets: usize,
    /// Open tickets still waiting for a first response.
    pub awaiting_first_response: usize,
    /// Open tickets escalated (at risk or breached).
    pub escalated_tickets: usize,
    /// Open tickets escalated as breached (level 2 or higher).
    pub breached_tickets: usize,
    /// Tickets solved or closed.
    pub resolved_tickets: u64,
    /// Activities counted (an activity about two accounts of a hierarchy counts on each).
    pub activities: u64,
    /// When the most recent activity happened.
    pub last_activity_at: Option<DateTime<Utc>>,
}

/// A contact holding a role at an account of the hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactLine {
    /// The contact.
    pub contact: ContactId,
    /// Their role.
    pub role: ContactRole,
    /// The account.
    pub account: AccountId,
}

/// An open deal of the hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealLine {
    /// The opportunity.
    pub deal: OpportunityId,
    /// Its account.
    pub account: AccountId,
    /// Its amount now.
    pub amount: Money,
}

/// An open ticket of the hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketLine {
    /// The ticket.
    pub ticket: TicketId,
    /// Its account.
    pub account: AccountId,
    /// Its state and SLA state.
    #[serde(flatten)]
    pub state: OpenTicket,
}

/// A recent activity of the hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityLine {
    /// The activity.
    pub activity: ActivityId,
    /// Call, email, meeting or note.
    pub kind: ActivityKind,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The account it counts on (the highest in the hierarchy when several).
    pub account: AccountId,
}

/// The account 360.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account360 {
    /// The account.
    pub account: AccountBrief,
    /// Its web domains.
    pub domains: Vec<CompanyDomain>,
    /// Its industry.
    pub industry: Option<String>,
    /// Its number of employees.
    pub employees: Option<u32>,
    /// Its addresses.
    pub addresses: Vec<AccountAddress>,
    /// Its parent, the parent's parent, and so on to the top.
    pub ancestors: Vec<AccountBrief>,
    /// Every account below it, depth first, children in id order.
    pub descendants: Vec<AccountBrief>,
    /// The account's own figures.
    pub own: Figures,
    /// The figures of the account and everything below it.
    pub rollup: Figures,
    /// The contacts of the whole hierarchy below (a person at two accounts listed at each).
    pub contacts: Vec<ContactLine>,
    /// The open deals of the whole hierarchy below.
    pub open_deals: Vec<DealLine>,
    /// The open tickets of the whole hierarchy below.
    pub open_tickets: Vec<TicketLine>,
    /// The most recent activities of the whole hierarchy below, newest first.
    pub recent_activities: Vec<ActivityLine>,
    /// Contacts identity resolution suggested for this account, waiting for review.
    pub suggested_contacts: Vec<super::SuggestedContact>,
}

fn record<'f>(found: &'f Found<'_, AccountDoc>, id: AccountId) -> Option<&'f AccountRecord> {
    found.get(&account_key(id)).and_then(AccountDoc::as_account)
}

fn members<'f>(found: &'f Found<'_, AccountDoc>, id: AccountId) -> Option<&'f Members> {
    found.get(&members_key(id)).and_then(AccountDoc::as_members)
}

impl Account360Query {
    /// The account and its descendants in depth-first order with their depth, as far as they
    /// are found; cycles (which a corrupt history could hold) are cut.
    fn walk<'a>(
        &self,
        found: &'a Found<AccountDoc>,
        missing: &mut Vec<DocKey>,
    ) -> Vec<(usize, &'a AccountRecord)> {
        let mut walked = Vec::new();
        let mut seen = BTreeSet::new();
        let mut stack = vec![(0, self.account)];
        while let Some((depth, id)) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            if !found.contains(&account_key(id)) {
                missing.extend([account_key(id), members_key(id)]);
                continue;
            }
            let Some(record) = record(found, id) else {
                continue;
            };
            walked.push((depth, record));
            stack.extend(
                record
                    .children
                    .iter()
                    .rev()
                    .map(|child| (depth + 1, *child)),
            );
        }
        walked
    }

    fn ancestors<'a>(
        &self,
        found: &'a Found<AccountDoc>,
        missing: &mut Vec<DocKey>,
    ) -> Vec<&'a AccountRecord> {
        let mut ancestors = Vec::new();
        let mut seen = BTreeSet::from([self.account]);
        let mut next = record(found, self.account).and_then(|record| record.parent);
        while let Some(parent) = next {
            if !seen.insert(parent) {
                break;
            }
            if !found.contains(&account_key(parent)) {
                missing.push(account_key(parent));
                break;
            }
            let Some(record) = record(found, parent) else {
                break;
            };
            ancestors.push(record);
            next = record.parent;
        }
        ancestors
    }
}

impl Lookup<AccountDoc> for Account360Query {
    type Answer = Option<Account360>;

    fn keys(&self, found: &Found<AccountDoc>, keys: &mut Vec<DocKey>) {
        self.walk(found, keys);
        self.ancestors(found, keys);
    }

    fn answer(&self, found: &Found<AccountDoc>) -> Option<Account360> {
        let mut ignored = Vec::new();
        let walked = self.walk(found, &mut ignored);
        let (_, top) = walked.first()?;
        top.status?;
        let ancestors = self
            .ancestors(found, &mut ignored)
            .into_iter()
            .enumerate()
            .map(|(above, record)| brief(record, above + 1))
            .collect();
        let mut rollup = Tally::default();
        let mut contacts = Vec::new();
        let mut open_deals = Vec::new();
        let mut open_tickets = Vec::new();
        let mut recent: BTreeMap<ActivityId, ActivityLine> = BTreeMap::new();
        for (_, record) in &walked {
            let members = members(found, record.id);
            rollup.add(record, members);
            if let Some(members) = members {
                contacts.extend(members.contacts.iter().map(|(contact, role)| ContactLine {
                    contact: *contact,
                    role: *role,
                    account: record.id,
                }));
            }
            open_deals.extend(record.open_deals.iter().map(|(deal, amount)| DealLine {
                deal: *deal,
                account: record.id,
                amount: *amount,
            }));
            open_tickets.extend(
                record
                    .open_tickets
                    .iter()
                    .map(|(ticket, state)| TicketLine {
                        ticket: *ticket,
                        account: record.id,
                        state: state.clone(),
                    }),
            );
            for activity in &record.recent {
                recent.entry(activity.activity).or_insert(ActivityLine {
                    activity: activity.activity,
                    kind: activity.kind,
                    occurred_at: activity.occurred_at,
                    account: record.id,
                });
            }
        }
        let mut recent_activities: Vec<ActivityLine> = recent.into_values().collect();
        recent_activities.sort_by(|a, b| {
            b.occurred_at
                .cmp(&a.occurred_at)
                .then_with(|| a.activity.0.cmp(&b.activity.0))
        });
        recent_activities.truncate(super::RECENT_ACTIVITIES);
        let mut own = Tally::default();
        own.add(top, members(found, top.id));
        Some(Account360 {
            account: brief(top, 0),
            domains: top.domains.clone(),
            industry: top.industry.clone(),
            employees: top.employees,
            addresses: top.addresses.clone(),
            suggested_contacts: top.suggested.clone(),
            ancestors,
            descendants: walked
                .iter()
                .skip(1)
                .map(|(depth, record)| brief(record, *depth))
                .collect(),
            own: own.figures(),
            rollup: rollup.figures(),
            contacts,
            open_deals,
            open_tickets,
            recent_activities,
        })
    }
}

fn brief(record: &AccountRecord, depth: usize) -> AccountBrief {
    AccountBrief {
        id: record.id,
        name: record.name.as_ref().map(|name| name.raw().to_owned()),
        status: record.status,
        owner: record.owner,
        parent: record.parent,
        depth,
    }
}

/// Figures being summed.
#[derive(Default)]
struct Tally {
    figures: Figures,
    contacts: BTreeSet<ContactId>,
    pipeline: CurrencySums,
    revenue: CurrencySums,
}

impl Tally {
    fn add(&mut self, record: &AccountRecord, members: Option<&Members>) {
        let figures = &mut self.figures;
        figures.accounts += 1;
        if let Some(members) = members {
            self.contacts.extend(members.contacts.keys().copied());
        }
        figures.open_deals += record.open_deals.len();
        for amount in record.open_deals.values() {
            self.pipeline.add(*amount);
        }
        figures.won_deals += record.won_deals;
        for amount in &record.won {
            self.revenue.add(*amount);
        }
        for currency in &record.won_overflowed {
            self.revenue.overflow(*currency);
        }
        figures.lost_deals += record.lost_deals;
        figures.open_tickets += record.open_tickets.len();
        for ticket in record.open_tickets.values() {
            if ticket.first_response_at.is_none() {
                figures.awaiting_first_response += 1;
            }
            if ticket.escalation_level.is_some() {
                figures.escalated_tickets += 1;
            }
            if ticket.escalation_level.is_some_and(|level| level >= 2) {
                figures.breached_tickets += 1;
            }
        }
        figures.resolved_tickets += record.resolved_tickets;
        figures.activities += record.activities;
        figures.last_activity_at = figures.last_activity_at.max(record.last_activity_at());
    }

    fn figures(self) -> Figures {
        let mut figures = self.figures;
        figures.contacts = self.contacts.len();
        let (open_pipeline, pipeline_overflowed) = self.pipeline.into_parts();
        let (won_revenue, revenue_overflowed) = self.revenue.into_parts();
        let overflowed: BTreeSet<Currency> = pipeline_overflowed
            .into_iter()
            .chain(revenue_overflowed)
            .collect();
        figures.open_pipeline = open_pipeline;
        figures.won_revenue = won_revenue;
        figures.overflowed = overflowed.into_iter().collect();
        figures
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account360::newer_first;

    #[test]
    fn newest_first_breaks_ties_by_id() {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let a = super::super::RecentActivity {
            activity: ActivityId(uuid::Uuid::from_u128(1)),
            kind: ActivityKind::Call,
            occurred_at: at,
        };
        let b = super::super::RecentActivity {
            activity: ActivityId(uuid::Uuid::from_u128(2)),
            ..a
        };
        assert_eq!(newer_first(&a, &b), std::cmp::Ordering::Less);
    }
}
