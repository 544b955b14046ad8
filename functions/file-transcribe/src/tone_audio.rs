//! Generated recordings for tests and the benchmark: tone bursts of known pitch with silence
//! between them, written as 16 kHz 16-bit mono WAV straight to disk, a block at a time. The fake
//! transcription API hears each burst as `tone <Hz>`, so a transcript can be checked against
//! the bursts that were played.

use std::io::{BufWriter, Write};
use std::path::Path;

pub const RATE: u32 = 16_000;
const HEADER_BYTES: u64 = 44;
const BYTES_PER_SECOND: u64 = RATE as u64 * 2;
const AMPLITUDE: f64 = 0.5 * i16::MAX as f64;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Burst {
    pub start_seconds: f64,
    pub end_seconds: f64,
    pub hz: u32,
}

impl Burst {
    /// What the fake transcription API hears.
    pub fn text(&self) -> String {
        format!("tone {}", self.hz)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToneRecording {
    pub seconds: f64,
    pub bursts: Vec<Burst>,
}

/// A small deterministic generator (xorshift64*), so a seed always makes the same file.
struct Random(u64);

impl Random {
    /// A number in [0, 1).
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl ToneRecording {
    /// Bursts of 1.5 to 5 s, 1 to 3 s apart, at pitches between 300 and 1,250 Hz, filling
    /// `seconds`. Different seeds make different files.
    pub fn new(seconds: f64, seed: u64) -> Self {
        let mut random = Random(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut bursts = Vec::new();
        let mut at = 0.3 + random.next();
        loop {
            let length = 1.5 + 3.5 * random.next();
            if at + length > seconds - 0.3 {
                break;
            }
            let hz = 300 + 50 * (random.next() * 20.0) as u32;
            bursts.push(Burst {
                start_seconds: at,
                end_seconds: at + length,
                hz,
            });
            at += length + 1.0 + 2.0 * random.next();
        }
        Self { seconds, bursts }
    }

    /// A recording whose WAV file is about `bytes` long.
    pub fn of_wav_size(bytes: u64, seed: u64) -> Self {
        Self::new(
            bytes.saturating_sub(HEADER_BYTES) as f64 / BYTES_PER_SECOND as f64,
            seed,
        )
    }

    pub fn frames(&self) -> u64 {
        (self.seconds * f64::from(RATE)) as u64
    }

    /// The transcript the fake API gives for this recording, in order.
    pub fn texts(&self) -> Vec<String> {
        self.bursts.iter().map(Burst::text).collect()
    }

    /// Writes the recording as WAV; never holds more than one block of it in memory.
    pub fn write_wav(&self, path: &Path) -> std::io::Result<()> {
        let frames = self.frames();
        let data_bytes = u32::try_from(frames * 2)
            .map_err(|_| std::io::Error::other("a WAV file stops at 4 GB"))?;
        let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
        out.write_all(b"RIFF")?;
        out.write_all(&(data_bytes + 36).to_le_bytes())?;
        out.write_all(b"WAVEfmt ")?;
        out.write_all(&16u32.to_le_bytes())?;
        out.write_all(&1u16.to_le_bytes())?; // PCM
        out.write_all(&1u16.to_le_bytes())?; // mono
        out.write_all(&RATE.to_le_bytes())?;
        out.write_all(&(RATE * 2).to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&16u16.to_le_bytes())?;
        out.write_all(b"data")?;
        out.write_all(&data_bytes.to_le_bytes())?;

        const BLOCK_FRAMES: u64 = 8_192;
        let mut block = Vec::with_capacity(BLOCK_FRAMES as usize * 2);
        let mut bursts = self.bursts.iter().peekable();
        let mut frame = 0;
        while frame < frames {
            block.clear();
            for index in frame..(frame + BLOCK_FRAMES).min(frames) {
                let t = index as f64 / f64::from(RATE);
                while bursts.next_if(|b| b.end_seconds <= t).is_some() {}
                let sample = match bursts.peek() {
                    Some(b) if b.start_seconds <= t => {
                        let phase =
                            2.0 * std::f64::consts::PI * f64::from(b.hz) * (t - b.start_seconds);
                        (phase.sin() * AMPLITUDE) as i16
                    }
                    _ => 0,
                };
                block.extend_from_slice(&sample.to_le_bytes());
            }
            out.write_all(&block)?;
            frame += BLOCK_FRAMES;
        }
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_fill_the_recording_in_order_with_silence_between() {
        let recording = ToneRecording::new(120.0, 7);
        assert!(recording.bursts.len() > 15, "{}", recording.bursts.len());
        for pair in recording.bursts.windows(2) {
            assert!(pair[1].start_seconds - pair[0].end_seconds >= 1.0);
        }
        let last = recording.bursts.last().unwrap();
        assert!(last.end_seconds <= 119.7 && last.end_seconds > 110.0);
        assert_eq!(ToneRecording::new(120.0, 7), recording);
        assert_ne!(ToneRecording::new(120.0, 8).bursts, recording.bursts);
    }

    #[test]
    fn the_wav_holds_silence_and_the_bursts_where_planned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tones.wav");
        let recording = ToneRecording::new(10.0, 3);
        recording.write_wav(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, HEADER_BYTES + recording.frames() * 2);
        let sample = |seconds: f64| {
            let at = HEADER_BYTES as usize + 2 * (seconds * f64::from(RATE)) as usize;
            i16::from_le_bytes([bytes[at], bytes[at + 1]])
        };
        let first = recording.bursts[0];
        assert_eq!(sample(first.start_seconds / 2.0), 0);
        let loudest = (0..200)
            .map(|i| {
                sample(first.start_seconds + 0.1 + f64::from(i) / f64::from(RATE)).unsigned_abs()
            })
            .max()
            .unwrap();
        assert!(loudest > 15_000, "{loudest}");
    }
}
