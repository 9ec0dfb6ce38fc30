//! Benchmarks of the read models (crm-projections), each against a raw baseline measured in
//! the same run where one applies. Figures and conditions go to docs/PERFORMANCE.md
//! ("Projections").
//!
//! - `fold`: the in-memory fold of all four read models, against the aggregates' own
//!   `evolve` over the same events.
//! - `memory`: memory of a live (on-demand) Customer 360 fold, small store against large.
//! - `rebuild`: blue/green rebuilds into PostgreSQL from the event store, against a raw
//!   binary COPY of the rows they produce.
//! - `lag`: asynchronous projectors while a load generator appends at a fixed rate.
//! - `queries`: Customer 360 by id and the SLA breach list at scale (p50/p99 of single
//!   timings).
//! - `accounts`: the account 360 of a group's top account, rolled up over its hierarchy,
//!   with 1,000 contacts and 10,000 activities (p50/p99 on memory, PostgreSQL, SQLite).
//! - `custom`: custom field values by record and records found by filters, at 100,000 tasks
//!   (p50/p99 on memory, PostgreSQL, SQLite).
//! - `timeline`: a ticket reply committed to the Customer 360 when the ticket holds 10,000
//!   replies against one holding ten, and timeline pages (p50/p99 on memory, PostgreSQL,
//!   SQLite).
//!
//! Sizes come from environment variables (`PROJ_BENCH_*`, defaults sized for a run of a few
//! minutes; each part's `run` lists its own, e.g. `PROJ_BENCH_REBUILD_EVENTS=1000000` and
//! `PROJ_BENCH_QUERY_CUSTOMERS=1000000` for the targets' sizes); `PROJ_BENCH_ONLY=fold,memory,...` picks parts. The PostgreSQL parts need
//! `DATABASE_URL` (`source scripts/postgres-env`); each makes a fresh database and drops it.
//!
//! Run: `cargo bench -p crm-benches --bench projections`.

#[path = "projections/accounts.rs"]
mod accounts;
#[path = "projections/custom.rs"]
mod custom;
#[path = "projections/fold.rs"]
mod fold;
#[path = "projections/history.rs"]
mod history;
#[path = "projections/lag.rs"]
mod lag;
#[path = "projections/live.rs"]
mod live;
#[path = "projections/queries.rs"]
mod queries;
#[path = "projections/rebuild.rs"]
mod rebuild;
#[path = "projections/report.rs"]
mod report;
#[path = "projections/timeline.rs"]
mod timeline;
// The event store benches' fresh-database helper; this binary uses the database part only.
#[allow(dead_code)]
#[path = "support/mod.rs"]
mod support;

use criterion::Criterion;
use peak_alloc::PeakAlloc;

/// Counts live and peak bytes, for the live-fold memory measurement.
#[global_allocator]
static ALLOCATOR: PeakAlloc = PeakAlloc;

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    report::line(&format!("machine load at start: {}", report::load()));
    if report::wanted("fold") {
        fold::run(&mut criterion);
    }
    if report::wanted("memory") {
        live::run();
    }
    if report::wanted("rebuild") {
        rebuild::run();
    }
    if report::wanted("lag") {
        lag::run();
    }
    if report::wanted("queries") {
        queries::run();
    }
    if report::wanted("accounts") {
        accounts::run();
    }
    if report::wanted("custom") {
        custom::run();
    }
    if report::wanted("timeline") {
        timeline::run();
    }
    criterion.final_summary();
}
