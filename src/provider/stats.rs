//! What the provider counts: [`ProviderStats`], and the recent times its diagnostics report (to
//! real media, and on the placeholder or a fallback before it).

use std::collections::VecDeque;
use std::time::Duration;

use bevy::prelude::*;

use crate::provider::wait::WaitSplit;

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
    /// Foreground requests that had to wait (not served at once from the memory tier) and
    /// stopped waiting: their real media arrived, their job failed, timed out or was
    /// cancelled, or they were given up. Each is one sample of the wait split below.
    pub waited: u64,
    /// Total time those requests' handles showed the bare placeholder, from when the game got
    /// the handle until it stopped waiting.
    pub time_on_placeholder: Duration,
    /// Total time those requests' handles showed their [`Fallback`](crate::Fallback).
    pub time_on_fallback: Duration,
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

    /// Counts one foreground request that stopped waiting.
    pub(crate) fn count_wait(&mut self, wait: WaitSplit) {
        self.waited += 1;
        self.time_on_placeholder += wait.placeholder;
        self.time_on_fallback += wait.fallback;
    }
}

/// The wait splits of recent foreground requests that had to wait, as two windows of the same
/// requests.
#[derive(Default)]
pub(crate) struct RecentWaits {
    placeholder: MediaTimes,
    fallback: MediaTimes,
}

impl RecentWaits {
    pub fn push(&mut self, wait: WaitSplit) {
        self.placeholder.push(wait.placeholder);
        self.fallback.push(wait.fallback);
    }

    /// The 50th and 95th percentile of the time on the bare placeholder.
    pub fn placeholder(&self) -> Option<(Duration, Duration)> {
        self.placeholder.percentiles()
    }

    /// The 50th and 95th percentile of the time on a fallback (0 for requests without one).
    pub fn fallback(&self) -> Option<(Duration, Duration)> {
        self.fallback.percentiles()
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
    use std::time::Instant;

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

    #[test]
    fn a_wait_splits_at_the_moment_the_fallback_showed() {
        let since = Instant::now();
        let ms = Duration::from_millis;
        let end = since + ms(100);
        let split = |at: Option<Duration>| WaitSplit::of(since, at.map(|at| since + at), end);
        assert_eq!(
            split(None),
            WaitSplit {
                placeholder: ms(100),
                fallback: ms(0)
            }
        );
        assert_eq!(
            split(Some(ms(30))),
            WaitSplit {
                placeholder: ms(30),
                fallback: ms(70)
            }
        );
        // Shown before the holder came (a job it joined): all on the fallback.
        let early = WaitSplit::of(since + ms(10), Some(since), end);
        assert_eq!(
            early,
            WaitSplit {
                placeholder: ms(0),
                fallback: ms(90)
            }
        );
        // Shown only after the wait ended: all on the placeholder.
        assert_eq!(
            split(Some(ms(150))),
            WaitSplit {
                placeholder: ms(100),
                fallback: ms(0)
            }
        );
    }
}
