//! Deliveries signed by the reference Python `standardwebhooks` package verify here, and
//! `sign` produces the same header value it does.

use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderValue};
use pipeline::webhook::{self, WebhookSecret};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const SIGNER: &str = "scripts/sign_standard_webhooks.py";

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the pipeline crate sits inside the workspace")
}

fn venv_python() -> PathBuf {
    let python = workspace_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} does not exist: run `make venv` to create the Python environment from \
         requirements-dev.txt (it provides the reference `standardwebhooks` signer)",
        python.display()
    );
    python
}

/// How the request reaches the signer script.
#[derive(Clone, Copy, Debug)]
enum Via {
    Argv,
    StdinJson,
}

struct Delivery<'a> {
    secret: &'a str,
    id: &'a str,
    timestamp: i64,
    payload: &'a str,
}

fn sign_with_python(delivery: &Delivery, via: Via) -> String {
    let mut command = Command::new(venv_python());
    command
        .current_dir(workspace_root())
        .arg(SIGNER)
        // Non-ASCII payloads must reach Python as UTF-8 whatever the machine's locale.
        .env("PYTHONUTF8", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Via::Argv = via {
        command.args([
            delivery.secret,
            delivery.id,
            &delivery.timestamp.to_string(),
            delivery.payload,
        ]);
    }
    let mut child = command.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    if let Via::StdinJson = via {
        let request = serde_json::json!({
            "secret": delivery.secret,
            "id": delivery.id,
            "timestamp": delivery.timestamp,
            "payload": delivery.payload,
        });
        stdin.write_all(request.to_string().as_bytes()).unwrap();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{SIGNER} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn headers(delivery: &Delivery, signature: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("webhook-id", HeaderValue::from_str(delivery.id).unwrap());
    headers.insert(
        "webhook-timestamp",
        HeaderValue::from_str(&delivery.timestamp.to_string()).unwrap(),
    );
    headers.insert(
        "webhook-signature",
        HeaderValue::from_str(signature).unwrap(),
    );
    headers
}

fn assert_python_signature_verifies(delivery: &Delivery, via: Via) {
    let now: DateTime<Utc> = DateTime::from_timestamp(delivery.timestamp, 0).unwrap();
    let python_signature = sign_with_python(delivery, via);
    let secret = WebhookSecret::parse(delivery.secret).unwrap();
    let body = delivery.payload.as_bytes();

    let verified = webhook::verify(&secret, &headers(delivery, &python_signature), body, now)
        .unwrap_or_else(|e| panic!("{} ({} bytes, {via:?}): {e}", delivery.id, body.len()));
    assert_eq!(verified.webhook_id, delivery.id);
    assert_eq!(
        webhook::sign(&secret, delivery.id, delivery.timestamp, body),
        python_signature
    );
}

fn meeting_json(transcript_bytes: usize) -> String {
    let line = r#"{"speaker":{"display_name":"Ada Lovelace"},"text":"We agreed to ship the import on Friday.","timestamp":"00:01:02"}"#;
    let lines = vec![line; transcript_bytes / line.len() + 1].join(",");
    format!(r#"{{"recording_id":123456,"title":"Weekly sync","transcript":[{lines}]}}"#)
}

#[test]
fn small_delivery_signed_by_python_verifies() {
    let delivery = Delivery {
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        id: "msg_2Kq8ZkQyLw1",
        timestamp: Utc::now().timestamp(),
        payload: r#"{"recording_id":42,"title":"Intro call"}"#,
    };
    assert_python_signature_verifies(&delivery, Via::Argv);
    assert_python_signature_verifies(&delivery, Via::StdinJson);
}

#[test]
fn fifty_kilobyte_delivery_signed_by_python_verifies() {
    let payload = meeting_json(50 * 1024);
    assert!(payload.len() >= 50 * 1024);
    let delivery = Delivery {
        secret: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        id: "msg_large_transcript",
        timestamp: Utc::now().timestamp(),
        payload: &payload,
    };
    assert_python_signature_verifies(&delivery, Via::StdinJson);
}

#[test]
fn non_ascii_delivery_signed_by_python_verifies() {
    let payload = r#"{"title":"Café Überblick — 東京オフィス 🎙️","attendees":["Zoë","Søren"]}"#;
    assert!(!payload.is_ascii());
    let delivery = Delivery {
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        id: "msg_unicode",
        timestamp: Utc::now().timestamp(),
        payload,
    };
    assert_python_signature_verifies(&delivery, Via::Argv);
    assert_python_signature_verifies(&delivery, Via::StdinJson);
}

#[test]
fn generated_and_unprefixed_secrets_are_read_the_same_way_by_python() {
    let generated = WebhookSecret::generate();
    let unprefixed = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    for secret in [generated.expose_str(), unprefixed] {
        let delivery = Delivery {
            secret,
            id: "msg_secret_forms",
            timestamp: Utc::now().timestamp(),
            payload: "{}",
        };
        assert_python_signature_verifies(&delivery, Via::StdinJson);
    }
}
