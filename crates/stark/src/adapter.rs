//! The built-in STARK as a Trace Adapter: its workload parameters, trace
//! rows, result digest and program id.
//!
//! Rows: one per chain state, the state as a little-endian `u64` (8 bytes),
//! in execution order. Result digest: `tagged(result, le64(seed) ‖
//! le64(trace_length) ‖ le64(final state))`. Program id: the SHA-256 of
//! the backend id and the round constants, so a verifier pins this AIR.

use std::io::Write;

use capsule::digest::{Digest, Tag, tagged};
use capsule::objects::TraceSpecV1;
use capsule_adapter::{
    AdapterError, AdapterInfo, Execution, Parameters, ProgressHook, ProofClaim, PublicOutputs, TraceAdapter,
};
use serde_json::Value;
use winterfell::Trace as _;
use winterfell::math::fields::f64::BaseElement;

use crate::{BACKEND_ID, StarkParams, pinned_params, verify_claim};

/// The default trace length: 2^16 states.
pub const DEFAULT_TRACE_LENGTH: u64 = 1 << 16;

/// The largest seed: 2^53 − 1, the largest integer a statement holds.
pub const MAX_SEED: u64 = (1 << 53) - 1;

/// The workload parameters: `seed` (default 0, at most [`MAX_SEED`]) and `trace_length` (a power
/// of two from 64 to 2^24, default [`DEFAULT_TRACE_LENGTH`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workload {
    /// Determines the chain's start value.
    pub seed: u64,
    /// Number of chain states.
    pub trace_length: u64,
}

impl Workload {
    /// Reads a parameter table; unknown parameters are errors.
    pub fn parse(p: &Parameters) -> Result<Self, String> {
        if let Some(k) = p.keys().find(|k| !matches!(k.as_str(), "seed" | "trace_length")) {
            return Err(format!("unknown parameter `{k}` (expected `seed`, `trace_length`)"));
        }
        let get = |n: &str, default: u64| match p.get(n) {
            None => Ok(default),
            Some(v) => v.as_u64().ok_or_else(|| format!("parameter `{n}` must be a non-negative integer")),
        };
        let w = Workload { seed: get("seed", 0)?, trace_length: get("trace_length", DEFAULT_TRACE_LENGTH)? };
        // Statements hold only integers a JSON reader keeps exactly.
        if w.seed > MAX_SEED {
            return Err(format!("parameter `seed` must be at most 2^53 - 1, not {}", w.seed));
        }
        if !w.trace_length.is_power_of_two() || !(crate::ROUNDS_PERIOD as u64..=1 << 24).contains(&w.trace_length) {
            return Err(format!(
                "parameter `trace_length` must be a power of two from 64 to 2^24, not {}",
                w.trace_length
            ));
        }
        Ok(w)
    }

    /// Every parameter, defaults included (what a statement records).
    pub fn to_parameters(self) -> Parameters {
        [("seed", self.seed), ("trace_length", self.trace_length)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::from(v)))
            .collect()
    }
}

/// The trace spec of the chain.
pub fn trace_spec() -> TraceSpecV1 {
    TraceSpecV1 {
        schema: Default::default(),
        format_id: "capsulebench/stark-mimc7/v1".to_owned(),
        record_schema: "capsulebench/stark-mimc7/state/v1".to_owned(),
        encoding_id: "le-u64".to_owned(),
        field_id: Some("goldilocks".to_owned()),
        row_width: 8,
    }
}

/// The result digest of a chain.
pub fn result_digest(seed: u64, trace_length: u64, result: u64) -> Digest {
    let mut bytes = Vec::with_capacity(24);
    for w in [seed, trace_length, result] {
        bytes.extend_from_slice(&w.to_le_bytes());
    }
    tagged(Tag::Result, &bytes)
}

/// The program id: lowercase hex of `SHA-256(backend id ‖ 0x00 ‖ le64 of
/// each round constant)`.
pub fn program_id() -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(BACKEND_ID.as_bytes());
    h.update([0u8]);
    for c in crate::air::round_constants() {
        h.update(c.as_int().to_le_bytes());
    }
    let d: [u8; 32] = h.finalize().into();
    Digest(d).to_hex()
}

/// The built-in STARK behind the Trace Adapter API.
#[derive(Default)]
pub struct StarkAdapter {
    executed: Option<(Workload, StarkParams, winterfell::TraceTable<BaseElement>)>,
    hook: Option<ProgressHook>,
}

impl std::fmt::Debug for StarkAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StarkAdapter").field("executed", &self.executed.as_ref().map(|e| e.0)).finish_non_exhaustive()
    }
}

impl StarkAdapter {
    fn phase(&mut self, id: &str, label: &str) {
        if let Some(h) = self.hook.as_mut() {
            h(&capsule_adapter::Progress { phase_id: id.to_owned(), phase_label: label.to_owned() });
        }
    }
}

fn params_of(e: &Execution) -> Result<(Workload, StarkParams), AdapterError> {
    let w = Workload::parse(&e.parameters).map_err(AdapterError::Parameters)?;
    let p = pinned_params(e.proof_params.as_ref()).map_err(AdapterError::Parameters)?;
    p.options().map_err(|e| AdapterError::Parameters(e.to_string()))?;
    Ok((w, p))
}

impl TraceAdapter for StarkAdapter {
    fn describe(&mut self) -> Result<AdapterInfo, AdapterError> {
        let example = |seed: u64| Workload { seed, trace_length: 1 << 10 }.to_parameters();
        Ok(AdapterInfo {
            backend_id: BACKEND_ID.to_owned(),
            program_id: program_id(),
            trace_spec: trace_spec(),
            examples: vec![example(1), example(2)],
        })
    }

    fn execute(&mut self, execution: &Execution, rows: Option<&mut dyn Write>) -> Result<(), AdapterError> {
        let (w, p) = params_of(execution)?;
        self.executed = None;
        self.phase("execute", "Running the MiMC-7 chain");
        let trace = crate::execute(w.seed, w.trace_length as usize)
            .map_err(|e| AdapterError::Failed { what: "execute", why: e.to_string() })?;
        if let Some(out) = rows {
            let mut buf = Vec::with_capacity(8 * 4096);
            for step in 0..trace.length() {
                buf.extend_from_slice(&trace.get(0, step).as_int().to_le_bytes());
                if buf.len() >= 8 * 4096 {
                    out.write_all(&buf).map_err(AdapterError::io("writing trace rows"))?;
                    buf.clear();
                }
            }
            out.write_all(&buf).map_err(AdapterError::io("writing trace rows"))?;
        }
        self.executed = Some((w, p, trace));
        Ok(())
    }

    fn public_outputs(&mut self) -> Result<PublicOutputs, AdapterError> {
        let (w, _, trace) = self
            .executed
            .as_ref()
            .ok_or_else(|| AdapterError::Order("`public_outputs` before `execute`".to_owned()))?;
        let result = trace.get(0, trace.length() - 1).as_int();
        Ok(PublicOutputs {
            row_count: w.trace_length,
            result_digest: result_digest(w.seed, w.trace_length, result),
            values: serde_json::json!({ "result": result.to_string() }),
        })
    }

    fn prove(&mut self, statement_hash: &Digest, nonce: u64) -> Result<Vec<u8>, AdapterError> {
        let (w, p, trace) =
            self.executed.as_ref().ok_or_else(|| AdapterError::Order("`prove` before `execute`".to_owned()))?;
        let (seed, p, trace) = (w.seed, p.clone(), trace.clone());
        self.phase("prove", "Proving with winterfell");
        crate::prove_trace(statement_hash, nonce, seed, trace, &p)
            .map_err(|e| AdapterError::Failed { what: "prove", why: e.to_string() })
    }

    fn verify(&mut self, claim: &ProofClaim<'_>) -> Result<u32, AdapterError> {
        if claim.program_id != program_id() {
            return Err(AdapterError::Rejected(format!(
                "the pinned program `{}` is not this backend's AIR `{}`",
                claim.program_id,
                program_id()
            )));
        }
        // A claim whose parameters are unusable proves nothing: a rejection.
        let (w, p) = params_of(claim.execution).map_err(|e| AdapterError::Rejected(e.to_string()))?;
        verify_claim(&claim.statement_hash, &w, &claim.result_digest, claim.proof, &p).map_err(AdapterError::Rejected)
    }

    fn set_progress(&mut self, hook: ProgressHook) {
        self.hook = Some(hook);
    }
}
