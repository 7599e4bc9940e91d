//! What both planners share: what they rank with, how a plan replaces the prefetches in flight,
//! and how waiting prefetches are started within the budget.

use std::collections::HashSet;

use bevy::platform::time::Instant;
use bevy::prelude::*;

use super::ActivePredictor;
use super::counts::ChoiceCounts;
use super::predictor::{PredictedStep, PredictionContext, SceneFlags};
use super::settings::PredictionSettings;
use super::state::{PredictionState, Started, Target, Wanted};
use super::timing::PredictionTiming;
use crate::provider::AssetProvider;
use crate::request::RequestKey;
use crate::scene::SceneGraph;

/// What ranks the next steps.
pub(crate) struct Ranking<'a> {
    pub settings: &'a PredictionSettings,
    pub predictor: &'a ActivePredictor,
    pub flags: &'a SceneFlags,
    pub graphs: &'a Assets<SceneGraph>,
    pub counts: &'a ChoiceCounts,
    pub timing: &'a PredictionTiming,
}

impl Ranking<'_> {
    /// The predictor's steps from `at` in `graph`, most likely first.
    pub fn steps_from(&self, graph: &SceneGraph, at: &str) -> Vec<PredictedStep> {
        let counts = |edge: &str| self.counts.get(&graph.id, edge);
        let context = PredictionContext {
            graph,
            at,
            flags: self.flags,
            counts: &counts,
        };
        self.predictor.0.predict(&context)
    }
}

/// Gives up the prefetches no longer `reachable` (except the media of the node the player is
/// at, which is in use) and queues `wanted` in its order.
pub(crate) fn retarget(
    provider: &mut AssetProvider,
    state: &mut PredictionState,
    reachable: &HashSet<RequestKey>,
    wanted: Vec<Wanted>,
    keep_if_progress: f32,
) {
    let at = state.at.clone();
    let in_use = |target: &Target| at.as_deref() == Some(target.node.as_str());
    let abandoned: Vec<RequestKey> = state
        .targets
        .iter()
        .filter(|(key, target)| !in_use(target) && !reachable.contains(*key))
        .map(|(key, _)| *key)
        .collect();
    for key in abandoned {
        state.targets.remove(&key);
        provider.cancel_prefetch(&key, keep_if_progress);
    }
    state.targets.retain(|_, target| !in_use(target));
    state.waiting = wanted
        .into_iter()
        .filter(|(key, ..)| !state.targets.contains_key(key))
        .collect();
}

/// Starts waiting prefetches while the budget allows, first first.
pub(crate) fn start_waiting(
    settings: &PredictionSettings,
    provider: &mut AssetProvider,
    state: &mut PredictionState,
) {
    let allowed = allowance(settings, state);
    let mut waiting = std::mem::take(&mut state.waiting).into_iter();
    for (key, request, target) in waiting.by_ref() {
        if state.targets.contains_key(&key) {
            continue;
        }
        if provider.prefetches_in_flight() >= settings.max_in_flight
            || state.started_this_session >= allowed
        {
            state.waiting.push((key, request, target));
            break;
        }
        let ahead = provider.prefetches_in_flight();
        let before = provider.stats().prefetched;
        let _ = provider.prefetch(request);
        let started = provider.stats().prefetched - before;
        state.started_this_session += started;
        if started > 0 {
            let started = Started {
                node: target.node.clone(),
                via: target.via.clone(),
                at: Instant::now(),
                ahead,
                arrives_in: target.arrives_in,
            };
            state.started.insert(key, started);
        }
        state.targets.insert(key, target);
    }
    state.waiting.extend(waiting);
    if state.started_this_session >= settings.max_per_session {
        // The cap is spent for this session: nothing waits for it.
        state.waiting.clear();
    }
}

/// Prefetch jobs the session may have started by now: the cap, and the rate per visited node.
fn allowance(settings: &PredictionSettings, state: &PredictionState) -> u64 {
    let by_rate = settings.max_per_visited_node.map_or(u64::MAX, |rate| {
        (rate * state.visited as f32).floor() as u64
    });
    settings.max_per_session.min(by_rate)
}

/// Gives up every prefetch (prediction was switched off).
pub(crate) fn give_up_all(
    state: &mut PredictionState,
    provider: &mut AssetProvider,
    keep_if_progress: f32,
) {
    for (key, _) in state.targets.drain() {
        provider.cancel_prefetch(&key, keep_if_progress);
    }
    state.waiting.clear();
}
