//! Linking people to the companies they work for: a contact's company evidence (work email
//! domains — free mail never counts —, the company's web domain and its name, legal forms and
//! punctuation ignored) weighed against the tenant's accounts with the people's thresholds
//! ([`MatchConfig`]). An auto-link makes the contact a member of the account; a match in the
//! review band is suggested on the account (`AccountContactSuggested`) for a person to confirm
//! or dismiss, and shows in the account review queue.
//!
//! [`AccountLinker`] follows the tenant's history from its own checkpoint and links every
//! contact created, or whose email addresses or company changed. With a
//! [`CompanyPeopleSource`] ([`AccountLinker::with_people`]) it also works from the account's
//! side: an account opened, reopened, renamed or given a domain after its people were recorded
//! finds them through the identity index's company rows, and each is linked as above (weighed
//! against every account, so the new one wins only where it is the best). Before it does, it
//! waits until both read models have seen the account's event, so neither misses it. Every
//! step is a command that
//! records nothing twice: a membership is added under a key per contact and account (so a
//! contact who later left is never added back by the linker), a suggestion is idempotent in
//! the aggregate and a dismissed one is never made again. A crash between steps links again.
//!
//! Two accounts tied for the best auto-link (a group and its subsidiary sharing a domain) are
//! both suggested instead: a person chooses.

use std::fmt;
use std::sync::Arc;

use crm_domain::account::AccountStatus;
use crm_domain::account::matching::{AccountAssessment, CompanyEvidence};
use crm_domain::account::{Account, AccountCommand, AccountError, ContactRole};
use crm_domain::contact::{Contact, ContactError, ContactStatus};
use crm_domain::identity::{IdentityRecord, MatchConfig, MatchVerdict};
use crm_domain::{AccountId, Actor, ContactId};
use crm_eventstore::{GlobalPosition, TenantId};
use crm_projections::account360::{Account360Model, AccountCandidate, AccountCandidates};
use crm_projections::identity::query::PeopleAtCompany;
use crm_projections::identity::{IdentityIndexModel, account_company_keys};
use crm_projections::{DocumentStore, StorageError};
use futures_util::future::BoxFuture;
use thiserror::Error;
use uuid::Uuid;

use crate::command::{CommandMeta, CommandService};
use crate::error::CommandError;
use crate::ids::derive_id;
use crate::uow::{UnitOfWork, WorkError};

/// The checkpoint name of the linker's place in the history.
const CHECKPOINT: &str = "account-linking";

/// The actor the linker's commands are recorded as.
pub const COMPONENT: &str = "account-linking";

/// The account events after which the account's people are looked for.
const ACCOUNT_SIDE: [&str; 4] = [
    "AccountOpened",
    "AccountReopened",
    "AccountRenamed",
    "AccountDomainAdded",
];

/// The people read per page of one company key.
const PEOPLE_PAGE: usize = 500;

/// How long the linker waits for the read models to see an account's event before it leaves
/// the page for a later tick.
const SEEN_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Where candidate accounts come from: the account 360's indexes, or anything answering like
/// them.
pub trait AccountCandidateSource: Send + Sync + fmt::Debug {
    /// The accounts `evidence` may point to, assessed with `config`, best first, at most
    /// `limit`.
    fn candidates<'a>(
        &'a self,
        tenant: &'a TenantId,
        evidence: &'a CompanyEvidence,
        config: &'a MatchConfig,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<AccountCandidate>, StorageError>>;

    /// The position in the tenant's history through which the candidates are known (`None`
    /// before anything): an account opened at or before it can be found.
    fn seen_through<'a>(
        &'a self,
        tenant: &'a TenantId,
    ) -> BoxFuture<'a, Result<Option<GlobalPosition>, StorageError>>;
}

/// Where the people an account's domains and name point to come from: the identity index's
/// company rows, or anything answering like them.
pub trait CompanyPeopleSource: Send + Sync + fmt::Debug {
    /// A page of the live contacts filed under company key `company`
    /// ([`company_key_id`](crm_projections::identity::company_key_id)), in id order, after
    /// `after`, at most `limit`.
    fn people_at<'a>(
        &'a self,
        tenant: &'a TenantId,
        company: Uuid,
        after: Option<ContactId>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<ContactId>, StorageError>>;

    /// The position in the tenant's history through which the people are known (`None`
    /// before anything).
    fn seen_through<'a>(
        &'a self,
        tenant: &'a TenantId,
    ) -> BoxFuture<'a, Result<Option<GlobalPosition>, StorageError>>;
}

/// The identity index's documents as a [`CompanyPeopleSource`] (shared with the projector
/// that keeps them).
#[derive(Debug)]
pub struct IdentityIndexPeople<D>(pub Arc<D>);

impl<D> CompanyPeopleSource for IdentityIndexPeople<D>
where
    D: DocumentStore<IdentityIndexModel> + fmt::Debug,
{
    fn people_at<'a>(
        &'a self,
        tenant: &'a TenantId,
        company: Uuid,
        after: Option<ContactId>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<ContactId>, StorageError>> {
        Box::pin(async move {
            let query = PeopleAtCompany {
                company,
                after,
                limit,
            };
            self.0.scan(tenant, &query).await
        })
    }

    fn seen_through<'a>(
        &'a self,
        tenant: &'a TenantId,
    ) -> BoxFuture<'a, Result<Option<GlobalPosition>, StorageError>> {
        checkpoint_of::<IdentityIndexModel, _>(&*self.0, tenant)
    }
}

/// The account 360 read model's documents as an [`AccountCandidateSource`] (shared with the
/// projector that keeps them).
#[derive(Debug)]
pub struct AccountIndexCandidates<D>(pub Arc<D>);

impl<D> AccountCandidateSource for AccountIndexCandidates<D>
where
    D: DocumentStore<Account360Model> + fmt::Debug,
{
    fn candidates<'a>(
        &'a self,
        tenant: &'a TenantId,
        evidence: &'a CompanyEvidence,
        config: &'a MatchConfig,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<AccountCandidate>, StorageError>> {
        Box::pin(async move {
            let query = AccountCandidates {
                evidence: evidence.clone(),
                config: *config,
                limit,
            };
            self.0.lookup(tenant, &query).await
        })
    }

    fn seen_through<'a>(
        &'a self,
        tenant: &'a TenantId,
    ) -> BoxFuture<'a, Result<Option<GlobalPosition>, StorageError>> {
        checkpoint_of::<Account360Model, _>(&*self.0, tenant)
    }
}

/// What the candidates (best first) say of a person: link to the single best auto-link, or
/// review the accounts tied for the best auto-link (a group and a subsidiary sharing a domain),
/// or else the best review-band match; nothing when no account comes close.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    Link(AccountAssessment),
    Review(Vec<AccountAssessment>),
    Nothing,
}

fn decide(candidates: &[AccountCandidate]) -> Decision {
    let linkable = candidates
        .iter()
        .map(|candidate| candidate.assessment)
        .filter(|assessment| assessment.verdict == MatchVerdict::AutoLink);
    let best = linkable.clone().map(|assessment| assessment.score).max();
    let tied: Vec<AccountAssessment> = linkable
        .filter(|assessment| Some(assessment.score) == best)
        .collect();
    match tied.as_slice() {
        [only] => Decision::Link(*only),
        [] => candidates
            .iter()
            .find(|candidate| candidate.assessment.verdict == MatchVerdict::Review)
            .map_or(Decision::Nothing, |candidate| {
                Decision::Review(vec![candidate.assessment])
            }),
        _ => Decision::Review(tied),
    }
}

/// The match to record for a lead among `candidates` (best first): the single best auto-link,
/// else the best review-band match; `None` when two accounts tie for the best auto-link (a
/// person chooses, on the contact the lead becomes) or nothing comes close.
pub fn best_match(candidates: &[AccountCandidate]) -> Option<AccountAssessment> {
    match decide(candidates) {
        Decision::Link(assessment) => Some(assessment),
        Decision::Review(review) => match review.as_slice() {
            [only] => Some(*only),
            _ => None,
        },
        Decision::Nothing => None,
    }
}

/// What linking one contact did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountLink {
    /// The contact is not live (unknown, merged into another, erased).
    NotLive,
    /// The contact says nothing of a company (no work email, no company domain or name).
    NoEvidence,
    /// No account comes close enough to suggest.
    NoMatch,
    /// The contact was made a member of the account (or already was).
    Linked(AccountId),
    /// The contact was suggested on these accounts for review.
    Suggested(Vec<AccountId>),
}

/// Why linking failed; calling again finishes it.
#[derive(Debug, Error)]
pub enum AccountLinkError {
    /// The history or a checkpoint could not be read or written.
    #[error(transparent)]
    Work(#[from] WorkError),
    /// The history could not be read.
    #[error(transparent)]
    Store(#[from] crm_eventstore::StoreError),
    /// The account read model could not be asked.
    #[error("the account candidates could not be read: {0}")]
    Candidates(#[from] StorageError),
    /// The contact could not be read.
    #[error("contact {contact}: {source}")]
    Contact {
        /// The contact.
        contact: ContactId,
        /// Why.
        #[source]
        source: CommandError<ContactError>,
    },
    /// The read models had not seen an account's event after waiting for them: following
    /// the history again later links its people.
    #[error("the read models have not yet seen the event at {position:?} of account {}", account.0)]
    NotSeenYet {
        /// The account.
        account: AccountId,
        /// The event's position.
        position: GlobalPosition,
    },
    /// The account could not be written.
    #[error("account {}: {source}", account.0)]
    Account {
        /// The account.
        account: AccountId,
        /// Why.
        #[source]
        source: CommandError<AccountError>,
    },
}

impl AccountLinkError {
    /// Whether trying again later may succeed (the store or the read model was unavailable);
    /// anything else would fail the same way every time, so the linker logs it and goes on.
    pub fn is_retryable(&self) -> bool {
        match self {
            AccountLinkError::Work(error) => error.is_retryable(),
            AccountLinkError::Store(error) => error.is_retryable(),
            AccountLinkError::Candidates(error) => error.is_retryable(),
            AccountLinkError::Contact { source, .. } => source.is_retryable(),
            AccountLinkError::NotSeenYet { .. } => true,
            AccountLinkError::Account { source, .. } => source.is_retryable(),
        }
    }
}

/// Links contacts to accounts; see the [module documentation](self).
pub struct AccountLinker<U: UnitOfWork> {
    service: Arc<CommandService<U>>,
    source: Arc<dyn AccountCandidateSource>,
    people: Option<Arc<dyn CompanyPeopleSource>>,
    config: MatchConfig,
    tenant: TenantId,
}

impl<U: UnitOfWork> fmt::Debug for AccountLinker<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountLinker")
            .field("source", &self.source)
            .field("people", &self.people)
            .field("config", &self.config)
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

/// The company evidence a contact's details hold.
pub fn evidence_of(contact: &Contact) -> CompanyEvidence {
    let details = &contact.details;
    CompanyEvidence::of(&IdentityRecord {
        emails: details
            .emails()
            .iter()
            .map(|email| email.value.clone())
            .collect(),
        company_domain: details.company_domain().cloned(),
        company_name: details.company_name().cloned(),
        ..IdentityRecord::default()
    })
}

impl<U: UnitOfWork> AccountLinker<U> {
    /// A linker of `tenant`'s contacts writing through `service`, finding accounts in `source`
    /// with the people's thresholds `config`.
    pub fn new(
        service: Arc<CommandService<U>>,
        source: Arc<dyn AccountCandidateSource>,
        config: MatchConfig,
        tenant: TenantId,
    ) -> Self {
        Self {
            service,
            source,
            people: None,
            config,
            tenant,
        }
    }

    /// Links an account's people from the account's side too, found in `people` (see the
    /// [module documentation](self)).
    #[must_use]
    pub fn with_people(mut self, people: Arc<dyn CompanyPeopleSource>) -> Self {
        self.people = Some(people);
        self
    }

    /// Links every person the account's domains and name point to (see
    /// [`link_contact`](Self::link_contact)), in contact id order: each is weighed against
    /// every account, so this account wins only where it is the best. Nothing for an account
    /// not open, or without a people source. Returns what linking each did.
    pub async fn link_people_of(
        &self,
        account: AccountId,
    ) -> Result<Vec<(ContactId, AccountLink)>, AccountLinkError> {
        let Some(people) = &self.people else {
            return Ok(Vec::new());
        };
        let (state, _) = self
            .service
            .load::<Account>(&self.tenant, account.0)
            .await
            .map_err(|source| AccountLinkError::Account { account, source })?;
        let Some(profile) = state.profile.filter(|p| p.status == AccountStatus::Active) else {
            return Ok(Vec::new());
        };
        let mut found = std::collections::BTreeSet::new();
        for company in account_company_keys(&profile.domains, &profile.name) {
            let mut after = None;
            loop {
                let page = people
                    .people_at(&self.tenant, company, after, PEOPLE_PAGE)
                    .await?;
                after = page.last().copied();
                let full = page.len() >= PEOPLE_PAGE;
                found.extend(page);
                if !full {
                    break;
                }
            }
        }
        let mut linked = Vec::with_capacity(found.len());
        for contact in found {
            // Already settled with this account: a member, or dismissed by a person.
            if profile.contacts.contains_key(&contact) || profile.dismissed.contains(&contact) {
                continue;
            }
            linked.push((contact, self.link_contact(contact).await?));
        }
        Ok(linked)
    }

    /// Waits (a bounded while) until the account candidates and the people have both seen the
    /// history through `position`.
    async fn wait_until_seen(
        &self,
        account: AccountId,
        position: GlobalPosition,
    ) -> Result<(), AccountLinkError> {
        let Some(people) = &self.people else {
            return Ok(());
        };
        let deadline = tokio::time::Instant::now() + SEEN_WAIT;
        loop {
            let accounts = self.source.seen_through(&self.tenant).await?;
            let persons = people.seen_through(&self.tenant).await?;
            if accounts >= Some(position) && persons >= Some(position) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(AccountLinkError::NotSeenYet { account, position });
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Links one contact as it stands now.
    pub async fn link_contact(&self, contact: ContactId) -> Result<AccountLink, AccountLinkError> {
        let tenant = &self.tenant;
        let (state, _) = self
            .service
            .load::<Contact>(tenant, contact.0)
            .await
            .map_err(|source| AccountLinkError::Contact { contact, source })?;
        if state.status != Some(ContactStatus::Active) {
            return Ok(AccountLink::NotLive);
        }
        let evidence = evidence_of(&state);
        if evidence.is_empty() {
            return Ok(AccountLink::NoEvidence);
        }
        let candidates = self
            .source
            .candidates(tenant, &evidence, &self.config, 10)
            .await?;
        let to_review = match decide(&candidates) {
            Decision::Link(assessment) => {
                let account = assessment.account;
                return Ok(if self.join(contact, account).await? {
                    AccountLink::Linked(account)
                } else {
                    AccountLink::NoMatch
                });
            }
            Decision::Review(review) => review,
            Decision::Nothing => return Ok(AccountLink::NoMatch),
        };
        let mut suggested = Vec::new();
        for assessment in to_review {
            let account = assessment.account;
            let meta = CommandMeta::by(actor());
            match self
                .service
                .execute::<Account>(
                    tenant,
                    account.0,
                    AccountCommand::SuggestContact {
                        contact,
                        assessment,
                    },
                    &meta,
                )
                .await
            {
                Ok(_) => suggested.push(account),
                // Closed or archived since the read model saw it: nothing to suggest there.
                Err(CommandError::Rejected(refusal)) => {
                    tracing::debug!(%contact, account = %account.0, %refusal, "not suggested");
                }
                Err(source) => return Err(AccountLinkError::Account { account, source }),
            }
        }
        Ok(if suggested.is_empty() {
            AccountLink::NoMatch
        } else {
            AccountLink::Suggested(suggested)
        })
    }

    /// Makes `contact` a member of `account`, once: keyed per pair, so a contact who left the
    /// account later is not added back by the linker. Whether they are a member now (not when
    /// the account was closed or archived since the read model saw it).
    async fn join(&self, contact: ContactId, account: AccountId) -> Result<bool, AccountLinkError> {
        let key = format!("{CHECKPOINT}/{}/{}", contact.0, account.0);
        let meta = CommandMeta::by(actor())
            .with_command_id(derive_id(contact.0, &key))
            .with_idempotency_key(key);
        match self
            .service
            .execute::<Account>(
                &self.tenant,
                account.0,
                AccountCommand::AddContact {
                    contact,
                    role: ContactRole::Other,
                },
                &meta,
            )
            .await
        {
            // A role of their own already: a person recorded it, the linker has nothing to add.
            Ok(_) | Err(CommandError::Rejected(AccountError::AlreadyAContact { .. })) => Ok(true),
            Err(CommandError::Rejected(refusal)) => {
                tracing::debug!(%contact, account = %account.0, %refusal, "not linked");
                Ok(false)
            }
            Err(source) => Err(AccountLinkError::Account { account, source }),
        }
    }

    /// Follows the history from the linker's checkpoint and links every contact created, or
    /// whose email addresses or company details changed, once per page; returns the events
    /// read.
    pub async fn tick(&self) -> Result<usize, AccountLinkError> {
        crate::scheduler::follow(
            self.service.work(),
            &self.tenant,
            CHECKPOINT,
            |events| async move {
                let mut contacts = Vec::new();
                let mut accounts: Vec<(AccountId, GlobalPosition)> = Vec::new();
                for event in &events {
                    if self.people.is_some()
                        && ACCOUNT_SIDE.contains(&event.event_type.as_str())
                        && let Some(id) = event
                            .stream
                            .as_str()
                            .strip_prefix("account-")
                            .and_then(|id| Uuid::parse_str(id).ok())
                    {
                        let account = AccountId::from_uuid(id);
                        match accounts.iter_mut().find(|(seen, _)| *seen == account) {
                            Some((_, position)) => *position = event.position,
                            None => accounts.push((account, event.position)),
                        }
                    }
                }
                for event in events {
                    let Some(id) = event
                        .stream
                        .as_str()
                        .strip_prefix("contact-")
                        .and_then(|id| uuid::Uuid::parse_str(id).ok())
                    else {
                        continue;
                    };
                    let relevant = matches!(
                        event.event_type.as_str(),
                        "ContactCreated" | "ContactEmailAdded" | "ContactDetailChanged"
                    );
                    if relevant && !contacts.contains(&ContactId(id)) {
                        contacts.push(ContactId(id));
                    }
                }
                for contact in contacts {
                    let outcome = self.link_contact(contact).await;
                    if let Some(error) = retryable(outcome, || format!("contact {}", contact.0)) {
                        return Err(error);
                    }
                }
                for (account, position) in accounts {
                    self.wait_until_seen(account, position).await?;
                    let outcome = self.link_people_of(account).await;
                    let what = || format!("the people of account {}", account.0);
                    if let Some(error) = retryable(outcome, what) {
                        return Err(error);
                    }
                }
                Ok::<(), AccountLinkError>(())
            },
        )
        .await
    }

    /// Runs [`tick`](Self::tick) every `every` until `stop`.
    pub async fn run(&self, every: std::time::Duration, stop: tokio::sync::watch::Receiver<bool>) {
        crate::scheduler::every(every, stop, ("account linking", &self.tenant), || {
            self.tick()
        })
        .await;
    }
}

/// The failure of `outcome` that must stop the page, if any: a retryable one (its checkpoint
/// stays, the next tick retries it). Any other would fail the same way every time, so it is
/// logged and passed over.
fn retryable<T>(
    outcome: Result<T, AccountLinkError>,
    what: impl FnOnce() -> String,
) -> Option<AccountLinkError> {
    match outcome {
        Ok(_) => None,
        Err(error) if error.is_retryable() => Some(error),
        Err(error) => {
            tracing::warn!(%error, "{} could not be linked; passed over", what());
            None
        }
    }
}

/// A read model's checkpoint: the position through which it has seen the history.
fn checkpoint_of<'a, M, D>(
    documents: &'a D,
    tenant: &'a TenantId,
) -> BoxFuture<'a, Result<Option<GlobalPosition>, StorageError>>
where
    M: crm_projections::ReadModel + 'a,
    D: DocumentStore<M>,
{
    Box::pin(documents.checkpoint(tenant))
}

fn actor() -> Actor {
    Actor::System {
        component: COMPONENT.into(),
    }
}
