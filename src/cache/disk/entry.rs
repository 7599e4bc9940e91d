//! What goes into the disk cache and what comes out: entries, journal entries and the counters.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::request::{CachingStrategy, MediaKind, RequestKey};

/// Media bytes and what they are, to store with `DiskCache::put`.
#[derive(Clone)]
pub struct NewEntry {
    /// The encoded bytes (PNG, WAV, ...).
    pub bytes: Arc<[u8]>,
    /// The media kind.
    pub kind: MediaKind,
    /// The MIME type of the bytes.
    pub mime: String,
    /// The request's caching strategy: decides how long the entry is kept.
    /// [`CachingStrategy::Always`] entries are not stored.
    pub strategy: CachingStrategy,
    /// Who may be served the entry, as [`CachingStrategy::scope`] gives it (a playthrough or
    /// player); `None` for everyone.
    pub scope: Option<String>,
    /// The identity of the source that produced the bytes: the plugin stores its
    /// [`AssetSource::id`](crate::source::AssetSource::id), which is its name unless the
    /// source says otherwise.
    pub source: String,
    /// The generation job's id, when a generator made them.
    pub generation_id: Option<String>,
    /// The pre-made asset's id, when they are one.
    pub asset_id: Option<String>,
}

impl NewEntry {
    /// An entry of `bytes` with no scope, generation id or asset id.
    pub fn new(
        bytes: impl Into<Arc<[u8]>>,
        kind: MediaKind,
        mime: impl Into<String>,
        strategy: CachingStrategy,
        source: impl Into<String>,
    ) -> Self {
        Self {
            bytes: bytes.into(),
            kind,
            mime: mime.into(),
            strategy,
            scope: None,
            source: source.into(),
            generation_id: None,
            asset_id: None,
        }
    }

    /// Sets who may be served the entry, as [`CachingStrategy::scope`] gives it.
    pub fn scope(mut self, scope: Option<String>) -> Self {
        self.scope = scope;
        self
    }

    /// Sets the generation job's id.
    #[cfg(test)]
    pub fn generation_id(mut self, id: impl Into<String>) -> Self {
        self.generation_id = Some(id.into());
        self
    }

    /// Sets the pre-made asset's id.
    #[cfg(test)]
    pub fn asset_id(mut self, id: impl Into<String>) -> Self {
        self.asset_id = Some(id.into());
        self
    }
}

impl fmt::Debug for NewEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewEntry")
            .field("bytes", &self.bytes.len())
            .field("kind", &self.kind)
            .field("mime", &self.mime)
            .field("strategy", &self.strategy)
            .field("scope", &self.scope)
            .field("source", &self.source)
            .field("generation_id", &self.generation_id)
            .field("asset_id", &self.asset_id)
            .finish()
    }
}

/// A stored entry as `DiskCache::get` serves it: verified bytes and where they came from.
#[derive(Clone)]
pub struct CachedEntry {
    /// The bytes, as they were put.
    pub bytes: Arc<[u8]>,
    /// The media kind.
    pub kind: MediaKind,
    /// The MIME type of the bytes.
    pub mime: String,
    /// The length of the bytes.
    pub size: u64,
    /// The caching strategy the entry was stored under.
    pub strategy: CachingStrategy,
    /// The identity of the source that produced the bytes, as [`NewEntry::source`].
    pub source: String,
    /// The generation job's id, when a generator made them.
    pub generation_id: Option<String>,
    /// The pre-made asset's id, when they are one.
    pub asset_id: Option<String>,
    /// When the entry was stored.
    pub created: SystemTime,
}

impl fmt::Debug for CachedEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedEntry")
            .field("size", &self.size)
            .field("kind", &self.kind)
            .field("mime", &self.mime)
            .field("strategy", &self.strategy)
            .field("source", &self.source)
            .field("generation_id", &self.generation_id)
            .field("asset_id", &self.asset_id)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

/// What the cache holds, and counters since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Entries in the index.
    pub entries: u64,
    /// Bytes of the blobs on disk (identical bytes under several keys count once).
    pub bytes: u64,
    /// Reads that returned an entry.
    pub hits: u64,
    /// Reads that returned nothing (missing, expired, another scope, or damaged).
    pub misses: u64,
    /// Entries evicted to stay under the size cap.
    pub evictions: u64,
    /// Entries evicted because their blob was missing or did not match its SHA-256.
    pub corrupt_evicted: u64,
    /// Entries removed because they had expired.
    pub expired_swept: u64,
}

/// A generation job submitted and not yet finished (see `DiskCache::journal_record_details`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    /// The request the job is for.
    pub key: RequestKey,
    /// The generation backend's id of the job.
    pub generation_id: String,
    /// When the job was recorded.
    pub submitted_at: SystemTime,
    /// What was recorded with it to follow it again, if anything.
    pub details: Option<String>,
}
