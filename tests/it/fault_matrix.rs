//! The fault matrix: one test per hostile condition, each ending in a typed error with the
//! placeholder kept (or the documented fallback), no panic, and no request waiting past its
//! deadline. Media and disk rows use fake sources serving the hostile bytes.
//!
//! | group | row                                   | ends in                                  |
//! |-------|---------------------------------------|------------------------------------------|
//! | media | PNG bomb (huge size, small file)      | `Decode` naming size and limit           |
//! | media | image side over the limit             | `Decode` naming size and limit           |
//! | media | pixel count over a configured limit   | `Decode` naming size and limit           |
//! | media | malformed WAV (0 ch, 0 Hz, long data) | `Decode` naming the problem, no sound    |
//! | media | MP3 without the `mp3` feature         | `Unsupported` naming the feature         |
//! | media | MP3/Ogg/FLAC Bevy's decoder panics on (`mp3`, `vorbis`, `flac`) | `Decode`, no sound |
//! | media | a video that is not a video           | `Decode` (with `video`)                  |
//! | media | video frames over the limit           | `Decode` naming size and limit (`video`) |
//! | media | a video without the `video` feature   | `Unsupported` naming the feature         |
//! | media | wrong type (image asked, audio sent)  | `Decode` naming both types               |
//! | disk  | full disk (writes start failing)      | served from memory, one warning          |
//! | disk  | read-only cache directory at start    | memory-only, one warning                 |
//! | disk  | corrupt index file                    | index moved aside, cache starts empty    |
//! | disk  | two apps on one cache directory       | second is memory-only, one warning       |
//! | disk  | not a cache directory (a home folder) | memory-only, one warning, files intact   |
//! | disk  | clock moving backwards and forwards   | entries expire by the clock, no panic    |
//! | net   | connection refused (nothing listens) | `Generation` error after bounded tries |
//! | net   | reset mid-body (cuts the file download, then sends it whole) | media, after a retry |
//! | net   | reset every time (cuts every download) | error after bounded tries |
//! | net   | accepts, never answers (the create hangs) | error after the request timeout, within `max_wait` |
//! | net   | 5xx storm (every create answers 503) | error naming the call, after bounded tries |
//! | net   | 429 without `Retry-After` ("Try again in 1 seconds" once) | media, after the wait the body names |
//! | net   | malformed JSON (the create's answer is cut off once) | media, after a retry |
//! | net   | a create's answer lost (makes the generation, then hangs) | media; found by its tag, created once |
//! | net   | unknown status strings (`"queued_at_provider"` for ever) | `TimedOut` at `max_wait` |
//! | net   | a job that never finishes (`processing` for ever) | `TimedOut` at `max_wait` |
//! | net   | a silent WebSocket (half-open) (accepts, never speaks or pongs) | media soon, by polling |
//! | net   | a WebSocket sending garbage (unreadable frames) | media |
//! | net   | an oversized download (a file past the limit) | `InvalidData` |
//! | net   | absurd settings (every wait `Duration::MAX`) | media; nothing overflows |
//! | net   | secrets in URLs (a token in a file URL and a password in the base URL) | errors, messages and logs never show them |
//!
//! The network rows run against a scripted server on 127.0.0.1 that speaks just enough of the
//! generation API to misbehave (`crate::common::hostile`).

use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant, SystemTime};

use axum::http::StatusCode;

use crate::common::hostile::{Reply, Script, Socket, always, first_then, hostile};
use crate::common::*;
use bevy::audio::AudioSource;
use bevy::log::tracing::{self, Event, Level, Subscriber, field::Field};
use bevy::log::tracing_subscriber::{self, Layer, field::Visit, layer::Context, prelude::*};
use bevy::prelude::*;
use bevy_asset_provider::MediaLimits;
use bevy_asset_provider::backend::{PixSimSource, PixSimSourceBuilder};
use bevy_asset_provider::cache::DiskCacheConfig;
use bevy_asset_provider::observe::AnalyticsEvent;
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::source::SourceKind;
#[cfg(feature = "video")]
use bevy_asset_provider::video::ClipSpec;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const PLACEHOLDER_SIZE: UVec2 = UVec2::new(32, 18);

/// An app whose only source answers every request as `behaviour` says.
fn app_serving(behaviour: Behaviour, limits: MediaLimits) -> App {
    let mut app = headless_app(
        plugin_with(FakeGenerator::new(behaviour))
            .with_media_limits(limits)
            .with_max_concurrent_decodes(1),
    );
    app.update();
    app
}

/// Requests `request` on an entity and steps until it ends; checks nothing is left in flight.
fn run(app: &mut App, request: AssetRequest) -> GenerationTask {
    let entity = app.world_mut().spawn(request).id();
    update_until(app, "the request to end", |app| {
        task(app, entity).status().is_terminal()
    });
    assert_eq!(app.world().resource::<AssetProvider>().in_flight(), 0);
    task(app, entity)
}

/// Runs `request` and checks it failed with `kind`, its placeholder kept; returns the message.
fn fails(app: &mut App, request: AssetRequest, kind: AssetErrorKind) -> String {
    let done = run(app, request);
    assert_eq!(done.status(), TaskStatus::Failed, "{:?}", done.error());
    let error = done.error().cloned().expect("an error on the task");
    assert_eq!(error.kind(), kind, "{error}");
    match done.handle() {
        MediaHandle::Image(handle) => {
            let image = app.world().resource::<Assets<Image>>().get(handle);
            assert_eq!(image.map(Image::size), Some(PLACEHOLDER_SIZE));
        }
        MediaHandle::Audio(handle) => {
            // No sound reaches an `AudioPlayer`: the handle stays empty.
            assert!(
                app.world()
                    .resource::<Assets<AudioSource>>()
                    .get(handle)
                    .is_none()
            );
        }
    }
    error.message().to_owned()
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            message.contains(part),
            "{message:?} should mention {part:?}"
        );
    }
}

/// A PNG of `width` × `height` 1-bit grey pixels, all black: a few bytes per row on disk,
/// four bytes a pixel once decoded.
fn grey_png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::One);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().unwrap();
    let row = width.div_ceil(8) as usize;
    writer
        .write_image_data(&vec![0; row * height as usize])
        .unwrap();
    writer.finish().unwrap();
    bytes
}

// ---------------------------------------------------------------------------------------------
// Media
// ---------------------------------------------------------------------------------------------

#[test]
fn media_png_bomb() {
    let bomb = grey_png(9000, 9000);
    assert!(bomb.len() < 200_000, "{} bytes", bomb.len());
    let mut app = app_serving(Behaviour::bytes(bomb, "image/png"), MediaLimits::default());
    let message = fails(&mut app, AssetRequest::image(), AssetErrorKind::Decode);
    assert_mentions(&message, &["9000 × 9000", "8192"]);
}

#[test]
fn media_image_side_over_the_limit() {
    let wide = png(40_000, 1, [9, 9, 9, 255]);
    let mut app = app_serving(Behaviour::bytes(wide, "image/png"), MediaLimits::default());
    let message = fails(&mut app, AssetRequest::image(), AssetErrorKind::Decode);
    assert_mentions(&message, &["40000 × 1", "8192 pixels a side"]);
}

#[test]
fn media_pixel_count_over_a_configured_limit() {
    let limits = MediaLimits::default().max_image_side(64).max_pixels(1000);
    let mut app = app_serving(
        Behaviour::Serve {
            width: 40,
            height: 40,
        },
        limits,
    );
    let message = fails(&mut app, AssetRequest::image(), AssetErrorKind::Decode);
    assert_mentions(&message, &["40 × 40", "1600", "1000"]);
    let mut app = app_serving(
        Behaviour::Serve {
            width: 30,
            height: 30,
        },
        limits,
    );
    assert_eq!(
        run(&mut app, AssetRequest::image()).status(),
        TaskStatus::Completed
    );
}

/// A WAV header: `channels`, `rate` Hz, 16 bits, a data chunk claiming `data_len` bytes, and
/// `present` bytes of it.
fn wav_header(channels: u16, rate: u32, data_len: u32, present: usize) -> Vec<u8> {
    let block = channels * 2;
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_len).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&channels.to_le_bytes());
    bytes.extend_from_slice(&rate.to_le_bytes());
    bytes.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    bytes.extend_from_slice(&block.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_len.to_le_bytes());
    bytes.resize(bytes.len() + present, 0);
    bytes
}

#[test]
fn media_malformed_wav() {
    let cases: [(Vec<u8>, &[&str]); 5] = [
        // The one seen in the wild: 45 bytes, 0 channels, 0 Hz, a million bytes of data.
        (wav_header(0, 0, 1_000_000, 1), &["zero channels"]),
        (wav_header(1, 0, 4, 4), &["0 Hz"]),
        (
            wav_header(2, 22_050, 1_000_000, 8),
            &["1000000 bytes", "8 follow"],
        ),
        (wav_header(1, 1_000_000, 4, 4), &["1000000 Hz"]),
        (
            b"RIFF\x00\x00\x00\x00WAVEjunk".to_vec(),
            &["not a playable WAV"],
        ),
    ];
    for (bytes, parts) in cases {
        let mut app = app_serving(Behaviour::bytes(bytes, "audio/wav"), MediaLimits::default());
        let message = fails(&mut app, AssetRequest::audio(), AssetErrorKind::Decode);
        assert_mentions(&message, parts);
    }
    // A sound that is whole plays.
    let mut app = app_serving(
        Behaviour::bytes(wav(100), "audio/wav"),
        MediaLimits::default(),
    );
    assert_eq!(
        run(&mut app, AssetRequest::audio()).status(),
        TaskStatus::Completed
    );
}

#[cfg(not(feature = "mp3"))]
#[test]
fn media_mp3_without_the_mp3_feature() {
    let mp3 = [
        b"ID3\x04\x00\x00\x00\x00\x00\x00".as_slice(),
        &[0xFF, 0xFB, 0x90, 0x64],
    ]
    .concat();
    let mut app = app_serving(Behaviour::bytes(mp3, "audio/mpeg"), MediaLimits::default());
    let message = fails(&mut app, AssetRequest::audio(), AssetErrorKind::Unsupported);
    assert_mentions(&message, &["audio/mpeg", "`mp3` feature"]);
}

/// A sound made for these tests (a 0.15 s tone), as `tone.<extension>`.
#[cfg(any(feature = "mp3", feature = "vorbis", feature = "flac"))]
fn tone(extension: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/audio")
        .join(format!("tone.{extension}"));
    std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Whether Bevy's own decoder, as an `AudioPlayer` runs it, panics on `bytes`.
#[cfg(any(feature = "mp3", feature = "vorbis", feature = "flac"))]
fn bevy_panics_playing(bytes: &[u8]) -> bool {
    use bevy::audio::Decodable;
    let source = AudioSource {
        bytes: bytes.into(),
    };
    std::panic::catch_unwind(|| source.decoder().take(4096).count()).is_err()
}

/// Compressed sounds with the right signature that Bevy's decoder panics on fail as `Decode`
/// naming the file and the problem; a whole sound of the same type plays.
#[cfg(any(feature = "mp3", feature = "vorbis", feature = "flac"))]
fn compressed_sound_rows(mime: &str, whole: Vec<u8>, malformed: Vec<Vec<u8>>) {
    for bytes in malformed {
        assert!(
            bevy_panics_playing(&bytes),
            "Bevy plays {mime} {:?}…",
            &bytes[..bytes.len().min(16)]
        );
        let mut app = app_serving(Behaviour::bytes(bytes, mime), MediaLimits::default());
        let message = fails(&mut app, AssetRequest::audio(), AssetErrorKind::Decode);
        assert_mentions(&message, &["fake", mime, "not a playable"]);
    }
    assert!(!bevy_panics_playing(&whole));
    let mut app = app_serving(Behaviour::bytes(whole, mime), MediaLimits::default());
    let done = run(&mut app, AssetRequest::audio());
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
}

#[cfg(feature = "mp3")]
#[test]
fn media_malformed_mp3() {
    compressed_sound_rows(
        "audio/mpeg",
        tone("mp3"),
        vec![
            // An ID3 tag and nothing after it.
            b"ID3\x04\x00\x00\x00\x00\x00\x00".to_vec(),
            // A frame sync, then noise.
            [&[0xFF, 0xFB, 0x90, 0x64][..], &[0x5A; 64]].concat(),
        ],
    );
}

#[cfg(feature = "vorbis")]
#[test]
fn media_malformed_ogg_vorbis() {
    let whole = tone("ogg");
    compressed_sound_rows(
        "audio/ogg",
        whole.clone(),
        vec![
            b"OggS\x00\x02 nothing of the kind".to_vec(),
            // The first page of a real stream, cut before its headers end.
            whole[..60].to_vec(),
        ],
    );
}

#[cfg(feature = "flac")]
#[test]
fn media_malformed_flac() {
    let whole = tone("flac");
    // STREAMINFO's sample rate (20 bits from byte 18) set to 0.
    let mut silent_rate = whole.clone();
    silent_rate[18] = 0;
    silent_rate[19] = 0;
    silent_rate[20] &= 0x0F;
    compressed_sound_rows(
        "audio/flac",
        whole,
        vec![b"fLaC\x00\x00\x00\x22 then nothing".to_vec(), silent_rate],
    );
}

#[cfg(feature = "video")]
#[test]
fn media_a_video_that_is_not_a_video() {
    let mut app = app_serving(
        Behaviour::bytes(b"<html>rate limited</html>".to_vec(), "video/mp4"),
        MediaLimits::default(),
    );
    let message = fails(&mut app, AssetRequest::video(), AssetErrorKind::Decode);
    assert_mentions(&message, &["did not open as a video"]);
}

#[cfg(feature = "video")]
#[test]
fn media_video_frames_over_the_limit() {
    let clip = ClipSpec::new(3).size(64, 36).seconds(0.2).encode().unwrap();
    let limits = MediaLimits::default().max_image_side(32);
    let mut app = app_serving(Behaviour::bytes(clip, "video/mp4"), limits);
    let message = fails(&mut app, AssetRequest::video(), AssetErrorKind::Decode);
    assert_mentions(&message, &["64 × 36", "32 pixels a side"]);
}

/// Without FFmpeg a clip is not opened at all: the request fails, its placeholder stays.
#[cfg(not(feature = "video"))]
#[test]
fn media_a_video_without_the_video_feature() {
    let mut app = app_serving(
        Behaviour::bytes(b"\0\0\0\x18ftypmp42".to_vec(), "video/mp4"),
        MediaLimits::default(),
    );
    let message = fails(&mut app, AssetRequest::video(), AssetErrorKind::Unsupported);
    assert_mentions(&message, &["video/mp4", "`video` feature"]);
}

#[test]
fn media_wrong_type_image_asked_audio_sent() {
    let mut app = app_serving(
        Behaviour::bytes(wav(100), "audio/wav"),
        MediaLimits::default(),
    );
    let message = fails(&mut app, AssetRequest::image(), AssetErrorKind::Decode);
    assert_mentions(&message, &["expected an image", "audio/wav"]);
    // Labelled as an image, it still is not one.
    let mut app = app_serving(
        Behaviour::bytes(wav(100), "image/png"),
        MediaLimits::default(),
    );
    fails(&mut app, AssetRequest::image(), AssetErrorKind::Decode);
}

// ---------------------------------------------------------------------------------------------
// Disk
// ---------------------------------------------------------------------------------------------

/// What any thread of this test binary logged: to check a fallback is announced, and that no
/// secret is ever written.
static LOGS: Mutex<Vec<(Level, String)>> = Mutex::new(Vec::new());

struct CaptureWarnings;

impl<S: Subscriber> Layer<S> for CaptureWarnings {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        struct Message(String);
        impl Visit for Message {
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        LOGS.lock()
            .unwrap()
            .push((*event.metadata().level(), message.0));
    }
}

/// Starts keeping every log line of the binary in [`LOGS`].
fn capture_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let _ = tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(CaptureWarnings),
        );
    });
}

/// The warnings so far that mention `text`.
fn warnings_about(text: &str) -> Vec<String> {
    capture_logs();
    LOGS.lock()
        .unwrap()
        .iter()
        .filter(|(level, warning)| *level == Level::WARN && warning.contains(text))
        .map(|(_, warning)| warning.clone())
        .collect()
}

fn disk_app(config: DiskCacheConfig) -> (App, Arc<FakeGenerator>) {
    warnings_about("");
    let source = FakeGenerator::new(Behaviour::Serve {
        width: 4,
        height: 4,
    });
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .with_shared_source(source.clone())
            .with_disk_cache(config)
            .with_default_timeout(Duration::from_secs(10)),
    );
    app.update();
    (app, source)
}

fn completes(app: &mut App, prompt: &str) -> GenerationTask {
    let done = run(app, AssetRequest::image().prompt(prompt));
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    done
}

fn disk_stats(app: &App) -> Option<bevy_asset_provider::cache::DiskStats> {
    app.world().resource::<AssetProvider>().disk().stats()
}

#[test]
fn disk_full_disk() {
    let dir = TempDir::new("full-disk");
    let cache = dir.path().join("cache");
    let (mut app, _) = disk_app(DiskCacheConfig::new(&cache));
    completes(&mut app, "before");
    update_until(&mut app, "the first result on disk", |app| {
        disk_stats(app).is_some_and(|stats| stats.entries == 1)
    });
    // Every write from now on fails, as on a full disk.
    std::fs::remove_dir_all(cache.join("tmp")).unwrap();
    std::fs::write(cache.join("tmp"), b"").unwrap();
    for prompt in ["after", "and after"] {
        completes(&mut app, prompt);
    }
    update_until(&mut app, "the failed write to be warned about", |_| {
        !warnings_about(&cache.display().to_string()).is_empty()
    });
    let warned = warnings_about(&cache.display().to_string());
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("memory only"), "{warned:?}");
    assert_eq!(disk_stats(&app).map(|stats| stats.entries), Some(1));
}

/// Makes a directory read-only for the test's life: by its mode, or (for root, whom modes do
/// not stop) by the immutable attribute. `None` where neither stops a write.
struct ReadOnly(Vec<std::path::PathBuf>);

impl ReadOnly {
    #[cfg(unix)]
    fn new(dirs: &[std::path::PathBuf]) -> Option<Self> {
        use std::os::unix::fs::PermissionsExt;
        let guard = Self(dirs.to_vec());
        for dir in dirs {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        }
        if guard.writable() {
            for dir in dirs {
                let _ = std::process::Command::new("chattr")
                    .arg("+i")
                    .arg(dir)
                    .status();
            }
        }
        (!guard.writable()).then_some(guard)
    }

    #[cfg(not(unix))]
    fn new(_: &[std::path::PathBuf]) -> Option<Self> {
        None
    }

    fn writable(&self) -> bool {
        let probe = self.0[0].join("probe");
        let written = std::fs::write(&probe, b"x").is_ok();
        let _ = std::fs::remove_file(probe);
        written
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        #[cfg(unix)]
        for dir in &self.0 {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(dir)
                .stderr(std::process::Stdio::null())
                .status();
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
        }
    }
}

#[test]
fn disk_read_only_cache_directory_at_start() {
    let dir = TempDir::new("read-only");
    let cache = dir.path().join("cache");
    {
        let (mut app, _) = disk_app(DiskCacheConfig::new(&cache));
        completes(&mut app, "kept");
        update_until(&mut app, "the result on disk", |app| {
            disk_stats(app).is_some_and(|stats| stats.entries == 1)
        });
    }
    let Some(_read_only) = ReadOnly::new(&[cache.clone(), cache.join("tmp"), cache.join("blobs")])
    else {
        eprintln!("skipped: nothing here makes a directory read-only for this user");
        return;
    };
    let (mut app, source) = disk_app(DiskCacheConfig::new(&cache));
    completes(&mut app, "new");
    update_until(&mut app, "the directory to be warned about", |_| {
        !warnings_about(&cache.display().to_string()).is_empty()
    });
    assert_eq!(warnings_about(&cache.display().to_string()).len(), 1);
    assert_eq!(disk_stats(&app), None, "memory only");
    assert_eq!(source.calls(), 1);
}

#[test]
fn disk_corrupt_index_file() {
    let dir = TempDir::new("corrupt-index");
    let cache = dir.path().join("cache");
    {
        let (mut app, _) = disk_app(DiskCacheConfig::new(&cache));
        completes(&mut app, "kept");
        update_until(&mut app, "the result on disk", |app| {
            disk_stats(app).is_some_and(|stats| stats.entries == 1)
        });
    }
    std::fs::write(cache.join("index.redb"), vec![0x5a; 8192]).unwrap();
    let (mut app, source) = disk_app(DiskCacheConfig::new(&cache));
    let done = completes(&mut app, "kept");
    assert_eq!(
        done.source(),
        Some(SourceKind::Generated),
        "the index started over"
    );
    assert_eq!(source.calls(), 1);
    assert!(cache.join("index.redb.corrupt").is_file());
    update_until(&mut app, "the new index to hold the result", |app| {
        disk_stats(app).is_some_and(|stats| stats.entries == 1)
    });
}

#[test]
fn disk_two_apps_on_one_cache_directory() {
    let dir = TempDir::new("two-apps");
    let cache = dir.path().join("cache");
    let (mut first, _) = disk_app(DiskCacheConfig::new(&cache));
    completes(&mut first, "shared");
    update_until(&mut first, "the first app's cache to open", |app| {
        disk_stats(app).is_some()
    });
    let (mut second, _) = disk_app(DiskCacheConfig::new(&cache));
    completes(&mut second, "shared");
    completes(&mut second, "its own");
    assert_eq!(disk_stats(&second), None, "memory only");
    let warned = warnings_about(&cache.display().to_string());
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("already open"), "{warned:?}");
    // The first keeps its cache.
    completes(&mut first, "still on disk");
    update_until(&mut first, "the first app to keep writing", |app| {
        disk_stats(app).is_some_and(|stats| stats.entries == 2)
    });
}

#[test]
fn disk_not_a_cache_directory() {
    let dir = TempDir::new("home");
    let home = dir.path().to_owned();
    std::fs::create_dir_all(home.join("tmp")).unwrap();
    std::fs::write(home.join(".bashrc"), b"# mine").unwrap();
    std::fs::write(home.join("tmp").join("draft.txt"), b"mine").unwrap();
    let (mut app, _) = disk_app(DiskCacheConfig::new(&home));
    completes(&mut app, "anything");
    update_until(&mut app, "the refusal to be warned about", |_| {
        !warnings_about(&home.display().to_string()).is_empty()
    });
    let warned = warnings_about(&home.display().to_string());
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("not the cache's"), "{warned:?}");
    assert_eq!(disk_stats(&app), None, "memory only");
    assert!(home.join(".bashrc").is_file() && home.join("tmp").join("draft.txt").is_file());
    assert!(!home.join("index.redb").exists() && !home.join("blobs").exists());
}

#[test]
fn disk_clock_moving_backwards_and_forwards() {
    let dir = TempDir::new("clock");
    let start = SystemTime::now();
    let now = Arc::new(Mutex::new(start));
    let clock = {
        let now = now.clone();
        Arc::new(move || *now.lock().unwrap())
    };
    let config = DiskCacheConfig::new(dir.path().join("cache")).clock(clock);
    let (mut app, _) = disk_app(config);
    let year = Duration::from_secs(365 * 24 * 3600);
    let again = |app: &mut App, at: SystemTime| {
        *now.lock().unwrap() = at;
        app.world_mut()
            .resource_mut::<AssetProvider>()
            .clear_memory();
        completes(app, "the mill").source()
    };
    assert_eq!(again(&mut app, start), Some(SourceKind::Generated));
    update_until(&mut app, "the result on disk", |app| {
        disk_stats(app).is_some_and(|stats| stats.entries == 1)
    });
    // Ten years back: nothing expires early, nothing panics.
    assert_eq!(again(&mut app, start - 10 * year), Some(SourceKind::Cached));
    // Before the epoch: times count as the epoch.
    let before_epoch = SystemTime::UNIX_EPOCH - year;
    assert_eq!(again(&mut app, before_epoch), Some(SourceKind::Cached));
    // Two years on, past `once`'s 365 days: made again.
    assert_eq!(
        again(&mut app, start + 2 * year),
        Some(SourceKind::Generated)
    );
    update_until(&mut app, "the new result on disk", |app| {
        disk_stats(app).is_some_and(|stats| stats.expired_swept == 1 && stats.entries == 1)
    });
    assert_eq!(again(&mut app, start + 2 * year), Some(SourceKind::Cached));
}

// ---------------------------------------------------------------------------------------------
// Network
// ---------------------------------------------------------------------------------------------

/// The picture every scripted asset serves.
fn picture() -> Vec<u8> {
    png(6, 4, [10, 120, 200, 255])
}

/// The generation JSON the real service answers, named as the create asked (so the client
/// knows it for its own).
fn generation(status: &str, name: Option<&str>) -> Value {
    let mut value = json!({"id": 1, "status": status, "operation_type": "text_to_image",
        "name": name, "user": {"type": "user", "id": 1}});
    if status == "completed" {
        value["asset"] = json!({"type": "asset", "id": 1, "meta": null});
    }
    value
}

/// A create script that answers `status` with the create's own name.
fn create_answering(status: &'static str) -> Script {
    Arc::new(move |_, body| Reply::Json(StatusCode::CREATED, generation(status, name_of(body))))
}

fn name_of(body: &[u8]) -> Option<&str> {
    let start = std::str::from_utf8(body).ok()?;
    let at = start.find("\"name\":\"")? + 8;
    start[at..].split('"').next()
}

fn asset() -> Script {
    let bytes = picture();
    always(Reply::Json(
        StatusCode::OK,
        json!({"id": 1, "media_type": "image", "mime_type": "image/png", "file_url": "/file",
            "file_size_bytes": bytes.len(), "sha256": hex::encode(Sha256::digest(&bytes))}),
    ))
}

fn file() -> Reply {
    Reply::Raw(
        StatusCode::OK,
        vec![("content-type", "image/png".to_owned())],
        picture(),
    )
}

/// A backend whose create answers completed at once, and whose file is served as `file`.
fn completed_with(file: Script) -> Vec<(&'static str, Script)> {
    vec![
        ("POST /api/v1/generations", create_answering("completed")),
        ("GET /api/v1/assets/1", asset()),
        ("GET /file", file),
    ]
}

/// A client of `url` that polls and retries fast, with 3 tries per call.
fn fast(url: &str) -> PixSimSourceBuilder {
    PixSimSource::builder(url)
        .token("test-token")
        .poll_interval(Duration::from_millis(20), Duration::from_millis(200))
        .retries(3, Duration::from_millis(10), Duration::from_millis(50))
        .request_timeout(Duration::from_millis(800))
}

fn net_app(source: PixSimSource) -> App {
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(source)
            .with_default_timeout(Duration::from_secs(8)),
    );
    app.update();
    app
}

/// Requests an image and steps until its task ends; also checks the placeholder stays on
/// failure and that the end came within the request's deadline.
fn net_run(app: &mut App, request: AssetRequest) -> GenerationTask {
    let started = Instant::now();
    let entity = app.world_mut().spawn(request).id();
    update_until(app, "the task ends", |app| {
        task(app, entity).status().is_terminal()
    });
    let done = task(app, entity);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    if done.status() != TaskStatus::Completed {
        let handle = done.handle().image().unwrap();
        let size = app
            .world()
            .resource::<Assets<Image>>()
            .get(handle)
            .map(Image::size);
        assert_eq!(size, Some(UVec2::new(32, 18)), "the placeholder stays");
    }
    done
}

fn picture_request() -> AssetRequest {
    AssetRequest::image().scene("quay").prompt("the quay")
}

#[test]
fn net_connection_refused() {
    // Nothing listens on port 1 of the loopback.
    let mut app = net_app(fast("http://127.0.0.1:1").websocket(false).build().unwrap());
    let done = net_run(&mut app, picture_request());
    assert_eq!(done.status(), TaskStatus::Failed);
    let error = done.error().unwrap();
    assert_eq!(error.kind(), AssetErrorKind::Generation, "{error}");
    assert!(error.message().contains("could not connect"), "{error}");
    assert!(error.message().contains("after 3 tries"), "{error}");
}

#[test]
fn net_reset_mid_body_then_whole() {
    let server = hostile(
        completed_with(first_then(
            2,
            Reply::Reset(picture()[..10].to_vec()),
            file(),
        )),
        None,
    );
    let mut app = net_app(fast(&server.url).websocket(false).build().unwrap());
    let done = net_run(&mut app, picture_request());
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    assert_eq!(server.calls("GET /file"), 3);
}

#[test]
fn net_reset_every_time() {
    let server = hostile(
        completed_with(always(Reply::Reset(picture()[..10].to_vec()))),
        None,
    );
    let mut app = net_app(fast(&server.url).websocket(false).build().unwrap());
    let done = net_run(&mut app, picture_request());
    assert_eq!(done.status(), TaskStatus::Failed);
    assert!(
        done.error().unwrap().message().contains("after 3 tries"),
        "{:?}",
        done.error()
    );
}

#[test]
fn net_accepts_and_never_answers() {
    let server = hostile(
        vec![("POST /api/v1/generations", always(Reply::Hang))],
        None,
    );
    let mut app = net_app(fast(&server.url).websocket(false).build().unwrap());
    let done = net_run(&mut app, picture_request().max_wait(Duration::from_secs(6)));
    assert_eq!(done.status(), TaskStatus::Failed, "{:?}", done.error());
    assert!(
        done.error().unwrap().message().contains("timed out"),
        "{:?}",
        done.error()
    );
}

#[test]
fn net_server_error_storm() {
    let server = hostile(
        vec![(
            "POST /api/v1/generations",
            always(Reply::Json(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"code": "unavailable", "message": "try later"}),
            )),
        )],
        None,
    );
    let mut app = net_app(fast(&server.url).websocket(false).build().unwrap());
    let done = net_run(&mut app, picture_request());
    assert_eq!(done.status(), TaskStatus::Failed);
    let error = done.error().unwrap();
    assert!(
        error.message().contains("POST /api/v1/generations"),
        "{error}"
    );
    assert!(error.message().contains("try later"), "{error}");
    assert_eq!(server.calls("POST /api/v1/generations"), 3);
}

#[test]
fn net_rate_limited_without_retry_after() {
    let mut routes = completed_with(always(file()));
    routes[0].1 = {
        let create = create_answering("completed");
        Arc::new(move |call, body| {
            if call == 0 {
                Reply::Json(
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({"code": "http_429",
                        "message": "Rate limit exceeded. Try again in 1 seconds."}),
                )
            } else {
                create(call, body)
            }
        })
    };
    let server = hostile(routes, None);
    let mut app = net_app(fast(&server.url).websocket(false).build().unwrap());
    let started = Instant::now();
    let done = net_run(&mut app, picture_request());
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the body's wait was kept"
    );
}

#[test]
fn net_malformed_json_once() {
    let mut routes = completed_with(always(file()));
    routes[0].1 = {
        let create = create_answering("completed");
        Arc::new(move |call, body| {
            if call == 0 {
                Reply::Raw(
                    StatusCode::CREATED,
                    vec![("content-type", "application/json".to_owned())],
                    b"{\"id\": 1, \"sta".to_vec(),
                )
            } else {
                create(call, body)
            }
        })
    };
    let server = hostile(routes, None);
    let mut app = net_app(fast(&server.url).websocket(false).build().unwrap());
    let done = net_run(&mut app, picture_request());
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
}

#[test]
fn net_a_create_whose_answer_is_lost_is_found_and_not_paid_twice() {
    // The server makes the generation, then never answers; the account's list has it.
    let made: Arc<Mutex<Option<String>>> = Arc::default();
    let remember = made.clone();
    let listed = made.clone();
    let mut routes = completed_with(always(file()));
    routes[0].1 = Arc::new(move |_, body| {
        *remember.lock().unwrap() = name_of(body).map(str::to_owned);
        Reply::Hang
    });
    routes.push((
        "GET /api/v1/generations",
        Arc::new(move |_, _| {
            let name = listed.lock().unwrap().clone();
            let generations: Vec<Value> = name
                .iter()
                .map(|name| generation("completed", Some(name)))
                .collect();
            Reply::Json(
                StatusCode::OK,
                json!({"generations": generations, "total": 1}),
            )
        }),
    ));
    let server = hostile(routes, None);
    let mut app = net_app(fast(&server.url).websocket(false).build().unwrap());
    // A per-player request asks for new work: sending it again would pay twice.
    let done = run(
        &mut app,
        picture_request().strategy(CachingStrategy::PerPlayer),
    );
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    assert_eq!(server.calls("POST /api/v1/generations"), 1);
    assert!(made.lock().unwrap().is_some());
}

fn stuck_at(status: &'static str) -> Vec<(&'static str, Script)> {
    vec![
        ("POST /api/v1/generations", create_answering("pending")),
        (
            "GET /api/v1/generations/1",
            always(Reply::Json(StatusCode::OK, generation(status, None))),
        ),
    ]
}

#[test]
fn net_unknown_status_strings() {
    let server = hostile(stuck_at("queued_at_provider"), None);
    let mut app = net_app(fast(&server.url).websocket(false).build().unwrap());
    let done = net_run(&mut app, picture_request().max_wait(Duration::from_secs(1)));
    assert_eq!(done.status(), TaskStatus::TimedOut, "{:?}", done.error());
    assert!(server.calls("GET /api/v1/generations/1") >= 2);
}

#[test]
fn net_a_job_that_never_finishes() {
    let server = hostile(stuck_at("processing"), None);
    let mut app = net_app(fast(&server.url).websocket(false).build().unwrap());
    let done = net_run(&mut app, picture_request().max_wait(Duration::from_secs(1)));
    assert_eq!(done.status(), TaskStatus::TimedOut, "{:?}", done.error());
    assert_eq!(done.error().unwrap().kind(), AssetErrorKind::TimedOut);
}

/// A backend whose job completes a moment after it is created, known only by polling.
fn completes_after(delay: Duration) -> Vec<(&'static str, Script)> {
    let created = Arc::new(Mutex::new(None::<Instant>));
    let started = created.clone();
    vec![
        (
            "POST /api/v1/generations",
            Arc::new(move |_, body| {
                *started.lock().unwrap() = Some(Instant::now());
                Reply::Json(StatusCode::CREATED, generation("pending", name_of(body)))
            }),
        ),
        (
            "GET /api/v1/generations/1",
            Arc::new(move |_, _| {
                let done = created
                    .lock()
                    .unwrap()
                    .is_some_and(|at| at.elapsed() >= delay);
                let status = if done { "completed" } else { "processing" };
                Reply::Json(StatusCode::OK, generation(status, None))
            }),
        ),
        ("GET /api/v1/assets/1", asset()),
        ("GET /file", always(file())),
    ]
}

#[test]
fn net_a_silent_websocket_is_given_up_and_the_job_polled() {
    let server = hostile(
        completes_after(Duration::from_millis(300)),
        Some(Socket::Silent),
    );
    // A trusted socket means polling only every 30 s; a silent one must not be trusted for long.
    let source = fast(&server.url)
        .poll_interval(Duration::from_millis(50), Duration::from_secs(30))
        .socket_keep_alive(Duration::from_millis(100))
        .build()
        .unwrap();
    let mut app = net_app(source);
    // Let the socket open first, so the job starts out trusting it.
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(200) {
        app.update();
    }
    let started = Instant::now();
    let done = net_run(&mut app, picture_request());
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn net_a_websocket_sending_garbage() {
    let server = hostile(
        completes_after(Duration::from_millis(100)),
        Some(Socket::Garbage),
    );
    let mut app = net_app(fast(&server.url).build().unwrap());
    let done = net_run(&mut app, picture_request());
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
}

#[test]
fn net_an_oversized_download() {
    let server = hostile(completed_with(always(file())), None);
    let source = fast(&server.url)
        .websocket(false)
        .max_download_bytes(16)
        .build()
        .unwrap();
    let mut app = net_app(source);
    let done = net_run(&mut app, picture_request());
    assert_eq!(done.status(), TaskStatus::Failed);
    let error = done.error().unwrap();
    assert_eq!(error.kind(), AssetErrorKind::InvalidData, "{error}");
    assert!(error.message().contains("limit"), "{error}");
}

#[test]
fn net_secrets_in_urls_never_reach_errors_messages_or_logs() {
    capture_logs();
    const TOKEN: &str = "tok-SECRET-7431";
    const PASSWORD: &str = "pw-SECRET-9911";
    let mut routes = completed_with(always(file()));
    // The file lives on a host that cannot be reached, behind a token in its query.
    routes[1].1 = always(Reply::Json(
        StatusCode::OK,
        json!({"id": 1, "media_type": "image", "mime_type": "image/png",
            "file_url": format!("http://127.0.0.1:1/media/x.png?token={TOKEN}")}),
    ));
    let server = hostile(routes, Some(Socket::Garbage));
    let base = server
        .url
        .replace("http://", &format!("http://player:{PASSWORD}@"));
    let source = PixSimSource::builder(base)
        .token(TOKEN)
        .poll_interval(Duration::from_millis(20), Duration::from_millis(200))
        .retries(2, Duration::from_millis(5), Duration::from_millis(10))
        .build()
        .unwrap();
    let mut app = net_app(source);
    collect::<AssetFailed>(&mut app);
    collect::<AnalyticsEvent>(&mut app);
    let done = net_run(&mut app, picture_request());
    assert_eq!(done.status(), TaskStatus::Failed);
    for _ in 0..3 {
        app.update();
    }
    let mut said = vec![format!("{:?}", done), done.error().unwrap().to_string()];
    said.extend(
        collected::<AssetFailed>(&app)
            .iter()
            .map(|m| format!("{m:?}")),
    );
    said.extend(
        collected::<AnalyticsEvent>(&app)
            .iter()
            .map(|m| format!("{m:?}")),
    );
    said.extend(LOGS.lock().unwrap().iter().map(|(_, line)| line.clone()));
    assert!(said.len() > 3, "{said:?}");
    for text in said {
        assert!(
            !text.contains(TOKEN) && !text.contains(PASSWORD),
            "a secret leaked: {text}"
        );
    }
    assert!(
        done.error().unwrap().message().contains("asset 1"),
        "the error still names what failed: {:?}",
        done.error()
    );
}

#[test]
fn net_absurd_settings_overflow_nothing() {
    let dev = pixsim_dev::DevBackend::builder()
        .job_delays(Duration::from_millis(5), Duration::from_millis(20))
        .spawn()
        .unwrap();
    // Every wait a game could set, as long as it can be: the socket still carries the job.
    let source = client(&dev)
        .retries(3, Duration::MAX, Duration::MAX)
        .poll_interval(Duration::MAX, Duration::MAX)
        .retry_grace(Duration::MAX)
        .request_timeout(Duration::MAX)
        .connect_timeout(Duration::MAX)
        .max_server_wait(Duration::MAX)
        .socket_keep_alive(Duration::MAX)
        .build()
        .unwrap();
    let mut app = net_app(source);
    let done = net_run(&mut app, picture_request().max_wait(Duration::MAX));
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
}
