//! The scripted playthrough (`--headless`): one JSON object per line for each event, then a
//! summary. CI and users rely on its output.

use std::collections::HashMap;
use std::time::Instant;

use bevy::prelude::*;
use bevy_asset_provider::AssetRequested;
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::scene::{MakeChoice, SceneGraph, SceneMedia};
#[cfg(feature = "video")]
use bevy_asset_provider::video::{VideoEnded, VideoPlayer};
use serde_json::json;

use crate::cli::Options;
use crate::clips::{Clips, clips_watched};
use crate::sources::InProcessBackend;
use crate::story::{Story, take_choice};

/// What the headless run has seen, for its summary.
#[derive(Resource)]
pub struct Journal {
    pub started: Instant,
    pub requested: usize,
    pub ready: Vec<(String, String, &'static str, &'static str, u128)>,
    pub failed: usize,
    pub by_source: HashMap<&'static str, usize>,
    pub path: Vec<String>,
    /// Clips watched to their end: node, frames shown, clip time in ms.
    pub videos: Vec<(String, u64, u128)>,
    /// Outcomes (ready or failed) seen per node and the choice that led there, this visit.
    pub ended: HashMap<(String, Option<String>), usize>,
}

impl Default for Journal {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            requested: 0,
            ready: Vec::new(),
            failed: 0,
            by_source: HashMap::new(),
            path: Vec::new(),
            videos: Vec::new(),
            ended: HashMap::new(),
        }
    }
}

pub fn print_events(
    mut requested: MessageReader<AssetRequested>,
    mut ready: MessageReader<AssetReady>,
    mut failed: MessageReader<AssetFailed>,
    media: Query<&SceneMedia>,
    graphs: Res<Assets<SceneGraph>>,
    story: Res<Story>,
    mut journal: ResMut<Journal>,
) {
    let scene = graphs.get(&story.graph).map(|g| g.id.clone());
    let context = |entity: Option<Entity>| {
        entity
            .and_then(|e| media.get(e).ok())
            .map(|m| (m.node.clone(), m.edge.clone()))
            .unwrap_or_default()
    };
    // Prefetches of the likely next choices get their own events; the journal counts what the
    // player asked for.
    for message in requested.read() {
        if message.prefetch {
            println!(
                "{}",
                json!({"event": "prefetch", "key": message.key.short(), "scene": message.scene_id,
                       "choice": message.choice_id, "kind": message.kind.as_str(),
                       "status": "pending"})
            );
            continue;
        }
        let (node, choice) = context(message.entity);
        journal.requested += 1;
        println!(
            "{}",
            json!({"event": "requested", "key": message.key.short(), "scene": scene, "node": node,
                   "choice": choice, "kind": message.kind.as_str(), "source": null,
                   "status": if message.joined { "joined" } else { "pending" }, "ms": 0})
        );
    }
    for message in ready.read() {
        if message.prefetch {
            println!(
                "{}",
                json!({"event": "prefetch_ready", "key": message.key.short(),
                       "kind": message.kind.as_str(), "source": message.source.as_str(),
                       "origin": message.origin, "ms": message.elapsed.as_millis()})
            );
            continue;
        }
        let (node, choice) = context(message.entity);
        *journal
            .ended
            .entry((node.clone(), choice.clone()))
            .or_default() += 1;
        let ms = message.elapsed.as_millis();
        *journal
            .by_source
            .entry(message.source.as_str())
            .or_default() += 1;
        journal.ready.push((
            message.key.short(),
            node.clone(),
            message.kind.as_str(),
            message.source.as_str(),
            ms,
        ));
        println!(
            "{}",
            json!({"event": "ready", "key": message.key.short(), "scene": scene, "node": node,
                   "choice": choice, "kind": message.kind.as_str(), "source": message.source.as_str(),
                   "origin": message.origin, "status": "completed", "ms": ms})
        );
    }
    for message in failed.read() {
        if message.prefetch {
            println!(
                "{}",
                json!({"event": "prefetch_failed", "key": message.key.short(),
                       "kind": message.kind.as_str(), "status": message.status.as_str(),
                       "error": message.error.to_string()})
            );
            continue;
        }
        let (node, choice) = context(message.entity);
        journal.failed += 1;
        *journal
            .ended
            .entry((node.clone(), choice.clone()))
            .or_default() += 1;
        println!(
            "{}",
            json!({"event": "failed", "key": message.key.short(), "scene": scene, "node": node,
                   "choice": choice, "kind": message.kind.as_str(), "source": null,
                   "status": message.status.as_str(), "error": message.error.to_string(),
                   "ms": message.elapsed.as_millis()})
        );
    }
}

/// Prints each clip that played to its end (or stopped on a decoding error).
#[cfg(feature = "video")]
pub fn print_video_ends(
    mut ended: MessageReader<VideoEnded>,
    players: Query<(&VideoPlayer, &SceneMedia)>,
    mut journal: ResMut<Journal>,
) {
    for message in ended.read() {
        let Ok((player, media)) = players.get(message.entity) else {
            continue;
        };
        let ms = player.position().as_millis();
        journal
            .videos
            .push((media.node.clone(), player.frames_shown(), ms));
        println!(
            "{}",
            json!({"event": "video_ended", "node": media.node, "choice": media.edge,
                   "frames": player.frames_shown(), "clip_ms": ms,
                   "error": message.error.as_ref().map(ToString::to_string),
                   "ms": journal.started.elapsed().as_millis()})
        );
    }
}

/// The story's request entities.
pub type SceneTasks<'w, 's> = Query<'w, 's, (Entity, &'static SceneMedia, &'static GenerationTask)>;

/// Waits until the outcome of every request of the current node has been printed and its clips
/// have played, then takes the next scripted choice, or prints the summary and exits.
pub fn advance_script(
    mut commands: Commands,
    (mut story, graphs): (ResMut<Story>, Res<Assets<SceneGraph>>),
    mut options: ResMut<Options>,
    (tasks, clips): (SceneTasks, Clips),
    mut journal: ResMut<Journal>,
    (mut choice, mut exit): (MessageWriter<MakeChoice>, MessageWriter<AppExit>),
    // What the summary reports.
    (provider, dev): (Res<AssetProvider>, Option<Res<InProcessBackend>>),
) {
    let (Some(graph), Some((node, via))) = (graphs.get(&story.graph), story.at.clone()) else {
        return;
    };
    let expected = graph
        .node_media(&node, via.as_ref().and_then(|e| graph.edge(e)))
        .len();
    // Outcomes arrive as messages a frame after a task ends (at once for a memory hit): count
    // those, so that the journal has them all.
    let seen = journal
        .ended
        .get(&(node.clone(), via.clone()))
        .copied()
        .unwrap_or(0);
    if seen < expected || !clips_watched(&mut commands, &node, &via, &tasks, &clips) {
        return;
    }
    // Like a player reading the scene, the script gives the prefetches of the next choices time
    // to finish: none is given up half-paid, and a second run finds them all on disk.
    if provider.prefetches_in_flight() > 0 {
        return;
    }
    if story.moved {
        story.moved = false;
        journal.path.push(node.clone());
    }
    let choices: Vec<_> = graph.choices(&node).collect();
    match options.choices.pop_front() {
        Some(n) if choices.is_empty() => {
            eprintln!(
                "node {node:?} is an ending; choice {n} and the rest of --choices are unused"
            );
            finish(&journal, &provider, dev.as_deref(), &mut exit);
        }
        Some(n) => {
            let Some(edge) = choices.get(n - 1) else {
                eprintln!(
                    "--choices: node {node:?} has {} choices, not {n}",
                    choices.len()
                );
                exit.write(AppExit::from_code(2));
                return;
            };
            println!(
                "{}",
                json!({"event": "choice", "scene": graph.id, "node": node, "choice": edge.id,
                       "label": edge.label, "to": edge.to, "key": null, "source": null,
                       "status": null, "ms": journal.started.elapsed().as_millis()})
            );
            let (edge, to) = (edge.id.clone(), edge.to.clone());
            // A node visited again by the same way counts its outcomes afresh.
            journal.ended.remove(&(to.clone(), Some(edge.clone())));
            take_choice(&mut story, &edge, &mut choice, &to);
        }
        None => finish(&journal, &provider, dev.as_deref(), &mut exit),
    }
}

pub fn finish(
    journal: &Journal,
    provider: &AssetProvider,
    dev: Option<&InProcessBackend>,
    exit: &mut MessageWriter<AppExit>,
) {
    let mut times: Vec<u128> = journal
        .ready
        .iter()
        .filter(|r| r.3 != "cached")
        .map(|r| r.4)
        .collect();
    times.sort_unstable();
    let percentile = |p: f64| {
        times
            .get(((times.len() as f64 - 1.0) * p).round() as usize)
            .copied()
    };
    let stats = provider.stats();
    let disk_stats = provider.disk().stats();
    let tiers = json!({"memory": stats.memory_hits,
                       "disk": disk_stats.map(|disk| disk.hits),
                       "pre_made": stats.pre_made, "generated": stats.generated});
    let disk = disk_stats.map(|disk| {
        json!({"entries": disk.entries, "bytes": disk.bytes, "hits": disk.hits,
               "misses": disk.misses, "evictions": disk.evictions})
    });
    let backend = dev.map(|dev| {
        let stats = dev.0.stats();
        // Prefetches are sent in the background lane, at a lower priority than the player's own.
        let prefetch_creates = dev
            .0
            .create_priorities()
            .iter()
            .filter(|&&priority| priority <= 1)
            .count();
        json!({"creates": stats.creates,
               "player_creates": stats.creates.saturating_sub(prefetch_creates as u64),
               "prefetch_creates": prefetch_creates,
               "new_generations": stats.new_generations, "downloads": stats.downloads})
    });
    let videos: Vec<_> = journal
        .videos
        .iter()
        .map(|(node, frames, ms)| json!({"node": node, "frames": frames, "clip_ms": ms}))
        .collect();
    let requests: Vec<_> = journal
        .ready
        .iter()
        .map(|(key, node, kind, source, ms)| {
            json!({"key": key, "node": node, "kind": kind, "source": source, "ms": ms})
        })
        .collect();
    println!(
        "{}",
        json!({"event": "summary", "key": null, "scene": null, "node": journal.path.last(),
               "choice": null, "source": null,
               "status": if journal.failed == 0 { "ok" } else { "failed" },
               "ms": journal.started.elapsed().as_millis(),
               "path": journal.path, "requested": journal.requested,
               "ready": journal.ready.len(), "failed": journal.failed,
               "by_source": journal.by_source,
               "time_to_real_media_ms": {"p50": percentile(0.5), "max": times.last()},
               "tiers": tiers, "disk": disk, "backend": backend,
               "resumed_jobs": provider.disk().resumed_jobs(),
               "prefetch": {"started": stats.prefetched, "used": stats.prefetch_used,
                            "wasted": stats.prefetch_wasted},
               "videos": videos, "requests": requests})
    );
    exit.write(if journal.failed == 0 {
        AppExit::Success
    } else {
        AppExit::from_code(1)
    });
}
