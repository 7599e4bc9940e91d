//! The plugin's own tokio runtime: requests arrive over a channel, sources resolve them, results
//! go back over another channel. Nothing here runs on the frame.

pub(crate) mod lanes;
pub(crate) mod spend;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bevy::log::warn;
use crossbeam_channel::{Receiver, Sender};
use futures_util::FutureExt;
use tokio::task::AbortHandle;

use crate::cache::tier::{DiskCommand, DiskTier};
use crate::chain::{GenerationGate, GenerationSlot, SourceChain, panic_message};
use crate::error::{AssetError, AssetErrorKind};
use crate::request::PlaySession;
use crate::request::{AssetRequest, RequestKey};
use crate::runtime::lanes::LanePermits;
use crate::source::{LaneFlag, ProgressReporter, SourceRequest};

pub(crate) use crate::chain::{Delivered, Resolved};

/// Identifies one job on the plugin's runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, bevy::reflect::Reflect)]
pub struct JobId(pub(crate) u64);

/// Where the frame sends work: the dispatch task on the runtime receives it. Sending never
/// blocks.
pub(crate) type CommandSender = tokio::sync::mpsc::UnboundedSender<RuntimeCommand>;

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
    Finished(JobId, Box<Result<Delivered, AssetError>>),
}

/// The runtime's threads, and what it runs on the disk tier at start.
#[derive(Clone, Debug)]
pub(crate) struct RuntimeConfig {
    pub worker_threads: usize,
    /// Run on the disk tier at start, once its journal is followed.
    pub disk_tasks: DiskTasks,
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

/// Blocking threads for disk reads and writes, beside the decoders.
const DISK_THREADS: usize = 4;

/// How long dropping the runtime waits for blocking work (disk writes) to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// Owns the tokio runtime, whose dispatch task feeds it. Dropping it stops it without waiting
/// for jobs in flight.
pub(crate) struct ProviderRuntime {
    runtime: Option<tokio::runtime::Runtime>,
    finishing: Arc<Finishing>,
}

impl ProviderRuntime {
    /// Starts the runtime over `chain`; results arrive on the returned receiver.
    pub fn start(
        chain: SourceChain,
        config: &RuntimeConfig,
    ) -> std::io::Result<(Self, CommandSender, Receiver<RuntimeEvent>)> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads.max(1))
            // Decodes are bounded by their own permits; the rest is disk I/O, which waits on
            // the disk more than it uses a core.
            .max_blocking_threads(chain.config().max_concurrent_decodes.max(1) + DISK_THREADS)
            .thread_name("asset-provider")
            .enable_time()
            .enable_io()
            .build()?;
        let (command_tx, command_rx) = tokio::sync::mpsc::unbounded_channel();
        let (event_tx, event_rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared {
            generation_permits: LanePermits::new(chain.config().max_concurrent_generations),
            finishing: Arc::default(),
            chain,
        });
        if let Some(disk) = shared.chain.disk().cloned() {
            let (shared, tasks) = (shared.clone(), config.disk_tasks.take());
            runtime.spawn(async move {
                shared.chain.recover().await;
                for task in tasks {
                    task(disk.clone()).await;
                }
            });
        }
        // A task, not a thread of its own: the jobs it spawns start on the worker it runs on,
        // so a request costs one thread wake-up between the frame and its job, not two.
        let finishing = shared.finishing.clone();
        runtime.spawn(dispatch(command_rx, event_tx, shared));
        Ok((
            Self {
                runtime: Some(runtime),
                finishing,
            },
            command_tx,
            event_rx,
        ))
    }
}

impl Drop for ProviderRuntime {
    fn drop(&mut self) {
        // A result the game already has is still being kept on disk: let it land, so media
        // that arrived just before the game quit is not paid for again at the next start.
        self.finishing.wait(SHUTDOWN_GRACE);
        if let Some(runtime) = self.runtime.take() {
            // Briefly, so disk writes in flight land and the cache directory is free for the
            // next app; jobs waiting on the network are dropped (their journal entries stay,
            // and the next start follows them).
            runtime.shutdown_timeout(SHUTDOWN_GRACE);
        }
    }
}

/// What every job on the runtime shares: the chain it resolves through and the generation
/// slots of both lanes.
struct Shared {
    chain: SourceChain,
    generation_permits: LanePermits,
    finishing: Arc<Finishing>,
}

/// Jobs whose result went to the frame and whose media is still going to the disk tier.
#[derive(Default)]
struct Finishing {
    count: std::sync::Mutex<usize>,
    done: std::sync::Condvar,
}

/// One job finishing; dropped when it has finished (or was dropped with the runtime).
struct FinishingJob(Arc<Finishing>);

impl Finishing {
    fn begin(self: &Arc<Self>) -> FinishingJob {
        if let Ok(mut count) = self.count.lock() {
            *count += 1;
        }
        FinishingJob(self.clone())
    }

    /// Waits until no job is finishing, for at most `limit`.
    fn wait(&self, limit: Duration) {
        let Ok(count) = self.count.lock() else {
            return;
        };
        let _ = self
            .done
            .wait_timeout_while(count, limit, |count| *count > 0);
    }
}

impl Drop for FinishingJob {
    fn drop(&mut self) {
        if let Ok(mut count) = self.0.count.lock() {
            *count = count.saturating_sub(1);
        }
        self.0.done.notify_all();
    }
}

/// Receives commands until every sender is gone, spawning a task per job.
async fn dispatch(
    mut commands: tokio::sync::mpsc::UnboundedReceiver<RuntimeCommand>,
    events: Sender<RuntimeEvent>,
    shared: Arc<Shared>,
) {
    let mut running: HashMap<JobId, AbortHandle> = HashMap::new();
    let mut prune_at = 64;
    let mut disk_commands_sent = 0u64;
    let disk_queue = disk_queue(&shared);
    while let Some(command) = commands.recv().await {
        match command {
            RuntimeCommand::Resolve(spec) => {
                let job = spec.job;
                let task = tokio::spawn(run_job_to_its_end(
                    shared.clone(),
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
                let shared = shared.clone();
                tokio::spawn(async move { shared.chain.cancel(key).await });
            }
            RuntimeCommand::LanesChanged => shared.generation_permits.wake(),
            RuntimeCommand::Disk(command) => {
                // Never waited for here: dispatch must not stall behind a slow disk. Jobs
                // sent from now on wait for it before they read the disk.
                if let Some(queue) = &disk_queue
                    && queue.send(command).is_ok()
                {
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

/// Where the game's disk commands queue, when there is a disk tier: they run one after
/// another, in the order the game sent them.
fn disk_queue(shared: &Arc<Shared>) -> Option<tokio::sync::mpsc::UnboundedSender<DiskCommand>> {
    shared.chain.disk()?;
    let (queue, mut commands) = tokio::sync::mpsc::unbounded_channel::<DiskCommand>();
    let shared = shared.clone();
    tokio::spawn(async move {
        while let Some(command) = commands.recv().await {
            shared.chain.run_disk_command(command).await;
        }
    });
    Some(queue)
}

/// Runs a job so that it always ends: a panic anywhere in it before its result is sent becomes
/// a failure, so the request does not wait forever and nobody joins a dead job.
async fn run_job_to_its_end(
    shared: Arc<Shared>,
    spec: JobSpec,
    disk_commands_before: u64,
    events: Sender<RuntimeEvent>,
) {
    let job = spec.job;
    let kind = spec.request.kind;
    let finished = Arc::new(AtomicBool::new(false));
    let run = run_job(
        shared,
        spec,
        disk_commands_before,
        events.clone(),
        finished.clone(),
    );
    if let Err(panic) = AssertUnwindSafe(run).catch_unwind().await {
        let message = panic_message(&*panic);
        if finished.load(Ordering::Acquire) {
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

/// One job through the chain: its result goes to the frame first, then what it made goes to
/// the disk tier.
async fn run_job(
    shared: Arc<Shared>,
    spec: JobSpec,
    disk_commands_before: u64,
    events: Sender<RuntimeEvent>,
    finished: Arc<AtomicBool>,
) {
    let job = spec.job;
    let _ = events.send(RuntimeEvent::Started(job));
    let progress_events = events.clone();
    let progress = ProgressReporter::new(move |fraction| {
        let _ = progress_events.send(RuntimeEvent::Progress(job, fraction));
    });
    let chain = &shared.chain;
    let request = chain
        .request(spec.key, spec.request, spec.session, progress, spec.lane)
        .await;
    let gate = JobGate {
        permits: &shared.generation_permits,
        job,
        spend: spec.spend,
        events: events.clone(),
    };
    let mut outcome = chain
        .resolve(&request, spec.timeout, disk_commands_before, &gate)
        .await;
    if let Err(error) = &outcome
        && error.kind() != AssetErrorKind::NoSource
    {
        warn!("request {:?} failed: {error}", request.key);
    }
    let store = outcome.as_mut().ok().and_then(Resolved::take_store);
    // Counted before the frame can see the result, so a game that quits on it waits for this.
    let _finishing = shared.finishing.begin();
    finished.store(true, Ordering::Release);
    let delivered = outcome.map(Resolved::deliver);
    let _ = events.send(RuntimeEvent::Finished(job, Box::new(delivered)));
    // After the frame has the media: the game never waits for the disk.
    chain.finish(&request, store).await;
}

/// A job's way to a generator: a slot in its lane's turn, the player's spend cap for the
/// foreground, and the frame told that the job may now cost money.
struct JobGate<'a> {
    permits: &'a LanePermits,
    job: JobId,
    /// The player's spend cap, spent when a foreground job asks a generator.
    spend: Arc<spend::SpendLedger>,
    events: Sender<RuntimeEvent>,
}

#[async_trait]
impl GenerationGate for JobGate<'_> {
    async fn enter(&self, request: &SourceRequest) -> Result<GenerationSlot<'_>, AssetError> {
        let permit = self.permits.acquire(&request.lane).await;
        let background = !request.lane.is_foreground();
        if !background {
            self.spend.start(Instant::now())?;
        }
        let _ = self.events.send(RuntimeEvent::GenerationStarted {
            job: self.job,
            key: request.key,
            kind: request.kind(),
            background,
        });
        Ok(Box::new(permit))
    }
}
