//! Turns a plain HTTP request into the API Gateway v2 event a function receives in AWS, and
//! the function's response back into HTTP.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Response};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// The id the dev server gave a request, as API Gateway's `requestContext.requestId`.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// `response` with the request's id in `x-request-id` and, when it is a JSON error, in its
/// body, as the functions answer in AWS.
pub async fn with_request_id(
    response: axum::response::Response,
    id: &str,
) -> axum::response::Response {
    let (mut parts, body) = response.into_parts();
    if let Ok(value) = http::HeaderValue::from_str(id) {
        parts
            .headers
            .insert(pipeline::http::REQUEST_ID_HEADER, value);
    }
    let is_json = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(parts.status.is_client_error() || parts.status.is_server_error()) || !is_json {
        return axum::response::Response::from_parts(parts, body);
    }
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let body = match pipeline::http::error_body_with_request_id(&bytes, id) {
        Some(tagged) => {
            parts.headers.remove(http::header::CONTENT_LENGTH);
            axum::body::Body::from(tagged)
        }
        None => axum::body::Body::from(bytes),
    };
    axum::response::Response::from_parts(parts, body)
}

/// The request as API Gateway v2 (payload format 2.0) would deliver it, with the
/// authorizer's JWT claims when the route needs a user.
pub fn to_lambda_request(
    parts: &http::request::Parts,
    body: Bytes,
    route_key: &str,
    claims: Option<HashMap<String, String>>,
) -> anyhow::Result<lambda_http::Request> {
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        if let Ok(v) = value.to_str() {
            // API Gateway joins repeated headers with commas.
            let joined = match headers.get(name.as_str()).and_then(Value::as_str) {
                Some(prev) => format!("{prev},{v}"),
                None => v.to_owned(),
            };
            headers.insert(name.as_str().to_owned(), Value::String(joined));
        }
    }
    let (body, is_base64) = match std::str::from_utf8(&body) {
        _ if body.is_empty() => (Value::Null, false),
        Ok(text) => (Value::String(text.to_owned()), false),
        Err(_) => (Value::String(B64.encode(&body)), true),
    };
    let mut context = json!({
        "routeKey": route_key,
        "stage": "$default",
        "requestId": parts
            .extensions
            .get::<RequestId>()
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), |id| id.0.clone()),
        "timeEpoch": chrono::Utc::now().timestamp_millis(),
        "http": {
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": parts.headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or(""),
        },
    });
    if let Some(claims) = claims {
        context["authorizer"] = json!({ "jwt": { "claims": claims, "scopes": null } });
    }
    let event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": parts.uri.path(),
        "rawQueryString": parts.uri.query().unwrap_or(""),
        "headers": headers,
        "requestContext": context,
        "body": body,
        "isBase64Encoded": is_base64,
    });
    let request: LambdaRequest = serde_json::from_value(event)?;
    Ok(request.into())
}

pub fn from_lambda_response(response: Response<Body>) -> axum::response::Response {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(data) => Bytes::from(data),
        _ => Bytes::new(),
    };
    axum::response::Response::from_parts(parts, axum::body::Body::from(bytes))
}
