//! The disk tier, measured beside what a game would do without it, in the same run.
//!
//! 1. A warm disk hit for a 1 MB PNG: request to real media behind the handle, both until the
//!    provider tells the game (`AssetReady`, from when the game's later systems see it) and until
//!    that frame ends, beside reading the same file and decoding it on the spot (what a game does
//!    at best).
//! 2. 200 remote images through the plugin from a loopback backend, cold (generated, downloaded,
//!    kept) and warm (a restarted game reading them from disk), beside Bevy's own web asset source
//!    (`http://` paths, the `http` feature) loading the same 200 files from the same server.
//!
//! Run: `cargo bench --bench disk_cache`

#[path = "common/executor.rs"]
mod executor;
use executor::{Executor, use_executor};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bevy::asset::io::web::WebAssetPlugin;
use bevy::asset::{AssetMetaCheck, LoadState, RenderAssetUsages};
use bevy::image::{CompressedImageFormats, ImageLoader, ImageSampler, ImageType};
use bevy::prelude::*;
use bevy_asset_provider::backend::PixSimSource;
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::source::SourceKind;
use bevy_asset_provider::source::procedural::encode_png;
use bevy_asset_provider::source::{AssetSource, SourceRequest, SourcedMedia};
use pixsim_dev::DevBackend;

const HIT_ROUNDS: usize = 96;
/// Restarts of the game in the warm-hit measure: each gives one first read.
const RESTARTS: usize = 24;
const REMOTE_IMAGES: usize = 200;
const ROUNDS: usize = 5;

/// Serves one fixed PNG, as a generator would.
struct OnePng(Arc<[u8]>);

#[async_trait]
impl AssetSource for OnePng {
    fn name(&self) -> &str {
        "one_png"
    }
    fn kind(&self) -> SourceKind {
        SourceKind::Generated
    }
    async fn resolve(&self, _: &SourceRequest) -> Result<Option<SourcedMedia>, AssetError> {
        Ok(Some(SourcedMedia::new(
            self.0.clone(),
            "image/png",
            "one_png",
        )))
    }
}

/// About 1 MB of PNG: noise does not compress.
fn megabyte_png() -> Vec<u8> {
    let (width, height) = (512u32, 512u32);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let pixels: Vec<u8> = (0..width * height * 4)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    encode_png(width, height, &pixels)
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("bap-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("a temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn provider_app(plugin: AssetProviderPlugin) -> App {
    let mut app = App::new();
    // A shipped game does not watch its asset folder; the crate's dev build turns the watcher on.
    let assets = AssetPlugin {
        watch_for_changes_override: Some(false),
        ..default()
    };
    app.add_plugins((MinimalPlugins, assets))
        .init_asset::<Image>()
        .add_plugins(plugin);
    app.finish();
    app.cleanup();
    app.update();
    app
}

/// Requests every one of `requests` at once and steps until all are completed: (frames, time).
fn run_until_completed(app: &mut App, requests: &[AssetRequest]) -> (u32, Duration) {
    let start = Instant::now();
    let entities: Vec<Entity> = requests
        .iter()
        .map(|request| app.world_mut().spawn(request.clone()).id())
        .collect();
    let mut frames = 0;
    let deadline = start + Duration::from_secs(300);
    loop {
        app.update();
        frames += 1;
        let mut done = true;
        for entity in &entities {
            let task = app.world().get::<GenerationTask>(*entity).expect("a task");
            match task.status() {
                TaskStatus::Completed => {}
                status if status.is_terminal() => panic!("{status:?}: {:?}", task.error()),
                _ => done = false,
            }
        }
        if done {
            return (frames, start.elapsed());
        }
        assert!(Instant::now() < deadline, "requests did not complete");
    }
}

/// The blob file the disk tier keeps for `bytes`.
fn blob_path(dir: &Path, bytes: &[u8]) -> PathBuf {
    use sha2::{Digest, Sha256};
    let sha = hex::encode(Sha256::digest(bytes));
    dir.join("blobs").join(&sha[..2]).join(sha)
}

fn decode_png(bytes: &[u8]) -> Image {
    Image::from_buffer(
        bytes,
        ImageType::MimeType("image/png"),
        CompressedImageFormats::NONE,
        true,
        ImageSampler::Default,
        RenderAssetUsages::default(),
    )
    .expect("a PNG")
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// Steps a just started app until its disk tier has opened (in the background, as a game's
/// first frames run): how long that took.
fn wait_for_disk_tier(app: &mut App) -> Duration {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(30);
    while app
        .world()
        .resource::<AssetProvider>()
        .disk()
        .stats()
        .is_none()
    {
        assert!(Instant::now() < deadline, "the disk tier did not open");
        app.update();
    }
    start.elapsed()
}

/// A 1 MB PNG served from the disk tier after restarts, against `fs::read` + decode of the
/// same file: the first read after each restart (its SHA-256 checked) and the later ones.
fn warm_hit(executor: Executor) {
    let png: Arc<[u8]> = megabyte_png().into();
    let dir = TempDir::new("hit");
    let request = AssetRequest::image().prompt("a megabyte of noise");
    let plugin = || {
        AssetProviderPlugin::new()
            .with_source(OnePng(png.clone()))
            .with_disk_cache_dir(&dir.0)
    };
    // Fill the disk tier, then restart the game.
    {
        let mut app = provider_app(plugin());
        run_until_completed(&mut app, std::slice::from_ref(&request));
    }
    let (mut first, mut later, mut opened) = (Vec::new(), Vec::new(), Vec::new());
    let (mut first_ready, mut later_ready) = (Vec::new(), Vec::new());
    for _ in 0..RESTARTS {
        let mut app = provider_app(plugin());
        use_executor(&mut app, executor);
        app.init_resource::<ReadyAt>().add_observer(note_ready);
        opened.push(wait_for_disk_tier(&mut app));
        for round in 0..HIT_ROUNDS / RESTARTS {
            // Forget the memory tier so every round goes to disk.
            app.world_mut()
                .resource_mut::<AssetProvider>()
                .clear_memory();
            app.world_mut().resource_mut::<ReadyAt>().0 = None;
            let start = Instant::now();
            let (_, time) = run_until_completed(&mut app, std::slice::from_ref(&request));
            let ready = app
                .world()
                .resource::<ReadyAt>()
                .0
                .expect("told it is ready")
                - start;
            if round == 0 {
                first.push(time);
                first_ready.push(ready);
            } else {
                later.push(time);
                later_ready.push(ready);
            }
        }
        let stats = app.world().resource::<AssetProvider>().stats().clone();
        assert_eq!(
            stats.cached as usize,
            HIT_ROUNDS / RESTARTS,
            "every round was a disk hit"
        );
    }
    let blob = blob_path(&dir.0, &png);
    let raw = median(HIT_ROUNDS, || {
        let start = Instant::now();
        let bytes = std::fs::read(&blob).expect("the blob");
        let image = decode_png(&bytes);
        assert_eq!(image.size(), UVec2::new(512, 512));
        start.elapsed()
    });
    let [first, later, opened, first_ready, later_ready] =
        [first, later, opened, first_ready, later_ready].map(|mut times| {
            times.sort_unstable();
            times[times.len() / 2]
        });
    println!(
        "warm disk hit, {} KB PNG, {executor:?}-threaded executor ({RESTARTS} restarts, {} reads; medians):",
        png.len() / 1024,
        HIT_ROUNDS
    );
    println!(
        "  plugin, first read after restart (hash checked) {:>8.0} µs to the end of its frame, {:>5.0} µs to `AssetReady`  (the tier opened {:.0} µs after start, in the background)",
        micros(first),
        micros(first_ready),
        micros(opened)
    );
    println!(
        "  plugin, later reads                             {:>8.0} µs to the end of its frame, {:>5.0} µs to `AssetReady`",
        micros(later),
        micros(later_ready)
    );
    println!(
        "  raw std::fs::read + decode, same file           {:>8.0} µs  (blocking the caller)",
        micros(raw)
    );
    let over = |time: Duration| time.as_secs_f64() / raw.as_secs_f64();
    println!(
        "  plugin over raw, to the end of the frame: first read {:.2}x, later reads {:.2}x",
        over(first),
        over(later)
    );
    println!(
        "  plugin over raw, to `AssetReady`:         first read {:.2}x, later reads {:.2}x",
        over(first_ready),
        over(later_ready)
    );
    if executor == Executor::Single {
        breakdown(&blob);
    }
}

/// When the last request was told ready: its real media is behind its handle from then on,
/// for every system that runs after the provider's in that frame.
#[derive(Resource, Default)]
struct ReadyAt(Option<Instant>);

fn note_ready(_: On<AssetReady>, mut ready: ResMut<ReadyAt>) {
    ready.0.get_or_insert_with(Instant::now);
}

/// The median of `rounds` timings of `step`.
fn median(rounds: usize, mut step: impl FnMut() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..rounds).map(|_| step()).collect();
    times.sort_unstable();
    times[times.len() / 2]
}

/// Where a disk hit's time goes: each step alone, on this thread.
fn breakdown(blob: &Path) {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(blob).expect("the blob");
    let read = median(HIT_ROUNDS, || {
        let start = Instant::now();
        std::hint::black_box(std::fs::read(blob).expect("the blob"));
        start.elapsed()
    });
    let hash = median(HIT_ROUNDS, || {
        let start = Instant::now();
        std::hint::black_box(Sha256::digest(&bytes));
        start.elapsed()
    });
    let blake3 = median(HIT_ROUNDS, || {
        let start = Instant::now();
        std::hint::black_box(blake3::hash(&bytes));
        start.elapsed()
    });
    let decode = median(HIT_ROUNDS, || {
        let start = Instant::now();
        std::hint::black_box(decode_png(&bytes));
        start.elapsed()
    });
    println!("  where the time goes (medians, each step alone):");
    for (step, time) in [
        ("fs::read", read),
        ("SHA-256 of the bytes", hash),
        ("BLAKE3 of the bytes (the read check)", blake3),
        ("decode", decode),
    ] {
        println!("    {step:<34} {:>8.0} µs", micros(time));
    }
}

fn remote_requests() -> Vec<AssetRequest> {
    (0..REMOTE_IMAGES)
        .map(|n| {
            AssetRequest::image()
                .scene(format!("remote-{n}"))
                .prompt(format!("remote picture {n}"))
        })
        .collect()
}

fn remote_images() {
    let origin = DevBackend::builder()
        .job_delays(Duration::from_millis(1), Duration::from_millis(5))
        .image_size(256, 144)
        .spawn()
        .expect("a loopback port");
    // The same files on a public path, for Bevy's web source (it sends no token).
    let cdn = DevBackend::builder()
        .cdn_for(&origin)
        .spawn()
        .expect("a loopback port");
    let dir = TempDir::new("remote");
    let requests = remote_requests();
    let plugin = || {
        let source = PixSimSource::builder(origin.base_url())
            .token(origin.token())
            .max_concurrent_creates(16)
            .max_concurrent_downloads(16)
            // 200 creates at once: more than a real service's budget of a minute.
            .max_creates_per_minute(0)
            .build()
            .expect("a client");
        AssetProviderPlugin::new()
            .with_source(source)
            .with_max_concurrent_generations(64)
            .with_disk_cache_dir(&dir.0)
    };
    let cold = {
        let mut app = provider_app(plugin());
        run_until_completed(&mut app, &requests)
    };
    let keys = origin.media_store().keys();
    assert_eq!(keys.len(), REMOTE_IMAGES);
    let urls: Vec<String> = keys
        .iter()
        .map(|key| format!("{}/api/v1/media/{key}", cdn.base_url()))
        .collect();
    // Interleaved restarts, the fastest of each kept: other load on the machine hits both.
    let mut warm = Vec::new();
    let mut bevy = Vec::new();
    for _ in 0..ROUNDS {
        let mut app = provider_app(plugin());
        warm.push(run_until_completed(&mut app, &requests));
        let cached = app.world().resource::<AssetProvider>().stats().cached;
        assert_eq!(cached as usize, REMOTE_IMAGES, "all from disk");
        drop(app);
        bevy.push(bevy_web_load(&urls));
    }
    let fastest = |runs: &[(u32, Duration)]| *runs.iter().min_by_key(|run| run.1).unwrap();
    let (warm, bevy) = (fastest(&warm), fastest(&bevy));
    println!("\n{REMOTE_IMAGES} remote 256x144 images, all requested at once:");
    println!(
        "  plugin, cold (create, follow, download, verify, keep)  {:>8.1} ms  {} frames",
        cold.1.as_secs_f64() * 1e3,
        cold.0
    );
    println!(
        "  plugin, warm (restarted game, from disk; best of {ROUNDS})    {:>8.1} ms  {} frames",
        warm.1.as_secs_f64() * 1e3,
        warm.0
    );
    println!(
        "  Bevy web asset source, GET + decode (best of {ROUNDS})        {:>8.1} ms  {} frames",
        bevy.1.as_secs_f64() * 1e3,
        bevy.0
    );
}

/// Loads `urls` through Bevy's own web asset source: (frames, time) until all are loaded.
fn bevy_web_load(urls: &[String]) -> (u32, Duration) {
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        WebAssetPlugin {
            silence_startup_warning: true,
        },
        AssetPlugin {
            meta_check: AssetMetaCheck::Never,
            watch_for_changes_override: Some(false),
            ..default()
        },
    ))
    .init_asset::<Image>()
    .register_asset_loader(ImageLoader::new(CompressedImageFormats::NONE));
    app.finish();
    app.cleanup();
    app.update();
    let start = Instant::now();
    let handles: Vec<Handle<Image>> = {
        let server = app.world().resource::<AssetServer>();
        urls.iter().map(|url| server.load(url.clone())).collect()
    };
    let mut frames = 0;
    let deadline = start + Duration::from_secs(300);
    loop {
        app.update();
        frames += 1;
        let server = app.world().resource::<AssetServer>();
        let mut done = true;
        for handle in &handles {
            match server.load_state(handle) {
                LoadState::Loaded => {}
                LoadState::Failed(error) => panic!("Bevy's web source failed: {error}"),
                _ => done = false,
            }
        }
        if done {
            return (frames, start.elapsed());
        }
        assert!(Instant::now() < deadline, "Bevy's loads did not finish");
    }
}

fn main() {
    // `cargo test` runs benches once as a smoke test; only a real run measures.
    if std::env::args().any(|arg| arg == "--bench") {
        warm_hit(Executor::Single);
        warm_hit(Executor::Multi);
        remote_images();
    } else {
        println!("disk_cache: run with `cargo bench --bench disk_cache`");
    }
}
