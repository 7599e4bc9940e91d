//! Messages in and out of the plugin.

use bevy::ecs::event::EntityTrigger;
use bevy::prelude::*;
use std::time::Duration;

use crate::error::AssetError;
use crate::provider::{MediaHandle, TaskStatus};
use crate::request::{AssetRequest, MediaKind, RequestKey};
use crate::source::SourceKind;

/// Sent by the game: request media without spawning an entity yourself. The plugin spawns one
/// carrying the request and its [`GenerationTask`](crate::provider::GenerationTask); the
/// [`AssetRequested`] message names it.
#[derive(Message, Clone, Debug)]
pub struct RequestAsset(pub AssetRequest);

/// A request was made and has a handle (showing the placeholder, or the real media when a cache
/// served it at once).
#[derive(Message, Clone, Debug)]
pub struct AssetRequested {
    /// The entity carrying the request's task; `None` for requests made on the
    /// [`AssetProvider`](crate::provider::AssetProvider) directly.
    pub entity: Option<Entity>,
    /// The request's key.
    pub key: RequestKey,
    /// The media kind.
    pub kind: MediaKind,
    /// The request's scene.
    pub scene_id: Option<String>,
    /// The request's choice.
    pub choice_id: Option<String>,
    /// The handle the media will appear behind.
    pub handle: MediaHandle,
    /// Whether it joined an identical request in flight instead of starting a job.
    pub joined: bool,
    /// Whether it is a prefetch ([`AssetProvider::prefetch`](crate::provider::AssetProvider::prefetch)).
    pub prefetch: bool,
}

/// The real media is behind the handle. Sent once for each holder of the request, and
/// triggered on the holder's entity (when it has one) for its observers:
///
/// ```no_run
/// # use bevy::prelude::*;
/// # use bevy_asset_provider::prelude::*;
/// fn show_portrait(mut commands: Commands) {
///     commands
///         .spawn(AssetRequest::image().character("mira").prompt("Mira, smiling"))
///         .observe(|ready: On<AssetReady>| info!("portrait from {}", ready.source));
/// }
/// ```
#[derive(Message, Clone, Debug)]
pub struct AssetReady {
    /// The holder's entity, if it has one.
    pub entity: Option<Entity>,
    /// The request's key.
    pub key: RequestKey,
    /// The media kind.
    pub kind: MediaKind,
    /// Which kind of source served it.
    pub source: SourceKind,
    /// Where it came from.
    pub origin: String,
    /// The handle, now showing the real media.
    pub handle: MediaHandle,
    /// Time from this holder's request to the real media.
    pub elapsed: Duration,
    /// Whether this holder is a prefetch.
    pub prefetch: bool,
}

/// A request ended without media ([`TaskStatus::Failed`] or [`TaskStatus::TimedOut`]); the
/// placeholder stays. Sent once for each holder, and triggered on the holder's entity (when it
/// has one) for its observers.
#[derive(Message, Clone, Debug)]
pub struct AssetFailed {
    /// The holder's entity, if it has one.
    pub entity: Option<Entity>,
    /// The request's key.
    pub key: RequestKey,
    /// The media kind.
    pub kind: MediaKind,
    /// `Failed` or `TimedOut`.
    pub status: TaskStatus,
    /// What went wrong.
    pub error: AssetError,
    /// Time from this holder's request to the failure.
    pub elapsed: Duration,
    /// Whether this holder is a prefetch.
    pub prefetch: bool,
}

/// A job was cancelled because its last holder went away. Triggered on that holder's entity
/// too, when it still exists (its task was removed or its request replaced).
#[derive(Message, Clone, Debug)]
pub struct AssetCancelled {
    /// The entity whose leaving cancelled it (its task removed or its request replaced), if
    /// the last holder was an entity.
    pub entity: Option<Entity>,
    /// The request's key.
    pub key: RequestKey,
    /// The media kind.
    pub kind: MediaKind,
}

// Also entity events: observers on the holder's entity see them. Only holders with an entity
// are triggered (see `systems::ProviderMessages`), so the placeholder target is never used.
impl Event for AssetReady {
    type Trigger<'a> = EntityTrigger;
}

impl EntityEvent for AssetReady {
    fn event_target(&self) -> Entity {
        self.entity.unwrap_or(Entity::PLACEHOLDER)
    }
}

impl Event for AssetFailed {
    type Trigger<'a> = EntityTrigger;
}

impl EntityEvent for AssetFailed {
    fn event_target(&self) -> Entity {
        self.entity.unwrap_or(Entity::PLACEHOLDER)
    }
}

impl Event for AssetCancelled {
    type Trigger<'a> = EntityTrigger;
}

impl EntityEvent for AssetCancelled {
    fn event_target(&self) -> Entity {
        self.entity.unwrap_or(Entity::PLACEHOLDER)
    }
}

/// The choice counts the disk tier kept from earlier runs, read at start; prediction adds them
/// to its own.
#[derive(Message, Clone, Debug)]
pub(crate) struct ChoiceCountsLoaded(pub Vec<(String, String, u64)>);
