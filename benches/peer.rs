//! Our store side by side with the best-known Rust peer, cqrs-es 0.5 with postgres-es 0.5
//! (`CqrsFramework` + `PersistedEventStore` + `PostgresEventRepository`, sqlx underneath), and a
//! raw-SQL baseline, on the same PostgreSQL, in one run. Figures: docs/PERFORMANCE.md, "Side by
//! side with cqrs-es/postgres-es".
//!
//! Workloads (criterion groups; the command line's filter picks them):
//!
//! 1. `new_aggregates_1_task`, `new_aggregates_4_tasks`: one command on each of many new leads
//!    (read the stream, decode, decide, append), from one task and from four;
//! 2. `hot_aggregate_100_to_200`: leads going from 100 to 200 events, ours without and with
//!    the stream cache;
//! 3. `prior_100_events`: one command on each of many leads with exactly 100 prior events;
//! 4. `single_append_16_clients`: single-event appends from 16 clients;
//! 5. `batch_append_100`: 100-event batch appends;
//! 6. `read_all`: every event (1,000,000 by default) read in pages of 1,000.
//!
//! The command workloads run `crm_domain::lead::Lead` on both sides (`peer/lead.rs`); each side
//! has its own fresh database per workload (ours also holds the raw baseline's `raw_events`),
//! both reached over the same Unix socket without TLS, with 16 pooled connections each.
//!
//! Run: `source scripts/postgres-env && cargo bench -p crm-benches --bench peer`
//! (about half an hour at the default sizes, most of it workload 6). Environment:
//! `PEER_BENCH_READ_ALL_EVENTS` (default 1000000), `PEER_BENCH_ROUNDS` (alternating rounds of
//! all arms per workload, default 6), `PEER_BENCH_PEER_PING=off` (the peer's pool without sqlx's
//! default ping before each acquire). A smoke run:
//! `PEER_BENCH_READ_ALL_EVENTS=20000 PEER_BENCH_ROUNDS=2 cargo bench -p crm-benches --bench peer
//! -- --warm-up-time 0.2 --measurement-time 0.5`.
//!
//! Criterion prints each arm's time per iteration and throughput; the `RESULT` line of each
//! workload gives the arms' median rates over alternating rounds, and the `RATIO` lines
//! ours ÷ peer and ours ÷ raw (median of the per-round ratios, with their spread) against the
//! targets.

#[path = "peer/activity.rs"]
mod activity;
#[path = "peer/appends.rs"]
mod appends;
#[path = "peer/commands.rs"]
mod commands;
#[path = "peer/compare.rs"]
mod compare;
#[path = "peer/databases.rs"]
mod databases;
#[path = "peer/lead.rs"]
mod lead;
#[path = "peer/read_all.rs"]
mod read_all;
// Shared with the store benches; this one uses part of it.
#[allow(dead_code)]
mod support;

use std::time::Duration;

use criterion::Criterion;

/// A number from the environment, or `default`.
fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).map_or(default, |value| {
        value
            .replace(['_', ','], "")
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, not {value:?}"))
    })
}

fn main() {
    let runtime = support::runtime();
    let rounds = setting("PEER_BENCH_ROUNDS", 6);
    let read_all_events = setting("PEER_BENCH_READ_ALL_EVENTS", 1_000_000);
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    if support::selected("new_aggregates_1_task") {
        commands::new_aggregates(&mut criterion, &runtime, "new_aggregates_1_task", 1, rounds);
    }
    if support::selected("new_aggregates_4_tasks") {
        commands::new_aggregates(
            &mut criterion,
            &runtime,
            "new_aggregates_4_tasks",
            4,
            rounds,
        );
    }
    if support::selected("hot_aggregate_100_to_200") {
        commands::hot_aggregate(&mut criterion, &runtime, rounds);
    }
    if support::selected("prior_100_events") {
        commands::prior_100_events(&mut criterion, &runtime, rounds);
    }
    if support::selected("single_append_16_clients") {
        appends::single_append_16_clients(&mut criterion, &runtime, rounds);
    }
    if support::selected("batch_append_100") {
        appends::batch_append_100(&mut criterion, &runtime, rounds);
    }
    if support::selected("read_all") {
        read_all::read_all(&mut criterion, &runtime, rounds, read_all_events);
    }
    criterion.final_summary();
}
