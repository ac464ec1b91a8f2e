//! Generates a large range file for benchmarks: `N` rows of random public
//! IPv4 ranges of 1 to 256 addresses, columns `backup_server,first,last,comment`.
//! With `--iprange`, writes the same ranges one `a - b` per line instead, the
//! input of FireHOL's `iprange`. The seed is fixed, so runs repeat.
//!
//! ```text
//! cargo run --release --example gen_ranges -- 1000000 > /tmp/1m.csv
//! cargo run --release --example gen_ranges -- 1000000 --iprange > /tmp/1m.txt
//! ```

use std::io::Write;

use ipimport::range::{Family, IpRange};
use ipimport::validate::{documentation_block, non_public_block};
use rand::{RngExt, SeedableRng};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rows: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let iprange = args.iter().any(|a| a == "--iprange");
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    write_ranges(rows, iprange, &mut out)?;
    out.flush()
}

/// Write `rows` rows: CSV `backup_server,first,last,comment`, or with
/// `iprange` one `a - b` per line. (Also used by `benches/pipeline.rs`.)
pub fn write_ranges(rows: u64, iprange: bool, out: &mut impl Write) -> std::io::Result<()> {
    if !iprange {
        writeln!(out, "backup_server,first,last,comment")?;
    }
    for (range, index) in ranges(rows).zip(0u64..) {
        if iprange {
            writeln!(out, "{} - {}", range.first_addr(), range.last_addr())?;
        } else {
            writeln!(
                out,
                "backup{:02},{},{},tenant {}",
                index % 3 + 1,
                range.first_addr(),
                range.last_addr(),
                index % 997
            )?;
        }
    }
    Ok(())
}

/// `rows` random public IPv4 ranges of 1 to 256 addresses, from a fixed seed.
fn ranges(rows: u64) -> impl Iterator<Item = IpRange> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x1f_2025);
    std::iter::repeat_with(move || {
        loop {
            let size: u32 = rng.random_range(1..=256);
            let first: u32 = rng.random_range(0..=u32::MAX - size);
            let range = IpRange::new(Family::V4, first as u128, (first + size - 1) as u128)
                .expect("first <= last");
            if non_public_block(&range).is_none() && documentation_block(&range).is_none() {
                return range;
            }
        }
    })
    .take(rows as usize)
}
