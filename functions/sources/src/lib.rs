//! `sources`: what a dashboard shows about each source a member can import from, the
//! switches that manage a connection (pause, resume, sharing, disconnect, API key), what
//! admins see of the team's sources, the activity log, who the caller is (`/me`), the
//! workspace's monthly usage, and the health check.

mod team;

use pipeline::crypto::SecretString;
use pipeline::domain::{
    ActivityAction, Connection, ConnectionStatus, Sharing, Source, SyncJob, Tenant, UserId,
};
use pipeline::http::{self, ApiError, ApiResult, Body, Caller, Request, Response, Route};
use pipeline::pipeline::activity;
use pipeline::pipeline::connect::{connect, disconnect, NewCredential};
use pipeline::pipeline::connections::update_connection;
use pipeline::pipeline::deliveries::release_held_deliveries;
use pipeline::pipeline::persist::usage;
use pipeline::ports::{DeliveryRecord, DeliveryStatus};
use pipeline::providers::Providers;
use pipeline::services::Services;
use pipeline::views::JobView;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const ROUTES: &[Route] = &[
    Route::public("GET", "/health"),
    Route::user("GET", "/sources"),
    Route::user("PATCH", "/sources/{source}"),
    Route::user("DELETE", "/sources/{source}"),
    Route::user("POST", "/sources/{source}/api-key"),
    Route::user("GET", "/sources/{source}/deliveries"),
    Route::user("GET", "/activity"),
    Route::user("GET", "/me"),
    Route::user("GET", "/usage"),
];

pub async fn handle(services: &Services, req: Request) -> Response<Body> {
    http::respond(route(services, &req)).await
}

async fn route(services: &Services, req: &Request) -> ApiResult {
    match (req.method().as_str(), http::segments(req).as_slice()) {
        ("GET", ["health"]) => http::ok(&json!({"status": "ok"})),
        ("GET", ["sources"]) => {
            let caller = http::caller(req, &services.config.identity)?;
            match http::query(req, "scope").as_deref() {
                None | Some("mine") => list_sources(services, &caller.tenant).await,
                Some("workspace") => team::list_workspace_sources(services, &caller).await,
                Some(_) => Err(ApiError::bad_request(
                    "invalid_parameter",
                    "query parameter `scope` must be `mine` or `workspace`",
                )),
            }
        }
        ("PATCH", ["sources", source]) => {
            let caller = http::caller(req, &services.config.identity)?;
            let owner = team::managed_member(&caller, req)?;
            update(services, &caller, &owner, source, http::json_body(req)?).await
        }
        ("DELETE", ["sources", source]) => {
            remove(services, &http::tenant(req, services)?, source).await
        }
        ("POST", ["sources", source, "api-key"]) => {
            add_api_key(
                services,
                &http::tenant(req, services)?,
                source,
                http::json_body(req)?,
            )
            .await
        }
        ("GET", ["sources", source, "deliveries"]) => {
            list_deliveries(services, &http::tenant(req, services)?, source, req).await
        }
        ("GET", ["me"]) => {
            let caller = http::caller(req, &services.config.identity)?;
            http::ok(&json!({
                "user_id": caller.tenant.user,
                "workspace_id": (!caller.tenant.is_personal()).then_some(&caller.tenant.workspace),
                "role": caller.role,
                "personal": caller.tenant.is_personal(),
            }))
        }
        ("GET", ["usage"]) => {
            let owner = http::tenant(req, services)?;
            http::ok(&usage(services, &owner.workspace).await?)
        }
        ("GET", ["activity"]) => {
            let caller = http::caller(req, &services.config.identity)?;
            team::list_activity(services, &caller, req).await
        }
        _ => Err(ApiError::no_route(req)),
    }
}

#[derive(Serialize)]
struct SourceItem<'a> {
    source: Source,
    connection_id: Option<&'a str>,
    /// A connection's status; `not_connected` when the user has none, `available` for
    /// uploads, which need no connection.
    status: &'static str,
    active: bool,
    /// Who reads what it imports: `workspace` or `private` (for uploads, the default of a
    /// new upload, which can choose).
    sharing: Sharing,
    account_email: Option<&'a str>,
    last_sync_at: Option<chrono::DateTime<chrono::Utc>>,
    last_error: Option<&'a str>,
    recording_count: u64,
    current_job: Option<JobView<'a>>,
    /// How it can be connected here: `oauth` (when its app is configured), `api_key`.
    connect_methods: Vec<&'static str>,
}

fn connect_methods(providers: &Providers, source: Source) -> Vec<&'static str> {
    let Some(connector) = providers.connector(source) else {
        return Vec::new();
    };
    let oauth = connector.oauth().is_some().then_some("oauth");
    let api_key = connector.accepts_api_key().then_some("api_key");
    oauth.into_iter().chain(api_key).collect()
}

fn source_item<'a>(
    providers: &Providers,
    owner: &Tenant,
    source: Source,
    connection: Option<&'a Connection>,
    recording_count: u64,
    jobs: &'a [SyncJob],
) -> SourceItem<'a> {
    let current_job = jobs
        .iter()
        .find(|j| j.source == source && !j.status.is_finished())
        .map(JobView::from);
    let (status, active) = match (source, connection) {
        (Source::Upload, _) => ("available", true),
        (_, None) => ("not_connected", false),
        (_, Some(c)) => (c.status.as_str(), c.status == ConnectionStatus::Active),
    };
    SourceItem {
        source,
        connection_id: connection.map(|c| c.id.as_str()),
        status,
        active,
        sharing: connection.map_or(Sharing::default_for(owner), |c| c.sharing),
        account_email: connection.and_then(|c| c.account_email.as_deref()),
        last_sync_at: connection.and_then(|c| c.last_sync_at),
        last_error: connection.and_then(|c| c.last_error.as_deref()),
        recording_count,
        current_job,
        connect_methods: connect_methods(providers, source),
    }
}

async fn list_sources(services: &Services, owner: &Tenant) -> ApiResult {
    // The reads are independent: one round trip's wait instead of four in a row.
    let (connections, jobs, providers, counts) = tokio::try_join!(
        services.connections.list_for_owner(owner),
        services.jobs.list(owner, None, 50),
        services.providers(),
        services.recordings.count_by_source(owner),
    )?;
    let items: Vec<_> = Source::ALL
        .into_iter()
        .map(|source| {
            source_item(
                providers,
                owner,
                source,
                connections.iter().find(|c| c.source == source),
                counts.get(&source).copied().unwrap_or(0),
                &jobs,
            )
        })
        .collect();
    http::ok(&json!({ "items": items }))
}

/// One source's item, as `GET /sources` shows it.
async fn one_source(services: &Services, connection: &Connection) -> ApiResult {
    let owner = connection.owner();
    let jobs = services
        .jobs
        .list(&owner, Some(connection.source), 10)
        .await?;
    let count = services.recordings.count(&owner, connection.source).await?;
    http::ok(&source_item(
        services.providers().await?,
        &owner,
        connection.source,
        Some(connection),
        count,
        &jobs,
    ))
}

/// The member's connection to a connectable source named in the path.
async fn connection(
    services: &Services,
    owner: &Tenant,
    raw_source: &str,
) -> Result<Connection, ApiError> {
    let source = Source::parse(raw_source).map_err(|e| ApiError::not_found(e.to_string()))?;
    if !source.is_connectable() {
        return Err(ApiError::bad_request(
            "not_connectable",
            format!("{source} needs no connection"),
        ));
    }
    services
        .connections
        .find(owner, source)
        .await?
        .filter(|c| c.status != ConnectionStatus::Disconnected)
        .ok_or_else(|| ApiError::not_found(format!("{source} is not connected")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    active: Option<bool>,
    sharing: Option<Sharing>,
}

/// Changes a connection's settings: `active` pauses or resumes syncing (its owner, or a
/// workspace admin for any member); `sharing` says who reads its recordings (its owner only).
/// A connection that needs its owner (`needs_reauth`) can only be fixed by connecting again.
async fn update(
    services: &Services,
    caller: &Caller,
    owner: &Tenant,
    source: &str,
    body: UpdateBody,
) -> ApiResult {
    if body.active.is_none() && body.sharing.is_none() {
        return Err(ApiError::bad_request(
            "invalid_body",
            "send `active` (true or false), `sharing` (`workspace` or `private`), or both",
        ));
    }
    let for_someone_else = *owner != caller.tenant;
    if for_someone_else && body.sharing.is_some() {
        return Err(ApiError::forbidden(
            "not_owner",
            "only the member who connected a source chooses who sees its recordings",
        ));
    }
    let mut current = connection(services, owner, source).await?;
    let actor = for_someone_else.then_some(&caller.tenant.user);
    if let Some(sharing) = body.sharing {
        current = set_sharing(services, current, sharing).await?;
    }
    if let Some(active) = body.active {
        current = set_active(services, current, active, actor).await?;
    }
    one_source(services, &current).await
}

/// Pauses or resumes syncing.
async fn set_active(
    services: &Services,
    current: Connection,
    active: bool,
    actor: Option<&UserId>,
) -> Result<Connection, ApiError> {
    if current.status == ConnectionStatus::NeedsReauth {
        return Err(ApiError::conflict(
            "needs_reauth",
            format!("connect {} again before resuming it", current.source),
        ));
    }
    let now = services.clock.now();
    let updated = update_connection(services.connections.as_ref(), &current.id, |c| {
        c.status = match (active, c.status) {
            (false, ConnectionStatus::Active | ConnectionStatus::Error) => ConnectionStatus::Paused,
            (true, ConnectionStatus::Paused) => ConnectionStatus::Active,
            (_, unchanged) => unchanged,
        };
        c.updated_at = now;
    })
    .await?;
    if updated.status != current.status {
        let by = actor.map(|a| format!(" by {a}")).unwrap_or_default();
        let (action, what) = match active {
            false => (ActivityAction::Paused, "paused"),
            true => (ActivityAction::Resumed, "resumed"),
        };
        let message = format!("syncing {} {what}{by}", current.source);
        activity::record(services, &updated, action, actor, message).await;
    }
    if active {
        // Deliveries that arrived while paused are imported now.
        release_held_deliveries(services, &updated)
            .await
            .map_err(|e| {
                tracing::error!(
                    error = format!("{e:#}"),
                    "held deliveries not queued on resume"
                );
                ApiError::unavailable(
                    "resumed, but what arrived while paused could not be queued yet; resume again",
                )
            })?;
    }
    Ok(updated)
}

/// Gives the connection, and every recording it imported, the new sharing.
async fn set_sharing(
    services: &Services,
    current: Connection,
    sharing: Sharing,
) -> Result<Connection, ApiError> {
    if current.sharing == sharing {
        return Ok(current);
    }
    let now = services.clock.now();
    let updated = update_connection(services.connections.as_ref(), &current.id, |c| {
        c.sharing = sharing;
        c.updated_at = now;
    })
    .await?;
    // The connection first: an import racing this change reads the new sharing, or its
    // recording is stored before the sweep below reaches it.
    let changed = services
        .recordings
        .set_sharing(&updated.owner(), updated.source, sharing)
        .await?;
    let who = match sharing {
        Sharing::Workspace => "the whole workspace".to_owned(),
        Sharing::Private => format!("{} only", updated.user_id),
    };
    let message = format!(
        "{} recordings are now visible to {who} ({changed} changed)",
        updated.source
    );
    activity::record(
        services,
        &updated,
        ActivityAction::SharingChanged,
        None,
        message,
    )
    .await;
    Ok(updated)
}

/// Disconnects: the provider webhook is deleted (best effort), credentials are wiped, and
/// every imported recording stays.
async fn remove(services: &Services, owner: &Tenant, source: &str) -> ApiResult {
    let current = connection(services, owner, source).await?;
    let why = format!("{} disconnected; its recordings stay", current.source);
    let updated = disconnect(services, &current, &why).await?;
    one_source(services, &updated).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiKeyBody {
    api_key: String,
}

/// Connects (or adds a fallback to) a source with a personal API key, checked with one cheap
/// call first so a wrong key is refused before anything is stored.
async fn add_api_key(
    services: &Services,
    owner: &Tenant,
    source: &str,
    body: ApiKeyBody,
) -> ApiResult {
    let providers = services.providers().await?;
    let connector = Source::parse(source)
        .ok()
        .and_then(|source| providers.connector(source))
        .filter(|connector| connector.accepts_api_key())
        .ok_or_else(|| ApiError::not_found(format!("`{source}` does not take an API key")))?;
    let name = connector.name();
    let key = body.api_key.trim();
    // A header cannot carry control characters: refuse them here, not as a provider fault.
    if key.is_empty() || key.len() > 512 || key.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_api_key",
            format!(
                "api_key must be a {name} API key: 1 to 512 characters, without control characters"
            ),
        ));
    }
    let key = SecretString::new(key);
    match connector.check_api_key(&key).await {
        Ok(()) => {}
        Err(e) if e.needs_reauth() => {
            return Err(ApiError::bad_request(
                "invalid_api_key",
                format!("{name} did not accept this API key; copy it again from {name}'s settings"),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    let connected = connect(
        services,
        owner,
        connector.source(),
        NewCredential::ApiKey(key),
    )
    .await?;
    one_source(services, &connected.connection).await
}

/// One attempt of the delivery log, as its owner sees it.
#[derive(Serialize)]
struct DeliveryItem<'a> {
    id: &'a str,
    received_at: chrono::DateTime<chrono::Utc>,
    webhook_id: Option<&'a str>,
    connection_id: Option<&'a str>,
    status: DeliveryStatus,
    http_status: u16,
    signature_valid: bool,
    error: Option<&'a str>,
    header_names: &'a [String],
    body_bytes: u64,
}

impl<'a> From<&'a DeliveryRecord> for DeliveryItem<'a> {
    fn from(d: &'a DeliveryRecord) -> Self {
        DeliveryItem {
            id: &d.id,
            received_at: d.received_at,
            webhook_id: d.webhook_id.as_deref(),
            connection_id: d.connection_id.as_ref().map(|c| c.as_str()),
            status: d.status,
            http_status: d.http_status,
            signature_valid: d.signature_valid,
            error: d.error.as_deref(),
            header_names: &d.header_names,
            body_bytes: d.body_bytes,
        }
    }
}

/// The source's webhook delivery log, newest first: every attempt of the last 30 days,
/// including those refused, whatever the connection's state now.
async fn list_deliveries(
    services: &Services,
    owner: &Tenant,
    raw_source: &str,
    req: &Request,
) -> ApiResult {
    let source = Source::parse(raw_source).map_err(|e| ApiError::not_found(e.to_string()))?;
    let limit = http::limit(req, 50, 200)?;
    let logged = services
        .deliveries
        .list(Some(owner), source, limit, services.clock.now())
        .await?;
    let items: Vec<DeliveryItem> = logged.iter().map(DeliveryItem::from).collect();
    http::ok(&json!({ "items": items }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::request::LambdaRequest;

    #[tokio::test]
    async fn the_sample_event_lists_every_source_for_a_new_user() {
        let event: LambdaRequest =
            serde_json::from_str(include_str!("../../../events/sources.json")).unwrap();
        let backend = pipeline::testing::local_backend().await;
        let response = handle(&backend.services, Request::from(event)).await;
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        let statuses: Vec<(&str, &str)> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| {
                (
                    item["source"].as_str().unwrap(),
                    item["status"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            statuses,
            [
                ("fathom", "not_connected"),
                ("zoom", "not_connected"),
                ("upload", "available")
            ]
        );
    }
}
