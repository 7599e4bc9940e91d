//! The dev backend's state, routes and job lifecycle.

// Handlers answer errors as ready `Response`s (axum's usual `Result<_, Response>`); boxing them
// would buy nothing in a test server.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::{broadcast, oneshot};

use bevy_asset_provider::backend::wire::{
    AssetResponse, AssetSearch, AssetSearchResponse, BackendId, CreateGeneration, EntityRef,
    ErrorBody, GameAssetRequest, GameAssetResponse, GenerationConfig, GenerationResponse,
    GenerationStatus, GenerationType, LoginRequest, LoginResponse, NonAscii, Purpose, SceneRef,
    Strategy, TagRef, canonical_json,
};
use bevy_asset_provider::source::procedural::{procedural_png, procedural_wav};
use bevy_asset_provider::source::scoring::{MatchCriteria, best_match};
use bevy_asset_provider::{AssetRequest, CachingStrategy, MediaKind};

use super::{
    Counters, DevBackendBuilder, DevStats, Endpoint, MediaStore, SceneMediaMode, bump, real,
};

/// A running dev backend on 127.0.0.1. Dropping it stops the server.
pub struct DevBackend {
    base_url: String,
    state: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for DevBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevBackend")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl DevBackend {
    /// A builder with the defaults: any free port, token [`DEV_TOKEN`](super::DEV_TOKEN),
    /// jobs done in half a second, no faults.
    pub fn builder() -> DevBackendBuilder {
        DevBackendBuilder::default()
    }

    /// A builder that behaves like the real PixSim7 service wherever it differs from the
    /// contract (CONTRACT.md, last section): global dedup and the real cache key, render
    /// moderation of prompts containing `"moderated"` (every run, like the service's fake
    /// provider, so such a job ends failed after its server retries), cancels that lose the
    /// race, 500s for invalid creates, 20 creates a minute per user without `Retry-After`,
    /// numeric scene ids refused, the real event and answer shapes, scene media remote or
    /// `null`, no game asset endpoint (404), and prompts containing `"forbidden"` refused at
    /// submit with `content_prompt_rejected`. Each can be turned off again on the builder.
    pub fn like_real_service() -> DevBackendBuilder {
        DevBackendBuilder::default()
            .global_dedup(true)
            .real_cache_key(true)
            .moderate_prompts_containing("moderated", u32::MAX)
            .cancel_loses_race(true)
            .invalid_creates_answer_500(true)
            .create_rate_limit(20, false)
            .reject_numeric_ids(true)
            .real_event_shapes(true)
            .scene_media(SceneMediaMode::RemoteOrNull)
            .game_endpoint(false)
            .reject_prompts_containing("forbidden")
    }

    /// Generation `id` as it stands now, whoever owns it; `None` if there is none.
    pub fn generation(&self, id: &str) -> Option<GenerationResponse> {
        let id = id.parse::<u64>().ok()?;
        self.state
            .data()
            .generations
            .get(&id)
            .map(|generation| generation.response.clone())
    }

    /// Where it listens: `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The token requests must carry.
    pub fn token(&self) -> &str {
        &self.state.config.token
    }

    /// What it has served so far.
    pub fn stats(&self) -> DevStats {
        self.state.counters.snapshot()
    }

    /// When the job that made asset `asset_id` completed (its status turned `completed`), for
    /// measuring how long the news takes to reach a game.
    pub fn completed_at(&self, asset_id: &str) -> Option<Instant> {
        self.state.data().completed_at.get(asset_id).copied()
    }

    /// The `priority` of every create it answered, in order.
    pub fn create_priorities(&self) -> Vec<u8> {
        self.state.data().create_priorities.clone()
    }

    /// Its files, to share with a second backend playing its CDN.
    pub fn media_store(&self) -> MediaStore {
        self.state.config.media.clone()
    }

    pub(super) fn start(config: DevBackendBuilder) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("dev-backend")
            .enable_all()
            .build()?;
        let listener = std::net::TcpListener::bind(("127.0.0.1", config.port))?;
        listener.set_nonblocking(true)?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(Shared::new(config, base_url.clone()));
        seed_premade(&state);
        let app = router(state.clone());
        let (shutdown, stop) = oneshot::channel::<()>();
        let listener = {
            let _enter = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        runtime.spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop.await;
                })
                .await;
            if let Err(error) = served {
                tracing::warn!("dev backend stopped: {error}");
            }
        });
        Ok(Self {
            base_url,
            state,
            shutdown: Some(shutdown),
            runtime: Some(runtime),
        })
    }
}

impl Drop for DevBackend {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        // Open sockets and sleeping jobs are simply dropped with the runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

struct Generation {
    response: GenerationResponse,
    kind: MediaKind,
    seed: u64,
    /// The create's `duration.target`, in seconds.
    duration: Option<f32>,
    tags: Vec<String>,
    prompt: String,
    cancel_requested: bool,
    /// The backend user that created it.
    owner: u64,
    /// Runs started at the provider (the real service's `attempt_count`).
    attempts: u32,
    /// Render moderations so far.
    moderated: u32,
    /// Bumped by each retry, so a job the server meant to retry is not run twice.
    run: u64,
}

#[derive(Default)]
struct Data {
    next_generation: u64,
    next_asset: u64,
    generations: BTreeMap<u64, Generation>,
    assets: BTreeMap<u64, AssetResponse>,
    by_hash: HashMap<String, u64>,
    by_cache_key: HashMap<String, (u64, Option<Instant>)>,
    /// When each generated asset's job completed, for latency measurements.
    completed_at: HashMap<String, Instant>,
    /// The `priority` of every create answered, in order.
    create_priorities: Vec<u8>,
    /// The user each generated asset belongs to (pre-made ones belong to nobody).
    asset_owner: HashMap<u64, u64>,
    /// The same by media key.
    media_owner: HashMap<String, u64>,
    /// When each user's recent creates came, for the per-minute limit.
    create_times: HashMap<u64, VecDeque<Instant>>,
    faults: super::Faults,
    /// Draws injected errors; seeded, so runs repeat.
    rng: fastrand::Rng,
}

struct Shared {
    config: DevBackendBuilder,
    base_url: String,
    counters: Counters,
    events: broadcast::Sender<String>,
    data: Mutex<Data>,
}

type Answer = Result<Response, Response>;

impl Shared {
    fn new(config: DevBackendBuilder, base_url: String) -> Self {
        let data = Data {
            next_generation: 1,
            next_asset: 1,
            faults: config.faults.clone(),
            rng: fastrand::Rng::with_seed(config.seed),
            ..Data::default()
        };
        Self {
            counters: Counters::default(),
            events: broadcast::channel(4096).0,
            data: Mutex::new(data),
            config,
            base_url,
        }
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        // A handler that panicked must not take the server down with it.
        self.data
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The user whose token `headers` carry: 1 for the main token, 2, 3, ... for the
    /// [extra accounts](DevBackendBuilder::extra_account).
    fn user_of(&self, headers: &HeaderMap) -> Option<u64> {
        let token = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))?;
        self.user_of_token(token)
    }

    /// The user `token` belongs to.
    fn user_of_token(&self, token: &str) -> Option<u64> {
        if token == self.config.token {
            return Some(1);
        }
        let extra = &self.config.real.extra_accounts;
        extra.iter().position(|t| t == token).map(|i| i as u64 + 2)
    }

    /// The token of user `user`, if there is such a user.
    fn token_of(&self, user: u64) -> Option<&str> {
        match user {
            1 => Some(&self.config.token),
            n => {
                let index = usize::try_from(n.checked_sub(2)?).ok()?;
                self.config
                    .real
                    .extra_accounts
                    .get(index)
                    .map(String::as_str)
            }
        }
    }

    /// Latency, auth and the faults of `endpoint`, before a handler does its work. Answers the
    /// calling user (0 on an endpoint without auth and no token).
    async fn gate(
        &self,
        endpoint: Endpoint,
        headers: &HeaderMap,
        auth: bool,
    ) -> Result<u64, Response> {
        let latency = self.data().faults.latency;
        if !latency.is_zero() {
            let _in_flight = self.counters.enter(endpoint);
            tokio::time::sleep(latency).await;
        }
        let user = self.user_of(headers);
        if auth && user.is_none() {
            bump(&self.counters.unauthorized);
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Not authenticated: send Authorization: Bearer <token>",
            ));
        }
        let mut data = self.data();
        let data = &mut *data;
        if let Some((count, retry)) = data.faults.rate_limit_next.get_mut(&endpoint)
            && *count > 0
        {
            *count -= 1;
            bump(&self.counters.faults);
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Rate limit exceeded: 20 creates a minute",
            );
            if let Some(seconds) = retry {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(*seconds));
            }
            return Err(response);
        }
        let injected = match data.faults.fail_next.get_mut(&endpoint) {
            Some(count) if *count > 0 => {
                *count -= 1;
                true
            }
            _ => {
                let rate = data
                    .faults
                    .error_rate
                    .get(&endpoint)
                    .copied()
                    .unwrap_or(0.0);
                rate > 0.0 && data.rng.f32() < rate
            }
        };
        if injected {
            bump(&self.counters.faults);
            return Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Injected failure (dev backend fault knob)",
            ));
        }
        Ok(user.unwrap_or(0))
    }

    /// The per-minute create limit of `user`, if one is set: refuses the create over it.
    fn rate_check(&self, user: u64) -> Result<(), Response> {
        let Some((per_minute, retry_after)) = self.config.real.create_rate_limit else {
            return Ok(());
        };
        let window = Duration::from_secs(60);
        let now = Instant::now();
        let mut data = self.data();
        let times = data.create_times.entry(user).or_default();
        while times
            .front()
            .is_some_and(|at| now.duration_since(*at) >= window)
        {
            times.pop_front();
        }
        if times.len() < per_minute as usize {
            times.push_back(now);
            return Ok(());
        }
        // Seconds until the oldest create leaves the window, rounded up.
        let free_in = times.front().map_or(window, |oldest| {
            window.saturating_sub(now.duration_since(*oldest))
        });
        let seconds = free_in.as_secs() + u64::from(free_in.subsec_nanos() > 0);
        let seconds = seconds.max(1);
        drop(data);
        bump(&self.counters.rate_limited);
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            "http_429",
            &format!("Rate limit exceeded. Try again in {seconds} seconds."),
        );
        if retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        Err(response)
    }

    /// The answer for generation `id` read by `user`: its number, or 404 when unknown; another
    /// user's answers 500 with global dedup (as the real service), 404 without.
    fn own_generation(&self, id: &str, user: u64) -> Result<u64, Response> {
        let number = parse_id(id)?;
        let owner = self.data().generations.get(&number).map(|g| g.owner);
        match owner {
            None => Err(error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("Generation with id {number} not found"),
            )),
            Some(owner) if owner != user => Err(self.foreign("generation")),
            Some(_) => Ok(number),
        }
    }

    /// The refusal of a read of another user's `what` (`generation`, `asset`).
    fn foreign(&self, what: &str) -> Response {
        bump(&self.counters.foreign_refused);
        if self.config.real.global_dedup {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                &format!("Failed to get {what}: Cannot access other users' {what}s"),
            )
        } else {
            error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("No such {what}"),
            )
        }
    }

    /// Generation `id` as answered: the wire type, plus the real service's extra fields when
    /// asked for. `None` if there is none.
    fn generation_value(&self, id: u64) -> Option<Value> {
        let data = self.data();
        let generation = data.generations.get(&id)?;
        let mut value = serde_json::to_value(&generation.response).ok()?;
        if self.config.real.real_event_shapes
            && let Some(map) = value.as_object_mut()
        {
            let provider = generation.response.provider_id.clone().unwrap_or_default();
            map.insert(
                "account".to_owned(),
                json!({"type": "account", "id": 1, "meta": null}),
            );
            map.insert(
                "account_email".to_owned(),
                json!(format!("accountless+{provider}@pixsim.local")),
            );
            map.insert("attempt_count".to_owned(), json!(generation.attempts));
            map.insert("wait_reason".to_owned(), Value::Null);
        }
        Some(value)
    }

    /// Answers generation `id` with `status`.
    fn answer_generation(&self, endpoint: Endpoint, status: StatusCode, id: u64) -> Answer {
        let value = self
            .generation_value(id)
            .ok_or_else(|| error(StatusCode::NOT_FOUND, "not_found", "Generation not found"))?;
        Ok(self.json(endpoint, status, &value))
    }

    /// A `job:*` event for generation `id`, in the shape asked for; `failure` is its error
    /// code and message.
    fn job_event(
        &self,
        kind: &str,
        id: u64,
        status: GenerationStatus,
        failure: Option<(&str, &str)>,
    ) -> Value {
        if !self.config.real.real_event_shapes {
            return job_event(kind, id, status);
        }
        let data = self.data();
        let generation = data.generations.get(&id);
        let user = generation.map_or(1, |g| g.owner);
        let mut inner = json!({"job_id": id, "generation_id": id, "user_id": user});
        let status_value = if kind == "job:created" {
            if let (Some(generation), Some(map)) = (generation, inner.as_object_mut()) {
                let response = &generation.response;
                map.insert("operation_type".to_owned(), json!(response.operation_type));
                map.insert("provider_id".to_owned(), json!(response.provider_id));
                map.insert("params".to_owned(), json!(response.canonical_params));
                map.insert("priority".to_owned(), json!(response.priority));
            }
            Value::Null
        } else {
            if let Some(map) = inner.as_object_mut() {
                map.insert("status".to_owned(), json!(status.as_str()));
                if let Some((code, message)) = failure {
                    map.insert("error".to_owned(), json!(message));
                    map.insert("error_code".to_owned(), json!(code));
                }
            }
            json!(status.as_str())
        };
        json!({
            "type": kind,
            "generation_id": id,
            "status": status_value,
            "user_id": user,
            "data": inner,
            "timestamp": now_iso(),
        })
    }

    /// `value` as JSON with `status`, or cut off when `endpoint` has a malformed answer due.
    fn json(&self, endpoint: Endpoint, status: StatusCode, value: &impl Serialize) -> Response {
        let mut text = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
        let mut data = self.data();
        if let Some(count) = data.faults.malformed_next.get_mut(&endpoint)
            && *count > 0
        {
            *count -= 1;
            bump(&self.counters.faults);
            text.truncate(text.len() / 2);
        }
        (status, [(CONTENT_TYPE, "application/json")], text).into_response()
    }

    fn broadcast(&self, event: Value) {
        let _ = self.events.send(event.to_string());
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(ErrorBody::new(code, message))).into_response()
}

fn validation(detail: String, field: &str) -> Response {
    let body = ErrorBody {
        code: Some("validation_error".to_owned()),
        message: Some("Invalid request".to_owned()),
        detail: Some(Value::String(detail.clone())),
        fields: Some(vec![json!({"field": field, "message": detail})]),
    };
    (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
}

/// ISO 8601 UTC, to the second (`2026-11-21T10:00:00Z`).
fn now_iso() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// The contract's reproducible hash: SHA-256 of sorted-key, compact, ASCII-escaped JSON of
/// `{"canonical_params", "inputs"}` with every `seed` key removed.
pub(crate) fn reproducible_hash(body: &CreateGeneration) -> String {
    let params = json!({
        "provider_id": body.provider_id,
        "operation_type": body.config.generation_type,
        "config": serde_json::to_value(&body.config).unwrap_or(Value::Null),
    });
    params_hash(strip_seeds(params))
}

fn strip_seeds(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(key, _)| !key.eq_ignore_ascii_case("seed"))
                .map(|(key, value)| (key, strip_seeds(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_seeds).collect()),
        other => other,
    }
}

fn router(state: Arc<Shared>) -> Router {
    let router = Router::new()
        .route("/api/v1/auth/login", post(login))
        .route(
            "/api/v1/generations",
            post(create_generation).get(list_generations),
        )
        .route(
            "/api/v1/generations/{id}",
            get(get_generation).delete(delete_generation),
        )
        .route("/api/v1/generations/{id}/cancel", post(cancel_generation))
        .route("/api/v1/generations/{id}/retry", post(retry_generation))
        .route("/api/v1/assets/search", post(search_assets))
        .route("/api/v1/assets/{id}", get(get_asset))
        .route("/api/v1/assets/{id}/file", get(asset_file))
        .route("/api/v1/media/{key}", get(media_file))
        .route("/api/v1/ws/generations", get(socket))
        .route("/api/v1/game/scenes/{id}", get(scene));
    // Off, the path falls through to 404, as on a PixSim7 without it.
    let router = if state.config.game_endpoint {
        router.route("/api/v1/game/assets/request", post(game_request))
    } else {
        router
    };
    let router = if state.config.real.scene_media == SceneMediaMode::RemoteOrNull {
        router.route("/cdn/{key}", get(cdn_file))
    } else {
        router
    };
    router
        .fallback(|State(state): State<Arc<Shared>>| async move {
            bump(&state.counters.unknown_paths);
            error(StatusCode::NOT_FOUND, "not_found", "No such endpoint")
        })
        .with_state(state)
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let field = error.path().to_string();
        validation(format!("{field}: {}", error.inner()), &field)
    })
}

fn parse_id(id: &str) -> Result<u64, Response> {
    id.parse().map_err(|_| {
        error(
            StatusCode::NOT_FOUND,
            "not_found",
            "No such generation or asset",
        )
    })
}

async fn login(State(state): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Answer {
    state.gate(Endpoint::Login, &headers, false).await?;
    let request: LoginRequest = parse(&body)?;
    let user = login_user(&request);
    let token = user.and_then(|user| state.token_of(user).map(|token| (user, token)));
    let Some((user, token)) = token.filter(|_| request.password == super::DEV_PASSWORD) else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "Incorrect email or password",
        ));
    };
    bump(&state.counters.logins);
    let (email, username) = account_names(user);
    let answer = LoginResponse {
        access_token: token.to_owned(),
        token_type: Some("bearer".to_owned()),
        user: Some(json!({"id": user, "email": email, "username": username})),
    };
    Ok(state.json(Endpoint::Login, StatusCode::OK, &answer))
}

/// The email and user name of backend user `user`: the dev ones for user 1, `user{N}` for the
/// extra accounts.
fn account_names(user: u64) -> (String, String) {
    if user == 1 {
        (super::DEV_EMAIL.to_owned(), super::DEV_USERNAME.to_owned())
    } else {
        (format!("user{user}@pixsim.local"), format!("user{user}"))
    }
}

/// The user a login names by email or user name (whether it exists is checked with its token).
fn login_user(request: &LoginRequest) -> Option<u64> {
    let extra = |name: &str| {
        name.strip_prefix("user")?
            .parse::<u64>()
            .ok()
            .filter(|user| *user >= 2)
    };
    let by_email = request.email.as_deref().and_then(|email| {
        if email == super::DEV_EMAIL {
            Some(1)
        } else {
            extra(email.strip_suffix("@pixsim.local")?)
        }
    });
    let by_name = request.username.as_deref().and_then(|name| {
        if name == super::DEV_USERNAME {
            Some(1)
        } else {
            extra(name)
        }
    });
    by_email.or(by_name)
}

/// The operations the contract lists, and `text_to_audio`: not in PixSim7, it lets clients
/// configured with an audio operation get WAV media here.
const OPERATIONS: &[GenerationType] = &[
    GenerationType::TextToImage,
    GenerationType::TextToVideo,
    GenerationType::ImageToVideo,
    GenerationType::ImageToImage,
    GenerationType::VideoExtend,
    GenerationType::VideoTransition,
    GenerationType::Fusion,
    GenerationType::TextToAudio,
];

/// The contract's checks of a create; `operations` are the accepted `generationType`s.
fn validate(body: &CreateGeneration, operations: &[GenerationType]) -> Result<(), Response> {
    let config = &body.config;
    if body.provider_id.trim().is_empty() {
        return Err(validation(
            "provider_id must not be empty".into(),
            "provider_id",
        ));
    }
    let operation = &config.generation_type;
    if !operations.contains(operation) {
        return Err(validation(
            format!("unknown generationType {:?}", operation.as_str()),
            "config.generationType",
        ));
    }
    if operation.needs_prompt() && config.prompt.as_deref().is_none_or(|p| p.trim().is_empty()) {
        return Err(validation(
            format!("{operation} needs a non-empty prompt"),
            "config.prompt",
        ));
    }
    if let None | Some(Purpose::Unknown(_)) = &config.purpose {
        let purpose = config.purpose.as_ref().map_or("", Purpose::as_str);
        return Err(validation(
            format!("unknown purpose {purpose:?}"),
            "config.purpose",
        ));
    }
    if let None | Some(Strategy::Unknown(_)) = &config.strategy {
        let strategy = config.strategy.as_ref().map_or("", Strategy::as_str);
        return Err(validation(
            format!("unknown strategy {strategy:?}"),
            "config.strategy",
        ));
    }
    if body.priority > 10 {
        return Err(validation("priority must be 0..10".into(), "priority"));
    }
    Ok(())
}

/// How long the server keeps a create's result for reuse; `None` when it is never reused.
fn strategy_ttl(strategy: Option<&Strategy>) -> Option<Duration> {
    strategy
        .unwrap_or(&Strategy::Once)
        .caching()
        .and_then(CachingStrategy::ttl)
}

/// The media an operation makes.
fn media_kind(operation: &GenerationType) -> MediaKind {
    match operation {
        GenerationType::TextToAudio => MediaKind::Audio,
        GenerationType::TextToVideo
        | GenerationType::ImageToVideo
        | GenerationType::VideoExtend
        | GenerationType::VideoTransition
        | GenerationType::VideoModify => MediaKind::Video,
        _ => MediaKind::Image,
    }
}

/// Whether existing generation `id` may answer a create: by default neither failed nor
/// cancelled ones; with the real cache key only failed ones are skipped.
fn reusable(data: &Data, id: u64, real: bool) -> bool {
    data.generations
        .get(&id)
        .is_some_and(|generation| match generation.response.status {
            GenerationStatus::Failed => false,
            GenerationStatus::Cancelled => real,
            _ => true,
        })
}

/// SHA-256 hex of `{"canonical_params": params, "inputs": []}` written as the contract says.
fn params_hash(params: Value) -> String {
    let value = json!({"canonical_params": params, "inputs": []});
    let text = canonical_json(&value, NonAscii::Escape);
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Creates a generation for `user` or finds the one that dedups it; answers its id, `true`
/// when it is new.
fn create(state: &Arc<Shared>, body: &CreateGeneration, user: u64) -> (u64, bool) {
    let real = &state.config.real;
    let canonical = canonical_params(body);
    // The real service dedups by a hash that keeps the seed, and reports one without it.
    let (dedup_hash, hash, cache_key) = if real.real_cache_key {
        (
            params_hash(canonical.clone()),
            params_hash(strip_seeds(canonical.clone())),
            real::cache_key(body, user),
        )
    } else {
        let hash = reproducible_hash(body);
        (hash.clone(), hash, body.cache_key())
    };
    // Without global dedup each user has their own lookups.
    let scope = if real.global_dedup {
        String::new()
    } else {
        format!("u{user}|")
    };
    let hash_slot = format!("{scope}{dedup_hash}");
    let key_slot = cache_key.as_ref().map(|key| format!("{scope}{key}"));
    let mut data = state.data();
    let lookup = if real.real_cache_key {
        !body.force_new
    } else {
        !body.force_new && cache_key.is_some()
    };
    if lookup {
        let now = Instant::now();
        let by_hash = data.by_hash.get(&hash_slot).copied();
        let by_key = key_slot
            .as_ref()
            .and_then(|key| data.by_cache_key.get(key))
            .filter(|(_, expires)| expires.is_none_or(|at| at > now))
            .map(|(id, _)| *id);
        for id in [by_hash, by_key].into_iter().flatten() {
            if reusable(&data, id, real.real_cache_key) {
                drop(data);
                bump(&state.counters.reused);
                return (id, false);
            }
        }
    }
    let id = data.next_generation;
    data.next_generation += 1;
    let kind = media_kind(&body.config.generation_type);
    let seed = body
        .config
        .seed(&body.provider_id)
        .unwrap_or_else(|| seed_from_hash(&hash));
    let duration = body
        .config
        .duration
        .get("target")
        .and_then(Value::as_f64)
        .map(|seconds| seconds as f32);
    let mut tags: Vec<String> = Vec::new();
    if let Some(scene) = &body.from_scene {
        tags.push(format!("scene:{}", scene.id));
    }
    let response = GenerationResponse {
        id: BackendId::from(id),
        status: GenerationStatus::Pending,
        operation_type: Some(body.config.generation_type.clone()),
        provider_id: Some(body.provider_id.clone()),
        asset: None,
        reproducible_hash: Some(hash.clone()),
        error_message: None,
        error_code: None,
        retry_count: Some(0),
        priority: Some(i64::from(body.priority)),
        created_at: Some(now_iso()),
        started_at: None,
        completed_at: None,
        canonical_params: Some(canonical),
        final_prompt: body.config.prompt.clone(),
        name: body.name.clone(),
        user: Some(EntityRef {
            kind: Some("user".to_owned()),
            id: BackendId::from(user),
            meta: None,
        }),
        deferred_action: None,
    };
    data.generations.insert(
        id,
        Generation {
            response,
            kind,
            seed,
            duration,
            tags,
            prompt: body.config.prompt.clone().unwrap_or_default(),
            cancel_requested: false,
            owner: user,
            attempts: 0,
            moderated: 0,
            run: 0,
        },
    );
    if let Some(key) = key_slot {
        let ttl = strategy_ttl(body.config.strategy.as_ref());
        let expires = ttl.and_then(|ttl| Instant::now().checked_add(ttl));
        data.by_cache_key.insert(key, (id, expires));
        data.by_hash.insert(hash_slot, id);
    } else if real.real_cache_key {
        // The real service records every create's hash, `always` ones too.
        data.by_hash.insert(hash_slot, id);
    }
    drop(data);
    bump(&state.counters.new_generations);
    let event = state.job_event("job:created", id, GenerationStatus::Pending, None);
    state.broadcast(event);
    tokio::spawn(lifecycle(state.clone(), id, 0));
    (id, true)
}

/// The parameters a generation is made from, as the real service reports them: the style's
/// scalars (and its provider section's, the seed included) flattened, the duration's target,
/// the prompt, and the scene and player contexts with the fields it fills with `null`.
pub(crate) fn canonical_params(body: &CreateGeneration) -> Value {
    let mut params = serde_json::Map::new();
    let scalars = |map: &serde_json::Map<String, Value>,
                   params: &mut serde_json::Map<String, Value>| {
        for (key, value) in map {
            if !value.is_object() && !value.is_array() {
                params.insert(key.clone(), value.clone());
            }
        }
    };
    if let Some(style) = body.config.style.as_object() {
        scalars(style, &mut params);
        if let Some(section) = style.get(&body.provider_id).and_then(Value::as_object) {
            scalars(section, &mut params);
        }
    }
    if let Some(target) = body.config.duration.get("target").and_then(Value::as_f64) {
        params.insert("duration".to_owned(), json!(target));
    }
    if let Some(prompt) = &body.config.prompt {
        params.insert("prompt".to_owned(), json!(prompt));
    }
    let scene = |scene: &Option<SceneRef>| match scene {
        Some(scene) => json!({"id": scene.id, "mood": null, "summary": null, "location": null,
            "emotionalState": null}),
        None => Value::Null,
    };
    params.insert(
        "scene_context".to_owned(),
        json!({"from_scene": scene(&body.from_scene), "to_scene": scene(&body.to_scene)}),
    );
    let player = match &body.player_context {
        Some(context) => json!({"playthroughId": context.playthrough_id,
            "playerId": context.player_id, "choices": null, "flags": null, "stats": null}),
        None => Value::Null,
    };
    params.insert("player_context".to_owned(), player);
    params.insert("social_context".to_owned(), Value::Null);
    Value::Object(params)
}

/// A seed from the first 16 hex digits of a hash.
fn seed_from_hash(hash: &str) -> u64 {
    u64::from_str_radix(hash.get(..16).unwrap_or("0"), 16).unwrap_or(0)
}

fn job_event(kind: &str, id: u64, status: GenerationStatus) -> Value {
    json!({
        "type": kind,
        "generation_id": id,
        "status": status.as_str(),
        "data": {"generation_id": id, "status": status.as_str()},
        "timestamp": now_iso(),
    })
}

/// The failure of a prompt refused by
/// [`reject_prompts_containing`](DevBackendBuilder::reject_prompts_containing).
fn rejection(state: &Shared, provider: &str) -> (&'static str, String) {
    let message = if state.config.real.real_event_shapes {
        format!(
            "Content filtered by provider '{provider}': the provider rejected the content for \
             safety or policy reasons (dev backend prompt rejection)."
        )
    } else {
        "The provider refused the prompt's content".to_owned()
    };
    ("content_prompt_rejected", message)
}

const MODERATED: (&str, &str) = (
    "content_render_moderated",
    "The provider moderated the rendered content (dev backend render moderation)",
);

/// Runs a job: pending, processing, then completed (or failed, cancelled, stalled, or failed
/// by a render moderation and retried by the server). `run` is the generation's run number
/// when it started; a retry starts another run and this one ends.
async fn lifecycle(state: Arc<Shared>, id: u64, run: u64) {
    let real = &state.config.real;
    loop {
        tokio::time::sleep(state.config.pending_delay).await;
        let refused = {
            let mut data = state.data();
            let word = data.faults.reject_prompts_containing.clone();
            let Some(generation) = data.generations.get_mut(&id) else {
                return;
            };
            if generation.run != run || generation.response.status != GenerationStatus::Pending {
                return;
            }
            // The real service's provider refuses a prompt at submit, before it starts.
            let refused = real.real_event_shapes
                && word
                    .as_deref()
                    .is_some_and(|word| generation.prompt.contains(word));
            if !refused {
                generation.response.status = GenerationStatus::Processing;
                generation.response.started_at = Some(now_iso());
                generation.attempts += 1;
            }
            refused.then(|| generation.response.provider_id.clone().unwrap_or_default())
        };
        if let Some(provider) = refused {
            let (code, message) = rejection(&state, &provider);
            finish(&state, id, GenerationStatus::Failed, Some((code, &message)));
            return;
        }
        let event = state.job_event("job:started", id, GenerationStatus::Processing, None);
        state.broadcast(event);
        if state.data().faults.stall_jobs {
            return;
        }
        tokio::time::sleep(state.config.processing_delay).await;
        let (render, prompt, cancelled, moderated) = {
            let data = state.data();
            let Some(generation) = data.generations.get(&id) else {
                return;
            };
            if generation.run != run {
                return;
            }
            let render = Render {
                kind: generation.kind,
                seed: generation.seed,
                duration: generation.duration,
                tags: generation.tags.clone(),
                owner: generation.owner,
                provider: generation.response.provider_id.clone().unwrap_or_default(),
            };
            (
                render,
                generation.prompt.clone(),
                generation.cancel_requested
                    || generation.response.status != GenerationStatus::Processing,
                generation.moderated,
            )
        };
        if cancelled {
            finish(&state, id, GenerationStatus::Cancelled, None);
            return;
        }
        let rejected = state
            .data()
            .faults
            .reject_prompts_containing
            .as_deref()
            .is_some_and(|word| prompt.contains(word));
        if rejected {
            let (code, message) = rejection(&state, &render.provider);
            finish(&state, id, GenerationStatus::Failed, Some((code, &message)));
            return;
        }
        let moderate = real.moderation.as_ref().is_some_and(|(word, failures)| {
            prompt.contains(word.as_str()) && moderated < *failures
        });
        if moderate {
            let retry = {
                let mut data = state.data();
                let Some(generation) = data.generations.get_mut(&id) else {
                    return;
                };
                generation.moderated += 1;
                // A cancel waiting for the job's end is honoured: no retry.
                generation.response.retry_count.unwrap_or(0) < real.max_server_retries
                    && generation.response.deferred_action.is_none()
            };
            finish(&state, id, GenerationStatus::Failed, Some(MODERATED));
            if !retry {
                return;
            }
            tokio::time::sleep(real.server_retry_delay).await;
            {
                let mut data = state.data();
                let Some(generation) = data.generations.get_mut(&id) else {
                    return;
                };
                if generation.run != run || generation.response.status != GenerationStatus::Failed {
                    return;
                }
                let response = &mut generation.response;
                response.status = GenerationStatus::Pending;
                response.retry_count = Some(response.retry_count.unwrap_or(0) + 1);
                response.error_code = None;
                response.error_message = None;
                response.started_at = None;
                response.completed_at = None;
            }
            // No `job:retrying`: the real service announces the retry only by `job:started`.
            bump(&state.counters.server_retries);
            continue;
        }
        complete(&state, id, render).await;
        return;
    }
}

/// What a job needs to make its media.
struct Render {
    kind: MediaKind,
    seed: u64,
    duration: Option<f32>,
    tags: Vec<String>,
    owner: u64,
    provider: String,
}

/// Makes generation `id`'s media and completes it.
async fn complete(state: &Arc<Shared>, id: u64, render: Render) {
    let Render {
        kind,
        seed,
        duration,
        tags,
        owner,
        provider,
    } = render;
    let sizes = (state.config.image_size, state.config.video_size);
    let made = tokio::task::spawn_blocking(move || make_media(kind, seed, duration, sizes)).await;
    let media = match made {
        Ok(Ok(media)) => media,
        Ok(Err(error)) => {
            tracing::warn!("dev backend: generation {id} failed: {error}");
            finish(
                state,
                id,
                GenerationStatus::Failed,
                Some(("internal_error", "The media encoder failed")),
            );
            return;
        }
        Err(_) => {
            finish(
                state,
                id,
                GenerationStatus::Failed,
                Some(("internal_error", "The media painter stopped")),
            );
            return;
        }
    };
    let asset = add_asset(state, kind, media, tags, Some((id, owner)));
    let asset_id = asset.id.clone();
    {
        let mut data = state.data();
        if let Some(generation) = data.generations.get_mut(&id) {
            generation.response.asset = asset_id.clone().map(|id| EntityRef {
                kind: Some("asset".to_owned()),
                id,
                meta: None,
            });
            generation.response.status = GenerationStatus::Completed;
            generation.response.completed_at = Some(now_iso());
            // A cancel that lost the race has nothing left to wait for.
            generation.response.deferred_action = None;
        }
        if let Some(asset) = &asset_id {
            data.completed_at.insert(asset.0.clone(), Instant::now());
        }
    }
    let created = if state.config.real.real_event_shapes {
        json!({
            "type": "asset:created",
            "asset_id": asset_id,
            "user_id": owner,
            "media_type": null,
            "data": {"asset_id": asset_id, "user_id": owner, "generation_id": id, "job_id": id,
                "provider_id": provider},
            "timestamp": now_iso(),
        })
    } else {
        json!({
            "type": "asset:created",
            "asset_id": asset_id,
            "media_type": asset.media_type,
            "data": {"generation_id": id},
            "timestamp": now_iso(),
        })
    };
    state.broadcast(created);
    let event = state.job_event("job:completed", id, GenerationStatus::Completed, None);
    state.broadcast(event);
}

fn finish(state: &Shared, id: u64, status: GenerationStatus, failure: Option<(&str, &str)>) {
    {
        let mut data = state.data();
        let Some(generation) = data.generations.get_mut(&id) else {
            return;
        };
        generation.response.status = status;
        generation.response.completed_at = Some(now_iso());
        generation.response.deferred_action = None;
        if let Some((code, message)) = failure {
            generation.response.error_code = Some(code.to_owned());
            generation.response.error_message = Some(message.to_owned());
        }
    }
    let kind = match status {
        GenerationStatus::Failed => "job:failed",
        _ => "job:cancelled",
    };
    let event = state.job_event(kind, id, status, failure);
    state.broadcast(event);
}

/// A made file: its bytes, MIME type, pixel size and length.
struct Made {
    bytes: Vec<u8>,
    mime: &'static str,
    size: Option<(u32, u32)>,
    seconds: Option<f64>,
}

/// Paints (or encodes) media of `kind`: a WAV for audio, an H.264 mp4 for video (with the
/// `video` feature; a PNG without it), a PNG otherwise. `sizes` are the image and video sizes.
fn make_media(
    kind: MediaKind,
    seed: u64,
    seconds: Option<f32>,
    sizes: ((u32, u32), (u32, u32)),
) -> Result<Made, String> {
    let ((width, height), _video) = sizes;
    match kind {
        MediaKind::Audio => {
            let seconds = seconds.unwrap_or(1.0);
            Ok(Made {
                bytes: procedural_wav(seed, seconds),
                mime: "audio/wav",
                size: None,
                seconds: Some(f64::from(seconds)),
            })
        }
        #[cfg(feature = "video")]
        MediaKind::Video => {
            let spec = bevy_asset_provider::video::ClipSpec::new(seed)
                .size(_video.0, _video.1)
                .seconds(seconds.unwrap_or(2.0));
            let bytes = spec.encode().map_err(|error| error.to_string())?;
            Ok(Made {
                bytes,
                mime: "video/mp4",
                size: Some(spec.dimensions()),
                seconds: Some(f64::from(spec.frame_count()) / f64::from(spec.frame_rate())),
            })
        }
        _ => Ok(Made {
            bytes: procedural_png(seed, width, height),
            mime: "image/png",
            size: Some((width, height)),
            seconds: None,
        }),
    }
}

/// The file extension of a media key.
fn extension(mime: &str) -> &'static str {
    match mime {
        "audio/wav" => "wav",
        "video/mp4" => "mp4",
        _ => "png",
    }
}

/// Stores a made file as an asset; `generation` is the generation that made it and its owner
/// (pre-made assets have none and belong to nobody).
fn add_asset(
    state: &Shared,
    kind: MediaKind,
    made: Made,
    tags: Vec<String>,
    generation: Option<(u64, u64)>,
) -> AssetResponse {
    let Made {
        bytes,
        mime,
        size: dimensions,
        seconds,
    } = made;
    let sha = hex::encode(Sha256::digest(&bytes));
    let key = format!("{}.{}", &sha[..16], extension(mime));
    let size = bytes.len() as u64;
    let (width, height) = dimensions.unzip();
    if let Ok(mut files) = state.config.media.0.lock() {
        files.insert(key.clone(), (Arc::from(bytes), mime.to_owned()));
    }
    let mut data = state.data();
    let id = data.next_asset;
    data.next_asset += 1;
    let file_url = match &state.config.media_base_url {
        Some(base) => format!("{base}/api/v1/media/{key}"),
        None => format!("/api/v1/assets/{id}/file"),
    };
    // The provider's CDN copy, which the real service's scenes point at.
    let remote_url = (generation.is_some()
        && state.config.real.scene_media == SceneMediaMode::RemoteOrNull)
        .then(|| format!("{}/cdn/{key}", state.base_url));
    let asset = AssetResponse {
        id: Some(BackendId::from(id)),
        media_type: Some(kind.as_str().to_owned()),
        mime_type: Some(mime.to_owned()),
        sha256: Some(sha.clone()),
        file_size_bytes: Some(size),
        width,
        height,
        duration_sec: seconds.filter(|_| kind != MediaKind::Image),
        file_url: Some(file_url),
        remote_url,
        thumbnail_url: None,
        tags: tags.iter().map(|tag| TagRef::from_slug(tag)).collect(),
        source_generation_id: generation.map(|(generation, _)| BackendId::from(generation)),
        reproducible_hash: None,
        created_at: Some(now_iso()),
    };
    data.assets.insert(id, asset.clone());
    if let Some((_, owner)) = generation {
        data.asset_owner.insert(id, owner);
        data.media_owner.insert(key, owner);
    }
    asset
}

fn seed_premade(state: &Shared) {
    let sizes = (state.config.image_size, state.config.video_size);
    for spec in state.config.premade.clone() {
        match make_media(spec.kind, spec.seed, None, sizes) {
            Ok(made) => {
                add_asset(state, spec.kind, made, spec.tags, None);
            }
            Err(error) => tracing::warn!("dev backend: a pre-made asset failed: {error}"),
        }
    }
}

async fn create_generation(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let user = state
        .gate(Endpoint::CreateGeneration, &headers, true)
        .await?;
    state.rate_check(user)?;
    let real = &state.config.real;
    // Checks of the body as sent, before the tolerant parse reads numbers as text.
    let raw: Option<Value> = serde_json::from_slice(&body).ok();
    if real.reject_numeric_ids
        && let Some(raw) = &raw
    {
        real::numeric_scene_ids(raw)?;
    }
    let body: CreateGeneration = parse(&body)?;
    if real.invalid_creates_answer_500 {
        real::check_create(raw.as_ref().unwrap_or(&Value::Null), &body)?;
        validate(&body, real::OPERATIONS)?;
    } else {
        validate(&body, OPERATIONS)?;
    }
    bump(&state.counters.creates);
    state.data().create_priorities.push(body.priority);
    let (id, _) = create(&state, &body, user);
    state.answer_generation(Endpoint::CreateGeneration, StatusCode::CREATED, id)
}

async fn get_generation(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let user = state.gate(Endpoint::GetGeneration, &headers, true).await?;
    let number = state.own_generation(&id, user)?;
    bump(&state.counters.polls);
    state.answer_generation(Endpoint::GetGeneration, StatusCode::OK, number)
}

#[derive(serde::Deserialize)]
struct ListQuery {
    status: Option<String>,
    limit: Option<u64>,
    offset: Option<u64>,
}

async fn list_generations(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Answer {
    let user = state.gate(Endpoint::GetGeneration, &headers, true).await?;
    let limit = query.limit.unwrap_or(50).min(100);
    let offset = query.offset.unwrap_or(0);
    let matching: Vec<u64> = state
        .data()
        .generations
        .iter()
        .rev()
        .filter(|(_, g)| g.owner == user)
        .filter(|(_, g)| {
            query
                .status
                .as_deref()
                .is_none_or(|status| g.response.status.as_str() == status)
        })
        .map(|(id, _)| *id)
        .collect();
    let total = matching.len() as u64;
    let generations: Vec<Value> = matching
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .filter_map(|id| state.generation_value(id))
        .collect();
    let page =
        json!({"generations": generations, "total": total, "limit": limit, "offset": offset});
    Ok(state.json(Endpoint::GetGeneration, StatusCode::OK, &page))
}

async fn cancel_generation(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let user = state.gate(Endpoint::GetGeneration, &headers, true).await?;
    let number = state.own_generation(&id, user)?;
    bump(&state.counters.cancels);
    let loses_race = state.config.real.cancel_loses_race;
    let cancel_now = {
        let mut data = state.data();
        let stalled = data.faults.stall_jobs;
        let Some(generation) = data.generations.get_mut(&number) else {
            return Err(error(
                StatusCode::NOT_FOUND,
                "not_found",
                "Generation not found",
            ));
        };
        match generation.response.status {
            // A stalled job would never reach its end; cancel it now.
            GenerationStatus::Pending | GenerationStatus::Paused => true,
            GenerationStatus::Processing if stalled => true,
            // The provider finishes first: the cancel waits for an end that is a completion.
            GenerationStatus::Processing if loses_race => {
                if generation.response.deferred_action.is_none() {
                    generation.response.deferred_action = Some("cancel".to_owned());
                    bump(&state.counters.cancels_lost);
                }
                false
            }
            GenerationStatus::Processing => {
                generation.cancel_requested = true;
                false
            }
            GenerationStatus::Completed if loses_race => {
                return Err(error(
                    StatusCode::CONFLICT,
                    "conflict",
                    "Generation already completed",
                ));
            }
            _ => false,
        }
    };
    if cancel_now {
        finish(&state, number, GenerationStatus::Cancelled, None);
    }
    state.answer_generation(Endpoint::GetGeneration, StatusCode::OK, number)
}

async fn retry_generation(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let user = state.gate(Endpoint::GetGeneration, &headers, true).await?;
    let number = state.own_generation(&id, user)?;
    let run = {
        let mut data = state.data();
        let Some(generation) = data.generations.get_mut(&number) else {
            return Err(error(
                StatusCode::NOT_FOUND,
                "not_found",
                "Generation not found",
            ));
        };
        if !matches!(
            generation.response.status,
            GenerationStatus::Failed | GenerationStatus::Cancelled
        ) {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "invalid_state",
                "Only failed or cancelled generations can be retried",
            ));
        }
        generation.response.status = GenerationStatus::Pending;
        generation.response.error_code = None;
        generation.response.error_message = None;
        generation.response.completed_at = None;
        generation.cancel_requested = false;
        generation.response.retry_count = Some(generation.response.retry_count.unwrap_or(0) + 1);
        // A server retry still waiting for this generation must not run it too.
        generation.run += 1;
        generation.run
    };
    let event = state.job_event("job:retrying", number, GenerationStatus::Pending, None);
    state.broadcast(event);
    tokio::spawn(lifecycle(state.clone(), number, run));
    state.answer_generation(Endpoint::GetGeneration, StatusCode::OK, number)
}

async fn delete_generation(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let user = state.gate(Endpoint::GetGeneration, &headers, true).await?;
    let number = state.own_generation(&id, user)?;
    let mut data = state.data();
    let Some(generation) = data.generations.get(&number) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "not_found",
            "Generation not found",
        ));
    };
    if !generation.response.status.is_terminal() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_state",
            "Only finished generations can be deleted",
        ));
    }
    data.generations.remove(&number);
    data.by_hash.retain(|_, id| *id != number);
    data.by_cache_key.retain(|_, (id, _)| *id != number);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn get_asset(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let user = state.gate(Endpoint::Asset, &headers, true).await?;
    let number = parse_id(&id)?;
    let (asset, owner) = {
        let data = state.data();
        let asset = data
            .assets
            .get(&number)
            .cloned()
            .ok_or_else(|| error(StatusCode::NOT_FOUND, "not_found", "Asset not found"))?;
        (asset, data.asset_owner.get(&number).copied())
    };
    if owner.is_some_and(|owner| owner != user) {
        return Err(state.foreign("asset"));
    }
    bump(&state.counters.asset_fetches);
    if state.config.real.real_event_shapes {
        let mut value = serde_json::to_value(&asset).unwrap_or(Value::Null);
        if let Some(map) = value.as_object_mut() {
            map.insert("user_id".to_owned(), json!(owner.unwrap_or(1)));
        }
        return Ok(state.json(Endpoint::Asset, StatusCode::OK, &value));
    }
    Ok(state.json(Endpoint::Asset, StatusCode::OK, &asset))
}

fn serve_file(state: &Shared, key: &str) -> Answer {
    let file = state
        .config
        .media
        .0
        .lock()
        .ok()
        .and_then(|files| files.get(key).cloned());
    let Some((bytes, mime)) = file else {
        return Err(error(StatusCode::NOT_FOUND, "not_found", "File not found"));
    };
    let (truncate, corrupt) = {
        let mut data = state.data();
        let faults = &mut data.faults;
        let once = faults.corrupt_next_downloads > 0;
        faults.corrupt_next_downloads = faults.corrupt_next_downloads.saturating_sub(1);
        (faults.truncate_downloads, faults.corrupt_downloads || once)
    };
    let mut bytes = bytes.to_vec();
    if truncate {
        bytes.truncate(bytes.len() / 2);
    }
    if corrupt && !bytes.is_empty() {
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xFF;
    }
    bump(&state.counters.downloads);
    Ok(([(CONTENT_TYPE, mime)], bytes).into_response())
}

/// Refuses `user` the file `key` when another user's generation made it.
fn check_file_owner(state: &Shared, key: &str, user: u64) -> Result<(), Response> {
    let owner = state.data().media_owner.get(key).copied();
    if owner.is_some_and(|owner| owner != user) {
        bump(&state.counters.foreign_refused);
        return Err(error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Access denied: the file belongs to another user",
        ));
    }
    Ok(())
}

fn count_download(state: &Shared, headers: &HeaderMap) {
    if headers.contains_key(AUTHORIZATION) {
        bump(&state.counters.downloads_with_token);
    }
}

async fn asset_file(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    count_download(&state, &headers);
    let user = state.gate(Endpoint::Download, &headers, true).await?;
    let number = parse_id(&id)?;
    let key = state
        .data()
        .assets
        .get(&number)
        .and_then(|asset| asset.sha256.clone().zip(asset.mime_type.clone()))
        .map(|(sha, mime)| format!("{}.{}", sha.get(..16).unwrap_or(&sha), extension(&mime)))
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "not_found", "Asset not found"))?;
    check_file_owner(&state, &key, user)?;
    serve_file(&state, &key)
}

async fn media_file(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Answer {
    count_download(&state, &headers);
    let public = state.config.public_media;
    let user = state.gate(Endpoint::Download, &headers, !public).await?;
    if !public {
        check_file_owner(&state, &key, user)?;
    }
    serve_file(&state, &key)
}

/// The provider's CDN (`remote_url`): absolute, and served without a token.
async fn cdn_file(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Answer {
    count_download(&state, &headers);
    state.gate(Endpoint::Download, &headers, false).await?;
    serve_file(&state, &key)
}

const CURSOR_PREFIX: &str = "dev-cursor-";

async fn search_assets(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let user = state.gate(Endpoint::Search, &headers, true).await?;
    let search: AssetSearch = parse(&body)?;
    let offset = match search.cursor.as_deref() {
        None | Some("") => 0,
        Some(cursor) => cursor
            .strip_prefix(CURSOR_PREFIX)
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| validation(format!("unknown cursor {cursor:?}"), "cursor"))?,
    };
    let limit = search.limit.unwrap_or(50).clamp(1, 100) as usize;
    let media_types: Vec<String> = search
        .filters
        .get("media_type")
        .and_then(Value::as_array)
        .map(|types| {
            types
                .iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let q = search.q.as_deref().map(str::to_lowercase);
    // Any of the tags matches; assets with more of them come first.
    let data = state.data();
    let mut matching: Vec<(usize, AssetResponse)> = data
        .assets
        .iter()
        // The caller's own assets and the pre-made ones, which belong to nobody.
        .filter(|(id, _)| data.asset_owner.get(id).is_none_or(|owner| *owner == user))
        .map(|(_, asset)| asset)
        .filter(|asset| {
            media_types.is_empty()
                || asset
                    .media_type
                    .as_ref()
                    .is_some_and(|kind| media_types.contains(kind))
        })
        .filter(|asset| {
            q.as_deref().is_none_or(|q| {
                asset
                    .tags
                    .iter()
                    .any(|tag| tag.slug.to_lowercase().contains(q))
            })
        })
        .map(|asset| {
            let hits = asset
                .tags
                .iter()
                .filter(|tag| search.tag.contains(&tag.slug))
                .count();
            (hits, asset.clone())
        })
        .filter(|(hits, _)| search.tag.is_empty() || *hits > 0)
        .collect();
    drop(data);
    matching.sort_by_key(|(hits, _)| std::cmp::Reverse(*hits));
    let total = matching.len();
    let page: Vec<AssetResponse> = matching
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|(_, asset)| asset)
        .collect();
    let next = offset + page.len();
    bump(&state.counters.searches);
    let answer = AssetSearchResponse {
        assets: page,
        total: Some(total as u64),
        limit: Some(limit as u64),
        offset: Some(offset as u64),
        next_cursor: (next < total).then(|| format!("{CURSOR_PREFIX}{next}")),
    };
    Ok(state.json(Endpoint::Search, StatusCode::OK, &answer))
}

async fn socket(State(state): State<Arc<Shared>>, upgrade: WebSocketUpgrade) -> Response {
    bump(&state.counters.socket_connections);
    upgrade.on_upgrade(move |socket| serve_socket(state, socket))
}

async fn serve_socket(state: Arc<Shared>, mut socket: WebSocket) {
    let mut events = state.events.subscribe();
    let greeting = if state.config.real.real_event_shapes {
        json!({"type": "connected", "payload": null, "data": null, "error": null,
            "message": "Connected to generation updates", "user_id": null})
    } else {
        json!({"type": "connected", "message": "Connected to generation updates"})
    };
    if socket
        .send(Message::Text(greeting.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    let limit = state.data().faults.drop_sockets_after;
    let mut sent = 0usize;
    loop {
        if limit.is_some_and(|limit| sent >= limit) {
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
        tokio::select! {
            event = events.recv() => match event {
                Ok(text) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                    sent += 1;
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) if text.as_str() == "ping" => {
                    if socket.send(Message::Text("pong".into())).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

async fn game_request(State(state): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Answer {
    let user = state.gate(Endpoint::GameRequest, &headers, true).await?;
    let request: GameAssetRequest = parse(&body)?;
    bump(&state.counters.game_requests);
    let context = |name: &str| {
        request
            .context
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut wanted = AssetRequest::image();
    wanted.scene_id = request.scene_id.clone();
    wanted.choice_id = request.choice_id.clone();
    wanted.character_id = context("character_id");
    wanted.location_id = context("location_id");

    // Pre-made first, scored like the reference frontend.
    let criteria = MatchCriteria::from_request(&wanted);
    let premade = {
        let data = state.data();
        let candidates: Vec<(AssetResponse, Vec<String>)> = data
            .assets
            .values()
            .filter(|asset| asset.source_generation_id.is_none())
            .map(|asset| (asset.clone(), asset.tag_slugs()))
            .collect();
        best_match(
            candidates
                .iter()
                .map(|(asset, tags)| (asset, tags.as_slice())),
            &criteria,
        )
        .map(|(asset, _)| asset.clone())
    };
    if let Some(asset) = premade {
        return Ok(game_answer(&state, &asset, "pre_made", false, None));
    }

    let prompt = format!(
        "scene {} {}",
        request.scene_id.as_deref().unwrap_or("unknown"),
        request.choice_id.as_deref().unwrap_or("")
    );
    let body = CreateGeneration {
        provider_id: "pixverse".to_owned(),
        config: GenerationConfig {
            generation_type: GenerationType::TextToImage,
            purpose: Some(Purpose::GapFill),
            strategy: Some(request.strategy.clone().unwrap_or(Strategy::Once)),
            prompt: Some(prompt.trim().to_owned()),
            style: json!({}),
            duration: json!({}),
            constraints: json!({}),
            fallback: None,
            version: Some(1),
        },
        from_scene: request
            .scene_id
            .as_deref()
            .map(|id| SceneRef { id: id.into() }),
        to_scene: None,
        player_context: None,
        name: request.choice_id.clone(),
        priority: 5,
        force_new: false,
    };
    validate(&body, OPERATIONS)?;
    let started = Instant::now();
    let (id, new) = create(&state, &body, user);
    let wait = Duration::from_millis(request.max_wait_ms.unwrap_or(30_000));
    loop {
        let (status, asset) = {
            let data = state.data();
            let Some(generation) = data.generations.get(&id) else {
                return Err(error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "Generation vanished",
                ));
            };
            let asset = generation
                .response
                .asset
                .as_ref()
                .and_then(|asset| asset.id.as_str().parse::<u64>().ok())
                .and_then(|asset| data.assets.get(&asset).cloned());
            (generation.response.status, asset)
        };
        match (status, asset) {
            (GenerationStatus::Completed, Some(asset)) => {
                let (source, elapsed) = if new {
                    ("generated", Some(started.elapsed().as_millis() as u64))
                } else {
                    ("cached", None)
                };
                return Ok(game_answer(&state, &asset, source, !new, elapsed));
            }
            (GenerationStatus::Failed | GenerationStatus::Cancelled, _) => {
                return Err(error(
                    StatusCode::BAD_GATEWAY,
                    "generation_failed",
                    "The generation for this request failed",
                ));
            }
            _ => {}
        }
        if started.elapsed() >= wait {
            return Err(error(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                "The generation did not finish within max_wait_ms",
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn game_answer(
    state: &Shared,
    asset: &AssetResponse,
    source: &str,
    from_cache: bool,
    generation_time_ms: Option<u64>,
) -> Response {
    let answer = GameAssetResponse {
        asset_id: BackendId(asset.id.as_ref().map(|id| id.0.clone()).unwrap_or_default()),
        url: asset.file_url.clone().unwrap_or_default(),
        media_type: asset.media_type.clone(),
        source: Some(source.to_owned()),
        from_cache: Some(from_cache),
        generation_time_ms,
    };
    // The contract shows the asset id as a string here.
    let mut value = serde_json::to_value(&answer).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.insert(
            "asset_id".to_owned(),
            Value::String(answer.asset_id.0.clone()),
        );
    }
    state.json(Endpoint::GameRequest, StatusCode::OK, &value)
}

async fn scene(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    state.gate(Endpoint::GameRequest, &headers, true).await?;
    let Some(json) = state.config.scenes.get(&id).cloned() else {
        return Err(error(StatusCode::NOT_FOUND, "not_found", "Scene not found"));
    };
    bump(&state.counters.scenes);
    if state.config.real.scene_media == SceneMediaMode::RemoteOrNull {
        let data = state.data();
        let asset = |id: &Value| {
            let id = BackendId::from_value(id)?.as_str().parse::<u64>().ok()?;
            data.assets.get(&id).cloned()
        };
        if let Some(scene) = real::scene(&json, asset) {
            drop(data);
            return Ok(state.json(Endpoint::GameRequest, StatusCode::OK, &scene));
        }
    }
    Ok(([(CONTENT_TYPE, "application/json")], json.to_vec()).into_response())
}
