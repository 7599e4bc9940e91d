//! Branching scenes: a [`SceneGraph`] asset (nodes joined by choices), loaded from
//! `*.scene.json` files in the shape of the backend's `GET /api/v1/game/scenes/{id}`, and the
//! messages that turn "the player entered this node" into media requests.
//!
//! A game loads a graph like any asset and sends [`EnterNode`] or [`MakeChoice`];
//! the plugin spawns one entity per request from [`SceneGraph::node_media`], each
//! carrying an [`AssetRequest`] and a [`SceneMedia`] marker, and the rest of the plugin serves
//! them. When the player moves on, the entities of the node left are despawned and their jobs
//! released (cancelled unless a prefetch or another request still holds them). The requests are built by a pure function so a predictor can build the same keys for
//! the choices the player has not made yet.
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

use bevy::asset::io::Reader;
use bevy::asset::{AssetLoadError, AssetLoader, LoadContext, LoadState};
use bevy::platform::collections::{HashMap, HashSet};
use bevy::prelude::*;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

use crate::error::AssetError;
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

/// What went wrong reading a scene file. Every variant names the file; parse and validation
/// errors also name the field, as a path like `edges[3].to`.
#[derive(Debug, thiserror::Error)]
pub enum SceneGraphError {
    /// The file could not be read.
    #[error("scene file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The read error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON of the scene's shape.
    #[error("scene file {path}: {}{message}", field_prefix(field.as_deref()))]
    Parse {
        /// The file.
        path: String,
        /// Where in the document, when the error is inside it (`nodes[2].label`).
        field: Option<String>,
        /// What was wrong, with line and column.
        message: String,
    },
    /// The file parsed but describes an impossible graph (a dangling edge, a duplicate id, ...).
    #[error("scene file {path}: {field}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The offending field (`edges[3].to`).
        field: String,
        /// What was wrong.
        message: String,
    },
}

/// `"field: "`, or nothing for errors about the document as a whole.
fn field_prefix(field: Option<&str>) -> String {
    field.map(|f| format!("{f}: ")).unwrap_or_default()
}

impl SceneGraphError {
    /// The file the error is about.
    pub fn path(&self) -> &str {
        match self {
            Self::Io { path, .. } | Self::Parse { path, .. } | Self::Invalid { path, .. } => path,
        }
    }

    /// The field the error is about (`edges[3].to`), if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Io { .. } => None,
            Self::Parse { field, .. } => field.as_deref(),
            Self::Invalid { field, .. } => Some(field),
        }
    }

    fn invalid(path: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.to_owned(),
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<SceneGraphError> for AssetError {
    fn from(error: SceneGraphError) -> Self {
        match error {
            SceneGraphError::Io { .. } => AssetError::io(error.to_string()),
            SceneGraphError::Parse { .. } | SceneGraphError::Invalid { .. } => {
                AssetError::invalid_data(error.to_string())
            }
        }
    }
}

impl SceneGraph {
    /// Parses and validates a scene from JSON `bytes`; `path` names the file in errors.
    ///
    /// Checks that node ids and edge ids are unique, that `startNodeId` and every edge's `from`
    /// and `to` name a node, that weights are finite and ≥ 0, and that the `meta` keys this
    /// crate reads have the right types.
    ///
    /// ```
    /// # use bevy_asset_provider::scene::SceneGraph;
    /// let json = br#"{"id": 1, "title": "Park", "startNodeId": 10,
    ///   "nodes": [{"id": 10, "type": "video", "label": "Bench"}], "edges": []}"#;
    /// let graph = SceneGraph::from_json(json, "park.scene.json").unwrap();
    /// assert_eq!(graph.start_node().id, "10");
    ///
    /// let bad = br#"{"id": 1, "startNodeId": 10, "nodes": [{"id": 10, "label": 5}]}"#;
    /// let error = SceneGraph::from_json(bad, "park.scene.json").unwrap_err();
    /// assert_eq!(error.field(), Some("nodes[0].label"));
    /// ```
    pub fn from_json(bytes: &[u8], path: &str) -> Result<SceneGraph, SceneGraphError> {
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let graph: SceneGraph = serde_path_to_error::deserialize(&mut deserializer)
            .map_err(|error| parse_error(path, error))?;
        // `from_slice` would reject trailing garbage; a bare Deserializer only does on `end`.
        deserializer.end().map_err(|error| SceneGraphError::Parse {
            path: path.to_owned(),
            field: None,
            message: error.to_string(),
        })?;
        graph.validate(path)?;
        Ok(graph)
    }

    fn validate(&self, path: &str) -> Result<(), SceneGraphError> {
        let mut node_index = HashMap::with_capacity(self.nodes.len());
        for (i, node) in self.nodes.iter().enumerate() {
            if let Some(first) = node_index.insert(node.id.as_str(), i) {
                return Err(SceneGraphError::invalid(
                    path,
                    format!("nodes[{i}].id"),
                    format!(
                        "duplicate node id \"{}\" (first at nodes[{first}])",
                        node.id
                    ),
                ));
            }
            validate_meta(path, i, &node.meta)?;
        }
        if !node_index.contains_key(self.start_node_id.as_str()) {
            return Err(SceneGraphError::invalid(
                path,
                "startNodeId",
                format!("no node \"{}\"", self.start_node_id),
            ));
        }
        let mut edge_index = HashMap::with_capacity(self.edges.len());
        for (i, edge) in self.edges.iter().enumerate() {
            if let Some(first) = edge_index.insert(edge.id.as_str(), i) {
                return Err(SceneGraphError::invalid(
                    path,
                    format!("edges[{i}].id"),
                    format!(
                        "duplicate edge id \"{}\" (first at edges[{first}])",
                        edge.id
                    ),
                ));
            }
            for (name, end) in [("from", &edge.from), ("to", &edge.to)] {
                if !node_index.contains_key(end.as_str()) {
                    return Err(SceneGraphError::invalid(
                        path,
                        format!("edges[{i}].{name}"),
                        format!("no node \"{end}\""),
                    ));
                }
            }
            // A huge JSON number becomes infinite as f32; negative weights break sampling.
            if !edge.weight.is_finite() || edge.weight < 0.0 {
                return Err(SceneGraphError::invalid(
                    path,
                    format!("edges[{i}].weight"),
                    format!("must be a finite number ≥ 0, got {}", edge.weight),
                ));
            }
        }
        Ok(())
    }

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

/// Checks the `meta` keys [`SceneGraph::node_media`] reads, so a typo shows up when the file
/// loads rather than as a silently different request.
fn validate_meta(
    path: &str,
    node: usize,
    meta: &Map<String, Value>,
) -> Result<(), SceneGraphError> {
    let field = |key: &str| format!("nodes[{node}].meta.{key}");
    for key in ["prompt", "location", "character", "cue"] {
        if let Some(value) = meta.get(key).filter(|v| !v.is_string()) {
            return Err(SceneGraphError::invalid(
                path,
                field(key),
                format!("expected a string, got {value}"),
            ));
        }
    }
    if let Some(tags) = meta.get("tags") {
        let Some(tags) = tags.as_array() else {
            return Err(SceneGraphError::invalid(
                path,
                field("tags"),
                format!("expected an array of strings, got {tags}"),
            ));
        };
        if let Some((i, tag)) = tags.iter().enumerate().find(|(_, t)| !t.is_string()) {
            return Err(SceneGraphError::invalid(
                path,
                format!("{}[{i}]", field("tags")),
                format!("expected a string, got {tag}"),
            ));
        }
    }
    if let Some(strategy) = meta.get("strategy")
        && CachingStrategy::deserialize(strategy).is_err()
    {
        return Err(SceneGraphError::invalid(
            path,
            field("strategy"),
            format!(
                "unknown caching strategy {strategy} (expected \"once\", \"per_playthrough\", \
                 \"per_player\" or \"always\")"
            ),
        ));
    }
    if let Some(seed) = meta.get("seed").filter(|s| s.as_u64().is_none()) {
        return Err(SceneGraphError::invalid(
            path,
            field("seed"),
            format!("expected an unsigned integer, got {seed}"),
        ));
    }
    Ok(())
}

fn parse_error(
    path: &str,
    error: serde_path_to_error::Error<serde_json::Error>,
) -> SceneGraphError {
    let field = error.path().to_string();
    SceneGraphError::Parse {
        path: path.to_owned(),
        // serde_path_to_error writes "." for the document root.
        field: (field != ".").then_some(field),
        message: error.into_inner().to_string(),
    }
}

fn default_weight() -> f32 {
    1.0
}

/// A weight, or 1.0 when `null`.
fn de_weight<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f32, D::Error> {
    // Read as f64 so an out-of-range number becomes infinite and fails validation by name.
    Ok(Option::<f64>::deserialize(deserializer)?.map_or(1.0, |w| w as f32))
}

/// A value, or its default when `null`.
fn de_null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// An id sent as a JSON string or an integer, kept as a string.
fn de_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    deserializer.deserialize_any(IdVisitor)
}

/// An optional id: a string, an integer or `null`.
fn de_opt_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    deserializer.deserialize_option(OptIdVisitor)
}

struct IdVisitor;

impl Visitor<'_> for IdVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an id (a string or an integer)")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
}

struct OptIdVisitor;

impl<'de> Visitor<'de> for OptIdVisitor {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an id (a string or an integer) or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<String>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<String>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        de_id(d).map(Some)
    }
}

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

/// A scene message, kept until its graph is loaded.
#[derive(Debug, Clone)]
enum SceneStep {
    Enter(EnterNode),
    Choice(MakeChoice),
}

impl SceneStep {
    fn graph(&self) -> &Handle<SceneGraph> {
        match self {
            Self::Enter(enter) => &enter.graph,
            Self::Choice(choice) => &choice.graph,
        }
    }
}

/// The state of [`request_scene_media`]: messages waiting for their graph, the failed graphs
/// already warned about, and the entities spawned for the node the player is at.
#[derive(Default)]
pub(crate) struct PendingSceneSteps {
    pending: Vec<SceneStep>,
    warned: HashSet<AssetId<SceneGraph>>,
    current: Vec<Entity>,
}

/// Turns [`EnterNode`] and [`MakeChoice`] messages into request entities: one per request from
/// [`SceneGraph::node_media`], each with its [`AssetRequest`] and a [`SceneMedia`].
///
/// The player is at one node at a time: the entities spawned for the node before are despawned
/// when the next node's are spawned (after them, so a job both nodes ask for is kept). Their
/// jobs are released; one nobody else holds (a prefetch, another entity, a direct request) is
/// cancelled.
///
/// A message for a graph still loading waits (in this system's local queue, in order); one for
/// a graph that failed to load is dropped, with one warning per failed graph carrying the
/// error. Unknown node or edge ids are warned about and ignored.
pub(crate) fn request_scene_media(
    mut commands: Commands,
    mut enters: MessageReader<EnterNode>,
    mut choices: MessageReader<MakeChoice>,
    graphs: Res<Assets<SceneGraph>>,
    server: Res<AssetServer>,
    mut queue: Local<PendingSceneSteps>,
) {
    let waiting = std::mem::take(&mut queue.pending);
    let steps = waiting
        .into_iter()
        .chain(enters.read().cloned().map(SceneStep::Enter))
        .chain(choices.read().cloned().map(SceneStep::Choice));
    for step in steps {
        let handle = step.graph();
        if let Some(graph) = graphs.get(handle) {
            // Loaded (perhaps after a fixed file was reloaded): warn again if it fails later.
            queue.warned.remove(&handle.id());
            if let Some(spawned) = spawn_requests(&mut commands, handle, graph, &step) {
                for left in std::mem::replace(&mut queue.current, spawned) {
                    // The game may have despawned them already.
                    commands.entity(left).try_despawn();
                }
            }
            continue;
        }
        match server.get_load_state(handle.id()) {
            Some(LoadState::Failed(error)) => {
                if queue.warned.insert(handle.id()) {
                    warn!(
                        "scene graph {} failed to load; ignoring its scene messages: {}",
                        graph_name(handle),
                        describe_load_error(&error)
                    );
                }
            }
            Some(LoadState::Loaded) => warn!(
                "scene graph {} was unloaded; ignoring a scene message for it",
                graph_name(handle)
            ),
            // Loading, or not yet added to `Assets<SceneGraph>` by the game: keep waiting.
            Some(LoadState::NotLoaded | LoadState::Loading) | None => queue.pending.push(step),
        }
    }
}

/// Spawns the request entities of the node `step` leads to; `None` when the step is ignored.
fn spawn_requests(
    commands: &mut Commands,
    handle: &Handle<SceneGraph>,
    graph: &SceneGraph,
    step: &SceneStep,
) -> Option<Vec<Entity>> {
    let (node, edge) = match step {
        SceneStep::Enter(enter) => {
            let Some(node) = graph.node(&enter.node) else {
                warn!(
                    "scene graph \"{}\" ({}): no node \"{}\"; EnterNode ignored",
                    graph.id,
                    graph_name(handle),
                    enter.node
                );
                return None;
            };
            (node, None)
        }
        SceneStep::Choice(choice) => {
            let Some(edge) = graph.edge(&choice.edge) else {
                warn!(
                    "scene graph \"{}\" ({}): no edge \"{}\"; MakeChoice ignored",
                    graph.id,
                    graph_name(handle),
                    choice.edge
                );
                return None;
            };
            if edge.from != choice.from {
                warn!(
                    "scene graph \"{}\" ({}): edge \"{}\" leaves node \"{}\", not \"{}\"; \
                     MakeChoice ignored",
                    graph.id,
                    graph_name(handle),
                    edge.id,
                    edge.from,
                    choice.from
                );
                return None;
            }
            // Validation guarantees `to` names a node.
            let node = graph.node(&edge.to)?;
            (node, Some(edge))
        }
    };
    let spawned = graph
        .node_media(&node.id, edge)
        .into_iter()
        .map(|request| {
            let marker = SceneMedia {
                graph: handle.clone(),
                node: node.id.clone(),
                edge: edge.map(|e| e.id.clone()),
                kind: request.kind,
            };
            commands.spawn((request, marker)).id()
        })
        .collect();
    Some(spawned)
}

/// The graph's file path, or its asset id when it was not loaded from a file.
fn graph_name(handle: &Handle<SceneGraph>) -> String {
    handle
        .path()
        .map_or_else(|| format!("{:?}", handle.id()), ToString::to_string)
}

/// The scene error itself when the loader reported one (it already names file and field), else
/// Bevy's whole load error.
fn describe_load_error(error: &AssetLoadError) -> String {
    if let AssetLoadError::AssetLoaderError(loader_error) = error
        && let Some(scene_error) = loader_error.error().downcast_ref::<SceneGraphError>()
    {
        return scene_error.to_string();
    }
    error.to_string()
}

/// The scene graph part of the plugin: the [`SceneGraph`] asset and its loader, the
/// [`EnterNode`] and [`MakeChoice`] messages, and the system that spawns their requests in
/// `Update`, in the request set. [`AssetProviderPlugin`](crate::AssetProviderPlugin) adds it;
/// on its own it only loads and validates scene files.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScenePlugin;

impl Plugin for ScenePlugin {
    fn build(&self, app: &mut App) {
        app.init_asset::<SceneGraph>()
            .init_asset_loader::<SceneGraphLoader>()
            .add_message::<EnterNode>()
            .add_message::<MakeChoice>()
            .register_type::<SceneMedia>()
            .add_systems(
                Update,
                request_scene_media.in_set(crate::AssetProviderSystems::Request),
            );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::PlaySession;

    const STORY: &str = r#"{
        "id": "story", "title": "Story", "startNodeId": "a",
        "nodes": [
            { "id": "a", "type": "image", "label": "Start", "assetId": "start_png" },
            { "id": "b", "type": "image", "label": "Crossroads" },
            { "id": "c", "type": "image", "label": "End",
              "meta": { "prompt": "a painted ending", "location": "sea", "character": "mira",
                        "tags": ["role:bg"], "strategy": "per_player", "seed": 7,
                        "cue": "waves" } }
        ],
        "edges": [
            { "id": "ab", "from": "a", "to": "b", "label": "Go" },
            { "id": "bc1", "from": "b", "to": "c", "label": "Left", "weight": 0.6 },
            { "id": "bc2", "from": "b", "to": "c", "label": "Right", "weight": 0.4 }
        ]
    }"#;

    fn story() -> SceneGraph {
        SceneGraph::from_json(STORY.as_bytes(), "story.scene.json").unwrap()
    }

    fn error_for(json: &str) -> SceneGraphError {
        SceneGraph::from_json(json.as_bytes(), "x.scene.json").unwrap_err()
    }

    #[test]
    fn lookups_and_choices_in_file_order() {
        let graph = story();
        assert_eq!(graph.start_node().id, "a");
        assert_eq!(graph.edge("bc2").unwrap().label, "Right");
        assert!(graph.node("zzz").is_none());
        let choices: Vec<_> = graph.choices("b").map(|e| e.id.as_str()).collect();
        assert_eq!(choices, ["bc1", "bc2"]);
        assert_eq!(graph.choices("c").count(), 0);
    }

    #[test]
    fn same_node_via_same_edge_gives_equal_requests() {
        let graph = story();
        let session = PlaySession::default();
        let edge = graph.edge("bc1").unwrap();
        let first = graph.node_media("c", Some(edge));
        let second = graph.node_media("c", Some(edge));
        assert_eq!(first, second);
        let keys = |requests: &[AssetRequest]| {
            requests
                .iter()
                .map(|r| r.fingerprint(&session))
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(&first), keys(&second));
    }

    #[test]
    fn different_edges_or_direct_entry_give_different_requests() {
        let graph = story();
        let session = PlaySession::default();
        let left = graph.node_media("c", graph.edge("bc1"));
        let right = graph.node_media("c", graph.edge("bc2"));
        let direct = graph.node_media("c", None);
        for (a, b) in [(&left, &right), (&left, &direct), (&right, &direct)] {
            assert_ne!(a, b);
            for (x, y) in a.iter().zip(b.iter()) {
                assert_ne!(x.fingerprint(&session), y.fingerprint(&session));
            }
        }
        assert_eq!(direct[0].scene_id.as_deref(), Some("c"));
        assert_eq!(direct[0].choice_id, None);
    }

    #[test]
    fn node_meta_becomes_request_context() {
        let graph = story();
        let requests = graph.node_media("c", graph.edge("bc1"));
        let [image, sound] = requests.as_slice() else {
            panic!("expected an image and a sound: {requests:?}");
        };
        let expected = AssetRequest::image()
            .scene("b")
            .choice("bc1")
            .to_scene("c")
            .location("sea")
            .character("mira")
            .tags(["role:bg", "scene:story"])
            .strategy(CachingStrategy::PerPlayer)
            .seed(7)
            .prompt("a painted ending");
        assert_eq!(image, &expected);
        let expected_sound = AssetRequest {
            kind: MediaKind::Audio,
            prompt: Some("waves".into()),
            ..expected
        };
        assert_eq!(sound, &expected_sound);
    }

    #[test]
    fn video_nodes_ask_for_clips_when_video_can_play() {
        let json = r#"{"id": "park", "startNodeId": "v", "nodes": [
            {"id": "v", "type": "video", "label": "Bench", "meta": {"cue": "birds"}},
            {"id": "i", "type": "image", "label": "Gate"}, {"id": "u", "label": "Pond"}]}"#;
        let graph = SceneGraph::from_json(json.as_bytes(), "park.scene.json").unwrap();
        let clip = if cfg!(feature = "video") {
            MediaKind::Video
        } else {
            MediaKind::Image
        };
        let kinds = |node: &str| -> Vec<MediaKind> {
            graph
                .node_media(node, None)
                .iter()
                .map(|r| r.kind)
                .collect()
        };
        assert_eq!(kinds("v"), [clip, MediaKind::Audio]);
        assert_eq!(kinds("i"), [MediaKind::Image]);
        assert_eq!(kinds("u"), [MediaKind::Image]);
    }

    #[test]
    fn premade_nodes_ask_by_asset_id_whatever_the_way_in() {
        let graph = story();
        let direct = graph.node_media("a", None);
        let expected = AssetRequest::image()
            .asset_id("start_png")
            .scene("a")
            .tag("scene:story")
            .prompt("Start");
        assert_eq!(direct, [expected]);
        let back = SceneEdge {
            id: "ba".into(),
            from: "b".into(),
            to: "a".into(),
            label: String::new(),
            weight: 1.0,
            conditions: Value::Null,
            effects: Value::Null,
            is_default: None,
        };
        assert_eq!(graph.node_media("a", Some(&back)), direct);
        assert!(graph.node_media("missing", None).is_empty());
    }

    #[test]
    fn validation_errors_name_the_field() {
        let cases = [
            (
                r#"{"id":1,"startNodeId":"a","nodes":[{"id":"a"},{"id":"a"}]}"#,
                "nodes[1].id",
                r#"duplicate node id "a" (first at nodes[0])"#,
            ),
            (
                r#"{"id":1,"startNodeId":"z","nodes":[{"id":"a"}]}"#,
                "startNodeId",
                r#"no node "z""#,
            ),
            (
                r#"{"id":1,"startNodeId":"a","nodes":[{"id":"a"}],
                   "edges":[{"id":1,"from":"q","to":"a"}]}"#,
                "edges[0].from",
                r#"no node "q""#,
            ),
            (
                r#"{"id":1,"startNodeId":"a","nodes":[{"id":"a"}],
                   "edges":[{"id":1,"from":"a","to":"a"},{"id":"1","from":"a","to":"a"}]}"#,
                "edges[1].id",
                r#"duplicate edge id "1" (first at edges[0])"#,
            ),
            (
                r#"{"id":1,"startNodeId":"a","nodes":[{"id":"a"}],
                   "edges":[{"id":1,"from":"a","to":"a","weight":-0.5}]}"#,
                "edges[0].weight",
                "must be a finite number ≥ 0, got -0.5",
            ),
            (
                r#"{"id":1,"startNodeId":"a","nodes":[{"id":"a"}],
                   "edges":[{"id":1,"from":"a","to":"a","weight":1e300}]}"#,
                "edges[0].weight",
                "must be a finite number ≥ 0, got inf",
            ),
            (
                r#"{"id":1,"startNodeId":"a","nodes":[{"id":"a","meta":{"strategy":"sometimes"}}]}"#,
                "nodes[0].meta.strategy",
                r#"unknown caching strategy "sometimes" (expected "once", "per_playthrough", "per_player" or "always")"#,
            ),
            (
                r#"{"id":1,"startNodeId":"a","nodes":[{"id":"a","meta":{"seed":-1}}]}"#,
                "nodes[0].meta.seed",
                "expected an unsigned integer, got -1",
            ),
            (
                r#"{"id":1,"startNodeId":"a","nodes":[{"id":"a","meta":{"tags":["ok",3]}}]}"#,
                "nodes[0].meta.tags[1]",
                "expected a string, got 3",
            ),
            (
                r#"{"id":1,"startNodeId":"a","nodes":[{"id":"a","meta":{"cue":true}}]}"#,
                "nodes[0].meta.cue",
                "expected a string, got true",
            ),
        ];
        for (json, field, message) in cases {
            let error = error_for(json);
            assert!(
                matches!(error, SceneGraphError::Invalid { .. }),
                "{error:?}"
            );
            assert_eq!(error.path(), "x.scene.json");
            assert_eq!(error.field(), Some(field), "{error}");
            assert_eq!(
                error.to_string(),
                format!("scene file x.scene.json: {field}: {message}")
            );
        }
    }

    #[test]
    fn parse_errors_name_the_field_or_the_document() {
        let error = error_for(r#"{"id":1,"startNodeId":"a","nodes":[{"id":true}]}"#);
        assert_eq!(error.field(), Some("nodes[0].id"));
        assert!(
            error
                .to_string()
                .contains("expected an id (a string or an integer)"),
            "{error}"
        );

        let error = error_for(r#"{"id":1,"startNodeId":"a"}"#);
        assert_eq!(error.field(), None);
        assert!(
            error.to_string().contains("missing field `nodes`"),
            "{error}"
        );

        let error = error_for(r#"{"id":1,"startNodeId":"a","nodes":[{"id":"a"}]} trailing"#);
        assert!(matches!(error, SceneGraphError::Parse { field: None, .. }));
        assert!(
            error
                .to_string()
                .starts_with("scene file x.scene.json: trailing")
        );
    }

    #[test]
    fn scene_errors_become_asset_errors() {
        let error = error_for("[]");
        let asset_error = AssetError::from(error);
        assert_eq!(
            asset_error.kind(),
            crate::error::AssetErrorKind::InvalidData
        );
        assert!(asset_error.message().starts_with("scene file x.scene.json"));
    }
}
