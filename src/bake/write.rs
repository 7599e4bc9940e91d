//! Writing one made request's file and manifest entry, on a blocking thread, without ever
//! overwriting or removing a file the bake did not write.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bevy::log::warn;

use crate::bake::contact_sheet::Tile;
use crate::bake::files::{extension_for, file_name, file_sha256};
use crate::bake::manifest::{BakedEntry, ManifestDocument, Provenance};
use crate::bake::plan::{PlanItem, Retouch, RetouchedFile};
use crate::bake::report::BakeOutcome;
use crate::bake::tiles::{label, picture_of, tile_of_file};
use crate::chain::Resolved;
use crate::chain::decode::MediaDecoders;
use crate::error::{AssetError, AssetErrorKind};
use crate::files::{sha256_hex, write_atomically};
use crate::request::{AssetRequest, MediaKind, MediaLimits};
use crate::source::scoring::MatchCriteria;

/// One request's media to write, with what the write needs, for a blocking thread.
pub(crate) struct WriteJob {
    pub root: PathBuf,
    pub folder: String,
    pub item: PlanItem,
    pub direct: Resolved,
    pub tile: bool,
    pub limits: MediaLimits,
    pub decoders: Arc<MediaDecoders>,
}

/// What writing one request's media did.
pub(crate) struct Written {
    pub outcome: BakeOutcome,
    pub tile: Option<Tile>,
    /// The replaced file, removed.
    pub removed: Option<String>,
    /// A retouched file kept (in place of the write, or one that changed while it was replaced).
    pub retouched: Option<RetouchedFile>,
}

impl Written {
    fn outcome(outcome: BakeOutcome) -> Self {
        Self {
            outcome,
            tile: None,
            removed: None,
            retouched: None,
        }
    }

    fn failed(error: AssetError) -> Self {
        Self::outcome(BakeOutcome::Failed(error))
    }
}

impl WriteJob {
    /// Writes the file and the entry into `document` (and saves it), unless that would
    /// overwrite a file that is not what the bake wrote; removes the replaced file while it is
    /// what the bake wrote. Blocking.
    pub fn write(self, document: &mut ManifestDocument) -> Result<Written, AssetError> {
        let kind = self.item.request.kind;
        let media = &self.direct.encoded;
        let Some(extension) = extension_for(&media.mime).filter(|_| fits(kind, &media.mime)) else {
            return Ok(Written::failed(AssetError::new(
                AssetErrorKind::Unsupported,
                format!(
                    "{}: {} media cannot be kept as a pre-made {} file",
                    media.origin,
                    media.mime,
                    kind.as_str()
                ),
            )));
        };
        let path = self.path(extension);
        let entry = self.entry(&path);
        // The entry this one replaces: its file retouched since the plan read it wins, as it
        // would have in the plan.
        if let Some(old) = document.replaced_by(&entry)
            && changed_since_baked(&self.root, &old)
        {
            return Ok(self.keep_retouched(old, &entry));
        }
        if let Some(refused) = self.refuse_foreign_file(document, &path) {
            return Ok(refused);
        }
        if let Err(error) = write_atomically(&self.root.join(&path), &media.bytes) {
            return Ok(Written::failed(error));
        }
        let replaced = document.upsert(&entry)?;
        document.save()?;
        let (removed, retouched) = match replaced {
            Some(old) if old.path != path && !document.names_file(&old.path) => {
                self.remove_replaced(old)
            }
            _ => (None, None),
        };
        let tile = (self.tile && kind != MediaKind::Audio).then(|| {
            let label = label(&self.item, &self.direct.source_name);
            match picture_of(&self.direct.media) {
                Some(image) => Tile::new(image, label),
                None => Tile::empty(label),
            }
        });
        let outcome = BakeOutcome::Written {
            path,
            bytes: entry.baked.bytes,
            served_as: self.direct.source,
            source: self.direct.source_name,
        };
        Ok(Written {
            outcome,
            tile,
            removed,
            retouched,
        })
    }

    /// Where the file goes, under the asset root.
    fn path(&self, extension: &str) -> String {
        let name = file_name(&self.item.slot, self.item.key, extension);
        if self.folder.is_empty() {
            name
        } else {
            format!("{}/{name}", self.folder)
        }
    }

    /// The manifest entry of the file at `path`.
    fn entry(&self, path: &str) -> BakedEntry {
        let (item, media) = (&self.item, &self.direct.encoded);
        BakedEntry {
            path: path.to_owned(),
            kind: item.request.kind,
            tags: context_tags(&item.request),
            key: item.key.to_hex(),
            baked: Provenance {
                slot: item.slot.clone(),
                source: self.direct.source_name.clone(),
                origin: media.origin.clone(),
                generation_id: media.generation_id.clone(),
                asset_id: media.asset_id.clone(),
                prompt: item.request.prompt.clone(),
                seed: item.request.seed,
                style: item.request.style.clone(),
                sha256: sha256_hex(&media.bytes),
                bytes: media.bytes.len() as u64,
                date: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            },
        }
    }

    /// Keeps `old`'s retouched file in place of writing `entry`'s.
    fn keep_retouched(&self, old: BakedEntry, entry: &BakedEntry) -> Written {
        let kind = self.item.request.kind;
        let request_changed = old.key != entry.key;
        let tile = (self.tile && kind != MediaKind::Audio && !request_changed).then(|| {
            tile_of_file(
                &self.root.join(&old.path),
                kind,
                label(&self.item, "retouched"),
                (&self.limits, &self.decoders),
            )
        });
        let retouch = if request_changed {
            Retouch::RequestChanged
        } else {
            Retouch::Served
        };
        Written {
            outcome: BakeOutcome::Retouched {
                path: old.path.clone(),
                request_changed,
            },
            tile,
            removed: None,
            retouched: Some(RetouchedFile {
                slot: self.item.slot.clone(),
                path: old.path,
                retouch,
            }),
        }
    }

    /// A file already at `path` is overwritten only when it holds these bytes or is a baked
    /// file still as the bake wrote it; otherwise the request fails, naming it.
    fn refuse_foreign_file(&self, document: &ManifestDocument, path: &str) -> Option<Written> {
        let current = std::fs::read(self.root.join(path)).ok()?;
        if current.as_slice() == &self.direct.encoded.bytes[..] {
            return None;
        }
        let current = sha256_hex(&current);
        let ours = document
            .baked()
            .iter()
            .any(|baked| baked.path == path && baked.baked.sha256 == current);
        if ours {
            return None;
        }
        warn!(
            "bake: {path} is not what the bake wrote there (changed, or put there by hand): \
             kept as it is; {} is not baked",
            self.item.slot
        );
        Some(Written::failed(AssetError::new(
            AssetErrorKind::Io,
            format!(
                "{path}: a file the bake did not write (or changed since) is where this \
                 request's file goes: kept as it is; move it away to bake this request"
            ),
        )))
    }

    /// Removes the file of `old`, the entry the new one replaced, unless it changed since it
    /// was baked (checked again just before: an artist may have saved it meanwhile). Returns
    /// the removed path, or the retouched file kept.
    fn remove_replaced(&self, old: BakedEntry) -> (Option<String>, Option<RetouchedFile>) {
        if changed_since_baked(&self.root, &old) {
            let kept = RetouchedFile {
                slot: old.baked.slot,
                path: old.path,
                retouch: Retouch::Unlisted,
            };
            return (None, Some(kept));
        }
        if std::fs::remove_file(self.root.join(&old.path)).is_ok() {
            return (Some(old.path), None);
        }
        (None, None)
    }
}

/// Whether `entry`'s file is there and no longer what the bake wrote (another SHA-256).
fn changed_since_baked(root: &Path, entry: &BakedEntry) -> bool {
    file_sha256(&root.join(&entry.path)).is_some_and(|sha| sha != entry.baked.sha256)
}

/// Whether a file of `mime` can be listed as `kind` (the pre-made source checks the same).
fn fits(kind: MediaKind, mime: &str) -> bool {
    let family = mime.split('/').next().unwrap_or_default();
    matches!(
        (kind, family),
        (MediaKind::Image, "image") | (MediaKind::Audio, "audio") | (MediaKind::Video, "video")
    )
}

/// The tags the pre-made scoring reads from `request`: its location, character, role, scene,
/// choice and its own tags.
fn context_tags(request: &AssetRequest) -> Vec<String> {
    let criteria = MatchCriteria::from_request(request);
    let mut tags: Vec<String> = criteria
        .location
        .into_iter()
        .chain(criteria.hero)
        .chain(criteria.enemies)
        .chain(criteria.others)
        .chain(criteria.required_tags)
        .chain(criteria.wanted_role)
        .collect();
    let mut seen = std::collections::HashSet::new();
    tags.retain(|tag| seen.insert(tag.clone()));
    tags
}
