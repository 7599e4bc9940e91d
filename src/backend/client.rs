//! [`PixSimSource`]: the generation backend as a source in the plugin's chain.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use async_trait::async_trait;
use bevy::log::{debug, warn};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tokio::sync::{RwLock, Semaphore, broadcast, watch};

use crate::backend::config::PixSimConfig;
use crate::backend::follow::{SocketHub, SocketState};
use crate::backend::http::{
    RetryPolicy, Secret, is_retryable, normalise_base, resolve, retry_after, same_origin,
    status_error, transport_error,
};
use crate::backend::library::PixSimLibrary;
use crate::backend::types::{
    AssetResponse, BackendId, CreateGeneration, GenerationResponse, GenerationStatus, LoginRequest,
    LoginResponse, SocketEvent, operation_for,
};
use crate::error::{AssetError, AssetErrorKind};
use crate::request::MediaKind;
use crate::scene_graph::SceneGraph;
use crate::source::{AssetSource, SourceKind, SourceRequest, SourcedMedia};

/// The backend priority of prefetches (0 lowest, 10 highest; requests default to 5).
const BACKGROUND_PRIORITY: u8 = 1;

/// The error code of a job the provider refused for its content.
const CONTENT_REJECTED: &str = "content_prompt_rejected";

/// Builds a [`PixSimSource`]. Every setting has a default but the base URL.
#[derive(Clone)]
pub struct PixSimSourceBuilder {
    base_url: String,
    token: Option<Secret>,
    login: Option<(String, Secret)>,
    provider_id: String,
    audio_operation: Option<String>,
    request_timeout: Duration,
    connect_timeout: Duration,
    poll_start: Duration,
    poll_max: Duration,
    max_concurrent_creates: usize,
    max_concurrent_downloads: usize,
    max_download_bytes: u64,
    user_agent: String,
    retry: RetryPolicy,
    websocket: bool,
    pub(super) game_endpoint: bool,
    pub(super) search_pages: usize,
}

impl fmt::Debug for PixSimSourceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PixSimSourceBuilder")
            .field("base_url", &self.base_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("login", &self.login.as_ref().map(|(user, _)| user))
            .field("provider_id", &self.provider_id)
            .finish_non_exhaustive()
    }
}

impl PixSimSourceBuilder {
    /// Sends `token` as the bearer token.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Secret::new(token));
        self
    }

    /// Logs in with `email` (or a user name) and `password` on first use, and again when the
    /// token is refused.
    pub fn login(mut self, email: impl Into<String>, password: impl Into<String>) -> Self {
        self.login = Some((email.into(), Secret::new(password)));
        self
    }

    /// The provider sent with creates, whose section of `style` carries the seed (default
    /// `pixverse`).
    pub fn provider_id(mut self, provider_id: impl Into<String>) -> Self {
        self.provider_id = provider_id.into();
        self
    }

    /// The generation type for audio requests. The contract has none, so by default audio
    /// requests pass to the next source; name one for a backend that has it.
    pub fn audio_operation(mut self, operation: impl Into<String>) -> Self {
        self.audio_operation = Some(operation.into());
        self
    }

    /// How long one HTTP request may take, download included (default 60 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long connecting may take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Polling without the socket starts every `start` and backs off to every `max` (default
    /// 2 s to 30 s). With the socket up a job polls every `max` as a safety net.
    pub fn poll_interval(mut self, start: Duration, max: Duration) -> Self {
        self.poll_start = start.max(Duration::from_millis(1));
        self.poll_max = max.max(self.poll_start);
        self
    }

    /// How many creates may be in flight at once (default 4).
    pub fn max_concurrent_creates(mut self, limit: usize) -> Self {
        self.max_concurrent_creates = limit.max(1);
        self
    }

    /// How many downloads may run at once (default 4).
    pub fn max_concurrent_downloads(mut self, limit: usize) -> Self {
        self.max_concurrent_downloads = limit.max(1);
        self
    }

    /// The largest file downloaded (default 64 MiB); larger ones fail.
    pub fn max_download_bytes(mut self, bytes: u64) -> Self {
        self.max_download_bytes = bytes;
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Retries of connection errors, 5xx, 429 and malformed answers: `attempts` tries in all,
    /// backing off from `base` to `cap` with jitter (default 5 tries, 250 ms to 10 s). A
    /// `Retry-After` is honoured up to `cap`.
    pub fn retries(mut self, attempts: u32, base: Duration, cap: Duration) -> Self {
        self.retry = RetryPolicy {
            attempts: attempts.max(1),
            base,
            cap: cap.max(base),
        };
        self
    }

    /// How many tries each call gets, the first included (default 5), keeping the backoff.
    pub fn retry_attempts(mut self, attempts: u32) -> Self {
        self.retry.attempts = attempts.max(1);
        self
    }

    /// Whether to follow jobs over the WebSocket (default `true`); polling is used otherwise.
    pub fn websocket(mut self, enabled: bool) -> Self {
        self.websocket = enabled;
        self
    }

    /// Whether to try the game endpoint (`POST /api/v1/game/assets/request`, default `true`)
    /// for requests it can express: a scene, no prompt, the `once` strategy. A backend without
    /// it answers 404 once, and the generation endpoints are used from then on.
    pub fn game_endpoint(mut self, enabled: bool) -> Self {
        self.game_endpoint = enabled;
        self
    }

    /// How many pages of asset search results the [library](PixSimSource::library) reads
    /// per request at most (default 4; pages hold 50 assets).
    pub fn search_pages(mut self, pages: usize) -> Self {
        self.search_pages = pages.max(1);
        self
    }

    /// Checks the settings and builds the source.
    pub fn build(self) -> Result<PixSimSource, AssetError> {
        let base = normalise_base(&self.base_url)?;
        // reqwest is built without a bundled crypto provider; ring is the one this crate ships.
        // An error means one is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(self.user_agent.clone())
            .timeout(self.request_timeout)
            .connect_timeout(self.connect_timeout)
            .build()
            .map_err(|error| {
                AssetError::generation(format!("could not build the HTTP client: {error}"))
            })?;
        let hub = SocketHub::new(&base, self.websocket);
        Ok(PixSimSource {
            inner: Arc::new(Inner {
                name: format!("pixsim({})", base.as_str().trim_end_matches('/')),
                token: RwLock::new(self.token.clone()),
                creates: Semaphore::new(self.max_concurrent_creates),
                downloads: Semaphore::new(self.max_concurrent_downloads),
                game_endpoint_missing: AtomicBool::new(false),
                base,
                http,
                hub,
                config: self,
            }),
        })
    }
}

/// The generation backend of the contract as a [`Generated`](SourceKind::Generated) source.
///
/// For each request it creates a generation (the server may answer with an existing one,
/// already completed), follows it over the shared WebSocket or by polling, fetches its asset,
/// downloads the file (the token goes only to the backend's own origin), checks its type, size
/// and SHA-256, and hands the bytes on. Failures become typed errors: a job refused for its
/// content is [`Rejected`](AssetErrorKind::Rejected); the placeholder stays.
///
/// Audio requests get `Ok(None)` (the next source serves them) unless an
/// [`audio_operation`](PixSimSourceBuilder::audio_operation) is set.
#[derive(Clone)]
pub struct PixSimSource {
    inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) name: String,
    config: PixSimSourceBuilder,
    base: Url,
    http: reqwest::Client,
    token: RwLock<Option<Secret>>,
    creates: Semaphore,
    downloads: Semaphore,
    hub: Arc<SocketHub>,
    /// Set once the backend answered 404 on the game endpoint.
    pub(super) game_endpoint_missing: AtomicBool,
}

impl fmt::Debug for PixSimSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PixSimSource")
            .field("base_url", &self.inner.base.as_str())
            .field("provider_id", &self.inner.config.provider_id)
            .field(
                "token",
                &self.inner.config.token.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

impl PixSimSource {
    /// A builder for the backend at `base_url` (`https://host` or `http://127.0.0.1:8787`).
    pub fn builder(base_url: impl Into<String>) -> PixSimSourceBuilder {
        PixSimSourceBuilder {
            base_url: base_url.into(),
            token: None,
            login: None,
            provider_id: "pixverse".to_owned(),
            audio_operation: None,
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            poll_start: Duration::from_secs(2),
            poll_max: Duration::from_secs(30),
            max_concurrent_creates: 4,
            max_concurrent_downloads: 4,
            max_download_bytes: 64 * 1024 * 1024,
            user_agent: concat!("bevy_asset_provider/", env!("CARGO_PKG_VERSION")).to_owned(),
            retry: RetryPolicy {
                attempts: 5,
                base: Duration::from_millis(250),
                cap: Duration::from_secs(10),
            },
            websocket: true,
            game_endpoint: true,
            search_pages: 4,
        }
    }

    /// A builder from the settings file named by `PIXSIM_CONFIG` (if set) and the
    /// environment over it: `PIXSIM_URL` (required unless the file has `url`), `PIXSIM_TOKEN`
    /// or `PIXSIM_EMAIL` and `PIXSIM_PASSWORD`, and `PIXSIM_PROVIDER`. See [`PixSimConfig`].
    pub fn builder_from_env() -> Result<PixSimSourceBuilder, AssetError> {
        PixSimConfig::from_env()?.builder()
    }

    /// The backend's base URL.
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    /// The backend's library of pre-made assets as a source of its own, sharing this client's
    /// connections and token. Put it before the generator so a match is not paid for.
    pub fn library(&self) -> PixSimLibrary {
        PixSimLibrary {
            name: format!("{} library", self.inner.name),
            inner: self.inner.clone(),
        }
    }

    /// Fetches the backend's scene `id` (`GET /api/v1/game/scenes/{id}`) as a [`SceneGraph`].
    /// Errors name the scene and the field at fault.
    pub async fn scene(&self, id: &str) -> Result<SceneGraph, AssetError> {
        let value: serde_json::Value = self
            .inner
            .call_json::<_, ()>(Method::GET, &format!("api/v1/game/scenes/{id}"), None, true)
            .await?;
        let bytes = serde_json::to_vec(&value)
            .map_err(|error| AssetError::invalid_data(format!("scene {id}: {error}")))?;
        SceneGraph::from_json(
            &bytes,
            &format!("{}api/v1/game/scenes/{id}", self.base_url()),
        )
        .map_err(AssetError::from)
    }
}

/// The largest JSON answer read; a bigger one is not an answer of this API.
const MAX_ANSWER_BYTES: u64 = 16 * 1024 * 1024;

impl Inner {
    pub(super) fn config(&self) -> &PixSimSourceBuilder {
        &self.config
    }

    async fn bearer(&self) -> Result<Option<Secret>, AssetError> {
        if let Some(token) = self.token.read().await.clone() {
            return Ok(Some(token));
        }
        if self.config.login.is_some() {
            // Boxed: login sends through `call_json`, which asks for the bearer again.
            return Box::pin(self.login()).await.map(Some);
        }
        Ok(None)
    }

    /// Logs in and keeps the token. Several jobs refused at once log in once.
    async fn login(&self) -> Result<Secret, AssetError> {
        let mut slot = self.token.write().await;
        if let Some(token) = slot.clone() {
            // Another job logged in while this one waited.
            return Ok(token);
        }
        let Some((user, password)) = &self.config.login else {
            return Err(AssetError::generation(
                "the backend refused the token and no login is configured",
            ));
        };
        let body = if user.contains('@') {
            LoginRequest {
                email: Some(user.clone()),
                username: None,
                password: password.expose().to_owned(),
            }
        } else {
            LoginRequest {
                email: None,
                username: Some(user.clone()),
                password: password.expose().to_owned(),
            }
        };
        let answer: LoginResponse = self
            .call_json(Method::POST, "api/v1/auth/login", Some(&body), false)
            .await?;
        let token = Secret::new(answer.access_token);
        *slot = Some(token.clone());
        Ok(token)
    }

    /// Sends a request to the backend with retries and parses the answer as `T`.
    pub(super) async fn call_json<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        authenticate: bool,
    ) -> Result<T, AssetError> {
        let what = format!("{method} /{}", path.trim_start_matches('/'));
        let url = resolve(&self.base, path)?;
        let policy = self.config.retry;
        let mut relogged = false;
        let mut attempt = 0;
        loop {
            let token = if authenticate {
                self.bearer().await?
            } else {
                None
            };
            let mut builder = self.http.request(method.clone(), url.clone());
            if let Some(token) = &token {
                builder = builder.bearer_auth(token.expose());
            }
            if let Some(body) = body {
                builder = builder.json(body);
            }
            let last = attempt + 1 >= policy.attempts;
            let failure = match send_capped(builder, MAX_ANSWER_BYTES).await {
                Ok(answer) if answer.status.is_success() => {
                    match serde_json::from_slice::<T>(&answer.bytes) {
                        Ok(value) => return Ok(value),
                        Err(error) => {
                            // A proxy hiccup or a half-written answer: worth another try.
                            let error = AssetError::invalid_data(format!(
                                "{what} answered malformed JSON: {error}"
                            ));
                            (error, None)
                        }
                    }
                }
                Ok(answer)
                    if answer.status == StatusCode::UNAUTHORIZED
                        && authenticate
                        && !relogged
                        && self.config.login.is_some() =>
                {
                    relogged = true;
                    *self.token.write().await = None;
                    continue;
                }
                Ok(answer) if is_retryable(answer.status) => (
                    status_error(&what, answer.status, &answer.bytes),
                    answer.retry_after,
                ),
                Ok(answer) => return Err(status_error(&what, answer.status, &answer.bytes)),
                Err(DownloadError::TooLarge) => {
                    return Err(AssetError::invalid_data(format!(
                        "{what} answered more than {MAX_ANSWER_BYTES} bytes"
                    )));
                }
                Err(DownloadError::Http(error)) => (transport_error(&what, &error), None),
            };
            let (error, wait) = failure;
            if last {
                return Err(AssetError::new(
                    error.kind(),
                    format!("{} (after {} tries)", error.message(), attempt + 1),
                ));
            }
            let wait = wait
                .map(|wait| wait.min(policy.cap))
                .unwrap_or_else(|| policy.backoff(attempt));
            debug!("{what}: {error}; retrying in {wait:?}");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn generation(&self, id: &BackendId) -> Result<GenerationResponse, AssetError> {
        self.call_json::<_, ()>(Method::GET, &format!("api/v1/generations/{id}"), None, true)
            .await
    }

    /// What a terminal or running generation means for the job: its asset, an error, or
    /// `None` while it runs.
    fn outcome(generation: &GenerationResponse) -> Result<Option<BackendId>, AssetError> {
        let id = &generation.id;
        match generation.status {
            GenerationStatus::Completed => match &generation.asset {
                Some(asset) => Ok(Some(asset.id.clone())),
                None => Err(AssetError::invalid_data(format!(
                    "generation {id} is completed but names no asset"
                ))),
            },
            GenerationStatus::Failed => {
                let code = generation.error_code.as_deref().unwrap_or("unknown");
                let message = generation
                    .error_message
                    .as_deref()
                    .unwrap_or("no message from the backend");
                let kind = if code == CONTENT_REJECTED {
                    AssetErrorKind::Rejected
                } else {
                    AssetErrorKind::Generation
                };
                Err(AssetError::new(
                    kind,
                    format!("generation {id} failed ({code}): {message}"),
                ))
            }
            GenerationStatus::Cancelled => Err(AssetError::new(
                AssetErrorKind::Cancelled,
                format!("generation {id} was cancelled on the backend"),
            )),
            _ => Ok(None),
        }
    }

    /// Waits for generation `id` to end: the outer error is giving up on it (the backend
    /// unreachable), the inner result is how it ended (its asset, or why it failed).
    async fn follow(
        &self,
        id: &BackendId,
        mut events: broadcast::Receiver<SocketEvent>,
        mut state: watch::Receiver<SocketState>,
        mut trusted_since: Option<u64>,
        request: &SourceRequest,
    ) -> Result<Result<BackendId, AssetError>, AssetError> {
        let (start, max) = (self.config.poll_start, self.config.poll_max);
        // Events can be relied on while the socket stays up; one that comes up later is trusted
        // after a catch-up poll.
        let mut trust = trusted_since.is_some();
        let mut events_open = true;
        let mut state_open = true;
        let mut interval = start;
        loop {
            let wait = if trust { max } else { interval };
            let poll_now = tokio::select! {
                event = events.recv(), if events_open => match event {
                    Ok(event) if event.generation().as_ref() == Some(id) => {
                        match event.kind.as_str() {
                            "asset:created" => {
                                if let Some(asset) = event.asset_id {
                                    return Ok(Ok(asset));
                                }
                                true
                            }
                            "job:started" => {
                                request.progress.report(0.5);
                                false
                            }
                            "job:completed" | "job:failed" | "job:cancelled" => true,
                            _ => false,
                        }
                    }
                    Ok(_) => false,
                    Err(broadcast::error::RecvError::Lagged(_)) => true,
                    Err(broadcast::error::RecvError::Closed) => {
                        events_open = false;
                        trust = false;
                        false
                    }
                },
                changed = state.changed(), if state_open => {
                    if changed.is_err() {
                        state_open = false;
                        trust = false;
                        false
                    } else {
                        let now = *state.borrow_and_update();
                        if now.connected && Some(now.epoch) != trusted_since {
                            // A socket came up: from now on its events arrive. One poll covers
                            // whatever happened before it did.
                            trusted_since = Some(now.epoch);
                            trust = events_open;
                            true
                        } else {
                            trust &= now.connected && Some(now.epoch) == trusted_since;
                            false
                        }
                    }
                }
                _ = tokio::time::sleep(wait) => {
                    if !trust {
                        interval = (interval * 2).min(max);
                    }
                    true
                }
            };
            if poll_now {
                let generation = self.generation(id).await?;
                if generation.status == GenerationStatus::Processing {
                    request.progress.report(0.5);
                }
                match Self::outcome(&generation) {
                    Ok(None) => {}
                    Ok(Some(asset)) => return Ok(Ok(asset)),
                    Err(error) => return Ok(Err(error)),
                }
            }
        }
    }

    /// Downloads `asset`'s file and checks it: type, size, SHA-256.
    pub(super) async fn download(
        &self,
        asset_id: &BackendId,
        asset: &AssetResponse,
        kind: MediaKind,
    ) -> Result<SourcedMedia, AssetError> {
        let location = asset
            .file_url
            .as_deref()
            .or(asset.remote_url.as_deref())
            .ok_or_else(|| {
                AssetError::invalid_data(format!("asset {asset_id} has no file_url to download"))
            })?;
        let url = resolve(&self.base, location)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(AssetError::invalid_data(format!(
                "asset {asset_id}: cannot download {location:?} (not http or https)"
            )));
        }
        let max = self.config.max_download_bytes;
        if let Some(size) = asset.file_size_bytes.filter(|size| *size > max) {
            return Err(AssetError::invalid_data(format!(
                "asset {asset_id} is {size} bytes, over the {max}-byte download limit"
            )));
        }
        // The token is for the backend only: a CDN or the provider's host never sees it.
        let with_token = same_origin(&self.base, &url);
        let what = format!("download of asset {asset_id}");
        let policy = self.config.retry;
        let _permit = self
            .downloads
            .acquire()
            .await
            .map_err(|_| AssetError::new(AssetErrorKind::Shutdown, "the source is closing"))?;
        let mut attempt = 0;
        let answer = loop {
            let mut builder = self.http.get(url.clone());
            if with_token && let Some(token) = self.bearer().await? {
                builder = builder.bearer_auth(token.expose());
            }
            let last = attempt + 1 >= policy.attempts;
            let (error, wait) = match send_capped(builder, max).await {
                Ok(answer) if answer.status.is_success() => break answer,
                Ok(answer) if is_retryable(answer.status) => (
                    status_error(&what, answer.status, &answer.bytes),
                    answer.retry_after,
                ),
                Ok(answer) => return Err(status_error(&what, answer.status, &answer.bytes)),
                Err(DownloadError::TooLarge) => {
                    return Err(AssetError::invalid_data(format!(
                        "{what} is over the {max}-byte download limit"
                    )));
                }
                Err(DownloadError::Http(error)) => (transport_error(&what, &error), None),
            };
            if last {
                return Err(error);
            }
            tokio::time::sleep(
                wait.map(|wait| wait.min(policy.cap))
                    .unwrap_or_else(|| policy.backoff(attempt)),
            )
            .await;
            attempt += 1;
        };

        let mime = asset
            .mime_type
            .clone()
            .or(answer.content_type.clone())
            .map(|mime| mime.split(';').next().unwrap_or("").trim().to_owned())
            .unwrap_or_default();
        let fits = match kind {
            MediaKind::Image => mime.starts_with("image/"),
            MediaKind::Audio => mime.starts_with("audio/"),
            MediaKind::Video => mime.starts_with("video/") || mime.starts_with("image/"),
        };
        if !fits {
            return Err(AssetError::decode(format!(
                "asset {asset_id} is {:?}, not {} media",
                mime,
                kind.as_str()
            )));
        }
        let bytes = answer.bytes;
        if let Some(size) = asset.file_size_bytes
            && size != bytes.len() as u64
        {
            return Err(AssetError::decode(format!(
                "{what}: got {} bytes, the asset says {size} (truncated or corrupted)",
                bytes.len()
            )));
        }
        if let Some(expected) = &asset.sha256 {
            let actual = hex::encode(Sha256::digest(&bytes));
            if !actual.eq_ignore_ascii_case(expected.trim()) {
                return Err(AssetError::decode(format!(
                    "{what}: integrity check failed, SHA-256 is {actual} but the asset says \
                     {expected}"
                )));
            }
        }
        Ok(SourcedMedia::new(
            bytes,
            mime,
            format!("{}asset {asset_id}", self.name_prefix()),
        ))
    }

    fn name_prefix(&self) -> String {
        format!("{}: ", self.name)
    }

    async fn cancel_generation(&self, id: &BackendId) {
        let result: Result<GenerationResponse, _> = self
            .call_json::<_, ()>(
                Method::POST,
                &format!("api/v1/generations/{id}/cancel"),
                None,
                true,
            )
            .await;
        if let Err(error) = result {
            warn!("cancelling generation {id} failed: {error}");
        }
    }
}

enum DownloadError {
    TooLarge,
    Http(reqwest::Error),
}

impl From<reqwest::Error> for DownloadError {
    fn from(error: reqwest::Error) -> Self {
        Self::Http(error)
    }
}

struct FullAnswer {
    status: StatusCode,
    content_type: Option<String>,
    retry_after: Option<Duration>,
    bytes: Vec<u8>,
}

/// Sends and reads the whole body, stopping once it passes `max` bytes.
async fn send_capped(
    builder: reqwest::RequestBuilder,
    max: u64,
) -> Result<FullAnswer, DownloadError> {
    let mut response = builder.send().await?;
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let retry_after = retry_after(response.headers());
    if status.is_success() && response.content_length().is_some_and(|len| len > max) {
        return Err(DownloadError::TooLarge);
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if bytes.len() as u64 + chunk.len() as u64 > max {
            return Err(DownloadError::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(FullAnswer {
        status,
        content_type,
        retry_after,
        bytes,
    })
}

/// Cancels a generation on the backend when the job following it is dropped before the
/// generation ended: the request was cancelled, timed out, or the client gave up on it. The
/// runtime drops a job's future for all three, so this is the one place that needs to know.
struct CancelOnDrop {
    inner: Arc<Inner>,
    id: BackendId,
    ended: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        // Outside a runtime (the runtime itself is going away) there is nobody to send it.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let inner = self.inner.clone();
            let id = self.id.clone();
            runtime.spawn(async move { inner.cancel_generation(&id).await });
        }
    }
}

#[async_trait]
impl AssetSource for PixSimSource {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Generated
    }

    async fn resolve(&self, request: &SourceRequest) -> Result<Option<SourcedMedia>, AssetError> {
        let inner = &self.inner;
        let kind = request.kind();
        if let Some(media) = inner.try_game_endpoint(request).await? {
            return Ok(Some(media));
        }
        let operation = match (operation_for(kind), &inner.config.audio_operation) {
            (Some(operation), _) => operation.to_owned(),
            (None, Some(operation)) => operation.clone(),
            (None, None) => return Ok(None),
        };
        let mut body = CreateGeneration::from_request(
            &request.request,
            &request.key,
            &request.session,
            &inner.config.provider_id,
            &operation,
            30_000,
        );
        if request.is_background() {
            // Prefetching: the backend's queue should serve what players wait for first.
            body.priority = body.priority.min(BACKGROUND_PRIORITY);
        }
        inner.hub.ensure_started();
        // Subscribe before creating: the job's events may come before the create's answer.
        let (events, state) = inner.hub.subscribe();
        let trusted_since = {
            let state = *state.borrow();
            state.connected.then_some(state.epoch)
        };
        let generation: GenerationResponse = {
            let _permit =
                inner.creates.acquire().await.map_err(|_| {
                    AssetError::new(AssetErrorKind::Shutdown, "the source is closing")
                })?;
            inner
                .call_json(Method::POST, "api/v1/generations", Some(&body), true)
                .await?
        };
        if !generation.status.is_terminal() {
            // Before anything else: a crash from here on must not pay for this job again.
            request
                .journal
                .submitted(
                    &inner.name,
                    generation.id.as_str(),
                    request.key,
                    &request.request,
                    &request.session,
                )
                .await;
        }
        let media = inner
            .finish_job(request, generation, events, state, trusted_since)
            .await?;
        Ok(Some(media))
    }

    async fn resume(
        &self,
        request: &SourceRequest,
        generation_id: &str,
    ) -> Result<Option<SourcedMedia>, AssetError> {
        let inner = &self.inner;
        let id = BackendId(generation_id.to_owned());
        inner.hub.ensure_started();
        let (events, state) = inner.hub.subscribe();
        let trusted_since = {
            let state = *state.borrow();
            state.connected.then_some(state.epoch)
        };
        let generation = match inner.generation(&id).await {
            Ok(generation) => generation,
            // Gone from the backend: the request is made anew.
            Err(error) if error.kind() == AssetErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
        };
        if generation.status == GenerationStatus::Cancelled {
            return Ok(None);
        }
        let media = inner
            .finish_job(request, generation, events, state, trusted_since)
            .await?;
        Ok(Some(media))
    }
}

impl Inner {
    /// Follows `generation` to its end, fetches its asset and downloads the file.
    async fn finish_job(
        self: &Arc<Self>,
        request: &SourceRequest,
        generation: GenerationResponse,
        events: broadcast::Receiver<SocketEvent>,
        state: watch::Receiver<SocketState>,
        trusted_since: Option<u64>,
    ) -> Result<SourcedMedia, AssetError> {
        let id = generation.id.clone();
        request.progress.report(0.1);
        let mut guard = CancelOnDrop {
            inner: self.clone(),
            id: id.clone(),
            ended: generation.status.is_terminal(),
        };
        let asset_id = match Self::outcome(&generation)? {
            Some(asset) => asset,
            None => {
                let ended = self
                    .follow(&id, events, state, trusted_since, request)
                    .await?;
                guard.ended = true;
                ended?
            }
        };
        guard.ended = true;
        request.progress.report(0.8);
        let asset: AssetResponse = self
            .call_json::<_, ()>(
                Method::GET,
                &format!("api/v1/assets/{asset_id}"),
                None,
                true,
            )
            .await?;
        let media = self.download(&asset_id, &asset, request.kind()).await?;
        Ok(media.with_backend_ids(Some(id.0), Some(asset_id.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_token_and_password() {
        let builder = PixSimSource::builder("http://127.0.0.1:1")
            .token("tok-secret-1")
            .login("dev@example.com", "pw-secret-2");
        let text = format!("{builder:?}");
        assert!(
            !text.contains("tok-secret-1") && !text.contains("pw-secret-2"),
            "{text}"
        );
        let source = builder.build().unwrap();
        let text = format!("{source:?}");
        assert!(
            !text.contains("tok-secret-1") && !text.contains("pw-secret-2"),
            "{text}"
        );
        assert!(text.contains("127.0.0.1"), "{text}");
    }

    #[test]
    fn bad_base_urls_are_refused_with_the_url_named() {
        let error = PixSimSource::builder("localhost:8787").build().unwrap_err();
        assert!(error.message().contains("localhost:8787"), "{error}");
    }

    #[test]
    fn failed_jobs_become_typed_errors() {
        let mut generation: GenerationResponse = serde_json::from_str(
            r#"{"id": 9, "status": "failed", "error_code": "content_prompt_rejected",
                "error_message": "prompt refused"}"#,
        )
        .unwrap();
        let error = Inner::outcome(&generation).unwrap_err();
        assert_eq!(error.kind(), AssetErrorKind::Rejected);
        assert!(error.message().contains("prompt refused"));
        generation.error_code = Some("provider_down".into());
        assert_eq!(
            Inner::outcome(&generation).unwrap_err().kind(),
            AssetErrorKind::Generation
        );
        generation.status = GenerationStatus::Unknown;
        assert_eq!(Inner::outcome(&generation).unwrap(), None);
    }
}
