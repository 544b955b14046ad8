//! Fathom's OAuth endpoints: the authorization URL and the token calls (form-encoded, as
//! Fathom rejects JSON). Refresh tokens are single-use and rotate; an `invalid_grant` answer
//! is its own error so the caller can mark the connection `needs_reauth`.

use super::error::FathomError;
use super::rate_limit::{fingerprint, RateLimiterRegistry, RequestClass};
use super::transport::{provider_message, send, RetryPolicy};
use super::wire::{decode_secret, ErrorBody, TokenResponse};
use crate::crypto::SecretString;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use url::Url;

/// The only scope Fathom defines.
pub const SCOPE: &str = "public_api";

/// The tokens a grant returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSet {
    pub access_token: SecretString,
    /// The next refresh token; the one just used is dead from now on.
    pub refresh_token: Option<SecretString>,
    /// Seconds the access token lives.
    pub expires_in: Option<u64>,
    pub scope: Option<String>,
}

impl TokenSet {
    pub fn expires_at(&self, issued_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let seconds = i64::try_from(self.expires_in?).ok()?;
        issued_at.checked_add_signed(chrono::Duration::try_seconds(seconds)?)
    }
}

/// The registered OAuth app and where its endpoints live.
#[derive(Debug, Clone)]
pub struct OAuthApp {
    /// e.g. `https://fathom.video/external/v1/oauth2`.
    pub oauth_base: Url,
    pub client_id: String,
    pub client_secret: SecretString,
}

/// Token calls for one OAuth app. Paced per app (Fathom allows 60 token calls a minute per
/// app) and retried on 5xx and timeouts: retrying after a lost answer risks nothing more
/// than not retrying would, since a consumed refresh token is dead either way.
#[derive(Debug, Clone)]
pub struct FathomOAuth {
    app: OAuthApp,
    http: reqwest::Client,
    limits: Arc<RateLimiterRegistry>,
    retry: RetryPolicy,
}

impl FathomOAuth {
    pub fn new(app: OAuthApp, http: reqwest::Client, limits: Arc<RateLimiterRegistry>) -> Self {
        FathomOAuth {
            app,
            http,
            limits,
            retry: RetryPolicy::default(),
        }
    }

    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn app(&self) -> &OAuthApp {
        &self.app
    }

    /// Where to send the browser. `code_challenge` is an S256 PKCE challenge, when used.
    pub fn authorize_url(
        &self,
        redirect_uri: &str,
        state: &str,
        code_challenge: Option<&str>,
    ) -> Result<Url, FathomError> {
        let mut url = self.endpoint("authorize")?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("client_id", &self.app.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("response_type", "code")
                .append_pair("scope", SCOPE)
                .append_pair("state", state);
            if let Some(challenge) = code_challenge {
                query
                    .append_pair("code_challenge", challenge)
                    .append_pair("code_challenge_method", "S256");
            }
        }
        Ok(url)
    }

    /// Trades an authorization code for tokens.
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
    ) -> Result<TokenSet, FathomError> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ];
        if let Some(verifier) = code_verifier {
            form.push(("code_verifier", verifier));
        }
        self.token_call(&form).await
    }

    /// Trades a refresh token for a new pair. Call it once per connection at a time: the
    /// token is single-use.
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenSet, FathomError> {
        self.token_call(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ])
        .await
    }

    async fn token_call(&self, grant: &[(&str, &str)]) -> Result<TokenSet, FathomError> {
        let url = self.endpoint("token")?;
        // Built in a block: the serializer is not `Send` and must not live across an await.
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.extend_pairs(grant);
            form.append_pair("client_id", &self.app.client_id);
            form.append_pair("client_secret", self.app.client_secret.expose());
            form.finish()
        };
        let limiter = self.limits.limiter(fingerprint(
            "oauth_app",
            &format!("{url}\n{}", self.app.client_id),
        ));
        let answer = send(&limiter, RequestClass::Light, &self.retry, || {
            self.http
                .post(url.clone())
                .header(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .header(http::header::ACCEPT, "application/json")
                .body(body.clone())
        })
        .await?;
        if answer.status.is_success() {
            let tokens: TokenResponse = decode_secret("token response", &answer.body)?;
            return Ok(TokenSet {
                access_token: SecretString::new(tokens.access_token),
                refresh_token: tokens.refresh_token.map(SecretString::new),
                expires_in: tokens.expires_in,
                scope: tokens.scope,
            });
        }
        let error = ErrorBody::parse(&answer.body);
        if error.code() == Some("invalid_grant") {
            return Err(FathomError::InvalidGrant);
        }
        // Any other refusal (`invalid_client`, a bad redirect URI) is the app's configuration,
        // not the user's connection.
        Err(FathomError::Provider {
            status: answer.status.as_u16(),
            message: provider_message(&answer.body),
        })
    }

    fn endpoint(&self, name: &str) -> Result<Url, FathomError> {
        let mut url = self.app.oauth_base.clone();
        url.path_segments_mut()
            .map_err(|_| {
                FathomError::InvalidRequest("the OAuth base URL cannot take a path".into())
            })?
            .pop_if_empty()
            .push(name);
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oauth() -> FathomOAuth {
        FathomOAuth::new(
            OAuthApp {
                oauth_base: Url::parse("https://fathom.video/external/v1/oauth2/").unwrap(),
                client_id: "client 1".into(),
                client_secret: SecretString::new("app-secret"),
            },
            reqwest::Client::new(),
            Arc::new(RateLimiterRegistry::new(Default::default())),
        )
    }

    #[test]
    fn the_authorize_url_carries_the_documented_parameters() {
        let url = oauth()
            .authorize_url("https://app.example/cb?x=1", "st/ate+=", Some("chal"))
            .unwrap();
        assert_eq!(url.path(), "/external/v1/oauth2/authorize");
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("client_id"), Some("client 1"));
        assert_eq!(get("redirect_uri"), Some("https://app.example/cb?x=1"));
        assert_eq!(get("response_type"), Some("code"));
        assert_eq!(get("scope"), Some("public_api"));
        assert_eq!(get("state"), Some("st/ate+="));
        assert_eq!(get("code_challenge_method"), Some("S256"));
        assert!(!url.as_str().contains("app-secret"));
    }

    #[test]
    fn token_sets_know_when_they_expire_and_hide_their_tokens() {
        let tokens = TokenSet {
            access_token: SecretString::new("at_123"),
            refresh_token: Some(SecretString::new("rt_456")),
            expires_in: Some(3600),
            scope: None,
        };
        let now = Utc::now();
        assert_eq!(
            tokens.expires_at(now),
            Some(now + chrono::Duration::seconds(3600))
        );
        let debug = format!("{tokens:?} {:?}", oauth());
        assert!(
            !debug.contains("at_123") && !debug.contains("rt_456") && !debug.contains("app-secret")
        );
    }
}
