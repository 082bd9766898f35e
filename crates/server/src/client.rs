//! The runner's side of the stream (docs/spec/stream.md): a background
//! thread that sends each event as it joins the chain, keeps every event
//! until the server acknowledges it, reconnects with backoff and resumes
//! where the server says, sends a state snapshot on connect, on request
//! and every 2 s, and at the end submits the pack. A run never waits for
//! the server: the events are queued, and [`Streamer::finish`] gives up
//! 60 s after the pack is written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use capsule::objects::EventV1;
use capsule::stream::{PROTOCOL, RunnerMessage, ServerMessage, Snapshot, StreamVerdict};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

/// Why the stream could not start, or a submission failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server URL is not `http://` or `https://`.
    #[error("`{0}` is not a server URL (`http://HOST:PORT` or `https://HOST`)")]
    Url(String),
    /// The runtime or thread could not start.
    #[error("failed to start the stream client")]
    Start(#[source] std::io::Error),
    /// The pack could not be read.
    #[error("failed to read the pack `{}`", path.display())]
    Read {
        /// The pack.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The request did not complete.
    #[error("failed to reach the server at `{url}`")]
    Http {
        /// Where.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The server refused the submission.
    #[error("the server answered {status}: {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// Its message.
        message: String,
    },
}

/// What the server said of a submitted pack.
#[derive(Clone, Debug, PartialEq)]
pub struct Submission {
    /// `accepted` or `rejected`, at the server's profile.
    pub verdict: String,
    /// How the stream compares with the pack.
    pub stream: StreamVerdict,
    /// The report.
    pub report: Value,
}

/// How a stream went.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Events the run produced.
    pub events: u64,
    /// Events the server acknowledged.
    pub acknowledged: u64,
    /// Connections made after the first.
    pub reconnects: u32,
    /// The server's verdict on the pack, when it was submitted.
    pub submitted: Option<Submission>,
    /// What went wrong on the way, in order (not fatal to the run).
    pub problems: Vec<String>,
}

/// The server's URLs from its base URL.
#[derive(Clone, Debug)]
struct Urls {
    base: String,
    ws: String,
}

fn urls(server: &str) -> Result<Urls, ClientError> {
    let base = server.trim_end_matches('/').to_owned();
    let ws = if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}/v1/stream")
    } else if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}/v1/stream")
    } else {
        return Err(ClientError::Url(server.to_owned()));
    };
    Ok(Urls { base, ws })
}

enum Cmd {
    Event(EventV1),
    Finish(Option<PathBuf>),
}

/// A run's stream to a server.
pub struct Streamer {
    tx: mpsc::UnboundedSender<Cmd>,
    thread: Option<std::thread::JoinHandle<Outcome>>,
}

impl std::fmt::Debug for Streamer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streamer").finish_non_exhaustive()
    }
}

/// How long after the pack is written the stream keeps trying.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(60);

impl Streamer {
    /// Starts streaming to `server` (its base URL) with `token`; `client`
    /// describes the runner (sent in `hello`).
    pub fn start(server: &str, token: &str, client: Value) -> Result<Streamer, ClientError> {
        let urls = urls(server)?;
        let token = token.to_owned();
        let (tx, rx) = mpsc::unbounded_channel();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(ClientError::Start)?;
        let thread = std::thread::Builder::new()
            .name("capsule-stream".into())
            .spawn(move || rt.block_on(stream(urls, token, client, rx)))
            .map_err(ClientError::Start)?;
        Ok(Streamer { tx, thread: Some(thread) })
    }

    /// The observer to give the builder: every event is queued.
    pub fn observer(&self) -> capsule::builder::EventObserver {
        let tx = self.tx.clone();
        Box::new(move |e, _| {
            let _ = tx.send(Cmd::Event(e.clone()));
        })
    }

    /// Queues an event (the post-seal ones, which the builder does not see).
    pub fn send(&self, e: &EventV1) {
        let _ = self.tx.send(Cmd::Event(e.clone()));
    }

    /// Waits until the server has every event and `pack` (when given) is
    /// submitted, or [`GIVE_UP_AFTER`] has passed.
    pub fn finish(mut self, pack: Option<&Path>) -> Outcome {
        let _ = self.tx.send(Cmd::Finish(pack.map(Path::to_path_buf)));
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default()
    }
}

struct Run {
    urls: Urls,
    token: String,
    client: Value,
    events: Vec<EventV1>,
    acked: Option<u64>,
    finish: Option<Option<PathBuf>>,
    deadline: Option<Instant>,
    out: Outcome,
}

enum Ended {
    /// Every event acknowledged and the pack submitted (or given up).
    Done,
    /// The connection dropped or failed: reconnect.
    Dropped(String),
    /// The server refused the stream: stop streaming.
    Refused(String),
}

impl Run {
    fn all_acked(&self) -> bool {
        self.events.is_empty() || self.acked == Some(self.events.len() as u64 - 1)
    }

    fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot::new(self.events.first().map_or("", |e| e.run_id.as_str()));
        for e in &self.events {
            s.fold(e);
        }
        s
    }

    fn take(&mut self, c: Option<Cmd>) {
        match c {
            Some(Cmd::Event(e)) => self.events.push(e),
            Some(Cmd::Finish(p)) => {
                self.finish = Some(p);
                self.deadline = Some(Instant::now() + GIVE_UP_AFTER);
            }
            None => {
                if self.finish.is_none() {
                    self.finish = Some(None);
                    self.deadline = Some(Instant::now());
                }
            }
        }
    }

    fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    async fn session(&mut self, rx: &mut mpsc::UnboundedReceiver<Cmd>) -> Ended {
        let run_id = self.events[0].run_id.clone();
        let mut request = match self.urls.ws.as_str().into_client_request() {
            Ok(r) => r,
            Err(e) => return Ended::Refused(format!("bad stream URL: {e}")),
        };
        match format!("Bearer {}", self.token).parse() {
            Ok(v) => {
                request.headers_mut().insert("authorization", v);
            }
            Err(_) => return Ended::Refused("the token is not a valid header value".into()),
        }
        let connect = tokio::time::timeout(Duration::from_secs(10), tokio_tungstenite::connect_async(request));
        let mut ws = match connect.await {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(tokio_tungstenite::tungstenite::Error::Http(r))) if r.status().as_u16() == 401 => {
                return Ended::Refused("the server refused the token (401)".into());
            }
            Ok(Err(e)) => return Ended::Dropped(format!("connecting: {e}")),
            Err(_) => return Ended::Dropped("connecting: timed out".into()),
        };
        let send = |m: &RunnerMessage| serde_json::to_string(m).map(|t| Message::Text(t.into()));
        let hello = RunnerMessage::Hello { protocol: PROTOCOL.into(), run_id, client: self.client.clone() };
        let Ok(hello) = send(&hello) else { return Ended::Refused("cannot encode hello".into()) };
        if let Err(e) = ws.send(hello).await {
            return Ended::Dropped(format!("sending hello: {e}"));
        }
        let mut next: Option<usize> = None;
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        tick.tick().await;
        loop {
            // Everything the server lacks, in order.
            if let Some(n) = next.as_mut() {
                while *n < self.events.len() {
                    let Ok(m) = send(&RunnerMessage::Event { event: self.events[*n].clone() }) else {
                        return Ended::Refused("cannot encode an event".into());
                    };
                    if let Err(e) = ws.send(m).await {
                        return Ended::Dropped(format!("sending: {e}"));
                    }
                    *n += 1;
                }
            }
            if self.finish.is_some() && self.all_acked() {
                let _ = ws.close(None).await;
                return Ended::Done;
            }
            let deadline = self.deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                c = rx.recv(), if self.finish.is_none() => self.take(c),
                m = ws.next() => {
                    let text = match m {
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(Message::Close(_))) | None => return Ended::Dropped("the server closed the connection".into()),
                        Some(Err(e)) => return Ended::Dropped(format!("receiving: {e}")),
                        Some(Ok(_)) => continue,
                    };
                    match serde_json::from_str::<ServerMessage>(text.as_str()) {
                        Ok(ServerMessage::ResumeRequest { from_seq, want_snapshot }) => {
                            if want_snapshot {
                                let Ok(m) = send(&RunnerMessage::StateSnapshot { snapshot: Box::new(self.snapshot()) }) else {
                                    return Ended::Refused("cannot encode a snapshot".into());
                                };
                                if let Err(e) = ws.send(m).await {
                                    return Ended::Dropped(format!("sending: {e}"));
                                }
                            }
                            next = Some(usize::try_from(from_seq).unwrap_or(usize::MAX).min(self.events.len()));
                            if from_seq > 0 {
                                self.acked = Some(self.acked.map_or(from_seq - 1, |a| a.max(from_seq - 1)));
                            }
                        }
                        Ok(ServerMessage::ServerReceived { last_seq }) => {
                            self.acked = Some(self.acked.map_or(last_seq, |a| a.max(last_seq)));
                        }
                        Ok(ServerMessage::ServerVerified { .. }) => {}
                        Ok(ServerMessage::Error { code, message }) => {
                            return Ended::Refused(format!("the server refused the stream: {code}: {message}"));
                        }
                        Err(e) => return Ended::Refused(format!("the server sent something else: {e}")),
                    }
                }
                _ = tick.tick() => {
                    if next.is_some() {
                        let Ok(m) = send(&RunnerMessage::StateSnapshot { snapshot: Box::new(self.snapshot()) }) else {
                            return Ended::Refused("cannot encode a snapshot".into());
                        };
                        if let Err(e) = ws.send(m).await {
                            return Ended::Dropped(format!("sending: {e}"));
                        }
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return Ended::Dropped("gave up waiting for acknowledgements".into()),
            }
        }
    }
}

async fn stream(urls: Urls, token: String, client: Value, mut rx: mpsc::UnboundedReceiver<Cmd>) -> Outcome {
    let mut run = Run {
        urls,
        token,
        client,
        events: Vec::new(),
        acked: None,
        finish: None,
        deadline: None,
        out: Outcome::default(),
    };
    // The run id comes with the first event.
    while run.events.is_empty() && run.finish.is_none() {
        let c = rx.recv().await;
        run.take(c);
    }
    let mut backoff = Duration::from_millis(100);
    let mut connections = 0u32;
    let mut refused = false;
    let finished = |r: &Run| r.events.is_empty() || r.past_deadline() || (r.finish.is_some() && r.all_acked());
    while !finished(&run) {
        connections += 1;
        match run.session(&mut rx).await {
            Ended::Done => break,
            Ended::Refused(why) => {
                run.out.problems.push(why);
                refused = true;
                break;
            }
            Ended::Dropped(why) => {
                run.out.problems.push(why);
                // Wait, still taking events, then reconnect.
                let wake = Instant::now() + backoff;
                loop {
                    tokio::select! {
                        c = rx.recv(), if run.finish.is_none() => run.take(c),
                        _ = tokio::time::sleep_until(wake) => break,
                    }
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    // Drain what is left of the run, so the count is right.
    while run.finish.is_none() {
        let c = rx.recv().await;
        run.take(c);
    }
    run.out.reconnects = connections.saturating_sub(1);
    run.out.events = run.events.len() as u64;
    run.out.acknowledged = run.acked.map_or(0, |a| a + 1);
    if let (false, Some(Some(pack)), Some(first)) = (refused, run.finish.clone(), run.events.first()) {
        match submit(&run.urls.base, &run.token, &first.run_id, &pack).await {
            Ok(s) => run.out.submitted = Some(s),
            Err(e) => run.out.problems.push(format!("submitting the pack: {e}")),
        }
    }
    run.out
}

async fn submit(base: &str, token: &str, run_id: &str, pack: &Path) -> Result<Submission, ClientError> {
    let bytes = tokio::fs::read(pack).await.map_err(|source| ClientError::Read { path: pack.to_path_buf(), source })?;
    let url = format!("{base}/v1/runs/{run_id}/pack");
    let http = |source| ClientError::Http { url: url.clone(), source };
    let r = reqwest::Client::new()
        .post(&url)
        .bearer_auth(token)
        .header("content-type", "application/gzip")
        .body(bytes)
        .send()
        .await
        .map_err(http)?;
    let status = r.status().as_u16();
    let body = r.text().await.map_err(http)?;
    match (status, serde_json::from_str::<Value>(&body)) {
        (200 | 422, Ok(v)) => Ok(Submission {
            verdict: v["report"]["verdict"].as_str().unwrap_or("rejected").to_owned(),
            stream: serde_json::from_value(v["stream"].clone()).unwrap_or(StreamVerdict::Unchecked),
            report: v["report"].clone(),
        }),
        _ => Err(ClientError::Refused { status, message: body.trim().chars().take(500).collect() }),
    }
}

/// Submits a pack to `server` (`cargo capsule submit PACK --server URL`),
/// under the run id its capsule names.
pub fn submit_pack(server: &str, token: &str, run_id: &str, pack: &Path) -> Result<Submission, ClientError> {
    let urls = urls(server)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(ClientError::Start)?;
    rt.block_on(submit(&urls.base, token, run_id, pack))
}

#[cfg(test)]
mod tests {
    use super::urls;

    #[test]
    fn server_urls_name_the_stream() {
        let u = urls("http://127.0.0.1:8080/").expect("a URL");
        assert_eq!((u.base.as_str(), u.ws.as_str()), ("http://127.0.0.1:8080", "ws://127.0.0.1:8080/v1/stream"));
        assert_eq!(urls("https://live.example").expect("a URL").ws, "wss://live.example/v1/stream");
        assert!(urls("ftp://x").is_err() && urls("127.0.0.1:8080").is_err());
    }
}
