//! Customer 360, given/when/then: commands through the aggregates, events into the model,
//! the view out.

#![expect(
    clippy::unwrap_used,
    reason = "tests: a step that fails fails the test"
)]

use chrono::NaiveDate;
use crm_domain::contact::{
    ConsentChannel, ConsentProof, ConsentPurpose, ConsentScope, ConsentStatus, ContactCommand,
    ContactField, Detail, DetailChange, LifecycleStage, MergePolicy, Provenance,
};
use crm_domain::identity::{CountryCode, EmailAddress, PersonName, PhoneNumber};
use crm_domain::lead::{Campaign, ConversionRequest, LeadCommand, LeadSource, LeadSubmission};
use crm_domain::opportunity::{OpportunityCommand, Pipeline};
use crm_domain::routing::RoutingDecision;
use crm_domain::ticket::{TicketCommand, TicketStatus};
use crm_domain::{Channel, ContactId, Currency, Money, Priority, TeamId, UserId};
use uuid::Uuid;

use crm_projections::MemoryDocuments;
use crm_projections::customer360::*;
use crm_testkit::world::{ALICE, World, as_system, as_user, minutes, tenant};

const ADA: Uuid = Uuid::from_u128(0xada);
const ADA_AGAIN: Uuid = Uuid::from_u128(0xada2);
const GRACE: Uuid = Uuid::from_u128(0x6ace);
const BOB: UserId = UserId(Uuid::from_u128(0xb0b));
const SALES: TeamId = TeamId(Uuid::from_u128(0x5a1e5));

fn gb() -> CountryCode {
    CountryCode::new("GB").unwrap()
}

fn eur() -> Currency {
    Currency::new("EUR").unwrap()
}

fn usd() -> Currency {
    Currency::new("USD").unwrap()
}

fn create_contact(
    world: &mut World,
    id: Uuid,
    name: (&str, &str),
    email: &str,
    phone: &str,
    at: i64,
) {
    let (given, family) = name;
    let changes = vec![
        DetailChange::Set(Detail::GivenName(Some(PersonName::new(given).unwrap()))),
        DetailChange::Set(Detail::FamilyName(Some(PersonName::new(family).unwrap()))),
        DetailChange::AddEmail(EmailAddress::parse(email).unwrap()),
        DetailChange::AddPhone(PhoneNumber::parse(phone, gb()).unwrap()),
        DetailChange::Set(Detail::Owner(Some(ALICE))),
    ];
    world
        .contact(
            id,
            ContactCommand::Create {
                contact_id: ContactId(id),
                provenance: Provenance::new("crm-ui", minutes(at)),
                changes,
            },
            &as_user(ALICE, minutes(at)),
        )
        .unwrap();
}

/// Ada Lovelace's contact, created at minute 0: the customer most tests are about.
fn create_ada(world: &mut World) {
    create_contact(
        world,
        ADA,
        ("Augusta", "Lovelace"),
        "ada@example.com",
        "020 7946 0958",
        0,
    );
}

fn open_ticket(world: &mut World, id: Uuid, contact: Uuid, subject: &str, at: i64) {
    world
        .ticket(
            id,
            TicketCommand::Open {
                ticket: crm_domain::TicketId(id),
                contact: ContactId(contact),
                subject: subject.into(),
                channel: Channel::Email,
                priority: Priority::High,
                message: Some("It is broken".into()),
                follow_up_of: None,
                account: None,
            },
            &as_system(minutes(at)),
        )
        .unwrap();
}

fn open_deal(world: &mut World, id: Uuid, contact: Uuid, name: &str, amount: Money, at: i64) {
    world
        .opportunity(
            id,
            OpportunityCommand::Open {
                opportunity: crm_domain::OpportunityId(id),
                name: name.into(),
                contact: ContactId(contact),
                company: None,
                owner: ALICE,
                amount,
                expected_close: NaiveDate::from_ymd_opt(2026, 6, 30).unwrap(),
                pipeline: Pipeline::default(),
                stage: None,
            },
            &as_user(ALICE, minutes(at)),
        )
        .unwrap();
}

fn win(world: &mut World, id: Uuid, at: i64) {
    world
        .opportunity(id, OpportunityCommand::Win, &as_user(ALICE, minutes(at)))
        .unwrap();
}

fn assigned_to(rep: UserId) -> RoutingDecision {
    crm_testkit::world::assigned_to(rep, SALES)
}

/// A lead from the web form, captured, routed to Bob, touched, converted into `contact`.
fn converted_lead(world: &mut World, id: Uuid, contact: Uuid, email: &str) {
    let system = as_system(minutes(0));
    world
        .lead(
            id,
            LeadCommand::Receive {
                lead_id: crm_domain::LeadId(id),
                source: LeadSource {
                    system: "web-form".into(),
                    external_event_id: "delivery-1".into(),
                },
                raw_payload: serde_json::json!({"email": email}),
                requested_at: minutes(0),
            },
            &system,
        )
        .unwrap();
    let submission = LeadSubmission {
        first_name: Some("Augusta".into()),
        last_name: Some("Lovelace".into()),
        email: Some(email.into()),
        company: Some("Analytical Engines Ltd".into()),
        ..LeadSubmission::default()
    };
    world
        .lead(
            id,
            LeadCommand::Capture {
                submission,
                campaign: Campaign::default(),
                default_region: gb(),
            },
            &system,
        )
        .unwrap();
    world
        .lead(
            id,
            LeadCommand::Route {
                decision: assigned_to(BOB),
            },
            &as_system(minutes(1)),
        )
        .unwrap();
    world
        .lead(
            id,
            LeadCommand::LogFirstTouch {
                channel: Channel::Phone,
            },
            &as_user(BOB, minutes(4)),
        )
        .unwrap();
    world
        .lead(
            id,
            LeadCommand::Convert(ConversionRequest {
                existing_contact: Some(ContactId(contact)),
                open_opportunity: false,
            }),
            &as_user(BOB, minutes(10)),
        )
        .unwrap();
}

fn merge(world: &mut World, survivor: Uuid, absorbed: Uuid, at: i64) {
    let ctx = as_user(ALICE, minutes(at));
    world
        .contact(
            absorbed,
            ContactCommand::MergeInto {
                survivor: ContactId(survivor),
            },
            &ctx,
        )
        .unwrap();
    let state = world.contact_state(absorbed);
    world
        .contact(
            survivor,
            ContactCommand::Merge {
                absorbed: Box::new(state),
                policy: MergePolicy::SurvivorFirst,
                choices: vec![],
            },
            &ctx,
        )
        .unwrap();
}

fn unmerge(world: &mut World, survivor: Uuid, absorbed: Uuid, at: i64) {
    let ctx = as_user(ALICE, minutes(at));
    world
        .contact(
            survivor,
            ContactCommand::Unmerge {
                absorbed: ContactId(absorbed),
            },
            &ctx,
        )
        .unwrap();
    world
        .contact(
            absorbed,
            ContactCommand::UnmergeFrom {
                survivor: ContactId(survivor),
            },
            &ctx,
        )
        .unwrap();
}

fn erase(world: &mut World, id: Uuid, at: i64) {
    world.erase_contact(ContactId(id), minutes(at));
}

fn fold(world: &World) -> MemoryDocuments<Customer360Model> {
    MemoryDocuments::fold(Customer360Model, world.events()).unwrap()
}

fn view(store: &MemoryDocuments<Customer360Model>, contact: Uuid) -> Customer360 {
    store
        .lookup(
            &tenant(),
            &Customer360Query {
                contact: ContactId(contact),
            },
        )
        .unwrap()
}

#[test]
fn a_contact_shows_its_profile_with_raw_normalized_values_and_their_sources() {
    let mut world = World::new();
    create_contact(
        &mut world,
        ADA,
        ("Ada", "Lovelace"),
        "Ada.Lovelace+crm@Example.com",
        "020 7946 0958",
        0,
    );
    let customer = view(&fold(&world), ADA);

    let email = &customer.contact.profile.emails[0].value;
    assert_eq!(email.raw(), "Ada.Lovelace+crm@Example.com");
    assert_eq!(
        email.normalized(),
        EmailAddress::parse("Ada.Lovelace+crm@Example.com")
            .unwrap()
            .normalized()
    );
    assert_eq!(
        customer.contact.profile.phones[0].value.e164(),
        "+442079460958"
    );
    assert_eq!(
        customer.contact.profile.provenance(ContactField::GivenName),
        Some(&Provenance::new("crm-ui", minutes(0)))
    );
    assert_eq!(customer.owner, Some(ALICE));
    assert_eq!(customer.stage, None, "no lead, no deal yet");
}

#[test]
fn consent_is_kept_per_channel_with_the_statement_in_effect() {
    let mut world = World::new();
    create_ada(&mut world);
    let proof = ConsentProof {
        form_id: Some("newsletter-footer-v3".into()),
        ..ConsentProof::default()
    };
    world
        .contact(
            ADA,
            ContactCommand::GrantConsent {
                channel: ConsentChannel::Email,
                purpose: ConsentPurpose::Marketing,
                provenance: Provenance::new("web-form", minutes(1)),
                proof: proof.clone(),
            },
            &as_system(minutes(1)),
        )
        .unwrap();
    world
        .contact(
            ADA,
            ContactCommand::WithdrawConsent {
                channel: ConsentChannel::Sms,
                purpose: ConsentPurpose::Marketing,
                provenance: Provenance::new("sms-gateway", minutes(2)),
                proof: ConsentProof::default(),
            },
            &as_system(minutes(2)),
        )
        .unwrap();

    let consents = view(&fold(&world), ADA).contact.consents;
    assert_eq!(
        consents[&ConsentScope::marketing(ConsentChannel::Email)].status,
        ConsentStatus::Granted
    );
    assert_eq!(
        consents[&ConsentScope::marketing(ConsentChannel::Email)].proof,
        proof
    );
    assert_eq!(
        consents[&ConsentScope::marketing(ConsentChannel::Sms)].status,
        ConsentStatus::Withdrawn
    );
    assert!(!consents.contains_key(&ConsentScope::marketing(ConsentChannel::Phone)));
}

#[test]
fn a_converted_lead_appears_with_its_routing_history() {
    let mut world = World::new();
    create_ada(&mut world);
    let lead = Uuid::from_u128(0x1ead);
    converted_lead(&mut world, lead, ADA, "ada@example.com");

    let customer = view(&fold(&world), ADA);
    assert_eq!(customer.leads.len(), 1);
    let lead = &customer.leads[0];
    assert_eq!(lead.routing.len(), 1);
    assert_eq!(lead.routing[0].kind, RoutingStepKind::Assigned);
    assert_eq!(lead.routing[0].rep, Some(BOB));
    assert_eq!(lead.routing[0].team, Some(SALES));
    assert_eq!(lead.first_touch_at, Some(minutes(4)));
    assert_eq!(customer.stage, Some(CustomerStage::Lead));
}

/// Billing tells the CRM that the customer left, `minute` by its own clock.
fn record_churn(world: &mut World, contact: Uuid, minute: i64, at: i64) {
    world
        .contact(
            contact,
            ContactCommand::ChangeDetails {
                changes: vec![DetailChange::Set(Detail::LifecycleStage(Some(
                    LifecycleStage::Churned,
                )))],
                provenance: Provenance::new("billing", minutes(minute)),
            },
            &as_system(minutes(at)),
        )
        .unwrap();
}

/// Ada, who bought an engine (won at minute 10).
fn ada_bought_an_engine() -> World {
    let mut world = World::new();
    create_ada(&mut world);
    let deal = Uuid::from_u128(1);
    open_deal(
        &mut world,
        deal,
        ADA,
        "Engine",
        Money::new(10_000, eur()),
        1,
    );
    win(&mut world, deal, 10);
    world
}

#[test]
fn a_churn_recorded_after_the_last_won_deal_makes_a_churned_customer() {
    let mut world = ada_bought_an_engine();
    record_churn(&mut world, ADA, 20, 20);

    let customer = view(&fold(&world), ADA);
    assert_eq!(customer.recorded_stage, Some(LifecycleStage::Churned));
    assert_eq!(customer.stage, Some(CustomerStage::Churned));
    assert_eq!(
        customer.lifetime_value.won,
        vec![Money::new(10_000, eur())],
        "what they bought stays theirs"
    );
}

#[test]
fn a_churned_customer_who_buys_again_is_a_customer_again() {
    let mut world = ada_bought_an_engine();
    record_churn(&mut world, ADA, 20, 20);
    let comeback = Uuid::from_u128(2);
    open_deal(
        &mut world,
        comeback,
        ADA,
        "Engine, again",
        Money::new(5_000, eur()),
        30,
    );
    assert_eq!(
        view(&fold(&world), ADA).stage,
        Some(CustomerStage::Churned),
        "an open deal does not undo a churn"
    );
    win(&mut world, comeback, 40);

    let customer = view(&fold(&world), ADA);
    assert_eq!(
        customer.recorded_stage,
        Some(LifecycleStage::Churned),
        "nobody re-recorded the stage"
    );
    assert_eq!(customer.stage, Some(CustomerStage::Customer));
}

#[test]
fn a_churn_dated_before_the_last_win_or_at_its_instant_leaves_a_customer() {
    let mut world = ada_bought_an_engine();
    // Billing's message arrives late: the churn happened before the win.
    record_churn(&mut world, ADA, 5, 20);
    assert_eq!(
        view(&fold(&world), ADA).stage,
        Some(CustomerStage::Customer)
    );

    let mut world = ada_bought_an_engine();
    record_churn(&mut world, ADA, 10, 20);
    assert_eq!(
        view(&fold(&world), ADA).stage,
        Some(CustomerStage::Customer)
    );
}

#[test]
fn a_churn_recorded_without_any_won_deal_is_a_churn_bought_before_the_crm() {
    let mut world = World::new();
    create_ada(&mut world);
    assert_eq!(view(&fold(&world), ADA).stage, None);
    record_churn(&mut world, ADA, 3, 3);
    assert_eq!(view(&fold(&world), ADA).stage, Some(CustomerStage::Churned));
}

#[test]
fn another_recorded_stage_after_a_churn_ends_it() {
    let mut world = ada_bought_an_engine();
    record_churn(&mut world, ADA, 20, 20);
    world
        .contact(
            ADA,
            ContactCommand::ChangeDetails {
                changes: vec![DetailChange::Set(Detail::LifecycleStage(Some(
                    LifecycleStage::Evangelist,
                )))],
                provenance: Provenance::new("billing", minutes(25)),
            },
            &as_system(minutes(25)),
        )
        .unwrap();
    assert_eq!(
        view(&fold(&world), ADA).stage,
        Some(CustomerStage::Customer)
    );
}

#[test]
fn won_revenue_is_summed_per_currency_and_makes_a_customer() {
    let mut world = World::new();
    create_ada(&mut world);
    let (first, second, third, open) = (
        Uuid::from_u128(1),
        Uuid::from_u128(2),
        Uuid::from_u128(3),
        Uuid::from_u128(4),
    );
    open_deal(
        &mut world,
        first,
        ADA,
        "Engine",
        Money::new(10_0000, eur()),
        1,
    );
    open_deal(
        &mut world,
        second,
        ADA,
        "Support",
        Money::new(25_000, eur()),
        2,
    );
    open_deal(
        &mut world,
        third,
        ADA,
        "US engine",
        Money::new(90_000, usd()),
        3,
    );
    open_deal(
        &mut world,
        open,
        ADA,
        "Upsell",
        Money::new(500_000, eur()),
        4,
    );
    for deal in [first, second, third] {
        win(&mut world, deal, 10);
    }

    let customer = view(&fold(&world), ADA);
    assert_eq!(
        customer.lifetime_value,
        LifetimeValue {
            won: vec![Money::new(125_000, eur()), Money::new(90_000, usd())],
            overflowed: vec![],
        }
    );
    assert_eq!(customer.stage, Some(CustomerStage::Customer));
    assert_eq!(customer.opportunities.len(), 4);
    let upsell = customer
        .opportunities
        .iter()
        .find(|deal| deal.id.0 == open)
        .unwrap();
    assert_eq!(upsell.stages.len(), 1);
    assert_eq!(upsell.stages[0].stage.as_str(), "prospecting");
}

#[test]
fn open_tickets_are_counted_and_the_latest_interaction_is_the_last_activity() {
    let mut world = World::new();
    create_ada(&mut world);
    let (solved, open) = (Uuid::from_u128(0x71), Uuid::from_u128(0x72));
    open_ticket(&mut world, solved, ADA, "Invoice wrong", 5);
    open_ticket(&mut world, open, ADA, "Engine squeaks", 6);
    world
        .ticket(
            solved,
            TicketCommand::ChangeStatus {
                status: TicketStatus::Solved,
            },
            &as_user(ALICE, minutes(30)),
        )
        .unwrap();

    let customer = view(&fold(&world), ADA);
    assert_eq!(customer.tickets.len(), 2);
    assert_eq!(customer.open_tickets, 1);
    assert_eq!(customer.last_activity, Some(minutes(30)));
}

#[test]
fn after_a_merge_one_view_holds_both_histories_and_after_an_unmerge_they_split() {
    let mut world = World::new();
    create_ada(&mut world);
    create_contact(
        &mut world,
        ADA_AGAIN,
        ("Augusta", "Lovelace"),
        "ada@engines.example",
        "020 7946 0000",
        1,
    );
    let (ada_ticket, again_ticket) = (Uuid::from_u128(0x71), Uuid::from_u128(0x72));
    open_ticket(&mut world, ada_ticket, ADA, "Invoice wrong", 2);
    open_ticket(&mut world, again_ticket, ADA_AGAIN, "Engine squeaks", 3);
    let deal = Uuid::from_u128(0xd);
    open_deal(
        &mut world,
        deal,
        ADA_AGAIN,
        "Engine",
        Money::new(10_000, eur()),
        4,
    );
    win(&mut world, deal, 5);
    merge(&mut world, ADA, ADA_AGAIN, 10);

    let merged = fold(&world);
    let survivor = view(&merged, ADA);
    assert_eq!(survivor.customer, ContactId(ADA));
    assert_eq!(survivor.merged, vec![ContactId(ADA_AGAIN)]);
    assert_eq!(survivor.tickets.len(), 2);
    assert_eq!(survivor.lifetime_value.won, vec![Money::new(10_000, eur())]);
    assert_eq!(survivor.contact.profile.emails.len(), 2, "addresses united");
    let through_absorbed = view(&merged, ADA_AGAIN);
    assert_eq!(through_absorbed.customer, ContactId(ADA));
    assert_eq!(through_absorbed.requested, ContactId(ADA_AGAIN));
    assert_eq!(through_absorbed.tickets, survivor.tickets);

    unmerge(&mut world, ADA, ADA_AGAIN, 20);
    let split = fold(&world);
    let ada = view(&split, ADA);
    let again = view(&split, ADA_AGAIN);
    assert!(ada.merged.is_empty());
    assert_eq!(
        ada.tickets.iter().map(|t| t.id.0).collect::<Vec<_>>(),
        vec![ada_ticket]
    );
    assert_eq!(
        again.tickets.iter().map(|t| t.id.0).collect::<Vec<_>>(),
        vec![again_ticket]
    );
    assert!(ada.lifetime_value.won.is_empty());
    assert_eq!(again.lifetime_value.won, vec![Money::new(10_000, eur())]);
    assert_eq!(
        ada.contact.profile.emails.len(),
        1,
        "taken-over address given back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeline_pages_newest_first_across_merged_contacts() {
    use crm_projections::DocumentStore;
    let mut world = World::new();
    create_ada(&mut world);
    create_contact(
        &mut world,
        ADA_AGAIN,
        ("Augusta", "Lovelace"),
        "ada@engines.example",
        "020 7946 0000",
        1,
    );
    open_ticket(
        &mut world,
        Uuid::from_u128(0x71),
        ADA_AGAIN,
        "Engine squeaks",
        2,
    );
    merge(&mut world, ADA, ADA_AGAIN, 10);
    let store = world.stored(Customer360Model).await;
    let everything = TimelineQuery {
        contact: ContactId(ADA),
        before: None,
        limit: 1000,
    }
    .run(&store, &tenant())
    .await
    .unwrap();
    assert!(everything.next.is_none());
    let instants: Vec<_> = everything
        .items
        .iter()
        .map(|item| (item.entry.at, item.entry.position))
        .collect();
    let mut sorted = instants.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(instants, sorted, "newest first");
    assert!(
        everything
            .items
            .iter()
            .any(|item| item.record_kind == crm_projections::AggregateKind::Ticket)
    );
    assert_eq!(
        everything.items.len(),
        fold(&world)
            .all_documents()
            .filter(|(_, stored)| stored.key.kind == ENTRY)
            .count(),
        "every entry of the group's records, and only those"
    );

    let mut paged = Vec::new();
    let mut before = None;
    loop {
        let page = TimelineQuery {
            contact: ContactId(ADA_AGAIN),
            before,
            limit: 3,
        }
        .run(&store, &tenant())
        .await
        .unwrap();
        assert!(page.items.len() <= 3);
        paged.extend(page.items);
        match page.next {
            Some(cursor) => before = Some(cursor),
            None => break,
        }
    }
    assert_eq!(
        paged, everything.items,
        "pages add up to the whole timeline"
    );

    // One record alone, paged the same way.
    let ticket = RecordTimeline {
        record: Uuid::from_u128(0x71),
        before: None,
        limit: 10,
    };
    let ticket_page = store.scan(&tenant(), &ticket).await.unwrap();
    assert!(
        ticket_page
            .items
            .iter()
            .all(|item| item.record == Uuid::from_u128(0x71))
    );
    assert_eq!(
        ticket_page.items.last().map(|item| item.entry.kind),
        Some(ActivityKind::TicketOpened),
        "the oldest entry is the opening"
    );
}

#[test]
fn a_timeline_entry_is_written_once_and_never_rewritten() {
    let mut world = World::new();
    create_ada(&mut world);
    let ticket = Uuid::from_u128(0x71);
    open_ticket(&mut world, ticket, ADA, "Engine squeaks", 1);
    let replies = |store: &MemoryDocuments<Customer360Model>| {
        store
            .all_documents()
            .filter(|(_, stored)| {
                matches!(
                    &stored.doc,
                    CustomerDoc::Entry(item) if item.entry.kind == ActivityKind::TicketCustomerReplied
                )
            })
            .count()
    };
    let opened = replies(&fold(&world));
    for reply in 0..50 {
        world
            .ticket(
                ticket,
                TicketCommand::RecordCustomerReply {
                    from: ContactId(ADA),
                    body: format!("Any news? ({reply})"),
                    channel: Channel::Email,
                },
                &as_system(minutes(2 + reply)),
            )
            .unwrap();
    }
    let store = fold(&world);
    let entries: Vec<_> = store
        .all_documents()
        .filter(|(_, stored)| stored.key.kind == ENTRY)
        .collect();
    assert_eq!(replies(&store), opened + 50, "a row per reply");
    for (_, stored) in &entries {
        let CustomerDoc::Entry(item) = &stored.doc else {
            panic!("an entry row holds an entry: {:?}", stored.doc);
        };
        assert_eq!(
            stored.position.position, item.entry.position,
            "the row was last written by the event it records"
        );
    }
    let (_, ticket_doc) = store
        .all_documents()
        .find(|(_, stored)| stored.key.kind == TICKET)
        .unwrap();
    assert!(
        serde_json::to_string(&ticket_doc.doc).unwrap().len() < 1000,
        "the ticket's document does not grow with its replies"
    );
}

const PERSONAL: [&str; 10] = [
    "Augusta",
    "Lovelace",
    "79460958",
    "79460000",
    "ada@example.com",
    "ada@engines.example",
    "Invoice wrong",
    "Engine squeaks",
    "Analytical",
    "Secret engine deal",
];

fn assert_no_personal_data(store: &MemoryDocuments<Customer360Model>) {
    for (_, stored) in store.all_documents() {
        let json = serde_json::to_string(&stored.doc).unwrap();
        for personal in PERSONAL {
            assert!(
                !json.to_lowercase().contains(&personal.to_lowercase()),
                "{personal:?} survives in {}: {json}",
                stored.key
            );
        }
    }
}

#[test]
fn after_an_erasure_no_document_holds_personal_data() {
    let mut world = World::new();
    create_ada(&mut world);
    create_contact(
        &mut world,
        ADA_AGAIN,
        ("Augusta", "Lovelace"),
        "ada@engines.example",
        "020 7946 0000",
        1,
    );
    converted_lead(&mut world, Uuid::from_u128(0x1ead), ADA, "ada@example.com");
    open_ticket(&mut world, Uuid::from_u128(0x71), ADA, "Invoice wrong", 2);
    open_ticket(
        &mut world,
        Uuid::from_u128(0x72),
        ADA_AGAIN,
        "Engine squeaks",
        3,
    );
    open_deal(
        &mut world,
        Uuid::from_u128(0xd),
        ADA_AGAIN,
        "Secret engine deal",
        Money::new(1, eur()),
        4,
    );
    merge(&mut world, ADA, ADA_AGAIN, 10);
    create_contact(
        &mut world,
        GRACE,
        ("Grace", "Hopper"),
        "grace@navy.example",
        "020 7000 1111",
        11,
    );
    erase(&mut world, ADA, 20);

    let store = fold(&world);
    assert_no_personal_data(&store);
    let erased = view(&store, ADA);
    assert!(erased.erased);
    assert_eq!(
        erased.tickets.len(),
        2,
        "the history stays, without its personal data"
    );
    let grace = view(&store, GRACE);
    assert_eq!(
        grace.contact.profile.value(ContactField::GivenName),
        Detail::GivenName(Some(PersonName::new("Grace").unwrap())),
        "another person's data is untouched"
    );
}

#[test]
fn records_linked_to_an_erased_contact_later_keep_no_personal_data() {
    let mut world = World::new();
    create_ada(&mut world);
    erase(&mut world, ADA, 1);
    open_ticket(&mut world, Uuid::from_u128(0x71), ADA, "Invoice wrong", 2);
    open_deal(
        &mut world,
        Uuid::from_u128(0xd),
        ADA,
        "Secret engine deal",
        Money::new(1, eur()),
        3,
    );
    converted_lead(&mut world, Uuid::from_u128(0x1ead), ADA, "ada@example.com");

    let store = fold(&world);
    assert_no_personal_data(&store);
    assert_eq!(view(&store, ADA).tickets.len(), 1);
}

#[test]
fn a_record_naming_an_unknown_contact_creates_its_document() {
    let mut world = World::new();
    open_ticket(&mut world, Uuid::from_u128(0x71), ADA, "Invoice wrong", 0);
    let customer = view(&fold(&world), ADA);
    assert_eq!(customer.open_tickets, 1);
    assert_eq!(customer.contact.created_at, None);
}

/// A context at `at` acting as the connected system `source`.
fn as_integration(source: &str, at: i64) -> crm_domain::Context {
    crm_domain::Context::new(
        minutes(at),
        crm_domain::Actor::Integration {
            source: source.into(),
        },
        Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0003),
    )
}

#[test]
fn deals_and_tickets_show_who_set_each_field_and_when() {
    let mut world = World::new();
    create_ada(&mut world);
    let ada = world.contacts().next().map(|(id, _)| *id).unwrap();
    let deal = Uuid::from_u128(0xdea1);
    open_deal(
        &mut world,
        deal,
        ada,
        "Engines",
        Money::new(50_000, eur()),
        1,
    );
    world
        .opportunity(
            deal,
            OpportunityCommand::ChangeAmount {
                amount: Money::new(65_000, eur()),
            },
            &as_integration("billing", 5),
        )
        .unwrap();
    let ticket = Uuid::from_u128(0x71c);
    open_ticket(&mut world, ticket, ada, "Boiler", 2);
    world
        .ticket(
            ticket,
            TicketCommand::Assign { assignee: ALICE },
            &as_user(ALICE, minutes(3)),
        )
        .unwrap();
    world
        .ticket(
            ticket,
            TicketCommand::ChangePriority {
                priority: Priority::Urgent,
            },
            &as_integration("desk", 4),
        )
        .unwrap();

    let view = view(&fold(&world), ada);
    let sources = &view.opportunities[0].sources;
    let alice = crm_domain::Actor::User { id: ALICE };
    assert_eq!(
        sources.get(&DealField::Name),
        Some(&FieldSource {
            by: alice.clone(),
            at: minutes(1)
        })
    );
    assert_eq!(
        sources.get(&DealField::Amount),
        Some(&FieldSource {
            by: crm_domain::Actor::Integration {
                source: "billing".into()
            },
            at: minutes(5)
        })
    );
    let sources = &view.tickets[0].sources;
    assert_eq!(
        sources.get(&TicketField::Assignee),
        Some(&FieldSource {
            by: alice,
            at: minutes(3)
        })
    );
    assert_eq!(
        sources.get(&TicketField::Priority).map(|source| &source.by),
        Some(&crm_domain::Actor::Integration {
            source: "desk".into()
        })
    );
    assert_eq!(
        sources.get(&TicketField::Subject).map(|source| source.at),
        Some(minutes(2))
    );
    // Stored and read back the same.
    let json = serde_json::to_value(&view.tickets[0]).unwrap();
    assert_eq!(json["sources"]["priority"]["by"]["source"], "desk");
}

#[test]
fn a_lead_shows_who_set_each_field_and_when() {
    let mut world = World::new();
    create_ada(&mut world);
    let lead = Uuid::from_u128(0x1ead);
    converted_lead(&mut world, lead, ADA, "ada@example.com");

    let view = view(&fold(&world), ADA);
    let sources = &view.leads[0].sources;
    let intake = crm_domain::Actor::System {
        component: "test".into(),
    };
    let bob = crm_domain::Actor::User { id: BOB };
    let source = |field| sources.get(&field).cloned();
    let set = |by: &crm_domain::Actor, at| {
        Some(FieldSource {
            by: by.clone(),
            at: minutes(at),
        })
    };
    assert_eq!(source(LeadRecordField::Email), set(&intake, 0));
    assert_eq!(source(LeadRecordField::Company), set(&intake, 0));
    assert_eq!(source(LeadRecordField::Campaign), set(&intake, 0));
    // Routing assigned it; the first touch and the conversion moved its status.
    assert_eq!(source(LeadRecordField::Assignee), set(&intake, 1));
    assert_eq!(source(LeadRecordField::Status), set(&bob, 10));
    assert_eq!(source(LeadRecordField::Contact), set(&bob, 10));
    // Nothing set a phone, a queue or a score.
    assert_eq!(source(LeadRecordField::Phone), None);
    assert_eq!(source(LeadRecordField::Queue), None);
    assert_eq!(source(LeadRecordField::Score), None);
    let json = serde_json::to_value(&view.leads[0]).unwrap();
    assert_eq!(json["sources"]["email"]["by"]["component"], "test");
}

#[test]
fn a_lead_whose_events_name_no_actor_shows_the_sending_system_or_nobody() {
    let mut world = World::new();
    create_ada(&mut world);
    let lead = Uuid::from_u128(0x1ead);
    converted_lead(&mut world, lead, ADA, "ada@example.com");
    for event in &mut world.log.events {
        event.actor = None;
    }

    let view = view(&fold(&world), ADA);
    let sources = &view.leads[0].sources;
    let web_form = crm_domain::Actor::Integration {
        source: "web-form".into(),
    };
    assert_eq!(
        sources
            .get(&LeadRecordField::Email)
            .map(|source| &source.by),
        Some(&web_form)
    );
    // Routing and the conversion named nobody: no source rather than a stale one.
    assert_eq!(sources.get(&LeadRecordField::Assignee), None);
    assert_eq!(sources.get(&LeadRecordField::Status), None);
}

#[test]
fn an_erased_lead_keeps_no_source_of_its_personal_fields() {
    let mut world = World::new();
    create_ada(&mut world);
    let lead = Uuid::from_u128(0x1ead);
    converted_lead(&mut world, lead, ADA, "ada@example.com");
    erase(&mut world, ADA, 20);

    let view = view(&fold(&world), ADA);
    let sources = &view.leads[0].sources;
    assert_eq!(sources.get(&LeadRecordField::Email), None);
    assert_eq!(sources.get(&LeadRecordField::Name), None);
    assert!(sources.contains_key(&LeadRecordField::Assignee));
}
