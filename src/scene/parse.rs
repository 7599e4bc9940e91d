//! Scene files read: JSON parsed strictly into a [`SceneGraph`], then checked for what JSON's
//! shape cannot say (ids unique, edges that lead somewhere, the `meta` keys the crate reads).

use bevy::platform::collections::HashMap;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::SceneGraphError;
use super::graph::SceneGraph;
use crate::json::parse_strict;
use crate::request::CachingStrategy;

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
        let graph: SceneGraph =
            parse_strict(bytes).map_err(|error| SceneGraphError::parse(path, error))?;
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
