//! Recordings, connections, jobs and uploads.

use super::keys::{self, Key, CONNECTIONS_PREFIX, ID, SEARCH_TEXT, SHARING, USER, VERSION};
use super::{
    source_filter, DynamoStore, Expr, Item, Query, ACROSS_USERS, BY_ROUTE, BY_TIME, TABLE,
};
use crate::domain::{
    Change, ChangeKind, Connection, ConnectionId, ExternalId, JobId, Recording, RecordingId,
    Sharing, Source, SyncJob, Tenant, Upload, UploadId, WorkspaceId,
};
use crate::ports::{
    ConnectionStore, Inserted, JobStore, Page, RecordingQuery, RecordingReader, RecordingWriter,
    UploadStore,
};
use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

fn convert<T: TryFrom<Item, Error = anyhow::Error>>(items: Vec<Item>) -> Result<Vec<T>> {
    items.into_iter().map(T::try_from).collect()
}

fn convert_page<T: TryFrom<Item, Error = anyhow::Error>>(page: Page<Item>) -> Result<Page<T>> {
    Ok(Page {
        items: convert(page.items)?,
        next_cursor: page.next_cursor,
    })
}

/// What `viewer` may read of a workspace's recordings: their own, and the shared ones.
fn readable_by(viewer: &Tenant) -> Expr {
    Expr::new(format!("#{USER} = :viewer OR #{SHARING} = :shared"))
        .name(USER)
        .name(SHARING)
        .value(":viewer", keys::text(viewer.user.as_str()))
        .value(":shared", keys::text(Sharing::Workspace.as_str()))
}

fn both(left: Option<Expr>, right: Option<Expr>) -> Option<Expr> {
    match (left, right) {
        (Some(l), Some(r)) => Some(l.and(r)),
        (l, r) => l.or(r),
    }
}

#[async_trait]
impl RecordingReader for DynamoStore {
    async fn get(&self, viewer: &Tenant, id: &RecordingId) -> Result<Option<Recording>> {
        let Some(item) = self.get_via_pointer(Key::recording_pointer(id)).await? else {
            return Ok(None);
        };
        let recording = Recording::try_from(item)?;
        Ok((recording.id == *id && recording.visible_to(viewer)).then_some(recording))
    }

    async fn find_by_key(
        &self,
        owner: &Tenant,
        source: Source,
        external_id: &ExternalId,
    ) -> Result<Option<Recording>> {
        self.get_item(Key::recording(owner, source, external_id))
            .await?
            .map(Recording::try_from)
            .transpose()
    }

    async fn list(&self, viewer: &Tenant, query: &RecordingQuery) -> Result<Page<Recording>> {
        let text = query
            .text
            .as_deref()
            .map(|t| t.trim().to_lowercase())
            .filter(|t| !t.is_empty());
        let text_filter = text.map(|t| {
            Expr::new(format!("contains(#{SEARCH_TEXT}, :text)"))
                .name(SEARCH_TEXT)
                .value(":text", keys::text(t))
        });
        let mut listing = Query::new(
            &BY_TIME,
            keys::recordings_index_partition(&viewer.workspace),
        );
        listing.newest_first = true;
        listing.filter = both(
            Some(readable_by(viewer)),
            both(query.source.map(source_filter), text_filter),
        );
        convert_page(
            self.query_page(&listing, query.limit, query.cursor.as_deref())
                .await?,
        )
    }

    async fn count(&self, owner: &Tenant, source: Source) -> Result<u64> {
        let mut recordings = Query::new(&TABLE, keys::member_partition(owner));
        recordings.sort_prefix = Some(Key::recordings_of(source));
        self.count_items(&recordings).await
    }

    async fn count_by_source(&self, owner: &Tenant) -> Result<BTreeMap<Source, u64>> {
        let mut recordings = Query::new(&TABLE, keys::member_partition(owner));
        recordings.sort_prefix = Some(keys::RECORDINGS_PREFIX.to_owned());
        recordings.sort_key_only = true;
        let mut counts: BTreeMap<Source, u64> = Source::ALL.into_iter().map(|s| (s, 0)).collect();
        for item in self.query_all(&recordings).await? {
            let key = item
                .get(keys::SK)
                .and_then(|v| v.as_s().ok())
                .context("a listed recording has no sort key")?;
            let source = key
                .strip_prefix(keys::RECORDINGS_PREFIX)
                .and_then(|rest| rest.split_once('#'))
                .and_then(|(source, _)| Source::parse(source).ok())
                .with_context(|| format!("a recording's key `{key}` names no source"))?;
            *counts.entry(source).or_default() += 1;
        }
        Ok(counts)
    }
}

#[async_trait]
impl RecordingWriter for DynamoStore {
    async fn insert_if_absent(&self, recording: &Recording) -> Result<Inserted> {
        let key = Key::recording(&recording.owner(), recording.source, &recording.external_id);
        let by_id = Key::recording_pointer(&recording.id).pointer_to(&key);
        let absent = || Expr::new("attribute_not_exists(#pk)").alias("#pk", keys::PK);
        let writes = vec![
            self.conditional_put(Item::try_from(recording)?, absent())?,
            self.conditional_put(by_id, absent())?,
        ];
        let change = Change::of(ChangeKind::RecordingCreated, recording);
        Ok(
            match self
                .write_with_change(writes, &recording.workspace_id, change)
                .await?
            {
                true => Inserted::New,
                false => Inserted::AlreadyExists,
            },
        )
    }

    async fn update(&self, recording: &Recording) -> Result<()> {
        let write = self.conditional_put(Item::try_from(recording)?, same_id(recording))?;
        let change = Change::of(ChangeKind::RecordingUpdated, recording);
        if !self
            .write_with_change(vec![write], &recording.workspace_id, change)
            .await?
        {
            bail!(
                "recording {} is not stored, so it cannot be updated",
                recording.id
            );
        }
        Ok(())
    }

    async fn set_sharing(&self, owner: &Tenant, source: Source, sharing: Sharing) -> Result<u64> {
        // One write per recording: a sharing change is rare, and the listing index must see
        // each recording's new `sharing`.
        let mut recordings = Query::new(&TABLE, keys::member_partition(owner));
        recordings.sort_prefix = Some(Key::recordings_of(source));
        let mut changed = 0;
        for item in self.query_all(&recordings).await? {
            let recording = Recording::try_from(item)?;
            if recording.sharing == sharing {
                continue;
            }
            let shared = Recording {
                sharing,
                ..recording
            };
            // A recording deleted meanwhile stays deleted.
            if self
                .put_item(Item::try_from(&shared)?, Some(same_id(&shared)))
                .await?
            {
                changed += 1;
            }
        }
        Ok(changed)
    }
}

/// The condition that the stored item is this recording (and so exists).
fn same_id(recording: &Recording) -> Expr {
    Expr::new(format!("#{ID} = :id"))
        .name(ID)
        .value(":id", keys::text(recording.id.as_str()))
}

#[async_trait]
impl ConnectionStore for DynamoStore {
    async fn insert_if_absent(&self, connection: &Connection) -> Result<Inserted> {
        let key = Key::connection(&connection.owner(), connection.source);
        let by_id = Key::connection_pointer(&connection.id).pointer_to(&key);
        self.insert_all_if_absent(vec![Item::try_from(connection)?, by_id])
            .await
    }

    async fn get(&self, id: &ConnectionId) -> Result<Option<Connection>> {
        let Some(item) = self.get_via_pointer(Key::connection_pointer(id)).await? else {
            return Ok(None);
        };
        let connection = Connection::try_from(item)?;
        Ok((connection.id == *id).then_some(connection))
    }

    async fn find(&self, owner: &Tenant, source: Source) -> Result<Option<Connection>> {
        self.get_item(Key::connection(owner, source))
            .await?
            .map(Connection::try_from)
            .transpose()
    }

    async fn list_for_owner(&self, owner: &Tenant) -> Result<Vec<Connection>> {
        let mut connections = Query::new(&TABLE, keys::member_partition(owner));
        connections.sort_prefix = Some(CONNECTIONS_PREFIX.to_owned());
        convert(self.query_all(&connections).await?)
    }

    async fn list_for_workspace(&self, workspace: &WorkspaceId) -> Result<Vec<Connection>> {
        let members = Query::new(&BY_TIME, keys::workspace_connections_partition(workspace));
        convert(self.query_all(&members).await?)
    }

    async fn find_by_route_key(&self, source: Source, key: &str) -> Result<Vec<Connection>> {
        let matching = Query::new(&BY_ROUTE, keys::route_index_partition(source, key));
        convert(self.query_all(&matching).await?)
    }

    async fn list_all(&self, cursor: Option<&str>, limit: usize) -> Result<Page<Connection>> {
        let live = Query::new(&ACROSS_USERS, keys::ALL_CONNECTIONS.to_owned());
        convert_page(self.query_page(&live, limit, cursor).await?)
    }

    async fn replace(&self, connection: &Connection) -> Result<bool> {
        let bumped = Connection {
            version: connection.version + 1,
            ..connection.clone()
        };
        let unchanged = Expr::new(format!("#{VERSION} = :version"))
            .name(VERSION)
            .value(":version", keys::number(connection.version));
        self.put_item(Item::try_from(&bumped)?, Some(unchanged))
            .await
    }
}

#[async_trait]
impl JobStore for DynamoStore {
    async fn put(&self, job: &SyncJob) -> Result<()> {
        self.put_item(Item::try_from(job)?, None).await?;
        Ok(())
    }

    async fn get(&self, owner: &Tenant, id: &JobId) -> Result<Option<SyncJob>> {
        self.get_item(Key::job(owner, id))
            .await?
            .map(SyncJob::try_from)
            .transpose()
    }

    async fn list(
        &self,
        owner: &Tenant,
        source: Option<Source>,
        limit: usize,
    ) -> Result<Vec<SyncJob>> {
        let mut jobs = Query::new(&BY_TIME, keys::jobs_index_partition(owner));
        jobs.newest_first = true;
        jobs.filter = source.map(source_filter);
        convert(self.query_page(&jobs, limit, None).await?.items)
    }

    async fn list_unfinished_before(
        &self,
        cutoff: DateTime<Utc>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<SyncJob>> {
        let unfinished = Query::new(&ACROSS_USERS, keys::RUNNING_JOBS.to_owned());
        let page = self.query_page(&unfinished, limit, cursor).await?;
        let read = page.items.len();
        // Oldest first, so everything past the first recent one is recent too.
        let jobs: Vec<SyncJob> = convert(page.items)?;
        let items: Vec<SyncJob> = jobs
            .into_iter()
            .take_while(|job| job.updated_at < cutoff)
            .collect();
        let next_cursor = page.next_cursor.filter(|_| items.len() == read);
        Ok(Page { items, next_cursor })
    }
}

#[async_trait]
impl UploadStore for DynamoStore {
    async fn put(&self, upload: &Upload) -> Result<()> {
        self.put_item(Item::try_from(upload)?, None).await?;
        Ok(())
    }

    async fn get(&self, owner: &Tenant, id: &UploadId) -> Result<Option<Upload>> {
        self.get_item(Key::upload(owner, id))
            .await?
            .map(Upload::try_from)
            .transpose()
    }

    async fn list(&self, owner: &Tenant, limit: usize) -> Result<Vec<Upload>> {
        let mut uploads = Query::new(&BY_TIME, keys::uploads_index_partition(owner));
        uploads.newest_first = true;
        convert(self.query_page(&uploads, limit, None).await?.items)
    }
}
