//! What a bake did: per request, and in total.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::bake::plan::RetouchedFile;
use crate::error::AssetError;
use crate::request::{MediaKind, RequestKey};
use crate::source::SourceKind;

/// How one request of a bake ended.
#[derive(Clone, Debug, PartialEq)]
pub enum BakeOutcome {
    /// Resolved now and written to `path` (relative to the asset root), `bytes` long; `served_as`
    /// says whether a generator made it or a cache or library had it.
    Written {
        /// The file written.
        path: String,
        /// Its size.
        bytes: u64,
        /// Who served it: [`Generated`](SourceKind::Generated),
        /// [`Cached`](SourceKind::Cached) (the disk tier, a backend's cache) or
        /// [`PreMade`](SourceKind::PreMade) (a backend's library).
        served_as: SourceKind,
        /// The source's name.
        source: String,
    },
    /// Baked before and unchanged.
    Kept {
        /// The file.
        path: String,
    },
    /// Baked before, and its file changed since (an artist retouched it): kept as it is, never
    /// overwritten or removed, its entry left pointing at it, nothing made in its place (see
    /// [`BakeStep::Retouched`](crate::bake::BakeStep::Retouched)).
    Retouched {
        /// The retouched file.
        path: String,
        /// Whether the slot's request changed since the file was baked: the new request is
        /// then not baked until the file is moved away or deleted.
        request_changed: bool,
    },
    /// A hand-written entry serves it.
    PreMade {
        /// The file.
        path: String,
    },
    /// Not `once`: left to run time.
    RunTime,
    /// No media: the reason.
    Failed(AssetError),
}

/// One request's line in a [`BakeReport`].
#[derive(Clone, Debug, PartialEq)]
pub struct BakeReportItem {
    /// Its slot.
    pub slot: String,
    /// Its kind.
    pub kind: MediaKind,
    /// Its key.
    pub key: RequestKey,
    /// How it ended.
    pub outcome: BakeOutcome,
}

/// The end of a bake: what was generated, reused and failed, bytes written, and where the
/// contact sheet is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BakeReport {
    /// Every request, in plan order.
    pub items: Vec<BakeReportItem>,
    /// The contact sheet, when one was written.
    pub contact_sheet: Option<PathBuf>,
    /// Baked files no entry names any more, removed (only while they held what the bake wrote).
    pub removed_files: Vec<String>,
    /// Baked files that changed since the bake wrote them (an artist retouched them), all kept
    /// as they are: those of this bake's requests, files of other slots, and any that changed
    /// while the bake ran. Each is also logged as a warning.
    pub retouched: Vec<RetouchedFile>,
    /// How long the bake took.
    pub elapsed: Duration,
}

impl BakeReport {
    fn count(&self, wanted: impl Fn(&BakeOutcome) -> bool) -> usize {
        self.items
            .iter()
            .filter(|item| wanted(&item.outcome))
            .count()
    }

    /// Files a generator made now.
    pub fn generated(&self) -> usize {
        self.count(|outcome| {
            matches!(outcome, BakeOutcome::Written { served_as, .. } if *served_as == SourceKind::Generated)
        })
    }

    /// Files written from a cache or a backend's library (no generation paid).
    pub fn from_cache(&self) -> usize {
        self.count(|outcome| {
            matches!(outcome, BakeOutcome::Written { served_as, .. } if *served_as != SourceKind::Generated)
        })
    }

    /// Requests baked before and unchanged.
    pub fn kept(&self) -> usize {
        self.count(|outcome| matches!(outcome, BakeOutcome::Kept { .. }))
    }

    /// Requests whose baked file was retouched, kept as it is.
    pub fn kept_retouched(&self) -> usize {
        self.count(|outcome| matches!(outcome, BakeOutcome::Retouched { .. }))
    }

    /// Requests a hand-written entry serves.
    pub fn pre_made(&self) -> usize {
        self.count(|outcome| matches!(outcome, BakeOutcome::PreMade { .. }))
    }

    /// Requests left to run time.
    pub fn run_time(&self) -> usize {
        self.count(|outcome| matches!(outcome, BakeOutcome::RunTime))
    }

    /// Requests that got no media.
    pub fn failed(&self) -> usize {
        self.count(|outcome| matches!(outcome, BakeOutcome::Failed(_)))
    }

    /// Bytes of media written.
    pub fn bytes_written(&self) -> u64 {
        self.items
            .iter()
            .map(|item| match &item.outcome {
                BakeOutcome::Written { bytes, .. } => *bytes,
                _ => 0,
            })
            .sum()
    }
}

/// The final report: failures with their reasons, then one line of totals.
impl fmt::Display for BakeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for item in &self.items {
            if let BakeOutcome::Failed(error) = &item.outcome {
                writeln!(
                    f,
                    "failed {} {} (key {}): {error}",
                    item.kind.as_str(),
                    item.slot,
                    item.key.short()
                )?;
            }
        }
        for file in &self.removed_files {
            writeln!(f, "removed {file} (replaced)")?;
        }
        for file in &self.retouched {
            writeln!(
                f,
                "retouched {} ({}), changed since it was baked: {}",
                file.path,
                file.slot,
                file.retouch.as_str()
            )?;
        }
        write!(
            f,
            "generated {}, from cache {}, reused {} (baked before), retouched {} (kept), \
             hand-made {}, left to run time {}, failed {}; {} bytes written in {:.1} s",
            self.generated(),
            self.from_cache(),
            self.kept(),
            self.kept_retouched(),
            self.pre_made(),
            self.run_time(),
            self.failed(),
            self.bytes_written(),
            self.elapsed.as_secs_f64()
        )?;
        if let Some(sheet) = &self.contact_sheet {
            write!(f, "\ncontact sheet: {}", sheet.display())?;
        }
        Ok(())
    }
}
