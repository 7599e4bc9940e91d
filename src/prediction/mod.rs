//! Predictive pre-generation: while the player reads a node, the media of their likely next
//! choices is fetched in the background, within a budget, and dropped when they go elsewhere.
//!
//! The [`PredictionPlugin`]'s system watches [`EnterNode`] and [`MakeChoice`], asks the
//! [`Predictor`] (by default [`WeightedPredictor`]: authored weights blended with the choices
//! players made, counted in [`ChoiceCounts`] and kept with the disk tier) for the likely next steps, and
//! [prefetches](crate::AssetProvider::prefetch) their media: the same requests
//! [`SceneGraph::node_media`] builds for the real step, so when the player chooses, the
//! foreground request joins the prefetch (or finds it done) instead of starting again.

mod against_time;
mod arrivals;
mod counts;
mod next_steps;
mod plan;
mod predictor;
mod settings;
mod state;
mod timing;

pub use arrivals::PredictionDiagnostics;
pub use counts::ChoiceCounts;
pub use predictor::{PredictedStep, PredictionContext, Predictor, SceneFlags, WeightedPredictor};
pub use settings::{GenerationTime, Planner, PredictionSettings};
pub use state::PredictionState;
pub use timing::PredictionTiming;

use std::sync::Arc;

use bevy::platform::time::Instant;
use bevy::prelude::*;

use crate::provider::{AnalyticsEvent, AssetProvider};
use crate::scene::{EnterNode, MakeChoice, SceneGraph};
use arrivals::ArrivalErrors;
use counts::CountsFromDisk;
use plan::{Ranking, give_up_all, start_waiting};
use state::Position;

/// The predictor in use.
#[derive(Resource, Clone)]
pub(crate) struct ActivePredictor(pub Arc<dyn Predictor>);

/// The prediction part of the plugin: follows the player through scene graphs and keeps the
/// likely next steps prefetched within [`PredictionSettings`]' budget, ranking them with a
/// [`Predictor`] and the [`ChoiceCounts`] it keeps, and timing them with what it learns in
/// [`PredictionTiming`]. Part of [`AssetProviderPlugins`](crate::AssetProviderPlugins), after
/// the [`ScenePlugin`](crate::scene::ScenePlugin) it needs; configured by
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
            .init_resource::<PredictionTiming>()
            .init_resource::<ArrivalErrors>()
            .init_resource::<ChoiceCounts>()
            .register_type::<(
                PredictionSettings,
                SceneFlags,
                PredictionState,
                PredictionTiming,
                ChoiceCounts,
            )>()
            .add_systems(
                Update,
                predict_next
                    .run_if(has_work)
                    .in_set(crate::AssetProviderSystems::Predict),
            );
        arrivals::register(app);
    }
}

/// Whether prediction has anything to do this frame: the player moved, a job ended, counts
/// arrived, the session changed, a graph is still loading, prefetches wait for a slot, or it is
/// time to plan again.
fn has_work(
    state: Res<PredictionState>,
    provider: Option<Res<AssetProvider>>,
    settings: Res<PredictionSettings>,
    (mut enters, mut choices): (MessageReader<EnterNode>, MessageReader<MakeChoice>),
    mut jobs: MessageReader<AnalyticsEvent>,
    from_disk: Res<CountsFromDisk>,
) -> bool {
    // Every reader is read (the system keeps its own cursors), so each message wakes it once.
    let fresh = enters.read().count() + choices.read().count() + jobs.read().count();
    fresh > 0
        || from_disk.has_arrived()
        || provider.is_some_and(|provider| state.session.as_ref() != Some(provider.session()))
        || settings.is_changed()
        || state.pending.is_some()
        || !state.waiting.is_empty()
        || (!settings.enabled && !state.targets.is_empty())
        || state
            .replan_at
            .is_some_and(|replan_at| Instant::now() >= replan_at)
}

/// Follows the player through the scene graph and keeps the likely next steps prefetched.
#[allow(clippy::too_many_arguments)] // A system's parameters are its dependencies.
pub(crate) fn predict_next(
    (settings, predictor, flags): (
        Res<PredictionSettings>,
        Res<ActivePredictor>,
        Res<SceneFlags>,
    ),
    graphs: Res<Assets<SceneGraph>>,
    (mut enters, mut choices): (MessageReader<EnterNode>, MessageReader<MakeChoice>),
    mut jobs: MessageReader<AnalyticsEvent>,
    mut provider: ResMut<AssetProvider>,
    (mut state, mut timing, mut errors): (
        ResMut<PredictionState>,
        ResMut<PredictionTiming>,
        ResMut<ArrivalErrors>,
    ),
    (mut counts, from_disk): (ResMut<ChoiceCounts>, Res<CountsFromDisk>),
) {
    let now = Instant::now();
    from_disk.add_to(&mut counts);
    follow_session(&mut state, &provider);
    for late_by in arrivals::learn(&mut jobs, &mut state, &mut timing, now) {
        errors.push(late_by);
    }
    for enter in enters.read() {
        state.pending = Some((enter.graph.clone(), Position::Node(enter.node.clone())));
    }
    for choice in choices.read() {
        if let Some(graph) = graphs.get(&choice.graph) {
            counts.record(&provider, &graph.id, &choice.edge);
        }
        state.chose(choice, &mut timing, now);
    }
    if !settings.enabled {
        if !state.targets.is_empty() || !state.waiting.is_empty() {
            give_up_all(&mut state, &mut provider, settings.keep_if_progress);
        }
        return;
    }
    let moved = state.arrive(&graphs, now);
    let again = state.replan_at.is_some_and(|replan_at| now >= replan_at);
    if moved || again || settings.is_changed() {
        state.replan_at = None;
        let ranking = Ranking {
            settings: &settings,
            predictor: &predictor,
            flags: &flags,
            graphs: &graphs,
            counts: &counts,
            timing: &timing,
        };
        match settings.planner {
            Planner::NextSteps => next_steps::plan(&ranking, &mut provider, &mut state),
            Planner::AgainstTime => against_time::plan(&ranking, &mut provider, &mut state, now),
        }
    }
    if !state.waiting.is_empty() {
        start_waiting(&settings, &mut provider, &mut state);
    }
}

/// The provider keys prefetches with the session as it is now; the budget follows it.
fn follow_session(state: &mut PredictionState, provider: &AssetProvider) {
    if state.session.as_ref() != Some(provider.session()) {
        state.session = Some(provider.session().clone());
        state.started_this_session = 0;
        state.visited = 0;
    }
}
