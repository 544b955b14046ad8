//! Start-up shared by every function binary and the dev server: tracing, configuration,
//! and the backend's services, each done once per process.

use crate::config::{Backend, Config};
use crate::services::Services;
use anyhow::Result;
use std::sync::Arc;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Logs as JSON objects when Lambda asks for them (`LoggingConfig: LogFormat: JSON` sets
/// `AWS_LAMBDA_LOG_FORMAT`) or `LOG_FORMAT=json` does (the dev server), plain text without
/// colours (CloudWatch shows escape codes verbatim) otherwise. Either way each line carries
/// its spans' fields: the request id of an HTTP request, the job id of a sync. `RUST_LOG`
/// (or Lambda's `AWS_LAMBDA_LOG_LEVEL`) filters, `info` by default.
pub fn init_tracing() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_owned());
    let filter = log_filter(&level);
    // The target filter decides; the builder's own level (info by default) lets all through.
    let builder = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_ansi(false)
        .with_target(false);
    let _ = if json_logs(|name| std::env::var(name).ok()) {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .finish()
            .with(filter)
            .try_init()
    } else {
        builder.without_time().finish().with(filter).try_init()
    };
}

/// `RUST_LOG`-style directives (`info`, `pipeline=debug,warn`) as a target filter, `info` when
/// they do not parse. Plain targets and levels are all the functions need, and they keep the
/// regex engine (a large part of a small binary) out of every function.
fn log_filter(directives: &str) -> Targets {
    directives
        .to_ascii_lowercase()
        .parse()
        .unwrap_or_else(|_| Targets::new().with_default(LevelFilter::INFO))
}

/// Whether the environment asks for JSON logs.
fn json_logs(env: impl Fn(&str) -> Option<String>) -> bool {
    ["AWS_LAMBDA_LOG_FORMAT", "LOG_FORMAT"]
        .iter()
        .any(|name| env(name).is_some_and(|v| v.eq_ignore_ascii_case("json")))
}

/// Builds the services of the backend the configuration names.
pub async fn build_services(config: Config) -> Result<Services> {
    let config = Arc::new(config);
    match config.backend {
        #[cfg(feature = "local")]
        Backend::Local => Ok(crate::adapters::local::LocalBackend::open(config)?.services),
        // A Lambda build: the embedded backend is left out (`local` feature).
        #[cfg(not(feature = "local"))]
        Backend::Local => anyhow::bail!(
            "configuration: BACKEND=local needs a build with the embedded backend \
             (the function's `local` feature, as `make invoke` builds it)"
        ),
        Backend::Aws => crate::adapters::aws::build(config).await,
    }
}

/// Makes the allocator give every buffer of 128 KiB or more back to the system as soon as it is
/// freed. glibc otherwise raises that threshold to the largest buffer freed so far (up to
/// 32 MiB), after which a transcription's multi-megabyte chunk buffers come from per-thread
/// heaps that keep the memory once the chunk is sent: a 200 MB upload transcribed 4 chunks at
/// a time peaked at 147 MB instead of 113 MB (`bench-upload`). Setting the threshold turns the
/// adjustment off. For the processes that transcribe media (`start` with the `audio` feature).
pub fn return_large_buffers_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator settings; it is called before the work it tunes.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Everything a function's `main` needs before it starts serving.
pub async fn start() -> Result<Services> {
    #[cfg(feature = "audio")]
    return_large_buffers_to_the_system();
    init_tracing();
    build_services(Config::from_env()?).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_or_the_dev_server_setting_asks_for_json() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(json_logs(env(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")])));
        assert!(json_logs(env(&[("LOG_FORMAT", "json")])));
        assert!(!json_logs(env(&[("AWS_LAMBDA_LOG_FORMAT", "Text")])));
        assert!(!json_logs(env(&[])));
    }

    #[test]
    fn log_levels_and_per_target_directives_filter_and_nonsense_falls_back_to_info() {
        use tracing::Level;
        let debug = log_filter("DEBUG");
        assert!(debug.would_enable("pipeline::sync", &Level::DEBUG));
        assert!(!debug.would_enable("pipeline::sync", &Level::TRACE));

        let mixed = log_filter("pipeline=debug,warn");
        assert!(mixed.would_enable("pipeline::sync", &Level::DEBUG));
        assert!(!mixed.would_enable("hyper", &Level::INFO));
        assert!(mixed.would_enable("hyper", &Level::WARN));

        let fallback = log_filter("pipeline=loud");
        assert!(fallback.would_enable("pipeline", &Level::INFO));
        assert!(!fallback.would_enable("pipeline", &Level::DEBUG));
    }
}
