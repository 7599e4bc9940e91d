//! Reading an entry: its row, its blob checked against the row's hash, and its last use noted.

use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable};
use sha2::{Digest, Sha256};

use super::row::{IndexRow, from_ms};
use super::{CachedEntry, ENTRIES, Inner, Reason, State, TOUCHES_PER_COMMIT, VerifyReads, lock};
use crate::error::AssetError;
use crate::request::RequestKey;

impl Inner {
    pub(super) fn get<T: Send>(
        &self,
        key: RequestKey,
        scope: Option<&str>,
        made_by: &dyn Fn(&str) -> bool,
        with: impl FnOnce(&CachedEntry) -> T + Send,
    ) -> Result<Option<(CachedEntry, T)>, AssetError> {
        let now = self.now_ms();
        let Some(raw) = self.read_row(key)? else {
            return Ok(None);
        };
        let Some(row) = IndexRow::from_bytes(&raw) else {
            self.evict(key, None, Reason::Corrupt)?;
            return Ok(None);
        };
        if row.expires_ms <= now {
            self.evict(key, Some(row.id), Reason::Expired)?;
            return Ok(None);
        }
        if row.scope.as_deref() != scope || !made_by(&row.source) {
            return Ok(None);
        }

        let check_hash =
            self.verify_reads == VerifyReads::Always || !lock(&self.verified).contains(&row.sha256);
        // Checked before anything uses the bytes, as they are read: one pass, no copy, no hop.
        let Some(bytes) = self.read_blob(key, &row, check_hash)? else {
            return Ok(None);
        };
        let sha256 = row.sha256;
        let entry = CachedEntry {
            bytes,
            kind: row.kind,
            mime: row.mime,
            size: row.size,
            strategy: row.strategy,
            source: row.source,
            generation_id: row.generation_id,
            asset_id: row.asset_id,
            created: from_ms(row.created_ms),
        };
        let used = with(&entry);
        if check_hash {
            lock(&self.verified).insert(sha256);
        }
        // Last use only orders evictions: failing to record it must not fail a good read.
        let _ = self.touch(key, row.id, now);
        Ok(Some((entry, used)))
    }

    /// The bytes of `row`'s blob, hashed as they are read when `check_hash`; `None` (the entry
    /// evicted) when the file is gone, its length is not the row's or its hash does not match.
    fn read_blob(
        &self,
        key: RequestKey,
        row: &IndexRow,
        check_hash: bool,
    ) -> Result<Option<Arc<[u8]>>, AssetError> {
        let path = self.layout.blob_path(&row.sha256);
        let cannot_read = |e: io::Error| {
            AssetError::io(format!("cannot read blob {}: {e}", path.display())).with_source(e)
        };
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.evict(key, Some(row.id), Reason::Corrupt)?;
                return Ok(None);
            }
            Err(e) => return Err(cannot_read(e)),
        };
        let length = file.metadata().map_err(cannot_read)?.len();
        let Some(size) = usize::try_from(row.size)
            .ok()
            .filter(|_| length == row.size)
        else {
            self.evict(key, Some(row.id), Reason::Corrupt)?;
            return Ok(None);
        };
        let mut check = check_hash.then(|| BlobCheck::for_row(row));
        let mut bytes = zeroed_bytes(size);
        let buffer = Arc::get_mut(&mut bytes).expect("a new buffer has no other owner");
        for chunk in buffer.chunks_mut(READ_CHUNK) {
            match file.read_exact(chunk) {
                Ok(()) => {}
                // Shorter than its length a moment ago: cut while being read.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.evict(key, Some(row.id), Reason::Corrupt)?;
                    return Ok(None);
                }
                Err(e) => return Err(cannot_read(e)),
            }
            // While the chunk is still in the CPU's cache.
            if let Some(check) = &mut check {
                check.update(chunk);
            }
        }
        if check.is_some_and(|check| !check.matches(row)) {
            self.evict(key, Some(row.id), Reason::Corrupt)?;
            return Ok(None);
        }
        Ok(Some(bytes))
    }

    pub(super) fn read_row(&self, key: RequestKey) -> Result<Option<Vec<u8>>, AssetError> {
        let txn = self.db.begin_read().map_err(|e| self.index_err(e))?;
        let table = txn.open_table(ENTRIES).map_err(|e| self.index_err(e))?;
        let value = table.get(&key.0).map_err(|e| self.index_err(e))?;
        Ok(value.map(|value| value.value().to_vec()))
    }

    /// Marks `key`'s entry (if still the row with `id`) used at `now_ms`: at once in memory, and
    /// in the index with the next [`TOUCHES_PER_COMMIT`] others (or when the cache closes), so a
    /// read does not cost a write transaction.
    fn touch(&self, key: RequestKey, id: u64, now_ms: u64) -> Result<(), AssetError> {
        let mut state = lock(&self.state);
        let touch = state.next_touch;
        state.next_touch += 1;
        let Some(meta) = state.entries.get_mut(&key).filter(|meta| meta.id == id) else {
            return Ok(());
        };
        // A clock set back must not make an entry look older than it is.
        meta.last_used_ms = meta.last_used_ms.max(now_ms);
        meta.touch = touch;
        let last_used_ms = meta.last_used_ms;
        state.touched.insert(key, (id, last_used_ms));
        if state.touched.len() >= TOUCHES_PER_COMMIT {
            self.write_touches(&mut state)?;
        }
        Ok(())
    }

    /// Writes the last-use times noted since the last write into the index, in one transaction.
    pub(super) fn write_touches(&self, state: &mut State) -> Result<(), AssetError> {
        if state.touched.is_empty() {
            return Ok(());
        }
        let touched = std::mem::take(&mut state.touched);
        let txn = self.db.begin_write().map_err(|e| self.index_err(e))?;
        {
            let mut table = txn.open_table(ENTRIES).map_err(|e| self.index_err(e))?;
            for (key, (id, last_used_ms)) in touched {
                let row = table
                    .get(&key.0)
                    .map_err(|e| self.index_err(e))?
                    .and_then(|value| IndexRow::from_bytes(value.value()));
                // Only the row that was read: a put since replaced it with a newer one.
                let Some(mut row) = row.filter(|row| row.id == id) else {
                    continue;
                };
                row.last_used_ms = row.last_used_ms.max(last_used_ms);
                table
                    .insert(&key.0, row.to_bytes().as_slice())
                    .map_err(|e| self.index_err(e))?;
            }
        }
        txn.commit().map_err(|e| self.index_err(e))
    }
}

/// How much of a blob is read, then hashed, at a time: small enough to stay in the CPU's cache
/// between the two.
const READ_CHUNK: usize = 64 * 1024;

/// `size` zero bytes, in one allocation the blob is read straight into.
fn zeroed_bytes(size: usize) -> Arc<[u8]> {
    // SAFETY: zeroed memory is a valid `u8`.
    unsafe { Arc::<[u8]>::new_zeroed_slice(size).assume_init() }
}

/// A blob's hash as it is read: its BLAKE3 where the row keeps one, else (rows from before it)
/// its SHA-256.
enum BlobCheck {
    Blake3(Box<blake3::Hasher>),
    Sha256(Sha256),
}

impl BlobCheck {
    fn for_row(row: &IndexRow) -> Self {
        match row.blake3 {
            Some(_) => Self::Blake3(Box::default()),
            None => Self::Sha256(Sha256::new()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Blake3(hasher) => {
                hasher.update(bytes);
            }
            Self::Sha256(hasher) => hasher.update(bytes),
        }
    }

    /// Whether the bytes hashed are what `row` was written with.
    fn matches(self, row: &IndexRow) -> bool {
        match self {
            Self::Blake3(hasher) => {
                row.blake3.as_deref() == Some(hasher.finalize().to_hex().as_str())
            }
            Self::Sha256(hasher) => hex::encode(hasher.finalize()) == row.sha256,
        }
    }
}

/// Whether `bytes` are what `row` was written with: by their BLAKE3 where the row has one,
/// else (rows from before it) by their SHA-256.
#[cfg(test)]
pub(super) fn row_matches(row: &IndexRow, bytes: &[u8]) -> bool {
    let mut check = BlobCheck::for_row(row);
    check.update(bytes);
    check.matches(row)
}
