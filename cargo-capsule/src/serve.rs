//! `cargo capsule serve`: argument parsing over `capsule-server`, and the
//! stream and submission flags of `bench` and `submit`.

use std::path::PathBuf;
use std::sync::Arc;

use capsule::verify::Profile;
use clap::Args;

use crate::errors::{CliError, ExitCode};
use crate::output;

/// The environment variable a runner token is read from (never a flag:
/// flags show in process lists).
pub(crate) const TOKEN_ENV: &str = "CAPSULE_STREAM_TOKEN";

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Where to listen.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: String,
    /// The data directory: `runs.sqlite` and `packs/`.
    #[arg(long, value_name = "DIR", default_value = "capsule-server")]
    data: PathBuf,
    /// The runner tokens: one `PROJECT SHA256-HEX-OF-TOKEN` a line.
    #[arg(long, value_name = "FILE")]
    tokens: PathBuf,
    /// The profile packs are verified at.
    #[arg(long, value_enum, default_value = "policy")]
    profile: ServeProfile,
    /// Pin this policy file (in addition to the standard policies).
    #[arg(long, value_name = "FILE")]
    policy: Vec<PathBuf>,
    /// Pin this policy hash (in addition to the standard policies).
    #[arg(long, value_name = "HASH")]
    policy_hash: Vec<String>,
    #[command(flatten)]
    trust: crate::trust::TrustArgs,
    #[command(flatten)]
    backends: crate::adapter::BackendArgs,
    /// The largest pack accepted, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    max_pack_mib: u64,
    /// The most events a run may stream.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_events: u64,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ServeProfile {
    Integrity,
    Policy,
    Certified,
}

pub(crate) fn serve(a: ServeArgs) -> Result<u8, CliError> {
    let mut verify = crate::inputs::pinned_options(&a.policy, &a.policy_hash, &a.trust, &a.backends)?;
    verify.profile = match a.profile {
        ServeProfile::Integrity => Profile::Integrity,
        ServeProfile::Policy => Profile::Policy,
        ServeProfile::Certified => Profile::Certified,
    };
    let tokens = capsule_server::tokens::Tokens::load(&a.tokens).map_err(CliError::Tokens)?;
    if tokens.is_empty() {
        return Err(CliError::Usage("the token file names no project: add a `PROJECT SHA256-HEX-OF-TOKEN` line"));
    }
    std::fs::create_dir_all(&a.data).map_err(|source| CliError::Write { path: a.data.clone(), source })?;
    let store = capsule_server::store::SqliteStore::open(&a.data.join("runs.sqlite")).map_err(CliError::Store)?;
    let limits = capsule_server::Limits {
        pack_bytes: a.max_pack_mib.saturating_mul(1 << 20),
        events_per_run: a.max_events,
        ..capsule_server::Limits::default()
    };
    let config = capsule_server::Config { data_dir: a.data, store: Arc::new(store), verify, tokens, limits };
    let projects = config.tokens.len();
    capsule_server::run(&a.listen, config, |addr| {
        let _ = output::line(&format!(
            "serving on http://{addr} ({projects} projects); runners stream with `cargo capsule bench --stream http://{addr}` and {TOKEN_ENV} set"
        ));
    })
    .map_err(CliError::Serve)?;
    Ok(ExitCode::OK)
}

/// The runner token, from [`TOKEN_ENV`].
pub(crate) fn token() -> Result<String, CliError> {
    std::env::var(TOKEN_ENV)
        .ok()
        .filter(|t| !t.is_empty())
        .ok_or(CliError::Usage("streaming and submitting to a server need a runner token in `CAPSULE_STREAM_TOKEN`"))
}

/// Says how a stream went, after the run's own summary.
pub(crate) fn report(server: &str, o: &capsule_server::client::Outcome) -> Result<(), CliError> {
    for p in &o.problems {
        output::line(&format!("stream: {p}"))?;
    }
    let reconnects = match o.reconnects {
        0 => String::new(),
        1 => " after 1 reconnect".to_owned(),
        n => format!(" after {n} reconnects"),
    };
    output::line(&format!("stream: {} of {} events acknowledged by {server}{reconnects}", o.acknowledged, o.events))?;
    match &o.submitted {
        Some(s) => {
            use capsule::stream::StreamVerdict as V;
            let stream = match s.stream {
                V::Matches => "the stream matches it",
                V::Incomplete => "the stream it holds is incomplete",
                V::Mismatch => "the stream does NOT match it",
                V::NotStreamed => "it holds no stream of the run",
                V::Unchecked => "the stream was not compared",
            };
            output::line(&format!("stream: the server verified the pack: {}; {stream}", s.verdict))
        }
        None => output::line("warning: the pack was not submitted to the server (the pack itself is written)"),
    }
}
