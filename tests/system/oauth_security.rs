//! Connecting with OAuth safely: the flow is bound to the browser that started it, PKCE is on,
//! and the browser only ever returns inside the app.

use reqwest::{Method, StatusCode};
use serde_json::json;
use system_tests::fathom_world::{fake_options, url_param, world, world_with, APP};
use system_tests::{assert_error, Settings};

#[tokio::test]
async fn a_flow_finished_in_another_browser_links_nothing_unless_its_own_user_confirms() {
    let w = world(3).await;
    // Mallory starts a flow with her own token and sends the authorization link to Alice.
    let (link, _mallorys_cookie) = w.initiate("fathom", "mallory", json!({})).await;
    let callback = w.consent(&link).await;
    // Alice's browser comes back without Mallory's cookie: nothing is linked yet.
    let landing = w.follow(&callback).await;
    assert!(
        landing.starts_with(&format!("{APP}?confirm=fathom&ticket=")),
        "{landing}"
    );
    let ticket = url_param(&landing, "ticket");
    // The app, signed in as Alice, confirms: refused, and the ticket is spent.
    let refused = w
        .app
        .send_json(
            Method::POST,
            "/oauth/fathom/confirm",
            "alice",
            &json!({ "ticket": ticket }),
        )
        .await;
    assert_error(&refused, StatusCode::FORBIDDEN, "wrong_user");
    let again = w
        .app
        .send_json(
            Method::POST,
            "/oauth/fathom/confirm",
            "mallory",
            &json!({ "ticket": ticket }),
        )
        .await;
    assert_error(&again, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(w.fathom_source("alice").await["status"], "not_connected");
    assert_eq!(w.fathom_source("mallory").await["status"], "not_connected");
    assert_eq!(
        w.fake.calls().token_authorization_code,
        0,
        "no code was exchanged"
    );

    // An app on another origin (its browser never saw the API's cookie) confirms for the
    // user who started the flow: connected.
    let (link, _) = w.initiate("fathom", "bob", json!({})).await;
    let landing = w.follow(&w.consent(&link).await).await;
    let ticket = url_param(&landing, "ticket");
    let confirmed = w
        .app
        .send_json(
            Method::POST,
            "/oauth/fathom/confirm",
            "bob",
            &json!({ "ticket": ticket }),
        )
        .await;
    assert_eq!(confirmed.0, StatusCode::OK, "{}", confirmed.1);
    assert_eq!(confirmed.1["connected"], "fathom");
    assert_eq!(w.fathom_source("bob").await["status"], "active");
    let job = w.initial_job("bob").await;
    assert_eq!(job["status"], "completed", "{job}");
}

#[tokio::test]
async fn the_binding_cookie_is_http_only_lax_and_host_prefixed_over_https() {
    let w = world(0).await;
    let response = w
        .app
        .client
        .post(w.app.url("/oauth/fathom/initiate"))
        .bearer_auth(w.app.token("alice"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("callsync_oauth_fathom="), "{cookie}");
    for attribute in ["Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=600"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http cannot keep a Secure cookie"
    );

    let https = world_with(
        fake_options(),
        0,
        Settings::default().set("PUBLIC_BASE_URL", "https://api.callsync.test"),
        |s| s,
    )
    .await;
    let (_, cookie) = https.initiate("fathom", "alice", json!({})).await;
    assert!(
        cookie.starts_with("__Host-callsync_oauth_fathom="),
        "{cookie}"
    );
    let response = https
        .app
        .client
        .post(https.app.url("/oauth/fathom/initiate"))
        .bearer_auth(https.app.token("alice"))
        .send()
        .await
        .unwrap();
    let header = response.headers()["set-cookie"].to_str().unwrap();
    assert!(header.contains("; Secure"), "{header}");
}

#[tokio::test]
async fn pkce_is_on_by_default_and_checked_by_the_provider() {
    let w = world(1).await;
    let (link, cookie) = w.initiate("fathom", "alice", json!({})).await;
    assert_eq!(url_param(&link, "code_challenge_method"), "S256");
    assert_eq!(url_param(&link, "code_challenge").len(), 43);
    let landing = w.follow_with(&w.consent(&link).await, Some(&cookie)).await;
    assert_eq!(landing, format!("{APP}?connected=fathom"));
}

#[tokio::test]
async fn return_paths_that_could_leave_the_app_are_refused_and_store_nothing() {
    let w = world(0).await;
    for path in [
        "/\t//evil.example/x",
        "/\r//evil.example/x",
        "/\n//evil.example/x",
        "//evil.example",
        "/\\evil.example",
        "https://evil.example",
        "/\u{0}x",
    ] {
        let answer = w
            .app
            .send_json(
                Method::POST,
                "/oauth/fathom/initiate",
                "alice",
                &json!({ "return_path": path }),
            )
            .await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_return_path");
    }
}

#[tokio::test]
async fn the_browser_returns_under_the_apps_base_path() {
    let app = "http://app.callsync.test/app";
    let w = world_with(
        fake_options(),
        1,
        Settings::default().set("APP_BASE_URL", app),
        |s| s,
    )
    .await;
    assert_eq!(
        w.connect_with_oauth("alice").await,
        format!("{app}?connected=fathom")
    );
    let (link, cookie) = w
        .initiate("fathom", "bob", json!({"return_path": "/sources?tab=all"}))
        .await;
    assert_eq!(
        w.follow_with(&w.consent(&link).await, Some(&cookie)).await,
        format!("{app}/sources?tab=all&connected=fathom")
    );
}
