//! The pre-made manifest: its entries, read and checked, and which entry serves a request.

use bevy::asset::Asset;
use bevy::reflect::TypePath;
use serde::Deserialize;
use std::path::{Component, Path};

use crate::error::AssetError;
use crate::json::parse_strict;
use crate::request::{AssetRequest, MediaKind, PlaySession, RequestKey};
use crate::source::scoring::{MIN_CONTEXT_SCORE, MatchCriteria, best_match};

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
    /// A malformed manifest is an [`InvalidData`](crate::AssetErrorKind::InvalidData) error
    /// whose message names the file and the field (`assets[2].kind: unknown variant ...`, with
    /// serde's line and column).
    /// Beyond the JSON's shape, every `path` must be non-empty and relative without `..` (it
    /// stays under the asset root), every tag and `id` non-empty, and ids unique.
    pub fn parse(bytes: &[u8], path_for_errors: impl AsRef<Path>) -> Result<Self, AssetError> {
        let file = path_for_errors.as_ref();
        let parsed: ManifestFile =
            parse_strict(bytes).map_err(|error| error.in_file("pre-made manifest", file))?;
        for (i, entry) in parsed.assets.iter().enumerate() {
            check_entry(entry, &parsed.assets[..i]).map_err(|(field, problem)| {
                AssetError::invalid_data(format!(
                    "pre-made manifest {}: assets[{i}]{field}: {problem}",
                    file.display()
                ))
            })?;
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

impl PreMadeManifest {
    /// The entry of `kind`, without a `key`, whose tags score best against `tags` (each a
    /// required tag, the first `role:` tag the wanted role; see
    /// [`MatchCriteria::from_request`]); earlier entries win ties, and a score of 0 is no match.
    /// What a [`Fallback::PreMadeTags`](crate::Fallback::PreMadeTags) shows.
    pub fn find_by_tags(&self, kind: MediaKind, tags: &[String]) -> Option<&PreMadeEntry> {
        let criteria =
            MatchCriteria::from_request(&AssetRequest::new(kind).tags(tags.iter().cloned()));
        let candidates = self
            .entries
            .iter()
            .filter(|entry| entry.kind == kind && entry.key.is_none())
            .map(|entry| (entry, entry.tags.as_slice()));
        best_match(candidates, &criteria).map(|(entry, _)| entry)
    }
}

/// What is wrong with `entry`, listed after `earlier`: the field under the entry (`.path`,
/// `.tags[2]`) and the problem.
fn check_entry(entry: &PreMadeEntry, earlier: &[PreMadeEntry]) -> Result<(), (String, String)> {
    let fail = |field: &str, problem: String| Err((field.to_owned(), problem));
    if entry.path.trim().is_empty() {
        return fail(".path", "is empty".into());
    }
    let relative = Path::new(&entry.path);
    let escapes = relative.is_absolute()
        || relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    if escapes {
        return fail(
            ".path",
            format!(
                "{:?} must be relative to the asset root, without `..`",
                entry.path
            ),
        );
    }
    if let Some(j) = entry.tags.iter().position(|tag| tag.trim().is_empty()) {
        return fail(&format!(".tags[{j}]"), "is an empty tag".into());
    }
    if let Some(key) = &entry.key
        && (key.len() != 64 || !key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
    {
        return fail(
            ".key",
            "must be a request key: 64 lowercase hex digits".into(),
        );
    }
    if let Some(id) = &entry.id {
        if id.trim().is_empty() {
            return fail(".id", "is empty".into());
        }
        if let Some(first) = earlier
            .iter()
            .position(|other| other.id.as_ref() == Some(id))
        {
            return fail(
                ".id",
                format!("{id:?} is already the id of assets[{first}]"),
            );
        }
    }
    Ok(())
}
