//! Running a plan: each request to make resolved through the chain, its file and manifest entry
//! written, then the contact sheet. Resolving is async; every file read, write, hash, removal
//! and picture (tiles, the sheet) runs on a blocking thread, so a bake shares its runtime with
//! the sources' network work without stalling it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bevy::log::warn;
use futures_util::StreamExt;

use crate::bake::contact_sheet::{Tile, contact_sheet};
use crate::bake::files::{extension_for, file_name, file_sha256};
use crate::bake::manifest::{BakedEntry, ManifestDocument, Provenance};
use crate::bake::plan::{BakePlan, BakeStep, PlanItem, Retouch, RetouchedFile};
use crate::bake::report::{BakeOutcome, BakeReport, BakeReportItem};
use crate::bake::{Bake, BakePhase, BakeProgress};
use crate::chain::Resolved;
use crate::chain::decode::{DecodedMedia, MediaDecoders};
use crate::error::{AssetError, AssetErrorKind};
use crate::files::{sha256_hex, write_atomically};
use crate::request::{AssetRequest, MediaKind, MediaLimits, PlaySession, RequestKey};
use crate::source::SourcedMedia;
use crate::source::scoring::MatchCriteria;

impl Bake {
    /// Carries out `plan`: resolves each request to make (as many at once as the plugin's
    /// generation limit), writes its file and its manifest entry, then the contact sheet.
    /// A request that gets no media is reported with its reason and the bake goes on; an error
    /// is returned only when the manifest or the contact sheet cannot be written.
    ///
    /// A baked file is overwritten or removed only while it is what the bake wrote (its
    /// SHA-256 is the one its entry recorded), checked again just before: a file changed since
    /// (an artist's retouch) is kept as it is, with its entry, and named in the report
    /// ([`BakeReport::retouched`]) and in a warning. So is a file no entry records that lies
    /// where a new file would go (that request then fails, naming it).
    ///
    /// Runs on a tokio runtime (the sources' own); file work goes to its blocking threads.
    pub async fn run(
        &self,
        plan: &BakePlan,
        progress: &(dyn Fn(BakeProgress<'_>) + Sync),
    ) -> Result<BakeReport, AssetError> {
        let started = Instant::now();
        let folder = self.check_out_dir()?;
        let manifest_path = self.manifest_path();
        let mut document = blocking("manifest read", move || {
            ManifestDocument::read(&manifest_path)
        })
        .await??;
        let resolver = self.chain.direct(self.timeout);
        let mut report = BakeReport::default();
        for file in &plan.retouched_elsewhere {
            report.keep_retouched(file.clone());
        }
        let mut made: HashMap<RequestKey, (BakeOutcome, Option<Tile>)> = HashMap::new();

        progress(BakeProgress::Started {
            phase: BakePhase::Make,
            total: plan.generations(),
        });
        let resolver = &resolver;
        let mut results = futures_util::stream::iter(plan.to_make().map(|item| async move {
            let resolved = resolver
                .resolve(item.key, item.request.clone(), PlaySession::default())
                .await;
            (item, resolved)
        }))
        .buffer_unordered(self.chain.config().max_concurrent_generations.max(1));
        while let Some((item, resolved)) = results.next().await {
            let outcome = match resolved {
                Ok(direct) => {
                    let job = WriteJob {
                        root: self.asset_root.clone(),
                        folder: folder.clone(),
                        item: item.clone(),
                        direct,
                        tile: self.contact_sheet.is_some(),
                        limits: self.chain.config().media_limits,
                        decoders: self.chain.config().decoders.clone(),
                    };
                    // The document goes to the blocking thread and back: one write at a time.
                    let (returned, written) = blocking("file write", move || {
                        let written = job.write(&mut document);
                        (document, written)
                    })
                    .await?;
                    document = returned;
                    let written = written?;
                    report.removed_files.extend(written.removed);
                    if let Some(file) = written.retouched {
                        report.keep_retouched(file);
                    }
                    (written.outcome, written.tile)
                }
                Err(error) => (BakeOutcome::Failed(error), None),
            };
            made.insert(item.key, outcome);
            progress(BakeProgress::Advanced {
                phase: BakePhase::Make,
                slot: &item.slot,
            });
        }
        drop(results);
        progress(BakeProgress::Finished {
            phase: BakePhase::Make,
        });

        let pictures = plan
            .items
            .iter()
            .filter(|item| item.request.kind != MediaKind::Audio)
            .filter(|item| {
                matches!(
                    item.step,
                    BakeStep::Make(_)
                        | BakeStep::Keep { .. }
                        | BakeStep::Retouched {
                            request_changed: false,
                            ..
                        }
                )
            })
            .count();
        if self.contact_sheet.is_some() {
            progress(BakeProgress::Started {
                phase: BakePhase::ContactSheet,
                total: pictures,
            });
        }
        let mut tiles = Vec::new();
        for item in &plan.items {
            let wants_tile = self.contact_sheet.is_some() && item.request.kind != MediaKind::Audio;
            let (outcome, tile) = match &item.step {
                BakeStep::Make(_) => made.remove(&item.key).unwrap_or_else(|| {
                    let error = AssetError::generation("the request was not resolved");
                    (BakeOutcome::Failed(error), None)
                }),
                BakeStep::Keep { path } => {
                    let tile = if wants_tile {
                        Some(self.tile_of_file(item, path, "baked before").await?)
                    } else {
                        None
                    };
                    (BakeOutcome::Kept { path: path.clone() }, tile)
                }
                BakeStep::Retouched {
                    path,
                    request_changed,
                } => {
                    report.keep_retouched(RetouchedFile {
                        slot: item.slot.clone(),
                        path: path.clone(),
                        retouch: if *request_changed {
                            Retouch::RequestChanged
                        } else {
                            Retouch::Served
                        },
                    });
                    // What the game shows: the retouched picture, unless its request changed.
                    let tile = if wants_tile && !request_changed {
                        Some(self.tile_of_file(item, path, "retouched").await?)
                    } else {
                        None
                    };
                    let outcome = BakeOutcome::Retouched {
                        path: path.clone(),
                        request_changed: *request_changed,
                    };
                    (outcome, tile)
                }
                BakeStep::PreMade { path } => (BakeOutcome::PreMade { path: path.clone() }, None),
                BakeStep::RunTime(_) => (BakeOutcome::RunTime, None),
            };
            if let Some(tile) = tile {
                tiles.push(tile);
                progress(BakeProgress::Advanced {
                    phase: BakePhase::ContactSheet,
                    slot: &item.slot,
                });
            }
            report.items.push(BakeReportItem {
                slot: item.slot.clone(),
                kind: item.request.kind,
                key: item.key,
                outcome,
            });
        }
        if let Some(path) = &self.contact_sheet {
            let sheet = path.clone();
            blocking("contact sheet", move || {
                write_atomically(&sheet, &contact_sheet(&tiles)?)
            })
            .await??;
            report.contact_sheet = Some(path.clone());
            progress(BakeProgress::Finished {
                phase: BakePhase::ContactSheet,
            });
        }
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// The tile of a file baked before (read and decoded on a blocking thread).
    async fn tile_of_file(
        &self,
        item: &PlanItem,
        path: &str,
        by: &str,
    ) -> Result<Tile, AssetError> {
        let decoders = self.chain.config().decoders.clone();
        let (file, kind, limits) = (
            self.asset_root.join(path),
            item.request.kind,
            self.chain.config().media_limits,
        );
        let label = label(item, by);
        blocking("contact sheet tile", move || {
            tile_of_file(&file, kind, label, (&limits, &decoders))
        })
        .await
    }
}

impl BakeReport {
    /// Lists `file` as a retouched file kept, with a warning naming it.
    fn keep_retouched(&mut self, file: RetouchedFile) {
        warn!(
            "bake: {} ({}) changed since it was baked: {}",
            file.path,
            file.slot,
            file.retouch.as_str()
        );
        self.retouched.push(file);
    }
}

/// Runs `work` on a blocking thread of the tokio runtime: the bake's file reads, writes,
/// hashing and image work stay off its async workers.
async fn blocking<T: Send + 'static>(
    what: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AssetError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| AssetError::io(format!("bake: the {what} stopped: {error}")))
}

/// One request's media to write, with what the write needs, for a blocking thread.
struct WriteJob {
    root: PathBuf,
    folder: String,
    item: PlanItem,
    direct: Resolved,
    tile: bool,
    limits: MediaLimits,
    decoders: Arc<MediaDecoders>,
}

/// What writing one request's media did.
struct Written {
    outcome: BakeOutcome,
    tile: Option<Tile>,
    /// The replaced file, removed.
    removed: Option<String>,
    /// A retouched file kept (in place of the write, or one that changed while it was replaced).
    retouched: Option<RetouchedFile>,
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
}

impl WriteJob {
    /// Writes the file and the entry into `document` (and saves it), unless that would
    /// overwrite a file that is not what the bake wrote; removes the replaced file while it is
    /// what the bake wrote. Blocking.
    fn write(self, document: &mut ManifestDocument) -> Result<Written, AssetError> {
        let Self {
            root,
            folder,
            item,
            direct,
            tile,
            limits,
            decoders,
        } = self;
        let kind = item.request.kind;
        let media = &direct.encoded;
        let Some(extension) = extension_for(&media.mime).filter(|_| fits(kind, &media.mime)) else {
            let error = AssetError::new(
                AssetErrorKind::Unsupported,
                format!(
                    "{}: {} media cannot be kept as a pre-made {} file",
                    media.origin,
                    media.mime,
                    kind.as_str()
                ),
            );
            return Ok(Written::outcome(BakeOutcome::Failed(error)));
        };
        let name = file_name(&item.slot, item.key, extension);
        let path = if folder.is_empty() {
            name
        } else {
            format!("{folder}/{name}")
        };
        let bytes = &media.bytes;
        let entry = BakedEntry {
            path: path.clone(),
            kind,
            tags: context_tags(&item.request),
            key: item.key.to_hex(),
            baked: Provenance {
                slot: item.slot.clone(),
                source: direct.source_name.clone(),
                origin: media.origin.clone(),
                generation_id: media.generation_id.clone(),
                asset_id: media.asset_id.clone(),
                prompt: item.request.prompt.clone(),
                seed: item.request.seed,
                style: item.request.style.clone(),
                sha256: sha256_hex(bytes),
                bytes: bytes.len() as u64,
                date: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            },
        };

        // The entry this one replaces: its file retouched since the plan read it wins, as it
        // would have in the plan.
        if let Some(old) = document.replaced_by(&entry)
            && changed_since_baked(&root, &old)
        {
            let request_changed = old.key != entry.key;
            let tile = (tile && kind != MediaKind::Audio && !request_changed).then(|| {
                tile_of_file(
                    &root.join(&old.path),
                    kind,
                    label(&item, "retouched"),
                    (&limits, &decoders),
                )
            });
            let retouch = if request_changed {
                Retouch::RequestChanged
            } else {
                Retouch::Served
            };
            return Ok(Written {
                outcome: BakeOutcome::Retouched {
                    path: old.path.clone(),
                    request_changed,
                },
                tile,
                removed: None,
                retouched: Some(RetouchedFile {
                    slot: item.slot.clone(),
                    path: old.path,
                    retouch,
                }),
            });
        }
        // A file already where this one goes is overwritten only when it holds these bytes
        // or is a baked file still as the bake wrote it.
        let target = root.join(&path);
        if let Ok(current) = std::fs::read(&target)
            && current.as_slice() != &bytes[..]
        {
            let current = sha256_hex(&current);
            let ours = document
                .baked()
                .iter()
                .any(|baked| baked.path == path && baked.baked.sha256 == current);
            if !ours {
                warn!(
                    "bake: {path} is not what the bake wrote there (changed, or put there by \
                     hand): kept as it is; {} is not baked",
                    item.slot
                );
                let error = AssetError::new(
                    AssetErrorKind::Io,
                    format!(
                        "{path}: a file the bake did not write (or changed since) is where this \
                         request's file goes: kept as it is; move it away to bake this request"
                    ),
                );
                return Ok(Written::outcome(BakeOutcome::Failed(error)));
            }
        }
        if let Err(error) = write_atomically(&target, bytes) {
            return Ok(Written::outcome(BakeOutcome::Failed(error)));
        }
        let replaced = document.upsert(&entry)?;
        document.save()?;
        let mut removed = None;
        let mut retouched = None;
        if let Some(old) = replaced
            && old.path != path
            && !document.names_file(&old.path)
        {
            // Checked again just before removing: an artist may have saved it meanwhile.
            if changed_since_baked(&root, &old) {
                retouched = Some(RetouchedFile {
                    slot: old.baked.slot,
                    path: old.path,
                    retouch: Retouch::Unlisted,
                });
            } else if std::fs::remove_file(root.join(&old.path)).is_ok() {
                removed = Some(old.path);
            }
        }
        let tile = (tile && kind != MediaKind::Audio).then(|| {
            let label = label(&item, &direct.source_name);
            match picture_of(&direct.media) {
                Some(image) => Tile::new(image, label),
                None => Tile::empty(label),
            }
        });
        let outcome = BakeOutcome::Written {
            path,
            bytes: entry.baked.bytes,
            served_as: direct.source,
            source: direct.source_name,
        };
        Ok(Written {
            outcome,
            tile,
            removed,
            retouched,
        })
    }
}

/// Whether `entry`'s file is there and no longer what the bake wrote (another SHA-256).
fn changed_since_baked(root: &Path, entry: &BakedEntry) -> bool {
    file_sha256(&root.join(&entry.path)).is_some_and(|sha| sha != entry.baked.sha256)
}

/// The tile of the file at `file`, decoded as the game would decode it. Blocking.
fn tile_of_file(
    file: &Path,
    kind: MediaKind,
    label: Vec<String>,
    (limits, decoders): (&MediaLimits, &MediaDecoders),
) -> Tile {
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(_) => return Tile::empty(label),
    };
    let mime = match file.extension().and_then(|extension| extension.to_str()) {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("mp4") => "video/mp4",
        _ => return Tile::empty(label),
    };
    let media = SourcedMedia::new(bytes, mime, file.to_string_lossy());
    match decoders.decode(kind, &media, limits) {
        Ok(decoded) => match picture_of(&decoded) {
            Some(image) => Tile::new(image, label),
            None => Tile::empty(label),
        },
        Err(_) => Tile::empty(label),
    }
}

/// Whether a file of `mime` can be listed as `kind` (the pre-made source checks the same).
fn fits(kind: MediaKind, mime: &str) -> bool {
    let family = mime.split('/').next().unwrap_or_default();
    matches!(
        (kind, family),
        (MediaKind::Image, "image") | (MediaKind::Audio, "audio") | (MediaKind::Video, "video")
    )
}

/// The picture a person sees for `decoded`: the image, or a clip's first frame.
fn picture_of(decoded: &DecodedMedia) -> Option<&bevy::image::Image> {
    match decoded {
        DecodedMedia::Image(image) => Some(image),
        DecodedMedia::Extended { image, .. } => Some(image),
        #[cfg(feature = "audio")]
        DecodedMedia::Audio(_) => None,
    }
}

/// A tile's label: the slot, what it is and who made it, the prompt's start.
fn label(item: &PlanItem, by: &str) -> Vec<String> {
    let mut lines = vec![
        item.slot.clone(),
        format!("{} by {by}", item.request.kind.as_str()),
    ];
    if let Some(prompt) = &item.request.prompt {
        lines.push(prompt.chars().take(30).collect());
    }
    lines
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
