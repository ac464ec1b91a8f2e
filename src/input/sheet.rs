//! Spreadsheets (XLSX, XLS, ODS) through calamine: the first sheet, or the
//! one `--sheet` names, read like CSV. The first non-empty row is the header;
//! a row's line is its sheet row number, 1-based, as the spreadsheet shows it.

use std::io::Cursor;

use calamine::{Data, Reader, open_workbook_auto_from_rs};

use super::{BAD_HEADER, ColumnMap, UNREADABLE, input_error};

/// A sheet's rows, as text.
#[derive(Debug)]
pub struct SheetRows {
    pub sheet: String,
    pub columns: ColumnMap,
    pub header_line: u64,
    /// (sheet row number, cells) of every row after the header.
    pub rows: Vec<(u64, Vec<String>)>,
    /// Rows with a cell that cannot be taken as text: (sheet row number,
    /// column index, advice), the first such cell of each row.
    pub bad_cells: Vec<(u64, usize, String)>,
}

/// Why a cell of a column that means something cannot be read as its text:
/// an error value (`#N/A`) is not the text "#N/A", and TRUE is neither a
/// server name nor an address.
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
        _ => None,
    }
}

/// A cell as text. Whole numbers print without a fraction (a comment column
/// holding `42` should not become `42.0`).
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        other => other.to_string(),
    }
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
    let first_row = range.start().map_or(0, |(row, _)| row as u64);
    let mut rows = range
        .rows()
        .enumerate()
        .map(|(i, cells)| (first_row + i as u64 + 1, cells));
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
    fn garbage_is_an_error() {
        assert!(read("x.xlsx", b"not a zip".to_vec(), None).is_err());
        assert!(read("x.xlsx", Vec::new(), None).is_err());
    }
}
