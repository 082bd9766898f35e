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
use crate::harness::{self, CriterionBinary, RoundValue};
use crate::manifest;
use crate::measure;

use super::execute::{one_repetition, repeated_series, status_text};
use super::prepare::Exec;
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
    observer.progress(Progress::Phase("running baseline and head interleaved"));
    let total = head.procedure.warmups + head.procedure.min_repetitions;
    let ((bs, br), (hs, hr)) = match (&head.prepared.exec, &base.prepared.exec) {
        (Exec::Repeat { .. }, Exec::Repeat { .. }) => {
            let (mut base_reps, mut head_reps) = (Vec::new(), Vec::new());
            for index in 0..total {
                base_reps.push(one_repetition(&mut base, index, &mut Quiet)?);
                head_reps.push(one_repetition(&mut head, index, observer)?);
            }
            (repeated_series(&base, base_reps)?, repeated_series(&head, head_reps)?)
        }
        (Exec::Hyperfine { .. }, Exec::Hyperfine { .. }) => paired_hyperfine(&base, &head, total, observer)?,
        (Exec::Criterion { .. }, Exec::Criterion { .. }) => {
            paired_criterion(&base, &head, total, opts.quiet, observer)?
        }
        _ => return Err(BenchError::PairedUnsupported(head.id.clone())),
    };
    // Both packs verify before either is renamed into place.
    let base_out = finish_side(base, bs, br, &mut Quiet)?;
    let head_out = finish_side(head, hs, hr, observer)?;
    Ok((base_out.persist()?, head_out.persist()?))
}

/// One side's series and result digest.
pub(super) type SideResult = (Vec<SeriesV1>, Digest);

/// Paired hyperfine: in each of `total` rounds, hyperfine times the
/// baseline's command once, then head's, each in its own tree; the first
/// `warmups` rounds are discarded (a harness series records no warmups), so
/// every kept round gives one paired sample a side.
pub(super) fn paired_hyperfine(
    base: &Side,
    head: &Side,
    total: u32,
    observer: &mut dyn Observer,
) -> Result<(SideResult, SideResult), BenchError> {
    let once = |side: &Side| -> Result<(u64, Digest), BenchError> {
        let Exec::Hyperfine { command, shell } = &side.prepared.exec else {
            return Err(BenchError::PairedUnsupported(side.id.clone()));
        };
        if crate::interrupt::interrupted() {
            return Err(BenchError::Interrupted);
        }
        let (series, result) = harness::hyperfine(&side.ws.root, &side.ws.rustflags, &side.id, command, *shell, 0, 1)?;
        let ns = series.first().and_then(|s| s.samples.first()).and_then(|x| x.values.first()).copied();
        Ok((ns.unwrap_or_default(), result))
    };
    let warmups = head.procedure.warmups;
    let (mut b_samples, mut h_samples) = (Vec::new(), Vec::new());
    let (mut b_result, mut h_result) = (Digest::default(), Digest::default());
    for index in 0..total {
        let (b, br) = once(base)?;
        let (h, hr) = once(head)?;
        (b_result, h_result) = (br, hr);
        observer.progress(Progress::Repetition { index, total, warmup: index < warmups, wall_ns: h });
        if index >= warmups {
            let rep = index - warmups;
            b_samples.push(SampleV1 { rep, warmup: false, values: vec![b], proof_digest: None });
            h_samples.push(SampleV1 { rep, warmup: false, values: vec![h], proof_digest: None });
        }
    }
    let series = |side: &Side, samples| SeriesV1 {
        id: side.id.clone(),
        class: ValueClass::HarnessReported,
        metrics: vec!["wall_ns".to_owned()],
        samples,
    };
    Ok(((vec![series(base, b_samples)], b_result), (vec![series(head, h_samples)], h_result)))
}

/// A side's criterion bench target, built once before the rounds.
fn build_criterion(side: &Side, quiet: bool) -> Result<CriterionBinary, BenchError> {
    let Exec::Criterion { bench, package, args, features } = &side.prepared.exec else {
        return Err(BenchError::PairedUnsupported(side.id.clone()));
    };
    Ok(harness::criterion_build(
        &harness::CriterionRun {
            root: &side.ws.root,
            target_dir: &side.ws.target_dir,
            rustflags: &side.ws.rustflags,
            bench,
            package: package.as_deref(),
            features,
            args,
        },
        quiet,
    )?)
}

/// Runs one round of a side's criterion bench executable (a fresh process
/// measured and ended like a repetition, writing into a fresh criterion
/// home) and reads every benchmark's figures; returns them and the
/// process's wall time.
fn criterion_round(
    side: &Side,
    bin: &CriterionBinary,
    index: u32,
    warmup: bool,
) -> Result<(Vec<RoundValue>, u64), BenchError> {
    let Exec::Criterion { args, .. } = &side.prepared.exec else {
        return Err(BenchError::PairedUnsupported(side.id.clone()));
    };
    if crate::interrupt::interrupted() {
        return Err(BenchError::Interrupted);
    }
    let home = harness::criterion_home(&side.ws.target_dir)?;
    let mut cmd = harness::criterion_round_command(bin, args, home.path());
    let s = measure::run(&mut cmd).map_err(|source| BenchError::Spawn {
        workload: side.id.clone(),
        program: bin.exe.display().to_string(),
        source,
    })?;
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
    Ok((harness::criterion_round_values(home.path(), &shown)?, s.wall_ns))
}

/// Paired criterion: both sides' bench executables are built once; then in
/// each of `total` rounds the baseline's executable runs once and then
/// head's, each measuring every benchmark briefly
/// ([`harness::ROUND_SETTINGS`]); each benchmark's samples in a round
/// sum to one paired sample a side. The first `warmups` rounds are
/// discarded. Every round of a side must measure the same benchmarks.
fn paired_criterion(
    base: &Side,
    head: &Side,
    total: u32,
    quiet: bool,
    observer: &mut dyn Observer,
) -> Result<(SideResult, SideResult), BenchError> {
    observer.progress(Progress::Phase("building the baseline's and head's criterion benches"));
    let bins = [build_criterion(base, quiet)?, build_criterion(head, quiet)?];
    observer.progress(Progress::Phase("running baseline and head criterion rounds interleaved"));
    let warmups = head.procedure.warmups;
    let mut kept: [Vec<Vec<RoundValue>>; 2] = [Vec::new(), Vec::new()];
    for index in 0..total {
        let warmup = index < warmups;
        let mut head_wall = 0;
        for (k, side) in [base, head].into_iter().enumerate() {
            let (values, wall) = criterion_round(side, &bins[k], index, warmup)?;
            let ids = |r: &[RoundValue]| r.iter().map(|v| v.id.clone()).collect::<Vec<_>>();
            if let Some(first) = kept[k].first()
                && ids(first) != ids(&values)
            {
                return Err(BenchError::Harness(harness::HarnessError::Output {
                    path: bins[k].exe.display().to_string(),
                    why: format!(
                        "round {index} measured other benchmarks than the first kept round ({} against {}): \
                         every round must measure the same ones",
                        ids(&values).join(", "),
                        ids(first).join(", ")
                    ),
                }));
            }
            if !warmup {
                kept[k].push(values);
            }
            head_wall = wall;
        }
        observer.progress(Progress::Repetition { index, total, warmup, wall_ns: head_wall });
    }
    let [b, h] = kept;
    Ok((harness::criterion_round_series(b), harness::criterion_round_series(h)))
}
