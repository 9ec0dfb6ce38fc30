//! The application layer's latency targets, measured as a load generator (percentiles need
//! every sample, which criterion's estimates do not give):
//!
//! - `idempotent_retry`: a retry of a completed command (same key, same request) answers with
//!   the first result; target p99 under 1 ms. 200 leads are received under keys, then each key
//!   is retried `APP_BENCH_RETRIES` times in all (default 20,000), round robin, on the
//!   PostgreSQL unit of work, from one task; the retry reads the idempotency record and the
//!   events it names.
//!
//! Run: `source scripts/postgres-env && cargo bench -p crm-benches --bench app`.
//! Figures: docs/PERFORMANCE.md, "The command service".

// Shared with the store benches; this one uses part of it.
#[allow(dead_code)]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crm_app::{CommandMeta, CommandService, PostgresUnitOfWork, SystemClock};
use crm_domain::lead::{Lead, LeadCommand, LeadSource};
use crm_domain::{Actor, LeadId};
use uuid::Uuid;

fn receive(lead: LeadId) -> LeadCommand {
    LeadCommand::Receive {
        lead_id: lead,
        source: LeadSource {
            system: "web-form".into(),
            external_event_id: lead.0.to_string(),
        },
        raw_payload: serde_json::json!({ "email": "ada@example.com", "country": "GB" }),
        requested_at: chrono::Utc::now(),
    }
}

fn main() {
    let retries: usize = std::env::var("APP_BENCH_RETRIES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(20_000);
    let runtime = support::runtime();
    runtime.block_on(async {
        let database = support::BenchDatabase::create("app_retry").await;
        let store = database.store(16).await;
        let work = PostgresUnitOfWork::connect(store)
            .await
            .expect("the application's migrations apply");
        let service = Arc::new(CommandService::new(work, Arc::new(SystemClock)));
        let actor = Actor::Integration {
            source: "web-form".into(),
        };
        let mut requests = Vec::new();
        for n in 0..200 {
            let lead = LeadId(Uuid::now_v7());
            let command = receive(lead);
            let meta = CommandMeta::by(actor.clone()).with_idempotency_key(format!("retry-{n}"));
            service
                .execute::<Lead>(&support::tenant(), lead.0, command.clone(), &meta)
                .await
                .expect("the first request commits");
            requests.push((lead, command, meta));
        }
        let mut samples = Vec::with_capacity(retries);
        for i in 0..retries {
            let (lead, command, meta) = &requests[i % requests.len()];
            let started = Instant::now();
            let done = service
                .execute::<Lead>(&support::tenant(), lead.0, command.clone(), meta)
                .await
                .expect("the retry answers");
            samples.push(started.elapsed());
            assert!(done.replayed);
        }
        samples.sort();
        let show = |percent: f64| {
            let at: Duration = support::percentile(&samples, percent);
            format!("{:.3} ms", at.as_secs_f64() * 1000.0)
        };
        let p99 = support::percentile(&samples, 99.0);
        println!(
            "RESULT idempotent_retry ({retries} retries): p50 {}, p90 {}, p99 {}, max {}",
            show(50.0),
            show(90.0),
            show(99.0),
            show(100.0)
        );
        println!(
            "RATIO idempotent_retry p99 {:.3} ms, target < 1 ms: {}",
            p99.as_secs_f64() * 1000.0,
            if p99 < Duration::from_millis(1) {
                "MET"
            } else {
                "MISS"
            }
        );
        database.drop_now().await;
    });
}
