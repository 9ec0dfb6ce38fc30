//! Reading tasks and activities: `GET /v1/tasks/{id}`, `GET /v1/tasks` (a task list by owner,
//! status, due time or record), `GET /v1/activities/{id}` and `GET /v1/activities?record=`
//! (a record's activities, newest first, paged by cursor), from the engagements read model.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use crm_domain::task::TaskStatus;
use crm_domain::{ActivityId, TaskId, UserId};
use crm_projections::DocumentStore as _;
use crm_projections::engagements::{
    ActivityCursor, ActivityLookup, RecordActivities, TaskCursor, TaskList, TaskLookup,
};
use serde::Deserialize;
use uuid::Uuid;

use super::problem::{Problem, ProblemKind};
use super::reads::{Id, Params, answered, cut_page, found_or_not_found, limit, page_params};
use super::{App, Principal};
use crate::backend::Backend;

type AppState<B> = State<Arc<App<B>>>;
type Caller = Extension<Principal>;

/// `GET /v1/tasks/{id}`.
pub(crate) async fn task<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    id: Result<Id, Problem>,
) -> Response {
    let Id(id) = match id {
        Ok(id) => id,
        Err(problem) => return problem.into_response(),
    };
    let query = TaskLookup { task: TaskId(id) };
    let answer = app
        .reads
        .engagements
        .lookup(&principal.tenant, &query)
        .await;
    found_or_not_found(answer, "task", id)
}

/// The task list's query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaskParams {
    owner: Option<Uuid>,
    status: Option<TaskStatus>,
    due_before: Option<DateTime<Utc>>,
    record: Option<Uuid>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// A page of tasks.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TaskPage {
    /// The tasks, by due time or in id order.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<crm_projections::engagements::TaskDoc>,
    /// The cursor of the next page, absent on the last one.
    pub next: Option<String>,
}

/// `GET /v1/tasks`.
pub(crate) async fn tasks<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    params: Result<Params<TaskParams>, Problem>,
) -> Response {
    let Params(params) = match params {
        Ok(params) => params,
        Err(problem) => return problem.into_response(),
    };
    let (limit, after) =
        match page_params(params.limit, params.cursor.as_deref(), TaskCursor::parse) {
            Ok(page) => page,
            Err(problem) => return problem.into_response(),
        };
    let query = TaskList {
        owner: params.owner.map(UserId),
        status: params.status,
        due_before: params.due_before,
        record: params.record,
        limit: limit.saturating_add(1),
        after,
    };
    answered(
        app.reads
            .engagements
            .scan(&principal.tenant, &query)
            .await
            .map(|items| {
                let (items, next) =
                    cut_page(items, limit, |last| TaskCursor::after(last).to_text());
                TaskPage { items, next }
            }),
    )
}

/// `GET /v1/activities/{id}`.
pub(crate) async fn activity<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    id: Result<Id, Problem>,
) -> Response {
    let Id(id) = match id {
        Ok(id) => id,
        Err(problem) => return problem.into_response(),
    };
    let query = ActivityLookup {
        activity: ActivityId(id),
    };
    let answer = app
        .reads
        .engagements
        .lookup(&principal.tenant, &query)
        .await;
    found_or_not_found(answer, "activity", id)
}

/// A record's activities' query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActivityParams {
    record: Uuid,
    cursor: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/activities?record=`.
pub(crate) async fn activities<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    params: Result<Params<ActivityParams>, Problem>,
) -> Response {
    let Params(params) = match params {
        Ok(params) => params,
        Err(problem) => return problem.into_response(),
    };
    let limit = match limit(params.limit, 50, 500) {
        Ok(limit) => limit,
        Err(problem) => return problem.into_response(),
    };
    let after = match params.cursor {
        Some(cursor) if !is_cursor(&cursor) => {
            return Problem::new(
                ProblemKind::InvalidParameter,
                "cursor is not one this API gave",
            )
            .with_code("cursor")
            .into_response();
        }
        cursor => cursor.map(ActivityCursor),
    };
    let query = RecordActivities {
        record: params.record,
        after,
        limit,
    };
    answered(app.reads.engagements.scan(&principal.tenant, &query).await)
}

/// Whether `text` has the shape of a cursor this API hands out (20 digits, `:`, 32 hex
/// digits); anything else is refused rather than compared.
fn is_cursor(text: &str) -> bool {
    let Some((countdown, id)) = text.split_once(':') else {
        return false;
    };
    countdown.len() == 20
        && countdown.bytes().all(|byte| byte.is_ascii_digit())
        && id.len() == 32
        && id.bytes().all(|byte| byte.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::is_cursor;

    #[test]
    fn only_cursors_of_the_api_s_shape_are_taken() {
        assert!(is_cursor(
            "07446059447095192807:0190a0b0c0d07e0f8a0b0c0d0e0f1011"
        ));
        for bad in [
            "",
            "1:2",
            "x7446059447095192807:0190a0b0c0d07e0f8a0b0c0d0e0f1011",
        ] {
            assert!(!is_cursor(bad), "{bad}");
        }
    }
}
