//! Shared fixtures of the application layer's tests: a unit of work per backend (a fresh
//! PostgreSQL database per test), a manual clock, and a unit of work that fails on purpose.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses part of the support"
)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use crm_app::routing::RoutingSettings;
use crm_app::uow::OutboxHealth;
use crm_app::{
    CommandMeta, CommandService, Committed, IdempotencyRecord, ManualClock, MemoryUnitOfWork,
    OutboxEntry, PostgresUnitOfWork, SqliteUnitOfWork, UnitOfWork, Work, WorkError,
};
use crm_domain::Actor;
use crm_domain::contact::{Contact, ContactCommand, Provenance};
use crm_domain::identity::CountryCode;
use crm_domain::lead::{Campaign, Lead, LeadCommand, LeadSource, LeadSubmission};
use crm_domain::opportunity::{Opportunity, OpportunityCommand, Pipeline};
use crm_domain::roster::{Rep, RepCommand, Team, TeamCommand, TerritoryMap, TerritoryMapCommand};
use crm_domain::routing::AssignmentStrategy;
use crm_domain::{ContactId, Currency, LeadId, Money, OpportunityId, TeamId, UserId};
use crm_eventstore::crypto::{SubjectId, SubjectKey};
use crm_eventstore::{
    AppendResult, ExpectedVersion, GlobalPosition, NewEvent, StoreError, StoreSettings, StreamId,
    TenantId,
};
use crm_testkit::postgres::TestDatabase;
use uuid::Uuid;

/// Runs each named test function, `async fn name<U: UnitOfWork + Clone>(work: U)`, once on the
/// in-memory unit of work (`memory::name`), once on a fresh PostgreSQL database
/// (`postgres::name`) and once on a fresh SQLite file (`sqlite::name`). Used at a test binary's root, after `#[macro_use] mod support;`.
#[allow(
    unused_macros,
    reason = "the scheduler's tests pass a deadline store too"
)]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let fixture = super::support::memory();
                    super::$name(fixture.work).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let fixture = super::support::postgres().await;
                    super::$name(fixture.work.clone()).await;
                    drop(fixture);
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let fixture = super::support::sqlite();
                    super::$name(fixture.work.clone()).await;
                    drop(fixture);
                }
            )*
        }
    };
}

/// [`on_every_backend!`] for tests that also take a second store of the backend: `memory:` is
/// the memory one, `postgres:` makes the PostgreSQL one from the test database's event store,
/// `sqlite:` the SQLite one from the file's database handle (each bound to the name between
/// the bars).
#[allow(unused_macros)]
macro_rules! on_every_backend_with {
    (memory: $memory:expr, postgres: |$store:ident| $postgres:expr, sqlite: |$file:ident| $sqlite:expr; $($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let fixture = super::support::memory();
                    super::$name(fixture.work, $memory).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let fixture = super::support::postgres().await;
                    let $store = fixture.work.event_store().clone();
                    super::$name(fixture.work.clone(), $postgres).await;
                    drop(fixture);
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let fixture = super::support::sqlite();
                    let $file = fixture.work.event_store().database().clone();
                    super::$name(fixture.work.clone(), $sqlite).await;
                    drop(fixture);
                }
            )*
        }
    };
}

/// The moment every test starts at.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .expect("a valid date")
}

/// The tenant of the tests.
pub fn tenant() -> TenantId {
    TenantId::new("acme").expect("a valid tenant")
}

/// A user acting.
pub fn user() -> Actor {
    Actor::User {
        id: crm_domain::UserId(Uuid::from_u128(0xa11ce)),
    }
}

/// A command by [`user`] with a fresh id.
pub fn meta() -> CommandMeta {
    CommandMeta::by(user())
}

/// A service over `work` on a manual clock at [`t0`].
pub fn service<U: UnitOfWork>(work: U) -> (Arc<CommandService<U>>, ManualClock) {
    let clock = ManualClock::new(t0());
    (
        Arc::new(CommandService::new(work, Arc::new(clock.clone())).with_max_attempts(64)),
        clock,
    )
}

/// A fresh lead's `Receive`.
pub fn receive(lead: LeadId, external_id: &str) -> LeadCommand {
    LeadCommand::Receive {
        lead_id: lead,
        source: LeadSource {
            system: "web-form".into(),
            external_event_id: external_id.into(),
        },
        raw_payload: serde_json::json!({ "email": "ada@example.com" }),
        requested_at: t0(),
    }
}

/// A valid `Capture` of Ada Lovelace of Analytical Engines.
pub fn capture() -> LeadCommand {
    LeadCommand::Capture {
        submission: LeadSubmission {
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            email: Some("ada@example.com".into()),
            company: Some("Analytical Engines".into()),
            country: Some("GB".into()),
            ..LeadSubmission::default()
        },
        campaign: Campaign::default(),
        default_region: CountryCode::new("GB").expect("a valid country"),
    }
}

/// Which backend a test runs on.
pub enum Backend {
    /// In memory.
    Memory,
    /// A fresh PostgreSQL database.
    Postgres,
    /// A fresh SQLite file.
    Sqlite,
}

/// A unit of work on a backend, keeping its test database alive.
pub struct Fixture<U> {
    /// The unit of work.
    pub work: U,
    /// The test database, dropped with the fixture.
    pub database: Option<TestDatabase>,
    /// The directory of the test's SQLite file, removed with the fixture.
    pub directory: Option<tempfile::TempDir>,
}

/// The in-memory unit of work.
pub fn memory() -> Fixture<MemoryUnitOfWork> {
    Fixture {
        work: MemoryUnitOfWork::default(),
        database: None,
        directory: None,
    }
}

/// The PostgreSQL unit of work on a fresh database.
pub async fn postgres() -> Fixture<PostgresUnitOfWork> {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let work = PostgresUnitOfWork::connect(store)
        .await
        .expect("the application's migrations apply");
    Fixture {
        work,
        database: Some(database),
        directory: None,
    }
}

/// The SQLite unit of work on a fresh file.
pub fn sqlite() -> Fixture<SqliteUnitOfWork> {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let database = crm_eventstore::sqlite::SqliteDatabase::open(directory.path().join("crm.db"))
        .expect("the SQLite file opens");
    let store = crm_eventstore::SqliteStore::open(database, StoreSettings::default())
        .expect("the event store's migrations apply");
    let work = SqliteUnitOfWork::open(store).expect("the application's migrations apply");
    Fixture {
        work,
        database: None,
        directory: Some(directory),
    }
}

/// A unit of work that fails on purpose, around a real one.
///
/// Writes are counted together, from 0: commits of [`Work`] and the service's plain appends
/// (with or without a subject key).
/// - `lose_answer_of`: the n-th write is carried out, then reported as a lost connection, as
///   when a process dies between committing and hearing the answer.
/// - `fail_before`: the n-th write is refused before anything is written.
/// - `forget_checkpoints`: checkpoint saves are dropped, so every event is delivered again.
#[derive(Debug, Clone)]
pub struct Faulty<U> {
    /// The real unit of work.
    pub inner: U,
    commits: Arc<AtomicUsize>,
    /// Writes (by index) whose answer is lost after they commit.
    pub lose_answer_of: Arc<Vec<usize>>,
    /// Writes (by index) refused before anything is written.
    pub fail_before: Arc<Vec<usize>>,
    /// Whether checkpoint saves are dropped.
    pub forget_checkpoints: bool,
}

impl<U> Faulty<U> {
    /// `inner`, failing nothing yet.
    pub fn new(inner: U) -> Self {
        Self {
            inner,
            commits: Arc::default(),
            lose_answer_of: Arc::default(),
            fail_before: Arc::default(),
            forget_checkpoints: false,
        }
    }

    /// How many writes were attempted.
    pub fn commits(&self) -> usize {
        self.commits.load(Ordering::SeqCst)
    }
}

fn lost(reason: &str) -> WorkError {
    WorkError::Store(StoreError::Unavailable {
        reason: reason.into(),
        source: None,
    })
}

impl<U: UnitOfWork + Clone> UnitOfWork for Faulty<U> {
    type Store = U::Store;
    type Keys = U::Keys;

    fn store(&self) -> &U::Store {
        self.inner.store()
    }

    fn keys(&self) -> &U::Keys {
        self.inner.keys()
    }

    fn settings(&self) -> &StoreSettings {
        self.inner.settings()
    }

    async fn idempotency_record(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, WorkError> {
        self.inner.idempotency_record(tenant, key).await
    }

    async fn commit(&self, work: Work) -> Result<Committed, WorkError> {
        let index = self.commits.fetch_add(1, Ordering::SeqCst);
        if self.fail_before.contains(&index) {
            return Err(lost("injected: the connection broke before the commit"));
        }
        let committed = self.inner.commit(work).await?;
        if self.lose_answer_of.contains(&index) {
            return Err(lost("injected: the commit's answer was lost"));
        }
        Ok(committed)
    }

    async fn append(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<AppendResult, WorkError> {
        let index = self.commits.fetch_add(1, Ordering::SeqCst);
        if self.fail_before.contains(&index) {
            return Err(lost("injected: the connection broke before the append"));
        }
        let appended = self.inner.append(tenant, stream, expected, events).await?;
        if self.lose_answer_of.contains(&index) {
            return Err(lost("injected: the append's answer was lost"));
        }
        Ok(appended)
    }

    async fn append_with_subject_key(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[NewEvent],
        subject: &SubjectId,
        key: &SubjectKey,
    ) -> Result<Option<AppendResult>, WorkError> {
        // Counted as a commit only when it appended: a backend that cannot check the key in
        // the same round trip answers `None`, and the service then appends through `append`.
        let index = self.commits.load(Ordering::SeqCst);
        if self.fail_before.contains(&index) {
            self.commits.fetch_add(1, Ordering::SeqCst);
            return Err(lost("injected: the connection broke before the append"));
        }
        let appended = self
            .inner
            .append_with_subject_key(tenant, stream, expected, events, subject, key)
            .await?;
        if appended.is_some() {
            let index = self.commits.fetch_add(1, Ordering::SeqCst);
            if self.lose_answer_of.contains(&index) {
                return Err(lost("injected: the append's answer was lost"));
            }
        }
        Ok(appended)
    }

    async fn claim_outbox(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, WorkError> {
        self.inner.claim_outbox(tenant, now, lease, limit).await
    }

    async fn outbox_delivered(
        &self,
        tenant: &TenantId,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        self.inner.outbox_delivered(tenant, id, at).await
    }

    async fn outbox_failed(
        &self,
        tenant: &TenantId,
        id: Uuid,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        self.inner.outbox_failed(tenant, id, error, retry_at).await
    }

    async fn outbox_parked(
        &self,
        tenant: &TenantId,
        id: Uuid,
        error: &str,
        at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        self.inner.outbox_parked(tenant, id, error, at).await
    }

    async fn outbox_replay_parked(
        &self,
        tenant: &TenantId,
        at: DateTime<Utc>,
    ) -> Result<u64, WorkError> {
        self.inner.outbox_replay_parked(tenant, at).await
    }

    async fn outbox_health(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<OutboxHealth, WorkError> {
        self.inner.outbox_health(tenant, now).await
    }

    async fn outbox(&self, tenant: &TenantId) -> Result<Vec<OutboxEntry>, WorkError> {
        self.inner.outbox(tenant).await
    }

    async fn alerts(
        &self,
        tenant: &TenantId,
    ) -> Result<std::collections::BTreeMap<String, crm_app::uow::AlertState>, WorkError> {
        self.inner.alerts(tenant).await
    }

    async fn commit_alerts(
        &self,
        tenant: &TenantId,
        changes: Vec<crm_app::uow::AlertChange>,
    ) -> Result<Vec<String>, WorkError> {
        self.inner.commit_alerts(tenant, changes).await
    }

    async fn checkpoint(
        &self,
        tenant: &TenantId,
        workflow: &str,
    ) -> Result<Option<GlobalPosition>, WorkError> {
        self.inner.checkpoint(tenant, workflow).await
    }

    async fn save_checkpoint(
        &self,
        tenant: &TenantId,
        workflow: &str,
        position: GlobalPosition,
    ) -> Result<(), WorkError> {
        if self.forget_checkpoints {
            return Ok(());
        }
        self.inner.save_checkpoint(tenant, workflow, position).await
    }
}

/// A roster as the routing and scheduler tests use it: Ada (with her own webhook) and Bob,
/// online, in team "Inside sales" (round-robin, led by `leader`, with a team webhook), the
/// fallback team of a territory map with no rules.
pub struct Roster {
    /// Where routing finds the map.
    pub settings: RoutingSettings,
    /// The team.
    pub team: TeamId,
    /// Ada.
    pub ada: UserId,
    /// Bob.
    pub bob: UserId,
    /// The team lead (not a member).
    pub leader: UserId,
}

/// Ada's webhook; Bob relies on his team's.
pub const ADA_WEBHOOK: &str = "https://hooks.example.com/ada";
/// The team's webhook.
pub const TEAM_WEBHOOK: &str = "https://hooks.example.com/inside-sales";

/// Sets up a [`Roster`] with round-robin weights `(ada, bob)`.
pub async fn roster<U: UnitOfWork>(service: &CommandService<U>, weights: (u32, u32)) -> Roster {
    let (ada, bob, leader) = (
        UserId(Uuid::now_v7()),
        UserId(Uuid::now_v7()),
        UserId(Uuid::now_v7()),
    );
    for (rep, name, weight, endpoint) in [
        (ada, "Ada", weights.0, Some(ADA_WEBHOOK.to_owned())),
        (bob, "Bob", weights.1, None),
    ] {
        for command in [
            RepCommand::Register {
                rep,
                display_name: name.into(),
                email: format!("{}@example.com", name.to_lowercase()),
                capacity: 1000,
                weight,
                skills: BTreeSet::new(),
                endpoint,
            },
            RepCommand::GoOnline,
        ] {
            service
                .execute::<Rep>(&tenant(), rep.0, command, &meta())
                .await
                .expect("the rep is on the roster");
        }
    }
    let team = TeamId(Uuid::now_v7());
    for command in [
        TeamCommand::Create {
            team_id: team,
            name: "Inside sales".into(),
            strategy: AssignmentStrategy::WeightedRoundRobin,
            leader: Some(leader),
            endpoint: Some(TEAM_WEBHOOK.into()),
        },
        TeamCommand::AddMember { rep: ada },
        TeamCommand::AddMember { rep: bob },
    ] {
        service
            .execute::<Team>(&tenant(), team.0, command, &meta())
            .await
            .expect("the team is set up");
    }
    let map = Uuid::now_v7();
    service
        .execute::<TerritoryMap>(
            &tenant(),
            map,
            TerritoryMapCommand::Define {
                map_id: map,
                rules: vec![],
                fallback_team: team,
            },
            &meta(),
        )
        .await
        .expect("the map is defined");
    Roster {
        settings: RoutingSettings { territory_map: map },
        team,
        ada,
        bob,
        leader,
    }
}

/// A lead received and captured (Ada Lovelace's submission).
pub async fn captured_lead<U: UnitOfWork>(service: &CommandService<U>) -> LeadId {
    let lead = LeadId(Uuid::now_v7());
    for command in [receive(lead, &format!("evt-{}", lead.0)), capture()] {
        service
            .execute::<Lead>(&tenant(), lead.0, command, &meta())
            .await
            .expect("the lead is captured");
    }
    lead
}

/// The owner of the deals the helpers below open.
pub const DEAL_OWNER: UserId = UserId(Uuid::from_u128(0x5e9));

/// A contact created from the CRM's own UI, with no details.
pub async fn create_contact<U: UnitOfWork>(service: &CommandService<U>) -> ContactId {
    let contact = ContactId(Uuid::now_v7());
    service
        .execute::<Contact>(
            &tenant(),
            contact.0,
            ContactCommand::Create {
                contact_id: contact,
                provenance: Provenance::new("crm-ui", t0()),
                changes: vec![],
            },
            &meta(),
        )
        .await
        .expect("the contact is created");
    contact
}

/// A contact with a deal opened and won; the contact, the deal, and the win's position.
#[allow(dead_code)]
pub async fn won_deal<U: UnitOfWork>(
    service: &CommandService<U>,
) -> (ContactId, OpportunityId, GlobalPosition) {
    let contact = create_contact(service).await;
    let opportunity = OpportunityId(Uuid::now_v7());
    let mut last = GlobalPosition::default();
    for command in [
        OpportunityCommand::Open {
            opportunity,
            name: "Engines for Babbage & Co".into(),
            contact,
            company: None,
            owner: DEAL_OWNER,
            amount: Money::new(500_000, Currency::new("EUR").expect("a currency")),
            expected_close: t0().date_naive(),
            pipeline: Pipeline::default(),
            stage: None,
        },
        OpportunityCommand::Win,
    ] {
        let done = service
            .execute::<Opportunity>(&tenant(), opportunity.0, command, &meta())
            .await
            .expect("the deal moves on");
        if let Some(event) = done.outcome.events.last() {
            last = last.max(event.position);
        }
    }
    (contact, opportunity, last)
}

/// A captured lead (Ada Lovelace's submission) converted with a deal; the lead and the
/// conversion's outcome.
#[allow(dead_code)]
pub async fn converted_lead<U: UnitOfWork>(
    service: &CommandService<U>,
) -> (LeadId, crm_app::Executed<crm_domain::lead::LeadEvent>) {
    let lead = captured_lead(service).await;
    let converted = service
        .execute::<Lead>(
            &tenant(),
            lead.0,
            LeadCommand::Convert(crm_domain::lead::ConversionRequest {
                existing_contact: None,
                open_opportunity: true,
            }),
            &meta(),
        )
        .await
        .expect("the lead converts");
    (lead, converted)
}
