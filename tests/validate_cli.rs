//! `ipimport validate` as a process: exit codes, text and JSON output.

use std::io::Write;
use std::process::{Command, Stdio};

use ipimport::config::ValidationSettings;
use ipimport::pipeline::{InputOptions, load, load_batch};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ipimport");
const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples");

fn sample(name: &str) -> String {
    format!("{SAMPLES}/{name}")
}

fn validate(args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .arg("validate")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn samples_are_valid() {
    let (code, out, err) = validate(
        &[
            &sample("ranges.csv"),
            &sample("ranges.yaml"),
            &sample("ranges.xlsx"),
            "--backup-server",
            "backup01",
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 invalid; 0 errors"), "{out}");
    assert!(out.contains("backup01  ipv6"), "{out}");
}

#[test]
fn bad_sample_names_every_bad_line() {
    let (code, out, _) = validate(&[&sample("bad.csv")], None);
    assert_eq!(code, 2, "{out}");
    let bad = sample("bad.csv");
    for line in (2..=18).filter(|l| *l != 12) {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("{bad}:{line}:")) && l.contains("error[")),
            "line {line} not named:\n{out}"
        );
    }
    // The valid row is still merged and listed.
    assert!(out.contains("203.0.113.0-203.0.113.15"), "{out}");
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort();
    k
}

#[test]
fn json_follows_the_contract() {
    let (code, out, _) = validate(
        &[
            "--format",
            "json",
            &sample("bad.csv"),
            &sample("ranges.yaml"),
        ],
        None,
    );
    assert_eq!(code, 2);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        keys(&doc),
        vec![
            "addresses_total",
            "diagnostics",
            "ranges",
            "rows_invalid",
            "rows_total"
        ]
    );
    assert_eq!(doc["rows_total"], 23);
    assert_eq!(doc["rows_invalid"], 16);
    let diagnostics = doc["diagnostics"].as_array().unwrap();
    assert!(!diagnostics.is_empty());
    for d in diagnostics {
        assert_eq!(
            keys(d),
            vec!["code", "column", "line", "message", "severity", "source"]
        );
        assert!(["error", "warning"].contains(&d["severity"].as_str().unwrap()));
        assert!(d["code"].is_string() && d["message"].is_string() && d["source"].is_string());
        assert!(d["line"].is_u64());
        assert!(d["column"].is_string() || d["column"].is_null());
    }
    let ranges = doc["ranges"].as_array().unwrap();
    let mut total = 0;
    for r in ranges {
        assert_eq!(
            keys(r),
            vec![
                "addresses",
                "backup_server",
                "family",
                "first",
                "last",
                "sources"
            ]
        );
        assert!(["ipv4", "ipv6"].contains(&r["family"].as_str().unwrap()));
        total += r["addresses"].as_u64().unwrap();
        for s in r["sources"].as_array().unwrap() {
            assert_eq!(keys(s), vec!["line", "source"]);
        }
    }
    assert_eq!(doc["addresses_total"].as_u64().unwrap(), total);
    let first = &ranges[0];
    assert_eq!(first["first"], "198.51.100.128");
    assert_eq!(first["last"], "198.51.100.175");
    assert_eq!(first["addresses"], 48);
}

#[test]
fn streamed_and_value_json_agree() {
    let inputs = vec![
        sample("ranges.csv"),
        sample("ranges.yaml"),
        sample("ranges.xlsx"),
        sample("bad.csv"),
    ];
    let settings = ValidationSettings {
        backup_server: Some("backup01".into()),
        ..ValidationSettings::default()
    };
    let batch = load_batch(&inputs, &InputOptions::default(), &settings, false).unwrap();
    let mut streamed = Vec::new();
    batch.write_json(&mut streamed).unwrap();
    let streamed: Value = serde_json::from_slice(&streamed).unwrap();
    assert_eq!(streamed, batch.to_json());
    let mut compact = Vec::new();
    load(&inputs, &InputOptions::default(), &settings, false)
        .unwrap()
        .write_json(&mut compact)
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&compact).unwrap(),
        batch.to_json()
    );
    let sum: u128 = batch.ranges.iter().map(|r| r.range.count()).sum();
    assert_eq!(batch.addresses_total(), sum);
    assert!(sum > 1130);
}

#[test]
fn stdin_is_csv() {
    let (code, out, _) = validate(
        &["-", "--backup-server", "b1", "--format", "json"],
        Some(b"range\n203.0.113.0/30\n10.0.0.1\n"),
    );
    assert_eq!(code, 2);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["diagnostics"][1]["source"], "<stdin>");
    assert_eq!(doc["diagnostics"][1]["line"], 3);
    assert_eq!(doc["diagnostics"][1]["code"], "non-public");
    assert_eq!(doc["ranges"][0]["sources"][0]["source"], "<stdin>");
}

#[test]
fn unreadable_input_exits_2_with_advice() {
    let (code, out, _) = validate(&["/nonexistent/x.csv"], None);
    assert_eq!(code, 2);
    assert!(
        out.contains("/nonexistent/x.csv:1: error[unreadable-input]: cannot open"),
        "{out}"
    );
    let (code, _, err) = validate(&[&sample("ranges.csv"), "--max-range-size", "0"], None);
    assert_eq!(code, 2);
    assert!(err.contains("--max-range-size"), "{err}");
    let (code, out, _) = validate(&[&sample("ranges.xlsx"), "--sheet", "Missing"], None);
    assert_eq!(code, 2);
    assert!(out.contains("'Pool', 'Retired'"), "{out}");
}

#[test]
fn blank_backup_server_is_a_usage_error() {
    let csv = sample("ranges.csv");
    for value in ["", "  "] {
        let (code, out, err) = validate(&[&csv, "--backup-server", value], None);
        assert_eq!(code, 2, "{out}{err}");
        assert!(
            err.contains("--backup-server") && err.contains("empty"),
            "{err}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "backup_server = \" \"\n").unwrap();
    let (code, out, err) = validate(&[&csv, "--config", config.to_str().unwrap()], None);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("backup_server") && err.contains("empty"),
        "{err}"
    );
    assert!(out.is_empty(), "{out}");
}

#[test]
fn unreadable_input_is_a_diagnostic_and_the_others_are_judged() {
    let dir = tempfile::tempdir().unwrap();
    let put = |name: &str, text: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let good = put("good.csv", b"range\n8.8.8.0/30\n");
    let empty = put("empty.csv", b"");
    let dup = put("dup.csv", b"# x\nrange,cidr\n8.8.4.4,\n");
    let zip = put("zip.csv", b"PK\x03\x04\x00");
    let missing = dir.path().join("missing.csv").to_str().unwrap().to_string();
    let (code, out, err) = validate(
        &[
            &empty,
            &good,
            &dup,
            &missing,
            &zip,
            "--format",
            "json",
            "--backup-server",
            "b1",
        ],
        None,
    );
    assert_eq!(code, 2, "{out}{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let found: Vec<(&str, &str, u64, Option<&str>)> = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["severity"], "error");
            (
                d["source"].as_str().unwrap(),
                d["code"].as_str().unwrap(),
                d["line"].as_u64().unwrap(),
                d["column"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            (empty.as_str(), "bad-header", 1, None),
            (dup.as_str(), "bad-header", 2, Some("cidr")),
            (missing.as_str(), "unreadable-input", 1, None),
            (zip.as_str(), "unreadable-input", 1, None),
        ]
    );
    // The advice is kept, without the location (that is in source/line).
    let messages: Vec<&str> = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["message"].as_str().unwrap())
        .collect();
    assert!(messages[0].starts_with("no header row"), "{}", messages[0]);
    assert!(messages[1].contains("both mean range"), "{}", messages[1]);
    assert!(messages[2].contains("cannot open"), "{}", messages[2]);
    assert!(messages[3].contains("zip"), "{}", messages[3]);
    // The good file is still judged and merged.
    assert_eq!(doc["ranges"][0]["first"], "8.8.8.0");
    // The text format prints them like other diagnostics.
    let (code, out, _) = validate(&[&good, &dup, "--backup-server", "b1"], None);
    assert_eq!(code, 2);
    assert!(
        out.contains(&format!(
            "{dup}:2:cidr: error[bad-header]: columns 'range' and 'cidr'"
        )),
        "{out}"
    );
}

#[test]
fn stdin_takes_input_format() {
    let (code, out, _) = validate(
        &["-", "--input-format", "yaml", "--format", "json"],
        Some(b"backup_server: b7\nranges:\n  - 203.0.113.0/31\n  - 203.0.113.2\n"),
    );
    assert_eq!(code, 0, "{out}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["ranges"][0]["backup_server"], "b7");
    assert_eq!(doc["ranges"][0]["last"], "203.0.113.2");
    assert_eq!(doc["ranges"][0]["sources"][1]["line"], 4);
}

#[test]
fn tsv_extension_forces_tab() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pool.tsv");
    // Commas inside cells: with a tab delimiter they are just text.
    std::fs::write(&path, "range\tcomment\n203.0.113.9\ta, b, c\n").unwrap();
    let (code, out, _) = validate(&[path.to_str().unwrap(), "--backup-server", "b1"], None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("203.0.113.9  (1 address)"), "{out}");
}

#[test]
fn header_line_breaks_keep_each_diagnostic_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mh.csv");
    // Excel's Alt+Enter in header cells and in a server cell.
    std::fs::write(
        &path,
        "\"IP\nRange\",\"Own\ner\",\"Backup\nServer\",\"\"\n\
         198.51.100.300,x,b,\n\
         203.0.113.1,,b,stray\n\
         8.8.8.0/30,,\"b\n2\",\n\
         8.8.8.2,,\"b\n2\",\n\
         8.8.9.1,,\"urn:x\ny\",\n",
    )
    .unwrap();
    let file = path.to_str().unwrap();
    let (code, out, _) = validate(&[file], None);
    assert_eq!(code, 2, "{out}");
    let diagnostics: Vec<&str> = out.split("\n\n").next().unwrap().lines().collect();
    for line in &diagnostics {
        assert!(line.starts_with(&format!("{file}:")), "{line}\nin:\n{out}");
    }
    // The merged ranges too: one line each, the server's line break shown.
    assert!(
        out.contains("  b\\n2  ipv4  8.8.8.0-8.8.8.3  (4 addresses)"),
        "{out}"
    );
    assert!(
        out.contains(&format!("{file}:5:IP\\nRange: error[bad-address]")),
        "{out}"
    );
    let (_, json, _) = validate(&[file, "--format", "json"], None);
    let doc: Value = serde_json::from_str(&json).unwrap();
    let listed = doc["diagnostics"].as_array().unwrap();
    // bad-address, bad-backup-server-uid, documentation-range, overlap, and
    // the unknown and unnamed columns: each one line of the text output.
    assert_eq!(listed.len(), 6, "{json}");
    assert_eq!(diagnostics.len(), listed.len(), "{out}");
    assert!(listed.iter().all(|d| {
        let column = d["column"].as_str().unwrap_or_default();
        !column.contains('\n') && !d["message"].as_str().unwrap().contains('\n')
    }));
}
