//! The change feed over HTTP: what an integrating team reads to keep its copy in step.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use system_tests::assert_error;
use system_tests::fathom_world::{world, World};

/// Every change `user` can read, following `next_cursor` `limit` at a time from `cursor`;
/// the changes and the cursor to resume from.
async fn follow(
    w: &World,
    user: &str,
    mut cursor: Option<String>,
    limit: usize,
) -> (Vec<Value>, String) {
    let mut changes = Vec::new();
    loop {
        let path = match &cursor {
            Some(c) => format!("/changes?limit={limit}&cursor={c}"),
            None => format!("/changes?limit={limit}"),
        };
        let (status, page) = w.app.get(&path, Some(user)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        changes.extend(page["items"].as_array().unwrap().iter().cloned());
        let next = page["next_cursor"].as_str().unwrap().to_owned();
        if !page["has_more"].as_bool().unwrap() {
            return (changes, next);
        }
        cursor = Some(next);
    }
}

#[tokio::test]
async fn the_feed_gives_each_import_and_update_once_in_order_and_resumes() {
    let w = world(5).await;
    w.connect_and_sync("alice").await;
    let (changes, cursor) = follow(&w, "alice", None, 2).await;
    assert_eq!(changes.len(), 5, "{changes:?}");
    assert!(changes.iter().all(|c| c["type"] == "recording.created"));
    let recordings = w.recordings("alice").await;
    for change in &changes {
        let stored = recordings
            .iter()
            .find(|r| r["id"] == change["recording_id"])
            .expect("the change names a stored recording");
        assert_eq!(change["recording"]["title"], stored["title"]);
        assert_eq!(change["external_id"], stored["external_id"]);
        assert!(
            change["recording"]["transcript"].is_array(),
            "the whole recording"
        );
    }

    // Nothing new: the cursor stays where the feed ends.
    let (none, same) = follow(&w, "alice", Some(cursor.clone()), 10).await;
    assert!(none.is_empty());
    // A renamed meeting is imported again as an update, read from the saved cursor.
    let renamed = w.fake.meetings()[0].recording_id;
    assert!(w
        .fake
        .update_meeting_title(renamed, "Renamed at the source"));
    w.sync("alice", json!({"source": "fathom"})).await;
    let (updates, _) = follow(&w, "alice", Some(same), 10).await;
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0]["type"], "recording.updated");
    assert_eq!(updates[0]["external_id"], renamed.to_string());
    assert_eq!(updates[0]["recording"]["title"], "Renamed at the source");

    // Another user reads their own feed, and cannot use alice's cursor.
    assert!(follow(&w, "bob", None, 10).await.0.is_empty());
    assert_error(
        &w.app
            .get(&format!("/changes?cursor={cursor}"), Some("bob"))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_cursor",
    );
    assert_error(
        &w.app.get("/changes?cursor=42", Some("alice")).await,
        StatusCode::BAD_REQUEST,
        "invalid_cursor",
    );
}

#[tokio::test]
async fn a_private_sources_changes_reach_only_its_owner() {
    let w = world(3).await;
    w.app.join("ann", "acme", "admin");
    w.app.join("ben", "acme", "member");
    w.connect_and_sync("ann").await;
    let (status, _) = w
        .app
        .send_json(
            Method::PATCH,
            "/sources/fathom",
            "ann",
            &json!({"sharing": "private"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(follow(&w, "ann", None, 10).await.0.len(), 3);
    assert!(
        follow(&w, "ben", None, 10).await.0.is_empty(),
        "ben's feed leaves out ann's private recordings"
    );
}
