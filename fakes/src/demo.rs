//! Demo providers: when no provider is configured, the dev server starts these loopback fakes
//! of Fathom, Zoom and the transcription API in-process, with a sample account and meetings
//! each, and points its configuration (and secrets) at them through `Demo::var`. A newcomer can then connect,
//! sync and upload without any account anywhere. `DEMO=0` turns this off; setting any real
//! provider variable (`FATHOM_CLIENT_ID`, `FATHOM_API_BASE_URL`, `ZOOM_*`,
//! `TRANSCRIBE_API_KEY`) does too, and then the real providers are used.

use crate::fathom::{FakeFathom, FakeFathomOptions};
use crate::transcribe::FakeTranscribe;
use crate::zoom::{FakeZoom, FakeZoomOptions};
use anyhow::Context;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Variables whose presence means "use the real providers".
const REAL_PROVIDER_VARIABLES: &[&str] = &[
    "FATHOM_CLIENT_ID",
    "FATHOM_API_BASE_URL",
    "TRANSCRIBE_API_KEY",
];

/// Whether the dev server should start demo providers, from a variable lookup: on unless
/// `DEMO` is off or a real provider is configured.
pub fn wanted(lookup: impl Fn(&str) -> Option<String>, names: &[String]) -> bool {
    let set = |name: &str| lookup(name).is_some_and(|v| !v.trim().is_empty());
    let off = lookup("DEMO").is_some_and(|v| matches!(v.trim(), "0" | "false" | "no" | "off"));
    let real = REAL_PROVIDER_VARIABLES.iter().any(|name| set(name))
        || names
            .iter()
            .any(|name| name.starts_with("ZOOM_") && set(name));
    !off && !real
}

/// The running fakes and the settings that point callsync at them. Dropping it stops them.
pub struct Demo {
    fathom: FakeFathom,
    zoom: FakeZoom,
    transcribe: FakeTranscribe,
    vars: HashMap<String, String>,
    fathom_api_key: String,
    fathom_email: String,
    zoom_email: String,
}

impl std::fmt::Debug for Demo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Demo")
            .field("fathom", &self.fathom.base_url())
            .field("zoom", &self.zoom.base_url())
            .field("transcribe", &self.transcribe.base_url())
            .finish()
    }
}

/// Titles of the sample Fathom meetings, oldest first.
const FATHOM_TITLES: &[&str] = &[
    "Kickoff with Northwind",
    "Weekly product sync",
    "Pricing review",
    "Customer interview: Acme onboarding",
    "Design critique: Import Hub",
    "Quarterly planning",
    "Support escalation retro",
    "Renewal call with Globex",
];

impl Demo {
    /// Starts the three fakes on free loopback ports with their sample data.
    pub async fn start() -> anyhow::Result<Demo> {
        let fathom = FakeFathom::start(FakeFathomOptions::default())
            .await
            .context("starting the demo Fathom")?;
        let account = fathom.add_account("Dana Demo", "dana@demo.callsync.dev");
        for title in FATHOM_TITLES {
            fathom.add_meeting(&account, |m| m.title = (*title).to_owned());
        }
        let zoom = FakeZoom::start(FakeZoomOptions::default())
            .await
            .context("starting the demo Zoom")?;
        let host = zoom.add_account("Zoe", "Demo", "zoe@demo.callsync.dev");
        let start = chrono::Utc::now() - chrono::Duration::days(6);
        zoom.add_meetings(&host, 5, start, chrono::Duration::days(1));
        let transcribe = FakeTranscribe::start()
            .await
            .context("starting the demo transcription API")?;

        let options = fathom.options().clone();
        let zoom_options = zoom.options().clone();
        let vars = HashMap::from([
            ("FATHOM_API_BASE_URL".to_owned(), fathom.api_base_url()),
            ("FATHOM_OAUTH_BASE_URL".to_owned(), fathom.oauth_base_url()),
            ("FATHOM_CLIENT_ID".to_owned(), options.client_id),
            ("FATHOM_CLIENT_SECRET".to_owned(), options.client_secret),
            ("FATHOM_RETRY_BASE_MS".to_owned(), "100".to_owned()),
            ("ZOOM_API_BASE_URL".to_owned(), zoom.api_base_url()),
            ("ZOOM_OAUTH_BASE_URL".to_owned(), zoom.oauth_base_url()),
            ("ZOOM_CLIENT_ID".to_owned(), zoom_options.client_id),
            ("ZOOM_CLIENT_SECRET".to_owned(), zoom_options.client_secret),
            (
                "ZOOM_WEBHOOK_SECRET_TOKEN".to_owned(),
                zoom_options.webhook_secret_token,
            ),
            ("TRANSCRIBE_API_BASE_URL".to_owned(), transcribe.base_url()),
            (
                "TRANSCRIBE_API_KEY".to_owned(),
                transcribe.api_key().to_owned(),
            ),
        ]);
        Ok(Demo {
            fathom_api_key: account.api_key.clone(),
            fathom_email: account.person.email.clone(),
            zoom_email: host.email.clone(),
            fathom,
            zoom,
            transcribe,
            vars,
        })
    }

    /// A demo setting or secret by variable name (`FATHOM_API_BASE_URL`, ...).
    pub fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    /// What `GET /dev/demo` answers when no demo providers run.
    pub fn describe_none() -> Value {
        json!({ "demo": false, "providers": {}, "fathom_api_key": null })
    }

    /// What `GET /dev/demo` answers: which providers are fakes, and the demo API key.
    pub fn describe(&self) -> Value {
        json!({
            "demo": true,
            "providers": {
                "fathom": {
                    "base_url": self.fathom.base_url(),
                    "account_email": self.fathom_email,
                    "connect_methods": ["oauth", "api_key"],
                    "meetings": self.fathom.meetings().len(),
                },
                "zoom": {
                    "base_url": self.zoom.base_url(),
                    "account_email": self.zoom_email,
                    "connect_methods": ["oauth"],
                    "meetings": self.zoom.meetings().len(),
                },
                "transcribe": {
                    "base_url": self.transcribe.base_url(),
                },
            },
            "fathom_api_key": self.fathom_api_key,
        })
    }

    /// Injects a fault into one fake (`POST /dev/demo/faults`), so a failing import can be
    /// shown and retried, or a slow sync watched.
    pub fn inject(&self, fault: &Fault) -> Result<(), String> {
        if let Some(ms) = fault.latency_ms {
            let latency = std::time::Duration::from_millis(ms.min(30_000));
            match fault.provider.as_str() {
                "fathom" => self.fathom.slow_next(fault.count, latency),
                "zoom" => self.zoom.slow_next(fault.count, latency),
                other => {
                    return Err(format!(
                        "latency can be added to fathom or zoom, not `{other}`"
                    ))
                }
            }
        } else {
            let status = fault.status.unwrap_or(400);
            if !(400..=599).contains(&status) {
                return Err("status must be an HTTP error status (400 to 599)".into());
            }
            match fault.provider.as_str() {
                "transcribe" => self.transcribe.fail_next(fault.count as usize, status),
                "fathom" => self.fathom.fail_next(fault.count, status),
                "zoom" => self.zoom.fail_next(fault.count, status),
                other => return Err(format!("no demo provider `{other}`")),
            }
        }
        tracing::info!(
            provider = fault.provider,
            count = fault.count,
            status = fault.status,
            latency_ms = fault.latency_ms,
            "demo fault injected"
        );
        Ok(())
    }
}

/// `POST /dev/demo/faults {"provider", "count", "status"?, "latency_ms"?}`: the provider's
/// next `count` requests fail with `status` (400 by default), or, with `latency_ms`, are
/// that much slower.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub provider: String,
    pub count: u32,
    pub status: Option<u16>,
    pub latency_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn names(vars: &[(&str, &str)]) -> Vec<String> {
        vars.iter().map(|(k, _)| k.to_string()).collect()
    }

    #[test]
    fn demo_providers_run_unless_turned_off_or_real_ones_are_configured() {
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[], true),
            (&[("DEMO", "1")], true),
            (&[("DEMO", "0")], false),
            (&[("DEMO", "off")], false),
            (&[("FATHOM_CLIENT_ID", "abc")], false),
            (&[("FATHOM_API_BASE_URL", "https://api.example")], false),
            (&[("TRANSCRIBE_API_KEY", "sk-1")], false),
            (&[("ZOOM_CLIENT_ID", "z")], false),
            (&[("FATHOM_CLIENT_ID", "")], true),
            (&[("PORT", "9000")], true),
        ];
        for (vars, expected) in cases {
            assert_eq!(wanted(lookup(vars), &names(vars)), *expected, "{vars:?}");
        }
    }

    #[tokio::test]
    async fn the_demo_has_an_account_and_meetings_per_provider() {
        let demo = Demo::start().await.unwrap();
        let described = demo.describe();
        assert_eq!(described["demo"], true);
        assert_eq!(described["providers"]["fathom"]["meetings"], 8);
        assert_eq!(described["providers"]["zoom"]["meetings"], 5);
        assert!(described["fathom_api_key"].as_str().unwrap().len() > 8);
        assert!(demo
            .var("TRANSCRIBE_API_BASE_URL")
            .unwrap()
            .starts_with("http://127.0.0.1:"));
        let fault = Fault {
            provider: "nowhere".into(),
            count: 1,
            status: None,
            latency_ms: None,
        };
        assert!(demo.inject(&fault).is_err());
    }
}
