//! Backups of the database: a consistent copy of the whole file (`VACUUM INTO`), made while the bot keeps
//! serving from the other connections.

use super::queries;
use diesel::SqliteConnection;
use std::path::{Path, PathBuf};

/// What [`backup`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupOutcome {
    Created {
        path: PathBuf,
        /// The copy's size, so the caller can report it without reading the file again.
        bytes: u64,
    },
    /// Something is already there; it was left alone.
    Exists,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// SQLite takes the path as text.
    #[error("the backup path {0} is not valid UTF-8")]
    NotUtf8(String),
    #[error("the backup was written but cannot be read: {0}")]
    Unreadable(std::io::Error),
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
}

/// Writes a copy of the database to `target`, which must not exist. Blocks for as long as the copy takes.
/// Cannot run inside a transaction.
pub fn backup(conn: &mut SqliteConnection, target: &Path) -> Result<BackupOutcome, BackupError> {
    // SQLite would also overwrite an existing empty file; a dangling symlink counts as existing.
    if std::fs::symlink_metadata(target).is_ok() {
        return Ok(BackupOutcome::Exists);
    }
    let Some(path) = target.to_str() else {
        return Err(BackupError::NotUtf8(target.display().to_string()));
    };
    queries::vacuum_into(conn, path)?;
    let bytes = std::fs::metadata(target)
        .map(|m| m.len())
        .map_err(BackupError::Unreadable)?;
    Ok(BackupOutcome::Created {
        path: target.to_path_buf(),
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db;

    #[test]
    fn a_backup_is_written_once_and_an_existing_file_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let pool = db::open(&dir.path().join("b.db"), 1).unwrap();
        let mut conn = pool.get().unwrap();
        let target = dir.path().join("copy.db");

        let made = backup(&mut conn, &target).unwrap();
        let again = backup(&mut conn, &target).unwrap();

        let bytes = std::fs::metadata(&target).unwrap().len();
        assert_eq!(
            made,
            BackupOutcome::Created {
                path: target.clone(),
                bytes
            }
        );
        assert!(bytes > 0);
        assert_eq!(again, BackupOutcome::Exists);
    }
}
