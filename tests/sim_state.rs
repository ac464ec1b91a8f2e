//! `--state` with the real binary: the pool survives a SIGKILL in the middle
//! of a stream of POSTs exactly as far as the tasks had got, and a SIGTERM
//! stops the simulator cleanly with exit 0.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ipimport::cli::Wire;
use ipimport::em::wire;

/// A simulator child process; killed when dropped.
struct Child_ {
    child: Child,
    base: String,
}

impl Drop for Child_ {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(args: &[&str]) -> Child_ {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ipimport"))
        .arg("sim")
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning ipimport sim");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the simulator printed no first line");
    let base = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    Child_ { child, base }
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let until = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < until, "the simulator did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn posted_range(i: usize) -> (String, String) {
    // Four addresses per POST, all distinct.
    let n = i * 4;
    (
        format!("198.51.{}.{}", 100 + n / 256, n % 256),
        format!("198.51.{}.{}", 100 + (n + 3) / 256, (n + 3) % 256),
    )
}

fn range_addrs(i: usize) -> Vec<String> {
    let n = i * 4;
    (n..n + 4)
        .map(|k| format!("198.51.{}.{}", 100 + k / 256, k % 256))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_posts_keeps_exactly_the_finished_operations() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("pool.json");
    let state_s = state.to_str().unwrap();
    let task_ms = 600u64;
    let sim = spawn(&[
        "--state",
        state_s,
        "--task-ms",
        &task_ms.to_string(),
        "--finish-lag-ms",
        "20",
    ]);
    let s = Session::logon(&sim.base, Wire::Json).await;
    let server = s.server_uid().await;

    // Stream POSTs, remembering when each was accepted; kill mid-stream.
    let mut accepted: Vec<(usize, Instant, String)> = Vec::new();
    let start = Instant::now();
    let mut i = 0;
    while start.elapsed() < Duration::from_millis(1500) {
        let (first, last) = posted_range(i);
        let sent = Instant::now();
        let a = s.post_range(&server, &first, &last).await;
        assert_eq!(a.status, 202, "{}", a.text);
        let t: wire::Task = a.decode(Wire::Json);
        accepted.push((i, sent, t.task_id));
        i += 1;
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    // Tasks observed to have left Running before the kill must be on disk
    // (one query, so the kill follows the last POST closely).
    let q: wire::QueryResult = s
        .get("/query?type=Task&format=Entities&filter=State!=Running&pageSize=0")
        .await
        .decode(Wire::Json);
    let done_ids: BTreeSet<String> = q.tasks().iter().map(|t| t.task_id.clone()).collect();
    let observed_done: BTreeSet<usize> = accepted
        .iter()
        .filter(|(_, _, id)| done_ids.contains(id))
        .map(|(i, ..)| *i)
        .collect();
    let mut sim = sim;
    let killed_at = Instant::now();
    // SIGKILL: no chance to save anything on the way out.
    sim.child.kill().unwrap();
    let _ = sim.child.wait();
    assert!(!observed_done.is_empty() && observed_done.len() < accepted.len());

    // Restart on the same state and read the pool back.
    let again = spawn(&["--state", state_s]);
    let pool = sim_pool(&again.base).await;
    let reloaded: BTreeSet<String> = pool[&server].iter().cloned().collect();

    let margin = Duration::from_millis(150);
    let task = Duration::from_millis(task_ms);
    for (i, sent, _) in &accepted {
        let addrs = range_addrs(*i);
        let present = addrs.iter().filter(|a| reloaded.contains(*a)).count();
        // Atomic: a range is all in or all out.
        assert!(
            present == 0 || present == 4,
            "range {i} is torn: {present}/4"
        );
        if observed_done.contains(i) {
            assert_eq!(
                present, 4,
                "range {i} was seen OperationFinished but is not in the state"
            );
        }
        // Accepted long enough before the kill: its task had left Running.
        if *sent + task + margin < killed_at {
            assert_eq!(present, 4, "range {i} had surely finished");
        }
        // Accepted too recently: its task was still Running when killed.
        if *sent + task > killed_at + margin {
            assert_eq!(present, 0, "range {i} was still Running");
        }
    }
    let posted: BTreeSet<String> = accepted
        .iter()
        .flat_map(|(i, ..)| range_addrs(*i))
        .collect();
    assert!(reloaded.is_subset(&posted));
    drop(again);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_zero_and_saves_a_reloadable_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("sub").join("pool.json");
    std::fs::create_dir_all(state.parent().unwrap()).unwrap();
    let state_s = state.to_str().unwrap();
    // A missing state file is an empty pool.
    let mut sim = spawn(&[
        "--state",
        state_s,
        "--task-ms",
        "30",
        "--backup-server",
        "b1",
        "--backup-server",
        "b2=8fff3b8e-c3f1-4ef5-aecc-561f07bf9982",
    ]);
    assert!(sim_pool(&sim.base).await.values().all(|v| v.is_empty()));
    let s = Session::logon(&sim.base, Wire::Xml).await;
    let refs: wire::EntityReferences = s.get("/backupServers").await.decode(Wire::Xml);
    for (k, r) in refs.refs.iter().enumerate() {
        for (first, last) in [
            (format!("203.0.113.{k}"), format!("203.0.113.{k}")),
            (format!("2001:db8::{k}0"), format!("2001:db8::{k}f")),
        ] {
            let t: wire::Task = s.post_range(&r.uid, &first, &last).await.decode(Wire::Xml);
            assert!(t.task_id.starts_with("task-"));
        }
    }
    for k in 0..2 {
        let t: wire::Task = s
            .post_range(
                &refs.refs[k].uid,
                &format!("203.0.113.{}", 10 + k),
                &format!("203.0.113.{}", 10 + k),
            )
            .await
            .decode(Wire::Xml);
        let t = s.wait_task(&t.task_id).await;
        assert!(t.result.unwrap().success);
    }
    let before = sim_pool(&sim.base).await;
    let id = sim.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &id])
            .status()
            .unwrap()
            .success()
    );
    let status = wait_exit(&mut sim.child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    assert!(state_file_ok(&state));

    let again = spawn(&[
        "--state",
        state_s,
        "--backup-server",
        "b1",
        "--backup-server",
        "b2=8fff3b8e-c3f1-4ef5-aecc-561f07bf9982",
    ]);
    let after = sim_pool(&again.base).await;
    assert_eq!(after, before);
    // Entity GUIDs survive too.
    let s2 = Session::logon(&again.base, Wire::Json).await;
    let ents: wire::CloudPublicIps = s2
        .get("/cloud/publicIpAddresses?format=Entity")
        .await
        .decode(Wire::Json);
    let first_uid = ents.items[0].uid.clone();
    drop(again);
    let again = spawn(&[
        "--state",
        state_s,
        "--backup-server",
        "b1",
        "--backup-server",
        "b2=8fff3b8e-c3f1-4ef5-aecc-561f07bf9982",
    ]);
    let s3 = Session::logon(&again.base, Wire::Json).await;
    let ents: wire::CloudPublicIps = s3
        .get("/cloud/publicIpAddresses?format=Entity")
        .await
        .decode(Wire::Json);
    assert_eq!(ents.items[0].uid, first_uid);
}

fn state_file_ok(path: &Path) -> bool {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str::<serde_json::Value>(&text).is_ok()
}

#[test]
fn bad_seed_pool_lines_are_named_by_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    for (text, needle) in [
        (
            "backup01,198.51.100.1\nbackup01,198.51.100.300\n",
            "seed.csv:2: '198.51.100.300' is not an IP address",
        ),
        (
            "backup_server,ip,tenant_uid\n# x\nnobody,198.51.100.1\n",
            "seed.csv:3: backup server 'nobody' is not configured",
        ),
        (
            "backup01,198.51.100.0/30\nbackup01,198.51.100.2\n",
            "seed.csv:2: address 198.51.100.2 is already in the seed pool",
        ),
        (
            "backup01\n",
            "seed.csv:1: expected backup_server,ip[,tenant_uid]",
        ),
        (
            "backup01,198.51.100.1,urn:veeam:Other:x\n",
            "seed.csv:1: tenant",
        ),
    ] {
        let seed = dir.path().join("seed.csv");
        std::fs::write(&seed, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_ipimport"))
            .args(["sim", "--listen", "127.0.0.1:0", "--seed-pool"])
            .arg(&seed)
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(out.stdout.is_empty(), "nothing listens");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{text:?}: {err}");
    }
}

#[test]
fn bad_options_fail_with_advice() {
    for (args, needle) in [
        (vec!["--user", "nocolon"], "NAME:PASSWORD"),
        (vec!["--backup-server", "x=not-a-guid"], "GUID"),
        (vec!["--fail-rate", "2"], "between 0 and 1"),
        (vec!["--seed-pool", "/nonexistent/seed.csv"], "seed pool"),
        (vec!["--listen", "256.0.0.1:1"], "listen"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_ipimport"))
            .arg("sim")
            .args(["--listen", "127.0.0.1:0"])
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

/// A restart with the same `--seed` over a loaded `--state` replays the GUID
/// stream from the start: GUIDs already in the pool must be drawn again, not
/// cost an address while the task still reports success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_restart_over_state_loses_no_address_to_a_guid_collision() {
    let dir = tempfile::tempdir().unwrap();
    let config = || ipimport::sim::SimConfig {
        state: Some(dir.path().join("S.json")),
        seed: Some(5),
        ..quick()
    };
    let first = sim(config()).await;
    let s = Session::logon(first.base_url(), Wire::Xml).await;
    let uid = s.server_uid().await;
    let t: wire::Task = s
        .post_range(&uid, "1.1.1.1", "1.1.1.1")
        .await
        .decode(Wire::Xml);
    assert!(s.wait_task(&t.task_id).await.result.unwrap().success);
    first.stop().await;

    let again = sim(config()).await;
    let s = Session::logon(again.base_url(), Wire::Xml).await;
    let t: wire::Task = s
        .post_range(&uid, "2.2.2.2", "2.2.2.3")
        .await
        .decode(Wire::Xml);
    assert!(s.wait_task(&t.task_id).await.result.unwrap().success);
    assert_eq!(
        sim_pool(again.base_url()).await[&uid],
        vec!["1.1.1.1", "2.2.2.2", "2.2.2.3"]
    );
    // Every entity has its own GUID.
    let ents: wire::CloudPublicIps = s
        .get("/cloud/publicIpAddresses?format=Entity")
        .await
        .decode(Wire::Xml);
    let uids: BTreeSet<_> = ents.items.iter().map(|e| e.uid.clone()).collect();
    assert_eq!(uids.len(), 3);
    again.stop().await;
}

/// `--state` problems stop the simulator at start with advice, instead of
/// an ERROR log on every change (or addresses silently erased on the next save).
#[test]
fn unusable_state_files_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ipimport"))
            .args(["sim", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Bounded: a simulator that starts anyway is killed, and fails below.
        let until = Instant::now() + Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty(), "nothing listens: {args:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // A directory that does not exist.
    let missing = dir.path().join("nope").join("S.json");
    let err = run(&["--state", missing.to_str().unwrap()]);
    assert!(err.contains("cannot be written"), "{err}");
    assert!(err.contains("nope"), "{err}");
    // Addresses of a backup server not configured.
    let state = dir.path().join("S.json");
    let guid = "8fff3b8e-c3f1-4ef5-aecc-561f07bf9982";
    std::fs::write(
        &state,
        format!(
            r#"{{"format":"ipimport-sim-state/1","tenants":[],"pool":{{"urn:veeam:BackupServer:{guid}":[["198.51.100.1","0b7e8d52-1c3a-4f4e-9d6b-2a1f3c4d5e6f",null]]}}}}"#
        ),
    )
    .unwrap();
    let before = std::fs::read(&state).unwrap();
    let err = run(&["--state", state.to_str().unwrap()]);
    assert!(
        err.contains(&format!("--backup-server NAME={guid}")),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&state).unwrap(),
        before,
        "the file is left alone"
    );
    // Configured, it loads.
    let sim = spawn(&[
        "--state",
        state.to_str().unwrap(),
        "--backup-server",
        &format!("b2={guid}"),
    ]);
    drop(sim);
}
