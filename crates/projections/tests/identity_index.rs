//! The identity index, given/when/then: contacts filed under their blocking keys, found by
//! any field, merges and erasure followed; and the PostgreSQL adapter answering lookups as
//! the in-memory fold does.

#![expect(
    clippy::unwrap_used,
    reason = "tests: a step that fails fails the test"
)]

use crm_domain::ContactId;
use crm_domain::contact::{
    ContactCommand, Detail, DetailChange, ErasureGround, ErasureRequest, ErasureRequester,
    MergePolicy, Provenance,
};
use crm_domain::identity::linkage::{LinkageModel, PersonDetails, PersonRecord};
use crm_domain::identity::{CompanyDomain, CompanyName};
use crm_domain::identity::{CountryCode, EmailAddress, MatchVerdict, PersonName, PhoneNumber};
use crm_projections::identity::query::{BestMatches, Candidates, PeopleAtCompany, rank};
use crm_projections::identity::{IdentityDoc, IdentityIndexModel, account_company_keys};
use crm_projections::{DocumentStore, MemoryDocuments, PostgresDocuments, ProjectionBatch};
use crm_testkit::postgres::TestDatabase;
use crm_testkit::world::{ALICE, World, as_user, minutes, tenant};
use uuid::Uuid;

const JANE: ContactId = ContactId(Uuid::from_u128(0xb1));
const JANE_AGAIN: ContactId = ContactId(Uuid::from_u128(0xb2));
const PETER: ContactId = ContactId(Uuid::from_u128(0xb3));

fn gb() -> CountryCode {
    CountryCode::new("GB").unwrap()
}

fn create(world: &mut World, id: ContactId, given: &str, family: &str, email: Option<&str>) {
    let mut changes = vec![
        DetailChange::Set(Detail::GivenName(Some(PersonName::new(given).unwrap()))),
        DetailChange::Set(Detail::FamilyName(Some(PersonName::new(family).unwrap()))),
        DetailChange::Set(Detail::Country(Some(gb()))),
    ];
    if let Some(email) = email {
        changes.push(DetailChange::AddEmail(EmailAddress::parse(email).unwrap()));
    }
    world.create_contact(id, changes);
}

fn change(world: &mut World, id: ContactId, change: DetailChange) {
    world
        .contact(
            id.0,
            ContactCommand::ChangeDetails {
                provenance: Provenance::new("crm-ui", minutes(1)),
                changes: vec![change],
            },
            &as_user(ALICE, minutes(1)),
        )
        .unwrap();
}

fn add_phone(world: &mut World, id: ContactId, phone: &str) {
    change(
        world,
        id,
        DetailChange::AddPhone(PhoneNumber::parse(phone, gb()).unwrap()),
    );
}

/// Erases `id` at the person's own request.
fn erase(world: &mut World, id: ContactId) {
    world
        .contact(
            id.0,
            ContactCommand::Erase {
                request: ErasureRequest {
                    requested_by: ErasureRequester::DataSubject,
                    legal_basis: ErasureGround::Objection,
                    requested_at: minutes(9),
                },
            },
            &as_user(ALICE, minutes(9)),
        )
        .unwrap();
}

/// Jane Smith, with an email address and a London number.
fn jane(world: &mut World) {
    create(world, JANE, "Jane", "Smith", Some("jane.smith@example.com"));
    add_phone(world, JANE, "020 7946 0958");
}

fn person(details: &PersonDetails) -> PersonRecord {
    let (record, unreadable) = PersonRecord::normalize(details, gb());
    assert!(unreadable.is_empty(), "{unreadable:?}");
    record
}

fn looked_up(world: &World, record: &PersonRecord) -> Vec<ContactId> {
    let model = IdentityIndexModel::default();
    let index = MemoryDocuments::fold(model.clone(), world.events()).unwrap();
    index
        .lookup(&tenant(), &Candidates::of(&model, record, 500))
        .into_iter()
        .map(|candidate| candidate.contact)
        .collect()
}

#[test]
fn a_person_is_found_by_email_or_phone_and_ranked_with_evidence() {
    let mut world = World::new();
    jane(&mut world);
    create(
        &mut world,
        PETER,
        "Peter",
        "Jones",
        Some("peter@example.com"),
    );

    let by_email = person(&PersonDetails {
        emails: vec!["Jane.Smith@Example.com".into()],
        ..PersonDetails::default()
    });
    assert_eq!(looked_up(&world, &by_email), [JANE]);
    let by_phone = person(&PersonDetails {
        given_name: Some("Jayne".into()),
        family_name: Some("Smyth".into()),
        phones: vec!["+44 20 7946 0958".into()],
        ..PersonDetails::default()
    });
    assert_eq!(looked_up(&world, &by_phone), [JANE]);

    let model = IdentityIndexModel::default();
    let index = MemoryDocuments::fold(model.clone(), world.events()).unwrap();
    let candidates = index.lookup(&tenant(), &Candidates::of(&model, &by_phone, 500));
    let linkage = LinkageModel::default();
    let ranked = rank(&linkage, &by_phone, &candidates, 10);
    assert_eq!(ranked[0].contact, JANE);
    assert_eq!(
        index.lookup(
            &tenant(),
            &BestMatches::of(&model, &by_phone, 500, &linkage, 10)
        ),
        ranked,
        "ranking inside the lookup is ranking what it found"
    );
    let evidence = &ranked[0].assessment.evidence;
    assert!(
        evidence
            .iter()
            .any(|e| e.level.as_deref() == Some("exact") && e.weight > 0.0)
    );
    assert_ne!(ranked[0].assessment.verdict, MatchVerdict::Distinct);
}

fn set_birth_date(world: &mut World, id: ContactId, date: &str) {
    change(
        world,
        id,
        DetailChange::Set(Detail::DateOfBirth(Some(date.parse().unwrap()))),
    );
}

#[test]
fn a_person_whose_names_were_typed_the_other_way_round_is_found() {
    let mut world = World::new();
    create(&mut world, JANE, "Jane", "Smith", None);
    set_birth_date(&mut world, JANE, "1980-03-04");
    create(&mut world, PETER, "Peter", "Smith", None);
    set_birth_date(&mut world, PETER, "1975-03-04");
    // Names in the wrong boxes, the date of birth with day and month transposed.
    let swapped = person(&PersonDetails {
        given_name: Some("Smith".into()),
        family_name: Some("Jane".into()),
        date_of_birth: Some("1980-04-03".into()),
        ..PersonDetails::default()
    });
    assert_eq!(looked_up(&world, &swapped), [JANE]);
    let model = IdentityIndexModel::default();
    let index = MemoryDocuments::fold(model.clone(), world.events()).unwrap();
    let candidates = index.lookup(&tenant(), &Candidates::of(&model, &swapped, 500));
    let best = &rank(&LinkageModel::default(), &swapped, &candidates, 10)[0];
    assert!(best.assessment.names_swapped);
    let birth = &best.assessment.evidence[2];
    assert_eq!(birth.level.as_deref(), Some("day and month transposed"));
}

#[test]
fn a_merged_contact_is_found_through_its_survivor_until_unmerged() {
    let mut world = World::new();
    create(&mut world, JANE, "Jane", "Smith", Some("jane@example.com"));
    create(
        &mut world,
        JANE_AGAIN,
        "Jane",
        "Smith",
        Some("j.smith@work.example"),
    );
    let ctx = as_user(ALICE, minutes(5));
    world
        .contact(
            JANE_AGAIN.0,
            ContactCommand::MergeInto { survivor: JANE },
            &ctx,
        )
        .unwrap();
    let absorbed = world.contact_state(JANE_AGAIN.0);
    world
        .contact(
            JANE.0,
            ContactCommand::Merge {
                absorbed: Box::new(absorbed),
                policy: MergePolicy::SurvivorFirst,
                choices: Vec::new(),
            },
            &ctx,
        )
        .unwrap();
    let by_work_mail = person(&PersonDetails {
        emails: vec!["j.smith@work.example".into()],
        ..PersonDetails::default()
    });
    assert_eq!(
        looked_up(&world, &by_work_mail),
        [JANE],
        "the survivor took the address"
    );

    let ctx = as_user(ALICE, minutes(6));
    world
        .contact(
            JANE.0,
            ContactCommand::Unmerge {
                absorbed: JANE_AGAIN,
            },
            &ctx,
        )
        .unwrap();
    world
        .contact(
            JANE_AGAIN.0,
            ContactCommand::UnmergeFrom { survivor: JANE },
            &ctx,
        )
        .unwrap();
    assert_eq!(looked_up(&world, &by_work_mail), [JANE_AGAIN], "given back");
}

#[test]
fn an_erased_person_leaves_nothing_of_theirs_behind() {
    let mut world = World::new();
    create(&mut world, JANE, "Jane", "Smith", Some("jane@example.com"));
    add_phone(&mut world, JANE, "020 7946 0958");
    create(
        &mut world,
        PETER,
        "Peter",
        "Jones",
        Some("peter@example.com"),
    );
    erase(&mut world, JANE);
    let index = MemoryDocuments::fold(IdentityIndexModel::default(), world.events()).unwrap();
    let documents: Vec<String> = index
        .all_documents()
        .map(|(_, stored)| serde_json::to_string(&stored.doc).unwrap())
        .collect();
    assert!(!documents.is_empty(), "Peter is still there");
    for document in &documents {
        assert!(!document.contains("jane") && !document.contains(&JANE.0.to_string()));
        assert!(!document.contains("+442079460958"));
    }
}

#[test]
fn a_block_everyone_shares_is_passed_over() {
    let mut world = World::new();
    let model = IdentityIndexModel {
        max_block_size: 3,
        ..IdentityIndexModel::default()
    };
    for n in 0..5u128 {
        let id = ContactId(Uuid::from_u128(0xc0 + n));
        create(
            &mut world,
            id,
            "Jane",
            "Smith",
            Some(&format!("jane{n}@example.com")),
        );
        add_phone(&mut world, id, "020 7946 0958");
    }
    let index = MemoryDocuments::fold(model.clone(), world.events()).unwrap();
    let shared_phone = person(&PersonDetails {
        phones: vec!["020 7946 0958".into()],
        ..PersonDetails::default()
    });
    assert!(
        index
            .lookup(&tenant(), &Candidates::of(&model, &shared_phone, 500))
            .is_empty()
    );
    let oversized = index.all_documents().any(|(_, stored)| {
        matches!(&stored.doc, IdentityDoc::Block(block) if block.oversized && block.members.is_empty())
    });
    assert!(oversized);
    let own_mail = person(&PersonDetails {
        emails: vec!["jane3@example.com".into()],
        ..PersonDetails::default()
    });
    assert_eq!(
        index
            .lookup(&tenant(), &Candidates::of(&model, &own_mail, 500))
            .len(),
        1
    );
}

fn people_at(world: &World, domains: &[&str], name: &str) -> Vec<ContactId> {
    let index = MemoryDocuments::fold(IdentityIndexModel::default(), world.events()).unwrap();
    let domains: Vec<CompanyDomain> = domains
        .iter()
        .map(|domain| CompanyDomain::parse(domain).unwrap())
        .collect();
    let mut people = Vec::new();
    for company in account_company_keys(&domains, &CompanyName::new(name).unwrap()) {
        let mut after = None;
        loop {
            let page = index.scan(
                &tenant(),
                &PeopleAtCompany {
                    company,
                    after,
                    limit: 1,
                },
            );
            let Some(last) = page.last().copied() else {
                break;
            };
            people.extend(page);
            after = Some(last);
        }
    }
    people.sort_unstable();
    people.dedup();
    people
}

#[test]
fn an_account_finds_the_people_its_domains_and_name_point_to() {
    let mut world = World::new();
    create(
        &mut world,
        JANE,
        "Jane",
        "Smith",
        Some("jane@eu.acme.example"),
    );
    create(
        &mut world,
        JANE_AGAIN,
        "Jane",
        "Smyth",
        Some("jane@gmail.com"),
    );
    change(
        &mut world,
        JANE_AGAIN,
        DetailChange::Set(Detail::CompanyName(Some(
            CompanyName::new("ACME Holdings Ltd.").unwrap(),
        ))),
    );
    create(
        &mut world,
        PETER,
        "Peter",
        "Jones",
        Some("peter@zenith.example"),
    );
    // The subdomain's person by the account's domain, the free-mail person by the name.
    assert_eq!(
        people_at(&world, &["acme.example"], "Acme Holdings"),
        [JANE, JANE_AGAIN]
    );
    assert_eq!(people_at(&world, &["acme.example"], "Globex"), [JANE]);
    assert_eq!(people_at(&world, &["zenith.example"], "Zenith"), [PETER]);
    assert!(
        people_at(&world, &["gmail.com"], "Initech").is_empty(),
        "free mail is no company"
    );

    // The website counts as well; a changed address or company moves the person.
    change(
        &mut world,
        PETER,
        DetailChange::Set(Detail::CompanyDomain(Some(
            CompanyDomain::parse("https://www.initech.example").unwrap(),
        ))),
    );
    assert_eq!(people_at(&world, &["initech.example"], "Initech"), [PETER]);
    change(
        &mut world,
        JANE,
        DetailChange::RemoveEmail(EmailAddress::parse("jane@eu.acme.example").unwrap()),
    );
    assert_eq!(
        people_at(&world, &["acme.example"], "Globex"),
        Vec::<ContactId>::new()
    );

    // An erased person leaves every company.
    erase(&mut world, PETER);
    assert!(people_at(&world, &["initech.example", "zenith.example"], "Initech").is_empty());
}

#[tokio::test]
async fn postgres_answers_lookups_as_the_in_memory_fold_does() {
    let database = TestDatabase::create().await;
    let model = IdentityIndexModel::default();
    let documents = PostgresDocuments::connect(&database.url, 2, model.clone())
        .await
        .unwrap();
    let mut world = World::new();
    jane(&mut world);
    create(
        &mut world,
        JANE_AGAIN,
        "Jane",
        "Smyth",
        Some("jane@example.org"),
    );
    add_phone(&mut world, JANE_AGAIN, "020 7946 0958");
    create(
        &mut world,
        PETER,
        "Peter",
        "Jones",
        Some("peter@example.com"),
    );
    let events = world.events().to_vec();
    let through = events.last().unwrap().global_position();
    documents
        .commit(
            &tenant(),
            None,
            &ProjectionBatch::new(events.clone(), through),
        )
        .await
        .unwrap();
    let memory = MemoryDocuments::fold(model.clone(), &events).unwrap();
    let record = person(&PersonDetails {
        phones: vec!["+44 20 7946 0958".into()],
        emails: vec!["peter@example.com".into()],
        ..PersonDetails::default()
    });
    let query = Candidates::of(&model, &record, 500);
    let in_postgres = documents.lookup(&tenant(), &query).await.unwrap();
    assert_eq!(in_postgres, memory.lookup(&tenant(), &query));
    assert_eq!(in_postgres.len(), 3);
    let excluding = query.excluding(PETER);
    assert_eq!(
        documents.lookup(&tenant(), &excluding).await.unwrap().len(),
        2
    );
    let linkage = LinkageModel::default();
    for keep in [1, 2, 10] {
        let best = BestMatches::of(&model, &record, 500, &linkage, keep);
        let ranked = documents.lookup(&tenant(), &best).await.unwrap();
        assert_eq!(ranked, memory.lookup(&tenant(), &best));
        assert_eq!(ranked, rank(&linkage, &record, &in_postgres, keep));
        assert_eq!(ranked.len(), keep.min(3));
        let without_peter = documents
            .lookup(&tenant(), &best.excluding(PETER))
            .await
            .unwrap();
        assert!(without_peter.iter().all(|r| r.contact != PETER));
    }
    let domains = [CompanyDomain::parse("example.com").unwrap()];
    let mut found = 0;
    for company in account_company_keys(&domains, &CompanyName::new("Example").unwrap()) {
        for after in [None, Some(JANE)] {
            let query = PeopleAtCompany {
                company,
                after,
                limit: 10,
            };
            let in_postgres = documents.scan(&tenant(), &query).await.unwrap();
            assert_eq!(in_postgres, memory.scan(&tenant(), &query));
            found += in_postgres.len();
        }
    }
    assert_eq!(
        found, 3,
        "Jane and Peter at example.com, then Peter after Jane"
    );
}

#[test]
fn a_lookup_never_weighs_more_candidates_than_its_limit() {
    // Twelve Jane Smiths share a switchboard number: the limit is counted in distinct
    // people, whichever blocks hold them and however often.
    let mut world = World::new();
    let janes: Vec<ContactId> = (0..12)
        .map(|n| ContactId(Uuid::from_u128(0xd00 + n)))
        .collect();
    for id in &janes {
        create(&mut world, *id, "Jane", "Smith", None);
        add_phone(&mut world, *id, "020 7946 0958");
    }
    let record = person(&PersonDetails {
        given_name: Some("Jane".into()),
        family_name: Some("Smith".into()),
        phones: vec!["020 7946 0958".into()],
        ..PersonDetails::default()
    });
    let model = IdentityIndexModel::default();
    let index = MemoryDocuments::fold(model.clone(), world.events()).unwrap();
    let found = |query: Candidates| -> Vec<ContactId> {
        index
            .lookup(&tenant(), &query)
            .into_iter()
            .map(|candidate| candidate.contact)
            .collect()
    };
    assert_eq!(found(Candidates::of(&model, &record, 500)), janes);
    assert_eq!(found(Candidates::of(&model, &record, 12)), janes);
    let five = found(Candidates::of(&model, &record, 5));
    assert_eq!(five.len(), 5, "{five:?}");
    assert!(five.is_sorted() && five.iter().all(|id| janes.contains(id)));
    let others = found(Candidates::of(&model, &record, 500).excluding(janes[3]));
    assert_eq!(others.len(), 11);
    assert!(!others.contains(&janes[3]));
}
