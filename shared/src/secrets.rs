//! Secret settings, loaded once at start-up and kept for the life of the process.

use crate::config::ConfigError;
use crate::connectors::zoom::ZoomSecretToken;
use crate::crypto::{SealingKey, SecretString};
use crate::cursor::CursorSigner;
use crate::webhook::WebhookSecret;
use std::fmt;

/// Names of the secret values, the same as environment variables locally and as keys of the
/// JSON secret in Secrets Manager.
pub const TOKEN_SEALING_KEY: &str = "TOKEN_SEALING_KEY";
pub const FATHOM_CLIENT_SECRET: &str = "FATHOM_CLIENT_SECRET";
pub const FATHOM_WEBHOOK_SECRET: &str = "FATHOM_WEBHOOK_SECRET";
pub const TRANSCRIBE_API_KEY: &str = "TRANSCRIBE_API_KEY";
pub const ZOOM_CLIENT_SECRET: &str = "ZOOM_CLIENT_SECRET";
pub const ZOOM_WEBHOOK_SECRET_TOKEN: &str = "ZOOM_WEBHOOK_SECRET_TOKEN";

#[derive(Clone)]
pub struct Secrets {
    pub sealing_key: SealingKey,
    /// Signs the page cursors the API hands out (a key derived from the sealing key).
    pub cursors: CursorSigner,
    pub fathom_client_secret: Option<SecretString>,
    /// The OAuth app's webhook secret (`whsec_...`), for app-level deliveries.
    pub fathom_webhook_secret: Option<WebhookSecret>,
    pub transcribe_api_key: Option<SecretString>,
    pub zoom_client_secret: Option<SecretString>,
    /// The Zoom app's secret token, which signs its event notifications.
    pub zoom_webhook_secret_token: Option<ZoomSecretToken>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secrets([redacted])")
    }
}

impl Secrets {
    /// Builds the secrets from a lookup by name (environment or a JSON secret's fields);
    /// the sealing key comes in separately because its source differs per backend. A value
    /// that cannot be what it names stops start-up with a message naming it.
    pub fn from_lookup(
        sealing_key: SealingKey,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .map(SecretString::new)
        };
        let fathom_webhook_secret = get(FATHOM_WEBHOOK_SECRET)
            .map(|raw| {
                WebhookSecret::parse(raw.expose()).map_err(|_| ConfigError {
                    variable: FATHOM_WEBHOOK_SECRET,
                    problem: "is not a webhook secret: expected `whsec_` followed by base64".into(),
                })
            })
            .transpose()?;
        let zoom_webhook_secret_token = get(ZOOM_WEBHOOK_SECRET_TOKEN)
            .map(|raw| {
                ZoomSecretToken::new(raw.expose()).map_err(|_| ConfigError {
                    variable: ZOOM_WEBHOOK_SECRET_TOKEN,
                    problem: "is not a Zoom secret token".into(),
                })
            })
            .transpose()?;
        Ok(Secrets {
            cursors: CursorSigner::new(&sealing_key),
            sealing_key,
            fathom_client_secret: get(FATHOM_CLIENT_SECRET),
            fathom_webhook_secret,
            transcribe_api_key: get(TRANSCRIBE_API_KEY),
            zoom_client_secret: get(ZOOM_CLIENT_SECRET),
            zoom_webhook_secret_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SealingKey {
        SealingKey::from_base64(&SealingKey::generate_base64()).unwrap()
    }

    #[test]
    fn a_bad_webhook_secret_is_refused_by_name() {
        let err = Secrets::from_lookup(key(), |name| {
            (name == FATHOM_WEBHOOK_SECRET).then(|| "not base64!".to_owned())
        })
        .unwrap_err();
        assert_eq!(err.variable, FATHOM_WEBHOOK_SECRET);
        assert!(
            !err.to_string().contains("not base64!"),
            "the value stays out"
        );
        let good = Secrets::from_lookup(key(), |name| {
            (name == FATHOM_WEBHOOK_SECRET)
                .then(|| "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned())
        })
        .unwrap();
        assert!(good.fathom_webhook_secret.is_some());
    }
}
