//! Asking the sources in order: which may be asked for a request, generators behind their gate,
//! and the error when none serves it.

use std::any::Any;
use std::panic::AssertUnwindSafe;

use async_trait::async_trait;
use bevy::log::{debug, warn};
use futures_util::FutureExt;

use super::SourceChain;
use crate::error::AssetError;
use crate::source::{AssetSource, SourceKind, SourceRequest, SourcedMedia};

/// Held while a generator works for a request: its slot among the generation slots.
pub(crate) type GenerationSlot<'a> = Box<dyn Send + 'a>;

/// Asked before a generator is: waits for a generation slot in the request's turn, then reports
/// the generation, or refuses it (the spend cap).
#[async_trait]
pub(crate) trait GenerationGate: Send + Sync {
    async fn enter(&self, request: &SourceRequest) -> Result<GenerationSlot<'_>, AssetError>;
}

/// What a source served.
pub(super) struct Served {
    pub media: SourcedMedia,
    pub kind: SourceKind,
    /// The source's id, when the disk tier should keep the result.
    pub keep_as: Option<String>,
    /// The name of the source that served it.
    pub source_name: String,
}

/// Why the sources served nothing, so far.
#[derive(Default)]
struct Misses {
    last_error: Option<AssetError>,
    skipped_generators: bool,
    /// A generation that failed is final: another generator standing in would hide a rejected
    /// prompt or a broken backend behind different media. A generator that passes (`Ok(None)`,
    /// say audio a backend cannot make) lets the next one try.
    generation_failed: bool,
}

impl SourceChain {
    /// Each source in order; the first that serves wins.
    pub(super) async fn ask_sources(
        &self,
        request: &SourceRequest,
        gate: &dyn GenerationGate,
    ) -> Result<Served, AssetError> {
        let mut misses = Misses::default();
        for source in &self.sources {
            let kind = source.kind();
            if !self.may_ask(&**source, request, &mut misses) {
                continue;
            }
            let _slot = if kind == SourceKind::Generated {
                match gate.enter(request).await {
                    Ok(slot) => Some(slot),
                    Err(refused) => {
                        // Refused by the spend cap: no generator is asked for this request.
                        misses.generation_failed = true;
                        misses.last_error = Some(refused);
                        continue;
                    }
                }
            } else {
                None
            };
            match ask(&**source, request).await {
                Ok(Some(media)) => return Ok(served(&**source, media)),
                Ok(None) => {}
                Err(error) => {
                    misses.generation_failed |= kind == SourceKind::Generated;
                    debug!(
                        "source {} failed for {:?}: {error}",
                        source.name(),
                        request.key
                    );
                    misses.last_error = Some(error);
                }
            }
        }
        Err(self.nothing_served(request, misses))
    }

    /// Whether `source` may be asked for `request`: offline, generators and network sources
    /// are not; nor generators when generation is not allowed or one failed already, nor
    /// caches when the request wants a fresh result.
    fn may_ask(
        &self,
        source: &dyn AssetSource,
        request: &SourceRequest,
        misses: &mut Misses,
    ) -> bool {
        let kind = source.kind();
        if self.config.offline && (kind == SourceKind::Generated || source.uses_network()) {
            return false;
        }
        if kind == SourceKind::Generated && !request.request.allow_generation {
            misses.skipped_generators = true;
            return false;
        }
        if kind == SourceKind::Generated && misses.generation_failed {
            return false;
        }
        kind != SourceKind::Cached || request.request.is_cacheable()
    }

    /// The error of a request no source served.
    fn nothing_served(&self, request: &SourceRequest, misses: Misses) -> AssetError {
        if self.config.offline && misses.last_error.is_none() {
            return self.missing_offline(request);
        }
        misses.last_error.unwrap_or_else(|| {
            let names: Vec<&str> = self.sources.iter().map(|s| s.name()).collect();
            let asked = format!(
                "no source had {} media for this request (asked: {})",
                request.kind().as_str(),
                names.join(", ")
            );
            AssetError::no_source(if misses.skipped_generators {
                format!("{asked} and generation is not allowed for it")
            } else {
                asked
            })
        })
    }

    /// The error of a request nothing cached or pre-made serves in offline mode, named in a
    /// warning the first time its key misses.
    fn missing_offline(&self, request: &SourceRequest) -> AssetError {
        let error = AssetError::no_source(format!(
            "offline: no cached or pre-made {} media for {} (key {})",
            request.kind().as_str(),
            crate::request::describe(&request.request),
            request.key.short()
        ));
        let first = self
            .offline_warned
            .lock()
            .map_or(true, |mut warned| warned.insert(request.key));
        if first {
            warn!("{}; the placeholder stays", error.message());
        }
        error
    }
}

/// Asks `source`: one that panics fails like one that returns an error, and the job goes on.
async fn ask(
    source: &dyn AssetSource,
    request: &SourceRequest,
) -> Result<Option<SourcedMedia>, AssetError> {
    AssertUnwindSafe(async { source.resolve(request).await })
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            Err(AssetError::generation(format!(
                "source {} panicked: {}",
                source.name(),
                panic_message(&*panic)
            )))
        })
}

/// What `source` served, and whether the disk tier keeps it.
fn served(source: &dyn AssetSource, media: SourcedMedia) -> Served {
    let kind = media.served_as.unwrap_or(source.kind());
    let keep = kind != SourceKind::Cached && source.caches_results();
    Served {
        media,
        kind,
        keep_as: keep.then(|| source.id().into_owned()),
        source_name: source.name().to_owned(),
    }
}

/// What a panic carried, as text, without secrets a URL in it may hold.
pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> String {
    let message = panic
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned());
    crate::error::without_url_secrets(&message)
}
