//! What a bake resolves: every request a scene graph's reachable nodes and choices make, built by
//! [`SceneGraph::node_media`] as the game builds them, and the other requests a game lists in a
//! small JSON file.

use std::collections::{HashSet, VecDeque};
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::error::AssetError;
use crate::json::parse_strict;
use crate::request::{AssetRequest, CachingStrategy, GenerationPurpose, MediaKind};
use crate::scene::SceneGraph;

/// One request a bake resolves, under a stable name.
#[derive(Clone, Debug, PartialEq)]
pub struct BakeTarget {
    /// A name that stays the same when the request changes (a new prompt, a new style), so a
    /// re-bake replaces the entry made for it: `lighthouse/boat/via/row_out/video` for a node's
    /// media after a choice, `lighthouse/harbor/image` for the start node, `listed/<name>` for
    /// a listed request.
    pub slot: String,
    /// The request, exactly as the game will make it.
    pub request: AssetRequest,
}

/// The requests a bake resolves, in order: scene graphs walked from their start node, then
/// listed requests.
///
/// ```
/// use bevy_asset_provider::bake::BakeTargets;
/// use bevy_asset_provider::scene::SceneGraph;
///
/// let json = br#"{"id": "park", "startNodeId": "gate", "nodes": [
///     {"id": "gate", "label": "The gate"}, {"id": "pond", "label": "The pond"}],
///   "edges": [{"id": "walk", "from": "gate", "to": "pond"}]}"#;
/// let graph = SceneGraph::from_json(json, "park.scene.json").unwrap();
/// let targets = BakeTargets::new().with_scene(&graph);
/// let slots: Vec<_> = targets.iter().map(|t| t.slot.as_str()).collect();
/// assert_eq!(slots, ["park/gate/image", "park/pond/via/walk/image"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BakeTargets {
    targets: Vec<BakeTarget>,
}

impl BakeTargets {
    /// No targets yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the media of every node and choice reachable from `graph`'s start node: the start
    /// node entered directly, then the node each reachable edge leads to, keyed on that edge,
    /// as [`SceneGraph::node_media`] builds them for [`EnterNode`](crate::scene::EnterNode)
    /// and [`MakeChoice`](crate::scene::MakeChoice). Edge conditions are ignored: any choice
    /// may be offered to some player.
    #[must_use]
    pub fn with_scene(mut self, graph: &SceneGraph) -> Self {
        let start = graph.start_node_id.as_str();
        self.push_node(graph, start, None);
        let mut seen = HashSet::from([start]);
        let mut queue = VecDeque::from([start]);
        while let Some(node) = queue.pop_front() {
            for edge in graph.choices(node) {
                self.push_node(graph, &edge.to, Some(edge));
                if seen.insert(edge.to.as_str()) {
                    queue.push_back(edge.to.as_str());
                }
            }
        }
        self
    }

    /// Adds the requests of a [`ListedRequests`] file.
    #[must_use]
    pub fn with_listed(mut self, listed: &ListedRequests) -> Self {
        self.targets.extend(listed.targets.iter().cloned());
        self
    }

    /// Adds one request under `slot`.
    pub fn push(&mut self, slot: impl Into<String>, request: AssetRequest) {
        self.targets.push(BakeTarget {
            slot: slot.into(),
            request,
        });
    }

    /// The targets, in order.
    pub fn iter(&self) -> impl Iterator<Item = &BakeTarget> {
        self.targets.iter()
    }

    /// How many targets there are (the same request may come more than once).
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    fn push_node(&mut self, graph: &SceneGraph, node: &str, via: Option<&crate::scene::SceneEdge>) {
        let place = match via {
            Some(edge) => format!("{}/{node}/via/{}", graph.id, edge.id),
            None => format!("{}/{node}", graph.id),
        };
        for request in graph.node_media(node, via) {
            let slot = format!("{place}/{}", request.kind.as_str());
            self.push(slot, request);
        }
    }
}

/// The other requests a game makes (title music, a menu background, ...), read from a small
/// JSON file so a bake resolves them too:
///
/// ```json
/// {"requests": [
///   {"name": "title_theme", "kind": "audio", "prompt": "a slow sea shanty on a fiddle"},
///   {"name": "menu_bg", "scene": "menu", "location": "harbor", "tags": ["role:bg"],
///    "prompt": "a harbor at night, painterly"}
/// ]}
/// ```
///
/// Each entry has a unique `name` (its slot is `listed/<name>`) and the request's fields, as
/// [`AssetRequest`]'s builder names them: `kind` (`image` by default), `scene`, `choice`,
/// `to_scene`, `character`, `location`, `asset_id`, `prompt`, `style` (an object),
/// `duration_secs`, `tags`, `strategy` (`once` by default), `purpose` and `seed`. Unknown
/// fields are errors, so a typo does not silently bake another request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListedRequests {
    targets: Vec<BakeTarget>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListedFile {
    requests: Vec<ListedRequest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListedRequest {
    name: String,
    #[serde(default)]
    kind: MediaKind,
    scene: Option<String>,
    choice: Option<String>,
    to_scene: Option<String>,
    character: Option<String>,
    location: Option<String>,
    asset_id: Option<String>,
    prompt: Option<String>,
    style: Option<Value>,
    duration_secs: Option<f32>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    strategy: CachingStrategy,
    #[serde(default)]
    purpose: GenerationPurpose,
    seed: Option<u64>,
}

impl ListedRequest {
    fn into_request(self) -> AssetRequest {
        let mut request = AssetRequest::new(self.kind)
            .tags(self.tags)
            .strategy(self.strategy)
            .purpose(self.purpose);
        request.scene_id = self.scene;
        request.choice_id = self.choice;
        request.to_scene_id = self.to_scene;
        request.character_id = self.character;
        request.location_id = self.location;
        request.asset_id = self.asset_id;
        request.prompt = self.prompt;
        request.style = self.style;
        request.duration_secs = self.duration_secs;
        request.seed = self.seed;
        request
    }
}

impl ListedRequests {
    /// Parses a requests file; `path` names it in errors, which say which field was wrong
    /// (`requests[2].kind: unknown variant ...`).
    ///
    /// ```
    /// use bevy_asset_provider::bake::ListedRequests;
    ///
    /// let listed = ListedRequests::parse(
    ///     br#"{"requests": [{"name": "theme", "kind": "audio", "prompt": "a fiddle"}]}"#,
    ///     "bake.json",
    /// ).unwrap();
    /// assert_eq!(listed.len(), 1);
    /// let error = ListedRequests::parse(br#"{"requests": [{"name": "x", "promt": "a"}]}"#, "bake.json")
    ///     .unwrap_err();
    /// assert!(error.message().contains("requests[0]"), "{error}");
    /// ```
    pub fn parse(bytes: &[u8], path: impl AsRef<Path>) -> Result<Self, AssetError> {
        let file = path.as_ref().display();
        let invalid = |field: &str, problem: &dyn std::fmt::Display| {
            AssetError::invalid_data(format!("bake requests {file}: {field}: {problem}"))
        };
        let parsed: ListedFile =
            parse_strict(bytes).map_err(|error| error.in_file("bake requests", path.as_ref()))?;
        let mut names = HashSet::new();
        let mut targets = Vec::with_capacity(parsed.requests.len());
        for (i, listed) in parsed.requests.into_iter().enumerate() {
            let name = listed.name.trim();
            if name.is_empty() {
                return Err(invalid(&format!("requests[{i}].name"), &"is empty"));
            }
            if !names.insert(name.to_owned()) {
                return Err(invalid(
                    &format!("requests[{i}].name"),
                    &format!("{name:?} is already the name of another request"),
                ));
            }
            let slot = format!("listed/{name}");
            targets.push(BakeTarget {
                slot,
                request: listed.into_request(),
            });
        }
        Ok(Self { targets })
    }

    /// Reads and parses the requests file at `path`.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, AssetError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|error| {
            AssetError::io(format!(
                "bake requests {}: cannot read: {error}",
                path.display()
            ))
        })?;
        Self::parse(&bytes, path)
    }

    /// How many requests the file lists.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether it lists none.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::PlaySession;

    const STORY: &str = r#"{"id": "s", "startNodeId": "a", "nodes": [
        {"id": "a", "label": "A", "meta": {"cue": "wind"}},
        {"id": "b", "label": "B"}, {"id": "c", "label": "C"}, {"id": "lost", "label": "L"}],
      "edges": [{"id": "ab", "from": "a", "to": "b"}, {"id": "ba", "from": "b", "to": "a"},
                {"id": "bc", "from": "b", "to": "c"}, {"id": "lc", "from": "lost", "to": "c"}]}"#;

    #[test]
    fn a_scene_walk_reaches_every_edge_from_the_start_and_no_other() {
        let graph = SceneGraph::from_json(STORY.as_bytes(), "s.scene.json").unwrap();
        let targets = BakeTargets::new().with_scene(&graph);
        let slots: Vec<_> = targets.iter().map(|t| t.slot.as_str()).collect();
        assert_eq!(
            slots,
            [
                "s/a/image",
                "s/a/audio",
                "s/b/via/ab/image",
                "s/a/via/ba/image",
                "s/a/via/ba/audio",
                "s/c/via/bc/image"
            ]
        );
        // The requests are the game's own: the same keys as node_media's.
        let session = PlaySession::default();
        let bc = graph.edge("bc");
        let game = graph.node_media("c", bc);
        let baked = targets
            .iter()
            .find(|t| t.slot == "s/c/via/bc/image")
            .unwrap();
        assert_eq!(
            baked.request.fingerprint(&session),
            game[0].fingerprint(&session)
        );
    }

    #[test]
    fn listed_requests_are_built_like_the_builder_does() {
        let listed = ListedRequests::parse(
            br#"{"requests": [{"name": "menu", "scene": "menu", "location": "harbor",
                 "tags": ["role:bg"], "prompt": "night", "seed": 3}]}"#,
            "bake.json",
        )
        .unwrap();
        let targets = BakeTargets::new().with_listed(&listed);
        let target = targets.iter().next().unwrap();
        assert_eq!(target.slot, "listed/menu");
        let expected = AssetRequest::image()
            .scene("menu")
            .location("harbor")
            .tag("role:bg")
            .prompt("night")
            .seed(3);
        assert_eq!(target.request, expected);
    }

    #[test]
    fn bad_requests_files_name_the_field() {
        let cases = [
            (
                r#"{"requests": [{"name": "a", "kind": "smell"}]}"#,
                "requests[0].kind",
            ),
            (r#"{"requests": [{"name": " "}]}"#, "requests[0].name"),
            (
                r#"{"requests": [{"name": "a"}, {"name": "a"}]}"#,
                "requests[1].name",
            ),
            (
                r#"{"requests": [{"name": "a", "seed": -2}]}"#,
                "requests[0].seed",
            ),
            (r#"{"requests": 3}"#, "requests"),
            (r#"{"requests": []} tail"#, "(document)"),
        ];
        for (json, field) in cases {
            let error = ListedRequests::parse(json.as_bytes(), "bake.json").unwrap_err();
            assert_eq!(error.kind(), crate::AssetErrorKind::InvalidData);
            assert!(
                error
                    .message()
                    .starts_with(&format!("bake requests bake.json: {field}:")),
                "{json}: {error}"
            );
        }
    }
}
