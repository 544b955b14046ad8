//! The read API (`/health`, `/sources`, `/recordings`, `/jobs`): identity, isolation, input
//! checking and the shapes a dashboard reads.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use dev_server::auth::{self, JwtSecret};
use pipeline::domain::{Connection, JobKind, Source, SyncJob, TranscriptRef};
use pipeline::testing::{meeting, member, recording};
use reqwest::StatusCode;
use serde_json::{json, Value};
use system_tests::{assert_error, read, TestApp};

const USER_ROUTES: [&str; 5] = [
    "/sources",
    "/recordings",
    "/recordings/rec_00000000000000000000000000000000",
    "/jobs",
    "/jobs/job_00000000000000000000000000000000",
];

#[tokio::test]
async fn health_answers_without_a_token() {
    let app = TestApp::start().await;
    let (status, body) = app.get("/health", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "ok"}));
}

async fn get_with_bearer(app: &TestApp, path: &str, token: &str) -> (StatusCode, Value) {
    read(
        app.client
            .get(app.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn user_routes_refuse_missing_and_bad_tokens() {
    let app = TestApp::start().await;
    let expired = auth::mint(&JwtSecret::new(system_tests::JWT_SECRET), "alice", -120).unwrap();
    let wrong_secret = auth::mint(&JwtSecret::new("another-secret"), "alice", 3600).unwrap();
    let unsigned = format!(
        "{}.{}.",
        B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        B64.encode(
            json!({"sub": "alice", "exp": chrono::Utc::now().timestamp() + 3600}).to_string()
        )
    );
    // Correctly signed, but not valid yet, or issued in the future.
    let signed = |claims: Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(system_tests::JWT_SECRET.as_bytes()),
        )
        .unwrap()
    };
    let now = chrono::Utc::now().timestamp();
    let not_yet = signed(json!({"sub": "alice", "exp": now + 7200, "nbf": now + 3600}));
    let from_the_future = signed(json!({"sub": "alice", "exp": now + 7200, "iat": now + 3600}));
    for path in USER_ROUTES {
        assert_error(
            &app.get(path, None).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        );
        for token in [
            &expired,
            &wrong_secret,
            &unsigned,
            &"not-a-jwt".to_owned(),
            &not_yet,
            &from_the_future,
        ] {
            assert_error(
                &get_with_bearer(&app, path, token).await,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            );
        }
    }
    assert_eq!(
        get_with_bearer(&app, "/sources", &app.token("alice"))
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn every_read_route_is_scoped_to_the_caller() {
    let app = TestApp::start().await;
    let alice = member("alice");
    let services = app.services();
    let rec = recording(
        &alice,
        meeting(Source::Fathom, "m-1", "Alice pipeline review", 0),
    );
    services.recordings.insert_if_absent(&rec).await.unwrap();
    let mut connection = Connection::new(alice.clone(), Source::Fathom, chrono::Utc::now());
    connection.account_email = Some("alice@example.com".into());
    services
        .connections
        .insert_if_absent(&connection)
        .await
        .unwrap();
    let job = SyncJob::new(
        alice.clone(),
        Source::Fathom,
        JobKind::Manual,
        chrono::Utc::now(),
    );
    services.jobs.put(&job).await.unwrap();

    let rec_path = format!("/recordings/{}", rec.id);
    let job_path = format!("/jobs/{}", job.id);
    // Alice sees her data.
    assert_eq!(app.get(&rec_path, Some("alice")).await.0, StatusCode::OK);
    assert_eq!(app.get(&job_path, Some("alice")).await.0, StatusCode::OK);
    assert_eq!(
        app.get("/recordings", Some("alice")).await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Bob sees none of it, and Alice's ids answer 404 for him.
    assert_error(
        &app.get(&rec_path, Some("bob")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.get(&job_path, Some("bob")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(
        app.get("/recordings", Some("bob")).await.1["items"],
        json!([])
    );
    assert_eq!(
        app.get("/recordings?q=pipeline", Some("bob")).await.1["items"],
        json!([])
    );
    assert_eq!(app.get("/jobs", Some("bob")).await.1["items"], json!([]));
    let (_, sources) = app.get("/sources", Some("bob")).await;
    let fathom = &sources["items"][0];
    assert_eq!(fathom["source"], "fathom");
    assert_eq!(fathom["status"], "not_connected");
    assert_eq!(fathom["recording_count"], 0);
    assert_eq!(fathom["current_job"], Value::Null);
}

#[tokio::test]
async fn sources_show_connection_counts_and_the_running_job() {
    let app = TestApp::start().await;
    let alice = member("alice");
    let services = app.services();
    for i in 0..3 {
        services
            .recordings
            .insert_if_absent(&recording(
                &alice,
                meeting(Source::Fathom, &format!("m-{i}"), "Call", i),
            ))
            .await
            .unwrap();
    }
    let mut connection = Connection::new(alice.clone(), Source::Fathom, chrono::Utc::now());
    connection.account_email = Some("alice@example.com".into());
    services
        .connections
        .insert_if_absent(&connection)
        .await
        .unwrap();
    let mut job = SyncJob::new(
        alice.clone(),
        Source::Fathom,
        JobKind::Initial,
        chrono::Utc::now(),
    );
    job.status = pipeline::domain::JobStatus::Running;
    job.progress.current = 4;
    job.progress.total = Some(10);
    services.jobs.put(&job).await.unwrap();

    let (status, body) = app.get("/sources", Some("alice")).await;
    assert_eq!(status, StatusCode::OK);
    let sources: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    assert_eq!(
        sources,
        ["fathom", "zoom", "upload"],
        "every known source is offered"
    );
    let fathom = &body["items"][0];
    assert_eq!(fathom["status"], "active");
    assert_eq!(fathom["active"], true);
    assert_eq!(fathom["connection_id"], connection.id.as_str());
    assert_eq!(fathom["account_email"], "alice@example.com");
    assert_eq!(fathom["recording_count"], 3);
    assert_eq!(fathom["current_job"]["id"], job.id.as_str());
    assert_eq!(
        fathom["current_job"]["progress"],
        json!({"current": 4, "total": 10})
    );
    assert_eq!(body["items"][1]["status"], "not_connected");
    assert_eq!(body["items"][2]["status"], "available");
}

#[tokio::test]
async fn malformed_query_values_answer_400() {
    let app = TestApp::start().await;
    for (path, code) in [
        ("/recordings?limit=0", "invalid_parameter"),
        ("/recordings?limit=abc", "invalid_parameter"),
        ("/recordings?limit=101", "invalid_parameter"),
        ("/recordings?source=teams", "invalid_parameter"),
        ("/recordings?cursor=not-a-cursor", "invalid_cursor"),
        ("/jobs?source=nope", "invalid_parameter"),
        ("/jobs?limit=-1", "invalid_parameter"),
    ] {
        assert_error(
            &app.get(path, Some("alice")).await,
            StatusCode::BAD_REQUEST,
            code,
        );
    }
    let long_query = format!("/recordings?q={}", "a".repeat(201));
    assert_error(
        &app.get(&long_query, Some("alice")).await,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    );
}

#[tokio::test]
async fn unknown_routes_answer_404_in_json() {
    let app = TestApp::start().await;
    for path in [
        "/nope",
        "/recordings/rec_1/extra",
        "/jobs/job_1/whatever/else",
    ] {
        assert_error(
            &app.get(path, Some("alice")).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    assert_error(
        &app.get("/recordings/not-an-id", Some("alice")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let delete = app
        .client
        .delete(app.url("/recordings"))
        .bearer_auth(app.token("alice"))
        .send()
        .await
        .unwrap();
    assert_error(&read(delete).await, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn recordings_page_newest_first_search_and_read_in_full() {
    let app = TestApp::start().await;
    let alice = member("alice");
    let services = app.services();
    for i in 0..7 {
        let title = if i == 3 {
            "Pricing negotiation".to_owned()
        } else {
            format!("Weekly sync {i}")
        };
        services
            .recordings
            .insert_if_absent(&recording(
                &alice,
                meeting(Source::Fathom, &format!("m-{i}"), &title, i),
            ))
            .await
            .unwrap();
    }
    let mut titles = Vec::new();
    let mut path = "/recordings?limit=3".to_owned();
    loop {
        let (status, body) = app.get(&path, Some("alice")).await;
        assert_eq!(status, StatusCode::OK);
        titles.extend(
            body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["title"].as_str().unwrap().to_owned()),
        );
        match body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/recordings?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(titles.len(), 7);
    assert_eq!(titles[0], "Weekly sync 6", "newest first");
    assert_eq!(titles[3], "Pricing negotiation");

    // Only cursors this API handed out, for this listing and this user, are accepted: not a
    // well-formed one made up (a backend position encoded the way the backend encodes it),
    // nor alice's in bob's hands.
    let (_, first) = app.get("/recordings?limit=3", Some("alice")).await;
    let alices = first["next_cursor"].as_str().unwrap().to_owned();
    let made_up = B64.encode(format!("{}:rec_x", i64::MAX));
    for (who, cursor) in [("alice", made_up.as_str()), ("bob", alices.as_str())] {
        assert_error(
            &app.get(&format!("/recordings?cursor={cursor}"), Some(who))
                .await,
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
        );
    }

    let (_, found) = app.get("/recordings?q=NEGOTIATION", Some("alice")).await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    let (_, found) = app
        .get(
            "/recordings?q=notes%20about%20weekly%20sync%205",
            Some("alice"),
        )
        .await;
    assert_eq!(
        found["items"][0]["title"], "Weekly sync 5",
        "transcript text is searchable"
    );

    // A large transcript kept in the blob store reads back whole.
    let mut big = recording(&alice, meeting(Source::Upload, "sha-1", "Long upload", 10));
    let segments: Vec<_> = (0..3).map(|i| json!({"speaker": null, "start_seconds": i as f64 * 10.0, "text": format!("part {i}")})).collect();
    services
        .blobs
        .put(
            "transcripts/alice/big.json",
            serde_json::to_vec(&segments).unwrap().into(),
            "application/json",
        )
        .await
        .unwrap();
    big.transcript = TranscriptRef::Blob {
        key: "transcripts/alice/big.json".into(),
        segment_count: 3,
    };
    services.recordings.insert_if_absent(&big).await.unwrap();
    let (status, detail) = app
        .get(&format!("/recordings/{}", big.id), Some("alice"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["title"], "Long upload");
    assert_eq!(detail["transcript"].as_array().unwrap().len(), 3);
    assert_eq!(detail["transcript"][2]["text"], "part 2");
    assert_eq!(detail["summary_markdown"], "## Long upload");
}
