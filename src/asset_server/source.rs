//! The `gen` asset source: its reader reads nothing from anywhere, it hands the path's own text
//! to the loader, which turns it into a request.

use std::path::Path;

use bevy::asset::io::{
    AssetReader, AssetReaderError, AssetSourceBuilder, PathStream, Reader, VecReader,
};
use bevy::asset::{AssetApp, AssetPlugin};
use bevy::prelude::*;

/// The name of the asset source generated media is loaded from: `gen://...` paths.
pub const GEN_SOURCE: &str = "gen";

/// Registers the `gen` asset source, so `asset_server.load("gen://mira.image?prompt=...")`
/// loads generated media through the [`AssetProvider`](crate::AssetProvider) (see the
/// [module](super) for the paths).
///
/// Bevy takes asset sources only before its `AssetPlugin` is built: add this plugin **before**
/// `DefaultPlugins`, and [`AssetProviderPlugin`](crate::AssetProviderPlugin) after them as
/// usual. Added later, it does nothing but log an error, and `gen://` loads fail with Bevy's
/// "Asset Source 'gen' does not exist". Settings files (`*.image.json`, `*.audio.json`) need
/// only the `AssetProviderPlugin`.
///
/// ```no_run
/// use bevy::prelude::*;
/// use bevy_asset_provider::prelude::*;
/// use bevy_asset_provider::asset_server::GeneratedAssetSourcePlugin;
///
/// App::new()
///     .add_plugins(GeneratedAssetSourcePlugin)
///     .add_plugins(DefaultPlugins)
///     .add_plugins(AssetProviderPlugin::default());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct GeneratedAssetSourcePlugin;

impl Plugin for GeneratedAssetSourcePlugin {
    fn build(&self, app: &mut App) {
        if app.is_plugin_added::<AssetPlugin>() {
            error!(
                "GeneratedAssetSourcePlugin was added after AssetPlugin: gen:// paths will not \
                 load. Add it before DefaultPlugins (or AssetPlugin)."
            );
            return;
        }
        // The same reader in processed mode: nothing under `gen://` is ever processed.
        app.register_asset_source(
            GEN_SOURCE,
            AssetSourceBuilder::new(|| Box::new(GenReader))
                .with_processed_reader(|| Box::new(GenReader)),
        );
    }
}

/// Reads a `gen://` path as its own text. There are no meta files and no folders.
struct GenReader;

impl AssetReader for GenReader {
    async fn read<'a>(&'a self, path: &'a Path) -> Result<impl Reader + 'a, AssetReaderError> {
        // Asset paths are made from `&str`, so this holds; a path that is not text is not ours.
        let text = path
            .to_str()
            .ok_or_else(|| AssetReaderError::NotFound(path.to_owned()))?;
        Ok(VecReader::new(text.as_bytes().to_vec()))
    }

    async fn read_meta<'a>(&'a self, path: &'a Path) -> Result<impl Reader + 'a, AssetReaderError> {
        Err::<VecReader, _>(AssetReaderError::NotFound(path.to_owned()))
    }

    async fn read_directory<'a>(
        &'a self,
        path: &'a Path,
    ) -> Result<Box<PathStream>, AssetReaderError> {
        Err(AssetReaderError::NotFound(path.to_owned()))
    }

    async fn is_directory<'a>(&'a self, _path: &'a Path) -> Result<bool, AssetReaderError> {
        Ok(false)
    }
}
