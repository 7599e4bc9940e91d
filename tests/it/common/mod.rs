//! Shared pieces of the headless tests: an app without window, GPU or audio device; fake
//! sources; stepping until a condition holds.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bevy::prelude::*;
use bevy_asset_provider::RequestKey;
use bevy_asset_provider::backend::{PixSimSource, PixSimSourceBuilder};
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::source::SourceKind;
use bevy_asset_provider::source::{AssetSource, SourceRequest, SourcedMedia};
use pixsim_dev::DevBackend;

/// `MinimalPlugins` and the asset plugins, plus `plugin`, finished as `App::run` would.
pub fn headless_app(plugin: AssetProviderPlugin) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default()))
        .init_asset::<Image>()
        .add_plugins(plugin);
    app.finish();
    app.cleanup();
    app
}

/// Steps `app` until `done` holds, for at most 20 s of wall time. Panics naming `what` if it
/// never does.
pub fn update_until(app: &mut App, what: &str, mut done: impl FnMut(&mut App) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        app.update();
        if done(app) {
            return;
        }
        assert!(Instant::now() < deadline, "gave up waiting for: {what}");
        std::thread::yield_now();
    }
}

/// Steps `app` until the task on `entity` has `status`.
pub fn until_status(app: &mut App, entity: Entity, status: TaskStatus) {
    update_until(app, &format!("{entity} to be {}", status.as_str()), |app| {
        task(app, entity).status() == status
    });
}

/// A PNG of `width` × `height` in one colour.
pub fn png(width: u32, height: u32, rgba: [u8; 4]) -> Vec<u8> {
    let pixels: Vec<u8> = (0..width * height).flat_map(|_| rgba).collect();
    bevy_asset_provider::source::procedural::encode_png(width, height, &pixels)
}

/// A valid 16-bit mono WAV of `samples` silent samples.
pub fn wav(samples: u32) -> Vec<u8> {
    let data_len = samples * 2;
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_len).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&22050u32.to_le_bytes());
    bytes.extend_from_slice(&44100u32.to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_len.to_le_bytes());
    bytes.resize(bytes.len() + data_len as usize, 0);
    bytes
}

/// What a [`FakeGenerator`] does when asked.
#[derive(Clone)]
pub enum Behaviour {
    /// Answers with a PNG of this size (or a WAV for audio).
    Serve { width: u32, height: u32 },
    /// Answers with this error.
    Fail(AssetError),
    /// Never answers.
    Stall,
    /// Waits for a permit on the gate, then serves like `Serve` (a PNG, or a WAV for audio).
    Gated {
        gate: Arc<tokio::sync::Semaphore>,
        width: u32,
        height: u32,
    },
    /// Answers with bytes that are not what they claim to be.
    Garbage,
    /// Answers with these bytes labelled `mime`, whatever was asked (hostile media).
    Bytes { bytes: Arc<[u8]>, mime: String },
    /// Panics inside `resolve`.
    Panic,
}

impl Behaviour {
    /// Serves `bytes` labelled `mime`.
    pub fn bytes(bytes: impl Into<Arc<[u8]>>, mime: &str) -> Self {
        Self::Bytes {
            bytes: bytes.into(),
            mime: mime.to_owned(),
        }
    }
}

/// A generator whose answers and calls a test controls and counts.
pub struct FakeGenerator {
    pub behaviour: Behaviour,
    pub calls: AtomicUsize,
    pub cancelled: Mutex<Vec<RequestKey>>,
    pub kind: SourceKind,
}

impl FakeGenerator {
    pub fn new(behaviour: Behaviour) -> Arc<Self> {
        Arc::new(Self {
            behaviour,
            calls: AtomicUsize::new(0),
            cancelled: Mutex::new(Vec::new()),
            kind: SourceKind::Generated,
        })
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn cancelled(&self) -> Vec<RequestKey> {
        self.cancelled.lock().unwrap().clone()
    }
}

#[async_trait]
impl AssetSource for FakeGenerator {
    fn name(&self) -> &str {
        "fake_generator"
    }

    fn kind(&self) -> SourceKind {
        self.kind
    }

    async fn resolve(&self, request: &SourceRequest) -> Result<Option<SourcedMedia>, AssetError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        request.progress.report(0.5);
        match &self.behaviour {
            Behaviour::Serve { width, height } => Ok(Some(match request.kind() {
                MediaKind::Audio => SourcedMedia::new(wav(2205), "audio/wav", "fake"),
                _ => SourcedMedia::new(
                    png(*width, *height, [200, 40, 40, 255]),
                    "image/png",
                    "fake",
                ),
            })),
            Behaviour::Fail(error) => Err(error.clone()),
            Behaviour::Stall => std::future::pending().await,
            Behaviour::Gated {
                gate,
                width,
                height,
            } => {
                gate.acquire().await.expect("the gate stays open").forget();
                Ok(Some(match request.kind() {
                    MediaKind::Audio => SourcedMedia::new(wav(2205), "audio/wav", "fake"),
                    _ => SourcedMedia::new(
                        png(*width, *height, [40, 200, 40, 255]),
                        "image/png",
                        "fake",
                    ),
                }))
            }
            Behaviour::Garbage => Ok(Some(SourcedMedia::new(
                b"definitely not a png".to_vec(),
                "image/png",
                "fake",
            ))),
            Behaviour::Bytes { bytes, mime } => {
                Ok(Some(SourcedMedia::new(bytes.clone(), mime.clone(), "fake")))
            }
            Behaviour::Panic => panic!("the fake generator broke"),
        }
    }

    async fn cancel(&self, key: RequestKey) {
        self.cancelled.lock().unwrap().push(key);
    }
}

/// A closed gate for [`Behaviour::Gated`]: `add_permits(1)` lets one request through.
pub fn gate() -> Arc<tokio::sync::Semaphore> {
    Arc::new(tokio::sync::Semaphore::new(0))
}

/// A plugin whose only source is `source`, with fast timeouts.
pub fn plugin_with(source: Arc<FakeGenerator>) -> AssetProviderPlugin {
    AssetProviderPlugin::new()
        .without_disk_cache()
        .with_shared_source(source)
        .with_default_timeout(Duration::from_secs(10))
}

/// The task on `entity`.
pub fn task(app: &App, entity: Entity) -> GenerationTask {
    app.world()
        .get::<GenerationTask>(entity)
        .expect("the entity has a GenerationTask")
        .clone()
}

/// Every message of type `M` seen since [`collect`] was called.
#[derive(Resource)]
pub struct Collected<M>(pub Vec<M>);

/// Starts keeping every `M` message in [`Collected<M>`].
pub fn collect<M: Message + Clone>(app: &mut App) {
    app.insert_resource(Collected::<M>(Vec::new())).add_systems(
        Last,
        |mut reader: MessageReader<M>, mut out: ResMut<Collected<M>>| {
            out.0.extend(reader.read().cloned());
        },
    );
}

/// The `M` messages collected so far.
pub fn collected<M: Message + Clone>(app: &App) -> Vec<M> {
    app.world().resource::<Collected<M>>().0.clone()
}

/// A fresh directory under the system's temp dir, removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "bap-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("a temp dir");
        Self(path)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A client of `dev` with its token; add settings, then `build()`.
pub fn client(dev: &DevBackend) -> PixSimSourceBuilder {
    PixSimSource::builder(dev.base_url()).token(dev.token())
}

pub mod hostile;
