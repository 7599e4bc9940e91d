//! [`PredictionSettings`]: what prediction may spend, and what it expects before it has
//! measured anything.

use std::time::Duration;

use bevy::prelude::*;

use crate::request::MediaKind;

/// How prediction chooses what to prefetch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Reflect)]
pub enum Planner {
    /// The [`Predictor`](super::Predictor)'s top steps from where the player is (one or two
    /// choices ahead), started as soon as the player arrives. Right when generating takes less
    /// time than reading a node. The default.
    #[default]
    NextSteps,
    /// Plans against time: from how long each kind of media takes to generate, how long the
    /// player reads and how many jobs the backend runs at once, it starts, as deep as it has
    /// to, the media that would arrive too late if it waited for the player's next choice,
    /// most likely needed per unit of cost first, and defers the rest until the next choice
    /// has narrowed the paths. Right when generating takes longer than reading (hosted image
    /// and video models); give it a spend rate
    /// ([`PredictionSettings::max_per_visited_node`]): a player who lingers makes it look
    /// deeper, and a backend's create budget is spent by prefetches too.
    AgainstTime,
}

/// How long a kind of media takes from asking to having it: the median and a tail.
#[derive(Clone, Copy, Debug, PartialEq, Reflect)]
pub struct GenerationTime {
    /// Half the jobs take less.
    pub p50: Duration,
    /// 95 in 100 jobs take less.
    pub p95: Duration,
}

impl GenerationTime {
    /// A median and a 95th percentile.
    #[must_use]
    pub const fn new(p50: Duration, p95: Duration) -> Self {
        Self { p50, p95 }
    }
}

/// The prefetch budget and the planner's expectations. Set it with
/// [`AssetProviderPlugin::with_prediction`](crate::plugin::AssetProviderPlugin::with_prediction)
/// or change the resource at run time.
#[derive(Resource, Clone, Debug, PartialEq, Reflect)]
#[reflect(Resource, Debug)]
pub struct PredictionSettings {
    /// Prefetch at all (default `true`). Turning it off gives up prefetches in flight.
    pub enabled: bool,
    /// How the prefetches are chosen (default [`Planner::NextSteps`]).
    pub planner: Planner,
    /// Prefetch jobs in flight at most, across the game (default 8: a step is often a picture
    /// and a sound).
    pub max_in_flight: usize,
    /// Predicted steps prefetched per node the player reaches, for [`Planner::NextSteps`]
    /// (default 4).
    pub max_steps_per_node: usize,
    /// Prefetch jobs started per play session at most: the spend cap (default 64).
    pub max_per_session: u64,
    /// Prefetch jobs per node the player has reached, at most, counted over the session: the
    /// spend rate (default none, only [`max_per_session`](Self::max_per_session) caps). With 2,
    /// a player who has seen 10 nodes has had at most 20 prefetches.
    pub max_per_visited_node: Option<f32>,
    /// Steps less likely than this are not prefetched (default 0.1). For
    /// [`Planner::AgainstTime`] this is the chance of needing the media (the product of the
    /// choices on the way), however deep.
    pub min_probability: f32,
    /// How many choices ahead [`Planner::AgainstTime`] looks at most (default 6).
    pub max_depth: u8,
    /// What [`Planner::AgainstTime`] assumes generating an image, a sound and a video clip
    /// takes until it has timed jobs of its own (defaults 8 s / 20 s, 3 s / 6 s, 60 s / 150 s).
    pub expected_generation: [GenerationTime; 3],
    /// What it assumes a player reads a node for until it has seen the player read (default
    /// 10 s).
    pub expected_reading: Duration,
    /// How many jobs the backend runs at once for this game, if known; without it the planner
    /// learns it from how job times grow with the jobs in flight (default none).
    pub backend_jobs_at_once: Option<usize>,
    /// A prefetch for an abandoned branch at least this far along (0 to 1) finishes into
    /// the memory tier instead of being cancelled (default 0.9).
    pub keep_if_progress: f32,
}

impl Default for PredictionSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            planner: Planner::default(),
            max_in_flight: 8,
            max_steps_per_node: 4,
            max_per_session: 64,
            max_per_visited_node: None,
            min_probability: 0.1,
            max_depth: 6,
            expected_generation: [
                GenerationTime::new(Duration::from_secs(8), Duration::from_secs(20)),
                GenerationTime::new(Duration::from_secs(3), Duration::from_secs(6)),
                GenerationTime::new(Duration::from_secs(60), Duration::from_secs(150)),
            ],
            expected_reading: Duration::from_secs(10),
            backend_jobs_at_once: None,
            keep_if_progress: 0.9,
        }
    }
}

impl PredictionSettings {
    /// Prediction switched off.
    #[must_use]
    pub fn off() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// Sets how prefetches are chosen.
    #[must_use]
    pub fn planner(mut self, planner: Planner) -> Self {
        self.planner = planner;
        self
    }

    /// Sets the in-flight limit.
    #[must_use]
    pub fn max_in_flight(mut self, jobs: usize) -> Self {
        self.max_in_flight = jobs;
        self
    }

    /// Sets how many predicted steps are prefetched per node ([`Planner::NextSteps`]).
    #[must_use]
    pub fn max_steps_per_node(mut self, steps: usize) -> Self {
        self.max_steps_per_node = steps;
        self
    }

    /// Sets the spend cap per session.
    #[must_use]
    pub fn max_per_session(mut self, jobs: u64) -> Self {
        self.max_per_session = jobs;
        self
    }

    /// Sets the spend rate: prefetch jobs per node the player has reached.
    #[must_use]
    pub fn max_per_visited_node(mut self, jobs: f32) -> Self {
        self.max_per_visited_node = Some(jobs.max(0.0));
        self
    }

    /// Sets the least probability worth prefetching.
    #[must_use]
    pub fn min_probability(mut self, probability: f32) -> Self {
        self.min_probability = probability;
        self
    }

    /// Sets how many choices ahead [`Planner::AgainstTime`] looks at most.
    #[must_use]
    pub fn max_depth(mut self, depth: u8) -> Self {
        self.max_depth = depth.max(1);
        self
    }

    /// Sets what generating `kind` is assumed to take until jobs have been timed.
    #[must_use]
    pub fn expect_generation(mut self, kind: MediaKind, time: GenerationTime) -> Self {
        self.expected_generation[kind_index(kind)] = time;
        self
    }

    /// What generating `kind` is assumed to take until jobs have been timed.
    pub fn expected_generation(&self, kind: MediaKind) -> GenerationTime {
        self.expected_generation[kind_index(kind)]
    }

    /// Sets how long a player is assumed to read a node until they have been seen reading.
    #[must_use]
    pub fn expect_reading(mut self, typical: Duration) -> Self {
        self.expected_reading = typical;
        self
    }

    /// Sets how many jobs the backend runs at once for this game.
    #[must_use]
    pub fn backend_jobs_at_once(mut self, jobs: usize) -> Self {
        self.backend_jobs_at_once = Some(jobs.max(1));
        self
    }

    /// Sets how far along an abandoned prefetch must be to be kept.
    #[must_use]
    pub fn keep_if_progress(mut self, fraction: f32) -> Self {
        self.keep_if_progress = fraction;
        self
    }
}

/// Where a kind's figures sit in per-kind arrays.
pub(crate) fn kind_index(kind: MediaKind) -> usize {
    match kind {
        MediaKind::Image => 0,
        MediaKind::Audio => 1,
        MediaKind::Video => 2,
    }
}
