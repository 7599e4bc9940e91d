//! The one path of a request: the disk tier (after a journalled job of the same key, which the
//! chain follows at start), then each source in order, the media decoded off the frame, and what
//! a source made kept on disk with the job's journal entry finished. The runtime drives it for
//! each job on its own threads; the bake drives it directly (`SourceChain::direct`), with no app
//! and no frame.

mod ask;
pub(crate) mod decode;
#[cfg(feature = "bake")]
mod direct;
mod disk;
mod recover;
mod resolve;

pub(crate) use ask::{GenerationGate, GenerationSlot, panic_message};
pub(crate) use resolve::{Delivered, Resolved};

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};

use crate::cache::tier::{DiskCommand, DiskTier};
use crate::chain::decode::MediaDecoders;
use crate::request::{AssetRequest, MediaLimits, PlaySession, RequestKey};
use crate::source::{AssetSource, JobJournal, LaneFlag, ProgressReporter, SourceRequest};

/// The limits that apply while a chain is asked.
#[derive(Clone, Debug)]
pub(crate) struct ChainConfig {
    /// Generator calls at once (the runtime's lanes share them; the bake runs as many requests).
    pub max_concurrent_generations: usize,
    pub max_concurrent_decodes: usize,
    pub media_limits: MediaLimits,
    /// Nothing generated, no network: caches and pre-made only.
    pub offline: bool,
    /// How long a request waits when it sets no `max_wait` (the provider keeps its own copy),
    /// and how long a journalled job is followed at start before requests for its key stop
    /// waiting for it.
    pub default_timeout: Duration,
    /// The app's add-ons' decoders (video's, say), asked before the built-in ones.
    pub decoders: Arc<MediaDecoders>,
}

/// The ordered sources over the disk tier, and the limits that apply while asking them.
pub(crate) struct SourceChain {
    sources: Vec<Arc<dyn AssetSource>>,
    /// Each source's [`id`](AssetSource::id), in the same order.
    ids: Vec<String>,
    config: ChainConfig,
    decode_permits: Semaphore,
    disk: Option<Arc<DiskTier>>,
    /// How many of the game's disk commands (purges) have been carried out; a job waits for
    /// those sent before it, so it never sees what they removed.
    disk_commands_done: watch::Sender<u64>,
    /// Requests already warned about as missing offline, so each is named once.
    offline_warned: Mutex<HashSet<RequestKey>>,
}

impl SourceChain {
    /// The chain of `sources`, in the order they are asked, over `disk`.
    pub fn new(
        sources: Vec<Arc<dyn AssetSource>>,
        disk: Option<Arc<DiskTier>>,
        config: ChainConfig,
    ) -> Self {
        Self {
            ids: sources
                .iter()
                .map(|source| source.id().into_owned())
                .collect(),
            sources,
            decode_permits: Semaphore::new(config.max_concurrent_decodes.max(1)),
            config,
            disk,
            disk_commands_done: watch::channel(0).0,
            offline_warned: Mutex::default(),
        }
    }

    /// The same chain without the sources `keep` refuses.
    #[cfg(feature = "bake")]
    #[must_use]
    pub fn retain_sources(self, keep: impl Fn(&dyn AssetSource) -> bool) -> Self {
        let sources = self
            .sources
            .into_iter()
            .filter(|source| keep(&**source))
            .collect();
        Self::new(sources, self.disk, self.config)
    }

    pub fn config(&self) -> &ChainConfig {
        &self.config
    }

    pub fn disk(&self) -> Option<&Arc<DiskTier>> {
        self.disk.as_ref()
    }

    /// `request` as its sources see it, with the disk tier's journal.
    pub async fn request(
        &self,
        key: RequestKey,
        request: AssetRequest,
        session: PlaySession,
        progress: ProgressReporter,
        lane: LaneFlag,
    ) -> SourceRequest {
        SourceRequest {
            key,
            request,
            session,
            progress,
            journal: match &self.disk {
                Some(disk) => disk.journal().await,
                None => JobJournal::disabled(),
            },
            lane,
        }
    }

    /// Carries out one of the game's disk commands (a purge by source name reaches the entries
    /// kept under the ids of the sources of that name), then lets the jobs sent after it read.
    pub async fn run_disk_command(&self, command: DiskCommand) {
        let Some(disk) = &self.disk else { return };
        let command = match command {
            DiskCommand::PurgeSource { name, .. } => DiskCommand::PurgeSource {
                ids: self.ids_named(&name),
                name,
            },
            other => other,
        };
        disk.run(command).await;
        self.disk_commands_done.send_modify(|done| *done += 1);
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

    /// Tells every source that `key`'s last holder went away.
    pub async fn cancel(&self, key: RequestKey) {
        for source in &self.sources {
            source.cancel(key).await;
        }
    }
}
