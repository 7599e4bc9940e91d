//! One request at a time through a plugin's source chain, with no app and no frame: for tools
//! (the bake) that want the encoded media as well as the decoded check.

use std::sync::Arc;
use std::time::Duration;

use crate::cache::tier::{DiskTier, ToStore};
use crate::error::{AssetError, AssetErrorKind};
use crate::request::{AssetRequest, PlaySession, RequestKey};
use crate::runtime::decode::DecodedMedia;
use crate::runtime::{RuntimeConfig, SourceChain};
use crate::source::{AssetSource, JobJournal, LaneFlag, ProgressReporter};
use crate::source::{SourceKind, SourceRequest, SourcedMedia};

/// Media one request resolved to: its bytes, what they decode to, and who served them.
pub(crate) struct DirectMedia {
    pub media: SourcedMedia,
    pub decoded: DecodedMedia,
    /// What served it: a cache, a pre-made library, a generator.
    pub kind: SourceKind,
    /// The name of the source that served it (`disk_cache` for a disk hit).
    pub source_name: String,
}

/// A source chain driven directly, on the caller's tokio runtime.
pub(crate) struct DirectResolver {
    chain: Arc<SourceChain>,
    timeout: Duration,
    recovered: tokio::sync::OnceCell<()>,
}

impl DirectResolver {
    /// The chain of `sources` over `disk`, with `config`'s limits; each request gives up after
    /// `timeout`.
    pub fn new(
        sources: Vec<Arc<dyn AssetSource>>,
        disk: Option<Arc<DiskTier>>,
        config: &RuntimeConfig,
        timeout: Duration,
    ) -> Self {
        Self {
            chain: Arc::new(SourceChain::new(sources, disk, config)),
            timeout,
            recovered: tokio::sync::OnceCell::new(),
        }
    }

    /// Resolves `request` (of key `key`, asked in `session`): the disk tier, then each source
    /// in order, as the plugin would; the result decoded as a check, and kept on disk when its
    /// source's results are kept.
    pub async fn resolve(
        &self,
        key: RequestKey,
        request: AssetRequest,
        session: PlaySession,
    ) -> Result<DirectMedia, AssetError> {
        let chain = &self.chain;
        if let Some(disk) = &chain.disk {
            // Jobs an interrupted run journalled are followed, not paid for again.
            self.recovered
                .get_or_init(|| async {
                    if chain.offline {
                        disk.skip_recovery();
                    } else {
                        disk.recover(&chain.sources).await;
                    }
                })
                .await;
        }
        let request = SourceRequest {
            key,
            request,
            session,
            progress: ProgressReporter::ignore(),
            journal: match &chain.disk {
                Some(disk) => disk.journal().await,
                None => JobJournal::disabled(),
            },
            lane: LaneFlag::new(true),
        };
        let served = tokio::time::timeout(self.timeout, chain.resolve(&request, 0, &|| Ok(())))
            .await
            .map_err(|_| {
                AssetError::new(
                    AssetErrorKind::TimedOut,
                    format!(
                        "no {} media after {:.0} s",
                        request.kind().as_str(),
                        self.timeout.as_secs_f32()
                    ),
                )
            })??;
        let decoded = match served.decoded {
            Some(decoded) => decoded,
            None => {
                let _permit = chain.decode_permits.acquire().await.map_err(|_| {
                    AssetError::new(AssetErrorKind::Shutdown, "the runtime is shutting down")
                })?;
                let (kind, limits, media) =
                    (request.kind(), chain.media_limits, served.media.clone());
                let decoders = chain.decoders.clone();
                tokio::task::spawn_blocking(move || decoders.decode(kind, &media, &limits))
                    .await
                    .map_err(|error| {
                        AssetError::decode(format!(
                            "{}: decoding stopped: {error}",
                            served.media.origin
                        ))
                    })??
            }
        };
        if let Some(disk) = &chain.disk {
            if let Some(source) = served.keep_as {
                let store = ToStore {
                    media: served.media.clone(),
                    source,
                };
                disk.put(&request, store).await;
            }
            request.journal.finish().await;
        }
        Ok(DirectMedia {
            media: served.media,
            decoded,
            kind: served.kind,
            source_name: served.source_name,
        })
    }
}
