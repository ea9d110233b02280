//! Reading the files a user names (config, Containerfile, ignore files, `ver`,
//! go.mod) and our own caches, and creating logs, without ever blocking on or
//! writing through something that is not a plain file.
//!
//! Every read goes through [`open_regular`]: it opens with `O_NONBLOCK` (so
//! opening a FIFO with no writer returns at once instead of waiting for one)
//! and then checks the *opened* file with `fstat`, so there is no window
//! between the check and the read in which the path could be swapped.

use anyhow::{anyhow, Result};
use std::fs::{File, FileType};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// What a non-regular file is, for the error message.
fn kind_of(t: FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a named pipe (FIFO)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "a special file"
    }
}

/// The one-sentence refusal for a path that is not a regular file.
fn not_regular(what: &str, path: &Path, t: FileType) -> anyhow::Error {
    anyhow!(
        "{what} {} is {}, not a regular file: point it at a regular file",
        path.display(),
        kind_of(t)
    )
}

/// Opens `path` (following symlinks) for reading if it is a regular file.
/// `what` names it in errors ("the config", "the Containerfile").
/// `Ok(None)` when it does not exist.
pub(crate) fn open_regular_if_exists(path: &Path, what: &str) -> Result<Option<File>> {
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path);
    let file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        // A socket cannot be opened at all (ENXIO): say what it is.
        Err(e) => match std::fs::metadata(path) {
            Ok(m) if !m.is_file() => return Err(not_regular(what, path, m.file_type())),
            _ => return Err(anyhow!("cannot read {what} {}: {e}", path.display())),
        },
    };
    let meta = file
        .metadata()
        .map_err(|e| anyhow!("cannot read {what} {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(not_regular(what, path, meta.file_type()));
    }
    // O_NONBLOCK means nothing for a regular file's reads; it stays set.
    Ok(Some(file))
}

/// [`open_regular_if_exists`], with a missing file an error.
pub(crate) fn open_regular(path: &Path, what: &str) -> Result<File> {
    open_regular_if_exists(path, what)?
        .ok_or_else(|| anyhow!("cannot read {what} {}: it does not exist", path.display()))
}

/// The whole text of a regular file; `Ok(None)` when it does not exist.
pub(crate) fn read_text_if_exists(path: &Path, what: &str) -> Result<Option<String>> {
    let Some(mut f) = open_regular_if_exists(path, what)? else {
        return Ok(None);
    };
    let mut text = String::new();
    f.read_to_string(&mut text)
        .map_err(|e| anyhow!("cannot read {what} {}: {e}", path.display()))?;
    Ok(Some(text))
}

/// The whole text of a regular file.
pub(crate) fn read_text(path: &Path, what: &str) -> Result<String> {
    read_text_if_exists(path, what)?
        .ok_or_else(|| anyhow!("cannot read {what} {}: it does not exist", path.display()))
}

/// The whole contents of a regular file.
pub(crate) fn read_bytes(path: &Path, what: &str) -> Result<Vec<u8>> {
    let mut f = open_regular(path, what)?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)
        .map_err(|e| anyhow!("cannot read {what} {}: {e}", path.display()))?;
    Ok(bytes)
}

/// Checks without reading that `path`, if it exists, is a regular file
/// (for files another program reads: ssh's `-F` and `-i`).
pub(crate) fn check_regular_if_exists(path: &Path, what: &str) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => Err(not_regular(what, path, m.file_type())),
        _ => Ok(()),
    }
}

/// Creates a new file for writing, refusing to follow a symlink or to reuse
/// an existing file (`O_CREAT|O_EXCL|O_NOFOLLOW`): a planted link cannot make
/// us overwrite its target. Mode 0600: logs may hold a build's output.
pub(crate) fn create_new_private(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn mkfifo(path: &Path) {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates a node.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    }

    #[test]
    fn a_fifo_is_refused_at_once() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("goapp.yaml");
        mkfifo(&p);
        let started = Instant::now();
        let err = read_text(&p, "the config").unwrap_err().to_string();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(
            err,
            format!(
                "the config {} is a named pipe (FIFO), not a regular file: point it at a regular file",
                p.display()
            )
        );
        assert!(read_text_if_exists(&p, "x").is_err());
        assert!(check_regular_if_exists(&p, "x").is_err());
    }

    #[test]
    fn directories_missing_and_regular_files() {
        let d = tempfile::tempdir().unwrap();
        let err = read_text(d.path(), "the Containerfile")
            .unwrap_err()
            .to_string();
        assert!(err.contains("is a directory, not a regular file"), "{err}");
        let missing = d.path().join("nope");
        assert!(read_text_if_exists(&missing, "x").unwrap().is_none());
        assert!(check_regular_if_exists(&missing, "x").is_ok());
        let err = read_text(&missing, "go.mod").unwrap_err().to_string();
        assert!(err.ends_with("nope: it does not exist"), "{err}");
        let f = d.path().join("f");
        std::fs::write(&f, "text").unwrap();
        assert_eq!(read_text(&f, "x").unwrap(), "text");
        assert_eq!(read_bytes(&f, "x").unwrap(), b"text");
        // Through a symlink to a regular file: fine.
        std::os::unix::fs::symlink(&f, d.path().join("l")).unwrap();
        assert_eq!(read_text(&d.path().join("l"), "x").unwrap(), "text");
        let err = read_text(Path::new("/dev/null"), "x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("a character device"), "{err}");
    }

    #[test]
    fn create_new_private_never_follows_a_symlink() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("victim");
        std::fs::write(&target, "keep").unwrap();
        let link = d.path().join("x.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(create_new_private(&link).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        // A dangling link is refused too (O_EXCL).
        let dangling = d.path().join("y.log");
        std::os::unix::fs::symlink(d.path().join("absent"), &dangling).unwrap();
        assert!(create_new_private(&dangling).is_err());
        assert!(!d.path().join("absent").exists());
        assert!(create_new_private(&d.path().join("new.log")).is_ok());
    }
}

/// Writes `bytes` to `path` atomically (a temporary file beside it, synced,
/// then renamed over it): a concurrent reader sees the old file or the new
/// one, never half of it. Makes the directory when it is missing.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Whether files can be written in `dir` (made when missing): a small
/// file is written, synced and removed, so a read-only or full file system
/// says so before anything depends on it.
pub(crate) fn check_writable(dir: &Path) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let mut probe = tempfile::NamedTempFile::new_in(dir)?;
    probe.write_all(&[0u8; 16 * 1024])?;
    probe.as_file().sync_all()?;
    Ok(())
}

/// `body` with a last line `sha256 <hex of body>`: a cache file that
/// proves itself ([`unseal`]).
pub(crate) fn seal(body: &str) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "{body}sha256 {}\n",
        crate::core::hex(&Sha256::digest(body.as_bytes()))
    )
}

/// The body of a [`seal`]ed text, or why it does not prove itself
/// (truncated, edited, or written by an older version).
pub(crate) fn unseal(text: &str) -> std::result::Result<&str, &'static str> {
    use sha2::{Digest, Sha256};
    let body_end = match text.trim_end_matches('\n').rfind('\n') {
        Some(i) => i + 1,
        None => 0,
    };
    let (body, last) = text.split_at(body_end);
    let sum = last
        .trim_end_matches('\n')
        .strip_prefix("sha256 ")
        .ok_or("it is truncated or from an older version")?;
    if crate::core::hex(&Sha256::digest(body.as_bytes())) != sum {
        return Err("its checksum does not match: truncated or edited");
    }
    Ok(body)
}

#[cfg(test)]
mod sealed {
    use super::*;

    #[test]
    fn a_sealed_text_proves_itself() {
        let t = seal("a 1\nb 2\n");
        assert_eq!(unseal(&t), Ok("a 1\nb 2\n"));
        assert_eq!(unseal(&seal("")), Ok(""));
        assert!(unseal(&t[..t.len() - 3]).is_err(), "truncated");
        assert!(unseal(&t.replace("a 1", "a 7")).is_err(), "edited");
        assert!(unseal("a 1\n").is_err(), "not sealed");
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x/y.txt");
        write_atomic(&p, t.as_bytes()).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), t);
    }
}
