//! [`OpenAiImages`]: an OpenAI-compatible images endpoint as a source in the plugin's chain.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::error::{AssetError, AssetErrorKind};
use crate::net::{NetRequest, PolicyClient, Retries};
use crate::openai::media::{self, Image};
use crate::openai::wire::{ImageData, ImagesAnswer, ImagesRequest, Reply, ResponseFormat};
use crate::request::{AssetRequest, CachingStrategy, MediaKind, PlaySession};
use crate::source::{AssetSource, SourceKind, SourceRequest, SourcedMedia};

/// The create endpoint, under the base URL.
const GENERATIONS: &str = "v1/images/generations";

/// An OpenAI-compatible images endpoint (`POST /v1/images/generations`, served by OpenAI and
/// by many self-hosted image servers) as a [`Generated`](SourceKind::Generated) source of
/// images. Requests without a prompt, and requests for audio or video, pass to the next source.
///
/// Every call goes through a [`PolicyClient`]: retries, `Retry-After`, timeouts and the
/// concurrency limit of its [`NetPolicy`](crate::net::NetPolicy). The create is retried only
/// when nothing shows an image may have been made (a refused connection, a 429): a 5xx (a
/// gateway's 504 can come after the image was made), a timeout after sending, or a garbled
/// success, might have been paid for and is not sent again. Polls and downloads are retried on
/// any transient failure. See the [module docs](crate::openai) for the answers accepted.
///
/// It [uses the network](AssetSource::uses_network): a game in offline mode never calls it.
///
/// ```no_run
/// use bevy_asset_provider::prelude::*;
/// use bevy_asset_provider::openai::OpenAiImages;
///
/// let images = OpenAiImages::builder("https://api.openai.com")
///     .token_from_env("OPENAI_API_KEY")
///     .model("gpt-image-1")
///     .size("1024x1024")
///     .build()
///     .expect("OPENAI_API_KEY is set");
/// let plugin = AssetProviderPlugin::new().with_source(images);
/// ```
#[derive(Clone)]
pub struct OpenAiImages {
    inner: Arc<Inner>,
}

/// Codes servers use when they refuse the prompt itself: final, and
/// [`Rejected`](AssetErrorKind::Rejected).
pub(crate) const REFUSED_CODES: &[&str] = &[
    "content_policy_violation",
    "moderation_blocked",
    "content_filter",
];

pub(crate) struct Inner {
    pub name: String,
    pub client: PolicyClient,
    pub model: String,
    pub size: String,
    pub format: Option<ResponseFormat>,
    pub salt: String,
    pub poll_start: Duration,
    pub poll_max: Duration,
    pub job_timeout: Duration,
    pub max_image_bytes: u64,
    pub scope_tag: bool,
}

impl fmt::Debug for OpenAiImages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiImages")
            .field("name", &self.inner.name)
            .field("model", &self.inner.model)
            .field("size", &self.inner.size)
            .field("format", &self.inner.format)
            .field("client", &self.inner.client)
            .finish_non_exhaustive()
    }
}

impl OpenAiImages {
    pub(crate) fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The client every call goes through.
    pub fn client(&self) -> &PolicyClient {
        &self.inner.client
    }

    /// The largest answer read: a base64 image and some JSON around it.
    fn answer_limit(&self) -> u64 {
        self.inner
            .max_image_bytes
            .saturating_mul(4)
            .div_ceil(3)
            .saturating_add(64 * 1024)
    }

    /// The create's body for `request`, or `None` when it has no prompt.
    pub(crate) fn body_for(
        &self,
        request: &AssetRequest,
        session: &PlaySession,
    ) -> Option<ImagesRequest> {
        let prompt = request
            .prompt
            .as_deref()
            .map(str::trim)
            .filter(|prompt| !prompt.is_empty())?;
        let prompt = match &request.style {
            Some(Value::String(style)) if !style.trim().is_empty() => {
                format!("{prompt}. Style: {}", style.trim())
            }
            _ => prompt.to_owned(),
        };
        let user = if self.inner.scope_tag {
            scope_tag(request.strategy, session, &self.inner.salt)
        } else {
            None
        };
        Some(ImagesRequest {
            model: self.inner.model.clone(),
            prompt,
            n: 1,
            size: self.inner.size.clone(),
            response_format: self.inner.format,
            user,
        })
    }

    /// Creates the image and follows its job, if it has one, to the end.
    async fn generate(
        &self,
        request: &SourceRequest,
        body: &ImagesRequest,
    ) -> Result<SourcedMedia, AssetError> {
        let inner = &self.inner;
        let created = self.create(body).await?;
        let mut reply = self.read(created, "the create's answer")?;
        let deadline = Instant::now() + inner.job_timeout;
        let mut interval = inner.poll_start;
        let mut job = None;
        let mut polls = 0u32;
        loop {
            match reply {
                Reply::Images(data) => return self.media(data, job, request.kind()).await,
                Reply::Failed { id, message, code } => {
                    return Err(self.failed(&id, &message, code.as_deref()));
                }
                Reply::Running { id } => {
                    let id = checked_id(&id)?;
                    if Instant::now() + interval > deadline {
                        return Err(AssetError::new(
                            AssetErrorKind::TimedOut,
                            format!(
                                "{}: image job {id} did not finish within {:?}",
                                inner.name, inner.job_timeout
                            ),
                        ));
                    }
                    polls += 1;
                    request
                        .progress
                        .report(1.0 - 0.9 * 0.8f32.powi(polls.min(64) as i32));
                    tokio::time::sleep(interval).await;
                    interval = (interval * 2).min(inner.poll_max);
                    let answer: ImagesAnswer = inner
                        .client
                        .json(
                            NetRequest::get(format!("{GENERATIONS}/{id}"))
                                .max_bytes(self.answer_limit()),
                        )
                        .await?;
                    reply = self.read(answer, &format!("job {id}"))?;
                    job = Some(id);
                }
            }
        }
    }

    /// Sends the create, once unless nothing shows it arrived (`Retries::Refusals`). A failure
    /// after it may have arrived says it was not sent again.
    async fn create(&self, body: &ImagesRequest) -> Result<ImagesAnswer, AssetError> {
        self.inner
            .client
            .json(
                NetRequest::post(GENERATIONS)
                    .json(body)?
                    .retries(Retries::Refusals)
                    .max_bytes(self.answer_limit()),
            )
            .await
            .map_err(|error| {
                let reached = error.may_have_reached();
                let asset = AssetError::from(error);
                if reached {
                    AssetError::new(
                        asset.kind(),
                        format!(
                            "{} (not sent again: the image may have been made and paid for)",
                            asset.message()
                        ),
                    )
                } else {
                    asset
                }
            })
    }

    /// The error for job `id` that failed with `message` and `code`: `Rejected` for a refused
    /// prompt, `Generation` otherwise.
    fn failed(&self, id: &str, message: &str, code: Option<&str>) -> AssetError {
        let kind = if code.is_some_and(|code| REFUSED_CODES.contains(&code)) {
            AssetErrorKind::Rejected
        } else {
            AssetErrorKind::Generation
        };
        AssetError::new(
            kind,
            format!(
                "{}: image job {id} failed: {}",
                self.inner.name,
                self.inner.client.server_text(message)
            ),
        )
    }

    fn read(&self, answer: ImagesAnswer, what: &str) -> Result<Reply, AssetError> {
        answer.read().map_err(|unreadable| {
            AssetError::invalid_data(format!(
                "{}: {what}: {}",
                self.inner.name,
                self.inner.client.server_text(&unreadable.0)
            ))
        })
    }

    /// The first image of `data`, decoded or fetched, and checked.
    async fn media(
        &self,
        data: Vec<ImageData>,
        job: Option<String>,
        kind: MediaKind,
    ) -> Result<SourcedMedia, AssetError> {
        let inner = &self.inner;
        let what = match &job {
            Some(id) => format!("the image of job {id}"),
            None => "the image".to_owned(),
        };
        let first = data.into_iter().next().unwrap_or_default();
        let Image { bytes, mime } = match (&first.b64_json, &first.url) {
            (Some(text), _) => {
                let bytes = media::from_base64(text, inner.max_image_bytes, &what)?;
                media::checked(bytes, None, kind, &what)?
            }
            (None, Some(url)) => {
                media::fetch(&inner.client, url, inner.max_image_bytes, kind, &what).await?
            }
            (None, None) => {
                return Err(AssetError::invalid_data(format!(
                    "{}: {what} has neither `b64_json` nor `url`",
                    inner.name
                )));
            }
        };
        let origin = match &job {
            Some(id) => format!("{}: job {id}", inner.name),
            None => inner.name.clone(),
        };
        Ok(SourcedMedia::new(bytes, mime, origin).with_backend_ids(job, None))
    }
}

/// The create's `user` for `strategy`: nothing for `once` (one image for everyone is the
/// point), a salted hash of the playthrough or player scope for the scoped strategies (so a
/// caching proxy never hands one player's image to another, no player id leaves the game, and
/// one player looks different to every game), a fresh tag for `always`.
fn scope_tag(strategy: CachingStrategy, session: &PlaySession, salt: &str) -> Option<String> {
    match strategy {
        CachingStrategy::Once => None,
        CachingStrategy::Always => Some(format!("bap-{:016x}", fastrand::u64(..))),
        scoped => scoped.scope(session).map(|scope| {
            // The salt's length first, so no salt and scope run together into another pair.
            let mut hasher = Sha256::new();
            hasher.update((salt.len() as u64).to_be_bytes());
            hasher.update(salt.as_bytes());
            hasher.update(scope.as_bytes());
            format!("bap-{}", &hex::encode(hasher.finalize())[..24])
        }),
    }
}

/// A job id as it may go into a URL path: letters, digits and `-_.:` only.
fn checked_id(id: &str) -> Result<String, AssetError> {
    let fine = !id.is_empty()
        && id.len() <= 256
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if fine {
        Ok(id.to_owned())
    } else {
        Err(AssetError::invalid_data(format!(
            "the job id {:?} cannot be polled (only letters, digits and -_.: are accepted)",
            id.chars().take(64).collect::<String>()
        )))
    }
}

#[async_trait]
impl AssetSource for OpenAiImages {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Generated
    }

    fn handles(&self, kind: MediaKind) -> bool {
        kind == MediaKind::Image
    }

    fn uses_network(&self) -> bool {
        true
    }

    async fn resolve(&self, request: &SourceRequest) -> Result<Option<SourcedMedia>, AssetError> {
        if request.kind() != MediaKind::Image {
            return Ok(None);
        }
        let Some(body) = self.body_for(&request.request, &request.session) else {
            return Ok(None);
        };
        self.generate(request, &body).await.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_kept_apart_without_naming_players() {
        let alice = PlaySession::new("run-1", "alice");
        let bob = PlaySession::new("run-1", "bob");
        let tag = |strategy, session| scope_tag(strategy, session, "game-1");
        assert_eq!(tag(CachingStrategy::Once, &alice), None);
        let a = tag(CachingStrategy::PerPlayer, &alice).unwrap();
        let b = tag(CachingStrategy::PerPlayer, &bob).unwrap();
        assert_ne!(a, b);
        assert!(!a.contains("alice"));
        assert_eq!(
            tag(CachingStrategy::PerPlaythrough, &alice),
            tag(CachingStrategy::PerPlaythrough, &bob)
        );
        assert_ne!(
            tag(CachingStrategy::Always, &alice),
            tag(CachingStrategy::Always, &alice)
        );
        // Salted per game: another salt, another tag for the same player; the same salt, the
        // same tag.
        assert_ne!(
            scope_tag(CachingStrategy::PerPlayer, &alice, "game-2"),
            Some(a.clone())
        );
        assert_eq!(tag(CachingStrategy::PerPlayer, &alice), Some(a));
        assert!(checked_id("img_01:ab-c.d").is_ok());
        assert!(checked_id("../admin").is_err());
        assert!(checked_id("").is_err());
    }
}
