//! CORS for a web app on another origin, with the rules the template gives API Gateway (the
//! API's methods, `authorization` and `content-type`, ten minutes' preflight cache) and the
//! upload bucket (`PUT`, exposing `ETag`): what works against the dev server works in AWS.

use axum::http::{header, HeaderValue, Method};
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub fn layer(origin: &str) -> anyhow::Result<CorsLayer> {
    let allowed = match origin.trim() {
        "*" => AllowOrigin::any(),
        exact => AllowOrigin::exact(HeaderValue::from_str(exact.trim_end_matches('/')).map_err(
            |_| anyhow::anyhow!("CORS_ALLOWED_ORIGIN is not an origin such as https://app.example"),
        )?),
    };
    Ok(CorsLayer::new()
        .allow_origin(allowed)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::PUT,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::ETAG])
        .max_age(Duration::from_secs(600)))
}
