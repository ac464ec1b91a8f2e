//! `ipimport report RUN_DIR --format ...` end to end: the test writes a run
//! directory with `write_run_reports`, runs the binary on it and checks each
//! format's output and the exit codes.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ipimport::report::{
    RequestReport, RowReport, RowStatus, RunReport, Summary, read_report, write_run_reports,
};

/// Run `ipimport` with `args`, killing it after 30 s.
fn ipimport(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ipimport"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ipimport");
    // Drain both pipes on threads so a large report cannot block the child.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        stdout.read_to_end(&mut v).map(|_| v)
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        stderr.read_to_end(&mut v).map(|_| v)
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ipimport {args:?} did not finish in 30 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out.join().unwrap().unwrap(),
        stderr: err.join().unwrap().unwrap(),
    }
}

fn fixture() -> RunReport {
    let row = |line: u64, first: &str, last: &str, status: RowStatus, detail: &str| RowReport {
        source: "pools/east.csv".to_string(),
        line,
        backup_server: "backup01".to_string(),
        first: first.to_string(),
        last: last.to_string(),
        status,
        detail: detail.to_string(),
        tasks: if status == RowStatus::Created || status == RowStatus::Failed {
            vec![format!("task-{line}")]
        } else {
            vec![]
        },
        comment: format!("ticket {line}"),
    };
    let rows = vec![
        row(
            2,
            "198.51.100.0",
            "198.51.100.15",
            RowStatus::Created,
            "16 of 16 addresses added",
        ),
        row(3, "198.51.100.20", "198.51.100.20", RowStatus::Present, ""),
        row(
            4,
            "203.0.113.0",
            "203.0.113.7",
            RowStatus::Failed,
            "the server refused: <pool is full> & more",
        ),
        row(
            5,
            "10.0.0.1",
            "10.0.0.1",
            RowStatus::Invalid,
            "10.0.0.1 is not public",
        ),
        row(
            6,
            "203.0.113.64",
            "203.0.113.79",
            RowStatus::Failed,
            "task timed out",
        ),
        row(
            7,
            "2001:db8::",
            "2001:db8::ff",
            RowStatus::Skipped,
            "not attempted",
        ),
    ];
    let mut summary = Summary {
        ranges_merged: 4,
        addresses_desired: 297,
        addresses_present: 1,
        addresses_created: 16,
        addresses_failed: 24,
        requests_submitted: 3,
        tasks_succeeded: 1,
        tasks_failed: 2,
        task_polls: 9,
        http_requests: 17,
        retries: 1,
        duration_s: 4.5,
        ..Summary::default()
    };
    summary.tally_rows(&rows);
    RunReport {
        run_id: "20261203T171500Z-3f9a1c".to_string(),
        server: "https://127.0.0.1:9398/api".to_string(),
        started_at: "2026-12-03T17:15:00Z".parse().unwrap(),
        finished_at: "2026-12-03T17:15:04.500Z".parse().unwrap(),
        resumed: true,
        summary,
        rows,
        requests: vec![RequestReport {
            backup_server_uid: "urn:veeam:BackupServer:00000000-0000-4000-8000-000000000001"
                .to_string(),
            first: "203.0.113.0".to_string(),
            last: "203.0.113.7".to_string(),
            addresses: 8,
            task_id: Some("task-4".to_string()),
            state: "Finished".to_string(),
            success: Some(false),
            message: "<pool is full> & more".to_string(),
            attempts: 1,
        }],
    }
}

fn run_dir() -> (tempfile::TempDir, RunReport) {
    let dir = tempfile::tempdir().unwrap();
    let report = fixture();
    write_run_reports(dir.path(), &report).unwrap();
    (dir, report)
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn junit_has_one_testcase_per_row() {
    let (dir, report) = run_dir();
    let out = ipimport(&["report", arg(dir.path()), "--format", "junit"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xml = String::from_utf8(out.stdout).unwrap();
    // Parse it fully: well-formed, and count the elements.
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut cases, mut failures, mut errors, mut skipped) = (0, 0, 0, 0);
    loop {
        match reader.read_event().expect("well-formed JUnit XML") {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                match e.name().as_ref() {
                    "testcase" => cases += 1,
                    "failure" => failures += 1,
                    "error" => errors += 1,
                    "skipped" => skipped += 1,
                    _ => {}
                }
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(cases, report.rows.len());
    assert_eq!((failures, errors, skipped), (2, 1, 1));
    assert!(xml.contains("name=\"pools/east.csv:4 203.0.113.0-203.0.113.7\""));
    assert!(xml.contains("&lt;pool is full&gt; &amp; more"));
}

#[test]
fn json_to_a_file_is_the_same_report() {
    let (dir, report) = run_dir();
    let target = dir.path().join("again.json");
    let out = ipimport(&[
        "report",
        arg(dir.path()),
        "--format",
        "json",
        "-o",
        arg(&target),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    assert_eq!(read_report(&target).unwrap(), report);
    // And it is byte for byte what apply wrote.
    assert_eq!(
        std::fs::read(&target).unwrap(),
        std::fs::read(dir.path().join("report.json")).unwrap()
    );
}

#[test]
fn markdown_is_the_default_and_csv_html_render() {
    let (dir, report) = run_dir();
    let out = ipimport(&["report", arg(dir.path())]);
    assert_eq!(out.status.code(), Some(0));
    let md = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        md,
        std::fs::read_to_string(dir.path().join("report.md")).unwrap()
    );
    assert!(md.contains("## Failed rows (2)"));
    assert!(md.contains("(resumed from the journal)"));

    let out = ipimport(&["report", arg(dir.path()), "--format", "csv"]);
    assert_eq!(out.status.code(), Some(0));
    let mut csv = csv::Reader::from_reader(out.stdout.as_slice());
    let statuses: Vec<String> = csv.records().map(|r| r.unwrap()[5].to_string()).collect();
    let expected: Vec<String> = report.rows.iter().map(|r| r.status.to_string()).collect();
    assert_eq!(statuses, expected);

    let out = ipimport(&["report", arg(dir.path()), "--format", "html"]);
    assert_eq!(out.status.code(), Some(0));
    let html = String::from_utf8(out.stdout).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<tr class=\"row ").count(), report.rows.len());
    assert!(!html.contains("<pool"));
}

#[test]
fn missing_or_damaged_reports_exit_2_with_advice() {
    let base = tempfile::tempdir().unwrap();
    let missing = base.path().join("no-such-run");
    let out = ipimport(&["report", arg(&missing), "--format", "md"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not exist"), "{err}");

    // A run directory whose apply has not written its report.
    let out = ipimport(&["report", arg(base.path()), "--format", "junit"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no report.json"), "{err}");
    assert!(err.contains("--resume"), "{err}");

    std::fs::write(base.path().join("report.json"), "{ not json").unwrap();
    let out = ipimport(&["report", arg(base.path())]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a report written by ipimport"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    // `ipimport report DIR --format html | head`: big enough to overflow the pipe.
    let dir = tempfile::tempdir().unwrap();
    let mut report = fixture();
    let template = report.rows[0].clone();
    report.rows = (0..20_000)
        .map(|i| RowReport {
            line: i + 2,
            ..template.clone()
        })
        .collect();
    write_run_reports(dir.path(), &report).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ipimport"))
        .args(["report", arg(dir.path()), "--format", "html"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 15];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap();
    assert_eq!(&head, b"<!DOCTYPE html>");
    // The pipe is closed now; the child must end quietly, and soon.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ipimport report did not end after its reader left");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.is_empty(), "{err}");
}
