//! Checking an external backend's proofs on the verifier's side.
//!
//! A [`ProcessBackend`] is a [`ProofBackend`] that runs a verifier program
//! the *verifier's user* configured (`--backend-verifier ID=PATH`) through
//! the adapter protocol, with the program id that user pins for the
//! workload (`--pin-program WORKLOAD=ID`, carried in
//! `VerifyOptions::program_pins` and handed over as `ProofCheck::program_id`).
//! Nothing from the pack selects the program or the pin: a trivial guest
//! that only commits the statement hash is a different program and does not
//! verify.

use std::path::PathBuf;
use std::process::Command;

use capsule::verify::{ProofBackend, ProofCheck, ProofOutcome, Serves};

use crate::{Execution, ProcessAdapter, ProofClaim, TraceAdapter};

/// A verifier-configured external backend.
#[derive(Clone, Debug)]
pub struct ProcessBackend {
    /// The backend id it verifies.
    pub backend_id: String,
    /// The verifier program (an adapter speaking the protocol).
    pub program: PathBuf,
    /// Arguments for it.
    pub args: Vec<String>,
}

impl ProofBackend for ProcessBackend {
    fn id(&self) -> &str {
        &self.backend_id
    }

    fn serves(&self, _workload_id: &str) -> Serves {
        Serves::Pinned
    }

    fn verify(&self, check: &ProofCheck<'_>) -> Result<ProofOutcome, String> {
        let pi = &check.statement.public_inputs;
        let program_id = check.program_id.ok_or_else(|| {
            format!(
                "no program id is pinned for workload `{}`; pin one with `--pin-program {}=<program id>`",
                pi.workload_id, pi.workload_id
            )
        })?;
        let result_digest = pi.result_digest.ok_or("the statement records no result digest")?;
        let execution = Execution { parameters: pi.parameters.clone(), proof_params: check.pinned_params.cloned() };
        let mut adapter =
            ProcessAdapter::spawn(Command::new(&self.program).args(&self.args)).map_err(|e| e.to_string())?;
        let info = adapter.describe().map_err(|e| e.to_string())?;
        if info.backend_id != self.backend_id {
            return Err(format!(
                "the configured verifier `{}` serves backend `{}`, not `{}`",
                self.program.display(),
                info.backend_id,
                self.backend_id
            ));
        }
        let claim = ProofClaim {
            execution: &execution,
            program_id,
            statement_hash: check.statement_hash,
            result_digest,
            proof: check.proof,
        };
        let bits = adapter.verify(&claim).map_err(|e| e.to_string())?;
        adapter.close().map_err(|e| e.to_string())?;
        // An external backend's proof binds its own trace, not the
        // capsule's row root. Verified against the reader's pin for this
        // workload, it establishes the workload, every parameter the
        // adapter was given and the result (the conformance check shows an
        // adapter rejects changes to each).
        let mut proven = vec!["workload_id".to_owned(), "result_digest".to_owned()];
        proven.extend(pi.parameters.keys().map(|k| format!("parameters.{k}")));
        Ok(ProofOutcome { security_bits: bits, binds_trace_root: false, proven })
    }
}
