//! The import stages: credentials -> fetch -> dedup -> normalize -> persist, and the jobs
//! that drive them.

pub mod activity;
pub mod claims;
pub mod connect;
pub mod connections;
pub mod credentials;
pub mod deliveries;
pub mod derive;
pub mod jobs;
pub mod media;
pub mod messages;
pub mod oauth_state;
pub mod outbound;
pub mod persist;
pub mod schedule;
pub mod sync;
pub mod upload_import;
pub mod webhook_import;
