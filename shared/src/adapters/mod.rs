//! Implementations of the ports: `local` (SQLite, files, SQLite queue) and `aws`.

pub mod aws;
#[cfg(feature = "local")]
pub mod local;
