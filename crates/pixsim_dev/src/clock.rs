//! The job clock: how long a job waits in each phase. Every wait of the lifecycle goes through
//! here, so how long jobs take is decided in one place.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::latency::job_rng;
use crate::state::Shared;

/// A job's wait while `pending` (the builder's `job_delays`); none for a kind with a
/// [`job_latency`](crate::DevBackendBuilder::job_latency), which waits only for a slot.
pub(crate) async fn pending(state: &Shared, id: u64) {
    let kind = state.data().generations.get(&id).map(|g| g.kind);
    if kind.is_some_and(|kind| state.config.latency.get(kind).is_some()) {
        return;
    }
    tokio::time::sleep(state.config.pending_delay).await;
}

/// A job's wait while `processing`, before its media is made: its drawn time for a kind with a
/// [`job_latency`](crate::DevBackendBuilder::job_latency), else the builder's `job_delays`.
/// Under a job limit a cancel ends it early.
pub(crate) async fn processing(state: &Shared, id: u64) {
    let (wait, wake) = processing_time(state, id);
    match wake {
        Some(wake) if state.slots.is_some() => {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = wake.notified() => {}
            }
        }
        _ => tokio::time::sleep(wait).await,
    }
}

/// How long job `id` processes in its current run, and what wakes it when cancelled.
fn processing_time(state: &Shared, id: u64) -> (Duration, Option<Arc<Notify>>) {
    let data = state.data();
    let Some(generation) = data.generations.get(&id) else {
        return (state.config.processing_delay, None);
    };
    let wait = match state.config.latency.get(generation.kind) {
        Some(latency) => latency.draw(&mut job_rng(state.config.seed, id, generation.attempts)),
        None => state.config.processing_delay,
    };
    (wait, Some(generation.wake.clone()))
}

/// How long a moderated job stays `failed` before the server retries it.
pub(crate) async fn before_server_retry(state: &Shared) {
    tokio::time::sleep(state.config.real.server_retry_delay).await;
}
