//! tracing setup: `-v`/`-q`, `--log-format`, `RUST_LOG`. Logs go to stderr so
//! that stdout stays clean for `--format json`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::EnvFilter;

use crate::cli::{LogArgs, LogFormat};

/// Set by `-q`: progress output stays off too.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Set by `--log-format json`: progress lines are JSON objects too.
static JSON: AtomicBool = AtomicBool::new(false);

/// Whether stderr carries JSON lines (`--log-format json`), which any other
/// line written there would break for a log collector.
pub fn json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// Whether the user asked for less output (`-q`).
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Install the global subscriber. `RUST_LOG`, when set, wins over -v/-q.
///
/// By default only warnings are logged: the command's own output (summary,
/// progress) says what happened, so a cron job's mail stays short.
pub fn init(args: &LogArgs) {
    QUIET.store(args.quiet > 0, Ordering::Relaxed);
    JSON.store(
        matches!(args.log_format, LogFormat::Json),
        Ordering::Relaxed,
    );
    let level = match (args.verbose as i32) - (args.quiet as i32) {
        i32::MIN..=-2 => "off",
        -1 => "error",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only on a terminal: cron mail and CI logs get plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    // A second init (tests, demo) is harmless: keep the first subscriber.
    let _ = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
