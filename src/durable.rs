//! Durable file writes: replace a file atomically and make it survive a crash.
//!
//! Shared by the run directory (reports) and the simulator (`--state`), which
//! both promise that a reader, or a process restarted after `kill -9`, sees the
//! old file or the new one, never half of one.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Write `path` through a temporary file in the same directory, synced, then
/// renamed over `path`: readers and crashes see the old file or the new one,
/// never half of one. The temporary name carries the pid; it is removed when
/// writing fails. Call [`sync_dir`] afterwards to make the rename durable.
pub fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let file = File::create(&tmp)?;
        let mut out = io::BufWriter::new(file);
        fill(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Make the entries of `dir` (a new file, a rename) durable. A no-op where
/// directories cannot be opened (non-Unix).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}
