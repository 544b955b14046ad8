//! What an OAuth round trip carries from initiate to callback: the single-use state, the
//! browser binding that ties the flow to the browser that started it, and where in the app
//! the browser returns.

use crate::config::Config;
use crate::domain::{hex_digest, Source, Tenant, UserId, WorkspaceId};
use anyhow::{Context, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chrono::Duration;
use rand::Rng;
use serde::{Deserialize, Serialize};
use url::Url;

/// How long a user has to finish the provider's consent screen.
pub const STATE_TTL: Duration = Duration::minutes(10);
/// How long a callback that could not prove its browser waits for the app to confirm it.
pub const CONFIRM_TTL: Duration = Duration::minutes(5);
/// Longest return path accepted.
pub const MAX_RETURN_PATH: usize = 2048;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OAuthState {
    /// The workspace the flow connects into (a state from before workspaces has none: the
    /// personal one).
    #[serde(default)]
    pub workspace_id: Option<WorkspaceId>,
    pub user_id: UserId,
    pub source: Source,
    /// PKCE verifier, when a challenge was sent.
    pub code_verifier: Option<String>,
    /// Where in the app the browser returns.
    pub return_path: String,
    /// SHA-256 (hex) of the binding cookie set on the browser that started the flow.
    #[serde(default)]
    pub browser_binding: Option<String>,
}

impl OAuthState {
    /// The member who started the flow.
    pub fn owner(&self) -> Tenant {
        Tenant::named(self.workspace_id.clone(), self.user_id.clone())
    }

    pub fn key(state: &str) -> String {
        format!("oauth_state:{state}")
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(raw: &str) -> Result<Self> {
        serde_json::from_str(raw).context("a stored OAuth state could not be read")
    }

    /// Whether `cookie` is the binding this flow set on the browser that started it.
    pub fn bound_to(&self, cookie: Option<&str>) -> bool {
        match (&self.browser_binding, cookie) {
            (Some(expected), Some(cookie)) => {
                subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), binding_hash(cookie).as_bytes())
                    .into()
            }
            _ => false,
        }
    }
}

/// A callback whose browser did not carry the binding cookie (the app runs on another origin,
/// or someone else's browser finished the flow): its code waits here until the signed-in
/// app confirms it, and only the user who started the flow can.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingConfirmation {
    pub state: OAuthState,
    pub code: String,
}

impl PendingConfirmation {
    pub fn key(ticket: &str) -> String {
        format!("oauth_confirm:{ticket}")
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(raw: &str) -> Result<Self> {
        serde_json::from_str(raw).context("a pending OAuth confirmation could not be read")
    }
}

/// A random URL-safe token of `bytes` random bytes (states, verifiers, bindings, tickets).
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    B64.encode(buf)
}

/// What the state keeps of a binding cookie: its hash, so the store never holds the value.
pub fn binding_hash(cookie: &str) -> String {
    hex_digest(cookie.as_bytes())
}

/// The binding cookie's name: `__Host-` prefixed where the API is served over https (the
/// browser then guarantees it was set by this host, over TLS, for every path).
pub fn binding_cookie_name(config: &Config, source: Source) -> String {
    if serves_https(config) {
        format!("__Host-callsync_oauth_{source}")
    } else {
        format!("callsync_oauth_{source}")
    }
}

fn serves_https(config: &Config) -> bool {
    config.public_base_url.scheme() == "https"
}

/// `Set-Cookie` for the binding: HttpOnly, SameSite=Lax (sent on the provider's top-level
/// redirect back to the callback), Secure over https, gone when the state expires.
pub fn binding_set_cookie(config: &Config, source: Source, value: &str) -> String {
    let secure = if serves_https(config) { "; Secure" } else { "" };
    format!(
        "{}={value}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        binding_cookie_name(config, source),
        STATE_TTL.num_seconds()
    )
}

/// `Set-Cookie` that removes the binding once the callback used it.
pub fn binding_clear_cookie(config: &Config, source: Source) -> String {
    let secure = if serves_https(config) { "; Secure" } else { "" };
    format!(
        "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}",
        binding_cookie_name(config, source)
    )
}

/// The callback URL registered with the provider for `source`.
pub fn redirect_uri(config: &Config, source: Source) -> Result<Url> {
    config
        .public_base_url
        .join(&format!("oauth/{source}/callback"))
        .context("building the OAuth redirect URI")
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("return_path must be a path inside the app ({0})")]
pub struct InvalidReturnPath(&'static str);

/// Where the browser goes back to: `return_path` under the app's base URL. Accepted only when
/// it has no control characters or backslashes anywhere (browsers strip or reinterpret
/// those, which is how `/\t//evil` becomes `//evil`), starts with one `/`, and, once resolved
/// (dot segments included), stays on the base's origin and under its path. `/` is the base
/// itself, whose path is kept (`https://x.test/app` stays `/app`).
pub fn app_return_url(app_base: &Url, return_path: &str) -> Result<Url, InvalidReturnPath> {
    if return_path.len() > MAX_RETURN_PATH {
        return Err(InvalidReturnPath("it is too long"));
    }
    if return_path.chars().any(|c| c.is_control() || c == '\\') {
        return Err(InvalidReturnPath(
            "it contains control characters or backslashes",
        ));
    }
    if !return_path.starts_with('/') || return_path.starts_with("//") {
        return Err(InvalidReturnPath("it must start with a single `/`"));
    }
    if return_path == "/" {
        return Ok(app_base.clone());
    }
    let base_path = app_base.path().trim_end_matches('/');
    let candidate = format!(
        "{}{base_path}{return_path}",
        app_base.origin().ascii_serialization()
    );
    let url = Url::parse(&candidate).map_err(|_| InvalidReturnPath("it is not a valid path"))?;
    let inside = url.origin() == app_base.origin()
        && (url.path() == base_path
            || base_path.is_empty()
            || url.path().starts_with(&format!("{base_path}/")));
    if !inside || url.username() != "" || url.password().is_some() {
        return Err(InvalidReturnPath("it leaves the app"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn base(raw: &str) -> Url {
        Url::parse(raw).unwrap()
    }

    #[test]
    fn paths_resolve_under_the_apps_base_path() {
        let app = base("https://x.test/app");
        assert_eq!(
            app_return_url(&app, "/").unwrap().as_str(),
            "https://x.test/app"
        );
        assert_eq!(
            app_return_url(&app, "/settings?tab=1#top")
                .unwrap()
                .as_str(),
            "https://x.test/app/settings?tab=1#top"
        );
        let root = base("http://127.0.0.1:8787/");
        assert_eq!(
            app_return_url(&root, "/meetings/rec_1").unwrap().as_str(),
            "http://127.0.0.1:8787/meetings/rec_1"
        );
    }

    #[test]
    fn the_reported_redirects_and_their_relatives_are_refused() {
        let app = base("https://x.test/app/");
        for path in [
            "/\t//evil.example/x",
            "/\r//evil.example/x",
            "/\n//evil.example/x",
            "//evil.example/x",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example/",
            "evil.example",
            "/../x",
            "/a/../../x",
            "/%2e%2e/x",
            "",
            "/\u{0}x",
            "/\u{85}x",
        ] {
            assert!(app_return_url(&app, path).is_err(), "{path:?} was accepted");
        }
    }

    /// Characters that make paths interesting to a URL parser.
    fn tricky_path() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("/".to_owned()),
            Just("//".to_owned()),
            Just("\\".to_owned()),
            Just("..".to_owned()),
            Just(".".to_owned()),
            Just("%2e".to_owned()),
            Just("%2F".to_owned()),
            Just("@".to_owned()),
            Just(":".to_owned()),
            Just("?".to_owned()),
            Just("#".to_owned()),
            Just("evil.example".to_owned()),
            Just("http:".to_owned()),
            Just("\t".to_owned()),
            Just("\r".to_owned()),
            Just("\n".to_owned()),
            Just(" ".to_owned()),
            "[a-z]{1,4}".prop_map(|s| s),
            any::<char>().prop_map(|c| c.to_string()),
        ];
        proptest::collection::vec(piece, 0..10).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Whatever is accepted lands on the app's origin, under its path, and carried no
        /// character a browser would rewrite.
        #[test]
        fn whatever_is_accepted_stays_inside_the_app(path in tricky_path()) {
            for app in [base("https://x.test/app/"), base("https://x.test/app"), base("http://127.0.0.1:8787/")] {
                if let Ok(url) = app_return_url(&app, &path) {
                    prop_assert_eq!(url.origin(), app.origin());
                    let prefix = app.path().trim_end_matches('/');
                    prop_assert!(url.path() == prefix || url.path().starts_with(&format!("{prefix}/")) || prefix.is_empty(), "{} left {}", url, app);
                    prop_assert!(!path.chars().any(|c| c.is_control() || c == '\\'));
                    prop_assert_eq!(url.host_str(), app.host_str());
                }
            }
        }
    }

    #[test]
    fn the_binding_matches_only_its_own_cookie() {
        let token = random_token(32);
        let state = OAuthState {
            workspace_id: None,
            user_id: UserId::parse("alice").unwrap(),
            source: Source::Upload,
            code_verifier: None,
            return_path: "/".into(),
            browser_binding: Some(binding_hash(&token)),
        };
        assert!(state.bound_to(Some(&token)));
        assert!(!state.bound_to(Some("other")));
        assert!(!state.bound_to(None));
        let unbound = OAuthState {
            browser_binding: None,
            ..state
        };
        assert!(!unbound.bound_to(Some(&token)));
    }
}
