//! The [`AssetProvider`] resource: the one place a game asks for media. A facade that delegates:
//! the [request desk](desk) serves, joins and starts requests and ends jobs (its
//! [job table](jobs), [memory tier](memory), [prefetch ledger](prefetch) and [outbox] of
//! messages), [waiters] hold the futures of awaited requests, and [`DiskAdmin`] administers the
//! disk tier. The systems that connect it to the frame are in [`systems`].

mod analytics;
mod desk;
mod disk;
mod fallback;
mod jobs;
mod memory;
mod messages;
mod outbox;
mod placeholder;
mod prefetch;
mod scene_pictures;
mod slots;
mod stats;
pub(crate) mod systems;
mod task;
mod wait;
mod waiters;

pub use crate::runtime::JobId;
pub use crate::runtime::spend::SpendCap;
pub use analytics::{AnalyticsEvent, AnalyticsKind, AssetPlayed, CacheTier};
pub use disk::DiskAdmin;
pub(crate) use disk::DiskStartTasks;
pub use messages::{AssetCancelled, AssetFailed, AssetReady, AssetRequested, RequestAsset};
pub use messages::{RequestCancelled, RequestFailed, RequestReady};
pub(crate) use placeholder::Placeholders;
pub use stats::ProviderStats;
pub use task::{GenerationTask, MediaHandle, TaskStatus};
pub use waiters::MediaReady;

use std::sync::Arc;
use std::time::Duration;

use bevy::asset::AssetHandleProvider;
use bevy::prelude::*;
use crossbeam_channel::Receiver;

#[cfg(feature = "audio")]
use bevy::audio::AudioSource;

use crate::cache::tier::DiskTier;
use crate::error::AssetError;
use crate::request::{AssetRequest, MediaKind, PlaySession, RequestKey};
use crate::runtime::spend::SpendLedger;
use crate::runtime::{CommandSender, ProviderRuntime, RuntimeEvent};
use desk::{Ask, RequestDesk};
use waiters::Waiters;

/// The facade over every source of media: memory, then the configured sources in order (for
/// example pre-made, then a generator), then the placeholder.
///
/// [`request`](Self::request) answers at once with a handle that shows the placeholder; the real
/// media is inserted behind the same handle when a source has it. Identical requests share one
/// job and one handle. Requests can also be made by inserting an [`AssetRequest`] on an entity or
/// sending a [`RequestAsset`](crate::provider::RequestAsset) message; those get a
/// [`GenerationTask`] showing their status.
///
/// ```no_run
/// # use bevy::prelude::*;
/// # use bevy_asset_provider::prelude::*;
/// fn show_park(mut commands: Commands, mut provider: ResMut<AssetProvider>) {
///     let image = provider.request_image(AssetRequest::image().location("park").prompt("a park"));
///     commands.spawn(Sprite::from_image(image));
/// }
/// ```
// Reflected for inspectors: the session and the counters; the rest is channels and threads,
// so it cannot be made from reflection.
#[derive(Resource, Reflect)]
#[reflect(from_reflect = false)]
pub struct AssetProvider {
    // Declared before `runtime`: dropping its command sender first lets the dispatcher end.
    #[reflect(ignore)]
    desk: RequestDesk,
    #[reflect(ignore)]
    events: Receiver<RuntimeEvent>,
    // Owned only to be dropped with the provider, which stops the runtime's threads.
    #[reflect(ignore)]
    _runtime: ProviderRuntime,
    /// The one current session: every request is keyed with it when it is made.
    session: PlaySession,
    stats: ProviderStats,
    #[reflect(ignore)]
    waiters: Waiters,
    #[reflect(ignore)]
    disk: Option<Arc<DiskTier>>,
}

/// Everything the plugin hands the provider when it builds it.
pub(crate) struct ProviderParts {
    pub commands: CommandSender,
    pub events: Receiver<RuntimeEvent>,
    pub runtime: ProviderRuntime,
    pub image_handles: AssetHandleProvider,
    #[cfg(feature = "audio")]
    pub audio_handles: AssetHandleProvider,
    pub placeholders: Placeholders,
    pub default_timeout: Duration,
    pub memory_capacity: usize,
    pub disk: Option<Arc<DiskTier>>,
    pub spend_cap: SpendCap,
    pub session: PlaySession,
    /// The pre-made pictures [`Fallback::PreMadeTags`](crate::Fallback) finds.
    pub stills: crate::source::PreMadeStills,
}

impl AssetProvider {
    pub(crate) fn new(parts: ProviderParts) -> Self {
        let slots = slots::MediaSlots::new(
            parts.image_handles,
            #[cfg(feature = "audio")]
            parts.audio_handles,
            parts.placeholders,
        );
        Self {
            desk: RequestDesk {
                commands: parts.commands,
                jobs: jobs::JobTable::default(),
                memory: memory::MemoryTier::new(parts.memory_capacity),
                prefetches: prefetch::PrefetchLedger::default(),
                outbox: outbox::Outbox::default(),
                slots,
                media_times: stats::MediaTimes::default(),
                waits: stats::RecentWaits::default(),
                fallbacks: fallback::FallbackBoard::new(parts.stills),
                spend: Arc::new(SpendLedger::new(parts.spend_cap)),
                default_timeout: parts.default_timeout,
            },
            events: parts.events,
            _runtime: parts.runtime,
            session: parts.session,
            stats: ProviderStats::default(),
            waiters: Waiters::default(),
            disk: parts.disk,
        }
    }

    /// Requests media; returns its handle at once. The handle shows the placeholder, or the
    /// request's [`Fallback`](crate::Fallback) (or the real media, if the memory tier has it),
    /// and gets the real media when a source delivers it.
    ///
    /// The request is held until it completes; use [`cancel`](Self::cancel) to give it up.
    #[must_use = "the handle is how the media is shown; `prefetch` fetches without one"]
    pub fn request(&mut self, request: AssetRequest) -> MediaHandle {
        self.start(Ask::by(None, request)).handle
    }

    /// Requests an image (video requests show as images too); returns its handle at once.
    #[must_use = "the handle is how the image is shown; `prefetch` fetches without one"]
    pub fn request_image(&mut self, mut request: AssetRequest) -> Handle<Image> {
        if request.kind == MediaKind::Audio {
            request.kind = MediaKind::Image;
        }
        match self.request(request) {
            MediaHandle::Image(handle) => handle,
            #[cfg(feature = "audio")]
            MediaHandle::Audio(_) => unreachable!("an image request gets an image handle"),
        }
    }

    /// Requests a sound; returns its handle at once. Put it in an `AudioPlayer`: with the default
    /// (empty) audio placeholder, the player starts when the real sound arrives.
    #[cfg(feature = "audio")]
    #[must_use = "the handle is how the sound is played; `prefetch` fetches without one"]
    pub fn request_audio(&mut self, mut request: AssetRequest) -> Handle<AudioSource> {
        request.kind = MediaKind::Audio;
        match self.request(request) {
            MediaHandle::Audio(handle) => handle,
            MediaHandle::Image(_) => unreachable!("an audio request gets an audio handle"),
        }
    }

    /// Requests media like [`request`](Self::request) and returns a future of it: it resolves
    /// to the handle once the real media is behind it, or to the error the request ended with.
    /// The future holds the request (not the caller): dropping it before it resolves gives up
    /// the hold, and the job is cancelled when nobody else holds it. See [`MediaReady`].
    pub fn request_ready(&mut self, request: AssetRequest) -> MediaReady {
        let (slot, receiver) = self.waiters.new_waiter();
        let id = slot.id;
        let ask = Ask {
            waiter: Some(slot),
            ..Ask::by(None, request)
        };
        let task = self.start(ask);
        self.waiters.future_of(task, receiver, id)
    }

    /// A future of the request with `key` (see [`key_for`](Self::key_for)), made earlier and
    /// still in flight or in the memory tier: it resolves like
    /// [`request_ready`](Self::request_ready)'s, holding the job while it waits. A key that is
    /// neither (never requested, already failed, or an `always` request, which is never
    /// joined) resolves at once to a `NotFound` error.
    pub fn ready(&mut self, key: &RequestKey) -> MediaReady {
        if let Some(handle) = self.desk.memory.get(key) {
            return MediaReady::done(*key, Ok(handle));
        }
        let (slot, receiver) = self.waiters.new_waiter();
        let id = slot.id;
        match self.desk.join_waiter(&mut self.stats, key, slot) {
            Some(job) => self.waiters.waiting(*key, receiver, job, id),
            None => MediaReady::done(
                *key,
                Err(AssetError::not_found(format!(
                    "no request with key {key} is in flight or in the memory tier"
                ))),
            ),
        }
    }

    /// Starts fetching `request` in the background lane, for a player who has not asked for it
    /// yet (the likely next choice). Generator slots go to foreground requests first; a
    /// foreground request for the same key later joins this job (and moves it to the
    /// foreground) or finds it in the memory tier. Returns the key, to
    /// [`cancel_prefetch`](Self::cancel_prefetch) it when the player goes elsewhere.
    ///
    /// Nothing starts for a key already in memory, in flight or prefetched, nor for `always`
    /// requests (they are never joined, so a prefetch could not be used).
    #[must_use = "the key is how the prefetch is given up or found again"]
    pub fn prefetch(&mut self, request: AssetRequest) -> RequestKey {
        self.desk.prefetch(&mut self.stats, &self.session, request)
    }

    /// Gives up the prefetch of `key`: its job is cancelled unless a foreground request holds
    /// it too or it is at least `keep_if_progress` done (0 to 1; such a job finishes into the
    /// memory tier). A prefetch that reached a generator and was never used counts as wasted.
    /// Returns whether a job was cancelled.
    pub fn cancel_prefetch(&mut self, key: &RequestKey, keep_if_progress: f32) -> bool {
        self.desk
            .cancel_prefetch(&mut self.stats, key, keep_if_progress)
    }

    /// Prefetches not yet used or given up.
    pub fn prefetched_keys(&self) -> impl Iterator<Item = &RequestKey> {
        self.desk.prefetches.keys()
    }

    /// Whether `key` was prefetched and is not used yet; its status if so.
    pub fn prefetch_status(&self, key: &RequestKey) -> Option<TaskStatus> {
        self.desk
            .prefetches
            .contains(key)
            .then(|| self.status(key).unwrap_or(TaskStatus::Cancelled))
    }

    /// Prefetch jobs in flight that no foreground request holds yet.
    pub fn prefetches_in_flight(&self) -> usize {
        self.desk.jobs.background()
    }

    /// Gives up the requests made on the provider directly for `key`. The job is cancelled if no
    /// entity's task still holds it. Returns whether a job was cancelled.
    pub fn cancel(&mut self, key: &RequestKey) -> bool {
        match self.desk.jobs.joinable(key) {
            Some(job) => self.desk.release(&mut self.stats, job, None),
            None => false,
        }
    }

    /// The key `request` has in the current session.
    pub fn key_for(&self, request: &AssetRequest) -> RequestKey {
        request.fingerprint(&self.session)
    }

    /// The real media for `key`, if the memory tier has it.
    pub fn get(&self, key: &RequestKey) -> Option<MediaHandle> {
        self.desk.memory.get(key)
    }

    /// Whether `request` would be answered with real media at once (the memory tier has it).
    pub fn is_available(&self, request: &AssetRequest) -> bool {
        request.is_cacheable() && self.desk.memory.contains(&self.key_for(request))
    }

    /// Where the request with `key` stands: in flight, completed (in memory), or unknown.
    pub fn status(&self, key: &RequestKey) -> Option<TaskStatus> {
        self.desk.status(key)
    }

    /// Jobs in flight.
    pub fn in_flight(&self) -> usize {
        self.desk.jobs.len()
    }

    /// The counters.
    pub fn stats(&self) -> &ProviderStats {
        &self.stats
    }

    /// The 50th and 95th percentile of the time from request to real media over recent
    /// foreground jobs.
    pub fn time_to_media(&self) -> Option<(Duration, Duration)> {
        self.desk.media_times.percentiles()
    }

    /// The 50th and 95th percentile of the time on the bare placeholder over the recent
    /// foreground requests that had to wait (the last 256 counted in
    /// [`ProviderStats::waited`]): from when the game got the handle until the real media was
    /// behind it, the job failed, timed out or was cancelled, or the request was given up,
    /// less the time its [`Fallback`](crate::Fallback) showed. Requests served at once from the
    /// memory tier had no wait and are not among them.
    pub fn time_on_placeholder(&self) -> Option<(Duration, Duration)> {
        self.desk.waits.placeholder()
    }

    /// The 50th and 95th percentile of the time on a [`Fallback`](crate::Fallback) over the
    /// same requests as [`time_on_placeholder`](Self::time_on_placeholder) (0 for those that
    /// showed none).
    pub fn time_on_fallback(&self) -> Option<(Duration, Duration)> {
        self.desk.waits.fallback()
    }

    /// The disk tier's administration: its counters, the jobs it resumed, and removing entries.
    pub fn disk(&self) -> DiskAdmin<'_> {
        DiskAdmin::new(self.disk.as_ref(), &self.desk.commands)
    }

    /// The session whose ids scope the keys.
    pub fn session(&self) -> &PlaySession {
        &self.session
    }

    /// Switches to `session` (for example at "New game"): every request made after this call,
    /// in this system or any later one, through any path (a direct call, an inserted
    /// [`AssetRequest`], a message, scene media, a prefetch), is keyed with it. The spend cap's
    /// count starts afresh when the session is a new one.
    pub fn set_session(&mut self, session: PlaySession) {
        if session != self.session {
            self.session = session;
            self.desk.spend.new_session();
        }
    }

    /// Generations the player's own (foreground) requests started this play session: what
    /// counts against the [`SpendCap`]. Prefetches, cache and pre-made hits and joined
    /// requests do not count.
    pub fn player_generations(&self) -> u64 {
        self.desk.spend.this_session()
    }

    /// Forgets every completed result held in memory. Handles the game still holds keep their
    /// media.
    pub fn clear_memory(&mut self) {
        self.desk.memory.clear();
    }

    fn start(&mut self, ask: Ask) -> GenerationTask {
        self.desk.start(&mut self.stats, &self.session, ask)
    }

    /// Starts or joins the request for `entity` and returns its task.
    pub(crate) fn request_for_entity(
        &mut self,
        entity: Entity,
        request: AssetRequest,
        now: Duration,
    ) -> GenerationTask {
        let mut task = self.start(Ask::by(Some(entity), request));
        task.requested_at = now;
        task
    }

    /// Drops `entity`'s hold on `job` (`None`: the direct callers' holds). Cancels the job when
    /// nobody holds it any more.
    pub(crate) fn release(&mut self, job: JobId, entity: Option<Entity>) -> bool {
        self.desk.release(&mut self.stats, job, entity)
    }

    /// Whether `entity` holds `job`, which is still in flight.
    pub(crate) fn is_held_by(&self, job: JobId, entity: Entity) -> bool {
        self.desk.jobs.is_held_by(job, entity)
    }

    /// Whether the frame has anything to do for the provider (see `systems::has_work`).
    pub(crate) fn has_work(&self) -> bool {
        !self.events.is_empty()
            || self.waiters.has_departed()
            || self.desk.slots.has_new()
            || self.desk.fallbacks.has_fresh()
            || !self.desk.outbox.is_empty()
    }
}

impl std::fmt::Debug for AssetProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssetProvider")
            .field("session", &self.session)
            .field("in_flight", &self.desk.jobs.len())
            .field("memory", &self.desk.memory.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
