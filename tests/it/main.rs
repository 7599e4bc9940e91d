//! The integration tests, one binary (so Bevy links once), one module per behaviour. Every
//! test runs headless (`MinimalPlugins` and the asset plugins), and tests that need a server
//! start it themselves on 127.0.0.1.

mod common;

mod asset_server;
mod awaiting;
mod backend;
mod backend_follow;
mod backend_reuse;
mod backend_trust;
mod bake;
mod dev_backend_real;
mod disk_tier;
mod fallback;
mod fault_matrix;
mod fingerprint;
mod journal_resume;
mod layers;
#[cfg(feature = "http")]
mod net_redirects;
mod offline;
#[cfg(feature = "openai")]
mod openai;
mod prediction;
mod prediction_time;
mod premade;
#[cfg(feature = "progress")]
mod progress;
mod provider;
mod real_service;
mod recording;
mod reflect;
mod robustness;
mod scene_graph;
mod scene_schema;
mod session;
mod video;
