//! Property tests: merging against a naive address-set model, exact CSV line
//! numbers, and no panic on arbitrary input to any reader.

use std::collections::BTreeSet;
use std::sync::Arc;

use ipimport::input::csv::{CsvReader, for_each_row};
use ipimport::input::{SourceRef, sheet, yaml};
use ipimport::merge::merge;
use ipimport::range::{Family, IpRange};
use ipimport::validate::{RowContext, check_row};
use proptest::prelude::*;

/// Random rows: (server, family, offset, size) near a base address, so that
/// overlaps and adjacency are frequent.
fn items() -> impl Strategy<Value = Vec<(u8, bool, u16, u8)>> {
    prop::collection::vec((0u8..3, any::<bool>(), 0u16..200, 1u8..12), 0..60)
}

const V4_BASE: u128 = 0xCB00_7100; // 203.0.113.0
const V6_BASE: u128 = 0x2001_0db8_0000_0000_0000_0000_ffff_ff00;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn merge_matches_address_set_model(rows in items()) {
        let mut input = Vec::new();
        let mut model: BTreeSet<(String, Family, u128)> = BTreeSet::new();
        for (line, (server, v6, offset, size)) in rows.iter().enumerate() {
            let (family, base) = if *v6 { (Family::V6, V6_BASE) } else { (Family::V4, V4_BASE) };
            let first = base + *offset as u128;
            let range = IpRange::new(family, first, first + *size as u128 - 1).unwrap();
            let server = format!("s{server}");
            for a in range.addresses() {
                model.insert((server.clone(), family, a));
            }
            input.push((server, range, SourceRef { source: Arc::from("f"), line: line as u64 + 2 }));
        }
        let merged = merge(input.clone());
        // Same addresses, exactly.
        let mut got = BTreeSet::new();
        for m in &merged {
            for a in m.range.addresses() {
                prop_assert!(got.insert((m.backup_server.clone(), m.range.family(), a)), "addresses twice");
            }
        }
        prop_assert_eq!(&got, &model);
        // Sorted; ranges of one group neither overlap nor touch.
        for pair in merged.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            prop_assert!((&a.backup_server, a.range) < (&b.backup_server, b.range));
            if a.backup_server == b.backup_server && a.range.family() == b.range.family() {
                prop_assert!(a.range.last() + 1 < b.range.first());
            }
        }
        // Each merged range lists exactly the rows inside it, by line.
        for m in &merged {
            let expected: Vec<u64> = input
                .iter()
                .filter(|(s, r, _)| *s == m.backup_server && m.range.family() == r.family()
                    && m.range.first() <= r.first() && r.last() <= m.range.last())
                .map(|(_, _, src)| src.line)
                .collect();
            let lines: Vec<u64> = m.sources.iter().map(|s| s.line).collect();
            prop_assert_eq!(lines, expected);
        }
    }

    #[test]
    fn csv_lines_are_exact(
        rows in prop::collection::vec((0u8..6, any::<bool>(), 0u8..3), 0..40),
        block in 1usize..64,
    ) {
        // Each row: a kind (data, quoted multi-line data, blank, comment,
        // all-empty cells, whitespace), CRLF or LF, and extra lines inside quotes.
        let mut text = String::from("range,comment\n");
        let mut line = 2u64;
        let mut expected = Vec::new();
        for (i, (kind, crlf, extra)) in rows.iter().enumerate() {
            let eol = if *crlf { "\r\n" } else { "\n" };
            let ip = format!("203.0.113.{}", i);
            match kind {
                0 => { expected.push(line); text.push_str(&format!("{ip},x{eol}")); line += 1; }
                1 => {
                    expected.push(line);
                    let inner = (0..*extra).map(|_| eol).collect::<String>();
                    text.push_str(&format!("\"{ip}\",\"a{inner}\"\"b\"{eol}"));
                    line += 1 + *extra as u64;
                }
                2 => { text.push_str(eol); line += 1; }
                3 => { text.push_str(&format!("# \"comment{eol}")); line += 1; }
                4 => { text.push_str(&format!(",{eol}")); line += 1; }
                _ => { text.push_str(&format!("  \t{eol}")); line += 1; }
            }
        }
        let input = Box::new(std::io::Cursor::new(text.into_bytes()));
        let mut reader = CsvReader::open_with_block_size(Arc::from("t"), input, None, block).unwrap();
        let mut lines = Vec::new();
        while let Some(b) = reader.next_block().unwrap() {
            for_each_row(&b, reader.delimiter, &reader.columns, |row| {
                assert!(row.defect.is_none());
                lines.push(row.line);
            });
        }
        prop_assert_eq!(lines, expected);
    }

    #[test]
    fn readers_never_panic_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400), block in 1usize..50) {
        read_everything(&bytes, block);
    }

    #[test]
    fn readers_never_panic_on_strings(text in "[-a-f0-9:.,;/\t \"#%\r\n\\[\\]{}]{0,300}", block in 1usize..50) {
        read_everything(text.as_bytes(), block);
        let mut with_header = b"first,last,range,server\n".to_vec();
        with_header.extend_from_slice(text.as_bytes());
        read_everything(&with_header, block);
        let mut yaml_list = b"- ".to_vec();
        yaml_list.extend_from_slice(text.as_bytes());
        read_everything(&yaml_list, block);
    }

    #[test]
    fn row_rules_never_panic(cells in prop::collection::vec("\\PC{0,40}", 5)) {
        let source: Arc<str> = Arc::from("t");
        let ctx = RowContext { source: &source, default_server: None, max_range_size: 65536, allow_nonpublic: false };
        let cell = |i: usize| (!cells[i].trim().is_empty()).then(|| ipimport::input::Cell { text: cells[i].trim(), column: Some("c") });
        let row = ipimport::input::RawRow {
            line: 2,
            backup_server: cell(0),
            range: cell(1),
            first: cell(2),
            last: cell(3),
            comment: Some(&cells[4]),
            defect: None,
            defect_column: None,
            unnamed_cell: None,
        };
        let mut out = Vec::new();
        let checked = check_row(&row, &ctx, &mut out);
        prop_assert_eq!(checked.errors, out.iter().filter(|d| d.severity == ipimport::validate::Severity::Error).count());
    }
}

/// Feed the bytes to every reader and the row rules; only errors may come out.
fn read_everything(bytes: &[u8], block: usize) {
    let source: Arc<str> = Arc::from("t");
    let ctx = RowContext {
        source: &source,
        default_server: Some("b"),
        max_range_size: 65536,
        allow_nonpublic: false,
    };
    let mut diagnostics = Vec::new();
    let input = Box::new(std::io::Cursor::new(bytes.to_vec()));
    if let Ok(mut reader) = CsvReader::open_with_block_size(source.clone(), input, None, block) {
        while let Ok(Some(b)) = reader.next_block() {
            for_each_row(&b, reader.delimiter, &reader.columns, |row| {
                check_row(&row, &ctx, &mut diagnostics);
            });
        }
    }
    if let Ok(doc) = yaml::read("t", bytes) {
        for row in &doc.rows {
            check_row(&row.as_raw(), &ctx, &mut diagnostics);
        }
    }
    let _ = sheet::read("t", bytes.to_vec(), None);
}
