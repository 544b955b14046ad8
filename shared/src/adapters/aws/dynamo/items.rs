//! Domain objects to table items and back: the object as JSON in `data`, plus the key, index
//! and condition attributes derived from it.

use super::keys::*;
use super::Item;
use crate::domain::{
    ActivityEntry, Change, Connection, ConnectionStatus, Recording, SyncJob, Upload, WorkspaceId,
};
use anyhow::{anyhow, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub(super) fn with_body(key: Key, body: &impl Serialize, what: &str) -> Result<Item> {
    let json = serde_json::to_string(body)
        .map_err(|e| anyhow!("a {what} could not be written as JSON: {e}"))?;
    let mut item = key.into_item();
    item.insert(DATA.into(), text(json));
    Ok(item)
}

/// Reads `data` without echoing any of it in the error (connections hold sealed tokens).
pub(super) fn body<T: DeserializeOwned>(item: &Item, what: &str) -> Result<T> {
    let json = item
        .get(DATA)
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| anyhow!("a stored {what} has no `{DATA}` attribute"))?;
    serde_json::from_str(json).map_err(|e| {
        anyhow!(
            "a stored {what} could not be read ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        )
    })
}

impl TryFrom<&Recording> for Item {
    type Error = anyhow::Error;

    fn try_from(recording: &Recording) -> Result<Item> {
        let key = Key::recording(&recording.owner(), recording.source, &recording.external_id);
        let without_search_text = Recording {
            search_text: String::new(),
            ..recording.clone()
        };
        let mut item = with_body(key, &without_search_text, "recording")?;
        item.insert(SEARCH_TEXT.into(), text(&recording.search_text));
        item.insert(ID.into(), text(recording.id.as_str()));
        item.insert(SOURCE.into(), text(recording.source.as_str()));
        // What a listing filters on: the viewer's own, or shared with the workspace.
        item.insert(USER.into(), text(recording.user_id.as_str()));
        item.insert(SHARING.into(), text(recording.sharing.as_str()));
        item.insert(
            GSI1PK.into(),
            text(recordings_index_partition(&recording.workspace_id)),
        );
        item.insert(
            GSI1SK.into(),
            text(time_then_id(recording.sort_time(), recording.id.as_str())),
        );
        Ok(item)
    }
}

impl TryFrom<Item> for Recording {
    type Error = anyhow::Error;

    fn try_from(item: Item) -> Result<Recording> {
        let mut recording: Recording = body(&item, "recording")?;
        if let Some(search_text) = item.get(SEARCH_TEXT).and_then(|v| v.as_s().ok()) {
            recording.search_text = search_text.clone();
        }
        Ok(recording)
    }
}

impl TryFrom<&Connection> for Item {
    type Error = anyhow::Error;

    fn try_from(connection: &Connection) -> Result<Item> {
        let key = Key::connection(&connection.owner(), connection.source);
        let mut item = with_body(key, connection, "connection")?;
        item.insert(ID.into(), text(connection.id.as_str()));
        item.insert(VERSION.into(), number(connection.version));
        item.insert(
            GSI1PK.into(),
            text(workspace_connections_partition(&connection.workspace_id)),
        );
        item.insert(
            GSI1SK.into(),
            text(time_then_id(connection.created_at, connection.id.as_str())),
        );
        // Sparse indexes: disconnected connections leave the all-connections listing, and
        // only connections with a known account email are found by it.
        if connection.status != ConnectionStatus::Disconnected {
            item.insert(GSI2PK.into(), text(ALL_CONNECTIONS));
            item.insert(
                GSI2SK.into(),
                text(time_then_id(connection.created_at, connection.id.as_str())),
            );
        }
        if let Some(route) = &connection.route_key {
            item.insert(
                GSI3PK.into(),
                text(route_index_partition(connection.source, route)),
            );
            item.insert(GSI3SK.into(), text(connection.id.as_str()));
        }
        Ok(item)
    }
}

impl TryFrom<Item> for Connection {
    type Error = anyhow::Error;

    fn try_from(item: Item) -> Result<Connection> {
        body(&item, "connection")
    }
}

impl TryFrom<&SyncJob> for Item {
    type Error = anyhow::Error;

    fn try_from(job: &SyncJob) -> Result<Item> {
        let mut item = with_body(Key::job(&job.owner(), &job.id), job, "job")?;
        item.insert(SOURCE.into(), text(job.source.as_str()));
        item.insert(GSI1PK.into(), text(jobs_index_partition(&job.owner())));
        item.insert(
            GSI1SK.into(),
            text(time_then_id(job.created_at, job.id.as_str())),
        );
        // Finished jobs expire by TTL after the retention period.
        if let Some(finished) = job.finished_at {
            expiry(&mut item, finished + crate::domain::JOB_RETENTION);
        }
        // Unfinished jobs, of every user, in one sparse index partition, oldest save first, so
        // a sweep finds those whose worker died.
        if !job.status.is_finished() {
            item.insert(GSI2PK.into(), text(RUNNING_JOBS));
            item.insert(
                GSI2SK.into(),
                text(time_then_id(job.updated_at, job.id.as_str())),
            );
        }
        Ok(item)
    }
}

impl TryFrom<Item> for SyncJob {
    type Error = anyhow::Error;

    fn try_from(item: Item) -> Result<SyncJob> {
        body(&item, "job")
    }
}

impl TryFrom<&Upload> for Item {
    type Error = anyhow::Error;

    fn try_from(upload: &Upload) -> Result<Item> {
        let mut item = with_body(Key::upload(&upload.owner(), &upload.id), upload, "upload")?;
        item.insert(
            GSI1PK.into(),
            text(uploads_index_partition(&upload.owner())),
        );
        item.insert(
            GSI1SK.into(),
            text(time_then_id(upload.created_at, upload.id.as_str())),
        );
        Ok(item)
    }
}

impl TryFrom<Item> for Upload {
    type Error = anyhow::Error;

    fn try_from(item: Item) -> Result<Upload> {
        body(&item, "upload")
    }
}

impl TryFrom<&crate::ports::DeliveryRecord> for Item {
    type Error = anyhow::Error;

    fn try_from(delivery: &crate::ports::DeliveryRecord) -> Result<Item> {
        let key = Key::delivery(
            delivery.owner.as_ref(),
            delivery.source,
            delivery.received_at,
            &delivery.id,
        );
        let mut item = with_body(key, delivery, "delivery record")?;
        expiry(&mut item, delivery.expires_at);
        Ok(item)
    }
}

impl TryFrom<Item> for crate::ports::DeliveryRecord {
    type Error = anyhow::Error;

    fn try_from(item: Item) -> Result<crate::ports::DeliveryRecord> {
        body(&item, "delivery record")
    }
}

impl TryFrom<&ActivityEntry> for Item {
    type Error = anyhow::Error;

    fn try_from(entry: &ActivityEntry) -> Result<Item> {
        let key = Key::activity(&entry.workspace_id, entry.at, &entry.id);
        let mut item = with_body(key, entry, "activity entry")?;
        item.insert(USER.into(), text(entry.user_id.as_str()));
        item.insert(SOURCE.into(), text(entry.source.as_str()));
        expiry(&mut item, entry.expires_at);
        Ok(item)
    }
}

impl TryFrom<Item> for ActivityEntry {
    type Error = anyhow::Error;

    fn try_from(item: Item) -> Result<ActivityEntry> {
        body(&item, "activity entry")
    }
}

/// `change`, numbered, as an item of `workspace`'s feed.
pub(super) fn change_item(workspace: &WorkspaceId, change: &Change) -> Result<Item> {
    let key = Key::change(workspace, change.seq);
    let mut item = with_body(key, change, "change")?;
    expiry(&mut item, change.expires_at());
    Ok(item)
}

impl TryFrom<Item> for Change {
    type Error = anyhow::Error;

    fn try_from(item: Item) -> Result<Change> {
        body(&item, "change")
    }
}
