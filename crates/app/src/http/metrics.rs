//! `/metrics`: Prometheus text. Requests and latencies per route, events appended through the
//! API, and, read when scraped, each served tenant's inbox and outbox and each projection's
//! checkpoint.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crm_eventstore::TenantId;
use crm_projections::sync_conflicts::WaitingCounts;
use crm_projections::{DocumentStore as _, Lag};

use super::App;
use super::routes::RouteSpec;
use crate::backend::Backend;
use crate::intake::Inbox as _;
use crate::scheduler::DeadlineStore as _;
use crate::uow::UnitOfWork as _;

/// The latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
];

#[derive(Debug, Default)]
struct RouteStats {
    by_status: BTreeMap<u16, u64>,
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    routes: Mutex<BTreeMap<(String, &'static str), RouteStats>>,
    events: AtomicU64,
}

impl Metrics {
    /// Counts one request of `spec` answered with `status` after `elapsed`.
    pub(crate) fn observe(&self, spec: &RouteSpec, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut routes = self
            .routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let stats = routes
            .entry((spec.method.to_string(), spec.path))
            .or_default();
        *stats.by_status.entry(status).or_default() += 1;
        for (bucket, bound) in stats.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        stats.count += 1;
        stats.sum += seconds;
    }

    /// Counts events appended by commands sent through the API.
    pub(crate) fn events_appended(&self, count: usize) {
        self.events.fetch_add(count as u64, Ordering::Relaxed);
    }

    /// The text of a scrape.
    pub(crate) async fn render<B: Backend>(&self, app: &App<B>) -> String {
        let mut out = String::new();
        self.render_requests(&mut out);
        let _ = writeln!(
            out,
            "# HELP crm_events_appended_total Events appended by commands sent through the API.\n# TYPE crm_events_appended_total counter\ncrm_events_appended_total {}",
            self.events.load(Ordering::Relaxed)
        );
        let now = app.service.clock().now();
        let _ = writeln!(
            out,
            "# HELP crm_inbox_depth Lead deliveries waiting in the inbox.\n# TYPE crm_inbox_depth gauge"
        );
        let mut ages = String::new();
        let mut outbox = String::new();
        let mut outbox_ages = String::new();
        let mut sync = String::new();
        let mut backlog = String::new();
        let deadlines = app.backend.deadlines();
        for tenant in app.tokens.tenants() {
            if let Ok(due) = deadlines.backlog(&tenant, now).await {
                for (kind, due) in [
                    ("response_deadline", due.response_deadlines),
                    ("ticket_escalation", due.ticket_escalations),
                    ("task_reminder", due.task_reminders),
                ] {
                    let age = due
                        .oldest
                        .map_or(0, |oldest| (now - oldest).num_seconds().max(0));
                    let _ = writeln!(
                        backlog,
                        "crm_scheduler_backlog{{tenant=\"{tenant}\",kind=\"{kind}\"}} {}\ncrm_scheduler_oldest_due_seconds{{tenant=\"{tenant}\",kind=\"{kind}\"}} {age}",
                        due.count
                    );
                }
            }
            if let Ok(health) = app.inbox.health(&tenant, now).await {
                let _ = writeln!(
                    out,
                    "crm_inbox_depth{{tenant=\"{tenant}\"}} {}",
                    health.depth
                );
                let age = health.oldest_age.map_or(0, |age| age.num_seconds());
                let _ = writeln!(
                    ages,
                    "crm_inbox_oldest_age_seconds{{tenant=\"{tenant}\"}} {age}"
                );
            }
            // The outbox's totals are its destinations' figures summed: one read for both.
            if let Ok(destinations) = app.service.work().outbox_destinations(&tenant, now).await {
                let health = crate::uow::outbox_totals(&destinations);
                let _ = writeln!(
                    outbox,
                    "crm_outbox_undelivered{{tenant=\"{tenant}\"}} {}",
                    health.undelivered
                );
                let age = health
                    .oldest_undelivered_age
                    .map_or(0, |age| age.num_seconds());
                let _ = writeln!(
                    outbox_ages,
                    "crm_outbox_oldest_age_seconds{{tenant=\"{tenant}\"}} {age}"
                );
                for health in &destinations {
                    sync_lines(&mut sync, &tenant, health);
                }
            }

            if let Ok(waiting) = app.reads.conflicts.lookup(&tenant, &WaitingCounts).await {
                for (source, count) in waiting.sources {
                    let _ = writeln!(
                        sync,
                        "crm_sync_conflicts_waiting{{tenant=\"{tenant}\",source=\"{}\"}} {count}",
                        source.replace(['"', '\\', '\n'], "_")
                    );
                }
            }
        }
        let _ = write!(
            out,
            "# HELP crm_sync_pending Messages to a connected system neither delivered nor parked; crm_sync_oldest_pending_seconds: the oldest one's wait; crm_sync_failing: pending messages whose last attempt failed; crm_sync_parked: messages the relay gave up on; crm_sync_delivery_rate: deliveries per second over the last five minutes; crm_sync_last_delivery_timestamp_seconds: the last delivery (absent before the first); crm_sync_failures: failing and parked messages by the cause of their last failure; crm_sync_conflicts_waiting: values a source proposed for fields under manual review, waiting for a person (the sync conflict read model).\n# TYPE crm_sync_pending gauge\n# TYPE crm_sync_oldest_pending_seconds gauge\n# TYPE crm_sync_failing gauge\n# TYPE crm_sync_parked gauge\n# TYPE crm_sync_delivery_rate gauge\n# TYPE crm_sync_last_delivery_timestamp_seconds gauge\n# TYPE crm_sync_failures gauge\n# TYPE crm_sync_conflicts_waiting gauge\n{sync}"
        );
        let _ = write!(
            out,
            "# HELP crm_inbox_oldest_age_seconds Age of the oldest waiting delivery.\n# TYPE crm_inbox_oldest_age_seconds gauge\n{ages}"
        );
        let _ = write!(
            out,
            "# HELP crm_outbox_undelivered Outbox messages not yet delivered.\n# TYPE crm_outbox_undelivered gauge\n{outbox}"
        );
        let _ = write!(
            out,
            "# HELP crm_outbox_oldest_age_seconds Age of the oldest undelivered message.\n# TYPE crm_outbox_oldest_age_seconds gauge\n{outbox_ages}"
        );
        let _ = write!(
            out,
            "# HELP crm_scheduler_backlog Deadlines due and not yet acted on (lead pull-backs, ticket escalations, task reminders): crm work falling behind or not running; crm_scheduler_oldest_due_seconds: how long the oldest has been due.\n# TYPE crm_scheduler_backlog gauge\n# TYPE crm_scheduler_oldest_due_seconds gauge\n{backlog}"
        );
        let _ = writeln!(
            out,
            "# HELP crm_projection_caught_up Whether the projection's last read found nothing more.\n# TYPE crm_projection_caught_up gauge"
        );
        let mut processed = String::new();
        let mut behind = String::new();
        let mut halted = String::new();
        for watch in &app.projections {
            let status = watch.status.borrow().clone();
            let labels = format!("model=\"{}\",tenant=\"{}\"", watch.model, watch.tenant);
            if let Some(lag) = lag_of(app, watch.model, &watch.tenant).await {
                let _ = writeln!(
                    behind,
                    "crm_projection_events_behind{{{labels}}} {}\ncrm_projection_lag_seconds{{{labels}}} {}",
                    lag.events_behind,
                    lag.behind.as_secs_f64()
                );
            }
            let _ = writeln!(
                out,
                "crm_projection_caught_up{{{labels}}} {}",
                u8::from(status.caught_up)
            );
            let _ = writeln!(
                processed,
                "crm_projection_processed_total{{{labels}}} {}",
                status.processed
            );
            let _ = writeln!(
                halted,
                "crm_projection_halted{{{labels}}} {}",
                u8::from(status.halted_at.is_some())
            );
        }
        let _ = write!(
            out,
            "# HELP crm_projection_halted Whether the projection is halted at an event it cannot decode (crm projections park moves it on).\n# TYPE crm_projection_halted gauge\n{halted}"
        );
        let _ = write!(
            out,
            "# HELP crm_projection_processed_total Events this process projected.\n# TYPE crm_projection_processed_total counter\n{processed}"
        );
        let _ = write!(
            out,
            "# HELP crm_projection_events_behind Committed events the projection has not processed; crm_projection_lag_seconds: how long the oldest of them has waited.\n# TYPE crm_projection_events_behind gauge\n# TYPE crm_projection_lag_seconds gauge\n{behind}"
        );
        out
    }

    fn render_requests(&self, out: &mut String) {
        let routes = self
            .routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = writeln!(
            out,
            "# HELP crm_http_requests_total Requests answered, by route and status.\n# TYPE crm_http_requests_total counter"
        );
        for ((method, path), stats) in routes.iter() {
            for (status, count) in &stats.by_status {
                let _ = writeln!(
                    out,
                    "crm_http_requests_total{{method=\"{method}\",route=\"{path}\",status=\"{status}\"}} {count}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP crm_http_request_duration_seconds Time to answer, by route.\n# TYPE crm_http_request_duration_seconds histogram"
        );
        for ((method, path), stats) in routes.iter() {
            let labels = format!("method=\"{method}\",route=\"{path}\"");
            for (count, bound) in stats.buckets.iter().zip(BUCKETS) {
                let _ = writeln!(
                    out,
                    "crm_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "crm_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\ncrm_http_request_duration_seconds_sum{{{labels}}} {}\ncrm_http_request_duration_seconds_count{{{labels}}} {}",
                stats.count, stats.sum, stats.count
            );
        }
    }
}

/// The sync monitoring lines of one destination of `tenant`.
fn sync_lines(out: &mut String, tenant: &TenantId, health: &crate::uow::DestinationHealth) {
    let labels = format!(
        "tenant=\"{tenant}\",destination=\"{}\"",
        health.destination.replace(['"', '\\', '\n'], "_")
    );
    let oldest = health
        .oldest_pending_age
        .map_or(0, |age| age.num_seconds().max(0));
    let rate = health.delivery_rate();
    let _ = writeln!(
        out,
        "crm_sync_pending{{{labels}}} {}\ncrm_sync_oldest_pending_seconds{{{labels}}} {oldest}\ncrm_sync_failing{{{labels}}} {}\ncrm_sync_parked{{{labels}}} {}\ncrm_sync_delivery_rate{{{labels}}} {rate}",
        health.pending, health.failing, health.parked
    );
    if let Some(last) = health.last_delivered_at {
        let _ = writeln!(
            out,
            "crm_sync_last_delivery_timestamp_seconds{{{labels}}} {}",
            last.timestamp()
        );
    }
    for (cause, count) in &health.failures {
        let _ = writeln!(
            out,
            "crm_sync_failures{{{labels},cause=\"{}\"}} {count}",
            cause.as_str()
        );
    }
}

/// How far the projection `model` of `tenant` is behind the history, measured against its
/// stored checkpoint (so it is right whichever process runs the projector).
async fn lag_of<B: Backend>(app: &App<B>, model: &str, tenant: &TenantId) -> Option<Lag> {
    let (backend, reads, now) = (&app.backend, &app.reads, chrono::Utc::now());
    let lag = match model {
        "customer360" => backend.lag(&*reads.customers, tenant, now).await,
        "identity_index" => backend.lag(&*reads.identity, tenant, now).await,
        "pipeline" => backend.lag(&*reads.pipeline, tenant, now).await,
        "sla" => backend.lag(&*reads.sla, tenant, now).await,
        "duplicates" => backend.lag(&*reads.duplicates, tenant, now).await,
        "account360" => backend.lag(&*reads.accounts, tenant, now).await,
        "engagements" => backend.lag(&*reads.engagements, tenant, now).await,
        "custom_fields" => backend.lag(&*reads.custom_fields, tenant, now).await,
        "sync_conflicts" => backend.lag(&*reads.conflicts, tenant, now).await,
        "external_ids" => backend.lag(&*reads.external_ids, tenant, now).await,
        _ => return None,
    };
    lag.ok()
}
