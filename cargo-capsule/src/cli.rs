//! The command line: argument types and dispatch to the library.

use std::path::PathBuf;

use capsule::digest::Digest;
use capsule::pack::Limits;
use capsule::standard::PinnedPolicy;
use capsule::verify::{PolicyPin, Profile, VerifyOptions, verify_pack_file};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::errors::{CliError, ExitCode};
use crate::output;

/// Benchmark receipts that anyone verifies offline.
#[derive(Debug, Parser)]
#[command(name = "cargo capsule", bin_name = "cargo capsule", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Verify a capsulepack strictly and say what is proven, signed and self-reported.
    Verify(VerifyArgs),
    /// Show a pack at a glance: workload, track, anchors, measurements, signatures.
    Inspect(PackArgs),
    /// Replay the sealed event timeline of a pack, with the chain checked.
    Replay(PackArgs),
    /// Check a pack at profile `integrity`, then unpack it into a new directory.
    Unpack(UnpackArgs),
    /// Benchmark Policy tools.
    #[command(subcommand)]
    Policy(PolicyCommand),
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
    /// Print the JSON report (`capsulebench/verify-report/v1`).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Debug, Args)]
struct PackArgs {
    /// The capsulepack.
    pack: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
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
}

/// Fails with an input error (exit 3) when the pack cannot be opened at all;
/// everything about its contents is the verifier's to report.
fn readable(path: &PathBuf) -> Result<(), CliError> {
    std::fs::File::open(path).map(|_| ()).map_err(|source| CliError::Read { path: path.clone(), source })
}

fn parse_digest(flag: &'static str, s: &str) -> Result<Digest, CliError> {
    s.parse().map_err(|source| CliError::Digest { flag, source })
}

fn read_policy(path: &PathBuf) -> Result<PinnedPolicy, CliError> {
    let bytes = std::fs::read(path).map_err(|source| CliError::Read { path: path.clone(), source })?;
    PinnedPolicy::from_file_bytes(&bytes).map_err(|source| CliError::Policy { path: path.clone(), source })
}

impl Cli {
    pub(crate) fn run(self) -> Result<u8, CliError> {
        match self.command {
            Command::Verify(a) => {
                let mut opts =
                    VerifyOptions { profile: a.profile.into(), limits: a.limits.limits(), ..VerifyOptions::default() };
                for f in &a.policy {
                    let p = read_policy(f)?;
                    opts.pins.push(PolicyPin { hash: p.hash, source: format!("--policy {}", f.display()) });
                }
                for h in &a.policy_hash {
                    opts.pins.push(PolicyPin {
                        hash: parse_digest("--policy-hash", h)?,
                        source: "--policy-hash".to_owned(),
                    });
                }
                if let Some(h) = &a.expect_capsule {
                    opts.expect_capsule = Some(parse_digest("--expect-capsule", h)?);
                }
                readable(&a.pack)?;
                let (report, _) = verify_pack_file(&a.pack, &opts);
                if a.json {
                    output::json(&report)?;
                } else {
                    output::report(&report)?;
                }
                Ok(if report.accepted() { ExitCode::OK } else { ExitCode::REJECTED })
            }
            Command::Inspect(a) => {
                readable(&a.pack)?;
                let opts = VerifyOptions { profile: Profile::Integrity, ..VerifyOptions::default() };
                let (report, contents) = verify_pack_file(&a.pack, &opts);
                output::inspect(&report, contents.as_ref(), a.json)?;
                Ok(if report.accepted() { ExitCode::OK } else { ExitCode::REJECTED })
            }
            Command::Replay(a) => {
                readable(&a.pack)?;
                let opts = VerifyOptions { profile: Profile::Integrity, ..VerifyOptions::default() };
                let (report, contents) = verify_pack_file(&a.pack, &opts);
                output::replay(&report, contents.as_ref(), a.json)?;
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
                output::line(&format!("{}  {} {}", p.hash, p.policy.id, p.policy.version))?;
                Ok(ExitCode::OK)
            }
        }
    }
}
