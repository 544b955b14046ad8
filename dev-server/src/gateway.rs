//! Turns a plain HTTP request into the API Gateway v2 event a function receives in AWS, and
//! the function's response back into HTTP.

use aws_lambda_events::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription,
    ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext,
};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Response};
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
/// authorizer's JWT claims when the route needs a user. The event is built as the struct
/// `lambda_http` reads, not as JSON it would print and parse again: for a large body that
/// round trip cost more than the function's work.
pub fn to_lambda_request(
    parts: &http::request::Parts,
    body: Bytes,
    route_key: &str,
    claims: Option<HashMap<String, String>>,
) -> anyhow::Result<lambda_http::Request> {
    let mut event = ApiGatewayV2httpRequest::default();
    event.version = Some("2.0".into());
    event.route_key = Some(route_key.to_owned());
    event.raw_path = Some(parts.uri.path().to_owned());
    event.raw_query_string = Some(parts.uri.query().unwrap_or("").to_owned());
    event.headers = joined_headers(&parts.headers)?;
    (event.body, event.is_base64_encoded) = match String::from_utf8(Vec::from(body)) {
        Ok(text) if text.is_empty() => (None, false),
        Ok(text) => (Some(text), false),
        Err(not_text) => (Some(B64.encode(not_text.as_bytes())), true),
    };
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.route_key = Some(route_key.to_owned());
    context.stage = Some("$default".into());
    context.request_id = Some(
        parts
            .extensions
            .get::<RequestId>()
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), |id| id.0.clone()),
    );
    context.time_epoch = chrono::Utc::now().timestamp_millis();
    context.http.method = parts.method.clone();
    context.http.path = Some(parts.uri.path().to_owned());
    context.http.protocol = Some("HTTP/1.1".into());
    context.http.source_ip = Some("127.0.0.1".into());
    context.http.user_agent = Some(
        parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
    );
    if let Some(claims) = claims {
        let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
        jwt.claims = claims;
        let mut authorizer = ApiGatewayRequestAuthorizer::default();
        authorizer.jwt = Some(jwt);
        context.authorizer = Some(authorizer);
    }
    event.request_context = context;
    Ok(LambdaRequest::ApiGatewayV2(event).into())
}

/// The headers as API Gateway passes them: each name once, repeated values joined with
/// commas; values that are not text are left out.
fn joined_headers(headers: &http::HeaderMap) -> anyhow::Result<http::HeaderMap> {
    let mut joined = http::HeaderMap::new();
    for name in headers.keys() {
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if !values.is_empty() {
            joined.insert(name.clone(), values.join(",").parse()?);
        }
    }
    Ok(joined)
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
