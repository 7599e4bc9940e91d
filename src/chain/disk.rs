//! The disk tier's part of the chain: what it serves before the sources are asked, and what it
//! keeps after.

use bevy::log::debug;

use super::SourceChain;
use super::decode::DecodedMedia;
use crate::cache::tier::ToStore;
use crate::source::{SourceKind, SourceRequest, SourcedMedia};

impl SourceChain {
    /// The request's media from the disk tier, decoded while its bytes are checked: after a
    /// journalled job of the same key and the game's disk commands sent before the job
    /// (`disk_commands_before`).
    pub(super) async fn disk_get(
        &self,
        request: &SourceRequest,
        disk_commands_before: u64,
    ) -> Option<(SourcedMedia, DecodedMedia)> {
        let disk = self.disk.as_ref()?;
        disk.join_resumed(request.key).await;
        let mut done = self.disk_commands_done.subscribe();
        let _ = done.wait_for(|done| *done >= disk_commands_before).await;
        // Offline, what is on disk is all there is, whichever source made it.
        let made_by =
            (!disk.serves_retired_sources() && !self.config.offline).then(|| self.made_by(request));
        let accepted = move |id: &str| {
            made_by
                .as_ref()
                .is_none_or(|ids| ids.iter().any(|ok| ok == id))
        };
        let (kind, limits) = (request.kind(), self.config.media_limits);
        let decoders = self.config.decoders.clone();
        let decoding = move |media: &SourcedMedia| decoders.decode(kind, media, &limits);
        match disk.get_with(request, accepted, decoding).await? {
            (media, Ok(decoded)) => Some((media, decoded)),
            // Kept under other limits, say: made again rather than failing.
            (media, Err(error)) => {
                debug!("{}: {error}", media.origin);
                None
            }
        }
    }

    /// The sources whose disk entries `request` may be served: those the chain would ask for
    /// it, up to the first generator that makes its kind (a later generator's media is not what
    /// this chain would make); every source of the chain when generation is not allowed.
    fn made_by(&self, request: &SourceRequest) -> Vec<String> {
        if !request.request.allow_generation {
            return self.ids.clone();
        }
        let kind = request.kind();
        let mut ids = Vec::new();
        for (source, id) in self.sources.iter().zip(&self.ids) {
            ids.push(id.clone());
            if source.kind() == SourceKind::Generated && source.handles(kind) {
                break;
            }
        }
        ids
    }

    /// Keeps what a source made on disk, then forgets the request's journalled job: the
    /// request ended with its result.
    pub async fn finish(&self, request: &SourceRequest, store: Option<ToStore>) {
        let Some(disk) = &self.disk else { return };
        if let Some(store) = store {
            disk.put(request, store).await;
        }
        request.journal.finish().await;
    }
}
