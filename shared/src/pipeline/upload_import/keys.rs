//! Where an upload's file is staged in the blob store, and the title a recording takes from
//! the file's name.

use crate::domain::{Tenant, UploadId, UserId, WorkspaceId};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Staged uploads live under this prefix: the bucket notifies the transcribe queue of new
/// objects under it, and expires them.
pub const STAGED_PREFIX: &str = "uploads/";

/// Longest file name kept in a staged key.
const KEY_FILENAME_MAX: usize = 100;

/// Bytes of an id escaped in a key: all but letters, digits and `-`.
const ID_ESCAPED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-');

/// An upload a staged key names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedUpload {
    pub owner: Tenant,
    pub upload_id: UploadId,
}

/// Where an upload's file is staged: `uploads/{workspace}/{user}/{upload id}/{file name}`.
/// The ids are escaped and the file name reduced to `[A-Za-z0-9._-]`, so the key reads the
/// same in a URL, in a local path and in an S3 notification, which URL-encodes keys.
pub fn staged_key(owner: &Tenant, upload: &UploadId, filename: &str) -> String {
    format!(
        "{STAGED_PREFIX}{}/{}/{upload}/{}",
        escape_id(owner.workspace.as_str()),
        escape_id(owner.user.as_str()),
        key_filename(filename)
    )
}

/// The upload a staged key names; `None` for any other key. A key from before workspaces
/// (`uploads/{user}/{upload id}/{file name}`) names an upload in the personal workspace.
pub fn staged_upload(key: &str) -> Option<StagedUpload> {
    let parts: Vec<&str> = key.strip_prefix(STAGED_PREFIX)?.split('/').collect();
    let (workspace, user, upload, filename) = match parts[..] {
        [workspace, user, upload, filename] => (Some(workspace), user, upload, filename),
        [user, upload, filename] => (None, user, upload, filename),
        _ => return None,
    };
    if filename.is_empty() {
        return None;
    }
    let workspace = match workspace {
        Some(w) => Some(WorkspaceId::parse(&unescape_id(w)?).ok()?),
        None => None,
    };
    Some(StagedUpload {
        owner: Tenant::named(workspace, UserId::parse(&unescape_id(user)?).ok()?),
        upload_id: UploadId::parse(upload).ok()?,
    })
}

/// Percent-encoding with `_` for `%`: letters, digits and `-` stay, every other byte becomes
/// `_` and two hex digits (so `_` itself is always an escape).
fn escape_id(raw: &str) -> String {
    utf8_percent_encode(raw, ID_ESCAPED)
        .to_string()
        .replace('%', "_")
}

/// The id an escaped key segment names; `None` unless the segment is exactly what
/// `escape_id` makes of some id.
fn unescape_id(escaped: &str) -> Option<String> {
    let decoded = percent_decode_str(&escaped.replace('_', "%"))
        .decode_utf8()
        .ok()?
        .into_owned();
    (escape_id(&decoded) == escaped).then_some(decoded)
}

/// A key as S3 notifications carry it: URL-encoded, with spaces as `+`.
pub fn decode_s3_key(raw: &str) -> Option<String> {
    percent_decode_str(&raw.replace('+', " "))
        .decode_utf8()
        .ok()
        .map(|key| key.into_owned())
}

/// The file name as the key carries it: safe characters only, runs of others as one `-`, no
/// leading dot, at most `KEY_FILENAME_MAX` characters with the extension kept.
fn key_filename(filename: &str) -> String {
    let base = filename.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut safe = String::with_capacity(base.len());
    for c in base.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            c
        } else {
            '-'
        };
        if !(c == '-' && safe.ends_with('-')) {
            safe.push(c);
        }
    }
    let safe = safe.trim_start_matches(['.', '-']);
    if safe.is_empty() {
        return "upload".into();
    }
    if safe.len() <= KEY_FILENAME_MAX {
        return safe.to_owned();
    }
    // Only ASCII is left, so byte offsets are character offsets.
    match safe.rsplit_once('.') {
        Some((stem, extension)) if extension.len() < 16 => {
            let keep = KEY_FILENAME_MAX - extension.len() - 1;
            format!("{}.{extension}", &stem[..keep.min(stem.len())])
        }
        _ => safe[..KEY_FILENAME_MAX].to_owned(),
    }
}

/// Words of the names devices and apps give recordings, which say nothing of the meeting.
const GENERIC_WORDS: &[&str] = &[
    "audio",
    "call",
    "file",
    "gmt",
    "img",
    "meeting",
    "memo",
    "new",
    "rec",
    "recording",
    "track",
    "untitled",
    "uploaded",
    "vid",
    "video",
    "voice",
];

/// Whether `title` (from a file name) says nothing of the meeting: only digits, separators
/// and words such as "recording" or "voice memo" (`GMT20260302-100102_Recording`,
/// `New Recording 12`, `IMG_1234`).
pub fn generic_title(title: &str) -> bool {
    title
        .to_lowercase()
        .split(|c: char| !c.is_alphabetic())
        .filter(|word| !word.is_empty())
        .all(|word| GENERIC_WORDS.contains(&word))
}

/// The title a recording takes from its file name: the name without folders or extension.
pub fn recording_title(filename: &str) -> String {
    let base = filename
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .trim();
    let stem = match base.rsplit_once('.') {
        Some((stem, _)) if !stem.trim().is_empty() => stem.trim(),
        _ => base,
    };
    if stem.is_empty() {
        "Uploaded recording".into()
    } else {
        stem.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(workspace: &str, user: &str) -> Tenant {
        Tenant::new(
            WorkspaceId::parse(workspace).unwrap(),
            UserId::parse(user).unwrap(),
        )
    }

    #[test]
    fn staged_keys_name_their_upload_whatever_the_ids() {
        let upload = UploadId::new();
        for raw in ["alice", "auth0|5f1c_2", "ada@acme.test", "..", "Zoë/β"] {
            let owner = member(&format!("org/{raw}"), raw);
            let key = staged_key(&owner, &upload, "call.mp3");
            assert!(
                key.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b)),
                "{key}"
            );
            assert!(
                key.split('/').all(|part| !part.is_empty() && part != ".."),
                "{key}"
            );
            let found = staged_upload(&key).unwrap();
            assert_eq!((&found.owner, &found.upload_id), (&owner, &upload));
        }
        assert_eq!(
            staged_key(&member("acme", "alice"), &upload, "call.mp3"),
            format!("uploads/acme/alice/{upload}/call.mp3")
        );
        assert_eq!(escape_id("auth0|5f1c_2"), "auth0_7C5f1c_5F2");
    }

    #[test]
    fn keys_from_before_workspaces_name_personal_uploads() {
        let upload = UploadId::new();
        let found = staged_upload(&format!("uploads/auth0_7Cx/{upload}/call.mp3")).unwrap();
        assert_eq!(
            found.owner,
            Tenant::personal(UserId::parse("auth0|x").unwrap())
        );
    }

    #[test]
    fn other_keys_name_no_upload() {
        let id = UploadId::new();
        for key in [
            format!("transcripts/alice/{id}/call.mp3"),
            format!("uploads/alice/{id}"),
            format!("uploads/alice/{id}/"),
            format!("uploads/acme/alice/{id}/a/call.mp3"),
            "uploads/alice/upl_123/call.mp3".into(),
            format!("uploads/al_zzice/{id}/call.mp3"),
            format!("uploads/al_2/{id}/call.mp3"),
            // Escaped, but not as a staged key escapes it.
            format!("uploads/al_69ce/{id}/call.mp3"),
        ] {
            assert_eq!(staged_upload(&key), None, "{key}");
        }
    }

    #[test]
    fn file_names_in_keys_keep_their_extension_and_only_safe_characters() {
        assert_eq!(
            key_filename("Weekly call (final).mp3"),
            "Weekly-call-final-.mp3"
        );
        assert_eq!(key_filename("C:\\Users\\ada\\réunion.m4a"), "r-union.m4a");
        assert_eq!(key_filename("../../etc/passwd"), "passwd");
        assert_eq!(key_filename("..."), "upload");
        let long = format!("{}.webm", "a".repeat(300));
        let cut = key_filename(&long);
        assert_eq!(cut.len(), KEY_FILENAME_MAX);
        assert!(cut.ends_with("a.webm"), "{cut}");
    }

    #[test]
    fn names_devices_give_are_generic_titles() {
        for generic in [
            "GMT20260302-100102_Recording",
            "New Recording 12",
            "IMG_1234",
            "20260302 101500",
            "Uploaded recording",
        ] {
            assert!(generic_title(generic), "{generic}");
        }
        for named in ["Acme pilot review", "standup", "Weekly call.final"] {
            assert!(!generic_title(named), "{named}");
        }
    }

    #[test]
    fn titles_drop_folders_and_the_extension() {
        assert_eq!(
            recording_title("Weekly call.final.mp3"),
            "Weekly call.final"
        );
        assert_eq!(recording_title("C:\\fakepath\\standup.wav"), "standup");
        assert_eq!(recording_title(".mp3"), ".mp3");
        assert_eq!(recording_title("  "), "Uploaded recording");
    }

    #[test]
    fn s3_keys_are_url_decoded_with_plus_as_space() {
        assert_eq!(
            decode_s3_key("uploads/a/my+call%281%29.mp3").unwrap(),
            "uploads/a/my call(1).mp3"
        );
        assert_eq!(decode_s3_key("r%C3%A9union.m4a").unwrap(), "réunion.m4a");
        assert_eq!(decode_s3_key("a%2Bb").unwrap(), "a+b");
        assert_eq!(decode_s3_key("bad%FF"), None, "not UTF-8");
    }
}
