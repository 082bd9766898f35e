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

fn collect_options(max_pack_bytes: u64, max_total_bytes: u64) -> capsule_github::collect::CollectOptions {
    capsule_github::collect::CollectOptions {
        releases: true,
        workflow: Some("capsulebench.yml".to_owned()),
        branch: "main".to_owned(),
        artifacts: vec!["capsulepacks-signed".to_owned(), "capsulepacks".to_owned()],
        max_runs: 200,
        max_pack_bytes,
        max_total_bytes,
    }
}

/// The board's packs: release assets (drafts and non-packs left out) and
/// the artifacts of pushes to `main` of this repository only (a fork's
/// pull request from its own `main`, and another branch's push, are not
/// taken), across pages of runs; an archive's entries become files only
/// as plain top-level `.tgz` names; the credential never reaches the
/// storage host; expired artifacts and the limits are reported, not
/// fatal; a directory that holds files is refused untouched.
#[test]
fn packs_are_collected_from_releases_and_pushes_of_the_branch_only() {
    use fake::{artifact, release, run, zip_of};
    use serde_json::json;
    let fake = start();
    {
        let mut s = fake.state.lock().unwrap();
        s.releases.push(release(2, "v2-draft", true));
        for (id, rel, name) in [(50, 1, "w.tgz"), (51, 1, "SHA256SUMS"), (52, 2, "draft.tgz")] {
            let bytes = format!("bytes of {name}").into_bytes();
            s.assets.push(json!({"id": id, "release_id": rel, "name": name, "state": "uploaded", "size": bytes.len()}));
            s.asset_bytes.insert(id, bytes);
        }
        // 105 pushes to main (two pages), newest first as the API lists
        // them; then a fork's pull request from its `main`, and a push to
        // another branch.
        for i in 0..105 {
            s.runs.push(run(1000 - i, "push", "main", "o/r"));
        }
        s.runs.push(run(5000, "pull_request", "main", "forker/r"));
        s.runs.push(run(5001, "push", "dev", "o/r"));
        let signed = zip_of(&[
            ("a.tgz", b"pack a"),
            ("../evil.tgz", b"outside"),
            ("notes.txt", b"not a pack"),
            ("sub/b.tgz", b"nested"),
        ]);
        s.artifacts.push((artifact(1, 1000, "capsulepacks-signed", signed.len(), false), signed));
        let plain = zip_of(&[("c.tgz", b"pack c")]);
        s.artifacts.push((artifact(2, 1000, "capsulepacks", plain.len(), false), plain));
        s.artifacts.push((artifact(3, 999, "capsulepacks-signed", 10, true), Vec::new()));
        s.artifacts.push((artifact(4, 996, "other", 10, false), zip_of(&[("x.tgz", b"x")])));
        // The last page's run: its packs are taken too.
        let last = zip_of(&[("d.tgz", b"pack d")]);
        s.artifacts.push((artifact(5, 896, "capsulepacks", last.len(), false), last));
        for run in [5000, 5001] {
            let z = zip_of(&[("forged.tgz", b"forged")]);
            s.artifacts.push((artifact(run + 100, run, "capsulepacks-signed", z.len(), false), z));
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("packs");
    let gh = Github::new(&fake.base, "t0ken").unwrap();
    let c = gh.collect_packs(&repo(), &collect_options(1 << 20, 1 << 30), &out).unwrap();
    let read = |p: &str| std::fs::read(out.join(p)).unwrap_or_default();
    assert_eq!(read("release-1/w.tgz"), b"bytes of w.tgz");
    assert_eq!(read("run-1000/capsulepacks-signed/a.tgz"), b"pack a");
    assert_eq!(read("run-1000/capsulepacks/c.tgz"), b"pack c");
    assert_eq!(read("run-896/capsulepacks/d.tgz"), b"pack d");
    let mut files: Vec<String> = walk(&out);
    files.sort();
    assert_eq!(
        files,
        [
            "release-1/w.tgz",
            "run-1000/capsulepacks-signed/a.tgz",
            "run-1000/capsulepacks/c.tgz",
            "run-896/capsulepacks/d.tgz"
        ]
    );
    assert_eq!((c.packs, c.releases, c.runs, c.artifacts), (4, 1, 105, 3), "{c:?}");
    for why in
        ["`../evil.tgz` is not a pack", "`notes.txt` is not a pack", "`sub/b.tgz` is not a pack", "run 999: expired"]
    {
        assert!(c.skipped.iter().any(|s| s.contains(why)), "{why}: {:?}", c.skipped);
    }
    let s = fake.state.lock().unwrap();
    assert_eq!(s.storage_refusals, 0, "the token went to the storage host");
    assert!(
        !s.requests.iter().any(|r| r.contains("/artifacts/5100/") || r.contains("/artifacts/5101/")),
        "{:?}",
        s.requests
    );
    assert!(s.requests.iter().any(|r| r.contains("/actions/workflows/capsulebench.yml/runs")));
    drop(s);

    // The same directory again: refused, nothing touched.
    let again = gh.collect_packs(&repo(), &collect_options(1 << 20, 1 << 30), &out);
    assert!(matches!(again, Err(GithubError::NotEmpty(_))), "{again:?}");
    assert_eq!(walk(&out).len(), 4);

    // Limits: a pack over the per-pack limit, and packs beyond the total,
    // are left out, saying so.
    let small = tmp.path().join("small");
    let c = gh.collect_packs(&repo(), &collect_options(8, 1 << 30), &small).unwrap();
    assert!(
        c.skipped.iter().any(|s| s.contains("release `v1` asset `w.tgz`: 14 bytes, over the 8")),
        "{:?}",
        c.skipped
    );
    assert_eq!(c.packs, 3, "{c:?}");
    let total = tmp.path().join("total");
    let c = gh.collect_packs(&repo(), &collect_options(1 << 20, 200), &total).unwrap();
    assert!(c.skipped.iter().any(|s| s.contains("older packs are left out")), "{:?}", c.skipped);
    assert!(c.bytes <= 200, "{c:?}");

    // Without a token, artifacts are refused as GitHub refuses them.
    let anonymous = Github::new(&fake.base, "").unwrap();
    let e = anonymous.collect_packs(&repo(), &collect_options(1 << 20, 1 << 30), &tmp.path().join("anon")).unwrap_err();
    assert!(matches!(e, GithubError::Api { status: 401, .. }), "{e}");
}

/// The files under `dir`, as `/`-separated relative paths.
fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out
}
