//! A loopback server that speaks the generation backend contract (CONTRACT.md), for tests,
//! examples and local development. Behind the `dev-backend` feature.
//!
//! It logs in with fixed dev credentials ([`DEV_EMAIL`], [`DEV_PASSWORD`]), checks the bearer
//! token, deduplicates creates by reproducible hash and by cache key, runs jobs through
//! `pending → processing → completed` after configurable delays, makes procedural PNG / WAV
//! media with their SHA-256 (and, with the `video` feature, H.264 mp4 clips for the video
//! operations), announces jobs on the WebSocket, and can inject faults.
//!
//! ```no_run
//! use bevy_asset_provider::dev_backend::DevBackend;
//! use std::time::Duration;
//!
//! let backend = DevBackend::builder()
//!     .job_delays(Duration::from_millis(10), Duration::from_millis(50))
//!     .spawn()
//!     .expect("a loopback port");
//! println!("serving on {}", backend.base_url());
//! ```

mod server;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::request::MediaKind;

/// The clips the dev backend makes for video operations.
#[cfg(feature = "video")]
pub use crate::video::ClipSpec;
pub use server::DevBackend;

/// The dev backend's login email.
pub const DEV_EMAIL: &str = "dev@pixsim.local";
/// The dev backend's login user name (instead of the email).
pub const DEV_USERNAME: &str = "dev";
/// The dev backend's password.
pub const DEV_PASSWORD: &str = "dev-password";
/// The token the dev backend hands out unless told otherwise.
pub const DEV_TOKEN: &str = "dev-token";

/// The endpoints faults can be injected into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /api/v1/auth/login`.
    Login,
    /// `POST /api/v1/generations`.
    CreateGeneration,
    /// `GET /api/v1/generations/{id}`.
    GetGeneration,
    /// `GET /api/v1/assets/{id}`.
    Asset,
    /// File downloads (`/api/v1/assets/{id}/file`, `/api/v1/media/{key}`).
    Download,
    /// `POST /api/v1/assets/search`.
    Search,
    /// `POST /api/v1/game/assets/request`.
    GameRequest,
}

/// What the dev backend has served; see [`DevBackend::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DevStats {
    /// Logins that succeeded.
    pub logins: u64,
    /// Creates answered (new or deduplicated).
    pub creates: u64,
    /// Creates that started a new generation.
    pub new_generations: u64,
    /// `GET /api/v1/generations/{id}` answered.
    pub polls: u64,
    /// Cancels answered.
    pub cancels: u64,
    /// `GET /api/v1/assets/{id}` answered.
    pub asset_fetches: u64,
    /// Files served.
    pub downloads: u64,
    /// Files requested with an `Authorization` header (served or not).
    pub downloads_with_token: u64,
    /// Searches answered.
    pub searches: u64,
    /// Game asset requests answered.
    pub game_requests: u64,
    /// Scenes served.
    pub scenes: u64,
    /// WebSocket connections accepted.
    pub socket_connections: u64,
    /// Requests refused for a missing or wrong token.
    pub unauthorized: u64,
    /// Requests to paths the backend does not serve (answered 404).
    pub unknown_paths: u64,
    /// The most creates in flight at once, counted while the added
    /// [`latency`](DevBackendBuilder::latency) holds them.
    pub peak_concurrent_creates: u64,
    /// The most downloads in flight at once, counted the same way.
    pub peak_concurrent_downloads: u64,
    /// Faults injected (errors, 429s, malformed answers).
    pub faults: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    logins: AtomicU64,
    creates: AtomicU64,
    new_generations: AtomicU64,
    polls: AtomicU64,
    cancels: AtomicU64,
    asset_fetches: AtomicU64,
    downloads: AtomicU64,
    downloads_with_token: AtomicU64,
    searches: AtomicU64,
    game_requests: AtomicU64,
    scenes: AtomicU64,
    socket_connections: AtomicU64,
    unauthorized: AtomicU64,
    unknown_paths: AtomicU64,
    creates_in_flight: AtomicU64,
    downloads_in_flight: AtomicU64,
    peak_concurrent_creates: AtomicU64,
    peak_concurrent_downloads: AtomicU64,
    faults: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Counts a request in flight at an endpoint until dropped.
pub(crate) struct InFlight<'a>(Option<&'a AtomicU64>);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(counter) = self.0 {
            counter.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Counters {
    /// Marks a request at `endpoint` in flight, raising the endpoint's peak if it is tracked.
    pub(crate) fn enter(&self, endpoint: Endpoint) -> InFlight<'_> {
        let (current, peak) = match endpoint {
            Endpoint::CreateGeneration => (&self.creates_in_flight, &self.peak_concurrent_creates),
            Endpoint::Download => (&self.downloads_in_flight, &self.peak_concurrent_downloads),
            _ => return InFlight(None),
        };
        let now = current.fetch_add(1, Ordering::Relaxed) + 1;
        peak.fetch_max(now, Ordering::Relaxed);
        InFlight(Some(current))
    }

    fn snapshot(&self) -> DevStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        DevStats {
            logins: read(&self.logins),
            creates: read(&self.creates),
            new_generations: read(&self.new_generations),
            polls: read(&self.polls),
            cancels: read(&self.cancels),
            asset_fetches: read(&self.asset_fetches),
            downloads: read(&self.downloads),
            downloads_with_token: read(&self.downloads_with_token),
            searches: read(&self.searches),
            game_requests: read(&self.game_requests),
            scenes: read(&self.scenes),
            socket_connections: read(&self.socket_connections),
            unauthorized: read(&self.unauthorized),
            unknown_paths: read(&self.unknown_paths),
            peak_concurrent_creates: read(&self.peak_concurrent_creates),
            peak_concurrent_downloads: read(&self.peak_concurrent_downloads),
            faults: read(&self.faults),
        }
    }
}

/// Files by media key, shareable between two dev backends so one can play a CDN for the other
/// ([`DevBackendBuilder::cdn_for`]).
#[derive(Clone, Default)]
pub struct MediaStore(pub(crate) Arc<Mutex<HashMap<String, MediaFile>>>);

/// A file's bytes and MIME type.
pub(crate) type MediaFile = (Arc<[u8]>, String);

impl MediaStore {
    /// The media keys held: each is served at `/api/v1/media/{key}`.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .0
            .lock()
            .map(|files| files.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }
}

impl fmt::Debug for MediaStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files = self.0.lock().map(|files| files.len()).unwrap_or(0);
        f.debug_struct("MediaStore").field("files", &files).finish()
    }
}

/// Faults to inject; all off by default.
#[derive(Clone, Debug, Default)]
pub(crate) struct Faults {
    pub error_rate: HashMap<Endpoint, f32>,
    pub fail_next: HashMap<Endpoint, u32>,
    pub rate_limit_next: HashMap<Endpoint, (u32, Option<u64>)>,
    pub malformed_next: HashMap<Endpoint, u32>,
    pub latency: Duration,
    pub stall_jobs: bool,
    pub reject_prompts_containing: Option<String>,
    pub truncate_downloads: bool,
    pub corrupt_downloads: bool,
    pub drop_sockets_after: Option<usize>,
}

/// A pre-made asset the dev backend starts with.
#[derive(Clone, Debug)]
pub(crate) struct PremadeSpec {
    pub tags: Vec<String>,
    pub kind: MediaKind,
    pub seed: u64,
}

/// Configures a [`DevBackend`]; [`spawn`](Self::spawn) starts it.
#[derive(Clone, Debug)]
pub struct DevBackendBuilder {
    pub(crate) port: u16,
    pub(crate) token: String,
    pub(crate) pending_delay: Duration,
    pub(crate) processing_delay: Duration,
    pub(crate) image_size: (u32, u32),
    pub(crate) video_size: (u32, u32),
    pub(crate) faults: Faults,
    pub(crate) premade: Vec<PremadeSpec>,
    pub(crate) media_base_url: Option<String>,
    pub(crate) public_media: bool,
    pub(crate) media: MediaStore,
    pub(crate) scenes: HashMap<String, Arc<[u8]>>,
    pub(crate) seed: u64,
    pub(crate) game_endpoint: bool,
}

impl Default for DevBackendBuilder {
    fn default() -> Self {
        let story: &[u8] = include_bytes!("../../assets/story/lighthouse.scene.json");
        Self {
            port: 0,
            token: DEV_TOKEN.to_owned(),
            pending_delay: Duration::from_millis(100),
            processing_delay: Duration::from_millis(400),
            image_size: (64, 36),
            video_size: (192, 108),
            faults: Faults::default(),
            premade: Vec::new(),
            media_base_url: None,
            public_media: false,
            media: MediaStore::default(),
            scenes: HashMap::from([("lighthouse".to_owned(), Arc::from(story))]),
            seed: 0x0DEF_ACED,
            game_endpoint: true,
        }
    }
}

impl DevBackendBuilder {
    /// The port on 127.0.0.1 (default 0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The token login hands out and requests must carry (default [`DEV_TOKEN`]).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = token.into();
        self
    }

    /// How long a job stays `pending`, then `processing` (default 100 ms, 400 ms).
    pub fn job_delays(mut self, pending: Duration, processing: Duration) -> Self {
        self.pending_delay = pending;
        self.processing_delay = processing;
        self
    }

    /// The size of generated images (default 64 × 36).
    pub fn image_size(mut self, width: u32, height: u32) -> Self {
        self.image_size = (width.max(1), height.max(1));
        self
    }

    /// The size of generated video clips (default 192 × 108; sides are made even). Clips are
    /// 24 fps and last the request's duration, 2 s by default. Without the `video` feature,
    /// video operations make images of [`image_size`](Self::image_size).
    pub fn video_size(mut self, width: u32, height: u32) -> Self {
        self.video_size = (width.max(1), height.max(1));
        self
    }

    /// Adds a pre-made asset with `tags`, found by search and the game endpoint.
    pub fn premade_asset<I, S>(mut self, kind: MediaKind, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let seed = self.premade.len() as u64 + 1;
        self.premade.push(PremadeSpec {
            tags: tags.into_iter().map(Into::into).collect(),
            kind,
            seed,
        });
        self
    }

    /// Serves the scene `json` at `GET /api/v1/game/scenes/{id}` (the bundled Lighthouse story
    /// is there as `lighthouse`).
    pub fn scene(mut self, id: impl Into<String>, json: impl Into<Vec<u8>>) -> Self {
        self.scenes.insert(id.into(), Arc::from(json.into()));
        self
    }

    /// Answers `endpoint` with a 500 at random, `rate` of the time (0.0..=1.0).
    pub fn error_rate(mut self, endpoint: Endpoint, rate: f32) -> Self {
        self.faults
            .error_rate
            .insert(endpoint, rate.clamp(0.0, 1.0));
        self
    }

    /// Answers the next `count` calls of `endpoint` with a 500.
    pub fn fail_next(mut self, endpoint: Endpoint, count: u32) -> Self {
        self.faults.fail_next.insert(endpoint, count);
        self
    }

    /// Answers the next `count` calls of `endpoint` with a 429, with `Retry-After: seconds`
    /// when given.
    pub fn rate_limit_next(mut self, endpoint: Endpoint, count: u32, seconds: Option<u64>) -> Self {
        self.faults
            .rate_limit_next
            .insert(endpoint, (count, seconds));
        self
    }

    /// Answers the next `count` successful calls of `endpoint` with cut-off JSON.
    pub fn malformed_next(mut self, endpoint: Endpoint, count: u32) -> Self {
        self.faults.malformed_next.insert(endpoint, count);
        self
    }

    /// Adds `latency` before every answer.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.faults.latency = latency;
        self
    }

    /// Jobs stay `processing` for ever.
    pub fn stall_jobs(mut self, stall: bool) -> Self {
        self.faults.stall_jobs = stall;
        self
    }

    /// Jobs whose prompt contains `word` fail with `content_prompt_rejected`.
    pub fn reject_prompts_containing(mut self, word: impl Into<String>) -> Self {
        self.faults.reject_prompts_containing = Some(word.into());
        self
    }

    /// Downloads send only the first half of the file.
    pub fn truncate_downloads(mut self, truncate: bool) -> Self {
        self.faults.truncate_downloads = truncate;
        self
    }

    /// Downloads send the right length with a byte changed.
    pub fn corrupt_downloads(mut self, corrupt: bool) -> Self {
        self.faults.corrupt_downloads = corrupt;
        self
    }

    /// Every WebSocket is closed after `events` job events (0: right after `connected`).
    pub fn drop_sockets_after(mut self, events: usize) -> Self {
        self.faults.drop_sockets_after = Some(events);
        self
    }

    /// Assets' `file_url`s are absolute, under `base` (`http://127.0.0.1:9000`), as on a CDN.
    pub fn media_base_url(mut self, base: impl Into<String>) -> Self {
        self.media_base_url = Some(base.into().trim_end_matches('/').to_owned());
        self
    }

    /// Plays the CDN of `backend`: serves its files at `/api/v1/media/{key}` without a token.
    pub fn cdn_for(mut self, backend: &DevBackend) -> Self {
        self.media = backend.media_store();
        self.public_media = true;
        self
    }

    /// Whether `POST /api/v1/game/assets/request` exists (default `true`); without it the path
    /// answers 404, as PixSim7 does today.
    pub fn game_endpoint(mut self, enabled: bool) -> Self {
        self.game_endpoint = enabled;
        self
    }

    /// Seeds the random fault injection (default fixed, so runs repeat).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Starts the server on 127.0.0.1 on its own threads. Dropping the returned
    /// [`DevBackend`] stops it.
    pub fn spawn(self) -> std::io::Result<DevBackend> {
        DevBackend::start(self)
    }
}
