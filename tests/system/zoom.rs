//! Zoom end to end, against the fake Zoom on loopback: connecting with OAuth, syncing in
//! month-long windows, transcripts from VTT or from the audio, token refresh, event
//! notifications, deauthorization, rate limits and isolation.

use chrono::{Duration as Span, NaiveDate, Utc};
use fakes::zoom::url_validation_event;
use reqwest::StatusCode;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use system_tests::zoom_world::{zoom_options, zoom_world, zoom_world_with, ZoomWorld, APP};
use system_tests::{assert_error, eventually, Settings};

/// Connects `user` and waits for the initial sync.
async fn connected(w: &ZoomWorld, user: &str) -> serde_json::Value {
    assert_eq!(w.connect(user).await, format!("{APP}?connected=zoom"));
    w.initial_job(user).await
}

#[tokio::test]
async fn oauth_round_trip_connects_the_account_shown_on_the_card() {
    let w = zoom_world().await;
    let (authorization_url, _) = w.initiate("alice").await;
    let url = url::Url::parse(&authorization_url).unwrap();
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(param("response_type").as_deref(), Some("code"));

    let job = connected(&w, "bob").await;
    assert_eq!(job["status"], "completed", "{job}");
    let source = w.zoom_source("bob").await;
    assert_eq!(source["status"], "active");
    assert_eq!(source["account_email"], "grace@navy.test");
    let calls = w.zoom.calls();
    assert_eq!(calls.token_authorization_code, 1);
    assert_eq!(
        calls.token_body_credentials, 0,
        "the client authenticates with HTTP Basic"
    );
    assert_eq!(calls.users_me, 1);
}

#[tokio::test]
async fn each_callback_failure_stores_nothing() {
    let w = zoom_world().await;
    let callback = w.app.url("/oauth/zoom/callback");
    assert_eq!(
        w.follow(&format!("{callback}?code=abc&state=forged"), None)
            .await,
        format!("{APP}?error=invalid_state")
    );
    let (link, cookie) = w.initiate("alice").await;
    let state = url::Url::parse(&link)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(
        w.follow(
            &format!("{callback}?code=not-issued&state={state}"),
            Some(&cookie)
        )
        .await,
        format!("{APP}?error=exchange_failed")
    );
    let denied = zoom_world_with(
        fakes::zoom::FakeZoomOptions {
            deny_consent: true,
            ..zoom_options()
        },
        Settings::default(),
        |s| s,
    )
    .await;
    assert_eq!(
        denied.connect("bob").await,
        format!("{APP}?error=access_denied")
    );
    assert_eq!(w.zoom_source("alice").await["status"], "not_connected");
    assert_eq!(denied.zoom_source("bob").await["status"], "not_connected");
    assert!(w.jobs("alice").await.is_empty());
}

#[tokio::test]
async fn fourteen_meetings_over_75_days_arrive_without_asking_for_more_than_a_month() {
    let w = zoom_world().await;
    w.add_meetings(14, 2, Span::hours(5 * 24 + 12));
    let job = connected(&w, "alice").await;
    assert_eq!(job["counts"]["imported"], 14, "{job}");
    assert_eq!(w.recordings("alice").await.len(), 14);
    let lists = w.zoom.calls().list_recordings;
    assert!(!lists.is_empty());
    for call in &lists {
        let day = |d: &Option<String>| {
            NaiveDate::parse_from_str(d.as_deref().unwrap(), "%Y-%m-%d").unwrap()
        };
        let (from, to) = (day(&call.from), day(&call.to));
        assert!(
            to <= from.checked_add_months(chrono::Months::new(1)).unwrap(),
            "{from}..{to} is longer than a month"
        );
        assert_eq!(call.page_size.as_deref(), Some("300"));
    }
    // A second sync skips everything it has.
    let again = w.sync_now("alice").await;
    assert_eq!(
        (
            again["counts"]["imported"].clone(),
            again["counts"]["skipped"].clone()
        ),
        (json!(0), json!(14)),
        "{again}"
    );
}

#[tokio::test]
async fn the_vtt_becomes_segments_with_speakers_and_the_files_are_listed() {
    let w = zoom_world().await;
    let meeting = w
        .zoom
        .add_meeting(&w.account, |m| m.topic = "Roadmap review".into());
    connected(&w, "alice").await;
    let recordings = w.recordings("alice").await;
    assert_eq!(recordings.len(), 1);
    assert_eq!(recordings[0]["title"], "Roadmap review");
    assert_eq!(recordings[0]["external_id"], meeting.uuid.as_str());
    let (_, detail) = w
        .app
        .get(
            &format!("/recordings/{}", recordings[0]["id"].as_str().unwrap()),
            Some("alice"),
        )
        .await;
    let transcript = detail["transcript"].as_array().unwrap();
    assert_eq!(transcript.len(), meeting.cues.len(), "{detail}");
    for (segment, cue) in transcript.iter().zip(&meeting.cues) {
        assert_eq!(segment["text"], cue.text.as_str());
        assert_eq!(segment["speaker"].as_str(), cue.speaker.as_deref());
        assert_eq!(
            segment["start_seconds"].as_f64().unwrap(),
            cue.start_ms as f64 / 1000.0
        );
    }
    let kinds: Vec<&str> = detail["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    for kind in ["MP4", "M4A", "TRANSCRIPT"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    let calls = w.zoom.calls();
    assert!(calls.file_host > 0);
    assert_eq!(
        calls.file_host_with_authorization, 0,
        "the token never goes to the file host"
    );
    assert_eq!(w.transcribe.stats().requests, 0, "nothing to transcribe");
}

#[tokio::test]
async fn a_meeting_without_a_transcript_is_transcribed_from_its_audio() {
    let w = zoom_world().await;
    let meeting = w.zoom.add_meeting(&w.account, |m| {
        m.has_transcript = false;
        m.audio_seconds = 4;
        m.topic = "Pricing review".into();
    });
    let job = connected(&w, "alice").await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["counts"]["transcribing"], 1, "{job}");
    assert_eq!(
        job["summary"], "0 new calls imported, 1 recording sent for transcription",
        "{job}"
    );
    // The recording is transcribed as an upload the member can follow (and retry).
    let upload = transcribed_upload(&w, "alice").await;
    assert_eq!(
        upload["filename"], "Pricing review (Zoom recording)",
        "{upload}"
    );
    let recordings = w.recordings("alice").await;
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    assert_eq!(recordings[0]["external_id"], meeting.uuid.as_str());
    assert_eq!(recordings[0]["title"], "Pricing review");
    assert_eq!(upload["recording_id"], recordings[0]["id"], "{upload}");
    assert_has_transcript(&w, &recordings[0]).await;
    let requests = w.transcribe.stats().requests;
    assert!(requests >= 1);
    assert_eq!(w.zoom.calls().file_host_with_authorization, 0);

    // The next sync finds the meeting stored: nothing is downloaded or transcribed again.
    let again = w.sync_now("alice").await;
    assert_eq!(
        (
            &again["counts"]["skipped"],
            &again["counts"]["transcribing"]
        ),
        (&json!(1), &json!(0)),
        "{again}"
    );
    assert_eq!(w.transcribe.stats().requests, requests);
    assert_eq!(uploads(&w, "alice").await, 1);

    // Its event, arriving late, finds the recording transcribed by the sync.
    let downloads = w.zoom.calls().downloads;
    deliver_recording_event(&w, &meeting.uuid, 1).await;
    let webhook_job = &finished_webhook_jobs(&w, "alice").await[0];
    assert_eq!(webhook_job["counts"]["skipped"], 1, "{webhook_job}");
    assert_eq!(w.transcribe.stats().requests, requests);
    assert_eq!(w.zoom.calls().downloads, downloads, "nothing downloaded");
    assert_eq!(uploads(&w, "alice").await, 1);
}

#[tokio::test]
async fn a_transcribed_meeting_renamed_at_zoom_is_updated_without_transcribing_again() {
    let w = zoom_world().await;
    let meeting = w.zoom.add_meeting(&w.account, |m| {
        m.has_transcript = false;
        m.audio_seconds = 4;
        m.topic = "Pricing review".into();
    });
    connected(&w, "alice").await;
    transcribed_upload(&w, "alice").await;
    let (requests, downloads) = (w.transcribe.stats().requests, w.zoom.calls().downloads);
    let before = w.recordings("alice").await[0].clone();

    assert!(w
        .zoom
        .update_meeting(&meeting.uuid, |m| m.topic = "Pricing review, final".into()));
    let sync = w.sync_now("alice").await;
    assert_eq!(sync["counts"]["updated"], 1, "{sync}");
    let after = w.recordings("alice").await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0]["title"], "Pricing review, final");
    assert_eq!(after[0]["id"], before["id"]);
    assert_has_transcript(&w, &after[0]).await;
    assert_eq!(
        w.transcribe.stats().requests,
        requests,
        "nothing transcribed"
    );
    assert_eq!(w.zoom.calls().downloads, downloads, "nothing downloaded");
    assert_eq!(uploads(&w, "alice").await, 1);

    // Now stored with the listing's fingerprint, the sync after skips it without fetching.
    let again = w.sync_now("alice").await;
    assert_eq!(again["counts"]["skipped"], 1, "{again}");
}

/// Alice's `recording`, read whole, has a transcript.
async fn assert_has_transcript(w: &ZoomWorld, recording: &serde_json::Value) {
    let path = format!("/recordings/{}", recording["id"].as_str().unwrap());
    let (_, detail) = w.app.get(&path, Some("alice")).await;
    assert!(
        !detail["transcript"].as_array().unwrap().is_empty(),
        "{detail}"
    );
}

/// How many uploads the member has (a provider's recording sent for transcription is one).
async fn uploads(w: &ZoomWorld, user: &str) -> usize {
    let (_, uploads) = w.app.get("/uploads", Some(user)).await;
    uploads["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_recording_event_without_a_transcript_is_transcribed_once_however_often_it_or_a_sync_comes(
) {
    let w = zoom_world().await;
    connected(&w, "alice").await;
    let meeting = w.zoom.add_meeting(&w.account, |m| {
        m.has_transcript = false;
        m.audio_seconds = 4;
        m.topic = "Late call".into();
    });
    deliver_recording_event(&w, &meeting.uuid, 1).await;
    let webhook_job = &finished_webhook_jobs(&w, "alice").await[0];
    assert_eq!(webhook_job["counts"]["transcribing"], 1, "{webhook_job}");
    let upload = transcribed_upload(&w, "alice").await;
    let recordings = w.recordings("alice").await;
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    assert_eq!(upload["recording_id"], recordings[0]["id"], "{upload}");
    let requests = w.transcribe.stats().requests;
    // The same event delivered again (a new delivery id) finds the finished upload.
    deliver_recording_event(&w, &meeting.uuid, 2).await;
    assert_eq!(w.transcribe.stats().requests, requests);
    assert_eq!(w.recordings("alice").await.len(), 1);

    // So does the next sync, which knows the meeting from the listing instead.
    let downloads = w.zoom.calls().downloads;
    let sync = w.sync_now("alice").await;
    assert_eq!(
        (&sync["counts"]["skipped"], &sync["counts"]["transcribing"]),
        (&json!(1), &json!(0)),
        "{sync}"
    );
    assert_eq!(w.transcribe.stats().requests, requests);
    assert_eq!(w.zoom.calls().downloads, downloads, "nothing downloaded");
    assert_eq!(uploads(&w, "alice").await, 1);
}

#[tokio::test]
async fn a_recording_that_cannot_be_transcribed_fails_as_an_upload_with_its_reason() {
    let settings = Settings::default().set("MAX_AUDIO_SECONDS", "2");
    let w = zoom_world_with(zoom_options(), settings, |s| s).await;
    w.zoom.add_meeting(&w.account, |m| {
        m.has_transcript = false;
        m.audio_seconds = 4;
        m.topic = "Board meeting".into();
    });
    let job = connected(&w, "alice").await;
    assert_eq!(job["counts"]["transcribing"], 1, "{job}");
    eventually(60, "the recording's upload fails", || async {
        let (_, uploads) = w.app.get("/uploads", Some("alice")).await;
        uploads["items"][0]["status"] == "failed"
    })
    .await;
    let (_, uploads) = w.app.get("/uploads", Some("alice")).await;
    let error = uploads["items"][0]["error"].as_str().unwrap().to_owned();
    assert!(error.contains("are not transcribed"), "{error}");
    assert!(w.recordings("alice").await.is_empty());
    // The failure is listed with the other failed imports, under Zoom, with a retry.
    let (_, failed) = w.app.get("/failed-imports", Some("alice")).await;
    let item = &failed["items"][0];
    assert_eq!(
        (&item["source"], &item["kind"], &item["title"]),
        (
            &json!("zoom"),
            &json!("upload"),
            &json!("Board meeting (Zoom recording)")
        ),
        "{failed}"
    );
    assert_eq!(item["upload_id"], uploads["items"][0]["id"], "{failed}");
    // The next sync says why the meeting is still missing instead of downloading it again.
    let downloads = w.zoom.calls().downloads;
    assert!(downloads >= 1);
    let again = w.sync_now("alice").await;
    assert_eq!(again["counts"]["failed"], 1, "{again}");
    let reason = again["failed_items"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&error) && reason.contains("retry it among the uploads"),
        "{reason}"
    );
    assert_eq!(w.zoom.calls().downloads, downloads);
}

#[tokio::test]
async fn at_the_monthly_limit_a_recording_is_left_for_later_without_downloading_it() {
    let settings = Settings::default().set("IMPORTS_PER_MONTH", "1");
    let w = zoom_world_with(zoom_options(), settings, |s| s).await;
    let now = Utc::now();
    w.zoom.add_meeting(&w.account, |m| {
        m.has_transcript = false;
        m.audio_seconds = 4;
        m.topic = "Older call".into();
        m.start_time = now - Span::days(2);
    });
    w.zoom.add_meeting(&w.account, |m| {
        m.topic = "Newest call".into();
        m.start_time = now - Span::days(1);
    });
    let job = connected(&w, "alice").await;
    assert_eq!(
        (
            &job["counts"]["imported"],
            &job["counts"]["not_imported"],
            &job["counts"]["transcribing"]
        ),
        (&json!(1), &json!(1), &json!(0)),
        "{job}"
    );
    assert_eq!(job["not_imported_items"][0]["title"], "Older call", "{job}");
    assert_eq!(
        w.zoom.calls().downloads,
        1,
        "only the newest call's transcript"
    );
    assert!(w.app.get("/uploads", Some("alice")).await.1["items"]
        .as_array()
        .unwrap()
        .is_empty());
}

/// Sends Alice's `recording.completed` event for the meeting and waits until `finished`
/// webhook jobs have finished.
async fn deliver_recording_event(w: &ZoomWorld, uuid: &str, finished: usize) {
    let event = w
        .zoom
        .sign(&w.zoom.recording_completed_event(uuid).unwrap());
    let (status, answer) = w.send_event(&event).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    eventually(30, "the event's job finishes", || async {
        finished_webhook_jobs(w, "alice").await.len() == finished
    })
    .await;
}

/// Waits for the member's one upload to finish transcribing, and returns it.
async fn transcribed_upload(w: &ZoomWorld, user: &str) -> serde_json::Value {
    eventually(60, "the recording's upload finishes", || async {
        let (_, uploads) = w.app.get("/uploads", Some(user)).await;
        uploads["items"][0]["status"] == "completed"
    })
    .await;
    let (_, uploads) = w.app.get("/uploads", Some(user)).await;
    let items = uploads["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{uploads}");
    items[0].clone()
}

#[tokio::test]
async fn five_workers_needing_a_refresh_make_exactly_one_refresh_call() {
    let w = zoom_world().await;
    connected(&w, "alice").await;
    let services = w.app.services().clone();
    let user = pipeline::testing::member("alice");
    let connection = services
        .connections
        .find(&user, pipeline::domain::Source::Zoom)
        .await
        .unwrap()
        .unwrap();
    // The stored token is about to expire, and Zoom has expired it already.
    pipeline::pipeline::connections::update_connection(
        services.connections.as_ref(),
        &connection.id,
        |c| {
            if let Some(tokens) = c.credentials.oauth.as_mut() {
                tokens.expires_at = Some(Utc::now() + Span::minutes(1));
            }
        },
    )
    .await
    .unwrap();
    w.zoom.expire_access_tokens();
    let refreshes_before = w.zoom.calls().token_refresh;
    let services = Arc::new(services);
    let workers = (0..5).map(|_| {
        let services = services.clone();
        let id = connection.id.clone();
        tokio::spawn(async move {
            pipeline::pipeline::credentials::credential(&services, &id)
                .await
                .map(|_| ())
        })
    });
    for worker in futures::future::join_all(workers).await {
        worker.unwrap().unwrap();
    }
    assert_eq!(w.zoom.calls().token_refresh - refreshes_before, 1);
    // The rotated token works.
    let job = w.sync_now("alice").await;
    assert_eq!(job["status"], "completed", "{job}");
}

#[tokio::test]
async fn the_endpoint_validation_challenge_is_answered() {
    let w = zoom_world().await;
    let event = w.zoom.sign(&url_validation_event("qgg8vlvZRS6UYooatFL8Aw"));
    let (status, body) = w.send_event(&event).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        fakes::zoom::expected_validation_response(
            &w.zoom.options().webhook_secret_token,
            "qgg8vlvZRS6UYooatFL8Aw"
        )
    );
}

/// Zoom jobs of kind `webhook` that finished.
async fn finished_webhook_jobs(w: &ZoomWorld, user: &str) -> Vec<serde_json::Value> {
    w.jobs(user)
        .await
        .into_iter()
        .filter(|j| j["kind"] == "webhook" && j["status"] != "running")
        .collect()
}

#[tokio::test]
async fn a_recording_event_is_imported_once_even_sent_twice_or_at_once() {
    let w = zoom_world().await;
    connected(&w, "alice").await;
    let meeting = w
        .zoom
        .add_meeting(&w.account, |m| m.topic = "Late call".into());
    let event = w
        .zoom
        .sign(&w.zoom.recording_completed_event(&meeting.uuid).unwrap());
    let answers = futures::future::join_all((0..4).map(|_| w.send_event(&event))).await;
    assert_eq!(
        answers
            .iter()
            .filter(|(s, _)| *s == StatusCode::ACCEPTED)
            .count(),
        1,
        "{answers:?}"
    );
    let (status, _) = w.send_event(&event).await;
    assert!(matches!(status, StatusCode::OK | StatusCode::CONFLICT));
    eventually(30, "the event is imported", || async {
        finished_webhook_jobs(&w, "alice").await.len() == 1
    })
    .await;
    let recordings = w.recordings("alice").await;
    assert_eq!(
        recordings
            .iter()
            .filter(|r| r["external_id"] == meeting.uuid.as_str())
            .count(),
        1
    );
    assert!(
        w.zoom.calls().downloads_with_download_token >= 1,
        "the event's download token fetched the transcript"
    );
}

#[tokio::test]
async fn tampered_stale_and_unsigned_events_are_refused_and_store_nothing() {
    let w = zoom_world().await;
    connected(&w, "alice").await;
    let meeting = w.zoom.add_meeting(&w.account, |_| {});
    let event = w.zoom.recording_completed_event(&meeting.uuid).unwrap();
    let good = w.zoom.sign(&event);
    let mut tampered = good.clone();
    let last = tampered.body.len() - 2;
    tampered.body[last] ^= 1;
    let stale = event.sign(
        &w.zoom.options().webhook_secret_token,
        Utc::now().timestamp() - 400,
    );
    let mut unsigned = good.clone();
    unsigned
        .headers
        .retain(|(name, _)| !name.eq_ignore_ascii_case("x-zm-signature"));
    for (event, code) in [
        (&tampered, "invalid_signature"),
        (&stale, "stale_timestamp"),
        (&unsigned, "missing_header"),
    ] {
        assert_error(&w.send_event(event).await, StatusCode::UNAUTHORIZED, code);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(finished_webhook_jobs(&w, "alice").await.is_empty());
    assert_eq!(w.recordings("alice").await.len(), 0);
}

#[tokio::test]
async fn a_lost_event_is_made_up_by_the_next_scheduled_sync() {
    let w = zoom_world().await;
    // An older meeting, so the scheduled sync lists from the watermark, not from the start.
    w.add_meetings(1, 3, Span::days(1));
    connected(&w, "alice").await;
    let lists_before = w.zoom.calls().list_recordings.len();
    // Recorded after the initial sync; its event never arrives.
    let meeting = w.zoom.add_meeting(&w.account, |m| {
        m.start_time = Utc::now() - Span::minutes(30);
    });
    cron_sync::handle(w.app.services(), dev_server::scheduled_event())
        .await
        .unwrap();
    eventually(30, "the scheduled sync imports the meeting", || async {
        w.recordings("alice")
            .await
            .iter()
            .any(|r| r["external_id"] == meeting.uuid.as_str())
    })
    .await;
    let scheduled = &w.zoom.calls().list_recordings[lists_before..];
    let watermark_day = (Utc::now() - Span::days(3) - Span::hours(2)).date_naive();
    assert!(
        scheduled.iter().all(|call| {
            NaiveDate::parse_from_str(call.from.as_deref().unwrap(), "%Y-%m-%d").unwrap()
                >= watermark_day
        }),
        "incremental from the watermark: {scheduled:?}"
    );
}

#[tokio::test]
async fn deauthorization_disconnects_and_keeps_the_recordings() {
    let w = zoom_world().await;
    w.add_meetings(2, 1, Span::days(1));
    connected(&w, "alice").await;
    let event = w.zoom.sign(&w.zoom.deauthorize(&w.account));
    let (status, body) = w.send_event(&event).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["connections"], 1);
    let source = w.zoom_source("alice").await;
    assert_eq!(source["status"], "disconnected");
    assert_eq!(w.recordings("alice").await.len(), 2, "recordings stay");
    let connection = w
        .app
        .services()
        .connections
        .find(
            &pipeline::testing::member("alice"),
            pipeline::domain::Source::Zoom,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        connection.credentials,
        pipeline::domain::StoredCredentials::default(),
        "credentials wiped"
    );
}

#[tokio::test]
async fn rate_limits_are_ridden_out() {
    let w = zoom_world().await;
    w.add_meetings(3, 1, Span::days(1));
    w.zoom.throttle_next(2, Duration::from_millis(300));
    let job = connected(&w, "alice").await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["counts"]["imported"], 3);
    assert!(w.zoom.calls().rate_limited >= 2);
}

#[tokio::test]
async fn another_users_zoom_data_is_not_found() {
    let w = zoom_world().await;
    w.add_meetings(1, 1, Span::days(1));
    connected(&w, "alice").await;
    let recording = w.recordings("alice").await.remove(0);
    let id = recording["id"].as_str().unwrap();
    assert_error(
        &w.app
            .get(&format!("/recordings/{id}"), Some("mallory"))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let job = w.jobs("alice").await.remove(0);
    assert_error(
        &w.app
            .get(
                &format!("/jobs/{}", job["id"].as_str().unwrap()),
                Some("mallory"),
            )
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(w.zoom_source("mallory").await["status"], "not_connected");
    assert_error(
        &w.app.get("/meetings?source=zoom", Some("mallory")).await,
        StatusCode::CONFLICT,
        "not_connected",
    );
    let (status, page) = w.app.get("/meetings?source=zoom", Some("alice")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"][0]["synced"], true);
}

#[tokio::test]
async fn a_listing_counts_what_its_last_window_holds() {
    use pipeline::connectors::{ListPurpose, ListRequest};
    let w = zoom_world().await;
    w.add_meetings(4, 1, Span::days(1));
    w.add_meetings(2, 40, Span::days(1));
    connected(&w, "alice").await;
    let services = w.app.services();
    let connection = services
        .connections
        .find(&w.app.tenant("alice"), pipeline::domain::Source::Zoom)
        .await
        .unwrap()
        .unwrap();
    let credential = pipeline::pipeline::credentials::credential(services, &connection.id)
        .await
        .unwrap();
    let connector = services
        .providers()
        .await
        .unwrap()
        .connector(pipeline::domain::Source::Zoom)
        .unwrap();
    let now = Utc::now();
    let recent = ListRequest {
        position: None,
        created_after: Some(now - Span::days(10)),
        created_before: Some(now),
        purpose: ListPurpose::Sync,
    };
    let page = connector.list(&credential, &recent).await.unwrap();
    assert_eq!(
        (page.items.len(), page.remaining),
        (4, Some(4)),
        "one window: its count is the listing's"
    );

    // Over 60 days, newest window first: only the last window's count is the rest.
    let mut request = ListRequest {
        created_after: Some(now - Span::days(60)),
        ..recent
    };
    let mut remaining = Vec::new();
    loop {
        let page = connector.list(&credential, &request).await.unwrap();
        remaining.push(page.remaining);
        match page.next_position {
            Some(next) => request.position = Some(next),
            None => break,
        }
    }
    assert_eq!(remaining.first(), Some(&None), "{remaining:?}");
    assert_eq!(remaining.last(), Some(&Some(0)), "{remaining:?}");
}
