//! Adapter conformance: prove once, then check that verification rejects
//! everything it must.
//!
//! Owns the list of cases `cargo capsule adapter check` runs; the same
//! function checks in-process adapters in tests. A case passes when the
//! adapter accepts its own proof and rejects each altered claim.

use capsule::digest::Digest;
use serde::Serialize;
use serde_json::Value;

use crate::{AdapterError, AdapterInfo, Execution, Parameters, ProofClaim, TraceAdapter};

/// One conformance case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Case {
    /// What was checked.
    pub name: &'static str,
    /// Whether the adapter behaved as it must.
    pub passed: bool,
    /// What happened (the adapter's error for a rejection).
    pub detail: String,
}

/// The outcome of a conformance check.
#[derive(Clone, Debug, Serialize)]
pub struct Conformance {
    /// The adapter checked.
    pub adapter: AdapterInfo,
    /// Rows the first execution produced.
    pub row_count: u64,
    /// Length of the first proof.
    pub proof_bytes: u64,
    /// The cases, in order.
    pub cases: Vec<Case>,
}

impl Conformance {
    /// Whether every case passed.
    pub fn passed(&self) -> bool {
        self.cases.iter().all(|c| c.passed)
    }
}

fn random_digest() -> Result<Digest, AdapterError> {
    let mut d = [0u8; 32];
    getrandom::fill(&mut d)
        .map_err(|e| AdapterError::Failed { what: "drawing a statement hash", why: e.to_string() })?;
    Ok(Digest(d))
}

/// Runs the conformance cases. `first` and `second` are parameter sets
/// whose traces differ (default: the adapter's own `examples`).
pub fn check(
    adapter: &mut dyn TraceAdapter,
    first: Option<Parameters>,
    second: Option<Parameters>,
    proof_params: Option<Value>,
) -> Result<Conformance, AdapterError> {
    let info = adapter.describe()?;
    let example = |i: usize, given: Option<Parameters>| {
        given.or_else(|| info.examples.get(i).cloned()).ok_or_else(|| {
            AdapterError::Parameters(
                "the adapter describes fewer than two `examples`; give two parameter sets whose traces differ"
                    .to_owned(),
            )
        })
    };
    let a = Execution { parameters: example(0, first)?, proof_params: proof_params.clone() };
    let b = Execution { parameters: example(1, second)?, proof_params };
    let mut cases = Vec::new();

    let mut rows = Vec::new();
    adapter.execute(&a, Some(&mut rows))?;
    let out_a = adapter.public_outputs()?;
    let width = u64::from(info.trace_spec.row_width);
    cases.push(Case {
        name: "rows match the trace spec",
        passed: rows.len() as u64 == out_a.row_count.saturating_mul(width),
        detail: format!("{} bytes for {} rows of {width} bytes", rows.len(), out_a.row_count),
    });
    let statement = random_digest()?;
    let mut n = [0u8; 8];
    getrandom::fill(&mut n).map_err(|e| AdapterError::Failed { what: "drawing a nonce", why: e.to_string() })?;
    let nonce = u64::from_le_bytes(n) >> 1;
    let proof = adapter.prove(&statement, nonce)?;
    let again = adapter.prove(&statement, nonce + 1)?;
    cases.push(Case {
        name: "another nonce gives another proof",
        passed: again != proof,
        detail: "each repetition must prove a distinct instance".to_owned(),
    });
    let mut rows_b = Vec::new();
    adapter.execute(&b, Some(&mut rows_b))?;
    let out_b = adapter.public_outputs()?;
    cases.push(Case {
        name: "the second parameter set gives another trace",
        passed: rows_b != rows && out_b.result_digest != out_a.result_digest,
        detail: "the check needs two different traces".to_owned(),
    });
    let other_trace = adapter.prove(&statement, nonce)?;

    let claim = ProofClaim {
        execution: &a,
        program_id: &info.program_id,
        statement_hash: statement,
        result_digest: out_a.result_digest,
        proof: &proof,
    };
    let accepted = adapter.verify(&claim);
    cases.push(Case {
        name: "accepts its own proof",
        passed: accepted.is_ok(),
        detail: match &accepted {
            Ok(bits) => format!("{bits} bits"),
            Err(e) => e.to_string(),
        },
    });

    let mut flipped = proof.clone();
    let mid = flipped.len() / 2;
    if let Some(byte) = flipped.get_mut(mid) {
        *byte ^= 0x01;
    }
    let truncated = &proof[..proof.len().saturating_sub(1)];
    let mut other_result = out_a.result_digest;
    other_result.0[0] ^= 0x01;
    let mut other_program = info.program_id.clone().into_bytes();
    if let Some(c) = other_program.last_mut() {
        *c = if *c == b'0' { b'1' } else { b'0' };
    }
    let other_program = String::from_utf8_lossy(&other_program).into_owned();
    let other_statement = random_digest()?;
    let rejections: [(&'static str, ProofClaim<'_>); 7] = [
        ("rejects a different statement hash", ProofClaim { statement_hash: other_statement, ..claim.clone() }),
        ("rejects a changed public output", ProofClaim { result_digest: other_result, ..claim.clone() }),
        ("rejects changed parameters", ProofClaim { execution: &b, ..claim.clone() }),
        ("rejects a flipped proof byte", ProofClaim { proof: &flipped, ..claim.clone() }),
        ("rejects a truncated proof", ProofClaim { proof: truncated, ..claim.clone() }),
        ("rejects a proof for another trace", ProofClaim { proof: &other_trace, ..claim.clone() }),
        ("rejects another program id", ProofClaim { program_id: &other_program, ..claim.clone() }),
    ];
    for (name, c) in rejections {
        let got = adapter.verify(&c);
        cases.push(Case {
            name,
            passed: matches!(got, Err(AdapterError::Rejected(_))),
            detail: match got {
                Ok(bits) => format!("accepted ({bits} bits)"),
                Err(e) => e.to_string(),
            },
        });
    }
    Ok(Conformance { adapter: info, row_count: out_a.row_count, proof_bytes: proof.len() as u64, cases })
}
