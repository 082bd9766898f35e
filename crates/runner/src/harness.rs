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

/// A harness process (a build, criterion's run, hyperfine) leads its own
/// process group, which SIGINT or SIGTERM ends as it ends a measured
/// workload's ([`crate::interrupt`]); the guard stops watching it.
struct Group;

impl Group {
    fn spawn(cmd: &mut Command) -> std::io::Result<(std::process::Child, Group)> {
        use std::os::unix::process::CommandExt;
        let child = cmd.process_group(0).spawn()?;
        crate::interrupt::measuring(child.id());
        Ok((child, Group))
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        crate::interrupt::measuring(0);
    }
}

/// Runs `cmd` in its own process group ([`Group`]) to completion, its
/// output collected.
fn output(cmd: &mut Command) -> std::io::Result<std::process::Output> {
    let (child, _group) = Group::spawn(
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped()),
    )?;
    child.wait_with_output()
}

fn run_checked(cmd: &mut Command, shown: &str) -> Result<(), HarnessError> {
    let out = output(cmd).map_err(|source| {
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

/// A cargo bench target a workload runs (criterion or gungraun).
pub struct BenchTarget<'a> {
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

/// One benchmark criterion measured: its `full_id` and its raw samples,
/// each `(iterations, total time in ns)` exactly as written.
struct Measured {
    id: String,
    samples: Vec<(u64, Decimal)>,
}

/// Reads every benchmark criterion wrote under its home `dir`, in ascending
/// order of id; none is an error naming `shown`.
fn read_home(dir: &Path, shown: &str) -> Result<Vec<Measured>, HarnessError> {
    let mut found = Vec::new();
    measured_benchmarks(dir, &mut found);
    found.sort();
    if found.is_empty() {
        return Err(HarnessError::Empty { command: shown.to_owned(), dir: dir.display().to_string() });
    }
    let mut out = Vec::with_capacity(found.len());
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
        for (it, t) in s.iters.iter().zip(&s.times) {
            let iters = decimal_to_u64(it.get(), 0)
                .filter(|n| *n > 0)
                .ok_or_else(|| bad("an iteration count is not a positive integer"))?;
            let time = parse_decimal(t.get())
                .filter(|d| !d.is_sign_negative())
                .ok_or_else(|| bad("a time is not a non-negative number"))?;
            samples.push((iters, time));
        }
        out.push(Measured { id: b.full_id, samples });
    }
    by_unique_id(out, |m| &m.id, dir)
}

/// `items` in ascending order of benchmark id; an id read twice from the
/// harness's files under `dir` is an error.
pub(crate) fn by_unique_id<T>(mut items: Vec<T>, id: impl Fn(&T) -> &str, dir: &Path) -> Result<Vec<T>, HarnessError> {
    items.sort_by(|a, b| id(a).cmp(id(b)));
    if let Some(w) = items.windows(2).find(|w| id(&w[0]) == id(&w[1])) {
        return Err(HarnessError::Output {
            path: dir.display().to_string(),
            why: format!("benchmark id `{}` was measured twice", id(&w[0])),
        });
    }
    Ok(items)
}

/// One criterion sample's three values: time per iteration (the total
/// divided by the iterations, in decimal arithmetic, rounded half away from
/// zero), the total time rounded likewise, and the iteration count.
fn sample_values(iters: u64, time: Decimal) -> Option<Vec<u64>> {
    let per = time.checked_div(Decimal::from(iters)).and_then(round_u64)?;
    Some(vec![per, round_u64(time)?, iters])
}

/// The metrics of a criterion series.
fn criterion_metrics() -> Vec<String> {
    ["wall_ns", "sample_total_ns", "sample_iters_count"].map(str::to_owned).to_vec()
}

/// The result digest of a criterion run: the benchmark ids, sorted, joined
/// by line feeds.
fn criterion_result<'a>(ids: impl IntoIterator<Item = &'a str>) -> Digest {
    tagged(Tag::Result, ids.into_iter().collect::<Vec<_>>().join("\n").as_bytes())
}

/// The arguments common to building and running: `bench --bench B
/// [--package P] [--features F]`.
fn bench_base_args(r: &BenchTarget<'_>) -> Vec<String> {
    bench_args(r.bench, r.package, r.features)
}

fn bench_args(bench: &str, package: Option<&str>, features: &[String]) -> Vec<String> {
    let mut base = vec!["bench".to_owned(), "--bench".to_owned(), bench.to_owned()];
    if let Some(p) = package {
        base.extend(["--package".to_owned(), p.to_owned()]);
    }
    if !features.is_empty() {
        base.extend(["--features".to_owned(), features.join(",")]);
    }
    base
}

fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// A fresh home for a harness's files (criterion's or gungraun's) in the
/// target directory (or the system's temporary directory), removed when
/// dropped.
pub fn harness_home(target_dir: &Path) -> Result<tempfile::TempDir, HarnessError> {
    tempfile::Builder::new()
        .prefix("capsule-harness-")
        .tempdir_in(target_dir)
        .or_else(|_| tempfile::tempdir())
        .map_err(|e| HarnessError::Output { path: target_dir.display().to_string(), why: e.to_string() })
}

/// What criterion says when it begins collecting a benchmark's samples:
/// `Benchmarking ID: Collecting N samples in estimated T (I)` gives
/// `(ID, N, I)`.
pub fn collecting_line(line: &str) -> Option<(&str, u64, &str)> {
    let rest = line.strip_prefix("Benchmarking ")?;
    let (id, rest) = rest.rsplit_once(": Collecting ")?;
    let (samples, rest) = rest.split_once(" samples in estimated ")?;
    let iterations = rest.rsplit_once(" (")?.1.strip_suffix(')')?;
    Some((id, samples.parse().ok()?, iterations))
}

/// Runs `cmd` to completion with its standard error read line by line
/// (each line to `on_line`), standard output discarded; fails as
/// [`run_checked`] does, with the tail of standard error.
fn run_streaming(cmd: &mut Command, shown: &str, on_line: &mut dyn FnMut(&str)) -> Result<(), HarnessError> {
    use std::io::BufRead;
    let (mut child, _group) = Group::spawn(
        cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()),
    )
    .map_err(|source| HarnessError::Spawn { command: shown.to_owned(), source })?;
    let mut kept: Vec<u8> = Vec::new();
    if let Some(err) = child.stderr.take() {
        let mut reader = std::io::BufReader::new(err);
        let mut buf = Vec::new();
        while reader.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
            on_line(String::from_utf8_lossy(&buf).trim_end());
            kept.extend_from_slice(&buf);
            if kept.len() > 2 * crate::measure::STDERR_TAIL {
                kept.drain(..kept.len() - crate::measure::STDERR_TAIL);
            }
            buf.clear();
        }
    }
    let status = child.wait().map_err(|source| HarnessError::Spawn { command: shown.to_owned(), source })?;
    if !status.success() {
        let start = kept.len().saturating_sub(crate::measure::STDERR_TAIL);
        return Err(HarnessError::Failed {
            command: shown.to_owned(),
            status: format!("{status}"),
            tail: String::from_utf8_lossy(&kept[start..]).into_owned(),
        });
    }
    Ok(())
}

/// Runs a criterion bench target and imports every benchmark it measured;
/// `on_collecting` hears of each benchmark as criterion begins collecting
/// its samples (id, sample count, estimated iterations).
pub fn criterion(
    r: &BenchTarget<'_>,
    on_collecting: &mut dyn FnMut(&str, u64, &str),
) -> Result<(Vec<SeriesV1>, Digest), HarnessError> {
    let base = bench_base_args(r);
    // Build first, so the timed run below starts from a built target.
    let mut build = Command::new(cargo());
    with_rustflags(build.args(&base).arg("--no-run").current_dir(r.root), r.rustflags);
    run_checked(&mut build, &format!("cargo {} --no-run", base.join(" ")))?;
    let home = harness_home(r.target_dir)?;
    let mut run = Command::new(cargo());
    with_rustflags(run.args(&base).arg("--").args(r.args).current_dir(r.root), r.rustflags)
        .env("CRITERION_HOME", home.path());
    let shown = format!("cargo {} -- {}", base.join(" "), r.args.join(" "));
    run_streaming(&mut run, &shown, &mut |line| {
        if let Some((id, samples, iterations)) = collecting_line(line) {
            on_collecting(id, samples, iterations);
        }
    })?;
    criterion_series(home.path(), &shown)
}

/// The series and result digest of every benchmark criterion wrote under
/// its home `dir` (by the run `shown`).
pub fn criterion_series(dir: &Path, shown: &str) -> Result<(Vec<SeriesV1>, Digest), HarnessError> {
    let measured = read_home(dir, shown)?;
    let mut series = Vec::with_capacity(measured.len());
    for m in measured {
        let mut samples = Vec::with_capacity(m.samples.len());
        for (i, (iters, time)) in m.samples.into_iter().enumerate() {
            let values = sample_values(iters, time).ok_or_else(|| HarnessError::Output {
                path: dir.display().to_string(),
                why: format!("a time of benchmark `{}` is out of range", m.id),
            })?;
            samples.push(SampleV1 { rep: i as u32, warmup: false, values, proof_digest: None });
        }
        series.push(SeriesV1 { id: m.id, class: ValueClass::HarnessReported, metrics: criterion_metrics(), samples });
    }
    let result = criterion_result(series.iter().map(|s| s.id.as_str()));
    Ok((series, result))
}

/// A bench target built once for rounds (criterion or gungraun): its executable
/// and the package directory cargo would run it in.
#[derive(Clone, Debug)]
pub struct BenchBinary {
    /// The bench executable.
    pub exe: PathBuf,
    /// Its package's directory (the working directory of a round).
    pub package_dir: PathBuf,
}

/// The settings a paired round gives criterion unless the workload's own
/// `args` set them: a short measurement of every benchmark per round (the
/// rounds, not criterion's samples, are the paired samples).
pub const ROUND_SETTINGS: [(&str, &str); 4] =
    [("--sample-size", "10"), ("--warm-up-time", "0.01"), ("--measurement-time", "0.02"), ("--nresamples", "1000")];

/// Builds a criterion bench target (`cargo bench --no-run
/// --message-format json-render-diagnostics`, into `r.target_dir`) and
/// finds its executable in cargo's messages.
pub fn build_bench_target(r: &BenchTarget<'_>, quiet: bool) -> Result<BenchBinary, HarnessError> {
    let shown = format!("cargo {} --no-run", bench_base_args(r).join(" "));
    let mut build = Command::new(cargo());
    build
        .args(bench_build_args(r.bench, r.package, r.features))
        // A gungraun bench compiles in the runner's path from this
        // variable; without it, it runs the `gungraun-runner` on PATH,
        // whose version the run records.
        .env_remove("GUNGRAUN_RUNNER")
        .env("CARGO_TARGET_DIR", r.target_dir)
        .current_dir(r.root);
    if quiet {
        build.arg("--quiet");
    }
    with_rustflags(&mut build, r.rustflags);
    let out = output(&mut build).map_err(|source| HarnessError::Spawn { command: shown.clone(), source })?;
    if !out.status.success() {
        return Err(HarnessError::Failed { command: shown, status: format!("{}", out.status), tail: tail(&out) });
    }
    bench_binary(&out.stdout, r.bench)
        .ok_or_else(|| HarnessError::Empty { command: shown, dir: r.target_dir.display().to_string() })
}

/// The arguments that build bench target `bench` for rounds, inside a
/// container image or not: `bench --bench B [--package P] [--features F]
/// --no-run --message-format json-render-diagnostics`.
pub fn bench_build_args(bench: &str, package: Option<&str>, features: &[String]) -> Vec<String> {
    let mut a = bench_args(bench, package, features);
    a.extend(["--no-run", "--message-format", "json-render-diagnostics"].map(str::to_owned));
    a
}

/// The executable of bench target `bench` in cargo's JSON messages.
pub fn bench_binary(messages: &[u8], bench: &str) -> Option<BenchBinary> {
    use cargo_metadata::{Message, TargetKind};
    Message::parse_stream(messages).flatten().find_map(|m| match m {
        Message::CompilerArtifact(a)
            if a.target.name == bench && a.target.kind.contains(&TargetKind::Bench) && a.executable.is_some() =>
        {
            let package_dir = a.manifest_path.parent().map(|d| d.as_std_path().to_path_buf())?;
            Some(BenchBinary { exe: a.executable?.into_std_path_buf(), package_dir })
        }
        _ => None,
    })
}

/// The command of one paired round: the bench executable in bench mode,
/// without plots, writing into `home`, with the workload's `args` and then
/// every [`ROUND_SETTINGS`] entry they do not set.
pub fn criterion_round_command(bin: &BenchBinary, args: &[String], home: &Path) -> Command {
    let mut cmd = Command::new(&bin.exe);
    cmd.args(["--bench", "--noplot"]).args(args);
    for (flag, value) in ROUND_SETTINGS {
        let set = args.iter().any(|a| a == flag || a.strip_prefix(flag).is_some_and(|rest| rest.starts_with('=')));
        if !set {
            cmd.args([flag, value]);
        }
    }
    cmd.current_dir(&bin.package_dir).env("CRITERION_HOME", home).env("CARGO_MANIFEST_DIR", &bin.package_dir);
    cmd
}

/// One benchmark's figures in one round of a bench executable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoundValue {
    /// The benchmark's id (criterion's `full_id`; gungraun's module path
    /// and bench id).
    pub id: String,
    /// The metric names, in the order of `values`.
    pub metrics: Vec<String>,
    /// Criterion: `[wall_ns, sample_total_ns, sample_iters_count]`, the
    /// round's samples summed: its total time divided by its total
    /// iterations (decimal arithmetic, rounded half away from zero), its
    /// total time, its total iterations. Gungraun: the callgrind totals.
    pub values: Vec<u64>,
}

/// Reads what one round wrote under `home`: per benchmark, every sample's
/// iterations and time summed, in ascending order of id.
pub fn criterion_round_values(home: &Path, shown: &str) -> Result<Vec<RoundValue>, HarnessError> {
    let measured = read_home(home, shown)?;
    let mut out = Vec::with_capacity(measured.len());
    for m in measured {
        let (mut iters, mut time) = (0u64, Decimal::ZERO);
        let overflow = || HarnessError::Output {
            path: home.display().to_string(),
            why: format!("the samples of benchmark `{}` sum out of range", m.id),
        };
        for (i, t) in m.samples {
            iters = iters.checked_add(i).ok_or_else(overflow)?;
            time = time.checked_add(t).ok_or_else(overflow)?;
        }
        let values = sample_values(iters, time).ok_or_else(overflow)?;
        out.push(RoundValue { id: m.id, metrics: criterion_metrics(), values });
    }
    Ok(out)
}

/// The result digest and series of a bench executable's kept rounds
/// (criterion or gungraun): one series per benchmark, one sample per kept
/// round, its metrics those of the benchmark's first value.
pub fn round_series(rounds: Vec<Vec<RoundValue>>) -> (Vec<SeriesV1>, Digest) {
    let mut series: Vec<SeriesV1> = Vec::new();
    for (rep, round) in rounds.into_iter().enumerate() {
        for v in round {
            let sample = SampleV1 { rep: rep as u32, warmup: false, values: v.values, proof_digest: None };
            match series.iter_mut().find(|s| s.id == v.id) {
                Some(s) => s.samples.push(sample),
                None => series.push(SeriesV1 {
                    id: v.id,
                    class: ValueClass::HarnessReported,
                    metrics: v.metrics,
                    samples: vec![sample],
                }),
            }
        }
    }
    series.sort_by(|a, b| a.id.cmp(&b.id));
    let result = criterion_result(series.iter().map(|s| s.id.as_str()));
    (series, result)
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
    cmd.args(hyperfine_args(command, shell, warmups, runs, export.as_os_str()));
    // A cargo the timed command runs builds with the recorded flags; a
    // binary it runs was built before this run (its toolchain manifest
    // says profile `none`).
    with_rustflags(cmd.current_dir(root), rustflags);
    run_checked(&mut cmd, &format!("hyperfine {command}"))?;
    let e: HyperfineExport = read_json(&export)?;
    hyperfine_series(e, id, command, &export.display().to_string())
}

/// hyperfine's arguments (after the program name): no output but the
/// export, `runs` timed runs after `warmups`, no shell unless `shell`.
pub fn hyperfine_args(
    command: &str,
    shell: bool,
    warmups: u32,
    runs: u32,
    export: &std::ffi::OsStr,
) -> Vec<std::ffi::OsString> {
    let mut a: Vec<std::ffi::OsString> =
        ["--style", "none", "--runs", &runs.to_string(), "--warmup", &warmups.to_string(), "--export-json"]
            .map(Into::into)
            .to_vec();
    a.push(export.to_owned());
    if !shell {
        a.push("-N".into());
    }
    a.push(command.into());
    a
}

/// A hyperfine run inside a container: the export, which `hyperfine_args`
/// pointed at `/dev/stdout`, read from the run's standard output.
pub fn hyperfine_output(stdout: &[u8], id: &str, command: &str) -> Result<(Vec<SeriesV1>, Digest), HarnessError> {
    let where_ = "hyperfine's export on standard output (in the container)";
    let e: HyperfineExport = serde_json::from_slice(stdout)
        .map_err(|e| HarnessError::Output { path: where_.to_owned(), why: e.to_string() })?;
    hyperfine_series(e, id, command, where_)
}

fn hyperfine_series(
    e: HyperfineExport,
    id: &str,
    command: &str,
    export: &str,
) -> Result<(Vec<SeriesV1>, Digest), HarnessError> {
    let Some(r) = e.results.into_iter().next() else {
        return Err(HarnessError::Empty { command: format!("hyperfine {command}"), dir: export.to_owned() });
    };
    let bad = |why: &str| HarnessError::Output { path: export.to_owned(), why: why.to_owned() };
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
    fn criterion_progress_lines() {
        assert_eq!(
            collecting_line("Benchmarking fnv_4k: Collecting 10 samples in estimated 505.03 ms (55k iterations)"),
            Some(("fnv_4k", 10, "55k iterations"))
        );
        assert_eq!(
            collecting_line("Benchmarking g/f: 1: Collecting 100 samples in estimated 5.0 s (1.2M iterations)"),
            Some(("g/f: 1", 100, "1.2M iterations"))
        );
        assert_eq!(collecting_line("Benchmarking fnv_4k: Warming up for 200.00 ms"), None);
        assert_eq!(collecting_line("fnv_4k   time:   [1.0 µs 1.1 µs 1.2 µs]"), None);
    }

    /// The workload's own settings win; every other round setting is
    /// added once.
    #[test]
    fn round_settings_defer_to_the_workloads_args() {
        let bin = BenchBinary { exe: "/b/suite".into(), package_dir: "/p".into() };
        for (args, want) in [
            (vec![], "--bench --noplot --sample-size 10 --warm-up-time 0.01 --measurement-time 0.02 --nresamples 1000"),
            (
                vec!["--sample-size", "20", "--measurement-time=0.5", "fnv"],
                "--bench --noplot --sample-size 20 --measurement-time=0.5 fnv --warm-up-time 0.01 --nresamples 1000",
            ),
        ] {
            let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
            let cmd = criterion_round_command(&bin, &args, Path::new("/home"));
            let got: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
            assert_eq!(got.join(" "), want);
            assert_eq!(cmd.get_current_dir(), Some(Path::new("/p")));
        }
    }

    /// A round's samples sum exactly; rounds become one sample each, per
    /// benchmark, in id order.
    #[test]
    fn rounds_become_samples() {
        let dir = tempfile::tempdir().unwrap();
        for (id, iters, times) in [("b/two", "[1.0, 2.0]", "[10.4, 20.6]"), ("a", "[3]", "[1e3]")] {
            let new = dir.path().join(id).join("new");
            std::fs::create_dir_all(&new).unwrap();
            std::fs::write(new.join("benchmark.json"), format!(r#"{{"full_id": "{id}"}}"#)).unwrap();
            std::fs::write(new.join("sample.json"), format!(r#"{{"iters": {iters}, "times": {times}}}"#)).unwrap();
        }
        let round = criterion_round_values(dir.path(), "suite").unwrap();
        assert_eq!(
            round,
            vec![
                RoundValue { id: "a".into(), metrics: criterion_metrics(), values: vec![333, 1000, 3] },
                RoundValue { id: "b/two".into(), metrics: criterion_metrics(), values: vec![10, 31, 3] },
            ]
        );
        let (series, result) = round_series(vec![round.clone(), round]);
        assert_eq!(series.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["a", "b/two"]);
        assert!(series.iter().all(|s| s.samples.iter().map(|x| x.rep).eq(0..2)));
        assert_eq!(result, tagged(Tag::Result, b"a\nb/two"));
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(criterion_round_values(empty.path(), "suite"), Err(HarnessError::Empty { .. })));
    }

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
