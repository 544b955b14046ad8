//! How a Fathom request proves who it is for: a personal API key (`X-Api-Key`) or an OAuth
//! access token (`Authorization: Bearer`).

use super::super::rate_limit::{fingerprint, Fingerprint};
use super::super::{sensitive, Credential};
use super::error::FathomError;
use http::header::{HeaderName, HeaderValue};

/// A Fathom credential: the generic one, sent the way Fathom wants it.
pub type FathomCredential = Credential;

/// Key of a credential's rate limiter: Fathom paces per API key and per token.
pub fn limiter_key(credential: &Credential) -> Fingerprint {
    match credential {
        Credential::ApiKey(key) => fingerprint("api_key", key.expose()),
        Credential::Bearer(token) => fingerprint("bearer", token.expose()),
    }
}

/// The header that carries the credential, marked sensitive so HTTP logging skips it.
pub(crate) fn header(credential: &Credential) -> Result<(HeaderName, HeaderValue), FathomError> {
    let header = match credential {
        Credential::ApiKey(key) => sensitive(HeaderName::from_static("x-api-key"), key.expose()),
        Credential::Bearer(token) => Credential::bearer_header(token),
    };
    header.map_err(|e| FathomError::InvalidRequest(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretString;
    use http::header::AUTHORIZATION;

    #[test]
    fn debug_and_headers_keep_the_secret_hidden() {
        let key = Credential::ApiKey(SecretString::new("key_live_abc"));
        assert!(!format!("{key:?}").contains("key_live_abc"));
        let (name, value) = header(&key).unwrap();
        assert_eq!(name, "x-api-key");
        assert!(value.is_sensitive());
        let (name, value) = header(&Credential::Bearer(SecretString::new("tok"))).unwrap();
        assert_eq!(name, AUTHORIZATION);
        assert_eq!(value, "Bearer tok");
    }

    #[test]
    fn a_key_and_a_token_with_equal_text_are_different_credentials() {
        let key = Credential::ApiKey(SecretString::new("same"));
        let token = Credential::Bearer(SecretString::new("same"));
        assert_ne!(limiter_key(&key), limiter_key(&token));
        assert!(header(&Credential::ApiKey(SecretString::new("bad\nvalue"))).is_err());
    }
}
