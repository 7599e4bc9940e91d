//! The Bevy asset loader of `*.scene.json` files.

use bevy::asset::io::Reader;
use bevy::asset::{AssetLoader, LoadContext};
use bevy::prelude::*;

use super::error::SceneGraphError;
use super::graph::SceneGraph;

/// Loads `*.scene.json` files as [`SceneGraph`]s, parsed and validated on Bevy's IO task pool,
/// never on the frame. A bad file fails the load with a [`SceneGraphError`] naming the file
/// and the field.
#[derive(Default, TypePath)]
pub(crate) struct SceneGraphLoader;

impl AssetLoader for SceneGraphLoader {
    type Asset = SceneGraph;
    type Settings = ();
    type Error = SceneGraphError;

    async fn load(
        &self,
        reader: &mut dyn Reader,
        _settings: &(),
        load_context: &mut LoadContext<'_>,
    ) -> Result<SceneGraph, SceneGraphError> {
        let path = load_context.path().to_string();
        let mut bytes = Vec::new();
        reader
            .read_to_end(&mut bytes)
            .await
            .map_err(|source| SceneGraphError::Io {
                path: path.clone(),
                source,
            })?;
        SceneGraph::from_json(&bytes, &path)
    }

    fn extensions(&self) -> &[&str] {
        &["scene.json"]
    }
}
