//! Errors the CLI can meet, each with its documented exit code.
//!
//! Verification findings are not errors: a rejected pack is a successful run
//! of the verifier that exits 1. Errors are what stops a command from doing
//! its job at all.

use std::path::PathBuf;

/// The documented exit codes (README "Exit codes").
pub(crate) struct ExitCode;

impl ExitCode {
    /// The command did what was asked; a verified pack was accepted.
    pub(crate) const OK: u8 = 0;
    /// The pack was rejected (findings say why).
    pub(crate) const REJECTED: u8 = 1;
    /// The command line is wrong.
    pub(crate) const USAGE: u8 = 2;
    /// An input could not be read or is invalid (pack file, policy file).
    pub(crate) const INPUT: u8 = 3;
    /// Writing output failed.
    pub(crate) const OUTPUT: u8 = 4;
    /// The benchmarked workload failed (crashed, could not start or build,
    /// printed nondeterministic results).
    pub(crate) const WORKLOAD: u8 = 5;
    /// Two packs that are not like for like (`compare`).
    pub(crate) const NOT_COMPARABLE: u8 = 6;
    /// GitHub or Sigstore refused a request or could not be reached, or
    /// keyless signing is not possible here (`github`, `submit`,
    /// `sign --sigstore`, `init` pinning the Action).
    pub(crate) const GITHUB: u8 = 7;
    /// `compare --fail-on`: the verdict is one the gate fails on.
    pub(crate) const REGRESSION: u8 = 8;
    /// `bench` was interrupted (SIGINT, SIGTERM); nothing was written.
    pub(crate) const INTERRUPTED: u8 = 130;
}

/// An error that stops a command.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// A file the user named could not be read.
    #[error("failed to read `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A policy file that is not a valid Benchmark Policy v1.
    #[error("`{path}` is not a valid Benchmark Policy v1")]
    Policy {
        path: PathBuf,
        #[source]
        source: capsule::canonical::CanonicalError,
    },
    /// A digest argument that does not parse.
    #[error("invalid value for `{flag}`")]
    Digest {
        flag: &'static str,
        #[source]
        source: capsule::digest::DigestParseError,
    },
    /// Unpacking failed.
    #[error("failed to unpack `{path}`")]
    Unpack {
        path: PathBuf,
        #[source]
        source: capsule::pack::PackError,
    },
    /// Writing to stdout failed.
    #[error("failed to write output")]
    Output(#[source] std::io::Error),
    /// Writing a file the user named failed.
    #[error("failed to write `{path}`")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Flags that cannot go together.
    #[error("{0}")]
    Usage(&'static str),
    /// A benchmark run failed.
    #[error("benchmark failed")]
    Bench(#[source] capsule_runner::BenchError),
    /// Two packs cannot be compared.
    #[error("cannot compare these packs")]
    Compare(#[source] capsule::compare::CompareError),
    /// An adapter failed or broke the protocol (`adapter check`).
    #[error("the adapter failed")]
    Adapter(#[source] capsule_adapter::AdapterError),
    /// A parameter set that is not a JSON object.
    #[error("invalid `{flag}`: {why}")]
    Params { flag: &'static str, why: String },
    /// Keyless signing failed.
    #[error("keyless signing failed")]
    Keyless(#[source] capsule_github::keyless::KeylessError),
    /// A GitHub call failed.
    #[error("GitHub request failed")]
    Github(#[source] capsule_github::GithubError),
    /// The runner token file does not load.
    #[error("the runner tokens do not load")]
    Tokens(#[source] capsule_server::tokens::TokenError),
    /// The server's run store failed.
    #[error("the run store failed")]
    Store(#[source] capsule_server::store::StoreError),
    /// The server could not run.
    #[error("the server stopped")]
    Serve(#[source] capsule_server::ServerError),
    /// A CapsuleBench server could not be reached, or refused.
    #[error("the CapsuleBench server request failed")]
    Stream(#[source] capsule_server::client::ClientError),
    /// A builtin repetition failed.
    #[error("builtin workload failed: {0}")]
    Builtin(String),
    /// A key could not be generated, read or used.
    #[error("signing key error")]
    Key(#[source] capsule::trust::key::KeyError),
    /// The environment variable named by `--key-env` is unset.
    #[error("environment variable `{0}` (from `--key-env`) is not set or not UTF-8")]
    KeyEnv(String),
    /// A JSON input file does not parse.
    #[error("`{path}` is not valid JSON of the expected shape")]
    Json {
        path: PathBuf,
        #[source]
        source: capsule::canonical::CanonicalError,
    },
    /// A registry proof that does not prove the pack's policy.
    #[error("`{path}` does not prove the pack's policy: {why}")]
    RegistryProof { path: PathBuf, why: capsule::trust::registry::InclusionProblem },
    /// A policy that is not in the registry asked for.
    #[error("policy `{policy}` ({hash}) is not among the policies of `{registry}`")]
    NotRegistered { policy: PathBuf, hash: capsule::digest::Digest, registry: PathBuf },
    /// An ACL file that cannot be used.
    #[error("invalid ACL")]
    Acl(#[source] capsule::trust::acl::AclError),
    /// A Sigstore trusted root that cannot be used.
    #[error("invalid trusted root")]
    TrustRoot(#[source] capsule::trust::sigstore::TrustRootError),
    /// Attaching a signature failed; the pack is unchanged.
    #[error("failed to sign `{path}` (the pack is unchanged)")]
    Attach {
        path: PathBuf,
        #[source]
        source: capsule::trust::attach::AttachError,
    },
    /// Writing a row archive failed.
    #[error("failed to write the row archive `{path}`")]
    Archive {
        path: PathBuf,
        #[source]
        source: capsule::trust::audit::ArchiveError,
    },
    /// A harness output could not be imported.
    #[error("import failed")]
    Import(#[source] capsule_runner::import::ImportError),
    /// `init` could not pin the Action to a commit.
    #[error(
        "cannot pin the Action `{action}` to a commit ({why}); pass `--action OWNER/REPO@<40-hex commit SHA>` (for example from `git ls-remote https://github.com/OWNER/REPO REF`)"
    )]
    Pin { action: String, why: String },
    /// The operating system's randomness failed.
    #[error("failed to draw a seed from the operating system's randomness: {0}")]
    Randomness(String),
    /// The board could not be built or updated.
    #[error("board failed")]
    Board(#[source] capsule_board::BoardError),
}

impl CliError {
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CliError::Read { .. }
            | CliError::Policy { .. }
            | CliError::Digest { .. }
            | CliError::Key(_)
            | CliError::KeyEnv(_)
            | CliError::Json { .. }
            | CliError::RegistryProof { .. }
            | CliError::NotRegistered { .. }
            | CliError::Acl(_)
            | CliError::TrustRoot(_)
            | CliError::Randomness(_) => ExitCode::INPUT,
            CliError::Attach { source, .. } => match source {
                capsule::trust::attach::AttachError::Rejected(_) => ExitCode::REJECTED,
                capsule::trust::attach::AttachError::Read(_) | capsule::trust::attach::AttachError::Changed { .. } => {
                    ExitCode::INPUT
                }
                capsule::trust::attach::AttachError::Write(_) => ExitCode::OUTPUT,
            },
            CliError::Import(e) => match e {
                capsule_runner::import::ImportError::Output { .. }
                | capsule_runner::import::ImportError::Seal(capsule::builder::BuildError::Write(_)) => ExitCode::OUTPUT,
                capsule_runner::import::ImportError::Rejected(_) => ExitCode::REJECTED,
                _ => ExitCode::INPUT,
            },
            CliError::Archive { source, .. } => match source {
                capsule::trust::audit::ArchiveError::Io { .. } => ExitCode::OUTPUT,
                _ => ExitCode::INPUT,
            },
            CliError::Unpack { source, .. } => match source {
                capsule::pack::PackError::Write { .. } | capsule::pack::PackError::DestinationExists { .. } => {
                    ExitCode::OUTPUT
                }
                _ => ExitCode::REJECTED,
            },
            CliError::Output(_) | CliError::Write { .. } => ExitCode::OUTPUT,
            CliError::Board(e) => match e {
                capsule_board::BoardError::Io { what, .. } if !what.starts_with("read") => ExitCode::OUTPUT,
                capsule_board::BoardError::Chart { .. } => ExitCode::OUTPUT,
                _ => ExitCode::INPUT,
            },
            CliError::Usage(_) => ExitCode::USAGE,
            CliError::Compare(_) => ExitCode::NOT_COMPARABLE,
            CliError::Builtin(_) | CliError::Adapter(_) => ExitCode::WORKLOAD,
            CliError::Params { .. } => ExitCode::USAGE,
            CliError::Github(capsule_github::GithubError::Env(..) | capsule_github::GithubError::Repo(_)) => {
                ExitCode::INPUT
            }
            CliError::Github(capsule_github::GithubError::Write { .. } | capsule_github::GithubError::NotEmpty(_)) => {
                ExitCode::OUTPUT
            }
            CliError::Github(_) | CliError::Keyless(_) | CliError::Pin { .. } => ExitCode::GITHUB,
            CliError::Tokens(_) => ExitCode::INPUT,
            CliError::Store(_) | CliError::Serve(_) => ExitCode::OUTPUT,
            CliError::Stream(capsule_server::client::ClientError::Url(_)) => ExitCode::USAGE,
            CliError::Stream(capsule_server::client::ClientError::Read { .. }) => ExitCode::INPUT,
            CliError::Stream(_) => ExitCode::GITHUB,
            CliError::Bench(e) => {
                use capsule_runner::BenchError as B;
                match e {
                    B::Instructions(capsule_runner::measure::InstructionError::Unavailable(_)) => ExitCode::INPUT,
                    B::Failed { .. }
                    | B::Spawn { .. }
                    | B::Build { .. }
                    | B::Nondeterministic { .. }
                    | B::BuiltinMismatch { .. }
                    | B::Adapter { .. }
                    | B::Instructions(_)
                    | B::Harness(_) => ExitCode::WORKLOAD,
                    B::Seal(capsule::builder::BuildError::Write(_) | capsule::builder::BuildError::Spool(_))
                    | B::Output { .. } => ExitCode::OUTPUT,
                    B::Seal(_) => ExitCode::INPUT,
                    B::Rejected(_) => ExitCode::REJECTED,
                    B::Interrupted => ExitCode::INTERRUPTED,
                    // A container that started and then failed is the
                    // workload's failure; an unusable engine, image or pin
                    // is an input error.
                    B::Container {
                        source:
                            capsule_runner::container::ContainerError::Protocol { .. }
                            | capsule_runner::container::ContainerError::Build { .. }
                            | capsule_runner::container::ContainerError::Shim { .. },
                        ..
                    } => ExitCode::WORKLOAD,
                    _ => ExitCode::INPUT,
                }
            }
        }
    }
}
