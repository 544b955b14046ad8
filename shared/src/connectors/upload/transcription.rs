//! Transcribes one media file of any length: sniffs it, decodes it to 16 kHz mono, cuts it into
//! chunks the API accepts, transcribes a few chunks at a time, and merges the results. A file
//! that cannot be decoded here but is small enough goes to the API as it is.

use super::chunker::{ChunkPlan, Chunker, WavChunk};
use super::decode::{DecodeError, MonoDecoder, MIN_SAMPLE_RATE, TARGET_RATE};
use super::merge::{merge_chunks, ChunkTranscript};
use super::sniff::{sniff, MediaFormat, SniffError, SNIFF_LEN};
use super::spool::TempFile;
use super::transcribe_client::{
    AudioBody, AudioFile, TimedSegment, TranscribeClient, TranscribeError,
};
use crate::domain::TranscriptSegment;
use futures::stream::{FuturesUnordered, StreamExt};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// The transcription API's request limit (25 MB).
pub const API_MAX_REQUEST_BYTES: u64 = 25_000_000;
/// Room left in a request for the multipart envelope and the other form fields.
const MULTIPART_ALLOWANCE_BYTES: u64 = 64 * 1024;

/// Chunks transcribed at once unless `TRANSCRIBE_CONCURRENCY` says otherwise. OpenAI limits
/// audio requests per minute per model and account tier, and every upload being transcribed
/// at the same time (one per Lambda invocation) shares that limit. A chunk's request takes
/// tens of seconds, so 8 in flight is some 10 to 20 requests a minute, while it is enough for
/// an hour-long recording (six or seven chunks of at most 600 s) to go out in one round, which
/// then takes about as long as its longest chunk. Memory does not bound it: a chunk waits for
/// its request on disk (`transcribe_chunk`).
pub const DEFAULT_PARALLELISM: usize = 8;
/// The prompt for a chunk: at most this much of the end of the previous chunk's text, in
/// whole words (Whisper reads only the last 224 tokens of a prompt; this is well within).
const PROMPT_TAIL_CHARS: usize = 200;
/// A chunk shortened for parallelism looks for a quiet place in its last tenth ...
const SEARCH_FRACTION: f64 = 0.1;
/// ... but at least this far back (within `silence_search_seconds`).
const MIN_SEARCH_SECONDS: f64 = 10.0;

#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptionOptions {
    /// Longest chunk; shortened further if its WAV would not fit in one request.
    pub max_chunk_seconds: f64,
    /// Shortest chunk cut to spread a recording of known length over `parallelism` requests:
    /// each request costs a round trip and each cut repeats the overlap, so a short recording
    /// is not cut into slivers.
    pub min_chunk_seconds: f64,
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
    /// Where each chunk waits for its request, as a file deleted when the request is done.
    pub chunk_dir: PathBuf,
}

impl Default for TranscriptionOptions {
    fn default() -> Self {
        Self {
            max_chunk_seconds: 600.0,
            min_chunk_seconds: 60.0,
            overlap_seconds: 2.0,
            silence_search_seconds: 30.0,
            parallelism: DEFAULT_PARALLELISM,
            max_request_bytes: API_MAX_REQUEST_BYTES,
            max_audio_seconds: 6.0 * 3600.0,
            chunk_dir: std::env::temp_dir(),
        }
    }
}

impl TranscriptionOptions {
    /// The chunks for a recording of `seconds` (when its length is known up front).
    fn chunk_plan(&self, seconds: Option<f64>) -> ChunkPlan {
        let length = self.chunk_seconds_for(seconds);
        self.plan_of(length, self.search_seconds_for(length))
    }

    fn plan_of(&self, chunk_seconds: f64, search_seconds: f64) -> ChunkPlan {
        let wav_limit = self
            .max_request_bytes
            .saturating_sub(MULTIPART_ALLOWANCE_BYTES);
        ChunkPlan::new(
            chunk_seconds,
            self.overlap_seconds,
            search_seconds,
            wav_limit,
        )
    }

    /// How far back from the longest cut a chunk of `length` looks for a quiet place: a tenth
    /// of it, at least `MIN_SEARCH_SECONDS` (speech pauses within that), at most
    /// `silence_search_seconds`. A shorter chunk searches less, so its cuts stay near its
    /// length and the number of chunks stays near the number planned.
    fn search_seconds_for(&self, length: f64) -> f64 {
        (length * SEARCH_FRACTION)
            .max(MIN_SEARCH_SECONDS)
            .min(self.silence_search_seconds)
    }

    /// The longest chunk for a recording of `seconds`: short enough that the recording makes
    /// a whole number of rounds of `parallelism` chunks, as few rounds as the longest chunk
    /// allows (usually one), so every request slot is busy and the chunk that finishes last,
    /// which sets the wall time, is as short as it can be. A cut may land up to the silence
    /// search before the longest cut and repeats the overlap, so each chunk but the last
    /// advances at least `length - search - overlap`; the length is chosen so that the planned
    /// number of chunks always reaches the end. Not below `min_chunk_seconds`, not above the
    /// longest a request takes; without a known length, the longest.
    pub fn chunk_seconds_for(&self, seconds: Option<f64>) -> f64 {
        let longest_plan = self.plan_of(self.max_chunk_seconds, self.silence_search_seconds);
        let longest = longest_plan.max_seconds();
        let Some(seconds) = seconds.filter(|s| s.is_finite() && *s > 0.0) else {
            return longest;
        };
        let rate = f64::from(TARGET_RATE);
        let overlap = longest_plan.overlap_samples as f64 / rate;
        // The plan keeps search + overlap under the chunk, so `per_cut < longest`.
        let per_cut = longest_plan.search_samples as f64 / rate + overlap;
        let fewest = ((seconds - per_cut) / (longest - per_cut)).ceil().max(1.0);
        let slots = self.parallelism.max(1) as f64;
        let chunks = (fewest / slots).ceil() * slots;
        let length_for = |search: f64| (seconds + (chunks - 1.0) * (search + overlap)) / chunks;
        // The search shrinks with the length: start from the longest search and shorten; each
        // step's length still covers the recording with its own (no longer) search.
        let mut length = length_for(longest_plan.search_samples as f64 / rate);
        for _ in 0..3 {
            length = length_for(self.search_seconds_for(length).min(per_cut - overlap));
        }
        length.max(self.min_chunk_seconds).min(longest)
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
        body: AudioBody::File {
            path: path.to_owned(),
            length: tokio::fs::metadata(path).await?.len(),
        },
        filename: format!("upload.{}", format.api_extension()),
        duration_seconds: None,
        prompt: None,
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
    let plan = options.chunk_plan(decoder.duration_seconds());
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
    // Prompt continuity without giving up parallelism: a chunk is sent with the end of its
    // predecessor's text when the predecessor has been transcribed by the time the chunk's
    // turn comes, and without a prompt rather than wait for it (the overlap still gives each
    // word at a cut whole to one request). With one request at a time that is every chunk:
    // a finished request frees its slot only as its transcript is taken in below, before the
    // next chunk can be received. With several, it is the chunks that waited for a slot.
    // The ends of chunks whose successor has not been sent yet, by index.
    let mut tails: HashMap<usize, String> = HashMap::new();
    let (mut created, mut sent, mut all_created) = (0, 0, false);
    progress(0, estimate);
    let outcome: Result<(), MediaError> = loop {
        tokio::select! {
            finished = in_flight.next(), if !in_flight.is_empty() => match finished {
                Some(Ok((index, transcript, requested))) => {
                    if index + 1 >= created {
                        tails.insert(index, prompt_tail(&transcript, PROMPT_TAIL_CHARS));
                    }
                    transcripts.push(transcript);
                    sent += usize::from(requested);
                    progress(transcripts.len(), if all_created { created } else { estimate.max(created) });
                }
                Some(Err(err)) => break Err(err),
                None => {}
            },
            next = receiver.recv(), if !all_created => match next {
                Some((chunk, permit)) => {
                    created += 1;
                    let prompt = chunk
                        .index
                        .checked_sub(1)
                        .and_then(|previous| tails.remove(&previous))
                        .filter(|tail| !tail.is_empty());
                    in_flight.push(transcribe_chunk(client, chunk, prompt, permit, &options.chunk_dir));
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

/// Transcribes one chunk, `prompt` the text said just before it; digital silence is answered
/// without a request. The chunk waits for its request as a temporary file, so the requests
/// in flight hold no audio in memory; the file is deleted and the permit released when this
/// finishes. Answers the chunk's index, its transcript, and whether a request was made.
async fn transcribe_chunk(
    client: &TranscribeClient,
    chunk: WavChunk,
    prompt: Option<String>,
    permit: OwnedSemaphorePermit,
    dir: &Path,
) -> Result<(usize, ChunkTranscript, bool), MediaError> {
    let (index, start_seconds, end_seconds) =
        (chunk.index, chunk.start_seconds, chunk.end_seconds());
    let mut transcript = ChunkTranscript {
        start_seconds,
        end_seconds,
        segments: Vec::new(),
    };
    if chunk.silent {
        return Ok((index, transcript, false));
    }
    let file = TempFile::named_in(dir, "callsync-chunk");
    // Written on a blocking thread from the chunk's own bytes (`tokio::fs::write` would copy
    // them first).
    let (path, wav) = (file.path().to_owned(), chunk.wav.clone());
    tokio::task::spawn_blocking(move || std::fs::write(path, wav))
        .await
        .map_err(|e| MediaError::Internal(format!("writing a chunk stopped: {e}")))??;
    let audio = AudioFile {
        body: AudioBody::File {
            path: file.path().to_owned(),
            length: chunk.wav.len() as u64,
        },
        filename: format!("chunk-{:04}.wav", chunk.index),
        duration_seconds: Some(chunk.duration_seconds),
        prompt,
    };
    drop(chunk);
    let answer = client.transcribe(&audio).await;
    drop((file, permit));
    transcript.segments = answer?.segments;
    Ok((index, transcript, true))
}

/// The last words of a chunk's text, at most `max_chars` of them and whole words only (a
/// single word longer than that is cut at its start).
fn prompt_tail(transcript: &ChunkTranscript, max_chars: usize) -> String {
    let mut words: Vec<&str> = Vec::new();
    let mut length = 0;
    for word in transcript
        .segments
        .iter()
        .rev()
        .flat_map(|s| s.text.split_whitespace().rev())
    {
        let added = word.chars().count() + usize::from(!words.is_empty());
        if length + added > max_chars {
            if words.is_empty() {
                let skip = word.chars().count() - max_chars;
                return word.chars().skip(skip).collect();
            }
            break;
        }
        length += added;
        words.push(word);
    }
    words.reverse();
    words.join(" ")
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

    fn on_slots(parallelism: usize) -> TranscriptionOptions {
        TranscriptionOptions {
            parallelism,
            ..TranscriptionOptions::default()
        }
    }

    #[test]
    fn a_recording_of_known_length_is_cut_into_a_round_of_chunks_per_slot() {
        // 20 minutes on 4 slots: 4 chunks of about 5 minutes, where 600 s chunks made 2 or 3.
        let options = on_slots(4);
        let length = options.chunk_seconds_for(Some(1_200.0));
        assert!((300.0..330.0).contains(&length), "{length} s");
        let plan = options.chunk_plan(Some(1_200.0));
        assert_eq!(plan.estimated_chunks(1_200.0), 4);
        // 40 minutes cannot be 4 chunks of at most 10 minutes: two rounds of 4.
        let length = options.chunk_seconds_for(Some(2_400.0));
        assert!((300.0..340.0).contains(&length), "{length} s");
        // 6 hours: as many rounds as 10-minute chunks need.
        let length = options.chunk_seconds_for(Some(21_600.0));
        assert!((550.0..=600.0).contains(&length), "{length} s");
        // A short recording is not cut into slivers, and one request at a time takes the
        // longest chunks.
        assert_eq!(options.chunk_seconds_for(Some(150.0)), 60.0);
        assert_eq!(options.chunk_seconds_for(Some(30.0)), 60.0);
        let one_at_a_time = on_slots(1);
        assert_eq!(
            one_at_a_time
                .chunk_plan(Some(1_200.0))
                .estimated_chunks(1_200.0),
            one_at_a_time.chunk_plan(None).estimated_chunks(1_200.0)
        );
        // A length unknown up front: the longest chunks, as before.
        assert_eq!(options.chunk_seconds_for(None), 600.0);
        assert_eq!(options.chunk_plan(None).search_samples, 30 * 16_000);
    }

    #[test]
    fn a_shortened_chunk_searches_a_tenth_of_its_length_for_a_quiet_place() {
        let options = on_slots(4);
        let plan = options.chunk_plan(Some(300.0));
        let length = plan.max_seconds();
        assert!((80.0..90.0).contains(&length), "{length} s");
        assert_eq!(plan.search_samples, (10.0 * 16_000.0) as usize);
        let plan = options.chunk_plan(Some(800.0));
        let search = plan.search_samples as f64 / 16_000.0;
        assert!(
            (search - plan.max_seconds() / 10.0).abs() < 0.01,
            "{search} s"
        );
    }

    fn chunk_of(texts: &[&str]) -> ChunkTranscript {
        ChunkTranscript {
            start_seconds: 0.0,
            end_seconds: 10.0,
            segments: texts
                .iter()
                .map(|text| TimedSegment {
                    start: 0.0,
                    end: 1.0,
                    text: (*text).to_owned(),
                })
                .collect(),
        }
    }

    #[test]
    fn the_prompt_is_the_last_whole_words_of_the_previous_chunk() {
        let chunk = chunk_of(&[
            "So we agreed.",
            "Next, the budget for Q3",
            "and the hiring plan.",
        ]);
        assert_eq!(
            prompt_tail(&chunk, 200),
            "So we agreed. Next, the budget for Q3 and the hiring plan."
        );
        assert_eq!(prompt_tail(&chunk, 24), "Q3 and the hiring plan.");
        assert_eq!(prompt_tail(&chunk, 27), "for Q3 and the hiring plan.");
        assert_eq!(prompt_tail(&chunk_of(&[]), 200), "");
        assert_eq!(
            prompt_tail(&chunk_of(&["Supercalifragilistic"]), 5),
            "istic"
        );
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
