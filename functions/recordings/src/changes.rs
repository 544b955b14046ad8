//! `GET /changes`: the change feed, for keeping a copy of the recordings in step. Each change
//! the viewer may read (their own recordings and those shared with the workspace), in commit
//! order, with the recording as `GET /recordings/{id}` shows it now. The cursor is the last
//! change read, signed for the viewer; it keeps working while the change is kept (35 days).

use pipeline::domain::{Change, ChangeKind, Sharing, Tenant};
use pipeline::http::{self, ApiError, ApiResult, Request};
use pipeline::services::Services;
use pipeline::views;
use serde_json::{json, Value};

pub async fn list(services: &Services, viewer: &Tenant, req: &Request) -> ApiResult {
    let scope = format!("changes:{viewer}");
    let after = match http::page_cursor(req, services, &scope).await? {
        None => 0,
        Some(raw) => raw.parse::<u64>().map_err(|_| {
            ApiError::bad_request("invalid_cursor", "the cursor is not a feed position")
        })?,
    };
    let limit = http::limit(req, 50, 200)?;
    let changes = services
        .changes
        .read(&viewer.workspace, after, limit)
        .await?;
    let last = changes.last().map_or(after, |c| c.seq);
    let mut items = Vec::with_capacity(changes.len());
    for change in &changes {
        if let Some(item) = item(services, viewer, change).await? {
            items.push(item);
        }
    }
    http::ok(&json!({
        "items": items,
        // Always a place to resume from: after the last change read, even one the viewer may
        // not see; at the end of the feed, where it ends now.
        "next_cursor": http::next_cursor(services, &scope, Some(last.to_string())).await?,
        "has_more": changes.len() == limit,
    }))
}

/// The change as the viewer sees it; `None` when they may not read its recording now.
async fn item(
    services: &Services,
    viewer: &Tenant,
    change: &Change,
) -> Result<Option<Value>, ApiError> {
    let recording = match change.kind {
        // Gone: readable when it was when deleted.
        ChangeKind::RecordingDeleted => {
            if change.user_id != viewer.user && change.sharing != Sharing::Workspace {
                return Ok(None);
            }
            None
        }
        ChangeKind::RecordingCreated | ChangeKind::RecordingUpdated => {
            let Some(recording) = services
                .recordings
                .get(viewer, &change.recording_id)
                .await?
            else {
                return Ok(None);
            };
            Some(views::recording_detail_json(services, &recording).await?)
        }
    };
    Ok(Some(json!({
        "type": change.kind,
        "at": change.at,
        "recording_id": change.recording_id,
        "source": change.source,
        "external_id": change.external_id,
        "recording": recording,
    })))
}
