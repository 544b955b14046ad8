//! The dev server's own routes beside the API: the built Import Hub at `/` (API routes and
//! local uploads first), `POST /dev/token`, `GET /dev/demo`, and CORS for an app elsewhere.

use dev_server::auth::{self, JwtSecret};
use dev_server::Running;
use pipeline::adapters::local::LocalBackend;
use pipeline::config::Config;
use serde_json::{json, Value};
use std::sync::Arc;

const SECRET: &str = "web-test-secret";

struct Server {
    running: Running,
    _data: tempfile::TempDir,
    _dist: tempfile::TempDir,
}

async fn start() -> Server {
    start_with_cors(None).await
}

async fn start_with_cors(origin: Option<&str>) -> Server {
    let data = tempfile::tempdir().unwrap();
    let dist = tempfile::tempdir().unwrap();
    std::fs::write(
        dist.path().join("index.html"),
        "<!doctype html><title>hub</title>",
    )
    .unwrap();
    std::fs::create_dir(dist.path().join("assets")).unwrap();
    std::fs::write(dist.path().join("assets/index-abc.js"), "export {}").unwrap();
    let dir = data.path().to_string_lossy().into_owned();
    let config =
        Config::from_lookup(|name| (name == "LOCAL_DATA_DIR").then(|| dir.clone())).unwrap();
    let backend = LocalBackend::open_with(
        Arc::new(config),
        Arc::new(pipeline::ports::SystemClock),
        Some(pipeline::testing::test_secrets()),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = dev_server::app::callsync(backend, JwtSecret::new(SECRET))
        .web_root(dist.path())
        .cors(origin.map(str::to_owned))
        .start(listener)
        .await
        .unwrap();
    Server {
        running,
        _data: data,
        _dist: dist,
    }
}

async fn get(server: &Server, path: &str, accept: &str) -> (u16, String, String) {
    let response = reqwest::Client::new()
        .get(server.running.url(path))
        .header("accept", accept)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

const HTML: &str = "text/html,application/xhtml+xml,*/*;q=0.8";

#[tokio::test]
async fn the_app_is_served_beside_the_api_which_keeps_precedence() {
    let server = start().await;
    let (status, content_type, body) = get(&server, "/", HTML).await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/html; charset=utf-8")
    );
    assert!(body.contains("hub"));
    // An app route loads the app.
    let (status, _, body) = get(&server, "/meetings/rec_123", HTML).await;
    assert_eq!(status, 200);
    assert!(body.contains("hub"));
    let (status, content_type, _) = get(&server, "/assets/index-abc.js", "*/*").await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/javascript; charset=utf-8")
    );
    // API routes answer as the API, even to a browser.
    let (status, content_type, body) = get(&server, "/sources", HTML).await;
    assert_eq!(
        (status, content_type.as_str()),
        (401, "application/json"),
        "{body}"
    );
    let (status, _, body) = get(&server, "/health", HTML).await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    // Local uploads too.
    let (status, _, _) = get(&server, "/_local/blobs/uploads/x", HTML).await;
    assert_eq!(status, 405);
    // What is neither, asked for as data, is the API's 404.
    let (status, _, body) = get(&server, "/nothing/here", "application/json").await;
    assert_eq!(status, 404);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
        "not_found"
    );
}

#[tokio::test]
async fn dev_tokens_carry_the_name_and_optionally_a_workspace_and_role() {
    let server = start().await;
    let client = reqwest::Client::new();
    let post = |body: Value| {
        client
            .post(server.running.url("/dev/token"))
            .json(&body)
            .send()
    };
    let response = post(json!({"name": "ana", "workspace": "acme", "role": "admin"}))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let token = response.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let claims = auth::verify(&JwtSecret::new(SECRET), Some(&format!("Bearer {token}"))).unwrap();
    assert_eq!(claims["sub"], "ana");
    assert_eq!(claims["org_id"], "acme");
    assert_eq!(claims["org_role"], "admin");
    // The token works on the API, as an admin of that workspace.
    let sources = client
        .get(server.running.url("/sources?scope=workspace"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(sources.status(), 200);
    let member = post(json!({"name": "cy", "workspace": "acme", "role": "member"}))
        .await
        .unwrap();
    let token = member.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let sources = client
        .get(server.running.url("/sources?scope=workspace"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        sources.status(),
        403,
        "members do not list the team's sources"
    );

    let plain = post(json!({"name": "bo"})).await.unwrap();
    let token = plain.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let claims = auth::verify(&JwtSecret::new(SECRET), Some(&format!("Bearer {token}"))).unwrap();
    assert!(!claims.contains_key("org_id"));

    for bad in [
        json!({"name": ""}),
        json!({"name": "two words"}),
        json!({"name": "ana", "workspace": "acme", "role": "owner"}),
        json!({"name": "ana", "workspace": "personal:bob"}),
        json!({"name": "ana", "workspace": "two words"}),
        json!({"nom": "ana"}),
    ] {
        let response = post(bad.clone()).await.unwrap();
        assert_eq!(response.status(), 400, "{bad}");
    }
}

#[tokio::test]
async fn without_demo_providers_the_server_says_so() {
    let server = start().await;
    let (status, _, body) = get(&server, "/dev/demo", "application/json").await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["demo"], false);
    let response = reqwest::Client::new()
        .post(server.running.url("/dev/demo/faults"))
        .json(&json!({"provider": "fathom", "count": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
}

#[tokio::test]
async fn an_app_on_the_allowed_origin_may_call_the_api_and_others_may_not() {
    let server = start_with_cors(Some("http://app.test:5173")).await;
    let client = reqwest::Client::new();
    let allowed = |response: &reqwest::Response| {
        response
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let preflight = client
        .request(reqwest::Method::OPTIONS, server.running.url("/sources"))
        .header("origin", "http://app.test:5173")
        .header("access-control-request-method", "PATCH")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(allowed(&preflight).as_deref(), Some("http://app.test:5173"));
    let methods = preflight.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        methods.contains("PATCH") && methods.contains("PUT"),
        "{methods}"
    );

    let refused = client
        .get(server.running.url("/sources"))
        .header("origin", "http://app.test:5173")
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        401,
        "CORS lets the call through, not past sign-in"
    );
    assert_eq!(allowed(&refused).as_deref(), Some("http://app.test:5173"));

    let elsewhere = client
        .get(server.running.url("/health"))
        .header("origin", "http://evil.test")
        .send()
        .await
        .unwrap();
    // A browser on another origin finds its own origin not allowed.
    assert_ne!(allowed(&elsewhere).as_deref(), Some("http://evil.test"));

    let same_origin_only = start().await;
    let response = client
        .get(same_origin_only.running.url("/health"))
        .header("origin", "http://app.test:5173")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed(&response),
        None,
        "without CORS_ALLOWED_ORIGIN, only the server's own origin"
    );
}

#[tokio::test]
async fn every_answer_names_its_request_and_an_error_says_it_too() {
    let server = start().await;
    let client = reqwest::Client::new();
    let refused = client
        .get(server.running.url("/sources"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let id = refused.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["request_id"], id.as_str());
    assert_eq!(body["error"]["code"], "unauthorized");

    let health = client
        .get(server.running.url("/health"))
        .send()
        .await
        .unwrap();
    let other = health.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(other, id, "each request has its own id");
    assert_eq!(
        health.json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );
}
