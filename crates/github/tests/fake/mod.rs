//! A loopback GitHub: the REST endpoints CapsuleBench uses, with GitHub's
//! documented response shapes, keeping what was written. Shared by the
//! client's tests and the end-to-end tests of the CLI.
//!
//! It keeps GitHub's unkind behaviour where CapsuleBench meets it: a
//! commit that exists only in a fork has no pull requests at
//! `commits/{sha}/pulls` (`[]`), `pulls?head=OWNER:BRANCH` is how a fork's
//! pull request is found, and a read-only token gets GitHub's 403. For
//! downloads, as GitHub does: a release asset's route answers its JSON
//! description unless `Accept: application/octet-stream` is asked; the
//! bytes, and an artifact's zip, are a `302` away on another host (the
//! storage, a second loopback server) that refuses any request carrying an
//! `Authorization` header, as signed storage URLs do; an artifact needs a
//! token (`401` without one) and an expired one answers `410`; run and
//! artifact lists are objects (`{"total_count", "workflow_runs"}`) paged
//! 100 at most.

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
    /// The pull requests (default: #7 from the fork `forker/r`, branch
    /// `feature`, head `abc123`, open; #3 from `o/r`, closed).
    pub pulls: Vec<Value>,
    /// The releases (default: `v1`, id 1, published).
    pub releases: Vec<Value>,
    /// The bytes of each release asset, by asset id.
    pub asset_bytes: std::collections::HashMap<u64, Vec<u8>>,
    /// The benchmark workflow's runs (`workflow_runs` items).
    pub runs: Vec<Value>,
    /// Artifacts (with `workflow_run.id`), and each one's zip.
    pub artifacts: Vec<(Value, Vec<u8>)>,
    /// Blobs the storage host serves, by path.
    pub blobs: std::collections::HashMap<String, Vec<u8>>,
    /// Requests the storage host refused for carrying a credential.
    pub storage_refusals: usize,
}

/// A release as the API lists it.
pub fn release(id: u64, tag: &str, draft: bool) -> Value {
    json!({"id": id, "tag_name": tag, "name": tag, "draft": draft, "prerelease": false,
           "html_url": format!("https://github.com/o/r/releases/tag/{tag}"), "assets": []})
}

/// A workflow run as the API lists it.
pub fn run(id: u64, event: &str, branch: &str, head_repo: &str) -> Value {
    json!({"id": id, "name": "CapsuleBench", "event": event, "status": "completed", "conclusion": "success",
           "head_branch": branch, "head_sha": format!("{id:040x}"), "path": ".github/workflows/capsulebench.yml",
           "run_attempt": 1, "head_repository": {"full_name": head_repo}, "repository": {"full_name": "o/r"}})
}

/// An artifact of run `run_id` as the API lists it.
pub fn artifact(id: u64, run_id: u64, name: &str, size: usize, expired: bool) -> Value {
    json!({"id": id, "node_id": format!("MDg6QXJ0aWZhY3Q{id}"), "name": name, "size_in_bytes": size,
           "archive_download_url": format!("https://api.github.com/repos/o/r/actions/artifacts/{id}/zip"),
           "expired": expired, "workflow_run": {"id": run_id, "head_branch": "main"}})
}

/// A zip archive of `files` (name, bytes), deflated, as upload-artifact
/// makes them.
pub fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write as _;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in files {
        w.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A pull request as the API returns it, from `head_repo` (`owner/name`).
pub fn pull(number: u64, state: &str, head_repo: &str, branch: &str, sha: &str) -> Value {
    let owner = head_repo.split('/').next().unwrap_or_default();
    json!({"id": number, "number": number, "state": state, "html_url": format!("https://github.com/o/r/pull/{number}"),
           "head": {"sha": sha, "ref": branch, "label": format!("{owner}:{branch}"),
                    "repo": {"full_name": head_repo, "owner": {"login": owner}, "fork": head_repo != "o/r"}},
           "base": {"sha": "b0b0b0b", "ref": "main", "label": "o:main", "repo": {"full_name": "o/r", "owner": {"login": "o"}}}})
}

/// The commit `GET /repos/{owner}/{repo}/commits/v1` names.
pub const V1_SHA: &str = "5c1e0a5e0b7f3a2d9c4e6f8a1b3c5d7e9f0a2b4c";

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

fn percent_decode(v: &str) -> Vec<u8> {
    let b = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1..i + 3)) {
            (b'%', Some(h)) => {
                out.push(u8::from_str_radix(std::str::from_utf8(h).unwrap_or("00"), 16).unwrap_or(0));
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

pub fn start() -> Fake {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let base = format!("http://{}", server.server_addr().to_ip().unwrap());
    let pulls = vec![pull(7, "open", "forker/r", "feature", "abc123"), pull(3, "closed", "o/r", "old", "abc123")];
    let releases = vec![release(1, "v1", false)];
    let state = Arc::new(Mutex::new(State { next_id: 1000, pulls, releases, ..State::default() }));
    let storage = storage(state.clone());
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
            let header = |name: &'static str| {
                req.headers().iter().find(|h| h.field.equiv(name)).map(|h| h.value.as_str().to_owned())
            };
            let authorized = header("Authorization").is_some_and(|v| v.len() > "Bearer ".len());
            let write = method != "GET";
            let param = |k: &str| {
                query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                    .map(|v| String::from_utf8(percent_decode(v)).unwrap_or_default())
            };
            // A redirect to the storage host, for the blob at `path`.
            let redirect = |s: &mut State, path: String, bytes: Vec<u8>| {
                let location = format!("{storage}{path}?sig=5e1f");
                s.blobs.insert(path, bytes);
                location
            };
            let mut location = None;
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
                    // Only pull requests whose head commit is in this
                    // repository: a fork's commit gets `[]`.
                    ("GET", ["repos", "o", "r", "commits", sha, "pulls"]) => {
                        let own: Vec<Value> = s
                            .pulls
                            .iter()
                            .filter(|p| p["head"]["sha"] == *sha && p["head"]["repo"]["full_name"] == "o/r")
                            .cloned()
                            .collect();
                        (200, page(&own, &query))
                    }
                    ("GET", ["repos", "o", "r", "pulls"]) => {
                        let state = param("state").unwrap_or_else(|| "open".to_owned());
                        let head = param("head");
                        let found: Vec<Value> = s
                            .pulls
                            .iter()
                            .filter(|p| state == "all" || p["state"] == state.as_str())
                            .filter(|p| head.as_ref().is_none_or(|h| p["head"]["label"] == h.as_str()))
                            .cloned()
                            .collect();
                        (200, page(&found, &query))
                    }
                    // A tag resolves to its commit; GitHub answers 422 for a
                    // reference that names none.
                    ("GET", ["repos", _, _, "commits", reference]) if !reference.is_empty() => {
                        if *reference == "v1" {
                            (200, json!({"sha": V1_SHA, "commit": {"message": "v1"}}))
                        } else {
                            (
                                422,
                                json!({"message": format!("No commit found for SHA: {reference}"), "documentation_url": "https://docs.github.com/rest/commits/commits#get-a-commit", "status": "422"}),
                            )
                        }
                    }
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
                    ("DELETE", ["repos", "o", "r", "releases", "assets", id]) => {
                        let id: u64 = id.parse().unwrap();
                        s.assets.retain(|a| a["id"] != id);
                        (204, Value::Null)
                    }
                    ("POST", ["uploads", "repos", "o", "r", "releases", "1", "assets"]) => {
                        let name = query.split('&').find_map(|kv| kv.strip_prefix("name=")).unwrap().to_owned();
                        s.next_id += 1;
                        let id = s.next_id;
                        s.asset_bytes.insert(id, body.clone());
                        let a = json!({"id": s.next_id, "release_id": 1, "name": name, "label": "", "state": "uploaded", "content_type": "application/gzip", "size": body.len(),
                            "url": format!("{b}/repos/o/r/releases/assets/{}", s.next_id), "browser_download_url": format!("https://github.com/o/r/releases/download/v1/{name}")});
                        s.assets.push(a.clone());
                        (201, a)
                    }
                    ("GET", ["repos", "o", "r", "releases"]) => {
                        let all = s.releases.clone();
                        (200, page(&all, &query))
                    }
                    ("GET", ["repos", "o", "r", "releases", id, "assets"]) => {
                        let id: u64 = id.parse().unwrap_or(0);
                        let of: Vec<Value> =
                            s.assets.iter().filter(|a| a["release_id"].as_u64().unwrap_or(1) == id).cloned().collect();
                        (200, page(&of, &query))
                    }
                    ("GET", ["repos", "o", "r", "releases", "assets", id]) => {
                        let id: u64 = id.parse().unwrap_or(0);
                        let meta = s.assets.iter().find(|a| a["id"] == id).cloned();
                        match meta {
                            None => (
                                404,
                                json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest/releases/assets#get-a-release-asset"}),
                            ),
                            Some(m) if header("Accept").as_deref() != Some("application/octet-stream") => (200, m),
                            Some(_) => {
                                let bytes = s.asset_bytes.get(&id).cloned().unwrap_or_default();
                                location = Some(redirect(&mut s, format!("/assets/{id}"), bytes));
                                (302, Value::Null)
                            }
                        }
                    }
                    ("GET", ["repos", "o", "r", "actions", "workflows", "capsulebench.yml", "runs"]) => {
                        let runs: Vec<Value> = s
                            .runs
                            .iter()
                            .filter(|r| param("branch").is_none_or(|b| r["head_branch"] == b.as_str()))
                            .filter(|r| param("event").is_none_or(|e| r["event"] == e.as_str()))
                            .filter(|r| param("status").is_none_or(|e| r["status"] == e.as_str()))
                            .cloned()
                            .collect();
                        (200, json!({"total_count": runs.len(), "workflow_runs": page(&runs, &query)}))
                    }
                    ("GET", ["repos", "o", "r", "actions", "workflows", _, "runs"]) => (
                        404,
                        json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest/actions/workflow-runs#list-workflow-runs-for-a-workflow"}),
                    ),
                    ("GET", ["repos", "o", "r", "actions", "runs", id, "artifacts"]) => {
                        let id: u64 = id.parse().unwrap_or(0);
                        let of: Vec<Value> = s
                            .artifacts
                            .iter()
                            .filter(|(a, _)| a["workflow_run"]["id"] == id)
                            .map(|(a, _)| a.clone())
                            .collect();
                        (200, json!({"total_count": of.len(), "artifacts": page(&of, &query)}))
                    }
                    ("GET", ["repos", "o", "r", "actions", "artifacts", id, "zip"]) => {
                        let id: u64 = id.parse().unwrap_or(0);
                        let found = s.artifacts.iter().find(|(a, _)| a["id"] == id).cloned();
                        match found {
                            _ if !authorized => (
                                401,
                                json!({"message": "Requires authentication", "documentation_url": "https://docs.github.com/rest"}),
                            ),
                            None => (
                                404,
                                json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}),
                            ),
                            Some((a, _)) if a["expired"] == true => (
                                410,
                                json!({"message": "Artifact has expired", "documentation_url": "https://docs.github.com/rest/actions/artifacts#download-an-artifact"}),
                            ),
                            Some((_, zip)) => {
                                location = Some(redirect(&mut s, format!("/artifacts/{id}.zip"), zip));
                                (302, Value::Null)
                            }
                        }
                    }
                    _ => (404, json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})),
                }
            };
            let text = if reply.is_null() { String::new() } else { reply.to_string() };
            let mut resp = tiny_http::Response::from_string(text)
                .with_status_code(status)
                .with_header(tiny_http::Header::from_bytes("Content-Type", "application/json; charset=utf-8").unwrap());
            if let Some(l) = location {
                resp.add_header(tiny_http::Header::from_bytes("Location", l).unwrap());
            }
            drop(s);
            let _ = req.respond(resp);
        }
    });
    Fake { base, state }
}

/// The storage host downloads are redirected to: serves the blobs by path
/// with a signature in the query, and, as signed storage URLs do, refuses
/// a request that also carries an `Authorization` header (`400`).
fn storage(state: Arc<Mutex<State>>) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let base = format!("http://{}", server.server_addr().to_ip().unwrap());
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            let (path, query) = req.url().split_once('?').unwrap_or((req.url(), ""));
            let mut s = state.lock().unwrap();
            let resp = if req.headers().iter().any(|h| h.field.equiv("Authorization")) {
                s.storage_refusals += 1;
                tiny_http::Response::from_string(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified</Message></Error>",
                )
                .with_status_code(400)
            } else {
                match s.blobs.get(path) {
                    Some(bytes) if query == "sig=5e1f" => tiny_http::Response::from_data(bytes.clone()),
                    _ => tiny_http::Response::from_string("<Error><Code>AccessDenied</Code></Error>")
                        .with_status_code(403),
                }
            };
            drop(s);
            let _ = req.respond(resp);
        }
    });
    base
}
