//! The built-in STARK backend: proves that a MiMC-7 hash chain over the
//! 64-bit Goldilocks field was iterated from a start value the capsule's
//! statement determines, with `winterfell`.
//!
//! Why this computation: it is the core of an algebraic hash (the MiMC
//! round `x ↦ (x + c)^7`, a permutation of the field because 7 does not
//! divide p − 1), so its trace is a real, sequential, non-shortcuttable
//! workload whose length is the only parameter, and its AIR is one
//! degree-7 transition constraint with periodic round constants.
//!
//! Binding: the public inputs are the statement hash (eight 32-bit limbs), a
//! per-repetition nonce (two limbs), the start value and the result.
//! winterfell seeds its Fiat–Shamir transcript with the public inputs, so a
//! proof verifies only for the statement and nonce it was made for: every
//! repetition proves a distinct instance and a cached proof cannot pass.
//! The start value comes from the workload's `seed` parameter, not from the
//! statement, so the trace (the chain's states) is known before the
//! statement is locked and can be committed as the capsule's rows.
//!
//! The proof artifact (what a pack carries under `proofs/`) is
//! `"CBSTARK1" ‖ le64(nonce) ‖ le64(result) ‖ le32(trace length) ‖
//! le64(seed) ‖ winterfell proof bytes`.

mod adapter;
mod air;
mod wire;

use capsule::digest::Digest;
use capsule::verify::{ProofBackend, ProofCheck, ProofOutcome, Serves};
use serde::{Deserialize, Serialize};
use winterfell::crypto::hashers::Blake3_256;
use winterfell::crypto::{DefaultRandomCoin, MerkleTree};
use winterfell::math::fields::f64::BaseElement;
use winterfell::math::{FieldElement, StarkField};
use winterfell::{AcceptableOptions, BatchingMethod, FieldExtension, Proof, ProofOptions, Prover as _};

pub use adapter::{DEFAULT_TRACE_LENGTH, MAX_SEED, StarkAdapter, Workload, program_id, result_digest, trace_spec};
pub use air::{MimcAir, PublicInputs, ROUNDS_PERIOD};

/// The backend id capsules name.
pub const BACKEND_ID: &str = "capsulebench-stark-mimc7/v1";

/// The one workload this backend proves.
pub const WORKLOAD_ID: &str = "stark_mimc7_v1";

const MAGIC: &[u8; 8] = b"CBSTARK1";

/// The longest chain: 2^24 states.
pub const MAX_TRACE_LENGTH: usize = 1 << 24;

type Hash = Blake3_256<BaseElement>;

/// Why proving or verifying failed.
#[derive(Debug, thiserror::Error)]
pub enum StarkError {
    /// Parameters out of range.
    #[error("invalid STARK parameters: {0}")]
    Params(String),
    /// winterfell refused to prove.
    #[error("proving failed: {0}")]
    Prove(String),
}

/// Proof parameters, as a policy pins them (`proof.backends` of the policy,
/// under [`BACKEND_ID`]). The verifier accepts exactly these.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StarkParams {
    /// Low-degree-extension blowup (a power of two, 8 to 128: the
    /// constraint has degree 7).
    pub blowup: u32,
    /// FRI queries (1 to 255).
    pub queries: u32,
    /// Proof-of-work bits (0 to 32).
    pub grinding: u32,
    /// `none`, `quadratic` or `cubic`.
    pub field_extension: String,
    /// FRI folding factor (2, 4, 8 or 16).
    pub fri_folding: u32,
    /// FRI remainder's maximum degree (2^k − 1, below 256).
    pub fri_remainder_max_degree: u32,
    /// `blake3-256` (the only hash this backend uses).
    pub hash: String,
}

impl Default for StarkParams {
    /// About 100 bits of conjectured security.
    fn default() -> Self {
        StarkParams {
            blowup: 8,
            queries: 28,
            grinding: 16,
            field_extension: "quadratic".to_owned(),
            fri_folding: 8,
            fri_remainder_max_degree: 31,
            hash: "blake3-256".to_owned(),
        }
    }
}

impl StarkParams {
    /// The winterfell options, after checking every value is in range (the
    /// winterfell constructor panics on bad values; these come from a
    /// policy file).
    pub fn options(&self) -> Result<ProofOptions, StarkError> {
        let bad = |why: &str| Err(StarkError::Params(why.to_owned()));
        if !self.blowup.is_power_of_two() || !(8..=128).contains(&self.blowup) {
            return bad("blowup must be a power of two from 8 to 128");
        }
        if !(1..=255).contains(&self.queries) {
            return bad("queries must be 1 to 255");
        }
        if self.grinding > 32 {
            return bad("grinding must be at most 32");
        }
        if ![2, 4, 8, 16].contains(&self.fri_folding) {
            return bad("fri_folding must be 2, 4, 8 or 16");
        }
        if self.fri_remainder_max_degree >= 256 || !(self.fri_remainder_max_degree + 1).is_power_of_two() {
            return bad("fri_remainder_max_degree must be 2^k - 1 below 256");
        }
        if self.hash != "blake3-256" {
            return bad("hash must be blake3-256");
        }
        let ext = match self.field_extension.as_str() {
            "none" => FieldExtension::None,
            "quadratic" => FieldExtension::Quadratic,
            "cubic" => FieldExtension::Cubic,
            _ => return bad("field_extension must be none, quadratic or cubic"),
        };
        Ok(ProofOptions::new(
            self.queries as usize,
            self.blowup as usize,
            self.grinding,
            ext,
            self.fri_folding as usize,
            self.fri_remainder_max_degree as usize,
            BatchingMethod::Linear,
            BatchingMethod::Linear,
        ))
    }
}

/// The start value of the chain for `seed`:
/// `SHA-256("capsulebench/stark-start/v1" ‖ 0x00 ‖ le64(seed))`, first 8
/// bytes little-endian, reduced into the field.
pub fn start_value(seed: u64) -> BaseElement {
    air::hash_to_element(b"capsulebench/stark-start/v1", &seed.to_le_bytes())
}

/// Runs the chain from `seed`: the execution trace, one column of `length`
/// states. It does not depend on the statement.
pub fn execute(seed: u64, length: usize) -> Result<winterfell::TraceTable<BaseElement>, StarkError> {
    if !length.is_power_of_two() || !(ROUNDS_PERIOD..=MAX_TRACE_LENGTH).contains(&length) {
        return Err(StarkError::Params(format!(
            "trace length {length} must be a power of two from {ROUNDS_PERIOD} to 2^24"
        )));
    }
    let constants = air::round_constants();
    let mut trace = winterfell::TraceTable::new(1, length);
    let start = start_value(seed);
    trace.fill(
        |state| state[0] = start,
        |step, state| {
            let x = state[0] + constants[step % ROUNDS_PERIOD];
            state[0] = x.exp(7u64);
        },
    );
    Ok(trace)
}

/// Proves the chain of `length` steps from `seed` for `statement` and
/// `nonce` under `params`; returns the proof artifact.
pub fn prove(
    statement: &Digest,
    nonce: u64,
    seed: u64,
    length: usize,
    params: &StarkParams,
) -> Result<Vec<u8>, StarkError> {
    prove_trace(statement, nonce, seed, execute(seed, length)?, params)
}

/// Proves an executed chain (from [`execute`] with the same `seed`).
pub fn prove_trace(
    statement: &Digest,
    nonce: u64,
    seed: u64,
    trace: winterfell::TraceTable<BaseElement>,
    params: &StarkParams,
) -> Result<Vec<u8>, StarkError> {
    use winterfell::Trace as _;
    let length = trace.length();
    let result = trace.get(0, length - 1);
    let prover = air::MimcProver::new(params.options()?, PublicInputs::new(statement, nonce, seed, result));
    let proof = prover.prove(trace).map_err(|e| StarkError::Prove(e.to_string()))?;
    let mut out = Vec::with_capacity(MAGIC.len() + 20);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&nonce.to_le_bytes());
    out.extend_from_slice(&result.as_int().to_le_bytes());
    out.extend_from_slice(&(length as u32).to_le_bytes());
    out.extend_from_slice(&seed.to_le_bytes());
    out.extend_from_slice(&proof.to_bytes());
    Ok(out)
}

/// A parsed proof artifact.
struct Artifact {
    nonce: u64,
    result: u64,
    length: u32,
    seed: u64,
    proof: Proof,
}

/// Parses an artifact made under `params`. The winterfell proof's bytes
/// are checked first ([`wire::check`]): its context must be the one an
/// honest proof of this trace length under exactly these options has, and
/// every length inside must fit, so winterfell's own parser never sees a
/// value it would assert on or allocate by.
fn parse(bytes: &[u8], params: &StarkParams) -> Result<Artifact, String> {
    let header = MAGIC.len() + 28;
    if bytes.len() < header || &bytes[..MAGIC.len()] != MAGIC {
        return Err("not a capsulebench STARK proof artifact".to_owned());
    }
    let word = |at: usize, n: usize| {
        let mut b = [0u8; 8];
        b[..n].copy_from_slice(&bytes[at..at + n]);
        u64::from_le_bytes(b)
    };
    let (nonce, result, length, seed) = (word(8, 8), word(16, 8), word(24, 4), word(28, 8));
    let length = usize::try_from(length).map_err(|_| "the trace length does not fit this machine".to_owned())?;
    if !length.is_power_of_two() || !(ROUNDS_PERIOD..=MAX_TRACE_LENGTH).contains(&length) {
        return Err(format!("the artifact's trace length {length} is not a power of two from 64 to 2^24"));
    }
    let options = params.options().map_err(|e| e.to_string())?;
    wire::check(&bytes[header..], length, &options)?;
    let proof = Proof::from_bytes(&bytes[header..]).map_err(|e| format!("malformed winterfell proof: {e}"))?;
    Ok(Artifact { nonce, result, length: length as u32, seed, proof })
}

/// Verifies a proof artifact for `statement` under exactly `params`;
/// returns the conjectured security level computed from the proof.
pub fn verify(statement: &Digest, artifact: &[u8], params: &StarkParams) -> Result<u32, String> {
    verify_parsed(statement, parse(artifact, params)?, params)
}

fn verify_parsed(statement: &Digest, a: Artifact, params: &StarkParams) -> Result<u32, String> {
    let options = params.options().map_err(|e| e.to_string())?;
    if a.result >= BaseElement::MODULUS {
        return Err("the result is not a field element".to_owned());
    }
    if a.proof.context.trace_info().length() != a.length as usize {
        return Err("the artifact's trace length differs from the proof's".to_owned());
    }
    let bits = a.proof.conjectured_security::<Hash>().bits();
    let inputs = PublicInputs::new(statement, a.nonce, a.seed, BaseElement::new(a.result));
    winterfell::verify::<MimcAir, Hash, DefaultRandomCoin<Hash>, MerkleTree<Hash>>(
        a.proof,
        inputs,
        &AcceptableOptions::OptionSet(vec![options]),
    )
    .map_err(|e| e.to_string())?;
    Ok(bits)
}

/// Verifies a proof artifact against everything a statement claims: the
/// statement hash, the workload's parameters (seed, trace length) and the
/// result digest, under exactly `params`.
pub fn verify_claim(
    statement: &Digest,
    workload: &Workload,
    result_digest: &Digest,
    artifact: &[u8],
    params: &StarkParams,
) -> Result<u32, String> {
    verify_claim_for(statement, workload, result_digest, artifact, params, None)
}

/// [`verify_claim`], and when `nonce` is given, the proof must have been
/// made for it (the nonce is a public input: a repetition's own).
fn verify_claim_for(
    statement: &Digest,
    workload: &Workload,
    result_digest: &Digest,
    artifact: &[u8],
    params: &StarkParams,
    nonce: Option<u64>,
) -> Result<u32, String> {
    let a = parse(artifact, params)?;
    if let Some(n) = nonce
        && a.nonce != n
    {
        return Err(format!("the proof is for nonce {}, recorded for repetition {n}", a.nonce));
    }
    if a.seed != workload.seed || u64::from(a.length) != workload.trace_length {
        return Err(format!(
            "the proof is for seed {} and trace length {}, the statement says seed {} and trace length {}",
            a.seed, a.length, workload.seed, workload.trace_length
        ));
    }
    if result_digest != &adapter::result_digest(a.seed, u64::from(a.length), a.result) {
        return Err("the statement's result digest is not the proven result's".to_owned());
    }
    verify_parsed(statement, a, params)
}

/// The verifier side, for `capsule`'s backend registry: the policy pins
/// the parameters; nothing is read from the pack but the proof.
#[derive(Clone, Copy, Debug, Default)]
pub struct StarkBackend;

impl ProofBackend for StarkBackend {
    fn id(&self) -> &str {
        BACKEND_ID
    }

    fn serves(&self, workload_id: &str) -> Serves {
        if workload_id == WORKLOAD_ID { Serves::Program(program_id()) } else { Serves::No }
    }

    fn verify(&self, check: &ProofCheck<'_>) -> Result<ProofOutcome, String> {
        let params = pinned_params(check.pinned_params)?;
        let pi = &check.statement.public_inputs;
        if pi.workload_id != WORKLOAD_ID {
            return Err(format!("this backend proves only workload `{WORKLOAD_ID}`, not `{}`", pi.workload_id));
        }
        if check.program_id.is_some_and(|p| p != program_id()) {
            return Err("the pinned program is not this backend's AIR".to_owned());
        }
        let workload = Workload::parse(&pi.parameters).map_err(|e| format!("the statement's parameters: {e}"))?;
        let result = pi.result_digest.ok_or("the statement records no result digest")?;
        let bits =
            verify_claim_for(&check.statement_hash, &workload, &result, check.proof, &params, Some(check.repetition))?;
        // winterfell commits to its own extended trace; the capsule's row
        // root is a side commitment. The proof establishes the chain (this
        // workload), its seed and length, and its result.
        Ok(ProofOutcome {
            security_bits: bits,
            binds_trace_root: false,
            proven: ["workload_id", "parameters.seed", "parameters.trace_length", "result_digest"]
                .map(str::to_owned)
                .to_vec(),
        })
    }
}

/// The parameters a policy pins for this backend.
pub fn pinned_params(pinned: Option<&serde_json::Value>) -> Result<StarkParams, String> {
    let pinned = pinned.ok_or("the policy pins no parameters for this backend")?;
    serde_json::from_value(pinned.clone()).map_err(|e| format!("the policy's parameters are invalid: {e}"))
}
