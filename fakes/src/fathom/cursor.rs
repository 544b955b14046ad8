//! Opaque page cursors: standard base64 of a position, shaped so that every cursor holds `+`,
//! `/` and `=`. A client that forgets to URL-encode it sends a cursor that no longer decodes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Encodes to `++//`, so every cursor starts with characters a query string must escape.
const MAGIC: [u8; 3] = [0xfb, 0xef, 0xff];

/// Where a listing stopped: the last item returned, in listing order (newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub created_at_millis: i64,
    pub recording_id: u64,
}

pub(crate) fn encode(position: Position) -> String {
    let mut payload = format!(
        "v1:{}:{}",
        position.created_at_millis, position.recording_id
    )
    .into_bytes();
    // A payload one byte past a multiple of three ends the base64 text in `==`.
    while (MAGIC.len() + payload.len()) % 3 != 1 {
        payload.push(b'~');
    }
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&payload);
    STANDARD.encode(bytes)
}

pub(crate) fn decode(cursor: &str) -> Option<Position> {
    let bytes = STANDARD.decode(cursor).ok()?;
    let payload = bytes.strip_prefix(&MAGIC)?;
    let text = std::str::from_utf8(payload).ok()?.trim_end_matches('~');
    let mut parts = text.split(':');
    if parts.next()? != "v1" {
        return None;
    }
    let created_at_millis = parts.next()?.parse().ok()?;
    let recording_id = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some(Position {
        created_at_millis,
        recording_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_need_escaping() {
        for (millis, id) in [(0, 1), (1_736_150_400_000, 123_456_789), (42, 10)] {
            let position = Position {
                created_at_millis: millis,
                recording_id: id,
            };
            let cursor = encode(position);
            assert!(
                cursor.starts_with("++//") && cursor.ends_with("=="),
                "{cursor}"
            );
            assert_eq!(decode(&cursor), Some(position));
            assert_eq!(decode(&cursor.replace('+', " ")), None);
        }
        assert_eq!(decode("not a cursor"), None);
    }
}
