//! The events of an apply run's journal (`journal.jsonl`).
//!
//! Each step is appended, and durable on disk, BEFORE it is taken, so a run
//! killed at any instant can be finished with `--resume`: a request with an
//! `Intent` but no known outcome may or may not have reached the server and is
//! reconciled against the pool before anything is sent again.
//!
//! Never in the journal: the password or the session token.

use serde::{Deserialize, Serialize};

use crate::range::IpRange;

/// `TaskLost` reason: still unfinished at `--task-timeout` (counts as failed).
pub const LOST_TIMEOUT: &str = "timeout";
/// `TaskLost` reason: the server no longer shows the task (a new session).
pub const LOST_VANISHED: &str = "vanished";

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A run (or a resumption of it) begins.
    Start {
        run_id: String,
        /// Server base URL (ending in `/api`).
        server: String,
        user: String,
        wire: crate::cli::Wire,
        at: String,
        resumed: bool,
    },
    /// The plan: every input row, the pool as it was, and the requests to send.
    Plan(Box<PlanRecord>),
    /// Request `req` is about to be sent (attempt `attempt`, under logon session `session`).
    Intent {
        req: u64,
        attempt: u32,
        session: u64,
    },
    /// The server accepted request `req` with task `task`.
    Accepted { req: u64, task: String },
    /// Request `req` was not acted on by the server (refused for good, or
    /// retries exhausted); `gave_up` says the engine will not send it again.
    NotActed {
        req: u64,
        detail: String,
        gave_up: bool,
    },
    /// Request `req`'s outcome is unknown: it will be reconciled.
    Unknown { req: u64, detail: String },
    /// The task of request `req` finished.
    TaskDone {
        req: u64,
        task: String,
        success: bool,
        message: String,
        /// From acceptance to the poll that saw it finished.
        duration_ms: u64,
    },
    /// The task of request `req` vanished or timed out ([`LOST_TIMEOUT`],
    /// [`LOST_VANISHED`]): it will be reconciled.
    TaskLost {
        req: u64,
        task: String,
        reason: String,
    },
    /// Request `req` was read back from the pool: `missing` parts are sent
    /// again as the new requests `then` (same order).
    Reconciled {
        req: u64,
        missing: Vec<RangeText>,
        then: Vec<u64>,
    },
    /// The run was interrupted (Ctrl-C) after recording everything above.
    Interrupted { at: String },
    /// The run ended; the report was written.
    Finish { at: String, exit: i32 },
}

/// A range as text bounds, the form the journal and reports use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeText {
    pub first: String,
    pub last: String,
}

impl RangeText {
    pub fn of(range: &IpRange) -> RangeText {
        RangeText {
            first: range.first_addr().to_string(),
            last: range.last_addr().to_string(),
        }
    }

    /// Back to a range; a journal written by this program always parses.
    pub fn to_range(&self) -> anyhow::Result<IpRange> {
        IpRange::from_bounds_text(&self.first, &self.last).map_err(|e| {
            anyhow::anyhow!("bad range {}-{} in the journal: {e}", self.first, self.last)
        })
    }
}

/// One input row, as the report needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRow {
    pub source: String,
    pub line: u64,
    /// The backup server as the input (or `--backup-server`) named it.
    pub backup_server: String,
    /// Its UID, when resolved.
    pub backup_server_uid: Option<String>,
    pub first: String,
    pub last: String,
    /// The input's comment cell (empty when none), echoed in the report.
    #[serde(default)]
    pub comment: String,
    /// The reasons the row is invalid; empty for a valid row.
    pub errors: Vec<String>,
}

/// One request of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedRequest {
    pub req: u64,
    pub backup_server_uid: String,
    #[serde(flatten)]
    pub range: RangeText,
}

/// The addresses of one backup server, as ranges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolRanges {
    pub backup_server_uid: String,
    pub ranges: Vec<RangeText>,
}

/// What the plan event records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRecord {
    pub rows_total: u64,
    pub rows_invalid: u64,
    pub ranges_merged: u64,
    /// Counts as decimal text: serde's tagged enums cannot carry `u128`.
    #[serde(with = "u128_text")]
    pub addresses_desired: u128,
    #[serde(with = "u128_text")]
    pub addresses_present: u128,
    pub rows: Vec<PlanRow>,
    /// Desired ranges (merged), per backup server UID.
    pub desired: Vec<PoolRanges>,
    /// The pool before the run, per backup server UID (only the part that
    /// meets the desired ranges).
    pub present_before: Vec<PoolRanges>,
    pub requests: Vec<PlannedRequest>,
}

/// `u128` as decimal text (internally tagged enums buffer values in a form
/// without 128-bit integers).
mod u128_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_as_tagged_json_lines() {
        let e = Event::TaskDone {
            req: 3,
            task: "task-9".into(),
            success: false,
            message: "198.51.100.7 is already in the pool".into(),
            duration_ms: 250,
        };
        let line = serde_json::to_string(&e).unwrap();
        assert!(line.starts_with("{\"event\":\"task_done\""), "{line}");
        assert_eq!(serde_json::from_str::<Event>(&line).unwrap(), e);
    }
}
