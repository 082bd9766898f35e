//! The command line: argument types and dispatch to the library.

use std::path::PathBuf;

use capsule::pack::Limits;
use capsule::verify::{Profile, VerifyOptions, verify_pack_file};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::errors::{CliError, ExitCode};
use crate::inputs::{parse_digest, pins, read_policy, readable, verify_options};
use crate::output;

/// Benchmark receipts that anyone verifies offline.
#[derive(Debug, Parser)]
#[command(name = "cargo capsule", bin_name = "cargo capsule", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How to print results: `human`, or `json` (one JSON document on
    /// standard output: the command's object, or `capsulebench/messages/v1`
    /// for commands that only report what they did).
    #[arg(long, value_enum, global = true, default_value = "human")]
    message_format: MessageFormat,
    /// Alias of `--message-format json`.
    #[arg(long, global = true)]
    json: bool,
    /// Colour verdicts and errors: `auto` (a terminal, `NO_COLOR` unset and
    /// `TERM` not `dumb`), `always` or `never`.
    #[arg(long, value_enum, global = true, default_value = "auto")]
    color: crate::output::ColorChoice,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a workload under its Benchmark Policy and write a verified capsulepack.
    Bench(BenchArgs),
    /// Compare two verified packs: Hodges–Lehmann shift, confidence interval, verdict.
    Compare(CompareArgs),
    /// Verify a capsulepack strictly and say what is proven, signed and self-reported.
    Verify(Box<VerifyArgs>),
    /// Show a pack at a glance: workload, track, anchors, measurements, signatures.
    Inspect(PackArgs),
    /// Replay the sealed event timeline of a pack, with the chain checked.
    Replay(PackArgs),
    /// Check a pack at profile `integrity`, then unpack it into a new directory.
    Unpack(UnpackArgs),
    /// Benchmark Policy tools.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Turn an existing harness output (zkvm-perf CSV, ere-hosts JSON, a16z CSV) into an imported receipt.
    Import(ImportArgs),
    /// Generate a repository signing key (secp256k1).
    Keygen(crate::trust::KeygenArgs),
    /// Sign a pack with a repository key (a DSSE receipt attestation under `signatures/`).
    Sign(crate::trust::SignArgs),
    /// Sign a file keylessly with Sigstore (a release archive): a v0.3 message-signature bundle beside it, the kind `cosign sign-blob --bundle` writes.
    SignBlob(crate::trust::SignBlobArgs),
    /// Verify a file's Sigstore bundle and its signer's identity, offline.
    VerifyBlob(crate::trust::VerifyBlobArgs),
    /// Write a pack's rows as an external row archive for data-availability audits.
    Archive(crate::trust::ArchiveArgs),
    /// Audit a row archive: open verifier-drawn chunks and check them against the trace root.
    Audit(crate::trust::AuditArgs),
    /// Write the GitHub workflows that bench pull requests and comment verified comparisons (fork-safe).
    Init(crate::init::InitArgs),
    /// GitHub: verified pull-request comments.
    #[command(subcommand)]
    Github(crate::github::GithubCommand),
    /// Attach a pack to a GitHub release (replacing an asset of the same name), or submit it to a CapsuleBench server.
    Submit(crate::github::SubmitArgs),
    /// Serve live runs: runners stream their events and submit their packs, which are verified before anything is shown.
    Serve(Box<crate::serve::ServeArgs>),
    /// Trace Adapter tools: the conformance check.
    #[command(subcommand)]
    Adapter(crate::adapter::AdapterCommand),
    /// The verifier-gated board: leaderboards in two tracks and history, a static site built from verified packs.
    #[command(subcommand)]
    Board(Box<crate::board::BoardCommand>),
    /// Serves a proving builtin over the adapter protocol (used by `bench`).
    #[command(name = "__adapter", hide = true)]
    ServeAdapter {
        /// The builtin.
        name: String,
    },
    /// Runs one repetition of a builtin workload (used by `bench`).
    #[command(name = "__builtin", hide = true)]
    Builtin {
        /// The builtin.
        name: String,
        /// Its parameters, as JSON.
        params: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Extra {
    Instructions,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum MessageFormat {
    Human,
    Json,
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// A workload to run; repeat for several (default: every configured
    /// workload, or the embedded default when none is configured).
    #[arg(long)]
    workload: Vec<String>,
    /// Only the workloads of these packages (`-p NAME`, repeatable), or not
    /// of `--exclude NAME`.
    #[command(flatten)]
    packages: clap_cargo::Workspace,
    /// Only the criterion workloads of this bench target (repeatable).
    #[arg(long, value_name = "NAME")]
    bench: Vec<String>,
    /// The track (default: the workspace's `default_track`, else `baseline_no_accel`).
    #[arg(long)]
    track: Option<String>,
    /// Write the pack of a single workload here instead.
    #[arg(long, conflicts_with = "out_dir")]
    out: Option<PathBuf>,
    /// Write each workload's pack as `DIR/<workload>.tgz` (and, paired,
    /// `DIR/<workload>-base.tgz`); default `<target-dir>/capsule/`, out of
    /// the source tree, so a pack never makes the next run's tree dirty.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Path to the workspace's Cargo.toml.
    #[arg(long)]
    manifest_path: Option<PathBuf>,
    /// Stream the hash-chained events as JSON lines to FILE, or `-` for stdout.
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
    /// Stream the run live to a CapsuleBench server (`cargo capsule serve`)
    /// and submit its pack there; the runner token comes from
    /// `CAPSULE_STREAM_TOKEN`. The pack is written whatever the server does.
    #[arg(long, value_name = "URL")]
    stream: Option<String>,
    /// Print only the summary (cargo's build output quieted too).
    #[arg(long, short)]
    quiet: bool,
    /// Use this run id (paired runs share one).
    #[arg(long, hide = true)]
    run_id: Option<String>,
    /// Paired mode: build REF in its own git worktree and run it interleaved
    /// with the working tree (ABAB...), writing a second pack.
    #[arg(long, value_name = "REF")]
    baseline: Option<String>,
    /// Measured repetitions (at least the policy's minimum; more narrows
    /// comparison intervals). Paired: the first count of rounds, doubled
    /// while a verdict is inconclusive, up to four times.
    #[arg(long, value_name = "N")]
    repetitions: Option<u32>,
    /// Extra measurements: `instructions` counts each repetition's
    /// instructions with perf or callgrind (in an extra, untimed run).
    #[arg(long, value_enum)]
    measure: Vec<Extra>,
    /// With `--out`: where paired mode writes the baseline's pack.
    #[arg(long, value_name = "PATH", requires_all = ["baseline", "out"])]
    baseline_out: Option<PathBuf>,
    /// The container engine for workloads that set `container` (default:
    /// the first that answers, docker then podman).
    #[arg(long, value_enum)]
    engine: Option<Engine>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Engine {
    Docker,
    Podman,
}

#[derive(Debug, Args)]
struct CompareArgs {
    /// The base pack.
    base: PathBuf,
    /// The head pack.
    head: PathBuf,
    /// Print the Markdown a pull-request comment shows (not with
    /// `--message-format json`, which prints `capsulebench/comparison/v2`).
    #[arg(long)]
    markdown: bool,
    /// Compare packs from different environments (flagged in the output).
    #[arg(long)]
    allow_env_mismatch: bool,
    /// Pin this policy file (in addition to the standard policies).
    #[arg(long, value_name = "FILE")]
    policy: Vec<PathBuf>,
    /// Pin this policy hash.
    #[arg(long, value_name = "HASH")]
    policy_hash: Vec<String>,
    /// Exit 8 when the verdict is a regression (`slower`), or any change
    /// (`slower` or `faster`): a CI gate.
    #[arg(long, value_enum, value_name = "WHEN")]
    fail_on: Option<FailOn>,
}

/// Which verdicts a gate fails on.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum FailOn {
    /// The overall verdict is `slower`.
    Regression,
    /// The overall verdict is `slower` or `faster`.
    Change,
}

impl FailOn {
    /// Whether verdict `v` is one this gate (or `comment-on`) acts on.
    pub(crate) fn fails(self, v: capsule::compare::Change) -> bool {
        use capsule::compare::Change;
        match self {
            FailOn::Regression => v == Change::Slower,
            FailOn::Change => matches!(v, Change::Slower | Change::Faster),
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProfileArg {
    Integrity,
    Policy,
    Certified,
    Audited,
}

impl From<ProfileArg> for Profile {
    fn from(p: ProfileArg) -> Self {
        match p {
            ProfileArg::Integrity => Profile::Integrity,
            ProfileArg::Policy => Profile::Policy,
            ProfileArg::Certified => Profile::Certified,
            ProfileArg::Audited => Profile::Audited,
        }
    }
}

#[derive(Debug, Args)]
struct LimitArgs {
    /// Largest member the reader accepts, in bytes.
    #[arg(long, default_value_t = Limits::default().max_member_bytes)]
    max_member_bytes: u64,
    /// Largest total of member bytes the reader accepts.
    #[arg(long, default_value_t = Limits::default().max_total_bytes)]
    max_total_bytes: u64,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits { max_member_bytes: self.max_member_bytes, max_total_bytes: self.max_total_bytes, ..Limits::default() }
    }
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// The capsulepack (`capsulepack.tgz`).
    pack: PathBuf,
    /// The profile to check; each includes the ones before it.
    #[arg(long, value_enum, default_value = "policy")]
    profile: ProfileArg,
    /// Pin this policy file (in addition to the standard policies).
    #[arg(long, value_name = "FILE")]
    policy: Vec<PathBuf>,
    /// Pin this policy hash (in addition to the standard policies).
    #[arg(long, value_name = "HASH")]
    policy_hash: Vec<String>,
    /// Reject the pack unless its capsule hash is this one.
    #[arg(long, value_name = "HASH")]
    expect_capsule: Option<String>,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    trust: crate::trust::TrustArgs,
    #[command(flatten)]
    backends: crate::adapter::BackendArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ImportFormat {
    /// succinctlabs/zkvm-perf CSV.
    ZkvmPerf,
    /// eth-act ere-hosts BenchmarkRun JSON.
    EreHosts,
    /// a16z zkvm-benchmarks CSV.
    A16z,
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// The harness output file.
    file: PathBuf,
    /// Its format.
    #[arg(long, value_enum)]
    format: ImportFormat,
    /// Where to write the pack.
    #[arg(long, default_value = "capsulepack.tgz")]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct PackArgs {
    /// The capsulepack.
    pack: PathBuf,
}

#[derive(Debug, Args)]
struct UnpackArgs {
    /// The capsulepack.
    pack: PathBuf,
    /// The directory to create (must not exist).
    #[arg(long, value_name = "DIR")]
    into: PathBuf,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Print the hash of a policy file (its canonical form under the policy tag).
    Hash {
        /// The policy file.
        file: PathBuf,
    },
    /// The policy registry: a commitment over recognized policy hashes.
    #[command(subcommand)]
    Registry(crate::trust::RegistryCommand),
}

impl Cli {
    /// Whether results are printed as JSON.
    pub(crate) fn json(&self) -> bool {
        self.json || self.message_format == MessageFormat::Json
    }

    /// The `--color` choice.
    pub(crate) fn color(&self) -> crate::output::ColorChoice {
        self.color
    }

    pub(crate) fn run(self) -> Result<u8, CliError> {
        match self.command {
            Command::Bench(a) => bench(a),
            Command::Compare(a) => compare(a),
            Command::Builtin { name, params } => match capsule_runner::builtin::child_main(&name, &params) {
                Ok(line) => {
                    output::line(&line)?;
                    Ok(ExitCode::OK)
                }
                Err(e) => Err(CliError::Builtin(e)),
            },
            Command::Adapter(c) => crate::adapter::run(c),
            Command::Board(c) => crate::board::run(*c),
            Command::Github(c) => crate::github::run(c),
            Command::Init(a) => crate::init::run(a),
            Command::Submit(a) => crate::github::submit(a),
            Command::Serve(a) => crate::serve::serve(*a),
            Command::ServeAdapter { name } => match capsule_runner::builtin::serve_adapter(&name) {
                Ok(()) => Ok(ExitCode::OK),
                Err(e) => Err(CliError::Builtin(e)),
            },
            Command::Verify(a) => {
                let mut opts = crate::inputs::pinned_options(&a.policy, &a.policy_hash, &a.trust, &a.backends)?;
                opts.profile = a.profile.into();
                opts.limits = a.limits.limits();
                if let Some(h) = &a.expect_capsule {
                    opts.expect_capsule = Some(parse_digest("--expect-capsule", h)?);
                }
                readable(&a.pack)?;
                let (report, _) = verify_pack_file(&a.pack, &opts);
                output::report(&report)?;
                Ok(if report.accepted() { ExitCode::OK } else { ExitCode::REJECTED })
            }
            Command::Inspect(a) => {
                readable(&a.pack)?;
                let opts = VerifyOptions { profile: Profile::Integrity, ..VerifyOptions::default() };
                let (report, contents) = verify_pack_file(&a.pack, &opts);
                output::inspect(&report, contents.as_ref(), output::json_mode())?;
                Ok(if report.accepted() { ExitCode::OK } else { ExitCode::REJECTED })
            }
            Command::Replay(a) => {
                readable(&a.pack)?;
                let opts = VerifyOptions { profile: Profile::Integrity, ..VerifyOptions::default() };
                let (report, contents) = verify_pack_file(&a.pack, &opts);
                output::replay(&report, contents.as_ref(), output::json_mode())?;
                Ok(if report.accepted() { ExitCode::OK } else { ExitCode::REJECTED })
            }
            Command::Unpack(a) => {
                readable(&a.pack)?;
                let opts = VerifyOptions {
                    profile: Profile::Integrity,
                    limits: a.limits.limits(),
                    ..VerifyOptions::default()
                };
                let (report, written) = capsule::verify::verify_and_unpack(&a.pack, &a.into, &opts)
                    .map_err(|source| CliError::Unpack { path: a.pack.clone(), source })?;
                match written {
                    Some(written) => {
                        output::line(&format!("unpacked {} members into {}", written.len(), a.into.display()))?;
                        Ok(ExitCode::OK)
                    }
                    None => {
                        output::report(&report)?;
                        Ok(ExitCode::REJECTED)
                    }
                }
            }
            Command::Policy(PolicyCommand::Hash { file }) => {
                let p = read_policy(&file)?;
                if output::json_mode() {
                    output::json(&serde_json::json!({
                        "schema": "capsulebench/policy-hash/v1",
                        "hash": p.hash,
                        "id": p.policy.id,
                        "version": p.policy.version,
                    }))?;
                } else {
                    output::line(&format!("{}  {} {}", p.hash, p.policy.id, p.policy.version))?;
                }
                Ok(ExitCode::OK)
            }
            Command::Policy(PolicyCommand::Registry(c)) => crate::trust::registry(c),
            Command::Import(a) => {
                use capsule_runner::import::Format;
                let format = match a.format {
                    ImportFormat::ZkvmPerf => Format::ZkvmPerf,
                    ImportFormat::EreHosts => Format::EreHosts,
                    ImportFormat::A16z => Format::A16z,
                };
                let o = capsule_runner::import::import_pack(format, &a.file, &a.out).map_err(CliError::Import)?;
                output::line(&format!(
                    "imported {} series from {} into {} (capsule {}); every value is classed imported",
                    o.series,
                    a.file.display(),
                    o.pack.display(),
                    o.capsule_hash
                ))?;
                Ok(ExitCode::OK)
            }
            Command::Keygen(a) => crate::trust::keygen(a),
            Command::Sign(a) => crate::trust::sign(a),
            Command::SignBlob(a) => crate::trust::sign_blob(a),
            Command::VerifyBlob(a) => crate::trust::verify_blob(a),
            Command::Archive(a) => crate::trust::archive(a),
            Command::Audit(a) => crate::trust::audit(a),
        }
    }
}

/// A workload id as a file name: anything but `[A-Za-z0-9._-]` becomes `_`.
fn pack_name(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect()
}

/// Where `bench` writes packs.
enum Dest {
    /// `<dir>/<workload>.tgz` (and `-base.tgz`).
    Dir(PathBuf),
    /// This file, for a single workload (`--out`).
    File(PathBuf),
}

/// One workload's run: its pack (and the baseline's, paired).
struct WorkloadRun {
    base: Option<capsule_runner::BenchOutcome>,
    head: capsule_runner::BenchOutcome,
}

fn bench(a: BenchArgs) -> Result<u8, CliError> {
    let events_to_stdout = a.events.as_deref().is_some_and(|p| p.as_os_str() == "-");
    if events_to_stdout && output::json_mode() {
        return Err(CliError::Usage(
            "`--events -` and `--message-format json` both want stdout; send events to a file",
        ));
    }
    // SIGINT and SIGTERM end the workload and unwind the run (exit 130).
    capsule_runner::interrupt::install()
        .map_err(|source| CliError::Write { path: "signal handlers".into(), source })?;
    // Which workloads: those named, else every configured one (the
    // embedded default when none is).
    let ws = capsule_runner::config::load(a.manifest_path.as_deref()).map_err(|e| CliError::Bench(e.into()))?;
    let filtered = !a.packages.package.is_empty() || !a.packages.exclude.is_empty() || !a.bench.is_empty();
    let ids: Vec<Option<String>> = if !a.workload.is_empty() {
        a.workload.iter().cloned().map(Some).collect()
    } else if filtered {
        let chosen = ws.select_by(&a.packages.package, &a.packages.exclude, &a.bench);
        if chosen.is_empty() {
            return Err(CliError::Usage("no configured workload matches `-p`, `--exclude` and `--bench`"));
        }
        chosen.into_iter().map(Some).collect()
    } else if ws.workloads.len() > 1 {
        ws.workloads.iter().map(|(w, _)| Some(w.id().to_owned())).collect()
    } else {
        vec![None]
    };
    let several = ids.len() > 1;
    if several && a.events.is_some() {
        return Err(CliError::Usage("`--events` streams one run: choose one `--workload`"));
    }
    if a.stream.is_some() && (several || a.baseline.is_some()) {
        return Err(CliError::Usage("`--stream` streams one run: choose one `--workload`, without `--baseline`"));
    }
    let stream_token = a.stream.as_ref().map(|_| crate::serve::token()).transpose()?;
    if several && (a.out.is_some() || a.baseline_out.is_some()) {
        return Err(CliError::Usage(
            "`--out` and `--baseline-out` name one workload's pack; with several workloads use `--out-dir DIR`",
        ));
    }
    // Packs go by workload id into a directory, unless `--out` names one.
    let dest = match &a.out {
        Some(file) => Dest::File(file.clone()),
        None => Dest::Dir(a.out_dir.clone().unwrap_or_else(|| ws.target_dir.join("capsule"))),
    };
    // The directories made for the packs, removed again if the run writes
    // nothing into them: a failed run leaves nothing behind.
    let mut made: Vec<PathBuf> = Vec::new();
    if let Dest::Dir(d) = &dest {
        let mut missing = Some(d.as_path());
        while let Some(m) = missing.filter(|m| !m.as_os_str().is_empty() && !m.exists()) {
            made.push(m.to_path_buf());
            missing = m.parent();
        }
        std::fs::create_dir_all(d).map_err(|source| CliError::Write { path: d.clone(), source })?;
    }
    let unmake = || {
        for m in &made {
            let _ = std::fs::remove_dir(m);
        }
    };
    let sink = match &a.events {
        None => None,
        Some(p) if p.as_os_str() == "-" => Some(output::EventSink::stdout()),
        Some(p) => Some(output::EventSink::file(p).map_err(|source| CliError::Write { path: p.clone(), source })?),
    };
    let self_exe =
        std::env::current_exe().map_err(|source| CliError::Read { path: "current executable".into(), source })?;
    let mut runs = Vec::new();
    for id in &ids {
        // The pack paths: by workload id in the directory, else as given.
        let (out, baseline_out) = match &dest {
            Dest::Dir(d) => {
                let name = match id {
                    Some(id) => pack_name(id),
                    None => ws.select(None).map_or_else(|_| "capsulepack".to_owned(), |w| pack_name(w.id())),
                };
                (d.join(format!("{name}.tgz")), d.join(format!("{name}-base.tgz")))
            }
            Dest::File(out) => {
                let base = a.baseline_out.clone().unwrap_or_else(|| {
                    let stem = out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                    let stem = stem.strip_suffix(".tar").unwrap_or(&stem).to_owned();
                    out.with_file_name(format!("{stem}-base.tgz"))
                });
                (out.clone(), base)
            }
        };
        let opts = capsule_runner::BenchOptions {
            manifest_path: a.manifest_path.clone(),
            workload: id.clone(),
            track: a.track.clone(),
            out,
            self_exe: self_exe.clone(),
            run_id: a.run_id.clone(),
            measure_instructions: a.measure.contains(&Extra::Instructions),
            repetitions: a.repetitions,
            quiet: a.quiet,
            engine: a.engine.map(|e| match e {
                Engine::Docker => capsule_runner::container::EngineKind::Docker,
                Engine::Podman => capsule_runner::container::EngineKind::Podman,
            }),
        };
        let mut progress = output::BenchProgress::new(a.quiet, events_to_stdout);
        let streamer = match (&a.stream, &stream_token) {
            (Some(url), Some(token)) => Some(
                capsule_server::client::Streamer::start(
                    url,
                    token,
                    serde_json::json!({"runner_name": "cargo-capsule", "runner_version": env!("CARGO_PKG_VERSION")}),
                )
                .map_err(CliError::Stream)?,
            ),
            _ => None,
        };
        let observer = observe(sink.as_ref(), streamer.as_ref());
        let run = match &a.baseline {
            Some(reference) => capsule_runner::bench_paired(&opts, reference, &baseline_out, &mut progress, observer)
                .map(|(base, head)| WorkloadRun { base: Some(base), head }),
            None => capsule_runner::bench(&opts, &mut progress, observer).map(|head| WorkloadRun { base: None, head }),
        };
        progress.finish();
        let run = match run {
            Ok(r) => r,
            Err(e) => {
                unmake();
                return Err(CliError::Bench(e));
            }
        };
        for (e, h) in capsule_runner::post_seal_events(&run.head) {
            if let Some(s) = &sink {
                s.emit(&e, h);
            }
            if let Some(s) = &streamer {
                s.send(&e);
            }
        }
        if !output::json_mode() {
            if let Some(b) = &run.base {
                output::bench_summary(b, events_to_stdout)?;
            }
            output::bench_summary(&run.head, events_to_stdout)?;
        }
        if let (Some(s), Some(url)) = (streamer, &a.stream) {
            let outcome = s.finish(Some(&run.head.pack));
            if !output::json_mode() {
                crate::serve::report(url, &outcome)?;
            }
        }
        if let Some(b) = &run.base
            && !events_to_stdout
            && !output::json_mode()
        {
            paired_verdict(b, &run.head)?;
        }
        runs.push(run);
    }
    if output::json_mode() {
        let one = |r: &WorkloadRun| {
            let mut v = output::bench_json(&r.head);
            if let Some(b) = &r.base {
                v["baseline"] = output::bench_json(b);
            }
            v
        };
        match runs.as_slice() {
            [r] if !several => output::json(&one(r))?,
            _ => output::json(&serde_json::json!({
                "schema": "capsulebench/bench-run/v1",
                "workloads": runs.iter().map(one).collect::<Vec<_>>(),
            }))?,
        }
    } else if several {
        output::bench_run_summary(&runs.iter().map(|r| (r.base.as_ref(), &r.head)).collect::<Vec<_>>())?;
    }
    Ok(ExitCode::OK)
}

/// The observer of a run's events: the `--events` sink, the `--stream`
/// client, both or neither.
fn observe(
    sink: Option<&output::EventSink>,
    streamer: Option<&capsule_server::client::Streamer>,
) -> Option<capsule::builder::EventObserver> {
    match (sink.map(output::EventSink::observer), streamer.map(capsule_server::client::Streamer::observer)) {
        (Some(mut a), Some(mut b)) => Some(Box::new(move |e, h| {
            a(e, h);
            b(e, h);
        })),
        (a, b) => a.or(b),
    }
}

/// The paired verdict, from the two packs just written.
fn paired_verdict(b: &capsule_runner::BenchOutcome, h: &capsule_runner::BenchOutcome) -> Result<(), CliError> {
    let opts = verify_options();
    let (br, bc) = verify_pack_file(&b.pack, &opts);
    let (hr, hc) = verify_pack_file(&h.pack, &opts);
    if let (Some(bc), Some(hc), Some(bh), Some(hh)) = (bc, hc, br.capsule_hash, hr.capsule_hash) {
        match capsule::compare::compare(bh, &bc, hh, &hc, capsule::compare::CompareOptions::default()) {
            Ok(c) => output::comparison(&c)?,
            Err(e) => output::line(&format!("compare: {e}"))?,
        }
    }
    Ok(())
}

fn compare(a: CompareArgs) -> Result<u8, CliError> {
    if a.markdown && output::json_mode() {
        return Err(CliError::Usage("`--markdown` and `--message-format json` both choose the output; use one"));
    }
    let opts = VerifyOptions { pins: pins(&a.policy, &a.policy_hash)?, ..verify_options() };
    let mut sides = Vec::new();
    for p in [&a.base, &a.head] {
        readable(p)?;
        let (report, contents) = verify_pack_file(p, &opts);
        match (report.accepted(), contents, report.capsule_hash) {
            (true, Some(c), Some(h)) => sides.push((report, c, h)),
            _ => {
                output::report(&report)?;
                return Ok(ExitCode::REJECTED);
            }
        }
    }
    let (base, head) = (&sides[0], &sides[1]);
    let cmp = capsule::compare::compare(
        base.2,
        &base.1,
        head.2,
        &head.1,
        capsule::compare::CompareOptions { allow_env_mismatch: a.allow_env_mismatch },
    )
    .map_err(CliError::Compare)?;
    if output::json_mode() {
        output::json(&cmp)?;
    } else if a.markdown {
        output::line(&capsule::compare::markdown(
            &cmp,
            &output::verified_line(&base.0),
            &output::verified_line(&head.0),
        ))?;
    } else {
        output::comparison(&cmp)?;
        let git = |c: &capsule::verify::PackContents| {
            c.manifest(capsule::objects::ManifestKind::Git)
                .map_or_else(|| "no git manifest".to_owned(), |g| output::git_line(&g))
        };
        output::line(&format!("base source  {}\nhead source  {}", git(&base.1), git(&head.1)))?;
    }
    Ok(if a.fail_on.is_some_and(|f| f.fails(cmp.verdict)) { ExitCode::REGRESSION } else { ExitCode::OK })
}
