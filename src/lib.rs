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
#![cfg_attr(docsrs, feature(doc_cfg))]

// The folders follow a request's path: `request` (what a game asks for and its key) →
// `provider` (the facade and its bookkeeping, on the frame) → `runtime` (jobs on the plugin's own
// threads) → `chain` (the tiers and sources asked in order, the decode) → `source` (pre-made, the
// embedded generator, your own) and `backend` (the PixSim7 client) → `cache` (the disk tier and
// the job journal). `scene`, `prediction`, `video` and
// `observe` build on that pipeline; each adds its own small plugin. `asset_server` serves
// requests described by `gen://` paths through Bevy's `AssetServer`.

pub mod asset_server;
#[cfg(feature = "pixsim")]
pub mod backend;
#[cfg(feature = "bake")]
pub mod bake;
#[cfg(feature = "disk")]
pub mod cache;
mod chain;
// Without `disk` only the runtime's view of a tier that cannot exist is left.
#[cfg(not(feature = "disk"))]
mod cache;
mod error;
mod files;
mod json;
#[cfg(feature = "http")]
pub mod net;
pub mod observe;
#[cfg(feature = "openai")]
pub mod openai;
mod plugin;
pub mod prediction;
mod provider;
mod request;
mod runtime;
pub mod scene;
mod sets;
pub mod source;
#[cfg(feature = "video")]
pub mod video;

pub use error::{AssetError, AssetErrorKind, MAX_ERROR_MESSAGE};
pub use plugin::{
    AssetProviderPlugin, AssetProviderPlugins, DEFAULT_MANIFEST, PreMadeAssetsPlugin,
};
pub use provider::{
    AssetCancelled, AssetFailed, AssetProvider, AssetReady, AssetRequested, DiskAdmin,
    GenerationTask, MediaHandle, MediaReady, ProviderStats, RequestAsset, RequestCancelled,
    RequestFailed, RequestReady, SpendCap, TaskStatus,
};
pub use request::{
    AssetRequest, CachingStrategy, Fallback, GenerationPurpose, LONGEST_WAIT, MediaKind,
    MediaLimits, PlaySession, RequestKey,
};
pub use sets::AssetProviderSystems;

/// What a game writes: `use bevy_asset_provider::prelude::*;`. The plugin and its group, the
/// provider and its requests, their status and results, and scene graphs. The rest is a path
/// away: [`source`] (sources and the extension points for your own), [`observe`] (analytics,
/// diagnostics, loading states), [`prediction`], [`scene`], and the crate root.
pub mod prelude {
    pub use crate::scene::{EnterNode, MakeChoice, SceneGraph};
    pub use crate::{
        AssetError, AssetErrorKind, AssetFailed, AssetProvider, AssetProviderPlugin,
        AssetProviderPlugins, AssetProviderSystems, AssetReady, AssetRequest, CachingStrategy,
        GenerationTask, MediaHandle, MediaKind, MediaReady, PlaySession, RequestAsset, TaskStatus,
    };
}

/// The README's examples, compiled as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
