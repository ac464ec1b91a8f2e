//! The built-in Enterprise Manager simulator (`ipimport sim`), also usable
//! in-process from tests, benches and `ipimport demo`:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use ipimport::sim::{SimConfig, start};
//! let sim = start(SimConfig { listen: "127.0.0.1:0".into(), ..SimConfig::default() }).await?;
//! println!("EM at {}/api/", sim.base_url());
//! sim.stop().await;
//! # Ok(()) }
//! ```
//!
//! Modules: `server` (network, fault pipeline, `/sim/`), `routes` (the
//! `/api/` endpoints), `state` (pool, sessions, tasks, persistence), `pool`
//! (compact address store), `query` (filter language), `faults` (seeded
//! random streams, rate window), `tls` (self-signed certificate).

mod faults;
mod pool;
mod query;
mod routes;
mod server;
mod state;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::cli::{SimArgs, TaskScope};

pub use state::Stats as SimStats;
pub use state::derived_server_guid;

/// Every option of `ipimport sim`; `Default` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to bind; `127.0.0.1:0` picks a free port.
    pub listen: String,
    /// Accounts allowed to log on: (name, password).
    pub users: Vec<(String, String)>,
    /// Backup servers: name and GUID (`None`: derived from the name, UUID v5).
    pub backup_servers: Vec<(String, Option<Uuid>)>,
    /// Serve HTTPS with a generated self-signed certificate.
    pub tls: bool,
    /// Write that certificate's PEM here.
    pub cert_out: Option<PathBuf>,
    /// Load the pool from here at start; save it atomically on every change.
    pub state: Option<PathBuf>,
    /// Preload addresses from this CSV.
    pub seed_pool: Option<PathBuf>,
    /// Page size of a query that names none; 0 = one page.
    pub default_page_size: u32,
    /// Added to every `/api/` response.
    pub latency: Duration,
    /// How long a task stays `Running`.
    pub task_time: Duration,
    /// How long it then stays `OperationFinished`.
    pub finish_lag: Duration,
    /// Idle time after which a token expires (sub-second allowed, for tests).
    pub session_idle: Duration,
    /// At most this many `/api/` requests admitted in any sliding second.
    pub max_rps: Option<u32>,
    /// Fraction of `/api/` requests answered 500 before any effect.
    pub fail_rate: f64,
    /// Fraction of range POSTs carried out and then answered by closing the connection.
    pub drop_rate: f64,
    /// Fraction of tasks that end `Success="false"` having changed nothing.
    pub task_fail_rate: f64,
    /// After every N authenticated `/api/` requests all tokens die (0 = never).
    pub expire_every: u64,
    /// Which sessions see a task.
    pub task_scope: TaskScope,
    /// Answer `GET /api/query?type=Task` with `400` (beyond the spec): a
    /// server whose query service lacks that type, so the client must fall
    /// back to `GET /api/tasks/{id}`.
    pub refuse_task_query: bool,
    /// Hold back the `202` reply of a range POST this long (beyond the
    /// spec); the task is created when the POST arrives, so a client that
    /// times out first does not know whether it acted. Zero = off.
    pub post_reply_delay: Duration,
    /// Fraction of range POSTs whose reply `post_reply_delay` holds back.
    pub post_reply_delay_rate: f64,
    /// Seed of every random choice (`None`: random).
    pub seed: Option<u64>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: "127.0.0.1:9398".into(),
            users: vec![("admin".into(), "admin".into())],
            backup_servers: vec![("backup01".into(), None)],
            tls: false,
            cert_out: None,
            state: None,
            seed_pool: None,
            default_page_size: 100,
            latency: Duration::ZERO,
            task_time: Duration::from_millis(200),
            finish_lag: Duration::from_millis(50),
            session_idle: Duration::from_secs(900),
            max_rps: None,
            fail_rate: 0.0,
            drop_rate: 0.0,
            task_fail_rate: 0.0,
            expire_every: 0,
            task_scope: TaskScope::Session,
            refuse_task_query: false,
            post_reply_delay: Duration::ZERO,
            post_reply_delay_rate: 1.0,
            seed: None,
        }
    }
}

fn rate(name: &str, p: f64) -> anyhow::Result<f64> {
    if !(0.0..=1.0).contains(&p) {
        bail!("--{name} must be a fraction between 0 and 1, got {p}");
    }
    Ok(p)
}

impl SimConfig {
    /// The configuration the command line asks for.
    pub fn from_args(args: &SimArgs) -> anyhow::Result<SimConfig> {
        let mut users = Vec::new();
        for u in &args.users {
            let (name, password) = u
                .split_once(':')
                .with_context(|| format!("--user '{u}' must be NAME:PASSWORD"))?;
            if name.is_empty() {
                bail!("--user '{u}' has an empty name");
            }
            users.push((name.to_string(), password.to_string()));
        }
        if users.is_empty() {
            users = SimConfig::default().users;
        }
        let mut backup_servers = Vec::new();
        for b in &args.backup_servers {
            let (name, guid) = match b.split_once('=') {
                Some((name, guid)) => {
                    let guid = guid.trim();
                    let guid = guid.strip_prefix("urn:veeam:BackupServer:").unwrap_or(guid);
                    let guid = Uuid::parse_str(guid).with_context(|| {
                        format!("--backup-server '{b}': '{guid}' is not a GUID")
                    })?;
                    (name.trim(), Some(guid))
                }
                None => (b.trim(), None),
            };
            if name.is_empty() {
                bail!("--backup-server '{b}' has an empty name");
            }
            backup_servers.push((name.to_string(), guid));
        }
        if backup_servers.is_empty() {
            backup_servers = SimConfig::default().backup_servers;
        }
        Ok(SimConfig {
            listen: args.listen.clone(),
            users,
            backup_servers,
            tls: args.tls,
            cert_out: args.cert_out.clone(),
            state: args.state.clone(),
            seed_pool: args.seed_pool.clone(),
            default_page_size: args.default_page_size,
            latency: Duration::from_millis(args.latency_ms),
            task_time: Duration::from_millis(args.task_ms),
            finish_lag: Duration::from_millis(args.finish_lag_ms),
            session_idle: Duration::from_secs(args.session_idle_s),
            max_rps: args.max_rps,
            fail_rate: rate("fail-rate", args.fail_rate)?,
            drop_rate: rate("drop-rate", args.drop_rate)?,
            task_fail_rate: rate("task-fail-rate", args.task_fail_rate)?,
            expire_every: args.expire_every,
            task_scope: args.task_scope,
            refuse_task_query: args.refuse_task_query,
            post_reply_delay: Duration::from_millis(args.post_reply_delay_ms),
            post_reply_delay_rate: rate("post-reply-delay-rate", args.post_reply_delay_rate)?,
            seed: args.seed,
        })
    }
}

/// A running simulator.
#[derive(Debug)]
pub struct SimHandle {
    base_url: String,
    addr: SocketAddr,
    cert_pem: Option<String>,
    cancel: CancellationToken,
    server: tokio::task::JoinHandle<()>,
    shared: Arc<state::Shared>,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT` (or `https://`), no trailing slash, no `/api`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The PEM of the generated certificate (with TLS).
    pub fn cert_pem(&self) -> Option<&str> {
        self.cert_pem.as_deref()
    }

    /// The seed in use (the configured one, or the random one drawn).
    pub fn seed(&self) -> u64 {
        self.shared.seed
    }

    /// The pool as `GET /sim/pool` shows it: backup server UID -> addresses.
    pub fn pool(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        self.shared.pool_snapshot()
    }

    /// The counters as `GET /sim/stats` shows them.
    pub fn stats(&self) -> SimStats {
        self.shared.stats_snapshot()
    }

    /// Every session token issued since the start (or the last reset), in
    /// order, expired ones included. In-process only, never served over
    /// HTTP: tests use it to prove no token leaked into logs or files.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.shared.core.lock().issued_tokens.clone()
    }

    /// `POST /sim/reset`: no tasks, sessions or counters; the pool back to `--seed-pool`.
    pub fn reset(&self) -> anyhow::Result<()> {
        self.shared.reset()
    }

    /// Stop accepting, let open connections finish briefly, save the state.
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.server.await;
        let mut core = self.shared.core.lock();
        self.shared.apply_due(&mut core, std::time::Instant::now());
        self.shared.save(&core);
    }
}

/// Start the simulator in the current tokio runtime.
pub async fn start(config: SimConfig) -> anyhow::Result<SimHandle> {
    let tls = if config.tls {
        let (acceptor, pem) = tls::self_signed()?;
        if let Some(path) = &config.cert_out {
            std::fs::write(path, &pem)
                .with_context(|| format!("writing the certificate to {}", path.display()))?;
        }
        Some((acceptor, pem))
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(state::Shared::new(config)?);
    let scheme = if tls.is_some() { "https" } else { "http" };
    let cancel = CancellationToken::new();
    let (acceptor, cert_pem) = match tls {
        Some((a, p)) => (Some(a), Some(p)),
        None => (None, None),
    };
    let server = tokio::spawn(server::serve(
        listener,
        acceptor,
        shared.clone(),
        cancel.clone(),
    ));
    Ok(SimHandle {
        base_url: format!("{scheme}://{addr}"),
        addr,
        cert_pem,
        cancel,
        server,
        shared,
    })
}
