//! Reading a Customer 360: resolve the merge group, then combine its documents.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use crm_domain::contact::LifecycleStage;
use crm_domain::opportunity::OpportunityStatus;
use crm_domain::{ContactId, Currency, Money, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::contact::ContactDoc;
use super::records::{LeadDoc, OpportunityDoc, TicketDoc};
use super::timeline::{RecordTimeline, TimelineCursor, TimelineItem, TimelinePage};
use super::{Customer360Model, CustomerDoc, contact_key, push_linked};
use crate::event::AggregateKind;
use crate::model::{DocKey, Found, Lookup};
use crate::storage::{DocumentStore, StorageError};
use crate::sums::CurrencySums;
use crm_eventstore::TenantId;

/// The merge group around a contact: the survivor at the top and every contact it holds.
struct Group<'a> {
    /// The survivor at the top.
    root: ContactId,
    /// The group's contacts found so far, the survivor first.
    members: Vec<(ContactId, &'a ContactDoc)>,
}

/// Resolves the group of `start` from what was found, pushing onto `missing` the keys still
/// to load. Cycles (which a corrupt history could hold) end the climb or the descent.
fn resolve<'a>(
    start: ContactId,
    found: &'a Found<CustomerDoc>,
    missing: &mut Vec<DocKey>,
) -> Group<'a> {
    let contact = |id: ContactId| {
        found
            .get(&contact_key(id))
            .and_then(CustomerDoc::as_contact)
    };
    let mut root = start;
    let mut climbed = BTreeSet::from([start]);
    loop {
        if !found.contains(&contact_key(root)) {
            missing.push(contact_key(root));
            return Group {
                root,
                members: Vec::new(),
            };
        }
        match contact(root).and_then(|doc| doc.merged_into) {
            Some(survivor) if climbed.insert(survivor) => root = survivor,
            _ => break,
        }
    }
    let mut members = Vec::new();
    let mut queue = vec![root];
    let mut seen = BTreeSet::from([root]);
    while let Some(id) = queue.pop() {
        if !found.contains(&contact_key(id)) {
            missing.push(contact_key(id));
            continue;
        }
        let Some(doc) = contact(id) else {
            continue;
        };
        members.push((id, doc));
        for absorbed in doc.absorbed.iter().rev() {
            if seen.insert(*absorbed) {
                queue.push(*absorbed);
            }
        }
    }
    Group { root, members }
}

/// The keys of the group's records not yet found.
fn missing_records(group: &Group<'_>, found: &Found<CustomerDoc>, missing: &mut Vec<DocKey>) {
    let mut linked = Vec::new();
    for (_, doc) in &group.members {
        push_linked(doc, &mut linked);
    }
    missing.extend(linked.into_iter().filter(|key| !found.contains(key)));
}

/// The group's records, each once, in the order the contacts link them.
fn records<'a>(group: &Group<'_>, found: &'a Found<CustomerDoc>) -> Vec<(DocKey, &'a CustomerDoc)> {
    let mut keys = Vec::new();
    for (_, doc) in &group.members {
        push_linked(doc, &mut keys);
    }
    let mut seen = BTreeSet::new();
    keys.into_iter()
        .filter(|key| seen.insert(*key))
        .filter_map(|key| found.get(&key).map(|doc| (key, doc)))
        .collect()
}

/// Where a customer stands, derived from their records, first rule that applies:
/// 1. **Churned** when the stage recorded on the contact (the survivor of the merge group) is
///    [`LifecycleStage::Churned`] and the source's time of that record is later than the last
///    won deal's close (or no deal was won in the CRM: the customer bought before it). Leaving
///    is only known from that record (billing or a subscription tool says so); guessing it from
///    silence would be a hard-coded rule.
/// 2. **Customer** once a deal was won. So a customer who buys again after churning is a
///    customer again, whatever the recorded stage still says; a churn recorded at the very
///    instant of a win does not undo it.
/// 3. **Opportunity** while a deal is open and none was won. An open deal does not undo a
///    churn (winning it does).
/// 4. **Lead** when only leads are known; `None` without any record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerStage {
    /// Known from a lead, no deal yet.
    Lead,
    /// At least one open deal, none won.
    Opportunity,
    /// At least one deal won, none since the customer was recorded as churned.
    Customer,
    /// Recorded as churned after the last won deal (if any).
    Churned,
}

impl CustomerStage {
    /// The stage of a customer whose contact records `churned_at` (the source's time of a
    /// recorded churn, if the recorded stage is churned), with these deals and `has_leads`.
    /// See the type's documentation for the rules.
    fn derive(
        churned_at: Option<DateTime<Utc>>,
        opportunities: &[OpportunityDoc],
        has_leads: bool,
    ) -> Option<Self> {
        let won = |deal: &&OpportunityDoc| deal.status == Some(OpportunityStatus::Won);
        let last_won = opportunities
            .iter()
            .filter(won)
            .filter_map(|deal| deal.closed_at)
            .max();
        if let Some(churned_at) = churned_at
            && last_won.is_none_or(|won_at| churned_at > won_at)
        {
            return Some(CustomerStage::Churned);
        }
        if opportunities.iter().any(|deal| won(&deal)) {
            Some(CustomerStage::Customer)
        } else if opportunities
            .iter()
            .any(|deal| deal.status == Some(OpportunityStatus::Open))
        {
            Some(CustomerStage::Opportunity)
        } else if has_leads {
            Some(CustomerStage::Lead)
        } else {
            None
        }
    }
}

/// Won revenue per currency (never summed across currencies).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LifetimeValue {
    /// The sum of won amounts, one entry per currency, in currency order.
    pub won: Vec<Money>,
    /// Currencies whose sum does not fit in 64-bit minor units (left out of `won`).
    pub overflowed: Vec<Currency>,
}

impl LifetimeValue {
    fn of<'a>(opportunities: impl Iterator<Item = &'a OpportunityDoc>) -> Self {
        let mut sums = CurrencySums::default();
        for won in opportunities.filter_map(OpportunityDoc::won_amount) {
            sums.add(won);
        }
        let (won, overflowed) = sums.into_parts();
        Self { won, overflowed }
    }
}

/// Everything about one customer, merges followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Customer360 {
    /// The contact asked for.
    pub requested: ContactId,
    /// The survivor the view is of (the contact asked for, unless it was merged).
    pub customer: ContactId,
    /// The other contacts merged into it (transitively), in merge order.
    pub merged: Vec<ContactId>,
    /// The survivor's document (profile, consent, links).
    pub contact: ContactDoc,
    /// The owner of the relationship.
    pub owner: Option<UserId>,
    /// The lifecycle stage recorded on the contact.
    pub recorded_stage: Option<LifecycleStage>,
    /// The stage derived from the records and a recorded churn ([`CustomerStage`]), `None`
    /// without either.
    pub stage: Option<CustomerStage>,
    /// Leads converted into any contact of the group, with their routing history.
    pub leads: Vec<LeadDoc>,
    /// Opportunities with any contact of the group, with their stages and amounts.
    pub opportunities: Vec<OpportunityDoc>,
    /// Tickets of any contact of the group (their SLA state is in the SLA read model).
    pub tickets: Vec<TicketDoc>,
    /// Won revenue per currency.
    pub lifetime_value: LifetimeValue,
    /// Tickets neither solved nor closed.
    pub open_tickets: usize,
    /// The latest interaction of any kind.
    pub last_activity: Option<DateTime<Utc>>,
    /// Whether the survivor's personal data was erased.
    pub erased: bool,
}

/// The Customer 360 of a contact: `None` when nothing is known of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Customer360Query {
    /// Any contact of the customer (a merged one leads to its survivor).
    pub contact: ContactId,
}

impl Lookup<CustomerDoc> for Customer360Query {
    type Answer = Option<Customer360>;

    fn keys(&self, found: &Found<CustomerDoc>, keys: &mut Vec<DocKey>) {
        let group = resolve(self.contact, found, keys);
        missing_records(&group, found, keys);
    }

    fn answer(&self, found: &Found<CustomerDoc>) -> Option<Customer360> {
        let group = resolve(self.contact, found, &mut Vec::new());
        let (_, root) = group.members.first()?;
        let mut leads = Vec::new();
        let mut opportunities = Vec::new();
        let mut tickets = Vec::new();
        let mut last_activity = group
            .members
            .iter()
            .filter_map(|(_, doc)| doc.last_activity)
            .max();
        for (_, doc) in records(&group, found) {
            last_activity = last_activity.max(doc.last_activity());
            match doc {
                CustomerDoc::Lead(lead) => leads.push(lead.clone()),
                CustomerDoc::Opportunity(deal) => opportunities.push(deal.clone()),
                CustomerDoc::Ticket(ticket) => tickets.push(ticket.clone()),
                CustomerDoc::Contact(_) | CustomerDoc::Entry(_) => {}
            }
        }
        let stage =
            CustomerStage::derive(root.profile.churned_at(), &opportunities, !leads.is_empty());
        let contact = (*root).clone();
        Some(Customer360 {
            requested: self.contact,
            customer: group.root,
            merged: group.members.iter().skip(1).map(|(id, _)| *id).collect(),
            owner: root.profile.owner(),
            recorded_stage: root.profile.lifecycle_stage(),
            stage,
            lifetime_value: LifetimeValue::of(opportunities.iter()),
            open_tickets: tickets.iter().filter(|ticket| ticket.is_open()).count(),
            leads,
            opportunities,
            tickets,
            last_activity,
            erased: root.is_erased(),
            contact,
        })
    }
}

/// The records of a customer (merges followed): each contact of the merge group, the
/// survivor first, then their leads, opportunities and tickets, each once. Empty when nothing
/// is known of the contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerRecords {
    /// Any contact of the customer.
    pub contact: ContactId,
}

impl Lookup<CustomerDoc> for CustomerRecords {
    type Answer = Vec<(AggregateKind, Uuid)>;

    fn keys(&self, found: &Found<CustomerDoc>, keys: &mut Vec<DocKey>) {
        let group = resolve(self.contact, found, keys);
        missing_records(&group, found, keys);
    }

    fn answer(&self, found: &Found<CustomerDoc>) -> Vec<(AggregateKind, Uuid)> {
        let group = resolve(self.contact, found, &mut Vec::new());
        let contacts = group
            .members
            .iter()
            .map(|(id, _)| (AggregateKind::Contact, id.0));
        let linked = records(&group, found);
        contacts
            .chain(linked.iter().map(|(key, _)| (kind_of(key), key.id)))
            .collect()
    }
}

/// A page of the combined timeline of a customer (merges followed), newest first: at most
/// `limit` entries older than `before` (from the newest when `None`). Pages are stable while
/// new entries arrive, since the cursor is an entry's instant and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineQuery {
    /// Any contact of the customer.
    pub contact: ContactId,
    /// Where the previous page ended.
    pub before: Option<TimelineCursor>,
    /// The most entries to return (at least one).
    pub limit: usize,
}

impl TimelineQuery {
    /// Reads the page: the customer's records ([`CustomerRecords`]), then the first
    /// `limit + 1` entries past the cursor of each record's own timeline ([`RecordTimeline`],
    /// one ordered, limited read each), merged newest first. Every row read is one of the
    /// `limit + 1` newest of its record past the cursor, so a record's history, however long,
    /// costs no more than a page.
    ///
    /// # Errors
    /// The store's, if a read fails.
    pub async fn run<S>(&self, store: &S, tenant: &TenantId) -> Result<TimelinePage, StorageError>
    where
        S: DocumentStore<Customer360Model> + ?Sized,
    {
        let limit = self.limit.max(1);
        let records = store
            .lookup(
                tenant,
                &CustomerRecords {
                    contact: self.contact,
                },
            )
            .await?;
        let mut items: Vec<TimelineItem> = Vec::new();
        for (_, record) in records {
            let page = store
                .scan(
                    tenant,
                    &RecordTimeline {
                        record,
                        before: self.before.clone(),
                        limit: limit.saturating_add(1),
                    },
                )
                .await?;
            items.extend(page.items);
        }
        items.sort_by_cached_key(|item| item.entry.newest());
        Ok(TimelinePage::cut(items, limit))
    }
}

fn kind_of(key: &DocKey) -> AggregateKind {
    match key.kind {
        super::LEAD => AggregateKind::Lead,
        super::OPPORTUNITY => AggregateKind::Opportunity,
        super::TICKET => AggregateKind::Ticket,
        _ => AggregateKind::Contact,
    }
}
