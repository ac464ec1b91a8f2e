//! `apply` helpers shared by the end-to-end test binaries: an
//! [`ApplyRequest`] against an in-process simulator, a bounded run, and
//! readers of the simulator's inspection endpoints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipimport::cli::Wire;
use ipimport::config::{
    ConnectionSettings, EngineSettings, Secret, ValidationSettings, normalize_server_url,
};
use ipimport::engine::apply::{self, ApplyOutcome, ApplyRequest};
use ipimport::engine::progress::ProgressMode;
use ipimport::pipeline::InputOptions;
use ipimport::range::IpRange;
use ipimport::sim::SimHandle;
use tokio_util::sync::CancellationToken;

/// Bound every test: a hang is a failure, not a stuck suite.
pub const LIMIT: Duration = Duration::from_secs(60);

pub fn request(sim: &SimHandle, wire: Wire, inputs: &[PathBuf], run_dir: &Path) -> ApplyRequest {
    super::crypto();
    ApplyRequest {
        inputs: inputs.iter().map(|p| p.display().to_string()).collect(),
        input: InputOptions::default(),
        validation: ValidationSettings {
            backup_server: Some("backup01".into()),
            ..ValidationSettings::default()
        },
        connection: ConnectionSettings {
            server: normalize_server_url(sim.base_url()).unwrap(),
            user: "admin".into(),
            password_file: None,
            ca_cert: None,
            insecure: false,
            wire,
            timeout: Duration::from_secs(5),
        },
        password: Secret::new("admin"),
        engine: EngineSettings {
            rate: 400,
            burst: 1,
            concurrency: 8,
            max_per_request: 4096,
            task_timeout: Duration::from_secs(20),
            retries: 5,
            run_dir: Some(run_dir.to_path_buf()),
        },
        resume: None,
        progress: ProgressMode::Off,
        cancel: CancellationToken::new(),
    }
}

pub async fn run(req: ApplyRequest) -> anyhow::Result<ApplyOutcome> {
    tokio::time::timeout(LIMIT, apply::run(req))
        .await
        .expect("apply took too long")
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

pub async fn sim_json(sim: &SimHandle, path: &str) -> serde_json::Value {
    super::crypto();
    // The inspection endpoints only: the TLS test's certificate is checked by the engine.
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get(format!("{}{path}", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The simulator's pool: backup server UID -> addresses as sorted ranges.
pub async fn pool(sim: &SimHandle) -> BTreeMap<String, Vec<IpRange>> {
    let v = sim_json(sim, "/sim/pool").await;
    v.as_object()
        .unwrap()
        .iter()
        .map(|(uid, list)| {
            let mut ranges: Vec<IpRange> = list
                .as_array()
                .unwrap()
                .iter()
                .map(|a| IpRange::parse(a.as_str().unwrap()).unwrap())
                .collect();
            ranges.sort();
            (uid.clone(), ipimport::range::coalesce_sorted(&ranges))
        })
        .collect()
}

pub async fn posts(sim: &SimHandle) -> u64 {
    let s = sim_json(sim, "/sim/stats").await;
    s["by_route"]["POST /api/cloud/publicIpAddresses"]
        .as_u64()
        .unwrap_or(0)
}

pub async fn conflicting_posts(sim: &SimHandle) -> u64 {
    sim_json(sim, "/sim/stats").await["conflicting_posts"]
        .as_u64()
        .unwrap()
}
