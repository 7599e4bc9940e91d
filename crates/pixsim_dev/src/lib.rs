//! A loopback server that speaks the PixSim7 generation API as `bevy_asset_provider`'s contract
//! describes it (CONTRACT.md), for the library's tests, examples and benchmarks and for local
//! development (`cargo run -p pixsim_dev -- --port 8787`). It speaks the same
//! [wire format](bevy_asset_provider::backend::wire) as the client, from the same types.
//!
//! It logs in with fixed dev credentials ([`DEV_EMAIL`], [`DEV_PASSWORD`]), checks the bearer
//! token, deduplicates creates by reproducible hash and by cache key, runs jobs through
//! `pending → processing → completed` after configurable delays, makes procedural PNG / WAV
//! media with their SHA-256 (and, with the `video` feature, H.264 mp4 clips for the video
//! operations), announces jobs on the WebSocket, and can inject faults.
//!
//! By default it serves the contract as written. Knobs make it behave like the real PixSim7
//! service where that differs (CONTRACT.md, last section), one difference each:
//! [`extra_account`](DevBackendBuilder::extra_account) and
//! [`global_dedup`](DevBackendBuilder::global_dedup),
//! [`real_cache_key`](DevBackendBuilder::real_cache_key),
//! [`moderate_prompts_containing`](DevBackendBuilder::moderate_prompts_containing),
//! [`cancel_loses_race`](DevBackendBuilder::cancel_loses_race),
//! [`invalid_creates_answer_500`](DevBackendBuilder::invalid_creates_answer_500),
//! [`create_rate_limit`](DevBackendBuilder::create_rate_limit),
//! [`reject_numeric_ids`](DevBackendBuilder::reject_numeric_ids),
//! [`real_event_shapes`](DevBackendBuilder::real_event_shapes) and
//! [`scene_media`](DevBackendBuilder::scene_media); [`DevBackend::like_real_service`] turns
//! them all on.
//!
//! ```no_run
//! use pixsim_dev::DevBackend;
//! use std::time::Duration;
//!
//! let backend = DevBackend::builder()
//!     .job_delays(Duration::from_millis(10), Duration::from_millis(50))
//!     .spawn()
//!     .expect("a loopback port");
//! println!("serving on {}", backend.base_url());
//! ```

#![warn(missing_docs)]

pub mod openai;
mod real;
mod server;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bevy_asset_provider::MediaKind;

pub use server::DevBackend;

/// The dev backend's login email.
pub const DEV_EMAIL: &str = "dev@pixsim.local";
/// The dev backend's login user name (instead of the email).
pub const DEV_USERNAME: &str = "dev";
/// The dev backend's password.
pub const DEV_PASSWORD: &str = "dev-password";
/// The token the dev backend hands out unless told otherwise.
pub const DEV_TOKEN: &str = "dev-token";

/// How `GET /api/v1/game/scenes/{id}` reports its nodes' media; see
/// [`DevBackendBuilder::scene_media`]. (Not `SceneMedia`: that name is the scene graph's
/// marker component, in the prelude.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SceneMediaMode {
    /// The scene JSON exactly as given to [`DevBackendBuilder::scene`].
    #[default]
    AsWritten,
    /// As the real service: a node whose `assetId` names an asset of this backend gets that
    /// asset's absolute remote (CDN) URL as `mediaUrl` (and in `media[]`), `null` when it has
    /// none (pre-made assets); other nodes get `null`. Node and edge ids are strings, edges have
    /// no `weight`, and their `isDefault`, `conditions` and `effects` are `null`. Generated
    /// assets then get a `remote_url` on this server, `/cdn/{key}`, served without a token.
    RemoteOrNull,
}

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
    /// Creates answered with existing work (a dedup hash or cache key hit).
    pub reused: u64,
    /// Creates refused by [`create_rate_limit`](DevBackendBuilder::create_rate_limit).
    pub rate_limited: u64,
    /// Cancels that lost the race ([`cancel_loses_race`](DevBackendBuilder::cancel_loses_race)):
    /// answered `processing` with `deferred_action: "cancel"`, the job then completed.
    pub cancels_lost: u64,
    /// Jobs the server retried by itself after a render moderation
    /// ([`moderate_prompts_containing`](DevBackendBuilder::moderate_prompts_containing)).
    pub server_retries: u64,
    /// Reads of another account's generation, asset or file, refused.
    pub foreign_refused: u64,
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
    reused: AtomicU64,
    rate_limited: AtomicU64,
    cancels_lost: AtomicU64,
    server_retries: AtomicU64,
    foreign_refused: AtomicU64,
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
            reused: read(&self.reused),
            rate_limited: read(&self.rate_limited),
            cancels_lost: read(&self.cancels_lost),
            server_retries: read(&self.server_retries),
            foreign_refused: read(&self.foreign_refused),
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
    pub corrupt_next_downloads: u32,
    pub drop_sockets_after: Option<usize>,
}

/// Where the dev backend behaves like the real service instead of the contract; all off by
/// default.
#[derive(Clone, Debug)]
pub(crate) struct RealService {
    /// Tokens of users 2, 3, ...
    pub extra_accounts: Vec<String>,
    pub global_dedup: bool,
    pub real_cache_key: bool,
    /// The word, and how many times a job with it fails before it renders.
    pub moderation: Option<(String, u32)>,
    pub server_retry_delay: Duration,
    pub max_server_retries: u32,
    pub cancel_loses_race: bool,
    pub invalid_creates_answer_500: bool,
    /// Creates a minute per user, and whether a 429 says `Retry-After`.
    pub create_rate_limit: Option<(u32, bool)>,
    pub reject_numeric_ids: bool,
    pub real_event_shapes: bool,
    pub scene_media: SceneMediaMode,
}

impl Default for RealService {
    fn default() -> Self {
        Self {
            extra_accounts: Vec::new(),
            global_dedup: false,
            real_cache_key: false,
            moderation: None,
            server_retry_delay: Duration::from_millis(300),
            max_server_retries: 3,
            cancel_loses_race: false,
            invalid_creates_answer_500: false,
            create_rate_limit: None,
            reject_numeric_ids: false,
            real_event_shapes: false,
            scene_media: SceneMediaMode::AsWritten,
        }
    }
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
    pub(crate) real: RealService,
}

impl Default for DevBackendBuilder {
    fn default() -> Self {
        let story: &[u8] = include_bytes!("../../../assets/story/lighthouse.scene.json");
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
            real: RealService::default(),
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

    /// The next `count` downloads send the right length with a byte changed; later ones are
    /// whole (a transfer corrupted on the way, then fetched again).
    pub fn corrupt_next_downloads(mut self, count: u32) -> Self {
        self.faults.corrupt_next_downloads = count;
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

    /// Adds another backend account whose requests carry `token`. The default token is user 1;
    /// each extra token is the next user (2, 3, ...). Every generation and asset records the
    /// user that made it, and generations answer `"user": {"type": "user", "id": N}`. An
    /// extra account logs in with `username` `"user{N}"` (or `email` `"user{N}@pixsim.local"`)
    /// and [`DEV_PASSWORD`].
    ///
    /// Without [`global_dedup`](Self::global_dedup) a user's creates are only answered with its
    /// own existing work, and reading another user's generation or asset answers 404 (its file
    /// 403); the list of generations shows the caller's own. Searches find the caller's assets
    /// and the pre-made ones, which belong to nobody. The WebSocket carries every user's events.
    pub fn extra_account(mut self, token: impl Into<String>) -> Self {
        self.real.extra_accounts.push(token.into());
        self
    }

    /// Dedup by hash (and by cache key) looks across all users, as the real service does. A
    /// create may then be answered with another user's generation, and reading it
    /// (`GET /api/v1/generations/{id}`, cancel, retry, delete) answers **500** `internal_error`
    /// "Failed to get generation: Cannot access other users' generations"; its asset answers
    /// 500 "Failed to get asset: Cannot access other users' assets" and its file **403**.
    pub fn global_dedup(mut self, global: bool) -> Self {
        self.real.global_dedup = global;
        self
    }

    /// Answers creates from existing work as the real service does (CONTRACT.md point 2):
    /// first by a dedup hash, SHA-256 over the canonical params (prompt, seed, style scalars,
    /// duration, scene and player contexts) and inputs, where any hit that is not `failed` is
    /// returned as it is (a cancelled one too); then by the cache key
    /// `{operation}|{purpose}|{from_scene}|{to_scene}|{strategy}` plus `|pt:unknown` for
    /// `per_playthrough` (the service reads the wrong field) or `|player:{backend user}` for
    /// `per_player`, plus `|v1`: no prompt, no seed, no character. A `failed` hit is skipped.
    /// `force_new` skips both lookups; `always` skips the cache key. The reported
    /// `reproducible_hash` is the seedless hash of the canonical params.
    pub fn real_cache_key(mut self, real: bool) -> Self {
        self.real.real_cache_key = real;
        self
    }

    /// Jobs whose prompt contains `word` fail at render time with
    /// `content_render_moderated` (after `processing`, event `job:failed`), `failures` times;
    /// after each failure the server retries the job itself once
    /// [`server_retry_delay`](Self::server_retry_delay) has passed: the generation turns
    /// `pending` with `retry_count` + 1 (no `job:retrying` event), then `job:started` again. A
    /// job still failing after [`max_server_retries`](Self::max_server_retries) stays failed;
    /// one that failed `failures` times completes normally on its next run.
    pub fn moderate_prompts_containing(mut self, word: impl Into<String>, failures: u32) -> Self {
        self.real.moderation = Some((word.into(), failures));
        self
    }

    /// How long a moderated job stays `failed` before the server retries it (default 300 ms;
    /// the real service takes about 20 s).
    pub fn server_retry_delay(mut self, delay: Duration) -> Self {
        self.real.server_retry_delay = delay;
        self
    }

    /// How often the server retries a moderated job before leaving it failed (default 3).
    pub fn max_server_retries(mut self, retries: u32) -> Self {
        self.real.max_server_retries = retries;
        self
    }

    /// Cancelling a `processing` generation loses the race, as on the real service: the answer
    /// is still `processing` with `"deferred_action": "cancel"`, and the job completes anyway
    /// (its asset made, `job:completed` sent). Cancelling a completed generation answers **409**
    /// `conflict` "Generation already completed" (by default it answers the generation).
    /// Pending generations are still cancelled at once.
    pub fn cancel_loses_race(mut self, loses: bool) -> Self {
        self.real.cancel_loses_race = loses;
        self
    }

    /// Invalid creates answer as the real service does: **500** `internal_error` for a
    /// text-to-* create without a non-empty prompt ("Failed to create generation:
    /// text_to_image operation requires a non-empty 'prompt'"), an unknown `provider_id`
    /// (known: `pixverse`, `fake`) and an `image_to_video` / `image_to_image` create without
    /// `config.composition_assets`; **422** for an unknown `generationType`, `text_to_audio`
    /// included (which the dev backend otherwise accepts, making WAV media).
    pub fn invalid_creates_answer_500(mut self, real: bool) -> Self {
        self.real.invalid_creates_answer_500 = real;
        self
    }

    /// Limits creates per user as the real service does: the `per_minute + 1`-th create within
    /// any 60 s answers **429** `http_429` "Rate limit exceeded. Try again in N seconds." (N:
    /// seconds until a slot frees), with a `Retry-After: N` header only if
    /// `retry_after_header`. Refused creates are counted in [`DevStats::rate_limited`].
    pub fn create_rate_limit(mut self, per_minute: u32, retry_after_header: bool) -> Self {
        self.real.create_rate_limit = Some((per_minute, retry_after_header));
        self
    }

    /// A create whose `from_scene.id` or `to_scene.id` is a JSON number answers **422**
    /// `validation_error` with a field error at `["body", "from_scene", "id"]`, "Input should
    /// be a valid string", as the real service does (by default numbers are read as text).
    pub fn reject_numeric_ids(mut self, reject: bool) -> Self {
        self.real.reject_numeric_ids = reject;
        self
    }

    /// Events and answers take the real service's shapes: `job:created` has `"status": null`,
    /// `asset:created` has `"media_type": null` and its generation id only in `data`, a
    /// failure's `error` and `error_code` are only inside `data`, and every event carries a
    /// `user_id`; generations carry `account`, `account_email`, `attempt_count` and
    /// `wait_reason`, assets a `user_id`. A prompt refused by
    /// [`reject_prompts_containing`](Self::reject_prompts_containing) then fails at submit, with
    /// no `job:started`, as the service's does.
    pub fn real_event_shapes(mut self, real: bool) -> Self {
        self.real.real_event_shapes = real;
        self
    }

    /// How scenes report their nodes' media (default [`SceneMediaMode::AsWritten`]).
    pub fn scene_media(mut self, mode: SceneMediaMode) -> Self {
        self.real.scene_media = mode;
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
