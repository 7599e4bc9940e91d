//! The picture the scene last showed, for [`SceneFallback::PreviousPicture`]: the scene add-on
//! sits below the provider and cannot hear its results, so the provider's side notes each scene
//! picture whose real media arrived.
//!
//! [`SceneFallback::PreviousPicture`]: crate::scene::SceneFallback::PreviousPicture

use bevy::prelude::*;

use crate::provider::messages::AssetReady;
use crate::request::MediaKind;
use crate::scene::{LastScenePicture, SceneMedia};

/// Notes the handle of each scene picture (image or video request) whose real media arrived
/// for the entity the scene spawned for it. Runs only on frames with results.
pub(crate) fn remember_scene_pictures(
    mut ready: MessageReader<AssetReady>,
    media: Query<&SceneMedia>,
    mut last: ResMut<LastScenePicture>,
) {
    for message in ready.read() {
        let picture = message.entity.and_then(|entity| media.get(entity).ok());
        if picture.is_some_and(|media| media.kind != MediaKind::Audio)
            && let Some(image) = message.handle.image()
        {
            last.0 = Some(image.clone());
        }
    }
}
