//! Failed imports: every item of the member's recent jobs and uploads that failed and has not
//! been imported since, and retrying all of them at once.

use super::{retry_items, syncable};
use chrono::{DateTime, Utc};
use lambda_http::http::StatusCode;
use pipeline::domain::UploadStatus;
use pipeline::domain::{ExternalId, JobId, JobKind, Source, SyncJob, Tenant, UploadId};
use pipeline::http::{self, ApiError, ApiResult};
use pipeline::pipeline::upload_import::{retry_refusal, retry_upload};
use pipeline::services::Services;
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};

/// How many of the member's newest jobs are searched for failures: each webhook delivery and
/// each hourly tick is a job, so a failure must stay in sight behind many newer ones.
const RECENT_JOBS: usize = 1000;

/// One failed item as the list shows it.
#[derive(Debug, Serialize)]
struct FailedImport {
    kind: &'static str,
    job_id: JobId,
    upload_id: Option<UploadId>,
    source: Source,
    external_id: ExternalId,
    title: String,
    reason: String,
    failed_at: DateTime<Utc>,
}

/// The newest failure of each item among the member's recent jobs, without those stored since
/// (a later sync, webhook or retry imported them) and uploads no longer failed; newest first.
async fn failed_imports(
    services: &Services,
    owner: &Tenant,
) -> Result<Vec<FailedImport>, ApiError> {
    let mut jobs = services.jobs.list(owner, None, RECENT_JOBS).await?;
    jobs.sort_by_key(|job| std::cmp::Reverse(job.created_at));
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for job in jobs.iter().filter(|job| job.status.is_finished()) {
        for item in &job.failed_items {
            if !seen.insert((job.source, item.external_id.clone())) {
                continue;
            }
            let failed = if job.kind == JobKind::Upload {
                upload_failed(services, owner, &item.external_id).await?
            } else {
                services
                    .recordings
                    .find_by_key(owner, job.source, &item.external_id)
                    .await?
                    .is_none()
            };
            if failed {
                out.push(listed(job, item));
            }
        }
    }
    Ok(out)
}

async fn upload_failed(
    services: &Services,
    owner: &Tenant,
    id: &ExternalId,
) -> Result<bool, ApiError> {
    let Ok(id) = UploadId::parse(id.as_str()) else {
        return Ok(false);
    };
    let upload = services.uploads.get(owner, &id).await?;
    Ok(upload.is_some_and(|u| u.status == UploadStatus::Failed))
}

fn listed(job: &SyncJob, item: &pipeline::domain::FailedItem) -> FailedImport {
    let upload = job.kind == JobKind::Upload;
    FailedImport {
        kind: if upload { "upload" } else { "sync" },
        job_id: job.id.clone(),
        upload_id: upload
            .then(|| UploadId::parse(item.external_id.as_str()).ok())
            .flatten(),
        source: job.source,
        external_id: item.external_id.clone(),
        title: item
            .title
            .clone()
            .unwrap_or_else(|| format!("{} meeting {}", job.source, item.external_id)),
        reason: item.reason.clone(),
        failed_at: job.finished_at.unwrap_or(job.created_at),
    }
}

/// `GET /failed-imports`.
pub async fn list(services: &Services, owner: &Tenant) -> ApiResult {
    let items = failed_imports(services, owner).await?;
    http::ok(&json!({ "items": items }))
}

/// `POST /failed-imports/retry`: one retry job per job with failed items (naming the job it
/// retries), and another round for each failed upload. A source that cannot sync now (paused,
/// disconnected, needing reconnection) is left out and named with the reason.
pub async fn retry_all(services: &Services, owner: &Tenant) -> ApiResult {
    let items = failed_imports(services, owner).await?;
    if items.is_empty() {
        return Err(ApiError::conflict(
            "nothing_to_retry",
            "no import has failed; there is nothing to retry",
        ));
    }
    let mut by_job: BTreeMap<JobId, Vec<ExternalId>> = BTreeMap::new();
    let mut upload_ids = Vec::new();
    for item in items {
        match item.upload_id {
            Some(id) => {
                let Some(upload) = services.uploads.get(owner, &id).await? else {
                    continue;
                };
                if retry_refusal(&upload, services.clock.now()).is_none() {
                    upload_ids.push(retry_upload(services, upload).await?.id);
                }
            }
            None => by_job
                .entry(item.job_id)
                .or_default()
                .push(item.external_id),
        }
    }
    let mut job_ids = Vec::new();
    let mut not_retried = Vec::new();
    for (job_id, chosen) in by_job {
        let Some(job) = services.jobs.get(owner, &job_id).await? else {
            continue;
        };
        if let Err(refusal) = syncable(services, owner, job.source).await {
            let named = json!({ "source": job.source, "reason": refusal.message });
            if !not_retried.contains(&named) {
                not_retried.push(named);
            }
            continue;
        }
        job_ids.push(retry_items(services, owner, &job, chosen).await?.id);
    }
    Ok(http::json(
        StatusCode::ACCEPTED,
        &json!({ "job_ids": job_ids, "upload_ids": upload_ids, "not_retried": not_retried }),
    ))
}
