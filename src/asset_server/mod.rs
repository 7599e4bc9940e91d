//! Generated media through Bevy's `AssetServer`: `asset_server.load("gen://...")`, load states,
//! `is_loaded_with_dependencies`, bevy_asset_loader collections and a game's own "is everything
//! loaded?" code work on requests described by a path or a small settings file. They are served
//! by the same [`AssetProvider`](crate::AssetProvider) as every other request: identical
//! requests share one job, and the memory and disk tiers answer first.
//!
//! ```no_run
//! use bevy::prelude::*;
//! use bevy_asset_provider::prelude::*;
//! use bevy_asset_provider::asset_server::GeneratedAssetSourcePlugin;
//!
//! fn main() {
//!     App::new()
//!         .add_plugins(GeneratedAssetSourcePlugin) // before DefaultPlugins: it adds `gen://`
//!         .add_plugins(DefaultPlugins)
//!         .add_plugins(AssetProviderPlugin::default())
//!         .add_systems(Startup, setup)
//!         .run();
//! }
//!
//! fn setup(mut commands: Commands, asset_server: Res<AssetServer>) {
//!     commands.spawn(Camera2d);
//!     let park = asset_server.load("gen://park.image?scene=park&prompt=a%20quiet%20park%20at%20dusk");
//!     commands.spawn(Sprite::from_image(park));
//! }
//! ```
//!
//! # `gen://` paths
//!
//! `gen://[folders/]name.kind[?field=value&field=value...]`
//!
//! - **kind** is the name's extension: `.image` (a `Handle<Image>`) or `.audio` (a
//!   `Handle<AudioSource>`, with the `audio` feature). Bevy picks the loader by it, so untyped
//!   loads (bevy_asset_loader's) work too. Video has no kind here: play clips through
//!   `AssetProvider` and `VideoPlayer`.
//! - **name** (and folders) are yours, for reading: they are not part of the request. Two paths
//!   that differ only in the name, or in the order of their fields, are two assets to the
//!   `AssetServer` and one request to the provider (one generation, one copy each).
//! - **fields** (each at most once, but `tag`): `prompt`, `scene`, `choice`, `to_scene`,
//!   `character`, `location`, `asset_id` (text); `tag` (text, repeated for several);
//!   `strategy` (`once`, `per_playthrough`, `per_player`, `always`; default `once`); `purpose`
//!   (`gap_fill`, `variation`, `adaptive`, `ambient`); `seed` (0 to 2^64 - 1); `duration`
//!   (seconds above 0, for audio); `priority` (0 to 10, default 5); `max_wait` (seconds above
//!   0); `allow_generation`, `prefer_cached` (`true` or `false`, default `true`); `style` (a
//!   JSON object, escaped). They set the [`AssetRequest`](crate::AssetRequest) field of the same
//!   meaning, so `gen://a.image?prompt=x&scene=s` is the request
//!   `AssetRequest::image().prompt("x").scene("s")`, with the same key.
//! - **escaping**: values are percent-decoded (UTF-8). Write `%` as `%25`, `&` as `%26`, `=` as
//!   `%3D`, `#` as `%23` (Bevy reads what follows `#` as a label), `/` as `%2F` and `\` as `%5C`
//!   (path separators), and spaces as `%20`; `+` is a plus sign. [`gen_path`] writes a path
//!   from a request with everything escaped.
//!
//! # Settings files
//!
//! A file `name.image.json` or `name.audio.json` in any asset source holds a JSON object of the
//! same fields (`"tags": [...]` in place of repeated `tag`; numbers and booleans as JSON values),
//! for example `{"prompt": "a soft harbour bell", "strategy": "per_player"}`. They need only
//! `AssetProviderPlugin`, added where it usually is; `gen://` paths also need
//! [`GeneratedAssetSourcePlugin`] before `AssetPlugin` (Bevy takes sources only then).
//!
//! # Loading, errors, placeholders
//!
//! The handle is `Loading` until the provider's job ends: `Loaded` with the real media (a copy
//! of what the provider holds behind its own handle), or `Failed`. An `AssetServer` handle has
//! **no placeholder**: nothing is shown before the media arrives, unlike
//! [`AssetProvider::request`](crate::AssetProvider::request)'s handles. The load error names
//! the path and says what went wrong, as Bevy logs it:
//!
//! ```text
//! Failed to load asset 'gen://a.image?seed=x' with asset loader
//! 'bevy_asset_provider::asset_server::GeneratedImageLoader': invalid_data: field `seed`: `x`
//! is not a whole number from 0 to 2^64 - 1
//! ```
//!
//! or, after the description, the request's own error as the provider reports it
//! (`rejected: ...`, `timed_out: ...`, `no_source: ...`). A malformed description never
//! reaches a source. Dropping every handle of a path while it loads gives the request up: Bevy
//! drops the load, and the job is cancelled unless another holder keeps it.
//!
//! Each load is a copy of the media: the `AssetServer`'s asset and the provider's handle are two
//! assets. The copy is made on the frame when the job ends (a clone of the image, or a shared
//! reference to the sound's bytes).
//!
//! The `AssetServer` keeps one asset per path while a handle to it lives: loading the path again
//! gives that asset, whatever the [`PlaySession`](crate::PlaySession) is now, and an `always`
//! request is made once per load, not per `load` call. Drop the handles (or `reload` the path)
//! when a new playthrough starts.

mod bridge;
mod loader;
mod path;
mod source;

#[cfg(feature = "audio")]
use loader::GeneratedAudioLoader;
use loader::GeneratedImageLoader;
pub use path::{FIELDS, gen_path};
pub use source::{GEN_SOURCE, GeneratedAssetSourcePlugin};

use bevy::asset::{AssetApp, AssetServer};
use bevy::prelude::*;

use crate::sets::AssetProviderSystems;

/// Adds the loaders of generated media and the system that serves them. Added by
/// `AssetProviderPlugin`; the loaders are registered in `finish`, when the `AssetServer`
/// exists whatever the order the game added its plugins in.
pub(crate) struct GeneratedAssetLoadersPlugin;

impl Plugin for GeneratedAssetLoadersPlugin {
    fn build(&self, _app: &mut App) {}

    fn finish(&self, app: &mut App) {
        if !app.world().contains_resource::<AssetServer>() {
            return;
        }
        let (orders, queue) = bridge::bridge();
        app.register_asset_loader(GeneratedImageLoader::new(orders.clone()));
        #[cfg(feature = "audio")]
        app.register_asset_loader(GeneratedAudioLoader::new(orders));
        #[cfg(not(feature = "audio"))]
        drop(orders);
        app.insert_resource(queue).add_systems(
            Update,
            bridge::serve_orders
                .run_if(bridge::has_orders)
                .in_set(AssetProviderSystems::Request),
        );
    }
}
