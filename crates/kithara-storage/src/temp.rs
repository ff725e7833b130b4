#![forbid(unsafe_code)]
//! Temp files beside a target, later renamed over it: the one way this crate
//! replaces a file atomically (range records, the next generation of a
//! rewritten file).
//!
//! A temp is `<dir>/.<name>.<random>.<purpose>`: in the target's directory
//! (so the rename is atomic), hidden, unique (6 random characters, retried on
//! collision), and created exclusively without following a symlink already at
//! that name (`O_CREAT | O_EXCL | O_NOFOLLOW`), with mode 0666 less the umask
//! like any other file the process creates. Until it is renamed into place,
//! dropping it deletes it.
//!
//! What a replacement replaces is decided by [`replaced`]: a symlink at the
//! path is kept and its target replaced; a file with several hard links is
//! refused; the replaced file's permission bits (and, where permitted, its
//! owner and group) carry over to the replacement.
//!
//! Extension points: the random names come from `tempfile` (which retries on
//! collision); a sweep of temps left by a killed process can match
//! `.<name>.*.<purpose>` in the target's directory.

use std::{
    ffi::OsString,
    fs::{self, File},
    io,
    path::{Path, PathBuf},
};

use crate::{
    error::{refusal, IoContext},
    sys, StorageError, StorageResult,
};

/// A temp file's name, deleted on drop unless [`persist`](Self::persist)ed.
#[derive(Debug)]
pub(crate) struct TempName {
    path: tempfile::TempPath,
}

impl TempName {
    /// The temp's current path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the temp over `target` (atomically replacing it).
    ///
    /// # Errors
    /// `Io` (`rename`) naming `target`, with the temp's name handed back.
    pub(crate) fn persist(self, target: &Path) -> Result<(), (StorageError, TempName)> {
        self.path.persist(target).map_err(|e| {
            let err = StorageError::io(e.error, "rename", Some(target.to_path_buf()));
            (err, TempName { path: e.path })
        })
    }
}

impl TempName {
    /// Moves the temp to `target` only if nothing is there: the one way a
    /// file this crate shares with other processes (the live region) is
    /// created, so it appears whole, and never replaces one in use.
    ///
    /// # Errors
    /// `AlreadyExists` if something is at `target` (the temp is deleted).
    pub(crate) fn persist_new(self, target: &Path) -> std::io::Result<()> {
        self.path.persist_noclobber(target).map_err(|e| e.error)
    }
}

/// The directory a temp for `target` goes in (and whose entries a rename
/// onto `target` changes).
pub(crate) fn dir_of(target: &Path) -> &Path {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Creates a new temp file beside `target` for `purpose` (a short tag such as
/// `ranges`); returns the open file and its name.
///
/// # Errors
/// `Io` (`open`) naming the directory.
pub(crate) fn create_beside(target: &Path, purpose: &str) -> StorageResult<(File, TempName)> {
    let dir = dir_of(target);
    let mut prefix = OsString::from(".");
    prefix.push(target.file_name().unwrap_or_default());
    prefix.push(".");
    let suffix = format!(".{purpose}");
    let named = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(&suffix)
        .rand_bytes(6)
        .make_in(dir, sys::create_new)
        .ctx("open", dir)?;
    let (file, path) = named.into_parts();
    Ok((file, TempName { path }))
}

/// The file a replacement for a path is renamed over, and what is there now.
#[derive(Debug)]
pub(crate) struct Replaced {
    /// Where the replacement goes: the path, or the file a symlink there
    /// points to.
    pub(crate) target: PathBuf,
    /// The file being replaced, if there is one.
    existing: Option<fs::Metadata>,
}

impl Replaced {
    /// Gives `replacement` (a temp made beside [`target`](Self::target)) the
    /// permission bits of the replaced file, and its owner and group where
    /// this process may (see [`sys::copy_owner_and_mode`]). A new file keeps
    /// the umask's mode.
    ///
    /// # Errors
    /// `Io` (`fchmod`) naming `at` (the replacement's path).
    pub(crate) fn carry_over(&self, replacement: &File, at: &Path) -> StorageResult<()> {
        match &self.existing {
            Some(meta) => sys::copy_owner_and_mode(meta, replacement).ctx("fchmod", at),
            None => Ok(()),
        }
    }
}

/// What replacing the file at `path` by renaming a new one over it means:
///
/// - a symlink at `path` stays a symlink: its target is replaced (the
///   replacement is made beside the target), as writing through the link
///   would;
/// - a file with more than one hard link is refused with `EMLINK`: renaming
///   over one name would leave the other names with the old contents,
///   silently splitting what was linked on purpose.
///
/// # Errors
/// `Io`: `realpath` for a symlink that leads nowhere, `stat`, or the
/// `EMLINK` refusal (`rename`).
pub(crate) fn replaced(path: &Path) -> StorageResult<Replaced> {
    let is_link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let target = if is_link {
        fs::canonicalize(path).ctx("realpath", path)?
    } else {
        path.to_path_buf()
    };
    let existing = match fs::symlink_metadata(&target) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(StorageError::io(e, "stat", Some(target))),
    };
    if let Some(meta) = &existing {
        let (_, links) = sys::owner_and_links(meta);
        if links > 1 {
            let why = format!(
                "it has {links} hard links: replacing it would leave the other names \
                 with the old contents"
            );
            return Err(StorageError::io(
                refusal(sys::EMLINK, why),
                "rename",
                Some(path.to_path_buf()),
            ));
        }
    }
    Ok(Replaced { target, existing })
}

/// `<path><suffix>`, e.g. the record `<path>.ranges`.
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temps_are_unique_hidden_beside_the_target_and_deleted_on_drop() {
        let dir = tempfile::TempDir::new().unwrap();
        let target = dir.path().join("song.mp4");
        let (_a, name_a) = create_beside(&target, "next").unwrap();
        let (_b, name_b) = create_beside(&target, "next").unwrap();
        assert_ne!(name_a.path(), name_b.path());
        assert_eq!(name_a.path().parent(), Some(dir.path()));
        let file_name = name_a
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(file_name.starts_with(".song.mp4.") && file_name.ends_with(".next"));
        let kept = name_b.path().to_path_buf();
        drop(name_a);
        assert!(!dir.path().join(&file_name).exists());
        name_b.persist(&target).map_err(|(e, _)| e).unwrap();
        assert!(target.exists() && !kept.exists());
    }

    #[cfg(unix)]
    #[test]
    fn temps_follow_the_umask_and_refuse_a_planted_symlink() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::TempDir::new().unwrap();
        let target = dir.path().join("f");
        let (file, _name) = create_beside(&target, "t").unwrap();
        // Not tempfile's 0600: 0666 less the umask, like the data file itself.
        let mode = file.metadata().unwrap().permissions().mode() & 0o777;
        let data = File::create(dir.path().join("plain")).unwrap();
        assert_eq!(mode, data.metadata().unwrap().permissions().mode() & 0o777);
        // A symlink at the exact name is never followed or reused.
        let planted = dir.path().join("planted");
        std::os::unix::fs::symlink(dir.path().join("victim"), &planted).unwrap();
        let err = sys::create_new(&planted).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert!(!dir.path().join("victim").exists());
    }
}
