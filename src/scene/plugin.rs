//! The scene part of the plugin.

use bevy::prelude::*;

use super::graph::SceneGraph;
use super::loader::SceneGraphLoader;
use super::messages::{EnterNode, MakeChoice, SceneMedia};
use super::settings::{LastScenePicture, SceneFallback, SceneSettings};
use super::systems::request_scene_media;

/// The scene graph part of the plugin: the [`SceneGraph`] asset and its loader, the
/// [`EnterNode`] and [`MakeChoice`] messages, and the system that spawns their requests in
/// `Update`, in the request set, and the [`SceneSettings`] resource (kept if the game inserted
/// one first). [`AssetProviderPlugin`](crate::AssetProviderPlugin) adds it; on its own it only
/// loads and validates scene files.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScenePlugin;

impl Plugin for ScenePlugin {
    fn build(&self, app: &mut App) {
        app.init_asset::<SceneGraph>()
            .init_asset_loader::<SceneGraphLoader>()
            .add_message::<EnterNode>()
            .add_message::<MakeChoice>()
            .init_resource::<SceneSettings>()
            .init_resource::<LastScenePicture>()
            .register_type::<(SceneMedia, SceneSettings, SceneFallback)>()
            .add_systems(
                Update,
                request_scene_media.in_set(crate::AssetProviderSystems::Request),
            );
    }
}
