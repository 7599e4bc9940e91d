//! The builder of a dev backend: its knobs, all of them in one place. (`spawn` and `cdn_for`
//! need a running backend and live with it, in `handle.rs`.)

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bevy_asset_provider::MediaKind;

use crate::accounts::DEV_TOKEN;
use crate::knobs::{Endpoint, Faults, PremadeSpec, RealService, SceneMediaMode};
use crate::latency::LatencyProfile;
use crate::media::MediaStore;

/// Configures a [`DevBackend`](crate::DevBackend); [`spawn`](Self::spawn) starts it.
#[derive(Clone, Debug)]
pub struct DevBackendBuilder {
    pub(crate) port: u16,
    pub(crate) token: String,
    pub(crate) pending_delay: Duration,
    pub(crate) processing_delay: Duration,
    pub(crate) latency: LatencyProfile,
    pub(crate) max_running_jobs: Option<usize>,
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
            latency: LatencyProfile::default(),
            max_running_jobs: None,
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
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The token login hands out and requests must carry (default [`DEV_TOKEN`]).
    #[must_use]
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = token.into();
        self
    }

    /// How long a job stays `pending`, then `processing` (default 100 ms, 400 ms).
    #[must_use]
    pub fn job_delays(mut self, pending: Duration, processing: Duration) -> Self {
        self.pending_delay = pending;
        self.processing_delay = processing;
        self
    }

    /// Jobs making `kind` take a time drawn per job from a log-normal with median `p50` and
    /// 95th percentile `p95` (a `p95` below `p50` makes every job take `p50`), as on a hosted
    /// service: such a job turns `processing` as soon as it has a slot (see
    /// [`max_running_jobs`](Self::max_running_jobs)) and stays so for its drawn time. Draws
    /// repeat with the [`seed`](Self::seed) and the generation's id. Other kinds keep
    /// [`job_delays`](Self::job_delays).
    #[must_use]
    pub fn job_latency(mut self, kind: MediaKind, p50: Duration, p95: Duration) -> Self {
        self.latency = self.latency.kind(kind, p50, p95);
        self
    }

    /// Sets every kind's job time from `profile` (as [`job_latency`](Self::job_latency) does
    /// one kind), for example [`LatencyProfile::hosted`]; kinds it leaves out keep
    /// [`job_delays`](Self::job_delays).
    #[must_use]
    pub fn latency_profile(mut self, profile: LatencyProfile) -> Self {
        for kind in [MediaKind::Image, MediaKind::Audio, MediaKind::Video] {
            if let Some(latency) = profile.get(kind) {
                self.latency = self.latency.kind(kind, latency.p50, latency.p95);
            }
        }
        self
    }

    /// At most `jobs` jobs are `processing` at once, across all accounts (default no limit; 0
    /// is taken as 1). The others stay `pending`, first come first served, and their
    /// processing time starts when they get a slot. A cancelled job frees its slot at once,
    /// a finished one when it ends. [`DevStats`](crate::DevStats) shows the queue.
    #[must_use]
    pub fn max_running_jobs(mut self, jobs: usize) -> Self {
        self.max_running_jobs = Some(jobs.max(1));
        self
    }

    /// The size of generated images (default 64 × 36).
    #[must_use]
    pub fn image_size(mut self, width: u32, height: u32) -> Self {
        self.image_size = (width.max(1), height.max(1));
        self
    }

    /// The size of generated video clips (default 192 × 108; sides are made even). Clips are
    /// 24 fps and last the request's duration, 2 s by default. Without the `video` feature,
    /// video operations make images of [`image_size`](Self::image_size).
    #[must_use]
    pub fn video_size(mut self, width: u32, height: u32) -> Self {
        self.video_size = (width.max(1), height.max(1));
        self
    }

    /// Adds a pre-made asset with `tags`, found by search and the game endpoint.
    #[must_use]
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
    #[must_use]
    pub fn scene(mut self, id: impl Into<String>, json: impl Into<Vec<u8>>) -> Self {
        self.scenes.insert(id.into(), Arc::from(json.into()));
        self
    }

    /// Answers `endpoint` with a 500 at random, `rate` of the time (0.0..=1.0).
    #[must_use]
    pub fn error_rate(mut self, endpoint: Endpoint, rate: f32) -> Self {
        self.faults
            .error_rate
            .insert(endpoint, rate.clamp(0.0, 1.0));
        self
    }

    /// Answers the next `count` calls of `endpoint` with a 500.
    #[must_use]
    pub fn fail_next(mut self, endpoint: Endpoint, count: u32) -> Self {
        self.faults.fail_next.insert(endpoint, count);
        self
    }

    /// Answers the next `count` calls of `endpoint` with a 429, with `Retry-After: seconds`
    /// when given.
    #[must_use]
    pub fn rate_limit_next(mut self, endpoint: Endpoint, count: u32, seconds: Option<u64>) -> Self {
        self.faults
            .rate_limit_next
            .insert(endpoint, (count, seconds));
        self
    }

    /// Answers the next `count` successful calls of `endpoint` with cut-off JSON.
    #[must_use]
    pub fn malformed_next(mut self, endpoint: Endpoint, count: u32) -> Self {
        self.faults.malformed_next.insert(endpoint, count);
        self
    }

    /// Adds `latency` before every answer.
    #[must_use]
    pub fn latency(mut self, latency: Duration) -> Self {
        self.faults.latency = latency;
        self
    }

    /// Jobs stay `processing` for ever.
    #[must_use]
    pub fn stall_jobs(mut self, stall: bool) -> Self {
        self.faults.stall_jobs = stall;
        self
    }

    /// Jobs whose prompt contains `word` fail with `content_prompt_rejected`.
    #[must_use]
    pub fn reject_prompts_containing(mut self, word: impl Into<String>) -> Self {
        self.faults.reject_prompts_containing = Some(word.into());
        self
    }

    /// Downloads send only the first half of the file.
    #[must_use]
    pub fn truncate_downloads(mut self, truncate: bool) -> Self {
        self.faults.truncate_downloads = truncate;
        self
    }

    /// Downloads send the right length with a byte changed.
    #[must_use]
    pub fn corrupt_downloads(mut self, corrupt: bool) -> Self {
        self.faults.corrupt_downloads = corrupt;
        self
    }

    /// The next `count` downloads send the right length with a byte changed; later ones are
    /// whole (a transfer corrupted on the way, then fetched again).
    #[must_use]
    pub fn corrupt_next_downloads(mut self, count: u32) -> Self {
        self.faults.corrupt_next_downloads = count;
        self
    }

    /// Every WebSocket is closed after `events` job events (0: right after `connected`).
    #[must_use]
    pub fn drop_sockets_after(mut self, events: usize) -> Self {
        self.faults.drop_sockets_after = Some(events);
        self
    }

    /// Assets' `file_url`s are absolute, under `base` (`http://127.0.0.1:9000`), as on a CDN.
    #[must_use]
    pub fn media_base_url(mut self, base: impl Into<String>) -> Self {
        self.media_base_url = Some(base.into().trim_end_matches('/').to_owned());
        self
    }

    /// Whether `POST /api/v1/game/assets/request` exists (default `true`); without it the path
    /// answers 404, as PixSim7 does today.
    #[must_use]
    pub fn game_endpoint(mut self, enabled: bool) -> Self {
        self.game_endpoint = enabled;
        self
    }

    /// Adds another backend account whose requests carry `token`. The default token is user 1;
    /// each extra token is the next user (2, 3, ...). Every generation and asset records the
    /// user that made it, and generations answer `"user": {"type": "user", "id": N}`. An
    /// extra account logs in with `username` `"user{N}"` (or `email` `"user{N}@pixsim.local"`)
    /// and [`DEV_PASSWORD`](crate::DEV_PASSWORD).
    ///
    /// Without [`global_dedup`](Self::global_dedup) a user's creates are only answered with its
    /// own existing work, and reading another user's generation or asset answers 404 (its file
    /// 403); the list of generations shows the caller's own. Searches find the caller's assets
    /// and the pre-made ones, which belong to nobody. The WebSocket carries every user's events.
    #[must_use]
    pub fn extra_account(mut self, token: impl Into<String>) -> Self {
        self.real.extra_accounts.push(token.into());
        self
    }

    /// Dedup by hash (and by cache key) looks across all users, as the real service does. A
    /// create may then be answered with another user's generation, and reading it
    /// (`GET /api/v1/generations/{id}`, cancel, retry, delete) answers **500** `internal_error`
    /// "Failed to get generation: Cannot access other users' generations"; its asset answers
    /// 500 "Failed to get asset: Cannot access other users' assets" and its file **403**.
    #[must_use]
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
    #[must_use]
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
    #[must_use]
    pub fn moderate_prompts_containing(mut self, word: impl Into<String>, failures: u32) -> Self {
        self.real.moderation = Some((word.into(), failures));
        self
    }

    /// How long a moderated job stays `failed` before the server retries it (default 300 ms;
    /// the real service takes about 20 s).
    #[must_use]
    pub fn server_retry_delay(mut self, delay: Duration) -> Self {
        self.real.server_retry_delay = delay;
        self
    }

    /// How often the server retries a moderated job before leaving it failed (default 3).
    #[must_use]
    pub fn max_server_retries(mut self, retries: u32) -> Self {
        self.real.max_server_retries = retries;
        self
    }

    /// Cancelling a `processing` generation loses the race, as on the real service: the answer
    /// is still `processing` with `"deferred_action": "cancel"`, and the job completes anyway
    /// (its asset made, `job:completed` sent). Cancelling a completed generation answers **409**
    /// `conflict` "Generation already completed" (by default it answers the generation).
    /// Pending generations are still cancelled at once.
    #[must_use]
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
    #[must_use]
    pub fn invalid_creates_answer_500(mut self, real: bool) -> Self {
        self.real.invalid_creates_answer_500 = real;
        self
    }

    /// Limits creates per user as the real service does: the `per_minute + 1`-th create within
    /// any 60 s answers **429** `http_429` "Rate limit exceeded. Try again in N seconds." (N:
    /// seconds until a slot frees), with a `Retry-After: N` header only if
    /// `retry_after_header`. Refused creates are counted in [`DevStats::rate_limited`](crate::DevStats::rate_limited).
    #[must_use]
    pub fn create_rate_limit(mut self, per_minute: u32, retry_after_header: bool) -> Self {
        self.real.create_rate_limit = Some((per_minute, retry_after_header));
        self
    }

    /// A create whose `from_scene.id` or `to_scene.id` is a JSON number answers **422**
    /// `validation_error` with a field error at `["body", "from_scene", "id"]`, "Input should
    /// be a valid string", as the real service does (by default numbers are read as text).
    #[must_use]
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
    #[must_use]
    pub fn real_event_shapes(mut self, real: bool) -> Self {
        self.real.real_event_shapes = real;
        self
    }

    /// How scenes report their nodes' media (default [`SceneMediaMode::AsWritten`]).
    #[must_use]
    pub fn scene_media(mut self, mode: SceneMediaMode) -> Self {
        self.real.scene_media = mode;
        self
    }

    /// Seeds the random fault injection and the jobs' drawn times (default fixed, so runs
    /// repeat).
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}
