//! `dev-server`: run callsync on this machine. `dev-server token --user NAME` prints a token.

use anyhow::{bail, Context, Result};
use dev_server::auth::{self, JwtSecret};
use dev_server::Backend;
use fakes::demo::{self, Demo};
use pipeline::adapters::local::{create_data_dir, load_secrets_from, LocalBackend};
use pipeline::config::{Backend as ConfigBackend, Config, Env, DEFAULT_PORT};
use pipeline::ports::SystemClock;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const USAGE: &str = "usage: dev-server            run the system (PORT, DEV_JWT_SECRET, ...)\n       dev-server token --user NAME [--workspace ID [--role admin|member]] [--ttl-secs N]\n                                  print a bearer token (no workspace: the personal one)";

fn jwt_secret(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<JwtSecret> {
    Ok(JwtSecret::new(env.required("DEV_JWT_SECRET")?))
}

#[tokio::main]
async fn main() -> Result<()> {
    pipeline::runtime::init_tracing();
    let env = Env(|name: &str| std::env::var(name).ok());
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => serve(&env).await,
        Some("token") => {
            let (mut user, mut workspace, mut role) = (None, None, None);
            let mut ttl = 24 * 3600;
            let mut rest = args[1..].iter();
            while let Some(flag) = rest.next() {
                match (flag.as_str(), rest.next()) {
                    ("--user", Some(v)) => user = Some(v.clone()),
                    ("--workspace", Some(v)) => workspace = Some(v.clone()),
                    ("--role", Some(v)) => role = Some(v.clone()),
                    ("--ttl-secs", Some(v)) => {
                        ttl = v.parse().context("--ttl-secs takes a whole number")?
                    }
                    _ => bail!("{USAGE}"),
                }
            }
            let user = user.context(USAGE)?;
            auth::check_membership(workspace.as_deref(), role.as_deref())
                .map_err(|(_, message)| anyhow::anyhow!("{message}"))?;
            let config = Config::from_lookup(|name| env.get(name))?;
            let claims =
                auth::membership_claims(&config.identity, workspace.as_deref(), role.as_deref());
            println!(
                "{}",
                auth::mint_with(&jwt_secret(&env)?, &user, ttl, &claims)?
            );
            Ok(())
        }
        Some(_) => bail!("{USAGE}"),
    }
}

/// Where the built Import Hub is: `WEB_DIST_DIR`, else web/dist of this checkout.
fn web_root(env: &Env<impl Fn(&str) -> Option<String>>) -> PathBuf {
    if let Some(dir) = env.get("WEB_DIST_DIR") {
        return PathBuf::from(dir);
    }
    let here = PathBuf::from("web/dist");
    if here.is_dir() {
        return here;
    }
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../web/dist"))
}

async fn serve(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<()> {
    let jwt = jwt_secret(env)?;
    let port = env.number("PORT", DEFAULT_PORT.into())?;
    let cron = Duration::from_secs(env.number("CRON_INTERVAL_SECS", 3600)?.max(1));
    let visibility = Duration::from_secs(env.number("QUEUE_VISIBILITY_SECS", 60)?.max(1));
    let names: Vec<String> = std::env::vars().map(|(name, _)| name).collect();
    let demo = if demo::wanted(|name| env.get(name), &names) {
        Some(Arc::new(Demo::start().await?))
    } else {
        None
    };
    // Demo settings fill in only what the environment leaves unset.
    let config = Config::from_lookup(|name| {
        env.get(name)
            .or_else(|| demo.as_ref().and_then(|d| d.var(name)))
    })?;
    let backend = match config.backend {
        ConfigBackend::Local => {
            create_data_dir(&config.local_data_dir)?;
            // Demo secrets, too, fill in only what the environment leaves unset.
            let secrets = load_secrets_from(&config, |name| {
                std::env::var(name)
                    .ok()
                    .filter(|v| !v.trim().is_empty())
                    .or_else(|| demo.as_ref().and_then(|d| d.var(name)))
            })?;
            let local =
                LocalBackend::open_with(Arc::new(config), Arc::new(SystemClock), Some(secrets))
                    .context("opening the local backend")?;
            Backend::from(local)
        }
        // The resources are named by TABLE_NAME, AUDIO_BUCKET, the queue URLs and SECRETS_ARN
        // (whose secret holds what the environment holds on the local backend), reached
        // through AWS_ENDPOINT_URL when it is set.
        ConfigBackend::Aws => Backend::Aws(Box::new(
            pipeline::adapters::aws::build(Arc::new(config))
                .await
                .context("building the aws backend")?,
        )),
    };
    let web_root = web_root(env);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port as u16))
        .await
        .with_context(|| format!("binding 127.0.0.1:{port} (set PORT to use another)"))?;
    let mut server = dev_server::app::callsync(backend, jwt)
        .cron_interval(cron)
        .visibility(visibility)
        .web_root(&web_root)
        .cors(env.get("CORS_ALLOWED_ORIGIN"));
    if let Some(demo) = &demo {
        server = server.demo(demo.clone());
    }
    let running = server.start(listener).await?;
    let config = &running.services.config;
    match &config.aws {
        None => tracing::info!(
            "callsync dev server on http://{} (data in {})",
            running.addr,
            config.local_data_dir.display()
        ),
        Some(aws) => tracing::info!(
            "callsync dev server on http://{} (aws backend: table {})",
            running.addr,
            aws.table_name
        ),
    }
    match &demo {
        Some(demo) => tracing::info!(
            "DEMO PROVIDERS in use: every provider is a local fake ({demo:?}); \
             set real provider variables, or DEMO=0, to turn them off"
        ),
        None => tracing::info!("real providers in use (demo providers off)"),
    }
    if web_root.join("index.html").is_file() {
        tracing::info!(
            "Import Hub on http://{}/ (from {})",
            running.addr,
            web_root.display()
        );
    } else {
        tracing::warn!(
            "the Import Hub is not built ({} is missing): run `make web`",
            web_root.join("index.html").display()
        );
    }
    tokio::signal::ctrl_c().await?;
    Ok(())
}
