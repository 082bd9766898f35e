//! A loopback GitHub: the REST endpoints CapsuleBench uses, with GitHub's
//! documented response shapes, keeping what was written. Shared by the
//! client's tests and the end-to-end tests of the CLI.

#![allow(dead_code, unreachable_pub, reason = "each test binary uses a part")]

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

#[derive(Default)]
pub struct State {
    pub comments: Vec<Value>,
    pub assets: Vec<Value>,
    pub next_id: u64,
    pub forbid_writes: bool,
    pub requests: Vec<String>,
    pub tokens_seen: Vec<String>,
}

pub struct Fake {
    pub base: String,
    pub state: Arc<Mutex<State>>,
}

pub fn user(login: &str) -> Value {
    json!({"login": login, "id": 41898282, "node_id": "MDM6Qm90NDE4OTgyODI=", "type": "Bot", "site_admin": false,
           "html_url": format!("https://github.com/{login}"), "url": format!("https://api.github.com/users/{login}")})
}

pub fn comment(base: &str, id: u64, body: &str, login: &str) -> Value {
    json!({"id": id, "node_id": format!("IC_{id}"), "url": format!("{base}/repos/o/r/issues/comments/{id}"),
           "html_url": format!("https://github.com/o/r/pull/7#issuecomment-{id}"), "body": body, "user": user(login),
           "created_at": "2026-11-26T00:00:00Z", "updated_at": "2026-11-26T00:00:00Z",
           "issue_url": format!("{base}/repos/o/r/issues/7"), "author_association": "NONE"})
}

fn page(items: &[Value], query: &str) -> Value {
    let get = |k: &str, d: usize| {
        query.split('&').find_map(|kv| kv.strip_prefix(&format!("{k}="))).and_then(|v| v.parse().ok()).unwrap_or(d)
    };
    let (per, page) = (get("per_page", 30), get("page", 1));
    Value::Array(items.iter().skip(per * (page - 1)).take(per).cloned().collect())
}

pub fn start() -> Fake {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let base = format!("http://{}", server.server_addr().to_ip().unwrap());
    let state = Arc::new(Mutex::new(State { next_id: 1000, ..State::default() }));
    let (st, b) = (state.clone(), base.clone());
    std::thread::spawn(move || {
        for mut req in server.incoming_requests() {
            let mut body = Vec::new();
            req.as_reader().read_to_end(&mut body).unwrap();
            let (path, query) = req
                .url()
                .split_once('?')
                .map_or((req.url().to_owned(), String::new()), |(p, q)| (p.to_owned(), q.to_owned()));
            let method = req.method().as_str().to_owned();
            let mut s = st.lock().unwrap();
            s.requests.push(format!("{method} {path}"));
            if let Some(h) = req.headers().iter().find(|h| h.field.equiv("Authorization")) {
                s.tokens_seen.push(h.value.as_str().to_owned());
            }
            let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            let json_body = || serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
            let write = method != "GET";
            let (status, reply): (u16, Value) = if write && s.forbid_writes {
                (
                    403,
                    json!({"message": "Resource not accessible by integration", "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment", "status": "403"}),
                )
            } else {
                match (method.as_str(), parts.as_slice()) {
                    ("GET", ["repos", "o", "r", "issues", "7", "comments"]) => (200, page(&s.comments, &query)),
                    ("POST", ["repos", "o", "r", "issues", "7", "comments"]) => {
                        s.next_id += 1;
                        let c = comment(&b, s.next_id, json_body()["body"].as_str().unwrap(), "github-actions[bot]");
                        s.comments.push(c.clone());
                        (201, c)
                    }
                    ("PATCH", ["repos", "o", "r", "issues", "comments", id]) => {
                        let id: u64 = id.parse().unwrap();
                        let text = json_body()["body"].as_str().unwrap().to_owned();
                        match s.comments.iter_mut().find(|c| c["id"] == id) {
                            Some(c) => {
                                c["body"] = json!(text);
                                (200, c.clone())
                            }
                            None => (
                                404,
                                json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}),
                            ),
                        }
                    }
                    ("GET", ["repos", "o", "r", "commits", sha, "pulls"]) => (
                        200,
                        json!([
                            {"id": 1, "number": 7, "state": "open", "html_url": "https://github.com/o/r/pull/7", "head": {"sha": sha, "ref": "feature", "label": "o:feature"}, "base": {"sha": "b", "ref": "main", "label": "o:main"}},
                            {"id": 2, "number": 3, "state": "closed", "html_url": "https://github.com/o/r/pull/3", "head": {"sha": sha, "ref": "old", "label": "o:old"}, "base": {"sha": "b", "ref": "main", "label": "o:main"}}
                        ]),
                    ),
                    ("GET", ["repos", "o", "r", "releases", "tags", "v1"]) => (
                        200,
                        json!({"id": 1, "tag_name": "v1", "name": "v1", "draft": false, "prerelease": false,
                        "url": format!("{b}/repos/o/r/releases/1"), "html_url": "https://github.com/o/r/releases/tag/v1", "assets_url": format!("{b}/repos/o/r/releases/1/assets"),
                        "upload_url": format!("{b}/uploads/repos/o/r/releases/1/assets{{?name,label}}")}),
                    ),
                    ("GET", ["repos", "o", "r", "releases", "tags", _]) => (
                        404,
                        json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest/releases/releases#get-a-release-by-tag-name", "status": "404"}),
                    ),
                    ("GET", ["repos", "o", "r", "releases", "1", "assets"]) => (200, page(&s.assets, &query)),
                    ("DELETE", ["repos", "o", "r", "releases", "assets", id]) => {
                        let id: u64 = id.parse().unwrap();
                        s.assets.retain(|a| a["id"] != id);
                        (204, Value::Null)
                    }
                    ("POST", ["uploads", "repos", "o", "r", "releases", "1", "assets"]) => {
                        let name = query.split('&').find_map(|kv| kv.strip_prefix("name=")).unwrap().to_owned();
                        s.next_id += 1;
                        let a = json!({"id": s.next_id, "name": name, "label": "", "state": "uploaded", "content_type": "application/gzip", "size": body.len(),
                            "url": format!("{b}/repos/o/r/releases/assets/{}", s.next_id), "browser_download_url": format!("https://github.com/o/r/releases/download/v1/{name}")});
                        s.assets.push(a.clone());
                        (201, a)
                    }
                    _ => (404, json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})),
                }
            };
            let text = if reply.is_null() { String::new() } else { reply.to_string() };
            let resp = tiny_http::Response::from_string(text)
                .with_status_code(status)
                .with_header(tiny_http::Header::from_bytes("Content-Type", "application/json; charset=utf-8").unwrap());
            drop(s);
            let _ = req.respond(resp);
        }
    });
    Fake { base, state }
}
