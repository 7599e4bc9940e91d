//! The game endpoint: one asset for a scene, made or reused by the server.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ids::{BackendId, null_as_default};
use super::names::Strategy;

/// `POST /api/v1/game/assets/request`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GameAssetRequest {
    /// The scene.
    #[serde(default)]
    pub scene_id: Option<String>,
    /// The choice.
    #[serde(default)]
    pub choice_id: Option<String>,
    /// `{"character_id", "location_id"}`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub context: Map<String, Value>,
    /// The caching strategy.
    #[serde(default)]
    pub strategy: Option<Strategy>,
    /// How long the server may wait for a generation.
    #[serde(default)]
    pub max_wait_ms: Option<u64>,
}

/// The answer to [`GameAssetRequest`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GameAssetResponse {
    /// The asset.
    pub asset_id: BackendId,
    /// Where to download it.
    pub url: String,
    /// `image`, `video`, `audio`.
    #[serde(default)]
    pub media_type: Option<String>,
    /// `cached`, `pre_made` or `generated`.
    #[serde(default)]
    pub source: Option<String>,
    /// Whether it came from the server's cache.
    #[serde(default)]
    pub from_cache: Option<bool>,
    /// How long generating it took.
    #[serde(default)]
    pub generation_time_ms: Option<u64>,
}
