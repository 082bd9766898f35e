//! The live server end to end: `cargo capsule serve` as its own process,
//! `bench --stream` through a loopback proxy that cuts the runner's
//! connection in the middle of the run (the runner reconnects and resumes
//! where the server says), the stored stream equal to the pack's sealed
//! log, the pack verified before anything is shown; a stream whose events
//! are not the pack's marked so publicly; hostile submissions refused; a
//! `kill -9` and a restart lose nothing stored.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use capsule_server::tokens::token_digest;
use capsule_testkit::forge::Forged;
use serde_json::Value;

use super::bench::stderr;
use super::stdout;

const TOKEN: &str = "octo-runner-token";
const OTHER: &str = "other-project-token";

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cargo capsule serve` on a free loopback port over `data`.
fn serve(data: &Path, extra: &[&str]) -> Server {
    let tokens = data.with_extension("tokens");
    std::fs::write(&tokens, format!("# runners\nocto {}\nother {}\n", token_digest(TOKEN), token_digest(OTHER)))
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cargo-capsule"))
        .args(["capsule", "serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .arg("--tokens")
        .arg(&tokens)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while out.read(&mut b).unwrap() == 1 && b[0] != b'\n' {
        line.push(b[0]);
    }
    let line = String::from_utf8(line).unwrap();
    let addr = line.split("http://").nth(1).and_then(|r| r.split_whitespace().next()).unwrap().to_owned();
    Server { child, addr }
}

/// A raw HTTP/1.1 request; the status and the body.
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    // A server may answer before the body is all sent (a pack over the
    // limit is refused from its length) and close: that is its answer.
    let _ = s.write_all(body);
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

fn get_json(addr: &str, path: &str) -> Value {
    let (status, body) = http(addr, "GET", path, &[], b"");
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// A loopback proxy to `target` that cuts the first WebSocket connection
/// once `cut_after` bytes have gone from the runner to the server.
fn cutting_proxy(target: String, cut_after: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let cuts = Arc::new(AtomicUsize::new(0));
    let c = cuts.clone();
    std::thread::spawn(move || {
        let armed = Arc::new(AtomicBool::new(true));
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&target) else { continue };
            let (c2, armed) = (c.clone(), armed.clone());
            std::thread::spawn(move || {
                let (mut up_r, mut up_w) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (mut down_r, mut down_w) = (server, client);
                let down = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut down_r, &mut down_w);
                    let _ = down_w.shutdown(std::net::Shutdown::Both);
                });
                let mut sent = 0usize;
                let mut buf = [0u8; 4096];
                let mut websocket = false;
                loop {
                    let n = match up_r.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    websocket |= buf[..n].windows(9).any(|w| w.eq_ignore_ascii_case(b"websocket"));
                    sent += n;
                    if websocket && sent > cut_after && armed.swap(false, Ordering::SeqCst) {
                        c2.fetch_add(1, Ordering::SeqCst);
                        let _ = up_w.shutdown(std::net::Shutdown::Both);
                        let _ = up_r.shutdown(std::net::Shutdown::Both);
                        break;
                    }
                    if up_w.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = up_w.shutdown(std::net::Shutdown::Both);
                let _ = down.join();
            });
        }
    });
    (addr, cuts)
}

fn bench_streaming(ws: &Path, server: &str, out: &Path, run_id: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-capsule"))
        .args(["capsule", "bench", "--stream", server, "--out"])
        .arg(out)
        .args(["--run-id", run_id, "--repetitions", "40"])
        .current_dir(ws)
        .env("CAPSULE_STREAM_TOKEN", TOKEN)
        .env("CARGO_TARGET_DIR", ws.join("target"))
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap()
}

fn submit(pack: &Path, server: &str, token: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-capsule"))
        .args(["capsule", "submit"])
        .arg(pack)
        .args(["--server", server])
        .env("CAPSULE_STREAM_TOKEN", token)
        .output()
        .unwrap()
}

fn sealed_lines(pack: &Path) -> Vec<String> {
    let f = Forged::open(pack);
    String::from_utf8(f.members["events.jsonl"].clone()).unwrap().lines().map(str::to_owned).collect()
}

#[test]
fn a_run_streams_through_a_cut_connection_and_its_pack_is_verified_against_the_stream() {
    let _m = super::measuring();
    let tmp = tempfile::tempdir().unwrap();
    let ws = super::board::fast_workspace(tmp.path());
    let data = tmp.path().join("server");
    let server = serve(&data, &["--max-pack-mib", "1"]);
    let (proxy, cuts) = cutting_proxy(server.addr.clone(), 3000);
    let url = format!("http://{proxy}");

    // The run streams; its connection is cut mid-run; it resumes.
    let pack = tmp.path().join("live.tgz");
    let o = bench_streaming(&ws, &url, &pack, "live-1");
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert_eq!(cuts.load(Ordering::SeqCst), 1, "the proxy cut the stream once");
    let sealed = sealed_lines(&pack);
    let all = sealed.len() + 2; // and capsule_sealed, pack_ready
    assert!(out.contains(&format!("stream: {all} of {all} events acknowledged by {url} after 1 reconnect")), "{out}");
    assert!(out.contains("the server verified the pack: accepted; the stream matches it"), "{out}");

    // What the server stored is the pack's sealed log, byte for byte, then
    // the post-seal events continuing it.
    let run = get_json(&server.addr, "/v1/runs/live-1");
    assert_eq!(run["verdict"], "accepted", "{run}");
    assert_eq!(run["stream"], "matches", "{run}");
    assert_eq!(run["events"], all);
    assert_eq!(run["project"], "octo");
    assert_eq!(run["snapshot"]["pack_ready"], true, "{run}");
    let (_, events) = http(&server.addr, "GET", "/v1/runs/live-1/events", &[], b"");
    let stored: Vec<&str> = events.lines().collect();
    assert_eq!(stored[..sealed.len()], sealed.iter().map(String::as_str).collect::<Vec<_>>()[..]);
    assert!(stored[sealed.len()].contains("\"capsule_sealed\"") && stored[sealed.len() + 1].contains("\"pack_ready\""));
    let (status, page) = http(&server.addr, "GET", "/runs/live-1", &[], b"");
    assert_eq!(status, 200);
    assert!(page.contains("data-run=\"live-1\"") && page.contains("/ui/run.js"), "{page}");
    // The watch stream replays the run: snapshot, every event, the verdict.
    let (status, watch) = {
        let mut s = TcpStream::connect(&server.addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
        write!(s, "GET /v1/runs/live-1/watch HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 5\r\n\r\n").unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let t = String::from_utf8_lossy(&buf).into_owned();
        (t.split_whitespace().nth(1).unwrap_or_default().to_owned(), t)
    };
    assert_eq!(status, "200", "{watch}");
    assert!(watch.contains("event: snapshot") && watch.contains("event: verified"), "{watch}");
    assert!(watch.contains("id: 6\n") && !watch.contains("id: 5\n"), "resumes after Last-Event-ID: {watch}");

    // The same pack again: the same answer; another project: refused.
    let o = submit(&pack, &format!("http://{}", server.addr), TOKEN);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("accepted (stream: matches)"), "{}", stdout(&o));
    let o = submit(&pack, &format!("http://{}", server.addr), OTHER);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert!(stderr(&o).contains("403") && stderr(&o).contains("another project"), "{}", stderr(&o));

    // A stream whose events are not the pack's: streamed by hand under the
    // run id of a pack that was never streamed, with one event's time
    // changed and the chain rebuilt; the real pack then submitted. The
    // verdict is the pack's; the mismatch is shown beside it.
    let quiet = tmp.path().join("quiet.tgz");
    let o = Command::new(env!("CARGO_BIN_EXE_cargo-capsule"))
        .args(["capsule", "bench", "--quiet", "--run-id", "quiet-1", "--repetitions", "20", "--out"])
        .arg(&quiet)
        .current_dir(&ws)
        .env("CARGO_TARGET_DIR", ws.join("target"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut log = capsule::events::EventLog::new("quiet-1");
    for (i, line) in sealed_lines(&quiet).iter().enumerate() {
        let e: capsule::objects::EventV1 = serde_json::from_str(line).unwrap();
        log.push(e.ts_ms + u64::from(i == 3), &e.kind, e.data).unwrap();
    }
    let s = capsule_server::client::Streamer::start(&format!("http://{}", server.addr), TOKEN, serde_json::json!({}))
        .unwrap();
    for e in log.events() {
        s.send(e);
    }
    let streamed = s.finish(None);
    assert_eq!(streamed.acknowledged, log.count(), "{streamed:?}");
    let o = submit(&quiet, &format!("http://{}", server.addr), TOKEN);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("accepted (stream: mismatch)"), "{}", stdout(&o));
    let run = get_json(&server.addr, "/v1/runs/quiet-1");
    assert_eq!(run["stream"], "mismatch", "{run}");
    let (_, index) = http(&server.addr, "GET", "/", &[], b"");
    assert!(index.contains("mismatch"), "shown publicly: {index}");

    // Hostile submissions: no token, a damaged pack, one over the size
    // limit; none is stored, none shows as a result.
    let (status, _) = http(&server.addr, "POST", "/v1/runs/x-1/pack", &[], b"x");
    assert_eq!(status, 401);
    let (status, _) = http(&server.addr, "GET", "/v1/stream", &[("Upgrade", "websocket")], b"");
    assert_eq!(status, 401, "a stream without a token");
    let mut damaged = std::fs::read(&pack).unwrap();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0x5a;
    let auth = format!("Bearer {TOKEN}");
    let (status, body) = http(&server.addr, "POST", "/v1/runs/damaged-1/pack", &[("Authorization", &auth)], &damaged);
    assert_eq!(status, 422, "{body}");
    let (status, _) = http(&server.addr, "GET", "/v1/runs/damaged-1", &[], b"");
    assert_eq!(status, 404, "a damaged pack creates nothing");
    let big = vec![7u8; 1_100_000];
    let (status, body) = http(&server.addr, "POST", "/v1/runs/big-1/pack", &[("Authorization", &auth)], &big);
    assert_eq!(status, 413, "{body}");
    let (status, _) = http(
        &server.addr,
        "POST",
        "/v1/runs/live-1/pack",
        &[("Authorization", &auth)],
        &std::fs::read(&quiet).unwrap(),
    );
    assert_eq!(status, 409, "a pack of another run under this one");

    // The run's page, as a reader opens it (headless Chromium): the events
    // replayed, the trust filled in from the server's verification in
    // words, the stream's agreement; and the mismatched run's page says so.
    if Command::new("sh").args(["-c", "command -v chromium"]).output().is_ok_and(|o| o.status.success()) {
        let profile = tmp.path().join("chromium");
        let shots = super::root().join("target/stream-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        let page = |run: &str| format!("http://{}/runs/{run}", server.addr);
        let dom = stdout(&super::board::chromium(&profile, &["--dump-dom"], &page("live-1")));
        assert!(dom.contains("Verified by the server: accepted."), "{dom}");
        assert!(dom.contains(&format!("data-seq=\"{}\"", all - 1)), "every event listed: {dom}");
        for (id, word) in
            [("integrity", "every byte bound"), ("policy", "follows the pinned policy"), ("stream", "matches")]
        {
            let li = dom.split(&format!("id=\"trust-{id}\"")).nth(1).unwrap_or_default();
            assert!(li.split("</li>").next().unwrap_or_default().contains(word), "trust-{id}: {dom}");
        }
        let dom = stdout(&super::board::chromium(&profile, &["--dump-dom"], &page("quiet-1")));
        let li = dom.split("id=\"trust-stream\"").nth(1).unwrap_or_default();
        assert!(li.starts_with(" class=\"no\"") && li.contains("mismatch"), "{dom}");
        let shot = shots.join("run.png");
        super::board::chromium(
            &profile,
            &[&format!("--screenshot={}", shot.display()), "--window-size=1000,1400"],
            &page("live-1"),
        );
        assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 1000));
    } else {
        assert!(std::env::var_os("CI").is_none(), "CI must install chromium (.ci/run does)");
    }

    // kill -9, restart on the same data: every stored run and verdict is
    // there.
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let again = serve(&data, &[]);
    let run = get_json(&again.addr, "/v1/runs/live-1");
    assert_eq!(
        (run["verdict"].as_str(), run["stream"].as_str(), run["events"].as_u64()),
        (Some("accepted"), Some("matches"), Some(all as u64))
    );
    let runs = get_json(&again.addr, "/v1/runs");
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(2), "{runs}");
}
