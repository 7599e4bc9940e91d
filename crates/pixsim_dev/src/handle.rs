//! A running dev backend: starting it, what it lets a test read, and stopping it.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::oneshot;

use bevy_asset_provider::backend::wire::GenerationResponse;

use crate::assets::seed_premade;
use crate::builder::DevBackendBuilder;
use crate::knobs::SceneMediaMode;
use crate::media::MediaStore;
use crate::router::router;
use crate::state::Shared;
use crate::stats::DevStats;

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
    /// A builder with the defaults: any free port, token [`DEV_TOKEN`](crate::DEV_TOKEN),
    /// jobs done in half a second, no faults.
    #[must_use]
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
    #[must_use]
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

    fn start(config: DevBackendBuilder) -> std::io::Result<Self> {
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

impl DevBackendBuilder {
    /// Plays the CDN of `backend`: serves its files at `/api/v1/media/{key}` without a token.
    #[must_use]
    pub fn cdn_for(mut self, backend: &DevBackend) -> Self {
        self.media = backend.media_store();
        self.public_media = true;
        self
    }

    /// Starts the server on 127.0.0.1 on its own threads. Dropping the returned
    /// [`DevBackend`] stops it.
    pub fn spawn(self) -> std::io::Result<DevBackend> {
        DevBackend::start(self)
    }
}
