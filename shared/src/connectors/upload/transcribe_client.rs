//! Client of an OpenAI-compatible transcription API (`POST {base}/audio/transcriptions`):
//! one audio file per request, retried while the service is busy or failing, refused at once
//! when the request itself is wrong.

use crate::config::Config;
use crate::crypto::SecretString;
use crate::secrets::Secrets;
use bytes::Bytes;
use rand::RngExt;
use reqwest::header::{HeaderMap, AUTHORIZATION};
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// Longest error text from the service carried into our own error messages.
const MAX_SERVICE_MESSAGE_CHARS: usize = 300;

#[derive(Debug, Clone)]
pub struct TranscribeSettings {
    /// Base URL including the version, e.g. `https://api.openai.com/v1`.
    pub base_url: Url,
    pub api_key: Option<SecretString>,
    pub model: String,
    /// ISO-639-1 code of the spoken language, when known; the service guesses otherwise.
    pub language: Option<String>,
    pub request_timeout: Duration,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Longest `Retry-After` obeyed; a longer one is cut to this.
    pub max_retry_after: Duration,
}

impl TranscribeSettings {
    pub fn new(base_url: Url, api_key: Option<SecretString>, model: impl Into<String>) -> Self {
        Self {
            base_url,
            api_key,
            model: model.into(),
            language: None,
            request_timeout: Duration::from_secs(300),
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }

    pub fn from_config(config: &Config, secrets: &Secrets) -> Self {
        Self::new(
            config.transcribe_api_base_url.clone(),
            secrets.transcribe_api_key.clone(),
            config.transcribe_model.clone(),
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TranscribeError {
    #[error(
        "no transcription API key is configured: set TRANSCRIBE_API_KEY (and TRANSCRIBE_API_BASE_URL and \
         TRANSCRIBE_MODEL for a service other than OpenAI's whisper-1)"
    )]
    NotConfigured,
    #[error("the transcription API base URL `{0}` cannot take the /audio/transcriptions path")]
    BadBaseUrl(String),
    #[error("the transcription API refused the key (HTTP {status}): check TRANSCRIBE_API_KEY")]
    Unauthorized { status: u16 },
    #[error("the transcription API refused a {bytes}-byte request as too large (HTTP 413)")]
    TooLarge { bytes: u64 },
    #[error("the audio to send could not be read: {0}")]
    Audio(String),
    #[error("the transcription API rejected the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("the transcription API still failed after {attempts} attempts: {last}")]
    GaveUp { attempts: u32, last: String },
    #[error("the transcription API sent an answer that is not a transcript: {0}")]
    BadResponse(String),
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
}

/// Where a request's audio comes from.
#[derive(Debug, Clone)]
pub enum AudioBody {
    /// Held in memory.
    Bytes(Bytes),
    /// A file of `length` bytes, opened again for each attempt: a request in flight holds none
    /// of it in memory.
    File { path: PathBuf, length: u64 },
}

impl AudioBody {
    pub fn length_bytes(&self) -> u64 {
        match self {
            AudioBody::Bytes(bytes) => bytes.len() as u64,
            AudioBody::File { length, .. } => *length,
        }
    }

    async fn request_body(&self) -> std::io::Result<reqwest::Body> {
        Ok(match self {
            AudioBody::Bytes(bytes) => reqwest::Body::from(bytes.clone()),
            AudioBody::File { path, .. } => reqwest::Body::wrap_stream(
                tokio_util::io::ReaderStream::new(tokio::fs::File::open(path).await?),
            ),
        })
    }
}

/// One audio file to transcribe; the extension of `filename` tells the service its format.
#[derive(Debug, Clone)]
pub struct AudioFile {
    pub body: AudioBody,
    pub filename: String,
    /// The length of the audio when known, used as the end of a transcript without timings.
    pub duration_seconds: Option<f64>,
    /// Text said just before this audio (the end of the previous chunk's transcript), sent as
    /// the `prompt` so the model continues its spelling, punctuation and names.
    pub prompt: Option<String>,
}

/// A stretch of transcribed speech, in seconds from the start of the audio sent.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedSegment {
    pub start: f64,
    pub end: f64,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiTranscript {
    pub segments: Vec<TimedSegment>,
    /// The length of the audio as the service measured it, when it says.
    pub duration_seconds: Option<f64>,
}

#[derive(Clone)]
pub struct TranscribeClient {
    http: reqwest::Client,
    endpoint: Url,
    key: SecretString,
    settings: TranscribeSettings,
}

impl std::fmt::Debug for TranscribeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TranscribeClient")
            .field("endpoint", &self.endpoint.as_str())
            .field("model", &self.settings.model)
            .finish()
    }
}

/// What one attempt came to, short of a transcript.
enum AttemptError {
    /// Worth another try, after the service's requested wait if it named one.
    Retry {
        reason: String,
        wait: Option<Duration>,
    },
    Fail(TranscribeError),
}

impl TranscribeClient {
    pub fn new(settings: TranscribeSettings) -> Result<Self, TranscribeError> {
        let key = settings
            .api_key
            .clone()
            .filter(|k| !k.expose().trim().is_empty())
            .ok_or(TranscribeError::NotConfigured)?;
        let base = settings.base_url.as_str().trim_end_matches('/');
        let endpoint = Url::parse(&format!("{base}/audio/transcriptions"))
            .map_err(|_| TranscribeError::BadBaseUrl(settings.base_url.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| TranscribeError::Client(e.to_string()))?;
        Ok(Self {
            http,
            endpoint,
            key,
            settings,
        })
    }

    /// The client of the configured API, built once per process; `None` when no key is
    /// configured (an upload then fails saying which settings to set).
    pub fn from_config(
        config: &Config,
        secrets: &Secrets,
    ) -> Result<Option<Self>, TranscribeError> {
        match Self::new(TranscribeSettings::from_config(config, secrets)) {
            Ok(client) => Ok(Some(client)),
            Err(TranscribeError::NotConfigured) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn model(&self) -> &str {
        &self.settings.model
    }

    /// Whisper models answer with timed segments (`verbose_json`); the newer models only with
    /// the text (`json`), which becomes one segment spanning the audio.
    pub fn response_format(&self) -> &'static str {
        if self.settings.model.to_ascii_lowercase().contains("whisper") {
            "verbose_json"
        } else {
            "json"
        }
    }

    pub async fn transcribe(&self, audio: &AudioFile) -> Result<ApiTranscript, TranscribeError> {
        let attempts = self.settings.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            match self.attempt(audio).await {
                Ok(transcript) => return Ok(transcript),
                Err(AttemptError::Fail(err)) => return Err(err),
                Err(AttemptError::Retry { reason, .. }) if attempt >= attempts => {
                    return Err(TranscribeError::GaveUp {
                        attempts,
                        last: reason,
                    });
                }
                Err(AttemptError::Retry { reason, wait }) => {
                    let wait = wait.map_or_else(
                        || self.backoff(attempt),
                        |w| w.min(self.settings.max_retry_after),
                    );
                    tracing::warn!(file = %audio.filename, attempt, ?wait, %reason, "transcription request will be retried");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn attempt(&self, audio: &AudioFile) -> Result<ApiTranscript, AttemptError> {
        let body = audio.body.request_body().await.map_err(|e| {
            AttemptError::Fail(TranscribeError::Audio(format!("{}: {e}", audio.filename)))
        })?;
        let file = Part::stream_with_length(body, audio.body.length_bytes())
            .file_name(audio.filename.clone());
        let mut form = Form::new()
            .part("file", file)
            .text("model", self.settings.model.clone())
            .text("response_format", self.response_format());
        if let Some(language) = &self.settings.language {
            form = form.text("language", language.clone());
        }
        if let Some(prompt) = audio.prompt.as_ref().filter(|p| !p.is_empty()) {
            form = form.text("prompt", prompt.clone());
        }
        let response = self
            .http
            .post(self.endpoint.clone())
            .header(AUTHORIZATION, format!("Bearer {}", self.key.expose()))
            .multipart(form)
            .send()
            .await
            .map_err(|e| AttemptError::Retry {
                reason: transport_reason(&e),
                wait: None,
            })?;
        let status = response.status();
        let wait = retry_after(response.headers());
        let body = response.text().await.map_err(|e| AttemptError::Retry {
            reason: transport_reason(&e),
            wait: None,
        })?;
        if status.is_success() {
            return parse_transcript(&body, audio.duration_seconds).map_err(AttemptError::Fail);
        }
        let message = self.service_message(&body);
        Err(match status {
            StatusCode::TOO_MANY_REQUESTS => AttemptError::Retry {
                reason: format!("rate limited (HTTP 429): {message}"),
                wait,
            },
            StatusCode::REQUEST_TIMEOUT => AttemptError::Retry {
                reason: "request timeout (HTTP 408)".into(),
                wait,
            },
            s if s.is_server_error() => AttemptError::Retry {
                reason: format!("HTTP {}: {message}", s.as_u16()),
                wait,
            },
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                AttemptError::Fail(TranscribeError::Unauthorized {
                    status: status.as_u16(),
                })
            }
            StatusCode::PAYLOAD_TOO_LARGE => AttemptError::Fail(TranscribeError::TooLarge {
                bytes: audio.body.length_bytes(),
            }),
            s => AttemptError::Fail(TranscribeError::Rejected {
                status: s.as_u16(),
                message,
            }),
        })
    }

    /// Exponential backoff with jitter, so parallel requests do not come back in step.
    fn backoff(&self, attempt: u32) -> Duration {
        let exponential = self
            .settings
            .initial_backoff
            .saturating_mul(1 << attempt.saturating_sub(1).min(16));
        exponential
            .min(self.settings.max_backoff)
            .mul_f64(rand::rng().random_range(0.5..=1.0))
    }

    /// The service's own explanation, shortened, and never echoing the key.
    fn service_message(&self, body: &str) -> String {
        #[derive(Deserialize)]
        struct ErrorBody {
            error: ErrorDetail,
        }
        #[derive(Deserialize)]
        struct ErrorDetail {
            message: String,
        }
        let message = serde_json::from_str::<ErrorBody>(body)
            .map_or_else(|_| body.trim().to_owned(), |b| b.error.message);
        let message = message.replace(self.key.expose(), "[redacted]");
        let mut short: String = message.chars().take(MAX_SERVICE_MESSAGE_CHARS).collect();
        if short.len() < message.len() {
            short.push('…');
        }
        if short.is_empty() {
            "no explanation given".into()
        } else {
            short
        }
    }
}

/// What went wrong with a request, in words a user can read: reqwest's own message names the
/// URL, which is no business of theirs, so only the causes below it are kept.
fn transport_reason(err: &reqwest::Error) -> String {
    let what = if err.is_timeout() {
        "the request timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_body() || err.is_decode() {
        "the connection broke while the answer was read"
    } else {
        "the request could not be completed"
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.is_empty() && !text.contains("://") && !causes.contains(&text) {
            causes.push(text);
        }
        source = cause.source();
    }
    if causes.is_empty() {
        what.to_owned()
    } else {
        format!("{what} ({})", causes.join(": "))
    }
}

/// `retry-after-ms` (OpenAI's finer hint) or `Retry-After` in seconds.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    number("retry-after-ms")
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .or_else(|| number("retry-after").map(Duration::from_secs_f64))
}

fn parse_transcript(
    body: &str,
    duration_hint: Option<f64>,
) -> Result<ApiTranscript, TranscribeError> {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        text: String,
        segments: Option<Vec<WireSegment>>,
        duration: Option<f64>,
    }
    #[derive(Deserialize)]
    struct WireSegment {
        start: f64,
        end: f64,
        text: String,
    }
    let parsed: Body =
        serde_json::from_str(body).map_err(|e| TranscribeError::BadResponse(e.to_string()))?;
    let duration_seconds = parsed.duration.or(duration_hint);
    let segments = match parsed.segments {
        Some(segments) => segments
            .into_iter()
            .map(|s| TimedSegment {
                start: s.start.max(0.0),
                end: s.end.max(s.start),
                text: s.text.trim().to_owned(),
            })
            .filter(|s| !s.text.is_empty())
            .collect(),
        None if parsed.text.trim().is_empty() => Vec::new(),
        None => vec![TimedSegment {
            start: 0.0,
            end: duration_seconds.unwrap_or(0.0),
            text: parsed.text.trim().to_owned(),
        }],
    };
    Ok(ApiTranscript {
        segments,
        duration_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn settings(key: Option<&str>, model: &str) -> TranscribeSettings {
        TranscribeSettings::new(
            Url::parse("http://127.0.0.1:9/v1").unwrap(),
            key.map(SecretString::new),
            model,
        )
    }

    #[test]
    fn without_a_key_the_error_names_the_variables_to_set() {
        let err = TranscribeClient::new(settings(None, "whisper-1")).unwrap_err();
        let message = err.to_string();
        for variable in [
            "TRANSCRIBE_API_KEY",
            "TRANSCRIBE_API_BASE_URL",
            "TRANSCRIBE_MODEL",
        ] {
            assert!(message.contains(variable), "{message}");
        }
        assert!(matches!(
            TranscribeClient::new(settings(Some("  "), "whisper-1")),
            Err(TranscribeError::NotConfigured)
        ));
    }

    #[test]
    fn asks_for_timed_segments_only_from_whisper_models() {
        let whisper = TranscribeClient::new(settings(Some("k"), "whisper-1")).unwrap();
        assert_eq!(whisper.response_format(), "verbose_json");
        assert_eq!(
            whisper.endpoint.as_str(),
            "http://127.0.0.1:9/v1/audio/transcriptions"
        );
        let gpt = TranscribeClient::new(settings(Some("k"), "gpt-4o-mini-transcribe")).unwrap();
        assert_eq!(gpt.response_format(), "json");
    }

    #[test]
    fn debug_output_and_service_messages_never_show_the_key() {
        let client = TranscribeClient::new(settings(Some("sk-very-secret"), "whisper-1")).unwrap();
        assert!(!format!("{client:?}").contains("sk-very-secret"));
        assert!(!format!("{:?}", client.settings).contains("sk-very-secret"));
        let echoed = client.service_message(
            r#"{"error":{"message":"Incorrect API key provided: sk-very-secret."}}"#,
        );
        assert_eq!(echoed, "Incorrect API key provided: [redacted].");
        let long = client.service_message(&"x".repeat(1_000));
        assert_eq!(long.chars().count(), MAX_SERVICE_MESSAGE_CHARS + 1);
    }

    #[test]
    fn retry_after_prefers_milliseconds_and_ignores_dates() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
        let mut dated = HeaderMap::new();
        dated.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&dated), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_ceiling() {
        let mut s = settings(Some("k"), "whisper-1");
        s.initial_backoff = Duration::from_millis(100);
        s.max_backoff = Duration::from_millis(700);
        let client = TranscribeClient::new(s).unwrap();
        for (attempt, full) in [(1, 100), (2, 200), (3, 400), (4, 700), (30, 700)] {
            let wait = client.backoff(attempt);
            assert!(
                wait <= Duration::from_millis(full) && wait >= Duration::from_millis(full / 2),
                "{attempt}: {wait:?}"
            );
        }
    }

    #[test]
    fn reads_segments_or_falls_back_to_one_segment_of_text() {
        let verbose = r#"{"task":"transcribe","duration":12.5,"text":"a b","segments":[
            {"id":0,"start":0.0,"end":4.2,"text":" Hello there.","tokens":[1]},
            {"id":1,"start":4.2,"end":9.0,"text":"  "}]}"#;
        let parsed = parse_transcript(verbose, Some(99.0)).unwrap();
        assert_eq!(
            parsed.segments,
            vec![TimedSegment {
                start: 0.0,
                end: 4.2,
                text: "Hello there.".into()
            }]
        );
        assert_eq!(parsed.duration_seconds, Some(12.5));
        let plain = parse_transcript(r#"{"text":" Whole chunk. "}"#, Some(30.0)).unwrap();
        assert_eq!(
            plain.segments,
            vec![TimedSegment {
                start: 0.0,
                end: 30.0,
                text: "Whole chunk.".into()
            }]
        );
        assert!(parse_transcript(r#"{"text":""}"#, None)
            .unwrap()
            .segments
            .is_empty());
        assert!(matches!(
            parse_transcript("<html>", None),
            Err(TranscribeError::BadResponse(_))
        ));
    }
}
