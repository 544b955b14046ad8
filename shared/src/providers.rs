//! Clients of the third-party APIs, built once per process from configuration and secrets:
//! one connector per source a user connects, sharing one HTTP client.

use crate::config::Config;
use crate::connectors::fathom::{build_http_client, FathomConnector, HttpTimeouts};
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
}

impl Providers {
    pub fn new(config: &Config, secrets: &Secrets) -> Result<Self> {
        let http = build_http_client(HttpTimeouts::default())?;
        let connectors = Registry::new(vec![
            Arc::new(FathomConnector::from_config(config, secrets, http.clone())),
            Arc::new(ZoomConnector::from_config(config, secrets, http.clone())),
        ]);
        Ok(Providers { connectors, http })
    }

    /// The connector of `source`, when it is one a user connects.
    pub fn connector(&self, source: Source) -> Option<&dyn Connector> {
        self.connectors.get(source)
    }
}
