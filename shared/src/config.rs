//! Typed configuration from environment variables (see the README's configuration table).
//! A bad value stops start-up with a message naming the variable.

use crate::connectors::upload::transcription::DEFAULT_PARALLELISM;
use std::path::PathBuf;
use url::Url;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Local,
    Aws,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {variable} {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

/// Settings only the AWS backend needs.
#[derive(Debug, Clone)]
pub struct AwsResources {
    pub table_name: String,
    pub audio_bucket: String,
    pub sync_queue_url: String,
    pub transcribe_queue_url: String,
    pub events_queue_url: String,
    pub secrets_arn: Option<String>,
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub backend: Backend,
    pub local_data_dir: PathBuf,
    pub public_base_url: Url,
    pub app_base_url: Url,
    pub fathom_api_base_url: Url,
    pub fathom_oauth_base_url: Url,
    pub fathom_client_id: Option<String>,
    /// Send a PKCE challenge with the Fathom authorization request (on unless turned off: a
    /// provider that ignores PKCE loses nothing by it).
    pub fathom_oauth_pkce: bool,
    /// Fathom's rate-limit window when it is not the documented 60 s (benchmarks against the
    /// fake shorten it; `FATHOM_RATE_WINDOW_MS`).
    pub fathom_rate_window: Option<std::time::Duration>,
    /// First back-off of a retried Fathom call (`FATHOM_RETRY_BASE_MS`, default 500 ms; tests
    /// against the fake shorten it).
    pub fathom_retry_base: std::time::Duration,
    pub zoom: ZoomSettings,
    pub transcribe_api_base_url: Url,
    pub transcribe_model: String,
    /// Chunks of one recording transcribed at once (`TRANSCRIBE_CONCURRENCY`; see
    /// `DEFAULT_PARALLELISM` for the default's reasons). Each keeps one encoded chunk (up to
    /// about 19 MB) in a temporary file while its request runs.
    pub transcribe_concurrency: usize,
    /// Per-workspace monthly import quota across sources and members; 0 means unlimited.
    pub imports_per_month: u64,
    /// Which token claims name the caller's workspace and role there.
    pub identity: IdentityClaims,
    /// Largest upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// Longest recording transcribed, in seconds (`MAX_AUDIO_SECONDS`): a longer one fails
    /// before the transcription API is asked (the API bills by the second).
    pub max_audio_seconds: u64,
    /// Deliveries of a queue message before the queue dead-letters it (`QUEUE_MAX_RECEIVES`;
    /// the template's `maxReceiveCount`): the last one ends its work visibly (a failed job, a
    /// failed upload) rather than leave it waiting for ever.
    pub queue_max_receives: u32,
    /// How long a sync holds its connection without renewing (`SYNC_LEASE_SECS`, 300 s):
    /// past it, a worker that stopped is taken for dead and another sync may take over.
    /// Shortened only by tests that stop workers on purpose.
    pub sync_lease: chrono::Duration,
    /// Where outbound webhooks may go and when they are retried.
    pub outbound: OutboundSettings,
    /// The chat completions API that analyses tasks, when configured (`LLM_API_BASE_URL` and
    /// `LLM_MODEL`; the key, `LLM_API_KEY`, is a secret).
    pub llm: Option<LlmSettings>,
    pub aws: Option<AwsResources>,
}

/// An OpenAI-compatible chat completions API.
#[derive(Debug, Clone)]
pub struct LlmSettings {
    pub base_url: Url,
    pub model: String,
    /// First back-off of a retried call (`LLM_RETRY_BASE_MS`, 500 ms; tests shorten it).
    pub retry_base: std::time::Duration,
}

/// Outbound webhook delivery settings.
#[derive(Debug, Clone)]
pub struct OutboundSettings {
    /// Destinations may be `http` on a loopback address (`WEBHOOK_ALLOW_LOOPBACK`; on by
    /// default on the embedded backend, for local work, and off in AWS, where destinations
    /// must be public `https`).
    pub allow_loopback: bool,
    /// The wait before each retry (`WEBHOOK_RETRY_SCHEDULE_SECS`, comma-separated seconds):
    /// by default the schedule webhook senders use, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h
    /// after the first attempt; tests shorten it.
    pub retry_schedule: Vec<std::time::Duration>,
}

/// The default wait before each retry of an outbound webhook, in seconds.
pub const DEFAULT_RETRY_SCHEDULE_SECS: [u64; 7] = [5, 300, 1800, 7200, 18000, 36000, 36000];

fn retry_schedule(raw: Option<String>) -> Result<Vec<std::time::Duration>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_RETRY_SCHEDULE_SECS
            .iter()
            .map(|s| std::time::Duration::from_secs(*s))
            .collect());
    };
    raw.split(',')
        .map(|part| {
            part.trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 86_400.0)
                .map(std::time::Duration::from_secs_f64)
                .ok_or_else(|| ConfigError {
                    variable: "WEBHOOK_RETRY_SCHEDULE_SECS",
                    problem: format!(
                        "must be comma-separated seconds between 0 and 86400, not `{}`",
                        part.trim()
                    ),
                })
        })
        .collect()
}

/// The JWT claims (as the authorizer passes them) that name the caller's workspace
/// (`WORKSPACE_CLAIM`, default `org_id`) and role there (`WORKSPACE_ROLE_CLAIM`, default
/// `org_role`). A token without the workspace claim is for the user's personal workspace.
#[derive(Debug, Clone)]
pub struct IdentityClaims {
    pub workspace: String,
    pub role: String,
}

/// Zoom's settings (its client secret and webhook secret token are secrets).
#[derive(Debug, Clone)]
pub struct ZoomSettings {
    pub api_base_url: Url,
    pub oauth_base_url: Url,
    pub client_id: Option<String>,
    /// How far back the first sync of a connection reaches.
    pub backfill_days: u32,
    /// Requests per second for Zoom's Light, Medium and Heavy categories: the account's plan's
    /// limits (shared by every app the account uses), Free's by default.
    pub rate_per_second: [u32; 3],
    /// First back-off of a retried call (tests against the fake shorten it).
    pub retry_base: std::time::Duration,
}

/// Reads variables through `lookup`, so tests need not touch the process environment.
pub struct Env<F: Fn(&str) -> Option<String>>(pub F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError {
            variable: name,
            problem: "is required but not set".into(),
        })
    }

    pub fn url(&self, name: &'static str, default: &str) -> Result<Url, ConfigError> {
        let raw = self.get(name).unwrap_or_else(|| default.to_owned());
        parse_url(name, &raw)
    }

    pub fn number(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|_| ConfigError {
                variable: name,
                problem: format!("must be a whole number, got `{raw}`"),
            }),
        }
    }

    /// A whole number above zero.
    pub fn positive(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        match self.number(name, default)? {
            0 => Err(ConfigError {
                variable: name,
                problem: "must be above zero".into(),
            }),
            n => Ok(n),
        }
    }

    pub fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).as_deref() {
            None => Ok(default),
            Some("1" | "true" | "yes" | "on") => Ok(true),
            Some("0" | "false" | "no" | "off") => Ok(false),
            Some(other) => Err(ConfigError {
                variable: name,
                problem: format!("must be true or false, got `{other}`"),
            }),
        }
    }
}

fn parse_url(name: &'static str, raw: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw).map_err(|e| ConfigError {
        variable: name,
        problem: format!("is not a URL ({e})"),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError {
            variable: name,
            problem: "must be an http or https URL".into(),
        });
    }
    Ok(url)
}

pub const DEFAULT_PORT: u16 = 8787;

fn per_second(
    env: &Env<impl Fn(&str) -> Option<String>>,
    name: &'static str,
    default: u64,
) -> Result<u32, ConfigError> {
    match env.number(name, default)? {
        0 => Err(ConfigError {
            variable: name,
            problem: "must be at least 1".into(),
        }),
        n => u32::try_from(n).map_err(|_| ConfigError {
            variable: name,
            problem: "is too large".into(),
        }),
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(lookup);
        let backend = match env.get("BACKEND").as_deref() {
            None | Some("local") => Backend::Local,
            Some("aws") => Backend::Aws,
            Some(other) => {
                return Err(ConfigError {
                    variable: "BACKEND",
                    problem: format!("must be `local` or `aws`, got `{other}`"),
                })
            }
        };
        let port = env.number("PORT", DEFAULT_PORT.into())?;
        let public_base_url = env.url("PUBLIC_BASE_URL", &format!("http://127.0.0.1:{port}"))?;
        let app_base_url = match env.get("APP_BASE_URL") {
            Some(raw) => parse_url("APP_BASE_URL", &raw)?,
            None => public_base_url.clone(),
        };
        let aws = match backend {
            Backend::Local => None,
            Backend::Aws => Some(AwsResources {
                table_name: env.required("TABLE_NAME")?,
                audio_bucket: env.required("AUDIO_BUCKET")?,
                sync_queue_url: env.required("SYNC_QUEUE_URL")?,
                transcribe_queue_url: env.required("TRANSCRIBE_QUEUE_URL")?,
                events_queue_url: env.required("EVENTS_QUEUE_URL")?,
                secrets_arn: env.get("SECRETS_ARN"),
                endpoint_url: env.get("AWS_ENDPOINT_URL"),
            }),
        };
        Ok(Config {
            backend,
            local_data_dir: PathBuf::from(
                env.get("LOCAL_DATA_DIR")
                    .unwrap_or_else(|| "./.callsync".into()),
            ),
            public_base_url,
            app_base_url,
            fathom_api_base_url: env
                .url("FATHOM_API_BASE_URL", "https://api.fathom.ai/external/v1")?,
            fathom_oauth_base_url: env.url(
                "FATHOM_OAUTH_BASE_URL",
                "https://fathom.video/external/v1/oauth2",
            )?,
            fathom_client_id: env.get("FATHOM_CLIENT_ID"),
            fathom_oauth_pkce: env.flag("FATHOM_OAUTH_PKCE", true)?,
            fathom_retry_base: std::time::Duration::from_millis(
                env.number("FATHOM_RETRY_BASE_MS", 500)?,
            ),
            fathom_rate_window: match env.number("FATHOM_RATE_WINDOW_MS", 0)? {
                0 => None,
                ms => Some(std::time::Duration::from_millis(ms)),
            },
            zoom: ZoomSettings {
                api_base_url: env.url("ZOOM_API_BASE_URL", "https://api.zoom.us/v2")?,
                oauth_base_url: env.url("ZOOM_OAUTH_BASE_URL", "https://zoom.us/oauth")?,
                client_id: env.get("ZOOM_CLIENT_ID"),
                backfill_days: u32::try_from(env.number("ZOOM_BACKFILL_DAYS", 180)?).map_err(
                    |_| ConfigError {
                        variable: "ZOOM_BACKFILL_DAYS",
                        problem: "is too large".into(),
                    },
                )?,
                rate_per_second: [
                    per_second(&env, "ZOOM_RATE_LIGHT_PER_SECOND", 4)?,
                    per_second(&env, "ZOOM_RATE_MEDIUM_PER_SECOND", 2)?,
                    per_second(&env, "ZOOM_RATE_HEAVY_PER_SECOND", 1)?,
                ],
                retry_base: std::time::Duration::from_millis(
                    env.number("ZOOM_RETRY_BASE_MS", 500)?,
                ),
            },
            transcribe_api_base_url: env
                .url("TRANSCRIBE_API_BASE_URL", "https://api.openai.com/v1")?,
            transcribe_model: env
                .get("TRANSCRIBE_MODEL")
                .unwrap_or_else(|| "whisper-1".into()),
            transcribe_concurrency: usize::try_from(
                env.positive("TRANSCRIBE_CONCURRENCY", DEFAULT_PARALLELISM as u64)?,
            )
            .map_err(|_| ConfigError {
                variable: "TRANSCRIBE_CONCURRENCY",
                problem: "is too large".into(),
            })?,
            imports_per_month: env.number("IMPORTS_PER_MONTH", 0)?,
            identity: IdentityClaims {
                workspace: env
                    .get("WORKSPACE_CLAIM")
                    .unwrap_or_else(|| "org_id".into()),
                role: env
                    .get("WORKSPACE_ROLE_CLAIM")
                    .unwrap_or_else(|| "org_role".into()),
            },
            max_upload_bytes: env.number("MAX_UPLOAD_BYTES", 500 * 1024 * 1024)?,
            max_audio_seconds: env.positive("MAX_AUDIO_SECONDS", 6 * 3600)?,
            queue_max_receives: u32::try_from(env.positive("QUEUE_MAX_RECEIVES", 5)?).map_err(
                |_| ConfigError {
                    variable: "QUEUE_MAX_RECEIVES",
                    problem: "is too large".into(),
                },
            )?,
            sync_lease: chrono::Duration::seconds(
                i64::try_from(env.positive("SYNC_LEASE_SECS", 300)?).map_err(|_| ConfigError {
                    variable: "SYNC_LEASE_SECS",
                    problem: "is too large".into(),
                })?,
            ),
            llm: match (env.get("LLM_API_BASE_URL"), env.get("LLM_MODEL")) {
                (None, None) => None,
                (Some(raw), Some(model)) => Some(LlmSettings {
                    base_url: parse_url("LLM_API_BASE_URL", &raw)?,
                    model,
                    retry_base: std::time::Duration::from_millis(
                        env.positive("LLM_RETRY_BASE_MS", 500)?,
                    ),
                }),
                (None, Some(_)) => {
                    return Err(ConfigError {
                        variable: "LLM_API_BASE_URL",
                        problem: "is required when LLM_MODEL is set".into(),
                    })
                }
                (Some(_), None) => {
                    return Err(ConfigError {
                        variable: "LLM_MODEL",
                        problem: "is required when LLM_API_BASE_URL is set".into(),
                    })
                }
            },
            outbound: OutboundSettings {
                allow_loopback: env.flag("WEBHOOK_ALLOW_LOOPBACK", backend == Backend::Local)?,
                retry_schedule: retry_schedule(env.get("WEBHOOK_RETRY_SCHEDULE_SECS"))?,
            },
            aws,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(move |name| map.get(name).cloned())
    }

    #[test]
    fn defaults_describe_a_local_system() {
        let cfg = config(&[]).unwrap();
        assert_eq!(cfg.backend, Backend::Local);
        assert_eq!(cfg.public_base_url.as_str(), "http://127.0.0.1:8787/");
        assert_eq!(cfg.app_base_url, cfg.public_base_url);
        assert_eq!(cfg.imports_per_month, 0);
        assert_eq!(cfg.transcribe_model, "whisper-1");
        assert_eq!(cfg.transcribe_concurrency, 8);
        assert_eq!(cfg.max_audio_seconds, 21_600);
        assert_eq!(cfg.queue_max_receives, 5);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = config(&[("BACKEND", "gcp")]).unwrap_err();
        assert_eq!(err.variable, "BACKEND");
        let err = config(&[("IMPORTS_PER_MONTH", "ten")]).unwrap_err();
        assert_eq!(err.variable, "IMPORTS_PER_MONTH");
        let err = config(&[("FATHOM_API_BASE_URL", "ftp://x")]).unwrap_err();
        assert_eq!(err.variable, "FATHOM_API_BASE_URL");
        let err = config(&[("TRANSCRIBE_CONCURRENCY", "0")]).unwrap_err();
        assert_eq!(err.variable, "TRANSCRIBE_CONCURRENCY");
        let err = config(&[("MAX_AUDIO_SECONDS", "0")]).unwrap_err();
        assert_eq!(err.variable, "MAX_AUDIO_SECONDS");
        let err = config(&[("QUEUE_MAX_RECEIVES", "0")]).unwrap_err();
        assert_eq!(err.variable, "QUEUE_MAX_RECEIVES");
        let err = config(&[("QUEUE_MAX_RECEIVES", "99999999999")]).unwrap_err();
        assert_eq!(err.variable, "QUEUE_MAX_RECEIVES");
        let err = config(&[("BACKEND", "aws")]).unwrap_err();
        assert_eq!(err.variable, "TABLE_NAME");
    }
}
