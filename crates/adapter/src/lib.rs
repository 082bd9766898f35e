//! The Trace Adapter API: how a proving workload plugs into CapsuleBench.
//!
//! An adapter implements [`TraceAdapter`]: it describes its trace and
//! backend, executes the workload (streaming its trace rows), reports the
//! public outputs, proves for a statement hash and nonce, and verifies a
//! proof. Everything else (committing rows, locking the statement,
//! measuring repetitions, events, sealing and packing) is the framework's.
//!
//! Adapters not written in Rust speak the same API as a process: one JSON
//! object a line over stdin/stdout ([`protocol`]; [`serve`] turns any
//! implementation into such a process, [`ProcessAdapter`] drives one).
//! [`conformance`] checks that an adapter's verification rejects what it
//! must, and [`ProcessBackend`] lets a verifier check an external backend's
//! proofs with a program the verifier's user configures.

pub mod conformance;
mod process;
pub mod protocol;
mod serve;
mod verifier;

use std::collections::BTreeMap;
use std::io::Write;

use capsule::digest::Digest;
use capsule::objects::TraceSpecV1;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The user guide's Rust examples (`docs/adapters.md`), compiled as
/// doctests so the toy adapter there keeps building against this API.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/adapters.md")]
pub struct AdaptersGuide;

pub use process::{ProcessAdapter, Scratch};
pub use serve::serve;
pub use verifier::ProcessBackend;

/// A workload's parameters, as the statement records them.
pub type Parameters = BTreeMap<String, Value>;

/// What an adapter is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterInfo {
    /// The proof backend id capsules name (`proof.backend`); a policy pins
    /// proof parameters under it.
    pub backend_id: String,
    /// The program the adapter proves (a zkVM program id or verifying-key
    /// hash; for the built-in STARK, a hash of its AIR): lowercase hex.
    /// Verifiers pin it per workload.
    pub program_id: String,
    /// What the trace rows are.
    pub trace_spec: TraceSpecV1,
    /// Two parameter sets whose traces differ, for the conformance check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<Parameters>,
}

/// What one execution is asked to do.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Execution {
    /// The workload parameters.
    pub parameters: Parameters,
    /// The proof parameters the policy pins for this backend, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof_params: Option<Value>,
}

/// The public outputs of an execution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicOutputs {
    /// The number of trace rows the execution produced.
    pub row_count: u64,
    /// The result digest the statement records.
    pub result_digest: Digest,
    /// Further outputs, informative: neither bound nor recorded in the pack
    /// (what is bound must be in the result digest).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub values: Value,
}

/// A proof to check, with everything it must bind.
#[derive(Clone, Debug)]
pub struct ProofClaim<'a> {
    /// The execution the statement describes (parameters, pinned proof
    /// parameters).
    pub execution: &'a Execution,
    /// The program id the *verifier* pins.
    pub program_id: &'a str,
    /// The statement hash the proof must have absorbed.
    pub statement_hash: Digest,
    /// The result digest the statement records.
    pub result_digest: Digest,
    /// The proof bytes.
    pub proof: &'a [u8],
}

/// A progress report from inside an adapter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    /// A short phase id (`execute`, `commit_trace`, `fri`...).
    pub phase_id: String,
    /// A human label.
    pub phase_label: String,
}

/// Receives an adapter's progress.
pub type ProgressHook = Box<dyn FnMut(&Progress) + Send>;

/// Why an adapter call failed.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The parameters are unusable.
    #[error("invalid parameters: {0}")]
    Parameters(String),
    /// A call came out of order (`prove` before `execute`).
    #[error("{0}")]
    Order(String),
    /// Executing, proving or writing rows failed.
    #[error("{what} failed: {why}")]
    Failed {
        /// The call.
        what: &'static str,
        /// Why.
        why: String,
    },
    /// The proof does not verify.
    #[error("the proof does not verify: {0}")]
    Rejected(String),
    /// An external adapter broke the protocol or its process failed.
    #[error("adapter `{program}`: {why}")]
    Process {
        /// The adapter's program.
        program: String,
        /// What went wrong.
        why: String,
    },
    /// Reading or writing a file or pipe failed.
    #[error("adapter i/o failed: {context}")]
    Io {
        /// What was being done.
        context: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl AdapterError {
    /// Maps an I/O error to [`AdapterError::Io`] with `context`.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> AdapterError {
        let context = context.into();
        move |source| AdapterError::Io { context, source }
    }
}

/// The Trace Adapter API. `prove` and `public_outputs` follow an `execute`
/// (each `prove` for its own statement hash and nonce); `describe` and
/// `verify` may come at any time: a proving repetition's fresh process gets
/// `execute`, `prove`, `verify`, and a reader's verifier process gets
/// `describe` and `verify` only, so `verify` must depend on its claim alone.
pub trait TraceAdapter {
    /// The backend, program and trace spec. Must not depend on parameters.
    fn describe(&mut self) -> Result<AdapterInfo, AdapterError>;

    /// Runs the workload with `execution`'s parameters, streaming each
    /// trace row (exactly `trace_spec.row_width` bytes) to `rows` when the
    /// framework wants them (it does once, before the statement is locked;
    /// a proving repetition executes without rows).
    fn execute(&mut self, execution: &Execution, rows: Option<&mut dyn Write>) -> Result<(), AdapterError>;

    /// The public outputs of the last execution.
    fn public_outputs(&mut self) -> Result<PublicOutputs, AdapterError>;

    /// Proves the last execution for `statement_hash` and `nonce`; both
    /// must enter the proof's transcript (its public inputs), so the proof
    /// verifies for them alone. Returns the proof bytes.
    fn prove(&mut self, statement_hash: &Digest, nonce: u64) -> Result<Vec<u8>, AdapterError>;

    /// Verifies a proof: it must have been made by the program the claim
    /// pins, for the claim's statement hash, and its public outputs must
    /// give the claim's parameters and result digest. Returns the security
    /// level in bits, computed from the proof.
    fn verify(&mut self, claim: &ProofClaim<'_>) -> Result<u32, AdapterError>;

    /// Receives progress reports (optional).
    fn set_progress(&mut self, hook: ProgressHook) {
        let _ = hook;
    }
}
