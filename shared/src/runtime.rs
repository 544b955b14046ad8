//! Start-up shared by every function binary and the dev server: tracing, configuration,
//! and the backend's services, each done once per process.

use crate::adapters::local::LocalBackend;
use crate::config::{Backend, Config};
use crate::services::Services;
use anyhow::Result;
use std::sync::Arc;

/// Plain-text logs without colours (CloudWatch shows escape codes verbatim); `RUST_LOG`
/// filters, `info` by default.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(false)
        .without_time()
        .try_init();
}

/// Builds the services of the backend the configuration names.
pub async fn build_services(config: Config) -> Result<Services> {
    let config = Arc::new(config);
    match config.backend {
        Backend::Local => Ok(LocalBackend::open(config)?.services),
        Backend::Aws => crate::adapters::aws::build(config).await,
    }
}

/// Everything a function's `main` needs before it starts serving.
pub async fn start() -> Result<Services> {
    init_tracing();
    build_services(Config::from_env()?).await
}
