//! [`JobJournal`]: where a generator notes the backend jobs it submits, so that a game that
//! stops (or crashes) while a job runs follows that job after a restart instead of paying for it
//! again, and so that a job given up but finished anyway still lands in the disk tier.

use std::fmt;
use std::sync::{Arc, Mutex};

use bevy::log::warn;

use crate::error::AssetError;
use crate::request::PlaySession;
use crate::request::{AssetRequest, RequestKey};
use crate::source::SourcedMedia;

/// A submitted job as the journal keeps it: enough to follow it again and cache its result.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JournalRecord {
    /// The request's key.
    pub key: RequestKey,
    /// The source that submitted it (its [`id`](crate::source::AssetSource::id)).
    pub source: String,
    /// The backend's id for the job.
    pub generation_id: String,
    /// The request, to cache the result under the right kind, strategy and scope.
    pub request: AssetRequest,
    /// The session it was made in.
    pub session: PlaySession,
}

/// Keeps journal records; the disk tier is the one the plugin uses. Every method blocks on
/// the disk.
pub(crate) trait JournalStore: Send + Sync + 'static {
    /// Notes a submitted job, replacing the entry of its key.
    fn record(&self, record: &JournalRecord) -> Result<(), AssetError>;
    /// Forgets the entry of `key` if it is still `generation_id`'s.
    fn forget(&self, key: RequestKey, generation_id: &str) -> Result<(), AssetError>;
    /// Keeps `media`, the late result of `record`'s job, as the request's cached result (if it
    /// decodes), then forgets the entry.
    fn keep(&self, record: &JournalRecord, media: SourcedMedia) -> Result<(), AssetError>;
}

/// One request's view of the job journal, handed to sources in
/// [`SourceRequest::journal`](crate::source::SourceRequest::journal).
///
/// A source that submits work to a paid backend calls [`submitted`](Self::submitted) with the
/// backend's job id as soon as it has it, before acting on the answer. The plugin forgets the
/// entry when the request ends (after caching its result), so an entry outlives its job only
/// when the game stopped first; the next start then asks the source to
/// [`resume`](crate::source::AssetSource::resume) it. A source that gives a job up (the request
/// was cancelled) but learns later that it finished anyway hands the media to
/// [`finished_late`](Self::finished_late), and it is cached as if served. Without a disk tier
/// nothing is kept. Writes run on the blocking pool and never fail the request: a journal that
/// cannot be written is logged and the job goes on.
#[derive(Clone, Default)]
pub struct JobJournal {
    store: Option<Arc<dyn JournalStore>>,
    /// The job this request's source recorded last.
    recorded: Arc<Mutex<Option<JournalRecord>>>,
}

impl fmt::Debug for JobJournal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobJournal")
            .field("enabled", &self.store.is_some())
            .finish()
    }
}

impl JobJournal {
    /// A journal that keeps nothing.
    pub fn disabled() -> Self {
        Self::default()
    }

    #[cfg(feature = "disk")]
    pub(crate) fn new(store: Arc<dyn JournalStore>) -> Self {
        Self {
            store: Some(store),
            recorded: Arc::default(),
        }
    }

    fn last(&self) -> Option<JournalRecord> {
        self.recorded.lock().ok().and_then(|record| record.clone())
    }

    /// Whether records are kept.
    pub fn is_enabled(&self) -> bool {
        self.store.is_some()
    }

    /// Notes that `source` (its [`id`](crate::source::AssetSource::id)) submitted the job
    /// `generation_id` for `request`.
    pub async fn submitted(
        &self,
        source: &str,
        generation_id: &str,
        key: RequestKey,
        request: &AssetRequest,
        session: &PlaySession,
    ) {
        let Some(store) = self.store.clone() else {
            return;
        };
        let record = JournalRecord {
            key,
            source: source.to_owned(),
            generation_id: generation_id.to_owned(),
            request: request.clone(),
            session: session.clone(),
        };
        if let Ok(mut recorded) = self.recorded.lock() {
            *recorded = Some(record.clone());
        }
        let written = tokio::task::spawn_blocking(move || store.record(&record)).await;
        if let Ok(Err(error)) = written {
            warn!("could not journal job {generation_id}: {error}");
        }
    }

    /// Forgets the recorded job if it is `generation_id`: the backend says it ended, or it is
    /// left to someone else.
    pub async fn ended(&self, generation_id: &str) {
        let (Some(store), Some(record)) = (self.store.clone(), self.last()) else {
            return;
        };
        if record.generation_id != generation_id {
            return;
        }
        let id = generation_id.to_owned();
        let forgotten =
            tokio::task::spawn_blocking(move || store.forget(record.key, &record.generation_id))
                .await;
        if let Ok(Err(error)) = forgotten {
            warn!("could not clear the journal entry of job {id}: {error}");
        }
    }

    /// Forgets whatever job was recorded: the request ended with its result.
    pub(crate) async fn finish(&self) {
        if let Some(record) = self.last() {
            self.ended(&record.generation_id).await;
        }
    }

    /// Keeps `media`, which the recorded job delivered after the request gave it up, as the
    /// request's cached result (when it decodes), and forgets the job.
    pub async fn finished_late(&self, media: SourcedMedia) {
        let (Some(store), Some(record)) = (self.store.clone(), self.last()) else {
            return;
        };
        let id = record.generation_id.clone();
        let kept = tokio::task::spawn_blocking(move || store.keep(&record, media)).await;
        if let Ok(Err(error)) = kept {
            warn!("could not keep the late result of job {id}: {error}");
        }
    }
}
