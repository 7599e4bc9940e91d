//! A reusable network policy for any source that speaks HTTP: retries with capped, jittered
//! backoff; `Retry-After` (seconds or HTTP-date) honoured within a cap; a timeout per attempt
//! and for a whole call; a shared concurrency limit; a credential ([`Auth`], holding a
//! [`Secret`]) sent only to the backend's own origin, and never carried (nor a body, nor a
//! `Referer`) through a redirect to another origin (see [`PolicyClient`]); URL scrubbing for
//! everything that reaches an error or a log line, and the server's own words in errors cut to
//! 400 characters and scrubbed of anything that looks like a credential
//! ([`PolicyClient::server_text`]).
//!
//! Build a [`NetPolicy`], wrap it in a [`PolicyClient`] for your backend's base URL, and send
//! [`NetRequest`]s. Failures come back as [`NetError`]s that say what was called, how it failed
//! and after how many tries; they convert into typed [`AssetError`](crate::AssetError)s (429
//! and 5xx exhausted: `Generation`; 404: `NotFound`; 400 and 422: `InvalidData`; the overall
//! timeout: `TimedOut`; a refused redirect: `Generation`) whose messages never hold a
//! credential.
//!
//! The PixSim7 client ([`backend`](crate::backend)) and the OpenAI-compatible images adapter
//! ([`openai`](crate::openai)) are both built on it.
//!
//! ```no_run
//! use bevy_asset_provider::net::{NetPolicy, NetRequest, PolicyClient, Retries, Secret};
//! use std::time::Duration;
//!
//! # async fn run() -> Result<(), bevy_asset_provider::AssetError> {
//! let token = Secret::from_env("MY_BACKEND_TOKEN")?;
//! let client = PolicyClient::new(
//!     "https://my-backend.example.com/api",
//!     NetPolicy::new()
//!         .bearer(token.expose())
//!         .max_attempts(4)
//!         .overall_timeout(Duration::from_secs(60))
//!         .max_concurrent(2),
//! )?;
//! let created: serde_json::Value = client
//!     .json(
//!         NetRequest::post("jobs")
//!             .json(&serde_json::json!({ "prompt": "a harbour at dawn" }))?
//!             .retries(Retries::Refusals),
//!     )
//!     .await?;
//! # Ok(()) }
//! ```

mod answer;
mod auth;
mod backoff;
mod client;
mod concurrency;
mod error;
mod policy;
mod request;
mod retry_after;
mod scrub;
mod secret;

pub use answer::Answer;
pub use auth::Auth;
pub(crate) use backoff::Backoff;
pub use client::PolicyClient;
pub(crate) use client::{MAX_REDIRECTS, normalise_base};
pub use concurrency::ConcurrencyLimit;
#[cfg(test)]
pub(crate) use error::status_error;
pub use error::{Failure, NetError};
pub use policy::NetPolicy;
pub use request::{NetRequest, Retries};
pub(crate) use retry_after::{MAX_SERVER_WAIT, seconds};
pub(crate) use scrub::{scrub_text, scrub_url, server_text, server_text_without};
pub use secret::Secret;
