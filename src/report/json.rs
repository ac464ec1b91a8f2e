//! `report.json`: the [`RunReport`] itself, pretty-printed, with the
//! contract's keys and nothing else.

use std::io::{self, Write};

use super::RunReport;

/// Write `report` as pretty-printed JSON followed by a newline.
pub fn write(report: &RunReport, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report).map_err(io::Error::from)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_report;
    use serde_json::Value;

    fn keys(value: &Value) -> Vec<&str> {
        let mut k: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        k.sort();
        k
    }

    fn sorted(mut v: Vec<&str>) -> Vec<&str> {
        v.sort();
        v
    }

    #[test]
    fn round_trips_to_the_same_report() {
        let report = sample_report();
        let mut out = Vec::new();
        write(&report, &mut out).unwrap();
        let back: RunReport = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn has_exactly_the_contract_keys() {
        let mut out = Vec::new();
        write(&sample_report(), &mut out).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            keys(&v),
            sorted(vec![
                "run_id",
                "server",
                "started_at",
                "finished_at",
                "resumed",
                "summary",
                "rows",
                "requests"
            ])
        );
        assert_eq!(
            keys(&v["summary"]),
            sorted(vec![
                "rows_total",
                "rows_invalid",
                "rows_ok",
                "rows_failed",
                "ranges_merged",
                "addresses_desired",
                "addresses_present",
                "addresses_created",
                "addresses_failed",
                "requests_submitted",
                "tasks_succeeded",
                "tasks_failed",
                "task_polls",
                "http_requests",
                "retries",
                "duration_s"
            ])
        );
        for row in v["rows"].as_array().unwrap() {
            assert_eq!(
                keys(row),
                sorted(vec![
                    "source",
                    "line",
                    "backup_server",
                    "first",
                    "last",
                    "status",
                    "detail",
                    "tasks",
                    // Beyond the contract: the row's comment, echoed.
                    "comment"
                ])
            );
        }
        for req in v["requests"].as_array().unwrap() {
            assert_eq!(
                keys(req),
                sorted(vec![
                    "backup_server_uid",
                    "first",
                    "last",
                    "addresses",
                    "task_id",
                    "state",
                    "success",
                    "message",
                    "attempts"
                ])
            );
        }
        // Types as the contract writes them.
        assert_eq!(v["started_at"], "2026-12-03T17:15:00.250Z");
        assert!(v["summary"]["duration_s"].is_f64());
        assert!(v["summary"]["addresses_desired"].is_u64());
        assert_eq!(v["rows"][2]["status"], "failed");
        assert!(v["rows"][0]["tasks"].is_array());
        assert!(v["requests"][2]["task_id"].is_null());
        assert!(v["requests"][2]["success"].is_null());
        assert_eq!(v["requests"][1]["success"], false);
        assert_eq!(v["rows"][0]["comment"], "note 2");
    }

    #[test]
    fn a_report_without_comments_still_loads() {
        // report.json files written before rows had a `comment` key.
        let mut v = serde_json::to_value(sample_report()).unwrap();
        for row in v["rows"].as_array_mut().unwrap() {
            row.as_object_mut().unwrap().remove("comment");
        }
        let back: RunReport = serde_json::from_value(v).unwrap();
        assert!(back.rows.iter().all(|r| r.comment.is_empty()));
    }

    #[test]
    fn huge_address_counts_stay_exact() {
        let mut report = sample_report();
        report.summary.addresses_desired = u128::MAX;
        let mut out = Vec::new();
        write(&report, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(&u128::MAX.to_string()));
        let back: RunReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back.summary.addresses_desired, u128::MAX);
    }
}
