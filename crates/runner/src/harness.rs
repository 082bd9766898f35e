//! Existing harnesses as receipt producers: criterion and hyperfine.
//!
//! Owns running a harness once and turning its exported files into raw
//! samples. Their numbers come from user code (criterion) or another tool
//! (hyperfine), so every series is classed *harness-reported*. Decimal
//! numbers in their JSON are parsed from their text, exactly, never through
//! a float.
//!
//! Criterion: we read `target/criterion/**/new/{benchmark,sample}.json`
//! rather than cargo-criterion's message stream, because plain `cargo bench`
//! writes them with no extra tool installed, and `sample.json` holds every
//! raw sample (iteration count and total time), not only estimates.
//! Criterion writes them under `$CRITERION_HOME`, which the runner points
//! at a fresh directory of its own for each run, so exactly the benchmarks
//! this run measured are read (never a stale result of an earlier run);
//! the directory is removed afterwards.
//!
//! Hyperfine: `--export-json` holds each run's wall time and exit code.
//! Hyperfine runs the policy's warmups itself (`--warmup`) and does not
//! export them, so the table records no warmup rows for its series.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use capsule::digest::{Digest, Tag, tagged};
use capsule::objects::{SampleV1, SeriesV1, ValueClass};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::manifest::with_rustflags;

/// Why a harness's output cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The harness process failed.
    #[error("`{command}` failed ({status}); last output:\n{tail}")]
    Failed {
        /// The command.
        command: String,
        /// Its status.
        status: String,
        /// The tail of its output.
        tail: String,
    },
    /// The harness is not installed.
    #[error("`{tool}` is not installed (or not on PATH): {install}")]
    NotInstalled {
        /// The program.
        tool: String,
        /// How to install it.
        install: &'static str,
    },
    /// The harness could not start.
    #[error("failed to start `{command}`")]
    Spawn {
        /// The command.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An exported file is missing or malformed.
    #[error("failed to read harness output `{path}`: {why}")]
    Output {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
    /// The run produced no results.
    #[error("`{command}` produced no results in `{dir}`")]
    Empty {
        /// The command.
        command: String,
        /// Where results were expected.
        dir: String,
    },
}

fn parse_decimal(text: &str) -> Option<Decimal> {
    if text.contains(['e', 'E']) { Decimal::from_scientific(text).ok() } else { Decimal::from_str(text).ok() }
}

fn round_u64(d: Decimal) -> Option<u64> {
    let r = d.round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    if r.is_sign_negative() && !r.is_zero() {
        return None;
    }
    u64::try_from(r).ok()
}

/// Parses a JSON number's text as an exact decimal and scales it by
/// `10^scale`, rounding half away from zero to an integer.
pub fn decimal_to_u64(text: &str, scale: u32) -> Option<u64> {
    round_u64(parse_decimal(text)?.checked_mul(Decimal::from(10u64.checked_pow(scale)?))?)
}

fn tail(out: &std::process::Output) -> String {
    let mut all = out.stdout.clone();
    all.extend_from_slice(&out.stderr);
    let start = all.len().saturating_sub(crate::measure::STDERR_TAIL);
    String::from_utf8_lossy(&all[start..]).into_owned()
}

fn run_checked(cmd: &mut Command, shown: &str) -> Result<(), HarnessError> {
    let out = cmd.output().map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound && cmd.get_program() == "hyperfine" {
            HarnessError::NotInstalled {
                tool: "hyperfine".to_owned(),
                install: "install it with `cargo install --locked hyperfine`, `apt install hyperfine` or `brew install hyperfine`",
            }
        } else {
            HarnessError::Spawn { command: shown.to_owned(), source }
        }
    })?;
    if !out.status.success() {
        return Err(HarnessError::Failed {
            command: shown.to_owned(),
            status: format!("{}", out.status),
            tail: tail(&out),
        });
    }
    Ok(())
}

#[derive(Deserialize)]
struct CriterionBenchmark {
    full_id: String,
}

#[derive(Deserialize)]
struct CriterionSample {
    iters: Vec<Box<RawValue>>,
    times: Vec<Box<RawValue>>,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, HarnessError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| HarnessError::Output { path: path.display().to_string(), why: e.to_string() })?;
    serde_json::from_str(&text)
        .map_err(|e| HarnessError::Output { path: path.display().to_string(), why: e.to_string() })
}

/// Every `new/` directory under `dir` (criterion's latest measurement of
/// one benchmark id).
fn measured_benchmarks(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            if p.file_name().is_some_and(|n| n == "new") {
                out.push(p);
            } else {
                measured_benchmarks(&p, out);
            }
        }
    }
}

/// What a criterion workload runs.
pub struct CriterionRun<'a> {
    /// The workspace root.
    pub root: &'a Path,
    /// The target directory.
    pub target_dir: &'a Path,
    /// The RUSTFLAGS the build gets (as `CARGO_ENCODED_RUSTFLAGS`).
    pub rustflags: &'a [String],
    /// The bench target.
    pub bench: &'a str,
    /// Its package, if ambiguous.
    pub package: Option<&'a str>,
    /// Features to enable.
    pub features: &'a [String],
    /// Arguments after `--` (criterion's own flags).
    pub args: &'a [String],
}

/// Runs a criterion bench target and imports every benchmark it measured.
pub fn criterion(r: &CriterionRun<'_>) -> Result<(Vec<SeriesV1>, Digest), HarnessError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut base = vec!["bench".to_owned(), "--bench".to_owned(), r.bench.to_owned()];
    if let Some(p) = r.package {
        base.extend(["--package".to_owned(), p.to_owned()]);
    }
    if !r.features.is_empty() {
        base.extend(["--features".to_owned(), r.features.join(",")]);
    }
    // Build first, so the timed run below starts from a built target.
    let mut build = Command::new(&cargo);
    with_rustflags(build.args(&base).arg("--no-run").current_dir(r.root), r.rustflags);
    run_checked(&mut build, &format!("cargo {} --no-run", base.join(" ")))?;
    let home = tempfile::Builder::new()
        .prefix("capsule-criterion-")
        .tempdir_in(r.target_dir)
        .or_else(|_| tempfile::tempdir())
        .map_err(|e| HarnessError::Output { path: r.target_dir.display().to_string(), why: e.to_string() })?;
    let mut run = Command::new(&cargo);
    with_rustflags(run.args(&base).arg("--").args(r.args).current_dir(r.root), r.rustflags)
        .env("CRITERION_HOME", home.path());
    let shown = format!("cargo {} -- {}", base.join(" "), r.args.join(" "));
    run_checked(&mut run, &shown)?;
    let dir = home.path();
    let mut found = Vec::new();
    measured_benchmarks(dir, &mut found);
    found.sort();
    if found.is_empty() {
        return Err(HarnessError::Empty { command: shown, dir: dir.display().to_string() });
    }
    let mut series = Vec::new();
    for new in found {
        let b: CriterionBenchmark = read_json(&new.join("benchmark.json"))?;
        let s: CriterionSample = read_json(&new.join("sample.json"))?;
        let bad = |why: &str| HarnessError::Output {
            path: new.join("sample.json").display().to_string(),
            why: why.to_owned(),
        };
        if s.iters.len() != s.times.len() || s.iters.is_empty() {
            return Err(bad("`iters` and `times` differ in length or are empty"));
        }
        let mut samples = Vec::with_capacity(s.iters.len());
        for (i, (it, t)) in s.iters.iter().zip(&s.times).enumerate() {
            let iters = decimal_to_u64(it.get(), 0)
                .filter(|n| *n > 0)
                .ok_or_else(|| bad("an iteration count is not a positive integer"))?;
            let total = decimal_to_u64(t.get(), 0).ok_or_else(|| bad("a time is not a non-negative number"))?;
            // Per-iteration time from the exact decimal, rounded to ns.
            let per = parse_decimal(t.get())
                .and_then(|d| d.checked_div(Decimal::from(iters)))
                .and_then(round_u64)
                .ok_or_else(|| bad("a time is not a non-negative number"))?;
            samples.push(SampleV1 {
                rep: i as u32,
                warmup: false,
                values: vec![per, total, iters],
                proof_digest: None,
            });
        }
        series.push(SeriesV1 {
            id: b.full_id,
            class: ValueClass::HarnessReported,
            metrics: vec!["wall_ns".to_owned(), "sample_total_ns".to_owned(), "sample_iters_count".to_owned()],
            samples,
        });
    }
    series.sort_by(|a, b| a.id.cmp(&b.id));
    let ids: Vec<&str> = series.iter().map(|s| s.id.as_str()).collect();
    Ok((series.clone(), tagged(Tag::Result, ids.join("\n").as_bytes())))
}

#[derive(Deserialize)]
struct HyperfineExport {
    results: Vec<HyperfineResult>,
}

#[derive(Deserialize)]
struct HyperfineResult {
    command: String,
    times: Vec<Box<RawValue>>,
    #[serde(default)]
    exit_codes: Vec<Option<i64>>,
}

/// Runs hyperfine on `command` and imports each run's wall time.
pub fn hyperfine(
    root: &Path,
    rustflags: &[String],
    id: &str,
    command: &str,
    shell: bool,
    warmups: u32,
    runs: u32,
) -> Result<(Vec<SeriesV1>, Digest), HarnessError> {
    let dir = tempfile::tempdir()
        .map_err(|e| HarnessError::Output { path: "temporary directory".into(), why: e.to_string() })?;
    let export = dir.path().join("hyperfine.json");
    let mut cmd = Command::new("hyperfine");
    cmd.args(["--style", "none", "--runs", &runs.to_string(), "--warmup", &warmups.to_string(), "--export-json"])
        .arg(&export);
    if !shell {
        cmd.arg("-N");
    }
    // A cargo the timed command runs builds with the recorded flags; a
    // binary it runs was built before this run (its toolchain manifest
    // says profile `none`).
    with_rustflags(cmd.arg(command).current_dir(root), rustflags);
    run_checked(&mut cmd, &format!("hyperfine {command}"))?;
    let e: HyperfineExport = read_json(&export)?;
    let Some(r) = e.results.into_iter().next() else {
        return Err(HarnessError::Empty { command: format!("hyperfine {command}"), dir: export.display().to_string() });
    };
    let bad = |why: &str| HarnessError::Output { path: export.display().to_string(), why: why.to_owned() };
    if r.exit_codes.iter().any(|c| *c != Some(0)) {
        return Err(bad("a run exited with a non-zero code"));
    }
    let mut samples = Vec::with_capacity(r.times.len());
    for (i, t) in r.times.iter().enumerate() {
        let ns = decimal_to_u64(t.get(), 9).ok_or_else(|| bad("a time is not a non-negative number of seconds"))?;
        samples.push(SampleV1 { rep: i as u32, warmup: false, values: vec![ns], proof_digest: None });
    }
    let series = vec![SeriesV1 {
        id: id.to_owned(),
        class: ValueClass::HarnessReported,
        metrics: vec!["wall_ns".to_owned()],
        samples,
    }];
    Ok((series, tagged(Tag::Result, r.command.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_decimals() {
        for (text, scale, want) in [
            ("0.011854442000000001", 9, Some(11_854_442)),
            ("0.0118544425", 9, Some(11_854_443)),
            ("1.5e-3", 9, Some(1_500_000)),
            ("12", 0, Some(12)),
            ("12.0", 0, Some(12)),
            ("-1", 0, None),
            ("abc", 0, None),
            ("1e30", 9, None),
        ] {
            assert_eq!(decimal_to_u64(text, scale), want, "{text}");
        }
    }
}
