//! The cache directory's files: content-addressed blobs, written atomically through `tmp/`,
//! and the tag that marks the directory as a cache. Only files with the names the cache gives
//! are ever deleted.

use std::collections::{HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::row::is_sha256_hex;
use crate::error::AssetError;

/// The name of the tag file (<https://bford.info/cachedir/>): backup tools skip the directory,
/// and the cache knows it as its own.
pub(super) const TAG_NAME: &str = "CACHEDIR.TAG";

/// The line after the standard signature that says this cache wrote the tag.
const TAG_OWNER: &str = "# This file is a cache directory tag created by bevy_asset_provider.";

/// The tag's content: the standard signature first.
const TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by bevy_asset_provider.\n\
# For information about cache directory tags, see https://bford.info/cachedir/\n";

/// Where everything lives under the cache directory.
#[derive(Clone, Debug)]
pub(super) struct Layout {
    pub root: PathBuf,
    pub blobs: PathBuf,
    pub tmp: PathBuf,
    pub index: PathBuf,
    pub tag: PathBuf,
}

impl Layout {
    pub fn new(root: PathBuf) -> Self {
        Self {
            blobs: root.join("blobs"),
            tmp: root.join("tmp"),
            index: root.join("index.redb"),
            tag: root.join(TAG_NAME),
            root,
        }
    }

    /// Checks that the directory is the cache's to use: missing, empty, tagged as this cache's,
    /// or holding nothing but the cache's own files (a cache made before the tag existed).
    /// Anything else (a home directory, a project folder) is refused, so nothing in it is ever
    /// touched.
    pub fn check_owned(&self) -> Result<(), AssetError> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(AssetError::io(format!(
                    "cannot read disk cache directory {}: {e}",
                    self.root.display()
                )));
            }
        };
        let mut has_index = false;
        let mut empty = true;
        let mut foreign = None;
        for entry in entries.flatten() {
            empty = false;
            let name = entry.file_name();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            match name.to_str() {
                Some(TAG_NAME) if self.is_tagged() => return Ok(()),
                Some("index.redb") if !is_dir => has_index = true,
                Some("index.redb.corrupt") if !is_dir => {}
                Some("blobs" | "tmp") if is_dir => {}
                _ => {
                    foreign.get_or_insert(name);
                }
            }
        }
        if empty || (has_index && foreign.is_none()) {
            return Ok(());
        }
        let example = foreign.map_or_else(String::new, |name| format!(" (such as {name:?})"));
        Err(AssetError::io(format!(
            "disk cache directory {} holds files that are not the cache's{example} and no \
             {TAG_NAME} of this cache: refusing to use it; choose an empty or new directory",
            self.root.display()
        )))
    }

    /// Whether the directory carries this cache's tag.
    fn is_tagged(&self) -> bool {
        // The tag is a few lines; a larger file is not ours.
        fs::metadata(&self.tag).is_ok_and(|meta| meta.is_file() && meta.len() < 4096)
            && fs::read_to_string(&self.tag).is_ok_and(|text| {
                text.starts_with("Signature: 8a477f597d28d172789f06886806bc55")
                    && text.lines().any(|line| line == TAG_OWNER)
            })
    }

    /// Writes the tag unless it is there.
    fn write_tag(&self) -> Result<(), AssetError> {
        if self.is_tagged() {
            return Ok(());
        }
        fs::write(&self.tag, TAG).map_err(|e| {
            AssetError::io(format!(
                "disk cache directory {} is not writable: {e}",
                self.root.display()
            ))
        })
    }

    /// Creates the directory, tags it, and creates its `blobs/` and `tmp/` folders: the tag
    /// comes first, so a directory the cache made is known as its own from then on.
    pub fn create(&self) -> Result<(), AssetError> {
        let create = |dir: &Path| {
            fs::create_dir_all(dir).map_err(|e| {
                AssetError::io(format!(
                    "cannot create disk cache directory {}: {e}",
                    dir.display()
                ))
            })
        };
        create(&self.root)?;
        self.write_tag()?;
        create(&self.blobs)?;
        create(&self.tmp)
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

    /// Removes the cache's own files from `tmp/` (`<pid>-<n>.tmp` and `probe-<pid>`): they are
    /// from writes that never finished. Anything else there is left alone.
    pub fn clean_tmp(&self) -> Result<(), AssetError> {
        let entries = fs::read_dir(&self.tmp)
            .map_err(|e| AssetError::io(format!("cannot read {}: {e}", self.tmp.display())))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let ours = entry.file_type().is_ok_and(|t| t.is_file())
                && entry.file_name().to_str().is_some_and(is_tmp_name);
            if !ours {
                continue;
            }
            if let Err(e) = fs::remove_file(&path)
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

    /// The names of the blobs on disk, with their sizes. Blobs not in `keep` are deleted: they are left from writes
    /// whose index row was never committed or from deletes that did not finish. Files that are
    /// not named as blobs are left alone.
    pub fn sweep_blobs(&self, keep: &HashSet<&str>) -> Result<HashMap<String, u64>, AssetError> {
        let mut present = HashMap::new();
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
                if !ours {
                    continue;
                }
                if keep.contains(name) {
                    let size = file.metadata().map_or(u64::MAX, |meta| meta.len());
                    present.insert(name.to_owned(), size);
                } else {
                    let _ = fs::remove_file(file.path());
                }
            }
        }
        Ok(present)
    }
}

/// Whether `name` is one the cache gives files in `tmp/`: `<pid>-<n>.tmp` or `probe-<pid>`.
fn is_tmp_name(name: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(pid) = name.strip_prefix("probe-") {
        return digits(pid);
    }
    name.strip_suffix(".tmp")
        .and_then(|stem| stem.split_once('-'))
        .is_some_and(|(pid, n)| digits(pid) && digits(n))
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
