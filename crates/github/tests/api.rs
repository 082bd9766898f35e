//! The client against a loopback server that implements the REST endpoints
//! it uses with GitHub's documented response shapes: comments created then
//! updated in place (found by marker *and* author, across pages), oversized
//! bodies folded, release assets replaced not duplicated, a fork's 403
//! explained, a fork's pull request found by its head branch.

#![expect(clippy::unwrap_used, reason = "a test fails loudly")]

use capsule_github::{COMMENT_LIMIT, Github, GithubError, MARKER, Repo};

mod fake;

use fake::{comment, start};

fn repo() -> Repo {
    "o/r".parse().unwrap()
}

#[test]
fn one_comment_per_pull_request_updated_in_place() {
    let fake = start();
    {
        // 120 comments by others, one of them carrying the marker: ours is
        // found only by marker and author, and only on page 2.
        let mut s = fake.state.lock().unwrap();
        for i in 0..120 {
            let body = if i == 5 { format!("{MARKER}\nnot ours") } else { format!("comment {i}") };
            let c = comment(&fake.base, i, &body, if i % 2 == 0 { "alice" } else { "mallory" });
            s.comments.push(c);
        }
    }
    let gh = Github::new(&fake.base, "t0ken").unwrap();
    let first = gh
        .upsert_comment(&repo(), 7, "| w | base | head |\n|---|---|---|\n| a | 1 | 2 |\n", "github-actions[bot]")
        .unwrap();
    assert!(!first.updated);
    let second = gh
        .upsert_comment(&repo(), 7, "| w | base | head |\n|---|---|---|\n| a | 1 | 3 |\n", "github-actions[bot]")
        .unwrap();
    assert!(second.updated);
    assert_eq!(first.id, second.id);
    let s = fake.state.lock().unwrap();
    assert_eq!(s.comments.len(), 121, "created once, then updated");
    let ours = s.comments.iter().find(|c| c["id"] == first.id).unwrap();
    assert!(ours["body"].as_str().unwrap().starts_with(MARKER));
    assert!(ours["body"].as_str().unwrap().contains("| a | 1 | 3 |"));
    assert!(
        s.comments[5]["body"].as_str().unwrap().ends_with("not ours"),
        "another author's marked comment is left alone"
    );
    assert!(s.tokens_seen.iter().all(|t| t.contains("t0ken")), "{:?}", s.tokens_seen);
    assert!(s.requests.iter().any(|r| r == "GET /repos/o/r/issues/7/comments"));
}

#[test]
fn oversized_comparisons_are_folded_under_the_limit() {
    let fake = start();
    let gh = Github::new(&fake.base, "t").unwrap();
    let table: String = (0..100).map(|i| format!("| w{i} | 1 | 2 |\n")).collect();
    let detail: String = (0..10_000).map(|i| format!("- workload w{i}: verified at policy\n")).collect();
    gh.upsert_comment(&repo(), 7, &format!("| w | b | h |\n|---|---|---|\n{table}\n{detail}"), "github-actions[bot]")
        .unwrap();
    let s = fake.state.lock().unwrap();
    let body = s.comments[0]["body"].as_str().unwrap();
    assert!(body.chars().count() <= COMMENT_LIMIT);
    assert!(body.contains("<details>") && body.contains("was cut here"));
}

#[test]
fn release_assets_are_replaced_not_duplicated() {
    let fake = start();
    let gh = Github::new(&fake.base, "t").unwrap();
    let a = gh.replace_release_asset(&repo(), "v1", "capsulepack.tgz", vec![1, 2, 3]).unwrap();
    assert!(!a.replaced);
    let b = gh.replace_release_asset(&repo(), "v1", "capsulepack.tgz", vec![4, 5]).unwrap();
    assert!(b.replaced);
    gh.replace_release_asset(&repo(), "v1", "other.tgz", vec![6]).unwrap();
    let s = fake.state.lock().unwrap();
    let names: Vec<&str> = s.assets.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["capsulepack.tgz", "other.tgz"]);
    assert_eq!(s.assets[0]["size"], 2);
    drop(s);
    let e = gh.replace_release_asset(&repo(), "v9", "x.tgz", vec![]).unwrap_err();
    assert!(matches!(e, GithubError::NoRelease { .. }), "{e}");
}

#[test]
fn a_forks_read_only_token_is_explained() {
    let fake = start();
    fake.state.lock().unwrap().forbid_writes = true;
    let gh = Github::new(&fake.base, "t").unwrap();
    let e = gh.upsert_comment(&repo(), 7, "x", "github-actions[bot]").unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, GithubError::Api { status: 403, .. }), "{text}");
    assert!(
        text.contains("Resource not accessible by integration")
            && text.contains("fork")
            && text.contains("workflow_run"),
        "{text}"
    );
}

/// A fork's commit has no pull requests at `commits/{sha}/pulls` (GitHub
/// answers `[]`); by its head branch it is found, and only while its head
/// is still the run's commit.
#[test]
fn a_forks_pull_request_is_found_by_its_head_branch() {
    let fake = start();
    let gh = Github::new(&fake.base, "t").unwrap();
    let by_commit: Vec<serde_json::Value> = raw_get(&format!("{}/repos/o/r/commits/abc123/pulls", fake.base));
    assert!(
        by_commit.iter().all(|p| p["number"] != 7),
        "the fake answers as GitHub does: a fork's commit has no pull request by commit"
    );
    let prs = gh.pull_requests_for_head(&repo(), "forker", "feature", "abc123").unwrap();
    assert_eq!(prs.iter().map(|p| p.number).collect::<Vec<_>>(), [7]);
    assert_eq!(prs[0].head.branch, "feature");
    // Another owner's branch of the same name, or a head that moved on.
    assert!(gh.pull_requests_for_head(&repo(), "o", "feature", "abc123").unwrap().is_empty());
    assert!(gh.pull_requests_for_head(&repo(), "forker", "feature", "def456").unwrap().is_empty());
    // Branch names are sent encoded: `a/b#c` reaches GitHub as one value.
    fake.state.lock().unwrap().pulls.push(fake::pull(9, "open", "forker/r", "a/b#c&d", "fff"));
    let prs = gh.pull_requests_for_head(&repo(), "forker", "a/b#c&d", "fff").unwrap();
    assert_eq!(prs.iter().map(|p| p.number).collect::<Vec<_>>(), [9]);
}

fn raw_get(url: &str) -> Vec<serde_json::Value> {
    let (host, path) = url.trim_start_matches("http://").split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    use std::io::{Read as _, Write as _};
    write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    serde_json::from_str(text.split_once("\r\n\r\n").unwrap().1).unwrap()
}
