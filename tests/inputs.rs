//! Every input shape: CSV/TSV variants, YAML's two shapes, XLSX and ODS
//! sheets, standard input; rows keep their provenance.

use std::io::Write;

use ipimport::cli::InputFormat;
use ipimport::config::ValidationSettings;
use ipimport::pipeline::{Batch, InputOptions, load_batch};

fn settings() -> ValidationSettings {
    ValidationSettings {
        backup_server: Some("b1".into()),
        ..ValidationSettings::default()
    }
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

fn load_opts(name: &str, bytes: &[u8], opts: &InputOptions) -> anyhow::Result<Batch> {
    let dir = tempfile::tempdir().unwrap();
    let input = write(&dir, name, bytes);
    load_batch(&[input], opts, &settings(), true)
}

fn load(name: &str, bytes: &[u8]) -> Batch {
    load_opts(name, bytes, &InputOptions::default()).unwrap()
}

/// (line, range text, server, comment) of every row.
fn rows(batch: &Batch) -> Vec<(u64, String, String, String)> {
    batch
        .rows
        .iter()
        .map(|r| {
            (
                r.source.line,
                r.range.map(|x| x.to_string()).unwrap_or_default(),
                r.backup_server.clone().unwrap_or_default(),
                r.comment.clone().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn csv_spreadsheet_export() {
    let text = "\u{feff}Backup Server;First IP;Last IP;Description;Owner\r\n\
                backup02;203.0.113.1;203.0.113.4;\"Tenant; A\r\nsecond line\";x\r\n\
                \r\n\
                # retired\r\n\
                ;;;;\r\n\
                ;203.0.113.9;;;\r\n";
    let batch = load("export.csv", text.as_bytes());
    assert_eq!(
        rows(&batch),
        vec![
            (
                2,
                "203.0.113.1-203.0.113.4".into(),
                "backup02".into(),
                "Tenant; A\r\nsecond line".into()
            ),
            (7, "203.0.113.9".into(), "b1".into(), String::new()),
        ]
    );
    assert_eq!(batch.rows_total, 2);
    assert_eq!(batch.rows[1].first_text, "203.0.113.9");
    assert_eq!(batch.rows[1].last_text, "203.0.113.9");
}

#[test]
fn csv_with_cr_only_line_ends() {
    // Old Mac Excel's "CSV (Macintosh)": each line ends with a lone CR.
    let text =
        b"Backup Server,First IP,Last IP\rbackup01,8.8.27.1,8.8.27.300\r\rbackup01,8.8.27.7,\r";
    let batch = load("mac.csv", text);
    assert_eq!(batch.rows_total, 2);
    let d: Vec<_> = batch.diagnostics.iter().map(|d| (d.code, d.line)).collect();
    assert_eq!(d, vec![("bad-address", 2)]);
    assert_eq!(
        rows(&batch)[1],
        (4, "8.8.27.7".into(), "backup01".into(), String::new())
    );
}

#[test]
fn every_header_alias_reads() {
    let servers = [
        "backup_server",
        "backupserver",
        "backup_server_uid",
        "BackupServerUid",
        "Server",
    ];
    let singles = ["range", "CIDR", "ip", "Address", "IP Range"];
    let firsts = [
        "first",
        "lower",
        "start",
        "from",
        "first_ip",
        "IpAddressLowerBound",
    ];
    let lasts = [
        "last",
        "upper",
        "end",
        "to",
        "Last IP",
        "ipAddressUpperBound",
    ];
    let comments = ["comment", "description", "Note"];
    for (i, server) in servers.iter().enumerate() {
        let single = singles[i % singles.len()];
        let comment = comments[i % comments.len()];
        let text = format!("{server},{single},{comment}\nbk,203.0.113.0/30,c\n");
        let batch = load("a.csv", text.as_bytes());
        assert_eq!(
            rows(&batch),
            vec![(2, "203.0.113.0-203.0.113.3".into(), "bk".into(), "c".into())],
            "{text}"
        );
    }
    for (first, last) in firsts.iter().zip(lasts.iter()) {
        let text = format!("{first}\t{last}\n203.0.113.5\t203.0.113.6\n");
        let batch = load("a.tsv", text.as_bytes());
        assert_eq!(
            batch.ranges[0].range.to_string(),
            "203.0.113.5-203.0.113.6",
            "{text}"
        );
    }
}

#[test]
fn header_only_is_valid_and_empty_is_not() {
    let batch = load("h.csv", b"range,comment\n\n# nothing yet\n");
    assert_eq!(
        (batch.rows_total, batch.ranges.len(), batch.has_errors()),
        (0, 0, false)
    );
    let err = load_opts("e.csv", b"", &InputOptions::default()).unwrap_err();
    assert!(err.to_string().contains("no header"), "{err}");
    let err = load_opts("b.csv", b"PK\x03\x04\x00\x00\xff", &InputOptions::default()).unwrap_err();
    assert!(err.to_string().contains("xlsx"), "{err}");
    let err = load_opts("n.csv", b"owner,comment\nx,y\n", &InputOptions::default()).unwrap_err();
    assert!(err.to_string().contains("no address column"), "{err}");
    let err = load_opts("x.pdf", b"range\n", &InputOptions::default()).unwrap_err();
    assert!(err.to_string().contains("--input-format"), "{err}");
}

#[test]
fn txt_is_detected_and_input_format_overrides() {
    let batch = load("pool.txt", b"range;comment\n203.0.113.1;a\n");
    assert_eq!(batch.ranges.len(), 1);
    let opts = InputOptions {
        format: Some(InputFormat::Yaml),
        sheet: None,
    };
    let batch = load_opts("pool.data", b"- 203.0.113.7\n", &opts).unwrap();
    assert_eq!(batch.ranges[0].range.to_string(), "203.0.113.7");
}

#[test]
fn yaml_list_shape() {
    let text = b"# header comment\n- 203.0.113.1\n- 203.0.113.10 - 203.0.113.12\n-\n  first: 2001:db8::1\n  last: 2001:db8::3\n  backup_server: b2\n  comment: six\n- {cidr: 203.0.113.64/30, note: x}\n";
    let batch = load("r.yml", text);
    assert_eq!(
        rows(&batch),
        vec![
            (2, "203.0.113.1".into(), "b1".into(), String::new()),
            (
                3,
                "203.0.113.10-203.0.113.12".into(),
                "b1".into(),
                String::new()
            ),
            (
                // The entry starts at its `-`, alone on line 4.
                4,
                "2001:db8::1-2001:db8::3".into(),
                "b2".into(),
                "six".into()
            ),
            (
                9,
                "203.0.113.64-203.0.113.67".into(),
                "b1".into(),
                "x".into()
            ),
        ]
    );
}

#[test]
fn yaml_mapping_shape() {
    let text =
        b"backup_server: b3\nranges:\n  - 203.0.113.1\n  - range: 203.0.113.2\n    server: b4\n";
    let batch = load("r.yaml", text);
    assert_eq!(
        rows(&batch),
        vec![
            (3, "203.0.113.1".into(), "b3".into(), String::new()),
            (4, "203.0.113.2".into(), "b4".into(), String::new()),
        ]
    );
}

#[test]
fn yaml_entry_line_is_its_dash() {
    let text = b"ranges:\n  -\n\n    range: 8.8.13.30\n  - >-\n    8.8.13.31\n  - # note\n    8.8.13.32\n  - 8.8.13.33\n  - [8.8.13.34]\n";
    let batch = load("r.yaml", text);
    let lines: Vec<u64> = batch.rows.iter().map(|r| r.source.line).collect();
    assert_eq!(lines, vec![2, 5, 7, 9, 10]);
    let bad: Vec<(&str, u64)> = batch.diagnostics.iter().map(|d| (d.code, d.line)).collect();
    assert_eq!(bad, vec![("bad-entry", 10)]);
}

#[test]
fn yaml_unknown_keys_at_their_lines() {
    let text = b"owner: x\nranges:\n  - {range: 8.8.8.8, ticket: 1}\n  -\n    range: 8.8.4.4\n    ticket: 2\n    site: y\n";
    let batch = load("r.yaml", text);
    let found: Vec<(u64, String)> = batch
        .diagnostics
        .iter()
        .filter(|d| d.code == "unknown-column")
        .map(|d| (d.line, d.message.split(':').next().unwrap().to_string()))
        .collect();
    assert_eq!(
        found,
        vec![
            (1, "ignoring column(s) 'owner'".into()),
            (3, "ignoring column(s) 'ticket'".into()),
            (4, "ignoring column(s) 'site'".into()),
        ]
    );
}

#[test]
fn yaml_top_level_backup_server_must_be_text() {
    for (text, what) in [
        (
            &b"# pool\nbackup_server: [b1, b2]\nranges:\n  - 8.8.8.8\n"[..],
            "a list",
        ),
        (
            &b"# pool\nbackup_server:\n  name: b1\nranges:\n  - 8.8.8.8\n"[..],
            "a mapping",
        ),
    ] {
        let err = load_opts("r.yaml", text, &InputOptions::default()).unwrap_err();
        let err = err.to_string();
        assert!(err.contains("r.yaml:") && err.contains(what), "{err}");
        assert!(err.contains("write it as text"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let input = write(&dir, "r.yaml", text);
        let loaded =
            ipimport::pipeline::load(&[input], &InputOptions::default(), &settings(), false)
                .unwrap();
        let d = &loaded.diagnostics[0];
        assert_eq!((d.code, d.line), ("bad-header", 2), "{d:?}");
        assert_eq!(d.column.as_deref(), Some("backup_server"));
        assert_eq!(loaded.rows_total, 0);
    }
}

#[test]
fn yaml_parser_errors_read_as_advice() {
    let err = load_opts(
        "r.yaml",
        b"- 8.8.8.8\n- range: 8.8.4.4\n  range: 8.8.4.5\n",
        &InputOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("r.yaml:3:3: a key ('range') appears twice"),
        "{err}"
    );
    assert!(!err.contains("DuplicateKeyPolicy"), "{err}");
    let err = load_opts(
        "r.yaml",
        b"- 8.8.8.8\n---\n- 8.8.4.4\n",
        &InputOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("several YAML documents") && err.contains("keep one"),
        "{err}"
    );
    assert!(!err.contains("from_str_multiple"), "{err}");
    assert!(
        err.contains("r.yaml:2:") || err.contains("r.yaml:3:"),
        "{err}"
    );
}

fn xlsx(path: &std::path::Path) {
    let mut book = rust_xlsxwriter::Workbook::new();
    let first = book.add_worksheet().set_name("Pool").unwrap();
    // Two empty rows, then the header on sheet row 3.
    first.write_string(2, 1, "Backup Server").unwrap();
    first.write_string(2, 2, "IP").unwrap();
    first.write_string(2, 3, "Note").unwrap();
    first.write_string(3, 1, "b9").unwrap();
    first.write_string(3, 2, "203.0.113.0/29").unwrap();
    first.write_number(3, 3, 42).unwrap();
    first.write_string(5, 2, "203.0.113.300").unwrap();
    let second = book.add_worksheet().set_name("Other").unwrap();
    second.write_string(0, 0, "first").unwrap();
    second.write_string(0, 1, "last").unwrap();
    second.write_string(1, 0, "203.0.113.20").unwrap();
    second.write_string(1, 1, "203.0.113.21").unwrap();
    book.save(path).unwrap();
}

#[test]
fn xlsx_rows_are_sheet_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pool.xlsx");
    xlsx(&path);
    let input = path.to_str().unwrap().to_string();
    let batch = load_batch(
        std::slice::from_ref(&input),
        &InputOptions::default(),
        &settings(),
        true,
    )
    .unwrap();
    assert_eq!(
        rows(&batch)[0],
        (
            4,
            "203.0.113.0-203.0.113.7".into(),
            "b9".into(),
            "42".into()
        )
    );
    let bad: Vec<_> = batch
        .diagnostics
        .iter()
        .filter(|d| d.code == "bad-address")
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!((bad[0].line, bad[0].column.as_deref()), (6, Some("IP")));

    let other = InputOptions {
        format: None,
        sheet: Some("Other".into()),
    };
    let batch = load_batch(std::slice::from_ref(&input), &other, &settings(), true).unwrap();
    assert_eq!(
        rows(&batch),
        vec![(
            2,
            "203.0.113.20-203.0.113.21".into(),
            "b1".into(),
            String::new()
        )]
    );

    let missing = InputOptions {
        format: None,
        sheet: Some("Nope".into()),
    };
    let err = load_batch(&[input], &missing, &settings(), true).unwrap_err();
    assert!(err.to_string().contains("'Pool', 'Other'"), "{err}");
}

#[test]
fn xlsx_comments_dates_and_column_letters() {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dated.xlsx");
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let date_format = Format::new().set_num_format("yyyy-mm-dd");
    let date = ExcelDateTime::from_ymd(2024, 3, 1).unwrap();
    // Nothing in columns A and B: the header starts in column C.
    sheet.write_string(0, 2, "# exported 2024-03-01").unwrap();
    for (col, name) in [(2, "Server"), (3, "IP"), (4, "Note")] {
        sheet.write_string(1, col, name).unwrap();
    }
    sheet.write_string(2, 2, "b2").unwrap();
    sheet.write_string(2, 3, "203.0.113.1").unwrap();
    sheet
        .write_datetime_with_format(2, 4, &date, &date_format)
        .unwrap();
    // A comment row, like a CSV `#` line: not a row at all.
    sheet.write_string(3, 2, "  # retired").unwrap();
    sheet.write_string(3, 3, "203.0.113.2").unwrap();
    sheet
        .write_datetime_with_format(4, 2, &date, &date_format)
        .unwrap();
    sheet.write_string(4, 3, "203.0.113.3").unwrap();
    sheet.write_string(5, 2, "b2").unwrap();
    sheet
        .write_datetime_with_format(5, 3, &date, &date_format)
        .unwrap();
    sheet.write_string(6, 2, "b2").unwrap();
    sheet.write_string(6, 3, "203.0.113.4").unwrap();
    sheet.write_string(6, 6, "stray").unwrap();
    book.save(&path).unwrap();
    let input = path.to_str().unwrap().to_string();
    let batch = load_batch(&[input], &InputOptions::default(), &settings(), true).unwrap();
    assert_eq!((batch.rows_total, batch.rows_invalid), (4, 2));
    // A date in a comment column reads as the date, not its serial number.
    assert_eq!(
        rows(&batch)[0],
        (3, "203.0.113.1".into(), "b2".into(), "2024-03-01".into())
    );
    let found = |code: &str| -> Vec<(u64, Option<String>, String)> {
        batch
            .diagnostics
            .iter()
            .filter(|d| d.code == code)
            .map(|d| (d.line, d.column.clone(), d.message.clone()))
            .collect()
    };
    let bad = found("bad-cell");
    assert_eq!(
        bad.iter()
            .map(|d| (d.0, d.1.as_deref()))
            .collect::<Vec<_>>(),
        vec![(5, Some("Server")), (6, Some("IP"))]
    );
    for (_, _, message) in &bad {
        assert!(
            message.contains("date/time 2024-03-01") && message.contains("as Text"),
            "{message}"
        );
    }
    let unnamed = found("unknown-column");
    assert_eq!(unnamed.len(), 1, "{unnamed:?}");
    assert_eq!(unnamed[0].0, 7);
    assert!(unnamed[0].2.contains("in column G"), "{}", unnamed[0].2);
    // The comment row's address is not loaded.
    let listed: Vec<String> = batch.ranges.iter().map(|r| r.range.to_string()).collect();
    assert_eq!(listed, ["203.0.113.1", "203.0.113.4"]);
}

/// A minimal OpenDocument spreadsheet with one sheet of string cells.
fn ods(rows: &[&[&str]]) -> Vec<u8> {
    let mut content = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><office:document-content \
         xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" \
         xmlns:table=\"urn:oasis:names:tc:opendocument:xmlns:table:1.0\" \
         xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\" office:version=\"1.2\">\
         <office:body><office:spreadsheet><table:table table:name=\"Sheet1\">",
    );
    for row in rows {
        content.push_str("<table:table-row>");
        for cell in *row {
            if cell.is_empty() {
                content.push_str("<table:table-cell/>");
            } else {
                content.push_str(&format!(
                    "<table:table-cell office:value-type=\"string\"><text:p>{cell}</text:p></table:table-cell>"
                ));
            }
        }
        content.push_str("</table:table-row>");
    }
    content.push_str("</table:table></office:spreadsheet></office:body></office:document-content>");
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("mimetype", stored).unwrap();
    zip.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
        .unwrap();
    zip.start_file("META-INF/manifest.xml", stored).unwrap();
    zip.write_all(
        b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><manifest:manifest \
          xmlns:manifest=\"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0\">\
          <manifest:file-entry manifest:full-path=\"/\" manifest:media-type=\"application/vnd.oasis.opendocument.spreadsheet\"/>\
          <manifest:file-entry manifest:full-path=\"content.xml\" manifest:media-type=\"text/xml\"/>\
          </manifest:manifest>",
    )
    .unwrap();
    zip.start_file("content.xml", stored).unwrap();
    zip.write_all(content.as_bytes()).unwrap();
    zip.finish().unwrap().into_inner()
}

#[test]
fn ods_reads_like_csv() {
    let bytes = ods(&[
        &["lower", "upper", "backup server"],
        &["203.0.113.1", "203.0.113.2", "b5"],
        &["", "", ""],
        &["010.0.0.1", "", ""],
    ]);
    let batch = load("pool.ods", &bytes);
    assert_eq!(
        rows(&batch)[0],
        (
            2,
            "203.0.113.1-203.0.113.2".into(),
            "b5".into(),
            String::new()
        )
    );
    let d: Vec<_> = batch.diagnostics.iter().map(|d| (d.code, d.line)).collect();
    assert_eq!(d, vec![("documentation-range", 2), ("leading-zero", 4)]);
    assert_eq!(batch.rows_total, 2);
}

#[test]
fn several_inputs_are_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(&dir, "a.csv", b"range\n203.0.113.0/29\n");
    let b = write(&dir, "b.yaml", b"- 203.0.113.8/29\n- 203.0.113.4\n");
    let batch = load_batch(
        &[a.clone(), b.clone()],
        &InputOptions::default(),
        &settings(),
        false,
    )
    .unwrap();
    assert_eq!(batch.ranges.len(), 1);
    assert_eq!(
        batch.ranges[0].range.to_string(),
        "203.0.113.0-203.0.113.15"
    );
    let sources: Vec<(String, u64)> = batch.ranges[0]
        .sources
        .iter()
        .map(|s| (s.source.to_string(), s.line))
        .collect();
    assert_eq!(
        sources,
        vec![(a.clone(), 2), (b.clone(), 1), (b.clone(), 2)]
    );
    let dup = batch
        .diagnostics
        .iter()
        .find(|d| d.code == "overlap")
        .unwrap();
    assert_eq!(dup.source, b);
    assert!(batch.rows.is_empty(), "rows are kept only on request");
}

#[test]
fn large_csv_in_many_blocks_keeps_lines() {
    // Bigger than one 4 MB block, with quoted fields spanning lines here and there.
    let mut text = String::from("backup_server,first,last,comment\n");
    let mut expected = Vec::new();
    let mut line = 2u64;
    for i in 0..150_000u32 {
        let a = 0x0B00_0000u32 + i * 4; // 11.0.0.0 onwards: public
        let ip = std::net::Ipv4Addr::from(a);
        if i % 1000 == 7 {
            text.push_str(&format!("b1,{ip},,\"multi\nline\"\n"));
            expected.push(line);
            line += 2;
        } else {
            text.push_str(&format!("b1,{ip},,plain comment padding padding\n"));
            expected.push(line);
            line += 1;
        }
    }
    assert!(text.len() > 5 << 20);
    let batch = load("big.csv", text.as_bytes());
    let lines: Vec<u64> = batch.rows.iter().map(|r| r.source.line).collect();
    assert_eq!(lines, expected);
    assert!(!batch.has_errors());
    assert_eq!(batch.ranges.len(), 150_000);
}
