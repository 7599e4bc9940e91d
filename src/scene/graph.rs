//! The scene graph: its nodes and edges, in the backend's JSON shape, and what a game (or a
//! predictor) asks of it: a node, the choices out of it, the media requests for showing it.

use bevy::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::fields::{de_id, de_null_default, de_opt_id, de_weight, default_weight};
use crate::request::{AssetRequest, CachingStrategy, MediaKind};

/// A branching scene: nodes the player can be at, and edges (choices) between them.
///
/// The JSON shape is the backend's scene (CONTRACT.md, "Scenes"): `id`, `title`, `startNodeId`,
/// `nodes`, `edges`. Ids may be JSON strings or numbers and are kept as strings; unknown fields
/// are ignored. Build one with [`SceneGraph::from_json`] (which also validates it) or load a
/// `*.scene.json` file through the `AssetServer`.
#[derive(Asset, TypePath, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SceneGraph {
    /// The scene's id; requests are tagged `scene:<id>`.
    #[serde(deserialize_with = "de_id")]
    pub id: String,
    /// A human-readable title.
    #[serde(default)]
    pub title: String,
    /// The node a story starts at (JSON `startNodeId`).
    #[serde(deserialize_with = "de_id")]
    pub start_node_id: String,
    /// The nodes, in file order.
    pub nodes: Vec<SceneNode>,
    /// The edges (choices), in file order.
    #[serde(default)]
    pub edges: Vec<SceneEdge>,
}

/// A place in the story the player can be at, with the media shown there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SceneNode {
    /// The node's id, unique within its graph.
    #[serde(deserialize_with = "de_id")]
    pub id: String,
    /// The node's media type (JSON `type`); always `"video"` on the real service.
    #[serde(rename = "type", default)]
    pub node_type: String,
    /// A short label; the generation prompt when `meta.prompt` is absent.
    #[serde(default)]
    pub label: String,
    /// A pre-made asset shown at this node (JSON `assetId`).
    #[serde(
        default,
        deserialize_with = "de_opt_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub asset_id: Option<String>,
    /// Where the backend serves that asset (JSON `mediaUrl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_url: Option<String>,
    /// Free-form data. Keys this crate reads: `prompt`, `location`, `character`, `tags`
    /// (strings), `strategy` (a snake_case [`CachingStrategy`]), `seed` (an unsigned integer)
    /// and `cue` (a sound prompt).
    #[serde(default, deserialize_with = "de_null_default")]
    pub meta: Map<String, Value>,
}

impl SceneNode {
    /// `meta[key]` when it is a non-empty string.
    pub fn meta_str(&self, key: &str) -> Option<&str> {
        self.meta
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The image prompt: `meta.prompt`, else the label, else `None`.
    pub fn prompt(&self) -> Option<&str> {
        self.meta_str("prompt")
            .or_else(|| Some(self.label.as_str()).filter(|l| !l.is_empty()))
    }

    /// What the node shows: a clip for a `"video"` node when the crate is built with the
    /// `video` feature (and so can play it), a picture otherwise: without the feature a video
    /// node's media is asked for as a still image.
    pub fn media_kind(&self) -> MediaKind {
        if cfg!(feature = "video") && self.node_type == "video" {
            MediaKind::Video
        } else {
            MediaKind::Image
        }
    }

    /// The sound prompt (`meta.cue`), if this node has a sound.
    pub fn cue(&self) -> Option<&str> {
        self.meta_str("cue")
    }
}

/// A choice: the way from one node to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SceneEdge {
    /// The edge's id, unique within its graph.
    #[serde(deserialize_with = "de_id")]
    pub id: String,
    /// The node it leaves.
    #[serde(deserialize_with = "de_id")]
    pub from: String,
    /// The node it leads to.
    #[serde(deserialize_with = "de_id")]
    pub to: String,
    /// The choice's text.
    #[serde(default)]
    pub label: String,
    /// How likely a player is to take it, relative to the other edges out of `from`
    /// (finite, ≥ 0; 1.0 when absent).
    #[serde(default = "default_weight", deserialize_with = "de_weight")]
    pub weight: f32,
    /// Conditions for the choice to be offered, as the backend sends them.
    #[serde(default)]
    pub conditions: Value,
    /// Effects of taking it, as the backend sends them.
    #[serde(default)]
    pub effects: Value,
    /// Whether it is the default choice (JSON `isDefault`, may be `null`).
    #[serde(default)]
    pub is_default: Option<bool>,
}

impl SceneGraph {
    /// The node with `id`.
    pub fn node(&self, id: &str) -> Option<&SceneNode> {
        self.nodes.iter().find(|node| node.id == id)
    }

    /// The node a story starts at.
    ///
    /// # Panics
    /// Only if the graph was changed after validation so that `start_node_id` names no node;
    /// graphs from [`SceneGraph::from_json`] and the loader always have it.
    pub fn start_node(&self) -> &SceneNode {
        self.node(&self.start_node_id)
            .expect("a validated scene graph has its start node")
    }

    /// The edge with `id`.
    pub fn edge(&self, id: &str) -> Option<&SceneEdge> {
        self.edges.iter().find(|edge| edge.id == id)
    }

    /// The choices a player at `node_id` can make: the edges out of it, in file order.
    pub fn choices<'a>(&'a self, node_id: &'a str) -> impl Iterator<Item = &'a SceneEdge> + 'a {
        self.edges.iter().filter(move |edge| edge.from == node_id)
    }

    /// The media requests for showing `node_id`, entered directly (`via` is `None`) or by
    /// taking the choice `via`. Empty when the graph has no such node.
    ///
    /// Always a picture request first, of [`SceneNode::media_kind`] (a video clip for
    /// `"video"` nodes with the `video` feature, an image otherwise); also an audio request when
    /// the node has a `meta.cue`. The picture asks for the node's pre-made `assetId` when it has
    /// one (generation stays possible as a fallback) and is then keyed on the node alone, since
    /// every way in shows the same picture. Otherwise it is keyed on how the player got there:
    /// `scene(node)` when entered directly, `scene(edge.from).choice(edge.id).to_scene(node)`
    /// after a choice, like the backend's cache key. Context comes from `meta` (`prompt` or the
    /// label, `location`, `character`, `tags`, `strategy`, `seed`), plus the tag
    /// `scene:<graph id>`.
    ///
    /// The function is pure: the same node, edge and graph give equal requests, so a predictor
    /// can build the exact keys of the choices a player may make next.
    pub fn node_media(&self, node_id: &str, via: Option<&SceneEdge>) -> Vec<AssetRequest> {
        let Some(node) = self.node(node_id) else {
            return Vec::new();
        };
        let strategy = node
            .meta
            .get("strategy")
            .and_then(|s| CachingStrategy::deserialize(s).ok())
            .unwrap_or_default();
        let tags = node
            .meta
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .chain([format!("scene:{}", self.id)]);
        let mut image = AssetRequest::new(node.media_kind())
            .strategy(strategy)
            .tags(tags);
        image = match (&node.asset_id, via) {
            // The pre-made id names one picture whatever the way in: key it on the node alone.
            (Some(asset_id), _) => image.asset_id(asset_id).scene(&node.id),
            (None, None) => image.scene(&node.id),
            (None, Some(edge)) => image.scene(&edge.from).choice(&edge.id).to_scene(&node.id),
        };
        if let Some(location) = node.meta_str("location") {
            image = image.location(location);
        }
        if let Some(character) = node.meta_str("character") {
            image = image.character(character);
        }
        if let Some(seed) = node.meta.get("seed").and_then(Value::as_u64) {
            image = image.seed(seed);
        }
        let sound = node.cue().map(|cue| AssetRequest {
            kind: MediaKind::Audio,
            prompt: Some(cue.to_owned()),
            // The pre-made id names the picture, not the sound.
            asset_id: None,
            ..image.clone()
        });
        image.prompt = node.prompt().map(str::to_owned);
        std::iter::once(image).chain(sound).collect()
    }
}
