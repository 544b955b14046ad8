//! A database written by an earlier version of the schema opens with its data as it was:
//! before workspaces (version 2), in each user's personal workspace, private; before the
//! tables every delivery writes were rebuilt, with their rows; before queued jobs were
//! indexed, found by the sweeps.

use super::db::{database_at_version, millis, Db};
use super::{
    LocalConnections, LocalDeliveries, LocalJobs, LocalOnce, LocalQueue, LocalRecordings,
    LocalUploads,
};
use crate::domain::{Connection, JobKind, Sharing, Source, SyncJob, Tenant, Upload, UploadId};
use crate::ports::{
    ConnectionStore, DeliveryLog, DeliveryRecord, DeliveryStatus, HeldItem, JobStore, OnceStore,
    Queue, RecordingQuery, RecordingReader, UploadStore,
};
use crate::testing::{epoch, meeting, member, recording, teammate};
use rusqlite::params;

/// The JSON an object had before workspaces: without the fields they added.
fn before_workspaces(value: &impl serde::Serialize, drop: &[&str]) -> String {
    let mut json = serde_json::to_value(value).unwrap();
    for field in drop {
        json.as_object_mut().unwrap().remove(*field);
    }
    json.to_string()
}

#[tokio::test]
async fn data_from_before_workspaces_moves_into_personal_workspaces() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callsync.db");
    let alice = member("alice");
    let rec = recording(&alice, meeting(Source::Fathom, "m-1", "Old call", 0));
    let connection = Connection::new(alice.clone(), Source::Fathom, epoch());
    let job = SyncJob::new(alice.clone(), Source::Fathom, JobKind::Initial, epoch());
    let upload = Upload::pending(
        UploadId::new(),
        alice.clone(),
        "call.mp3".into(),
        "audio/mpeg".into(),
        10,
        "uploads/alice/x/call.mp3".into(),
        epoch(),
    );
    let delivery = DeliveryRecord {
        id: "d-1".into(),
        source: Source::Fathom,
        owner: Some(alice.clone()),
        connection_id: Some(connection.id.clone()),
        webhook_id: Some("msg_1".into()),
        received_at: epoch(),
        status: DeliveryStatus::Accepted,
        http_status: 202,
        signature_valid: true,
        error: None,
        header_names: Vec::new(),
        body_bytes: 10,
        expires_at: epoch() + chrono::Duration::days(30),
    };
    {
        // The database as version 2 of the schema left it, rows as that code wrote them.
        let c = database_at_version(&path, 2);
        let tenancy = ["workspace_id", "sharing"];
        c.execute(
            "INSERT INTO recordings (id, user_id, source, external_id, sort_time, search_text, body)
             VALUES (?1, 'alice', 'fathom', 'm-1', ?2, ?3, ?4)",
            params![
                rec.id.as_str(),
                millis(rec.sort_time()),
                rec.search_text,
                before_workspaces(&rec, &tenancy)
            ],
        )
        .unwrap();
        c.execute(
            "INSERT INTO connections (id, user_id, source, status, account_email, created_at,
                 version, body, route_key)
             VALUES (?1, 'alice', 'fathom', 'active', NULL, ?2, 0, ?3, NULL)",
            params![
                connection.id.as_str(),
                millis(epoch()),
                before_workspaces(&connection, &tenancy)
            ],
        )
        .unwrap();
        c.execute(
            "INSERT INTO jobs (id, user_id, source, created_at, expires_at, body)
             VALUES (?1, 'alice', 'fathom', ?2, NULL, ?3)",
            params![
                job.id.as_str(),
                millis(epoch()),
                before_workspaces(&job, &["workspace_id"])
            ],
        )
        .unwrap();
        c.execute(
            "INSERT INTO uploads (id, user_id, body) VALUES (?1, 'alice', ?2)",
            params![upload.id.as_str(), before_workspaces(&upload, &tenancy)],
        )
        .unwrap();
        let mut old_delivery = serde_json::to_value(&delivery).unwrap();
        let object = old_delivery.as_object_mut().unwrap();
        object.remove("owner");
        object.insert("user_id".into(), "alice".into());
        c.execute(
            "INSERT INTO webhook_deliveries (id, owner, source, received_at, expires_at, body)
             VALUES ('d-1', 'alice', 'fathom', ?1, ?2, ?3)",
            params![
                millis(epoch()),
                millis(delivery.expires_at),
                old_delivery.to_string()
            ],
        )
        .unwrap();
    }

    let db = Db::open(&path).unwrap();
    let recordings = LocalRecordings(db.clone());
    let stored = recordings.get(&alice, &rec.id).await.unwrap();
    assert_eq!(
        stored.as_ref(),
        Some(&rec),
        "the recording, readable by its owner"
    );
    assert_eq!(stored.unwrap().sharing, Sharing::Private);
    let all = RecordingQuery {
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        recordings.list(&alice, &all).await.unwrap().items,
        vec![rec.clone()]
    );
    assert_eq!(recordings.count(&alice, Source::Fathom).await.unwrap(), 1);
    let connections = LocalConnections(db.clone());
    let found = connections.find(&alice, Source::Fathom).await.unwrap();
    assert_eq!(
        found.map(|c| (c.id, c.sharing)),
        Some((connection.id.clone(), Sharing::Private))
    );
    assert_eq!(
        LocalJobs(db.clone()).get(&alice, &job.id).await.unwrap(),
        Some(job)
    );
    let uploads = LocalUploads(db.clone());
    assert_eq!(uploads.list(&alice, 10).await.unwrap(), vec![upload]);
    let log = LocalDeliveries(db.clone());
    let logged = log
        .list(Some(&alice), Source::Fathom, 10, epoch())
        .await
        .unwrap();
    assert_eq!(logged, vec![delivery]);

    // Nobody else reads them, the same user in a team workspace included; and that member
    // can connect the same source there.
    let at_work: Tenant = teammate("acme", "alice");
    for other in [&at_work, &member("bob")] {
        assert!(recordings.get(other, &rec.id).await.unwrap().is_none());
        assert!(connections
            .find(other, Source::Fathom)
            .await
            .unwrap()
            .is_none());
    }
    let work = Connection::new(at_work, Source::Fathom, epoch());
    assert_eq!(
        connections.insert_if_absent(&work).await.unwrap(),
        crate::ports::Inserted::New
    );
}

#[tokio::test]
async fn claims_held_deliveries_and_queued_messages_survive_the_rebuild_of_their_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callsync.db");
    let later = millis(epoch() + chrono::Duration::days(1));
    // The version before the migration that rebuilt these tables.
    const BEFORE_FEWER_BTREES: usize = 9;
    {
        // The database as that version left it.
        let c = database_at_version(&path, BEFORE_FEWER_BTREES);
        c.execute(
            "INSERT INTO once_items (key, value, expires_at) VALUES ('receipt:1', 'done', ?1)",
            params![later],
        )
        .unwrap();
        c.execute(
            "INSERT INTO held_deliveries (holder, key, value, expires_at)
             VALUES ('paused:c-1', 'msg_1', 'the message', ?1)",
            params![later],
        )
        .unwrap();
        // One message received whose visibility has run out (it would be received again),
        // and one waiting.
        c.execute_batch(
            "INSERT INTO queue_messages (id, queue, body, visible_at, receive_count, receipt)
                 VALUES ('m-1', 'sync', 'received', 0, 1, 'r-1');
             INSERT INTO queue_messages (id, queue, body, visible_at)
                 VALUES ('m-2', 'sync', 'waiting', 0);",
        )
        .unwrap();
    }

    let db = Db::open(&path).unwrap();
    let claims = LocalOnce(db.clone());
    assert_eq!(
        claims.get("receipt:1", epoch()).await.unwrap().as_deref(),
        Some("done")
    );
    let held = LocalDeliveries(db.clone());
    assert_eq!(
        held.held("paused:c-1", epoch()).await.unwrap(),
        vec![HeldItem {
            key: "msg_1".into(),
            value: "the message".into()
        }]
    );
    let queue = LocalQueue::new(db, "sync", 5);
    // Deleted by the receipt it was given before: it is not received again.
    queue.delete("r-1").await.unwrap();
    queue.send("sent after").await.unwrap();
    let bodies: Vec<String> = queue
        .receive(10, std::time::Duration::from_secs(30))
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(
        bodies,
        ["waiting", "sent after"],
        "in the order they were sent"
    );
}

#[tokio::test]
async fn jobs_queued_before_they_were_indexed_are_found_by_the_sweeps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callsync.db");
    // The version before queued manual jobs were indexed.
    const BEFORE_QUEUED_JOBS_INDEXED: usize = 10;
    let saved = epoch() + chrono::Duration::milliseconds(300_123);
    let mut queued = SyncJob::new(member("alice"), Source::Fathom, JobKind::Manual, saved);
    queued.updated_at = saved;
    {
        // As that version stored it: not in the index.
        let c = database_at_version(&path, BEFORE_QUEUED_JOBS_INDEXED);
        c.execute(
            "INSERT INTO jobs (id, user_id, source, created_at, body, workspace_id)
             VALUES (?1, ?2, 'fathom', ?3, ?4, ?5)",
            params![
                queued.id.as_str(),
                queued.user_id.as_str(),
                millis(saved),
                serde_json::to_string(&queued).unwrap(),
                queued.workspace_id.as_str()
            ],
        )
        .unwrap();
    }

    let jobs = LocalJobs(Db::open(&path).unwrap());
    let found = |cutoff| {
        let jobs = jobs.clone();
        async move {
            jobs.list_unfinished_before(cutoff, None, 10)
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|j| j.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        found(saved + chrono::Duration::milliseconds(1)).await,
        [queued.id.clone()]
    );
    assert!(
        found(saved).await.is_empty(),
        "indexed by its last save, to the millisecond"
    );
}
