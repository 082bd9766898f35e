//! `cargo capsule github comment` and `submit`, and the Action's scripts,
//! against a loopback GitHub (`GITHUB_API_URL`) that answers as GitHub
//! does (a fork's commit has no pull requests by commit): a first run
//! creates the comment, a second updates it; a failed run marks it stale;
//! packs from elsewhere are refused; a release asset is replaced, not
//! duplicated; a fork's read-only token gives a clear message and exit 7.
//! No test reaches the internet.

use std::process::Output;

#[path = "../../crates/github/tests/fake/mod.rs"]
pub(super) mod fake;

use super::{GOLDEN, bin, root, stdout};

fn gh(base: &str, args: &[&str]) -> Output {
    bin()
        .args(args)
        .env("GITHUB_API_URL", base)
        .env("GITHUB_TOKEN", "e2e-token")
        .env("GITHUB_REPOSITORY", "o/r")
        .env_remove("GITHUB_EVENT_PATH")
        .env_remove("GITHUB_RUN_ID")
        .env_remove("GITHUB_SERVER_URL")
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

/// Runs `action/run.sh` as `action.yml` does.
fn action(ws: &std::path::Path, api: &str, vars: &[(&str, &str)]) -> Output {
    script(ws, api, "run.sh", vars)
}

/// Runs one of the Action's scripts in `ws` with `GITHUB_*` set as in a
/// pull request's run, the built binary on `PATH`, and `vars` on top.
pub(super) fn script(ws: &std::path::Path, api: &str, name: &str, vars: &[(&str, &str)]) -> Output {
    script_in(&root(), ws, api, name, vars)
}

/// [`script`] with the Action at `action_root` (a copy with another
/// `dist.json`, for the install tests).
pub(super) fn script_in(
    action_root: &std::path::Path,
    ws: &std::path::Path,
    api: &str,
    name: &str,
    vars: &[(&str, &str)],
) -> Output {
    let dir = ws.parent().unwrap();
    let (event, summary, outputs) = (dir.join("event.json"), dir.join("summary.md"), dir.join("outputs.txt"));
    if !event.exists() {
        std::fs::write(&event, r#"{"pull_request": {"number": 7}}"#).unwrap();
    }
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_cargo-capsule")).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut c = std::process::Command::new("bash");
    c.arg(action_root.join("action").join(name))
        .current_dir(ws)
        .env("GITHUB_ACTION_PATH", action_root)
        .env("RUNNER_TEMP", dir.join("runner-temp"))
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
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_RUN_ID")
        .env_remove("GITHUB_RUN_ATTEMPT")
        .env_remove("GITHUB_SERVER_URL")
        .env_remove("GITHUB_SHA")
        .env_remove("GITHUB_WORKFLOW_REF")
        .env_remove("GITHUB_REPOSITORY_ID")
        .env_remove("RUNNER_ENVIRONMENT")
        .env_remove("SIGNING_KEY")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
    for (k, v) in vars {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// The last value of output `name` in a `$GITHUB_OUTPUT` file (heredoc
/// form).
pub(super) fn last_output(outputs: &str, name: &str) -> Option<String> {
    let mut found = None;
    let mut lines = outputs.lines();
    while let Some(l) = lines.next() {
        if let Some(delim) = l.strip_prefix(&format!("{name}<<")) {
            let value: Vec<&str> = lines.by_ref().take_while(|v| *v != delim).collect();
            found = Some(value.join("\n"));
        }
    }
    found
}

/// The SHA-256 of a file, streamed.
pub(super) fn file_sha256(path: &std::path::Path) -> String {
    let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
    std::io::copy(&mut std::fs::File::open(path).unwrap(), &mut hasher).unwrap();
    hex::encode(sha2::Digest::finalize(hasher))
}

/// What a `workflow_run` payload says of the run that triggered it.
fn workflow_run_event(dir: &std::path::Path, run_id: u64, head_sha: &str, conclusion: &str) {
    let event = serde_json::json!({"workflow_run": {
        "id": run_id, "run_attempt": 1, "event": "pull_request", "conclusion": conclusion,
        "html_url": format!("https://github.com/o/r/actions/runs/{run_id}"),
        "head_sha": head_sha, "head_branch": "feature",
        "head_repository": {"full_name": "forker/r", "owner": {"login": "forker"}},
        "repository": {"full_name": "o/r", "owner": {"login": "o"}}
    }});
    std::fs::write(dir.join("event.json"), event.to_string()).unwrap();
}

/// The pull request's bench job (in "GitHub Actions", run 4242), then the
/// `workflow_run` job that comments: a fork's pull request is found by its
/// head branch, packs from another run or commit are refused, a run that
/// failed marks the comment stale, and a signing key or OIDC right in the
/// bench job is refused outright.
#[test]
fn the_action_scripts_end_to_end() {
    let _measuring = super::measuring();
    let tmp = tempfile::tempdir().unwrap();
    let ws = super::bench::echo_workspace(tmp.path());
    // Two workloads: the bench step runs both, one pack each. The pull
    // request makes the second one slower (its script sleeps 10 ms).
    let manifest = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    let second =
        "\n[[workspace.metadata.capsule.workloads]]\nkind = \"command\"\nid = \"seven\"\nargs = ['sh', 'seven.sh']\n";
    std::fs::write(ws.join("Cargo.toml"), manifest + second).unwrap();
    std::fs::write(ws.join("seven.sh"), "echo 7\n").unwrap();
    super::bench::git(&ws, &["add", "seven.sh"]);
    super::bench::git(&ws, &["commit", "-qam", "a second workload"]);
    let head_commit = |ws: &std::path::Path| {
        let o = std::process::Command::new("git").args(["rev-parse", "HEAD"]).current_dir(ws).output().unwrap();
        String::from_utf8(o.stdout).unwrap().trim().to_owned()
    };
    let base_sha = head_commit(&ws);
    std::fs::write(ws.join("src/lib.rs"), "// head\n").unwrap();
    std::fs::write(ws.join("seven.sh"), "sleep 0.01\necho 7\n").unwrap();
    super::bench::git(&ws, &["commit", "-qam", "the head of the pull request"]);
    let head_sha = head_commit(&ws);
    let f = fake::start();
    f.state.lock().unwrap().pulls = vec![fake::pull(7, "open", "forker/r", "feature", &head_sha)];
    let run = |vars: &[(&str, &str)]| {
        let o = action(&ws, &f.base, vars);
        let text = format!("{}{}", stdout(&o), stderr(&o));
        (o.status.code(), text)
    };
    let in_actions = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_RUN_ID", "4242"),
        ("GITHUB_RUN_ATTEMPT", "1"),
        ("GITHUB_SHA", head_sha.as_str()),
        ("RUNNER_ENVIRONMENT", "github-hosted"),
    ];
    // The job is the boundary: a key or the right to mint a certificate
    // in the bench job is refused before anything runs.
    for (var, value, why) in [
        ("SIGNING_KEY", "a secret", "mode bench refuses signing-key"),
        ("ACTIONS_ID_TOKEN_REQUEST_URL", "http://127.0.0.1:9/token", "refuses a job that can request an OIDC token"),
        ("UPLOAD_RELEASE", "v1", "upload-release runs only in `mode: publish`"),
        ("SIGN", "sigstore", "sign: sigstore runs only in `mode: sign`"),
    ] {
        let (code, text) = run(&[("MODE", "bench"), (var, value)]);
        assert_eq!(code, Some(1), "{var}: {text}");
        assert!(text.contains(why), "{var}: {text}");
    }
    assert!(!ws.join("capsulepacks").exists(), "nothing ran");
    // A shallow clone cannot pair with the pull request's base: the error
    // names the fix.
    let shallow = tmp.path().join("shallow");
    let o = std::process::Command::new("git")
        .args(["clone", "-q", "--depth", "1", &format!("file://{}", ws.display()), shallow.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = action(&shallow, &f.base, &[("MODE", "bench"), ("PR_BASE_SHA", &base_sha)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("set `fetch-depth: 0` on actions/checkout"), "{}", stdout(&o));

    // The bench job: paired with the merge base of the pull request's base,
    // the comparison in the job summary, no comment (the default), so a
    // fork's read-only token is enough.
    let bench = [&in_actions[..], &[("MODE", "bench"), ("PR_BASE_SHA", base_sha.as_str())]].concat();
    f.state.lock().unwrap().forbid_writes = true;
    let (code, text) = run(&bench);
    assert_eq!(code, Some(0), "{text}");
    f.state.lock().unwrap().forbid_writes = false;
    assert!(f.state.lock().unwrap().comments.is_empty(), "the bench job does not comment by default");
    let summary = std::fs::read_to_string(tmp.path().join("summary.md")).unwrap();
    assert!(summary.contains("verified at `policy`") && summary.contains("| series | metric |"), "{summary}");
    assert!(
        summary.contains(&format!("[`{}`](https://github.com/o/r/commit/{head_sha})", &head_sha[..7])),
        "{summary}"
    );
    let outputs = std::fs::read_to_string(tmp.path().join("outputs.txt")).unwrap();
    assert_eq!(last_output(&outputs, "verdict").as_deref(), Some("verified"), "{outputs}");
    assert!(summary.contains("Comparison: **slower**."), "{summary}");
    assert_eq!(last_output(&outputs, "comparison").as_deref(), Some("slower"), "{outputs}");
    // Asked to, it comments (a token that may write); on a regression it
    // would anyway.
    let (code, text) = run(&[&bench[..], &[("COMMENT", "true"), ("COMMENT_ON", "regression")]].concat());
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("created https://github.com/o/r/pull/7#issuecomment-"), "{text}");
    // The CI gate: the step fails on the slower workload, after writing
    // its packs and the comparison.
    let _ = std::fs::remove_dir_all(ws.join("capsulepacks"));
    let (code, text) = run(&[&bench[..], &[("FAIL_ON_REGRESSION", "true")]].concat());
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("a workload is slower than its base (fail-on-regression)"), "{text}");
    assert!(ws.join("capsulepacks/seven.tgz").exists() && ws.join("capsulepacks/seven-base.tgz").exists());
    // The same gate on the command line: exit 8 on the regression only.
    let gate = |pair: &str, when: &str| {
        let (b, h) = (format!("capsulepacks/{pair}-base.tgz"), format!("capsulepacks/{pair}.tgz"));
        let o = super::bin().current_dir(&ws).args(["compare", &b, &h, "--fail-on", when]).output().unwrap();
        o.status.code()
    };
    assert_eq!(gate("seven", "regression"), Some(8));
    assert_eq!(gate("seven", "change"), Some(8));

    // The workflow_run side runs only the checked prebuilt tool.
    let real = std::path::Path::new(env!("CARGO_BIN_EXE_cargo-capsule"));
    let digest = file_sha256(real);
    let prebuilt = [("CAPSULE_BIN", real.to_str().unwrap()), ("TOOL_SHA256", digest.as_str())];
    let (code, text) = run(&[("MODE", "comment")]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("runs only the prebuilt tool install.sh checked"), "{text}");
    let comment = |run_id: u64, head: &str, conclusion: &str| {
        workflow_run_event(tmp.path(), run_id, head, conclusion);
        let conclusion = [("RUN_CONCLUSION", conclusion), ("MODE", "comment")];
        let o = action(&ws, &f.base, &[&prebuilt[..], &conclusion[..]].concat());
        (o.status.code(), format!("{}{}", stdout(&o), stderr(&o)))
    };
    // The fork's pull request is found by head branch (by commit, GitHub
    // answers `[]`), and the comment updated in place.
    let (code, text) = comment(4242, &head_sha, "success");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("updated https://github.com/o/r/pull/7#issuecomment-"), "{text}");
    {
        let s = f.state.lock().unwrap();
        assert_eq!(s.comments.len(), 1, "one comment, updated in place");
        assert!(s.requests.iter().any(|r| r == "GET /repos/o/r/pulls"), "{:?}", s.requests);
        let body = s.comments[0]["body"].as_str().unwrap();
        for want in [
            "Measured by this pull request's own workflow run ([run 4242](https://github.com/o/r/actions/runs/4242)), unsigned",
            "not proof that the run measured honestly",
            &format!("<!-- capsulebench:head {head_sha} -->"),
            "| base | [`",
            "| head | [`",
            "### CapsuleBench: 2 workloads:",
            "### CapsuleBench: echo on",
            "### CapsuleBench: seven on",
        ] {
            assert!(body.contains(want), "`{want}` missing: {body}");
        }
    }
    // The run failed its gate after uploading: commented, saying so.
    let (code, text) = comment(4242, &head_sha, "failure");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("updated https://github.com/o/r/pull/7"), "{text}");
    {
        let s = f.state.lock().unwrap();
        let body = s.comments[0]["body"].as_str().unwrap();
        assert!(body.contains("The benchmark run ended `failure` after uploading these packs"), "{body}");
        assert!(body.contains("### CapsuleBench: seven on baseline\\_no\\_accel: 🔴 slower"), "{body}");
    }
    // Downloaded packs over the size cap are refused before verifying.
    workflow_run_event(tmp.path(), 4242, &head_sha, "success");
    let o = action(&ws, &f.base, &[&prebuilt[..], &[("MODE", "comment"), ("MAX_PACKS_BYTES", "1000")]].concat());
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("over the 1000 this job verifies (MAX_PACKS_BYTES): refusing them"), "{}", stdout(&o));
    // Packs another run made, or a head the pull request no longer has.
    let (code, text) = comment(999, &head_sha, "success");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("refusing") && text.contains("not run 999 of o/r"), "{text}");
    f.state.lock().unwrap().pulls = vec![fake::pull(7, "open", "forker/r", "feature", &base_sha)];
    workflow_run_event(tmp.path(), 4242, &base_sha, "success");
    let o = action(&ws, &f.base, &[&prebuilt[..], &[("MODE", "comment"), ("RUN_CONCLUSION", "success")]].concat());
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains(&format!("it measured commit {head_sha}, not the run's head {base_sha}")), "{text}");
    // No open pull request has the run's head any more: a warning, no comment.
    f.state.lock().unwrap().pulls = vec![fake::pull(7, "open", "forker/r", "feature", "0000000")];
    let (code, text) = comment(4242, &head_sha, "success");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("::warning title=CapsuleBench::no open pull request has head forker:feature"), "{text}");
    // A later run of the pull request's head failed: the comment is marked
    // stale for that head, and keeps its comparison below.
    f.state.lock().unwrap().pulls = vec![fake::pull(7, "open", "forker/r", "feature", "feedface")];
    // (The failed run uploaded nothing: the job has no packs.)
    workflow_run_event(tmp.path(), 4243, "feedface", "failure");
    let failed = [("RUN_CONCLUSION", "failure"), ("MODE", "comment"), ("PACKS_DIR", "no-packs")];
    let o = action(&ws, &f.base, &[&prebuilt[..], &failed[..]].concat());
    let (code, text) = (o.status.code(), format!("{}{}", stdout(&o), stderr(&o)));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("marked stale"), "{text}");
    {
        let s = f.state.lock().unwrap();
        let body = s.comments[0]["body"].as_str().unwrap();
        assert!(body.contains("**Stale.** The benchmark [run 4243]"), "{body}");
        assert!(body.contains(&format!("the comparison below is for `{}`", &head_sha[..7])), "{body}");
        assert!(body.contains("| series | metric |"), "{body}");
    }

    // A skipped run says nothing and leaves the comment as it is.
    let before = f.state.lock().unwrap().comments[0]["body"].clone();
    let (code, text) = comment(4244, "feedface", "skipped");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("nothing to comment"), "{text}");
    assert_eq!(f.state.lock().unwrap().comments[0]["body"], before);

    // A fork's read-only token: a clear annotation and a non-zero exit.
    f.state.lock().unwrap().pulls = vec![fake::pull(7, "open", "forker/r", "feature", &head_sha)];
    f.state.lock().unwrap().forbid_writes = true;
    let (code, text) = comment(4242, &head_sha, "success");
    assert_ne!(code, Some(0), "{text}");
    assert!(text.contains("::error title=CapsuleBench::commenting failed") && text.contains("fork"), "{text}");
    f.state.lock().unwrap().forbid_writes = false;

    // Signing: every pack is verified first, and nothing is signed unless
    // all are accepted.
    let keygen = super::bin().current_dir(tmp.path()).args(["keygen", "--out", "ci"]).output().unwrap();
    assert_eq!(keygen.status.code(), Some(0), "{}", stderr(&keygen));
    let key = std::fs::read_to_string(tmp.path().join("ci.key")).unwrap();
    let sign = [&prebuilt[..], &[("MODE", "sign"), ("SIGN", "key"), ("SIGNING_KEY", key.as_str())]].concat();
    let packs = ws.join("capsulepacks");
    let good = std::fs::read(packs.join("echo.tgz")).unwrap();
    std::fs::copy(root().join("fixtures/hostile/dotdot.tgz"), packs.join("zz-hostile.tgz")).unwrap();
    let (code, text) = run(&sign);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("nothing was signed") && !text.contains("signed capsule"), "{text}");
    assert_eq!(std::fs::read(packs.join("echo.tgz")).unwrap(), good, "no pack was signed");
    std::fs::remove_file(packs.join("zz-hostile.tgz")).unwrap();
    // run.sh checks the binary again: another one with the same claim is refused.
    let (code, text) = run(&[&sign[..], &[("CAPSULE_BIN", "/bin/true")]].concat());
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("is not the binary install.sh checked"), "{text}");
    let (code, text) = run(&sign);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("signed capsule") && !text.contains(key.trim()), "{text}");
    let report = super::bin().current_dir(&ws).args(["verify", "capsulepacks/echo.tgz", "--json"]).output().unwrap();
    assert_eq!(super::json(&report)["signed"], "signed-unpinned", "{}", stdout(&report));
    let keyless = [&prebuilt[..], &[("MODE", "sign"), ("SIGN", "sigstore"), ("GITHUB_ACTIONS", "true")]].concat();
    let (code, text) = run(&[&keyless[..], &[("GITHUB_EVENT_NAME", "pull_request")]].concat());
    assert_ne!(code, Some(0), "{text}");
    assert!(
        text.contains("nobody reviewed yet") && text.contains("::error title=CapsuleBench::keyless signing"),
        "{text}"
    );

    // The release job attaches the signed packs; a second run replaces the
    // same-named assets: what is uploaded is the signed pack (its size).
    for _ in 0..2 {
        let (code, text) = run(&[&prebuilt[..], &[("MODE", "publish"), ("UPLOAD_RELEASE", "v1")]].concat());
        assert_eq!(code, Some(0), "{text}");
    }
    let s = f.state.lock().unwrap();
    let names: Vec<&str> = s.assets.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["echo-base.tgz", "echo.tgz", "seven-base.tgz", "seven.tgz"], "replaced, not duplicated");
    for a in &s.assets {
        let size = std::fs::metadata(ws.join("capsulepacks").join(a["name"].as_str().unwrap())).unwrap().len();
        assert_eq!(a["size"], size, "{a}");
    }
}

/// The gate and `comment-on` on identical packs (a deterministic
/// `no change`): the gate passes; no comment is created for it, but an
/// existing one is updated so it never keeps an outdated verdict.
#[test]
fn no_change_passes_the_gate_and_comments_only_where_one_exists() {
    for when in ["regression", "change"] {
        let o = bin().args(["compare", GOLDEN, GOLDEN, "--fail-on", when]).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{when}: {}", stdout(&o));
    }
    let f = fake::start();
    let args = ["github", "comment", "--base", GOLDEN, "--head", GOLDEN, "--pr", "7", "--comment-on", "change"];
    let o = gh(&f.base, &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("no comment: the comparison is no change and comment-on is change"), "{}", stdout(&o));
    assert!(f.state.lock().unwrap().comments.is_empty());
    let o = gh(&f.base, &[&args[..6], &["--pr", "7"]].concat());
    assert!(stdout(&o).starts_with("created "), "{}", stdout(&o));
    let o = gh(&f.base, &args);
    assert!(stdout(&o).starts_with("updated "), "{}", stdout(&o));
}

/// A file name from an artifact is text, never Markdown or a workflow
/// command: in the summary, the annotations and the outputs.
#[test]
fn artifact_file_names_are_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    let packs = ws.join("capsulepacks");
    std::fs::create_dir_all(&packs).unwrap();
    let name = "x`](https:evil.example)<img src=x>\n::error::forged\n%0Apwn.tgz";
    std::fs::copy(root().join("fixtures/hostile/dotdot.tgz"), packs.join(name)).unwrap();
    let real = std::path::Path::new(env!("CARGO_BIN_EXE_cargo-capsule"));
    let digest = file_sha256(real);
    let vars = [
        ("MODE", "publish"),
        ("UPLOAD_RELEASE", "v1"),
        ("CAPSULE_BIN", real.to_str().unwrap()),
        ("TOOL_SHA256", &digest),
    ];
    let o = action(&ws, "http://127.0.0.1:9", &vars);
    assert_eq!(o.status.code(), Some(1));
    let out = format!("{}{}", stdout(&o), stderr(&o));
    assert!(!out.lines().any(|l| l.starts_with("::error::forged")), "a file name started a command: {out}");
    assert!(out.contains("%0A::error::forged%0A%250Apwn.tgz does not verify"), "{out}");
    let summary = std::fs::read_to_string(tmp.path().join("summary.md")).unwrap();
    // Outside the fenced verify report (where text is shown as is, and a
    // fence in it is broken), nothing of the name is Markdown or HTML.
    let prose: String = summary.split("```").step_by(2).collect();
    assert_eq!(summary.matches("```").count(), 2, "{summary}");
    assert!(!prose.contains("](https:evil.example)") && !prose.contains("<img"), "{summary}");
    assert!(summary.contains("x&#96;&#93;&#40;https&#58;evil&#46;example&#41;&#60;img"), "{summary}");
    let outputs = std::fs::read_to_string(tmp.path().join("outputs.txt")).unwrap();
    assert_eq!(last_output(&outputs, "verdict").as_deref(), Some("rejected"), "{outputs}");
    assert_eq!(last_output(&outputs, "packs").unwrap(), format!("capsulepacks/{name}"), "one value, kept whole");
}

/// With several workloads the comment opens with one summary row each.
#[test]
fn a_comment_on_several_workloads_opens_with_a_summary() {
    let o = bin()
        .args(["github", "comment", "--dry-run", "--pr", "7", "--repo", "o/r"])
        .args(["--base", GOLDEN, "--head", GOLDEN, "--base", GOLDEN, "--head", GOLDEN])
        .env_remove("GITHUB_RUN_ID")
        .env_remove("GITHUB_SERVER_URL")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    insta::assert_snapshot!("comment_several_workloads", stdout(&o));
}

/// Eighty workloads' comparisons (about 1.2 KB each) do not fit one
/// comment: the comment is folded under GitHub's limit, every workload
/// keeping its summary row.
#[test]
fn an_oversized_comparison_is_folded() {
    let f = fake::start();
    let mut args: Vec<&str> = vec!["github", "comment", "--pr", "7"];
    for _ in 0..80 {
        args.extend(["--base", GOLDEN, "--head", GOLDEN]);
    }
    let o = gh(&f.base, &args);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let s = f.state.lock().unwrap();
    let body = s.comments[0]["body"].as_str().unwrap();
    assert!(body.chars().count() <= capsule_github::COMMENT_LIMIT, "{} characters", body.chars().count());
    assert!(body.contains("<details>") && body.contains("was cut here"), "{body}");
    let summary_rows =
        body.lines().filter(|l| l.starts_with("| sample\\_xorshift\\_v1 | baseline\\_no\\_accel | wall\\_ns |"));
    assert_eq!(summary_rows.count(), 80, "every workload keeps its row in the summary: {body}");
    assert!(body.contains("### CapsuleBench: 80 workloads:"), "{body}");
    // What a reader relies on, the runs and the summary stay open.
    let open = &body[..body.find("<details>").unwrap()];
    for kept in ["> [!NOTE]", "| head | ", "### CapsuleBench: 80 workloads:", "Each workload's comparison"] {
        assert!(open.contains(kept), "`{kept}` folded away: {open}");
    }
}

/// A workspace with a gungraun workload: the bench job `init` writes
/// installs valgrind and the gungraun-runner of the version its Cargo.lock
/// resolves, before the Action runs.
#[test]
fn init_installs_what_gungraun_workloads_need() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = super::bench::workspace(tmp.path(), Some(&root().join("fixtures/counts")));
    let o = bin().args(["init", "--dir", ws.to_str().unwrap(), "--action", "./"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("it first installs valgrind and gungraun-runner 0.20.0"), "{}", stdout(&o));
    let bench = std::fs::read_to_string(ws.join(".github/workflows/capsulebench.yml")).unwrap();
    let install = bench.find("cargo install --locked gungraun-runner@0.20.0\n").expect("the install step");
    assert!(install < bench.find("      - uses: ./").unwrap(), "{bench}");
}

#[test]
fn init_writes_the_fork_safe_workflows() {
    let f = fake::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let init = |args: &[&str], api: &str| {
        bin()
            .args(["init", "--dir", dir])
            .args(args)
            .env("GITHUB_API_URL", api)
            .env_remove("GITHUB_TOKEN")
            .output()
            .unwrap()
    };
    // A repository whose default branch is `trunk`, with a self-hosted
    // workflow of its own.
    super::bench::git(tmp.path(), &["init", "-q", "-b", "trunk"]);
    let wf = tmp.path().join(".github/workflows");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::write(wf.join("nightly.yml"), "jobs:\n  n:\n    runs-on: [self-hosted, linux] # the lab\n").unwrap();
    // The tag is resolved to its commit through the API: the files pin it,
    // with the tag as a comment, and no linter suppression.
    let o = init(&[], &f.base);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("warning: .github/workflows/nightly.yml uses self-hosted runners"), "{out}");
    assert!(out.contains("next steps:") && out.contains("pushes to `trunk`"), "{out}");
    for name in ["capsulebench.yml", "capsulebench-comment.yml"] {
        let text = std::fs::read_to_string(wf.join(name)).unwrap();
        assert!(text.contains(&format!("uses: capsulebench/action@{} # v1\n", fake::V1_SHA)), "{text}");
        assert!(!text.contains("zizmor: ignore[unpinned-uses]"), "{text}");
        insta::assert_snapshot!(format!("init_{name}"), text);
    }
    assert!(std::fs::read_to_string(wf.join("capsulebench.yml")).unwrap().contains("branches: [trunk]"));
    assert!(f.state.lock().unwrap().requests.iter().any(|r| r == "GET /repos/capsulebench/action/commits/v1"));
    let dependabot = std::fs::read_to_string(tmp.path().join(".github/dependabot.yml")).unwrap();
    assert!(dependabot.contains("package-ecosystem: github-actions"), "{dependabot}");
    // Without the API (offline) or for a tag that does not exist: exit 7 and
    // how to pin by hand; nothing is written.
    let fresh = tempfile::tempdir().unwrap();
    for (action, api) in [("capsulebench/action@v1", "http://127.0.0.1:9"), ("capsulebench/action@v9", f.base.as_str())]
    {
        let o = bin()
            .args(["init", "--dir", fresh.path().to_str().unwrap(), "--action", action])
            .env("GITHUB_API_URL", api)
            .env_remove("GITHUB_TOKEN")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(7), "{action}: {}", stderr(&o));
        assert!(stderr(&o).contains("pass `--action OWNER/REPO@<40-hex commit SHA>`"), "{}", stderr(&o));
        assert!(!fresh.path().join(".github").exists());
    }
    // Pinned by commit: written as given; an existing Dependabot
    // configuration is the user's, and only an entry is suggested.
    std::fs::write(tmp.path().join(".github/dependabot.yml"), "version: 2\nupdates:\n  - package-ecosystem: cargo\n")
        .unwrap();
    let pinned_action = format!("capsulebench/action@{}", "a".repeat(40));
    let o = init(&["--action", &pinned_action, "--force"], "http://127.0.0.1:9");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("does not update GitHub Actions; add this entry"), "{}", stdout(&o));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join(".github/dependabot.yml")).unwrap(),
        "version: 2\nupdates:\n  - package-ecosystem: cargo\n"
    );
    let pinned = std::fs::read_to_string(wf.join("capsulebench.yml")).unwrap();
    assert!(pinned.contains(&format!("{pinned_action}\n")));
    // An edited file is shown as a diff and left alone without --force.
    let edited = pinned.replace("branches: [trunk]", "branches: [trunk, next]");
    std::fs::write(wf.join("capsulebench.yml"), &edited).unwrap();
    let o = init(&["--action", &pinned_action], "http://127.0.0.1:9");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let diff: String =
        stdout(&o).lines().take_while(|l| !l.starts_with("warning:")).map(|l| format!("{l}\n")).collect();
    insta::assert_snapshot!("init_differs", diff.replace(dir, "[DIR]"));
    assert_eq!(std::fs::read_to_string(wf.join("capsulebench.yml")).unwrap(), edited);

    // `--board` adds the board's workflow, and prints the board's address
    // and badge from the `origin` remote.
    super::bench::git(tmp.path(), &["remote", "add", "origin", "git@github.com:Octo/bench.git"]);
    let o = init(&["--action", &pinned_action, "--board", "--force"], "http://127.0.0.1:9");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let board = std::fs::read_to_string(wf.join("capsulebench-board.yml")).unwrap();
    insta::assert_snapshot!(
        "init_capsulebench-board.yml",
        board.replace(&pinned_action, "capsulebench/action@[PINNED]")
    );
    assert!(board.contains("board-branch: trunk"), "{board}");
    assert!(
        stdout(&o)
            .contains("[![CapsuleBench board](https://octo.github.io/bench/badge.svg)](https://octo.github.io/bench/)"),
        "{}",
        stdout(&o)
    );
}

/// A pull request's whole benchmark suite through the Action's scripts, as
/// the workflows `init` writes run them: a fresh crate with a criterion
/// bench of 20 functions, a command and a hyperfine workload; the pull
/// request slows one function (twice the work) and adds another. The bench
/// job pairs every workload with the merge base (criterion by rounds of
/// each side's bench executable); the `workflow_run` job comments: the
/// slowed function slower, every other one no change, the new one listed.
#[test]
fn a_pull_requests_benchmark_suite_end_to_end() {
    let _measuring = super::measuring();
    let tmp = tempfile::tempdir().unwrap();
    let ws = super::bench::workspace(tmp.path(), Some(&root().join("fixtures/suite")));
    let head_commit = |ws: &std::path::Path| {
        let o = std::process::Command::new("git").args(["rev-parse", "HEAD"]).current_dir(ws).output().unwrap();
        String::from_utf8(o.stdout).unwrap().trim().to_owned()
    };
    let base_sha = head_commit(&ws);
    let bench = std::fs::read_to_string(ws.join("benches/suite.rs")).unwrap();
    let slowed = bench
        .replace("(\"checksum\", 600)", "(\"checksum\", 1200)")
        .replace("(\"deserialize\", 1400),", "(\"deserialize\", 1400),\n    (\"decode_block\", 500),");
    assert_ne!(slowed, bench);
    std::fs::write(ws.join("benches/suite.rs"), slowed).unwrap();
    super::bench::git(&ws, &["commit", "-qam", "checksum does twice the work; decode_block is new"]);
    let head_sha = head_commit(&ws);
    let f = fake::start();
    f.state.lock().unwrap().pulls = vec![fake::pull(7, "open", "forker/r", "feature", &head_sha)];
    // The criterion build is shared with the other tests of criterion
    // workloads (the same dependency versions).
    let target = root().join("target/fixture-workspace");
    let in_actions = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_RUN_ID", "4343"),
        ("GITHUB_RUN_ATTEMPT", "1"),
        ("GITHUB_SHA", head_sha.as_str()),
        ("RUNNER_ENVIRONMENT", "github-hosted"),
        ("CARGO_TARGET_DIR", target.to_str().unwrap()),
        ("MODE", "bench"),
        ("PR_BASE_SHA", base_sha.as_str()),
        ("REPETITIONS", "20"),
    ];
    let o = action(&ws, &f.base, &in_actions);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    for pack in ["suite", "suite-base", "work", "work-base", "script", "script-base"] {
        assert!(ws.join(format!("capsulepacks/{pack}.tgz")).exists(), "{pack}");
    }
    // The comment job: only the checked prebuilt tool, on what the run
    // uploaded.
    let real = std::path::Path::new(env!("CARGO_BIN_EXE_cargo-capsule"));
    let digest = file_sha256(real);
    workflow_run_event(tmp.path(), 4343, &head_sha, "success");
    let comment = [
        ("CAPSULE_BIN", real.to_str().unwrap()),
        ("TOOL_SHA256", digest.as_str()),
        ("MODE", "comment"),
        ("RUN_CONCLUSION", "success"),
    ];
    let o = action(&ws, &f.base, &comment);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let s = f.state.lock().unwrap();
    assert_eq!(s.comments.len(), 1);
    let body = s.comments[0]["body"].as_str().unwrap();
    assert!(body.contains("### CapsuleBench: 3 workloads:"), "{body}");
    assert!(body.contains("### CapsuleBench: suite on baseline\\_no\\_accel: 🔴 slower"), "{body}");
    assert!(body.contains("Added in head (not compared): decode\\_block."), "{body}");
    assert!(body.contains("20 series (wall\\_ns corrected for 20 comparisons, Holm): 🔴 1 slower"), "{body}");
    // Every compared function's primary row: the slowed one slower, and
    // none of the other nineteen called slower or faster. On a loaded
    // 2-core machine an interval can straddle the 2 % threshold: the
    // honest verdict is then inconclusive, never a change.
    let folded = body.split("<summary>All ").nth(1).and_then(|f| f.split("</details>").next()).unwrap_or_default();
    let rows: Vec<&str> = folded.lines().filter(|l| l.contains(" | wall\\_ns | ")).collect();
    assert_eq!(rows.len(), 20, "{body}");
    for row in rows {
        if row.starts_with("| checksum |") {
            assert!(row.ends_with("| slower |"), "{row}\n{body}");
        } else {
            assert!(row.ends_with("| no change |") || row.ends_with("| inconclusive |"), "{row}\n{body}");
        }
    }
    // The packs were written outside the checkout: no later workload saw a
    // dirty tree.
    assert!(!body.contains("dirty tree"), "{body}");
}
