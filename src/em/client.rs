//! The Enterprise Manager REST client.
//!
//! One [`EmClient`] per run: it logs on, sends the session token on every
//! request, logs on again once when a request answers `401`, and logs off at
//! the end. Every request (logons and polls included) first takes a cell from
//! the shared [`RequestLimiter`]. Reads are retried by the one
//! [`RetryPolicy`]; writes are attempted once per call ([`EmClient::post_range`])
//! because only the engine, which journals each attempt, may decide to resend.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use tokio::sync::{Mutex, RwLock};

use crate::cli::Wire;
use crate::config::{ConnectionSettings, Secret};
use crate::em::error::EmError;
use crate::em::limiter::RequestLimiter;
use crate::em::retry::{self, Failure, RetryPolicy, Symptom};
use crate::em::wire_io;
use crate::range::{IpRange, coalesce_sorted};

/// Header carrying the session token.
const SESSION_HEADER: &str = "X-RestSvcSessionId";
/// Longest URL the task query may build.
const MAX_URL_LEN: usize = 2000;
/// Page size asked of pool queries (the client follows `PagingInfo` anyway).
const POOL_PAGE_SIZE: usize = 5000;

/// A backup server known to Enterprise Manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupServer {
    pub name: String,
    pub uid: String,
}

/// The state of one task as the server reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskStatus {
    pub id: String,
    /// `Running`, `OperationFinished` or `Finished`.
    pub state: String,
    /// `Result/@Success` when the task has a result.
    pub success: Option<bool>,
    /// `Result/Message`.
    pub message: String,
}

impl TaskStatus {
    /// Only `Finished` is final (`OperationFinished` is not).
    pub fn is_finished(&self) -> bool {
        self.state == "Finished"
    }
}

/// The outcome of one attempt to POST a range.
#[derive(Debug)]
pub enum PostAttempt {
    /// `202`: the server took it; this is its task.
    Accepted(TaskStatus),
    /// The server did not act; sending again is safe (after the delay).
    NotActed { failure: Failure, detail: String },
    /// The server may or may not have acted: reconcile before sending again.
    Unknown { detail: String },
    /// The server refused the request for good (`400`, `403`, ...): nothing was done.
    Rejected { status: u16, message: String },
}

/// Counters of what the client sent.
#[derive(Debug, Default)]
pub struct ClientStats {
    pub http_requests: AtomicU64,
    pub retries: AtomicU64,
    pub task_polls: AtomicU64,
    pub logons: AtomicU64,
}

/// A snapshot of [`ClientStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub http_requests: u64,
    pub retries: u64,
    pub task_polls: u64,
    pub logons: u64,
}

#[derive(Clone)]
struct Session {
    token: Secret,
    /// The logon session's href, DELETEd to log off.
    href: Option<String>,
    /// Counts logons: tasks are visible only to the session that made them.
    generation: u64,
}

/// One answer, read to the end.
struct Reply {
    status: StatusCode,
    retry_after: Option<Duration>,
    token: Option<Secret>,
    body: Vec<u8>,
}

/// The client of one run.
pub struct EmClient {
    http: reqwest::Client,
    base: String,
    wire: Wire,
    user: String,
    password: Secret,
    limiter: Arc<RequestLimiter>,
    policy: RetryPolicy,
    session: RwLock<Option<Session>>,
    relogon: Mutex<()>,
    task_query_refused: AtomicBool,
    stats: ClientStats,
}

impl std::fmt::Debug for EmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmClient")
            .field("base", &self.base)
            .field("user", &self.user)
            .field("wire", &self.wire)
            .finish_non_exhaustive()
    }
}

/// Build the HTTP client: rustls (ring), `--ca-cert`, `--insecure`, `--timeout`.
pub fn http_client(settings: &ConnectionSettings) -> anyhow::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
        .pool_max_idle_per_host(64)
        .user_agent(concat!("ipimport/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &settings.ca_cert {
        let pem = std::fs::read(path).map_err(|e| {
            crate::exit::fatal(
                crate::exit::Exit::Invalid,
                format!("cannot read --ca-cert {}: {e}", path.display()),
            )
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            crate::exit::fatal(
                crate::exit::Exit::Invalid,
                format!("--ca-cert {} is not a PEM certificate: {e}", path.display()),
            )
        })?;
        if certs.is_empty() {
            return Err(crate::exit::fatal(
                crate::exit::Exit::Invalid,
                format!(
                    "--ca-cert {} holds no PEM certificate (no '-----BEGIN CERTIFICATE-----' block); \
                     export the server's certificate in PEM form",
                    path.display()
                ),
            ));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    if settings.insecure {
        eprintln!(
            "warning: --insecure: the server's TLS certificate is NOT verified; anyone on the path can read the password"
        );
        builder = builder.danger_accept_invalid_certs(true);
    }
    Ok(builder.build()?)
}

impl EmClient {
    /// A client for `settings`; not logged on yet (see [`EmClient::logon`]).
    pub fn new(
        settings: &ConnectionSettings,
        password: Secret,
        limiter: Arc<RequestLimiter>,
        policy: RetryPolicy,
    ) -> anyhow::Result<EmClient> {
        Ok(EmClient {
            http: http_client(settings)?,
            base: settings.server.clone(),
            wire: settings.wire,
            user: settings.user.clone(),
            password,
            limiter,
            policy,
            session: RwLock::new(None),
            relogon: Mutex::new(()),
            task_query_refused: AtomicBool::new(false),
            stats: ClientStats::default(),
        })
    }

    /// The API base URL (ending in `/api`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The counters so far.
    pub fn stats(&self) -> StatsSnapshot {
        StatsSnapshot {
            http_requests: self.stats.http_requests.load(Ordering::Relaxed),
            retries: self.stats.retries.load(Ordering::Relaxed),
            task_polls: self.stats.task_polls.load(Ordering::Relaxed),
            logons: self.stats.logons.load(Ordering::Relaxed),
        }
    }

    /// The number of the current logon session (0 before the first logon).
    /// Tasks made under an earlier session are invisible to a later one.
    pub async fn session_generation(&self) -> u64 {
        self.session
            .read()
            .await
            .as_ref()
            .map_or(0, |s| s.generation)
    }

    /// Log on (`POST /sessionMngr/?v=latest`, Basic auth), retried as a read.
    pub async fn logon(&self) -> Result<(), EmError> {
        let url = format!("{}/sessionMngr/?v=latest", self.base);
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.limiter.acquire().await;
            self.stats.http_requests.fetch_add(1, Ordering::Relaxed);
            self.stats.logons.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(user = %self.user, "logging on");
            let request = self
                .http
                .request(Method::POST, &url)
                .basic_auth(&self.user, Some(self.password.expose()))
                .header("Accept", self.accept());
            let failure = match self.finish(request).await {
                Ok(reply) if reply.status == StatusCode::UNAUTHORIZED => {
                    return Err(EmError::Auth {
                        user: self.user.clone(),
                    });
                }
                Ok(reply) if reply.status.is_success() => {
                    let token = reply.token.ok_or_else(|| EmError::Protocol {
                        what: "the logon".into(),
                        detail: format!("no {SESSION_HEADER} header"),
                    })?;
                    let href =
                        wire_io::decode_logon_href(self.wire, &reply.body).map_err(|detail| {
                            EmError::Protocol {
                                what: "the logon".into(),
                                detail,
                            }
                        })?;
                    let mut session = self.session.write().await;
                    let generation = session.as_ref().map_or(0, |s| s.generation) + 1;
                    tracing::info!(generation, "logged on");
                    *session = Some(Session {
                        token,
                        href,
                        generation,
                    });
                    return Ok(());
                }
                Ok(reply) => {
                    let failure =
                        retry::classify(Symptom::Status(reply.status.as_u16(), reply.retry_after));
                    if reply.status == StatusCode::NOT_FOUND {
                        // Nothing answers at the logon URL: the URL, not the server, is wrong.
                        return Err(EmError::Protocol {
                            what: "the logon".into(),
                            detail: format!("HTTP 404 at {url}"),
                        });
                    }
                    if failure == Failure::Permanent || !self.policy.has_more(attempt) {
                        return Err(self.status_error("the logon", &reply));
                    }
                    failure
                }
                Err((symptom, detail)) => {
                    let failure = retry::classify(symptom);
                    if !self.policy.has_more(attempt) {
                        return Err(EmError::Unreachable {
                            url: self.base.clone(),
                            detail,
                        });
                    }
                    failure
                }
            };
            let delay = self
                .policy
                .next_delay(attempt, failure, false)
                .unwrap_or_default();
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
        }
    }

    /// Log off (DELETE the logon session). Best effort: a failure is logged.
    pub async fn logoff(&self) {
        let session = self.session.write().await.take();
        let Some(Session {
            token,
            href: Some(href),
            ..
        }) = session
        else {
            return;
        };
        self.limiter.acquire().await;
        self.stats.http_requests.fetch_add(1, Ordering::Relaxed);
        let request = self
            .http
            .request(Method::DELETE, unescape_href(&href))
            .header(SESSION_HEADER, token.expose())
            .header("Accept", self.accept());
        match self.finish(request).await {
            Ok(reply) if reply.status.is_success() => tracing::debug!("logged off"),
            Ok(reply) => tracing::warn!(status = reply.status.as_u16(), "logoff refused"),
            Err((_, detail)) => tracing::warn!(%detail, "logoff failed"),
        }
    }

    /// The backup servers known to Enterprise Manager.
    pub async fn backup_servers(&self) -> Result<Vec<BackupServer>, EmError> {
        let url = format!("{}/backupServers", self.base);
        let body = self.get("the list of backup servers", &url).await?;
        wire_io::decode_backup_servers(self.wire, &body).map_err(|detail| EmError::Protocol {
            what: "the list of backup servers".into(),
            detail,
        })
    }

    /// The addresses in one backup server's pool, as sorted, coalesced ranges,
    /// read through the query service and every page of it.
    pub async fn read_pool(&self, backup_server_uid: &str) -> Result<Vec<IpRange>, EmError> {
        let filter = format!("BackupServerUid==\"{}\"", backup_server_uid.trim());
        let mut url = format!(
            "{}/query?type=CloudPublicIpAddress&format=Entities&filter={}&pageSize={POOL_PAGE_SIZE}",
            self.base,
            encode_query_value(&filter)
        );
        let what = "the pool query";
        let mut ranges = Vec::new();
        let mut seen = std::collections::HashSet::new();
        loop {
            let body = self.get(what, &url).await?;
            let page = wire_io::decode_pool_page(self.wire, &body).map_err(|detail| {
                EmError::Protocol {
                    what: what.into(),
                    detail,
                }
            })?;
            for address in &page.addresses {
                let range = IpRange::parse(address).map_err(|e| EmError::Protocol {
                    what: what.into(),
                    detail: format!("address '{address}' in the pool: {e}"),
                })?;
                ranges.push(range);
            }
            match page.next {
                Some(next) if seen.insert(url.clone()) => {
                    let next = unescape_href(&next);
                    if next == url {
                        break;
                    }
                    url = next;
                }
                _ => break,
            }
        }
        ranges.sort();
        Ok(coalesce_sorted(&ranges))
    }

    /// One attempt to create a range in a backup server's pool. A `401` logs
    /// on again once and repeats (the server did not act on it); a second
    /// `401` is [`PostAttempt::NotActed`], for the caller to retry later.
    pub async fn post_range(&self, backup_server_uid: &str, range: IpRange) -> PostAttempt {
        let url = format!("{}/cloud/publicIpAddresses", self.base);
        let (body, content_type) = wire_io::encode_create_spec(
            self.wire,
            backup_server_uid.trim(),
            &range.first_addr().to_string(),
            &range.last_addr().to_string(),
        );
        let mut relogged = false;
        loop {
            let generation = self.session_generation().await;
            let reply = self
                .send(Method::POST, &url, Some((body.clone(), content_type)))
                .await;
            match reply {
                Err((symptom, detail)) => {
                    let failure = retry::classify(symptom);
                    return if retry::write_may_resend(failure) {
                        PostAttempt::NotActed { failure, detail }
                    } else {
                        PostAttempt::Unknown { detail }
                    };
                }
                Ok(reply) if reply.status == StatusCode::UNAUTHORIZED && !relogged => {
                    relogged = true;
                    if let Err(e) = self.relogon(generation).await {
                        return PostAttempt::NotActed {
                            failure: Failure::NotActed { retry_after: None },
                            detail: e.to_string(),
                        };
                    }
                }
                Ok(reply) if reply.status == StatusCode::UNAUTHORIZED => {
                    // The new session died too before the POST got through
                    // (tokens expiring quickly): the server did not act, so a
                    // later attempt is safe; the retry budget bounds them.
                    return PostAttempt::NotActed {
                        failure: Failure::NotActed { retry_after: None },
                        detail: format!("HTTP 401: {}", self.error_message(&reply)),
                    };
                }
                Ok(reply) if reply.status.is_success() => {
                    return match wire_io::decode_task(self.wire, &reply.body) {
                        Ok(task) => PostAttempt::Accepted(task),
                        // Accepted, but we cannot tell which task: reconcile.
                        Err(detail) => PostAttempt::Unknown {
                            detail: format!("unreadable reply to the POST: {detail}"),
                        },
                    };
                }
                Ok(reply) => {
                    let status = reply.status.as_u16();
                    let message = self.error_message(&reply);
                    let failure = retry::classify(Symptom::Status(status, reply.retry_after));
                    return match failure {
                        Failure::NotActed { .. } => PostAttempt::NotActed {
                            failure,
                            detail: format!("HTTP {status}: {message}"),
                        },
                        Failure::Unknown { .. } => PostAttempt::Unknown {
                            detail: format!("HTTP {status}: {message}"),
                        },
                        Failure::Permanent => PostAttempt::Rejected { status, message },
                    };
                }
            }
        }
    }

    /// The current state of the given tasks of this session. A task absent
    /// from the answer has vanished (e.g. after a new logon). Tasks are read
    /// together through the query service, as many per request as keep the
    /// URL under 2,000 characters; if the server refuses the query the client
    /// falls back to one `GET /tasks/{id}` per task for the rest of the run.
    pub async fn poll_tasks(&self, ids: &[String]) -> Result<Vec<TaskStatus>, EmError> {
        let mut found = Vec::with_capacity(ids.len());
        if !self.task_query_refused.load(Ordering::Relaxed) {
            let urls = task_query_urls(&self.base, ids);
            for url in urls {
                self.stats.task_polls.fetch_add(1, Ordering::Relaxed);
                match self.get_tasks_query(&url).await {
                    Ok(tasks) => found.extend(tasks),
                    Err(EmError::Status { status, .. })
                        if (400..500).contains(&status) || status == 501 =>
                    {
                        tracing::info!(
                            status,
                            "the task query was refused; polling tasks one by one"
                        );
                        self.task_query_refused.store(true, Ordering::Relaxed);
                        found.clear();
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            if !self.task_query_refused.load(Ordering::Relaxed) {
                return Ok(found);
            }
        }
        for id in ids {
            self.stats.task_polls.fetch_add(1, Ordering::Relaxed);
            if let Some(task) = self.get_task(id).await? {
                found.push(task);
            }
        }
        Ok(found)
    }

    /// One task by id; `None` when the server does not know it (`404`).
    pub async fn get_task(&self, id: &str) -> Result<Option<TaskStatus>, EmError> {
        let url = format!("{}/tasks/{}", self.base, encode_query_value(id));
        match self.get("a task", &url).await {
            Ok(body) => wire_io::decode_task(self.wire, &body)
                .map(Some)
                .map_err(|detail| EmError::Protocol {
                    what: "a task".into(),
                    detail,
                }),
            Err(EmError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every task of the current logon session (`GET /tasks`).
    pub async fn session_tasks(&self) -> Result<Vec<TaskStatus>, EmError> {
        let url = format!("{}/tasks", self.base);
        let body = self.get("the session's tasks", &url).await?;
        wire_io::decode_task_list(self.wire, &body).map_err(|detail| EmError::Protocol {
            what: "the session's tasks".into(),
            detail,
        })
    }

    async fn get_tasks_query(&self, first_url: &str) -> Result<Vec<TaskStatus>, EmError> {
        let mut url = first_url.to_string();
        let mut tasks = Vec::new();
        let mut pages = 0;
        loop {
            pages += 1;
            let body = self.get("the task query", &url).await?;
            let page = wire_io::decode_task_page(self.wire, &body).map_err(|detail| {
                EmError::Protocol {
                    what: "the task query".into(),
                    detail,
                }
            })?;
            tasks.extend(page.tasks);
            match page.next {
                Some(next) if pages < 1000 => {
                    let next = unescape_href(&next);
                    if next == url {
                        break;
                    }
                    url = next;
                }
                _ => break,
            }
        }
        Ok(tasks)
    }

    /// GET with the token, retried per the read rules; `401` logs on again
    /// and repeats at once, a further `401` counts as an attempt.
    async fn get(&self, what: &str, url: &str) -> Result<Vec<u8>, EmError> {
        let mut attempt = 0;
        let mut relogged = false;
        loop {
            attempt += 1;
            let generation = self.session_generation().await;
            let failure = match self.send(Method::GET, url, None).await {
                Ok(reply) if reply.status == StatusCode::UNAUTHORIZED && !relogged => {
                    relogged = true;
                    attempt -= 1;
                    self.relogon(generation).await?;
                    continue;
                }
                Ok(reply) if reply.status == StatusCode::UNAUTHORIZED => {
                    // The new session died too: log on again at the next
                    // attempt, within the retry budget.
                    if !self.policy.has_more(attempt) {
                        return Err(self.status_error(what, &reply));
                    }
                    relogged = false;
                    Failure::NotActed { retry_after: None }
                }
                Ok(reply) if reply.status.is_success() => return Ok(reply.body),
                Ok(reply) => {
                    let failure =
                        retry::classify(Symptom::Status(reply.status.as_u16(), reply.retry_after));
                    if failure == Failure::Permanent || !self.policy.has_more(attempt) {
                        return Err(self.status_error(what, &reply));
                    }
                    failure
                }
                Err((symptom, detail)) => {
                    if !self.policy.has_more(attempt) {
                        return Err(EmError::Unreachable {
                            url: self.base.clone(),
                            detail,
                        });
                    }
                    retry::classify(symptom)
                }
            };
            let delay = self
                .policy
                .next_delay(attempt, failure, false)
                .unwrap_or_default();
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(what, attempt, ?delay, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// Log on again unless another request already did since `seen_generation`.
    async fn relogon(&self, seen_generation: u64) -> Result<(), EmError> {
        let _guard = self.relogon.lock().await;
        if self.session_generation().await != seen_generation {
            return Ok(());
        }
        tracing::info!("the session expired (401); logging on again");
        self.logon().await
    }

    /// One exchange with the token of the current session.
    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<(Vec<u8>, &'static str)>,
    ) -> Result<Reply, (Symptom, String)> {
        let token = self.session.read().await.as_ref().map(|s| s.token.clone());
        self.limiter.acquire().await;
        self.stats.http_requests.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%method, url, "request");
        let mut request = self
            .http
            .request(method, url)
            .header("Accept", self.accept());
        if let Some(token) = token {
            request = request.header(SESSION_HEADER, token.expose());
        }
        if let Some((body, content_type)) = body {
            request = request.header("Content-Type", content_type).body(body);
        }
        self.finish(request).await
    }

    async fn finish(&self, request: reqwest::RequestBuilder) -> Result<Reply, (Symptom, String)> {
        let response = request.send().await.map_err(transport_symptom)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok())
            .and_then(retry::parse_retry_after);
        if let Some(wait) = retry_after
            && matches!(status.as_u16(), 429 | 503)
        {
            // The server asked everyone, not this request, to wait.
            self.limiter.hold_off(wait);
        }
        let token = response
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(Secret::new);
        let body = response.bytes().await.map_err(transport_symptom)?.to_vec();
        tracing::debug!(status = status.as_u16(), bytes = body.len(), "reply");
        Ok(Reply {
            status,
            retry_after,
            token,
            body,
        })
    }

    fn accept(&self) -> &'static str {
        match self.wire {
            Wire::Xml => "application/xml",
            Wire::Json => "application/json",
        }
    }

    fn error_message(&self, reply: &Reply) -> String {
        wire_io::decode_error_message(self.wire, &reply.body).unwrap_or_else(|| {
            reply
                .status
                .canonical_reason()
                .unwrap_or("no message")
                .to_string()
        })
    }

    fn status_error(&self, what: &str, reply: &Reply) -> EmError {
        EmError::Status {
            what: what.to_string(),
            status: reply.status.as_u16(),
            message: self.error_message(reply),
        }
    }
}

/// What a transport error says about whether the server saw the request.
fn transport_symptom(e: reqwest::Error) -> (Symptom, String) {
    let symptom = if e.is_connect() {
        Symptom::ConnectFailed
    } else if e.is_timeout() {
        Symptom::TimedOut
    } else {
        Symptom::ConnectionLost
    };
    // reqwest's Display hides the cause chain; keep it, it is the useful part.
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    (symptom, detail)
}

/// The task queries covering `ids`: `TaskId=="a",TaskId=="b",...` filters,
/// as many ids per URL as keep it under 2,000 characters.
pub fn task_query_urls(base: &str, ids: &[String]) -> Vec<String> {
    let prefix = format!(
        "{base}/query?type=Task&format=Entities&pageSize={}&filter=",
        ids.len().max(1)
    );
    let mut urls = Vec::new();
    let mut current = String::new();
    for id in ids {
        let term = encode_query_value(&format!("TaskId==\"{id}\""));
        if !current.is_empty() && prefix.len() + current.len() + 3 + term.len() >= MAX_URL_LEN {
            urls.push(format!("{prefix}{}", std::mem::take(&mut current)));
        }
        if !current.is_empty() {
            current.push_str("%2C");
        }
        current.push_str(&term);
    }
    if !current.is_empty() {
        urls.push(format!("{prefix}{current}"));
    }
    urls
}

/// Percent-encode a query parameter value (filters hold `"`, `=`, `,`, `:`).
pub fn encode_query_value(value: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const KEEP: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    utf8_percent_encode(value, KEEP).to_string()
}

/// Links in replies may carry XML/HTML escapes (`&amp;`, `&#x2F;`): undo them
/// before following the link.
pub fn unescape_href(href: &str) -> String {
    if !href.contains('&') {
        return href.to_string();
    }
    let mut out = String::with_capacity(href.len());
    let mut rest = href;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        let Some(end) = tail.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_unescaped() {
        assert_eq!(
            unescape_href("http://h/api/query?type=X&amp;page=2&#x2F;&#47;"),
            "http://h/api/query?type=X&page=2//"
        );
        assert_eq!(unescape_href("a&b"), "a&b");
        assert_eq!(unescape_href("a&unknown;b"), "a&unknown;b");
    }

    #[test]
    fn task_queries_stay_under_2000_characters_and_cover_every_id() {
        let ids: Vec<String> = (1..=500).map(|i| format!("task-{i}")).collect();
        let urls = task_query_urls("https://em01.example.com:9398/api", &ids);
        assert!(urls.len() > 1);
        let mut seen = 0;
        for url in &urls {
            assert!(url.len() < MAX_URL_LEN, "{}", url.len());
            seen += url.matches("TaskId").count();
        }
        assert_eq!(seen, 500);
        assert!(urls[0].contains("filter=TaskId%3D%3D%22task-1%22%2CTaskId%3D%3D%22task-2%22"));
        // Few URLs: one query covers dozens of tasks.
        assert!(urls.len() <= 10, "{}", urls.len());
    }

    #[test]
    fn filters_are_encoded() {
        assert_eq!(
            encode_query_value("TaskId==\"task-7\",x"),
            "TaskId%3D%3D%22task-7%22%2Cx"
        );
    }
}
