//! Account 360: a company with its contacts, pipeline, revenue, tickets and activity, rolled
//! up over its whole hierarchy.
//!
//! # Documents
//! Small documents, each rewritten only by the events that change it:
//! - `account:<id>` ([`AccountRecord`]): the account's profile, its parent and children, and
//!   its own figures: open deals with their amounts, won revenue per currency, open tickets
//!   with their SLA state, activity count and the most recent activities. An activity or a
//!   deal's stage change rewrites this document, never the contact list.
//! - `members:<id>` ([`Members`]): the contacts holding a role at the account. Written only
//!   when a contact joins, changes role or leaves, so an account with thousands of contacts
//!   does not rewrite them on every call logged.
//! - Links, which find the accounts an event concerns from the event's own stream:
//!   `contact:<id>` ([`ContactLink`], the accounts where the contact holds a role now),
//!   `deal:<id>` ([`DealLink`], the account an opportunity names), `ticket:<id>`
//!   ([`TicketLink`]) and `activity:<id>` ([`ActivityLink`], the accounts an activity was
//!   counted on, so an amendment or a cancellation undoes exactly that).
//! - Indexes for finding a person's account ([`AccountCandidates`]): `domain:<id>` and
//!   `block:<id>` ([`AccountIndex`]), the accounts listing a web domain and the accounts whose
//!   name starts with a word; the ids are name-based UUIDs of the normalized domain or word, so
//!   no text is stored in a key.
//!
//! - The review queue ([`AccountReviewQueue`]): an account's record lists the contacts identity
//!   resolution suggested for it (`AccountContactSuggested`) until a person confirms one (it
//!   joins) or dismisses it, and is indexed by its oldest suggestion's time.
//!
//! # Rolled up when read
//! The hierarchy is kept as parent and children on the account documents (the tenant's
//! `AccountParentChanged` events). [`Account360Query`] walks the children, one round per
//! level, and sums the figures of every account below; nothing is copied up. So the view is
//! current the moment an account moves to another parent: its whole subtree's figures move
//! with it, and the old parent's roll-up drops them.
//!
//! # What counts where
//! - An opportunity or a ticket counts on the account it names when opened (deals and
//!   tickets that name none count nowhere here).
//! - An activity counts once on each account it is about: the accounts it names, the
//!   accounts where a contact it names holds a role at the time it is logged, and the
//!   accounts of the deals and tickets it names. Leads belong to no account yet. A contact
//!   joining an account later does not carry their earlier activities with them; an
//!   amendment of the records re-resolves them, and a cancellation takes the activity off.
//! - A ticket's SLA state is what its own history says: awaiting a first response or not,
//!   and the highest escalation level reached (the SLA scheduler escalates at risk to level 1
//!   and breached to level 2).
//!
//! Nothing here is personal data: contacts are ids with roles; deal names, ticket subjects
//! and activity texts are not kept. An erasure therefore changes nothing in this model.

mod candidates;
mod review;
mod view;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use crm_domain::account::matching::{AccountAssessment, name_block};
use crm_domain::account::{
    AccountAddress, AccountEvent, AccountHierarchyEvent, AccountStatus, ContactRole,
};
use crm_domain::activity::{ActivityChange, ActivityEvent, ActivityKind};
use crm_domain::identity::{CompanyDomain, CompanyName};
use crm_domain::opportunity::OpportunityEvent;
use crm_domain::ticket::{TicketEvent, TicketStatus};
use crm_domain::{
    AccountId, ActivityId, CompanyId, ContactId, Currency, Money, OpportunityId, Priority,
    RecordRef, TicketId, UserId,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use candidates::{AccountCandidate, AccountCandidates};
pub use review::{AccountReview, AccountReviewCursor, AccountReviewQueue};
pub use view::{
    Account360, Account360Query, AccountBrief, ActivityLine, ContactLine, DealLine, Figures,
    TicketLine,
};

use crate::event::{CrmEvent, ProjectedEvent};
use crate::model::{ColumnType, DocKey, DocSet, IndexValue, Indexed, IndexedColumn, ReadModel};

/// Document kind of an account's own record.
pub const ACCOUNT: &str = "account";
/// Document kind of an account's contacts.
pub const MEMBERS: &str = "members";
/// Document kind of a contact's link to its accounts.
pub const CONTACT: &str = "contact";
/// Document kind of an opportunity's link to its account.
pub const DEAL: &str = "deal";
/// Document kind of a ticket's link to its account.
pub const TICKET: &str = "ticket";
/// Document kind of an activity's link to the accounts it counts on.
pub const ACTIVITY: &str = "activity";
/// Document kind of the accounts listing a web domain.
pub const DOMAIN: &str = "domain";
/// Document kind of the accounts whose name starts with a word.
pub const BLOCK: &str = "block";

/// The namespace of the index documents' name-based ids.
const INDEX_NAMESPACE: Uuid = Uuid::from_u128(0x3f0a_6b1e_52c4_4d8f_a7e2_90b3_c4d5_e6f7);

fn domain_key(normalized: &str) -> DocKey {
    DocKey::new(
        DOMAIN,
        Uuid::new_v5(&INDEX_NAMESPACE, format!("domain:{normalized}").as_bytes()),
    )
}

fn block_key(word: &str) -> DocKey {
    DocKey::new(
        BLOCK,
        Uuid::new_v5(&INDEX_NAMESPACE, format!("block:{word}").as_bytes()),
    )
}

fn name_key(name: &CompanyName) -> Option<DocKey> {
    name_block(name).map(block_key)
}

/// How many of its most recent activities an account record keeps (the roll-up shows the
/// most recent of the whole hierarchy from these).
pub const RECENT_ACTIVITIES: usize = 25;

fn account_key(id: AccountId) -> DocKey {
    DocKey::new(ACCOUNT, id.0)
}

fn members_key(id: AccountId) -> DocKey {
    DocKey::new(MEMBERS, id.0)
}

fn contact_key(id: ContactId) -> DocKey {
    DocKey::new(CONTACT, id.0)
}

fn deal_key(id: OpportunityId) -> DocKey {
    DocKey::new(DEAL, id.0)
}

fn ticket_key(id: TicketId) -> DocKey {
    DocKey::new(TICKET, id.0)
}

fn activity_key(id: ActivityId) -> DocKey {
    DocKey::new(ACTIVITY, id.0)
}

/// An open ticket as the account sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenTicket {
    /// Its status (never solved or closed while it is listed).
    pub status: TicketStatus,
    /// Its priority now.
    pub priority: Priority,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// When the support side first answered; `None` while the customer waits for it.
    pub first_response_at: Option<DateTime<Utc>>,
    /// The highest escalation level reached (1 at risk, 2 breached, by the SLA scheduler).
    pub escalation_level: Option<u8>,
}

/// One of an account's most recent activities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentActivity {
    /// The activity.
    pub activity: ActivityId,
    /// Call, email, meeting or note.
    pub kind: ActivityKind,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
}

/// An account's own record: profile, place in the hierarchy, own figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    /// The account.
    pub id: AccountId,
    /// The company's name; `None` until the account is opened (a hierarchy event may name
    /// it first).
    pub name: Option<CompanyName>,
    /// Its web domains.
    pub domains: Vec<CompanyDomain>,
    /// Its industry.
    pub industry: Option<String>,
    /// Its number of employees.
    pub employees: Option<u32>,
    /// Its addresses, one per kind.
    pub addresses: Vec<AccountAddress>,
    /// Its owner.
    pub owner: Option<UserId>,
    /// Where it stands; `None` until opened.
    pub status: Option<AccountStatus>,
    /// Its parent account.
    pub parent: Option<AccountId>,
    /// Its child accounts.
    pub children: BTreeSet<AccountId>,
    /// Its open deals and their amounts now.
    pub open_deals: BTreeMap<OpportunityId, Money>,
    /// Won revenue, one sum per currency, in currency order.
    pub won: Vec<Money>,
    /// Currencies whose won sum no longer fits in 64-bit minor units.
    pub won_overflowed: Vec<Currency>,
    /// Deals won.
    pub won_deals: u64,
    /// Deals lost.
    pub lost_deals: u64,
    /// Its open tickets.
    pub open_tickets: BTreeMap<TicketId, OpenTicket>,
    /// Tickets solved or closed.
    pub resolved_tickets: u64,
    /// Activities counted on it (cancelled ones taken off).
    pub activities: u64,
    /// Its most recent activities, newest first, at most [`RECENT_ACTIVITIES`].
    pub recent: Vec<RecentActivity>,
    /// Contacts identity resolution suggested, waiting for a person to confirm or dismiss,
    /// in contact order.
    #[serde(default)]
    pub suggested: Vec<SuggestedContact>,
}

/// A contact who may work for an account, waiting for review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuggestedContact {
    /// The contact.
    pub contact: ContactId,
    /// How their company evidence fits the account (agreement levels and the score).
    pub assessment: AccountAssessment,
    /// When it was suggested.
    pub since: DateTime<Utc>,
}

impl AccountRecord {
    /// An empty record for `id`.
    pub fn new(id: AccountId) -> Self {
        Self {
            id,
            name: None,
            domains: Vec::new(),
            industry: None,
            employees: None,
            addresses: Vec::new(),
            owner: None,
            status: None,
            parent: None,
            children: BTreeSet::new(),
            open_deals: BTreeMap::new(),
            won: Vec::new(),
            won_overflowed: Vec::new(),
            won_deals: 0,
            lost_deals: 0,
            open_tickets: BTreeMap::new(),
            resolved_tickets: 0,
            activities: 0,
            recent: Vec::new(),
            suggested: Vec::new(),
        }
    }

    /// When the oldest suggestion still waiting was made.
    pub fn review_since(&self) -> Option<DateTime<Utc>> {
        self.suggested
            .iter()
            .map(|suggestion| suggestion.since)
            .min()
    }

    /// When the most recent activity counted on it happened.
    pub fn last_activity_at(&self) -> Option<DateTime<Utc>> {
        self.recent.first().map(|recent| recent.occurred_at)
    }

    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Opened { name, owner, .. } => {
                self.name = Some(name.clone());
                self.owner = Some(*owner);
                self.status = Some(AccountStatus::Active);
            }
            AccountEvent::Renamed { name, .. } => self.name = Some(name.clone()),
            AccountEvent::DomainAdded { domain, .. } => {
                if !self.domains.contains(domain) {
                    self.domains.push(domain.clone());
                }
            }
            AccountEvent::DomainRemoved { domain, .. } => {
                self.domains.retain(|listed| listed != domain);
            }
            AccountEvent::IndustryChanged { industry, .. } => self.industry.clone_from(industry),
            AccountEvent::SizeChanged { employees, .. } => self.employees = *employees,
            AccountEvent::AddressSet { address, .. } => {
                self.addresses.retain(|kept| kept.kind != address.kind);
                self.addresses.push(address.clone());
            }
            AccountEvent::AddressCleared { kind, .. } => {
                self.addresses.retain(|kept| kept.kind != *kind);
            }
            AccountEvent::OwnerChanged { owner, .. } => self.owner = Some(*owner),
            AccountEvent::Closed { .. } => self.status = Some(AccountStatus::Closed),
            AccountEvent::Reopened { .. } => self.status = Some(AccountStatus::Active),
            AccountEvent::Archived { .. } => self.status = Some(AccountStatus::Archived),
            AccountEvent::ContactSuggested {
                contact,
                assessment,
                at,
                ..
            } => {
                self.suggested.retain(|kept| kept.contact != *contact);
                self.suggested.push(SuggestedContact {
                    contact: *contact,
                    assessment: *assessment,
                    since: *at,
                });
                self.suggested.sort_by_key(|kept| kept.contact);
            }
            AccountEvent::SuggestionDismissed { contact, .. }
            | AccountEvent::ContactAdded { contact, .. } => {
                // Memberships live in the members document; a confirmed suggestion is done.
                self.suggested.retain(|kept| kept.contact != *contact);
            }
            AccountEvent::ContactRoleChanged { .. }
            | AccountEvent::ContactRoleEnded { .. }
            | AccountEvent::CustomFieldsSet(_) => {}
        }
    }

    fn add_won(&mut self, amount: Money) {
        self.won_deals += 1;
        let currency = amount.currency;
        if self.won_overflowed.contains(&currency) {
            return;
        }
        let Some(sum) = self.won.iter_mut().find(|sum| sum.currency == currency) else {
            self.won.push(amount);
            self.won.sort_by_key(|sum| sum.currency);
            return;
        };
        if let Ok(total) = sum.checked_add(amount) {
            *sum = total;
        } else {
            self.won.retain(|sum| sum.currency != currency);
            self.won_overflowed.push(currency);
            self.won_overflowed.sort();
        }
    }

    fn count_activity(&mut self, recent: RecentActivity) {
        self.activities += 1;
        self.place_recent(recent);
    }

    fn uncount_activity(&mut self, activity: ActivityId) {
        self.activities = self.activities.saturating_sub(1);
        self.recent.retain(|kept| kept.activity != activity);
    }

    fn place_recent(&mut self, recent: RecentActivity) {
        self.recent.retain(|kept| kept.activity != recent.activity);
        let at = self
            .recent
            .partition_point(|kept| newer_first(kept, &recent) == std::cmp::Ordering::Less);
        self.recent.insert(at, recent);
        self.recent.truncate(RECENT_ACTIVITIES);
    }

    fn move_recent(&mut self, activity: ActivityId, occurred_at: DateTime<Utc>) {
        if let Some(kept) = self
            .recent
            .iter()
            .find(|kept| kept.activity == activity)
            .copied()
        {
            self.place_recent(RecentActivity {
                occurred_at,
                ..kept
            });
        }
    }
}

/// Newest first; ties by id, so the order is total and the same on every backend.
fn newer_first(a: &RecentActivity, b: &RecentActivity) -> std::cmp::Ordering {
    b.occurred_at
        .cmp(&a.occurred_at)
        .then_with(|| a.activity.0.cmp(&b.activity.0))
}

/// The contacts holding a role at an account.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Members {
    /// Each contact and their role.
    pub contacts: BTreeMap<ContactId, ContactRole>,
}

/// The accounts where a contact holds a role now.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContactLink {
    /// The accounts.
    pub accounts: BTreeSet<AccountId>,
}

/// The account an opportunity names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealLink {
    /// The account, if the deal names one.
    pub account: Option<AccountId>,
    /// Whether the deal is still open (a late event after a close counts nothing).
    pub open: bool,
}

/// The account a ticket names, and the ticket's state as the account sees it (kept while it
/// is resolved too, so a reopening restores it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketLink {
    /// The account, if the ticket names one.
    pub account: Option<AccountId>,
    /// The ticket's state.
    pub state: OpenTicket,
}

/// The accounts an activity counts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityLink {
    /// Call, email, meeting or note.
    pub kind: ActivityKind,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The accounts it is counted on.
    pub accounts: BTreeSet<AccountId>,
    /// Whether it was cancelled (and taken off every account).
    pub cancelled: bool,
}

/// The accounts an index document lists.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AccountIndex {
    /// The accounts.
    pub accounts: BTreeSet<AccountId>,
}

/// A document of the account 360, stored as `{"doc": "account" | "members" | …, …}` (not
/// `kind`: an activity link has a `kind` of its own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "doc", rename_all = "snake_case")]
#[expect(
    clippy::large_enum_variant,
    reason = "documents move in and out of a DocSet by value; a box per account record would \
              add an allocation on the fold's hot path"
)]
pub enum AccountDoc {
    /// An account's own record.
    Account(AccountRecord),
    /// An account's contacts.
    Members(Members),
    /// A contact's accounts.
    Contact(ContactLink),
    /// An opportunity's account.
    Deal(DealLink),
    /// A ticket's account.
    Ticket(TicketLink),
    /// An activity's accounts.
    Activity(ActivityLink),
    /// The accounts listing a domain, or whose name starts with a word.
    Index(AccountIndex),
}

impl AccountDoc {
    /// The account record, if this is one.
    pub fn as_account(&self) -> Option<&AccountRecord> {
        match self {
            AccountDoc::Account(record) => Some(record),
            _ => None,
        }
    }

    /// The members, if this is an account's contact list.
    pub fn as_members(&self) -> Option<&Members> {
        match self {
            AccountDoc::Members(members) => Some(members),
            _ => None,
        }
    }

    /// The account a deal, ticket or contact link leads to (all of a contact's).
    fn linked_accounts(&self, into: &mut BTreeSet<AccountId>) {
        match self {
            AccountDoc::Contact(link) => into.extend(link.accounts.iter().copied()),
            AccountDoc::Deal(DealLink {
                account: Some(account),
                ..
            })
            | AccountDoc::Ticket(TicketLink {
                account: Some(account),
                ..
            }) => {
                into.insert(*account);
            }
            AccountDoc::Activity(link) => into.extend(link.accounts.iter().copied()),
            AccountDoc::Account(_)
            | AccountDoc::Members(_)
            | AccountDoc::Deal(_)
            | AccountDoc::Ticket(_)
            | AccountDoc::Index(_) => {}
        }
    }
}

/// The account 360 read model. See the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Account360Model;

impl ReadModel for Account360Model {
    const NAME: &'static str = "account_360";
    const VERSION: u32 = 3;
    const KINDS: &'static [&'static str] = &[
        ACCOUNT, MEMBERS, CONTACT, DEAL, TICKET, ACTIVITY, DOMAIN, BLOCK,
    ];
    const COLUMNS: &'static [IndexedColumn] = &[
        IndexedColumn::new("parent", ColumnType::Uuid),
        IndexedColumn::new("owner", ColumnType::Uuid),
        IndexedColumn::new("last_activity", ColumnType::Time),
        IndexedColumn::new("review_since", ColumnType::Time),
    ];
    type Doc = AccountDoc;

    fn keys(&self, event: &ProjectedEvent, keys: &mut Vec<DocKey>) {
        let id = event.stream.id;
        match &event.event {
            CrmEvent::Account(account) => {
                keys.push(account_key(CompanyId(id)));
                match account {
                    AccountEvent::ContactAdded { contact, .. }
                    | AccountEvent::ContactRoleEnded { contact, .. } => {
                        keys.extend([members_key(CompanyId(id)), contact_key(*contact)]);
                    }
                    AccountEvent::ContactRoleChanged { .. } => {
                        keys.push(members_key(CompanyId(id)));
                    }
                    AccountEvent::Opened { name, .. } | AccountEvent::Renamed { name, .. } => {
                        keys.extend(name_key(name));
                    }
                    AccountEvent::DomainAdded { domain, .. }
                    | AccountEvent::DomainRemoved { domain, .. } => {
                        keys.push(domain_key(domain.normalized()));
                    }
                    _ => {}
                }
            }
            CrmEvent::AccountHierarchy(AccountHierarchyEvent::ParentChanged {
                account,
                parent,
                ..
            }) => {
                keys.push(account_key(*account));
                keys.extend(parent.map(account_key));
            }
            CrmEvent::Opportunity(opportunity) => {
                keys.push(deal_key(OpportunityId(id)));
                if let OpportunityEvent::Opened {
                    company: Some(account),
                    ..
                } = opportunity
                {
                    keys.push(account_key(*account));
                }
            }
            CrmEvent::Ticket(ticket) => {
                keys.push(ticket_key(TicketId(id)));
                if let TicketEvent::Opened {
                    account: Some(account),
                    ..
                } = ticket
                {
                    keys.push(account_key(*account));
                }
            }
            CrmEvent::Activity(activity) => {
                keys.push(activity_key(ActivityId(id)));
                let records = match activity {
                    ActivityEvent::Logged { records, .. }
                    | ActivityEvent::Amended {
                        change: ActivityChange::Records(records),
                        ..
                    } => records.as_slice(),
                    ActivityEvent::Amended { .. }
                    | ActivityEvent::Cancelled { .. }
                    | ActivityEvent::CustomFieldsSet(_) => &[],
                };
                keys.extend(records.iter().filter_map(record_key));
            }
            CrmEvent::Lead(_)
            | CrmEvent::Contact(_)
            | CrmEvent::Forecast(_)
            | CrmEvent::Task(_) => {}
        }
    }

    fn linked_keys(
        &self,
        event: &ProjectedEvent,
        docs: &DocSet<AccountDoc>,
        keys: &mut Vec<DocKey>,
    ) {
        let mut accounts = BTreeSet::new();
        match &event.event {
            // A rename leaves the block of the name it had.
            CrmEvent::Account(AccountEvent::Renamed { .. }) => {
                if let Some(old) = docs
                    .get(&account_key(CompanyId(event.stream.id)))
                    .and_then(AccountDoc::as_account)
                    .and_then(|record| record.name.as_ref())
                    .and_then(name_key)
                {
                    keys.push(old);
                }
            }
            CrmEvent::AccountHierarchy(AccountHierarchyEvent::ParentChanged {
                account, ..
            }) => {
                if let Some(previous) = docs
                    .get(&account_key(*account))
                    .and_then(AccountDoc::as_account)
                    .and_then(|record| record.parent)
                {
                    accounts.insert(previous);
                }
            }
            CrmEvent::Opportunity(_) | CrmEvent::Ticket(_) | CrmEvent::Activity(_) => {
                for (key, doc) in docs.iter() {
                    if key.kind != ACCOUNT && key.kind != MEMBERS {
                        doc.linked_accounts(&mut accounts);
                    }
                }
            }
            _ => {}
        }
        keys.extend(accounts.into_iter().map(account_key));
    }

    fn apply(&self, docs: &mut DocSet<AccountDoc>, event: &ProjectedEvent) {
        let id = event.stream.id;
        match &event.event {
            CrmEvent::Account(account) => apply_account(docs, CompanyId(id), account),
            CrmEvent::AccountHierarchy(AccountHierarchyEvent::ParentChanged {
                account,
                parent,
                ..
            }) => move_account(docs, *account, *parent),
            CrmEvent::Opportunity(opportunity) => {
                apply_deal(docs, OpportunityId(id), opportunity);
            }
            CrmEvent::Ticket(ticket) => apply_ticket(docs, TicketId(id), ticket),
            CrmEvent::Activity(activity) => apply_activity(docs, ActivityId(id), activity),
            CrmEvent::Lead(_)
            | CrmEvent::Contact(_)
            | CrmEvent::Forecast(_)
            | CrmEvent::Task(_) => {}
        }
    }

    fn indexed(_key: &DocKey, doc: &AccountDoc) -> Indexed {
        let mut columns = Vec::new();
        if let AccountDoc::Account(record) = doc {
            if let Some(parent) = record.parent {
                columns.push(("parent", IndexValue::Uuid(parent.0)));
            }
            if let Some(owner) = record.owner {
                columns.push(("owner", IndexValue::Uuid(owner.0)));
            }
            if let Some(last) = record.last_activity_at() {
                columns.push(("last_activity", IndexValue::Time(last)));
            }
            if let Some(since) = record.review_since() {
                columns.push(("review_since", IndexValue::Time(since)));
            }
        }
        columns
    }
}

/// The link document an activity's record leads through (or the account itself).
fn record_key(record: &RecordRef) -> Option<DocKey> {
    match record {
        RecordRef::Account(account) => Some(account_key(*account)),
        RecordRef::Contact(contact) => Some(contact_key(*contact)),
        RecordRef::Opportunity(deal) => Some(deal_key(*deal)),
        RecordRef::Ticket(ticket) => Some(ticket_key(*ticket)),
        RecordRef::Lead(_) => None,
    }
}

fn record_mut(docs: &mut DocSet<AccountDoc>, id: AccountId) -> Option<&mut AccountRecord> {
    match docs.get_or_insert_with(&account_key(id), || {
        AccountDoc::Account(AccountRecord::new(id))
    })? {
        AccountDoc::Account(record) => Some(record),
        _ => None,
    }
}

fn apply_account(docs: &mut DocSet<AccountDoc>, id: AccountId, event: &AccountEvent) {
    let old_name = docs
        .get(&account_key(id))
        .and_then(AccountDoc::as_account)
        .and_then(|record| record.name.clone());
    if let Some(record) = record_mut(docs, id) {
        record.apply(event);
    }
    match event {
        AccountEvent::Opened { name, .. } | AccountEvent::Renamed { name, .. } => {
            if let Some(old) = old_name.as_ref().and_then(name_key)
                && Some(old) != name_key(name)
                && let Some(AccountDoc::Index(index)) = docs.get_mut(&old)
            {
                index.accounts.remove(&id);
            }
            if let Some(key) = name_key(name) {
                index_mut(docs, &key, |index| {
                    index.accounts.insert(id);
                });
            }
        }
        AccountEvent::DomainAdded { domain, .. } => {
            index_mut(docs, &domain_key(domain.normalized()), |index| {
                index.accounts.insert(id);
            });
        }
        AccountEvent::DomainRemoved { domain, .. } => {
            index_mut(docs, &domain_key(domain.normalized()), |index| {
                index.accounts.remove(&id);
            });
        }
        AccountEvent::ContactAdded { contact, role, .. }
        | AccountEvent::ContactRoleChanged { contact, role, .. } => {
            if let Some(AccountDoc::Members(members)) = docs
                .get_or_insert_with(&members_key(id), || AccountDoc::Members(Members::default()))
            {
                members.contacts.insert(*contact, *role);
            }
            if let Some(AccountDoc::Contact(link)) = docs
                .get_or_insert_with(&contact_key(*contact), || {
                    AccountDoc::Contact(ContactLink::default())
                })
            {
                link.accounts.insert(id);
            }
        }
        AccountEvent::ContactRoleEnded { contact, .. } => {
            if let Some(AccountDoc::Members(members)) = docs.get_mut(&members_key(id)) {
                members.contacts.remove(contact);
            }
            if let Some(AccountDoc::Contact(link)) = docs.get_mut(&contact_key(*contact)) {
                link.accounts.remove(&id);
            }
        }
        _ => {}
    }
}

/// Changes the index document at `key` (created empty when absent).
fn index_mut(docs: &mut DocSet<AccountDoc>, key: &DocKey, change: impl FnOnce(&mut AccountIndex)) {
    if let Some(AccountDoc::Index(index)) =
        docs.get_or_insert_with(key, || AccountDoc::Index(AccountIndex::default()))
    {
        change(index);
    }
}

fn move_account(docs: &mut DocSet<AccountDoc>, account: AccountId, parent: Option<AccountId>) {
    let Some(record) = record_mut(docs, account) else {
        return;
    };
    let previous = std::mem::replace(&mut record.parent, parent);
    if let Some(previous) = previous.filter(|previous| Some(*previous) != parent)
        && let Some(AccountDoc::Account(old)) = docs.get_mut(&account_key(previous))
    {
        old.children.remove(&account);
    }
    if let Some(parent) = parent
        && let Some(new) = record_mut(docs, parent)
    {
        new.children.insert(account);
    }
}

fn apply_deal(docs: &mut DocSet<AccountDoc>, deal: OpportunityId, event: &OpportunityEvent) {
    let key = deal_key(deal);
    if let OpportunityEvent::Opened {
        company, amount, ..
    } = event
    {
        if docs.get(&key).is_some() {
            return;
        }
        let _ = docs.insert(
            &key,
            AccountDoc::Deal(DealLink {
                account: *company,
                open: true,
            }),
        );
        if let Some(account) = company
            && let Some(record) = record_mut(docs, *account)
        {
            record.open_deals.insert(deal, *amount);
        }
        return;
    }
    let Some(AccountDoc::Deal(link)) = docs.get_mut(&key) else {
        return;
    };
    let account = link.account;
    let was_open = link.open;
    if matches!(
        event,
        OpportunityEvent::Won { .. } | OpportunityEvent::Lost { .. }
    ) {
        link.open = false;
    }
    let Some(account) = account else {
        return;
    };
    let Some(AccountDoc::Account(record)) = docs.get_mut(&account_key(account)) else {
        return;
    };
    match event {
        OpportunityEvent::AmountChanged { amount, .. } => {
            if let Some(open) = record.open_deals.get_mut(&deal) {
                *open = *amount;
            }
        }
        OpportunityEvent::Won { .. } if was_open => {
            if let Some(amount) = record.open_deals.remove(&deal) {
                record.add_won(amount);
            }
        }
        OpportunityEvent::Lost { .. } if was_open => {
            record.open_deals.remove(&deal);
            record.lost_deals += 1;
        }
        _ => {}
    }
}

fn apply_ticket(docs: &mut DocSet<AccountDoc>, ticket: TicketId, event: &TicketEvent) {
    let key = ticket_key(ticket);
    if let TicketEvent::Opened {
        account,
        priority,
        at,
        ..
    } = event
    {
        if docs.get(&key).is_none() {
            let link = TicketLink {
                account: *account,
                state: OpenTicket {
                    status: TicketStatus::New,
                    priority: *priority,
                    opened_at: *at,
                    first_response_at: None,
                    escalation_level: None,
                },
            };
            sync_ticket(docs, ticket, &link);
            let _ = docs.insert(&key, AccountDoc::Ticket(link));
        }
        return;
    }
    let Some(AccountDoc::Ticket(link)) = docs.get_mut(&key) else {
        return;
    };
    let state = &mut link.state;
    match event {
        TicketEvent::CustomFieldsSet(_) => {}
        TicketEvent::StatusChanged { status, .. } => state.status = *status,
        TicketEvent::Reopened { .. } => state.status = TicketStatus::Open,
        TicketEvent::PriorityChanged { priority, .. } => state.priority = *priority,
        TicketEvent::AgentReplied { at, .. } => {
            state.first_response_at.get_or_insert(*at);
        }
        TicketEvent::Escalated { level, .. } => {
            state.escalation_level = Some(state.escalation_level.unwrap_or(0).max(level.get()));
        }
        TicketEvent::Opened { .. }
        | TicketEvent::Assigned { .. }
        | TicketEvent::CustomerReplied { .. } => return,
    }
    let link = link.clone();
    sync_ticket(docs, ticket, &link);
}

/// Lists the ticket on its account while it is open, counts it resolved once it is not.
fn sync_ticket(docs: &mut DocSet<AccountDoc>, ticket: TicketId, link: &TicketLink) {
    let Some(account) = link.account else {
        return;
    };
    let Some(record) = record_mut(docs, account) else {
        return;
    };
    let resolved = matches!(
        link.state.status,
        TicketStatus::Solved | TicketStatus::Closed
    );
    if resolved {
        if record.open_tickets.remove(&ticket).is_some() {
            record.resolved_tickets += 1;
        }
    } else if record
        .open_tickets
        .insert(ticket, link.state.clone())
        .is_none()
        && link.state.status != TicketStatus::New
    {
        // Back from solved: no longer counted as resolved.
        record.resolved_tickets = record.resolved_tickets.saturating_sub(1);
    }
}

fn apply_activity(docs: &mut DocSet<AccountDoc>, activity: ActivityId, event: &ActivityEvent) {
    let key = activity_key(activity);
    match event {
        ActivityEvent::CustomFieldsSet(_) => {}
        ActivityEvent::Logged {
            kind,
            records,
            occurred_at,
            ..
        } => {
            if docs.get(&key).is_some() {
                return;
            }
            let accounts = resolve(docs, records);
            let recent = RecentActivity {
                activity,
                kind: *kind,
                occurred_at: *occurred_at,
            };
            for account in &accounts {
                if let Some(record) = record_mut(docs, *account) {
                    record.count_activity(recent);
                }
            }
            let _ = docs.insert(
                &key,
                AccountDoc::Activity(ActivityLink {
                    kind: *kind,
                    occurred_at: *occurred_at,
                    accounts,
                    cancelled: false,
                }),
            );
        }
        ActivityEvent::Amended { change, .. } => {
            let Some(AccountDoc::Activity(link)) = docs.get(&key).cloned() else {
                return;
            };
            if link.cancelled {
                return;
            }
            let mut link = link;
            match change {
                ActivityChange::OccurredAt(occurred_at) => {
                    link.occurred_at = *occurred_at;
                    for account in &link.accounts {
                        if let Some(AccountDoc::Account(record)) =
                            docs.get_mut(&account_key(*account))
                        {
                            record.move_recent(activity, *occurred_at);
                        }
                    }
                }
                ActivityChange::Records(records) => {
                    let now = resolve(docs, records);
                    let recent = RecentActivity {
                        activity,
                        kind: link.kind,
                        occurred_at: link.occurred_at,
                    };
                    for gone in link.accounts.difference(&now) {
                        if let Some(AccountDoc::Account(record)) = docs.get_mut(&account_key(*gone))
                        {
                            record.uncount_activity(activity);
                        }
                    }
                    for added in now.difference(&link.accounts) {
                        if let Some(record) = record_mut(docs, *added) {
                            record.count_activity(recent);
                        }
                    }
                    link.accounts = now;
                }
                _ => return,
            }
            let _ = docs.insert(&key, AccountDoc::Activity(link));
        }
        ActivityEvent::Cancelled { .. } => {
            let Some(AccountDoc::Activity(link)) = docs.get_mut(&key) else {
                return;
            };
            if std::mem::replace(&mut link.cancelled, true) {
                return;
            }
            let accounts = std::mem::take(&mut link.accounts);
            for account in accounts {
                if let Some(AccountDoc::Account(record)) = docs.get_mut(&account_key(account)) {
                    record.uncount_activity(activity);
                }
            }
        }
    }
}

/// The accounts the records lead to, through the link documents loaded for them.
fn resolve(docs: &DocSet<AccountDoc>, records: &[RecordRef]) -> BTreeSet<AccountId> {
    let mut accounts = BTreeSet::new();
    for record in records {
        match record {
            RecordRef::Account(account) => {
                accounts.insert(*account);
            }
            RecordRef::Lead(_) => {}
            RecordRef::Contact(_) | RecordRef::Opportunity(_) | RecordRef::Ticket(_) => {
                if let Some(doc) = record_key(record).and_then(|key| docs.get(&key)) {
                    doc.linked_accounts(&mut accounts);
                }
            }
        }
    }
    accounts
}
