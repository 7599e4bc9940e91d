//! [`DiskAdmin`]: the disk tier's administration, from [`AssetProvider::disk`]: counters,
//! resumed jobs, and removing entries.
//!
//! [`AssetProvider::disk`]: crate::AssetProvider::disk

use std::sync::Arc;

use bevy::prelude::Resource;

#[cfg(feature = "disk")]
use crate::cache::DiskStats;
use crate::cache::tier::{DiskCommand, DiskTier};
use crate::request::{CachingStrategy, PlaySession};
use crate::runtime::{CommandSender, DiskTask, DiskTasks, RuntimeCommand};

/// Disk work add-ons register while the app is built, run once the disk tier is open and its
/// journal followed: how an add-on reads back what it keeps on disk.
#[derive(Resource, Default)]
pub(crate) struct DiskStartTasks(pub DiskTasks);

impl DiskStartTasks {
    pub fn push(&self, task: DiskTask) {
        self.0.push(task);
    }
}

/// The disk tier's administration: what it holds and removing entries. Get it with
/// [`AssetProvider::disk`](crate::AssetProvider::disk). Without a disk tier (turned off, or a
/// build without the `disk` feature) the counters are empty and removals do nothing.
///
/// Removals run off the frame, one after another in the order they were asked; requests made
/// after the call do not see the removed entries.
pub struct DiskAdmin<'a> {
    tier: Option<&'a Arc<DiskTier>>,
    commands: &'a CommandSender,
}

impl<'a> DiskAdmin<'a> {
    pub(crate) fn new(tier: Option<&'a Arc<DiskTier>>, commands: &'a CommandSender) -> Self {
        Self { tier, commands }
    }

    /// The disk tier's counters (entries, bytes, hits, misses, evictions) as of its last
    /// operation; `None` when it is off or has not opened yet. Cheap: reads a snapshot.
    #[cfg(feature = "disk")]
    pub fn stats(&self) -> Option<DiskStats> {
        self.tier.and_then(|disk| disk.stats())
    }

    /// Jobs from the journal that this run followed again instead of submitting anew.
    pub fn resumed_jobs(&self) -> u64 {
        self.tier.map_or(0, |disk| disk.resumed_jobs())
    }

    /// Removes every disk entry of the playthrough `playthrough_id` (`per_playthrough`
    /// results), for example when the player starts over.
    pub fn clear_playthrough(&self, playthrough_id: &str) {
        let session = PlaySession::new(playthrough_id, "");
        if let Some(scope) = CachingStrategy::PerPlaythrough.scope(&session) {
            self.send(DiskCommand::ClearScope(scope));
        }
    }

    /// Removes every disk entry of the player `player_id` (`per_player` results).
    pub fn clear_player(&self, player_id: &str) {
        let session = PlaySession::new("", player_id);
        if let Some(scope) = CachingStrategy::PerPlayer.scope(&session) {
            self.send(DiskCommand::ClearScope(scope));
        }
    }

    /// Removes every disk entry cached with `strategy`.
    pub fn purge_strategy(&self, strategy: CachingStrategy) {
        self.send(DiskCommand::PurgeStrategy(strategy));
    }

    /// Removes every disk entry that the source named `source` (its
    /// [`name`](crate::source::AssetSource::name), as `"local_generator"` or `"pixsim"`)
    /// produced: entries are kept under the source's [`id`](crate::source::AssetSource::id),
    /// and every id of this plugin's sources of that name is purged, with the name itself (the
    /// default id). Entries an earlier version of a source made under another id are not known
    /// by name: they are no longer served, and go as the cache evicts.
    pub fn purge_source(&self, source: impl Into<String>) {
        self.send(DiskCommand::PurgeSource {
            name: source.into(),
            ids: Vec::new(),
        });
    }

    /// Hands `command` to the disk tier, after the commands sent before it.
    pub(crate) fn send(&self, command: DiskCommand) {
        if self.tier.is_some() {
            let _ = self.commands.send(RuntimeCommand::Disk(command));
        }
    }
}
