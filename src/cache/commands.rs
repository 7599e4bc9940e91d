//! What the runtime and the game hand the disk tier: media to keep, purges, and the check that
//! decides what may be kept. Shared by the tier and by its stand-in in builds without `disk`.

use std::sync::Arc;

use crate::error::AssetError;
use crate::request::{CachingStrategy, MediaKind};
use crate::source::SourcedMedia;

/// Whether media of a kind decodes within the plugin's limits; given by the runtime, which owns
/// decoding.
#[cfg_attr(
    not(feature = "disk"),
    expect(dead_code, reason = "only the disk tier checks what it keeps")
)]
pub(crate) type MediaCheck =
    Arc<dyn Fn(MediaKind, &SourcedMedia) -> Result<(), AssetError> + Send + Sync>;

/// What to keep on disk once a request is served.
#[cfg_attr(
    not(feature = "disk"),
    expect(dead_code, reason = "only the disk tier reads what it keeps")
)]
pub(crate) struct ToStore {
    pub media: SourcedMedia,
    /// The [`id`](crate::source::AssetSource::id) of the source that made it.
    pub source: String,
}

/// A purge the game asked for.
#[derive(Clone, Debug)]
#[cfg_attr(
    not(feature = "disk"),
    expect(dead_code, reason = "only the disk tier carries out purges")
)]
pub(crate) enum DiskCommand {
    ClearScope(String),
    PurgeStrategy(CachingStrategy),
    /// Every entry the source named `name` made: stored under that name (a source's default
    /// identity) or under one of `ids`, the identities of the chain's sources of that name,
    /// which the runtime fills in.
    PurgeSource {
        name: String,
        ids: Vec<String>,
    },
    /// A player took choice `.1` of scene graph `.0`.
    RecordChoice(String, String),
}
