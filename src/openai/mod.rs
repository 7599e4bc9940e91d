//! An adapter for the OpenAI-compatible images endpoint, `POST {base}/v1/images/generations`,
//! served by OpenAI and by many self-hosted image servers: [`OpenAiImages`], a source built on
//! the crate's [network policy](crate::net).
//!
//! # What is sent
//!
//! `{"model", "prompt", "n": 1, "size", "response_format"?, "user"?}`. The prompt is the
//! request's prompt (with a string `style` appended as `". Style: …"`); a request without a
//! prompt passes to the next source. `response_format` (`"b64_json"` or `"url"`) is sent only
//! when the game [sets it](OpenAiImagesBuilder::response_format): OpenAI's gpt-image models
//! refuse the field (400 `unknown_parameter`) and always answer base64.
//!
//! # Whose image is whose
//!
//! The plugin's request keys already keep `per_playthrough` and `per_player` requests apart in
//! its memory and disk tiers. A server (or a caching proxy in front of it) may reuse an image
//! for an identical body, though, and two players asking with the same prompt would then share
//! one. So, as the PixSim7 client asks for new work for scoped strategies, the create carries
//! `user`: nothing for `once` (one image for everyone is the point), a SHA-256 of a per-game
//! [salt](OpenAiImagesBuilder::scope_salt) and the playthrough or player scope for the scoped
//! strategies (no player id leaves the game, and one player is not the same `user` in two
//! games), a fresh tag for `always`. [`scope_tag(false)`](OpenAiImagesBuilder::scope_tag)
//! turns it off.
//!
//! # The answers accepted
//!
//! Both shapes seen in the wild, from the create and from the poll alike:
//!
//! - **Direct**: `{"created": 1713833628, "data": [{"b64_json": "…"} | {"url": "…"}]}`, as
//!   OpenAI answers. No `status` field.
//! - **A job**: `{"id": "…", "status": "queued" | "in_progress" | "completed" | "failed", …}`,
//!   as servers that queue their work answer. While running it is polled at
//!   `GET {base}/v1/images/generations/{id}`, with backoff between polls and within the
//!   [job timeout](OpenAiImagesBuilder::job_timeout). Once `completed` its images are in
//!   `data` (or, Azure-style, `result.data`); once `failed` its reason is in `error` (a string
//!   or `{"message", "code"}`). Statuses are read case-insensitively and a few synonyms are
//!   accepted (`pending`, `notRunning`, `running`, `processing`; `succeeded`; `cancelled`,
//!   `expired`); an unknown status fails the request as invalid data rather than being polled
//!   forever. The id must be letters, digits and `-_.:`, since it goes into the poll's path.
//!
//! The first image is used. `b64_json` is decoded (its size checked before decoding); a `url`
//! is fetched through the same policy, the token going only to the server's own origin (a CDN
//! never sees it); a `data:` URL is decoded in place. Either way the bytes must be an image,
//! by their `Content-Type` or, when that is absent or generic, by their first bytes; their
//! pixel size is checked against the plugin's [`MediaLimits`](crate::MediaLimits) before
//! decoding, as for every source.
//!
//! # Failures
//!
//! A create is sent again only when nothing shows an image may have been made: after a refused
//! connection or a 429 (honouring `Retry-After`). A 5xx, a timeout after sending or a garbled
//! answer fails the request, saying it was not sent again, since a second create would be a
//! second paid image. Polls and downloads are retried on any transient failure (a 429, a 5xx,
//! a timeout). Other 4xx are final: 400 and 422 are [`InvalidData`](crate::AssetErrorKind::InvalidData), a refused prompt
//! (`content_policy_violation`, `moderation_blocked`, `content_filter`) is
//! [`Rejected`](crate::AssetErrorKind::Rejected), 404 is
//! [`NotFound`](crate::AssetErrorKind::NotFound). No error, log line or `Debug` output holds
//! the token, and what the server says (an error message, a failed job's reason) is cut to
//! 400 characters and scrubbed before it goes
//! into an error.

mod builder;
mod media;
mod source;
mod wire;

pub use builder::OpenAiImagesBuilder;
pub use source::OpenAiImages;
pub use wire::ResponseFormat;
