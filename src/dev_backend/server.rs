//! The dev backend's state, routes and job lifecycle.

// Handlers answer errors as ready `Response`s (axum's usual `Result<_, Response>`); boxing them
// would buy nothing in a test server.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

use super::{Counters, DevBackendBuilder, DevStats, Endpoint, MediaStore, bump};
use crate::backend::types::{
    AssetResponse, AssetSearch, AssetSearchResponse, BackendId, CreateGeneration, EntityRef,
    ErrorBody, GameAssetRequest, GameAssetResponse, GenerationList, GenerationResponse,
    GenerationStatus, LoginRequest, LoginResponse, SceneRef, TagRef,
};
use crate::procedural::{procedural_png, procedural_wav};
use crate::request::{AssetRequest, CachingStrategy, MediaKind};
use crate::scoring::{MatchCriteria, best_match};

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
        let state = Arc::new(Shared::new(config));
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
                bevy::log::warn!("dev backend stopped: {error}");
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
    faults: super::Faults,
    rng: u64,
}

struct Shared {
    config: DevBackendBuilder,
    counters: Counters,
    events: broadcast::Sender<String>,
    data: Mutex<Data>,
}

type Answer = Result<Response, Response>;

impl Shared {
    fn new(config: DevBackendBuilder) -> Self {
        let data = Data {
            next_generation: 1,
            next_asset: 1,
            faults: config.faults.clone(),
            rng: config.seed,
            ..Data::default()
        };
        Self {
            counters: Counters::default(),
            events: broadcast::channel(4096).0,
            data: Mutex::new(data),
            config,
        }
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        // A handler that panicked must not take the server down with it.
        self.data
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn authorised(&self, headers: &HeaderMap) -> bool {
        headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .is_some_and(|token| token == self.config.token)
    }

    /// Latency, auth and the faults of `endpoint`, before a handler does its work.
    async fn gate(
        &self,
        endpoint: Endpoint,
        headers: &HeaderMap,
        auth: bool,
    ) -> Result<(), Response> {
        let latency = self.data().faults.latency;
        if !latency.is_zero() {
            let _in_flight = self.counters.enter(endpoint);
            tokio::time::sleep(latency).await;
        }
        if auth && !self.authorised(headers) {
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
                rate > 0.0 && next_unit(&mut data.rng) < rate
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
        Ok(())
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

fn next_unit(state: &mut u64) -> f32 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 40) as f32 / (1u32 << 24) as f32
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

/// ISO 8601 UTC, to the second.
fn now_iso() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The contract's reproducible hash: SHA-256 of sorted-key, compact, ASCII-escaped JSON of
/// `{"canonical_params", "inputs"}` with every `seed` key removed.
pub(crate) fn reproducible_hash(body: &CreateGeneration) -> String {
    let params = json!({
        "provider_id": body.provider_id,
        "operation_type": body.config.generation_type,
        "config": serde_json::to_value(&body.config).unwrap_or(Value::Null),
    });
    let value = json!({"canonical_params": strip_seeds(params), "inputs": []});
    let mut text = String::new();
    write_python_json(&value, &mut text);
    hex::encode(Sha256::digest(text.as_bytes()))
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

/// `json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)`.
fn write_python_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_python_string(key, out);
                out.push(':');
                write_python_json(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_python_json(item, out);
            }
            out.push(']');
        }
        Value::String(text) => write_python_string(text, out),
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn write_python_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
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
    let user_ok = request.email.as_deref() == Some(super::DEV_EMAIL)
        || request.username.as_deref() == Some(super::DEV_USERNAME);
    if !user_ok || request.password != super::DEV_PASSWORD {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "Incorrect email or password",
        ));
    }
    bump(&state.counters.logins);
    let answer = LoginResponse {
        access_token: state.config.token.clone(),
        token_type: Some("bearer".to_owned()),
        user: Some(json!({"id": 1, "email": super::DEV_EMAIL, "username": super::DEV_USERNAME})),
    };
    Ok(state.json(Endpoint::Login, StatusCode::OK, &answer))
}

const OPERATIONS: &[&str] = &[
    "text_to_image",
    "text_to_video",
    "image_to_video",
    "image_to_image",
    "video_extend",
    "video_transition",
    "fusion",
    // Not in PixSim7: lets clients configured with an audio operation get WAV media here.
    "text_to_audio",
];

fn validate(body: &CreateGeneration) -> Result<(), Response> {
    let config = &body.config;
    if body.provider_id.trim().is_empty() {
        return Err(validation(
            "provider_id must not be empty".into(),
            "provider_id",
        ));
    }
    if !OPERATIONS.contains(&config.generation_type.as_str()) {
        return Err(validation(
            format!("unknown generationType {:?}", config.generation_type),
            "config.generationType",
        ));
    }
    if config.generation_type.starts_with("text_to_")
        && config.prompt.as_deref().is_none_or(|p| p.trim().is_empty())
    {
        return Err(validation(
            format!("{} needs a non-empty prompt", config.generation_type),
            "config.prompt",
        ));
    }
    let purpose = config.purpose.as_deref().unwrap_or("");
    if !["gap_fill", "variation", "adaptive", "ambient"].contains(&purpose) {
        return Err(validation(
            format!("unknown purpose {purpose:?}"),
            "config.purpose",
        ));
    }
    let strategy = config.strategy.as_deref().unwrap_or("");
    if !["once", "per_playthrough", "per_player", "always"].contains(&strategy) {
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

fn strategy_ttl(strategy: &str) -> Option<Duration> {
    let strategy = match strategy {
        "once" => CachingStrategy::Once,
        "per_playthrough" => CachingStrategy::PerPlaythrough,
        "per_player" => CachingStrategy::PerPlayer,
        _ => CachingStrategy::Always,
    };
    strategy.ttl()
}

fn reusable(data: &Data, id: u64) -> bool {
    data.generations.get(&id).is_some_and(|generation| {
        !matches!(
            generation.response.status,
            GenerationStatus::Failed | GenerationStatus::Cancelled
        )
    })
}

/// Creates a generation or finds the one that dedups it; `true` when it is new.
fn create(state: &Arc<Shared>, body: &CreateGeneration) -> (GenerationResponse, bool) {
    let hash = reproducible_hash(body);
    let cache_key = body.cache_key();
    let dedup = !body.force_new && cache_key.is_some();
    let mut data = state.data();
    if dedup {
        let now = Instant::now();
        let by_hash = data.by_hash.get(&hash).copied();
        let by_key = cache_key
            .as_ref()
            .and_then(|key| data.by_cache_key.get(key))
            .filter(|(_, expires)| expires.is_none_or(|at| at > now))
            .map(|(id, _)| *id);
        for id in [by_hash, by_key].into_iter().flatten() {
            if reusable(&data, id) {
                return (data.generations[&id].response.clone(), false);
            }
        }
    }
    let id = data.next_generation;
    data.next_generation += 1;
    let kind = match body.config.generation_type.as_str() {
        "text_to_audio" => MediaKind::Audio,
        operation if operation.contains("video") => MediaKind::Video,
        _ => MediaKind::Image,
    };
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
        canonical_params: Some(canonical_params(body)),
        final_prompt: body.config.prompt.clone(),
        name: body.name.clone(),
        user: Some(EntityRef {
            kind: Some("user".to_owned()),
            id: BackendId::from(1),
            meta: None,
        }),
        deferred_action: None,
    };
    data.generations.insert(
        id,
        Generation {
            response: response.clone(),
            kind,
            seed,
            duration,
            tags,
            prompt: body.config.prompt.clone().unwrap_or_default(),
            cancel_requested: false,
        },
    );
    if let Some(key) = cache_key {
        let ttl = strategy_ttl(body.config.strategy.as_deref().unwrap_or("once"));
        let expires = ttl.and_then(|ttl| Instant::now().checked_add(ttl));
        data.by_cache_key.insert(key, (id, expires));
        data.by_hash.insert(hash, id);
    }
    drop(data);
    bump(&state.counters.new_generations);
    state.broadcast(job_event("job:created", id, GenerationStatus::Pending));
    tokio::spawn(lifecycle(state.clone(), id));
    (response, true)
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

/// Runs a job: pending, processing, then completed (or failed, cancelled, stalled).
async fn lifecycle(state: Arc<Shared>, id: u64) {
    tokio::time::sleep(state.config.pending_delay).await;
    {
        let mut data = state.data();
        let Some(generation) = data.generations.get_mut(&id) else {
            return;
        };
        if generation.response.status != GenerationStatus::Pending {
            return;
        }
        generation.response.status = GenerationStatus::Processing;
        generation.response.started_at = Some(now_iso());
    }
    state.broadcast(job_event("job:started", id, GenerationStatus::Processing));
    if state.data().faults.stall_jobs {
        return;
    }
    tokio::time::sleep(state.config.processing_delay).await;
    let (kind, seed, duration, prompt, tags, cancelled) = {
        let data = state.data();
        let Some(generation) = data.generations.get(&id) else {
            return;
        };
        (
            generation.kind,
            generation.seed,
            generation.duration,
            generation.prompt.clone(),
            generation.tags.clone(),
            generation.cancel_requested
                || generation.response.status != GenerationStatus::Processing,
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
        finish(
            &state,
            id,
            GenerationStatus::Failed,
            Some((
                "content_prompt_rejected",
                "The provider refused the prompt's content",
            )),
        );
        return;
    }
    let sizes = (state.config.image_size, state.config.video_size);
    let made = tokio::task::spawn_blocking(move || make_media(kind, seed, duration, sizes)).await;
    let media = match made {
        Ok(Ok(media)) => media,
        Ok(Err(error)) => {
            bevy::log::warn!("dev backend: generation {id} failed: {error}");
            finish(
                &state,
                id,
                GenerationStatus::Failed,
                Some(("internal_error", "The media encoder failed")),
            );
            return;
        }
        Err(_) => {
            finish(
                &state,
                id,
                GenerationStatus::Failed,
                Some(("internal_error", "The media painter stopped")),
            );
            return;
        }
    };
    let asset = add_asset(&state, kind, media, tags, Some(id));
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
        }
        if let Some(asset) = &asset_id {
            data.completed_at.insert(asset.0.clone(), Instant::now());
        }
    }
    state.broadcast(json!({
        "type": "asset:created",
        "asset_id": asset_id,
        "media_type": asset.media_type,
        "data": {"generation_id": id},
        "timestamp": now_iso(),
    }));
    state.broadcast(job_event("job:completed", id, GenerationStatus::Completed));
}

fn finish(state: &Shared, id: u64, status: GenerationStatus, failure: Option<(&str, &str)>) {
    {
        let mut data = state.data();
        let Some(generation) = data.generations.get_mut(&id) else {
            return;
        };
        generation.response.status = status;
        generation.response.completed_at = Some(now_iso());
        if let Some((code, message)) = failure {
            generation.response.error_code = Some(code.to_owned());
            generation.response.error_message = Some(message.to_owned());
        }
    }
    let kind = match status {
        GenerationStatus::Failed => "job:failed",
        _ => "job:cancelled",
    };
    state.broadcast(job_event(kind, id, status));
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
            let spec = super::ClipSpec::new(seed)
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

fn add_asset(
    state: &Shared,
    kind: MediaKind,
    made: Made,
    tags: Vec<String>,
    generation: Option<u64>,
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
        remote_url: None,
        thumbnail_url: None,
        tags: tags.iter().map(|tag| TagRef::from_slug(tag)).collect(),
        source_generation_id: generation.map(BackendId::from),
        reproducible_hash: None,
        created_at: Some(now_iso()),
    };
    data.assets.insert(id, asset.clone());
    asset
}

fn seed_premade(state: &Shared) {
    let sizes = (state.config.image_size, state.config.video_size);
    for spec in state.config.premade.clone() {
        match make_media(spec.kind, spec.seed, None, sizes) {
            Ok(made) => {
                add_asset(state, spec.kind, made, spec.tags, None);
            }
            Err(error) => bevy::log::warn!("dev backend: a pre-made asset failed: {error}"),
        }
    }
}

async fn create_generation(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    state
        .gate(Endpoint::CreateGeneration, &headers, true)
        .await?;
    let body: CreateGeneration = parse(&body)?;
    validate(&body)?;
    bump(&state.counters.creates);
    state.data().create_priorities.push(body.priority);
    let (generation, _) = create(&state, &body);
    Ok(state.json(Endpoint::CreateGeneration, StatusCode::CREATED, &generation))
}

fn find(state: &Shared, id: &str) -> Result<GenerationResponse, Response> {
    let id = parse_id(id)?;
    state
        .data()
        .generations
        .get(&id)
        .map(|generation| generation.response.clone())
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "not_found", "Generation not found"))
}

async fn get_generation(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    state.gate(Endpoint::GetGeneration, &headers, true).await?;
    let generation = find(&state, &id)?;
    bump(&state.counters.polls);
    Ok(state.json(Endpoint::GetGeneration, StatusCode::OK, &generation))
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
    state.gate(Endpoint::GetGeneration, &headers, true).await?;
    let limit = query.limit.unwrap_or(50).min(100);
    let offset = query.offset.unwrap_or(0);
    let data = state.data();
    let matching: Vec<GenerationResponse> = data
        .generations
        .values()
        .rev()
        .filter(|g| {
            query
                .status
                .as_deref()
                .is_none_or(|status| g.response.status.as_str() == status)
        })
        .map(|g| g.response.clone())
        .collect();
    let total = matching.len() as u64;
    let page = GenerationList {
        generations: matching
            .into_iter()
            .skip(offset as usize)
            .take(limit as usize)
            .collect(),
        total,
        limit,
        offset,
    };
    drop(data);
    Ok(state.json(Endpoint::GetGeneration, StatusCode::OK, &page))
}

async fn cancel_generation(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    state.gate(Endpoint::GetGeneration, &headers, true).await?;
    let number = parse_id(&id)?;
    bump(&state.counters.cancels);
    let status = {
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
            GenerationStatus::Pending | GenerationStatus::Paused => Some(()),
            GenerationStatus::Processing if stalled => Some(()),
            GenerationStatus::Processing => {
                generation.cancel_requested = true;
                None
            }
            _ => None,
        }
    };
    if status.is_some() {
        finish(&state, number, GenerationStatus::Cancelled, None);
    }
    let generation = find(&state, &id)?;
    Ok(state.json(Endpoint::GetGeneration, StatusCode::OK, &generation))
}

async fn retry_generation(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    state.gate(Endpoint::GetGeneration, &headers, true).await?;
    let number = parse_id(&id)?;
    {
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
    }
    state.broadcast(job_event("job:retrying", number, GenerationStatus::Pending));
    tokio::spawn(lifecycle(state.clone(), number));
    let generation = find(&state, &id)?;
    Ok(state.json(Endpoint::GetGeneration, StatusCode::OK, &generation))
}

async fn delete_generation(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    state.gate(Endpoint::GetGeneration, &headers, true).await?;
    let number = parse_id(&id)?;
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
    state.gate(Endpoint::Asset, &headers, true).await?;
    let number = parse_id(&id)?;
    let asset = state
        .data()
        .assets
        .get(&number)
        .cloned()
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "not_found", "Asset not found"))?;
    bump(&state.counters.asset_fetches);
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
    let faults = state.data().faults.clone();
    let mut bytes = bytes.to_vec();
    if faults.truncate_downloads {
        bytes.truncate(bytes.len() / 2);
    }
    if faults.corrupt_downloads && !bytes.is_empty() {
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xFF;
    }
    bump(&state.counters.downloads);
    Ok(([(CONTENT_TYPE, mime)], bytes).into_response())
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
    state.gate(Endpoint::Download, &headers, true).await?;
    let number = parse_id(&id)?;
    let key = state
        .data()
        .assets
        .get(&number)
        .and_then(|asset| asset.sha256.clone().zip(asset.mime_type.clone()))
        .map(|(sha, mime)| format!("{}.{}", &sha[..16.min(sha.len())], extension(&mime)))
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "not_found", "Asset not found"))?;
    serve_file(&state, &key)
}

async fn media_file(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Answer {
    count_download(&state, &headers);
    state
        .gate(Endpoint::Download, &headers, !state.config.public_media)
        .await?;
    serve_file(&state, &key)
}

const CURSOR_PREFIX: &str = "dev-cursor-";

async fn search_assets(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    state.gate(Endpoint::Search, &headers, true).await?;
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
    let mut matching: Vec<(usize, AssetResponse)> = state
        .data()
        .assets
        .values()
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
    let greeting = json!({"type": "connected", "message": "Connected to generation updates"});
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
    state.gate(Endpoint::GameRequest, &headers, true).await?;
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
        config: crate::backend::types::GenerationConfig {
            generation_type: "text_to_image".to_owned(),
            purpose: Some("gap_fill".to_owned()),
            strategy: Some(
                request
                    .strategy
                    .clone()
                    .unwrap_or_else(|| "once".to_owned()),
            ),
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
    validate(&body)?;
    let started = Instant::now();
    let (generation, new) = create(&state, &body);
    let id = parse_id(generation.id.as_str())?;
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
    Ok(([(CONTENT_TYPE, "application/json")], json.to_vec()).into_response())
}
