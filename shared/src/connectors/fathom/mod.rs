//! Fathom: API client, rate limiting, OAuth token calls, and normalization into
//! `MeetingContent`.
//!
//! A sync lists with `ListMeetingsQuery::with_content()` and passes each item to
//! `FathomClient::fetch_meeting_content`: with an API key the content arrives in the listing
//! (one call per 10 meetings); with an OAuth token, which may not ask `/meetings` for
//! transcripts or summaries, each meeting costs two more calls.

mod client;
mod credential;
mod error;
mod normalize;
mod oauth;
mod rate_limit;
mod transport;
mod wire;

pub use client::{
    build_http_client, CreatedWebhook, FathomClient, HttpTimeouts, ListMeetingsQuery, TriggeredFor,
};
pub use credential::FathomCredential;
pub use error::FathomError;
pub use normalize::normalize;
pub use oauth::{FathomOAuth, OAuthApp, TokenSet, SCOPE};
pub use rate_limit::{Budget, Budgets, RateLimiterRegistry};
pub use transport::RetryPolicy;
pub use wire::{
    parse_timestamp, parse_webhook_meeting, ActionItem, Assignee, CalendarInvitee, Meeting,
    MeetingsPage, Recorder, Speaker, Summary, TranscriptItem, UndecodableMeeting,
};
