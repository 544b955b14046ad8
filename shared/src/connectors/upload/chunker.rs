//! Cuts a 16 kHz mono stream into WAV chunks small enough for one transcription request,
//! preferring to cut where it is quiet and repeating a short overlap at each cut so a word
//! spoken across the cut is heard whole by one of the two requests.

use super::decode::TARGET_RATE;
use bytes::Bytes;
use std::io::Cursor;

/// Bytes per second of 16-bit mono audio at the target rate.
pub const WAV_BYTES_PER_SECOND: u64 = TARGET_RATE as u64 * 2;
const WAV_HEADER_BYTES: u64 = 44;
/// Length of the window whose energy decides where to cut.
const QUIET_WINDOW_SECONDS: f64 = 0.4;
/// Step between candidate windows.
const QUIET_HOP_SAMPLES: usize = TARGET_RATE as usize / 100;
/// A chunk whose loudest sample stays below this (about -60 dBFS) is digital silence. It is not
/// sent: speech models invent words for silence.
const SILENCE_PEAK: u16 = 33;

/// Where and how long the chunks are, in samples at the target rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkPlan {
    pub max_samples: usize,
    pub overlap_samples: usize,
    /// How far back from the longest allowed cut to look for a quiet place.
    pub search_samples: usize,
}

impl ChunkPlan {
    /// A plan for chunks of at most `max_seconds` whose WAV encoding stays within `max_wav_bytes`.
    /// The overlap and the search are trimmed so that every cut still moves forward.
    pub fn new(
        max_seconds: f64,
        overlap_seconds: f64,
        search_seconds: f64,
        max_wav_bytes: u64,
    ) -> Self {
        let rate = f64::from(TARGET_RATE);
        let by_size = (max_wav_bytes.saturating_sub(WAV_HEADER_BYTES) / 2) as usize;
        let max_samples = ((max_seconds.max(1.0) * rate) as usize)
            .min(by_size)
            .max(TARGET_RATE as usize);
        let overlap_samples = ((overlap_seconds.max(0.0) * rate) as usize).min(max_samples / 4);
        let window = (QUIET_WINDOW_SECONDS * rate) as usize;
        let search_room = max_samples.saturating_sub(overlap_samples + window) / 2;
        let search_samples = ((search_seconds.max(0.0) * rate) as usize).min(search_room);
        Self {
            max_samples,
            overlap_samples,
            search_samples,
        }
    }

    pub fn max_seconds(&self) -> f64 {
        self.max_samples as f64 / f64::from(TARGET_RATE)
    }

    /// A guess at the number of chunks for audio of `seconds`, before the cuts are known.
    pub fn estimated_chunks(&self, seconds: f64) -> usize {
        let samples = (seconds.max(0.0) * f64::from(TARGET_RATE)) as usize;
        if samples <= self.max_samples {
            return 1;
        }
        let step = (self.max_samples - self.overlap_samples - self.search_samples / 2).max(1);
        (samples - self.overlap_samples).div_ceil(step)
    }
}

/// One chunk, encoded as a 16-bit mono WAV at the target rate.
#[derive(Debug, Clone)]
pub struct WavChunk {
    pub index: usize,
    pub start_seconds: f64,
    pub duration_seconds: f64,
    /// True when the chunk holds nothing but digital silence.
    pub silent: bool,
    pub wav: Bytes,
}

impl WavChunk {
    pub fn end_seconds(&self) -> f64 {
        self.start_seconds + self.duration_seconds
    }
}

pub struct Chunker {
    plan: ChunkPlan,
    /// Samples not yet sent in full; `buffer[0]` is sample number `buffer_start` of the stream.
    buffer: Vec<i16>,
    buffer_start: u64,
    /// Samples at the head of `buffer` that the previous chunk already carried.
    carried: usize,
    next_index: usize,
}

impl Chunker {
    pub fn new(plan: ChunkPlan) -> Self {
        Self {
            plan,
            // Room for a full chunk and the piece that completes it, so the buffer never
            // doubles past what a chunk needs; pages are only touched as audio arrives.
            buffer: Vec::with_capacity(plan.max_samples + TARGET_RATE as usize),
            buffer_start: 0,
            carried: 0,
            next_index: 0,
        }
    }

    pub fn push(&mut self, samples: &[f32]) {
        self.buffer.extend(
            samples
                .iter()
                .map(|s| (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16),
        );
    }

    /// True when enough audio has arrived for a full chunk.
    pub fn ready(&self) -> bool {
        self.buffer.len() >= self.plan.max_samples
    }

    /// Cuts the next full chunk, if enough audio has arrived for one.
    pub fn take_chunk(&mut self) -> Option<WavChunk> {
        if !self.ready() {
            return None;
        }
        let cut = self.quietest_cut();
        let chunk = self.encode(cut);
        let keep_from = cut - self.plan.overlap_samples;
        self.buffer.drain(..keep_from);
        self.buffer_start += keep_from as u64;
        self.carried = self.plan.overlap_samples;
        Some(chunk)
    }

    /// The last chunk: whatever came after the previous cut, if anything did.
    pub fn finish(mut self) -> Option<WavChunk> {
        (self.buffer.len() > self.carried).then(|| self.encode(self.buffer.len()))
    }

    /// The middle of the quietest window in the search region before the longest allowed cut;
    /// among equally quiet windows the latest, so chunks stay as long as allowed.
    fn quietest_cut(&self) -> usize {
        let end = self.plan.max_samples;
        let start = end - self.plan.search_samples;
        let window = ((QUIET_WINDOW_SECONDS * f64::from(TARGET_RATE)) as usize)
            .min(self.plan.search_samples);
        if window == 0 {
            return end;
        }
        let mut energy = vec![0u64; end - start + 1];
        for (i, sample) in self.buffer[start..end].iter().enumerate() {
            energy[i + 1] = energy[i] + (i64::from(*sample) * i64::from(*sample)) as u64;
        }
        let mut best = (u64::MAX, end);
        let mut offset = 0;
        while offset + window <= end - start {
            let e = energy[offset + window] - energy[offset];
            if e <= best.0 {
                best = (e, start + offset + window / 2);
            }
            offset += QUIET_HOP_SAMPLES;
        }
        best.1
    }

    fn encode(&mut self, len: usize) -> WavChunk {
        let samples = &self.buffer[..len];
        let index = self.next_index;
        self.next_index += 1;
        WavChunk {
            index,
            start_seconds: self.buffer_start as f64 / f64::from(TARGET_RATE),
            duration_seconds: len as f64 / f64::from(TARGET_RATE),
            silent: samples.iter().all(|s| s.unsigned_abs() < SILENCE_PEAK),
            wav: encode_wav(samples),
        }
    }
}

/// 16-bit mono WAV at the target rate.
pub fn encode_wav(samples: &[i16]) -> Bytes {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: TARGET_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = Cursor::new(Vec::with_capacity(
        WAV_HEADER_BYTES as usize + samples.len() * 2,
    ));
    // Writing to memory fails only past the 4 GiB a WAV header can describe, far beyond any chunk.
    let written = hound::WavWriter::new(&mut cursor, spec).and_then(|mut writer| {
        let mut fast = writer.get_i16_writer(samples.len() as u32);
        samples.iter().for_each(|s| fast.write_sample(*s));
        fast.flush()?;
        writer.finalize()
    });
    debug_assert!(
        written.is_ok(),
        "in-memory WAV encoding failed: {written:?}"
    );
    Bytes::from(cursor.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: usize = TARGET_RATE as usize;

    fn plan(max_s: f64, overlap_s: f64, search_s: f64) -> ChunkPlan {
        ChunkPlan::new(max_s, overlap_s, search_s, 25_000_000)
    }

    /// Tone everywhere except the given silent stretches (in seconds).
    fn tone_with_gaps(seconds: f64, gaps: &[(f64, f64)]) -> Vec<f32> {
        (0..(seconds * RATE as f64) as usize)
            .map(|i| {
                let t = i as f64 / RATE as f64;
                let silent = gaps.iter().any(|(a, b)| t >= *a && t < *b);
                if silent {
                    0.0
                } else {
                    (0.4 * (2.0 * std::f64::consts::PI * 300.0 * t).sin()) as f32
                }
            })
            .collect()
    }

    fn chunk_all(plan: ChunkPlan, audio: &[f32]) -> Vec<WavChunk> {
        let mut chunker = Chunker::new(plan);
        let mut chunks = Vec::new();
        for piece in audio.chunks(4_000) {
            chunker.push(piece);
            while let Some(chunk) = chunker.take_chunk() {
                chunks.push(chunk);
            }
        }
        chunks.extend(chunker.finish());
        chunks
    }

    fn decode_wav(bytes: &[u8]) -> (hound::WavSpec, Vec<i16>) {
        let mut reader = hound::WavReader::new(Cursor::new(bytes)).unwrap();
        let samples = reader.samples::<i16>().map(Result::unwrap).collect();
        (reader.spec(), samples)
    }

    #[test]
    fn cuts_in_the_silence_nearest_the_limit_and_repeats_the_overlap() {
        // Chunks of at most 20 s, looking up to 10 s back; two silent gaps lie in that stretch.
        let audio = tone_with_gaps(50.0, &[(12.0, 13.0), (17.0, 17.6)]);
        let chunks = chunk_all(plan(20.0, 1.0, 10.0), &audio);
        let first = &chunks[0];
        // The later gap wins; the cut is the middle of the last fully silent 0.4 s window.
        assert!(
            (first.end_seconds() - 17.4).abs() < 0.011,
            "first cut at {}",
            first.end_seconds()
        );
        assert!((chunks[1].start_seconds - (first.end_seconds() - 1.0)).abs() < 1e-9);
        assert_eq!(first.index, 0);
        assert_eq!(chunks[1].index, 1);
    }

    #[test]
    fn chunks_cover_the_stream_and_decode_to_the_original_samples() {
        let audio = tone_with_gaps(30.0, &[]);
        let chunks = chunk_all(plan(8.0, 1.0, 2.0), &audio);
        assert!(chunks.len() >= 4);
        let mut covered = 0.0;
        for chunk in &chunks {
            assert!(
                chunk.start_seconds <= covered + 1e-9,
                "gap before chunk {}",
                chunk.index
            );
            assert!(chunk.duration_seconds <= 8.0 + 1e-9);
            let (spec, samples) = decode_wav(&chunk.wav);
            assert_eq!(
                (spec.channels, spec.sample_rate, spec.bits_per_sample),
                (1, TARGET_RATE, 16)
            );
            assert_eq!(
                samples.len() as f64,
                (chunk.duration_seconds * RATE as f64).round()
            );
            let first = (chunk.start_seconds * RATE as f64).round() as usize;
            let expected = (audio[first] * 32767.0).round() as i16;
            assert_eq!(samples[0], expected);
            covered = chunk.end_seconds();
        }
        assert!((covered - 30.0).abs() < 1e-9, "covered {covered}");
    }

    #[test]
    fn a_short_stream_is_one_chunk_and_silence_is_marked() {
        let chunks = chunk_all(plan(600.0, 2.0, 30.0), &tone_with_gaps(3.0, &[]));
        assert_eq!(chunks.len(), 1);
        assert!(!chunks[0].silent);
        let silent = chunk_all(plan(600.0, 2.0, 30.0), &vec![0.0; RATE]);
        assert!(silent[0].silent);
        assert!(chunk_all(plan(600.0, 2.0, 30.0), &[]).is_empty());
    }

    #[test]
    fn no_chunk_is_left_with_only_the_overlap_when_the_stream_ends_at_a_cut() {
        let mut chunker = Chunker::new(plan(4.0, 1.0, 0.0));
        chunker.push(&vec![0.3; 4 * RATE]);
        let chunk = chunker.take_chunk().unwrap();
        assert_eq!(chunk.duration_seconds, 4.0);
        assert!(chunker.finish().is_none());
    }

    #[test]
    fn the_plan_keeps_each_chunk_under_the_request_limit() {
        let default = plan(600.0, 2.0, 30.0);
        assert_eq!(default.max_samples, 600 * RATE);
        let capped = ChunkPlan::new(3_600.0, 2.0, 30.0, 24_000_000);
        assert!(WAV_HEADER_BYTES + capped.max_samples as u64 * 2 <= 24_000_000);
        assert!(capped.max_seconds() > 700.0);
        assert_eq!(default.estimated_chunks(100.0), 1);
        let estimate = default.estimated_chunks(2_400.0);
        assert!((4..=6).contains(&estimate), "{estimate}");
    }
}
