//! The bake: generate while you develop, ship it baked. Every `once` request a story makes (and
//! every other request a game lists) is resolved once through the game's own source chain and
//! written under the asset folder as a pre-made file, with a manifest entry that the pre-made
//! source serves to exactly that request. A game then plays that media from its files, in
//! [offline mode](crate::AssetProviderPlugin::with_offline) too; only `per_player`,
//! `per_playthrough` and `always` media is left to run time.
//!
//! With the `bake` feature. `cargo run --example bake` is the command; the library is here for
//! a game's own tools:
//!
//! ```no_run
//! use bevy_asset_provider::bake::{Bake, BakeTargets};
//! use bevy_asset_provider::prelude::*;
//!
//! # fn bake(graph: SceneGraph) -> Result<(), AssetError> {
//! // The game's own plugin configuration: its sources, limits and disk cache.
//! let plugin = AssetProviderPlugin::default().with_game_name("My Game");
//! let bake = Bake::new(&plugin); // assets/premade/manifest.json, files in assets/premade/baked
//! // The plan reads and hashes files: a blocking call, made outside async code.
//! let plan = bake.plan(&BakeTargets::new().with_scene(&graph), &|_| {})?;
//! println!("{plan}"); // what a dry run shows: what would be made, and what it costs
//! // The run resolves through the sources on a tokio runtime.
//! let runtime = tokio::runtime::Runtime::new().expect("a runtime");
//! let report = runtime.block_on(bake.run(&plan, &|_| {}))?;
//! println!("{report}");
//! # Ok(())
//! # }
//! ```
//!
//! - **Keys.** Requests are built by [`SceneGraph::node_media`](crate::scene::SceneGraph::node_media),
//!   as the scene plugin and the predictor build them, so a baked entry's `key` is the key the
//!   game asks with. Each key is resolved once, however many ways lead to it.
//! - **Incremental.** A request whose entry is there with its file's SHA-256 unchanged is kept;
//!   one whose slot (its node and way in, or its listed name) was baked for another key (a new
//!   prompt, style or seed) is made again and its entry replaced, its old file removed. A
//!   request a hand-written manifest entry serves is left to that file. Entries of slots no
//!   longer among the targets (a node removed from the story) are left as they are.
//! - **Retouches win.** A baked file is overwritten or removed only while its SHA-256 is the
//!   one its entry recorded, checked again just before. A file changed since (an artist's
//!   retouch) is kept byte for byte with its entry, which keeps pointing at it, and its slot is
//!   not made again, even when its request changed (the new request then waits until the file
//!   is moved away or deleted); the report ([`BakeReport::retouched`]) and a warning name it.
//!   A file no entry records where a new file would go is not overwritten either: that request
//!   fails, naming it.
//! - **Sources.** The plugin's chain, its disk tier first (media made while developing is
//!   reused, not paid for again; a job an interrupted bake left running is followed), without
//!   the local pre-made sources: the plan has read the manifest being written.
//! - **Writes.** Files and the manifest are written atomically (a temporary file, synced,
//!   renamed), the manifest after every file, so an interrupted bake keeps what it made; entries
//!   it did not write, and fields it does not know, are kept (with their fields in sorted
//!   order).

mod contact_sheet;
mod files;
mod manifest;
mod plan;
mod report;
mod run;
mod targets;
mod tiles;
mod write;

pub use manifest::{BakedEntry, Provenance};
pub use plan::{BakePlan, BakeReason, BakeStep, PlanItem, Retouch, RetouchedFile};
pub use report::{BakeOutcome, BakeReport, BakeReportItem};
pub use targets::{BakeTarget, BakeTargets, ListedRequests};

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::chain::SourceChain;
use crate::chain::decode::MediaDecoders;
use crate::error::AssetError;
use crate::plugin::{AssetProviderPlugin, DEFAULT_MANIFEST};
use crate::source::SourceKind;

/// Where baked files go by default, relative to the asset root.
pub const DEFAULT_BAKE_DIR: &str = "premade/baked";

/// A phase of a bake, for progress bars.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BakePhase {
    /// Reading the manifest and checking the files baked before.
    Check,
    /// Resolving the requests to make and writing their files.
    Make,
    /// Drawing the contact sheet.
    ContactSheet,
}

impl BakePhase {
    /// A word for a progress bar.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Check => "check",
            Self::Make => "make",
            Self::ContactSheet => "contact sheet",
        }
    }
}

/// What a bake reports as it goes.
#[derive(Clone, Copy, Debug)]
pub enum BakeProgress<'a> {
    /// A phase began, with `total` steps.
    Started {
        /// The phase.
        phase: BakePhase,
        /// Its steps.
        total: usize,
    },
    /// One step of `phase` is done: the request of `slot`.
    Advanced {
        /// The phase.
        phase: BakePhase,
        /// The request's slot.
        slot: &'a str,
    },
    /// The phase ended.
    Finished {
        /// The phase.
        phase: BakePhase,
    },
}

/// A bake: the game's source chain, and where the files and the manifest go.
#[must_use]
pub struct Bake {
    chain: SourceChain,
    timeout: Duration,
    asset_root: PathBuf,
    manifest: PathBuf,
    out_dir: PathBuf,
    contact_sheet: Option<PathBuf>,
}

impl Bake {
    /// A bake through `plugin`'s sources, disk tier, limits and default timeout; the manifest
    /// `assets/premade/manifest.json`, files in `assets/premade/baked`, under Bevy's asset
    /// folder. Local pre-made sources (of kind [`PreMade`](SourceKind::PreMade) that use no
    /// network) are left out of the chain: the plan reads the manifest itself.
    pub fn new(plugin: &AssetProviderPlugin) -> Self {
        let chain = plugin
            .source_chain(bake_decoders())
            .retain_sources(|source| source.kind() != SourceKind::PreMade || source.uses_network());
        Self {
            timeout: chain.config().default_timeout,
            chain,
            asset_root: bevy::asset::io::file::FileAssetReader::get_base_path().join("assets"),
            manifest: PathBuf::from(DEFAULT_MANIFEST),
            out_dir: PathBuf::from(DEFAULT_BAKE_DIR),
            contact_sheet: None,
        }
    }

    /// The asset folder the manifest's paths are relative to.
    pub fn asset_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.asset_root = dir.into();
        self
    }

    /// The manifest to update, relative to the asset root.
    pub fn manifest(mut self, path: impl Into<PathBuf>) -> Self {
        self.manifest = path.into();
        self
    }

    /// The folder baked files go to, relative to the asset root (no `..`).
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = dir.into();
        self
    }

    /// Writes a contact sheet PNG to `path` (best kept out of the asset folder, which ships).
    pub fn contact_sheet(mut self, path: impl Into<PathBuf>) -> Self {
        self.contact_sheet = Some(path.into());
        self
    }

    /// How long one request may take (default: the plugin's default timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The manifest's full path.
    pub fn manifest_path(&self) -> PathBuf {
        self.asset_root.join(&self.manifest)
    }

    /// What a bake of `targets` would do, from the manifest and the files alone (no source is
    /// asked): a dry run is this plan, printed. It reads the manifest and hashes every baked
    /// file, so it blocks: from async code, call it on a blocking thread
    /// (`tokio::task::spawn_blocking`).
    pub fn plan(
        &self,
        targets: &BakeTargets,
        progress: &(dyn Fn(BakeProgress<'_>) + Sync),
    ) -> Result<BakePlan, AssetError> {
        self.check_out_dir()?;
        let document = manifest::ManifestDocument::read(&self.manifest_path())?;
        BakePlan::new(targets, &document, &self.asset_root, progress)
    }

    /// The out folder as the manifest writes it (`premade/baked`), refused when it would leave
    /// the asset root.
    fn check_out_dir(&self) -> Result<String, AssetError> {
        relative_folder(&self.out_dir)
    }
}

/// `dir` as a manifest path: relative, without `..`, with `/` between parts.
fn relative_folder(dir: &Path) -> Result<String, AssetError> {
    let mut parts = Vec::new();
    for component in dir.components() {
        match component {
            std::path::Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            std::path::Component::CurDir => {}
            _ => {
                return Err(AssetError::invalid_data(format!(
                    "bake folder {}: must be relative to the asset root, without `..`",
                    dir.display()
                )));
            }
        }
    }
    Ok(parts.join("/"))
}

/// The add-ons' decoders, registered as their plugins would in an app: the bake has none.
fn bake_decoders() -> MediaDecoders {
    #[allow(
        unused_mut,
        reason = "only add-ons with their feature register decoders"
    )]
    let mut decoders = MediaDecoders::default();
    #[cfg(feature = "video")]
    crate::video::register_decoders(&mut decoders);
    decoders
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_out_folder_stays_under_the_asset_root() {
        assert_eq!(
            relative_folder(Path::new("premade/baked")).unwrap(),
            "premade/baked"
        );
        assert_eq!(relative_folder(Path::new("./baked")).unwrap(), "baked");
        for bad in ["../elsewhere", "/abs/path"] {
            let error = relative_folder(Path::new(bad)).unwrap_err();
            assert!(error.message().contains(bad), "{error}");
        }
    }
}
