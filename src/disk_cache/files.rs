//! The cache directory's files: content-addressed blobs, written atomically through `tmp/`.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::row::is_sha256_hex;
use crate::error::AssetError;

/// Where everything lives under the cache directory.
#[derive(Clone, Debug)]
pub(super) struct Layout {
    pub root: PathBuf,
    pub blobs: PathBuf,
    pub tmp: PathBuf,
    pub index: PathBuf,
}

impl Layout {
    pub fn new(root: PathBuf) -> Self {
        Self {
            blobs: root.join("blobs"),
            tmp: root.join("tmp"),
            index: root.join("index.redb"),
            root,
        }
    }

    /// Creates the directory and its `blobs/` and `tmp/` folders.
    pub fn create(&self) -> Result<(), AssetError> {
        for dir in [&self.root, &self.blobs, &self.tmp] {
            fs::create_dir_all(dir).map_err(|e| {
                AssetError::io(format!(
                    "cannot create disk cache directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        Ok(())
    }

    /// The fan-out folder of a blob: the first two hex digits of its name.
    fn fan_dir(&self, sha256: &str) -> PathBuf {
        self.blobs.join(sha256.get(..2).unwrap_or("00"))
    }

    /// `blobs/<first two hex digits>/<sha256>`.
    pub fn blob_path(&self, sha256: &str) -> PathBuf {
        self.fan_dir(sha256).join(sha256)
    }

    /// Writes `bytes` as the blob `sha256`: into a temporary file, synced, then renamed into
    /// place, so the blob path only ever holds complete bytes.
    pub fn write_blob(&self, sha256: &str, bytes: &[u8], tmp_name: &str) -> Result<(), AssetError> {
        let fan = self.fan_dir(sha256);
        let dest = fan.join(sha256);
        let tmp = self.tmp.join(tmp_name);
        let result = (|| -> io::Result<()> {
            if !fan.is_dir() {
                fs::create_dir_all(&fan)?;
                sync_dir(&self.blobs);
            }
            let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            drop(file);
            fs::rename(&tmp, &dest)?;
            sync_dir(&fan);
            Ok(())
        })();
        result.map_err(|e| {
            // Best effort: a leftover is also removed on the next open.
            let _ = fs::remove_file(&tmp);
            AssetError::io(format!("cannot write blob {}: {e}", dest.display()))
        })
    }

    /// Deletes the blob `sha256`; a blob already gone is fine.
    pub fn remove_blob(&self, sha256: &str) {
        // A blob that cannot be deleted now is an orphan, removed on the next open.
        let _ = fs::remove_file(self.blob_path(sha256));
    }

    /// Empties `tmp/`: anything there is from a write that never finished.
    pub fn clean_tmp(&self) -> Result<(), AssetError> {
        let entries = fs::read_dir(&self.tmp)
            .map_err(|e| AssetError::io(format!("cannot read {}: {e}", self.tmp.display())))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            if let Err(e) = removed
                && e.kind() != io::ErrorKind::NotFound
            {
                return Err(AssetError::io(format!(
                    "cannot remove stale temporary file {}: {e}",
                    path.display()
                )));
            }
        }
        Ok(())
    }

    /// Checks that files can be created in the directory, so an unwritable one fails at open
    /// rather than at the first put.
    pub fn probe_writable(&self, name: &str) -> Result<(), AssetError> {
        let probe = self.tmp.join(name);
        let result = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&probe)
            .and_then(|mut file| file.write_all(b"probe"))
            .and_then(|()| fs::remove_file(&probe));
        result.map_err(|e| {
            AssetError::io(format!(
                "disk cache directory {} is not writable: {e}",
                self.root.display()
            ))
        })
    }

    /// The names of the blobs on disk. Files in the fan-out folders that are not blobs, or are
    /// not in `keep`, are deleted: they are left from writes whose index row was never committed
    /// or from deletes that did not finish.
    pub fn sweep_blobs(&self, keep: &HashSet<&str>) -> Result<HashSet<String>, AssetError> {
        let mut present = HashSet::new();
        let fans = fs::read_dir(&self.blobs)
            .map_err(|e| AssetError::io(format!("cannot read {}: {e}", self.blobs.display())))?;
        for fan in fans.flatten() {
            let fan_name = fan.file_name();
            let Some(fan_name) = fan_name.to_str() else {
                continue;
            };
            // Only the two-hex-digit folders are ours; leave anything else alone.
            let hex_pair = fan_name.len() == 2
                && fan_name
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            if !hex_pair || !fan.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let Ok(files) = fs::read_dir(fan.path()) else {
                continue;
            };
            for file in files.flatten() {
                let name = file.file_name();
                let name = name.to_str().unwrap_or_default();
                let ours = is_sha256_hex(name)
                    && name.starts_with(fan_name)
                    && file.file_type().is_ok_and(|t| t.is_file());
                if ours && keep.contains(name) {
                    present.insert(name.to_owned());
                } else if file.file_type().is_ok_and(|t| t.is_file()) {
                    let _ = fs::remove_file(file.path());
                }
            }
        }
        Ok(present)
    }
}

/// Flushes a directory's entries (a created or renamed file) to disk where the platform allows
/// opening a directory; elsewhere, and on file systems that refuse, the rename stands as is.
pub(super) fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(dir) = fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}
