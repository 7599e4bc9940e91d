//! What a player will do, drawn in advance from the player's seed so every configuration sees
//! the same players: the path (choices by the edges' weights) and the reading time per node.

use std::time::Duration;

use bevy_asset_provider::prelude::*;
use bevy_asset_provider::scene::SceneEdge;

use crate::rng::Rng;

/// Reading time per node, in world time: uniform between these.
const READING: (f64, f64) = (6.0, 25.0);
/// Longest path followed (the generated story is acyclic; this bounds any other).
const MAX_STEPS: usize = 64;

/// One node of a playthrough.
#[derive(Clone)]
pub struct Step {
    pub node: String,
    /// The choice that led here; `None` for the start node.
    pub edge: Option<SceneEdge>,
    /// How long the player stays, in world time.
    pub reading: Duration,
}

/// Player `n`'s playthrough of `story`, the same for the same `n`.
pub fn draw(story: &SceneGraph, n: usize) -> Vec<Step> {
    let mut rng = Rng::new(0xC0FF_EE00 ^ (n as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let reading =
        |rng: &mut Rng| Duration::from_secs_f64(READING.0 + (READING.1 - READING.0) * rng.unit());
    let mut steps = vec![Step {
        node: story.start_node_id.clone(),
        edge: None,
        reading: reading(&mut rng),
    }];
    while steps.len() < MAX_STEPS {
        let at = &steps[steps.len() - 1].node;
        let edges: Vec<&SceneEdge> = story.choices(at).collect();
        if edges.is_empty() {
            break;
        }
        let total: f64 = edges.iter().map(|edge| f64::from(edge.weight)).sum();
        let mut pick = rng.unit() * total;
        let edge = edges
            .iter()
            .find(|edge| {
                pick -= f64::from(edge.weight);
                pick < 0.0
            })
            .unwrap_or(&edges[edges.len() - 1]);
        steps.push(Step {
            node: edge.to.clone(),
            edge: Some((*edge).clone()),
            reading: reading(&mut rng),
        });
    }
    steps
}
