//! An OAuth 2.0 app's token calls, whatever the provider: the authorization URL (with a PKCE
//! S256 challenge when used), and the form-encoded token calls, the client authenticated the
//! way the provider wants (credentials in the body, or HTTP Basic). Refresh tokens may be
//! single-use and rotate; an `invalid_grant` answer is its own error so the caller can mark
//! the connection `needs_reauth`.

use super::rate_limit::{fingerprint, RateLimiterRegistry, RequestClass};
use super::transport::{provider_message, send, RetryPolicy, TransportError};
use crate::crypto::SecretString;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::sync::Arc;
use url::Url;

/// The tokens a grant returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSet {
    pub access_token: SecretString,
    /// The next refresh token; with rotating tokens, the one just used is dead from now on.
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

/// How the app proves who it is at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_id` and `client_secret` in the form body.
    Body,
    /// `Authorization: Basic base64(client_id:client_secret)`.
    Basic,
}

/// A registered OAuth app and where its endpoints live (`{oauth_base}/authorize`,
/// `{oauth_base}/token`).
#[derive(Debug, Clone)]
pub struct OAuthApp {
    pub oauth_base: Url,
    pub client_id: String,
    pub client_secret: SecretString,
    pub client_auth: ClientAuth,
    /// Sent with the authorization request when the provider wants one.
    pub scope: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// The provider refused the code or refresh token: the user must connect again.
    #[error("the provider refused the grant (invalid_grant); the user must connect again")]
    InvalidGrant,
    /// Any other refusal (`invalid_client`, a bad redirect URI): the app's configuration.
    #[error("the token endpoint answered {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("{0:?}")]
    Transport(TransportError),
    /// A 2xx answer that is not a token response; the detail never quotes the body.
    #[error("the token response could not be read ({0})")]
    Decode(String),
    #[error("cannot build an OAuth request: {0}")]
    InvalidRequest(String),
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    scope: Option<String>,
}

/// The token calls of one app. Paced per app and retried on 5xx and timeouts: retrying after
/// a lost answer risks nothing more than not retrying would, since a consumed refresh token is
/// dead either way.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    app: OAuthApp,
    http: reqwest::Client,
    limits: Arc<RateLimiterRegistry>,
    retry: RetryPolicy,
}

impl OAuthClient {
    pub fn new(app: OAuthApp, http: reqwest::Client, limits: Arc<RateLimiterRegistry>) -> Self {
        OAuthClient {
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
    ) -> Result<Url, OAuthError> {
        let mut url = self.endpoint("authorize")?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("client_id", &self.app.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("response_type", "code");
            if let Some(scope) = &self.app.scope {
                query.append_pair("scope", scope);
            }
            query.append_pair("state", state);
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
    ) -> Result<TokenSet, OAuthError> {
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
    /// token may be single-use.
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenSet, OAuthError> {
        self.token_call(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ])
        .await
    }

    async fn token_call(&self, grant: &[(&str, &str)]) -> Result<TokenSet, OAuthError> {
        let url = self.endpoint("token")?;
        // Built in a block: the serializer is not `Send` and must not live across an await.
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.extend_pairs(grant);
            if self.app.client_auth == ClientAuth::Body {
                form.append_pair("client_id", &self.app.client_id);
                form.append_pair("client_secret", self.app.client_secret.expose());
            }
            form.finish()
        };
        let basic = match self.app.client_auth {
            ClientAuth::Basic => {
                let pair = format!("{}:{}", self.app.client_id, self.app.client_secret.expose());
                let mut value = http::HeaderValue::from_str(&format!("Basic {}", B64.encode(pair)))
                    .map_err(|_| {
                        OAuthError::InvalidRequest(
                            "the client credentials contain characters a header cannot carry"
                                .into(),
                        )
                    })?;
                value.set_sensitive(true);
                Some(value)
            }
            ClientAuth::Body => None,
        };
        let limiter = self.limits.limiter(fingerprint(
            "oauth_app",
            &format!("{url}\n{}", self.app.client_id),
        ));
        let answer = send(&limiter, RequestClass::Light, &self.retry, || {
            let request = self
                .http
                .post(url.clone())
                .header(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .header(http::header::ACCEPT, "application/json")
                .body(body.clone());
            match &basic {
                Some(value) => request.header(http::header::AUTHORIZATION, value.clone()),
                None => request,
            }
        })
        .await
        .map_err(OAuthError::Transport)?;
        if answer.status.is_success() {
            let tokens: TokenResponse = serde_json::from_slice(&answer.body).map_err(|e| {
                // serde's message can quote a token: keep only where it failed.
                OAuthError::Decode(format!("line {} column {}", e.line(), e.column()))
            })?;
            return Ok(TokenSet {
                access_token: SecretString::new(tokens.access_token),
                refresh_token: tokens.refresh_token.map(SecretString::new),
                expires_in: tokens.expires_in.and_then(|v| {
                    v.as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                }),
                scope: tokens.scope,
            });
        }
        let code: Option<String> = serde_json::from_slice::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|v| v.get("error")?.as_str().map(str::to_owned));
        if code.as_deref() == Some("invalid_grant") {
            return Err(OAuthError::InvalidGrant);
        }
        Err(OAuthError::Refused {
            status: answer.status.as_u16(),
            message: provider_message(&answer.body),
        })
    }

    fn endpoint(&self, name: &str) -> Result<Url, OAuthError> {
        let mut url = self.app.oauth_base.clone();
        url.path_segments_mut()
            .map_err(|_| {
                OAuthError::InvalidRequest("the OAuth base URL cannot take a path".into())
            })?
            .pop_if_empty()
            .push(name);
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::super::rate_limit::Budgets;
    use super::*;

    fn client(client_auth: ClientAuth, scope: Option<&str>) -> OAuthClient {
        OAuthClient::new(
            OAuthApp {
                oauth_base: Url::parse("https://provider.example/oauth2/").unwrap(),
                client_id: "client 1".into(),
                client_secret: SecretString::new("app-secret"),
                client_auth,
                scope: scope.map(str::to_owned),
            },
            reqwest::Client::new(),
            Arc::new(RateLimiterRegistry::new(Budgets(Vec::new()))),
        )
    }

    #[test]
    fn the_authorize_url_carries_the_standard_parameters() {
        let url = client(ClientAuth::Body, Some("public_api"))
            .authorize_url("https://app.example/cb?x=1", "st/ate+=", Some("chal"))
            .unwrap();
        assert_eq!(url.path(), "/oauth2/authorize");
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
        let unscoped = client(ClientAuth::Basic, None)
            .authorize_url("https://app.example/cb", "s", None)
            .unwrap();
        assert!(!unscoped.query().unwrap().contains("scope"));
        assert!(!unscoped.query().unwrap().contains("code_challenge"));
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
        let debug = format!("{tokens:?} {:?}", client(ClientAuth::Basic, None));
        assert!(
            !debug.contains("at_123") && !debug.contains("rt_456") && !debug.contains("app-secret")
        );
    }
}
