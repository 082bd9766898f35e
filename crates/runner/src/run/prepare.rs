//! Turning a workload's configuration into something to run: its trace
//! spec, rows, statement parameters and how it executes ([`Exec`]), and
//! refusing before anything runs a workload whose pack the policy would
//! reject.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use capsule::digest::{Digest, Tag, TaggedHasher};
use capsule::objects::TraceSpecV1;
use capsule::standard::PinnedPolicy;
use capsule::verify::BackendRegistry;
use capsule_adapter::{AdapterError, AdapterInfo, Execution, ProcessAdapter, PublicOutputs, TraceAdapter};
use serde_json::Value;

use crate::builtin::{BuiltinError, MerkleParams, STARK, merkle_build_open, merkle_trace_spec};
use crate::config::{self, WorkloadConfig};
use crate::container::ExecTarget;
use crate::manifest;
use crate::measure;

use super::{BenchError, BenchOptions};

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
pub(super) enum Exec {
    /// Fresh-process repetitions measured with `wait4` (builtin, command).
    Repeat {
        /// One command per series: the workload's, or one per configured
        /// case (series id, command), in configured order.
        cases: Vec<(String, Command)>,
        /// Whether the workload configures cases (its result then binds
        /// every case's, §5.2 of the configuration reference).
        with_cases: bool,
        program: String,
        /// For builtins: the result computed in-process for the trace.
        expected_result: Option<Digest>,
    },
    /// A cargo bench target: criterion (one run, or paired rounds) or
    /// gungraun (rounds of its executable).
    Bench { harness: BenchHarness, bench: String, package: Option<String>, args: Vec<String>, features: Vec<String> },
    /// One hyperfine run.
    Hyperfine { command: String, shell: bool },
    /// A Trace Adapter process per repetition: execute, prove for the
    /// locked statement, verify.
    Adapter(Box<AdapterRun>),
}

/// The harness of a bench target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BenchHarness {
    /// Criterion: times per iteration.
    Criterion,
    /// Gungraun: callgrind counts.
    Gungraun,
}

/// How to start a Trace Adapter, and what its first execution reported.
pub(super) struct AdapterRun {
    pub(super) program: PathBuf,
    pub(super) args: Vec<String>,
    pub(super) cwd: PathBuf,
    /// The workload id the statement records: a built-in backend proves
    /// one workload under its own name (whatever the configuration calls
    /// it); an external adapter's workload is the configured id, which a
    /// reader pins to a program.
    pub(super) statement_workload: String,
    pub(super) info: AdapterInfo,
    pub(super) execution: Execution,
    pub(super) outputs: PublicOutputs,
    /// The container the adapter runs in (`program` names it there).
    pub(super) container: Option<ExecTarget>,
}

impl AdapterRun {
    /// The command that starts the adapter: natively, or in its container
    /// through the shim, which writes its usage to the file `usage`.
    pub(super) fn command(&self, usage: &str) -> Command {
        match &self.container {
            Some(target) => {
                let argv: Vec<std::ffi::OsString> = std::iter::once(self.program.clone().into_os_string())
                    .chain(self.args.iter().map(Into::into))
                    .collect();
                target.command(&argv, usage)
            }
            None => {
                let mut c = Command::new(&self.program);
                c.args(&self.args).current_dir(&self.cwd);
                c
            }
        }
    }

    /// Starts the adapter (see [`AdapterRun::command`]).
    pub(super) fn spawn(&self, usage: &str) -> Result<ProcessAdapter, AdapterError> {
        let scratch = self.container.as_ref().map(ExecTarget::scratch);
        ProcessAdapter::spawn_in(&mut self.command(usage), scratch.as_ref())
    }
}

/// The proof backends a run's own verification trusts: the built-in STARK.
pub fn default_backends() -> BackendRegistry {
    let mut r = BackendRegistry::default();
    r.register(Arc::new(capsule_stark::StarkBackend));
    r
}

pub(super) struct Prepared {
    pub(super) spec: TraceSpecV1,
    pub(super) rows: Vec<u8>,
    pub(super) exec: Exec,
    pub(super) parameters: std::collections::BTreeMap<String, Value>,
    /// The backends the written pack is verified with.
    pub(super) backends: BackendRegistry,
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

/// The adapter's program and arguments, and the container it runs in.
pub(super) struct Launch {
    pub(super) program: PathBuf,
    pub(super) args: Vec<String>,
    pub(super) container: Option<ExecTarget>,
}

/// Starts the adapter once: describes it, executes the workload with the
/// policy's proof parameters for its backend, and collects the trace rows
/// and public outputs (before the statement is locked).
pub(super) fn prepare_adapter(
    id: &str,
    launch: Launch,
    ws: &config::WorkspaceConfig,
    parameters: std::collections::BTreeMap<String, Value>,
    policy: &PinnedPolicy,
    external: bool,
) -> Result<Prepared, BenchError> {
    let failed = |source| BenchError::Adapter { workload: id.to_owned(), source };
    let Launch { program, args, container } = launch;
    let mut run = AdapterRun {
        container,
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
    let mut a = run.spawn("prepare.usage").map_err(failed)?;
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
        let (program, args, scratch) = match &run.container {
            // In the container too, beside the shim.
            Some(target) => {
                let cmd = run.command("verify.usage");
                let args = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
                (PathBuf::from(target.program()), args, Some(target.scratch()))
            }
            None => (run.program.clone(), run.args.clone(), None),
        };
        backends.register(Arc::new(capsule_adapter::ProcessBackend {
            backend_id: run.info.backend_id.clone(),
            program,
            args,
            time_limit: capsule_adapter::ProcessBackend::TIME_LIMIT,
            scratch,
        }));
        backends.pin(id, &run.info.program_id);
    }
    Ok(Prepared { spec: run.info.trace_spec.clone(), rows, exec: Exec::Adapter(Box::new(run)), parameters, backends })
}

pub(super) fn prepare(
    w: &WorkloadConfig,
    opts: &BenchOptions,
    ws: &config::WorkspaceConfig,
    policy: &PinnedPolicy,
    container: Option<&ExecTarget>,
) -> Result<Prepared, BenchError> {
    match w {
        WorkloadConfig::Builtin { id, builtin, parameters, .. } if builtin == STARK => {
            let workload = capsule_stark::Workload::parse(parameters)
                .map_err(|why| BuiltinError::Invalid { builtin: builtin.clone(), why })?;
            let args = ["capsule", "__adapter", STARK].map(str::to_owned).to_vec();
            let launch = Launch { program: opts.self_exe.clone(), args, container: None };
            prepare_adapter(id, launch, ws, workload.to_parameters(), policy, false)
        }
        WorkloadConfig::Adapter { id, command, parameters, .. } => {
            let Some((prog, rest)) = command.split_first() else {
                return Err(BenchError::EmptyCommand(id.clone()));
            };
            // A path names a file of the workspace: where it is mounted, in
            // a container.
            let root = if container.is_some() { Path::new(crate::container::WORKSPACE_MOUNT) } else { &ws.root };
            let program = if prog.contains('/') { root.join(prog) } else { PathBuf::from(prog) };
            let launch = Launch { program, args: rest.to_vec(), container: container.cloned() };
            prepare_adapter(id, launch, ws, parameters.clone(), policy, true)
        }
        WorkloadConfig::Builtin { id, builtin, parameters, .. } => {
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
                    cases: vec![(id.clone(), cmd)],
                    with_cases: false,
                    program: format!("builtin {builtin}"),
                    expected_result: Some(out.result),
                },
                parameters: parameters.clone(),
                backends: default_backends(),
            })
        }
        WorkloadConfig::Command { id, bin, package, args, features, parameters, cases, container, .. } => {
            let listed: Vec<String> = cases.iter().map(|c| format!("{}: {}", c.id, c.args.join(" "))).collect();
            let parameters = &with_invocation(
                parameters,
                bin.iter().map(|b| ("bin", b.clone())).chain([("args", args.join(" ")), ("cases", listed.join("; "))]),
            );
            let (exe, base_args, program) = match bin {
                // Built inside the pinned image when its container starts
                // (`run::side`), and run from there.
                Some(bin) if container.is_some() => {
                    (format!("{}/release/{bin}", crate::container::TARGET_MOUNT).into(), args.as_slice(), bin.clone())
                }
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
                    (ws.target_dir.join("release").join(bin).into_os_string(), args.as_slice(), bin.clone())
                }
                None => {
                    let Some((prog, rest)) = args.split_first() else {
                        return Err(BenchError::EmptyCommand(id.clone()));
                    };
                    (prog.into(), rest, prog.clone())
                }
            };
            let command = |extra: &[String]| {
                let mut c = Command::new(&exe);
                c.args(base_args).args(extra);
                // A cargo the command runs builds with the recorded flags.
                manifest::with_rustflags(c.current_dir(&ws.root), &ws.rustflags);
                c
            };
            let commands = if cases.is_empty() {
                vec![(id.clone(), command(&[]))]
            } else {
                cases.iter().map(|c| (c.id.clone(), command(&c.args))).collect()
            };
            Ok(Prepared {
                spec: command_spec(),
                rows: Vec::new(),
                exec: Exec::Repeat { cases: commands, with_cases: !cases.is_empty(), program, expected_result: None },
                parameters: parameters.clone(),
                backends: default_backends(),
            })
        }
        WorkloadConfig::Criterion { bench, package, args, features, parameters, .. }
        | WorkloadConfig::Gungraun { bench, package, args, features, parameters, .. } => {
            let mut invocation = vec![("bench", bench.clone()), ("args", args.join(" "))];
            let harness = if matches!(w, WorkloadConfig::Gungraun { .. }) {
                // The counting tools must be there before anything is
                // built; their versions are part of what the numbers mean.
                let [runner, valgrind] = crate::gungraun::tool_versions()?;
                invocation.extend([("runner", runner), ("valgrind", valgrind)]);
                BenchHarness::Gungraun
            } else {
                BenchHarness::Criterion
            };
            Ok(Prepared {
                spec: command_spec(),
                rows: Vec::new(),
                exec: Exec::Bench {
                    harness,
                    bench: bench.clone(),
                    package: package.clone(),
                    args: args.clone(),
                    features: features.clone(),
                },
                parameters: with_invocation(parameters, invocation),
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
pub(super) fn with_invocation<'a>(
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
/// What a workload's measurement produces, by kind: known from its
/// configuration, before anything is built or started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Produces {
    /// Fresh-process repetitions (`wait4`).
    Repeat,
    /// Proving repetitions of an adapter.
    Proving,
    /// Criterion's samples.
    Criterion,
    /// Hyperfine's times.
    Hyperfine,
    /// Gungraun's counts.
    Gungraun,
}

pub(super) fn produces(w: &WorkloadConfig) -> Produces {
    match w {
        WorkloadConfig::Builtin { builtin, .. } if builtin == STARK => Produces::Proving,
        WorkloadConfig::Adapter { .. } => Produces::Proving,
        WorkloadConfig::Builtin { .. } | WorkloadConfig::Command { .. } => Produces::Repeat,
        WorkloadConfig::Criterion { .. } => Produces::Criterion,
        WorkloadConfig::Gungraun { .. } => Produces::Gungraun,
        WorkloadConfig::Hyperfine { .. } => Produces::Hyperfine,
    }
}

pub(super) fn preflight_measurements(
    id: &str,
    policy: &PinnedPolicy,
    kind: Produces,
    opts: &BenchOptions,
) -> Result<(), BenchError> {
    let p = &policy.policy;
    let proving = kind == Produces::Proving;
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
    let mut produced = match kind {
        Produces::Repeat => vec!["wall_ns", "user_ns", "sys_ns", "peak_rss_bytes"],
        Produces::Proving => ADAPTER_METRICS.to_vec(),
        Produces::Criterion | Produces::Hyperfine => vec!["wall_ns"],
        Produces::Gungraun => vec!["instructions_count"],
    };
    if opts.measure_instructions {
        // Find the counter now, not after the timed repetitions.
        measure::instruction_counter()?;
        produced.push("instructions_count");
    }
    let mut needed: Vec<&String> = vec![&p.measurement.primary_metric];
    if matches!(kind, Produces::Repeat | Produces::Proving) {
        needed.extend(&p.required_metrics);
    }
    if proving {
        needed.extend(&p.proof.required_metrics);
    }
    // Gungraun reports the instruction count always, and every other
    // callgrind count its options enable (`callgrind_<event>_count`).
    let counts = kind == Produces::Gungraun;
    let produces = |m: &str| produced.contains(&m) || (counts && m.starts_with("callgrind_") && m.ends_with("_count"));
    if let Some(m) = needed.into_iter().find(|m| !produces(m)) {
        let why = if counts {
            "a gungraun workload counts instructions (`instructions_count`, `callgrind_<event>_count`); \
             seal it under a policy whose primary metric is a count: leave its `policy` unset for `instructions-v1`"
                .to_owned()
        } else {
            format!("this workload kind measures only {}", produced.join(", "))
        };
        return Err(BenchError::PolicyRequires { policy: p.id.clone(), anchor: format!("metric {m}"), why });
    }
    Ok(())
}

/// What a proving repetition measures: the adapter process (`wait4`),
/// then the prove and verify calls and the proof's size.
pub(super) const ADAPTER_METRICS: [&str; 7] =
    ["wall_ns", "user_ns", "sys_ns", "peak_rss_bytes", "prove_ns", "proof_bytes", "verify_ns"];

/// The cargo profile a workload's code is built with.
pub(super) fn profile_of(w: &WorkloadConfig) -> &'static str {
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
        WorkloadConfig::Criterion { .. } | WorkloadConfig::Gungraun { .. } => "bench",
        WorkloadConfig::Hyperfine { .. } => "none",
    }
}
