//! JUnit XML, for CI systems: one `<testsuite>` for the run, one `<testcase>`
//! per input row, so a pipeline's test view lists every row and flags the bad ones.
//!
//! - name: `source:line first-last` (just `source:line first` when the row
//!   has no last address); classname: the row's backup server.
//! - `failed` rows carry `<failure message=... type="failed">`, the detail as text.
//! - `invalid` rows carry `<error message=... type="invalid">`: JUnit's "error"
//!   is for a test that could not run, which is what an invalid row is; CI
//!   systems count both as not passed, and the two stay apart in the totals
//!   (failures = the server's doing, errors = the input's).
//! - `skipped` rows carry `<skipped message=.../>`.
//! - `created`/`present` rows pass; their status and detail are in `<system-out>`.
//! - every row's `<system-out>` also carries its comment (`comment: ...`), if any.
//!
//! The suite's `<properties>` hold the run id, the server and whether it was
//! resumed; `time` is the run's duration. Text is escaped by quick-xml, and
//! characters XML 1.0 cannot carry at all (most control characters) become
//! U+FFFD, so the file always parses.

use std::io::{self, Write};

use chrono::SecondsFormat;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use super::{RowCounts, RowReport, RowStatus, RunReport};

/// Write the JUnit XML report.
pub fn write(report: &RunReport, out: &mut dyn Write) -> io::Result<()> {
    let mut xml = Writer::new_with_indent(out, b' ', 2);
    xml.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let c = RowCounts::of(&report.rows);
    let tests = report.rows.len().to_string();
    let failures = c.failed.to_string();
    let errors = c.invalid.to_string();
    let skipped = c.skipped.to_string();
    let time = format!("{:.3}", report.summary.duration_s.max(0.0));
    let name = xml_text(&format!("ipimport {}", report.run_id));
    let timestamp = report.started_at.to_rfc3339_opts(SecondsFormat::Secs, true);
    let counts = [
        ("tests", tests.as_str()),
        ("failures", failures.as_str()),
        ("errors", errors.as_str()),
        ("skipped", skipped.as_str()),
        ("time", time.as_str()),
    ];
    xml.create_element("testsuites")
        .with_attribute(("name", name.as_str()))
        .with_attributes(counts)
        .write_inner_content(|xml| {
            xml.create_element("testsuite")
                .with_attribute(("name", name.as_str()))
                .with_attributes(counts)
                .with_attribute(("timestamp", timestamp.as_str()))
                .write_inner_content(|xml| {
                    write_properties(xml, report)?;
                    for row in &report.rows {
                        write_testcase(xml, row)?;
                    }
                    Ok(())
                })?;
            Ok(())
        })?;
    let out = xml.into_inner();
    out.write_all(b"\n")
}

fn write_properties<W: Write>(xml: &mut Writer<W>, report: &RunReport) -> io::Result<()> {
    xml.create_element("properties")
        .write_inner_content(|xml| {
            for (name, value) in [
                ("run_id", report.run_id.as_str()),
                ("server", report.server.as_str()),
                ("resumed", if report.resumed { "true" } else { "false" }),
            ] {
                xml.create_element("property")
                    .with_attribute(("name", name))
                    .with_attribute(("value", xml_text(value).as_str()))
                    .write_empty()?;
            }
            Ok(())
        })?;
    Ok(())
}

fn write_testcase<W: Write>(xml: &mut Writer<W>, row: &RowReport) -> io::Result<()> {
    let name = xml_text(&testcase_name(row));
    let classname = xml_text(&row.backup_server);
    let detail = xml_text(&row.detail);
    // Attribute values lose their line breaks to XML normalization anyway:
    // keep the message on one line and the full text in the element.
    let message = detail.split_whitespace().collect::<Vec<_>>().join(" ");
    xml.create_element("testcase")
        .with_attribute(("name", name.as_str()))
        .with_attribute(("classname", classname.as_str()))
        .write_inner_content(|xml| {
            let problem = match row.status {
                RowStatus::Failed => Some("failure"),
                RowStatus::Invalid => Some("error"),
                RowStatus::Skipped => {
                    xml.create_element("skipped")
                        .with_attribute(("message", message.as_str()))
                        .write_empty()?;
                    None
                }
                RowStatus::Created | RowStatus::Present => None,
            };
            if let Some(element) = problem {
                xml.create_element(element)
                    .with_attribute(("message", message.as_str()))
                    .with_attribute(("type", row.status.as_str()))
                    .write_text_content(BytesText::new(&detail))?;
            }
            let mut out = format!("status: {}", row.status);
            if !detail.is_empty() {
                out.push_str("\ndetail: ");
                out.push_str(&detail);
            }
            if !row.tasks.is_empty() {
                out.push_str("\ntasks: ");
                out.push_str(&xml_text(&row.tasks.join(", ")));
            }
            if !row.comment.is_empty() {
                out.push_str("\ncomment: ");
                out.push_str(&xml_text(&row.comment));
            }
            xml.create_element("system-out")
                .write_text_content(BytesText::new(&out))?;
            Ok(())
        })?;
    Ok(())
}

/// `source:line first-last`, the test case's name.
pub fn testcase_name(row: &RowReport) -> String {
    let range = match (row.first.is_empty(), row.last.is_empty()) {
        (false, false) => format!("{}-{}", row.first, row.last),
        (false, true) => row.first.clone(),
        (true, false) => row.last.clone(),
        (true, true) => String::new(),
    };
    if range.is_empty() {
        format!("{}:{}", row.source, row.line)
    } else {
        format!("{}:{} {}", row.source, row.line, range)
    }
}

/// Replace the characters XML 1.0 forbids (all C0 controls but tab, line
/// feed and carriage return; U+FFFE, U+FFFF) by U+FFFD. Escaping of `<`, `&`
/// and quotes is quick-xml's job.
fn xml_text(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_report;
    use quick_xml::events::Event;
    use quick_xml::{Reader, XmlVersion};

    /// Parse the XML fully (checking it is well formed) and collect
    /// (element name, attributes) of every start or empty tag, plus all text.
    /// An element's name and its attributes (unescaped).
    type Tag = (String, Vec<(String, String)>);

    fn parse(xml: &str) -> (Vec<Tag>, String) {
        let mut reader = Reader::from_str(xml);
        let mut tags = Vec::new();
        let mut text = String::new();
        let mut depth = 0i32;
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) | Event::Empty(e) => {
                    let name = e.name().as_ref().to_string();
                    let attrs = e
                        .attributes()
                        .map(|a| {
                            let a = a.unwrap();
                            (
                                a.key.as_ref().to_string(),
                                a.normalized_value(XmlVersion::Implicit1_0)
                                    .unwrap()
                                    .into_owned(),
                            )
                        })
                        .collect();
                    tags.push((name, attrs));
                    depth += 1;
                }
                Event::End(_) => depth -= 1,
                Event::Text(t) => text.push_str(&t.xml10_content()),
                Event::GeneralRef(r) => {
                    text.push_str(match r.as_ref() {
                        "lt" => "<",
                        "gt" => ">",
                        "amp" => "&",
                        "quot" => "\"",
                        "apos" => "'",
                        other => panic!("unexpected entity {other}"),
                    });
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert!(depth >= 0);
        (tags, text)
    }

    fn attr<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
        attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn render(report: &RunReport) -> String {
        let mut out = Vec::new();
        write(report, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn one_testcase_per_row_with_the_right_verdicts() {
        let report = sample_report();
        let xml = render(&report);
        let (tags, _) = parse(&xml);
        let suites: Vec<_> = tags.iter().filter(|(n, _)| n == "testsuite").collect();
        assert_eq!(suites.len(), 1);
        let suite = &suites[0].1;
        assert_eq!(attr(suite, "tests"), Some("5"));
        assert_eq!(attr(suite, "failures"), Some("1"));
        assert_eq!(attr(suite, "errors"), Some("1"));
        assert_eq!(attr(suite, "skipped"), Some("1"));
        assert_eq!(attr(suite, "time"), Some("12.250"));
        let cases: Vec<_> = tags.iter().filter(|(n, _)| n == "testcase").collect();
        assert_eq!(cases.len(), report.rows.len());
        assert_eq!(
            attr(&cases[0].1, "name"),
            Some("pools/site a.csv:2 198.51.100.0-198.51.100.15")
        );
        assert_eq!(attr(&cases[0].1, "classname"), Some("backup01"));
        assert_eq!(
            attr(&cases[3].1, "name"),
            Some("pools/site a.csv:5 010.1.1.1")
        );
        let count = |name: &str| tags.iter().filter(|(n, _)| n == name).count();
        assert_eq!(count("failure"), 1);
        assert_eq!(count("error"), 1);
        assert_eq!(count("skipped"), 1);
        let failure = &tags.iter().find(|(n, _)| n == "failure").unwrap().1;
        // The message survives escaping intact, on one line.
        assert_eq!(
            attr(failure, "message"),
            Some(
                "server said: <script>alert(\"x\")</script> & \"quotes\", 'apostrophes' second line"
            )
        );
    }

    #[test]
    fn escapes_everything() {
        let mut report = sample_report();
        report.rows[0].source = "a<b>&\"c\".csv".to_string();
        report.rows[0].detail = "bell\u{7} and nul\u{0} ]]> end".to_string();
        report.server = "https://em01/api?x=<1>&y=\"2\"".to_string();
        let xml = render(&report);
        assert!(!xml.contains("<script>"));
        assert!(!xml.contains('\u{7}'));
        let (tags, text) = parse(&xml);
        let case = &tags.iter().find(|(n, _)| n == "testcase").unwrap().1;
        assert!(attr(case, "name").unwrap().starts_with("a<b>&\"c\".csv:2 "));
        assert!(text.contains("bell\u{FFFD} and nul\u{FFFD} ]]> end"));
        assert!(text.contains("<script>alert(\"x\")</script>"));
        // Comments reach <system-out>, escaped and intact.
        assert!(text.contains("comment: note 2"));
        assert!(text.contains("comment: site A, \"rack 3\" | <b>old</b>"));
        let prop = tags
            .iter()
            .find(|(n, a)| n == "property" && attr(a, "name") == Some("server"))
            .unwrap();
        assert_eq!(
            attr(&prop.1, "value"),
            Some("https://em01/api?x=<1>&y=\"2\"")
        );
    }

    #[test]
    fn validates_with_xmllint_when_available() {
        // xmllint is the CI's XML tool (README); parse with it too when installed.
        let Ok(status) = std::process::Command::new("xmllint")
            .arg("--version")
            .output()
        else {
            eprintln!("xmllint not installed; skipping the second parser");
            return;
        };
        assert!(status.status.success());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junit.xml");
        std::fs::write(&path, render(&sample_report())).unwrap();
        let out = std::process::Command::new("xmllint")
            .args(["--noout", "--nonet"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn names_rows_without_addresses() {
        let mut row = sample_report().rows[0].clone();
        row.first.clear();
        row.last.clear();
        assert_eq!(testcase_name(&row), "pools/site a.csv:2");
    }
}
