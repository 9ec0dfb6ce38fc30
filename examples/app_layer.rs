//! The whole application layer, as an embedder runs it: a lead arrives, is routed from the
//! roster, is pulled back after five untouched business minutes and offered to the next rep,
//! is converted (the workflow creates the contact and the deal), the deal is won (the workflow
//! opens the onboarding ticket and writes the ERP message), and every rep notification and ERP
//! message waits in the outbox. Last, the read models are projected from the same history
//! (through the keys: personal fields are stored encrypted) and the customer's 360 printed.
//!
//! Runs in memory by default; with `--postgres` it runs on the PostgreSQL database named by
//! `DATABASE_URL` (the tables are created by the store's and the app's migrations):
//!
//! ```sh
//! cargo run -p crm-examples --example app_layer
//! DATABASE_URL=postgres://… cargo run -p crm-examples --example app_layer -- --postgres
//! ```

use std::collections::BTreeSet;
use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use chrono::{Days, TimeDelta, TimeZone, Utc};
use crm_app::routing::{RouteOutcome, RoutingSettings, route_lead};
use crm_app::scheduler::{
    DEFAULT_RESPONSE_WINDOW, DeadlineStore, MemoryDeadlines, PostgresDeadlines, ResponseScheduler,
    SchedulerSettings,
};
use crm_app::workflow::{
    ConversionSettings, NotificationSettings, NotifyAssignedRep, OpenConvertedLead, Reaction,
    StartOnboarding,
};
use crm_app::{
    CommandMeta, CommandService, ManualClock, MemoryUnitOfWork, PostgresUnitOfWork, UnitOfWork,
    WorkflowRunner,
};
use crm_domain::identity::CountryCode;
use crm_domain::lead::{
    Campaign, ConversionRequest, Lead, LeadCommand, LeadSource, LeadSubmission,
};
use crm_domain::opportunity::{Opportunity, OpportunityCommand, Pipeline};
use crm_domain::roster::{Rep, RepCommand, Team, TeamCommand, TerritoryMap, TerritoryMapCommand};
use crm_domain::routing::AssignmentStrategy;
use crm_domain::sla::BusinessCalendar;
use crm_domain::{Actor, Channel, Currency, LeadId, TeamId, UserId};
use crm_eventstore::{EventStore, GlobalPosition, PostgresConfig, PostgresStore, TenantId};
use crm_projections::customer360::Customer360Model;
use crm_projections::{MemoryStorage, Projector, ProjectorOptions, customer_360_as_of};
use uuid::Uuid;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn main() -> Result<()> {
    let postgres = std::env::args().any(|arg| arg == "--postgres");
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            if postgres {
                let url = std::env::var("DATABASE_URL")
                    .map_err(|_| "--postgres needs DATABASE_URL (see scripts/postgres-env)")?;
                let store = PostgresStore::connect(PostgresConfig::new(url)).await?;
                let work = PostgresUnitOfWork::connect(store.clone()).await?;
                println!("running on PostgreSQL");
                Box::pin(run(work, PostgresDeadlines::new(store))).await
            } else {
                println!("running in memory (pass --postgres to use DATABASE_URL)");
                Box::pin(run(MemoryUnitOfWork::default(), MemoryDeadlines::default())).await
            }
        })
}

fn step(title: &str) {
    println!("\n== {title}");
}

/// Runs `reaction` until it has seen everything appended so far.
async fn react<U: UnitOfWork>(
    service: &Arc<CommandService<U>>,
    tenant: &TenantId,
    reaction: Arc<dyn Reaction>,
    through: GlobalPosition,
) -> Result<()> {
    let name = reaction.name();
    let progress = WorkflowRunner::new(Arc::clone(service), reaction, tenant.clone())
        .catch_up_to(through, Duration::from_secs(30))
        .await?;
    println!("workflow {name}: {} effect(s)", progress.effects);
    Ok(())
}

#[allow(
    clippy::too_many_lines,
    reason = "a walk-through reads best in one piece"
)]
async fn run<U: UnitOfWork, D: DeadlineStore>(work: U, deadlines: D) -> Result<()> {
    // A fresh tenant per run, so the example can run again on the same database.
    let tenant = TenantId::new(format!("example-{}", Uuid::now_v7().simple()))?;
    let monday_nine = Utc
        .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .ok_or("invalid start time")?;
    let clock = ManualClock::new(monday_nine);
    let service = Arc::new(CommandService::new(work, Arc::new(clock.clone())));
    let admin = CommandMeta::by(Actor::System {
        component: "example-setup".into(),
    });
    let calendar = BusinessCalendar::always_open(chrono_tz::Europe::Berlin);
    let mut last = GlobalPosition::default();
    let mut note = |outcome: &crm_app::CommandOutcome| {
        if let Some(event) = outcome.events.last() {
            last = last.max(event.position);
        }
    };

    step("1. The roster: two reps, a team with a lead, a territory map");
    let (ada, bob, lea) = (
        UserId(Uuid::now_v7()),
        UserId(Uuid::now_v7()),
        UserId(Uuid::now_v7()),
    );
    for (rep, name) in [(ada, "Ada"), (bob, "Bob")] {
        for command in [
            RepCommand::Register {
                rep,
                display_name: name.into(),
                email: format!("{}@acme.example", name.to_lowercase()),
                capacity: 20,
                weight: 1,
                skills: BTreeSet::new(),
                endpoint: Some(format!(
                    "https://hooks.acme.example/{}",
                    name.to_lowercase()
                )),
            },
            RepCommand::GoOnline,
        ] {
            service
                .execute::<Rep>(&tenant, rep.0, command, &admin)
                .await?;
        }
    }
    let team = TeamId(Uuid::now_v7());
    for command in [
        TeamCommand::Create {
            team_id: team,
            name: "Inside sales".into(),
            strategy: AssignmentStrategy::WeightedRoundRobin,
            leader: Some(lea),
            endpoint: None,
        },
        TeamCommand::AddMember { rep: ada },
        TeamCommand::AddMember { rep: bob },
    ] {
        service
            .execute::<Team>(&tenant, team.0, command, &admin)
            .await?;
    }
    let map = Uuid::now_v7();
    service
        .execute::<TerritoryMap>(
            &tenant,
            map,
            TerritoryMapCommand::Define {
                map_id: map,
                rules: vec![],
                fallback_team: team,
            },
            &admin,
        )
        .await?;
    println!("reps Ada and Bob online in team Inside sales (lead: Lea)");

    step("2. Intake: a web form's lead, recorded once however often it is delivered");
    let lead = LeadId(Uuid::now_v7());
    let intake = CommandMeta::by(Actor::Integration {
        source: "web-form".into(),
    })
    .with_idempotency_key("web-form:submission-8812");
    let receive = LeadCommand::Receive {
        lead_id: lead,
        source: LeadSource {
            system: "web-form".into(),
            external_event_id: "submission-8812".into(),
        },
        raw_payload: serde_json::json!({ "email": "grace@hopper.example", "company": "Hopper Systems" }),
        requested_at: monday_nine,
    };
    for delivery in 1..=2 {
        let done = service
            .execute::<Lead>(&tenant, lead.0, receive.clone(), &intake)
            .await?;
        println!(
            "delivery {delivery}: lead at version {} ({})",
            done.version,
            if done.replayed {
                "the first result, nothing recorded twice"
            } else {
                "recorded"
            }
        );
    }
    let captured = service
        .execute::<Lead>(
            &tenant,
            lead.0,
            LeadCommand::Capture {
                submission: LeadSubmission {
                    first_name: Some("Grace".into()),
                    last_name: Some("Hopper".into()),
                    email: Some("grace@hopper.example".into()),
                    company: Some("Hopper Systems".into()),
                    country: Some("DE".into()),
                    ..LeadSubmission::default()
                },
                campaign: Campaign::default(),
                default_region: CountryCode::new("DE")?,
            },
            &intake
                .clone()
                .with_idempotency_key("web-form:submission-8812:capture"),
        )
        .await?;
    note(&captured.outcome);
    println!("captured: {} event(s)", captured.events.len());

    step("3. Routing from the roster, and the rep is notified");
    let routing = RoutingSettings { territory_map: map };
    let first = route_lead(&service, &tenant, routing, lead).await?;
    println!("routed: {first:?}");
    let notifications = Arc::new(NotifyAssignedRep::new(NotificationSettings {
        calendar: calendar.clone(),
        response_window: DEFAULT_RESPONSE_WINDOW,
        link_base: "https://crm.acme.example".into(),
    }));
    let (_, lead_version) = service.load::<Lead>(&tenant, lead.0).await?;
    last = last.max(position_of(&service, &tenant, lead, lead_version).await?);
    react(&service, &tenant, notifications.clone(), last).await?;

    step("4. Five business minutes pass untouched: the scheduler pulls the lead back");
    let scheduler = ResponseScheduler::new(
        Arc::clone(&service),
        deadlines,
        tenant.clone(),
        SchedulerSettings {
            calendar: calendar.clone(),
            response_window: DEFAULT_RESPONSE_WINDOW,
            max_reassignments: 2,
            lease: TimeDelta::seconds(30),
            batch: 100,
            parallelism: 8,
        },
    );
    while scheduler.deadlines().pending(&tenant).await?.is_empty() {
        scheduler.track().await?;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    clock.advance(TimeDelta::minutes(5));
    let report = scheduler.tick().await?;
    let (state, lead_version) = service.load::<Lead>(&tenant, lead.0).await?;
    println!(
        "reclaimed {} lead(s); now with {:?} (reassignment {}, requested at {:?})",
        report.reclaimed.len(),
        state
            .assignee
            .map(|rep| if rep == ada { "Ada" } else { "Bob" }),
        state.reassignments,
        state.requested_at
    );
    last = last.max(position_of(&service, &tenant, lead, lead_version).await?);
    react(&service, &tenant, notifications, last).await?;
    let RouteOutcome::Assigned { rep: first_rep, .. } = first else {
        return Err("the lead was queued".into());
    };
    let holder = state.assignee.ok_or("the lead has no rep")?;
    assert_ne!(holder, first_rep);

    step("5. The new rep calls and converts the lead: the workflow creates contact and deal");
    clock.advance(TimeDelta::minutes(2));
    let rep_meta = CommandMeta::by(Actor::User { id: holder });
    service
        .execute::<Lead>(
            &tenant,
            lead.0,
            LeadCommand::LogFirstTouch {
                channel: Channel::Phone,
            },
            &rep_meta,
        )
        .await?;
    let converted = service
        .execute::<Lead>(
            &tenant,
            lead.0,
            LeadCommand::Convert(ConversionRequest {
                existing_contact: None,
                open_opportunity: true,
            }),
            &CommandMeta::by(Actor::User { id: holder }),
        )
        .await?;
    last = last.max(converted.outcome.events.last().map_or(last, |e| e.position));
    react(
        &service,
        &tenant,
        Arc::new(OpenConvertedLead::new(ConversionSettings {
            pipeline: Pipeline::default(),
            currency: Currency::new("EUR")?,
            expected_close_after: Days::new(60),
            fallback_owner: lea,
        })),
        last,
    )
    .await?;
    let (state, _) = service.load::<Lead>(&tenant, lead.0).await?;
    let contact = state.converted_to.ok_or("not converted")?;
    println!("contact {contact} created from the lead");

    step("6. The deal is won: the workflow opens onboarding and tells the ERP");
    let opportunity = match converted.events.first() {
        Some(crm_domain::lead::LeadEvent::Converted {
            opportunity_id: Some(id),
            ..
        }) => *id,
        _ => return Err("no deal was opened".into()),
    };
    let won = service
        .execute::<Opportunity>(&tenant, opportunity.0, OpportunityCommand::Win, &rep_meta)
        .await?;
    last = last.max(won.outcome.events.last().map_or(last, |e| e.position));
    react(&service, &tenant, Arc::new(StartOnboarding), last).await?;

    step("7. The outbox: what the relay will deliver, each under its idempotency key");
    for entry in service.work().outbox(&tenant).await? {
        println!(
            "{:<18} {:<40} {}",
            entry.message.destination,
            entry.message.idempotency_key,
            entry.message.payload["endpoint"]
                .as_str()
                .unwrap_or("(destination's URL)")
        );
    }
    step("8. The read models, projected from the history: the customer's 360");
    let documents = Arc::new(MemoryStorage::new(Customer360Model));
    let mut projector = Projector::new(
        service.work().store().clone(),
        Arc::clone(&documents),
        tenant.clone(),
        ProjectorOptions::default(),
    );
    projector.catch_up().await?;
    let view = customer_360_as_of(service.work().store(), &*documents, &tenant, contact, None)
        .await?
        .ok_or("the contact has no 360 yet")?;
    println!(
        "customer {}: {} lead(s), {} deal(s), {} open ticket(s), lifetime value {:?}",
        view.customer,
        view.leads.len(),
        view.opportunities.len(),
        view.open_tickets,
        view.lifetime_value,
    );

    let report = service.work().store().verify(&tenant).await?;
    println!(
        "\nhistory verified: {}",
        if report.is_sound() { "sound" } else { "BROKEN" }
    );
    Ok(())
}

/// The global position of a lead's event at `version`.
async fn position_of<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    lead: LeadId,
    version: u64,
) -> Result<GlobalPosition> {
    let stream = crm_app::stream_of::<Lead>(lead.0)?;
    let events = service
        .work()
        .store()
        .read_stream(
            tenant,
            &stream,
            crm_eventstore::StreamRead::forward()
                .from_version(version)
                .limit(1),
        )
        .await?;
    Ok(events
        .first()
        .map(|event| event.position)
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_application_layer_runs_from_intake_to_onboarding_in_memory() {
        super::main().expect("the walk-through failed");
    }
}
