//! `cargo xtask bench-stark`: what sealing costs a proving workload.
//!
//! In one run, for the same trace length: winterfell alone (execute the
//! chain and prove it in this process, as many times as a `bench` run
//! proves), then the full `cargo capsule bench` path (adapter processes,
//! row commitment, statement lock, per-repetition prove and verify,
//! sealing, writing and verifying the pack), then `cargo capsule verify`
//! of that pack. Prints the overhead ratio (goal ≤ 5 % of prove time), the
//! verify time and the repetitions' peak memory.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use capsule::digest::Digest;
use capsule_stark::StarkParams;

use crate::say;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn run(cmd: &mut Command, what: &str) -> Result<std::process::Output, String> {
    let o = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    if !o.status.success() {
        return Err(format!("{what} failed: {}", String::from_utf8_lossy(&o.stderr)));
    }
    Ok(o)
}

pub(crate) fn bench_stark(root: &Path, trace_length: u64) -> Result<(), String> {
    say("building the release binary...");
    run(
        Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["build", "--release", "-q", "-p", "cargo-capsule"])
            .current_dir(root),
        "cargo build",
    )?;
    let exe = root.join("target/release/cargo-capsule");
    let policy = capsule::standard::standard_policy("standard-proof-v1").ok_or("no standard-proof-v1")?;
    let params: StarkParams =
        capsule_stark::pinned_params(policy.policy.proof.backends.get(capsule_stark::BACKEND_ID))?;
    let proves = policy.policy.measurement.warmups + policy.policy.measurement.min_repetitions;

    // winterfell alone, in this process.
    let (mut execute_s, mut prove_s) = (Vec::new(), Vec::new());
    for nonce in 0..u64::from(proves) {
        let t = Instant::now();
        let trace = capsule_stark::execute(1, trace_length as usize).map_err(|e| e.to_string())?;
        execute_s.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        capsule_stark::prove_trace(&Digest([7; 32]), nonce, 1, trace, &params).map_err(|e| e.to_string())?;
        prove_s.push(t.elapsed().as_secs_f64());
    }
    let alone_total: f64 = prove_s.iter().sum::<f64>() + execute_s.iter().sum::<f64>();
    let (execute_med, prove_med) = (median(&mut execute_s), median(&mut prove_s));
    say(&format!(
        "winterfell alone: {proves} proofs of 2^{} states, median execute {:.1} ms + prove {:.3} s; total {:.3} s",
        trace_length.trailing_zeros(),
        execute_med * 1e3,
        prove_med,
        alone_total
    ));

    // The full bench path, in a fresh git workspace.
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let ws = dir.path();
    std::fs::create_dir_all(ws.join("src")).map_err(|e| e.to_string())?;
    std::fs::write(ws.join("src/lib.rs"), "").map_err(|e| e.to_string())?;
    std::fs::write(
        ws.join("Cargo.toml"),
        format!(
            "[package]\nname = \"stark-bench\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n\n\
             [workspace.metadata.capsule]\npolicy = \"standard-proof-v1\"\n\n\
             [[workspace.metadata.capsule.workloads]]\nkind = \"builtin\"\nid = \"stark\"\nbuiltin = \"stark_mimc7_v1\"\n\
             parameters = {{ seed = 1, trace_length = {trace_length} }}\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    for args in
        [&["init", "-q"][..], &["add", "-A"], &["-c", "user.name=x", "-c", "user.email=x@x", "commit", "-qm", "x"]]
    {
        run(Command::new("git").args(args).current_dir(ws), "git")?;
    }
    let t = Instant::now();
    let o = run(
        Command::new(&exe)
            .args(["capsule", "bench", "--quiet", "--message-format", "json", "--out", "p.tgz"])
            .current_dir(ws),
        "cargo capsule bench",
    )?;
    let bench_s = t.elapsed().as_secs_f64();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).map_err(|e| format!("bench output: {e}"))?;
    let metric = |m: &str| {
        v["aggregates"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["metric"] == m))
            .and_then(|x| x["aggregates"]["median"].as_u64())
            .ok_or(format!("no `{m}` in the bench output: {v}"))
    };
    let (rep_prove, rep_wall, rss) = (metric("prove_ns")?, metric("wall_ns")?, metric("peak_rss_bytes")?);
    let overhead = bench_s / alone_total - 1.0;
    say(&format!(
        "full bench path: {bench_s:.3} s for the same {proves} proofs (per repetition: prove request {:.3} s, adapter process {:.3} s)",
        rep_prove as f64 / 1e9,
        rep_wall as f64 / 1e9
    ));
    say(&format!(
        "sealing overhead: bench / winterfell alone = {:.4} ({:+.2} % of prove time; goal ≤ 5 %: {})",
        bench_s / alone_total,
        overhead * 100.0,
        if overhead <= 0.05 { "MET" } else { "NOT MET" }
    ));
    say(&format!(
        "peak memory of a proving repetition: {:.1} MiB (median peak RSS of the adapter process)",
        rss as f64 / 1048576.0
    ));

    let mut verify_s = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        run(Command::new(&exe).args(["capsule", "verify", "p.tgz", "--json"]).current_dir(ws), "cargo capsule verify")?;
        verify_s.push(t.elapsed().as_secs_f64());
    }
    let size = std::fs::metadata(ws.join("p.tgz")).map_err(|e| e.to_string())?.len();
    say(&format!(
        "verify --profile policy of the pack ({size} bytes, proof checked): median {:.1} ms of 5 (winterfell proof verify inside: {:.1} ms per repetition)",
        median(&mut verify_s) * 1e3,
        metric("verify_ns")? as f64 / 1e6
    ));
    Ok(())
}
