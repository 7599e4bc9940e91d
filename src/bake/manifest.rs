//! The pre-made manifest as the bake edits it: baked entries added, replaced or kept; every
//! other entry, and every field the bake does not know, left exactly as written.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::AssetError;
use crate::files::write_atomically;
use crate::json::parse_strict;
use crate::request::MediaKind;
use crate::source::PreMadeManifest;

/// A manifest entry the bake wrote: the pre-made source's fields (`path`, `kind`, `tags`, `key`)
/// and where the file came from (`baked`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BakedEntry {
    /// The file, relative to the asset root.
    pub path: String,
    /// The kind of media it holds.
    pub kind: MediaKind,
    /// The context tags of the request it was made for (location, character, scene, choice,
    /// role and the request's own tags), as the pre-made scoring reads them.
    pub tags: Vec<String>,
    /// The key of the request it was made for (64 hex digits): the pre-made source serves it
    /// to that request only.
    pub key: String,
    /// Where it came from.
    pub baked: Provenance,
}

/// Where a baked file came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The bake's stable name for the request ([`BakeTarget::slot`](crate::bake::BakeTarget)).
    pub slot: String,
    /// The source that served it (`pixsim`, `local_generator`, `disk_cache`, ...).
    pub source: String,
    /// The source's own account of it (a generation's URL without secrets, a file path).
    pub origin: String,
    /// The backend's generation id, when a backend made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_id: Option<String>,
    /// The backend's asset id, when a backend made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_id: Option<String>,
    /// The request's prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The request's seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The request's style parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<Value>,
    /// The file's SHA-256 (64 hex digits); a re-bake keeps the file while it matches.
    pub sha256: String,
    /// The file's size in bytes.
    pub bytes: u64,
    /// When it was baked (RFC 3339, UTC).
    pub date: String,
}

/// The manifest file being edited: its JSON as read, with the baked entries in it.
pub(crate) struct ManifestDocument {
    path: PathBuf,
    root: Map<String, Value>,
}

impl ManifestDocument {
    /// Reads the manifest at `path` (an empty one when the file does not exist), checked as
    /// the pre-made source checks it.
    pub fn read(path: &Path) -> Result<Self, AssetError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let mut root = Map::new();
                root.insert("assets".into(), Value::Array(Vec::new()));
                return Ok(Self {
                    path: path.to_owned(),
                    root,
                });
            }
            Err(error) => {
                return Err(AssetError::io(format!(
                    "pre-made manifest {}: cannot read: {error}",
                    path.display()
                )));
            }
        };
        PreMadeManifest::parse(&bytes, path)?;
        // It parsed as a manifest, so it is an object with an `assets` array.
        let root = match parse_strict::<Value>(&bytes) {
            Ok(Value::Object(root)) => root,
            _ => {
                return Err(AssetError::invalid_data(format!(
                    "pre-made manifest {}: (document): expected an object",
                    path.display()
                )));
            }
        };
        Ok(Self {
            path: path.to_owned(),
            root,
        })
    }

    /// The manifest as the pre-made source reads it.
    pub fn parsed(&self) -> Result<PreMadeManifest, AssetError> {
        PreMadeManifest::parse(&self.to_bytes(), &self.path)
    }

    fn assets(&self) -> &[Value] {
        self.root
            .get("assets")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    fn assets_mut(&mut self) -> &mut Vec<Value> {
        let assets = self
            .root
            .entry("assets")
            .or_insert_with(|| Value::Array(Vec::new()));
        if !assets.is_array() {
            *assets = Value::Array(Vec::new());
        }
        match assets {
            Value::Array(assets) => assets,
            _ => unreachable!("made an array above"),
        }
    }

    /// The entries the bake wrote (those with a readable `baked` record); hand-written entries
    /// are not among them.
    pub fn baked(&self) -> Vec<BakedEntry> {
        self.assets()
            .iter()
            .filter(|entry| entry.get("baked").is_some())
            .filter_map(|entry| BakedEntry::deserialize(entry).ok())
            .collect()
    }

    /// Where the baked entry that `entry` would replace (of the same slot or key) is.
    fn position_of(&self, entry: &BakedEntry) -> Option<usize> {
        self.assets().iter().position(|existing| {
            BakedEntry::deserialize(existing)
                .is_ok_and(|old| old.baked.slot == entry.baked.slot || old.key == entry.key)
        })
    }

    /// The baked entry that [`upsert`](Self::upsert)ing `entry` would replace, if any.
    pub fn replaced_by(&self, entry: &BakedEntry) -> Option<BakedEntry> {
        self.position_of(entry)
            .and_then(|at| BakedEntry::deserialize(&self.assets()[at]).ok())
    }

    /// Adds `entry`, in place of the baked entry of the same slot or key if there is one,
    /// which is returned.
    pub fn upsert(&mut self, entry: &BakedEntry) -> Result<Option<BakedEntry>, AssetError> {
        let value = serde_json::to_value(entry).map_err(|error| {
            AssetError::invalid_data(format!("baked entry {}: {error}", entry.baked.slot))
        })?;
        let same = self.position_of(entry);
        let assets = self.assets_mut();
        Ok(match same {
            Some(at) => {
                let old = BakedEntry::deserialize(&assets[at]).ok();
                assets[at] = value;
                old
            }
            None => {
                assets.push(value);
                None
            }
        })
    }

    /// Whether any entry names the file `path`.
    pub fn names_file(&self, path: &str) -> bool {
        self.assets()
            .iter()
            .any(|entry| entry.get("path").and_then(Value::as_str) == Some(path))
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(&self.root).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Writes the manifest atomically (a temporary file, synced, renamed over it), after
    /// checking that the pre-made source will read it.
    pub fn save(&self) -> Result<(), AssetError> {
        let bytes = self.to_bytes();
        PreMadeManifest::parse(&bytes, &self.path)?;
        write_atomically(&self.path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(slot: &str, key: char) -> BakedEntry {
        BakedEntry {
            path: format!("premade/baked/{slot}.png"),
            kind: MediaKind::Image,
            tags: vec!["scene:s".into()],
            key: key.to_string().repeat(64),
            baked: Provenance {
                slot: slot.into(),
                source: "local_generator".into(),
                origin: "local".into(),
                generation_id: None,
                asset_id: None,
                prompt: Some("p".into()),
                seed: None,
                style: None,
                sha256: "0".repeat(64),
                bytes: 3,
                date: "2026-01-01T00:00:00Z".into(),
            },
        }
    }

    #[test]
    fn hand_written_entries_and_unknown_fields_are_kept() {
        let dir = std::env::temp_dir().join(format!("bap-bake-manifest-{}", std::process::id()));
        let path = dir.join("manifest.json");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            &path,
            r#"{"version": 3, "assets": [{"id": "h", "path": "premade/h.png", "kind": "image",
                "tags": ["loc:h"], "author": "Ann"}]}"#,
        )
        .unwrap();
        let mut document = ManifestDocument::read(&path).unwrap();
        assert!(document.baked().is_empty());
        assert_eq!(document.upsert(&entry("a", 'a')).unwrap(), None);
        assert_eq!(document.upsert(&entry("b", 'b')).unwrap(), None);
        // The same slot with a new key replaces its entry.
        let replaced = document.upsert(&entry("a", 'c')).unwrap().unwrap();
        assert_eq!(replaced.key, "a".repeat(64));
        document.save().unwrap();

        let again = ManifestDocument::read(&path).unwrap();
        let slots: Vec<_> = again
            .baked()
            .into_iter()
            .map(|e| (e.baked.slot, e.key))
            .collect();
        assert_eq!(
            slots,
            [
                ("a".to_owned(), "c".repeat(64)),
                ("b".to_owned(), "b".repeat(64))
            ]
        );
        let raw: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(raw["version"], 3);
        assert_eq!(raw["assets"][0]["author"], "Ann");
        assert!(again.names_file("premade/h.png"));
        let parsed = again.parsed().unwrap();
        assert_eq!(parsed.entries().len(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_manifest_is_empty_and_a_broken_one_is_named() {
        let dir =
            std::env::temp_dir().join(format!("bap-bake-manifest-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = ManifestDocument::read(&dir.join("none.json")).unwrap();
        assert!(missing.baked().is_empty());
        let path = dir.join("broken.json");
        std::fs::write(&path, r#"{"assets": [{"path": "", "kind": "image"}]}"#).unwrap();
        let error = ManifestDocument::read(&path).err().unwrap();
        assert!(error.message().contains("assets[0].path"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
