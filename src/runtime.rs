//! The plugin's own tokio runtime: requests arrive over a channel, sources resolve them, results
//! go back over another channel. Nothing here runs on the frame.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bevy::log::{debug, warn};
use crossbeam_channel::{Receiver, Sender};
use tokio::sync::Semaphore;
use tokio::task::AbortHandle;

use crate::decode::{DecodedMedia, decode};
use crate::error::{AssetError, AssetErrorKind};
use crate::journal::JobJournal;
use crate::request::{AssetRequest, RequestKey};
use crate::session::PlaySession;
use crate::source::{AssetSource, ProgressReporter, SourceKind, SourceRequest, SourcedMedia};
use crate::task::JobId;

/// Work for the runtime.
pub(crate) enum RuntimeCommand {
    Resolve(Box<JobSpec>),
    Cancel { job: JobId, key: RequestKey },
}

/// One job: resolve `request` within `timeout`.
pub(crate) struct JobSpec {
    pub job: JobId,
    pub key: RequestKey,
    pub request: AssetRequest,
    pub session: PlaySession,
    pub timeout: Duration,
}

/// What the runtime reports back to the frame.
pub(crate) enum RuntimeEvent {
    Started(JobId),
    Progress(JobId, f32),
    Finished(JobId, Box<Result<Resolved, AssetError>>),
}

/// A job's media, decoded and ready to insert.
pub(crate) struct Resolved {
    pub media: DecodedMedia,
    pub source: SourceKind,
    pub origin: String,
}

/// Limits and threads of the runtime.
#[derive(Clone, Debug)]
pub(crate) struct RuntimeConfig {
    pub worker_threads: usize,
    pub max_concurrent_generations: usize,
    pub max_concurrent_decodes: usize,
}

/// The ordered sources and the limits that apply while asking them.
struct SourceChain {
    sources: Vec<Arc<dyn AssetSource>>,
    generation_permits: Semaphore,
}

impl SourceChain {
    /// Asks each source in order; the first that serves wins.
    async fn resolve(
        &self,
        request: &SourceRequest,
    ) -> Result<(SourcedMedia, SourceKind), AssetError> {
        let mut last_error = None;
        let mut skipped_generators = false;
        // A generation that failed is final: another generator standing in would hide a
        // rejected prompt or a broken backend behind different media. A generator that passes
        // (`Ok(None)`, say audio a backend cannot make) lets the next one try.
        let mut generation_failed = false;
        for source in &self.sources {
            let kind = source.kind();
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
                Some(self.generation_permits.acquire().await.map_err(|_| {
                    AssetError::new(AssetErrorKind::Shutdown, "the runtime is shutting down")
                })?)
            } else {
                None
            };
            match source.resolve(request).await {
                Ok(Some(media)) => {
                    let served_as = media.served_as.unwrap_or(kind);
                    return Ok((media, served_as));
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
        Err(last_error.unwrap_or_else(|| {
            let names: Vec<&str> = self.sources.iter().map(|s| s.name()).collect();
            AssetError::not_found(if skipped_generators {
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

    async fn cancel(&self, key: RequestKey) {
        for source in &self.sources {
            source.cancel(key).await;
        }
    }
}

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
        config: &RuntimeConfig,
    ) -> std::io::Result<(Self, Sender<RuntimeCommand>, Receiver<RuntimeEvent>)> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads.max(1))
            .max_blocking_threads(config.max_concurrent_decodes.max(1))
            .thread_name("asset-provider")
            .enable_time()
            .enable_io()
            .build()?;
        let (command_tx, command_rx) = crossbeam_channel::unbounded();
        let (event_tx, event_rx) = crossbeam_channel::unbounded();
        let chain = Arc::new(SourceChain {
            sources,
            generation_permits: Semaphore::new(config.max_concurrent_generations.max(1)),
        });
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
            runtime.shutdown_background();
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
    while let Ok(command) = commands.recv() {
        match command {
            RuntimeCommand::Resolve(spec) => {
                let job = spec.job;
                let task = runtime.spawn(run_job(chain.clone(), *spec, events.clone()));
                running.insert(job, task.abort_handle());
            }
            RuntimeCommand::Cancel { job, key } => {
                if let Some(task) = running.remove(&job) {
                    task.abort();
                }
                let chain = chain.clone();
                runtime.spawn(async move { chain.cancel(key).await });
            }
        }
        if running.len() >= prune_at {
            running.retain(|_, task| !task.is_finished());
            prune_at = (running.len() * 2).max(64);
        }
    }
}

async fn run_job(chain: Arc<SourceChain>, spec: JobSpec, events: Sender<RuntimeEvent>) {
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
        journal: JobJournal::disabled(),
    };
    let started = Instant::now();
    let outcome =
        match tokio::time::timeout(spec.timeout, resolve_and_decode(&chain, &request)).await {
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
        && error.kind() != AssetErrorKind::NotFound
    {
        warn!("request {:?} failed: {error}", request.key);
    }
    let _ = events.send(RuntimeEvent::Finished(job, Box::new(outcome)));
}

async fn resolve_and_decode(
    chain: &SourceChain,
    request: &SourceRequest,
) -> Result<Resolved, AssetError> {
    let (media, source) = chain.resolve(request).await?;
    let kind = request.kind();
    let origin = media.origin.clone();
    let decoded = tokio::task::spawn_blocking(move || decode(kind, &media))
        .await
        .map_err(|error| AssetError::decode(format!("{origin}: the decoder stopped: {error}")))??;
    Ok(Resolved {
        media: decoded,
        source,
        origin,
    })
}
