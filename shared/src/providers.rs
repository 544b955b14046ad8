//! Clients of the third-party APIs, built once per process from configuration and secrets.

use crate::config::Config;
use crate::connectors::fathom::{
    build_http_client, Budgets, FathomClient, FathomOAuth, HttpTimeouts, OAuthApp,
    RateLimiterRegistry, RetryPolicy,
};
use crate::connectors::upload::TranscribeClient;
use crate::secrets::Secrets;
use anyhow::Result;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Providers {
    pub fathom: FathomClient,
    /// Present when the Fathom OAuth app is configured (client id and secret).
    pub fathom_oauth: Option<FathomOAuth>,
    /// The HTTP client every provider call shares.
    pub http: reqwest::Client,
    /// The transcription API's client; `None` when no `TRANSCRIBE_API_KEY` is configured.
    pub transcribe: Option<TranscribeClient>,
}

impl Providers {
    pub fn new(config: &Config, secrets: &Secrets) -> Result<Self> {
        let http = build_http_client(HttpTimeouts::default())?;
        // One registry per process, so every client of a credential shares its pacing.
        let limits = match config.fathom_rate_window {
            None => RateLimiterRegistry::global(),
            Some(window) => Arc::new(RateLimiterRegistry::new(Budgets::per_window(
                Budgets::DOCUMENTED.overall.requests,
                Budgets::DOCUMENTED.heavy.requests,
                window,
            ))),
        };
        let retry = RetryPolicy {
            base_delay: config.fathom_retry_base,
            ..RetryPolicy::default()
        };
        let fathom = FathomClient::new(
            config.fathom_api_base_url.clone(),
            http.clone(),
            limits.clone(),
        )
        .with_retry_policy(retry);
        let fathom_oauth = match (&config.fathom_client_id, &secrets.fathom_client_secret) {
            (Some(client_id), Some(client_secret)) => Some(
                FathomOAuth::new(
                    OAuthApp {
                        oauth_base: config.fathom_oauth_base_url.clone(),
                        client_id: client_id.clone(),
                        client_secret: client_secret.clone(),
                    },
                    http.clone(),
                    limits,
                )
                .with_retry_policy(retry),
            ),
            _ => None,
        };
        Ok(Providers {
            fathom,
            fathom_oauth,
            http,
            transcribe: TranscribeClient::from_config(config, secrets)?,
        })
    }
}
