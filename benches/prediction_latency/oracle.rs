//! The oracle: it knows the player's path, and prefetches every media of it once, in the order
//! the player will need them, as the player starts. The floor no planner can beat at the same
//! backend concurrency.

use bevy::prelude::*;
use bevy_asset_provider::prelude::*;

use crate::script::Step;

/// Prefetches each media request of `script`'s nodes, first node first.
pub fn prefetch_path(app: &mut App, story: &SceneGraph, script: &[Step]) {
    let mut provider = app.world_mut().resource_mut::<AssetProvider>();
    for step in script {
        for request in story.node_media(&step.node, step.edge.as_ref()) {
            // The key is found again through the request when the player gets there.
            let _key = provider.prefetch(request);
        }
    }
}
