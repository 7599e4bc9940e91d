//! The [`AssetSource`] trait every source of media implements, and what flows through it.

#[cfg(feature = "video")]
mod clip;
mod journal;
mod lane;
mod local;
mod premade;
pub mod procedural;
pub mod recording;
pub mod scoring;

#[cfg(feature = "video")]
pub use clip::ClipSpec;
#[cfg(feature = "video")]
pub(crate) use clip::init_ffmpeg;
#[cfg(feature = "disk")]
pub(crate) use journal::JournalStore;
pub use journal::{JobJournal, JournalRecord};
pub(crate) use lane::LaneFlag;
pub use local::LocalGenerator;
pub use premade::{PreMadeEntry, PreMadeManifest, PreMadeSource};
pub(crate) use premade::{PreMadeManifestPlugin, PreMadeStills};
pub use recording::{Recorder, Recording, RecordingSource, ReplaySource};

use async_trait::async_trait;
use bevy::reflect::Reflect;
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::error::AssetError;
use crate::request::PlaySession;
use crate::request::{AssetRequest, MediaKind, RequestKey};

/// Where a result came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Reflect, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A cache (memory or disk).
    Cached,
    /// A pre-made asset (a local manifest or the backend's library).
    PreMade,
    /// A generator (embedded or remote).
    Generated,
    /// Nothing served it: the placeholder stays.
    Placeholder,
}

impl SourceKind {
    /// The snake_case name used in logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cached => "cached",
            Self::PreMade => "pre_made",
            Self::Generated => "generated",
            Self::Placeholder => "placeholder",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Encoded media as a source delivers it: bytes and their MIME type, decoded later off the frame.
#[derive(Clone)]
pub struct SourcedMedia {
    /// The encoded bytes (PNG, WAV, ...).
    pub bytes: Arc<[u8]>,
    /// Their MIME type, for example `image/png` or `audio/wav`.
    pub mime: String,
    /// Where they came from, for logs and provenance (a file path, a generation id).
    pub origin: String,
    /// What the result counts as when it differs from the source's own kind: a backend that
    /// answers from its cache or its library reports [`Cached`](SourceKind::Cached) or
    /// [`PreMade`](SourceKind::PreMade) though it is a generator.
    pub served_as: Option<SourceKind>,
    /// The backend's job that made it, for the disk tier's provenance record.
    pub generation_id: Option<String>,
    /// The backend's id for it.
    pub asset_id: Option<String>,
}

impl SourcedMedia {
    /// Media of `mime` type from `origin`.
    pub fn new(
        bytes: impl Into<Arc<[u8]>>,
        mime: impl Into<String>,
        origin: impl Into<String>,
    ) -> Self {
        Self {
            bytes: bytes.into(),
            mime: mime.into(),
            origin: origin.into(),
            served_as: None,
            generation_id: None,
            asset_id: None,
        }
    }

    /// Records the backend's ids for the job and the asset.
    pub fn with_backend_ids(
        mut self,
        generation_id: Option<String>,
        asset_id: Option<String>,
    ) -> Self {
        self.generation_id = generation_id;
        self.asset_id = asset_id;
        self
    }

    /// Marks the media as served from a cache or a library rather than generated.
    pub fn served_as(mut self, kind: SourceKind) -> Self {
        self.served_as = Some(kind);
        self
    }
}

impl fmt::Debug for SourcedMedia {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourcedMedia")
            .field("bytes", &self.bytes.len())
            .field("mime", &self.mime)
            .field("origin", &self.origin)
            .field("served_as", &self.served_as)
            .field("generation_id", &self.generation_id)
            .field("asset_id", &self.asset_id)
            .finish()
    }
}

/// Reports a job's progress back to the game; cheap to clone.
#[derive(Clone)]
pub struct ProgressReporter(Arc<dyn Fn(f32) + Send + Sync>);

impl ProgressReporter {
    /// A reporter that calls `report` with a fraction in `0.0..=1.0`.
    pub fn new(report: impl Fn(f32) + Send + Sync + 'static) -> Self {
        Self(Arc::new(report))
    }

    /// A reporter that drops every report.
    pub fn ignore() -> Self {
        Self::new(|_| {})
    }

    /// Reports that `fraction` (clamped to `0.0..=1.0`) of the work is done.
    pub fn report(&self, fraction: f32) {
        (self.0)(fraction.clamp(0.0, 1.0));
    }
}

impl fmt::Debug for ProgressReporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProgressReporter")
    }
}

/// One request as a source sees it.
#[derive(Clone, Debug)]
pub struct SourceRequest {
    /// The request's key.
    pub key: RequestKey,
    /// The request itself.
    pub request: AssetRequest,
    /// The session it was made in.
    pub session: PlaySession,
    /// Where to report progress.
    pub progress: ProgressReporter,
    /// Where to note backend jobs, so a restart follows them instead of paying again.
    pub journal: JobJournal,
    /// The request's lane; see [`is_background`](Self::is_background).
    pub(crate) lane: LaneFlag,
}

impl SourceRequest {
    /// A request for `request` under `key`, with no progress reporting and no journal (for
    /// calling a source directly).
    pub fn new(key: RequestKey, request: AssetRequest, session: PlaySession) -> Self {
        Self {
            key,
            request,
            session,
            progress: ProgressReporter::ignore(),
            journal: JobJournal::disabled(),
            lane: LaneFlag::new(true),
        }
    }

    /// Whether this is background work (prefetching the player's likely next choices) that
    /// nobody is waiting for yet. A backend gets a lower priority for it.
    pub fn is_background(&self) -> bool {
        !self.lane.is_foreground()
    }

    /// The media kind wanted.
    pub fn kind(&self) -> MediaKind {
        self.request.kind
    }
}

/// A source of media: a cache, a pre-made library, a generator. Object-safe and async; the
/// plugin runs it on its own runtime, never on the frame.
///
/// The plugin asks its sources in order. A source answers `Ok(Some(media))` to serve the
/// request, `Ok(None)` when it has nothing for it (the next source is asked), or an error when it
/// tried and failed.
///
/// ```
/// use bevy_asset_provider::prelude::*;
/// use bevy_asset_provider::source::SourceKind;
/// use bevy_asset_provider::source::{AssetSource, SourceRequest, SourcedMedia};
///
/// struct Silence;
///
/// #[async_trait::async_trait]
/// impl AssetSource for Silence {
///     fn name(&self) -> &str { "silence" }
///     fn kind(&self) -> SourceKind { SourceKind::PreMade }
///     async fn resolve(&self, _: &SourceRequest) -> Result<Option<SourcedMedia>, AssetError> {
///         Ok(None)
///     }
/// }
/// ```
///
/// Every source is [`Any`], so the plugin can recognise the ones it wires into Bevy (a
/// [`PreMadeSource`] whose manifest it reloads).
#[async_trait]
pub trait AssetSource: Any + Send + Sync + 'static {
    /// A short name for logs.
    fn name(&self) -> &str;

    /// What kind of source this is; decides which requests may use it (generators are skipped
    /// when generation is not allowed, caches when the request wants a fresh result).
    fn kind(&self) -> SourceKind;

    /// A stable identity for what this source makes (default: its [`name`](Self::name)). The
    /// disk tier records it with every entry the source made and serves an entry only while a
    /// source with the same identity would be asked for the request; change it when the
    /// source's output changes (another backend, a new generator version).
    fn id(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.name())
    }

    /// Whether this source may serve requests of `kind` at all (default `true`). A generator
    /// that passes on a kind (a backend without audio) says `false`, so that media a later
    /// source made for that kind is still served from the disk tier.
    fn handles(&self, _kind: MediaKind) -> bool {
        true
    }

    /// Serves `request`, or says it has nothing for it.
    async fn resolve(&self, request: &SourceRequest) -> Result<Option<SourcedMedia>, AssetError>;

    /// Whether this source could serve `request` now without generating.
    async fn is_available(&self, _request: &SourceRequest) -> bool {
        false
    }

    /// Stops work for `key`: its last holder went away.
    async fn cancel(&self, _key: RequestKey) {}

    /// Whether this source may reach the network to serve a request (default `true`). A game in
    /// [offline mode](crate::AssetProviderPlugin::with_offline) skips sources that say `true`,
    /// as it skips every [`Generated`](SourceKind::Generated) one; the bake (`bake::Bake::new`)
    /// leaves out pre-made sources that say `false`, whose files a game already ships.
    ///
    /// The default is `true` so that offline mode never reaches the network through a source
    /// that did not say: a source that works from local files only (a manifest on disk, a
    /// recording, an embedded generator) says `false` to be asked offline. A source that wraps
    /// another (a recorder, a cache in front of a backend) answers what the wrapped source
    /// answers, or `true` if anything it adds reaches the network.
    fn uses_network(&self) -> bool {
        true
    }

    /// Whether the disk tier should keep what this source serves (default `true`). A source
    /// whose files are on disk already (a pre-made manifest) says `false`.
    fn caches_results(&self) -> bool {
        true
    }

    /// Follows a job this source submitted before the game last stopped (its
    /// [journal](crate::source::JobJournal) entry) to its end, instead of submitting it again.
    /// `Ok(None)` when the source cannot resume jobs (the default), or the job is gone or ended
    /// without media: the entry is forgotten and a request is resolved as new. An error means
    /// how the job ended could not be learnt (the backend unreachable): the entry is kept for
    /// the next start.
    async fn resume(
        &self,
        _request: &SourceRequest,
        _generation_id: &str,
    ) -> Result<Option<SourcedMedia>, AssetError> {
        Ok(None)
    }
}
