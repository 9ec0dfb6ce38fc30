//! Account 360, given/when/then: commands through the aggregates, events into the model, the
//! view out; and properties on random histories of accounts, hierarchies, deals, tickets and
//! activities.

#![expect(
    clippy::unwrap_used,
    reason = "tests: a step that fails fails the test"
)]

use std::num::NonZeroU8;

use chrono::NaiveDate;
use crm_domain::account::{AccountCommand, AccountHierarchyCommand, ContactRole};
use crm_domain::activity::{
    ActivityChange, ActivityCommand, ActivityKind, CancellationReason, Direction, NewActivity,
};
use crm_domain::identity::{CompanyDomain, CompanyName};
use crm_domain::opportunity::{LossReason, OpportunityCommand, Pipeline};
use crm_domain::ticket::{EscalationTarget, TicketCommand, TicketStatus};
use crm_domain::{
    AccountId, ActivityId, Channel, CompanyId, ContactId, Currency, Money, OpportunityId, Priority,
    RecordRef, TicketId,
};
use uuid::Uuid;

use crm_projections::MemoryDocuments;
use crm_projections::account360::*;
use crm_testkit::world::{ALICE, World, as_user, minutes, tenant};

const ACME: Uuid = Uuid::from_u128(0xac);
const ACME_UK: Uuid = Uuid::from_u128(0xac01);
const ACME_DE: Uuid = Uuid::from_u128(0xac02);
const ACME_BERLIN: Uuid = Uuid::from_u128(0x00ac_0201);
const ADA: Uuid = Uuid::from_u128(0xada);
const GRACE: Uuid = Uuid::from_u128(0x6ace);

fn eur() -> Currency {
    Currency::new("EUR").unwrap()
}

fn euros(amount: i64) -> Money {
    Money::new(amount * 100, eur())
}

fn account(id: Uuid) -> AccountId {
    CompanyId(id)
}

fn open_account(world: &mut World, id: Uuid, name: &str, at: i64) {
    world
        .account(
            id,
            AccountCommand::Open {
                account: account(id),
                name: CompanyName::new(name).unwrap(),
                owner: ALICE,
                domains: vec![CompanyDomain::parse("acme.example").unwrap()],
                industry: Some("Manufacturing".into()),
                employees: Some(250),
                addresses: Vec::new(),
            },
            &as_user(ALICE, minutes(at)),
        )
        .unwrap();
}

fn add_contact(world: &mut World, at_account: Uuid, contact: Uuid, role: ContactRole, at: i64) {
    world
        .account(
            at_account,
            AccountCommand::AddContact {
                contact: ContactId(contact),
                role,
            },
            &as_user(ALICE, minutes(at)),
        )
        .unwrap();
}

fn set_parent(world: &mut World, child: Uuid, parent: Option<Uuid>, at: i64) {
    world
        .hierarchy(
            AccountHierarchyCommand::SetParent {
                account: account(child),
                parent: parent.map(account),
            },
            &as_user(ALICE, minutes(at)),
        )
        .unwrap();
}

fn open_deal(world: &mut World, id: Uuid, at_account: Option<Uuid>, amount: Money, at: i64) {
    world
        .opportunity(
            id,
            OpportunityCommand::Open {
                opportunity: OpportunityId(id),
                name: "Deal".into(),
                contact: ContactId(ADA),
                company: at_account.map(account),
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

fn open_ticket(world: &mut World, id: Uuid, at_account: Option<Uuid>, at: i64) {
    world
        .ticket(
            id,
            TicketCommand::Open {
                ticket: TicketId(id),
                contact: ContactId(ADA),
                subject: "Broken widget".into(),
                channel: Channel::Email,
                priority: Priority::High,
                message: None,
                follow_up_of: None,
                account: at_account.map(account),
            },
            &as_user(ALICE, minutes(at)),
        )
        .unwrap();
}

fn log_call(world: &mut World, id: Uuid, records: Vec<RecordRef>, at: i64) {
    world
        .activity(
            id,
            ActivityCommand::Log(NewActivity {
                activity: ActivityId(id),
                kind: ActivityKind::Call,
                records,
                occurred_at: minutes(at),
                duration_seconds: Some(300),
                direction: Some(Direction::Outbound),
                participants: Vec::new(),
                outcome: None,
                subject: None,
                body: None,
                performed_by: None,
            }),
            &as_user(ALICE, minutes(at)),
        )
        .unwrap();
}

fn fold(world: &World) -> MemoryDocuments<Account360Model> {
    MemoryDocuments::fold(Account360Model, world.events()).unwrap()
}

fn view(world: &World, id: Uuid) -> Option<Account360> {
    fold(world).lookup(
        &tenant(),
        &Account360Query {
            account: account(id),
        },
    )
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

#[test]
fn an_account_shows_its_profile_contacts_pipeline_revenue_tickets_and_activity() {
    let mut world = World::new();
    open_account(&mut world, ACME, "ACME GmbH", 0);
    add_contact(&mut world, ACME, ADA, ContactRole::DecisionMaker, 1);
    add_contact(&mut world, ACME, GRACE, ContactRole::Billing, 2);
    open_deal(&mut world, id(1), Some(ACME), euros(1_000), 3);
    open_deal(&mut world, id(2), Some(ACME), euros(2_000), 4);
    open_deal(&mut world, id(3), Some(ACME), euros(4_000), 5);
    open_deal(&mut world, id(4), None, euros(8_000), 6);
    world
        .opportunity(id(2), OpportunityCommand::Win, &as_user(ALICE, minutes(7)))
        .unwrap();
    world
        .opportunity(
            id(3),
            OpportunityCommand::Lose {
                reason: LossReason::Price,
            },
            &as_user(ALICE, minutes(8)),
        )
        .unwrap();
    open_ticket(&mut world, id(10), Some(ACME), 9);
    open_ticket(&mut world, id(11), Some(ACME), 10);
    world
        .ticket(
            id(11),
            TicketCommand::Escalate {
                to: EscalationTarget::User { user: ALICE },
                level: NonZeroU8::new(2).unwrap(),
                reason: "breached".into(),
            },
            &as_user(ALICE, minutes(11)),
        )
        .unwrap();
    log_call(
        &mut world,
        id(20),
        vec![RecordRef::Account(account(ACME))],
        12,
    );
    log_call(
        &mut world,
        id(21),
        vec![RecordRef::Contact(ContactId(GRACE))],
        13,
    );

    let view = view(&world, ACME).unwrap();

    assert_eq!(view.account.name.as_deref(), Some("ACME GmbH"));
    assert_eq!(view.industry.as_deref(), Some("Manufacturing"));
    assert_eq!(view.contacts.len(), 2);
    let own = &view.own;
    assert_eq!(own.contacts, 2);
    assert_eq!(own.open_deals, 1);
    assert_eq!(own.open_pipeline, vec![euros(1_000)]);
    assert_eq!(own.won_deals, 1);
    assert_eq!(own.won_revenue, vec![euros(2_000)]);
    assert_eq!(own.lost_deals, 1);
    assert_eq!(own.open_tickets, 2);
    assert_eq!(own.awaiting_first_response, 2);
    assert_eq!(own.escalated_tickets, 1);
    assert_eq!(own.breached_tickets, 1);
    assert_eq!(own.activities, 2);
    assert_eq!(own.last_activity_at, Some(minutes(13)));
    assert_eq!(
        view.recent_activities
            .iter()
            .map(|line| line.activity)
            .collect::<Vec<_>>(),
        vec![ActivityId(id(21)), ActivityId(id(20))]
    );
    assert_eq!(
        &view.rollup, own,
        "an account without children rolls up to itself"
    );
}

#[test]
fn figures_roll_up_over_the_hierarchy_and_move_with_a_child() {
    let mut world = World::new();
    for (n, (uuid, name)) in [
        (ACME, "ACME"),
        (ACME_UK, "ACME UK"),
        (ACME_DE, "ACME Deutschland"),
        (ACME_BERLIN, "ACME Berlin"),
    ]
    .into_iter()
    .enumerate()
    {
        open_account(&mut world, uuid, name, i64::try_from(n).unwrap());
    }
    set_parent(&mut world, ACME_UK, Some(ACME), 5);
    set_parent(&mut world, ACME_DE, Some(ACME), 6);
    set_parent(&mut world, ACME_BERLIN, Some(ACME_DE), 7);
    open_deal(&mut world, id(1), Some(ACME), euros(100), 8);
    open_deal(&mut world, id(2), Some(ACME_UK), euros(200), 9);
    open_deal(&mut world, id(3), Some(ACME_BERLIN), euros(400), 10);
    add_contact(&mut world, ACME_BERLIN, ADA, ContactRole::User, 11);
    add_contact(&mut world, ACME_UK, ADA, ContactRole::Champion, 12);

    let top = view(&world, ACME).unwrap();
    assert_eq!(top.rollup.accounts, 4);
    assert_eq!(top.rollup.open_pipeline, vec![euros(700)]);
    assert_eq!(
        top.rollup.contacts, 1,
        "one person at two accounts is one contact"
    );
    assert_eq!(top.contacts.len(), 2, "listed at each account");
    assert_eq!(top.own.open_pipeline, vec![euros(100)]);
    assert_eq!(
        top.descendants
            .iter()
            .map(|brief| (brief.id, brief.depth))
            .collect::<Vec<_>>(),
        vec![
            (account(ACME_UK), 1),
            (account(ACME_DE), 1),
            (account(ACME_BERLIN), 2)
        ],
        "depth first, children in id order"
    );
    let berlin = view(&world, ACME_BERLIN).unwrap();
    assert_eq!(
        berlin
            .ancestors
            .iter()
            .map(|brief| brief.id)
            .collect::<Vec<_>>(),
        vec![account(ACME_DE), account(ACME)]
    );

    // Berlin moves under the UK: its deal moves with it, at once.
    set_parent(&mut world, ACME_BERLIN, Some(ACME_UK), 13);
    assert_eq!(
        view(&world, ACME_DE).unwrap().rollup.open_pipeline,
        Vec::<Money>::new()
    );
    assert_eq!(
        view(&world, ACME_UK).unwrap().rollup.open_pipeline,
        vec![euros(600)]
    );
    assert_eq!(
        view(&world, ACME).unwrap().rollup.open_pipeline,
        vec![euros(700)]
    );
    // And out of the group altogether.
    set_parent(&mut world, ACME_BERLIN, None, 14);
    assert_eq!(
        view(&world, ACME).unwrap().rollup.open_pipeline,
        vec![euros(300)]
    );
    assert!(view(&world, ACME_BERLIN).unwrap().ancestors.is_empty());
}

#[test]
fn an_activity_counts_once_on_each_account_it_is_about() {
    let mut world = World::new();
    open_account(&mut world, ACME, "ACME", 0);
    open_account(&mut world, ACME_UK, "ACME UK", 1);
    add_contact(&mut world, ACME, ADA, ContactRole::DecisionMaker, 2);
    open_deal(&mut world, id(1), Some(ACME_UK), euros(100), 3);
    open_ticket(&mut world, id(2), Some(ACME_UK), 4);
    // Names the account and a contact of it: once on ACME. Names a deal of the UK: once there.
    log_call(
        &mut world,
        id(20),
        vec![
            RecordRef::Account(account(ACME)),
            RecordRef::Contact(ContactId(ADA)),
            RecordRef::Opportunity(OpportunityId(id(1))),
            RecordRef::Ticket(TicketId(id(2))),
        ],
        5,
    );
    assert_eq!(view(&world, ACME).unwrap().own.activities, 1);
    assert_eq!(view(&world, ACME_UK).unwrap().own.activities, 1);

    // Re-pointed at Ada alone: still ACME's (through her role), no longer the UK's.
    world
        .activity(
            id(20),
            ActivityCommand::Amend {
                changes: vec![ActivityChange::Records(vec![RecordRef::Contact(
                    ContactId(ADA),
                )])],
            },
            &as_user(ALICE, minutes(6)),
        )
        .unwrap();
    assert_eq!(view(&world, ACME).unwrap().own.activities, 1);
    let uk = view(&world, ACME_UK).unwrap();
    assert_eq!(uk.own.activities, 0);
    assert_eq!(uk.own.last_activity_at, None);

    // Ada leaves ACME: a call with her afterwards is not ACME's.
    world
        .account(
            ACME,
            AccountCommand::EndContactRole {
                contact: ContactId(ADA),
            },
            &as_user(ALICE, minutes(7)),
        )
        .unwrap();
    log_call(
        &mut world,
        id(21),
        vec![RecordRef::Contact(ContactId(ADA))],
        8,
    );
    let acme = view(&world, ACME).unwrap();
    assert_eq!(acme.own.activities, 1, "only the earlier call");
    assert!(acme.contacts.is_empty());

    // A call on the account, then cancelled.
    log_call(
        &mut world,
        id(22),
        vec![RecordRef::Account(account(ACME))],
        9,
    );
    assert_eq!(view(&world, ACME).unwrap().own.activities, 2);
    world
        .activity(
            id(22),
            ActivityCommand::Cancel {
                reason: CancellationReason::LoggedInError,
            },
            &as_user(ALICE, minutes(10)),
        )
        .unwrap();
    let acme = view(&world, ACME).unwrap();
    assert_eq!(acme.own.activities, 1);
    assert_eq!(
        acme.recent_activities
            .iter()
            .map(|line| line.activity)
            .collect::<Vec<_>>(),
        vec![ActivityId(id(20))]
    );
}

#[test]
fn an_amended_time_reorders_the_recent_activities() {
    let mut world = World::new();
    open_account(&mut world, ACME, "ACME", 0);
    let acme = vec![RecordRef::Account(account(ACME))];
    log_call(&mut world, id(20), acme.clone(), 10);
    log_call(&mut world, id(21), acme, 20);
    world
        .activity(
            id(20),
            ActivityCommand::Amend {
                changes: vec![ActivityChange::OccurredAt(minutes(25))],
            },
            &as_user(ALICE, minutes(30)),
        )
        .unwrap();
    let view = view(&world, ACME).unwrap();
    assert_eq!(view.own.last_activity_at, Some(minutes(25)));
    assert_eq!(view.recent_activities[0].activity, ActivityId(id(20)));
}

#[test]
fn a_solved_ticket_leaves_the_open_list_and_a_reopened_one_returns() {
    let mut world = World::new();
    open_account(&mut world, ACME, "ACME", 0);
    open_ticket(&mut world, id(10), Some(ACME), 1);
    world
        .ticket(
            id(10),
            TicketCommand::ReplyToCustomer {
                body: "Fixed".into(),
                channel: Channel::Email,
            },
            &as_user(ALICE, minutes(2)),
        )
        .unwrap();
    world
        .ticket(
            id(10),
            TicketCommand::ChangeStatus {
                status: TicketStatus::Solved,
            },
            &as_user(ALICE, minutes(3)),
        )
        .unwrap();
    let solved = view(&world, ACME).unwrap();
    assert_eq!(solved.own.open_tickets, 0);
    assert_eq!(solved.own.resolved_tickets, 1);

    world
        .ticket(
            id(10),
            TicketCommand::Reopen {
                reason: "Still broken".into(),
            },
            &as_user(ALICE, minutes(4)),
        )
        .unwrap();
    let reopened = view(&world, ACME).unwrap();
    assert_eq!(reopened.own.open_tickets, 1);
    assert_eq!(reopened.own.resolved_tickets, 0);
    assert_eq!(reopened.open_tickets[0].state.priority, Priority::High);
    assert_eq!(
        reopened.open_tickets[0].state.first_response_at,
        Some(minutes(2))
    );
}

#[test]
fn an_account_never_opened_has_no_view() {
    let mut world = World::new();
    open_account(&mut world, ACME, "ACME", 0);
    // Named as a parent before it is opened (the hierarchy does not check).
    set_parent(&mut world, ACME, Some(ACME_UK), 1);
    assert!(view(&world, ACME_UK).is_none());
    assert!(view(&world, Uuid::from_u128(0xdead)).is_none());
    assert!(view(&world, ACME).is_some());
}

fn candidates(world: &World, email: Option<&str>, company: Option<&str>) -> Vec<AccountCandidate> {
    use crm_domain::account::matching::CompanyEvidence;
    use crm_domain::identity::{EmailAddress, IdentityRecord, MatchConfig};
    let evidence = CompanyEvidence::of(&IdentityRecord {
        emails: email
            .map(|email| EmailAddress::parse(email).unwrap())
            .into_iter()
            .collect(),
        company_name: company.map(|name| CompanyName::new(name).unwrap()),
        ..IdentityRecord::default()
    });
    fold(world).lookup(
        &tenant(),
        &AccountCandidates {
            evidence,
            config: MatchConfig::default(),
            limit: 10,
        },
    )
}

#[test]
fn a_person_s_account_is_found_by_work_domain_and_by_company_name() {
    use crm_domain::identity::MatchVerdict;
    let mut world = World::new();
    open_account(&mut world, ACME, "ACME GmbH", 0);
    open_account(&mut world, ACME_UK, "Acme Holding Ltd", 1);
    world
        .account(
            ACME_UK,
            AccountCommand::RemoveDomain {
                domain: CompanyDomain::parse("acme.example").unwrap(),
            },
            &as_user(ALICE, minutes(2)),
        )
        .unwrap();

    // A work address under the account's domain: linked, whatever the name says.
    let by_domain = candidates(&world, Some("ada@eu.acme.example"), None);
    assert_eq!(by_domain.len(), 1, "{by_domain:?}");
    assert_eq!(by_domain[0].assessment.account, account(ACME));
    assert_eq!(by_domain[0].assessment.verdict, MatchVerdict::AutoLink);

    // The same name in other words: linked; a close name: for review; free mail: nothing.
    let by_name = candidates(&world, Some("ada@gmail.com"), Some("Acme Inc."));
    assert_eq!(by_name[0].assessment.account, account(ACME));
    assert_eq!(by_name[0].assessment.verdict, MatchVerdict::AutoLink);
    let close = candidates(&world, None, Some("ACME Holdings"));
    assert_eq!(close.len(), 1, "{close:?}");
    assert_eq!(close[0].assessment.account, account(ACME_UK));
    assert_eq!(close[0].assessment.verdict, MatchVerdict::Review);
    assert!(candidates(&world, Some("ada@gmail.com"), None).is_empty());

    // Renamed: found under its new name only.
    world
        .account(
            ACME,
            AccountCommand::Rename {
                name: CompanyName::new("Zenith Engines AG").unwrap(),
            },
            &as_user(ALICE, minutes(3)),
        )
        .unwrap();
    assert!(
        candidates(&world, None, Some("Acme"))
            .iter()
            .all(|found| found.assessment.account != account(ACME))
    );
    assert_eq!(
        candidates(&world, None, Some("Zenith Engines"))[0]
            .assessment
            .account,
        account(ACME)
    );
}

mod properties {
    use std::collections::{BTreeMap, BTreeSet};

    use crm_domain::Aggregate;
    use crm_domain::account::{AccountHierarchy, AccountHierarchyEvent};
    use crm_projections::CrmEvent;
    use crm_testkit::properties::{arb_delivery, check_fold};
    use proptest::prelude::*;

    use super::*;

    /// One step of a random history over 4 accounts, 3 contacts, 3 deals and 6 activities.
    #[derive(Debug, Clone)]
    enum Step {
        AddContact(u8, u8),
        EndRole(u8, u8),
        Parent(u8, Option<u8>),
        OpenDeal(u8, Option<u8>, i64),
        CloseDeal(u8, bool),
        Log(u8, Vec<Named>),
        Repoint(u8, Vec<Named>),
        Cancel(u8),
    }

    #[derive(Debug, Clone, Copy)]
    enum Named {
        Account(u8),
        Contact(u8),
        Deal(u8),
    }

    fn arb_named() -> impl Strategy<Value = Named> {
        prop_oneof![
            (0..4u8).prop_map(Named::Account),
            (0..3u8).prop_map(Named::Contact),
            (0..3u8).prop_map(Named::Deal),
        ]
    }

    fn arb_step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0..4u8, 0..3u8).prop_map(|(a, c)| Step::AddContact(a, c)),
            (0..4u8, 0..3u8).prop_map(|(a, c)| Step::EndRole(a, c)),
            (0..4u8, proptest::option::of(0..4u8)).prop_map(|(a, p)| Step::Parent(a, p)),
            (0..3u8, proptest::option::of(0..4u8), 1..1_000i64)
                .prop_map(|(d, a, amount)| Step::OpenDeal(d, a, amount)),
            (0..3u8, any::<bool>()).prop_map(|(d, won)| Step::CloseDeal(d, won)),
            (0..6u8, proptest::collection::vec(arb_named(), 1..4))
                .prop_map(|(n, named)| Step::Log(n, named)),
            (0..6u8, proptest::collection::vec(arb_named(), 1..4))
                .prop_map(|(n, named)| Step::Repoint(n, named)),
            (0..6u8).prop_map(Step::Cancel),
        ]
    }

    fn account_n(n: u8) -> Uuid {
        Uuid::from_u128(0xa000 + u128::from(n))
    }
    fn contact_n(n: u8) -> Uuid {
        Uuid::from_u128(0xc000 + u128::from(n))
    }
    fn deal_n(n: u8) -> Uuid {
        Uuid::from_u128(0xd000 + u128::from(n))
    }
    fn activity_n(n: u8) -> Uuid {
        Uuid::from_u128(0xe000 + u128::from(n))
    }

    fn records(named: &[Named]) -> Vec<RecordRef> {
        let mut records: Vec<RecordRef> = Vec::new();
        for named in named {
            let record = match named {
                Named::Account(n) => RecordRef::Account(account(account_n(*n))),
                Named::Contact(n) => RecordRef::Contact(ContactId(contact_n(*n))),
                Named::Deal(n) => RecordRef::Opportunity(OpportunityId(deal_n(*n))),
            };
            if !records.contains(&record) {
                records.push(record);
            }
        }
        records
    }

    /// Plays the steps (refusals pass) and keeps, next to the world, what each activity should
    /// count on: resolved by hand from the memberships and deals at the time.
    fn play(steps: &[Step]) -> (World, BTreeMap<Uuid, BTreeSet<AccountId>>) {
        let mut world = World::new();
        for n in 0..4 {
            open_account(&mut world, account_n(n), &format!("Company {n}"), 0);
        }
        let mut roles: BTreeSet<(u8, u8)> = BTreeSet::new();
        let mut deal_accounts: BTreeMap<u8, Option<u8>> = BTreeMap::new();
        let mut counted: BTreeMap<Uuid, BTreeSet<AccountId>> = BTreeMap::new();
        let resolve =
            |named: &[Named], roles: &BTreeSet<(u8, u8)>, deals: &BTreeMap<u8, Option<u8>>| {
                let mut accounts = BTreeSet::new();
                for named in named {
                    match named {
                        Named::Account(a) => {
                            accounts.insert(account(account_n(*a)));
                        }
                        Named::Contact(c) => accounts.extend(
                            roles
                                .iter()
                                .filter(|(_, contact)| contact == c)
                                .map(|(a, _)| account(account_n(*a))),
                        ),
                        Named::Deal(d) => {
                            if let Some(Some(a)) = deals.get(d) {
                                accounts.insert(account(account_n(*a)));
                            }
                        }
                    }
                }
                accounts
            };
        for (i, step) in steps.iter().enumerate() {
            let at = minutes(i64::try_from(i).unwrap() + 1);
            let ctx = as_user(ALICE, at);
            match step {
                Step::AddContact(a, c) => {
                    let done = world.account(
                        account_n(*a),
                        AccountCommand::AddContact {
                            contact: ContactId(contact_n(*c)),
                            role: ContactRole::User,
                        },
                        &ctx,
                    );
                    if done.is_ok() {
                        roles.insert((*a, *c));
                    }
                }
                Step::EndRole(a, c) => {
                    if world
                        .account(
                            account_n(*a),
                            AccountCommand::EndContactRole {
                                contact: ContactId(contact_n(*c)),
                            },
                            &ctx,
                        )
                        .is_ok()
                    {
                        roles.remove(&(*a, *c));
                    }
                }
                Step::Parent(a, p) => {
                    let _ = world.hierarchy(
                        AccountHierarchyCommand::SetParent {
                            account: account(account_n(*a)),
                            parent: p.map(|p| account(account_n(p))),
                        },
                        &ctx,
                    );
                }
                Step::OpenDeal(d, a, amount) => {
                    let done = world.opportunity(
                        deal_n(*d),
                        OpportunityCommand::Open {
                            opportunity: OpportunityId(deal_n(*d)),
                            name: "Deal".into(),
                            contact: ContactId(contact_n(0)),
                            company: a.map(|a| account(account_n(a))),
                            owner: ALICE,
                            amount: euros(*amount),
                            expected_close: NaiveDate::from_ymd_opt(2026, 6, 30).unwrap(),
                            pipeline: Pipeline::default(),
                            stage: None,
                        },
                        &ctx,
                    );
                    if done.is_ok() {
                        deal_accounts.insert(*d, *a);
                    }
                }
                Step::CloseDeal(d, won) => {
                    let command = if *won {
                        OpportunityCommand::Win
                    } else {
                        OpportunityCommand::Lose {
                            reason: LossReason::NoBudget,
                        }
                    };
                    let _ = world.opportunity(deal_n(*d), command, &ctx);
                }
                Step::Log(n, named) => {
                    let activity = activity_n(*n);
                    let done = world.activity(
                        activity,
                        ActivityCommand::Log(NewActivity {
                            activity: ActivityId(activity),
                            kind: ActivityKind::Note,
                            records: records(named),
                            occurred_at: at,
                            duration_seconds: None,
                            direction: None,
                            participants: Vec::new(),
                            outcome: None,
                            subject: None,
                            body: None,
                            performed_by: None,
                        }),
                        &ctx,
                    );
                    if done.is_ok() {
                        counted.insert(activity, resolve(named, &roles, &deal_accounts));
                    }
                }
                Step::Repoint(n, named) => {
                    let activity = activity_n(*n);
                    let done = world.activity(
                        activity,
                        ActivityCommand::Amend {
                            changes: vec![ActivityChange::Records(records(named))],
                        },
                        &ctx,
                    );
                    if done.is_ok_and(|events| events > 0) {
                        counted.insert(activity, resolve(named, &roles, &deal_accounts));
                    }
                }
                Step::Cancel(n) => {
                    let activity = activity_n(*n);
                    if world
                        .activity(
                            activity,
                            ActivityCommand::Cancel {
                                reason: CancellationReason::Duplicate,
                            },
                            &ctx,
                        )
                        .is_ok_and(|events| events > 0)
                    {
                        counted.remove(&activity);
                    }
                }
            }
        }
        (world, counted)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn folding_in_batches_or_twice_equals_one_fold(
            steps in proptest::collection::vec(arb_step(), 0..40),
            (cuts, again) in arb_delivery(),
        ) {
            let (world, _) = play(&steps);
            check_fold(&Account360Model, world.events(), &cuts, &again)?;
        }

        #[test]
        fn activities_count_where_they_were_about_and_roll_ups_are_sums_of_subtrees(
            steps in proptest::collection::vec(arb_step(), 0..40),
        ) {
            let (world, counted) = play(&steps);
            let store = MemoryDocuments::fold(Account360Model, world.events()).unwrap();
            let hierarchy = world
                .events()
                .iter()
                .filter_map(|event| match &event.event {
                    CrmEvent::AccountHierarchy(event) => Some(event.clone()),
                    _ => None,
                })
                .fold(AccountHierarchy::default(), |state, event: AccountHierarchyEvent| {
                    state.evolve(&event)
                });
            for n in 0..4 {
                let id = account(account_n(n));
                let view = store.lookup(&tenant(), &Account360Query { account: id }).unwrap();
                let expected = counted.values().filter(|accounts| accounts.contains(&id)).count();
                prop_assert_eq!(view.own.activities, u64::try_from(expected).unwrap());
                let mut below: Vec<AccountId> = hierarchy.descendants(id);
                below.sort();
                let mut listed: Vec<AccountId> = view.descendants.iter().map(|brief| brief.id).collect();
                listed.sort();
                prop_assert_eq!(&listed, &below);
                prop_assert_eq!(view.ancestors.iter().map(|brief| brief.id).collect::<Vec<_>>(), hierarchy.ancestors(id));
                // The roll-up is the sum of the subtree's own figures.
                let mut activities = view.own.activities;
                let mut open_deals = view.own.open_deals;
                let mut won = view.own.won_deals;
                for child in &below {
                    let own = store.lookup(&tenant(), &Account360Query { account: *child }).unwrap().own;
                    activities += own.activities;
                    open_deals += own.open_deals;
                    won += own.won_deals;
                }
                prop_assert_eq!(view.rollup.activities, activities);
                prop_assert_eq!(view.rollup.open_deals, open_deals);
                prop_assert_eq!(view.rollup.won_deals, won);
                prop_assert_eq!(view.rollup.accounts, below.len() + 1);
            }
        }
    }
}
