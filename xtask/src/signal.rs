//! `cargo xtask bench-signal` and `cargo xtask bench-overhead`: the quality
//! of paired comparisons and the runner's measurement overhead, measured on
//! this machine with the runner's own measurement (`capsule_runner::measure`)
//! and the verifier's own comparison (`capsule::compare`).
//!
//! Signal: a fixed CPU-bound child (`cargo xtask spin N`, about 10 ms) is
//! run interleaved ABAB as `bench --baseline` runs it under `standard-v1`
//! (its warmups, then its `paired_repetitions` measured repetitions per
//! side, or `--repetitions N`, then more while the verdict is
//! inconclusive, by the runner's own rule, up to four times as many) and
//! compared at that policy's threshold and confidence divided among the
//! looks, as `compare` judges such packs. A/A trials run identical work on
//! both sides; slowed trials give head 3 % more iterations (extra CPU work,
//! not sleep). Each rate is printed with its 95 % Clopper–Pearson interval.
//!
//! `--kind noisy` pairs a command whose times vary by far more than the
//! threshold (a ~2 ms loop, then a random 0–4 ms sleep): almost every look
//! is inconclusive, so its trials take every look the rule allows, and its
//! A/A rate shows that the looks together keep the policy's error rate.
//!
//! `--kind criterion` pairs a criterion bench instead: `fixtures/suite`'s
//! `signal` bench (one function, `CAPSULE_SIGNAL_ITERS` iterations of the
//! same loop, about 1.2 µs), built once with the runner's own
//! `harness::build_bench_target`, then run in rounds exactly as a paired
//! criterion workload is (`harness::criterion_round_command`, the default
//! round settings, one sample per round from `criterion_round_values`);
//! slowed trials give head 3 % more iterations.
//!
//! `--load` runs a background load during every trial: one thread per core,
//! each alternating busy and idle spells of 10–200 ms (deterministic
//! sequences), so at times every core is taken and the measured process
//! waits for one, as when other jobs share a runner.
//!
//! Overhead: the same child, N times through the runner's measurement, and N
//! times through `hyperfine -N`; the ratio of mean wall times is printed.

use std::process::Command;
use std::time::Instant;

use capsule::compare::{Change, compare_samples, parse_ppm, sequential_level};
use capsule_runner::run::{ADAPTIVE_CAP_FACTOR, adaptive_looks, more_rounds};
use capsule_runner::{harness, measure};
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

/// The noisy child: `iters` iterations of the loop, then a sleep of 0–4 ms
/// drawn afresh in every process, so its times vary by far more than the
/// threshold.
fn noisy_cmd(iters: u64) -> Result<Command, String> {
    let mut c = spin_cmd(iters)?;
    c.arg("--nap");
    Ok(c)
}

/// The noisy child's sleep: 0–4 ms from the clock and the process id.
pub(crate) fn nap() {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let seed = u64::from(nanos) ^ u64::from(std::process::id()).rotate_left(32);
    let micros = (seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) ^ seed;
    std::thread::sleep(std::time::Duration::from_micros(micros % 4_001));
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
/// threshold and confidence in ppm, and the confidence each look is judged
/// at (the policy's divided among the looks the rounds could take).
struct Procedure {
    warmups: u32,
    reps: u32,
    threshold: i64,
    confidence: i64,
    looks: u32,
    level: i64,
}

impl Procedure {
    fn standard(reps: Option<u32>) -> Result<Self, String> {
        let p = &capsule::standard::standard_policy("standard-v1").ok_or("standard-v1 is not shipped")?.policy;
        let min = p.measurement.min_repetitions;
        let reps = reps.unwrap_or_else(|| p.comparison.paired_repetitions.map_or(min, |n| n.max(min)));
        let confidence = parse_ppm("confidence", &p.comparison.confidence).map_err(|e| e.to_string())?;
        let looks = adaptive_looks(reps, reps.saturating_mul(ADAPTIVE_CAP_FACTOR));
        Ok(Procedure {
            warmups: p.measurement.warmups,
            reps,
            threshold: parse_ppm("threshold", &p.comparison.threshold).map_err(|e| e.to_string())?,
            confidence,
            looks,
            level: sequential_level(confidence, looks),
        })
    }
}

/// One paired trial as `bench --baseline` runs it: the warmup rounds, then
/// the policy's rounds (or `--repetitions`), then more rounds while the
/// verdict is inconclusive, by the runner's own rule
/// ([`capsule_runner::run::more_rounds`]), each look judged at the level
/// the packs would be compared at. Returns the verdict and the kept rounds.
fn paired_trial(p: &Procedure, mut round: impl FnMut() -> Result<(u64, u64), String>) -> Result<(Change, u32), String> {
    for _ in 0..p.warmups {
        round()?;
    }
    let cap = p.reps.saturating_mul(ADAPTIVE_CAP_FACTOR);
    let (mut base, mut head) = (Vec::new(), Vec::new());
    let mut kept = p.reps;
    loop {
        while base.len() < kept as usize {
            let (b, h) = round()?;
            base.push(b);
            head.push(h);
        }
        let v = compare_samples(&base, &head, p.threshold, p.level)
            .map(|(_, _, v)| v)
            .ok_or_else(|| "no samples".to_owned())?;
        let more = more_rounds(kept, cap, &[v]);
        if more == 0 {
            return Ok((v, kept));
        }
        kept += more;
    }
}

fn trial(child: Child, base_iters: u64, head_iters: u64, p: &Procedure) -> Result<(Change, u32), String> {
    let mut b = child(base_iters)?;
    let mut h = child(head_iters)?;
    paired_trial(p, || {
        let sb = measure::run(&mut b).map_err(|e| e.to_string())?;
        let sh = measure::run(&mut h).map_err(|e| e.to_string())?;
        Ok((sb.wall_ns, sh.wall_ns))
    })
}

/// One round of the criterion signal bench with `iters` iterations of
/// work: its `wall_ns` (time per iteration).
fn criterion_round(bin: &harness::BenchBinary, iters: u64) -> Result<u64, String> {
    let home = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut cmd = harness::criterion_round_command(bin, &[], home.path());
    cmd.env("CAPSULE_SIGNAL_ITERS", iters.to_string());
    let s = measure::run(&mut cmd).map_err(|e| e.to_string())?;
    if !s.success() {
        return Err(format!("the signal bench failed: {}", String::from_utf8_lossy(&s.stderr_tail)));
    }
    let values = harness::criterion_round_values(home.path(), "signal").map_err(|e| e.to_string())?;
    values.first().and_then(|v| v.values.first().copied()).ok_or_else(|| "no benchmark measured".to_owned())
}

fn criterion_trial(
    bin: &harness::BenchBinary,
    base_iters: u64,
    head_iters: u64,
    p: &Procedure,
) -> Result<(Change, u32), String> {
    paired_trial(p, || Ok((criterion_round(bin, base_iters)?, criterion_round(bin, head_iters)?)))
}

/// A background load: one thread per core, each alternating busy and idle
/// spells of 10–200 ms (xorshift from its own fixed seed) until dropped, so
/// at times every core is taken and the measured process waits for one.
struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start() -> Load {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        let threads = (0..cores as u64)
            .map(|k| {
                let flag = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 0x2545_f491_4f6c_dd1du64 ^ (k + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                    let mut next_ms = move || {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        10 + x % 191
                    };
                    while !flag.load(Ordering::Relaxed) {
                        let busy = Instant::now();
                        let spell = std::time::Duration::from_millis(next_ms());
                        while busy.elapsed() < spell {
                            std::hint::black_box(spin(10_000));
                        }
                        std::thread::sleep(std::time::Duration::from_millis(next_ms()));
                    }
                })
            })
            .collect();
        Load { stop, threads }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A child command of `iters` iterations.
type Child = fn(u64) -> Result<Command, String>;

/// One trial: base and head iteration counts to the verdict and kept rounds.
type Trial = dyn Fn(u64, u64) -> Result<(Change, u32), String>;

/// What `bench-signal` pairs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A fresh-process command (`cargo xtask spin`).
    Command,
    /// A ~2 ms loop, then a random 0–4 ms sleep.
    Noisy,
    /// A criterion bench in rounds.
    Criterion,
}

/// `bench-signal`'s options.
pub(crate) struct Options {
    pub(crate) kind: Kind,
    pub(crate) aa_trials: u64,
    pub(crate) slow_trials: u64,
    pub(crate) reps: Option<u32>,
    pub(crate) load: bool,
}

pub(crate) fn signal(root: &std::path::Path, o: &Options) -> Result<(), String> {
    let p = Procedure::standard(o.reps)?;
    let p_reps = p.reps;
    let load = if o.load {
        "with a background load (one thread per core, busy and idle spells of 10-200 ms)"
    } else {
        "quiet"
    };
    let looks = format!("confidence {} ppm over {} looks: {} ppm each", p.confidence, p.looks, p.level);
    let (base_iters, run): (u64, Box<Trial>) = match o.kind {
        Kind::Command | Kind::Noisy => {
            let (child, what, iters): (Child, _, _) = match o.kind {
                Kind::Noisy => (noisy_cmd, "~2 ms, then a random 0-4 ms sleep", calibrate(2.0)),
                _ => (spin_cmd, "~10 ms", calibrate(10.0)),
            };
            say(&format!(
                "paired signal quality, command: spin {iters} iterations ({what}), {} warmups + {} repetitions per side, \
                 ABAB, threshold {} ppm, {looks}, {load}",
                p.warmups, p.reps, p.threshold
            ));
            (iters, Box::new(move |b, h| trial(child, b, h, &p)))
        }
        Kind::Criterion => {
            let suite = root.join("fixtures/suite");
            let target = root.join("target/fixture-workspace");
            let bin = harness::build_bench_target(
                &harness::BenchTarget {
                    root: &suite,
                    target_dir: &target,
                    rustflags: &[],
                    bench: "signal",
                    package: None,
                    features: &[],
                    args: &[],
                },
                true,
            )
            .map_err(|e| e.to_string())?;
            let iters = 1000;
            say(&format!(
                "paired signal quality, criterion: one function of spin {iters} iterations, {} warmup + {} kept rounds per side, \
                 ABAB, round settings {:?}, threshold {} ppm, {looks}, {load}",
                p.warmups,
                p.reps,
                harness::ROUND_SETTINGS,
                p.threshold,
            ));
            (iters, Box::new(move |b, h| criterion_trial(&bin, b, h, &p)))
        }
    };
    // Slowed trials: 3 % more iterations of the same work on head's side.
    let head_iters = base_iters + base_iters * 3 / 100;
    let _load = o.load.then(Load::start);
    let rate = |label: &str, head: u64, trials: u64, hit: &dyn Fn(Change) -> bool, goal: &str| -> Result<(), String> {
        if trials == 0 {
            return Ok(());
        }
        let (mut hits, mut rounds, mut extended) = (0, 0u64, 0);
        let start = Instant::now();
        for _ in 0..trials {
            let (v, kept) = run(base_iters, head)?;
            if hit(v) {
                hits += 1;
            }
            rounds += u64::from(kept);
            if kept > p_reps {
                extended += 1;
            }
        }
        let (lo, hi) = clopper_pearson(hits, trials);
        say(&format!(
            "  {label} in {hits} of {trials} trials = {:.2} % (95 % CI {:.2} %..{:.2} %; goal {goal}); \
             {extended} trials took more rounds, {:.1} kept rounds and {:.1} s a trial on average",
            100.0 * hits as f64 / trials as f64,
            100.0 * lo,
            100.0 * hi,
            rounds as f64 / trials.max(1) as f64,
            start.elapsed().as_secs_f64() / trials.max(1) as f64
        ));
        Ok(())
    };
    // The noisy kind shows the looks keep the policy's own error rate.
    let aa_goal = if o.kind == Kind::Noisy { "<= 5 %, the policy's error rate" } else { "<= 1 %" };
    rate("A/A: a change called", base_iters, o.aa_trials, &|v| matches!(v, Change::Slower | Change::Faster), aa_goal)?;
    rate("+3 % CPU work: called slower", head_iters, o.slow_trials, &|v| v == Change::Slower, ">= 95 %")?;
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
