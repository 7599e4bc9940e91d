//! The plugin's own tokio runtime: requests arrive over a channel, sources resolve them, results
//! go back over another channel. Nothing here runs on the frame.

pub(crate) mod decode;
#[cfg(feature = "bake")]
pub(crate) mod direct;
pub(crate) mod lanes;
pub(crate) mod spend;

use std::any::Any;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bevy::log::{debug, warn};
use crossbeam_channel::{Receiver, Sender};
use futures_util::FutureExt;
use tokio::sync::{Semaphore, watch};
use tokio::task::AbortHandle;

use crate::cache::tier::{DiskCommand, DiskTier, ToStore};
use crate::error::{AssetError, AssetErrorKind};
use crate::request::PlaySession;
use crate::request::{AssetRequest, MediaLimits, RequestKey};
use crate::runtime::decode::{DecodedMedia, MediaDecoders};
use crate::runtime::lanes::LanePermits;
use crate::source::JobJournal;
use crate::source::LaneFlag;
use crate::source::{AssetSource, ProgressReporter, SourceKind, SourceRequest, SourcedMedia};

/// Called when a generator is about to be asked: reports it, or refuses it (the spend cap).
pub(crate) type GenerationStarted<'a> = dyn Fn() -> Result<(), AssetError> + Send + Sync + 'a;

/// Identifies one job on the plugin's runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, bevy::reflect::Reflect)]
pub struct JobId(pub(crate) u64);

/// Work for the runtime.
pub(crate) enum RuntimeCommand {
    Resolve(Box<JobSpec>),
    Cancel {
        job: JobId,
        key: RequestKey,
    },
    Disk(DiskCommand),
    /// A job's lane changed: waiting jobs look again.
    LanesChanged,
}

/// One job: resolve `request` within `timeout`.
pub(crate) struct JobSpec {
    pub job: JobId,
    pub key: RequestKey,
    pub request: AssetRequest,
    pub session: PlaySession,
    pub timeout: Duration,
    pub lane: LaneFlag,
    /// The player's spend cap, spent when a foreground job asks a generator.
    pub spend: Arc<spend::SpendLedger>,
}

/// What the runtime reports back to the frame.
pub(crate) enum RuntimeEvent {
    Started(JobId),
    /// A generator was asked: from here on the job may cost money. `background` when the job
    /// was a prefetch nobody had asked for yet.
    GenerationStarted {
        job: JobId,
        key: RequestKey,
        kind: crate::request::MediaKind,
        background: bool,
    },
    Progress(JobId, f32),
    Finished(JobId, Box<Result<Resolved, AssetError>>),
}

/// A job's media, decoded and ready to insert.
pub(crate) struct Resolved {
    pub media: DecodedMedia,
    pub source: SourceKind,
    pub origin: String,
    /// What the disk tier should keep, taken out before the result goes to the frame.
    store: Option<ToStore>,
}

/// Limits and threads of the runtime.
#[derive(Clone, Debug)]
pub(crate) struct RuntimeConfig {
    pub worker_threads: usize,
    pub max_concurrent_generations: usize,
    pub max_concurrent_decodes: usize,
    pub media_limits: MediaLimits,
    /// Nothing generated, no network: caches and pre-made only.
    pub offline: bool,
    /// Run on the disk tier at start, once its journal is followed.
    pub disk_tasks: DiskTasks,
    /// The app's add-ons' decoders.
    pub decoders: MediaDecoders,
}

/// Work on the disk tier: how an add-on reads or keeps what it stores there.
pub(crate) type DiskTask =
    Box<dyn FnOnce(Arc<DiskTier>) -> futures_util::future::BoxFuture<'static, ()> + Send>;

/// Disk work to run at start, taken by the runtime when it starts.
#[derive(Clone, Default)]
pub(crate) struct DiskTasks(Arc<std::sync::Mutex<Vec<DiskTask>>>);

impl DiskTasks {
    pub fn push(&self, task: DiskTask) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(task);
    }

    fn take(&self) -> Vec<DiskTask> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl std::fmt::Debug for DiskTasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.0.lock().map_or(0, |tasks| tasks.len());
        write!(f, "DiskTasks({count})")
    }
}

/// The ordered sources and the limits that apply while asking them.
struct SourceChain {
    sources: Vec<Arc<dyn AssetSource>>,
    /// Each source's [`id`](AssetSource::id), in the same order.
    ids: Vec<String>,
    generation_permits: LanePermits,
    decode_permits: Semaphore,
    decoders: Arc<MediaDecoders>,
    media_limits: MediaLimits,
    disk: Option<Arc<DiskTier>>,
    /// How many of the game's disk commands (purges) have been carried out; a job waits for
    /// those sent before it, so it never sees what they removed.
    disk_commands_done: watch::Sender<u64>,
    /// Offline mode: generators and network sources are skipped.
    offline: bool,
    /// Requests already warned about as missing offline, so each is named once.
    offline_warned: std::sync::Mutex<std::collections::HashSet<RequestKey>>,
}

/// Who served a request.
struct Served {
    media: SourcedMedia,
    kind: SourceKind,
    /// The source's name, when the disk tier should keep the result.
    keep_as: Option<String>,
    /// Already decoded (a disk hit is decoded while its bytes are checked).
    decoded: Option<DecodedMedia>,
    /// The name of the source that served it (`disk_cache` for a disk hit).
    source_name: String,
}

impl SourceChain {
    fn new(
        sources: Vec<Arc<dyn AssetSource>>,
        disk: Option<Arc<DiskTier>>,
        config: &RuntimeConfig,
    ) -> Self {
        Self {
            ids: sources
                .iter()
                .map(|source| source.id().into_owned())
                .collect(),
            sources,
            generation_permits: LanePermits::new(config.max_concurrent_generations),
            decode_permits: Semaphore::new(config.max_concurrent_decodes.max(1)),
            decoders: Arc::new(config.decoders.clone()),
            media_limits: config.media_limits,
            disk,
            disk_commands_done: watch::channel(0).0,
            offline: config.offline,
            offline_warned: Default::default(),
        }
    }

    /// The disk tier (joining a journalled job of the same key first), then each source in
    /// order; the first that serves wins.
    async fn resolve(
        &self,
        request: &SourceRequest,
        disk_commands_before: u64,
        generation_started: &GenerationStarted<'_>,
    ) -> Result<Served, AssetError> {
        if let Some(disk) = &self.disk {
            disk.join_resumed(request.key).await;
            let mut done = self.disk_commands_done.subscribe();
            let _ = done.wait_for(|done| *done >= disk_commands_before).await;
            // Offline, what is on disk is all there is, whichever source made it.
            let made_by =
                (!disk.serves_retired_sources() && !self.offline).then(|| self.made_by(request));
            let accepted = move |id: &str| {
                made_by
                    .as_ref()
                    .is_none_or(|ids| ids.iter().any(|ok| ok == id))
            };
            let (kind, limits) = (request.kind(), self.media_limits);
            let decoders = self.decoders.clone();
            let decoding = move |media: &SourcedMedia| decoders.decode(kind, media, &limits);
            match disk.get_with(request, accepted, decoding).await {
                Some((media, Ok(decoded))) => {
                    return Ok(Served {
                        media,
                        kind: SourceKind::Cached,
                        keep_as: None,
                        decoded: Some(decoded),
                        source_name: "disk_cache".to_owned(),
                    });
                }
                // Kept under other limits, say: made again rather than failing.
                Some((media, Err(error))) => debug!("{}: {error}", media.origin),
                None => {}
            }
        }
        let mut last_error = None;
        let mut skipped_generators = false;
        // A generation that failed is final: another generator standing in would hide a
        // rejected prompt or a broken backend behind different media. A generator that passes
        // (`Ok(None)`, say audio a backend cannot make) lets the next one try.
        let mut generation_failed = false;
        for source in &self.sources {
            let kind = source.kind();
            if self.offline && (kind == SourceKind::Generated || source.uses_network()) {
                continue;
            }
            if kind == SourceKind::Generated && !request.request.allow_generation {
                skipped_generators = true;
                continue;
            }
            if kind == SourceKind::Generated && generation_failed {
                continue;
            }
            if kind == SourceKind::Cached && !request.request.is_cacheable() {
                continue;
            }
            let _permit = if kind == SourceKind::Generated {
                let permit = self.generation_permits.acquire(&request.lane).await;
                if let Err(refused) = generation_started() {
                    // Refused by the spend cap: no generator is asked for this request.
                    generation_failed = true;
                    last_error = Some(refused);
                    continue;
                }
                Some(permit)
            } else {
                None
            };
            // A source that panics fails like one that returns an error; the job goes on.
            let resolved = AssertUnwindSafe(async { source.resolve(request).await })
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| {
                    Err(AssetError::generation(format!(
                        "source {} panicked: {}",
                        source.name(),
                        panic_message(&*panic)
                    )))
                });
            match resolved {
                Ok(Some(media)) => {
                    let kind = media.served_as.unwrap_or(kind);
                    let keep = kind != SourceKind::Cached && source.caches_results();
                    return Ok(Served {
                        media,
                        kind,
                        keep_as: keep.then(|| source.id().into_owned()),
                        decoded: None,
                        source_name: source.name().to_owned(),
                    });
                }
                Ok(None) => {}
                Err(error) => {
                    generation_failed |= kind == SourceKind::Generated;
                    debug!(
                        "source {} failed for {:?}: {error}",
                        source.name(),
                        request.key
                    );
                    last_error = Some(error);
                }
            }
        }
        if self.offline && last_error.is_none() {
            return Err(self.missing_offline(request));
        }
        Err(last_error.unwrap_or_else(|| {
            let names: Vec<&str> = self.sources.iter().map(|s| s.name()).collect();
            AssetError::no_source(if skipped_generators {
                format!(
                    "no source had {} media for this request (asked: {}) and generation is not \
                     allowed for it",
                    request.kind().as_str(),
                    names.join(", ")
                )
            } else {
                format!(
                    "no source had {} media for this request (asked: {})",
                    request.kind().as_str(),
                    names.join(", ")
                )
            })
        }))
    }

    /// The error of a request nothing cached or pre-made serves in offline mode, named in a
    /// warning the first time its key misses.
    fn missing_offline(&self, request: &SourceRequest) -> AssetError {
        let error = AssetError::no_source(format!(
            "offline: no cached or pre-made {} media for {} (key {})",
            request.kind().as_str(),
            describe(&request.request),
            request.key.short()
        ));
        let first = self
            .offline_warned
            .lock()
            .map_or(true, |mut warned| warned.insert(request.key));
        if first {
            warn!("{}; the placeholder stays", error.message());
        }
        error
    }

    /// The sources whose disk entries `request` may be served: those the chain would ask for
    /// it, up to the first generator that makes its kind (a later generator's media is not what
    /// this chain would make); every source of the chain when generation is not allowed.
    fn made_by(&self, request: &SourceRequest) -> Vec<String> {
        if !request.request.allow_generation {
            return self.ids.clone();
        }
        let kind = request.kind();
        let mut ids = Vec::new();
        for (source, id) in self.sources.iter().zip(&self.ids) {
            ids.push(id.clone());
            if source.kind() == SourceKind::Generated && source.handles(kind) {
                break;
            }
        }
        ids
    }

    /// The [`id`](AssetSource::id)s of the sources named `name`.
    fn ids_named(&self, name: &str) -> Vec<String> {
        self.sources
            .iter()
            .zip(&self.ids)
            .filter(|(source, _)| source.name() == name)
            .map(|(_, id)| id.clone())
            .collect()
    }

    async fn cancel(&self, key: RequestKey) {
        for source in &self.sources {
            source.cancel(key).await;
        }
    }
}

/// A request's context in a few words, for a log line: `scene "boat" choice "row_out" "a small
/// wooden rowboat…"`.
pub(crate) fn describe(request: &AssetRequest) -> String {
    const PROMPT_CHARS: usize = 48;
    let mut parts = Vec::new();
    let fields = [
        ("scene", &request.scene_id),
        ("choice", &request.choice_id),
        ("to", &request.to_scene_id),
        ("character", &request.character_id),
        ("location", &request.location_id),
        ("asset", &request.asset_id),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            parts.push(format!("{name} {value:?}"));
        }
    }
    if let Some(prompt) = &request.prompt {
        let mut short: String = prompt.chars().take(PROMPT_CHARS).collect();
        if prompt.chars().count() > PROMPT_CHARS {
            short.push('…');
        }
        parts.push(format!("{short:?}"));
    }
    if parts.is_empty() {
        "a request without context".to_owned()
    } else {
        parts.join(" ")
    }
}

/// Blocking threads for disk reads and writes, beside the decoders.
const DISK_THREADS: usize = 4;

/// How long dropping the runtime waits for blocking work (disk writes) to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// Owns the tokio runtime and the thread that feeds it. Dropping it stops both without waiting
/// for jobs in flight.
pub(crate) struct ProviderRuntime {
    dispatcher: Option<JoinHandle<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl ProviderRuntime {
    /// Starts the runtime; results arrive on the returned receiver.
    pub fn start(
        sources: Vec<Arc<dyn AssetSource>>,
        disk: Option<Arc<DiskTier>>,
        config: &RuntimeConfig,
    ) -> std::io::Result<(Self, Sender<RuntimeCommand>, Receiver<RuntimeEvent>)> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads.max(1))
            // Decodes are bounded by their own permits; the rest is disk I/O, which waits on
            // the disk more than it uses a core.
            .max_blocking_threads(config.max_concurrent_decodes.max(1) + DISK_THREADS)
            .thread_name("asset-provider")
            .enable_time()
            .enable_io()
            .build()?;
        let (command_tx, command_rx) = crossbeam_channel::unbounded();
        let (event_tx, event_rx) = crossbeam_channel::unbounded();
        let chain = Arc::new(SourceChain::new(sources, disk, config));
        if let Some(disk) = chain.disk.clone() {
            let sources = chain.sources.clone();
            let tasks = config.disk_tasks.take();
            let offline = config.offline;
            runtime.spawn(async move {
                if offline {
                    // Following a backend job would reach the network: its journal entry
                    // waits for the next start online.
                    disk.skip_recovery();
                } else {
                    disk.recover(&sources).await;
                }
                for task in tasks {
                    task(disk.clone()).await;
                }
            });
        }
        let handle = runtime.handle().clone();
        let dispatcher = std::thread::Builder::new()
            .name("asset-provider-dispatch".into())
            .spawn(move || dispatch(command_rx, event_tx, chain, handle))?;
        Ok((
            Self {
                dispatcher: Some(dispatcher),
                runtime: Some(runtime),
            },
            command_tx,
            event_rx,
        ))
    }
}

impl Drop for ProviderRuntime {
    fn drop(&mut self) {
        // The dispatcher ends once the provider's command sender, dropped before this, is gone.
        if let Some(dispatcher) = self.dispatcher.take() {
            let _ = dispatcher.join();
        }
        if let Some(runtime) = self.runtime.take() {
            // Briefly, so disk writes in flight land and the cache directory is free for the
            // next app; jobs waiting on the network are dropped (their journal entries stay,
            // and the next start follows them).
            runtime.shutdown_timeout(SHUTDOWN_GRACE);
        }
    }
}

/// Receives commands until every sender is gone, spawning a task per job.
fn dispatch(
    commands: Receiver<RuntimeCommand>,
    events: Sender<RuntimeEvent>,
    chain: Arc<SourceChain>,
    runtime: tokio::runtime::Handle,
) {
    let mut running: HashMap<JobId, AbortHandle> = HashMap::new();
    let mut prune_at = 64;
    let mut disk_commands_sent = 0u64;
    // Purges run one after another, in the order the game sent them.
    let (disk_queue, mut disk_commands) = tokio::sync::mpsc::unbounded_channel::<DiskCommand>();
    if let Some(disk) = chain.disk.clone() {
        let chain = chain.clone();
        runtime.spawn(async move {
            while let Some(command) = disk_commands.recv().await {
                disk.run(command).await;
                chain.disk_commands_done.send_modify(|done| *done += 1);
            }
        });
    }
    while let Ok(command) = commands.recv() {
        match command {
            RuntimeCommand::Resolve(spec) => {
                let job = spec.job;
                let task = runtime.spawn(run_job_to_its_end(
                    chain.clone(),
                    *spec,
                    disk_commands_sent,
                    events.clone(),
                ));
                running.insert(job, task.abort_handle());
            }
            RuntimeCommand::Cancel { job, key } => {
                // Dropping the job tells its source (a backend leaves or cancels its generation,
                // and keeps what a lost cancel race still delivers).
                if let Some(task) = running.remove(&job) {
                    task.abort();
                }
                let chain = chain.clone();
                runtime.spawn(async move { chain.cancel(key).await });
            }
            RuntimeCommand::LanesChanged => chain.generation_permits.wake(),
            RuntimeCommand::Disk(command) => {
                // A purge by name: entries are kept under the sources' ids.
                let command = match command {
                    DiskCommand::PurgeSource { name, .. } => DiskCommand::PurgeSource {
                        ids: chain.ids_named(&name),
                        name,
                    },
                    other => other,
                };
                // Never waited for here: the dispatcher must not stall behind a slow disk. Jobs
                // sent from now on wait for it before they read the disk.
                if chain.disk.is_some() && disk_queue.send(command).is_ok() {
                    disk_commands_sent += 1;
                }
            }
        }
        if running.len() >= prune_at {
            running.retain(|_, task| !task.is_finished());
            prune_at = (running.len() * 2).max(64);
        }
    }
}

/// What a panic carried, as text, without secrets a URL in it may hold.
fn panic_message(panic: &(dyn Any + Send)) -> String {
    let message = panic
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned());
    crate::error::without_url_secrets(&message)
}

/// Runs a job so that it always ends: a panic anywhere in it before its result is sent becomes
/// a failure, so the request does not wait forever and nobody joins a dead job.
async fn run_job_to_its_end(
    chain: Arc<SourceChain>,
    spec: JobSpec,
    disk_commands_before: u64,
    events: Sender<RuntimeEvent>,
) {
    let job = spec.job;
    let kind = spec.request.kind;
    let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let run = run_job(
        chain,
        spec,
        disk_commands_before,
        events.clone(),
        finished.clone(),
    );
    if let Err(panic) = AssertUnwindSafe(run).catch_unwind().await {
        let message = panic_message(&*panic);
        if finished.load(std::sync::atomic::Ordering::Acquire) {
            // The request already has its result; only keeping it on disk was lost.
            warn!("job {job:?} panicked after its result was sent: {message}");
            return;
        }
        let error =
            AssetError::generation(format!("the {} job panicked: {message}", kind.as_str()));
        warn!("job {job:?} failed: {error}");
        let _ = events.send(RuntimeEvent::Finished(job, Box::new(Err(error))));
    }
}

async fn run_job(
    chain: Arc<SourceChain>,
    spec: JobSpec,
    disk_commands_before: u64,
    events: Sender<RuntimeEvent>,
    finished: Arc<std::sync::atomic::AtomicBool>,
) {
    let job = spec.job;
    let _ = events.send(RuntimeEvent::Started(job));
    let progress_events = events.clone();
    let request = SourceRequest {
        key: spec.key,
        request: spec.request,
        session: spec.session,
        progress: ProgressReporter::new(move |fraction| {
            let _ = progress_events.send(RuntimeEvent::Progress(job, fraction));
        }),
        journal: match &chain.disk {
            Some(disk) => disk.journal().await,
            None => JobJournal::disabled(),
        },
        lane: spec.lane,
    };
    let started_events = events.clone();
    let (started_key, started_kind, started_lane) =
        (request.key, request.kind(), request.lane.clone());
    let spend = spec.spend;
    let generation_started = move || {
        let background = !started_lane.is_foreground();
        if !background {
            spend.start(Instant::now())?;
        }
        let _ = started_events.send(RuntimeEvent::GenerationStarted {
            job,
            key: started_key,
            kind: started_kind,
            background,
        });
        Ok(())
    };
    let started = Instant::now();
    let outcome = match tokio::time::timeout(
        spec.timeout,
        resolve_and_decode(&chain, &request, disk_commands_before, &generation_started),
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(_) => Err(AssetError::new(
            AssetErrorKind::TimedOut,
            format!(
                "no {} media after {:.1} s (max_wait)",
                request.kind().as_str(),
                started.elapsed().as_secs_f32()
            ),
        )),
    };
    if let Err(error) = &outcome
        && error.kind() != AssetErrorKind::NoSource
    {
        warn!("request {:?} failed: {error}", request.key);
    }
    let mut outcome = outcome;
    let store = outcome
        .as_mut()
        .ok()
        .and_then(|resolved| resolved.store.take());
    finished.store(true, std::sync::atomic::Ordering::Release);
    let _ = events.send(RuntimeEvent::Finished(job, Box::new(outcome)));
    // After the frame has the media: the game never waits for the disk.
    if let Some(disk) = &chain.disk {
        if let Some(store) = store {
            disk.put(&request, store).await;
        }
        request.journal.finish().await;
    }
}

async fn resolve_and_decode(
    chain: &SourceChain,
    request: &SourceRequest,
    disk_commands_before: u64,
    generation_started: &GenerationStarted<'_>,
) -> Result<Resolved, AssetError> {
    let served = chain
        .resolve(request, disk_commands_before, generation_started)
        .await?;
    let kind = request.kind();
    let origin = served.media.origin.clone();
    debug!(
        "{:?} served by {} ({origin})",
        request.key, served.source_name
    );
    if let Some(decoded) = served.decoded {
        return Ok(Resolved {
            media: decoded,
            source: served.kind,
            origin,
            store: None,
        });
    }
    let media = served.media;
    let _permit =
        chain.decode_permits.acquire().await.map_err(|_| {
            AssetError::new(AssetErrorKind::Shutdown, "the runtime is shutting down")
        })?;
    let (limits, decoders) = (chain.media_limits, chain.decoders.clone());
    let (decoded, media) =
        tokio::task::spawn_blocking(move || (decoders.decode(kind, &media, &limits), media))
            .await
            .map_err(|error| {
                let why = if error.is_panic() {
                    format!("panicked: {}", panic_message(&*error.into_panic()))
                } else {
                    format!("stopped: {error}")
                };
                AssetError::decode(format!("{origin}: decoding {} media {why}", kind.as_str()))
            })?;
    let decoded = decoded?;
    // Only media that decoded is kept: a bad file is never served from disk later.
    let store = served.keep_as.map(|source| ToStore { media, source });
    Ok(Resolved {
        media: decoded,
        source: served.kind,
        origin,
        store,
    })
}
