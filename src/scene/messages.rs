//! What a game sends to move through a scene, and the marker on the entities spawned for it.

use bevy::prelude::*;

use super::graph::SceneGraph;
#[cfg(doc)]
use crate::request::AssetRequest;
use crate::request::MediaKind;

/// Sent by the game when the player arrives at `node` without a choice (the story's start, a
/// loaded save, a jump): requests the node's media.
#[derive(Message, Debug, Clone)]
pub struct EnterNode {
    /// The graph; the message waits until it has loaded.
    pub graph: Handle<SceneGraph>,
    /// The node's id.
    pub node: String,
}

/// Sent by the game when the player at `from` takes the choice `edge`: requests the media of
/// the node the edge leads to, keyed on the transition.
#[derive(Message, Debug, Clone)]
pub struct MakeChoice {
    /// The graph; the message waits until it has loaded.
    pub graph: Handle<SceneGraph>,
    /// The node the player is at; must be the edge's `from`.
    pub from: String,
    /// The edge's id.
    pub edge: String,
}

/// Marks an entity the scene plugin spawned for a node's media: which scene request its
/// [`AssetRequest`] is for. Query it to find a node's media (`kind` tells image from sound).
///
/// The entity lives while the player is at its node: the next [`EnterNode`] or [`MakeChoice`]
/// despawns it (with its children), so put what shows the media elsewhere or expect it to go
/// with the node. A handle the game cloned from its task stays valid (it keeps the placeholder
/// when the job was cancelled before its media arrived).
#[derive(Component, Debug, Clone, PartialEq, Reflect)]
#[reflect(Component, Debug)]
pub struct SceneMedia {
    /// The graph.
    pub graph: Handle<SceneGraph>,
    /// The node shown.
    pub node: String,
    /// The choice that led there, or `None` when entered directly.
    pub edge: Option<String>,
    /// The media kind of the request.
    pub kind: MediaKind,
}
