//! Messages in and out of the plugin.

use bevy::ecs::event::{EntityTrigger, GlobalTrigger};
use bevy::prelude::*;
use std::time::Duration;

use crate::error::AssetError;
use crate::provider::task::{MediaHandle, TaskStatus};
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

/// The real media is behind the handle. Sent once for each holder of the request (an entity, a
/// direct [`AssetProvider`](crate::provider::AssetProvider) call, a future or a prefetch) as a
/// message, and triggered once for each as a global [`Event`], so an observer added with
/// `app.add_observer` sees every result, as a [`MessageReader`] does:
///
/// ```no_run
/// # use bevy::prelude::*;
/// # use bevy_asset_provider::prelude::*;
/// App::new().add_observer(|ready: On<AssetReady>| {
///     info!("{:?} ready from {} for {:?}", ready.key, ready.source, ready.entity);
/// });
/// ```
///
/// Observers of one request entity watch [`RequestReady`] instead: it is triggered on the
/// holder's entity.
#[derive(Message, Event, Clone, Debug)]
pub struct AssetReady {
    /// The holder's entity; `None` for requests made on the
    /// [`AssetProvider`](crate::provider::AssetProvider) directly (and futures and prefetches).
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
/// placeholder stays. Sent once for each holder as a message and triggered once for each as a
/// global [`Event`], like [`AssetReady`]; observers of one request entity watch
/// [`RequestFailed`].
#[derive(Message, Event, Clone, Debug)]
pub struct AssetFailed {
    /// The holder's entity; `None` for requests made on the
    /// [`AssetProvider`](crate::provider::AssetProvider) directly (and futures and prefetches).
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

/// A job was cancelled because its last holder went away. Sent as a message and triggered as a
/// global [`Event`], like [`AssetReady`]; when that holder was an entity, [`RequestCancelled`]
/// is triggered on it too.
#[derive(Message, Event, Clone, Debug)]
pub struct AssetCancelled {
    /// The entity whose leaving cancelled it (its task removed or its request replaced), if
    /// the last holder was an entity; `None` when it was a direct request, a future or a
    /// prefetch.
    pub entity: Option<Entity>,
    /// The request's key.
    pub key: RequestKey,
    /// The media kind.
    pub kind: MediaKind,
}

/// [`AssetReady`] for one request entity: triggered on the entity that holds the request, for
/// its observers (global observers of `RequestReady` see every entity's). Derefs to the
/// [`AssetReady`] message sent with it.
///
/// ```no_run
/// # use bevy::prelude::*;
/// # use bevy_asset_provider::prelude::*;
/// # use bevy_asset_provider::RequestReady;
/// fn show_portrait(mut commands: Commands) {
///     commands
///         .spawn(AssetRequest::image().character("mira").prompt("Mira, smiling"))
///         .observe(|ready: On<RequestReady>| info!("portrait from {}", ready.source));
/// }
/// ```
#[derive(EntityEvent, Clone, Debug, Deref)]
pub struct RequestReady {
    /// The entity holding the request.
    pub entity: Entity,
    /// The result, as the message says it.
    #[deref]
    pub ready: AssetReady,
}

/// [`AssetFailed`] for one request entity: triggered on the entity that holds the request.
/// Derefs to the [`AssetFailed`] message sent with it.
#[derive(EntityEvent, Clone, Debug, Deref)]
pub struct RequestFailed {
    /// The entity holding the request.
    pub entity: Entity,
    /// The failure, as the message says it.
    #[deref]
    pub failed: AssetFailed,
}

/// [`AssetCancelled`] for one request entity: triggered on the entity whose leaving cancelled
/// the job (its task removed, its request replaced, or the entity despawned: then only global
/// observers of `RequestCancelled` see it). Derefs to the [`AssetCancelled`] message sent with
/// it.
#[derive(EntityEvent, Clone, Debug, Deref)]
pub struct RequestCancelled {
    /// The entity that held the request.
    pub entity: Entity,
    /// The cancellation, as the message says it.
    #[deref]
    pub cancelled: AssetCancelled,
}

/// A result for the holders of a request: a message and global event for every holder, and an
/// entity event for a holder that is an entity.
pub(crate) trait HolderResult:
    Message + for<'a> Event<Trigger<'a> = GlobalTrigger> + Clone
{
    /// The entity event triggered on the holder's entity.
    type OnEntity: for<'a> EntityEvent<Trigger<'a> = EntityTrigger>;

    /// The entity event for this result, when its holder is an entity.
    fn on_entity(&self) -> Option<Self::OnEntity>;
}

impl HolderResult for AssetReady {
    type OnEntity = RequestReady;

    fn on_entity(&self) -> Option<RequestReady> {
        self.entity.map(|entity| RequestReady {
            entity,
            ready: self.clone(),
        })
    }
}

impl HolderResult for AssetFailed {
    type OnEntity = RequestFailed;

    fn on_entity(&self) -> Option<RequestFailed> {
        self.entity.map(|entity| RequestFailed {
            entity,
            failed: self.clone(),
        })
    }
}

impl HolderResult for AssetCancelled {
    type OnEntity = RequestCancelled;

    fn on_entity(&self) -> Option<RequestCancelled> {
        self.entity.map(|entity| RequestCancelled {
            entity,
            cancelled: self.clone(),
        })
    }
}
