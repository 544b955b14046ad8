//! The local stand-in for a presigned S3 PUT: checks the URL's signature and expiry, streams
//! the body into the blob store, and announces the object on the transcribe queue with the
//! same S3 notification message AWS sends.

use axum::body::Body as AxumBody;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use pipeline::adapters::local::LocalBackend;
use pipeline::http::{error_response, ApiError};
use pipeline::ports::Queue;
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
            http::StatusCode::OK.into_response()
        }
        Err(err) => crate::gateway::from_lambda_response(error_response(&err)),
    }
}

async fn store(
    backend: &LocalBackend,
    parts: &http::request::Parts,
    key: &str,
    body: AxumBody,
) -> Result<u64, ApiError> {
    if parts.method != http::Method::PUT {
        return Err(ApiError::new(
            http::StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "upload with PUT",
        ));
    }
    let query: HashMap<String, String> = url_query(parts.uri.query().unwrap_or(""));
    let param = |name: &str| query.get(name).cloned().unwrap_or_default();
    let expires: i64 = param("expires").parse().unwrap_or(0);
    let content_type = param("content_type");
    backend
        .blobs
        .verify_upload_url(
            key,
            &content_type,
            expires,
            &param("signature"),
            chrono::Utc::now(),
        )
        .map_err(|e| {
            ApiError::new(
                http::StatusCode::FORBIDDEN,
                "invalid_upload_url",
                e.to_string(),
            )
        })?;
    let stream = body
        .into_data_stream()
        .map(|chunk| chunk.map_err(std::io::Error::other));
    let size = backend.blobs.put_stream(key, stream).await?;
    let notification = json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "local",
            "eventTime": chrono::Utc::now().to_rfc3339(),
            "eventName": "ObjectCreated:Put",
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
    Ok(size)
}

fn url_query(raw: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect()
}
