//! The `ranges` array of the JSON document, written by hand.
//!
//! A million merged ranges make ~150 MB of JSON; through serde that takes
//! longer than reading, validating and merging them together. Here ranges are
//! formatted in parallel, a window of chunks at a time (so memory stays
//! bounded), with IPv4 addresses printed from a table and each backup server
//! and input name escaped once. The output is the same JSON the serde path
//! ([`crate::merge::RangeView`]'s `Serialize`) gives; a test holds them equal.

use std::io::Write;

use rayon::prelude::*;

use crate::merge::{RangeView, SourcesView};
use crate::range::Family;

/// Ranges formatted per parallel task.
const CHUNK: usize = 8192;

/// A JSON string literal (with quotes), escaped as serde_json escapes it.
fn escaped(text: &str) -> Vec<u8> {
    serde_json::to_vec(text).unwrap_or_else(|_| b"\"\"".to_vec())
}

/// Caches the escaped form of the last string seen (they repeat in runs).
#[derive(Default)]
struct LastEscaped {
    key: (usize, usize),
    bytes: Vec<u8>,
}

impl LastEscaped {
    fn get(&mut self, text: &str) -> &[u8] {
        let key = (text.as_ptr() as usize, text.len());
        if key != self.key || self.bytes.is_empty() {
            self.key = key;
            self.bytes = escaped(text);
        }
        &self.bytes
    }
}

/// Decimal text of every octet value: (digits, length).
static OCTETS: [([u8; 3], u8); 256] = {
    let mut table = [([0u8; 3], 0u8); 256];
    let mut i = 0;
    while i < 256 {
        let (h, t, o) = ((i / 100) as u8, ((i / 10) % 10) as u8, (i % 10) as u8);
        table[i] = if i >= 100 {
            ([b'0' + h, b'0' + t, b'0' + o], 3)
        } else if i >= 10 {
            ([b'0' + t, b'0' + o, 0], 2)
        } else {
            ([b'0' + o, 0, 0], 1)
        };
        i += 1;
    }
    table
};

fn write_ipv4(buf: &mut Vec<u8>, value: u32) {
    for (i, byte) in value.to_be_bytes().into_iter().enumerate() {
        if i > 0 {
            buf.push(b'.');
        }
        let (digits, len) = &OCTETS[byte as usize];
        buf.extend_from_slice(&digits[..*len as usize]);
    }
}

fn write_address(buf: &mut Vec<u8>, family: Family, value: u128) {
    buf.push(b'"');
    match family {
        Family::V4 => write_ipv4(buf, value as u32),
        Family::V6 => {
            let _ = write!(buf, "{}", std::net::Ipv6Addr::from(value));
        }
    }
    buf.push(b'"');
}

fn write_one(
    buf: &mut Vec<u8>,
    view: &RangeView<'_>,
    servers: &mut LastEscaped,
    files: &mut LastEscaped,
) {
    let mut itoa = itoa::Buffer::new();
    buf.extend_from_slice(b"{\"backup_server\":");
    buf.extend_from_slice(servers.get(view.backup_server));
    buf.extend_from_slice(b",\"family\":\"");
    buf.extend_from_slice(view.range.family().as_str().as_bytes());
    buf.extend_from_slice(b"\",\"first\":");
    write_address(buf, view.range.family(), view.range.first());
    buf.extend_from_slice(b",\"last\":");
    write_address(buf, view.range.family(), view.range.last());
    buf.extend_from_slice(b",\"addresses\":");
    buf.extend_from_slice(itoa.format(view.range.count()).as_bytes());
    buf.extend_from_slice(b",\"sources\":[");
    let mut first = true;
    let mut source = |buf: &mut Vec<u8>, name: &str, line: u64| {
        if !first {
            buf.push(b',');
        }
        first = false;
        buf.extend_from_slice(b"{\"source\":");
        buf.extend_from_slice(files.get(name));
        buf.extend_from_slice(b",\"line\":");
        buf.extend_from_slice(itoa::Buffer::new().format(line).as_bytes());
        buf.push(b'}');
    };
    match view.sources {
        SourcesView::Refs(refs) => {
            for r in refs {
                source(buf, &r.source, r.line);
            }
        }
        SourcesView::Items(items, names) => {
            for it in items {
                source(buf, &names[it.file as usize], it.line);
            }
        }
    }
    buf.extend_from_slice(b"]}");
}

/// Write `[range, range, ...]` for `count` ranges given by `view`.
pub fn write_ranges<'a, F>(out: &mut dyn Write, count: usize, view: F) -> std::io::Result<()>
where
    F: Fn(usize) -> RangeView<'a> + Sync,
{
    out.write_all(b"[")?;
    write_parallel(out, count, |buf, indexes| {
        let (mut servers, mut files) = (LastEscaped::default(), LastEscaped::default());
        for i in indexes {
            if i > 0 {
                buf.push(b',');
            }
            write_one(buf, &view(i), &mut servers, &mut files);
        }
    })?;
    out.write_all(b"]")
}

/// Format items `0..count` in parallel, chunk by chunk (`format` appends the
/// text of a run of indexes to a buffer), and write them in order. A window
/// of chunks is formatted at a time, so memory stays bounded.
pub fn write_parallel<F>(out: &mut dyn Write, count: usize, format: F) -> std::io::Result<()>
where
    F: Fn(&mut Vec<u8>, std::ops::Range<usize>) + Sync,
{
    // Buffers are reused from window to window: fresh ones would cost page
    // faults on every window.
    let mut buffers: Vec<Vec<u8>> = vec![Vec::new(); 2 * rayon::current_num_threads().max(1)];
    let window = CHUNK * buffers.len();
    let mut start = 0;
    while start < count {
        let end = (start + window).min(count);
        buffers.par_iter_mut().enumerate().for_each(|(k, buf)| {
            buf.clear();
            let from = (start + k * CHUNK).min(end);
            let to = (from + CHUNK).min(end);
            format(buf, from..to);
        });
        for buf in &buffers {
            out.write_all(buf)?;
        }
        start = end;
    }
    Ok(())
}
