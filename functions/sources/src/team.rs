//! What a workspace sees as a team: every member's sources (admins), acting on another
//! member's connection (admins pause and resume), and the activity log.

use pipeline::domain::{ActivityEntry, ConnectionStatus, Source, Tenant, UserId};
use pipeline::http::{self, ApiError, ApiResult, Caller, Request};
use pipeline::services::Services;
use serde::Serialize;
use serde_json::json;

fn admins_only(what: &str) -> ApiError {
    ApiError::forbidden("admin_only", format!("only a workspace admin can {what}"))
}

/// The member whose connection a request manages: the caller, or (admins only) the member
/// `?user=` names in the caller's workspace.
pub fn managed_member(caller: &Caller, req: &Request) -> Result<Tenant, ApiError> {
    let Some(raw) = http::query(req, "user") else {
        return Ok(caller.tenant.clone());
    };
    let user = UserId::parse(&raw).map_err(|_| {
        ApiError::bad_request(
            "invalid_parameter",
            "query parameter `user` is not a user id",
        )
    })?;
    if user == caller.tenant.user {
        return Ok(caller.tenant.clone());
    }
    if !caller.is_admin() {
        return Err(admins_only("manage another member's source"));
    }
    Ok(Tenant::new(caller.tenant.workspace.clone(), user))
}

/// One member's connection as an admin sees it: never credentials.
#[derive(Serialize)]
struct MemberSource<'a> {
    user_id: &'a str,
    source: Source,
    connection_id: &'a str,
    status: &'static str,
    sharing: pipeline::domain::Sharing,
    account_email: Option<&'a str>,
    last_sync_at: Option<chrono::DateTime<chrono::Utc>>,
    last_error: Option<&'a str>,
    recording_count: u64,
    connected_at: chrono::DateTime<chrono::Utc>,
}

/// `GET /sources?scope=workspace`: every member's live connections, oldest first (admins).
/// Two reads per connection (it and its count): a team's sources are a handful per member.
pub async fn list_workspace_sources(services: &Services, caller: &Caller) -> ApiResult {
    if !caller.is_admin() {
        return Err(admins_only("list the workspace's sources"));
    }
    let connections: Vec<_> = services
        .connections
        .list_for_workspace(&caller.tenant.workspace)
        .await?
        .into_iter()
        .filter(|c| c.status != ConnectionStatus::Disconnected)
        .collect();
    let mut items = Vec::with_capacity(connections.len());
    for c in &connections {
        let recording_count = services.recordings.count(&c.owner(), c.source).await?;
        items.push(MemberSource {
            user_id: c.user_id.as_str(),
            source: c.source,
            connection_id: c.id.as_str(),
            status: c.status.as_str(),
            sharing: c.sharing,
            account_email: c.account_email.as_deref(),
            last_sync_at: c.last_sync_at,
            last_error: c.last_error.as_deref(),
            recording_count,
            connected_at: c.created_at,
        });
    }
    http::ok(&json!({ "workspace_id": caller.tenant.workspace, "items": items }))
}

#[derive(Serialize)]
struct ActivityItem<'a> {
    id: &'a str,
    at: chrono::DateTime<chrono::Utc>,
    /// Whose connection it concerns.
    user_id: &'a str,
    /// Who did it, when not the connection's owner or the system.
    actor_id: Option<&'a str>,
    source: Source,
    action: pipeline::domain::ActivityAction,
    message: &'a str,
}

impl<'a> From<&'a ActivityEntry> for ActivityItem<'a> {
    fn from(e: &'a ActivityEntry) -> Self {
        ActivityItem {
            id: &e.id,
            at: e.at,
            user_id: e.user_id.as_str(),
            actor_id: e.actor_id.as_ref().map(|a| a.as_str()),
            source: e.source,
            action: e.action,
            message: &e.message,
        }
    }
}

/// `GET /activity?source=&user=&cursor=&limit=`: the workspace's integration history of the
/// last 90 days, newest first. Members see their own connections' entries; admins everyone's,
/// or one member's with `user`.
pub async fn list_activity(services: &Services, caller: &Caller, req: &Request) -> ApiResult {
    let member = match http::query(req, "user") {
        None if caller.is_admin() => None,
        None => Some(caller.tenant.clone()),
        Some(_) => Some(managed_member(caller, req).map_err(|e| match e.code {
            "admin_only" => admins_only("read another member's activity"),
            _ => e,
        })?),
    };
    let source = http::query_as(req, "source", Source::parse)?;
    let limit = http::limit(req, 50, 200)?;
    let workspace = &caller.tenant.workspace;
    let user = member.as_ref().map(|m| &m.user);
    let scope = format!(
        "activity:{workspace} {}:{}",
        user.map_or("*", |u| u.as_str()),
        source.map_or("*", |s| s.as_str())
    );
    let cursor = http::page_cursor(req, services, &scope).await?;
    let page = services
        .activity
        .list(
            workspace,
            user,
            source,
            cursor.as_deref(),
            limit,
            services.clock.now(),
        )
        .await?;
    let items: Vec<ActivityItem> = page.items.iter().map(ActivityItem::from).collect();
    let next_cursor = http::next_cursor(services, &scope, page.next_cursor).await?;
    http::ok(&json!({ "items": items, "next_cursor": next_cursor }))
}
