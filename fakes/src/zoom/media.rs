//! The bytes behind recording files: a WAV of tones for the audio and video files (clients
//! sniff the bytes, not the name), a WebVTT transcript, and the JSON of a timeline.

use super::meetings::FakeZoomCue;
use serde_json::json;

const SAMPLE_RATE: u32 = 16_000;
const HEADER_LEN: u64 = 44;

/// Size of the WAV `wav` makes for `seconds` of audio.
pub(crate) fn wav_len(seconds: u32) -> u64 {
    HEADER_LEN + u64::from(seconds) * u64::from(SAMPLE_RATE) * 2
}

/// 16 kHz mono PCM16: each second holds 0.8 s of a tone (its pitch changes every second) and
/// 0.2 s of silence, so a listener can tell the seconds apart.
pub(crate) fn wav(seconds: u32) -> Vec<u8> {
    let samples = seconds * SAMPLE_RATE;
    let data_len = samples * 2;
    let mut out = Vec::with_capacity(wav_len(seconds) as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&(SAMPLE_RATE * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..samples {
        let second = i / SAMPLE_RATE;
        let within = i % SAMPLE_RATE;
        let value = if within < SAMPLE_RATE * 8 / 10 {
            let hz = f64::from(330 + 110 * (second % 5));
            let t = f64::from(i) / f64::from(SAMPLE_RATE);
            0.4 * (2.0 * std::f64::consts::PI * hz * t).sin()
        } else {
            0.0
        };
        out.extend_from_slice(&((value * f64::from(i16::MAX)) as i16).to_le_bytes());
    }
    out
}

/// `HH:MM:SS.mmm`.
fn timestamp(ms: u32) -> String {
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

pub(crate) fn vtt(cues: &[FakeZoomCue]) -> String {
    let mut out = String::from("WEBVTT\n");
    for (n, cue) in cues.iter().enumerate() {
        out.push_str(&format!(
            "\n{}\n{} --> {}\n",
            n + 1,
            timestamp(cue.start_ms),
            timestamp(cue.end_ms)
        ));
        match &cue.speaker {
            Some(speaker) => out.push_str(&format!("{speaker}: {}\n", cue.text)),
            None => out.push_str(&format!("{}\n", cue.text)),
        }
    }
    out
}

/// Who was speaking when, as Zoom's `TIMELINE` file lists it.
pub(crate) fn timeline(cues: &[FakeZoomCue]) -> String {
    let entries: Vec<_> = cues
        .iter()
        .filter_map(|cue| {
            let speaker = cue.speaker.as_ref()?;
            Some(json!({
                "ts": timestamp(cue.start_ms),
                "users": [{"username": speaker, "multiple_people": false}],
            }))
        })
        .collect();
    json!({"timeline": entries}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_header_describes_16k_mono_pcm16() {
        let bytes = wav(2);
        assert_eq!(bytes.len() as u64, wav_len(2));
        assert_eq!(&bytes[0..4], b"RIFF");
        assert_eq!(&bytes[8..16], b"WAVEfmt ");
        assert_eq!(
            u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]),
            16_000
        );
        assert_eq!(
            u32::from_le_bytes([bytes[40], bytes[41], bytes[42], bytes[43]]),
            64_000
        );
        assert!(bytes[44..].iter().any(|b| *b != 0));
    }

    #[test]
    fn vtt_cues_have_numbers_times_and_optional_speakers() {
        let cues = [
            FakeZoomCue {
                start_ms: 1000,
                end_ms: 4500,
                speaker: Some("Mei Chen".into()),
                text: "Hello.".into(),
            },
            FakeZoomCue {
                start_ms: 3_723_004,
                end_ms: 3_725_000,
                speaker: None,
                text: "Bye.".into(),
            },
        ];
        assert_eq!(
            vtt(&cues),
            "WEBVTT\n\n1\n00:00:01.000 --> 00:00:04.500\nMei Chen: Hello.\n\n2\n01:02:03.004 --> 01:02:05.000\nBye.\n"
        );
    }
}
