//! The single-use state an OAuth round trip carries from initiate to callback.

use crate::config::Config;
use crate::domain::{Source, UserId};
use anyhow::{Context, Result};
use chrono::Duration;
use serde::{Deserialize, Serialize};
use url::Url;

/// How long a user has to finish the provider's consent screen.
pub const STATE_TTL: Duration = Duration::minutes(10);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OAuthState {
    pub user_id: UserId,
    pub source: Source,
    /// PKCE verifier, when a challenge was sent.
    pub code_verifier: Option<String>,
    /// Where in the app the browser returns.
    pub return_path: String,
}

impl OAuthState {
    pub fn key(state: &str) -> String {
        format!("oauth_state:{state}")
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(raw: &str) -> Result<Self> {
        serde_json::from_str(raw).context("a stored OAuth state could not be read")
    }
}

/// The callback URL registered with the provider for `source`.
pub fn redirect_uri(config: &Config, source: Source) -> Result<Url> {
    config
        .public_base_url
        .join(&format!("oauth/{source}/callback"))
        .context("building the OAuth redirect URI")
}
