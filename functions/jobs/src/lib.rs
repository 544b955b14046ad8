//! `jobs`: import jobs with live progress.

use pipeline::domain::{JobId, Source};
use pipeline::http::{self, ApiError, ApiResult, Body, Request, Response, Route};
use pipeline::services::Services;
use pipeline::views::JobView;
use serde_json::json;

pub const ROUTES: &[Route] = &[
    Route::user("GET", "/jobs"),
    Route::user("GET", "/jobs/{id}"),
];

pub async fn handle(services: &Services, req: Request) -> Response<Body> {
    http::respond(route(services, &req)).await
}

async fn route(services: &Services, req: &Request) -> ApiResult {
    let segments = http::segments(req);
    match (req.method().as_str(), segments.as_slice()) {
        ("GET", ["jobs"]) => {
            let user = http::user_id(req)?;
            let source = http::query_as(req, "source", Source::parse)?;
            let jobs = services
                .jobs
                .list(&user, source, http::limit(req, 20, 100)?)
                .await?;
            let items: Vec<JobView> = jobs.iter().map(JobView::from).collect();
            http::ok(&json!({ "items": items }))
        }
        ("GET", ["jobs", id]) => {
            let user = http::user_id(req)?;
            let not_found = || ApiError::not_found(format!("no job `{id}`"));
            let id = JobId::parse(id).map_err(|_| not_found())?;
            let job = services.jobs.get(&user, &id).await?.ok_or_else(not_found)?;
            http::ok(&JobView::from(&job))
        }
        _ => Err(ApiError::no_route(req)),
    }
}
