//! Secret settings, loaded once (at start-up locally, on first use in AWS) and kept for the
//! life of the process.

use crate::config::ConfigError;
use crate::connectors::zoom::ZoomSecretToken;
use crate::crypto::{SealingKey, SecretString};
use crate::cursor::CursorSigner;
use crate::webhook::WebhookSecret;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::OnceCell;

/// Names of the secret values, the same as environment variables locally and as keys of the
/// JSON secret in Secrets Manager.
pub const TOKEN_SEALING_KEY: &str = "TOKEN_SEALING_KEY";
pub const FATHOM_CLIENT_SECRET: &str = "FATHOM_CLIENT_SECRET";
pub const FATHOM_WEBHOOK_SECRET: &str = "FATHOM_WEBHOOK_SECRET";
pub const TRANSCRIBE_API_KEY: &str = "TRANSCRIBE_API_KEY";
pub const LLM_API_KEY: &str = "LLM_API_KEY";
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
    /// The chat completions API's key, for task analysis.
    pub llm_api_key: Option<SecretString>,
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
            llm_api_key: get(LLM_API_KEY),
            zoom_client_secret: get(ZOOM_CLIENT_SECRET),
            zoom_webhook_secret_token,
        })
    }
}

/// A load of the secrets from where the backend keeps them (Secrets Manager in AWS).
pub type LoadSecrets =
    Box<dyn Fn() -> Pin<Box<dyn Future<Output = anyhow::Result<Secrets>> + Send>> + Send + Sync>;

/// The process's secrets, loaded on first use and only once, whoever asks first and however
/// many ask at the same time: a function that never needs a secret never loads them. A failed
/// load is not kept, so the next use tries again.
pub struct SharedSecrets {
    cell: OnceCell<Secrets>,
    load: Option<LoadSecrets>,
    loads: AtomicUsize,
}

impl fmt::Debug for SharedSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.cell.initialized() {
            "loaded"
        } else {
            "not loaded"
        };
        write!(f, "SharedSecrets({state}, [redacted])")
    }
}

impl SharedSecrets {
    /// Secrets already at hand (the embedded backend reads them from the environment).
    pub fn ready(secrets: Secrets) -> Self {
        SharedSecrets {
            cell: OnceCell::new_with(Some(secrets)),
            load: None,
            loads: AtomicUsize::new(0),
        }
    }

    /// Secrets that `load` fetches when they are first needed.
    pub fn lazy(load: LoadSecrets) -> Self {
        SharedSecrets {
            cell: OnceCell::new(),
            load: Some(load),
            loads: AtomicUsize::new(0),
        }
    }

    /// The secrets, loading them first if no one has yet.
    pub async fn get(&self) -> anyhow::Result<&Secrets> {
        self.cell
            .get_or_try_init(|| async {
                let load = self
                    .load
                    .as_ref()
                    .ok_or_else(|| anyhow::anyhow!("no secrets are configured"))?;
                self.loads.fetch_add(1, Ordering::Relaxed);
                load().await
            })
            .await
    }

    /// Whether the secrets have been loaded (or were given).
    pub fn is_loaded(&self) -> bool {
        self.cell.initialized()
    }

    /// How many times the secrets were fetched from their store.
    pub fn loads(&self) -> usize {
        self.loads.load(Ordering::Relaxed)
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

    #[tokio::test]
    async fn shared_secrets_load_once_on_first_use_and_retry_a_failed_load() {
        let attempts = std::sync::Arc::new(AtomicUsize::new(0));
        let counted = attempts.clone();
        let shared = SharedSecrets::lazy(Box::new(move || {
            let attempt = counted.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                if attempt == 0 {
                    anyhow::bail!("Secrets Manager is unavailable");
                }
                Ok(Secrets::from_lookup(key(), |_| None)?)
            })
        }));
        assert!(!shared.is_loaded(), "nothing is loaded before it is needed");
        assert_eq!(shared.loads(), 0);
        assert!(shared.get().await.is_err(), "the first load fails");
        let (a, b, c) = tokio::join!(shared.get(), shared.get(), shared.get());
        assert!(a.is_ok() && b.is_ok() && c.is_ok());
        assert!(shared.get().await.is_ok());
        assert_eq!(attempts.load(Ordering::SeqCst), 2, "one failed, one shared");
        assert_eq!(shared.loads(), 2);
        assert!(shared.is_loaded());
        assert!(!format!("{shared:?}").contains("Secrets {"));
    }
}
