//! Test support shared by this crate's tests and other crates' (feature `testing`): the
//! backend contract suite, ready-made backends, and sample domain values.

pub mod contract;
pub mod moto;

use crate::config::Config;
use crate::crypto::SealingKey;
use crate::domain::{
    ExternalId, MeetingContent, Recording, Sharing, Source, Tenant, TranscriptSegment, UserId,
    WorkspaceId,
};
use crate::ports::ManualClock;
use crate::secrets::Secrets;
use crate::services::Services;
use chrono::{DateTime, TimeZone, Utc};
use std::any::Any;
use std::sync::Arc;

/// A backend under test with whatever must outlive it (a temporary directory, a server).
pub struct TestBackend {
    pub services: Services,
    pub clock: Arc<ManualClock>,
    /// Receives after which the queues dead-letter a message.
    pub max_receives: u32,
    pub guard: Box<dyn Any + Send + Sync>,
}

/// A fixed instant tests start from.
/// The cookie (`name=value`) a response sets, as a browser sends it back: how tests carry the
/// OAuth flow's browser binding from initiate to the callback.
pub fn set_cookie(headers: &http::HeaderMap) -> String {
    headers
        .get(http::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .to_owned()
}

pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
        .single()
        .unwrap_or_default()
}

pub fn test_secrets() -> Secrets {
    let key =
        SealingKey::from_base64(&SealingKey::generate_base64()).expect("a generated key is valid");
    Secrets::from_lookup(key, |_| None).expect("no secrets set is valid")
}

/// A fresh embedded backend in a temporary directory.
pub async fn local_backend() -> TestBackend {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data_dir = dir.path().to_string_lossy().into_owned();
    let config = Config::from_lookup(|name| (name == "LOCAL_DATA_DIR").then(|| data_dir.clone()))
        .expect("test config");
    let clock = Arc::new(ManualClock::new(epoch()));
    let backend = crate::adapters::local::LocalBackend::open_with(
        Arc::new(config),
        clock.clone(),
        Some(test_secrets()),
    )
    .expect("open local backend");
    TestBackend {
        services: backend.services,
        clock,
        max_receives: crate::adapters::local::MAX_RECEIVES,
        guard: Box::new(dir),
    }
}

pub fn user(name: &str) -> UserId {
    UserId::parse(name).expect("valid test user id")
}

/// A meeting with a title, a start time `minutes` after `epoch()`, and a short transcript.
pub fn meeting(source: Source, external_id: &str, title: &str, minutes: i64) -> MeetingContent {
    let started = epoch() + chrono::Duration::minutes(minutes);
    MeetingContent {
        source,
        external_id: ExternalId::parse(external_id).expect("valid external id"),
        title: title.to_owned(),
        started_at: Some(started),
        ended_at: Some(started + chrono::Duration::minutes(30)),
        duration_seconds: Some(1800.0),
        participants: Vec::new(),
        transcript: vec![TranscriptSegment {
            speaker: Some("Ada".into()),
            start_seconds: 0.0,
            text: format!("Notes about {title}"),
        }],
        summary_markdown: Some(format!("## {title}")),
        action_items: Vec::new(),
        url: None,
        share_url: None,
        source_created_at: Some(started),
        files: Vec::new(),
    }
}

/// `name` in their personal workspace.
pub fn member(name: &str) -> Tenant {
    Tenant::personal(user(name))
}

/// `name` in the team workspace `workspace`.
pub fn teammate(workspace: &str, name: &str) -> Tenant {
    Tenant::new(
        WorkspaceId::parse(workspace).expect("valid test workspace id"),
        user(name),
    )
}

/// `owner`'s recording of `content`, shared as their workspace shares by default.
pub fn recording(owner: &Tenant, content: MeetingContent) -> Recording {
    Recording::from_content(owner.clone(), Sharing::default_for(owner), content, epoch())
}

/// An API Gateway v2 event (a function's `events/*.json`) as the request the function gets.
pub fn api_request(event_json: &str) -> lambda_http::Request {
    let event: lambda_http::request::LambdaRequest =
        serde_json::from_str(event_json).expect("a valid API Gateway event");
    event.into()
}
