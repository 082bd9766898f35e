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
/// Runs `action/run.sh` as `action.yml` does.
fn action(ws: &std::path::Path, api: &str, vars: &[(&str, &str)]) -> Output {
    script(ws, api, "run.sh", vars)
}

/// Runs one of the Action's scripts in `ws` with `GITHUB_*` set as in a
/// pull request's run, the built binary on `PATH`, and `vars` on top.
fn script(ws: &std::path::Path, api: &str, name: &str, vars: &[(&str, &str)]) -> Output {
    let dir = ws.parent().unwrap();
    let (event, summary, outputs) = (dir.join("event.json"), dir.join("summary.md"), dir.join("outputs.txt"));
    std::fs::write(&event, r#"{"pull_request": {"number": 7}}"#).unwrap();
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_cargo-capsule")).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut c = std::process::Command::new("bash");
    c.arg(root().join("action").join(name))
        .current_dir(ws)
        .env("GITHUB_ACTION_PATH", root())
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
    // The workload fails if it sees the step's token or key.
    let bench = [
        ("MODE", "bench"),
        ("BASELINE_REF", "HEAD~1"),
        ("COMMENT", "true"),
        ("SIGN", "none"),
        ("SIGNING_KEY", "a secret the workload must not see"),
    ];
    let (code, text) = run(&bench);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("created https://github.com/o/r/pull/7#issuecomment-"), "{text}");
    let (code, text) = run(&bench);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("updated "), "{text}");
    assert_eq!(f.state.lock().unwrap().comments.len(), 1, "one comment, updated in place");
    // Signing and release uploads never happen in the job that runs the
    // benchmark.
    for (var, value, why) in [
        ("UPLOAD_RELEASE", "v1", "upload-release runs only in `mode: publish`"),
        ("SIGN", "key", "sign: key runs only in `mode: sign`"),
        ("SIGN", "sigstore", "sign: sigstore runs only in `mode: sign`"),
    ] {
        let (code, text) = run(&[("MODE", "bench"), (var, value)]);
        assert_eq!(code, Some(1), "{text}");
        assert!(text.contains(why), "{text}");
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

    // The install job: builds the tool (a stand-in `cargo` copies the built
    // binary, so the test compiles nothing) and gives its path and digest.
    // Streamed: the binary is large, and this process's size shows in the
    // peak RSS other tests measure of the children it spawns.
    let real = env!("CARGO_BIN_EXE_cargo-capsule");
    let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
    std::io::copy(&mut std::fs::File::open(real).unwrap(), &mut hasher).unwrap();
    let digest = hex::encode(sha2::Digest::finalize(hasher));
    let fake_bin = tmp.path().join("fake-bin");
    std::fs::create_dir_all(&fake_bin).unwrap();
    let fake_cargo = format!(
        "#!/bin/sh\n[ \"$1 $2 $3\" = \"install --locked --root\" ] && [ \"$5 $6\" = \"--path {}/cargo-capsule\" ] || exit 9\nmkdir -p \"$4/bin\" && cp {} \"$4/bin/cargo-capsule\"\n",
        root().display(),
        env!("CARGO_BIN_EXE_cargo-capsule")
    );
    std::fs::write(fake_bin.join("cargo"), fake_cargo).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(fake_bin.join("cargo"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let system_path = std::env::var("PATH").unwrap_or_default();
    let with_fake_cargo = format!("{}:{system_path}", fake_bin.display());
    let install = |vars: &[(&str, &str)]| {
        let o = script(&ws, &f.base, "install.sh", vars);
        let text = format!("{}{}", stdout(&o), stderr(&o));
        let outputs = std::fs::read_to_string(tmp.path().join("outputs.txt")).unwrap_or_default();
        let last = |k: &str| outputs.lines().rev().find_map(|l| l.strip_prefix(k)).map(str::to_owned);
        (o.status.code(), text, last("tool="), last("tool-sha256="))
    };
    let (code, text, tool, sha) = install(&[("MODE", "install"), ("PATH", &with_fake_cargo)]);
    assert_eq!(code, Some(0), "{text}");
    let built = tmp.path().join("runner-temp/capsulebench-tool/bin/cargo-capsule");
    assert_eq!(tool.as_deref(), built.to_str());
    assert_eq!(sha.as_deref(), Some(digest.as_str()));
    // Nothing is built in a job that can request an OIDC token.
    let (code, text, ..) =
        install(&[("MODE", "install"), ("PATH", &with_fake_cargo), ("ACTIONS_ID_TOKEN_REQUEST_URL", "http://x")]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("refusing to build in a job that can request an OIDC token"), "{text}");
    // The bench job: built into CARGO_HOME the first time, then reused.
    let cargo_home = tmp.path().join("cargo-home");
    let home_path = format!("{}:{}/bin:{system_path}", fake_bin.display(), cargo_home.display());
    let bench_install = [("MODE", "bench"), ("PATH", home_path.as_str()), ("CARGO_HOME", cargo_home.to_str().unwrap())];
    let (code, text, tool, _) = install(&bench_install);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(tool.as_deref(), cargo_home.join("bin/cargo-capsule").to_str());
    let (code, text, ..) = install(&bench_install);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("(cached)"), "{text}");

    // The signing job holds `id-token: write`: it builds nothing and runs
    // only that binary, downloaded (without its mode bits) and checked.
    let artifact = tmp.path().join("artifact/cargo-capsule");
    std::fs::create_dir_all(artifact.parent().unwrap()).unwrap();
    std::fs::copy(real, &artifact).unwrap();
    std::fs::set_permissions(&artifact, std::fs::Permissions::from_mode(0o644)).unwrap();
    let artifact = artifact.to_str().unwrap();
    let no_tool_on_path = [("PATH", system_path.as_str())];
    let (code, text, ..) = install(&[&[("MODE", "sign")], &no_tool_on_path[..]].concat());
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("::error title=CapsuleBench::mode sign builds nothing"), "{text}");
    let wrong = "0".repeat(64);
    let (code, text, ..) =
        install(&[("MODE", "sign"), ("TOOL_BINARY", artifact), ("TOOL_SHA256", wrong.as_str()), no_tool_on_path[0]]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains(&format!("has SHA-256 {digest}, not the tool job's")), "{text}");
    let (code, text) = run(&[("MODE", "sign"), ("SIGN", "key")]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("runs only the prebuilt tool"), "{text}");
    let (code, text, tool, _) =
        install(&[("MODE", "sign"), ("TOOL_BINARY", artifact), ("TOOL_SHA256", digest.as_str()), no_tool_on_path[0]]);
    assert_eq!(code, Some(0), "{text}");
    let tool = tool.unwrap();
    assert_ne!(tool, artifact, "the checked copy runs, not the download");
    let prebuilt = [("CAPSULE_BIN", tool.as_str()), ("TOOL_SHA256", digest.as_str()), no_tool_on_path[0]];
    // run.sh checks the binary again: another one with the same claim is refused.
    let (code, text) = run(&[("MODE", "sign"), ("SIGN", "key"), ("CAPSULE_BIN", "/bin/true"), prebuilt[1]]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("is not the binary the tool job built"), "{text}");

    // Signing with a repository key (keyless signing is tested up to its
    // services in `keyless.rs`; here, up to the token request).
    let keygen = super::bin().current_dir(tmp.path()).args(["keygen", "--out", "ci"]).output().unwrap();
    assert_eq!(keygen.status.code(), Some(0), "{}", stderr(&keygen));
    let key = std::fs::read_to_string(tmp.path().join("ci.key")).unwrap();
    let (code, text) = run(&[&prebuilt[..], &[("MODE", "sign"), ("SIGN", "key"), ("SIGNING_KEY", &key)]].concat());
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("signed capsule") && !text.contains(key.trim()), "{text}");
    let report =
        super::bin().current_dir(&ws).args(["verify", "capsulepacks/capsulepack.tgz", "--json"]).output().unwrap();
    assert_eq!(super::json(&report)["signed"], "signed-unpinned", "{}", stdout(&report));
    let keyless = [&prebuilt[..], &[("MODE", "sign"), ("SIGN", "sigstore"), ("GITHUB_ACTIONS", "true")]].concat();
    let (code, text) = run(&[&keyless[..], &[("GITHUB_EVENT_NAME", "pull_request")]].concat());
    assert_ne!(code, Some(0), "{text}");
    assert!(
        text.contains("nobody reviewed yet") && text.contains("::error title=CapsuleBench::keyless signing"),
        "{text}"
    );
    let (code, text) = run(&[&keyless[..], &[("GITHUB_EVENT_NAME", "push")]].concat());
    assert_ne!(code, Some(0), "{text}");
    assert!(text.contains("add `id-token: write`"), "{text}");

    // The release job attaches the signed packs; a second run replaces the
    // same-named assets: what is uploaded is the signed pack (its size).
    for _ in 0..2 {
        let (code, text) = run(&[&prebuilt[..], &[("MODE", "publish"), ("UPLOAD_RELEASE", "v1")]].concat());
        assert_eq!(code, Some(0), "{text}");
    }
    let s = f.state.lock().unwrap();
    let names: Vec<&str> = s.assets.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["capsulepack-base.tgz", "capsulepack.tgz"], "replaced, not duplicated");
    for a in &s.assets {
        let size = std::fs::metadata(ws.join("capsulepacks").join(a["name"].as_str().unwrap())).unwrap().len();
        assert_eq!(a["size"], size, "{a}");
    }
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
    assert!(stdout(&o).contains("note: no signing or release jobs"), "{}", stdout(&o));
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
    assert!(!stdout(&o).contains("note:"), "{}", stdout(&o));
    // Pinned, the signing and release jobs are written too.
    insta::assert_snapshot!("init_pinned_capsulebench.yml", pinned);
    // An edited file is shown as a diff and left alone without --force.
    let edited = pinned.replace("branches: [main]", "branches: [main, next]");
    std::fs::write(wf.join("capsulebench.yml"), &edited).unwrap();
    let o = bin()
        .args(["init", "--dir", dir, "--action", &format!("capsulebench/action@{}", "a".repeat(40))])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    insta::assert_snapshot!("init_differs", stdout(&o).replace(dir, "[DIR]"));
    assert_eq!(std::fs::read_to_string(wf.join("capsulebench.yml")).unwrap(), edited);
}
