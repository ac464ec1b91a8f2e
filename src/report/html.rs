//! One self-contained HTML page: inline CSS, no scripts, no external assets,
//! so it can be attached to a ticket or published as a CI artifact and opened
//! anywhere. Sections: the verdict and run facts, the summary, every row with
//! a status badge, the requests, and the timings. Every piece of text from the
//! report is HTML-escaped.

use std::fmt::Write as _;
use std::io::{self, Write};

use chrono::SecondsFormat;

use super::{RowCounts, RowStatus, RunReport, format_duration, per_second, range_text, verdict};

const STYLE: &str = r#"
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem; color: #1d232a; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; }
h2 { font-size: 1.1rem; margin-top: 2rem; border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; }
.facts { color: #57606a; margin-top: 0; }
.verdict { font-size: 1.1rem; font-weight: 600; padding: .6rem .8rem; border-radius: 6px; }
.verdict.ok { background: #dafbe1; } .verdict.bad { background: #ffebe9; }
table { border-collapse: collapse; font-size: .9rem; }
th, td { border: 1px solid #d0d7de; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.detail { max-width: 40rem; white-space: pre-wrap; word-break: break-word; }
.badge { display: inline-block; padding: .05rem .45rem; border-radius: 1rem; font-size: .8rem; font-weight: 600; color: #fff; }
.created { background: #1a7f37; } .present { background: #0969da; } .failed { background: #cf222e; }
.invalid { background: #9a6700; } .skipped { background: #6e7781; }
.cards { display: flex; flex-wrap: wrap; gap: .6rem; }
.card { border: 1px solid #d0d7de; border-radius: 6px; padding: .4rem .8rem; min-width: 7rem; }
.card b { display: block; font-size: 1.3rem; }
"#;

/// Write the HTML page.
pub fn write(report: &RunReport, out: &mut dyn Write) -> io::Result<()> {
    // Built in memory (reports are small), then written once.
    let page = page(report);
    out.write_all(page.as_bytes())
}

fn page(report: &RunReport) -> String {
    let s = &report.summary;
    let c = RowCounts::of(&report.rows);
    let mut h = String::with_capacity(4096 + report.rows.len() * 300);
    let title = format!("ipimport run {}", report.run_id);
    // `write!` into a String cannot fail.
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    let _ = writeln!(
        h,
        "<p class=\"facts\">Server <code>{}</code> &middot; started {} &middot; finished {}{}</p>",
        esc(&report.server),
        report.started_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        report
            .finished_at
            .to_rfc3339_opts(SecondsFormat::Secs, true),
        if report.resumed {
            " &middot; resumed from the journal"
        } else {
            ""
        }
    );
    let all_ok = c.failed == 0 && c.invalid == 0 && c.skipped == 0;
    let _ = writeln!(
        h,
        "<p class=\"verdict {}\">{}</p>",
        if all_ok { "ok" } else { "bad" },
        esc(&verdict(report))
    );

    h.push_str("<h2>Summary</h2>\n<div class=\"cards\">\n");
    for status in RowStatus::ALL {
        let _ = writeln!(
            h,
            "<div class=\"card\"><b>{}</b><span class=\"badge {status}\">{status}</span></div>",
            c.get(status)
        );
    }
    h.push_str("</div>\n<table class=\"summary\">\n");
    let mut lines = vec![("rows", s.rows_total.to_string())];
    lines.extend(s.counter_lines());
    lines.extend([
        ("task polls", s.task_polls.to_string()),
        ("HTTP requests", s.http_requests.to_string()),
        ("retries", s.retries.to_string()),
    ]);
    for (name, value) in lines {
        let _ = writeln!(h, "<tr><th>{name}</th><td class=\"num\">{value}</td></tr>");
    }
    h.push_str("</table>\n");

    let _ = writeln!(h, "<h2>Rows ({})</h2>", report.rows.len());
    h.push_str(
        "<table class=\"rows\">\n<tr><th>source</th><th>line</th><th>backup server</th>\
         <th>range</th><th>status</th><th>detail</th><th>tasks</th><th>comment</th></tr>\n",
    );
    for row in &report.rows {
        let _ = writeln!(
            h,
            "<tr class=\"row {status}\"><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td>\
             <td><span class=\"badge {status}\">{status}</span></td><td class=\"detail\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&row.source),
            row.line,
            esc(&row.backup_server),
            esc(&range_text(&row.first, &row.last)),
            esc(&row.detail),
            esc(&row.tasks.join(", ")),
            esc(&row.comment),
            status = row.status,
        );
    }
    h.push_str("</table>\n");

    let _ = writeln!(h, "<h2>Requests ({})</h2>", report.requests.len());
    if report.requests.is_empty() {
        h.push_str("<p>No request was needed.</p>\n");
    } else {
        h.push_str(
            "<table class=\"requests\">\n<tr><th>backup server</th><th>range</th><th>addresses</th>\
             <th>task</th><th>state</th><th>success</th><th>attempts</th><th>message</th></tr>\n",
        );
        for req in &report.requests {
            let success = match req.success {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            };
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td>\
                 <td>{success}</td><td class=\"num\">{}</td><td class=\"detail\">{}</td></tr>",
                esc(&req.backup_server_uid),
                esc(&range_text(&req.first, &req.last)),
                req.addresses,
                esc(req.task_id.as_deref().unwrap_or("-")),
                esc(&req.state),
                req.attempts,
                esc(&req.message),
            );
        }
        h.push_str("</table>\n");
    }

    h.push_str("<h2>Timings</h2>\n<table class=\"timings\">\n");
    let timings: [(&str, String); 6] = [
        (
            "started",
            report
                .started_at
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        ),
        (
            "finished",
            report
                .finished_at
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        ),
        ("duration", format_duration(s.duration_s)),
        (
            "HTTP requests per second",
            per_second(s.http_requests as f64, s.duration_s),
        ),
        (
            "addresses created per second",
            per_second(s.addresses_created as f64, s.duration_s),
        ),
        ("task polls", s.task_polls.to_string()),
    ];
    for (name, value) in timings {
        let _ = writeln!(
            h,
            "<tr><th>{name}</th><td class=\"num\">{}</td></tr>",
            esc(&value)
        );
    }
    h.push_str("</table>\n</body>\n</html>\n");
    h
}

/// Escape text for HTML element content and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_report;

    fn render(report: &RunReport) -> String {
        let mut out = Vec::new();
        write(report, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn is_one_self_contained_page() {
        let html = render(&sample_report());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.trim_end().ends_with("</html>"));
        // No scripts, no external assets.
        assert!(!html.contains("<script"));
        assert!(!html.contains("<link"));
        assert!(!html.contains("src="));
        assert!(!html.contains("http://"));
        assert!(!html.contains("url("));
        assert_eq!(html.matches("<style>").count(), 1);
    }

    #[test]
    fn shows_every_row_with_its_badge() {
        let report = sample_report();
        let html = render(&report);
        assert_eq!(html.matches("<tr class=\"row ").count(), report.rows.len());
        for row in &report.rows {
            assert!(
                html.contains(&format!(
                    "<td class=\"num\">{}</td><td>backup01</td><td>{}</td><td><span class=\"badge {}\">{}</span>",
                    row.line,
                    esc(&range_text(&row.first, &row.last)),
                    row.status,
                    row.status
                )),
                "row {} missing",
                row.line
            );
        }
        // Every row echoes its comment in the last cell, escaped.
        assert!(html.contains("<td>task-2, task-102</td><td>note 2</td></tr>"));
        assert!(html.contains("<td>site A, &quot;rack 3&quot; | &lt;b&gt;old&lt;/b&gt;</td></tr>"));
        assert!(html.contains("<th>tasks</th><th>comment</th></tr>"));
        assert!(html.contains("<h2>Summary</h2>"));
        assert!(html.contains("<h2>Requests (3)</h2>"));
        assert!(html.contains("<h2>Timings</h2>"));
        assert!(html.contains("2026-12-03T17:15:12.500Z"));
        assert!(html.contains("<td class=\"num\">12.2 s</td>"));
    }

    #[test]
    fn escapes_text_from_the_report() {
        let mut report = sample_report();
        report.rows[0].source = "<img src=x onerror=alert(1)>.csv".to_string();
        report.run_id = "</title><script>x</script>".to_string();
        let html = render(&report);
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<img"));
        assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;.csv"));
        assert!(html.contains("&#39;apostrophes&#39;"));
        assert_eq!(html.matches("<title>").count(), 1);
        assert_eq!(html.matches("</title>").count(), 1);
    }
}
