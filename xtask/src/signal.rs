//! `cargo xtask bench-signal` and `cargo xtask bench-overhead`: the quality
//! of paired comparisons and the runner's measurement overhead, measured on
//! this machine with the runner's own measurement (`capsule_runner::measure`)
//! and the verifier's own comparison (`capsule::compare`).
//!
//! Signal: a fixed CPU-bound child (`cargo xtask spin N`, about 10 ms) is
//! run interleaved ABAB as `bench --baseline` runs it under `standard-v1`
//! (its warmups, then its `paired_repetitions` measured repetitions per
//! side; `--repetitions N` for another count) and compared at that policy's
//! threshold and confidence. A/A trials run identical work on
//! both sides; slowed trials give head 3 % more iterations (extra CPU work,
//! not sleep). Each rate is printed with its 95 % Clopper–Pearson interval.
//!
//! Overhead: the same child, N times through the runner's measurement, and N
//! times through `hyperfine -N`; the ratio of mean wall times is printed.

use std::process::Command;
use std::time::Instant;

use capsule::compare::{Change, compare_samples, parse_ppm};
use capsule_runner::measure;
use statrs::distribution::{Beta, ContinuousCDF};

use crate::say;

/// The child: a CPU-bound loop of `iters` iterations.
pub(crate) fn spin(iters: u64) -> u64 {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..iters {
        x = std::hint::black_box(x.rotate_left(7) ^ i).wrapping_mul(0xff51_afd7_ed55_8ccd);
    }
    x
}

fn spin_cmd(iters: u64) -> Result<Command, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut c = Command::new(exe);
    c.args(["spin", &iters.to_string()]);
    Ok(c)
}

/// Iterations that take about `target_ms` on this machine.
fn calibrate(target_ms: f64) -> u64 {
    let probe = 20_000_000u64;
    let t = Instant::now();
    std::hint::black_box(spin(probe));
    let per_iter = t.elapsed().as_secs_f64() / probe as f64;
    ((target_ms / 1e3) / per_iter) as u64
}

/// The 95 % Clopper–Pearson interval of `x` successes in `n` trials.
pub(crate) fn clopper_pearson(x: u64, n: u64) -> (f64, f64) {
    let a = 0.05;
    let lo = if x == 0 { 0.0 } else { Beta::new(x as f64, (n - x + 1) as f64).map_or(0.0, |b| b.inverse_cdf(a / 2.0)) };
    let hi = if x == n {
        1.0
    } else {
        Beta::new((x + 1) as f64, (n - x) as f64).map_or(1.0, |b| b.inverse_cdf(1.0 - a / 2.0))
    };
    (lo, hi)
}

/// The standard policy's paired procedure: warmups, repetitions per side,
/// threshold and confidence in ppm.
struct Procedure {
    warmups: u32,
    reps: u32,
    threshold: i64,
    confidence: i64,
}

impl Procedure {
    fn standard(reps: Option<u32>) -> Result<Self, String> {
        let p = &capsule::standard::standard_policy("standard-v1").ok_or("standard-v1 is not shipped")?.policy;
        let min = p.measurement.min_repetitions;
        Ok(Procedure {
            warmups: p.measurement.warmups,
            reps: reps.unwrap_or_else(|| p.comparison.paired_repetitions.map_or(min, |n| n.max(min))),
            threshold: parse_ppm("threshold", &p.comparison.threshold).map_err(|e| e.to_string())?,
            confidence: parse_ppm("confidence", &p.comparison.confidence).map_err(|e| e.to_string())?,
        })
    }
}

fn trial(base_iters: u64, head_iters: u64, p: &Procedure) -> Result<Change, String> {
    let (mut base, mut head) = (Vec::new(), Vec::new());
    let mut b = spin_cmd(base_iters)?;
    let mut h = spin_cmd(head_iters)?;
    for rep in 0..p.warmups + p.reps {
        let sb = measure::run(&mut b).map_err(|e| e.to_string())?;
        let sh = measure::run(&mut h).map_err(|e| e.to_string())?;
        if rep >= p.warmups {
            base.push(sb.wall_ns);
            head.push(sh.wall_ns);
        }
    }
    compare_samples(&base, &head, p.threshold, p.confidence).map(|(_, _, v)| v).ok_or_else(|| "no samples".to_owned())
}

pub(crate) fn signal(aa_trials: u64, slow_trials: u64, reps: Option<u32>) -> Result<(), String> {
    let p = Procedure::standard(reps)?;
    let iters = calibrate(10.0);
    let slowed = iters + iters * 3 / 100;
    say(&format!(
        "paired signal quality: spin {iters} iterations (~10 ms), {} warmups + {} repetitions per side, ABAB, \
         threshold {} ppm, confidence {} ppm",
        p.warmups, p.reps, p.threshold, p.confidence
    ));
    let rate = |label: &str, head: u64, trials: u64, hit: &dyn Fn(Change) -> bool, goal: &str| -> Result<(), String> {
        let mut hits = 0;
        for _ in 0..trials {
            if hit(trial(iters, head, &p)?) {
                hits += 1;
            }
        }
        let (lo, hi) = clopper_pearson(hits, trials);
        say(&format!(
            "  {label} in {hits} of {trials} trials = {:.2} % (95 % CI {:.2} %..{:.2} %; goal {goal})",
            100.0 * hits as f64 / trials as f64,
            100.0 * lo,
            100.0 * hi
        ));
        Ok(())
    };
    rate("A/A: a change called", iters, aa_trials, &|v| matches!(v, Change::Slower | Change::Faster), "<= 1 %")?;
    rate("+3 % CPU work: called slower", slowed, slow_trials, &|v| v == Change::Slower, ">= 95 %")?;
    Ok(())
}

pub(crate) fn overhead(runs: u32) -> Result<(), String> {
    let iters = calibrate(10.0);
    let mut ratios = Vec::new();
    for _ in 0..3 {
        let mut c = spin_cmd(iters)?;
        let mut total = 0u128;
        for _ in 0..runs {
            total += u128::from(measure::run(&mut c).map_err(|e| e.to_string())?.wall_ns);
        }
        let runner_mean = total as f64 / f64::from(runs) / 1e9;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let export = dir.path().join("h.json");
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let status = Command::new("hyperfine")
            .args(["-N", "--style", "none", "--runs", &runs.to_string(), "--export-json"])
            .arg(&export)
            .arg(format!("{} spin {iters}", exe.display()))
            .status()
            .map_err(|e| format!("hyperfine: {e}"))?;
        if !status.success() {
            return Err("hyperfine failed".to_owned());
        }
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&export).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
        let hf_mean = v["results"][0]["mean"].as_f64().ok_or("no mean in hyperfine output")?;
        say(&format!(
            "  runner mean {:.3} ms, hyperfine -N mean {:.3} ms, ratio {:.4}",
            runner_mean * 1e3,
            hf_mean * 1e3,
            runner_mean / hf_mean
        ));
        ratios.push(runner_mean / hf_mean);
    }
    ratios.sort_by(f64::total_cmp);
    let r = ratios[1];
    say(&format!(
        "harness overhead: {runs} runs of a ~10 ms command; median ratio runner / hyperfine -N = {r:.4} (goal within 2 %: {})",
        if (r - 1.0).abs() <= 0.02 { "MET" } else { "NOT MET" }
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clopper_pearson_matches_known_values() {
        // 0 of 500: upper bound 0.735 %; 5 of 500: [0.325 %, 2.32 %].
        let (lo, hi) = clopper_pearson(0, 500);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.007351).abs() < 1e-5, "{hi}");
        let (lo, hi) = clopper_pearson(5, 500);
        assert!((lo - 0.003249).abs() < 1e-5 && (hi - 0.023180).abs() < 1e-5, "{lo} {hi}");
    }
}
