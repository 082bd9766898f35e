//! Paired runs (`bench --baseline`): the baseline built in its own git
//! worktree and target directory, then both sides measured in interleaved
//! rounds (ABAB) on this machine, so drift and load fall on both alike.
//! Stale worktrees of killed runs are pruned here.

use std::path::{Path, PathBuf};
use std::process::Command;

use capsule::builder::EventObserver;
use capsule::digest::Digest;
use capsule::objects::{SampleV1, SeriesV1, ValueClass};

use crate::config;
use crate::harness::{self, BenchBinary, RoundValue};
use crate::manifest;
use crate::measure;

use super::execute::{case_count, one_repetition, repeated_series, status_text};
use super::prepare::{BenchHarness, Exec};
use super::seal::finish_side;
use super::side::{Side, start_side, writable_destination};
use super::{BenchError, BenchOptions, BenchOutcome, Observer, Progress, Quiet, run_id};

/// A git worktree removed when dropped.
pub(super) struct Worktree {
    pub(super) repo: PathBuf,
    pub(super) dir: PathBuf,
}

impl Drop for Worktree {
    fn drop(&mut self) {
        let _ =
            Command::new("git").args(["worktree", "remove", "--force"]).arg(&self.dir).current_dir(&self.repo).output();
    }
}

/// The file in a baseline worktree's holder directory naming the process
/// that made it.
pub(super) const OWNER: &str = "owner.pid";

/// Removes the baseline worktrees under `base_target` whose owning process
/// is gone (a run killed before it could remove its own), then lets git
/// forget worktrees whose directories are missing.
pub(super) fn prune_stale_worktrees(toplevel: &Path, base_target: &Path) {
    let Ok(entries) = std::fs::read_dir(base_target) else {
        return;
    };
    for e in entries.flatten() {
        let holder = e.path();
        if !e.file_name().to_string_lossy().starts_with("worktree-") {
            continue;
        }
        let owner = std::fs::read_to_string(holder.join(OWNER)).ok().and_then(|p| p.trim().parse::<u32>().ok());
        if owner.is_some_and(measure::process_alive) {
            continue;
        }
        let _ = Command::new("git")
            .args(["worktree", "remove", "--force"])
            .arg(holder.join("src"))
            .current_dir(toplevel)
            .output();
        let _ = std::fs::remove_dir_all(&holder);
    }
    let _ = Command::new("git").args(["worktree", "prune"]).current_dir(toplevel).output();
}

/// Paired mode: builds `baseline` in its own git worktree and target
/// directory, then runs baseline and head repetitions interleaved (ABAB...)
/// on this machine, and writes two packs that share a run id. Returns
/// `(base, head)`.
pub fn bench_paired(
    opts: &BenchOptions,
    baseline: &str,
    baseline_out: &Path,
    observer: &mut dyn Observer,
    events: Option<EventObserver>,
) -> Result<(BenchOutcome, BenchOutcome), BenchError> {
    let same_file = |a: &Path, b: &Path| {
        let canon = |p: &Path| {
            let dir = std::fs::canonicalize(capsule::pack::parent_dir(p)).unwrap_or_default();
            dir.join(p.file_name().unwrap_or_default())
        };
        canon(a) == canon(b)
    };
    if same_file(&opts.out, baseline_out) {
        return Err(BenchError::Baseline {
            reference: baseline.to_owned(),
            why: format!("the baseline pack and the head pack would both be `{}`", opts.out.display()),
        });
    }
    let run_id = opts.run_id.clone().unwrap_or_else(run_id);
    // The baseline must name a commit before anything of head is built.
    let head_ws = config::load(opts.manifest_path.as_deref())?;
    let ws_root = head_ws.root.clone();
    let bad_ref = |why: &str| BenchError::Baseline { reference: baseline.to_owned(), why: why.to_owned() };
    let toplevel = manifest::run("git", &["rev-parse", "--show-toplevel"], Some(&ws_root))
        .map(PathBuf::from)
        .ok_or_else(|| bad_ref("the workspace is not in a git repository"))?;
    let commit =
        manifest::run("git", &["rev-parse", "--verify", "--quiet", &format!("{baseline}^{{commit}}")], Some(&ws_root))
            .ok_or_else(|| bad_ref("not a commit in this repository"))?;
    writable_destination(baseline_out)?;
    prune_stale_worktrees(&toplevel, &head_ws.target_dir.join("capsule-baseline"));
    let mut head = start_side(opts, head_ws, true, &run_id, events, observer)?;
    let root = std::fs::canonicalize(&head.ws.root).unwrap_or_else(|_| head.ws.root.clone());
    let rel = root
        .strip_prefix(std::fs::canonicalize(&toplevel).unwrap_or(toplevel.clone()))
        .unwrap_or(Path::new(""))
        .to_path_buf();
    let base_target = head.ws.target_dir.join("capsule-baseline");
    std::fs::create_dir_all(&base_target)
        .map_err(|source| BenchError::Output { path: base_target.display().to_string(), source })?;
    let holder = tempfile::Builder::new()
        .prefix("worktree-")
        .tempdir_in(&base_target)
        .map_err(|source| BenchError::Output { path: base_target.display().to_string(), source })?;
    // Whose worktree this is: a later run removes it if this process died
    // without removing it (SIGKILL, a crash).
    std::fs::write(holder.path().join(OWNER), std::process::id().to_string())
        .map_err(|source| BenchError::Output { path: holder.path().display().to_string(), source })?;
    let dir = holder.path().join("src");
    let added = Command::new("git")
        .args(["worktree", "add", "--detach", "--quiet"])
        .arg(&dir)
        .arg(&commit)
        .current_dir(&toplevel)
        .output()
        .map_err(|e| bad_ref(&format!("git worktree add failed: {e}")))?;
    if !added.status.success() {
        return Err(bad_ref(&format!("git worktree add failed: {}", String::from_utf8_lossy(&added.stderr).trim())));
    }
    let _worktree = Worktree { repo: toplevel.clone(), dir: dir.clone() };
    let base_opts = BenchOptions {
        manifest_path: Some(dir.join(&rel).join("Cargo.toml")),
        workload: Some(head.id.clone()),
        track: Some(head.track.clone()),
        out: baseline_out.to_path_buf(),
        ..opts.clone()
    };
    let base_ws = config::WorkspaceConfig {
        target_dir: base_target.clone(),
        ..config::load(base_opts.manifest_path.as_deref())?
    };
    let mut base = start_side(&base_opts, base_ws, true, &run_id, None, &mut Quiet)?;
    if base.policy.hash != head.policy.hash {
        return Err(bad_ref("its workspace configures a different policy; paired packs must share one"));
    }
    let cases = |side: &Side| match &side.prepared.exec {
        Exec::Repeat { cases, .. } => cases.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        _ => Vec::new(),
    };
    if cases(&base) != cases(&head) {
        return Err(bad_ref(&format!(
            "its workload runs other cases ({}) than head's ({}); a paired run measures the same cases on both sides",
            cases(&base).join(", "),
            cases(&head).join(", ")
        )));
    }
    let mut rounds = Rounds::start(&base, &head, opts.quiet, observer)?;
    observer.progress(Progress::Phase("running baseline and head interleaved"));
    let warmups = head.procedure.warmups;
    let first = head.procedure.min_repetitions;
    // Rounds are added while some verdict is inconclusive, up to the cap.
    let cap = first.saturating_mul(ADAPTIVE_CAP_FACTOR);
    let comparison = &head.policy.policy.comparison;
    let threshold = capsule::compare::parse_ppm("threshold", &comparison.threshold)
        .map_err(|e| bad_ref(&format!("its policy's comparison is unusable: {e}")))?;
    // Each look is judged at the policy's error rate divided among every
    // look the schedule could take, as `compare` judges the packs.
    let looks = adaptive_looks(first, cap);
    let confidence = capsule::compare::parse_ppm("confidence", &comparison.confidence)
        .map(|c| capsule::compare::sequential_level(c, looks))
        .map_err(|e| bad_ref(&format!("its policy's comparison is unusable: {e}")))?;
    let primary = head.policy.policy.measurement.primary_metric.clone();
    let mut done = 0;
    let ((bs, br), (hs, hr)) = loop {
        let to = warmups + head.procedure.min_repetitions;
        rounds.run(&mut base, &mut head, done..to, observer)?;
        done = to;
        let (b, h) = rounds.series(&base, &head)?;
        let table = |series: &[SeriesV1]| capsule::objects::MeasurementsV1 {
            schema: Default::default(),
            series: series.to_vec(),
            looks: None,
        };
        let verdicts = capsule::compare::primary_verdicts(&table(&b.0), &table(&h.0), &primary, threshold, confidence)
            .map_err(|e| bad_ref(&format!("its rounds cannot be compared: {e}")))?;
        let more = more_rounds(head.procedure.min_repetitions, cap, &verdicts);
        if more == 0 {
            break (b, h);
        }
        observer.progress(Progress::Phase("some verdict is inconclusive: taking more rounds"));
        for side in [&mut base, &mut head] {
            side.procedure.min_repetitions += more;
        }
    };
    // Both packs verify before either is renamed into place.
    let looks = (looks > 1).then_some(looks);
    let base_out = finish_side(base, bs, br, looks, &mut Quiet)?;
    let head_out = finish_side(head, hs, hr, looks, observer)?;
    Ok((base_out.persist()?, head_out.persist()?))
}

/// How many times its first count of kept rounds a paired run may grow to
/// while a verdict is inconclusive (§12 of the configuration reference).
pub const ADAPTIVE_CAP_FACTOR: u32 = 4;

/// How many more rounds a paired run takes after `kept` rounds, given the
/// primary verdicts so far: none when no verdict is inconclusive or `cap`
/// is reached; otherwise as many again (the count doubles), up to `cap`.
/// The rule looks only at the verdicts, and `compare` recomputes every
/// verdict from all the kept rounds.
pub fn more_rounds(kept: u32, cap: u32, verdicts: &[capsule::compare::Change]) -> u32 {
    if kept >= cap || !verdicts.contains(&capsule::compare::Change::Inconclusive) { 0 } else { kept.min(cap - kept) }
}

/// How many looks at the rounds a paired run that starts with `first` kept
/// rounds and doubles them up to `cap` could take: one after the first
/// count and one after each doubling (3 for a cap of four times the first).
/// It follows [`more_rounds`] with every verdict inconclusive.
pub fn adaptive_looks(first: u32, cap: u32) -> u32 {
    let (mut kept, mut looks) = (first, 1);
    loop {
        match more_rounds(kept, cap, &[capsule::compare::Change::Inconclusive]) {
            0 => return looks,
            more => (kept, looks) = (kept + more, looks + 1),
        }
    }
}

/// One side's series and result digest.
pub(super) type SideResult = (Vec<SeriesV1>, Digest);

/// What a paired run has measured so far, by kind; rounds are run in
/// stretches (the first count, then more while a verdict is inconclusive).
enum Rounds {
    /// Fresh-process repetitions, alternated, per case.
    Repeat { base: Vec<Vec<(SampleV1, Digest)>>, head: Vec<Vec<(SampleV1, Digest)>> },
    /// Hyperfine, once a side per round: kept wall times, last results.
    Hyperfine { base: Vec<SampleV1>, head: Vec<SampleV1>, results: [Digest; 2] },
    /// Bench executables (criterion or gungraun), once a side per round.
    Bench { bins: Box<[BenchBinary; 2]>, kept: [Vec<Vec<RoundValue>>; 2] },
}

impl Rounds {
    /// Prepares the kind both sides share (a bench side's target is built
    /// here).
    fn start(base: &Side, head: &Side, quiet: bool, observer: &mut dyn Observer) -> Result<Rounds, BenchError> {
        Ok(match (&head.prepared.exec, &base.prepared.exec) {
            (Exec::Repeat { .. }, Exec::Repeat { .. }) => {
                Rounds::Repeat { base: vec![Vec::new(); case_count(base)], head: vec![Vec::new(); case_count(head)] }
            }
            (Exec::Hyperfine { .. }, Exec::Hyperfine { .. }) => {
                Rounds::Hyperfine { base: Vec::new(), head: Vec::new(), results: [Digest::default(); 2] }
            }
            (Exec::Bench { harness: h, .. }, Exec::Bench { harness: b, .. }) if h == b => {
                observer.progress(Progress::Phase("building the baseline's and head's bench targets"));
                let bins = Box::new([build_bench(base, quiet)?, build_bench(head, quiet)?]);
                Rounds::Bench { bins, kept: [Vec::new(), Vec::new()] }
            }
            _ => return Err(BenchError::PairedUnsupported(head.id.clone())),
        })
    }

    /// Runs rounds `range` (indices from the first warmup), the baseline
    /// first in each; warmup rounds are discarded.
    fn run(
        &mut self,
        base: &mut Side,
        head: &mut Side,
        range: std::ops::Range<u32>,
        observer: &mut dyn Observer,
    ) -> Result<(), BenchError> {
        let warmups = head.procedure.warmups;
        let total = range.end;
        for index in range {
            let warmup = index < warmups;
            match self {
                Rounds::Repeat { base: b, head: h } => {
                    // Each case of the round: the baseline's, then head's.
                    for case in 0..b.len() {
                        b[case].push(one_repetition(base, case, index, &mut Quiet)?);
                        h[case].push(one_repetition(head, case, index, observer)?);
                    }
                }
                Rounds::Hyperfine { base: b, head: h, results } => {
                    let (bv, br) = hyperfine_once(base)?;
                    let (hv, hr) = hyperfine_once(head)?;
                    *results = [br, hr];
                    observer.progress(Progress::Repetition { index, total, warmup, wall_ns: hv });
                    if !warmup {
                        let rep = index - warmups;
                        b.push(SampleV1 { rep, warmup: false, values: vec![bv], proof_digest: None });
                        h.push(SampleV1 { rep, warmup: false, values: vec![hv], proof_digest: None });
                    }
                }
                Rounds::Bench { bins, kept } => {
                    let mut head_wall = 0;
                    for (k, side) in [&mut *base, &mut *head].into_iter().enumerate() {
                        let (values, wall) = bench_round(side, &bins[k], index, warmup)?;
                        same_benchmarks(&bins[k], index, kept[k].first(), &values)?;
                        if !warmup {
                            kept[k].push(values);
                        }
                        head_wall = wall;
                    }
                    observer.progress(Progress::Repetition { index, total, warmup, wall_ns: head_wall });
                }
            }
        }
        Ok(())
    }

    /// Both sides' series and results from every round so far.
    fn series(&self, base: &Side, head: &Side) -> Result<(SideResult, SideResult), BenchError> {
        Ok(match self {
            Rounds::Repeat { base: b, head: h } => {
                (repeated_series(base, b.clone())?, repeated_series(head, h.clone())?)
            }
            Rounds::Hyperfine { base: b, head: h, results } => {
                let series = |side: &Side, samples: &[SampleV1]| SeriesV1 {
                    id: side.id.clone(),
                    class: ValueClass::HarnessReported,
                    metrics: vec!["wall_ns".to_owned()],
                    samples: samples.to_vec(),
                };
                ((vec![series(base, b)], results[0]), (vec![series(head, h)], results[1]))
            }
            Rounds::Bench { kept, .. } => {
                (harness::round_series(kept[0].clone()), harness::round_series(kept[1].clone()))
            }
        })
    }
}

/// Hyperfine times a side's command once (`--runs 1`, no warmup), in the
/// side's container when it has one: its wall time and result.
fn hyperfine_once(side: &mut Side) -> Result<(u64, Digest), BenchError> {
    if crate::interrupt::interrupted() {
        return Err(BenchError::Interrupted);
    }
    let (series, result) = super::execute::hyperfine_side(side, 0, 1)?;
    let ns = series.first().and_then(|s| s.samples.first()).and_then(|x| x.values.first()).copied();
    Ok((ns.unwrap_or_default(), result))
}

/// Every kept round of a side must measure the benchmarks its first kept
/// round did, with the same metrics.
pub(super) fn same_benchmarks(
    bin: &BenchBinary,
    index: u32,
    first: Option<&Vec<RoundValue>>,
    values: &[RoundValue],
) -> Result<(), BenchError> {
    let ids = |r: &[RoundValue]| r.iter().map(|v| v.id.clone()).collect::<Vec<_>>();
    let metrics = |r: &[RoundValue]| r.iter().map(|v| v.metrics.clone()).collect::<Vec<_>>();
    match first {
        Some(first) if ids(first) == ids(values) && metrics(first) != metrics(values) => {
            Err(BenchError::Harness(harness::HarnessError::Output {
                path: bin.exe.display().to_string(),
                why: format!(
                    "round {index} reported other metrics than the first kept round: every round must report the same ones"
                ),
            }))
        }
        Some(first) if ids(first) != ids(values) => Err(BenchError::Harness(harness::HarnessError::Output {
            path: bin.exe.display().to_string(),
            why: format!(
                "round {index} measured other benchmarks than the first kept round ({} against {}): \
                 every round must measure the same ones",
                ids(values).join(", "),
                ids(first).join(", ")
            ),
        })),
        _ => Ok(()),
    }
}

/// A side's bench target, built once before the rounds (or already built
/// inside its container image).
pub(super) fn build_bench(side: &Side, quiet: bool) -> Result<BenchBinary, BenchError> {
    if let Some(bin) = &side.bench_bin {
        return Ok(bin.clone());
    }
    let run = side.bench_target().ok_or_else(|| BenchError::PairedUnsupported(side.id.clone()))?;
    Ok(harness::build_bench_target(&run, quiet)?)
}

/// Runs `argv` (a bench executable built inside the image) once in the
/// side's container, in its package's directory, with `CRITERION_HOME` the
/// directory `home` of the writable mount; returns the shim's sample and
/// that directory as this machine names it.
pub(super) fn run_in_container(
    side: &mut Side,
    bin: BenchBinary,
    argv: Vec<std::ffi::OsString>,
    home: &str,
) -> Result<(measure::Sample, std::path::PathBuf), BenchError> {
    let id = side.id.clone();
    let failed = |source| BenchError::Container { workload: id.clone(), source };
    let Some((session, Some(out))) = side.container.as_mut() else {
        return Err(BenchError::PairedUnsupported(id));
    };
    let inside = format!("{}/{home}", crate::container::OUT_MOUNT);
    let package_dir = bin.package_dir.to_string_lossy().into_owned();
    session.set_env(&[("CRITERION_HOME", &inside), ("CARGO_MANIFEST_DIR", &package_dir)]).map_err(failed)?;
    let s = session.run(&package_dir, &argv).map_err(failed)?;
    Ok((s, out.path().join("io").join(home)))
}

/// Runs one round of a side's bench executable (a fresh process measured
/// and ended like a repetition, writing into a fresh criterion or gungraun
/// home) and reads every benchmark's figures; returns them and the
/// process's wall time.
pub(super) fn bench_round(
    side: &mut Side,
    bin: &BenchBinary,
    index: u32,
    warmup: bool,
) -> Result<(Vec<RoundValue>, u64), BenchError> {
    let Exec::Bench { harness: kind, args, .. } = &side.prepared.exec else {
        return Err(BenchError::PairedUnsupported(side.id.clone()));
    };
    let kind = *kind;
    if crate::interrupt::interrupted() {
        return Err(BenchError::Interrupted);
    }
    let (s, home, _home) = if side.container.is_some() {
        // Criterion's home is a fresh directory of the writable mount each
        // round; the command is the one a native round runs.
        let name = format!("round-{index}");
        let inside = std::path::Path::new(crate::container::OUT_MOUNT).join(&name);
        let cmd = harness::criterion_round_command(bin, args, &inside);
        let argv = std::iter::once(cmd.get_program()).chain(cmd.get_args()).map(ToOwned::to_owned).collect();
        let (s, host) = run_in_container(side, bin.clone(), argv, &name)?;
        (s, host, None)
    } else {
        let home = harness::harness_home(&side.ws.target_dir)?;
        let mut cmd = match kind {
            BenchHarness::Criterion => harness::criterion_round_command(bin, args, home.path()),
            BenchHarness::Gungraun => crate::gungraun::round_command(bin, args, home.path()),
        };
        let s = measure::run(&mut cmd).map_err(|source| BenchError::Spawn {
            workload: side.id.clone(),
            program: bin.exe.display().to_string(),
            source,
        })?;
        (s, home.path().to_path_buf(), Some(home))
    };
    if crate::interrupt::interrupted() {
        return Err(BenchError::Interrupted);
    }
    if !s.success() {
        return Err(BenchError::Failed {
            workload: side.id.clone(),
            index,
            warmup,
            status: status_text(&s),
            stderr_tail: String::from_utf8_lossy(&s.stderr_tail).into_owned(),
        });
    }
    let shown = format!("{} --bench", bin.exe.display());
    let values = match kind {
        BenchHarness::Criterion => harness::criterion_round_values(&home, &shown)?,
        BenchHarness::Gungraun => crate::gungraun::round_values(&home, &shown)?,
    };
    Ok((values, s.wall_ns))
}

#[cfg(test)]
mod tests {
    use capsule::compare::Change::{Faster, Inconclusive, NoChange, Slower};

    use super::more_rounds;

    /// Rounds double while a verdict is inconclusive, and never pass the
    /// cap.
    #[test]
    fn rounds_double_while_inconclusive_up_to_the_cap() {
        for (kept, cap, verdicts, more) in [
            (100, 400, vec![NoChange, Slower], 0),
            (100, 400, vec![Faster], 0),
            (100, 400, vec![NoChange, Inconclusive], 100),
            (200, 400, vec![Inconclusive], 200),
            (300, 400, vec![Inconclusive], 100),
            (400, 400, vec![Inconclusive], 0),
            (100, 100, vec![Inconclusive], 0),
            (100, 400, vec![], 0),
        ] {
            assert_eq!(more_rounds(kept, cap, &verdicts), more, "{kept} {cap} {verdicts:?}");
        }
    }

    /// The looks a schedule could take: after the first count and after
    /// every step of [`more_rounds`] up to the cap.
    #[test]
    fn looks_count_every_place_a_run_could_stop() {
        for (first, cap, looks) in
            [(100, 400, 3), (20, 80, 3), (1, 4, 3), (100, 300, 3), (100, 200, 2), (5, 5, 1), (7, 8, 2)]
        {
            assert_eq!(super::adaptive_looks(first, cap), looks, "{first} {cap}");
        }
        assert_eq!(super::adaptive_looks(100, 100 * super::ADAPTIVE_CAP_FACTOR), 3);
    }
}
