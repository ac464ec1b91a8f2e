//! Simulator benchmarks: it must never be the bottleneck.
//!
//! - `task_get`: `GET /api/tasks/{id}` over loopback, 32 in flight from a
//!   reqwest client in the same process (client and server share the 2
//!   cores), reported as requests per second (criterion "elem/s").
//! - `task_query_50`: one `GET /api/query?type=Task&format=Entities` naming 50 tasks.
//! - `pool_1m_query_deep_page`: a `BackupServerUid`-filtered page of 100
//!   from a pool of 1,000,000 addresses, at page 5,000 (the worst case of a
//!   client paging through it).
//! - Memory: a child `ipimport sim --seed-pool` holding 1,000,000 addresses;
//!   its resident set (VmRSS, and the peak VmHWM, from /proc/PID/status) is
//!   printed once after the pool is loaded.
//!
//! Run: `cargo bench --bench sim`

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use ipimport::cli::Wire;
use ipimport::em::wire;
use ipimport::sim::{SimConfig, start};

/// A CSV seeding exactly 1,000,000 addresses (10.0.0.0 + 999,999 = 10.15.66.63).
fn million_csv(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("million.csv");
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "backup_server,ip").unwrap();
    writeln!(f, "backup01,10.0.0.0-10.15.66.63").unwrap();
    path
}

fn status_kb(pid: u32, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Start `ipimport sim --seed-pool` with a million addresses; print its memory.
fn pool_memory() {
    let dir = tempfile::tempdir().unwrap();
    let csv = million_csv(dir.path());
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ipimport"))
        .args(["sim", "--listen", "127.0.0.1:0", "--seed-pool"])
        .arg(&csv)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning ipimport sim");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let load = started.elapsed();
    // The pool is loaded before the first line is printed.
    let rss_loaded = status_kb(child.id(), "VmRSS:");
    let base = line.trim().trim_start_matches("listening on ").to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let count = rt.block_on(async {
        let pool: serde_json::Value = reqwest::get(format!("{base}/sim/pool"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        pool.as_object()
            .unwrap()
            .values()
            .map(|v| v.as_array().unwrap().len())
            .sum::<usize>()
    });
    // After /sim/pool rendered a million addresses as JSON: the transient
    // text shows in the peak, and partly in the resident set (the allocator
    // keeps freed pages).
    let rss = status_kb(child.id(), "VmRSS:").max(rss_loaded);
    let hwm = status_kb(child.id(), "VmHWM:");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(count, 1_000_000);
    println!(
        "pool_memory: {count} addresses loaded in {:.2} s; VmRSS {:.1} MB when loaded, {:.1} MB after serving /sim/pool, peak VmHWM {:.1} MB (limit 256 MB)",
        load.as_secs_f64(),
        rss_loaded as f64 / 1024.0,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    assert!(
        rss <= 256 * 1024,
        "the 1,000,000-address pool takes {rss} kB"
    );
}

/// Log on as admin; the session token.
async fn logon(http: &reqwest::Client, base: &str) -> String {
    let r = http
        .post(format!("{base}/api/sessionMngr/?v=latest"))
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap();
    r.headers()["X-RestSvcSessionId"]
        .to_str()
        .unwrap()
        .to_string()
}

/// The UID of the default backup server.
fn backup01_uid() -> String {
    format!(
        "urn:veeam:BackupServer:{}",
        ipimport::sim::derived_server_guid("backup01")
    )
}

fn benches(c: &mut Criterion) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    pool_memory();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();

    // --- task GETs
    let (sim, token, ids) = rt.block_on(async {
        let sim = start(SimConfig {
            listen: "127.0.0.1:0".into(),
            task_time: Duration::from_millis(1),
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let base = sim.base_url().to_string();
        let token = logon(&http, &base).await;
        let server = backup01_uid();
        let mut ids = Vec::new();
        for i in 0..50u32 {
            let spec = wire::CloudPublicIpAddressCreateSpec {
                backup_server_uid: server.clone(),
                ip_address_lower_bound: format!("203.0.113.{i}"),
                ip_address_upper_bound: format!("203.0.113.{i}"),
            };
            let r = http
                .post(format!("{base}/api/cloud/publicIpAddresses"))
                .header("X-RestSvcSessionId", &token)
                .header("Content-Type", "application/xml")
                .body(wire::encode(&spec, Wire::Xml))
                .send()
                .await
                .unwrap();
            let t: wire::Task = wire::decode(&r.bytes().await.unwrap(), Wire::Xml).unwrap();
            ids.push(t.task_id);
        }
        (sim, token, ids)
    });
    let base = sim.base_url().to_string();

    const BATCH: u64 = 2000;
    let mut group = c.benchmark_group("sim");
    group.throughput(Throughput::Elements(BATCH));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("task_get", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t0 = Instant::now();
                for _ in 0..iters {
                    futures::stream::iter(0..BATCH)
                        .map(|i| {
                            let url = format!("{base}/api/tasks/{}", ids[i as usize % ids.len()]);
                            let req = http.get(url).header("X-RestSvcSessionId", &token);
                            async move {
                                let r = req.send().await.unwrap();
                                assert_eq!(r.status(), 200);
                                r.bytes().await.unwrap();
                            }
                        })
                        .buffer_unordered(32)
                        .collect::<Vec<_>>()
                        .await;
                }
                t0.elapsed()
            })
        })
    });
    group.throughput(Throughput::Elements(1));
    let filter: Vec<String> = ids.iter().map(|id| format!("TaskId==\"{id}\"")).collect();
    let query_url = format!(
        "{base}/api/query?type=Task&format=Entities&filter={}",
        filter.join(",")
    );
    group.bench_function("task_query_50", |b| {
        b.iter(|| {
            rt.block_on(async {
                let r = http
                    .get(&query_url)
                    .header("X-RestSvcSessionId", &token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                r.bytes().await.unwrap()
            })
        })
    });
    rt.block_on(sim.stop());

    // --- a deep page of a 1,000,000-address pool
    let dir = tempfile::tempdir().unwrap();
    let csv = million_csv(dir.path());
    let (sim, token) = rt.block_on(async {
        let sim = start(SimConfig {
            listen: "127.0.0.1:0".into(),
            seed_pool: Some(csv),
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let token = logon(&http, sim.base_url()).await;
        (sim, token)
    });
    let server = backup01_uid();
    let url = format!(
        "{}/api/query?type=CloudPublicIpAddress&format=Entities&filter=BackupServerUid==%22{server}%22&pageSize=100&page=5000",
        sim.base_url()
    );
    group.sample_size(20);
    group.bench_function("pool_1m_query_deep_page", |b| {
        b.iter(|| {
            rt.block_on(async {
                let r = http
                    .get(&url)
                    .header("X-RestSvcSessionId", &token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                r.bytes().await.unwrap()
            })
        })
    });
    group.finish();
    rt.block_on(sim.stop());
}

criterion_group!(sim_benches, benches);
criterion_main!(sim_benches);
