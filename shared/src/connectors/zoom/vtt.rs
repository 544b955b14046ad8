//! Zoom's WebVTT transcript into transcript segments.
//!
//! Zoom writes one cue per utterance: a number, `HH:MM:SS.mmm --> HH:MM:SS.mmm`, then
//! `Speaker Name: text` (no prefix when Zoom could not tell who spoke). Parsing is forgiving:
//! a cue that cannot be read is skipped rather than failing the transcript, and no input
//! panics. Only a body that is not WebVTT at all is refused, so an HTML login page or a JSON
//! error served in place of the file is not stored as an empty transcript.

use super::error::ZoomWireError;
use crate::domain::TranscriptSegment;

/// Longest prefix before `: ` still read as a speaker's name.
const MAX_SPEAKER_CHARS: usize = 60;

/// The cues of a WebVTT file, in file order. Multi-line cue text is joined with spaces;
/// cues with no text, `NOTE`, `STYLE` and `REGION` blocks are left out.
///
/// Refused only when the first non-blank line is not `WEBVTT` (optionally followed by a
/// space or tab and header text; a byte order mark is allowed).
pub fn parse_vtt(text: &str) -> Result<Vec<TranscriptSegment>, ZoomWireError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut blocks = blocks(&normalized);

    let Some(header) = blocks
        .next()
        .filter(|block| block.first().copied().is_some_and(is_header))
    else {
        return Err(ZoomWireError::Decode {
            context: "transcript",
            detail: "the file does not start with a WEBVTT header".into(),
        });
    };
    // A first cue written without the blank line after the header is still read.
    let first = cue(&header[1..]);
    Ok(first
        .into_iter()
        .chain(blocks.filter_map(|block| cue(&block)))
        .collect())
}

/// Distinct speaker names in order of first appearance.
pub fn speakers(segments: &[TranscriptSegment]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in segments.iter().filter_map(|s| s.speaker.as_deref()) {
        if !names.iter().any(|known| known == name) {
            names.push(name.to_owned());
        }
    }
    names
}

/// Groups of consecutive non-blank lines. A line of only whitespace counts as blank.
fn blocks(text: &str) -> impl Iterator<Item = Vec<&str>> {
    let mut lines = text.split('\n').peekable();
    std::iter::from_fn(move || {
        while lines.peek().is_some_and(|line| line.trim().is_empty()) {
            lines.next();
        }
        let mut block = Vec::new();
        while let Some(line) = lines.next_if(|line| !line.trim().is_empty()) {
            block.push(line);
        }
        (!block.is_empty()).then_some(block)
    })
}

fn is_header(line: &str) -> bool {
    line.strip_prefix("WEBVTT")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

fn cue(block: &[&str]) -> Option<TranscriptSegment> {
    let first = *block.first()?;
    let first_line = first.trim_end();
    let is_other_block = ["NOTE", "STYLE", "REGION"].iter().any(|keyword| {
        first_line
            .strip_prefix(keyword)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
    });
    if is_other_block {
        return None;
    }
    // The identifier line is optional; the timing line is whichever of the first two has
    // the arrow.
    let timing_index = block.iter().take(2).position(|line| line.contains("-->"))?;
    let (start, _) = block[timing_index].split_once("-->")?;
    let start_seconds = timestamp(start.trim())?;

    let text = block[timing_index + 1..]
        .iter()
        .map(|line| line.trim())
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let text = unescape(&text);
    let (speaker, text) = split_speaker(&text);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(TranscriptSegment {
        speaker: speaker.map(str::to_owned),
        start_seconds,
        text: text.to_owned(),
    })
}

/// `HH:MM:SS.mmm` (hours may run past 99) or `MM:SS.mmm`, in seconds. A comma before the
/// milliseconds is accepted too, as some exporters write SubRip style.
fn timestamp(raw: &str) -> Option<f64> {
    let parts: Vec<&str> = raw.split(':').collect();
    let (hours, minutes, seconds) = match parts.as_slice() {
        [h, m, s] => (*h, *m, *s),
        [m, s] => ("0", *m, *s),
        _ => return None,
    };
    let (whole, fraction) = seconds.split_once(['.', ',']).unwrap_or((seconds, "0"));
    let digits = |s: &str, max_len: usize| {
        !s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(hours, 9) || !digits(minutes, 2) || !digits(whole, 2) || !digits(fraction, 9) {
        return None;
    }
    let hours: u64 = hours.parse().ok()?;
    let minutes: u64 = minutes.parse().ok()?;
    let whole: u64 = whole.parse().ok()?;
    if minutes >= 60 || whole >= 60 {
        return None;
    }
    let fraction: f64 = format!("0.{fraction}").parse().ok()?;
    Some((hours * 3600 + minutes * 60 + whole) as f64 + fraction)
}

/// Splits `Speaker Name: text`. The prefix before the first `: ` is a speaker when it is
/// non-blank, at most 60 characters, and reads like a name rather than a sentence: none of
/// `? ! ; : "` and no trailing `.` or `,` (so `Dr. Ruiz` and `Smith, Ann` are names).
/// A sentence such as `Note: we ship Friday` still yields the speaker `Note`: Zoom puts a
/// name there whenever it knows one, so the rare short lead-in is the price of simplicity.
fn split_speaker(text: &str) -> (Option<&str>, &str) {
    let Some((prefix, rest)) = text.split_once(": ") else {
        return (None, text);
    };
    let name = prefix.trim();
    let looks_like_name = !name.is_empty()
        && name.chars().count() <= MAX_SPEAKER_CHARS
        && !name.contains(['?', '!', ';', ':', '"'])
        && !name.ends_with(['.', ',']);
    if looks_like_name {
        (Some(name), rest)
    } else {
        (None, text)
    }
}

/// The character references WebVTT defines for cue text.
fn unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    const REFERENCES: [(&str, &str); 6] = [
        ("&amp;", "&"),
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&nbsp;", " "),
        ("&lrm;", "\u{200e}"),
        ("&rlm;", "\u{200f}"),
    ];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match REFERENCES.iter().find(|(from, _)| rest.starts_with(from)) {
            Some((from, to)) => {
                out.push_str(to);
                rest = &rest[from.len()..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ZOOM_VTT: &str = "WEBVTT\n\n\
        1\n00:00:02.350 --> 00:00:05.120\nAlice Martin: Good morning, everyone.\n\n\
        2\n00:00:05.900 --> 00:00:09.010\nBo Chen: Morning! Can you hear me?\n\n\
        3\n00:00:09.500 --> 00:00:12.000\nso the budget comes first\n\n\
        4\n01:02:03.004 --> 01:02:06.000\nAlice Martin: Let's wrap up.\n";

    fn summary(segments: &[TranscriptSegment]) -> Vec<(Option<&str>, f64, &str)> {
        segments
            .iter()
            .map(|s| (s.speaker.as_deref(), s.start_seconds, s.text.as_str()))
            .collect()
    }

    #[test]
    fn zoom_cues_become_segments_with_speakers() {
        let segments = parse_vtt(ZOOM_VTT).unwrap();
        assert_eq!(
            summary(&segments),
            vec![
                (Some("Alice Martin"), 2.35, "Good morning, everyone."),
                (Some("Bo Chen"), 5.9, "Morning! Can you hear me?"),
                (None, 9.5, "so the budget comes first"),
                (Some("Alice Martin"), 3723.004, "Let's wrap up."),
            ]
        );
        assert_eq!(speakers(&segments), ["Alice Martin", "Bo Chen"]);
    }

    #[test]
    fn crlf_bom_header_text_and_missing_identifiers_are_handled() {
        let vtt = "\u{feff}WEBVTT - Zoom transcript\r\nKind: captions\r\n\r\n\
            00:01.500 --> 00:03.000 align:start\r\nAlice: first line\r\n  second line \r\n\r\n\r\n\
            7\r\n00:00:04.000 --> 00:00:05.000\r\nno speaker here\r\n";
        assert_eq!(
            summary(&parse_vtt(vtt).unwrap()),
            vec![
                (Some("Alice"), 1.5, "first line second line"),
                (None, 4.0, "no speaker here"),
            ]
        );
    }

    #[test]
    fn a_cue_right_after_the_header_is_kept() {
        let vtt = "WEBVTT\n1\n00:00:01.000 --> 00:00:02.000\nAlice: no blank line\n\n\
            2\n00:00:03.000 --> 00:00:04.000\nBo: next\n";
        assert_eq!(
            summary(&parse_vtt(vtt).unwrap()),
            vec![
                (Some("Alice"), 1.0, "no blank line"),
                (Some("Bo"), 3.0, "next")
            ]
        );
        let header_text =
            "WEBVTT\nKind: captions\nLanguage: en\n\n00:00:01.000 --> 00:00:02.000\nhi\n";
        assert_eq!(
            summary(&parse_vtt(header_text).unwrap()),
            vec![(None, 1.0, "hi")]
        );
    }

    #[test]
    fn notes_styles_and_unreadable_cues_are_skipped() {
        let vtt =
            "WEBVTT\n\nNOTE this is a comment\nspanning lines\n\nSTYLE\n::cue { color: red }\n\n\
            1\n00:00:01.000 --> 00:00:02.000\nAlice: kept\n\n\
            2\nnot a timing line\nAlice: dropped\n\n\
            3\n00:61:00.000 --> 00:62:00.000\nAlice: bad minutes\n\n\
            4\n00:00:03.000 --> 00:00:04.000\n\n\
            5\n00:00:05.000 --> 00:00:06.000\nBo: &lt;laughs&gt; fish &amp; chips &amp;c\n";
        assert_eq!(
            summary(&parse_vtt(vtt).unwrap()),
            vec![
                (Some("Alice"), 1.0, "kept"),
                (Some("Bo"), 5.0, "<laughs> fish & chips &c"),
            ]
        );
    }

    #[test]
    fn sentence_like_prefixes_are_not_speakers() {
        for text in [
            "Why not? Because: reasons",
            "She said \"hi\": then left",
            "Well; then: silence",
            "It ended.: odd",
            "see http://example.com: later",
            "A very long lead-in that keeps going well past sixty characters: yes",
            ": empty prefix",
        ] {
            let (speaker, rest) = split_speaker(text);
            assert_eq!((speaker, rest), (None, text), "{text}");
        }
        assert_eq!(split_speaker("Dr. Ruiz: hi"), (Some("Dr. Ruiz"), "hi"));
        assert_eq!(split_speaker("Smith, Ann: hi"), (Some("Smith, Ann"), "hi"));
        assert_eq!(split_speaker("at 10:30 sharp"), (None, "at 10:30 sharp"));
        // The documented limit: a short lead-in reads as a speaker.
        assert_eq!(
            split_speaker("Note: we ship Friday"),
            (Some("Note"), "we ship Friday")
        );
        assert_eq!(
            split_speaker("Ann: the ratio: 2 to 1"),
            (Some("Ann"), "the ratio: 2 to 1")
        );
    }

    #[test]
    fn timestamps_parse_in_both_forms() {
        assert_eq!(timestamp("00:00:00.000"), Some(0.0));
        assert_eq!(timestamp("00:01:05.250"), Some(65.25));
        assert_eq!(timestamp("100:00:00.000"), Some(360000.0));
        assert_eq!(timestamp("02:03.5"), Some(123.5));
        assert_eq!(timestamp("00:00:07,100"), Some(7.1));
        assert_eq!(timestamp("00:00:07"), Some(7.0));
        for bad in [
            "",
            "7",
            "00:60:00.000",
            "00:00:60.000",
            "a:00:00.000",
            "1:2:3:4",
            "00:00:-1.0",
        ] {
            assert_eq!(timestamp(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_body_that_is_not_webvtt_is_refused() {
        for body in [
            "",
            "<html>Sign in</html>",
            "{\"code\":124}",
            "WEBVTTX\n",
            "1\n00:00:01.000 --> 00:00:02.000\nhi",
        ] {
            assert!(parse_vtt(body).is_err(), "{body:?}");
        }
        assert_eq!(parse_vtt("WEBVTT").unwrap(), vec![]);
        assert_eq!(parse_vtt("\n\nWEBVTT\n\n").unwrap(), vec![]);
    }

    proptest! {
        #[test]
        fn any_text_parses_without_panicking(text in any::<String>()) {
            let _ = parse_vtt(&text);
            let _ = parse_vtt(&format!("WEBVTT\n\n{text}"));
        }

        #[test]
        fn cue_shaped_noise_parses_without_panicking(
            lines in proptest::collection::vec(
                "([0-9:.,]{0,14}( --> [0-9:.]{0,14})?|[A-Za-z &;:!?.\"]{0,40}|\r?)",
                0..40,
            ),
        ) {
            let body = format!("WEBVTT\n\n{}", lines.join("\n"));
            if let Ok(segments) = parse_vtt(&body) {
                for segment in &segments {
                    prop_assert!(segment.start_seconds.is_finite() && segment.start_seconds >= 0.0);
                    prop_assert!(!segment.text.trim().is_empty());
                }
                prop_assert!(speakers(&segments).len() <= segments.len());
            }
        }

        #[test]
        fn generated_cues_round_trip(
            cues in proptest::collection::vec(
                (0u64..360_000, 0u32..1000, proptest::option::of("[A-Z][a-z]{1,10}( [A-Z][a-z]{1,10})?"), "[a-z]{1,8}( [a-z]{1,8}){0,6}"),
                0..20,
            ),
        ) {
            let mut body = String::from("WEBVTT\n");
            for (i, (seconds, millis, speaker, text)) in cues.iter().enumerate() {
                let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
                body.push_str(&format!("\n{}\n{h:02}:{m:02}:{s:02}.{millis:03} --> 99:00:00.000\n", i + 1));
                match speaker {
                    Some(name) => body.push_str(&format!("{name}: {text}\n")),
                    None => body.push_str(&format!("{text}\n")),
                }
            }
            let segments = parse_vtt(&body).unwrap();
            prop_assert_eq!(segments.len(), cues.len());
            for (segment, (seconds, millis, speaker, text)) in segments.iter().zip(&cues) {
                let expected = *seconds as f64 + f64::from(*millis) / 1000.0;
                prop_assert!((segment.start_seconds - expected).abs() < 1e-6);
                prop_assert_eq!(segment.speaker.as_ref(), speaker.as_ref());
                prop_assert_eq!(&segment.text, text);
            }
        }
    }
}
