//! The state every handler shares: the configuration, the counters, the event channel, and the
//! generations and assets behind one lock.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use bevy_asset_provider::MediaKind;
use bevy_asset_provider::backend::wire::{AssetResponse, GenerationResponse};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{Notify, Semaphore, broadcast};

use crate::builder::DevBackendBuilder;
use crate::knobs::{Endpoint, Faults};
use crate::stats::{Counters, bump};

/// A generation as the backend keeps it: its answer and what its job needs.
pub(crate) struct Generation {
    pub(crate) response: GenerationResponse,
    pub(crate) kind: MediaKind,
    pub(crate) seed: u64,
    /// The create's `duration.target`, in seconds.
    pub(crate) duration: Option<f32>,
    pub(crate) tags: Vec<String>,
    pub(crate) prompt: String,
    pub(crate) cancel_requested: bool,
    /// The backend user that created it.
    pub(crate) owner: u64,
    /// Runs started at the provider (the real service's `attempt_count`).
    pub(crate) attempts: u32,
    /// Render moderations so far.
    pub(crate) moderated: u32,
    /// Bumped by each retry, so a job the server meant to retry is not run twice.
    pub(crate) run: u64,
    /// Ends its processing early when it is cancelled under a job limit.
    pub(crate) wake: Arc<Notify>,
}

/// What the backend holds, behind one lock.
#[derive(Default)]
pub(crate) struct Data {
    pub(crate) next_generation: u64,
    pub(crate) next_asset: u64,
    pub(crate) generations: BTreeMap<u64, Generation>,
    pub(crate) assets: BTreeMap<u64, AssetResponse>,
    pub(crate) by_hash: HashMap<String, u64>,
    pub(crate) by_cache_key: HashMap<String, (u64, Option<Instant>)>,
    /// When each generated asset's job completed, for latency measurements.
    pub(crate) completed_at: HashMap<String, Instant>,
    /// The `priority` of every create answered, in order.
    pub(crate) create_priorities: Vec<u8>,
    /// The user each generated asset belongs to (pre-made ones belong to nobody).
    pub(crate) asset_owner: HashMap<u64, u64>,
    /// The same by media key.
    pub(crate) media_owner: HashMap<String, u64>,
    /// When each user's recent creates came, for the per-minute limit.
    pub(crate) create_times: HashMap<u64, VecDeque<Instant>>,
    pub(crate) faults: Faults,
    /// Draws injected errors; seeded, so runs repeat.
    pub(crate) rng: fastrand::Rng,
}

/// The state every handler shares.
pub(crate) struct Shared {
    pub(crate) config: DevBackendBuilder,
    pub(crate) base_url: String,
    pub(crate) counters: Counters,
    pub(crate) events: broadcast::Sender<String>,
    /// The slots of [`max_running_jobs`](DevBackendBuilder::max_running_jobs), if limited.
    pub(crate) slots: Option<Arc<Semaphore>>,
    data: Mutex<Data>,
}

impl Shared {
    /// The state of a backend built by `config`, listening at `base_url`.
    pub(crate) fn new(config: DevBackendBuilder, base_url: String) -> Self {
        let data = Data {
            next_generation: 1,
            next_asset: 1,
            faults: config.faults.clone(),
            rng: fastrand::Rng::with_seed(config.seed),
            ..Data::default()
        };
        Self {
            counters: Counters::default(),
            events: broadcast::channel(4096).0,
            data: Mutex::new(data),
            slots: crate::slots::limit(config.max_running_jobs),
            config,
            base_url,
        }
    }

    /// The data, locked.
    pub(crate) fn data(&self) -> MutexGuard<'_, Data> {
        // A handler that panicked must not take the server down with it.
        self.data
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `value` as JSON with `status`, or cut off when `endpoint` has a malformed answer due.
    pub(crate) fn json(
        &self,
        endpoint: Endpoint,
        status: StatusCode,
        value: &impl Serialize,
    ) -> Response {
        let mut text = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
        let mut data = self.data();
        if let Some(count) = data.faults.malformed_next.get_mut(&endpoint)
            && *count > 0
        {
            *count -= 1;
            bump(&self.counters.faults);
            text.truncate(text.len() / 2);
        }
        (status, [(CONTENT_TYPE, "application/json")], text).into_response()
    }

    /// Sends `event` to every open WebSocket.
    pub(crate) fn broadcast(&self, event: Value) {
        let _ = self.events.send(event.to_string());
    }
}
