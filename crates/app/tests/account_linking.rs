//! Contacts linked to the accounts they work for, on every backend: an auto-link joins, a
//! review-band match and a tie are suggested for review, a dismissal and a departure stick,
//! and following the history twice records nothing twice.

#[macro_use]
mod support;

use std::sync::Arc;

use crm_app::UnitOfWork;
use crm_app::account_linking::{
    AccountIndexCandidates, AccountLink, AccountLinker, IdentityIndexPeople,
};
use crm_domain::account::{Account, AccountCommand};
use crm_domain::contact::{Contact, ContactCommand, Detail, DetailChange, Provenance};
use crm_domain::identity::{CompanyDomain, CompanyName, EmailAddress, MatchConfig, PersonName};
use crm_domain::{AccountId, ContactId, UserId};
use crm_eventstore::{EventStore as _, GlobalPosition};
use crm_projections::account360::{
    Account360Model, Account360Query, AccountReviewCursor, AccountReviewQueue,
};
use crm_projections::{DocumentStore, MemoryStorage, Projector, ProjectorOptions};
use support::{meta, service, t0, tenant};
use uuid::Uuid;

on_every_backend!(
    people_are_linked_to_their_accounts_once,
    a_lead_records_the_account_of_its_work_address,
    an_account_opened_after_its_people_finds_them,
);

const ENGINES: AccountId = AccountId::from_uuid(Uuid::from_u128(0xe1e1));
const ACME_UK: AccountId = AccountId::from_uuid(Uuid::from_u128(0xac01));
const ACME_DE: AccountId = AccountId::from_uuid(Uuid::from_u128(0xac02));
const ADA: ContactId = ContactId(Uuid::from_u128(0xada));
const GRACE: ContactId = ContactId(Uuid::from_u128(0x96ace));
const BOB: ContactId = ContactId(Uuid::from_u128(0xb0b));
const NOBODY: ContactId = ContactId(Uuid::from_u128(0x0b0d1));

async fn open_account<U: UnitOfWork>(
    service: &crm_app::CommandService<U>,
    account: AccountId,
    name: &str,
    domain: &str,
) {
    service
        .execute::<Account>(
            &tenant(),
            account.0,
            AccountCommand::Open {
                account,
                name: CompanyName::new(name).expect("a name"),
                owner: UserId(Uuid::from_u128(0xa11ce)),
                domains: vec![CompanyDomain::parse(domain).expect("a domain")],
                industry: None,
                employees: None,
                addresses: Vec::new(),
            },
            &meta(),
        )
        .await
        .expect("opened");
}

async fn create_contact<U: UnitOfWork>(
    service: &crm_app::CommandService<U>,
    contact: ContactId,
    given: &str,
    email: Option<&str>,
    company: Option<&str>,
) {
    let mut changes = vec![DetailChange::Set(Detail::GivenName(
        PersonName::new(given).ok(),
    ))];
    if let Some(email) = email {
        changes.push(DetailChange::AddEmail(
            EmailAddress::parse(email).expect("an email"),
        ));
    }
    if let Some(company) = company {
        changes.push(DetailChange::Set(Detail::CompanyName(
            CompanyName::new(company).ok(),
        )));
    }
    service
        .execute::<Contact>(
            &tenant(),
            contact.0,
            ContactCommand::Create {
                contact_id: contact,
                provenance: Provenance::new("crm-ui", t0()),
                changes,
            },
            &meta(),
        )
        .await
        .expect("created");
}

async fn account<U: UnitOfWork>(
    service: &crm_app::CommandService<U>,
    account: AccountId,
) -> crm_domain::account::AccountProfile {
    service
        .load::<Account>(&tenant(), account.0)
        .await
        .expect("loads")
        .0
        .profile
        .expect("opened")
}

/// Catches `projector` up until `ready` holds: on PostgreSQL the newest events may be held
/// back a moment (the store delivers nothing past a transaction that may still commit).
async fn catch_up_until<S, F, Fut>(
    projector: &mut Projector<S, MemoryStorage<Account360Model>, Account360Model>,
    mut ready: F,
) where
    S: crm_eventstore::EventStore,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        projector.catch_up().await.expect("projected");
        if ready().await {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the account 360 caught up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Whether the account 360 holds every account of `opened`.
fn has_accounts(
    accounts: &Arc<MemoryStorage<Account360Model>>,
    opened: &[AccountId],
) -> impl std::future::Future<Output = bool> + use<> {
    let (accounts, opened) = (Arc::clone(accounts), opened.to_vec());
    async move {
        for account in opened {
            let found = accounts
                .lookup(&tenant(), &Account360Query { account })
                .await
                .expect("the model reads");
            if found.is_none() {
                return false;
            }
        }
        true
    }
}

/// How many events the tenant's history holds.
async fn history_len<U: UnitOfWork>(work: &U) -> usize {
    work.store()
        .read_all(&tenant(), GlobalPosition::default(), 10_000)
        .await
        .expect("reads")
        .len()
}

async fn people_are_linked_to_their_accounts_once<U: UnitOfWork + Clone>(work: U) {
    let (service, _) = service(work.clone());
    open_account(
        &service,
        ENGINES,
        "Analytical Engines Ltd.",
        "engines.example",
    )
    .await;
    open_account(&service, ACME_UK, "Acme UK", "acme.example").await;
    open_account(&service, ACME_DE, "Acme Deutschland GmbH", "acme.example").await;
    let accounts = Arc::new(MemoryStorage::new(Account360Model));
    let mut projector = Projector::new(
        work.store().clone(),
        Arc::clone(&accounts),
        tenant(),
        ProjectorOptions::default(),
    );
    catch_up_until(&mut projector, || {
        has_accounts(&accounts, &[ENGINES, ACME_UK, ACME_DE])
    })
    .await;

    // A work address at the account's domain and its name: linked.
    create_contact(
        &service,
        ADA,
        "Ada",
        Some("ada@engines.example"),
        Some("Analytical Engines"),
    )
    .await;
    // Free mail and a name close to the account's: suggested for review.
    create_contact(
        &service,
        GRACE,
        "Grace",
        Some("grace@gmail.com"),
        Some("Analytical Engine Co"),
    )
    .await;
    // A domain two accounts share, and no name to tell them apart: both suggested.
    create_contact(&service, BOB, "Bob", Some("bob@acme.example"), None).await;
    // Nothing about a company.
    create_contact(&service, NOBODY, "Nobody", Some("nobody@gmail.com"), None).await;

    let linker = AccountLinker::new(
        Arc::clone(&service),
        Arc::new(AccountIndexCandidates(Arc::clone(&accounts))),
        MatchConfig::default(),
        tenant(),
    );
    // On PostgreSQL the newest contacts may be held back a moment; the linker sees them on a
    // later tick, as `crm work` would.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        linker.tick().await.expect("linked");
        let waiting = account(&service, ACME_DE).await.suggested.len();
        let linked = account(&service, ENGINES).await.contacts.len();
        if waiting == 1 && linked == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "everyone was looked at"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let engines = account(&service, ENGINES).await;
    assert!(engines.contacts.contains_key(&ADA), "{engines:?}");
    assert!(engines.suggested.contains_key(&GRACE), "{engines:?}");
    for acme in [ACME_UK, ACME_DE] {
        let acme = account(&service, acme).await;
        assert!(acme.contacts.is_empty());
        assert_eq!(acme.suggested.keys().collect::<Vec<_>>(), [&BOB]);
    }
    assert_eq!(
        linker.link_contact(NOBODY).await.expect("links"),
        AccountLink::NoEvidence
    );

    // Following the history again records nothing: every step is idempotent.
    let before = history_len(&work).await;
    assert_eq!(
        linker.link_contact(ADA).await.expect("links"),
        AccountLink::Linked(ENGINES)
    );
    linker.link_contact(GRACE).await.expect("links");
    linker.link_contact(BOB).await.expect("links");
    let after = history_len(&work).await;
    assert_eq!(before, after, "nothing recorded twice");

    // A person dismisses Grace; Ada leaves the company. Neither comes back.
    for command in [
        AccountCommand::DismissSuggestion { contact: GRACE },
        AccountCommand::EndContactRole { contact: ADA },
    ] {
        service
            .execute::<Account>(&tenant(), ENGINES.0, command, &meta())
            .await
            .expect("recorded");
    }
    linker.link_contact(GRACE).await.expect("links");
    linker.link_contact(ADA).await.expect("links");
    let engines = account(&service, ENGINES).await;
    assert!(engines.contacts.is_empty(), "{engines:?}");
    assert!(engines.suggested.is_empty(), "{engines:?}");

    // The review queue: the two Acme accounts, waiting for a person.
    let waiting_for_review = || {
        let accounts = Arc::clone(&accounts);
        async move {
            let queue = accounts
                .scan(&tenant(), &AccountReviewQueue::first(10))
                .await
                .expect("the queue reads");
            queue.len() == 2 && queue.iter().all(|review| review.account != ENGINES)
        }
    };
    catch_up_until(&mut projector, waiting_for_review).await;
    let queue = accounts
        .scan(&tenant(), &AccountReviewQueue::first(10))
        .await
        .expect("the queue reads");
    // Paged one account at a time from a cursor: the same accounts, in the same order.
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = accounts
            .scan(&tenant(), &AccountReviewQueue { limit: 1, after })
            .await
            .expect("a page reads");
        let Some(last) = page.last() else {
            break;
        };
        let cursor = AccountReviewCursor::after(last);
        assert_eq!(AccountReviewCursor::parse(&cursor.to_text()), Some(cursor));
        after = Some(cursor);
        paged.extend(page);
        assert!(paged.len() <= queue.len(), "paging ends");
    }
    assert_eq!(paged, queue);
    let mut waiting: Vec<AccountId> = queue.iter().map(|review| review.account).collect();
    waiting.sort();
    assert_eq!(waiting, [ACME_UK, ACME_DE]);
    assert!(
        queue
            .iter()
            .all(|review| review.suggested[0].contact == BOB)
    );
}

async fn a_lead_records_the_account_of_its_work_address<U: UnitOfWork + Clone>(work: U) {
    use crm_app::intake::{
        IntakeSettings, IntakeWorker, LeadDelivery, MemoryInbox, Submitted, submit,
    };
    use crm_domain::identity::{CountryCode, MatchVerdict};
    use crm_domain::lead::Lead;

    let (service, _) = service(work.clone());
    open_account(
        &service,
        ENGINES,
        "Analytical Engines Ltd.",
        "engines.example",
    )
    .await;
    let accounts = Arc::new(MemoryStorage::new(Account360Model));
    let mut projector = Projector::new(
        work.store().clone(),
        Arc::clone(&accounts),
        tenant(),
        ProjectorOptions::default(),
    );
    catch_up_until(&mut projector, || has_accounts(&accounts, &[ENGINES])).await;
    let inbox = MemoryInbox::default();
    let form = |id: &str, email: &str| LeadDelivery {
        source: "web-form".into(),
        external_id: id.into(),
        payload: serde_json::json!({
            "firstName": "Ada", "lastName": "Lovelace", "email": email, "country": "GB",
        }),
    };
    let stored = submit(
        &inbox,
        &tenant(),
        &[
            form("evt-work", "ada@engines.example"),
            form("evt-free", "ada.lovelace@gmail.com"),
        ],
        t0(),
    )
    .await
    .expect("stored");
    let worker = IntakeWorker::new(
        Arc::clone(&service),
        inbox,
        tenant(),
        IntakeSettings {
            default_region: CountryCode::new("GB").expect("a country"),
            routing: None,
            batch: 10,
            parallelism: 1,
            lease: chrono::TimeDelta::seconds(30),
            retry_after: chrono::TimeDelta::zero(),
            custom_fields: std::collections::BTreeMap::new(),
        },
    )
    .with_accounts(Arc::new(AccountIndexCandidates(accounts)));
    assert_eq!(worker.drain().await.expect("drains"), 2);
    let lead = |submitted: Submitted| {
        let service = Arc::clone(&service);
        async move {
            let (Submitted::Accepted { id } | Submitted::Duplicate { id }) = submitted;
            service.load::<Lead>(&tenant(), id).await.expect("loads").0
        }
    };
    let at_work = lead(stored[0]).await;
    let found = at_work
        .account_match
        .expect("the work address names the account");
    assert_eq!(found.account, ENGINES);
    assert_eq!(found.verdict, MatchVerdict::AutoLink);
    let free_mail = lead(stored[1]).await;
    assert_eq!(
        free_mail.account_match, None,
        "free mail says nothing of a company"
    );
}

async fn an_account_opened_after_its_people_finds_them<U: UnitOfWork + Clone>(work: U) {
    use crm_projections::identity::IdentityIndexModel;

    let (service, _) = service(work.clone());
    // The people first: a work address, a free-mail address with the company's name, and a
    // contact of another company.
    create_contact(
        &service,
        ADA,
        "Ada",
        Some("ada@eu.engines.example"),
        Some("Analytical Engines"),
    )
    .await;
    create_contact(
        &service,
        GRACE,
        "Grace",
        Some("grace@gmail.com"),
        Some("Analytical Engine Co"),
    )
    .await;
    create_contact(&service, BOB, "Bob", Some("bob@acme.example"), None).await;

    // Both read models kept current in the background, as `crm work` does.
    let accounts = Arc::new(MemoryStorage::new(Account360Model));
    let people = Arc::new(MemoryStorage::new(IdentityIndexModel::default()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let options = || ProjectorOptions {
        poll_interval: std::time::Duration::from_millis(10),
        ..ProjectorOptions::default()
    };
    let mut account_projector = Projector::new(
        work.store().clone(),
        Arc::clone(&accounts),
        tenant(),
        options(),
    );
    let mut people_projector = Projector::new(
        work.store().clone(),
        Arc::clone(&people),
        tenant(),
        options(),
    );
    let projecting = {
        let stopped = stopped.clone();
        tokio::spawn(async move {
            let (a, p) = tokio::join!(
                account_projector.run(stopped.clone()),
                people_projector.run(stopped)
            );
            a.and(p)
        })
    };
    let linker = AccountLinker::new(
        Arc::clone(&service),
        Arc::new(AccountIndexCandidates(Arc::clone(&accounts))),
        MatchConfig::default(),
        tenant(),
    )
    .with_people(Arc::new(IdentityIndexPeople(Arc::clone(&people))));

    // Nobody has an account yet; then the account is opened.
    linker.tick().await.expect("followed");
    assert!(
        linker
            .link_people_of(ENGINES)
            .await
            .expect("nothing open")
            .is_empty()
    );
    open_account(
        &service,
        ENGINES,
        "Analytical Engines Ltd.",
        "engines.example",
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match linker.tick().await {
            Ok(_) => {}
            // The read models had not seen the account yet: a later tick goes on.
            Err(error) if error.is_retryable() => {}
            Err(error) => panic!("the linker failed: {error}"),
        }
        let engines = account(&service, ENGINES).await;
        if engines.contacts.contains_key(&ADA) && engines.suggested.contains_key(&GRACE) {
            assert!(!engines.contacts.contains_key(&BOB), "{engines:?}");
            assert!(!engines.suggested.contains_key(&BOB), "{engines:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the account found its people: {engines:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Looking again records nothing on the account (its stream, read directly: on PostgreSQL
    // the tenant-wide history may hold back the newest events a moment).
    let version = || async {
        service
            .load::<Account>(&tenant(), ENGINES.0)
            .await
            .expect("loads")
            .1
    };
    let before = version().await;
    let again = linker.link_people_of(ENGINES).await.expect("links");
    assert_eq!(again, [(GRACE, AccountLink::Suggested(vec![ENGINES]))]);
    assert_eq!(version().await, before, "nothing recorded twice");
    let _ = stop.send(true);
    projecting.await.expect("joined").expect("projected");
}
