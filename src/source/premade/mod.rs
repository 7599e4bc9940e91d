//! The game's own pre-made media: tagged files listed in a JSON manifest, read through Bevy's
//! asset sources (the app's asset folder, `embedded://`, or any source the game registers).
//!
//! A manifest looks like this (paths are relative to the root of the manifest's asset source,
//! `id` is optional, unknown fields are ignored):
//!
//! ```json
//! {"assets": [
//!   {"id": "harbor_dawn", "path": "premade/harbor_dawn.png", "kind": "image",
//!    "tags": ["loc:harbor", "role:bg"]}
//! ]}
//! ```
//!
//! [`PreMadeSource`] serves a request from it: by id when the request names an asset, then the
//! entry made for exactly that request (its `key`, see below), otherwise the entry whose tags
//! score best against the request's context ([`scoring`](crate::source::scoring)).
//!
//! An entry with a `key` (the 64 hex digits of a [`RequestKey`](crate::RequestKey), as the
//! bake tool writes them) was made for that one request: it serves a request with that key,
//! ahead of any scoring, and no other. Tags cannot say that much: the prompt, the seed and the
//! style are not tags, and a node reached by two choices would tie with itself, so a baked
//! picture chosen by its tags could stand in for another node's. Its tags still describe it, for people and tools.
//!
//! Under [`AssetProviderPlugin`](crate::AssetProviderPlugin) the manifest is also a Bevy asset:
//! with Bevy's file watcher on, an edit is read again while the game runs (see [`PreMadeSource`]).

//! The files: `manifest` (entries read, checked and matched), `source` (the [`PreMadeSource`]),
//! `asset` (the manifest as a Bevy asset, followed through the app), `link` (what joins the
//! two) and `stills` (pictures found by tags on the frame, for request fallbacks).

mod asset;
mod link;
mod manifest;
mod source;
mod stills;

pub(crate) use asset::PreMadeManifestPlugin;
pub use manifest::{PreMadeEntry, PreMadeManifest};
pub use source::PreMadeSource;
pub(crate) use stills::PreMadeStills;

#[cfg(test)]
mod tests;
