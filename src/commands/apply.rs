//! `ipimport apply INPUT... --server URL --user NAME [--wire xml|json]
//! [--rate R] [--burst B] [--concurrency N] [--max-per-request N]
//! [--task-timeout SECS] [--retries N] [--run-dir DIR] [--skip-invalid]`
//! and `ipimport apply --resume RUN_DIR`.
//!
//! Plans (validate, resolve backup servers, read the pool), then submits what
//! is missing under the rate limiter, polls every task to its end, reconciles
//! anything in doubt against the pool, and writes the run directory
//! (`journal.jsonl`, `report.json`, `report.csv`, `report.md`). The password
//! comes from `IPIMPORT_PASSWORD`, `--password-file` or a prompt.
//!
//! ```text
//! $ IPIMPORT_PASSWORD=... ipimport apply --server https://em01:9398 --user admin \
//!       --backup-server backup01 ranges.csv
//! $ ipimport apply --resume ipimport-runs/20261203T171500Z-3f9a1c
//! ```
//!
//! Exit: 0 every row ok; 1 some rows failed (or, with --skip-invalid, were
//! invalid); 2 invalid input, nothing submitted; 3 server unreachable,
//! refused the logon, or not understood; 4 run directory locked; 130
//! interrupted (resume it).

use std::io::Write;

use tokio_util::sync::CancellationToken;

use crate::cli::{ApplyArgs, OutputFormat};
use crate::config::{
    ConnectionSettings, EngineSettings, FileConfig, ValidationSettings, resolve_password,
};
use crate::engine::apply::{self, ApplyOutcome, ApplyRequest};
use crate::engine::progress::ProgressMode;
use crate::exit::{Exit, fatal};
use crate::pipeline::InputOptions;

pub fn run(args: ApplyArgs) -> anyhow::Result<Exit> {
    let file = FileConfig::load(args.validation.config.as_deref())?;
    let validation =
        ValidationSettings::resolve(&args.validation, args.input.sheet.as_ref(), &file)?;
    let mut connection_args = args.connection.clone();
    if let Some(dir) = &args.resume {
        // The journal names the server and user; flags and environment win.
        let origin = apply::journal_origin(dir)?;
        connection_args.server = connection_args.server.or(Some(origin.server));
        connection_args.user = connection_args.user.or(Some(origin.user));
        connection_args.wire = connection_args.wire.or(Some(origin.wire));
    } else if args.input.inputs.is_empty() {
        return Err(fatal(
            Exit::Invalid,
            "nothing to apply: give INPUT files (or - for standard input), or --resume RUN_DIR",
        ));
    }
    let connection = ConnectionSettings::resolve(&connection_args, &file)?;
    let engine = EngineSettings::resolve(&args.engine, &file)?;
    let password = resolve_password(&connection)?;
    let format = validation.format;
    let request = ApplyRequest {
        inputs: args.input.inputs.clone(),
        input: InputOptions {
            format: args.input.input_format,
            sheet: validation.sheet.clone(),
        },
        validation,
        connection,
        password,
        engine,
        resume: args.resume.clone(),
        progress: ProgressMode::Auto,
        cancel: CancellationToken::new(),
    };
    let runtime = super::client_runtime()?;
    let outcome = runtime.block_on(run_interruptible(request))?;
    write_summary(&outcome, format, &mut std::io::stdout().lock())?;
    Ok(outcome.exit)
}

/// Run `apply` with Ctrl-C and SIGTERM wired to its cancellation: stop submitting, wait
/// briefly for tasks in flight, write the journal and the report.
pub(crate) async fn run_interruptible(request: ApplyRequest) -> anyhow::Result<ApplyOutcome> {
    let cancel = request.cancel.clone();
    let watcher = tokio::spawn(async move {
        super::interrupt_signal().await;
        eprintln!(
            "interrupted: no new requests; waiting briefly for tasks in flight, then writing the journal and report"
        );
        cancel.cancel();
    });
    let outcome = apply::run(request).await;
    watcher.abort();
    outcome
}

/// The end-of-run summary on stdout: text for a person, JSON for scripts.
pub(crate) fn write_summary(
    outcome: &ApplyOutcome,
    format: OutputFormat,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let report = &outcome.report;
    let s = &report.summary;
    match format {
        OutputFormat::Json => {
            let value = serde_json::json!({
                "run_id": report.run_id,
                "run_dir": outcome.run_dir.display().to_string(),
                "exit": outcome.exit.code(),
                "summary": serde_json::to_value(s)?,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        }
        OutputFormat::Text => {
            let counts = crate::report::RowCounts::of(&report.rows);
            writeln!(
                out,
                "{} rows: {} created, {} present, {} failed, {} invalid, {} skipped",
                s.rows_total,
                counts.created,
                counts.present,
                counts.failed,
                counts.invalid,
                counts.skipped
            )?;
            writeln!(
                out,
                "{} addresses desired: {} were present, {} added, {} missing",
                s.addresses_desired, s.addresses_present, s.addresses_created, s.addresses_failed
            )?;
            writeln!(
                out,
                "{} requests sent ({} tasks succeeded, {} failed); {} HTTP requests, {} retries, {:.1} s",
                s.requests_submitted,
                s.tasks_succeeded,
                s.tasks_failed,
                s.http_requests,
                s.retries,
                s.duration_s
            )?;
            for row in report.rows.iter().filter(|r| !r.status.is_ok()).take(20) {
                writeln!(
                    out,
                    "  {} {}:{} {}-{}: {}",
                    row.status, row.source, row.line, row.first, row.last, row.detail
                )?;
            }
            writeln!(
                out,
                "report: {}",
                outcome.run_dir.join(crate::report::REPORT_MD).display()
            )?;
            if outcome.exit == Exit::Interrupted {
                writeln!(
                    out,
                    "interrupted: finish with `ipimport apply --resume {}`",
                    outcome.run_dir.display()
                )?;
            }
        }
    }
    Ok(())
}
