//! CSV and TSV: a header row, then records, read in large blocks so that
//! blocks can be parsed in parallel while the next one is read.
//!
//! The tokenizer is our own rather than the `csv` crate's because line
//! numbers must be exact physical lines (header = line 1), and the csv
//! crate's record positions are off after CRLF records (rust-csv issue 395)
//! and on the first record after a blank line (issue 208). Here every line
//! is counted by the code that consumes its line break, so a line number cannot
//! drift. A line break is `\n`, `\r\n` or a lone `\r` (old Mac Excel's
//! "CSV (Macintosh)"), outside quotes and inside. Quoting follows RFC 4180: a field that starts with `"` runs to the
//! next lone `"` (`""` is a literal quote) and may span lines; a `"` inside
//! an unquoted field is an ordinary character.
//!
//! Blocks are cut at record boundaries, never between `\r` and `\n`; a line
//! break inside a quoted field is not a boundary. The cut uses the same record parser as the rows, so the two
//! can never disagree.

use std::io::Read;
use std::sync::Arc;

use memchr::{memchr, memchr2, memchr2_iter, memchr3, memrchr2};

use super::{BAD_HEADER, ColumnMap, RawRow, UNREADABLE, input_error, not_text_error};

/// Size of the blocks handed to the parser threads.
pub const BLOCK_SIZE: usize = 4 << 20;

/// The delimiters we detect, in order of preference on a tie.
const DELIMITERS: [u8; 3] = [b',', b';', b'\t'];

/// The field bytes of one record, unescaped, and where each field lies in them.
#[derive(Debug, Default)]
pub struct Fields {
    data: Vec<u8>,
    bounds: Vec<(usize, usize)>,
}

impl Fields {
    fn clear(&mut self) {
        self.data.clear();
        self.bounds.clear();
    }

    fn get(&self, i: usize) -> &[u8] {
        let (a, b) = self.bounds[i];
        &self.data[a..b]
    }

    fn len(&self) -> usize {
        self.bounds.len()
    }
}

/// What [`parse_record`] found at a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecordKind {
    /// A blank line or a `#` comment line.
    Skip,
    /// A record; `unterminated` when a quoted field ran to the end of input:
    /// how many lines below the record's first line that field opened.
    Data { unterminated: Option<u64> },
}

#[derive(Debug, Clone, Copy)]
struct Record {
    kind: RecordKind,
    /// Position just after the record (after its line break, or the end of input).
    end: usize,
    /// Number of line breaks consumed: the lines the record spans, minus one if it
    /// ends at the end of input without a newline.
    newlines: u64,
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Where the line break at `i` (a `\r` or `\n`) ends: after `\r\n`, a lone
/// `\r` (old Mac "CSV (Macintosh)" files) or `\n`. `None` when `buf` ends
/// with a `\r` whose `\n` may come with more input.
fn after_line_break(buf: &[u8], i: usize, at_eof: bool) -> Option<usize> {
    if buf[i] != b'\r' {
        return Some(i + 1);
    }
    match buf.get(i + 1) {
        Some(b'\n') => Some(i + 2),
        Some(_) => Some(i + 1),
        None => at_eof.then_some(i + 1),
    }
}

/// Line breaks in `bytes`: every `\n`, and every `\r` not followed by `\n`.
fn line_breaks(bytes: &[u8]) -> u64 {
    memchr2_iter(b'\n', b'\r', bytes)
        .filter(|&k| bytes[k] == b'\n' || bytes.get(k + 1) != Some(&b'\n'))
        .count() as u64
}

/// Parse the record (or skipped line) starting at `start`.
///
/// Returns `None` when there is nothing at `start`, or, unless `at_eof`, when
/// the record is not complete in `buf` (more input may finish it).
fn parse_record(
    buf: &[u8],
    start: usize,
    delim: u8,
    at_eof: bool,
    out: &mut Fields,
) -> Option<Record> {
    out.clear();
    let len = buf.len();
    if start >= len {
        return None;
    }
    let mut i = start;
    while i < len && is_blank(buf[i]) {
        i += 1;
    }
    if i == len {
        return at_eof.then_some(Record {
            kind: RecordKind::Skip,
            end: len,
            newlines: 0,
        });
    }
    if buf[i] == b'\n' || buf[i] == b'\r' {
        return Some(Record {
            kind: RecordKind::Skip,
            end: after_line_break(buf, i, at_eof)?,
            newlines: 1,
        });
    }
    if buf[i] == b'#' {
        return match memchr2(b'\n', b'\r', &buf[i..]) {
            Some(k) => Some(Record {
                kind: RecordKind::Skip,
                end: after_line_break(buf, i + k, at_eof)?,
                newlines: 1,
            }),
            None => at_eof.then_some(Record {
                kind: RecordKind::Skip,
                end: len,
                newlines: 0,
            }),
        };
    }
    let mut p = start;
    let mut newlines = 0u64;
    let mut unterminated = None;
    loop {
        let field_start = out.data.len();
        if p < len && buf[p] == b'"' {
            let opened = newlines;
            p += 1;
            loop {
                match memchr(b'"', &buf[p..]) {
                    Some(k) => {
                        let chunk = &buf[p..p + k];
                        newlines += line_breaks(chunk);
                        out.data.extend_from_slice(chunk);
                        p += k + 1;
                        if p < len && buf[p] == b'"' {
                            out.data.push(b'"');
                            p += 1;
                        } else if p == len && !at_eof {
                            return None;
                        } else {
                            break;
                        }
                    }
                    None => {
                        if !at_eof {
                            return None;
                        }
                        let chunk = &buf[p..];
                        newlines += line_breaks(chunk);
                        out.data.extend_from_slice(chunk);
                        p = len;
                        unterminated = Some(opened);
                        break;
                    }
                }
            }
        }
        // Unquoted text, or what follows a closing quote up to the next
        // delimiter (kept literally, as spreadsheets do).
        match memchr3(delim, b'\n', b'\r', &buf[p..]) {
            Some(k) => {
                out.data.extend_from_slice(&buf[p..p + k]);
                p += k;
            }
            None => {
                if !at_eof {
                    return None;
                }
                out.data.extend_from_slice(&buf[p..]);
                p = len;
            }
        }
        out.bounds.push((field_start, out.data.len()));
        if p < len && buf[p] == delim {
            p += 1;
            continue;
        }
        if p < len {
            // The record's line break.
            p = after_line_break(buf, p, at_eof)?;
            newlines += 1;
        }
        break;
    }
    Some(Record {
        kind: RecordKind::Data { unterminated },
        end: p,
        newlines,
    })
}

/// Length of the longest prefix of `buf` made of complete records.
fn complete_prefix(buf: &[u8], delim: u8, scratch: &mut Fields) -> usize {
    if memchr(b'"', buf).is_none() {
        // No quotes: every line break ends a record, but a `\r` at the very
        // end may be the first half of a `\r\n`, so the cut goes before it.
        let last = match memrchr2(b'\n', b'\r', buf) {
            Some(k) if buf[k] == b'\r' && k + 1 == buf.len() => memrchr2(b'\n', b'\r', &buf[..k]),
            other => other,
        };
        return last.map_or(0, |k| k + 1);
    }
    let mut pos = 0;
    while let Some(rec) = parse_record(buf, pos, delim, false, scratch) {
        pos = rec.end;
    }
    pos
}

/// A run of complete records and the line its first byte is on.
#[derive(Debug)]
pub struct Block {
    pub first_line: u64,
    pub bytes: Vec<u8>,
}

/// An open CSV/TSV input whose header has been read.
pub struct CsvReader {
    pub source: Arc<str>,
    pub delimiter: u8,
    pub columns: ColumnMap,
    /// The header's line number.
    pub header_line: u64,
    input: Box<dyn Read + Send>,
    pending: Vec<u8>,
    next_line: u64,
    eof: bool,
    block_size: usize,
    /// Buffers of parsed blocks, handed back to be filled again.
    spare: Vec<Vec<u8>>,
}

/// Read into `buf` until it holds at least `want` bytes or the input ends.
/// Returns true at end of input.
fn fill(
    input: &mut dyn Read,
    buf: &mut Vec<u8>,
    want: usize,
    source: &str,
) -> anyhow::Result<bool> {
    while buf.len() < want {
        let missing = (want - buf.len()) as u64;
        buf.reserve(missing as usize);
        // `read_to_end` reads into spare capacity without zeroing it first.
        match input.take(missing).read_to_end(buf) {
            Ok(0) => return Ok(true),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(input_error(
                    UNREADABLE,
                    source,
                    None,
                    format!("read failed ({e})"),
                ));
            }
        }
    }
    Ok(false)
}

/// Pick the delimiter from the header line: the most frequent of `,` `;` tab
/// outside quotes (`,` when there is none: a one-column file).
fn detect_delimiter(line: &[u8]) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in line {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(i) = DELIMITERS.iter().position(|&d| d == b) {
            counts[i] += 1;
        }
    }
    let mut best = 0;
    for i in 1..3 {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    DELIMITERS[best]
}

impl CsvReader {
    /// Open an input and read its header. `delimiter` forces one (TSV);
    /// `None` detects it from the header line.
    pub fn open(
        source: Arc<str>,
        input: Box<dyn Read + Send>,
        delimiter: Option<u8>,
    ) -> anyhow::Result<CsvReader> {
        Self::open_with_block_size(source, input, delimiter, BLOCK_SIZE)
    }

    /// As [`CsvReader::open`], cutting blocks of about `block_size` bytes
    /// (tests use tiny blocks to exercise the cuts).
    pub fn open_with_block_size(
        source: Arc<str>,
        mut input: Box<dyn Read + Send>,
        delimiter: Option<u8>,
        block_size: usize,
    ) -> anyhow::Result<CsvReader> {
        let mut buf = Vec::new();
        let mut want = block_size.clamp(4, 64 << 10);
        let mut eof = fill(input.as_mut(), &mut buf, want, &source)?;
        if buf.starts_with(&[0xFF, 0xFE]) || buf.starts_with(&[0xFE, 0xFF]) {
            return Err(not_text_error(&source, &buf));
        }
        let bom = if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
            3
        } else {
            0
        };
        let mut scratch = Fields::default();
        // Find the header: the first record that is not blank or a comment.
        let mut pos = bom;
        let mut line = 1u64;
        let (header_start, header) = loop {
            match parse_record(&buf, pos, b',', eof, &mut scratch) {
                Some(rec) if rec.kind == RecordKind::Skip => {
                    pos = rec.end;
                    line += rec.newlines;
                }
                Some(rec) => break (pos, rec),
                None if eof => {
                    if buf.contains(&0) || std::str::from_utf8(&buf).is_err() {
                        return Err(not_text_error(&source, &buf));
                    }
                    return Err(input_error(
                        BAD_HEADER,
                        &source,
                        None,
                        "no header row (the input is empty, or holds only blank and # lines); \
                             the first line must name the columns, e.g. backup_server,first,last,comment",
                    ));
                }
                None => {
                    want *= 2;
                    eof = fill(input.as_mut(), &mut buf, want, &source)?;
                }
            }
        };
        if let RecordKind::Data {
            unterminated: Some(opened),
        } = header.kind
        {
            // Read on, the header would swallow the whole file and be judged
            // as a bad header: say what is really wrong, as for a data row.
            let ends_with_break = matches!(buf[..header.end].last(), Some(b'\n' | b'\r'));
            let last = line + header.newlines - u64::from(ends_with_break && header.newlines > 0);
            return Err(input_error(
                UNTERMINATED_QUOTE,
                &source,
                Some(line),
                unterminated_advice(line + opened, last),
            ));
        }
        let raw_header = &buf[header_start..header.end];
        if raw_header.contains(&0) || std::str::from_utf8(raw_header).is_err() {
            return Err(not_text_error(&source, &buf));
        }
        let delimiter = delimiter.unwrap_or_else(|| detect_delimiter(raw_header));
        let header = parse_record(&buf, header_start, delimiter, true, &mut scratch)
            .expect("a record was found here");
        let cells: Vec<String> = (0..scratch.len())
            .map(|i| String::from_utf8_lossy(scratch.get(i)).into_owned())
            .collect();
        let columns = ColumnMap::from_header(&cells, &source, line)?;
        let pending = buf[header.end..].to_vec();
        Ok(CsvReader {
            source,
            delimiter,
            columns,
            header_line: line,
            input,
            pending,
            next_line: line + header.newlines,
            eof,
            block_size,
            spare: Vec::new(),
        })
    }

    /// The next block of complete records, or `None` at the end of input.
    pub fn next_block(&mut self) -> anyhow::Result<Option<Block>> {
        let mut scratch = Fields::default();
        let mut want = self.block_size.max(self.pending.len() + 1);
        loop {
            if !self.eof {
                self.eof = fill(self.input.as_mut(), &mut self.pending, want, &self.source)?;
            }
            if self.eof {
                if self.pending.is_empty() {
                    return Ok(None);
                }
                let bytes = std::mem::take(&mut self.pending);
                return Ok(Some(self.emit(bytes)));
            }
            let cut = complete_prefix(&self.pending, self.delimiter, &mut scratch);
            if cut == 0 {
                // One record longer than a block: read more.
                want = self.pending.len() * 2;
                continue;
            }
            let mut rest = self.spare.pop().unwrap_or_default();
            rest.clear();
            rest.reserve(self.block_size.max(self.pending.len() - cut));
            crate::memory::advise_huge_pages(&rest);
            rest.extend_from_slice(&self.pending[cut..]);
            let mut bytes = std::mem::replace(&mut self.pending, rest);
            bytes.truncate(cut);
            return Ok(Some(self.emit(bytes)));
        }
    }

    /// Hand back a block's buffer for reuse (saves page faults on big inputs).
    pub fn recycle(&mut self, buffer: Vec<u8>) {
        if self.spare.len() < 4 {
            self.spare.push(buffer);
        }
    }

    fn emit(&mut self, bytes: Vec<u8>) -> Block {
        let first_line = self.next_line;
        self.next_line += line_breaks(&bytes);
        Block { first_line, bytes }
    }
}

/// Advice for a quoted field opened on line `opened` and never closed: it
/// swallowed every line after it, up to `last`.
fn unterminated_advice(opened: u64, last: u64) -> String {
    let swallowed = match last.saturating_sub(opened) {
        0 => String::new(),
        1 => format!(", so line {last} was read into it and not as a row"),
        _ => format!(
            ", so lines {}-{last} were read into it and not as rows",
            opened + 1
        ),
    };
    format!(
        "a quoted field opened on line {opened} is not closed before the end of the file\
         {swallowed}; add the closing '\"' (or remove the stray one)"
    )
}
/// Code of a quoted field that is never closed (in a row or the header).
const UNTERMINATED_QUOTE: &str = "unterminated-quote";
const NOT_UTF8: &str =
    "the row holds bytes that are not UTF-8 text; save the file as \"CSV UTF-8\"";

/// Call `f` with every data row of a block, in order. Blank, `#` and
/// all-empty rows are skipped.
pub fn for_each_row(
    block: &Block,
    delimiter: u8,
    columns: &ColumnMap,
    mut f: impl FnMut(RawRow<'_>),
) {
    let buf = &block.bytes[..];
    let mut fields = Fields::default();
    // Reused across records; emptied before each so it can borrow anew.
    let mut spare: Vec<&str> = Vec::new();
    let mut pos = 0;
    let mut line = block.first_line;
    while let Some(rec) = parse_record(buf, pos, delimiter, true, &mut fields) {
        pos = rec.end;
        let row_line = line;
        line += rec.newlines;
        let RecordKind::Data { unterminated } = rec.kind else {
            continue;
        };
        let mut cells = reuse(std::mem::take(&mut spare));
        let mut not_text = false;
        // One UTF-8 check per record; a field is then a slice at char
        // boundaries (checked by `get`), or, if the record is not text, the
        // fields are checked one by one so the good cells still show.
        match std::str::from_utf8(&fields.data) {
            Ok(text) => {
                for &(a, b) in &fields.bounds {
                    match text.get(a..b) {
                        Some(s) => cells.push(s),
                        None => {
                            not_text = true;
                            cells.push("");
                        }
                    }
                }
            }
            Err(_) => {
                for i in 0..fields.len() {
                    match std::str::from_utf8(fields.get(i)) {
                        Ok(s) => cells.push(s),
                        Err(_) => {
                            not_text = true;
                            cells.push("");
                        }
                    }
                }
            }
        }
        let advice;
        let defect = if let Some(opened) = unterminated {
            // The field ran to the end of input: its last line is the last
            // line of the file that holds anything.
            let ends_with_break = matches!(buf[..rec.end].last(), Some(b'\n' | b'\r'));
            let last = row_line + rec.newlines - u64::from(ends_with_break && rec.newlines > 0);
            advice = unterminated_advice(row_line + opened, last);
            Some((UNTERMINATED_QUOTE, advice.as_str()))
        } else if not_text {
            Some(("not-text", NOT_UTF8))
        } else {
            None
        };
        match RawRow::from_cells(row_line, &cells, columns) {
            Some(mut row) => {
                row.defect = defect;
                f(row);
            }
            None if defect.is_some() => f(RawRow {
                line: row_line,
                defect,
                ..RawRow::default()
            }),
            None => {}
        }
        spare = reuse(cells);
    }
}

/// An empty vector with the allocation of `v`, free to hold borrows of
/// another lifetime (std collects in place when the element size is the same).
fn reuse<'b>(mut v: Vec<&str>) -> Vec<&'b str> {
    v.clear();
    v.into_iter().map(|_| "").collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(text: &[u8], block: usize) -> anyhow::Result<CsvReader> {
        let input = Box::new(std::io::Cursor::new(text.to_vec()));
        CsvReader::open_with_block_size("t.csv".into(), input, None, block)
    }

    /// (line, first cell text) of every row of a whole input read in blocks of `block`.
    fn rows(text: &[u8], block: usize) -> anyhow::Result<Vec<(u64, String, Option<&'static str>)>> {
        let mut reader = open(text, block)?;
        let mut out = Vec::new();
        while let Some(b) = reader.next_block()? {
            for_each_row(&b, reader.delimiter, &reader.columns, |row| {
                out.push((
                    row.line,
                    row.first
                        .or(row.range)
                        .map(|c| c.text.to_string())
                        .unwrap_or_default(),
                    row.defect.map(|d| d.0),
                ))
            });
        }
        Ok(out)
    }

    fn lines_of(text: &[u8]) -> Vec<u64> {
        let all = rows(text, 1 << 20).unwrap();
        // Whatever the block size, the answer is the same.
        for block in [1, 2, 3, 7, 16] {
            assert_eq!(rows(text, block).unwrap(), all, "block size {block}");
        }
        all.iter().map(|r| r.0).collect()
    }

    #[test]
    fn crlf_lines_are_physical_lines() {
        let text = b"first,last\r\n1.1.1.1,\r\n1.1.1.2,\r\n\r\n1.1.1.3,1.1.1.4\r\n";
        assert_eq!(lines_of(text), vec![2, 3, 5]);
        let r = rows(text, 1 << 20).unwrap();
        assert_eq!(r[2].1, "1.1.1.3");
    }

    #[test]
    fn lone_cr_ends_a_line_like_lf() {
        // Old Mac Excel ("CSV (Macintosh)"): every line ends with a lone CR.
        let text = b"Range,Comment\r8.8.27.1,x\r\r# c\r\"8.8.27.5\",\"x\ry\"\r8.8.27.9,\r";
        assert_eq!(lines_of(text), vec![2, 5, 7]);
        let r = rows(text, 1 << 20).unwrap();
        assert_eq!(r[0].1, "8.8.27.1");
        assert_eq!(r[2].1, "8.8.27.9");
        // Mixed endings, and a CR at a block's end whose LF is in the next block.
        let text = b"range\r\n1.1.1.1\r1.1.1.2\n1.1.1.3\r\n\r1.1.1.4";
        assert_eq!(lines_of(text), vec![2, 3, 4, 6]);
        let r = rows(text, 1 << 20).unwrap();
        assert_eq!(r[3].1, "1.1.1.4");
    }

    #[test]
    fn first_record_after_blank_line_has_its_line() {
        let text = b"range\n\n\n1.1.1.1\n# note\n  \n1.1.1.2";
        assert_eq!(lines_of(text), vec![4, 7]);
    }

    #[test]
    fn quoted_fields_spanning_lines_count_their_lines() {
        let text = b"range,comment\n1.1.1.1,\"two\r\nlines, \"\"quoted\"\"\"\n1.1.1.2,x\n\"1.1.1.3\",\"#\n\n\"\n1.1.1.4\n";
        assert_eq!(lines_of(text), vec![2, 4, 5, 8]);
    }

    #[test]
    fn bom_comments_and_blank_lines_before_header() {
        let text = b"\xEF\xBB\xBF# exported\n\nFirst IP;Last IP\n1.1.1.1;1.1.1.2\n";
        let reader = open(text, 16).unwrap();
        assert_eq!(reader.delimiter, b';');
        assert_eq!(reader.header_line, 3);
        assert_eq!(lines_of(text), vec![4]);
    }

    #[test]
    fn tab_delimiter_is_detected() {
        let text = b"backup server\tcidr\tnote\nb\t1.1.1.0/30\tx, y\n";
        let reader = open(text, 16).unwrap();
        assert_eq!(reader.delimiter, b'\t');
        assert_eq!(rows(text, 5).unwrap()[0].1, "1.1.1.0/30");
    }

    #[test]
    fn unterminated_quote_and_bad_bytes_are_row_defects() {
        let r = rows(
            b"range\n1.1.1.1\n\xFF\xFE1.1.1.2\n\"1.1.1.3\n1.1.1.4\n",
            1 << 20,
        )
        .unwrap();
        assert_eq!(r[1], (3, String::new(), Some("not-text")));
        assert_eq!(r[2].0, 4);
        assert_eq!(r[2].2, Some("unterminated-quote"));
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn no_header_is_an_error() {
        assert!(rows(b"", 16).is_err());
        assert!(rows(b"\n# only a comment\n\n", 16).is_err());
        assert!(rows(b"\x00\x01\x02\xFF\xFE", 16).is_err());
        assert!(rows(b"\xFF\xFEr\x00", 16).is_err());
        assert!(rows(b"range\n", 16).unwrap().is_empty());
    }
}
