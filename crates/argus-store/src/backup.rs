//! Rolling backups next to the database, and restoring one.
//!
//! Backups are full copies made with `VACUUM INTO` (consistent even while the
//! app writes), named `backup-<unix ms>.sqlite` in `<database>.backups/` so
//! their names sort by age.

use std::path::{Path, PathBuf};

use crate::{Error, Result, store::now_ms};

/// The backup folder of the database at `db`.
pub fn dir(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".backups");
    db.with_file_name(name)
}

pub(crate) fn next_name(db: &Path) -> PathBuf {
    let dir = dir(db);
    let ms = now_ms();
    let mut path = dir.join(format!("backup-{ms:013}.sqlite"));
    let mut n = 1;
    while path.exists() {
        path = dir.join(format!("backup-{ms:013}-{n:03}.sqlite"));
        n += 1;
    }
    path
}

/// All backups of `db`, oldest first.
pub fn list(db: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir(db)) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("backup-") && n.ends_with(".sqlite")))
        .collect();
    found.sort();
    found
}

/// The newest backup of `db`, if any.
pub fn newest(db: &Path) -> Option<PathBuf> {
    list(db).pop()
}

pub(crate) fn prune(db: &Path, keep: usize) -> Result<()> {
    let all = list(db);
    let excess = all.len().saturating_sub(keep);
    for old in all.into_iter().take(excess) {
        std::fs::remove_file(&old).map_err(|source| Error::Io { action: "remove an old backup", path: old.clone(), source })?;
    }
    Ok(())
}

/// Replaces the (damaged) database at `db` with `backup`. The damaged file is
/// kept beside it as `<name>.damaged-<unix ms>` for inspection. Call this
/// only while no [`crate::Store`] has `db` open. Returns the damaged file's
/// new path.
pub fn restore(db: &Path, backup: &Path) -> Result<PathBuf> {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".damaged-{}", now_ms()));
    let damaged = db.with_file_name(name);
    if db.exists() {
        std::fs::rename(db, &damaged).map_err(|source| Error::Io { action: "move the damaged database aside", path: db.to_path_buf(), source })?;
    }
    for suffix in ["-wal", "-shm"] {
        let mut side = db.as_os_str().to_os_string();
        side.push(suffix);
        let side = PathBuf::from(side);
        if side.exists() {
            let mut to = damaged.as_os_str().to_os_string();
            to.push(suffix);
            std::fs::rename(&side, PathBuf::from(to)).map_err(|source| Error::Io { action: "move the damaged journal aside", path: side.clone(), source })?;
        }
    }
    std::fs::copy(backup, db).map_err(|source| Error::Io { action: "copy the backup into place", path: backup.to_path_buf(), source })?;
    Ok(damaged)
}
