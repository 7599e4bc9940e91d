//! [`PixSimSource`]: the generation backend as a source in the plugin's chain.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use reqwest::Method;

use crate::backend::api::{Auth, Retry};
use crate::backend::connection::Connection;
use crate::backend::game::GameEndpoint;
use crate::backend::generations::Generations;
use crate::backend::library::PixSimLibrary;
use crate::backend::wire::{CreateGeneration, GenerationType};
use crate::error::{AssetError, without_url_secrets};
use crate::source::{AssetSource, SourceKind, SourceRequest, SourcedMedia};

/// The backend priority of prefetches (0 lowest, 10 highest; requests default to 5).
const BACKGROUND_PRIORITY: u8 = 1;

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
/// [`audio_operation`](crate::backend::PixSimSourceBuilder::audio_operation) is set.
#[derive(Clone)]
pub struct PixSimSource {
    inner: Arc<Inner>,
}

/// The parts of a source, each with its own state.
struct Inner {
    connection: Arc<Connection>,
    game: GameEndpoint,
    generations: Arc<Generations>,
    library: PixSimLibrary,
    /// The provider sent with creates.
    provider_id: String,
    /// The generation type of audio requests, if the backend has one.
    audio_operation: Option<GenerationType>,
    /// Whether a token was given (shown in `Debug` as redacted, never itself).
    has_token: bool,
}

impl fmt::Debug for PixSimSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PixSimSource")
            .field("name", &self.inner.connection.name())
            .field("provider_id", &self.inner.provider_id)
            .field("token", &self.inner.has_token.then_some("<redacted>"))
            .finish_non_exhaustive()
    }
}

impl PixSimSource {
    /// The source made of its parts: the `connection` they share, the `game` endpoint, the
    /// `generations`, the `library`, and the `(provider, audio operation)` its creates name.
    pub(super) fn new(
        connection: Arc<Connection>,
        game: GameEndpoint,
        generations: Generations,
        library: PixSimLibrary,
        (provider_id, audio_operation): (String, Option<GenerationType>),
        has_token: bool,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                connection,
                game,
                generations: Arc::new(generations),
                library,
                provider_id,
                audio_operation,
                has_token,
            }),
        }
    }

    /// The backend's base URL.
    pub fn base_url(&self) -> &str {
        self.inner.connection.api().base().as_str()
    }

    /// The backend's library of pre-made assets as a source of its own, sharing this client's
    /// connections and token. Put it before the generator so a match is not paid for.
    pub fn library(&self) -> PixSimLibrary {
        self.inner.library.clone()
    }

    /// The JSON of the backend's scene `id` (`GET /api/v1/game/scenes/{id}`), with its URL
    /// without credentials to name it in errors. Errors name the scene.
    pub(crate) async fn scene_json(&self, id: &str) -> Result<(Vec<u8>, String), AssetError> {
        let value: serde_json::Value = self
            .inner
            .connection
            .api()
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
        let origin = format!(
            "{}api/v1/game/scenes/{id}",
            without_url_secrets(self.base_url())
        );
        Ok((bytes, origin))
    }
}

#[async_trait]
impl AssetSource for PixSimSource {
    fn name(&self) -> &str {
        self.inner.connection.name()
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Generated
    }

    fn uses_network(&self) -> bool {
        true
    }

    fn handles(&self, kind: crate::request::MediaKind) -> bool {
        GenerationType::for_kind(kind).is_some() || self.inner.audio_operation.is_some()
    }

    async fn resolve(&self, request: &SourceRequest) -> Result<Option<SourcedMedia>, AssetError> {
        let inner = &self.inner;
        if let Some(media) = inner.game.try_serve(request).await? {
            return Ok(Some(media));
        }
        let operation = match (
            GenerationType::for_kind(request.kind()),
            &inner.audio_operation,
        ) {
            (Some(operation), _) => operation,
            (None, Some(operation)) => operation.clone(),
            (None, None) => return Ok(None),
        };
        let mut body = CreateGeneration::from_request(
            &request.request,
            &request.key,
            &request.session,
            &inner.provider_id,
            operation,
            30_000,
        );
        if request.is_background() {
            // Prefetching: the backend's queue should serve what players wait for first.
            body.priority = body.priority.min(BACKGROUND_PRIORITY);
        }
        inner.generations.make(body, request).await.map(Some)
    }

    async fn resume(
        &self,
        request: &SourceRequest,
        generation_id: &str,
    ) -> Result<Option<SourcedMedia>, AssetError> {
        self.inner.generations.resume(request, generation_id).await
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
