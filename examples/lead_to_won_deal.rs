//! The main job: a web lead from receipt to a won deal and a solved ticket, on the embedded
//! default store (one SQLite file, no server), printing each step.
//!
//! Run it with `cargo run -p crm-examples --example lead_to_won_deal`; it writes a fresh file
//! in the system's temporary directory and says where, or the file given as
//! `-- --database <path>`.

use std::error::Error;
use std::num::NonZeroU32;

use chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
use std::sync::Arc;

use crm_domain::account::{Account, AccountCommand, ContactRole};
use crm_domain::activity::{
    Activity as LoggedActivity, ActivityCommand, ActivityKind, ActivityOutcome, Direction,
    NewActivity,
};
use crm_domain::contact::{
    Contact, ContactCommand, Detail, DetailChange, LifecycleStage, Provenance,
};
use crm_domain::custom_fields::{
    CustomFieldSettings, CustomFieldSettingsCommand, CustomFieldsUpdate, EntityKind, SchemaDraft,
};
use crm_domain::identity::{CompanyDomain, CompanyName, CountryCode, PersonName};
use crm_domain::lead::{
    Campaign, ConversionRequest, Lead, LeadCommand, LeadEvent, LeadSource, LeadSubmission,
};
use crm_domain::opportunity::{Opportunity, OpportunityCommand, Pipeline, StageId};
use crm_domain::routing::{
    AssignmentStrategy, LeadAttributes, OutOfOffice, Presence, RoundRobinState, Team, TeamMember,
    Territories, TerritoryConditions, TerritoryRule, route_lead,
};
use crm_domain::scoring::{
    Activity, EmailDomainKind, LeadEngagement, LeadFit, ScoringConfig, ScoringCriterion,
    ScoringModel, ScoringRule,
};
use crm_domain::sla::{
    BusinessCalendar, ItemKind, ItemSla, OpeningHours, PolicyRef, PolicyVersion, SlaEventKind,
    SlaInput, SlaMetric, SlaPolicy, SlaPolicyId, SlaSubject, WeeklyHours,
};
use crm_domain::task::{Task, TaskCommand};
use crm_domain::ticket::{Ticket, TicketCommand, TicketStatus};
use crm_domain::{
    ActivityId, Actor, Channel, CompanyId, Currency, LeadId, Money, Priority, RecordRef, TaskId,
    TeamId, TicketId, UserId,
};
use crm_examples::EmbeddedCrm;
use uuid::Uuid;

const ALICE: UserId = UserId(Uuid::from_u128(0xa11ce));
const BOB: UserId = UserId(Uuid::from_u128(0xb0b));
const CAROL: UserId = UserId(Uuid::from_u128(0xca201));
const DAVE: UserId = UserId(Uuid::from_u128(0xda7e));
const SALES_DACH: TeamId = TeamId(Uuid::from_u128(0xdac4));
const SALES_WORLD: TeamId = TeamId(Uuid::from_u128(0x3071d));

fn step(title: &str) {
    println!("\n== {title}");
}

fn user(id: UserId) -> Actor {
    Actor::User { id }
}

fn name(rep: UserId) -> &'static str {
    match rep {
        ALICE => "Alice",
        BOB => "Bob",
        CAROL => "Carol",
        DAVE => "Dave",
        _ => "someone",
    }
}

fn print_sla(events: &[crm_domain::sla::SlaEvent]) {
    for event in events {
        match &event.kind {
            SlaEventKind::Activated { deadline, .. } => println!(
                "  {:?} clock activated at {}, due {}",
                event.metric,
                event.at,
                deadline.map_or_else(|| "never".into(), |d| d.to_string())
            ),
            SlaEventKind::Fulfilled { late, .. } => println!(
                "  {:?} fulfilled at {} ({})",
                event.metric,
                event.at,
                if *late { "late" } else { "on time" }
            ),
            other => println!("  {:?} {other:?} at {}", event.metric, event.at),
        }
    }
}

/// The file named by `--database <path>`, or a fresh one in the temporary directory.
fn database_path() -> Result<std::path::PathBuf, Box<dyn Error>> {
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        if argument == "--database" {
            return Ok(arguments.next().ok_or("--database needs a path")?.into());
        }
    }
    Ok(std::env::temp_dir().join(format!("crm-main-job-{}.db", Uuid::now_v7())))
}

fn main() -> Result<(), Box<dyn Error>> {
    let monday_nine = Utc
        .with_ymd_and_hms(2026, 3, 2, 8, 0, 0)
        .single()
        .ok_or("invalid start time")?;
    let path = database_path()?;
    let mut crm = EmbeddedCrm::open(&path, "acme", monday_nine)?;
    println!("The history is kept in {}", path.display());
    let web_form = Actor::Integration {
        source: "web-form".into(),
    };

    // --- 1. Receive: recorded before any validation -------------------------------------
    step("1. A web form posts a lead: it is recorded before any validation");
    let lead_id = LeadId(Uuid::now_v7());
    let payload = serde_json::json!({
        "first_name": "Ada", "last_name": "Lovelace", "email": " Ada.Lovelace@Example.COM ",
        "phone": "030 1234567", "company": "Analytical Engines GmbH", "country": "de",
        "postcode": "10115", "industry": "Manufacturing", "employees": 250,
        "job_title": "Head of Operations", "utm_source": "newsletter"
    });
    crm.execute::<Lead>(
        lead_id.0,
        LeadCommand::Receive {
            lead_id,
            source: LeadSource {
                system: "web-form".into(),
                external_event_id: "form-submission-8812".into(),
            },
            raw_payload: payload,
            requested_at: crm.now,
        },
        web_form.clone(),
    )?;
    println!("LeadReceived {lead_id} from web-form (delivery form-submission-8812)");

    // --- 2. Capture: validated and normalized ------------------------------------------
    step("2. Capture: the submission is validated and normalized (raw values kept)");
    let submission = LeadSubmission {
        first_name: Some("Ada".into()),
        last_name: Some("Lovelace".into()),
        email: Some(" Ada.Lovelace@Example.COM ".into()),
        phone: Some("030 1234567".into()),
        company: Some("Analytical Engines GmbH".into()),
        country: Some("de".into()),
        postcode: Some("10115".into()),
        industry: Some("Manufacturing".into()),
        company_size: Some(250),
        job_title: Some("Head of Operations".into()),
        ..LeadSubmission::default()
    };
    let events = crm.execute::<Lead>(
        lead_id.0,
        LeadCommand::Capture {
            submission,
            campaign: Campaign {
                utm_source: Some("newsletter".into()),
                ..Campaign::default()
            },
            default_region: CountryCode::new("DE")?,
        },
        web_form.clone(),
    )?;
    let (lead, _) = crm.load::<Lead>(lead_id.0)?;
    let profile = lead.profile.clone().ok_or("the lead was quarantined")?;
    if let (Some(LeadEvent::Captured { .. }), Some(email), Some(phone), Some(company)) = (
        events.first(),
        &profile.email,
        &profile.phone,
        &profile.company,
    ) {
        println!(
            "LeadCaptured: email {:?} -> {}, phone {:?} -> {}, company {:?} -> {}",
            email.raw(),
            email.normalized(),
            phone.raw(),
            phone.e164(),
            company.raw(),
            company.normalized()
        );
    }

    // --- 3. Score -----------------------------------------------------------------------
    step("3. Score: fit and engagement rules, with the explanation");
    let model = ScoringModel::new(ScoringConfig {
        rules: vec![
            ScoringRule {
                id: "dach".into(),
                points: 20,
                criterion: ScoringCriterion::Country {
                    any_of: vec![
                        CountryCode::new("DE")?,
                        CountryCode::new("AT")?,
                        CountryCode::new("CH")?,
                    ],
                },
            },
            ScoringRule {
                id: "decision-maker".into(),
                points: 15,
                criterion: ScoringCriterion::JobTitle {
                    keywords: vec!["head of".into(), "director".into(), "vp".into()],
                },
            },
            ScoringRule {
                id: "company-email".into(),
                points: 10,
                criterion: ScoringCriterion::EmailDomain {
                    kind: EmailDomainKind::Company,
                },
            },
            ScoringRule {
                id: "pricing-page".into(),
                points: 5,
                criterion: ScoringCriterion::PerActivity {
                    activity: Activity::PageView,
                    max_counted: NonZeroU32::new(4).ok_or("zero")?,
                },
            },
        ],
        ..ScoringConfig::default()
    })?;
    let engagement = LeadEngagement {
        page_views: 3,
        form_submissions: 1,
        email_opens: 0,
        last_activity_at: Some(crm.now),
    };
    let score = model.score(&LeadFit::from(&profile), &engagement, crm.now);
    for contribution in &score.contributions {
        println!(
            "  {:>4} points  {} ({:?})",
            contribution.points, contribution.rule_id, contribution.dimension
        );
    }
    println!("  total {}", score.total);
    crm.execute::<Lead>(
        lead_id.0,
        LeadCommand::ChangeScore { score },
        Actor::System {
            component: "lead-scoring".into(),
        },
    )?;

    // --- 4. Route -----------------------------------------------------------------------
    step("4. Route: first matching territory, then an available rep; every verdict recorded");
    let territories = Territories::new(
        vec![TerritoryRule {
            id: "dach".into(),
            conditions: TerritoryConditions {
                countries: vec![
                    CountryCode::new("DE")?,
                    CountryCode::new("AT")?,
                    CountryCode::new("CH")?,
                ],
                ..TerritoryConditions::default()
            },
            team: SALES_DACH,
        }],
        SALES_WORLD,
    )?;
    let member = |rep, presence, out_of_office, open_items| TeamMember {
        rep,
        active: true,
        presence,
        out_of_office,
        weight: 1,
        capacity: 10,
        open_items,
    };
    let roster = vec![
        Team {
            id: SALES_DACH,
            strategy: AssignmentStrategy::WeightedRoundRobin,
            members: vec![
                member(
                    BOB,
                    Presence::Online,
                    Some(OutOfOffice {
                        until: Some(crm.now + TimeDelta::days(7)),
                    }),
                    2,
                ),
                member(CAROL, Presence::Online, None, 10),
                member(ALICE, Presence::Online, None, 4),
            ],
        },
        Team {
            id: SALES_WORLD,
            strategy: AssignmentStrategy::LeastLoaded,
            members: vec![member(DAVE, Presence::Online, None, 0)],
        },
    ];
    let routed = route_lead(
        &LeadAttributes::from(&profile),
        &lead.reclaimed_from,
        &territories,
        &roster,
        &RoundRobinState::new(),
        crm.now,
    )?;
    for candidate in &routed.decision.candidates {
        println!("  {:<6} {:?}", name(candidate.rep), candidate.verdict);
    }
    crm.execute::<Lead>(
        lead_id.0,
        LeadCommand::Route {
            decision: routed.decision,
        },
        Actor::System {
            component: "lead-router".into(),
        },
    )?;
    let (lead, _) = crm.load::<Lead>(lead_id.0)?;
    let assignee = lead.assignee.ok_or("nobody was available")?;
    println!(
        "LeadAssigned to {} (rule dach, team sales-dach)",
        name(assignee)
    );

    // --- 5. The 5-minute response SLA ----------------------------------------------------
    step("5. Response SLA: 5 business minutes from the request, Berlin office hours");
    let calendar = BusinessCalendar::new(
        chrono_tz::Europe::Berlin,
        WeeklyHours::weekdays(&["09:00-17:00".parse::<OpeningHours>()?])?,
    )?;
    let policy = SlaPolicy::new(
        PolicyRef {
            id: SlaPolicyId(Uuid::from_u128(1)),
            version: PolicyVersion(1),
        },
        "speed to lead",
        calendar,
    )
    .with_target(
        Priority::Normal,
        SlaMetric::LeadFirstTouch,
        TimeDelta::minutes(5),
    )?;
    let subject = SlaSubject::new(ItemKind::Lead, Priority::Normal);
    let requested_at = lead.requested_at.ok_or("no request time")?;
    let (mut lead_sla, activated) = ItemSla::open(&policy, &subject, requested_at)?;
    print_sla(&activated);

    crm.advance_minutes(3);
    crm.execute::<Lead>(
        lead_id.0,
        LeadCommand::LogFirstTouch {
            channel: Channel::Phone,
        },
        user(assignee),
    )?;
    println!(
        "LeadFirstTouchLogged by {} at {} (by phone)",
        name(assignee),
        crm.now
    );
    print_sla(&lead_sla.apply(&policy, SlaInput::FirstTouch { at: crm.now })?);

    // --- 6. Qualify and convert ----------------------------------------------------------
    step("6. Qualify and convert into a contact and an opportunity");
    crm.advance_minutes(20);
    crm.execute::<Lead>(lead_id.0, LeadCommand::Qualify, user(assignee))?;
    let converted = crm.execute::<Lead>(
        lead_id.0,
        LeadCommand::Convert(ConversionRequest {
            existing_contact: None,
            open_opportunity: true,
        }),
        user(assignee),
    )?;
    let Some(LeadEvent::Converted {
        contact_id,
        opportunity_id: Some(opportunity_id),
        ..
    }) = converted.first().cloned()
    else {
        return Err("conversion did not open an opportunity".into());
    };
    println!("LeadConverted -> contact {contact_id}, opportunity {opportunity_id}");

    let provenance = Provenance {
        system: "lead-conversion".into(),
        source_time: crm.now,
    };
    let mut changes = vec![
        DetailChange::Set(Detail::GivenName(Some(PersonName::new("Ada")?))),
        DetailChange::Set(Detail::FamilyName(Some(PersonName::new("Lovelace")?))),
        DetailChange::Set(Detail::CompanyName(profile.company.clone())),
        DetailChange::Set(Detail::Country(profile.country)),
        DetailChange::Set(Detail::Owner(Some(assignee))),
        DetailChange::Set(Detail::LifecycleStage(Some(LifecycleStage::Opportunity))),
    ];
    changes.extend(profile.email.clone().map(DetailChange::AddEmail));
    changes.extend(profile.phone.clone().map(DetailChange::AddPhone));
    let created = crm.execute::<Contact>(
        contact_id.0,
        ContactCommand::Create {
            contact_id,
            provenance,
            changes,
        },
        user(assignee),
    )?;
    println!("ContactCreated {contact_id} with {} facts", created.len());

    // --- 6b. The company -------------------------------------------------------------------
    step("6b. The company becomes an account; Ada joins it as the decision maker");
    let account_id = CompanyId(Uuid::now_v7());
    crm.execute::<Account>(
        account_id.0,
        AccountCommand::Open {
            account: account_id,
            name: CompanyName::new("Analytical Engines GmbH")?,
            owner: assignee,
            domains: vec![CompanyDomain::parse(
                "https://www.analytical-engines.example",
            )?],
            industry: Some("Manufacturing".into()),
            employees: Some(250),
            addresses: Vec::new(),
        },
        user(assignee),
    )?;
    crm.execute::<Account>(
        account_id.0,
        AccountCommand::AddContact {
            contact: contact_id,
            role: ContactRole::DecisionMaker,
        },
        user(assignee),
    )?;
    println!("AccountOpened {account_id} (analytical-engines.example); Ada: decision maker");

    // --- 6c. Custom fields ------------------------------------------------------------------
    step("6c. An admin declares the accounts' custom fields; the account gets its tier");
    let settings = CustomFieldSettings::id_of(EntityKind::Account);
    let schema: SchemaDraft = serde_json::from_value(serde_json::json!({
        "entity": "account",
        "version": 1,
        "fields": [
            {"key": "tier", "label": "Partner tier", "type": {"kind": "single_pick", "options": [
                {"key": "gold", "label": "Gold"}, {"key": "silver", "label": "Silver"}]}},
            {"key": "renewal", "label": "Renewal date", "type": {"kind": "date"}}
        ],
        "rules": [{"rule": "required_when", "field": "renewal", "when": "tier",
                   "equals": {"type": "choice", "value": "gold"}}]
    }))?;
    crm.execute::<CustomFieldSettings>(
        settings,
        CustomFieldSettingsCommand::Publish { schema },
        user(assignee),
    )?;
    let current = crm
        .load::<CustomFieldSettings>(settings)?
        .0
        .schema_or_empty(EntityKind::Account);
    let set = |values: serde_json::Value| {
        let changes = values.as_object().cloned().unwrap_or_default();
        AccountCommand::SetCustomFields(CustomFieldsUpdate::new(Arc::clone(&current), changes))
    };
    // A gold partner needs a renewal date: refused, the field named.
    match crm.execute::<Account>(
        account_id.0,
        set(serde_json::json!({"tier": "gold"})),
        user(assignee),
    ) {
        Err(refused) => println!("  refused: {refused}"),
        Ok(_) => return Err("a gold tier without a renewal date was accepted".into()),
    }
    crm.execute::<Account>(
        account_id.0,
        set(serde_json::json!({"tier": "gold", "renewal": "2027-01-31"})),
        user(assignee),
    )?;
    let (account, _) = crm.load::<Account>(account_id.0)?;
    for value in current.read_stored(&account.custom) {
        println!("  {}: {}", value.label, value.text);
    }

    // --- 7. Work the deal -----------------------------------------------------------------
    step("7. The deal moves along the pipeline, stamping probability and forecast category");
    let eur = Currency::new("EUR")?;
    crm.execute::<Opportunity>(
        opportunity_id.0,
        OpportunityCommand::Open {
            opportunity: opportunity_id,
            name: "Analytical Engines: 250 seats".into(),
            contact: contact_id,
            company: Some(account_id),
            owner: assignee,
            amount: Money::new(12_000_000, eur),
            expected_close: NaiveDate::from_ymd_opt(2026, 6, 30).ok_or("invalid date")?,
            pipeline: Pipeline::default(),
            stage: None,
        },
        user(assignee),
    )?;
    crm.advance_minutes(30);
    let call = ActivityId(Uuid::now_v7());
    crm.execute::<LoggedActivity>(
        call.0,
        ActivityCommand::Log(NewActivity {
            activity: call,
            kind: ActivityKind::Call,
            records: vec![
                RecordRef::Contact(contact_id),
                RecordRef::Opportunity(opportunity_id),
            ],
            occurred_at: crm.now,
            duration_seconds: Some(20 * 60),
            direction: Some(Direction::Outbound),
            participants: Vec::new(),
            outcome: Some(ActivityOutcome::Connected),
            subject: Some("Scope of the 250 seats".into()),
            body: None,
            performed_by: Some(assignee),
        }),
        user(assignee),
    )?;
    println!("ActivityLogged: a 20-minute call with Ada about the deal");
    let task_id = TaskId(Uuid::now_v7());
    let due_at = crm.now + TimeDelta::days(2);
    crm.execute::<Task>(
        task_id.0,
        TaskCommand::Create {
            task: task_id,
            title: "Send the signed order form".into(),
            description: None,
            owner: assignee,
            concerns: Some(RecordRef::Opportunity(opportunity_id)),
            contact: None,
            due_at: Some(due_at),
            priority: Priority::High,
        },
        user(assignee),
    )?;
    println!("TaskCreated: \"Send the signed order form\", due {due_at}");
    for stage in ["qualification", "proposal", "negotiation"] {
        crm.advance_minutes(60 * 24 * 7);
        crm.execute::<Opportunity>(
            opportunity_id.0,
            OpportunityCommand::ChangeStage {
                to: StageId::new(stage),
            },
            user(assignee),
        )?;
        let (deal, _) = crm.load::<Opportunity>(opportunity_id.0)?;
        if let Some(deal) = deal.deal {
            println!(
                "  stage {stage:<13} probability {:>3} %  category {:?}  weighted {}",
                deal.probability.percent(),
                deal.forecast_category,
                deal.weighted_amount()
            );
        }
    }

    step("8. Winning above the approval threshold needs an approval first");
    match crm.execute::<Opportunity>(opportunity_id.0, OpportunityCommand::Win, user(assignee)) {
        Err(refused) => println!("  refused as it should be: {refused}"),
        Ok(_) => return Err("a deal above the threshold was won without approval".into()),
    }
    crm.execute::<Opportunity>(
        opportunity_id.0,
        OpportunityCommand::RequestApproval {
            comment: Some("strategic logo".into()),
        },
        user(assignee),
    )?;
    crm.advance_minutes(45);
    crm.execute::<Opportunity>(
        opportunity_id.0,
        OpportunityCommand::GrantApproval { comment: None },
        user(DAVE),
    )?;
    crm.execute::<Opportunity>(opportunity_id.0, OpportunityCommand::Win, user(assignee))?;
    let (deal, _) = crm.load::<Opportunity>(opportunity_id.0)?;
    println!(
        "OpportunityWon: {} ({:?})",
        deal.deal
            .as_ref()
            .map_or_else(String::new, |d| d.amount.to_string()),
        deal.status()
    );

    // --- 9. Support -------------------------------------------------------------------------
    step("9. The new customer opens a ticket; it is answered and solved");
    let ticket_id = TicketId(Uuid::now_v7());
    crm.advance_minutes(60 * 24);
    crm.execute::<Ticket>(
        ticket_id.0,
        TicketCommand::Open {
            ticket: ticket_id,
            contact: contact_id,
            subject: "How do we add more seats?".into(),
            channel: Channel::Email,
            priority: Priority::Normal,
            message: Some("We would like 20 more seats next month.".into()),
            follow_up_of: None,
            account: Some(account_id),
        },
        Actor::Integration {
            source: "support-mailbox".into(),
        },
    )?;
    crm.execute::<Ticket>(
        ticket_id.0,
        TicketCommand::Assign { assignee: CAROL },
        user(CAROL),
    )?;
    crm.advance_minutes(25);
    crm.execute::<Ticket>(
        ticket_id.0,
        TicketCommand::ReplyToCustomer {
            body: "Seats can be added in the admin console; I have raised your limit.".into(),
            channel: Channel::Email,
        },
        user(CAROL),
    )?;
    crm.advance_minutes(90);
    crm.execute::<Ticket>(
        ticket_id.0,
        TicketCommand::RecordCustomerReply {
            from: contact_id,
            body: "Works, thank you!".into(),
            channel: Channel::Email,
        },
        Actor::Integration {
            source: "support-mailbox".into(),
        },
    )?;
    for status in [TicketStatus::Solved, TicketStatus::Closed] {
        crm.execute::<Ticket>(
            ticket_id.0,
            TicketCommand::ChangeStatus { status },
            user(CAROL),
        )?;
        println!("  TicketStatusChanged -> {status}");
    }

    // --- 10. The account ------------------------------------------------------------------------
    step("10. The account 360: contacts, revenue, tickets and activity; the task still open");
    let view = crm
        .account_360(account_id)?
        .ok_or("the account has no account 360")?;
    let figures = &view.rollup;
    println!(
        "  {}: {} contact(s), won {} ({} deal), {} open ticket(s), {} resolved, {} activity, last {}",
        view.account.name.as_deref().unwrap_or("?"),
        figures.contacts,
        figures
            .won_revenue
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        figures.won_deals,
        figures.open_tickets,
        figures.resolved_tickets,
        figures.activities,
        figures
            .last_activity_at
            .map_or_else(|| "never".to_owned(), |at| at.to_string()),
    );
    let (task, _) = crm.load::<Task>(task_id.0)?;
    println!(
        "  task \"{}\": {}, due {due_at}, overdue now: {}",
        task.details
            .as_ref()
            .map_or("", |details| details.title.as_str()),
        task.status().map_or("?", |status| status.as_str()),
        task.is_overdue(crm.now)
    );
    if figures.contacts != 1 || figures.won_deals != 1 || figures.activities != 1 {
        return Err("the account 360 does not show the contact, the deal and the call".into());
    }

    // --- 11. Audit ----------------------------------------------------------------------------
    step("11. Audit: every stream's hash chain verifies");
    let report = crm.verify()?;
    println!(
        "  {} events in {} streams, {} read back in global order; chains intact: {}",
        report.events_checked,
        report.streams_checked,
        crm.count_events()?,
        report.is_intact()
    );
    if !report.is_intact() {
        return Err("the hash chain is broken".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The README's main job runs to the end: the deal is won only after approval, the ticket
    /// is closed, and every hash chain verifies (`main` returns an error otherwise).
    #[test]
    fn the_main_job_runs_from_lead_to_won_deal_and_solved_ticket() {
        super::main().expect("the main job failed");
    }
}
