//! `crm projections rebuild|park|unpark`: an operator's repairs of one read model of one
//! tenant (see `crm_app::repair`), while `crm serve` and `crm work` keep running.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use crm_app::repair::{self, RepairError};
use crm_app::{Backend, UnitOfWork as _};
use crm_eventstore::{GlobalPosition, TenantId};
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
use crm_projections::{DocumentStore as _, ParkedEvent, ReadModel, RebuildProgress};
use tokio::sync::watch;

use super::{COMMAND_POOL, Opened, TenantArgs, open, progress_bar, read_json, tenant_of};

/// A read model, as `crm projections status` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ModelName {
    /// Customer 360: contacts with their leads, deals, tickets and timelines.
    Customer360,
    /// The identity index intake and merges match people against.
    #[value(name = "identity_index")]
    IdentityIndex,
    /// The pipeline and forecast.
    Pipeline,
    /// SLA clocks of leads and tickets (measured against `--sla-policies`).
    Sla,
    /// The duplicate review queue.
    Duplicates,
    /// Account 360.
    Account360,
    /// Tasks, activities and record timelines of activities.
    Engagements,
    /// Custom field values and their filters.
    #[value(name = "custom_fields")]
    CustomFields,
    /// Field values from connected systems waiting for review.
    #[value(name = "sync_conflicts")]
    SyncConflicts,
    /// Contacts by their ids in connected systems.
    #[value(name = "external_ids")]
    ExternalIds,
}

#[derive(Debug, Args)]
pub(crate) struct ProjectionArgs {
    #[command(flatten)]
    tenant: TenantArgs,
    /// The read model.
    #[arg(value_enum)]
    model: ModelName,
    /// The SLA policies (a JSON list, as `crm serve --sla-policies`): the SLA model's clocks
    /// are measured against them, so rebuild it with the ones the server uses.
    #[arg(long, env = "CRM_SLA_POLICIES")]
    sla_policies: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ParkArgs {
    #[command(flatten)]
    projection: ProjectionArgs,
    /// The event to park, as `transaction/position` (what the halted projector's log and
    /// a first `park` without it name): refused if the projection halts at another event.
    #[arg(long, value_parser = parse_position)]
    at: Option<GlobalPosition>,
}

fn parse_position(text: &str) -> Result<GlobalPosition, String> {
    let (transaction, position) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not transaction/position"))?;
    let number = |part: &str| {
        part.parse::<u64>()
            .map_err(|_| format!("{text:?} is not transaction/position"))
    };
    Ok(GlobalPosition {
        transaction: number(transaction)?,
        position: number(position)?,
    })
}

/// Which repair.
#[derive(Debug, Clone, Copy)]
enum Repair {
    Rebuild,
    Park(Option<GlobalPosition>),
    Unpark,
}

/// `crm projections rebuild`.
pub(crate) async fn rebuild(args: ProjectionArgs) -> Result<ExitCode, String> {
    on_model(args, Repair::Rebuild).await
}

/// `crm projections park`.
pub(crate) async fn park(args: ParkArgs) -> Result<ExitCode, String> {
    on_model(args.projection, Repair::Park(args.at)).await
}

/// `crm projections unpark`.
pub(crate) async fn unpark(args: ProjectionArgs) -> Result<ExitCode, String> {
    on_model(args, Repair::Unpark).await
}

fn sla_config(path: Option<&PathBuf>) -> Result<SlaConfig, String> {
    let mut config = SlaConfig::default();
    if let Some(path) = path {
        let policies: Vec<crm_domain::sla::SlaPolicy> = read_json(path)?;
        for policy in policies {
            config = config.with_policy(policy, None).map_err(|policy| {
                format!(
                    "{}: version {} of policy {} is not newer than the one before it",
                    path.display(),
                    policy.reference().version,
                    policy.reference().id
                )
            })?;
        }
    }
    Ok(config)
}

async fn on_model(args: ProjectionArgs, repair: Repair) -> Result<ExitCode, String> {
    let tenant = tenant_of(&args.tenant.tenant)?;
    let sla = sla_config(args.sla_policies.as_ref())?;
    match open(&args.tenant.database, COMMAND_POOL).await? {
        Opened::Postgres(backend) => on_backend(&backend, args.model, sla, &tenant, repair).await,
        Opened::Sqlite(backend) => on_backend(&backend, args.model, sla, &tenant, repair).await,
    }
}

async fn on_backend<B: Backend>(
    backend: &B,
    model: ModelName,
    sla: SlaConfig,
    tenant: &TenantId,
    repair: Repair,
) -> Result<ExitCode, String> {
    let named = model
        .to_possible_value()
        .map_or_else(|| format!("{model:?}"), |value| value.get_name().to_owned());
    let on = Target {
        name: &named,
        tenant,
        repair,
    };
    match model {
        ModelName::Customer360 => run(backend, Customer360Model, on).await,
        ModelName::IdentityIndex => run(backend, IdentityIndexModel::default(), on).await,
        ModelName::Pipeline => run(backend, PipelineModel, on).await,
        ModelName::Sla => run(backend, SlaModel::new(sla), on).await,
        ModelName::Duplicates => run(backend, DuplicateQueueModel, on).await,
        ModelName::Account360 => run(backend, Account360Model, on).await,
        ModelName::Engagements => run(backend, EngagementModel, on).await,
        ModelName::CustomFields => run(backend, CustomFieldModel, on).await,
        ModelName::SyncConflicts => run(backend, SyncConflictModel, on).await,
        ModelName::ExternalIds => run(backend, ExternalIdModel, on).await,
    }
}

/// What a repair acts on: the model as the operator named it, the tenant, and which repair.
#[derive(Debug, Clone, Copy)]
struct Target<'a> {
    name: &'a str,
    tenant: &'a TenantId,
    repair: Repair,
}

async fn run<B, M>(backend: &B, model: M, on: Target<'_>) -> Result<ExitCode, String>
where
    B: Backend,
    M: ReadModel + Clone + std::fmt::Debug + Send + Sync + 'static,
    M::Doc: Send + Sync + 'static,
{
    let Target {
        name,
        tenant,
        repair,
    } = on;
    let documents = Arc::new(
        backend
            .documents(model)
            .await
            .map_err(|error| format!("{name}: {error}"))?,
    );
    let failed = |error: RepairError| format!("{name} of tenant {tenant}: {error}");
    let serving = &*documents;
    match repair {
        Repair::Rebuild => {
            watched(name, tenant, |progress| async move {
                backend.rebuild_in_place(serving, tenant, &progress).await
            })
            .await
            .map_err(|error| failed(error.into()))?;
            let parked = documents
                .parked(tenant)
                .await
                .map_err(|error| failed(error.into()))?;
            println!(
                "{name}: rebuilt for tenant {tenant} and promoted; {} event(s) parked",
                parked.len()
            );
            print_parked("  parked", &parked);
        }
        Repair::Park(at) => {
            let store = backend.work().store().clone();
            let parked =
                repair::park_halting_event(store, Arc::clone(&documents), tenant, name, at)
                    .await
                    .map_err(failed)?;
            println!("{name}: parked for tenant {tenant}; its projectors go on past it");
            print_parked("  parked", std::slice::from_ref(&parked));
            println!(
                "  once a build that reads it is deployed: crm projections unpark --tenant {tenant} {name}"
            );
        }
        Repair::Unpark => {
            let unparked = watched(name, tenant, |progress| async move {
                repair::unpark(backend, serving, tenant, &progress).await
            })
            .await
            .map_err(failed)?;
            if unparked.applied.is_empty() && unparked.still_parked.is_empty() {
                println!("{name}: nothing parked for tenant {tenant}");
            } else {
                println!(
                    "{name}: rebuilt for tenant {tenant}; {} parked event(s) applied, {} still parked",
                    unparked.applied.len(),
                    unparked.still_parked.len()
                );
                print_parked("  applied", &unparked.applied);
                print_parked("  still parked", &unparked.still_parked);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_parked(label: &str, events: &[ParkedEvent]) {
    for event in events {
        println!(
            "{label} {} {} v{} {} (schema {}): {}",
            event.position,
            event.stream,
            event.version,
            event.event_type,
            event.schema_version,
            event.reason
        );
    }
}

/// Runs `work` with a progress bar on a terminal (rate and ETA), plain lines otherwise. `work`
/// owns the sender and drops it when done, which ends the reporting.
async fn watched<F, Fut, T, E>(name: &str, tenant: &TenantId, work: F) -> Result<T, E>
where
    F: FnOnce(watch::Sender<RebuildProgress>) -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let (progress, mut seen) = watch::channel(RebuildProgress::default());
    let terminal = std::io::stderr().is_terminal();
    let bar = progress_bar(
        terminal,
        false,
        "{prefix} {bar:30} {pos}/{len} events ({per_sec}, ETA {eta})",
        format!("{name} of {tenant}"),
    );
    let report = async {
        let mut next_line = 0_u64;
        while seen.changed().await.is_ok() {
            let now = seen.borrow_and_update().clone();
            bar.set_length(now.total.max(now.processed));
            bar.set_position(now.processed);
            if !terminal && (now.processed >= next_line || now.switched) {
                eprintln!(
                    "crm: {name} of {tenant}: {} of {} events folded{}",
                    now.processed,
                    now.total,
                    if now.switched { ", promoted" } else { "" }
                );
                next_line = now.processed + 100_000;
            }
        }
    };
    let (outcome, ()) = tokio::join!(work(progress), report);
    bar.finish_and_clear();
    outcome
}
