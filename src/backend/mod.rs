//! The generation backend of the contract (PixSim7's API): the [`PixSimSource`] client that
//! turns requests into generations and downloads their media, and the [`wire`] format it speaks.
//!
//! # The request's key is the promise
//!
//! The real service answers a create from existing work: first by a dedup hash over the
//! parameters (prompt, seed, scenes, player context) shared by all accounts, then by a cache key
//! of operation, purpose, scenes and strategy only, with no prompt, no seed, no character and no
//! game player (its `per_playthrough` scope is always `pt:unknown`, its `per_player` scope the
//! backend account). Trusting that reuse would show one request's picture for another's, and one
//! player's media to another. So the client decides what may be shared, as the plugin's keys do:
//!
//! - **`once`**: shared across players is the point (one payment for everyone), so the create
//!   asks for existing work (`force_new: false`) and carries no player context. The answer is
//!   taken only when its `canonical_params` show it is what was asked (prompt, seed, style,
//!   duration, scenes); otherwise the create is sent again with `force_new`. Checking what came
//!   back, rather than making every field of the server's key differ, keeps the real sharing
//!   (same prompt, same scene) and costs one extra call only when the server would have been
//!   wrong.
//! - **`per_playthrough`, `per_player`, `always`**: the server's scopes are not the game's, so
//!   these ask for new work (`force_new: true`) and the plugin's memory and disk tiers, keyed by
//!   playthrough and player, are what shares them. A check could not save anything here: the
//!   server's answer for another scope is always wrong.
//! - Whatever this client takes for its own work (a `force_new` create's answer, or one whose
//!   name carries the create's tag) must be it: named with the create's tag, of its operation,
//!   made for its player and playthrough, as far as the server says. Anything else fails the
//!   request with an [`InvalidData`](crate::error::AssetErrorKind::InvalidData) error and is
//!   never followed, journalled or cached: a faulty server cannot hand one player another's
//!   `per_player` media.
//! - The game endpoint hears only a scene, a choice, a character, a location and the `once`
//!   strategy, so only requests that say nothing more go there (see
//!   [`PixSimSourceBuilder::game_endpoint`]), and its answer must be of the kind asked for.
//! - A generation that turns out to be another account's (500 "Cannot access other users'
//!   generations", 403 on its file), or that someone else cancelled, sends the request for new
//!   work; it never fails the request.
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

mod answers;
mod api;
mod builder;
mod client;
mod config;
mod connection;
mod create;
mod created;
mod follow;
mod followers;
#[cfg(test)]
mod fuzz;
mod game;
mod generations;
mod governor;
mod library;
mod watch;
pub mod wire;

pub use builder::PixSimSourceBuilder;
pub use client::PixSimSource;
pub use config::{CONFIG_ENV, PixSimConfig};
pub use library::PixSimLibrary;
