//! Where results stay between runs: the disk tier the plugin keeps ([`DiskCache`], content
//! addressed and integrity checked, with its [`DiskCacheConfig`]), which also keeps the journal
//! of backend jobs in flight (the [`JobJournal`](crate::source::JobJournal) sources write to),
//! followed again after a restart.

mod commands;
#[cfg(feature = "disk")]
mod disk;
#[cfg(feature = "disk")]
pub(crate) mod tier;
#[cfg(not(feature = "disk"))]
#[path = "no_tier.rs"]
pub(crate) mod tier;

#[cfg(feature = "disk")]
pub use disk::{
    CACHE_DIR_ENV, CachedEntry, Clock, DEFAULT_MAX_BYTES, DiskCache, DiskCacheConfig, DiskStats,
    JournalEntry, NewEntry, VerifyReads,
};
