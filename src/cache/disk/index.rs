//! Opening the index database, and starting over when it is not one.

use std::io;
use std::path::Path;

use redb::{Database, DatabaseError, StorageError};

use crate::error::AssetError;

/// Opens the index, starting over with an empty one when the file is not a readable database.
pub(super) fn open_index(path: &Path) -> Result<Database, AssetError> {
    let open_err = |e: DatabaseError| match e {
        DatabaseError::DatabaseAlreadyOpen => AssetError::io(format!(
            "disk cache index {} is already open (another cache or process uses this directory)",
            path.display()
        )),
        e => AssetError::io(format!(
            "cannot open disk cache index {}: {e}",
            path.display()
        )),
    };
    match Database::create(path) {
        Ok(db) => Ok(db),
        Err(e) if is_unreadable_index(&e) => {
            // The index is only a cache's bookkeeping: losing it costs re-fetching, which beats
            // refusing to start. The orphaned blobs are removed when the new index loads.
            let aside = path.with_extension("redb.corrupt");
            std::fs::rename(path, &aside).map_err(|rename| {
                AssetError::io(format!(
                    "disk cache index {} is unreadable ({e}) and cannot be moved aside: {rename}",
                    path.display()
                ))
            })?;
            Database::create(path).map_err(open_err)
        }
        Err(e) => Err(open_err(e)),
    }
}

fn is_unreadable_index(error: &DatabaseError) -> bool {
    match error {
        DatabaseError::UpgradeRequired(_) => true,
        DatabaseError::Storage(StorageError::Corrupted(_)) => true,
        DatabaseError::Storage(StorageError::Io(e)) => {
            matches!(
                e.kind(),
                io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
            )
        }
        _ => false,
    }
}
