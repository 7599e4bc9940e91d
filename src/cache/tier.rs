//! The disk tier as the chain uses it: the [`DiskCache`] opened off the frame on first use,
//! reads and writes on the blocking pool, and the job journal with the jobs followed from it at
//! start (the chain asks the sources to follow them). Any failure to use the directory is logged
//! once and the plugin goes on memory-only.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bevy::log::{info, warn};
use tokio::sync::{OnceCell, watch};

pub(crate) use crate::cache::commands::{DiskCommand, MediaCheck, ToStore};
use crate::cache::{DiskCache, DiskCacheConfig, DiskStats, NewEntry};
use crate::error::AssetError;
use crate::request::RequestKey;
use crate::source::{
    JobJournal, JournalRecord, JournalStore, SourceKind, SourceRequest, SourcedMedia,
};

pub(crate) struct DiskTier {
    config: DiskCacheConfig,
    /// Whether media decodes (within the plugin's limits): only such media is kept, as only
    /// such media is served.
    check: MediaCheck,
    cache: OnceCell<Option<DiskCache>>,
    /// Set after a failed write (a full disk): no more writes this run.
    read_only: AtomicBool,
    warned_write: AtomicBool,
    /// The latest stats, for the frame to read without touching the cache's locks.
    snapshot: Arc<StatsSnapshot>,
    /// Journalled jobs being followed again; a request for the same key waits for them.
    resuming: Mutex<HashMap<RequestKey, watch::Receiver<bool>>>,
    /// Flips to `true` once the journal has been read, so no request slips past a resume.
    recovered: watch::Sender<bool>,
    resumed_jobs: AtomicU64,
}

impl DiskTier {
    pub fn new(config: DiskCacheConfig, check: MediaCheck) -> Self {
        Self {
            config,
            check,
            cache: OnceCell::new(),
            read_only: AtomicBool::new(false),
            warned_write: AtomicBool::new(false),
            snapshot: Arc::default(),
            resuming: Mutex::new(HashMap::new()),
            recovered: watch::channel(false).0,
            resumed_jobs: AtomicU64::new(0),
        }
    }

    /// Whether entries of sources no longer in the chain may be served.
    pub fn serves_retired_sources(&self) -> bool {
        self.config.serves_retired_sources()
    }

    /// The open cache, or `None` when the directory cannot be used (warned once).
    async fn cache(&self) -> Option<DiskCache> {
        self.cache
            .get_or_init(|| async {
                let config = self.config.clone();
                let directory = config.path().to_owned();
                let opened = tokio::task::spawn_blocking(move || DiskCache::open(config)).await;
                match opened {
                    Ok(Ok(cache)) => {
                        info!("disk cache at {}", directory.display());
                        Some(cache)
                    }
                    Ok(Err(error)) => {
                        warn!("disk cache off, keeping results in memory only: {error}");
                        None
                    }
                    Err(error) => {
                        warn!(
                            "disk cache off: opening {} stopped: {error}",
                            directory.display()
                        );
                        None
                    }
                }
            })
            .await
            .clone()
    }

    /// Runs `work` on the cache on the blocking pool, then refreshes the stats snapshot.
    async fn with_cache<T: Send + 'static>(
        &self,
        work: impl FnOnce(&DiskCache) -> Result<T, AssetError> + Send + 'static,
    ) -> Option<Result<T, AssetError>> {
        let cache = self.cache().await?;
        let snapshot = self.snapshot.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let outcome = work(&cache);
            snapshot.refresh(&cache);
            outcome
        })
        .await;
        Self::joined(outcome)
    }

    /// Like [`with_cache`](Self::with_cache), for a read the frame is waiting for: on the
    /// plugin's runtime the work runs on this very thread (its other tasks move to another),
    /// so a disk hit does not wait for a blocking-pool thread to wake and then for this one.
    async fn read_cache<T: Send + 'static>(
        &self,
        work: impl FnOnce(&DiskCache) -> Result<T, AssetError> + Send + 'static,
    ) -> Option<Result<T, AssetError>> {
        use tokio::runtime::{Handle, RuntimeFlavor};
        if Handle::current().runtime_flavor() != RuntimeFlavor::MultiThread {
            return self.with_cache(work).await;
        }
        let cache = self.cache().await?;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            tokio::task::block_in_place(|| {
                let outcome = work(&cache);
                self.snapshot.refresh(&cache);
                outcome
            })
        }));
        Some(outcome.unwrap_or_else(|_| Err(AssetError::io("a disk cache read panicked"))))
    }

    fn joined<T>(
        outcome: Result<Result<T, AssetError>, tokio::task::JoinError>,
    ) -> Option<Result<T, AssetError>> {
        match outcome {
            Ok(outcome) => Some(outcome),
            Err(error) => Some(Err(AssetError::io(format!(
                "the disk cache stopped: {error}"
            )))),
        }
    }

    /// The stats as of the last disk operation (`None` before the cache opened or when off).
    pub fn stats(&self) -> Option<DiskStats> {
        self.snapshot.latest()
    }

    /// Journalled jobs followed again since start.
    pub fn resumed_jobs(&self) -> u64 {
        self.resumed_jobs.load(Ordering::Relaxed)
    }

    /// A journal for one request: records go to the cache's journal.
    pub async fn journal(&self) -> JobJournal {
        match self.cache().await {
            Some(cache) => JobJournal::new(Arc::new(DiskJournal {
                cache,
                snapshot: self.snapshot.clone(),
                check: self.check.clone(),
            })),
            None => JobJournal::disabled(),
        }
    }

    /// Waits for start-up recovery, then for a resumed job of the same key, if any.
    pub async fn join_resumed(&self, key: RequestKey) {
        let mut recovered = self.recovered.subscribe();
        let _ = recovered.wait_for(|done| *done).await;
        let resuming = self
            .resuming
            .lock()
            .ok()
            .and_then(|resuming| resuming.get(&key).cloned());
        if let Some(mut done) = resuming {
            let _ = done.wait_for(|done| *done).await;
        }
    }

    /// The request's media from disk, if an entry for its key and scope is there, intact, and
    /// made by a source whose [`id`](AssetSource::id) `made_by` accepts; with what `with` made of
    /// it (decoded media), on the same blocking thread and while the bytes are checked.
    pub async fn get_with<T: Send + 'static>(
        &self,
        request: &SourceRequest,
        made_by: impl Fn(&str) -> bool + Send + 'static,
        with: impl FnOnce(&SourcedMedia) -> T + Send + 'static,
    ) -> Option<(SourcedMedia, T)> {
        if !request.request.is_cacheable() || !request.request.prefer_cached {
            return None;
        }
        let key = request.key;
        let scope = request.request.strategy.scope(&request.session);
        let found = self
            .read_cache(move |cache| {
                cache.get_made_by_with(key, scope.as_deref(), made_by, move |entry| {
                    let media = media_of(entry);
                    let made = with(&media);
                    (media, made)
                })
            })
            .await?;
        match found {
            Ok(Some((_, served))) => Some(served),
            Ok(None) => None,
            Err(error) => {
                warn!("disk cache read of {key:?} failed: {error}");
                None
            }
        }
    }

    /// Keeps `store` for the request; a failed write turns writing off for this run.
    pub async fn put(&self, request: &SourceRequest, store: ToStore) {
        if self.read_only.load(Ordering::Relaxed) || !request.request.is_cacheable() {
            return;
        }
        let key = request.key;
        let entry = new_entry(&request.request, &request.session, store);
        if let Some(Err(error)) = self.with_cache(move |cache| cache.put(key, entry)).await {
            self.read_only.store(true, Ordering::Relaxed);
            if !self.warned_write.swap(true, Ordering::Relaxed) {
                warn!("disk cache write failed, keeping new results in memory only: {error}");
            }
        }
    }

    /// Forgets the journal entry of `key` whatever job it names.
    pub async fn forget_job(&self, key: RequestKey) {
        if let Some(Err(error)) = self
            .with_cache(move |cache| cache.journal_finish(key))
            .await
        {
            warn!("could not clear the journal entry of {key:?}: {error}");
        }
    }

    /// Every choice count kept, for prediction.
    pub async fn choice_counts(&self) -> Vec<(String, String, u64)> {
        match self.with_cache(|cache| cache.choice_counts()).await {
            Some(Ok(counts)) => counts,
            Some(Err(error)) => {
                warn!("could not read the choice counts: {error}");
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    /// Runs a purge the game asked for, or records a choice.
    pub async fn run(&self, command: DiskCommand) {
        if let DiskCommand::RecordChoice(graph, edge) = command {
            if let Some(Err(error)) = self
                .with_cache(move |cache| cache.record_choice(&graph, &edge))
                .await
            {
                warn!("could not record a choice: {error}");
            }
            return;
        }
        let what = format!("{command:?}");
        let removed = self
            .with_cache(move |cache| match command {
                DiskCommand::ClearScope(scope) => cache.clear_scope(&scope),
                DiskCommand::PurgeStrategy(strategy) => cache.purge_strategy(strategy),
                DiskCommand::PurgeSource { name, ids } => {
                    let mut removed = cache.purge_source(&name)?;
                    for id in ids.iter().filter(|id| **id != name) {
                        removed += cache.purge_source(id)?;
                    }
                    Ok(removed)
                }
                DiskCommand::RecordChoice(..) => Ok(0),
            })
            .await;
        match removed {
            Some(Ok(count)) => info!("disk cache {what}: {count} entries removed"),
            Some(Err(error)) => warn!("disk cache {what} failed: {error}"),
            None => {}
        }
    }

    /// Lets requests read the disk: the journal has been read and its jobs that can be followed
    /// are registered (or, offline, left journalled for a later start).
    pub fn mark_recovered(&self) {
        self.recovered.send_replace(true);
    }

    /// The jobs the journal lists, each with its record (`None` when it cannot be read).
    pub async fn journalled_jobs(&self) -> Vec<(RequestKey, Option<JournalRecord>)> {
        let pending = match self.with_cache(|cache| cache.journal_pending()).await {
            Some(Ok(pending)) => pending,
            Some(Err(error)) => {
                warn!("could not read the job journal: {error}");
                Vec::new()
            }
            None => Vec::new(),
        };
        pending
            .into_iter()
            .map(|entry| {
                let record = entry
                    .details
                    .as_deref()
                    .and_then(|details| serde_json::from_str::<JournalRecord>(details).ok());
                (entry.key, record)
            })
            .collect()
    }

    /// Notes that the journalled job of `key` is being followed: requests for the key wait
    /// until [`end_resume`](Self::end_resume).
    pub fn begin_resume(&self, key: RequestKey) -> watch::Sender<bool> {
        let (done, waiting) = watch::channel(false);
        if let Ok(mut resuming) = self.resuming.lock() {
            resuming.insert(key, waiting);
        }
        self.resumed_jobs.fetch_add(1, Ordering::Relaxed);
        done
    }

    /// The journalled job of `key` is no longer followed: requests for it go on.
    pub fn end_resume(&self, key: RequestKey, done: watch::Sender<bool>) {
        if let Ok(mut resuming) = self.resuming.lock() {
            resuming.remove(&key);
        }
        done.send_replace(true);
    }

    /// Keeps the media a followed job delivered as the request's result, if it decodes (as
    /// only such media is served); the error says why it did not.
    pub async fn keep_resumed(
        &self,
        request: &SourceRequest,
        media: SourcedMedia,
        source: String,
    ) -> Result<(), AssetError> {
        let kind = request.kind();
        let (checked, check) = (media.clone(), self.check.clone());
        tokio::task::spawn_blocking(move || check(kind, &checked))
            .await
            .map_err(|error| AssetError::decode(format!("checking it stopped: {error}")))??;
        self.put(request, ToStore { media, source }).await;
        Ok(())
    }

    /// Forgets the journal entry of `key` if it is still the job `generation_id`'s.
    pub async fn finish_job(&self, key: RequestKey, generation_id: String) {
        if let Some(Err(error)) = self
            .with_cache(move |cache| cache.journal_finish_job(key, &generation_id))
            .await
        {
            warn!("could not clear the journal entry of {key:?}: {error}");
        }
    }
}

/// What an entry serves: its bytes, as a cache hit with the entry's provenance.
fn media_of(entry: &crate::cache::CachedEntry) -> SourcedMedia {
    SourcedMedia::new(
        entry.bytes.clone(),
        entry.mime.clone(),
        format!("disk cache ({})", entry.source),
    )
    .served_as(SourceKind::Cached)
    .with_backend_ids(entry.generation_id.clone(), entry.asset_id.clone())
}

/// The disk entry for `store`, served to `request`'s scope.
fn new_entry(
    request: &crate::request::AssetRequest,
    session: &crate::request::PlaySession,
    store: ToStore,
) -> NewEntry {
    let media = store.media;
    let mut entry = NewEntry::new(
        media.bytes,
        request.kind,
        media.mime,
        request.strategy,
        store.source,
    )
    .scope(request.strategy.scope(session));
    entry.generation_id = media.generation_id;
    entry.asset_id = media.asset_id;
    entry
}

/// The stats as of the latest disk operation, for the frame: it reads a copy and never waits
/// for the cache (whose locks are held across disk I/O).
#[derive(Default)]
struct StatsSnapshot {
    /// Held while reading and storing, so refreshes happen one after another: the one stored
    /// last was read last, after every operation that finished before it. Only blocking
    /// threads take it.
    refreshing: Mutex<()>,
    latest: Mutex<Option<DiskStats>>,
}

impl StatsSnapshot {
    /// Reads `cache`'s stats now (on the blocking pool, after an operation).
    fn refresh(&self, cache: &DiskCache) {
        let _one_at_a_time = self.refreshing.lock();
        let stats = cache.stats();
        if let Ok(mut latest) = self.latest.lock() {
            *latest = Some(stats);
        }
    }

    fn latest(&self) -> Option<DiskStats> {
        self.latest.lock().ok().and_then(|latest| *latest)
    }
}

/// The journal half of the cache, and the check what it keeps must pass.
struct DiskJournal {
    cache: DiskCache,
    snapshot: Arc<StatsSnapshot>,
    check: MediaCheck,
}

impl JournalStore for DiskJournal {
    fn record(&self, record: &JournalRecord) -> Result<(), AssetError> {
        let details = serde_json::to_string(record)
            .map_err(|error| AssetError::invalid_data(format!("journal record: {error}")))?;
        self.cache
            .journal_record_details(record.key, &record.generation_id, Some(&details))
    }

    fn forget(&self, key: RequestKey, generation_id: &str) -> Result<(), AssetError> {
        self.cache
            .journal_finish_job(key, generation_id)
            .map(|_| ())
    }

    fn keep(&self, record: &JournalRecord, media: SourcedMedia) -> Result<(), AssetError> {
        // Kept only if it decodes, as a served result would be.
        (self.check)(record.request.kind, &media)?;
        if record.request.is_cacheable() {
            let store = ToStore {
                media,
                source: record.source.clone(),
            };
            let kept = self.cache.put(
                record.key,
                new_entry(&record.request, &record.session, store),
            );
            self.snapshot.refresh(&self.cache);
            kept?;
        }
        self.forget(record.key, &record.generation_id)
    }
}
