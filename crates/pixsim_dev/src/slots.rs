//! The jobs processing at once: the shared limit they wait for
//! ([`max_running_jobs`](crate::DevBackendBuilder::max_running_jobs)), first come first served,
//! and the counts of running and waiting that [`DevStats`](crate::DevStats) shows.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::state::Shared;
use crate::stats::bump;

/// A place to process in, taken from the limit (none when there is no limit).
pub(crate) struct Slot {
    _permit: Option<OwnedSemaphorePermit>,
}

/// Waits for a slot under the backend's limit, first come first served, and counts the wait.
pub(crate) async fn slot(state: &Shared) -> Slot {
    let Some(limit) = &state.slots else {
        return Slot { _permit: None };
    };
    if let Ok(permit) = limit.clone().try_acquire_owned() {
        return Slot {
            _permit: Some(permit),
        };
    }
    let waited = Instant::now();
    bump(&state.counters.jobs_queued);
    // The semaphore is never closed; a closed one would only mean no limit.
    let permit = limit.clone().acquire_owned().await.ok();
    add(&state.counters.slot_wait_nanos, waited.elapsed());
    Slot { _permit: permit }
}

/// The limit of backend `config`: a semaphore of `max_running_jobs` permits, if set.
pub(crate) fn limit(max_running_jobs: Option<usize>) -> Option<Arc<Semaphore>> {
    max_running_jobs.map(|jobs| Arc::new(Semaphore::new(jobs.max(1))))
}

/// A job `processing`, counted as running until dropped; its slot is freed then.
pub(crate) struct Running {
    state: Arc<Shared>,
    since: Instant,
    _slot: Slot,
}

impl Running {
    /// Counts a job that turned `processing` in `slot`.
    pub(crate) fn start(state: &Arc<Shared>, slot: Slot) -> Self {
        let counters = &state.counters;
        let now = counters.running_jobs.fetch_add(1, Ordering::Relaxed) + 1;
        counters.peak_running_jobs.fetch_max(now, Ordering::Relaxed);
        Self {
            state: state.clone(),
            since: Instant::now(),
            _slot: slot,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let counters = &self.state.counters;
        counters.running_jobs.fetch_sub(1, Ordering::Relaxed);
        add(&counters.processing_nanos, self.since.elapsed());
    }
}

fn add(total: &std::sync::atomic::AtomicU64, time: Duration) {
    let nanos = u64::try_from(time.as_nanos()).unwrap_or(u64::MAX);
    total.fetch_add(nanos, Ordering::Relaxed);
}
