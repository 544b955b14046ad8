//! The local stand-in for a presigned S3 PUT: checks the URL's signature and expiry, and the
//! request against what was signed (the content type, the length), takes the body once per key,
//! streams it into the blob store, and announces the object on the transcribe queue with the
//! same S3 notification message AWS sends. Refusals are the API's JSON errors, with the status
//! S3 would answer: 403 for a bad signature or a type or length other than the signed ones, 413
//! for a longer body (read no further than the signed length, nothing kept), 400 for a shorter
//! one, 412 for a key already uploaded (S3's `If-None-Match: *`).

use axum::body::Body as AxumBody;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::StatusCode;
use pipeline::adapters::local::{LocalBackend, ReceiveError};
use pipeline::http::{error_response, ApiError};
use pipeline::ports::{BlobStore, Queue};
use serde_json::json;
use std::collections::HashMap;

pub async fn receive(
    backend: &LocalBackend,
    parts: &http::request::Parts,
    key: &str,
    body: AxumBody,
) -> Response {
    match store(backend, parts, key, body).await {
        Ok(size) => {
            tracing::info!(key, size, "local upload stored");
            StatusCode::OK.into_response()
        }
        Err(err) => crate::gateway::from_lambda_response(error_response(&err)),
    }
}

/// What a presigned URL was signed for.
struct SignedUpload {
    content_type: String,
    content_length: u64,
    expires_at: DateTime<Utc>,
}

fn forbidden(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, code, message)
}

fn already_uploaded() -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "already_uploaded",
        "a file was already uploaded with this URL; start a new upload to send another",
    )
}

/// The URL's signed values, once its signature and expiry are checked.
fn verify(
    backend: &LocalBackend,
    parts: &http::request::Parts,
    key: &str,
) -> Result<SignedUpload, ApiError> {
    let query: HashMap<String, String> = url_query(parts.uri.query().unwrap_or(""));
    let param = |name: &str| query.get(name).cloned().unwrap_or_default();
    let expires: i64 = param("expires").parse().unwrap_or(0);
    let content_length: u64 = param("content_length").parse().unwrap_or(0);
    let content_type = param("content_type");
    backend
        .blobs
        .verify_upload_url(
            key,
            &content_type,
            content_length,
            expires,
            &param("signature"),
            Utc::now(),
        )
        .map_err(|e| forbidden("invalid_upload_url", e.to_string()))?;
    Ok(SignedUpload {
        content_type,
        content_length,
        expires_at: DateTime::from_timestamp(expires, 0).unwrap_or_default(),
    })
}

/// Refuses a request whose headers differ from what the URL was signed for.
fn check_headers(parts: &http::request::Parts, signed: &SignedUpload) -> Result<(), ApiError> {
    let sent_type = parts
        .headers
        .get(CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if sent_type.as_deref() != Some(signed.content_type.as_str()) {
        return Err(forbidden(
            "content_type_mismatch",
            format!(
                "the upload URL was signed for Content-Type `{}`; send exactly that",
                signed.content_type
            ),
        ));
    }
    if let Some(sent_length) = parts.headers.get(CONTENT_LENGTH) {
        let sent_length = sent_length
            .to_str()
            .ok()
            .and_then(|v| v.parse::<u64>().ok());
        if sent_length != Some(signed.content_length) {
            return Err(forbidden(
                "content_length_mismatch",
                format!(
                    "the upload URL was signed for a {}-byte file; send exactly that file",
                    signed.content_length
                ),
            ));
        }
    }
    Ok(())
}

async fn store(
    backend: &LocalBackend,
    parts: &http::request::Parts,
    key: &str,
    body: AxumBody,
) -> Result<u64, ApiError> {
    if parts.method != http::Method::PUT {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "upload with PUT",
        ));
    }
    let signed = verify(backend, parts, key)?;
    check_headers(parts, &signed)?;
    // A quick answer to a repeated PUT; the claim below is what makes it single-use.
    if backend.blobs.exists(key).await? {
        return Err(already_uploaded());
    }
    let stream = body
        .into_data_stream()
        .map(|chunk| chunk.map_err(std::io::Error::other));
    let received = backend
        .blobs
        .receive_upload(key, stream, signed.content_length)
        .await
        .map_err(|e| match e {
            ReceiveError::TooLong { .. } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "upload_too_large",
                e.to_string(),
            ),
            ReceiveError::TooShort { .. } | ReceiveError::Interrupted(_) => {
                ApiError::bad_request("incomplete_upload", e.to_string())
            }
            ReceiveError::Store(e) => ApiError::from(e),
        })?;
    // One PUT per key, ever (the URL's lifetime): the first to arrive whole wins, and a PUT
    // after the staged file was transcribed and removed is refused too.
    let claim = format!("local-upload:{key}");
    let now = Utc::now();
    let claimed = backend
        .services
        .once
        .insert_if_absent(
            &claim,
            "stored",
            signed.expires_at + chrono::Duration::hours(1),
            now,
        )
        .await?;
    if !claimed {
        return Err(already_uploaded());
    }
    let size = received.size;
    let stored = match received.commit_new().await {
        Ok(true) => announce(backend, key, size).await,
        Ok(false) => Err(already_uploaded()),
        Err(e) => Err(e.into()),
    };
    if let Err(e) = stored {
        // The claim goes with the failure, so the uploader may try again.
        if e.status != StatusCode::PRECONDITION_FAILED {
            let _ = backend.blobs.delete(key).await;
            let _ = backend.services.once.remove(&claim).await;
        }
        return Err(e);
    }
    Ok(size)
}

/// Sends S3's notification of the new object to the transcribe queue.
async fn announce(backend: &LocalBackend, key: &str, size: u64) -> Result<(), ApiError> {
    let notification = json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "local",
            "eventTime": Utc::now().to_rfc3339(),
            "eventName": "ObjectCreated:Put",
            "userIdentity": { "principalId": "local" },
            "requestParameters": { "sourceIPAddress": "127.0.0.1" },
            "responseElements": {},
            "s3": {
                "s3SchemaVersion": "1.0",
                "bucket": { "name": "local", "arn": "arn:aws:s3:::local" },
                "object": { "key": key, "size": size }
            }
        }]
    });
    backend
        .transcribe_queue
        .send(&notification.to_string())
        .await?;
    Ok(())
}

fn url_query(raw: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect()
}
