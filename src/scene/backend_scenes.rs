//! Scenes the PixSim7 backend keeps (`GET /api/v1/game/scenes/{id}`), read as a [`SceneGraph`].
//! The scene add-on asks the backend for the JSON; the backend knows nothing of scenes.

use crate::backend::PixSimSource;
use crate::error::AssetError;
use crate::scene::SceneGraph;

impl SceneGraph {
    /// Fetches `backend`'s scene `id` (`GET /api/v1/game/scenes/{id}`) as a [`SceneGraph`].
    /// Errors name the scene and the field at fault.
    ///
    /// ```no_run
    /// use bevy_asset_provider::backend::PixSimSource;
    /// use bevy_asset_provider::scene::SceneGraph;
    ///
    /// # async fn run() -> Result<(), bevy_asset_provider::AssetError> {
    /// let backend = PixSimSource::builder("http://127.0.0.1:8787").build()?;
    /// let story = SceneGraph::from_backend(&backend, "lighthouse").await?;
    /// # Ok(()) }
    /// ```
    pub async fn from_backend(backend: &PixSimSource, id: &str) -> Result<SceneGraph, AssetError> {
        let (json, origin) = backend.scene_json(id).await?;
        SceneGraph::from_json(&json, &origin).map_err(AssetError::from)
    }
}
