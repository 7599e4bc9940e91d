//! What the dev backend has served: the counters its handlers bump, and their snapshot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::knobs::Endpoint;

/// What the dev backend has served; see [`DevBackend::stats`](crate::DevBackend::stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DevStats {
    /// Logins that succeeded.
    pub logins: u64,
    /// Creates answered (new or deduplicated).
    pub creates: u64,
    /// Creates that started a new generation.
    pub new_generations: u64,
    /// `GET /api/v1/generations/{id}` answered.
    pub polls: u64,
    /// Cancels answered.
    pub cancels: u64,
    /// `GET /api/v1/assets/{id}` answered.
    pub asset_fetches: u64,
    /// Files served.
    pub downloads: u64,
    /// Files requested with an `Authorization` header (served or not).
    pub downloads_with_token: u64,
    /// Searches answered.
    pub searches: u64,
    /// Game asset requests answered.
    pub game_requests: u64,
    /// Scenes served.
    pub scenes: u64,
    /// WebSocket connections accepted.
    pub socket_connections: u64,
    /// Requests refused for a missing or wrong token.
    pub unauthorized: u64,
    /// Requests to paths the backend does not serve (answered 404).
    pub unknown_paths: u64,
    /// The most creates in flight at once, counted while the added
    /// [`latency`](crate::DevBackendBuilder::latency) holds them.
    pub peak_concurrent_creates: u64,
    /// The most downloads in flight at once, counted the same way.
    pub peak_concurrent_downloads: u64,
    /// Faults injected (errors, 429s, malformed answers).
    pub faults: u64,
    /// Creates answered with existing work (a dedup hash or cache key hit).
    pub reused: u64,
    /// Creates refused by [`create_rate_limit`](crate::DevBackendBuilder::create_rate_limit).
    pub rate_limited: u64,
    /// Cancels that lost the race ([`cancel_loses_race`](crate::DevBackendBuilder::cancel_loses_race)):
    /// answered `processing` with `deferred_action: "cancel"`, the job then completed.
    pub cancels_lost: u64,
    /// Jobs the server retried by itself after a render moderation
    /// ([`moderate_prompts_containing`](crate::DevBackendBuilder::moderate_prompts_containing)).
    pub server_retries: u64,
    /// Reads of another account's generation, asset or file, refused.
    pub foreign_refused: u64,
    /// Jobs `processing` now.
    pub running_jobs: u64,
    /// The most jobs `processing` at once.
    pub peak_running_jobs: u64,
    /// Jobs that found every slot of
    /// [`max_running_jobs`](crate::DevBackendBuilder::max_running_jobs) taken and waited
    /// `pending` for one.
    pub jobs_queued: u64,
    /// The time jobs waited for a slot, added up.
    pub slot_wait: Duration,
    /// The time jobs spent `processing`, added up (divided by the limit and the time elapsed:
    /// how busy the backend was).
    pub processing_time: Duration,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) logins: AtomicU64,
    pub(crate) creates: AtomicU64,
    pub(crate) new_generations: AtomicU64,
    pub(crate) polls: AtomicU64,
    pub(crate) cancels: AtomicU64,
    pub(crate) asset_fetches: AtomicU64,
    pub(crate) downloads: AtomicU64,
    pub(crate) downloads_with_token: AtomicU64,
    pub(crate) searches: AtomicU64,
    pub(crate) game_requests: AtomicU64,
    pub(crate) scenes: AtomicU64,
    pub(crate) socket_connections: AtomicU64,
    pub(crate) unauthorized: AtomicU64,
    pub(crate) unknown_paths: AtomicU64,
    pub(crate) creates_in_flight: AtomicU64,
    pub(crate) downloads_in_flight: AtomicU64,
    pub(crate) peak_concurrent_creates: AtomicU64,
    pub(crate) peak_concurrent_downloads: AtomicU64,
    pub(crate) faults: AtomicU64,
    pub(crate) reused: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) cancels_lost: AtomicU64,
    pub(crate) server_retries: AtomicU64,
    pub(crate) foreign_refused: AtomicU64,
    pub(crate) running_jobs: AtomicU64,
    pub(crate) peak_running_jobs: AtomicU64,
    pub(crate) jobs_queued: AtomicU64,
    pub(crate) slot_wait_nanos: AtomicU64,
    pub(crate) processing_nanos: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Counts a request in flight at an endpoint until dropped.
pub(crate) struct InFlight<'a>(Option<&'a AtomicU64>);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(counter) = self.0 {
            counter.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Counters {
    /// Marks a request at `endpoint` in flight, raising the endpoint's peak if it is tracked.
    pub(crate) fn enter(&self, endpoint: Endpoint) -> InFlight<'_> {
        let (current, peak) = match endpoint {
            Endpoint::CreateGeneration => (&self.creates_in_flight, &self.peak_concurrent_creates),
            Endpoint::Download => (&self.downloads_in_flight, &self.peak_concurrent_downloads),
            _ => return InFlight(None),
        };
        let now = current.fetch_add(1, Ordering::Relaxed) + 1;
        peak.fetch_max(now, Ordering::Relaxed);
        InFlight(Some(current))
    }

    pub(crate) fn snapshot(&self) -> DevStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        DevStats {
            logins: read(&self.logins),
            creates: read(&self.creates),
            new_generations: read(&self.new_generations),
            polls: read(&self.polls),
            cancels: read(&self.cancels),
            asset_fetches: read(&self.asset_fetches),
            downloads: read(&self.downloads),
            downloads_with_token: read(&self.downloads_with_token),
            searches: read(&self.searches),
            game_requests: read(&self.game_requests),
            scenes: read(&self.scenes),
            socket_connections: read(&self.socket_connections),
            unauthorized: read(&self.unauthorized),
            unknown_paths: read(&self.unknown_paths),
            peak_concurrent_creates: read(&self.peak_concurrent_creates),
            peak_concurrent_downloads: read(&self.peak_concurrent_downloads),
            faults: read(&self.faults),
            reused: read(&self.reused),
            rate_limited: read(&self.rate_limited),
            cancels_lost: read(&self.cancels_lost),
            server_retries: read(&self.server_retries),
            foreign_refused: read(&self.foreign_refused),
            running_jobs: read(&self.running_jobs),
            peak_running_jobs: read(&self.peak_running_jobs),
            jobs_queued: read(&self.jobs_queued),
            slot_wait: Duration::from_nanos(read(&self.slot_wait_nanos)),
            processing_time: Duration::from_nanos(read(&self.processing_nanos)),
        }
    }
}
