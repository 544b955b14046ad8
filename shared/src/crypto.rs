//! Sealing secrets at rest (AES-256-GCM) and types that keep secrets out of logs.

use aes_gcm::aead::{Aead, Generate, KeyInit, Nonce, Payload};
use aes_gcm::{Aes256Gcm, Key};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A secret in memory. `Debug` and `Display` never print it; `expose` is the one way out.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A secret sealed under the sealing key: base64 of `nonce || ciphertext+tag`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sealed(String);

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[sealed]")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the sealing key must be 32 bytes of base64")]
    BadKey,
    #[error("a sealed value could not be opened (wrong key or corrupted data)")]
    Unseal,
}

/// The 32-byte key that seals tokens and webhook secrets at rest.
#[derive(Clone)]
pub struct SealingKey(Key<Aes256Gcm>);

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey([redacted])")
    }
}

const NONCE_LEN: usize = 12;

impl SealingKey {
    pub fn from_base64(encoded: &str) -> Result<Self, CryptoError> {
        let bytes = B64
            .decode(encoded.trim())
            .map_err(|_| CryptoError::BadKey)?;
        if bytes.len() != 32 {
            return Err(CryptoError::BadKey);
        }
        Key::<Aes256Gcm>::try_from(bytes.as_slice())
            .map(Self)
            .map_err(|_| CryptoError::BadKey)
    }

    /// A fresh random key, base64-encoded (for the local backend's generated key file).
    pub fn generate_base64() -> String {
        B64.encode(Key::<Aes256Gcm>::generate())
    }

    /// A key for `purpose` derived from this one (HMAC-SHA256 of the purpose), so one
    /// secret setting serves several uses without one use's key revealing another's.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(self.0.as_slice())
            .expect("HMAC takes keys of any length");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Seals `plaintext` for `context` (what it belongs to: a record and a field). The context
    /// is authenticated, not stored: a sealed value moved to another record or field no
    /// longer opens.
    pub fn seal(&self, plaintext: &SecretString, context: &str) -> Sealed {
        let cipher = Aes256Gcm::new(&self.0);
        let nonce = Nonce::<Aes256Gcm>::generate();
        let payload = Payload {
            msg: plaintext.expose().as_bytes(),
            aad: context.as_bytes(),
        };
        // Encryption with a valid key and a fresh nonce cannot fail for in-memory input.
        let ciphertext = cipher.encrypt(&nonce, payload).unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        Sealed(format!("{BOUND}{}", B64.encode(out)))
    }

    /// Opens a value sealed for `context`. A value sealed before contexts were bound (no
    /// version prefix) opens without one; it is sealed anew, bound, when next written.
    pub fn open(&self, sealed: &Sealed, context: &str) -> Result<SecretString, CryptoError> {
        let (encoded, aad) = match sealed.0.strip_prefix(BOUND) {
            Some(rest) => (rest, context.as_bytes()),
            None => (sealed.0.as_str(), &b""[..]),
        };
        let bytes = B64.decode(encoded).map_err(|_| CryptoError::Unseal)?;
        if bytes.len() <= NONCE_LEN {
            return Err(CryptoError::Unseal);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let plaintext = Aes256Gcm::new(&self.0)
            .decrypt(
                &Nonce::<Aes256Gcm>::try_from(nonce).map_err(|_| CryptoError::Unseal)?,
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| CryptoError::Unseal)?;
        String::from_utf8(plaintext)
            .map(SecretString)
            .map_err(|_| CryptoError::Unseal)
    }
}

/// The prefix of values sealed with their context bound (base64 never contains `:`).
const BOUND: &str = "v2:";

/// Lowercase hex of `bytes` (digests, signatures).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SealingKey {
        SealingKey::from_base64(&SealingKey::generate_base64()).unwrap()
    }

    #[test]
    fn seal_then_open_returns_the_secret_and_hides_it() {
        let key = key();
        let sealed = key.seal(&SecretString::new("tok_live_123"), "con_1:access");
        assert!(!serde_json::to_string(&sealed)
            .unwrap()
            .contains("tok_live_123"));
        assert_eq!(
            key.open(&sealed, "con_1:access").unwrap().expose(),
            "tok_live_123"
        );
        assert_eq!(format!("{sealed:?}"), "[sealed]");
        assert_eq!(
            format!("{:?}", SecretString::new("tok_live_123")),
            "[redacted]"
        );
        assert_eq!(format!("{key:?}"), "SealingKey([redacted])");
    }

    #[test]
    fn another_key_or_tampering_cannot_open() {
        let owner = key();
        let sealed = owner.seal(&SecretString::new("secret"), "ctx");
        assert!(key().open(&sealed, "ctx").is_err());
        let mut raw = B64.decode(sealed.0.strip_prefix(BOUND).unwrap()).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert!(owner
            .open(&Sealed(format!("{BOUND}{}", B64.encode(raw))), "ctx")
            .is_err());
    }

    #[test]
    fn a_sealed_value_moved_to_another_record_or_field_does_not_open() {
        let key = key();
        let sealed = key.seal(&SecretString::new("secret"), "con_a:refresh");
        assert!(key.open(&sealed, "con_b:refresh").is_err());
        assert!(key.open(&sealed, "con_a:access").is_err());
        // Stripping the version to pass it off as an unbound value fails too.
        let unbound = Sealed(sealed.0.trim_start_matches(BOUND).to_owned());
        assert!(key.open(&unbound, "con_a:refresh").is_err());
    }

    #[test]
    fn values_sealed_before_contexts_were_bound_still_open() {
        let key = key();
        let cipher = Aes256Gcm::new(&key.0);
        let nonce = Nonce::<Aes256Gcm>::generate();
        let mut legacy = nonce.to_vec();
        legacy.extend(cipher.encrypt(&nonce, b"old-token".as_ref()).unwrap());
        let legacy = Sealed(B64.encode(legacy));
        assert_eq!(key.open(&legacy, "anything").unwrap().expose(), "old-token");
    }

    #[test]
    fn keys_must_be_32_bytes() {
        assert!(SealingKey::from_base64(&B64.encode([0u8; 16])).is_err());
        assert!(SealingKey::from_base64("not base64!").is_err());
    }
}
