//! The PixSim7 wire format (CONTRACT.md): the JSON bodies of its API, and the canonical JSON its
//! hashes and this crate's request keys are computed over. The client and the dev backend
//! (`pixsim_dev`) both speak it from here.
//!
//! Reading is tolerant: unknown fields are ignored, ids may be strings or numbers, absent and
//! `null` optional fields are the same, and an unknown status, purpose, strategy or generation
//! type string reads as an `Unknown` variant instead of an error. Ids the client *sends* are
//! strings ([`SceneRef`]).

mod assets;
mod error;
mod game;
mod generation;
mod ids;
mod login;
mod names;
mod socket;
#[cfg(test)]
mod tests;

pub use crate::request::{NonAscii, canonical_json};
pub use assets::*;
pub use error::*;
pub use game::*;
pub use generation::*;
pub use ids::*;
pub use login::*;
pub use names::*;
pub(crate) use socket::*;
