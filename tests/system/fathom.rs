//! Fathom end to end: connecting (OAuth and API key), syncing with progress, dedup and
//! updates, token refresh, failures, deadlines, and managing the connection — against the
//! fake Fathom on loopback.

use fakes::fathom::FakeFathomOptions;
use pipeline::domain::{JobKind, Source, SyncJob, SyncScope};
use pipeline::ports::{Clock, TickingClock};
use pipeline::testing::member;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use system_tests::fathom_world::{
    counts, fake_options, url_param, urlencode, world, world_on, world_with, APP,
};
use system_tests::{assert_error, eventually, read, Settings};

#[tokio::test]
async fn oauth_round_trip_connects_registers_the_webhook_and_imports_everything() {
    let w = world(12).await;
    let landing = w.connect_with_oauth("alice").await;
    assert_eq!(landing, format!("{APP}?connected=fathom"));

    let source = w.fathom_source("alice").await;
    assert_eq!(source["status"], "active");
    let connection_id = source["connection_id"].as_str().unwrap().to_owned();
    let hooks = w.fake.webhooks();
    assert_eq!(hooks.len(), 1, "one webhook registered");
    assert_eq!(
        hooks[0].destination_url,
        w.app.url(&format!("/webhooks/fathom/{connection_id}"))
    );

    let job = w.initial_job("alice").await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(counts(&job), (12, 0, 0, 0));
    assert_eq!(job["summary"], "12 new calls imported");
    assert_eq!(w.recordings("alice").await.len(), 12);
    let calls = w.fake.calls();
    assert_eq!(calls.token_authorization_code, 1);
    assert_eq!(
        (calls.list_meetings, calls.transcript, calls.summary),
        (2, 12, 12),
        "OAuth: list, then transcript and summary per meeting"
    );
    assert!(
        w.fake.requests().iter().all(|r| !r
            .query
            .as_deref()
            .unwrap_or("")
            .contains("include_transcript=true")),
        "OAuth never asks for inline transcripts"
    );
    assert_eq!(
        w.fathom_source("alice").await["account_email"],
        "ada@acme.test",
        "learned from the recorder"
    );
}

#[tokio::test]
async fn each_callback_failure_stores_nothing_and_says_which() {
    let w = world(3).await;
    let callback = w.app.url("/oauth/fathom/callback");
    // Unknown state.
    assert_eq!(
        w.follow(&format!("{callback}?code=abc&state=forged")).await,
        format!("{APP}?error=invalid_state")
    );
    // No state at all.
    assert_eq!(
        w.follow(&format!("{callback}?code=abc")).await,
        format!("{APP}?error=invalid_state")
    );

    // A genuine state in the browser that started it, but the code is not one the provider
    // issued.
    let (authorization_url, cookie) = w
        .initiate("fathom", "alice", json!({"return_path": "/settings"}))
        .await;
    let state = url_param(&authorization_url, "state");
    let bad_code = format!("{callback}?code=not-a-real-code&state={state}");
    assert_eq!(
        w.follow_with(&bad_code, Some(&cookie)).await,
        format!("{APP}settings?error=exchange_failed")
    );
    // The same state again: used up.
    assert_eq!(
        w.follow_with(&bad_code, Some(&cookie)).await,
        format!("{APP}?error=invalid_state")
    );

    // A genuine state without a code.
    let (authorization_url, _) = w.initiate("fathom", "alice", json!({})).await;
    let state = url_param(&authorization_url, "state");
    assert_eq!(
        w.follow(&format!("{callback}?state={state}")).await,
        format!("{APP}?error=missing_code")
    );

    // An expired state.
    let services = w.app.services();
    let now = services.clock.now();
    let expired = pipeline::pipeline::oauth_state::OAuthState {
        workspace_id: None,
        user_id: member("alice").user,
        source: Source::Fathom,
        code_verifier: None,
        return_path: "/".into(),
        browser_binding: None,
    };
    let key = pipeline::pipeline::oauth_state::OAuthState::key("old-state");
    services
        .once
        .insert_if_absent(
            &key,
            &expired.to_json(),
            now - chrono::Duration::seconds(1),
            now - chrono::Duration::minutes(11),
        )
        .await
        .unwrap();
    assert_eq!(
        w.follow(&format!("{callback}?code=abc&state=old-state"))
            .await,
        format!("{APP}?error=invalid_state")
    );

    assert_eq!(w.fathom_source("alice").await["status"], "not_connected");
    assert_eq!(
        w.fake.calls().token_authorization_code,
        1,
        "only the genuine-state attempt reached the provider"
    );
    assert!(w.fake.webhooks().is_empty());
    assert!(w.jobs("alice").await.is_empty());

    // Declined consent.
    let denied = world_with(
        FakeFathomOptions {
            deny_consent: true,
            ..fake_options()
        },
        1,
        Settings::default(),
        |s| s,
    )
    .await;
    assert_eq!(
        denied.connect_with_oauth("bob").await,
        format!("{APP}?error=access_denied")
    );
    assert_eq!(denied.fathom_source("bob").await["status"], "not_connected");
}

#[tokio::test]
async fn api_key_sync_imports_37_complete_meetings_once_then_skips_and_updates() {
    let w = world(37).await;
    let (status, source) = w.connect_with_api_key("alice").await;
    assert_eq!(status, StatusCode::OK, "{source}");
    assert_eq!(source["status"], "active");

    let job = w.initial_job("alice").await;
    assert_eq!(counts(&job), (37, 0, 0, 0), "{job}");
    assert_eq!(job["progress"], json!({"current": 37, "total": 37}));
    assert_eq!(
        w.fake.calls().list_meetings,
        1 + 4,
        "the key check, then one list call per 10 meetings"
    );
    assert_eq!(
        (w.fake.calls().transcript, w.fake.calls().summary),
        (0, 0),
        "API key: content comes with the list"
    );

    let recordings = w.recordings("alice").await;
    assert_eq!(recordings.len(), 37);
    let ids: std::collections::HashSet<_> = recordings
        .iter()
        .map(|r| r["external_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 37, "each meeting once");
    let detail = w
        .app
        .get(
            &format!("/recordings/{}", recordings[0]["id"].as_str().unwrap()),
            Some("alice"),
        )
        .await
        .1;
    assert!(
        !detail["transcript"].as_array().unwrap().is_empty(),
        "transcript: {detail}"
    );
    assert!(detail["summary_markdown"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    let participants = detail["participants"].as_array().unwrap();
    assert!(
        participants.iter().any(|p| p["is_external"] == true)
            || participants.iter().all(|p| p["is_external"] == false)
    );
    assert!(!participants.is_empty());

    let again = w.sync("alice", json!({"source": "fathom"})).await;
    assert_eq!(counts(&again), (0, 0, 37, 0), "{again}");
    assert_eq!(
        again["summary"],
        "0 new calls imported, skipped 37 duplicates"
    );

    let changed = w.fake.meetings()[5].recording_id;
    assert!(w.fake.update_meeting_title(changed, "Renamed: board prep"));
    let third = w.sync("alice", json!({"source": "fathom"})).await;
    assert_eq!(counts(&third), (0, 1, 36, 0), "{third}");
    let (_, found) = w.app.get("/recordings?q=board%20prep", Some("alice")).await;
    assert_eq!(found["items"][0]["external_id"], changed.to_string());
    assert_eq!(w.recordings("alice").await.len(), 37);
}

#[tokio::test]
async fn a_bad_api_key_is_refused_and_nothing_is_stored() {
    let w = world(2).await;
    let answer = w
        .app
        .send_json(
            Method::POST,
            "/sources/fathom/api-key",
            "alice",
            &json!({"api_key": "wrong"}),
        )
        .await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_api_key");
    let lists = w.fake.calls().list_meetings;
    for (body, code) in [
        (json!({"api_key": ""}), "invalid_api_key"),
        (json!({"api_key": "key\nwith-newline"}), "invalid_api_key"),
        (json!({"api_key": "key\rx"}), "invalid_api_key"),
        (json!({"api_key": "key\u{0}x"}), "invalid_api_key"),
        (json!({"key": "x"}), "invalid_json"),
    ] {
        let answer = w
            .app
            .send_json(Method::POST, "/sources/fathom/api-key", "alice", &body)
            .await;
        assert_error(&answer, StatusCode::BAD_REQUEST, code);
    }
    assert_eq!(
        w.fake.calls().list_meetings,
        lists,
        "refused before asking Fathom"
    );
    assert_eq!(w.fathom_source("alice").await["status"], "not_connected");
    assert!(w.fake.webhooks().is_empty());
    assert!(w.jobs("alice").await.is_empty());
}

#[tokio::test]
async fn five_workers_needing_a_refresh_make_exactly_one_refresh_call() {
    let w = world(1).await;
    assert_eq!(
        w.connect_with_oauth("alice").await,
        format!("{APP}?connected=fathom")
    );
    w.initial_job("alice").await;
    let services = w.app.services().clone();
    let connection = w.connection("alice").await;
    // The access token is about to expire.
    let soon = services.clock.now() + chrono::Duration::seconds(30);
    pipeline::pipeline::connections::update_connection(
        services.connections.as_ref(),
        &connection.id,
        |c| {
            if let Some(tokens) = c.credentials.oauth.as_mut() {
                tokens.expires_at = Some(soon);
            }
        },
    )
    .await
    .unwrap();
    let workers = (0..5).map(|_| {
        let services = services.clone();
        let id = connection.id.clone();
        tokio::spawn(async move {
            pipeline::pipeline::credentials::credential(&services, &id)
                .await
                .unwrap()
        })
    });
    let credentials: Vec<_> = futures::future::join_all(workers)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(w.fake.calls().token_refresh, 1, "exactly one refresh");
    assert!(
        credentials.windows(2).all(|pair| pair[0] == pair[1]),
        "every worker got the new token"
    );
    // The rotated pair was stored: a later sync works with it.
    let job = w.sync("alice", json!({"source": "fathom"})).await;
    assert_eq!(job["status"], "completed", "{job}");
}

#[tokio::test]
async fn item_failures_are_recorded_and_retried_alone() {
    let w = world(6).await;
    let broken = w.fake.meetings()[2].recording_id;
    w.fake.fail_recording(broken);
    assert_eq!(
        w.connect_with_oauth("alice").await,
        format!("{APP}?connected=fathom")
    );
    let job = w.initial_job("alice").await;
    assert_eq!(job["status"], "completed_with_errors", "{job}");
    assert_eq!(counts(&job), (5, 0, 0, 1));
    assert_eq!(job["failed_items"][0]["external_id"], broken.to_string());
    assert!(
        job["failed_items"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("unavailable"),
        "{job}"
    );
    assert_eq!(job["summary"], "5 new calls imported, 1 failed");

    w.fake.heal_recording(broken);
    let transcripts_before = w.fake.calls().transcript;
    let (status, retry) = w
        .app
        .send_json(
            Method::POST,
            &format!("/jobs/{}/retry", job["id"].as_str().unwrap()),
            "alice",
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{retry}");
    let retried = w.finished("alice", retry["job_id"].as_str().unwrap()).await;
    assert_eq!(counts(&retried), (1, 0, 0, 0), "{retried}");
    assert_eq!(
        w.fake.calls().transcript - transcripts_before,
        1,
        "only the failed meeting is fetched again"
    );
    assert_eq!(w.recordings("alice").await.len(), 6);
    let nothing = w
        .app
        .send_json(
            Method::POST,
            &format!("/jobs/{}/retry", retried["id"].as_str().unwrap()),
            "alice",
            &json!({}),
        )
        .await;
    assert_error(&nothing, StatusCode::CONFLICT, "nothing_to_retry");
}

#[tokio::test]
async fn a_sync_cut_by_its_deadline_continues_with_nothing_lost_or_doubled() {
    // Every reading of the clock moves it 5 s on: a long sync meets its deadline mid-way.
    let clock = Arc::new(TickingClock::new(
        chrono::Utc::now(),
        chrono::Duration::seconds(5),
    ));
    let w = world_on(37, clock.clone()).await;
    let (status, _) = w.connect_with_api_key("alice").await;
    assert_eq!(status, StatusCode::OK);
    w.initial_job("alice").await;
    for _ in 0..3 {
        w.fake.add_meetings(&w.account, 10);
    }
    let services = w.app.services();
    let alice = member("alice");
    // A job run directly with a deadline 3 minutes past the safety margin.
    let mut job = SyncJob::new(alice.clone(), Source::Fathom, JobKind::Manual, clock.now());
    job.scope = SyncScope::default();
    services.jobs.put(&job).await.unwrap();
    let deadline =
        clock.now() + pipeline::pipeline::sync::DEADLINE_MARGIN + chrono::Duration::minutes(3);
    let outcome = pipeline::pipeline::sync::run_sync_job(services, &alice, &job.id, deadline)
        .await
        .unwrap();
    assert_eq!(outcome, pipeline::pipeline::sync::RunOutcome::Continued);
    let partial = services.jobs.get(&alice, &job.id).await.unwrap().unwrap();
    assert!(
        partial.progress.current > 0 && partial.progress.current < 67,
        "stopped mid-way at {}",
        partial.progress.current
    );
    // The continuation runs through the queue and finishes the job.
    let done = w.finished("alice", job.id.as_str()).await;
    assert_eq!(counts(&done), (30, 0, 37, 0), "{done}");
    assert_eq!(w.recordings("alice").await.len(), 67);
}

#[tokio::test]
async fn rate_limits_and_provider_outages_during_a_sync_are_ridden_out() {
    let w = world(25).await;
    let (status, _) = w.connect_with_api_key("alice").await;
    assert_eq!(status, StatusCode::OK);
    w.initial_job("alice").await;
    w.fake.add_meetings(&w.account, 5);
    w.fake.throttle_next(2, Duration::from_millis(50));
    w.fake.fail_next(2, 503);
    let job = w.sync("alice", json!({"source": "fathom"})).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(counts(&job), (5, 0, 25, 0));
    assert!(w.fake.calls().rate_limited >= 2);
}

#[tokio::test]
async fn browsing_marks_synced_meetings_and_selected_meetings_sync_alone() {
    let w = world(14).await;
    let (status, _) = w.connect_with_api_key("alice").await;
    assert_eq!(status, StatusCode::OK);
    w.initial_job("alice").await;
    let fresh = w.fake.add_meetings(&w.account, 3);
    let (status, page) = w.app.get("/meetings?source=fathom", Some("alice")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 10);
    let unsynced: Vec<&str> = items
        .iter()
        .filter(|m| m["synced"] == false)
        .map(|m| m["external_id"].as_str().unwrap())
        .collect();
    let mut expected: Vec<String> = fresh.iter().map(|m| m.recording_id.to_string()).collect();
    expected.sort();
    let mut unsynced_sorted: Vec<String> = unsynced.iter().map(|s| s.to_string()).collect();
    unsynced_sorted.sort();
    assert_eq!(
        unsynced_sorted, expected,
        "the new meetings are the unsynced ones"
    );
    let next = page["next_cursor"].as_str().unwrap();
    let (_, second) = w
        .app
        .get(
            &format!("/meetings?source=fathom&cursor={}", urlencode(next)),
            Some("alice"),
        )
        .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 7);

    let job = w
        .sync(
            "alice",
            json!({"source": "fathom", "external_ids": [unsynced[0], "999999"]}),
        )
        .await;
    assert_eq!(counts(&job), (1, 0, 0, 1), "{job}");
    assert_eq!(
        job["failed_items"][0],
        json!({"external_id": "999999", "reason": "not found in Fathom"})
    );
    assert_eq!(w.recordings("alice").await.len(), 15);

    assert_error(
        &w.app.get("/meetings", Some("alice")).await,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    );
    assert_error(
        &w.app
            .get(
                "/meetings?source=fathom&created_after=yesterday",
                Some("alice"),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    );
    assert_error(
        &w.app.get("/meetings?source=fathom", Some("bob")).await,
        StatusCode::CONFLICT,
        "not_connected",
    );
    // A cursor Fathom never issued is the client's mistake, refused before Fathom is asked.
    let lists = w.fake.calls().list_meetings;
    assert_error(
        &w.app
            .get("/meetings?source=fathom&cursor=zzz", Some("alice"))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_cursor",
    );
    assert_eq!(w.fake.calls().list_meetings, lists);
}

#[tokio::test]
async fn pausing_resuming_and_disconnecting_keep_the_recordings() {
    let w = world(4).await;
    assert_eq!(
        w.connect_with_oauth("alice").await,
        format!("{APP}?connected=fathom")
    );
    w.initial_job("alice").await;

    let (status, paused) = w
        .app
        .send_json(
            Method::PATCH,
            "/sources/fathom",
            "alice",
            &json!({"active": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(
        (paused["status"].as_str(), paused["active"].as_bool()),
        (Some("paused"), Some(false))
    );
    assert_error(
        &w.app
            .send_json(Method::POST, "/sync", "alice", &json!({"source": "fathom"}))
            .await,
        StatusCode::CONFLICT,
        "paused",
    );
    let (_, resumed) = w
        .app
        .send_json(
            Method::PATCH,
            "/sources/fathom",
            "alice",
            &json!({"active": true}),
        )
        .await;
    assert_eq!(resumed["status"], "active");
    assert_error(
        &w.app
            .send_json(
                Method::PATCH,
                "/sources/fathom",
                "alice",
                &json!({"active": "no"}),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_json",
    );

    let (status, gone) = read(
        w.app
            .client
            .delete(w.app.url("/sources/fathom"))
            .bearer_auth(w.app.token("alice"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{gone}");
    assert_eq!(gone["status"], "disconnected");
    assert_eq!(
        w.fake.calls().delete_webhook,
        1,
        "the provider webhook is deleted"
    );
    assert_eq!(
        w.recordings("alice").await.len(),
        4,
        "imported recordings stay"
    );
    let stored = w
        .app
        .services()
        .connections
        .find(&member("alice"), Source::Fathom)
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored.credentials.oauth.is_none() && stored.credentials.api_key.is_none(),
        "credentials wiped"
    );
    assert_error(
        &w.app
            .send_json(Method::POST, "/sync", "alice", &json!({"source": "fathom"}))
            .await,
        StatusCode::CONFLICT,
        "not_connected",
    );

    // Connecting again revives the connection and syncs: nothing is doubled.
    assert_eq!(
        w.connect_with_oauth("alice").await,
        format!("{APP}?connected=fathom")
    );
    let initial = w
        .jobs("alice")
        .await
        .into_iter()
        .filter(|j| j["kind"] == "initial")
        .count();
    assert_eq!(initial, 2);
    eventually(30, "the second initial sync finishes", || async {
        w.jobs("alice")
            .await
            .iter()
            .all(|j| j["status"] != "queued" && j["status"] != "running")
    })
    .await;
    assert_eq!(w.recordings("alice").await.len(), 4);
}

#[tokio::test]
async fn other_users_cannot_see_or_retry_a_users_jobs() {
    let w = world(2).await;
    let (status, _) = w.connect_with_api_key("alice").await;
    assert_eq!(status, StatusCode::OK);
    let job = w.initial_job("alice").await;
    let id = job["id"].as_str().unwrap();
    assert_error(
        &w.app.get(&format!("/jobs/{id}"), Some("bob")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &w.app
            .send_json(
                Method::POST,
                &format!("/jobs/{id}/retry"),
                "bob",
                &json!({}),
            )
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let recording = &w.recordings("alice").await[0];
    assert_error(
        &w.app
            .get(
                &format!("/recordings/{}", recording["id"].as_str().unwrap()),
                Some("bob"),
            )
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &w.app
            .send_json(Method::POST, "/sync", "bob", &json!({"source": "fathom"}))
            .await,
        StatusCode::CONFLICT,
        "not_connected",
    );
}
