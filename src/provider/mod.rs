//! The [`AssetProvider`] resource: the one place a game asks for media.

mod messages;
mod placeholder;
pub(crate) mod systems;
mod task;

pub use messages::{AssetCancelled, AssetFailed, AssetReady, AssetRequested, RequestAsset};
pub(crate) use placeholder::Placeholders;
pub use task::{GenerationTask, JobId, MediaHandle, TaskStatus};

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy::asset::AssetHandleProvider;
use bevy::prelude::*;
use crossbeam_channel::{Receiver, Sender};

#[cfg(feature = "audio")]
use bevy::audio::AudioSource;

use crate::cache::DiskStats;
use crate::cache::tier::{DiskCommand, DiskTier};
use crate::error::{AssetError, AssetErrorKind};
use crate::observe::{AnalyticsEvent, AnalyticsKind, CacheTier};
use crate::request::PlaySession;
use crate::request::{AssetRequest, CachingStrategy, LONGEST_WAIT, MediaKind, RequestKey};
use crate::runtime::lanes::LaneFlag;
use crate::runtime::{JobSpec, ProviderRuntime, RuntimeCommand, RuntimeEvent};
use crate::source::SourceKind;

/// Counters of what the provider has done since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq, Reflect)]
pub struct ProviderStats {
    /// Requests made.
    pub requests: u64,
    /// Requests that joined an identical request already in flight.
    pub joined: u64,
    /// Requests served at once from the memory tier.
    pub memory_hits: u64,
    /// Jobs served by a cache source on the runtime (for example a disk cache).
    pub cached: u64,
    /// Jobs served by a pre-made asset.
    pub pre_made: u64,
    /// Jobs served by a generator.
    pub generated: u64,
    /// Jobs sent to the runtime.
    pub jobs: u64,
    /// Jobs that failed.
    pub failed: u64,
    /// Jobs that timed out.
    pub timed_out: u64,
    /// Jobs cancelled because nobody held them any more.
    pub cancelled: u64,
    /// Jobs that reached a generator (foreground or prefetch).
    pub generations_started: u64,
    /// Prefetches started ([`AssetProvider::prefetch`]).
    pub prefetched: u64,
    /// Foreground requests that found their media prefetched, ready or in flight.
    pub prefetch_used: u64,
    /// Prefetches that reached a generator and were abandoned unused.
    pub prefetch_wasted: u64,
}

/// One holder of a job: an entity's task, a caller of [`AssetProvider::request`], or a
/// prefetch.
struct Holder {
    entity: Option<Entity>,
    since: Instant,
    prefetch: bool,
}

/// A job on the runtime and everybody waiting for it.
struct Job {
    key: RequestKey,
    kind: MediaKind,
    handle: MediaHandle,
    joinable: bool,
    holders: Vec<Holder>,
    lane: LaneFlag,
    progress: f32,
    started: Instant,
    scene_id: Option<String>,
    choice_id: Option<String>,
}

/// A prefetched key not yet used or given up.
#[derive(Clone, Copy, Debug, Default)]
struct PrefetchRecord {
    generation_started: bool,
}

/// How many recent times to real media the percentiles are taken over.
const MEDIA_TIME_WINDOW: usize = 256;

/// Completed media kept for the session, so repeated requests are answered on the frame.
struct MemoryEntry {
    handle: MediaHandle,
    last_used: u64,
}

/// Something to tell the game at the next flush.
pub(crate) enum Notice {
    Requested(AssetRequested),
    Ready(AssetReady),
    Failed(AssetFailed),
    Cancelled(AssetCancelled),
    Analytics(AnalyticsEvent),
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
#[derive(Resource)]
pub struct AssetProvider {
    // Declared before `runtime`: dropping it first lets the runtime's dispatcher end.
    commands: Sender<RuntimeCommand>,
    events: Receiver<RuntimeEvent>,
    // Owned only to be dropped with the provider, which stops the runtime's threads.
    _runtime: ProviderRuntime,
    image_handles: AssetHandleProvider,
    #[cfg(feature = "audio")]
    audio_handles: AssetHandleProvider,
    placeholders: Placeholders,
    session: PlaySession,
    /// The session the provider and the [`PlaySession`] resource last agreed on: tells which
    /// of the two changed since.
    synced_session: PlaySession,
    /// Direct [`request`](Self::request) calls since the provider and the resource last agreed.
    direct_since_sync: u32,
    default_timeout: Duration,
    memory_capacity: usize,
    next_job: u64,
    jobs: HashMap<JobId, Job>,
    joinable: HashMap<RequestKey, JobId>,
    memory: HashMap<RequestKey, MemoryEntry>,
    memory_clock: u64,
    new_placeholders: Vec<MediaHandle>,
    notices: Vec<Notice>,
    swapped_images: Vec<AssetId<Image>>,
    stats: ProviderStats,
    disk: Option<Arc<DiskTier>>,
    prefetches: HashMap<RequestKey, PrefetchRecord>,
    /// Jobs in the background lane, counted as they change so the frame never scans jobs.
    background_jobs: usize,
    media_times: VecDeque<Duration>,
    choice_counts: HashMap<(String, String), u64>,
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
            session: PlaySession::default(),
            synced_session: PlaySession::default(),
            direct_since_sync: 0,
            default_timeout: parts.default_timeout,
            memory_capacity: parts.memory_capacity,
            next_job: 0,
            jobs: HashMap::new(),
            joinable: HashMap::new(),
            memory: HashMap::new(),
            memory_clock: 0,
            new_placeholders: Vec::new(),
            notices: Vec::new(),
            swapped_images: Vec::new(),
            stats: ProviderStats::default(),
            disk: parts.disk,
            prefetches: HashMap::new(),
            background_jobs: 0,
            media_times: VecDeque::new(),
            choice_counts: HashMap::new(),
        }
    }

    /// Requests media; returns its handle at once. The handle shows the placeholder (or the real
    /// media, if the memory tier has it) and gets the real media when a source delivers it.
    ///
    /// The request is held until it completes; use [`cancel`](Self::cancel) to give it up.
    pub fn request(&mut self, request: AssetRequest) -> MediaHandle {
        self.direct_since_sync = self.direct_since_sync.saturating_add(1);
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
            || self.memory.contains_key(&key)
            || self.joinable.contains_key(&key)
            || self.prefetches.contains_key(&key)
        {
            return key;
        }
        self.stats.prefetched += 1;
        self.prefetches.insert(key, PrefetchRecord::default());
        self.start(None, request, true);
        key
    }

    /// Gives up the prefetch of `key`: its job is cancelled unless a foreground request holds
    /// it too or it is at least `keep_if_progress` done (0 to 1; such a job finishes into the
    /// memory tier). A prefetch that reached a generator and was never used counts as wasted.
    /// Returns whether a job was cancelled.
    pub fn cancel_prefetch(&mut self, key: &RequestKey, keep_if_progress: f32) -> bool {
        let Some(record) = self.prefetches.remove(key) else {
            return false;
        };
        let job_id = self.joinable.get(key).copied();
        let mut cancelled = false;
        if let Some(job_id) = job_id
            && let Some(job) = self.jobs.get_mut(&job_id)
            && job.progress < keep_if_progress
        {
            job.holders.retain(|holder| !holder.prefetch);
            if job.holders.is_empty() {
                cancelled = self.release(job_id, None);
            }
        }
        if record.generation_started {
            self.stats.prefetch_wasted += 1;
            let kind = self
                .jobs
                .get(&job_id.unwrap_or(JobId(u64::MAX)))
                .map_or(MediaKind::Image, |job| job.kind);
            let mut event = AnalyticsEvent::new(AnalyticsKind::PrefetchWasted, *key, kind);
            event.prefetch = true;
            self.notices.push(Notice::Analytics(event));
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
            .contains_key(key)
            .then(|| self.status(key).unwrap_or(TaskStatus::Cancelled))
    }

    /// Prefetch jobs in flight that no foreground request holds yet.
    pub fn prefetches_in_flight(&self) -> usize {
        self.background_jobs
    }

    /// The 50th and 95th percentile of the time from request to real media over recent
    /// foreground jobs.
    pub fn time_to_media(&self) -> Option<(Duration, Duration)> {
        if self.media_times.is_empty() {
            return None;
        }
        let mut times: Vec<Duration> = self.media_times.iter().copied().collect();
        times.sort_unstable();
        let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
        Some((at(0.5), at(0.95)))
    }

    /// How often players took choice `edge` of scene graph `graph`, this run and (with the disk
    /// tier) every run before.
    pub fn choice_count(&self, graph: &str, edge: &str) -> u64 {
        self.choice_counts
            .get(&(graph.to_owned(), edge.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Counts a player taking choice `edge` of `graph`, and keeps the count on disk.
    pub fn record_choice(&mut self, graph: &str, edge: &str) {
        *self
            .choice_counts
            .entry((graph.to_owned(), edge.to_owned()))
            .or_default() += 1;
        self.disk_command(DiskCommand::RecordChoice(graph.to_owned(), edge.to_owned()));
    }

    pub(crate) fn add_choice_counts(&mut self, counts: Vec<(String, String, u64)>) {
        for (graph, edge, count) in counts {
            *self.choice_counts.entry((graph, edge)).or_default() += count;
        }
    }

    pub(crate) fn set_progress(&mut self, job_id: JobId, fraction: f32) {
        if let Some(job) = self.jobs.get_mut(&job_id) {
            job.progress = fraction;
        }
    }

    pub(crate) fn generation_started(
        &mut self,
        job_id: JobId,
        key: RequestKey,
        kind: MediaKind,
        background: bool,
    ) {
        let Some(job) = self.jobs.get(&job_id) else {
            if background {
                // A prefetch given up before this frame heard it had reached a generator: it
                // was wasted all the same.
                self.stats.generations_started += 1;
                self.stats.prefetch_wasted += 1;
                let mut event = AnalyticsEvent::new(AnalyticsKind::PrefetchWasted, key, kind);
                event.prefetch = true;
                self.notices.push(Notice::Analytics(event));
            }
            return;
        };
        self.stats.generations_started += 1;
        let prefetch = !job.lane.is_foreground();
        if let Some(record) = self.prefetches.get_mut(&job.key) {
            record.generation_started = true;
        }
        let mut event = AnalyticsEvent::new(AnalyticsKind::GenerationStarted, job.key, job.kind);
        event.scene_id = job.scene_id.clone();
        event.choice_id = job.choice_id.clone();
        event.prefetch = prefetch;
        event.elapsed = Some(job.started.elapsed());
        self.notices.push(Notice::Analytics(event));
    }

    /// Counts `key` as used if it was prefetched.
    fn use_prefetch(&mut self, key: RequestKey, kind: MediaKind) {
        if self.prefetches.remove(&key).is_some() {
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
        self.memory.get(key).map(|entry| entry.handle.clone())
    }

    /// Whether `request` would be answered with real media at once (the memory tier has it).
    pub fn is_available(&self, request: &AssetRequest) -> bool {
        request.is_cacheable() && self.memory.contains_key(&self.key_for(request))
    }

    /// Where the request with `key` stands: in flight, completed (in memory), or unknown.
    pub fn status(&self, key: &RequestKey) -> Option<TaskStatus> {
        if self.joinable.contains_key(key) {
            Some(TaskStatus::Pending)
        } else if self.memory.contains_key(key) {
            Some(TaskStatus::Completed)
        } else {
            None
        }
    }

    /// Gives up the requests made on the provider directly for `key`. The job is cancelled if no
    /// entity's task still holds it. Returns whether a job was cancelled.
    pub fn cancel(&mut self, key: &RequestKey) -> bool {
        let Some(&job) = self.joinable.get(key) else {
            return false;
        };
        self.release(job, None)
    }

    /// The counters.
    pub fn stats(&self) -> &ProviderStats {
        &self.stats
    }

    /// The disk tier's counters (entries, bytes, hits, misses, evictions) as of its last
    /// operation; `None` when it is off or has not opened yet. Cheap: reads a snapshot.
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

    /// Removes every disk entry that the source named `source` produced.
    pub fn purge_disk_source(&mut self, source: impl Into<String>) {
        self.disk_command(DiskCommand::PurgeSource(source.into()));
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
    /// in this system or any later one, through any path, is keyed with it. The [`PlaySession`]
    /// resource is updated to match at the plugin's next step (before the next request from an
    /// entity, message or prediction, and at the start and end of each frame).
    ///
    /// This is the way to change sessions in a system that also requests media directly with
    /// [`request`](Self::request): a change of the resource reaches the provider only at the
    /// plugin's next step (see [`PlaySession`]).
    pub fn set_session(&mut self, session: PlaySession) {
        self.session = session;
    }

    /// Forgets every completed result held in memory. Handles the game still holds keep their
    /// media.
    pub fn clear_memory(&mut self) {
        self.memory.clear();
    }

    /// Brings the provider and the [`PlaySession`] resource together: whichever changed since
    /// they last agreed wins (the resource, if both did). Returns the session the resource
    /// should now hold, if it must change.
    pub(crate) fn sync_session(&mut self, resource: &PlaySession) -> Option<PlaySession> {
        let update = if *resource != self.synced_session {
            // The game changed the resource.
            if self.direct_since_sync > 0 {
                warn_once!(
                    "the PlaySession resource changed while AssetProvider::request was called \
                     directly: requests made after the change in the same frame used the \
                     previous session; change sessions with AssetProvider::set_session in \
                     systems that request directly"
                );
            }
            self.session = resource.clone();
            None
        } else if self.session != *resource {
            // The game called `set_session`.
            Some(self.session.clone())
        } else {
            None
        };
        self.synced_session = self.session.clone();
        self.direct_since_sync = 0;
        update
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
        if !prefetch {
            self.stats.requests += 1;
        }
        let key = self.key_for(&request);
        let kind = request.kind;
        let cacheable = request.is_cacheable();
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
        let requested = |handle: MediaHandle, joined: bool| AssetRequested {
            entity,
            key,
            kind,
            scene_id: request.scene_id.clone(),
            choice_id: request.choice_id.clone(),
            handle,
            joined,
            prefetch,
        };
        let analytics = |what: AnalyticsKind| {
            let mut event = AnalyticsEvent::new(what, key, kind);
            event.scene_id = request.scene_id.clone();
            event.choice_id = request.choice_id.clone();
            event.prefetch = prefetch;
            event
        };
        self.notices
            .push(Notice::Analytics(analytics(AnalyticsKind::Requested)));

        if cacheable && let Some(handle) = self.touch_memory(&key) {
            self.stats.memory_hits += 1;
            self.use_prefetch(key, kind);
            let mut served = analytics(AnalyticsKind::ServedFromCache);
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
            self.notices
                .push(Notice::Requested(requested(handle.clone(), true)));
            self.notices.push(Notice::Ready(AssetReady {
                entity,
                key,
                kind,
                source: SourceKind::Cached,
                origin: "memory".into(),
                handle,
                elapsed: Duration::ZERO,
                prefetch,
            }));
            return task;
        }

        let holder = Holder {
            entity,
            since: Instant::now(),
            prefetch,
        };
        if cacheable
            && let Some(&job_id) = self.joinable.get(&key)
            && let Some(job) = self.jobs.get_mut(&job_id)
        {
            self.stats.joined += 1;
            job.holders.push(holder);
            if !prefetch && !job.lane.is_foreground() {
                // The player wants it now: it stops waiting behind the foreground.
                job.lane.promote();
                self.background_jobs -= 1;
                let _ = self.commands.send(RuntimeCommand::LanesChanged);
            }
            task.handle = job.handle.clone();
            task.job = Some(job_id);
            self.notices
                .push(Notice::Requested(requested(job.handle.clone(), true)));
            if !prefetch {
                self.use_prefetch(key, kind);
            }
            return task;
        }

        let job_id = JobId(self.next_job);
        self.next_job += 1;
        let handle = self.reserve(kind);
        self.new_placeholders.push(handle.clone());
        let timeout = request
            .max_wait
            .unwrap_or(self.default_timeout)
            .min(LONGEST_WAIT);
        self.notices
            .push(Notice::Requested(requested(handle.clone(), false)));
        let lane = LaneFlag::new(!prefetch);
        let (scene_id, choice_id) = (request.scene_id.clone(), request.choice_id.clone());
        let spec = JobSpec {
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
                key,
                kind,
                handle: handle.clone(),
                joinable: cacheable,
                holders: vec![holder],
                lane,
                progress: 0.0,
                started: Instant::now(),
                scene_id,
                choice_id,
            },
        );
        if cacheable {
            self.joinable.insert(key, job_id);
        }
        if prefetch {
            self.background_jobs += 1;
        }
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

    fn touch_memory(&mut self, key: &RequestKey) -> Option<MediaHandle> {
        self.memory_clock += 1;
        let clock = self.memory_clock;
        self.memory.get_mut(key).map(|entry| {
            entry.last_used = clock;
            entry.handle.clone()
        })
    }

    fn remember(&mut self, key: RequestKey, handle: MediaHandle) {
        if self.memory_capacity == 0 {
            return;
        }
        if self.memory.len() >= self.memory_capacity && !self.memory.contains_key(&key) {
            // Least recently used goes; a scan is fine at the sizes a memory tier has.
            if let Some(oldest) = self
                .memory
                .iter()
                .min_by_key(|(_, entry)| entry.last_used)
                .map(|(key, _)| *key)
            {
                self.memory.remove(&oldest);
            }
        }
        self.memory_clock += 1;
        self.memory.insert(
            key,
            MemoryEntry {
                handle,
                last_used: self.memory_clock,
            },
        );
    }

    /// Drops `entity`'s hold on `job` (`None`: the direct callers' holds). Cancels the job when
    /// nobody holds it any more.
    pub(crate) fn release(&mut self, job_id: JobId, entity: Option<Entity>) -> bool {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return false;
        };
        job.holders.retain(|holder| holder.entity != entity);
        if !job.holders.is_empty() {
            return false;
        }
        let job = self.jobs.remove(&job_id).expect("the job was just found");
        if job.joinable {
            self.joinable.remove(&job.key);
        }
        if !job.lane.is_foreground() {
            self.background_jobs -= 1;
        }
        let _ = self.commands.send(RuntimeCommand::Cancel {
            job: job_id,
            key: job.key,
        });
        self.stats.cancelled += 1;
        let mut cancelled = AnalyticsEvent::new(AnalyticsKind::Cancelled, job.key, job.kind);
        cancelled.scene_id = job.scene_id.clone();
        cancelled.choice_id = job.choice_id.clone();
        cancelled.prefetch = !job.lane.is_foreground();
        cancelled.elapsed = Some(job.started.elapsed());
        self.notices.push(Notice::Analytics(cancelled));
        self.notices.push(Notice::Cancelled(AssetCancelled {
            key: job.key,
            kind: job.kind,
        }));
        true
    }

    /// Whether `entity` holds `job_id`, which is still in flight.
    pub(crate) fn is_held_by(&self, job_id: JobId, entity: Entity) -> bool {
        self.jobs.get(&job_id).is_some_and(|job| {
            job.holders
                .iter()
                .any(|holder| holder.entity == Some(entity))
        })
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
        let job = self.jobs.remove(&job_id)?;
        if job.joinable {
            self.joinable.remove(&job.key);
        }
        if !job.lane.is_foreground() {
            self.background_jobs -= 1;
        }
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
        let foreground = job.lane.is_foreground();
        if outcome.is_ok() && foreground {
            if self.media_times.len() == MEDIA_TIME_WINDOW {
                self.media_times.pop_front();
            }
            self.media_times.push_back(now.duration_since(job.started));
        }
        self.notices.extend(
            job_analytics(&job, outcome, now)
                .into_iter()
                .map(Notice::Analytics),
        );
        if let Ok(_) = outcome
            && job.joinable
        {
            self.remember(job.key, job.handle.clone());
        }
        if let (Ok(_), MediaHandle::Image(image)) = (outcome, &job.handle) {
            self.swapped_images.push(image.id());
        }
        let mut entities = Vec::new();
        for holder in &job.holders {
            let elapsed = now.duration_since(holder.since);
            if let Some(entity) = holder.entity {
                entities.push((entity, elapsed));
            }
            self.notices.push(match outcome {
                Ok((source, origin)) => Notice::Ready(AssetReady {
                    entity: holder.entity,
                    key: job.key,
                    kind: job.kind,
                    source: *source,
                    origin: origin.clone(),
                    handle: job.handle.clone(),
                    elapsed,
                    prefetch: holder.prefetch,
                }),
                Err(error) => Notice::Failed(AssetFailed {
                    entity: holder.entity,
                    key: job.key,
                    kind: job.kind,
                    status: status_of(error),
                    error: error.clone(),
                    elapsed,
                    prefetch: holder.prefetch,
                }),
            });
        }
        Some((job.handle, entities))
    }

    /// The wait of each entity holding `job_id`, for progress updates.
    pub(crate) fn holder_waits(&self, job_id: JobId) -> Vec<(Entity, Duration)> {
        let now = Instant::now();
        self.jobs
            .get(&job_id)
            .map(|job| {
                job.holders
                    .iter()
                    .filter_map(|h| h.entity.map(|e| (e, now.duration_since(h.since))))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The analytics events of a job's end.
fn job_analytics(
    job: &Job,
    outcome: &Result<(SourceKind, String), AssetError>,
    now: Instant,
) -> Vec<AnalyticsEvent> {
    let event = |kind: AnalyticsKind| {
        let mut event = AnalyticsEvent::new(kind, job.key, job.kind);
        event.scene_id = job.scene_id.clone();
        event.choice_id = job.choice_id.clone();
        event.prefetch = !job.lane.is_foreground();
        event.elapsed = Some(now.duration_since(job.started));
        event
    };
    match outcome {
        Ok((source, origin)) => {
            let mut served = match source {
                SourceKind::Cached => {
                    let mut served = event(AnalyticsKind::ServedFromCache);
                    served.tier = Some(if origin.starts_with("disk cache") {
                        CacheTier::Disk
                    } else {
                        CacheTier::Backend
                    });
                    Some(served)
                }
                SourceKind::PreMade => Some(event(AnalyticsKind::ServedPreMade)),
                _ => None,
            };
            let mut completed = event(AnalyticsKind::Completed);
            completed.source = Some(*source);
            if let Some(served) = served.as_mut() {
                served.source = Some(*source);
            }
            served.into_iter().chain([completed]).collect()
        }
        Err(error) => {
            let mut failed = event(match status_of(error) {
                TaskStatus::TimedOut => AnalyticsKind::TimedOut,
                TaskStatus::Cancelled => AnalyticsKind::Cancelled,
                _ => AnalyticsKind::Failed,
            });
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
