//! Who is playing: the ids that scope per-playthrough and per-player results.

use bevy::prelude::*;

/// The current playthrough and player. Keys of [`CachingStrategy::PerPlaythrough`] and
/// [`CachingStrategy::PerPlayer`] requests include these ids, so one playthrough's results are
/// never served to another.
///
/// Change it (for example at "New game") and requests made afterwards get new keys:
///
/// - [`AssetProvider::set_session`](crate::provider::AssetProvider::set_session) takes effect at
///   once, for every request after the call, however it is made; this resource follows it.
/// - Changing this resource takes effect for every request the plugin makes for you after the
///   change, in the same frame: an inserted [`AssetRequest`](crate::request::AssetRequest), a
///   [`RequestAsset`](crate::provider::RequestAsset) message, scene media and prefetches. A
///   system that calls [`AssetProvider::request`](crate::provider::AssetProvider::request)
///   directly cannot be seen by the plugin between the change and its call, so a direct request
///   made later in the frame of the change still gets the old session's key: such a system
///   should call `set_session` instead.
///
/// When both change between two of the plugin's steps, the resource wins.
///
/// [`CachingStrategy::PerPlaythrough`]: crate::request::CachingStrategy::PerPlaythrough
/// [`CachingStrategy::PerPlayer`]: crate::request::CachingStrategy::PerPlayer
#[derive(
    Resource, Clone, Debug, PartialEq, Eq, Hash, Reflect, serde::Serialize, serde::Deserialize,
)]
#[reflect(Resource, Debug)]
pub struct PlaySession {
    /// The playthrough id (the backend's `playthroughId`).
    pub playthrough_id: String,
    /// The player id (the backend's `playerId`).
    pub player_id: String,
}

impl Default for PlaySession {
    fn default() -> Self {
        Self::new("local", "local")
    }
}

impl PlaySession {
    /// A session for `playthrough_id` played by `player_id`.
    pub fn new(playthrough_id: impl Into<String>, player_id: impl Into<String>) -> Self {
        Self {
            playthrough_id: playthrough_id.into(),
            player_id: player_id.into(),
        }
    }
}
