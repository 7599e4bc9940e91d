//! Branching scenes: a [`SceneGraph`] asset (nodes joined by choices), loaded from
//! `*.scene.json` files in the shape of the backend's `GET /api/v1/game/scenes/{id}`, and the
//! messages that turn "the player entered this node" into media requests.
//!
//! A game loads a graph like any asset and sends [`EnterNode`] or [`MakeChoice`]; the plugin
//! spawns one entity per request from [`SceneGraph::node_media`], each carrying an
//! [`AssetRequest`](crate::AssetRequest) and a [`SceneMedia`] marker, and the rest of the
//! plugin serves them. When the player moves on, the entities of the node left are despawned
//! and their jobs released (cancelled unless a prefetch or another request still holds them).
//! The requests are built by a pure function so a predictor can build the same keys for the
//! choices the player has not made yet.
//!
//! The files: `graph` (the types and what a game asks of a graph), `fields` (how JSON values
//! become its fields), `parse` (a file read and checked), `error`, `loader` (the Bevy asset
//! loader), `messages` (what a game sends), `settings` (what a game chooses: the fallback a
//! node's picture shows while it waits), `systems` (messages into request entities) and
//! `plugin`.
//!
//! ```no_run
//! use bevy::prelude::*;
//! use bevy_asset_provider::scene::{EnterNode, SceneGraph};
//!
//! fn start_story(server: Res<AssetServer>, mut enter: MessageWriter<EnterNode>) {
//!     let graph: Handle<SceneGraph> = server.load("story/lighthouse.scene.json");
//!     // Queued until the graph has loaded; then the start node's media is requested.
//!     enter.write(EnterNode { graph, node: "harbor".into() });
//! }
//! ```

#[cfg(feature = "pixsim")]
mod backend_scenes;
mod error;
mod fields;
mod graph;
mod loader;
mod messages;
mod parse;
mod plugin;
mod settings;
mod systems;

pub use error::SceneGraphError;
pub use graph::{SceneEdge, SceneGraph, SceneNode};
pub use messages::{EnterNode, MakeChoice, SceneMedia};
pub use plugin::ScenePlugin;
pub(crate) use settings::LastScenePicture;
pub use settings::{SceneFallback, SceneSettings};

#[cfg(test)]
mod tests;
