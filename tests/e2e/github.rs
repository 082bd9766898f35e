//! `cargo capsule github comment` and `submit` against a loopback GitHub
//! (`GITHUB_API_URL`): a first run creates the comment, a second updates
//! it; a release asset is replaced, not duplicated; a fork's read-only
//! token gives a clear message and exit 7. No test reaches the internet.

use std::process::Output;

#[path = "../../crates/github/tests/fake/mod.rs"]
mod fake;

use super::{GOLDEN, bin, root, stdout};

fn gh(base: &str, args: &[&str]) -> Output {
    bin()
        .args(args)
        .env("GITHUB_API_URL", base)
        .env("GITHUB_TOKEN", "e2e-token")
        .env("GITHUB_REPOSITORY", "o/r")
        .env_remove("GITHUB_EVENT_PATH")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn comment_created_then_updated_and_assets_replaced() {
    let f = fake::start();
    let args = ["github", "comment", "--base", GOLDEN, "--head", GOLDEN, "--pr", "7"];
    let o = gh(&f.base, &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("created https://github.com/o/r/pull/7#issuecomment-"), "{}", stdout(&o));
    let o = gh(&f.base, &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("updated "), "{}", stdout(&o));
    {
        let s = f.state.lock().unwrap();
        assert_eq!(s.comments.len(), 1);
        let body = s.comments[0]["body"].as_str().unwrap();
        assert!(body.starts_with(capsule_github_marker()), "{body}");
        assert!(body.contains("verified at `integrity + policy`"), "{body}");
    }
    // The dry run prints what would be posted, and touches nothing.
    let o = gh("http://127.0.0.1:9", &[&args[..], &["--dry-run"]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("unsigned"), "{}", stdout(&o));

    let pack = root().join(GOLDEN);
    let pack = pack.to_str().unwrap();
    for expected in ["attached sample.tgz on release v1", "replaced sample.tgz on release v1"] {
        let o = gh(&f.base, &["submit", pack, "--release", "v1"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(stdout(&o).starts_with(expected), "{}", stdout(&o));
    }
    assert_eq!(f.state.lock().unwrap().assets.len(), 1);
    // A hostile file is never uploaded.
    let hostile = root().join("fixtures/hostile/dotdot.tgz");
    let o = gh(&f.base, &["submit", hostile.to_str().unwrap(), "--release", "v1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(f.state.lock().unwrap().assets.len(), 1);
}

fn capsule_github_marker() -> &'static str {
    "<!-- capsulebench:comment v1 -->"
}

#[test]
fn a_read_only_token_is_refused_clearly() {
    let f = fake::start();
    f.state.lock().unwrap().forbid_writes = true;
    let o = gh(&f.base, &["github", "comment", "--base", GOLDEN, "--head", GOLDEN, "--pr", "7"]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("403") && e.contains("fork") && e.contains("workflow_run"), "{e}");
    let o = gh(&f.base, &["github", "comment", "--base", GOLDEN, "--head", GOLDEN]);
    assert_eq!(o.status.code(), Some(2), "no pull request to comment on: {}", stderr(&o));
}

/// `action/run.sh` as the Action runs it: inputs in the environment,
/// `cargo-capsule` on `PATH`, GitHub at a loopback address.
fn action(ws: &std::path::Path, api: &str, vars: &[(&str, &str)]) -> Output {
    let dir = ws.parent().unwrap();
    let (event, summary, outputs) = (dir.join("event.json"), dir.join("summary.md"), dir.join("outputs.txt"));
    std::fs::write(&event, r#"{"pull_request": {"number": 7}}"#).unwrap();
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_cargo-capsule")).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut c = std::process::Command::new("bash");
    c.arg(root().join("action/run.sh"))
        .current_dir(ws)
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env("GITHUB_API_URL", api)
        .env("GITHUB_TOKEN", "action-token")
        .env("GITHUB_REPOSITORY", "o/r")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &outputs)
        .env("EVENT_NAME", "pull_request")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
    for (k, v) in vars {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn the_action_scripts_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = super::bench::echo_workspace(tmp.path());
    std::fs::write(ws.join("src/lib.rs"), "// head\n").unwrap();
    super::bench::git(&ws, &["commit", "-qam", "the head of the pull request"]);
    let f = fake::start();
    let run = |vars: &[(&str, &str)]| {
        let o = action(&ws, &f.base, vars);
        let text = format!("{}{}", stdout(&o), stderr(&o));
        (o.status.code(), text)
    };
    let bench = [
        ("MODE", "bench"),
        ("BASELINE_REF", "HEAD~1"),
        ("COMMENT", "true"),
        ("UPLOAD_RELEASE", "v1"),
        ("SIGN", "none"),
    ];
    let (code, text) = run(&bench);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("created https://github.com/o/r/pull/7#issuecomment-"), "{text}");
    let (code, text) = run(&bench);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("updated "), "{text}");
    {
        let s = f.state.lock().unwrap();
        assert_eq!(s.comments.len(), 1, "one comment, updated in place");
        let names: Vec<&str> = s.assets.iter().map(|a| a["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["capsulepack-base.tgz", "capsulepack.tgz"], "replaced, not duplicated");
    }
    let outputs = std::fs::read_to_string(tmp.path().join("outputs.txt")).unwrap();
    assert!(outputs.contains("verdict=verified") && outputs.contains("comment-url=https://"), "{outputs}");
    let summary = std::fs::read_to_string(tmp.path().join("summary.md")).unwrap();
    assert!(summary.contains("verified at `policy`"), "{summary}");

    // The workflow_run side: verify the downloaded packs, find the PR by
    // the head commit through the API, update the same comment.
    let (code, text) = run(&[("MODE", "comment"), ("HEAD_SHA", "abc123"), ("COMMENT", "true")]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("updated "), "{text}");
    assert_eq!(f.state.lock().unwrap().comments.len(), 1);

    // A fork's read-only token: a clear annotation and a non-zero exit.
    f.state.lock().unwrap().forbid_writes = true;
    let (code, text) = run(&[("MODE", "comment"), ("HEAD_SHA", "abc123"), ("COMMENT", "true")]);
    assert_ne!(code, Some(0), "{text}");
    assert!(text.contains("::error title=CapsuleBench::commenting failed") && text.contains("fork"), "{text}");
    f.state.lock().unwrap().forbid_writes = false;
    // Keyless signing never runs in the bench job.
    let (code, text) = run(&[("MODE", "bench"), ("SIGN", "sigstore")]);
    assert_ne!(code, Some(0));
    assert!(text.contains("only in `mode: sign`"), "{text}");

    // The signing job: verifies, then signs what the bench job uploaded;
    // with a repository key here (keyless signing is tested up to its
    // services in `keyless.rs`; here, up to the token request).
    let keygen = super::bin().current_dir(tmp.path()).args(["keygen", "--out", "ci"]).output().unwrap();
    assert_eq!(keygen.status.code(), Some(0), "{}", stderr(&keygen));
    let key = std::fs::read_to_string(tmp.path().join("ci.key")).unwrap();
    let (code, text) = run(&[("MODE", "sign"), ("SIGN", "key"), ("SIGNING_KEY", &key)]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("signed capsule") && !text.contains(key.trim()), "{text}");
    let report =
        super::bin().current_dir(&ws).args(["verify", "capsulepacks/capsulepack.tgz", "--json"]).output().unwrap();
    assert_eq!(super::json(&report)["signed"], "signed-unpinned", "{}", stdout(&report));
    let keyless = [("MODE", "sign"), ("SIGN", "sigstore"), ("GITHUB_ACTIONS", "true")];
    let (code, text) = run(&[&keyless[..], &[("GITHUB_EVENT_NAME", "pull_request")]].concat());
    assert_ne!(code, Some(0), "{text}");
    assert!(text.contains("never signed") && text.contains("::error title=CapsuleBench::keyless signing"), "{text}");
    let (code, text) = run(&[&keyless[..], &[("GITHUB_EVENT_NAME", "push")]].concat());
    assert_ne!(code, Some(0), "{text}");
    assert!(text.contains("add `id-token: write`"), "{text}");

    // The release job attaches the (signed) packs, replacing same-named assets.
    let (code, text) = run(&[("MODE", "publish"), ("UPLOAD_RELEASE", "v1")]);
    assert_eq!(code, Some(0), "{text}");
    let s = f.state.lock().unwrap();
    let names: Vec<&str> = s.assets.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["capsulepack-base.tgz", "capsulepack.tgz"], "replaced, not duplicated");
}

/// With several workloads the comment opens with one summary row each.
#[test]
fn a_comment_on_several_workloads_opens_with_a_summary() {
    let o = bin()
        .args(["github", "comment", "--dry-run", "--pr", "7", "--repo", "o/r"])
        .args(["--base", GOLDEN, "--head", GOLDEN, "--base", GOLDEN, "--head", GOLDEN])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    insta::assert_snapshot!("comment_several_workloads", stdout(&o));
}

/// Eighty workloads' comparisons (about 1.2 KB each) do not fit one
/// comment: the action's comment job folds them under GitHub's limit.
#[test]
fn the_action_folds_an_oversized_comparison() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    let packs = ws.join("capsulepacks");
    std::fs::create_dir_all(&packs).unwrap();
    for i in 0..80 {
        for name in [format!("w{i:02}.tgz"), format!("w{i:02}-base.tgz")] {
            std::fs::copy(root().join(GOLDEN), packs.join(name)).unwrap();
        }
    }
    let f = fake::start();
    let o = action(&ws, &f.base, &[("MODE", "comment"), ("HEAD_SHA", "abc123"), ("COMMENT", "true")]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let s = f.state.lock().unwrap();
    let body = s.comments[0]["body"].as_str().unwrap();
    assert!(body.chars().count() <= capsule_github::COMMENT_LIMIT, "{} characters", body.chars().count());
    assert!(body.contains("<details>") && body.contains("was cut here"), "{body}");
    let summary_rows =
        body.lines().filter(|l| l.starts_with("| sample\\_xorshift\\_v1 | baseline\\_no\\_accel | wall\\_ns |"));
    assert_eq!(summary_rows.count(), 80, "every workload keeps its row in the summary: {body}");
    assert!(body.starts_with(&format!("{}\n### CapsuleBench: 80 workloads:", capsule_github::MARKER)), "{body}");
}

#[test]
fn init_writes_the_fork_safe_workflows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let o = bin().args(["init", "--dir", dir]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let wf = tmp.path().join(".github/workflows");
    for name in ["capsulebench.yml", "capsulebench-comment.yml"] {
        insta::assert_snapshot!(format!("init_{name}"), std::fs::read_to_string(wf.join(name)).unwrap());
    }
    // Pinned by commit: the Action itself too, when given one.
    let o = bin()
        .args(["init", "--dir", dir, "--action", &format!("capsulebench/action@{}", "a".repeat(40)), "--force"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let pinned = std::fs::read_to_string(wf.join("capsulebench.yml")).unwrap();
    assert!(pinned.contains(&format!("capsulebench/action@{}\n", "a".repeat(40))) && !pinned.contains("unpinned-uses"));
    // An edited file is shown as a diff and left alone without --force.
    let edited = pinned.replace("branches: [main]", "branches: [main, next]");
    std::fs::write(wf.join("capsulebench.yml"), &edited).unwrap();
    let o = bin().args(["init", "--dir", dir]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    insta::assert_snapshot!("init_differs", stdout(&o).replace(dir, "[DIR]"));
    assert_eq!(std::fs::read_to_string(wf.join("capsulebench.yml")).unwrap(), edited);
}
