//! `ipimport apply` as a child process: killed with SIGKILL at several points
//! and resumed to the exact pool; exit codes and messages; no secret in any
//! output or file at `-v` with `RUST_LOG=debug`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ipimport");
const LIMIT: Duration = Duration::from_secs(60);

/// A simulator child process, killed on drop.
struct Sim {
    child: Child,
    base: String,
}

impl Sim {
    fn start(args: &[&str]) -> Sim {
        let mut child = Command::new(BIN)
            .args(["sim", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting ipimport sim");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Sim { child, base }
    }

    fn get(&self, path: &str) -> serde_json::Value {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            reqwest::Client::new()
                .get(format!("{}{path}", self.base))
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        })
    }

    /// Every address of the pool, all backup servers together.
    fn addresses(&self) -> Vec<String> {
        let pool = self.get("/sim/pool");
        let mut all: Vec<String> = pool
            .as_object()
            .unwrap()
            .values()
            .flat_map(|v| {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_string())
            })
            .collect();
        all.sort();
        all
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ipimport apply` against the server at `base` (`http://127.0.0.1:PORT`).
fn apply_command(base: &str, password: &str) -> Command {
    let mut c = Command::new(BIN);
    c.arg("apply")
        .env("IPIMPORT_SERVER", base)
        .env("IPIMPORT_USER", "admin")
        .env("IPIMPORT_PASSWORD", password)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Wait for a child with a deadline; kill it (and fail) when it overruns.
fn finish(mut child: Child) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("child overran {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn rows(n: u32) -> (String, Vec<String>) {
    let mut csv = String::from("backup_server,range\n");
    let mut want = Vec::new();
    for i in 0..n {
        let a = format!("203.0.113.{}", i * 2);
        csv.push_str(&format!("backup01,{a}\n"));
        want.push(a);
    }
    want.sort();
    (csv, want)
}

fn journal_lines(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("journal.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

#[test]
fn killed_with_sigkill_at_several_points_then_resumed_to_the_exact_pool() {
    let sim = Sim::start(&["--task-ms", "150", "--finish-lag-ms", "30", "--seed", "5"]);
    let tmp = tempfile::tempdir().unwrap();
    let (csv, want) = rows(40);
    let input = tmp.path().join("many.csv");
    std::fs::write(&input, csv).unwrap();
    // Kill right after the plan, in the middle, and late in the run.
    for (i, kill_at) in [2usize, 15, 60].into_iter().enumerate() {
        sim.get_reset();
        let run_dir: PathBuf = tmp.path().join(format!("run{i}"));
        let mut child = apply_command(&sim.base, "admin")
            .arg(&input)
            .args(["--rate", "60", "--concurrency", "4", "--run-dir"])
            .arg(&run_dir)
            .spawn()
            .unwrap();
        let start = Instant::now();
        while journal_lines(&run_dir) < kill_at {
            assert!(
                child.try_wait().unwrap().is_none(),
                "apply ended before line {kill_at}"
            );
            assert!(start.elapsed() < LIMIT);
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert_ne!(
            sim.addresses(),
            want,
            "killed at line {kill_at}: the run was not finished"
        );

        let out = finish(
            apply_command(&sim.base, "admin")
                .arg("--resume")
                .arg(&run_dir)
                .spawn()
                .unwrap(),
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(0),
            "killed at {kill_at}\n{stdout}\n{stderr}"
        );
        assert_eq!(sim.addresses(), want, "killed at line {kill_at}");
        let stats = sim.get("/sim/stats");
        assert_eq!(
            stats["conflicting_posts"], 0,
            "killed at {kill_at}: {stats}"
        );
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run_dir.join("report.json")).unwrap()).unwrap();
        assert_eq!(report["resumed"], true);
        assert_eq!(report["summary"]["rows_ok"], 40);
    }
}

/// Lines of `journal.jsonl` that record an accepted POST.
fn accepted_lines(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("journal.jsonl"))
        .map(|t| t.lines().filter(|l| l.contains("\"accepted\"")).count())
        .unwrap_or(0)
}

/// Apply `rows` rows against a simulator whose tasks take 7 s, SIGKILL it
/// once `accepted` POSTs are journaled as accepted, resume it, and check
/// that the resume ends with exit 0, the exact pool and no range sent
/// twice (`tasks_created == rows`). Returns the run directory's report.
fn killed_during_long_tasks_then_resumed(
    seed: &str,
    rows_n: u32,
    accepted: usize,
) -> serde_json::Value {
    let sim = Sim::start(&["--task-ms", "7000", "--finish-lag-ms", "30", "--seed", seed]);
    let tmp = tempfile::tempdir().unwrap();
    let (csv, want) = rows(rows_n);
    let input = tmp.path().join("rows.csv");
    std::fs::write(&input, csv).unwrap();
    let run_dir = tmp.path().join("run");
    let mut child = apply_command(&sim.base, "admin")
        .arg(&input)
        .args(["--rate", "50", "--concurrency", "4", "--run-dir"])
        .arg(&run_dir)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while accepted_lines(&run_dir) < accepted {
        assert!(child.try_wait().unwrap().is_none(), "apply ended early");
        assert!(start.elapsed() < LIMIT);
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let out = finish(
        apply_command(&sim.base, "admin")
            .arg("--resume")
            .arg(&run_dir)
            .spawn()
            .unwrap(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(sim.addresses(), want);
    let stats = sim.get("/sim/stats");
    assert_eq!(stats["conflicting_posts"], 0, "{stats}");
    assert_eq!(stats["tasks_created"], rows_n, "{stats}");
    serde_json::from_slice(&std::fs::read(run_dir.join("report.json")).unwrap()).unwrap()
}

#[test]
fn a_resume_learns_how_long_tasks_take_before_it_sends_a_lost_range_again() {
    // Tasks of 7 s, longer than the 5 s the engine settles for before it has
    // seen any task finish. Killed while four tasks run, the resume first
    // sends the ranges that were never sent, learns from their tasks how
    // long a task takes, and only then reads back the four in doubt: by
    // then their tasks have landed, and nothing is sent twice.
    let report = killed_during_long_tasks_then_resumed("9", 8, 4);
    // The report lists the requests sent, not the ranges the resume only
    // compared with the pool.
    let requests = report["requests"].as_array().unwrap();
    assert!(
        requests.iter().all(|r| r["attempts"].as_u64().unwrap() > 0),
        "{requests:#?}"
    );
    assert_eq!(report["summary"]["requests_submitted"], 8, "{report}");
}

#[test]
fn a_resume_waits_for_tasks_it_cannot_see_instead_of_sending_their_ranges_again() {
    // Every range was accepted before the kill, and no task had finished:
    // the resume has nothing to learn task durations from, and its logon
    // session cannot see the old tasks. Tasks of 7 s outlast the 5 s a
    // settle would wait, so only waiting for the ranges to land in the pool
    // (up to --task-timeout) keeps them from being sent twice.
    let report = killed_during_long_tasks_then_resumed("11", 3, 3);
    assert_eq!(report["summary"]["rows_ok"], 3, "{report}");
}

#[test]
fn a_server_gone_mid_run_ends_with_exit_3_then_resumes_to_the_exact_pool() {
    // The server dies while tasks run and POSTs are still going out: apply
    // spends its retries, then stops with exit 3 (not polling for ever),
    // naming the resume command. Once a server is back (the same state
    // file), the resume sends what the first run gave up on or never sent,
    // waits out the tasks the dead server never finished, and ends exact.
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state.json");
    let state_arg = state.to_str().unwrap();
    let mut sim = Sim::start(&["--task-ms", "4000", "--seed", "4", "--state", state_arg]);
    let (csv, want) = rows(12);
    let input = tmp.path().join("rows.csv");
    std::fs::write(&input, csv).unwrap();
    let run_dir = tmp.path().join("run");
    let child = apply_command(&sim.base, "admin")
        .arg(&input)
        .args(["--rate", "50", "--concurrency", "8", "--run-dir"])
        .arg(&run_dir)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while accepted_lines(&run_dir) < 4 {
        assert!(start.elapsed() < LIMIT, "the tasks were never accepted");
        std::thread::sleep(Duration::from_millis(5));
    }
    sim.child.kill().unwrap();
    sim.child.wait().unwrap();
    let out = finish(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("ipimport apply --resume {}", run_dir.display())),
        "{stderr}"
    );
    assert!(stderr.contains("cannot reach"), "{stderr}");

    let sim = Sim::start(&["--task-ms", "200", "--seed", "5", "--state", state_arg]);
    let out = finish(
        apply_command(&sim.base, "admin")
            .arg("--resume")
            .arg(&run_dir)
            .args(["--task-timeout", "3"])
            .spawn()
            .unwrap(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(sim.addresses(), want);
    assert_eq!(sim.get("/sim/stats")["conflicting_posts"], 0);
}

impl Sim {
    fn get_reset(&self) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let r = reqwest::Client::new()
                .post(format!("{}/sim/reset", self.base))
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 204);
        });
    }
}

#[test]
fn no_password_or_token_in_any_output_or_file_at_debug() {
    let password = "Corr3ct-Horse-Battery";
    // The simulator in-process, so the test can ask it which tokens it
    // issued; the apply a child process, so its real output is checked.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sim = rt
        .block_on(ipimport::sim::start(ipimport::sim::SimConfig {
            listen: "127.0.0.1:0".into(),
            users: vec![("admin".into(), password.into())],
            task_time: Duration::from_millis(50),
            // Tokens die every 7 requests: several logons, several tokens.
            expire_every: 7,
            seed: Some(9),
            ..ipimport::sim::SimConfig::default()
        }))
        .expect("starting the simulator");
    let tmp = tempfile::tempdir().unwrap();
    let (csv, want) = rows(12);
    let input = tmp.path().join("rows.csv");
    std::fs::write(&input, csv).unwrap();
    let run_dir = tmp.path().join("run");
    let out = finish(
        apply_command(sim.base_url(), password)
            .env("RUST_LOG", "debug")
            .arg("-v")
            .arg(&input)
            .args(["--rate", "200", "--run-dir"])
            .arg(&run_dir)
            .spawn()
            .unwrap(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let mut pool: Vec<String> = sim.pool().into_values().flatten().collect();
    pool.sort();
    assert_eq!(pool, want);
    assert!(stderr.contains("DEBUG"), "debug logging was on: {stderr}");
    // Every logon of the child is a token to look for, and there were several.
    let tokens = sim.issued_tokens();
    let logons = sim.stats().logons;
    assert!(logons > 1, "{logons} logons");
    assert_eq!(tokens.len() as u64, logons);
    rt.block_on(sim.stop());

    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("admin:{password}"));
    let mut texts = vec![
        ("stdout".to_string(), stdout),
        ("stderr".to_string(), stderr),
    ];
    for entry in std::fs::read_dir(&run_dir).unwrap() {
        let p = entry.unwrap().path();
        texts.push((
            p.display().to_string(),
            std::fs::read_to_string(&p).unwrap_or_default(),
        ));
    }
    for (name, text) in &texts {
        assert!(!text.contains(password), "the password is in {name}");
        assert!(
            !text.contains(&basic),
            "the Basic credentials are in {name}"
        );
        for token in &tokens {
            // Without its `=` padding, so an escaped form is caught too.
            let core = token.trim_end_matches('=');
            assert!(core.len() >= 16, "token {token:?}");
            assert!(!text.contains(core), "a session token is in {name}");
        }
        // A token travels only in the X-RestSvcSessionId header: never printed with it.
        for (i, _) in text.match_indices("RestSvcSessionId") {
            let after: String = text[i..].chars().take(60).collect();
            assert!(
                after.contains("redacted") || !after.contains('='),
                "a session token may be in {name}: {after}"
            );
        }
    }
}

#[test]
fn unreachable_server_and_bad_password_exit_3_with_advice() {
    let sim = Sim::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let (csv, _) = rows(2);
    let input = tmp.path().join("rows.csv");
    std::fs::write(&input, csv).unwrap();

    let out = finish(
        apply_command(&sim.base, "not-the-password")
            .arg(&input)
            .arg("--run-dir")
            .arg(tmp.path().join("a"))
            .spawn()
            .unwrap(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("refused the logon") && stderr.contains("IPIMPORT_PASSWORD"),
        "{stderr}"
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let out = finish(
        apply_command(&sim.base, "admin")
            .env("IPIMPORT_SERVER", format!("http://127.0.0.1:{port}"))
            .arg(&input)
            .args(["--retries", "2", "--run-dir"])
            .arg(tmp.path().join("b"))
            .spawn()
            .unwrap(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("cannot reach Enterprise Manager"),
        "{stderr}"
    );

    // A server that answers, but not an Enterprise Manager API at that URL.
    let out = finish(
        apply_command(&sim.base, "admin")
            .env("IPIMPORT_SERVER", format!("{}/sim", sim.base))
            .arg(&input)
            .arg("--run-dir")
            .arg(tmp.path().join("c"))
            .spawn()
            .unwrap(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("HTTP 404") && stderr.contains("is --server an Enterprise Manager"),
        "{stderr}"
    );

    // --resume of a directory that is not a run directory: exit 2, said once.
    for dir in [tmp.path().join("nowhere"), tmp.path().to_path_buf()] {
        let out = finish(
            apply_command(&sim.base, "admin")
                .arg("--resume")
                .arg(&dir)
                .spawn()
                .unwrap(),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("does not exist") || stderr.contains("has no journal.jsonl"),
            "{stderr}"
        );
        assert_eq!(stderr.matches("os error").count(), 0, "{stderr}");
    }
}

#[test]
fn plan_prints_what_apply_would_send_and_writes_nothing() {
    let sim = Sim::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("rows.csv");
    std::fs::write(&input, "range\n203.0.113.0/30\n198.51.100.9\n").unwrap();
    let out = finish(
        Command::new(BIN)
            .args(["plan", "--backup-server", "backup01", "--format", "json"])
            .arg(&input)
            .env("IPIMPORT_SERVER", &sim.base)
            .env("IPIMPORT_USER", "admin")
            .env("IPIMPORT_PASSWORD", "admin")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["addresses_present"], 0);
    let to_submit = v["to_submit"].as_array().unwrap();
    assert_eq!(to_submit.len(), 2);
    assert_eq!(to_submit[0]["first"], "198.51.100.9");
    assert_eq!(to_submit[1]["addresses"], 4);
    assert!(sim.addresses().is_empty(), "plan writes nothing");
}

#[test]
fn plan_with_invalid_rows_submits_nothing_unless_skip_invalid() {
    let sim = Sim::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("rows.csv");
    std::fs::write(&input, "range\n203.0.113.0/30\n010.1.1.1\n198.51.100.9\n").unwrap();
    let plan = |extra: &[&str]| {
        finish(
            Command::new(BIN)
                .args(["plan", "--backup-server", "backup01"])
                .args(extra)
                .arg(&input)
                .env("IPIMPORT_SERVER", &sim.base)
                .env("IPIMPORT_USER", "admin")
                .env("IPIMPORT_PASSWORD", "admin")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        )
    };
    // apply would refuse the batch: nothing to submit, exit 2.
    let out = plan(&["--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rows_invalid"], 1);
    assert_eq!(v["to_submit"], serde_json::json!([]));
    let out = plan(&["--format", "text"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "apply would send nothing until the invalid rows are fixed \
             (with --skip-invalid: 2 requests, 5 addresses)"
        ),
        "{text}"
    );
    assert!(!text.contains("POST "), "{text}");
    // With --skip-invalid, the valid rows' requests; the exit stays 2.
    let out = plan(&["--format", "json", "--skip-invalid"]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["to_submit"].as_array().unwrap().len(), 2);
    assert!(sim.addresses().is_empty(), "plan writes nothing");
}

#[test]
fn ctrl_c_stops_writes_the_journal_and_report_exits_130_then_resumes() {
    stopped_by_signal_then_resumed(libc::SIGINT);
}

#[test]
fn sigterm_stops_like_ctrl_c() {
    // What `timeout`, `kill` and service managers send a cron run.
    stopped_by_signal_then_resumed(libc::SIGTERM);
}

fn stopped_by_signal_then_resumed(signal: i32) {
    let sim = Sim::start(&["--task-ms", "150", "--finish-lag-ms", "30"]);
    let tmp = tempfile::tempdir().unwrap();
    let (csv, want) = rows(40);
    let input = tmp.path().join("many.csv");
    std::fs::write(&input, csv).unwrap();
    let run_dir = tmp.path().join("run");
    let child = apply_command(&sim.base, "admin")
        .arg(&input)
        .args(["--rate", "40", "--concurrency", "4", "--run-dir"])
        .arg(&run_dir)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while journal_lines(&run_dir) < 10 {
        assert!(start.elapsed() < LIMIT);
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let out = finish(child);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(stdout.contains("--resume"), "{stdout}");
    let journal = std::fs::read_to_string(run_dir.join("journal.jsonl")).unwrap();
    assert!(journal.contains("\"event\":\"interrupted\""));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("report.json")).unwrap()).unwrap();
    assert!(report["summary"]["rows_ok"].as_u64().unwrap() < 40);

    let out = finish(
        apply_command(&sim.base, "admin")
            .arg("--resume")
            .arg(&run_dir)
            .spawn()
            .unwrap(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sim.addresses(), want);
    assert_eq!(sim.get("/sim/stats")["conflicting_posts"], 0);
}

#[test]
fn demo_applies_the_samples_against_the_in_process_simulator() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("demo");
    let out = finish(
        Command::new(BIN)
            .args(["demo", "--task-ms", "30", "--run-dir"])
            .arg(&run_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("0 failed, 0 invalid"), "{stdout}");
    assert!(
        stdout.contains(&format!("report: {}", run_dir.join("report.md").display())),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("report.json")).unwrap()).unwrap();
    assert!(report["summary"]["rows_ok"].as_u64().unwrap() > 0);
    assert_eq!(report["summary"]["rows_failed"], 0);
}

#[test]
fn password_sources_follow_command_line_then_environment_then_config() {
    let sim = Sim::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("rows.csv");
    std::fs::write(&input, "range\n203.0.113.7\n").unwrap();
    let right = tmp.path().join("right.pw");
    let wrong = tmp.path().join("wrong.pw");
    std::fs::write(&right, "admin\n").unwrap();
    std::fs::write(&wrong, "not-the-password\n").unwrap();
    let config = |pw: &Path| {
        let path = tmp.path().join("ipimport.toml");
        std::fs::write(
            &path,
            format!("password_file = {:?}\n", pw.display().to_string()),
        )
        .unwrap();
        path
    };
    // Each case: extra arguments, IPIMPORT_PASSWORD, and whether logon works.
    let plan = |args: &[&std::ffi::OsStr], env_password: &str| {
        let out = finish(
            Command::new(BIN)
                .args(["plan", "--backup-server", "backup01"])
                .args(args)
                .arg(&input)
                .env("IPIMPORT_SERVER", &sim.base)
                .env("IPIMPORT_USER", "admin")
                .env("IPIMPORT_PASSWORD", env_password)
                .env_remove("IPIMPORT_CONFIG")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        out.status.code()
    };
    // --password-file on the command line beats the environment...
    assert_eq!(
        plan(&["--password-file".as_ref(), right.as_os_str()], "wrong"),
        Some(0)
    );
    assert_eq!(
        plan(&["--password-file".as_ref(), wrong.as_os_str()], "admin"),
        Some(3)
    );
    // ...and the environment beats the config file's password_file.
    let wrong_config = config(&wrong);
    assert_eq!(
        plan(&["--config".as_ref(), wrong_config.as_os_str()], "admin"),
        Some(0)
    );
}

#[test]
fn warnings_only_by_default_info_with_v_and_never_colour_into_a_pipe() {
    // The default is quiet so that a nightly cron mail holds only what needs
    // attention; `-v` adds the run's story ("logged on", "planned").
    let sim = Sim::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let (csv, _) = rows(3);
    let input = tmp.path().join("rows.csv");
    std::fs::write(&input, csv).unwrap();

    let quiet = finish(
        apply_command(&sim.base, "admin")
            .arg(&input)
            .arg("--run-dir")
            .arg(tmp.path().join("default"))
            .spawn()
            .unwrap(),
    );
    let stderr = String::from_utf8_lossy(&quiet.stderr);
    assert_eq!(quiet.status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains(" INFO "),
        "info lines without -v: {stderr}"
    );
    assert!(!stderr.contains("logged on"), "{stderr}");

    let verbose = finish(
        apply_command(&sim.base, "admin")
            .arg(&input)
            .arg("-v")
            .arg("--run-dir")
            .arg(tmp.path().join("verbose"))
            .spawn()
            .unwrap(),
    );
    let stderr = String::from_utf8_lossy(&verbose.stderr);
    assert_eq!(verbose.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(" INFO ") && stderr.contains("logged on"),
        "-v shows info lines: {stderr}"
    );
    assert!(!stderr.contains(" DEBUG "), "-v is not debug: {stderr}");
    for out in [&quiet, &verbose] {
        assert!(
            !out.stderr.contains(&0x1b) && !out.stdout.contains(&0x1b),
            "escape codes written into a pipe"
        );
    }
}

#[test]
fn a_ca_cert_without_a_certificate_is_refused_with_advice() {
    let tmp = tempfile::tempdir().unwrap();
    let (csv, _) = rows(1);
    let input = tmp.path().join("rows.csv");
    std::fs::write(&input, csv).unwrap();
    for (name, text) in [
        ("empty.pem", ""),
        (
            "key-only.pem",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ),
    ] {
        let ca = tmp.path().join(name);
        std::fs::write(&ca, text).unwrap();
        // No server is needed: the certificate is read before any connection.
        let out = finish(
            apply_command("https://127.0.0.1:9", "admin")
                .arg(&input)
                .arg("--ca-cert")
                .arg(&ca)
                .arg("--run-dir")
                .arg(tmp.path().join(format!("run-{name}")))
                .spawn()
                .unwrap(),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        // A flag pointing at the wrong file is a usage error, not the server's.
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains(&*ca.display().to_string()) && stderr.contains("no PEM certificate"),
            "{name}: {stderr}"
        );
        assert!(
            !tmp.path().join(format!("run-{name}")).exists(),
            "a refused start leaves no run directory"
        );
    }
}
