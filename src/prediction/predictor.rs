//! The [`Predictor`] trait and the default [`WeightedPredictor`].

use std::collections::HashMap;

use bevy::prelude::*;
use serde_json::Value;

use crate::scene::{SceneEdge, SceneGraph};

/// The game's story flags, which edges' `conditions` are checked against: an edge whose
/// `conditions` is a JSON object is offered only when every entry equals the flag of that name.
/// An unset flag reads as `false` against a boolean condition and as `null` otherwise. Edges
/// without conditions (or with a non-object) are always offered.
#[derive(Resource, Clone, Debug, Default, PartialEq, Reflect)]
#[reflect(opaque, Resource, Debug, Default, Clone, PartialEq)]
pub struct SceneFlags(pub HashMap<String, Value>);

impl SceneFlags {
    /// Sets flag `name`.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        self.0.insert(name.into(), value.into());
    }

    /// Whether `edge` is offered under these flags.
    pub fn allows(&self, edge: &SceneEdge) -> bool {
        let Value::Object(conditions) = &edge.conditions else {
            return true;
        };
        conditions.iter().all(|(name, wanted)| {
            let unset = match wanted {
                Value::Bool(_) => Value::Bool(false),
                _ => Value::Null,
            };
            self.0.get(name).unwrap_or(&unset) == wanted
        })
    }
}

/// A step the player may take: edge `via` into `node`, `depth` choices from where the player
/// is, with its estimated probability.
#[derive(Clone, Debug, PartialEq)]
pub struct PredictedStep {
    /// The node the step arrives at.
    pub node: String,
    /// The edge taken into it.
    pub via: String,
    /// 1 for the next choice, 2 for the one after.
    pub depth: u8,
    /// How likely the player is to take this step, 0 to 1.
    pub probability: f32,
}

/// What a predictor sees.
pub struct PredictionContext<'a> {
    /// The scene graph.
    pub graph: &'a SceneGraph,
    /// The node the player is at.
    pub at: &'a str,
    /// The game's story flags.
    pub flags: &'a SceneFlags,
    /// How often players took each edge of this graph (by edge id), across sessions.
    pub counts: &'a dyn Fn(&str) -> u64,
}

impl PredictionContext<'_> {
    /// The edges out of `node` the player is offered under the flags.
    pub fn offered<'g>(&'g self, node: &'g str) -> impl Iterator<Item = &'g SceneEdge> + 'g {
        self.graph
            .choices(node)
            .filter(move |edge| self.flags.allows(edge))
    }
}

/// Ranks the player's likely next steps. The plugin prefetches the top ones within its budget;
/// put your own in with
/// [`AssetProviderPlugin::with_predictor`](crate::plugin::AssetProviderPlugin::with_predictor).
pub trait Predictor: Send + Sync + 'static {
    /// The likely next steps from `context.at`, most likely first.
    fn predict(&self, context: &PredictionContext) -> Vec<PredictedStep>;
}

/// The default predictor: an edge's chance is its authored `weight` blended with how often
/// players actually took it, one or two choices ahead.
///
/// For the edges offered at a node, `p(edge) ∝ weight × prior + count`: with no history the
/// weights decide; every recorded choice moves the estimate toward what players do. Two steps
/// ahead multiply: `p(a then b) = p(a) × p(b)`.
#[derive(Clone, Debug)]
pub struct WeightedPredictor {
    /// How many choices ahead to look: 1 or 2 (default 2).
    pub depth: u8,
    /// How many recorded choices one unit of authored weight is worth (default 5).
    pub prior: f32,
}

impl Default for WeightedPredictor {
    fn default() -> Self {
        Self {
            depth: 2,
            prior: 5.0,
        }
    }
}

impl WeightedPredictor {
    /// The offered edges out of `node` with their probabilities.
    fn edges<'g>(
        &self,
        context: &'g PredictionContext,
        node: &'g str,
    ) -> Vec<(&'g SceneEdge, f32)> {
        let edges: Vec<&SceneEdge> = context.offered(node).collect();
        let scores: Vec<f32> = edges
            .iter()
            .map(|edge| edge.weight.max(0.0) * self.prior + (context.counts)(&edge.id) as f32)
            .collect();
        let total: f32 = scores.iter().sum();
        edges
            .into_iter()
            .zip(scores)
            .map(|(edge, score)| {
                let p = if total > 0.0 {
                    score / total
                } else {
                    1.0 / context.offered(node).count() as f32
                };
                (edge, p)
            })
            .collect()
    }
}

impl Predictor for WeightedPredictor {
    fn predict(&self, context: &PredictionContext) -> Vec<PredictedStep> {
        let mut steps = Vec::new();
        for (first, p1) in self.edges(context, context.at) {
            steps.push(PredictedStep {
                node: first.to.clone(),
                via: first.id.clone(),
                depth: 1,
                probability: p1,
            });
            if self.depth >= 2 {
                for (second, p2) in self.edges(context, &first.to) {
                    steps.push(PredictedStep {
                        node: second.to.clone(),
                        via: second.id.clone(),
                        depth: 2,
                        probability: p1 * p2,
                    });
                }
            }
        }
        // Stable: equal chances keep the graph's order, nearer steps first.
        steps.sort_by(|a, b| {
            b.probability
                .total_cmp(&a.probability)
                .then(a.depth.cmp(&b.depth))
        });
        steps
    }
}
