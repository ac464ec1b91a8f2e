//! Validation rules: a [`RawRow`] in, [`Diagnostic`]s and a checked row out.
//!
//! Every rule has a stable code (listed in [`CODES`]) that appears in the JSON
//! output and that tests and scripts match on. Errors make the row invalid;
//! warnings leave it valid. The rules that compare rows with each other
//! (overlap, duplicate) are found while merging (see [`crate::merge`]) and
//! worded here ([`overlap_diagnostic`]).
//!
//! The table of non-public address blocks is [`NON_PUBLIC`], the one place
//! that decides what "public" means.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use serde::Serialize;

use crate::input::{Cell, RawRow, SourceRef};
use crate::range::{IpRange, RangeError, parse_address, shown};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The row is invalid.
    Error,
    /// The row stays valid.
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One finding about one row (or one file), with its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable code, one of [`CODES`].
    pub code: &'static str,
    /// What is wrong and what to do, for a person.
    pub message: String,
    /// The input's name as given on the command line (`<stdin>` for `-`).
    pub source: String,
    /// CSV/YAML line or spreadsheet row (1-based).
    pub line: u64,
    /// The column (header as written, or YAML key) when known.
    pub column: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: String, source: &str, line: u64) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message,
            source: source.to_string(),
            line,
            column: None,
        }
    }

    pub fn warning(code: &'static str, message: String, source: &str, line: u64) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message, source, line)
        }
    }

    /// Name the column. A header may hold a line break (Alt+Enter in Excel)
    /// or other control characters; shown escaped, so that the
    /// `file:line:column:` prefix stays on one line.
    pub fn in_column(mut self, column: Option<&str>) -> Diagnostic {
        self.column = column.map(|c| shown(c).into_owned());
        self
    }
}

/// Every diagnostic code: (code, severity, what it means). The README's table
/// is this one.
pub const CODES: &[(&str, Severity, &str)] = &[
    ("bad-address", Severity::Error, "not an IP address"),
    (
        "leading-zero",
        Severity::Error,
        "IPv4 octet with a leading zero (`010.1.1.1`), ambiguous",
    ),
    (
        "ipv6-zone",
        Severity::Error,
        "IPv6 address with a zone (`fe80::1%eth0`)",
    ),
    (
        "ipv4-mapped",
        Severity::Error,
        "IPv4-mapped IPv6 address (`::ffff:1.2.3.4`)",
    ),
    (
        "bad-prefix",
        Severity::Error,
        "CIDR prefix length missing or too long",
    ),
    (
        "host-bits-set",
        Severity::Error,
        "CIDR with host bits set (`198.51.100.7/28`)",
    ),
    (
        "reversed-range",
        Severity::Error,
        "first address greater than last",
    ),
    (
        "mixed-family",
        Severity::Error,
        "first and last of different families",
    ),
    (
        "missing-address",
        Severity::Error,
        "a row with no address cell filled",
    ),
    (
        "ambiguous-range",
        Severity::Error,
        "both a one-cell range and a first or last address filled",
    ),
    (
        "range-too-large",
        Severity::Error,
        "more addresses than --max-range-size",
    ),
    (
        "non-public",
        Severity::Error,
        "non-public addresses (without --allow-nonpublic)",
    ),
    (
        "missing-backup-server",
        Severity::Error,
        "no backup server in the row and no --backup-server",
    ),
    (
        "bad-backup-server-uid",
        Severity::Error,
        "`urn:` value that is not `urn:veeam:BackupServer:<guid>`",
    ),
    (
        "unterminated-quote",
        Severity::Error,
        "CSV quoted field not closed",
    ),
    (
        "not-text",
        Severity::Error,
        "CSV row with bytes that are not UTF-8",
    ),
    (
        "bad-cell",
        Severity::Error,
        "spreadsheet cell holding an error (#N/A, ...), or a boolean or date/time as server or address",
    ),
    (
        "bad-entry",
        Severity::Error,
        "YAML entry that is neither a string nor a mapping with an address",
    ),
    (
        "unreadable-input",
        Severity::Error,
        "an input that cannot be opened or read as a range file (validate goes on with the others)",
    ),
    (
        "bad-header",
        Severity::Error,
        "an input with no usable header (empty, no address column, two columns meaning the same)",
    ),
    (
        "documentation-range",
        Severity::Warning,
        "documentation addresses (192.0.2.0/24, 2001:db8::/32, ...)",
    ),
    (
        "overlap",
        Severity::Warning,
        "row overlapping an earlier row (both named)",
    ),
    (
        "duplicate",
        Severity::Warning,
        "row repeating an earlier row's range (both named)",
    ),
    (
        "unknown-column",
        Severity::Warning,
        "columns or keys that mean nothing to ipimport (once per file)",
    ),
];

/// Address blocks that are not public, from the IANA IPv4 and IPv6
/// Special-Purpose Address Registries (iana-ipv4-special-registry and
/// iana-ipv6-special-registry, entries with "Globally Reachable: False"),
/// plus IPv4 multicast and, for IPv6, everything outside global unicast
/// 2000::/3 (which covers multicast ff00::/8, fc00::/7, fe80::/10, ...).
/// Documentation blocks are not here: they are only warned about
/// ([`DOCUMENTATION`]). More specific blocks come first so that a message
/// names the most telling one.
pub const NON_PUBLIC: &[(&str, &str)] = &[
    ("0.0.0.0/8", "\"this network\" (RFC 791)"),
    ("10.0.0.0/8", "private use (RFC 1918)"),
    (
        "100.64.0.0/10",
        "shared address space, carrier-grade NAT (RFC 6598)",
    ),
    ("127.0.0.0/8", "loopback (RFC 1122)"),
    ("169.254.0.0/16", "link local (RFC 3927)"),
    ("172.16.0.0/12", "private use (RFC 1918)"),
    // Holes in it are listed in GLOBALLY_REACHABLE.
    ("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
    ("192.168.0.0/16", "private use (RFC 1918)"),
    ("198.18.0.0/15", "benchmarking (RFC 2544)"),
    ("224.0.0.0/4", "multicast (RFC 5771)"),
    ("255.255.255.255", "limited broadcast (RFC 919)"),
    ("240.0.0.0/4", "reserved (RFC 1112)"),
    ("::", "the unspecified address (RFC 4291)"),
    ("::1", "loopback (RFC 4291)"),
    ("::ffff:0:0/96", "IPv4-mapped addresses (RFC 4291)"),
    (
        "64:ff9b:1::/48",
        "local-use IPv4/IPv6 translation (RFC 8215)",
    ),
    ("100::/64", "discard-only (RFC 6666)"),
    ("fc00::/7", "unique local (RFC 4193)"),
    ("fe80::/10", "link-local unicast (RFC 4291)"),
    ("ff00::/8", "multicast (RFC 4291)"),
    (
        "::-1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "outside global unicast 2000::/3 (RFC 4291)",
    ),
    (
        "4000::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "outside global unicast 2000::/3 (RFC 4291)",
    ),
    ("2001::/32", "Teredo (RFC 4380)"),
    ("2001:2::/48", "benchmarking (RFC 5180)"),
    ("2001:10::/28", "deprecated ORCHID (RFC 4843)"),
    // Holes in it are listed in GLOBALLY_REACHABLE.
    ("2001::/23", "IETF protocol assignments (RFC 2928)"),
    ("2002::/16", "6to4 (RFC 3056)"),
];

/// Blocks inside [`NON_PUBLIC`] ones that the registries mark globally
/// reachable; they (and the [`DOCUMENTATION`] blocks) are cut out of the table.
pub const GLOBALLY_REACHABLE: &[&str] = &[
    "192.0.0.9",           // Port Control Protocol anycast (RFC 7723)
    "192.0.0.10",          // TURN anycast (RFC 8155)
    "2001:1::1-2001:1::3", // PCP, TURN, DNS-SD SRP anycast
    "2001:3::/32",         // AMT (RFC 7450)
    "2001:4:112::/48",     // AS112-v6 (RFC 7535)
    "2001:20::/28",        // ORCHIDv2 (RFC 7343)
    "2001:30::/28",        // drone remote ID (RFC 9374)
];

/// Documentation blocks (RFC 5737, RFC 3849, RFC 9637): valid, with a warning.
pub const DOCUMENTATION: &[&str] = &[
    "192.0.2.0/24",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "2001:db8::/32",
    "3fff::/20",
];

/// A table entry: CIDR (through ipnet, since our own parser refuses the
/// IPv4-mapped block on purpose), `a-b` or one address.
fn table_range(text: &str) -> IpRange {
    match text.parse::<ipnet::IpNet>() {
        Ok(net) => IpRange::from_addrs(net.network(), net.broadcast()),
        Err(_) => IpRange::parse(text),
    }
    .expect("table entries parse")
}

/// The non-public table as ranges, the globally reachable holes and the
/// documentation blocks cut out (a block may so become several pieces).
fn non_public_pieces() -> Vec<(IpRange, &'static str, &'static str)> {
    let mut holes: Vec<IpRange> = GLOBALLY_REACHABLE
        .iter()
        .chain(DOCUMENTATION)
        .map(|t| table_range(t))
        .collect();
    holes.sort();
    let holes = crate::range::coalesce_sorted(&holes);
    NON_PUBLIC
        .iter()
        .flat_map(|(text, why)| {
            table_range(text)
                .subtract(&holes)
                .into_iter()
                .map(move |piece| (piece, *text, *why))
        })
        .collect()
}

/// A table of blocks and, for the per-row test, the same blocks sorted and
/// coalesced: a binary search answers "is any address listed?" for every
/// row, and only a hit pays for finding the block's name.
struct BlockTable {
    named: Vec<(IpRange, &'static str, &'static str)>,
    coalesced: Vec<IpRange>,
}

impl BlockTable {
    fn new(named: Vec<(IpRange, &'static str, &'static str)>) -> BlockTable {
        let mut sorted: Vec<IpRange> = named.iter().map(|(r, _, _)| *r).collect();
        sorted.sort();
        let coalesced = crate::range::coalesce_sorted(&sorted);
        BlockTable { named, coalesced }
    }

    fn find(&self, range: &IpRange) -> Option<&(IpRange, &'static str, &'static str)> {
        let i = self
            .coalesced
            .partition_point(|b| (b.family(), b.last()) < (range.family(), range.first()));
        if !self.coalesced.get(i).is_some_and(|b| b.overlaps(range)) {
            return None;
        }
        self.named
            .iter()
            .find(|(block, _, _)| block.overlaps(range))
    }
}

fn non_public_table() -> &'static BlockTable {
    static TABLE: OnceLock<BlockTable> = OnceLock::new();
    TABLE.get_or_init(|| BlockTable::new(non_public_pieces()))
}

fn documentation_table() -> &'static BlockTable {
    static TABLE: OnceLock<BlockTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        BlockTable::new(
            DOCUMENTATION
                .iter()
                .map(|t| (table_range(t), *t, "documentation"))
                .collect(),
        )
    })
}

/// The first non-public block the range touches: (block text, what it is).
pub fn non_public_block(range: &IpRange) -> Option<(&'static str, &'static str)> {
    non_public_table()
        .find(range)
        .map(|(_, text, why)| (*text, *why))
}

/// The documentation block the range touches, if any.
pub fn documentation_block(range: &IpRange) -> Option<IpRange> {
    documentation_table()
        .find(range)
        .map(|(block, _, _)| *block)
}

/// Settings of the row rules.
#[derive(Debug, Clone)]
pub struct RowContext<'a> {
    pub source: &'a Arc<str>,
    /// `--backup-server`, already checked with [`check_backup_server`].
    pub default_server: Option<&'a str>,
    pub max_range_size: u64,
    pub allow_nonpublic: bool,
}

/// The outcome of checking one row.
#[derive(Debug, Clone)]
pub struct CheckedRow<'a> {
    /// The backup server (canonical form for a UID), when there is a usable one.
    pub server: Option<Cow<'a, str>>,
    /// The range, when the address cells parse (even if another rule failed).
    pub range: Option<IpRange>,
    /// Number of error diagnostics the row produced.
    pub errors: usize,
}

impl CheckedRow<'_> {
    /// The row's server and range when the row is valid (no error).
    pub fn valid(&self) -> Option<(&str, IpRange)> {
        match (&self.server, self.range) {
            (Some(server), Some(range)) if self.errors == 0 => Some((server, range)),
            _ => None,
        }
    }
}

/// Advice for an empty backup server value (flag or config key).
pub const BLANK_BACKUP_SERVER: &str = "the value is empty; give a backup server name or \
     urn:veeam:BackupServer:<guid>, or leave it out so that each row names its own";

const URN_PREFIX: &str = "urn:veeam:BackupServer:";

/// What two spellings of one backup server have in common, as Enterprise
/// Manager matches them: names (and UIDs) without regard to case or
/// surrounding blanks.
pub fn backup_server_key(value: &str) -> String {
    value.trim().to_lowercase()
}

/// Check a backup server value: a name is taken as it is; a value starting
/// with `urn:` must be `urn:veeam:BackupServer:<guid>` and comes back in
/// canonical form (lowercase GUID). `Err` holds the advice.
pub fn check_backup_server(value: &str) -> Result<Cow<'_, str>, String> {
    if value.trim().is_empty() {
        return Err(BLANK_BACKUP_SERVER.to_string());
    }
    // `get`, not indexing: the value may hold multi-byte characters.
    let starts_with = |prefix: &str| {
        value
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    };
    let is_urn = starts_with("urn:");
    if !is_urn {
        return Ok(Cow::Borrowed(value));
    }
    let bad = || {
        format!(
            "'{}' is not a backup server UID; write urn:veeam:BackupServer:<guid> \
             (e.g. urn:veeam:BackupServer:8c0b7c2e-6f4a-4a8e-9d1c-3b2f1e0a9d77), or the server's name",
            shown(value)
        )
    };
    if !starts_with(URN_PREFIX) {
        return Err(bad());
    }
    let guid = &value[URN_PREFIX.len()..];
    // A GUID in its hyphenated 36-character form only.
    if guid.len() != 36 {
        return Err(bad());
    }
    let uuid = uuid::Uuid::parse_str(guid).map_err(|_| bad())?;
    let canonical = format!("{URN_PREFIX}{}", uuid.hyphenated());
    if canonical == value {
        Ok(Cow::Borrowed(value))
    } else {
        Ok(Cow::Owned(canonical))
    }
}

/// One address of a first/last cell. A CIDR block or a range there is a
/// common slip (a range column mislabelled): said as such, not as garbage.
fn parse_bound(text: &str) -> Result<(crate::range::Family, u128), RangeError> {
    parse_address(text).map_err(|e| {
        let t = text.trim();
        if matches!(e, RangeError::BadAddress(_)) && (t.contains('/') || t.contains('-')) {
            RangeError::Malformed {
                text: t.to_string(),
                advice: "is a CIDR block or a range, but a first or last cell takes one address; \
                         put it in a range column, or write one address here",
            }
        } else {
            e
        }
    })
}

fn range_diagnostic(
    err: &RangeError,
    ctx: &RowContext<'_>,
    line: u64,
    cell: Cell<'_>,
) -> Diagnostic {
    Diagnostic::error(err.code(), err.to_string(), ctx.source, line).in_column(cell.column)
}

/// Apply every single-row rule to a row, pushing its diagnostics.
pub fn check_row<'r>(
    row: &RawRow<'r>,
    ctx: &RowContext<'r>,
    out: &mut Vec<Diagnostic>,
) -> CheckedRow<'r> {
    let line = row.line;
    let src: &str = ctx.source;
    let before = out.len();
    let mut checked = CheckedRow {
        server: None,
        range: None,
        errors: 0,
    };
    if let Some((code, message)) = row.defect {
        out.push(
            Diagnostic::error(code, message.to_string(), src, line).in_column(row.defect_column),
        );
        checked.errors = 1;
        return checked;
    }

    // Backup server: the row's own, else the default.
    match row.backup_server {
        Some(cell) => match check_backup_server(cell.text) {
            Ok(server) => checked.server = Some(server),
            Err(message) => out.push(
                Diagnostic::error("bad-backup-server-uid", message, src, line)
                    .in_column(cell.column),
            ),
        },
        None => match ctx.default_server {
            Some(server) => checked.server = Some(Cow::Borrowed(server)),
            None => out.push(Diagnostic::error(
                "missing-backup-server",
                "no backup server for this row; fill in its backup_server cell or pass \
                 --backup-server NAME"
                    .to_string(),
                src,
                line,
            )),
        },
    }

    // The address cells.
    // A range cell plus a first OR last cell: either could be meant, so
    // neither is taken (a silently dropped bound would load the wrong range).
    let extra = row
        .first
        .map(|c| (c, "first"))
        .or(row.last.map(|c| (c, "last")));
    let address_cell = if let (Some(range), Some((cell, what))) = (row.range, extra) {
        out.push(
            Diagnostic::error(
                "ambiguous-range",
                format!(
                    "both the range cell{} ('{}') and the {what} address cell{} ('{}') are \
                         filled in; keep one form: the range alone, or first/last without range",
                    range
                        .column
                        .map(|c| format!(" '{}'", shown(c)))
                        .unwrap_or_default(),
                    shown(range.text),
                    cell.column
                        .map(|c| format!(" '{}'", shown(c)))
                        .unwrap_or_default(),
                    shown(cell.text)
                ),
                src,
                line,
            )
            .in_column(cell.column),
        );
        None
    } else {
        match (row.range, row.first) {
            (Some(range), _) => {
                match IpRange::parse(range.text) {
                    Ok(r) => checked.range = Some(r),
                    Err(e) => out.push(range_diagnostic(&e, ctx, line, range)),
                }
                Some(range)
            }
            (None, Some(first)) => {
                // Each bound parsed once, so that an error names its own cell.
                let bounds =
                    parse_bound(first.text)
                        .map_err(|e| (e, first))
                        .and_then(|(family, low)| match row.last {
                            None => Ok(IpRange::single(family, low)),
                            Some(last) => {
                                let (last_family, high) =
                                    parse_bound(last.text).map_err(|e| (e, last))?;
                                if last_family != family {
                                    return Err((
                                        RangeError::MixedFamily {
                                            first: first.text.to_string(),
                                            last: last.text.to_string(),
                                        },
                                        last,
                                    ));
                                }
                                IpRange::new(family, low, high).map_err(|e| (e, last))
                            }
                        });
                match bounds {
                    Ok(r) => checked.range = Some(r),
                    Err((e, cell)) => out.push(range_diagnostic(&e, ctx, line, cell)),
                }
                Some(first)
            }
            (None, None) => {
                let column = row.last.and_then(|c| c.column);
                let message = if row.last.is_some() {
                    "the row has a last address but no first; fill in its first address cell \
                     (for a single address, the same as the last)"
                } else {
                    "the row has no address; fill in its range (or first address) cell, \
                     or delete the row"
                };
                out.push(
                    Diagnostic::error("missing-address", message.to_string(), src, line)
                        .in_column(column),
                );
                None
            }
        }
    };

    if let (Some(range), Some(cell)) = (checked.range, address_cell) {
        let count = range.count();
        if count > ctx.max_range_size as u128 {
            out.push(
                Diagnostic::error(
                    "range-too-large",
                    format!(
                        "{range} holds {} addresses, more than the {} allowed per row; \
                         split it, or raise --max-range-size (at most 16777216)",
                        range.count_text(),
                        ctx.max_range_size
                    ),
                    src,
                    line,
                )
                .in_column(cell.column),
            );
        }
        if !ctx.allow_nonpublic
            && let Some((block, why)) = non_public_block(&range)
        {
            out.push(
                Diagnostic::error(
                    "non-public",
                    format!(
                        "{range} is not public: it lies in {block}, {why}; remove the row, \
                         or pass --allow-nonpublic if this pool really serves such addresses"
                    ),
                    src,
                    line,
                )
                .in_column(cell.column),
            );
        }
        // Only worth saying about a row that is otherwise fine.
        let failed = out[before..].iter().any(|d| d.severity == Severity::Error);
        if !failed && let Some(block) = documentation_block(&range) {
            out.push(
                Diagnostic::warning(
                    "documentation-range",
                    format!(
                        "{range} lies in documentation block {}; fine for tests, \
                         but no real client can use it",
                        cidr_text(&block)
                    ),
                    src,
                    line,
                )
                .in_column(cell.column),
            );
        }
    }

    checked.errors = out[before..]
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    checked
}

/// `a/len` for a range that is a CIDR block, else `a-b`.
fn cidr_text(range: &IpRange) -> String {
    let count = range.count();
    if count.is_power_of_two() && range.first().is_multiple_of(count) {
        let len = range.family().bits() - count.trailing_zeros();
        format!("{}/{}", range.first_addr(), len)
    } else {
        range.to_string()
    }
}

/// The warning for a row whose range overlaps (or repeats) an earlier one.
pub fn overlap_diagnostic(
    row: &SourceRef,
    row_range: &IpRange,
    other: &SourceRef,
    other_range: &IpRange,
    server: &str,
    other_server: &str,
) -> Diagnostic {
    let shared = row_range
        .intersect(other_range)
        .map(|r| r.to_string())
        .unwrap_or_default();
    let (code, message) = if server != other_server {
        (
            "overlap",
            format!(
                "{row_range} for backup server {} overlaps {other_range} of {}:{} for backup \
                 server {} (shared: {shared}); a public address can serve one pool only, so \
                 give it to one of them",
                shown(server),
                other.source,
                other.line,
                shown(other_server),
            ),
        )
    } else if row_range == other_range {
        (
            "duplicate",
            format!(
                "{row_range} repeats {}:{} for backup server {}; the copy is harmless, \
                 but one row is enough",
                other.source,
                other.line,
                shown(server)
            ),
        )
    } else {
        (
            "overlap",
            format!(
                "{row_range} overlaps {other_range} of {}:{} (shared: {shared}) for backup \
                 server {}; the two are merged, check that this is what you meant",
                other.source,
                other.line,
                shown(server)
            ),
        )
    };
    Diagnostic::warning(code, message, &row.source, row.line)
}

/// The warning for a file's unknown columns (or YAML keys).
pub fn unknown_columns_diagnostic(source: &str, line: u64, names: &[String]) -> Diagnostic {
    let list = names
        .iter()
        .map(|n| format!("'{}'", shown(n)))
        .collect::<Vec<_>>()
        .join(", ");
    Diagnostic::warning(
        "unknown-column",
        format!(
            "ignoring column(s) {list}: they mean nothing to ipimport (known: backup_server, \
             range, first, last, comment and their aliases)"
        ),
        source,
        line,
    )
}

/// The once-per-file warning about data under no column name; `place` says
/// where the first such cell is (`cell 4 of the row`, `in column F`).
pub fn unnamed_cells_diagnostic(source: &str, line: u64, place: &str) -> Diagnostic {
    Diagnostic::warning(
        "unknown-column",
        format!(
            "ignoring cells under no column name (the first here, {place}; \
             there may be more further down); name the column in the header row, or delete \
             those cells"
        ),
        source,
        line,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::range::Family;

    fn r(t: &str) -> IpRange {
        IpRange::parse(t).unwrap()
    }

    #[test]
    fn non_public_table_matches_the_contract() {
        for blocked in [
            "0.0.0.0/8",
            "10.1.2.3",
            "100.64.0.1",
            "127.0.0.1",
            "169.254.1.1",
            "172.16.0.1",
            "192.0.0.8",
            "192.0.0.11",
            "192.168.1.1",
            "198.18.0.1",
            "224.0.0.1",
            "239.255.255.255",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:2::1",
            "2002::1",
            "fc00::1",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "1000::1",
            "4000::1",
            "2001:5::1",
            "2001:1::4",
            "2001:1ff::1",
            "2001:40::1",
        ] {
            assert!(non_public_block(&r(blocked)).is_some(), "{blocked}");
        }
        for public in [
            "192.0.0.9",
            "192.0.0.10",
            "1.1.1.1",
            "8.8.8.8",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.1",
            "2001:db8::1",
            "2a00::1",
            "2606:4700::1111",
            "64:ff9b::1.2.3.4",
            "2001:1::2",
            "2001:3::1",
            "2001:4:112::1",
            "2001:20::1",
            "2001:3f::1",
            "2001:200::1",
        ] {
            if public.starts_with("64:ff9b::") {
                // Outside 2000::/3: the contract blocks all of that.
                assert!(non_public_block(&r(public)).is_some());
                continue;
            }
            assert!(non_public_block(&r(public)).is_none(), "{public}");
        }
        assert!(non_public_block(&r("192.0.0.9-192.0.0.10")).is_none());
        assert!(non_public_block(&r("192.0.0.9-192.0.0.11")).is_some());
    }

    #[test]
    fn binary_search_agrees_with_a_linear_scan() {
        use rand::{RngExt, SeedableRng};
        let pieces = non_public_pieces();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for i in 0..20_000u32 {
            let range = if i % 2 == 0 {
                let first: u32 = rng.random();
                let len: u32 = rng.random_range(0..1 << (i % 28));
                IpRange::new(Family::V4, first as u128, first.saturating_add(len) as u128)
            } else {
                // Bias IPv6 towards the interesting low prefixes.
                let first: u128 = rng.random::<u128>() >> (i % 24);
                let len: u128 = rng.random_range(0..1u128 << (i % 100));
                IpRange::new(Family::V6, first, first.saturating_add(len))
            }
            .unwrap();
            let linear = pieces
                .iter()
                .find(|(b, _, _)| b.overlaps(&range))
                .map(|p| p.1);
            assert_eq!(non_public_block(&range).map(|p| p.0), linear, "{range}");
        }
    }

    #[test]
    fn backup_server_uids() {
        let g = "urn:veeam:BackupServer:8c0b7c2e-6f4a-4a8e-9d1c-3b2f1e0a9d77";
        assert_eq!(check_backup_server(g).unwrap(), g);
        assert_eq!(
            check_backup_server("URN:VEEAM:BACKUPSERVER:8C0B7C2E-6F4A-4A8E-9D1C-3B2F1E0A9D77")
                .unwrap(),
            g
        );
        assert_eq!(check_backup_server("backup01").unwrap(), "backup01");
        // Multi-byte characters where the prefix would end (found by proptest).
        assert_eq!(check_backup_server("*𛅐9").unwrap(), "*𛅐9");
        assert!(check_backup_server("urn:veeam:Backup𛅐").is_err());
        assert!(check_backup_server("urn:veeam:BackupServer:xyz").is_err());
        assert!(
            check_backup_server("urn:veeam:Repository:8c0b7c2e-6f4a-4a8e-9d1c-3b2f1e0a9d77")
                .is_err()
        );
        assert!(
            check_backup_server("urn:veeam:BackupServer:8c0b7c2e6f4a4a8e9d1c3b2f1e0a9d77").is_err()
        );
    }

    #[test]
    fn every_code_is_listed_once() {
        let mut codes: Vec<_> = CODES.iter().map(|c| c.0).collect();
        codes.sort();
        let n = codes.len();
        codes.dedup();
        assert_eq!(codes.len(), n);
    }
}
