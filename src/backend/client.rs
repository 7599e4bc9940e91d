//! [`PixSimSource`]: the generation backend as a source in the plugin's chain.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use async_trait::async_trait;
use bevy::log::debug;
use reqwest::{Method, Url};

use crate::backend::answers::{body_wait, final_answer};
use crate::backend::api::{Api, Auth, PixSimFailure, Retry};
use crate::backend::config::PixSimConfig;
use crate::backend::follow::SocketHub;
use crate::backend::followers::Followers;
use crate::backend::generations::{JobError, Submitted};
use crate::backend::governor::CreateGovernor;
use crate::backend::library::PixSimLibrary;
use crate::backend::wire::{BackendId, CreateGeneration, GenerationStatus, GenerationType};
use crate::error::AssetError;
use crate::error::without_url_secrets;
use crate::net::{
    Backoff, ConcurrencyLimit, MAX_SERVER_WAIT, NetPolicy, PolicyClient, Secret, normalise_base,
    scrub_url,
};
use crate::request::LONGEST_WAIT;
use crate::scene::SceneGraph;
use crate::source::{AssetSource, SourceKind, SourceRequest, SourcedMedia};

/// The backend priority of prefetches (0 lowest, 10 highest; requests default to 5).
const BACKGROUND_PRIORITY: u8 = 1;

/// How often a request asks for new work when the server's answer cannot serve it (another
/// account's generation, or one cancelled by someone else).
const MAX_SUBMISSIONS: usize = 3;

/// Builds a [`PixSimSource`]. Every setting has a default but the base URL.
#[derive(Clone)]
pub struct PixSimSourceBuilder {
    base_url: String,
    token: Option<Secret>,
    login: Option<(String, Secret)>,
    provider_id: String,
    audio_operation: Option<GenerationType>,
    pub(super) request_timeout: Duration,
    connect_timeout: Duration,
    pub(super) poll_start: Duration,
    pub(super) poll_max: Duration,
    max_concurrent_creates: usize,
    max_concurrent_downloads: usize,
    pub(super) max_download_bytes: u64,
    user_agent: String,
    attempts: u32,
    backoff: Backoff,
    max_server_wait: Duration,
    pub(super) retry_grace: Duration,
    max_creates_per_minute: u32,
    source_id: Option<String>,
    websocket: bool,
    socket_keep_alive: Duration,
    pub(super) game_endpoint: bool,
    pub(super) search_pages: usize,
}

impl fmt::Debug for PixSimSourceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PixSimSourceBuilder")
            .field("base_url", &shown_url(&self.base_url))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("login", &self.login.as_ref().map(|(user, _)| user))
            .field("provider_id", &self.provider_id)
            .finish_non_exhaustive()
    }
}

/// A base URL as `Debug` may show it: without userinfo, fragment or credential query
/// parameters; text that is no URL loses whatever could be userinfo, query or fragment.
pub(super) fn shown_url(url: &str) -> String {
    match Url::parse(url.trim()) {
        Ok(url) if url.has_host() => scrub_url(&url),
        _ => {
            let url = url.split(['?', '#']).next().unwrap_or_default();
            let (scheme, rest) = url.split_at(url.find("://").map_or(0, |at| at + 3));
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit('@').next().unwrap_or_default();
            format!("{scheme}{host}{path}")
        }
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
    pub fn audio_operation(mut self, operation: impl Into<GenerationType>) -> Self {
        self.audio_operation = Some(operation.into());
        self
    }

    /// How long one HTTP request may take, download included (default 60 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout.min(LONGEST_WAIT);
        self
    }

    /// How long connecting may take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout.min(LONGEST_WAIT);
        self
    }

    /// Polling without the socket starts every `start` and backs off to every `max` (default
    /// 2 s to 30 s). With the socket up a job polls every `max` as a safety net.
    pub fn poll_interval(mut self, start: Duration, max: Duration) -> Self {
        self.poll_start = start.clamp(Duration::from_millis(1), LONGEST_WAIT);
        self.poll_max = max.clamp(self.poll_start, LONGEST_WAIT);
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
        let base = base.min(LONGEST_WAIT);
        self.attempts = attempts.max(1);
        self.backoff = Backoff::new(base, cap.clamp(base, LONGEST_WAIT));
        self
    }

    /// How many tries each call gets, the first included (default 5), keeping the backoff.
    pub fn retry_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// The longest wait a server's `Retry-After` (or a 429's "try again in N seconds") is
    /// honoured for before a retry (default 2 min); the request's own deadline still applies.
    pub fn max_server_wait(mut self, wait: Duration) -> Self {
        self.max_server_wait = wait.min(MAX_SERVER_WAIT);
        self
    }

    /// How long a generation that failed with a code the server retries by itself
    /// (`content_render_moderated`, provider hiccups) is watched for that retry before the
    /// failure is believed (default 60 s; the request's deadline still applies).
    pub fn retry_grace(mut self, grace: Duration) -> Self {
        self.retry_grace = grace.min(LONGEST_WAIT);
        self
    }

    /// How many creates may go out in any minute (default 20, the real service's limit per
    /// user; 0: no limit). Every request of this client shares the budget; prefetches leave a
    /// quarter of it to the player's own requests, which go first. Whatever the budget, 0
    /// included, a 429 holds every create of this client back: for its `Retry-After` (seconds
    /// or an HTTP date, at most [`max_server_wait`](Self::max_server_wait)), or the body's "try
    /// again in N seconds", or else the retry backoff.
    pub fn max_creates_per_minute(mut self, creates: u32) -> Self {
        self.max_creates_per_minute = creates;
        self
    }

    /// The identity the disk tier records with what this backend makes (default
    /// `pixsim(<base URL>, <provider>)`). Entries are served only while a source with the same
    /// identity is in the chain; give a stable one to a backend whose URL changes between runs
    /// (a dev server on a free port) but whose media does not.
    pub fn source_id(mut self, id: impl Into<String>) -> Self {
        self.source_id = Some(id.into());
        self
    }

    /// How long the WebSocket may stay quiet before a `ping` (default 25 s). A socket still
    /// silent as long again after it is taken for dead (a half-open connection), dropped and
    /// reopened; meanwhile jobs poll.
    pub fn socket_keep_alive(mut self, quiet: Duration) -> Self {
        self.socket_keep_alive = quiet.min(LONGEST_WAIT);
        self
    }

    /// Whether to follow jobs over the WebSocket (default `true`); polling is used otherwise.
    pub fn websocket(mut self, enabled: bool) -> Self {
        self.websocket = enabled;
        self
    }

    /// Whether to try the game endpoint (`POST /api/v1/game/assets/request`, default `true`)
    /// for the requests it can express exactly: an image or video request with a scene (and
    /// any choice, character, location and wait), the default purpose, the `once` strategy,
    /// cached results allowed, and no prompt, style, seed, duration, tags, scene it leads to
    /// or asset id. Every other request goes to the generation endpoints, so that requests
    /// which differ never share the endpoint's one answer. An answer of another media type
    /// than the request's (an image for a video request) fails that request, and nothing of it
    /// is kept. A backend without the endpoint answers 404 once, and the generation endpoints
    /// are used from then on.
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
        let policy = NetPolicy::new()
            .max_attempts(self.attempts)
            .backoff(self.backoff.base(), self.backoff.cap())
            .max_retry_after(self.max_server_wait)
            .attempt_timeout(self.request_timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(self.user_agent.clone())
            .max_answer_bytes(crate::backend::api::MAX_ANSWER_BYTES)
            .final_answer_when(final_answer)
            .wait_from_body(body_wait);
        let client = PolicyClient::new(base.as_str(), policy)?;
        let hub = SocketHub::new(&base, self.websocket, self.socket_keep_alive);
        let name = self.source_id.clone().unwrap_or_else(|| {
            format!(
                "pixsim({}, {})",
                without_url_secrets(base.as_str()).trim_end_matches('/'),
                self.provider_id
            )
        });
        Ok(PixSimSource {
            inner: Arc::new(Inner {
                name,
                api: Api::new(client, self.token.clone(), self.login.clone()),
                creates: ConcurrencyLimit::new(self.max_concurrent_creates),
                downloads: ConcurrencyLimit::new(self.max_concurrent_downloads),
                governor: CreateGovernor::new(self.max_creates_per_minute),
                followers: Followers::default(),
                game_endpoint_missing: AtomicBool::new(false),
                hub,
                config: self,
            }),
        })
    }
}

/// The generation backend of the contract as a [`Generated`](SourceKind::Generated) source.
///
/// For each request it creates a generation, follows it over the shared WebSocket or by
/// polling, fetches its asset, downloads the file (the token goes only to the backend's own
/// origin), checks its type, size and SHA-256, and hands the bytes on. A file whose size or
/// SHA-256 does not match is thrown away and downloaded once more before the request fails;
/// the generation is never paid for twice.
///
/// The request's key is the promise, whatever the server's dedup does: a `once` request takes
/// the server's existing work only when its parameters (prompt, seed, style, duration, scenes)
/// are the request's; scoped and `always` requests ask for new work; a generation that turns
/// out to be another account's, or is cancelled by someone else, is asked for anew. A create's
/// answer taken as this client's own work must carry the create's tag, operation and player
/// (where the server reports them), or the request fails. A failure
/// the server retries by itself is waited out; creates stay under the server's rate limit; a
/// generation is cancelled only when no request of this client follows it any more. Failures
/// become typed errors: a job refused for its content is
/// [`Rejected`](crate::error::AssetErrorKind::Rejected);
/// the placeholder stays.
///
/// Audio requests get `Ok(None)` (the next source serves them) unless an
/// [`audio_operation`](PixSimSourceBuilder::audio_operation) is set.
#[derive(Clone)]
pub struct PixSimSource {
    inner: Arc<Inner>,
}

pub(super) struct Inner {
    /// The source's identity, in logs, origins and the disk tier's records.
    pub(super) name: String,
    config: PixSimSourceBuilder,
    pub(super) api: Api,
    pub(super) creates: ConcurrencyLimit,
    pub(super) downloads: ConcurrencyLimit,
    pub(super) governor: CreateGovernor,
    pub(super) followers: Followers,
    hub: Arc<SocketHub>,
    /// Set once the backend answered 404 on the game endpoint.
    pub(super) game_endpoint_missing: AtomicBool,
}

impl fmt::Debug for PixSimSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PixSimSource")
            .field("name", &self.inner.name)
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
            attempts: 5,
            backoff: Backoff::new(Duration::from_millis(250), Duration::from_secs(10)),
            max_server_wait: Duration::from_secs(120),
            retry_grace: Duration::from_secs(60),
            max_creates_per_minute: 20,
            source_id: None,
            websocket: true,
            socket_keep_alive: Duration::from_secs(25),
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
        self.inner.api.base().as_str()
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
            .api
            .json::<_, ()>(
                Method::GET,
                &format!("api/v1/game/scenes/{id}"),
                None,
                Auth::Bearer,
                Retry::Transient,
            )
            .await?;
        let bytes = serde_json::to_vec(&value)
            .map_err(|error| AssetError::invalid_data(format!("scene {id}: {error}")))?;
        SceneGraph::from_json(
            &bytes,
            &format!(
                "{}api/v1/game/scenes/{id}",
                without_url_secrets(self.base_url())
            ),
        )
        .map_err(AssetError::from)
    }
}

impl Inner {
    pub(super) fn config(&self) -> &PixSimSourceBuilder {
        &self.config
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

    fn uses_network(&self) -> bool {
        true
    }

    fn handles(&self, kind: crate::request::MediaKind) -> bool {
        GenerationType::for_kind(kind).is_some() || self.inner.config.audio_operation.is_some()
    }

    async fn resolve(&self, request: &SourceRequest) -> Result<Option<SourcedMedia>, AssetError> {
        let inner = &self.inner;
        let kind = request.kind();
        if let Some(media) = inner.try_game_endpoint(request).await? {
            return Ok(Some(media));
        }
        let operation = match (
            GenerationType::for_kind(kind),
            &inner.config.audio_operation,
        ) {
            (Some(operation), _) => operation,
            (None, Some(operation)) => operation.clone(),
            (None, None) => return Ok(None),
        };
        let mut body = CreateGeneration::from_request(
            &request.request,
            &request.key,
            &request.session,
            &inner.config.provider_id,
            operation,
            30_000,
        );
        if request.is_background() {
            // Prefetching: the backend's queue should serve what players wait for first.
            body.priority = body.priority.min(BACKGROUND_PRIORITY);
        }
        inner.hub.ensure_started();
        let mut last = None;
        for _ in 0..MAX_SUBMISSIONS {
            // Subscribe before creating: the job's events may come before the create's answer.
            let (events, state) = inner.hub.subscribe();
            let trusted_since = {
                let state = *state.borrow();
                state.connected.then_some(state.epoch)
            };
            let creating = inner.followers.creating();
            let submitted = inner.submit(&mut body, request).await?;
            let guard = inner.follow_guard(request, &submitted);
            drop(creating);
            if !submitted.generation.status.is_terminal() {
                // Before anything else: a crash from here on must not pay for this job again.
                request
                    .journal
                    .submitted(
                        &inner.name,
                        submitted.generation.id.as_str(),
                        request.key,
                        &request.request,
                        &request.session,
                    )
                    .await;
            }
            match inner
                .finish_job(request, submitted, guard, events, state, trusted_since)
                .await
            {
                Ok(media) => return Ok(Some(media)),
                Err(JobError::Failed(error) | JobError::Unreachable(error)) => return Err(error),
                Err(JobError::AskAgain(why)) => {
                    debug!("{}: {why}; asking for new work", inner.name);
                    body.force_new = true;
                    last = Some(why);
                }
            }
        }
        Err(AssetError::generation(format!(
            "{}: no generation could serve the request: {}",
            inner.name,
            last.unwrap_or_default()
        )))
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
            // Gone from the backend, or not this account's: the request is made anew.
            Err(error) if error.is_not_found() || error.is_not_yours() => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        if generation.status == GenerationStatus::Cancelled {
            return Ok(None);
        }
        // A resumed job is followed, never cancelled: nobody holds it but the disk tier.
        let submitted = Submitted {
            generation,
            ours: false,
        };
        let guard = inner.follow_guard(request, &submitted);
        match inner
            .finish_job(request, submitted, guard, events, state, trusted_since)
            .await
        {
            Ok(media) => Ok(Some(media)),
            Err(JobError::AskAgain(_)) => Ok(None),
            // It ended without usable media: nothing to follow any more.
            Err(JobError::Failed(error)) => {
                debug!("{}: journalled job {id}: {error}", inner.name);
                Ok(None)
            }
            // How it ended is not known: the journal keeps it for the next start.
            Err(JobError::Unreachable(error)) => Err(error),
        }
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
    fn debug_shows_the_base_url_scrubbed() {
        let builder = PixSimSource::builder("https://user:pw@host/?token=abc&page=2");
        let text = format!("{builder:?}");
        assert!(!text.contains("pw") && !text.contains("abc"), "{text}");
        assert!(text.contains("https://host/?page=2"), "{text}");
        // Not a URL at all: still no userinfo or query.
        let builder = PixSimSource::builder("user:pw@host?token=abc");
        let text = format!("{builder:?}");
        assert!(!text.contains("pw") && !text.contains("abc"), "{text}");
    }

    #[test]
    fn bad_base_urls_are_refused_with_the_url_named() {
        let error = PixSimSource::builder("localhost:8787").build().unwrap_err();
        assert!(error.message().contains("localhost:8787"), "{error}");
    }

    #[test]
    fn the_name_is_the_scrubbed_base_and_provider_unless_set() {
        let source = PixSimSource::builder("http://user:pw@127.0.0.1:1/?token=t")
            .provider_id("fake")
            .build()
            .unwrap();
        assert_eq!(source.name(), "pixsim(http://127.0.0.1:1, fake)");
        let source = PixSimSource::builder("http://127.0.0.1:1")
            .source_id("studio-backend")
            .build()
            .unwrap();
        assert_eq!(source.name(), "studio-backend");
        assert_eq!(source.library().name(), "studio-backend library");
    }
}
