//! `jobs`: start syncs, watch their progress, retry what failed.

mod failed;

use chrono::{DateTime, Utc};
use lambda_http::http::StatusCode;
use pipeline::domain::{
    ActivityAction, Connection, ConnectionStatus, ExternalId, JobId, JobKind, Source, SyncJob,
    SyncScope, Tenant,
};
use pipeline::http::{self, ApiError, ApiResult, Body, Request, Response, Route};
use pipeline::pipeline::activity;
use pipeline::pipeline::jobs::{start_job, start_sync_job};
use pipeline::services::Services;
use pipeline::views::JobView;
use serde::Deserialize;
use serde_json::json;

pub const ROUTES: &[Route] = &[
    Route::user("GET", "/jobs"),
    Route::user("GET", "/jobs/{id}"),
    Route::user("POST", "/sync"),
    Route::user("POST", "/jobs/{id}/retry"),
    Route::user("GET", "/failed-imports"),
    Route::user("POST", "/failed-imports/retry"),
];

/// Most meetings one sync request may select.
const MAX_SELECTED: usize = 500;

pub async fn handle(services: &Services, req: Request) -> Response<Body> {
    http::respond(route(services, &req)).await
}

async fn route(services: &Services, req: &Request) -> ApiResult {
    let segments = http::segments(req);
    match (req.method().as_str(), segments.as_slice()) {
        ("GET", ["jobs"]) => {
            let owner = http::tenant(req, services)?;
            let source = http::query_as(req, "source", Source::parse)?;
            let jobs = services
                .jobs
                .list(&owner, source, http::limit(req, 20, 100)?)
                .await?;
            let items: Vec<JobView> = jobs.iter().map(JobView::from).collect();
            http::ok(&json!({ "items": items }))
        }
        ("GET", ["jobs", id]) => http::ok(&JobView::from(
            &find_job(services, &http::tenant(req, services)?, id).await?,
        )),
        ("POST", ["sync"]) => {
            start_sync(
                services,
                &http::tenant(req, services)?,
                http::json_body(req)?,
            )
            .await
        }
        ("POST", ["jobs", id, "retry"]) => {
            retry(services, &http::tenant(req, services)?, id, req).await
        }
        ("GET", ["failed-imports"]) => failed::list(services, &http::tenant(req, services)?).await,
        ("POST", ["failed-imports", "retry"]) => {
            failed::retry_all(services, &http::tenant(req, services)?).await
        }
        _ => Err(ApiError::no_route(req)),
    }
}

async fn find_job(services: &Services, owner: &Tenant, raw_id: &str) -> Result<SyncJob, ApiError> {
    let not_found = || ApiError::not_found(format!("no job `{raw_id}`"));
    let id = JobId::parse(raw_id).map_err(|_| not_found())?;
    services.jobs.get(owner, &id).await?.ok_or_else(not_found)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncRequest {
    source: String,
    #[serde(default)]
    external_ids: Option<Vec<String>>,
    created_after: Option<DateTime<Utc>>,
    created_before: Option<DateTime<Utc>>,
}

fn accepted(job: &SyncJob) -> ApiResult {
    Ok(http::json(
        StatusCode::ACCEPTED,
        &json!({ "job_id": job.id.as_str() }),
    ))
}

/// The member's connection to `source`, ready to sync; otherwise a 409 saying what to do.
async fn syncable(
    services: &Services,
    owner: &Tenant,
    source: Source,
) -> Result<Connection, ApiError> {
    let connection = services.connections.find(owner, source).await?;
    let status = connection.as_ref().map(|c| c.status);
    match status {
        None | Some(ConnectionStatus::Disconnected) => Err(ApiError::conflict(
            "not_connected",
            format!("connect {source} first"),
        )),
        Some(ConnectionStatus::Paused) => Err(ApiError::conflict(
            "paused",
            format!("syncing {source} is paused: resume it first"),
        )),
        Some(ConnectionStatus::NeedsReauth) => Err(ApiError::conflict(
            "needs_reauth",
            format!("{source} needs to be connected again"),
        )),
        Some(ConnectionStatus::Active | ConnectionStatus::Error) => {
            Ok(connection.expect("a status is a connection's"))
        }
    }
}

async fn start_sync(services: &Services, owner: &Tenant, request: SyncRequest) -> ApiResult {
    let source = Source::parse(&request.source)?;
    if !source.is_connectable() {
        return Err(ApiError::bad_request(
            "unsupported_source",
            format!("{source} is not synced: it needs no connection"),
        ));
    }
    let external_ids = request.external_ids.unwrap_or_default();
    if external_ids.len() > MAX_SELECTED {
        return Err(ApiError::bad_request(
            "too_many_ids",
            format!("select at most {MAX_SELECTED} meetings per sync"),
        ));
    }
    let external_ids = external_ids
        .iter()
        .map(|id| ExternalId::parse(id))
        .collect::<Result<Vec<_>, _>>()?;
    if let (Some(after), Some(before)) = (request.created_after, request.created_before) {
        if after >= before {
            return Err(ApiError::bad_request(
                "invalid_window",
                "created_after must be before created_before",
            ));
        }
    }
    syncable(services, owner, source).await?;
    let scope = SyncScope {
        external_ids,
        created_after: request.created_after,
        created_before: request.created_before,
    };
    let job = start_sync_job(services, owner, source, JobKind::Manual, scope)
        .await
        .map_err(|_| ApiError::unavailable("the sync could not be queued; try again"))?;
    accepted(&job)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RetryRequest {
    /// Only these of the job's failed items (default: all of them).
    #[serde(default)]
    external_ids: Option<Vec<String>>,
}

/// Queues a new job for the failed items of a finished one, and for those it left for later
/// because of the monthly limit; the new job names the one it retries (`retry_of`).
async fn retry(services: &Services, owner: &Tenant, raw_id: &str, req: &Request) -> ApiResult {
    let job = find_job(services, owner, raw_id).await?;
    let request: RetryRequest = if http::body_bytes(req).is_empty() {
        RetryRequest::default()
    } else {
        http::json_body(req)?
    };
    if !job.status.is_finished() {
        return Err(ApiError::conflict(
            "job_running",
            "the job is still running; retry it once it has finished",
        ));
    }
    let retryable: Vec<ExternalId> = job
        .failed_items
        .iter()
        .chain(&job.not_imported_items)
        .map(|item| item.external_id.clone())
        .collect();
    let chosen = match request.external_ids {
        None => retryable,
        Some(ids) => {
            let mut chosen = Vec::with_capacity(ids.len());
            for raw in ids {
                let id = ExternalId::parse(&raw)?;
                if !retryable.contains(&id) {
                    return Err(ApiError::bad_request(
                        "not_failed",
                        format!("`{raw}` is not a failed item of this job"),
                    ));
                }
                chosen.push(id);
            }
            chosen
        }
    };
    if chosen.is_empty() {
        return Err(ApiError::conflict(
            "nothing_to_retry",
            "the job has no failed items",
        ));
    }
    accepted(&retry_items(services, owner, &job, chosen).await?)
}

/// Queues a job for `chosen` failed items of `job`, naming the job it retries, and says so in
/// the activity log.
async fn retry_items(
    services: &Services,
    owner: &Tenant,
    job: &SyncJob,
    chosen: Vec<ExternalId>,
) -> Result<SyncJob, ApiError> {
    let connection = syncable(services, owner, job.source).await?;
    let count = chosen.len();
    let scope = SyncScope {
        external_ids: chosen,
        created_after: job.scope.created_after,
        created_before: job.scope.created_before,
    };
    let retry = start_job(services, owner, job.source, JobKind::Manual, scope, |new| {
        new.retry_of = Some(job.id.clone())
    })
    .await
    .map_err(|_| ApiError::unavailable("the retry could not be queued; try again"))?;
    let meetings = if count == 1 { "meeting" } else { "meetings" };
    let message = format!("retrying {count} {meetings} of job {}", job.id);
    activity::record(
        services,
        &connection,
        ActivityAction::SyncRetried,
        None,
        message,
    )
    .await;
    Ok(retry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::request::LambdaRequest;

    #[tokio::test]
    async fn the_sample_event_lists_no_jobs_for_a_new_user() {
        let event: LambdaRequest =
            serde_json::from_str(include_str!("../../../events/jobs.json")).unwrap();
        let backend = pipeline::testing::local_backend().await;
        let response = handle(&backend.services, Request::from(event)).await;
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["items"], serde_json::json!([]));
    }
}
