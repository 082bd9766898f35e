//! The CapsuleBench runner: `cargo capsule bench`.
//!
//! Reads the workspace's workload configuration ([`config`]), collects
//! manifests with secrets redacted ([`manifest`]), runs each repetition as a
//! fresh process measured with `wait4` ([`measure`]), and drives the
//! `capsule` builder to seal and write a pack that it then verifies
//! ([`run`]). Builtin workloads live in [`builtin`]. This crate runs user
//! code; `capsule` (which verifies) never does.

pub mod builtin;
pub mod config;
pub mod container;
pub mod gungraun;
pub mod harness;
pub mod import;
pub mod interrupt;
pub mod manifest;
pub mod measure;
pub mod run;

pub use run::{
    BenchError, BenchOptions, BenchOutcome, Observer, Progress, bench, bench_paired, default_backends, post_seal_events,
};
