//! The account aggregate: a company the CRM has a relationship with, its contacts and their
//! roles; and the tenant's account hierarchy (`hierarchy.rs`).
//!
//! An account is opened with its name and owner (and, optionally, its first domains,
//! industry, size and addresses); every later change of a field is its own event that names
//! the field ([`AccountEvent::Renamed`], [`AccountEvent::DomainAdded`], …), so a reader never
//! diffs two states to learn what changed.
//!
//! # Rules
//! - **Name**: a [`CompanyName`] (the raw name shown, its normalized form for matching);
//!   renaming to the same name records nothing.
//! - **Domains**: a set keyed by the normalized domain, so `https://www.Acme.com/about` and
//!   `acme.com` are one domain (the first spelling added is kept). Adding a listed domain or
//!   removing an unlisted one records nothing. Domains where anyone can open a mailbox
//!   (`gmail.com`) are refused ([`AccountError::PersonalMailDomain`]): they say nothing about
//!   the company and would tie every Gmail user's lead to it.
//! - **Industry**: free text, trimmed, at most [`MAX_INDUSTRY_CHARS`] characters, compared
//!   as the routing rules compare it (the app's concern); `None` clears it.
//! - **Size**: the number of employees; `None` clears it.
//! - **Addresses**: at most one of each [`AddressKind`], each part trimmed as a contact's.
//! - **Owner**: always exactly one user; changing to the current owner records nothing.
//! - **Contacts**: a contact belongs to an account with one [`ContactRole`] at a time. Adding
//!   a contact who already belongs is refused unless the role is the same (then nothing is
//!   recorded): change the role instead. Changing or ending the role of a contact who does
//!   not belong is refused. A person may hold roles at several accounts; each account's
//!   stream records its own.
//! - **Lifecycle**: active → closed (with a reason) → reopened; archiving (from active or
//!   closed) is final. A closed account refuses every change but reopening and archiving; an
//!   archived one refuses everything. Closing a closed account, reopening an active one and
//!   archiving an archived one record nothing.
//! - **Hierarchy**: an account's parent is not recorded here but in [`AccountHierarchy`]
//!   (stream `"account_hierarchy-<id>"`, one per tenant), because preventing cycles needs
//!   every parent link of the tenant in one consistency boundary.
//!
//! Accounts hold company data, not personal data: no account event declares personal fields
//! and the aggregate names no data subject. (What is personal about a contact, such as their
//! job title, stays on the contact's stream.)

mod address;
mod fields;
mod hierarchy;
pub mod matching;
mod role;
#[cfg(test)]
mod tests;

use crate::custom_fields::{
    CustomFieldsRefused, CustomFieldsSet, CustomFieldsUpdate, CustomValues, EntityKind,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use address::{AccountAddress, AddressKind};
pub use fields::AccountField;
pub use hierarchy::{
    AccountHierarchy, AccountHierarchyCommand, AccountHierarchyError, AccountHierarchyEvent,
};
pub use role::{AccountContact, ContactRole};

use crate::aggregate::{Aggregate, DomainEvent};
use crate::contact::MAX_ADDRESS_PART_CHARS;
use crate::context::{Actor, Context};
use crate::identity::{CompanyDomain, CompanyName};
use crate::ids::{AccountId, ContactId, UserId};
use address::AddressProblem;
use matching::AccountAssessment;

/// The longest industry kept, in characters.
pub const MAX_INDUSTRY_CHARS: usize = 100;

/// Where an account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// In use.
    Active,
    /// The relationship ended (the company stopped buying, went out of business); can be
    /// reopened.
    Closed,
    /// Taken out of use for good (a mistake, a duplicate); final.
    Archived,
}

impl AccountStatus {
    /// The status in the CRM's words.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Closed => "closed",
            AccountStatus::Archived => "archived",
        }
    }
}

impl fmt::Display for AccountStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A command to an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum AccountCommand {
    /// Opens the account, with its first details (applied in order, as the commands below
    /// would apply them).
    Open {
        /// The new account's id (the caller chose it; the stream is `"account-{id}"`).
        account: AccountId,
        /// The company's name.
        name: CompanyName,
        /// The user who owns the relationship.
        owner: UserId,
        /// The company's web domains; duplicates (by normalized form) are dropped.
        domains: Vec<CompanyDomain>,
        /// The industry, if known; must not be blank when given.
        industry: Option<String>,
        /// The number of employees, if known.
        employees: Option<u32>,
        /// Postal addresses; a later address of a kind replaces an earlier one.
        addresses: Vec<AccountAddress>,
    },
    /// Renames the account.
    Rename {
        /// The new name.
        name: CompanyName,
    },
    /// Adds a web domain.
    AddDomain {
        /// The domain (a bare domain or a web address, already parsed).
        domain: CompanyDomain,
    },
    /// Removes a web domain (matched by its normalized form).
    RemoveDomain {
        /// The domain.
        domain: CompanyDomain,
    },
    /// Sets or clears the industry.
    ChangeIndustry {
        /// The industry; `None` clears it, a blank text is refused.
        industry: Option<String>,
    },
    /// Sets or clears the company's size.
    ChangeSize {
        /// The number of employees; `None` clears it.
        employees: Option<u32>,
    },
    /// Sets the address of a kind (replacing the one there was).
    SetAddress {
        /// The address, naming its kind.
        address: AccountAddress,
    },
    /// Removes the address of a kind.
    ClearAddress {
        /// The kind.
        kind: AddressKind,
    },
    /// Gives the account to another owner.
    ChangeOwner {
        /// The new owner.
        owner: UserId,
    },
    /// Records that a contact belongs to the account, with a role.
    AddContact {
        /// The contact.
        contact: ContactId,
        /// The role.
        role: ContactRole,
    },
    /// Changes the role of a contact who belongs to the account.
    ChangeContactRole {
        /// The contact.
        contact: ContactId,
        /// The new role.
        role: ContactRole,
    },
    /// Records that a contact no longer belongs to the account (left the company, moved on).
    EndContactRole {
        /// The contact.
        contact: ContactId,
    },
    /// Records that identity resolution found a contact who may work for the account, for a
    /// person to confirm (then [`AccountCommand::AddContact`]) or dismiss. Nothing is
    /// recorded for a contact who belongs to the account, nor for one suggested with the same
    /// verdict and score already, nor for one dismissed (a person said no).
    SuggestContact {
        /// The contact.
        contact: ContactId,
        /// How the contact's company evidence fits the account.
        assessment: AccountAssessment,
    },
    /// A person says the suggested contact does not work for the account: never suggested
    /// again.
    DismissSuggestion {
        /// The contact.
        contact: ContactId,
    },
    /// Closes the account.
    Close {
        /// Why; must not be blank (stored trimmed).
        reason: String,
    },
    /// Reopens a closed account.
    Reopen,
    /// Archives the account for good.
    Archive,
    /// Sets or clears custom field values under the tenant's current schema (see
    /// [`CustomFieldsUpdate`]); an update without changes still checks the validation rules.
    SetCustomFields(CustomFieldsUpdate),
}

/// A fact about an account. Every event says who issued the command (`by`) and when (`at`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum AccountEvent {
    /// The account was opened; it is active.
    #[serde(rename = "AccountOpened")]
    Opened {
        /// The account.
        account: AccountId,
        /// The company's name.
        name: CompanyName,
        /// The owner.
        owner: UserId,
        /// Who opened it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The account was renamed.
    #[serde(rename = "AccountRenamed")]
    Renamed {
        /// The new name.
        name: CompanyName,
        /// Who renamed it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A web domain was added.
    #[serde(rename = "AccountDomainAdded")]
    DomainAdded {
        /// The domain.
        domain: CompanyDomain,
        /// Who added it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A web domain was removed.
    #[serde(rename = "AccountDomainRemoved")]
    DomainRemoved {
        /// The domain, as it was listed.
        domain: CompanyDomain,
        /// Who removed it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The industry was set or cleared.
    #[serde(rename = "AccountIndustryChanged")]
    IndustryChanged {
        /// The industry from now on (trimmed); `None` when cleared.
        industry: Option<String>,
        /// Who changed it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The company's size was set or cleared.
    #[serde(rename = "AccountSizeChanged")]
    SizeChanged {
        /// The number of employees from now on; `None` when cleared.
        employees: Option<u32>,
        /// Who changed it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The address of a kind was set.
    #[serde(rename = "AccountAddressSet")]
    AddressSet {
        /// The address (tidied), naming its kind.
        address: AccountAddress,
        /// Who set it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The address of a kind was removed.
    #[serde(rename = "AccountAddressCleared")]
    AddressCleared {
        /// The kind.
        kind: AddressKind,
        /// Who removed it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The account got another owner.
    #[serde(rename = "AccountOwnerChanged")]
    OwnerChanged {
        /// The owner from now on.
        owner: UserId,
        /// Who changed it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A contact came to belong to the account.
    #[serde(rename = "AccountContactAdded")]
    ContactAdded {
        /// The contact.
        contact: ContactId,
        /// Their role.
        role: ContactRole,
        /// Who recorded it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// Identity resolution found a contact who may work for the account.
    #[serde(rename = "AccountContactSuggested")]
    ContactSuggested {
        /// The contact.
        contact: ContactId,
        /// The evidence (agreement levels and the score; never the values compared).
        assessment: AccountAssessment,
        /// Who recorded it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A person said a suggested contact does not work for the account.
    #[serde(rename = "AccountSuggestionDismissed")]
    SuggestionDismissed {
        /// The contact.
        contact: ContactId,
        /// Who decided.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A contact's role at the account changed.
    #[serde(rename = "AccountContactRoleChanged")]
    ContactRoleChanged {
        /// The contact.
        contact: ContactId,
        /// Their role from now on.
        role: ContactRole,
        /// Who changed it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A contact no longer belongs to the account.
    #[serde(rename = "AccountContactRoleEnded")]
    ContactRoleEnded {
        /// The contact.
        contact: ContactId,
        /// Who recorded it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The account was closed.
    #[serde(rename = "AccountClosed")]
    Closed {
        /// Why (trimmed, not blank).
        reason: String,
        /// Who closed it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A closed account was reopened; it is active.
    #[serde(rename = "AccountReopened")]
    Reopened {
        /// Who reopened it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The account was archived for good.
    #[serde(rename = "AccountArchived")]
    Archived {
        /// Who archived it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// Custom field values were set or cleared.
    #[serde(rename = "AccountCustomFieldsSet")]
    CustomFieldsSet(CustomFieldsSet),
}

impl DomainEvent for AccountEvent {
    fn event_type(&self) -> &'static str {
        match self {
            AccountEvent::CustomFieldsSet(_) => "AccountCustomFieldsSet",
            AccountEvent::Opened { .. } => "AccountOpened",
            AccountEvent::Renamed { .. } => "AccountRenamed",
            AccountEvent::DomainAdded { .. } => "AccountDomainAdded",
            AccountEvent::DomainRemoved { .. } => "AccountDomainRemoved",
            AccountEvent::IndustryChanged { .. } => "AccountIndustryChanged",
            AccountEvent::SizeChanged { .. } => "AccountSizeChanged",
            AccountEvent::AddressSet { .. } => "AccountAddressSet",
            AccountEvent::AddressCleared { .. } => "AccountAddressCleared",
            AccountEvent::OwnerChanged { .. } => "AccountOwnerChanged",
            AccountEvent::ContactAdded { .. } => "AccountContactAdded",
            AccountEvent::ContactSuggested { .. } => "AccountContactSuggested",
            AccountEvent::SuggestionDismissed { .. } => "AccountSuggestionDismissed",
            AccountEvent::ContactRoleChanged { .. } => "AccountContactRoleChanged",
            AccountEvent::ContactRoleEnded { .. } => "AccountContactRoleEnded",
            AccountEvent::Closed { .. } => "AccountClosed",
            AccountEvent::Reopened { .. } => "AccountReopened",
            AccountEvent::Archived { .. } => "AccountArchived",
        }
    }
}

/// Why a command to an account was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AccountError {
    /// The account has not been opened.
    #[error("account not found: it has not been opened")]
    NotFound,
    /// An account with this id was already opened.
    #[error("account {id} was already opened")]
    AlreadyOpened {
        /// The existing account.
        id: AccountId,
    },
    /// The account is closed: reopen it before changing it.
    #[error("account {id} is closed: reopen it before changing it")]
    Closed {
        /// The closed account.
        id: AccountId,
    },
    /// The account is archived: nothing changes it any more.
    #[error("account {id} is archived and can no longer be changed")]
    Archived {
        /// The archived account.
        id: AccountId,
    },
    /// A domain where anyone can open a mailbox says nothing about the company.
    #[error("{domain} is a personal mail domain, not a company's")]
    PersonalMailDomain {
        /// The domain, normalized.
        domain: String,
    },
    /// An industry must not be blank; clear it instead.
    #[error("the industry cannot be blank: clear it instead")]
    BlankIndustry,
    /// An industry longer than [`MAX_INDUSTRY_CHARS`].
    #[error("the industry is longer than {max} characters")]
    IndustryTooLong {
        /// The longest industry kept.
        max: usize,
    },
    /// An address with no part and no country; clear it instead.
    #[error("the {kind:?} address is blank: clear it instead")]
    BlankAddress {
        /// The address's kind.
        kind: AddressKind,
    },
    /// A part of an address is too long.
    #[error("a part of the {kind:?} address is longer than {max} characters")]
    AddressPartTooLong {
        /// The address's kind.
        kind: AddressKind,
        /// The longest part kept.
        max: usize,
    },
    /// The contact already belongs to the account with another role: change the role.
    #[error("contact {contact} already belongs to the account as {role}: change the role instead")]
    AlreadyAContact {
        /// The contact.
        contact: ContactId,
        /// Their current role.
        role: ContactRole,
    },
    /// The contact does not belong to the account.
    #[error("contact {contact} does not belong to the account")]
    NotAContact {
        /// The contact.
        contact: ContactId,
    },
    /// Closing needs a reason.
    #[error("closing an account needs a reason")]
    BlankReason,
    /// A suggestion carried the assessment of another account.
    #[error("the assessment is of account {}", assessed.0)]
    AssessmentOfAnotherAccount {
        /// The account it assessed.
        assessed: AccountId,
    },
    /// Only a suggested contact can be dismissed.
    #[error("contact {contact} was not suggested")]
    NotSuggested {
        /// The contact.
        contact: ContactId,
    },
    /// The custom field values do not fit their fields or break a validation rule; every
    /// problem, each naming its field.
    #[error("{0}")]
    CustomFields(#[source] CustomFieldsRefused),
}

/// What is known about an opened account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountProfile {
    /// The account's id.
    pub id: AccountId,
    /// The company's name.
    pub name: CompanyName,
    /// The user who owns the relationship.
    pub owner: UserId,
    /// Web domains, in the order added, no two with the same normalized form.
    pub domains: Vec<CompanyDomain>,
    /// The industry.
    pub industry: Option<String>,
    /// The number of employees.
    pub employees: Option<u32>,
    /// Postal addresses, one per kind.
    pub addresses: BTreeMap<AddressKind, AccountAddress>,
    /// The contacts who belong to it, with their roles.
    pub contacts: BTreeMap<ContactId, AccountContact>,
    /// Contacts identity resolution suggested, waiting for a person to confirm or dismiss.
    pub suggested: BTreeMap<ContactId, AccountAssessment>,
    /// Contacts a person said do not work for the account.
    pub dismissed: BTreeSet<ContactId>,
    /// Active, closed or archived.
    pub status: AccountStatus,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
}

impl AccountProfile {
    /// Whether `domain` (by its normalized form) is one of the account's.
    pub fn lists_domain(&self, domain: &CompanyDomain) -> bool {
        self.domain_index(domain).is_some()
    }

    /// The role of `contact` at the account, if they belong to it.
    pub fn role_of(&self, contact: ContactId) -> Option<ContactRole> {
        self.contacts.get(&contact).map(|member| member.role)
    }

    fn domain_index(&self, domain: &CompanyDomain) -> Option<usize> {
        self.domains
            .iter()
            .position(|listed| listed.normalized() == domain.normalized())
    }
}

/// An account's state, rebuilt from its events.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Account {
    /// Everything known since opening; `None` until opened.
    pub profile: Option<AccountProfile>,
    /// The custom field values.
    pub custom: CustomValues,
}

impl Account {
    /// The account's id, once opened.
    pub fn id(&self) -> Option<AccountId> {
        self.profile.as_ref().map(|profile| profile.id)
    }

    /// Where the account stands, once opened.
    pub fn status(&self) -> Option<AccountStatus> {
        self.profile.as_ref().map(|profile| profile.status)
    }

    /// The role of `contact` at the account, if they belong to it.
    pub fn role_of(&self, contact: ContactId) -> Option<ContactRole> {
        self.profile.as_ref()?.role_of(contact)
    }

    /// The profile of an account that may change: opened, neither closed nor archived.
    fn require_active(&self) -> Result<&AccountProfile, AccountError> {
        let profile = self.profile.as_ref().ok_or(AccountError::NotFound)?;
        match profile.status {
            AccountStatus::Active => Ok(profile),
            AccountStatus::Closed => Err(AccountError::Closed { id: profile.id }),
            AccountStatus::Archived => Err(AccountError::Archived { id: profile.id }),
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the fields of `AccountCommand::Open`, passed on"
    )]
    fn open(
        &self,
        account: AccountId,
        name: CompanyName,
        owner: UserId,
        domains: Vec<CompanyDomain>,
        industry: Option<String>,
        employees: Option<u32>,
        addresses: Vec<AccountAddress>,
        ctx: &Context,
    ) -> Result<Vec<AccountEvent>, AccountError> {
        if let Some(id) = self.id() {
            return Err(AccountError::AlreadyOpened { id });
        }
        let opened = AccountEvent::Opened {
            account,
            name,
            owner,
            by: ctx.actor.clone(),
            at: ctx.now,
        };
        // The first details are applied as the commands that set them would be, in order.
        let details = domains
            .into_iter()
            .map(|domain| AccountCommand::AddDomain { domain })
            .chain([
                AccountCommand::ChangeIndustry { industry },
                AccountCommand::ChangeSize { employees },
            ])
            .chain(
                addresses
                    .into_iter()
                    .map(|address| AccountCommand::SetAddress { address }),
            );
        let mut working = Account::default().evolve(&opened);
        let mut events = vec![opened];
        for command in details {
            for event in working.decide(command, ctx)? {
                working = working.evolve(&event);
                events.push(event);
            }
        }
        Ok(events)
    }

    fn rename(&self, name: CompanyName, ctx: &Context) -> Result<Vec<AccountEvent>, AccountError> {
        let profile = self.require_active()?;
        if profile.name == name {
            return Ok(vec![]);
        }
        Ok(vec![AccountEvent::Renamed {
            name,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn add_domain(
        &self,
        domain: CompanyDomain,
        ctx: &Context,
    ) -> Result<Vec<AccountEvent>, AccountError> {
        let profile = self.require_active()?;
        if domain.is_personal_mail() {
            return Err(AccountError::PersonalMailDomain {
                domain: domain.normalized().to_owned(),
            });
        }
        if profile.lists_domain(&domain) {
            return Ok(vec![]);
        }
        Ok(vec![AccountEvent::DomainAdded {
            domain,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn remove_domain(
        &self,
        domain: &CompanyDomain,
        ctx: &Context,
    ) -> Result<Vec<AccountEvent>, AccountError> {
        let profile = self.require_active()?;
        let Some(listed) = profile
            .domain_index(domain)
            .and_then(|index| profile.domains.get(index))
        else {
            return Ok(vec![]);
        };
        Ok(vec![AccountEvent::DomainRemoved {
            domain: listed.clone(),
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn change_industry(
        &self,
        industry: Option<&str>,
        ctx: &Context,
    ) -> Result<Vec<AccountEvent>, AccountError> {
        let profile = self.require_active()?;
        let industry = match industry.map(str::trim) {
            None => None,
            Some("") => return Err(AccountError::BlankIndustry),
            Some(text) if text.chars().count() > MAX_INDUSTRY_CHARS => {
                return Err(AccountError::IndustryTooLong {
                    max: MAX_INDUSTRY_CHARS,
                });
            }
            Some(text) => Some(text.to_owned()),
        };
        if profile.industry == industry {
            return Ok(vec![]);
        }
        Ok(vec![AccountEvent::IndustryChanged {
            industry,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn change_size(
        &self,
        employees: Option<u32>,
        ctx: &Context,
    ) -> Result<Vec<AccountEvent>, AccountError> {
        let profile = self.require_active()?;
        if profile.employees == employees {
            return Ok(vec![]);
        }
        Ok(vec![AccountEvent::SizeChanged {
            employees,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn set_address(
        &self,
        address: AccountAddress,
        ctx: &Context,
    ) -> Result<Vec<AccountEvent>, AccountError> {
        let profile = self.require_active()?;
        let kind = address.kind;
        let address = address.tidy().map_err(|problem| match problem {
            AddressProblem::Blank => AccountError::BlankAddress { kind },
            AddressProblem::TooLong => AccountError::AddressPartTooLong {
                kind,
                max: MAX_ADDRESS_PART_CHARS,
            },
        })?;
        if profile.addresses.get(&kind) == Some(&address) {
            return Ok(vec![]);
        }
        Ok(vec![AccountEvent::AddressSet {
            address,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn clear_address(
        &self,
        kind: AddressKind,
        ctx: &Context,
    ) -> Result<Vec<AccountEvent>, AccountError> {
        let profile = self.require_active()?;
        if !profile.addresses.contains_key(&kind) {
            return Ok(vec![]);
        }
        Ok(vec![AccountEvent::AddressCleared {
            kind,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn change_owner(
        &self,
        owner: UserId,
        ctx: &Context,
    ) -> Result<Vec<AccountEvent>, AccountError> {
        let profile = self.require_active()?;
        if profile.owner == owner {
            return Ok(vec![]);
        }
        Ok(vec![AccountEvent::OwnerChanged {
            owner,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn add_contact(
        &self,
        contact: ContactId,
        role: ContactRole,
        ctx: &Context,
    ) -> Result<Vec<AccountEvent>, AccountError> {
        let profile = self.require_active()?;
        match profile.role_of(contact) {
            Some(current) if current == role => Ok(vec![]),
            Some(current) => Err(AccountError::AlreadyAContact {
                contact,
                role: current,
            }),
            None => Ok(vec![AccountEvent::ContactAdded {
                contact,
                role,
                by: ctx.actor.clone(),
                at: ctx.now,
            }]),
        }
    }

    fn suggest_contact(
        &self,
        contact: ContactId,
        assessment: AccountAssessment,
        ctx: &Context,
    ) -> Result<Vec<AccountEvent>, AccountError> {
        let profile = self.require_active()?;
        if assessment.account != profile.id {
            return Err(AccountError::AssessmentOfAnotherAccount {
                assessed: assessment.account,
            });
        }
        let unchanged = profile.suggested.get(&contact).is_some_and(|held| {
            held.verdict == assessment.verdict && held.score == assessment.score
        });
        if profile.contacts.contains_key(&contact)
            || profile.dismissed.contains(&contact)
            || unchanged
        {
            return Ok(vec![]);
        }
        Ok(vec![AccountEvent::ContactSuggested {
            contact,
            assessment,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn dismiss_suggestion(
        &self,
        contact: ContactId,
        ctx: &Context,
    ) -> Result<Vec<AccountEvent>, AccountError> {
        let profile = self.require_active()?;
        if profile.dismissed.contains(&contact) {
            return Ok(vec![]);
        }
        if !profile.suggested.contains_key(&contact) {
            return Err(AccountError::NotSuggested { contact });
        }
        Ok(vec![AccountEvent::SuggestionDismissed {
            contact,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn change_contact_role(
        &self,
        contact: ContactId,
        role: ContactRole,
        ctx: &Context,
    ) -> Result<Vec<AccountEvent>, AccountError> {
        let profile = self.require_active()?;
        match profile.role_of(contact) {
            None => Err(AccountError::NotAContact { contact }),
            Some(current) if current == role => Ok(vec![]),
            Some(_) => Ok(vec![AccountEvent::ContactRoleChanged {
                contact,
                role,
                by: ctx.actor.clone(),
                at: ctx.now,
            }]),
        }
    }

    fn end_contact_role(
        &self,
        contact: ContactId,
        ctx: &Context,
    ) -> Result<Vec<AccountEvent>, AccountError> {
        let profile = self.require_active()?;
        if profile.role_of(contact).is_none() {
            return Err(AccountError::NotAContact { contact });
        }
        Ok(vec![AccountEvent::ContactRoleEnded {
            contact,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn close(&self, reason: &str, ctx: &Context) -> Result<Vec<AccountEvent>, AccountError> {
        let profile = self.profile.as_ref().ok_or(AccountError::NotFound)?;
        match profile.status {
            AccountStatus::Archived => Err(AccountError::Archived { id: profile.id }),
            AccountStatus::Closed => Ok(vec![]),
            AccountStatus::Active => {
                let reason = reason.trim();
                if reason.is_empty() {
                    return Err(AccountError::BlankReason);
                }
                Ok(vec![AccountEvent::Closed {
                    reason: reason.to_owned(),
                    by: ctx.actor.clone(),
                    at: ctx.now,
                }])
            }
        }
    }

    fn reopen(&self, ctx: &Context) -> Result<Vec<AccountEvent>, AccountError> {
        let profile = self.profile.as_ref().ok_or(AccountError::NotFound)?;
        match profile.status {
            AccountStatus::Archived => Err(AccountError::Archived { id: profile.id }),
            AccountStatus::Active => Ok(vec![]),
            AccountStatus::Closed => Ok(vec![AccountEvent::Reopened {
                by: ctx.actor.clone(),
                at: ctx.now,
            }]),
        }
    }

    fn archive(&self, ctx: &Context) -> Result<Vec<AccountEvent>, AccountError> {
        let profile = self.profile.as_ref().ok_or(AccountError::NotFound)?;
        if profile.status == AccountStatus::Archived {
            return Ok(vec![]);
        }
        Ok(vec![AccountEvent::Archived {
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }
}

impl Aggregate for Account {
    const KIND: &'static str = "account";
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = AccountError;

    fn decide(
        &self,
        command: AccountCommand,
        ctx: &Context,
    ) -> Result<Vec<AccountEvent>, AccountError> {
        match command {
            AccountCommand::SetCustomFields(update) => {
                self.profile.as_ref().ok_or(AccountError::NotFound)?;
                let personal = self.data_subject().is_some();
                Ok(update
                    .decide(EntityKind::Account, &self.custom, personal, ctx.now)
                    .map_err(AccountError::CustomFields)?
                    .map(AccountEvent::CustomFieldsSet)
                    .into_iter()
                    .collect())
            }
            AccountCommand::Open {
                account,
                name,
                owner,
                domains,
                industry,
                employees,
                addresses,
            } => self.open(
                account, name, owner, domains, industry, employees, addresses, ctx,
            ),
            AccountCommand::Rename { name } => self.rename(name, ctx),
            AccountCommand::AddDomain { domain } => self.add_domain(domain, ctx),
            AccountCommand::RemoveDomain { domain } => self.remove_domain(&domain, ctx),
            AccountCommand::ChangeIndustry { industry } => {
                self.change_industry(industry.as_deref(), ctx)
            }
            AccountCommand::ChangeSize { employees } => self.change_size(employees, ctx),
            AccountCommand::SetAddress { address } => self.set_address(address, ctx),
            AccountCommand::ClearAddress { kind } => self.clear_address(kind, ctx),
            AccountCommand::ChangeOwner { owner } => self.change_owner(owner, ctx),
            AccountCommand::AddContact { contact, role } => self.add_contact(contact, role, ctx),
            AccountCommand::SuggestContact {
                contact,
                assessment,
            } => self.suggest_contact(contact, assessment, ctx),
            AccountCommand::DismissSuggestion { contact } => self.dismiss_suggestion(contact, ctx),
            AccountCommand::ChangeContactRole { contact, role } => {
                self.change_contact_role(contact, role, ctx)
            }
            AccountCommand::EndContactRole { contact } => self.end_contact_role(contact, ctx),
            AccountCommand::Close { reason } => self.close(&reason, ctx),
            AccountCommand::Reopen => self.reopen(ctx),
            AccountCommand::Archive => self.archive(ctx),
        }
    }

    fn evolve(mut self, event: &AccountEvent) -> Self {
        if let AccountEvent::CustomFieldsSet(set) = event {
            set.apply_to(&mut self.custom);
            return self;
        }
        if let AccountEvent::Opened {
            account,
            name,
            owner,
            at,
            ..
        } = event
        {
            // A second opening cannot come from `decide`; the first one stands.
            self.profile.get_or_insert_with(|| AccountProfile {
                id: *account,
                name: name.clone(),
                owner: *owner,
                domains: Vec::new(),
                industry: None,
                employees: None,
                addresses: BTreeMap::new(),
                contacts: BTreeMap::new(),
                suggested: BTreeMap::new(),
                dismissed: BTreeSet::new(),
                status: AccountStatus::Active,
                opened_at: *at,
            });
            return self;
        }
        // Facts about an account that was never opened cannot come from `decide`.
        let Some(profile) = self.profile.as_mut() else {
            return self;
        };
        match event {
            // Handled before the match: an account's own, not its profile's.
            AccountEvent::Opened { .. } | AccountEvent::CustomFieldsSet(_) => {}
            AccountEvent::Renamed { name, .. } => profile.name = name.clone(),
            AccountEvent::DomainAdded { domain, .. } => {
                if !profile.lists_domain(domain) {
                    profile.domains.push(domain.clone());
                }
            }
            AccountEvent::DomainRemoved { domain, .. } => {
                profile
                    .domains
                    .retain(|listed| listed.normalized() != domain.normalized());
            }
            AccountEvent::IndustryChanged { industry, .. } => profile.industry.clone_from(industry),
            AccountEvent::SizeChanged { employees, .. } => profile.employees = *employees,
            AccountEvent::AddressSet { address, .. } => {
                profile.addresses.insert(address.kind, address.clone());
            }
            AccountEvent::AddressCleared { kind, .. } => {
                profile.addresses.remove(kind);
            }
            AccountEvent::OwnerChanged { owner, .. } => profile.owner = *owner,
            AccountEvent::ContactSuggested {
                contact,
                assessment,
                ..
            } => {
                profile.suggested.insert(*contact, *assessment);
            }
            AccountEvent::SuggestionDismissed { contact, .. } => {
                profile.suggested.remove(contact);
                profile.dismissed.insert(*contact);
            }
            AccountEvent::ContactAdded {
                contact, role, at, ..
            } => {
                profile.suggested.remove(contact);
                profile.contacts.insert(
                    *contact,
                    AccountContact {
                        role: *role,
                        since: *at,
                    },
                );
            }
            AccountEvent::ContactRoleChanged {
                contact, role, at, ..
            } => {
                profile
                    .contacts
                    .entry(*contact)
                    .and_modify(|member| member.role = *role)
                    .or_insert(AccountContact {
                        role: *role,
                        since: *at,
                    });
            }
            AccountEvent::ContactRoleEnded { contact, .. } => {
                profile.contacts.remove(contact);
            }
            AccountEvent::Closed { .. } => profile.status = AccountStatus::Closed,
            AccountEvent::Reopened { .. } => profile.status = AccountStatus::Active,
            AccountEvent::Archived { .. } => profile.status = AccountStatus::Archived,
        }
        self
    }
}
