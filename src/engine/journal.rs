//! The run journal: an append-only file of JSON lines (`journal.jsonl`),
//! one event per line, durable before the step it records is taken.
//!
//! The journal is generic over the event type: the engine defines an event
//! enum deriving `Serialize`/`Deserialize` and calls [`Journal::append`] with
//! it *before* each step (the plan; a request's intent before sending it; its
//! task id when accepted; a task's end; a reconciliation). `append` returns
//! only once the line is on disk (`write` + `fdatasync`), so after a crash —
//! `kill -9` at any instant, or a power cut — [`read_journal`] gives back
//! every event whose step may have been taken.
//!
//! A crash can cut the line being written. Only a line ending in `\n` counts:
//! a final fragment without one is a torn write whose `append` never
//! returned, so its step was never taken; [`read_journal`] ignores it and
//! [`Journal::open_append`] cuts it off before appending. Any other line that
//! does not parse is corruption, reported with its line number.
//!
//! # Cost, and group commit
//!
//! Every `append` pays one `fdatasync`. On an SSD that is tens of
//! microseconds to a few milliseconds; on a slow disk or a network file
//! system it can reach 10-20 ms. A run of 1,000 requests journals roughly
//! three events per request (intent, task id, end), so ~3,000 syncs: seconds
//! at worst, against a server that the rate limiter holds to 10 requests a
//! second by default, so the journal is not the bottleneck. When several
//! events become ready together (e.g. the intents of a batch of requests, or
//! the ends of all tasks one poll found finished), [`Journal::append_batch`]
//! writes them with ONE sync, equally durable when it returns. Facts that
//! need no sync of their own go through [`Journal::append_batch_unsynced`]
//! and reach the disk with the next synced append (the engine's rule is in
//! [`crate::engine::recorder`]: one sync per POST). Measured on
//! the development VM's ext4 disk (`cargo bench --bench journal`): 0.18 ms
//! per `append`, so 3,000 events cost about half a second; a batch of 64
//! events costs 0.27 ms in all.
//!
//! # Use from async code
//!
//! `append` blocks on the disk. From a tokio task, call it through
//! `tokio::task::spawn_blocking` (e.g. with the journal in an
//! `Arc<std::sync::Mutex<Journal>>`) or `tokio::task::block_in_place`; only
//! send the request once the call has returned `Ok`.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The journal's file name inside a run directory.
pub const JOURNAL_FILE: &str = "journal.jsonl";

/// An open journal, positioned at its end. Not `Clone`: one writer per file
/// (the run directory's lock guarantees one process).
#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
    /// Complete lines in the file (events written by anyone, so far).
    lines: u64,
    /// Reused line buffer, so appends do not allocate once warm.
    buf: Vec<u8>,
}

impl Journal {
    /// Create a new, empty journal. Fails if `path` already exists, so an
    /// earlier run's journal is never overwritten (resume it instead).
    pub fn create(path: &Path) -> Result<Journal, JournalError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|source| {
                if source.kind() == io::ErrorKind::AlreadyExists {
                    JournalError::Exists {
                        path: path.to_path_buf(),
                    }
                } else {
                    JournalError::io(path, source)
                }
            })?;
        // The new directory entry must survive a crash too.
        if let Some(dir) = path.parent() {
            crate::durable::sync_dir(dir).map_err(|e| JournalError::io(path, e))?;
        }
        Ok(Journal {
            file,
            path: path.to_path_buf(),
            lines: 0,
            buf: Vec::with_capacity(512),
        })
    }

    /// Open an existing journal to append to it (for `--resume`).
    ///
    /// A torn last line left by a crash is cut off first, so the next event
    /// starts on a line of its own. Read the events with [`read_journal`]
    /// before or after; both agree on what the journal holds.
    pub fn open_append(path: &Path) -> Result<Journal, JournalError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| JournalError::io(path, e))?;
        let scan = scan_lines(&mut file).map_err(|e| JournalError::io(path, e))?;
        if scan.complete_len < scan.total_len {
            tracing::warn!(
                journal = %path.display(),
                bytes = scan.total_len - scan.complete_len,
                "the journal's last line was cut off by a crash; removing the fragment \
                 (its step was never taken)"
            );
            file.set_len(scan.complete_len)
                .and_then(|()| file.sync_data())
                .map_err(|e| JournalError::io(path, e))?;
        }
        file.seek(SeekFrom::End(0))
            .map_err(|e| JournalError::io(path, e))?;
        Ok(Journal {
            file,
            path: path.to_path_buf(),
            lines: scan.lines,
            buf: Vec::with_capacity(512),
        })
    }

    /// Append one event and make it durable before returning.
    ///
    /// On error the step must not be taken: the event may or may not be on
    /// disk, and the journal should be dropped (the run stops).
    pub fn append<E: Serialize + ?Sized>(&mut self, event: &E) -> Result<(), JournalError> {
        self.buf.clear();
        serialize_line(&mut self.buf, event).map_err(|e| self.encode_error(e))?;
        self.write_and_sync(1)
    }

    /// Append several events with a single sync: all of them are durable
    /// when it returns `Ok`. (A crash during the call may keep a prefix of
    /// them; none of their steps had been taken, so that is harmless.)
    pub fn append_batch<E: Serialize>(&mut self, events: &[E]) -> Result<(), JournalError> {
        if events.is_empty() {
            return Ok(());
        }
        self.buf.clear();
        for event in events {
            serialize_line(&mut self.buf, event).map_err(|e| self.encode_error(e))?;
        }
        self.write_and_sync(events.len() as u64)
    }

    /// Append several events without waiting for the disk: they are in the
    /// file (a killed process loses nothing) but become durable only with
    /// the next synced append. See [`crate::engine::recorder::Recorder::note_all`].
    pub fn append_batch_unsynced<E: Serialize>(
        &mut self,
        events: &[E],
    ) -> Result<(), JournalError> {
        if events.is_empty() {
            return Ok(());
        }
        self.buf.clear();
        for event in events {
            serialize_line(&mut self.buf, event).map_err(|e| self.encode_error(e))?;
        }
        self.file
            .write_all(&self.buf)
            .map_err(|e| JournalError::io(&self.path, e))?;
        self.lines += events.len() as u64;
        Ok(())
    }

    /// Number of complete lines (events) in the journal.
    pub fn len(&self) -> u64 {
        self.lines
    }

    /// Whether the journal holds no event yet.
    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_and_sync(&mut self, lines: u64) -> Result<(), JournalError> {
        // One write call per append: a concurrent reader (or a crash) sees
        // whole lines plus at most one torn tail.
        self.file
            .write_all(&self.buf)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| JournalError::io(&self.path, e))?;
        self.lines += lines;
        Ok(())
    }

    fn encode_error(&self, source: serde_json::Error) -> JournalError {
        JournalError::Encode {
            path: self.path.clone(),
            cause: source,
        }
    }
}

/// One event as one line: compact JSON (which never contains a raw line
/// break, since JSON escapes them in strings) and `\n`.
fn serialize_line<E: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    event: &E,
) -> Result<(), serde_json::Error> {
    serde_json::to_writer(&mut *buf, event)?;
    buf.push(b'\n');
    Ok(())
}

/// Read every event of a journal, in order.
///
/// A torn last line (no final `\n`) is ignored: see the module docs. Any
/// complete line that is not a valid event is an error naming its line.
/// Blank lines are skipped.
pub fn read_journal<E: DeserializeOwned>(path: &Path) -> Result<Vec<E>, JournalError> {
    read_journal_with_tail(path).map(|(events, _)| events)
}

/// As [`read_journal`], also returning the torn tail's size in bytes, if any,
/// so that the caller can mention it ("the last event was cut off by a crash").
pub fn read_journal_with_tail<E: DeserializeOwned>(
    path: &Path,
) -> Result<(Vec<E>, Option<u64>), JournalError> {
    let file = File::open(path).map_err(|e| JournalError::io(path, e))?;
    let mut reader = BufReader::new(file);
    let mut events = Vec::new();
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| JournalError::io(path, e))?;
        if n == 0 {
            return Ok((events, None));
        }
        if line.last() != Some(&b'\n') {
            // The write of this line never finished: its step was not taken.
            return Ok((events, Some(n as u64)));
        }
        number += 1;
        let text = &line[..line.len() - 1];
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let event = serde_json::from_slice(text).map_err(|source| JournalError::Corrupt {
            path: path.to_path_buf(),
            line: number,
            cause: source,
        })?;
        events.push(event);
    }
}

/// Lengths found by scanning a journal for line ends.
struct LineScan {
    /// Bytes up to and including the last `\n`.
    complete_len: u64,
    total_len: u64,
    /// Complete lines, blank ones included.
    lines: u64,
}

fn scan_lines(file: &mut File) -> io::Result<LineScan> {
    file.seek(SeekFrom::Start(0))?;
    let mut buf = vec![0u8; 64 * 1024];
    let (mut total, mut complete, mut lines) = (0u64, 0u64, 0u64);
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == b'\n' {
                lines += 1;
                complete = total + i as u64 + 1;
            }
        }
        total += n as u64;
    }
    Ok(LineScan {
        complete_len: complete,
        total_len: total,
        lines,
    })
}

/// Why the journal could not be written or read. The messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    // The cause is in the message, so it is not also a `source`: anyhow's
    // `{:#}` would print it twice.
    #[error("journal {}: {cause}", path.display())]
    Io { path: PathBuf, cause: io::Error },
    #[error(
        "journal {} already exists: this run directory belongs to an earlier run; \
         finish that run with `ipimport apply --resume DIR` or choose another --run-dir",
        path.display()
    )]
    Exists { path: PathBuf },
    #[error("journal {}: cannot encode an event: {cause}", path.display())]
    Encode {
        path: PathBuf,
        cause: serde_json::Error,
    },
    #[error(
        "journal {} is damaged at line {line} ({cause}); it cannot be resumed safely. \
         Inspect that line, or start a new apply: it reads the live pool and sends only what is missing",
        path.display()
    )]
    Corrupt {
        path: PathBuf,
        line: u64,
        cause: serde_json::Error,
    },
}

impl JournalError {
    fn io(path: &Path, source: io::Error) -> JournalError {
        JournalError::Io {
            path: path.to_path_buf(),
            cause: source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "event", rename_all = "snake_case")]
    enum Event {
        Plan { requests: u32 },
        Intent { id: u32, range: String },
        Accepted { id: u32, task: String },
    }

    fn events() -> Vec<Event> {
        vec![
            Event::Plan { requests: 2 },
            Event::Intent {
                id: 0,
                range: "198.51.100.0-198.51.100.15".into(),
            },
            Event::Accepted {
                id: 0,
                task: "task-1\nwith \"newline\"".into(),
            },
            Event::Intent {
                id: 1,
                range: "2001:db8::/120".into(),
            },
        ]
    }

    #[test]
    fn appends_and_reads_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let mut journal = Journal::create(&path).unwrap();
        assert!(journal.is_empty());
        let all = events();
        journal.append(&all[0]).unwrap();
        journal.append_batch(&all[1..3]).unwrap();
        journal.append_batch::<Event>(&[]).unwrap();
        journal.append_batch_unsynced(&all[3..4]).unwrap();
        assert_eq!(journal.len(), 4);
        // Unsynced events are in the file at once: a killed process keeps them.
        assert_eq!(read_journal::<Event>(&path).unwrap().len(), 4);
        // One line per event, even with a line break inside a string.
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 4);
        assert!(text.ends_with('\n'));
        assert_eq!(read_journal::<Event>(&path).unwrap(), all);
    }

    #[test]
    fn refuses_to_overwrite_a_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        Journal::create(&path)
            .unwrap()
            .append(&events()[0])
            .unwrap();
        let err = Journal::create(&path).unwrap_err();
        assert!(matches!(err, JournalError::Exists { .. }));
        assert!(err.to_string().contains("--resume"));
        assert_eq!(read_journal::<Event>(&path).unwrap().len(), 1);
    }

    #[test]
    fn tolerates_a_torn_last_line_and_resumes_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let mut journal = Journal::create(&path).unwrap();
        let all = events();
        journal.append_batch(&all).unwrap();
        drop(journal);
        // A kill -9 in the middle of writing the last line.
        let full = std::fs::read(&path).unwrap();
        let last_start = full[..full.len() - 1]
            .iter()
            .rposition(|&b| b == b'\n')
            .unwrap()
            + 1;
        for cut in [last_start + 1, last_start + 10, full.len() - 1] {
            std::fs::write(&path, &full[..cut]).unwrap();
            let (read, tail) = read_journal_with_tail::<Event>(&path).unwrap();
            assert_eq!(read, all[..3], "cut at {cut}");
            assert_eq!(tail, Some((cut - last_start) as u64));
        }
        // Resuming cuts the fragment off, so the next event is a line of its own.
        let mut journal = Journal::open_append(&path).unwrap();
        assert_eq!(journal.len(), 3);
        journal.append(&all[3]).unwrap();
        journal
            .append(&Event::Accepted {
                id: 1,
                task: "task-2".into(),
            })
            .unwrap();
        let read = read_journal::<Event>(&path).unwrap();
        assert_eq!(read.len(), 5);
        assert_eq!(read[..4], all[..]);
        assert_eq!(std::fs::read(&path).unwrap()[..full.len()], full[..]);

        // Killed while writing the very first event: nothing counts, and
        // resuming starts from an empty file.
        std::fs::write(&path, &full[..5]).unwrap();
        assert!(read_journal::<Event>(&path).unwrap().is_empty());
        let mut journal = Journal::open_append(&path).unwrap();
        assert!(journal.is_empty());
        journal.append(&all[0]).unwrap();
        assert_eq!(read_journal::<Event>(&path).unwrap(), all[..1]);
    }

    #[test]
    fn reports_corruption_elsewhere_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let mut journal = Journal::create(&path).unwrap();
        journal.append_batch(&events()).unwrap();
        drop(journal);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines[1] = "{\"event\":\"intent\",\"id\":";
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let err = read_journal::<Event>(&path).unwrap_err();
        match &err {
            JournalError::Corrupt { line, .. } => assert_eq!(*line, 2),
            other => panic!("expected corruption, got {other}"),
        }
        assert!(err.to_string().contains("damaged at line 2"), "{err}");
        // A complete but unparsable LAST line is corruption too, not a torn write.
        lines[1] = "{\"event\":\"plan\",\"requests\":2}";
        lines[3] = "{\"event\":\"launch\"}";
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        match read_journal::<Event>(&path).unwrap_err() {
            JournalError::Corrupt { line, .. } => assert_eq!(line, 4),
            other => panic!("expected corruption, got {other}"),
        }
    }

    #[test]
    fn empty_and_blank_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        Journal::create(&path).unwrap();
        assert!(read_journal::<Event>(&path).unwrap().is_empty());
        std::fs::write(&path, "{\"event\":\"plan\",\"requests\":1}\n\n").unwrap();
        assert_eq!(read_journal::<Event>(&path).unwrap().len(), 1);
        let missing = dir.path().join("nope.jsonl");
        assert!(matches!(
            read_journal::<Event>(&missing).unwrap_err(),
            JournalError::Io { .. }
        ));
    }
}
