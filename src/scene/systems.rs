//! The system that turns scene messages into request entities.

use bevy::asset::LoadState;
use bevy::platform::collections::HashSet;
use bevy::prelude::*;

use super::error::SceneGraphError;
use super::graph::{SceneEdge, SceneGraph, SceneNode};
use super::messages::{EnterNode, MakeChoice, SceneMedia};
use super::settings::{LastScenePicture, SceneSettings};
use crate::json::describe_load_error;
use crate::request::{AssetRequest, MediaKind};

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
/// [`SceneGraph::node_media`], each with its [`AssetRequest`](crate::AssetRequest) and a
/// [`SceneMedia`].
///
/// The player is at one node at a time: the entities spawned for the node before are despawned
/// when the next node's are spawned (after them, so a job both nodes ask for is kept). Their
/// jobs are released; one nobody else holds (a prefetch, another entity, a direct request) is
/// cancelled.
///
/// A message for a graph still loading waits (in this system's local queue, in order); one for
/// a graph that failed to load is dropped, with one warning per failed graph carrying the
/// error. Unknown node or edge ids are warned about and ignored.
///
/// A node's pictures (image and video requests) carry the fallback [`SceneSettings`] chooses;
/// for [`SceneFallback::PreviousPicture`](super::SceneFallback::PreviousPicture), the newest
/// scene picture whose real media arrived ([`LastScenePicture`]).
pub(crate) fn request_scene_media(
    mut commands: Commands,
    mut enters: MessageReader<EnterNode>,
    mut choices: MessageReader<MakeChoice>,
    graphs: Res<Assets<SceneGraph>>,
    server: Res<AssetServer>,
    (settings, last): (Option<Res<SceneSettings>>, Option<Res<LastScenePicture>>),
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
            let previous = last.as_ref().and_then(|last| last.0.as_ref());
            let fallback = settings
                .as_ref()
                .and_then(|settings| settings.picture_fallback(previous));
            let spawn = (handle, graph, fallback);
            if let Some(spawned) = spawn_requests(&mut commands, spawn, &step) {
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
                        describe_load_error::<SceneGraphError>(&error)
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

/// Spawns the request entities of the node `step` leads to in `graph` (loaded from `handle`),
/// its pictures with `fallback`; `None` when the step is ignored.
fn spawn_requests(
    commands: &mut Commands,
    (handle, graph, fallback): (&Handle<SceneGraph>, &SceneGraph, Option<crate::Fallback>),
    step: &SceneStep,
) -> Option<Vec<Entity>> {
    let (node, edge) = destination(handle, graph, step)?;
    let spawned = graph
        .node_media(&node.id, edge)
        .into_iter()
        .map(|request| with_fallback(request, fallback.as_ref()))
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

/// `request` with `fallback` when it is a picture.
fn with_fallback(request: AssetRequest, fallback: Option<&crate::Fallback>) -> AssetRequest {
    match fallback {
        Some(fallback) if request.kind != MediaKind::Audio => request.fallback(fallback.clone()),
        _ => request,
    }
}

/// The node `step` leads to, and the edge taken to get there; `None` (with a warning) when
/// the graph has no such node or edge, or the edge does not leave the node the player is at.
fn destination<'a>(
    handle: &Handle<SceneGraph>,
    graph: &'a SceneGraph,
    step: &SceneStep,
) -> Option<(&'a SceneNode, Option<&'a SceneEdge>)> {
    match step {
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
            Some((node, None))
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
            Some((node, Some(edge)))
        }
    }
}

/// The graph's file path, or its asset id when it was not loaded from a file.
fn graph_name(handle: &Handle<SceneGraph>) -> String {
    handle
        .path()
        .map_or_else(|| format!("{:?}", handle.id()), ToString::to_string)
}
