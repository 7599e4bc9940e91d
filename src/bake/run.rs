//! Running a plan: each request to make resolved through the chain, its file and manifest entry
//! written, then the contact sheet.

use std::collections::HashMap;
use std::time::{Instant, SystemTime};

use futures_util::StreamExt;

use crate::bake::contact_sheet::{Tile, contact_sheet};
use crate::bake::files::{extension_for, file_name};
use crate::bake::manifest::{BakedEntry, ManifestDocument, Provenance};
use crate::bake::plan::{BakePlan, BakeStep, PlanItem};
use crate::bake::report::{BakeOutcome, BakeReport, BakeReportItem};
use crate::bake::{Bake, BakePhase, BakeProgress};
use crate::error::{AssetError, AssetErrorKind};
use crate::files::{sha256_hex, write_atomically};
use crate::request::{AssetRequest, MediaKind, PlaySession, RequestKey};
use crate::runtime::decode::{DecodedMedia, decode};
use crate::runtime::direct::{DirectMedia, DirectResolver};
use crate::source::SourcedMedia;
use crate::source::scoring::MatchCriteria;

impl Bake {
    /// Carries out `plan`: resolves each request to make (as many at once as the plugin's
    /// generation limit), writes its file and its manifest entry, then the contact sheet.
    /// A request that gets no media is reported with its reason and the bake goes on; an error
    /// is returned only when the manifest or the contact sheet cannot be written.
    pub async fn run(
        &self,
        plan: &BakePlan,
        progress: &(dyn Fn(BakeProgress<'_>) + Sync),
    ) -> Result<BakeReport, AssetError> {
        let started = Instant::now();
        let folder = self.check_out_dir()?;
        let mut document = ManifestDocument::read(&self.manifest_path())?;
        let resolver = DirectResolver::new(
            self.sources.clone(),
            self.disk.clone(),
            &self.config,
            self.timeout,
        );
        let mut report = BakeReport::default();
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
        .buffer_unordered(self.config.max_concurrent_generations.max(1));
        while let Some((item, resolved)) = results.next().await {
            let outcome = match resolved {
                Ok(direct) => self.write(&mut document, &folder, item, direct, &mut report)?,
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
            .filter(|item| matches!(item.step, BakeStep::Make(_) | BakeStep::Keep { .. }))
            .count();
        if self.contact_sheet.is_some() {
            progress(BakeProgress::Started {
                phase: BakePhase::ContactSheet,
                total: pictures,
            });
        }
        let mut tiles = Vec::new();
        for item in &plan.items {
            let (outcome, tile) = match &item.step {
                BakeStep::Make(_) => made.remove(&item.key).unwrap_or_else(|| {
                    let error = AssetError::generation("the request was not resolved");
                    (BakeOutcome::Failed(error), None)
                }),
                BakeStep::Keep { path } => {
                    let tile = (self.contact_sheet.is_some()
                        && item.request.kind != MediaKind::Audio)
                        .then(|| self.tile_of_file(item, path));
                    (BakeOutcome::Kept { path: path.clone() }, tile)
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
            write_atomically(path, &contact_sheet(&tiles)?)?;
            report.contact_sheet = Some(path.clone());
            progress(BakeProgress::Finished {
                phase: BakePhase::ContactSheet,
            });
        }
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// Writes `direct`'s file and entry for `item`; the outcome and, for a picture, its tile.
    fn write(
        &self,
        document: &mut ManifestDocument,
        folder: &str,
        item: &PlanItem,
        direct: DirectMedia,
        report: &mut BakeReport,
    ) -> Result<(BakeOutcome, Option<Tile>), AssetError> {
        let kind = item.request.kind;
        let media = &direct.media;
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
            return Ok((BakeOutcome::Failed(error), None));
        };
        let name = file_name(&item.slot, item.key, extension);
        let path = if folder.is_empty() {
            name
        } else {
            format!("{folder}/{name}")
        };
        let bytes = &media.bytes;
        if let Err(error) = write_atomically(&self.asset_root.join(&path), bytes) {
            return Ok((BakeOutcome::Failed(error), None));
        }
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
        let replaced = document.upsert(&entry)?;
        document.save()?;
        if let Some(old) = replaced
            && old.path != path
            && !document.names_file(&old.path)
            && std::fs::remove_file(self.asset_root.join(&old.path)).is_ok()
        {
            report.removed_files.push(old.path);
        }
        let tile = self
            .contact_sheet
            .as_ref()
            .and_then(|_| picture_of(&direct.decoded))
            .map(|image| Tile::new(image, label(item, &direct.source_name)));
        let tile = tile.or_else(|| {
            (self.contact_sheet.is_some() && kind != MediaKind::Audio)
                .then(|| Tile::empty(label(item, &direct.source_name)))
        });
        let outcome = BakeOutcome::Written {
            path,
            bytes: entry.baked.bytes,
            served_as: direct.kind,
            source: direct.source_name,
        };
        Ok((outcome, tile))
    }

    /// The tile of a file baked before, decoded as the game would decode it.
    fn tile_of_file(&self, item: &PlanItem, path: &str) -> Tile {
        let label = label(item, "baked before");
        let bytes = match std::fs::read(self.asset_root.join(path)) {
            Ok(bytes) => bytes,
            Err(_) => return Tile::empty(label),
        };
        let mime = match path.rsplit('.').next() {
            Some("png") => "image/png",
            Some("jpg" | "jpeg") => "image/jpeg",
            Some("mp4") => "video/mp4",
            _ => return Tile::empty(label),
        };
        let media = SourcedMedia::new(bytes, mime, path);
        match decode(item.request.kind, &media, &self.config.media_limits) {
            Ok(decoded) => match picture_of(&decoded) {
                Some(image) => Tile::new(image, label),
                None => Tile::empty(label),
            },
            Err(_) => Tile::empty(label),
        }
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
        #[cfg(feature = "video")]
        DecodedMedia::Video { first_frame, .. } => Some(first_frame),
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
