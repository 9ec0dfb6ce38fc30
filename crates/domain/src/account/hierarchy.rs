//! The account hierarchy aggregate: every parent link between a tenant's accounts, in one
//! stream (`"account_hierarchy-<id>"`, one per tenant; [`AccountHierarchy::id_for_tenant`]).
//!
//! An account may have a parent account, to any depth, and the links never form a cycle: the
//! accounts form a forest. An aggregate cannot see other streams, and two moves made at the
//! same time ("A under B" and "B under A") are each harmless alone and a cycle together, so
//! the links of a whole tenant live in this one aggregate: the event store's optimistic
//! concurrency on its one stream lets only one of two such moves be recorded, and the second,
//! decided again on the new state, is refused with [`AccountHierarchyError::Cycle`].
//!
//! The hierarchy knows accounts only by id: whether an account exists, is archived or may be
//! moved by the actor is the application's check, made before it issues the command.
//!
//! # Cost
//! The state keeps the parent of each account and the children of each parent in hash maps.
//! The cycle check walks up from the new parent: O(depth). [`AccountHierarchy::ancestors`]
//! and [`AccountHierarchy::depth`] are O(depth), [`AccountHierarchy::descendants`] is linear
//! in the subtree, [`AccountHierarchy::roots`] linear in the accounts. Every walk is a loop,
//! never recursion, and is bounded by the number of links, so even a history `decide` would
//! never have produced cannot make one run forever.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::aggregate::{Aggregate, DomainEvent};
use crate::context::{Actor, Context};
use crate::ids::AccountId;

/// The namespace of hierarchy ids derived from tenant names (a fixed, random UUID).
const TENANT_HIERARCHY_NAMESPACE: Uuid = Uuid::from_u128(0x5c1e_46b0_4d0e_4f5e_9a8e_6b1f_0c3a_7d21);

/// A command to the account hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum AccountHierarchyCommand {
    /// Puts `account` under `parent`, or (with `None`) makes it a top-level account. Its own
    /// children move with it. Refused when `parent` is the account itself or one of its
    /// descendants; asking for the current parent records nothing.
    SetParent {
        /// The account that moves.
        account: AccountId,
        /// Its new parent; `None` for none.
        parent: Option<AccountId>,
    },
}

/// A fact about the account hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum AccountHierarchyEvent {
    /// An account got another parent, or none.
    #[serde(rename = "AccountParentChanged")]
    ParentChanged {
        /// The account that moved (with its descendants).
        account: AccountId,
        /// Its parent from now on; `None` when it became a top-level account.
        parent: Option<AccountId>,
        /// Who moved it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for AccountHierarchyEvent {
    fn event_type(&self) -> &'static str {
        match self {
            AccountHierarchyEvent::ParentChanged { .. } => "AccountParentChanged",
        }
    }
}

/// Why a command to the account hierarchy was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AccountHierarchyError {
    /// The new parent is the account itself or one of its descendants: the move would close
    /// a cycle.
    #[error(
        "putting account {account} under {parent} would make a cycle: {}",
        CyclePath(cycle)
    )]
    Cycle {
        /// The account that was to move.
        account: AccountId,
        /// The parent asked for.
        parent: AccountId,
        /// The cycle the move would close, starting at `account`: each account's parent
        /// would be the next one, and the last one's parent is `account`. `[account]` when
        /// an account was to be its own parent.
        cycle: Vec<AccountId>,
    },
}

/// Shows a cycle as `a → b → c → a`.
struct CyclePath<'a>(&'a [AccountId]);

impl fmt::Display for CyclePath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for account in self.0 {
            write!(f, "{account} → ")?;
        }
        match self.0.first() {
            Some(first) => write!(f, "{first}"),
            None => Ok(()),
        }
    }
}

/// The parent links of a tenant's accounts: a forest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountHierarchy {
    /// Each account that has a parent → its parent.
    parents: HashMap<AccountId, AccountId>,
    /// Each account that has children → its children, in id order.
    children: HashMap<AccountId, BTreeSet<AccountId>>,
    /// Every account ever named as an account or a parent.
    accounts: BTreeSet<AccountId>,
}

impl AccountHierarchy {
    /// The id of the tenant's hierarchy stream (`"account_hierarchy-<id>"`), derived from
    /// the tenant's canonical name: a name-based (v5) UUID, so every writer finds the same
    /// stream without looking it up. (Stream ids are unique per tenant, so any fixed id
    /// would do; this one also differs between tenants.)
    pub fn id_for_tenant(tenant: &str) -> Uuid {
        Uuid::new_v5(&TENANT_HIERARCHY_NAMESPACE, tenant.as_bytes())
    }

    /// The parent of `account`, if it has one.
    pub fn parent_of(&self, account: AccountId) -> Option<AccountId> {
        self.parents.get(&account).copied()
    }

    /// The direct children of `account`, in id order.
    pub fn children_of(&self, account: AccountId) -> impl Iterator<Item = AccountId> + '_ {
        self.children
            .get(&account)
            .into_iter()
            .flat_map(|children| children.iter().copied())
    }

    /// The ancestors of `account`: its parent first, the top-level account last. Empty for a
    /// top-level account (or one the hierarchy never named).
    pub fn ancestors(&self, account: AccountId) -> Vec<AccountId> {
        let mut ancestors = Vec::new();
        let mut current = account;
        // A forest's longest path has fewer links than there are; the bound only matters
        // for histories `decide` never produces.
        while ancestors.len() < self.parents.len() {
            let Some(parent) = self.parent_of(current) else {
                break;
            };
            ancestors.push(parent);
            current = parent;
        }
        ancestors
    }

    /// The descendants of `account` (children, their children, …), level by level, each
    /// level in id order; not the account itself.
    pub fn descendants(&self, account: AccountId) -> Vec<AccountId> {
        let mut descendants = Vec::new();
        let mut seen = HashSet::from([account]);
        let mut pending = VecDeque::from([account]);
        while let Some(next) = pending.pop_front() {
            for child in self.children_of(next) {
                if seen.insert(child) {
                    descendants.push(child);
                    pending.push_back(child);
                }
            }
        }
        descendants
    }

    /// The top-level accounts the hierarchy names (those without a parent), in id order.
    /// An account it never named is a top-level account of its own and not listed.
    pub fn roots(&self) -> Vec<AccountId> {
        self.accounts
            .iter()
            .copied()
            .filter(|account| !self.parents.contains_key(account))
            .collect()
    }

    /// How many ancestors `account` has: 0 for a top-level account.
    pub fn depth(&self, account: AccountId) -> usize {
        self.ancestors(account).len()
    }

    /// The cycle that making `parent` the parent of `account` would close, if any: the path
    /// from `account` down to `parent`'s ancestor chain, as [`AccountHierarchyError::Cycle`]
    /// names it.
    fn cycle_through(&self, account: AccountId, parent: AccountId) -> Option<Vec<AccountId>> {
        if parent == account {
            return Some(vec![account]);
        }
        let mut upwards = vec![parent];
        upwards.extend(self.ancestors(parent));
        let at = upwards.iter().position(|&ancestor| ancestor == account)?;
        upwards.truncate(at);
        Some(std::iter::once(account).chain(upwards).collect())
    }

    fn set_parent(
        &self,
        account: AccountId,
        parent: Option<AccountId>,
        ctx: &Context,
    ) -> Result<Vec<AccountHierarchyEvent>, AccountHierarchyError> {
        if self.parent_of(account) == parent {
            return Ok(vec![]);
        }
        if let Some(parent) = parent
            && let Some(cycle) = self.cycle_through(account, parent)
        {
            return Err(AccountHierarchyError::Cycle {
                account,
                parent,
                cycle,
            });
        }
        Ok(vec![AccountHierarchyEvent::ParentChanged {
            account,
            parent,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn detach(&mut self, account: AccountId) {
        if let Some(old) = self.parents.remove(&account)
            && let Some(siblings) = self.children.get_mut(&old)
        {
            siblings.remove(&account);
            if siblings.is_empty() {
                self.children.remove(&old);
            }
        }
    }
}

impl Aggregate for AccountHierarchy {
    const KIND: &'static str = "account_hierarchy";
    type Command = AccountHierarchyCommand;
    type Event = AccountHierarchyEvent;
    type Error = AccountHierarchyError;

    fn decide(
        &self,
        command: AccountHierarchyCommand,
        ctx: &Context,
    ) -> Result<Vec<AccountHierarchyEvent>, AccountHierarchyError> {
        match command {
            AccountHierarchyCommand::SetParent { account, parent } => {
                self.set_parent(account, parent, ctx)
            }
        }
    }

    fn evolve(mut self, event: &AccountHierarchyEvent) -> Self {
        match event {
            AccountHierarchyEvent::ParentChanged {
                account, parent, ..
            } => {
                self.detach(*account);
                self.accounts.insert(*account);
                if let Some(parent) = parent {
                    self.accounts.insert(*parent);
                    self.parents.insert(*account, *parent);
                    self.children.entry(*parent).or_default().insert(*account);
                }
            }
        }
        self
    }
}

#[cfg(test)]
mod tests;
