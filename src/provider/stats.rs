//! What the provider counts: [`ProviderStats`], and the recent times to real media its
//! diagnostics report.

use std::collections::VecDeque;
use std::time::Duration;

use bevy::prelude::*;

/// Counters of what the provider has done since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq, Reflect)]
pub struct ProviderStats {
    /// Requests made.
    pub requests: u64,
    /// Requests that joined an identical request already in flight.
    pub joined: u64,
    /// Requests served at once from the memory tier.
    pub memory_hits: u64,
    /// Jobs served by a cache source on the runtime (for example a disk cache).
    pub cached: u64,
    /// Jobs served by a pre-made asset.
    pub pre_made: u64,
    /// Jobs served by a generator.
    pub generated: u64,
    /// Jobs sent to the runtime.
    pub jobs: u64,
    /// Jobs that failed.
    pub failed: u64,
    /// Jobs that timed out.
    pub timed_out: u64,
    /// Jobs cancelled because nobody held them any more.
    pub cancelled: u64,
    /// Jobs that reached a generator (foreground or prefetch).
    pub generations_started: u64,
    /// Prefetches started (`AssetProvider::prefetch`).
    pub prefetched: u64,
    /// Foreground requests that found their media prefetched, ready or in flight.
    pub prefetch_used: u64,
    /// Prefetches that reached a generator and were abandoned unused.
    pub prefetch_wasted: u64,
}

impl ProviderStats {
    /// Counts how a job ended.
    pub(crate) fn count_outcome(&mut self, outcome: &crate::provider::jobs::Outcome) {
        use crate::error::AssetErrorKind;
        use crate::source::SourceKind;
        match outcome {
            Ok((SourceKind::Cached, _)) => self.cached += 1,
            Ok((SourceKind::PreMade, _)) => self.pre_made += 1,
            Ok((SourceKind::Generated, _)) => self.generated += 1,
            Ok((SourceKind::Placeholder, _)) => {}
            Err(error) if error.kind() == AssetErrorKind::TimedOut => self.timed_out += 1,
            Err(_) => self.failed += 1,
        }
    }
}

/// How many recent times to real media the percentiles are taken over.
const WINDOW: usize = 256;

/// The times from request to real media of recent foreground jobs.
#[derive(Default)]
pub(crate) struct MediaTimes(VecDeque<Duration>);

impl MediaTimes {
    pub fn push(&mut self, time: Duration) {
        if self.0.len() == WINDOW {
            self.0.pop_front();
        }
        self.0.push_back(time);
    }

    /// The 50th and 95th percentile.
    pub fn percentiles(&self) -> Option<(Duration, Duration)> {
        if self.0.is_empty() {
            return None;
        }
        let mut times: Vec<Duration> = self.0.iter().copied().collect();
        times.sort_unstable();
        let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
        Some((at(0.5), at(0.95)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_the_recent_window() {
        let mut times = MediaTimes::default();
        assert_eq!(times.percentiles(), None);
        for ms in 1..=300 {
            times.push(Duration::from_millis(ms));
        }
        // Only the last 256 count: 45..=300.
        let (p50, p95) = times.percentiles().unwrap();
        assert_eq!(p50, Duration::from_millis(173));
        assert_eq!(p95, Duration::from_millis(287));
    }
}
