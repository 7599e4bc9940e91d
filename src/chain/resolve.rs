//! A request through the whole chain, within its time: the disk tier, the sources, the decode.

use std::time::{Duration, Instant};

use bevy::log::debug;

use super::SourceChain;
use super::ask::{GenerationGate, Served, panic_message};
use super::decode::DecodedMedia;
use crate::cache::tier::ToStore;
use crate::error::{AssetError, AssetErrorKind};
use crate::source::{SourceKind, SourceRequest, SourcedMedia};

/// A request's media, decoded and ready to insert, with its encoded bytes.
pub(crate) struct Resolved {
    pub media: DecodedMedia,
    /// What served it: a cache, a pre-made library, a generator.
    pub source: SourceKind,
    pub origin: String,
    /// The bytes it decoded from.
    #[cfg_attr(not(feature = "bake"), allow(dead_code, reason = "read by the bake"))]
    pub encoded: SourcedMedia,
    /// The name of the source that served it (`disk_cache` for a disk hit).
    #[cfg_attr(not(feature = "bake"), allow(dead_code, reason = "read by the bake"))]
    pub source_name: String,
    /// What the disk tier should keep, for [`SourceChain::finish`].
    store: Option<ToStore>,
}

/// What the frame gets of a resolved request: the media to insert and what served it.
pub(crate) struct Delivered {
    pub media: DecodedMedia,
    pub source: SourceKind,
    pub origin: String,
}

impl Resolved {
    /// Takes out what the disk tier should keep.
    pub fn take_store(&mut self) -> Option<ToStore> {
        self.store.take()
    }

    /// What the frame needs. The encoded bytes stay here and are freed on the thread that read
    /// them, which then reuses that memory for its next read instead of faulting in new pages.
    pub fn deliver(self) -> Delivered {
        Delivered {
            media: self.media,
            source: self.source,
            origin: self.origin,
        }
    }
}

impl SourceChain {
    /// Resolves `request` within `timeout`: the disk tier (after the game's disk commands sent
    /// before the job, `disk_commands_before`), then each source in order, generators through
    /// `gate`; the media decoded. What it made is kept by [`finish`](Self::finish).
    pub async fn resolve(
        &self,
        request: &SourceRequest,
        timeout: Duration,
        disk_commands_before: u64,
        gate: &dyn GenerationGate,
    ) -> Result<Resolved, AssetError> {
        let started = Instant::now();
        let resolving = self.resolve_and_decode(request, disk_commands_before, gate);
        tokio::time::timeout(timeout, resolving)
            .await
            .unwrap_or_else(|_| {
                Err(AssetError::new(
                    AssetErrorKind::TimedOut,
                    format!(
                        "no {} media after {:.1} s (max_wait)",
                        request.kind().as_str(),
                        started.elapsed().as_secs_f32()
                    ),
                ))
            })
    }

    async fn resolve_and_decode(
        &self,
        request: &SourceRequest,
        disk_commands_before: u64,
        gate: &dyn GenerationGate,
    ) -> Result<Resolved, AssetError> {
        if let Some((media, decoded)) = self.disk_get(request, disk_commands_before).await {
            debug!("{:?} served by disk_cache ({})", request.key, media.origin);
            return Ok(Resolved {
                media: decoded,
                source: SourceKind::Cached,
                origin: media.origin.clone(),
                encoded: media,
                source_name: "disk_cache".to_owned(),
                store: None,
            });
        }
        let served = self.ask_sources(request, gate).await?;
        debug!(
            "{:?} served by {} ({})",
            request.key, served.source_name, served.media.origin
        );
        self.decode_served(request, served).await
    }

    /// Decodes what a source served on a blocking thread, within the decode permits.
    async fn decode_served(
        &self,
        request: &SourceRequest,
        served: Served,
    ) -> Result<Resolved, AssetError> {
        let _permit = self.decode_permits.acquire().await.map_err(|_| {
            AssetError::new(AssetErrorKind::Shutdown, "the runtime is shutting down")
        })?;
        let (kind, limits, origin) = (
            request.kind(),
            self.config.media_limits,
            served.media.origin.clone(),
        );
        let (media, decoders) = (served.media, self.config.decoders.clone());
        let (decoded, media) =
            tokio::task::spawn_blocking(move || (decoders.decode(kind, &media, &limits), media))
                .await
                .map_err(|error| {
                    let why = if error.is_panic() {
                        format!("panicked: {}", panic_message(&*error.into_panic()))
                    } else {
                        format!("stopped: {error}")
                    };
                    AssetError::decode(format!("{origin}: decoding {} media {why}", kind.as_str()))
                })?;
        let decoded = decoded?;
        // Only media that decoded is kept: a bad file is never served from disk later.
        let store = served.keep_as.map(|source| ToStore {
            media: media.clone(),
            source,
        });
        Ok(Resolved {
            media: decoded,
            source: served.kind,
            origin,
            encoded: media,
            source_name: served.source_name,
            store,
        })
    }
}
