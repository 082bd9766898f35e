//! `cargo capsule bench` and `compare` end to end, on the embedded default
//! and on the sample workspace in `fixtures/workspace/` (one workload of each
//! kind), copied to a temporary directory and committed to a fresh git
//! repository.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use capsule_testkit::forge::Forged;
use serde_json::Value;

use super::{codes, json, root, stdout};

/// Runs `cargo capsule` in `dir` with a target directory of this test's own
/// (beside the workspace), so parallel tests never run each other's builds.
pub(super) fn capsule(dir: &Path, args: &[&str]) -> Output {
    let target = dir.parent().unwrap_or(dir).join("target");
    capsule_with_target(dir, &target, args)
}

pub(super) fn capsule_with_target(dir: &Path, target: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cargo-capsule"));
    c.arg("capsule").args(args).current_dir(dir);
    c.env("CARGO_TARGET_DIR", target);
    c.env_remove("RUSTFLAGS");
    c.env_remove("CARGO_ENCODED_RUSTFLAGS");
    c.output().unwrap()
}

pub(super) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub(super) fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(["-c", "user.name=CapsuleBench", "-c", "user.email=tests@capsulebench.invalid"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "git {args:?}");
}

/// A copy of a directory tree (the sample workspace) in a fresh git repo.
pub(super) fn workspace(tmp: &Path, from: Option<&Path>) -> PathBuf {
    let dir = tmp.join("ws");
    std::fs::create_dir_all(&dir).unwrap();
    match from {
        Some(src) => copy_tree(src, &dir),
        None => {
            std::fs::write(
                dir.join("Cargo.toml"),
                "[package]\nname = \"empty\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
            )
            .unwrap();
            std::fs::create_dir_all(dir.join("src")).unwrap();
            std::fs::write(dir.join("src/lib.rs"), "").unwrap();
        }
    }
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "fixture"]);
    dir
}

/// An empty workspace whose one workload is a fast command (`echo 42`)
/// that fails if it can see a credential in its environment.
pub(super) fn echo_workspace(tmp: &Path) -> PathBuf {
    let ws = workspace(tmp, None);
    let manifest = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    let config = "\n[[workspace.metadata.capsule.workloads]]\nkind = \"command\"\nid = \"echo\"\nargs = ['sh', '-c', 'test -z \"$GITHUB_TOKEN$SIGNING_KEY$ACTIONS_ID_TOKEN_REQUEST_TOKEN\" && echo 42']\n";
    std::fs::write(ws.join("Cargo.toml"), manifest + config).unwrap();
    git(&ws, &["commit", "-qam", "a fast workload"]);
    ws
}

fn copy_tree(src: &Path, dst: &Path) {
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.file_name().is_some_and(|n| n == "target") {
            continue;
        }
        let to = dst.join(e.file_name());
        if p.is_dir() {
            std::fs::create_dir_all(&to).unwrap();
            copy_tree(&p, &to);
        } else {
            std::fs::copy(&p, &to).unwrap();
        }
    }
}

fn verify_policy(dir: &Path, pack: &str) -> Value {
    let o = capsule(dir, &["verify", pack, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{pack} must verify at policy: {}", stdout(&o));
    json(&o)
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn embedded_default_in_an_empty_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = workspace(tmp.path(), None);
    let o = capsule(&ws, &["bench"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("running the embedded default `merkle_build_open_v1`"), "{}", stderr(&o));
    let out = stdout(&o);
    // The pack goes under the target directory, out of the source tree.
    let pack = default_pack(tmp.path(), "merkle_build_open_v1");
    for field in ["wall time", "peak RSS", "result", &format!("pack         {pack}"), "verify       verified"] {
        assert!(out.contains(field), "summary lacks {field}: {out}");
    }
    let r = verify_policy(&ws, &pack);
    assert_eq!(r["proof"], "committed-not-proven");
    let workload = r["values"].as_array().unwrap().iter().find(|v| v["name"] == "workload_id").unwrap();
    assert_eq!(workload["value"], "merkle_build_open_v1");
    assert_eq!(workload["class"], "measured");
    assert!(out.contains("source       commit ") && out.contains(", clean tree"), "{out}");
    // So the next run's tree is clean.
    let o = capsule(&ws, &["bench", "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let git = &json(&capsule(&ws, &["inspect", &pack, "--json"]))["manifests"]["manifests/git.json"];
    assert_eq!(git["dirty"], false, "{git}");
    // A dirty tree is said so in the summary, `inspect` and `compare`.
    let clean = tmp.path().join("clean.tgz");
    std::fs::copy(&pack, &clean).unwrap();
    std::fs::write(ws.join("src/lib.rs"), "// uncommitted\n").unwrap();
    let o = capsule(&ws, &["bench", "--quiet"]);
    assert!(stdout(&o).contains("DIRTY tree (uncommitted changes were measured)"), "{}", stdout(&o));
    let o = capsule(&ws, &["inspect", &pack]);
    assert!(stdout(&o).contains("DIRTY tree"), "{}", stdout(&o));
    let o = capsule(&ws, &["compare", clean.to_str().unwrap(), &pack]);
    let out = stdout(&o);
    assert!(out.contains("base source  commit ") && out.contains(", clean tree\nhead source  commit "), "{out}");
    assert!(out.contains("DIRTY tree"), "{out}");
}

/// Where `bench` writes a workload's pack by default (the e2e runs set
/// `CARGO_TARGET_DIR` to `<tmp>/target`).
fn default_pack(tmp: &Path, id: &str) -> String {
    tmp.join("target/capsule").join(format!("{id}.tgz")).display().to_string()
}

#[test]
fn sample_workspace_workloads_of_every_kind() {
    let _measuring = super::measuring();
    let tmp = tempfile::tempdir().unwrap();
    let ws = workspace(tmp.path(), Some(&root().join("fixtures/workspace")));
    for (workload, class) in
        [("sum_squares", "measured"), ("sleep_5ms", "harness-reported"), ("criterion_hashing", "harness-reported")]
    {
        let pack = format!("{workload}.tgz");
        // The criterion build is shared between runs of this one test.
        // Criterion's progress is its own: its real sample counts.
        let quiet = if workload == "criterion_hashing" { "--color=never" } else { "--quiet" };
        let o = capsule_with_target(
            &ws,
            &root().join("target/fixture-workspace"),
            &["bench", "--workload", workload, "--out", &pack, quiet],
        );
        assert_eq!(o.status.code(), Some(0), "{workload}: {}{}", stdout(&o), stderr(&o));
        if workload == "criterion_hashing" {
            let e = stderr(&o);
            assert!(e.contains("criterion warms up and samples each benchmark itself"), "{e}");
            assert!(e.contains("criterion: benchmark 1 `fnv_4k`: 10 samples ("), "{e}");
            assert!(e.contains("criterion: benchmark 2 `fnv_64`: 10 samples ("), "{e}");
        }
        let r = verify_policy(&ws, &pack);
        let medians: Vec<&Value> = r["values"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["name"].as_str().unwrap().ends_with(".wall_ns.median"))
            .collect();
        assert!(!medians.is_empty(), "{workload}");
        assert!(medians.iter().all(|v| v["class"] == class), "{workload}: {medians:?}");
    }
    // Inputs are hashed into the anchor; changing one changes the receipt.
    let o = capsule(&ws, &["inspect", "sum_squares.tgz", "--json"]);
    let before = json(&o)["statement"]["anchors"]["workload_input_hash"].clone();
    std::fs::write(ws.join("data/seed.txt"), "43\n").unwrap();
    let o = capsule(&ws, &["bench", "--workload", "sum_squares", "--out", "changed.tgz", "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let after =
        json(&capsule(&ws, &["inspect", "changed.tgz", "--json"]))["statement"]["anchors"]["workload_input_hash"]
            .clone();
    assert_ne!(before, after);
    // A different result and input: compare refuses.
    let o = capsule(&ws, &["compare", "sum_squares.tgz", "changed.tgz"]);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    assert!(stderr(&o).contains("input hash"), "{}", stderr(&o));
}

#[test]
fn bad_input_is_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = workspace(tmp.path(), Some(&root().join("fixtures/workspace")));
    let before = entries(&ws);
    // A workload that crashes: which repetition, and its stderr tail.
    let o = capsule(&ws, &["bench", "--workload", "crashes", "--quiet"]);
    assert_eq!(o.status.code(), Some(5));
    let e = stderr(&o);
    assert!(e.contains("failed in warmup 0 (exit code 7)") && e.contains("segfault in step 3"), "{e}");
    // Fewer repetitions than the policy's minimum are refused.
    let o = capsule(&ws, &["bench", "--workload", "sleep_5ms", "--repetitions", "3"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("requires at least 10"), "{}", stderr(&o));
    // An unknown workload names the known ones.
    let o = capsule(&ws, &["bench", "--workload", "nope"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("no workload `nope`; configured: sum_squares"), "{}", stderr(&o));
    // A forbidden flag on baseline_no_accel is refused, naming the setting.
    let mut c = Command::new(env!("CARGO_BIN_EXE_cargo-capsule"));
    let o = c
        .args(["capsule", "bench", "--workload", "sleep_5ms"])
        .current_dir(&ws)
        .env("RUSTFLAGS", "-C target-cpu=native")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("RUSTFLAGS entry `target-cpu=native`"), "{}", stderr(&o));
    // So is one set in `.cargo/config.toml`, where cargo would read it.
    std::fs::create_dir_all(ws.join(".cargo")).unwrap();
    std::fs::write(ws.join(".cargo/config.toml"), "[build]\nrustflags = [\"-C\", \"target_cpu=native\"]\n").unwrap();
    let o = capsule(&ws, &["bench", "--workload", "sleep_5ms"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("RUSTFLAGS entry `target-cpu=native`"), "{}", stderr(&o));
    // And one in a `target.'cfg(..)'` table that holds for this machine.
    std::fs::write(ws.join(".cargo/config.toml"), "[target.'cfg(unix)']\nrustflags = [\"-Ctarget-cpu=native\"]\n")
        .unwrap();
    let o = capsule(&ws, &["bench", "--workload", "sleep_5ms"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("RUSTFLAGS entry `target-cpu=native`"), "{}", stderr(&o));
    std::fs::remove_dir_all(ws.join(".cargo")).unwrap();
    let manifest = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    // A forbidden feature reached through the default features is refused.
    std::fs::write(
        ws.join("Cargo.toml"),
        format!("{manifest}\n[features]\ndefault = [\"fast\"]\nfast = [\"simd-accel\"]\nsimd-accel = []\n"),
    )
    .unwrap();
    let o = capsule(&ws, &["bench", "--workload", "sum_squares"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("feature `simd-accel` is forbidden on track `baseline_no_accel`"), "{}", stderr(&o));
    // A malformed configuration points at the key.
    std::fs::write(ws.join("Cargo.toml"), manifest.replace("bench = \"hashing\"", "bench = \"hashing\"\nbenches = 3"))
        .unwrap();
    let o = capsule(&ws, &["bench", "--workload", "sum_squares"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("[workspace.metadata.capsule]") && stderr(&o).contains("unknown field `benches`"),
        "{}",
        stderr(&o)
    );
    std::fs::write(ws.join("Cargo.toml"), manifest).unwrap();
    assert_eq!(entries(&ws), before, "no pack and no temporary file may be left behind");
}

#[test]
fn not_a_git_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = workspace(tmp.path(), None);
    std::fs::remove_dir_all(ws.join(".git")).unwrap();
    let o = capsule(&ws, &["bench"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("requires anchor `workload_commit`"), "{}", stderr(&o));
    let pack = default_pack(tmp.path(), "merkle_build_open_v1");
    assert!(!Path::new(&pack).exists());
    // Under a policy that does not require the commit, the run goes ahead and
    // the git manifest says why there is no commit.
    let mut policy = capsule::standard::standard_policy("standard-v1").unwrap().policy.clone();
    policy.id = "no-git".to_owned();
    policy.required_anchors.retain(|a| *a != capsule::objects::AnchorName::WorkloadCommit);
    std::fs::write(ws.join("no-git.json"), serde_json::to_string_pretty(&policy).unwrap()).unwrap();
    let manifest = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    std::fs::write(
        ws.join("Cargo.toml"),
        format!("{manifest}\n[workspace.metadata.capsule]\npolicy = \"no-git.json\"\n"),
    )
    .unwrap();
    let o = capsule(&ws, &["bench", "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = capsule(&ws, &["inspect", &pack, "--json"]);
    let git = &json(&o)["manifests"]["manifests/git.json"];
    assert!(git["note"].as_str().unwrap().contains("not a git repository"), "{git}");
    // Verifiers must pin the custom policy.
    let o = capsule(&ws, &["verify", &pack, "--json"]);
    assert_eq!(codes(&json(&o)), vec!["policy-self-chosen"]);
    let o = capsule(&ws, &["verify", &pack, "--policy", "no-git.json"]);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn events_stream_is_the_sealed_chain_then_post_seal_events() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = workspace(tmp.path(), None);
    let o = capsule(&ws, &["bench", "--events", "-", "--out", "p.tgz"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let streamed: Vec<&str> = std::str::from_utf8(&o.stdout).unwrap().lines().collect();
    let pack = std::fs::read(ws.join("p.tgz")).unwrap();
    let mut sealed = Vec::new();
    capsule::pack::read_members::<_, capsule::pack::PackError, _>(&pack[..], &Default::default(), |m| {
        if m.path == "events.jsonl" {
            sealed = m.read_all()?;
        }
        Ok(())
    })
    .unwrap();
    let sealed: Vec<&str> = std::str::from_utf8(&sealed).unwrap().lines().collect();
    assert_eq!(&streamed[..sealed.len()], &sealed[..], "the stream carries the sealed lines byte for byte");
    let tail: Vec<Value> = streamed[sealed.len()..].iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(tail.iter().map(|e| e["type"].as_str().unwrap()).collect::<Vec<_>>(), ["capsule_sealed", "pack_ready"]);
    // The post-seal events continue the chain from the sealed head.
    let head = capsule::digest::tagged(capsule::digest::Tag::Event, sealed.last().unwrap().as_bytes());
    assert_eq!(tail[0]["prev"], head.to_string());
    assert_eq!(tail[0]["seq"], sealed.len());
}

#[test]
fn compare_two_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = workspace(tmp.path(), None);
    for out in ["a.tgz", "b.tgz"] {
        let o = capsule(&ws, &["bench", "--quiet", "--out", out]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let o = capsule(&ws, &["compare", "a.tgz", "b.tgz", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let c = json(&o);
    assert_eq!(c["schema"], "capsulebench/comparison/v2");
    assert_eq!(c["result_digest_equal"], true);
    assert_eq!(c["metrics"][0]["metric"], "wall_ns");
    let o = capsule(&ws, &["compare", "a.tgz", "b.tgz", "--markdown"]);
    assert!(
        stdout(&o).starts_with("### CapsuleBench: merkle\\_build\\_open\\_v1 on baseline\\_no\\_accel"),
        "{}",
        stdout(&o)
    );
    // A pack that does not verify is not compared.
    let o = capsule(&ws, &["compare", "a.tgz", &root().join("fixtures/hostile/dotdot.tgz").display().to_string()]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn paired_baseline_runs_interleaved_and_shares_a_run_id() {
    let _measuring = super::measuring();
    let tmp = tempfile::tempdir().unwrap();
    let ws = workspace(tmp.path(), Some(&root().join("fixtures/workspace")));
    // Head does ten times the work of its baseline, with the same parameters.
    let src = std::fs::read_to_string(ws.join("src/bin/sum_squares.rs")).unwrap();
    std::fs::write(ws.join("src/bin/sum_squares.rs"), src.replace("for i in 0..n {", "for i in 0..n * 10 {")).unwrap();
    git(&ws, &["commit", "-qam", "ten times the work"]);
    let o = capsule(&ws, &["bench", "--workload", "sum_squares", "--baseline", "HEAD~1", "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("verdict      slower"), "{}", stdout(&o));
    assert!(!stderr(&o).contains("Compiling"), "`--quiet` quiets cargo too: {}", stderr(&o));
    let (base, head) = (default_pack(tmp.path(), "sum_squares-base"), default_pack(tmp.path(), "sum_squares"));
    let run_id = |p: &str| json(&capsule(&ws, &["inspect", p, "--json"]))["capsule"]["run_id"].clone();
    assert_eq!(run_id(&base), run_id(&head));
    let commit =
        |p: &str| json(&capsule(&ws, &["inspect", p, "--json"]))["statement"]["anchors"]["workload_commit"].clone();
    assert_ne!(commit(&base), commit(&head));
    let o = capsule(&ws, &["compare", &base, &head, "--json"]);
    let c = json(&o);
    assert_eq!((c["same_run"].clone(), c["verdict"].clone()), (Value::from(true), Value::from("slower")));
    // Unasked, a paired run takes the policy's paired repetitions a side.
    assert_eq!(
        (c["metrics"][0]["n_base"].clone(), c["metrics"][0]["n_head"].clone()),
        (Value::from(100), Value::from(100))
    );
    // The worktree is gone; an unknown reference is refused.
    let list = Command::new("git").args(["worktree", "list"]).current_dir(&ws).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&list.stdout).lines().count(), 1);
    let o = capsule(&ws, &["bench", "--workload", "sum_squares", "--baseline", "no-such-ref", "--quiet"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("cannot use baseline `no-such-ref`"), "{}", stderr(&o));
}

#[test]
fn instruction_counts_join_each_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = workspace(tmp.path(), Some(&root().join("fixtures/workspace")));
    let o = capsule(&ws, &["bench", "--workload", "sum_squares", "--measure", "instructions", "--quiet"]);
    if capsule_runner::measure::instruction_counter().is_err() {
        // The machine has neither counter: the run says so and writes nothing.
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        assert!(stderr(&o).contains("instruction counts are unavailable on this machine"), "{}", stderr(&o));
        assert!(std::env::var_os("CI").is_none(), "CI machines have valgrind; install it in .ci/run");
        return;
    }
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let pack = default_pack(tmp.path(), "sum_squares");
    let m = &json(&capsule(&ws, &["inspect", &pack, "--json"]))["measurements"]["series"][0];
    let i = m["metrics"].as_array().unwrap().iter().position(|x| x == "instructions_count").unwrap();
    for s in m["samples"].as_array().unwrap() {
        assert!(s["values"][i].as_u64().unwrap() > 100_000, "{s}");
    }
    verify_policy(&ws, &pack);
}

#[test]
fn interrupted_runs_leave_no_pack() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = workspace(tmp.path(), Some(&root().join("fixtures/workspace")));
    let manifest = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    std::fs::write(
        ws.join("Cargo.toml"),
        format!("{manifest}\n[[workspace.metadata.capsule.workloads]]\nkind = \"command\"\nid = \"sleepy\"\nargs = [\"sleep\", \"0.3\"]\n"),
    )
    .unwrap();
    for signal in ["-INT", "-KILL"] {
        let before = entries(&ws);
        let mut child = Command::new(env!("CARGO_BIN_EXE_cargo-capsule"))
            .args(["capsule", "bench", "--workload", "sleepy", "--quiet"])
            .current_dir(&ws)
            .env("CARGO_TARGET_DIR", tmp.path().join("target"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1200));
        let killed = Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
        assert!(killed.success());
        let status = child.wait().unwrap();
        assert!(!status.success(), "{signal}: the run was interrupted");
        assert!(!Path::new(&default_pack(tmp.path(), "sleepy")).exists(), "{signal}: no pack at the destination");
        assert_eq!(entries(&ws), before, "{signal}: nothing else left behind");
    }
}

/// A workspace with several workloads runs them all by default, one pack
/// each under `<target>/capsule/`, with a run summary (human and JSON);
/// `--workload` repeats to choose; `--out` names one pack, so it is refused
/// with several.
#[test]
fn every_configured_workload_runs_by_default() {
    let _measuring = super::measuring();
    let tmp = tempfile::tempdir().unwrap();
    let ws = echo_workspace(tmp.path());
    let manifest = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    let second = "\n[[workspace.metadata.capsule.workloads]]\nkind = \"command\"\nid = \"seven\"\nargs = ['sh', '-c', 'echo 7']\n";
    std::fs::write(ws.join("Cargo.toml"), manifest + second).unwrap();
    git(&ws, &["commit", "-qam", "a second workload"]);
    let target = tmp.path().join("target");
    let o = capsule(&ws, &["bench", "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("2 workloads:"), "{out}");
    for id in ["echo", "seven"] {
        let pack = target.join("capsule").join(format!("{id}.tgz"));
        assert!(pack.exists(), "{}: {out}", pack.display());
        assert!(out.lines().any(|l| l.trim_start().starts_with(id) && l.contains("verified")), "{out}");
        let v = verify_policy(&ws, pack.to_str().unwrap());
        assert_eq!(v["verdict"], "accepted");
    }
    // Chosen, into a directory, as JSON.
    let dir = tmp.path().join("packs");
    let o = capsule(
        &ws,
        &[
            "bench",
            "--quiet",
            "--workload",
            "seven",
            "--workload",
            "echo",
            "--out-dir",
            dir.to_str().unwrap(),
            "--message-format",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["schema"], "capsulebench/bench-run/v1", "{v}");
    let ids: Vec<&str> = v["workloads"].as_array().unwrap().iter().map(|w| w["workload"].as_str().unwrap()).collect();
    assert_eq!(ids, ["seven", "echo"]);
    assert!(dir.join("seven.tgz").exists() && dir.join("echo.tgz").exists());
    // `--out` names one pack.
    let o = capsule(&ws, &["bench", "--out", "x.tgz"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("with several workloads use `--out-dir DIR`"), "{}", stderr(&o));
    // Cargo-style selection that matches nothing says so.
    let o = capsule(&ws, &["bench", "--bench", "nope"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no configured workload matches"), "{}", stderr(&o));
    let o = capsule(&ws, &["bench", "-p", "empty", "--exclude", "empty"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // An unknown one is named with the ones there are.
    let o = capsule(&ws, &["bench", "--workload", "nope"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("echo, seven"), "{}", stderr(&o));
}

/// The worktrees git has registered for `ws`, as paths.
fn worktrees(ws: &Path) -> Vec<String> {
    let o = Command::new("git").args(["worktree", "list", "--porcelain"]).current_dir(ws).output().unwrap();
    String::from_utf8_lossy(&o.stdout).lines().filter_map(|l| l.strip_prefix("worktree ").map(str::to_owned)).collect()
}

/// Runs `bench args` in `ws` (its target directory under `tmp`), waits
/// until the workload has written its pid to `pids`, calls `running` while
/// it runs, then sends the run SIGTERM and waits for it: exit 130 within
/// 25 s. Returns its output and the workload's pid.
fn terminated_midway(tmp: &Path, ws: &Path, args: &[&str], pids: &Path, running: impl FnOnce()) -> (Output, String) {
    let started = std::time::Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_cargo-capsule"))
        .args(["capsule", "bench", "--quiet"])
        .args(args)
        .current_dir(ws)
        .env("CARGO_TARGET_DIR", tmp.join("target"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while !pids.exists() && started.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(pids.exists(), "the workload never started");
    running();
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(started.elapsed() < std::time::Duration::from_secs(25), "it waited for the workload");
    let pid = std::fs::read_to_string(pids).unwrap().lines().next().unwrap().trim().to_owned();
    std::thread::sleep(std::time::Duration::from_millis(300));
    (out, pid)
}

/// SIGTERM in the middle of a paired run: the measured workload's process
/// group is ended, the baseline's worktree removed, nothing written, exit
/// 130. A worktree left by a run that was killed outright is removed by the
/// next paired run.
#[test]
fn an_interrupted_run_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = workspace(tmp.path(), None);
    let pids = tmp.path().join("pids");
    let manifest = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    let config = format!(
        "\n[[workspace.metadata.capsule.workloads]]\nkind = \"command\"\nid = \"slow\"\nargs = ['sh', '-c', 'echo $$ >> {}; sleep 30; echo 1']\n",
        pids.display()
    );
    std::fs::write(ws.join("Cargo.toml"), manifest + &config).unwrap();
    git(&ws, &["commit", "-qam", "a slow workload"]);
    std::fs::write(ws.join("src/lib.rs"), "// head\n").unwrap();
    git(&ws, &["commit", "-qam", "head"]);
    let (out, pid) = terminated_midway(tmp.path(), &ws, &["--baseline", "HEAD~1"], &pids, || {
        assert_eq!(worktrees(&ws).len(), 2, "the baseline's worktree is registered while it runs");
    });
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "the workload {pid} is still running");
    assert_eq!(worktrees(&ws), [ws.canonicalize().unwrap().display().to_string()], "the worktree was removed");
    assert!(!ws.join("capsulepack.tgz").exists() && !ws.join("capsulepack-base.tgz").exists());

    // A worktree whose run was killed outright (its owner is gone).
    let holder = tmp.path().join("target/capsule-baseline/worktree-stale");
    std::fs::create_dir_all(&holder).unwrap();
    let o = Command::new("git")
        .args(["worktree", "add", "--detach", "--quiet"])
        .arg(holder.join("src"))
        .arg("HEAD")
        .current_dir(&ws)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut gone = Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    std::fs::write(holder.join("owner.pid"), dead.to_string()).unwrap();
    assert_eq!(worktrees(&ws).len(), 2);
    // The next paired run (its baseline ref wrong: it stops early, after
    // pruning) leaves only the main worktree.
    let o = capsule(&ws, &["bench", "--baseline", "no-such-ref"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("no-such-ref"), "{}", stderr(&o));
    let o = capsule(&ws, &["bench", "--baseline", "HEAD", "--workload", "nope"]);
    assert_ne!(o.status.code(), Some(0));
    assert_eq!(worktrees(&ws).len(), 1, "the stale worktree was pruned: {:?}", worktrees(&ws));
    assert!(!holder.exists());
}

/// SIGTERM while a harness runs unpaired (hyperfine timing a command that
/// sleeps): the harness's process group, its command included, is ended,
/// and the run exits 130 at once, writing nothing.
#[test]
fn an_interrupted_harness_is_ended_with_its_command() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = workspace(tmp.path(), None);
    let pids = tmp.path().join("pids");
    let manifest = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    let config = format!(
        "\n[[workspace.metadata.capsule.workloads]]\nkind = \"hyperfine\"\nid = \"slow\"\ncommand = \"sh -c 'echo $$ >> {}; sleep 30'\"\n",
        pids.display()
    );
    std::fs::write(ws.join("Cargo.toml"), manifest + &config).unwrap();
    git(&ws, &["commit", "-qam", "a slow hyperfine workload"]);
    let (_, pid) = terminated_midway(tmp.path(), &ws, &[], &pids, || {});
    // Ended: gone, or a zombie its new parent has not reaped yet (hyperfine,
    // its parent, was ended with it).
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let running = state.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z'));
    assert!(!running, "the timed command {pid} is still running: {state}");
    assert!(!tmp.path().join("target/capsule/slow.tgz").exists());
}

/// Where the pack cannot be written, and a baseline that names no commit,
/// are refused before anything is built or measured.
#[test]
fn a_bad_destination_or_baseline_fails_before_measuring() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = echo_workspace(tmp.path());
    let started = std::time::Instant::now();
    let not_a_dir = ws.join("Cargo.toml").join("x.tgz");
    let o = capsule(&ws, &["bench", "--out", not_a_dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("x.tgz") && !stderr(&o).contains("repetition"), "{}", stderr(&o));
    let o = capsule(&ws, &["bench", "--baseline", "no-such-ref"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("no-such-ref") && stderr(&o).contains("not a commit"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("collecting manifests"), "{}", stderr(&o));
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

/// Errors name the fix: a mistyped workload gets the closest id (builtins
/// included), an unknown policy name the standard ones, a missing hyperfine
/// how to install it.
#[test]
fn errors_name_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = echo_workspace(tmp.path());
    let o = capsule(&ws, &["bench", "--workload", "merkle_build_opne_v1"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("(did you mean `merkle_build_open_v1`?)"), "{}", stderr(&o));
    assert!(stderr(&o).contains("configured: echo; builtins: "), "{}", stderr(&o));
    let manifest = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    let with_policy = manifest.replace(
        "[[workspace.metadata.capsule.workloads]]",
        "[workspace.metadata.capsule]\npolicy = \"standard-v2\"\n\n[[workspace.metadata.capsule.workloads]]",
    );
    std::fs::write(ws.join("Cargo.toml"), &with_policy).unwrap();
    let o = capsule(&ws, &["bench"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("failed to load policy `standard-v2` (a standard policy name: standard-v1"),
        "{}",
        stderr(&o)
    );
    let hyperfine =
        "\n[[workspace.metadata.capsule.workloads]]\nkind = \"hyperfine\"\nid = \"hf\"\ncommand = \"true\"\n";
    std::fs::write(ws.join("Cargo.toml"), manifest + hyperfine).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_cargo-capsule"))
        .args(["capsule", "bench", "--workload", "hf"])
        .current_dir(&ws)
        .env("CARGO_TARGET_DIR", tmp.path().join("target"))
        .env(
            "PATH",
            std::env::var("PATH")
                .unwrap_or_default()
                .split(':')
                .filter(|d| !Path::new(d).join("hyperfine").exists())
                .collect::<Vec<_>>()
                .join(":"),
        )
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("`hyperfine` is not installed (or not on PATH): install it with"), "{}", stderr(&o));
}

/// A hyperfine workload pairs like a command: each round, hyperfine times
/// the baseline's command once, then head's; a head that sleeps 20 ms more
/// is called slower, with one paired sample a side per kept round.
#[test]
fn hyperfine_workloads_run_paired() {
    let _measuring = super::measuring();
    let tmp = tempfile::tempdir().unwrap();
    let ws = workspace(tmp.path(), None);
    let manifest = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    let hf = "\n[[workspace.metadata.capsule.workloads]]\nkind = \"hyperfine\"\nid = \"hf\"\ncommand = \"sh hf.sh\"\n";
    std::fs::write(ws.join("Cargo.toml"), manifest + hf).unwrap();
    std::fs::write(ws.join("hf.sh"), "true\n").unwrap();
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-qm", "a hyperfine workload"]);
    std::fs::write(ws.join("hf.sh"), "sleep 0.02\n").unwrap();
    git(&ws, &["commit", "-qam", "slower"]);
    let o = capsule(&ws, &["bench", "--baseline", "HEAD~1", "--repetitions", "20", "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("verdict      slower"), "{}", stdout(&o));
    let (base, head) = (default_pack(tmp.path(), "hf-base"), default_pack(tmp.path(), "hf"));
    let c = json(&capsule(&ws, &["compare", &base, &head, "--json"]));
    assert_eq!(c["same_run"], true, "{c}");
    assert_eq!(c["verdict"], "slower", "{c}");
    assert_eq!(
        (c["metrics"][0]["n_base"].clone(), c["metrics"][0]["n_head"].clone()),
        (Value::from(20), Value::from(20))
    );
    let r = verify_policy(&ws, &head);
    assert_eq!(r["verdict"], "accepted");
}

/// A paired run that is inconclusive after its first rounds (the policy's,
/// or `--repetitions`) takes more, doubling up to four times as many:
/// identical commands whose time steps through 0 to 8 ms cannot be
/// told within 2 % of each other, so the run stops at the cap, and
/// `compare` recomputes the same verdict from every kept round.
#[test]
fn inconclusive_paired_runs_take_more_rounds() {
    let _measuring = super::measuring();
    let tmp = tempfile::tempdir().unwrap();
    let ws = workspace(tmp.path(), None);
    let manifest = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    let noisy =
        "\n[[workspace.metadata.capsule.workloads]]\nkind = \"command\"\nid = \"noisy\"\nargs = ['sh', 'noisy.sh']\n";
    std::fs::write(ws.join("Cargo.toml"), manifest + noisy).unwrap();
    // Each side's tree counts its own repetitions, so both sleep the same
    // sequence (0 to 8 ms): identical samples, whose interval straddles the
    // threshold at every look (random times would, now and then, look
    // changed by chance).
    std::fs::write(
        ws.join("noisy.sh"),
        "n=$(cat count 2>/dev/null || echo 0)\necho $((n + 1)) > count\nsleep 0.00$(( n % 9 ))\necho done\n",
    )
    .unwrap();
    std::fs::write(ws.join(".gitignore"), "count\n").unwrap();
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-qm", "a noisy workload"]);
    let o = capsule(&ws, &["bench", "--baseline", "HEAD", "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let (base, head) = (default_pack(tmp.path(), "noisy-base"), default_pack(tmp.path(), "noisy"));
    let c = json(&capsule(&ws, &["compare", &base, &head, "--json"]));
    let n = |side: &str| c["metrics"][0][side].as_u64().unwrap();
    assert_eq!((n("n_base"), n("n_head")), (400, 400), "{c}");
    assert_eq!(c["metrics"][0]["verdict"], "inconclusive", "{c}");
    // The wall-time row counts disturbed samples a side (off-CPU time).
    assert!(c["metrics"][0]["disturbed"].as_array().is_some_and(|d| d.len() == 2), "{c}");
    assert!(stdout(&o).contains("verdict      inconclusive"), "{}", stdout(&o));
    // The run could look three times (100, 200, 400 rounds): both packs say
    // so, and every interval is at 95 % with its error rate divided by three.
    for pack in [&base, &head] {
        assert_eq!(Forged::open(Path::new(pack)).json("measurements.json")["looks"], 3, "{pack}");
    }
    assert_eq!((c["looks"].clone(), c["metrics"][0]["confidence"].clone()), (Value::from(3), Value::from("0.983334")));
    // A forger who strips the looks from one pack of the pair (and reseals)
    // does not narrow the intervals: the larger count is used. A count
    // below two is not a run's count at all.
    let mut f = Forged::open(Path::new(&head));
    let mut m = f.json("measurements.json");
    m.as_object_mut().unwrap().remove("looks");
    f.set_json("measurements.json", &m);
    f.reseal("measurements.json", capsule::digest::Digest::ZERO);
    let stripped = tmp.path().join("stripped.tgz");
    f.write_to(&stripped);
    let c = json(&capsule(&ws, &["compare", &base, stripped.to_str().unwrap(), "--json"]));
    assert_eq!((c["looks"].clone(), c["metrics"][0]["confidence"].clone()), (Value::from(3), Value::from("0.983334")));
    m["looks"] = Value::from(1);
    f.set_json("measurements.json", &m);
    f.reseal("measurements.json", capsule::digest::Digest::ZERO);
    f.write_to(&stripped);
    let o = capsule(&ws, &["verify", stripped.to_str().unwrap(), "--profile", "integrity", "--json"]);
    assert!(codes(&json(&o)).contains(&"measurements-malformed".to_owned()), "{}", stdout(&o));
    // `--repetitions` sets the first count: 20, then 40, then the cap, 80.
    // Head's count starts again, as the baseline's fresh worktree does.
    std::fs::remove_file(ws.join("count")).unwrap();
    let o = capsule(&ws, &["bench", "--baseline", "HEAD", "--repetitions", "20", "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let c = json(&capsule(&ws, &["compare", &base, &head, "--json"]));
    assert_eq!(c["metrics"][0]["n_head"], 80, "{c}");
}

/// Worst cases: a command workload with several inputs (one series each)
/// under a policy that requires p95 and max: the summary, `inspect`,
/// `verify` and `compare` show the worst input and its figures; a policy
/// whose percentile needs more samples than the run takes is refused
/// before anything runs.
#[test]
fn worst_cases_are_first_class() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = workspace(tmp.path(), None);
    let mut policy: Value =
        serde_json::from_str(include_str!("../../crates/capsule/policies/standard-v1.json")).unwrap();
    policy["id"] = "worst-case-test".into();
    policy["measurement"]["min_repetitions"] = 20.into();
    policy["measurement"]["worst_case"] = serde_json::json!(["p95", "max"]);
    std::fs::write(ws.join("policy.json"), serde_json::to_string_pretty(&policy).unwrap()).unwrap();
    policy["id"] = "p99-test".into();
    policy["measurement"]["worst_case"] = serde_json::json!(["p99"]);
    std::fs::write(ws.join("p99.json"), serde_json::to_string_pretty(&policy).unwrap()).unwrap();
    let manifest = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    let blocks = r#"
[workspace.metadata.capsule]
policy = "policy.json"

[[workspace.metadata.capsule.workloads]]
kind = "command"
id = "blocks"
args = ["sh", "block.sh"]
cases = [{ id = "small", args = ["1"] }, { id = "worst_block", args = ["9"] }, { id = "medium", args = ["4"] }]
"#;
    std::fs::write(ws.join("Cargo.toml"), manifest + blocks).unwrap();
    std::fs::write(ws.join("block.sh"), "sleep 0.00$1\necho \"block $1\"\n").unwrap();
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-qm", "a workload with three inputs"]);
    let o = capsule(&ws, &["bench", "--out", "blocks.tgz"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("worst case   worst_block (wall_ns): p95 "), "{out}");
    assert!(out.contains(", max "), "{out}");
    // One series per input, in configured order.
    let r = json(&capsule(&ws, &["verify", "blocks.tgz", "--policy", "policy.json", "--json"]));
    assert_eq!(r["verdict"], "accepted", "{r}");
    let names: Vec<&str> = r["values"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    for want in ["small.wall_ns.median", "worst_block.wall_ns.p95", "worst_block.wall_ns.max", "medium.wall_ns.p95"] {
        assert!(names.contains(&want), "{want}: {names:?}");
    }
    let i = stdout(&capsule(&ws, &["inspect", "blocks.tgz"]));
    assert!(i.contains("worst case: worst_block (wall_ns): p95 ") && i.contains("(by p95)"), "{i}");
    let c = capsule(&ws, &["compare", "blocks.tgz", "blocks.tgz", "--policy", "policy.json"]);
    assert!(
        stdout(&c).contains("worst case   Worst case (p95 of wall_ns, base → head): worst_block: p95 "),
        "{}",
        stdout(&c)
    );
    let cj = json(&capsule(&ws, &["compare", "blocks.tgz", "blocks.tgz", "--policy", "policy.json", "--json"]));
    assert_eq!(cj["worst_case"]["series"], "worst_block", "{cj}");
    assert_eq!(cj["worst_case"]["values"][0]["statistic"], "p95", "{cj}");
    let md = stdout(&capsule(&ws, &["compare", "blocks.tgz", "blocks.tgz", "--policy", "policy.json", "--markdown"]));
    assert!(md.contains("Worst case (p95 of wall\\_ns, base → head): worst\\_block: p95 "), "{md}");
    // p99 needs 100 measured samples; the policy's 20 are refused up front.
    let m = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap().replace("\"policy.json\"", "\"p99.json\"");
    std::fs::write(ws.join("Cargo.toml"), m).unwrap();
    let o = capsule(&ws, &["bench", "--out", "p99.tgz"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("worst-case statistic p99") && stderr(&o).contains("at least 100"), "{}", stderr(&o));
    assert!(!ws.join("p99.tgz").exists());
}

/// Whether `gungraun-runner` and `valgrind` are installed (`.ci/run`
/// installs both; on CI their absence fails the test).
fn gungraun_tools() -> bool {
    let has = |tool: &str| Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    let found = has("gungraun-runner") && has("valgrind");
    assert!(found || std::env::var_os("CI").is_none(), "CI installs gungraun-runner and valgrind in .ci/run");
    found
}

/// A gungraun workload (`fixtures/counts`): each benchmark's callgrind
/// counts, instructions first, are one sample per run of the bench
/// executable, sealed under `instructions-v1`; a pull request that doubles
/// one function's loop is called higher on that one only, at the first
/// look (counts do not vary), and the packs verify. A policy that measures
/// time is refused before anything runs, and a missing runner names the
/// command that installs it.
#[test]
fn gungraun_counts_are_receipts_paired_and_compared() {
    if !gungraun_tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ws = workspace(tmp.path(), Some(&root().join("fixtures/counts")));
    // The build is shared with other runs of this fixture.
    let target = root().join("target/fixture-workspace");
    let out = tmp.path().join("packs");
    let out_dir = out.to_str().unwrap();
    let o = capsule_with_target(&ws, &target, &["bench", "--out-dir", out_dir, "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let pack = out.join("counts.tgz").display().to_string();
    let inspected = json(&capsule(&ws, &["inspect", &pack, "--json"]));
    assert_eq!(inspected["policy"]["id"], "capsulebench-instructions", "{inspected}");
    let series = inspected["measurements"]["series"].as_array().unwrap();
    let ids: Vec<&str> = series.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["counts::counts::bench_checksum.small", "counts::counts::bench_sum_squares.small"]);
    for s in series {
        assert_eq!(
            (s["class"].clone(), s["metrics"][0].clone()),
            (Value::from("harness-reported"), Value::from("instructions_count"))
        );
        let samples = s["samples"].as_array().unwrap();
        assert_eq!(samples.len(), 5, "{s}");
        assert!(samples.iter().all(|x| x["values"] == samples[0]["values"]), "counts are the same every run: {s}");
        assert!(samples[0]["values"][0].as_u64().unwrap() > 1000, "{s}");
    }
    assert_eq!(verify_policy(&ws, &pack)["verdict"], "accepted");
    // Head doubles checksum's loop.
    let lib = std::fs::read_to_string(ws.join("src/lib.rs")).unwrap();
    std::fs::write(ws.join("src/lib.rs"), lib.replace("for i in 0..n {", "for i in 0..2 * n {")).unwrap();
    git(&ws, &["commit", "-qam", "checksum does twice the work"]);
    let o = capsule_with_target(&ws, &target, &["bench", "--baseline", "HEAD~1", "--out-dir", out_dir, "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let base = out.join("counts-base.tgz").display().to_string();
    let c = json(&capsule(&ws, &["compare", &base, &pack, "--json"]));
    assert_eq!((c["verdict"].clone(), c["looks"].clone()), (Value::from("slower"), Value::from(3)), "{c}");
    let primary: Vec<&Value> =
        c["metrics"].as_array().unwrap().iter().filter(|m| m["metric"] == "instructions_count").collect();
    let verdicts: Vec<(&str, &str, u64)> = primary
        .iter()
        .map(|m| (m["series"].as_str().unwrap(), m["verdict"].as_str().unwrap(), m["n_head"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("counts::counts::bench_checksum.small", "slower", 10),
            ("counts::counts::bench_sum_squares.small", "no-change", 10)
        ],
        "{c}"
    );
    // The interval of a count that does not vary is the shift itself.
    assert_eq!(primary[0]["ci"][0], primary[0]["ci"][1], "{c}");
    for p in [&base, &pack] {
        assert_eq!(verify_policy(&ws, p)["verdict"], "accepted");
    }
    // Counts under a policy that measures time: refused before running.
    let manifest = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    std::fs::write(ws.join("Cargo.toml"), format!("{manifest}policy = \"standard-v1\"\n")).unwrap();
    let o = capsule_with_target(&ws, &target, &["bench", "--out-dir", out_dir, "--quiet"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("leave its `policy` unset for `instructions-v1`"), "{}", stderr(&o));
    std::fs::write(ws.join("Cargo.toml"), manifest).unwrap();
    // No runner on PATH (cargo, rustc, git and valgrind still are).
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["cargo", "rustc"] {
        let o = Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().unwrap();
        std::os::unix::fs::symlink(String::from_utf8(o.stdout).unwrap().trim(), bin.join(tool)).unwrap();
    }
    let o = Command::new(env!("CARGO_BIN_EXE_cargo-capsule"))
        .args(["capsule", "bench", "--out-dir", out_dir, "--quiet"])
        .current_dir(&ws)
        .env("CARGO_TARGET_DIR", &target)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("`gungraun-runner` is not installed"), "{}", stderr(&o));
    assert!(stderr(&o).contains("cargo install gungraun-runner --version"), "{}", stderr(&o));
}
