//! Executing a plan: submit every pending request under the concurrency
//! limit, poll the tasks in flight together, and reconcile whatever ended in
//! doubt against the pool, round after round, until nothing is left to send.
//!
//! Every step is journaled before it is taken ([`super::events`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::EngineSettings;
use crate::em::client::{EmClient, PostAttempt, TaskStatus};
use crate::em::error::EmError;
use crate::em::retry::RetryPolicy;
use crate::engine::cut::missing_pieces;
use crate::engine::events::{Event, LOST_TIMEOUT, LOST_VANISHED, RangeText};
use crate::engine::progress::{Progress, ProgressCounts};
use crate::engine::recorder::Recorder;
use crate::range::IpRange;

/// Reconciliation rounds before the engine gives up on a range.
const MAX_ROUNDS: u32 = 25;
/// How long reconciliation waits between pool reads before any task was seen.
const SETTLE_BEFORE_ANY_TASK: Duration = Duration::from_secs(5);
/// How long an interrupted run waits for its tasks in flight.
const INTERRUPT_GRACE: Duration = Duration::from_secs(5);

/// Where a request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReqStatus {
    /// Not sent yet.
    Pending,
    /// Planned in an earlier process and not sent there: compare with the
    /// pool before sending (no settling needed).
    Recheck,
    /// Intent journaled; the POST is on its way.
    Sending,
    /// The server accepted it; its task runs.
    Accepted,
    /// Its task finished successfully.
    Succeeded,
    /// Its task finished with `Success="false"`: not sent again in this run.
    TaskFailed,
    /// The server did not act on it and will not (refused, or retries spent).
    NotSent,
    /// Its outcome is unknown (lost reply, vanished or timed-out task).
    Unknown,
    /// Read back from the pool; what was missing became new requests.
    Reconciled,
}

/// One request: a range for one backup server.
#[derive(Debug, Clone)]
pub struct Req {
    pub id: u64,
    pub uid: String,
    pub range: IpRange,
    pub status: ReqStatus,
    pub attempts: u32,
    pub task: Option<String>,
    pub success: Option<bool>,
    pub message: String,
    /// The logon session the last attempt was sent under.
    pub session: u64,
    /// The request this one was cut from by reconciliation.
    pub parent: Option<u64>,
    /// How old its task was when last seen still running.
    pub seen_running: Duration,
    /// Its task was given up on at `--task-timeout` (counts as failed).
    pub timed_out: bool,
    /// Its task was accepted (at this instant or before) but this session
    /// cannot see it: it vanished with an old logon session, or an
    /// interrupted process was polling it. Its range is waited for in the
    /// pool before anything is settled ([`Engine::wait_for_unseen_tasks`]).
    pub unseen_task_since: Option<Instant>,
}

impl Req {
    pub fn new(id: u64, uid: String, range: IpRange, parent: Option<u64>) -> Req {
        Req {
            id,
            uid,
            range,
            status: ReqStatus::Pending,
            attempts: 0,
            task: None,
            success: None,
            message: String::new(),
            session: 0,
            parent,
            seen_running: Duration::ZERO,
            timed_out: false,
            unseen_task_since: None,
        }
    }

    /// The `state` string of `report.json`'s `requests`.
    pub fn state_name(&self) -> &'static str {
        match self.status {
            ReqStatus::Pending | ReqStatus::Recheck => "not_sent",
            ReqStatus::Sending => "sending",
            ReqStatus::Accepted => "Running",
            ReqStatus::Succeeded | ReqStatus::TaskFailed => "Finished",
            ReqStatus::NotSent => "rejected",
            ReqStatus::Unknown => "unknown",
            ReqStatus::Reconciled => "reconciled",
        }
    }
}

/// What the engine knows while it runs.
#[derive(Debug, Default)]
pub struct RunState {
    pub reqs: Vec<Req>,
    /// Every task id this run was given.
    pub known_tasks: HashSet<String>,
    /// Longest task seen (acceptance to the poll that saw it finished).
    pub longest_task: Option<Duration>,
    /// Moving average of task durations, for the polling interval.
    pub typical_task: Option<Duration>,
    /// Shortest task seen: no task younger than this needs a poll.
    pub shortest_task: Option<Duration>,
}

impl RunState {
    /// How far apart two reads of the pool must be to show that no task is
    /// still adding to it: the longest task seen finished (5 s before any
    /// was), and no less than any task was seen running. A task's age when
    /// last seen running is a lower bound on its duration, and may be all
    /// that a run whose tasks keep vanishing ever learns. Tasks given up on
    /// at `--task-timeout` do not count: they would hold every run for that long.
    pub fn settle_gap(&self) -> Duration {
        let running = self
            .reqs
            .iter()
            .filter(|r| !r.timed_out)
            .map(|r| r.seen_running)
            .max()
            .unwrap_or_default();
        self.longest_task
            .unwrap_or(SETTLE_BEFORE_ANY_TASK)
            .max(running)
    }
}

impl RunState {
    /// Learn from one task's duration (longest and typical).
    pub fn learn(&mut self, d: Duration) {
        self.longest_task = Some(self.longest_task.map_or(d, |l| l.max(d)));
        self.shortest_task = Some(self.shortest_task.map_or(d, |s| s.min(d)));
        self.typical_task = Some(match self.typical_task {
            None => d,
            Some(t) => (t * 7 + d) / 8,
        });
    }

    /// The progress counters this state implies. A reconciled request is
    /// replaced by the pieces cut from it; one with no piece (its addresses
    /// were all in the pool) counts as one finished request. Finished means
    /// succeeded, failed or given up (`NotSent`).
    pub fn progress_counts(&self) -> ProgressCounts {
        let parents: HashSet<u64> = self.reqs.iter().filter_map(|r| r.parent).collect();
        let mut counts = ProgressCounts::default();
        for r in &self.reqs {
            let replaced = r.status == ReqStatus::Reconciled && parents.contains(&r.id);
            if replaced {
                continue;
            }
            counts.total += 1;
            if matches!(
                r.status,
                ReqStatus::Succeeded
                    | ReqStatus::TaskFailed
                    | ReqStatus::NotSent
                    | ReqStatus::Reconciled
            ) {
                counts.finished += 1;
            }
        }
        counts
    }

    /// Push a new pending request and return its id.
    pub fn push(&mut self, uid: String, range: IpRange, parent: Option<u64>) -> u64 {
        let id = self.reqs.len() as u64;
        self.reqs.push(Req::new(id, uid, range, parent));
        id
    }
}

/// Counters of what happened (beyond the client's).
#[derive(Debug, Default, Clone, Copy)]
pub struct ExecStats {
    pub post_retries: u64,
}

/// Everything one execution needs.
pub struct Engine {
    pub client: Arc<EmClient>,
    pub journal: Recorder,
    pub state: Mutex<RunState>,
    pub settings: EngineSettings,
    pub policy: RetryPolicy,
    pub progress: Progress,
    pub cancel: CancellationToken,
    pub stats: Mutex<ExecStats>,
}

/// How an execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Complete,
    Interrupted,
}

struct InFlight {
    req: u64,
    task: String,
    since: Instant,
    _permit: OwnedSemaphorePermit,
}

impl Engine {
    /// An engine for `state`, logged on through `client`, journaling to
    /// `journal`; progress starts from the state's counts (a resumed run
    /// shows what its earlier process already finished).
    pub fn new(
        client: Arc<EmClient>,
        journal: Recorder,
        state: RunState,
        settings: &EngineSettings,
        progress: crate::engine::progress::ProgressMode,
        cancel: CancellationToken,
    ) -> Arc<Engine> {
        let counts = state.progress_counts();
        Arc::new(Engine {
            client,
            journal,
            state: Mutex::new(state),
            settings: settings.clone(),
            policy: RetryPolicy::new(settings.retries),
            progress: Progress::start(progress, counts),
            cancel,
            stats: Mutex::new(ExecStats::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RunState> {
        self.state.lock().expect("run state lock poisoned")
    }

    /// The server did not act on request `id` and will not: record why and
    /// count it finished (failed).
    fn not_sent(&self, id: u64, detail: String) {
        {
            let mut st = self.lock();
            let r = &mut st.reqs[id as usize];
            r.status = ReqStatus::NotSent;
            r.message = detail;
        }
        self.progress.finished(false);
    }

    /// Run rounds until nothing is pending or in doubt, or until interrupted.
    pub async fn execute(self: &Arc<Self>) -> anyhow::Result<Ending> {
        for round in 0..MAX_ROUNDS {
            let (doubtful, recheck, pending) = {
                let st = self.lock();
                let pick = |s: ReqStatus| -> Vec<u64> {
                    st.reqs
                        .iter()
                        .filter(|r| r.status == s)
                        .map(|r| r.id)
                        .collect()
                };
                (
                    pick(ReqStatus::Unknown),
                    pick(ReqStatus::Recheck),
                    pick(ReqStatus::Pending),
                )
            };
            if self.cancel.is_cancelled() {
                return Ok(Ending::Interrupted);
            }
            // Order matters for exactly-once. Ranges never sent are compared
            // with the pool and sent first: their tasks teach how long a task
            // takes. Only then are the ranges in doubt settled, with a gap that
            // has learned from those tasks (a resume starts knowing nothing,
            // and 5 s is too short for a server whose tasks take longer).
            // The three sets are disjoint, so the order cannot double a range.
            if !recheck.is_empty() {
                tracing::info!(
                    round,
                    recheck = recheck.len(),
                    "checking unsent ranges against the pool"
                );
                self.reconcile(&[], &recheck).await?;
                continue;
            }
            if !pending.is_empty() {
                self.submit_round(pending).await?;
                continue;
            }
            if doubtful.is_empty() {
                return Ok(Ending::Complete);
            }
            tracing::info!(
                round,
                in_doubt = doubtful.len(),
                "reconciling against the pool"
            );
            self.reconcile(&doubtful, &[]).await?;
        }
        // Still in doubt after every round: say so, do not loop forever.
        let mut st = self.lock();
        for r in st.reqs.iter_mut() {
            if matches!(
                r.status,
                ReqStatus::Pending | ReqStatus::Unknown | ReqStatus::Recheck
            ) {
                r.message = format!("gave up after {MAX_ROUNDS} reconciliation rounds");
            }
        }
        Ok(Ending::Complete)
    }

    /// Submit `ids` with at most `concurrency` tasks in flight, polling them together.
    async fn submit_round(self: &Arc<Self>, ids: Vec<u64>) -> anyhow::Result<()> {
        let semaphore = Arc::new(Semaphore::new(self.settings.concurrency.max(1)));
        let (tx, mut rx) = mpsc::unbounded_channel::<InFlight>();
        let submitter = {
            let engine = self.clone();
            let semaphore = semaphore.clone();
            tokio::spawn(async move {
                let mut set = JoinSet::new();
                let mut result = Ok(());
                let mut ids = ids.into_iter().peekable();
                while let Some(id) = ids.next() {
                    let permit = tokio::select! {
                        biased;
                        _ = engine.cancel.cancelled() => break,
                        p = semaphore.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                    };
                    // A poll frees the slots of every task it saw finished at
                    // once: take them all, and journal their first intents
                    // with one sync instead of one each.
                    let mut batch = vec![(id, permit)];
                    while ids.peek().is_some() {
                        let Ok(permit) = semaphore.clone().try_acquire_owned() else {
                            break;
                        };
                        batch.push((ids.next().expect("peeked"), permit));
                    }
                    if let Err(e) = engine
                        .record_first_intents(batch.iter().map(|(id, _)| *id))
                        .await
                    {
                        result = Err(e);
                        break;
                    }
                    for (id, permit) in batch {
                        let engine = engine.clone();
                        let tx = tx.clone();
                        set.spawn(async move { engine.post_one(id, permit, tx).await });
                    }
                }
                drop(tx);
                while let Some(joined) = set.join_next().await {
                    match joined {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => result = Err(e),
                        Err(e) => result = Err(anyhow::anyhow!("a submit task failed: {e}")),
                    }
                }
                result
            })
        };

        let mut inflight: Vec<InFlight> = Vec::new();
        let mut rx_open = true;
        let mut last_poll = Instant::now();
        let mut grace_until: Option<Instant> = None;
        let mut poll_error: Option<anyhow::Error> = None;
        loop {
            if !rx_open && inflight.is_empty() {
                break;
            }
            let grace = async move {
                match grace_until {
                    Some(g) => tokio::time::sleep_until(g.into()).await,
                    None => std::future::pending().await,
                }
            };
            let next_poll = self.next_poll(last_poll, &inflight);
            tokio::select! {
                msg = rx.recv(), if rx_open => match msg {
                    Some(f) => inflight.push(f),
                    None => rx_open = false,
                },
                _ = tokio::time::sleep_until(next_poll.into()), if !inflight.is_empty() => {
                    last_poll = Instant::now();
                    if let Err(e) = self.poll_once(&mut inflight).await {
                        // The server went away: stop submitting, keep the
                        // journal, and stop polling now (a break, not a
                        // grace of zero: a select among ready branches may
                        // pick the poll again, and did, for minutes).
                        self.cancel.cancel();
                        poll_error = Some(e);
                        break;
                    }
                }
                _ = self.cancel.cancelled(), if grace_until.is_none() => {
                    grace_until = Some(Instant::now() + INTERRUPT_GRACE);
                }
                _ = grace => break,
            }
        }
        submitter
            .await
            .map_err(|e| anyhow::anyhow!("the submitter failed: {e}"))??;
        // Tasks still in flight after an interrupt stay `Accepted` in the
        // journal: a resume reconciles them.
        if let Some(e) = poll_error {
            return Err(e);
        }
        Ok(())
    }

    /// The polling interval: a third of the typical task duration, within
    /// bounds. Each batched poll costs one request of the rate budget and
    /// frees the slots of every task it finds finished; a third keeps polls
    /// near a tenth of all requests while slots are not held much longer
    /// than their tasks run.
    fn poll_interval(&self) -> Duration {
        let typical = self
            .lock()
            .typical_task
            .unwrap_or(Duration::from_millis(500));
        (typical / 3).clamp(Duration::from_millis(50), Duration::from_secs(5))
    }

    /// When the next poll is worth sending: one interval after the last, and
    /// not before the oldest task in flight could have finished.
    fn next_poll(&self, last_poll: Instant, inflight: &[InFlight]) -> Instant {
        let by_interval = last_poll + self.poll_interval();
        let shortest = self.lock().shortest_task;
        match (shortest, inflight.iter().map(|f| f.since).min()) {
            (Some(shortest), Some(oldest)) => by_interval.max(oldest + shortest * 9 / 10),
            _ => by_interval,
        }
    }

    /// Journal the intents of the first attempts of `ids`, with one sync.
    async fn record_first_intents(&self, ids: impl Iterator<Item = u64>) -> anyhow::Result<()> {
        let session = self.client.session_generation().await;
        let intents: Vec<Event> = ids
            .map(|req| Event::Intent {
                req,
                attempt: 1,
                session,
            })
            .collect();
        self.journal.record_all(&intents)
    }

    /// Send one request, retrying only what the server did not act on.
    /// Its first intent is already in the journal ([`Self::record_first_intents`]).
    async fn post_one(
        self: Arc<Self>,
        id: u64,
        permit: OwnedSemaphorePermit,
        tx: mpsc::UnboundedSender<InFlight>,
    ) -> anyhow::Result<()> {
        let (uid, range) = {
            let st = self.lock();
            let r = &st.reqs[id as usize];
            (r.uid.clone(), r.range)
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let session = self.client.session_generation().await;
            // The first attempt's intent was journaled by the submitter.
            if attempt > 1 {
                self.journal.record(&Event::Intent {
                    req: id,
                    attempt,
                    session,
                })?;
            }
            {
                let mut st = self.lock();
                let r = &mut st.reqs[id as usize];
                r.status = ReqStatus::Sending;
                r.attempts += 1;
                r.session = session;
            }
            match self.client.post_range(&uid, range).await {
                PostAttempt::Accepted(task) => {
                    self.journal.note(&Event::Accepted {
                        req: id,
                        task: task.id.clone(),
                    })?;
                    {
                        let mut st = self.lock();
                        st.known_tasks.insert(task.id.clone());
                        let r = &mut st.reqs[id as usize];
                        r.status = ReqStatus::Accepted;
                        r.task = Some(task.id.clone());
                    }
                    self.progress.submitted();
                    let _ = tx.send(InFlight {
                        req: id,
                        task: task.id,
                        since: Instant::now(),
                        _permit: permit,
                    });
                    return Ok(());
                }
                PostAttempt::NotActed { failure, detail } => {
                    let delay = self.policy.next_delay(attempt, failure, true);
                    self.journal.note(&Event::NotActed {
                        req: id,
                        detail: detail.clone(),
                        gave_up: delay.is_none(),
                    })?;
                    match delay {
                        Some(delay) if !self.cancel.is_cancelled() => {
                            tracing::debug!(req = id, attempt, %detail, ?delay, "POST not acted on; sending again");
                            self.stats.lock().expect("stats lock").post_retries += 1;
                            tokio::time::sleep(delay).await;
                        }
                        Some(_) => {
                            self.lock().reqs[id as usize].status = ReqStatus::Pending;
                            return Ok(());
                        }
                        None => {
                            tracing::warn!(req = id, range = %range, %detail, "request not sent");
                            self.not_sent(id, detail);
                            return Ok(());
                        }
                    }
                }
                PostAttempt::Rejected { status, message } => {
                    let detail = format!("refused by the server (HTTP {status}): {message}");
                    self.journal.note(&Event::NotActed {
                        req: id,
                        detail: detail.clone(),
                        gave_up: true,
                    })?;
                    tracing::warn!(req = id, range = %range, %detail, "request refused");
                    self.not_sent(id, detail);
                    return Ok(());
                }
                PostAttempt::Unknown { detail } => {
                    self.journal.note(&Event::Unknown {
                        req: id,
                        detail: detail.clone(),
                    })?;
                    tracing::info!(req = id, range = %range, %detail, "outcome unknown; will reconcile");
                    let mut st = self.lock();
                    let r = &mut st.reqs[id as usize];
                    r.status = ReqStatus::Unknown;
                    r.message = detail;
                    return Ok(());
                }
            }
        }
    }

    /// Poll every task in flight once; retire those that ended.
    async fn poll_once(&self, inflight: &mut Vec<InFlight>) -> anyhow::Result<()> {
        let ids: Vec<String> = inflight.iter().map(|f| f.task.clone()).collect();
        let tasks = self
            .client
            .poll_tasks(&ids)
            .await
            .map_err(EmError::into_fatal)?;
        let by_id: HashMap<&str, &TaskStatus> = tasks.iter().map(|t| (t.id.as_str(), t)).collect();
        let mut events = Vec::new();
        let mut ended = Vec::new();
        {
            let mut st = self.lock();
            for (i, f) in inflight.iter().enumerate() {
                let elapsed = f.since.elapsed();
                match by_id.get(f.task.as_str()) {
                    Some(t) if t.is_finished() => {
                        st.learn(elapsed);
                        let success = t.success.unwrap_or(false);
                        let r = &mut st.reqs[f.req as usize];
                        r.status = if success {
                            ReqStatus::Succeeded
                        } else {
                            ReqStatus::TaskFailed
                        };
                        r.success = Some(success);
                        r.message = t.message.clone();
                        events.push(Event::TaskDone {
                            req: f.req,
                            task: f.task.clone(),
                            success,
                            message: t.message.clone(),
                            duration_ms: elapsed.as_millis() as u64,
                        });
                        ended.push((i, Some(success)));
                    }
                    Some(_) if elapsed > self.settings.task_timeout => {
                        let r = &mut st.reqs[f.req as usize];
                        r.status = ReqStatus::Unknown;
                        r.timed_out = true;
                        r.success = Some(false);
                        r.message = format!(
                            "task {} still unfinished after {}s",
                            f.task,
                            self.settings.task_timeout.as_secs()
                        );
                        events.push(Event::TaskLost {
                            req: f.req,
                            task: f.task.clone(),
                            reason: LOST_TIMEOUT.into(),
                        });
                        ended.push((i, None));
                    }
                    Some(_) => st.reqs[f.req as usize].seen_running = elapsed,
                    None => {
                        let r = &mut st.reqs[f.req as usize];
                        r.status = ReqStatus::Unknown;
                        r.unseen_task_since = Some(f.since);
                        r.message = format!(
                            "task {} vanished (a new logon session cannot see it)",
                            f.task
                        );
                        events.push(Event::TaskLost {
                            req: f.req,
                            task: f.task.clone(),
                            reason: LOST_VANISHED.into(),
                        });
                        ended.push((i, None));
                    }
                }
            }
        }
        self.journal.note_all(&events)?;
        for (i, outcome) in ended.into_iter().rev() {
            let f = inflight.swap_remove(i);
            match outcome {
                Some(ok) => {
                    if !ok {
                        tracing::warn!(task = %f.task, "task failed");
                    }
                    self.progress.finished(ok);
                }
                None => tracing::info!(task = %f.task, "task lost sight of; will reconcile"),
            }
        }
        Ok(())
    }

    /// Read back `doubtful` requests (whose POST or task may still act on
    /// the pool: settle first) and `recheck` ones (never sent: compare only),
    /// and turn what is still missing into new pending requests.
    async fn reconcile(&self, doubtful: &[u64], recheck: &[u64]) -> anyhow::Result<()> {
        let generation = self.client.session_generation().await;
        let (uids, all_same_session) = {
            let st = self.lock();
            let uids: BTreeSet<String> = doubtful
                .iter()
                .chain(recheck)
                .map(|&id| st.reqs[id as usize].uid.clone())
                .collect();
            let same = doubtful
                .iter()
                .all(|&id| st.reqs[id as usize].session == generation && generation > 0);
            (uids, same)
        };
        let pools = if doubtful.is_empty() {
            self.read_pools(&uids).await?
        } else {
            let Some(landed) = self.wait_for_unseen_tasks(doubtful).await? else {
                // Interrupted: nothing is settled; a resume waits again.
                return Ok(());
            };
            if landed.len() == doubtful.len() {
                // Every range in doubt is in the pool: nothing can be missing.
                self.read_pools(&uids).await?
            } else {
                if all_same_session {
                    self.wait_for_unattributed_tasks().await;
                }
                self.settled_pools(&uids).await?
            }
        };
        let mut events = Vec::new();
        let counts = {
            let mut st = self.lock();
            for &id in doubtful.iter().chain(recheck) {
                let (uid, range) = {
                    let r = &st.reqs[id as usize];
                    (r.uid.clone(), r.range)
                };
                let empty = Vec::new();
                let pool = pools.get(&uid).unwrap_or(&empty);
                let pieces = missing_pieces(&range, pool, self.settings.max_per_request);
                let then: Vec<u64> = pieces
                    .iter()
                    .map(|p| st.push(uid.clone(), *p, Some(id)))
                    .collect();
                st.reqs[id as usize].status = ReqStatus::Reconciled;
                events.push(Event::Reconciled {
                    req: id,
                    missing: pieces.iter().map(RangeText::of).collect(),
                    then,
                });
            }
            st.progress_counts()
        };
        self.journal.note_all(&events)?;
        self.progress.set_counts(counts);
        Ok(())
    }

    /// Wait until the ranges of `doubtful` requests whose tasks were
    /// accepted but cannot be seen are in the pool, or until those tasks'
    /// deadlines pass. Returns the requests whose ranges landed, or `None`
    /// when interrupted.
    ///
    /// A pool read a few seconds apart proves nothing about a task that may
    /// still run: an accepted task lands when it finishes, so its range is
    /// only settled once it is present, or once the task would count as
    /// failed anyway (`--task-timeout` after acceptance; sooner, three
    /// times the longest task seen plus 5 s, once task durations are known).
    /// A resumed run knows no acceptance instant and counts from its own
    /// start, which is later: it waits longer, never shorter. Each range seen
    /// landing tells how long tasks run at least, which the settle gap for
    /// the remaining requests in doubt then respects.
    async fn wait_for_unseen_tasks(
        &self,
        doubtful: &[u64],
    ) -> anyhow::Result<Option<HashSet<u64>>> {
        let limit = {
            let st = self.lock();
            match st.longest_task {
                Some(longest) => self
                    .settings
                    .task_timeout
                    .min(longest * 3 + Duration::from_secs(5)),
                None => self.settings.task_timeout,
            }
        };
        let mut watched: Vec<(u64, Instant)> = {
            let st = self.lock();
            doubtful
                .iter()
                .filter_map(|&id| {
                    let r = &st.reqs[id as usize];
                    match r.unseen_task_since {
                        Some(since) if !r.timed_out => Some((id, since)),
                        _ => None,
                    }
                })
                .collect()
        };
        let mut landed = HashSet::new();
        if watched.is_empty() {
            return Ok(Some(landed));
        }
        let latest = watched.iter().map(|(_, since)| *since + limit).max();
        tracing::info!(
            tasks = watched.len(),
            at_most_s = latest.map(|d| d.saturating_duration_since(Instant::now()).as_secs()),
            "waiting for accepted tasks this session cannot see to land in the pool"
        );
        loop {
            if self.cancel.is_cancelled() {
                return Ok(None);
            }
            let uids: BTreeSet<String> = {
                let st = self.lock();
                watched
                    .iter()
                    .map(|(id, _)| st.reqs[*id as usize].uid.clone())
                    .collect()
            };
            let reading = Instant::now();
            let pools = self.read_pools(&uids).await?;
            let now = Instant::now();
            let read_took = now - reading;
            {
                let mut st = self.lock();
                watched.retain(|&(id, since)| {
                    let r = &mut st.reqs[id as usize];
                    let empty = Vec::new();
                    let pool = pools.get(&r.uid).unwrap_or(&empty);
                    if missing_pieces(&r.range, pool, u64::MAX).is_empty() {
                        // It ran at least this long.
                        r.seen_running = r.seen_running.max(now - since);
                        r.unseen_task_since = None;
                        landed.insert(id);
                        return false;
                    }
                    if now >= since + limit {
                        r.timed_out = true;
                        r.success = Some(false);
                        r.unseen_task_since = None;
                        let waited = format!(
                            "its range was not in the pool {}s after its task was accepted",
                            limit.as_secs()
                        );
                        r.message = match r.task.as_deref() {
                            Some(task) => format!("task {task} could not be followed: {waited}"),
                            None => waited,
                        };
                        return false;
                    }
                    true
                });
            }
            if watched.is_empty() {
                return Ok(Some(landed));
            }
            // A large pool takes many paged requests to read: pause at
            // least as long as the read took, so that waiting spends at
            // most half of the rate budget.
            let pause = self
                .poll_interval()
                .clamp(Duration::from_secs(1), Duration::from_secs(5))
                .max(read_took);
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = self.cancel.cancelled() => return Ok(None),
            }
        }
    }

    /// While the logon session is the one the requests in doubt were sent
    /// under, its task list shows any task we could not attribute (a POST
    /// whose reply was lost): wait until those have finished.
    async fn wait_for_unattributed_tasks(&self) {
        let deadline = Instant::now() + self.settings.task_timeout;
        loop {
            let tasks = match self.client.session_tasks().await {
                Ok(t) => t,
                Err(e) => {
                    tracing::info!(error = %e, "cannot list the session's tasks; settling by reading the pool");
                    return;
                }
            };
            let running: Vec<String> = {
                let st = self.lock();
                tasks
                    .iter()
                    .filter(|t| !t.is_finished() && !st.known_tasks.contains(&t.id))
                    .map(|t| t.id.clone())
                    .collect()
            };
            if running.is_empty() || Instant::now() >= deadline {
                return;
            }
            tracing::debug!(?running, "waiting for tasks of lost replies");
            tokio::time::sleep(self.poll_interval()).await;
        }
    }

    /// Read the pools until two reads, [`RunState::settle_gap`] apart, agree.
    async fn settled_pools(
        &self,
        uids: &BTreeSet<String>,
    ) -> anyhow::Result<BTreeMap<String, Vec<IpRange>>> {
        let gap = self.lock().settle_gap();
        let mut before = self.read_pools(uids).await?;
        for _ in 0..50 {
            tokio::time::sleep(gap).await;
            let after = self.read_pools(uids).await?;
            if after == before {
                return Ok(after);
            }
            before = after;
        }
        Ok(before)
    }

    /// The current pools of `uids`.
    pub async fn read_pools(
        &self,
        uids: &BTreeSet<String>,
    ) -> anyhow::Result<BTreeMap<String, Vec<IpRange>>> {
        let mut pools = BTreeMap::new();
        for uid in uids {
            let pool = self
                .client
                .read_pool(uid)
                .await
                .map_err(EmError::into_fatal)?;
            pools.insert(uid.clone(), pool);
        }
        Ok(pools)
    }
}
