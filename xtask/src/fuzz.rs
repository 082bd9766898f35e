//! `cargo xtask fuzz`: coverage-guided fuzzing (cargo-fuzz, libFuzzer, the
//! nightly toolchain) of everything read from a pack, a proof or an
//! adapter. The targets live in `fuzz/` (a workspace of its own); this
//! builds them once, seeds each corpus from the golden and hostile
//! fixtures, a real STARK pack and proofs, the test vectors and every
//! regression input under `fixtures/fuzz/<target>/`, runs each target for
//! the time given, and prints executions and findings per target.
//!
//! Corpora grow in `target/fuzz/corpus/<target>/` across runs; a crash,
//! hang or out-of-memory input is written to
//! `target/fuzz/artifacts/<target>/`. Turn each into a regression input
//! under `fixtures/fuzz/<target>/` with a test that replays it.

use std::path::Path;
use std::process::Command;

use capsule::digest::{Digest, plain};
use capsule::objects::paths;
use serde_json::Value;

use crate::say;

/// Every target, in `fuzz/Cargo.toml`'s order.
pub(crate) const TARGETS: [&str; 7] = ["pack", "verify", "objects", "events", "stark", "compare", "adapter_protocol"];

/// The `objects` target's selector byte of each JSON member.
const OBJECT_SELECTORS: [(&str, u8); 12] = [
    (paths::CAPSULE, 0),
    (paths::STATEMENT, 1),
    (paths::TRACE_SPEC, 2),
    (paths::POLICY, 3),
    (paths::MEASUREMENTS, 4),
    ("manifests/hardware.json", 5),
    ("manifests/os.json", 6),
    ("manifests/toolchain.json", 7),
    ("manifests/git.json", 8),
    ("manifests/ci.json", 9),
    ("manifests/container.json", 10),
    (paths::EVENTS, 11),
];

fn err(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

fn nightly_cargo(root: &Path) -> Command {
    let mut c = Command::new("cargo");
    c.arg("+nightly").current_dir(root.join("fuzz"));
    c
}

/// Runs every target (or `only`) for `seconds` each; a `smoke` run (CI's)
/// builds unoptimized without a sanitizer, in a fraction of the time, to
/// show that the targets build and run their seeds and regressions (with
/// debug assertions and overflow checks on); a campaign builds optimized
/// with AddressSanitizer.
pub(crate) fn run(root: &Path, seconds: u64, only: Option<&str>, smoke: bool) -> Result<(), String> {
    let profile: &[&str] = if smoke { &["--dev", "--sanitizer", "none"] } else { &[] };
    let targets: Vec<&str> = match only {
        Some(t) if TARGETS.contains(&t) => vec![t],
        Some(t) => return Err(format!("no fuzz target `{t}`; targets: {}", TARGETS.join(", "))),
        None => TARGETS.to_vec(),
    };
    let version = nightly_cargo(root).args(["fuzz", "--version"]).output();
    if !version.is_ok_and(|o| o.status.success()) {
        return Err("`cargo +nightly fuzz` is not available: install the nightly toolchain \
                    (`rustup toolchain install nightly`) and cargo-fuzz (`cargo install cargo-fuzz --locked`)"
            .to_owned());
    }
    let work = root.join("target/fuzz");
    let seeds = work.join("seeds");
    write_seeds(root, &seeds)?;
    say(if smoke {
        "building the fuzz targets (nightly, unoptimized, no sanitizer: a smoke run)"
    } else {
        "building the fuzz targets (nightly, optimized, sanitizer: address)"
    });
    let status = nightly_cargo(root).args(["fuzz", "build"]).args(profile).status().map_err(err("cargo fuzz build"))?;
    if !status.success() {
        return Err(format!("`cargo +nightly fuzz build` failed ({status})"));
    }
    let mut findings = Vec::new();
    say(&format!("{:<18} {:>8} {:>12} {:>10}  finding", "target", "seconds", "executions", "per second"));
    for t in targets {
        let corpus = work.join("corpus").join(t);
        let artifacts = work.join("artifacts").join(t);
        let regressions = root.join("fixtures/fuzz").join(t);
        for d in [&corpus, &artifacts] {
            std::fs::create_dir_all(d).map_err(err("creating the fuzz directories"))?;
        }
        let mut c = nightly_cargo(root);
        c.args(["fuzz", "run"]).args(profile).arg(t).arg(&corpus).arg(seeds.join(t));
        if regressions.is_dir() {
            c.arg(&regressions);
        }
        c.arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg("-timeout=20")
            .arg("-rss_limit_mb=2560")
            .arg("-print_final_stats=1")
            .arg(format!("-artifact_prefix={}/", artifacts.display()));
        let started = std::time::Instant::now();
        let out = c.output().map_err(err("cargo fuzz run"))?;
        let elapsed = started.elapsed().as_secs_f64();
        let log = String::from_utf8_lossy(&out.stderr);
        let execs: u64 = log
            .lines()
            .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        let finding = if out.status.success() {
            "none".to_owned()
        } else {
            let artifact = log
                .lines()
                .find_map(|l| l.split_once("Test unit written to ").map(|(_, p)| p.trim().to_owned()))
                .unwrap_or_else(|| "no artifact written".to_owned());
            let kind = log
                .lines()
                .find(|l| {
                    l.contains("ERROR: libFuzzer") || l.contains("panicked at") || l.contains("ERROR: AddressSanitizer")
                })
                .unwrap_or("the target failed")
                .trim()
                .to_owned();
            let log_path = artifacts.join("last-run.log");
            std::fs::write(&log_path, log.as_bytes()).map_err(err("writing the run log"))?;
            findings.push(t.to_owned());
            format!("{kind} ({artifact}; log {})", log_path.display())
        };
        say(&format!("{t:<18} {elapsed:>8.0} {execs:>12} {:>10.0}  {finding}", execs as f64 / elapsed.max(1e-9)));
    }
    if findings.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "findings in {}: reproduce with `cargo +nightly fuzz run TARGET ARTIFACT` in fuzz/",
            findings.join(", ")
        ))
    }
}

/// Writes each target's seed corpus under `dir/<target>/`.
fn write_seeds(root: &Path, dir: &Path) -> Result<(), String> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(err("clearing the seeds"))?;
    }
    let mut seeds: Vec<(&str, String, Vec<u8>)> = Vec::new();
    let golden = std::fs::read(root.join("fixtures/golden/sample.tgz")).map_err(err("reading the golden pack"))?;
    let stark_pack = stark_pack()?;
    let mut packs = vec![("golden".to_owned(), golden.clone()), ("stark".to_owned(), stark_pack.clone())];
    let hostile = root.join("fixtures/hostile");
    for e in std::fs::read_dir(&hostile).map_err(err("reading fixtures/hostile"))? {
        let p = e.map_err(err("reading fixtures/hostile"))?.path();
        if p.extension().is_some_and(|x| x == "tgz") {
            let name = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            packs.push((format!("hostile-{name}"), std::fs::read(&p).map_err(err("reading a hostile pack"))?));
        }
    }
    for (name, bytes) in &packs {
        seeds.push(("pack", name.clone(), bytes.clone()));
        seeds.push(("verify", name.clone(), bytes.clone()));
    }
    let pair = |a: &[u8], b: &[u8]| [&(a.len() as u32).to_le_bytes()[..], a, b].concat();
    seeds.push(("compare", "golden-golden".into(), pair(&golden, &golden)));
    seeds.push(("compare", "stark-stark".into(), pair(&stark_pack, &stark_pack)));
    let samples: Vec<u8> = (0..40u64).flat_map(|i| (1_000_000 + i * 997 % 5000).to_le_bytes()).collect();
    seeds.push(("compare", "samples".into(), [b"S".as_slice(), &samples].concat()));
    for (pack_name, pack) in [("golden", &golden), ("stark", &stark_pack)] {
        capsule::pack::read_members::<_, capsule::pack::PackError, _>(&pack[..], &Default::default(), |m| {
            let bytes = m.read_all()?;
            if let Some((_, sel)) = OBJECT_SELECTORS.iter().find(|(p, _)| *p == m.path) {
                let name = format!("{pack_name}-{}", m.path.replace('/', "-"));
                seeds.push(("objects", name.clone(), [&[*sel][..], &bytes].concat()));
                if m.path == paths::EVENTS {
                    seeds.push(("events", name, bytes));
                }
            }
            Ok(())
        })
        .map_err(|e| format!("reading the {pack_name} pack: {e}"))?;
    }
    for e in std::fs::read_dir(root.join("fixtures/vectors")).map_err(err("reading fixtures/vectors"))? {
        let p = e.map_err(err("reading fixtures/vectors"))?.path();
        let name = p.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let bytes = std::fs::read(&p).map_err(err("reading a vector file"))?;
        seeds.push(("objects", format!("vectors-{name}"), [&[12u8][..], &bytes].concat()));
    }
    let stark: Value = serde_json::from_slice(
        &std::fs::read(root.join("fixtures/vectors/stark.json")).map_err(err("reading the STARK vectors"))?,
    )
    .map_err(|e| format!("fixtures/vectors/stark.json: {e}"))?;
    let lines: Vec<&str> = ["describe_reply_line", "execute_request_line"]
        .iter()
        .filter_map(|k| stark[*k].as_str())
        .chain([
            r#"{"method":"describe","protocol":"capsulebench/adapter-protocol/v1"}"#,
            r#"{"method":"shutdown"}"#,
            r#"{"error":{"message":"no"}}"#,
            r#"{"event":{"progress":{"phase":"proving","done":1,"total":2}}}"#,
        ])
        .collect();
    seeds.push(("adapter_protocol", "lines".into(), lines.join("\n").into_bytes()));
    let params = capsule_stark::StarkParams::default();
    for (nonce, len) in [(0u64, 256usize), (1, 64), (2, 1024)] {
        let proof = capsule_stark::prove(&plain(b"fuzz statement"), nonce, 1, len, &params)
            .map_err(|e| format!("proving a seed: {e}"))?;
        seeds.push(("stark", format!("proof-{len}"), proof));
    }
    for (target, name, bytes) in seeds {
        let d = dir.join(target);
        std::fs::create_dir_all(&d).map_err(err("creating a seed directory"))?;
        std::fs::write(d.join(name), bytes).map_err(err("writing a seed"))?;
    }
    Ok(())
}

/// A real pack with a STARK proof (256 states): its proof verifies for its
/// statement under the standard proof policy.
fn stark_pack() -> Result<Vec<u8>, String> {
    use capsule::objects::PublicInputsV1;
    use capsule::sample::{SampleRun, build};
    use capsule_adapter::TraceAdapter as _;
    let (seed, len) = (1u64, 256u64);
    let parameters = capsule_stark::Workload { seed, trace_length: len }.to_parameters();
    let mut adapter = capsule_stark::StarkAdapter::default();
    let execution = capsule_adapter::Execution {
        parameters: parameters.clone(),
        proof_params: Some(serde_json::json!(capsule_stark::StarkParams::default())),
    };
    adapter.execute(&execution, None).map_err(|e| e.to_string())?;
    let result_digest = adapter.public_outputs().map_err(|e| e.to_string())?.result_digest;
    let policy = capsule::standard::standard_policy("standard-proof-v1").ok_or("no standard-proof-v1")?.clone();
    let run = SampleRun {
        policy,
        rows: 10,
        public_inputs: Some(PublicInputsV1 {
            workload_id: capsule_stark::WORKLOAD_ID.to_owned(),
            parameters,
            result_digest: Some(result_digest),
        }),
        prover: Some((
            capsule_stark::BACKEND_ID.to_owned(),
            Box::new(move |st: Digest, nonce: u64| {
                capsule_stark::prove(&st, nonce, seed, len as usize, &capsule_stark::StarkParams::default())
                    .unwrap_or_default()
            }),
        )),
        ..SampleRun::default()
    };
    build(&run).map_err(|e| e.to_string())?.write_to(Vec::new()).map_err(|e| e.to_string())
}
