//! `uploads`: start an upload (type, size and quota checks, then a presigned PUT), follow its
//! transcription, and retry it when it failed.

use chrono::{DateTime, Utc};
use lambda_http::http::StatusCode;
use pipeline::connectors::upload::accepted_upload_type;
use pipeline::domain::{Sharing, Tenant, Upload, UploadId, UploadStatus};
use pipeline::http::{self, ApiError, ApiResult, Body, Request, Response, Route};
use pipeline::pipeline::upload_import::{
    quota_exhausted, quota_message, retry_refusal, retry_upload, staged_key, UPLOAD_URL_LIFETIME,
};
use pipeline::services::Services;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const ROUTES: &[Route] = &[
    Route::user("GET", "/uploads"),
    Route::user("POST", "/uploads"),
    Route::user("GET", "/uploads/{id}"),
    Route::user("POST", "/uploads/{id}/retry"),
];

/// Longest file name accepted.
const MAX_FILENAME_CHARS: usize = 255;
/// Longest declared content type accepted (RFC 6838 caps a type and a subtype at 127
/// characters each; real ones are far shorter).
const MAX_CONTENT_TYPE_CHARS: usize = 127;

pub async fn handle(services: &Services, req: Request) -> Response<Body> {
    http::respond(route(services, &req)).await
}

async fn route(services: &Services, req: &Request) -> ApiResult {
    match (req.method().as_str(), http::segments(req).as_slice()) {
        ("GET", ["uploads"]) => {
            let owner = http::tenant(req, services)?;
            let uploads = services
                .uploads
                .list(&owner, http::limit(req, 20, 100)?)
                .await?;
            let items: Vec<UploadView> = uploads.iter().map(UploadView::from).collect();
            http::ok(&json!({ "items": items }))
        }
        ("POST", ["uploads"]) => {
            start(
                services,
                &http::tenant(req, services)?,
                http::json_body(req)?,
            )
            .await
        }
        ("GET", ["uploads", id]) => {
            let upload = find(services, &http::tenant(req, services)?, id).await?;
            http::ok(&UploadView::from(&upload))
        }
        ("POST", ["uploads", id, "retry"]) => {
            retry(services, &http::tenant(req, services)?, id).await
        }
        _ => Err(ApiError::no_route(req)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartRequest {
    filename: String,
    content_type: String,
    size_bytes: u64,
    /// Who reads the recording besides its owner (default: the workspace in a team
    /// workspace, nobody in a personal one).
    #[serde(default)]
    sharing: Option<Sharing>,
}

/// Checks the file's name, type, size and the workspace's quota, records a pending upload,
/// and answers where to PUT the file.
async fn start(services: &Services, owner: &Tenant, request: StartRequest) -> ApiResult {
    let filename = request.filename.trim();
    if filename.is_empty()
        || filename.chars().count() > MAX_FILENAME_CHARS
        || filename.chars().any(char::is_control)
    {
        return Err(ApiError::bad_request(
            "invalid_filename",
            format!(
                "filename must be 1 to {MAX_FILENAME_CHARS} characters without control characters"
            ),
        ));
    }
    // The type is signed into the upload URL and sent back as a header: printable ASCII only.
    // A browser that does not know a file's type sends none, which stands for bytes.
    let content_type = match request.content_type.trim() {
        "" => "application/octet-stream",
        declared => declared,
    };
    if content_type.len() > MAX_CONTENT_TYPE_CHARS
        || !content_type.bytes().all(|b| (b' '..=b'~').contains(&b))
    {
        return Err(ApiError::bad_request(
            "invalid_content_type",
            format!(
                "content_type must be at most {MAX_CONTENT_TYPE_CHARS} printable ASCII \
                 characters, such as `audio/mpeg`"
            ),
        ));
    }
    accepted_upload_type(filename, content_type).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_media_type",
            e.to_string(),
        )
    })?;
    let max = services.config.max_upload_bytes;
    if request.size_bytes == 0 {
        return Err(ApiError::bad_request("empty_file", "the file is empty"));
    }
    if request.size_bytes > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "file_too_large",
            format!(
                "the file is {} bytes; the largest upload accepted is {max} bytes ({:.0} MB)",
                request.size_bytes,
                max as f64 / 1e6
            ),
        ));
    }
    if let Some(resets_at) = quota_exhausted(services, &owner.workspace).await? {
        return Ok(quota_exceeded(services.config.imports_per_month, resets_at));
    }

    let id = UploadId::new();
    let object_key = staged_key(owner, &id, filename);
    let presigned = services
        .blobs
        .presign_put(
            &object_key,
            content_type,
            request.size_bytes,
            UPLOAD_URL_LIFETIME,
        )
        .await?;
    let now = services.clock.now();
    let mut upload = Upload::pending(
        id,
        owner.clone(),
        filename.to_owned(),
        content_type.to_owned(),
        request.size_bytes,
        object_key,
        now,
    );
    if let Some(sharing) = request.sharing {
        upload.sharing = sharing;
    }
    services.uploads.put(&upload).await?;
    Ok(http::json(
        StatusCode::CREATED,
        &json!({
            "upload_id": upload.id.as_str(),
            "upload_url": presigned.url,
            "method": presigned.method,
            "headers": presigned.headers,
            "expires_at": presigned.expires_at,
        }),
    ))
}

/// 429 with the usual error body, plus when the quota resets.
fn quota_exceeded(limit: u64, resets_at: DateTime<Utc>) -> Response<Body> {
    http::json(
        StatusCode::TOO_MANY_REQUESTS,
        &json!({"error": {
            "code": "quota_exceeded",
            "message": quota_message(limit, resets_at),
            "resets_at": resets_at,
        }}),
    )
}

async fn find(services: &Services, owner: &Tenant, raw_id: &str) -> Result<Upload, ApiError> {
    let not_found = || ApiError::not_found(format!("no upload `{raw_id}`"));
    let id = UploadId::parse(raw_id).map_err(|_| not_found())?;
    services
        .uploads
        .get(owner, &id)
        .await?
        .ok_or_else(not_found)
}

/// Another round of attempts at an upload that failed, or that is stuck (no progress long past
/// when it was due).
async fn retry(services: &Services, owner: &Tenant, raw_id: &str) -> ApiResult {
    let upload = find(services, owner, raw_id).await?;
    if let Some(reason) = retry_refusal(&upload, services.clock.now()) {
        return Err(ApiError::conflict(
            "not_retryable",
            format!(
                "only a failed or stuck upload can be retried; this one is {}: {reason}",
                status_name(upload.status)
            ),
        ));
    }
    let queued = retry_upload(services, upload).await.map_err(|e| {
        tracing::error!(error = format!("{e:#}"), "upload retry not queued");
        ApiError::unavailable("the retry could not be queued; try again")
    })?;
    Ok(http::json(StatusCode::ACCEPTED, &UploadView::from(&queued)))
}

fn status_name(status: UploadStatus) -> &'static str {
    match status {
        UploadStatus::Pending => "pending",
        UploadStatus::Uploaded => "uploaded",
        UploadStatus::Transcribing => "transcribing",
        UploadStatus::Completed => "completed",
        UploadStatus::Failed => "failed",
        UploadStatus::Duplicate => "duplicate",
    }
}

#[derive(Serialize)]
struct ChunkProgress {
    chunks_done: u32,
    chunks_total: u32,
}

/// An upload as `GET /uploads/{id}` shows it.
#[derive(Serialize)]
struct UploadView<'a> {
    id: &'a str,
    filename: &'a str,
    status: UploadStatus,
    sharing: Sharing,
    progress: ChunkProgress,
    recording_id: Option<&'a str>,
    /// Why it failed, or why the last attempt did not finish while another is due.
    error: Option<&'a str>,
    /// The attempt running or due, from 1 (0 before the file arrives); a retry starts again.
    attempt: u32,
    /// When the next attempt runs, while one is scheduled.
    next_attempt_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl<'a> From<&'a Upload> for UploadView<'a> {
    fn from(upload: &'a Upload) -> Self {
        UploadView {
            id: upload.id.as_str(),
            filename: &upload.filename,
            status: upload.status,
            sharing: upload.sharing,
            progress: ChunkProgress {
                chunks_done: upload.chunks_done,
                chunks_total: upload.chunks_total,
            },
            recording_id: upload.recording_id.as_ref().map(|r| r.as_str()),
            error: upload.error.as_deref(),
            attempt: upload.attempt.number,
            next_attempt_at: upload.next_attempt_at,
            created_at: upload.created_at,
            updated_at: upload.updated_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::request::LambdaRequest;
    use serde_json::Value;

    async fn call(backend: &pipeline::testing::TestBackend, event: LambdaRequest) -> (u16, Value) {
        let response = handle(&backend.services, Request::from(event)).await;
        let body = serde_json::from_slice(response.body().as_ref()).unwrap();
        (response.status().as_u16(), body)
    }

    fn sample_event() -> Value {
        serde_json::from_str(include_str!("../../../events/uploads.json")).unwrap()
    }

    fn event(value: Value) -> LambdaRequest {
        serde_json::from_value(value).unwrap()
    }

    #[tokio::test]
    async fn the_sample_event_starts_a_pending_upload_with_a_put_url() {
        let backend = pipeline::testing::local_backend().await;
        let (status, body) = call(&backend, event(sample_event())).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["method"], "PUT");
        assert_eq!(body["headers"]["content-type"], "audio/mpeg");
        let id = UploadId::parse(body["upload_id"].as_str().unwrap()).unwrap();
        let url = body["upload_url"].as_str().unwrap();
        assert!(
            url.contains(&format!(
                "uploads/personal_3Aalice/alice/{id}/weekly-call.mp3"
            )),
            "{url}"
        );

        let stored = backend
            .services
            .uploads
            .get(&pipeline::testing::member("alice"), &id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (stored.status, stored.filename.as_str(), stored.size_bytes),
            (UploadStatus::Pending, "weekly-call.mp3", 1_048_576)
        );
        let expires: DateTime<Utc> = serde_json::from_value(body["expires_at"].clone()).unwrap();
        let lifetime = expires - Utc::now();
        assert!(
            lifetime > chrono::Duration::minutes(14) && lifetime <= chrono::Duration::minutes(15),
            "{lifetime}"
        );
    }

    #[tokio::test]
    async fn a_failed_upload_is_queued_again_and_others_are_refused() {
        let backend = pipeline::testing::local_backend().await;
        let (_, started) = call(&backend, event(sample_event())).await;
        let id = started["upload_id"].as_str().unwrap().to_owned();
        let mut retry = sample_event();
        retry["rawPath"] = json!(format!("/uploads/{id}/retry"));
        retry["requestContext"]["http"]["path"] = retry["rawPath"].clone();
        retry["body"] = Value::Null;

        let (status, body) = call(&backend, event(retry.clone())).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (409, Some("not_retryable")),
            "{body}"
        );

        let alice = pipeline::testing::member("alice");
        let upload_id = UploadId::parse(&id).unwrap();
        let mut upload = backend
            .services
            .uploads
            .get(&alice, &upload_id)
            .await
            .unwrap()
            .unwrap();
        upload.status = UploadStatus::Failed;
        upload.error = Some("the transcription API rejected the request".into());
        backend.services.uploads.put(&upload).await.unwrap();

        let (status, body) = call(&backend, event(retry)).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(
            (body["status"].as_str(), &body["error"]),
            (Some("uploaded"), &Value::Null)
        );
        let queued = backend
            .services
            .transcribe_queue
            .receive(10, std::time::Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(queued.len(), 1);
        assert!(queued[0].body.contains(&id), "{}", queued[0].body);
    }
}
