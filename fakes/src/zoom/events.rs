//! Webhook events as Zoom sends them to an app: bodies, and the `x-zm-signature` scheme
//! (`v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{raw body}` under the app's secret token).
//! The fake does not deliver events; tests post the signed requests built here.

use super::downloads::hex;
use super::state::FakeZoomAccount;
use chrono::{SecondsFormat, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

fn hmac_hex(key: &str, message: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else {
        return String::new();
    };
    mac.update(message);
    hex(&mac.finalize().into_bytes())
}

/// The `x-zm-signature` of a request: `v0=` + hex(HMAC-SHA256(secret, "v0:{ts}:{body}")).
pub fn sign_event(secret_token: &str, timestamp: i64, raw_body: impl AsRef<[u8]>) -> String {
    let mut message = format!("v0:{timestamp}:").into_bytes();
    message.extend_from_slice(raw_body.as_ref());
    format!("v0={}", hmac_hex(secret_token, &message))
}

/// What an app must answer to `endpoint.url_validation`.
pub fn expected_validation_response(secret_token: &str, plain_token: &str) -> Value {
    json!({
        "plainToken": plain_token,
        "encryptedToken": hmac_hex(secret_token, plain_token.as_bytes()),
    })
}

/// An event body, ready to be signed.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoomEvent {
    pub body: Value,
}

/// An event as posted: its headers and the exact bytes that were signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedZoomEvent {
    pub timestamp: i64,
    pub signature: String,
    /// `content-type`, `x-zm-request-timestamp` and `x-zm-signature`.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl SignedZoomEvent {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn into_parts(self) -> (Vec<(String, String)>, Vec<u8>) {
        (self.headers, self.body)
    }
}

fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}

impl ZoomEvent {
    /// `{"event", "event_ts" (ms, now), "payload"}`.
    pub fn new(event: &str, payload: Value) -> ZoomEvent {
        ZoomEvent {
            body: json!({"event": event, "event_ts": now_millis(), "payload": payload}),
        }
    }

    pub fn name(&self) -> &str {
        self.body["event"].as_str().unwrap_or("")
    }

    /// The download token, wherever the event carries it.
    pub fn download_token(&self) -> Option<&str> {
        self.body["download_token"]
            .as_str()
            .or_else(|| self.body["payload"]["download_token"].as_str())
    }

    pub fn raw_body(&self) -> Vec<u8> {
        self.body.to_string().into_bytes()
    }

    /// Signs the serialized body with `secret_token`, stamped `timestamp` (Unix seconds).
    pub fn sign(&self, secret_token: &str, timestamp: i64) -> SignedZoomEvent {
        let body = self.raw_body();
        let signature = sign_event(secret_token, timestamp, &body);
        SignedZoomEvent {
            timestamp,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("x-zm-request-timestamp".into(), timestamp.to_string()),
                ("x-zm-signature".into(), signature.clone()),
            ],
            signature,
            body,
        }
    }
}

/// `endpoint.url_validation`, which Zoom sends when the endpoint is saved and every 72 hours.
pub fn url_validation_event(plain_token: &str) -> ZoomEvent {
    ZoomEvent::new(
        "endpoint.url_validation",
        json!({"plainToken": plain_token}),
    )
}

pub(crate) fn recording_event(
    name: &str,
    account_id: &str,
    object: Value,
    download_token: &str,
    token_in_payload: bool,
) -> ZoomEvent {
    let mut payload = json!({"account_id": account_id, "object": object});
    if token_in_payload {
        payload["download_token"] = json!(download_token);
    }
    let mut event = ZoomEvent::new(name, payload);
    if !token_in_payload {
        event.body["download_token"] = json!(download_token);
    }
    event
}

pub(crate) fn app_deauthorized_event(
    account: &FakeZoomAccount,
    client_id: &str,
    signature: &str,
) -> ZoomEvent {
    ZoomEvent::new(
        "app_deauthorized",
        json!({
            "account_id": account.account_id,
            "user_id": account.id,
            "signature": signature,
            "deauthorization_time": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            "client_id": client_id,
        }),
    )
}
