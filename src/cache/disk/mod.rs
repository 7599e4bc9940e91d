//! A persistent, integrity-checked store for media bytes and pending generation jobs.
//!
//! [`DiskCache`] keeps each result as a content-addressed blob (`blobs/ab/<sha256>`, so identical
//! bytes under several keys are stored once) and an index row in an embedded database
//! (`index.redb`) saying what the bytes are, who may be served them and until when. A job journal
//! in the same database remembers generation jobs submitted but not yet finished, so they can be
//! picked up after a restart.
//!
//! Crash safety: a blob is written to `tmp/`, synced and renamed into place before its index row
//! is committed, so a row never points at a partial blob. What a crash can leave behind (a
//! temporary file, a blob without a row, a row whose blob is gone) is cleaned on the next
//! [`open`](DiskCache::open) or caught on the next read; a blob is checked against its row's hash
//! before its bytes are first served, so damaged bytes are evicted, never returned.
//!
//! The files: `entry` (what goes in and comes out), `index` (opening the database), `read` (an
//! entry read and checked), `journal` (jobs in flight), `choices` (players' choice counts),
//! `files` (the blobs and the directory), `row` (the index's rows); this file writes, evicts
//! and keeps the size cap.
//!
//! Every method blocks on file I/O: the disk tier calls them from blocking threads, never from
//! a frame.

mod choices;
mod config;
mod entry;
mod files;
mod index;
mod journal;
mod read;
mod row;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_crash;
#[cfg(test)]
mod tests_directory;
#[cfg(test)]
mod tests_rows;

use choices::CHOICES;
pub(crate) use config::Clock;
pub use config::{CACHE_DIR_ENV, DEFAULT_MAX_BYTES, DiskCacheConfig, VerifyReads};
pub use entry::DiskStats;
pub(crate) use entry::{CachedEntry, JournalEntry, NewEntry};
use index::open_index;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::error::AssetError;
use crate::files::sha256_hex;
use crate::request::{CachingStrategy, RequestKey};
use files::Layout;
use row::{IndexRow, add_ms, to_ms};

/// Request key → [`IndexRow`] as JSON.
const ENTRIES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("entries");
/// Request key → [`JournalRow`] as JSON.
const JOURNAL: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("journal");

/// Last-use times are written to the index this many at a time (and when the cache closes): they
/// only order evictions, so a crash that loses a few costs nothing but order.
const TOUCHES_PER_COMMIT: usize = 64;

/// A persistent cache of media bytes on disk, with an index and a job journal.
///
/// Cheap to clone (clones share one open cache), `Send` and `Sync`. Only one `DiskCache` may
/// have a directory open at a time, in any process; opening it again fails with an
/// [`Io`](crate::error::AssetErrorKind::Io) error until the first is dropped.
#[derive(Clone)]
pub(crate) struct DiskCache {
    inner: Arc<Inner>,
}

struct Inner {
    layout: Layout,
    db: Database,
    max_bytes: u64,
    clock: Clock,
    verify_reads: VerifyReads,
    /// Mirrors the index; held across every change to it so a blob is never deleted while a put
    /// of the same bytes is between writing it and committing its row.
    state: Mutex<State>,
    /// Blobs whose SHA-256 has been checked since open.
    verified: Mutex<HashSet<String>>,
    counters: Counters,
    /// Makes temporary file names unique within the process.
    tmp_counter: AtomicU64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last clone closes the cache: keep what reads learnt about use.
        let mut state = lock(&self.state);
        if let Err(error) = self.write_touches(&mut state) {
            bevy::log::warn!("disk cache: last-use times not kept: {error}");
        }
    }
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    corrupt_evicted: AtomicU64,
    expired_swept: AtomicU64,
}

#[derive(Default)]
struct State {
    entries: HashMap<RequestKey, Meta>,
    blobs: HashMap<String, BlobInfo>,
    total_bytes: u64,
    next_id: u64,
    /// Orders uses that fall in the same clock tick.
    next_touch: u64,
    /// Last-use times not yet written to the index: key → (row id, time).
    touched: HashMap<RequestKey, (u64, u64)>,
}

struct Meta {
    id: u64,
    sha256: String,
    last_used_ms: u64,
    touch: u64,
}

struct BlobInfo {
    refs: u64,
    size: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing here panics while holding a lock; if something did, the data is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl DiskCache {
    /// Opens (creating if needed) the cache in `config`'s directory.
    ///
    /// The directory must be missing, empty or already a cache: a new cache marks it with a
    /// `CACHEDIR.TAG` (<https://bford.info/cachedir/>, so backup tools skip it), and a directory
    /// holding other files and no such tag of this cache is refused. Only files the cache
    /// named itself are ever deleted.
    ///
    /// Removes what an interrupted run left: temporary files, blobs without an index row, and
    /// rows that are malformed or whose blob is gone; then evicts least recently used entries
    /// while the cache is over its cap. An index file that cannot be read is moved aside to
    /// `index.redb.corrupt` and the cache starts empty.
    ///
    /// # Errors
    ///
    /// An [`Io`](crate::error::AssetErrorKind::Io) error naming the path when the directory
    /// cannot be created or written, holds files that are not the cache's, or another
    /// `DiskCache` has it open.
    pub fn open(config: DiskCacheConfig) -> Result<Self, AssetError> {
        let layout = Layout::new(config.directory);
        layout.check_owned()?;
        layout.create()?;
        // The index's file lock makes this the only user of the directory from here on, so the
        // cleanup below cannot race another writer.
        let db = open_index(&layout.index)?;
        layout.clean_tmp()?;
        layout.probe_writable(&format!("probe-{}", std::process::id()))?;

        let inner = Inner {
            layout,
            db,
            max_bytes: config.max_bytes,
            clock: config.clock,
            verify_reads: config.verify_reads,
            state: Mutex::new(State::default()),
            verified: Mutex::new(HashSet::new()),
            counters: Counters::default(),
            tmp_counter: AtomicU64::new(0),
        };
        inner.load()?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Stores `entry` under `key`, replacing what was there.
    ///
    /// Does nothing (and succeeds) for [`CachingStrategy::Always`] entries and for entries larger
    /// than the size cap. Afterwards, least recently used entries are evicted until the cache is
    /// under its cap.
    ///
    /// # Errors
    ///
    /// An [`Io`](crate::error::AssetErrorKind::Io) error when the blob or the index cannot be
    /// written; the previous entry under `key`, if any, is then kept.
    pub fn put(&self, key: RequestKey, entry: NewEntry) -> Result<(), AssetError> {
        self.inner.put(key, entry)
    }

    /// The entry under `key`, if there is one that has not expired, belongs to `scope` (compared
    /// exactly with the scope it was stored with) and whose bytes are intact.
    ///
    /// An expired entry is removed, and so is one whose blob is missing or does not match its
    /// SHA-256 (checked as [`VerifyReads`] says). Marks the entry used, for the size cap.
    ///
    /// # Errors
    ///
    /// An [`Io`](crate::error::AssetErrorKind::Io) error when the index or the blob cannot be
    /// read for a reason other than the blob being absent.
    #[cfg(test)]
    pub fn get(
        &self,
        key: RequestKey,
        scope: Option<&str>,
    ) -> Result<Option<CachedEntry>, AssetError> {
        self.get_made_by(key, scope, |_| true)
    }

    /// Like [`get`](Self::get), but only an entry whose [source](NewEntry::source) `made_by`
    /// accepts is served; another is left in place (its source may be back later) and counts as
    /// a miss.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    #[cfg(test)]
    pub fn get_made_by(
        &self,
        key: RequestKey,
        scope: Option<&str>,
        made_by: impl Fn(&str) -> bool,
    ) -> Result<Option<CachedEntry>, AssetError> {
        Ok(self
            .get_made_by_with(key, scope, made_by, |_| ())?
            .map(|(entry, ())| entry))
    }

    /// Like [`get_made_by`](Self::get_made_by), and runs `with` on the entry before returning
    /// it, on the same thread, once the blob passed its check (its BLAKE3, or its SHA-256 for
    /// entries written before the index kept a BLAKE3): work on the bytes (decoding them) never
    /// sees a corrupt blob, which is evicted instead.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub fn get_made_by_with<T: Send>(
        &self,
        key: RequestKey,
        scope: Option<&str>,
        made_by: impl Fn(&str) -> bool,
        with: impl FnOnce(&CachedEntry) -> T + Send,
    ) -> Result<Option<(CachedEntry, T)>, AssetError> {
        let result = self.inner.get(key, scope, &made_by, with);
        let counter = match &result {
            Ok(Some(_)) => &self.inner.counters.hits,
            _ => &self.inner.counters.misses,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        result
    }

    /// Removes the entry under `key`; `true` if there was one.
    ///
    /// # Errors
    ///
    /// An [`Io`](crate::error::AssetErrorKind::Io) error when the index cannot be written.
    #[cfg(test)]
    pub fn remove(&self, key: RequestKey) -> Result<bool, AssetError> {
        let mut state = lock(&self.inner.state);
        Ok(self.inner.remove_keys(&mut state, &[key])? > 0)
    }

    /// Removes every entry stored with `scope` (for example when a new playthrough starts);
    /// returns how many.
    ///
    /// # Errors
    ///
    /// An [`Io`](crate::error::AssetErrorKind::Io) error when the index cannot be written.
    pub fn clear_scope(&self, scope: &str) -> Result<usize, AssetError> {
        self.inner
            .remove_matching(|row| row.scope.as_deref() == Some(scope))
    }

    /// Removes every entry stored under `strategy`; returns how many.
    ///
    /// # Errors
    ///
    /// An [`Io`](crate::error::AssetErrorKind::Io) error when the index cannot be written.
    pub fn purge_strategy(&self, strategy: CachingStrategy) -> Result<usize, AssetError> {
        self.inner.remove_matching(|row| row.strategy == strategy)
    }

    /// Removes every entry stored with `source` as its [source](NewEntry::source) identity;
    /// returns how many. (`AssetProvider::purge_disk_source` takes a source's name.)
    ///
    /// # Errors
    ///
    /// An [`Io`](crate::error::AssetErrorKind::Io) error when the index cannot be written.
    pub fn purge_source(&self, source: &str) -> Result<usize, AssetError> {
        self.inner.remove_matching(|row| row.source == source)
    }

    /// Removes every expired entry; returns how many.
    ///
    /// # Errors
    ///
    /// An [`Io`](crate::error::AssetErrorKind::Io) error when the index cannot be written.
    #[cfg(test)]
    pub fn sweep_expired(&self) -> Result<usize, AssetError> {
        let now = self.inner.now_ms();
        let removed = self.inner.remove_matching(|row| row.expires_ms <= now)?;
        self.inner
            .counters
            .expired_swept
            .fetch_add(removed as u64, Ordering::Relaxed);
        Ok(removed)
    }

    /// The keys of every entry in the index, sorted (expired ones included until swept).
    #[cfg(test)]
    pub fn keys(&self) -> Vec<RequestKey> {
        let state = lock(&self.inner.state);
        let mut keys: Vec<RequestKey> = state.entries.keys().copied().collect();
        keys.sort();
        keys
    }

    /// What the cache holds, and counters since it was opened.
    pub fn stats(&self) -> DiskStats {
        let (entries, bytes) = {
            let state = lock(&self.inner.state);
            (state.entries.len() as u64, state.total_bytes)
        };
        let counters = &self.inner.counters;
        DiskStats {
            entries,
            bytes,
            hits: counters.hits.load(Ordering::Relaxed),
            misses: counters.misses.load(Ordering::Relaxed),
            evictions: counters.evictions.load(Ordering::Relaxed),
            corrupt_evicted: counters.corrupt_evicted.load(Ordering::Relaxed),
            expired_swept: counters.expired_swept.load(Ordering::Relaxed),
        }
    }
}

impl fmt::Debug for DiskCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskCache")
            .field("directory", &self.inner.layout.root)
            .field("max_bytes", &self.inner.max_bytes)
            .field("stats", &self.stats())
            .finish()
    }
}

/// Why entries are removed, for the counters.
#[derive(Clone, Copy)]
enum Reason {
    Corrupt,
    Expired,
}

impl Inner {
    fn now_ms(&self) -> u64 {
        to_ms((self.clock)())
    }

    fn index_err(&self, e: impl fmt::Display) -> AssetError {
        AssetError::io(format!(
            "disk cache index {}: {e}",
            self.layout.index.display()
        ))
    }

    /// Creates the tables, reads the index into memory, and removes what an interrupted run
    /// left: malformed rows, rows without a blob, and blobs without a row.
    fn load(&self) -> Result<(), AssetError> {
        let txn = self.db.begin_write().map_err(|e| self.index_err(e))?;
        let mut rows = Vec::new();
        let mut malformed = Vec::new();
        {
            let entries = txn.open_table(ENTRIES).map_err(|e| self.index_err(e))?;
            txn.open_table(JOURNAL).map_err(|e| self.index_err(e))?;
            txn.open_table(CHOICES).map_err(|e| self.index_err(e))?;
            for item in entries.iter().map_err(|e| self.index_err(e))? {
                let (key, value) = item.map_err(|e| self.index_err(e))?;
                let key = RequestKey(*key.value());
                match IndexRow::from_bytes(value.value()) {
                    Some(row) => rows.push((key, row)),
                    None => malformed.push(key),
                }
            }
        }

        let referenced: HashSet<&str> = rows.iter().map(|(_, row)| row.sha256.as_str()).collect();
        let present = self.layout.sweep_blobs(&referenced)?;
        let (rows, missing): (Vec<_>, Vec<_>) = rows
            .into_iter()
            // A row whose size is not its blob's is damaged: trusting it would skew the cap.
            .partition(|(_, row)| present.get(&row.sha256) == Some(&row.size));

        if !malformed.is_empty() || !missing.is_empty() {
            let mut entries = txn.open_table(ENTRIES).map_err(|e| self.index_err(e))?;
            for key in malformed.iter().chain(missing.iter().map(|(key, _)| key)) {
                entries.remove(&key.0).map_err(|e| self.index_err(e))?;
            }
        }
        txn.commit().map_err(|e| self.index_err(e))?;
        self.counters
            .corrupt_evicted
            .store((malformed.len() + missing.len()) as u64, Ordering::Relaxed);

        let mut state = lock(&self.state);
        let mut rows = rows;
        rows.sort_by_key(|(_, row)| (row.last_used_ms, row.id));
        for (key, row) in rows {
            state.next_id = state.next_id.max(row.id.saturating_add(1));
            let touch = state.next_touch;
            state.next_touch += 1;
            let blob = state.blobs.entry(row.sha256.clone()).or_insert(BlobInfo {
                refs: 0,
                size: row.size,
            });
            blob.refs += 1;
            if blob.refs == 1 {
                state.total_bytes = state.total_bytes.saturating_add(row.size);
            }
            state.entries.insert(
                key,
                Meta {
                    id: row.id,
                    sha256: row.sha256,
                    last_used_ms: row.last_used_ms,
                    touch,
                },
            );
        }
        // Over the cap when it was lowered, or when a run died between a put and its evictions.
        self.enforce_cap(&mut state, None)
    }

    fn put(&self, key: RequestKey, entry: NewEntry) -> Result<(), AssetError> {
        let Some(ttl) = entry.strategy.ttl() else {
            return Ok(());
        };
        let size = entry.bytes.len() as u64;
        if size > self.max_bytes {
            return Ok(());
        }
        let sha256 = sha256_hex(&entry.bytes);
        let blake3 = blake3::hash(&entry.bytes).to_hex().to_string();
        let now = self.now_ms();

        let mut state = lock(&self.state);
        let tmp_name = format!(
            "{}-{}.tmp",
            std::process::id(),
            self.tmp_counter.fetch_add(1, Ordering::Relaxed)
        );
        // Always rewritten, even when the blob exists: that also repairs a damaged copy.
        self.layout.write_blob(&sha256, &entry.bytes, &tmp_name)?;
        lock(&self.verified).remove(&sha256);

        let id = state.next_id;
        let row = IndexRow {
            id,
            sha256: sha256.clone(),
            blake3: Some(blake3),
            kind: entry.kind,
            mime: entry.mime,
            size,
            strategy: entry.strategy,
            scope: entry.scope,
            created_ms: now,
            expires_ms: add_ms(now, ttl),
            last_used_ms: now,
            source: entry.source,
            generation_id: entry.generation_id,
            asset_id: entry.asset_id,
        };
        let committed = (|| {
            let txn = self.db.begin_write().map_err(|e| self.index_err(e))?;
            {
                let mut table = txn.open_table(ENTRIES).map_err(|e| self.index_err(e))?;
                table
                    .insert(&key.0, row.to_bytes().as_slice())
                    .map_err(|e| self.index_err(e))?;
            }
            txn.commit().map_err(|e| self.index_err(e))
        })();
        if let Err(e) = committed {
            if !state.blobs.contains_key(&sha256) {
                self.layout.remove_blob(&sha256);
            }
            return Err(e);
        }

        state.next_id += 1;
        let touch = state.next_touch;
        state.next_touch += 1;
        let blob = state
            .blobs
            .entry(sha256.clone())
            .or_insert(BlobInfo { refs: 0, size });
        blob.refs += 1;
        if blob.refs == 1 {
            state.total_bytes = state.total_bytes.saturating_add(size);
        }
        let old = state.entries.insert(
            key,
            Meta {
                id,
                sha256,
                last_used_ms: now,
                touch,
            },
        );
        if let Some(old) = old {
            self.release_blob(&mut state, &old.sha256);
        }
        self.enforce_cap(&mut state, Some(key))
    }

    /// Removes `key`'s entry if it is still the row with `id` (any row when `None`): a put may
    /// have replaced it since it was read.
    fn evict(&self, key: RequestKey, id: Option<u64>, reason: Reason) -> Result<(), AssetError> {
        let mut state = lock(&self.state);
        let current = state.entries.get(&key).map(|meta| meta.id);
        if id.is_some() && current != id {
            return Ok(());
        }
        let removed = self.remove_keys(&mut state, &[key])?;
        // A malformed row is not in the mirror; remove it from the index all the same.
        let removed = if removed == 0 && id.is_none() {
            self.remove_rows(&[key])?.len()
        } else {
            removed
        };
        let counter = match reason {
            Reason::Corrupt => &self.counters.corrupt_evicted,
            Reason::Expired => &self.counters.expired_swept,
        };
        counter.fetch_add(removed as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Removes the index rows of `keys` in one transaction; returns the keys that had one.
    fn remove_rows(&self, keys: &[RequestKey]) -> Result<Vec<RequestKey>, AssetError> {
        let txn = self.db.begin_write().map_err(|e| self.index_err(e))?;
        let mut removed = Vec::new();
        {
            let mut table = txn.open_table(ENTRIES).map_err(|e| self.index_err(e))?;
            for key in keys {
                if table
                    .remove(&key.0)
                    .map_err(|e| self.index_err(e))?
                    .is_some()
                {
                    removed.push(*key);
                }
            }
        }
        txn.commit().map_err(|e| self.index_err(e))?;
        Ok(removed)
    }

    /// Removes the entries of `keys`, then deletes blobs no longer referenced; returns how many
    /// entries were removed.
    fn remove_keys(&self, state: &mut State, keys: &[RequestKey]) -> Result<usize, AssetError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let removed = self.remove_rows(keys)?;
        // Blobs go only after the commit: a crash in between leaves an orphan blob, removed on
        // the next open, never a row without its blob.
        for key in &removed {
            if let Some(meta) = state.entries.remove(key) {
                self.release_blob(state, &meta.sha256);
            }
        }
        Ok(removed.len())
    }

    /// Drops one reference to blob `sha256`, deleting it when none are left.
    fn release_blob(&self, state: &mut State, sha256: &str) {
        let Some(blob) = state.blobs.get_mut(sha256) else {
            return;
        };
        blob.refs = blob.refs.saturating_sub(1);
        if blob.refs == 0 {
            let size = blob.size;
            state.blobs.remove(sha256);
            state.total_bytes = state.total_bytes.saturating_sub(size);
            lock(&self.verified).remove(sha256);
            self.layout.remove_blob(sha256);
        }
    }

    /// Evicts least recently used entries, other than `keep`, until the blobs fit the cap.
    fn enforce_cap(&self, state: &mut State, keep: Option<RequestKey>) -> Result<(), AssetError> {
        if state.total_bytes <= self.max_bytes {
            return Ok(());
        }
        let mut by_age: Vec<(u64, u64, RequestKey)> = state
            .entries
            .iter()
            .filter(|(key, _)| Some(**key) != keep)
            .map(|(key, meta)| (meta.last_used_ms, meta.touch, *key))
            .collect();
        by_age.sort_unstable();

        // Shared blobs free their bytes only when their last entry goes.
        let mut refs_left: HashMap<&str, u64> = HashMap::new();
        let mut projected = state.total_bytes;
        let mut victims = Vec::new();
        for (_, _, key) in by_age {
            if projected <= self.max_bytes {
                break;
            }
            let Some(meta) = state.entries.get(&key) else {
                continue;
            };
            let Some(blob) = state.blobs.get(&meta.sha256) else {
                continue;
            };
            let left = refs_left.entry(&meta.sha256).or_insert(blob.refs);
            *left = left.saturating_sub(1);
            if *left == 0 {
                projected = projected.saturating_sub(blob.size);
            }
            victims.push(key);
        }
        let evicted = self.remove_keys(state, &victims)?;
        self.counters
            .evictions
            .fetch_add(evicted as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Removes every entry whose row matches `matches`; returns how many.
    fn remove_matching(&self, matches: impl Fn(&IndexRow) -> bool) -> Result<usize, AssetError> {
        let mut state = lock(&self.state);
        let keys = {
            let txn = self.db.begin_read().map_err(|e| self.index_err(e))?;
            let table = txn.open_table(ENTRIES).map_err(|e| self.index_err(e))?;
            let mut keys = Vec::new();
            for item in table.iter().map_err(|e| self.index_err(e))? {
                let (key, value) = item.map_err(|e| self.index_err(e))?;
                if IndexRow::from_bytes(value.value()).is_some_and(|row| matches(&row)) {
                    keys.push(RequestKey(*key.value()));
                }
            }
            keys
        };
        self.remove_keys(&mut state, &keys)
    }
}
