//! The JSON secret in Secrets Manager (`SECRETS_ARN`), read once, when a function first needs it. Its keys are
//! the names in `crate::secrets` (`TOKEN_SEALING_KEY`, `FATHOM_CLIENT_SECRET`, ...); values
//! never appear in errors or logs.

use super::sdk_error;
use crate::crypto::SealingKey;
use crate::secrets::{Secrets, TOKEN_SEALING_KEY};
use anyhow::{anyhow, Context, Result};
use serde_json::{Map, Value};

pub async fn load_secrets(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<Secrets> {
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| sdk_error("Secrets Manager GetSecretValue", e))?;
    let json = output
        .secret_string()
        .with_context(|| format!("secret {secret_id} has no string value"))?;
    secrets_from_json(json).with_context(|| format!("secret {secret_id}"))
}

/// Builds the secrets from the secret's JSON object of string values.
pub fn secrets_from_json(json: &str) -> Result<Secrets> {
    // serde's messages can quote the input, so they are not passed on.
    let fields: Map<String, Value> = serde_json::from_str(json)
        .map_err(|_| anyhow!("the secret is not a JSON object of string values"))?;
    let lookup = |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_owned);
    let sealing_key = lookup(TOKEN_SEALING_KEY)
        .ok_or_else(|| anyhow!("the secret has no {TOKEN_SEALING_KEY}"))?;
    let sealing_key = SealingKey::from_base64(&sealing_key).context(TOKEN_SEALING_KEY)?;
    Ok(Secrets::from_lookup(sealing_key, lookup)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretString;

    #[test]
    fn reads_every_known_key() {
        let key = SealingKey::generate_base64();
        let json = serde_json::json!({
            "TOKEN_SEALING_KEY": key,
            "FATHOM_CLIENT_SECRET": "client-secret-1",
            "FATHOM_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "TRANSCRIBE_API_KEY": "",
        });
        let secrets = secrets_from_json(&json.to_string()).unwrap();
        assert_eq!(
            secrets
                .fathom_client_secret
                .as_ref()
                .map(SecretString::expose),
            Some("client-secret-1")
        );
        assert_eq!(
            secrets
                .fathom_webhook_secret
                .as_ref()
                .map(|secret| secret.expose_str()),
            Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        );
        assert!(
            secrets.transcribe_api_key.is_none(),
            "an empty value counts as unset"
        );
        let sealed = secrets.sealing_key.seal(&SecretString::new("t"), "test");
        assert_eq!(
            SealingKey::from_base64(&key)
                .unwrap()
                .open(&sealed, "test")
                .unwrap()
                .expose(),
            "t"
        );
    }

    #[test]
    fn errors_never_quote_the_secret() {
        for json in [
            r#"{"TOKEN_SEALING_KEY": "hunter2-not-a-key"}"#,
            r#"{"FATHOM_CLIENT_SECRET": "hunter2-not-a-key"}"#,
            r#"["hunter2-not-a-key"]"#,
            r#"{"TOKEN_SEALING_KEY": "hunter2-not-a-key""#,
        ] {
            let err = secrets_from_json(json).unwrap_err();
            let shown = format!("{err:#} {err:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
        }
    }
}
