//! YAML range files, in either of two shapes:
//!
//! ```yaml
//! - 203.0.113.0/28                      # a list of entries ...
//! - { first: 198.51.100.10, last: 198.51.100.20, backup_server: backup01 }
//! ```
//!
//! ```yaml
//! backup_server: backup01               # ... or a default server and a list
//! ranges:
//!   - 203.0.113.0/28
//!   - range: 2001:db8::/120
//!     comment: lab
//! ```
//!
//! An entry is a string in any one-cell form, or a mapping whose keys are
//! the same names (and aliases) as CSV headers. Each entry's line is the line
//! where it starts, taken from serde-saphyr's spans.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use serde_saphyr::MessageFormatter;

use super::{
    BAD_HEADER, Field, InputError, OwnedCell, OwnedRow, UNREADABLE, field_of_header, input_error,
};

/// What a YAML input holds once read.
#[derive(Debug, Default)]
pub struct YamlRows {
    /// The mapping shape's `backup_server`, if any (it ranks below a row's own
    /// and above `--backup-server`).
    pub default_server: Option<String>,
    pub rows: Vec<OwnedRow>,
    /// Keys that mean nothing to us, once each, with the line of the entry
    /// (or top-level key) where each first appears.
    pub unknown: Vec<(String, u64)>,
}

/// A scalar cell: strings, numbers and booleans as text; null as absent.
/// A list or mapping where a scalar belongs is kept as `nested` (what it
/// was), so that the entry, not the whole file, is refused.
struct Scalar(Option<String>, Option<&'static str>);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a text value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string()), None))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string()), None))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string()), None))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string()), None))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string()), None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(None, None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(None, None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
                Scalar::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar(None, Some("a list")))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar(None, Some("a mapping")))
            }
        }
        d.deserialize_any(V)
    }
}

/// One entry of the list, before it becomes a row.
enum Entry {
    Text(String),
    Map {
        cells: Vec<(Field, String, String)>,
        unknown: Vec<String>,
        /// A defect found while reading the mapping (a key given twice...).
        problem: Option<String>,
    },
    /// Not a string or a mapping: what it was instead.
    Other(&'static str),
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a range string or a mapping")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Entry, E> {
                Ok(Entry::Text(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Entry, E> {
                Ok(Entry::Other("a number"))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Entry, E> {
                Ok(Entry::Other("a number"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Entry, E> {
                Ok(Entry::Other("a number"))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Entry, E> {
                Ok(Entry::Other("a boolean"))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Entry, E> {
                Ok(Entry::Other("empty"))
            }
            fn visit_none<E: de::Error>(self) -> Result<Entry, E> {
                Ok(Entry::Other("empty"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Entry, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Entry::Other("a list"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
                let mut cells: Vec<(Field, String, String)> = Vec::new();
                let mut unknown = Vec::new();
                let mut problem = None;
                while let Some(key) = map.next_key::<Scalar>()? {
                    let key = key.0.unwrap_or_default();
                    match field_of_header(&key) {
                        Some(field) => {
                            let value = map.next_value::<Scalar>()?;
                            let shown = crate::range::shown;
                            if let Some(what) = value.1 {
                                problem.get_or_insert(format!(
                                    "the value of '{}' is {what}; write it as text",
                                    shown(&key)
                                ));
                                continue;
                            }
                            // Cells are (field, key, value): the message names the keys.
                            if let Some((_, prev, _)) = cells.iter().find(|c| c.0 == field) {
                                problem.get_or_insert(format!(
                                    "keys '{}' and '{}' both mean {}; keep one",
                                    shown(prev),
                                    shown(&key),
                                    field.name()
                                ));
                                continue;
                            }
                            if let Some(text) = value.0 {
                                cells.push((field, key, text));
                            }
                        }
                        None => {
                            map.next_value::<IgnoredAny>()?;
                            unknown.push(key);
                        }
                    }
                }
                Ok(Entry::Map {
                    cells,
                    unknown,
                    problem,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// The whole document: a list of entries, or a mapping with a default
/// server and `ranges`.
struct Doc {
    /// The top-level `backup_server` key as written, its line and column, and its value.
    default_server: Option<(String, (u64, u64), Scalar)>,
    entries: Vec<Spanned<Entry>>,
    unknown_top: Vec<(String, u64)>,
    has_ranges: bool,
}

impl<'de> Deserialize<'de> for Doc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Doc;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of ranges, or a mapping with `backup_server` and `ranges`")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Doc, A::Error> {
                let mut entries = Vec::new();
                while let Some(e) = seq.next_element::<Spanned<Entry>>()? {
                    entries.push(e);
                }
                Ok(Doc {
                    default_server: None,
                    entries,
                    unknown_top: Vec::new(),
                    has_ranges: true,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Doc, A::Error> {
                let mut doc = Doc {
                    default_server: None,
                    entries: Vec::new(),
                    unknown_top: Vec::new(),
                    has_ranges: false,
                };
                while let Some(spanned) = map.next_key::<Spanned<Scalar>>()? {
                    let line = spanned.referenced.line().max(1);
                    let column = spanned.referenced.column();
                    let key = spanned.value.0.unwrap_or_default();
                    if key.trim() == "ranges" {
                        let list: Option<Vec<Spanned<Entry>>> = map.next_value()?;
                        doc.entries = list.unwrap_or_default();
                        doc.has_ranges = true;
                    } else if field_of_header(&key) == Some(Field::BackupServer) {
                        let value = map.next_value::<Scalar>()?;
                        doc.default_server = Some((key, (line, column), value));
                    } else {
                        map.next_value::<IgnoredAny>()?;
                        doc.unknown_top.push((key, line));
                    }
                }
                Ok(doc)
            }
        }
        d.deserialize_any(V)
    }
}

/// Read a YAML input (its bytes) into rows.
pub fn read(source: &str, bytes: &[u8]) -> anyhow::Result<YamlRows> {
    let text = std::str::from_utf8(bytes).map_err(|_| super::not_text_error(source, bytes))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.contains('\0') {
        return Err(super::not_text_error(source, bytes));
    }
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---")
    {
        return Err(input_error(
            BAD_HEADER,
            source,
            None,
            "no ranges (the file is empty); write a list of ranges, or a mapping \
                 with `backup_server` and `ranges`",
        ));
    }
    let doc: Doc = serde_saphyr::from_str(text).map_err(|e| syntax_error(source, &e))?;
    if !doc.has_ranges {
        return Err(input_error(
            BAD_HEADER,
            source,
            None,
            "the mapping has no `ranges` key; put the list of ranges under `ranges:`",
        ));
    }
    let mut default_server = None;
    if let Some((key, (line, column), value)) = doc.default_server {
        // Like an entry's nested value (`bad-entry`), but it would be every
        // entry's server: the file is refused, at the key's position.
        if let Some(what) = value.1 {
            return Err(InputError {
                code: BAD_HEADER,
                location: format!("{source}:{line}:{column}"),
                line: Some(line),
                column: Some(key.clone()),
                advice: format!(
                    "the value of '{key}' is {what}; write it as text: the default backup \
                     server's name or urn:veeam:BackupServer:<guid>"
                ),
            }
            .into());
        }
        default_server = value
            .0
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut out = YamlRows {
        default_server,
        unknown: doc.unknown_top,
        rows: Vec::with_capacity(doc.entries.len()),
    };
    for spanned in doc.entries {
        let line = dash_line(
            &lines,
            spanned.referenced.line().max(1),
            spanned.referenced.column(),
        );
        let mut row = OwnedRow {
            line,
            ..OwnedRow::default()
        };
        match spanned.value {
            Entry::Text(text) => {
                let text = text.trim();
                if text.is_empty() {
                    row.defect = Some((
                        "missing-address",
                        "the entry is an empty string; write a range or delete it".to_string(),
                    ));
                } else {
                    row.range = Some(OwnedCell {
                        text: text.to_string(),
                        column: None,
                    });
                }
            }
            Entry::Map {
                cells,
                unknown,
                problem,
            } => {
                for key in unknown {
                    if !out.unknown.iter().any(|(k, _)| *k == key) {
                        out.unknown.push((key, line));
                    }
                }
                if let Some(problem) = problem {
                    row.defect = Some(("bad-entry", problem));
                }
                for (field, key, text) in cells {
                    let text = text.trim().to_string();
                    if text.is_empty() {
                        continue;
                    }
                    let cell = Some(OwnedCell {
                        text: text.clone(),
                        column: Some(key),
                    });
                    match field {
                        Field::BackupServer => row.backup_server = cell,
                        Field::Range => row.range = cell,
                        Field::First => row.first = cell,
                        Field::Last => row.last = cell,
                        Field::Comment => row.comment = Some(text),
                    }
                }
            }
            Entry::Other(what) => {
                row.defect = Some((
                    "bad-entry",
                    format!(
                        "the entry is {what}; write a range as a string (203.0.113.0/28) or a \
                         mapping with `range` or `first`/`last`"
                    ),
                ));
            }
        }
        out.rows.push(row);
    }
    Ok(out)
}

/// The line of the `-` that starts an entry whose value begins at `line`,
/// `column` (1-based). serde-saphyr gives the value's position, which is
/// below the dash for `-` alone on its line or a block scalar (`- >-`);
/// the contract wants the line where the entry starts.
fn dash_line(lines: &[&str], line: u64, column: u64) -> u64 {
    let Some(text) = lines.get(line as usize - 1) else {
        return line;
    };
    let before: String = text
        .chars()
        .take(column.saturating_sub(1) as usize)
        .collect();
    if !before.trim().is_empty() {
        // Something (the dash, or a flow list) precedes the value on its line.
        return line;
    }
    // The nearest line above that is not blank or a comment.
    for above in (1..line).rev() {
        let t = lines[above as usize - 1].trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        return if t == "-" || t.starts_with("- ") || t.starts_with("-\t") {
            above
        } else {
            line
        };
    }
    line
}

/// A YAML syntax or shape error as advice, at `file:line:column`.
fn syntax_error(source: &str, e: &serde_saphyr::Error) -> anyhow::Error {
    let advice = match e.without_snippet() {
        serde_saphyr::Error::MultipleDocuments { .. } => {
            "the file holds several YAML documents (a `---` line starts another); keep one"
                .to_string()
        }
        serde_saphyr::Error::DuplicateMappingKey { key, .. } => format!(
            "a key{} appears twice in one entry (or in the top-level mapping); keep one",
            key.as_ref()
                .map(|k| format!(" ('{k}')"))
                .unwrap_or_default()
        ),
        other => format!(
            "not a valid range file: {}; write a list of ranges, or a mapping with \
             `backup_server` and `ranges`",
            serde_saphyr::UserMessageFormatter.format_message(other)
        ),
    };
    match e.location().filter(|l| l.line() > 0) {
        Some(l) => InputError {
            code: UNREADABLE,
            location: format!("{source}:{}:{}", l.line(), l.column()),
            line: Some(l.line()),
            column: None,
            advice: format!("{advice} (column {})", l.column()),
        }
        .into(),
        None => input_error(UNREADABLE, source, None, advice),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_shape_with_lines() {
        let y = read(
            "r.yaml",
            b"# pool\n- 203.0.113.0/28\n- first: 198.51.100.1\n  last: 198.51.100.9\n  server: b2\n\n-   { range: 2001:db8::/126, note: lab, owner: x }\n",
        )
        .unwrap();
        let lines: Vec<u64> = y.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 3, 7]);
        assert_eq!(y.rows[1].backup_server.as_ref().unwrap().text, "b2");
        assert_eq!(y.rows[1].last.as_ref().unwrap().text, "198.51.100.9");
        assert_eq!(y.rows[2].comment.as_deref(), Some("lab"));
        assert_eq!(y.unknown, vec![("owner".to_string(), 7)]);
    }

    #[test]
    fn mapping_shape_with_default_server() {
        let y = read(
            "r.yaml",
            b"backup_server: backup01\nranges:\n  - 203.0.113.0/28\n  - range: 203.0.113.64/30\n    backup_server: b2\n  - 7\n",
        )
        .unwrap();
        assert_eq!(y.default_server.as_deref(), Some("backup01"));
        assert_eq!(y.rows.len(), 3);
        assert_eq!(y.rows[1].line, 4);
        assert_eq!(y.rows[2].line, 6);
        assert_eq!(y.rows[2].defect.as_ref().unwrap().0, "bad-entry");
    }

    #[test]
    fn nested_values_make_the_entry_bad_not_the_file() {
        let y = read(
            "r.yaml",
            b"- range: [203.0.113.1]
- first: {a: 1}
- 203.0.113.3
",
        )
        .unwrap();
        assert_eq!(y.rows.len(), 3);
        assert_eq!(y.rows[0].defect.as_ref().unwrap().0, "bad-entry");
        assert!(y.rows[1].defect.as_ref().unwrap().1.contains("mapping"));
        assert!(y.rows[2].defect.is_none());
    }

    #[test]
    fn unreadable_yaml_is_an_error() {
        assert!(read("r.yaml", b"").is_err());
        assert!(read("r.yaml", b"# nothing\n").is_err());
        assert!(read("r.yaml", b"- [unclosed\n").is_err());
        assert!(read("r.yaml", b"just a string\n").is_err());
        assert!(read("r.yaml", b"backup_server: x\n").is_err());
        assert!(read("r.yaml", b"\xff\xfe\x00").is_err());
        assert!(read("r.yaml", b"ranges: []\n").unwrap().rows.is_empty());
    }
}
