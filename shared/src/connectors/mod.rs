//! One folder per source: a connector turns provider data into pipeline records.

pub mod fathom;
pub mod upload;
pub mod zoom;
