//! The pre-made source: a request answered from the manifest's files, read through the app's
//! asset server or from a folder of its own.

use async_trait::async_trait;
use bevy::asset::io::{AssetReaderError, AssetSourceId, ErasedAssetReader, Reader};
use bevy::asset::{AssetPath, AssetServerMode};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use tokio::sync::OnceCell;

use super::link::AppLink;
use super::manifest::PreMadeManifest;
use crate::error::{AssetError, AssetErrorKind};
use crate::request::MediaKind;
use crate::source::{AssetSource, SourceKind, SourceRequest, SourcedMedia};

/// The MIME type of a pre-made file, from its extension.
fn mime_for(path: &str) -> Option<(&'static str, MediaKind)> {
    let extension = Path::new(path).extension()?.to_str()?.to_ascii_lowercase();
    Some(match extension.as_str() {
        "png" => ("image/png", MediaKind::Image),
        "jpg" | "jpeg" => ("image/jpeg", MediaKind::Image),
        "wav" => ("audio/wav", MediaKind::Audio),
        "ogg" => ("audio/ogg", MediaKind::Audio),
        "mp3" => ("audio/mpeg", MediaKind::Audio),
        "mp4" => ("video/mp4", MediaKind::Video),
        _ => return None,
    })
}

/// Serves requests from the game's pre-made media, listed in a manifest in one of Bevy's asset
/// sources.
///
/// Under an [`AssetProviderPlugin`](crate::AssetProviderPlugin) with Bevy's `AssetPlugin`, the
/// manifest and its files are read through the app's `AssetServer`, like any asset: from the
/// folder `AssetPlugin::file_path` names, from the asset source the manifest's path names
/// (`embedded://premade/manifest.json`, a source the game registered), and from the processed
/// files when the server reads processed assets. The manifest is loaded as a Bevy asset: every
/// good version Bevy loads afterwards (an edit seen by Bevy's file watcher, or
/// `AssetServer::reload`) is what the source serves from, and a malformed edit is logged once
/// and leaves the previous good version in use. Media already served keeps its file until its
/// key is asked for again after the memory tier lets it go. The paths in a manifest are
/// relative to the root of the manifest's asset source.
///
/// Without the plugin (or inside a wrapper the plugin does not see into), the source reads the
/// manifest itself, once, on first use, from Bevy's `assets` folder or from
/// [its own folder](Self::with_asset_root), with Bevy's file reader.
///
/// Nothing is read on the frame. A manifest that is missing or malformed is logged once and
/// returned from every [`resolve`](AssetSource::resolve), so a request that may not generate
/// fails with that reason; for an [`optional`](Self::optional) source a missing manifest means
/// no pre-made media instead.
///
/// ```no_run
/// use bevy_asset_provider::source::PreMadeSource;
///
/// // `premade/manifest.json` in the app's asset folder.
/// let source = PreMadeSource::from_manifest("premade/manifest.json");
/// // Built into the executable with `embedded_asset!`.
/// let source = PreMadeSource::from_manifest("embedded://premade/manifest.json");
/// // From a directory of its own, whatever the app's asset folder is.
/// let source = PreMadeSource::from_manifest("manifest.json").with_asset_root("/srv/game/media");
/// ```
pub struct PreMadeSource {
    /// The manifest's asset path: its asset source and its path there.
    pub(super) manifest: AssetPath<'static>,
    /// A folder of its own ([`with_asset_root`](Self::with_asset_root)).
    pub(super) folder: Option<PathBuf>,
    pub(super) optional: bool,
    /// The reader of a source not served through the app's asset server, made on first use.
    own_reader: OnceLock<Box<dyn ErasedAssetReader>>,
    /// The manifest as read by the source itself, when not served through the app.
    loaded: OnceCell<Result<Arc<PreMadeManifest>, AssetError>>,
    /// The app's asset server and the manifest it loads, when the plugin serves this source.
    pub(super) link: Arc<AppLink>,
}

impl std::fmt::Debug for PreMadeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreMadeSource")
            .field("manifest", &self.manifest)
            .field("folder", &self.folder)
            .field("optional", &self.optional)
            .field("through_asset_server", &self.link.server().is_some())
            .finish_non_exhaustive()
    }
}

/// Why a file could not be read.
enum ReadError {
    /// It is not there.
    NotFound(String),
    /// Anything else: the message says what.
    Other(String),
}

impl ReadError {
    fn message(&self) -> &str {
        match self {
            Self::NotFound(message) | Self::Other(message) => message,
        }
    }
}

impl PreMadeSource {
    /// A source reading the manifest at the asset path `path`: in the app's asset folder (or,
    /// without the plugin, Bevy's `assets` folder under `BEVY_ASSET_ROOT`, `CARGO_MANIFEST_DIR`
    /// or the executable's directory), or in the asset source it names (`embedded://...`).
    #[must_use]
    pub fn from_manifest(path: impl Into<AssetPath<'static>>) -> Self {
        Self {
            manifest: path.into(),
            folder: None,
            optional: false,
            own_reader: OnceLock::new(),
            loaded: OnceCell::new(),
            link: Arc::default(),
        }
    }

    /// Reads the manifest and its files under `dir` instead of the app's asset folder. When
    /// `dir` is the app's asset folder after all, the source is served through the app's
    /// asset server as without this call.
    #[must_use]
    pub fn with_asset_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.folder = Some(dir.into());
        self
    }

    /// A missing manifest means no pre-made media (requests go on to the next source), not an
    /// error: for a chain that serves whatever pre-made media a game ships, if any, as
    /// [`AssetProviderPlugin::default`](crate::AssetProviderPlugin) does.
    #[must_use]
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// The folder given with [`with_asset_root`](Self::with_asset_root), if any.
    pub fn asset_root(&self) -> Option<&Path> {
        self.folder.as_deref()
    }

    /// The manifest's asset path.
    pub fn manifest_path(&self) -> &AssetPath<'static> {
        &self.manifest
    }

    /// The manifest: the newest good version Bevy's asset server loaded for this source, or,
    /// for a source reading its files itself, the file as read and checked on first call (the
    /// same result, or error, afterwards). An [`optional`](Self::optional) source whose
    /// manifest is missing has an empty one.
    pub async fn manifest(&self) -> Result<Arc<PreMadeManifest>, AssetError> {
        if self.link.server().is_some() {
            return self.link.manifest().await;
        }
        self.loaded
            .get_or_init(|| async {
                let loaded = self.load().await;
                if let Err(err) = &loaded {
                    // Logged here, inside the once-only initializer, so it is logged once.
                    bevy::log::error!("{err}");
                }
                loaded
            })
            .await
            .clone()
    }

    async fn load(&self) -> Result<Arc<PreMadeManifest>, AssetError> {
        let name = self.name_of(&self.manifest);
        match self.read(&self.manifest).await {
            Ok(bytes) => PreMadeManifest::parse(&bytes, &name).map(Arc::new),
            Err(ReadError::NotFound(_)) if self.optional => Ok(Arc::default()),
            Err(err) => Err(AssetError::io(format!(
                "pre-made manifest {name}: cannot read: {}",
                err.message()
            ))),
        }
    }

    /// How messages name `path`: the file, for a source reading a folder itself; else the
    /// asset path.
    pub(super) fn name_of(&self, path: &AssetPath<'_>) -> String {
        if self.link.server().is_none() && *path.source() == AssetSourceId::Default {
            self.own_folder().join(path.path()).display().to_string()
        } else {
            path.to_string()
        }
    }

    /// The folder this source reads itself when not served through the app's asset server.
    #[cfg(not(target_arch = "wasm32"))]
    fn own_folder(&self) -> PathBuf {
        match &self.folder {
            Some(folder) => folder.clone(),
            None => bevy::asset::io::file::FileAssetReader::get_base_path().join("assets"),
        }
    }

    /// On the web there is no file system root; a relative `assets` is the best guess.
    #[cfg(target_arch = "wasm32")]
    fn own_folder(&self) -> Option<PathBuf> {
        Some(
            self.folder
                .clone()
                .unwrap_or_else(|| PathBuf::from("assets")),
        )
    }

    /// Bevy's reader for the folder this source reads itself: the platform's default reader.
    fn own_reader(&self) -> &dyn ErasedAssetReader {
        self.own_reader
            .get_or_init(|| {
                let folder = self.own_folder();
                #[cfg(not(target_arch = "wasm32"))]
                let reader = bevy::asset::io::file::FileAssetReader::new(folder);
                #[cfg(target_arch = "wasm32")]
                let reader = bevy::asset::io::wasm::HttpWasmAssetReader::new(folder);
                Box::new(reader)
            })
            .as_ref()
    }

    /// The bytes at `path`, with the app's asset server's readers when the plugin serves this
    /// source (the processed files when the server reads processed assets), else from its own
    /// folder with Bevy's file reader.
    async fn read(&self, path: &AssetPath<'_>) -> Result<Vec<u8>, ReadError> {
        let reader = match self.link.server() {
            Some(server) => {
                let source = server
                    .get_source(path.source())
                    .map_err(|err| ReadError::Other(err.to_string()))?;
                match server.mode() {
                    AssetServerMode::Unprocessed => source.reader(),
                    AssetServerMode::Processed => source
                        .processed_reader()
                        .map_err(|err| ReadError::Other(err.to_string()))?,
                }
            }
            None if *path.source() == AssetSourceId::Default => self.own_reader(),
            None => {
                return Err(ReadError::Other(format!(
                    "the asset source {} is only known to an app's asset server; add the \
                     source to an AssetProviderPlugin",
                    path.source()
                )));
            }
        };
        let mut file = reader.read(path.path()).await.map_err(|err| match err {
            AssetReaderError::NotFound(_) => ReadError::NotFound(err.to_string()),
            other => ReadError::Other(other.to_string()),
        })?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .await
            .map_err(|err| ReadError::Other(err.to_string()))?;
        Ok(bytes)
    }
}

#[async_trait]
impl AssetSource for PreMadeSource {
    fn name(&self) -> &str {
        "pre_made"
    }

    fn kind(&self) -> SourceKind {
        SourceKind::PreMade
    }

    // The files are on disk already; a copy would only take space.
    fn caches_results(&self) -> bool {
        false
    }

    fn uses_network(&self) -> bool {
        false
    }

    async fn resolve(&self, request: &SourceRequest) -> Result<Option<SourcedMedia>, AssetError> {
        let manifest = self.manifest().await?;
        let Some(entry) = manifest.find_for_key(&request.request, request.key) else {
            return Ok(None);
        };
        // In the manifest's asset source, relative to its root.
        let path = AssetPath::from_path(Path::new(&entry.path))
            .with_source(self.manifest.source().clone_owned());
        let name = self.name_of(&path);
        let Some((mime, file_kind)) = mime_for(&entry.path) else {
            return Err(AssetError::new(
                AssetErrorKind::Unsupported,
                format!(
                    "pre-made asset {name}: unknown file type (expected png, jpg, jpeg, wav, ogg, mp3 or mp4)"
                ),
            ));
        };
        if file_kind != entry.kind {
            return Err(AssetError::invalid_data(format!(
                "pre-made asset {name}: listed as {} but the file is {mime}",
                entry.kind.as_str()
            )));
        }
        let bytes = self.read(&path).await.map_err(|err| {
            AssetError::io(format!(
                "pre-made asset {name}: cannot read: {}",
                err.message()
            ))
        })?;
        Ok(Some(SourcedMedia::new(
            bytes,
            mime,
            format!("pre_made:{}", entry.path),
        )))
    }

    async fn is_available(&self, request: &SourceRequest) -> bool {
        match self.manifest().await {
            Ok(manifest) => manifest
                .find_for_key(&request.request, request.key)
                .is_some(),
            Err(_) => false,
        }
    }
}
