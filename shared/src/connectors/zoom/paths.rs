//! Meeting UUIDs in URL paths.
//!
//! A UUID is base64-like and may hold `/`, `+` and `=`. Zoom decodes path segments once
//! before routing, so a UUID that starts with `/` or contains `//` would still break the
//! route after that decoding; Zoom therefore requires such UUIDs to be encoded twice.
//! Every other UUID is encoded once, which still escapes the `/`, `+` and `=` inside it.

/// The UUID as it goes between `/meetings/` and `/recordings`.
pub fn meeting_path_segment(uuid: &str) -> String {
    let once = percent_encode(uuid);
    if uuid.starts_with('/') || uuid.contains("//") {
        percent_encode(&once)
    } else {
        once
    }
}

/// Escapes every byte except RFC 3986's unreserved characters, with uppercase hex.
fn percent_encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leading_slash_is_encoded_twice() {
        assert_eq!(meeting_path_segment("/abc=="), "%252Fabc%253D%253D");
    }

    #[test]
    fn a_double_slash_is_encoded_twice() {
        assert_eq!(meeting_path_segment("ab//cd"), "ab%252F%252Fcd");
    }

    #[test]
    fn other_uuids_are_encoded_once() {
        assert_eq!(meeting_path_segment("aB3+x="), "aB3%2Bx%3D");
        assert_eq!(meeting_path_segment("ab/cd"), "ab%2Fcd");
        assert_eq!(
            meeting_path_segment("4444AAAiAAAAAiAiAiiAii=="),
            "4444AAAiAAAAAiAiAiiAii%3D%3D"
        );
    }

    #[test]
    fn the_result_is_always_a_single_safe_segment() {
        for uuid in ["/abc==", "ab//cd", "aB3+x=", "a?b#c d", "é/ü", ""] {
            let segment = meeting_path_segment(uuid);
            assert!(
                segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
                "{uuid:?} -> {segment:?}"
            );
        }
    }
}
