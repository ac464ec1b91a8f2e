//! What durability costs: `Journal::append` (one fdatasync per event) against
//! `Journal::append_batch` (one fdatasync per batch), on the file system that
//! holds `target/` (a real disk, not tmpfs, so the syncs are real).
//!
//! `cargo bench --bench journal`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ipimport::engine::journal::Journal;
use serde::Serialize;

/// An event shaped like the engine's: a request's intent.
#[derive(Serialize)]
struct Intent<'a> {
    event: &'a str,
    request: u64,
    backup_server_uid: &'a str,
    first: &'a str,
    last: &'a str,
    addresses: u64,
}

fn intent(request: u64) -> Intent<'static> {
    Intent {
        event: "intent",
        request,
        backup_server_uid: "urn:veeam:BackupServer:9b1c8a3e-0000-4000-8000-000000000001",
        first: "198.51.100.0",
        last: "198.51.100.255",
        addresses: 256,
    }
}

fn bench_journal(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut group = c.benchmark_group("journal");
    group.sample_size(20);

    let mut journal = Journal::create(&dir.path().join("single.jsonl")).unwrap();
    let mut n = 0;
    group.throughput(Throughput::Elements(1));
    group.bench_function("append (1 event, 1 sync)", |b| {
        b.iter(|| {
            n += 1;
            journal.append(black_box(&intent(n))).unwrap();
        })
    });

    for batch in [8usize, 64] {
        let mut journal = Journal::create(&dir.path().join(format!("batch{batch}.jsonl"))).unwrap();
        let events: Vec<Intent> = (0..batch as u64).map(intent).collect();
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(
            BenchmarkId::new("append_batch (1 sync)", batch),
            &events,
            |b, events| b.iter(|| journal.append_batch(black_box(events)).unwrap()),
        );
    }
    group.finish();
}

criterion_group!(benches, bench_journal);
criterion_main!(benches);
