//! The in-memory fold of the four read models, against the domain aggregates' own `evolve`
//! over the same events (the least any fold of these events can cost).

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use criterion::{BatchSize, Criterion, Throughput};
use crm_domain::Aggregate;
use crm_domain::contact::Contact;
use crm_domain::forecast::Forecast;
use crm_domain::lead::Lead;
use crm_domain::opportunity::Opportunity;
use crm_domain::ticket::Ticket;
use crm_projections::customer360::Customer360Model;
use crm_projections::duplicates::DuplicateQueueModel;
use crm_projections::pipeline::PipelineModel;
use crm_projections::sla::SlaModel;
use crm_projections::{CrmEvent, MemoryDocuments, ProjectedEvent, ReadModel, TenantId};
use uuid::Uuid;

use crate::history::{History, sla_config};
use crate::report::{env_size, line, load, rate, verdict};

/// The aggregates' states, folded by their own `evolve`.
#[derive(Default)]
struct States {
    leads: HashMap<Uuid, Lead>,
    contacts: HashMap<Uuid, Contact>,
    deals: HashMap<Uuid, Opportunity>,
    tickets: HashMap<Uuid, Ticket>,
    forecasts: HashMap<Uuid, Forecast>,
}

fn evolve<A: Aggregate>(states: &mut HashMap<Uuid, A>, id: Uuid, event: &A::Event) {
    let state = states.entry(id).or_default();
    *state = std::mem::take(state).evolve(event);
}

/// The baseline: every event through its aggregate's `evolve`, one state per stream.
fn aggregates(events: &[ProjectedEvent]) -> States {
    let mut states = States::default();
    for event in events {
        let id = event.stream.id;
        match &event.event {
            CrmEvent::Lead(lead) => evolve(&mut states.leads, id, lead),
            CrmEvent::Contact(contact) => evolve(&mut states.contacts, id, contact),
            CrmEvent::Opportunity(deal) => evolve(&mut states.deals, id, deal),
            CrmEvent::Ticket(ticket) => evolve(&mut states.tickets, id, ticket),
            CrmEvent::Forecast(forecast) => evolve(&mut states.forecasts, id, forecast),
            // The generated histories hold none of these.
            CrmEvent::Account(_)
            | CrmEvent::AccountHierarchy(_)
            | CrmEvent::Activity(_)
            | CrmEvent::Task(_) => {}
        }
    }
    states
}

fn fold<M: ReadModel>(model: M, events: &[ProjectedEvent]) -> MemoryDocuments<M> {
    MemoryDocuments::fold(model, events).expect("the models apply every generated event")
}

/// All four read models, each folding every event (as four projectors would).
fn all_four(events: &[ProjectedEvent]) -> usize {
    let customers = fold(Customer360Model, events);
    let sla = fold(SlaModel::new(sla_config()), events);
    let pipeline = fold(PipelineModel, events);
    let duplicates = fold(DuplicateQueueModel, events);
    let tenant = TenantId::new("acme").expect("a valid tenant");
    customers.len(&tenant) + sla.len(&tenant) + pipeline.len(&tenant) + duplicates.len(&tenant)
}

/// Criterion benches of the fold, and one timed pass per variant for the report.
pub(crate) fn run(criterion: &mut Criterion) {
    let customers = env_size("PROJ_BENCH_FOLD_CUSTOMERS", 10_000);
    let started = Instant::now();
    let history = History::generate(0, customers);
    let generated = started.elapsed();
    let tenant = TenantId::new("acme").expect("a valid tenant");
    let events = history.projected(&tenant, 1);
    line(&format!(
        "fold: {} customers, {} events ({} appends, {} commands refused of {}), generated in {:.1} s; load {}",
        customers,
        events.len(),
        history.appends.len(),
        history.refused,
        history.refused + history.accepted,
        generated.as_secs_f64(),
        load(),
    ));

    let mut group = criterion.benchmark_group("projections/fold");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("aggregates_evolve_baseline", |b| {
        b.iter(|| black_box(aggregates(&events)));
    });
    group.bench_function("all_four_models", |b| {
        b.iter(|| black_box(all_four(&events)));
    });
    group.bench_function("customer_360", |b| {
        b.iter(|| black_box(fold(Customer360Model, &events)));
    });
    group.bench_function("sla", |b| {
        b.iter_batched(
            || SlaModel::new(sla_config()),
            |model| black_box(fold(model, &events)),
            BatchSize::PerIteration,
        );
    });
    group.bench_function("pipeline", |b| {
        b.iter(|| black_box(fold(PipelineModel, &events)));
    });
    group.bench_function("duplicates", |b| {
        b.iter(|| black_box(fold(DuplicateQueueModel, &events)));
    });
    group.finish();

    // One timed pass of each, for the report (best of three, to step around other builds).
    let best = |work: &dyn Fn() -> usize| {
        (0..3)
            .map(|_| {
                let started = Instant::now();
                black_box(work());
                started.elapsed()
            })
            .min()
            .unwrap_or_default()
    };
    let baseline = best(&|| aggregates(&events).leads.len());
    let four = best(&|| all_four(&events));
    let four_rate = rate(events.len(), four);
    line(&format!(
        "fold: all four models {:.0} events/s ({:.3} s), aggregates' evolve baseline {:.0} events/s ({:.3} s), ratio {:.2}; target >= 1,000,000 events/s: {}; load {}",
        four_rate,
        four.as_secs_f64(),
        rate(events.len(), baseline),
        baseline.as_secs_f64(),
        four.as_secs_f64() / baseline.as_secs_f64(),
        verdict(four_rate >= 1_000_000.0),
        load(),
    ));
    for (name, elapsed) in [
        (
            "customer_360",
            best(&|| fold(Customer360Model, &events).len(&tenant)),
        ),
        (
            "sla",
            best(&|| fold(SlaModel::new(sla_config()), &events).len(&tenant)),
        ),
        (
            "pipeline",
            best(&|| fold(PipelineModel, &events).len(&tenant)),
        ),
        (
            "duplicates",
            best(&|| fold(DuplicateQueueModel, &events).len(&tenant)),
        ),
    ] {
        line(&format!(
            "fold: {name} alone {:.0} events/s ({:.3} s)",
            rate(events.len(), elapsed),
            elapsed.as_secs_f64()
        ));
    }
}
