//! Deterministic procedural media: small painted landscapes as PNG and soft chimes as WAV.
//!
//! The embedded [`LocalGenerator`](crate::source::LocalGenerator) uses these so a game
//! shows plausible media with no backend configured; a dev backend can serve the same bytes. The
//! same seed always gives the same bytes, and different seeds give visibly (and audibly)
//! different media.
//!
//! ```
//! use bevy_asset_provider::source::procedural::{procedural_png, procedural_wav};
//!
//! let png = procedural_png(7, 64, 36);
//! assert_eq!(&png[1..4], b"PNG");
//! let wav = procedural_wav(7, 0.5);
//! assert_eq!(&wav[..4], b"RIFF");
//! ```

mod canvas;
mod chime;
mod landscape;
mod palette;
mod picture;
mod rng;

pub use chime::{MAX_WAV_SECONDS, WAV_SAMPLE_RATE, procedural_wav};
// The clips pan over the same landscapes.
#[cfg(any(test, feature = "video"))]
pub(crate) use landscape::paint_landscape;
pub use picture::{MAX_IMAGE_SIDE, encode_png, procedural_png};
pub(crate) use rng::seed_from_key;

#[cfg(test)]
mod tests;
