//! A loopback server that speaks the PixSim7 generation API as `bevy_asset_provider`'s contract
//! describes it (CONTRACT.md), for the library's tests, examples and benchmarks and for local
//! development (`cargo run -p pixsim_dev -- --port 8787`). It speaks the same
//! [wire format](bevy_asset_provider::backend::wire) as the client, from the same types.
//!
//! It logs in with fixed dev credentials ([`DEV_EMAIL`], [`DEV_PASSWORD`]), checks the bearer
//! token, deduplicates creates by reproducible hash and by cache key, runs jobs through
//! `pending → processing → completed` after configurable delays, makes procedural PNG / WAV
//! media with their SHA-256 (and, with the `video` feature, H.264 mp4 clips for the video
//! operations), announces jobs on the WebSocket, and can inject faults.
//!
//! By default it serves the contract as written. Knobs make it behave like the real PixSim7
//! service where that differs (CONTRACT.md, last section), one difference each:
//! [`extra_account`](DevBackendBuilder::extra_account) and
//! [`global_dedup`](DevBackendBuilder::global_dedup),
//! [`real_cache_key`](DevBackendBuilder::real_cache_key),
//! [`moderate_prompts_containing`](DevBackendBuilder::moderate_prompts_containing),
//! [`cancel_loses_race`](DevBackendBuilder::cancel_loses_race),
//! [`invalid_creates_answer_500`](DevBackendBuilder::invalid_creates_answer_500),
//! [`create_rate_limit`](DevBackendBuilder::create_rate_limit),
//! [`reject_numeric_ids`](DevBackendBuilder::reject_numeric_ids),
//! [`real_event_shapes`](DevBackendBuilder::real_event_shapes) and
//! [`scene_media`](DevBackendBuilder::scene_media); [`DevBackend::like_real_service`] turns
//! them all on.
//!
//! Jobs can take as long as on a hosted service: a time drawn per job and media kind, with a
//! tail ([`job_latency`](DevBackendBuilder::job_latency),
//! [`latency_profile`](DevBackendBuilder::latency_profile) with [`LatencyProfile::hosted`]),
//! and a limit of jobs processing at once shared by all accounts, the rest queued `pending`
//! ([`max_running_jobs`](DevBackendBuilder::max_running_jobs)).
//!
//! ```no_run
//! use pixsim_dev::DevBackend;
//! use std::time::Duration;
//!
//! let backend = DevBackend::builder()
//!     .job_delays(Duration::from_millis(10), Duration::from_millis(50))
//!     .spawn()
//!     .expect("a loopback port");
//! println!("serving on {}", backend.base_url());
//! ```

#![warn(missing_docs)]
// Handlers answer errors as ready `Response`s (axum's usual `Result<_, Response>`); boxing them
// would buy nothing in a test server.
#![allow(clippy::result_large_err)]

pub mod openai;

// The configuration: types first, then the builder and the running backend.
mod accounts;
mod builder;
mod handle;
mod knobs;
mod latency;
mod media;
mod stats;

// The shared state and what every handler uses.
mod auth;
mod faults;
mod reply;
mod state;

// Generations: the create and its dedup, the job's clock and lifecycle, the events.
mod clock;
mod create;
mod events;
mod hashes;
mod jobs;
mod slots;

// The endpoints, and the routes to them.
mod assets;
mod downloads;
mod game;
mod generations;
mod real;
mod router;
mod socket;

pub use accounts::{DEV_EMAIL, DEV_PASSWORD, DEV_TOKEN, DEV_USERNAME};
pub use builder::DevBackendBuilder;
pub use handle::DevBackend;
pub use knobs::{Endpoint, SceneMediaMode};
pub use latency::{JobLatency, LatencyProfile};
pub use media::MediaStore;
pub use stats::DevStats;
