//! Command-line definitions (clap derive).
//!
//! Options that the configuration file may also set are `Option<T>` here with
//! no clap default: [`crate::config`] layers command line (and environment,
//! which clap reads) over the file over the built-in defaults, so we must be
//! able to tell "not given" from "given the default value".

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Load public IP address ranges from spreadsheets into Veeam Cloud Connect
/// public IP pools through Enterprise Manager's REST API.
#[derive(Debug, Parser)]
#[command(name = "ipimport", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse, validate and merge range files; print diagnostics and merged ranges (no network).
    Validate(ValidateArgs),
    /// As validate, then read the live pool and print what `apply` would submit (read-only).
    Plan(PlanArgs),
    /// Plan, then submit what is missing, poll every task and write the run directory.
    Apply(ApplyArgs),
    /// Render a run's report again from its run directory.
    Report(ReportArgs),
    /// Run the built-in Enterprise Manager simulator.
    Sim(SimArgs),
    /// Start the simulator in-process, apply samples/, print the summary and report path.
    Demo(DemoArgs),
}

/// Logging flags, shared by every command.
#[derive(Debug, Args, Clone)]
pub struct LogArgs {
    /// More log output (default warnings; -v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Less output (-q errors only and no progress, -qq nothing but the result).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub quiet: u8,
    /// Log line format on stderr.
    #[arg(long, value_enum, global = true, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// What the command prints on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    Text,
    Json,
}

/// The body format spoken with the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Wire {
    Xml,
    Json,
}

/// Input format, for `-` (standard input) or to override the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    Csv,
    Tsv,
    Yaml,
    Xlsx,
    Xls,
    Ods,
}

/// Formats `report` renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Md,
    Csv,
    Json,
    Junit,
    Html,
}

/// Where the rows come from.
#[derive(Debug, Args, Clone, Default)]
pub struct InputArgs {
    /// Range files (.csv .tsv .txt .yaml .yml .xlsx .xls .ods), or - for standard input.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// Read inputs as this format whatever their extension (standard input defaults to csv).
    #[arg(long, value_enum)]
    pub input_format: Option<InputFormat>,
    /// Spreadsheet sheet to read (default: the first).
    #[arg(long, value_name = "NAME")]
    pub sheet: Option<String>,
}

/// A blank `--backup-server` would otherwise pass as a server named "":
/// refuse it where it is given.
fn non_blank_backup_server(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        return Err(crate::validate::BLANK_BACKUP_SERVER.to_string());
    }
    Ok(value.to_string())
}

/// Validation options (validate, plan, apply).
#[derive(Debug, Args, Clone, Default)]
pub struct ValidationArgs {
    /// Default backup server (name or urn:veeam:BackupServer:<guid>) for rows that name none.
    #[arg(long, value_name = "NAME|UID", value_parser = non_blank_backup_server)]
    pub backup_server: Option<String>,
    /// Largest number of addresses one row may hold (default 65536, at most 16777216).
    #[arg(long, value_name = "N")]
    pub max_range_size: Option<u64>,
    /// Accept non-public (private, loopback, ...) addresses.
    #[arg(long)]
    pub allow_nonpublic: bool,
    /// Apply the valid rows even when some rows are invalid.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Output format on stdout.
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// TOML configuration file whose keys are the long option names.
    #[arg(long, env = "IPIMPORT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Connection options (plan, apply).
#[derive(Debug, Args, Clone, Default)]
pub struct ConnectionArgs {
    /// Enterprise Manager URL, e.g. https://em01:9398 (/api is appended when absent).
    #[arg(long, env = "IPIMPORT_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// User to log on as. The password comes from IPIMPORT_PASSWORD, --password-file or a prompt.
    #[arg(long, env = "IPIMPORT_USER", value_name = "NAME")]
    pub user: Option<String>,
    /// File whose first line is the password.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Trust this PEM certificate (for a self-signed server certificate).
    #[arg(long, value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
    /// Skip TLS certificate verification (says so on stderr).
    #[arg(long)]
    pub insecure: bool,
    /// Body format spoken with the server (default xml).
    #[arg(long, value_enum)]
    pub wire: Option<Wire>,
    /// Timeout of one HTTP request, in seconds (default 30).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
}

#[derive(Debug, Args, Clone)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub validation: ValidationArgs,
}

#[derive(Debug, Args, Clone)]
pub struct PlanArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub validation: ValidationArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Largest number of addresses one request may carry (default 4096).
    #[arg(long, value_name = "N")]
    pub max_per_request: Option<u64>,
}

/// Engine options (apply).
#[derive(Debug, Args, Clone, Default)]
pub struct EngineArgs {
    /// Most HTTP requests per second to the server, all kinds together (default 10).
    #[arg(long, value_name = "R")]
    pub rate: Option<u32>,
    /// Requests that may go at once beyond the steady rate (default 1).
    #[arg(long, value_name = "B")]
    pub burst: Option<u32>,
    /// Most tasks in flight at once (default 8).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Largest number of addresses one request may carry (default 4096).
    #[arg(long, value_name = "N")]
    pub max_per_request: Option<u64>,
    /// Seconds after which an unfinished task counts as failed and is reconciled (default 600).
    #[arg(long, value_name = "SECS")]
    pub task_timeout: Option<u64>,
    /// Attempts for a request that failed in a retryable way (default 5).
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// Run directory (default ./ipimport-runs/<UTC timestamp>-<short id>).
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub validation: ValidationArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Finish an interrupted run from its journal.
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "inputs")]
    pub resume: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct ReportArgs {
    /// The run directory of an apply.
    pub run_dir: PathBuf,
    /// Report format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
    /// Write to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct SimArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:9398")]
    pub listen: String,
    /// Account allowed to log on, NAME:PASSWORD (repeatable; default admin:admin).
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    pub users: Vec<String>,
    /// Backup server known to EM, NAME[=GUID] (repeatable; default backup01).
    #[arg(long = "backup-server", value_name = "NAME[=GUID]")]
    pub backup_servers: Vec<String>,
    /// Serve HTTPS with a generated self-signed certificate.
    #[arg(long)]
    pub tls: bool,
    /// Write the generated certificate's PEM here (with --tls).
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub cert_out: Option<PathBuf>,
    /// Load the pool from FILE at start, save it atomically on every change.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Preload addresses: CSV backup_server,ip[,tenant_uid].
    #[arg(long, value_name = "FILE")]
    pub seed_pool: Option<PathBuf>,
    /// Page size of a query that names none; 0 = one page.
    #[arg(long, default_value_t = 100)]
    pub default_page_size: u32,
    /// Milliseconds added to every response.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// How long a task stays Running, in milliseconds.
    #[arg(long, default_value_t = 200)]
    pub task_ms: u64,
    /// How long a task then stays OperationFinished, in milliseconds.
    #[arg(long, default_value_t = 50)]
    pub finish_lag_ms: u64,
    /// Idle seconds after which a token expires.
    #[arg(long, default_value_t = 900)]
    pub session_idle_s: u64,
    /// At most N /api/ requests admitted in any sliding one-second window; the rest get 503.
    #[arg(long, value_name = "N")]
    pub max_rps: Option<u32>,
    /// Fraction of /api/ requests answered 500 before any effect.
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub fail_rate: f64,
    /// Fraction of POSTs carried out but answered by closing the connection.
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub drop_rate: f64,
    /// Fraction of tasks that end Success="false" having added nothing.
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub task_fail_rate: f64,
    /// After every N authenticated /api/ requests all tokens die (0 = never).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub expire_every: u64,
    /// Which sessions see a task.
    #[arg(long, value_enum, default_value_t = TaskScope::Session)]
    pub task_scope: TaskScope,
    /// Refuse `GET /api/query?type=Task` with 400, as a server without that query type would
    /// (beyond the spec: tests the client's per-task fallback).
    #[arg(long)]
    pub refuse_task_query: bool,
    /// Hold back the 202 reply of a range POST this many milliseconds; the task is created on
    /// arrival (beyond the spec: makes client timeouts leave POSTs in doubt).
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub post_reply_delay_ms: u64,
    /// Fraction of range POSTs whose reply --post-reply-delay-ms holds back.
    #[arg(long, default_value_t = 1.0, value_name = "P")]
    pub post_reply_delay_rate: f64,
    /// Seed for every random choice (default: random).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
}

/// Who may see a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TaskScope {
    Session,
    Global,
}

#[derive(Debug, Args, Clone)]
pub struct DemoArgs {
    /// Body format spoken with the simulator.
    #[arg(long, value_enum, default_value_t = Wire::Xml)]
    pub wire: Wire,
    /// Directory holding the sample files to apply.
    #[arg(long, default_value = "samples", value_name = "DIR")]
    pub samples: PathBuf,
    /// Run directory (default ./ipimport-runs/<UTC timestamp>-<short id>).
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// How long each simulated task runs, in milliseconds.
    #[arg(long, default_value_t = 200)]
    pub task_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
