//! [`Planner::AgainstTime`](super::Planner::AgainstTime): starts, as deep as it has to, the
//! media that would arrive too late if it waited for the player's next choice.
//!
//! From where the player is, every step within [`max_depth`] choices is given the chance the
//! player takes it (the predictor's chances multiplied along the way) and the earliest time the
//! player may need its media (short reading times on the way). A step's media is started now
//! when a job started at the player's next choice, at the earliest that choice may come, could
//! land after that need (a slow job: its p95, with a margin); the rest waits, because the next
//! choice narrows the paths for free. What is started is ranked by the placeholder time it is
//! expected to spare the player (the chance it is needed times the seconds it would arrive
//! sooner than if started at the player's choice, for a typical reader and for a quick reader
//! with a slow job), per unit of cost, and for a job
//! longer than a node's reading per second of the backend's work, within the budget: a shared
//! backend runs only so many jobs at once, so a long clip few players will reach must not hold
//! the slots the next pictures need; `once` media, often made already for another player,
//! costs less. Media whose value, so measured against a node's reading, is below
//! [`min_probability`](super::PredictionSettings::min_probability) is not started.
//!
//! [`max_depth`]: super::PredictionSettings::max_depth

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bevy::platform::time::Instant;

use super::plan::{Ranking, retarget};
use super::settings::GenerationTime;
use super::state::{PredictionState, Target, Wanted};
use crate::provider::AssetProvider;
use crate::request::{AssetRequest, CachingStrategy, RequestKey};
use crate::scene::SceneGraph;

/// Nodes followed per depth, most likely first: bounds the work of a plan.
const NODES_PER_DEPTH: usize = 32;

/// What `once` media costs next to media made for this player alone: another player's
/// request has often made it already (the caches or the backend's dedup answer it).
const ONCE_COST: f32 = 0.5;

/// How often a plan is made again while the player stays, as a share of their reading time.
const REPLANS_PER_READING: u32 = 8;

/// A slow job (the p95) with this margin decides whether a step's media can wait for the
/// next choice: being late costs the player, starting early only a little spend.
const MARGIN: f32 = 1.25;

/// A step the player may take, with its chance and when its media is needed: typically, and
/// at the earliest.
struct Step {
    node: String,
    via: String,
    probability: f32,
    needed_in: Duration,
    needed_earliest: Duration,
}

/// Where the player may be `depth` choices on: the chance, and when they leave, typically and
/// at the earliest.
struct Place {
    node: String,
    chance: f32,
    leaves: Duration,
    leaves_earliest: Duration,
}

/// A prefetch worth starting now.
struct Candidate {
    wanted: Wanted,
    value: f32,
    needed_in: Duration,
    time: GenerationTime,
}

/// Plans from where the player is, `now`.
pub(crate) fn plan(
    ranking: &Ranking,
    provider: &mut AssetProvider,
    state: &mut PredictionState,
    now: Instant,
) {
    let (Some(handle), Some(at)) = (state.graph.clone(), state.at.clone()) else {
        return;
    };
    let Some(graph) = ranking.graphs.get(&handle) else {
        return;
    };
    let settings = ranking.settings;
    let stayed = state.arrived.map_or(Duration::ZERO, |arrived| {
        now.saturating_duration_since(arrived)
    });
    let (median, low) = ranking.timing.reading(&at, settings);
    // The earliest the player may choose: a plan made then is the next chance to start.
    let next_chance = low.saturating_sub(stayed);
    let here = Place {
        node: at.clone(),
        chance: 1.0,
        leaves: median.saturating_sub(stayed),
        leaves_earliest: next_chance,
    };
    let steps = reachable_steps(ranking, graph, here);
    let here_until = median.saturating_sub(stayed);
    let (reachable, mut candidates) = late_unless_now(
        ranking,
        provider,
        state,
        (graph, &steps),
        (next_chance, here_until, median),
    );
    candidates.sort_by(|a, b| {
        b.value
            .total_cmp(&a.value)
            .then(a.needed_in.cmp(&b.needed_in))
    });
    let wanted = with_queueing(ranking, provider, candidates);
    retarget(
        provider,
        state,
        &reachable,
        wanted,
        settings.keep_if_progress,
    );
    state.replan_at = Some(now + (median / REPLANS_PER_READING).max(Duration::from_millis(5)));
}

/// The media of `steps` (all of it: what is reachable), and of it what is neither here nor on
/// its way and would be late if started at the player's next choice, `next_chance` from now
/// at the earliest; the player typically chooses `here_until` from now and reads a node for
/// `reading`.
fn late_unless_now(
    ranking: &Ranking,
    provider: &AssetProvider,
    state: &PredictionState,
    (graph, steps): (&SceneGraph, &[Step]),
    (next_chance, here_until, reading): (Duration, Duration, Duration),
) -> (HashSet<RequestKey>, Vec<Candidate>) {
    let mut reachable = HashSet::new();
    let mut candidates = Vec::new();
    for step in steps {
        let Some(edge) = graph.edge(&step.via) else {
            continue;
        };
        for request in graph.node_media(&step.node, Some(edge)) {
            let key = provider.key_for(&request);
            reachable.insert(key);
            if state.targets.contains_key(&key) || provider.get(&key).is_some() {
                continue;
            }
            let time = ranking.timing.generation(request.kind, ranking.settings);
            let slow = time.p95.mul_f32(MARGIN);
            if step.needed_earliest.saturating_sub(slow) > next_chance {
                continue;
            }
            let takes = planned(time);
            // For a typical reader and a quick one with a slow job, half and half.
            let spared = (spared(takes, step.needed_in, here_until)
                + spared(slow, step.needed_earliest, next_chance))
                / 2.0;
            // A job longer than a node's reading is valued per second of the backend's work: a
            // shared backend runs only so many jobs at once, and a long clip holds a slot that
            // several pictures could have used.
            let work = takes.max(reading).as_secs_f32().max(0.001);
            let value = step.probability * spared / work / cost(&request);
            if value < ranking.settings.min_probability {
                continue;
            }
            candidates.push(Candidate {
                value,
                needed_in: step.needed_in,
                time,
                wanted: (key, request, Target::new(&step.node, &step.via)),
            });
        }
    }
    (reachable, candidates)
}

/// Seconds of placeholder a job taking `takes` spares the player when started now rather than
/// when the player typically chooses, `chooses_in` from now, for media needed in `needed_in`
/// (for the next choice's media the two are the same moment: waiting means not prefetching).
/// A little is added so that what spares nothing at the median still ranks by its chance.
fn spared(takes: Duration, needed_in: Duration, chooses_in: Duration) -> f32 {
    let late_if_now = takes.saturating_sub(needed_in);
    let late_if_then = (chooses_in + takes).saturating_sub(needed_in);
    (late_if_then - late_if_now).as_secs_f32() + 0.1
}

/// What a job is planned to take: about its 85th percentile, between the median and the p95.
fn planned(time: GenerationTime) -> Duration {
    time.p50 + (time.p95.saturating_sub(time.p50)).mul_f32(0.6)
}

/// What prefetching `request` costs, in paid generations.
fn cost(request: &AssetRequest) -> f32 {
    match request.strategy {
        CachingStrategy::Once => ONCE_COST,
        _ => 1.0,
    }
}

/// The candidates in order, each expected later by the jobs queued ahead of it on a backend
/// that runs only so many at once.
fn with_queueing(
    ranking: &Ranking,
    provider: &AssetProvider,
    candidates: Vec<Candidate>,
) -> Vec<Wanted> {
    let at_once = ranking.timing.jobs_at_once(ranking.settings);
    let mut ahead = provider.prefetches_in_flight();
    candidates
        .into_iter()
        .map(|candidate| {
            let waves = (ahead / at_once) as u32;
            ahead += 1;
            let (key, request, mut target) = candidate.wanted;
            target.arrives_in = Some(planned(candidate.time) + candidate.time.p50 * waves);
            (key, request, target)
        })
        .collect()
}

/// The steps within reach of `here`, with the chance of each and when its media is needed.
fn reachable_steps(ranking: &Ranking, graph: &SceneGraph, here: Place) -> Vec<Step> {
    let settings = ranking.settings;
    let mut steps: HashMap<String, Step> = HashMap::new();
    let mut level = vec![here];
    for _ in 0..settings.max_depth {
        let mut next: HashMap<String, Place> = HashMap::new();
        for place in &level {
            for predicted in ranking.steps_from(graph, &place.node) {
                let probability = place.chance * predicted.probability;
                if predicted.depth != 1 || probability < settings.min_probability {
                    continue;
                }
                let step = steps.entry(predicted.via.clone()).or_insert(Step {
                    node: predicted.node.clone(),
                    via: predicted.via.clone(),
                    probability: 0.0,
                    needed_in: place.leaves,
                    needed_earliest: place.leaves_earliest,
                });
                step.probability = (step.probability + probability).min(1.0);
                step.needed_in = step.needed_in.min(place.leaves);
                step.needed_earliest = step.needed_earliest.min(place.leaves_earliest);
                let (read, read_quickly) = ranking.timing.reading(&predicted.node, settings);
                let then = next.entry(predicted.node.clone()).or_insert(Place {
                    node: predicted.node,
                    chance: 0.0,
                    leaves: Duration::MAX,
                    leaves_earliest: Duration::MAX,
                });
                then.chance = (then.chance + probability).min(1.0);
                then.leaves = then.leaves.min(place.leaves + read);
                then.leaves_earliest = then
                    .leaves_earliest
                    .min(place.leaves_earliest + read_quickly);
            }
        }
        level = next.into_values().collect();
        level.sort_by(|a, b| {
            b.chance
                .total_cmp(&a.chance)
                .then_with(|| a.node.cmp(&b.node))
        });
        level.truncate(NODES_PER_DEPTH);
        if level.is_empty() {
            break;
        }
    }
    let mut steps: Vec<Step> = steps.into_values().collect();
    steps.sort_by(|a, b| a.via.cmp(&b.via));
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_next_choice_is_spared_its_whole_wait_up_to_the_reading_and_a_deeper_one_the_wait_for_the_choice()
     {
        // The next choice's media, needed when the player chooses in 15 s: a 10 s picture is
        // spared all 10 s, a 70 s clip the 15 s it could run meanwhile.
        assert_eq!(spared(secs(10), secs(15), secs(15)), 10.1);
        assert_eq!(spared(secs(70), secs(15), secs(15)), 15.1);
        // Two choices on, needed in 30 s: started now rather than at the choice (in 15 s), a
        // 70 s clip arrives 15 s sooner; a 10 s picture makes it either way.
        assert_eq!(spared(secs(70), secs(30), secs(15)), 15.1);
        assert_eq!(spared(secs(10), secs(30), secs(15)), 0.1);
    }
}
