//! `crm demo`: a realistic data set for trying the CRM: two territories with their teams and
//! reps, thousands of leads through the real intake (duplicates and a few unusable ones among
//! them), contacts with deals across every stage, and tickets under way.
//!
//! Everything goes through the command service and the inbox, exactly as production data
//! does; every id is derived from the tenant's demo seed and every command carries an
//! idempotency key, so running the demo twice changes nothing the second time.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{Days, TimeDelta};
use crm_domain::contact::{Contact, ContactCommand, Detail, DetailChange, Provenance};
use crm_domain::identity::{CompanyName, CountryCode, EmailAddress, PersonName, PhoneNumber};
use crm_domain::opportunity::{LossReason, Opportunity, OpportunityCommand, Pipeline, StageId};
use crm_domain::roster::{Rep, RepCommand, Team, TeamCommand, TerritoryMap, TerritoryMapCommand};
use crm_domain::routing::{AssignmentStrategy, TerritoryConditions, TerritoryRule};
use crm_domain::ticket::{Ticket, TicketCommand, TicketStatus};
use crm_domain::{
    Actor, Aggregate, Channel, ContactId, Currency, Money, OpportunityId, Priority, TeamId,
    TicketId, UserId,
};
use crm_eventstore::TenantId;
use serde::Serialize;
use serde_json::json;
use thiserror::Error;
use uuid::Uuid;

use crate::command::{CommandMeta, CommandService};
use crate::error::CommandError;
use crate::ids::derive_id;
use crate::intake::{Inbox, IntakeError, IntakeSettings, IntakeWorker, LeadDelivery};
use crate::routing::RoutingSettings;
use crate::uow::{UnitOfWork, WorkError};

/// How big a demo to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoSettings {
    /// Lead deliveries (about one in eight a duplicate of an earlier person, one in forty
    /// unusable).
    pub leads: usize,
    /// Contacts, each with a deal; every other one with a ticket.
    pub customers: usize,
}

impl Default for DemoSettings {
    fn default() -> Self {
        Self {
            leads: 2_000,
            customers: 500,
        }
    }
}

/// What the demo made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DemoReport {
    /// Reps on the roster.
    pub reps: usize,
    /// Teams.
    pub teams: usize,
    /// Lead deliveries kept in the inbox (new ones; a second run keeps none).
    pub deliveries: usize,
    /// Inbox items turned into leads by the intake.
    pub leads_processed: usize,
    /// Contacts.
    pub contacts: usize,
    /// Deals opened.
    pub deals: usize,
    /// Deals won.
    pub won: usize,
    /// Deals lost.
    pub lost: usize,
    /// Tickets opened.
    pub tickets: usize,
    /// Commands the domain refused (a deal above its approval threshold, say); the demo goes on.
    pub refused: usize,
}

/// Why the demo stopped.
#[derive(Debug, Error)]
pub enum DemoError {
    /// A command could not be executed (not a refusal: the store failed).
    #[error("{what}: {reason}")]
    Command {
        /// What was being made.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// The inbox refused or failed.
    #[error(transparent)]
    Intake(#[from] IntakeError),
    /// The inbox or the intake failed.
    #[error(transparent)]
    Work(#[from] WorkError),
}

/// A small deterministic generator (SplitMix64): the same demo every time.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        usize::try_from(self.next() % (bound.max(1) as u64)).unwrap_or(0)
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

const GIVEN: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Katherine",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Tim",
    "Margaret",
    "Linus",
    "Radia",
    "Ken",
    "Hedy",
    "John",
    "Sophie",
    "Niklaus",
    "Shafi",
    "Leslie",
    "Annie",
];
const FAMILY: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Johnson",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Berners-Lee",
    "Hamilton",
    "Torvalds",
    "Perlman",
    "Thompson",
    "Lamarr",
    "Backus",
    "Wilson",
    "Wirth",
    "Goldwasser",
    "Lamport",
    "Easley",
];
const COMPANIES: &[&str] = &[
    "Analytical Engines",
    "Difference Ltd",
    "Compiler Works",
    "Kernel & Sons",
    "Lambda Logistics",
    "Packet Partners",
    "Quantum Quarry",
    "Relational Retail",
    "Stack Systems",
    "Vector Ventures",
];
/// Countries with a phone number pattern each (national significant numbers).
const COUNTRIES: &[(&str, &str)] = &[
    ("GB", "+44 20 7946 0{}"),
    ("DE", "+49 30 901820{}"),
    ("FR", "+33 1 42 68 5{}"),
    ("NL", "+31 20 555 0{}"),
    ("US", "+1 201 555 0{}"),
    ("CA", "+1 416 555 0{}"),
    ("BR", "+55 11 3030 0{}"),
];

fn meta(key: String) -> CommandMeta {
    CommandMeta::by(Actor::System {
        component: "demo".into(),
    })
    .with_idempotency_key(key)
}

/// Executes one command of the demo: a refusal is counted, not fatal.
async fn send<U, A>(
    service: &CommandService<U>,
    tenant: &TenantId,
    id: Uuid,
    command: A::Command,
    key: String,
    report: &mut DemoReport,
) -> Result<bool, DemoError>
where
    U: UnitOfWork,
    A: Aggregate + Send + Sync + 'static,
    A::Command: Serialize + Clone,
{
    match service
        .execute::<A>(tenant, id, command, &meta(key.clone()))
        .await
    {
        Ok(_) => Ok(true),
        Err(CommandError::Rejected(_)) => {
            report.refused += 1;
            Ok(false)
        }
        Err(error) => Err(DemoError::Command {
            what: key,
            reason: error.to_string(),
        }),
    }
}

/// Loads the demo into `tenant`: see the [module documentation](self).
pub async fn load_demo<U, I>(
    service: &Arc<CommandService<U>>,
    inbox: I,
    tenant: &TenantId,
    settings: DemoSettings,
) -> Result<DemoReport, DemoError>
where
    U: UnitOfWork,
    I: Inbox,
{
    let seed = derive_id(Uuid::nil(), &format!("crm-demo/{tenant}"));
    let id = |label: &str| derive_id(seed, label);
    let mut report = DemoReport::default();
    let now = service.clock().now();

    // The roster: two territories and a fallback, three reps each.
    let territories: [(&str, &[&str]); 3] = [
        ("EMEA", &["GB", "DE", "FR", "NL"]),
        ("Americas", &["US", "CA", "BR"]),
        ("Global", &[]),
    ];
    let mut rules = Vec::new();
    let mut teams = Vec::new();
    let mut reps = Vec::new();
    for (name, countries) in territories {
        let team = TeamId(id(&format!("team/{name}")));
        let created = TeamCommand::Create {
            team_id: team,
            name: name.to_owned(),
            strategy: AssignmentStrategy::WeightedRoundRobin,
            leader: None,
            endpoint: None,
        };
        send::<U, Team>(
            service,
            tenant,
            team.0,
            created,
            format!("demo/team/{name}"),
            &mut report,
        )
        .await?;
        for n in 0..3 {
            let rep = UserId(id(&format!("rep/{name}/{n}")));
            let display = format!("{} rep {}", name, n + 1);
            for (step, command) in [
                RepCommand::Register {
                    rep,
                    display_name: display.clone(),
                    email: format!("{}.{}@demo.example", name.to_lowercase(), n + 1),
                    capacity: 400,
                    weight: 1 + u32::try_from(n).unwrap_or(0),
                    skills: BTreeSet::new(),
                    endpoint: None,
                },
                RepCommand::GoOnline,
            ]
            .into_iter()
            .enumerate()
            {
                send::<U, Rep>(
                    service,
                    tenant,
                    rep.0,
                    command,
                    format!("demo/rep/{name}/{n}/{step}"),
                    &mut report,
                )
                .await?;
            }
            send::<U, Team>(
                service,
                tenant,
                team.0,
                TeamCommand::AddMember { rep },
                format!("demo/team/{name}/member/{n}"),
                &mut report,
            )
            .await?;
            reps.push(rep);
        }
        if !countries.is_empty() {
            rules.push(TerritoryRule {
                id: name.to_lowercase(),
                conditions: TerritoryConditions {
                    countries: countries
                        .iter()
                        .filter_map(|code| CountryCode::new(code).ok())
                        .collect(),
                    ..TerritoryConditions::default()
                },
                team,
            });
        }
        teams.push(team);
    }
    report.teams = teams.len();
    report.reps = reps.len();
    let map = id("territories");
    let fallback_team = teams[teams.len() - 1];
    send::<U, TerritoryMap>(
        service,
        tenant,
        map,
        TerritoryMapCommand::Define {
            map_id: map,
            rules,
            fallback_team,
        },
        "demo/territories".into(),
        &mut report,
    )
    .await?;

    // Leads through the real intake: some people write in twice, some forms are unusable.
    let mut draw = Draw(seed.as_u64_pair().0);
    let mut people: Vec<(String, String, String, &str, String)> = Vec::new();
    let mut deliveries = Vec::with_capacity(settings.leads);
    for n in 0..settings.leads {
        let repeat = !people.is_empty() && draw.below(8) == 0;
        let (given, family, company, country, phone) = if repeat {
            people[draw.below(people.len())].clone()
        } else {
            let (country, pattern) = COUNTRIES[draw.below(COUNTRIES.len())];
            let person = (
                draw.pick(GIVEN).to_owned(),
                draw.pick(FAMILY).to_owned(),
                draw.pick(COMPANIES).to_owned(),
                country,
                pattern.replace("{}", &format!("{:03}", n % 1000)),
            );
            people.push(person.clone());
            person
        };
        let mut email = format!(
            "{}.{}{}@{}.example",
            given.to_lowercase(),
            family.to_lowercase().replace(' ', ""),
            people.len() % 97,
            company.to_lowercase().replace([' ', '&'], "")
        );
        if repeat {
            // The same person, typed otherwise: another case, no phone spaces.
            email = email.to_uppercase();
        }
        if draw.below(40) == 0 {
            email = "not an email".into();
        }
        deliveries.push(LeadDelivery {
            source: "demo-web-form".into(),
            external_id: format!("demo-{n}"),
            payload: json!({
                "first_name": given,
                "last_name": family,
                "email": email,
                "phone": if repeat { phone.replace(' ', "") } else { phone },
                "company": company,
                "country": country,
                "utm_source": draw.pick(&["google", "newsletter", "webinar", "partner"]),
            }),
        });
    }
    for chunk in deliveries.chunks(500) {
        let submitted = crate::intake::submit(&inbox, tenant, chunk, now).await?;
        report.deliveries += submitted
            .iter()
            .filter(|submitted| matches!(submitted, crate::intake::Submitted::Accepted { .. }))
            .count();
    }
    let worker = IntakeWorker::new(
        Arc::clone(service),
        inbox,
        tenant.clone(),
        IntakeSettings {
            default_region: CountryCode::new("US").map_err(|error| DemoError::Command {
                what: "default region".into(),
                reason: error.to_string(),
            })?,
            routing: Some(RoutingSettings { territory_map: map }),
            batch: 200,
            parallelism: 8,
            lease: TimeDelta::minutes(5),
            retry_after: TimeDelta::seconds(5),
            custom_fields: std::collections::BTreeMap::new(),
        },
    );
    report.leads_processed = worker.drain().await?;

    // Customers with deals across every stage, and tickets.
    let pipeline = Pipeline::default();
    let currency = Currency::new("EUR").map_err(|error| DemoError::Command {
        what: "currency".into(),
        reason: error.to_string(),
    })?;
    let stages = ["prospecting", "qualification", "proposal", "negotiation"];
    for n in 0..settings.customers {
        let (given, family, company, country, phone) = people
            .get(n % people.len().max(1))
            .cloned()
            .unwrap_or_else(|| {
                (
                    "Ada".into(),
                    "Lovelace".into(),
                    "Analytical Engines".into(),
                    "GB",
                    "+44 20 7946 0000".into(),
                )
            });
        let contact = ContactId(id(&format!("contact/{n}")));
        let provenance = Provenance::new(
            "demo",
            now - TimeDelta::days(i64::try_from(n % 365).unwrap_or(0)),
        );
        let mut changes = Vec::new();
        if let Ok(name) = PersonName::new(&given) {
            changes.push(DetailChange::Set(Detail::GivenName(Some(name))));
        }
        if let Ok(name) = PersonName::new(&family) {
            changes.push(DetailChange::Set(Detail::FamilyName(Some(name))));
        }
        if let Ok(name) = CompanyName::new(&company) {
            changes.push(DetailChange::Set(Detail::CompanyName(Some(name))));
        }
        if let Ok(code) = CountryCode::new(country) {
            changes.push(DetailChange::Set(Detail::Country(Some(code))));
            if let Ok(number) = PhoneNumber::parse(&phone, code) {
                changes.push(DetailChange::AddPhone(number));
            }
        }
        if let Ok(email) = EmailAddress::parse(&format!(
            "customer{n}@{}.example",
            company.to_lowercase().replace([' ', '&'], "")
        )) {
            changes.push(DetailChange::Set(Detail::PrimaryEmail(Some(email))));
        }
        let created = ContactCommand::Create {
            contact_id: contact,
            provenance,
            changes,
        };
        if send::<U, Contact>(
            service,
            tenant,
            contact.0,
            created,
            format!("demo/contact/{n}"),
            &mut report,
        )
        .await?
        {
            report.contacts += 1;
        }

        let deal = OpportunityId(id(&format!("deal/{n}")));
        let owner = reps[draw.below(reps.len())];
        let amount = Money::new(
            i64::try_from(1_000 + draw.below(90_000)).unwrap_or(1_000) * 100,
            currency,
        );
        let opened = OpportunityCommand::Open {
            opportunity: deal,
            name: format!(
                "{company} — {}",
                ["pilot", "expansion", "renewal", "platform"][n % 4]
            ),
            contact,
            company: None,
            owner,
            amount,
            expected_close: now.date_naive()
                + Days::new(u64::try_from(15 + draw.below(120)).unwrap_or(30)),
            pipeline: pipeline.clone(),
            stage: None,
        };
        if send::<U, Opportunity>(
            service,
            tenant,
            deal.0,
            opened,
            format!("demo/deal/{n}"),
            &mut report,
        )
        .await?
        {
            report.deals += 1;
        }
        let reach = draw.below(stages.len() + 2);
        for (step, stage) in stages
            .iter()
            .enumerate()
            .skip(1)
            .take(reach.min(stages.len() - 1))
        {
            send::<U, Opportunity>(
                service,
                tenant,
                deal.0,
                OpportunityCommand::ChangeStage {
                    to: StageId::new(*stage),
                },
                format!("demo/deal/{n}/stage/{step}"),
                &mut report,
            )
            .await?;
        }
        if reach == stages.len() {
            if send::<U, Opportunity>(
                service,
                tenant,
                deal.0,
                OpportunityCommand::Win,
                format!("demo/deal/{n}/win"),
                &mut report,
            )
            .await?
            {
                report.won += 1;
            }
        } else if reach == stages.len() + 1 {
            let lost = OpportunityCommand::Lose {
                reason: if n % 2 == 0 {
                    LossReason::Price
                } else {
                    LossReason::NoDecision
                },
            };
            if send::<U, Opportunity>(
                service,
                tenant,
                deal.0,
                lost,
                format!("demo/deal/{n}/lose"),
                &mut report,
            )
            .await?
            {
                report.lost += 1;
            }
        }

        if n % 2 == 0 {
            let ticket = TicketId(id(&format!("ticket/{n}")));
            let priority = [
                Priority::Low,
                Priority::Normal,
                Priority::High,
                Priority::Urgent,
            ][draw.below(4)];
            let opened = TicketCommand::Open {
                ticket,
                contact,
                subject: [
                    "Cannot log in",
                    "Invoice question",
                    "Feature request",
                    "Data export",
                ][n % 4]
                    .into(),
                channel: [Channel::Email, Channel::Phone, Channel::Chat, Channel::Web]
                    [draw.below(4)],
                priority,
                message: Some("Hello, we need help with this.".into()),
                follow_up_of: None,
                account: None,
            };
            if send::<U, Ticket>(
                service,
                tenant,
                ticket.0,
                opened,
                format!("demo/ticket/{n}"),
                &mut report,
            )
            .await?
            {
                report.tickets += 1;
            }
            let agent = reps[draw.below(reps.len())];
            let mut steps = vec![TicketCommand::Assign { assignee: agent }];
            match draw.below(3) {
                0 => {}
                1 => steps.push(TicketCommand::ReplyToCustomer {
                    body: "Thanks, we are on it.".into(),
                    channel: Channel::Email,
                }),
                _ => {
                    steps.push(TicketCommand::ReplyToCustomer {
                        body: "This is fixed now.".into(),
                        channel: Channel::Email,
                    });
                    steps.push(TicketCommand::ChangeStatus {
                        status: TicketStatus::Solved,
                    });
                }
            }
            for (step, command) in steps.into_iter().enumerate() {
                send::<U, Ticket>(
                    service,
                    tenant,
                    ticket.0,
                    command,
                    format!("demo/ticket/{n}/{step}"),
                    &mut report,
                )
                .await?;
            }
        }
    }
    Ok(report)
}
