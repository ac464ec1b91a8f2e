//! Progress of an apply: a bar on a terminal, a plain line every few seconds
//! otherwise (logs and cron mail stay readable), nothing when quiet.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, else a line every few seconds;
    /// nothing when info logs are off (`-q`, or `RUST_LOG=warn`).
    Auto,
    /// A line every `every` on stderr.
    Lines { every: Duration },
    /// Nothing (tests, benches, `-q`).
    Off,
}

#[derive(Debug, Default)]
struct Counters {
    total: AtomicU64,
    submitted: AtomicU64,
    finished: AtomicU64,
    failed: AtomicU64,
}

/// The request counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgressCounts {
    /// Requests of the run: a reconciled request counts as the pieces cut
    /// from it (see [`crate::engine::execute::RunState::progress_counts`]).
    pub total: u64,
    /// Of those, requests that reached their end (in this process or before it).
    pub finished: u64,
}

/// Counters of the requests of a run, shown as they move.
#[derive(Clone)]
pub struct Progress {
    counters: Arc<Counters>,
    bar: Option<ProgressBar>,
    ticker: Option<Arc<tokio::task::JoinHandle<()>>>,
}

impl Progress {
    /// Start showing progress of `counts.total` requests, `counts.finished`
    /// of them already finished (by an earlier process, when resuming).
    pub fn start(mode: ProgressMode, counts: ProgressCounts) -> Progress {
        let ProgressCounts { total, finished } = counts;
        let counters = Arc::new(Counters::default());
        counters.total.store(total, Ordering::Relaxed);
        counters.finished.store(finished, Ordering::Relaxed);
        let quiet = crate::logging::quiet();
        let mode = match mode {
            ProgressMode::Auto if quiet => ProgressMode::Off,
            other => other,
        };
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => None,
            ProgressMode::Auto => Some(Duration::from_secs(5)),
            ProgressMode::Lines { every } => Some(every),
            ProgressMode::Off => {
                return Progress {
                    counters,
                    bar: None,
                    ticker: None,
                };
            }
        };
        match mode {
            None => {
                let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} finished {msg} ({per_sec}, ETA {eta})",
                    )
                    .expect("a valid template"),
                );
                bar.set_position(finished);
                bar.enable_steady_tick(Duration::from_millis(200));
                Progress {
                    counters,
                    bar: Some(bar),
                    ticker: None,
                }
            }
            Some(every) => {
                let c = counters.clone();
                let started = Instant::now();
                let handle = tokio::spawn(async move {
                    let mut interval = tokio::time::interval(every);
                    interval.tick().await;
                    loop {
                        interval.tick().await;
                        if crate::logging::json() {
                            eprintln!("{}", json_line(&c, started.elapsed()));
                        } else {
                            eprintln!("{}", line(&c, started.elapsed()));
                        }
                    }
                });
                Progress {
                    counters,
                    bar: None,
                    ticker: Some(Arc::new(handle)),
                }
            }
        }
    }

    /// Reconciliation replaced requests by the pieces still missing: take
    /// the counts from the run's state again.
    pub fn set_counts(&self, counts: ProgressCounts) {
        self.counters.total.store(counts.total, Ordering::Relaxed);
        self.counters
            .finished
            .store(counts.finished, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_length(counts.total);
            bar.set_position(counts.finished);
        }
    }

    /// The counters now.
    pub fn counts(&self) -> ProgressCounts {
        ProgressCounts {
            total: self.counters.total.load(Ordering::Relaxed),
            finished: self.counters.finished.load(Ordering::Relaxed),
        }
    }

    /// A request was accepted by the server.
    pub fn submitted(&self) {
        self.counters.submitted.fetch_add(1, Ordering::Relaxed);
        self.refresh();
    }

    /// A request reached its end (`ok` = its task succeeded).
    pub fn finished(&self, ok: bool) {
        self.counters.finished.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        self.refresh();
    }

    fn refresh(&self) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "submitted {}, failed {}",
                self.counters.submitted.load(Ordering::Relaxed),
                self.counters.failed.load(Ordering::Relaxed)
            ));
        }
    }

    /// Stop showing progress.
    pub fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if let Some(t) = &self.ticker {
            t.abort();
        }
    }
}

/// The counters read once, with the finishing rate so far.
struct Snapshot {
    total: u64,
    finished: u64,
    submitted: u64,
    failed: u64,
    per_second: f64,
}

impl Snapshot {
    fn of(c: &Counters, elapsed: Duration) -> Snapshot {
        let finished = c.finished.load(Ordering::Relaxed);
        Snapshot {
            total: c.total.load(Ordering::Relaxed),
            finished,
            submitted: c.submitted.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            per_second: finished as f64 / elapsed.as_secs_f64().max(0.001),
        }
    }
}

fn line(c: &Counters, elapsed: Duration) -> String {
    let s = Snapshot::of(c, elapsed);
    let eta = if s.per_second > 0.0 {
        format!(
            "{:.0}s",
            s.total.saturating_sub(s.finished) as f64 / s.per_second
        )
    } else {
        "?".to_string()
    };
    format!(
        "progress: {}/{} requests finished, {} submitted, {} failed, {:.1}/s, ETA {eta}",
        s.finished, s.total, s.submitted, s.failed, s.per_second,
    )
}

/// The progress line as one JSON object, shaped like the JSON log events
/// (`timestamp`, `level`, `fields`), for `--log-format json`.
fn json_line(c: &Counters, elapsed: Duration) -> String {
    let s = Snapshot::of(c, elapsed);
    serde_json::json!({
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "level": "INFO",
        "fields": {
            "message": "progress",
            "finished": s.finished,
            "total": s.total,
            "submitted": s.submitted,
            "failed": s.failed,
            "per_second": (s.per_second * 10.0).round() / 10.0,
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_progress_is_one_json_object_like_the_log_events() {
        let c = Counters::default();
        c.total.store(10, Ordering::Relaxed);
        c.finished.store(5, Ordering::Relaxed);
        c.failed.store(1, Ordering::Relaxed);
        let l = json_line(&c, Duration::from_secs(2));
        assert!(!l.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["fields"]["message"], "progress");
        assert_eq!(v["fields"]["finished"], 5);
        assert_eq!(v["fields"]["total"], 10);
        assert_eq!(v["fields"]["failed"], 1);
        assert_eq!(v["fields"]["per_second"], 2.5);
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn progress_line_reads_well() {
        let c = Counters::default();
        c.total.store(10, Ordering::Relaxed);
        c.finished.store(5, Ordering::Relaxed);
        c.submitted.store(7, Ordering::Relaxed);
        let l = line(&c, Duration::from_secs(5));
        assert_eq!(
            l,
            "progress: 5/10 requests finished, 7 submitted, 0 failed, 1.0/s, ETA 5s"
        );
    }
}
