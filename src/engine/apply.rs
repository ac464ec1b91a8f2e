//! `apply` as a library: plan, journal, execute, reconcile, report.
//!
//! [`run`] is what `ipimport apply`, `ipimport demo`, the tests and the bench
//! call. It returns the exit code the contract asks for with the report it
//! wrote; errors that end the run early carry their exit code
//! ([`crate::exit::classify`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, SecondsFormat, Utc};
use tokio_util::sync::CancellationToken;

use crate::config::{ConnectionSettings, EngineSettings, Secret, ValidationSettings};
use crate::em::client::EmClient;
use crate::em::limiter::RequestLimiter;
use crate::em::retry::RetryPolicy;
use crate::engine::events::{Event, LOST_TIMEOUT, LOST_VANISHED, PlanRecord};
use crate::engine::execute::{Ending, Engine, Req, ReqStatus, RunState};
use crate::engine::plan;
use crate::engine::progress::{ProgressCounts, ProgressMode};
use crate::engine::recorder::{Recorder, read_events};
use crate::engine::rundir::RunDir;
use crate::exit::{Exit, fatal};
use crate::pipeline::{self, Batch, InputOptions};
use crate::range::{IpRange, coalesce_sorted};
use crate::report::{RequestReport, RowReport, RowStatus, RunReport, Summary, row_outcome};

/// Everything `apply` needs, resolved.
#[derive(Debug, Clone)]
pub struct ApplyRequest {
    /// Input paths (ignored when resuming).
    pub inputs: Vec<String>,
    pub input: InputOptions,
    pub validation: ValidationSettings,
    pub connection: ConnectionSettings,
    pub password: Secret,
    pub engine: EngineSettings,
    /// `--resume RUN_DIR`.
    pub resume: Option<PathBuf>,
    pub progress: ProgressMode,
    /// Cancelled on Ctrl-C: stop submitting, wait briefly, write everything, exit 130.
    pub cancel: CancellationToken,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct ApplyOutcome {
    pub exit: Exit,
    pub run_dir: PathBuf,
    pub report: RunReport,
    /// The progress counters at the end: requests of the run and how many finished.
    pub progress: ProgressCounts,
}

/// Where a run came from, as its journal records it (for `--resume`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalOrigin {
    pub server: String,
    pub user: String,
    pub wire: crate::cli::Wire,
}

/// The server, user and wire format a run directory's journal records.
pub fn journal_origin(run_dir: &Path) -> anyhow::Result<JournalOrigin> {
    crate::engine::rundir::check_is_run_dir(run_dir)?;
    let events = read_events(&run_dir.join(crate::engine::journal::JOURNAL_FILE))?;
    events
        .into_iter()
        .find_map(|e| match e {
            Event::Start {
                server, user, wire, ..
            } => Some(JournalOrigin { server, user, wire }),
            _ => None,
        })
        .ok_or_else(|| {
            fatal(
                Exit::Invalid,
                format!(
                    "the journal in {} has no start record; it cannot be resumed",
                    run_dir.display()
                ),
            )
        })
}

/// Run `apply` (or `apply --resume`).
pub async fn run(request: ApplyRequest) -> anyhow::Result<ApplyOutcome> {
    match request.resume.clone() {
        Some(dir) => resume(request, &dir).await,
        None => fresh(request).await,
    }
}

fn now_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn new_client(request: &ApplyRequest) -> anyhow::Result<Arc<EmClient>> {
    let limiter = Arc::new(RequestLimiter::new(
        request.engine.rate,
        request.engine.burst,
    ));
    Ok(Arc::new(EmClient::new(
        &request.connection,
        request.password.clone(),
        limiter,
        RetryPolicy::new(request.engine.retries),
    )?))
}

/// Print the batch's diagnostics and the error that refuses the whole run.
fn refuse_invalid(batch: &Batch) -> anyhow::Result<anyhow::Error> {
    let mut text = Vec::new();
    batch.write_text(&mut text)?;
    eprint!("{}", String::from_utf8_lossy(&text));
    Ok(fatal(
        Exit::Invalid,
        format!(
            "{} of {} rows are invalid; nothing was submitted. Fix them, or pass --skip-invalid to apply the valid rows",
            batch.rows_invalid, batch.rows_total
        ),
    ))
}

async fn fresh(request: ApplyRequest) -> anyhow::Result<ApplyOutcome> {
    let started_at = Utc::now();
    let clock = Instant::now();
    let inputs = request.inputs.clone();
    let input = request.input.clone();
    let validation = request.validation.clone();
    let batch = tokio::task::spawn_blocking(move || {
        pipeline::load_batch(&inputs, &input, &validation, true)
    })
    .await??;
    if batch.has_errors() && !request.validation.skip_invalid {
        return Err(refuse_invalid(&batch)?);
    }
    // The client first: a bad --ca-cert should not leave a run directory behind.
    let client = new_client(&request)?;
    let run_dir = RunDir::create(request.engine.run_dir.as_deref(), started_at)?;
    let planned = async {
        client.logon().await?;
        plan::build(&client, batch, request.engine.max_per_request).await
    }
    .await;
    let plan = match planned {
        Ok(plan) => plan,
        Err(e) => {
            client.logoff().await;
            forget_empty_run_dir(&run_dir);
            return Err(e.into_fatal());
        }
    };
    if plan.refused(request.validation.skip_invalid) {
        client.logoff().await;
        forget_empty_run_dir(&run_dir);
        return Err(refuse_invalid(&plan.batch)?);
    }
    // From here the session is open: log off on every error path.
    let journaled = (|| -> anyhow::Result<(Recorder, PlanRecord, RunState)> {
        let journal = Recorder::create(&run_dir.journal_path())?;
        journal.record(&Event::Start {
            run_id: run_dir.run_id().to_string(),
            server: request.connection.server.clone(),
            user: request.connection.user.clone(),
            wire: request.connection.wire,
            at: now_text(started_at),
            resumed: false,
        })?;
        let record = plan.record();
        journal.record(&Event::Plan(Box::new(record.clone())))?;
        tracing::info!(
            requests = record.requests.len(),
            present = %record.addresses_present,
            run_dir = %run_dir.path().display(),
            "planned"
        );
        let mut state = RunState::default();
        for r in &record.requests {
            state.push(r.backup_server_uid.clone(), r.range.to_range()?, None);
        }
        Ok((journal, record, state))
    })();
    let (journal, record, state) = match journaled {
        Ok(parts) => parts,
        Err(e) => {
            client.logoff().await;
            return Err(e);
        }
    };
    let engine = Engine::new(
        client,
        journal,
        state,
        &request.engine,
        request.progress,
        request.cancel.clone(),
    );
    finish(
        engine, &run_dir, &record, &request, started_at, clock, false,
    )
    .await
}

async fn resume(request: ApplyRequest, dir: &Path) -> anyhow::Result<ApplyOutcome> {
    let started_at = Utc::now();
    let clock = Instant::now();
    let run_dir = RunDir::open_existing(dir)?;
    let events = read_events(&run_dir.journal_path())?;
    let (record, state) = replay(&events)?;
    let client = new_client(&request)?;
    if let Err(e) = client.logon().await {
        return Err(e.into_fatal());
    }
    let journaled = Recorder::open_append(&run_dir.journal_path()).and_then(|journal| {
        journal.record(&Event::Start {
            run_id: run_dir.run_id().to_string(),
            server: request.connection.server.clone(),
            user: request.connection.user.clone(),
            wire: request.connection.wire,
            at: now_text(started_at),
            resumed: true,
        })?;
        Ok(journal)
    });
    let journal = match journaled {
        Ok(journal) => journal,
        Err(e) => {
            client.logoff().await;
            return Err(e);
        }
    };
    let open = state
        .reqs
        .iter()
        .filter(|r| matches!(r.status, ReqStatus::Unknown | ReqStatus::Recheck))
        .count() as u64;
    tracing::info!(open, run_dir = %dir.display(), "resuming");
    let engine = Engine::new(
        client,
        journal,
        state,
        &request.engine,
        request.progress,
        request.cancel.clone(),
    );
    finish(engine, &run_dir, &record, &request, started_at, clock, true).await
}

/// Rebuild the plan and the state of every request from a journal. What was
/// in flight when the run stopped is in doubt; what was never sent is
/// checked against the pool again before it is sent.
pub fn replay(events: &[Event]) -> anyhow::Result<(PlanRecord, RunState)> {
    let mut record: Option<PlanRecord> = None;
    let mut state = RunState::default();
    let bad = |what: String| {
        fatal(
            Exit::Invalid,
            format!("the journal is inconsistent: {what}"),
        )
    };
    for event in events {
        match event {
            Event::Plan(p) => {
                for r in &p.requests {
                    state.push(r.backup_server_uid.clone(), r.range.to_range()?, None);
                }
                record = Some((**p).clone());
            }
            Event::Intent { req, .. } => {
                let r = req_mut(&mut state, *req).ok_or_else(|| bad(format!("request {req}")))?;
                r.status = ReqStatus::Sending;
                r.attempts += 1;
            }
            Event::Accepted { req, task } => {
                state.known_tasks.insert(task.clone());
                let r = req_mut(&mut state, *req).ok_or_else(|| bad(format!("request {req}")))?;
                r.status = ReqStatus::Accepted;
                r.task = Some(task.clone());
            }
            Event::NotActed {
                req,
                detail,
                gave_up,
            } => {
                let r = req_mut(&mut state, *req).ok_or_else(|| bad(format!("request {req}")))?;
                r.status = if *gave_up {
                    ReqStatus::NotSent
                } else {
                    ReqStatus::Pending
                };
                r.message = detail.clone();
            }
            Event::Unknown { req, detail } => {
                let r = req_mut(&mut state, *req).ok_or_else(|| bad(format!("request {req}")))?;
                r.status = ReqStatus::Unknown;
                r.message = detail.clone();
            }
            Event::TaskDone {
                req,
                success,
                message,
                duration_ms,
                ..
            } => {
                state.learn(std::time::Duration::from_millis(*duration_ms));
                let r = req_mut(&mut state, *req).ok_or_else(|| bad(format!("request {req}")))?;
                r.status = if *success {
                    ReqStatus::Succeeded
                } else {
                    ReqStatus::TaskFailed
                };
                r.success = Some(*success);
                r.message = message.clone();
            }
            Event::TaskLost { req, reason, task } => {
                let r = req_mut(&mut state, *req).ok_or_else(|| bad(format!("request {req}")))?;
                r.status = ReqStatus::Unknown;
                if reason == LOST_VANISHED {
                    // Still perhaps running: waited for in the pool, counted
                    // from this process's start (later than its acceptance).
                    r.unseen_task_since = Some(std::time::Instant::now());
                }
                if reason == LOST_TIMEOUT {
                    r.timed_out = true;
                    r.success = Some(false);
                }
                r.message = format!("task {task}: {reason}");
            }
            Event::Reconciled { req, missing, then } => {
                let uid = req_mut(&mut state, *req)
                    .ok_or_else(|| bad(format!("request {req}")))?
                    .uid
                    .clone();
                state.reqs[*req as usize].status = ReqStatus::Reconciled;
                for (piece, id) in missing.iter().zip(then) {
                    let new = state.push(uid.clone(), piece.to_range()?, Some(*req));
                    if new != *id {
                        return Err(bad(format!("reconciled request {id} replayed as {new}")));
                    }
                }
            }
            Event::Start { .. } | Event::Interrupted { .. } | Event::Finish { .. } => {}
        }
    }
    let record = record.ok_or_else(|| bad("no plan record".into()))?;
    for r in state.reqs.iter_mut() {
        // Session numbers belong to the process that logged on.
        r.session = 0;
        if r.status == ReqStatus::Accepted {
            // Its task was running when the process stopped; this one's
            // logon session cannot see it, so its range is waited for in
            // the pool, counted from now (later than its acceptance).
            r.unseen_task_since = Some(std::time::Instant::now());
        }
        r.status = match r.status {
            ReqStatus::Sending | ReqStatus::Accepted | ReqStatus::Unknown => ReqStatus::Unknown,
            // Never acted on by the server: not sent there (a request given
            // up on, say while the server was down, is sent again once the
            // pool shows it missing: the resume is the retry).
            ReqStatus::Pending | ReqStatus::NotSent => ReqStatus::Recheck,
            ref other => other.clone(),
        };
    }
    Ok((record, state))
}

fn req_mut(state: &mut RunState, id: u64) -> Option<&mut Req> {
    state.reqs.get_mut(id as usize)
}

/// Execute, then read the pools, write the report and log off.
async fn finish(
    engine: Arc<Engine>,
    run_dir: &RunDir,
    record: &PlanRecord,
    request: &ApplyRequest,
    started_at: DateTime<Utc>,
    clock: Instant,
    resumed: bool,
) -> anyhow::Result<ApplyOutcome> {
    let executed = engine.execute().await;
    engine.progress.done();
    // The journal holds every step taken: a run stopped by an error is
    // finished, not started over.
    let stopped = |e: anyhow::Error| {
        e.context(format!(
            "apply stopped before its end (its journal keeps every request sent: once the \
             cause below is fixed, finish it with `ipimport apply --resume {}`)",
            run_dir.path().display()
        ))
    };
    let ending = match executed {
        Ok(ending) => ending,
        Err(e) => {
            engine.client.logoff().await;
            return Err(stopped(e));
        }
    };
    if ending == Ending::Interrupted
        && let Err(e) = engine.journal.record(&Event::Interrupted {
            at: now_text(Utc::now()),
        })
    {
        engine.client.logoff().await;
        return Err(e);
    }
    let uids: BTreeSet<String> = record
        .desired
        .iter()
        .map(|p| p.backup_server_uid.clone())
        .collect();
    let after = match engine.read_pools(&uids).await {
        Ok(pools) => pools,
        Err(e) => {
            engine.client.logoff().await;
            return Err(stopped(e));
        }
    };
    engine.client.logoff().await;
    let report = build_report(
        &engine,
        run_dir.run_id(),
        record,
        &after,
        &request.connection.server,
        started_at,
        clock,
        resumed,
        ending,
    )?;
    let exit = exit_code(&report, ending);
    crate::report::write_run_reports(run_dir.path(), &report).map_err(|e| {
        fatal(
            Exit::Invalid,
            format!(
                "cannot write the report in {}: {e}",
                run_dir.path().display()
            ),
        )
    })?;
    engine.journal.record(&Event::Finish {
        at: now_text(report.finished_at),
        exit: exit.code(),
    })?;
    Ok(ApplyOutcome {
        exit,
        run_dir: run_dir.path().to_path_buf(),
        report,
        progress: engine.progress.counts(),
    })
}

/// 130 when interrupted; 1 when any row failed, was skipped, or (with
/// `--skip-invalid`) was invalid: "0" promises every row is ok, and "2"
/// promises nothing was submitted; else 0.
fn exit_code(report: &RunReport, ending: Ending) -> Exit {
    if ending == Ending::Interrupted {
        return Exit::Interrupted;
    }
    if report.rows.iter().all(|r| r.status.is_ok()) {
        Exit::Ok
    } else {
        Exit::RowsFailed
    }
}

fn pools_of(
    list: &[crate::engine::events::PoolRanges],
) -> anyhow::Result<BTreeMap<String, Vec<IpRange>>> {
    let mut out = BTreeMap::new();
    for p in list {
        let mut ranges = p
            .ranges
            .iter()
            .map(|r| r.to_range())
            .collect::<anyhow::Result<Vec<_>>>()?;
        ranges.sort();
        out.insert(p.backup_server_uid.clone(), coalesce_sorted(&ranges));
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn build_report(
    engine: &Engine,
    run_id: &str,
    record: &PlanRecord,
    after: &BTreeMap<String, Vec<IpRange>>,
    server: &str,
    started_at: DateTime<Utc>,
    clock: Instant,
    resumed: bool,
    ending: Ending,
) -> anyhow::Result<RunReport> {
    let before = pools_of(&record.present_before)?;
    let desired = pools_of(&record.desired)?;
    let st = engine.state.lock().expect("run state lock poisoned");
    let empty = Vec::new();
    // Requests per backup server, for the rows' task lists and messages.
    let mut by_uid: BTreeMap<&str, Vec<&Req>> = BTreeMap::new();
    for r in &st.reqs {
        by_uid.entry(r.uid.as_str()).or_default().push(r);
    }
    let mut rows = Vec::with_capacity(record.rows.len());
    for row in &record.rows {
        let mut report_row = RowReport {
            source: row.source.clone(),
            line: row.line,
            backup_server: row.backup_server.clone(),
            first: row.first.clone(),
            last: row.last.clone(),
            status: RowStatus::Invalid,
            detail: row.errors.join("; "),
            tasks: Vec::new(),
            comment: row.comment.clone(),
        };
        let (Some(uid), true) = (&row.backup_server_uid, row.errors.is_empty()) else {
            rows.push(report_row);
            continue;
        };
        let range = IpRange::from_bounds_text(&row.first, &row.last)
            .map_err(|e| anyhow::anyhow!("row {}:{}: {e}", row.source, row.line))?;
        let outcome = row_outcome(
            &range,
            before.get(uid).unwrap_or(&empty),
            after.get(uid).unwrap_or(&empty),
        );
        let touching: Vec<&Req> = by_uid
            .get(uid.as_str())
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|r| r.range.overlaps(&range))
                    .collect()
            })
            .unwrap_or_default();
        report_row.tasks = touching.iter().filter_map(|r| r.task.clone()).collect();
        report_row.status = outcome.status;
        report_row.detail = outcome.describe(&range);
        if outcome.status == RowStatus::Failed {
            let attempted = touching.iter().any(|r| r.attempts > 0);
            if ending == Ending::Interrupted && !attempted {
                report_row.status = RowStatus::Skipped;
                report_row.detail = "not attempted: the run was interrupted; resume it".into();
            } else {
                let mut reasons: BTreeSet<String> = touching
                    .iter()
                    .filter(|r| {
                        matches!(r.status, ReqStatus::TaskFailed | ReqStatus::NotSent)
                            || !r.message.is_empty() && r.status != ReqStatus::Succeeded
                    })
                    .filter(|r| !r.message.is_empty())
                    .map(|r| r.message.clone())
                    .collect();
                if ending == Ending::Interrupted {
                    // Not a failure of the server: the run stopped first.
                    for r in &touching {
                        if matches!(r.status, ReqStatus::Accepted | ReqStatus::Sending) {
                            reasons.insert(format!(
                                "{} was still running when the run was interrupted; resume the run to finish it",
                                r.task.as_deref().map_or("its request".to_string(), |t| format!("task {t}"))
                            ));
                        }
                    }
                }
                if !reasons.is_empty() {
                    report_row.detail = format!(
                        "{}; {}",
                        report_row.detail,
                        reasons.into_iter().collect::<Vec<_>>().join("; ")
                    );
                }
            }
        }
        rows.push(report_row);
    }
    let requests: Vec<RequestReport> = st
        .reqs
        .iter()
        // A range a resume only compared with the pool was never a request:
        // the pieces cut from it (if any) are.
        .filter(|r| !(r.attempts == 0 && r.status == ReqStatus::Reconciled))
        .map(|r| RequestReport {
            backup_server_uid: r.uid.clone(),
            first: r.range.first_addr().to_string(),
            last: r.range.last_addr().to_string(),
            addresses: r.range.count(),
            task_id: r.task.clone(),
            state: r.state_name().to_string(),
            success: r.success,
            message: r.message.clone(),
            attempts: r.attempts,
        })
        .collect();
    let mut missing_after = 0u128;
    for (uid, ranges) in &desired {
        let pool = after.get(uid).unwrap_or(&empty);
        for d in ranges {
            missing_after += d.subtract(pool).iter().map(IpRange::count).sum::<u128>();
        }
    }
    let client = engine.client.stats();
    let post_retries = engine.stats.lock().expect("stats lock").post_retries;
    let finished_at = Utc::now();
    let mut summary = Summary {
        rows_total: 0,
        rows_invalid: 0,
        rows_ok: 0,
        rows_failed: 0,
        ranges_merged: record.ranges_merged,
        addresses_desired: record.addresses_desired,
        addresses_present: record.addresses_present,
        addresses_created: record
            .addresses_desired
            .saturating_sub(missing_after)
            .saturating_sub(record.addresses_present),
        addresses_failed: missing_after,
        requests_submitted: st.reqs.iter().filter(|r| r.attempts > 0).count() as u64,
        tasks_succeeded: st.reqs.iter().filter(|r| r.success == Some(true)).count() as u64,
        // Failed tasks and tasks given up on at --task-timeout, as the contract counts them.
        tasks_failed: st.reqs.iter().filter(|r| r.success == Some(false)).count() as u64,
        task_polls: client.task_polls,
        http_requests: client.http_requests,
        retries: client.retries + post_retries,
        duration_s: clock.elapsed().as_secs_f64(),
    };
    summary.tally_rows(&rows);
    Ok(RunReport {
        run_id: run_id.to_string(),
        server: server.to_string(),
        started_at,
        finished_at,
        resumed,
        summary,
        rows,
        requests,
    })
}

/// A run that failed before planning leaves no journal: remove its empty
/// directory so failed cron runs do not pile up.
fn forget_empty_run_dir(run_dir: &RunDir) {
    if run_dir.journal_path().exists() {
        return;
    }
    let only_lock = std::fs::read_dir(run_dir.path())
        .map(|entries| {
            entries
                .flatten()
                .all(|e| e.file_name() == crate::engine::rundir::LOCK_FILE)
        })
        .unwrap_or(false);
    if only_lock {
        let _ = std::fs::remove_dir_all(run_dir.path());
    }
}
