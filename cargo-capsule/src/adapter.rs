//! `cargo capsule adapter check` and the verifier's backend options
//! (`--backend-verifier`, `--pin-program`). The hidden `__adapter` server of
//! the proving builtins is `capsule_runner::builtin::serve_adapter`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use capsule::verify::BackendRegistry;
use capsule_adapter::{Parameters, ProcessAdapter, TraceAdapter, conformance};
use clap::{Args, Subcommand};

use crate::errors::{CliError, ExitCode};
use crate::output;

/// Trace Adapter tools.
#[derive(Debug, Subcommand)]
pub(crate) enum AdapterCommand {
    /// Prove once, then check that verification rejects a different statement
    /// hash, a changed public output, changed parameters, a flipped or
    /// truncated proof, a proof for another trace and another program id.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The adapter program (speaks the adapter protocol on stdin/stdout);
    /// arguments for it follow `--`.
    #[arg(long, value_name = "PATH", required_unless_present = "builtin", conflicts_with = "builtin")]
    adapter: Option<PathBuf>,
    /// Check a proving builtin served by this tool (`stark_mimc7_v1`).
    #[arg(long, value_name = "NAME")]
    builtin: Option<String>,
    /// The first parameter set, as JSON (default: the adapter's first example).
    #[arg(long, value_name = "JSON")]
    params: Option<String>,
    /// A second parameter set with another trace (default: its second example).
    #[arg(long, value_name = "JSON")]
    other_params: Option<String>,
    /// The policy whose proof parameters the adapter proves with: a policy
    /// file or a standard policy name.
    #[arg(long, value_name = "POLICY", default_value = "standard-proof-v1")]
    policy: String,
    /// Arguments for the adapter.
    #[arg(last = true)]
    args: Vec<String>,
}

/// The verifier's own configuration of external proof backends.
#[derive(Debug, Args, Default)]
pub(crate) struct BackendArgs {
    /// Verify proofs of backend ID by running PATH (an adapter speaking the
    /// adapter protocol); repeatable. Nothing in a pack chooses a program.
    #[arg(long, value_name = "ID=PATH")]
    backend_verifier: Vec<String>,
    /// The program id (zkVM program / verifying-key hash) proofs of WORKLOAD
    /// must be made by; repeatable.
    #[arg(long, value_name = "WORKLOAD=ID")]
    pin_program: Vec<String>,
}

fn split<'a>(flag: &'static str, v: &'a str) -> Result<(&'a str, &'a str), CliError> {
    v.split_once('=').filter(|(k, x)| !k.is_empty() && !x.is_empty()).ok_or(CliError::Usage(match flag {
        "--backend-verifier" => "`--backend-verifier` takes ID=PATH",
        _ => "`--pin-program` takes WORKLOAD=ID",
    }))
}

impl BackendArgs {
    /// The configuration in words, for a record of the verifier's options:
    /// `backend=<id> <path> sha256:<hex of the program's bytes>` and
    /// `pin=<workload>=<program id>`, sorted.
    pub(crate) fn describe(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .backend_verifier
            .iter()
            .map(|v| {
                let path = v.split_once('=').map_or(v.as_str(), |(_, p)| p);
                let digest = std::fs::read(path).map(|b| capsule::digest::plain(&b).to_string()).unwrap_or_default();
                format!("backend={v} {digest}")
            })
            .chain(self.pin_program.iter().map(|p| format!("pin={p}")))
            .collect();
        out.sort();
        out
    }

    /// The built-in backends plus the configured external ones, and the
    /// reader's program pins.
    pub(crate) fn registry(&self) -> Result<BackendRegistry, CliError> {
        let mut r = capsule_runner::default_backends();
        for p in &self.pin_program {
            let (w, id) = split("--pin-program", p)?;
            r.pin(w, id);
        }
        for v in &self.backend_verifier {
            let (id, path) = split("--backend-verifier", v)?;
            r.register(Arc::new(capsule_adapter::ProcessBackend {
                backend_id: id.to_owned(),
                program: PathBuf::from(path),
                args: Vec::new(),
                time_limit: capsule_adapter::ProcessBackend::TIME_LIMIT,
                scratch: None,
            }));
        }
        Ok(r)
    }
}

fn parse_params(flag: &'static str, v: Option<&str>) -> Result<Option<Parameters>, CliError> {
    v.map(|s| serde_json::from_str(s).map_err(|e| CliError::Params { flag, why: e.to_string() })).transpose()
}

pub(crate) fn run(c: AdapterCommand) -> Result<u8, CliError> {
    let AdapterCommand::Check(a) = c;
    let mut cmd = match (&a.adapter, &a.builtin) {
        (Some(path), _) => {
            let mut c = Command::new(path);
            c.args(&a.args);
            c
        }
        (None, Some(name)) => {
            let exe = std::env::current_exe()
                .map_err(|source| CliError::Read { path: "current executable".into(), source })?;
            let mut c = Command::new(exe);
            c.args(["capsule", "__adapter", name]);
            c
        }
        (None, None) => return Err(CliError::Usage("give `--adapter PATH` or `--builtin NAME`")),
    };
    let policy = match capsule::standard::standard_policy(&a.policy) {
        Some(p) => p.clone(),
        None => crate::inputs::read_policy(&PathBuf::from(&a.policy))?,
    };
    let first = parse_params("--params", a.params.as_deref())?;
    let second = parse_params("--other-params", a.other_params.as_deref())?;
    let mut adapter = ProcessAdapter::spawn(&mut cmd).map_err(CliError::Adapter)?;
    let info = adapter.describe().map_err(CliError::Adapter)?;
    let proof_params = policy.policy.proof.backends.get(&info.backend_id).cloned();
    let report = conformance::check(&mut adapter, first, second, proof_params).map_err(CliError::Adapter)?;
    adapter.close().map_err(CliError::Adapter)?;
    if output::json_mode() {
        output::json(&report)?;
    } else {
        output::conformance(&report)?;
    }
    Ok(if report.passed() { ExitCode::OK } else { ExitCode::REJECTED })
}
