//! The [`AssetProvider`] resource: the one place a game asks for media. A facade over small
//! parts: the [job table](jobs), the [memory tier](memory), the [prefetch ledger](prefetch) and
//! the [counters](stats); the systems that connect it to the frame are in [`systems`].

mod analytics;
mod jobs;
mod memory;
mod messages;
mod placeholder;
mod prefetch;
mod ready;
mod stats;
pub(crate) mod systems;
mod task;

pub use crate::runtime::JobId;
pub use crate::runtime::spend::SpendCap;
pub use analytics::{AnalyticsEvent, AnalyticsKind, AssetPlayed, CacheTier};
pub(crate) use messages::ChoiceCountsLoaded;
pub use messages::{AssetCancelled, AssetFailed, AssetReady, AssetRequested, RequestAsset};
pub use messages::{RequestCancelled, RequestFailed, RequestReady};
pub(crate) use placeholder::Placeholders;
pub use ready::MediaReady;
pub use stats::ProviderStats;
pub use task::{GenerationTask, MediaHandle, TaskStatus};

use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy::asset::AssetHandleProvider;
use bevy::prelude::*;
use crossbeam_channel::{Receiver, Sender};

#[cfg(feature = "audio")]
use bevy::audio::AudioSource;

#[cfg(feature = "disk")]
use crate::cache::DiskStats;
use crate::cache::tier::{DiskCommand, DiskTier};
use crate::error::{AssetError, AssetErrorKind};
use crate::request::{
    AssetRequest, CachingStrategy, LONGEST_WAIT, MediaKind, PlaySession, RequestKey,
};
use crate::runtime::spend::SpendLedger;
use crate::runtime::{JobSpec, ProviderRuntime, RuntimeCommand, RuntimeEvent};
use crate::source::LaneFlag;
use crate::source::SourceKind;
use jobs::{Holder, Job, JobTable, Subject};
use memory::MemoryTier;
use prefetch::PrefetchLedger;
use ready::{WaiterLeft, WaiterSlot};
use stats::MediaTimes;

/// Something to tell the game at the next flush.
pub(crate) enum Notice {
    Requested(AssetRequested),
    Ready(AssetReady),
    Failed(AssetFailed),
    Cancelled(AssetCancelled),
    Analytics(AnalyticsEvent),
    /// Choice counts kept on disk from earlier runs, read at start.
    ChoiceCounts(Vec<(String, String, u64)>),
}

impl Notice {
    /// The result of `subject` for one holder (its entity, its wait and whether it is a
    /// prefetch): ready or failed.
    fn result(
        subject: &Subject,
        handle: MediaHandle,
        (entity, elapsed, prefetch): (Option<Entity>, Duration, bool),
        outcome: &Result<(SourceKind, String), AssetError>,
    ) -> Self {
        let (key, kind) = (subject.key, subject.kind);
        match outcome {
            Ok((source, origin)) => Self::Ready(AssetReady {
                entity,
                key,
                kind,
                source: *source,
                origin: origin.clone(),
                handle,
                elapsed,
                prefetch,
            }),
            Err(error) => Self::Failed(AssetFailed {
                entity,
                key,
                kind,
                status: status_of(error),
                error: error.clone(),
                elapsed,
                prefetch,
            }),
        }
    }
}

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
    // Declared before `runtime`: dropping it first lets the runtime's dispatcher end.
    #[reflect(ignore)]
    commands: Sender<RuntimeCommand>,
    #[reflect(ignore)]
    events: Receiver<RuntimeEvent>,
    // Owned only to be dropped with the provider, which stops the runtime's threads.
    #[reflect(ignore)]
    _runtime: ProviderRuntime,
    #[reflect(ignore)]
    image_handles: AssetHandleProvider,
    #[cfg(feature = "audio")]
    #[reflect(ignore)]
    audio_handles: AssetHandleProvider,
    #[reflect(ignore)]
    placeholders: Placeholders,
    /// The one current session: every request is keyed with it when it is made.
    session: PlaySession,
    #[reflect(ignore)]
    default_timeout: Duration,
    #[reflect(ignore)]
    jobs: JobTable,
    #[reflect(ignore)]
    memory: MemoryTier,
    #[reflect(ignore)]
    prefetches: PrefetchLedger,
    #[reflect(ignore)]
    new_placeholders: Vec<MediaHandle>,
    #[reflect(ignore)]
    notices: Vec<Notice>,
    #[reflect(ignore)]
    swapped_images: Vec<AssetId<Image>>,
    stats: ProviderStats,
    #[reflect(ignore)]
    media_times: MediaTimes,
    #[reflect(ignore)]
    disk: Option<Arc<DiskTier>>,
    /// Futures dropped before their job ended, to release.
    #[reflect(ignore)]
    waiters_left: (Sender<WaiterLeft>, Receiver<WaiterLeft>),
    #[reflect(ignore)]
    next_waiter: u64,
    /// What the player's requests spent of the spend cap; the runtime's jobs spend it.
    #[reflect(ignore)]
    spend: Arc<SpendLedger>,
}

/// Everything the plugin hands the provider when it builds it.
pub(crate) struct ProviderParts {
    pub commands: Sender<RuntimeCommand>,
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
}

impl AssetProvider {
    pub(crate) fn new(parts: ProviderParts) -> Self {
        Self {
            commands: parts.commands,
            events: parts.events,
            _runtime: parts.runtime,
            image_handles: parts.image_handles,
            #[cfg(feature = "audio")]
            audio_handles: parts.audio_handles,
            placeholders: parts.placeholders,
            session: parts.session,
            default_timeout: parts.default_timeout,
            jobs: JobTable::default(),
            memory: MemoryTier::new(parts.memory_capacity),
            prefetches: PrefetchLedger::default(),
            new_placeholders: Vec::new(),
            notices: Vec::new(),
            swapped_images: Vec::new(),
            stats: ProviderStats::default(),
            media_times: MediaTimes::default(),
            disk: parts.disk,
            waiters_left: crossbeam_channel::unbounded(),
            next_waiter: 0,
            spend: Arc::new(SpendLedger::new(parts.spend_cap)),
        }
    }

    /// Requests media; returns its handle at once. The handle shows the placeholder (or the real
    /// media, if the memory tier has it) and gets the real media when a source delivers it.
    ///
    /// The request is held until it completes; use [`cancel`](Self::cancel) to give it up.
    pub fn request(&mut self, request: AssetRequest) -> MediaHandle {
        self.start(None, request, false).handle
    }

    /// Starts fetching `request` in the background lane, for a player who has not asked for it
    /// yet (the likely next choice). Generator slots go to foreground requests first; a
    /// foreground request for the same key later joins this job (and moves it to the
    /// foreground) or finds it in the memory tier. Returns the key, to
    /// [`cancel_prefetch`](Self::cancel_prefetch) it when the player goes elsewhere.
    ///
    /// Nothing starts for a key already in memory, in flight or prefetched, nor for `always`
    /// requests (they are never joined, so a prefetch could not be used).
    pub fn prefetch(&mut self, request: AssetRequest) -> RequestKey {
        let key = self.key_for(&request);
        if !request.is_cacheable()
            || self.memory.contains(&key)
            || self.jobs.joinable(&key).is_some()
            || !self.prefetches.begin(key)
        {
            return key;
        }
        self.stats.prefetched += 1;
        self.start(None, request, true);
        key
    }

    /// Gives up the prefetch of `key`: its job is cancelled unless a foreground request holds
    /// it too or it is at least `keep_if_progress` done (0 to 1; such a job finishes into the
    /// memory tier). A prefetch that reached a generator and was never used counts as wasted.
    /// Returns whether a job was cancelled.
    pub fn cancel_prefetch(&mut self, key: &RequestKey, keep_if_progress: f32) -> bool {
        let Some(reached_generator) = self.prefetches.end(key) else {
            return false;
        };
        let job_id = self.jobs.joinable(key);
        let kind = job_id
            .and_then(|id| self.jobs.get(id))
            .map_or(MediaKind::Image, |job| job.subject.kind);
        let cancelled = match job_id.and_then(|id| self.jobs.release_prefetch(id, keep_if_progress))
        {
            Some(job) => {
                self.cancelled(job_id.unwrap_or(JobId(u64::MAX)), job, None);
                true
            }
            None => false,
        };
        if reached_generator {
            self.wasted(*key, kind);
        }
        cancelled
    }

    /// Prefetches not yet used or given up.
    pub fn prefetched_keys(&self) -> impl Iterator<Item = &RequestKey> {
        self.prefetches.keys()
    }

    /// Whether `key` was prefetched and is not used yet; its status if so.
    pub fn prefetch_status(&self, key: &RequestKey) -> Option<TaskStatus> {
        self.prefetches
            .contains(key)
            .then(|| self.status(key).unwrap_or(TaskStatus::Cancelled))
    }

    /// Prefetch jobs in flight that no foreground request holds yet.
    pub fn prefetches_in_flight(&self) -> usize {
        self.jobs.background()
    }

    /// The 50th and 95th percentile of the time from request to real media over recent
    /// foreground jobs.
    pub fn time_to_media(&self) -> Option<(Duration, Duration)> {
        self.media_times.percentiles()
    }

    /// Keeps on disk that a player took choice `edge` of scene graph `graph`, so prediction
    /// learns across sessions (the counts come back at the next start). Prediction calls this.
    pub fn record_choice(&mut self, graph: &str, edge: &str) {
        self.disk_command(DiskCommand::RecordChoice(graph.to_owned(), edge.to_owned()));
    }

    pub(crate) fn set_progress(&mut self, job_id: JobId, fraction: f32) {
        self.jobs.set_progress(job_id, fraction);
    }

    pub(crate) fn choice_counts_loaded(&mut self, counts: Vec<(String, String, u64)>) {
        self.notices.push(Notice::ChoiceCounts(counts));
    }

    pub(crate) fn generation_started(
        &mut self,
        job_id: JobId,
        key: RequestKey,
        kind: MediaKind,
        background: bool,
    ) {
        self.stats.generations_started += 1;
        let Some(job) = self.jobs.get(job_id) else {
            if background {
                // A prefetch given up before this frame heard it had reached a generator: it
                // was wasted all the same.
                self.wasted(key, kind);
            }
            return;
        };
        self.prefetches.reached_generator(&job.subject.key);
        let event = job.event(AnalyticsKind::GenerationStarted, Instant::now());
        self.notices.push(Notice::Analytics(event));
    }

    fn wasted(&mut self, key: RequestKey, kind: MediaKind) {
        self.stats.prefetch_wasted += 1;
        let mut event = AnalyticsEvent::new(AnalyticsKind::PrefetchWasted, key, kind);
        event.prefetch = true;
        self.notices.push(Notice::Analytics(event));
    }

    /// Counts `key` as used if it was prefetched.
    fn use_prefetch(&mut self, key: RequestKey, kind: MediaKind) {
        if self.prefetches.end(&key).is_some() {
            self.stats.prefetch_used += 1;
            self.notices.push(Notice::Analytics(AnalyticsEvent::new(
                AnalyticsKind::PrefetchUsed,
                key,
                kind,
            )));
        }
    }

    /// Requests an image (video requests show as images too); returns its handle at once.
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
    pub fn request_audio(&mut self, mut request: AssetRequest) -> Handle<AudioSource> {
        request.kind = MediaKind::Audio;
        match self.request(request) {
            MediaHandle::Audio(handle) => handle,
            MediaHandle::Image(_) => unreachable!("an audio request gets an audio handle"),
        }
    }

    /// The key `request` has in the current session.
    pub fn key_for(&self, request: &AssetRequest) -> RequestKey {
        request.fingerprint(&self.session)
    }

    /// The real media for `key`, if the memory tier has it.
    pub fn get(&self, key: &RequestKey) -> Option<MediaHandle> {
        self.memory.get(key)
    }

    /// Whether `request` would be answered with real media at once (the memory tier has it).
    pub fn is_available(&self, request: &AssetRequest) -> bool {
        request.is_cacheable() && self.memory.contains(&self.key_for(request))
    }

    /// Where the request with `key` stands: in flight, completed (in memory), or unknown.
    pub fn status(&self, key: &RequestKey) -> Option<TaskStatus> {
        if self.jobs.joinable(key).is_some() {
            Some(TaskStatus::Pending)
        } else if self.memory.contains(key) {
            Some(TaskStatus::Completed)
        } else {
            None
        }
    }

    /// Gives up the requests made on the provider directly for `key`. The job is cancelled if no
    /// entity's task still holds it. Returns whether a job was cancelled.
    pub fn cancel(&mut self, key: &RequestKey) -> bool {
        let Some(job) = self.jobs.joinable(key) else {
            return false;
        };
        self.release(job, None)
    }

    /// Requests media like [`request`](Self::request) and returns a future of it: it resolves
    /// to the handle once the real media is behind it, or to the error the request ended with.
    /// The future holds the request (not the caller): dropping it before it resolves gives up
    /// the hold, and the job is cancelled when nobody else holds it. See [`MediaReady`].
    pub fn request_ready(&mut self, request: AssetRequest) -> MediaReady {
        let (slot, receiver) = self.new_waiter();
        let waiter = slot.id;
        let task = self.start_holding(None, Some(slot), request, false);
        self.ready_from(task, receiver, waiter)
    }

    /// A future of the request with `key` (see [`key_for`](Self::key_for)), made earlier and
    /// still in flight or in the memory tier: it resolves like
    /// [`request_ready`](Self::request_ready)'s, holding the job while it waits. A key that is
    /// neither (never requested, already failed, or an `always` request, which is never
    /// joined) resolves at once to a `NotFound` error.
    pub fn ready(&mut self, key: &RequestKey) -> MediaReady {
        if let Some(handle) = self.memory.get(key) {
            return MediaReady::done(*key, Ok(handle));
        }
        let Some(job) = self.jobs.joinable(key) else {
            return MediaReady::done(
                *key,
                Err(AssetError::not_found(format!(
                    "no request with key {key} is in flight or in the memory tier"
                ))),
            );
        };
        let (slot, receiver) = self.new_waiter();
        let waiter = slot.id;
        let holder = Holder {
            entity: None,
            since: Instant::now(),
            prefetch: false,
            waiter: Some(slot),
        };
        match self.jobs.join(job, holder) {
            Ok((_, promoted)) => {
                if promoted {
                    let _ = self.commands.send(RuntimeCommand::LanesChanged);
                }
                let key = *key;
                self.use_prefetch(
                    key,
                    self.jobs
                        .get(job)
                        .map_or(MediaKind::Image, |job| job.subject.kind),
                );
                MediaReady::waiting(key, receiver, self.waiters_left.0.clone(), job, waiter)
            }
            Err(_) => MediaReady::done(
                *key,
                Err(AssetError::not_found(format!("the job of {key} has ended"))),
            ),
        }
    }

    fn new_waiter(
        &mut self,
    ) -> (
        WaiterSlot,
        tokio::sync::oneshot::Receiver<ready::ReadyResult>,
    ) {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        self.next_waiter += 1;
        (
            WaiterSlot {
                id: self.next_waiter,
                sender,
            },
            receiver,
        )
    }

    /// The future of a request just started or joined by a waiter.
    fn ready_from(
        &mut self,
        task: GenerationTask,
        receiver: tokio::sync::oneshot::Receiver<ready::ReadyResult>,
        waiter: u64,
    ) -> MediaReady {
        match (task.status, task.job) {
            (TaskStatus::Completed, _) => MediaReady::done(task.key, Ok(task.handle)),
            (_, Some(job)) if !task.status.is_terminal() => {
                MediaReady::waiting(task.key, receiver, self.waiters_left.0.clone(), job, waiter)
            }
            _ => MediaReady::done(
                task.key,
                Err(task.error.unwrap_or_else(|| {
                    AssetError::new(AssetErrorKind::Shutdown, "the request could not start")
                })),
            ),
        }
    }

    /// Releases the holds of futures dropped before their job ended.
    pub(crate) fn release_departed_waiters(&mut self) {
        while let Ok(left) = self.waiters_left.1.try_recv() {
            if let Some(job) = self.jobs.release_waiter(left.job, left.waiter) {
                self.cancelled(left.job, job, None);
            }
        }
    }

    /// The counters.
    pub fn stats(&self) -> &ProviderStats {
        &self.stats
    }

    /// The disk tier's counters (entries, bytes, hits, misses, evictions) as of its last
    /// operation; `None` when it is off or has not opened yet. Cheap: reads a snapshot.
    #[cfg(feature = "disk")]
    pub fn disk_stats(&self) -> Option<DiskStats> {
        self.disk.as_ref().and_then(|disk| disk.stats())
    }

    /// Jobs from the journal that this run followed again instead of submitting anew.
    pub fn resumed_jobs(&self) -> u64 {
        self.disk.as_ref().map_or(0, |disk| disk.resumed_jobs())
    }

    /// Removes every disk entry of the playthrough `playthrough_id` (`per_playthrough`
    /// results), for example when the player starts over. Runs off the frame; requests made
    /// after this call do not see the removed entries.
    pub fn clear_disk_playthrough(&mut self, playthrough_id: &str) {
        let session = PlaySession::new(playthrough_id, "");
        if let Some(scope) = CachingStrategy::PerPlaythrough.scope(&session) {
            self.disk_command(DiskCommand::ClearScope(scope));
        }
    }

    /// Removes every disk entry of the player `player_id` (`per_player` results).
    pub fn clear_disk_player(&mut self, player_id: &str) {
        let session = PlaySession::new("", player_id);
        if let Some(scope) = CachingStrategy::PerPlayer.scope(&session) {
            self.disk_command(DiskCommand::ClearScope(scope));
        }
    }

    /// Removes every disk entry cached with `strategy`.
    pub fn purge_disk_strategy(&mut self, strategy: CachingStrategy) {
        self.disk_command(DiskCommand::PurgeStrategy(strategy));
    }

    /// Removes every disk entry that the source named `source` (its
    /// [`name`](crate::source::AssetSource::name), as `"local_generator"` or `"pixsim"`)
    /// produced: entries are kept under the source's [`id`](crate::source::AssetSource::id),
    /// and every id of this plugin's sources of that name is purged, with the name itself (the
    /// default id). Entries an earlier version of a source made under another id are not known
    /// by name: they are no longer served, and go as the cache evicts. Runs off the frame;
    /// requests made after this call do not see the removed entries.
    pub fn purge_disk_source(&mut self, source: impl Into<String>) {
        self.disk_command(DiskCommand::PurgeSource {
            name: source.into(),
            ids: Vec::new(),
        });
    }

    fn disk_command(&mut self, command: DiskCommand) {
        if self.disk.is_some() {
            let _ = self.commands.send(RuntimeCommand::Disk(command));
        }
    }

    /// Jobs in flight.
    pub fn in_flight(&self) -> usize {
        self.jobs.len()
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
            self.spend.new_session();
        }
    }

    /// Generations the player's own (foreground) requests started this play session: what
    /// counts against the [`SpendCap`]. Prefetches, cache and pre-made hits and joined
    /// requests do not count.
    pub fn player_generations(&self) -> u64 {
        self.spend.this_session()
    }

    /// Forgets every completed result held in memory. Handles the game still holds keep their
    /// media.
    pub fn clear_memory(&mut self) {
        self.memory.clear();
    }

    /// Starts or joins the request for `entity` and returns its task.
    pub(crate) fn request_for_entity(
        &mut self,
        entity: Entity,
        request: AssetRequest,
        now: Duration,
    ) -> GenerationTask {
        let mut task = self.start(Some(entity), request, false);
        task.requested_at = now;
        task
    }

    fn start(
        &mut self,
        entity: Option<Entity>,
        request: AssetRequest,
        prefetch: bool,
    ) -> GenerationTask {
        self.start_holding(entity, None, request, prefetch)
    }

    /// Starts or joins `request`, held by `entity` or the direct callers, or by `waiter` (a
    /// future) when given.
    fn start_holding(
        &mut self,
        entity: Option<Entity>,
        waiter: Option<WaiterSlot>,
        request: AssetRequest,
        prefetch: bool,
    ) -> GenerationTask {
        if !prefetch {
            self.stats.requests += 1;
        }
        let key = self.key_for(&request);
        let cacheable = request.is_cacheable();
        let subject = Subject {
            key,
            kind: request.kind,
            scene_id: request.scene_id.clone(),
            choice_id: request.choice_id.clone(),
        };
        let kind = subject.kind;
        let mut task = GenerationTask {
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
        };
        let requested = |subject: &Subject, handle: MediaHandle, joined: bool| {
            Notice::Requested(AssetRequested {
                entity,
                key,
                kind,
                scene_id: subject.scene_id.clone(),
                choice_id: subject.choice_id.clone(),
                handle,
                joined,
                prefetch,
            })
        };
        self.notices.push(Notice::Analytics(
            subject.event(AnalyticsKind::Requested, prefetch),
        ));

        if cacheable && let Some(handle) = self.memory.touch(&key) {
            self.stats.memory_hits += 1;
            self.use_prefetch(key, kind);
            let mut served = subject.event(AnalyticsKind::ServedFromCache, prefetch);
            served.tier = Some(CacheTier::Memory);
            served.source = Some(SourceKind::Cached);
            served.elapsed = Some(Duration::ZERO);
            self.notices.push(Notice::Analytics(served));
            task.handle = handle.clone();
            task.status = TaskStatus::Completed;
            task.source = Some(SourceKind::Cached);
            task.origin = Some("memory".into());
            task.progress = 1.0;
            task.finished_after = Some(Duration::ZERO);
            self.notices.push(requested(&subject, handle.clone(), true));
            self.notices.push(Notice::result(
                &subject,
                handle,
                (entity, Duration::ZERO, prefetch),
                &Ok((SourceKind::Cached, "memory".into())),
            ));
            return task;
        }

        let holder = Holder {
            entity,
            since: Instant::now(),
            prefetch,
            waiter,
        };
        let Some(job_id) = self.jobs.joinable(&key).filter(|_| cacheable) else {
            return self.start_job(task, subject, holder, request, prefetch);
        };
        let (handle, promoted) = match self.jobs.join(job_id, holder) {
            Ok(joined) => joined,
            Err(holder) => {
                warn!("job {job_id:?} of {key:?} is joinable but gone; starting anew");
                return self.start_job(task, subject, holder, request, prefetch);
            }
        };
        self.stats.joined += 1;
        if promoted {
            let _ = self.commands.send(RuntimeCommand::LanesChanged);
        }
        task.handle = handle.clone();
        task.job = Some(job_id);
        self.notices.push(requested(&subject, handle, true));
        if !prefetch {
            self.use_prefetch(key, kind);
        }
        task
    }

    /// Starts a new job for `request`, held by `holder`.
    fn start_job(
        &mut self,
        mut task: GenerationTask,
        subject: Subject,
        holder: Holder,
        request: AssetRequest,
        prefetch: bool,
    ) -> GenerationTask {
        let (key, kind, entity) = (subject.key, subject.kind, holder.entity);
        let cacheable = request.is_cacheable();
        let job_id = self.jobs.next_id();
        let handle = self.reserve(kind);
        self.new_placeholders.push(handle.clone());
        let timeout = request
            .max_wait
            .unwrap_or(self.default_timeout)
            .min(LONGEST_WAIT);
        self.notices.push(Notice::Requested(AssetRequested {
            entity,
            key,
            kind,
            scene_id: subject.scene_id.clone(),
            choice_id: subject.choice_id.clone(),
            handle: handle.clone(),
            joined: false,
            prefetch,
        }));
        let lane = LaneFlag::new(!prefetch);
        let spec = JobSpec {
            spend: self.spend.clone(),
            job: job_id,
            key,
            request,
            session: self.session.clone(),
            timeout,
            lane: lane.clone(),
        };
        self.stats.jobs += 1;
        if self
            .commands
            .send(RuntimeCommand::Resolve(Box::new(spec)))
            .is_err()
        {
            // The runtime is gone (the app is shutting down): fail instead of waiting forever.
            task.status = TaskStatus::Failed;
            task.error = Some(AssetError::new(
                AssetErrorKind::Shutdown,
                "the asset provider's runtime has stopped",
            ));
            task.handle = handle;
            return task;
        }
        self.jobs.insert(
            job_id,
            Job {
                subject,
                handle: handle.clone(),
                joinable: cacheable,
                holders: vec![holder],
                lane,
                progress: 0.0,
                started: Instant::now(),
            },
        );
        task.handle = handle;
        task.job = Some(job_id);
        task
    }

    fn reserve(&self, kind: MediaKind) -> MediaHandle {
        match kind {
            MediaKind::Image | MediaKind::Video => {
                MediaHandle::Image(self.image_handles.reserve_handle().typed::<Image>())
            }
            #[cfg(feature = "audio")]
            MediaKind::Audio => {
                MediaHandle::Audio(self.audio_handles.reserve_handle().typed::<AudioSource>())
            }
            #[cfg(not(feature = "audio"))]
            MediaKind::Audio => {
                MediaHandle::Image(self.image_handles.reserve_handle().typed::<Image>())
            }
        }
    }

    /// Drops `entity`'s hold on `job` (`None`: the direct callers' holds). Cancels the job when
    /// nobody holds it any more.
    pub(crate) fn release(&mut self, job_id: JobId, entity: Option<Entity>) -> bool {
        match self.jobs.release(job_id, entity) {
            Some(job) => {
                self.cancelled(job_id, job, entity);
                true
            }
            None => false,
        }
    }

    /// Tells the runtime and the game that `job`, which nobody holds any more, is cancelled.
    fn cancelled(&mut self, job_id: JobId, job: Job, entity: Option<Entity>) {
        let _ = self.commands.send(RuntimeCommand::Cancel {
            job: job_id,
            key: job.subject.key,
        });
        self.stats.cancelled += 1;
        self.notices.push(Notice::Analytics(
            job.event(AnalyticsKind::Cancelled, Instant::now()),
        ));
        self.notices.push(Notice::Cancelled(AssetCancelled {
            entity,
            key: job.subject.key,
            kind: job.subject.kind,
        }));
    }

    /// Whether `entity` holds `job_id`, which is still in flight.
    pub(crate) fn is_held_by(&self, job_id: JobId, entity: Entity) -> bool {
        self.jobs.is_held_by(job_id, entity)
    }

    /// Placeholders for handles reserved since the last call.
    pub(crate) fn take_new_placeholders(&mut self) -> Vec<MediaHandle> {
        std::mem::take(&mut self.new_placeholders)
    }

    pub(crate) fn placeholders(&self) -> &Placeholders {
        &self.placeholders
    }

    pub(crate) fn events(&self) -> Receiver<RuntimeEvent> {
        self.events.clone()
    }

    pub(crate) fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    /// Images whose real media arrived since the last call.
    pub(crate) fn take_swapped_images(&mut self) -> Vec<AssetId<Image>> {
        std::mem::take(&mut self.swapped_images)
    }

    /// Whether the frame has anything to do for the provider (see `systems::has_work`).
    pub(crate) fn has_work(&self) -> bool {
        !self.events.is_empty()
            || !self.waiters_left.1.is_empty()
            || !self.new_placeholders.is_empty()
            || !self.notices.is_empty()
    }

    pub(crate) fn has_swapped_images(&self) -> bool {
        !self.swapped_images.is_empty()
    }

    /// Ends `job_id`: records the result, remembers completed media, and queues a message for
    /// each holder. Returns the job's handle and its holders' entities with their wait, or `None`
    /// if nobody wanted it any more.
    pub(crate) fn finish(
        &mut self,
        job_id: JobId,
        outcome: &Result<(SourceKind, String), AssetError>,
    ) -> Option<(MediaHandle, Vec<(Entity, Duration)>)> {
        let mut job = self.jobs.remove(job_id)?;
        let now = Instant::now();
        match outcome {
            Ok((source, _)) => match source {
                SourceKind::Cached => self.stats.cached += 1,
                SourceKind::PreMade => self.stats.pre_made += 1,
                SourceKind::Generated => self.stats.generated += 1,
                SourceKind::Placeholder => {}
            },
            Err(error) if error.kind() == AssetErrorKind::TimedOut => self.stats.timed_out += 1,
            Err(_) => self.stats.failed += 1,
        }
        if outcome.is_ok() && !job.is_background() {
            self.media_times.push(now.duration_since(job.started));
        }
        self.notices.extend(
            job_analytics(&job, outcome, now)
                .into_iter()
                .map(Notice::Analytics),
        );
        if outcome.is_ok() && job.joinable {
            self.memory.remember(job.subject.key, job.handle.clone());
        }
        if let (Ok(_), MediaHandle::Image(image)) = (outcome, &job.handle) {
            self.swapped_images.push(image.id());
        }
        let mut entities = Vec::new();
        for holder in std::mem::take(&mut job.holders) {
            let elapsed = now.duration_since(holder.since);
            if let Some(waiter) = holder.waiter {
                // Err: the future was dropped on its way here; its release will find no job.
                let _ = waiter.sender.send(match outcome {
                    Ok(_) => Ok(job.handle.clone()),
                    Err(error) => Err(error.clone()),
                });
            }
            if let Some(entity) = holder.entity {
                entities.push((entity, elapsed));
            }
            self.notices.push(Notice::result(
                &job.subject,
                job.handle.clone(),
                (holder.entity, elapsed, holder.prefetch),
                outcome,
            ));
        }
        Some((job.handle, entities))
    }

    /// The wait of each entity holding `job_id`, for progress updates.
    pub(crate) fn holder_waits(&self, job_id: JobId) -> Vec<(Entity, Duration)> {
        self.jobs.holder_waits(job_id, Instant::now())
    }
}

/// The analytics events of a job's end.
fn job_analytics(
    job: &Job,
    outcome: &Result<(SourceKind, String), AssetError>,
    now: Instant,
) -> Vec<AnalyticsEvent> {
    match outcome {
        Ok((source, origin)) => {
            let served = match source {
                SourceKind::Cached => {
                    let mut served = job.event(AnalyticsKind::ServedFromCache, now);
                    served.tier = Some(if origin.starts_with("disk cache") {
                        CacheTier::Disk
                    } else {
                        CacheTier::Backend
                    });
                    Some(served)
                }
                SourceKind::PreMade => Some(job.event(AnalyticsKind::ServedPreMade, now)),
                _ => None,
            };
            let mut completed = job.event(AnalyticsKind::Completed, now);
            completed.source = Some(*source);
            served
                .map(|mut served| {
                    served.source = Some(*source);
                    served
                })
                .into_iter()
                .chain([completed])
                .collect()
        }
        Err(error) => {
            let mut failed = job.event(
                match status_of(error) {
                    TaskStatus::TimedOut => AnalyticsKind::TimedOut,
                    TaskStatus::Cancelled => AnalyticsKind::Cancelled,
                    _ => AnalyticsKind::Failed,
                },
                now,
            );
            failed.error = Some(error.to_string());
            vec![failed]
        }
    }
}

/// The task status a failed job ends in.
pub(crate) fn status_of(error: &AssetError) -> TaskStatus {
    match error.kind() {
        AssetErrorKind::TimedOut => TaskStatus::TimedOut,
        AssetErrorKind::Cancelled => TaskStatus::Cancelled,
        _ => TaskStatus::Failed,
    }
}

impl std::fmt::Debug for AssetProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssetProvider")
            .field("session", &self.session)
            .field("in_flight", &self.jobs.len())
            .field("memory", &self.memory.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
