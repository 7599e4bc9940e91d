//! What a bake will do for each request: make it, keep what was baked, leave it to a hand-made
//! file, or leave it to run time. Read from the manifest and the files alone; nothing is asked
//! of a source, so a dry run costs nothing.

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
    /// Its file is there but is not what was baked (another SHA-256).
    FileChanged,
}

impl BakeReason {
    /// A few words for listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Changed => "changed",
            Self::FileMissing => "file missing",
            Self::FileChanged => "file changed",
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

/// What a bake will do, request by request (each key once, in the targets' order).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BakePlan {
    /// The requests.
    pub items: Vec<PlanItem>,
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
                    Some(sha) if sha != entry.baked.sha256 => {
                        BakeStep::Make(BakeReason::FileChanged)
                    }
                    Some(_) => BakeStep::Keep {
                        path: entry.path.clone(),
                    },
                };
                (step, Some(entry.clone()))
            } else if let Some(entry) = by_slot {
                (BakeStep::Make(BakeReason::Changed), Some(entry.clone()))
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
        progress(BakeProgress::Finished {
            phase: BakePhase::Check,
        });
        Ok(Self { items })
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

/// The dry run's listing: one line per request to make, then the totals.
impl fmt::Display for BakePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for item in self.to_make() {
            let BakeStep::Make(reason) = item.step else {
                continue;
            };
            writeln!(
                f,
                "make  {:<5} {:<48} ({}, key {})",
                item.request.kind.as_str(),
                item.slot,
                reason.as_str(),
                item.key.short()
            )?;
        }
        write!(
            f,
            "{} to make (at most {} generations), {} baked and unchanged, {} hand-made, {} left \
             to run time",
            self.generations(),
            self.generations(),
            self.kept(),
            self.pre_made(),
            self.run_time()
        )
    }
}
