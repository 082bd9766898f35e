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
use std::time::Duration;

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
    /// How long one proof's check may take before the program is stopped
    /// and the proof fails: the proof bytes are a pack's, and a hostile
    /// one must not hold the verifier forever.
    pub time_limit: Duration,
    /// Where the proof file is passed, when the program names files
    /// otherwise than this process (it runs in a container); `None`: the
    /// system's temporary directory.
    pub scratch: Option<crate::Scratch>,
}

impl ProcessBackend {
    /// The default [`ProcessBackend::time_limit`]: 10 minutes.
    pub const TIME_LIMIT: Duration = Duration::from_secs(600);
}

/// Stops a process that outlives its time limit.
struct Watchdog {
    done: std::sync::mpsc::Sender<()>,
    /// Ends with whether it stopped the process.
    thread: std::thread::JoinHandle<bool>,
}

impl Watchdog {
    fn start(pid: Option<u32>, limit: Duration) -> Self {
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let (Err(std::sync::mpsc::RecvTimeoutError::Timeout), Some(pid)) = (wait.recv_timeout(limit), pid) else {
                return false;
            };
            // The child is not reaped until its adapter is closed, so the id
            // is still its own.
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            true
        });
        Watchdog { done, thread }
    }

    /// Stops watching; whether the limit had passed.
    fn stop(self) -> bool {
        let _ = self.done.send(());
        self.thread.join().unwrap_or(false)
    }
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
        let mut adapter = ProcessAdapter::spawn_in(Command::new(&self.program).args(&self.args), self.scratch.as_ref())
            .map_err(|e| e.to_string())?;
        let watchdog = Watchdog::start(adapter.id(), self.time_limit);
        let outcome = self.check_with(&mut adapter, check, program_id, result_digest);
        if watchdog.stop() {
            return Err(format!(
                "the verifier `{}` did not finish within {} s and was stopped",
                self.program.display(),
                self.time_limit.as_secs()
            ));
        }
        let bits = outcome?;
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

impl ProcessBackend {
    fn check_with(
        &self,
        adapter: &mut ProcessAdapter,
        check: &ProofCheck<'_>,
        program_id: &str,
        result_digest: capsule::digest::Digest,
    ) -> Result<u32, String> {
        let pi = &check.statement.public_inputs;
        let execution = Execution { parameters: pi.parameters.clone(), proof_params: check.pinned_params.cloned() };
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
        adapter.verify(&claim).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use capsule::digest::{Digest, plain};
    use capsule::objects::{AnchorsV1, PublicInputsV1, StatementV1};

    /// A verifier program that describes itself and then never answers
    /// `verify` (as a hostile proof could make one do) is stopped at the
    /// time limit, and the proof fails.
    #[test]
    fn a_verifier_that_never_answers_is_stopped() {
        let vectors: serde_json::Value = serde_json::from_str(include_str!("../../../fixtures/vectors/stark.json"))
            .expect("the STARK vectors parse");
        let describe = vectors["describe_reply_line"].as_str().expect("a describe line");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let script = dir.path().join("hangs.sh");
        std::fs::write(&script, format!("read request\necho '{describe}'\nread request\nexec sleep 600\n"))
            .expect("the script is written");
        let backend = ProcessBackend {
            backend_id: "capsulebench-stark-mimc7/v1".to_owned(),
            program: "sh".into(),
            args: vec![script.display().to_string()],
            time_limit: Duration::from_secs(1),
            scratch: None,
        };
        let statement = StatementV1 {
            schema: Default::default(),
            trace_spec_hash: Digest::ZERO,
            policy_hash: Digest::ZERO,
            trace_root: Digest::ZERO,
            track: "baseline_no_accel".to_owned(),
            public_inputs: PublicInputsV1 {
                workload_id: "w".to_owned(),
                parameters: Default::default(),
                result_digest: Some(plain(b"result")),
            },
            anchors: AnchorsV1::default(),
        };
        let check = ProofCheck {
            proof: b"proof",
            statement_hash: plain(b"statement"),
            statement: &statement,
            pinned_params: None,
            program_id: Some("00"),
            repetition: 0,
        };
        let started = std::time::Instant::now();
        let err = backend.verify(&check).expect_err("the proof fails");
        assert!(err.contains("did not finish within 1 s"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(60), "stopped at the limit, not when the program gave up");
    }
}
