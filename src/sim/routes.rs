//! The `/api/` endpoints: route table, authentication, and one handler per
//! endpoint. Handlers run synchronously under the state lock and return a
//! [`Reply`]; the network side (faults, latency, dropping) is in `server`.

use std::time::Instant;

use base64::Engine;
use http::{HeaderMap, Method};
use uuid::Uuid;

use super::query::{self, Expr, Tri, Val};
use super::state::{Core, MAX_RANGE, Shared, TaskOp, TaskRec};
use crate::cli::TaskScope;
use crate::em::wire::{
    self, BackupServer, BackupServers, Body, CloudPublicIp, CloudPublicIpAddressCreateSpec,
    CloudPublicIps, EnterpriseManager, EntityRef, EntityReferences, ErrorBody, Link, LogonSession,
    PagingInfo, QueryItems, QueryResult, SupportedVersion, Task, TaskState, Tasks, Wire,
};
use crate::range::{Family, IpRange, format_address, parse_address};

/// The session header and cookie name.
pub const SESSION_HEADER: &str = "X-RestSvcSessionId";

/// An endpoint, with the id from its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Root,
    Logon,
    LogonSession(String),
    BackupServers,
    BackupServer(String),
    PublicIps,
    PublicIp(String),
    Query,
    Tasks,
    Task(String),
}

impl Route {
    /// Resolve a path under `/api`.
    pub fn resolve(path: &str) -> Option<Route> {
        let rest = path.strip_prefix("/api")?;
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        let parts: Vec<&str> = rest.split('/').collect();
        let parts: &[&str] = match parts.as_slice() {
            // A trailing slash is tolerated (`/api/sessionMngr/`).
            [head @ .., ""] => head,
            all => all,
        };
        let id = |s: &str| s.to_string();
        Some(match parts {
            [] => Route::Root,
            ["sessionMngr"] => Route::Logon,
            ["logonSessions", x] => Route::LogonSession(id(x)),
            ["backupServers"] => Route::BackupServers,
            ["backupServers", x] => Route::BackupServer(id(x)),
            ["cloud", "publicIpAddresses"] => Route::PublicIps,
            ["cloud", "publicIpAddresses", x] => Route::PublicIp(id(x)),
            ["query"] => Route::Query,
            ["tasks"] => Route::Tasks,
            ["tasks", x] => Route::Task(id(x)),
            _ => return None,
        })
    }

    /// The route's key in `/sim/stats` `by_route` (without the method).
    pub fn template(&self) -> &'static str {
        match self {
            Route::Root => "/api/",
            Route::Logon => "/api/sessionMngr/",
            Route::LogonSession(_) => "/api/logonSessions/{id}",
            Route::BackupServers => "/api/backupServers",
            Route::BackupServer(_) => "/api/backupServers/{id}",
            Route::PublicIps => "/api/cloud/publicIpAddresses",
            Route::PublicIp(_) => "/api/cloud/publicIpAddresses/{id}",
            Route::Query => "/api/query",
            Route::Tasks => "/api/tasks",
            Route::Task(_) => "/api/tasks/{id}",
        }
    }

    /// The methods the route answers.
    pub fn allowed(&self) -> &'static [Method] {
        match self {
            Route::Root
            | Route::BackupServers
            | Route::BackupServer(_)
            | Route::Query
            | Route::Tasks => &[Method::GET],
            Route::Logon => &[Method::POST],
            Route::LogonSession(_) | Route::Task(_) => &[Method::GET, Method::DELETE],
            Route::PublicIps => &[Method::GET, Method::POST],
            Route::PublicIp(_) => &[Method::GET, Method::PUT, Method::DELETE],
        }
    }
}

/// A request as the handlers see it.
#[derive(Debug)]
pub struct Req<'a> {
    pub method: &'a Method,
    pub query: Vec<(String, String)>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// `scheme://host[:port]` for links.
    pub base: String,
    /// The format of the answer (`Accept`).
    pub accept: Wire,
    pub now: Instant,
}

impl Req<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn api(&self, path: &str) -> String {
        format!("{}/api{path}", self.base)
    }
}

/// An answer, before the network side sends it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
    /// A task was created that leaves `Running` at this instant.
    pub wake_at: Option<Instant>,
}

impl Reply {
    pub fn body<T: Body>(status: u16, body: &T, wire: Wire) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            content_type: Some(wire::content_type(wire)),
            body: wire::encode(body, wire),
            wake_at: None,
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            content_type: None,
            body: Vec::new(),
            wake_at: None,
        }
    }

    pub fn error(status: u16, message: impl Into<String>, wire: Wire) -> Reply {
        let mut reply = Reply::body(status, &ErrorBody::new(status, message), wire);
        if status == 401 {
            reply
                .headers
                .push(("WWW-Authenticate", "Basic Realm=RestSvc".into()));
        }
        reply
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

/// The token a request carries: the cookie wins over the header.
fn token_of(headers: &HeaderMap) -> Option<String> {
    for cookie in headers.get_all(http::header::COOKIE) {
        let Ok(cookie) = cookie.to_str() else {
            continue;
        };
        for pair in cookie.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=')
                && k.trim() == SESSION_HEADER
            {
                return Some(v.trim().to_string());
            }
        }
    }
    headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
}

/// Handle one admitted `/api/` request whose method the route allows.
pub fn handle(shared: &Shared, core: &mut Core, req: &Req<'_>, route: &Route) -> Reply {
    let wire = req.accept;
    match route {
        Route::Root => return root(req),
        Route::Logon => return logon(shared, core, req),
        _ => {}
    }
    // Every other endpoint needs a live session.
    let Some(token) = token_of(req.headers) else {
        return Reply::error(
            401,
            format!(
                "Authentication required: send the {SESSION_HEADER} header from POST /api/sessionMngr/"
            ),
            wire,
        );
    };
    let session = match core.sessions.get_mut(&token) {
        None => {
            return Reply::error(
                401,
                "The session is unknown or has expired; log on again",
                wire,
            );
        }
        Some(s) if req.now.duration_since(s.last_used) >= shared.config.session_idle => {
            core.sessions.remove(&token);
            return Reply::error(
                401,
                "The session has expired after being idle; log on again",
                wire,
            );
        }
        Some(s) => {
            s.last_used = req.now;
            s.clone()
        }
    };
    core.auth_count += 1;
    let reply = match route {
        Route::LogonSession(id) => logon_session(core, req, &token, id),
        Route::BackupServers => backup_servers(shared, req),
        Route::BackupServer(id) => backup_server(shared, req, id),
        Route::PublicIps if req.method == Method::POST => post_range(shared, core, req, session.id),
        Route::PublicIps => list_public_ips(shared, core, req),
        Route::PublicIp(id) => public_ip(shared, core, req, session.id, id),
        Route::Query => query_service(shared, core, req, session.id),
        Route::Tasks => {
            let tasks = visible_tasks(shared, core, session.id)
                .map(|t| task_body(shared, req, t))
                .collect();
            Reply::body(200, &Tasks { tasks }, wire)
        }
        Route::Task(id) => task(shared, core, req, session.id, id),
        Route::Root | Route::Logon => unreachable_route(wire),
    };
    // `--expire-every N`: after every N authenticated requests all tokens die
    // (the Nth itself is still answered).
    let n = shared.config.expire_every;
    if n > 0 && core.auth_count.is_multiple_of(n) {
        core.sessions.clear();
    }
    reply
}

fn unreachable_route(wire: Wire) -> Reply {
    Reply::error(500, "internal routing error", wire)
}

fn root(req: &Req<'_>) -> Reply {
    let logon = |v: &str| {
        Link::new(
            "Create",
            req.api(&format!("/sessionMngr/?v={v}")),
            "LogonSession",
        )
    };
    let body = EnterpriseManager {
        href: req.api("/"),
        type_: Some("EnterpriseManager".into()),
        links: vec![logon("latest")],
        supported_versions: vec![SupportedVersion {
            name: "v1_7".into(),
            links: vec![logon("v1_7")],
        }],
    };
    Reply::body(200, &body, req.accept)
}

fn logon(shared: &Shared, core: &mut Core, req: &Req<'_>) -> Reply {
    let wire = req.accept;
    match req.param("v") {
        Some(v) if v.eq_ignore_ascii_case("latest") || v.eq_ignore_ascii_case("v1_7") => {}
        Some(v) => {
            return Reply::error(
                400,
                format!("API version '{v}' is not supported; use v=latest or v=v1_7"),
                wire,
            );
        }
        None => {
            return Reply::error(
                400,
                "The API version is missing; use /api/sessionMngr/?v=latest",
                wire,
            );
        }
    }
    let creds = req
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then_some(rest.trim())
        })
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok());
    let Some(creds) = creds else {
        return Reply::error(401, "Basic authentication is required to log on", wire);
    };
    let (user, password) = creds.split_once(':').unwrap_or((&creds, ""));
    if !shared
        .config
        .users
        .iter()
        .any(|(u, p)| u.eq_ignore_ascii_case(user) && p == password)
    {
        return Reply::error(401, "The user name or password is incorrect", wire);
    }
    let id = super::faults::guid(&mut core.streams.session);
    let token = base64::engine::general_purpose::STANDARD
        .encode(super::faults::bytes16(&mut core.streams.session));
    core.sessions.insert(
        token.clone(),
        super::state::Session {
            id,
            user: user.to_string(),
            last_used: req.now,
        },
    );
    core.stats.logons += 1;
    core.issued_tokens.push(token.clone());
    let body = logon_session_body(req, id, user);
    Reply::body(201, &body, wire)
        .header("X-RestSvcSessionId", token.clone())
        .header(
            "Set-Cookie",
            format!("{SESSION_HEADER}={token}; Path=/api;"),
        )
}

fn logon_session_body(req: &Req<'_>, id: Uuid, user: &str) -> LogonSession {
    let href = req.api(&format!("/logonSessions/{id}"));
    LogonSession {
        href: href.clone(),
        type_: Some("LogonSession".into()),
        links: vec![
            Link::new("Up", req.api("/"), "EnterpriseManager"),
            Link::new("Delete", href, "LogonSession"),
            Link::new(
                "Down",
                req.api("/backupServers"),
                "BackupServerReferenceList",
            ),
        ],
        user_name: user.to_string(),
        session_id: id.to_string(),
    }
}

fn logon_session(core: &mut Core, req: &Req<'_>, token: &str, id: &str) -> Reply {
    let wire = req.accept;
    let Some(session) = core.sessions.get(token).cloned() else {
        return Reply::error(401, "The session has expired; log on again", wire);
    };
    let same = Uuid::parse_str(id)
        .map(|u| u == session.id)
        .unwrap_or(false);
    if !same {
        return Reply::error(404, format!("Logon session {id} was not found"), wire);
    }
    if req.method == Method::DELETE {
        core.sessions.remove(token);
        return Reply::empty(204);
    }
    Reply::body(
        200,
        &logon_session_body(req, session.id, &session.user),
        wire,
    )
}

fn server_ref(req: &Req<'_>, s: &super::state::ServerInfo) -> EntityRef {
    EntityRef {
        uid: s.uid.clone(),
        name: s.name.clone(),
        href: req.api(&format!("/backupServers/{}", s.guid)),
        type_: "BackupServerReference".into(),
        links: vec![Link::new(
            "Alternate",
            req.api(&format!("/backupServers/{}?format=Entity", s.guid)),
            "BackupServer",
        )],
    }
}

fn server_entity(req: &Req<'_>, s: &super::state::ServerInfo) -> BackupServer {
    BackupServer {
        href: req.api(&format!("/backupServers/{}?format=Entity", s.guid)),
        type_: Some("BackupServer".into()),
        name: s.name.clone(),
        uid: s.uid.clone(),
        links: vec![Link::new(
            "Alternate",
            req.api(&format!("/backupServers/{}", s.guid)),
            "BackupServerReference",
        )],
        description: "Backup server simulated by ipimport sim".into(),
        port: 9392,
        version: "13.0.1.1071".into(),
    }
}

fn wants_entities(req: &Req<'_>) -> bool {
    req.param("format")
        .map(|f| f.eq_ignore_ascii_case("Entity") || f.eq_ignore_ascii_case("Entities"))
        .unwrap_or(false)
}

fn backup_servers(shared: &Shared, req: &Req<'_>) -> Reply {
    if wants_entities(req) {
        let servers = shared
            .servers
            .iter()
            .map(|s| server_entity(req, s))
            .collect();
        Reply::body(200, &BackupServers { servers }, req.accept)
    } else {
        let refs = shared.servers.iter().map(|s| server_ref(req, s)).collect();
        Reply::body(200, &EntityReferences { refs }, req.accept)
    }
}

fn backup_server(shared: &Shared, req: &Req<'_>, id: &str) -> Reply {
    let found = Uuid::parse_str(id)
        .ok()
        .and_then(|g| shared.servers.iter().find(|s| s.guid == g));
    match found {
        // As the vendor documents it: the reference by default, the entity
        // on `?format=Entity`; each links to the other as `Alternate`.
        Some(s) if wants_entities(req) => Reply::body(200, &server_entity(req, s), req.accept),
        Some(s) => Reply::body(200, &server_ref(req, s), req.accept),
        None => Reply::error(404, format!("Backup server {id} was not found"), req.accept),
    }
}

/// Render one pool entity.
fn public_ip_body(
    shared: &Shared,
    core: &Core,
    req: &Req<'_>,
    server: usize,
    family: Family,
    addr: u128,
    entry: super::pool::Entry,
) -> CloudPublicIp {
    let guid = Uuid::from_bytes(entry.guid);
    let text = format_address(family, addr);
    let href = req.api(&format!("/cloud/publicIpAddresses/{guid}"));
    CloudPublicIp {
        href: href.clone(),
        type_: Some("CloudPublicIpAddress".into()),
        name: text.clone(),
        uid: format!("urn:veeam:CloudPublicIpAddress:{guid}"),
        backup_server_uid: shared.servers[server].uid.clone(),
        links: vec![
            Link::new("Edit", href.clone(), "CloudPublicIpAddress"),
            Link::new("Delete", href, "CloudPublicIpAddress"),
        ],
        ip_address: text,
        tenant_uid: core.pool.tenant(entry.tenant).map(|t| t.uid.clone()),
    }
}

fn public_ip_ref(
    req: &Req<'_>,
    family: Family,
    addr: u128,
    entry: super::pool::Entry,
) -> EntityRef {
    let guid = Uuid::from_bytes(entry.guid);
    EntityRef {
        uid: format!("urn:veeam:CloudPublicIpAddress:{guid}"),
        name: format_address(family, addr),
        href: req.api(&format!("/cloud/publicIpAddresses/{guid}")),
        type_: "CloudPublicIpAddressReference".into(),
        links: Vec::new(),
    }
}

fn list_public_ips(shared: &Shared, core: &Core, req: &Req<'_>) -> Reply {
    let all = (0..shared.servers.len()).flat_map(|s| {
        core.pool
            .server(s)
            .iter()
            .map(move |(f, a, e)| (s, f, a, e))
    });
    if wants_entities(req) {
        let items = all
            .map(|(s, f, a, e)| public_ip_body(shared, core, req, s, f, a, e))
            .collect();
        Reply::body(200, &CloudPublicIps { items }, req.accept)
    } else {
        let refs = all
            .map(|(_, f, a, e)| public_ip_ref(req, f, a, e))
            .collect();
        Reply::body(200, &EntityReferences { refs }, req.accept)
    }
}

/// The wire format of a request body, from `Content-Type`.
fn body_wire(req: &Req<'_>) -> Result<Wire, Reply> {
    match req
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        None => Err(Reply::error(
            400,
            "Content-Type is required: application/xml or application/json",
            req.accept,
        )),
        Some(ct) => wire::wire_of_content_type(ct).ok_or_else(|| {
            Reply::error(
                400,
                format!(
                    "Content-Type '{ct}' is not supported: use application/xml or application/json"
                ),
                req.accept,
            )
        }),
    }
}

/// Parse one bound strictly: the canonical parser, and no surrounding blanks.
fn strict_address(text: &str, what: &str) -> Result<(Family, u128), String> {
    if text.trim() != text {
        return Err(format!(
            "{what} '{text}' has surrounding blanks; send the address alone"
        ));
    }
    parse_address(text).map_err(|e| format!("{what}: {e}"))
}

fn post_range(shared: &Shared, core: &mut Core, req: &Req<'_>, session: Uuid) -> Reply {
    let wire = req.accept;
    let body_wire = match body_wire(req) {
        Ok(w) => w,
        Err(reply) => return reply,
    };
    let spec: CloudPublicIpAddressCreateSpec = match wire::decode(req.body, body_wire) {
        Ok(s) => s,
        Err(e) => {
            return Reply::error(
                400,
                format!("Invalid CloudPublicIpAddressCreateSpec: {e}"),
                wire,
            );
        }
    };
    let uid = &spec.backup_server_uid;
    if uid.trim() != uid.as_str() {
        return Reply::error(
            400,
            format!(
                "BackupServerUid '{uid}' has surrounding blanks, which the schema's UidType forbids; trim it"
            ),
            wire,
        );
    }
    let Some(server) = shared.server_by_uid(uid) else {
        return Reply::error(
            400,
            format!("BackupServerUid '{uid}' names no backup server known to Enterprise Manager"),
            wire,
        );
    };
    let lower = strict_address(&spec.ip_address_lower_bound, "IpAddressLowerBound");
    let upper = strict_address(&spec.ip_address_upper_bound, "IpAddressUpperBound");
    let ((lf, lv), (uf, uv)) = match (lower, upper) {
        (Ok(l), Ok(u)) => (l, u),
        (Err(e), _) | (_, Err(e)) => return Reply::error(400, e, wire),
    };
    if lf != uf {
        return Reply::error(
            400,
            "IpAddressLowerBound and IpAddressUpperBound are of different address families",
            wire,
        );
    }
    let range = match IpRange::new(lf, lv, uv) {
        Ok(r) => r,
        Err(e) => return Reply::error(400, e.to_string(), wire),
    };
    if range.count() > MAX_RANGE {
        return Reply::error(
            400,
            format!(
                "The range holds {} addresses; the simulator accepts at most {MAX_RANGE} per request",
                range.count()
            ),
            wire,
        );
    }
    accepted(shared, core, req, session, TaskOp::Create { server, range })
}

/// Start a task and answer `202 Accepted` with it, `Running`.
fn accepted(shared: &Shared, core: &mut Core, req: &Req<'_>, session: Uuid, op: TaskOp) -> Reply {
    let id = shared.create_task(core, session, op, req.now);
    let task = &core.tasks[&id];
    let mut reply = Reply::body(202, &task_body(shared, req, task), req.accept);
    reply.wake_at = Some(task.due);
    reply
}

fn parse_entity_guid(id: &str) -> Option<[u8; 16]> {
    Uuid::parse_str(id).ok().map(|u| u.into_bytes())
}

fn public_ip(shared: &Shared, core: &mut Core, req: &Req<'_>, session: Uuid, id: &str) -> Reply {
    let wire = req.accept;
    let found = parse_entity_guid(id).and_then(|g| core.pool.locate(&g).map(|(l, e)| (g, l, e)));
    let Some((guid, loc, entry)) = found else {
        return Reply::error(404, format!("Public IP address {id} was not found"), wire);
    };
    match *req.method {
        Method::GET => {
            let body = public_ip_body(
                shared,
                core,
                req,
                loc.server as usize,
                loc.family,
                loc.addr(),
                entry,
            );
            Reply::body(200, &body, wire)
        }
        Method::PUT => {
            let body_wire = match body_wire(req) {
                Ok(w) => w,
                Err(reply) => return reply,
            };
            let edit: CloudPublicIp = match wire::decode_public_ip_edit(req.body, body_wire) {
                Ok(e) => e,
                Err(e) => {
                    return Reply::error(400, format!("Invalid CloudPublicIpAddress: {e}"), wire);
                }
            };
            if !edit.uid.is_empty()
                && !edit
                    .uid
                    .to_ascii_lowercase()
                    .ends_with(&Uuid::from_bytes(guid).to_string())
            {
                return Reply::error(
                    400,
                    format!(
                        "The body's UID {} is not the address {id} being edited",
                        edit.uid
                    ),
                    wire,
                );
            }
            let (family, addr) = match strict_address(&edit.ip_address, "IpAddress") {
                Ok(a) => a,
                Err(e) => return Reply::error(400, e, wire),
            };
            accepted(
                shared,
                core,
                req,
                session,
                TaskOp::Edit { guid, family, addr },
            )
        }
        _ => accepted(shared, core, req, session, TaskOp::Delete { guid }),
    }
}

fn visible_tasks<'a>(
    shared: &'a Shared,
    core: &'a Core,
    session: Uuid,
) -> impl Iterator<Item = &'a TaskRec> + 'a {
    let global = shared.config.task_scope == TaskScope::Global;
    core.tasks
        .values()
        .filter(move |t| !t.hidden && (global || t.session == session))
}

/// Render a task as the caller sees it now.
pub fn task_body(shared: &Shared, req: &Req<'_>, t: &TaskRec) -> Task {
    let href = req.api(&format!("/tasks/task-{}", t.id));
    let state = t.state(req.now, shared.config.finish_lag);
    let mut links = vec![Link::new("Delete", href.clone(), "Task")];
    let result = t.outcome.clone().map(|mut r| {
        if r.success && state == TaskState::OperationFinished {
            // As in the vendor's example of a task not yet collected by EM.
            r.message = "OperationFinished".into();
        }
        r
    });
    if let (Some(r), TaskOp::Create { .. }) = (&result, &t.op)
        && r.success
    {
        links.push(Link::new(
            "Related",
            req.api("/cloud/publicIpAddresses?format=Entity"),
            "CloudPublicIpAddressList",
        ));
    }
    Task {
        href,
        type_: Some("Task".into()),
        links,
        task_id: format!("task-{}", t.id),
        state,
        operation: t.op.name().into(),
        result,
    }
}

fn task(shared: &Shared, core: &mut Core, req: &Req<'_>, session: Uuid, id: &str) -> Reply {
    let wire = req.accept;
    let num = id.strip_prefix("task-").and_then(|n| n.parse::<u64>().ok());
    let global = shared.config.task_scope == TaskScope::Global;
    let found = num
        .and_then(|n| core.tasks.get(&n))
        .filter(|t| !t.hidden && (global || t.session == session));
    let Some(t) = found else {
        return Reply::error(
            404,
            format!("Task {id} was not found in this logon session"),
            wire,
        );
    };
    if req.method == Method::DELETE {
        let n = t.id;
        if let Some(t) = core.tasks.get_mut(&n) {
            t.hidden = true;
        }
        return Reply::empty(204);
    }
    Reply::body(200, &task_body(shared, req, t), wire)
}

// ---------------------------------------------------------------- query service

const IP_FIELDS: [&str; 7] = [
    "UID",
    "Name",
    "IpAddress",
    "CloudTenantUid",
    "CloudTenantName",
    "BackupServerUid",
    "BackupServerName",
];
const TASK_FIELDS: [&str; 3] = ["TaskId", "State", "Operation"];

/// Canonical spelling of a field, or an error naming the allowed ones.
fn canonical_field(
    name: &str,
    allowed: &[&'static str],
    type_: &str,
) -> Result<&'static str, String> {
    allowed
        .iter()
        .find(|f| f.eq_ignore_ascii_case(name))
        .copied()
        .ok_or_else(|| {
            format!(
                "'{name}' is not a field of {type_}; use one of {}",
                allowed.join(", ")
            )
        })
}

/// Rewrite a filter with canonical field names.
fn canonical_expr(e: &Expr, allowed: &[&'static str], type_: &str) -> Result<Expr, String> {
    Ok(match e {
        Expr::Or(v) => Expr::Or(
            v.iter()
                .map(|x| canonical_expr(x, allowed, type_))
                .collect::<Result<_, _>>()?,
        ),
        Expr::And(v) => Expr::And(
            v.iter()
                .map(|x| canonical_expr(x, allowed, type_))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Cmp { field, op, value } => Expr::Cmp {
            field: canonical_field(field, allowed, type_)?.to_string(),
            op: *op,
            value: value.clone(),
        },
    })
}

/// Paging parameters of a query.
struct Paging {
    /// 0 = everything on one page.
    size: usize,
    page: usize,
}

/// The largest `pageSize` and `page`: `PagingInfo` carries them as `xs:int`.
const MAX_PAGING: u64 = i32::MAX as u64;

/// `pageSize` 0..=i32::MAX (0 = one page, as `--default-page-size 0`) and
/// `page` 1..=i32::MAX; anything larger is refused rather than clamped, so
/// the numbers echoed in `PagingInfo` are the ones asked for and schema-valid.
fn paging(shared: &Shared, req: &Req<'_>) -> Result<Paging, String> {
    let size = match req.param("pageSize") {
        None => shared.config.default_page_size as usize,
        Some(s) => match s.trim().parse::<u64>() {
            Ok(n) if n <= MAX_PAGING => n as usize,
            Ok(_) => {
                return Err(format!(
                    "pageSize '{s}' is too large; at most {MAX_PAGING} (0 = all on one page)"
                ));
            }
            Err(_) => return Err(format!("pageSize '{s}' is not a whole number")),
        },
    };
    let page = match req.param("page") {
        None => 1,
        Some(p) => match p.trim().parse::<u64>() {
            Ok(n) if (1..=MAX_PAGING).contains(&n) => n as usize,
            Ok(n) if n > MAX_PAGING => {
                return Err(format!("page '{p}' is too large; at most {MAX_PAGING}"));
            }
            _ => return Err(format!("page '{p}' is not a page number (1, 2, ...)")),
        },
    };
    Ok(Paging { size, page })
}

impl Paging {
    fn window(&self) -> (usize, usize) {
        if self.size == 0 {
            (0, usize::MAX)
        } else {
            let start = (self.page - 1).saturating_mul(self.size);
            (start, start.saturating_add(self.size))
        }
    }

    fn info(&self, req: &Req<'_>, total: usize) -> PagingInfo {
        let (size, pages) = if self.size == 0 {
            (total, 1)
        } else {
            (self.size, total.div_ceil(self.size).max(1))
        };
        let link = |rel: &str, page: usize| {
            let mut s = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in &req.query {
                if !k.eq_ignore_ascii_case("page") && !k.eq_ignore_ascii_case("pageSize") {
                    s.append_pair(k, v);
                }
            }
            s.append_pair("pageSize", &self.size.to_string());
            s.append_pair("page", &page.to_string());
            Link::new(
                rel,
                format!("{}?{}", req.api("/query"), s.finish()),
                "QueryResult",
            )
        };
        let mut links = vec![link("First", 1)];
        if self.page > 1 {
            links.push(link("Previous", (self.page - 1).min(pages)));
        }
        if self.page < pages {
            links.push(link("Next", self.page + 1));
        }
        links.push(link("Last", pages));
        PagingInfo {
            page_num: self.page as u32,
            page_size: size as u32,
            pages_count: pages as u32,
            links,
        }
    }
}

/// The sort the query asks for: field and descending?
fn sort_of(
    req: &Req<'_>,
    allowed: &[&'static str],
    type_: &str,
) -> Result<Option<(&'static str, bool)>, String> {
    match (req.param("sortAsc"), req.param("sortDesc")) {
        (Some(_), Some(_)) => Err("give sortAsc or sortDesc, not both".into()),
        (Some(f), None) => Ok(Some((canonical_field(f, allowed, type_)?, false))),
        (None, Some(f)) => Ok(Some((canonical_field(f, allowed, type_)?, true))),
        (None, None) => Ok(None),
    }
}

fn query_service(shared: &Shared, core: &Core, req: &Req<'_>, session: Uuid) -> Reply {
    let wire = req.accept;
    // The query service knows one format (references without it).
    if let Some(f) = req.param("format")
        && !f.eq_ignore_ascii_case("Entities")
    {
        return Reply::error(
            400,
            format!("Unknown format '{f}'; use format=Entities, or none for references"),
            wire,
        );
    }
    let result = match req.param("type") {
        Some(t) if t.eq_ignore_ascii_case("CloudPublicIpAddress") => {
            query_public_ips(shared, core, req)
        }
        // `--refuse-task-query`: 400 with an `Error` body is what the query
        // service gives for a type it does not support (as for any unknown
        // type here); a client may not take the Task query for granted.
        Some(t) if t.eq_ignore_ascii_case("Task") && shared.config.refuse_task_query => Err(
            "Query type 'Task' is not supported by this server (--refuse-task-query); \
             read tasks with GET /api/tasks/{id}"
                .into(),
        ),
        Some(t) if t.eq_ignore_ascii_case("Task") => query_tasks(shared, core, req, session),
        Some(t) => Err(format!(
            "Query type '{t}' is not supported by the simulator; use CloudPublicIpAddress or Task"
        )),
        None => Err("The query names no type; add type=CloudPublicIpAddress or type=Task".into()),
    };
    match result {
        Ok(q) => Reply::body(200, &q, wire),
        Err(msg) => Reply::error(400, msg, wire),
    }
}

fn parse_filter(
    req: &Req<'_>,
    allowed: &[&'static str],
    type_: &str,
) -> Result<Option<Expr>, String> {
    match req.param("filter") {
        None => Ok(None),
        Some(f) if f.trim().is_empty() => Ok(None),
        Some(f) => Ok(Some(canonical_expr(&query::parse(f)?, allowed, type_)?)),
    }
}

/// A pool entry as a query row.
#[derive(Clone, Copy)]
struct Row {
    server: usize,
    family: Family,
    addr: u128,
    entry: super::pool::Entry,
}

fn ip_field<'a>(shared: &'a Shared, core: &'a Core, r: &Row, field: &str) -> Val<'a> {
    match field {
        "UID" => Val::Text(
            format!(
                "urn:veeam:CloudPublicIpAddress:{}",
                Uuid::from_bytes(r.entry.guid)
            )
            .into(),
        ),
        "Name" | "IpAddress" => Val::Addr(r.family, r.addr),
        "CloudTenantUid" => core
            .pool
            .tenant(r.entry.tenant)
            .map(|t| Val::Text(t.uid.as_str().into()))
            .unwrap_or(Val::Absent),
        "CloudTenantName" => core
            .pool
            .tenant(r.entry.tenant)
            .map(|t| Val::Text(t.name.as_str().into()))
            .unwrap_or(Val::Absent),
        "BackupServerUid" => Val::Text(shared.servers[r.server].uid.as_str().into()),
        "BackupServerName" => Val::Text(shared.servers[r.server].name.as_str().into()),
        _ => Val::Absent,
    }
}

fn query_public_ips(shared: &Shared, core: &Core, req: &Req<'_>) -> Result<QueryResult, String> {
    const TYPE: &str = "CloudPublicIpAddress";
    let filter = parse_filter(req, &IP_FIELDS, TYPE)?;
    let sort = sort_of(req, &IP_FIELDS, TYPE)?;
    let paging = paging(shared, req)?;
    let (start, end) = paging.window();
    let mut total = 0usize;
    let mut page: Vec<Row> = Vec::new();
    if let Some((field, desc)) = sort {
        let mut rows: Vec<Row> = Vec::new();
        for s in 0..shared.servers.len() {
            for (family, addr, entry) in core.pool.server(s).iter() {
                let row = Row {
                    server: s,
                    family,
                    addr,
                    entry,
                };
                if filter
                    .as_ref()
                    .is_none_or(|f| f.eval(&|name| ip_field(shared, core, &row, name)))
                {
                    rows.push(row);
                }
            }
        }
        rows.sort_by(|a, b| {
            let ord = query::sort_cmp(
                &ip_field(shared, core, a, field),
                &ip_field(shared, core, b, field),
            );
            if desc { ord.reverse() } else { ord }
        });
        total = rows.len();
        page = rows.into_iter().skip(start).take(end - start).collect();
    } else {
        // Stream in pool order; decide server-level fields once per server,
        // so that a filter on BackupServerUid pages a large pool cheaply.
        for s in 0..shared.servers.len() {
            let spool = core.pool.server(s);
            let tri = match &filter {
                None => Tri::True,
                Some(f) => f.eval_partial(&|name| match name {
                    "BackupServerUid" => Some(Val::Text(shared.servers[s].uid.as_str().into())),
                    "BackupServerName" => Some(Val::Text(shared.servers[s].name.as_str().into())),
                    _ => None,
                }),
            };
            match tri {
                Tri::False => {}
                Tri::True => {
                    let n = spool.len();
                    if total + n > start && total < end {
                        let skip = start.saturating_sub(total);
                        let take = (end - total).min(n) - skip;
                        page.extend(spool.iter().skip(skip).take(take).map(
                            |(family, addr, entry)| Row {
                                server: s,
                                family,
                                addr,
                                entry,
                            },
                        ));
                    }
                    total += n;
                }
                Tri::Unknown => {
                    let f = filter
                        .as_ref()
                        .expect("a filter exists when its value is unknown");
                    for (family, addr, entry) in spool.iter() {
                        let row = Row {
                            server: s,
                            family,
                            addr,
                            entry,
                        };
                        if f.eval(&|name| ip_field(shared, core, &row, name)) {
                            if total >= start && total < end {
                                page.push(row);
                            }
                            total += 1;
                        }
                    }
                }
            }
        }
    }
    let items = if wants_entities(req) {
        QueryItems::PublicIps(
            page.iter()
                .map(|r| public_ip_body(shared, core, req, r.server, r.family, r.addr, r.entry))
                .collect(),
        )
    } else {
        QueryItems::Refs(
            page.iter()
                .map(|r| public_ip_ref(req, r.family, r.addr, r.entry))
                .collect(),
        )
    };
    Ok(QueryResult {
        items,
        links: Vec::new(),
        paging: paging.info(req, total),
    })
}

fn query_tasks(
    shared: &Shared,
    core: &Core,
    req: &Req<'_>,
    session: Uuid,
) -> Result<QueryResult, String> {
    const TYPE: &str = "Task";
    let filter = parse_filter(req, &TASK_FIELDS, TYPE)?;
    let sort = sort_of(req, &TASK_FIELDS, TYPE)?;
    let paging = paging(shared, req)?;
    let mut rows: Vec<Task> = visible_tasks(shared, core, session)
        .map(|t| task_body(shared, req, t))
        .filter(|t| {
            filter.as_ref().is_none_or(|f| {
                f.eval(&|name| match name {
                    "TaskId" => query::task_number(&t.task_id)
                        .map(Val::TaskNo)
                        .unwrap_or_else(|| Val::Text(t.task_id.as_str().into())),
                    "State" => Val::Text(t.state.as_str().into()),
                    "Operation" => Val::Text(t.operation.as_str().into()),
                    _ => Val::Absent,
                })
            })
        })
        .collect();
    if let Some((field, desc)) = sort {
        let num = |t: &Task| query::task_number(&t.task_id).unwrap_or(0);
        let rank = |s: TaskState| s as u8;
        rows.sort_by(|a, b| {
            let ord = match field {
                "TaskId" => num(a).cmp(&num(b)),
                "State" => rank(a.state).cmp(&rank(b.state)),
                _ => a.operation.cmp(&b.operation),
            };
            if desc { ord.reverse() } else { ord }
        });
    }
    let total = rows.len();
    let (start, end) = paging.window();
    let page: Vec<Task> = rows.into_iter().skip(start).take(end - start).collect();
    let items = if wants_entities(req) {
        QueryItems::Tasks(page)
    } else {
        QueryItems::Refs(
            page.into_iter()
                .map(|t| EntityRef {
                    uid: format!("urn:veeam:Task:{}", t.task_id),
                    name: t.task_id.clone(),
                    href: t.href.clone(),
                    type_: "TaskReference".into(),
                    links: Vec::new(),
                })
                .collect(),
        )
    };
    Ok(QueryResult {
        items,
        links: Vec::new(),
        paging: paging.info(req, total),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_resolve_with_and_without_trailing_slash() {
        assert_eq!(Route::resolve("/api/"), Some(Route::Root));
        assert_eq!(Route::resolve("/api"), Some(Route::Root));
        assert_eq!(Route::resolve("/api/sessionMngr/"), Some(Route::Logon));
        assert_eq!(
            Route::resolve("/api/tasks/task-3"),
            Some(Route::Task("task-3".into()))
        );
        assert_eq!(
            Route::resolve("/api/cloud/publicIpAddresses"),
            Some(Route::PublicIps)
        );
        assert_eq!(Route::resolve("/api/nothing"), None);
        assert_eq!(Route::resolve("/other"), None);
    }

    #[test]
    fn cookie_token_wins_over_header() {
        let mut h = HeaderMap::new();
        h.insert(SESSION_HEADER, "header".parse().unwrap());
        assert_eq!(token_of(&h).as_deref(), Some("header"));
        h.insert(
            http::header::COOKIE,
            "a=b; X-RestSvcSessionId=cookie==".parse().unwrap(),
        );
        assert_eq!(token_of(&h).as_deref(), Some("cookie=="));
    }
}
