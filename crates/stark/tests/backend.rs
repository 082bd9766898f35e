//! The built-in STARK backend: a proof verifies for its statement under the
//! pinned parameters, and verification rejects a different statement hash,
//! a changed public output, a flipped or truncated proof, a proof for
//! another trace and weaker parameters than the policy pins.

use capsule::digest::{Digest, plain};
use capsule_stark::{StarkParams, prove, verify};

#[test]
fn proofs_bind_their_statement_and_parameters() {
    let params = StarkParams::default();
    let statement = plain(b"statement");
    let proof = prove(&statement, 7, 1, 1 << 10, &params).unwrap();
    let bits = verify(&statement, &proof, &params).unwrap();
    assert!(bits >= 96, "default parameters give {bits} bits");

    let mut changed_output = proof.clone();
    changed_output[16] ^= 1; // the result
    let mut changed_nonce = proof.clone();
    changed_nonce[8] ^= 1;
    let mut flipped = proof.clone();
    let mid = proof.len() / 2;
    flipped[mid] ^= 0x10;
    let truncated = proof[..proof.len() - 1].to_vec();
    let other_trace = prove(&statement, 8, 2, 1 << 10, &params).unwrap();
    let mut spliced = other_trace.clone();
    spliced[8..16].copy_from_slice(&proof[8..16]); // another trace's proof under this nonce
    let mut other_seed = proof.clone();
    other_seed[28] ^= 1;
    let weaker = StarkParams { queries: 8, ..params.clone() };
    let weak_proof = prove(&statement, 7, 1, 1 << 10, &weaker).unwrap();

    let cases: Vec<(&str, Digest, &[u8], &StarkParams)> = vec![
        ("a different statement hash", plain(b"another statement"), &proof, &params),
        ("a changed public output", statement, &changed_output, &params),
        ("a changed nonce", statement, &changed_nonce, &params),
        ("a flipped proof byte", statement, &flipped, &params),
        ("a truncated proof", statement, &truncated, &params),
        ("a proof for another trace", statement, &spliced, &params),
        ("a claimed seed other than the proven one", statement, &other_seed, &params),
        ("weaker parameters than pinned", statement, &weak_proof, &params),
        ("not an artifact", statement, b"CBSTARK", &params),
    ];
    for (case, st, bytes, p) in cases {
        assert!(verify(&st, bytes, p).is_err(), "{case} was accepted");
    }
    // The weaker proof verifies under its own parameters, with fewer bits.
    assert!(verify(&statement, &weak_proof, &weaker).unwrap() < bits);
}

#[test]
fn parameters_from_a_policy_are_checked_before_use() {
    for bad in [
        StarkParams { blowup: 4, ..StarkParams::default() },
        StarkParams { blowup: 12, ..StarkParams::default() },
        StarkParams { queries: 0, ..StarkParams::default() },
        StarkParams { fri_folding: 3, ..StarkParams::default() },
        StarkParams { fri_remainder_max_degree: 30, ..StarkParams::default() },
        StarkParams { field_extension: "quartic".into(), ..StarkParams::default() },
        StarkParams { hash: "sha3-256".into(), ..StarkParams::default() },
    ] {
        assert!(bad.options().is_err(), "{bad:?}");
    }
    assert!(capsule_stark::execute(0, 100).is_err(), "not a power of two");
}

/// Through the verifier: a pack whose every repetition proves a distinct
/// instance, under a policy that pins the parameters.
#[test]
fn the_verifier_checks_stark_proofs_through_the_backend_registry() {
    use std::sync::Arc;

    use capsule::objects::PublicInputsV1;
    use capsule::sample::{SampleRun, build};
    use capsule::standard::{PinnedPolicy, standard_policy};
    use capsule::verify::{BackendRegistry, PolicyPin, ProofAxis, VerifyOptions, verify_pack};

    let policy_with = |params: &StarkParams| {
        let mut p = standard_policy("standard-proof-v1").unwrap().policy.clone();
        p.proof.backends.insert(capsule_stark::BACKEND_ID.to_owned(), serde_json::to_value(params).unwrap());
        PinnedPolicy::new(p).unwrap()
    };
    let pack = |proving: StarkParams, policy: &PinnedPolicy| {
        let prover = move |statement: Digest, nonce: u64| prove(&statement, nonce, 3, 1 << 8, &proving).unwrap();
        let workload = capsule_stark::Workload { seed: 3, trace_length: 1 << 8 };
        let chain = capsule_stark::execute(3, 1 << 8).unwrap();
        let result = chain.get(0, (1 << 8) - 1).as_int();
        let run = SampleRun {
            policy: policy.clone(),
            rows: 10,
            public_inputs: Some(PublicInputsV1 {
                workload_id: "stark".to_owned(),
                parameters: workload.to_parameters(),
                result_digest: Some(capsule_stark::result_digest(3, 1 << 8, result)),
            }),
            prover: Some((capsule_stark::BACKEND_ID.to_owned(), Box::new(prover))),
            ..SampleRun::default()
        };
        build(&run).unwrap().write_to(Vec::new()).unwrap()
    };
    let mut backends = BackendRegistry::default();
    backends.register(Arc::new(capsule_stark::StarkBackend));
    let pinned = policy_with(&StarkParams::default());
    let opts = VerifyOptions {
        pins: vec![PolicyPin { hash: pinned.hash, source: "test".into() }],
        backends: backends.clone(),
        ..VerifyOptions::default()
    };
    let (r, _) = verify_pack(&pack(StarkParams::default(), &pinned)[..], &opts);
    assert!(r.accepted(), "{:?}", r.findings);
    assert_eq!(r.proof, ProofAxis::BoundAndVerified);
    assert!(!r.proof_binds_trace_root, "the row root is a side commitment");
    // Proofs made with fewer queries than the policy pins are rejected.
    let weaker = StarkParams { queries: 8, ..StarkParams::default() };
    let (r, _) = verify_pack(&pack(weaker, &pinned)[..], &opts);
    assert!(r.codes().contains(&"proof-invalid"), "{:?}", r.codes());
}

/// The built-in backend through the Trace Adapter API passes the same
/// conformance check `cargo capsule adapter check` runs on external ones.
#[test]
fn the_built_in_adapter_is_conformant() {
    let mut adapter = capsule_stark::StarkAdapter::default();
    let params = serde_json::to_value(StarkParams::default()).unwrap();
    let report = capsule_adapter::conformance::check(&mut adapter, None, None, Some(params)).unwrap();
    for c in &report.cases {
        assert!(c.passed, "{}: {}", c.name, c.detail);
    }
    assert_eq!(report.row_count, 1 << 10);
}

/// A statement must claim what the proof proves: its parameters and
/// result digest are checked against the artifact.
#[test]
fn the_statement_must_claim_what_is_proven() {
    use capsule_stark::{Workload, result_digest, verify_claim};
    let params = StarkParams::default();
    let statement = plain(b"statement");
    let w = Workload { seed: 5, trace_length: 1 << 8 };
    let proof = prove(&statement, 1, 5, 1 << 8, &params).unwrap();
    let chain = capsule_stark::execute(5, 1 << 8).unwrap();
    let result = chain.get(0, (1 << 8) - 1).as_int();
    let digest = result_digest(5, 1 << 8, result);
    assert!(verify_claim(&statement, &w, &digest, &proof, &params).is_ok());
    for (case, w, d) in [
        ("another seed", Workload { seed: 6, ..w }, digest),
        ("a longer trace", Workload { trace_length: 1 << 9, ..w }, digest),
        ("another result", w, result_digest(5, 1 << 8, result ^ 1)),
    ] {
        assert!(verify_claim(&statement, &w, &d, &proof, &params).is_err(), "{case} was accepted");
    }
}
