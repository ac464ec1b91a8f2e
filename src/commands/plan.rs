//! `ipimport plan INPUT... --server URL --user NAME [--backup-server NAME|UID]
//! [--max-per-request N] [--skip-invalid] [--format text|json]`
//!
//! Validates and merges like `validate`, resolves backup server names, reads
//! the live pool and prints what `apply` would submit (`to_submit`) and how
//! many desired addresses are present already. Reads only. With invalid rows
//! and no `--skip-invalid`, apply would send nothing, so `to_submit` is empty.
//!
//! ```text
//! $ IPIMPORT_PASSWORD=... ipimport plan --server https://em01:9398 --user admin \
//!       --backup-server backup01 --format json ranges.csv
//! ```
//!
//! Exit: 0 no errors; 2 invalid rows (unknown backup servers included);
//! 3 server unreachable, refused the logon, or not understood.

use std::io::Write;
use std::sync::Arc;

use crate::cli::{EngineArgs, OutputFormat, PlanArgs};
use crate::config::{
    ConnectionSettings, EngineSettings, FileConfig, ValidationSettings, resolve_password,
};
use crate::em::client::EmClient;
use crate::em::limiter::RequestLimiter;
use crate::em::retry::RetryPolicy;
use crate::engine::plan;
use crate::exit::Exit;
use crate::pipeline::{InputOptions, load_batch};

pub fn run(args: PlanArgs) -> anyhow::Result<Exit> {
    let file = FileConfig::load(args.validation.config.as_deref())?;
    let validation =
        ValidationSettings::resolve(&args.validation, args.input.sheet.as_ref(), &file)?;
    let connection = ConnectionSettings::resolve(&args.connection, &file)?;
    let engine = EngineSettings::resolve(
        &EngineArgs {
            max_per_request: args.max_per_request,
            ..EngineArgs::default()
        },
        &file,
    )?;
    let opts = InputOptions {
        format: args.input.input_format,
        sheet: validation.sheet.clone(),
    };
    let batch = load_batch(&args.input.inputs, &opts, &validation, true)?;
    let password = resolve_password(&connection)?;
    let client = EmClient::new(
        &connection,
        password,
        Arc::new(RequestLimiter::new(engine.rate, engine.burst)),
        RetryPolicy::new(engine.retries),
    )?;
    let runtime = super::client_runtime()?;
    let plan = runtime.block_on(async {
        let result = async {
            client.logon().await?;
            plan::build(&client, batch, engine.max_per_request).await
        }
        .await;
        client.logoff().await;
        result
    });
    let plan = plan.map_err(|e| e.into_fatal())?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match validation.format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &plan.to_json(validation.skip_invalid))?;
            writeln!(out)?;
        }
        OutputFormat::Text => plan.write_text(&mut out, validation.skip_invalid)?,
    }
    out.flush()?;
    Ok(if plan.batch.has_errors() {
        Exit::Invalid
    } else {
        Exit::Ok
    })
}
