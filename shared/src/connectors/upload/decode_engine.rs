//! The audio engine: symphonia's demuxers and decoders, resampled to 16 kHz mono.

use super::{DecodeError, MIN_SAMPLE_RATE, TARGET_RATE};
use crate::connectors::upload::resample::Resampler;
use crate::connectors::upload::sniff::MediaFormat;
use std::fs::File;
use std::path::Path;
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{Decoder, DecoderOptions, CODEC_TYPE_NULL, CODEC_TYPE_OPUS};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader, Track};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Damaged packets in a row tolerated before the stream is given up as broken.
const MAX_CONSECUTIVE_BAD_PACKETS: u32 = 32;
/// How far into a WAV file its `fmt ` chunk is looked for.
const WAV_HEADER_SEARCH_BYTES: u64 = 64 * 1024;

impl From<SymphoniaError> for DecodeError {
    fn from(err: SymphoniaError) -> Self {
        match err {
            SymphoniaError::IoError(io) => DecodeError::Io(io),
            SymphoniaError::Unsupported(what) => DecodeError::UnsupportedCodec(what.to_owned()),
            other => DecodeError::Damaged(other.to_string()),
        }
    }
}

/// Streams the first decodable audio track of a file as 16 kHz mono samples in [-1, 1].
pub struct MonoDecoder {
    reader: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    duration_seconds: Option<f64>,
    resampler: Option<(u32, Resampler)>,
    interleaved: Option<SampleBuffer<f32>>,
    finished: bool,
}

impl MonoDecoder {
    /// Opens the container and the decoder of its audio track. MP4 and MOV keep their index at
    /// either end, which is why this reads from a seekable file.
    pub fn open(path: &Path, format: MediaFormat) -> Result<Self, DecodeError> {
        if format == MediaFormat::Wav {
            // Read before the demuxer sees the file: it does not survive a rate of 0.
            if let Some(rate) = wav_sample_rate(path)?.filter(|r| *r < MIN_SAMPLE_RATE) {
                return Err(DecodeError::SampleRateTooLow(rate));
            }
        }
        let file = File::open(path)?;
        let stream = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        hint.with_extension(format.extension());
        let probed = symphonia::default::get_probe()
            .format(
                &hint,
                stream,
                &FormatOptions::default(),
                &MetadataOptions::default(),
            )
            .map_err(|err| match err {
                SymphoniaError::Unsupported(_) => {
                    DecodeError::UnsupportedCodec(format!("{format} container"))
                }
                other => other.into(),
            })?;
        let reader = probed.format;
        let track = open_audio_track(reader.tracks())?;
        if let Some(rate) = track.sample_rate.filter(|r| *r < MIN_SAMPLE_RATE) {
            return Err(DecodeError::SampleRateTooLow(rate));
        }
        Ok(Self {
            reader,
            decoder: track.decoder,
            track_id: track.id,
            duration_seconds: track.duration_seconds,
            resampler: None,
            interleaved: None,
            finished: false,
        })
    }

    /// The length the container declares, when it declares one.
    pub fn duration_seconds(&self) -> Option<f64> {
        self.duration_seconds
    }

    /// The next piece of 16 kHz mono audio, or `None` at the end of the stream.
    pub fn next_piece(&mut self) -> Result<Option<Vec<f32>>, DecodeError> {
        let mut bad_packets = 0;
        while !self.finished {
            let packet = match self.reader.next_packet() {
                Ok(packet) => packet,
                Err(SymphoniaError::IoError(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return Ok(self.finish());
                }
                // A new chained stream would need a new decoder; what came before is complete.
                Err(SymphoniaError::ResetRequired) => return Ok(self.finish()),
                Err(err) => return Err(err.into()),
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let decoded = match self.decoder.decode(&packet) {
                Ok(decoded) => decoded,
                Err(SymphoniaError::DecodeError(reason)) => {
                    bad_packets += 1;
                    if bad_packets > MAX_CONSECUTIVE_BAD_PACKETS {
                        return Err(DecodeError::Damaged(reason.to_owned()));
                    }
                    continue;
                }
                Err(err) => return Err(err.into()),
            };
            bad_packets = 0;
            let spec = *decoded.spec();
            let frames = decoded.frames();
            if frames == 0 {
                continue;
            }
            if spec.rate < MIN_SAMPLE_RATE {
                return Err(DecodeError::SampleRateTooLow(spec.rate));
            }
            let buffer = match &mut self.interleaved {
                Some(buffer) if buffer.capacity() >= frames * spec.channels.count() => buffer,
                slot => slot.insert(SampleBuffer::new(decoded.capacity() as u64, spec)),
            };
            buffer.copy_interleaved_ref(decoded);
            let mono = downmix(buffer.samples(), spec.channels.count());
            let mut out = Vec::with_capacity(
                mono.len() * TARGET_RATE as usize / spec.rate.max(1) as usize + 1,
            );
            self.resample(spec.rate, &mono, &mut out);
            if !out.is_empty() {
                return Ok(Some(out));
            }
        }
        Ok(None)
    }

    fn resample(&mut self, rate: u32, mono: &[f32], out: &mut Vec<f32>) {
        if let Some((current, old)) = &mut self.resampler {
            if *current != rate {
                old.finish(out);
                self.resampler = None;
            }
        }
        let (_, resampler) = self
            .resampler
            .get_or_insert_with(|| (rate, Resampler::new(rate, TARGET_RATE)));
        resampler.process(mono, out);
    }

    fn finish(&mut self) -> Option<Vec<f32>> {
        self.finished = true;
        let mut out = Vec::new();
        if let Some((_, resampler)) = &mut self.resampler {
            resampler.finish(&mut out);
        }
        (!out.is_empty()).then_some(out)
    }
}

/// The first track whose codec can be decoded here; video and subtitle tracks are passed over.
struct AudioTrack {
    id: u32,
    decoder: Box<dyn Decoder>,
    duration_seconds: Option<f64>,
    sample_rate: Option<u32>,
}

fn open_audio_track(tracks: &[Track]) -> Result<AudioTrack, DecodeError> {
    let codecs = symphonia::default::get_codecs();
    let mut unsupported = None;
    for track in tracks
        .iter()
        .filter(|t| t.codec_params.codec != CODEC_TYPE_NULL)
    {
        let params = &track.codec_params;
        match codecs.make(params, &DecoderOptions::default()) {
            Ok(decoder) => {
                let duration_seconds = declared_duration(track);
                return Ok(AudioTrack {
                    id: track.id,
                    decoder,
                    duration_seconds,
                    sample_rate: params.sample_rate,
                });
            }
            Err(_) => unsupported = Some(codec_name(params.codec)),
        }
    }
    Err(unsupported.map_or(DecodeError::NoAudioTrack, DecodeError::UnsupportedCodec))
}

fn declared_duration(track: &Track) -> Option<f64> {
    let params = &track.codec_params;
    let frames = params.n_frames?;
    match (params.time_base, params.sample_rate) {
        (Some(base), _) => {
            let time = base.calc_time(frames);
            Some(time.seconds as f64 + time.frac)
        }
        (None, Some(rate)) if rate > 0 => Some(frames as f64 / f64::from(rate)),
        _ => None,
    }
}

fn codec_name(codec: symphonia::core::codecs::CodecType) -> String {
    if codec == CODEC_TYPE_OPUS {
        return "Opus".into();
    }
    symphonia::default::get_codecs()
        .get_codec(codec)
        .map_or_else(
            || "this codec's".into(),
            |descriptor| descriptor.short_name.to_uppercase(),
        )
}

/// The sample rate a WAV file's `fmt ` chunk declares; `None` when the chunk is not found
/// near the start (the demuxer then decides).
fn wav_sample_rate(path: &Path) -> Result<Option<u32>, DecodeError> {
    use std::io::Read;
    let mut head = Vec::new();
    File::open(path)?
        .take(WAV_HEADER_SEARCH_BYTES)
        .read_to_end(&mut head)?;
    let mut at = 12; // "RIFF", the size, "WAVE"
    while let Some(header) = head.get(at..at + 8) {
        let size = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        if &header[..4] == b"fmt " {
            // The format tag and the channel count come before the rate.
            return Ok(head
                .get(at + 12..at + 16)
                .map(|rate| u32::from_le_bytes([rate[0], rate[1], rate[2], rate[3]])));
        }
        // Chunks are padded to an even size.
        at = at
            .saturating_add(8)
            .saturating_add(size)
            .saturating_add(size % 2);
    }
    Ok(None)
}

/// Averages the channels of interleaved frames.
fn downmix(interleaved: &[f32], channels: usize) -> Vec<f32> {
    if channels <= 1 {
        return interleaved.to_vec();
    }
    let scale = 1.0 / channels as f32;
    interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() * scale)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn write_wav(
        path: &Path,
        rate: u32,
        channels: u16,
        seconds: f64,
        frame: impl Fn(f64) -> Vec<f64>,
    ) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::create(path, spec).unwrap();
        for i in 0..(seconds * f64::from(rate)) as usize {
            for value in frame(i as f64 / f64::from(rate)) {
                writer.write_sample((value * 32767.0) as i16).unwrap();
            }
        }
        writer.finalize().unwrap();
    }

    fn decode_all(path: &Path, format: MediaFormat) -> (Vec<f32>, Vec<usize>, Option<f64>) {
        let mut decoder = MonoDecoder::open(path, format).unwrap();
        let (mut all, mut pieces) = (Vec::new(), Vec::new());
        while let Some(piece) = decoder.next_piece().unwrap() {
            pieces.push(piece.len());
            all.extend(piece);
        }
        (all, pieces, decoder.duration_seconds())
    }

    #[test]
    fn stereo_44k_becomes_16k_mono_with_the_channels_averaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stereo.wav");
        // Left and right in antiphase at 1 kHz cancel; a 500 Hz tone on both stays.
        write_wav(&path, 44_100, 2, 3.0, |t| {
            let common = 0.3 * (2.0 * PI * 500.0 * t).sin();
            let side = 0.3 * (2.0 * PI * 1000.0 * t).sin();
            vec![common + side, common - side]
        });
        let (samples, pieces, duration) = decode_all(&path, MediaFormat::Wav);
        assert_eq!(samples.len(), 48_000);
        assert!(
            pieces.len() > 10,
            "the decoder hands out pieces, not the whole file"
        );
        assert!((duration.unwrap() - 3.0).abs() < 1e-6);
        let steady = &samples[2_000..46_000];
        let rms = (steady.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / steady.len() as f64)
            .sqrt();
        assert!((rms - 0.3 / 2f64.sqrt()).abs() < 0.01, "rms {rms}");
        let rising = steady
            .windows(2)
            .filter(|w| w[0] < 0.0 && w[1] >= 0.0)
            .count();
        assert!(
            (rising as i64 - 1_375).abs() <= 2,
            "{rising} cycles in 2.75 s of 500 Hz"
        );
    }

    #[test]
    fn a_16k_mono_wav_comes_out_sample_for_sample() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mono.wav");
        write_wav(&path, 16_000, 1, 1.0, |t| {
            vec![0.25 * (2.0 * PI * 220.0 * t).sin()]
        });
        let (samples, _, _) = decode_all(&path, MediaFormat::Wav);
        let original = hound::WavReader::open(&path)
            .unwrap()
            .into_samples::<i16>()
            .map(Result::unwrap);
        assert_eq!(samples.len(), 16_000);
        for (decoded, original) in samples.iter().zip(original) {
            assert!((decoded * 32768.0 - f32::from(original)).abs() < 1.0);
        }
    }

    /// A 16-bit mono PCM WAV header declaring `rate`, then `data_bytes` of silence.
    fn wav_declaring(rate: u32, data_bytes: u32) -> Vec<u8> {
        let mut wav = b"RIFF".to_vec();
        wav.extend((36 + data_bytes).to_le_bytes());
        wav.extend(b"WAVEfmt ");
        wav.extend(16u32.to_le_bytes());
        wav.extend(1u16.to_le_bytes());
        wav.extend(1u16.to_le_bytes());
        wav.extend(rate.to_le_bytes());
        wav.extend((rate.saturating_mul(2)).to_le_bytes());
        wav.extend(2u16.to_le_bytes());
        wav.extend(16u16.to_le_bytes());
        wav.extend(b"data");
        wav.extend(data_bytes.to_le_bytes());
        wav.resize(wav.len() + data_bytes as usize, 0);
        wav
    }

    #[test]
    fn audio_sampled_below_8_khz_is_refused_before_it_is_decoded() {
        let dir = tempfile::tempdir().unwrap();
        for rate in [0, 1, 7_999] {
            let path = dir.path().join(format!("{rate}.wav"));
            std::fs::write(&path, wav_declaring(rate, 3_000)).unwrap();
            assert!(
                matches!(
                    MonoDecoder::open(&path, MediaFormat::Wav),
                    Err(DecodeError::SampleRateTooLow(r)) if r == rate
                ),
                "{rate} Hz"
            );
        }
        let path = dir.path().join("8000.wav");
        std::fs::write(&path, wav_declaring(8_000, 3_000)).unwrap();
        let (samples, _, _) = decode_all(&path, MediaFormat::Wav);
        assert_eq!(samples.len(), 3_000);
    }

    #[test]
    fn damaged_or_unreadable_audio_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.wav");
        std::fs::write(&path, b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk").unwrap();
        assert!(MonoDecoder::open(&path, MediaFormat::Wav).is_err());
        assert!(matches!(
            MonoDecoder::open(&dir.path().join("missing.wav"), MediaFormat::Wav),
            Err(DecodeError::Io(_))
        ));
    }
}
