//! API Gateway (HTTP API) glue: identity from the JWT authorizer, JSON in and out, one error
//! type mapped to `{"error": {"code", "message"}}` and a status in one place, and each
//! request's id on its log lines, in `x-request-id` and in its error body.

use crate::config::IdentityClaims;
use crate::domain::{InvalidValue, Role, Tenant, UserId, WorkspaceId};
use lambda_http::http::{header, Method, StatusCode};
use lambda_http::request::RequestContext;
pub use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use tracing::Instrument;

/// Largest JSON request body accepted (webhooks have their own, larger limit).
pub const MAX_JSON_BODY: usize = 256 * 1024;

/// An error a client sees: status, a stable snake_case code, and a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// No route of this function matches the method and path.
    pub fn no_route(req: &Request) -> Self {
        Self::not_found(format!(
            "there is no route {} {}",
            req.method(),
            req.uri().path()
        ))
    }
}

/// Faults of ours: the whole chain goes to the log, the client gets a generic message.
impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        if let Some(cursor) = err.downcast_ref::<crate::ports::InvalidCursor>() {
            return Self::bad_request("invalid_cursor", cursor.to_string());
        }
        tracing::error!(error = format!("{err:#}"), "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "something went wrong on our side; please try again",
        )
    }
}

impl From<InvalidValue> for ApiError {
    fn from(err: InvalidValue) -> Self {
        Self::bad_request("invalid_parameter", err.to_string())
    }
}

/// A provider failure as the client sees it: a dead credential is the user's to fix (409), a
/// provider outage is temporary (503), a request that cannot be made is the client's (400),
/// anything else is the provider's answer (502).
impl From<crate::connectors::ConnectorError> for ApiError {
    fn from(error: crate::connectors::ConnectorError) -> Self {
        use crate::connectors::ConnectorError;
        match error {
            ConnectorError::NeedsReauth(reason) => Self::conflict("needs_reauth", reason),
            ConnectorError::RateLimited { provider, .. }
            | ConnectorError::Unavailable { provider, .. } => Self::unavailable(format!(
                "{provider} is not answering right now; try again in a minute"
            )),
            ConnectorError::InvalidInput(reason) => Self::bad_request("invalid_request", reason),
            ConnectorError::Permanent(reason) => {
                Self::new(StatusCode::BAD_GATEWAY, "provider_error", reason)
            }
        }
    }
}

pub type ApiResult = Result<Response<Body>, ApiError>;

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    json_text(status, body)
}

/// A response whose body is JSON already serialized (a document prepared at build time).
pub fn json_text(status: StatusCode, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::Text(body))
        .unwrap_or_default()
}

pub fn ok<T: Serialize>(value: &T) -> ApiResult {
    Ok(json(StatusCode::OK, value))
}

pub fn error_response(err: &ApiError) -> Response<Body> {
    json(
        err.status,
        &ErrorBody {
            error: ErrorDetail {
                code: err.code,
                message: &err.message,
            },
        },
    )
}

/// `response` with one more header; a value a header cannot carry is left out (and logged).
pub fn with_header(
    mut response: Response<Body>,
    name: &'static str,
    value: &str,
) -> Response<Body> {
    match header::HeaderValue::from_str(value) {
        Ok(value) => {
            response.headers_mut().append(name, value);
        }
        Err(_) => tracing::error!(header = name, "a response header value was not valid"),
    }
    response
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_owned())
}

/// A 302 to `location`.
pub fn redirect(location: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, location)
        .body(Body::Empty)
        .unwrap_or_default()
}

/// The response header that gives the caller the request's id, to quote when asking for help.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// API Gateway's id of the request (the dev server gives each request one the same way); a
/// new one when the event carries none.
pub fn request_id(req: &Request) -> String {
    let id = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    };
    id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// An error body (`{"error": {...}}`) with `request_id` added to the error; `None` for any
/// other body.
pub fn error_body_with_request_id(body: &[u8], id: &str) -> Option<String> {
    let mut value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = value.get_mut("error")?.as_object_mut()?;
    error.insert("request_id".into(), id.into());
    serde_json::to_string(&value).ok()
}

/// Runs an HTTP function for `req` inside a `request` span carrying the request id, so every
/// log line it writes names the request, and answers with the id in `x-request-id` and, on
/// an error, in the body.
pub async fn traced<F, Fut>(req: Request, handler: F) -> Response<Body>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    let id = request_id(&req);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path()
    );
    let mut response = handler(req).instrument(span).await;
    if response.status().is_client_error() || response.status().is_server_error() {
        if let Some(body) = error_body_with_request_id(response.body().as_ref(), &id) {
            *response.body_mut() = Body::Text(body);
        }
    }
    with_header(response, REQUEST_ID_HEADER, &id)
}

/// Runs a handler body and turns its error into a response: no client mistake reaches the
/// runtime as `Err`.
pub async fn respond(handler: impl Future<Output = ApiResult>) -> Response<Body> {
    handler.await.unwrap_or_else(|err| error_response(&err))
}

/// Who is calling: a member of a workspace, with their role there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant: Tenant,
    pub role: Role,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// The claims the JWT authorizer (or the dev server) put in the request context.
fn claim<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .and_then(|jwt| jwt.claims.get(name))
            .map(String::as_str),
        _ => None,
    }
}

/// The caller: user = the `sub` claim; workspace = the claim `claims.workspace` names, or the
/// user's personal workspace when the token has none; role = `admin` when the claim
/// `claims.role` names says so (`admin`, or a namespaced `org:admin`), else member. Every user
/// administers their personal workspace.
pub fn caller(req: &Request, claims: &IdentityClaims) -> Result<Caller, ApiError> {
    let sub = claim(req, "sub")
        .ok_or_else(|| ApiError::unauthorized("sign in: this route needs a bearer token"))?;
    let user = UserId::parse(sub)
        .map_err(|_| ApiError::unauthorized("the token's subject is not a valid user id"))?;
    let workspace = claim(req, &claims.workspace)
        .map(str::trim)
        .filter(|w| !w.is_empty());
    let Some(workspace) = workspace else {
        return Ok(Caller {
            tenant: Tenant::personal(user),
            role: Role::Admin,
        });
    };
    // A personal workspace is reached by having no workspace claim, never by naming it.
    let workspace = WorkspaceId::parse(workspace)
        .ok()
        .filter(|w| !w.as_str().starts_with(crate::domain::PERSONAL_PREFIX))
        .ok_or_else(|| {
            ApiError::unauthorized("the token's workspace is not a valid workspace id")
        })?;
    let admin = claim(req, &claims.role).is_some_and(|role| {
        let role = role.trim();
        role.eq_ignore_ascii_case("admin")
            || role
                .rsplit_once(':')
                .is_some_and(|(_, r)| r.eq_ignore_ascii_case("admin"))
    });
    Ok(Caller {
        tenant: Tenant::new(workspace, user),
        role: if admin { Role::Admin } else { Role::Member },
    })
}

/// The calling member (`caller` without the role), as `services` are configured to read it.
pub fn tenant(req: &Request, services: &crate::services::Services) -> Result<Tenant, ApiError> {
    caller(req, &services.config.identity).map(|c| c.tenant)
}

/// Path segments after the leading slash (`/recordings/abc` -> `["recordings", "abc"]`).
pub fn segments(req: &Request) -> Vec<&str> {
    req.uri()
        .path()
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect()
}

pub fn method(req: &Request) -> &Method {
    req.method()
}

/// The first value of a query parameter, if present and non-empty.
pub fn query(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref()
        .and_then(|q| q.first(name).map(str::to_owned))
        .filter(|v| !v.is_empty())
}

/// A query parameter parsed by `parse`; a bad value is a 400 naming the parameter.
pub fn query_as<T, E: std::fmt::Display>(
    req: &Request,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Option<T>, ApiError> {
    query(req, name)
        .map(|raw| {
            parse(&raw).map_err(|e| {
                ApiError::bad_request(
                    "invalid_parameter",
                    format!("query parameter `{name}`: {e}"),
                )
            })
        })
        .transpose()
}

/// The backend's cursor carried by the `cursor` parameter, when this API handed it out for
/// the listing `scope`; anything else is a 400 `invalid_cursor`. The cursor key (derived from
/// the sealing key) is only loaded when there is a cursor to open.
pub async fn page_cursor(
    req: &Request,
    services: &crate::services::Services,
    scope: &str,
) -> Result<Option<String>, ApiError> {
    let Some(cursor) = query(req, "cursor") else {
        return Ok(None);
    };
    let signer = &services.secrets().await?.cursors;
    signer
        .open(scope, &cursor)
        .map(Some)
        .map_err(|e| ApiError::bad_request("invalid_cursor", e.to_string()))
}

/// The cursor handed out for the next page of the listing `scope`, when there is one; the
/// cursor key is only loaded then.
pub async fn next_cursor(
    services: &crate::services::Services,
    scope: &str,
    position: Option<String>,
) -> Result<Option<String>, ApiError> {
    match position {
        None => Ok(None),
        Some(raw) => Ok(Some(services.secrets().await?.cursors.sign(scope, &raw))),
    }
}

/// A page size from `limit`: 1..=`max`, `default` when absent.
pub fn limit(req: &Request, default: usize, max: usize) -> Result<usize, ApiError> {
    let value = query_as(req, "limit", |raw| {
        raw.parse::<usize>()
            .map_err(|_| format!("`{raw}` is not a whole number"))
    })?;
    match value {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(
            "invalid_parameter",
            format!("query parameter `limit`: {n} is not between 1 and {max}"),
        )),
    }
}

pub fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    }
}

/// The JSON body as `T`: 413 past `MAX_JSON_BODY`, 400 with serde's reason otherwise.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    let bytes = body_bytes(req);
    if bytes.len() > MAX_JSON_BODY {
        return Err(ApiError::payload_too_large(format!(
            "the request body is over {} KiB",
            MAX_JSON_BODY / 1024
        )));
    }
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_json",
            "the request needs a JSON body",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request("invalid_json", format!("the JSON body is not valid: {e}"))
    })
}

/// A route a function serves, for the dev server's routing and the template's consistency test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// Path pattern with `{name}` segments, as in the SAM template (`/recordings/{id}`).
    pub path: &'static str,
    /// Served without a user token (webhooks, OAuth callback, health).
    pub public: bool,
}

impl Route {
    pub const fn user(method: &'static str, path: &'static str) -> Self {
        Route {
            method,
            path,
            public: false,
        }
    }

    pub const fn public(method: &'static str, path: &'static str) -> Self {
        Route {
            method,
            path,
            public: true,
        }
    }

    /// Whether `method` and `path` fall on this route.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if !self.method.eq_ignore_ascii_case(method) {
            return false;
        }
        let pattern: Vec<&str> = self.path.trim_matches('/').split('/').collect();
        let actual: Vec<&str> = path.trim_matches('/').split('/').collect();
        pattern.len() == actual.len()
            && pattern
                .iter()
                .zip(&actual)
                .all(|(p, a)| (p.starts_with('{') && !a.is_empty()) || p == a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample `GET /sources` event with `claims` from the authorizer.
    fn with_claims(claims: serde_json::Value) -> Request {
        let mut event: serde_json::Value =
            serde_json::from_str(include_str!("../../events/sources.json")).unwrap();
        event["requestContext"]["authorizer"]["jwt"]["claims"] = claims;
        crate::testing::api_request(&event.to_string())
    }

    #[test]
    fn the_caller_is_a_member_of_the_claimed_workspace_or_of_their_own() {
        let claims = IdentityClaims {
            workspace: "org_id".into(),
            role: "org_role".into(),
        };
        let caller = |claims_json| caller(&with_claims(claims_json), &claims);
        let alone = caller(serde_json::json!({"sub": "alice"})).unwrap();
        assert_eq!(alone.tenant, crate::testing::member("alice"));
        assert!(
            alone.is_admin(),
            "everyone administers their personal workspace"
        );
        let admin =
            caller(serde_json::json!({"sub": "ann", "org_id": "acme", "org_role": "org:admin"}));
        let admin = admin.unwrap();
        assert_eq!(admin.tenant, crate::testing::teammate("acme", "ann"));
        assert!(admin.is_admin());
        for role in [
            None,
            Some("member"),
            Some("administrator"),
            Some("org:member"),
        ] {
            let mut claims_json = serde_json::json!({"sub": "ben", "org_id": "acme"});
            if let Some(role) = role {
                claims_json["org_role"] = role.into();
            }
            assert!(!caller(claims_json).unwrap().is_admin(), "{role:?}");
        }
        // A token cannot name someone's personal workspace, nor an id that is no id.
        for workspace in ["personal:alice", "two words", &"w".repeat(300)] {
            let refused = caller(serde_json::json!({"sub": "mallory", "org_id": workspace}));
            assert_eq!(
                refused.unwrap_err().status,
                StatusCode::UNAUTHORIZED,
                "{workspace}"
            );
        }
        // Other claim names, when configured.
        let custom = IdentityClaims {
            workspace: "https://callsync.test/team".into(),
            role: "https://callsync.test/role".into(),
        };
        let named = super::caller(
            &with_claims(serde_json::json!({
                "sub": "ann", "https://callsync.test/team": "acme", "https://callsync.test/role": "admin"
            })),
            &custom,
        )
        .unwrap();
        assert_eq!(
            (named.tenant.workspace.as_str(), named.is_admin()),
            ("acme", true)
        );
    }

    #[test]
    fn routes_match_literal_and_parameter_segments() {
        let route = Route::user("GET", "/recordings/{id}");
        assert!(route.matches("GET", "/recordings/rec_1"));
        assert!(!route.matches("GET", "/recordings"));
        assert!(!route.matches("POST", "/recordings/rec_1"));
        assert!(!route.matches("GET", "/recordings/rec_1/extra"));
        assert!(Route::user("GET", "/recordings").matches("get", "/recordings/"));
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = ApiError::from(anyhow::anyhow!("table callsync-prod missing"));
        assert_eq!(err.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!err.message.contains("callsync-prod"));
    }

    /// Log output kept for a test to read.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_requests_id_is_on_its_log_lines_its_answer_and_its_error() {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_span_list(true)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let mut event: serde_json::Value =
            serde_json::from_str(include_str!("../../events/sources.json")).unwrap();
        event["requestContext"]["requestId"] = "req-7f3a".into();
        let req = crate::testing::api_request(&event.to_string());

        let response = traced(req, |_| async {
            tracing::info!("looking for the source");
            tracing::warn!("not there");
            error_response(&ApiError::not_found("no source `x`"))
        })
        .await;
        assert_eq!(response.headers()[REQUEST_ID_HEADER], "req-7f3a");
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["error"]["request_id"], "req-7f3a");
        assert_eq!(body["error"]["code"], "not_found");

        let output = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = output
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{output}");
        for line in &lines {
            assert_eq!(line["spans"][0]["request_id"], "req-7f3a", "{line}");
        }

        // A success carries the id too, and leaves the body alone.
        let ok = traced(crate::testing::api_request(&event.to_string()), |_| async {
            json(StatusCode::OK, &serde_json::json!({"items": []}))
        })
        .await;
        assert_eq!(ok.headers()[REQUEST_ID_HEADER], "req-7f3a");
        assert_eq!(ok.body().as_ref(), br#"{"items":[]}"#);
    }
}
