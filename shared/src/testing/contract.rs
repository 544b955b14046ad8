//! The backend contract: the semantics every implementation of the ports must show, written
//! once and run against each backend with `backend_contract!`. Races use many tasks at once,
//! so a check-then-insert implementation fails here.

use super::{epoch, meeting, member, recording, teammate, TestBackend};
use crate::domain::{
    ActivityAction, ActivityEntry, AttemptOutcome, Connection, ConnectionStatus, DeliveryAttempt,
    EndpointId, EventType, JobKind, RecordingId, Sharing, Source, SyncJob, Tenant, Upload,
    UploadId, WebhookEndpoint, ACTIVITY_RETENTION, ATTEMPT_RETENTION,
};
use crate::ports::{DeliveryRecord, DeliveryStatus, DerivedWrite, Inserted, RecordingQuery};
use chrono::Duration as Span;
use futures::future::join_all;
use std::collections::HashSet;
use std::time::Duration;

/// Generates one `#[tokio::test]` per contract case for the backend made by `$make`
/// (an async fn returning `TestBackend`).
#[macro_export]
macro_rules! backend_contract {
    ($make:path) => {
        $crate::backend_contract!(@cases $make;
            recording_insert_is_once_under_race,
            recordings_are_scoped_to_their_user,
            workspaces_keep_their_data_apart,
            private_recordings_are_read_by_their_owner_only,
            activity_log_is_per_workspace_newest_first_until_expiry,
            the_change_feed_numbers_commits_in_order_without_gaps,
            recordings_list_newest_first_in_pages_with_search,
            recording_update_replaces_content,
            recordings_read_back_whole,
            cursors_the_backend_did_not_hand_out_are_invalid,
            once_item_is_taken_once_and_never_after_expiry,
            once_insert_respects_live_items_and_release,
            once_items_read_and_overwrite_until_expiry,
            provisional_claims_are_taken_over_only_after_they_expire,
            lease_is_exclusive_until_it_expires,
            counter_never_passes_its_ceiling,
            connection_is_unique_per_user_and_source,
            connection_replace_detects_lost_updates,
            connections_page_through_all_but_disconnected,
            jobs_are_scoped_and_newest_first,
            unfinished_jobs_are_found_across_users_oldest_first,
            uploads_are_scoped,
            queue_redelivers_what_was_not_deleted,
            queue_dead_letters_after_max_receives,
            queue_batch_send_delivers_each_once,
            queue_delayed_message_waits_its_delay,
            blobs_round_trip_and_delete,
            delivery_log_is_per_owner_and_source_newest_first_until_expiry,
            held_deliveries_are_taken_once_and_never_after_expiry,
            webhook_endpoints_are_per_workspace_and_replaced_by_version,
            delivery_attempts_are_per_endpoint_newest_first_until_expiry,
            derived_documents_are_per_member_and_written_by_version,
            derived_documents_change_together_or_not_at_all
        );
    };
    (@cases $make:path; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let backend = $make().await;
                $crate::testing::contract::$case(&backend).await;
            }
        )*
    };
}

pub async fn recording_insert_is_once_under_race(b: &TestBackend) {
    let alice = member("alice");
    let attempts = (0..16).map(|_| {
        let store = b.services.recordings.clone();
        let rec = recording(&alice, meeting(Source::Fathom, "m-1", "Race", 0));
        tokio::spawn(async move { (rec.id.clone(), store.insert_if_absent(&rec).await.unwrap()) })
    });
    let results: Vec<_> = join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let winners: Vec<&RecordingId> = results
        .iter()
        .filter(|(_, o)| *o == Inserted::New)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one of 16 racing inserts wins");
    let stored = b
        .services
        .recordings
        .find_by_key(&alice, Source::Fathom, &"m-1".parse_ext())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&stored.id, winners[0]);
    assert_eq!(
        b.services
            .recordings
            .count(&alice, Source::Fathom)
            .await
            .unwrap(),
        1
    );
}

/// Test shorthand for external ids.
trait ParseExt {
    fn parse_ext(&self) -> crate::domain::ExternalId;
}

impl ParseExt for str {
    fn parse_ext(&self) -> crate::domain::ExternalId {
        crate::domain::ExternalId::parse(self).unwrap()
    }
}

pub async fn recordings_are_scoped_to_their_user(b: &TestBackend) {
    let (alice, bob) = (member("alice"), member("bob"));
    let rec = recording(&alice, meeting(Source::Fathom, "m-1", "Alice's call", 0));
    b.services.recordings.insert_if_absent(&rec).await.unwrap();
    let store = &b.services.recordings;
    assert!(store.get(&alice, &rec.id).await.unwrap().is_some());
    assert!(store.get(&bob, &rec.id).await.unwrap().is_none());
    assert!(store
        .find_by_key(&bob, Source::Fathom, &"m-1".parse_ext())
        .await
        .unwrap()
        .is_none());
    let query = RecordingQuery {
        limit: 10,
        ..Default::default()
    };
    assert!(store.list(&bob, &query).await.unwrap().items.is_empty());
    assert_eq!(store.count(&bob, Source::Fathom).await.unwrap(), 0);
    // The same external id is a different recording for another user.
    let bobs = recording(&bob, meeting(Source::Fathom, "m-1", "Bob's call", 0));
    assert_eq!(store.insert_if_absent(&bobs).await.unwrap(), Inserted::New);
}

/// Two members of one team, the same user in their personal workspace, and an outsider.
pub async fn workspaces_keep_their_data_apart(b: &TestBackend) {
    let (ann, ben) = (teammate("acme", "ann"), teammate("acme", "ben"));
    let (ann_alone, olga) = (member("ann"), teammate("globex", "olga"));
    let store = &b.services.recordings;
    let shared = recording(&ann, meeting(Source::Fathom, "m-1", "Team call", 0));
    store.insert_if_absent(&shared).await.unwrap();
    // The same meeting is the same user's again in another workspace: a separate recording.
    let personal = recording(&ann_alone, meeting(Source::Fathom, "m-1", "Team call", 0));
    assert_eq!(
        store.insert_if_absent(&personal).await.unwrap(),
        Inserted::New
    );
    let all = RecordingQuery {
        limit: 10,
        ..Default::default()
    };
    let ids = |page: crate::ports::Page<crate::domain::Recording>| {
        page.items.into_iter().map(|r| r.id).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(store.list(&ben, &all).await.unwrap()),
        std::slice::from_ref(&shared.id)
    );
    assert_eq!(
        ids(store.list(&ann_alone, &all).await.unwrap()),
        std::slice::from_ref(&personal.id)
    );
    assert!(store.list(&olga, &all).await.unwrap().items.is_empty());
    assert!(store.get(&ben, &shared.id).await.unwrap().is_some());
    for outsider in [&olga, &ann_alone] {
        assert!(store.get(outsider, &shared.id).await.unwrap().is_none());
    }
    assert!(store.get(&ann, &personal.id).await.unwrap().is_none());
    assert_eq!(store.count(&ann, Source::Fathom).await.unwrap(), 1);
    assert_eq!(store.count(&ben, Source::Fathom).await.unwrap(), 0);

    // Connections, jobs and uploads belong to one member of one workspace.
    let connections = &b.services.connections;
    let now = epoch();
    let mut ids_by_member = Vec::new();
    for owner in [&ann, &ben, &ann_alone, &olga] {
        let connection = Connection::new(owner.clone(), Source::Fathom, now);
        assert_eq!(
            connections.insert_if_absent(&connection).await.unwrap(),
            Inserted::New,
            "{owner:?}"
        );
        ids_by_member.push(connection.id);
    }
    let found = connections.find(&ann_alone, Source::Fathom).await.unwrap();
    assert_eq!(found.map(|c| c.id), Some(ids_by_member[2].clone()));
    assert_eq!(connections.list_for_owner(&ann).await.unwrap().len(), 1);
    let team: HashSet<_> = connections
        .list_for_workspace(&ann.workspace)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(
        team,
        HashSet::from([ids_by_member[0].clone(), ids_by_member[1].clone()])
    );

    let job = SyncJob::new(ann.clone(), Source::Fathom, JobKind::Manual, now);
    b.services.jobs.put(&job).await.unwrap();
    assert!(b.services.jobs.get(&ann, &job.id).await.unwrap().is_some());
    for other in [&ben, &ann_alone, &olga] {
        assert!(b.services.jobs.get(other, &job.id).await.unwrap().is_none());
        assert!(b
            .services
            .jobs
            .list(other, None, 10)
            .await
            .unwrap()
            .is_empty());
    }
    let upload = upload(&ann, 0);
    b.services.uploads.put(&upload).await.unwrap();
    for other in [&ben, &ann_alone, &olga] {
        assert!(b
            .services
            .uploads
            .get(other, &upload.id)
            .await
            .unwrap()
            .is_none());
        assert!(b.services.uploads.list(other, 10).await.unwrap().is_empty());
    }
}

pub async fn private_recordings_are_read_by_their_owner_only(b: &TestBackend) {
    let (ann, ben) = (teammate("acme", "ann"), teammate("acme", "ben"));
    let store = &b.services.recordings;
    let mut private = recording(&ann, meeting(Source::Zoom, "z-1", "One to one", 1));
    private.sharing = Sharing::Private;
    store.insert_if_absent(&private).await.unwrap();
    let shared = recording(&ann, meeting(Source::Fathom, "m-1", "Team call", 0));
    store.insert_if_absent(&shared).await.unwrap();
    let search = |text: &str| RecordingQuery {
        text: Some(text.into()),
        limit: 10,
        ..Default::default()
    };
    assert!(store.get(&ben, &private.id).await.unwrap().is_none());
    assert!(store
        .list(&ben, &search("one to one"))
        .await
        .unwrap()
        .items
        .is_empty());
    assert_eq!(
        store
            .list(&ann, &search("one to one"))
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    // A connection made private takes its recordings with it, and back.
    let changed = store
        .set_sharing(&ann, Source::Fathom, Sharing::Private)
        .await
        .unwrap();
    assert_eq!(changed, 1);
    assert!(store.get(&ben, &shared.id).await.unwrap().is_none());
    assert!(store
        .list(&ben, &search("team"))
        .await
        .unwrap()
        .items
        .is_empty());
    assert_eq!(
        store
            .get(&ann, &shared.id)
            .await
            .unwrap()
            .map(|r| r.sharing),
        Some(Sharing::Private)
    );
    let changed = store
        .set_sharing(&ann, Source::Zoom, Sharing::Workspace)
        .await
        .unwrap();
    assert_eq!(changed, 1, "only that source's recordings");
    assert_eq!(
        store
            .list(&ben, &search("one to one"))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert!(store.get(&ben, &shared.id).await.unwrap().is_none());
}

fn activity(owner: &Tenant, source: Source, minutes: i64) -> ActivityEntry {
    let at = epoch() + Span::minutes(minutes);
    ActivityEntry {
        id: format!("act-{}-{minutes}", owner.user),
        workspace_id: owner.workspace.clone(),
        user_id: owner.user.clone(),
        actor_id: None,
        source,
        action: ActivityAction::Paused,
        message: format!("paused at minute {minutes}"),
        at,
        expires_at: at + ACTIVITY_RETENTION,
    }
}

/// Reads `workspace`'s feed after `cursor` to its end, `limit` at a time.
async fn read_feed(
    b: &TestBackend,
    workspace: &crate::domain::WorkspaceId,
    mut cursor: u64,
    limit: usize,
) -> Vec<crate::domain::Change> {
    let mut read = Vec::new();
    loop {
        let page = b
            .services
            .changes
            .read(workspace, cursor, limit)
            .await
            .unwrap();
        match page.last() {
            Some(last) => cursor = last.seq,
            None => return read,
        }
        read.extend(page);
    }
}

pub async fn the_change_feed_numbers_commits_in_order_without_gaps(b: &TestBackend) {
    use crate::domain::ChangeKind;
    const WORKERS: usize = 4;
    const EACH: usize = 50;
    let ann = teammate("acme", "ann");
    let workspace = ann.workspace.clone();
    // A reader follows the feed while four workers import; what it collects must be exactly
    // what the feed holds at the end: nothing skipped, nothing twice.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let follower = {
        let (services, workspace, done) = (b.services.clone(), workspace.clone(), done.clone());
        tokio::spawn(async move {
            let (mut cursor, mut seen) = (0, Vec::new());
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let page = services.changes.read(&workspace, cursor, 7).await.unwrap();
                if let Some(last) = page.last() {
                    cursor = last.seq;
                }
                let empty = page.is_empty();
                seen.extend(page);
                if finished && empty {
                    return seen;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let workers = (0..WORKERS).map(|w| {
        let (recordings, ann) = (b.services.recordings.clone(), ann.clone());
        tokio::spawn(async move {
            for i in 0..EACH {
                let id = format!("w{w}-{i}");
                let content = meeting(Source::Fathom, &id, &format!("Call {id}"), i as i64);
                let rec = recording(&ann, content);
                assert_eq!(
                    recordings.insert_if_absent(&rec).await.unwrap(),
                    Inserted::New
                );
                // A second insert of the same meeting changes nothing, so it is no change.
                let again = recording(&ann, meeting(Source::Fathom, &id, "again", 0));
                assert_eq!(
                    recordings.insert_if_absent(&again).await.unwrap(),
                    Inserted::AlreadyExists
                );
                if i % 10 == 0 {
                    let mut updated = rec.clone();
                    updated.title = format!("Call {id}, renamed");
                    recordings.update(&updated).await.unwrap();
                }
            }
        })
    });
    for worker in join_all(workers).await {
        worker.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let followed = follower.await.unwrap();

    let all = read_feed(b, &workspace, 0, 37).await;
    let created = WORKERS * EACH;
    let updated = WORKERS * EACH / 10;
    assert_eq!(all.len(), created + updated);
    let numbers: Vec<u64> = all.iter().map(|c| c.seq).collect();
    assert_eq!(
        numbers,
        (1..=all.len() as u64).collect::<Vec<_>>(),
        "1, 2, 3... in order"
    );
    assert_eq!(
        followed, all,
        "a reader following along saw every change once, in order"
    );
    let kinds = |kind| all.iter().filter(|c| c.kind == kind).count();
    assert_eq!(kinds(ChangeKind::RecordingCreated), created);
    assert_eq!(kinds(ChangeKind::RecordingUpdated), updated);
    // Each update comes after its recording's creation.
    for change in all
        .iter()
        .filter(|c| c.kind == ChangeKind::RecordingUpdated)
    {
        let created_at = all
            .iter()
            .find(|c| {
                c.kind == ChangeKind::RecordingCreated && c.recording_id == change.recording_id
            })
            .unwrap();
        assert!(created_at.seq < change.seq);
    }
    // From a cursor taken halfway: exactly the rest.
    let half = all[all.len() / 2].seq;
    assert_eq!(
        read_feed(b, &workspace, half, 50).await,
        all[all.len() / 2 + 1..]
    );
    // Another workspace's feed is its own.
    let olga = teammate("globex", "olga");
    assert!(read_feed(b, &olga.workspace, 0, 10).await.is_empty());
    let rec = recording(&olga, meeting(Source::Zoom, "z-1", "Globex call", 0));
    b.services.recordings.insert_if_absent(&rec).await.unwrap();
    let theirs = read_feed(b, &olga.workspace, 0, 10).await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(
        (theirs[0].seq, theirs[0].kind),
        (1, ChangeKind::RecordingCreated)
    );
}

pub async fn activity_log_is_per_workspace_newest_first_until_expiry(b: &TestBackend) {
    let (ann, ben) = (teammate("acme", "ann"), teammate("acme", "ben"));
    let olga = teammate("globex", "olga");
    let log = &b.services.activity;
    for minutes in 0..5 {
        log.record(&activity(&ann, Source::Fathom, minutes))
            .await
            .unwrap();
    }
    log.record(&activity(&ben, Source::Zoom, 10)).await.unwrap();
    log.record(&activity(&olga, Source::Fathom, 11))
        .await
        .unwrap();
    let now = epoch() + Span::hours(1);
    let minutes = |page: &crate::ports::Page<ActivityEntry>| {
        page.items
            .iter()
            .map(|e| (e.at - epoch()).num_minutes())
            .collect::<Vec<_>>()
    };

    let first = log
        .list(&ann.workspace, None, None, None, 4, now)
        .await
        .unwrap();
    assert_eq!(
        minutes(&first),
        [10, 4, 3, 2],
        "the whole team's, newest first"
    );
    let cursor = first.next_cursor.clone().expect("more to read");
    let rest = log
        .list(&ann.workspace, None, None, Some(&cursor), 4, now)
        .await
        .unwrap();
    assert_eq!(minutes(&rest), [1, 0]);
    assert_eq!(rest.next_cursor, None);
    let anns = log
        .list(&ann.workspace, Some(&ann.user), None, None, 10, now)
        .await
        .unwrap();
    assert_eq!(anns.items.len(), 5, "one member's");
    let zoom = log
        .list(&ann.workspace, None, Some(Source::Zoom), None, 10, now)
        .await
        .unwrap();
    assert_eq!(minutes(&zoom), [10], "one source's");
    let theirs = log
        .list(&olga.workspace, None, None, None, 10, now)
        .await
        .unwrap();
    assert_eq!(minutes(&theirs), [11], "another workspace's log is its own");
    assert_eq!(theirs.items[0], activity(&olga, Source::Fathom, 11));

    // Ninety days after minute 2, the entries of minutes 0 to 2 are gone.
    let later = epoch() + ACTIVITY_RETENTION + Span::minutes(2);
    let left = log
        .list(&ann.workspace, None, None, None, 10, later)
        .await
        .unwrap();
    assert_eq!(minutes(&left), [10, 4, 3]);
}

pub async fn recordings_list_newest_first_in_pages_with_search(b: &TestBackend) {
    let alice = member("alice");
    let store = &b.services.recordings;
    for i in 0..25 {
        let title = if i % 5 == 0 {
            format!("Quarterly Review {i}")
        } else {
            format!("Standup {i}")
        };
        let source = if i % 2 == 0 {
            Source::Fathom
        } else {
            Source::Upload
        };
        store
            .insert_if_absent(&recording(
                &alice,
                meeting(source, &format!("m-{i}"), &title, i),
            ))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list(
                &alice,
                &RecordingQuery {
                    limit: 10,
                    cursor: cursor.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(page.items.len() <= 10);
        seen.extend(page.items.iter().map(|r| r.title.clone()));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25)
        .rev()
        .map(|i| {
            if i % 5 == 0 {
                format!("Quarterly Review {i}")
            } else {
                format!("Standup {i}")
            }
        })
        .collect();
    assert_eq!(seen, expected, "every recording once, newest first");

    let query = RecordingQuery {
        text: Some("quarterly".into()),
        limit: 50,
        ..Default::default()
    };
    let found = store.list(&alice, &query).await.unwrap().items;
    assert_eq!(found.len(), 5, "title search is case-insensitive");
    let query = RecordingQuery {
        text: Some("NOTES ABOUT STANDUP 7".into()),
        limit: 50,
        ..Default::default()
    };
    let found = store.list(&alice, &query).await.unwrap().items;
    assert_eq!(
        found.iter().map(|r| r.title.as_str()).collect::<Vec<_>>(),
        vec!["Standup 7"],
        "transcript text is searched"
    );
    let query = RecordingQuery {
        source: Some(Source::Upload),
        limit: 50,
        ..Default::default()
    };
    assert_eq!(store.list(&alice, &query).await.unwrap().items.len(), 12);
    assert_eq!(store.count(&alice, Source::Fathom).await.unwrap(), 13);
    let counts = store.count_by_source(&alice).await.unwrap();
    assert_eq!(
        counts.into_iter().collect::<Vec<_>>(),
        [
            (Source::Fathom, 13),
            (Source::Zoom, 0),
            (Source::Upload, 12)
        ]
    );
}

pub async fn cursors_the_backend_did_not_hand_out_are_invalid(b: &TestBackend) {
    use crate::ports::InvalidCursor;
    for bad in ["zzz", "!!", "eyJmb28iOiJiYXIifQ", "MTIz", ""] {
        let query = RecordingQuery {
            limit: 10,
            cursor: Some(bad.to_owned()),
            ..RecordingQuery::default()
        };
        let err = b
            .services
            .recordings
            .list(&member("alice"), &query)
            .await
            .expect_err(bad);
        assert!(
            err.downcast_ref::<InvalidCursor>().is_some(),
            "{bad:?}: {err:#}"
        );
        let err = b
            .services
            .connections
            .list_all(Some(bad), 10)
            .await
            .expect_err(bad);
        assert!(
            err.downcast_ref::<InvalidCursor>().is_some(),
            "{bad:?}: {err:#}"
        );
        let err = b
            .services
            .jobs
            .list_unfinished_before(epoch(), Some(bad), 10)
            .await
            .expect_err(bad);
        assert!(
            err.downcast_ref::<InvalidCursor>().is_some(),
            "{bad:?}: {err:#}"
        );
    }
}

pub async fn recording_update_replaces_content(b: &TestBackend) {
    let alice = member("alice");
    let store = &b.services.recordings;
    let mut rec = recording(&alice, meeting(Source::Fathom, "m-1", "Draft title", 0));
    store.insert_if_absent(&rec).await.unwrap();
    rec.apply(
        meeting(Source::Fathom, "m-1", "Final title", 0),
        epoch() + Span::hours(1),
    );
    store.update(&rec).await.unwrap();
    let stored = store.get(&alice, &rec.id).await.unwrap().unwrap();
    assert_eq!(stored.title, "Final title");
    assert_eq!(stored.content_hash, rec.content_hash);
    let query = RecordingQuery {
        text: Some("final".into()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        store.list(&alice, &query).await.unwrap().items.len(),
        1,
        "search follows the update"
    );
}

pub async fn once_item_is_taken_once_and_never_after_expiry(b: &TestBackend) {
    let once = &b.services.once;
    let now = epoch();
    assert!(once
        .insert_if_absent("state:abc", "alice", now + Span::minutes(10), now)
        .await
        .unwrap());
    let takers = (0..16).map(|_| {
        let once = once.clone();
        tokio::spawn(async move { once.take("state:abc", now).await.unwrap() })
    });
    let taken: Vec<_> = join_all(takers)
        .await
        .into_iter()
        .filter_map(|r| r.unwrap())
        .collect();
    assert_eq!(taken, vec!["alice".to_owned()], "taken exactly once");
    assert_eq!(once.take("state:abc", now).await.unwrap(), None);

    once.insert_if_absent("state:old", "bob", now + Span::minutes(10), now)
        .await
        .unwrap();
    assert_eq!(
        once.take("state:old", now + Span::minutes(11))
            .await
            .unwrap(),
        None,
        "expired items are never returned"
    );
}

pub async fn once_insert_respects_live_items_and_release(b: &TestBackend) {
    let once = &b.services.once;
    let now = epoch();
    let claims = (0..16).map(|i| {
        let once = once.clone();
        tokio::spawn(async move {
            once.insert_if_absent(
                "receipt:fathom:msg_1",
                &i.to_string(),
                now + Span::days(4),
                now,
            )
            .await
            .unwrap()
        })
    });
    let won = join_all(claims)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(won, 1, "one of 16 racing claims wins");
    assert!(!once
        .insert_if_absent("receipt:fathom:msg_1", "again", now + Span::days(4), now)
        .await
        .unwrap());
    // After expiry the key can be claimed again; after a release at once.
    assert!(once
        .insert_if_absent(
            "receipt:fathom:msg_1",
            "later",
            now + Span::days(9),
            now + Span::days(5)
        )
        .await
        .unwrap());
    once.remove("receipt:fathom:msg_1").await.unwrap();
    assert!(once
        .insert_if_absent("receipt:fathom:msg_1", "retry", now + Span::days(4), now)
        .await
        .unwrap());
}

pub async fn once_items_read_and_overwrite_until_expiry(b: &TestBackend) {
    let once = &b.services.once;
    let now = epoch();
    assert_eq!(once.get("claim:a", now).await.unwrap(), None);
    once.put("claim:a", "first", now + Span::minutes(1))
        .await
        .unwrap();
    assert_eq!(
        once.get("claim:a", now).await.unwrap().as_deref(),
        Some("first")
    );
    // Overwritten whatever was there, with the new expiry.
    once.put("claim:a", "second", now + Span::days(5))
        .await
        .unwrap();
    let later = now + Span::days(1);
    assert_eq!(
        once.get("claim:a", later).await.unwrap().as_deref(),
        Some("second")
    );
    assert!(!once
        .insert_if_absent("claim:a", "third", later + Span::minutes(1), later)
        .await
        .unwrap());
    assert_eq!(
        once.get("claim:a", now + Span::days(6)).await.unwrap(),
        None,
        "an expired item reads as absent, even before it is removed"
    );
}

pub async fn provisional_claims_are_taken_over_only_after_they_expire(b: &TestBackend) {
    use crate::pipeline::claims::{claim, confirm, release, Claimed};
    let once = b.services.once.as_ref();
    let now = epoch();
    let hold = Span::seconds(60);
    let racers = (0..16).map(|_| {
        let once = b.services.once.clone();
        tokio::spawn(async move { claim(once.as_ref(), "receipt:x", hold, now).await.unwrap() })
    });
    let outcomes: Vec<Claimed> = join_all(racers)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|c| **c == Claimed::Ours).count(),
        1,
        "one of 16 racing claims wins: {outcomes:?}"
    );
    assert!(outcomes
        .iter()
        .all(|c| matches!(c, Claimed::Ours | Claimed::InProgress)));
    // The holder died without confirming: after the hold, the next attempt takes over.
    let later = now + hold + Span::seconds(1);
    assert_eq!(
        claim(once, "receipt:x", hold, now + Span::seconds(30))
            .await
            .unwrap(),
        Claimed::InProgress
    );
    assert_eq!(
        claim(once, "receipt:x", hold, later).await.unwrap(),
        Claimed::Ours
    );
    confirm(once, "receipt:x", Span::days(5), later)
        .await
        .unwrap();
    assert_eq!(
        claim(once, "receipt:x", hold, later + Span::days(4))
            .await
            .unwrap(),
        Claimed::Done,
        "confirmed work is remembered for as long as asked"
    );
    // A released claim can be taken at once.
    assert_eq!(
        claim(once, "receipt:y", hold, now).await.unwrap(),
        Claimed::Ours
    );
    release(once, "receipt:y").await.unwrap();
    assert_eq!(
        claim(once, "receipt:y", hold, now).await.unwrap(),
        Claimed::Ours
    );
}

pub async fn lease_is_exclusive_until_it_expires(b: &TestBackend) {
    let leases = &b.services.leases;
    let now = epoch();
    let until = now + Span::seconds(60);
    let racers = (0..16).map(|i| {
        let leases = leases.clone();
        tokio::spawn(async move {
            (
                i,
                leases
                    .acquire("sync:con_1", &format!("worker-{i}"), until, now)
                    .await
                    .unwrap(),
            )
        })
    });
    let winners: Vec<usize> = join_all(racers)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .filter(|(_, won)| *won)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(winners.len(), 1, "one holder at a time");
    let holder = format!("worker-{}", winners[0]);
    assert!(
        leases
            .acquire(
                "sync:con_1",
                &holder,
                now + Span::seconds(120),
                now + Span::seconds(30)
            )
            .await
            .unwrap(),
        "the holder renews"
    );
    assert!(
        !leases
            .acquire(
                "sync:con_1",
                "intruder",
                now + Span::seconds(200),
                now + Span::seconds(90)
            )
            .await
            .unwrap(),
        "renewed lease still held"
    );
    leases.release("sync:con_1", "intruder").await.unwrap();
    assert!(
        !leases
            .acquire(
                "sync:con_1",
                "intruder",
                now + Span::seconds(200),
                now + Span::seconds(90)
            )
            .await
            .unwrap(),
        "only the owner releases"
    );
    assert!(
        leases
            .acquire(
                "sync:con_1",
                "next",
                now + Span::seconds(300),
                now + Span::seconds(121)
            )
            .await
            .unwrap(),
        "free after expiry"
    );
    leases.release("sync:con_1", "next").await.unwrap();
    assert!(
        leases
            .acquire(
                "sync:con_1",
                "third",
                now + Span::seconds(300),
                now + Span::seconds(122)
            )
            .await
            .unwrap(),
        "free after release"
    );
}

pub async fn counter_never_passes_its_ceiling(b: &TestBackend) {
    let counters = &b.services.counters;
    let expires = epoch() + Span::days(40);
    let racers = (0..32).map(|_| {
        let counters = counters.clone();
        tokio::spawn(async move {
            counters
                .increment_below("quota:alice:2026-01", 10, expires)
                .await
                .unwrap()
        })
    });
    let granted: Vec<u64> = join_all(racers)
        .await
        .into_iter()
        .filter_map(|r| r.unwrap())
        .collect();
    assert_eq!(granted.len(), 10, "exactly the ceiling is granted");
    assert_eq!(
        granted.iter().copied().collect::<HashSet<_>>().len(),
        10,
        "each grant sees its own value"
    );
    assert_eq!(counters.get("quota:alice:2026-01").await.unwrap(), 10);
    counters.decrement("quota:alice:2026-01").await.unwrap();
    assert_eq!(
        counters
            .increment_below("quota:alice:2026-01", 10, expires)
            .await
            .unwrap(),
        Some(10)
    );
    assert_eq!(
        counters
            .increment_below("quota:alice:2026-01", 10, expires)
            .await
            .unwrap(),
        None
    );
    assert_eq!(counters.get("quota:bob:2026-01").await.unwrap(), 0);
    // No limit (counting only) is the largest ceiling there is.
    for expected in 1..=3 {
        assert_eq!(
            counters
                .increment_below("quota:carol:2026-01", u64::MAX, expires)
                .await
                .unwrap(),
            Some(expected)
        );
    }
}

fn connection(name: &str, source: Source, minutes: i64) -> Connection {
    Connection::new(member(name), source, epoch() + Span::minutes(minutes))
}

pub async fn connection_is_unique_per_user_and_source(b: &TestBackend) {
    let store = &b.services.connections;
    let racers = (0..16).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .insert_if_absent(&connection("alice", Source::Fathom, 0))
                .await
                .unwrap()
        })
    });
    let new = join_all(racers)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap() == Inserted::New)
        .count();
    assert_eq!(new, 1);
    assert_eq!(
        store
            .insert_if_absent(&connection("alice", Source::Zoom, 0))
            .await
            .unwrap(),
        Inserted::New
    );
    let mine = store
        .find(&member("alice"), Source::Fathom)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.get(&mine.id).await.unwrap().unwrap(), mine);
    assert_eq!(
        store.list_for_owner(&member("alice")).await.unwrap().len(),
        2
    );
    assert!(store
        .find(&member("bob"), Source::Fathom)
        .await
        .unwrap()
        .is_none());
}

pub async fn connection_replace_detects_lost_updates(b: &TestBackend) {
    let store = &b.services.connections;
    let mut conn = connection("alice", Source::Fathom, 0);
    conn.account_email = Some("Alice@Example.com".into());
    conn.route_key = Some("alice@example.com".into());
    store.insert_if_absent(&conn).await.unwrap();
    let mut first = store.get(&conn.id).await.unwrap().unwrap();
    let mut second = first.clone();
    first.status = ConnectionStatus::Paused;
    assert!(store.replace(&first).await.unwrap());
    second.last_error = Some("stale writer".into());
    assert!(
        !store.replace(&second).await.unwrap(),
        "a write based on an old version is refused"
    );
    let stored = store.get(&conn.id).await.unwrap().unwrap();
    assert_eq!(stored.status, ConnectionStatus::Paused);
    assert_eq!(stored.version, first.version + 1);
    assert_eq!(stored.last_error, None);
    let by_route = store
        .find_by_route_key(Source::Fathom, "alice@example.com")
        .await
        .unwrap();
    assert_eq!(by_route.len(), 1);
    assert!(store
        .find_by_route_key(Source::Zoom, "alice@example.com")
        .await
        .unwrap()
        .is_empty());
    // A changed route key moves the connection in the index.
    let mut moved = store.get(&conn.id).await.unwrap().unwrap();
    moved.route_key = Some("acct_1:user_1".into());
    assert!(store.replace(&moved).await.unwrap());
    assert!(store
        .find_by_route_key(Source::Fathom, "alice@example.com")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .find_by_route_key(Source::Fathom, "acct_1:user_1")
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn connections_page_through_all_but_disconnected(b: &TestBackend) {
    let store = &b.services.connections;
    for i in 0..23 {
        let mut conn = connection(&format!("user-{i}"), Source::Fathom, i);
        if i % 7 == 3 {
            conn.status = ConnectionStatus::Disconnected;
        }
        store.insert_if_absent(&conn).await.unwrap();
    }
    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store.list_all(cursor.as_deref(), 5).await.unwrap();
        for c in &page.items {
            assert!(seen.insert(c.id.clone()), "no connection twice");
            assert_ne!(c.status, ConnectionStatus::Disconnected);
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 20);
}

pub async fn jobs_are_scoped_and_newest_first(b: &TestBackend) {
    let store = &b.services.jobs;
    let alice = member("alice");
    let mut ids = Vec::new();
    for i in 0..3 {
        let job = SyncJob::new(
            alice.clone(),
            Source::Fathom,
            JobKind::Manual,
            epoch() + Span::minutes(i),
        );
        store.put(&job).await.unwrap();
        ids.push(job.id);
    }
    let upload_job = SyncJob::new(
        alice.clone(),
        Source::Upload,
        JobKind::Upload,
        epoch() + Span::minutes(9),
    );
    store.put(&upload_job).await.unwrap();
    let mut job = store.get(&alice, &ids[0]).await.unwrap().unwrap();
    job.counts.imported = 4;
    store.put(&job).await.unwrap();
    assert_eq!(
        store
            .get(&alice, &ids[0])
            .await
            .unwrap()
            .unwrap()
            .counts
            .imported,
        4
    );
    assert!(store.get(&member("bob"), &ids[0]).await.unwrap().is_none());
    let listed: Vec<_> = store
        .list(&alice, Some(Source::Fathom), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(listed, ids.iter().rev().cloned().collect::<Vec<_>>());
    assert_eq!(store.list(&alice, None, 10).await.unwrap().len(), 4);
    assert!(store
        .list(&member("bob"), None, 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn unfinished_jobs_are_found_across_users_oldest_first(b: &TestBackend) {
    let jobs = &b.services.jobs;
    let start = epoch();
    let mut expected = Vec::new();
    for (i, who) in ["alice", "bob", "carol", "dave"].into_iter().enumerate() {
        let saved = start + Span::minutes(i as i64 * 10);
        // Bob's and Carol's jobs are queued: a scheduled one never started, a manual one
        // waiting for (or never sent) its message.
        let kind = if who == "carol" {
            JobKind::Manual
        } else {
            JobKind::Scheduled
        };
        let mut job = SyncJob::new(member(who), Source::Fathom, kind, saved);
        if who == "alice" || who == "dave" {
            job.status = crate::domain::JobStatus::Running;
        }
        job.updated_at = saved;
        jobs.put(&job).await.unwrap();
        expected.push(job.id.clone());
    }
    // A finished job is not among them, however old.
    let mut finished = SyncJob::new(member("alice"), Source::Fathom, JobKind::Manual, start);
    finished.status = crate::domain::JobStatus::Running;
    jobs.put(&finished).await.unwrap();
    finished.finish(start);
    jobs.put(&finished).await.unwrap();

    let found = jobs
        .list_unfinished_before(start + Span::minutes(25), None, 10)
        .await
        .unwrap();
    let ids: Vec<_> = found.items.iter().map(|j| j.id.clone()).collect();
    assert_eq!(
        ids,
        expected[..3],
        "unfinished before the cutoff, oldest first"
    );
    assert!(found.next_cursor.is_none(), "the cutoff ends the listing");

    // A page at a time, each taking up after the last.
    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let page = jobs
            .list_unfinished_before(start + Span::hours(1), cursor.as_deref(), 3)
            .await
            .unwrap();
        assert!(page.items.len() <= 3, "at most the limit");
        paged.extend(page.items.into_iter().map(|j| j.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, expected);
}

fn upload(owner: &Tenant, minutes: i64) -> Upload {
    Upload::pending(
        UploadId::new(),
        owner.clone(),
        "call.mp3".into(),
        "audio/mpeg".into(),
        1234,
        "uploads/x/call.mp3".into(),
        epoch() + Span::minutes(minutes),
    )
}

pub async fn uploads_are_scoped(b: &TestBackend) {
    let alice = member("alice");
    let upload = upload(&alice, 0);
    b.services.uploads.put(&upload).await.unwrap();
    assert_eq!(
        b.services.uploads.get(&alice, &upload.id).await.unwrap(),
        Some(upload.clone())
    );
    assert_eq!(
        b.services
            .uploads
            .get(&member("bob"), &upload.id)
            .await
            .unwrap(),
        None
    );
    let later = self::upload(&alice, 5);
    b.services.uploads.put(&later).await.unwrap();
    b.services
        .uploads
        .put(&self::upload(&member("bob"), 9))
        .await
        .unwrap();
    let listed = b.services.uploads.list(&alice, 10).await.unwrap();
    assert_eq!(listed, vec![later, upload], "the owner's, newest first");
}

pub async fn queue_redelivers_what_was_not_deleted(b: &TestBackend) {
    let queue = &b.services.sync_queue;
    queue.send(r#"{"n":1}"#).await.unwrap();
    let first = queue.receive(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].receive_count, 1);
    assert!(
        queue
            .receive(10, Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty(),
        "hidden while in flight"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let again = queue.receive(10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(again.len(), 1, "comes back after the visibility timeout");
    assert_eq!(again[0].body, r#"{"n":1}"#);
    assert_eq!(again[0].receive_count, 2);
    queue.delete(&again[0].receipt).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        queue
            .receive(10, Duration::from_secs(0))
            .await
            .unwrap()
            .is_empty(),
        "deleted for good"
    );
}

pub async fn queue_dead_letters_after_max_receives(b: &TestBackend) {
    let queue = &b.services.transcribe_queue;
    queue.send("poison").await.unwrap();
    for attempt in 1..=b.max_receives {
        let got = queue.receive(1, Duration::from_secs(0)).await.unwrap();
        assert_eq!(got.len(), 1, "receive {attempt} delivers");
        assert_eq!(got[0].receive_count, attempt);
    }
    assert!(
        queue
            .receive(1, Duration::from_secs(0))
            .await
            .unwrap()
            .is_empty(),
        "no further delivery"
    );
    let dead = queue.receive_dead_letters(10).await.unwrap();
    assert_eq!(
        dead.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        vec!["poison"]
    );
}

pub async fn queue_batch_send_delivers_each_once(b: &TestBackend) {
    let queue = &b.services.sync_queue;
    let bodies: Vec<String> = (0..25).map(|i| format!("message-{i}")).collect();
    queue.send_batch(&bodies).await.unwrap();
    let mut seen = HashSet::new();
    for _ in 0..20 {
        let got = queue.receive(10, Duration::from_secs(60)).await.unwrap();
        for m in &got {
            assert!(seen.insert(m.body.clone()), "{} delivered twice", m.body);
            queue.delete(&m.receipt).await.unwrap();
        }
        if seen.len() == bodies.len() {
            break;
        }
    }
    assert_eq!(seen, bodies.into_iter().collect::<HashSet<_>>());
}

pub async fn queue_delayed_message_waits_its_delay(b: &TestBackend) {
    let queue = &b.services.sync_queue;
    queue
        .send_delayed("later", Duration::from_secs(1))
        .await
        .unwrap();
    assert!(
        queue
            .receive(10, Duration::from_secs(30))
            .await
            .unwrap()
            .is_empty(),
        "not visible before its delay"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = queue.receive(10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(
        got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        vec!["later"]
    );
}

pub async fn blobs_round_trip_and_delete(b: &TestBackend) {
    let blobs = &b.services.blobs;
    let payload = bytes::Bytes::from(vec![7u8; 300_000]);
    blobs
        .put(
            "webhooks/fathom/msg_1.json",
            payload.clone(),
            "application/json",
        )
        .await
        .unwrap();
    assert_eq!(
        blobs
            .get_bytes("webhooks/fathom/msg_1.json")
            .await
            .unwrap()
            .as_deref(),
        Some(&payload[..])
    );
    assert!(blobs
        .get_bytes("webhooks/fathom/missing.json")
        .await
        .unwrap()
        .is_none());
    blobs.delete("webhooks/fathom/msg_1.json").await.unwrap();
    assert!(blobs
        .get_bytes("webhooks/fathom/msg_1.json")
        .await
        .unwrap()
        .is_none());
    blobs.delete("webhooks/fathom/msg_1.json").await.unwrap();
    // A small one (a webhook payload), replaced, then deleted.
    for body in [&b"{\"id\": 1}"[..], &b"{\"id\": 2}"[..]] {
        blobs
            .put(
                "webhooks/fathom/msg_2.json",
                bytes::Bytes::copy_from_slice(body),
                "application/json",
            )
            .await
            .unwrap();
    }
    assert_eq!(
        blobs
            .get_bytes("webhooks/fathom/msg_2.json")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"{\"id\": 2}"[..])
    );
    blobs.delete("webhooks/fathom/msg_2.json").await.unwrap();
    assert!(blobs
        .get_bytes("webhooks/fathom/msg_2.json")
        .await
        .unwrap()
        .is_none());
    let presigned = blobs
        .presign_put(
            "uploads/alice/u1/call.mp3",
            "audio/mpeg",
            70_000,
            Duration::from_secs(900),
        )
        .await
        .unwrap();
    assert_eq!(presigned.method, "PUT");
    assert!(presigned.url.starts_with("http"));
    assert!(presigned.expires_at > chrono::Utc::now());
    // What the uploader must send, and nothing a browser refuses to be given.
    let header = |name: &str| presigned.headers.get(name).map(String::as_str);
    assert_eq!(
        (header("content-type"), header("if-none-match")),
        (Some("audio/mpeg"), Some("*"))
    );
    for forbidden in ["host", "content-length"] {
        assert_eq!(header(forbidden), None, "{:?}", presigned.headers);
    }
}

fn delivery(owner: Option<&str>, source: Source, minutes: i64) -> DeliveryRecord {
    let received_at = epoch() + Span::minutes(minutes);
    DeliveryRecord {
        id: format!("{}-{source}-{minutes}", owner.unwrap_or("unowned")),
        source,
        owner: owner.map(member),
        connection_id: None,
        webhook_id: Some(format!("msg_{minutes}")),
        received_at,
        status: DeliveryStatus::Accepted,
        http_status: 202,
        signature_valid: true,
        error: None,
        header_names: vec!["content-type".into(), "webhook-id".into()],
        body_bytes: 51_200,
        expires_at: received_at + Span::days(30),
    }
}

pub async fn delivery_log_is_per_owner_and_source_newest_first_until_expiry(b: &TestBackend) {
    let log = &b.services.deliveries;
    for minutes in [3, 0, 4, 1, 2] {
        log.record(&delivery(Some("alice"), Source::Fathom, minutes))
            .await
            .unwrap();
    }
    let mut refused = delivery(Some("bob"), Source::Fathom, 2);
    refused.status = DeliveryStatus::InvalidSignature;
    refused.http_status = 401;
    refused.signature_valid = false;
    refused.error = Some("no v1 signature matches".into());
    log.record(&refused).await.unwrap();
    log.record(&delivery(None, Source::Fathom, 3))
        .await
        .unwrap();
    log.record(&delivery(Some("alice"), Source::Zoom, 9))
        .await
        .unwrap();

    let now = epoch() + Span::hours(1);
    let alice = member("alice");
    let newest = log
        .list(Some(&alice), Source::Fathom, 3, now)
        .await
        .unwrap();
    assert_eq!(
        newest.iter().map(|d| d.received_at).collect::<Vec<_>>(),
        [4, 3, 2].map(|m| epoch() + Span::minutes(m)),
        "newest first, up to the limit, only this source"
    );
    assert_eq!(newest[0], delivery(Some("alice"), Source::Fathom, 4));
    assert_eq!(
        log.list(Some(&member("bob")), Source::Fathom, 10, now)
            .await
            .unwrap(),
        vec![refused],
        "each owner sees only their own log"
    );
    let unowned = log.list(None, Source::Fathom, 10, now).await.unwrap();
    assert_eq!(unowned, vec![delivery(None, Source::Fathom, 3)]);

    // Thirty days after minute 2, attempts from minutes 0 to 2 have expired.
    let later = epoch() + Span::days(30) + Span::minutes(2);
    let left = log
        .list(Some(&alice), Source::Fathom, 10, later)
        .await
        .unwrap();
    assert_eq!(
        left.iter().map(|d| d.received_at).collect::<Vec<_>>(),
        [4, 3].map(|m| epoch() + Span::minutes(m)),
        "expired attempts are never listed"
    );
}

pub async fn held_deliveries_are_taken_once_and_never_after_expiry(b: &TestBackend) {
    let log = &b.services.deliveries;
    let now = epoch();
    let until = now + Span::days(30);
    for key in ["msg_b", "msg_a", "msg_c"] {
        log.hold("paused:con_1", key, &format!("first {key}"), until)
            .await
            .unwrap();
    }
    log.hold("paused:con_1", "msg_a", "second msg_a", until)
        .await
        .unwrap();
    log.hold("paused:con_2", "msg_b", "other holder", until)
        .await
        .unwrap();
    let held = log.held("paused:con_1", now).await.unwrap();
    assert_eq!(
        held.iter()
            .map(|h| (h.key.as_str(), h.value.as_str()))
            .collect::<Vec<_>>(),
        [
            ("msg_a", "second msg_a"),
            ("msg_b", "first msg_b"),
            ("msg_c", "first msg_c")
        ],
        "in key order; holding a key again replaces its value"
    );

    let takers = (0..16).map(|_| {
        let log = log.clone();
        tokio::spawn(async move { log.take_held("paused:con_1", "msg_b", now).await.unwrap() })
    });
    let taken: Vec<String> = join_all(takers)
        .await
        .into_iter()
        .filter_map(|r| r.unwrap())
        .collect();
    assert_eq!(taken, ["first msg_b"], "taken exactly once");
    assert_eq!(
        log.held("paused:con_1", now)
            .await
            .unwrap()
            .iter()
            .map(|h| h.key.as_str())
            .collect::<Vec<_>>(),
        ["msg_a", "msg_c"]
    );
    assert_eq!(
        log.held("paused:con_2", now).await.unwrap().len(),
        1,
        "other holders keep theirs"
    );

    log.hold("paused:con_1", "msg_d", "short", now + Span::minutes(5))
        .await
        .unwrap();
    let later = now + Span::minutes(10);
    assert!(log
        .held("paused:con_1", later)
        .await
        .unwrap()
        .iter()
        .all(|h| h.key != "msg_d"));
    assert_eq!(
        log.take_held("paused:con_1", "msg_d", later).await.unwrap(),
        None,
        "an expired item is never taken"
    );
}

fn endpoint(owner: &Tenant, minute: i64) -> WebhookEndpoint {
    WebhookEndpoint {
        id: EndpointId::new(),
        owner: owner.clone(),
        url: format!("https://hooks.example.com/{minute}"),
        events: vec![EventType::RecordingCreated],
        description: Some("crm".into()),
        enabled: true,
        disabled_reason: None,
        secrets: vec![],
        failing_since: None,
        created_at: epoch() + Span::minutes(minute),
        updated_at: epoch() + Span::minutes(minute),
        version: 0,
    }
}

pub async fn webhook_endpoints_are_per_workspace_and_replaced_by_version(b: &TestBackend) {
    let (ann, ben) = (teammate("acme", "ann"), teammate("acme", "ben"));
    let olga = teammate("globex", "olga");
    let store = &b.services.endpoints;
    let (first, second, theirs) = (endpoint(&ann, 1), endpoint(&ben, 2), endpoint(&olga, 0));
    for e in [&second, &first, &theirs] {
        store.insert(e).await.unwrap();
    }
    let listed = store.list(&ann.workspace).await.unwrap();
    assert_eq!(listed, vec![first.clone(), second.clone()], "oldest first");
    assert_eq!(
        store.list(&olga.workspace).await.unwrap(),
        vec![theirs.clone()]
    );
    assert_eq!(
        store.get(&olga.workspace, &first.id).await.unwrap(),
        None,
        "read by key, another workspace's endpoint is not there"
    );

    // Two writers of one version: one wins, the other must read again.
    let mut disabled = first.clone();
    disabled.enabled = false;
    let mut renamed = first.clone();
    renamed.url = "https://hooks.example.com/renamed".into();
    assert!(store.replace(&disabled).await.unwrap());
    assert!(
        !store.replace(&renamed).await.unwrap(),
        "a lost update is refused"
    );
    let stored = store.get(&ann.workspace, &first.id).await.unwrap().unwrap();
    assert_eq!((stored.enabled, stored.version), (false, 1));
    assert_eq!(stored.url, first.url);

    store.delete(&ann.workspace, &first.id).await.unwrap();
    assert_eq!(store.get(&ann.workspace, &first.id).await.unwrap(), None);
    assert!(
        !store.replace(&stored).await.unwrap(),
        "a deleted endpoint is not written back"
    );
    assert_eq!(store.list(&ann.workspace).await.unwrap(), vec![second]);
}

pub async fn delivery_attempts_are_per_endpoint_newest_first_until_expiry(b: &TestBackend) {
    let ann = teammate("acme", "ann");
    let store = &b.services.endpoints;
    let (one, two) = (endpoint(&ann, 0), endpoint(&ann, 1));
    let attempt = |endpoint: &WebhookEndpoint, minute: i64| {
        let at = epoch() + Span::minutes(minute);
        DeliveryAttempt {
            id: format!("att-{minute}"),
            owner: ann.clone(),
            endpoint_id: endpoint.id.clone(),
            event_id: "evt_1".into(),
            event_type: EventType::RecordingCreated,
            attempt: minute as u32 + 1,
            at,
            status: Some(500),
            latency_ms: 12,
            outcome: AttemptOutcome::Retrying,
            error: Some("the endpoint answered 500".into()),
            response_excerpt: None,
            next_attempt_at: Some(at + Span::seconds(5)),
            expires_at: at + ATTEMPT_RETENTION,
        }
    };
    for minute in 0..4 {
        store.record_attempt(&attempt(&one, minute)).await.unwrap();
    }
    store.record_attempt(&attempt(&two, 9)).await.unwrap();
    let now = epoch() + Span::hours(1);
    let minutes = |attempts: Vec<DeliveryAttempt>| {
        attempts
            .iter()
            .map(|a| (a.at - epoch()).num_minutes())
            .collect::<Vec<_>>()
    };
    let listed = store
        .attempts(&ann.workspace, &one.id, 3, now)
        .await
        .unwrap();
    assert_eq!(listed[0], attempt(&one, 3));
    assert_eq!(minutes(listed), [3, 2, 1], "newest first, up to the limit");
    assert_eq!(
        minutes(
            store
                .attempts(&ann.workspace, &two.id, 10, now)
                .await
                .unwrap()
        ),
        [9],
        "each endpoint's own"
    );
    let later = epoch() + ATTEMPT_RETENTION + Span::minutes(1);
    assert_eq!(
        minutes(
            store
                .attempts(&ann.workspace, &one.id, 10, later)
                .await
                .unwrap()
        ),
        [3, 2],
        "expired attempts are not listed"
    );
}

pub async fn derived_documents_are_per_member_and_written_by_version(b: &TestBackend) {
    let (ann, ben) = (teammate("acme", "ann"), teammate("acme", "ben"));
    let store = &b.services.derived;
    assert!(store
        .put(&ann, "contact", "c2", "{\"n\":2}", None)
        .await
        .unwrap());
    assert!(store
        .put(&ann, "contact", "c1", "{\"n\":1}", None)
        .await
        .unwrap());
    assert!(store.put(&ann, "task", "t1", "{}", None).await.unwrap());
    assert!(store
        .put(&ben, "contact", "c1", "{\"ben\":1}", None)
        .await
        .unwrap());
    assert!(
        !store.put(&ann, "contact", "c1", "{}", None).await.unwrap(),
        "a second first write is refused"
    );

    let stored = store.get(&ann, "contact", "c1").await.unwrap().unwrap();
    assert_eq!((stored.body.as_str(), stored.version), ("{\"n\":1}", 1));
    // Many writers of one version: exactly one wins.
    let ann_ref = &ann;
    let writes = join_all((0..8).map(|i| {
        let body = format!("{{\"n\":{}}}", 10 + i);
        async move {
            store
                .put(ann_ref, "contact", "c1", &body, Some(1))
                .await
                .unwrap()
        }
    }))
    .await;
    assert_eq!(writes.iter().filter(|w| **w).count(), 1);
    assert_eq!(
        store
            .get(&ann, "contact", "c1")
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );

    let ids: Vec<String> = store
        .list(&ann, "contact")
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, ["c1", "c2"], "one kind, in id order");
    assert_eq!(
        store
            .get(&ben, "contact", "c1")
            .await
            .unwrap()
            .unwrap()
            .body,
        "{\"ben\":1}",
        "each member's own"
    );
    store.clear(&ann, "contact").await.unwrap();
    assert!(store.list(&ann, "contact").await.unwrap().is_empty());
    assert_eq!(
        store.list(&ann, "task").await.unwrap().len(),
        1,
        "other kinds stay"
    );
    assert_eq!(
        store.list(&ben, "contact").await.unwrap().len(),
        1,
        "other members stay"
    );
}

fn derived_write(kind: &str, id: &str, body: Option<&str>, expected: Option<u64>) -> DerivedWrite {
    DerivedWrite {
        kind: kind.to_owned(),
        id: id.to_owned(),
        body: body.map(str::to_owned),
        expected,
    }
}

pub async fn derived_documents_change_together_or_not_at_all(b: &TestBackend) {
    let (ann, ben) = (teammate("acme", "ann"), teammate("acme", "ben"));
    let store = &b.services.derived;
    // A summary and its first link, written together.
    assert!(store
        .write_together(
            &ann,
            &[
                derived_write("summary", "s1", Some("{\"n\":1}"), None),
                derived_write("link", "s1/r1", Some("{\"r\":1}"), None),
            ],
        )
        .await
        .unwrap());
    // One expectation fails (the summary is at version 1, not absent): nothing is written.
    assert!(!store
        .write_together(
            &ann,
            &[
                derived_write("link", "s1/r2", Some("{\"r\":2}"), None),
                derived_write("summary", "s1", Some("{\"n\":2}"), None),
            ],
        )
        .await
        .unwrap());
    assert!(store.get(&ann, "link", "s1/r2").await.unwrap().is_none());
    assert_eq!(
        store
            .get(&ann, "summary", "s1")
            .await
            .unwrap()
            .unwrap()
            .body,
        "{\"n\":1}"
    );
    // Many writers of one version, each with a link of its own: exactly one lands, whole.
    let ann_ref = &ann;
    let writes = join_all((2..10).map(|i| async move {
        let (body, link) = (format!("{{\"n\":{i}}}"), format!("s1/r{i}"));
        let writes = [
            derived_write("summary", "s1", Some(&body), Some(1)),
            derived_write("link", &link, Some("{}"), None),
        ];
        store.write_together(ann_ref, &writes).await.unwrap()
    }))
    .await;
    assert_eq!(writes.iter().filter(|w| **w).count(), 1);
    let links = store.list_prefixed(&ann, "link", "s1/").await.unwrap();
    assert_eq!(links.len(), 2, "the first link and the winner's: {links:?}");
    let summary = store.get(&ann, "summary", "s1").await.unwrap().unwrap();
    assert_eq!(summary.version, 2);
    let winner = &links[1].0["s1/r".len()..];
    assert_eq!(summary.body, format!("{{\"n\":{winner}}}"));

    // Removing on a version; an expected absence holds only when nothing is there.
    let r1 = store.get(&ann, "link", "s1/r1").await.unwrap().unwrap();
    assert!(!store
        .write_together(
            &ann,
            &[derived_write("link", "s1/r1", None, Some(r1.version + 1))]
        )
        .await
        .unwrap());
    assert!(!store
        .write_together(&ann, &[derived_write("link", "s1/r1", None, None)])
        .await
        .unwrap());
    assert!(store
        .write_together(
            &ann,
            &[
                derived_write("link", "s1/r1", None, Some(r1.version)),
                derived_write("link", "s1/gone", None, None),
            ],
        )
        .await
        .unwrap());
    assert!(store.get(&ann, "link", "s1/r1").await.unwrap().is_none());

    // Listing by prefix: one summary's links, in id order, the member's own.
    for (owner, id) in [
        (&ann, "s10/r1"),
        (&ann, "s2/r1"),
        (&ann, "s1"),
        (&ben, "s1/r7"),
    ] {
        assert!(store.put(owner, "link", id, "{}", None).await.unwrap());
    }
    let ids = |listed: Vec<(String, crate::ports::Versioned)>| -> Vec<String> {
        listed.into_iter().map(|(id, _)| id).collect()
    };
    assert_eq!(
        ids(store.list_prefixed(&ann, "link", "s1/").await.unwrap()),
        [format!("s1/r{winner}")]
    );
    assert_eq!(
        ids(store.list_prefixed(&ann, "link", "s").await.unwrap()),
        ["s1", &format!("s1/r{winner}"), "s10/r1", "s2/r1"]
    );
    assert_eq!(store.list(&ann, "link").await.unwrap().len(), 4);
}

pub async fn recordings_read_back_whole(b: &TestBackend) {
    let alice = member("alice");
    let store = &b.services.recordings;
    let mut rec = recording(
        &alice,
        meeting(Source::Fathom, "m-1", "Quarterly Review", 0),
    );
    assert!(rec.search_text.contains("quarterly review"));
    store.insert_if_absent(&rec).await.unwrap();
    assert_eq!(
        store.get(&alice, &rec.id).await.unwrap().as_ref(),
        Some(&rec)
    );
    let key = (rec.source, rec.external_id.clone());
    let found = store.find_by_key(&alice, key.0, &key.1).await.unwrap();
    assert_eq!(found.as_ref(), Some(&rec));
    rec.title = "Quarterly Review, rescheduled".into();
    rec.search_text = "quarterly review, rescheduled".into();
    store.update(&rec).await.unwrap();
    let listed = store
        .list(
            &alice,
            &RecordingQuery {
                limit: 10,
                text: Some("rescheduled".into()),
                ..RecordingQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(listed.items, [rec], "with its search text");
}
