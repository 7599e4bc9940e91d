//! # bevy_asset_provider
//!
//! Ask for media by game context (scene, choice, character, prompt, caching strategy) and get a
//! handle back at once. The handle shows a placeholder now; the real media, from a cache, from the
//! game's pre-made assets or from a generator, is swapped in behind the same handle when it is
//! ready, so every sprite, UI image and audio player holding it shows it.
//!
//! ```no_run
//! use bevy::prelude::*;
//! use bevy_asset_provider::prelude::*;
//!
//! fn main() {
//!     App::new()
//!         .add_plugins(DefaultPlugins)
//!         .add_plugins(AssetProviderPlugin::default())
//!         .add_systems(Startup, setup)
//!         .run();
//! }
//!
//! fn setup(mut commands: Commands, mut provider: ResMut<AssetProvider>) {
//!     commands.spawn(Camera2d);
//!     let image = provider.request_image(
//!         AssetRequest::image()
//!             .scene("park")
//!             .prompt("a quiet park at dusk, two figures on a bench"),
//!     );
//!     commands.spawn(Sprite::from_image(image));
//! }
//! ```
//!
//! How it works: requests are fingerprinted on the frame (a SHA-256 of a canonical JSON form),
//! joined to an identical request in flight or served from the memory tier, and otherwise sent
//! over a channel to a tokio runtime on its own threads. There the configured
//! [`AssetSource`](source::AssetSource)s are asked in order and the result is decoded; a system
//! drains the results each frame and swaps the media in. No system blocks.

#![warn(missing_docs)]

pub mod analytics;
pub mod backend;
#[cfg(feature = "dev-backend")]
pub mod dev_backend;
pub mod diagnostics;
pub mod disk_cache;
pub mod error;
pub mod journal;
#[cfg(feature = "state")]
pub mod loading;
pub mod local_generator;
pub mod media_limits;
pub mod messages;
pub mod placeholder;
pub mod plugin;
pub mod prediction;
pub mod premade;
pub mod procedural;
pub mod provider;
pub mod request;
pub mod scene_graph;
pub mod scoring;
pub mod session;
pub mod source;
pub mod task;
#[cfg(feature = "video")]
pub mod video;

mod decode;
mod disk_tier;
mod lanes;
mod runtime;
mod systems;

/// Everything a game needs: `use bevy_asset_provider::prelude::*;`.
pub mod prelude {
    pub use crate::analytics::{AnalyticsEvent, AnalyticsKind, AssetPlayed, CacheTier};
    pub use crate::diagnostics::AssetProviderDiagnostics;
    pub use crate::disk_cache::{DiskCacheConfig, DiskStats};
    pub use crate::error::{AssetError, AssetErrorKind};
    #[cfg(feature = "state")]
    pub use crate::loading::{CriticalAsset, LoadingProgress, LoadingStatePlugin};
    pub use crate::local_generator::LocalGenerator;
    pub use crate::media_limits::MediaLimits;
    pub use crate::messages::{
        AssetCancelled, AssetFailed, AssetReady, AssetRequested, RequestAsset,
    };
    pub use crate::plugin::{AssetProviderPlugin, AssetProviderSystems};
    pub use crate::prediction::{
        PredictedStep, PredictionSettings, PredictionState, Predictor, SceneFlags,
        WeightedPredictor,
    };
    pub use crate::premade::PreMadeSource;
    pub use crate::provider::{AssetProvider, ProviderStats};
    pub use crate::request::{
        AssetRequest, CachingStrategy, GenerationPurpose, MediaKind, RequestKey,
    };
    pub use crate::scene_graph::{EnterNode, MakeChoice, SceneGraph, SceneMedia};
    pub use crate::session::PlaySession;
    pub use crate::source::{AssetSource, SourceKind};
    pub use crate::task::{GenerationTask, MediaHandle, TaskStatus};
    #[cfg(feature = "video")]
    pub use crate::video::{VideoClip, VideoClips, VideoEnded, VideoPlayer, VideoState};
}

/// The README's examples, compiled as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
