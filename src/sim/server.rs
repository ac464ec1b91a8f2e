//! The network side: accept loop (plain or TLS), HTTP/1.1 with hyper, the
//! fault pipeline every `/api/` request goes through, and `/sim/`.
//!
//! Order for an `/api/` request: count it (`requests`, `by_route`) -> the
//! `--max-rps` window (503) -> `--fail-rate` (500, before any effect) ->
//! route (404/405) -> handler -> `--drop-rate` (a 202 POST is carried out,
//! then the connection is closed without a reply) -> `--latency-ms` ->
//! `--post-reply-delay-ms` (a 202 POST's reply only) -> reply.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::faults;
use super::routes::{self, Reply, Req, Route};
use super::state::Shared;
use crate::em::wire::Wire;

/// Largest request body read (a create spec is a few hundred bytes).
const MAX_BODY: usize = 1 << 20;

/// Returned by the service to make hyper close the connection with no reply.
#[derive(Debug)]
pub struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose (--drop-rate)")
    }
}

impl std::error::Error for DropConnection {}

/// Serve until `cancel` fires.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let local = listener.local_addr().ok();
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, _) = match accepted {
            Ok(a) => a,
            Err(err) => {
                tracing::warn!("accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let tls = tls.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            match tls {
                None => connection(TokioIo::new(stream), shared, scheme, local, cancel).await,
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(s) => connection(TokioIo::new(s), shared, scheme, local, cancel).await,
                    Err(err) => tracing::debug!("TLS handshake failed: {err}"),
                },
            }
        });
    }
}

async fn connection<I>(
    io: I,
    shared: Arc<Shared>,
    scheme: &'static str,
    local: Option<SocketAddr>,
    cancel: CancellationToken,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        async move { respond(shared, req, scheme, local).await }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(err) = res {
                tracing::debug!("connection ended: {err}");
            }
        }
        _ = cancel.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
        }
    }
}

fn accept_wire(headers: &http::HeaderMap) -> Wire {
    let json = headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("application/json"));
    if json { Wire::Json } else { Wire::Xml }
}

fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(reply.body)));
    *resp.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = resp.headers_mut();
    if let Some(ct) = reply.content_type {
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_str(&format!("{ct}; charset=utf-8"))
                .unwrap_or(HeaderValue::from_static("application/xml")),
        );
    }
    for (name, value) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.append(name, v);
        }
    }
    resp
}

fn json_reply(status: u16, value: &impl serde::Serialize) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        content_type: Some("application/json"),
        body: serde_json::to_vec(value).unwrap_or_default(),
        wake_at: None,
    }
}

async fn respond(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    scheme: &'static str,
    local: Option<SocketAddr>,
) -> Result<Response<Full<Bytes>>, DropConnection> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| local.map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".into());
    let base = format!("{scheme}://{host}");
    let accept = accept_wire(&parts.headers);
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(to_response(Reply::error(
                400,
                "The request body is unreadable or larger than 1 MiB",
                accept,
            )));
        }
    };

    if path == "/sim" || path.starts_with("/sim/") {
        return Ok(to_response(sim_endpoint(&shared, &parts.method, &path)));
    }
    if !(path == "/api" || path.starts_with("/api/")) {
        return Ok(to_response(Reply::error(
            404,
            format!("{path} is not a resource of this server; the API lives under /api/"),
            accept,
        )));
    }

    let now = Instant::now();
    let route = Route::resolve(&path);
    let query = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let request = Req {
        method: &parts.method,
        query,
        headers: &parts.headers,
        body: &body,
        base,
        accept,
        now,
    };
    let is_post_range = route == Some(Route::PublicIps) && parts.method == Method::POST;

    let (reply, drop, delay) = {
        let mut core = shared.core.lock();
        shared.apply_due(&mut core, now);
        let key = format!(
            "{} {}",
            parts.method,
            route
                .as_ref()
                .map(|r| r.template())
                .unwrap_or("/api/{unknown}")
        );
        core.stats.requests += 1;
        *core.stats.by_route.entry(key).or_default() += 1;
        let admitted = core.window.admit(now, shared.config.max_rps);
        core.stats.max_requests_in_one_second = core.window.max_seen;
        let mut drop = false;
        let reply = if !admitted {
            core.stats.rejected_503 += 1;
            let mut r = Reply::error(503, "Too many requests; retry after a second", accept);
            r.headers.push(("Retry-After", "1".into()));
            r
        } else if faults::chance(&mut core.streams.fail, shared.config.fail_rate) {
            Reply::error(
                500,
                "Simulated internal server error (--fail-rate); nothing was done",
                accept,
            )
        } else {
            if is_post_range {
                drop = faults::chance(&mut core.streams.drop, shared.config.drop_rate);
            }
            match &route {
                None => Reply::error(
                    404,
                    format!("{path} is not a resource of the Enterprise Manager API"),
                    accept,
                ),
                Some(r) if !r.allowed().contains(&parts.method) => {
                    let allow = r
                        .allowed()
                        .iter()
                        .map(|m| m.as_str())
                        .collect::<Vec<_>>()
                        .join(", ");
                    let mut reply = Reply::error(
                        405,
                        format!(
                            "{} is not allowed on {}; allowed: {allow}",
                            parts.method,
                            r.template()
                        ),
                        accept,
                    );
                    reply.headers.push(("Allow", allow));
                    reply
                }
                Some(r) => routes::handle(&shared, &mut core, &request, r),
            }
        };
        let drop = drop && reply.status == 202;
        // Drawn for every 202 range POST that is answered, delay or not, so
        // the stream stays aligned with the POSTs.
        let delay = is_post_range
            && reply.status == 202
            && !drop
            && faults::chance(
                &mut core.streams.reply_delay,
                shared.config.post_reply_delay_rate,
            )
            && !shared.config.post_reply_delay.is_zero();
        if delay {
            core.stats.delayed_replies += 1;
        }
        if drop {
            core.stats.dropped += 1;
        } else {
            *core
                .stats
                .by_status
                .entry(reply.status.to_string())
                .or_default() += 1;
        }
        (reply, drop, delay)
    };

    tracing::debug!(
        method = %parts.method,
        path = %path,
        status = reply.status,
        dropped = drop,
        "sim request"
    );
    if let Some(at) = reply.wake_at {
        // Complete the task at its instant even if nobody asks about it.
        let shared = shared.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            let mut core = shared.core.lock();
            shared.apply_due(&mut core, Instant::now());
        });
    }
    if !shared.config.latency.is_zero() {
        tokio::time::sleep(shared.config.latency).await;
    }
    if delay {
        // The task already exists; only the answer is late.
        tokio::time::sleep(shared.config.post_reply_delay).await;
    }
    if drop {
        return Err(DropConnection);
    }
    Ok(to_response(reply))
}

fn sim_endpoint(shared: &Shared, method: &Method, path: &str) -> Reply {
    let path = path.trim_end_matches('/');
    match (method, path) {
        (&Method::GET, "/sim/pool") => json_reply(200, &shared.pool_snapshot()),
        (&Method::GET, "/sim/stats") => json_reply(200, &shared.stats_snapshot()),
        (&Method::POST, "/sim/reset") => match shared.reset() {
            Ok(()) => Reply::empty(204),
            Err(err) => json_reply(500, &serde_json::json!({ "error": format!("{err:#}") })),
        },
        (_, "/sim/pool") | (_, "/sim/stats") | (_, "/sim/reset") => {
            let allow = if path == "/sim/reset" { "POST" } else { "GET" };
            let mut r = json_reply(
                405,
                &serde_json::json!({ "error": format!("{method} is not allowed on {path}") }),
            );
            r.headers.push(("Allow", allow.into()));
            r
        }
        _ => json_reply(
            404,
            &serde_json::json!({ "error": format!("{path} is not a simulator endpoint (/sim/pool, /sim/stats, /sim/reset)") }),
        ),
    }
}
