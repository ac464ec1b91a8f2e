//! `report.md`: the run for a person. A verdict line, the summary, the failed,
//! invalid and skipped rows with their reasons and comments, the requests that did not
//! succeed, and the timings. Reads well as plain text and as rendered
//! Markdown (GitHub, GitLab); table cells are escaped so that a `|` or a line
//! break in a server message cannot break a table.

use std::io::{self, Write};

use chrono::SecondsFormat;

use super::{
    RowCounts, RowReport, RowStatus, RunReport, format_duration, per_second, range_text, verdict,
};

/// Write the Markdown report.
pub fn write(report: &RunReport, out: &mut dyn Write) -> io::Result<()> {
    let s = &report.summary;
    let c = RowCounts::of(&report.rows);
    writeln!(out, "# ipimport run {}", cell(&report.run_id))?;
    writeln!(out)?;
    writeln!(out, "**{}**", verdict(report))?;
    writeln!(out)?;
    writeln!(
        out,
        "Server `{}`; started {}, finished {}{}.",
        report.server.replace('`', "'"),
        report.started_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        report
            .finished_at
            .to_rfc3339_opts(SecondsFormat::Secs, true),
        if report.resumed {
            " (resumed from the journal)"
        } else {
            ""
        }
    )?;
    writeln!(out)?;

    writeln!(out, "## Summary")?;
    writeln!(out)?;
    writeln!(out, "| | count |")?;
    writeln!(out, "| --- | ---: |")?;
    let mut lines = vec![
        ("rows", s.rows_total.to_string()),
        (
            "rows ok",
            format!(
                "{} ({} created, {} present)",
                s.rows_ok, c.created, c.present
            ),
        ),
        ("rows failed", s.rows_failed.to_string()),
        ("rows invalid", s.rows_invalid.to_string()),
        ("rows skipped", c.skipped.to_string()),
    ];
    lines.extend(s.counter_lines());
    lines.push(("retries", s.retries.to_string()));
    for (name, value) in lines {
        writeln!(out, "| {name} | {value} |")?;
    }
    writeln!(out)?;

    for (status, title, advice) in [
        (
            RowStatus::Failed,
            "Failed rows",
            "Some addresses of these rows are not in the pool. Run the same import again to send what is missing.",
        ),
        (
            RowStatus::Invalid,
            "Invalid rows",
            "Nothing of these rows was submitted. Correct them in the input and run again.",
        ),
        (
            RowStatus::Skipped,
            "Skipped rows",
            "The run stopped before reaching these rows. Finish it with `ipimport apply --resume RUN_DIR`.",
        ),
    ] {
        let rows: Vec<&RowReport> = report.rows.iter().filter(|r| r.status == status).collect();
        if rows.is_empty() {
            continue;
        }
        writeln!(out, "## {title} ({})", rows.len())?;
        writeln!(out)?;
        writeln!(out, "{advice}")?;
        writeln!(out)?;
        writeln!(
            out,
            "| source | line | backup server | range | reason | comment |"
        )?;
        writeln!(out, "| --- | ---: | --- | --- | --- | --- |")?;
        for row in rows {
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                cell(&row.source),
                row.line,
                cell(&row.backup_server),
                cell(&range_text(&row.first, &row.last)),
                cell(&row.detail),
                cell(&row.comment)
            )?;
        }
        writeln!(out)?;
    }

    let unsuccessful: Vec<_> = report
        .requests
        .iter()
        .filter(|r| r.success != Some(true))
        .collect();
    if !unsuccessful.is_empty() {
        writeln!(
            out,
            "## Requests that did not succeed ({})",
            unsuccessful.len()
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "| range | addresses | task | state | attempts | message |"
        )?;
        writeln!(out, "| --- | ---: | --- | --- | ---: | --- |")?;
        for req in unsuccessful {
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                cell(&range_text(&req.first, &req.last)),
                req.addresses,
                cell(req.task_id.as_deref().unwrap_or("-")),
                cell(&req.state),
                req.attempts,
                cell(&req.message)
            )?;
        }
        writeln!(out)?;
    }

    writeln!(out, "## Timings")?;
    writeln!(out)?;
    writeln!(out, "| | |")?;
    writeln!(out, "| --- | ---: |")?;
    writeln!(out, "| duration | {} |", format_duration(s.duration_s))?;
    writeln!(
        out,
        "| HTTP requests | {} ({}) |",
        s.http_requests,
        per_second(s.http_requests as f64, s.duration_s)
    )?;
    writeln!(out, "| task polls | {} |", s.task_polls)?;
    writeln!(
        out,
        "| addresses created | {} ({}) |",
        s.addresses_created,
        per_second(s.addresses_created as f64, s.duration_s)
    )?;
    Ok(())
}

/// Make text safe for one Markdown table cell: no line breaks, `|` and
/// backslashes escaped, `<` as an entity so no HTML is ever interpreted.
fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '|' => out.push_str("\\|"),
            '\\' => out.push_str("\\\\"),
            '<' => out.push_str("&lt;"),
            '\r' => {}
            '\n' => out.push(' '),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    if out.is_empty() { "-".to_string() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_report;

    fn render() -> String {
        let mut out = Vec::new();
        write(&sample_report(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lists_problem_rows_with_reasons() {
        let md = render();
        assert!(md.starts_with("# ipimport run 20261203T171500Z-3f9a1c\n"));
        assert!(md.contains("**2 of 5 rows ok; 1 failed, 1 invalid, 1 skipped.**"));
        assert!(md.contains("## Failed rows (1)"));
        assert!(md.contains("## Invalid rows (1)"));
        assert!(md.contains("## Skipped rows (1)"));
        assert!(md.contains("| pools/site a.csv | 5 | backup01 | 010.1.1.1 |"));
        // Each problem row echoes its comment, escaped for the table.
        assert!(md.contains("| note 5 |\n"));
        assert!(md.contains("| site A, \"rack 3\" \\| &lt;b>old&lt;/b> |\n"));
        // Ok rows are in the summary, not listed one by one.
        assert!(!md.contains("| pools/site a.csv | 2 |"));
        assert!(md.contains("| rows ok | 2 (1 created, 1 present) |"));
        assert!(md.contains("## Requests that did not succeed (2)"));
        assert!(md.contains("| duration | 12.2 s |"));
        assert!(md.contains("| HTTP requests | 14 (1.1/s) |"));
    }

    #[test]
    fn every_table_line_has_its_columns() {
        let md = render();
        // Unescaped pipes delimit the cells: every line of a table has as
        // many as its header.
        let bars = |line: &str| line.matches('|').count() - line.matches("\\|").count();
        let mut header: Option<usize> = None;
        let mut tables = 0;
        for line in md.lines() {
            match (line.starts_with('|'), header) {
                (true, None) => {
                    header = Some(bars(line));
                    tables += 1;
                }
                (true, Some(n)) => assert_eq!(bars(line), n, "{line}"),
                (false, _) => header = None,
            }
        }
        assert_eq!(tables, 6);
        assert!(md.contains("a, b \\| c"));
        assert!(md.contains("&lt;script>"));
        assert!(!md.contains("<script>"));
        assert!(!md.contains("'apostrophes'\n"));
    }

    #[test]
    fn a_clean_run_says_so() {
        let mut report = sample_report();
        report.rows.retain(|r| r.status.is_ok());
        report.requests.retain(|r| r.success == Some(true));
        let mut out = Vec::new();
        write(&report, &mut out).unwrap();
        let md = String::from_utf8(out).unwrap();
        assert!(md.contains("**All 2 rows ok (1 created, 1 already present).**"));
        assert!(!md.contains("## Failed rows"));
        assert!(!md.contains("did not succeed"));
    }
}
