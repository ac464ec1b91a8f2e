//! `apply` against the simulator: 1,000 single-address rows, `--rate 100`,
//! `--concurrency 32`, tasks of 200 ms, and the sequential baseline (one
//! POST, poll until finished, then the next) on 100 rows.
//!
//! Method: the simulator runs as a separate child process (`ipimport sim`),
//! so this process's CPU time (getrusage RUSAGE_SELF, user + system) is the
//! client's alone. HTTP requests are the simulator's `/sim/stats` `requests`
//! counter (every `/api/` request, logon and logoff included). The pool is
//! reset (`/sim/reset`) before each run.
//!
//! ```text
//! cargo bench --bench apply
//! ```
//!
//! Targets: at most 1.15 HTTP requests per range; wall time within 10% of
//! requests / rate + 0.5 s; client CPU under 1 ms per range.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use ipimport::cli::Wire;
use ipimport::config::{ConnectionSettings, EngineSettings, Secret, ValidationSettings};
use ipimport::engine::apply::{self, ApplyRequest};
use ipimport::engine::progress::ProgressMode;
use ipimport::exit::Exit;
use ipimport::pipeline::InputOptions;
use tokio_util::sync::CancellationToken;

const RATE: u32 = 100;

struct Sim {
    child: Child,
    base: String,
}

impl Sim {
    fn start() -> Sim {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ipimport"))
            .args(["sim", "--listen", "127.0.0.1:0", "--task-ms", "200"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting ipimport sim");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line.trim().trim_start_matches("listening on ").to_string();
        Sim { child, base }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one run measured.
#[derive(Debug, Clone, Copy)]
struct Figures {
    ranges: u64,
    requests: u64,
    wall: Duration,
    cpu: Duration,
}

impl Figures {
    fn print(&self, label: &str) {
        let target = self.requests as f64 / RATE as f64 + 0.5;
        eprintln!(
            "{label}: {} ranges, {} HTTP requests ({:.3}/range), wall {:.2} s (target {:.2} s +10%: {:.2} s), client CPU {:.3} ms/range",
            self.ranges,
            self.requests,
            self.requests as f64 / self.ranges as f64,
            self.wall.as_secs_f64(),
            target,
            target * 1.1,
            self.cpu.as_secs_f64() * 1000.0 / self.ranges as f64,
        );
    }
}

fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes into the struct we hand it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// A CSV of `n` single public addresses, none adjacent (nothing merges).
fn input(dir: &std::path::Path, n: u32) -> String {
    let mut csv = String::from("range\n");
    for i in 0..n {
        let v = (45u32 << 24) + i * 2;
        csv.push_str(&format!("{}\n", std::net::Ipv4Addr::from(v)));
    }
    let path = dir.join(format!("rows{n}.csv"));
    std::fs::write(&path, csv).unwrap();
    path.display().to_string()
}

fn run_once(
    rt: &tokio::runtime::Runtime,
    sim: &Sim,
    input: &str,
    n: u32,
    concurrency: usize,
) -> Figures {
    rt.block_on(async {
        let client = reqwest::Client::new();
        let reset = client
            .post(format!("{}/sim/reset", sim.base))
            .send()
            .await
            .unwrap();
        assert_eq!(reset.status().as_u16(), 204);
        let run_dir = tempfile::tempdir().unwrap();
        let request = ApplyRequest {
            inputs: vec![input.to_string()],
            input: InputOptions::default(),
            validation: ValidationSettings {
                backup_server: Some("backup01".into()),
                ..ValidationSettings::default()
            },
            connection: ConnectionSettings {
                server: format!("{}/api", sim.base),
                user: "admin".into(),
                password_file: None,
                ca_cert: None,
                insecure: false,
                wire: Wire::Xml,
                timeout: Duration::from_secs(30),
            },
            password: Secret::new("admin"),
            engine: EngineSettings {
                rate: RATE,
                burst: 1,
                concurrency,
                run_dir: Some(run_dir.path().join("run")),
                ..EngineSettings::default()
            },
            resume: None,
            progress: ProgressMode::Off,
            cancel: CancellationToken::new(),
        };
        let cpu0 = cpu_time();
        let t0 = Instant::now();
        let outcome = apply::run(request).await.unwrap();
        let wall = t0.elapsed();
        let cpu = cpu_time() - cpu0;
        assert_eq!(outcome.exit, Exit::Ok);
        assert_eq!(outcome.report.summary.requests_submitted, n as u64);
        let stats: serde_json::Value = client
            .get(format!("{}/sim/stats", sim.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Figures {
            ranges: n as u64,
            requests: stats["requests"].as_u64().unwrap(),
            wall,
            cpu,
        }
    })
}

fn bench(c: &mut Criterion) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let rows_1000 = input(dir.path(), 1000);
    let rows_100 = input(dir.path(), 100);
    // The runtime `ipimport apply` itself runs on.
    let rt = ipimport::commands::client_runtime().unwrap();

    // The sequential baseline, measured once: 100 rows, one task in flight.
    let baseline = run_once(&rt, &sim, &rows_100, 100, 1);
    baseline.print("sequential baseline (100 rows, concurrency 1)");

    let mut group = c.benchmark_group("apply");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(120));
    let mut all = Vec::new();
    group.bench_function("1000 rows, rate 100, concurrency 32, task 200 ms", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let f = run_once(&rt, &sim, &rows_1000, 1000, 32);
                f.print("batched (1000 rows, concurrency 32)");
                total += f.wall;
                all.push(f);
            }
            total
        })
    });
    group.finish();
    let n = all.len() as f64;
    let mean = |get: &dyn Fn(&Figures) -> f64| all.iter().map(get).sum::<f64>() / n;
    eprintln!(
        "mean of {} runs: {:.3} requests/range, wall {:.2} s (target {:.2} s), CPU {:.3} ms/range; baseline {:.2} s for 100 rows",
        all.len(),
        mean(&|f| f.requests as f64 / f.ranges as f64),
        mean(&|f| f.wall.as_secs_f64()),
        mean(&|f| f.requests as f64 / RATE as f64 + 0.5),
        mean(&|f| f.cpu.as_secs_f64() * 1000.0 / f.ranges as f64),
        baseline.wall.as_secs_f64(),
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
