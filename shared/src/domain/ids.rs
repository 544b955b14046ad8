//! Identifier newtypes. Each is built only through `parse` (input from outside) or `new`
//! (a fresh id), so a value of the type is always well-formed.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an identifier or enum value from outside was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} is not valid: {reason}")]
pub struct InvalidValue {
    pub what: &'static str,
    pub reason: String,
}

impl InvalidValue {
    pub fn new(what: &'static str, reason: impl Into<String>) -> Self {
        Self {
            what,
            reason: reason.into(),
        }
    }
}

fn check_token(what: &'static str, raw: &str, max: usize) -> Result<(), InvalidValue> {
    if raw.is_empty() {
        return Err(InvalidValue::new(what, "it is empty"));
    }
    if raw.len() > max {
        return Err(InvalidValue::new(
            what,
            format!("it is longer than {max} characters"),
        ));
    }
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(InvalidValue::new(
            what,
            "it contains whitespace or control characters",
        ));
    }
    Ok(())
}

/// The conversions every string-backed id shares: serde through `String`, and `Display`.
macro_rules! string_id_conversions {
    ($name:ident) => {
        impl TryFrom<String> for $name {
            type Error = InvalidValue;
            fn try_from(raw: String) -> Result<Self, InvalidValue> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// Generated ids: a short prefix that says what the id names, then a UUID without dashes.
macro_rules! generated_id {
    ($name:ident, $prefix:literal, $what:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn new() -> Self {
                Self(format!("{}{}", $prefix, uuid::Uuid::new_v4().simple()))
            }

            /// The same id every time for the same `name` (its SHA-256, shortened to the
            /// UUID's length), for things that must be found again rather than made twice.
            pub fn derived_from(name: &str) -> Self {
                let digest = super::recording::hex_digest(name.as_bytes());
                Self(format!("{}{}", $prefix, &digest[..32]))
            }

            pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
                let hex = raw.strip_prefix($prefix).ok_or_else(|| {
                    InvalidValue::new($what, format!("expected an id starting with `{}`", $prefix))
                })?;
                if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(InvalidValue::new($what, "malformed id"));
                }
                Ok(Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        string_id_conversions!($name);
    };
}

generated_id!(RecordingId, "rec_", "recording id");
generated_id!(ConnectionId, "con_", "connection id");
generated_id!(JobId, "job_", "job id");
generated_id!(UploadId, "upl_", "upload id");
generated_id!(EndpointId, "whe_", "webhook endpoint id");

/// Ids that come from elsewhere (the identity provider, a source's API).
macro_rules! external_token {
    ($name:ident, $max:literal, $what:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
                check_token($what, raw, $max)?;
                Ok(Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        string_id_conversions!($name);
    };
}

external_token!(UserId, 256, "user id");
// Room for a personal workspace's id: `personal:` and a user id.
external_token!(WorkspaceId, 265, "workspace id");
external_token!(ExternalId, 256, "external id");

/// Where a recording comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Fathom,
    Zoom,
    Upload,
}

impl Source {
    /// Every source callsync knows, in the order a dashboard lists them.
    pub const ALL: [Source; 3] = [Source::Fathom, Source::Zoom, Source::Upload];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Fathom => "fathom",
            Source::Zoom => "zoom",
            Source::Upload => "upload",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Source::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| {
                InvalidValue::new(
                    "source",
                    format!("`{raw}` is not one of fathom, zoom, upload"),
                )
            })
    }

    /// Sources a user connects to an account (uploads need no connection).
    pub fn is_connectable(self) -> bool {
        !matches!(self, Source::Upload)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_round_trip_and_reject_foreign_shapes() {
        let id = RecordingId::new();
        assert_eq!(RecordingId::parse(id.as_str()).unwrap(), id);
        assert!(RecordingId::parse("rec_123").is_err());
        assert!(RecordingId::parse(JobId::new().as_str()).is_err());
        assert!(RecordingId::parse("").is_err());
    }

    #[test]
    fn user_ids_refuse_empty_and_whitespace() {
        assert!(UserId::parse("alice").is_ok());
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse("a b").is_err());
        assert!(UserId::parse(&"x".repeat(300)).is_err());
    }

    #[test]
    fn sources_parse_by_name_only() {
        assert_eq!(Source::parse("fathom").unwrap(), Source::Fathom);
        assert!(Source::parse("Fathom").is_err());
        assert!(Source::parse("teams").is_err());
    }
}
