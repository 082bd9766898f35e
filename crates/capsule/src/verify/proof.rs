//! The proof axis: the backend trait and the verifier's registry of backends.
//!
//! A backend is code the *verifier's* user configures, keyed by backend id;
//! nothing in a pack selects code to run. Proving backends (the built-in
//! STARK, external adapters) implement [`ProofBackend`] in their own crates.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::digest::Digest;
use crate::objects::StatementV1;

/// What a backend is asked to check.
pub struct ProofCheck<'a> {
    /// The proof bytes.
    pub proof: &'a [u8],
    /// The statement hash the proof must have absorbed.
    pub statement_hash: Digest,
    /// The statement (public inputs, trace root).
    pub statement: &'a StatementV1,
    /// The proof parameters the pinned policy fixes for this backend.
    pub pinned_params: Option<&'a Value>,
}

/// A successful check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofOutcome {
    /// Security level in bits, computed from the proof itself.
    pub security_bits: u32,
    /// Whether the proof also binds the statement's trace root (otherwise
    /// the root is reported as committed, not proven).
    pub binds_trace_root: bool,
}

/// A proof backend's verifier.
pub trait ProofBackend: Send + Sync {
    /// The backend id a capsule names.
    fn id(&self) -> &str;
    /// Verifies a proof; `Err` carries a one-line reason.
    fn verify(&self, check: &ProofCheck<'_>) -> Result<ProofOutcome, String>;
}

/// The backends a verifier trusts, by id.
#[derive(Clone, Default)]
pub struct BackendRegistry(BTreeMap<String, Arc<dyn ProofBackend>>);

impl BackendRegistry {
    /// Registers a backend under its id.
    pub fn register(&mut self, backend: Arc<dyn ProofBackend>) {
        self.0.insert(backend.id().to_owned(), backend);
    }

    /// Looks a backend up.
    pub fn get(&self, id: &str) -> Option<&Arc<dyn ProofBackend>> {
        self.0.get(id)
    }

    /// The registered ids.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

/// Where a pack stands on the proof axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProofAxis {
    /// Not checked (profile `integrity`).
    Unchecked,
    /// No trace and no proof.
    None,
    /// A trace root is committed; nothing proves it.
    CommittedNotProven,
    /// A proof bound to the statement verified.
    BoundAndVerified,
    /// A declared proof failed or could not be checked: always a rejection.
    Failed,
}

impl ProofAxis {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProofAxis::Unchecked => "unchecked",
            ProofAxis::None => "none",
            ProofAxis::CommittedNotProven => "committed-not-proven",
            ProofAxis::BoundAndVerified => "bound-and-verified",
            ProofAxis::Failed => "failed",
        }
    }
}
