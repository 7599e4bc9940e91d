//! Where results stay between runs: the disk tier the plugin keeps (content addressed and
//! integrity checked, set up with a [`DiskCacheConfig`] and counted in [`DiskStats`]), which
//! also keeps the journal of backend jobs in flight (the
//! [`JobJournal`](crate::source::JobJournal) sources write to), followed again after a restart.
//! The game reaches it through [`AssetProvider::disk`](crate::AssetProvider::disk).

mod commands;
#[cfg(feature = "disk")]
mod disk;
#[cfg(feature = "disk")]
pub(crate) mod tier;
#[cfg(not(feature = "disk"))]
#[path = "no_tier.rs"]
pub(crate) mod tier;

#[cfg(feature = "disk")]
pub use disk::{CACHE_DIR_ENV, DEFAULT_MAX_BYTES, DiskCacheConfig, DiskStats, VerifyReads};
#[cfg(feature = "disk")]
pub(crate) use disk::{CachedEntry, DiskCache, NewEntry};
