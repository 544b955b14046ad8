//! System tests: the dev-server app with a fresh data directory on a free port, driven over
//! HTTP as a user would.

mod changes;
mod crm;
mod dev_server_mechanisms;
mod fathom;
mod hub_api;
mod infra;
mod oauth_security;
mod openapi;
mod outbound_webhooks;
mod plugins;
mod quota;
mod read_api;
mod schedule;
mod stuck_jobs;
mod teams;
mod uploads;
mod webhook_intake;
mod webhooks;
mod zoom;
