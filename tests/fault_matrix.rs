//! The fault matrix: one test per hostile condition, each ending in a typed error with the
//! placeholder kept (or the documented fallback), no panic, and no request waiting past its
//! deadline. Sources are fakes serving the hostile bytes, so no row needs the network.
//!
//! | group | row                                   | ends in                                  |
//! |-------|---------------------------------------|------------------------------------------|
//! | media | PNG bomb (huge size, small file)      | `Decode` naming size and limit           |
//! | media | image side over the limit             | `Decode` naming size and limit           |
//! | media | pixel count over a configured limit   | `Decode` naming size and limit           |
//! | media | malformed WAV (0 ch, 0 Hz, long data) | `Decode` naming the problem, no sound    |
//! | media | MP3 without the `mp3` feature         | `Unsupported` naming the feature         |
//! | media | a video that is not a video           | `Decode`                                 |
//! | media | video frames over the limit           | `Decode` naming size and limit           |
//! | media | wrong type (image asked, audio sent)  | `Decode` naming both types               |
//! | disk  | full disk (writes start failing)      | served from memory, one warning          |
//! | disk  | read-only cache directory at start    | memory-only, one warning                 |
//! | disk  | corrupt index file                    | index moved aside, cache starts empty    |
//! | disk  | two apps on one cache directory       | second is memory-only, one warning       |
//! | disk  | not a cache directory (a home folder) | memory-only, one warning, files intact   |
//! | disk  | clock moving backwards and forwards   | entries expire by the clock, no panic    |
//!
//! Rows for the network (refused connections, resets, timeouts, 429s, malformed JSON, ...)
//! belong in their own section below the disk rows.

mod common;

use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, SystemTime};

use bevy::audio::AudioSource;
use bevy::log::tracing::{self, Event, Level, Subscriber, field::Field};
use bevy::log::tracing_subscriber::{self, Layer, field::Visit, layer::Context, prelude::*};
use bevy::prelude::*;
use bevy_asset_provider::dev_backend::ClipSpec;
use bevy_asset_provider::disk_cache::DiskCacheConfig;
use bevy_asset_provider::prelude::*;
use common::*;

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

#[test]
fn media_a_video_that_is_not_a_video() {
    let mut app = app_serving(
        Behaviour::bytes(b"<html>rate limited</html>".to_vec(), "video/mp4"),
        MediaLimits::default(),
    );
    let message = fails(&mut app, AssetRequest::video(), AssetErrorKind::Decode);
    assert_mentions(&message, &["did not open as a video"]);
}

#[test]
fn media_video_frames_over_the_limit() {
    let clip = ClipSpec::new(3).size(64, 36).seconds(0.2).encode().unwrap();
    let limits = MediaLimits::default().max_image_side(32);
    let mut app = app_serving(Behaviour::bytes(clip, "video/mp4"), limits);
    let message = fails(&mut app, AssetRequest::video(), AssetErrorKind::Decode);
    assert_mentions(&message, &["64 × 36", "32 pixels a side"]);
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

/// Warnings logged by any thread of this test binary, to check a fallback is announced.
static WARNINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

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
        if *event.metadata().level() == Level::WARN {
            let mut message = Message(String::new());
            event.record(&mut message);
            WARNINGS.lock().unwrap().push(message.0);
        }
    }
}

/// The warnings so far that mention `text`.
fn warnings_about(text: &str) -> Vec<String> {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let _ = tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(CaptureWarnings),
        );
    });
    WARNINGS
        .lock()
        .unwrap()
        .iter()
        .filter(|warning| warning.contains(text))
        .cloned()
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

fn disk_stats(app: &App) -> Option<bevy_asset_provider::disk_cache::DiskStats> {
    app.world().resource::<AssetProvider>().disk_stats()
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
// Network (to come)
// ---------------------------------------------------------------------------------------------
