//! Proving workloads end to end: the built-in STARK (`stark_mimc7_v1`) and
//! an external adapter (the reference adapter in `fixtures/`) benched,
//! verified with the built-in backend and with a verifier-configured
//! program, their rows archived and audited; `adapter check` on both; a
//! broken adapter refused with nothing written.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::bench::{capsule, git, stderr, workspace};
use super::{codes, json, stdout};

/// The reference adapter, built by `cargo test --workspace` beside this
/// binary.
fn reference_adapter() -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_cargo-capsule")).with_file_name("capsule-reference-adapter");
    assert!(
        p.exists(),
        "{} is missing: build it with `cargo build -p capsule-reference-adapter` (`cargo test --workspace` does)",
        p.display()
    );
    p
}

/// An empty repository configured with the proof policy, the STARK
/// builtin and the reference adapter as workloads (1024 states each).
pub(super) fn proving_workspace(tmp: &Path) -> PathBuf {
    let ws = workspace(tmp, None);
    let manifest = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    let config = format!(
        r#"
[workspace.metadata.capsule]
policy = "standard-proof-v1"

[[workspace.metadata.capsule.workloads]]
kind = "builtin"
id = "stark"
builtin = "stark_mimc7_v1"
parameters = {{ seed = 7, trace_length = 1024 }}

[[workspace.metadata.capsule.workloads]]
kind = "adapter"
id = "stark_external"
command = [{:?}]
parameters = {{ seed = 7, trace_length = 1024 }}

[[workspace.metadata.capsule.workloads]]
kind = "adapter"
id = "broken"
command = ["sh", "-c", "read request; echo not-a-protocol-line"]
"#,
        reference_adapter().display().to_string()
    );
    std::fs::write(ws.join("Cargo.toml"), manifest + &config).unwrap();
    git(&ws, &["commit", "-qam", "proving workloads"]);
    ws
}

pub(super) fn value<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["values"].as_array().unwrap().iter().find(|v| v["name"] == name).unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn proving_workloads_bench_verify_and_audit() {
    // Proving loads the machine.
    let _measuring = super::measuring();
    let tmp = tempfile::tempdir().unwrap();
    let ws = proving_workspace(tmp.path());

    let o = capsule(&ws, &["bench", "--workload", "stark", "--out", "s.tgz", "--events", "s.events"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = capsule(&ws, &["verify", "s.tgz", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let r = json(&o);
    assert_eq!(r["proof"], "bound-and-verified");
    for name in ["parameters.seed", "parameters.trace_length", "result_digest"] {
        assert_eq!(value(&r, name)["class"], "proven", "{name}");
    }
    assert_eq!(value(&r, "trace_rows")["value"], 1024);
    assert!(value(&r, "trace_root")["note"].as_str().unwrap().contains("committed, not proven"));
    assert!(value(&r, "proof.security_bits")["value"].as_u64().unwrap() >= 96);
    // The statement was locked before any repetition proved.
    let events = std::fs::read_to_string(ws.join("s.events")).unwrap();
    let kinds: Vec<String> = events
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["type"].as_str().unwrap().to_owned())
        .collect();
    let pos = |k: &str| kinds.iter().position(|x| x == k).unwrap_or_else(|| panic!("no {k}: {kinds:?}"));
    assert!(pos("statement_locked") < pos("repetition"));
    assert!(pos("repetition") < pos("proof_artifact"));
    assert_eq!(kinds.iter().filter(|k| *k == "repetition").count(), 12);

    // The committed rows are open to the data-availability audit.
    let o = capsule(&ws, &["archive", "s.tgz", "--out", "rows"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = capsule(&ws, &["audit", "s.tgz", "--archive", "rows", "--samples", "1", "--seed", &"00".repeat(32)]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));

    // The external adapter's pack names the built-in backend's id, but its
    // workload is not the one that backend proves ...
    let o = capsule(&ws, &["bench", "--workload", "stark_external", "--out", "e.tgz"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = json(&capsule(&ws, &["verify", "e.tgz", "--json"]));
    assert_eq!(codes(&r), ["proof-workload-unserved"]);

    // ... and with a program the verifier configures and pins; without a
    // pin, or with another program id, the proof is not accepted.
    let check = capsule(&ws, &["adapter", "check", "--adapter", reference_adapter().to_str().unwrap(), "--json"]);
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
    let check = json(&check);
    assert!(check["cases"].as_array().unwrap().iter().all(|c| c["passed"] == true), "{check}");
    let program = check["adapter"]["program_id"].as_str().unwrap().to_owned();
    let verifier = format!("capsulebench-stark-mimc7/v1={}", reference_adapter().display());
    let mut other = program.clone().into_bytes();
    other[0] = if other[0] == b'0' { b'1' } else { b'0' };
    let other = String::from_utf8(other).unwrap();
    for (pin, accepted) in [(Some(program.as_str()), true), (None, false), (Some(other.as_str()), false)] {
        let mut args = vec!["verify", "e.tgz", "--json", "--backend-verifier", &verifier];
        let pin_arg = pin.map(|p| format!("stark_external={p}"));
        if let Some(p) = &pin_arg {
            args.extend(["--pin-program", p]);
        }
        let r = json(&capsule(&ws, &args));
        assert_eq!(r["verdict"] == "accepted", accepted, "pin {pin:?}: {r}");
        if !accepted {
            assert_eq!(codes(&r), ["proof-invalid"], "pin {pin:?}");
        }
    }
}

#[test]
fn adapter_check_and_refusals() {
    // Proving loads the machine.
    let _measuring = super::measuring();
    let tmp = tempfile::tempdir().unwrap();
    let ws = proving_workspace(tmp.path());
    let o = capsule(&ws, &["adapter", "check", "--builtin", "stark_mimc7_v1"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    for case in [
        "rejects a different statement hash",
        "rejects a changed public output",
        "rejects a flipped proof byte",
        "rejects a truncated proof",
        "rejects a proof for another trace",
        "rejects another program id",
    ] {
        assert!(text.contains(&format!("ok    {case}")), "{case}: {text}");
    }
    assert!(text.contains("verdict      conformant (11 cases)"), "{text}");

    // An adapter that breaks the protocol: a workload error naming it,
    // and no pack.
    let o = capsule(&ws, &["bench", "--workload", "broken", "--out", "b.tgz"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a protocol line"), "{}", stderr(&o));
    assert!(!ws.join("b.tgz").exists());
    let o = capsule(&ws, &["adapter", "check", "--adapter", "false"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    // Instruction counts are not taken for proving workloads.
    let o = capsule(&ws, &["bench", "--workload", "stark", "--measure", "instructions", "--out", "i.tgz"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("proving workload"), "{}", stderr(&o));
}
