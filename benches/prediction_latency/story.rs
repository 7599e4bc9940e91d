//! The generated story: layers of nodes, each node choosing 2 or 3 nodes of the next layer, so
//! a playthrough visits one node per layer. A mix of picture, video-clip and sound nodes (a
//! sound node shows a picture and plays a cue) and of caching strategies.

use serde_json::{Value, json};

use crate::rng::Rng;

/// Layers after the start node; a playthrough visits `LAYERS + 1` nodes.
const LAYERS: usize = 12;
/// Nodes per layer after the start.
const WIDTH: usize = 5;

/// What a node shows.
#[derive(Clone, Copy)]
enum Show {
    Picture,
    Clip,
    PictureAndCue,
}

/// The story as scene JSON, the same for the same `seed`: 1 + `LAYERS` × `WIDTH` nodes.
pub fn generated(seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut nodes = vec![node("n0", Show::PictureAndCue, "once")];
    let mut edges = Vec::new();
    let id = |layer: usize, slot: usize| {
        if layer == 0 {
            "n0".to_owned()
        } else {
            format!("n{}", 1 + (layer - 1) * WIDTH + slot)
        }
    };
    for layer in 1..=LAYERS {
        for slot in 0..WIDTH {
            let show = match rng.below(0, 20) {
                0..=10 => Show::Picture,
                11..=14 => Show::Clip,
                _ => Show::PictureAndCue,
            };
            let strategy = match rng.below(0, 4) {
                0 | 1 => "once",
                2 => "per_player",
                _ => "per_playthrough",
            };
            nodes.push(node(&id(layer, slot), show, strategy));
        }
    }
    for layer in 0..LAYERS {
        let sources = if layer == 0 { 1 } else { WIDTH };
        for slot in 0..sources {
            let from = id(layer, slot);
            let branches = rng.below(2, 4);
            let first = rng.below(0, WIDTH);
            for branch in 0..branches {
                // Distinct targets, one of them favoured.
                let to = id(layer + 1, (first + branch * 2) % WIDTH);
                let weight = if branch == 0 {
                    3.0
                } else {
                    1.0 + rng.below(0, 2) as f64
                };
                edges.push(json!({
                    "id": format!("{from}-{to}"),
                    "from": from,
                    "to": to,
                    "label": format!("to {to}"),
                    "weight": weight,
                }));
            }
        }
    }
    let story = json!({
        "id": "generated",
        "title": "A generated story",
        "startNodeId": "n0",
        "nodes": nodes,
        "edges": edges,
    });
    serde_json::to_vec(&story).expect("JSON")
}

fn node(id: &str, show: Show, strategy: &str) -> Value {
    let kind = match show {
        Show::Clip => "video",
        Show::Picture | Show::PictureAndCue => "image",
    };
    let mut meta = json!({
        "prompt": format!("scene {id}, painted"),
        "strategy": strategy,
    });
    if let Show::PictureAndCue = show {
        meta["cue"] = json!(format!("the sound of scene {id}"));
    }
    json!({"id": id, "type": kind, "label": format!("Scene {id}"), "meta": meta})
}
