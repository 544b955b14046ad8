//! Clients of the third-party APIs, built once per process from configuration and secrets:
//! one connector per source a user connects, and the transcription API, sharing one HTTP
//! client.

use crate::config::Config;
use crate::connectors::fathom::{build_http_client, FathomConnector, HttpTimeouts};
use crate::connectors::upload::TranscribeClient;
use crate::connectors::zoom::ZoomConnector;
use crate::connectors::{Connector, Registry};
use crate::domain::Source;
use crate::secrets::Secrets;
use anyhow::Result;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Providers {
    pub connectors: Registry,
    /// The HTTP client every provider call shares.
    pub http: reqwest::Client,
    /// The transcription API's client; `None` when no `TRANSCRIBE_API_KEY` is configured.
    pub transcribe: Option<TranscribeClient>,
}

impl Providers {
    pub fn new(config: &Config, secrets: &Secrets) -> Result<Self> {
        let http = build_http_client(HttpTimeouts::default())?;
        let connectors = Registry::new(vec![
            Arc::new(FathomConnector::from_config(config, secrets, http.clone())),
            Arc::new(ZoomConnector::from_config(config, secrets, http.clone())),
        ]);
        Ok(Providers {
            connectors,
            http,
            transcribe: TranscribeClient::from_config(config, secrets)?,
        })
    }

    /// The connector of `source`, when it is one a user connects.
    pub fn connector(&self, source: Source) -> Option<&dyn Connector> {
        self.connectors.get(source)
    }
}
