//! The address range type: one family and two inclusive `u128` bounds.
//!
//! Everything in `ipimport` that talks about addresses goes through [`IpRange`]:
//! readers parse cells into it, validation inspects it, merging sorts and joins
//! it, the planner cuts it around the live pool and splits it into requests.
//! IPv4 addresses live in the low 32 bits, so arithmetic is the same for both
//! families and counts are exact.
//!
//! Text forms accepted by [`IpRange::parse`]: a single address, `a-b` (blanks
//! around the dash allowed) and CIDR `a/len`, for IPv4 and IPv6. The parser is
//! stricter than `std` in the ways the product contract asks for: IPv4 octets
//! with leading zeros (`010.1.1.1`, read as octal by some tools), IPv6 zones
//! (`fe80::1%eth0`) and IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are each
//! refused with their own error, so that a person is told exactly what is wrong.

use std::cmp::Ordering;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// The largest address of the family, as a `u128`.
    pub fn max_value(self) -> u128 {
        match self {
            Family::V4 => u32::MAX as u128,
            Family::V6 => u128::MAX,
        }
    }

    /// Number of bits in an address of this family.
    pub fn bits(self) -> u32 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    /// The name used in JSON output: `ipv4` or `ipv6`.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }

    /// The family of a `std` address.
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a piece of text is not an address or a range.
///
/// Each variant maps to one validation code (see [`RangeError::code`]); the
/// messages are written to be shown to a person next to the offending cell.
///
/// Text from the input is shown through [`shown`], so a control character or
/// an invisible one (a zero-width space pasted from a web page) is visible in
/// the message instead of making a good-looking address fail mysteriously.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("empty address; fill in the cell")]
    Empty,
    #[error(
        "'{}' is not an IP address; write an IPv4 (203.0.113.7) or IPv6 (2001:db8::7) address, \
         a range 'first-last' or a CIDR block 'address/length'",
        shown(.0)
    )]
    BadAddress(String),
    #[error(
        "'{}' has an IPv4 octet with a leading zero, which some tools read as octal; write it without the zero",
        shown(.0)
    )]
    LeadingZero(String),
    #[error(
        "'{}' carries an IPv6 zone (the part after '%'); a pool address has no zone, remove it",
        shown(.0)
    )]
    Zone(String),
    #[error(
        "'{}' is an IPv4-mapped IPv6 address; write the IPv4 address itself",
        shown(.0)
    )]
    Ipv4Mapped(String),
    #[error(
        "'{}' has no valid CIDR prefix length; write /0 to /32 after an IPv4 address, /0 to /128 after an IPv6 one",
        shown(.0)
    )]
    BadPrefix(String),
    #[error("'{}' {advice}", shown(.text))]
    Malformed { text: String, advice: &'static str },
    #[error("'{}' has host bits set; the network is {network}", shown(.text))]
    HostBits { text: String, network: String },
    #[error(
        "first address {} is greater than last address {}; swap them",
        shown(.first),
        shown(.last)
    )]
    Reversed { first: String, last: String },
    #[error(
        "first address {} and last address {} are of different families; a range is all IPv4 \
         or all IPv6: split it into one row per family",
        shown(.first),
        shown(.last)
    )]
    MixedFamily { first: String, last: String },
}

/// `text` with control and invisible characters written as `\u{..}` escapes
/// (`\t`, `\r`, `\n` as such), for messages that quote input.
pub fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    let hidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{00ad}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
    };
    if !text.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c if hidden(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

impl RangeError {
    /// The stable diagnostic code for this error (used in JSON output and tests).
    pub fn code(&self) -> &'static str {
        match self {
            RangeError::Empty | RangeError::BadAddress(_) | RangeError::Malformed { .. } => {
                "bad-address"
            }
            RangeError::LeadingZero(_) => "leading-zero",
            RangeError::Zone(_) => "ipv6-zone",
            RangeError::Ipv4Mapped(_) => "ipv4-mapped",
            RangeError::BadPrefix(_) => "bad-prefix",
            RangeError::HostBits { .. } => "host-bits-set",
            RangeError::Reversed { .. } => "reversed-range",
            RangeError::MixedFamily { .. } => "mixed-family",
        }
    }
}

/// An inclusive range of addresses of one family: `first <= last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpRange {
    family: Family,
    first: u128,
    last: u128,
}

impl Ord for IpRange {
    /// Ranges sort by family (IPv4 first), then by first and last address.
    fn cmp(&self, other: &Self) -> Ordering {
        (self.family, self.first, self.last).cmp(&(other.family, other.first, other.last))
    }
}

impl PartialOrd for IpRange {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Parse one address with the product's rules (see the module docs).
///
/// Surrounding blanks are trimmed. Returns the family and the address as `u128`.
pub fn parse_address(text: &str) -> Result<(Family, u128), RangeError> {
    let text = text.trim();
    if let Some(value) = fast_ipv4(text.as_bytes()) {
        return Ok((Family::V4, value as u128));
    }
    if text.is_empty() {
        return Err(RangeError::Empty);
    }
    if text.contains(':') {
        if text.contains('%') {
            return Err(RangeError::Zone(text.to_string()));
        }
        let addr: Ipv6Addr = text.parse().map_err(|_| {
            // An IPv4 tail with a leading-zero octet (`2a00::010.1.1.1`)
            // is the same ambiguity as in a plain IPv4 address.
            let tail = text.rsplit(':').next().unwrap_or_default();
            if tail.contains('.') && matches!(parse_ipv4(tail), Err(RangeError::LeadingZero(_))) {
                RangeError::LeadingZero(text.to_string())
            } else {
                RangeError::BadAddress(text.to_string())
            }
        })?;
        let value = u128::from(addr);
        // ::ffff:0:0/96 is the IPv4-mapped block.
        if value >> 32 == 0xffff {
            return Err(RangeError::Ipv4Mapped(text.to_string()));
        }
        return Ok((Family::V6, value));
    }
    parse_ipv4(text).map(|v| (Family::V4, v as u128))
}

/// The common case in one pass: a well-formed dotted quad without leading
/// zeros. `None` for anything else, which [`parse_ipv4`] (or the IPv6 path)
/// then judges and explains; a million-row file spends much of its parse here.
fn fast_ipv4(bytes: &[u8]) -> Option<u32> {
    if bytes.len() < 7 || bytes.len() > 15 {
        return None;
    }
    let (mut value, mut octet, mut digits, mut dots) = (0u32, 0u32, 0u32, 0u32);
    for &b in bytes {
        if b == b'.' {
            if digits == 0 || octet > 255 {
                return None;
            }
            value = (value << 8) | octet;
            (octet, digits) = (0, 0);
            dots += 1;
        } else {
            let d = b.wrapping_sub(b'0');
            // Not a digit, a fourth digit, or a digit after a leading zero.
            if d > 9 || digits == 3 || (digits == 1 && octet == 0) {
                return None;
            }
            octet = octet * 10 + d as u32;
            digits += 1;
        }
    }
    if dots != 3 || digits == 0 || octet > 255 {
        return None;
    }
    Some((value << 8) | octet)
}

/// Strict dotted-quad parser: four decimal octets, no leading zeros, no blanks.
fn parse_ipv4(text: &str) -> Result<u32, RangeError> {
    let bad = || RangeError::BadAddress(text.to_string());
    let bytes = text.as_bytes();
    let mut value: u32 = 0;
    let mut octets = 0;
    let mut leading_zero = false;
    for part in bytes.split(|&b| b == b'.') {
        octets += 1;
        if octets > 4 || part.is_empty() || part.len() > 3 {
            return Err(bad());
        }
        let mut octet: u32 = 0;
        for &b in part {
            if !b.is_ascii_digit() {
                return Err(bad());
            }
            octet = octet * 10 + (b - b'0') as u32;
        }
        if octet > 255 {
            return Err(bad());
        }
        if part.len() > 1 && part[0] == b'0' {
            leading_zero = true;
        }
        value = (value << 8) | octet;
    }
    if octets != 4 {
        return Err(bad());
    }
    if leading_zero {
        return Err(RangeError::LeadingZero(text.to_string()));
    }
    Ok(value)
}

/// Format a `u128` address of a family in canonical text (RFC 5952 for IPv6).
pub fn format_address(family: Family, value: u128) -> String {
    to_ip_addr(family, value).to_string()
}

/// Convert a `u128` address of a family to a `std` address.
pub fn to_ip_addr(family: Family, value: u128) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(value as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(value)),
    }
}

impl IpRange {
    /// A range from bounds; `first <= last` and both within the family.
    pub fn new(family: Family, first: u128, last: u128) -> Result<IpRange, RangeError> {
        if first > last {
            return Err(RangeError::Reversed {
                first: format_address(family, first),
                last: format_address(family, last),
            });
        }
        if last > family.max_value() {
            return Err(RangeError::BadAddress(format!("{last}")));
        }
        Ok(IpRange {
            family,
            first,
            last,
        })
    }

    /// A range of one address.
    pub fn single(family: Family, value: u128) -> IpRange {
        debug_assert!(value <= family.max_value());
        IpRange {
            family,
            first: value,
            last: value,
        }
    }

    /// A range from two `std` addresses.
    pub fn from_addrs(first: IpAddr, last: IpAddr) -> Result<IpRange, RangeError> {
        let (ff, fv) = (Family::of(first), ip_to_u128(first));
        let (lf, lv) = (Family::of(last), ip_to_u128(last));
        if ff != lf {
            return Err(RangeError::MixedFamily {
                first: first.to_string(),
                last: last.to_string(),
            });
        }
        IpRange::new(ff, fv, lv)
    }

    /// A range from the text of its two bounds (the two-cell form).
    ///
    /// An empty `last` means a single address.
    pub fn from_bounds_text(first: &str, last: &str) -> Result<IpRange, RangeError> {
        let (ff, fv) = parse_address(first)?;
        if last.trim().is_empty() {
            return Ok(IpRange::single(ff, fv));
        }
        let (lf, lv) = parse_address(last)?;
        if ff != lf {
            return Err(RangeError::MixedFamily {
                first: first.trim().to_string(),
                last: last.trim().to_string(),
            });
        }
        IpRange::new(ff, fv, lv)
    }

    /// Parse a range in any one-cell form: `a`, `a-b`, `a - b`, `a/len`.
    pub fn parse(text: &str) -> Result<IpRange, RangeError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(RangeError::Empty);
        }
        // A '/' makes it CIDR even with a '-' in it: `198.51.100.0/-1` is a
        // bad prefix, not a range from '198.51.100.0/'.
        if !text.contains('/')
            && let Some((first, last)) = text.split_once('-')
        {
            if first.trim().is_empty() || last.trim().is_empty() {
                return Err(RangeError::Malformed {
                    text: text.to_string(),
                    advice: "is a range with one end missing; write both ends ('first-last') \
                             or a single address",
                });
            }
            if last.contains('-') {
                return Err(RangeError::Malformed {
                    text: text.to_string(),
                    advice: "has more than one '-'; a range is 'first-last', one per cell",
                });
            }
            return IpRange::from_bounds_text(first, last);
        }
        if let Some((addr, prefix)) = text.split_once('/') {
            let (family, value) = parse_address(addr)?;
            let prefix = prefix.trim();
            let len: u32 = if !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit()) {
                prefix
                    .parse()
                    .map_err(|_| RangeError::BadPrefix(text.to_string()))?
            } else {
                return Err(RangeError::BadPrefix(text.to_string()));
            };
            if len > family.bits() {
                return Err(RangeError::BadPrefix(text.to_string()));
            }
            let host_bits = family.bits() - len;
            let host_mask: u128 = if host_bits == 128 {
                u128::MAX
            } else {
                (1u128 << host_bits) - 1
            };
            if value & host_mask != 0 {
                return Err(RangeError::HostBits {
                    text: text.to_string(),
                    network: format!("{}/{}", format_address(family, value & !host_mask), len),
                });
            }
            return IpRange::new(family, value, value | host_mask);
        }
        let (family, value) = parse_address(text)?;
        Ok(IpRange::single(family, value))
    }

    pub fn family(&self) -> Family {
        self.family
    }

    /// First address as `u128`.
    pub fn first(&self) -> u128 {
        self.first
    }

    /// Last address as `u128`.
    pub fn last(&self) -> u128 {
        self.last
    }

    pub fn first_addr(&self) -> IpAddr {
        to_ip_addr(self.family, self.first)
    }

    pub fn last_addr(&self) -> IpAddr {
        to_ip_addr(self.family, self.last)
    }

    /// Number of addresses. Exact except for the whole IPv6 space (`::/0`),
    /// whose 2^128 addresses do not fit a `u128`: that one saturates.
    pub fn count(&self) -> u128 {
        (self.last - self.first).saturating_add(1)
    }

    /// The number of addresses as decimal text, exact even for `::/0`
    /// (2^128, one more than [`IpRange::count`] can hold).
    pub fn count_text(&self) -> String {
        if self.family == Family::V6 && self.first == 0 && self.last == u128::MAX {
            "340282366920938463463374607431768211456".to_string()
        } else {
            self.count().to_string()
        }
    }

    /// Whether `value` (of this family) lies in the range.
    pub fn contains(&self, family: Family, value: u128) -> bool {
        self.family == family && self.first <= value && value <= self.last
    }

    /// Whether the two ranges share at least one address.
    pub fn overlaps(&self, other: &IpRange) -> bool {
        self.family == other.family && self.first <= other.last && other.first <= self.last
    }

    /// Whether the two ranges overlap or touch end to end (and so merge into one).
    pub fn touches(&self, other: &IpRange) -> bool {
        self.family == other.family
            && self.first <= other.last.saturating_add(1)
            && other.first <= self.last.saturating_add(1)
    }

    /// The smallest range covering both (callers check [`IpRange::touches`] first).
    pub fn hull(&self, other: &IpRange) -> IpRange {
        debug_assert_eq!(self.family, other.family);
        IpRange {
            family: self.family,
            first: self.first.min(other.first),
            last: self.last.max(other.last),
        }
    }

    /// The addresses both ranges share, if any.
    pub fn intersect(&self, other: &IpRange) -> Option<IpRange> {
        if !self.overlaps(other) {
            return None;
        }
        Some(IpRange {
            family: self.family,
            first: self.first.max(other.first),
            last: self.last.min(other.last),
        })
    }

    /// Cut the range into consecutive pieces of at most `max` addresses.
    ///
    /// `max` of 0 is treated as 1.
    pub fn split(&self, max: u128) -> impl Iterator<Item = IpRange> + '_ {
        let step = max.max(1);
        let mut next = Some(self.first);
        let (family, last) = (self.family, self.last);
        std::iter::from_fn(move || {
            let start = next?;
            let end = start.saturating_add(step - 1).min(last);
            next = if end == last { None } else { Some(end + 1) };
            Some(IpRange {
                family,
                first: start,
                last: end,
            })
        })
    }

    /// The parts of this range not covered by `taken`.
    ///
    /// `taken` must be sorted and disjoint, as [`coalesce_sorted`] returns it;
    /// it may hold ranges of the other family, which are ignored. Runs in
    /// `O(log n + k)` for the `k` ranges of `taken` that meet this one.
    pub fn subtract(&self, taken: &[IpRange]) -> Vec<IpRange> {
        let mut out = Vec::new();
        // Disjoint and sorted means the `last`s are sorted too: skip every
        // range that ends before ours starts.
        let start = taken.partition_point(|t| (t.family, t.last) < (self.family, self.first));
        let mut cursor = self.first;
        for t in &taken[start..] {
            if t.family != self.family || t.first > self.last {
                break;
            }
            if t.first > cursor {
                out.push(IpRange {
                    family: self.family,
                    first: cursor,
                    last: t.first - 1,
                });
            }
            if t.last >= self.last {
                return out;
            }
            cursor = t.last + 1;
        }
        out.push(IpRange {
            family: self.family,
            first: cursor,
            last: self.last,
        });
        out
    }

    /// The addresses of the range, one by one (for small ranges: pools, tests).
    pub fn addresses(&self) -> impl Iterator<Item = u128> + '_ {
        let last = self.last;
        let mut next = Some(self.first);
        std::iter::from_fn(move || {
            let v = next?;
            next = if v == last { None } else { Some(v + 1) };
            Some(v)
        })
    }
}

/// `std` address to `u128` (IPv4 in the low 32 bits).
pub fn ip_to_u128(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

impl fmt::Display for IpRange {
    /// `a` for a single address, otherwise `a-b`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first_addr())
        } else {
            write!(f, "{}-{}", self.first_addr(), self.last_addr())
        }
    }
}

/// Join sorted ranges that overlap or touch into the fewest ranges covering
/// the same addresses. Input must be sorted by [`Ord`].
pub fn coalesce_sorted(sorted: &[IpRange]) -> Vec<IpRange> {
    let mut out: Vec<IpRange> = Vec::new();
    for r in sorted {
        match out.last_mut() {
            Some(prev) if prev.touches(r) => *prev = prev.hull(r),
            _ => out.push(*r),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> IpRange {
        IpRange::parse(text).unwrap()
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(r("198.51.100.7").count(), 1);
        assert_eq!(r("198.51.100.7-198.51.100.9").count(), 3);
        assert_eq!(r(" 198.51.100.7 - 198.51.100.9 ").count(), 3);
        assert_eq!(r("198.51.100.0/28").count(), 16);
        assert_eq!(r("2001:db8::/120").count(), 256);
        assert_eq!(r("2001:0db8::0001").to_string(), "2001:db8::1");
        assert_eq!(r("2001:db8::1 - 2001:db8::ff").count(), 255);
        assert_eq!(r("0.0.0.0/0").count(), 1 << 32);
        assert_eq!(r("::/0").count(), u128::MAX);
        // 2^128.
        assert_eq!(
            r("::/0").count_text(),
            "340282366920938463463374607431768211456"
        );
        assert_eq!(r("0.0.0.0/0").count_text(), "4294967296");
        assert_eq!(r("64:ff9b::1.2.3.4").family(), Family::V6);
    }

    #[test]
    fn refuses_with_precise_errors() {
        let code = |t: &str| IpRange::parse(t).unwrap_err().code();
        assert_eq!(code("010.1.1.1"), "leading-zero");
        assert_eq!(code("1.2.3.04"), "leading-zero");
        assert_eq!(code("fe80::1%eth0"), "ipv6-zone");
        assert_eq!(code("::ffff:1.2.3.4"), "ipv4-mapped");
        assert_eq!(code("198.51.100.7/28"), "host-bits-set");
        assert_eq!(code("198.51.100.0/33"), "bad-prefix");
        assert_eq!(code("198.51.100.0/"), "bad-prefix");
        assert_eq!(code("198.51.100.0/-1"), "bad-prefix");
        assert_eq!(code("198.51.100.9-198.51.100.7"), "reversed-range");
        assert_eq!(code("198.51.100.9-2001:db8::1"), "mixed-family");
        assert_eq!(code("1.2.3"), "bad-address");
        assert_eq!(code("1.2.3.4.5"), "bad-address");
        assert_eq!(code("256.1.1.1"), "bad-address");
        assert_eq!(code("1.2.3.4-"), "bad-address");
        assert_eq!(code(""), "bad-address");
        assert_eq!(code("+1.2.3.4"), "bad-address");
        assert_eq!(code("1..2.3"), "bad-address");
    }

    #[test]
    fn fast_ipv4_agrees_with_std() {
        for text in [
            "0.0.0.0",
            "255.255.255.255",
            "1.2.3.4",
            "10.0.0.1",
            "192.168.100.200",
            "1.2.3.256",
            "1.2.3.04",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.",
            ".1.2.3.4",
            "1..2.3",
            "1.2.3.4.5",
            "1.2.3.1000",
            "a.b.c.d",
            "1.2.3.-4",
            "0.0.0.00",
        ] {
            let std_parse = text.parse::<Ipv4Addr>().ok().map(u32::from);
            let strict = std_parse.filter(|_| parse_ipv4(text).is_ok());
            assert_eq!(fast_ipv4(text.as_bytes()), strict, "{text}");
        }
    }

    #[test]
    fn splits_by_size() {
        let parts: Vec<_> = r("10.0.0.0-10.0.0.9").split(4).collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2].to_string(), "10.0.0.8-10.0.0.9");
        let whole: Vec<_> = r("::/0").split(u128::MAX).collect();
        assert_eq!(whole.len(), 2);
        assert_eq!(r("1.1.1.1").split(0).count(), 1);
    }

    #[test]
    fn subtracts_sorted_sets() {
        let whole = r("10.0.0.0-10.0.0.20");
        let mut taken = vec![
            r("10.0.0.0-10.0.0.2"),
            r("10.0.0.5"),
            r("10.0.0.4-10.0.0.6"),
            r("2001:db8::1"),
        ];
        taken.sort();
        let taken = coalesce_sorted(&taken);
        let gaps: Vec<String> = whole
            .subtract(&taken)
            .iter()
            .map(|g| g.to_string())
            .collect();
        assert_eq!(gaps, vec!["10.0.0.3", "10.0.0.7-10.0.0.20"]);
        assert!(whole.subtract(&[r("10.0.0.0/24")]).is_empty());
        assert_eq!(whole.subtract(&[]), vec![whole]);
        let v6 = r("2001:db8::/126");
        assert_eq!(v6.subtract(&taken).len(), 2);
    }

    #[test]
    fn coalesces_adjacent_and_overlapping() {
        let mut v = vec![
            r("10.0.0.0-10.0.0.4"),
            r("10.0.0.5"),
            r("10.0.0.3-10.0.0.8"),
            r("10.0.0.10"),
        ];
        v.sort();
        let out = coalesce_sorted(&v);
        assert_eq!(out, vec![r("10.0.0.0-10.0.0.8"), r("10.0.0.10")]);
    }

    #[test]
    fn messages_show_invisible_and_control_characters() {
        let e = IpRange::parse("203.0.113.7\u{200b}").unwrap_err();
        assert!(
            e.to_string().starts_with("'203.0.113.7\\u{200b}' is not"),
            "{e}"
        );
        let e = IpRange::parse("203.0.113.7\u{1}x").unwrap_err();
        assert!(e.to_string().contains("'203.0.113.7\\u{1}x'"), "{e}");
        assert_eq!(shown("2001:db8::1"), "2001:db8::1");
        assert_eq!(shown("a\tb\r"), "a\\tb\\r");
    }
}
