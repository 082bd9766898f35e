//! `cargo capsule board build|add`: the verifier-gated board
//! (`capsule_board`). Parses the verifier's options (the same as `verify`'s)
//! and prints what was done.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::errors::{CliError, ExitCode};
use crate::output;

/// The board.
#[derive(Debug, Subcommand)]
pub(crate) enum BoardCommand {
    /// Verify every pack under some directories and write the board's static site.
    Build(BuildArgs),
    /// Verify one more pack and add it to a board site, rewriting only what changes.
    Add(AddArgs),
}

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// Directories to read packs (`*.tgz`, recursively) from.
    #[arg(long, value_name = "DIR", required = true, num_args = 1..)]
    packs: Vec<PathBuf>,
    /// The site directory to write (replaced whole when it is a board site).
    #[arg(long, value_name = "SITE")]
    out: PathBuf,
    #[command(flatten)]
    verifier: VerifierArgs,
}

#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    /// The pack.
    pack: PathBuf,
    /// The board site to add it to (built by `board build` with the same
    /// verifier options).
    #[arg(long, value_name = "SITE")]
    site: PathBuf,
    #[command(flatten)]
    verifier: VerifierArgs,
}

/// The verifier's options: the same as `verify`'s. With `--acl` and
/// `--registry-root`, entries can be certified.
#[derive(Debug, Args)]
pub(crate) struct VerifierArgs {
    /// Pin this policy file (in addition to the standard policies).
    #[arg(long, value_name = "FILE")]
    policy: Vec<PathBuf>,
    /// Pin this policy hash (in addition to the standard policies).
    #[arg(long, value_name = "HASH")]
    policy_hash: Vec<String>,
    /// The branch whose pushes (and every tag) make the history.
    #[arg(long, default_value = "main")]
    branch: String,
    #[command(flatten)]
    trust: crate::trust::TrustArgs,
    #[command(flatten)]
    backends: crate::adapter::BackendArgs,
}

impl VerifierArgs {
    fn verifier(&self) -> Result<capsule_board::Verifier, CliError> {
        let options = crate::inputs::pinned_options(&self.policy, &self.policy_hash, &self.trust, &self.backends)?;
        let mut pinned: Vec<_> = options.pins.iter().map(|p| p.hash).collect();
        pinned.sort_by_key(|h| h.0);
        pinned.dedup();
        let trusted_root = match self.trust.trusted_root_file() {
            Some(p) => Some(capsule::digest::plain(
                &std::fs::read(p).map_err(|source| CliError::Read { path: p.to_owned(), source })?,
            )),
            None => None,
        };
        let certifies = options.acl.is_some() && options.registry_root.is_some();
        let meta = capsule_board::model::VerifierV1 {
            tool: format!("cargo-capsule {}", env!("CARGO_PKG_VERSION")),
            profile: if certifies { "certified" } else { "policy" }.to_owned(),
            pinned_policies: pinned,
            acl: options.acl.as_ref().map(|a| a.hash),
            registry_root: options.registry_root,
            trusted_root,
            backends: self.backends.describe(),
            options_hash: capsule::digest::Digest::ZERO,
        }
        .sealed();
        Ok(capsule_board::Verifier { options, meta, branch: self.branch.clone() })
    }
}

pub(crate) fn run(c: BoardCommand) -> Result<u8, CliError> {
    let (summary, what) = match c {
        BoardCommand::Build(a) => {
            let v = a.verifier.verifier()?;
            (capsule_board::build(&a.packs, &a.out, &v).map_err(CliError::Board)?, "built")
        }
        BoardCommand::Add(a) => {
            crate::inputs::readable(&a.pack)?;
            let v = a.verifier.verifier()?;
            (capsule_board::add(&a.pack, &a.site, &v).map_err(CliError::Board)?, "updated")
        }
    };
    if output::json_mode() {
        output::json(&summary)?;
    } else {
        let rate = if summary.verify_ms > 0 {
            format!(", {:.0} packs/s", summary.verified as f64 * 1000.0 / summary.verify_ms as f64)
        } else {
            String::new()
        };
        output::line(&format!(
            "board {what}: {} packs read ({} verified in {} ms{rate}, {} from the cache, {} duplicates); \
             {} certified, {} community, {} rejected; {} files written to {}",
            summary.packs,
            summary.verified,
            summary.verify_ms,
            summary.cached,
            summary.duplicates,
            summary.certified,
            summary.community,
            summary.rejected,
            summary.written,
            summary.site
        ))?;
    }
    Ok(ExitCode::OK)
}
