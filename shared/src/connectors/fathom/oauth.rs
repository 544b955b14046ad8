//! Fathom's OAuth app: the generic token calls with Fathom's conventions (its one scope, the
//! client's credentials in the form body, JSON refused), errors in Fathom's terms.

use super::super::oauth::{ClientAuth, OAuthApp as GenericApp, OAuthClient};
use super::super::rate_limit::RateLimiterRegistry;
use super::super::transport::RetryPolicy;
use super::error::FathomError;
use crate::crypto::SecretString;
use std::sync::Arc;
use url::Url;

pub use super::super::oauth::TokenSet;

/// The only scope Fathom defines.
pub const SCOPE: &str = "public_api";

/// The registered OAuth app and where its endpoints live.
#[derive(Debug, Clone)]
pub struct OAuthApp {
    /// e.g. `https://fathom.video/external/v1/oauth2`.
    pub oauth_base: Url,
    pub client_id: String,
    pub client_secret: SecretString,
}

/// Token calls for Fathom's OAuth app. Paced per app (Fathom allows 60 token calls a minute).
#[derive(Debug, Clone)]
pub struct FathomOAuth {
    client: OAuthClient,
}

impl FathomOAuth {
    pub fn new(app: OAuthApp, http: reqwest::Client, limits: Arc<RateLimiterRegistry>) -> Self {
        let app = GenericApp {
            oauth_base: app.oauth_base,
            client_id: app.client_id,
            client_secret: app.client_secret,
            client_auth: ClientAuth::Body,
            scope: Some(SCOPE.into()),
        };
        FathomOAuth {
            client: OAuthClient::new(app, http, limits),
        }
    }

    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.client = self.client.with_retry_policy(retry);
        self
    }

    /// The generic client, as the connect flow uses it.
    pub fn client(&self) -> &OAuthClient {
        &self.client
    }

    /// Where to send the browser. `code_challenge` is an S256 PKCE challenge, when used.
    pub fn authorize_url(
        &self,
        redirect_uri: &str,
        state: &str,
        code_challenge: Option<&str>,
    ) -> Result<Url, FathomError> {
        Ok(self
            .client
            .authorize_url(redirect_uri, state, code_challenge)?)
    }

    /// Trades an authorization code for tokens.
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
    ) -> Result<TokenSet, FathomError> {
        Ok(self
            .client
            .exchange_code(code, redirect_uri, code_verifier)
            .await?)
    }

    /// Trades a refresh token for a new pair (single-use: once per connection at a time).
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenSet, FathomError> {
        Ok(self.client.refresh(refresh_token).await?)
    }
}
