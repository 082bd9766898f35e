//! One benchmark run: configuration → manifests → repetitions → sealed pack.
//!
//! Owns the order of a run and its failure modes. The workload runs first
//! (warmups, then measured repetitions, each a fresh process); the result
//! digest and the raw samples then go through the builder, the capsule is
//! sealed and written atomically, and the written pack is verified before
//! the run reports success. Events stream to the caller's observer as they
//! join the chain; `capsule_sealed` and `pack_ready` continue the chain on
//! the stream only.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use capsule_adapter::{AdapterError, AdapterInfo, Execution, ProcessAdapter, ProofClaim, PublicOutputs, TraceAdapter};

use capsule::builder::{BuildError, CapsuleBuilder, EventObserver, LockedCapsule, system_clock};
use capsule::digest::{Digest, Tag, TaggedHasher, tagged};
use capsule::events::EventLog;
use capsule::objects::{
    AnchorsV1, ManifestKind, MeasurementsV1, PublicInputsV1, SampleV1, SeriesV1, TraceSpecV1, ValueClass,
};
use capsule::rows::RowParams;
use capsule::standard::PinnedPolicy;
use capsule::verify::{BackendRegistry, PolicyPin, Profile, Report, VerifyOptions, track_violations, verify_pack_file};
use serde_json::{Value, json};

use crate::builtin::{BuiltinError, MerkleParams, STARK, merkle_build_open, merkle_trace_spec};
use crate::config::{self, ConfigError, WorkloadConfig};
use crate::manifest;
use crate::measure::{self, Sample};

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
        /// Measured repetitions.
        repetitions: u32,
    },
    /// A phase started.
    Phase(&'a str),
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
    /// The sealed event log (the live stream continues it after sealing).
    pub events: EventLog,
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
        "workload `{0}` runs criterion or proves; paired mode needs a non-proving builtin, a command or a hyperfine workload (criterion pairing is not there yet: run it unpaired with `--workload`)"
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
    /// Sealing or writing the pack failed.
    #[error("failed to seal the capsule")]
    Seal(#[from] BuildError),
}

/// The workload input hash: for each input, sorted by path, the path's
/// UTF-8 bytes, `0x00`, and the 32-byte SHA-256 of the file, all under the
/// workload-input tag. No inputs hash the empty string.
pub fn input_hash(root: &Path, inputs: &[String]) -> Result<Digest, BenchError> {
    let mut sorted = inputs.to_vec();
    sorted.sort();
    let mut h = TaggedHasher::new(Tag::WorkloadInput);
    for p in &sorted {
        let bytes = std::fs::read(root.join(p)).map_err(|source| BenchError::Input { path: p.clone(), source })?;
        h.update(p.as_bytes());
        h.update(&[0]);
        h.update(&capsule::digest::plain(&bytes).0);
    }
    Ok(h.finish())
}

/// How a workload executes.
enum Exec {
    /// Fresh-process repetitions measured with `wait4` (builtin, command).
    Repeat {
        command: Command,
        program: String,
        /// For builtins: the result computed in-process for the trace.
        expected_result: Option<Digest>,
    },
    /// One criterion run.
    Criterion { bench: String, package: Option<String>, args: Vec<String>, features: Vec<String> },
    /// One hyperfine run.
    Hyperfine { command: String, shell: bool },
    /// A Trace Adapter process per repetition: execute, prove for the
    /// locked statement, verify.
    Adapter(Box<AdapterRun>),
}

/// How to start a Trace Adapter, and what its first execution reported.
struct AdapterRun {
    program: PathBuf,
    args: Vec<String>,
    cwd: PathBuf,
    /// The workload id the statement records: a built-in backend proves
    /// one workload under its own name (whatever the configuration calls
    /// it); an external adapter's workload is the configured id, which a
    /// reader pins to a program.
    statement_workload: String,
    info: AdapterInfo,
    execution: Execution,
    outputs: PublicOutputs,
}

impl AdapterRun {
    fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.args).current_dir(&self.cwd);
        c
    }
}

/// The proof backends a run's own verification trusts: the built-in STARK.
pub fn default_backends() -> BackendRegistry {
    let mut r = BackendRegistry::default();
    r.register(Arc::new(capsule_stark::StarkBackend));
    r
}

struct Prepared {
    spec: TraceSpecV1,
    rows: Vec<u8>,
    exec: Exec,
    parameters: std::collections::BTreeMap<String, Value>,
    /// The backends the written pack is verified with.
    backends: BackendRegistry,
}

pub(crate) fn command_spec() -> TraceSpecV1 {
    TraceSpecV1 {
        schema: Default::default(),
        format_id: "capsulebench/no-trace/v1".to_owned(),
        record_schema: "capsulebench/no-trace/row/v1".to_owned(),
        encoding_id: "none".to_owned(),
        field_id: None,
        row_width: 64,
    }
}

/// Starts the adapter once: describes it, executes the workload with the
/// policy's proof parameters for its backend, and collects the trace rows
/// and public outputs (before the statement is locked).
fn prepare_adapter(
    id: &str,
    program: PathBuf,
    args: Vec<String>,
    ws: &config::WorkspaceConfig,
    parameters: std::collections::BTreeMap<String, Value>,
    policy: &PinnedPolicy,
    external: bool,
) -> Result<Prepared, BenchError> {
    let failed = |source| BenchError::Adapter { workload: id.to_owned(), source };
    let mut run = AdapterRun {
        program,
        args,
        cwd: ws.root.clone(),
        statement_workload: if external { id.to_owned() } else { STARK.to_owned() },
        info: AdapterInfo {
            backend_id: String::new(),
            program_id: String::new(),
            trace_spec: command_spec(),
            examples: Vec::new(),
        },
        execution: Execution::default(),
        outputs: PublicOutputs { row_count: 0, result_digest: Digest::ZERO, values: Value::Null },
    };
    let mut a = ProcessAdapter::spawn(&mut run.command()).map_err(failed)?;
    run.info = a.describe().map_err(failed)?;
    run.execution = Execution {
        parameters: parameters.clone(),
        proof_params: policy.policy.proof.backends.get(&run.info.backend_id).cloned(),
    };
    let mut rows = Vec::new();
    a.execute(&run.execution, Some(&mut rows)).map_err(failed)?;
    run.outputs = a.public_outputs().map_err(failed)?;
    a.close().map_err(failed)?;
    let width = u64::from(run.info.trace_spec.row_width);
    if width == 0 || rows.len() as u64 != run.outputs.row_count.saturating_mul(width) {
        return Err(failed(AdapterError::Process {
            program: run.program.display().to_string(),
            why: format!(
                "it wrote {} bytes of rows for {} rows of {width} bytes (its trace spec's row width)",
                rows.len(),
                run.outputs.row_count
            ),
        }));
    }
    let mut backends = default_backends();
    if external {
        // The run checks its own pack with the adapter it ran, pinned to
        // the program the adapter described; a reader pins their own.
        backends.register(Arc::new(capsule_adapter::ProcessBackend {
            backend_id: run.info.backend_id.clone(),
            program: run.program.clone(),
            args: run.args.clone(),
            time_limit: capsule_adapter::ProcessBackend::TIME_LIMIT,
        }));
        backends.pin(id, &run.info.program_id);
    }
    Ok(Prepared { spec: run.info.trace_spec.clone(), rows, exec: Exec::Adapter(Box::new(run)), parameters, backends })
}

fn prepare(
    w: &WorkloadConfig,
    opts: &BenchOptions,
    ws: &config::WorkspaceConfig,
    policy: &PinnedPolicy,
) -> Result<Prepared, BenchError> {
    match w {
        WorkloadConfig::Builtin { id, builtin, parameters, .. } if builtin == STARK => {
            let workload = capsule_stark::Workload::parse(parameters)
                .map_err(|why| BuiltinError::Invalid { builtin: builtin.clone(), why })?;
            let args = ["capsule", "__adapter", STARK].map(str::to_owned).to_vec();
            prepare_adapter(id, opts.self_exe.clone(), args, ws, workload.to_parameters(), policy, false)
        }
        WorkloadConfig::Adapter { id, command, parameters, .. } => {
            let Some((prog, rest)) = command.split_first() else {
                return Err(BenchError::EmptyCommand(id.clone()));
            };
            let program = if prog.contains('/') { ws.root.join(prog) } else { PathBuf::from(prog) };
            prepare_adapter(id, program, rest.to_vec(), ws, parameters.clone(), policy, true)
        }
        WorkloadConfig::Builtin { builtin, parameters, .. } => {
            let p = MerkleParams::parse(builtin, parameters)?;
            let out = merkle_build_open(p)?;
            let mut cmd = Command::new(&opts.self_exe);
            // The statement records every parameter, defaults included.
            let parameters = &p.to_parameters();
            let params = serde_json::to_string(parameters).unwrap_or_default();
            cmd.args(["capsule", "__builtin", builtin, &params]);
            Ok(Prepared {
                spec: merkle_trace_spec(),
                rows: out.rows,
                exec: Exec::Repeat {
                    command: cmd,
                    program: format!("builtin {builtin}"),
                    expected_result: Some(out.result),
                },
                parameters: parameters.clone(),
                backends: default_backends(),
            })
        }
        WorkloadConfig::Command { id, bin, package, args, features, parameters, .. } => {
            let parameters =
                &with_invocation(parameters, bin.iter().map(|b| ("bin", b.clone())).chain([("args", args.join(" "))]));
            let (mut cmd, program) = match bin {
                Some(bin) => {
                    let mut build = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
                    build
                        .args(["build", "--release", "--bin", bin])
                        .env("CARGO_TARGET_DIR", &ws.target_dir)
                        .current_dir(&ws.root);
                    manifest::with_rustflags(&mut build, &ws.rustflags);
                    if let Some(p) = package {
                        build.args(["--package", p]);
                    }
                    if !features.is_empty() {
                        build.args(["--features", &features.join(",")]);
                    }
                    if opts.quiet {
                        build.arg("--quiet");
                    }
                    let status = build.status().map_err(|source| BenchError::Spawn {
                        workload: id.clone(),
                        program: "cargo".into(),
                        source,
                    })?;
                    if !status.success() {
                        return Err(BenchError::Build { bin: bin.clone(), code: status.code() });
                    }
                    let exe = ws.target_dir.join("release").join(bin);
                    let mut c = Command::new(&exe);
                    c.args(args);
                    (c, bin.clone())
                }
                None => {
                    let Some((prog, rest)) = args.split_first() else {
                        return Err(BenchError::EmptyCommand(id.clone()));
                    };
                    let mut c = Command::new(prog);
                    c.args(rest);
                    (c, prog.clone())
                }
            };
            // A cargo the command runs builds with the recorded flags.
            manifest::with_rustflags(cmd.current_dir(&ws.root), &ws.rustflags);
            Ok(Prepared {
                spec: command_spec(),
                rows: Vec::new(),
                exec: Exec::Repeat { command: cmd, program, expected_result: None },
                parameters: parameters.clone(),
                backends: default_backends(),
            })
        }
        WorkloadConfig::Criterion { bench, package, args, features, parameters, .. } => {
            let parameters = &with_invocation(parameters, [("bench", bench.clone()), ("args", args.join(" "))]);
            Ok(Prepared {
                spec: command_spec(),
                rows: Vec::new(),
                exec: Exec::Criterion {
                    bench: bench.clone(),
                    package: package.clone(),
                    args: args.clone(),
                    features: features.clone(),
                },
                parameters: parameters.clone(),
                backends: default_backends(),
            })
        }
        WorkloadConfig::Hyperfine { command, shell, parameters, .. } => {
            let parameters = &with_invocation(parameters, [("command", command.clone())]);
            Ok(Prepared {
                spec: command_spec(),
                rows: Vec::new(),
                exec: Exec::Hyperfine { command: command.clone(), shell: *shell },
                parameters: parameters.clone(),
                backends: default_backends(),
            })
        }
    }
}

/// The parameters a statement records: the user's, or, when there are
/// none, the invocation itself (so a changed command line is a different
/// workload, visible in the statement).
fn with_invocation<'a>(
    user: &std::collections::BTreeMap<String, Value>,
    invocation: impl IntoIterator<Item = (&'a str, String)>,
) -> std::collections::BTreeMap<String, Value> {
    if !user.is_empty() {
        return user.clone();
    }
    let home = std::env::var("HOME").ok();
    invocation
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_owned(), Value::from(manifest::redact_home(&v, home.as_deref()))))
        .collect()
}

/// Refuses a run whose measurements the policy would reject: a required
/// proof the workload does not make, or a required metric this kind of
/// workload does not produce.
fn preflight_measurements(
    id: &str,
    policy: &PinnedPolicy,
    prepared: &Prepared,
    opts: &BenchOptions,
) -> Result<(), BenchError> {
    let p = &policy.policy;
    let proving = matches!(prepared.exec, Exec::Adapter(_));
    if proving && opts.measure_instructions {
        return Err(BenchError::ProvingUnsupported {
            workload: id.to_owned(),
            what: "`--measure instructions`".to_owned(),
        });
    }
    if p.proof.required && !proving {
        return Err(BenchError::PolicyRequires {
            policy: p.id.clone(),
            anchor: "proof".to_owned(),
            why: "this workload kind does not prove; choose a policy that does not require a proof".to_owned(),
        });
    }
    let mut produced = match prepared.exec {
        Exec::Repeat { .. } => vec!["wall_ns", "user_ns", "sys_ns", "peak_rss_bytes"],
        Exec::Adapter(_) => ADAPTER_METRICS.to_vec(),
        Exec::Criterion { .. } | Exec::Hyperfine { .. } => vec!["wall_ns"],
    };
    if opts.measure_instructions {
        // Find the counter now, not after the timed repetitions.
        measure::instruction_counter()?;
        produced.push("instructions_count");
    }
    let mut needed: Vec<&String> = vec![&p.measurement.primary_metric];
    if matches!(prepared.exec, Exec::Repeat { .. } | Exec::Adapter(_)) {
        needed.extend(&p.required_metrics);
    }
    if proving {
        needed.extend(&p.proof.required_metrics);
    }
    if let Some(m) = needed.into_iter().find(|m| !produced.contains(&m.as_str())) {
        return Err(BenchError::PolicyRequires {
            policy: p.id.clone(),
            anchor: format!("metric {m}"),
            why: format!("this workload kind measures only {}", produced.join(", ")),
        });
    }
    Ok(())
}

/// What a proving repetition measures: the adapter process (`wait4`),
/// then the prove and verify calls and the proof's size.
const ADAPTER_METRICS: [&str; 7] =
    ["wall_ns", "user_ns", "sys_ns", "peak_rss_bytes", "prove_ns", "proof_bytes", "verify_ns"];

/// The cargo profile a workload's code is built with.
fn profile_of(w: &WorkloadConfig) -> &'static str {
    match w {
        WorkloadConfig::Adapter { .. } => "none",
        WorkloadConfig::Builtin { .. } => {
            if cfg!(debug_assertions) {
                "dev"
            } else {
                "release"
            }
        }
        // A command line is run as found: nothing of it is built here.
        WorkloadConfig::Command { bin: None, .. } => "none",
        WorkloadConfig::Command { .. } => "release",
        WorkloadConfig::Criterion { .. } => "bench",
        WorkloadConfig::Hyperfine { .. } => "none",
    }
}

/// 32 bytes of the operating system's randomness, as 64 lowercase hex
/// digits: the run's nonce, locked into its statement.
fn run_nonce() -> Result<String, BenchError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| BenchError::Randomness(e.to_string()))?;
    Ok(Digest(b).to_hex())
}

pub(crate) fn run_id() -> String {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    format!("run-{ms}-{}", std::process::id())
}

fn status_text(s: &Sample) -> String {
    match (s.exit_code, s.signal) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "unknown status".to_owned(),
    }
}

/// One side of a run: its configuration, prepared workload and open builder.
struct Side {
    measure_instructions: bool,
    ws: config::WorkspaceConfig,
    id: String,
    policy: PinnedPolicy,
    track: String,
    procedure: capsule::objects::MeasurementProcedureV1,
    prepared: Prepared,
    b: CapsuleBuilder,
    out: PathBuf,
}

/// Prepares the workload of the loaded configuration `ws`, collects
/// manifests, refuses what the track or policy forbids, and opens the
/// builder.
fn start_side(
    opts: &BenchOptions,
    mut ws: config::WorkspaceConfig,
    paired: bool,
    run_id: &str,
    events: Option<EventObserver>,
    observer: &mut dyn Observer,
) -> Result<Side, BenchError> {
    let workload = ws.select(opts.workload.as_deref())?;
    writable_destination(&opts.out)?;
    let policy: PinnedPolicy = ws.policy()?;
    let track =
        opts.track.clone().or_else(|| ws.table.default_track.clone()).unwrap_or_else(|| "baseline_no_accel".to_owned());
    let Some(rules) = policy.policy.tracks.get(&track) else {
        return Err(BenchError::UnknownTrack {
            track,
            policy: policy.policy.id.clone(),
            known: policy.policy.tracks.keys().cloned().collect::<Vec<_>>().join(", "),
        });
    };
    let id = workload.id().to_owned();
    let mut procedure = policy.policy.measurement.clone();
    // A paired run takes the policy's paired repetitions unless told
    // otherwise (never fewer than the measurement minimum).
    let paired_default = policy.policy.comparison.paired_repetitions.filter(|_| paired);
    if let Some(n) = opts.repetitions.or(paired_default.map(|n| n.max(procedure.min_repetitions))) {
        if n < procedure.min_repetitions {
            return Err(BenchError::TooFewRepetitions {
                requested: n,
                policy: policy.policy.id.clone(),
                minimum: procedure.min_repetitions,
            });
        }
        procedure.min_repetitions = n;
    }
    observer.progress(Progress::Plan {
        workload: &id,
        embedded_default: ws.workloads.is_empty() && id == config::DEFAULT_WORKLOAD,
        track: &track,
        policy: &policy.policy.id,
        warmups: procedure.warmups,
        repetitions: procedure.min_repetitions,
    });

    observer.progress(Progress::Phase("collecting manifests"));
    // The track's rules are checked before anything is built or run.
    let (features, accelerators) = ws.build_settings(&workload);
    let flags = manifest::build_flags(&ws.root)
        .map_err(|why| BenchError::CargoConfig { root: ws.root.display().to_string(), why })?;
    let toolchain = manifest::toolchain(&flags, &features, profile_of(&workload), &accelerators);
    if let Some(setting) = track_violations(&track, rules, &toolchain).into_iter().next() {
        return Err(BenchError::TrackViolation { track, setting });
    }
    // A wrapper between cargo and rustc, or per-profile rustflags, can pass
    // flags the run never sees; a track that forbids flags cannot be
    // claimed through them.
    if !rules.forbidden_rustflags.is_empty()
        && let Some(w) = flags.unseen.first()
    {
        return Err(BenchError::TrackViolation {
            track,
            setting: format!("{w} could pass rustc flags this run cannot record; remove it"),
        });
    }
    // Every cargo the run starts (its own builds, and any a workload's
    // command runs) gets exactly the recorded flags.
    ws.rustflags = flags.rustflags.clone();
    let prepared = prepare(&workload, opts, &ws, &policy)?;
    preflight_measurements(&id, &policy, &prepared, opts)?;
    let input = input_hash(&ws.root, workload.inputs())?;
    let git = manifest::git(&ws.root);
    let ci = manifest::ci();
    // Refuse, before running anything, a run whose pack the policy would
    // reject for an anchor this machine cannot provide.
    for a in &policy.policy.required_anchors {
        use capsule::objects::AnchorName as A;
        let missing = match a {
            A::WorkloadCommit => git
                .commit
                .is_none()
                .then(|| git.note.clone().unwrap_or_else(|| "the workspace has no git commit".to_owned())),
            A::WorkflowCommit => ci
                .as_ref()
                .is_none_or(|c| c.workflow_commit.is_empty())
                .then(|| "not running in GitHub Actions (or GITHUB_SHA is empty)".to_owned()),
            A::ContainerImageDigest => Some("the runner did not launch a container".to_owned()),
            A::ImportedSourceHash => Some(
                "it is the import policy: `bench` measures; use `cargo capsule import` for a harness's output"
                    .to_owned(),
            ),
            A::HardwareManifestHash | A::OsFingerprintHash | A::ToolchainHash | A::WorkloadInputHash => None,
        };
        if let Some(why) = missing {
            return Err(BenchError::PolicyRequires {
                policy: policy.policy.id.clone(),
                anchor: a.as_str().to_owned(),
                why,
            });
        }
    }

    let mut b = CapsuleBuilder::new(
        run_id,
        json!({"runner_name": "cargo-capsule", "runner_version": env!("CARGO_PKG_VERSION")}),
        prepared.spec.clone(),
        policy.clone(),
        system_clock(),
    )?;
    if let Some(e) = events {
        b.observe(e)?;
    }
    b.manifest(ManifestKind::Hardware, &manifest::hardware())?;
    b.manifest(ManifestKind::Os, &manifest::os())?;
    b.manifest(ManifestKind::Toolchain, &toolchain)?;
    b.manifest(ManifestKind::Git, &git)?;
    if let Some(ci) = &ci {
        b.manifest(ManifestKind::Ci, ci)?;
    }
    b.anchors(AnchorsV1 {
        workload_commit: git.commit.clone(),
        workflow_commit: ci.as_ref().map(|c| c.workflow_commit.clone()).filter(|c| !c.is_empty()),
        run_uri: ci.as_ref().map(|c| c.run_uri.clone()),
        run_attempt: ci.as_ref().map(|c| c.run_attempt),
        run_nonce: Some(run_nonce()?),
        workload_input_hash: Some(input),
        ..AnchorsV1::default()
    });
    let total = procedure.warmups + procedure.min_repetitions;
    b.event(
        "phase",
        json!({"phase_id": "measure", "phase_label": "Running the workload", "progress": {"done": 0, "total": total, "unit": "repetitions"}}),
    )?;
    Ok(Side {
        measure_instructions: opts.measure_instructions,
        ws,
        id,
        policy,
        track,
        procedure,
        prepared,
        b,
        out: opts.out.clone(),
    })
}

/// Runs one fresh-process repetition of a side, recording its event.
fn one_repetition(side: &mut Side, index: u32, observer: &mut dyn Observer) -> Result<(SampleV1, Digest), BenchError> {
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
fn count_series_instructions(
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
fn repeated_series(side: &Side, reps: Vec<(SampleV1, Digest)>) -> Result<(Vec<SeriesV1>, Digest), BenchError> {
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

fn execute(side: &mut Side, observer: &mut dyn Observer) -> Result<(Vec<SeriesV1>, Digest), BenchError> {
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

/// Commits a side's trace rows and locks its statement.
fn lock_side(
    b: CapsuleBuilder,
    prepared: &Prepared,
    track: &str,
    id: &str,
    result_digest: Digest,
) -> Result<LockedCapsule, BenchError> {
    let params = RowParams { row_width: prepared.spec.row_width, chunk_len: 1024, arity: 16 };
    let mut b = b;
    b.commit_rows(params, &prepared.rows[..], true)?;
    Ok(b.lock_statement(
        track,
        PublicInputsV1 {
            workload_id: id.to_owned(),
            parameters: prepared.parameters.clone(),
            result_digest: Some(result_digest),
        },
    )?)
}

/// Seals a side, writes its pack beside the destination, verifies it there
/// (the workspace's own policy pinned) and renames it into place only when
/// it verifies: the destination never holds a partial or rejected pack.
fn finish_side(
    side: Side,
    series: Vec<SeriesV1>,
    result_digest: Digest,
    observer: &mut dyn Observer,
) -> Result<Verified, BenchError> {
    let Side { id, policy, track, prepared, mut b, out, .. } = side;
    b.event("phase", json!({"phase_id": "measured", "phase_label": "Workload finished", "series": series.len()}))?;
    observer.progress(Progress::Phase("sealing"));
    let locked = lock_side(b, &prepared, &track, &id, result_digest)?;
    seal_side(locked, Sealing { id, policy, track, backends: prepared.backends, out, result_digest }, series)
}

/// What sealing a side needs besides the locked capsule.
struct Sealing {
    id: String,
    policy: PinnedPolicy,
    track: String,
    backends: BackendRegistry,
    out: PathBuf,
    result_digest: Digest,
}

fn seal_side(mut locked: LockedCapsule, s: Sealing, series: Vec<SeriesV1>) -> Result<Verified, BenchError> {
    let Sealing { id, policy, track, backends, out, result_digest } = s;
    let table = MeasurementsV1 { schema: Default::default(), series };
    let single = table.series.len() == 1;
    let mut aggregates = Vec::new();
    for s in &table.series {
        for (i, m) in s.metrics.iter().enumerate() {
            if let Some(a) = s.aggregates(i) {
                aggregates.push((if single { m.clone() } else { format!("{}/{m}", s.id) }, a));
            }
        }
    }
    locked.measurements(table)?;
    let mut sealed = locked.seal()?;

    let tmp = sealed.write_beside(&out)?;
    let vopts = VerifyOptions {
        profile: Profile::Policy,
        pins: vec![PolicyPin { hash: policy.hash, source: "workspace configuration".to_owned() }],
        expect_capsule: Some(sealed.hash),
        backends,
        ..VerifyOptions::default()
    };
    let (mut report, contents) = verify_pack_file(tmp.path(), &vopts);
    report.pack = Some(out.display().to_string());
    if !report.accepted() {
        return Err(BenchError::Rejected(Box::new(report)));
    }
    let git = contents.and_then(|c| c.manifest(ManifestKind::Git));
    let outcome = BenchOutcome {
        pack: out,
        capsule_hash: sealed.hash,
        workload: id,
        track,
        result_digest,
        aggregates,
        report,
        git,
        events: sealed.events().clone(),
    };
    Ok(Verified { outcome, tmp })
}

/// A proving side: rows committed and the statement locked first, then
/// every repetition (warmups included) starts a fresh adapter process that
/// executes, proves for the statement hash with the repetition index as
/// nonce, and verifies; the last proof joins the pack, every repetition's
/// proof digest its sample.
fn prove_side(side: Side, observer: &mut dyn Observer) -> Result<Verified, BenchError> {
    let Side { id, policy, track, procedure, prepared, b, out, .. } = side;
    let Exec::Adapter(run) = &prepared.exec else {
        return Err(BenchError::PairedUnsupported(id));
    };
    let failed = |source| BenchError::Adapter { workload: id.clone(), source };
    observer.progress(Progress::Phase("committing the trace and locking the statement"));
    let mut locked = lock_side(b, &prepared, &track, &run.statement_workload, run.outputs.result_digest)?;
    let statement_hash = locked.statement_hash();
    observer.progress(Progress::Phase("proving"));
    let total = procedure.warmups + procedure.min_repetitions;
    let mut samples = Vec::with_capacity(total as usize);
    for index in 0..total {
        let warmup = index < procedure.warmups;
        let start = Instant::now();
        let mut a = ProcessAdapter::spawn(&mut run.command()).map_err(failed)?;
        a.execute(&run.execution, None).map_err(failed)?;
        let t = Instant::now();
        let proof = a.prove(&statement_hash, u64::from(index)).map_err(failed)?;
        let prove_ns = t.elapsed().as_nanos() as u64;
        let claim = ProofClaim {
            execution: &run.execution,
            program_id: &run.info.program_id,
            statement_hash,
            result_digest: run.outputs.result_digest,
            proof: &proof,
        };
        let t = Instant::now();
        a.verify(&claim).map_err(failed)?;
        let verify_ns = t.elapsed().as_nanos() as u64;
        let child = a.shutdown().map_err(failed)?;
        let usage = measure::reap(child, start).map_err(|e| failed(AdapterError::io("waiting for the adapter")(e)))?;
        if usage.exit_code != Some(0) {
            return Err(BenchError::Failed {
                workload: id.clone(),
                index,
                warmup,
                status: status_text(&usage),
                stderr_tail: String::new(),
            });
        }
        locked.event(
            "repetition",
            json!({"index": index, "warmup": warmup, "wall_ns": usage.wall_ns, "peak_rss_bytes": usage.peak_rss_bytes, "prove_ns": prove_ns, "proof_bytes": proof.len()}),
        )?;
        observer.progress(Progress::Repetition { index, total, warmup, wall_ns: usage.wall_ns });
        samples.push(SampleV1 {
            rep: index,
            warmup,
            values: vec![
                usage.wall_ns,
                usage.user_ns,
                usage.sys_ns,
                usage.peak_rss_bytes,
                prove_ns,
                proof.len() as u64,
                verify_ns,
            ],
            proof_digest: Some(tagged(Tag::Member, &proof)),
        });
        // Every repetition's proof is packed, so every one is verified.
        locked.proof(&run.info.backend_id, &capsule::sample::repetition_proof(index), proof)?;
    }
    locked.event("phase", json!({"phase_id": "measured", "phase_label": "Workload finished", "series": 1}))?;
    observer.progress(Progress::Phase("sealing"));
    let series = SeriesV1 {
        id: id.clone(),
        class: ValueClass::Measured,
        metrics: ADAPTER_METRICS.map(str::to_owned).to_vec(),
        samples,
    };
    let result_digest = run.outputs.result_digest;
    seal_side(locked, Sealing { id, policy, track, backends: prepared.backends, out, result_digest }, vec![series])
}

/// A sealed pack that verified, still beside its destination.
struct Verified {
    outcome: BenchOutcome,
    tmp: tempfile::NamedTempFile,
}

impl Verified {
    /// Renames the pack into place.
    fn persist(self) -> Result<BenchOutcome, BenchError> {
        let dest = self.outcome.pack.clone();
        self.tmp
            .persist(&dest)
            .map_err(|e| BenchError::Output { path: dest.display().to_string(), source: e.error })?;
        Ok(self.outcome)
    }
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
    let (series, result) = execute(&mut side, observer)?;
    finish_side(side, series, result, observer)?.persist()
}

/// A git worktree removed when dropped.
struct Worktree {
    repo: PathBuf,
    dir: PathBuf,
}

impl Drop for Worktree {
    fn drop(&mut self) {
        let _ =
            Command::new("git").args(["worktree", "remove", "--force"]).arg(&self.dir).current_dir(&self.repo).output();
    }
}

/// Fails unless a file can be created beside `out` (where the pack is
/// written before it is renamed into place), before anything is built or
/// measured.
fn writable_destination(out: &Path) -> Result<(), BenchError> {
    let dir = capsule::pack::parent_dir(out);
    tempfile::Builder::new()
        .prefix(".capsule-write-check-")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|source| BenchError::Output { path: out.display().to_string(), source })
}

/// The file in a baseline worktree's holder directory naming the process
/// that made it.
const OWNER: &str = "owner.pid";

/// Removes the baseline worktrees under `base_target` whose owning process
/// is gone (a run killed before it could remove its own), then lets git
/// forget worktrees whose directories are missing.
fn prune_stale_worktrees(toplevel: &Path, base_target: &Path) {
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
        _ => return Err(BenchError::PairedUnsupported(head.id.clone())),
    };
    // Both packs verify before either is renamed into place.
    let base_out = finish_side(base, bs, br, &mut Quiet)?;
    let head_out = finish_side(head, hs, hr, observer)?;
    Ok((base_out.persist()?, head_out.persist()?))
}

/// One side's series and result digest.
type SideResult = (Vec<SeriesV1>, Digest);

/// Paired hyperfine: in each of `total` rounds, hyperfine times the
/// baseline's command once, then head's, each in its own tree; the first
/// `warmups` rounds are discarded (a harness series records no warmups), so
/// every kept round gives one paired sample a side.
fn paired_hyperfine(
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
        let (series, result) =
            crate::harness::hyperfine(&side.ws.root, &side.ws.rustflags, &side.id, command, *shell, 0, 1)?;
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
