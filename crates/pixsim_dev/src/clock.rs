//! The job clock: how long a job waits in each phase. Every wait of the lifecycle goes through
//! here, so how long jobs take is decided in one place.

use crate::state::Shared;

/// A job's wait while `pending` (the builder's `job_delays`).
pub(crate) async fn pending(state: &Shared) {
    tokio::time::sleep(state.config.pending_delay).await;
}

/// A job's wait while `processing`, before its media is made (the builder's `job_delays`).
pub(crate) async fn processing(state: &Shared) {
    tokio::time::sleep(state.config.processing_delay).await;
}

/// How long a moderated job stays `failed` before the server retries it.
pub(crate) async fn before_server_retry(state: &Shared) {
    tokio::time::sleep(state.config.real.server_retry_delay).await;
}
