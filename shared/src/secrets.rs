//! Secret settings, loaded once at start-up and kept for the life of the process.

use crate::crypto::{SealingKey, SecretString};
use crate::cursor::CursorSigner;
use std::fmt;

/// Names of the secret values, the same as environment variables locally and as keys of the
/// JSON secret in Secrets Manager.
pub const TOKEN_SEALING_KEY: &str = "TOKEN_SEALING_KEY";
pub const FATHOM_CLIENT_SECRET: &str = "FATHOM_CLIENT_SECRET";
pub const FATHOM_WEBHOOK_SECRET: &str = "FATHOM_WEBHOOK_SECRET";
pub const TRANSCRIBE_API_KEY: &str = "TRANSCRIBE_API_KEY";

#[derive(Clone)]
pub struct Secrets {
    pub sealing_key: SealingKey,
    /// Signs the page cursors the API hands out (a key derived from the sealing key).
    pub cursors: CursorSigner,
    pub fathom_client_secret: Option<SecretString>,
    /// The OAuth app's webhook secret (`whsec_...`), for app-level deliveries.
    pub fathom_webhook_secret: Option<SecretString>,
    pub transcribe_api_key: Option<SecretString>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secrets([redacted])")
    }
}

impl Secrets {
    /// Builds the secrets from a lookup by name (environment or a JSON secret's fields);
    /// the sealing key comes in separately because its source differs per backend.
    pub fn from_lookup(sealing_key: SealingKey, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .map(SecretString::new)
        };
        Secrets {
            cursors: CursorSigner::new(&sealing_key),
            sealing_key,
            fathom_client_secret: get(FATHOM_CLIENT_SECRET),
            fathom_webhook_secret: get(FATHOM_WEBHOOK_SECRET),
            transcribe_api_key: get(TRANSCRIBE_API_KEY),
        }
    }
}
