//! The pre-made manifest as a Bevy asset: loaded by Bevy's `AssetServer`, so that with Bevy's
//! file watcher on (`AssetPlugin { watch_for_changes_override: Some(true), .. }` and Bevy's
//! `file_watcher` feature) an edited manifest is read again while the game runs, and every
//! [`PreMadeSource`] of the chain serves from the new contents.
//!
//! A source reads its manifest itself on first use (so it works without Bevy, and before the
//! asset server has loaded anything); each good version the asset server loads afterwards
//! replaces what it serves from. A malformed edit fails its load with an error naming the file
//! and the field, and the source keeps serving the previous good version.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use bevy::asset::io::AssetSourceId;
use bevy::asset::io::Reader;
use bevy::asset::{
    AssetEventSystems, AssetLoadError, AssetLoadFailedEvent, AssetLoader, AssetPath, LoadContext,
};
use bevy::prelude::*;

use crate::error::AssetError;
use crate::source::AssetSource;

use super::{PreMadeManifest, PreMadeSource};

/// The newest good manifest the asset server loaded for one source; shared between the source
/// (on the provider's runtime) and the system that hears the asset server (on the frame).
#[derive(Debug, Default)]
pub(crate) struct LiveManifest {
    newest: RwLock<Option<Arc<PreMadeManifest>>>,
}

impl LiveManifest {
    /// The newest version loaded through the asset server, if one has been.
    pub(crate) fn newest(&self) -> Option<Arc<PreMadeManifest>> {
        self.newest
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn replace(&self, manifest: Arc<PreMadeManifest>) {
        *self.newest.write().unwrap_or_else(PoisonError::into_inner) = Some(manifest);
    }
}

/// Loads `*.json` pre-made manifests for [`PreMadeManifest`] handles. It claims no extension,
/// so it never competes with a game's own JSON loaders: it is found by the asset type.
#[derive(TypePath)]
pub(crate) struct PreMadeManifestLoader {
    /// The default asset source's folder, so errors name the file on disk.
    root: PathBuf,
}

impl AssetLoader for PreMadeManifestLoader {
    type Asset = PreMadeManifest;
    type Settings = ();
    type Error = AssetError;

    async fn load(
        &self,
        reader: &mut dyn Reader,
        _settings: &(),
        load_context: &mut LoadContext<'_>,
    ) -> Result<PreMadeManifest, AssetError> {
        let asset_path = load_context.path();
        let file = if *asset_path.source() == AssetSourceId::Default {
            self.root.join(asset_path.path())
        } else {
            PathBuf::from(asset_path.to_string())
        };
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).await.map_err(|err| {
            AssetError::io(format!(
                "pre-made manifest {}: cannot read: {err}",
                file.display()
            ))
        })?;
        PreMadeManifest::parse(&bytes, &file)
    }
}

/// One source's manifest, followed through the asset server.
struct Watched {
    /// Its full path, for messages.
    file: PathBuf,
    live: Arc<LiveManifest>,
}

/// The manifests followed, with the handles that keep them loaded.
#[derive(Resource, Default)]
struct WatchedManifests(Vec<(Handle<PreMadeManifest>, Watched)>);

/// Registers the manifest's loader and follows the manifests of the chain's [`PreMadeSource`]s
/// whose asset root is the app's asset folder (a source reading another folder reads its file
/// itself, once, as without Bevy).
pub(crate) struct PreMadeManifestPlugin {
    sources: Vec<(PathBuf, PathBuf, Arc<LiveManifest>)>,
}

impl PreMadeManifestPlugin {
    /// Follows the pre-made sources among `sources` (a source inside a wrapper is not seen).
    pub(crate) fn for_sources(sources: &[Arc<dyn AssetSource>]) -> Self {
        let sources = sources
            .iter()
            .filter_map(|source| (source.as_ref() as &dyn Any).downcast_ref::<PreMadeSource>())
            .map(|premade| {
                (
                    premade.manifest.clone(),
                    premade.asset_root.clone(),
                    premade.live.clone(),
                )
            })
            .collect();
        Self { sources }
    }
}

/// The default asset source's folder, as Bevy's file reader resolves `AssetPlugin::file_path`.
fn app_asset_root(app: &App) -> Option<PathBuf> {
    let file_path = app
        .get_added_plugins::<AssetPlugin>()
        .first()
        .map(|plugin| plugin.file_path.clone())?;
    #[cfg(not(target_arch = "wasm32"))]
    let root = bevy::asset::io::file::FileAssetReader::get_base_path().join(file_path);
    #[cfg(target_arch = "wasm32")]
    let root = PathBuf::from(file_path);
    Some(root)
}

impl Plugin for PreMadeManifestPlugin {
    fn build(&self, app: &mut App) {
        let Some(root) = app_asset_root(app) else {
            return;
        };
        app.init_asset::<PreMadeManifest>()
            .register_asset_loader(PreMadeManifestLoader { root })
            .init_resource::<WatchedManifests>()
            .add_systems(PostUpdate, apply_manifest_loads.after(AssetEventSystems));
    }

    fn finish(&self, app: &mut App) {
        let Some(root) = app_asset_root(app) else {
            return;
        };
        let Some(server) = app.world().get_resource::<AssetServer>().cloned() else {
            return;
        };
        let mut watched = Vec::new();
        for (path, source_root, live) in &self.sources {
            if !same_folder(source_root, &root) {
                continue;
            }
            let handle = server.load::<PreMadeManifest>(AssetPath::from_path_buf(path.clone()));
            let file = root.join(path);
            watched.push((
                handle,
                Watched {
                    file,
                    live: live.clone(),
                },
            ));
        }
        app.world_mut()
            .resource_mut::<WatchedManifests>()
            .0
            .extend(watched);
    }
}

/// Whether two folder paths name the same folder (spelled alike, or the same on disk).
fn same_folder(a: &Path, b: &Path) -> bool {
    a == b
        || match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
}

/// Our own error (which names the file and the field) when the loader failed, else Bevy's.
fn describe_load_error(error: &AssetLoadError) -> String {
    if let AssetLoadError::AssetLoaderError(loader_error) = error
        && let Some(manifest_error) = loader_error.error().downcast_ref::<AssetError>()
    {
        return manifest_error.to_string();
    }
    error.to_string()
}

/// Hands each manifest the asset server loaded (first load or reload) to its source, and says
/// once per rejected edit that the previous version is still served.
fn apply_manifest_loads(
    mut events: MessageReader<AssetEvent<PreMadeManifest>>,
    mut failures: MessageReader<AssetLoadFailedEvent<PreMadeManifest>>,
    manifests: Res<Assets<PreMadeManifest>>,
    watched: Res<WatchedManifests>,
) {
    for event in events.read() {
        let (AssetEvent::Added { id } | AssetEvent::Modified { id }) = *event else {
            continue;
        };
        let Some(manifest) = manifests.get(id) else {
            continue;
        };
        for (handle, watched) in &watched.0 {
            if handle.id() == id {
                watched.live.replace(Arc::new(manifest.clone()));
                debug!(
                    "pre-made manifest {}: {} entries",
                    watched.file.display(),
                    manifest.entries().len()
                );
            }
        }
    }
    for failure in failures.read() {
        for (handle, watched) in &watched.0 {
            if handle.id() != failure.id {
                continue;
            }
            // Without a good version yet, the source reports the problem itself, on use.
            if let Some(previous) = watched.live.newest() {
                warn!(
                    "{}; the edit was not applied, the previous version ({} entries) is still \
                     served",
                    describe_load_error(&failure.error),
                    previous.entries().len(),
                );
            }
        }
    }
}
