//! One benchmark run: configuration → manifests → repetitions → sealed pack.
//!
//! Owns the order of a run and its failure modes. The workload runs first
//! (warmups, then measured repetitions, each a fresh process); the result
//! digest and the raw samples then go through the builder, the capsule is
//! sealed and written atomically, and the written pack is verified before
//! the run reports success. Events stream to the caller's observer as they
//! join the chain; `capsule_sealed` and `pack_ready` continue the chain on
//! the stream only.
//!
//! The pieces, in the order a run meets them: [`prepare`] (what a workload
//! runs, and the policy's refusals), [`side`] (manifests, the track's rules,
//! the builder opened), [`execute`] (one side measured alone), [`paired`]
//! (baseline and head in interleaved rounds) and [`seal`] (statement
//! locked, pack sealed, written and verified; proving sides).

use std::path::PathBuf;

use capsule_adapter::AdapterError;

use capsule::builder::{BuildError, EventObserver};
use capsule::digest::Digest;
use capsule::events::EventLog;
use capsule::verify::Report;
use serde_json::json;

use crate::config::{self, ConfigError};
use crate::measure;

mod execute;
mod paired;
mod prepare;
mod seal;
mod side;

use execute::execute;
use prepare::Exec;
use seal::{finish_side, prove_side};
use side::start_side;

pub use paired::{ADAPTIVE_CAP_FACTOR, adaptive_looks, bench_paired, more_rounds};
pub(crate) use prepare::command_spec;
pub use prepare::{default_backends, input_hash};

/// What the caller asks for.
#[derive(Clone, Debug, Default)]
pub struct BenchOptions {
    /// The workspace manifest (`Cargo.toml`); default: the current
    /// directory's workspace.
    pub manifest_path: Option<PathBuf>,
    /// The workload id.
    pub workload: Option<String>,
    /// The track.
    pub track: Option<String>,
    /// Where to write the pack.
    pub out: PathBuf,
    /// This executable (runs builtin repetitions).
    pub self_exe: PathBuf,
    /// A run id to use (paired runs share one).
    pub run_id: Option<String>,
    /// Also count instructions (`--measure instructions`): each repetition
    /// is run once more under `perf stat` or `valgrind --tool=callgrind`,
    /// after the timed repetitions, and the count joins its sample.
    pub measure_instructions: bool,
    /// Measured repetitions, when more than the policy's minimum are
    /// wanted (more repetitions, narrower comparison intervals).
    pub repetitions: Option<u32>,
    /// Quiet cargo's own build output too (`cargo build --quiet`; errors
    /// still show).
    pub quiet: bool,
    /// The container engine for a workload that sets `container`
    /// (default: the first that answers, docker then podman).
    pub engine: Option<crate::container::EngineKind>,
}

/// Progress the caller may show.
#[derive(Clone, Debug)]
pub enum Progress<'a> {
    /// The run uses this workload, track and policy.
    Plan {
        /// Workload id.
        workload: &'a str,
        /// Whether it is the embedded default.
        embedded_default: bool,
        /// Track.
        track: &'a str,
        /// Policy id.
        policy: &'a str,
        /// Warmups.
        warmups: u32,
        /// Measured repetitions (paired: the first count of rounds).
        repetitions: u32,
        /// The harness that samples on its own, unpaired (`criterion`,
        /// `hyperfine`): the counts above are then its business, and
        /// [`Progress::Harness`] reports criterion's.
        harness: Option<&'a str>,
    },
    /// A phase started.
    Phase(&'a str),
    /// A harness reported its own progress: criterion began collecting
    /// one benchmark's samples.
    Harness {
        /// The benchmark id.
        benchmark: &'a str,
        /// The samples it collects.
        samples: u64,
        /// The iterations it estimates in all.
        iterations: &'a str,
        /// Benchmarks begun so far in this run, this one included.
        begun: u32,
    },
    /// A repetition finished.
    Repetition {
        /// 0-based index, warmups included.
        index: u32,
        /// Total repetitions, warmups included.
        total: u32,
        /// Whether it was a warmup.
        warmup: bool,
        /// Its wall time.
        wall_ns: u64,
    },
}

/// Receives progress and events.
pub trait Observer: Send {
    /// A progress update.
    fn progress(&mut self, p: Progress<'_>);
}

/// The outcome of a successful run.
#[derive(Clone, Debug)]
pub struct BenchOutcome {
    /// Where the pack was written.
    pub pack: PathBuf,
    /// The capsule hash.
    pub capsule_hash: Digest,
    /// The workload id.
    pub workload: String,
    /// The track.
    pub track: String,
    /// The result digest.
    pub result_digest: Digest,
    /// Aggregates of each metric, by metric name.
    pub aggregates: Vec<(String, capsule::objects::AggregatesV1)>,
    /// The verification report of the written pack (profile `policy`).
    pub report: Report,
    /// The source tree the run measured (commit, dirty), from the pack.
    pub git: Option<capsule::objects::GitManifestV1>,
    /// The container the repetitions ran in, from the pack.
    pub container: Option<capsule::objects::ContainerManifestV1>,
    /// The sealed event log (the live stream continues it after sealing).
    pub events: EventLog,
    /// The worst series by the policy's worst-case statistics (head values
    /// only), when the policy names any.
    pub worst_case: Option<capsule::compare::WorstCaseComparison>,
}

/// Why a run failed. Nothing is written at the destination on failure.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The track is not one the policy defines.
    #[error("track `{track}` is not defined by policy `{policy}` (tracks: {known})")]
    UnknownTrack {
        /// The track.
        track: String,
        /// The policy id.
        policy: String,
        /// Its tracks.
        known: String,
    },
    /// The operating system's randomness failed.
    #[error("failed to draw the run's nonce from the operating system's randomness: {0}")]
    Randomness(String),
    /// Cargo's configuration could not be resolved.
    #[error("failed to resolve cargo's configuration in `{root}` (its build flags are recorded): {why}")]
    CargoConfig {
        /// The workspace root.
        root: String,
        /// Why.
        why: String,
    },
    /// The build settings break the track's rules.
    #[error("refusing to run on track `{track}`: {setting}")]
    TrackViolation {
        /// The track.
        track: String,
        /// The offending setting.
        setting: String,
    },
    /// A builtin's parameters are invalid.
    #[error(transparent)]
    Builtin(#[from] crate::builtin::BuiltinError),
    /// A `command` workload names neither a binary nor a command line.
    #[error("workload `{0}` has nothing to run: set `bin` or `args` (kind `command`), or `command` (kind `adapter`)")]
    EmptyCommand(String),
    /// Building a binary target failed.
    #[error(
        "failed to build binary `{bin}` with cargo (exit {code:?}); run `cargo build --release --bin {bin}` to see why"
    )]
    Build {
        /// The binary target.
        bin: String,
        /// cargo's exit code.
        code: Option<i32>,
    },
    /// An input file cannot be read.
    #[error("failed to read workload input `{path}`")]
    Input {
        /// The path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The workload process could not start.
    #[error("failed to start workload `{workload}` (`{program}`)")]
    Spawn {
        /// Workload id.
        workload: String,
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// SIGINT or SIGTERM arrived ([`crate::interrupt`]): the workload was
    /// ended, and nothing was written.
    #[error("interrupted: the workload was stopped and no pack was written")]
    Interrupted,
    /// A repetition failed.
    #[error("workload `{workload}` failed in {} {index} ({status}); last stderr:\n{stderr_tail}", if *warmup { "warmup" } else { "repetition" })]
    Failed {
        /// Workload id.
        workload: String,
        /// 0-based repetition index (warmups included).
        index: u32,
        /// Whether it was a warmup.
        warmup: bool,
        /// Exit status.
        status: String,
        /// The tail of its stderr.
        stderr_tail: String,
    },
    /// Repetitions printed different results.
    #[error(
        "workload `{workload}` printed a different result in repetition {index} than in repetition 0; results must be deterministic (stdout is the result)"
    )]
    Nondeterministic {
        /// Workload id.
        workload: String,
        /// The repetition that differed.
        index: u32,
    },
    /// A harness (criterion, hyperfine) failed or wrote unusable output.
    #[error(transparent)]
    Harness(#[from] crate::harness::HarnessError),
    /// The policy requires an anchor this run cannot provide.
    #[error("policy `{policy}` requires anchor `{anchor}`, which this run cannot provide: {why}")]
    PolicyRequires {
        /// The policy id.
        policy: String,
        /// The anchor.
        anchor: String,
        /// Why it is missing.
        why: String,
    },
    /// The sealed pack did not verify; nothing was written.
    #[error("the sealed pack does not verify ({}); nothing was written", .0.codes().join(", "))]
    Rejected(Box<Report>),
    /// Writing the pack failed.
    #[error("failed to write pack `{path}`")]
    Output {
        /// The destination.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The baseline reference cannot be used.
    #[error("cannot use baseline `{reference}`: {why}")]
    Baseline {
        /// The reference as given.
        reference: String,
        /// Why.
        why: String,
    },
    /// Paired mode needs fresh-process repetitions.
    #[error(
        "workload `{0}` cannot be paired: it proves, or the baseline configures it as another kind; paired mode needs the same non-proving kind (builtin, command, criterion, hyperfine or gungraun) on both sides (run it unpaired with `--workload`)"
    )]
    PairedUnsupported(String),
    /// A Trace Adapter (built-in or external) failed or broke the protocol.
    #[error("the adapter of workload `{workload}` failed")]
    Adapter {
        /// Workload id.
        workload: String,
        /// What failed.
        #[source]
        source: AdapterError,
    },
    /// An option this kind of workload does not support.
    #[error("workload `{workload}` is a proving workload; {what} is not supported for it")]
    ProvingUnsupported {
        /// Workload id.
        workload: String,
        /// The option.
        what: String,
    },
    /// A builtin's child printed another result than the one computed
    /// in-process for the trace.
    #[error("builtin workload `{workload}` printed a result that differs from the one computed for its trace")]
    BuiltinMismatch {
        /// Workload id.
        workload: String,
    },
    /// Fewer repetitions than the policy's minimum.
    #[error("{requested} repetitions requested, but policy `{policy}` requires at least {minimum}")]
    TooFewRepetitions {
        /// What was asked.
        requested: u32,
        /// The policy id.
        policy: String,
        /// Its minimum.
        minimum: u32,
    },
    /// Instructions cannot be counted here (or counting failed).
    #[error(transparent)]
    Instructions(#[from] measure::InstructionError),
    /// The workload's container could not be used.
    #[error("workload `{workload}` cannot run in its container")]
    Container {
        /// The workload id.
        workload: String,
        /// Why.
        #[source]
        source: crate::container::ContainerError,
    },
    /// Something not (yet) possible for a workload in a container.
    #[error("workload `{workload}` runs in a container; {what} is not supported there")]
    InContainer {
        /// The workload id.
        workload: String,
        /// What was asked.
        what: String,
    },
    /// Sealing or writing the pack failed.
    #[error("failed to seal the capsule")]
    Seal(#[from] BuildError),
}

pub(crate) fn run_id() -> String {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    format!("run-{ms}-{}", std::process::id())
}

/// Runs a benchmark and writes its pack.
pub fn bench(
    opts: &BenchOptions,
    observer: &mut dyn Observer,
    events: Option<EventObserver>,
) -> Result<BenchOutcome, BenchError> {
    let run_id = opts.run_id.clone().unwrap_or_else(run_id);
    let ws = config::load(opts.manifest_path.as_deref())?;
    let mut side = start_side(opts, ws, false, &run_id, events, observer)?;
    if matches!(side.prepared.exec, Exec::Adapter(_)) {
        return prove_side(side, observer)?.persist();
    }
    let (series, result) = execute(&mut side, opts.quiet, observer)?;
    finish_side(side, series, result, None, observer)?.persist()
}

/// An observer that shows nothing (the baseline side of a paired run).
struct Quiet;

impl Observer for Quiet {
    fn progress(&mut self, _: Progress<'_>) {}
}

/// The post-seal events (`capsule_sealed`, `pack_ready`), continuing the
/// sealed chain on the live stream. They never enter a pack.
pub fn post_seal_events(outcome: &BenchOutcome) -> Vec<(capsule::objects::EventV1, Digest)> {
    let mut log = outcome.events.clone();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let pack_sha = std::fs::read(&outcome.pack).map(|b| capsule::digest::plain(&b)).unwrap_or_default();
    let mut out = Vec::new();
    for (kind, data) in [
        ("capsule_sealed", json!({"capsule_path": "capsule.json", "capsule_hash": outcome.capsule_hash})),
        ("pack_ready", json!({"pack_path": outcome.pack.display().to_string(), "pack_sha256": pack_sha})),
    ] {
        if let Ok((e, h)) = log.push(now, kind, data) {
            out.push((e.clone(), h));
        }
    }
    out
}
