//! The account 360 at the size: one group of accounts (a top account, regions under
//! it, offices under those) holding C contacts and A activities between them, plus deals and
//! tickets, read through `Account360Query` of the top account (the whole hierarchy summed
//! when read), call by call.
//!
//! The history is made by the aggregates' own `decide` (the test kit's `World`), so it is
//! what the CRM would record; it is applied through each adapter's real commit path in
//! batches, as a projector would, then the top account's 360 is read `runs` times after a
//! warm-up: in memory, in PostgreSQL (`PostgresDocuments`) and in SQLite
//! (`SqliteDocuments`). Target: p99 under 10 ms with 1,000 contacts and 10,000 activities.
//!
//! Sizes: `PROJ_BENCH_ACCOUNT_CONTACTS` (1,000), `PROJ_BENCH_ACCOUNT_ACTIVITIES` (10,000),
//! `PROJ_BENCH_ACCOUNT_RUNS` (2,000).

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use crm_domain::account::{AccountCommand, AccountHierarchyCommand, ContactRole};
use crm_domain::activity::{ActivityCommand, ActivityKind, Direction, NewActivity};
use crm_domain::identity::CompanyName;
use crm_domain::opportunity::{OpportunityCommand, Pipeline};
use crm_domain::ticket::TicketCommand;
use crm_domain::{
    ActivityId, Channel, CompanyId, ContactId, Currency, Money, OpportunityId, Priority, RecordRef,
    TicketId,
};
use crm_eventstore::sqlite::SqliteDatabase;
use crm_projections::account360::{Account360, Account360Model, Account360Query};
use crm_projections::{
    DocumentStore, MemoryStorage, PostgresDocuments, ProjectedEvent, SqliteDocuments,
};
use crm_testkit::world::{ALICE, World, as_user, minutes};
use uuid::Uuid;

use crate::rebuild::{bench_tenant, url};
use crate::report::{Quantiles, apply_in_batches, env_size, line, load, verdict};
use crate::support::BenchDatabase;

/// Regions under the top account, and offices under each region.
const REGIONS: u128 = 3;
const OFFICES_PER_REGION: u128 = 2;

/// Events applied per commit, as a projector's batch.
const BATCH: usize = 500;

fn account(n: u128) -> CompanyId {
    CompanyId(Uuid::from_u128(0xacc0_0000 + n))
}

/// The group's history: the accounts and their hierarchy, `contacts` contacts spread over the
/// accounts (or, unless `spread`, all at the top account: its contact list is then one large
/// document), a deal per five contacts (a fifth of them won), a ticket per ten contacts, and
/// `activities` calls, every other one logged on a contact rather than on the account.
fn history(contacts: u128, activities: u128, spread: bool) -> Vec<ProjectedEvent> {
    let mut world = World::new();
    let accounts = 1 + REGIONS + REGIONS * OFFICES_PER_REGION;
    let mut at = 0;
    let mut tick = || {
        at += 1;
        as_user(ALICE, minutes(at / 1_000))
    };
    for n in 0..accounts {
        world
            .account(
                account(n).0,
                AccountCommand::Open {
                    account: account(n),
                    name: CompanyName::new(&format!("Group company {n}")).expect("a name"),
                    owner: ALICE,
                    domains: Vec::new(),
                    industry: None,
                    employees: None,
                    addresses: Vec::new(),
                },
                &tick(),
            )
            .expect("the account opens");
    }
    for region in 1..=REGIONS {
        let offices = (0..OFFICES_PER_REGION).map(|office| {
            (
                1 + REGIONS + (region - 1) * OFFICES_PER_REGION + office,
                region,
            )
        });
        for (child, parent) in std::iter::once((region, 0)).chain(offices) {
            world
                .hierarchy(
                    AccountHierarchyCommand::SetParent {
                        account: account(child),
                        parent: Some(account(parent)),
                    },
                    &tick(),
                )
                .expect("no cycle");
        }
    }
    let eur = Currency::new("EUR").expect("a currency");
    let contact = |n: u128| ContactId(Uuid::from_u128(0xc000_0000 + n));
    for n in 0..contacts {
        let at_account = account(if spread { n % accounts } else { 0 });
        world
            .account(
                at_account.0,
                AccountCommand::AddContact {
                    contact: contact(n),
                    role: ContactRole::User,
                },
                &tick(),
            )
            .expect("the contact joins");
        if n % 5 == 0 {
            let deal = Uuid::from_u128(0xd000_0000 + n);
            world
                .opportunity(
                    deal,
                    OpportunityCommand::Open {
                        opportunity: OpportunityId(deal),
                        name: "Renewal".into(),
                        contact: contact(n),
                        company: Some(at_account),
                        owner: ALICE,
                        amount: Money::new(100_000, eur),
                        expected_close: NaiveDate::from_ymd_opt(2026, 6, 30).expect("a date"),
                        pipeline: Pipeline::default(),
                        stage: None,
                    },
                    &tick(),
                )
                .expect("the deal opens");
            if n % 25 == 0 {
                world
                    .opportunity(deal, OpportunityCommand::Win, &tick())
                    .expect("the deal is won");
            }
        }
        if n % 10 == 0 {
            let ticket = Uuid::from_u128(0x7000_0000 + n);
            world
                .ticket(
                    ticket,
                    TicketCommand::Open {
                        ticket: TicketId(ticket),
                        contact: contact(n),
                        subject: "Question".into(),
                        channel: Channel::Email,
                        priority: Priority::Normal,
                        message: None,
                        follow_up_of: None,
                        account: Some(at_account),
                    },
                    &tick(),
                )
                .expect("the ticket opens");
        }
    }
    for n in 0..activities {
        let id = Uuid::from_u128(0xe000_0000 + n);
        let ctx = tick();
        let record = if n % 2 == 0 {
            RecordRef::Account(account(if spread { n % accounts } else { 0 }))
        } else {
            RecordRef::Contact(contact(n % contacts.max(1)))
        };
        world
            .activity(
                id,
                ActivityCommand::Log(NewActivity {
                    activity: ActivityId(id),
                    kind: ActivityKind::Call,
                    records: vec![record],
                    occurred_at: ctx.now,
                    duration_seconds: Some(120),
                    direction: Some(Direction::Outbound),
                    participants: Vec::new(),
                    outcome: None,
                    subject: None,
                    body: None,
                    performed_by: None,
                }),
                &ctx,
            )
            .expect("the call is logged");
    }
    world.events().to_vec()
}

/// Reads the top account's 360 `runs` times after `runs / 10` warm-up reads.
async fn time_reads<S: DocumentStore<Account360Model>>(
    store: &S,
    runs: usize,
) -> (Quantiles, Account360) {
    let tenant = bench_tenant();
    let query = Account360Query {
        account: account(0),
    };
    let mut view = None;
    for _ in 0..runs / 10 {
        view = store
            .lookup(&tenant, &query)
            .await
            .expect("the read answers");
    }
    let mut timings: Vec<Duration> = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        view = store
            .lookup(&tenant, &query)
            .await
            .expect("the read answers");
        timings.push(started.elapsed());
    }
    (
        Quantiles::of(&mut timings),
        view.expect("the top account exists"),
    )
}

fn report(backend: &str, quantiles: &Quantiles, view: &Account360) {
    line(&format!(
        "account 360 ({backend}, {} own contacts): {quantiles} over the top account of {} accounts, {} contacts, {} activities, {} open deals, {} open tickets (target p99 < 10 ms: {})",
        view.own.contacts,
        view.rollup.accounts,
        view.rollup.contacts,
        view.rollup.activities,
        view.rollup.open_deals,
        view.rollup.open_tickets,
        verdict(quantiles.p99 < 10.0)
    ));
}

/// Runs the account 360 measurement on every backend.
pub(crate) fn run() {
    let contacts = u128::from(env_size("PROJ_BENCH_ACCOUNT_CONTACTS", 1_000));
    let activities = u128::from(env_size("PROJ_BENCH_ACCOUNT_ACTIVITIES", 10_000));
    let runs = usize::try_from(env_size("PROJ_BENCH_ACCOUNT_RUNS", 2_000)).unwrap_or(2_000);
    for spread in [true, false] {
        measure(contacts, activities, runs, spread);
    }
}

fn measure(contacts: u128, activities: u128, runs: usize, spread: bool) {
    let shape = if spread {
        "spread over the group"
    } else {
        "all at the top account"
    };
    let generating = Instant::now();
    let events = history(contacts, activities, spread);
    line(&format!(
        "account 360, contacts and activities {shape}: {} events generated through the aggregates in {:.1} s; load {}",
        events.len(),
        generating.elapsed().as_secs_f64(),
        load()
    ));
    crate::support::runtime().block_on(async {
        let memory = MemoryStorage::new(Account360Model);
        apply_in_batches(&memory, &events, BATCH).await;
        let (quantiles, view) = time_reads(&memory, runs).await;
        report("memory", &quantiles, &view);

        let database = BenchDatabase::create("proj_accounts").await;
        let postgres = PostgresDocuments::connect(&url(&database).await, 2, Account360Model)
            .await
            .expect("the account 360 table is made");
        let applying = Instant::now();
        apply_in_batches(&postgres, &events, BATCH).await;
        line(&format!(
            "account 360 (postgres): {} events applied in batches of {BATCH} in {:.1} s",
            events.len(),
            applying.elapsed().as_secs_f64()
        ));
        let (quantiles, view) = time_reads(&postgres, runs).await;
        report("postgres", &quantiles, &view);
        drop(postgres);
        database.drop_now().await;

        let directory = tempfile::tempdir().expect("a temporary directory");
        let sqlite = SqliteDocuments::open(
            SqliteDatabase::open(directory.path().join("accounts.db")).expect("the file opens"),
            Account360Model,
        )
        .expect("the account 360 table is made");
        let applying = Instant::now();
        apply_in_batches(&sqlite, &events, BATCH).await;
        line(&format!(
            "account 360 (sqlite): {} events applied in batches of {BATCH} in {:.1} s",
            events.len(),
            applying.elapsed().as_secs_f64()
        ));
        let (quantiles, view) = time_reads(&sqlite, runs).await;
        report("sqlite", &quantiles, &view);
    });
}
