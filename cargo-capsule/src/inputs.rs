//! What every command that reads packs or policies shares: opening a pack
//! file (an input error when it cannot be opened at all), reading and
//! pinning policies, and the verifier options with the built-in proof
//! backends. `cli`, `github`, `trust` and `adapter` all use these.

use std::path::PathBuf;

use capsule::digest::Digest;
use capsule::standard::PinnedPolicy;
use capsule::verify::{PolicyPin, VerifyOptions};

use crate::errors::CliError;

/// Fails with an input error (exit 3) when the pack cannot be opened at all;
/// everything about its contents is the verifier's to report.
pub(crate) fn readable(path: &PathBuf) -> Result<(), CliError> {
    std::fs::File::open(path).map(|_| ()).map_err(|source| CliError::Read { path: path.clone(), source })
}

pub(crate) fn parse_digest(flag: &'static str, s: &str) -> Result<Digest, CliError> {
    s.parse().map_err(|source| CliError::Digest { flag, source })
}

pub(crate) fn read_policy(path: &PathBuf) -> Result<PinnedPolicy, CliError> {
    let bytes = std::fs::read(path).map_err(|source| CliError::Read { path: path.clone(), source })?;
    PinnedPolicy::from_file_bytes(&bytes).map_err(|source| CliError::Policy { path: path.clone(), source })
}

pub(crate) fn pins(files: &[PathBuf], hashes: &[String]) -> Result<Vec<PolicyPin>, CliError> {
    let mut out = Vec::new();
    for f in files {
        let p = read_policy(f)?;
        out.push(PolicyPin { hash: p.hash, source: format!("--policy {}", f.display()) });
    }
    for h in hashes {
        out.push(PolicyPin { hash: parse_digest("--policy-hash", h)?, source: "--policy-hash".to_owned() });
    }
    Ok(out)
}

/// Policy-profile options with the built-in proof backends.
pub(crate) fn verify_options() -> VerifyOptions {
    VerifyOptions { backends: capsule_runner::default_backends(), ..VerifyOptions::default() }
}

/// Policy-profile options with what the user pinned on the command line:
/// policies (`--policy`, `--policy-hash`), the proof backends and programs,
/// and the trust roots (`--acl` and its shortcuts, `--registry-root`,
/// `--trusted-root`). `verify`, `board` and `serve` take the same flags.
pub(crate) fn pinned_options(
    policy: &[PathBuf],
    policy_hash: &[String],
    trust: &crate::trust::TrustArgs,
    backends: &crate::adapter::BackendArgs,
) -> Result<VerifyOptions, CliError> {
    let mut opts =
        VerifyOptions { backends: backends.registry()?, pins: pins(policy, policy_hash)?, ..VerifyOptions::default() };
    crate::trust::apply(trust, &mut opts)?;
    Ok(opts)
}
