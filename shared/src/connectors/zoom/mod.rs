//! Zoom: its API client and connector, and the pieces that need no network — Zoom's JSON,
//! WebVTT transcripts, event notifications, listing windows, URL paths, and normalization
//! into `MeetingContent`.
//!
//! A sync lists `GET /v2/users/me/recordings` one `DateWindow` at a time, then for each
//! meeting downloads `transcript_file()` (parsed by `parse_vtt`) or, when there is none,
//! `audio_file()` for transcription, and calls `normalize`.

mod client;
mod connector;
mod error;
mod normalize;
mod paths;
mod vtt;
mod webhook;
mod windows;
mod wire;

pub use client::{DownloadAuth, ZoomClient};
pub use connector::ZoomConnector;
pub use error::ZoomWireError;
pub use normalize::normalize;
pub use paths::meeting_path_segment;
pub use vtt::{parse_vtt, speakers};
pub use webhook::{
    event_id, parse_event, sign, url_validation_response, verify, RecordingEventKind, ZoomEvent,
    ZoomSecretToken, ZoomVerifyError, SIGNATURE_HEADER, TIMESTAMP_HEADER, TOLERANCE_SECS,
};
pub use windows::{windows, DateWindow, WINDOW_DAYS};
pub use wire::{
    parse_meeting, parse_recordings_page, parse_user, FileSummary, UndecodableMeeting,
    ZoomApiError, ZoomFileType, ZoomMeeting, ZoomRecordingFile, ZoomRecordingsPage, ZoomUser,
};
