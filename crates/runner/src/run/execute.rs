//! Measuring one side alone: fresh-process repetitions (`wait4`), a
//! criterion run, or a hyperfine run, and folding them into series and a
//! result digest.

use capsule::digest::{Digest, Tag, tagged};
use capsule::objects::{SampleV1, SeriesV1, ValueClass};
use serde_json::json;

use crate::measure::{self, Sample};

use super::prepare::Exec;
use super::side::Side;
use super::{BenchError, Observer, Progress};

pub(super) fn status_text(s: &Sample) -> String {
    match (s.exit_code, s.signal) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "unknown status".to_owned(),
    }
}

/// Runs one fresh-process repetition of a side, recording its event.
pub(super) fn one_repetition(
    side: &mut Side,
    index: u32,
    observer: &mut dyn Observer,
) -> Result<(SampleV1, Digest), BenchError> {
    let warmup = index < side.procedure.warmups;
    let total = side.procedure.warmups + side.procedure.min_repetitions;
    let Exec::Repeat { command, program, .. } = &mut side.prepared.exec else {
        return Err(BenchError::PairedUnsupported(side.id.clone()));
    };
    if crate::interrupt::interrupted() {
        return Err(BenchError::Interrupted);
    }
    let s = measure::run(command).map_err(|source| BenchError::Spawn {
        workload: side.id.clone(),
        program: program.clone(),
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
    side.b.event(
        "repetition",
        json!({"index": index, "warmup": warmup, "wall_ns": s.wall_ns, "peak_rss_bytes": s.peak_rss_bytes}),
    )?;
    observer.progress(Progress::Repetition { index, total, warmup, wall_ns: s.wall_ns });
    let sample = SampleV1 {
        rep: index,
        warmup,
        values: vec![s.wall_ns, s.user_ns, s.sys_ns, s.peak_rss_bytes],
        proof_digest: None,
    };
    Ok((sample, tagged(Tag::Result, &s.stdout)))
}

/// Counts the instructions of every repetition, after the timed ones (an
/// instrumented run must not disturb a timed one), adding the metric
/// `instructions_count` to each sample.
pub(super) fn count_series_instructions(
    side: &Side,
    series: &mut SeriesV1,
    observer: &mut dyn Observer,
) -> Result<(), BenchError> {
    let counter = measure::instruction_counter()?;
    let Exec::Repeat { command, .. } = &side.prepared.exec else {
        return Err(BenchError::PairedUnsupported(side.id.clone()));
    };
    observer.progress(Progress::Phase(match counter {
        measure::InstructionCounter::Perf => "counting instructions (perf)",
        measure::InstructionCounter::Callgrind => "counting instructions (callgrind)",
    }));
    series.metrics.push("instructions_count".to_owned());
    for sample in &mut series.samples {
        sample.values.push(measure::count_instructions(counter, command)?);
    }
    Ok(())
}

/// Folds repetitions into the runner-measured series and its result: every
/// repetition must print the same result, and a builtin's printed result
/// must be the one computed in-process for the trace.
pub(super) fn repeated_series(
    side: &Side,
    reps: Vec<(SampleV1, Digest)>,
) -> Result<(Vec<SeriesV1>, Digest), BenchError> {
    let mut samples = Vec::with_capacity(reps.len());
    let mut printed = None;
    for (sample, digest) in reps {
        match printed {
            None => printed = Some(digest),
            Some(p) if p != digest => {
                return Err(BenchError::Nondeterministic { workload: side.id.clone(), index: sample.rep });
            }
            Some(_) => {}
        }
        samples.push(sample);
    }
    let printed = printed.unwrap_or_default();
    let result = match &side.prepared.exec {
        Exec::Repeat { expected_result: Some(expected), .. } => {
            if printed != tagged(Tag::Result, format!("{expected}\n").as_bytes()) {
                return Err(BenchError::BuiltinMismatch { workload: side.id.clone() });
            }
            *expected
        }
        _ => printed,
    };
    let series = SeriesV1 {
        id: side.id.clone(),
        class: ValueClass::Measured,
        metrics: ["wall_ns", "user_ns", "sys_ns", "peak_rss_bytes"].map(str::to_owned).to_vec(),
        samples,
    };
    Ok((vec![series], result))
}

pub(super) fn execute(side: &mut Side, observer: &mut dyn Observer) -> Result<(Vec<SeriesV1>, Digest), BenchError> {
    observer.progress(Progress::Phase("running"));
    let (procedure, id) = (side.procedure.clone(), side.id.clone());
    match &side.prepared.exec {
        Exec::Repeat { .. } => {
            let mut reps = Vec::new();
            for index in 0..procedure.warmups + procedure.min_repetitions {
                reps.push(one_repetition(side, index, observer)?);
            }
            let (mut series, result) = repeated_series(side, reps)?;
            if side.measure_instructions {
                count_series_instructions(side, &mut series[0], observer)?;
            }
            Ok((series, result))
        }
        Exec::Criterion { bench, package, args, features } => {
            Ok(crate::harness::criterion(&crate::harness::CriterionRun {
                root: &side.ws.root,
                target_dir: &side.ws.target_dir,
                rustflags: &side.ws.rustflags,
                bench,
                package: package.as_deref(),
                features,
                args,
            })?)
        }
        Exec::Adapter(_) => Err(BenchError::PairedUnsupported(id)),
        Exec::Hyperfine { command, shell } => Ok(crate::harness::hyperfine(
            &side.ws.root,
            &side.ws.rustflags,
            &id,
            command,
            *shell,
            procedure.warmups,
            procedure.min_repetitions,
        )?),
    }
}
