//! [`PixSimSourceBuilder`]: the settings of a [`PixSimSource`], and the source put together
//! from its parts.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

use crate::backend::answers::{body_wait, final_answer};
use crate::backend::api::{Api, MAX_ANSWER_BYTES};
use crate::backend::client::PixSimSource;
use crate::backend::connection::Connection;
use crate::backend::create::Creator;
use crate::backend::follow::SocketHub;
use crate::backend::game::GameEndpoint;
use crate::backend::generations::Generations;
use crate::backend::library::PixSimLibrary;
use crate::backend::watch::JobTiming;
use crate::backend::wire::GenerationType;
use crate::error::{AssetError, without_url_secrets};
use crate::net::{
    Backoff, MAX_SERVER_WAIT, NetPolicy, PolicyClient, Secret, normalise_base, scrub_url,
};
use crate::request::LONGEST_WAIT;

/// Builds a [`PixSimSource`]. Every setting has a default but the base URL.
#[derive(Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct PixSimSourceBuilder {
    base_url: String,
    token: Option<Secret>,
    login: Option<(String, Secret)>,
    provider_id: String,
    audio_operation: Option<GenerationType>,
    request_timeout: Duration,
    connect_timeout: Duration,
    poll_start: Duration,
    poll_max: Duration,
    max_concurrent_creates: usize,
    max_concurrent_downloads: usize,
    max_download_bytes: u64,
    user_agent: String,
    attempts: u32,
    backoff: Backoff,
    max_server_wait: Duration,
    retry_grace: Duration,
    max_creates_per_minute: u32,
    source_id: Option<String>,
    websocket: bool,
    socket_keep_alive: Duration,
    game_endpoint: bool,
    search_pages: usize,
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
        let client = PolicyClient::new(base.as_str(), self.policy())?;
        let hub = SocketHub::new(&base, self.websocket, self.socket_keep_alive);
        let name = self.source_id.clone().unwrap_or_else(|| {
            format!(
                "pixsim({}, {})",
                without_url_secrets(base.as_str()).trim_end_matches('/'),
                self.provider_id
            )
        });
        let api = Api::new(client, self.token.clone(), self.login.clone());
        let connection = Arc::new(Connection::new(
            name.clone(),
            api,
            self.max_concurrent_downloads,
            self.max_download_bytes,
        ));
        let creator = Creator::new(
            connection.clone(),
            self.max_concurrent_creates,
            self.max_creates_per_minute,
        );
        let timing = JobTiming::new(self.poll_start, self.poll_max, self.retry_grace);
        let generations = Generations::new(
            connection.clone(),
            creator,
            hub,
            timing,
            self.request_timeout,
        );
        let game = GameEndpoint::new(connection.clone(), self.game_endpoint);
        let library = PixSimLibrary::new(
            connection.clone(),
            format!("{name} library"),
            self.search_pages,
        );
        Ok(PixSimSource::new(
            connection,
            game,
            generations,
            library,
            (self.provider_id, self.audio_operation),
            self.token.is_some(),
        ))
    }

    /// The network policy every call of the source is sent under.
    fn policy(&self) -> NetPolicy {
        NetPolicy::new()
            .max_attempts(self.attempts)
            .backoff(self.backoff.base(), self.backoff.cap())
            .max_retry_after(self.max_server_wait)
            .attempt_timeout(self.request_timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(self.user_agent.clone())
            .max_answer_bytes(MAX_ANSWER_BYTES)
            .final_answer_when(final_answer)
            .wait_from_body(body_wait)
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
}
