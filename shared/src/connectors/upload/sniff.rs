//! The real format of an uploaded file, read from its first bytes rather than its name, and the
//! upload-start check on the name and MIME type the client declares.

use std::fmt;

/// How many leading bytes `sniff` needs to see to recognise every format it knows.
pub const SNIFF_LEN: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaFormat {
    Mp3,
    Wav,
    Flac,
    Ogg,
    M4a,
    Mp4,
    Mov,
    WebM,
    Matroska,
}

impl MediaFormat {
    /// The extension the transcription API reads the format from when the file is sent as it is.
    /// MOV is a QuickTime variant of MP4 and Matroska the parent of WebM, so each goes under the
    /// name of the relative the API accepts.
    pub fn api_extension(self) -> &'static str {
        match self {
            MediaFormat::Mp3 => "mp3",
            MediaFormat::Wav => "wav",
            MediaFormat::Flac => "flac",
            MediaFormat::Ogg => "ogg",
            MediaFormat::M4a => "m4a",
            MediaFormat::Mp4 | MediaFormat::Mov => "mp4",
            MediaFormat::WebM | MediaFormat::Matroska => "webm",
        }
    }

    /// The usual extension of the format, a hint for the demuxer.
    pub fn extension(self) -> &'static str {
        match self {
            MediaFormat::Mov => "mov",
            MediaFormat::Matroska => "mkv",
            other => other.api_extension(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MediaFormat::Mp3 => "MP3",
            MediaFormat::Wav => "WAV",
            MediaFormat::Flac => "FLAC",
            MediaFormat::Ogg => "Ogg",
            MediaFormat::M4a => "M4A",
            MediaFormat::Mp4 => "MP4",
            MediaFormat::Mov => "MOV",
            MediaFormat::WebM => "WebM",
            MediaFormat::Matroska => "Matroska",
        }
    }
}

impl fmt::Display for MediaFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SniffError {
    #[error("the file is empty")]
    Empty,
    #[error("this file is not audio or video callsync can read (looks like {0})")]
    LooksLike(&'static str),
    #[error("this file is not audio or video callsync can read")]
    Unknown,
}

/// Recognises the container from the first bytes of a file (at least `SNIFF_LEN` when the file
/// is that long).
pub fn sniff(head: &[u8]) -> Result<MediaFormat, SniffError> {
    if head.is_empty() {
        return Err(SniffError::Empty);
    }
    if head.starts_with(b"RIFF") && head.get(8..12) == Some(b"WAVE") {
        return Ok(MediaFormat::Wav);
    }
    if head.starts_with(b"fLaC") {
        return Ok(MediaFormat::Flac);
    }
    if head.starts_with(b"OggS") {
        return Ok(MediaFormat::Ogg);
    }
    if head.get(4..8) == Some(b"ftyp") {
        return Ok(iso_bmff_format(head));
    }
    if head.starts_with(&EBML_MAGIC) {
        return ebml_format(head);
    }
    if head.starts_with(b"ID3") || is_mpeg_audio_frame(head) {
        return Ok(MediaFormat::Mp3);
    }
    Err(describe_other(head).map_or(SniffError::Unknown, SniffError::LooksLike))
}

/// The ISO base media file format names its flavour in the `ftyp` major brand.
fn iso_bmff_format(head: &[u8]) -> MediaFormat {
    match head.get(8..12) {
        Some(b"qt  ") => MediaFormat::Mov,
        Some(b"M4A ") | Some(b"M4B ") | Some(b"M4P ") => MediaFormat::M4a,
        _ => MediaFormat::Mp4,
    }
}

const EBML_MAGIC: [u8; 4] = [0x1A, 0x45, 0xDF, 0xA3];
const EBML_DOCTYPE_ID: [u8; 2] = [0x42, 0x82];

/// Matroska and WebM share the EBML header; its `DocType` element tells them apart.
fn ebml_format(head: &[u8]) -> Result<MediaFormat, SniffError> {
    let doctype_at = head
        .windows(2)
        .position(|w| w == EBML_DOCTYPE_ID)
        .map(|i| i + 2);
    let doctype = doctype_at.and_then(|at| {
        // The element size is a one-byte EBML varint (0x80 | len) for every real doctype.
        let size_byte = *head.get(at)?;
        if size_byte & 0x80 == 0 {
            return None;
        }
        let len = usize::from(size_byte & 0x7F);
        head.get(at + 1..at + 1 + len)
    });
    match doctype {
        Some(b"webm") => Ok(MediaFormat::WebM),
        Some(b"matroska") => Ok(MediaFormat::Matroska),
        _ => Err(SniffError::LooksLike(
            "an EBML document that is neither WebM nor Matroska",
        )),
    }
}

/// An MPEG audio layer III frame header: 11 sync bits, then no reserved version, layer III, and
/// neither the "bad" bitrate nor the reserved sample rate. Layer II and I streams are accepted
/// too, as the decoder and the API read them.
fn is_mpeg_audio_frame(head: &[u8]) -> bool {
    let [b0, b1, b2, ..] = head else { return false };
    let sync = *b0 == 0xFF && b1 & 0xE0 == 0xE0;
    let version_ok = (b1 >> 3) & 0b11 != 0b01;
    let layer_ok = (b1 >> 1) & 0b11 != 0b00;
    let bitrate_ok = b2 >> 4 != 0b1111;
    let rate_ok = (b2 >> 2) & 0b11 != 0b11;
    sync && version_ok && layer_ok && bitrate_ok && rate_ok
}

/// Names the common kinds of non-media files so the user learns what they uploaded.
fn describe_other(head: &[u8]) -> Option<&'static str> {
    const SIGNATURES: &[(&[u8], &str)] = &[
        (b"%PDF", "a PDF document"),
        (b"PK\x03\x04", "a ZIP archive or an Office document"),
        (b"\x89PNG", "a PNG image"),
        (b"\xFF\xD8\xFF", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"\x1F\x8B", "a gzip archive"),
        (b"Rar!", "a RAR archive"),
        (b"7z\xBC\xAF", "a 7-Zip archive"),
        (b"\x7FELF", "a program"),
        (b"MZ", "a Windows program"),
        (b"{\\rtf", "an RTF document"),
        (b"\xD0\xCF\x11\xE0", "an old Office document"),
    ];
    if let Some((_, name)) = SIGNATURES.iter().find(|(magic, _)| head.starts_with(magic)) {
        return Some(name);
    }
    if head.get(4..8) == Some(b"moov") || head.get(4..8) == Some(b"mdat") {
        return Some("an MP4 without its `ftyp` header");
    }
    looks_like_text(head).then_some("text")
}

fn looks_like_text(head: &[u8]) -> bool {
    // A multi-byte character may be cut at the end of the sample.
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && e.valid_up_to() > 0,
    };
    valid
        && head
            .iter()
            .all(|&b| b >= 0x20 || matches!(b, b'\n' | b'\r' | b'\t'))
}

/// Extensions and MIME types accepted when an upload starts.
const ACCEPTED: &[(&str, &[&str], MediaFormat)] = &[
    (
        "mp3",
        &["audio/mpeg", "audio/mp3", "audio/mpeg3", "audio/x-mpeg-3"],
        MediaFormat::Mp3,
    ),
    (
        "wav",
        &["audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"],
        MediaFormat::Wav,
    ),
    (
        "m4a",
        &["audio/mp4", "audio/m4a", "audio/x-m4a"],
        MediaFormat::M4a,
    ),
    ("mp4", &["video/mp4"], MediaFormat::Mp4),
    ("mov", &["video/quicktime"], MediaFormat::Mov),
    ("webm", &["audio/webm", "video/webm"], MediaFormat::WebM),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{filename}` ({content_type}) is not a supported upload; accepted types are MP3, WAV, M4A, MP4, MOV and WebM")]
pub struct UnsupportedUpload {
    pub filename: String,
    pub content_type: String,
}

/// The format a new upload claims to be, from its file name's extension or else its MIME type.
/// The claim is checked again against the content once the file has arrived.
pub fn accepted_upload_type(
    filename: &str,
    content_type: &str,
) -> Result<MediaFormat, UnsupportedUpload> {
    let extension = filename
        .rsplit_once('.')
        .map(|(_, ext)| ext.trim().to_ascii_lowercase());
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let by_extension = ACCEPTED
        .iter()
        .find(|(ext, _, _)| extension.as_deref() == Some(*ext));
    let by_mime = ACCEPTED
        .iter()
        .find(|(_, mimes, _)| mimes.contains(&mime.as_str()));
    by_extension
        .or(by_mime)
        .map(|(_, _, format)| *format)
        .ok_or_else(|| UnsupportedUpload {
            filename: filename.to_owned(),
            content_type: content_type.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn padded(prefix: &[u8]) -> Vec<u8> {
        let mut bytes = prefix.to_vec();
        bytes.resize(SNIFF_LEN, 0);
        bytes
    }

    #[test]
    fn recognises_each_container_from_its_header() {
        let cases: &[(&[u8], MediaFormat)] = &[
            (b"RIFF\x24\x00\x00\x00WAVEfmt ", MediaFormat::Wav),
            (b"fLaC\x00\x00\x00\x22", MediaFormat::Flac),
            (b"OggS\x00\x02", MediaFormat::Ogg),
            (b"ID3\x04\x00\x00", MediaFormat::Mp3),
            (&[0xFF, 0xFB, 0x90, 0x64], MediaFormat::Mp3),
            (
                b"\x00\x00\x00\x1cftypM4A \x00\x00\x02\x00",
                MediaFormat::M4a,
            ),
            (
                b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00",
                MediaFormat::Mp4,
            ),
            (
                b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00",
                MediaFormat::Mp4,
            ),
            (
                b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00",
                MediaFormat::Mov,
            ),
            (
                b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm",
                MediaFormat::WebM,
            ),
            (
                b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska",
                MediaFormat::Matroska,
            ),
        ];
        for (head, expected) in cases {
            assert_eq!(sniff(&padded(head)), Ok(*expected), "header {head:?}");
        }
    }

    #[test]
    fn names_common_non_media_files() {
        let pdf = sniff(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3").unwrap_err();
        assert_eq!(pdf, SniffError::LooksLike("a PDF document"));
        assert!(pdf
            .to_string()
            .contains("not audio or video callsync can read (looks like a PDF document)"));
        assert_eq!(
            sniff(b"PK\x03\x04\x14\x00"),
            Err(SniffError::LooksLike("a ZIP archive or an Office document"))
        );
        assert_eq!(
            sniff(b"Meeting notes, Tuesday\n- budget"),
            Err(SniffError::LooksLike("text"))
        );
        assert_eq!(
            sniff(&[0x00, 0x13, 0x77, 0x90, 0x01]),
            Err(SniffError::Unknown)
        );
        assert_eq!(sniff(b""), Err(SniffError::Empty));
    }

    #[test]
    fn rejects_byte_patterns_that_only_resemble_mpeg_sync() {
        // Reserved MPEG version, layer bits 00 (ADTS AAC), bad bitrate, reserved sample rate.
        for head in [
            [0xFF, 0xEB, 0x90, 0x00],
            [0xFF, 0xF1, 0x50, 0x80],
            [0xFF, 0xFB, 0xF0, 0x00],
            [0xFF, 0xFB, 0x9C, 0x00],
        ] {
            assert!(sniff(&head).is_err(), "{head:x?}");
        }
    }

    #[test]
    fn ebml_without_a_known_doctype_is_refused() {
        let err = sniff(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84abcd").unwrap_err();
        assert!(err.to_string().contains("neither WebM nor Matroska"));
    }

    #[test]
    fn upload_type_is_accepted_by_extension_or_mime_type() {
        assert_eq!(
            accepted_upload_type("standup.MP3", ""),
            Ok(MediaFormat::Mp3)
        );
        assert_eq!(
            accepted_upload_type("call.m4a", "application/octet-stream"),
            Ok(MediaFormat::M4a)
        );
        assert_eq!(
            accepted_upload_type("recording", "audio/webm;codecs=opus"),
            Ok(MediaFormat::WebM)
        );
        assert_eq!(
            accepted_upload_type("screen.mov", "video/quicktime"),
            Ok(MediaFormat::Mov)
        );
        assert_eq!(
            accepted_upload_type("voice memo", "Audio/X-WAV"),
            Ok(MediaFormat::Wav)
        );
        assert_eq!(accepted_upload_type("clip.mp4", ""), Ok(MediaFormat::Mp4));
    }

    #[test]
    fn other_upload_types_are_refused_with_the_accepted_list() {
        let err = accepted_upload_type("notes.pdf", "application/pdf").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("notes.pdf"), "{message}");
        assert!(
            message.contains("MP3, WAV, M4A, MP4, MOV and WebM"),
            "{message}"
        );
        assert!(accepted_upload_type("archive.zip", "").is_err());
        assert!(accepted_upload_type("", "text/plain").is_err());
    }
}
