//! Files of an OCI layout that may be hostile: reads that never block (a FIFO planted as a blob
//! or as `index.json` is refused, not waited on), content checked against its digest, writes
//! that never follow a planted symlink, and one writer of `index.json` at a time.

use super::StoreError;
use crate::model::digest::Digest;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// A failure on a layout file, said in words.
pub(super) fn err(path: &Path, message: impl Into<String>) -> StoreError {
    StoreError::Layout {
        path: path.display().to_string(),
        message: message.into(),
        source: None,
    }
}

/// An I/O failure on a layout file, its cause kept.
pub(super) fn io_err(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Layout {
        path: path.display().to_string(),
        message: e.to_string(),
        source: Some(e),
    }
}

/// Opens a regular file for reading without blocking on anything else (a FIFO or a device
/// would hang the reader forever).
pub fn open_regular(p: &Path) -> Result<std::fs::File, StoreError> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(p)
        .map_err(|e| io_err(p, e))?;
    let meta = f.metadata().map_err(|e| io_err(p, e))?;
    if !meta.is_file() {
        return Err(err(p, "not a regular file; refusing to read it"));
    }
    Ok(f)
}

/// Whether `p` is a regular file (without opening it).
pub fn is_regular(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file())
}

/// Reads a regular file of at most `limit` bytes.
pub fn read_limited(p: &Path, limit: usize) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    open_regular(p)?
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| io_err(p, e))?;
    if out.len() > limit {
        return Err(err(p, format!("larger than the {limit}-byte limit")));
    }
    Ok(out)
}

/// Reads a blob and checks it against its digest; an algorithm we cannot check is refused
/// (content nobody verified is never used).
pub fn read_verified(p: &Path, digest: &Digest, limit: usize) -> Result<Vec<u8>, StoreError> {
    let bytes = read_limited(p, limit)?;
    match digest.verify(&bytes) {
        Some(true) => Ok(bytes),
        Some(false) => Err(err(
            p,
            format!(
                "content does not match digest {digest} (it hashes to {})",
                Digest::sha256(&bytes)
            ),
        )),
        None => Err(err(
            p,
            format!(
                "digest algorithm {:?} cannot be verified; refusing its content",
                digest.algorithm()
            ),
        )),
    }
}

/// Refuses a layout whose `blobs`, `blobs/<alg>` or `index.json` is a symlink that leads out of
/// the layout directory: writes there would land anywhere the user can write.
pub fn check_confined(dir: &Path) -> Result<(), StoreError> {
    let root = dir.canonicalize().map_err(|e| io_err(dir, e))?;
    let mut paths = vec![dir.join("index.json"), dir.join("blobs")];
    if let Ok(algs) = std::fs::read_dir(dir.join("blobs")) {
        paths.extend(algs.flatten().map(|e| e.path()));
    }
    for p in paths {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if !meta.file_type().is_symlink() {
            continue;
        }
        let target = p.canonicalize().map_err(|e| io_err(&p, e))?;
        if !target.starts_with(&root) {
            return Err(err(
                &p,
                format!(
                    "is a symlink out of the layout (to {}); refusing to use this layout",
                    target.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Writes `bytes` to `p` atomically: a new temporary file with a random name, created only if
/// nothing is there (a planted symlink is never followed), synced, then renamed over `p`.
pub fn write_atomic(p: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = p.parent().ok_or_else(|| err(p, "no parent directory"))?;
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("x");
    let tmp = dir.join(format!(
        ".{name}.referrify-{}-{:016x}.tmp",
        std::process::id(),
        fastrand::u64(..)
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, p)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_err(p, e)
    })
}

/// Held while one process reads, changes and writes a layout's `index.json`: two runs on one
/// layout take turns instead of dropping each other's entries. The lock file stays (removing
/// it would race the next holder).
pub struct IndexLock {
    _file: std::fs::File,
}

/// Waits for the layout's `index.json` lock.
pub fn lock_index(dir: &Path) -> Result<IndexLock, StoreError> {
    let p: PathBuf = dir.join(".referrify.lock");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&p)
        .map_err(|e| io_err(&p, e))?;
    file.lock().map_err(|e| io_err(&p, e))?;
    Ok(IndexLock { _file: file })
}
