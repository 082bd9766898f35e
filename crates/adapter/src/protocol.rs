//! The adapter process protocol, `capsulebench/adapter-protocol/v1`: JSON
//! lines over the adapter's stdin (requests) and stdout (replies).
//!
//! Owns the message shapes. The framework sends one request and reads
//! lines until that request's `ok` or `error`; before it the adapter may
//! send `event` lines (progress in the seed's `phase` shape). Large data
//! travels in files whose paths the framework chooses (`rows_path`,
//! `proof_path`). Specified in `docs/spec/adapter.md`.

use std::path::PathBuf;

use capsule::digest::Digest;
use serde::{Deserialize, Serialize};

use crate::{AdapterInfo, Execution, Progress, PublicOutputs};

/// The protocol identifier, sent with `describe` and echoed by the adapter.
pub const PROTOCOL: &str = "capsulebench/adapter-protocol/v1";

/// Longest line either side accepts (1 MiB).
pub const MAX_LINE: usize = 1 << 20;

/// A request, framework to adapter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Who are you? Answered with [`Describe`].
    Describe {
        /// [`PROTOCOL`].
        protocol: String,
    },
    /// Run the workload; write the trace rows to `rows_path` when given.
    /// Answered with [`PublicOutputs`].
    Execute {
        /// Parameters and pinned proof parameters.
        execution: Execution,
        /// Where to write the rows (`row_count × row_width` bytes), or
        /// `null` when the framework does not want them.
        rows_path: Option<PathBuf>,
    },
    /// Prove the last execution; write the proof to `proof_path`.
    /// Answered with [`Proved`].
    Prove {
        /// The statement hash to absorb.
        statement_hash: Digest,
        /// The repetition nonce to absorb.
        nonce: u64,
        /// Where to write the proof.
        proof_path: PathBuf,
    },
    /// Verify the proof at `proof_path`. Answered with [`Verified`], or an
    /// `error` when the proof does not verify.
    Verify {
        /// The execution the statement describes.
        execution: Execution,
        /// The program id the verifier pins.
        program_id: String,
        /// The statement hash the proof must have absorbed.
        statement_hash: Digest,
        /// The result digest the statement records.
        result_digest: Digest,
        /// The proof.
        proof_path: PathBuf,
    },
    /// Exit (status 0) after answering `ok`.
    Shutdown,
}

/// A reply line, adapter to framework: exactly one of its keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Reply {
    /// Progress, any number before `ok` or `error`.
    Event(Event),
    /// The request succeeded; its payload.
    Ok(serde_json::Value),
    /// The request failed.
    Error(ErrorReply),
}

/// An event an adapter sends: the seed's `phase` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// A phase started.
    Phase(Progress),
}

/// A failed request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorReply {
    /// One line saying what failed.
    pub message: String,
}

/// The `ok` payload of `describe`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Describe {
    /// [`PROTOCOL`].
    pub protocol: String,
    /// The adapter.
    pub adapter: AdapterInfo,
}

/// The `ok` payload of `prove`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proved {
    /// The proof's length in bytes.
    pub proof_bytes: u64,
}

/// The `ok` payload of `verify`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verified {
    /// Security level in bits, computed from the proof.
    pub security_bits: u32,
}

/// The `ok` payload of `execute`.
pub type Executed = PublicOutputs;
