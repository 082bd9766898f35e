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
