//! The server's routes: the runner stream (`/v1/stream`, WebSocket), pack
//! submission (`POST /v1/runs/{run_id}/pack`), the read-only JSON API, the
//! watch stream for pages (`/v1/runs/{run_id}/watch`, server-sent events)
//! and the pages themselves. Docs: docs/spec/stream.md.
//!
//! Every request that changes state carries a runner token in its
//! `Authorization` header (never a cookie), and no route sends CORS
//! headers. Events are stored only in chain order; a pack is verified, with
//! the options the server was started with, before its verdict is stored
//! or shown.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use capsule::objects::EventV1;
use capsule::stream::{Accepted, ChainState, PROTOCOL, Refused, RunnerMessage, ServerMessage, Snapshot, StreamVerdict};
use capsule::verify::VerifyOptions;
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::store::{RunResult, RunRow, Store};
use crate::tokens::{Limiter, Rate, Tokens};
use crate::ui;

/// The server's limits (docs/spec/stream.md §5).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The largest WebSocket message.
    pub frame_bytes: usize,
    /// The largest pack.
    pub pack_bytes: u64,
    /// The most events a run may store.
    pub events_per_run: u64,
    /// Stream messages per project.
    pub messages: Rate,
    /// Submissions per project.
    pub submissions: Rate,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            frame_bytes: 1 << 20,
            pack_bytes: 256 << 20,
            events_per_run: 10_000,
            messages: Rate { per_second: 200.0, burst: 1000.0 },
            submissions: Rate { per_second: 50.0 / 60.0, burst: 50.0 },
        }
    }
}

/// What the server is started with.
pub struct Config {
    /// Where packs are kept (`DIR/packs/<sha256>.tgz`).
    pub data_dir: PathBuf,
    /// The run store.
    pub store: Arc<dyn Store>,
    /// How packs are verified (the same options as `verify`).
    pub verify: VerifyOptions,
    /// The runner tokens.
    pub tokens: Tokens,
    /// The limits.
    pub limits: Limits,
}

#[derive(Clone, Debug)]
enum Watch {
    Event { seq: u64, line: Arc<str> },
    Verified(Arc<Value>),
}

/// One run's live state: its chain as stored (appends serialized), the
/// server's own snapshot, the pages watching it and the runner connected.
struct Hub {
    chain: tokio::sync::Mutex<ChainState>,
    snapshot: Mutex<Snapshot>,
    watchers: broadcast::Sender<Watch>,
    runner: Mutex<Option<(u64, mpsc::UnboundedSender<ServerMessage>)>>,
}

pub(crate) struct AppState {
    pub(crate) store: Arc<dyn Store>,
    packs: PathBuf,
    verify: VerifyOptions,
    tokens: Tokens,
    limits: Limits,
    messages: Limiter,
    submissions: Limiter,
    hubs: Mutex<HashMap<String, Arc<Hub>>>,
    connections: std::sync::atomic::AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A run id the server accepts: 1 to 128 characters of
/// `[A-Za-z0-9._:-]` (what `bench` makes, and safe in a URL and a page).
pub fn valid_run_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c))
}

fn text(status: StatusCode, message: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{message}\n")).into_response()
}

impl AppState {
    fn project(&self, headers: &HeaderMap) -> Option<String> {
        let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let token = auth.strip_prefix("Bearer ")?.trim();
        self.tokens.project(token).map(str::to_owned)
    }

    /// The hub of a run the store knows, loaded once: its chain state and
    /// the snapshot folded from its stored events.
    fn hub(&self, row: &RunRow) -> Result<Arc<Hub>, crate::store::StoreError> {
        if let Some(h) = lock(&self.hubs).get(&row.run_id) {
            return Ok(h.clone());
        }
        let mut snapshot = Snapshot::new(&row.run_id);
        let mut from = 0;
        loop {
            let batch = self.store.events(&row.run_id, from, 1000)?;
            for line in &batch {
                if let Ok(e) = serde_json::from_slice::<EventV1>(line) {
                    snapshot.fold(&e);
                }
            }
            from += batch.len() as u64;
            if batch.len() < 1000 {
                break;
            }
        }
        let chain = ChainState { run_id: row.run_id.clone(), count: row.count, head: row.head };
        let hub = Arc::new(Hub {
            chain: tokio::sync::Mutex::new(chain),
            snapshot: Mutex::new(snapshot),
            watchers: broadcast::channel(1024).0,
            runner: Mutex::new(None),
        });
        Ok(lock(&self.hubs).entry(row.run_id.clone()).or_insert(hub).clone())
    }
}

/// The router over `config`.
pub fn router(config: Config) -> Router {
    let packs = config.data_dir.join("packs");
    let state = Arc::new(AppState {
        store: config.store,
        packs,
        messages: Limiter::new(config.limits.messages),
        submissions: Limiter::new(config.limits.submissions),
        verify: config.verify,
        tokens: config.tokens,
        limits: config.limits,
        hubs: Mutex::new(HashMap::new()),
        connections: std::sync::atomic::AtomicU64::new(0),
    });
    Router::new()
        .route("/", get(ui::index))
        .route("/runs/{run_id}", get(ui::run_page))
        .route("/ui/run.js", get(ui::script))
        .route("/ui/style.css", get(ui::style))
        .route("/v1/stream", get(stream))
        .route("/v1/runs", get(list_runs))
        .route("/v1/runs/{run_id}", get(run_json))
        .route("/v1/runs/{run_id}/events", get(run_events))
        .route("/v1/runs/{run_id}/watch", get(watch))
        .route("/v1/runs/{run_id}/pack", post(submit).get(pack_file))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"),
    );
    r
}

// ---------------------------------------------------------------- stream

async fn stream(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let Some(project) = s.project(&headers) else {
        return text(StatusCode::UNAUTHORIZED, "a runner token is required: `Authorization: Bearer TOKEN`");
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(r) => return r.into_response(),
    };
    // A page elsewhere must not open a stream with a user's browser.
    if headers.contains_key(header::ORIGIN) {
        return text(StatusCode::FORBIDDEN, "runner streams are not opened from pages");
    }
    let frame = s.limits.frame_bytes;
    ws.max_message_size(frame).max_frame_size(frame).on_upgrade(move |socket| runner(s, project, socket))
}

async fn send(socket: &mut WebSocket, m: &ServerMessage) -> bool {
    match serde_json::to_string(m) {
        Ok(t) => socket.send(Message::Text(t.into())).await.is_ok(),
        Err(_) => false,
    }
}

async fn refuse(socket: &mut WebSocket, code: &str, message: String) {
    let _ = send(socket, &ServerMessage::Error { code: code.to_owned(), message }).await;
    let _ = socket.send(Message::Close(None)).await;
}

/// What becomes of an event a runner sent.
enum Appended {
    /// Stored now, or before with the same bytes: acknowledge up to here.
    Acknowledge(u64),
    /// Ahead of the stored chain: ask again from the stored count.
    Resume(u64),
}

/// Stores `e` if it continues the run's chain; an `Err` is the code and
/// message the connection is refused with.
async fn append(s: &AppState, hub: &Hub, e: EventV1) -> Result<Appended, (&'static str, String)> {
    let mut chain = hub.chain.lock().await;
    if e.seq >= s.limits.events_per_run {
        return Err(("too-large", format!("a run may stream at most {} events", s.limits.events_per_run)));
    }
    let run_id = chain.run_id.clone();
    let decided = chain.accept(&e, |seq| s.store.event(&run_id, seq).ok().flatten());
    match decided {
        Ok(Accepted::Duplicate) => Ok(Appended::Acknowledge(chain.count.saturating_sub(1))),
        Ok(Accepted::Append { bytes, hash }) => {
            s.store.append(&run_id, e.seq, &bytes, hash).map_err(|err| ("internal", err.to_string()))?;
            chain.appended(hash);
            lock(&hub.snapshot).fold(&e);
            let line: Arc<str> = String::from_utf8_lossy(&bytes).into();
            let _ = hub.watchers.send(Watch::Event { seq: e.seq, line });
            Ok(Appended::Acknowledge(e.seq))
        }
        Err(Refused::Gap { count, .. }) => Ok(Appended::Resume(count)),
        Err(r @ Refused::Conflict { .. }) => Err(("conflict", r.to_string())),
        Err(r) => Err(("chain-broken", r.to_string())),
    }
}

async fn runner(s: Arc<AppState>, project: String, mut socket: WebSocket) {
    let hello = match tokio::time::timeout(Duration::from_secs(10), socket.recv()).await {
        Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str::<RunnerMessage>(t.as_str()).ok(),
        _ => None,
    };
    let Some(RunnerMessage::Hello { protocol, run_id, .. }) = hello else {
        return refuse(&mut socket, "bad-message", "the first message must be `hello`".into()).await;
    };
    if protocol != PROTOCOL {
        return refuse(&mut socket, "bad-message", format!("this server speaks `{PROTOCOL}`, not `{protocol}`")).await;
    }
    if !valid_run_id(&run_id) {
        return refuse(&mut socket, "bad-message", "a run id is 1 to 128 characters of [A-Za-z0-9._:-]".into()).await;
    }
    let row = match s.store.open_run(&run_id, &project, now_ms()) {
        Ok(r) => r,
        Err(e) => return refuse(&mut socket, "internal", e.to_string()).await,
    };
    if row.project != project {
        return refuse(&mut socket, "unauthorized", format!("run `{run_id}` belongs to another project")).await;
    }
    let hub = match s.hub(&row) {
        Ok(h) => h,
        Err(e) => return refuse(&mut socket, "internal", e.to_string()).await,
    };
    let me = s.connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (tx, mut rx) = mpsc::unbounded_channel();
    *lock(&hub.runner) = Some((me, tx));
    let from_seq = hub.chain.lock().await.count;
    if send(&mut socket, &ServerMessage::ResumeRequest { from_seq, want_snapshot: true }).await {
        serve_runner(&s, &project, &hub, &mut socket, &mut rx).await;
    }
    let mut r = lock(&hub.runner);
    if r.as_ref().is_some_and(|(id, _)| *id == me) {
        *r = None;
    }
}

async fn serve_runner(
    s: &AppState,
    project: &str,
    hub: &Hub,
    socket: &mut WebSocket,
    rx: &mut mpsc::UnboundedReceiver<ServerMessage>,
) {
    loop {
        tokio::select! {
            m = socket.recv() => {
                let t = match m {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Binary(_))) => {
                        return refuse(socket, "bad-message", "messages are JSON text".into()).await;
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                };
                if !s.messages.take(project) {
                    return refuse(socket, "rate-limited", "too many messages; reconnect later".into()).await;
                }
                match serde_json::from_str::<RunnerMessage>(t.as_str()) {
                    Ok(RunnerMessage::Event { event }) => {
                        let reply = match append(s, hub, event).await {
                            Ok(Appended::Acknowledge(last_seq)) => ServerMessage::ServerReceived { last_seq },
                            Ok(Appended::Resume(from_seq)) => {
                                ServerMessage::ResumeRequest { from_seq, want_snapshot: false }
                            }
                            Err((code, message)) => return refuse(socket, code, message).await,
                        };
                        if !send(socket, &reply).await {
                            return;
                        }
                    }
                    // Informative: the server shows its own snapshot, folded
                    // from what it stored.
                    Ok(RunnerMessage::StateSnapshot { .. }) => {}
                    Ok(RunnerMessage::Hello { .. }) => {
                        return refuse(socket, "bad-message", "`hello` comes once, first".into()).await;
                    }
                    Err(e) => return refuse(socket, "bad-message", format!("not a stream message: {e}")).await,
                }
            }
            out = rx.recv() => match out {
                Some(m) => if !send(socket, &m).await { return },
                None => return,
            },
        }
    }
}

// ---------------------------------------------------------------- packs

/// Streams the request body into a temporary file under `dir`, at most
/// `limit` bytes; its SHA-256.
async fn receive(
    body: axum::body::Body,
    dir: &std::path::Path,
    limit: u64,
) -> Result<(tempfile::NamedTempFile, String), Response> {
    use sha2::Digest as _;
    use std::io::Write as _;
    let fail = |e: std::io::Error| text(StatusCode::INTERNAL_SERVER_ERROR, &format!("cannot store the pack: {e}"));
    std::fs::create_dir_all(dir).map_err(fail)?;
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    let mut hasher = sha2::Sha256::new();
    let mut n = 0u64;
    let mut data = body.into_data_stream();
    while let Some(chunk) = data.next().await {
        let chunk = chunk.map_err(|_| text(StatusCode::BAD_REQUEST, "the upload broke off"))?;
        n += chunk.len() as u64;
        if n > limit {
            return Err(text(StatusCode::PAYLOAD_TOO_LARGE, &format!("a pack may have at most {limit} bytes")));
        }
        hasher.update(&chunk);
        file.write_all(&chunk).map_err(fail)?;
    }
    file.flush().map_err(fail)?;
    Ok((file, hex::encode(hasher.finalize())))
}

async fn submit(
    State(s): State<Arc<AppState>>,
    Path(run_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let Some(project) = s.project(&headers) else {
        return text(StatusCode::UNAUTHORIZED, "a runner token is required: `Authorization: Bearer TOKEN`");
    };
    if !valid_run_id(&run_id) {
        return text(StatusCode::BAD_REQUEST, "a run id is 1 to 128 characters of [A-Za-z0-9._:-]");
    }
    if !s.submissions.take(&project) {
        return text(StatusCode::TOO_MANY_REQUESTS, "too many submissions; try again in a minute");
    }
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > s.limits.pack_bytes) {
        return text(StatusCode::PAYLOAD_TOO_LARGE, &format!("a pack may have at most {} bytes", s.limits.pack_bytes));
    }
    if let Ok(Some(row)) = s.store.run(&run_id)
        && row.project != project
    {
        return text(StatusCode::FORBIDDEN, &format!("run `{run_id}` belongs to another project"));
    }
    let (file, sha) = match receive(body, &s.packs.join("incoming"), s.limits.pack_bytes).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    // Verified off the async workers; nothing in the pack is executed.
    let opts = s.verify.clone();
    let path = file.path().to_path_buf();
    let verified = tokio::task::spawn_blocking(move || capsule::verify::verify_pack_file(&path, &opts)).await;
    let Ok((report, contents)) = verified else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "verification failed to run");
    };
    let report_json = serde_json::to_value(&report).unwrap_or(Value::Null);
    let Some(contents) = contents else {
        // Not even readable: nothing is stored, nothing is shown.
        let body = json!({"report": report_json, "stream": StreamVerdict::Unchecked});
        return (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response();
    };
    if contents.capsule.run_id != run_id {
        return text(
            StatusCode::CONFLICT,
            &format!("the pack is of run `{}`, not `{run_id}`", contents.capsule.run_id),
        );
    }
    let row = match s.store.open_run(&run_id, &project, now_ms()) {
        Ok(r) if r.project == project => r,
        Ok(_) => return text(StatusCode::FORBIDDEN, &format!("run `{run_id}` belongs to another project")),
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    // A run has one pack: the same bytes again get the same answer, other
    // bytes are refused (nothing stored is replaced).
    if let Some(r) = &row.result {
        if r.pack_sha256 != sha {
            return text(
                StatusCode::CONFLICT,
                &format!("run `{run_id}` has a pack already (SHA-256 {})", r.pack_sha256),
            );
        }
        let status = if r.verdict == "accepted" { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
        return (status, axum::Json(json!({"report": r.report, "stream": r.stream}))).into_response();
    }
    let hub = match s.hub(&row) {
        Ok(h) => h,
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    // The stream as stored now (appends wait while it is compared).
    let stream = {
        let chain = hub.chain.lock().await;
        match s.store.events(&run_id, 0, chain.count) {
            Ok(stored) => capsule::stream::compare(&stored, &capsule::stream::lines(&contents.events.events)),
            Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        }
    };
    let accepted = report.accepted();
    let dest = s.packs.join(format!("{sha}.tgz"));
    if let Err(e) = file.persist(&dest) {
        return text(StatusCode::INTERNAL_SERVER_ERROR, &format!("cannot store the pack: {}", e.error));
    }
    let result = RunResult {
        verdict: if accepted { "accepted" } else { "rejected" }.to_owned(),
        stream,
        report: report_json.clone(),
        pack_sha256: sha,
    };
    if let Err(e) = s.store.set_result(&run_id, &result) {
        return text(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    let verified = Arc::new(json!({"report": report_json, "stream": stream}));
    let _ = hub.watchers.send(Watch::Verified(verified.clone()));
    if let Some((_, tx)) = lock(&hub.runner).as_ref() {
        let _ = tx.send(ServerMessage::ServerVerified { report: report_json, stream });
    }
    let status = if accepted { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    (status, axum::Json(verified.as_ref().clone())).into_response()
}

async fn pack_file(State(s): State<Arc<AppState>>, Path(run_id): Path<String>) -> Response {
    let Ok(Some(row)) = s.store.run(&run_id) else {
        return text(StatusCode::NOT_FOUND, "no such run");
    };
    let Some(r) = row.result else {
        return text(StatusCode::NOT_FOUND, "the run's pack has not been submitted");
    };
    match tokio::fs::read(s.packs.join(format!("{}.tgz", r.pack_sha256))).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/gzip")], bytes).into_response(),
        Err(_) => text(StatusCode::NOT_FOUND, "the pack file is missing"),
    }
}

// ---------------------------------------------------------------- reading

fn row_json(r: &RunRow) -> Value {
    json!({
        "run_id": r.run_id,
        "project": r.project,
        "created_ms": r.created_ms,
        "events": r.count,
        "verdict": r.result.as_ref().map(|x| x.verdict.clone()),
        "stream": r.result.as_ref().map(|x| x.stream),
    })
}

async fn list_runs(State(s): State<Arc<AppState>>) -> Response {
    match s.store.runs(200) {
        Ok(rows) => axum::Json(json!({"runs": rows.iter().map(row_json).collect::<Vec<_>>()})).into_response(),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// A run and the server's snapshot of it; `None` when it is unknown.
pub(crate) fn run_state(s: &AppState, run_id: &str) -> Result<Option<(RunRow, Snapshot)>, crate::store::StoreError> {
    let Some(row) = s.store.run(run_id)? else { return Ok(None) };
    let hub = s.hub(&row)?;
    let snapshot = lock(&hub.snapshot).clone();
    Ok(Some((row, snapshot)))
}

async fn run_json(State(s): State<Arc<AppState>>, Path(run_id): Path<String>) -> Response {
    match run_state(&s, &run_id) {
        Ok(Some((row, snapshot))) => {
            let mut v = row_json(&row);
            v["snapshot"] = serde_json::to_value(&snapshot).unwrap_or(Value::Null);
            v["report"] = row.result.map_or(Value::Null, |r| r.report);
            axum::Json(v).into_response()
        }
        Ok(None) => text(StatusCode::NOT_FOUND, "no such run"),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn run_events(State(s): State<Arc<AppState>>, Path(run_id): Path<String>) -> Response {
    match s.store.events(&run_id, 0, s.limits.events_per_run) {
        Ok(lines) => {
            let mut body = Vec::new();
            for l in lines {
                body.extend_from_slice(&l);
                body.push(b'\n');
            }
            ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
        }
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn watch(State(s): State<Arc<AppState>>, Path(run_id): Path<String>, headers: HeaderMap) -> Response {
    let row = match s.store.run(&run_id) {
        Ok(Some(r)) => r,
        Ok(None) => return text(StatusCode::NOT_FOUND, "no such run"),
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let hub = match s.hub(&row) {
        Ok(h) => h,
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let from = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .map_or(0, |n| n.saturating_add(1));
    // Subscribed before the stored events are read: nothing falls between.
    let rx = hub.watchers.subscribe();
    let stored = s.store.events(&run_id, from, s.limits.events_per_run).unwrap_or_default();
    let snapshot = lock(&hub.snapshot).clone();
    let next = from + stored.len() as u64;
    let mut first =
        vec![SseEvent::default().event("snapshot").data(serde_json::to_string(&snapshot).unwrap_or_default())];
    for (i, line) in stored.iter().enumerate() {
        first.push(
            SseEvent::default().event("event").id((from + i as u64).to_string()).data(String::from_utf8_lossy(line)),
        );
    }
    // Read again after subscribing: a verdict stored since the first read
    // would otherwise be neither here nor in the broadcast.
    let verified = s.store.run(&run_id).ok().flatten().and_then(|r| r.result);
    if let Some(r) = verified {
        first.push(
            SseEvent::default().event("verified").data(json!({"report": r.report, "stream": r.stream}).to_string()),
        );
    }
    let live = tokio_stream::wrappers::BroadcastStream::new(rx).filter_map(move |w| async move {
        match w {
            Ok(Watch::Event { seq, line }) if seq >= next => {
                Some(SseEvent::default().event("event").id(seq.to_string()).data(line.as_ref()))
            }
            Ok(Watch::Verified(v)) => Some(SseEvent::default().event("verified").data(v.to_string())),
            // A watcher that fell behind reconnects with Last-Event-ID.
            Err(_) => Some(SseEvent::default().event("lagged").data("reconnect")),
            Ok(_) => None,
        }
    });
    let events = futures_util::stream::iter(first).chain(live).map(Ok::<_, Infallible>);
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}
