//! One test per validation rule code: the code is reported, on the right
//! line (and column where there is one), and the row's validity is right.

use ipimport::config::ValidationSettings;
use ipimport::em::client::BackupServer;
use ipimport::engine::plan::resolve_backup_servers;
use ipimport::pipeline::{Batch, InputOptions, load, load_batch};
use ipimport::validate::{CODES, Severity};

fn settings(server: Option<&str>) -> ValidationSettings {
    ValidationSettings {
        backup_server: server.map(str::to_string),
        ..ValidationSettings::default()
    }
}

/// Load `text` as a file named `name` (extension decides the format).
fn load_one(name: &str, text: &[u8], settings: &ValidationSettings) -> Batch {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let input = path.to_str().unwrap().to_string();
    load_batch(&[input], &InputOptions::default(), settings, true).unwrap()
}

/// Every diagnostic with `code`: (line, column).
fn found(batch: &Batch, code: &str) -> Vec<(u64, Option<String>)> {
    batch
        .diagnostics
        .iter()
        .filter(|d| d.code == code)
        .map(|d| (d.line, d.column.clone()))
        .collect()
}

/// A CSV with a header, one good row on line 2, and `row` on line 3.
fn csv_with(row: &str) -> Vec<u8> {
    format!("backup_server,first,last,comment\nb1,203.0.113.1,,ok\n{row}\n").into_bytes()
}

/// Assert that `row` (line 3) yields exactly `code` in `column`, and is invalid.
fn assert_error(code: &str, row: &str, column: Option<&str>) {
    let batch = load_one("t.csv", &csv_with(row), &settings(Some("b1")));
    assert_eq!(
        found(&batch, code),
        vec![(3, column.map(str::to_string))],
        "{code}: {:?}",
        batch.diagnostics
    );
    let d = batch.diagnostics.iter().find(|d| d.code == code).unwrap();
    assert_eq!(d.severity, Severity::Error);
    assert!(d.source.ends_with("t.csv"));
    assert_eq!(batch.rows_total, 2);
    assert_eq!(batch.rows_invalid, 1, "{code}");
    assert!(batch.has_errors());
    // The good row is still merged.
    assert_eq!(batch.ranges.len(), 1);
    assert_eq!(batch.rows[1].errors.len(), 1);
}

#[test]
fn bad_address() {
    assert_error("bad-address", "b1,198.51.100.300,,", Some("first"));
    assert_error("bad-address", "b1,198.51.100.3,x.y,", Some("last"));
}

#[test]
fn leading_zero() {
    assert_error("leading-zero", "b1,010.1.1.1,,", Some("first"));
}

#[test]
fn ipv6_zone() {
    assert_error("ipv6-zone", "b1,fe80::1%eth0,,", Some("first"));
}

#[test]
fn ipv4_mapped() {
    assert_error("ipv4-mapped", "b1,::ffff:198.51.100.7,,", Some("first"));
}

#[test]
fn bad_prefix_and_host_bits() {
    let text = b"server,cidr\nb1,198.51.100.0/33\nb1,198.51.100.7/28\n";
    let batch = load_one("t.csv", text, &settings(None));
    assert_eq!(found(&batch, "bad-prefix"), vec![(2, Some("cidr".into()))]);
    assert_eq!(
        found(&batch, "host-bits-set"),
        vec![(3, Some("cidr".into()))]
    );
    assert_eq!(batch.rows_invalid, 2);
}

#[test]
fn reversed_range() {
    assert_error(
        "reversed-range",
        "b1,198.51.100.9,198.51.100.7,",
        Some("last"),
    );
}

#[test]
fn mixed_family() {
    assert_error("mixed-family", "b1,198.51.100.9,2001:db8::1,", Some("last"));
}

#[test]
fn missing_address() {
    assert_error("missing-address", "b1,,,only a comment", None);
    assert_error("missing-address", "b1,,198.51.100.1,", Some("last"));
}

#[test]
fn ambiguous_range() {
    let text = b"range,first\n203.0.113.1,\n203.0.113.2,203.0.113.3\n";
    let batch = load_one("t.csv", text, &settings(Some("b1")));
    assert_eq!(
        found(&batch, "ambiguous-range"),
        vec![(3, Some("first".into()))]
    );
    // A last address beside a range is not dropped either.
    let text = b"range,first,last\n203.0.113.4,,203.0.113.5\n";
    let batch = load_one("t.csv", text, &settings(Some("b1")));
    assert_eq!(
        found(&batch, "ambiguous-range"),
        vec![(2, Some("last".into()))]
    );
    assert!(batch.ranges.is_empty());
    let text = b"- 203.0.113.1\n- range: 203.0.113.2\n  last: 203.0.113.3\n- {range: 203.0.113.7, start: 203.0.113.8}\n";
    let batch = load_one("t.yaml", text, &settings(Some("b1")));
    assert_eq!(
        found(&batch, "ambiguous-range"),
        vec![(2, Some("last".into())), (4, Some("start".into()))]
    );
    let d = batch
        .diagnostics
        .iter()
        .find(|d| d.code == "ambiguous-range")
        .unwrap();
    assert!(
        d.message.contains("'range'")
            && d.message.contains("'last'")
            && d.message.contains("keep one"),
        "{}",
        d.message
    );
}

#[test]
fn range_too_large() {
    assert_error("range-too-large", "b1,1.0.0.0,1.1.0.0,", Some("first"));
    // The limit is the setting's.
    let mut s = settings(Some("b1"));
    s.max_range_size = 16;
    let batch = load_one("t.csv", b"range\n203.0.113.0/28\n203.0.113.32/27\n", &s);
    assert_eq!(
        found(&batch, "range-too-large"),
        vec![(3, Some("range".into()))]
    );
}

#[test]
fn non_public() {
    assert_error("non-public", "b1,10.0.0.1,10.0.0.9,", Some("first"));
    assert_error("non-public", "b1,192.0.0.8,192.0.0.9,", Some("first"));
    assert_error("non-public", "b1,fd00::1,,", Some("first"));
    assert_error("non-public", "b1,2002::1,,", Some("first"));
    // Allowed on request, and the globally reachable holes stay public.
    let mut s = settings(Some("b1"));
    s.allow_nonpublic = true;
    let batch = load_one("t.csv", b"range\n10.0.0.0/24\n192.168.1.1\n", &s);
    assert!(!batch.has_errors());
    let batch = load_one(
        "t.csv",
        b"range\n192.0.0.9-192.0.0.10\n",
        &settings(Some("b1")),
    );
    assert!(!batch.has_errors(), "{:?}", batch.diagnostics);
}

#[test]
fn missing_backup_server() {
    let text = b"backup_server,range\nb1,203.0.113.1\n,203.0.113.2\n";
    let batch = load_one("t.csv", text, &settings(None));
    assert_eq!(found(&batch, "missing-backup-server"), vec![(3, None)]);
    // The default fills the gap.
    let batch = load_one("t.csv", text, &settings(Some("b2")));
    assert!(!batch.has_errors());
    assert_eq!(batch.ranges.len(), 2);
    assert_eq!(batch.ranges[1].backup_server, "b2");
}

#[test]
fn bad_backup_server_uid() {
    assert_error(
        "bad-backup-server-uid",
        "urn:veeam:BackupServer:nope,203.0.113.9,,",
        Some("backup_server"),
    );
    // A good UID is canonicalized, so both spellings merge together.
    let text = b"backup_server,range\nurn:veeam:BackupServer:8C0B7C2E-6F4A-4A8E-9D1C-3B2F1E0A9D77,203.0.113.1\nurn:veeam:BackupServer:8c0b7c2e-6f4a-4a8e-9d1c-3b2f1e0a9d77,203.0.113.2\n";
    let batch = load_one("t.csv", text, &settings(None));
    assert!(!batch.has_errors());
    assert_eq!(batch.ranges.len(), 1);
    assert_eq!(
        batch.ranges[0].backup_server,
        "urn:veeam:BackupServer:8c0b7c2e-6f4a-4a8e-9d1c-3b2f1e0a9d77"
    );
}

#[test]
fn unterminated_quote() {
    let batch = load_one(
        "t.csv",
        b"range,comment\n203.0.113.1,x\n203.0.113.2,\"open\n203.0.113.3,y\n",
        &settings(Some("b1")),
    );
    assert_eq!(found(&batch, "unterminated-quote"), vec![(3, None)]);
    assert_eq!(batch.rows_total, 2);
    let d = batch
        .diagnostics
        .iter()
        .find(|d| d.code == "unterminated-quote")
        .unwrap();
    assert!(
        d.message.contains("opened on line 3") && d.message.contains("line 4 was read into it"),
        "{}",
        d.message
    );
    // Opened on a later line of a record, swallowing several lines.
    let batch = load_one(
        "t.csv",
        b"range,comment,owner\n203.0.113.1,\"two\nlines\",\"open\n203.0.113.3,y\n203.0.113.4,z",
        &settings(Some("b1")),
    );
    let d = batch
        .diagnostics
        .iter()
        .find(|d| d.code == "unterminated-quote")
        .unwrap();
    assert_eq!(d.line, 2);
    assert!(
        d.message.contains("opened on line 3") && d.message.contains("lines 4-5 were read"),
        "{}",
        d.message
    );
}

#[test]
fn unterminated_quote_in_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.csv");
    std::fs::write(&path, b"# exported\n\"server,range\nb,198.51.100.1\n").unwrap();
    let inputs = [path.to_str().unwrap().to_string()];
    let loaded = load(
        &inputs,
        &InputOptions::default(),
        &settings(Some("b1")),
        false,
    )
    .unwrap();
    assert_eq!(loaded.diagnostics.len(), 1, "{:?}", loaded.diagnostics);
    let d = &loaded.diagnostics[0];
    assert_eq!((d.code, d.line), ("unterminated-quote", 2));
    assert!(
        d.message.contains("opened on line 2") && d.message.contains("line 3 was read into it"),
        "{}",
        d.message
    );
    // plan and apply stop on it, with the same advice.
    let err = load_batch(&inputs, &InputOptions::default(), &settings(None), false).unwrap_err();
    assert!(
        err.to_string()
            .contains("h.csv:2: a quoted field opened on line 2"),
        "{err}"
    );
}

#[test]
fn not_text() {
    let batch = load_one(
        "t.csv",
        b"range,comment\n203.0.113.1,caf\xe9\n203.0.113.2,ok\n",
        &settings(Some("b1")),
    );
    assert_eq!(found(&batch, "not-text"), vec![(2, None)]);
    assert_eq!(batch.rows_invalid, 1);
}

#[test]
fn bad_entry() {
    let batch = load_one(
        "t.yaml",
        b"- 203.0.113.1\n- [1, 2]\n- 42\n- {first: 203.0.113.5, start: 203.0.113.6}\n",
        &settings(Some("b1")),
    );
    assert_eq!(
        found(&batch, "bad-entry"),
        vec![(2, None), (3, None), (4, None)]
    );
}

#[test]
fn bad_entry_key_clash_names_the_keys() {
    let batch = load_one(
        "t.yaml",
        b"- ip: 198.51.100.9\n  range: 198.51.100.10\n- server: a\n  backup_server: b\n  range: 198.51.100.11\n",
        &settings(Some("b1")),
    );
    let messages: Vec<&str> = batch
        .diagnostics
        .iter()
        .filter(|d| d.code == "bad-entry")
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(messages.len(), 2, "{:?}", batch.diagnostics);
    assert!(
        messages[0].contains("keys 'ip' and 'range' both mean range"),
        "{}",
        messages[0]
    );
    assert!(
        messages[1].contains("keys 'server' and 'backup_server' both mean backup_server"),
        "{}",
        messages[1]
    );
}

#[test]
fn bad_cell() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (col, name) in ["server", "range", "note"].iter().enumerate() {
        sheet.write_string(0, col as u16, *name).unwrap();
    }
    sheet.write_string(1, 1, "8.8.8.8").unwrap();
    let na = rust_xlsxwriter::Formula::new("=NA()").set_result("#N/A");
    sheet.write_formula(2, 1, na).unwrap();
    sheet.write_boolean(3, 0, true).unwrap();
    sheet.write_string(3, 1, "8.8.8.9").unwrap();
    sheet.write_boolean(4, 2, true).unwrap();
    sheet.write_string(4, 1, "8.8.8.10").unwrap();
    book.save(&path).unwrap();
    let batch = load_batch(
        &[path.to_str().unwrap().to_string()],
        &InputOptions::default(),
        &settings(Some("b1")),
        true,
    )
    .unwrap();
    assert_eq!(
        found(&batch, "bad-cell"),
        vec![(3, Some("range".into())), (4, Some("server".into()))]
    );
    let messages: Vec<&str> = batch
        .diagnostics
        .iter()
        .filter(|d| d.code == "bad-cell")
        .map(|d| d.message.as_str())
        .collect();
    assert!(
        messages[0].contains("spreadsheet error #N/A"),
        "{}",
        messages[0]
    );
    assert!(messages[1].contains("boolean TRUE"), "{}", messages[1]);
    // A boolean in a comment is just text; rows 2 and 5 are valid.
    assert_eq!((batch.rows_total, batch.rows_invalid), (4, 2));
}

#[test]
fn documentation_range() {
    let batch = load_one(
        "t.csv",
        b"range\n8.8.8.8\n198.51.100.0/30\n2001:db8::1\n",
        &settings(Some("b1")),
    );
    assert_eq!(
        found(&batch, "documentation-range"),
        vec![(3, Some("range".into())), (4, Some("range".into()))]
    );
    assert!(!batch.has_errors());
    assert_eq!(batch.rows_invalid, 0);
}

#[test]
fn overlap_and_duplicate() {
    let text = b"range\n203.0.113.0/28\n203.0.113.8-203.0.113.20\n203.0.113.0/28\n203.0.113.21\n";
    let batch = load_one("t.csv", text, &settings(Some("b1")));
    assert_eq!(found(&batch, "overlap"), vec![(3, None)]);
    assert_eq!(found(&batch, "duplicate"), vec![(4, None)]);
    let overlap = batch
        .diagnostics
        .iter()
        .find(|d| d.code == "overlap")
        .unwrap();
    assert!(overlap.message.contains("t.csv:2"), "{}", overlap.message);
    let duplicate = batch
        .diagnostics
        .iter()
        .find(|d| d.code == "duplicate")
        .unwrap();
    assert!(
        duplicate.message.contains("t.csv:2"),
        "{}",
        duplicate.message
    );
    assert!(!batch.has_errors());
    // Overlapping and adjacent rows merge into one range with all four sources.
    assert_eq!(batch.ranges.len(), 1);
    assert_eq!(
        batch.ranges[0].range.to_string(),
        "203.0.113.0-203.0.113.21"
    );
    let lines: Vec<u64> = batch.ranges[0].sources.iter().map(|s| s.line).collect();
    assert_eq!(lines, vec![2, 3, 4, 5]);
}

#[test]
fn overlaps_across_servers_are_left_to_plan() {
    // One public address given to two backup servers' pools: validate keeps
    // each pool's range (merging is per backup server) and says nothing, as
    // offline it cannot tell a name from another server's UID; `plan`, which
    // resolves them, warns (merge::cross_server_overlaps).
    let text = b"server,range\nb1,203.0.113.0/28\nb2,203.0.113.8-203.0.113.20\nb3,203.0.113.21\n\
                 b2,2001:db8::1\nb1,2001:db8::1-2001:db8::5\n";
    let mut batch = load_one("t.csv", text, &settings(None));
    assert!(
        found(&batch, "overlap").is_empty(),
        "{:?}",
        batch.diagnostics
    );
    assert_eq!(batch.ranges.len(), 5);
    let uid = |n: u8| format!("urn:veeam:BackupServer:9b1c8a3e-0000-4000-8000-00000000000{n}");
    let servers: Vec<BackupServer> = (1..=3)
        .map(|n| BackupServer {
            name: format!("b{n}"),
            uid: uid(n),
        })
        .collect();
    resolve_backup_servers(&mut batch, &servers);
    // Resolved: a warning on the later row naming the earlier one and both
    // servers; adjacency across servers (b3's .21 after b2's .20) is none.
    assert_eq!(found(&batch, "overlap"), vec![(3, None), (6, None)]);
    assert!(found(&batch, "duplicate").is_empty());
    let first = batch
        .diagnostics
        .iter()
        .find(|d| d.code == "overlap")
        .unwrap();
    for part in ["t.csv:2", "b1", "b2", "203.0.113.8-203.0.113.15"] {
        assert!(first.message.contains(part), "{part}: {}", first.message);
    }
    assert!(!batch.has_errors());
    assert_eq!(batch.ranges.len(), 5);
}

#[test]
fn backup_server_names_differing_in_case_are_one_pool() {
    // Enterprise Manager resolves names case-insensitively: BACKUP01 is
    // backup01, shown as first written.
    let text = b"server,range\nbackup01,203.0.113.1-203.0.113.10\nBACKUP01,203.0.113.5\nBackup01,203.0.113.11\n";
    let batch = load_one("t.csv", text, &settings(None));
    assert_eq!(found(&batch, "overlap"), vec![(3, None)]);
    assert_eq!(batch.ranges.len(), 1);
    assert_eq!(batch.ranges[0].backup_server, "backup01");
    assert_eq!(
        batch.ranges[0].range.to_string(),
        "203.0.113.1-203.0.113.11"
    );
    assert_eq!(batch.addresses_total(), 11);
}

#[test]
fn many_copies_are_not_quadratic() {
    let mut text = String::from("range\n");
    for _ in 0..2000 {
        text.push_str("203.0.113.0/24\n");
    }
    let batch = load_one("t.csv", text.as_bytes(), &settings(Some("b1")));
    assert_eq!(found(&batch, "duplicate").len(), 1999);
}

#[test]
fn unknown_column() {
    let text = b"Owner,range,Ticket,Owner\nx,203.0.113.1,t,y\n";
    let batch = load_one("t.csv", text, &settings(Some("b1")));
    assert_eq!(found(&batch, "unknown-column"), vec![(1, None)]);
    let d = batch
        .diagnostics
        .iter()
        .find(|d| d.code == "unknown-column")
        .unwrap();
    assert!(d.message.contains("'Owner'") && d.message.contains("'Ticket'"));
    assert_eq!(d.severity, Severity::Warning);
    // Cells under an empty header cell or past the last one: warned once per file.
    let text = b"range,,comment\n203.0.113.1,,a\n203.0.113.2,x,b,y\n203.0.113.3,,c,z\n";
    let batch = load_one("t.csv", text, &settings(Some("b1")));
    assert_eq!(found(&batch, "unknown-column"), vec![(3, None)]);
    let d = batch
        .diagnostics
        .iter()
        .find(|d| d.code == "unknown-column")
        .unwrap();
    assert!(
        d.message.contains("no column name") && d.message.contains("cell 2"),
        "{}",
        d.message
    );
    assert!(!batch.has_errors());
    let batch = load_one(
        "t.csv",
        b"range\n203.0.113.1\n203.0.113.2,extra\n",
        &settings(Some("b1")),
    );
    assert_eq!(found(&batch, "unknown-column"), vec![(3, None)]);
}

#[test]
fn unreadable_input_and_bad_header() {
    let dir = tempfile::tempdir().unwrap();
    let put = |name: &str, text: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let inputs = [
        put("e.csv", b"\n# nothing\n"),
        put("n.csv", b"\n\nowner,note\nx,y\n"),
        put("u.csv", b"\xff\xfer\x00"),
        dir.path().join("gone.csv").to_str().unwrap().to_string(),
        put("ok.csv", b"range\n8.8.8.8\n"),
    ];
    let loaded = load(
        &inputs,
        &InputOptions::default(),
        &settings(Some("b1")),
        false,
    )
    .unwrap();
    let found: Vec<(&str, &str, u64)> = loaded
        .diagnostics
        .iter()
        .map(|d| (d.source.rsplit('/').next().unwrap(), d.code, d.line))
        .collect();
    assert_eq!(
        found,
        vec![
            ("e.csv", "bad-header", 1),
            ("n.csv", "bad-header", 3),
            ("u.csv", "unreadable-input", 1),
            ("gone.csv", "unreadable-input", 1),
        ]
    );
    assert!(loaded.has_errors());
    assert_eq!(loaded.rows_total, 1);
    // plan and apply read through load_batch, which still stops on them.
    assert!(
        load_batch(
            &inputs,
            &InputOptions::default(),
            &settings(Some("b1")),
            false
        )
        .is_err()
    );
}

#[test]
fn every_code_has_a_test_above() {
    // Keep this list in step with the tests of this file.
    let tested = [
        "bad-address",
        "leading-zero",
        "ipv6-zone",
        "ipv4-mapped",
        "bad-prefix",
        "host-bits-set",
        "reversed-range",
        "mixed-family",
        "missing-address",
        "ambiguous-range",
        "range-too-large",
        "non-public",
        "missing-backup-server",
        "bad-backup-server-uid",
        "unterminated-quote",
        "not-text",
        "bad-entry",
        "bad-cell",
        "documentation-range",
        "overlap",
        "duplicate",
        "unknown-column",
        "unreadable-input",
        "bad-header",
    ];
    for (code, _, _) in CODES {
        assert!(tested.contains(code), "no test for {code}");
    }
    assert_eq!(tested.len(), CODES.len());
}

#[test]
fn values_are_trimmed() {
    let text = b"range , backup server \n  203.0.113.1 - 203.0.113.3  ,  b1  \n";
    let batch = load_one("t.csv", text, &settings(None));
    assert!(!batch.has_errors(), "{:?}", batch.diagnostics);
    assert_eq!(batch.ranges[0].backup_server, "b1");
    assert_eq!(batch.ranges[0].range.count(), 3);
}

#[test]
fn bad_default_backup_server_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    std::fs::write(&path, "range\n203.0.113.1\n").unwrap();
    let err = load_batch(
        &[path.to_str().unwrap().to_string()],
        &InputOptions::default(),
        &settings(Some("urn:veeam:BackupServer:zz")),
        false,
    )
    .unwrap_err();
    assert!(err.to_string().contains("--backup-server"));
}

#[test]
fn malformed_cells_are_described_as_what_they_are() {
    let text = b"first,last,server\n,203.0.113.9,b\n203.0.113.0/28,,b\n203.0.113.1,203.0.113.0-203.0.113.3,b\n";
    let batch = load_one("t.csv", text, &settings(None));
    assert_eq!(
        found(&batch, "missing-address"),
        vec![(2, Some("last".into()))]
    );
    assert_eq!(
        found(&batch, "bad-address"),
        vec![(3, Some("first".into())), (4, Some("last".into()))]
    );
    let message = |line| {
        batch
            .diagnostics
            .iter()
            .find(|d| d.line == line)
            .unwrap()
            .message
            .clone()
    };
    assert!(message(2).contains("no first"), "{}", message(2));
    assert!(
        message(3).contains("is a CIDR block or a range"),
        "{}",
        message(3)
    );
    assert!(message(4).contains("range column"), "{}", message(4));

    let text = b"range,server\n-203.0.113.13,b\n203.0.113.9-203.0.113.10-203.0.113.11,b\n2a00::010.1.1.1,b\n203.0.113.5-,b\n";
    let batch = load_one("t.csv", text, &settings(None));
    let lines = |code| -> Vec<u64> { found(&batch, code).into_iter().map(|(l, _)| l).collect() };
    assert_eq!(lines("bad-address"), vec![2, 3, 5]);
    assert_eq!(lines("leading-zero"), vec![4]);
    let by_line: Vec<String> = batch
        .diagnostics
        .iter()
        .map(|d| d.message.clone())
        .collect();
    assert!(
        by_line[0].contains("'-203.0.113.13' is a range with one end missing"),
        "{by_line:?}"
    );
    assert!(
        by_line[1].contains("'203.0.113.9-203.0.113.10-203.0.113.11' has more than one '-'"),
        "{by_line:?}"
    );
}
