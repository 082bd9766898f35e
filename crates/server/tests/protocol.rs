//! The stream protocol against the real router on loopback, as a hostile
//! or broken runner would speak it: a page's `Origin` refused, a first
//! message other than `hello`, an event out of order (resume asked), a
//! stored event sent again with other bytes (`conflict`), a broken `prev`
//! (`chain-broken`), another project's token on a run (`unauthorized`), a
//! message over the size limit, and the rate limit.

#![expect(clippy::unwrap_used, reason = "a test fails loudly")]

use std::sync::Arc;

use capsule::events::EventLog;
use capsule::stream::{PROTOCOL, RunnerMessage, ServerMessage};
use capsule_server::store::SqliteStore;
use capsule_server::tokens::{Rate, Tokens, token_digest};
use capsule_server::{Config, Limits, router};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn start(dir: &std::path::Path, limits: Limits) -> String {
    let tokens =
        Tokens::parse(&format!("octo {}\nother {}\n", token_digest("t-octo"), token_digest("t-other"))).unwrap();
    let store = SqliteStore::open(&dir.join("runs.sqlite")).unwrap();
    let config = Config {
        data_dir: dir.to_path_buf(),
        store: Arc::new(store),
        verify: capsule::verify::VerifyOptions::default(),
        tokens,
        limits,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(config)).await });
    format!("ws://{addr}/v1/stream")
}

async fn connect(url: &str, token: &str, origin: Option<&str>) -> Result<Socket, u16> {
    let mut r = url.into_client_request().unwrap();
    r.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    if let Some(o) = origin {
        r.headers_mut().insert("origin", o.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(r).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

async fn say(ws: &mut Socket, m: &RunnerMessage) {
    ws.send(Message::Text(serde_json::to_string(m).unwrap().into())).await.unwrap();
}

async fn hear(ws: &mut Socket) -> ServerMessage {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(t.as_str()).unwrap(),
            Some(Ok(Message::Close(_))) | None => panic!("closed without a message"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("{e}"),
        }
    }
}

fn hello(run: &str) -> RunnerMessage {
    RunnerMessage::Hello { protocol: PROTOCOL.into(), run_id: run.into(), client: json!({}) }
}

fn log(run: &str, n: u64) -> EventLog {
    let mut l = EventLog::new(run);
    for i in 0..n {
        l.push(i, "repetition", json!({"index": i})).unwrap();
    }
    l
}

fn code(m: &ServerMessage) -> &str {
    match m {
        ServerMessage::Error { code, .. } => code,
        _ => "",
    }
}

#[tokio::test]
async fn hostile_runners_are_refused_with_their_codes() {
    let dir = tempfile::tempdir().unwrap();
    let url = start(dir.path(), Limits { frame_bytes: 64 << 10, ..Limits::default() }).await;

    // A page's request: refused before the upgrade; so is a bad token.
    assert_eq!(connect(&url, "t-octo", Some("https://evil.example")).await.err(), Some(403));
    assert_eq!(connect(&url, "guess", None).await.err(), Some(401));

    // The first message must be hello.
    let l = log("r1", 4);
    let ev = l.events();
    let mut ws = connect(&url, "t-octo", None).await.unwrap();
    say(&mut ws, &RunnerMessage::Event { event: ev[0].clone() }).await;
    assert_eq!(code(&hear(&mut ws).await), "bad-message");

    // In order: stored and acknowledged; ahead of the chain: resume asked;
    // the same event again: acknowledged; other bytes: conflict.
    let mut ws = connect(&url, "t-octo", None).await.unwrap();
    say(&mut ws, &hello("r1")).await;
    assert_eq!(hear(&mut ws).await, ServerMessage::ResumeRequest { from_seq: 0, want_snapshot: true });
    say(&mut ws, &RunnerMessage::Event { event: ev[0].clone() }).await;
    assert_eq!(hear(&mut ws).await, ServerMessage::ServerReceived { last_seq: 0 });
    say(&mut ws, &RunnerMessage::Event { event: ev[2].clone() }).await;
    assert_eq!(hear(&mut ws).await, ServerMessage::ResumeRequest { from_seq: 1, want_snapshot: false });
    say(&mut ws, &RunnerMessage::Event { event: ev[1].clone() }).await;
    assert_eq!(hear(&mut ws).await, ServerMessage::ServerReceived { last_seq: 1 });
    say(&mut ws, &RunnerMessage::Event { event: ev[0].clone() }).await;
    assert_eq!(hear(&mut ws).await, ServerMessage::ServerReceived { last_seq: 1 });
    let mut other = ev[1].clone();
    other.ts_ms += 1;
    say(&mut ws, &RunnerMessage::Event { event: other }).await;
    assert_eq!(code(&hear(&mut ws).await), "conflict");

    // A reconnect resumes from the stored count; a broken prev is refused.
    let mut ws = connect(&url, "t-octo", None).await.unwrap();
    say(&mut ws, &hello("r1")).await;
    assert_eq!(hear(&mut ws).await, ServerMessage::ResumeRequest { from_seq: 2, want_snapshot: true });
    let mut broken = ev[2].clone();
    broken.prev = capsule::Digest::ZERO;
    say(&mut ws, &RunnerMessage::Event { event: broken }).await;
    assert_eq!(code(&hear(&mut ws).await), "chain-broken");

    // Another project's token cannot add to the run.
    let mut ws = connect(&url, "t-other", None).await.unwrap();
    say(&mut ws, &hello("r1")).await;
    assert_eq!(code(&hear(&mut ws).await), "unauthorized");

    // A message over the size limit closes the connection.
    let mut ws = connect(&url, "t-octo", None).await.unwrap();
    say(&mut ws, &hello("r2")).await;
    let _ = hear(&mut ws).await;
    let mut big = log("r2", 1).events()[0].clone();
    big.data = json!({"padding": "x".repeat(100 << 10)});
    let _ = ws.send(Message::Text(serde_json::to_string(&RunnerMessage::Event { event: big }).unwrap().into())).await;
    let closed = matches!(ws.next().await, None | Some(Err(_)) | Some(Ok(Message::Close(_))));
    assert!(closed, "the oversized message ends the connection");
}

#[tokio::test]
async fn a_runner_over_its_rate_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits { messages: Rate { per_second: 0.0, burst: 3.0 }, ..Limits::default() };
    let url = start(dir.path(), limits).await;
    let l = log("r1", 5);
    let mut ws = connect(&url, "t-octo", None).await.unwrap();
    say(&mut ws, &hello("r1")).await;
    let _ = hear(&mut ws).await;
    for e in &l.events()[..3] {
        say(&mut ws, &RunnerMessage::Event { event: e.clone() }).await;
        assert!(matches!(hear(&mut ws).await, ServerMessage::ServerReceived { .. }));
    }
    say(&mut ws, &RunnerMessage::Event { event: l.events()[3].clone() }).await;
    assert_eq!(code(&hear(&mut ws).await), "rate-limited");
}
