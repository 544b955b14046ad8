//! Zoom event notifications: signature check, the URL validation answer, the event envelope
//! and a delivery id for deduplication.
//!
//! A delivery carries `x-zm-request-timestamp` (Unix seconds) and
//! `x-zm-signature: v0=<hex>`, the HMAC-SHA256 under the app's secret token of
//! `v0:{timestamp}:{raw body}`.

use super::error::ZoomWireError;
use super::wire::{lenient_time, optional_secret, secret_safe, ZoomMeeting};
use crate::crypto::hex;
use crate::crypto::SecretString;
use crate::domain::hex_digest;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;
use std::fmt;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

pub const TIMESTAMP_HEADER: &str = "x-zm-request-timestamp";
pub const SIGNATURE_HEADER: &str = "x-zm-signature";

/// How far a delivery's timestamp may be from the receiver's clock, either way.
pub const TOLERANCE_SECS: i64 = 300;

const SIGNATURE_PREFIX: &str = "v0=";
const MAC_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ZoomVerifyError {
    #[error(
        "the `{0}` header is missing, empty or not ASCII text; a Zoom delivery needs \
         x-zm-request-timestamp and x-zm-signature"
    )]
    MissingHeader(&'static str),
    #[error("the x-zm-request-timestamp header is not a whole number of Unix seconds")]
    InvalidTimestamp,
    #[error(
        "the x-zm-request-timestamp is more than 300 s in the past: a replayed delivery, \
         or this server's clock is ahead"
    )]
    Stale,
    #[error(
        "the x-zm-request-timestamp is more than 300 s in the future: Zoom's clock is ahead, \
         or this server's clock is behind"
    )]
    Future,
    #[error(
        "the x-zm-signature does not match: check that the secret token is the Zoom app's \
         and that the raw body is verified unmodified"
    )]
    InvalidSignature,
    #[error("the Zoom secret token is empty")]
    BadSecret,
}

/// The app's webhook secret token. `Debug` never prints it.
#[derive(Clone)]
pub struct ZoomSecretToken {
    mac: HmacSha256,
}

impl ZoomSecretToken {
    /// The token as Zoom's app settings show it; surrounding whitespace from pasting is
    /// dropped.
    pub fn new(token: &str) -> Result<Self, ZoomVerifyError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(ZoomVerifyError::BadSecret);
        }
        let mac =
            HmacSha256::new_from_slice(token.as_bytes()).map_err(|_| ZoomVerifyError::BadSecret)?;
        Ok(Self { mac })
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; MAC_LEN] {
        let mut mac = self.mac.clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for ZoomSecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The `x-zm-signature` value Zoom sends for `body` at `timestamp`.
pub fn sign(secret: &ZoomSecretToken, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    let mac = secret.mac(&[b"v0:", timestamp.as_bytes(), b":", body]);
    format!("{SIGNATURE_PREFIX}{}", hex(&mac))
}

/// Checks a delivery's headers against its raw body and the receiver's clock `now`.
pub fn verify(
    secret: &ZoomSecretToken,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), ZoomVerifyError> {
    let timestamp_text = text_header(headers, TIMESTAMP_HEADER)?;
    let signature = text_header(headers, SIGNATURE_HEADER)?;

    let timestamp = parse_unix_seconds(timestamp_text)?;
    let skew = timestamp.saturating_sub(now.timestamp());
    if skew < -TOLERANCE_SECS {
        return Err(ZoomVerifyError::Stale);
    }
    if skew > TOLERANCE_SECS {
        return Err(ZoomVerifyError::Future);
    }

    let candidate = signature
        .trim()
        .strip_prefix(SIGNATURE_PREFIX)
        .and_then(decode_hex)
        .ok_or(ZoomVerifyError::InvalidSignature)?;
    // The signed text is the header's own digits, exactly as Zoom wrote them.
    let expected = secret.mac(&[b"v0:", timestamp_text.as_bytes(), b":", body]);
    // Length first: a truncated signature must never compare as a prefix.
    if candidate.len() != expected.len() || !bool::from(candidate.ct_eq(&expected)) {
        return Err(ZoomVerifyError::InvalidSignature);
    }
    Ok(())
}

/// The answer to `endpoint.url_validation`, to send with status 200.
pub fn url_validation_response(secret: &ZoomSecretToken, plain_token: &str) -> Value {
    serde_json::json!({
        "plainToken": plain_token,
        "encryptedToken": hex(&secret.mac(&[plain_token.as_bytes()])),
    })
}

/// Which recording event a `RecordingCompleted` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingEventKind {
    /// `recording.completed`: the media files are ready.
    Completed,
    /// `recording.transcript_completed`: the WebVTT transcript is ready.
    TranscriptCompleted,
}

impl RecordingEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingEventKind::Completed => "recording.completed",
            RecordingEventKind::TranscriptCompleted => "recording.transcript_completed",
        }
    }
}

/// What a verified delivery announces.
#[derive(Debug, Clone, PartialEq)]
pub enum ZoomEvent {
    /// `endpoint.url_validation`: answer with `url_validation_response`.
    UrlValidation { plain_token: String },
    RecordingCompleted {
        kind: RecordingEventKind,
        account_id: String,
        meeting: ZoomMeeting,
        /// Lets the files be downloaded without the user's OAuth token for about 24 h;
        /// late deliveries carry an expired one.
        download_token: Option<SecretString>,
    },
    /// The user removed the app: disconnect and wipe their credentials.
    AppDeauthorized {
        account_id: String,
        user_id: String,
        client_id: Option<String>,
        deauthorization_time: Option<DateTime<Utc>>,
    },
    /// Any other event, named as Zoom sent it.
    Other { event: String },
}

#[derive(Deserialize)]
struct Envelope {
    event: String,
    #[serde(default)]
    payload: Option<Value>,
    #[serde(default, deserialize_with = "optional_secret")]
    download_token: Option<SecretString>,
}

#[derive(Deserialize)]
struct UrlValidationPayload {
    #[serde(rename = "plainToken")]
    plain_token: String,
}

#[derive(Deserialize)]
struct RecordingPayload {
    #[serde(default)]
    account_id: Option<String>,
    object: ZoomMeeting,
    #[serde(default, deserialize_with = "optional_secret")]
    download_token: Option<SecretString>,
}

#[derive(Deserialize)]
struct DeauthorizedPayload {
    account_id: String,
    user_id: String,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    deauthorization_time: Option<DateTime<Utc>>,
}

/// Reads a delivery's body. Only the events callsync acts on need a well-formed payload;
/// any other event is `Other`, whatever its payload.
pub fn parse_event(body: &[u8]) -> Result<ZoomEvent, ZoomWireError> {
    // Bodies carry a download token, so decode errors name only the position.
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| secret_safe("event", &e))?;
    let payload = envelope.payload.unwrap_or(Value::Null);
    let kind = match envelope.event.as_str() {
        "endpoint.url_validation" => {
            let payload: UrlValidationPayload = from_payload("url validation event", payload)?;
            return Ok(ZoomEvent::UrlValidation {
                plain_token: payload.plain_token,
            });
        }
        "app_deauthorized" => {
            let payload: DeauthorizedPayload = from_payload("deauthorization event", payload)?;
            return Ok(ZoomEvent::AppDeauthorized {
                account_id: payload.account_id,
                user_id: payload.user_id,
                client_id: payload.client_id,
                deauthorization_time: payload.deauthorization_time,
            });
        }
        "recording.completed" => RecordingEventKind::Completed,
        "recording.transcript_completed" => RecordingEventKind::TranscriptCompleted,
        _ => {
            return Ok(ZoomEvent::Other {
                event: envelope.event,
            })
        }
    };
    let payload: RecordingPayload = from_payload("recording event", payload)?;
    let account_id = payload
        .account_id
        .or_else(|| payload.object.account_id.clone())
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| ZoomWireError::Decode {
            context: "recording event",
            detail: "no account_id in the payload or its object".into(),
        })?;
    Ok(ZoomEvent::RecordingCompleted {
        kind,
        account_id,
        meeting: payload.object,
        // Seen both beside and inside `payload`.
        download_token: envelope.download_token.or(payload.download_token),
    })
}

fn from_payload<T: for<'de> Deserialize<'de>>(
    context: &'static str,
    payload: Value,
) -> Result<T, ZoomWireError> {
    serde_json::from_value(payload).map_err(|e| secret_safe(context, &e))
}

/// A stable id for one event, for claiming deliveries (Zoom sends no delivery id header).
///
/// Built from what identifies the event itself, not from the body's bytes: the event name,
/// `event_ts` (milliseconds, set when the event happened and kept across Zoom's retries) and
/// the payload's object (`object.uuid`, else `object.id`, else the payload's `user_id` or
/// `account_id`). A hash of the raw body would be just as stable for byte-identical retries,
/// but a retry that carries a fresh `download_token` or is serialised differently would then
/// be processed twice. Bodies without an event name or `event_ts` fall back to the SHA-256
/// of the raw body, which still maps a byte-identical resend to the same id.
pub fn event_id(body: &[u8]) -> String {
    let semantic = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|value| semantic_key(&value));
    match semantic {
        Some(key) => format!("zoom-evt-{}", hex_digest(key.as_bytes())),
        None => format!("zoom-body-{}", hex_digest(body)),
    }
}

fn semantic_key(value: &Value) -> Option<String> {
    let event = value.get("event")?.as_str()?;
    let event_ts = scalar(value.get("event_ts")?)?;
    let payload = value.get("payload");
    let object = payload.and_then(|p| p.get("object"));
    let subject = [
        object.and_then(|o| o.get("uuid")),
        object.and_then(|o| o.get("id")),
        payload.and_then(|p| p.get("user_id")),
        payload.and_then(|p| p.get("account_id")),
    ]
    .into_iter()
    .flatten()
    .find_map(scalar)
    .unwrap_or_default();
    // A JSON array keeps the parts apart whatever characters they hold.
    Some(serde_json::json!([event, subject, event_ts]).to_string())
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn text_header<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, ZoomVerifyError> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.trim().is_empty())
        .ok_or(ZoomVerifyError::MissingHeader(name))
}

/// Digits only: the signed text is the header as sent, so `+5` or `5.0` would never match.
fn parse_unix_seconds(text: &str) -> Result<i64, ZoomVerifyError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ZoomVerifyError::InvalidTimestamp);
    }
    text.parse().map_err(|_| ZoomVerifyError::InvalidTimestamp)
}

/// Either case; `None` for odd lengths or non-hex characters.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::zoom::wire::tests::MEETING;
    use http::{HeaderName, HeaderValue};
    use proptest::prelude::*;

    const SECRET: &str = "nKq3Rq0hTgWpVz1bXl6yAw";
    const NOW: i64 = 1_741_100_000;
    const BODY: &[u8] = br#"{"event":"recording.completed","event_ts":1741100000123}"#;

    fn secret() -> ZoomSecretToken {
        ZoomSecretToken::new(SECRET).unwrap()
    }

    fn at(unix_seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(unix_seconds, 0).unwrap()
    }

    fn headers(timestamp: &str, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(TIMESTAMP_HEADER, HeaderValue::from_str(timestamp).unwrap());
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(signature).unwrap());
        headers
    }

    fn verify_with_skew(skew: i64) -> Result<(), ZoomVerifyError> {
        let secret = secret();
        let timestamp = NOW + skew;
        let signature = sign(&secret, timestamp, BODY);
        verify(
            &secret,
            &headers(&timestamp.to_string(), &signature),
            BODY,
            at(NOW),
        )
    }

    /// HMAC-SHA256 of `v0:1741100000:{BODY}` under SECRET, computed independently with
    /// `printf 'v0:%s:%s' 1741100000 "$BODY" | openssl dgst -sha256 -hmac "$SECRET"`.
    const KNOWN_SIGNATURE: &str =
        "v0=122a4719f1d00f560e4a59f9e643e76a50bbd19bb21306caab1c6618904d1cf4";

    #[test]
    fn a_signed_delivery_verifies() {
        let secret = secret();
        let signature = sign(&secret, NOW, BODY);
        assert!(signature.starts_with("v0="));
        assert_eq!(signature.len(), 3 + 64);
        assert!(signature[3..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(
            verify(
                &secret,
                &headers(&NOW.to_string(), &signature),
                BODY,
                at(NOW)
            ),
            Ok(())
        );
        assert_eq!(signature, KNOWN_SIGNATURE);
    }

    #[test]
    fn header_names_are_case_insensitive_and_hex_case_is_ignored() {
        let secret = secret();
        let signature = sign(&secret, NOW, BODY)
            .to_uppercase()
            .replacen("V0=", "v0=", 1);
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("X-Zm-Request-Timestamp", NOW.to_string()),
            ("X-ZM-SIGNATURE", signature),
        ] {
            let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
            headers.insert(name, HeaderValue::from_str(&value).unwrap());
        }
        assert_eq!(verify(&secret, &headers, BODY, at(NOW)), Ok(()));
    }

    #[test]
    fn each_missing_header_is_named() {
        let secret = secret();
        let signature = sign(&secret, NOW, BODY);
        for name in [TIMESTAMP_HEADER, SIGNATURE_HEADER] {
            let mut without = headers(&NOW.to_string(), &signature);
            without.remove(name);
            assert_eq!(
                verify(&secret, &without, BODY, at(NOW)),
                Err(ZoomVerifyError::MissingHeader(name))
            );
            let mut empty = headers(&NOW.to_string(), &signature);
            empty.insert(name, HeaderValue::from_static(""));
            assert_eq!(
                verify(&secret, &empty, BODY, at(NOW)),
                Err(ZoomVerifyError::MissingHeader(name))
            );
        }
    }

    #[test]
    fn the_tolerance_is_300_seconds_either_way() {
        assert_eq!(verify_with_skew(-300), Ok(()));
        assert_eq!(verify_with_skew(300), Ok(()));
        assert_eq!(verify_with_skew(-301), Err(ZoomVerifyError::Stale));
        assert_eq!(verify_with_skew(301), Err(ZoomVerifyError::Future));
    }

    #[test]
    fn timestamps_that_are_not_whole_unix_seconds_are_invalid() {
        let secret = secret();
        let signature = sign(&secret, NOW, BODY);
        for timestamp in [
            "soon",
            "1741100000.0",
            "+1741100000",
            "-5",
            "1e9",
            "99999999999999999999999",
        ] {
            assert_eq!(
                verify(&secret, &headers(timestamp, &signature), BODY, at(NOW)),
                Err(ZoomVerifyError::InvalidTimestamp),
                "{timestamp}"
            );
        }
        let far = i64::MAX.to_string();
        assert_eq!(
            verify(&secret, &headers(&far, &signature), BODY, at(NOW)),
            Err(ZoomVerifyError::Future)
        );
    }

    #[test]
    fn malformed_or_wrong_signatures_are_rejected() {
        let secret = secret();
        let good = sign(&secret, NOW, BODY);
        let other = sign(&ZoomSecretToken::new("another-secret").unwrap(), NOW, BODY);
        for signature in [
            other.as_str(),
            &good[3..],
            &good[..good.len() - 2],
            "v0=",
            "v1=00",
            &good.replacen("v0=", "v1=", 1),
            &format!("{good}00"),
            &format!("v0={}", "zz".repeat(32)),
        ] {
            assert_eq!(
                verify(
                    &secret,
                    &headers(&NOW.to_string(), signature),
                    BODY,
                    at(NOW)
                ),
                Err(ZoomVerifyError::InvalidSignature),
                "{signature}"
            );
        }
        assert_eq!(
            verify(&secret, &headers(&NOW.to_string(), &good), b"{}", at(NOW)),
            Err(ZoomVerifyError::InvalidSignature)
        );
    }

    #[test]
    fn the_secret_is_never_shown() {
        let secret = secret();
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(
            ZoomSecretToken::new("  \n").err(),
            Some(ZoomVerifyError::BadSecret)
        );
        let pasted = ZoomSecretToken::new(&format!(" {SECRET}\n")).unwrap();
        assert_eq!(sign(&pasted, NOW, BODY), sign(&secret, NOW, BODY));
        let error =
            verify(&secret, &headers(&NOW.to_string(), "v0=00"), BODY, at(NOW)).unwrap_err();
        for shown in [error.to_string(), format!("{error:?}")] {
            assert!(!shown.contains(SECRET), "{shown}");
        }
    }

    #[test]
    fn url_validation_is_answered_with_the_hmac_of_the_plain_token() {
        let secret = secret();
        let answer = url_validation_response(&secret, "qgg8vlvZRS6UYooatFL8Aw");
        assert_eq!(answer["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
        let encrypted = answer["encryptedToken"].as_str().unwrap();
        // printf '%s' "$PLAIN" | openssl dgst -sha256 -hmac "$SECRET"
        assert_eq!(
            encrypted,
            "bb0b33f1ade125f289f84f47f651806e8b980f7947cb9106c4c4a53c1bb3d767"
        );
        assert_eq!(answer.as_object().unwrap().len(), 2);
    }

    #[test]
    fn a_url_validation_event_parses() {
        let body = br#"{"payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"}, "event_ts": 1654503849680, "event": "endpoint.url_validation"}"#;
        assert_eq!(
            parse_event(body).unwrap(),
            ZoomEvent::UrlValidation {
                plain_token: "qgg8vlvZRS6UYooatFL8Aw".into()
            }
        );
        assert!(parse_event(br#"{"event": "endpoint.url_validation", "payload": {}}"#).is_err());
    }

    fn recording_event(event: &str, token_beside: bool) -> String {
        let token = r#""download_token": "eyJzdiI6IjAwMDAwMSJ9.dl""#;
        let (beside, inside) = if token_beside {
            (format!("{token},"), String::new())
        } else {
            (String::new(), format!("{token},"))
        };
        format!(
            r#"{{"event": "{event}", "event_ts": 1741100000123, {beside}
                "payload": {{"account_id": "Cx3wERazSgup7ZWRHQM8-w", {inside} "object": {MEETING}}}}}"#
        )
    }

    #[test]
    fn recording_events_parse_with_the_token_beside_or_inside_the_payload() {
        for (event, kind) in [
            ("recording.completed", RecordingEventKind::Completed),
            (
                "recording.transcript_completed",
                RecordingEventKind::TranscriptCompleted,
            ),
        ] {
            for beside in [true, false] {
                let body = recording_event(event, beside);
                let ZoomEvent::RecordingCompleted {
                    kind: parsed,
                    account_id,
                    meeting,
                    download_token,
                } = parse_event(body.as_bytes()).unwrap()
                else {
                    panic!("not a recording event");
                };
                assert_eq!(parsed, kind);
                assert_eq!(parsed.as_str(), event);
                assert_eq!(account_id, "Cx3wERazSgup7ZWRHQM8-w");
                assert_eq!(meeting.uuid, "4444AAAiAAAAAiAiAiiAii==");
                assert_eq!(
                    download_token.as_ref().map(|t| t.expose()),
                    Some("eyJzdiI6IjAwMDAwMSJ9.dl")
                );
            }
        }
    }

    #[test]
    fn a_recording_event_without_a_token_or_payload_account_still_parses() {
        let body = format!(
            r#"{{"event": "recording.completed", "event_ts": 1, "download_token": "", "payload": {{"object": {MEETING}}}}}"#
        );
        let ZoomEvent::RecordingCompleted {
            account_id,
            download_token,
            ..
        } = parse_event(body.as_bytes()).unwrap()
        else {
            panic!("not a recording event");
        };
        assert_eq!(
            account_id, "Cx3wERazSgup7ZWRHQM8-w",
            "taken from the meeting"
        );
        assert_eq!(download_token, None);
        assert!(parse_event(
            br#"{"event": "recording.completed", "payload": {"account_id": "a"}}"#
        )
        .is_err());
    }

    #[test]
    fn the_download_token_never_shows_in_debug_or_errors() {
        let event = parse_event(recording_event("recording.completed", true).as_bytes()).unwrap();
        assert!(!format!("{event:?}").contains("eyJzdiI6"));
        let broken =
            br#"{"event": "recording.completed", "download_token": 31337313373, "payload": {}}"#;
        let error = parse_event(broken).unwrap_err();
        assert!(!error.to_string().contains("31337313373"), "{error}");
        assert!(!format!("{error:?}").contains("31337313373"));
    }

    #[test]
    fn deauthorization_and_other_events_parse() {
        let body = br#"{"event": "app_deauthorized", "event_ts": 1741100000999, "payload": {
            "account_id": "Cx3wERazSgup7ZWRHQM8-w", "user_id": "z8yCxjabcdEFGHfp8uQ",
            "signature": "abc", "deauthorization_time": "2025-03-04T16:00:00.000Z",
            "client_id": "Tb1aBcD2QeFgHiJ"}}"#;
        assert_eq!(
            parse_event(body).unwrap(),
            ZoomEvent::AppDeauthorized {
                account_id: "Cx3wERazSgup7ZWRHQM8-w".into(),
                user_id: "z8yCxjabcdEFGHfp8uQ".into(),
                client_id: Some("Tb1aBcD2QeFgHiJ".into()),
                deauthorization_time: Some(at(1_741_104_000)),
            }
        );
        assert_eq!(
            parse_event(br#"{"event": "meeting.started", "payload": {"weird": true}}"#).unwrap(),
            ZoomEvent::Other {
                event: "meeting.started".into()
            }
        );
        assert!(parse_event(b"not json").is_err());
        assert!(parse_event(br#"{"payload": {}}"#).is_err());
    }

    #[test]
    fn retries_of_one_event_share_an_id_and_different_events_do_not() {
        let first = recording_event("recording.completed", true);
        let retry_with_new_token =
            first.replace("eyJzdiI6IjAwMDAwMSJ9.dl", "eyJzdiI6IjAwMDAwMiJ9.dl");
        let reserialised: Value = serde_json::from_str(&first).unwrap();
        let reserialised = serde_json::to_string(&reserialised).unwrap();
        let id = event_id(first.as_bytes());
        assert_eq!(event_id(first.as_bytes()), id);
        assert_eq!(event_id(retry_with_new_token.as_bytes()), id);
        assert_eq!(event_id(reserialised.as_bytes()), id);

        let transcript = recording_event("recording.transcript_completed", true);
        assert_ne!(event_id(transcript.as_bytes()), id);
        let later = first.replace("1741100000123", "1741100000124");
        assert_ne!(event_id(later.as_bytes()), id);
        let other_meeting = first.replace(
            "\"uuid\": \"4444AAAiAAAAAiAiAiiAii==\"",
            "\"uuid\": \"5555==\"",
        );
        assert_ne!(event_id(other_meeting.as_bytes()), id);
    }

    #[test]
    fn bodies_without_event_identity_fall_back_to_the_body_hash() {
        let id = event_id(b"not json");
        assert!(id.starts_with("zoom-body-"));
        assert_eq!(event_id(b"not json"), id);
        assert_ne!(event_id(b"not json!"), id);
        assert!(event_id(BODY).starts_with("zoom-evt-"));
        assert!(event_id(br#"{"event": "x"}"#).starts_with("zoom-body-"));
    }

    proptest! {
        #[test]
        fn signed_deliveries_verify(
            token in "[A-Za-z0-9]{1,40}",
            timestamp in 1_000_000_000i64..4_000_000_000,
            body in proptest::collection::vec(any::<u8>(), 0..2048),
        ) {
            let secret = ZoomSecretToken::new(&token).unwrap();
            let headers = headers(&timestamp.to_string(), &sign(&secret, timestamp, &body));
            prop_assert_eq!(verify(&secret, &headers, &body, at(timestamp)), Ok(()));
        }

        #[test]
        fn a_flipped_body_byte_is_rejected(
            body in proptest::collection::vec(any::<u8>(), 1..1024),
            index in any::<usize>(),
            mask in 1u8..=255,
        ) {
            let secret = secret();
            let headers = headers(&NOW.to_string(), &sign(&secret, NOW, &body));
            let mut tampered = body.clone();
            let index = index % tampered.len();
            tampered[index] ^= mask;
            prop_assert_eq!(
                verify(&secret, &headers, &tampered, at(NOW)),
                Err(ZoomVerifyError::InvalidSignature)
            );
        }

        #[test]
        fn any_body_parses_or_fails_without_panicking(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_event(&body);
            prop_assert!(!event_id(&body).is_empty());
        }

        #[test]
        fn any_header_values_verify_or_fail_without_panicking(
            timestamp in "[ -~]{0,30}",
            signature in "[ -~]{0,80}",
        ) {
            let headers = headers(&timestamp, &signature);
            let _ = verify(&secret(), &headers, BODY, at(NOW));
        }
    }
}
