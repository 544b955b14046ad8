//! Implementations of the ports: `local` (SQLite, files, SQLite queue) and `aws`.

pub mod aws;
pub mod local;
