//! The generation backend of the contract (PixSim7's API): its JSON types and the
//! [`PixSimSource`] client that turns requests into generations and downloads their media.
//!
//! ```no_run
//! use bevy_asset_provider::prelude::*;
//! use bevy_asset_provider::backend::PixSimSource;
//!
//! let backend = PixSimSource::builder("https://pixsim.example.com")
//!     .token("…")
//!     .provider_id("pixverse")
//!     .build()
//!     .expect("a valid backend configuration");
//! let plugin = AssetProviderPlugin::new().with_source(backend);
//! ```

mod api;
mod client;
mod config;
mod download;
mod follow;
#[cfg(test)]
mod fuzz;
mod game;
mod generations;
mod governor;
mod http;
mod library;
pub mod types;

pub use client::{PixSimSource, PixSimSourceBuilder};
pub use config::{CONFIG_ENV, PixSimConfig};
pub use library::PixSimLibrary;
pub use types::{
    AssetResponse, BackendId, CreateGeneration, EntityRef, ErrorBody, GenerationConfig,
    GenerationResponse, GenerationStatus, TagRef,
};
