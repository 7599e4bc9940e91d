//! [`Planner::NextSteps`](super::Planner::NextSteps): the predictor's top steps from where the
//! player is, started when the player arrives.

use std::collections::HashSet;

use super::plan::{Ranking, retarget};
use super::state::{PredictionState, Target, Wanted};
use crate::provider::AssetProvider;

/// Ranks the steps from where the player is, gives up prefetches off the likely paths and
/// queues the new ones.
pub(crate) fn plan(ranking: &Ranking, provider: &mut AssetProvider, state: &mut PredictionState) {
    let (Some(handle), Some(at)) = (state.graph.clone(), state.at.clone()) else {
        return;
    };
    let Some(graph) = ranking.graphs.get(&handle) else {
        return;
    };
    let settings = ranking.settings;
    let mut wanted: Vec<Wanted> = Vec::new();
    let steps = ranking
        .steps_from(graph, &at)
        .into_iter()
        .filter(|step| step.probability >= settings.min_probability)
        .take(settings.max_steps_per_node);
    for step in steps {
        let Some(edge) = graph.edge(&step.via) else {
            continue;
        };
        for request in graph.node_media(&step.node, Some(edge)) {
            let key = provider.key_for(&request);
            wanted.push((key, request, Target::new(&step.node, &step.via)));
        }
    }
    let reachable: HashSet<_> = wanted.iter().map(|(key, ..)| *key).collect();
    retarget(
        provider,
        state,
        &reachable,
        wanted,
        settings.keep_if_progress,
    );
}
