//! Fake OpenAI-compatible transcription API.
//!
//! `POST /v1/audio/transcriptions` takes a multipart form like the real service and answers
//! with what is really in the audio it got: for a WAV file, one segment per non-silent span,
//! worded `tone <Hz>` (the span's pitch rounded to 10 Hz), so a test that sends tone bursts
//! can check each burst comes back once, in order, at the right time. Other formats get one
//! segment naming the format. It enforces the bearer key and the request size limit, and can
//! be told to fail, to be slow, to hold requests until several are in flight, and to report
//! what it saw (each form's fields, its `prompt` included, and the text it answered).

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// The real service's limit on a whole request.
pub const DEFAULT_MAX_REQUEST_BYTES: u64 = 25_000_000;
pub const DEFAULT_API_KEY: &str = "sk-fake-transcribe-key";
/// Formats the real service accepts, by file extension.
const ACCEPTED_EXTENSIONS: &[&str] = &[
    "flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "wav", "webm",
];

#[derive(Debug, Clone)]
pub struct FakeTranscribeOptions {
    pub api_key: String,
    pub max_request_bytes: u64,
    /// Seconds sent in `Retry-After` with an injected 429.
    pub retry_after_seconds: u64,
}

impl Default for FakeTranscribeOptions {
    fn default() -> Self {
        Self {
            api_key: DEFAULT_API_KEY.into(),
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            retry_after_seconds: 1,
        }
    }
}

/// What the fake has seen so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TranscribeStats {
    /// Every request, answered or failed.
    pub requests: u64,
    /// Requests answered with a transcript.
    pub transcribed: u64,
    pub bytes_received: u64,
    pub largest_request_bytes: u64,
    pub peak_concurrent_requests: usize,
    /// Seconds of WAV audio transcribed.
    pub audio_seconds: f64,
}

/// A form the fake accepted, without its audio.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedForm {
    pub filename: String,
    pub model: String,
    pub response_format: String,
    pub language: Option<String>,
    /// The `prompt` field, when the client sent one.
    pub prompt: Option<String>,
    pub file_bytes: usize,
    /// The text the fake answered.
    pub text: String,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    transcribed: AtomicU64,
    bytes_received: AtomicU64,
    largest_request_bytes: AtomicU64,
    in_flight: AtomicUsize,
    peak_concurrent: AtomicUsize,
}

struct Shared {
    options: FakeTranscribeOptions,
    counters: Counters,
    audio_seconds: Mutex<f64>,
    faults: Mutex<VecDeque<StatusCode>>,
    latency_per_audio_second: Mutex<Duration>,
    forms: Mutex<Vec<ReceivedForm>>,
    hold: Mutex<Option<Hold>>,
}

/// Holds the first `count` requests until all of them are in the fake at once.
struct Hold {
    count: usize,
    arrived: usize,
    released: watch::Sender<bool>,
}

/// Locks a mutex even if a handler panicked while holding it: the data stays usable for a fake.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running fake; the server stops when this is dropped.
pub struct FakeTranscribe {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
}

impl FakeTranscribe {
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(FakeTranscribeOptions::default()).await
    }

    pub async fn start_with(options: FakeTranscribeOptions) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            options,
            counters: Counters::default(),
            audio_seconds: Mutex::new(0.0),
            faults: Mutex::new(VecDeque::new()),
            latency_per_audio_second: Mutex::new(Duration::ZERO),
            forms: Mutex::new(Vec::new()),
            hold: Mutex::new(None),
        });
        let app = Router::new()
            .route("/v1/audio/transcriptions", post(transcribe))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let serving = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(err) = serving.await {
                tracing::warn!(%err, "fake transcription server stopped with an error");
            }
        });
        Ok(Self {
            addr,
            shared,
            shutdown: Some(shutdown),
            server,
        })
    }

    /// Base URL including the API version, as `TRANSCRIBE_API_BASE_URL` expects.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn api_key(&self) -> &str {
        &self.shared.options.api_key
    }

    /// The next `count` requests fail with `status` (a 429 carries `Retry-After`).
    pub fn fail_next(&self, count: usize, status: u16) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        lock(&self.shared.faults).extend(std::iter::repeat_n(status, count));
    }

    /// Each answer takes this long per second of WAV audio in the request.
    pub fn set_latency_per_audio_second(&self, latency: Duration) {
        *lock(&self.shared.latency_per_audio_second) = latency;
    }

    /// The next `count` requests are answered only once all `count` have arrived, so that a
    /// test sees whether a client really keeps `count` requests in flight at once (without
    /// timing anything). A client that never does waits for ever: run it under a timeout.
    pub fn hold_until_in_flight(&self, count: usize) {
        let (released, _) = watch::channel(count == 0);
        *lock(&self.shared.hold) = Some(Hold {
            count,
            arrived: 0,
            released,
        });
    }

    pub fn stats(&self) -> TranscribeStats {
        let c = &self.shared.counters;
        TranscribeStats {
            requests: c.requests.load(Ordering::SeqCst),
            transcribed: c.transcribed.load(Ordering::SeqCst),
            bytes_received: c.bytes_received.load(Ordering::SeqCst),
            largest_request_bytes: c.largest_request_bytes.load(Ordering::SeqCst),
            peak_concurrent_requests: c.peak_concurrent.load(Ordering::SeqCst),
            audio_seconds: *lock(&self.shared.audio_seconds),
        }
    }

    /// The forms answered with a transcript, in the order they arrived.
    pub fn received(&self) -> Vec<ReceivedForm> {
        lock(&self.shared.forms).clone()
    }
}

impl Drop for FakeTranscribe {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.server.abort();
    }
}

/// Counts a request as in flight for as long as it lives.
struct InFlight<'a>(&'a Counters);

impl<'a> InFlight<'a> {
    fn enter(counters: &'a Counters) -> Self {
        let now = counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        counters.peak_concurrent.fetch_max(now, Ordering::SeqCst);
        Self(counters)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn api_error(status: StatusCode, message: &str, kind: &str) -> Response {
    (
        status,
        Json(json!({"error": {"message": message, "type": kind, "param": null, "code": null}})),
    )
        .into_response()
}

async fn transcribe(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    let counters = &shared.counters;
    let _in_flight = InFlight::enter(counters);
    counters.requests.fetch_add(1, Ordering::SeqCst);
    let held = lock(&shared.hold).as_mut().and_then(|hold| {
        if hold.arrived >= hold.count {
            return None;
        }
        hold.arrived += 1;
        if hold.arrived == hold.count {
            hold.released.send_replace(true);
        }
        Some(hold.released.subscribe())
    });
    if let Some(mut released) = held {
        // The sender lives in `shared` for as long as the server does.
        let _ = released.wait_for(|open| *open).await;
    }

    // Read the whole request (within reason) before answering, so the client always sees the
    // answer rather than a reset connection.
    let limit = shared.options.max_request_bytes;
    let Ok(body) = axum::body::to_bytes(
        body,
        usize::try_from(limit.saturating_mul(4)).unwrap_or(usize::MAX),
    )
    .await
    else {
        return api_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Maximum content size limit exceeded",
            "server_error",
        );
    };
    let size = body.len() as u64;
    counters.bytes_received.fetch_add(size, Ordering::SeqCst);
    counters
        .largest_request_bytes
        .fetch_max(size, Ordering::SeqCst);

    let expected = format!("Bearer {}", shared.options.api_key);
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(expected.as_str())
    {
        return api_error(
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided.",
            "invalid_request_error",
        );
    }
    if size > limit {
        let message = format!("Maximum content size limit ({limit}) exceeded ({size} bytes read)");
        return api_error(StatusCode::PAYLOAD_TOO_LARGE, &message, "server_error");
    }
    let fault = lock(&shared.faults).pop_front();
    if let Some(status) = fault {
        let mut response = api_error(status, "Injected failure.", "server_error");
        if status == StatusCode::TOO_MANY_REQUESTS {
            let seconds = HeaderValue::from(shared.options.retry_after_seconds);
            response.headers_mut().insert(header::RETRY_AFTER, seconds);
        }
        return response;
    }

    let form = match parse_form(&headers, &body) {
        Ok(form) => form,
        Err(message) => {
            return api_error(StatusCode::BAD_REQUEST, &message, "invalid_request_error")
        }
    };
    let extension = form
        .filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    if !ACCEPTED_EXTENSIONS.contains(&extension.as_str()) {
        let message = format!("Invalid file format. Supported formats: {ACCEPTED_EXTENSIONS:?}");
        return api_error(StatusCode::BAD_REQUEST, &message, "invalid_request_error");
    }
    if form.response_format == "verbose_json" && form.model != "whisper-1" {
        let message = format!(
            "response_format 'verbose_json' is not compatible with model '{}'",
            form.model
        );
        return api_error(StatusCode::BAD_REQUEST, &message, "invalid_request_error");
    }
    let heard = if extension == "wav" {
        match read_wav(form.file) {
            Some(audio) => tone_segments(&audio),
            None => {
                let message = "Audio file might be corrupted or unsupported";
                return api_error(StatusCode::BAD_REQUEST, message, "invalid_request_error");
            }
        }
    } else {
        Heard {
            duration: None,
            segments: vec![(0.0, 1.0, format!("received {extension} audio"))],
        }
    };

    let latency = *lock(&shared.latency_per_audio_second);
    if let Some(seconds) = heard.duration {
        *lock(&shared.audio_seconds) += seconds;
        tokio::time::sleep(latency.mul_f64(seconds)).await;
    }
    counters.transcribed.fetch_add(1, Ordering::SeqCst);
    let text = heard
        .segments
        .iter()
        .map(|(_, _, t)| t.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    lock(&shared.forms).push(ReceivedForm {
        filename: form.filename.clone(),
        model: form.model.clone(),
        response_format: form.response_format.clone(),
        language: form.language.clone(),
        prompt: form.prompt.clone(),
        file_bytes: form.file.len(),
        text: text.clone(),
    });
    answer(&form.response_format, &heard, text)
}

fn answer(response_format: &str, heard: &Heard, text: String) -> Response {
    match response_format {
        "text" => text.into_response(),
        "verbose_json" => {
            let segments: Vec<Value> = heard
                .segments
                .iter()
                .enumerate()
                .map(|(id, (start, end, text))| {
                    json!({"id": id, "seek": 0, "start": start, "end": end, "text": format!(" {text}"),
                           "tokens": [], "temperature": 0.0, "avg_logprob": -0.2, "compression_ratio": 1.0,
                           "no_speech_prob": 0.01})
                })
                .collect();
            let duration = heard.duration.unwrap_or(0.0);
            Json(json!({"task": "transcribe", "language": "english", "duration": duration, "text": text,
                        "segments": segments}))
            .into_response()
        }
        _ => Json(json!({"text": text})).into_response(),
    }
}

struct Form<'a> {
    filename: String,
    file: &'a [u8],
    model: String,
    response_format: String,
    language: Option<String>,
    prompt: Option<String>,
}

/// A minimal `multipart/form-data` reader: enough for well-formed client requests.
fn parse_form<'a>(headers: &HeaderMap, body: &'a [u8]) -> Result<Form<'a>, String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()
        .map(|b| b.trim_matches('"'))
        .ok_or("expected a multipart/form-data request")?;
    let delimiter = format!("--{boundary}").into_bytes();
    let mut form = Form {
        filename: String::new(),
        file: &[],
        model: String::new(),
        response_format: "json".into(),
        language: None,
        prompt: None,
    };
    let mut has_file = false;
    let mut at =
        find(body, &delimiter, 0).ok_or("multipart body without its boundary")? + delimiter.len();
    loop {
        if body[at..].starts_with(b"--") {
            break;
        }
        let headers_start = at + 2;
        let headers_end =
            find(body, b"\r\n\r\n", headers_start).ok_or("multipart part without headers")?;
        let part_headers = String::from_utf8_lossy(&body[headers_start..headers_end]).to_string();
        let data_start = headers_end + 4;
        let data_end = find(body, &[b"\r\n", &delimiter[..]].concat(), data_start)
            .ok_or("unterminated multipart part")?;
        let data = &body[data_start..data_end];
        let name = disposition_param(&part_headers, "name").unwrap_or_default();
        let text = || String::from_utf8_lossy(data).trim().to_string();
        match name.as_str() {
            "file" => {
                form.filename = disposition_param(&part_headers, "filename").unwrap_or_default();
                form.file = data;
                has_file = true;
            }
            "model" => form.model = text(),
            "response_format" => form.response_format = text(),
            "language" => form.language = Some(text()),
            "prompt" => form.prompt = Some(text()),
            _ => {}
        }
        at = data_end + 2 + delimiter.len();
    }
    if !has_file {
        return Err("you must provide a file".into());
    }
    if form.model.is_empty() {
        return Err("you must provide a model parameter".into());
    }
    Ok(form)
}

fn disposition_param(part_headers: &str, param: &str) -> Option<String> {
    let line = part_headers
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))?;
    line.split(';').find_map(|p| {
        p.trim()
            .strip_prefix(&format!("{param}="))
            .map(|v| v.trim_matches('"').to_string())
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut at = from;
    while at + needle.len() <= haystack.len() {
        let offset = haystack[at..haystack.len() - needle.len() + 1]
            .iter()
            .position(|b| *b == first)?;
        at += offset;
        if &haystack[at..at + needle.len()] == needle {
            return Some(at);
        }
        at += 1;
    }
    None
}

struct Wav {
    rate: u32,
    /// Mono samples in [-1, 1].
    samples: Vec<f32>,
}

/// Reads 16-bit PCM WAV, mixing channels down.
fn read_wav(bytes: &[u8]) -> Option<Wav> {
    if bytes.get(0..4)? != b"RIFF" || bytes.get(8..12)? != b"WAVE" {
        return None;
    }
    let u16_at = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    let (mut at, mut format) = (12, None);
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32_at(at + 4)? as usize;
        let content = at + 8;
        if id == b"fmt " {
            format = Some((
                u16_at(content)?,
                u16_at(content + 2)?,
                u32_at(content + 4)?,
                u16_at(content + 14)?,
            ));
        } else if id == b"data" {
            let (tag, channels, rate, bits) = format?;
            if tag != 1 || bits != 16 || channels == 0 {
                return None;
            }
            let data = bytes.get(content..(content + len).min(bytes.len()))?;
            let channels = usize::from(channels);
            let samples = data
                .chunks_exact(2 * channels)
                .map(|frame| {
                    let sum: f32 = frame
                        .chunks_exact(2)
                        .map(|s| f32::from(i16::from_le_bytes([s[0], s[1]])))
                        .sum();
                    sum / (32768.0 * channels as f32)
                })
                .collect();
            return Some(Wav { rate, samples });
        }
        at = content + len + (len & 1);
    }
    None
}

struct Heard {
    duration: Option<f64>,
    /// (start, end, text) in seconds from the start of the file.
    segments: Vec<(f64, f64, String)>,
}

/// A frame louder than this (RMS, full scale 1.0) is sound.
const SOUND_RMS: f32 = 0.02;
/// Shorter stretches of sound are clicks, not words.
const MIN_SPAN_SECONDS: f64 = 0.1;

/// One segment per stretch of sound, named after its pitch.
fn tone_segments(audio: &Wav) -> Heard {
    let frame = (audio.rate as usize / 100).max(1);
    let loud: Vec<bool> = audio
        .samples
        .chunks(frame)
        .map(|f| (f.iter().map(|s| s * s).sum::<f32>() / f.len() as f32).sqrt() > SOUND_RMS)
        .collect();
    let seconds_per_frame = frame as f64 / f64::from(audio.rate);
    let mut segments = Vec::new();
    let mut i = 0;
    while i < loud.len() {
        if !loud[i] {
            i += 1;
            continue;
        }
        let first = i;
        while i < loud.len() && loud[i] {
            i += 1;
        }
        let (start, end) = (
            first as f64 * seconds_per_frame,
            i as f64 * seconds_per_frame,
        );
        let span = &audio.samples[first * frame..(i * frame).min(audio.samples.len())];
        if end - start >= MIN_SPAN_SECONDS {
            if let Some(hz) = pitch(span, audio.rate) {
                segments.push((
                    start,
                    end,
                    format!("tone {}", (hz / 10.0).round() as i64 * 10),
                ));
            }
        }
    }
    Heard {
        duration: Some(audio.samples.len() as f64 / f64::from(audio.rate)),
        segments,
    }
}

/// Frequency from the spacing of rising zero crossings, placed between samples by
/// interpolation. A crossing counts only after the signal has been well below zero, so low-level
/// noise and filter ringing at the edges of a sound add no crossings.
fn pitch(samples: &[f32], rate: u32) -> Option<f64> {
    let peak = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    let armed_below = -0.25 * peak;
    let (mut armed, mut first, mut last, mut count) = (false, None, 0.0, 0usize);
    for (i, w) in samples.windows(2).enumerate() {
        if w[0] < armed_below {
            armed = true;
        }
        if armed && w[0] < 0.0 && w[1] >= 0.0 {
            armed = false;
            let at = i as f64 + f64::from(w[0] / (w[0] - w[1]));
            first.get_or_insert(at);
            last = at;
            count += 1;
        }
    }
    let first = first?;
    (count > 1).then(|| (count - 1) as f64 * f64::from(rate) / (last - first))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(rate: u32, samples: &[f32]) -> Vec<u8> {
        let data_len = samples.len() as u32 * 2;
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data_len).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * 2).to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data_len.to_le_bytes());
        for s in samples {
            out.extend_from_slice(&((s * 32767.0) as i16).to_le_bytes());
        }
        out
    }

    #[test]
    fn hears_each_tone_burst_with_its_pitch_and_place() {
        let rate = 16_000;
        let samples: Vec<f32> = (0..rate * 4)
            .map(|i| {
                let t = f64::from(i) / f64::from(rate);
                let tone = |hz: f64| (0.5 * (2.0 * std::f64::consts::PI * hz * t).sin()) as f32;
                match t {
                    t if (0.5..1.5).contains(&t) => tone(440.0),
                    t if (2.0..3.2).contains(&t) => tone(1230.0),
                    t if (3.5..3.55).contains(&t) => tone(700.0),
                    _ => 0.0,
                }
            })
            .collect();
        let heard = tone_segments(&read_wav(&wav(rate, &samples)).unwrap());
        let texts: Vec<&str> = heard.segments.iter().map(|(_, _, t)| t.as_str()).collect();
        assert_eq!(
            texts,
            ["tone 440", "tone 1230"],
            "the 50 ms click is not a word"
        );
        assert!(
            (heard.segments[0].0 - 0.5).abs() < 0.011 && (heard.segments[0].1 - 1.5).abs() < 0.011
        );
        assert!((heard.segments[1].0 - 2.0).abs() < 0.011);
        assert_eq!(heard.duration, Some(4.0));
    }

    #[test]
    fn reads_a_multipart_form() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"chunk-0001.wav\"\r\n\r\nRIFF\r\n--not-it\r\n--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--XyZ\r\nContent-Disposition: form-data; name=\"response_format\"\r\n\r\nverbose_json\r\n--XyZ\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\ntone 440 tone 550\r\n--XyZ--\r\n";
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("multipart/form-data; boundary=XyZ"),
        );
        let form = parse_form(&headers, body).unwrap();
        assert_eq!(form.filename, "chunk-0001.wav");
        assert_eq!(form.file, b"RIFF\r\n--not-it");
        assert_eq!(form.model, "whisper-1");
        assert_eq!(form.response_format, "verbose_json");
        assert_eq!(form.prompt.as_deref(), Some("tone 440 tone 550"));
        assert!(parse_form(&HeaderMap::new(), body).is_err());
    }
}
