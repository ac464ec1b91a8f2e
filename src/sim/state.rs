//! The simulator's state: backup servers, the pool, logon sessions, tasks and
//! counters, and the rules that change them (task lifecycle, conflicts,
//! persistence). Everything mutable sits behind one mutex that is only ever
//! held briefly and never across an `.await`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::SimConfig;
use super::faults::{self, Streams, Window};
use super::pool::{NO_TENANT, Pool};
use crate::em::wire::{TaskResult, TaskState};
use crate::range::{Family, IpRange, format_address, parse_address};

/// Largest range one POST may add (assumed; keeps a typo from eating memory).
pub const MAX_RANGE: u128 = 1 << 24;

/// Namespace of the UUID v5 GUIDs derived from backup server and tenant names.
const NAME_NAMESPACE: Uuid = Uuid::from_u128(0x6a1f_7b0e_52c4_4d8e_9a3b_0c5e_1f2d_3e4f);

/// The GUID a backup server named without one gets (stable across restarts).
pub fn derived_server_guid(name: &str) -> Uuid {
    Uuid::new_v5(&NAME_NAMESPACE, format!("backup-server:{name}").as_bytes())
}

fn derived_tenant_guid(name: &str) -> Uuid {
    Uuid::new_v5(&NAME_NAMESPACE, format!("tenant:{name}").as_bytes())
}

/// The `urn:veeam:BackupServer:<guid>` form.
pub fn server_uid(guid: &Uuid) -> String {
    format!("urn:veeam:BackupServer:{guid}")
}

/// A backup server EM knows.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub name: String,
    pub guid: Uuid,
    pub uid: String,
}

/// A logon session.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: Uuid,
    pub user: String,
    pub last_used: Instant,
}

/// What a task does when it leaves `Running`.
#[derive(Debug, Clone)]
pub enum TaskOp {
    Create {
        server: usize,
        range: IpRange,
    },
    Edit {
        guid: [u8; 16],
        family: Family,
        addr: u128,
    },
    Delete {
        guid: [u8; 16],
    },
}

impl TaskOp {
    /// The vendor operation name (the edit and delete names are assumed).
    pub fn name(&self) -> &'static str {
        match self {
            TaskOp::Create { .. } => "CreateCloudPublicIpAddress",
            TaskOp::Edit { .. } => "EditCloudPublicIpAddress",
            TaskOp::Delete { .. } => "DeleteCloudPublicIpAddress",
        }
    }
}

/// A task and its outcome.
#[derive(Debug, Clone)]
pub struct TaskRec {
    pub id: u64,
    /// The logon session that made it.
    pub session: Uuid,
    /// When it leaves `Running`.
    pub due: Instant,
    pub op: TaskOp,
    /// Drawn at creation from the task-fail stream.
    pub inject_fail: bool,
    /// Set when it left `Running`.
    pub outcome: Option<TaskResult>,
    /// `DELETE /api/tasks/{id}` hides it; its operation still completes.
    pub hidden: bool,
}

impl TaskRec {
    pub fn state(&self, now: Instant, lag: std::time::Duration) -> TaskState {
        match self.outcome {
            None => TaskState::Running,
            Some(_) if now < self.due + lag => TaskState::OperationFinished,
            Some(_) => TaskState::Finished,
        }
    }
}

/// The counters of `/sim/stats`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub requests: u64,
    pub by_route: BTreeMap<String, u64>,
    pub by_status: BTreeMap<String, u64>,
    pub logons: u64,
    pub tasks_created: u64,
    pub tasks_failed: u64,
    pub conflicting_posts: u64,
    pub max_requests_in_one_second: u64,
    pub rejected_503: u64,
    pub dropped: u64,
    /// Range POST replies held back by `--post-reply-delay-ms` (beyond the spec).
    pub delayed_replies: u64,
}

/// Everything mutable.
#[derive(Debug)]
pub struct Core {
    pub pool: Pool,
    /// Token -> session.
    pub sessions: HashMap<String, Session>,
    pub tasks: BTreeMap<u64, TaskRec>,
    /// Ids of `Running` tasks, in due order (every task runs equally long).
    pending: VecDeque<u64>,
    next_task: u64,
    pub stats: Stats,
    pub streams: Streams,
    pub window: Window,
    /// Authenticated `/api/` requests so far (for `--expire-every`).
    pub auth_count: u64,
    /// Every token issued, for [`super::SimHandle::issued_tokens`].
    pub issued_tokens: Vec<String>,
}

/// The simulator: configuration, backup servers, and the state.
#[derive(Debug)]
pub struct Shared {
    pub config: SimConfig,
    pub servers: Vec<ServerInfo>,
    pub seed: u64,
    pub core: Mutex<Core>,
}

/// On-disk form of `--state`.
#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    format: String,
    tenants: Vec<TenantRec>,
    /// Backup server UID -> `[address, guid, tenant index or null]`.
    pool: BTreeMap<String, Vec<(String, String, Option<u32>)>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TenantRec {
    uid: String,
    name: String,
}

const STATE_FORMAT: &str = "ipimport-sim-state/1";

impl Shared {
    /// Resolve the configuration and load the initial pool.
    pub fn new(config: SimConfig) -> anyhow::Result<Shared> {
        let mut servers: Vec<ServerInfo> = Vec::new();
        for (name, guid) in &config.backup_servers {
            let guid = guid.unwrap_or_else(|| derived_server_guid(name));
            if servers
                .iter()
                .any(|s| s.name.eq_ignore_ascii_case(name) || s.guid == guid)
            {
                bail!("backup server '{name}' ({guid}) is given twice");
            }
            servers.push(ServerInfo {
                name: name.clone(),
                guid,
                uid: server_uid(&guid),
            });
        }
        if servers.len() > u16::MAX as usize {
            bail!("too many backup servers (at most {})", u16::MAX);
        }
        let seed = config.seed.unwrap_or_else(rand::random);
        let mut streams = Streams::new(seed);
        let pool = initial_pool(&config, &servers, &mut streams)?;
        // Write the state once now: a path that cannot be written is refused
        // at start, not discovered on the first change while tasks succeed.
        if let Some(path) = &config.state {
            save_state(path, &pool, &servers).with_context(|| {
                format!(
                    "the state file {} cannot be written; check that its directory exists and is writable",
                    path.display()
                )
            })?;
        }
        let shared = Shared {
            config,
            servers,
            seed,
            core: Mutex::new(Core {
                pool,
                sessions: HashMap::new(),
                tasks: BTreeMap::new(),
                pending: VecDeque::new(),
                next_task: 1,
                stats: Stats::default(),
                streams,
                window: Window::default(),
                auth_count: 0,
                issued_tokens: Vec::new(),
            }),
        };
        Ok(shared)
    }

    /// The index of a backup server by UID (`urn:veeam:BackupServer:<guid>`, exact form).
    pub fn server_by_uid(&self, uid: &str) -> Option<usize> {
        let guid = uid.strip_prefix("urn:veeam:BackupServer:")?;
        let guid = Uuid::parse_str(guid).ok()?;
        self.servers.iter().position(|s| s.guid == guid)
    }

    /// What `/sim/pool` shows: every backup server's UID and its addresses
    /// in text, IPv4 first, each family in numeric order.
    pub fn pool_snapshot(&self) -> BTreeMap<String, Vec<String>> {
        let mut core = self.core.lock();
        self.apply_due(&mut core, Instant::now());
        self.servers
            .iter()
            .enumerate()
            .map(|(i, s)| (s.uid.clone(), core.pool.addresses_text(i)))
            .collect()
    }

    /// What `/sim/stats` shows.
    pub fn stats_snapshot(&self) -> Stats {
        let mut core = self.core.lock();
        self.apply_due(&mut core, Instant::now());
        core.stats.clone()
    }

    /// `POST /sim/reset`: no tasks, sessions or counters; the pool back to
    /// `--seed-pool`; random streams back to the seed.
    pub fn reset(&self) -> anyhow::Result<()> {
        let mut streams = Streams::new(self.seed);
        let pool = seed_pool(&self.config, &self.servers, &mut streams)?;
        let mut core = self.core.lock();
        core.pool = pool;
        core.sessions.clear();
        core.tasks.clear();
        core.pending.clear();
        core.next_task = 1;
        core.stats = Stats::default();
        core.streams = streams;
        core.window = Window::default();
        core.auth_count = 0;
        core.issued_tokens.clear();
        self.save(&core);
        Ok(())
    }

    /// Create a task; it leaves `Running` at `now + task_time`.
    pub fn create_task(&self, core: &mut Core, session: Uuid, op: TaskOp, now: Instant) -> u64 {
        let id = core.next_task;
        core.next_task += 1;
        let inject_fail = faults::chance(&mut core.streams.task_fail, self.config.task_fail_rate);
        core.tasks.insert(
            id,
            TaskRec {
                id,
                session,
                due: now + self.config.task_time,
                op,
                inject_fail,
                outcome: None,
                hidden: false,
            },
        );
        core.pending.push_back(id);
        core.stats.tasks_created += 1;
        id
    }

    /// Complete every task whose time has come, in creation order, each
    /// atomically; save the pool if it changed.
    pub fn apply_due(&self, core: &mut Core, now: Instant) {
        let mut changed = false;
        while let Some(&id) = core.pending.front() {
            let Some(task) = core.tasks.get(&id) else {
                core.pending.pop_front();
                continue;
            };
            if task.due > now {
                break;
            }
            core.pending.pop_front();
            let op = task.op.clone();
            let inject_fail = task.inject_fail;
            let (result, did_change) = self.carry_out(core, &op, inject_fail);
            changed |= did_change;
            if !result.success {
                core.stats.tasks_failed += 1;
            }
            if let Some(task) = core.tasks.get_mut(&id) {
                task.outcome = Some(result);
            }
        }
        if changed {
            self.save(core);
        }
    }

    fn carry_out(&self, core: &mut Core, op: &TaskOp, inject_fail: bool) -> (TaskResult, bool) {
        let fail = |message: String| {
            (
                TaskResult {
                    success: false,
                    message,
                },
                false,
            )
        };
        let ok = || {
            (
                TaskResult {
                    success: true,
                    message: "Ok".into(),
                },
                true,
            )
        };
        match op {
            TaskOp::Create { server, range } => {
                // Assumed conflict rule: all or nothing, decided when the task
                // leaves Running; conflicting_posts counts these.
                if let Some(addr) = core.pool.server(*server).first_present(range) {
                    core.stats.conflicting_posts += 1;
                    return fail(format!(
                        "Public IP address {} already exists in the pool of backup server {}",
                        format_address(range.family(), addr),
                        self.servers[*server].name
                    ));
                }
                if inject_fail {
                    return fail(
                        "Simulated task failure (--task-fail-rate); nothing was added".into(),
                    );
                }
                let Core { pool, streams, .. } = core;
                if let Err(addr) = pool.insert_range(*server, range, NO_TENANT, || {
                    faults::guid(&mut streams.guid).into_bytes()
                }) {
                    // Unreachable after the check above; fail truthfully anyway.
                    return fail(format!(
                        "Public IP address {} already exists in the pool of backup server {}; nothing was added",
                        format_address(range.family(), addr),
                        self.servers[*server].name
                    ));
                }
                ok()
            }
            TaskOp::Edit { guid, family, addr } => {
                let Some((loc, _)) = core.pool.locate(guid) else {
                    return fail("The public IP address no longer exists".into());
                };
                if inject_fail {
                    return fail(
                        "Simulated task failure (--task-fail-rate); nothing was changed".into(),
                    );
                }
                if let Some(other) = core.pool.server(loc.server as usize).get(*family, *addr)
                    && other.guid != *guid
                {
                    return fail(format!(
                        "Public IP address {} already exists in the pool of backup server {}",
                        format_address(*family, *addr),
                        self.servers[loc.server as usize].name
                    ));
                }
                core.pool.readdress(guid, *family, *addr);
                ok()
            }
            TaskOp::Delete { guid } => {
                let Some((loc, entry)) = core.pool.locate(guid) else {
                    return fail("The public IP address no longer exists".into());
                };
                if let Some(tenant) = core.pool.tenant(entry.tenant) {
                    return fail(format!(
                        "Public IP address {} is assigned to tenant {} and cannot be removed",
                        format_address(loc.family, loc.addr()),
                        tenant.name
                    ));
                }
                if inject_fail {
                    return fail(
                        "Simulated task failure (--task-fail-rate); nothing was removed".into(),
                    );
                }
                core.pool.remove(guid);
                ok()
            }
        }
    }

    /// Save the pool to `--state` atomically (temporary file, fsync, rename).
    /// A failure is logged, not fatal: the simulator keeps serving.
    pub fn save(&self, core: &Core) {
        let Some(path) = &self.config.state else {
            return;
        };
        if let Err(err) = save_state(path, &core.pool, &self.servers) {
            tracing::error!(
                "could not save the simulator state to {}: {err:#}",
                path.display()
            );
        }
    }
}

fn save_state(path: &Path, pool: &Pool, servers: &[ServerInfo]) -> anyhow::Result<()> {
    let mut file = StateFile {
        format: STATE_FORMAT.into(),
        tenants: pool
            .tenants
            .iter()
            .map(|t| TenantRec {
                uid: t.uid.clone(),
                name: t.name.clone(),
            })
            .collect(),
        pool: BTreeMap::new(),
    };
    for (i, server) in servers.iter().enumerate() {
        let entries = pool
            .server(i)
            .iter()
            .map(|(family, addr, e)| {
                (
                    format_address(family, addr),
                    Uuid::from_bytes(e.guid).to_string(),
                    (e.tenant != NO_TENANT).then_some(e.tenant),
                )
            })
            .collect();
        file.pool.insert(server.uid.clone(), entries);
    }
    crate::durable::write_atomically(path, |w| {
        serde_json::to_writer(&mut *w, &file).map_err(std::io::Error::other)
    })
    .with_context(|| format!("writing {}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new(""));
    crate::durable::sync_dir(dir).with_context(|| format!("syncing {}", dir.display()))?;
    Ok(())
}

/// The pool at start: `--state` if the file exists, else `--seed-pool`.
fn initial_pool(
    config: &SimConfig,
    servers: &[ServerInfo],
    streams: &mut Streams,
) -> anyhow::Result<Pool> {
    if let Some(path) = &config.state
        && path.exists()
    {
        return load_state(path, servers)
            .with_context(|| format!("loading the simulator state {}", path.display()));
    }
    seed_pool(config, servers, streams)
}

fn load_state(path: &Path, servers: &[ServerInfo]) -> anyhow::Result<Pool> {
    let text = std::fs::read(path)?;
    let file: StateFile = serde_json::from_slice(&text).context("not a simulator state file")?;
    if file.format != STATE_FORMAT {
        bail!(
            "unknown state format '{}' (expected {STATE_FORMAT})",
            file.format
        );
    }
    let mut pool = Pool::new(servers.len());
    for t in &file.tenants {
        pool.tenant_index(&t.uid, &t.name);
    }
    // Addresses of a backup server not configured would be erased by the next
    // save: refuse to start instead, naming the servers to add.
    let unknown: Vec<String> = file
        .pool
        .iter()
        .filter(|(uid, entries)| {
            !entries.is_empty() && !servers.iter().any(|s| s.uid.eq_ignore_ascii_case(uid))
        })
        .map(|(uid, entries)| {
            let guid = uid.strip_prefix("urn:veeam:BackupServer:").unwrap_or(uid);
            format!("--backup-server NAME={guid} ({} addresses)", entries.len())
        })
        .collect();
    if !unknown.is_empty() {
        bail!(
            "it holds addresses of backup servers that are not configured; pass {} (or start from another --state file)",
            unknown.join(", ")
        );
    }
    for (uid, entries) in &file.pool {
        let Some(index) = servers.iter().position(|s| s.uid.eq_ignore_ascii_case(uid)) else {
            continue;
        };
        for (addr, guid, tenant) in entries {
            let (family, value) =
                parse_address(addr).map_err(|e| anyhow::anyhow!("bad address in state: {e}"))?;
            let guid =
                Uuid::parse_str(guid).with_context(|| format!("bad GUID '{guid}' in state"))?;
            let tenant = match tenant {
                Some(t) if (*t as usize) < pool.tenants.len() => *t,
                Some(t) => bail!("tenant index {t} out of range in state"),
                None => NO_TENANT,
            };
            if !pool.insert(index, family, value, guid.into_bytes(), tenant) {
                bail!("address {addr} or GUID {guid} appears twice in state");
            }
        }
    }
    Ok(pool)
}

/// The `--seed-pool` CSV: `backup_server,ip[,tenant_uid]`, header optional,
/// blank lines and `#` lines skipped; `ip` an address, `a-b` or CIDR.
pub fn seed_pool(
    config: &SimConfig,
    servers: &[ServerInfo],
    streams: &mut Streams,
) -> anyhow::Result<Pool> {
    let mut pool = Pool::new(servers.len());
    let Some(path) = &config.seed_pool else {
        return Ok(pool);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the seed pool {}", path.display()))?;
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cells: Vec<&str> = line
            .split(',')
            .map(|c| c.trim().trim_matches('"'))
            .collect();
        let at = || format!("{}:{line_no}", path.display());
        if cells.len() < 2 || cells.len() > 3 {
            bail!(
                "{}: expected backup_server,ip[,tenant_uid], found {} cells",
                at(),
                cells.len()
            );
        }
        let range = match IpRange::parse(cells[1]) {
            Ok(r) => r,
            Err(_) if pool.is_empty() && cells[1].eq_ignore_ascii_case("ip") => continue,
            Err(e) => bail!("{}: {e}", at()),
        };
        let server = servers
            .iter()
            .position(|s| {
                s.name.eq_ignore_ascii_case(cells[0]) || s.uid.eq_ignore_ascii_case(cells[0])
            })
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: backup server '{}' is not configured (add --backup-server {})",
                    at(),
                    cells[0],
                    cells[0]
                )
            })?;
        if range.count() > MAX_RANGE {
            bail!(
                "{}: range {range} holds more than {MAX_RANGE} addresses",
                at()
            );
        }
        let tenant = match cells.get(2).filter(|t| !t.is_empty()) {
            None => NO_TENANT,
            Some(t) if t.starts_with("urn:veeam:CloudTenant:") => pool.tenant_index(t, t),
            Some(t) if t.starts_with("urn:") => {
                bail!("{}: tenant '{t}' is not urn:veeam:CloudTenant:<guid>", at())
            }
            Some(name) => {
                let uid = format!("urn:veeam:CloudTenant:{}", derived_tenant_guid(name));
                pool.tenant_index(&uid, name)
            }
        };
        pool.insert_range(server, &range, tenant, || {
            faults::guid(&mut streams.guid).into_bytes()
        })
        .map_err(|addr| {
            anyhow::anyhow!(
                "{}: address {} is already in the seed pool",
                at(),
                format_address(range.family(), addr)
            )
        })?;
    }
    Ok(pool)
}
