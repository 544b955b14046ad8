//! Standard Webhooks verification (HMAC-SHA256, `v1` signatures).
//!
//! A delivery carries `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`
//! (space-separated `v1,<base64>` entries). The signed content is
//! `{id}.{timestamp}.{raw body bytes}`; the key is the base64 after the `whsec_` prefix.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD as B64};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use rand::Rng;
use sha2::Sha256;
use std::fmt;
use subtle::ConstantTimeEq;

use crate::crypto::SecretString;

type HmacSha256 = Hmac<Sha256>;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// How far a delivery's timestamp may be from the receiver's clock, either way.
pub const TOLERANCE_SECS: i64 = 300;

const SECRET_PREFIX: &str = "whsec_";
const SIGNATURE_VERSION: &str = "v1";
/// Standard Webhooks recommends 24 to 64 bytes of key; 32 is what this side generates.
const GENERATED_KEY_LEN: usize = 32;

/// Secrets are pasted by people and copied from provider responses: padding is optional.
const SECRET_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "the `{0}` header is missing, empty or not ASCII text; a Standard Webhooks delivery \
         needs webhook-id, webhook-timestamp and webhook-signature"
    )]
    MissingHeader(&'static str),
    #[error("the webhook-timestamp header is not a whole number of Unix seconds")]
    InvalidTimestamp,
    #[error(
        "the webhook-timestamp is more than 300 s in the past: a replayed delivery, \
         or this server's clock is ahead"
    )]
    Stale,
    #[error(
        "the webhook-timestamp is more than 300 s in the future: the sender's clock is ahead, \
         or this server's clock is behind"
    )]
    Future,
    #[error(
        "no v1 entry of webhook-signature matches: check that the endpoint's webhook secret is \
         the one the sender uses and that the raw body is verified unmodified"
    )]
    InvalidSignature,
    #[error("the webhook secret is not valid: expected `whsec_` followed by non-empty base64")]
    BadSecret,
}

/// The key a sender signs deliveries with. `Debug` never prints it.
#[derive(Clone)]
pub struct WebhookSecret {
    mac: HmacSha256,
    /// Canonical `whsec_<base64>` form, for sealing and storing.
    text: SecretString,
}

impl WebhookSecret {
    /// Accepts `whsec_<base64>` or the bare base64.
    pub fn parse(secret: &str) -> Result<Self, VerifyError> {
        let encoded = secret.trim();
        let encoded = encoded.strip_prefix(SECRET_PREFIX).unwrap_or(encoded);
        let key = SECRET_B64
            .decode(encoded)
            .map_err(|_| VerifyError::BadSecret)?;
        Self::from_key(&key)
    }

    /// A fresh random secret, for endpoints whose sender lets the receiver choose it.
    pub fn generate() -> Self {
        let mut key = [0u8; GENERATED_KEY_LEN];
        rand::rng().fill_bytes(&mut key);
        Self::from_key(&key).expect("a non-empty key is a valid HMAC-SHA256 key")
    }

    /// The `whsec_<base64>` text, to be sealed before it is stored.
    pub fn expose_str(&self) -> &str {
        self.text.expose()
    }

    fn from_key(key: &[u8]) -> Result<Self, VerifyError> {
        if key.is_empty() {
            return Err(VerifyError::BadSecret);
        }
        let mac = HmacSha256::new_from_slice(key).map_err(|_| VerifyError::BadSecret)?;
        let text = SecretString::new(format!("{SECRET_PREFIX}{}", B64.encode(key)));
        Ok(Self { mac, text })
    }

    fn mac(&self, webhook_id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(webhook_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// What a verified delivery's headers say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedDelivery {
    /// The same for every retry of one event: the key for deduplication.
    pub webhook_id: String,
    pub timestamp: DateTime<Utc>,
}

/// The `webhook-signature` value for a delivery: `v1,<base64>`.
pub fn sign(secret: &WebhookSecret, webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "{SIGNATURE_VERSION},{}",
        B64.encode(secret.mac(webhook_id, timestamp, body))
    )
}

/// Checks a delivery's headers against its raw body and the receiver's clock `now`.
pub fn verify(
    secret: &WebhookSecret,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<VerifiedDelivery, VerifyError> {
    let webhook_id = text_header(headers, ID_HEADER)?;
    let timestamp_text = text_header(headers, TIMESTAMP_HEADER)?;
    // A sender may split the list over repeated headers; every entry counts.
    let signatures: Vec<&str> = headers
        .get_all(SIGNATURE_HEADER)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter(|value| !value.trim().is_empty())
        .collect();
    if signatures.is_empty() {
        return Err(VerifyError::MissingHeader(SIGNATURE_HEADER));
    }

    let timestamp = parse_unix_seconds(timestamp_text)?;
    let skew = timestamp.saturating_sub(now.timestamp());
    if skew < -TOLERANCE_SECS {
        return Err(VerifyError::Stale);
    }
    if skew > TOLERANCE_SECS {
        return Err(VerifyError::Future);
    }

    let expected = secret.mac(webhook_id, timestamp, body);
    // Entries are `v1,<base64>` separated by spaces, but repeated headers arrive joined with
    // commas (API Gateway, proxies): read the value as a flat run of tokens, where each
    // version token is followed by its signature. Base64 never reads as a version.
    let tokens: Vec<&str> = signatures
        .iter()
        .flat_map(|value| value.split(|c: char| c == ',' || c.is_whitespace()))
        .filter(|token| !token.is_empty())
        .collect();
    let matches = tokens
        .windows(2)
        .filter(|pair| pair[0] == SIGNATURE_VERSION)
        .filter_map(|pair| B64.decode(pair[1]).ok())
        // Length first: an empty or truncated signature must never compare as a prefix.
        .any(|candidate| {
            candidate.len() == expected.len() && bool::from(candidate.ct_eq(&expected))
        });
    if !matches {
        return Err(VerifyError::InvalidSignature);
    }

    Ok(VerifiedDelivery {
        webhook_id: webhook_id.to_owned(),
        timestamp: DateTime::from_timestamp(timestamp, 0).ok_or(VerifyError::InvalidTimestamp)?,
    })
}

fn text_header<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, VerifyError> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty())
        .ok_or(VerifyError::MissingHeader(name))
}

/// Digits only: the signed content uses the number's canonical form, so `+5` or `5.0` would
/// verify against a different string than the sender signed.
fn parse_unix_seconds(text: &str) -> Result<i64, VerifyError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::InvalidTimestamp);
    }
    text.parse().map_err(|_| VerifyError::InvalidTimestamp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue};
    use proptest::prelude::*;
    use serde::Deserialize;

    const VECTORS: &str = include_str!("../tests/fixtures/standard-webhooks-vectors.json");

    #[derive(Deserialize)]
    struct Vectors {
        valid: Vec<Vector>,
        invalid: Vec<Vector>,
    }

    #[derive(Deserialize)]
    struct Vector {
        #[serde(default)]
        note: String,
        secret: String,
        id: String,
        timestamp: i64,
        payload: String,
        signature: String,
    }

    fn vectors() -> Vectors {
        serde_json::from_str(VECTORS).unwrap()
    }

    fn at(unix_seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(unix_seconds, 0).unwrap()
    }

    fn headers(id: &str, timestamp: &str, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ID_HEADER, HeaderValue::from_str(id).unwrap());
        headers.insert(TIMESTAMP_HEADER, HeaderValue::from_str(timestamp).unwrap());
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(signature).unwrap());
        headers
    }

    fn check(vector: &Vector) -> Result<VerifiedDelivery, VerifyError> {
        let secret = WebhookSecret::parse(&vector.secret).unwrap();
        let headers = headers(&vector.id, &vector.timestamp.to_string(), &vector.signature);
        verify(
            &secret,
            &headers,
            vector.payload.as_bytes(),
            at(vector.timestamp),
        )
    }

    fn secret() -> WebhookSecret {
        WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()
    }

    const NOW: i64 = 1_700_000_000;
    const ID: &str = "msg_2Kq8ZkQy";
    const BODY: &[u8] = br#"{"recording_id":42}"#;

    /// A delivery of `BODY` signed at `NOW + skew`, checked at `NOW`.
    fn verify_with_skew(skew: i64) -> Result<VerifiedDelivery, VerifyError> {
        let secret = secret();
        let timestamp = NOW + skew;
        let signature = sign(&secret, ID, timestamp, BODY);
        verify(
            &secret,
            &headers(ID, &timestamp.to_string(), &signature),
            BODY,
            at(NOW),
        )
    }

    #[test]
    fn published_valid_vectors_verify_and_report_id_and_time() {
        for vector in vectors().valid {
            let delivery = check(&vector).unwrap_or_else(|e| panic!("{}: {e}", vector.note));
            assert_eq!(delivery.webhook_id, vector.id);
            assert_eq!(delivery.timestamp, at(vector.timestamp));
        }
    }

    #[test]
    fn published_invalid_vectors_are_rejected_as_bad_signatures() {
        for vector in vectors().invalid {
            assert_eq!(
                check(&vector),
                Err(VerifyError::InvalidSignature),
                "{}",
                vector.note
            );
        }
    }

    #[test]
    fn sign_reproduces_the_published_signature() {
        let vector = &vectors().valid[0];
        let secret = WebhookSecret::parse(&vector.secret).unwrap();
        let signature = sign(
            &secret,
            &vector.id,
            vector.timestamp,
            vector.payload.as_bytes(),
        );
        assert_eq!(signature, vector.signature);
    }

    #[test]
    fn mixed_case_header_names_are_found() {
        let secret = secret();
        let signature = sign(&secret, ID, NOW, BODY);
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("Webhook-Id", ID.to_owned()),
            ("WEBHOOK-TIMESTAMP", NOW.to_string()),
            ("Webhook-Signature", signature),
        ] {
            let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
            headers.insert(name, HeaderValue::from_str(&value).unwrap());
        }
        assert_eq!(
            verify(&secret, &headers, BODY, at(NOW)).unwrap().webhook_id,
            ID
        );
    }

    #[test]
    fn each_missing_header_is_named() {
        let secret = secret();
        let signature = sign(&secret, ID, NOW, BODY);
        for name in [ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER] {
            let mut without = headers(ID, &NOW.to_string(), &signature);
            without.remove(name);
            assert_eq!(
                verify(&secret, &without, BODY, at(NOW)),
                Err(VerifyError::MissingHeader(name))
            );
            let mut empty = headers(ID, &NOW.to_string(), &signature);
            empty.insert(name, HeaderValue::from_static(""));
            assert_eq!(
                verify(&secret, &empty, BODY, at(NOW)),
                Err(VerifyError::MissingHeader(name))
            );
        }
    }

    #[test]
    fn a_later_matching_signature_is_accepted() {
        let secret = secret();
        let good = sign(&secret, ID, NOW, BODY);
        let other = sign(&WebhookSecret::generate(), ID, NOW, BODY);
        let encoded = good.trim_start_matches("v1,");
        let list = format!("v2,{encoded} {other} v1, v1,{} {good}", &encoded[..10]);
        let headers = headers(ID, &NOW.to_string(), &list);
        assert!(verify(&secret, &headers, BODY, at(NOW)).is_ok());
    }

    #[test]
    fn signatures_split_over_repeated_headers_are_all_tried() {
        let secret = secret();
        let mut headers = headers(ID, &NOW.to_string(), "v1,bm90IHRoZSBzaWduYXR1cmU=");
        let good = sign(&secret, ID, NOW, BODY);
        headers.append(SIGNATURE_HEADER, HeaderValue::from_str(&good).unwrap());
        assert!(verify(&secret, &headers, BODY, at(NOW)).is_ok());
    }

    #[test]
    fn repeated_headers_joined_with_a_comma_still_verify() {
        let secret = secret();
        let good = sign(&secret, ID, NOW, BODY);
        let joined = format!("v1,bm90IHRoZSBzaWduYXR1cmU=,{good}");
        let joined_headers = headers(ID, &NOW.to_string(), &joined);
        assert!(verify(&secret, &joined_headers, BODY, at(NOW)).is_ok());
        // Another version's entry is never taken for a v1 one, however it is joined.
        let encoded = good.trim_start_matches("v1,");
        for list in [
            format!("v2,{encoded}"),
            format!("v1a,{encoded}, v2,{encoded}"),
        ] {
            let headers = headers(ID, &NOW.to_string(), &list);
            assert_eq!(
                verify(&secret, &headers, BODY, at(NOW)),
                Err(VerifyError::InvalidSignature),
                "{list}"
            );
        }
    }

    #[test]
    fn timestamps_that_are_not_whole_unix_seconds_are_invalid() {
        let secret = secret();
        let signature = sign(&secret, ID, NOW, BODY);
        for timestamp in [
            "soon",
            "1700000000.0",
            "+1700000000",
            "-5",
            " 1700000000",
            "1e9",
        ] {
            let headers = headers(ID, timestamp, &signature);
            assert_eq!(
                verify(&secret, &headers, BODY, at(NOW)),
                Err(VerifyError::InvalidTimestamp),
                "{timestamp}"
            );
        }
    }

    #[test]
    fn the_tolerance_is_300_seconds_either_way() {
        assert!(verify_with_skew(-300).is_ok());
        assert!(verify_with_skew(300).is_ok());
        assert_eq!(verify_with_skew(-301), Err(VerifyError::Stale));
        assert_eq!(verify_with_skew(301), Err(VerifyError::Future));
    }

    #[test]
    fn a_far_future_timestamp_is_rejected_without_overflow() {
        let secret = secret();
        let signature = sign(&secret, ID, i64::MAX, BODY);
        let far = headers(ID, &i64::MAX.to_string(), &signature);
        assert_eq!(
            verify(&secret, &far, BODY, at(NOW)),
            Err(VerifyError::Future)
        );
        let overflowing = headers(ID, "99999999999999999999999", &signature);
        assert_eq!(
            verify(&secret, &overflowing, BODY, at(NOW)),
            Err(VerifyError::InvalidTimestamp)
        );
    }

    #[test]
    fn secrets_parse_with_or_without_prefix_and_padding() {
        let prefixed = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let bare = WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n").unwrap();
        assert_eq!(sign(&prefixed, ID, NOW, BODY), sign(&bare, ID, NOW, BODY));
        assert_eq!(bare.expose_str(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");

        let unpadded = WebhookSecret::parse("whsec_c2VjcmV0LWtleQ").unwrap();
        let padded = WebhookSecret::parse("whsec_c2VjcmV0LWtleQ==").unwrap();
        assert_eq!(sign(&unpadded, ID, NOW, BODY), sign(&padded, ID, NOW, BODY));
    }

    #[test]
    fn malformed_secrets_are_bad_secrets() {
        for bad in ["", "whsec_", "whsec_not base64!", "whsec_***", "   "] {
            assert_eq!(
                WebhookSecret::parse(bad).err(),
                Some(VerifyError::BadSecret),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn generated_secrets_are_fresh_and_round_trip() {
        let first = WebhookSecret::generate();
        let second = WebhookSecret::generate();
        assert!(first.expose_str().starts_with("whsec_"));
        assert_ne!(first.expose_str(), second.expose_str());
        let reparsed = WebhookSecret::parse(first.expose_str()).unwrap();
        assert_eq!(sign(&first, ID, NOW, BODY), sign(&reparsed, ID, NOW, BODY));
    }

    #[test]
    fn neither_debug_nor_errors_reveal_the_secret_or_expected_signature() {
        let secret = secret();
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert!(!format!("{:?}", Some(&secret)).contains("MfKQ9r8G"));

        let expected = sign(&secret, ID, NOW, BODY);
        let tampered = verify(
            &secret,
            &headers(ID, &NOW.to_string(), &expected),
            b"{}",
            at(NOW),
        );
        let error = tampered.unwrap_err();
        for shown in [error.to_string(), format!("{error:?}")] {
            assert!(
                !shown.contains(expected.trim_start_matches("v1,")),
                "{shown}"
            );
            assert!(!shown.contains("MfKQ9r8G"), "{shown}");
        }
    }

    /// `text` with the byte at `index` (modulo its length) replaced by a different visible
    /// ASCII character, so the result is still a valid header value.
    fn replace_char(text: &str, index: usize, replacement: u8) -> String {
        let mut bytes = text.as_bytes().to_vec();
        let index = index % bytes.len();
        bytes[index] = if bytes[index] == replacement {
            if replacement == b'~' {
                b'!'
            } else {
                replacement + 1
            }
        } else {
            replacement
        };
        String::from_utf8(bytes).unwrap()
    }

    fn key_strategy() -> impl Strategy<Value = WebhookSecret> {
        proptest::collection::vec(any::<u8>(), 24..=64)
            .prop_map(|key| WebhookSecret::parse(&B64.encode(key)).unwrap())
    }

    const ID_PATTERN: &str = "msg_[A-Za-z0-9]{1,32}";
    const TIMESTAMP_RANGE: std::ops::Range<i64> = 1_000_000_000..4_000_000_000;

    proptest! {
        #[test]
        fn signed_deliveries_verify(
            secret in key_strategy(),
            id in ID_PATTERN,
            timestamp in TIMESTAMP_RANGE,
            body in proptest::collection::vec(any::<u8>(), 0..2048),
        ) {
            let headers = headers(&id, &timestamp.to_string(), &sign(&secret, &id, timestamp, &body));
            let delivery = verify(&secret, &headers, &body, at(timestamp)).unwrap();
            prop_assert_eq!(delivery.webhook_id, id);
            prop_assert_eq!(delivery.timestamp, at(timestamp));
        }

        #[test]
        fn a_flipped_body_byte_is_rejected(
            secret in key_strategy(),
            body in proptest::collection::vec(any::<u8>(), 1..2048),
            index in any::<usize>(),
            mask in 1u8..=255,
        ) {
            let headers = headers(ID, &NOW.to_string(), &sign(&secret, ID, NOW, &body));
            let mut tampered = body.clone();
            let index = index % tampered.len();
            tampered[index] ^= mask;
            prop_assert_eq!(
                verify(&secret, &headers, &tampered, at(NOW)),
                Err(VerifyError::InvalidSignature)
            );
        }

        #[test]
        fn a_changed_id_byte_is_rejected(
            secret in key_strategy(),
            id in ID_PATTERN,
            index in any::<usize>(),
            replacement in 0x21u8..=0x7e,
        ) {
            let signature = sign(&secret, &id, NOW, BODY);
            let headers = headers(&replace_char(&id, index, replacement), &NOW.to_string(), &signature);
            prop_assert_eq!(
                verify(&secret, &headers, BODY, at(NOW)),
                Err(VerifyError::InvalidSignature)
            );
        }

        #[test]
        fn a_changed_timestamp_byte_is_rejected(
            secret in key_strategy(),
            timestamp in TIMESTAMP_RANGE,
            index in any::<usize>(),
            replacement in 0x21u8..=0x7e,
        ) {
            let signature = sign(&secret, ID, timestamp, BODY);
            let changed = replace_char(&timestamp.to_string(), index, replacement);
            let headers = headers(ID, &changed, &signature);
            let result = verify(&secret, &headers, BODY, at(timestamp));
            prop_assert!(
                matches!(
                    result,
                    Err(VerifyError::InvalidTimestamp
                        | VerifyError::Stale
                        | VerifyError::Future
                        | VerifyError::InvalidSignature)
                ),
                "{} accepted or misreported: {:?}", changed, result
            );
        }

        #[test]
        fn a_changed_signature_byte_is_rejected(
            secret in key_strategy(),
            body in proptest::collection::vec(any::<u8>(), 0..256),
            index in any::<usize>(),
            replacement in 0x21u8..=0x7e,
        ) {
            let signature = replace_char(&sign(&secret, ID, NOW, &body), index, replacement);
            let headers = headers(ID, &NOW.to_string(), &signature);
            prop_assert_eq!(
                verify(&secret, &headers, &body, at(NOW)),
                Err(VerifyError::InvalidSignature)
            );
        }

        #[test]
        fn any_skew_within_300_seconds_is_accepted(skew in -TOLERANCE_SECS..=TOLERANCE_SECS) {
            prop_assert!(verify_with_skew(skew).is_ok());
        }

        #[test]
        fn any_skew_beyond_300_seconds_is_rejected(distance in (TOLERANCE_SECS + 1)..=10_000_000) {
            prop_assert_eq!(verify_with_skew(-distance), Err(VerifyError::Stale));
            prop_assert_eq!(verify_with_skew(distance), Err(VerifyError::Future));
        }
    }
}
