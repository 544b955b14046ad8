//! What the Import Hub asks of the API beyond syncing: who the caller is, the month's usage,
//! how each source connects, a running job's total, and the failed-imports list with its
//! retries — against the fake Fathom.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use system_tests::fathom_world::{fake_options, world, world_with, APP};
use system_tests::{assert_error, eventually, Settings};

#[tokio::test]
async fn me_names_the_user_and_their_workspace_and_role() {
    let w = world(0).await;
    let (status, me) = w.app.get("/me", Some("alice")).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        me,
        json!({"user_id": "alice", "workspace_id": null, "role": "admin", "personal": true})
    );
    w.app.join("ben", "acme", "member");
    let (_, ben) = w.app.get("/me", Some("ben")).await;
    assert_eq!(
        ben,
        json!({"user_id": "ben", "workspace_id": "acme", "role": "member", "personal": false})
    );
    assert_error(
        &w.app.get("/me", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
}

#[tokio::test]
async fn usage_counts_the_months_imports_with_and_without_a_limit() {
    let w = world(3).await;
    let (_, before) = w.app.get("/usage", Some("alice")).await;
    assert_eq!(before["imports_this_month"], 0, "{before}");
    assert_eq!(before["limit"], Value::Null, "no limit is set");
    let resets: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(before["resets_at"].clone()).unwrap();
    assert!(resets > chrono::Utc::now() && resets.format("%d %H:%M").to_string() == "01 00:00");
    w.connect_and_sync("alice").await;
    let (_, after) = w.app.get("/usage", Some("alice")).await;
    assert_eq!(after["imports_this_month"], 3, "{after}");

    let limited = world_with(
        fake_options(),
        3,
        Settings::default().set("IMPORTS_PER_MONTH", "10"),
        |s| s,
    )
    .await;
    limited.connect_and_sync("alice").await;
    let (_, usage) = limited.app.get("/usage", Some("alice")).await;
    assert_eq!(
        (usage["imports_this_month"].clone(), usage["limit"].clone()),
        (json!(3), json!(10)),
        "{usage}"
    );
}

#[tokio::test]
async fn each_source_says_how_it_connects() {
    let w = world(0).await;
    let (_, sources) = w.app.get("/sources", Some("alice")).await;
    let methods = |source: &str| {
        sources["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["source"] == source)
            .map(|s| s["connect_methods"].clone())
            .unwrap()
    };
    assert_eq!(methods("fathom"), json!(["oauth", "api_key"]));
    assert_eq!(methods("upload"), json!([]), "uploads need no connection");
}

#[tokio::test]
async fn a_running_sync_of_selected_meetings_shows_its_total() {
    let w = world(12).await;
    w.connect_and_sync("alice").await;
    let ids: Vec<String> = w
        .recordings("alice")
        .await
        .iter()
        .map(|r| r["external_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 12);

    // Ten meetings a page: the sync finishes page one, then waits on page two.
    w.fake.hold_list_calls_after(1);
    let body = json!({"source": "fathom", "external_ids": ids});
    let (status, answer) = w.app.send_json(Method::POST, "/sync", "alice", &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let path = format!("/jobs/{}", answer["job_id"].as_str().unwrap());
    eventually(30, "page one is done", || async {
        w.app.get(&path, Some("alice")).await.1["progress"]["current"] == 10
    })
    .await;
    let (_, running) = w.app.get(&path, Some("alice")).await;
    assert_eq!(running["status"], "running", "{running}");
    assert_eq!(running["progress"], json!({"current": 10, "total": 12}));
    w.fake.release_held_calls();
    let done = w
        .finished("alice", answer["job_id"].as_str().unwrap())
        .await;
    assert_eq!(done["progress"], json!({"current": 12, "total": 12}));
}

async fn failed_imports(w: &system_tests::fathom_world::World) -> Vec<Value> {
    let (status, body) = w.app.get("/failed-imports", Some("alice")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn failed_imports_are_listed_with_titles_and_leave_the_list_once_retried() {
    let w = world(6).await;
    let meetings = w.fake.meetings();
    let broken = [&meetings[1], &meetings[4]];
    for meeting in broken {
        w.fake.fail_recording(meeting.recording_id);
    }
    assert_eq!(
        w.connect_with_oauth("alice").await,
        format!("{APP}?connected=fathom")
    );
    let job = w.initial_job("alice").await;
    assert_eq!(job["counts"]["failed"], 2, "{job}");

    let items = failed_imports(&w).await;
    assert_eq!(items.len(), 2, "{items:?}");
    for item in &items {
        let meeting = broken
            .iter()
            .find(|m| {
                item["external_id"].as_str().and_then(|id| id.parse().ok()) == Some(m.recording_id)
            })
            .expect("a failed meeting");
        assert_eq!(item["kind"], "sync");
        assert_eq!(item["source"], "fathom");
        assert_eq!(item["job_id"], job["id"]);
        assert_eq!(
            item["title"],
            meeting.title.as_str(),
            "the title, not only an id"
        );
        assert!(
            item["reason"].as_str().unwrap().contains("unavailable"),
            "{item}"
        );
    }
    // Another user sees none of them.
    assert!(w.app.get("/failed-imports", Some("bob")).await.1["items"]
        .as_array()
        .unwrap()
        .is_empty());

    // One heals: "Retry all" retries both in one job that names the job it retries.
    w.fake.heal_recording(broken[0].recording_id);
    let (status, answer) = w
        .app
        .send_json(Method::POST, "/failed-imports/retry", "alice", &json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let job_ids = answer["job_ids"].as_array().unwrap();
    assert_eq!(job_ids.len(), 1, "{answer}");
    let retry = w.finished("alice", job_ids[0].as_str().unwrap()).await;
    assert_eq!(retry["retry_of"], job["id"]);
    assert_eq!(
        (
            retry["counts"]["imported"].clone(),
            retry["counts"]["failed"].clone()
        ),
        (json!(1), json!(1)),
        "{retry}"
    );
    let left = failed_imports(&w).await;
    assert_eq!(left.len(), 1, "the imported one left the list: {left:?}");
    assert_eq!(left[0]["external_id"], broken[1].recording_id.to_string());
    assert_eq!(left[0]["job_id"], retry["id"], "its newest failure");

    // The other heals and is retried alone; nothing is left to retry.
    w.fake.heal_recording(broken[1].recording_id);
    let path = format!("/jobs/{}/retry", retry["id"].as_str().unwrap());
    let body = json!({"external_ids": [broken[1].recording_id.to_string()]});
    let (status, single) = w.app.send_json(Method::POST, &path, "alice", &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{single}");
    w.finished("alice", single["job_id"].as_str().unwrap())
        .await;
    assert!(failed_imports(&w).await.is_empty());
    assert_eq!(w.recordings("alice").await.len(), 6);
    assert_error(
        &w.app
            .send_json(Method::POST, "/failed-imports/retry", "alice", &json!({}))
            .await,
        StatusCode::CONFLICT,
        "nothing_to_retry",
    );
}

#[tokio::test]
async fn retry_all_leaves_out_a_paused_source_and_says_why() {
    let w = world(3).await;
    let broken = w.fake.meetings()[0].recording_id;
    w.fake.fail_recording(broken);
    w.connect_with_oauth("alice").await;
    assert_eq!(w.initial_job("alice").await["counts"]["failed"], 1);
    let (status, _) = w
        .app
        .send_json(
            Method::PATCH,
            "/sources/fathom",
            "alice",
            &json!({"active": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = w
        .app
        .send_json(Method::POST, "/failed-imports/retry", "alice", &json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["job_ids"], json!([]));
    assert_eq!(answer["not_retried"][0]["source"], "fathom");
    assert!(
        answer["not_retried"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("paused"),
        "{answer}"
    );
    assert_eq!(failed_imports(&w).await.len(), 1, "still listed");
}

#[tokio::test]
async fn a_failure_stays_listed_behind_many_newer_jobs() {
    use pipeline::domain::{JobKind, Source, SyncJob};
    let w = world(3).await;
    let broken = w.fake.meetings()[0].recording_id;
    w.fake.fail_recording(broken);
    w.connect_with_oauth("alice").await;
    assert_eq!(w.initial_job("alice").await["counts"]["failed"], 1);
    // Webhook deliveries and hourly ticks are a job each: 150 newer ones.
    let owner = w.app.tenant("alice");
    for _ in 0..150 {
        let mut job = SyncJob::new(
            owner.clone(),
            Source::Fathom,
            JobKind::Webhook,
            chrono::Utc::now(),
        );
        job.status = pipeline::domain::JobStatus::Completed;
        w.app.services().jobs.put(&job).await.unwrap();
    }
    let items = failed_imports(&w).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["external_id"], broken.to_string());
}
