//! End-to-end tests of the built `cargo-capsule` binary: exit codes, reports,
//! snapshots of the human output, and every hostile pack under
//! `fixtures/hostile/` (rejected with its code, in bounded memory, writing
//! nothing outside the target directory).

#![expect(clippy::unwrap_used, reason = "a test fails loudly on a broken fixture")]

mod attacks;
mod bench;
mod board;
mod container;
mod github;
mod install;
mod keyless;
mod prove;
mod stream;
mod trust;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cargo-capsule"));
    c.arg("capsule");
    c.current_dir(root());
    c
}

/// Tests that measure (paired runs, criterion) or load the machine take
/// this lock, so no two of them run at once: a measuring test's verdicts
/// then see only the lighter tests beside it.
static MEASURING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes [`MEASURING`] (a test that failed while holding it does not
/// poison the others).
fn measuring() -> std::sync::MutexGuard<'static, ()> {
    MEASURING.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

fn codes(report: &Value) -> Vec<String> {
    report["findings"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap().to_owned()).collect()
}

const GOLDEN: &str = "fixtures/golden/sample.tgz";

fn golden_hash() -> String {
    std::fs::read_to_string(root().join("fixtures/golden/sample.capsule-hash")).unwrap().trim().to_owned()
}

#[test]
fn verify_golden_human_output() {
    let o = run(&["verify", GOLDEN]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    insta::assert_snapshot!("verify_golden", stdout(&o));
}

#[test]
fn verify_golden_json_report() {
    let o = run(&["verify", GOLDEN, "--json", "--expect-capsule", &golden_hash()]);
    assert_eq!(o.status.code(), Some(0));
    let r = json(&o);
    assert_eq!(r["schema"], "capsulebench/verify-report/v1");
    assert_eq!(r["verdict"], "accepted");
    assert_eq!(r["passed"], serde_json::json!(["integrity", "policy"]));
    assert_eq!(r["proof"], "committed-not-proven");
    assert_eq!(r["policy"]["pinned_by"], "standard:standard-v1");
    for v in r["values"].as_array().unwrap() {
        assert!(v["class"].is_string(), "every value carries a class: {v}");
    }
}

/// Every command takes `--message-format json` (or `--json`) and prints one
/// JSON document: its own object, or the lines it reports; `--color`
/// colours only the verdict words the tool writes.
#[test]
fn one_message_format_and_color_on_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let into = tmp.path().join("unpacked");
    let policy = root().join("crates/capsule/policies/standard-v1.json");
    let key = tmp.path().join("signing");
    for (args, schema) in [
        (vec!["verify", GOLDEN], "capsulebench/verify-report/v1"),
        (vec!["compare", GOLDEN, GOLDEN], "capsulebench/comparison/v2"),
        (vec!["policy", "hash", policy.to_str().unwrap()], "capsulebench/policy-hash/v1"),
        (vec!["unpack", GOLDEN, "--into", into.to_str().unwrap()], "capsulebench/messages/v1"),
        (vec!["keygen", "--out", key.to_str().unwrap()], "capsulebench/messages/v1"),
    ] {
        for flag in [&["--message-format", "json"][..], &["--json"][..]] {
            let _ = std::fs::remove_dir_all(&into);
            let _ = std::fs::remove_file(key.with_extension("key"));
            let _ = std::fs::remove_file(key.with_extension("pub"));
            let o = run(&[&args[..], flag].concat());
            assert_eq!(o.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
            let v = json(&o);
            assert_eq!(v["schema"], schema, "{args:?} {flag:?}: {v}");
        }
    }
    // inspect and replay print their objects.
    assert!(json(&run(&["inspect", GOLDEN, "--message-format", "json"]))["capsule"].is_object());
    assert_eq!(json(&run(&["replay", GOLDEN, "--message-format", "json"]))["chain"], "ok");
    // `--markdown` chooses the output too.
    let o = run(&["compare", GOLDEN, GOLDEN, "--markdown", "--json"]);
    assert_eq!(o.status.code(), Some(2));
    // A command that fails prints the error document (and the error, as
    // text, on standard error).
    let missing = tmp.path().join("missing.tgz");
    let o = run(&["verify", missing.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(3));
    let v = json(&o);
    assert_eq!(
        (v["schema"].clone(), v["exit_code"].clone()),
        (Value::from("capsulebench/error/v1"), Value::from(3)),
        "{v}"
    );
    assert!(v["error"].as_str().is_some_and(|e| e.contains("missing.tgz")), "{v}");
    assert!(v["causes"].as_array().is_some_and(|c| !c.is_empty()), "{v}");
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("error: "), "{o:?}");
    // Colour: only the verdict, and never when asked not to.
    let o = run(&["verify", GOLDEN, "--color", "always"]);
    let out = stdout(&o);
    assert!(out.contains("verdict      \u{1b}[32mACCEPTED\u{1b}[0m at profile"), "{out}");
    assert_eq!(out.matches('\u{1b}').count(), 2, "{out}");
    for args in [&["verify", GOLDEN, "--color", "never"][..], &["verify", GOLDEN][..]] {
        assert!(!stdout(&run(args)).contains('\u{1b}'), "{args:?}");
    }
    let o = bin().args(["verify", GOLDEN, "--color", "always", "--expect-capsule", "sha256:00"]).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("\u{1b}[1;31merror\u{1b}[0m: "), "{o:?}");
}

#[test]
fn inspect_and_replay_golden() {
    let o = run(&["inspect", GOLDEN]);
    assert_eq!(o.status.code(), Some(0));
    insta::assert_snapshot!("inspect_golden", stdout(&o));
    let o = run(&["replay", GOLDEN]);
    assert_eq!(o.status.code(), Some(0));
    insta::assert_snapshot!("replay_golden", stdout(&o));
    let o = run(&["replay", GOLDEN, "--json"]);
    let r = json(&o);
    assert_eq!(r["chain"], "ok");
    assert_eq!(r["head"], r["sealed_head"]);
}

#[test]
fn exit_codes() {
    let zero = format!("sha256:{}", "0".repeat(64));
    for (args, code, finding) in [
        (vec!["verify", GOLDEN, "--expect-capsule", zero.as_str(), "--json"], 1, Some("capsule-hash-unexpected")),
        (vec!["verify", GOLDEN, "--profile", "certified", "--json"], 1, Some("acl-missing")),
        (vec!["verify", GOLDEN, "--profile", "audited", "--json"], 1, Some("audit-archive-missing")),
        (vec!["verify", GOLDEN, "--acl", "no/such/acl.json"], 3, None),
        (vec!["verify", GOLDEN, "--registry-root", "nope"], 3, None),
        (vec!["verify", GOLDEN, "--trusted-root", "README.md"], 3, None),
        (vec!["verify", GOLDEN, "--seed", "xyz", "--archive", "."], 2, None),
        (vec!["sign", GOLDEN], 2, None),
        (vec!["audit", GOLDEN, "--archive", ".", "--samples", "0"], 2, None),
        (vec!["audit", GOLDEN, "--archive", ".", "--withheld-fraction", "99999999999999"], 2, None),
        (vec!["sign", GOLDEN, "--key-env", "CAPSULE_TEST_NO_SUCH_VARIABLE"], 3, None),
        (vec!["verify", GOLDEN, "--profile", "integrity", "--json"], 0, None),
        (vec!["verify", "no/such/pack.tgz"], 3, None),
        (vec!["verify", GOLDEN, "--expect-capsule", "abc"], 3, None),
        (vec!["verify", GOLDEN, "--policy", "no/such/policy.json"], 3, None),
        (vec!["verify"], 2, None),
        (vec!["verify", GOLDEN, "--profile", "sometimes"], 2, None),
        (vec!["frobnicate"], 2, None),
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
        if let Some(f) = finding {
            assert!(codes(&json(&o)).contains(&f.to_owned()), "{args:?}");
        }
        if code == 3 {
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.starts_with("error: "), "errors are rendered once: {err}");
        }
    }
}

/// A pack under a policy that is not shipped: self-chosen until the verifier
/// names it.
#[test]
fn custom_policy_must_be_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let mut policy = capsule::standard::standard_policy("standard-v1").unwrap().policy.clone();
    policy.id = "acme-internal".to_owned();
    policy.description = "Acme's policy".to_owned();
    let pinned = capsule::standard::PinnedPolicy::new(policy).unwrap();
    let policy_file = dir.path().join("acme.json");
    std::fs::write(&policy_file, serde_json::to_string_pretty(&pinned.policy).unwrap()).unwrap();
    let run_ = capsule::sample::SampleRun { rows: 50, policy: pinned.clone(), ..Default::default() };
    let pack = dir.path().join("acme.tgz");
    capsule::sample::build(&run_).unwrap().write_file(&pack).unwrap();
    let pack_s = pack.to_str().unwrap();
    let o = run(&["verify", pack_s, "--json"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(codes(&json(&o)), vec!["policy-self-chosen"]);
    let o = run(&["verify", pack_s, "--json", "--policy", policy_file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = run(&["policy", "hash", policy_file.to_str().unwrap()]);
    let hash = stdout(&o).split_whitespace().next().unwrap().to_owned();
    assert_eq!(hash, pinned.hash.to_string());
    let o = run(&["verify", pack_s, "--policy-hash", &hash]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("pinned by --policy-hash"));
}

/// Edits to the sealed event log are caught by `replay` and `verify`.
#[test]
fn replay_detects_event_edits() {
    use capsule::digest::{Tag, tagged};
    let golden = std::fs::read(root().join(GOLDEN)).unwrap();
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    capsule::pack::read_members::<_, capsule::pack::PackError, _>(&golden[..], &Default::default(), |m| {
        members.push((m.path.to_owned(), m.read_all()?));
        Ok(())
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Swap two event lines and fix the listing, as a careless forger would.
    let events = members.iter().position(|(p, _)| p == "events.jsonl").unwrap();
    let mut lines: Vec<Vec<u8>> = members[events].1.split_inclusive(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    lines.swap(3, 4);
    let edited = lines.concat();
    let mut capsule: Value = serde_json::from_slice(&members[0].1).unwrap();
    for m in capsule["members"].as_array_mut().unwrap() {
        if m["path"] == "events.jsonl" {
            m["digest"] = tagged(Tag::Member, &edited).to_string().into();
        }
    }
    members[0].1 = serde_jcs::to_vec(&capsule).unwrap();
    members[events].1 = edited;
    let pack = dir.path().join("edited.tgz");
    let mut w = capsule::pack::PackWriter::new(std::fs::File::create(&pack).unwrap());
    for (p, b) in &members {
        w.append_bytes(p, b).unwrap();
    }
    w.finish().unwrap();
    for cmd in ["replay", "verify"] {
        let o = run(&[cmd, pack.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{cmd}");
        assert!(stdout(&o).contains("events-chain-broken"), "{cmd}: {}", stdout(&o));
    }
}

#[test]
fn unpack_golden() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    let o = run(&["unpack", GOLDEN, "--into", dest.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dest.join("capsule.json").is_file());
    assert!(dest.join("rows/rows.bin").is_file());
    let o = run(&["unpack", GOLDEN, "--into", dest.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4), "an existing destination is refused");
}

fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn hostile_packs_are_rejected_safely() {
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("fixtures/hostile/cases.json")).unwrap()).unwrap();
    let cases = cases["cases"].as_array().unwrap();
    assert!(cases.len() >= 20, "at least 20 hostile packs");
    let sandbox = tempfile::tempdir().unwrap();
    let work = sandbox.path().join("work");
    std::fs::create_dir(&work).unwrap();
    // The verifier's own peak RSS: a child's `wait4` figure includes the
    // resident set of the process that started it (inherited at fork or
    // vfork, kept across exec), and this test process is large, so the
    // verifier is started by the small static timing shim (`capsule-shim
    // exec`), which reports the verifier's.
    let (shim, _) = capsule_runner::container::shim(&root().join("target/capsule-test-shim")).unwrap();
    let usage_dir = tempfile::tempdir().unwrap();
    let usage = usage_dir.path().join("verify.usage");
    for c in cases {
        let file = c["file"].as_str().unwrap();
        let want = c["code"].as_str().unwrap();
        let pack = root().join("fixtures/hostile").join(file);
        let extra: Vec<&str> = c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
        let mut args = vec!["verify", pack.to_str().unwrap(), "--json"];
        args.extend(&extra);
        let o = Command::new(&shim)
            .arg("exec")
            .arg(&usage)
            .arg(env!("CARGO_BIN_EXE_cargo-capsule"))
            .arg("capsule")
            .args(&args)
            .current_dir(&work)
            .output()
            .unwrap();
        let s = capsule_runner::container::read_usage(&usage).unwrap();
        assert_eq!(s.exit_code, Some(1), "{file}: {}", stdout(&o));
        assert!(s.peak_rss_bytes <= 256 << 20, "{file}: peak RSS {} MiB", s.peak_rss_bytes >> 20);
        let r: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(codes(&r), vec![want.to_owned()], "{file}");
        let detail = r["findings"][0]["detail"].as_str().unwrap();
        assert!(!detail.is_empty(), "{file}: a finding says what was found");

        let dest = work.join("out");
        let mut args = vec!["unpack", pack.to_str().unwrap(), "--into", dest.to_str().unwrap()];
        args.extend(&extra);
        let o = bin().args(&args).current_dir(&work).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{file}: unpack must refuse");
        assert!(stdout(&o).contains(want), "{file}: {}", stdout(&o));
        let left = tree(sandbox.path());
        assert_eq!(left, vec![work.clone()], "{file}: nothing may be written anywhere: {left:?}");
    }
    assert!(!Path::new("/tmp/capsule-escape.txt").exists());
}

/// The library-level extraction, without the integrity pre-check: even then
/// nothing lands outside the destination and a rejected pack leaves nothing.
#[test]
fn raw_unpack_of_hostile_packs_writes_nothing_outside() {
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("fixtures/hostile/cases.json")).unwrap()).unwrap();
    let sandbox = tempfile::tempdir().unwrap();
    for c in cases["cases"].as_array().unwrap() {
        let file = c["file"].as_str().unwrap();
        let pack = root().join("fixtures/hostile").join(file);
        let dest = sandbox.path().join("out");
        let limits = capsule::pack::Limits { max_total_bytes: 64 << 20, ..Default::default() };
        let res = capsule::pack::unpack(&pack, &dest, &limits);
        let left = tree(sandbox.path());
        match res {
            Err(_) => assert!(left.is_empty(), "{file}: a rejected unpack leaves nothing: {left:?}"),
            Ok(_) => {
                // Structurally valid packs (unlisted members, a signature,
                // wrong order) unpack, but only inside the destination.
                assert!(left.iter().all(|p| p.starts_with(&dest)), "{file}: {left:?}");
                std::fs::remove_dir_all(&dest).unwrap();
            }
        }
    }
}
