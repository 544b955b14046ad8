//! Workspaces: two members of one team (Ann, the admin, and Ben) and an outsider (Olga, of
//! another workspace). Shared and private recordings, who manages which connection, what
//! admins see, the activity log, the workspace's quota and app-level webhook routing.

use pipeline::crypto::SecretString;
use pipeline::domain::{Connection, ConnectionId};
use pipeline::pipeline::connections::update_connection;
use pipeline::pipeline::credentials::{self, SecretField};
use pipeline::services::Services;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use system_tests::fathom_world::{fake_options, world, world_with, World};
use system_tests::zoom_world::{zoom_world, APP};
use system_tests::{assert_error, Settings};

/// Ann (admin) and Ben (member) of acme, Olga (admin) of globex.
fn team(w: &World) {
    w.app.join("ann", "acme", "admin");
    w.app.join("ben", "acme", "member");
    w.app.join("olga", "globex", "admin");
}

/// Connects `user` with a Fathom account of their own holding `meetings` meetings, and
/// waits for the initial sync.
async fn connect_own_account(w: &World, user: &str, email: &str, meetings: usize) -> Value {
    let account = w.fake.add_account(user, email);
    w.fake.add_meetings(&account, meetings);
    let body = json!({ "api_key": account.api_key });
    let (status, answer) = w
        .app
        .send_json(Method::POST, "/sources/fathom/api-key", user, &body)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    w.initial_job(user).await
}

fn fathom_card(sources: &Value) -> Value {
    sources["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == "fathom")
        .cloned()
        .unwrap()
}

async fn patch(w: &World, path: &str, user: &str, body: Value) -> (StatusCode, Value) {
    w.app.send_json(Method::PATCH, path, user, &body).await
}

#[tokio::test]
async fn shared_recordings_reach_the_team_private_ones_their_owner_and_outsiders_nothing() {
    let w = world(3).await;
    team(&w);
    let anns_job = w.connect_and_sync("ann").await;
    assert_eq!(anns_job["status"], "completed", "{anns_job}");
    connect_own_account(&w, "ben", "ben@acme.test", 2).await;
    // In a team workspace a connection is shared by default; Ben makes his private.
    assert_eq!(
        fathom_card(&w.app.get("/sources", Some("ann")).await.1)["sharing"],
        "workspace"
    );
    let (status, card) = patch(&w, "/sources/fathom", "ben", json!({"sharing": "private"})).await;
    assert_eq!(
        (status, card["sharing"].clone()),
        (StatusCode::OK, json!("private")),
        "{card}"
    );

    let anns = w.recordings("ann").await;
    let bens = w.recordings("ben").await;
    assert_eq!(anns.len(), 3, "Ann reads her own, not Ben's private ones");
    assert_eq!(
        bens.len(),
        5,
        "Ben reads Ann's shared recordings and his own"
    );
    let ben_only: Vec<&Value> = bens.iter().filter(|r| !anns.contains(r)).collect();
    assert_eq!(ben_only.len(), 2);
    let (private_id, private_title) = (
        ben_only[0]["id"].as_str().unwrap(),
        ben_only[0]["title"].as_str().unwrap(),
    );
    let (status, _) = w
        .app
        .get(&format!("/recordings/{private_id}"), Some("ann"))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a private recording is not Ann's to read"
    );
    let shared_id = anns[0]["id"].as_str().unwrap();
    let (status, detail) = w
        .app
        .get(&format!("/recordings/{shared_id}"), Some("ben"))
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert!(!detail["transcript"].as_array().unwrap().is_empty());
    let search = format!("/recordings?q={}", urlencoding(private_title));
    assert!(w.app.get(&search, Some("ann")).await.1["items"]
        .as_array()
        .unwrap()
        .is_empty());

    // The outsider finds nothing on any route, not even by id.
    let anns_job_path = format!("/jobs/{}", anns_job["id"].as_str().unwrap());
    for path in [
        format!("/recordings/{shared_id}"),
        format!("/recordings/{private_id}"),
        anns_job_path.clone(),
        format!("{anns_job_path}/retry"),
    ] {
        let method = if path.ends_with("retry") {
            Method::POST
        } else {
            Method::GET
        };
        let answer = w.app.send_json(method, &path, "olga", &json!({})).await;
        assert_error(&answer, StatusCode::NOT_FOUND, "not_found");
    }
    assert!(w.recordings("olga").await.is_empty());
    assert!(w.jobs("olga").await.is_empty());
    assert_eq!(
        fathom_card(&w.app.get("/sources", Some("olga")).await.1)["status"],
        "not_connected"
    );
    let (_, listed) = w.app.get("/sources?scope=workspace", Some("olga")).await;
    assert_eq!(listed["items"], json!([]), "her workspace has no sources");
    let answer = patch(
        &w,
        "/sources/fathom?user=ann",
        "olga",
        json!({"active": false}),
    )
    .await;
    assert_error(&answer, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        w.app.get("/activity", Some("olga")).await.1["items"],
        json!([])
    );
    // Ann signed in without the team (her personal workspace) is someone else too.
    w.app.leave("ann");
    assert!(w.recordings("ann").await.is_empty());
}

/// Percent-encodes a query value.
fn urlencoding(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn members_manage_their_own_sources_and_admins_see_and_pause_the_teams() {
    let w = world(2).await;
    team(&w);
    w.connect_and_sync("ann").await;
    connect_own_account(&w, "ben", "ben@acme.test", 1).await;

    // A member cannot touch another member's connection, nor list the team's.
    let answer = patch(
        &w,
        "/sources/fathom?user=ann",
        "ben",
        json!({"active": false}),
    )
    .await;
    assert_error(&answer, StatusCode::FORBIDDEN, "admin_only");
    let answer = w.app.get("/sources?scope=workspace", Some("ben")).await;
    assert_error(&answer, StatusCode::FORBIDDEN, "admin_only");
    assert_eq!(
        fathom_card(&w.app.get("/sources", Some("ann")).await.1)["status"],
        "active"
    );

    // The admin sees both members' sources, without credentials.
    let (status, listed) = w.app.get("/sources?scope=workspace", Some("ann")).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let members: Vec<(String, String, u64)> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["user_id"].as_str().unwrap().to_owned(),
                s["account_email"].as_str().unwrap_or_default().to_owned(),
                s["recording_count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        members,
        [
            ("ann".into(), "ada@acme.test".into(), 2),
            ("ben".into(), "ben@acme.test".into(), 1)
        ]
    );
    assert!(listed["items"][1]["last_sync_at"].is_string(), "{listed}");
    let text = listed.to_string();
    for secret in ["api_key", "credentials", "token", &w.account.api_key] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }

    // The admin pauses Ben's source; Ben sees it paused. Sharing stays Ben's choice.
    let (status, card) = patch(
        &w,
        "/sources/fathom?user=ben",
        "ann",
        json!({"active": false}),
    )
    .await;
    assert_eq!(
        (status, card["status"].clone()),
        (StatusCode::OK, json!("paused")),
        "{card}"
    );
    assert_eq!(
        fathom_card(&w.app.get("/sources", Some("ben")).await.1)["status"],
        "paused"
    );
    let answer = patch(
        &w,
        "/sources/fathom?user=ben",
        "ann",
        json!({"sharing": "private"}),
    )
    .await;
    assert_error(&answer, StatusCode::FORBIDDEN, "not_owner");
    let (status, card) = patch(
        &w,
        "/sources/fathom?user=ben",
        "ann",
        json!({"active": true}),
    )
    .await;
    assert_eq!(
        (status, card["status"].clone()),
        (StatusCode::OK, json!("active")),
        "{card}"
    );
    // Only the owner disconnects: without `user`, a DELETE is always one's own.
    let (status, _) = w
        .app
        .send_json(
            Method::DELETE,
            "/sources/fathom?user=ben",
            "ann",
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        fathom_card(&w.app.get("/sources", Some("ben")).await.1)["status"],
        "active"
    );
    assert_eq!(
        fathom_card(&w.app.get("/sources", Some("ann")).await.1)["status"],
        "disconnected"
    );
}

/// Changes the stored connection as a test's stand-in for time passing or a provider
/// forgetting a grant.
async fn change(services: &Services, id: &ConnectionId, change: impl FnMut(&mut Connection)) {
    update_connection(services.connections.as_ref(), id, change)
        .await
        .unwrap();
}

/// The actions of `items`, oldest first, as `(user, action)`.
fn actions(items: &Value) -> Vec<(String, String)> {
    let mut seen: Vec<(String, String)> = items["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["user_id"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.reverse();
    seen
}

#[tokio::test]
async fn every_action_on_a_connection_leaves_an_activity_entry() {
    // A failed sync message is received again a second later.
    let redeliver_soon = |s: dev_server::DevServer| s.visibility(std::time::Duration::from_secs(1));
    let w = world_with(fake_options(), 3, Settings::default(), redeliver_soon).await;
    team(&w);
    let broken = w.fake.meetings()[1].recording_id;
    w.fake.fail_recording(broken);
    assert_eq!(
        w.connect_with_oauth("ann").await,
        format!("{}?connected=fathom", system_tests::fathom_world::APP)
    );
    let job = w.initial_job("ann").await;
    assert_eq!(job["status"], "completed_with_errors", "{job}");
    connect_own_account(&w, "ben", "ben@acme.test", 1).await;
    let services = w.app.services().clone();
    let connection = w.connection("ann").await;

    // A retry of the failed meeting.
    w.fake.heal_recording(broken);
    let (status, retry) = w
        .app
        .send_json(
            Method::POST,
            &format!("/jobs/{}/retry", job["id"].as_str().unwrap()),
            "ann",
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{retry}");
    w.finished("ann", retry["job_id"].as_str().unwrap()).await;

    // A token refresh, then one that fails (Fathom answers 500 until the client gives up).
    let expire_soon = |c: &mut Connection| {
        if let Some(tokens) = c.credentials.oauth.as_mut() {
            tokens.expires_at = Some(chrono::Utc::now() + chrono::Duration::seconds(30));
        }
    };
    change(&services, &connection.id, expire_soon).await;
    credentials::credential(&services, &connection.id)
        .await
        .unwrap();
    change(&services, &connection.id, expire_soon).await;
    w.fake.fail_next(50, 500);
    assert!(credentials::credential(&services, &connection.id)
        .await
        .is_err());
    w.fake.fail_next(0, 500);

    // A sync that fails: Fathom is down for the whole run.
    w.fake.fail_next(500, 503);
    let (status, started) = w
        .app
        .send_json(Method::POST, "/sync", "ann", &json!({"source": "fathom"}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    system_tests::eventually(60, "the failing sync is logged", || async {
        actions(&w.app.get("/activity?limit=200", Some("ann")).await.1)
            .contains(&("ann".into(), "sync_failed".into()))
    })
    .await;
    w.fake.fail_next(0, 503);
    w.finished("ann", started["job_id"].as_str().unwrap()).await;

    // Sharing, pause and resume by the admin on Ben's source, and Ben's own disconnect.
    patch(&w, "/sources/fathom", "ben", json!({"sharing": "private"})).await;
    patch(
        &w,
        "/sources/fathom?user=ben",
        "ann",
        json!({"active": false}),
    )
    .await;
    patch(
        &w,
        "/sources/fathom?user=ben",
        "ann",
        json!({"active": true}),
    )
    .await;
    w.app
        .send_json(Method::DELETE, "/sources/fathom", "ben", &json!({}))
        .await;

    // The refresh token is dead: the connection needs Ann to connect again.
    let key = services.secrets().await.unwrap().sealing_key.clone();
    let id = connection.id.clone();
    change(&services, &connection.id, move |c: &mut Connection| {
        if let Some(tokens) = c.credentials.oauth.as_mut() {
            tokens.expires_at = Some(chrono::Utc::now() + chrono::Duration::seconds(30));
            tokens.refresh_token = Some(credentials::seal(
                &key,
                &id,
                SecretField::RefreshToken,
                &SecretString::new("revoked"),
            ));
        }
    })
    .await;
    assert!(credentials::credential(&services, &connection.id)
        .await
        .is_err());

    let (status, log) = w.app.get("/activity?limit=200", Some("ann")).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let seen = actions(&log);
    let anns: Vec<&str> = seen
        .iter()
        .filter(|(u, _)| u == "ann")
        .map(|(_, a)| a.as_str())
        .collect();
    let bens: Vec<&str> = seen
        .iter()
        .filter(|(u, _)| u == "ben")
        .map(|(_, a)| a.as_str())
        .collect();
    for action in [
        "connected",
        "sync_retried",
        "token_refreshed",
        "refresh_failed",
        "sync_failed",
        "needs_reauth",
    ] {
        assert!(anns.contains(&action), "{action} missing from {anns:?}");
    }
    assert_eq!(
        bens,
        [
            "connected",
            "sharing_changed",
            "paused",
            "resumed",
            "disconnected"
        ]
    );
    let paused = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "paused")
        .unwrap();
    assert_eq!(paused["actor_id"], "ann", "who did it: {paused}");
    assert!(
        paused["message"].as_str().unwrap().contains("by ann"),
        "{paused}"
    );
    assert!(paused["at"].is_string() && paused["source"] == "fathom");

    // Members see their own entries; the admin anyone's, one source's, a page at a time.
    let (_, own) = w.app.get("/activity", Some("ben")).await;
    assert_eq!(actions(&own).len(), 5);
    assert!(actions(&own).iter().all(|(u, _)| u == "ben"));
    let answer = w.app.get("/activity?user=ann", Some("ben")).await;
    assert_error(&answer, StatusCode::FORBIDDEN, "admin_only");
    let (_, zoom_only) = w.app.get("/activity?source=zoom", Some("ann")).await;
    assert_eq!(zoom_only["items"], json!([]));
    let (_, first) = w.app.get("/activity?user=ben&limit=3", Some("ann")).await;
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let (_, second) = w
        .app
        .get(
            &format!("/activity?user=ben&limit=3&cursor={cursor}"),
            Some("ann"),
        )
        .await;
    assert_eq!(actions(&first).len() + actions(&second).len(), 5);
    let answer = w
        .app
        .get(
            &format!("/activity?user=ann&limit=3&cursor={cursor}"),
            Some("ann"),
        )
        .await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_cursor");
}

#[tokio::test]
async fn the_monthly_quota_counts_the_whole_workspace() {
    let settings = Settings::default().set("IMPORTS_PER_MONTH", "4");
    let w = world_with(fake_options(), 3, settings, |s| s).await;
    team(&w);
    let job = w.connect_and_sync("ann").await;
    assert_eq!(job["counts"]["imported"], 3, "{job}");
    let job = connect_own_account(&w, "ben", "ben@acme.test", 2).await;
    assert_eq!(
        (
            job["counts"]["imported"].clone(),
            job["counts"]["not_imported"].clone()
        ),
        (json!(1), json!(1)),
        "one import was left of the workspace's four: {job}"
    );
    // Another workspace counts its own.
    let job = connect_own_account(&w, "olga", "olga@globex.test", 2).await;
    assert_eq!(job["counts"]["imported"], 2, "{job}");
    let (status, body) = w
        .app
        .send_json(
            Method::POST,
            "/uploads",
            "ben",
            &json!({"filename": "call.mp3", "content_type": "audio/mpeg", "size_bytes": 10}),
        )
        .await;
    assert_error(
        &(status, body),
        StatusCode::TOO_MANY_REQUESTS,
        "quota_exceeded",
    );
}

#[tokio::test]
async fn app_level_webhooks_land_in_the_connecting_members_workspace() {
    let w = zoom_world().await;
    w.app.join("ann", "acme", "admin");
    w.app.join("ben", "acme", "member");
    w.app.join("olga", "globex", "admin");
    assert_eq!(w.connect("ann").await, format!("{APP}?connected=zoom"));
    w.initial_job("ann").await;
    let meeting = w
        .zoom
        .add_meeting(&w.account, |m| m.topic = "Board call".into());
    let event = w
        .zoom
        .sign(&w.zoom.recording_completed_event(&meeting.uuid).unwrap());
    let (status, body) = w.send_event(&event).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let has_it = |recordings: Vec<Value>| {
        recordings
            .iter()
            .any(|r| r["external_id"] == meeting.uuid.as_str())
    };
    system_tests::eventually(30, "the event is imported", || async {
        has_it(w.recordings("ann").await)
    })
    .await;
    assert!(has_it(w.recordings("ben").await), "shared with Ann's team");
    assert!(
        !has_it(w.recordings("olga").await),
        "never another workspace's"
    );
    let webhook_jobs = w.jobs("ann").await;
    assert!(
        webhook_jobs.iter().any(|j| j["kind"] == "webhook"),
        "{webhook_jobs:?}"
    );
}
