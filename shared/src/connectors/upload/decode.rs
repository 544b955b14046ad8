//! Decodes the audio track of a file on disk into 16 kHz mono, a piece at a time, so a file
//! of any length is never held in memory whole.

//!
//! The decoder (the audio engine, symphonia) is linked only into what transcribes media (the
//! `audio` feature); elsewhere `MonoDecoder::open` says it is not there, and a file the API
//! takes as it is is sent undecoded.

#[cfg(feature = "audio")]
#[path = "decode_engine.rs"]
mod engine;
#[cfg(feature = "audio")]
pub use engine::MonoDecoder;

/// The rate speech models work at; more only makes requests bigger.
pub const TARGET_RATE: u32 = 16_000;
/// The lowest sample rate accepted: telephone audio. Below it a few bytes stretch into hours
/// of audio once resampled, and there is no speech to hear.
pub const MIN_SAMPLE_RATE: u32 = 8_000;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("could not read the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("the file has no audio track")]
    NoAudioTrack,
    #[error("its {0} audio cannot be decoded here")]
    UnsupportedCodec(String),
    #[error("the audio data is damaged ({0})")]
    Damaged(String),
    #[error("its audio is sampled at {0} Hz, below the {MIN_SAMPLE_RATE} Hz speech needs")]
    SampleRateTooLow(u32),
    #[error("no audio decoder is built into this function")]
    NoEngine,
}

/// Without the audio engine nothing opens.
#[cfg(not(feature = "audio"))]
pub struct MonoDecoder {
    never: std::convert::Infallible,
}

#[cfg(not(feature = "audio"))]
impl MonoDecoder {
    pub fn open(
        _path: &std::path::Path,
        _format: super::sniff::MediaFormat,
    ) -> Result<Self, DecodeError> {
        Err(DecodeError::NoEngine)
    }

    pub fn duration_seconds(&self) -> Option<f64> {
        match self.never {}
    }

    pub fn next_piece(&mut self) -> Result<Option<Vec<f32>>, DecodeError> {
        match self.never {}
    }
}
