//! `ipimport validate` on generated inputs of 100k and 1M rows (columns
//! `backup_server,first,last,comment`, random public IPv4 ranges of 1 to 256
//! addresses, from `examples/gen_ranges.rs`): read, validate, merge and write
//! the JSON document (to a sink).
//!
//! ```text
//! cargo bench --bench pipeline
//! ```

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ipimport::config::ValidationSettings;
use ipimport::pipeline::{InputOptions, load};

#[path = "../examples/gen_ranges.rs"]
#[allow(dead_code)]
mod gen_ranges;

fn validate(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut group = c.benchmark_group("validate");
    group.sample_size(10);
    for (label, rows) in [("100k", 100_000u64), ("1M", 1_000_000)] {
        let path = dir.path().join(format!("{label}.csv"));
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
        gen_ranges::write_ranges(rows, false, &mut file).expect("generate");
        drop(file);
        let inputs = vec![path.to_str().expect("utf-8 path").to_string()];
        let settings = ValidationSettings::default();
        group.bench_function(label, |b| {
            b.iter(|| {
                let loaded =
                    load(&inputs, &InputOptions::default(), &settings, false).expect("load");
                loaded.write_json(&mut std::io::sink()).expect("write");
                black_box(loaded.rows_total)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, validate);
criterion_main!(benches);
