//! Uploaded files become recordings. What the two upload functions share:
//!
//! - `keys`: where a staged file lives in the blob store, and the upload its key names;
//! - `messages`: what announces it on the transcribe queue (S3's notification of the new
//!   object, or our own message);
//! - `quota`: the monthly quota as an upload start meets it;
//! - `consumer`: the work for one upload: dedup by content, transcription, storing the
//!   recording, and keeping the upload and its job current;
//! - `retry`: another attempt, after a transient failure or when the user asks for one.

mod consumer;
mod keys;
mod messages;
mod quota;
mod retry;

use std::time::Duration;

pub use consumer::{transcribe_upload, Delivery, UploadTranscription};
pub use keys::{
    decode_s3_key, generic_title, recording_title, staged_key, staged_upload, StagedUpload,
    STAGED_PREFIX,
};
pub use messages::{uploads_in_message, Announced, UnreadableMessage, UploadMessage};
pub use quota::{quota_exhausted, quota_message};
pub use retry::{
    attempt_message, retry_refusal, retry_upload, wait_after, MAX_ATTEMPTS, STALLED_AFTER,
};

/// How long a presigned upload URL stays valid.
pub const UPLOAD_URL_LIFETIME: Duration = Duration::from_secs(15 * 60);
