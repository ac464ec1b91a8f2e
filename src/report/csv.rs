//! `report.csv`: one record per input row with the `rows` fields of
//! `report.json`, under a header naming them; `tasks` are joined with `;`.
//! The row's `comment` comes last, after the contract's fields.
//! Quoting is the csv crate's (RFC 4180), so commas, quotes and line breaks in
//! a detail survive any spreadsheet or CSV reader.

use std::io::{self, Write};

use super::RunReport;

/// The header: the contract's `rows` fields in order, then `comment`.
pub const HEADER: [&str; 9] = [
    "source",
    "line",
    "backup_server",
    "first",
    "last",
    "status",
    "detail",
    "tasks",
    "comment",
];

/// Separator of task ids in the `tasks` column.
pub const TASK_SEPARATOR: &str = ";";

/// Write the rows of `report` as CSV.
pub fn write(report: &RunReport, out: &mut dyn Write) -> io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(HEADER)?;
    for row in &report.rows {
        let line = row.line.to_string();
        let tasks = row.tasks.join(TASK_SEPARATOR);
        writer.write_record([
            row.source.as_str(),
            &line,
            &row.backup_server,
            &row.first,
            &row.last,
            row.status.as_str(),
            &row.detail,
            &tasks,
            &row.comment,
        ])?;
    }
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_report;
    use crate::report::{RowReport, RowStatus};

    #[test]
    fn round_trips_through_the_csv_crate() {
        let report = sample_report();
        let mut out = Vec::new();
        write(&report, &mut out).unwrap();
        let mut reader = csv::Reader::from_reader(out.as_slice());
        assert_eq!(reader.headers().unwrap(), HEADER.as_slice());
        let rows: Vec<RowReport> = reader
            .records()
            .map(|record| {
                let record = record.unwrap();
                assert_eq!(record.len(), HEADER.len());
                let status = serde_json::from_value::<RowStatus>(record[5].into()).unwrap();
                RowReport {
                    source: record[0].to_string(),
                    line: record[1].parse().unwrap(),
                    backup_server: record[2].to_string(),
                    first: record[3].to_string(),
                    last: record[4].to_string(),
                    status,
                    detail: record[6].to_string(),
                    tasks: if record[7].is_empty() {
                        vec![]
                    } else {
                        record[7]
                            .split(TASK_SEPARATOR)
                            .map(str::to_string)
                            .collect()
                    },
                    comment: record[8].to_string(),
                }
            })
            .collect();
        // Details with commas, quotes, `|` and a line break come back intact.
        assert_eq!(rows, report.rows);
    }

    #[test]
    fn quotes_what_needs_quoting() {
        let mut out = Vec::new();
        write(&sample_report(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("source,line,backup_server,first,last,status,detail,tasks,comment\n")
        );
        assert!(text.contains("\"pools/site a.csv\"") || text.contains("pools/site a.csv,2,"));
        assert!(text.contains("task-2;task-102"));
        assert!(text.contains("\"\"quotes\"\""));
        // The comment is the last column, quoted like any other.
        assert!(text.contains(",task-4;task-104,\"site A, \"\"rack 3\"\" | <b>old</b>\"\n"));
    }
}
