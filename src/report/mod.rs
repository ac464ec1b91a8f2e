//! The run report: what an `apply` did, row by row and request by request.
//!
//! [`RunReport`] is the contract's `report.json`, field for field; it
//! serializes to exactly those keys and deserializes from them, so `ipimport
//! report` can render a finished run again in any [`ReportFormat`]. The engine
//! builds one at the end of a run (or of an interrupted one) and hands it to
//! [`write_run_reports`], which writes `report.json`, `report.csv` and
//! `report.md` into the run directory, each atomically.
//!
//! Row statuses are facts about the pool, not guesses from task results:
//! [`row_status`] (or [`row_outcome`], which also says what is missing)
//! decides a row's status from the pool before the run and the pool at its end.
//!
//! Renderers, one file each: [`json`], [`csv`], [`markdown`], [`junit`],
//! [`html`]; [`render`] picks one by format.

pub mod csv;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::durable::{sync_dir, write_atomically};
use crate::range::IpRange;

/// The formats `ipimport report` renders (defined with the command line).
pub use crate::cli::ReportFormat;

/// File names of the reports `apply` writes into its run directory.
pub const REPORT_JSON: &str = "report.json";
/// See [`REPORT_JSON`].
pub const REPORT_CSV: &str = "report.csv";
/// See [`REPORT_JSON`].
pub const REPORT_MD: &str = "report.md";

/// A whole run's report: the contract's `report.json`.
///
/// Times are UTC and serialize as RFC 3339 (`2026-12-03T17:15:00.123Z`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The run's id: the run directory's name, e.g. `20261203T171500Z-3f9a1c`.
    pub run_id: String,
    /// The Enterprise Manager URL the run talked to (with `/api`).
    pub server: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Whether this report was written by `apply --resume`.
    pub resumed: bool,
    pub summary: Summary,
    /// One entry per input row, valid or not, in input order.
    pub rows: Vec<RowReport>,
    /// One entry per request the run made (or meant to make), in plan order.
    pub requests: Vec<RequestReport>,
}

impl RunReport {
    /// Whether every row is `created` or `present`: the contract's "every
    /// row ok" (exit 0).
    pub fn all_rows_ok(&self) -> bool {
        self.rows.iter().all(|row| row.status.is_ok())
    }
}

/// Totals of a run. Address counts are exact (`u128`), the rest `u64`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Data rows read from every input (not headers, blank or `#` lines).
    pub rows_total: u64,
    /// Rows rejected by validation.
    pub rows_invalid: u64,
    /// Rows `created` or `present`.
    pub rows_ok: u64,
    /// Rows `failed`. (`skipped` rows count in none of the three above.)
    pub rows_failed: u64,
    /// Ranges left after merging the valid rows.
    pub ranges_merged: u64,
    /// Addresses of all merged ranges.
    pub addresses_desired: u128,
    /// Of those, addresses already in the pool before the run.
    pub addresses_present: u128,
    /// Addresses this run added to the pool.
    pub addresses_created: u128,
    /// Desired addresses still missing from the pool at the end.
    pub addresses_failed: u128,
    pub requests_submitted: u64,
    pub tasks_succeeded: u64,
    pub tasks_failed: u64,
    pub task_polls: u64,
    pub http_requests: u64,
    pub retries: u64,
    /// Wall-clock seconds of the run (of this invocation when resumed).
    pub duration_s: f64,
}

impl Summary {
    /// The address and request counters, labelled for a person: the part of
    /// the summary table the Markdown and HTML reports share.
    pub fn counter_lines(&self) -> [(&'static str, String); 8] {
        let s = self;
        [
            ("merged ranges", s.ranges_merged.to_string()),
            ("addresses desired", s.addresses_desired.to_string()),
            ("addresses already present", s.addresses_present.to_string()),
            ("addresses created", s.addresses_created.to_string()),
            (
                "addresses missing at the end",
                s.addresses_failed.to_string(),
            ),
            ("requests submitted", s.requests_submitted.to_string()),
            ("tasks succeeded", s.tasks_succeeded.to_string()),
            ("tasks failed", s.tasks_failed.to_string()),
        ]
    }

    /// Set `rows_total`, `rows_invalid`, `rows_ok` and `rows_failed` from the
    /// rows' statuses, so the totals cannot disagree with the rows.
    pub fn tally_rows(&mut self, rows: &[RowReport]) {
        let counts = RowCounts::of(rows);
        self.rows_total = rows.len() as u64;
        self.rows_invalid = counts.invalid;
        self.rows_ok = counts.created + counts.present;
        self.rows_failed = counts.failed;
    }
}

/// What happened to one input row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowReport {
    /// The input it came from (path, or `-` for standard input).
    pub source: String,
    /// Its line (CSV/YAML) or row (spreadsheet) in that input.
    pub line: u64,
    /// The backup server as the row named it (or the default), or its uid.
    pub backup_server: String,
    /// First address as text; for an invalid row, whatever could be read.
    pub first: String,
    /// Last address as text (equal to `first` for a single address).
    pub last: String,
    pub status: RowStatus,
    /// Why, in words: the validation error, the server's message, the missing addresses.
    pub detail: String,
    /// Ids of the tasks that carried addresses of this row.
    pub tasks: Vec<String>,
    /// The row's `comment` (`description`, `note`) cell, echoed; empty when
    /// it had none. Beyond the contract's keys, so reports written before
    /// it existed still load.
    #[serde(default)]
    pub comment: String,
}

/// One request to `POST /api/cloud/publicIpAddresses` and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestReport {
    pub backup_server_uid: String,
    pub first: String,
    pub last: String,
    /// Addresses in the request.
    pub addresses: u128,
    /// The task the server answered with; `null` when none was obtained.
    pub task_id: Option<String>,
    /// The task's last known state (`Finished`, `Running`, ...) or the
    /// engine's word for a request that got no task (e.g. `NotSent`).
    pub state: String,
    /// The task's `Success`; `null` when it never finished.
    pub success: Option<bool>,
    /// The server's message, or the client's error.
    pub message: String,
    /// How many times the request was sent.
    pub attempts: u32,
}

/// A row's final status (see the product contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RowStatus {
    /// Every address of the row is in the pool and at least one was added by this run.
    Created,
    /// Every address of the row was in the pool before the run.
    Present,
    /// Rejected by validation; nothing of it was submitted.
    Invalid,
    /// Some address of the row is not in the pool at the end.
    Failed,
    /// Not attempted (the run was aborted before reaching it).
    Skipped,
}

impl RowStatus {
    /// Every status, in the order reports list them.
    pub const ALL: [RowStatus; 5] = [
        RowStatus::Created,
        RowStatus::Present,
        RowStatus::Failed,
        RowStatus::Invalid,
        RowStatus::Skipped,
    ];

    /// The word used in every report format.
    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::Created => "created",
            RowStatus::Present => "present",
            RowStatus::Invalid => "invalid",
            RowStatus::Failed => "failed",
            RowStatus::Skipped => "skipped",
        }
    }

    /// `created` or `present`: the row's addresses are all in the pool.
    pub fn is_ok(self) -> bool {
        matches!(self, RowStatus::Created | RowStatus::Present)
    }
}

impl fmt::Display for RowStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many rows have each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowCounts {
    pub created: u64,
    pub present: u64,
    pub invalid: u64,
    pub failed: u64,
    pub skipped: u64,
}

impl RowCounts {
    /// Count the statuses of `rows`.
    pub fn of(rows: &[RowReport]) -> RowCounts {
        let mut c = RowCounts::default();
        for row in rows {
            *c.slot(row.status) += 1;
        }
        c
    }

    /// The count of one status.
    pub fn get(&self, status: RowStatus) -> u64 {
        match status {
            RowStatus::Created => self.created,
            RowStatus::Present => self.present,
            RowStatus::Invalid => self.invalid,
            RowStatus::Failed => self.failed,
            RowStatus::Skipped => self.skipped,
        }
    }

    fn slot(&mut self, status: RowStatus) -> &mut u64 {
        match status {
            RowStatus::Created => &mut self.created,
            RowStatus::Present => &mut self.present,
            RowStatus::Invalid => &mut self.invalid,
            RowStatus::Failed => &mut self.failed,
            RowStatus::Skipped => &mut self.skipped,
        }
    }
}

/// A valid row's status with the facts behind it.
///
/// [`row_outcome`] works for any range, so the engine can also run it over
/// the merged ranges and sum `already_present`, `added` and
/// [`RowOutcome::missing_count`] into the summary's `addresses_present`,
/// `addresses_created` and `addresses_failed`: the same facts, counted once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowOutcome {
    /// `Created`, `Present` or `Failed` (never `Invalid`/`Skipped`: those are
    /// decided before the pool is looked at).
    pub status: RowStatus,
    /// The range's addresses not in the pool at the end, in order.
    pub missing: Vec<IpRange>,
    /// How many of its addresses were in the pool before the run.
    pub already_present: u128,
    /// How many of its addresses were not in the pool before the run and
    /// are in it at the end.
    pub added: u128,
}

impl RowOutcome {
    /// How many of the range's addresses are not in the pool at the end.
    pub fn missing_count(&self) -> u128 {
        self.missing.iter().map(IpRange::count).sum()
    }

    /// A sentence for the report's `detail`: which addresses are missing, or
    /// how many were added. Long lists are cut after a few ranges. (For a
    /// failed row the engine may put the server's message first.)
    pub fn describe(&self, row: &IpRange) -> String {
        match self.status {
            RowStatus::Failed => format!(
                "{} of {} addresses not in the pool: {}",
                self.missing_count(),
                row.count(),
                list_ranges(&self.missing, 5)
            ),
            RowStatus::Created => format!("{} of {} addresses added", self.added, row.count()),
            RowStatus::Present => "all addresses were already in the pool".to_string(),
            RowStatus::Invalid | RowStatus::Skipped => String::new(),
        }
    }
}

/// The status of a valid row from the pool of its backup server before the
/// run and at its end (see [`row_outcome`] for the details this drops).
pub fn row_status(row: &IpRange, before: &[IpRange], after: &[IpRange]) -> RowStatus {
    row_outcome(row, before, after).status
}

/// Decide a valid row's status from pool membership alone.
///
/// `before` and `after` are the pool of the row's backup server before the
/// run and at its end, each sorted and coalesced; they may hold both
/// families:
///
/// ```
/// use ipimport::range::{IpRange, coalesce_sorted};
/// use ipimport::report::{RowStatus, row_outcome};
///
/// let mut after = vec![IpRange::parse("198.51.100.0/29").unwrap()];
/// after.sort(); // as read from the server, in any order
/// let after = coalesce_sorted(&after);
/// let row = IpRange::parse("198.51.100.4-198.51.100.9").unwrap();
/// let outcome = row_outcome(&row, &[], &after);
/// assert_eq!(outcome.status, RowStatus::Failed);
/// assert_eq!(outcome.describe(&row), "2 of 6 addresses not in the pool: 198.51.100.8-198.51.100.9");
/// ```
///
/// The rules are the contract's:
/// - `Failed` when some address of the row is not in `after`;
/// - else `Present` when every address was already in `before`;
/// - else `Created`.
///
/// An address that appeared in the pool during the run counts as added by
/// this run even if something else put it there: the pool is the only witness.
/// Cost: `O(log n + k)` per call, for the `k` pool ranges meeting the row.
pub fn row_outcome(row: &IpRange, before: &[IpRange], after: &[IpRange]) -> RowOutcome {
    let missing = row.subtract(after);
    let absent_before = row.subtract(before);
    let already_present = row.count() - absent_before.iter().map(IpRange::count).sum::<u128>();
    // Added = (row - before) ∩ after = (row - before) - (row - after).
    let added = if missing.is_empty() {
        absent_before.iter().map(IpRange::count).sum()
    } else {
        absent_before
            .iter()
            .flat_map(|gap| gap.subtract(&missing))
            .map(|r| r.count())
            .sum()
    };
    let status = if !missing.is_empty() {
        RowStatus::Failed
    } else if absent_before.is_empty() {
        RowStatus::Present
    } else {
        RowStatus::Created
    };
    RowOutcome {
        status,
        missing,
        already_present,
        added,
    }
}

/// `a, b-c, d (and 3 more ranges)`: at most `max` ranges, for messages.
pub fn list_ranges(ranges: &[IpRange], max: usize) -> String {
    let mut text: Vec<String> = ranges.iter().take(max).map(|r| r.to_string()).collect();
    if ranges.len() > max {
        text.push(format!("and {} more ranges", ranges.len() - max));
    }
    text.join(", ")
}

/// Render `report` in `format` to `out`.
///
/// JSON is what `report.json` holds (pretty-printed); the others are
/// described in their modules. Errors are only `out`'s write errors.
pub fn render(report: &RunReport, format: ReportFormat, out: &mut dyn Write) -> io::Result<()> {
    match format {
        ReportFormat::Json => json::write(report, out),
        ReportFormat::Csv => csv::write(report, out),
        ReportFormat::Md => markdown::write(report, out),
        ReportFormat::Junit => junit::write(report, out),
        ReportFormat::Html => html::write(report, out),
    }
}

/// Write `report.json`, `report.csv` and `report.md` into the run directory.
///
/// Each file is written to a temporary name in `dir`, synced, then renamed
/// over the final name, so a reader (or a crash) sees either the previous
/// complete report or the new complete one, never half a file. Call it again
/// to replace the reports (e.g. at the end of `--resume`).
pub fn write_run_reports(dir: &Path, report: &RunReport) -> io::Result<()> {
    for (name, format) in [
        (REPORT_JSON, ReportFormat::Json),
        (REPORT_CSV, ReportFormat::Csv),
        (REPORT_MD, ReportFormat::Md),
    ] {
        write_atomically(&dir.join(name), |out| render(report, format, out))?;
    }
    sync_dir(dir)
}

/// Read `report.json` of a run directory (or any path to a report.json).
pub fn read_report(path: &Path) -> Result<RunReport, ReportReadError> {
    let text = fs::read(path).map_err(|source| ReportReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&text).map_err(|source| ReportReadError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

/// Why a `report.json` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReportReadError {
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{} is not a report written by ipimport ({source}); render it from an intact copy or re-run the apply",
        path.display()
    )]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Plain-number formatting shared by the human formats: `12.3 s`, `950 ms`.
pub(crate) fn format_duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "unknown".to_string();
    }
    if seconds < 1.0 {
        format!("{:.0} ms", seconds * 1000.0)
    } else if seconds < 120.0 {
        format!("{seconds:.1} s")
    } else {
        let whole = seconds.round() as u64;
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

/// A per-second rate for the timings sections, or `-` when there is no time.
pub(crate) fn per_second(count: f64, seconds: f64) -> String {
    if seconds > 0.0 && seconds.is_finite() {
        format!("{:.1}/s", count / seconds)
    } else {
        "-".to_string()
    }
}

/// `first-last`, or just `first` for a single address or an unreadable row.
pub(crate) fn range_text(first: &str, last: &str) -> String {
    if last.is_empty() || last == first {
        first.to_string()
    } else if first.is_empty() {
        last.to_string()
    } else {
        format!("{first}-{last}")
    }
}

/// A one-sentence verdict on a run, shared by the human formats.
pub(crate) fn verdict(report: &RunReport) -> String {
    let c = RowCounts::of(&report.rows);
    let total = report.rows.len();
    if total == 0 {
        return "No rows.".to_string();
    }
    let mut problems = Vec::new();
    if c.failed > 0 {
        problems.push(format!("{} failed", c.failed));
    }
    if c.invalid > 0 {
        problems.push(format!("{} invalid", c.invalid));
    }
    if c.skipped > 0 {
        problems.push(format!("{} skipped", c.skipped));
    }
    if problems.is_empty() {
        format!(
            "All {total} rows ok ({} created, {} already present).",
            c.created, c.present
        )
    } else {
        format!(
            "{} of {total} rows ok; {}.",
            c.created + c.present,
            problems.join(", ")
        )
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::range::coalesce_sorted;

    fn r(text: &str) -> IpRange {
        IpRange::parse(text).unwrap()
    }

    fn pool(ranges: &[&str]) -> Vec<IpRange> {
        let mut v: Vec<IpRange> = ranges.iter().map(|t| r(t)).collect();
        v.sort();
        coalesce_sorted(&v)
    }

    /// A report with every status, awkward characters included, for the renderers' tests.
    pub(crate) fn sample_report() -> RunReport {
        let row = |line: u64, first: &str, last: &str, status: RowStatus, detail: &str| RowReport {
            source: "pools/site a.csv".to_string(),
            line,
            backup_server: "backup01".to_string(),
            first: first.to_string(),
            last: last.to_string(),
            status,
            detail: detail.to_string(),
            tasks: match status {
                RowStatus::Created | RowStatus::Failed => {
                    vec![format!("task-{line}"), format!("task-{}", line + 100)]
                }
                _ => vec![],
            },
            comment: if line == 4 {
                "site A, \"rack 3\" | <b>old</b>".to_string()
            } else {
                format!("note {line}")
            },
        };
        let rows = vec![
            row(
                2,
                "198.51.100.0",
                "198.51.100.15",
                RowStatus::Created,
                "16 of 16 addresses added",
            ),
            row(
                3,
                "198.51.100.16",
                "198.51.100.16",
                RowStatus::Present,
                "all addresses were already in the pool",
            ),
            row(
                4,
                "203.0.113.0",
                "203.0.113.9",
                RowStatus::Failed,
                "server said: <script>alert(\"x\")</script> & \"quotes\", 'apostrophes'\nsecond line",
            ),
            row(
                5,
                "010.1.1.1",
                "",
                RowStatus::Invalid,
                "'010.1.1.1' has an IPv4 octet with a leading zero; a, b | c",
            ),
            row(
                6,
                "2001:db8::1",
                "2001:db8::ff",
                RowStatus::Skipped,
                "not attempted: the run was interrupted",
            ),
        ];
        let mut summary = Summary {
            ranges_merged: 3,
            addresses_desired: 282,
            addresses_present: 1,
            addresses_created: 16,
            addresses_failed: 10,
            requests_submitted: 3,
            tasks_succeeded: 1,
            tasks_failed: 1,
            task_polls: 7,
            http_requests: 14,
            retries: 2,
            duration_s: 12.25,
            ..Summary::default()
        };
        summary.tally_rows(&rows);
        RunReport {
            run_id: "20261203T171500Z-3f9a1c".to_string(),
            server: "https://em01:9398/api".to_string(),
            started_at: "2026-12-03T17:15:00.250Z".parse().unwrap(),
            finished_at: "2026-12-03T17:15:12.500Z".parse().unwrap(),
            resumed: false,
            summary,
            rows,
            requests: vec![
                RequestReport {
                    backup_server_uid:
                        "urn:veeam:BackupServer:9b1c8a3e-0000-4000-8000-000000000001".to_string(),
                    first: "198.51.100.0".to_string(),
                    last: "198.51.100.15".to_string(),
                    addresses: 16,
                    task_id: Some("task-2".to_string()),
                    state: "Finished".to_string(),
                    success: Some(true),
                    message: String::new(),
                    attempts: 1,
                },
                RequestReport {
                    backup_server_uid:
                        "urn:veeam:BackupServer:9b1c8a3e-0000-4000-8000-000000000001".to_string(),
                    first: "203.0.113.0".to_string(),
                    last: "203.0.113.9".to_string(),
                    addresses: 10,
                    task_id: Some("task-4".to_string()),
                    state: "Finished".to_string(),
                    success: Some(false),
                    message: "<script>alert(1)</script> pool & co".to_string(),
                    attempts: 2,
                },
                RequestReport {
                    backup_server_uid:
                        "urn:veeam:BackupServer:9b1c8a3e-0000-4000-8000-000000000001".to_string(),
                    first: "2001:db8::1".to_string(),
                    last: "2001:db8::ff".to_string(),
                    addresses: 255,
                    task_id: None,
                    state: "NotSent".to_string(),
                    success: None,
                    message: "interrupted before sending".to_string(),
                    attempts: 0,
                },
            ],
        }
    }

    #[test]
    fn status_from_pool_membership() {
        let row = r("198.51.100.0-198.51.100.15");
        // Nothing before, all after: created.
        assert_eq!(
            row_status(&row, &[], &pool(&["198.51.100.0/24"])),
            RowStatus::Created
        );
        // All before and after: present.
        let full = pool(&["198.51.100.0/28"]);
        assert_eq!(row_status(&row, &full, &full), RowStatus::Present);
        // Partly before, rest added: created, and only the rest counts as added.
        let out = row_outcome(&row, &pool(&["198.51.100.0-198.51.100.3"]), &full);
        assert_eq!(out.status, RowStatus::Created);
        assert_eq!(out.added, 12);
        assert_eq!(out.already_present, 4);
        assert!(out.missing.is_empty());
        // Nothing at all: failed, everything missing.
        let out = row_outcome(&row, &[], &[]);
        assert_eq!(out.status, RowStatus::Failed);
        assert_eq!(out.missing, vec![row]);
        assert_eq!(out.added, 0);
    }

    #[test]
    fn partial_results_fail_and_name_the_gaps() {
        let row = r("198.51.100.0-198.51.100.15");
        let before = pool(&["198.51.100.0-198.51.100.1"]);
        // Two holes at the end; the rest landed.
        let after = pool(&["198.51.100.0-198.51.100.9", "198.51.100.12-198.51.100.14"]);
        let out = row_outcome(&row, &before, &after);
        assert_eq!(out.status, RowStatus::Failed);
        assert_eq!(
            out.missing,
            vec![r("198.51.100.10-198.51.100.11"), r("198.51.100.15")]
        );
        // 2..=9 and 12..=14 are new.
        assert_eq!(out.added, 11);
        assert_eq!(out.already_present, 2);
        assert_eq!(out.missing_count(), 3);
        assert_eq!(
            out.already_present + out.added + out.missing_count(),
            row.count()
        );
        assert_eq!(
            out.describe(&row),
            "3 of 16 addresses not in the pool: 198.51.100.10-198.51.100.11, 198.51.100.15"
        );
        // All there before, one removed during the run: failed, not present.
        let before = pool(&["198.51.100.0/28"]);
        let after = pool(&["198.51.100.0-198.51.100.14"]);
        assert_eq!(row_status(&row, &before, &after), RowStatus::Failed);
        // A single address row.
        let one = r("198.51.100.7");
        assert_eq!(
            row_status(&one, &[], &pool(&["198.51.100.7"])),
            RowStatus::Created
        );
        assert_eq!(
            row_status(&one, &[], &pool(&["198.51.100.8"])),
            RowStatus::Failed
        );
    }

    #[test]
    fn other_family_and_neighbours_do_not_count() {
        let row = r("2001:db8::/126");
        // IPv4 addresses with the same numeric values are not the row's addresses.
        let v4 = pool(&["0.0.0.0/0"]);
        assert_eq!(row_status(&row, &v4, &v4), RowStatus::Failed);
        let both = pool(&["0.0.0.0/0", "2001:db8::/120"]);
        assert_eq!(row_status(&row, &v4, &both), RowStatus::Created);
        assert_eq!(row_status(&row, &both, &both), RowStatus::Present);
        // Adjacent ranges on both sides do not cover the row.
        let around = pool(&["2001:db7::/32", "2001:db8::4-2001:db8::ff"]);
        assert_eq!(row_status(&row, &[], &around), RowStatus::Failed);
    }

    #[test]
    fn lists_are_cut_for_messages() {
        let ranges: Vec<IpRange> = (1..=8)
            .map(|i| r(&format!("198.51.100.{}", i * 2)))
            .collect();
        assert_eq!(
            list_ranges(&ranges, 3),
            "198.51.100.2, 198.51.100.4, 198.51.100.6, and 5 more ranges"
        );
    }

    #[test]
    fn tally_matches_rows() {
        let report = sample_report();
        let s = &report.summary;
        assert_eq!(
            (s.rows_total, s.rows_ok, s.rows_failed, s.rows_invalid),
            (5, 2, 1, 1)
        );
        assert_eq!(
            verdict(&report),
            "2 of 5 rows ok; 1 failed, 1 invalid, 1 skipped."
        );
        assert!(!report.all_rows_ok());
        let mut clean = report.clone();
        clean.rows.retain(|r| r.status.is_ok());
        assert!(clean.all_rows_ok());
    }

    #[test]
    fn writes_three_reports_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let report = sample_report();
        write_run_reports(dir.path(), &report).unwrap();
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        // No temporary file is left behind.
        assert_eq!(names, vec![REPORT_CSV, REPORT_JSON, REPORT_MD]);
        assert_eq!(read_report(&dir.path().join(REPORT_JSON)).unwrap(), report);
        // Writing again replaces the files.
        let mut second = report.clone();
        second.resumed = true;
        write_run_reports(dir.path(), &second).unwrap();
        assert!(read_report(&dir.path().join(REPORT_JSON)).unwrap().resumed);
    }

    #[test]
    fn read_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(REPORT_JSON);
        let err = read_report(&path).unwrap_err().to_string();
        assert!(err.contains("report.json"), "{err}");
        fs::write(&path, "{\"run_id\": 1}").unwrap();
        let err = read_report(&path).unwrap_err().to_string();
        assert!(err.contains("not a report written by ipimport"), "{err}");
    }

    #[test]
    fn an_empty_run_renders_in_every_format() {
        let mut report = sample_report();
        report.rows.clear();
        report.requests.clear();
        report.summary = Summary::default();
        for format in [
            ReportFormat::Json,
            ReportFormat::Csv,
            ReportFormat::Md,
            ReportFormat::Junit,
            ReportFormat::Html,
        ] {
            let mut out = Vec::new();
            render(&report, format, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(!text.is_empty(), "{format:?}");
            if format == ReportFormat::Junit {
                assert!(text.contains("tests=\"0\""), "{text}");
            }
        }
        assert_eq!(verdict(&report), "No rows.");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(format_duration(0.25), "250 ms");
        assert_eq!(format_duration(12.25), "12.2 s");
        assert_eq!(format_duration(3725.0), "62m05s");
        assert_eq!(format_duration(f64::NAN), "unknown");
        assert_eq!(range_text("a", "a"), "a");
        assert_eq!(range_text("a", ""), "a");
        assert_eq!(range_text("a", "b"), "a-b");
    }
}
