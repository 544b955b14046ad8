//! `pipeline`: everything the callsync functions share.

pub mod adapters;
pub mod config;
pub mod connectors;
pub mod crypto;
pub mod cursor;
pub mod domain;
#[cfg(feature = "http")]
pub mod http;
pub mod pipeline;
pub mod ports;
pub mod providers;
pub mod queue_events;
pub mod retry;
pub mod runtime;
pub mod secrets;
pub mod services;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod views;
pub mod webhook;
