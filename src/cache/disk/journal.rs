//! The job journal: generation jobs submitted and not yet finished, in the index's database, so
//! a restart follows them instead of paying for them again.

use redb::{ReadableDatabase, ReadableTable};

use super::row::{JournalRow, from_ms};
use super::{DiskCache, JOURNAL, JournalEntry};
use crate::error::AssetError;
use crate::request::RequestKey;

impl DiskCache {
    /// Records that generation job `generation_id` was submitted for `key`, at the clock's
    /// current time, replacing an earlier record for `key`.
    ///
    /// # Errors
    ///
    /// An [`Io`](crate::error::AssetErrorKind::Io) error when the journal cannot be written.
    #[cfg(test)]
    pub fn journal_record(&self, key: RequestKey, generation_id: &str) -> Result<(), AssetError> {
        self.journal_record_details(key, generation_id, None)
    }

    /// Like [`journal_record`](Self::journal_record), keeping `details` (for example the
    /// request as JSON) to follow the job again after a restart.
    ///
    /// # Errors
    ///
    /// An [`Io`](crate::error::AssetErrorKind::Io) error when the journal cannot be written.
    pub fn journal_record_details(
        &self,
        key: RequestKey,
        generation_id: &str,
        details: Option<&str>,
    ) -> Result<(), AssetError> {
        let row = JournalRow {
            generation_id: generation_id.to_owned(),
            submitted_at_ms: self.inner.now_ms(),
            details: details.map(str::to_owned),
        };
        let inner = &self.inner;
        let txn = inner.db.begin_write().map_err(|e| inner.index_err(e))?;
        {
            let mut table = txn.open_table(JOURNAL).map_err(|e| inner.index_err(e))?;
            table
                .insert(&key.0, row.to_bytes().as_slice())
                .map_err(|e| inner.index_err(e))?;
        }
        txn.commit().map_err(|e| inner.index_err(e))
    }

    /// Forgets the job recorded for `key` (it finished, failed or was cancelled); `true` if there
    /// was one.
    ///
    /// # Errors
    ///
    /// An [`Io`](crate::error::AssetErrorKind::Io) error when the journal cannot be written.
    pub fn journal_finish(&self, key: RequestKey) -> Result<bool, AssetError> {
        let inner = &self.inner;
        let txn = inner.db.begin_write().map_err(|e| inner.index_err(e))?;
        let removed = {
            let mut table = txn.open_table(JOURNAL).map_err(|e| inner.index_err(e))?;
            table
                .remove(&key.0)
                .map_err(|e| inner.index_err(e))?
                .is_some()
        };
        txn.commit().map_err(|e| inner.index_err(e))?;
        Ok(removed)
    }

    /// Forgets the job recorded for `key` only if it is still `generation_id` (a later job of
    /// the same key may have replaced it); `true` if it was.
    ///
    /// # Errors
    ///
    /// An [`Io`](crate::error::AssetErrorKind::Io) error when the journal cannot be written.
    pub fn journal_finish_job(
        &self,
        key: RequestKey,
        generation_id: &str,
    ) -> Result<bool, AssetError> {
        let inner = &self.inner;
        let txn = inner.db.begin_write().map_err(|e| inner.index_err(e))?;
        let removed = {
            let mut table = txn.open_table(JOURNAL).map_err(|e| inner.index_err(e))?;
            let current = table
                .get(&key.0)
                .map_err(|e| inner.index_err(e))?
                .and_then(|value| JournalRow::from_bytes(value.value()));
            if current.is_some_and(|row| row.generation_id == generation_id) {
                table.remove(&key.0).map_err(|e| inner.index_err(e))?;
                true
            } else {
                false
            }
        };
        txn.commit().map_err(|e| inner.index_err(e))?;
        Ok(removed)
    }

    /// The recorded jobs not yet finished, oldest first. Malformed records are skipped.
    ///
    /// # Errors
    ///
    /// An [`Io`](crate::error::AssetErrorKind::Io) error when the journal cannot be read.
    pub fn journal_pending(&self) -> Result<Vec<JournalEntry>, AssetError> {
        let inner = &self.inner;
        let txn = inner.db.begin_read().map_err(|e| inner.index_err(e))?;
        let table = txn.open_table(JOURNAL).map_err(|e| inner.index_err(e))?;
        let mut pending = Vec::new();
        for item in table.iter().map_err(|e| inner.index_err(e))? {
            let (key, value) = item.map_err(|e| inner.index_err(e))?;
            if let Some(row) = JournalRow::from_bytes(value.value()) {
                pending.push(JournalEntry {
                    key: RequestKey(*key.value()),
                    generation_id: row.generation_id,
                    submitted_at: from_ms(row.submitted_at_ms),
                    details: row.details,
                });
            }
        }
        pending.sort_by_key(|entry| (entry.submitted_at, entry.key));
        Ok(pending)
    }
}
