//! Running a plan: each request to make resolved through the chain, its file and manifest entry
//! written, then the contact sheet. Resolving is async; every file read, write, hash, removal
//! and picture (tiles, the sheet) runs on a blocking thread, so a bake shares its runtime with
//! the sources' network work without stalling it.

use std::collections::HashMap;
use std::time::Instant;

use bevy::log::warn;
use futures_util::StreamExt;

use crate::bake::contact_sheet::{Tile, contact_sheet};
use crate::bake::manifest::ManifestDocument;
use crate::bake::plan::{BakePlan, BakeStep, PlanItem, Retouch, RetouchedFile};
use crate::bake::report::{BakeOutcome, BakeReport, BakeReportItem};
use crate::bake::tiles::{label, tile_of_file};
use crate::bake::write::WriteJob;
use crate::bake::{Bake, BakePhase, BakeProgress};
use crate::chain::Resolved;
use crate::error::AssetError;
use crate::files::write_atomically;
use crate::request::{MediaKind, PlaySession, RequestKey};

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
        let document = blocking("manifest read", move || {
            ManifestDocument::read(&manifest_path)
        })
        .await??;
        let mut report = BakeReport::default();
        for file in &plan.retouched_elsewhere {
            report.keep_retouched(file.clone());
        }
        let mut made = self
            .make(plan, folder, document, &mut report, progress)
            .await?;
        if self.contact_sheet.is_some() {
            progress(BakeProgress::Started {
                phase: BakePhase::ContactSheet,
                total: pictures(plan),
            });
        }
        let mut tiles = Vec::new();
        for item in &plan.items {
            let (outcome, tile) = self.settle(item, &mut made, &mut report).await?;
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

    /// Resolves the plan's requests to make, as many at once as the generation limit, and
    /// writes each one's file and entry as it arrives.
    async fn make(
        &self,
        plan: &BakePlan,
        folder: String,
        mut document: ManifestDocument,
        report: &mut BakeReport,
        progress: &(dyn Fn(BakeProgress<'_>) + Sync),
    ) -> Result<Made, AssetError> {
        let resolver = self.chain.direct(self.timeout);
        let mut made = Made::new();
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
                    let job = self.write_job(&folder, item, direct);
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
        Ok(made)
    }

    /// What writing `direct` for `item` needs, for a blocking thread.
    fn write_job(&self, folder: &str, item: &PlanItem, direct: Resolved) -> WriteJob {
        WriteJob {
            root: self.asset_root.clone(),
            folder: folder.to_owned(),
            item: item.clone(),
            direct,
            tile: self.contact_sheet.is_some(),
            limits: self.chain.config().media_limits,
            decoders: self.chain.config().decoders.clone(),
        }
    }

    /// How `item` ended, and its tile for the contact sheet: made now (from `made`), kept,
    /// retouched, pre-made or left to run time.
    async fn settle(
        &self,
        item: &PlanItem,
        made: &mut Made,
        report: &mut BakeReport,
    ) -> Result<(BakeOutcome, Option<Tile>), AssetError> {
        let wants_tile = self.contact_sheet.is_some() && item.request.kind != MediaKind::Audio;
        Ok(match &item.step {
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
        })
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

/// What the make phase did with each request, by key.
type Made = HashMap<RequestKey, (BakeOutcome, Option<Tile>)>;

/// The pictures in the contact sheet: every request but sounds that is made, kept, or
/// retouched and still served.
fn pictures(plan: &BakePlan) -> usize {
    plan.items
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
        .count()
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
