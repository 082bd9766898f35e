//! Measuring one side alone: fresh-process repetitions (`wait4`), a
//! criterion run, or a hyperfine run, and folding them into series and a
//! result digest.

use capsule::digest::{Digest, Tag, tagged};
use capsule::objects::{SampleV1, SeriesV1, ValueClass};
use serde_json::json;

use crate::measure::{self, Sample};

use super::prepare::{BenchHarness, Exec};
use super::side::Side;
use super::{BenchError, Observer, Progress};

pub(super) fn status_text(s: &Sample) -> String {
    match (s.exit_code, s.signal) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "unknown status".to_owned(),
    }
}

/// Runs one fresh-process repetition of a side's case `case` (its only
/// one when it configures none), recording its event.
pub(super) fn one_repetition(
    side: &mut Side,
    case: usize,
    index: u32,
    observer: &mut dyn Observer,
) -> Result<(SampleV1, Digest), BenchError> {
    let warmup = index < side.procedure.warmups;
    let total = side.procedure.warmups + side.procedure.min_repetitions;
    let Exec::Repeat { cases, with_cases, program, .. } = &mut side.prepared.exec else {
        return Err(BenchError::PairedUnsupported(side.id.clone()));
    };
    let Some((series, command)) = cases.get_mut(case) else {
        return Err(BenchError::PairedUnsupported(side.id.clone()));
    };
    if crate::interrupt::interrupted() {
        return Err(BenchError::Interrupted);
    }
    let s = match side.container.as_mut() {
        // Timed inside the container by the shim, as natively.
        Some((session, _)) => {
            let argv: Vec<std::ffi::OsString> =
                std::iter::once(command.get_program()).chain(command.get_args()).map(ToOwned::to_owned).collect();
            session
                .run(crate::container::WORKSPACE_MOUNT, &argv)
                .map_err(|source| BenchError::Container { workload: side.id.clone(), source })?
        }
        None => measure::run(command).map_err(|source| BenchError::Spawn {
            workload: side.id.clone(),
            program: program.clone(),
            source,
        })?,
    };
    if crate::interrupt::interrupted() {
        return Err(BenchError::Interrupted);
    }
    let case_id = with_cases.then(|| series.clone());
    if !s.success() {
        return Err(BenchError::Failed {
            workload: match &case_id {
                Some(c) => format!("{} (case `{c}`)", side.id),
                None => side.id.clone(),
            },
            index,
            warmup,
            status: status_text(&s),
            stderr_tail: String::from_utf8_lossy(&s.stderr_tail).into_owned(),
        });
    }
    let mut event = json!({"index": index, "warmup": warmup, "wall_ns": s.wall_ns, "peak_rss_bytes": s.peak_rss_bytes});
    if let Some(c) = case_id {
        event["series"] = c.into();
    }
    side.b.event("repetition", event)?;
    observer.progress(Progress::Repetition { index, total, warmup, wall_ns: s.wall_ns });
    let sample = SampleV1 {
        rep: index,
        warmup,
        values: vec![s.wall_ns, s.user_ns, s.sys_ns, s.peak_rss_bytes],
        proof_digest: None,
    };
    Ok((sample, tagged(Tag::Result, &s.stdout)))
}

/// Counts the instructions of every repetition of every case, after the
/// timed ones (an instrumented run must not disturb a timed one), adding
/// the metric `instructions_count` to each sample.
pub(super) fn count_series_instructions(
    side: &Side,
    series: &mut [SeriesV1],
    observer: &mut dyn Observer,
) -> Result<(), BenchError> {
    let counter = measure::instruction_counter()?;
    let Exec::Repeat { cases, .. } = &side.prepared.exec else {
        return Err(BenchError::PairedUnsupported(side.id.clone()));
    };
    observer.progress(Progress::Phase(match counter {
        measure::InstructionCounter::Perf => "counting instructions (perf)",
        measure::InstructionCounter::Callgrind => "counting instructions (callgrind)",
    }));
    for (s, (_, command)) in series.iter_mut().zip(cases) {
        s.metrics.push("instructions_count".to_owned());
        for sample in &mut s.samples {
            sample.values.push(measure::count_instructions(counter, command)?);
        }
    }
    Ok(())
}

/// The number of series (cases) a repeated side measures.
pub(super) fn case_count(side: &Side) -> usize {
    match &side.prepared.exec {
        Exec::Repeat { cases, .. } => cases.len(),
        _ => 0,
    }
}

/// Folds each case's repetitions into its runner-measured series, and the
/// cases' printed results into the side's result: every repetition of a
/// case must print the same result; a builtin's printed result must be the
/// one computed in-process for the trace; with configured cases, the
/// result binds each case's id and printed-result digest, in order.
pub(super) fn repeated_series(
    side: &Side,
    reps: Vec<Vec<(SampleV1, Digest)>>,
) -> Result<(Vec<SeriesV1>, Digest), BenchError> {
    let Exec::Repeat { cases, with_cases, expected_result, .. } = &side.prepared.exec else {
        return Err(BenchError::PairedUnsupported(side.id.clone()));
    };
    let mut series = Vec::with_capacity(cases.len());
    let mut results = Vec::with_capacity(cases.len());
    for ((id, _), reps) in cases.iter().zip(reps) {
        let mut samples = Vec::with_capacity(reps.len());
        let mut printed = None;
        for (sample, digest) in reps {
            match printed {
                None => printed = Some(digest),
                Some(p) if p != digest => {
                    let workload = if *with_cases { format!("{} (case `{id}`)", side.id) } else { side.id.clone() };
                    return Err(BenchError::Nondeterministic { workload, index: sample.rep });
                }
                Some(_) => {}
            }
            samples.push(sample);
        }
        results.push((id.clone(), printed.unwrap_or_default()));
        series.push(SeriesV1 {
            id: id.clone(),
            class: ValueClass::Measured,
            metrics: ["wall_ns", "user_ns", "sys_ns", "peak_rss_bytes"].map(str::to_owned).to_vec(),
            samples,
        });
    }
    let result = match (expected_result, results.as_slice()) {
        (Some(expected), [(_, printed)]) => {
            if *printed != tagged(Tag::Result, format!("{expected}\n").as_bytes()) {
                return Err(BenchError::BuiltinMismatch { workload: side.id.clone() });
            }
            *expected
        }
        (_, [(_, printed)]) if !*with_cases => *printed,
        _ => {
            let mut bytes = Vec::new();
            for (id, printed) in &results {
                bytes.extend_from_slice(id.as_bytes());
                bytes.push(0);
                bytes.extend_from_slice(printed.to_hex().as_bytes());
                bytes.push(b'\n');
            }
            tagged(Tag::Result, &bytes)
        }
    };
    Ok((series, result))
}

/// Runs one side alone, by kind. A harness process that an interrupt ended
/// fails; the run then reports the interrupt, not the failure.
pub(super) fn execute(
    side: &mut Side,
    quiet: bool,
    observer: &mut dyn Observer,
) -> Result<(Vec<SeriesV1>, Digest), BenchError> {
    match execute_kind(side, quiet, observer) {
        Err(_) if crate::interrupt::interrupted() => Err(BenchError::Interrupted),
        ran => ran,
    }
}

fn execute_kind(
    side: &mut Side,
    quiet: bool,
    observer: &mut dyn Observer,
) -> Result<(Vec<SeriesV1>, Digest), BenchError> {
    observer.progress(Progress::Phase("running"));
    let (procedure, id) = (side.procedure.clone(), side.id.clone());
    match &side.prepared.exec {
        Exec::Repeat { .. } => {
            let mut reps = vec![Vec::new(); case_count(side)];
            for (case, case_reps) in reps.iter_mut().enumerate() {
                for index in 0..procedure.warmups + procedure.min_repetitions {
                    case_reps.push(one_repetition(side, case, index, observer)?);
                }
            }
            let (mut series, result) = repeated_series(side, reps)?;
            if side.measure_instructions {
                count_series_instructions(side, &mut series, observer)?;
            }
            Ok((series, result))
        }
        Exec::Bench { harness: BenchHarness::Criterion, .. } => {
            let mut begun = 0;
            let mut on_collecting = |benchmark: &str, samples: u64, iterations: &str| {
                begun += 1;
                observer.progress(Progress::Harness { benchmark, samples, iterations, begun });
            };
            if side.container.is_some() {
                return criterion_in_container(side, &mut on_collecting);
            }
            let run = side.bench_target().ok_or_else(|| BenchError::PairedUnsupported(id.clone()))?;
            Ok(crate::harness::criterion(&run, &mut on_collecting)?)
        }
        Exec::Bench { harness: BenchHarness::Gungraun, .. } => {
            // Built once; then warmup and measured rounds, one run of the
            // executable each, as a paired run takes them a side.
            observer.progress(Progress::Phase("building the bench target"));
            let bin = super::paired::build_bench(side, quiet)?;
            let total = procedure.warmups + procedure.min_repetitions;
            let mut kept: Vec<Vec<crate::harness::RoundValue>> = Vec::new();
            for index in 0..total {
                let warmup = index < procedure.warmups;
                let (values, wall_ns) = super::paired::bench_round(side, &bin, index, warmup)?;
                super::paired::same_benchmarks(&bin, index, kept.first(), &values)?;
                if !warmup {
                    kept.push(values);
                }
                observer.progress(Progress::Repetition { index, total, warmup, wall_ns });
            }
            Ok(crate::harness::round_series(kept))
        }
        Exec::Adapter(_) => Err(BenchError::PairedUnsupported(id)),
        Exec::Hyperfine { .. } => hyperfine_side(side, procedure.warmups, procedure.min_repetitions),
    }
}

/// Hyperfine times a side's command (`warmups`, then `runs`): the image's
/// hyperfine inside the side's container, its export coming back on
/// standard output, or this machine's.
pub(super) fn hyperfine_side(side: &mut Side, warmups: u32, runs: u32) -> Result<(Vec<SeriesV1>, Digest), BenchError> {
    let id = side.id.clone();
    let Exec::Hyperfine { command, shell } = &side.prepared.exec else {
        return Err(BenchError::PairedUnsupported(id));
    };
    let Some((session, _)) = side.container.as_mut() else {
        return Ok(crate::harness::hyperfine(&side.ws.root, &side.ws.rustflags, &id, command, *shell, warmups, runs)?);
    };
    let mut argv = vec![std::ffi::OsString::from("hyperfine")];
    argv.extend(crate::harness::hyperfine_args(command, *shell, warmups, runs, std::ffi::OsStr::new("/dev/stdout")));
    let s = session
        .run(crate::container::WORKSPACE_MOUNT, &argv)
        .map_err(|source| BenchError::Container { workload: id.clone(), source })?;
    if !s.success() {
        return Err(harness_failed(id, "hyperfine", &s));
    }
    Ok(crate::harness::hyperfine_output(&s.stdout, &id, command)?)
}

/// A harness (`hyperfine`, `criterion`) that failed in its container: the
/// run's failure, with its status and stderr tail.
fn harness_failed(workload: String, harness: &str, s: &Sample) -> BenchError {
    BenchError::Failed {
        workload,
        index: 0,
        warmup: false,
        status: format!("{harness} in the container: {}", status_text(s)),
        stderr_tail: String::from_utf8_lossy(&s.stderr_tail).into_owned(),
    }
}

/// Runs a side's criterion bench target once in its container, as `cargo
/// bench -- ARGS` runs it natively (the executable built inside the image,
/// `--bench` and the workload's arguments, in its package's directory), its
/// home in the writable mount; reads what it measured there.
fn criterion_in_container(
    side: &mut Side,
    on_collecting: &mut dyn FnMut(&str, u64, &str),
) -> Result<(Vec<SeriesV1>, Digest), BenchError> {
    let id = side.id.clone();
    let (Exec::Bench { args, .. }, Some(bin)) = (&side.prepared.exec, &side.bench_bin) else {
        return Err(BenchError::PairedUnsupported(id));
    };
    let mut argv = vec![bin.exe.clone().into_os_string(), "--bench".into()];
    argv.extend(args.iter().map(Into::into));
    let shown = format!("{} --bench {}", bin.exe.display(), args.join(" "));
    let (s, home) = super::paired::run_in_container(side, bin.clone(), argv, "criterion")?;
    if !s.success() {
        return Err(harness_failed(id, "criterion", &s));
    }
    let (series, result) = crate::harness::criterion_series(&home, &shown)?;
    // Criterion's progress stays in the container (its stderr comes back
    // as a tail); what it measured is told once it has finished.
    for s in &series {
        let iterations: u64 = s.samples.iter().filter_map(|x| x.values.get(2)).sum();
        on_collecting(&s.id, s.samples.len() as u64, &format!("{iterations} iterations"));
    }
    Ok((series, result))
}
