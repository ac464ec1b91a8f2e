//! One module per command. Each opens with its usage and has a small `run`
//! that wires reader -> work -> writer and returns the exit code.

pub mod apply;
pub mod demo;
pub mod plan;
pub mod report;
pub mod sim;
pub mod validate;

use crate::cli::Command;
use crate::exit::Exit;

/// Run one parsed command.
pub fn run(command: Command) -> anyhow::Result<Exit> {
    match command {
        Command::Validate(args) => validate::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Apply(args) => apply::run(args),
        Command::Report(args) => report::run(args),
        Command::Sim(args) => sim::run(args),
        Command::Demo(args) => demo::run(args),
    }
}

/// The runtime of the commands that talk to a server (plan, apply, demo).
///
/// One thread: the client waits on the network and the rate limiter almost
/// all the time, and on the 2-core machine a multi-threaded runtime spent
/// more CPU handing wake-ups between its threads than on the requests
/// (apply bench: 0.70 ms of client CPU per range, 0.50 ms on one thread, at
/// the same wall time). Parsing still runs on all cores (rayon), and the
/// journal's syncs are short enough to take on this thread.
pub fn client_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Standard output for bulk writing. Rust's `Stdout` is line-buffered and
/// scans every write for newlines; a large report does better through the
/// file descriptor itself (the writers buffer on their own).
pub fn stdout_writer() -> Box<dyn std::io::Write> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        if let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() {
            return Box::new(std::fs::File::from(fd));
        }
    }
    Box::new(std::io::stdout().lock())
}

/// Wait for Ctrl-C (SIGINT) or SIGTERM: a service manager, `timeout` or
/// `kill` asks a cron run to stop with SIGTERM, and it deserves the same
/// orderly end as Ctrl-C (journal and report written, exit 130).
#[cfg(unix)]
pub(crate) async fn interrupt_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                caught = tokio::signal::ctrl_c() => {
                    // No Ctrl-C handler to be had: SIGTERM still works.
                    if caught.is_err() {
                        term.recv().await;
                    }
                }
                _ = term.recv() => {}
            }
        }
        Err(_) => ctrl_c_or_never().await,
    }
}

#[cfg(not(unix))]
pub(crate) async fn interrupt_signal() {
    ctrl_c_or_never().await
}

/// Ctrl-C; never, when no handler can be installed (a run is not
/// cancelled for want of a way to cancel it).
async fn ctrl_c_or_never() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await
    }
}
