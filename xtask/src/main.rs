//! `cargo xtask`: project automation.
//!
//! - `cargo xtask fixtures`: regenerate `fixtures/` (golden pack, hostile
//!   packs, test vectors). Tests check the committed files and fail with
//!   "run `cargo xtask fixtures`" when they drift.
//! - `cargo xtask codegen`: regenerate committed generated files
//!   (`docs/config.schema.json`).
//! - `cargo xtask bench-signal`, `cargo xtask bench-overhead`: paired
//!   comparison quality and runner overhead (see `signal.rs`).
//! - `cargo xtask bench-container [--rounds N] [--engine docker|podman]`:
//!   a repetition timed inside a container against the same binary natively,
//!   and the container start overhead (see `container.rs`).
//! - `cargo xtask bench-board [--packs N]`: `board build` over N small packs
//!   against verifying them alone, and `board add` of one more (see
//!   `board.rs`).
//! - `cargo xtask bench-stark [--trace-length N]`: the built-in STARK's
//!   prove time alone and through the full `bench` path, verify time and
//!   peak memory (see `stark.rs`).
//! - `cargo xtask bench [--quick]`: print the receipt standard's performance
//!   ratios against baselines measured in the same run.
//! - `cargo xtask bench-install [--binary PATH] [--runs N]`: the Action's
//!   prebuilt install against a loopback release, with a bare download as
//!   the baseline (see `install.rs`).
//! - `cargo xtask fuzz [--minutes N | --seconds N] [--target T] [--smoke]`:
//!   run every fuzz target (cargo-fuzz, nightly) for the time given (see
//!   `fuzz.rs`); `--smoke` builds them unoptimized without a sanitizer.

mod bench;
mod board;
mod container;
mod fixtures;
mod fuzz;
mod install;
mod signal;
mod stark;

use std::path::PathBuf;
use std::process::ExitCode;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(PathBuf::from).unwrap_or_default()
}

/// Writes generated files that are committed (a test fails when they drift).
fn codegen(root: &std::path::Path) -> Result<(), String> {
    let path = root.join("docs/config.schema.json");
    std::fs::write(&path, capsule_runner::config::json_schema())
        .map_err(|e| format!("failed to write `{}`: {e}", path.display()))
}

/// Prints one line for the user.
pub(crate) fn say(s: &str) {
    #[expect(clippy::print_stdout, reason = "xtask reports to its user")]
    {
        println!("{s}");
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = match args.first().map(String::as_str) {
        Some("fixtures") => fixtures::run(&root()),
        Some("bench") => bench::run(args.iter().any(|a| a == "--quick")),
        Some("codegen") => codegen(&root()),
        Some("bench-signal") => {
            let n = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1))?.parse().ok();
            let kind = match args.iter().position(|a| a == "--kind").and_then(|i| args.get(i + 1)).map(String::as_str) {
                None | Some("command") => Ok(signal::Kind::Command),
                Some("criterion") => Ok(signal::Kind::Criterion),
                Some("noisy") => Ok(signal::Kind::Noisy),
                Some(other) => Err(format!("--kind must be command, noisy or criterion, not `{other}`")),
            };
            kind.and_then(|kind| {
                signal::signal(
                    &root(),
                    &signal::Options {
                        kind,
                        aa_trials: n("--aa").unwrap_or(500),
                        slow_trials: n("--slowed").unwrap_or(200),
                        reps: n("--repetitions").map(|r| r as u32),
                        load: args.iter().any(|a| a == "--load"),
                    },
                )
            })
        }
        Some("bench-overhead") => signal::overhead(50),
        Some("bench-board") => {
            let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1));
            match value("--packs").map(|r| r.parse::<usize>()) {
                Some(Err(e)) => Err(format!("--packs: {e}")),
                n => board::bench_board(n.and_then(Result::ok).unwrap_or(10_000).max(1)),
            }
        }
        Some("bench-container") => {
            let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1));
            let engine = match value("--engine").map(String::as_str) {
                None => Ok(None),
                Some("docker") => Ok(Some(capsule_runner::container::EngineKind::Docker)),
                Some("podman") => Ok(Some(capsule_runner::container::EngineKind::Podman)),
                Some(other) => Err(format!("--engine must be docker or podman, not `{other}`")),
            };
            match (value("--rounds").map(|r| r.parse::<usize>()), engine) {
                (Some(Err(e)), _) => Err(format!("--rounds: {e}")),
                (_, Err(e)) => Err(e),
                (rounds, Ok(engine)) => {
                    container::bench_container(&root(), rounds.and_then(Result::ok).unwrap_or(200).max(1), engine)
                }
            }
        }
        Some("bench-install") => {
            let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1));
            match value("--runs").map(|r| r.parse::<usize>()) {
                Some(Err(e)) => Err(format!("--runs: {e}")),
                runs => install::bench_install(
                    &root(),
                    value("--binary").map(PathBuf::from),
                    runs.and_then(Result::ok).unwrap_or(10).max(1),
                ),
            }
        }
        Some("fuzz") => {
            let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1));
            let number = |flag: &str| value(flag).map(|v| v.parse::<u64>().map_err(|e| format!("{flag}: {e}")));
            match (number("--minutes").transpose(), number("--seconds").transpose()) {
                (Err(e), _) | (_, Err(e)) => Err(e),
                (Ok(m), Ok(s)) => {
                    let seconds = s.unwrap_or(0) + m.unwrap_or(if s.is_none() { 1 } else { 0 }) * 60;
                    let smoke = args.iter().any(|a| a == "--smoke");
                    fuzz::run(&root(), seconds.max(1), value("--target").map(String::as_str), smoke)
                }
            }
        }
        Some("bench-stark") => {
            let n = args.iter().position(|a| a == "--trace-length").and_then(|i| args.get(i + 1));
            match n.map(|n| n.parse::<u64>()) {
                Some(Err(e)) => Err(format!("--trace-length: {e}")),
                Some(Ok(n)) => stark::bench_stark(&root(), n),
                None => stark::bench_stark(&root(), capsule_stark::DEFAULT_TRACE_LENGTH),
            }
        }
        Some("spin") => {
            let iters = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
            say(&signal::spin(iters).to_string());
            if args.iter().any(|a| a == "--nap") {
                signal::nap();
            }
            Ok(())
        }
        _ => Err(
            "usage: cargo xtask <fixtures | codegen | bench [--quick] | bench-signal [--kind command|noisy|criterion] [--aa N] [--slowed N] [--repetitions N] [--load] | bench-overhead | bench-container [--rounds N] [--engine docker|podman] | bench-install [--binary PATH] [--runs N] | bench-stark [--trace-length N] | fuzz [--minutes N | --seconds N] [--target T] [--smoke]>"
                .to_owned(),
        ),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            #[expect(clippy::print_stderr, reason = "xtask reports to its user")]
            {
                eprintln!("error: {e}");
            }
            ExitCode::FAILURE
        }
    }
}
