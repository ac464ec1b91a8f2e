//! `ipimport demo [--wire xml|json] [--samples DIR] [--run-dir DIR] [--task-ms N]`
//!
//! Starts the built-in simulator in-process on a free loopback port, applies
//! the sample files (`samples/*.csv`, `*.yaml`, `*.xlsx`, default backup
//! server `backup01`), prints the summary and the report's path. Nothing
//! leaves the machine.
//!
//! ```text
//! $ cargo run --release -- demo
//! ```
//!
//! Exit codes as for `apply`.

use std::path::Path;

use tokio_util::sync::CancellationToken;

use crate::cli::{DemoArgs, OutputFormat};
use crate::config::{
    ConnectionSettings, EngineSettings, Secret, ValidationSettings, normalize_server_url,
};
use crate::engine::apply::ApplyRequest;
use crate::engine::progress::ProgressMode;
use crate::exit::{Exit, fatal};
use crate::pipeline::InputOptions;
use crate::sim::SimConfig;

/// The simulator's demo account.
const DEMO_USER: &str = "admin";
const DEMO_PASSWORD: &str = "admin";
const DEMO_BACKUP_SERVER: &str = "backup01";

pub fn run(args: DemoArgs) -> anyhow::Result<Exit> {
    let inputs = sample_files(&args.samples)?;
    let runtime = super::client_runtime()?;
    runtime.block_on(async {
        let sim = crate::sim::start(SimConfig {
            listen: "127.0.0.1:0".into(),
            users: vec![(DEMO_USER.into(), DEMO_PASSWORD.into())],
            backup_servers: vec![(DEMO_BACKUP_SERVER.into(), None)],
            task_time: std::time::Duration::from_millis(args.task_ms),
            ..SimConfig::default()
        })
        .await?;
        eprintln!(
            "simulator listening on {} (user {DEMO_USER}); applying {}",
            sim.base_url(),
            inputs.join(", ")
        );
        let request = ApplyRequest {
            inputs,
            input: InputOptions::default(),
            validation: ValidationSettings {
                backup_server: Some(DEMO_BACKUP_SERVER.into()),
                ..ValidationSettings::default()
            },
            connection: ConnectionSettings {
                server: normalize_server_url(sim.base_url())?,
                user: DEMO_USER.into(),
                password_file: None,
                ca_cert: None,
                insecure: false,
                wire: args.wire,
                timeout: std::time::Duration::from_secs(30),
            },
            password: Secret::new(DEMO_PASSWORD),
            engine: EngineSettings {
                rate: 50,
                run_dir: args.run_dir.clone(),
                ..EngineSettings::default()
            },
            resume: None,
            progress: ProgressMode::Auto,
            cancel: CancellationToken::new(),
        };
        let outcome = super::apply::run_interruptible(request).await;
        sim.stop().await;
        let outcome = outcome?;
        super::apply::write_summary(&outcome, OutputFormat::Text, &mut std::io::stdout().lock())?;
        Ok(outcome.exit)
    })
}

/// The sample files to apply: every `.csv`, `.yaml`/`.yml` and `.xlsx` in
/// `dir` except those named `bad*` (the samples of invalid input).
fn sample_files(dir: &Path) -> anyhow::Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        fatal(
            Exit::Invalid,
            format!(
                "cannot read the samples directory {}: {e}; run the demo from the project's root or pass --samples DIR",
                dir.display()
            ),
        )
    })?;
    let mut files: Vec<String> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let ext = p
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            matches!(ext.as_str(), "csv" | "yaml" | "yml" | "xlsx") && !stem.starts_with("bad")
        })
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(fatal(
            Exit::Invalid,
            format!("no sample files (.csv, .yaml, .xlsx) in {}", dir.display()),
        ));
    }
    Ok(files)
}
