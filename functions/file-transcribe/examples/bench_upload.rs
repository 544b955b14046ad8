//! Benchmark of the upload consumer on a large recording: the peak memory (VmHWM) of the process
//! that transcribes it, and the wall time with chunks transcribed in parallel against one chunk
//! at a time, the fake transcription API taking a set time per second of audio. Each wall time
//! is set against its floor: the same work with an instant API (spool, hash, decode, store),
//! plus the API's time for the longest chunk sent, which no schedule can beat. Prints, never
//! asserts.
//!
//! ```sh
//! cargo run --release -p file-transcribe --features testing --example bench-upload
//! ```
//!
//! `BENCH_UPLOAD_MB` (default 200) sets the size of the generated WAV, `BENCH_LATENCY_MS`
//! (default 3) the fake's latency per second of audio. Each measurement runs in a child process
//! of its own (this program with `--child`) holding only the embedded backend and the consumer:
//! the file generation and the fake server, which keeps whole requests in memory, count in
//! neither figure. The child stages the file in the local blob store, then times
//! `file_transcribe::handle_with` on a transcribe message: spool and hash, dedup, decode, chunk,
//! transcribe, store.

use anyhow::{bail, Context, Result};
use aws_lambda_events::event::sqs::SqsEvent;
use fakes::transcribe::FakeTranscribe;
use file_transcribe::tone_audio::ToneRecording;
use pipeline::adapters::local::LocalBackend;
use pipeline::config::Config;
use pipeline::connectors::upload::TranscriptionOptions;
use pipeline::crypto::SealingKey;
use pipeline::domain::{Tenant, Upload, UploadId, UserId};
use pipeline::pipeline::upload_import::{staged_key, UploadTranscription};
use pipeline::ports::SystemClock;
use pipeline::secrets::Secrets;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.split_first() {
        Some((flag, rest)) if flag == "--child" => child(rest),
        None => parent(),
        Some(_) => bail!("usage: bench-upload (the child mode is internal)"),
    }
}

fn env_number(name: &str, default: u64) -> Result<u64> {
    std::env::var(name).ok().map_or(Ok(default), |raw| {
        raw.parse()
            .with_context(|| format!("{name} must be a whole number"))
    })
}

/// What a child process measured.
struct Measured {
    status: String,
    chunks: u64,
    wall: Duration,
    peak_kib: u64,
    staged_peak_kib: u64,
}

fn parent() -> Result<()> {
    let megabytes = env_number("BENCH_UPLOAD_MB", 200)?;
    let latency = Duration::from_millis(env_number("BENCH_LATENCY_MS", 3)?);
    let dir = tempfile::tempdir()?;
    let wav = dir.path().join("recording.wav");
    let recording = ToneRecording::of_wav_size(megabytes * 1_000_000, 1);
    let generated = Instant::now();
    recording.write_wav(&wav)?;
    println!(
        "bench-upload: {megabytes} MB WAV ({:.1} min of 16 kHz mono, {} tone bursts) generated in {:.1} s; \
         fake API latency {} ms per second of audio",
        recording.seconds / 60.0,
        recording.bursts.len(),
        generated.elapsed().as_secs_f64(),
        latency.as_millis()
    );

    let runtime = tokio::runtime::Runtime::new()?;
    let fake = runtime.block_on(FakeTranscribe::start())?;
    let parallel = TranscriptionOptions::default().parallelism;
    let measure = |parallelism: usize| {
        let args = [
            wav.to_string_lossy().into_owned(),
            fake.base_url(),
            fake.api_key().to_owned(),
            parallelism.to_string(),
        ];
        let sent_before = fake.received().len();
        let measured = runtime
            .block_on(async { tokio::task::spawn_blocking(move || run_child(&args)).await })??;
        // 16 kHz mono 16-bit WAV after a 44-byte header.
        let longest_chunk_seconds = fake.received()[sent_before..]
            .iter()
            .map(|form| form.file_bytes.saturating_sub(44) as f64 / 32_000.0)
            .fold(0.0, f64::max);
        anyhow::Ok((measured, longest_chunk_seconds))
    };
    // The work besides the API's: the same transcription with an instant API.
    let (instant, _) = measure(parallel)?;
    fake.set_latency_per_audio_second(latency);
    println!(
        "{:<28} {:>7} {:>10} {:>10} {:>8} {:>22} {:>14}",
        "mode", "chunks", "wall", "floor", "x floor", "peak memory (VmHWM)", "before (staged)"
    );
    let row = |mode: &str, measured: &Measured, floor: Duration| {
        println!(
            "{mode:<28} {:>7} {:>8.1} s {:>8.1} s {:>8.2} {:>19.1} MB {:>11.1} MB{}",
            measured.chunks,
            measured.wall.as_secs_f64(),
            floor.as_secs_f64(),
            measured.wall.as_secs_f64() / floor.as_secs_f64().max(1e-3),
            measured.peak_kib as f64 / 1024.0,
            measured.staged_peak_kib as f64 / 1024.0,
            if measured.status == "completed" {
                String::new()
            } else {
                format!("  (upload {})", measured.status)
            }
        );
    };
    row("API instant (no latency)", &instant, instant.wall);
    for (mode, parallelism) in [
        (format!("parallel ({parallel} at once)"), parallel),
        ("one chunk at a time".to_owned(), 1),
    ] {
        let (measured, longest_chunk_seconds) = measure(parallelism)?;
        let floor = instant.wall + latency.mul_f64(longest_chunk_seconds);
        row(&mode, &measured, floor);
    }
    Ok(())
}

fn run_child(args: &[String]) -> Result<Measured> {
    let output = Command::new(std::env::current_exe()?)
        .arg("--child")
        .args(args)
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "the measuring process failed: {}{}",
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let fields: Vec<&str> = stdout.split_whitespace().collect();
    let [status, chunks, wall_ms, peak, staged] = fields.as_slice() else {
        bail!("unexpected output from the measuring process: {stdout}");
    };
    Ok(Measured {
        status: (*status).to_owned(),
        chunks: chunks.parse()?,
        wall: Duration::from_millis(wall_ms.parse()?),
        peak_kib: peak.parse()?,
        staged_peak_kib: staged.parse()?,
    })
}

/// The process's peak resident memory so far, in KiB.
fn vm_hwm_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("no VmHWM in /proc/self/status")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("VmHWM without a value")?
        .parse()?)
}

/// Prints `status chunks wall_ms peak_kib staged_peak_kib` for one transcription.
fn child(args: &[String]) -> Result<()> {
    let [wav, base_url, api_key, parallelism] = args else {
        bail!("expected: --child WAV BASE_URL API_KEY PARALLELISM");
    };
    let parallelism: usize = parallelism.parse()?;
    // As the function's `main` does (`pipeline::runtime::start`).
    pipeline::runtime::return_large_buffers_to_the_system();
    tokio::runtime::Runtime::new()?.block_on(async {
        let data = tempfile::tempdir()?;
        let data_dir = data.path().to_string_lossy().into_owned();
        let config = Config::from_lookup(|name| match name {
            "LOCAL_DATA_DIR" => Some(data_dir.clone()),
            "TRANSCRIBE_API_BASE_URL" => Some(base_url.clone()),
            _ => None,
        })?;
        let key = SealingKey::from_base64(&SealingKey::generate_base64())?;
        let secrets = Secrets::from_lookup(key, |name| {
            (name == "TRANSCRIBE_API_KEY").then(|| api_key.clone())
        })?;
        let backend =
            LocalBackend::open_with(Arc::new(config), Arc::new(SystemClock), Some(secrets))?;
        let upload = stage(&backend, Path::new(wav)).await?;
        let staged_peak = vm_hwm_kib()?;

        let message = pipeline::pipeline::upload_import::attempt_message(
            &upload,
            pipeline::domain::Attempt::FIRST,
        );
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [{
            "messageId": "bench",
            "body": serde_json::to_string(&message)?,
            "attributes": {"ApproximateReceiveCount": "1"},
        }]}))?;
        let settings = UploadTranscription {
            options: TranscriptionOptions {
                parallelism,
                ..TranscriptionOptions::default()
            },
            temp_dir: data.path().to_path_buf(),
        };
        let started = Instant::now();
        let deadline = chrono::Utc::now() + chrono::Duration::minutes(15);
        file_transcribe::handle_with(&backend.services, &settings, event, deadline).await;
        let wall = started.elapsed();
        let done = backend
            .services
            .uploads
            .get(&upload.owner(), &upload.id)
            .await?
            .context("the upload vanished")?;
        let status = serde_json::to_value(done.status)?;
        println!(
            "{} {} {} {} {staged_peak}",
            status.as_str().unwrap_or("unknown"),
            done.chunks_total,
            wall.as_millis(),
            vm_hwm_kib()?
        );
        Ok(())
    })
}

/// Stores the file as a staged upload, streamed from disk, and records its pending upload.
async fn stage(backend: &LocalBackend, wav: &Path) -> Result<Upload> {
    let owner = Tenant::personal(UserId::parse("bench")?);
    let id = UploadId::new();
    let object_key = staged_key(&owner, &id, "recording.wav");
    let file = tokio::fs::File::open(wav).await?;
    let stream = futures::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buffer = vec![0u8; 256 * 1024];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(read) => {
                buffer.truncate(read);
                Some((Ok(bytes::Bytes::from(buffer)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    let size_bytes = backend
        .blobs
        .put_stream(&object_key, Box::pin(stream))
        .await?;
    let now = chrono::Utc::now();
    let upload = Upload::pending(
        id,
        owner,
        "recording.wav".into(),
        "audio/wav".into(),
        size_bytes,
        object_key,
        now,
    );
    backend.services.uploads.put(&upload).await?;
    Ok(upload)
}
