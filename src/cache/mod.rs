//! Where results stay between runs: the disk tier the plugin keeps ([`DiskCache`], content
//! addressed and integrity checked, with its [`DiskCacheConfig`]) and the journal of backend jobs
//! in flight ([`JobJournal`]), followed again after a restart.

mod disk;
mod journal;
pub(crate) mod tier;

pub use disk::{
    CACHE_DIR_ENV, CachedEntry, Clock, DEFAULT_MAX_BYTES, DiskCache, DiskCacheConfig, DiskStats,
    JournalEntry, NewEntry, VerifyReads,
};
pub(crate) use journal::JournalStore;
pub use journal::{JobJournal, JournalRecord};
