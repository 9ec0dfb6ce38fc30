//! `crm`: the operator's and the auditor's command line of crm-core.
//!
//! ```text
//! crm serve --tokens tokens.json --listen 127.0.0.1:8080   # the HTTP app
//! crm token --tenant acme --role sales --name ada --tokens tokens.json
//! crm work --tenant acme --config host.json
//! crm audit manifest --tenant acme --out acme.manifest.json
//! crm audit verify --tenant acme [--manifest acme.manifest.json]
//! crm audit export --tenant acme --out acme.jsonl
//! crm audit verify --file acme.jsonl [--manifest acme.manifest.json]   # offline
//! crm audit history --tenant acme contact/0193…
//! crm audit replay --tenant acme --as-of 2026-03-03 [--business-time] customer 0193…
//! crm inbox status --tenant acme
//! crm outbox status --tenant acme
//! crm projections status --tenant acme
//! crm projections rebuild --tenant acme customer360
//! crm projections park --tenant acme sla [--at 812/4401]
//! crm projections unpark --tenant acme sla
//! crm migrate
//! crm store copy --from crm.db --to postgres://…
//! ```
//!
//! Every command keeps its data in the PostgreSQL database `DATABASE_URL` (or
//! `--database-url`) names or, without one, in the SQLite file `--database-file` (`./crm.db` by
//! default, created if missing): the embedded default, which needs no server.
//!
//! `crm work` runs everything of the application layer that acts on its own for one tenant
//! (workflows, the SLA pull-back, the queue drainer, the outbox relay; see `crm_app::host`)
//! until it receives SIGINT or SIGTERM, then finishes what it holds and exits. Killed at any
//! point (SIGKILL, a power cut) and started again, it loses and doubles nothing.

#[path = "crm/projections.rs"]
mod projections;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use crm_app::backend::ReadStore;
use crm_app::host::{Host, HostConfig};
use crm_app::intake::Inbox as _;
use crm_app::{
    Backend, CommandService, PostgresBackend, SqliteBackend, SystemClock, UnitOfWork as _,
};
use crm_eventstore::audit::{EXPORT_FORMAT, ExportHeader, ExportedEvent, verify_export};
use crm_eventstore::{EventStore, HeadManifest, TenantId};
use crm_projections::DocumentStore as _;

/// crm-core, an event-sourced CRM: the operator's and the auditor's commands. Every command
/// keeps its data in the PostgreSQL database `DATABASE_URL` (or `--database-url`) names, or
/// without one in the SQLite file `--database-file` (`./crm.db`, created if missing).
#[derive(Debug, Parser)]
#[command(name = "crm", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serves the HTTP app (JSON under /v1, /openapi.json, /healthz, /readyz, /metrics) and
    /// keeps the read models of every tenant a token acts for, until SIGINT or SIGTERM; then
    /// stops accepting, finishes the requests in flight and the projection batches, and exits.
    Serve(ServeArgs),
    /// Makes an API token: prints it once, and adds its hash to the tokens file.
    Token(TokenArgs),
    /// Loads a realistic data set into a tenant (teams, reps, territories, thousands of leads
    /// through the intake with duplicates among them, deals across every stage, tickets),
    /// through the real command paths. Running it again changes nothing.
    Demo(DemoArgs),
    /// Prints the HTTP API's OpenAPI 3.1 document (what `crm serve` answers at /openapi.json).
    Openapi,
    /// Runs the lead intake, the workflows, the SLA pull-back, the queue drainer and the outbox
    /// relay of one tenant until SIGINT or SIGTERM.
    Work(WorkArgs),
    /// The auditor's tools: verify the hash chains and seals, export a head manifest.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The intake inbox.
    #[command(subcommand)]
    Inbox(InboxCommand),
    /// The integration outbox.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// The read models' projections.
    #[command(subcommand)]
    Projections(ProjectionsCommand),
    /// Applies the event store's and the application's pending migrations, then exits.
    Migrate(Database),
    /// Moving a history between databases.
    #[command(subcommand)]
    Store(StoreCommand),
}

#[derive(Debug, Subcommand)]
enum StoreCommand {
    /// Copies every tenant's history (or those named) from one database to another, SQLite
    /// to PostgreSQL or back, with every hash chain byte for byte and the subject keys
    /// (shredded subjects stay shredded), then verifies the copy against the source's heads.
    /// Positions in the global order may differ; each stream's chain does not. Interrupted,
    /// it is simply run again: what the target has is skipped. The read models are rebuilt by
    /// the target's projectors; outbox and inbox rows are not copied, so drain them first
    /// (the command names any it leaves behind).
    Copy(CopyArgs),
}

#[derive(Debug, Args)]
struct CopyArgs {
    /// The source: a PostgreSQL connection string (`postgres://…`, or `host=… dbname=…`) or
    /// an existing SQLite file.
    #[arg(long)]
    from: String,
    /// The target: a PostgreSQL connection string or a SQLite file (created if missing). On
    /// PostgreSQL, connect as the role that owns the store's tables: an import writes event
    /// ids and recorded times as the source has them, which the application role may not.
    #[arg(long)]
    to: String,
    /// Copy only this tenant (repeat for several); every tenant with events by default.
    #[arg(long = "tenant")]
    tenants: Vec<String>,
    /// Events per imported batch (whole source transactions are kept together).
    #[arg(long, default_value_t = crm_eventstore::transfer::DEFAULT_COPY_BATCH)]
    batch: usize,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    database: Database,
    /// The address to listen on.
    #[arg(long, env = "CRM_LISTEN", default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// The tokens file: a JSON list of `{name, tenant, role, user, sha256}` (make entries with
    /// `crm token`). Roles: admin, sales, support, auditor, integration.
    #[arg(long, env = "CRM_TOKENS")]
    tokens: PathBuf,
    /// The pipelines deals open in: a JSON list of pipeline configurations, the first the
    /// default. Without it, the built-in default pipeline.
    #[arg(long, env = "CRM_PIPELINES")]
    pipelines: Option<PathBuf>,
    /// The SLA policies the SLA lists are measured against: a JSON list of policies.
    #[arg(long, env = "CRM_SLA_POLICIES")]
    sla_policies: Option<PathBuf>,
    /// The data dictionary: JSON `{"fields": [...]}`, each governed field with its entity,
    /// type, conflict policy (`last_write_wins`, `source_precedence` with an `order`,
    /// `manual_review`, `owner_only` with a `system_of_record`) and `definition_owner`.
    /// Checked at start: every problem is named and the server does not start. Without it no
    /// field is governed.
    #[arg(long, env = "CRM_DATA_DICTIONARY")]
    data_dictionary: Option<PathBuf>,
    /// The largest request body, in bytes.
    #[arg(long, env = "CRM_BODY_LIMIT", default_value_t = 1024 * 1024)]
    body_limit: usize,
    /// Connections to PostgreSQL per pool (the store's, and each read model's). SQLite has
    /// one writer and a few readers per file.
    #[arg(long, env = "CRM_POOL_SIZE", default_value_t = 16)]
    pool_size: usize,
    /// Do not run the read models' projectors here (another process runs them).
    #[arg(long)]
    no_projections: bool,
}

#[derive(Debug, Args)]
struct DemoArgs {
    #[command(flatten)]
    target: TenantArgs,
    /// Lead deliveries.
    #[arg(long, default_value_t = 2_000)]
    leads: usize,
    /// Customers, each with a deal (every other one with a ticket).
    #[arg(long, default_value_t = 500)]
    customers: usize,
}

#[derive(Debug, Args)]
struct TokenArgs {
    /// The tenant the token acts for.
    #[arg(long)]
    tenant: String,
    /// admin, sales, support, auditor or integration.
    #[arg(long)]
    role: String,
    /// Who holds it (an integration's source system).
    #[arg(long)]
    name: String,
    /// The tokens file to add it to (created if missing).
    #[arg(long, env = "CRM_TOKENS")]
    tokens: PathBuf,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walks every hash chain and seal of a tenant (and, with `--manifest`, checks that
    /// everything the manifest names is still there, unchanged). Exits 1 naming the first
    /// broken event and stream.
    Verify(VerifyArgs),
    /// Writes a tenant's events as JSON Lines, with the exact bytes their hashes cover, for
    /// `crm audit verify --file` to check offline.
    Export(ManifestArgs),
    /// Seals the tenant's history and writes its head manifest (every stream's head and the
    /// last seal), to keep outside the database for `crm audit verify --manifest`.
    Manifest(ManifestArgs),
    /// Every event of one record, oldest first, with its time, actor, source system and its
    /// time, correlation, causation and the causing command: field changes, routing decisions
    /// with their reasons, merges and unmerges.
    History(HistoryArgs),
    /// A read model as it stood at a moment: a customer's Customer 360, or the open pipeline.
    /// The moment is an instant or a day of recording time (what the CRM knew then), of
    /// business time with `--business-time` (what had happened by then, as the sources date
    /// their facts), or a position of the tenant's order.
    Replay(ReplayArgs),
}

#[derive(Debug, Args)]
struct HistoryArgs {
    #[command(flatten)]
    target: TenantArgs,
    /// The record: `lead/<id>`, `contact/<id>`, `opportunity/<id>`, `ticket/<id>`,
    /// `forecast/<id>`, `rep/<id>`, `team/<id>` (or its stream name, `contact-<id>`).
    record: String,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ReplayArgs {
    #[command(flatten)]
    target: TenantArgs,
    /// The moment: an RFC 3339 instant (`2026-03-03T17:00:00Z`), a day (`2026-03-03`: its
    /// end, UTC), or a position of the tenant's order (`<transaction>/<position>`).
    #[arg(long)]
    as_of: String,
    /// Read the moment in business time rather than recording time.
    #[arg(long)]
    business_time: bool,
    #[command(subcommand)]
    view: ReplayView,
}

#[derive(Debug, Subcommand)]
enum ReplayView {
    /// The Customer 360 of a contact.
    Customer {
        /// Any contact of the customer.
        contact: uuid::Uuid,
    },
    /// The open pipeline by stage, owner and currency.
    Pipeline {
        /// Only this owner's deals.
        #[arg(long)]
        owner: Option<uuid::Uuid>,
    },
}

#[derive(Debug, Subcommand)]
enum InboxCommand {
    /// Depth, oldest age and failing or parked items of a tenant.
    Status(TenantArgs),
    /// Captures every quarantined lead of a tenant again from its payload as delivered, under
    /// the intake settings of the host configuration (after fixing what quarantined them),
    /// then resolves and routes those now captured, as `crm work` does a new delivery. Safe to
    /// run again at any time; lists what is still quarantined, with its reasons.
    ReplayQuarantined(ReplayQuarantinedArgs),
    /// Sets the custom fields of every lead of a tenant from its payload as delivered, by the
    /// `intake.custom_fields` mapping of the host configuration and under the lead schema now
    /// (for fields a form sent before the custom field existed). Values the schema refuses
    /// are left out; safe to run again.
    MapCustomFields(ReplayQuarantinedArgs),
}

#[derive(Debug, Args)]
struct ReplayQuarantinedArgs {
    #[command(flatten)]
    target: TenantArgs,
    /// The host configuration `crm work` runs with (its `intake` and `routing` settings).
    #[arg(long)]
    config: PathBuf,
}

#[derive(Debug, Subcommand)]
enum OutboxCommand {
    /// Undelivered and parked messages of a tenant, and the oldest one's age.
    Status(TenantArgs),
    /// Puts every parked message of a tenant back in line (after fixing what refused them);
    /// each keeps its idempotency key, so nothing is applied twice downstream.
    ReplayParked(TenantArgs),
}

#[derive(Debug, Subcommand)]
enum ProjectionsCommand {
    /// Each read model's checkpoint against the head of the tenant's history, and its parked
    /// events.
    Status(TenantArgs),
    /// Rebuilds one read model of a tenant in place, from the first event, while it keeps
    /// serving: the history is folded into a staging copy of its table, which then replaces
    /// the tenant's documents, parked events and checkpoint in one transaction. Running
    /// servers and workers go on from the rebuilt checkpoint. Events that cannot be decoded
    /// are parked (listed at the end). Interrupted, it leaves the model as it was.
    Rebuild(projections::ProjectionArgs),
    /// Parks the event a read model's projector is halted at (one that cannot be decoded),
    /// so that it goes on past it; the documents miss that event until `unpark`. Without
    /// `--at` it parks whatever event halts the model and names it; running projectors pick
    /// the move up within seconds.
    Park(projections::ParkArgs),
    /// Applies a read model's parked events again, once a build that can read them runs: the
    /// model is rebuilt in place (a parked event cannot be applied onto documents stamped
    /// past it); events still unreadable stay parked.
    Unpark(projections::ProjectionArgs),
}

#[derive(Debug, Args)]
struct Database {
    /// The PostgreSQL connection string (`postgres://…` or `host=… dbname=…`, `sslmode`
    /// honoured). Without it, the SQLite file `--database-file`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The SQLite file used when no PostgreSQL database is named: the embedded default,
    /// created (with its tables) if missing.
    #[arg(long, env = "CRM_DATABASE_FILE", default_value = "crm.db")]
    database_file: PathBuf,
}

/// Where a command's data is, opened.
enum Opened {
    Postgres(PostgresBackend),
    Sqlite(SqliteBackend),
}

/// Opens `database` (pools of `pool_size` on PostgreSQL), applying pending migrations.
async fn open(database: &Database, pool_size: usize) -> Result<Opened, String> {
    match &database.database_url {
        Some(url) => PostgresBackend::connect(url, pool_size)
            .await
            .map(Opened::Postgres),
        None => SqliteBackend::open(&database.database_file).map(Opened::Sqlite),
    }
    .map_err(|error| error.to_string())
}

/// Runs `$body` with `$backend` bound to the opened backend of `$database`, whichever it is.
macro_rules! on_backend {
    ($database:expr, $pool:expr, |$backend:ident| $body:expr) => {
        match open($database, $pool).await? {
            Opened::Postgres($backend) => $body,
            Opened::Sqlite($backend) => $body,
        }
    };
}

/// Connections per pool for the one-shot commands.
const COMMAND_POOL: usize = 4;

#[derive(Debug, Args)]
struct TenantArgs {
    #[command(flatten)]
    database: Database,
    /// The tenant.
    #[arg(long)]
    tenant: String,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// The database (not opened with `--file`).
    #[command(flatten)]
    database: Database,
    /// The tenant (not needed with `--file`: the export names it).
    #[arg(long)]
    tenant: Option<String>,
    /// Checks an export written by `crm audit export` instead of the database.
    #[arg(long)]
    file: Option<PathBuf>,
    /// A head manifest written earlier by `crm audit manifest`.
    #[arg(long)]
    manifest: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ManifestArgs {
    #[command(flatten)]
    target: TenantArgs,
    /// Where to write it.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct WorkArgs {
    #[command(flatten)]
    database: Database,
    /// The tenant whose work this process does (several processes may share a tenant).
    #[arg(long)]
    tenant: String,
    /// The host configuration, JSON: which workflows run and where messages go (see the
    /// documentation of `crm_app::host::HostConfig`).
    #[arg(long)]
    config: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("crm: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Token(args) => token(&args),
            Command::Demo(args) => demo(args).await,
            Command::Openapi => serde_json::to_string_pretty(&crm_app::http::openapi())
                .map(|text| {
                    println!("{text}");
                    ExitCode::SUCCESS
                })
                .map_err(|error| error.to_string()),
            Command::Work(args) => work(args).await.map(|()| ExitCode::SUCCESS),
            Command::Audit(AuditCommand::Verify(args)) => verify(args).await,
            Command::Audit(AuditCommand::Manifest(args)) => manifest(args).await,
            Command::Audit(AuditCommand::Export(args)) => export(args).await,
            Command::Audit(AuditCommand::History(args)) => history(args).await,
            Command::Audit(AuditCommand::Replay(args)) => replay(args).await,
            Command::Inbox(InboxCommand::Status(args)) => inbox_status(args).await,
            Command::Inbox(InboxCommand::ReplayQuarantined(args)) => {
                on_intake(args, IntakeOperation::ReplayQuarantined).await
            }
            Command::Inbox(InboxCommand::MapCustomFields(args)) => {
                on_intake(args, IntakeOperation::MapCustomFields).await
            }
            Command::Outbox(OutboxCommand::Status(args)) => outbox_status(args).await,
            Command::Outbox(OutboxCommand::ReplayParked(args)) => outbox_replay(args).await,
            Command::Projections(ProjectionsCommand::Status(args)) => {
                projections_status(args).await
            }
            Command::Projections(ProjectionsCommand::Rebuild(args)) => {
                projections::rebuild(args).await
            }
            Command::Projections(ProjectionsCommand::Park(args)) => projections::park(args).await,
            Command::Projections(ProjectionsCommand::Unpark(args)) => {
                projections::unpark(args).await
            }
            Command::Migrate(database) => migrate(database).await,
            Command::Store(StoreCommand::Copy(args)) => store_copy(args).await,
        }
    });
    match outcome {
        Ok(code) => code,
        Err(message) => {
            eprintln!("crm: {message}");
            ExitCode::FAILURE
        }
    }
}

/// A progress bar on stderr when it is a terminal, hidden otherwise (plain lines report
/// instead): a spinner, or a bar whose length is set as it becomes known, drawn by `template`.
fn progress_bar(
    terminal: bool,
    spinner: bool,
    template: &str,
    prefix: String,
) -> indicatif::ProgressBar {
    let (bar, fallback) = match (terminal, spinner) {
        (false, _) => (
            indicatif::ProgressBar::hidden(),
            indicatif::ProgressStyle::default_bar(),
        ),
        (true, true) => (
            indicatif::ProgressBar::new_spinner(),
            indicatif::ProgressStyle::default_spinner(),
        ),
        (true, false) => (
            indicatif::ProgressBar::new(0),
            indicatif::ProgressStyle::default_bar(),
        ),
    };
    bar.set_style(indicatif::ProgressStyle::with_template(template).unwrap_or(fallback));
    bar.set_prefix(prefix);
    bar
}

/// A `--from`/`--to` of `crm store copy`: a PostgreSQL connection string, or a SQLite file
/// (which must exist when it is the source).
async fn open_location(location: &str, source: bool) -> Result<Opened, String> {
    let postgres = location.starts_with("postgres://")
        || location.starts_with("postgresql://")
        || location.contains('=');
    if postgres {
        return PostgresBackend::connect(location, COMMAND_POOL)
            .await
            .map(Opened::Postgres)
            .map_err(|error| error.to_string());
    }
    if source && !std::path::Path::new(location).is_file() {
        return Err(format!("--from {location}: no such SQLite file"));
    }
    SqliteBackend::open(location)
        .map(Opened::Sqlite)
        .map_err(|error| error.to_string())
}

async fn store_copy(args: CopyArgs) -> Result<ExitCode, String> {
    let tenants = args
        .tenants
        .iter()
        .map(|name| tenant_of(name))
        .collect::<Result<Vec<_>, _>>()?;
    let from = open_location(&args.from, true).await?;
    let to = open_location(&args.to, false).await?;
    match (from, to) {
        (Opened::Sqlite(from), Opened::Postgres(to)) => {
            copy_between(&from, &to, tenants, args.batch).await
        }
        (Opened::Postgres(from), Opened::Sqlite(to)) => {
            copy_between(&from, &to, tenants, args.batch).await
        }
        (Opened::Sqlite(from), Opened::Sqlite(to)) => {
            if same_file(from.path(), to.path()) {
                return Err("--from and --to are the same file".to_owned());
            }
            copy_between(&from, &to, tenants, args.batch).await
        }
        (Opened::Postgres(from), Opened::Postgres(to)) => {
            copy_between(&from, &to, tenants, args.batch).await
        }
    }
}

fn same_file(one: &std::path::Path, other: &std::path::Path) -> bool {
    match (one.canonicalize(), other.canonicalize()) {
        (Ok(one), Ok(other)) => one == other,
        _ => one == other,
    }
}

/// Copies `tenants` (every tenant with events when empty) from `from` to `to`: the subject
/// keys, the history, the keys again (for subjects shredded meanwhile), each verified.
async fn copy_between<F: Backend, T: Backend>(
    from: &F,
    to: &T,
    tenants: Vec<TenantId>,
    batch: usize,
) -> Result<ExitCode, String> {
    use crm_eventstore::transfer::{HistoryTransfer as _, copy_history, copy_subject_keys};
    use std::io::IsTerminal as _;
    let tenants = if tenants.is_empty() {
        from.store()
            .tenants()
            .await
            .map_err(|error| format!("cannot list the source's tenants: {error}"))?
    } else {
        tenants
    };
    eprintln!(
        "crm: copying {} tenant(s) from {} to {}",
        tenants.len(),
        from.describe(),
        to.describe()
    );
    let (from_keys, to_keys) = (from.work(), to.work());
    let terminal = std::io::stderr().is_terminal();
    let mut left_behind = Vec::new();
    for tenant in &tenants {
        let keys = copy_subject_keys(from_keys.keys(), to_keys.keys(), tenant, batch)
            .await
            .map_err(|error| format!("tenant {tenant}: cannot copy the subject keys: {error}"))?;
        let bar = progress_bar(
            terminal,
            true,
            "{spinner} {prefix}: {msg} ({per_sec}, {elapsed})",
            tenant.to_string(),
        );
        let mut next_line = 0_u64;
        let report = copy_history(from.store(), to.store(), tenant, batch, |progress| {
            let done = progress.copied + progress.skipped;
            bar.set_position(done);
            bar.set_message(match progress.held_by {
                Some(transaction) => format!(
                    "{done} events, waiting for the source's open transaction {transaction}"
                ),
                None => format!("{done} events, through {}", progress.through),
            });
            if !terminal && done >= next_line {
                eprintln!("crm: {tenant}: {done} events copied or already there");
                next_line = done + 50_000;
            }
        })
        .await
        .map_err(|error| format!("tenant {tenant}: the copy stopped: {error}"))?;
        bar.finish_and_clear();
        let shredded_since = copy_subject_keys(from_keys.keys(), to_keys.keys(), tenant, batch)
            .await
            .map_err(|error| format!("tenant {tenant}: cannot copy the subject keys: {error}"))?;
        println!(
            "{tenant}: {} events copied, {} already there, {} streams verified; {} subject keys and {} erasures copied",
            report.copied,
            report.skipped,
            report.streams,
            keys.keys + shredded_since.keys,
            keys.shredded + shredded_since.shredded
        );
        let now = chrono::Utc::now();
        let outbox = from_keys.outbox_health(tenant, now).await;
        let inbox = from.inbox().health(tenant, now).await;
        if let Ok(outbox) = outbox
            && outbox.undelivered + outbox.parked > 0
        {
            left_behind.push(format!(
                "{tenant}: {} outbox message(s) undelivered and {} parked in the source",
                outbox.undelivered, outbox.parked
            ));
        }
        if let Ok(inbox) = inbox
            && inbox.depth > 0
        {
            left_behind.push(format!(
                "{tenant}: {} lead delivery(ies) waiting in the source's inbox",
                inbox.depth
            ));
        }
    }
    for line in &left_behind {
        eprintln!("crm: not copied: {line}");
    }
    println!(
        "copied and verified: every stream's chain in {} matches {}",
        to.describe(),
        from.describe()
    );
    Ok(ExitCode::SUCCESS)
}

fn tenant_of(name: &str) -> Result<TenantId, String> {
    TenantId::new(name).map_err(|error| format!("--tenant: {error}"))
}

async fn migrate(database: Database) -> Result<ExitCode, String> {
    let described = on_backend!(&database, 1, |backend| backend.describe());
    println!("migrations applied to {described}: the event store's and the application's");
    Ok(ExitCode::SUCCESS)
}

fn read_manifest(path: &std::path::Path) -> Result<HeadManifest, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|error| format!("{} is not a head manifest: {error}", path.display()))
}

async fn verify(args: VerifyArgs) -> Result<ExitCode, String> {
    if let Some(file) = &args.file {
        return verify_file(file, args.manifest.as_deref());
    }
    let tenant = tenant_of(
        args.tenant
            .as_deref()
            .ok_or("--tenant is needed without --file")?,
    )?;
    let manifest = args.manifest.as_deref().map(read_manifest).transpose()?;
    let report = on_backend!(&args.database, COMMAND_POOL, |backend| {
        let store = backend.store();
        match &manifest {
            Some(manifest) => store.verify_against(&tenant, manifest).await,
            None => store.verify(&tenant).await,
        }
    })
    .map_err(|error| format!("cannot verify: {error}"))?;
    println!(
        "tenant {tenant}: {} streams, {} events, {} seals checked",
        report.streams_checked, report.events_checked, report.seals_checked
    );
    if let Some(broken) = &report.first_broken {
        println!(
            "BROKEN: stream {} at version {} (event {}): {:?}",
            broken.stream,
            broken.version,
            broken
                .event_id
                .map_or_else(|| "none".to_owned(), |id| id.to_string()),
            broken.problem
        );
    }
    if let Some(seal) = &report.first_broken_seal {
        println!("BROKEN SEAL: {seal:?}");
    }
    for problem in &report.manifest_problems {
        println!("MANIFEST: {problem:?}");
    }
    if let Some(unreadable) = &report.first_unreadable {
        println!(
            "unreadable: {} event(s), the first stream {} version {}: {}",
            report.unreadable_events, unreadable.stream, unreadable.version, unreadable.reason
        );
    }
    if report.is_intact() {
        println!("intact");
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::FAILURE)
    }
}

/// Checks an export offline: every hash recomputed, every chain from version 1, and the
/// manifest's heads, if one is given.
fn verify_file(
    file: &std::path::Path,
    manifest: Option<&std::path::Path>,
) -> Result<ExitCode, String> {
    use std::io::BufRead as _;
    let reader = std::io::BufReader::new(
        std::fs::File::open(file)
            .map_err(|error| format!("cannot read {}: {error}", file.display()))?,
    );
    let mut lines = reader.lines();
    let header: ExportHeader = match lines.next() {
        Some(line) => serde_json::from_str(&line.map_err(|error| error.to_string())?)
            .map_err(|error| format!("{}: not an export header: {error}", file.display()))?,
        None => return Err(format!("{} is empty", file.display())),
    };
    if header.format != EXPORT_FORMAT {
        return Err(format!(
            "{}: unknown format {}",
            file.display(),
            header.format
        ));
    }
    let mut events = Vec::new();
    for (number, line) in lines.enumerate() {
        let line = line.map_err(|error| error.to_string())?;
        events.push(
            serde_json::from_str::<ExportedEvent>(&line)
                .map_err(|error| format!("{} line {}: {error}", file.display(), number + 2))?,
        );
    }
    let manifest = manifest.map(read_manifest).transpose()?;
    let report = verify_export(&header.tenant, events, manifest.as_ref());
    println!(
        "export of tenant {}: {} streams, {} events checked",
        header.tenant, report.streams, report.events
    );
    if let Some((stream, version, problem)) = &report.first_broken {
        println!("BROKEN: stream {stream} at version {version}: {problem}");
    }
    for problem in &report.manifest_problems {
        println!("MANIFEST: {problem}");
    }
    if report.is_intact() {
        println!("intact");
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::FAILURE)
    }
}

async fn export(args: ManifestArgs) -> Result<ExitCode, String> {
    let tenant = tenant_of(&args.target.tenant)?;
    on_backend!(&args.target.database, COMMAND_POOL, |backend| {
        export_from(&backend, &tenant, &args.out).await
    })
}

async fn export_from<B: Backend>(
    backend: &B,
    tenant: &TenantId,
    path: &std::path::Path,
) -> Result<ExitCode, String> {
    use std::io::Write as _;
    let file = std::fs::File::create(path)
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let failed = |error: std::io::Error| format!("cannot write {}: {error}", path.display());
    let header = ExportHeader {
        format: EXPORT_FORMAT.to_owned(),
        tenant: tenant.as_str().to_owned(),
        exported_at: chrono::Utc::now(),
    };
    writeln!(
        out,
        "{}",
        serde_json::to_string(&header).map_err(|error| error.to_string())?
    )
    .map_err(failed)?;
    let mut after: Option<(String, u64)> = None;
    let mut count = 0_u64;
    loop {
        let page = backend
            .export_page(
                tenant,
                after
                    .as_ref()
                    .map(|(stream, version)| (stream.as_str(), *version)),
                1000,
            )
            .await
            .map_err(|error| format!("cannot export: {error}"))?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some((last.stream.clone(), last.version));
        for event in &page {
            writeln!(
                out,
                "{}",
                serde_json::to_string(event).map_err(|error| error.to_string())?
            )
            .map_err(failed)?;
            count += 1;
        }
    }
    out.flush().map_err(failed)?;
    println!(
        "{count} events of tenant {tenant} exported to {}",
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

async fn manifest(args: ManifestArgs) -> Result<ExitCode, String> {
    let tenant = tenant_of(&args.target.tenant)?;
    let manifest = on_backend!(&args.target.database, COMMAND_POOL, |backend| backend
        .store()
        .head_manifest(&tenant)
        .await)
    .map_err(|error| format!("cannot make the manifest: {error}"))?;
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|error| format!("cannot write the manifest: {error}"))?;
    std::fs::write(&args.out, text)
        .map_err(|error| format!("cannot write {}: {error}", args.out.display()))?;
    println!(
        "manifest of tenant {tenant} written to {}",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

async fn inbox_status(args: TenantArgs) -> Result<ExitCode, String> {
    let tenant = tenant_of(&args.tenant)?;
    let health = on_backend!(&args.database, COMMAND_POOL, |backend| backend
        .inbox()
        .health(&tenant, chrono::Utc::now())
        .await)
    .map_err(|error| format!("cannot read the inbox: {error}"))?;
    println!(
        "inbox of {tenant}: {} waiting, oldest {}, {} failing",
        health.depth,
        health
            .oldest_age
            .map_or_else(|| "-".to_owned(), |age| format!("{} s", age.num_seconds())),
        health.failing
    );
    Ok(ExitCode::SUCCESS)
}

/// An operator's command on the intake of a host configuration.
#[derive(Debug, Clone, Copy)]
enum IntakeOperation {
    /// `crm inbox replay-quarantined`.
    ReplayQuarantined,
    /// `crm inbox map-custom-fields`.
    MapCustomFields,
}

async fn on_intake(
    args: ReplayQuarantinedArgs,
    operation: IntakeOperation,
) -> Result<ExitCode, String> {
    let tenant = tenant_of(&args.target.tenant)?;
    let config: HostConfig = read_json(&args.config)?;
    on_backend!(&args.target.database, COMMAND_POOL, |backend| {
        on_intake_of(backend, tenant, &config, &args.config, operation).await
    })
}

async fn on_intake_of<B: Backend>(
    backend: B,
    tenant: TenantId,
    config: &HostConfig,
    config_path: &std::path::Path,
    operation: IntakeOperation,
) -> Result<ExitCode, String> {
    let service = Arc::new(CommandService::new(backend.work(), Arc::new(SystemClock)));
    let host = Host::new(
        service,
        backend.deadlines(),
        backend.inbox(),
        tenant.clone(),
        config,
    )
    .map_err(|error| format!("{}: {error}", config_path.display()))?;
    let Some(intake) = host.intake() else {
        return Err(format!(
            "{}: no `intake` section, so no settings to read deliveries with",
            config_path.display()
        ));
    };
    let failed = match operation {
        IntakeOperation::ReplayQuarantined => {
            let report = intake
                .replay_quarantined()
                .await
                .map_err(|error| format!("cannot replay the quarantined leads: {error}"))?;
            println!(
                "{tenant}: {} quarantined lead(s) replayed: {} captured, {} still quarantined, {} failed",
                report.examined,
                report.captured.len(),
                report.still_quarantined.len(),
                report.failed.len()
            );
            for (lead, reasons) in &report.still_quarantined {
                let reasons: Vec<String> = reasons
                    .iter()
                    .map(|reason| match reason.field {
                        Some(field) => format!("{field:?}: {}", reason.problem),
                        None => reason.problem.clone(),
                    })
                    .collect();
                println!("still quarantined: lead {lead}: {}", reasons.join("; "));
            }
            report.failed
        }
        IntakeOperation::MapCustomFields => {
            let report = intake
                .map_custom_fields()
                .await
                .map_err(|error| format!("cannot map the leads' custom fields: {error}"))?;
            println!(
                "{tenant}: {} lead(s) read: {} with custom fields from their payload, {} failed",
                report.examined,
                report.mapped.len(),
                report.failed.len()
            );
            report.failed
        }
    };
    for (lead, error) in &failed {
        println!("failed: lead {lead}: {error}");
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn outbox_status(args: TenantArgs) -> Result<ExitCode, String> {
    let tenant = tenant_of(&args.tenant)?;
    let health = on_backend!(&args.database, COMMAND_POOL, |backend| backend
        .work()
        .outbox_health(&tenant, chrono::Utc::now())
        .await)
    .map_err(|error| format!("cannot read the outbox: {error}"))?;
    println!(
        "outbox of {tenant}: {} undelivered, oldest {}, {} parked",
        health.undelivered,
        health
            .oldest_undelivered_age
            .map_or_else(|| "-".to_owned(), |age| format!("{} s", age.num_seconds())),
        health.parked
    );
    Ok(ExitCode::SUCCESS)
}

async fn outbox_replay(args: TenantArgs) -> Result<ExitCode, String> {
    let tenant = tenant_of(&args.tenant)?;
    let replayed = on_backend!(&args.database, COMMAND_POOL, |backend| backend
        .work()
        .outbox_replay_parked(&tenant, chrono::Utc::now())
        .await)
    .map_err(|error| format!("cannot replay the parked messages: {error}"))?;
    println!("outbox of {tenant}: {replayed} parked message(s) back in line");
    Ok(ExitCode::SUCCESS)
}

async fn projection_line<B, M>(
    backend: &B,
    name: &str,
    model: M,
    tenant: &TenantId,
) -> Result<String, String>
where
    B: Backend,
    M: crm_projections::ReadModel + std::fmt::Debug + Send + Sync + 'static,
    M::Doc: Send + Sync + 'static,
{
    let documents = backend
        .documents(model)
        .await
        .map_err(|error| format!("{name}: {error}"))?;
    let parked = documents
        .parked(tenant)
        .await
        .map_err(|error| format!("{name}: {error}"))?;
    let lag = backend
        .lag(&documents, tenant, chrono::Utc::now())
        .await
        .map_err(|error| format!("{name}: {error}"))?;
    let held = lag.held_by.map_or_else(String::new, |transaction| {
        format!(", held at transaction {transaction}")
    });
    let mut line = format!(
        "{name:<15} at {:<20} {}{} event(s) behind, oldest waiting {} s{held}; {} parked",
        lag.checkpoint
            .map_or_else(|| "the start".to_owned(), |at| at.to_string()),
        if lag.at_least { "at least " } else { "" },
        lag.events_behind,
        lag.behind.as_secs(),
        parked.len()
    );
    // The parked events themselves (the first ten), so that an unpark can be weighed.
    for event in parked.iter().take(10) {
        let _ = write!(
            line,
            "\n  parked {} {} v{} {}: {}",
            event.position, event.stream, event.version, event.event_type, event.reason
        );
    }
    if parked.len() > 10 {
        let _ = write!(line, "\n  … and {} more", parked.len() - 10);
    }
    Ok(line)
}

async fn projections_status(args: TenantArgs) -> Result<ExitCode, String> {
    let tenant = tenant_of(&args.tenant)?;
    let lines = on_backend!(&args.database, COMMAND_POOL, |backend| {
        projection_lines(&backend, &tenant).await
    })?;
    println!("projections of {tenant}:");
    for line in lines {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn projection_lines<B: Backend>(
    backend: &B,
    tenant: &TenantId,
) -> Result<Vec<String>, String> {
    use crm_projections::account360::Account360Model;
    use crm_projections::custom_fields::CustomFieldModel;
    use crm_projections::customer360::Customer360Model;
    use crm_projections::duplicates::DuplicateQueueModel;
    use crm_projections::engagements::EngagementModel;
    use crm_projections::external_ids::ExternalIdModel;
    use crm_projections::identity::IdentityIndexModel;
    use crm_projections::pipeline::PipelineModel;
    use crm_projections::sla::{SlaConfig, SlaModel};
    use crm_projections::sync_conflicts::SyncConflictModel;
    Ok(vec![
        projection_line(backend, "customer360", Customer360Model, tenant).await?,
        projection_line(
            backend,
            "identity_index",
            IdentityIndexModel::default(),
            tenant,
        )
        .await?,
        projection_line(backend, "pipeline", PipelineModel, tenant).await?,
        projection_line(backend, "sla", SlaModel::new(SlaConfig::default()), tenant).await?,
        projection_line(backend, "duplicates", DuplicateQueueModel, tenant).await?,
        projection_line(backend, "account360", Account360Model, tenant).await?,
        projection_line(backend, "engagements", EngagementModel, tenant).await?,
        projection_line(backend, "custom_fields", CustomFieldModel, tenant).await?,
        projection_line(backend, "sync_conflicts", SyncConflictModel, tenant).await?,
        projection_line(backend, "external_ids", ExternalIdModel, tenant).await?,
    ])
}

async fn work(args: WorkArgs) -> Result<(), String> {
    // First: a stop asked for while starting is answered once running.
    let shutdown = Shutdown::listen();
    let tenant = TenantId::new(&args.tenant).map_err(|error| format!("--tenant: {error}"))?;
    let text = std::fs::read_to_string(&args.config)
        .map_err(|error| format!("cannot read {}: {error}", args.config.display()))?;
    let config: HostConfig = serde_json::from_str(&text)
        .map_err(|error| format!("{}: {error}", args.config.display()))?;
    on_backend!(&args.database, COMMAND_POOL, |backend| {
        work_on(backend, tenant, &config, &args.config, shutdown).await
    })
}

async fn work_on<B: Backend>(
    backend: B,
    tenant: TenantId,
    config: &HostConfig,
    config_path: &std::path::Path,
    shutdown: Shutdown,
) -> Result<(), String> {
    eprintln!("crm: working for {tenant} on {}", backend.describe());
    let service = Arc::new(CommandService::new(backend.work(), Arc::new(SystemClock)));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut projectors = tokio::task::JoinSet::new();
    let resolves = config
        .intake
        .as_ref()
        .is_some_and(|intake| intake.identity_resolution);
    // The identity index, kept here when intake resolves identities or accounts find their
    // people through it.
    let index = if resolves || config.account_linking {
        let store = service.work().store();
        Some(identity_index(&backend, store, &tenant, &stopped, &mut projectors).await?)
    } else {
        None
    };
    let identity = if resolves {
        Some(identity_resolution(&backend).await?)
    } else {
        None
    };
    let host = Host::new(
        Arc::clone(&service),
        backend.deadlines(),
        backend.inbox(),
        tenant.clone(),
        config,
    )
    .map_err(|error| format!("{}: {error}", config_path.display()))?;
    let host = match identity {
        Some(identity) => host.with_identity(identity),
        None => host,
    };
    let host = if config.account_linking {
        let store = service.work().store();
        let accounts = Arc::new(
            backend
                .documents(crm_projections::account360::Account360Model)
                .await
                .map_err(|error| format!("cannot open the account 360: {error}"))?,
        );
        crm_app::http::spawn_projection(
            &backend,
            "account360",
            store,
            &accounts,
            &tenant,
            &stopped,
            &mut projectors,
        );
        let candidates: Arc<dyn crm_app::account_linking::AccountCandidateSource> =
            Arc::new(crm_app::account_linking::AccountIndexCandidates(accounts));
        host.with_lead_accounts(Arc::clone(&candidates))
            .with_account_linking({
                let linker = crm_app::account_linking::AccountLinker::new(
                    Arc::clone(&service),
                    candidates,
                    crm_domain::identity::MatchConfig::default(),
                    tenant.clone(),
                );
                match index {
                    Some(index) => linker.with_people(Arc::new(
                        crm_app::account_linking::IdentityIndexPeople(index),
                    )),
                    None => linker,
                }
            })
    } else {
        host
    };
    let running = tokio::spawn(host.run(stopped));
    shutdown.requested().await;
    eprintln!("crm: stopping: finishing what is in hand");
    let _ = stop.send(true);
    let ended = running
        .await
        .map_err(|error| format!("the host ended abnormally: {error}"));
    while projectors.join_next().await.is_some() {}
    ended
}

async fn open_identity_index<B: Backend>(
    backend: &B,
) -> Result<B::Documents<crm_projections::identity::IdentityIndexModel>, String> {
    backend
        .documents(crm_projections::identity::IdentityIndexModel::default())
        .await
        .map_err(|error| format!("cannot open the identity index: {error}"))
}

/// The identity index's documents, with its projector started (on PostgreSQL under the
/// projection's lease, shared with any `crm serve` of the same database).
async fn identity_index<B: Backend>(
    backend: &B,
    store: &ReadStore<B>,
    tenant: &TenantId,
    stopped: &tokio::sync::watch::Receiver<bool>,
    tasks: &mut tokio::task::JoinSet<()>,
) -> Result<Arc<B::Documents<crm_projections::identity::IdentityIndexModel>>, String> {
    let documents = Arc::new(open_identity_index(backend).await?);
    crm_app::http::spawn_projection(
        backend,
        "identity_index",
        store,
        &documents,
        tenant,
        stopped,
        tasks,
    );
    Ok(documents)
}

/// The identity index as intake's candidate source (its projector is started by
/// [`identity_index`]).
async fn identity_resolution<B: Backend>(
    backend: &B,
) -> Result<crm_app::intake::IdentityResolution, String> {
    use crm_app::intake::{IdentityResolution, IndexCandidates};
    use crm_domain::identity::linkage::LinkageModel;
    use crm_projections::identity::IdentityIndexModel;
    let candidates = open_identity_index(backend).await?;
    Ok(IdentityResolution::new(
        Arc::new(IndexCandidates::new(
            candidates,
            IdentityIndexModel::default(),
        )),
        LinkageModel::default(),
    ))
}

/// The stream a record names: `contact/<id>` or `contact-<id>`.
fn stream_of_record(record: &str) -> Result<crm_eventstore::StreamId, String> {
    let name = match record.split_once('/') {
        Some((kind, id)) => {
            let id =
                uuid::Uuid::parse_str(id).map_err(|_| format!("{record}: {id:?} is not an id"))?;
            format!("{kind}-{id}")
        }
        None => record.to_owned(),
    };
    crm_eventstore::StreamId::new(name).map_err(|error| format!("{record}: {error}"))
}

async fn history(args: HistoryArgs) -> Result<ExitCode, String> {
    use crm_eventstore::StreamRead;
    let tenant = tenant_of(&args.target.tenant)?;
    let stream = stream_of_record(&args.record)?;
    let events = on_backend!(&args.target.database, COMMAND_POOL, |backend| backend
        .work()
        .store()
        .read_stream(&tenant, &stream, StreamRead::forward())
        .await)
    .map_err(|error| format!("cannot read {stream}: {error}"))?;
    if events.is_empty() {
        return Err(format!("{stream}: no such record in tenant {tenant}"));
    }
    for event in events {
        let metadata = &event.metadata;
        let command = metadata
            .extra
            .get("command_id")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("-")
            .to_owned();
        let actor = metadata
            .actor
            .as_ref()
            .map_or_else(|| "-".to_owned(), serde_json::Value::to_string);
        let source = metadata.source.as_ref().map_or_else(
            || "-".to_owned(),
            |source| match source.timestamp {
                Some(at) => format!("{} at {}", source.system, at.to_rfc3339()),
                None => source.system.clone(),
            },
        );
        if args.json {
            let line = serde_json::json!({
                "stream": event.stream.as_str(),
                "version": event.version,
                "position": event.position.to_string(),
                "id": event.id,
                "type": event.event_type,
                "recorded_at": event.recorded_at,
                "actor": metadata.actor,
                "source": metadata.source,
                "correlation_id": metadata.correlation_id,
                "causation_id": metadata.causation_id,
                "command_id": command,
                "payload": event.payload,
            });
            println!("{line}");
        } else {
            println!(
                "{} v{} {} {}\n  actor {actor}; source {source}; correlation {}; caused by {}; command {command}\n  {}",
                event.recorded_at.to_rfc3339(),
                event.version,
                event.event_type,
                event.id,
                metadata
                    .correlation_id
                    .map_or_else(|| "-".to_owned(), |id| id.to_string()),
                metadata
                    .causation_id
                    .map_or_else(|| "-".to_owned(), |id| id.to_string()),
                event.payload
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--as-of`: an instant, a day (its end), or `<transaction>/<position>`.
fn moment(text: &str, business: bool) -> Result<crm_projections::AsOf, String> {
    use crm_projections::AsOf;
    if let Some((transaction, position)) = text.split_once('/') {
        if business {
            return Err("--business-time reads an instant or a day, not a position".into());
        }
        let parse = |part: &str| {
            part.parse::<u64>()
                .map_err(|_| format!("--as-of {text:?}: a position is <transaction>/<position>"))
        };
        return Ok(AsOf::Position(crm_eventstore::GlobalPosition {
            transaction: parse(transaction)?,
            position: parse(position)?,
        }));
    }
    let instant = if let Ok(instant) = chrono::DateTime::parse_from_rfc3339(text) {
        instant.with_timezone(&chrono::Utc)
    } else {
        let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
            format!(
                "--as-of {text:?}: an RFC 3339 instant, a day (YYYY-MM-DD) or <transaction>/<position>"
            )
        })?;
        day.succ_opt()
            .and_then(|next| next.and_hms_opt(0, 0, 0))
            .map(|next| next.and_utc() - chrono::TimeDelta::microseconds(1))
            .ok_or_else(|| format!("--as-of {text:?}: out of range"))?
    };
    Ok(if business {
        AsOf::Business(instant)
    } else {
        AsOf::Recorded(instant)
    })
}

async fn replay(args: ReplayArgs) -> Result<ExitCode, String> {
    let tenant = tenant_of(&args.target.tenant)?;
    let as_of = moment(&args.as_of, args.business_time)?;
    let text = on_backend!(&args.target.database, COMMAND_POOL, |backend| {
        replay_on(&backend, &tenant, as_of, &args.view).await
    })?;
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

async fn replay_on<B: Backend>(
    backend: &B,
    tenant: &TenantId,
    as_of: crm_projections::AsOf,
    view: &ReplayView,
) -> Result<String, String> {
    use crm_projections::customer360::Customer360Model;
    use crm_projections::pipeline::PipelineModel;
    use crm_projections::pipeline::query::ByStageAndOwner;
    let work = backend.work();
    let store = work.store();
    match *view {
        ReplayView::Customer { contact } => {
            let documents = backend
                .documents(Customer360Model)
                .await
                .map_err(|error| format!("cannot open the Customer 360: {error}"))?;
            let view = crm_projections::customer_360_at(
                store,
                &documents,
                tenant,
                crm_domain::ContactId(contact),
                as_of,
            )
            .await
            .map_err(|error| format!("cannot replay: {error}"))?;
            match view {
                Some(view) => serde_json::to_string_pretty(&view),
                None => {
                    return Err(format!("contact {contact}: nothing was known of it then"));
                }
            }
        }
        ReplayView::Pipeline { owner } => {
            let folded = crm_projections::fold_tenant_at(store, tenant, PipelineModel, as_of)
                .await
                .map_err(|error| format!("cannot replay: {error}"))?;
            let rows = folded.scan(
                tenant,
                &ByStageAndOwner {
                    owner: owner.map(crm_domain::UserId),
                },
            );
            serde_json::to_string_pretty(&rows)
        }
    }
    .map_err(|error| error.to_string())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    serde_json::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))
}

async fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    use crm_app::http::{ServeSettings, Tokens};
    // First: a stop asked for while starting is answered once serving.
    let shutdown = Shutdown::listen();
    let text = std::fs::read_to_string(&args.tokens)
        .map_err(|error| format!("cannot read {}: {error}", args.tokens.display()))?;
    let tokens =
        Tokens::from_json(&text).map_err(|error| format!("{}: {error}", args.tokens.display()))?;
    let mut settings = ServeSettings {
        body_limit: args.body_limit,
        ..ServeSettings::default()
    };
    if let Some(path) = &args.pipelines {
        settings.pipelines = read_json(path)?;
        for pipeline in &settings.pipelines {
            pipeline.validate().map_err(|problems| {
                format!(
                    "{}: pipeline {}: {problems:?}",
                    path.display(),
                    pipeline.id.as_str()
                )
            })?;
        }
    }
    if let Some(path) = &args.sla_policies {
        let policies: Vec<crm_domain::sla::SlaPolicy> = read_json(path)?;
        for policy in policies {
            settings.sla = settings.sla.with_policy(policy, None).map_err(|policy| {
                format!(
                    "{}: version {} of policy {} is not newer than the one before it",
                    path.display(),
                    policy.reference().version,
                    policy.reference().id
                )
            })?;
        }
    }
    if let Some(path) = &args.data_dictionary {
        let dictionary: crm_domain::sync::DataDictionary = read_json(path)?;
        settings.sync = dictionary.validate().map_err(|problems| {
            let lines: Vec<String> = problems
                .iter()
                .map(|problem| format!("  {problem}"))
                .collect();
            format!(
                "{}: the data dictionary cannot be enforced:\n{}",
                path.display(),
                lines.join("\n")
            )
        })?;
    }
    on_backend!(&args.database, args.pool_size, |backend| {
        serve_on(backend, &args, tokens, settings, shutdown).await
    })
}

async fn serve_on<B: Backend>(
    backend: B,
    args: &ServeArgs,
    tokens: crm_app::http::Tokens,
    settings: crm_app::http::ServeSettings,
    shutdown: Shutdown,
) -> Result<ExitCode, String> {
    use crm_app::http::{App, ReadModels};
    // Where everything is kept (stdout's first line is the listening address).
    eprintln!("crm: keeping the data in {}", backend.describe());
    let service = Arc::new(CommandService::new(backend.work(), Arc::new(SystemClock)));
    let reads = ReadModels::open(&backend, settings.sla.clone())
        .await
        .map_err(|error| format!("cannot open the read models: {error}"))?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut projectors = tokio::task::JoinSet::new();
    let watches = if args.no_projections {
        Vec::new()
    } else {
        crm_app::http::spawn_projections(
            &backend,
            service.work().store(),
            &reads,
            &tokens.tenants(),
            &stopped,
            &mut projectors,
        )
    };
    let app = Arc::new(App::new(backend, service, reads, tokens, settings, watches));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", args.listen))?;
    let address = listener
        .local_addr()
        .map_err(|error| format!("cannot read the listening address: {error}"))?;
    // The line tests and scripts wait for.
    println!("listening on http://{address}");
    crm_app::http::serve(app, listener, shutdown.requested())
        .await
        .map_err(|error| error.to_string())?;
    eprintln!("crm: stopping: requests finished; finishing the projection batches");
    let _ = stop.send(true);
    while projectors.join_next().await.is_some() {}
    Ok(ExitCode::SUCCESS)
}

async fn demo(args: DemoArgs) -> Result<ExitCode, String> {
    let tenant = tenant_of(&args.target.tenant)?;
    on_backend!(&args.target.database, COMMAND_POOL, |backend| {
        demo_on(backend, &tenant, &args).await
    })
}

async fn demo_on<B: Backend>(
    backend: B,
    tenant: &TenantId,
    args: &DemoArgs,
) -> Result<ExitCode, String> {
    let service = Arc::new(CommandService::new(backend.work(), Arc::new(SystemClock)));
    eprintln!(
        "crm: loading the demo into {tenant}: {} leads, {} customers",
        args.leads, args.customers
    );
    let report = crm_app::demo::load_demo(
        &service,
        backend.inbox(),
        tenant,
        crm_app::demo::DemoSettings {
            leads: args.leads,
            customers: args.customers,
        },
    )
    .await
    .map_err(|error| format!("the demo stopped: {error}"))?;
    println!(
        "{}",
        serde_json::to_string_pretty(&report).map_err(|error| error.to_string())?
    );
    Ok(ExitCode::SUCCESS)
}

fn token(args: &TokenArgs) -> Result<ExitCode, String> {
    use crm_app::http::{Role, TokenEntry, Tokens};
    let tenant = tenant_of(&args.tenant)?;
    let role: Role =
        serde_json::from_value(serde_json::Value::String(args.role.clone())).map_err(|_| {
            format!(
                "--role {:?}: one of admin, sales, support, auditor, integration",
                args.role
            )
        })?;
    let mut entries: Vec<TokenEntry> = if args.tokens.exists() {
        read_json(&args.tokens)?
    } else {
        Vec::new()
    };
    let (token, entry) =
        TokenEntry::generate(&args.name, &tenant, role).map_err(|error| error.to_string())?;
    entries.push(entry);
    Tokens::from_entries(entries.clone()).map_err(|error| error.to_string())?;
    let text = serde_json::to_string_pretty(&entries).map_err(|error| error.to_string())?;
    std::fs::write(&args.tokens, text + "\n")
        .map_err(|error| format!("cannot write {}: {error}", args.tokens.display()))?;
    println!("{token}");
    eprintln!(
        "crm: token for {} ({:?} of {tenant}) added to {}; it is shown only now",
        args.name,
        role,
        args.tokens.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The operator's request to stop: SIGINT (Ctrl-C) or SIGTERM, listened for from the moment
/// it is made. A signal that arrives while a command is still starting (connecting, opening
/// its read models) is kept and answered with a graceful stop once the command runs; before,
/// it found no handler yet and killed the process.
struct Shutdown {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Shutdown {
    /// Starts listening (inside the runtime).
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = signal(SignalKind::interrupt())
                .and_then(|interrupt| Ok((interrupt, signal(SignalKind::terminate())?)))
                .ok();
            Self { signals }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    /// Resolves when a stop is requested (at once if one came already).
    async fn requested(self) {
        #[cfg(unix)]
        if let Some((mut interrupt, mut terminate)) = self.signals {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
