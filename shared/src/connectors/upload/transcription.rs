//! Transcribes one media file of any length: sniffs it, decodes it to 16 kHz mono, cuts it into
//! chunks the API accepts, transcribes a few chunks at a time, and merges the results. A file
//! that cannot be decoded here but is small enough goes to the API as it is.

use super::chunker::{ChunkPlan, Chunker, WavChunk};
use super::decode::{DecodeError, MonoDecoder, MIN_SAMPLE_RATE, TARGET_RATE};
use super::merge::{merge_chunks, ChunkTranscript};
use super::sniff::{sniff, MediaFormat, SniffError, SNIFF_LEN};
use super::transcribe_client::{AudioFile, TimedSegment, TranscribeClient, TranscribeError};
use crate::domain::TranscriptSegment;
use futures::stream::{FuturesUnordered, StreamExt};
use std::path::Path;
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// The transcription API's request limit (25 MB).
pub const API_MAX_REQUEST_BYTES: u64 = 25_000_000;
/// Room left in a request for the multipart envelope and the other form fields.
const MULTIPART_ALLOWANCE_BYTES: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptionOptions {
    /// Longest chunk; shortened further if its WAV would not fit in one request.
    pub max_chunk_seconds: f64,
    /// Audio repeated at the start of each chunk after the first.
    pub overlap_seconds: f64,
    /// How far before the longest allowed cut to look for a quiet place to cut.
    pub silence_search_seconds: f64,
    /// Chunks being transcribed at once; also the most encoded chunks held in memory.
    pub parallelism: usize,
    pub max_request_bytes: u64,
    /// Longest audio transcribed: a file declaring more fails before any request, and one
    /// found to be longer while it is decoded stops there.
    pub max_audio_seconds: f64,
}

impl Default for TranscriptionOptions {
    fn default() -> Self {
        Self {
            max_chunk_seconds: 600.0,
            overlap_seconds: 2.0,
            silence_search_seconds: 30.0,
            parallelism: 3,
            max_request_bytes: API_MAX_REQUEST_BYTES,
            max_audio_seconds: 6.0 * 3600.0,
        }
    }
}

impl TranscriptionOptions {
    fn chunk_plan(&self) -> ChunkPlan {
        let wav_limit = self
            .max_request_bytes
            .saturating_sub(MULTIPART_ALLOWANCE_BYTES);
        ChunkPlan::new(
            self.max_chunk_seconds,
            self.overlap_seconds,
            self.silence_search_seconds,
            wav_limit,
        )
    }

    fn fits_in_one_request(&self, file_bytes: u64) -> bool {
        file_bytes + MULTIPART_ALLOWANCE_BYTES <= self.max_request_bytes
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Transcription {
    pub segments: Vec<TranscriptSegment>,
    /// Length of the audio: decoded here, or as the API or the transcript tell for a file sent
    /// as it is.
    pub duration_seconds: Option<f64>,
    pub format: MediaFormat,
    /// Requests the transcript took (chunks of digital silence are not sent).
    pub chunks: usize,
    /// True when the file went to the API undecoded.
    pub sent_as_is: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error(transparent)]
    NotMedia(#[from] SniffError),
    #[error("could not read the file: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "this {format} file cannot be transcribed: {reason}, and at {:.1} MB it is over the {:.0} MB the \
         transcription API accepts undecoded",
        *.size_bytes as f64 / 1e6, *.limit_bytes as f64 / 1e6
    )]
    Undecodable {
        format: MediaFormat,
        reason: DecodeError,
        size_bytes: u64,
        limit_bytes: u64,
    },
    #[error("this {format} file could not be decoded to the end: {reason}")]
    BrokenPartWay {
        format: MediaFormat,
        reason: DecodeError,
    },
    #[error("this {format} file contains no audio")]
    NoAudio { format: MediaFormat },
    #[error(
        "this {format} file's audio is sampled at {rate} Hz; recordings sampled below {min} Hz \
         are not transcribed",
        min = MIN_SAMPLE_RATE
    )]
    SampleRateTooLow { format: MediaFormat, rate: u32 },
    #[error("{}", too_long_message(*.seconds, *.max_seconds))]
    TooLong {
        /// The length the file declares, when it was refused for it.
        seconds: Option<f64>,
        max_seconds: f64,
    },
    /// The decoder failed on the file in a way it does not report (it panicked); what it said
    /// goes to the log, not to the user.
    #[error("this {format} file could not be decoded")]
    DecoderFailed { format: MediaFormat },
    #[error(transparent)]
    Transcribe(#[from] TranscribeError),
    #[error("transcription stopped unexpectedly: {0}")]
    Internal(String),
}

/// "this recording runs 7.5 hours; recordings over 6 hours are not transcribed".
fn too_long_message(seconds: Option<f64>, max_seconds: f64) -> String {
    let span = |seconds: f64| {
        if seconds >= 5_400.0 {
            format!("{} hours", (seconds / 360.0).round() / 10.0)
        } else if seconds >= 90.0 {
            format!("{} minutes", (seconds / 60.0).round())
        } else {
            format!("{} seconds", seconds.round())
        }
    };
    match seconds {
        Some(seconds) => format!(
            "this recording runs {}; recordings over {} are not transcribed",
            span(seconds),
            span(max_seconds)
        ),
        None => format!(
            "this recording runs over {}, the longest transcribed",
            span(max_seconds)
        ),
    }
}

/// A blocking decoder task that did not return: a panic is the file's (the decoder could not
/// cope with it, and will not on another try), logged with what it said; anything else is
/// ours, and worth another try.
fn decoder_stopped(err: tokio::task::JoinError, format: MediaFormat) -> MediaError {
    if err.is_panic() {
        let panic = err.into_panic();
        let said = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(%format, panic = said, "the decoder panicked on an upload");
        MediaError::DecoderFailed { format }
    } else {
        MediaError::Internal("the decoder was stopped".into())
    }
}

/// Transcribes the media file at `path`. `progress(done, total)` is called as chunks finish;
/// `total` is an estimate until the whole file has been read, and the last call is always
/// `(total, total)`.
pub async fn transcribe_media(
    path: &Path,
    client: &TranscribeClient,
    options: &TranscriptionOptions,
    progress: impl Fn(usize, usize) + Send + Sync,
) -> Result<Transcription, MediaError> {
    let format = sniff_file(path).await?;
    let size_bytes = tokio::fs::metadata(path).await?.len();
    let owned_path = path.to_path_buf();
    let opened = tokio::task::spawn_blocking(move || open_and_decode_first(&owned_path, format))
        .await
        .map_err(|e| decoder_stopped(e, format))?;
    match opened {
        Ok((_, None)) => Err(MediaError::NoAudio { format }),
        Ok((decoder, _)) if decoder.duration_seconds() > Some(options.max_audio_seconds) => {
            Err(MediaError::TooLong {
                seconds: decoder.duration_seconds(),
                max_seconds: options.max_audio_seconds,
            })
        }
        Ok((decoder, Some(first))) => {
            transcribe_decoded(decoder, first, format, client, options, &progress).await
        }
        // Not a file to send as it is either: the API would bill the hours it stretches to.
        Err(DecodeError::SampleRateTooLow(rate)) => {
            Err(MediaError::SampleRateTooLow { format, rate })
        }
        Err(reason) if options.fits_in_one_request(size_bytes) => {
            tracing::info!(%format, %reason, "not decodable here; sending the file as it is");
            transcribe_as_is(path, format, client, &progress).await
        }
        Err(reason) => Err(MediaError::Undecodable {
            format,
            reason,
            size_bytes,
            limit_bytes: options.max_request_bytes,
        }),
    }
}

async fn sniff_file(path: &Path) -> Result<MediaFormat, MediaError> {
    let mut head = Vec::with_capacity(SNIFF_LEN);
    tokio::fs::File::open(path)
        .await?
        .take(SNIFF_LEN as u64)
        .read_to_end(&mut head)
        .await?;
    Ok(sniff(&head)?)
}

/// Opening alone does not prove the data decodes, so the first piece is decoded too.
fn open_and_decode_first(
    path: &Path,
    format: MediaFormat,
) -> Result<(MonoDecoder, Option<Vec<f32>>), DecodeError> {
    let mut decoder = MonoDecoder::open(path, format)?;
    let first = decoder.next_piece()?;
    Ok((decoder, first))
}

async fn transcribe_as_is(
    path: &Path,
    format: MediaFormat,
    client: &TranscribeClient,
    progress: &(impl Fn(usize, usize) + Send + Sync),
) -> Result<Transcription, MediaError> {
    progress(0, 1);
    let audio = AudioFile {
        bytes: tokio::fs::read(path).await?.into(),
        filename: format!("upload.{}", format.api_extension()),
        duration_seconds: None,
    };
    let transcript = client.transcribe(&audio).await?;
    progress(1, 1);
    let spoken_until = transcript.segments.iter().map(|s| s.end).reduce(f64::max);
    Ok(Transcription {
        duration_seconds: transcript.duration_seconds.or(spoken_until),
        segments: into_domain(transcript.segments),
        format,
        chunks: 1,
        sent_as_is: true,
    })
}

/// Decoding runs on a blocking thread and hands over encoded chunks; each chunk holds a permit
/// from the moment it is encoded until its request is done, which bounds both the requests in
/// flight and the chunks in memory.
async fn transcribe_decoded(
    decoder: MonoDecoder,
    first: Vec<f32>,
    format: MediaFormat,
    client: &TranscribeClient,
    options: &TranscriptionOptions,
    progress: &(impl Fn(usize, usize) + Send + Sync),
) -> Result<Transcription, MediaError> {
    let plan = options.chunk_plan();
    let parallelism = options.parallelism.max(1);
    let max_samples = (options.max_audio_seconds * f64::from(TARGET_RATE)) as u64;
    let estimate = decoder
        .duration_seconds()
        .map_or(1, |seconds| plan.estimated_chunks(seconds));
    let permits = Arc::new(Semaphore::new(parallelism));
    let (sender, mut receiver) = mpsc::channel(parallelism);
    let producer = {
        let permits = permits.clone();
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            produce_chunks(
                decoder,
                first,
                plan,
                max_samples,
                &permits,
                &sender,
                &runtime,
            )
        })
    };

    let mut in_flight = FuturesUnordered::new();
    let mut transcripts = Vec::new();
    let (mut created, mut sent, mut all_created) = (0, 0, false);
    progress(0, estimate);
    let outcome: Result<(), MediaError> = loop {
        tokio::select! {
            finished = in_flight.next(), if !in_flight.is_empty() => match finished {
                Some(Ok((transcript, requested))) => {
                    transcripts.push(transcript);
                    sent += usize::from(requested);
                    progress(transcripts.len(), if all_created { created } else { estimate.max(created) });
                }
                Some(Err(err)) => break Err(MediaError::Transcribe(err)),
                None => {}
            },
            next = receiver.recv(), if !all_created => match next {
                Some((chunk, permit)) => {
                    created += 1;
                    in_flight.push(transcribe_chunk(client, chunk, permit));
                }
                None => all_created = true,
            },
            else => break Ok(()),
        }
    };
    // Stops the decoder if the transcription failed; a no-op once everything is done.
    permits.close();
    drop(receiver);
    let produced = producer.await.map_err(|e| decoder_stopped(e, format))?;
    outcome?;
    let total_samples = match produced {
        Ok(Produced::Whole(samples)) => samples,
        Ok(Produced::TooLong) => {
            return Err(MediaError::TooLong {
                seconds: None,
                max_seconds: options.max_audio_seconds,
            })
        }
        Err(DecodeError::SampleRateTooLow(rate)) => {
            return Err(MediaError::SampleRateTooLow { format, rate })
        }
        Err(reason) => return Err(MediaError::BrokenPartWay { format, reason }),
    };
    if created == 0 {
        return Err(MediaError::NoAudio { format });
    }
    // The last chunk may have finished before the decoder reported the end of the stream.
    progress(created, created);
    Ok(Transcription {
        segments: into_domain(merge_chunks(transcripts)),
        duration_seconds: Some(total_samples as f64 / f64::from(TARGET_RATE)),
        format,
        chunks: sent,
        sent_as_is: false,
    })
}

/// How the decoder's side of a transcription ended.
enum Produced {
    /// The stream was read to its end (or the consumer stopped): the samples decoded.
    Whole(u64),
    /// The audio ran past the longest transcribed; nothing past it was sent.
    TooLong,
}

/// Decodes, cuts and encodes chunks until the end of the stream, until the consumer stops
/// (the permits are closed or the channel dropped), or until the audio passes `max_samples`.
fn produce_chunks(
    mut decoder: MonoDecoder,
    first: Vec<f32>,
    plan: ChunkPlan,
    max_samples: u64,
    permits: &Arc<Semaphore>,
    sender: &mpsc::Sender<(WavChunk, OwnedSemaphorePermit)>,
    runtime: &tokio::runtime::Handle,
) -> Result<Produced, DecodeError> {
    let acquire = || runtime.block_on(permits.clone().acquire_owned()).ok();
    let mut chunker = Chunker::new(plan);
    let mut total_samples = 0u64;
    let mut piece = Some(first);
    while let Some(samples) = piece {
        total_samples += samples.len() as u64;
        if total_samples > max_samples {
            return Ok(Produced::TooLong);
        }
        chunker.push(&samples);
        while chunker.ready() {
            let Some(permit) = acquire() else {
                return Ok(Produced::Whole(total_samples));
            };
            let Some(chunk) = chunker.take_chunk() else {
                break;
            };
            if sender.blocking_send((chunk, permit)).is_err() {
                return Ok(Produced::Whole(total_samples));
            }
        }
        if permits.is_closed() {
            return Ok(Produced::Whole(total_samples));
        }
        piece = decoder.next_piece()?;
    }
    if let Some(permit) = acquire() {
        if let Some(chunk) = chunker.finish() {
            // A send error means the consumer has already stopped; nothing is left to do.
            let _ = sender.blocking_send((chunk, permit));
        }
    }
    Ok(Produced::Whole(total_samples))
}

/// Transcribes one chunk; digital silence is answered without a request. The permit is
/// released, and the chunk's bytes freed, when this finishes.
async fn transcribe_chunk(
    client: &TranscribeClient,
    chunk: WavChunk,
    permit: OwnedSemaphorePermit,
) -> Result<(ChunkTranscript, bool), TranscribeError> {
    let (start_seconds, end_seconds) = (chunk.start_seconds, chunk.end_seconds());
    if chunk.silent {
        return Ok((
            ChunkTranscript {
                start_seconds,
                end_seconds,
                segments: Vec::new(),
            },
            false,
        ));
    }
    let audio = AudioFile {
        bytes: chunk.wav,
        filename: format!("chunk-{:04}.wav", chunk.index),
        duration_seconds: Some(chunk.duration_seconds),
    };
    let transcript = client.transcribe(&audio).await;
    drop(audio);
    drop(permit);
    Ok((
        ChunkTranscript {
            start_seconds,
            end_seconds,
            segments: transcript?.segments,
        },
        true,
    ))
}

fn into_domain(segments: Vec<TimedSegment>) -> Vec<TranscriptSegment> {
    segments
        .into_iter()
        .map(|s| TranscriptSegment {
            speaker: None,
            start_seconds: s.start,
            text: s.text,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_decoder_panic_is_the_files_failure_and_says_nothing_of_the_panic() {
        let panicked = tokio::task::spawn_blocking(|| -> () {
            panic!("attempt to divide by zero in symphonia-format-wav")
        })
        .await
        .unwrap_err();
        let err = decoder_stopped(panicked, MediaFormat::Wav);
        assert!(matches!(err, MediaError::DecoderFailed { .. }), "{err:?}");
        assert_eq!(err.to_string(), "this WAV file could not be decoded");
    }

    #[test]
    fn lengths_read_in_hours_or_minutes() {
        assert_eq!(
            too_long_message(Some(27_000.0), 21_600.0),
            "this recording runs 7.5 hours; recordings over 6 hours are not transcribed"
        );
        assert_eq!(
            too_long_message(None, 600.0),
            "this recording runs over 10 minutes, the longest transcribed"
        );
        assert_eq!(
            too_long_message(Some(30.4), 10.0),
            "this recording runs 30 seconds; recordings over 10 seconds are not transcribed"
        );
    }
}
