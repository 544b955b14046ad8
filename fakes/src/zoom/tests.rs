//! The fake over real HTTP, driven by a minimal HTTP/1.1 client (the crate depends on no HTTP
//! client). The client never follows redirects, so each hop is visible.

use super::*;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::TimeZone;
use hmac::{Hmac, KeyInit, Mac};
use std::collections::HashMap;

use crate::raw_http::{send, Reply};

async fn get(url: &str, bearer: Option<&str>) -> Reply {
    match bearer {
        Some(token) => {
            let auth = format!("Bearer {token}");
            send("GET", url, &[("authorization", &auth)], b"").await
        }
        None => send("GET", url, &[], b"").await,
    }
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

async fn post_form(url: &str, authorization: Option<&str>, form: &[(&str, &str)]) -> Reply {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
    if let Some(authorization) = authorization {
        headers.push(("authorization", authorization));
    }
    send("POST", url, &headers, body.as_bytes()).await
}

/// Percent-encodes everything but ASCII letters and digits.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn started(options: FakeZoomOptions) -> (FakeZoom, FakeZoomAccount) {
    let fake = FakeZoom::start(options).await.expect("the fake starts");
    let account = fake.add_account("Mei", "Chen", "mei@example.com");
    (fake, account)
}

fn client_auth(fake: &FakeZoom) -> String {
    basic(&fake.options().client_id, &fake.options().client_secret)
}

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
        .single()
        .expect("a valid time")
}

// RFC 7636, appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "https://app.example/zoom/callback";

async fn authorize(fake: &FakeZoom) -> String {
    let url = format!(
        "{}/authorize?response_type=code&client_id={}&redirect_uri={}&state=st-1&code_challenge={CHALLENGE}&code_challenge_method=S256",
        fake.oauth_base_url(),
        fake.options().client_id,
        encode(REDIRECT),
    );
    let reply = get(&url, None).await;
    assert_eq!(reply.status, 302);
    let location = reply.location();
    assert!(location.as_str().starts_with(REDIRECT));
    let query: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(query.get("state").map(String::as_str), Some("st-1"));
    query.get("code").cloned().expect("a code")
}

#[tokio::test]
async fn oauth_round_trip_with_pkce_and_basic_auth() {
    let (fake, account) = started(FakeZoomOptions::default()).await;
    let token_url = format!("{}/token", fake.oauth_base_url());
    let auth = client_auth(&fake);

    let code = authorize(&fake).await;
    let wrong = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        (
            "code_verifier",
            "not-the-verifier-not-the-verifier-not-the-verifier",
        ),
    ];
    let refused = post_form(&token_url, Some(&auth), &wrong).await;
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.json(),
        serde_json::json!({"reason": "Invalid authorization code", "error": "invalid_grant"})
    );

    let code = authorize(&fake).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let granted = post_form(&token_url, Some(&auth), &form).await;
    assert_eq!(
        granted.status,
        200,
        "{}",
        String::from_utf8_lossy(&granted.body)
    );
    let tokens = granted.json();
    assert_eq!(tokens["token_type"], "bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(tokens["scope"], oauth::SCOPES);
    assert!(tokens["refresh_token"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));

    let reused = post_form(&token_url, Some(&auth), &form).await;
    assert_eq!(
        reused.json()["error"],
        "invalid_grant",
        "codes are single-use"
    );

    let access = tokens["access_token"].as_str().expect("an access token");
    let me = get(&format!("{}/users/me", fake.api_base_url()), Some(access)).await;
    assert_eq!(me.status, 200);
    let me = me.json();
    assert_eq!(me["id"], account.id.as_str());
    assert_eq!(me["email"], "mei@example.com");
    assert_eq!(me["account_id"], account.account_id.as_str());
    assert_eq!(me["type"], 2);

    let unknown = get(
        &format!(
            "{}/authorize?response_type=code&client_id=nope&redirect_uri={}",
            fake.oauth_base_url(),
            encode(REDIRECT)
        ),
        None,
    )
    .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.json()["error"], "invalid_client");

    let calls = fake.calls();
    assert_eq!(calls.token_authorization_code, 3);
    assert_eq!(calls.token_refresh, 0);
    assert_eq!(calls.authorize, 3);
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.path == "/oauth/token" && r.auth == AuthKind::Basic));
}

#[tokio::test]
async fn denied_consent_redirects_with_access_denied() {
    let options = FakeZoomOptions {
        deny_consent: true,
        ..FakeZoomOptions::default()
    };
    let (fake, _) = started(options).await;
    let url = format!(
        "{}/authorize?response_type=code&client_id={}&redirect_uri={}&state=s",
        fake.oauth_base_url(),
        fake.options().client_id,
        encode(REDIRECT)
    );
    let reply = get(&url, None).await;
    assert_eq!(reply.status, 302);
    let query: HashMap<String, String> = reply.location().query_pairs().into_owned().collect();
    assert_eq!(
        query.get("error").map(String::as_str),
        Some("access_denied")
    );
    assert_eq!(query.get("state").map(String::as_str), Some("s"));
    assert!(!query.contains_key("code"));
}

#[tokio::test]
async fn client_credentials_in_the_body_and_json_bodies_are_refused() {
    let (fake, account) = started(FakeZoomOptions::default()).await;
    let tokens = fake.issue_tokens(&account);
    let token_url = format!("{}/token", fake.oauth_base_url());
    let options = fake.options().clone();
    let in_body = post_form(
        &token_url,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &tokens.refresh_token),
            ("client_id", &options.client_id),
            ("client_secret", &options.client_secret),
        ],
    )
    .await;
    assert_eq!(in_body.status, 401);
    assert_eq!(
        in_body.json(),
        serde_json::json!({"reason": "Invalid client_id or client_secret", "error": "invalid_client"})
    );

    let auth = client_auth(&fake);
    let body =
        serde_json::json!({"grant_type": "refresh_token", "refresh_token": tokens.refresh_token});
    let json_body = send(
        "POST",
        &token_url,
        &[
            ("content-type", "application/json"),
            ("authorization", &auth),
        ],
        body.to_string().as_bytes(),
    )
    .await;
    assert_eq!(json_body.status, 400);

    let wrong_secret = basic(&options.client_id, "wrong");
    let refused = post_form(
        &token_url,
        Some(&wrong_secret),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &tokens.refresh_token),
        ],
    )
    .await;
    assert_eq!(refused.status, 401);
    let calls = fake.calls();
    assert_eq!(calls.token_body_credentials, 1);
    assert_eq!(calls.token_refresh, 2);
    assert_eq!(calls.token_other, 1, "a JSON body has no form grant_type");
}

#[tokio::test]
async fn refresh_tokens_rotate_and_die_after_one_use_and_revoke_ends_the_grant() {
    let (fake, account) = started(FakeZoomOptions::default()).await;
    let tokens = fake.issue_tokens(&account);
    let token_url = format!("{}/token", fake.oauth_base_url());
    let auth = client_auth(&fake);
    let refresh = |token: String| {
        let (url, auth) = (token_url.clone(), auth.clone());
        async move {
            post_form(
                &url,
                Some(&auth),
                &[("grant_type", "refresh_token"), ("refresh_token", &token)],
            )
            .await
        }
    };

    let first = refresh(tokens.refresh_token.clone()).await;
    assert_eq!(first.status, 200);
    let rotated = first.json()["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();
    assert_ne!(rotated, tokens.refresh_token);

    let reused = refresh(tokens.refresh_token.clone()).await;
    assert_eq!(reused.status, 400);
    assert_eq!(reused.json()["error"], "invalid_grant");

    let second = refresh(rotated).await;
    assert_eq!(second.status, 200);
    let latest = second.json();
    let access = latest["access_token"].as_str().expect("an access token");
    let me_url = format!("{}/users/me", fake.api_base_url());
    assert_eq!(get(&me_url, Some(access)).await.status, 200);
    assert_eq!(fake.calls().token_refresh, 3);

    let revoke_url = format!("{}/revoke?token={}", fake.oauth_base_url(), encode(access));
    let revoked = post_form(&revoke_url, Some(&auth), &[]).await;
    assert_eq!(revoked.status, 200);
    assert_eq!(revoked.json(), serde_json::json!({"status": "success"}));
    let after = get(&me_url, Some(access)).await;
    assert_eq!(after.status, 401);
    assert_eq!(
        after.json(),
        serde_json::json!({"code": 124, "message": "Invalid access token."})
    );
    let latest_refresh = latest["refresh_token"].as_str().expect("a refresh token");
    assert_eq!(refresh(latest_refresh.to_owned()).await.status, 400);
    assert_eq!(fake.calls().revoke, 1);
}

#[tokio::test]
async fn expired_access_tokens_answer_124_until_refreshed() {
    let (fake, account) = started(FakeZoomOptions::default()).await;
    let tokens = fake.issue_tokens(&account);
    let me_url = format!("{}/users/me", fake.api_base_url());
    assert_eq!(get(&me_url, Some(&tokens.access_token)).await.status, 200);
    fake.expire_access_tokens();
    let expired = get(&me_url, Some(&tokens.access_token)).await;
    assert_eq!(
        (expired.status, expired.json()["code"].as_i64()),
        (401, Some(124))
    );
    assert_eq!(get(&me_url, None).await.status, 401);
    let fresh = post_form(
        &format!("{}/token", fake.oauth_base_url()),
        Some(&client_auth(&fake)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &tokens.refresh_token),
        ],
    )
    .await;
    let access = fresh.json()["access_token"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert_eq!(get(&me_url, Some(&access)).await.status, 200);
    assert_eq!(fake.calls().unauthorized, 2);
}

#[tokio::test]
async fn ranges_longer_than_a_month_are_refused_with_code_300() {
    let (fake, account) = started(FakeZoomOptions::default()).await;
    let tokens = fake.issue_tokens(&account);
    let list = |from: &str, to: &str| {
        format!(
            "{}/users/me/recordings?from={from}&to={to}",
            fake.api_base_url()
        )
    };
    let refused = get(
        &list("2026-01-01", "2026-02-02"),
        Some(&tokens.access_token),
    )
    .await;
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.json(),
        serde_json::json!({"code": 300, "message": "Only one month range is allowed"})
    );
    let month = get(
        &list("2026-01-01", "2026-02-01"),
        Some(&tokens.access_token),
    )
    .await;
    assert_eq!(month.status, 200);
    assert_eq!(month.json()["from"], "2026-01-01");
    assert_eq!(month.json()["to"], "2026-02-01");
    let calls = fake.calls().list_recordings;
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].from.as_deref(), Some("2026-01-01"));
    assert_eq!(calls[0].to.as_deref(), Some("2026-02-02"));
}

#[tokio::test]
async fn recordings_page_newest_first_across_three_pages() {
    let (fake, account) = started(FakeZoomOptions::default()).await;
    let other = fake.add_account("Jonas", "Weber", "jonas@example.com");
    let added = fake.add_meetings(&account, 7, at(2026, 1, 5, 9), TimeDelta::hours(1));
    fake.add_meetings(&account, 2, at(2026, 1, 6, 0), TimeDelta::hours(1));
    fake.add_meetings(&other, 2, at(2026, 1, 5, 9), TimeDelta::hours(1));
    let tokens = fake.issue_tokens(&account);
    let base = format!(
        "{}/users/me/recordings?from=2026-01-05&to=2026-01-05&page_size=3",
        fake.api_base_url()
    );

    let mut seen = Vec::new();
    let mut page_token = String::new();
    let mut sizes = Vec::new();
    for _ in 0..3 {
        let url = if page_token.is_empty() {
            base.clone()
        } else {
            format!("{base}&next_page_token={}", encode(&page_token))
        };
        let reply = get(&url, Some(&tokens.access_token)).await;
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let page = reply.json();
        assert_eq!(page["total_records"], 7);
        assert_eq!(page["page_size"], 3);
        let meetings = page["meetings"].as_array().cloned().unwrap_or_default();
        sizes.push(meetings.len());
        seen.extend(
            meetings
                .iter()
                .map(|m| m["uuid"].as_str().unwrap_or("").to_owned()),
        );
        page_token = page["next_page_token"]
            .as_str()
            .expect("a string")
            .to_owned();
    }
    assert_eq!(sizes, [3, 3, 1]);
    assert_eq!(page_token, "", "an empty token ends the listing");
    let newest_first: Vec<String> = added.iter().rev().map(|m| m.uuid.clone()).collect();
    assert_eq!(seen, newest_first);

    let first = get(&base, Some(&tokens.access_token)).await.json();
    let token = first["next_page_token"].as_str().unwrap_or("").to_owned();
    let meeting = &first["meetings"][0];
    assert_eq!(meeting["start_time"], "2026-01-05T15:00:00Z");
    assert_eq!(meeting["type"], 2);
    let files = meeting["recording_files"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let types: Vec<&str> = files
        .iter()
        .filter_map(|f| f["file_type"].as_str())
        .collect();
    assert!(
        types.starts_with(&["MP4", "M4A", "TRANSCRIPT"]),
        "{types:?}"
    );
    for file in &files {
        let bare = matches!(file["file_type"].as_str(), Some("TIMELINE" | "CC"));
        assert_eq!(file.get("id").is_none(), bare);
        assert_eq!(file.get("file_size").is_none(), bare);
        assert!(file["download_url"]
            .as_str()
            .is_some_and(|u| u.starts_with(&format!("{}/rec/download/", fake.base_url()))));
    }
    assert!(
        fake.meetings().iter().any(|m| m.timeline)
            && fake.meetings().iter().any(|m| m.closed_captions),
        "some meetings list bare TIMELINE and CC entries"
    );

    let other_range = format!(
        "{}/users/me/recordings?from=2026-01-04&to=2026-01-05&page_size=3&next_page_token={}",
        fake.api_base_url(),
        encode(&token)
    );
    let mismatched = get(&other_range, Some(&tokens.access_token)).await;
    assert_eq!(
        (mismatched.status, mismatched.json()["code"].as_i64()),
        (400, Some(300))
    );
    fake.expire_page_tokens();
    let expired = get(
        &format!("{base}&next_page_token={}", encode(&token)),
        Some(&tokens.access_token),
    )
    .await;
    assert_eq!(expired.status, 400);
    assert_eq!(expired.json()["code"], 300);
}

fn file_url(fake: &FakeZoom, meeting: &FakeZoomMeeting, file_type: &str) -> String {
    let json = fake.meeting_json(&meeting.uuid).expect("the meeting");
    json["recording_files"]
        .as_array()
        .and_then(|files| files.iter().find(|f| f["file_type"] == file_type))
        .and_then(|f| f["download_url"].as_str())
        .expect("a file of that type")
        .to_owned()
}

#[tokio::test]
async fn downloads_redirect_to_a_file_host_that_never_needs_the_token() {
    let (fake, account) = started(FakeZoomOptions::default()).await;
    let meeting = fake.add_meeting(&account, |m| m.audio_seconds = 2);
    let tokens = fake.issue_tokens(&account);

    let audio = file_url(&fake, &meeting, "M4A");
    assert_eq!(get(&audio, None).await.status, 401);
    let redirect = get(&audio, Some(&tokens.access_token)).await;
    assert_eq!(redirect.status, 302);
    let location = redirect.location();
    assert!(location.as_str().starts_with(&fake.file_host_url()));
    assert_ne!(fake.file_host_url(), fake.base_url(), "a different origin");
    let bytes = get(location.as_str(), None).await;
    assert_eq!(bytes.status, 200);
    assert_eq!(&bytes.body[..4], b"RIFF");
    assert_eq!(&bytes.body[8..12], b"WAVE");
    assert_eq!(bytes.body.len(), 44 + 2 * 16_000 * 2);

    let transcript = file_url(&fake, &meeting, "TRANSCRIPT");
    let redirect = get(&transcript, Some(&tokens.access_token)).await;
    let vtt = get(redirect.location().as_str(), None).await;
    let text = String::from_utf8(vtt.body).expect("UTF-8");
    assert!(text.starts_with("WEBVTT\n\n1\n"), "{text}");
    assert!(text.contains(" --> "));
    let cue_texts: Vec<&str> = text
        .split("\n\n")
        .skip(1)
        .filter_map(|cue| cue.lines().nth(2))
        .collect();
    assert!(cue_texts.iter().any(|t| t.starts_with("Mei Chen: ")));
    assert!(cue_texts.iter().any(|t| !t.contains(": ")), "{cue_texts:?}");

    assert_eq!(fake.calls().file_host_with_authorization, 0);
    assert_eq!(fake.calls().file_host, 2);
    let leaked = get(location.as_str(), Some(&tokens.access_token)).await;
    assert_eq!(leaked.status, 200);
    assert_eq!(fake.calls().file_host_with_authorization, 1);

    let mut forged = location.clone();
    forged.set_query(Some("expires=99999999999&sig=00"));
    assert_eq!(get(forged.as_str(), None).await.status, 403);

    assert!(fake.delete_meeting(&meeting.uuid));
    assert_eq!(get(&audio, Some(&tokens.access_token)).await.status, 404);
}

#[tokio::test]
async fn webhook_download_tokens_download_until_they_expire() {
    let (fake, account) = started(FakeZoomOptions::default()).await;
    let meeting = fake.add_meeting(&account, |_| {});
    let event = fake
        .recording_completed_event(&meeting.uuid)
        .expect("an event");
    assert_eq!(event.name(), "recording.completed");
    assert_eq!(
        event.body["payload"]["account_id"],
        account.account_id.as_str()
    );
    assert_eq!(
        event.body["payload"]["object"]["uuid"],
        meeting.uuid.as_str()
    );
    let token = event.body["download_token"]
        .as_str()
        .expect("download_token beside the payload")
        .to_owned();
    let url = format!(
        "{}?access_token={}",
        file_url(&fake, &meeting, "MP4"),
        encode(&token)
    );
    let redirect = get(&url, None).await;
    assert_eq!(redirect.status, 302);
    assert_eq!(get(redirect.location().as_str(), None).await.status, 200);
    assert_eq!(fake.calls().downloads_with_download_token, 1);
    let recorded = fake.requests();
    let download = recorded
        .iter()
        .find(|r| r.path.starts_with("/rec/download/"))
        .expect("recorded");
    assert_eq!(download.auth, AuthKind::DownloadToken);
    assert_eq!(download.query.as_deref(), Some("access_token=***"));

    let transcript = fake
        .transcript_completed_event(&meeting.uuid)
        .expect("an event");
    let files = transcript.body["payload"]["object"]["recording_files"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["file_type"], "TRANSCRIPT");

    fake.expire_download_tokens();
    assert_eq!(get(&url, None).await.status, 401);

    let options = FakeZoomOptions {
        download_token_in_payload: true,
        ..FakeZoomOptions::default()
    };
    let (inside, account) = started(options).await;
    let meeting = inside.add_meeting(&account, |_| {});
    let event = inside
        .recording_completed_event(&meeting.uuid)
        .expect("an event");
    assert!(event.body.get("download_token").is_none());
    assert!(event.body["payload"]["download_token"].is_string());
    assert_eq!(
        event.download_token(),
        event.body["payload"]["download_token"].as_str()
    );
}

#[tokio::test]
async fn over_the_medium_budget_answers_429_with_retry_after() {
    let options = FakeZoomOptions {
        // A long window keeps the test steady on a slow machine.
        rate_limit_window: Duration::from_secs(30),
        ..FakeZoomOptions::default()
    };
    let (fake, account) = started(options).await;
    fake.set_rate_limits(ZoomRateLimits {
        medium: 2,
        ..ZoomRateLimits::default()
    });
    let tokens = fake.issue_tokens(&account);
    let list = format!("{}/users/me/recordings", fake.api_base_url());
    assert_eq!(get(&list, Some(&tokens.access_token)).await.status, 200);
    assert_eq!(get(&list, Some(&tokens.access_token)).await.status, 200);
    let limited = get(&list, Some(&tokens.access_token)).await;
    assert_eq!(limited.status, 429);
    let retry_after: u64 = limited
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("whole seconds");
    assert!((1..=30).contains(&retry_after));
    assert_eq!(limited.header("x-ratelimit-category"), Some("Medium"));
    assert_eq!(
        limited.json(),
        serde_json::json!({"code": 429, "message": "You have reached the maximum per-second rate limit for this API. Try again later."})
    );
    let me = format!("{}/users/me", fake.api_base_url());
    assert_eq!(
        get(&me, Some(&tokens.access_token)).await.status,
        200,
        "Light has its own budget"
    );
    assert_eq!(fake.calls().rate_limited, 1);
}

#[tokio::test]
async fn injected_faults_answer_before_the_handler() {
    let options = FakeZoomOptions {
        fractional_seconds: true,
        ..FakeZoomOptions::default()
    };
    let (fake, account) = started(options).await;
    let tokens = fake.issue_tokens(&account);
    let me = format!("{}/users/me", fake.api_base_url());
    fake.throttle_next(1, Duration::from_millis(250));
    let throttled = get(&me, Some(&tokens.access_token)).await;
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.header("retry-after"), Some("0.250"));
    fake.fail_next(1, 503);
    assert_eq!(get(&me, Some(&tokens.access_token)).await.status, 503);
    assert_eq!(get(&me, Some(&tokens.access_token)).await.status, 200);
    let calls = fake.calls();
    assert_eq!(
        (calls.rate_limited, calls.injected_failures, calls.users_me),
        (1, 1, 3)
    );
}

#[tokio::test]
async fn a_uuid_with_double_slash_is_found_only_double_encoded() {
    let (fake, account) = started(FakeZoomOptions::default()).await;
    let uuid = "/ajXp112QmuoKj4854875==";
    let slashed = "Ab//Cd+ef/gh0123456789==";
    fake.add_meeting(&account, |m| m.uuid = uuid.into());
    fake.add_meeting(&account, |m| m.uuid = slashed.into());
    let plain = fake.add_meeting(&account, |_| {});
    let tokens = fake.issue_tokens(&account);
    let url = |reference: &str| format!("{}/meetings/{reference}/recordings", fake.api_base_url());

    for id in [uuid, slashed] {
        let single = get(&url(&encode(id)), Some(&tokens.access_token)).await;
        assert_eq!(single.status, 404, "{id} sent single-encoded");
        let double = get(&url(&encode(&encode(id))), Some(&tokens.access_token)).await;
        assert_eq!(double.status, 200, "{id} sent double-encoded");
        assert_eq!(double.json()["uuid"], id);
    }
    let simple = get(&url(&encode(&plain.uuid)), Some(&tokens.access_token)).await;
    assert_eq!(simple.json()["uuid"], plain.uuid.as_str());
    let by_number = get(&url(&plain.id.to_string()), Some(&tokens.access_token)).await;
    assert_eq!(by_number.json()["uuid"], plain.uuid.as_str());
    let missing = get(&url("bm90LWEtbWVldGluZw%3D%3D"), Some(&tokens.access_token)).await;
    assert_eq!(
        (missing.status, missing.json()["code"].as_i64()),
        (404, Some(3301))
    );
}

fn independent_hmac_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(message);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn signatures_match_an_independent_hmac_and_a_published_vector() {
    let body = br#"{"event":"recording.completed","payload":{}}"#;
    let expected = format!(
        "v0={}",
        independent_hmac_hex(
            b"whsec-test",
            br#"v0:1767607200:{"event":"recording.completed","payload":{}}"#
        )
    );
    assert_eq!(sign_event("whsec-test", 1_767_607_200, body), expected);

    // RFC 4231, test case 2.
    let response = expected_validation_response("Jefe", "what do ya want for nothing?");
    assert_eq!(
        response,
        serde_json::json!({
            "plainToken": "what do ya want for nothing?",
            "encryptedToken": "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        })
    );

    let event = url_validation_event("qgg8vlvZRS6UYooatFL8Aw");
    let signed = event.sign("secret", 1_700_000_000);
    assert_eq!(signed.header("x-zm-request-timestamp"), Some("1700000000"));
    assert_eq!(signed.header("content-type"), Some("application/json"));
    assert_eq!(
        signed.header("x-zm-signature").map(str::to_owned),
        Some(sign_event("secret", 1_700_000_000, &signed.body))
    );
    let body: Value = serde_json::from_slice(&signed.body).expect("JSON");
    assert_eq!(body["payload"]["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
    assert!(body["event_ts"]
        .as_i64()
        .is_some_and(|ts| ts > 1_700_000_000_000));
}

#[tokio::test]
async fn deauthorization_ends_the_users_tokens_and_describes_them() {
    let (fake, account) = started(FakeZoomOptions::default()).await;
    let tokens = fake.issue_tokens(&account);
    let event = fake.deauthorize(&account);
    let payload = &event.body["payload"];
    assert_eq!(event.name(), "app_deauthorized");
    assert_eq!(payload["user_id"], account.id.as_str());
    assert_eq!(payload["account_id"], account.account_id.as_str());
    assert_eq!(payload["client_id"], fake.options().client_id.as_str());
    assert!(payload["deauthorization_time"].is_string() && payload["signature"].is_string());
    let me = format!("{}/users/me", fake.api_base_url());
    assert_eq!(get(&me, Some(&tokens.access_token)).await.status, 401);
    let signed = fake.sign(&event);
    assert_eq!(
        signed.signature,
        sign_event(
            &fake.options().webhook_secret_token,
            signed.timestamp,
            &signed.body
        )
    );
}
