//! Who is playing: the ids that scope per-playthrough and per-player results.

use bevy::prelude::*;

/// The current playthrough and player. Keys of [`CachingStrategy::PerPlaythrough`] and
/// [`CachingStrategy::PerPlayer`] requests include these ids, so one playthrough's results are
/// never served to another.
///
/// The [`AssetProvider`](crate::provider::AssetProvider) holds the one current session: start
/// with [`AssetProviderPlugin::with_session`](crate::AssetProviderPlugin::with_session), change
/// it (for example at "New game") with
/// [`AssetProvider::set_session`](crate::provider::AssetProvider::set_session). Every request
/// after the change, however it is made (a direct call, an inserted
/// [`AssetRequest`](crate::request::AssetRequest), a message, scene media, a prefetch), is keyed
/// with the new session, in the same system and every later one.
///
/// [`CachingStrategy::PerPlaythrough`]: crate::request::CachingStrategy::PerPlaythrough
/// [`CachingStrategy::PerPlayer`]: crate::request::CachingStrategy::PerPlayer
#[derive(Clone, Debug, PartialEq, Eq, Hash, Reflect, serde::Serialize, serde::Deserialize)]
#[reflect(Debug)]
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
    #[must_use]
    pub fn new(playthrough_id: impl Into<String>, player_id: impl Into<String>) -> Self {
        Self {
            playthrough_id: playthrough_id.into(),
            player_id: player_id.into(),
        }
    }
}
