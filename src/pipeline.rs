//! The first stage of every command: read -> validate -> merge.
//!
//! [`load_batch`] reads every input (CSV blocks are parsed and validated in
//! parallel while the next block is read), applies the row rules, merges the
//! valid rows per (backup server, family), and finds overlapping rows in the
//! same pass. Memory grows with the number of rows kept (a compact 64-byte
//! record per valid row), not with file size: CSV is read in blocks.
//!
//! [`Batch`] is what `plan` and `apply` work from; `validate` prints it with
//! [`Batch::write_text`] or [`Batch::write_json`]. For large inputs
//! `validate` uses [`load`], which keeps merged ranges in compact form and
//! prints them through the same writers.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::sync::Arc;
use std::sync::mpsc::sync_channel;

mod json;

use rayon::prelude::*;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::cli::InputFormat;
use crate::config::ValidationSettings;
use crate::exit::{Exit, fatal};
use crate::input::csv::{Block, CsvReader, for_each_row};
use crate::input::{self, ColumnMap, Kind, OwnedCell, RawRow, SourceRef};
use crate::merge::{Item, MergedItems, MergedRange, RangeView, hull, item_buffer, merge_items};
use crate::range::IpRange;
use crate::validate::{
    self, Diagnostic, RowContext, Severity, check_backup_server, check_row, overlap_diagnostic,
};

/// How to read the inputs (`--input-format`, `--sheet`).
#[derive(Debug, Clone, Default)]
pub struct InputOptions {
    pub format: Option<InputFormat>,
    pub sheet: Option<String>,
}

/// One data row as read and judged, valid or not (kept for reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowRecord {
    pub source: SourceRef,
    /// The row's backup server (canonical UID form), else the default; `None` when neither.
    pub backup_server: Option<String>,
    /// The range, when the address cells parse.
    pub range: Option<IpRange>,
    /// First address: canonical text when the row parses, else the cell as written.
    pub first_text: String,
    /// Last address: canonical text when the row parses, else the cell as written (maybe empty).
    pub last_text: String,
    pub comment: Option<String>,
    /// Messages of the row's error diagnostics (empty: the row is valid).
    pub errors: Vec<String>,
}

/// The result of reading, validating and merging a set of inputs.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// Data rows (not headers, blank or `#` lines).
    pub rows_total: u64,
    /// Rows with at least one error.
    pub rows_invalid: u64,
    /// Ordered by input (command-line order), then line.
    pub diagnostics: Vec<Diagnostic>,
    /// Merged ranges of the valid rows, sorted by (backup_server, range).
    pub ranges: Vec<MergedRange>,
    /// Every data row, in input order; filled only when asked (`keep_rows`).
    pub rows: Vec<RowRecord>,
}

/// A batch in compact form: merged ranges point into the sorted rows.
#[derive(Debug, Default)]
pub struct Loaded {
    pub rows_total: u64,
    pub rows_invalid: u64,
    pub diagnostics: Vec<Diagnostic>,
    pub rows: Vec<RowRecord>,
    servers: Vec<String>,
    files: Vec<Arc<str>>,
    items: Vec<Item>,
    merged: MergedItems,
}

/// What one block (or chunk) of rows of one file came to.
#[derive(Debug, Default)]
struct ChunkOut {
    /// Index of the input the rows come from.
    file: u32,
    rows_total: u64,
    rows_invalid: u64,
    diagnostics: Vec<Diagnostic>,
    /// Valid rows; `server` indexes `servers`.
    items: Vec<Item>,
    servers: Vec<String>,
    rows: Vec<RowRecord>,
    /// The first row with a filled cell under no column name: (line, position).
    unnamed_cell: Option<(u64, usize)>,
    /// For a sheet, its column (0 = A) of the rows' first cell, so that a
    /// cell's position can be named by its column letter.
    sheet_first_column: Option<u32>,
}

/// Judges rows of one file and gathers the results of one chunk.
struct ChunkBuilder<'a> {
    ctx: &'a RowContext<'a>,
    file: u32,
    keep_rows: bool,
    out: ChunkOut,
    server_ids: HashMap<String, u32>,
    last_server: Option<u32>,
}

impl<'a> ChunkBuilder<'a> {
    fn new(ctx: &'a RowContext<'a>, file: u32, keep_rows: bool) -> Self {
        ChunkBuilder {
            ctx,
            file,
            keep_rows,
            out: ChunkOut {
                file,
                ..ChunkOut::default()
            },
            server_ids: HashMap::new(),
            last_server: None,
        }
    }

    fn server_id(&mut self, name: &str) -> u32 {
        if let Some(id) = self.last_server
            && self.out.servers[id as usize] == name
        {
            return id;
        }
        let id = match self.server_ids.get(name) {
            Some(id) => *id,
            None => {
                let id = self.out.servers.len() as u32;
                self.out.servers.push(name.to_string());
                self.server_ids.insert(name.to_string(), id);
                id
            }
        };
        self.last_server = Some(id);
        id
    }

    fn push(&mut self, row: &RawRow<'_>) {
        self.out.rows_total += 1;
        if let Some(position) = row.unnamed_cell
            && self.out.unnamed_cell.is_none()
        {
            self.out.unnamed_cell = Some((row.line, position));
        }
        let before = self.out.diagnostics.len();
        let checked = check_row(row, self.ctx, &mut self.out.diagnostics);
        if checked.errors > 0 {
            self.out.rows_invalid += 1;
        }
        if let Some((server, range)) = checked.valid() {
            let server = self.server_id(server);
            self.out.items.push(Item {
                server,
                range,
                file: self.file,
                line: row.line,
            });
        }
        if self.keep_rows {
            let record = record_of(row, &checked, &self.out.diagnostics[before..], self.ctx);
            self.out.rows.push(record);
        }
    }
}

fn record_of(
    row: &RawRow<'_>,
    checked: &validate::CheckedRow<'_>,
    diagnostics: &[Diagnostic],
    ctx: &RowContext<'_>,
) -> RowRecord {
    let (first_text, last_text) = match checked.range {
        Some(r) => (r.first_addr().to_string(), r.last_addr().to_string()),
        None => (
            row.range.or(row.first).map_or("", |c| c.text).to_string(),
            row.last.map_or("", |c| c.text).to_string(),
        ),
    };
    RowRecord {
        source: SourceRef {
            source: ctx.source.clone(),
            line: row.line,
        },
        backup_server: checked
            .server
            .as_deref()
            .or(row.backup_server.map(|c| c.text))
            .map(str::to_string),
        range: checked.range,
        first_text,
        last_text,
        comment: row.comment.map(str::to_string),
        errors: diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| d.message.clone())
            .collect(),
    }
}

/// Rows per parallel chunk for readers that hold all their rows (YAML, sheets).
const CHUNK_ROWS: usize = 8192;

/// Read, validate and merge `inputs` (see the module docs).
///
/// Fails for input that cannot be read at all (missing file, no header,
/// not text, unknown sheet): `plan` and `apply` submit nothing then, even
/// with `--skip-invalid`. Row problems are diagnostics.
pub fn load_batch(
    inputs: &[String],
    opts: &InputOptions,
    settings: &ValidationSettings,
    keep_rows: bool,
) -> anyhow::Result<Batch> {
    Ok(load_inputs(inputs, opts, settings, keep_rows, false)?.into_batch())
}

/// As [`load_batch`], keeping the merged ranges in compact form, and (for
/// `validate`) reporting an input that cannot be read as an error
/// diagnostic of that input, so the other inputs are still judged.
pub fn load(
    inputs: &[String],
    opts: &InputOptions,
    settings: &ValidationSettings,
    keep_rows: bool,
) -> anyhow::Result<Loaded> {
    load_inputs(inputs, opts, settings, keep_rows, true)
}

/// The diagnostic of an input that could not be read (see [`input::InputError`]).
fn unreadable_diagnostic(source: &str, err: &anyhow::Error) -> Diagnostic {
    match err.downcast_ref::<input::InputError>() {
        Some(e) => Diagnostic::error(e.code, e.advice.clone(), source, e.line.unwrap_or(1))
            .in_column(e.column.as_deref()),
        None => Diagnostic::error(input::UNREADABLE, format!("{err:#}"), source, 1),
    }
}

fn load_inputs(
    inputs: &[String],
    opts: &InputOptions,
    settings: &ValidationSettings,
    keep_rows: bool,
    file_errors_as_diagnostics: bool,
) -> anyhow::Result<Loaded> {
    if inputs.is_empty() {
        return Err(fatal(
            Exit::Invalid,
            "no input given; name one or more range files (or - for standard input)",
        ));
    }
    if inputs.iter().filter(|i| *i == "-").count() > 1 {
        return Err(fatal(
            Exit::Invalid,
            "standard input (-) can be read only once",
        ));
    }
    let default_server = match &settings.backup_server {
        Some(value) => Some(
            check_backup_server(value.trim())
                .map_err(|m| fatal(Exit::Invalid, format!("--backup-server: {m}")))?
                .into_owned(),
        ),
        None => None,
    };
    let sheet = opts.sheet.clone().or_else(|| settings.sheet.clone());
    let started = std::time::Instant::now();
    let mut files: Vec<Arc<str>> = Vec::new();
    let mut chunks: Vec<ChunkOut> = Vec::new();
    for (index, input) in inputs.iter().enumerate() {
        let source: Arc<str> = input::display_name(input).into();
        files.push(source.clone());
        let ctx = RowContext {
            source: &source,
            default_server: default_server.as_deref(),
            max_range_size: settings.max_range_size,
            allow_nonpublic: settings.allow_nonpublic,
        };
        let file = index as u32;
        let read = match input::kind_of(input, opts.format) {
            Ok(Kind::Delimited(delimiter)) => input::open(input)
                .and_then(|bytes| CsvReader::open(source.clone(), bytes, delimiter))
                .and_then(|reader| load_delimited(reader, &ctx, file, keep_rows)),
            Ok(Kind::Yaml) => load_yaml(input, &ctx, file, keep_rows),
            Ok(Kind::Sheet) => load_sheet(input, sheet.as_deref(), &ctx, file, keep_rows),
            Err(e) => Err(e),
        };
        match read {
            Ok(read) => chunks.extend(read),
            Err(e) if file_errors_as_diagnostics => chunks.push(ChunkOut {
                file,
                diagnostics: vec![unreadable_diagnostic(&source, &e)],
                ..ChunkOut::default()
            }),
            Err(e) => return Err(e),
        }
    }
    tracing::debug!(elapsed = ?started.elapsed(), "inputs read and validated");
    let loaded = assemble(chunks, files);
    tracing::debug!(elapsed = ?started.elapsed(), ranges = loaded.merged.len(), "merged");
    Ok(loaded)
}

/// Read a YAML input and judge its rows in parallel chunks.
fn load_yaml(
    input: &str,
    ctx: &RowContext<'_>,
    file: u32,
    keep_rows: bool,
) -> anyhow::Result<Vec<ChunkOut>> {
    let bytes = input::read_all(input)?;
    let mut doc = input::yaml::read(ctx.source, &bytes)?;
    let mut chunks = Vec::new();
    if !doc.unknown.is_empty() {
        // One warning per line, naming the keys first seen there.
        let mut by_line: std::collections::BTreeMap<u64, Vec<String>> = Default::default();
        for (key, line) in &doc.unknown {
            by_line.entry(*line).or_default().push(key.clone());
        }
        chunks.push(ChunkOut {
            file,
            diagnostics: by_line
                .iter()
                .map(|(line, keys)| validate::unknown_columns_diagnostic(ctx.source, *line, keys))
                .collect(),
            ..ChunkOut::default()
        });
    }
    // The mapping shape's default server ranks below a row's own and above
    // --backup-server: it is the row's cell when the row has none.
    if let Some(default) = &doc.default_server {
        for row in doc.rows.iter_mut().filter(|r| r.backup_server.is_none()) {
            row.backup_server = Some(OwnedCell {
                text: default.clone(),
                column: Some("backup_server".to_string()),
            });
        }
    }
    chunks.par_extend(doc.rows.par_chunks(CHUNK_ROWS).map(|rows| {
        let mut b = ChunkBuilder::new(ctx, file, keep_rows);
        for row in rows {
            b.push(&row.as_raw());
        }
        b.out
    }));
    Ok(chunks)
}

/// Read a spreadsheet's sheet and judge its rows in parallel chunks.
fn load_sheet(
    input: &str,
    sheet: Option<&str>,
    ctx: &RowContext<'_>,
    file: u32,
    keep_rows: bool,
) -> anyhow::Result<Vec<ChunkOut>> {
    let bytes = input::read_all(input)?;
    let sheet_rows = input::sheet::read(ctx.source, bytes, sheet)?;
    let columns = &sheet_rows.columns;
    let mut chunks = vec![unknown_columns_chunk(
        columns,
        ctx.source,
        sheet_rows.header_line,
        file,
    )];
    let bad_cells: HashMap<u64, (usize, &str)> = sheet_rows
        .bad_cells
        .iter()
        .map(|(line, i, advice)| (*line, (*i, advice.as_str())))
        .collect();
    chunks.par_extend(sheet_rows.rows.par_chunks(CHUNK_ROWS).map(|rows| {
        let mut b = ChunkBuilder::new(ctx, file, keep_rows);
        b.out.sheet_first_column = Some(sheet_rows.first_column);
        let mut cells: Vec<&str> = Vec::new();
        for (line, row) in rows {
            cells.clear();
            cells.extend(row.iter().map(String::as_str));
            if let Some(mut raw) = RawRow::from_cells(*line, &cells, columns) {
                if let Some((i, advice)) = bad_cells.get(line) {
                    raw.defect = Some(("bad-cell", advice));
                    raw.defect_column = columns.name(Some(*i));
                }
                b.push(&raw);
            }
        }
        b.out
    }));
    Ok(chunks)
}

fn unknown_columns_chunk(columns: &ColumnMap, source: &str, line: u64, file: u32) -> ChunkOut {
    let mut out = ChunkOut {
        file,
        ..ChunkOut::default()
    };
    if !columns.unknown.is_empty() {
        out.diagnostics.push(validate::unknown_columns_diagnostic(
            source,
            line,
            &columns.unknown,
        ));
    }
    out
}

/// Parse and judge a CSV input's blocks in parallel while the next is read.
fn load_delimited(
    mut reader: CsvReader,
    ctx: &RowContext<'_>,
    file: u32,
    keep_rows: bool,
) -> anyhow::Result<Vec<ChunkOut>> {
    let columns = std::mem::take(&mut reader.columns);
    let delimiter = reader.delimiter;
    let header = unknown_columns_chunk(&columns, &reader.source, reader.header_line, file);
    let (tx, rx) = sync_channel::<(usize, Block)>(2);
    let (recycle_tx, recycle_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let (read_result, mut parts) = std::thread::scope(|scope| {
        let reading = scope.spawn(move || -> anyhow::Result<()> {
            let mut index = 0;
            loop {
                while let Ok(buffer) = recycle_rx.try_recv() {
                    reader.recycle(buffer);
                }
                let Some(block) = reader.next_block()? else {
                    break;
                };
                if tx.send((index, block)).is_err() {
                    break;
                }
                index += 1;
            }
            Ok(())
        });
        let parts: Vec<(usize, ChunkOut)> = rx
            .into_iter()
            .par_bridge()
            .map_with(recycle_tx, |recycle, (index, block)| {
                let mut b = ChunkBuilder::new(ctx, file, keep_rows);
                // About one row per 40 bytes: avoid regrowing the vector.
                b.out.items = item_buffer(block.bytes.len() / 40);
                for_each_row(&block, delimiter, &columns, |row| b.push(&row));
                let _ = recycle.send(block.bytes);
                (index, b.out)
            })
            .collect();
        let read_result = reading
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the reader thread panicked")));
        (read_result, parts)
    });
    read_result?;
    parts.sort_unstable_by_key(|(index, _)| *index);
    let mut out = Vec::with_capacity(parts.len() + 1);
    out.push(header);
    out.extend(parts.into_iter().map(|(_, chunk)| chunk));
    Ok(out)
}

/// Join the chunks (in input order), merge, and word the overlaps.
fn assemble(chunks: Vec<ChunkOut>, files: Vec<Arc<str>>) -> Loaded {
    // Backup server names are matched case-insensitively, as the server
    // resolves them: `backup01` and `BACKUP01` are one pool, shown as first
    // written. (A UID is already in its canonical form.)
    let mut spelling: HashMap<String, &str> = HashMap::new();
    for name in chunks.iter().flat_map(|c| c.servers.iter()) {
        spelling
            .entry(validate::backup_server_key(name))
            .or_insert(name.as_str());
    }
    let names: BTreeSet<&str> = spelling.values().copied().collect();
    let servers: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let id_of_key: HashMap<String, u32> = servers
        .iter()
        .enumerate()
        .map(|(i, s)| (validate::backup_server_key(s), i as u32))
        .collect();
    let mut loaded = Loaded {
        items: item_buffer(chunks.iter().map(|c| c.items.len()).sum()),
        ..Loaded::default()
    };
    let mut diagnostics: Vec<(u32, Diagnostic)> = Vec::new();
    // Chunks come in input order, then line order: the first one seen per
    // input is its first such row.
    let mut unnamed_warned: BTreeSet<u32> = BTreeSet::new();
    for chunk in chunks {
        if let Some((line, position)) = chunk.unnamed_cell
            && unnamed_warned.insert(chunk.file)
        {
            let place = match chunk.sheet_first_column {
                Some(first) => format!(
                    "in column {}",
                    input::sheet::column_letters(first + position as u32 - 1)
                ),
                None => format!("cell {position} of the row"),
            };
            diagnostics.push((
                chunk.file,
                validate::unnamed_cells_diagnostic(&files[chunk.file as usize], line, &place),
            ));
        }
        loaded.rows_total += chunk.rows_total;
        loaded.rows_invalid += chunk.rows_invalid;
        let remap: Vec<u32> = chunk
            .servers
            .iter()
            .map(|s| id_of_key[&validate::backup_server_key(s)])
            .collect();
        loaded.items.extend(chunk.items.into_iter().map(|mut item| {
            item.server = remap[item.server as usize];
            item
        }));
        let file = chunk.file;
        diagnostics.extend(chunk.diagnostics.into_iter().map(|d| (file, d)));
        loaded.rows.extend(chunk.rows);
    }
    // Rows of different backup servers sharing addresses are left to
    // `plan`: offline a name and a UID may be one server, and the sweep
    // cost validate a fifth of its time on a million rows.
    let (merged, overlaps) = merge_items(&mut loaded.items);
    for o in overlaps {
        let source = |it: &Item| SourceRef {
            source: files[it.file as usize].clone(),
            line: it.line,
        };
        diagnostics.push((
            o.row.file,
            overlap_diagnostic(
                &source(&o.row),
                &o.row.range,
                &source(&o.other),
                &o.other.range,
                &servers[o.row.server as usize],
                &servers[o.other.server as usize],
            ),
        ));
    }
    // Row diagnostics came in input order, overlaps after them: one stable
    // sort by (input, line) puts each overlap next to its row.
    diagnostics.sort_by_key(|(file, d)| (*file, d.line));
    loaded.diagnostics = diagnostics.into_iter().map(|(_, d)| d).collect();
    loaded.servers = servers;
    loaded.files = files;
    loaded.merged = merged;
    loaded
}

/// The ranges of a batch, whatever their form, as the writers see them.
trait RangeList {
    fn len(&self) -> usize;
    fn view(&self, index: usize) -> RangeView<'_>;
}

impl RangeList for Batch {
    fn len(&self) -> usize {
        self.ranges.len()
    }
    fn view(&self, index: usize) -> RangeView<'_> {
        let m = &self.ranges[index];
        RangeView {
            backup_server: &m.backup_server,
            range: m.range,
            sources: crate::merge::SourcesView::Refs(&m.sources),
        }
    }
}

impl RangeList for Loaded {
    fn len(&self) -> usize {
        self.merged.len()
    }
    fn view(&self, index: usize) -> RangeView<'_> {
        let group = &self.items[self.merged.items(index)];
        let (server, range) = hull(group);
        RangeView {
            backup_server: &self.servers[server as usize],
            range,
            sources: crate::merge::SourcesView::Items(group, &self.files),
        }
    }
}

/// The validate JSON document (contract shape) of any batch form, for serde.
struct JsonReport<'a, L: RangeList + Sync> {
    rows_total: u64,
    rows_invalid: u64,
    diagnostics: &'a [Diagnostic],
    list: &'a L,
}

struct Ranges<'a, L: RangeList>(&'a L);

impl<L: RangeList> Serialize for Ranges<'_, L> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((0..self.0.len()).map(|i| self.0.view(i)))
    }
}

fn addresses_of<L: RangeList + Sync>(list: &L) -> u128 {
    (0..list.len())
        .into_par_iter()
        .map(|i| list.view(i).range.count())
        .sum()
}

impl<L: RangeList + Sync> Serialize for JsonReport<'_, L> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(5))?;
        map.serialize_entry("rows_total", &self.rows_total)?;
        map.serialize_entry("rows_invalid", &self.rows_invalid)?;
        map.serialize_entry("addresses_total", &addresses_of(self.list))?;
        map.serialize_entry("diagnostics", self.diagnostics)?;
        map.serialize_entry("ranges", &Ranges(self.list))?;
        map.end()
    }
}

/// The same document as [`JsonReport`], streamed: the ranges (the bulk) are
/// formatted in parallel by [`json::write_ranges`].
fn write_json_of<L: RangeList + Sync>(
    rows_total: u64,
    rows_invalid: u64,
    diagnostics: &[Diagnostic],
    list: &L,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
    write!(
        out,
        "{{\"rows_total\":{rows_total},\"rows_invalid\":{rows_invalid},\"addresses_total\":{},\"diagnostics\":",
        addresses_of(list)
    )?;
    serde_json::to_writer(&mut out, diagnostics)?;
    out.write_all(b",\"ranges\":")?;
    json::write_ranges(&mut out, list.len(), |i| list.view(i))?;
    out.write_all(b"}\n")?;
    out.flush()
}

/// One merged range as a line of the text output.
fn write_range_line(buf: &mut Vec<u8>, v: &RangeView<'_>) -> std::io::Result<()> {
    let count = v.range.count();
    write!(
        buf,
        "  {}  {}  {}  ({} address{})  from ",
        // A server cell may hold a line break; one range, one line.
        crate::range::shown(v.backup_server),
        v.range.family(),
        v.range,
        count,
        if count == 1 { "" } else { "es" }
    )?;
    let total = v.sources.len();
    for (k, (source, line)) in v.sources.iter().take(TEXT_SOURCES).enumerate() {
        if k > 0 {
            buf.extend_from_slice(b", ");
        }
        write!(buf, "{source}:{line}")?;
    }
    if total > TEXT_SOURCES {
        write!(buf, " and {} more", total - TEXT_SOURCES)?;
    }
    writeln!(buf)
}

/// Most sources named per merged range in the text output.
const TEXT_SOURCES: usize = 5;

fn write_text_of<L: RangeList + Sync>(
    rows_total: u64,
    rows_invalid: u64,
    diagnostics: &[Diagnostic],
    list: &L,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
    for d in diagnostics {
        write!(out, "{}:{}:", d.source, d.line)?;
        if let Some(column) = &d.column {
            write!(out, "{column}:")?;
        }
        writeln!(out, " {}[{}]: {}", d.severity.as_str(), d.code, d.message)?;
    }
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diagnostics.len() - errors;
    if !diagnostics.is_empty() {
        writeln!(out)?;
    }
    let count = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    writeln!(
        out,
        "{}, {} invalid; {}, {}; {}, {}.",
        count(rows_total, "row", "rows"),
        rows_invalid,
        count(errors as u64, "error", "errors"),
        count(warnings as u64, "warning", "warnings"),
        count(list.len() as u64, "merged range", "merged ranges"),
        count(
            addresses_of(list).min(u64::MAX as u128) as u64,
            "address",
            "addresses"
        ),
    )?;
    if list.len() > 0 {
        writeln!(out)?;
    }
    json::write_parallel(&mut out, list.len(), |buf, indexes| {
        for i in indexes {
            // Writing to a Vec cannot fail.
            let _ = write_range_line(buf, &list.view(i));
        }
    })?;
    if rows_invalid > 0 {
        writeln!(
            out,
            "\n{} invalid; fix the rows named above (or pass --skip-invalid to plan/apply to load only the valid ones).",
            if rows_invalid == 1 {
                "1 row is".to_string()
            } else {
                format!("{rows_invalid} rows are")
            }
        )?;
    }
    out.flush()
}

impl Loaded {
    /// Expand into a [`Batch`] (owned merged ranges with their sources).
    pub fn into_batch(self) -> Batch {
        let ranges = (0..self.merged.len())
            .map(|index| {
                let view = self.view(index);
                MergedRange {
                    backup_server: view.backup_server.to_string(),
                    range: view.range,
                    sources: self.items[self.merged.items(index)]
                        .iter()
                        .map(|it| SourceRef {
                            source: self.files[it.file as usize].clone(),
                            line: it.line,
                        })
                        .collect(),
                }
            })
            .collect();
        Batch {
            rows_total: self.rows_total,
            rows_invalid: self.rows_invalid,
            diagnostics: self.diagnostics,
            ranges,
            rows: self.rows,
        }
    }

    pub fn has_errors(&self) -> bool {
        has_errors(&self.diagnostics)
    }

    pub fn addresses_total(&self) -> u128 {
        addresses_of(self)
    }

    /// The contract's JSON document, written as it is produced.
    pub fn write_json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        write_json_of(
            self.rows_total,
            self.rows_invalid,
            &self.diagnostics,
            self,
            out,
        )
    }

    /// Diagnostics, a summary and the merged ranges, for a person.
    pub fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        write_text_of(
            self.rows_total,
            self.rows_invalid,
            &self.diagnostics,
            self,
            out,
        )
    }
}

fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(|d| d.severity == Severity::Error)
}

impl Batch {
    /// Sum of the merged ranges' addresses.
    pub fn addresses_total(&self) -> u128 {
        addresses_of(self)
    }

    /// The contract's JSON document as a value (`plan` adds keys to it).
    /// Address counts are numbers; a count beyond `u64` (impossible with
    /// `--max-range-size` at most 2^24 per row) is clamped.
    pub fn to_json(&self) -> serde_json::Value {
        let report = JsonReport {
            rows_total: self.rows_total,
            rows_invalid: self.rows_invalid,
            diagnostics: &self.diagnostics,
            list: self,
        };
        serde_json::to_value(&report).unwrap_or_else(|_| {
            // Only a u128 count beyond u64 fails; say so rather than panic.
            serde_json::json!({"rows_total": self.rows_total, "rows_invalid": self.rows_invalid,
                "addresses_total": u64::MAX, "diagnostics": self.diagnostics, "ranges": []})
        })
    }

    /// The contract's JSON document, written as it is produced.
    pub fn write_json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        write_json_of(
            self.rows_total,
            self.rows_invalid,
            &self.diagnostics,
            self,
            out,
        )
    }

    /// Diagnostics (`file:line:column: severity[code]: message`), a summary
    /// and the merged ranges, for a person.
    pub fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        write_text_of(
            self.rows_total,
            self.rows_invalid,
            &self.diagnostics,
            self,
            out,
        )
    }

    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        has_errors(&self.diagnostics)
    }
}
