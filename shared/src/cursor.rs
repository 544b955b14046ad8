//! Page cursors as the API hands them out: the backend's (or provider's) own cursor, bound to
//! the listing it came from and signed, so a cursor a client made up or edited, or one taken
//! from another listing or user, is refused with 400 `invalid_cursor` before any backend or
//! provider reads it.

use crate::crypto::SealingKey;
use crate::ports::InvalidCursor;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Bytes of the signature kept in a cursor: forging one means guessing 128 bits.
const TAG_LEN: usize = 16;
/// Longest cursor accepted, before anything is decoded.
const MAX_CURSOR_LEN: usize = 4096;

/// Signs and checks cursors with a key derived from the sealing key.
#[derive(Clone)]
pub struct CursorSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for CursorSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorSigner([redacted])")
    }
}

impl CursorSigner {
    pub fn new(sealing_key: &SealingKey) -> Self {
        CursorSigner {
            key: sealing_key.derive("callsync page cursors v1"),
        }
    }

    fn tag(&self, scope: &str, raw: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC takes keys of any length");
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(raw.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The cursor to hand out for the backend's `raw` cursor of listing `scope` (a listing
    /// and whose it is, e.g. `recordings:alice`).
    pub fn sign(&self, scope: &str, raw: &str) -> String {
        let tag = self.tag(scope, raw);
        format!("{}.{}", B64.encode(raw), B64.encode(&tag[..TAG_LEN]))
    }

    /// The backend's cursor inside `cursor`, when this API handed it out for `scope`.
    pub fn open(&self, scope: &str, cursor: &str) -> Result<String, InvalidCursor> {
        if cursor.len() > MAX_CURSOR_LEN {
            return Err(InvalidCursor);
        }
        let (raw, tag) = cursor.split_once('.').ok_or(InvalidCursor)?;
        let raw = B64
            .decode(raw)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or(InvalidCursor)?;
        let tag = B64.decode(tag).map_err(|_| InvalidCursor)?;
        let expected = self.tag(scope, &raw);
        let genuine = tag.len() == TAG_LEN && bool::from(tag.ct_eq(&expected[..TAG_LEN]));
        genuine.then_some(raw).ok_or(InvalidCursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> CursorSigner {
        CursorSigner::new(&SealingKey::from_base64(&SealingKey::generate_base64()).unwrap())
    }

    #[test]
    fn a_signed_cursor_opens_only_for_its_listing() {
        let signer = signer();
        let cursor = signer.sign("recordings:alice", "MTIzOnJlY18x");
        assert_eq!(
            signer.open("recordings:alice", &cursor).unwrap(),
            "MTIzOnJlY18x"
        );
        assert!(signer.open("recordings:bob", &cursor).is_err());
        assert!(signer.open("meetings:alice", &cursor).is_err());
        assert!(self::signer().open("recordings:alice", &cursor).is_err());
    }

    #[test]
    fn made_up_and_edited_cursors_are_refused() {
        let signer = signer();
        let cursor = signer.sign("recordings:alice", "100:rec_a");
        let (raw, tag) = cursor.split_once('.').unwrap();
        let forged = format!("{}.{tag}", B64.encode("999999:rec_a"));
        for bad in [
            "",
            "zzz",
            "MTIz",
            ".",
            forged.as_str(),
            &format!("{raw}."),
            &format!("{raw}.{}", &tag[..tag.len() - 2]),
            &"a".repeat(5000),
        ] {
            assert_eq!(
                signer.open("recordings:alice", bad),
                Err(InvalidCursor),
                "{bad}"
            );
        }
    }
}
