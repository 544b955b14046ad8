//! `dev-server`: run callsync on this machine. `dev-server token --user NAME` prints a token.

use anyhow::{bail, Context, Result};
use dev_server::auth::{self, JwtSecret};
use pipeline::adapters::local::LocalBackend;
use pipeline::config::{Config, Env, DEFAULT_PORT};
use std::sync::Arc;
use std::time::Duration;

const USAGE: &str = "usage: dev-server            run the system (PORT, DEV_JWT_SECRET, ...)\n       dev-server token --user NAME [--ttl-secs N]   print a bearer token";

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
            let mut user = None;
            let mut ttl = 24 * 3600;
            let mut rest = args[1..].iter();
            while let Some(flag) = rest.next() {
                match (flag.as_str(), rest.next()) {
                    ("--user", Some(v)) => user = Some(v.clone()),
                    ("--ttl-secs", Some(v)) => {
                        ttl = v.parse().context("--ttl-secs takes a whole number")?
                    }
                    _ => bail!("{USAGE}"),
                }
            }
            let user = user.context(USAGE)?;
            println!("{}", auth::mint(&jwt_secret(&env)?, &user, ttl)?);
            Ok(())
        }
        Some(_) => bail!("{USAGE}"),
    }
}

async fn serve(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<()> {
    let jwt = jwt_secret(env)?;
    let port = env.number("PORT", DEFAULT_PORT.into())?;
    let cron = Duration::from_secs(env.number("CRON_INTERVAL_SECS", 3600)?.max(1));
    let visibility = Duration::from_secs(env.number("QUEUE_VISIBILITY_SECS", 60)?.max(1));
    let config = Config::from_env()?;
    let backend = LocalBackend::open(Arc::new(config)).context("opening the local backend")?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port as u16))
        .await
        .with_context(|| format!("binding 127.0.0.1:{port} (set PORT to use another)"))?;
    let running = dev_server::app::callsync(backend, jwt)
        .cron_interval(cron)
        .visibility(visibility)
        .start(listener)
        .await?;
    tracing::info!(
        "callsync dev server on http://{} (data in {})",
        running.addr,
        running.services.config.local_data_dir.display()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
