//! `cargo capsule`: parse, dispatch, render, exit.
//!
//! Cargo runs this binary as `cargo-capsule capsule <args>`; run directly it
//! also accepts `cargo-capsule <args>`. Every behaviour lives in the
//! `capsule` library; this crate only maps arguments to library calls, renders
//! results once, and turns each outcome into a documented exit code
//! ([`errors::ExitCode`]).

mod adapter;
mod board;
mod cli;
mod errors;
mod github;
mod init;
mod inputs;
mod output;
mod serve;
mod trust;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "capsule") {
        args.remove(1);
    }
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { errors::ExitCode::USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    output::set_mode(cli.json(), cli.color());
    // In JSON mode, what a command said for people goes out as one
    // document, or, when it failed, the error document with it.
    match cli.run().and_then(|code| output::finish().map(|()| code)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            output::error(&e);
            ExitCode::from(e.exit_code())
        }
    }
}
