//! Which function serves what: every HTTP function, queue consumer and scheduled function of
//! callsync registered on a dev server.

use crate::{Backend, DevServer, HttpFunction};
use pipeline::adapters::local::purge_expired;
use std::sync::Arc;

/// An HTTP function crate (`ROUTES` and `handle`) as a dev-server function.
macro_rules! http_function {
    ($krate:ident) => {
        HttpFunction {
            name: stringify!($krate),
            routes: $krate::ROUTES,
            handler: Arc::new(|services, request| {
                Box::pin(async move { $krate::handle(&services, request).await })
            }),
        }
    };
}

/// Every HTTP function.
pub fn http_functions() -> Vec<HttpFunction> {
    vec![
        http_function!(sources),
        http_function!(recordings),
        http_function!(jobs),
        http_function!(oauth_initiate),
        http_function!(oauth_callback),
        http_function!(fetch_meetings),
        http_function!(uploads),
        http_function!(webhook),
        http_function!(webhook_endpoints),
        http_function!(crm),
    ]
}

/// How long a queue-driven invocation may run, as the template's function timeouts.
const QUEUE_FUNCTION_TIMEOUT: chrono::Duration = chrono::Duration::minutes(15);

/// The whole system on `backend`.
pub fn callsync(backend: impl Into<Backend>, jwt: crate::auth::JwtSecret) -> DevServer {
    let backend = backend.into();
    let local_db = match &backend {
        Backend::Local(local) => Some(local.db.clone()),
        Backend::Aws(_) => None,
    };
    let mut server = http_functions()
        .into_iter()
        .fold(DevServer::new(backend, jwt), DevServer::http);
    if let Some(db) = local_db {
        // What DynamoDB's TTL does in AWS: expired states, receipts, leases, old jobs.
        server = server.schedule(
            "purge-expired",
            Arc::new(move |services, _event| {
                let db = db.clone();
                Box::pin(async move { purge_expired(&db, services.clock.now()).await.map(|_| ()) })
            }),
        );
    }
    server
        .consume_sync(Arc::new(|services, event| {
            Box::pin(async move {
                let deadline = services.clock.now() + QUEUE_FUNCTION_TIMEOUT;
                sync_meetings::handle(&services, event, deadline).await
            })
        }))
        .consume_transcribe(Arc::new(|services, event| {
            Box::pin(async move {
                let deadline = services.clock.now() + QUEUE_FUNCTION_TIMEOUT;
                file_transcribe::handle(&services, event, deadline).await
            })
        }))
        .consume_events(Arc::new(|services, event| {
            Box::pin(async move { deliver_events::handle(&services, event).await })
        }))
        .schedule(
            "cron-sync",
            Arc::new(|services, event| {
                Box::pin(async move { cron_sync::handle(&services, event).await.map(|_| ()) })
            }),
        )
}
