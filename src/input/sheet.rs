//! Spreadsheets (XLSX, XLS, ODS) through calamine: the first sheet, or the
//! one `--sheet` names, read like CSV. The first non-empty row is the header;
//! a row's line is its sheet row number, 1-based, as the spreadsheet shows it.
//! As in CSV, a row whose first cell starts with `#` is a comment, skipped.

use std::io::Cursor;

use calamine::{Data, ExcelDateTime, Reader, open_workbook_auto_from_rs};

use super::{BAD_HEADER, ColumnMap, UNREADABLE, input_error};

/// A sheet's rows, as text.
#[derive(Debug)]
pub struct SheetRows {
    pub sheet: String,
    pub columns: ColumnMap,
    pub header_line: u64,
    /// The sheet column (0 = A) of the first cell of every row: rows are read
    /// from the first used column, which need not be A.
    pub first_column: u32,
    /// (sheet row number, cells) of every row after the header, but comments.
    pub rows: Vec<(u64, Vec<String>)>,
    /// Rows with a cell that cannot be taken as text: (sheet row number,
    /// column index, advice), the first such cell of each row.
    pub bad_cells: Vec<(u64, usize, String)>,
}

/// Why a cell of a column that means something cannot be read as its text:
/// an error value (`#N/A`) is not the text "#N/A", and TRUE or a date is
/// neither a server name nor an address (a date is a serial number inside).
fn cell_problem(cell: &Data, field_column: bool) -> Option<String> {
    match cell {
        Data::Error(e) => Some(format!(
            "the cell holds the spreadsheet error {e}; fix what it is computed from, or type \
             the value"
        )),
        Data::Bool(b) if field_column => Some(format!(
            "the cell holds the boolean {}; a backup server or address must be text",
            if *b { "TRUE" } else { "FALSE" }
        )),
        Data::DateTime(_) | Data::DateTimeIso(_) | Data::DurationIso(_) if field_column => {
            Some(format!(
                "the cell holds the date/time {}, not text; a backup server or address must \
                 be text: format the cell as Text and type the value again",
                cell_text(cell)
            ))
        }
        _ => None,
    }
}

/// A date, time or duration as a person reads it (calamine's own text is
/// the serial number, e.g. 45352 for 2024-03-01).
fn date_text(dt: &ExcelDateTime) -> String {
    if dt.is_duration() {
        let seconds = (dt.as_f64() * 86_400.0).round() as i64;
        let sign = if seconds < 0 { "-" } else { "" };
        let s = seconds.abs();
        return format!("{sign}{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
    }
    let (y, mo, d, h, mi, sec, _) = dt.to_ymd_hms_milli();
    let serial = dt.as_f64();
    let time = format!("{h:02}:{mi:02}:{sec:02}");
    if (0.0..1.0).contains(&serial) {
        time
    } else if serial.fract() == 0.0 {
        format!("{y:04}-{mo:02}-{d:02}")
    } else {
        format!("{y:04}-{mo:02}-{d:02} {time}")
    }
}

/// A cell as text. Whole numbers print without a fraction (a comment column
/// holding `42` should not become `42.0`).
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::DateTime(dt) => date_text(dt),
        other => other.to_string(),
    }
}

/// A comment row: its first cell is text starting with `#` (after blanks),
/// the rule of a CSV comment line. An error cell `#N/A` is not text.
fn is_comment(cells: &[Data]) -> bool {
    matches!(cells.first(), Some(Data::String(s)) if s.trim_start_matches([' ', '\t']).starts_with('#'))
}

/// The spreadsheet's name of a column: 0 is A, 25 is Z, 26 is AA.
pub fn column_letters(index: u32) -> String {
    let mut n = index as u64 + 1;
    let mut letters = Vec::new();
    while n > 0 {
        n -= 1;
        letters.push(b'A' + (n % 26) as u8);
        n /= 26;
    }
    letters.reverse();
    String::from_utf8(letters).expect("ASCII letters")
}

/// Read one sheet of a workbook given as bytes.
pub fn read(source: &str, bytes: Vec<u8>, sheet: Option<&str>) -> anyhow::Result<SheetRows> {
    let mut book = open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(|e| {
        input_error(
            UNREADABLE,
            source,
            None,
            format!("not a spreadsheet that can be read ({e}); save it as .xlsx, .xls or .ods, or export it as CSV"),
        )
    })?;
    let names = book.sheet_names();
    let name = match sheet {
        Some(wanted) => names
            .iter()
            .find(|n| *n == wanted)
            .cloned()
            .ok_or_else(|| {
                input_error(
                    UNREADABLE,
                    source,
                    None,
                    format!(
                        "no sheet named '{wanted}'; its sheets are: {}",
                        names
                            .iter()
                            .map(|n| format!("'{n}'"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?,
        None => names
            .first()
            .cloned()
            .ok_or_else(|| input_error(UNREADABLE, source, None, "the workbook has no sheets"))?,
    };
    let range = book.worksheet_range(&name).map_err(|e| {
        input_error(
            UNREADABLE,
            source,
            None,
            format!("cannot read sheet '{name}' ({e})"),
        )
    })?;
    let (first_row, first_column) = range.start().unwrap_or((0, 0));
    let mut rows = range
        .rows()
        .enumerate()
        .map(|(i, cells)| (first_row as u64 + i as u64 + 1, cells))
        .filter(|(_, cells)| !is_comment(cells));
    let (header_line, header) = loop {
        match rows.next() {
            Some((line, cells)) if cells.iter().any(|c| !cell_text(c).trim().is_empty()) => {
                break (line, cells.iter().map(cell_text).collect::<Vec<String>>());
            }
            Some(_) => continue,
            None => {
                return Err(input_error(
                    BAD_HEADER,
                    source,
                    None,
                    format!(
                        "sheet '{name}' is empty, so it has no header row; the first \
                         row must name the columns, e.g. backup_server, first, last, comment"
                    ),
                ));
            }
        }
    };
    let columns = ColumnMap::from_header(&header, &format!("{source}[{name}]"), header_line)?;
    let address_or_server = [
        columns.backup_server,
        columns.range,
        columns.first,
        columns.last,
    ];
    let mut bad_cells = Vec::new();
    let rows = rows
        .map(|(line, cells)| {
            let problem = cells.iter().enumerate().find_map(|(i, c)| {
                let meaningful = columns.comment == Some(i) || address_or_server.contains(&Some(i));
                if !meaningful {
                    return None;
                }
                cell_problem(c, address_or_server.contains(&Some(i))).map(|m| (i, m))
            });
            if let Some((i, advice)) = problem {
                bad_cells.push((line, i, advice));
            }
            (line, cells.iter().map(cell_text).collect())
        })
        .collect();
    Ok(SheetRows {
        sheet: name,
        columns,
        header_line,
        first_column,
        rows,
        bad_cells,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_print_without_fraction() {
        assert_eq!(cell_text(&Data::Float(42.0)), "42");
        assert_eq!(cell_text(&Data::Float(1.5)), "1.5");
        assert_eq!(cell_text(&Data::String(" x ".into())), " x ");
    }

    #[test]
    fn dates_read_as_dates_and_are_no_server_or_address() {
        use calamine::ExcelDateTimeType::{DateTime, TimeDelta};
        let date = Data::DateTime(ExcelDateTime::new(45352.0, DateTime, false));
        assert_eq!(cell_text(&date), "2024-03-01");
        let stamp = Data::DateTime(ExcelDateTime::new(45352.75, DateTime, false));
        assert_eq!(cell_text(&stamp), "2024-03-01 18:00:00");
        let time = Data::DateTime(ExcelDateTime::new(0.5, DateTime, false));
        assert_eq!(cell_text(&time), "12:00:00");
        let span = Data::DateTime(ExcelDateTime::new(1.5, TimeDelta, false));
        assert_eq!(cell_text(&span), "36:00:00");
        // ODS keeps them as ISO text.
        let iso = Data::DateTimeIso("2024-03-01T00:00:00".into());
        let duration = Data::DurationIso("PT36H".into());
        for cell in [&date, &stamp, &time, &span, &iso, &duration] {
            let advice = cell_problem(cell, true).unwrap();
            assert!(
                advice.contains("date/time") && advice.contains("format the cell as Text"),
                "{advice}"
            );
            // In a comment column a date is just its text.
            assert_eq!(cell_problem(cell, false), None);
        }
        assert!(cell_problem(&date, true).unwrap().contains("2024-03-01"));
    }

    #[test]
    fn comment_rows_are_those_of_csv() {
        let text = |s: &str| Data::String(s.into());
        assert!(is_comment(&[text("# retired"), text("8.8.8.8")]));
        assert!(is_comment(&[text("  #x")]));
        assert!(!is_comment(&[Data::Empty, text("# not first")]));
        assert!(!is_comment(&[text("8.8.8.8 # x")]));
        assert!(!is_comment(&[Data::Error(calamine::CellErrorType::NA)]));
        assert!(!is_comment(&[]));
    }

    #[test]
    fn column_letters_as_spreadsheets_name_them() {
        let names: Vec<String> = [0, 2, 5, 25, 26, 27, 51, 52, 701, 702]
            .into_iter()
            .map(column_letters)
            .collect();
        assert_eq!(
            names,
            ["A", "C", "F", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"]
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(read("x.xlsx", b"not a zip".to_vec(), None).is_err());
        assert!(read("x.xlsx", Vec::new(), None).is_err());
    }
}
