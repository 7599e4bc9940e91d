//! [`PredictionTiming`]: what prediction has learned about time: how long each kind of media
//! takes to arrive once asked for, how long the player reads, and how many jobs the backend runs
//! at once.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bevy::prelude::*;

use super::settings::{GenerationTime, PredictionSettings, kind_index};
use crate::request::MediaKind;

/// How many recent figures each estimate keeps: enough for a p95, few enough to follow a
/// backend that slows down.
const KEPT: usize = 64;

/// Figures needed before they replace the settings' assumption.
const TRUSTED_AFTER: usize = 3;

/// Recent durations, in seconds.
#[derive(Clone, Debug, Default)]
struct Recent(VecDeque<f32>);

impl Recent {
    fn push(&mut self, value: Duration) {
        if self.0.len() == KEPT {
            self.0.pop_front();
        }
        self.0.push_back(value.as_secs_f32());
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    /// The `q` quantile (0 to 1), by nearest rank.
    fn quantile(&self, q: f32) -> Option<Duration> {
        if self.0.is_empty() {
            return None;
        }
        let mut sorted: Vec<f32> = self.0.iter().copied().collect();
        sorted.sort_by(f32::total_cmp);
        let rank = ((sorted.len() - 1) as f32 * q.clamp(0.0, 1.0)).round() as usize;
        Some(Duration::from_secs_f32(sorted[rank]))
    }
}

/// What prediction has measured about time, and what it assumes until it has: the generation
/// time of each media kind (from every job a generator served, foreground or prefetch, asking to
/// arrival, queueing included), the player's reading time (per node, and over all nodes), and
/// how many jobs the backend runs at once. The planner against time reads it; an overlay may
/// show it.
#[derive(Resource, Default, Reflect)]
#[reflect(Resource, Default)]
pub struct PredictionTiming {
    #[reflect(ignore)]
    generation: [Recent; 3],
    #[reflect(ignore)]
    reading: Recent,
    #[reflect(ignore)]
    reading_by_node: HashMap<String, Recent>,
    /// The most of our jobs seen in flight together without slowing each other down.
    jobs_at_once_seen: usize,
    /// Whether a job was seen held up by the jobs ahead of it.
    held_up_seen: bool,
}

/// Jobs at once assumed until a job is seen held up by the ones ahead of it.
const ASSUMED_AT_ONCE: usize = 4;

/// How much slower than the median a job may be before the jobs ahead of it are taken to have
/// held it up.
const HELD_UP: f32 = 1.5;

impl PredictionTiming {
    /// Counts a job a generator served: `kind`, asked to arrival in `took`, with `ahead` of our
    /// jobs already in flight when it started (when known).
    pub(crate) fn generated(&mut self, kind: MediaKind, took: Duration, ahead: Option<usize>) {
        if let (Some(ahead), Some(median)) =
            (ahead, self.generation[kind_index(kind)].quantile(0.5))
        {
            if took.as_secs_f32() <= median.as_secs_f32() * HELD_UP {
                self.jobs_at_once_seen = self.jobs_at_once_seen.max(ahead + 1);
            } else if ahead > 0 {
                self.held_up_seen = true;
            }
        }
        self.generation[kind_index(kind)].push(took);
    }

    /// Counts a node the player read for `took` before choosing.
    pub(crate) fn read(&mut self, node: &str, took: Duration) {
        self.reading.push(took);
        self.reading_by_node
            .entry(node.to_owned())
            .or_default()
            .push(took);
    }

    /// How long media of `kind` takes to arrive: measured once a few jobs were timed, else
    /// what `settings` assume.
    pub fn generation(&self, kind: MediaKind, settings: &PredictionSettings) -> GenerationTime {
        let recent = &self.generation[kind_index(kind)];
        match (recent.len() >= TRUSTED_AFTER)
            .then(|| recent.quantile(0.5).zip(recent.quantile(0.95)))
            .flatten()
        {
            Some((p50, p95)) => GenerationTime::new(p50, p95),
            None => settings.expected_generation(kind),
        }
    }

    /// How long the player is expected to read `node` (a median) and how soon they may choose
    /// (a low estimate, the 20th percentile).
    pub fn reading(&self, node: &str, settings: &PredictionSettings) -> (Duration, Duration) {
        let own = self
            .reading_by_node
            .get(node)
            .filter(|recent| recent.len() >= TRUSTED_AFTER);
        let recent = own.unwrap_or(&self.reading);
        if recent.len() >= TRUSTED_AFTER
            && let (Some(median), Some(low)) = (recent.quantile(0.5), recent.quantile(0.2))
        {
            return (median, low);
        }
        (settings.expected_reading, settings.expected_reading / 2)
    }

    /// How many jobs the backend runs at once: the settings' figure, else the most of our jobs
    /// seen in flight together without holding each other up, and at least 4 until a job was
    /// seen held up by the ones ahead of it.
    pub fn jobs_at_once(&self, settings: &PredictionSettings) -> usize {
        let floor = if self.held_up_seen {
            1
        } else {
            ASSUMED_AT_ONCE
        };
        settings
            .backend_jobs_at_once
            .unwrap_or(self.jobs_at_once_seen.max(floor))
            .max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f32) -> Duration {
        Duration::from_secs_f32(s)
    }

    #[test]
    fn assumptions_hold_until_a_few_jobs_were_timed_then_the_measured_figures_do() {
        let settings = PredictionSettings::default();
        let mut timing = PredictionTiming::default();
        timing.generated(MediaKind::Image, secs(1.0), None);
        timing.generated(MediaKind::Image, secs(2.0), None);
        assert_eq!(
            timing.generation(MediaKind::Image, &settings),
            settings.expected_generation(MediaKind::Image)
        );
        for took in [3.0, 4.0, 5.0, 6.0, 30.0] {
            timing.generated(MediaKind::Image, secs(took), None);
        }
        let measured = timing.generation(MediaKind::Image, &settings);
        assert_eq!(measured.p50, secs(4.0));
        assert_eq!(measured.p95, secs(30.0));
        // Other kinds keep their assumptions.
        assert_eq!(
            timing.generation(MediaKind::Video, &settings),
            settings.expected_generation(MediaKind::Video)
        );
    }

    #[test]
    fn reading_is_per_node_once_seen_there_and_over_all_nodes_before() {
        let settings = PredictionSettings::default();
        let mut timing = PredictionTiming::default();
        assert_eq!(
            timing.reading("a", &settings),
            (settings.expected_reading, settings.expected_reading / 2)
        );
        for (node, took) in [("a", 10.0), ("b", 20.0), ("c", 30.0)] {
            timing.read(node, secs(took));
        }
        assert_eq!(timing.reading("d", &settings).0, secs(20.0));
        for _ in 0..2 {
            timing.read("a", secs(10.0));
        }
        assert_eq!(timing.reading("a", &settings), (secs(10.0), secs(10.0)));
    }

    #[test]
    fn jobs_at_once_grow_while_jobs_ahead_do_not_slow_a_job_down() {
        let settings = PredictionSettings::default();
        let mut timing = PredictionTiming::default();
        assert_eq!(timing.jobs_at_once(&settings), ASSUMED_AT_ONCE);
        for ahead in 0..6 {
            timing.generated(MediaKind::Image, secs(2.0), Some(ahead));
        }
        assert_eq!(timing.jobs_at_once(&settings), 6);
        // Eight ahead and three times as slow: the backend made it wait.
        timing.generated(MediaKind::Image, secs(6.0), Some(8));
        assert_eq!(timing.jobs_at_once(&settings), 6);

        let mut slow_backend = PredictionTiming::default();
        slow_backend.generated(MediaKind::Image, secs(2.0), Some(0));
        slow_backend.generated(MediaKind::Image, secs(2.0), Some(1));
        slow_backend.generated(MediaKind::Image, secs(4.0), Some(2));
        assert_eq!(slow_backend.jobs_at_once(&settings), 2);
        assert_eq!(
            timing.jobs_at_once(&settings.backend_jobs_at_once(9)),
            9,
            "the game's figure wins"
        );
    }
}
