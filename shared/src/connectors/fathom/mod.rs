//! Fathom: API client, OAuth app, normalization into `MeetingContent`, and the connector.
//!
//! A sync lists with `ListMeetingsQuery::with_content()` and passes each item to
//! `FathomClient::fetch_meeting_content`: with an API key the content arrives in the listing
//! (one call per 10 meetings); with an OAuth token, which may not ask `/meetings` for
//! transcripts or summaries, each meeting costs two more calls.

mod client;
mod connector;
mod credential;
mod error;
mod normalize;
mod oauth;
mod wire;

pub use client::{
    build_http_client, CreatedWebhook, FathomClient, HttpTimeouts, ListMeetingsQuery, TriggeredFor,
};
pub use connector::FathomConnector;
pub use credential::{limiter_key, FathomCredential};
pub use error::FathomError;
pub use normalize::normalize;
pub use oauth::{FathomOAuth, OAuthApp, TokenSet, SCOPE};
pub use wire::{
    parse_timestamp, parse_webhook_meeting, ActionItem, Assignee, CalendarInvitee, Meeting,
    MeetingsPage, Recorder, Speaker, Summary, TranscriptItem, UndecodableMeeting,
};

pub use super::rate_limit::{Budget, Budgets, RateLimiterRegistry};
pub use super::transport::RetryPolicy;

use super::rate_limit::{BucketBudget, RequestClass};
use std::time::Duration;

/// Fathom's buckets: every request spends from the overall one, heavy requests (transcripts,
/// summaries, `/meetings` with either included) from the heavy one too.
pub fn budgets_per_window(overall: u32, heavy: u32, window: Duration) -> Budgets {
    Budgets(vec![
        BucketBudget {
            budget: Budget {
                requests: heavy,
                window,
            },
            spent_by: &[RequestClass::Heavy],
        },
        BucketBudget {
            budget: Budget {
                requests: overall,
                window,
            },
            spent_by: &[RequestClass::Light, RequestClass::Heavy],
        },
    ])
}

/// Fathom's published limits: 60 requests per 60 s, of which 30 heavy.
pub fn documented_budgets() -> Budgets {
    budgets_per_window(60, 30, Duration::from_secs(60))
}
