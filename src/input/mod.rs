//! Readers: range files in, rows with provenance out.
//!
//! Every format ends up as the same thing: a stream of [`RawRow`]s, each
//! naming the line it came from and holding the text of the cells that mean
//! something to `ipimport` (backup server, range or first/last, comment),
//! together with the column each came from. What those cells are called in a
//! file is decided by ONE table, [`HEADER_ALIASES`], shared by the CSV and
//! spreadsheet headers and by the keys of YAML entries.
//!
//! The readers do not judge the cells: [`crate::validate`] does.

pub mod csv;
pub mod sheet;
pub mod yaml;

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::cli::InputFormat;

/// An input that cannot be read as a range file at all (missing, not text,
/// no usable header...). `validate` reports it as a diagnostic of that file
/// and goes on with the others; `plan` and `apply` stop on it. Displayed as
/// `source[:line]: advice`, so it reads the same on stderr.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {advice}")]
pub struct InputError {
    /// Stable diagnostic code: `unreadable-input`, `bad-header`, or
    /// `unterminated-quote` (a header whose quoted field is never closed).
    pub code: &'static str,
    /// `source`, `source:line` or `source[sheet]:line`, for the message.
    pub location: String,
    /// The line (or sheet row) the problem is on, when known.
    pub line: Option<u64>,
    /// The column (header as written, or YAML key), when known.
    pub column: Option<String>,
    /// What is wrong and what to do.
    pub advice: String,
}

/// Code of an input that cannot be opened, read or parsed at all.
pub const UNREADABLE: &str = "unreadable-input";
/// Code of an input whose header (or YAML top level) is unusable.
pub const BAD_HEADER: &str = "bad-header";

/// Build an [`InputError`] for `source` (at `line` when known).
pub fn input_error(
    code: &'static str,
    source: &str,
    line: Option<u64>,
    advice: impl Into<String>,
) -> anyhow::Error {
    anyhow::Error::new(InputError {
        code,
        location: match line {
            Some(line) => format!("{source}:{line}"),
            None => source.to_string(),
        },
        line,
        column: None,
        advice: advice.into(),
    })
}

/// Where a row came from: the input's name and its line (CSV/YAML line,
/// spreadsheet row), 1-based.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SourceRef {
    pub source: Arc<str>,
    pub line: u64,
}

/// What a column (or YAML key) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    BackupServer,
    /// A whole range in one cell: address, `a-b` or CIDR.
    Range,
    First,
    Last,
    Comment,
}

impl Field {
    /// The canonical column name, used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Field::BackupServer => "backup_server",
            Field::Range => "range",
            Field::First => "first",
            Field::Last => "last",
            Field::Comment => "comment",
        }
    }
}

/// THE table of header names (and YAML keys). Headers are compared after
/// [`normalize_header`]: lowercase, without blanks, `_` and `-`.
pub const HEADER_ALIASES: &[(Field, &[&str])] = &[
    (
        Field::BackupServer,
        &["backupserver", "backupserveruid", "server"],
    ),
    (Field::Range, &["range", "cidr", "ip", "address", "iprange"]),
    (
        Field::First,
        &[
            "first",
            "lower",
            "start",
            "from",
            "firstip",
            "ipaddresslowerbound",
        ],
    ),
    (
        Field::Last,
        &[
            "last",
            "upper",
            "end",
            "to",
            "lastip",
            "ipaddressupperbound",
        ],
    ),
    (Field::Comment, &["comment", "description", "note"]),
];

/// Header text reduced to what is compared: lowercase, no blanks, `_` or `-`.
pub fn normalize_header(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The meaning of a header cell (or YAML key), if it has one.
pub fn field_of_header(text: &str) -> Option<Field> {
    let key = normalize_header(text);
    HEADER_ALIASES
        .iter()
        .find(|(_, names)| names.contains(&key.as_str()))
        .map(|(field, _)| *field)
}

/// Which column of a tabular file holds which field, decided from its header.
#[derive(Debug, Clone, Default)]
pub struct ColumnMap {
    /// Column index of each field (`None`: absent).
    pub backup_server: Option<usize>,
    pub range: Option<usize>,
    pub first: Option<usize>,
    pub last: Option<usize>,
    pub comment: Option<usize>,
    /// The header cells as written (trimmed), to name columns in messages.
    pub names: Vec<String>,
    /// Header cells that mean nothing to us, as written.
    pub unknown: Vec<String>,
    /// Indexes of header cells left empty: data under them is ignored.
    pub unnamed: Vec<usize>,
}

impl ColumnMap {
    /// Map a header row. Fails (with advice) when no column holds addresses
    /// or when two columns mean the same thing.
    pub fn from_header(cells: &[String], source: &str, line: u64) -> anyhow::Result<ColumnMap> {
        let mut map = ColumnMap {
            names: cells.iter().map(|c| c.trim().to_string()).collect(),
            ..ColumnMap::default()
        };
        for (index, cell) in cells.iter().enumerate() {
            let cell = cell.trim();
            if cell.is_empty() {
                map.unnamed.push(index);
                continue;
            }
            let Some(field) = field_of_header(cell) else {
                map.unknown.push(cell.to_string());
                continue;
            };
            let slot = match field {
                Field::BackupServer => &mut map.backup_server,
                Field::Range => &mut map.range,
                Field::First => &mut map.first,
                Field::Last => &mut map.last,
                Field::Comment => &mut map.comment,
            };
            if let Some(previous) = *slot {
                let err = InputError {
                    code: BAD_HEADER,
                    location: format!("{source}:{line}"),
                    line: Some(line),
                    column: Some(cell.to_string()),
                    advice: format!(
                        "columns '{}' and '{}' both mean {}; keep one of them",
                        crate::range::shown(&map.names[previous]),
                        crate::range::shown(cell),
                        field.name()
                    ),
                };
                return Err(err.into());
            }
            *slot = Some(index);
        }
        if map.range.is_none() && map.first.is_none() {
            return Err(input_error(
                BAD_HEADER,
                source,
                Some(line),
                format!(
                    "the header names no address column (found: {}); \
                     name one column `range` (or cidr, ip, address, ip_range) or two columns \
                     `first` and `last`",
                    if cells.is_empty() {
                        "nothing".to_string()
                    } else {
                        cells
                            .iter()
                            .map(|c| format!("'{}'", crate::range::shown(c.trim())))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            ));
        }
        if map.last.is_some() && map.first.is_none() {
            return Err(input_error(
                BAD_HEADER,
                source,
                Some(line),
                "the header has a last-address column but no first-address column; \
                     add a `first` column",
            ));
        }
        Ok(map)
    }

    /// The header name of a column, for messages.
    pub fn name(&self, index: Option<usize>) -> Option<&str> {
        index.and_then(|i| self.names.get(i)).map(String::as_str)
    }
}

/// One cell that means something: its trimmed text and the column it came from.
#[derive(Debug, Clone, Copy)]
pub struct Cell<'a> {
    pub text: &'a str,
    /// The column header (CSV/sheets) or key (YAML) as written; `None` for a
    /// YAML entry that is a bare string.
    pub column: Option<&'a str>,
}

/// One data row as read, before validation. Cells are trimmed; empty cells are `None`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawRow<'a> {
    pub line: u64,
    pub backup_server: Option<Cell<'a>>,
    pub range: Option<Cell<'a>>,
    pub first: Option<Cell<'a>>,
    pub last: Option<Cell<'a>>,
    pub comment: Option<&'a str>,
    /// A problem the reader found in the row itself (bad quoting, bytes that
    /// are not text): `(code, message)`. Such a row is invalid.
    pub defect: Option<(&'static str, &'a str)>,
    /// The column the defect is in, when it is one cell's.
    pub defect_column: Option<&'a str>,
    /// The first filled cell (1-based position) under an empty header cell
    /// or beyond the last header cell: it is ignored, and warned about once.
    pub unnamed_cell: Option<usize>,
}

impl<'a> RawRow<'a> {
    /// Build a row from the cells of a tabular record, by the column map.
    /// Returns `None` when every cell is empty (the row is skipped like a blank line).
    pub fn from_cells(line: u64, cells: &[&'a str], map: &'a ColumnMap) -> Option<RawRow<'a>> {
        if cells.iter().all(|c| c.trim().is_empty()) {
            return None;
        }
        let cell = |index: Option<usize>| -> Option<Cell<'a>> {
            let i = index?;
            let text = cells.get(i)?.trim();
            if text.is_empty() {
                return None;
            }
            Some(Cell {
                text,
                column: map.names.get(i).map(String::as_str),
            })
        };
        let filled = |i: usize| cells.get(i).is_some_and(|c| !c.trim().is_empty());
        let unnamed_cell = map
            .unnamed
            .iter()
            .copied()
            .find(|&i| filled(i))
            .or_else(|| (map.names.len()..cells.len()).find(|&i| filled(i)))
            .map(|i| i + 1);
        Some(RawRow {
            line,
            backup_server: cell(map.backup_server),
            range: cell(map.range),
            first: cell(map.first),
            last: cell(map.last),
            comment: cell(map.comment).map(|c| c.text),
            defect: None,
            defect_column: None,
            unnamed_cell,
        })
    }
}

/// An owned cell, for readers that hold their rows (YAML).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnedCell {
    pub text: String,
    pub column: Option<String>,
}

/// An owned row, for readers that hold their rows (YAML); see [`RawRow`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnedRow {
    pub line: u64,
    pub backup_server: Option<OwnedCell>,
    pub range: Option<OwnedCell>,
    pub first: Option<OwnedCell>,
    pub last: Option<OwnedCell>,
    pub comment: Option<String>,
    pub defect: Option<(&'static str, String)>,
}

impl OwnedRow {
    /// The row as the validator takes it.
    pub fn as_raw(&self) -> RawRow<'_> {
        fn cell(c: &Option<OwnedCell>) -> Option<Cell<'_>> {
            c.as_ref().map(|c| Cell {
                text: &c.text,
                column: c.column.as_deref(),
            })
        }
        RawRow {
            line: self.line,
            backup_server: cell(&self.backup_server),
            range: cell(&self.range),
            first: cell(&self.first),
            last: cell(&self.last),
            comment: self.comment.as_deref(),
            defect: self.defect.as_ref().map(|(code, m)| (*code, m.as_str())),
            defect_column: None,
            unnamed_cell: None,
        }
    }
}

/// The kinds of input, by how they are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// CSV or TSV; `Some(b'\t')` forces the delimiter, `None` detects it.
    Delimited(Option<u8>),
    Yaml,
    Sheet,
}

/// The name an input is reported under: the path as given, or `<stdin>` for `-`.
pub fn display_name(input: &str) -> String {
    if input == "-" {
        "<stdin>".to_string()
    } else {
        input.to_string()
    }
}

/// Decide how to read an input, from `--input-format` or its extension.
pub fn kind_of(input: &str, format: Option<InputFormat>) -> anyhow::Result<Kind> {
    if let Some(format) = format {
        return Ok(match format {
            InputFormat::Csv => Kind::Delimited(None),
            InputFormat::Tsv => Kind::Delimited(Some(b'\t')),
            InputFormat::Yaml => Kind::Yaml,
            InputFormat::Xlsx | InputFormat::Xls | InputFormat::Ods => Kind::Sheet,
        });
    }
    if input == "-" {
        return Ok(Kind::Delimited(None));
    }
    let ext = Path::new(input)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "csv" | "txt" => Ok(Kind::Delimited(None)),
        "tsv" | "tab" => Ok(Kind::Delimited(Some(b'\t'))),
        "yaml" | "yml" => Ok(Kind::Yaml),
        "xlsx" | "xlsm" | "xlsb" | "xls" | "ods" => Ok(Kind::Sheet),
        _ => Err(input_error(
            UNREADABLE,
            input,
            None,
            format!(
                "unknown kind of file (extension '{ext}'); use .csv, .tsv, .txt, .yaml, \
                 .yml, .xlsx, .xls or .ods, or say which with --input-format"
            ),
        )),
    }
}

/// Open an input for reading as bytes (`-` is standard input).
pub fn open(input: &str) -> anyhow::Result<Box<dyn std::io::Read + Send>> {
    if input == "-" {
        return Ok(Box::new(std::io::stdin()));
    }
    let file = std::fs::File::open(input).map_err(|e| {
        input_error(
            UNREADABLE,
            input,
            None,
            format!("cannot open ({e}); check the path"),
        )
    })?;
    Ok(Box::new(file))
}

/// Read a whole input into memory (YAML and spreadsheets, which are small).
pub fn read_all(input: &str) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut open(input)?, &mut bytes).map_err(|e| {
        input_error(
            UNREADABLE,
            &display_name(input),
            None,
            format!("cannot read ({e})"),
        )
    })?;
    Ok(bytes)
}

/// Refuse bytes that are not text, with a hint at what they might be.
pub fn not_text_error(source: &str, bytes: &[u8]) -> anyhow::Error {
    let hint = if bytes.starts_with(b"PK\x03\x04") {
        "it looks like a zip container (XLSX or ODS): give it the .xlsx or .ods extension, or pass --input-format xlsx"
    } else if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        "it looks like an old Excel .xls file: give it the .xls extension, or pass --input-format xls"
    } else if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        "it is UTF-16 text (Excel's \"Unicode Text\"); save it as \"CSV UTF-8\" instead"
    } else {
        "save it as UTF-8 CSV, TSV or YAML"
    };
    input_error(
        UNREADABLE,
        source,
        None,
        format!("not a text file, so no header row can be read; {hint}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alias_of_the_contract_maps() {
        let cases = [
            ("backup_server", Field::BackupServer),
            ("BackupServer", Field::BackupServer),
            ("Backup Server UID", Field::BackupServer),
            ("backupserveruid", Field::BackupServer),
            ("Server", Field::BackupServer),
            ("range", Field::Range),
            ("CIDR", Field::Range),
            ("IP", Field::Range),
            ("Address", Field::Range),
            ("ip_range", Field::Range),
            ("first", Field::First),
            ("Lower", Field::First),
            ("start", Field::First),
            ("From", Field::First),
            ("First IP", Field::First),
            ("first-ip", Field::First),
            ("IpAddressLowerBound", Field::First),
            ("last", Field::Last),
            ("upper", Field::Last),
            ("END", Field::Last),
            ("to", Field::Last),
            ("last_ip", Field::Last),
            ("ipAddressUpperBound", Field::Last),
            ("comment", Field::Comment),
            ("Description", Field::Comment),
            ("note", Field::Comment),
        ];
        for (header, field) in cases {
            assert_eq!(field_of_header(header), Some(field), "{header}");
        }
        assert_eq!(field_of_header("Owner"), None);
    }

    #[test]
    fn header_needs_an_address_column() {
        let cells = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(ColumnMap::from_header(&cells(&["server", "comment"]), "f", 1).is_err());
        assert!(ColumnMap::from_header(&cells(&["first", "start"]), "f", 1).is_err());
        assert!(ColumnMap::from_header(&cells(&["server", "last"]), "f", 1).is_err());
        let map =
            ColumnMap::from_header(&cells(&["Server", "First IP", "Owner", ""]), "f", 1).unwrap();
        assert_eq!(map.first, Some(1));
        assert_eq!(map.unknown, vec!["Owner".to_string()]);
    }
}
