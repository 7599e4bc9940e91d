//! What a bake will do for each request: make it, keep what was baked (or what an artist
//! retouched since), leave it to a hand-made file, or leave it to run time. Read from the
//! manifest and the files alone; nothing is asked of a source, so a dry run costs nothing.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use crate::bake::files::file_sha256;
use crate::bake::manifest::{BakedEntry, ManifestDocument};
use crate::bake::targets::BakeTargets;
use crate::bake::{BakePhase, BakeProgress};
use crate::error::AssetError;
use crate::request::{AssetRequest, CachingStrategy, PlaySession, RequestKey};

/// Why a request is to be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BakeReason {
    /// Nothing was baked for its slot.
    New,
    /// Its slot was baked for another request (a changed prompt, style, seed, ...): the new
    /// entry replaces the old.
    Changed,
    /// Its entry is there but its file is gone.
    FileMissing,
}

impl BakeReason {
    /// A few words for listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Changed => "changed",
            Self::FileMissing => "file missing",
        }
    }
}

/// What the bake does for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BakeStep {
    /// Resolved through the source chain and written.
    Make(BakeReason),
    /// Baked before and unchanged: the file `path` (relative to the asset root) is there with
    /// its recorded SHA-256.
    Keep {
        /// The baked file.
        path: String,
    },
    /// Baked before, and its file `path` changed since (another SHA-256 than the one its entry
    /// recorded: an artist retouched it). The artist's version wins: the file is never
    /// overwritten or removed, its entry stays as it is (pointing at it, with the SHA-256 the
    /// bake recorded, so every later bake still knows it as retouched), and nothing is made in
    /// its place. When `request_changed`, the slot's request is no longer the one the file was
    /// made for (a new prompt, style or seed): the game's new request then has no baked file
    /// until this one is moved away or deleted, after which the next bake makes it.
    Retouched {
        /// The retouched file.
        path: String,
        /// Whether the slot's request changed since the file was baked.
        request_changed: bool,
    },
    /// A hand-written manifest entry serves it already: the file `path`.
    PreMade {
        /// The hand-made file.
        path: String,
    },
    /// Not a `once` request: it is made at run time, for each player or playthrough.
    RunTime(CachingStrategy),
}

/// One request of a plan.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanItem {
    /// Its slot ([`BakeTarget::slot`](crate::bake::BakeTarget::slot)).
    pub slot: String,
    /// The request.
    pub request: AssetRequest,
    /// Its key, as the game computes it.
    pub key: RequestKey,
    /// What the bake does for it.
    pub step: BakeStep,
    /// The baked entry it replaces or keeps, if any.
    pub(crate) previous: Option<BakedEntry>,
}

/// A baked file that is no longer what the bake wrote (an artist retouched it): kept as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetouchedFile {
    /// The slot it was baked for.
    pub slot: String,
    /// The file, relative to the asset root.
    pub path: String,
    /// What the bake did about it.
    pub retouch: Retouch,
}

/// What a bake did about a [`RetouchedFile`]: in every case the file was neither overwritten
/// nor removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retouch {
    /// Its request is unchanged: its entry keeps serving the retouched file, and nothing was
    /// made in its place.
    Served,
    /// Its slot's request changed: its entry (for the old request) is kept and nothing was made
    /// for the new one; move the file away or delete it to bake the new request.
    RequestChanged,
    /// Its slot is not among this bake's requests (its node was removed from the story, or it
    /// is another story's): left as it is, as every such entry is.
    NotBaked,
    /// It changed while the bake was replacing it: the new file was written and the entry now
    /// names that one, so no entry names the retouched file any more.
    Unlisted,
}

impl Retouch {
    /// What the bake did, in a few words.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Served => "kept and served as it is, not baked again",
            Self::RequestChanged => {
                "kept with its entry; its request changed, so the new request is not baked \
                 until the file is moved away or deleted"
            }
            Self::NotBaked => "kept; not among this bake's requests",
            Self::Unlisted => {
                "kept, but it changed while it was being replaced: no entry names it now"
            }
        }
    }
}

/// What a bake will do, request by request (each key once, in the targets' order).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BakePlan {
    /// The requests.
    pub items: Vec<PlanItem>,
    /// Baked files of slots this bake does not resolve (a node removed from the story, another
    /// story's media) that changed since they were baked: listed so the report names them;
    /// the bake leaves them, and their entries, as they are.
    pub retouched_elsewhere: Vec<RetouchedFile>,
}

impl BakePlan {
    /// Plans `targets` against the manifest at `manifest` (the asset root's `root`): each
    /// request's key as the game computes it (`once` keys do not depend on the session).
    pub(crate) fn new(
        targets: &BakeTargets,
        document: &ManifestDocument,
        root: &Path,
        progress: &(dyn Fn(BakeProgress<'_>) + Sync),
    ) -> Result<Self, AssetError> {
        let session = PlaySession::default();
        let manifest = document.parsed()?;
        let baked = document.baked();
        let mut seen = HashSet::new();
        let mut items = Vec::new();
        progress(BakeProgress::Started {
            phase: BakePhase::Check,
            total: targets.len(),
        });
        for target in targets.iter() {
            progress(BakeProgress::Advanced {
                phase: BakePhase::Check,
                slot: &target.slot,
            });
            let request = target.request.clone();
            let key = request.fingerprint(&session);
            if !seen.insert(key) {
                continue;
            }
            let hex = key.to_hex();
            let by_key = baked.iter().find(|entry| entry.key == hex);
            let by_slot = baked.iter().find(|entry| entry.baked.slot == target.slot);
            let (step, previous) = if request.strategy != CachingStrategy::Once {
                (BakeStep::RunTime(request.strategy), None)
            } else if let Some(entry) = manifest
                .find_for_key(&request, key)
                .filter(|entry| entry.key.is_none())
            {
                // What the game's pre-made source serves ahead of anything baked.
                let step = BakeStep::PreMade {
                    path: entry.path.clone(),
                };
                (step, None)
            } else if let Some(entry) = by_key {
                let step = match file_sha256(&root.join(&entry.path)) {
                    None => BakeStep::Make(BakeReason::FileMissing),
                    Some(sha) if sha != entry.baked.sha256 => BakeStep::Retouched {
                        path: entry.path.clone(),
                        request_changed: false,
                    },
                    Some(_) => BakeStep::Keep {
                        path: entry.path.clone(),
                    },
                };
                (step, Some(entry.clone()))
            } else if let Some(entry) = by_slot {
                let step = match file_sha256(&root.join(&entry.path)) {
                    Some(sha) if sha != entry.baked.sha256 => BakeStep::Retouched {
                        path: entry.path.clone(),
                        request_changed: true,
                    },
                    // Unchanged or gone: the run removes it once the new file is written.
                    _ => BakeStep::Make(BakeReason::Changed),
                };
                (step, Some(entry.clone()))
            } else {
                (BakeStep::Make(BakeReason::New), None)
            };
            items.push(PlanItem {
                slot: target.slot.clone(),
                request,
                key,
                step,
                previous,
            });
        }
        let planned: HashSet<&str> = items.iter().map(|item| item.slot.as_str()).collect();
        let keys: HashSet<String> = seen.iter().map(RequestKey::to_hex).collect();
        let retouched_elsewhere = baked
            .iter()
            .filter(|entry| {
                !planned.contains(entry.baked.slot.as_str()) && !keys.contains(&entry.key)
            })
            .filter(|entry| {
                file_sha256(&root.join(&entry.path)).is_some_and(|sha| sha != entry.baked.sha256)
            })
            .map(|entry| RetouchedFile {
                slot: entry.baked.slot.clone(),
                path: entry.path.clone(),
                retouch: Retouch::NotBaked,
            })
            .collect();
        progress(BakeProgress::Finished {
            phase: BakePhase::Check,
        });
        Ok(Self {
            items,
            retouched_elsewhere,
        })
    }

    /// The requests to resolve now.
    pub fn to_make(&self) -> impl Iterator<Item = &PlanItem> {
        self.items
            .iter()
            .filter(|item| matches!(item.step, BakeStep::Make(_)))
    }

    /// How many requests are resolved now: at most this many generations (fewer when a cache
    /// or the backend's library has some).
    pub fn generations(&self) -> usize {
        self.to_make().count()
    }

    /// How many were baked before and are kept.
    pub fn kept(&self) -> usize {
        self.count(|step| matches!(step, BakeStep::Keep { .. }))
    }

    /// How many are kept because their baked file was retouched.
    pub fn retouched(&self) -> usize {
        self.count(|step| matches!(step, BakeStep::Retouched { .. }))
    }

    /// How many a hand-written entry serves.
    pub fn pre_made(&self) -> usize {
        self.count(|step| matches!(step, BakeStep::PreMade { .. }))
    }

    /// How many are left to run time (not `once`).
    pub fn run_time(&self) -> usize {
        self.count(|step| matches!(step, BakeStep::RunTime(_)))
    }

    fn count(&self, wanted: impl Fn(&BakeStep) -> bool) -> usize {
        self.items.iter().filter(|item| wanted(&item.step)).count()
    }
}

/// The dry run's listing: one line per request to make, one per retouched file kept, then the
/// totals.
impl fmt::Display for BakePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for item in &self.items {
            match &item.step {
                BakeStep::Make(reason) => writeln!(
                    f,
                    "make  {:<5} {:<48} ({}, key {})",
                    item.request.kind.as_str(),
                    item.slot,
                    reason.as_str(),
                    item.key.short()
                )?,
                BakeStep::Retouched {
                    path,
                    request_changed,
                } => {
                    let retouch = if *request_changed {
                        Retouch::RequestChanged
                    } else {
                        Retouch::Served
                    };
                    writeln!(f, "retouched {path} ({}): {}", item.slot, retouch.as_str())?;
                }
                _ => {}
            }
        }
        for file in &self.retouched_elsewhere {
            writeln!(
                f,
                "retouched {} ({}): {}",
                file.path,
                file.slot,
                file.retouch.as_str()
            )?;
        }
        write!(
            f,
            "{} to make (at most {} generations), {} baked and unchanged, {} retouched, {} \
             hand-made, {} left to run time",
            self.generations(),
            self.generations(),
            self.kept(),
            self.retouched(),
            self.pre_made(),
            self.run_time()
        )
    }
}
