//! The run directory of an `apply`: where its journal and reports live, and
//! the lock that keeps a second `apply` out of it.
//!
//! ```text
//! ipimport-runs/20261203T171500Z-3f9a1c/
//!   lock            held (flock) by the apply using the directory; holds its pid
//!   journal.jsonl   every step, written before it is taken (engine::journal)
//!   report.json     the contract's report (report::RunReport)
//!   report.csv      one line per input row
//!   report.md       the report for a person
//! ```
//!
//! The engine calls [`RunDir::create`] for a new run (`--run-dir DIR` or the
//! default `./ipimport-runs/<UTC timestamp>-<short id>`) and
//! [`RunDir::open_existing`] for `--resume DIR`. Both take the lock first and
//! keep it for as long as the [`RunDir`] lives; a second apply on the same
//! directory gets exit code 4. The lock is an OS file lock (`flock`), so it
//! is released when the process ends in any way, `kill -9` included: a killed
//! run can be resumed at once, with no stale lock to remove by hand.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use fs4::{FileExt, TryLockError};

use crate::durable::sync_dir;
use crate::engine::journal::{JOURNAL_FILE, Journal, JournalError};
use crate::exit::{Exit, fatal};

/// Directory under which default run directories are created.
pub const DEFAULT_RUNS_DIR: &str = "ipimport-runs";
/// The lock file's name inside a run directory.
pub const LOCK_FILE: &str = "lock";

/// A run directory, locked for the life of this value.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    run_id: String,
    _lock: RunLock,
}

/// Refuse a path that is not the run directory of an earlier apply (exit 2),
/// saying what to give instead.
pub fn check_is_run_dir(path: &Path) -> anyhow::Result<()> {
    if !path.is_dir() {
        return Err(fatal(
            Exit::Invalid,
            format!(
                "run directory {} does not exist; give the directory an earlier apply wrote",
                path.display()
            ),
        ));
    }
    if !path.join(JOURNAL_FILE).is_file() {
        return Err(fatal(
            Exit::Invalid,
            format!(
                "{} has no {JOURNAL_FILE}: it is not the run directory of an apply, \
                 or that apply stopped before planning; start a new apply instead",
                path.display()
            ),
        ));
    }
    Ok(())
}

impl RunDir {
    /// Create and lock the run directory of a new run.
    ///
    /// `requested` is `--run-dir` when given: it is created if missing and
    /// may already exist, but must not hold a journal (that is an earlier
    /// run: resume it or choose another directory). Without it, a fresh
    /// `./ipimport-runs/<UTC timestamp>-<short id>` is made. Errors exit 2,
    /// or 4 when another apply holds the lock.
    pub fn create(requested: Option<&Path>, now: DateTime<Utc>) -> anyhow::Result<RunDir> {
        let path = match requested {
            Some(path) => path.to_path_buf(),
            None => Path::new(DEFAULT_RUNS_DIR).join(new_run_id(now)),
        };
        fs::create_dir_all(&path).map_err(|e| {
            fatal(
                Exit::Invalid,
                format!(
                    "cannot create run directory {}: {e}; choose another with --run-dir",
                    path.display()
                ),
            )
        })?;
        // Make the new directory's entry durable before anything is journaled in it.
        if let Some(parent) = path.parent() {
            let _ = sync_dir(parent);
        }
        let lock = RunLock::acquire(&path)?;
        if path.join(JOURNAL_FILE).exists() {
            return Err(fatal(
                Exit::Invalid,
                format!(
                    "run directory {} already holds the journal of an earlier run; \
                     finish that run with `ipimport apply --resume {}` or choose another --run-dir",
                    path.display(),
                    path.display()
                ),
            ));
        }
        Ok(RunDir::new(path, lock))
    }

    /// Lock the run directory of an interrupted run, for `--resume`.
    ///
    /// The directory must exist and hold a journal. Errors exit 2, or 4 when
    /// another apply holds the lock.
    pub fn open_existing(path: &Path) -> anyhow::Result<RunDir> {
        check_is_run_dir(path)?;
        let lock = RunLock::acquire(path)?;
        Ok(RunDir::new(path.to_path_buf(), lock))
    }

    fn new(path: PathBuf, lock: RunLock) -> RunDir {
        let run_id = run_id_of(&path);
        RunDir {
            path,
            run_id,
            _lock: lock,
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The run's id: the directory's name (`20261203T171500Z-3f9a1c` by default).
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// `journal.jsonl` in the directory.
    pub fn journal_path(&self) -> PathBuf {
        self.path.join(JOURNAL_FILE)
    }

    /// `report.json` in the directory.
    pub fn report_json_path(&self) -> PathBuf {
        self.path.join(crate::report::REPORT_JSON)
    }

    /// Start the journal of a new run (fails if one exists).
    pub fn create_journal(&self) -> Result<Journal, JournalError> {
        Journal::create(&self.journal_path())
    }

    /// Open the journal of an interrupted run to append to it; read its
    /// events with [`crate::engine::journal::read_journal`] on
    /// [`RunDir::journal_path`].
    pub fn open_journal(&self) -> Result<Journal, JournalError> {
        Journal::open_append(&self.journal_path())
    }

    /// Write (or replace) `report.json`, `report.csv` and `report.md`.
    pub fn write_reports(&self, report: &crate::report::RunReport) -> io::Result<()> {
        crate::report::write_run_reports(&self.path, report)
    }
}

/// A fresh run id: `<UTC timestamp>-<6 hex digits>`, e.g. `20261203T171500Z-3f9a1c`.
///
/// The timestamp sorts runs by start; the random suffix keeps two runs
/// started in the same second (cron and a person) apart.
pub fn new_run_id(now: DateTime<Utc>) -> String {
    let random = uuid::Uuid::new_v4().as_u128();
    format!(
        "{}-{:06x}",
        now.format("%Y%m%dT%H%M%SZ"),
        random & 0xff_ffff
    )
}

/// The run id of a directory: its last path component.
fn run_id_of(path: &Path) -> String {
    let absolute = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    absolute
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| absolute.display().to_string())
}

/// The exclusive lock of a run directory. Released on drop, or by the OS
/// when the process dies.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

impl RunLock {
    /// Take the lock of `dir` (which must exist), writing our pid into it.
    ///
    /// Fails with exit code 4 ([`Exit::Locked`]) naming the holder's pid when
    /// another process — or another handle in this one — holds it.
    pub fn acquire(dir: &Path) -> anyhow::Result<RunLock> {
        let path = dir.join(LOCK_FILE);
        // Not truncated on open: until we hold the lock, the pid in it is the holder's.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| {
                fatal(
                    Exit::Invalid,
                    format!("cannot open lock file {}: {e}", path.display()),
                )
            })?;
        match FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = read_pid(&mut file)
                    .map(|pid| format!("pid {pid}"))
                    .unwrap_or_else(|| "pid unknown".to_string());
                return Err(fatal(
                    Exit::Locked,
                    format!(
                        "run directory {} is in use by another apply ({holder}); wait for it \
                         to finish, or stop it (it can be resumed later with \
                         `ipimport apply --resume {}`), or choose another --run-dir",
                        dir.display(),
                        dir.display()
                    ),
                ));
            }
            Err(TryLockError::Error(e)) => {
                return Err(fatal(
                    Exit::Invalid,
                    format!(
                        "cannot lock {}: {e}; the run directory must be on a file system \
                         that supports file locks",
                        path.display()
                    ),
                ));
            }
        }
        write_pid(&mut file).map_err(|e| {
            fatal(
                Exit::Invalid,
                format!("cannot write lock file {}: {e}", path.display()),
            )
        })?;
        Ok(RunLock { file, path })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Clear the pid while still holding the lock, then let go. (The file
        // stays: removing it would race with a process that just opened it.)
        let _ = self.file.set_len(0);
        let _ = FileExt::unlock(&self.file);
    }
}

fn write_pid(file: &mut File) -> io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    writeln!(file, "{}", std::process::id())?;
    file.flush()
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::classify;
    use std::process::{Command, Stdio};

    /// Env var telling the child-process helper test what to do.
    const CHILD_ENV: &str = "IPIMPORT_TEST_LOCK_CHILD";

    fn now() -> DateTime<Utc> {
        "2026-12-03T17:15:00Z".parse().unwrap()
    }

    #[test]
    fn run_ids_sort_by_time_and_differ() {
        let a = new_run_id(now());
        let b = new_run_id(now());
        assert_eq!(a.len(), "20261203T171500Z-3f9a1c".len());
        assert!(a.starts_with("20261203T171500Z-"));
        assert!(a[17..].chars().all(|c| c.is_ascii_hexdigit()));
        // 1 in 16 million to collide.
        assert_ne!(a, b);
        let later = new_run_id("2026-12-03T17:15:01Z".parse().unwrap());
        assert!(later > a);
    }

    #[test]
    fn second_lock_in_the_same_process_fails_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path()).unwrap();
        let pid = fs::read_to_string(first.path()).unwrap();
        assert_eq!(pid.trim(), std::process::id().to_string());
        let err = RunLock::acquire(dir.path()).unwrap_err();
        assert_eq!(classify(&err), Exit::Locked);
        let message = err.to_string();
        assert!(
            message.contains(&format!(
                "in use by another apply (pid {})",
                std::process::id()
            )),
            "{message}"
        );
        // The failed attempt must not have wiped the holder's pid.
        assert_eq!(fs::read_to_string(first.path()).unwrap(), pid);
        drop(first);
        let again = RunLock::acquire(dir.path()).unwrap();
        drop(again);
    }

    #[test]
    fn run_dir_create_and_resume_hold_the_lock() {
        let base = tempfile::tempdir().unwrap();
        let path = base.path().join("runs").join("one");
        let run = RunDir::create(Some(&path), now()).unwrap();
        assert_eq!(run.run_id(), "one");
        assert!(path.join(LOCK_FILE).is_file());
        // Neither a new apply nor a resume may enter while it is held.
        assert_eq!(
            classify(&RunDir::create(Some(&path), now()).unwrap_err()),
            Exit::Locked
        );
        run.create_journal().unwrap().append(&"plan").unwrap();
        assert_eq!(
            classify(&RunDir::open_existing(&path).unwrap_err()),
            Exit::Locked
        );
        drop(run);
        // Afterwards: a new apply is refused (a journal is there), a resume is welcome.
        let err = RunDir::create(Some(&path), now()).unwrap_err();
        assert_eq!(classify(&err), Exit::Invalid);
        assert!(err.to_string().contains("--resume"), "{err}");
        let resumed = RunDir::open_existing(&path).unwrap();
        assert_eq!(resumed.journal_path(), path.join(JOURNAL_FILE));
        assert_eq!(resumed.open_journal().unwrap().len(), 1);
    }

    #[test]
    fn resume_needs_a_run_directory() {
        let base = tempfile::tempdir().unwrap();
        let missing = base.path().join("missing");
        let err = RunDir::open_existing(&missing).unwrap_err();
        assert_eq!(classify(&err), Exit::Invalid);
        assert!(err.to_string().contains("does not exist"));
        let err = RunDir::open_existing(base.path()).unwrap_err();
        assert_eq!(classify(&err), Exit::Invalid);
        assert!(err.to_string().contains("journal.jsonl"), "{err}");
    }

    /// Run this test binary again as a child doing `mode` on `dir`.
    fn child(mode: &str, dir: &Path) -> Command {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "engine::rundir::tests::lock_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{mode}:{}", dir.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
        cmd
    }

    /// Not a test on its own: the child side of the cross-process tests
    /// below. Without the environment variable it does nothing.
    #[test]
    fn lock_child_process() {
        let Ok(spec) = std::env::var(CHILD_ENV) else {
            return;
        };
        let (mode, dir) = spec.split_once(':').unwrap();
        match mode {
            "try" => match RunLock::acquire(Path::new(dir)) {
                Ok(_) => println!("CHILD acquired"),
                Err(e) => println!("CHILD exit={} {e}", classify(&e).code()),
            },
            "hold" => {
                let _lock = RunLock::acquire(Path::new(dir)).unwrap();
                println!("CHILD holding");
                // Hold until killed (or the parent closes stdin).
                let mut sink = String::new();
                let _ = io::stdin().read_to_string(&mut sink);
            }
            other => panic!("unknown mode {other}"),
        }
    }

    /// Start `cmd` and return it with its first `CHILD ...` message, waiting
    /// at most 30 s (the child is killed and the test fails after that).
    /// libtest prints the test's name on the same line first, hence `find`.
    fn start_child(mut cmd: Command) -> (std::process::Child, String) {
        let mut process = cmd.spawn().unwrap();
        let stdout = process.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in io::BufRead::lines(io::BufReader::new(stdout)) {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("CHILD ") {
                    let _ = tx.send(line[at..].to_string());
                    // Keep draining so the child never blocks on a full pipe.
                }
            }
        });
        match rx.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(message) => (process, message),
            Err(e) => {
                let _ = process.kill();
                let _ = process.wait();
                panic!("the child process said nothing useful ({e})");
            }
        }
    }

    /// Run a `try` child to its end and return its message.
    fn child_output(cmd: Command) -> String {
        let (mut process, message) = start_child(cmd);
        drop(process.stdin.take());
        process.wait().unwrap();
        message
    }

    #[test]
    fn another_process_is_refused_while_held() {
        let dir = tempfile::tempdir().unwrap();
        let lock = RunLock::acquire(dir.path()).unwrap();
        let line = child_output(child("try", dir.path()));
        assert!(line.starts_with("CHILD exit=4 "), "{line}");
        assert!(
            line.contains(&format!("(pid {})", std::process::id())),
            "{line}"
        );
        drop(lock);
        assert_eq!(child_output(child("try", dir.path())), "CHILD acquired");
    }

    #[test]
    fn a_killed_holder_releases_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let (mut holder, said) = start_child(child("hold", dir.path()));
        let child_pid = holder.id();
        assert_eq!(said, "CHILD holding");
        let err = RunLock::acquire(dir.path()).unwrap_err();
        assert_eq!(classify(&err), Exit::Locked);
        assert!(
            err.to_string().contains(&format!("(pid {child_pid})")),
            "{err}"
        );
        // SIGKILL: no destructor runs, the OS drops the lock.
        holder.kill().unwrap();
        holder.wait().unwrap();
        let lock = RunLock::acquire(dir.path()).unwrap();
        assert_eq!(
            fs::read_to_string(lock.path()).unwrap().trim(),
            std::process::id().to_string()
        );
    }
}
