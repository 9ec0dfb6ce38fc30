//! Identity resolution at a million people: quality and the index's lookup latency.
//!
//! 1. **Quality** (`LINKAGE_BENCH_RECORDS`, default 1,000,000): the generator's people
//!    (crm-testkit `people`, seeds other than the test's) deduplicated in one file, and two
//!    files of half that size each linked; the model learned without labels; links at its
//!    auto-link threshold. Prints precision, recall, F1, pair completeness, reduction ratio.
//! 2. **Lookup** (`LINKAGE_BENCH_INDEX`, default 1,000,000 people in memory;
//!    `LINKAGE_BENCH_POSTGRES_INDEX`, default 100,000 people on PostgreSQL, 0 to skip; the
//!    people indexed are the generator's originals, their duplicates are the lookups): the
//!    identity index read model folded from the contacts' own events (each person created
//!    through the contact aggregate's `decide`), then 10,000 lookups (`LINKAGE_BENCH_LOOKUPS`)
//!    of corrupted duplicates of indexed people — candidates from the index, ranked by the default model — timed one
//!    by one: p50, p99, max, and how often the true person came first.
//!
//! Run: `source scripts/postgres-env && cargo bench -p crm-benches --bench linkage`.
//! Figures: docs/PERFORMANCE.md, "Identity resolution".

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss,
    reason = "a load generator's counts and percentiles, all far inside their types"
)]

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use crm_domain::contact::{
    Contact, ContactCommand, Detail, DetailChange, Provenance, StreetAddress,
};
use crm_domain::identity::linkage::{LinkageModel, PersonRecord};
use crm_domain::identity::{CompanyName, CountryCode, EmailAddress, PersonName, PhoneNumber};
use crm_domain::{Actor, Aggregate, ContactId, Context};
use crm_projections::identity::IdentityIndexModel;
use crm_projections::identity::query::{BestMatches, Candidates};
use crm_projections::{
    AggregateKind, CrmEvent, DocumentStore, MemoryDocuments, PostgresDocuments, ProjectedEvent,
    ProjectionBatch, StreamRef, TenantId,
};
use crm_testkit::linkage_quality::{RunSettings, deduplicate, details_of, link};
use crm_testkit::people::{
    GeneratedPerson, GeneratorSettings, LinkageSettings, generate, generate_linkage,
};
use uuid::Uuid;

fn number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn gb() -> CountryCode {
    CountryCode::new("GB").expect("GB is a country")
}

/// The contact aggregate's events creating `person` (values it refuses are left out, as a
/// form would leave them out).
fn contact_events(id: ContactId, person: &GeneratedPerson, n: u64) -> Vec<CrmEvent> {
    let country = person
        .country
        .as_deref()
        .and_then(|c| CountryCode::new(c).ok())
        .unwrap_or_else(gb);
    let mut changes = Vec::new();
    if let Some(name) = person
        .given_name
        .as_deref()
        .and_then(|n| PersonName::new(n).ok())
    {
        changes.push(DetailChange::Set(Detail::GivenName(Some(name))));
    }
    if let Some(name) = person
        .family_name
        .as_deref()
        .and_then(|n| PersonName::new(n).ok())
    {
        changes.push(DetailChange::Set(Detail::FamilyName(Some(name))));
    }
    if let Some(date) = person.date_of_birth.as_deref().and_then(|d| d.parse().ok()) {
        changes.push(DetailChange::Set(Detail::DateOfBirth(Some(date))));
    }
    changes.push(DetailChange::Set(Detail::Country(Some(country))));
    changes.push(DetailChange::Set(Detail::Address(Some(StreetAddress {
        street_number: person.street_number.clone(),
        street: person.street.clone(),
        locality: person.locality.clone(),
        postcode: person.postcode.clone(),
        region: person.region.clone(),
    }))));
    if let Some(id) = &person.national_id {
        changes.push(DetailChange::Set(Detail::NationalId(Some(id.clone()))));
    }
    if let Some(email) = person
        .email
        .as_deref()
        .and_then(|e| EmailAddress::parse(e).ok())
    {
        changes.push(DetailChange::AddEmail(email));
    }
    if let Some(phone) = person
        .phone
        .as_deref()
        .and_then(|p| PhoneNumber::parse(p, country).ok())
    {
        changes.push(DetailChange::AddPhone(phone));
    }
    if let Some(company) = person
        .company
        .as_deref()
        .and_then(|c| CompanyName::new(c).ok())
    {
        changes.push(DetailChange::Set(Detail::CompanyName(Some(company))));
    }
    let at = Utc
        .timestamp_opt(1_767_000_000, 0)
        .single()
        .expect("a valid instant");
    let ctx = Context::new(
        at,
        Actor::Integration {
            source: "import".into(),
        },
        Uuid::from_u128(u128::from(n)),
    );
    let command = ContactCommand::Create {
        contact_id: id,
        provenance: Provenance::new("import", at),
        changes: changes.clone(),
    };
    if let Ok(events) = Contact::default().decide(command, &ctx) {
        events.into_iter().map(CrmEvent::Contact).collect()
    } else {
        // A refused detail refuses the whole command: create with names only instead.
        let names: Vec<DetailChange> = changes
            .into_iter()
            .filter(|c| {
                matches!(
                    c,
                    DetailChange::Set(Detail::GivenName(_) | Detail::FamilyName(_))
                )
            })
            .collect();
        let command = ContactCommand::Create {
            contact_id: id,
            provenance: Provenance::new("import", at),
            changes: names,
        };
        Contact::default()
            .decide(command, &ctx)
            .map(|events| events.into_iter().map(CrmEvent::Contact).collect())
            .unwrap_or_default()
    }
}

/// The index's events for `people`, in batches of 10,000 people.
fn batches(
    people: &[GeneratedPerson],
    tenant: &TenantId,
) -> impl Iterator<Item = Vec<ProjectedEvent>> {
    let mut position = 0u64;
    let tenant = tenant.clone();
    people
        .chunks(10_000)
        .enumerate()
        .map(move |(chunk, slice)| {
            let mut events = Vec::new();
            for (i, person) in slice.iter().enumerate() {
                let n = (chunk * 10_000 + i) as u64;
                let id = ContactId(Uuid::from_u128(0xc0_0000_0000 + u128::from(n)));
                for event in contact_events(id, person, n) {
                    position += 1;
                    events.push(ProjectedEvent {
                        position,
                        transaction: position,
                        recorded_at: Utc::now(),
                        tenant: tenant.clone(),
                        stream: StreamRef::new(AggregateKind::Contact, id.0),
                        event,
                        actor: None,
                    });
                }
            }
            events
        })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

struct Lookups {
    latencies: Vec<Duration>,
    candidates: usize,
    first: usize,
}

impl Lookups {
    fn report(mut self, what: &str) {
        self.latencies.sort_unstable();
        let n = self.latencies.len();
        println!(
            "{what}: {n} lookups, p50 {:?}, p99 {:?}, max {:?}; {:.1} candidates on average; true person ranked first in {:.2}%",
            percentile(&self.latencies, 0.5),
            percentile(&self.latencies, 0.99),
            self.latencies[n - 1],
            self.candidates as f64 / n as f64,
            100.0 * self.first as f64 / n as f64,
        );
    }
}

/// Corrupted copies of indexed people (entity ids of the originals, which are the index
/// positions of the originals in `originals`).
fn queries(people: &[GeneratedPerson], count: usize) -> Vec<(usize, PersonRecord)> {
    let index_of: std::collections::HashMap<u64, usize> = people
        .iter()
        .enumerate()
        .filter(|(_, p)| p.is_original)
        .map(|(i, p)| (p.entity, i))
        .collect();
    people
        .iter()
        .filter(|p| !p.is_original)
        .take(count)
        .filter_map(|p| {
            let original = *index_of.get(&p.entity)?;
            Some((original, PersonRecord::normalize(&details_of(p), gb()).0))
        })
        .collect()
}

fn main() {
    let records = number("LINKAGE_BENCH_RECORDS", 1_000_000);
    if records > 0 {
        let started = Instant::now();
        let people = generate(&GeneratorSettings::dedup(records, 101));
        println!(
            "generated {} records in {:?}",
            people.len(),
            started.elapsed()
        );
        let report = deduplicate(&people, &RunSettings::default());
        println!("deduplication\n{}", report.summary());
        drop(people);
        let files = generate_linkage(&LinkageSettings::linkage(records / 2, records / 2, 103));
        let report = link(&files.left, &files.right, &RunSettings::default());
        println!("linkage of two files\n{}", report.summary());
    }

    let model = IdentityIndexModel::default();
    let linkage = LinkageModel::default();
    let tenant = TenantId::new("bench").expect("a valid tenant");
    let indexed = number("LINKAGE_BENCH_INDEX", 1_000_000);
    let lookups_wanted = number("LINKAGE_BENCH_LOOKUPS", 10_000);
    if indexed > 0 {
        let people = generate(&GeneratorSettings {
            originals: indexed,
            ..GeneratorSettings::dedup(indexed, 107)
        });
        let originals: Vec<GeneratedPerson> =
            people.iter().filter(|p| p.is_original).cloned().collect();
        let started = Instant::now();
        let mut index = MemoryDocuments::new(model.clone());
        for batch in batches(&originals, &tenant) {
            index.apply_batch(&batch).expect("the index folds");
        }
        println!(
            "memory index of {} people folded in {:?}",
            originals.len(),
            started.elapsed()
        );
        let mut lookups = Lookups {
            latencies: Vec::new(),
            candidates: 0,
            first: 0,
        };
        let position: std::collections::HashMap<u64, usize> = originals
            .iter()
            .enumerate()
            .map(|(i, p)| (p.entity, i))
            .collect();
        let asked = queries(&people, lookups_wanted);
        // The lookups back to back, timed; the candidates counted afterwards, so that
        // freeing the copies that count makes leaves nothing for the timed ones to clean up.
        for (original, record) in &asked {
            let started = Instant::now();
            let ranked = index.lookup(&tenant, &BestMatches::of(&model, record, 500, &linkage, 1));
            lookups.latencies.push(started.elapsed());
            let expected = position
                .get(&people[*original].entity)
                .map(|i| ContactId(Uuid::from_u128(0xc0_0000_0000 + *i as u128)));
            if ranked.first().map(|r| r.contact) == expected {
                lookups.first += 1;
            }
        }
        for (_, record) in &asked {
            lookups.candidates += index
                .lookup(&tenant, &Candidates::of(&model, record, 500))
                .len();
        }
        lookups.report("memory index, lookup and ranking");
    }

    let on_postgres = number("LINKAGE_BENCH_POSTGRES_INDEX", 100_000);
    if on_postgres > 0 {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let database = crm_testkit::postgres::TestDatabase::create().await;
            let documents = PostgresDocuments::connect(&database.url, 4, model.clone())
                .await
                .expect("the index's tables");
            let people = generate(&GeneratorSettings {
                originals: on_postgres,
                ..GeneratorSettings::dedup(on_postgres, 109)
            });
            let originals: Vec<GeneratedPerson> =
                people.iter().filter(|p| p.is_original).cloned().collect();
            let started = Instant::now();
            let mut checkpoint = None;
            for batch in batches(&originals, &tenant) {
                let through = batch.last().expect("events").global_position();
                documents
                    .commit(&tenant, checkpoint, &ProjectionBatch::new(batch, through))
                    .await
                    .expect("the index commits");
                checkpoint = Some(through);
            }
            println!(
                "PostgreSQL index of {} people committed in {:?}",
                originals.len(),
                started.elapsed()
            );
            let position: std::collections::HashMap<u64, usize> = originals
                .iter()
                .enumerate()
                .map(|(i, p)| (p.entity, i))
                .collect();
            let mut lookups = Lookups {
                latencies: Vec::new(),
                candidates: 0,
                first: 0,
            };
            for (original, record) in queries(&people, lookups_wanted) {
                let started = Instant::now();
                let ranked = documents
                    .lookup(&tenant, &BestMatches::of(&model, &record, 500, &linkage, 1))
                    .await
                    .expect("a lookup");
                lookups.latencies.push(started.elapsed());
                lookups.candidates += documents
                    .lookup(&tenant, &Candidates::of(&model, &record, 500))
                    .await
                    .expect("a lookup")
                    .len();
                let expected = position
                    .get(&people[original].entity)
                    .map(|i| ContactId(Uuid::from_u128(0xc0_0000_0000 + *i as u128)));
                if ranked.first().map(|r| r.contact) == expected {
                    lookups.first += 1;
                }
            }
            lookups.report("PostgreSQL index, lookup and ranking");
        });
    }
}
