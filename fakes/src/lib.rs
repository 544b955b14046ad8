//! Fakes of the third-party APIs callsync talks to. Each runs as a real HTTP server on a free
//! loopback port, behaves like the documented API (including its failures), and stops when
//! its handle is dropped.

pub mod chat;
pub mod demo;
pub mod fathom;
#[cfg(test)]
mod raw_http;
pub mod transcribe;
pub mod zoom;
