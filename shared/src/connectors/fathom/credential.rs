//! How a request proves who it is for: a personal API key or an OAuth access token.

use super::error::FathomError;
use super::rate_limit::{fingerprint, Fingerprint};
use crate::crypto::SecretString;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION};

/// `Debug` prints only the kind: the secret stays in `SecretString`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FathomCredential {
    /// Sent as `X-Api-Key`.
    ApiKey(SecretString),
    /// An OAuth access token, sent as `Authorization: Bearer`.
    Bearer(SecretString),
}

impl FathomCredential {
    /// OAuth apps may not ask `/meetings` for transcripts or summaries.
    pub fn is_oauth(&self) -> bool {
        matches!(self, FathomCredential::Bearer(_))
    }

    /// Key of this credential's rate limiter.
    pub fn fingerprint(&self) -> Fingerprint {
        match self {
            FathomCredential::ApiKey(key) => fingerprint("api_key", key.expose()),
            FathomCredential::Bearer(token) => fingerprint("bearer", token.expose()),
        }
    }

    /// The header that carries the credential, marked sensitive so HTTP logging skips it.
    pub(crate) fn header(&self) -> Result<(HeaderName, HeaderValue), FathomError> {
        let (name, value) = match self {
            FathomCredential::ApiKey(key) => (
                HeaderName::from_static("x-api-key"),
                key.expose().to_owned(),
            ),
            FathomCredential::Bearer(token) => {
                (AUTHORIZATION, format!("Bearer {}", token.expose()))
            }
        };
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            FathomError::InvalidRequest(
                "the credential contains characters a header cannot carry".into(),
            )
        })?;
        value.set_sensitive(true);
        Ok((name, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_headers_keep_the_secret_hidden() {
        let key = FathomCredential::ApiKey(SecretString::new("key_live_abc"));
        assert!(!format!("{key:?}").contains("key_live_abc"));
        let (name, value) = key.header().unwrap();
        assert_eq!(name, "x-api-key");
        assert!(value.is_sensitive());
        let (name, value) = FathomCredential::Bearer(SecretString::new("tok"))
            .header()
            .unwrap();
        assert_eq!(name, AUTHORIZATION);
        assert_eq!(value, "Bearer tok");
    }

    #[test]
    fn a_key_and_a_token_with_equal_text_are_different_credentials() {
        let key = FathomCredential::ApiKey(SecretString::new("same"));
        let token = FathomCredential::Bearer(SecretString::new("same"));
        assert_ne!(key.fingerprint(), token.fingerprint());
        assert!(FathomCredential::ApiKey(SecretString::new("bad\nvalue"))
            .header()
            .is_err());
    }
}
