//! The game's own pre-made media: tagged files listed in a JSON manifest, read through Bevy's
//! asset sources (the app's asset folder, `embedded://`, or any source the game registers).
//!
//! A manifest looks like this (paths are relative to the root of the manifest's asset source,
//! `id` is optional, unknown fields are ignored):
//!
//! ```json
//! {"assets": [
//!   {"id": "harbor_dawn", "path": "premade/harbor_dawn.png", "kind": "image",
//!    "tags": ["loc:harbor", "role:bg"]}
//! ]}
//! ```
//!
//! [`PreMadeSource`] serves a request from it: by id when the request names an asset, then the
//! entry made for exactly that request (its `key`, see below), otherwise the entry whose tags
//! score best against the request's context ([`scoring`](crate::source::scoring)).
//!
//! An entry with a `key` (the 64 hex digits of a [`RequestKey`], as the bake tool writes them)
//! was made for that one request: it serves a request with that key, ahead of any scoring, and
//! no other. Tags cannot say that much: the prompt, the seed and the style are not tags, and a
//! node reached by two choices would tie with itself, so a baked picture chosen by its tags
//! could stand in for another node's. Its tags still describe it, for people and tools.
//!
//! Under [`AssetProviderPlugin`](crate::AssetProviderPlugin) the manifest is also a Bevy asset:
//! with Bevy's file watcher on, an edit is read again while the game runs (see [`PreMadeSource`]).

mod asset;

pub(crate) use asset::PreMadeManifestPlugin;

use asset::AppLink;
use async_trait::async_trait;
use bevy::asset::io::{AssetReaderError, AssetSourceId, ErasedAssetReader, Reader};
use bevy::asset::{Asset, AssetPath, AssetServerMode};
use bevy::reflect::TypePath;
use serde::Deserialize;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, OnceLock};
use tokio::sync::OnceCell;

use crate::error::{AssetError, AssetErrorKind};
use crate::json::parse_strict;
use crate::request::{AssetRequest, MediaKind, PlaySession, RequestKey};
use crate::source::scoring::{MIN_CONTEXT_SCORE, MatchCriteria, best_match};
use crate::source::{AssetSource, SourceKind, SourceRequest, SourcedMedia};

/// One pre-made asset listed in a manifest.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PreMadeEntry {
    /// The id a request can ask for with [`AssetRequest::asset_id`]; optional.
    #[serde(default)]
    pub id: Option<String>,
    /// The file, relative to the root of the manifest's asset source.
    pub path: String,
    /// The kind of media the file holds.
    pub kind: MediaKind,
    /// Tags the scoring matches against (`loc:harbor`, `npc:keeper`, `role:bg`, ...).
    #[serde(default)]
    pub tags: Vec<String>,
    /// The key of the one request this file was made for (64 lowercase hex digits), when it
    /// was baked for it; such an entry serves that request only (see the module's docs).
    #[serde(default)]
    pub key: Option<String>,
}

/// The manifest file's shape; unknown fields are ignored (serde's default).
#[derive(Deserialize)]
struct ManifestFile {
    assets: Vec<PreMadeEntry>,
}

/// A parsed and checked pre-made manifest.
///
/// ```
/// use bevy_asset_provider::source::PreMadeManifest;
/// use bevy_asset_provider::prelude::*;
///
/// let json = br#"{"assets": [
///     {"id": "harbor_dawn", "path": "premade/harbor_dawn.png", "kind": "image",
///      "tags": ["loc:harbor", "role:bg"]}
/// ]}"#;
/// let manifest = PreMadeManifest::parse(json, "manifest.json").unwrap();
/// let request = AssetRequest::image().location("harbor");
/// assert_eq!(manifest.find(&request).unwrap().path, "premade/harbor_dawn.png");
/// ```
#[derive(Asset, TypePath, Clone, Debug, Default, PartialEq, Eq)]
pub struct PreMadeManifest {
    entries: Vec<PreMadeEntry>,
}

impl PreMadeManifest {
    /// Parses and checks manifest JSON. `path_for_errors` names the file in error messages.
    ///
    /// A malformed manifest is an [`AssetErrorKind::InvalidData`] error whose message names the
    /// file and the field (`assets[2].kind: unknown variant ...`, with serde's line and column).
    /// Beyond the JSON's shape, every `path` must be non-empty and relative without `..` (it
    /// stays under the asset root), every tag and `id` non-empty, and ids unique.
    pub fn parse(bytes: &[u8], path_for_errors: impl AsRef<Path>) -> Result<Self, AssetError> {
        let file = path_for_errors.as_ref();
        let invalid = |field: &str, problem: &dyn std::fmt::Display| {
            AssetError::invalid_data(format!(
                "pre-made manifest {}: {field}: {problem}",
                file.display()
            ))
        };

        let parsed: ManifestFile =
            parse_strict(bytes).map_err(|error| error.in_file("pre-made manifest", file))?;

        for (i, entry) in parsed.assets.iter().enumerate() {
            if entry.path.trim().is_empty() {
                return Err(invalid(&format!("assets[{i}].path"), &"is empty"));
            }
            let relative = Path::new(&entry.path);
            let escapes = relative.is_absolute()
                || relative
                    .components()
                    .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
            if escapes {
                return Err(invalid(
                    &format!("assets[{i}].path"),
                    &format!(
                        "{:?} must be relative to the asset root, without `..`",
                        entry.path
                    ),
                ));
            }
            if let Some(j) = entry.tags.iter().position(|tag| tag.trim().is_empty()) {
                return Err(invalid(
                    &format!("assets[{i}].tags[{j}]"),
                    &"is an empty tag",
                ));
            }
            if let Some(key) = &entry.key
                && (key.len() != 64 || !key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            {
                return Err(invalid(
                    &format!("assets[{i}].key"),
                    &"must be a request key: 64 lowercase hex digits",
                ));
            }
            if let Some(id) = &entry.id {
                if id.trim().is_empty() {
                    return Err(invalid(&format!("assets[{i}].id"), &"is empty"));
                }
                if let Some(first) = parsed.assets[..i]
                    .iter()
                    .position(|other| other.id.as_ref() == Some(id))
                {
                    return Err(invalid(
                        &format!("assets[{i}].id"),
                        &format!("{id:?} is already the id of assets[{first}]"),
                    ));
                }
            }
        }
        Ok(Self {
            entries: parsed.assets,
        })
    }

    /// The entries, in manifest order.
    pub fn entries(&self) -> &[PreMadeEntry] {
        &self.entries
    }

    /// The entry with `id` holding media of `kind`.
    pub fn by_id(&self, id: &str, kind: MediaKind) -> Option<&PreMadeEntry> {
        self.entries
            .iter()
            .find(|entry| entry.kind == kind && entry.id.as_deref() == Some(id))
    }

    /// The entry that serves `request`; see [`find_for_key`](Self::find_for_key). The key is
    /// computed in the default session, which is the key of every `once` request (the only
    /// ones that are baked).
    pub fn find(&self, request: &AssetRequest) -> Option<&PreMadeEntry> {
        self.find_for_key(request, request.fingerprint(&PlaySession::default()))
    }

    /// The entry that serves `request`, whose key is `key`: the one it names by
    /// [`asset_id`](AssetRequest::asset_id) (of the same kind); else the entry made for `key`;
    /// else, for a request naming no asset, the entry of the same kind and without a key whose
    /// tags score best against the request's context (earlier entries win ties). `None` when
    /// nothing matches.
    pub fn find_for_key(&self, request: &AssetRequest, key: RequestKey) -> Option<&PreMadeEntry> {
        if let Some(id) = &request.asset_id
            && let Some(entry) = self.by_id(id, request.kind)
        {
            return Some(entry);
        }
        let hex = key.to_hex();
        if let Some(entry) = self
            .entries
            .iter()
            .find(|entry| entry.kind == request.kind && entry.key.as_deref() == Some(hex.as_str()))
        {
            return Some(entry);
        }
        if request.asset_id.is_some() {
            return None;
        }
        let criteria = MatchCriteria::from_request(request);
        let candidates = self
            .entries
            .iter()
            .filter(|entry| entry.kind == request.kind && entry.key.is_none())
            .map(|entry| (entry, entry.tags.as_slice()));
        best_match(candidates, &criteria)
            .filter(|(_, score)| *score >= MIN_CONTEXT_SCORE)
            .map(|(entry, _)| entry)
    }
}

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
    manifest: AssetPath<'static>,
    /// A folder of its own ([`with_asset_root`](Self::with_asset_root)).
    folder: Option<PathBuf>,
    optional: bool,
    /// The reader of a source not served through the app's asset server, made on first use.
    own_reader: OnceLock<Box<dyn ErasedAssetReader>>,
    /// The manifest as read by the source itself, when not served through the app.
    loaded: OnceCell<Result<Arc<PreMadeManifest>, AssetError>>,
    /// The app's asset server and the manifest it loads, when the plugin serves this source.
    link: Arc<AppLink>,
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
    pub fn with_asset_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.folder = Some(dir.into());
        self
    }

    /// A missing manifest means no pre-made media (requests go on to the next source), not an
    /// error: for a chain that serves whatever pre-made media a game ships, if any, as
    /// [`AssetProviderPlugin::default`](crate::AssetProviderPlugin) does.
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
    fn name_of(&self, path: &AssetPath<'_>) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::PlaySession;
    use crate::request::RequestKey;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A fresh directory under the temp dir, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(label: &str) -> Self {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "bevy_asset_provider_premade_{label}_{}_{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).expect("create temp dir");
            Self(dir)
        }

        fn write(&self, relative: &str, bytes: &[u8]) {
            let path = self.0.join(relative);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("create dirs");
            std::fs::write(path, bytes).expect("write file");
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const MANIFEST: &str = r#"{
        "version": 3,
        "assets": [
            {"id": "harbor_dawn", "path": "premade/harbor_dawn.png", "kind": "image",
             "tags": ["loc:harbor", "role:bg"], "author": "ignored"},
            {"id": "lantern_room", "path": "premade/lantern_room.png", "kind": "image",
             "tags": ["loc:lighthouse", "role:bg", "scene:lantern_room"]},
            {"path": "premade/keeper.png", "kind": "image", "tags": ["npc:keeper", "role:char:npc"]},
            {"id": "bell", "path": "premade/bell.wav", "kind": "audio", "tags": ["loc:harbor"]}
        ]
    }"#;

    fn library() -> TempDir {
        let dir = TempDir::new("library");
        dir.write("premade/manifest.json", MANIFEST.as_bytes());
        dir.write("premade/harbor_dawn.png", b"harbor");
        dir.write("premade/lantern_room.png", b"lantern");
        dir.write("premade/keeper.png", b"keeper");
        dir.write("premade/bell.wav", b"bell");
        dir
    }

    fn source_request(request: AssetRequest) -> SourceRequest {
        SourceRequest::new(RequestKey([7; 32]), request, PlaySession::default())
    }

    fn source(dir: &TempDir) -> PreMadeSource {
        PreMadeSource::from_manifest("premade/manifest.json").with_asset_root(&dir.0)
    }

    #[tokio::test]
    async fn scoring_picks_the_best_file() {
        let dir = library();
        let source = source(&dir);
        let cases = [
            (
                AssetRequest::image().location("harbor").tag("role:bg"),
                "harbor",
            ),
            (AssetRequest::image().scene("lantern_room"), "lantern"),
            (AssetRequest::image().location("lighthouse"), "lantern"),
            (AssetRequest::image().character("keeper"), "keeper"),
            (AssetRequest::audio().location("harbor"), "bell"),
        ];
        for (request, expected) in cases {
            let media = source
                .resolve(&source_request(request.clone()))
                .await
                .expect("resolve")
                .unwrap_or_else(|| panic!("no match for {request:?}"));
            assert_eq!(&*media.bytes, expected.as_bytes(), "{request:?}");
        }
        let media = source
            .resolve(&source_request(AssetRequest::image().location("harbor")))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(media.mime, "image/png");
        assert_eq!(media.origin, "pre_made:premade/harbor_dawn.png");
        let bell = source
            .resolve(&source_request(AssetRequest::audio().location("harbor")))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(bell.mime, "audio/wav");
    }

    #[tokio::test]
    async fn no_match_is_none_and_unavailable() {
        let dir = library();
        let source = source(&dir);
        let request = source_request(AssetRequest::image().location("forest"));
        assert!(source.resolve(&request).await.unwrap().is_none());
        assert!(!source.is_available(&request).await);
        let harbor = source_request(AssetRequest::image().location("harbor"));
        assert!(source.is_available(&harbor).await);
        // Kinds never cross: there is no harbor video.
        let video = source_request(AssetRequest::video().location("harbor"));
        assert!(source.resolve(&video).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn asset_id_lookup() {
        let dir = library();
        let source = source(&dir);
        // The id wins over context that would score another entry higher.
        let request = AssetRequest::image()
            .asset_id("lantern_room")
            .location("harbor");
        let media = source
            .resolve(&source_request(request))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&*media.bytes, b"lantern");
        // Same id, wrong kind; and an unknown id: nothing, no fallback to scoring.
        let wrong_kind = AssetRequest::audio().asset_id("lantern_room");
        assert!(
            source
                .resolve(&source_request(wrong_kind))
                .await
                .unwrap()
                .is_none()
        );
        let unknown = AssetRequest::image().asset_id("nope").location("harbor");
        assert!(
            source
                .resolve(&source_request(unknown))
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn malformed_manifest_names_file_and_field() {
        let dir = TempDir::new("malformed");
        dir.write(
            "manifest.json",
            br#"{"assets": [
                {"path": "a.png", "kind": "image"},
                {"path": "b.png", "kind": "image"},
                {"path": "c.png", "kind": "vidoe"}
            ]}"#,
        );
        let source = PreMadeSource::from_manifest("manifest.json").with_asset_root(&dir.0);
        let request = source_request(AssetRequest::image().location("x"));
        let err = source.resolve(&request).await.unwrap_err();
        assert_eq!(err.kind(), AssetErrorKind::InvalidData);
        let full_path = dir.0.join("manifest.json").display().to_string();
        let expected_start =
            format!("pre-made manifest {full_path}: assets[2].kind: unknown variant");
        assert!(
            err.message().starts_with(&expected_start),
            "{}",
            err.message()
        );
        assert!(err.message().contains("line 4 column"), "{}", err.message());
        // The same error, every time, without reading the file again.
        std::fs::remove_file(dir.0.join("manifest.json")).unwrap();
        assert_eq!(source.resolve(&request).await.unwrap_err(), err);
        assert!(!source.is_available(&request).await);
    }

    #[test]
    fn validation_names_the_field() {
        let cases: [(&str, &str); 6] = [
            (
                r#"{"assets": [{"path": "", "kind": "image"}]}"#,
                "assets[0].path: is empty",
            ),
            (
                r#"{"assets": [{"path": "a.png", "kind": "image"}, {"path": "b.png", "kind": "image", "tags": ["loc:x", ""]}]}"#,
                "assets[1].tags[1]: is an empty tag",
            ),
            (
                r#"{"assets": [{"path": "../secret.png", "kind": "image"}]}"#,
                "assets[0].path: ",
            ),
            (
                r#"{"assets": [{"id": "a", "path": "a.png", "kind": "image"}, {"id": "a", "path": "b.png", "kind": "image"}]}"#,
                "assets[1].id: \"a\" is already the id of assets[0]",
            ),
            (
                r#"{"assets": [{"kind": "image"}]}"#,
                "assets[0]: missing field `path`",
            ),
            (r#"{"things": []}"#, "(document): missing field `assets`"),
        ];
        for (json, expected) in cases {
            let err = PreMadeManifest::parse(json.as_bytes(), "/x/manifest.json").unwrap_err();
            assert_eq!(err.kind(), AssetErrorKind::InvalidData);
            let message = err.message();
            assert!(
                message.starts_with(&format!("pre-made manifest /x/manifest.json: {expected}")),
                "{message}"
            );
        }
        let garbage = PreMadeManifest::parse(br#"{"assets": []} trailing"#, "m.json").unwrap_err();
        assert_eq!(garbage.kind(), AssetErrorKind::InvalidData);
    }

    #[tokio::test]
    async fn missing_manifest_is_an_io_error_naming_the_path() {
        let dir = TempDir::new("missing");
        let source = PreMadeSource::from_manifest("premade/none.json").with_asset_root(&dir.0);
        let err = source
            .resolve(&source_request(AssetRequest::image().location("harbor")))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), AssetErrorKind::Io);
        let full_path = dir.0.join("premade/none.json").display().to_string();
        assert!(err.message().contains(&full_path), "{}", err.message());
    }

    #[tokio::test]
    async fn an_optional_source_without_a_manifest_serves_nothing() {
        let dir = TempDir::new("optional");
        let source = PreMadeSource::from_manifest("premade/none.json")
            .with_asset_root(&dir.0)
            .optional();
        let request = source_request(AssetRequest::image().location("harbor"));
        assert!(source.resolve(&request).await.unwrap().is_none());
        assert!(!source.is_available(&request).await);
    }

    #[tokio::test]
    async fn a_named_asset_source_without_an_app_is_an_error_naming_it() {
        let source = PreMadeSource::from_manifest("embedded://premade/manifest.json");
        let err = source
            .resolve(&source_request(AssetRequest::image().location("harbor")))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), AssetErrorKind::Io);
        assert!(err.message().contains("embedded"), "{err}");
    }

    #[tokio::test]
    async fn missing_or_unknown_files_are_errors_naming_the_path() {
        let dir = TempDir::new("files");
        dir.write(
            "manifest.json",
            br#"{"assets": [
                {"path": "gone.png", "kind": "image", "tags": ["loc:a"]},
                {"path": "odd.bmp", "kind": "image", "tags": ["loc:b"]},
                {"path": "sound.wav", "kind": "image", "tags": ["loc:c"]}
            ]}"#,
        );
        dir.write("odd.bmp", b"bmp");
        dir.write("sound.wav", b"wav");
        let source = PreMadeSource::from_manifest("manifest.json").with_asset_root(&dir.0);
        let resolve = |location: &'static str| {
            let request = source_request(AssetRequest::image().location(location));
            let source = &source;
            async move { source.resolve(&request).await.unwrap_err() }
        };
        let gone = resolve("a").await;
        assert_eq!(gone.kind(), AssetErrorKind::Io);
        assert!(
            gone.message()
                .contains(&dir.0.join("gone.png").display().to_string())
        );
        let odd = resolve("b").await;
        assert_eq!(odd.kind(), AssetErrorKind::Unsupported);
        assert!(odd.message().contains("odd.bmp"));
        let mismatch = resolve("c").await;
        assert_eq!(mismatch.kind(), AssetErrorKind::InvalidData);
        assert!(mismatch.message().contains("audio/wav"));
    }

    #[tokio::test]
    async fn shipped_manifest_serves_the_example_story() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        let source = PreMadeSource::from_manifest("premade/manifest.json").with_asset_root(&root);
        let manifest = source.manifest().await.expect("shipped manifest parses");
        assert_eq!(manifest.entries().len(), 3);
        for entry in manifest.entries() {
            let bytes = std::fs::read(root.join(&entry.path)).expect("listed file exists");
            let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
            let info = decoder.read_info().expect("listed file is a PNG");
            assert_eq!(
                (info.info().width, info.info().height),
                (480, 270),
                "{}",
                entry.path
            );
        }
        let cases = [
            (
                AssetRequest::image().scene("harbor").tag("role:bg"),
                "harbor_dawn",
            ),
            (
                AssetRequest::image().asset_id("lantern_room"),
                "lantern_room",
            ),
            (AssetRequest::image().scene("lantern_room"), "lantern_room"),
            (AssetRequest::image().location("cliffs"), "cliffs"),
        ];
        for (request, file) in cases {
            let media = source
                .resolve(&source_request(request))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(media.origin, format!("pre_made:premade/{file}.png"));
        }
    }

    #[tokio::test]
    async fn a_wanted_role_alone_does_not_pick_a_file() {
        let dir = TempDir::new("role_only");
        dir.write(
            "premade/manifest.json",
            br#"{"assets": [{"path": "premade/bg.png", "kind": "image", "tags": ["role:bg"]}]}"#,
        );
        dir.write("premade/bg.png", b"bg");
        let source = PreMadeSource::from_manifest("premade/manifest.json").with_asset_root(&dir.0);
        let request = source_request(AssetRequest::image().scene("elsewhere").tag("role:bg"));
        assert!(source.resolve(&request).await.unwrap().is_none());
    }

    #[test]
    fn a_keyed_entry_serves_its_request_only() {
        let request = AssetRequest::image()
            .scene("boat")
            .location("sea")
            .prompt("oars");
        let key = request.fingerprint(&PlaySession::default()).to_hex();
        let json = format!(
            r#"{{"assets": [
                {{"path": "premade/sea.png", "kind": "image", "tags": ["loc:sea"]}},
                {{"path": "premade/baked/boat.png", "kind": "image", "tags": ["loc:sea", "scene:boat"],
                  "key": "{key}"}}
            ]}}"#
        );
        let manifest = PreMadeManifest::parse(json.as_bytes(), "m.json").unwrap();
        // The key wins over a hand-made file the tags would pick.
        assert_eq!(
            manifest.find(&request).unwrap().path,
            "premade/baked/boat.png"
        );
        // Another prompt, the same tags: not the baked file, whatever its tags score.
        let other = AssetRequest::image()
            .scene("boat")
            .location("sea")
            .prompt("sails");
        assert_eq!(manifest.find(&other).unwrap().path, "premade/sea.png");
        let bad = r#"{"assets": [{"path": "a.png", "kind": "image", "key": "ABC"}]}"#;
        let error = PreMadeManifest::parse(bad.as_bytes(), "m.json").unwrap_err();
        assert!(error.message().contains("assets[0].key"), "{error}");
    }

    #[test]
    fn default_root_is_bevys_assets_folder() {
        let source = PreMadeSource::from_manifest("premade/manifest.json");
        assert_eq!(source.asset_root(), None);
        assert!(
            source
                .name_of(source.manifest_path())
                .ends_with("assets/premade/manifest.json")
        );
        assert_eq!(source.name(), "pre_made");
        assert_eq!(source.kind(), SourceKind::PreMade);
    }
}
