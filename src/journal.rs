//! [`JobJournal`]: where a generator notes the backend jobs it submits, so that a game that
//! stops (or crashes) while a job runs follows that job after a restart instead of paying for it
//! again.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bevy::log::warn;

use crate::error::AssetError;
use crate::request::{AssetRequest, RequestKey};
use crate::session::PlaySession;

/// A submitted job as the journal keeps it: enough to follow it again and cache its result.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JournalRecord {
    /// The request's key.
    pub key: RequestKey,
    /// The source that submitted it (its [`name`](crate::source::AssetSource::name)).
    pub source: String,
    /// The backend's id for the job.
    pub generation_id: String,
    /// The request, to cache the result under the right kind, strategy and scope.
    pub request: AssetRequest,
    /// The session it was made in.
    pub session: PlaySession,
}

/// Keeps journal records; the disk tier is the one the plugin uses.
pub(crate) trait JournalStore: Send + Sync + 'static {
    fn record(&self, record: &JournalRecord) -> Result<(), AssetError>;
}

/// One request's view of the job journal, handed to sources in
/// [`SourceRequest::journal`](crate::source::SourceRequest::journal).
///
/// A source that submits work to a paid backend calls [`submitted`](Self::submitted) with the
/// backend's job id as soon as it has it, before acting on the answer. The plugin clears the
/// entry when the request ends (after caching its result), so an entry outlives its job only
/// when the game stopped first; the next start then asks the source to
/// [`resume`](crate::source::AssetSource::resume) it. Without a disk tier nothing is kept.
/// Writes run on the blocking pool and never fail the request: a journal that cannot be
/// written is logged and the job goes on.
#[derive(Clone, Default)]
pub struct JobJournal {
    store: Option<Arc<dyn JournalStore>>,
    /// Whether this request's source recorded a job, so the plugin knows to clear it.
    recorded: Arc<AtomicBool>,
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

    pub(crate) fn new(store: Arc<dyn JournalStore>) -> Self {
        Self {
            store: Some(store),
            recorded: Arc::default(),
        }
    }

    /// Whether a job was recorded through this journal.
    pub(crate) fn was_recorded(&self) -> bool {
        self.recorded.load(Ordering::Relaxed)
    }

    /// Whether records are kept.
    pub fn is_enabled(&self) -> bool {
        self.store.is_some()
    }

    /// Notes that `source` submitted the job `generation_id` for `request`.
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
        self.recorded.store(true, Ordering::Relaxed);
        let record = JournalRecord {
            key,
            source: source.to_owned(),
            generation_id: generation_id.to_owned(),
            request: request.clone(),
            session: session.clone(),
        };
        let written = tokio::task::spawn_blocking(move || store.record(&record)).await;
        if let Ok(Err(error)) = written {
            warn!("could not journal job {generation_id}: {error}");
        }
    }
}
