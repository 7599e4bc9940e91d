//! The [`GenerationTask`] component: a request's status, where the game can see it.

use bevy::prelude::*;

use crate::runtime::JobId;
use std::time::Duration;

use crate::error::AssetError;
use crate::request::{MediaKind, RequestKey};
use crate::source::SourceKind;

#[cfg(feature = "audio")]
use bevy::audio::AudioSource;

/// Where a request stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Reflect)]
pub enum TaskStatus {
    /// Waiting for a worker.
    #[default]
    Pending,
    /// A source is working on it.
    Processing,
    /// The real media is behind the handle.
    Completed,
    /// Every source failed; the placeholder stays.
    Failed,
    /// Its last holder went away before it finished.
    Cancelled,
    /// `max_wait` passed; the placeholder stays.
    TimedOut,
}

impl TaskStatus {
    /// The snake_case name used in logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::TimedOut => "timed_out",
        }
    }

    /// Whether the task has ended (completed, failed, cancelled or timed out).
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Pending | Self::Processing)
    }
}

/// A handle to requested media, typed by its kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Reflect)]
pub enum MediaHandle {
    /// An image (also used for video requests until a video source serves them).
    Image(Handle<Image>),
    /// A sound.
    #[cfg(feature = "audio")]
    Audio(Handle<AudioSource>),
}

impl MediaHandle {
    /// The image handle, if this is an image.
    pub fn image(&self) -> Option<&Handle<Image>> {
        match self {
            Self::Image(handle) => Some(handle),
            #[cfg(feature = "audio")]
            Self::Audio(_) => None,
        }
    }

    /// The audio handle, if this is a sound.
    #[cfg(feature = "audio")]
    pub fn audio(&self) -> Option<&Handle<AudioSource>> {
        match self {
            Self::Audio(handle) => Some(handle),
            Self::Image(_) => None,
        }
    }

    /// The untyped asset id behind the handle.
    pub fn untyped_id(&self) -> bevy::asset::UntypedAssetId {
        match self {
            Self::Image(handle) => handle.id().untyped(),
            #[cfg(feature = "audio")]
            Self::Audio(handle) => handle.id().untyped(),
        }
    }
}

/// A request's status, on the entity that made it. Added by the plugin in the same frame as the
/// [`AssetRequest`](crate::request::AssetRequest) and kept up to date until the request ends.
///
/// Despawning the entity (or removing this component) cancels the request unless another holder
/// shares it.
#[derive(Component, Clone, Debug, Reflect)]
#[reflect(Component, Debug)]
pub struct GenerationTask {
    pub(crate) key: RequestKey,
    pub(crate) kind: MediaKind,
    pub(crate) handle: MediaHandle,
    pub(crate) job: Option<JobId>,
    pub(crate) status: TaskStatus,
    pub(crate) source: Option<SourceKind>,
    pub(crate) origin: Option<String>,
    pub(crate) progress: f32,
    pub(crate) requested_at: Duration,
    pub(crate) started_after: Option<Duration>,
    pub(crate) finished_after: Option<Duration>,
    pub(crate) error: Option<AssetError>,
}

impl GenerationTask {
    /// A task for a request just made, before it is served, joined or started.
    pub(crate) fn pending(key: RequestKey, kind: MediaKind) -> Self {
        Self {
            key,
            kind,
            handle: MediaHandle::Image(Handle::default()),
            job: None,
            status: TaskStatus::Pending,
            source: None,
            origin: None,
            progress: 0.0,
            requested_at: Duration::ZERO,
            started_after: None,
            finished_after: None,
            error: None,
        }
    }

    /// Completed at once: the memory tier had the media behind `handle`.
    pub(crate) fn served_from_memory(mut self, handle: MediaHandle) -> Self {
        self.handle = handle;
        self.status = TaskStatus::Completed;
        self.source = Some(SourceKind::Cached);
        self.origin = Some("memory".into());
        self.progress = 1.0;
        self.finished_after = Some(Duration::ZERO);
        self
    }

    /// The request's key.
    pub fn key(&self) -> RequestKey {
        self.key
    }

    /// The media kind requested.
    pub fn kind(&self) -> MediaKind {
        self.kind
    }

    /// The handle: the placeholder now, the real media once completed.
    pub fn handle(&self) -> &MediaHandle {
        &self.handle
    }

    /// Where the request stands.
    pub fn status(&self) -> TaskStatus {
        self.status
    }

    /// Which kind of source served it, once completed.
    pub fn source(&self) -> Option<SourceKind> {
        self.source
    }

    /// Where the media came from (a file, a generator, a generation id), once completed.
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// Progress reported by the source, `0.0..=1.0`.
    pub fn progress(&self) -> f32 {
        self.progress
    }

    /// When the request was made, as real time since the app started.
    pub fn requested_at(&self) -> Duration {
        self.requested_at
    }

    /// How long after the request a source started on it.
    pub fn started_after(&self) -> Option<Duration> {
        self.started_after
    }

    /// How long after the request it ended (time to real media, when completed).
    pub fn finished_after(&self) -> Option<Duration> {
        self.finished_after
    }

    /// Why it failed, timed out or was cancelled.
    pub fn error(&self) -> Option<&AssetError> {
        self.error.as_ref()
    }
}

/// The task status a failed job ends in.
pub(crate) fn status_of(error: &AssetError) -> TaskStatus {
    match error.kind() {
        crate::AssetErrorKind::TimedOut => TaskStatus::TimedOut,
        crate::AssetErrorKind::Cancelled => TaskStatus::Cancelled,
        _ => TaskStatus::Failed,
    }
}
