//! The trust claims, attacked as a forger would, against the real binary.
//! Each test takes an honest pack apart, edits what a claim guards,
//! reseals it (`capsule_testkit::forge`: every hash reachable from the
//! pack's own data recomputed, so integrity passes) or feeds hostile bytes,
//! and asserts what `verify` (and `compare`, `audit`) answer: never a
//! crash, never a class the verifier did not earn.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use capsule_testkit::forge::Forged;
use serde_json::{Value, json};

use super::bench::{capsule, stderr};
use super::prove::{proving_workspace, value};
use super::{GOLDEN, codes, json, root, run, stdout};

/// Bytes of the STARK artifact header before winterfell's proof.
const ARTIFACT_HEADER: usize = 36;

/// A workspace with an honest STARK pack (1024 states) at `s.tgz`.
fn stark_pack(tmp: &Path) -> (PathBuf, Forged) {
    let ws = proving_workspace(tmp);
    let o = capsule(&ws, &["bench", "--workload", "stark", "--out", "s.tgz", "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let forged = Forged::open(&ws.join("s.tgz"));
    (ws, forged)
}

fn proof_member(f: &Forged) -> Vec<u8> {
    f.members[f.capsule["proof"]["member"].as_str().unwrap()].clone()
}

fn verify_json(ws: &Path, pack: &str, extra: &[&str]) -> (Option<i32>, Value, String) {
    let mut args = vec!["verify", pack, "--json"];
    args.extend(extra);
    let o = capsule(ws, &args);
    (o.status.code(), json(&o), stderr(&o))
}

/// Re-proves the (free) MiMC chain for the forged statement, as anyone
/// can, for every repetition with its own nonce: the proofs then verify
/// for exactly that statement hash.
fn reprove(f: &mut Forged) {
    for (nonce, member) in f.proof_members().iter().enumerate() {
        let params = capsule_stark::StarkParams::default();
        let proof = capsule_stark::prove(&f.statement_hash(), nonce as u64, 7, 1024, &params).unwrap();
        f.replace_member_proof(member, proof);
    }
}

fn edit_statement(f: &mut Forged, edit: impl FnOnce(&mut Value)) {
    let old = f.proof_digest().unwrap_or(capsule::digest::Digest::ZERO);
    let mut st = f.json("statement.json");
    edit(&mut st);
    f.set_json("statement.json", &st);
    f.reseal("statement.json", old);
}

/// Winterfell asserts on these context values when it parses a proof; the
/// verifier must answer each with a finding, never a panic (exit 101).
#[test]
fn hostile_proof_bytes_are_findings_not_crashes() {
    let tmp = tempfile::tempdir().unwrap();
    let (ws, honest) = stark_pack(tmp.path());
    let proof = proof_member(&honest);
    // Offsets into winterfell's context: trace info (main width, aux
    // width, aux random elements, log2 of the trace length, meta), field
    // modulus (length byte, 8 bytes), options (queries, blowup, grinding).
    let edits: [(&str, usize, u8); 5] = [
        ("a trace-length exponent of 64", 3, 64),
        ("auxiliary random elements without auxiliary columns", 2, 1),
        ("a grinding factor of 33", 17, 33),
        ("a declared trace-meta length of 65535", 4, 0xff),
        ("another number of queries", 15, 200),
    ];
    let mut cases: Vec<(String, Vec<u8>)> = edits
        .iter()
        .map(|(what, at, v)| {
            let mut p = proof.clone();
            p[ARTIFACT_HEADER + at] = *v;
            (what.to_string(), p)
        })
        .collect();
    cases.push(("the proof cut after its context".to_owned(), proof[..ARTIFACT_HEADER + 40].to_vec()));
    cases.push(("a trailing byte".to_owned(), [proof.as_slice(), &[0]].concat()));
    for (i, (what, bytes)) in cases.into_iter().enumerate() {
        let mut f = honest.clone();
        f.replace_proof(bytes);
        let name = format!("forged-{i}.tgz");
        f.write_to(&ws.join(&name));
        let (code, r, err) = verify_json(&ws, &name, &[]);
        assert_eq!(code, Some(1), "{what}: {r} {err}");
        assert_eq!(codes(&r), ["proof-invalid"], "{what}");
        assert!(!err.contains("panicked"), "{what}: {err}");
        let o = capsule(&ws, &["compare", "s.tgz", &name]);
        assert_eq!(o.status.code(), Some(1), "{what}: compare: {}{}", stdout(&o), stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{what}: {}", stderr(&o));
    }
}

/// "proven" is what the backend's proof establishes, for a workload the
/// backend proves, under the reader's pins.
#[test]
fn proven_means_proven_by_the_backend_that_checked_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (ws, honest) = stark_pack(tmp.path());

    // The honest pack: the chain's workload, seed, length and result are
    // proven; the track is the runner's word.
    let (code, r, _) = verify_json(&ws, "s.tgz", &[]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(value(&r, "workload_id")["value"], "stark_mimc7_v1");
    for name in ["workload_id", "parameters.seed", "parameters.trace_length", "result_digest"] {
        assert_eq!(value(&r, name)["class"], "proven", "{name}");
    }
    assert_eq!(value(&r, "track")["class"], "measured");
    assert_eq!(value(&r, "proof.security_bits")["class"], "recomputed");

    // Relabelled as another workload and re-proved for the new statement:
    // the built-in backend does not prove that workload, with or without a
    // reader's pin for it.
    let mut f = honest.clone();
    edit_statement(&mut f, |st| st["public_inputs"]["workload_id"] = json!("sp1_keccak256_1MiB"));
    reprove(&mut f);
    f.write_to(&ws.join("relabelled.tgz"));
    let pin = format!("sp1_keccak256_1MiB={}", "ab".repeat(32));
    for extra in [vec![], vec!["--pin-program", pin.as_str()]] {
        let (code, r, _) = verify_json(&ws, "relabelled.tgz", &extra);
        assert_eq!(code, Some(1), "{extra:?}: {r}");
        assert_eq!(codes(&r), ["proof-workload-unserved"], "{extra:?}");
    }

    // A reader who pinned the workload to another program is not bypassed
    // by a pack naming the built-in backend.
    let other = format!("stark_mimc7_v1={}", "00".repeat(32));
    let (code, r, _) = verify_json(&ws, "s.tgz", &["--pin-program", &other]);
    assert_eq!(code, Some(1), "{r}");
    assert_eq!(codes(&r), ["proof-program-mismatch"]);
    let own = format!("stark_mimc7_v1={}", capsule_stark::program_id());
    let (code, r, _) = verify_json(&ws, "s.tgz", &["--pin-program", &own]);
    assert_eq!(code, Some(0), "{r}");

    // Another track, re-proved: accepted (the policy defines it), and
    // never reported as proven.
    let mut f = honest.clone();
    edit_statement(&mut f, |st| st["track"] = json!("optimized_declared"));
    reprove(&mut f);
    f.write_to(&ws.join("retracked.tgz"));
    let (code, r, _) = verify_json(&ws, "retracked.tgz", &[]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(value(&r, "track")["value"], "optimized_declared");
    assert_eq!(value(&r, "track")["class"], "measured");
    assert!(value(&r, "track")["note"].as_str().unwrap().contains("does not establish"));
}

/// A row count is an input the trace root binds: without the rows in the
/// pack it is not a value the verifier recomputed.
#[test]
fn trace_rows_the_verifier_never_saw_are_not_recomputed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut f = Forged::open(&root().join(GOLDEN));
    let width = f.capsule["commitment"]["row_width"].as_u64().unwrap();
    let chunk_len = (1u64 << 28) / width;
    let rows = 1u64 << 40;
    let chunks = rows.div_ceil(chunk_len);
    f.members.remove("rows/rows.bin");
    f.members.insert("rows/chunks.bin".to_owned(), (0..chunks * 32).map(|i| (i * 131 % 251) as u8).collect());
    f.capsule["commitment"]["row_count"] = json!(rows);
    f.capsule["commitment"]["chunk_len"] = json!(chunk_len);
    f.capsule["commitment"]["chunk_count"] = json!(chunks);
    f.reseal("rows/chunks.bin", capsule::digest::Digest::ZERO);
    let pack = tmp.path().join("rows.tgz");
    f.write_to(&pack);
    let o = run(&["verify", pack.to_str().unwrap(), "--json"]);
    let r = json(&o);
    assert_eq!(o.status.code(), Some(0), "{r}");
    let rows_value = value(&r, "trace_rows");
    assert_eq!(rows_value["value"], rows);
    assert_eq!(rows_value["class"], "measured", "{rows_value}");
    assert_eq!(rows_value["note"], "bound by the trace root; rows not seen");

    // With the rows in the pack, the verifier recommitted them itself.
    let r = json(&run(&["verify", GOLDEN, "--json"]));
    assert_eq!(value(&r, "trace_rows")["class"], "recomputed");
}

/// Runs `cmd` and kills it if it has not finished in `limit`.
fn output_within(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            panic!("still running after {limit:?}: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The row archive is the prover's: a FIFO must not hang the auditor, a
/// symbolic link must not be followed.
#[test]
fn the_row_archive_is_hostile_input() {
    let tmp = tempfile::tempdir().unwrap();
    let pack = root().join(GOLDEN);
    let pack = pack.to_str().unwrap();
    let fresh = |name: &str| {
        let dir = tmp.path().join(name);
        let o = run(&["archive", pack, "--out", dir.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
        dir
    };
    let mkfifo = |path: &Path| {
        std::fs::remove_file(path).unwrap();
        assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
    };
    let symlink = |path: &Path, to: &Path| {
        std::fs::remove_file(path).unwrap();
        std::os::unix::fs::symlink(to, path).unwrap();
    };
    let dir = fresh("fifo-rows");
    mkfifo(&dir.join("rows.bin"));
    let dir = fresh("fifo-description");
    mkfifo(&dir.join("archive.json"));
    let dir = fresh("link-rows");
    symlink(&dir.join("rows.bin"), Path::new("/etc/passwd"));
    // A link to a faithful copy: the content would pass, the link must not.
    let dir = fresh("link-description");
    std::fs::copy(dir.join("archive.json"), tmp.path().join("elsewhere.json")).unwrap();
    symlink(&dir.join("archive.json"), &tmp.path().join("elsewhere.json"));
    for name in ["fifo-rows", "fifo-description", "link-rows", "link-description"] {
        let dir = tmp.path().join(name);
        for args in [
            vec!["audit", pack, "--archive", dir.to_str().unwrap(), "--samples", "4", "--json"],
            vec!["verify", pack, "--profile", "audited", "--archive", dir.to_str().unwrap(), "--json"],
        ] {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-capsule"));
            cmd.arg("capsule").args(&args).current_dir(root());
            let o = output_within(cmd, Duration::from_secs(60));
            assert_eq!(o.status.code(), Some(1), "{name} {args:?}: {}{}", stdout(&o), stderr(&o));
            let text = stdout(&o);
            assert!(text.contains("not a regular file") || text.contains("symbolic link"), "{name} {args:?}: {text}");
            assert!(!text.contains("root:"), "{name}: the link was followed");
        }
    }
    // The untouched archive still audits.
    let dir = fresh("honest");
    let o = run(&["audit", pack, "--archive", dir.to_str().unwrap(), "--samples", "4"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

/// Bidirectional overrides and invisible characters from a pack reach
/// neither the terminal nor the pull-request Markdown as themselves.
#[test]
fn pack_text_cannot_disguise_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let mut f = Forged::open(&root().join(GOLDEN));
    let hostile = "merkle\u{202e}1v_nepo\u{2066}\u{200b}\u{feff}";
    let old = capsule::digest::Digest::ZERO;
    let mut st = f.json("statement.json");
    st["public_inputs"]["workload_id"] = json!(hostile);
    f.set_json("statement.json", &st);
    f.reseal("statement.json", old);
    let pack = tmp.path().join("bidi.tgz");
    f.write_to(&pack);
    let pack = pack.to_str().unwrap();
    let deceptive = ['\u{202e}', '\u{2066}', '\u{200b}', '\u{feff}'];
    for args in [
        vec!["verify", pack],
        vec!["verify", pack, "--json"],
        vec!["inspect", pack],
        vec!["compare", pack, pack, "--markdown"],
        vec!["compare", pack, pack],
    ] {
        let o = run(&args);
        let text = stdout(&o);
        assert!(!text.contains(deceptive), "{args:?}: {text:?}");
        assert!(text.contains("202e"), "{args:?}: the character is shown escaped: {text}");
    }
    let r = json(&run(&["verify", pack, "--json"]));
    assert_eq!(value(&r, "workload_id")["value"], hostile, "JSON escapes decode to the pack's own text");
}

/// The runner knows the flags a workload is built with, from every source
/// cargo reads, and the processes it starts get exactly those.
#[test]
fn build_flags_from_every_source_are_recorded_and_enforced() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = super::bench::echo_workspace(tmp.path());
    let rustc = Command::new("rustc").arg("-vV").output().unwrap();
    let host = String::from_utf8(rustc.stdout).unwrap();
    let host = host.lines().find_map(|l| l.strip_prefix("host: ")).unwrap().to_owned();
    let per_target = format!("CARGO_TARGET_{}_RUSTFLAGS", host.to_uppercase().replace(['-', '.'], "_"));
    let cargo_home = tmp.path().join("cargo-home");
    std::fs::create_dir_all(&cargo_home).unwrap();
    std::fs::write(cargo_home.join("config.toml"), "[build]\nrustflags = [\"-Ctarget-cpu=native\"]\n").unwrap();
    let empty_home = tmp.path().join("empty-home");
    std::fs::create_dir_all(&empty_home).unwrap();
    // (source, environment, what the refusal names)
    type Case<'a> = (&'a str, Vec<(String, String)>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        ("per-target environment", vec![(per_target.clone(), "-Ctarget-cpu=native".into())], "target-cpu=native"),
        ("build environment", vec![("CARGO_BUILD_RUSTFLAGS".into(), "-Ctarget-feature=+avx2".into())], "+avx2"),
        ("encoded environment", vec![("CARGO_ENCODED_RUSTFLAGS".into(), "-Ctarget-cpu=native".into())], "target-cpu"),
        (
            "CARGO_HOME configuration",
            vec![("CARGO_HOME".into(), cargo_home.display().to_string())],
            "target-cpu=native",
        ),
        ("a rustc wrapper", vec![("RUSTC_WRAPPER".into(), "/bin/true".into())], "rustc-wrapper"),
        (
            "per-profile rustflags (unstable)",
            vec![("CARGO_UNSTABLE_PROFILE_RUSTFLAGS".into(), "true".into())],
            "per-profile rustflags",
        ),
    ];
    // `bench` with no flags from this test's own environment, then `env`.
    let bench = |args: &[&str], env: &[(String, String)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cargo-capsule"));
        c.args(["capsule", "bench", "--quiet", "--out", "x.tgz"]).args(args).current_dir(&ws);
        c.env("CARGO_HOME", &empty_home).env_remove("RUSTFLAGS").env_remove("CARGO_ENCODED_RUSTFLAGS");
        c.env("CARGO_TARGET_DIR", tmp.path().join("target"));
        c.envs(env.iter().map(|(k, v)| (k, v)));
        c.output().unwrap()
    };
    for (what, env, named) in cases {
        let o = bench(&[], &env);
        assert_eq!(o.status.code(), Some(3), "{what}: {}", stderr(&o));
        assert!(stderr(&o).contains("refusing to run on track `baseline_no_accel`"), "{what}: {}", stderr(&o));
        assert!(stderr(&o).contains(named), "{what}: {}", stderr(&o));
        assert!(!ws.join("x.tgz").exists(), "{what}");
    }

    // On a track that allows it, the flags are recorded, and a cargo the
    // workload runs would build with exactly them.
    let manifest = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    let probe = manifest.replace(
        "args = ['sh', '-c', 'test -z \"$GITHUB_TOKEN$SIGNING_KEY$ACTIONS_ID_TOKEN_REQUEST_TOKEN\" && echo 42']",
        "args = ['sh', '-c', 'test \"$CARGO_ENCODED_RUSTFLAGS\" = -Ctarget-cpu=native && echo 42']",
    );
    assert_ne!(probe, manifest);
    std::fs::write(ws.join("Cargo.toml"), probe).unwrap();
    let o = bench(&["--track", "optimized_declared"], &[(per_target.clone(), "-Ctarget-cpu=native".into())]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let f = Forged::open(&ws.join("x.tgz"));
    let toolchain = f.json("manifests/toolchain.json");
    assert_eq!(toolchain["rustflags"], json!(["-Ctarget-cpu=native"]));
    assert_eq!(toolchain["profile"], "none", "a command line is not built by the run");
}

/// Proofs are bound to the run that made them, and every repetition's
/// proof is checked: none can be brought from another run, left out,
/// fabricated or moved to another repetition.
#[test]
fn proofs_are_bound_to_their_run_and_every_repetition_is_verified() {
    let tmp = tempfile::tempdir().unwrap();
    let (ws, a) = stark_pack(tmp.path());
    let o = capsule(&ws, &["bench", "--workload", "stark", "--out", "t.tgz", "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let b = Forged::open(&ws.join("t.tgz"));
    let (code, r, _) = verify_json(&ws, "t.tgz", &[]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(value(&r, "proof.repetitions_verified")["value"], 12);
    // Two runs of the same workload at the same commit lock different
    // statements: each drew its own nonce.
    let nonce = |f: &Forged| f.json("statement.json")["anchors"]["run_nonce"].clone();
    assert!(nonce(&a).is_string() && nonce(&a) != nonce(&b));
    assert_ne!(a.statement_hash(), b.statement_hash());
    assert_eq!(b.proof_members().len(), 12, "every repetition's proof is packed");

    // Run A's proofs carried into run B's pack, every digest updated.
    let mut f = b.clone();
    for member in b.proof_members() {
        f.replace_member_proof(&member, a.members[&member].clone());
    }
    f.write_to(&ws.join("carried.tgz"));
    let (code, r, _) = verify_json(&ws, "carried.tgz", &[]);
    assert_eq!(code, Some(1), "{r}");
    assert_eq!(codes(&r), ["proof-invalid"]);

    // One repetition's proof left out (its sample still names it).
    let mut f = b.clone();
    let dropped = "proofs/rep-0004.bin";
    f.members.remove(dropped);
    f.reseal(dropped, capsule::digest::Digest::ZERO);
    f.write_to(&ws.join("dropped.tgz"));
    let (_, r, _) = verify_json(&ws, "dropped.tgz", &[]);
    assert_eq!(codes(&r), ["proof-not-from-run"], "{r}");

    // Two repetitions claiming each other's proofs (both valid for this
    // statement): each proof carries its repetition's nonce.
    let mut f = b.clone();
    let mut m = f.json("measurements.json");
    let samples = m["series"][0]["samples"].as_array_mut().unwrap();
    let d3 = samples[3]["proof_digest"].clone();
    samples[3]["proof_digest"] = samples[4]["proof_digest"].clone();
    samples[4]["proof_digest"] = d3;
    f.set_json("measurements.json", &m);
    f.reseal("measurements.json", capsule::digest::Digest::ZERO);
    f.write_to(&ws.join("swapped.tgz"));
    let (_, r, _) = verify_json(&ws, "swapped.tgz", &[]);
    assert_eq!(codes(&r), ["proof-invalid"], "{r}");
    assert!(r["findings"][0]["detail"].as_str().unwrap().contains("nonce"), "{r}");

    // A fabricated proof for one repetition (the rest honest).
    let mut f = b.clone();
    let mut bad = b.members["proofs/rep-0002.bin"].clone();
    let at = bad.len() - 9;
    bad[at] ^= 1;
    f.replace_member_proof("proofs/rep-0002.bin", bad);
    f.write_to(&ws.join("fabricated.tgz"));
    let (_, r, _) = verify_json(&ws, "fabricated.tgz", &[]);
    assert_eq!(codes(&r), ["proof-invalid"], "{r}");

    // A statement stripped of its run nonce, re-proved for every repetition.
    let mut f = b.clone();
    edit_statement(&mut f, |st| {
        st["anchors"].as_object_mut().unwrap().remove("run_nonce");
    });
    for (i, member) in b.proof_members().iter().enumerate() {
        let p = capsule_stark::prove(&f.statement_hash(), i as u64, 7, 1024, &capsule_stark::StarkParams::default());
        f.replace_member_proof(member, p.unwrap());
    }
    f.write_to(&ws.join("unbound.tgz"));
    let (_, r, _) = verify_json(&ws, "unbound.tgz", &[]);
    assert_eq!(codes(&r), ["proof-not-from-run"], "{r}");
}

/// The import policy asks for less (no machine anchors, one repetition),
/// so a measured pack relabelled to claim it, resealed so integrity holds,
/// must still be refused: it lacks the source anchor, and its series are
/// not imported.
#[test]
fn a_measured_pack_cannot_claim_the_import_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let mut f = Forged::open(&root().join(GOLDEN));
    let import = capsule::standard::standard_policy("import-v1").unwrap();
    let policy_member = capsule::objects::paths::POLICY;
    f.members
        .insert(policy_member.to_owned(), capsule_testkit::forge::jcs(&serde_json::to_value(&import.policy).unwrap()));
    let mut st = f.json(capsule::objects::paths::STATEMENT);
    st["track"] = "imported".into();
    f.set_json(capsule::objects::paths::STATEMENT, &st);
    let old = f.proof_digest().unwrap_or_default();
    f.reseal(policy_member, old);
    let pack = tmp.path().join("relabelled.tgz");
    f.write_to(&pack);
    let (code, r, _) = verify_json(tmp.path(), pack.to_str().unwrap(), &["--profile", "integrity"]);
    assert_eq!((code, r["verdict"].clone()), (Some(0), json!("accepted")), "the forgery is internally consistent: {r}");
    let (code, r, _) = verify_json(tmp.path(), pack.to_str().unwrap(), &[]);
    assert_eq!(code, Some(1), "{r}");
    assert_eq!(r["policy"]["pinned_by"], "standard:import-v1", "{r}");
    assert!(codes(&r).contains(&"policy-anchor-missing".to_owned()), "{r}");
}

/// The container manifest of `fixtures/vectors/objects.json`, as a run in
/// `image` would write it.
fn container_manifest(image: &str) -> Value {
    let vectors: Value =
        serde_json::from_slice(&std::fs::read(root().join("fixtures/vectors/objects.json")).unwrap()).unwrap();
    let case = vectors["cases"].as_array().unwrap().iter().find(|c| c["kind"] == "manifest:manifests/container.json");
    let mut m: Value = serde_json::from_str(case.unwrap()["canonical"].as_str().unwrap()).unwrap();
    m["image"] = image.into();
    m["image_digest"] = image.rsplit_once('@').map(|(_, d)| d).unwrap().into();
    m
}

const IMAGE_A: &str = "ghcr.io/o/bench@sha256:489b2e440e7299f65d9f86a6cef35b4576c92bdfabf6116735cfe3448c299aa3";
const IMAGE_B: &str = "ghcr.io/o/bench@sha256:0000000000000000000000000000000000000000000000000000000000000001";

/// The golden pack re-sealed as if it had run in a container: `manifest`
/// as `manifests/container.json` (none when `None`), `anchor` as the
/// `container_image_digest` anchor, under the shipped `policy`.
fn in_container(manifest: Option<Value>, anchor: Option<&str>, policy: &str) -> Forged {
    let mut f = Forged::open(&root().join(GOLDEN));
    if let Some(m) = manifest {
        f.set_json("manifests/container.json", &m);
    }
    let mut st = f.json("statement.json");
    match anchor {
        Some(a) => st["anchors"]["container_image_digest"] = a.into(),
        None => {
            st["anchors"].as_object_mut().unwrap().remove("container_image_digest");
        }
    }
    f.set_json("statement.json", &st);
    let policy: Value =
        serde_json::from_slice(&std::fs::read(root().join(format!("crates/capsule/policies/{policy}.json"))).unwrap())
            .unwrap();
    f.set_json("policy.json", &policy);
    f.reseal("statement.json", capsule::digest::Digest::ZERO);
    f
}

/// What a pack says about its container is bound and checked against the
/// pin; a policy that requires the image rejects a pack without one; and
/// what no verifier can check (that the image really ran) is reported as
/// the runner's word, never more.
#[test]
fn container_claims_are_bound_to_the_pin() {
    let tmp = tempfile::tempdir().unwrap();
    let digest = |i: &str| i.rsplit_once('@').unwrap().1.to_owned();
    let (a, b) = (digest(IMAGE_A), digest(IMAGE_B));
    let mut renamed = container_manifest(IMAGE_A);
    renamed["image"] = IMAGE_B.into();
    let mut unknown = container_manifest(IMAGE_A);
    unknown["verified_by_registry"] = true.into();
    // (case, manifest, anchor, policy, the finding it is rejected with)
    type Case<'a> = (&'a str, Option<Value>, Option<&'a str>, &'a str, Option<&'a str>);
    let cases: Vec<Case> = vec![
        ("honest", Some(container_manifest(IMAGE_A)), Some(&a), "container-v1", None),
        ("no image under container-v1", None, None, "container-v1", Some("policy-anchor-missing")),
        ("no image under standard-v1", None, None, "standard-v1", None),
        ("an image digest without its manifest", None, Some(&a), "standard-v1", Some("manifest-anchor-mismatch")),
        (
            "a manifest without the digest anchor",
            Some(container_manifest(IMAGE_A)),
            None,
            "standard-v1",
            Some("manifest-anchor-mismatch"),
        ),
        (
            "the anchor names another image",
            Some(container_manifest(IMAGE_A)),
            Some(&b),
            "container-v1",
            Some("manifest-anchor-mismatch"),
        ),
        (
            "the reference names another digest",
            Some(renamed),
            Some(&a),
            "container-v1",
            Some("manifest-anchor-mismatch"),
        ),
        ("an unknown field", Some(unknown), Some(&a), "container-v1", Some("object-malformed")),
    ];
    for (name, manifest, anchor, policy, rejected) in cases {
        let pack = tmp.path().join("c.tgz");
        in_container(manifest, anchor, policy).write_to(&pack);
        let o = run(&["verify", pack.to_str().unwrap(), "--json"]);
        let r = json(&o);
        match rejected {
            None => {
                assert_eq!(o.status.code(), Some(0), "{name}: {r}");
                if name == "honest" {
                    let image = value(&r, "container.image");
                    assert_eq!(image["value"], IMAGE_A, "{name}");
                    assert_eq!(image["class"], "measured", "{name}: the image running is the runner's word");
                    assert!(image["note"].as_str().unwrap().contains("the verifier pulls nothing"), "{image}");
                    let human = stdout(&run(&["inspect", pack.to_str().unwrap()]));
                    assert!(
                        human.contains(&format!("container    {IMAGE_A} (podman 4.3.1, runc 1.1.5+ds1; 1 CPU")),
                        "{human}"
                    );
                }
            }
            Some(code) => {
                assert_eq!(o.status.code(), Some(1), "{name}: {r}");
                let found = codes(&r);
                assert!(found.iter().any(|c| c == code), "{name}: {found:?}");
            }
        }
    }
}

/// Two packs from different images are different environments; compared
/// anyway, both images are named.
#[test]
fn packs_from_different_images_are_not_like_for_like() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (tmp.path().join("a.tgz"), tmp.path().join("b.tgz"), tmp.path().join("c.tgz"));
    let digest = |i: &str| i.rsplit_once('@').unwrap().1.to_owned();
    in_container(Some(container_manifest(IMAGE_A)), Some(&digest(IMAGE_A)), "container-v1").write_to(&a);
    in_container(Some(container_manifest(IMAGE_B)), Some(&digest(IMAGE_B)), "container-v1").write_to(&b);
    // The same image change, measured in another run.
    let mut other = in_container(Some(container_manifest(IMAGE_B)), Some(&digest(IMAGE_B)), "container-v1");
    other.capsule["run_id"] = "another-run".into();
    let events = String::from_utf8(other.members["events.jsonl"].clone()).unwrap();
    let relabelled: Vec<String> = events
        .lines()
        .map(|l| {
            let mut e: Value = serde_json::from_str(l).unwrap();
            e["run_id"] = "another-run".into();
            String::from_utf8(capsule_testkit::forge::jcs(&e)).unwrap()
        })
        .collect();
    other.members.insert("events.jsonl".to_owned(), (relabelled.join("\n") + "\n").into_bytes());
    other.reseal("events.jsonl", capsule::digest::Digest::ZERO);
    other.write_to(&c);
    let (a, b, c) = (a.to_str().unwrap(), b.to_str().unwrap(), c.to_str().unwrap());
    assert_eq!(run(&["verify", c]).status.code(), Some(0));
    let o = run(&["compare", a, c]);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    assert!(stderr(&o).contains("different environments (container)"), "{}", stderr(&o));
    // Within one paired run, a moved pin is the change under test:
    // compared, and said so.
    let o = run(&["compare", a, b, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json(&o)["environment_mismatch"], json!(["container"]));
    let o = run(&["compare", a, b, "--markdown"]);
    assert!(stdout(&o).contains("The change under test moved the pinned image"), "{}", stdout(&o));
    let o = run(&["compare", a, c, "--allow-env-mismatch", "--markdown"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let md = stdout(&o);
    assert!(md.contains("Container: base ghcr\\.io/o/bench&#64;sha256:489b2e44"), "{md}");
    assert!(md.contains("head ghcr\\.io/o/bench&#64;sha256:00000000"), "{md}");
    let o = run(&["compare", a, a, "--json"]);
    assert_eq!(json(&o)["containers"], json!([IMAGE_A, IMAGE_A]));
}

/// A policy that fixes the container's limits (a standard box) rejects a
/// pack whose container had others, or that ran in none, however it was
/// resealed.
#[test]
fn a_policy_that_fixes_container_limits_holds_packs_to_them() {
    let tmp = tempfile::tempdir().unwrap();
    let mut policy: Value =
        serde_json::from_slice(&std::fs::read(root().join("crates/capsule/policies/container-v1.json")).unwrap())
            .unwrap();
    policy["id"] = "box".into();
    policy["container_limits"] = container_manifest(IMAGE_A)["limits_requested"].clone();
    let policy_file = tmp.path().join("box.json");
    std::fs::write(&policy_file, capsule_testkit::forge::jcs(&policy)).unwrap();
    let digest = IMAGE_A.rsplit_once('@').unwrap().1;
    let mut more_memory = container_manifest(IMAGE_A);
    more_memory["limits_requested"]["memory_bytes"] = (512u64 << 20).into();
    more_memory["limits_requested"]["memory_swap_bytes"] = (512u64 << 20).into();
    for (name, manifest, anchor, rejected) in [
        ("the policy's limits", Some(container_manifest(IMAGE_A)), Some(digest), None),
        ("more memory", Some(more_memory), Some(digest), Some("policy-container-limits")),
        ("no container", None, None, Some("policy-container-limits")),
    ] {
        let mut f = in_container(manifest, anchor, "container-v1");
        f.set_json("policy.json", &policy);
        f.reseal("policy.json", capsule::digest::Digest::ZERO);
        let pack = tmp.path().join("box.tgz");
        f.write_to(&pack);
        let o = run(&["verify", pack.to_str().unwrap(), "--policy", policy_file.to_str().unwrap(), "--json"]);
        let r = json(&o);
        match rejected {
            None => assert_eq!(o.status.code(), Some(0), "{name}: {r}"),
            Some(code) => {
                assert_eq!(o.status.code(), Some(1), "{name}: {r}");
                assert!(codes(&r).iter().any(|c| c == code), "{name}: {:?}", codes(&r));
            }
        }
    }
}
