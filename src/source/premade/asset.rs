//! The pre-made manifest as a Bevy asset: loaded by Bevy's `AssetServer` from whichever asset
//! source its path names (the app's asset folder, `embedded://`, a source the game registered),
//! so that with Bevy's file watcher on (`AssetPlugin { watch_for_changes_override: Some(true),
//! .. }` and Bevy's `file_watcher` feature) an edited manifest is read again while the game
//! runs, and every [`PreMadeSource`] of the chain serves from the new contents.
//!
//! A source served through the asset server waits for the server's first load of its manifest
//! and reads nothing itself; each good version the server loads afterwards replaces what it
//! serves from. A malformed edit fails its load with an error naming the file and the field,
//! and the source keeps serving the previous good version.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bevy::asset::io::{AssetReaderError, AssetSourceId, Reader};
use bevy::asset::{
    AssetEventSystems, AssetLoadError, AssetLoadFailedEvent, AssetLoader, AssetPath, LoadContext,
};
use bevy::prelude::*;

use crate::error::AssetError;
use crate::json::describe_load_error;
use crate::source::AssetSource;

use super::link::AppLink;
use super::manifest::PreMadeManifest;
use super::source::PreMadeSource;

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
    /// The manifest's name in messages: its file for the default source, else its asset path.
    file: String,
    /// Whether a missing manifest means no pre-made media rather than an error.
    optional: bool,
    link: Arc<AppLink>,
}

/// The manifests followed, with the handles that keep them loaded.
#[derive(Resource, Default)]
struct WatchedManifests(Vec<(Handle<PreMadeManifest>, Watched)>);

/// What the plugin needs of one pre-made source of the chain.
struct Followed {
    manifest: AssetPath<'static>,
    folder: Option<PathBuf>,
    optional: bool,
    link: Arc<AppLink>,
}

/// Registers the manifest's loader and serves the chain's [`PreMadeSource`]s through the app's
/// asset server: their manifests are loaded (and reloaded) as assets, their files read with the
/// server's readers. A source given a folder of its own that is not the app's asset folder
/// reads it itself, as without Bevy.
pub(crate) struct PreMadeManifestPlugin {
    sources: Vec<Followed>,
}

impl PreMadeManifestPlugin {
    /// Follows the pre-made sources among `sources` (a source inside a wrapper is not seen).
    pub(crate) fn for_sources(sources: &[Arc<dyn AssetSource>]) -> Self {
        let sources = sources
            .iter()
            .filter_map(|source| (source.as_ref() as &dyn Any).downcast_ref::<PreMadeSource>())
            .map(|premade| Followed {
                manifest: premade.manifest.clone(),
                folder: premade.folder.clone(),
                optional: premade.optional,
                link: premade.link.clone(),
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
        for source in &self.sources {
            // A folder of its own is the app's only when it is the default source's folder.
            if let Some(folder) = &source.folder
                && !same_folder(folder, &root)
            {
                continue;
            }
            if !source.link.set_server(server.clone()) {
                // The same source twice in the chain: it is followed once.
                continue;
            }
            let file = if *source.manifest.source() == AssetSourceId::Default {
                root.join(source.manifest.path()).display().to_string()
            } else {
                source.manifest.to_string()
            };
            if let Err(missing) = server.get_source(source.manifest.source()) {
                source.link.set(Err(AssetError::io(format!(
                    "pre-made manifest {file}: {missing}"
                ))));
                continue;
            }
            let handle = server.load::<PreMadeManifest>(source.manifest.clone());
            watched.push((
                handle,
                Watched {
                    file,
                    optional: source.optional,
                    link: source.link.clone(),
                },
            ));
        }
        app.world_mut()
            .resource_mut::<WatchedManifests>()
            .0
            .extend(watched);
    }
}

/// Whether two folder paths name the same folder (spelled alike, or the same on disk). Asked
/// once per source with a folder of its own, at startup.
fn same_folder(a: &Path, b: &Path) -> bool {
    a == b
        || match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
}

/// What a source serves after the first load of its manifest failed with `error`.
fn first_load_failed(
    watched: &Watched,
    error: &AssetLoadError,
) -> Result<Arc<PreMadeManifest>, AssetError> {
    if let AssetLoadError::AssetReaderError(AssetReaderError::NotFound(_)) = error {
        if watched.optional {
            debug!(
                "no pre-made manifest at {}: no pre-made media",
                watched.file
            );
            return Ok(Arc::default());
        }
        let error = AssetError::io(format!(
            "pre-made manifest {}: cannot read: {error}",
            watched.file
        ));
        bevy::log::error!("{error}");
        return Err(error);
    }
    let error = match error {
        AssetLoadError::AssetLoaderError(loader_error) => loader_error
            .error()
            .downcast_ref::<AssetError>()
            .cloned()
            .unwrap_or_else(|| {
                AssetError::io(format!("pre-made manifest {}: {error}", watched.file))
            }),
        _ => AssetError::io(format!(
            "pre-made manifest {}: cannot read: {error}",
            watched.file
        )),
    };
    bevy::log::error!("{error}");
    Err(error)
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
                watched.link.set(Ok(Arc::new(manifest.clone())));
                debug!(
                    "pre-made manifest {}: {} entries",
                    watched.file,
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
            match watched.link.newest() {
                Some(previous) => warn!(
                    "{}; the edit was not applied, the previous version ({} entries) is still \
                     served",
                    describe_load_error::<AssetError>(&failure.error),
                    previous.entries().len(),
                ),
                None => watched.link.set(first_load_failed(watched, &failure.error)),
            }
        }
    }
}
