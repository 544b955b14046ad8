//! Uploaded audio/video: format sniffing, decoding, chunking, transcription.
//!
//! `transcribe_media` is the entry point: it takes a file on disk (see `spool` to get one from a
//! blob while hashing it) and returns its timed transcript, however long the recording.

pub mod chunker;
pub mod decode;
pub mod merge;
#[cfg(feature = "audio")]
mod resample;
pub mod sniff;
pub mod spool;
pub mod transcribe_client;
pub mod transcription;

pub use sniff::{accepted_upload_type, sniff, MediaFormat, SniffError, UnsupportedUpload};
pub use spool::{spool_to_temp_file, SpoolError, SpooledFile};
pub use transcribe_client::{TranscribeClient, TranscribeError, TranscribeSettings};
pub use transcription::{
    transcribe_media, MediaError, Transcription, TranscriptionOptions, API_MAX_REQUEST_BYTES,
};
