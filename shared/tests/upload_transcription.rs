//! Uploaded recordings transcribed end to end against the fake transcription API: generated
//! tone-burst recordings (each burst comes back as a `tone <Hz>` segment) and small compressed
//! fixtures made by `tests/fixtures/audio/make_fixtures.sh`.

use fakes::transcribe::{FakeTranscribe, FakeTranscribeOptions};
use pipeline::connectors::upload::{
    sniff, transcribe_media, MediaError, MediaFormat, TranscribeClient, TranscribeError,
    TranscribeSettings, Transcription, TranscriptionOptions,
};
use pipeline::crypto::SecretString;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

const API_LIMIT: u64 = 25_000_000;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/audio")
        .join(name)
}

fn client_for(fake: &FakeTranscribe, model: &str) -> TranscribeClient {
    TranscribeClient::new(settings_for(fake, model)).unwrap()
}

fn settings_for(fake: &FakeTranscribe, model: &str) -> TranscribeSettings {
    let mut settings = TranscribeSettings::new(
        fake.base_url().parse().unwrap(),
        Some(SecretString::new(fake.api_key())),
        model,
    );
    settings.initial_backoff = Duration::from_millis(10);
    settings.max_backoff = Duration::from_millis(40);
    settings
}

/// A tone burst in a generated recording.
#[derive(Debug, Clone, Copy)]
struct Burst {
    start: f64,
    end: f64,
    hz: u32,
}

/// Bursts of distinct neighbouring pitches, 2-6 s long with 0.8-2.5 s of silence between,
/// filling `seconds`. Deterministic, so a failure can be replayed.
fn burst_plan(seconds: f64) -> Vec<Burst> {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as f64 / f64::from(1u32 << 31)
    };
    let mut bursts = Vec::new();
    let mut t = 0.5;
    let mut pitch = 0;
    loop {
        let length = 2.0 + 4.0 * next();
        if t + length > seconds - 0.5 {
            return bursts;
        }
        bursts.push(Burst {
            start: t,
            end: t + length,
            hz: 300 + 50 * (pitch % 17),
        });
        pitch += 1 + (next() * 3.0) as u32;
        t += length + 0.8 + 1.7 * next();
    }
}

/// Writes the bursts as a 16-bit WAV, burst by burst to disk, never whole in memory.
fn write_bursts_wav(path: &Path, rate: u32, channels: u16, seconds: f64, bursts: &[Burst]) {
    let frames = (seconds * f64::from(rate)) as u64;
    let data_len = (frames * u64::from(channels) * 2) as u32;
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    out.write_all(b"RIFF").unwrap();
    out.write_all(&(36 + data_len).to_le_bytes()).unwrap();
    out.write_all(b"WAVEfmt ").unwrap();
    for field in [
        16u32.to_le_bytes().as_slice(),
        &1u16.to_le_bytes(),
        &channels.to_le_bytes(),
        &rate.to_le_bytes(),
    ] {
        out.write_all(field).unwrap();
    }
    out.write_all(&(rate * u32::from(channels) * 2).to_le_bytes())
        .unwrap();
    out.write_all(&(channels * 2).to_le_bytes()).unwrap();
    out.write_all(&16u16.to_le_bytes()).unwrap();
    out.write_all(b"data").unwrap();
    out.write_all(&data_len.to_le_bytes()).unwrap();
    let frame_bytes = u64::from(channels) * 2;
    let zeros = vec![0u8; 1 << 16];
    let write_silence = |out: &mut BufWriter<std::fs::File>, frames: u64| {
        let mut left = (frames * frame_bytes) as usize;
        while left > 0 {
            let n = left.min(zeros.len());
            out.write_all(&zeros[..n]).unwrap();
            left -= n;
        }
    };
    let rate_f = f64::from(rate);
    let mut written = 0u64;
    let mut pcm = Vec::new();
    for burst in bursts {
        let (first, end) = (
            (burst.start * rate_f).ceil() as u64,
            (burst.end * rate_f).ceil() as u64,
        );
        write_silence(&mut out, first - written);
        let step = 2.0 * std::f64::consts::PI * f64::from(burst.hz) / rate_f;
        pcm.clear();
        for i in 0..end - first {
            let value = ((i as f64 * step).sin() * 0.5 * 32767.0) as i16;
            for _ in 0..channels {
                pcm.extend_from_slice(&value.to_le_bytes());
            }
        }
        out.write_all(&pcm).unwrap();
        written = end;
    }
    write_silence(&mut out, frames - written);
    out.flush().unwrap();
}

/// Every burst exactly once, in order, starting where it was played.
fn assert_heard_each_burst_once(transcription: &Transcription, bursts: &[Burst], tolerance: f64) {
    let heard: Vec<(f64, &str)> = transcription
        .segments
        .iter()
        .map(|s| (s.start_seconds, s.text.as_str()))
        .collect();
    let expected: Vec<String> = bursts.iter().map(|b| format!("tone {}", b.hz)).collect();
    let texts: Vec<&str> = heard.iter().map(|(_, t)| *t).collect();
    assert_eq!(texts, expected, "every burst once, in order");
    for ((start, text), burst) in heard.iter().zip(bursts) {
        assert!(
            (start - burst.start).abs() <= tolerance,
            "{text} heard at {start:.3} s, played at {:.3} s",
            burst.start
        );
    }
}

/// Records the progress callbacks.
#[derive(Default)]
struct ProgressLog(Mutex<Vec<(usize, usize)>>);

impl ProgressLog {
    fn callback(&self) -> impl Fn(usize, usize) + Send + Sync + '_ {
        |done, total| self.0.lock().unwrap().push((done, total))
    }

    fn last(&self) -> (usize, usize) {
        *self.0.lock().unwrap().last().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forty_minute_recording_is_sent_in_chunks_under_the_limit_and_each_burst_is_heard_once() {
    let fake = FakeTranscribe::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all-hands.wav");
    let seconds = 40.0 * 60.0;
    let bursts = burst_plan(seconds);
    write_bursts_wav(&path, 16_000, 1, seconds, &bursts);
    assert!(
        std::fs::metadata(&path).unwrap().len() > 3 * API_LIMIT,
        "the recording is far over one request"
    );

    let progress = ProgressLog::default();
    let options = TranscriptionOptions::default();
    let transcription = transcribe_media(
        &path,
        &client_for(&fake, "whisper-1"),
        &options,
        progress.callback(),
    )
    .await
    .unwrap();

    assert_eq!(transcription.format, MediaFormat::Wav);
    assert!(!transcription.sent_as_is);
    assert!(transcription.chunks >= 4, "{} chunks", transcription.chunks);
    assert!((transcription.duration_seconds.unwrap() - seconds).abs() < 0.01);
    assert_heard_each_burst_once(&transcription, &bursts, 0.03);

    let stats = fake.stats();
    assert_eq!(stats.requests as usize, transcription.chunks);
    assert!(
        stats.largest_request_bytes < API_LIMIT,
        "largest request {} bytes",
        stats.largest_request_bytes
    );
    assert!(stats.peak_concurrent_requests <= options.parallelism);
    // The chunks cover the whole recording, overlaps included, and nothing more.
    let overlap_total = options.overlap_seconds * (transcription.chunks - 1) as f64;
    assert!(
        (stats.audio_seconds - seconds - overlap_total).abs() < 0.01,
        "{} s sent",
        stats.audio_seconds
    );
    for form in fake.received() {
        assert!(form.filename.ends_with(".wav"), "{}", form.filename);
        assert_eq!(
            (form.model.as_str(), form.response_format.as_str()),
            ("whisper-1", "verbose_json")
        );
    }
    assert_eq!(
        progress.last(),
        (transcription.chunks, transcription.chunks)
    );
}

#[tokio::test]
async fn a_44_khz_stereo_recording_is_resampled_before_it_is_sent() {
    let fake = FakeTranscribe::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stereo.wav");
    let bursts = burst_plan(25.0);
    write_bursts_wav(&path, 44_100, 2, 25.0, &bursts);
    let transcription = transcribe_media(
        &path,
        &client_for(&fake, "whisper-1"),
        &TranscriptionOptions::default(),
        |_, _| {},
    )
    .await
    .unwrap();
    assert_heard_each_burst_once(&transcription, &bursts, 0.03);
    let sent = fake.stats().largest_request_bytes;
    assert!(
        sent < 25 * 32_000 + 2_000,
        "16 kHz mono is sent, not the original: {sent} bytes"
    );
}

#[tokio::test]
async fn small_compressed_recordings_are_decoded_and_transcribed() {
    let fake = FakeTranscribe::start().await.unwrap();
    let client = client_for(&fake, "whisper-1");
    let played = [
        Burst {
            start: 0.2,
            end: 1.2,
            hz: 440,
        },
        Burst {
            start: 1.8,
            end: 2.8,
            hz: 660,
        },
    ];
    for (name, format) in [
        ("tones.mp3", MediaFormat::Mp3),
        ("tones.m4a", MediaFormat::M4a),
        ("tones.mov", MediaFormat::Mov),
        ("tones_video.mp4", MediaFormat::Mp4),
        ("tones.flac", MediaFormat::Flac),
    ] {
        let transcription = transcribe_media(
            &fixture(name),
            &client,
            &TranscriptionOptions::default(),
            |_, _| {},
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(transcription.format, format, "{name}");
        assert!(!transcription.sent_as_is, "{name} is decoded here");
        // Encoders add a few tens of milliseconds of delay at the start.
        assert_heard_each_burst_once(&transcription, &played, 0.12);
        let duration = transcription.duration_seconds.unwrap();
        assert!((3.1..3.4).contains(&duration), "{name}: {duration} s");
    }
}

#[tokio::test]
async fn recordings_that_cannot_be_decoded_here_are_sent_as_they_are() {
    let fake = FakeTranscribe::start().await.unwrap();
    let client = client_for(&fake, "whisper-1");
    // WebM with Opus (no Opus decoder here) and Ogg (no Ogg demuxer here).
    for (name, format, extension) in [
        ("tones.webm", MediaFormat::WebM, "webm"),
        ("tones.ogg", MediaFormat::Ogg, "ogg"),
    ] {
        let transcription = transcribe_media(
            &fixture(name),
            &client,
            &TranscriptionOptions::default(),
            |_, _| {},
        )
        .await
        .unwrap();
        assert_eq!(transcription.format, format);
        assert!(transcription.sent_as_is);
        let texts: Vec<&str> = transcription
            .segments
            .iter()
            .map(|s| s.text.as_str())
            .collect();
        assert_eq!(texts, [format!("received {extension} audio")]);
        let form = fake.received().pop().unwrap();
        assert_eq!(form.filename, format!("upload.{extension}"));
        assert_eq!(
            form.file_bytes as u64,
            std::fs::metadata(fixture(name)).unwrap().len()
        );
    }
}

#[tokio::test]
async fn an_undecodable_recording_over_the_limit_fails_with_the_reason() {
    let fake = FakeTranscribe::start().await.unwrap();
    let options = TranscriptionOptions {
        max_request_bytes: 5_000,
        ..TranscriptionOptions::default()
    };
    let err = transcribe_media(
        &fixture("tones.webm"),
        &client_for(&fake, "whisper-1"),
        &options,
        |_, _| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            MediaError::Undecodable {
                format: MediaFormat::WebM,
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("Opus") && message.contains("MB"),
        "{message}"
    );
    assert_eq!(fake.stats().requests, 0);
}

#[tokio::test]
async fn a_renamed_document_is_refused_with_what_it_looks_like() {
    let fake = FakeTranscribe::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("board-meeting.mp3");
    std::fs::write(&path, b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n").unwrap();
    let err = transcribe_media(
        &path,
        &client_for(&fake, "whisper-1"),
        &TranscriptionOptions::default(),
        |_, _| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(err, MediaError::NotMedia(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("not audio or video callsync can read (looks like a PDF document)"),
        "{err}"
    );
    assert_eq!(fake.stats().requests, 0);
}

/// A short tone-burst recording in a fresh temp dir.
fn short_recording(seconds: f64) -> (tempfile::TempDir, PathBuf, Vec<Burst>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("standup.wav");
    let bursts = burst_plan(seconds);
    write_bursts_wav(&path, 16_000, 1, seconds, &bursts);
    (dir, path, bursts)
}

#[tokio::test]
async fn server_errors_are_retried_until_the_transcript_arrives() {
    let fake = FakeTranscribe::start().await.unwrap();
    let (_dir, path, bursts) = short_recording(12.0);
    fake.fail_next(2, 500);
    let transcription = transcribe_media(
        &path,
        &client_for(&fake, "whisper-1"),
        &TranscriptionOptions::default(),
        |_, _| {},
    )
    .await
    .unwrap();
    assert_heard_each_burst_once(&transcription, &bursts, 0.03);
    assert_eq!(fake.stats().requests, 3);
}

#[tokio::test]
async fn a_rate_limited_request_is_sent_again() {
    let fake = FakeTranscribe::start().await.unwrap();
    let (_dir, path, bursts) = short_recording(8.0);
    fake.fail_next(1, 429);
    let transcription = transcribe_media(
        &path,
        &client_for(&fake, "whisper-1"),
        &TranscriptionOptions::default(),
        |_, _| {},
    )
    .await
    .unwrap();
    assert_heard_each_burst_once(&transcription, &bursts, 0.03);
    assert_eq!((fake.stats().requests, fake.stats().transcribed), (2, 1));
}

#[tokio::test]
async fn a_service_that_keeps_failing_is_given_up_after_the_last_attempt() {
    let fake = FakeTranscribe::start().await.unwrap();
    let (_dir, path, _) = short_recording(8.0);
    fake.fail_next(10, 503);
    let mut settings = settings_for(&fake, "whisper-1");
    settings.max_attempts = 3;
    let client = TranscribeClient::new(settings).unwrap();
    let err = transcribe_media(&path, &client, &TranscriptionOptions::default(), |_, _| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            MediaError::Transcribe(TranscribeError::GaveUp { attempts: 3, .. })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(fake.stats().requests, 3);
}

#[tokio::test]
async fn a_request_refused_as_too_large_fails_at_once() {
    let fake = FakeTranscribe::start_with(FakeTranscribeOptions {
        max_request_bytes: 100_000,
        ..Default::default()
    })
    .await
    .unwrap();
    let (_dir, path, _) = short_recording(10.0);
    let err = transcribe_media(
        &path,
        &client_for(&fake, "whisper-1"),
        &TranscriptionOptions::default(),
        |_, _| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            MediaError::Transcribe(TranscribeError::TooLarge { .. })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("413"), "{err}");
    assert_eq!(fake.stats().requests, 1);
}

#[tokio::test]
async fn other_client_errors_fail_at_once_with_the_services_reason() {
    let fake = FakeTranscribe::start().await.unwrap();
    let (_dir, path, _) = short_recording(8.0);
    fake.fail_next(1, 400);
    let err = transcribe_media(
        &path,
        &client_for(&fake, "whisper-1"),
        &TranscriptionOptions::default(),
        |_, _| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            MediaError::Transcribe(TranscribeError::Rejected { status: 400, .. })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("Injected failure."), "{err}");
    assert_eq!(fake.stats().requests, 1);
}

#[tokio::test]
async fn a_wrong_key_fails_at_once_without_showing_the_key() {
    let fake = FakeTranscribe::start().await.unwrap();
    let (_dir, path, _) = short_recording(8.0);
    let mut settings = settings_for(&fake, "whisper-1");
    settings.api_key = Some(SecretString::new("sk-wrong-key-123"));
    let client = TranscribeClient::new(settings).unwrap();
    let err = transcribe_media(&path, &client, &TranscriptionOptions::default(), |_, _| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            MediaError::Transcribe(TranscribeError::Unauthorized { status: 401 })
        ),
        "{err:?}"
    );
    let shown = format!("{err} {err:?}");
    assert!(
        shown.contains("TRANSCRIBE_API_KEY") && !shown.contains("sk-wrong-key-123"),
        "{shown}"
    );
    assert_eq!(fake.stats().requests, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_without_timings_get_one_segment_per_chunk_without_repeats_at_the_cuts() {
    let fake = FakeTranscribe::start().await.unwrap();
    fake.set_latency_per_audio_second(Duration::from_millis(2));
    let (_dir, path, bursts) = short_recording(240.0);
    let options = TranscriptionOptions {
        max_chunk_seconds: 40.0,
        silence_search_seconds: 10.0,
        parallelism: 2,
        ..TranscriptionOptions::default()
    };
    let progress = ProgressLog::default();
    let transcription = transcribe_media(
        &path,
        &client_for(&fake, "gpt-4o-transcribe"),
        &options,
        progress.callback(),
    )
    .await
    .unwrap();
    assert!(transcription.chunks >= 6, "{} chunks", transcription.chunks);
    assert_eq!(transcription.segments.len(), transcription.chunks);
    let all_text: Vec<&str> = transcription
        .segments
        .iter()
        .map(|s| s.text.as_str())
        .collect();
    let expected: Vec<String> = bursts.iter().map(|b| format!("tone {}", b.hz)).collect();
    assert_eq!(
        all_text.join(" "),
        expected.join(" "),
        "every burst once, in order"
    );
    assert!(fake.received().iter().all(|f| f.response_format == "json"));
    assert!(fake.stats().peak_concurrent_requests <= 2);
    assert_eq!(
        progress.last(),
        (transcription.chunks, transcription.chunks)
    );
}

#[test]
fn the_sniffer_recognises_every_fixture_whatever_its_name() {
    for (name, format) in [
        ("tones.mp3", MediaFormat::Mp3),
        ("tones.m4a", MediaFormat::M4a),
        ("tones.mov", MediaFormat::Mov),
        ("tones_video.mp4", MediaFormat::Mp4),
        ("tones.webm", MediaFormat::WebM),
        ("tones.ogg", MediaFormat::Ogg),
        ("tones.flac", MediaFormat::Flac),
    ] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        assert_eq!(sniff(&bytes[..64]), Ok(format), "{name}");
    }
    let (_dir, path, _) = short_recording(1.0);
    assert_eq!(
        sniff(&std::fs::read(path).unwrap()[..64]),
        Ok(MediaFormat::Wav)
    );
}

/// A 16-bit mono PCM WAV declaring `rate`, with `data_bytes` of a square wave.
fn wav_declaring(rate: u32, data_bytes: u32) -> Vec<u8> {
    let mut wav = b"RIFF".to_vec();
    wav.extend((36 + data_bytes).to_le_bytes());
    wav.extend(b"WAVEfmt ");
    wav.extend(16u32.to_le_bytes());
    wav.extend(1u16.to_le_bytes());
    wav.extend(1u16.to_le_bytes());
    wav.extend(rate.to_le_bytes());
    wav.extend(rate.saturating_mul(2).to_le_bytes());
    wav.extend(2u16.to_le_bytes());
    wav.extend(16u16.to_le_bytes());
    wav.extend(b"data");
    wav.extend(data_bytes.to_le_bytes());
    for i in 0..data_bytes / 2 {
        let sample: i16 = if i % 2 == 0 { 12_000 } else { -12_000 };
        wav.extend(sample.to_le_bytes());
    }
    wav
}

#[tokio::test]
async fn audio_sampled_below_8_khz_is_refused_before_anything_is_sent() {
    let fake = FakeTranscribe::start().await.unwrap();
    let client = client_for(&fake, "whisper-1");
    let dir = tempfile::tempdir().unwrap();
    // 3 KB at 1 Hz would stretch to 25 minutes of audio; at 0 Hz the demuxer gives up.
    for rate in [0u32, 1, 4_000] {
        let path = dir.path().join(format!("{rate}-hz.wav"));
        std::fs::write(&path, wav_declaring(rate, 3_000)).unwrap();
        let err = transcribe_media(&path, &client, &TranscriptionOptions::default(), |_, _| {})
            .await
            .unwrap_err();
        assert!(
            matches!(err, MediaError::SampleRateTooLow { rate: r, .. } if r == rate),
            "{rate} Hz: {err:?}"
        );
        assert!(err.to_string().contains(&format!("{rate} Hz")), "{err}");
    }
    assert_eq!(fake.stats().requests, 0);
}

#[tokio::test]
async fn a_recording_longer_than_the_limit_fails_before_anything_is_sent() {
    let fake = FakeTranscribe::start().await.unwrap();
    let client = client_for(&fake, "whisper-1");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.wav");
    write_bursts_wav(&path, 16_000, 1, 25.0, &burst_plan(25.0));
    let options = TranscriptionOptions {
        max_audio_seconds: 10.0,
        ..TranscriptionOptions::default()
    };
    let err = transcribe_media(&path, &client, &options, |_, _| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, MediaError::TooLong { seconds: Some(s), .. } if (s - 25.0).abs() < 0.01),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "this recording runs 25 seconds; recordings over 10 seconds are not transcribed"
    );
    // Compressed files, whether or not their container declares a length.
    let short = TranscriptionOptions {
        max_audio_seconds: 1.0,
        ..TranscriptionOptions::default()
    };
    for name in ["tones.mp3", "tones.m4a"] {
        let err = transcribe_media(&fixture(name), &client, &short, |_, _| {})
            .await
            .unwrap_err();
        assert!(matches!(err, MediaError::TooLong { .. }), "{name}: {err:?}");
    }
    assert_eq!(fake.stats().requests, 0);
}

/// The forms the fake answered, in the order of the chunks they carried.
fn forms_in_chunk_order(fake: &FakeTranscribe) -> Vec<fakes::transcribe::ReceivedForm> {
    let mut forms = fake.received();
    forms.sort_by(|a, b| a.filename.cmp(&b.filename));
    forms
}

/// Where each chunk after the first began and each before the last ended, in seconds of the
/// recording, from the lengths of the 16 kHz mono WAV chunks the fake received.
fn cuts(forms: &[fakes::transcribe::ReceivedForm], overlap: f64) -> Vec<f64> {
    let mut start = 0.0;
    let mut cuts = Vec::new();
    for form in &forms[..forms.len() - 1] {
        let seconds = (form.file_bytes - 44) as f64 / 32_000.0;
        cuts.push(start + seconds);
        start += seconds - overlap;
    }
    cuts
}

/// Runs a transcription that the fake holds until `in_flight` requests are waiting at once;
/// the guard only turns a client that never gets there into a failure instead of a hang.
async fn held_transcription(
    fake: &FakeTranscribe,
    in_flight: usize,
    path: &Path,
    options: &TranscriptionOptions,
) -> Transcription {
    fake.hold_until_in_flight(in_flight);
    let client = client_for(fake, "whisper-1");
    tokio::time::timeout(
        Duration::from_secs(180),
        transcribe_media(path, &client, options, |_, _| {}),
    )
    .await
    .unwrap_or_else(|_| panic!("the client never had {in_flight} requests in flight at once"))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twenty_minute_recording_is_cut_at_quiet_places_into_enough_chunks_for_every_slot() {
    let fake = FakeTranscribe::start().await.unwrap();
    let (_dir, path, bursts) = short_recording(20.0 * 60.0);
    let options = TranscriptionOptions::default();
    assert_eq!(options.parallelism, 8);
    // 600 s chunks would make 3 requests and leave five slots idle.
    let transcription = held_transcription(&fake, options.parallelism, &path, &options).await;

    assert_eq!(transcription.chunks, options.parallelism);
    assert_eq!(fake.stats().peak_concurrent_requests, options.parallelism);
    assert_heard_each_burst_once(&transcription, &bursts, 0.03);
    let forms = forms_in_chunk_order(&fake);
    let cuts = cuts(&forms, options.overlap_seconds);
    assert_eq!(cuts.len(), options.parallelism - 1);
    for cut in cuts {
        // The middle of a silent 0.4 s window: at least 0.2 s from any burst.
        let inside = bursts
            .iter()
            .find(|b| cut > b.start - 0.15 && cut < b.end + 0.15);
        assert!(inside.is_none(), "cut at {cut:.2} s, in {inside:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_concurrency_is_the_number_of_requests_in_flight() {
    let config = pipeline::config::Config::from_lookup(|name| {
        (name == "TRANSCRIBE_CONCURRENCY").then(|| "2".to_owned())
    })
    .unwrap();
    let options =
        pipeline::pipeline::upload_import::UploadTranscription::from_config(&config).options;
    assert_eq!(options.parallelism, 2);
    let fake = FakeTranscribe::start().await.unwrap();
    // Two rounds of two chunks.
    let (_dir, path, bursts) = short_recording(20.0 * 60.0);
    let transcription = held_transcription(&fake, 2, &path, &options).await;
    assert_eq!(transcription.chunks, 4);
    assert_eq!(fake.stats().peak_concurrent_requests, 2);
    assert_heard_each_burst_once(&transcription, &bursts, 0.03);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_chunk_after_the_first_is_prompted_with_the_last_words_of_the_one_before() {
    let fake = FakeTranscribe::start().await.unwrap();
    let (_dir, path, bursts) = short_recording(800.0);
    let options = TranscriptionOptions {
        max_chunk_seconds: 300.0,
        parallelism: 1,
        ..TranscriptionOptions::default()
    };
    let transcription =
        transcribe_media(&path, &client_for(&fake, "whisper-1"), &options, |_, _| {})
            .await
            .unwrap();
    assert_eq!(transcription.chunks, 3);
    assert_heard_each_burst_once(&transcription, &bursts, 0.03);

    let forms = forms_in_chunk_order(&fake);
    assert_eq!(
        forms[0].prompt, None,
        "the first chunk has nothing before it"
    );
    for pair in forms.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        let prompt = after
            .prompt
            .as_deref()
            .unwrap_or_else(|| panic!("{} was sent without a prompt", after.filename));
        assert!(
            before.text.len() > 200,
            "{} words, enough to need cutting",
            before.text
        );
        let said_before = before
            .text
            .strip_suffix(prompt)
            .unwrap_or_else(|| panic!("`{prompt}` is not the end of `{}`", before.text));
        assert!(said_before.ends_with(' '), "`{prompt}` starts mid-word");
        assert!(
            (150..=200).contains(&prompt.len()),
            "{} characters: `{prompt}`",
            prompt.len()
        );
    }
}

/// Counts the files in `dir` every few milliseconds until `work` is done: the most seen at
/// once, and how many are left.
async fn files_during<T>(
    dir: &Path,
    work: impl std::future::Future<Output = T>,
) -> (T, usize, usize) {
    let count = || std::fs::read_dir(dir).unwrap().count();
    let mut work = std::pin::pin!(work);
    let mut most = 0;
    let output = loop {
        most = most.max(count());
        tokio::select! {
            output = &mut work => break output,
            _ = tokio::time::sleep(Duration::from_millis(2)) => {}
        }
    };
    (output, most, count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_wait_for_their_requests_on_disk_and_are_gone_after_success_or_failure() {
    let fake = FakeTranscribe::start().await.unwrap();
    // Each request takes a while, so the chunks of a round are all waiting at some point.
    fake.set_latency_per_audio_second(Duration::from_millis(2));
    let (_dir, path, bursts) = short_recording(6.0 * 60.0);
    let chunks = tempfile::tempdir().unwrap();
    let options = TranscriptionOptions {
        chunk_dir: chunks.path().to_owned(),
        ..TranscriptionOptions::default()
    };
    let client = client_for(&fake, "whisper-1");
    let (transcribed, most, left) = files_during(
        chunks.path(),
        transcribe_media(&path, &client, &options, |_, _| {}),
    )
    .await;
    let transcription = transcribed.unwrap();
    assert_heard_each_burst_once(&transcription, &bursts, 0.03);
    assert!(transcription.chunks > 1);
    assert!(most > 1, "at most {most} chunk file(s) at once");
    assert_eq!(left, 0, "chunk files left behind");

    fake.fail_next(100, 400);
    let (failed, _, left) = files_during(
        chunks.path(),
        transcribe_media(&path, &client, &options, |_, _| {}),
    )
    .await;
    assert!(failed.is_err());
    assert_eq!(left, 0, "chunk files left behind after a failure");
}
