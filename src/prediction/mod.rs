//! Predictive pre-generation: while the player reads a node, the media of their likely next
//! choices is fetched in the background, within a budget, and dropped when they go elsewhere.
//!
//! The [`PredictionPlugin`]'s system watches [`EnterNode`] and [`MakeChoice`], asks the
//! [`Predictor`] (by default [`WeightedPredictor`]: authored weights blended with the choices
//! players made, counted in [`ChoiceCounts`] and kept with the disk tier) for the likely next steps, and
//! [prefetches](crate::AssetProvider::prefetch) their media: the same requests
//! [`SceneGraph::node_media`] builds for the real step, so when the player chooses, the
//! foreground request joins the prefetch (or finds it done) instead of starting again.

mod counts;
mod predictor;
mod settings;

pub use counts::ChoiceCounts;
pub use predictor::{PredictedStep, PredictionContext, Predictor, SceneFlags, WeightedPredictor};
pub use settings::{GenerationTime, Planner, PredictionSettings};

use std::collections::HashMap;
use std::sync::Arc;

use bevy::prelude::*;

use crate::provider::AssetProvider;
use crate::request::PlaySession;
use crate::request::{AssetRequest, RequestKey};
use crate::scene::{EnterNode, MakeChoice, SceneGraph};
use counts::CountsFromDisk;

/// The predictor in use.
#[derive(Resource, Clone)]
pub(crate) struct ActivePredictor(pub Arc<dyn Predictor>);

/// The prediction part of the plugin: follows the player through scene graphs and keeps the
/// likely next steps prefetched within [`PredictionSettings`]' budget, ranking them with a
/// [`Predictor`] and the [`ChoiceCounts`] it keeps. Part of
/// [`AssetProviderPlugins`](crate::AssetProviderPlugins), after the
/// [`ScenePlugin`](crate::scene::ScenePlugin) it needs; configured by
/// [`AssetProviderPlugin`](crate::AssetProviderPlugin)'s `with_prediction` and `with_predictor`.
#[derive(Clone)]
pub struct PredictionPlugin {
    settings: PredictionSettings,
    predictor: Arc<dyn Predictor>,
}

impl PredictionPlugin {
    /// Prediction within `settings`, ranked by `predictor`.
    #[must_use]
    pub fn new(settings: PredictionSettings, predictor: Arc<dyn Predictor>) -> Self {
        Self {
            settings,
            predictor,
        }
    }
}

impl Plugin for PredictionPlugin {
    fn build(&self, app: &mut App) {
        if !app.is_plugin_added::<crate::scene::ScenePlugin>() {
            warn!(
                "PredictionPlugin follows scene graphs: add ScenePlugin before it; no prediction"
            );
            return;
        }
        let from_disk = CountsFromDisk::load(app);
        app.insert_resource(from_disk)
            .insert_resource(self.settings.clone())
            .insert_resource(ActivePredictor(self.predictor.clone()))
            .init_resource::<SceneFlags>()
            .init_resource::<PredictionState>()
            .init_resource::<ChoiceCounts>()
            .register_type::<(
                PredictionSettings,
                SceneFlags,
                PredictionState,
                ChoiceCounts,
            )>()
            .add_systems(
                Update,
                predict_next
                    .run_if(has_work)
                    .in_set(crate::AssetProviderSystems::Predict),
            );
    }
}

/// Whether prediction has anything to do this frame: the player moved, counts arrived, the
/// session changed, a graph is still loading, or prefetches wait for a slot.
fn has_work(
    state: Res<PredictionState>,
    provider: Option<Res<AssetProvider>>,
    settings: Res<PredictionSettings>,
    mut enters: MessageReader<EnterNode>,
    mut choices: MessageReader<MakeChoice>,
    from_disk: Res<CountsFromDisk>,
) -> bool {
    // Every reader is read (the system keeps its own cursors), so each message wakes it once.
    let fresh = enters.read().count() + choices.read().count();
    fresh > 0
        || from_disk.has_arrived()
        || provider.is_some_and(|provider| state.session.as_ref() != Some(provider.session()))
        || settings.is_changed()
        || state.pending.is_some()
        || !state.waiting.is_empty()
        || (!settings.enabled && !state.targets.is_empty())
}

/// A prefetched step's media.
#[derive(Clone, Debug, PartialEq)]
struct Target {
    node: String,
    via: String,
}

/// Where the player is, as the predictor sees it, and what it prefetched.
// Reflected for inspectors: where prediction stands; its bookkeeping is private.
#[derive(Resource, Default, Reflect)]
#[reflect(Resource, Default)]
pub struct PredictionState {
    graph: Option<Handle<SceneGraph>>,
    at: Option<String>,
    #[reflect(ignore)]
    targets: HashMap<RequestKey, Target>,
    /// Predicted requests the budget held back, tried again as slots free up.
    #[reflect(ignore)]
    waiting: Vec<(RequestKey, AssetRequest, Target)>,
    started_this_session: u64,
    /// The provider's session `started_this_session` counts for.
    #[reflect(ignore)]
    session: Option<PlaySession>,
    #[reflect(ignore)]
    pending: Option<(Handle<SceneGraph>, Position)>,
}

#[derive(Clone, Debug)]
enum Position {
    Node(String),
    Edge(String),
}

impl PredictionState {
    /// The node the player is at, once its graph has loaded.
    pub fn at(&self) -> Option<&str> {
        self.at.as_deref()
    }

    /// Whether media of the step `via` into `node` is being prefetched (or was, and is ready).
    pub fn is_target(&self, node: &str, via: &str) -> bool {
        self.targets
            .values()
            .any(|target| target.node == node && target.via == via)
    }

    /// Prefetch jobs this session has started.
    pub fn started_this_session(&self) -> u64 {
        self.started_this_session
    }
}

/// Follows the player through the scene graph and keeps the likely next steps prefetched.
#[allow(clippy::too_many_arguments)] // A system's parameters are its dependencies.
pub(crate) fn predict_next(
    settings: Res<PredictionSettings>,
    predictor: Res<ActivePredictor>,
    flags: Res<SceneFlags>,
    graphs: Res<Assets<SceneGraph>>,
    (mut enters, mut choices): (MessageReader<EnterNode>, MessageReader<MakeChoice>),
    mut provider: ResMut<AssetProvider>,
    mut state: ResMut<PredictionState>,
    (mut counts, from_disk): (ResMut<ChoiceCounts>, Res<CountsFromDisk>),
) {
    from_disk.add_to(&mut counts);
    // The provider keys prefetches with the session as it is now; the budget follows it.
    if state.session.as_ref() != Some(provider.session()) {
        state.session = Some(provider.session().clone());
        state.started_this_session = 0;
    }
    for enter in enters.read() {
        state.pending = Some((enter.graph.clone(), Position::Node(enter.node.clone())));
    }
    for choice in choices.read() {
        if let Some(graph) = graphs.get(&choice.graph) {
            counts.record(&provider, &graph.id, &choice.edge);
        }
        state.pending = Some((choice.graph.clone(), Position::Edge(choice.edge.clone())));
    }
    if !settings.enabled {
        if !state.targets.is_empty() || !state.waiting.is_empty() {
            give_up_all(&mut state, &mut provider, settings.keep_if_progress);
        }
        return;
    }
    if state.arrive(&graphs) {
        let ranking = Ranking {
            settings: &settings,
            predictor: &predictor,
            flags: &flags,
            graphs: &graphs,
            counts: &counts,
        };
        plan(&ranking, &mut provider, &mut state);
    }
    if !state.waiting.is_empty() {
        start_waiting(&settings, &mut provider, &mut state);
    }
}

impl PredictionState {
    /// Moves to where the player went, once its graph has loaded; whether the player moved.
    fn arrive(&mut self, graphs: &Assets<SceneGraph>) -> bool {
        let Some((handle, position)) = self.pending.take() else {
            return false;
        };
        let Some(graph) = graphs.get(&handle) else {
            // The graph is still loading: look again next frame.
            self.pending = Some((handle, position));
            return false;
        };
        self.at = match position {
            Position::Node(node) => Some(node),
            Position::Edge(edge) => graph.edge(&edge).map(|edge| edge.to.clone()),
        };
        self.graph = Some(handle);
        true
    }
}

/// What ranks the next steps.
struct Ranking<'a> {
    settings: &'a PredictionSettings,
    predictor: &'a ActivePredictor,
    flags: &'a SceneFlags,
    graphs: &'a Assets<SceneGraph>,
    counts: &'a ChoiceCounts,
}

/// Ranks the steps from where the player is, gives up prefetches off the likely paths and
/// queues the new ones.
fn plan(ranking: &Ranking, provider: &mut AssetProvider, state: &mut PredictionState) {
    let (Some(handle), Some(at)) = (state.graph.clone(), state.at.clone()) else {
        return;
    };
    let Some(graph) = ranking.graphs.get(&handle) else {
        return;
    };
    let counts = |edge: &str| ranking.counts.get(&graph.id, edge);
    let context = PredictionContext {
        graph,
        at: &at,
        flags: ranking.flags,
        counts: &counts,
    };
    let steps: Vec<PredictedStep> = ranking
        .predictor
        .0
        .predict(&context)
        .into_iter()
        .filter(|step| step.probability >= ranking.settings.min_probability)
        .take(ranking.settings.max_steps_per_node)
        .collect();
    let mut wanted: Vec<(RequestKey, AssetRequest, Target)> = Vec::new();
    for step in &steps {
        let Some(edge) = graph.edge(&step.via) else {
            continue;
        };
        for request in graph.node_media(&step.node, Some(edge)) {
            let key = provider.key_for(&request);
            let target = Target {
                node: step.node.clone(),
                via: step.via.clone(),
            };
            wanted.push((key, request, target));
        }
    }
    // The player's new node is being requested in the foreground right now: its prefetch is
    // in use, not abandoned.
    let keep_for_player = |target: &Target| target.node == at;
    let abandoned: Vec<RequestKey> = state
        .targets
        .iter()
        .filter(|(key, target)| {
            !keep_for_player(target) && !wanted.iter().any(|(wanted, ..)| wanted == *key)
        })
        .map(|(key, _)| *key)
        .collect();
    for key in abandoned {
        state.targets.remove(&key);
        provider.cancel_prefetch(&key, ranking.settings.keep_if_progress);
    }
    state.targets.retain(|_, target| !keep_for_player(target));
    state.waiting = wanted
        .into_iter()
        .filter(|(key, ..)| !state.targets.contains_key(key))
        .collect();
}

/// Starts waiting prefetches while the budget allows, most likely first.
fn start_waiting(
    settings: &PredictionSettings,
    provider: &mut AssetProvider,
    state: &mut PredictionState,
) {
    let mut waiting = std::mem::take(&mut state.waiting).into_iter();
    for (key, request, target) in waiting.by_ref() {
        if state.targets.contains_key(&key) {
            continue;
        }
        if provider.prefetches_in_flight() >= settings.max_in_flight
            || state.started_this_session >= settings.max_per_session
        {
            state.waiting.push((key, request, target));
            break;
        }
        let before = provider.stats().prefetched;
        let _ = provider.prefetch(request);
        state.started_this_session += provider.stats().prefetched - before;
        state.targets.insert(key, target);
    }
    state.waiting.extend(waiting);
    if state.started_this_session >= settings.max_per_session {
        // The cap is spent for this session: nothing waits for it.
        state.waiting.clear();
    }
}

fn give_up_all(state: &mut PredictionState, provider: &mut AssetProvider, keep_if_progress: f32) {
    for (key, _) in state.targets.drain() {
        provider.cancel_prefetch(&key, keep_if_progress);
    }
    state.waiting.clear();
}
