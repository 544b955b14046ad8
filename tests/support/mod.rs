//! Starting the whole system for a test: a fresh data directory, the dev-server app on a free
//! loopback port, and an HTTP client that signs in as any user.

pub mod counting_queue;
pub mod crash;
pub mod fathom_world;
pub mod receiver;
pub mod zoom_world;

use dev_server::auth::{self, JwtSecret};
use dev_server::{DevServer, Running};
use pipeline::adapters::local::LocalBackend;
use pipeline::config::Config;
use pipeline::services::Services;
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

pub const JWT_SECRET: &str = "system-test-secret";

pub struct TestApp {
    pub running: Running,
    pub backend: LocalBackend,
    pub client: reqwest::Client,
    jwt: JwtSecret,
    /// Users who joined a team workspace (`join`): their tokens carry it, with their role.
    memberships: std::sync::Mutex<HashMap<String, (String, &'static str)>>,
    _data_dir: tempfile::TempDir,
}

/// Settings a test adds to the environment the system is configured from (secrets such as
/// `FATHOM_CLIENT_SECRET` included), and the clock it runs on.
#[derive(Default, Clone)]
pub struct Settings {
    pub vars: HashMap<String, String>,
    pub clock: Option<Arc<dyn pipeline::ports::Clock>>,
    /// Replaces some of the services before the server starts (a failing queue, say).
    pub override_services: Option<ServicesOverride>,
}

/// A change to the services every function and consumer of a `TestApp` shares.
pub type ServicesOverride = Arc<dyn Fn(&mut Services) + Send + Sync>;

impl Settings {
    pub fn set(mut self, name: &str, value: impl Into<String>) -> Self {
        self.vars.insert(name.to_owned(), value.into());
        self
    }

    /// Sets `name` unless the test set it already.
    pub fn set_default(mut self, name: &str, value: impl Into<String>) -> Self {
        self.vars
            .entry(name.to_owned())
            .or_insert_with(|| value.into());
        self
    }

    pub fn clock(mut self, clock: Arc<dyn pipeline::ports::Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    pub fn override_services(
        mut self,
        change: impl Fn(&mut Services) + Send + Sync + 'static,
    ) -> Self {
        self.override_services = Some(Arc::new(change));
        self
    }
}

impl TestApp {
    pub async fn start() -> Self {
        Self::start_with(Settings::default(), |server| server).await
    }

    /// Starts the app with extra settings; `customize` may register more functions or change
    /// the dev server's intervals.
    pub async fn start_with(
        settings: Settings,
        customize: impl FnOnce(DevServer) -> DevServer,
    ) -> Self {
        Self::launch(settings, |backend, jwt| {
            customize(dev_server::app::callsync(backend, jwt))
        })
        .await
    }

    /// The HTTP functions only, without the queue consumers and schedules, so a test can
    /// register stand-ins and watch the dev server's own mechanisms.
    pub async fn start_bare(customize: impl FnOnce(DevServer) -> DevServer) -> Self {
        Self::launch(Settings::default(), |backend, jwt| {
            let server = dev_server::app::http_functions()
                .into_iter()
                .fold(DevServer::new(backend, jwt), DevServer::http);
            customize(server)
        })
        .await
    }

    async fn launch(
        settings: Settings,
        build: impl FnOnce(LocalBackend, JwtSecret) -> DevServer,
    ) -> Self {
        let data_dir = tempfile::tempdir().expect("temporary data dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let addr = listener.local_addr().expect("bound address");
        let mut vars = settings.vars;
        vars.insert(
            "LOCAL_DATA_DIR".into(),
            data_dir.path().to_string_lossy().into_owned(),
        );
        vars.entry("PUBLIC_BASE_URL".into())
            .or_insert_with(|| format!("http://{addr}"));
        let config =
            Config::from_lookup(|name| vars.get(name).cloned()).expect("test configuration");
        let key = pipeline::testing::test_secrets().sealing_key;
        let secrets = pipeline::secrets::Secrets::from_lookup(key, |name| vars.get(name).cloned())
            .expect("test secrets");
        let clock = settings
            .clock
            .unwrap_or_else(|| Arc::new(pipeline::ports::SystemClock));
        let mut backend = LocalBackend::open_with(Arc::new(config), clock, Some(secrets))
            .expect("open local backend");
        if let Some(change) = &settings.override_services {
            change(&mut backend.services);
        }
        let jwt = JwtSecret::new(JWT_SECRET);
        let server = build(backend.clone(), jwt.clone());
        let running = server.start(listener).await.expect("start dev server");
        TestApp {
            running,
            backend,
            client: reqwest::Client::new(),
            jwt,
            memberships: Default::default(),
            _data_dir: data_dir,
        }
    }

    pub fn services(&self) -> &Services {
        &self.running.services
    }

    pub fn url(&self, path: &str) -> String {
        self.running.url(path)
    }

    /// From now on `user` signs in as a member of `workspace` with `role` (`admin` or
    /// `member`); until then, into their personal workspace.
    pub fn join(&self, user: &str, workspace: &str, role: &'static str) {
        self.memberships
            .lock()
            .unwrap()
            .insert(user.to_owned(), (workspace.to_owned(), role));
    }

    /// From now on `user` signs in without a workspace: into their personal one.
    pub fn leave(&self, user: &str) {
        self.memberships.lock().unwrap().remove(user);
    }

    /// Who `user` is to the API: the workspace they joined, else their personal one.
    pub fn tenant(&self, user: &str) -> pipeline::domain::Tenant {
        let user_id = pipeline::domain::UserId::parse(user).expect("valid user id");
        match self.memberships.lock().unwrap().get(user) {
            Some((workspace, _)) => pipeline::domain::Tenant::new(
                pipeline::domain::WorkspaceId::parse(workspace).expect("valid workspace id"),
                user_id,
            ),
            None => pipeline::domain::Tenant::personal(user_id),
        }
    }

    pub fn token(&self, user: &str) -> String {
        let membership = self.memberships.lock().unwrap().get(user).cloned();
        let identity = &self.services().config.identity;
        let claims = match &membership {
            Some((workspace, role)) => {
                auth::membership_claims(identity, Some(workspace), Some(role))
            }
            None => Vec::new(),
        };
        auth::mint_with(&self.jwt, user, 3600, &claims).expect("mint token")
    }

    /// `GET path` as `user` (or anonymously); the status and the JSON body.
    pub async fn get(&self, path: &str, user: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.client.get(self.url(path));
        if let Some(user) = user {
            req = req.bearer_auth(self.token(user));
        }
        read(req.send().await.expect("request")).await
    }

    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        user: &str,
        body: &Value,
    ) -> (StatusCode, Value) {
        let req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(self.token(user))
            .json(body);
        read(req.send().await.expect("request")).await
    }
}

pub async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("response body");
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, json)
}

/// Asserts an error response: the status, and a JSON body `{"error": {"code", "message"}}`.
pub fn assert_error(actual: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(actual.0, status, "body: {}", actual.1);
    assert_eq!(actual.1["error"]["code"], code, "body: {}", actual.1);
    assert!(
        actual.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error message present: {}",
        actual.1
    );
}

/// Polls `check` until it holds, failing the test after `seconds` (a generous bound for a
/// condition that should hold within milliseconds).
pub async fn eventually<F, Fut>(seconds: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
