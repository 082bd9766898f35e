//! The trust commands end to end: keygen, sign, the policy registry, the
//! certified profile, archive, audit and the audited profile.

use std::path::Path;
use std::process::Output;

use crate::{GOLDEN, bin, codes, json, root, stdout};

fn run_in(dir: &Path, args: &[&str]) -> Output {
    bin().current_dir(dir).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn keygen_sign_and_certify_a_pack() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::copy(root().join(GOLDEN), d.join("p.tgz")).unwrap();
    let policies = d.join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::copy(root().join("crates/capsule/policies/standard-v1.json"), policies.join("standard-v1.json")).unwrap();
    std::fs::copy(root().join("crates/capsule/policies/standard-proof-v1.json"), policies.join("proof.json")).unwrap();

    // keygen: the secret is 0600, never printed; refuses to overwrite.
    let o = run_in(d, &["keygen", "--out", "release"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let secret = std::fs::read_to_string(d.join("release.key")).unwrap();
    let body: String = secret.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!stdout(&o).contains(&body) && !stderr(&o).contains(&body));
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(d.join("release.key")).unwrap().permissions().mode() & 0o777, 0o600);
    let key_id = stdout(&o).lines().find_map(|l| l.strip_prefix("key id")).unwrap().trim().to_owned();
    assert_eq!(run_in(d, &["keygen", "--out", "release"]).status.code(), Some(4));

    // The registry and the proof of the standard policy.
    let o = run_in(d, &["policy", "registry", "build", "policies"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let registry_root = stdout(&o).split_whitespace().next().unwrap().to_owned();
    let o = run_in(
        d,
        &["policy", "registry", "prove", "policies/standard-v1.json", "--registry", "policies", "--out", "proof.json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // sign: the capsule hash does not change; a readable key warns.
    let before = json(&run_in(d, &["verify", "p.tgz", "--json"]))["capsule_hash"].clone();
    std::fs::set_permissions(d.join("release.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = run_in(d, &["sign", "p.tgz", "--key", "release.key", "--registry-proof", "proof.json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("readable by others"), "{}", stderr(&o));
    assert!(!stdout(&o).contains(&body) && !stderr(&o).contains(&body));
    let signed = json(&run_in(d, &["verify", "p.tgz", "--json"]));
    assert_eq!(signed["capsule_hash"], before);
    assert_eq!(signed["signed"], "signed-unpinned");
    assert_eq!(signed["signers"][0]["key_id"], key_id.as_str());

    // certified: accepted with the key allowed and the registry pinned.
    let acl =
        format!(r#"{{"schema":"capsulebench/acl/v1","policies":{{"capsulebench-standard":{{"keys":["{key_id}"]}}}}}}"#);
    std::fs::write(d.join("acl.json"), acl).unwrap();
    let certified = ["verify", "p.tgz", "--profile", "certified", "--json"];
    let o = run_in(d, &[&certified[..], &["--acl", "acl.json", "--registry-root", &registry_root]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let r = json(&o);
    assert_eq!(r["signed"], "signed-by-allowed");
    assert_eq!(r["trust"]["registry_root"], registry_root.as_str());
    assert!(r["trust"]["acl"]["source"].as_str().unwrap().ends_with("acl.json"));
    // The human report names the signer and the trust roots.
    let o = run_in(
        d,
        &["verify", "p.tgz", "--profile", "certified", "--allow-key", &key_id, "--registry-root", &registry_root],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let text = stdout(&o);
    assert!(text.contains("signed       signed by a signer the ACL allows"), "{text}");
    assert!(
        text.contains(&format!("key {key_id}")) && text.contains(&format!("registry     {registry_root}")),
        "{text}"
    );

    // Never a downgrade: without an ACL or a registry root, rejected saying so.
    let o = run_in(d, &certified);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(codes(&json(&o)), ["acl-missing", "registry-root-missing"]);
    // Another key: not allowed.
    let o = run_in(
        d,
        &[&certified[..], &["--allow-key", &format!("sha256:{}", "0".repeat(64)), "--registry-root", &registry_root]]
            .concat(),
    );
    assert_eq!(codes(&json(&o)), ["signer-not-allowed"]);

    // archive, audit, audited.
    let o = run_in(d, &["archive", "p.tgz", "--out", "rows"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run_in(d, &["audit", "p.tgz", "--archive", "rows", "--samples", "5", "--seed", &"ab".repeat(32), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let a = json(&o);
    assert_eq!(a["drawn"].as_array().unwrap().len(), 5);
    assert_eq!(a["seed_from_verifier"], false);
    let again = json(&run_in(
        d,
        &["audit", "p.tgz", "--archive", "rows", "--samples", "5", "--seed", &"ab".repeat(32), "--json"],
    ));
    assert_eq!(again["drawn"], a["drawn"], "a given seed reproduces the audit");
    let o = run_in(
        d,
        &[
            "verify",
            "p.tgz",
            "--profile",
            "audited",
            "--acl",
            "acl.json",
            "--registry-root",
            &registry_root,
            "--archive",
            "rows",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(json(&o)["passed"], serde_json::json!(["integrity", "policy", "certified", "audited"]));
    let o = run_in(
        d,
        &["verify", "p.tgz", "--profile", "audited", "--acl", "acl.json", "--registry-root", &registry_root, "--json"],
    );
    assert_eq!(codes(&json(&o)), ["audit-archive-missing"]);
    // Every chunk altered: any draw catches it.
    let rows = d.join("rows/rows.bin");
    let mut bytes = std::fs::read(&rows).unwrap();
    for b in bytes.iter_mut().step_by(64) {
        *b ^= 1;
    }
    std::fs::write(&rows, bytes).unwrap();
    let o = run_in(d, &["audit", "p.tgz", "--archive", "rows", "--samples", "3"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("altered"), "{}", stdout(&o));
}

#[test]
fn import_harness_outputs_as_imported_receipts() {
    let vectors = root().join("../shared/vectors/harness-outputs");
    if !vectors.is_dir() {
        assert!(std::env::var_os("CI").is_none(), "the harness-output vectors are missing at {}", vectors.display());
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let csv = vectors.join("zkvm-perf/benchmarks_v4.0.1.csv");
    let o = run_in(d, &["import", &csv.display().to_string(), "--format", "zkvm-perf", "--out", "perf.tgz"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("imported 4 series"), "{}", stdout(&o));
    let r = json(&run_in(d, &["verify", "perf.tgz", "--profile", "integrity", "--json"]));
    assert_eq!(r["verdict"], "accepted");
    assert!(r["values"].as_array().unwrap().iter().all(|v| v["class"] == "imported" || v["class"] == "recomputed"));
    // At the default profile an honest import is accepted under the import
    // policy, which every verifier pins, and says plainly what it is.
    let r = json(&run_in(d, &["verify", "perf.tgz", "--json"]));
    assert_eq!(r["verdict"], "accepted", "{r}");
    assert_eq!(r["policy"]["id"], "capsulebench-import", "{r}");
    assert_eq!(r["policy"]["pinned_by"], "standard:import-v1", "{r}");
    let o = run_in(d, &["verify", "perf.tgz"]);
    assert!(stdout(&o).contains("what it is   an imported receipt:"), "{}", stdout(&o));
    let r = json(&run_in(d, &["verify", "perf.tgz", "--profile", "certified", "--json"]));
    assert!(codes(&r).contains(&"certified-imported".to_owned()), "{r}");
    // The import policy admits only imports: a measured pack claiming it
    // lacks the source anchor.
    let o = run_in(d, &["verify", &root().join(GOLDEN).display().to_string(), "--json"]);
    assert_eq!(json(&o)["verdict"], "accepted");
    // A malformed row: file, line and column, exit 3, nothing written.
    std::fs::write(d.join("bad.csv"), "program,prover,cycles\nfib,sp1,12\nfib,sp1,x\n").unwrap();
    let o = run_in(d, &["import", "bad.csv", "--format", "zkvm-perf", "--out", "bad.tgz"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("bad.csv:3:3: `x` is not a non-negative integer"), "{}", stderr(&o));
    assert!(!d.join("bad.tgz").exists());
}
