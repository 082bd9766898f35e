//! The proof axis: the backend trait and the verifier's registry of backends.
//!
//! [`check`] is the proof axis at profile `policy`: the backend, the
//! workload it serves and the reader's pins, the run nonce, every
//! repetition's proof.
//!
//! A backend is code the *verifier's* user configures, keyed by backend id;
//! nothing in a pack selects code to run. Proving backends (the built-in
//! STARK, external adapters) implement [`ProofBackend`] in their own crates.
//!
//! A backend declares which workloads it proves ([`ProofBackend::serves`])
//! and, for each proof it accepts, which statement fields that proof
//! establishes ([`ProofOutcome::proven`]): the verifier classes exactly
//! those as proven. A pack naming a backend never gets past a reader's
//! program pin: the verifier checks the pin before the backend runs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::report::ReportValue;
use super::{Code, Loaded, PackContents, Report, VerifyOptions, error};
use crate::digest::Digest;
use crate::objects::{MeasurementsV1, StatementV1, ValueClass, paths};

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
    /// The program id the proof must be made by: the reader's pin for the
    /// statement's workload, else the backend's own fixed program (see
    /// [`Serves`]).
    pub program_id: Option<&'a str>,
    /// The repetition this proof is recorded for: its nonce, where the
    /// backend's proof carries one, must be this.
    pub repetition: u64,
}

/// Whether, and how, a backend proves a workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Serves {
    /// The backend proves this workload with this one program (its own
    /// AIR, say); a reader's pin for the workload must name it.
    Program(String),
    /// The backend verifies whatever program the reader pins for the
    /// workload (a zkVM verifier); without a pin, nothing is proven.
    Pinned,
    /// The backend does not prove this workload.
    No,
}

/// A successful check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofOutcome {
    /// Security level in bits, computed from the proof itself.
    pub security_bits: u32,
    /// Whether the proof also binds the statement's trace root (otherwise
    /// the root is reported as committed, not proven).
    pub binds_trace_root: bool,
    /// The statement fields this proof establishes, named as the report
    /// names them: `workload_id`, `parameters.<key>`, `result_digest`. The
    /// verifier classes exactly these as proven (and ignores any other
    /// name: a track or an anchor is never proven).
    pub proven: Vec<String>,
}

/// The statement fields a backend may declare proven.
pub fn provable(name: &str) -> bool {
    name == "workload_id" || name == "result_digest" || name.strip_prefix("parameters.").is_some_and(|k| !k.is_empty())
}

/// A proof backend's verifier.
pub trait ProofBackend: Send + Sync {
    /// The backend id a capsule names.
    fn id(&self) -> &str;
    /// Whether this backend proves `workload_id`, and with which program.
    fn serves(&self, workload_id: &str) -> Serves;
    /// Verifies a proof; `Err` carries a one-line reason.
    fn verify(&self, check: &ProofCheck<'_>) -> Result<ProofOutcome, String>;
}

/// The backends a verifier trusts, by id, and the programs its user pins,
/// by workload id: a pinned workload is proven only by a proof its backend
/// checks against that program, whichever backend a pack names.
#[derive(Clone, Default)]
pub struct BackendRegistry {
    backends: BTreeMap<String, Arc<dyn ProofBackend>>,
    pins: BTreeMap<String, String>,
}

impl BackendRegistry {
    /// Registers a backend under its id.
    pub fn register(&mut self, backend: Arc<dyn ProofBackend>) {
        self.backends.insert(backend.id().to_owned(), backend);
    }

    /// Pins the program that proofs of `workload_id` must be made by.
    pub fn pin(&mut self, workload_id: &str, program_id: &str) {
        self.pins.insert(workload_id.to_owned(), program_id.to_owned());
    }

    /// Looks a backend up.
    pub fn get(&self, id: &str) -> Option<&Arc<dyn ProofBackend>> {
        self.backends.get(id)
    }

    /// The program pinned for `workload_id`, if any.
    pub fn pinned(&self, workload_id: &str) -> Option<&str> {
        self.pins.get(workload_id).map(String::as_str)
    }

    /// The registered ids.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.backends.keys().map(String::as_str)
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

std::thread_local! {
    static CONTAINING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs a backend's check with its panics contained. A backend is handed
/// hostile bytes; a panic in it (its own, or a library's assertion) is a
/// failed proof, never a crashed verifier. While a check runs on this
/// thread, the panic message is not printed (the finding carries it);
/// every other panic reaches the hook that was installed before.
pub(crate) fn contained(backend: &dyn ProofBackend, check: &ProofCheck<'_>) -> Result<ProofOutcome, String> {
    static QUIET_HOOK: std::sync::Once = std::sync::Once::new();
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !CONTAINING.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    CONTAINING.with(|c| c.set(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| backend.verify(check)));
    CONTAINING.with(|c| c.set(false));
    result.unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_owned());
        Err(format!("the backend panicked on this proof: {message}"))
    })
}

pub(super) fn check(
    loaded: &Loaded,
    c: &PackContents,
    p: &crate::objects::ProofRefV1,
    opts: &VerifyOptions,
    rep: &mut Report,
) -> ProofAxis {
    let Some(backend) = opts.backends.get(&p.backend) else {
        rep.reject(error(
            Code::ProofBackendUnknown,
            format!("backend `{}` (configured: {:?})", p.backend, opts.backends.ids().collect::<Vec<_>>()),
        ));
        return ProofAxis::Failed;
    };
    // The backend must prove this workload, and a reader's pin must hold
    // whichever backend the pack names.
    let workload = &c.statement.public_inputs.workload_id;
    let pin = opts.backends.pinned(workload);
    let program = match (backend.serves(workload), pin) {
        (Serves::No, _) => {
            rep.reject(error(
                Code::ProofWorkloadUnserved,
                format!("backend `{}` does not prove workload `{workload}`", p.backend),
            ));
            return ProofAxis::Failed;
        }
        (Serves::Program(own), Some(pin)) if own != pin => {
            rep.reject(error(
                Code::ProofProgramMismatch,
                format!(
                    "workload `{workload}` is pinned to program {pin}; backend `{}` proves it with program {own}",
                    p.backend
                ),
            ));
            return ProofAxis::Failed;
        }
        (Serves::Program(own), _) => Some(own),
        (Serves::Pinned, pin) => pin.map(str::to_owned),
    };
    if c.statement.anchors.run_nonce.is_none() {
        rep.reject(error(
            Code::ProofNotFromRun,
            "the statement names no `run_nonce`: a proof made in another run would verify here",
        ));
        return ProofAxis::Failed;
    }
    let Some(packed) = loaded.members.get(&p.member) else {
        rep.reject(error(Code::ProofInvalid, format!("proof member `{}` is absent", p.member)));
        return ProofAxis::Failed;
    };
    let proofs = match proofs_of_run(loaded, &c.measurements, packed.digest) {
        Ok(proofs) => proofs,
        Err(why) => {
            rep.reject(error(Code::ProofNotFromRun, format!("`{}` ({}): {why}", p.member, packed.digest)));
            return ProofAxis::Failed;
        }
    };
    // Every repetition's proof verifies, for this statement, with its own
    // repetition as nonce; the weakest sets the security level.
    let verified = proofs.len() as u64;
    let mut weakest: Option<ProofOutcome> = None;
    for RepetitionProof { repetition, member, bytes } in proofs {
        let check = ProofCheck {
            proof: bytes,
            statement_hash: loaded.capsule.statement,
            statement: &c.statement,
            pinned_params: c.policy.proof.backends.get(&p.backend),
            program_id: program.as_deref(),
            repetition,
        };
        match contained(backend.as_ref(), &check) {
            Err(reason) => {
                rep.reject(error(
                    Code::ProofInvalid,
                    format!("backend `{}`, repetition {repetition} (`{member}`): {reason}", p.backend),
                ));
                return ProofAxis::Failed;
            }
            Ok(outcome) => {
                weakest = Some(match weakest {
                    None => outcome,
                    Some(w) => ProofOutcome {
                        security_bits: w.security_bits.min(outcome.security_bits),
                        binds_trace_root: w.binds_trace_root && outcome.binds_trace_root,
                        proven: w.proven.into_iter().filter(|f| outcome.proven.contains(f)).collect(),
                    },
                });
            }
        }
    }
    let Some(outcome) = weakest else {
        rep.reject(error(Code::ProofNotFromRun, "no repetition records a proof"));
        return ProofAxis::Failed;
    };
    if outcome.security_bits < c.policy.proof.min_security_bits {
        rep.reject(error(
            Code::ProofTooWeak,
            format!("{} bits computed, policy requires {}", outcome.security_bits, c.policy.proof.min_security_bits),
        ));
        return ProofAxis::Failed;
    }
    rep.values.push(
        ReportValue::new("proof.security_bits", outcome.security_bits.into(), ValueClass::Recomputed)
            .note(&format!("computed by backend `{}` from the proofs it verified (the weakest)", p.backend)),
    );
    rep.values.push(
        ReportValue::new("proof.repetitions_verified", verified.into(), ValueClass::Recomputed)
            .note("every repetition's proof, each for its own nonce"),
    );
    rep.proof_binds_trace_root = outcome.binds_trace_root;
    rep.proven = outcome.proven.into_iter().filter(|n| provable(n)).collect();
    rep.proven_by = Some(p.backend.clone());
    ProofAxis::BoundAndVerified
}

/// One repetition's proof, as the pack holds it.
struct RepetitionProof<'a> {
    repetition: u64,
    member: &'a str,
    bytes: &'a [u8],
}

/// A cached proof must not pass as work: every repetition of a proving
/// series records the digest of the proof it made, no two alike, each of
/// those proofs is in the pack (so each can be verified), and the packed
/// proof the capsule names is one of them. Returns each repetition's
/// proof: its index, member and bytes.
fn proofs_of_run<'a>(
    loaded: &'a Loaded,
    m: &MeasurementsV1,
    packed: Digest,
) -> Result<Vec<RepetitionProof<'a>>, String> {
    let by_digest: BTreeMap<Digest, (&str, &[u8])> = loaded
        .members
        .iter()
        .filter(|(path, _)| path.starts_with(paths::PROOFS_DIR))
        .filter_map(|(path, g)| Some((g.digest, (path.as_str(), g.bytes.as_deref()?))))
        .collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for s in &m.series {
        let recorded = s.samples.iter().filter(|x| x.proof_digest.is_some()).count();
        if recorded == 0 {
            continue;
        }
        if recorded != s.samples.len() {
            return Err(format!("series `{}` records a proof digest for only some repetitions", s.id));
        }
        for x in &s.samples {
            let Some(d) = x.proof_digest else { continue };
            if !seen.insert(d) {
                return Err(format!("repetitions share the proof {d}"));
            }
            let Some((member, bytes)) = by_digest.get(&d) else {
                return Err(format!(
                    "repetition {} of `{}` records proof {d}, which the pack does not hold",
                    x.rep, s.id
                ));
            };
            out.push(RepetitionProof { repetition: u64::from(x.rep), member, bytes });
        }
    }
    if out.is_empty() {
        return Err("no repetition records a proof digest".to_owned());
    }
    if !seen.contains(&packed) {
        return Err("matches no repetition's proof digest".to_owned());
    }
    Ok(out)
}
