//! Files the crate writes whole (baked media, manifests, recordings): their SHA-256, and
//! replacing them atomically.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::error::AssetError;

/// `bytes`' SHA-256 as 64 lowercase hex digits.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, synced, then renamed over
/// it, so a reader (or a crash) sees the old file or the new one, never half of one. Its folder
/// is made if missing, and synced after the rename where folders can be.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), AssetError> {
    // Writers of one file in one process (concurrent recordings of the same media) each get
    // their own temporary file.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let fail = |what: &str, error: std::io::Error| {
        AssetError::io(format!("{}: cannot {what}: {error}", path.display())).with_source(error)
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|error| fail("create its folder", error))?;
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(fail("write", error));
    }
    if let Err(error) = std::fs::rename(&temp, path) {
        let _ = std::fs::remove_file(&temp);
        return Err(fail("replace", error));
    }
    if let Ok(folder) = std::fs::File::open(dir) {
        let _ = folder.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_replace_whole_files() {
        let dir = std::env::temp_dir().join(format!("bap-files-{}", std::process::id()));
        let path = dir.join("nested/file.bin");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let leftovers = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
